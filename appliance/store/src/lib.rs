//! # bootbox-store — the registry in redb
//!
//! One file, `<data>/bootbox.redb`, holds the school's settings, rooms,
//! hardware classes (LINBO groups) with their start.conf, hosts, images and
//! an append-only event/audit log.
//!
//! Rules this crate keeps, whatever the caller does:
//! - **One write transaction per user action.** Every mutating method
//!   commits its change *and* its audit event together, or nothing.
//! - **Uniqueness lives here**: hostname (primary key), MAC and fixed IPv4
//!   (index tables) are checked inside the transaction that writes them.
//! - **Every start.conf stored is valid** by [`bootbox_linbo::startconf`].
//! - **Schema versions move forward** only ([`schema`]).
//!
//! The store knows nothing of sockets, HTTP or files other than its own.

pub mod client_status;
pub mod codec;
mod error;
mod import;
pub mod jobs;
pub mod model;
pub mod schema;
pub mod secrets;
pub mod sessions;
mod store;
mod tables;
pub mod tokens;
pub mod users;

pub use client_status::{ClientReport, ClientStatus, LastError, LastSync, ReportOutcome, SyncKind};
pub use codec::CorruptValue;
pub use error::{Result, StoreError};
pub use import::{ImportBatch, ImportPlan, MergeStrategy};
pub use model::*;
pub use store::{BootView, Store, TIMELINE_PER_MAC};
