//! Command-line interface.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Bootbox: network-boot and imaging appliance for school networks.
#[derive(Debug, Parser)]
#[command(name = "bootbox", version, about, propagate_version = true)]
pub struct Cli {
    /// Data directory (created if missing).
    #[arg(long, global = true, default_value = "./var", env = "BOOTBOX_DATA")]
    pub data: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the service (HTTP health/metrics; network services as configured).
    Serve(ServeArgs),
    /// Import hosts or a whole linuxmuster server.
    #[command(subcommand)]
    Import(ImportCommand),
    /// Export the registry to LINBO files.
    #[command(subcommand)]
    Export(ExportCommand),
    /// List, show, add and remove hosts.
    #[command(subcommand)]
    Hosts(HostsCommand),
}

/// `bootbox serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address of the HTTP server (health, metrics, later API and UI).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub http: SocketAddr,
    /// Log format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// Log output formats.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// How imported hosts merge with existing ones.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Merge {
    /// The file is the truth: hosts missing from it are removed.
    Replace,
    /// Add new and overwrite same-named hosts; keep the others.
    Update,
    /// Only add hosts with new hostnames.
    AddOnly,
}

/// `bootbox import …`.
#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Import a linuxmuster devices.csv.
    Devices {
        /// The devices.csv file.
        file: PathBuf,
        /// Show exactly what would change; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// How the file's hosts merge with the registry.
        #[arg(long, value_enum, default_value_t = Merge::Update)]
        merge: Merge,
    },
    /// Import devices.csv, start.conf.* and the images/ tree of a
    /// linuxmuster server (a copy of /srv/linbo and the devices.csv).
    Linuxmuster {
        /// Directory holding devices.csv and the LINBO files (either flat,
        /// or laid out like the server: etc/linuxmuster/…, srv/linbo/…).
        dir: PathBuf,
        /// Show exactly what would change; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// How the file's hosts merge with the registry.
        #[arg(long, value_enum, default_value_t = Merge::Update)]
        merge: Merge,
    },
}

/// `bootbox export …`.
#[derive(Debug, Subcommand)]
pub enum ExportCommand {
    /// Write all hosts as a devices.csv (`-` for stdout).
    Devices {
        /// Target file.
        file: PathBuf,
    },
}

/// `bootbox hosts …`.
#[derive(Debug, Subcommand)]
pub enum HostsCommand {
    /// List hosts (optionally of one room or group).
    List {
        /// Only hosts in this room.
        #[arg(long)]
        room: Option<String>,
        /// Only hosts of this group.
        #[arg(long)]
        group: Option<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one host (by hostname or MAC).
    Show {
        /// Hostname or MAC address.
        host: String,
    },
    /// Add a host.
    Add {
        /// Hostname.
        hostname: String,
        /// MAC address.
        #[arg(long)]
        mac: String,
        /// Fixed IPv4 address or DHCP.
        #[arg(long, default_value = "DHCP")]
        ip: String,
        /// Room.
        #[arg(long)]
        room: String,
        /// Group (hardware class).
        #[arg(long)]
        group: String,
        /// PXE flag: 0 none, 1 LINBO, 2 LINBO+opsi, 3 opsi.
        #[arg(long, default_value_t = 1)]
        pxe: u8,
        /// sophomorix role (empty = classroom-studentcomputer).
        #[arg(long, default_value = "")]
        role: String,
    },
    /// Remove a host.
    Rm {
        /// Hostname.
        hostname: String,
    },
}
