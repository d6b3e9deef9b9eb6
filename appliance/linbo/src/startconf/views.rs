//! Typed, read-only views of `[Partition]` and `[OS]` sections, and the
//! default configuration for new groups.

use std::net::Ipv4Addr;

use super::values::{parse_bool, parse_size_kib, DefaultAction};
use super::Section;

/// One `[Partition]` section, typed. Missing keys read as empty / false.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PartitionView {
    /// 1-based position among the `[Partition]` sections (`format:N`).
    pub index: usize,
    /// `Dev`, e.g. `/dev/sda1` or `/dev/disk0p1`.
    pub dev: String,
    /// `Label` (file system label and GPT name).
    pub label: String,
    /// `Size` as written (empty = rest of the disk).
    pub size: String,
    /// `Size` in KiB; `None` for "rest of the disk" (or an unreadable size).
    pub size_kib: Option<u64>,
    /// `Id`, the MBR-style type code (`ef`, `0c01`, `7`, `83`, ...).
    pub id: String,
    /// `FSType` (empty = not formatted).
    pub fstype: String,
    /// `Bootable` as LINBO's scripts read it (only lower-case `yes`).
    pub bootable: bool,
}

impl PartitionView {
    pub(super) fn from_section(index: usize, s: &Section) -> PartitionView {
        let text = |k: &str| s.get(k).unwrap_or_default().to_string();
        let size = text("Size");
        PartitionView {
            index,
            dev: text("Dev"),
            label: text("Label"),
            size_kib: parse_size_kib(&size).ok().flatten(),
            size,
            id: text("Id"),
            fstype: text("FSType"),
            bootable: s.get("Bootable") == Some("yes"),
        }
    }

    /// True for the partition type LINBO treats as the EFI system partition.
    pub fn is_efi(&self) -> bool {
        self.id.eq_ignore_ascii_case("ef")
    }
}

/// One `[OS]` section, typed. Missing keys read as empty / `None`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OsView {
    /// 1-based position among the `[OS]` sections (`sync:N`, `start:N`).
    pub index: usize,
    /// `Name` shown in the GUI.
    pub name: String,
    /// `Version` (display only).
    pub version: String,
    /// `Description` (display only).
    pub description: String,
    /// `IconName` (file in /srv/linbo/icons).
    pub icon_name: String,
    /// `BaseImage`, e.g. `win11.qcow2` (a `win11.qdiff` is used automatically).
    pub base_image: String,
    /// `Root`, the partition the image is restored to.
    pub root: String,
    /// `Boot` (legacy, GUI only).
    pub boot: String,
    /// `Kernel` (`auto`/empty for Windows, `boot/vmlinuz` for Linux).
    pub kernel: String,
    /// `Initrd`.
    pub initrd: String,
    /// `Append`, kernel parameters for the OS.
    pub append: String,
    /// `StartEnabled` (GUI reading); `None` when unset.
    pub start_enabled: Option<bool>,
    /// `SyncEnabled` (GUI reading); `None` when unset.
    pub sync_enabled: Option<bool>,
    /// `NewEnabled`, falling back to the legacy `RemoteSyncEnabled`.
    pub new_enabled: Option<bool>,
    /// `Autostart` (GUI reading; false when unset).
    pub autostart: bool,
    /// `AutostartTimeout` in seconds, if set.
    pub autostart_timeout: Option<u32>,
    /// `DefaultAction`, if set.
    pub default_action: Option<DefaultAction>,
    /// `Hidden` (GUI reading; false when unset).
    pub hidden: bool,
}

impl OsView {
    pub(super) fn from_section(index: usize, s: &Section) -> OsView {
        let text = |k: &str| s.get(k).unwrap_or_default().to_string();
        let flag = |k: &str| s.get(k).and_then(parse_bool);
        OsView {
            index,
            name: text("Name"),
            version: text("Version"),
            description: text("Description"),
            icon_name: text("IconName"),
            base_image: text("BaseImage"),
            root: text("Root"),
            boot: text("Boot"),
            kernel: text("Kernel"),
            initrd: text("Initrd"),
            append: text("Append"),
            start_enabled: flag("StartEnabled"),
            sync_enabled: flag("SyncEnabled"),
            new_enabled: flag("NewEnabled").or_else(|| flag("RemoteSyncEnabled")),
            autostart: flag("Autostart").unwrap_or(false),
            autostart_timeout: s.get("AutostartTimeout").and_then(|v| v.parse().ok()),
            default_action: s.get("DefaultAction").and_then(|v| v.parse().ok()),
            hidden: flag("Hidden").unwrap_or(false),
        }
    }

    /// The differential image name that goes with `base_image`
    /// (`win11.qcow2` → `win11.qdiff`), if the base image is a qcow2.
    pub fn qdiff_image(&self) -> Option<String> {
        self.base_image
            .strip_suffix(".qcow2")
            .map(|stem| format!("{stem}.qdiff"))
    }
}

/// Text of [`super::StartConf::new_default`]. `group` must already be a
/// valid group name.
pub(super) fn default_text(group: &str, server_ip: Ipv4Addr) -> String {
    format!(
        "# start.conf for group {group}, created by Bootbox.
# Only lines starting in column 0 count; comments start with '# '.

[LINBO]
Server = {server_ip}
Group = {group}
Cache = /dev/disk0p3
RootTimeout = 600
AutoPartition = no
AutoFormat = no
AutoInitCache = no
DownloadType = rsync
GuiDisabled = no
UseMinimalLayout = no
Locale = de-de
SystemType = efi64
KernelOptions = quiet splash

[Partition]
Dev = /dev/disk0p1
Label = efi
Size = 200M
Id = ef
FSType = vfat
Bootable = yes

[Partition]
Dev = /dev/disk0p2
Label = ubuntu
Size = 50G
Id = 83
FSType = ext4
Bootable = no

[Partition]
Dev = /dev/disk0p3
Label = cache
Size =
Id = 83
FSType = ext4
Bootable = no

[OS]
Name = Ubuntu
Version =
Description = Ubuntu, imaged by Bootbox
IconName = ubuntu.svg
BaseImage = ubuntu.qcow2
Root = /dev/disk0p2
Kernel = boot/vmlinuz
Initrd = boot/initrd.img
Append = ro splash
StartEnabled = yes
SyncEnabled = yes
NewEnabled = yes
Autostart = no
AutostartTimeout = 5
DefaultAction = sync
"
    )
}
