//! # bootbox-linbo — LINBO's file formats
//!
//! Parsers and writers for the files a LINBO server and its clients exchange.
//! Every parser reports *all* problems it finds, each with the 1-based line
//! number it stands on, and never panics on any input. Every writer produces
//! text that the same parser reads back to an identical value.
//!
//! | module | file | used by |
//! |---|---|---|
//! | [`startconf`] | `start.conf.<group>` | LINBO client (sourced as shell!), GUI |
//! | [`devices`] | `devices.csv` | linuxmuster import, linbo-remote |
//! | [`info`] | `<image>.info` | client "is my cache up to date" check |
//! | [`desc`] | `<image>.desc` | image comments, newest first |
//! | [`onboot`] | `linbocmd/<host>.cmd` | commands run once at next boot |
//! | [`multicast`] | `multicast.list` | udp-receiver port lookup |
//! | [`reg`] | `images/<base>/*.reg` | `"Domain"=` rewrite before download |
//!
//! The crate does no I/O beyond `&str` in, `String` out.

pub mod desc;
pub mod devices;
mod error;
pub mod info;
pub mod mac;
pub mod multicast;
pub mod names;
pub mod onboot;
pub mod reg;
pub mod startconf;
pub mod status;

pub use error::{LineError, ParseErrors};
pub use mac::MacAddr;
