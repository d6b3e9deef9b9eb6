//! Serves several images at once, one udpcast session each, as `bootbox
//! serve` will: builds `multicast.list` like LINBO's `linbo-multicast`
//! (ports PORTBASE, PORTBASE + 2, …), starts a [`Service`], prints its
//! events (and, with `--status-every`, status snapshots) as JSON lines.
//!
//! ```text
//! mcast_serve --interface eth0 --image a.qcow2=/srv/a.qcow2 --image b.qcow2=/srv/b.qcow2
//!             [--portbase 9000] [--min-clients 15] [--min-wait 30] [--max-wait 60]
//!             [--list-out multicast.list] [--status-every 1] [--run-for 60]
//! ```

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use bootbox_udpcast::{plan, Config, Endpoint, Service, StartRules};
use clap::Parser;
use tokio::sync::broadcast;

#[derive(Parser, Debug)]
#[command(about = "Serve images by udpcast multicast, one session per image")]
struct Args {
    /// Interface to serve on.
    #[arg(long)]
    interface: String,
    /// Our address on it (default: its first IPv4 address).
    #[arg(long)]
    server_ip: Option<Ipv4Addr>,
    /// NAME=PATH of an image (repeat; order gives the ports).
    #[arg(long = "image", required = true)]
    images: Vec<String>,
    /// PORTBASE.
    #[arg(long, default_value_t = 9000)]
    portbase: u16,
    /// MINCLIENTS.
    #[arg(long, default_value_t = 15)]
    min_clients: usize,
    /// MINSECONDS.
    #[arg(long, default_value_t = 30.0)]
    min_wait: f64,
    /// MAXSECONDS.
    #[arg(long, default_value_t = 60.0)]
    max_wait: f64,
    /// Write multicast.list here.
    #[arg(long)]
    list_out: Option<PathBuf>,
    /// Print a status snapshot every N seconds.
    #[arg(long)]
    status_every: Option<f64>,
    /// Stop after N seconds (default: until interrupted).
    #[arg(long)]
    run_for: Option<f64>,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let a = Args::parse();
    let mut cfg = Config::new(a.interface.clone());
    cfg.server_ip = a.server_ip;
    cfg.portbase = a.portbase;
    let (Ok(min_wait), Ok(max_wait)) = (
        Duration::try_from_secs_f64(a.min_wait),
        Duration::try_from_secs_f64(a.max_wait),
    ) else {
        eprintln!("mcast_serve: bad --min-wait/--max-wait");
        return ExitCode::from(2);
    };
    cfg.start = StartRules {
        min_clients: a.min_clients,
        min_wait: Some(min_wait),
        max_wait: Some(max_wait),
    };
    let mut images = Vec::new();
    for spec in &a.images {
        let Some((name, path)) = spec.split_once('=') else {
            eprintln!("mcast_serve: --image wants NAME=PATH, got {spec:?}");
            return ExitCode::from(2);
        };
        images.push((name.to_string(), PathBuf::from(path)));
    }
    let endpoint = match Endpoint::lookup(&cfg.interface, cfg.server_ip, cfg.broadcast) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("mcast_serve: {e}");
            return ExitCode::from(1);
        }
    };
    let (list, sessions) = match plan(endpoint.server_ip, cfg.portbase, images) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("mcast_serve: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(p) = &a.list_out {
        if let Err(e) = std::fs::write(p, list.render()) {
            eprintln!("mcast_serve: cannot write {}: {e}", p.display());
            return ExitCode::from(1);
        }
    }
    let service = match Service::start_on(cfg, endpoint, sessions) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("mcast_serve: {e}");
            return ExitCode::from(1);
        }
    };
    let mut events = service.subscribe();
    let stop_after = a.run_for.and_then(|s| Duration::try_from_secs_f64(s).ok());
    let deadline = tokio::time::sleep(stop_after.unwrap_or(Duration::from_secs(u32::MAX.into())));
    tokio::pin!(deadline);
    let every = a
        .status_every
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .filter(|d| !d.is_zero());
    let mut ticker = tokio::time::interval(every.unwrap_or(Duration::from_secs(3600)));
    loop {
        tokio::select! {
            _ = &mut deadline => break,
            _ = tokio::signal::ctrl_c() => break,
            _ = ticker.tick(), if every.is_some() => {
                let st = service.status();
                println!("{}", serde_json::json!({ "event": "status", "sessions": st }));
            }
            e = events.recv() => match e {
                Ok(e) => println!("{}", serde_json::to_string(&e).unwrap_or_default()),
                Err(broadcast::error::RecvError::Lagged(n)) => eprintln!("mcast_serve: {n} events lost"),
                Err(broadcast::error::RecvError::Closed) => break,
            },
        }
    }
    service.shutdown().await;
    ExitCode::SUCCESS
}
