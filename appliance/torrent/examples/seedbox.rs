//! Seeds image files with the crate's seeder and runs its tracker until
//! Ctrl-C / SIGTERM — the stand-in for `bootbox serve` used by
//! `tests/torrent/` and `scripts/bench/torrent`.
//!
//! ```text
//! seedbox --listen ADDR --state DIR [--tracker ADDR] [--announce URL]
//!         [--advertise ADDR] [--web-seed URL] [--upload-limit BPS]
//!         [--peer-upload-limit BPS] [--interval SECS] [--min-interval SECS]
//!         [--piece-length BYTES] [--public] [--bind-device DEV]
//!         [--stats-file PATH] [--events-file PATH] IMAGE...
//! ```
//!
//! For each IMAGE it prepares `IMAGE.torrent` (hashing only when the resume
//! record in `--state` does not match) and prints one JSON line
//! `{"image", "torrent", "info_hash", "hashed", "seconds"}`, then `ready`.
//! `--stats-file` is rewritten every 500 ms with the seeder's and the
//! tracker's counters as JSON; `--events-file` gets one JSON line per
//! seeder event (appended).

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use bootbox_torrent::{
    prepare_torrent, write_atomic, ResumeStore, Seeder, SeederConfig, SeederEvent, SeederObserver,
    TorrentSpec, Tracker, TrackerConfig, Whitelist,
};
use tracing::info;

const USAGE: &str = "usage: seedbox --listen ADDR --state DIR [--tracker ADDR] [--announce URL] \
[--advertise ADDR] [--web-seed URL] [--upload-limit BPS] [--peer-upload-limit BPS] [--interval SECS] \
[--min-interval SECS] [--piece-length BYTES] [--public] [--bind-device DEV] [--stats-file PATH] \
[--events-file PATH] IMAGE...";

struct Args {
    listen: SocketAddr,
    state: PathBuf,
    tracker: Option<SocketAddr>,
    announce: Option<String>,
    advertise: Option<SocketAddr>,
    web_seed: Option<String>,
    upload_limit: Option<u64>,
    peer_upload_limit: Option<u64>,
    interval: u64,
    min_interval: u64,
    piece_length: Option<u32>,
    public: bool,
    bind_device: Option<String>,
    stats_file: Option<PathBuf>,
    events_file: Option<PathBuf>,
    images: Vec<PathBuf>,
}

fn parse_args() -> Result<Args, String> {
    let mut listen = None;
    let mut state = None;
    let mut a = Args {
        listen: "0.0.0.0:6881".parse().map_err(|_| "unreachable")?,
        state: PathBuf::new(),
        tracker: None,
        announce: None,
        advertise: None,
        web_seed: None,
        upload_limit: None,
        peer_upload_limit: None,
        interval: 60,
        min_interval: 15,
        piece_length: None,
        public: false,
        bind_device: None,
        stats_file: None,
        events_file: None,
        images: Vec::new(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if !arg.starts_with("--") {
            a.images.push(arg.into());
            continue;
        }
        if arg == "--public" {
            a.public = true;
            continue;
        }
        let value = args.next().ok_or_else(|| format!("{arg} needs a value"))?;
        let bad = |e: &dyn std::fmt::Display| format!("bad value for {arg}: {e}");
        match arg.as_str() {
            "--listen" => listen = Some(value.parse().map_err(|e| bad(&e))?),
            "--state" => state = Some(PathBuf::from(value)),
            "--tracker" => a.tracker = Some(value.parse().map_err(|e| bad(&e))?),
            "--announce" => a.announce = Some(value),
            "--advertise" => a.advertise = Some(value.parse().map_err(|e| bad(&e))?),
            "--web-seed" => a.web_seed = Some(value),
            "--upload-limit" => a.upload_limit = Some(value.parse().map_err(|e| bad(&e))?),
            "--peer-upload-limit" => {
                a.peer_upload_limit = Some(value.parse().map_err(|e| bad(&e))?)
            }
            "--interval" => a.interval = value.parse().map_err(|e| bad(&e))?,
            "--min-interval" => a.min_interval = value.parse().map_err(|e| bad(&e))?,
            "--piece-length" => a.piece_length = Some(value.parse().map_err(|e| bad(&e))?),
            "--bind-device" => a.bind_device = Some(value),
            "--stats-file" => a.stats_file = Some(value.into()),
            "--events-file" => a.events_file = Some(value.into()),
            _ => return Err(format!("unknown flag {arg}\n{USAGE}")),
        }
    }
    a.listen = listen.ok_or(USAGE)?;
    a.state = state.ok_or(USAGE)?;
    if a.images.is_empty() {
        return Err(USAGE.into());
    }
    Ok(a)
}

/// Logs every seeder event, and appends it as JSON to the events file.
struct LogObserver(Option<Mutex<std::fs::File>>);

impl LogObserver {
    fn record(&self, doc: serde_json::Value) {
        if let Some(file) = &self.0 {
            let mut f = file.lock().unwrap_or_else(PoisonError::into_inner);
            let _ = writeln!(f, "{doc}");
        }
    }
}

impl SeederObserver for LogObserver {
    fn on_event(&self, event: SeederEvent) {
        let doc = match &event {
            SeederEvent::PeerConnected {
                info_hash,
                peer,
                client,
            } => serde_json::json!({
                "event": "connected", "info_hash": info_hash.to_hex(), "peer": peer, "client": client }),
            SeederEvent::PeerCompleted { info_hash, peer } => serde_json::json!({
                "event": "completed", "info_hash": info_hash.to_hex(), "peer": peer }),
            SeederEvent::PeerDisconnected {
                info_hash,
                peer,
                bytes_sent,
                blocks_sent,
                duration,
                reason,
            } => {
                serde_json::json!({ "event": "disconnected", "info_hash": info_hash.to_hex(), "peer": peer,
                    "bytes_sent": bytes_sent, "blocks_sent": blocks_sent, "secs": duration.as_secs_f64(),
                    "reason": reason.to_string() })
            }
            SeederEvent::ConnectionRefused { peer, reason } => serde_json::json!({
                "event": "refused", "peer": peer, "reason": reason.to_string() }),
            _ => serde_json::Value::Null,
        };
        self.record(doc);
        match event {
            SeederEvent::PeerConnected {
                info_hash,
                peer,
                client,
            } => {
                info!(%info_hash, %peer, %client, "peer connected")
            }
            SeederEvent::PeerCompleted { info_hash, peer } => {
                info!(%info_hash, %peer, "peer completed")
            }
            SeederEvent::PeerDisconnected {
                info_hash,
                peer,
                bytes_sent,
                blocks_sent,
                duration,
                reason,
            } => {
                info!(%info_hash, %peer, bytes_sent, blocks_sent, secs = duration.as_secs_f64(), %reason, "peer disconnected")
            }
            SeederEvent::ConnectionRefused { peer, reason } => {
                info!(%peer, %reason, "connection refused")
            }
            _ => {}
        }
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

async fn run(a: Args) -> Result<(), String> {
    let store =
        ResumeStore::open(&a.state).map_err(|e| format!("state {}: {e}", a.state.display()))?;
    let advertise = a.advertise.unwrap_or(a.listen);
    let announce = match (&a.announce, a.tracker) {
        (Some(url), _) => url.clone(),
        (None, Some(t)) => format!("http://{}:{}/announce", advertise.ip(), t.port()),
        (None, None) => return Err("--announce or --tracker is needed".into()),
    };
    let spec = TorrentSpec {
        piece_length: a.piece_length,
        web_seeds: a.web_seed.iter().cloned().collect(),
        private: !a.public,
        ..TorrentSpec::new(announce)
    };
    let mut config = SeederConfig::new(a.listen);
    config.upload_limit = a.upload_limit;
    config.peer_upload_limit = a.peer_upload_limit;
    config.bind_device = a.bind_device.clone();
    let events = match &a.events_file {
        Some(p) => Some(Mutex::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .map_err(|e| format!("{}: {e}", p.display()))?,
        )),
        None => None,
    };
    let seeder = Seeder::start(config, LogObserver(events))
        .await
        .map_err(|e| format!("seeder: {e}"))?;
    let whitelist = Whitelist::new();
    for image in &a.images {
        let torrent = PathBuf::from(format!("{}.torrent", image.display()));
        let started = Instant::now();
        let (img, tor, sp, st) = (image.clone(), torrent.clone(), spec.clone(), store.clone());
        let prepared = tokio::task::spawn_blocking(move || prepare_torrent(&img, &tor, &sp, &st))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("{}: {e}", image.display()))?;
        let meta = &prepared.metainfo;
        seeder
            .add(image, meta)
            .map_err(|e| format!("{}: {e}", image.display()))?;
        whitelist.insert(meta.info_hash());
        println!(
            "{}",
            serde_json::json!({
                "image": image, "torrent": torrent, "info_hash": meta.info_hash().to_hex(),
                "hashed": prepared.hashed, "seconds": started.elapsed().as_secs_f64(),
                "pieces": meta.piece_count(), "piece_length": meta.piece_length(),
            })
        );
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let tracker = Tracker::new(
        TrackerConfig {
            interval: Duration::from_secs(a.interval),
            min_interval: Duration::from_secs(a.min_interval),
            box_seeds: vec![SocketAddr::new(advertise.ip(), seeder.local_addr().port())],
            ..TrackerConfig::default()
        },
        whitelist,
    );
    let tracker_task = match a.tracker {
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| format!("tracker {addr}: {e}"))?;
            let mut rx = stop_rx.clone();
            let t = tracker.clone();
            Some(tokio::spawn(async move {
                let _ = t
                    .serve(listener, async move {
                        let _ = rx.wait_for(|s| *s).await;
                    })
                    .await;
            }))
        }
        None => None,
    };
    println!("ready");
    let stats_loop = async {
        let Some(path) = &a.stats_file else {
            return std::future::pending::<()>().await;
        };
        loop {
            let doc = serde_json::json!({ "seeder": seeder.stats(), "tracker": tracker.stats() });
            let _ = write_atomic(path, doc.to_string().as_bytes());
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    };
    tokio::select! {
        _ = shutdown_signal() => {}
        _ = stats_loop => {}
    }
    info!("shutting down");
    let _ = stop_tx.send(true);
    seeder.shutdown().await;
    if let Some(t) = tracker_task {
        let _ = tokio::time::timeout(Duration::from_secs(2), t).await;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = match parse_args() {
        Ok(a) => a,
        Err(msg) => {
            eprintln!("{msg}");
            return ExitCode::from(2);
        }
    };
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("seedbox: {msg}");
            ExitCode::FAILURE
        }
    }
}
