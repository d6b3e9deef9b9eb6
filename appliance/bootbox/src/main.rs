//! `bootbox`: the one binary of the appliance. It parses the command line
//! and wires the crates together; the work happens in the crates.
//!
//! Exit codes: 0 success, 1 error (one-line cause on stderr), 2 usage.

mod cli;
mod commands;
mod datadir;
mod logging;
mod serve;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line: the cause chain joined, so scripts can log it.
            let chain: Vec<String> = e.chain().map(|c| c.to_string()).collect();
            eprintln!("bootbox: error: {}", chain.join(": "));
            ExitCode::from(1)
        }
    }
}
