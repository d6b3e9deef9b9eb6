//! # bootbox-udpcast — udpcast-compatible multicast sender
//!
//! Sends LINBO images to many PCs at once. LINBO clients run Debian's
//! stock `udp-receiver --nosync --nokbd --interface IF --rcvbuf 4194304
//! --portbase P --file F`; this crate is the sender side of that protocol,
//! one session per image on the ports of `multicast.list` (`PORTBASE + 2n`),
//! restarting after every transfer so a room can come back later.
//!
//! ```no_run
//! use std::net::Ipv4Addr;
//! use bootbox_udpcast::{plan, Config, Service};
//!
//! # async fn serve() -> Result<(), bootbox_udpcast::Error> {
//! let cfg = Config::new("eth0"); // LINBO defaults: 9000, 15 clients, 30 s / 60 s
//! let (list, sessions) = plan(
//!     Ipv4Addr::new(10, 0, 0, 5),
//!     cfg.portbase,
//!     [("win11.qcow2".to_string(), "/srv/linbo/images/win11/win11.qcow2".into())],
//! )?;
//! std::fs::write("/srv/linbo/multicast.list", list.render()).ok();
//! let service = Service::start(cfg, sessions)?;
//! let mut events = service.subscribe();
//! while let Ok(e) = events.recv().await {
//!     println!("{}", serde_json::to_string(&e).unwrap_or_default());
//! }
//! # Ok(()) }
//! ```
//!
//! ## Protocol (see `shared/reference/protocols.md` §1)
//!
//! * All sender traffic leaves one socket bound to `server_ip:P+1`
//!   (receivers drop anything else as "rogue"); broadcast CONNECT_REQs are
//!   heard on a second socket bound to the subnet broadcast `:P+1`.
//! * HELLO (opcode `0x0500`, 28 bytes) goes to the **subnet-directed**
//!   broadcast, repeated every second while waiting (receivers only re-send
//!   a lost CONNECT_REQ when they see one).
//! * CONNECT_REPLY to every CONNECT_REQ, client numbers by source IP.
//! * Start: MINCLIENTS connected and MINSECONDS passed, or MAXSECONDS
//!   passed, both counted from the first connection; a GO from a receiver
//!   starts at once. Receivers asking during a transfer join the next round.
//! * Data: slices of up to 1024 blocks (default 256 × 1456 bytes),
//!   numbered from 0, at most two in flight; REQACK (144 bytes, ready set
//!   of client numbers) to the data address; each block missing in a
//!   RETRANSMIT bitmap is sent again once per round; the end is a slice of
//!   0 bytes. Data go to a multicast group outside 232/8 (or broadcast).
//! * Optional FEC with stock udpcast's Cauchy coefficients ([`fec`]).
//! * Optional rate limit in bit/s, counted as udpcast does ([`RateLimiter`]).
//!
//! ## Slow receivers
//!
//! udpcast paces the whole group by its slowest member. Here a receiver
//! that *alone* holds the group back beyond a budget ([`SlowPolicy`]:
//! default 2 s of hold-back, 20 % tolerated) is dropped — it sees the
//! slices run away, stops with "Dropped by server", and the LINBO client
//! falls back to HTTP/BitTorrent — while the others continue at full rate.
//! Receivers that stop answering are dropped after `answer_timeout`.
//! Both are reported as [`Event::ReceiverDropped`].
//!
//! ## Layers
//!
//! * [`wire`]: message layouts (checked against captures of Debian's
//!   udpcast 20120424 in `tests/fixtures/`).
//! * [`Engine`]: the protocol as a pure state machine (no I/O, no clock).
//! * [`Session`]: one image on tokio; [`Service`]: all images.

#![warn(missing_docs)]

mod config;
mod engine;
mod error;
pub mod fec;
mod net;
mod ratelimit;
mod service;
mod session;
mod source;
mod status;
pub mod wire;

pub use config::{
    parse_bitrate, Config, DataMode, SlowPolicy, StartRules, DEFAULT_BLOCK_SIZE, DEFAULT_MAX_WAIT,
    DEFAULT_MIN_CLIENTS, DEFAULT_MIN_WAIT, DEFAULT_PORTBASE, DEFAULT_SLICE_BLOCKS,
};
pub use engine::{Engine, EngineConfig, EngineStatus, SliceData, Transmit, START_GRACE};
pub use error::Error;
pub use fec::FecConfig;
pub use net::Endpoint;
pub use ratelimit::RateLimiter;
pub use service::{plan, sessions_from_list, Service};
pub use session::{Session, SessionSpec};
pub use status::{
    DropReason, Event, Outcome, Phase, ReceiverState, ReceiverStatus, SessionEvent, SessionStatus,
    StartReason,
};
