//! Serves a directory over TFTP until Ctrl-C / SIGTERM (used by
//! `scripts/bench/tftp` and for manual testing).
//!
//! ```text
//! tftpd ADDR ROOT [--max-blksize N] [--max-windowsize N] [--max-transfers N]
//!                 [--timeout-ms N] [--retries N]
//! ```

use std::process::ExitCode;
use std::time::Duration;

use bootbox_tftp::{DirSource, NoopObserver, TftpConfig, TftpServer};

const USAGE: &str = "usage: tftpd ADDR ROOT [--max-blksize N] [--max-windowsize N] \
                     [--max-transfers N] [--timeout-ms N] [--retries N]";

fn parse_args() -> Result<(TftpConfig, String), String> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().ok_or(USAGE)?;
    let root = args.next().ok_or(USAGE)?;
    let mut config = TftpConfig::new(addr.parse().map_err(|e| format!("bad ADDR {addr}: {e}"))?);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = |e: std::num::ParseIntError| format!("bad value for {flag}: {e}");
        match flag.as_str() {
            "--max-blksize" => config.max_blksize = value.parse().map_err(bad)?,
            "--max-windowsize" => config.max_windowsize = value.parse().map_err(bad)?,
            "--max-transfers" => config.max_transfers = value.parse().map_err(bad)?,
            "--timeout-ms" => config.timeout = Duration::from_millis(value.parse().map_err(bad)?),
            "--retries" => config.retries = value.parse().map_err(bad)?,
            _ => return Err(format!("unknown flag {flag}\n{USAGE}")),
        }
    }
    Ok((config, root))
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
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
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let (config, root) = match parse_args() {
        Ok(parsed) => parsed,
        Err(msg) => {
            eprintln!("{msg}");
            return ExitCode::from(2);
        }
    };
    let source = match DirSource::new(&root) {
        Ok(source) => source,
        Err(e) => {
            eprintln!("tftpd: root {root}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let server = match TftpServer::bind(config, source, NoopObserver).await {
        Ok(server) => server,
        Err(e) => {
            eprintln!("tftpd: bind: {e}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!("tftpd: serving {root} on {}", server.local_addr());
    match server.run(shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tftpd: {e}");
            ExitCode::FAILURE
        }
    }
}
