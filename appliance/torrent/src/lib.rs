//! BitTorrent for Bootbox: a seed-only peer serving the box's images, torrent
//! creation with fastresume, and a whitelisting HTTP tracker — compatible
//! with every client LINBO has used (aria2c in linbo 7.4, `ctorrent -z 128`
//! before, Transmission as a third reference).
//!
//! # Pieces
//!
//! * [`make_torrent`] / [`prepare_torrent`] — v1 single-file torrents with
//!   `announce` (ctorrent reads nothing else), BEP 19 `url-list` web seeds,
//!   `private` by default, LAN-sized pieces ([`auto_piece_length`]: 512 KiB
//!   to 4 MiB up to 100 GB images, metainfo far below 4 MiB). [`prepare_torrent`] reuses the
//!   existing `.torrent` through a [`ResumeStore`] record (length + mtime +
//!   info-hash), so a restart seeds at once without reading the images.
//! * [`Seeder`] — accepts peers on one TCP listener (optionally
//!   `SO_BINDTODEVICE`), serves any number of images from local files by
//!   positioned reads, global and per-peer upload limits ([`RateLimiter`]),
//!   connection limits, events ([`SeederObserver`]) and counters
//!   ([`Seeder::stats`]). It never connects out, never downloads, and has no
//!   DHT, LSD, PEX or uTP. See the `peer` module docs for the exact wire
//!   behaviour.
//! * [`Tracker`] — `GET /announce` (BEP 3, compact BEP 23, `peers6`) and
//!   `GET /scrape` for the info-hashes of a [`Whitelist`]; lists the box's
//!   own seeder first; HTTP/1.0 friendly (`Connection: close`, `interval`,
//!   `min interval`).
//!
//! # Why not librqbit
//!
//! librqbit 9.1 serves only requests on its own 16 KiB chunk grid and drops
//! a peer that asks for anything else — LINBO's `ctorrent -z 128` asks for
//! 128 KiB blocks, so such clients can never download from it. It also
//! writes no `announce` key, has no web seeds and no tracker server, turns
//! DHT and LSD on by default, re-checks pieces on restart despite
//! fastresume, and adds ~250 crates (~5 min cold release build). A seed
//! needs only a small part of the protocol: handshake, bitfield, unchoke,
//! serving requests. That part is implemented here on tokio with the
//! workspace's own dependencies plus `sha1`.
//!
//! # Example
//!
//! ```no_run
//! use std::path::Path;
//! use bootbox_torrent::*;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let image = Path::new("/srv/linbo/images/win11/win11.qcow2");
//! let spec = TorrentSpec {
//!     web_seeds: vec!["http://10.0.0.5/linbo/images/win11/win11.qcow2".into()],
//!     ..TorrentSpec::new("http://10.0.0.5:6969/announce")
//! };
//! let store = ResumeStore::open("/var/lib/bootbox/torrent-resume")?;
//! let torrent = image.with_extension("qcow2.torrent");
//! let prepared = tokio::task::spawn_blocking(move || prepare_torrent(image, &torrent, &spec, &store)).await??;
//!
//! let seeder = Seeder::start(SeederConfig::new("10.0.0.5:6881".parse()?), NoopObserver).await?;
//! seeder.add(image, &prepared.metainfo)?;
//!
//! let whitelist = Whitelist::new();
//! whitelist.insert(prepared.metainfo.info_hash());
//! let config = TrackerConfig { box_seeds: vec![seeder.local_addr()], ..TrackerConfig::default() };
//! let listener = tokio::net::TcpListener::bind("10.0.0.5:6969").await?;
//! tokio::spawn(Tracker::new(config, whitelist).serve(listener, std::future::pending()));
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

pub mod announce;
pub mod bencode;
mod error;
pub mod metainfo;
mod peer;
mod ratelimit;
mod resume;
mod seeder;
mod stats;
mod tracker;
pub mod wire;

pub use announce::{AnnounceError, AnnounceRequest};
pub use error::{SeederError, TorrentError};
pub use metainfo::{auto_piece_length, make_torrent, InfoHash, Metainfo, TorrentSpec};
pub use ratelimit::RateLimiter;
pub use resume::{prepare_torrent, write_atomic, Prepared, ResumeRecord, ResumeStore};
pub use seeder::{Seeder, SeederConfig};
pub use stats::{
    client_tag, DisconnectReason, NoopObserver, SeederEvent, SeederObserver, SeederStats,
    TorrentStats,
};
pub use tracker::{SwarmStats, Tracker, TrackerConfig, TrackerStats, Whitelist};
