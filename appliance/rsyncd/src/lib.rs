//! # bootbox-rsyncd — LINBO's rsync service
//!
//! LINBO clients fetch start.conf, images and commands, and upload images
//! and registrations, over the rsync daemon protocol (TCP 873). Rather than
//! reimplement that protocol, Bootbox supervises the real `rsync --daemon`
//! and moves every LINBO side effect into Rust:
//!
//! * [`config`] renders `rsyncd.conf` with the two modules LINBO uses —
//!   `linbo` (anonymous, read-only, the whole tree) and `linbo-upload`
//!   (user `linbo`, writable, a staging folder) — bound to the LAN address.
//! * rsync runs `bootbox hook` before and after every transfer; the hook
//!   sends a [`hook::HookRequest`] over a Unix socket to the running
//!   service ([`hook::call`]) whose [`hook::HookHandler`] does the work
//!   (GRUB spool files, consumed on-boot commands, log pulls, upload
//!   promotion, registrations) and answers whether rsync may go on.
//! * [`supervise`] keeps the daemon running, restarting it with back-off.
//!
//! The crate knows nothing of the registry or the web: the handler is the
//! service's business.

pub mod config;
pub mod hook;
mod supervise;

pub use config::{RsyncConfig, SECRETS_USER};
pub use hook::{HookHandler, HookPhase, HookReply, HookRequest, RequestMemory};
pub use supervise::{supervise, SupervisorError};
