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
    /// List groups (hardware classes) and set their boot mode.
    #[command(subcommand)]
    Groups(GroupsCommand),
    /// API tokens for scripts (shown once, stored hashed).
    #[command(subcommand)]
    Tokens(TokensCommand),
    /// Wake-on-LAN, on-boot and direct LINBO commands (linbo-remote's
    /// options: -r -g -i -c -p -w -b -n -d -u).
    Remote(crate::commands::remote::RemoteArgs),
    /// Recurring remote jobs (cron-style), run by `bootbox serve`.
    #[command(subcommand)]
    Schedules(crate::commands::schedules::SchedulesCommand),
    /// Run by the rsync daemon before and after every LINBO transfer
    /// (pre-download, post-download, pre-upload, post-upload); hands the
    /// transfer to the running service, which does LINBO's side effects.
    Hook {
        /// pre-download, post-download, pre-upload or post-upload.
        phase: String,
    },
    /// Appliance firmware: signed A/B updates (install, confirm, status)
    /// and, on the build machine, keys and bundles.
    #[command(subcommand)]
    Firmware(crate::commands::firmware::FirmwareCommand),
    /// LINBO's linbofs64: rebuild it with the box's keys, the LINBO password
    /// hash and the proxy-DHCP server patch.
    #[command(subcommand)]
    Linbofs(crate::commands::linbofs::LinbofsCommand),
    /// Central push: the central role (serve, school add, publish, list)
    /// and the box side (enrol, sync, status).
    #[command(subcommand)]
    Central(crate::commands::central::CentralCommand),
    /// LINBO's network GRUB cores (BIOS core.0, x64 EFI core.efi), built
    /// with Debian's grub-mkimage.
    #[command(subcommand)]
    Grub(crate::commands::grub::GrubCommand),
}

/// `bootbox tokens …`.
#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Create a token and print it (only this once).
    Create {
        /// Name (a-z, 0-9, '-'), shown in the audit log.
        name: String,
        /// What it may do: read, images or admin.
        #[arg(long, default_value = "read")]
        scope: String,
    },
    /// List tokens (names and scopes; secrets are not stored).
    List,
    /// Revoke a token.
    Revoke {
        /// Name.
        name: String,
    },
}

/// `bootbox groups …`.
#[derive(Debug, Subcommand)]
pub enum GroupsCommand {
    /// List groups with their host count and boot mode.
    List,
    /// Set what the group's hosts boot (hosts may override it).
    Boot {
        /// Group name.
        group: String,
        /// Boot mode (`group` is not valid here).
        #[command(flatten)]
        boot: BootArgs,
    },
    /// Set the group's first-stage loader: ipxe (default) or grub (LINBO's
    /// network GRUB, needed to honour pending "reboot into OS" requests).
    Chain {
        /// Group name.
        group: String,
        /// ipxe or grub (`group` is not valid here).
        #[arg(value_enum)]
        chain: ChainArg,
    },
}

/// `bootbox serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address of the HTTP server (health, metrics, later API and UI).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub http: SocketAddr,
    /// Address of the HTTPS server for the web UI and API (e.g.
    /// 0.0.0.0:443). A self-signed certificate is made on first start in
    /// <data>/tls. With HTTPS on, plain HTTP serves the UI to loopback
    /// clients only; other clients are sent to HTTPS.
    #[arg(long, value_name = "ADDR")]
    pub https: Option<SocketAddr>,
    /// Log format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// LAN interface for the boot services (DHCP binds to it). Overrides
    /// the setting from the setup wizard.
    #[arg(long)]
    pub interface: Option<String>,
    /// The box's IPv4 address on that LAN (what PCs are told). Overrides
    /// the setting from the setup wizard.
    #[arg(long)]
    pub server_ip: Option<std::net::Ipv4Addr>,
    /// DHCP role: proxy (ProxyDHCP, never hands out addresses), full (an
    /// isolated imaging VLAN only) or off. Default: the wizard's setting,
    /// which is off until an interface is configured.
    #[arg(long, value_enum)]
    pub dhcp: Option<DhcpArg>,
    /// Full DHCP only: address pool, e.g. 10.0.0.100-10.0.0.199.
    #[arg(long, value_name = "FIRST-LAST")]
    pub pool: Option<String>,
    /// Full DHCP only: netmask of the LAN.
    #[arg(long, default_value = "255.255.255.0")]
    pub netmask: std::net::Ipv4Addr,
    /// Full DHCP only: default gateway to hand out.
    #[arg(long)]
    pub router: Option<std::net::Ipv4Addr>,
    /// Full DHCP only: DNS server to hand out (repeatable).
    #[arg(long)]
    pub dns: Vec<std::net::Ipv4Addr>,
    /// Full DHCP only: DNS domain (option 15).
    #[arg(long)]
    pub domain: Option<String>,
    /// Disk space (MiB) image uploads must leave free, so the box keeps
    /// working when images fill the disk.
    #[arg(long, default_value_t = 256)]
    pub image_reserve_mib: u64,
    /// Serve the LINBO tree by TFTP on <server-ip>:69.
    #[arg(long)]
    pub tftp: bool,
    /// TFTP port (tests and unprivileged runs).
    #[arg(long, default_value_t = 69)]
    pub tftp_port: u16,
    /// Seed every image by BitTorrent (port 6881) with the built-in tracker
    /// on <server-ip>:6969, as LINBO's torrent download mode expects.
    #[arg(long)]
    pub torrent: bool,
    /// Upload limit of the seeder in MB/s (default: unlimited).
    #[arg(long)]
    pub torrent_upload_mbps: Option<u64>,
    /// Serve every image listed in `multicast.list` by udpcast multicast on
    /// <interface> (LINBO clients' `udp-receiver`), one session per image on
    /// ports PORTBASE + 2n; sessions follow changes of the list.
    #[arg(long)]
    pub multicast: bool,
    /// PORTBASE of the multicast sessions (LINBO: 9000).
    #[arg(long, default_value_t = 9000)]
    pub multicast_portbase: u16,
    /// MINCLIENTS: receivers that start a transfer (after MINSECONDS).
    #[arg(long, default_value_t = 15)]
    pub multicast_min_clients: usize,
    /// MINSECONDS: earliest start after the first receiver connected.
    #[arg(long, default_value_t = 30)]
    pub multicast_min_seconds: u64,
    /// MAXSECONDS: latest start after the first receiver connected.
    #[arg(long, default_value_t = 60)]
    pub multicast_max_seconds: u64,
    /// Multicast rate limit in Mbit/s (default: paced by the receivers).
    #[arg(long)]
    pub multicast_max_mbps: Option<u64>,
    /// Seconds a single slow receiver may hold its room back before it is
    /// dropped from the transfer (it falls back to HTTP/BitTorrent); 0 waits
    /// for the slowest, as udp-sender does.
    #[arg(long, default_value_t = 2.0)]
    pub multicast_slow_budget: f64,
    /// Run LINBO's rsync service (a supervised `rsync --daemon` on
    /// <server-ip>:873, modules linbo and linbo-upload) with its hooks.
    #[arg(long)]
    pub rsync: bool,
    /// Port of the rsync service.
    #[arg(long, default_value_t = 873)]
    pub rsync_port: u16,
    /// Remote control: the program each command runs through on the
    /// client (LINBO's `linbo_wrapper`; tests point it at a stand-in).
    #[arg(long, default_value = "linbo_wrapper")]
    pub remote_wrapper: String,
    /// Remote control: where a client's upload finds its one-time
    /// credential (LINBO: /tmp/rsyncd.secrets; tests point it elsewhere).
    #[arg(long, default_value = "/tmp/rsyncd.secrets")]
    pub remote_secrets_path: String,
    /// Central push: when this box is enrolled (`bootbox central enrol`,
    /// or the setup wizard's URL and token), fetch, verify and activate new
    /// releases every SECS seconds. 0 turns it off.
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    pub central_poll: u64,
    /// Appliance: keep this file (the firmware reads it at boot to bring
    /// up the LAN) in line with the wizard's address settings, DHCP or a
    /// fixed address. The firmware passes /data/etc/network.conf.
    #[arg(long, value_name = "PATH")]
    pub network_conf: Option<std::path::PathBuf>,
}

/// DHCP roles on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DhcpArg {
    /// ProxyDHCP on ports 67 and 4011.
    Proxy,
    /// Full DHCP server (isolated VLAN only).
    Full,
    /// No DHCP.
    Off,
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
    /// Import devices.csv, start.conf.*, the images/ tree, GRUB
    /// customisations and linbocmd/ files of a linuxmuster server (a copy
    /// of /srv/linbo and the devices.csv). Try --dry-run first.
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
    /// Set the host's first-stage loader: ipxe, grub (LINBO's network GRUB)
    /// or group (follow its group).
    Chain {
        /// Hostname.
        hostname: String,
        /// ipxe, grub or group.
        #[arg(value_enum)]
        chain: ChainArg,
    },
    /// Set what the host boots over the network: linbo, local, menu,
    /// custom (with --kernel/--initrd/--cmdline) or group (follow its group).
    Boot {
        /// Hostname.
        hostname: String,
        /// Boot mode.
        #[command(flatten)]
        boot: BootArgs,
    },
}

/// A boot mode with the custom kernel's details.
#[derive(Debug, Args)]
pub struct BootArgs {
    /// Boot mode.
    #[arg(value_enum)]
    pub mode: BootModeArg,
    /// Custom kernel (path under <data>/linbo or http URL).
    #[arg(long, required_if_eq("mode", "custom"))]
    pub kernel: Option<String>,
    /// Custom initrd.
    #[arg(long, default_value = "")]
    pub initrd: String,
    /// Custom kernel command line.
    #[arg(long, default_value = "")]
    pub cmdline: String,
}

/// Boot chains on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ChainArg {
    /// iPXE and the box's iPXE script (default).
    Ipxe,
    /// LINBO's network GRUB (boot/grub/i386-pc/core.0, x86_64-efi/core.efi).
    Grub,
    /// No host override: use the group's chain.
    Group,
}

impl ChainArg {
    /// The registry value; `None` means "follow the group".
    pub fn chain(self) -> Option<bootbox_store::BootChain> {
        match self {
            Self::Ipxe => Some(bootbox_store::BootChain::Ipxe),
            Self::Grub => Some(bootbox_store::BootChain::Grub),
            Self::Group => None,
        }
    }
}

/// Boot modes on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BootModeArg {
    /// LINBO with the group's KernelOptions.
    Linbo,
    /// Local disk.
    Local,
    /// iPXE menu (LINBO or local disk).
    Menu,
    /// Custom kernel/initrd/cmdline.
    Custom,
    /// No host override: use the group's mode.
    Group,
}
