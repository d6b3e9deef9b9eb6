//! Where the running appliance keeps its firmware pieces: the boot
//! partition (`/boot`, or `BOOTBOX_BOOT_DIR`), the baked-in public key
//! (`/etc/bootbox/firmware.pub`, or `BOOTBOX_FIRMWARE_KEY`), the version
//! (`/etc/bootbox-release`) and the slot GRUB booted (`bootbox.slot=` on
//! the kernel command line).

use std::path::PathBuf;

use crate::slots::{self, Layout, Slot};

/// Default mount point of the boot partition.
pub const BOOT_DIR: &str = "/boot";
/// Default public key file.
pub const PUBLIC_KEY: &str = "/etc/bootbox/firmware.pub";
/// The firmware version file.
pub const RELEASE_FILE: &str = "/etc/bootbox-release";

/// The boot partition layout (honours `BOOTBOX_BOOT_DIR`).
pub fn layout() -> Layout {
    Layout::new(
        std::env::var_os("BOOTBOX_BOOT_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(BOOT_DIR)),
    )
}

/// The public key file (honours `BOOTBOX_FIRMWARE_KEY`).
pub fn public_key_path() -> PathBuf {
    std::env::var_os("BOOTBOX_FIRMWARE_KEY")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(PUBLIC_KEY))
}

/// The slot this system was booted from; `None` off the appliance.
pub fn running_slot() -> Option<Slot> {
    let cmdline = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
    slots::running_slot(&cmdline)
}

/// The running firmware's version, if this is the appliance.
pub fn running_version() -> Option<String> {
    std::fs::read_to_string(RELEASE_FILE)
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| crate::bundle::check_version(s).is_ok())
}
