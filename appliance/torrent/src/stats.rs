//! Seeder events, per-image counters and their snapshots.

use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::metainfo::InfoHash;

/// Why a peer connection ended (or was refused).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// The peer closed the connection.
    PeerClosed,
    /// Nothing received for the idle timeout, or the handshake was too slow.
    Timeout,
    /// The peer has every piece (seed-to-seed connections are useless).
    PeerComplete,
    /// The peer broke the protocol; the text says how.
    Protocol(String),
    /// More queued requests than allowed.
    TooManyRequests,
    /// The handshake named an info-hash this seeder does not serve.
    UnknownInfoHash(InfoHash),
    /// The first bytes were not a plain BitTorrent handshake (e.g. MSE
    /// encryption, which clients then retry without).
    NotBitTorrent,
    /// The peer is this seeder itself.
    SelfConnection,
    /// Global or per-address connection limit reached.
    ConnectionLimit,
    /// The image was removed from the seeder.
    Removed,
    /// The seeder is shutting down.
    Shutdown,
    /// Socket or file I/O failed; the text says which.
    Io(String),
}

impl fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DisconnectReason::PeerClosed => f.write_str("closed by peer"),
            DisconnectReason::Timeout => f.write_str("timed out"),
            DisconnectReason::PeerComplete => f.write_str("peer has all pieces"),
            DisconnectReason::Protocol(why) => write!(f, "protocol error: {why}"),
            DisconnectReason::TooManyRequests => f.write_str("too many queued requests"),
            DisconnectReason::UnknownInfoHash(h) => write!(f, "unknown info-hash {h}"),
            DisconnectReason::NotBitTorrent => f.write_str("not a plain BitTorrent handshake"),
            DisconnectReason::SelfConnection => f.write_str("connection to self"),
            DisconnectReason::ConnectionLimit => f.write_str("connection limit reached"),
            DisconnectReason::Removed => f.write_str("image removed"),
            DisconnectReason::Shutdown => f.write_str("seeder shutting down"),
            DisconnectReason::Io(why) => write!(f, "I/O error: {why}"),
        }
    }
}

/// Something that happened to a peer connection.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SeederEvent {
    /// Handshake done, bitfield and unchoke sent.
    PeerConnected {
        /// The image.
        info_hash: InfoHash,
        /// The peer.
        peer: SocketAddr,
        /// The peer id's printable prefix, e.g. `-CD0303-` or `A2-1-36-0-`.
        client: String,
    },
    /// The peer announced (bitfield/HAVEs) that it has every piece.
    PeerCompleted {
        /// The image.
        info_hash: InfoHash,
        /// The peer.
        peer: SocketAddr,
    },
    /// A handshaken connection ended.
    PeerDisconnected {
        /// The image.
        info_hash: InfoHash,
        /// The peer.
        peer: SocketAddr,
        /// Data bytes sent to it.
        bytes_sent: u64,
        /// Blocks (PIECE messages) sent to it.
        blocks_sent: u64,
        /// How long it was connected.
        duration: Duration,
        /// Why.
        reason: DisconnectReason,
    },
    /// A connection was closed before or during the handshake.
    ConnectionRefused {
        /// The peer.
        peer: SocketAddr,
        /// Why.
        reason: DisconnectReason,
    },
}

/// Receives [`SeederEvent`]s; called inline from connection tasks, so it
/// must be quick and must not block.
pub trait SeederObserver: Send + Sync + 'static {
    /// Handles one event.
    fn on_event(&self, event: SeederEvent);
}

impl<T: SeederObserver + ?Sized> SeederObserver for Arc<T> {
    fn on_event(&self, event: SeederEvent) {
        T::on_event(self, event);
    }
}

/// Discards all events.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoopObserver;

impl SeederObserver for NoopObserver {
    fn on_event(&self, _event: SeederEvent) {}
}

/// Live counters of one image (shared with its connection tasks).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub peers: AtomicU64,
    pub active_downloads: AtomicU64,
    pub bytes_served: AtomicU64,
    pub blocks_served: AtomicU64,
    pub connections_total: AtomicU64,
    pub peers_completed: AtomicU64,
}

impl Counters {
    pub fn inc(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }

    pub fn dec(c: &AtomicU64) {
        // Never below zero, even if a decrement races a snapshot.
        let _ = c.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
            Some(v.saturating_sub(1))
        });
    }

    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
}

/// A snapshot of one image's counters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TorrentStats {
    /// The image's info-hash (hex when serialised).
    #[serde(serialize_with = "hex_hash")]
    pub info_hash: InfoHash,
    /// `info.name`.
    pub name: String,
    /// Image length in bytes.
    pub length: u64,
    /// Peers connected now.
    pub peers: u64,
    /// Connected peers that are interested and not complete (downloading).
    pub active_downloads: u64,
    /// Data bytes sent since the image was added.
    pub bytes_served: u64,
    /// Blocks (PIECE messages) sent.
    pub blocks_served: u64,
    /// Handshaken connections since the image was added.
    pub connections_total: u64,
    /// Peers seen reaching "all pieces" while connected.
    pub peers_completed: u64,
}

fn hex_hash<S: serde::Serializer>(h: &InfoHash, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&h.to_hex())
}

/// A snapshot of the whole seeder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SeederStats {
    /// Per image, sorted by name.
    pub torrents: Vec<TorrentStats>,
    /// Open connections (including ones still in the handshake).
    pub connections: u64,
    /// Data bytes sent since start, all images (also removed ones).
    pub bytes_served: u64,
    /// Connections refused or dropped before the handshake completed.
    pub connections_refused: u64,
    /// Global upload limit in bytes/s (`None`: unlimited).
    pub upload_limit: Option<u64>,
}

/// Printable prefix of a peer id (up to the first 8 bytes, non-printables as
/// `.`), which identifies the client software.
pub fn client_tag(peer_id: &[u8; 20]) -> String {
    let len = if peer_id[0] == b'-' { 8 } else { 10 };
    peer_id[..len]
        .iter()
        .map(|&b| if b.is_ascii_graphic() { b as char } else { '.' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags() {
        assert_eq!(client_tag(b"-CD0303-abcdefghijkl"), "-CD0303-");
        assert_eq!(client_tag(b"A2-1-36-0-\x01bcdefghij"), "A2-1-36-0-");
        assert_eq!(client_tag(&[0u8; 20]), "..........");
    }

    #[test]
    fn counters_saturate() {
        let c = Counters::default();
        Counters::dec(&c.peers);
        assert_eq!(Counters::get(&c.peers), 0);
        Counters::inc(&c.peers, 2);
        Counters::dec(&c.peers);
        assert_eq!(Counters::get(&c.peers), 1);
    }
}
