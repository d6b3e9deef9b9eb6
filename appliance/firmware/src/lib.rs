//! Firmware of the Bootbox appliance: the pieces `bootbox firmware …`
//! and `bootbox serve` need to update the box safely.
//!
//! * [`grubenv`]: GRUB's 1 KiB environment block, read and rewritten in
//!   place (GRUB's `save_env` writes the same block from the boot loader).
//! * [`bundle`]: the update bundle — a manifest, an ed25519 signature over
//!   it, and the payloads (kernel, initramfs) whose SHA-256 the manifest
//!   pins. Verified while it streams, so a bundle never needs to fit in RAM.
//! * [`slots`]: the A/B scheme on the boot partition — install into the
//!   inactive slot, try it once, confirm it once healthy, roll back
//!   otherwise. `/data` is never touched.
//! * [`keys`]: signing keys as hex text files.
//! * [`system`]: where the running appliance keeps these pieces.
//!
//! The boot partition layout (see `board/bootbox-x86_64/grub.cfg`):
//! `grub/grubenv`, `A/vmlinuz`, `A/initramfs`, `B/vmlinuz`, `B/initramfs`.

pub mod bundle;
pub mod grubenv;
pub mod keys;
pub mod slots;
pub mod system;

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or device could not be read or written.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The GRUB environment block is malformed or would overflow.
    #[error("GRUB environment block: {0}")]
    Grubenv(String),
    /// The bundle is malformed, unsigned, or its contents do not match.
    #[error("bundle rejected: {0}")]
    Bundle(String),
    /// A key file is malformed.
    #[error("key: {0}")]
    Key(String),
    /// The slot state does not allow the operation.
    #[error("{0}")]
    Slot(String),
}

/// Result with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let what = what.into();
    move |source| Error::Io { what, source }
}
