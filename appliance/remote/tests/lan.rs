//! Namespaced-LAN tests: 6 simulated LINBO clients, each a network
//! namespace with dropbear on port 2222 (the box key authorised) and a
//! `linbo_wrapper` stand-in that logs its arguments and exits with a
//! configured code.
//!
//! The LAN is built by `tests/remote/run` (which then runs this binary
//! inside the box's namespace with `BBRC_LAN=<dir>`); without it every
//! test returns at once with a note. Nothing here touches a real
//! interface.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bootbox_linbo::devices::{IpAssignment, PxeFlag};
use bootbox_linbo::MacAddr;
use bootbox_remote::job::{Action, HostStatus, Job, JobSpec, WakePlan};
use bootbox_remote::wol::{self, WolConfig};
use bootbox_remote::{JobEvent, Remote, Request, Target, WolDefaults};
use bootbox_store::{Group, Host, Store};

const START_CONF: &str = "[LINBO]\nCache = /dev/sda2\n\n[Partition]\nDev = /dev/sda1\n\n[Partition]\nDev = /dev/sda2\n\n[OS]\nName = Windows\nRoot = /dev/sda1\n";

struct Client {
    host: String,
    ns: String,
    ip: Ipv4Addr,
    mac: MacAddr,
    home: PathBuf,
}

struct Lan {
    dir: PathBuf,
    bridge: String,
    key: PathBuf,
    wrapper: String,
    clients: Vec<Client>,
}

impl Lan {
    /// The LAN described by `$BBRC_LAN/clients` ("host ns ip mac" lines),
    /// or `None` (test skipped) outside `tests/remote/run`.
    fn from_env() -> Option<Lan> {
        let Some(dir) = std::env::var_os("BBRC_LAN").map(PathBuf::from) else {
            eprintln!("skipped: run tests/remote/run (needs root and network namespaces)");
            return None;
        };
        let text = std::fs::read_to_string(dir.join("clients")).expect("clients file");
        let clients = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                Client {
                    host: f[0].to_string(),
                    ns: f[1].to_string(),
                    ip: f[2].parse().expect("ip"),
                    mac: f[3].parse().expect("mac"),
                    home: dir.join(f[0]).join("home"),
                }
            })
            .collect();
        Some(Lan {
            bridge: std::fs::read_to_string(dir.join("bridge"))
                .expect("bridge")
                .trim()
                .to_string(),
            key: dir.join("data/ssh/id_ed25519"),
            wrapper: dir.join("linbo_wrapper").display().to_string(),
            dir,
            clients,
        })
    }

    /// Clears the wrappers' logs and exit codes.
    fn reset(&self) {
        for c in &self.clients {
            let _ = std::fs::remove_file(c.home.join("wrapper.log"));
            for e in std::fs::read_dir(&c.home).expect("home").flatten() {
                if e.file_name().to_string_lossy().starts_with("exit.") {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
    }

    fn set_exit(&self, i: usize, cmd: &str, code: i32) {
        std::fs::write(
            self.clients[i].home.join(format!("exit.{cmd}")),
            code.to_string(),
        )
        .expect("exit file");
    }

    fn log(&self, i: usize) -> Vec<String> {
        std::fs::read_to_string(self.clients[i].home.join("wrapper.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// A fresh registry with the six clients in room r101 (plus a PXE-0
    /// host that must be skipped) and a remote controller for it.
    fn remote(&self, tmp: &Path) -> Remote {
        std::fs::create_dir_all(tmp.join("linbo")).expect("linbo dir");
        let store = Arc::new(Store::open(tmp.join("bootbox.redb")).expect("store"));
        store
            .put_group(
                Group {
                    name: "g1".into(),
                    start_conf: Some(START_CONF.into()),
                    description: String::new(),
                },
                "test",
            )
            .expect("group");
        let mut hosts: Vec<Host> = self
            .clients
            .iter()
            .map(|c| host(&c.host, c.mac, Some(c.ip), PxeFlag::LINBO))
            .collect();
        hosts.push(host(
            "printer1",
            MacAddr([2, 0xbb, 9, 9, 9, 9]),
            None,
            PxeFlag::NONE,
        ));
        for h in hosts {
            store.add_host(h, "test").expect("host");
        }
        let mut r = Remote::new(
            store,
            tmp,
            WolDefaults {
                interface: Some(self.bridge.clone()),
                ..WolDefaults::default()
            },
        );
        r.ssh.key = self.key.clone();
        r.ssh.wrapper = self.wrapper.clone();
        r.ssh.connect_timeout = Duration::from_secs(3);
        r.command_timeout = Duration::from_secs(30);
        r.parallelism = 3;
        r
    }
}

fn host(name: &str, mac: MacAddr, ip: Option<Ipv4Addr>, pxe: PxeFlag) -> Host {
    Host {
        room: "r101".into(),
        hostname: name.into(),
        group: "g1".into(),
        mac,
        ip: ip.map_or(IpAssignment::Dhcp, IpAssignment::Static),
        pxe,
        role: String::new(),
        extra: Default::default(),
    }
}

#[tokio::test]
async fn direct_commands_record_sequence_and_exit_codes() {
    let Some(lan) = Lan::from_env() else { return };
    lan.reset();
    lan.set_exit(2, "sync:1", 7);
    let tmp = tempfile::tempdir().expect("tmp");
    let remote = lan.remote(tmp.path());
    let mut req = Request::new(Target::Room("r101".into()));
    req.direct = Some("sync:1,start:1".into());
    let p = remote.prepare(&req).expect("prepare");
    assert_eq!(p.skipped.len(), 1, "printer1 (PXE 0) skipped");
    assert_eq!(p.spec.hosts.len(), 6);
    let job = Job::new(&p.spec);
    let mut events = job.subscribe();
    let snap = job.run(&p.spec, &remote.ssh, &remote.onboot).await;
    let mut n_events = 0;
    while let Ok(ev) = events.try_recv() {
        n_events += 1;
        if let JobEvent::Finished { snapshot } = ev {
            assert_eq!(snapshot, snap);
        }
    }
    assert!(n_events >= 6 * 3, "events: {n_events}");
    for (i, h) in snap.hosts.iter().enumerate() {
        let codes: Vec<(String, Option<i32>)> = h
            .commands
            .iter()
            .map(|c| (c.command.clone(), c.exit_code))
            .collect();
        assert_eq!(h.online, Some(true), "{h:?}");
        if i == 2 {
            assert_eq!(h.status, HostStatus::Failed, "{h:?}");
            assert_eq!(codes, vec![("sync:1".to_string(), Some(7))]);
            assert_eq!(lan.log(i), vec!["sync:1"], "chain stopped");
        } else {
            assert_eq!(h.status, HostStatus::Done, "{h:?}");
            assert_eq!(
                codes,
                vec![
                    ("sync:1".to_string(), Some(0)),
                    ("start:1".to_string(), Some(0))
                ]
            );
            assert_eq!(lan.log(i), vec!["sync:1", "start:1"]);
            assert!(h.commands[0].output.contains(&lan.clients[i].host), "{h:?}");
        }
    }
    assert_eq!(snap.failed_hosts(), vec![lan.clients[2].host.clone()]);

    // Validation before anything runs.
    for bad in ["sync:2", "create_image:1", "noauto", "linbo:pw"] {
        let mut req = Request::new(Target::Room("r101".into()));
        req.direct = Some(bad.into());
        assert!(remote.prepare(&req).is_err(), "{bad} must be refused");
    }
    let mut one = Request::new(Target::Hosts(vec![lan.clients[0].ip.to_string()]));
    one.direct = Some("create_image:1:\"it's new\"".into());
    assert!(remote.prepare(&one).is_ok(), "create for one host (by IP)");
}

/// A UDP socket bound to `port` inside the network namespace `ns`.
fn udp_in_netns(ns: &str, port: u16) -> UdpSocket {
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let f = std::fs::File::open(&path).expect("netns file");
        nix::sched::setns(&f, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
        UdpSocket::bind((Ipv4Addr::UNSPECIFIED, port)).expect("bind in netns")
    })
    .join()
    .expect("thread")
}

#[tokio::test]
async fn wake_on_lan_arrives_in_batches_in_every_client_namespace() {
    let Some(lan) = Lan::from_env() else { return };
    let (_, _, bcast) = wol::interface_ipv4(&lan.bridge).expect("bridge address");
    let gap = Duration::from_millis(800);
    let cfg = WolConfig {
        destination: bcast,
        port: wol::DEFAULT_PORT,
        interface: Some(lan.bridge.clone()),
        copies: 2,
        batch: 2,
        gap,
    };
    let t0 = Instant::now();
    let listeners: Vec<_> = lan
        .clients
        .iter()
        .map(|c| {
            let s = udp_in_netns(&c.ns, wol::DEFAULT_PORT);
            s.set_read_timeout(Some(Duration::from_millis(200)))
                .expect("timeout");
            std::thread::spawn(move || {
                let mut got: Vec<(Duration, u8, usize)> = Vec::new();
                let mut buf = [0u8; 256];
                let end = Instant::now() + Duration::from_secs(8);
                while Instant::now() < end && got.len() < 12 {
                    if let Ok(n) = s.recv(&mut buf) {
                        let ok = n == 102 && buf[..6] == [0xff; 6] && buf[6..12] == buf[96..102];
                        got.push((t0.elapsed(), if ok { buf[11] } else { 0 }, n));
                    }
                }
                got
            })
        })
        .collect();
    let tmp = tempfile::tempdir().expect("tmp");
    let remote = lan.remote(tmp.path());
    let hosts = bootbox_remote::target::resolve(&remote.store, &Target::Room("r101".into()))
        .expect("resolve")
        .hosts;
    let mut spec = JobSpec::new("wake r101", hosts, Action::WakeOnly);
    spec.wake = Some(WakePlan {
        wol: cfg,
        wait: Duration::ZERO,
    });
    let snap = remote.run(&spec).await;
    assert!(
        snap.hosts
            .iter()
            .all(|h| h.woken && h.status == HostStatus::Done),
        "{snap:?}"
    );
    let macs: Vec<u8> = lan.clients.iter().map(|c| c.mac.octets()[5]).collect();
    for (c, l) in lan.clients.iter().zip(listeners) {
        let got = l.join().expect("listener");
        assert_eq!(got.len(), 12, "{}: 6 hosts x 2 copies: {got:?}", c.ns);
        // Order of first arrival = host order.
        let mut order: Vec<u8> = Vec::new();
        for (_, m, _) in &got {
            if !order.contains(m) {
                order.push(*m);
            }
        }
        assert_eq!(order, macs, "{}", c.ns);
        // Batches of 2: each batch starts after the previous one ended,
        // separated by (at least half) the gap.
        let batch_of = |m: u8| macs.iter().position(|x| *x == m).unwrap_or(0) / 2;
        for b in 1..3 {
            let prev_end = got
                .iter()
                .filter(|g| batch_of(g.1) == b - 1)
                .map(|g| g.0)
                .max();
            let start = got.iter().filter(|g| batch_of(g.1) == b).map(|g| g.0).min();
            let (Some(prev_end), Some(start)) = (prev_end, start) else {
                panic!("batch {b} missing in {}", c.ns);
            };
            assert!(
                start >= prev_end + gap / 2,
                "{}: batch {b} {start:?} after {prev_end:?}",
                c.ns
            );
        }
    }
}

fn fetch_in_netns(ns: &str, url: &str) -> (u16, String) {
    let out = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            ns,
            "curl",
            "-s",
            "-w",
            "\n%{http_code}",
            url,
        ])
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

#[tokio::test]
async fn onboot_files_are_consumed_once_and_reported() {
    let Some(lan) = Lan::from_env() else { return };
    let tmp = tempfile::tempdir().expect("tmp");
    let remote = lan.remote(tmp.path());
    // The box's HTTP boot server on the bridge address.
    let (box_ip, _, _) = wol::interface_ipv4(&lan.bridge).expect("bridge address");
    let recorder =
        bootbox_boot::timeline::Recorder::start(remote.store.clone(), Duration::from_secs(30));
    let listener = tokio::net::TcpListener::bind((box_ip, 0))
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let cfg = bootbox_boot::BootConfig {
        server_ip: box_ip,
        http_port: port,
        unknown: Default::default(),
        nbp: Default::default(),
    };
    let state = bootbox_web::boot::BootState::new(
        remote.store.clone(),
        cfg,
        &tmp.path().join("linbo"),
        recorder,
    )
    .expect("boot state");
    let app = bootbox_web::boot::boot_router(state);
    tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await;
    });

    let mut req = Request::new(Target::Room("r101".into()));
    req.onboot = Some("sync:1,start:1".into());
    req.noauto = true;
    let mut p = remote.prepare(&req).expect("prepare");
    p.spec.onboot_wait = Some(Duration::from_secs(6));
    let spec = p.spec.clone();
    let ssh = remote.ssh.clone();
    let dir = remote.onboot.clone();
    let job = Job::new(&spec);
    let runner = {
        let job = job.clone();
        tokio::spawn(async move { job.run(&spec, &ssh, &dir).await })
    };
    // Wait for the files, then four clients "boot" and fetch theirs.
    let t = Instant::now();
    while remote.onboot.list().expect("list").len() < 6 {
        assert!(t.elapsed() < Duration::from_secs(5), "files not written");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let listed = remote.onboot.list().expect("list");
    assert!(
        listed.iter().all(|e| e.commands == "sync:1,start:1,noauto"),
        "{listed:?}"
    );
    let fetched = tokio::task::spawn_blocking({
        let clients: Vec<(String, String)> = lan
            .clients
            .iter()
            .map(|c| (c.ns.clone(), c.host.clone()))
            .collect();
        move || {
            let mut out = Vec::new();
            for (ns, host) in clients.iter().take(4) {
                let url = format!("http://{box_ip}:{port}/linbo/linbocmd/{host}.cmd");
                out.push(fetch_in_netns(ns, &url));
            }
            // A second fetch finds nothing: consumed once.
            let (ns, host) = &clients[0];
            let url = format!("http://{box_ip}:{port}/linbo/linbocmd/{host}.cmd");
            out.push(fetch_in_netns(ns, &url));
            out
        }
    })
    .await
    .expect("fetch");
    for (code, body) in &fetched[..4] {
        assert_eq!((*code, body.as_str()), (200, "sync:1,start:1,noauto\n"));
    }
    assert_eq!(fetched[4].0, 404, "second fetch");
    let snap = runner.await.expect("job");
    for (i, h) in snap.hosts.iter().enumerate() {
        assert!(h.onboot_written);
        if i < 4 {
            assert_eq!(
                (h.picked_up, h.status),
                (Some(true), HostStatus::Done),
                "{h:?}"
            );
        } else {
            assert_eq!(
                (h.picked_up, h.status),
                (Some(false), HostStatus::NotPickedUp),
                "{h:?}"
            );
        }
    }
    assert!(
        remote.onboot.list().expect("list").is_empty(),
        "unfetched files removed"
    );
    let events = remote.store.recent_events(50).expect("events");
    let n = events
        .iter()
        .filter(|e| e.action == "remote.onboot.fetched")
        .count();
    assert_eq!(n, 4, "{events:?}");
    let _ = lan.dir.exists();
}

/// Sends one request to the web router; returns status and JSON body.
async fn call(
    app: &axum::Router,
    method: &str,
    uri: &str,
    token: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    use tower::ServiceExt;
    let req = axum::http::Request::builder()
        .method(method)
        .uri(uri)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(axum::body::Body::from(
            body.map(|b| b.to_string()).unwrap_or_default(),
        ))
        .expect("request");
    let resp = app.clone().oneshot(req).await.expect("response");
    let status = resp.status().as_u16();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 22)
        .await
        .expect("body");
    let v = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    (status, v)
}

#[tokio::test]
async fn schedule_created_over_the_api_fires_once_with_the_injected_clock() {
    use bootbox_remote::schedule::{self, ManualClock, Scheduler};
    use bootbox_store::jobs::RunOutcome;
    let Some(lan) = Lan::from_env() else { return };
    lan.reset();
    lan.set_exit(4, "sync:1", 9);
    let tmp = tempfile::tempdir().expect("tmp");
    let remote = Arc::new(lan.remote(tmp.path()));
    let store = remote.store.clone();
    let service = bootbox_remote::Service::new(remote);
    let token = store
        .create_token("lan", bootbox_store::tokens::Scope::Admin, "test")
        .expect("token");
    let mut state = bootbox_web::AppState::new(store.clone());
    state.remote = Some(service.clone());
    let app = bootbox_web::router(state);

    let hosts = vec![lan.clients[0].host.clone(), lan.clients[4].host.clone()];
    let (code, saved) = call(
        &app,
        "POST",
        "/api/v1/remote/schedules",
        &token,
        Some(serde_json::json!({
            "name": "lan-api",
            "cron": "*/5 * * * *",
            "timezone": "UTC",
            "target": { "kind": "hosts", "names": hosts },
            "commands": "sync:1",
            "enabled": true,
        })),
    )
    .await;
    assert_eq!(code, 201, "{saved}");
    let s = store.schedule("lan-api").expect("read").expect("stored");
    let (cron, tz) = schedule::parse(&s.cron, &s.timezone).expect("cron");
    let at = schedule::next_after(&cron, &tz, bootbox_store::now_ms())
        .expect("next")
        .expect("some");
    assert_eq!(saved["next_ms"], serde_json::json!(at));

    // Failure mail to the suite's aiosmtpd on the box namespace's loopback.
    let smtp = std::env::var("BBRC_SMTP").ok();
    if let Some((host, port)) = smtp.as_deref().and_then(|a| a.rsplit_once(':')) {
        store
            .set_mail_settings(
                bootbox_store::secrets::MailSettings {
                    enabled: true,
                    host: host.into(),
                    port: port.parse().expect("port"),
                    security: bootbox_store::secrets::MailSecurity::None,
                    from: "bootbox@school.example".into(),
                    to: vec!["it@school.example".into()],
                    ..Default::default()
                },
                "test",
            )
            .expect("mail settings");
    }
    let clock = Arc::new(ManualClock::new(at - 1_000));
    let sched = Scheduler::new(store.clone(), Arc::new(service.clone()), clock.clone());
    assert!(sched.tick().await.expect("tick").is_empty(), "not yet");
    clock.set(at + 2_000);
    let fired = sched.tick().await.expect("tick");
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!(fired[0].outcome, RunOutcome::Failed);
    if smtp.is_some() {
        assert_eq!(fired[0].mail, Some(Ok(())), "failure mail");
        let out = lan.dir.join("smtp.out");
        let want = format!("- {} failed (sync:1=9)", lan.clients[4].host);
        let t = Instant::now();
        loop {
            let text = std::fs::read_to_string(&out).unwrap_or_default();
            if text.contains(&want) {
                assert!(
                    text.contains("Subject: [bootbox] schedule lan-api: 1 host(s) failed"),
                    "{text}"
                );
                assert!(
                    !text.contains(&format!("- {} ", lan.clients[0].host)),
                    "{text}"
                );
                break;
            }
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "mail not received: {text}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    } else {
        eprintln!("note: BBRC_SMTP not set, failure mail not checked");
    }
    clock.set(at + 30_000);
    assert!(sched.tick().await.expect("tick").is_empty(), "fires once");
    assert_eq!(lan.log(0), vec!["sync:1"]);
    assert_eq!(lan.log(4), vec!["sync:1"]);
    assert!(lan.log(1).is_empty(), "not targeted");

    let (code, runs) = call(
        &app,
        "GET",
        "/api/v1/remote/schedules/lan-api/runs",
        &token,
        None,
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(runs.as_array().map(Vec::len), Some(1), "{runs}");
    assert_eq!(runs[0]["outcome"], "failed");
    assert_eq!(
        runs[0]["failed_hosts"],
        serde_json::json!([lan.clients[4].host])
    );
    // The scheduled run is a job of the service like the API's own.
    let (code, jobs) = call(&app, "GET", "/api/v1/remote/jobs", &token, None).await;
    assert_eq!(code, 200);
    let job = &jobs[0];
    assert!(job["finished_ms"].is_number(), "{job}");
    assert_eq!(job["hosts"][1]["commands"][0]["exit_code"], 9, "{job}");
}
