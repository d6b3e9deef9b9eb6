//! The registry: what a school's network looks like to Bootbox.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

pub use bootbox_linbo::devices::{DeviceRecord as Host, ExtraFields, IpAssignment, PxeFlag};

/// How Bootbox takes part in DHCP on the school LAN.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DhcpMode {
    /// ProxyDHCP: the school's DHCP server hands out addresses, Bootbox only
    /// adds boot information for PXE clients. The safe default.
    #[default]
    Proxy,
    /// Full DHCP server, for an isolated imaging VLAN only.
    Full,
    /// No DHCP at all (boot information comes from elsewhere).
    Off,
}

/// How the box itself gets its address on the school LAN. The appliance
/// applies it when it boots (`/data/etc/network.conf`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AddressMode {
    /// From the school's DHCP server (reserve the box's MAC there).
    #[default]
    Dhcp,
    /// Fixed: [`SchoolSettings::server_ip`] with a prefix length, gateway
    /// and DNS servers.
    Static,
}

/// True if `name` can be a Linux network interface name the box accepts in
/// its settings: 1–15 characters of `A-Z a-z 0-9 . - _` (safe in the
/// appliance's shell-sourced network.conf, too).
pub fn is_interface_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 15
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

/// School-wide settings, set by the setup wizard.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SchoolSettings {
    /// Display name of the school.
    pub school_name: String,
    /// The box's address on the school LAN (what clients are told).
    pub server_ip: Option<Ipv4Addr>,
    /// The LAN interface the network services bind to.
    pub interface: Option<String>,
    /// DHCP participation.
    pub dhcp_mode: DhcpMode,
    /// How the box gets its own address.
    pub address_mode: AddressMode,
    /// Static address mode: prefix length of the box's subnet (e.g. 24).
    pub prefix_len: Option<u8>,
    /// Static address mode: the default gateway, if any.
    pub gateway: Option<Ipv4Addr>,
    /// Static address mode: DNS servers (at most three).
    pub dns: Vec<Ipv4Addr>,
    /// The Windows domain written into `"Domain"=` of the images' `.reg`
    /// files before clients download them (LINBO's Samba domain
    /// rewrite); `None` leaves `.reg` files as they are. Checked with
    /// [`bootbox_linbo::reg::is_domain_name`]. Absent in older records.
    #[serde(default)]
    pub windows_domain: Option<String>,
}

/// A room (devices.csv field 1).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Room {
    /// Room name, `A-Z a-z 0-9 -`.
    pub name: String,
    /// Free text for the admin.
    pub description: String,
}

/// A hardware class, LINBO's "group": hosts that share one start.conf.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Group {
    /// Group name, `A-Z a-z 0-9 _ -`.
    pub name: String,
    /// The group's start.conf text, validated on every write. `None` until
    /// an admin writes or imports one: such hosts cannot boot LINBO yet.
    pub start_conf: Option<String>,
    /// Free text for the admin.
    pub description: String,
}

/// One stored version of an image file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ImageVersion {
    /// File name (`<base>.qcow2` or `<base>.qdiff`).
    pub file: String,
    /// Size in bytes.
    pub size: u64,
    /// Hex SHA-256 of the file, once computed.
    pub sha256: Option<String>,
    /// Creation time from the `.info` file (`YYYYMMDDHHMM`), if known.
    pub timestamp: Option<String>,
    /// Comment of this version.
    pub comment: String,
    /// `None` for the current version, else the `backups/<timestamp>` folder.
    pub backup: Option<String>,
}

/// An image (LINBO `images/<base>/`) and its versions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Image {
    /// Base name; the folder under `images/`.
    pub name: String,
    /// Current files first, then backups, newest first.
    pub versions: Vec<ImageVersion>,
}

/// What kind of thing an [`Event`] records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    /// An admin changed something (audit trail).
    Audit,
    /// Something the system did by itself.
    System,
}

/// One entry of the append-only event and audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Sequence number, strictly increasing, assigned by the store.
    #[serde(default)]
    pub seq: u64,
    /// Milliseconds since the Unix epoch.
    pub time_ms: u64,
    /// Audit or system.
    pub kind: EventKind,
    /// Who did it (`cli:root`, `web:admin`, `system`).
    pub actor: String,
    /// Short machine-readable action (`host.add`, `import.devices`).
    pub action: String,
    /// One-line human summary.
    pub message: String,
}

impl Event {
    /// A new audit event stamped with the current time.
    pub fn audit(actor: &str, action: &str, message: impl Into<String>) -> Self {
        Self {
            seq: 0,
            time_ms: now_ms(),
            kind: EventKind::Audit,
            actor: actor.to_string(),
            action: action.to_string(),
            message: message.into(),
        }
    }
}

/// Current wall-clock time in milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// What a network-booting PC is told to do.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "mode")]
pub enum BootMode {
    /// Boot LINBO (`linbo64` + `linbofs64`) with the group's KernelOptions.
    #[default]
    Linbo,
    /// Leave the network boot and start from the local disk.
    Local,
    /// Show a small iPXE menu (LINBO, local disk).
    Menu,
    /// Boot a custom kernel/initrd (paths under the LINBO tree or URLs).
    Custom {
        /// Kernel path relative to `<data>/linbo`, or an http URL.
        kernel: String,
        /// Initrd path or URL; empty for none.
        #[serde(default)]
        initrd: String,
        /// Kernel command line.
        #[serde(default)]
        cmdline: String,
    },
}

/// Which first-stage loader the firmware gets over TFTP.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BootChain {
    /// iPXE (`boot/ipxe/…`), which fetches the box's iPXE script: the
    /// default, every boot mode works and shows up in the timeline.
    #[default]
    Ipxe,
    /// LINBO's network GRUB (`boot/grub/i386-pc/core.0`,
    /// `boot/grub/x86_64-efi/core.efi`) with the rendered
    /// `boot/grub/grub.cfg`: honours pending "reboot into OS" requests in
    /// the client cache's grubenv, then the host's or group's GRUB menu.
    Grub,
}

/// Bootbox's own per-host settings (devices.csv has no column for them).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HostSettings {
    /// Overrides the group's boot mode when set.
    pub boot: Option<BootMode>,
    /// Overrides the group's boot chain when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chain: Option<BootChain>,
}

/// Bootbox's own per-group settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct GroupSettings {
    /// Boot mode of the group's hosts.
    pub boot: BootMode,
    /// First-stage loader of the group's hosts (iPXE unless set).
    pub chain: BootChain,
}

/// One step of a PC's network boot, as seen by the box.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootEvent {
    /// Milliseconds since the Unix epoch.
    pub time_ms: u64,
    /// Which service saw it: `dhcp`, `tftp`, `http`, `client`.
    pub source: String,
    /// Short machine-readable step (`offer`, `ack`, `ignored`, `tftp.done`,
    /// `tftp.aborted`, `script`, `file`, `booted`).
    pub step: String,
    /// Human detail (file name, reason, firmware).
    pub detail: String,
}
