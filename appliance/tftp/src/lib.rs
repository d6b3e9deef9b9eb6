//! Read-only TFTP server on tokio, for network boot.
//!
//! Implements RFC 1350 (read requests; write requests are answered with
//! ERROR 2 "read-only server"), RFC 2347 option negotiation (an OACK carries
//! only options the client asked for), RFC 2348 `blksize`, RFC 2349
//! `tsize`/`timeout` and RFC 7440 `windowsize`. Block numbers wrap from 65535
//! to 0, so files larger than 65535 blocks work with clients that follow
//! that convention. `netascii` requests are served byte for byte like
//! `octet` (no CR/LF translation): boot files are binary, and that is what
//! other boot servers do.
//!
//! # Design
//!
//! * The listening socket ([`TftpServer::run`]) only parses requests and
//!   spawns one tokio task per transfer; each task has its **own ephemeral
//!   UDP socket** bound to the server's IP, so a slow or dead client delays
//!   nobody else. [`TftpConfig::max_transfers`] bounds the number of tasks;
//!   beyond it clients get ERROR 0 "server busy". A retransmitted request
//!   (same client address, same bytes) is ignored while its transfer runs.
//! * Files come from a [`FileSource`]; the default [`DirSource`] serves one
//!   directory. Request names are checked by [`path::sanitize`] for every
//!   source (no `..`, backslash, NUL, empty or non-UTF-8 names); `DirSource`
//!   additionally canonicalises and requires the result to stay under its
//!   canonical root and to be a regular file, so symlinks may point around
//!   inside the root but never out of it. Files are streamed, never loaded
//!   whole: a small read-ahead task reads 64 KiB chunks (at most two
//!   waiting) while the transfer waits for ACKs, so file I/O does not add to
//!   the lock-step round trip.
//! * The sender (the `transfer` module) keeps only the unacknowledged
//!   window in memory, retransmits only on timeout (never on a duplicate
//!   ACK), resends from the last acknowledged block after a partial-window
//!   ACK, gives up after [`TftpConfig::retries`] silent timeouts, and stops
//!   **at once** when the client sends an ERROR.
//! * Every step is reported to a [`TransferObserver`] as a [`TransferEvent`]
//!   (requested, started, completed, aborted with an [`AbortReason`]), for
//!   the boot timeline.
//! * [`packet`] (wire format) and [`options`] (negotiation) are pure and
//!   unit-tested; [`packet::Packet::parse`] is property-tested never to panic.
//!
//! # Why not async-tftp
//!
//! The async-tftp crate was evaluated and rejected: while waiting for an ACK
//! it ignores ERROR packets from the client, so every EDK2 `tsize` probe or
//! GRUB "closed" keeps a transfer retransmitting until its retry limit; its
//! handler sits behind one mutex, so a slow open serialises all new
//! requests; it runs all transfers on its own single-threaded executor
//! rather than tokio's; and its directory handler follows symlinks out of
//! the root. This crate is written from scratch on tokio to avoid all four.
//!
//! # Example
//!
//! ```no_run
//! use bootbox_tftp::{DirSource, NoopObserver, TftpConfig, TftpServer};
//!
//! # async fn demo() -> std::io::Result<()> {
//! let config = TftpConfig::new("192.168.1.2:69".parse().unwrap());
//! let server = TftpServer::bind(config, DirSource::new("/srv/tftp")?, NoopObserver).await?;
//! server.run(async { let _ = tokio::signal::ctrl_c().await; }).await
//! # }
//! ```

#![warn(missing_docs)]

mod error;
mod event;
pub mod options;
pub mod packet;
pub mod path;
mod readahead;
mod server;
mod source;
mod transfer;

pub use error::TftpError;
pub use event::{AbortReason, NoopObserver, TransferEvent, TransferObserver};
pub use packet::{Packet, PacketError};
pub use path::PathError;
pub use server::{TftpConfig, TftpServer, MAX_WINDOWSIZE_LIMIT};
pub use source::{DirSource, FileSource, Opened};
