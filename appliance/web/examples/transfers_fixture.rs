//! Test fixture for the browser tests (tests/webui): the real web router on
//! a fresh registry, with the setup done and a transfer provider whose
//! torrent and multicast numbers move every second — so the UI's transfer
//! cards and their live updates over SSE can be checked in Chromium. It
//! also registers two hosts with LINBO client reports: `pc01` whose last
//! word is a failure, `pc02` that synced after an older failure (the host
//! page's status card and the dashboard's failure panel).
//!
//! Usage: `transfers_fixture <data dir> <listen addr> <admin password>`;
//! prints `listening <addr>` and serves until killed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bootbox_store::users::Enrolment;
use bootbox_store::{ClientReport, DhcpMode, SchoolSettings, Store, SyncKind};
use bootbox_web::transfers::{
    MulticastReceiver, MulticastSessionStatus, MulticastState, TorrentImageStatus, TransferStatus,
    Transfers,
};
use bootbox_web::{router, AppState};

/// Numbers derived from the time since start: one step per second.
struct Moving(Instant);

impl TransferStatus for Moving {
    fn transfers(&self) -> Transfers {
        let step = self.0.elapsed().as_secs();
        let pct = |base: u64| ((base + step * 7) % 101) as f32;
        Transfers {
            torrent: vec![TorrentImageStatus {
                image: "win11".into(),
                info_hash: "3f786850e387550fdab836ed7e6dc881de23001b".into(),
                peers: 3 + (step % 4) as u32,
                uploaded_bytes: (1 << 30) + step * (64 << 20),
                active_downloads: 2,
            }],
            multicast: vec![MulticastSessionStatus {
                image: "ubuntu.qcow2".into(),
                port: 9000,
                state: MulticastState::Sending,
                receivers: vec![
                    MulticastReceiver {
                        addr: "10.0.0.21".into(),
                        progress_percent: pct(10),
                    },
                    MulticastReceiver {
                        addr: "10.0.0.22".into(),
                        progress_percent: pct(5),
                    },
                ],
                bytes_sent: step * (32 << 20),
                total_bytes: Some(8 << 30),
            }],
            http: Vec::new(),
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(dir), Some(addr), Some(pw)) = (args.next(), args.next(), args.next()) else {
        return Err("usage: transfers_fixture <data dir> <listen addr> <admin password>".into());
    };
    let store = Arc::new(Store::open(
        std::path::Path::new(&dir).join("fixture.redb"),
    )?);
    if !store.has_admin()? {
        store.complete_setup(
            Some(("admin", pw.as_str())),
            SchoolSettings {
                school_name: "Transfer fixture".into(),
                server_ip: None,
                interface: None,
                dhcp_mode: DhcpMode::Off,
                ..SchoolSettings::default()
            },
            Enrolment::default(),
            "fixture",
        )?;
    }
    seed_client_status(&store)?;
    let mut st = AppState::new(store);
    st.transfers = Some(Arc::new(Moving(Instant::now())));
    let addr: SocketAddr = addr.parse()?;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("listening {}", listener.local_addr()?);
    axum::serve(
        listener,
        router(st).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await?;
    Ok(())
}

/// Hosts `pc01` (failing) and `pc02` (synced after an older failure).
fn seed_client_status(store: &Store) -> Result<(), Box<dyn std::error::Error>> {
    if store.host("pc01")?.is_some() {
        return Ok(());
    }
    let rows =
        "fx;pc01;fx;02:fb:00:00:00:01;DHCP;;;;;;1\nfx;pc02;fx;02:fb:00:00:00:02;DHCP;;;;;;1\n";
    for h in bootbox_linbo::devices::parse(rows)?.records {
        store.add_host(h, "fixture")?;
    }
    let sync = || ClientReport::Sync {
        kind: SyncKind::Applied,
        image: "win11.qcow2".into(),
        version: Some("202611201200".into()),
        when: "202611221830".into(),
    };
    let fail = || ClientReport::Log {
        failure: Some("rsync error: disk full".into()),
    };
    let now = bootbox_store::now_ms();
    store.record_client_report("pc01", sync(), now - 60_000)?;
    store.record_client_report("pc01", fail(), now - 30_000)?;
    store.record_client_report("pc02", fail(), now - 60_000)?;
    store.record_client_report("pc02", sync(), now - 30_000)?;
    Ok(())
}
