//! Sends one file to udpcast receivers, like `udp-sender`, with Bootbox's
//! engine. Used by the multicast test suite and benchmark.
//!
//! ```text
//! mcast_send --interface eth0 --file image.qcow2 [--portbase 9000]
//!            [--min-clients N] [--min-wait S] [--max-wait S] [--max-bitrate 500m]
//!            [--mcast-group 239.1.2.3 | --broadcast] [--fec 8x8/128]
//!            [--slice-size 256] [--block-size 1456] [--slow-budget 2.0]
//!            [--no-slow-policy] [--answer-timeout 10] [--rounds 1]
//! ```
//!
//! Prints every event as one JSON line on stdout; exits 0 if the last
//! round completed, 1 otherwise (2 on bad arguments).

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use bootbox_udpcast::{
    parse_bitrate, Config, DataMode, Endpoint, FecConfig, Outcome, Session, SessionSpec,
    SlowPolicy, StartRules,
};
use clap::Parser;
use tokio::sync::{broadcast, watch};

#[derive(Parser, Debug)]
#[command(about = "Send one file to udpcast receivers (Bootbox's udpcast sender)")]
struct Args {
    /// Interface to send on.
    #[arg(long)]
    interface: String,
    /// File to send.
    #[arg(long)]
    file: PathBuf,
    /// Port base P (receivers' --portbase); we use P+1.
    #[arg(long, default_value_t = 9000)]
    portbase: u16,
    /// Our address on the interface (default: its first IPv4 address).
    #[arg(long)]
    server_ip: Option<Ipv4Addr>,
    /// Start when this many receivers are connected.
    #[arg(long, default_value_t = 1)]
    min_clients: usize,
    /// Seconds after the first connection before starting by count.
    #[arg(long)]
    min_wait: Option<f64>,
    /// Seconds after the first connection to start with whoever is there.
    #[arg(long)]
    max_wait: Option<f64>,
    /// Rate limit, bits/s with k/m/g suffix.
    #[arg(long)]
    max_bitrate: Option<String>,
    /// Multicast data group.
    #[arg(long)]
    mcast_group: Option<Ipv4Addr>,
    /// Send data to the subnet broadcast instead of a multicast group.
    #[arg(long)]
    broadcast: bool,
    /// FEC as <stripes>x<redundancy>/<stripesize>.
    #[arg(long)]
    fec: Option<String>,
    /// Blocks per slice.
    #[arg(long, default_value_t = bootbox_udpcast::DEFAULT_SLICE_BLOCKS)]
    slice_size: u16,
    /// Bytes per block.
    #[arg(long, default_value_t = bootbox_udpcast::DEFAULT_BLOCK_SIZE)]
    block_size: u16,
    /// Slow-receiver budget in seconds (default: the library's, 2 s).
    #[arg(long)]
    slow_budget: Option<f64>,
    /// Fraction of the time a receiver may hold the group back (default 0.2).
    #[arg(long)]
    slow_tolerance: Option<f64>,
    /// Wait for the slowest receiver, as udpcast does.
    #[arg(long)]
    no_slow_policy: bool,
    /// Seconds of silence before a receiver is dropped.
    #[arg(long, default_value_t = 10.0)]
    answer_timeout: f64,
    /// Seconds between the end of a round and the next HELLO.
    #[arg(long, default_value_t = 2.0)]
    restart_delay: f64,
    /// Rounds to run (0 = until interrupted).
    #[arg(long, default_value_t = 1)]
    rounds: u64,
}

fn secs(s: f64) -> Result<Duration, String> {
    Duration::try_from_secs_f64(s).map_err(|e| format!("bad duration {s}: {e}"))
}

fn config(a: &Args) -> Result<Config, String> {
    let mut c = Config::new(a.interface.clone());
    c.portbase = a.portbase;
    c.server_ip = a.server_ip;
    c.start = StartRules {
        min_clients: a.min_clients,
        min_wait: a.min_wait.map(secs).transpose()?,
        max_wait: a.max_wait.map(secs).transpose()?,
    };
    c.max_bitrate = a.max_bitrate.as_deref().map(parse_bitrate).transpose()?;
    c.data = if a.broadcast {
        DataMode::Broadcast
    } else {
        DataMode::Multicast(a.mcast_group)
    };
    c.fec = a.fec.as_deref().map(str::parse::<FecConfig>).transpose()?;
    c.slice_blocks = a.slice_size;
    c.block_size = a.block_size;
    let d = SlowPolicy::default();
    c.slow = match a.no_slow_policy {
        true => None,
        false => Some(SlowPolicy {
            budget: a.slow_budget.map(secs).transpose()?.unwrap_or(d.budget),
            tolerance: a.slow_tolerance.unwrap_or(d.tolerance),
            ..d
        }),
    };
    c.answer_timeout = secs(a.answer_timeout)?;
    c.restart_delay = secs(a.restart_delay)?;
    c.validate()?;
    Ok(c)
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let cfg = match config(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("mcast_send: {e}");
            return ExitCode::from(2);
        }
    };
    let endpoint = match Endpoint::lookup(&cfg.interface, cfg.server_ip, cfg.broadcast) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("mcast_send: {e}");
            return ExitCode::from(1);
        }
    };
    let image = args
        .file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "image".into());
    let spec = SessionSpec {
        image,
        path: args.file.clone(),
        port: args.portbase,
    };
    let (events, mut rx) = broadcast::channel(4096);
    let session = match Session::bind(&cfg, &endpoint, spec, 0, events) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("mcast_send: {e}");
            return ExitCode::from(1);
        }
    };
    let (stop, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        let _ = stop.send(true);
    });
    let printer = tokio::spawn(async move {
        loop {
            match rx.recv().await {
                Ok(e) => println!("{}", serde_json::to_string(&e).unwrap_or_default()),
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    eprintln!("mcast_send: {n} events lost")
                }
                Err(broadcast::error::RecvError::Closed) => break,
            }
        }
    });
    let rounds = (args.rounds > 0).then_some(args.rounds);
    let outcome = session.run(stop_rx, rounds).await;
    let _ = printer.await;
    if outcome == Some(Outcome::Complete) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
