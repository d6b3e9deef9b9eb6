//! Test fixture for the browser tests (tests/webui): the real web router on
//! a fresh registry, with the setup done and a transfer provider whose
//! torrent and multicast numbers move every second — so the UI's transfer
//! cards and their live updates over SSE can be checked in Chromium.
//!
//! Usage: `transfers_fixture <data dir> <listen addr> <admin password>`;
//! prints `listening <addr>` and serves until killed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bootbox_store::users::Enrolment;
use bootbox_store::{DhcpMode, SchoolSettings, Store};
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
