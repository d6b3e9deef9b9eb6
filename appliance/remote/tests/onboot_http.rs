//! On-boot files over the box's HTTP boot server, on loopback (no root
//! needed): written by a job, fetched once, reported per host.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use bootbox_linbo::devices::{IpAssignment, PxeFlag};
use bootbox_linbo::MacAddr;
use bootbox_remote::job::HostStatus;
use bootbox_remote::{Remote, Request, Target, WolDefaults};
use bootbox_store::{Host, Store};

fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut text = String::new();
    s.read_to_string(&mut text).expect("read");
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (code, body.to_string())
}

#[tokio::test]
async fn cmd_file_is_served_once_and_the_job_sees_it() {
    let tmp = tempfile::tempdir().expect("tmp");
    std::fs::create_dir_all(tmp.path().join("linbo")).expect("linbo");
    let store = Arc::new(Store::open(tmp.path().join("b.redb")).expect("store"));
    for i in 1..=2u8 {
        store
            .add_host(
                Host {
                    room: "r101".into(),
                    hostname: format!("pc0{i}"),
                    group: "g1".into(),
                    mac: MacAddr([2, 0, 0, 0, 0, i]),
                    ip: IpAssignment::Static(Ipv4Addr::new(10, 9, 0, i)),
                    pxe: PxeFlag::LINBO,
                    role: String::new(),
                    extra: Default::default(),
                },
                "t",
            )
            .expect("host");
    }
    let remote = Remote::new(store.clone(), tmp.path(), WolDefaults::default());
    let recorder = bootbox_boot::timeline::Recorder::start(store.clone(), Duration::from_secs(30));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let cfg = bootbox_boot::BootConfig {
        server_ip: Ipv4Addr::LOCALHOST,
        http_port: addr.port(),
        unknown: Default::default(),
        nbp: Default::default(),
    };
    let state =
        bootbox_web::boot::BootState::new(store.clone(), cfg, &tmp.path().join("linbo"), recorder)
            .expect("state");
    let app = bootbox_web::boot::boot_router(state);
    tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await;
    });

    let mut req = Request::new(Target::Room("r101".into()));
    req.onboot = Some("reboot".into());
    req.disablegui = true;
    let mut p = remote.prepare(&req).expect("prepare");
    p.spec.onboot_wait = Some(Duration::from_secs(3));
    let job = bootbox_remote::Job::new(&p.spec);
    let run = {
        let (job, spec, ssh, dir) = (
            job.clone(),
            p.spec.clone(),
            remote.ssh.clone(),
            remote.onboot.clone(),
        );
        tokio::spawn(async move { job.run(&spec, &ssh, &dir).await })
    };
    while remote.onboot.list().expect("list").len() < 2 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (first, second) = tokio::task::spawn_blocking(move || {
        (
            get(addr, "/linbo/linbocmd/pc01.cmd"),
            get(addr, "/linbo/linbocmd/pc01.cmd"),
        )
    })
    .await
    .expect("fetch");
    assert_eq!(first, (200, "reboot,disablegui\n".to_string()));
    assert_eq!(second.0, 404);
    let snap = run.await.expect("job");
    assert_eq!(snap.hosts[0].status, HostStatus::Done);
    assert_eq!(snap.hosts[0].picked_up, Some(true));
    assert_eq!(snap.hosts[1].status, HostStatus::NotPickedUp);
    assert!(!remote.onboot.pending("pc02"), "unfetched file removed");
    assert!(store
        .recent_events(20)
        .expect("events")
        .iter()
        .any(|e| e.action == "remote.onboot.fetched"));
}
