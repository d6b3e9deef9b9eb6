//! The seeder: listener, the set of seeded images, limits and statistics.
//! Per-connection protocol handling is in `peer`.

use std::collections::HashMap;
use std::fs::File;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha1::{Digest, Sha1};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use crate::error::SeederError;
use crate::metainfo::{InfoHash, Metainfo};
use crate::peer;
use crate::ratelimit::RateLimiter;
use crate::stats::{
    Counters, DisconnectReason, SeederEvent, SeederObserver, SeederStats, TorrentStats,
};
use crate::wire;

/// Seeder settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeederConfig {
    /// Listening address, e.g. `0.0.0.0:6881` or the LAN address.
    pub listen: SocketAddr,
    /// `SO_BINDTODEVICE`: accept only on this interface (Linux; needs
    /// `CAP_NET_RAW`).
    pub bind_device: Option<String>,
    /// Upload limit of the whole seeder in bytes/s (`None`: unlimited).
    /// Changeable at runtime with [`Seeder::set_upload_limit`].
    pub upload_limit: Option<u64>,
    /// Upload limit per connection in bytes/s (`None`: unlimited).
    pub peer_upload_limit: Option<u64>,
    /// Open connections at most; more are closed at once (default 512).
    pub max_connections: usize,
    /// Open connections per remote IP at most (default 8).
    pub max_connections_per_ip: usize,
    /// Queued, unserved requests per peer at most; a peer that queues more
    /// is disconnected (default 1024; advertised as BEP 10 `reqq`).
    pub max_queued_requests: usize,
    /// Time allowed for the peer's handshake (default 20 s).
    pub handshake_timeout: Duration,
    /// A peer silent this long is dropped (default 5 min; peers send
    /// keep-alives every 2 min).
    pub idle_timeout: Duration,
    /// A keep-alive is sent after this long without sending (default 90 s).
    pub keepalive_interval: Duration,
    /// Our peer id (default `-BB0100-` + 12 random characters).
    pub peer_id: [u8; 20],
}

impl SeederConfig {
    /// Defaults with the given listening address.
    pub fn new(listen: SocketAddr) -> Self {
        SeederConfig {
            listen,
            bind_device: None,
            upload_limit: None,
            peer_upload_limit: None,
            max_connections: 512,
            max_connections_per_ip: 8,
            max_queued_requests: 1024,
            handshake_timeout: Duration::from_secs(20),
            idle_timeout: Duration::from_secs(300),
            keepalive_interval: Duration::from_secs(90),
            peer_id: random_peer_id(),
        }
    }
}

/// `-BB0100-` followed by 12 characters derived from time and process id.
fn random_peer_id() -> [u8; 20] {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let mut h = Sha1::new();
    h.update(nanos.to_le_bytes());
    h.update(std::process::id().to_le_bytes());
    h.update((&h as *const Sha1 as usize).to_le_bytes());
    let digest = h.finalize();
    const ALPHABET: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut id = *b"-BB0100-000000000000";
    for (slot, byte) in id[8..].iter_mut().zip(digest.iter()) {
        *slot = ALPHABET[usize::from(*byte) % ALPHABET.len()];
    }
    id
}

/// One seeded image.
pub(crate) struct Seeded {
    pub metainfo: Metainfo,
    pub path: PathBuf,
    pub file: Arc<File>,
    pub bitfield: Vec<u8>,
    pub counters: Counters,
    pub removed: watch::Sender<bool>,
}

/// State shared by the accept loop, connection tasks and the API.
pub(crate) struct Shared {
    pub config: SeederConfig,
    pub torrents: RwLock<HashMap<InfoHash, Arc<Seeded>>>,
    pub limiter: RateLimiter,
    pub observer: Box<dyn SeederObserver>,
    pub connections: AtomicU64,
    pub per_ip: Mutex<HashMap<IpAddr, usize>>,
    pub refused: AtomicU64,
    pub bytes_served: AtomicU64,
    pub shutdown: watch::Receiver<bool>,
}

impl Shared {
    pub fn torrent(&self, info_hash: &InfoHash) -> Option<Arc<Seeded>> {
        self.torrents
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(info_hash)
            .cloned()
    }

    pub fn refuse(&self, peer: SocketAddr, reason: DisconnectReason) {
        self.refused.fetch_add(1, Ordering::Relaxed);
        debug!(%peer, %reason, "connection refused");
        self.observer
            .on_event(SeederEvent::ConnectionRefused { peer, reason });
    }
}

/// Holds a connection slot; released on drop.
pub(crate) struct Slot {
    shared: Arc<Shared>,
    ip: IpAddr,
}

impl Slot {
    fn take(shared: &Arc<Shared>, ip: IpAddr) -> Option<Slot> {
        let mut per_ip = shared.per_ip.lock().unwrap_or_else(PoisonError::into_inner);
        let n = per_ip.entry(ip).or_insert(0);
        if *n >= shared.config.max_connections_per_ip
            || shared.connections.load(Ordering::Relaxed) >= shared.config.max_connections as u64
        {
            if *n == 0 {
                per_ip.remove(&ip);
            }
            return None;
        }
        *n += 1;
        shared.connections.fetch_add(1, Ordering::Relaxed);
        Some(Slot {
            shared: shared.clone(),
            ip,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut per_ip = self
            .shared
            .per_ip
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                per_ip.remove(&self.ip);
            }
        }
        self.shared.connections.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A running seed-only BitTorrent peer serving local image files.
///
/// Dropping it stops the listener and closes every connection; prefer
/// [`Seeder::shutdown`], which waits for connections to close.
pub struct Seeder {
    shared: Arc<Shared>,
    local_addr: SocketAddr,
    shutdown_tx: watch::Sender<bool>,
    accept: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Seeder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Seeder")
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

impl Seeder {
    /// Binds the listener and starts accepting peers. Must be called inside
    /// a tokio runtime. No image is served until [`Seeder::add`].
    pub async fn start(
        config: SeederConfig,
        observer: impl SeederObserver,
    ) -> Result<Seeder, SeederError> {
        let listener = bind(&config)?;
        let local_addr = listener.local_addr()?;
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let shared = Arc::new(Shared {
            limiter: RateLimiter::new(config.upload_limit),
            config,
            torrents: RwLock::new(HashMap::new()),
            observer: Box::new(observer),
            connections: AtomicU64::new(0),
            per_ip: Mutex::new(HashMap::new()),
            refused: AtomicU64::new(0),
            bytes_served: AtomicU64::new(0),
            shutdown: shutdown_rx,
        });
        info!(%local_addr, "torrent seeder listening");
        let accept = tokio::spawn(accept_loop(shared.clone(), listener));
        Ok(Seeder {
            shared,
            local_addr,
            shutdown_tx,
            accept: Some(accept),
        })
    }

    /// The bound listening address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Our peer id.
    pub fn peer_id(&self) -> [u8; 20] {
        self.shared.config.peer_id
    }

    /// Starts seeding `image` as `metainfo`. Trusts the data (no hash check:
    /// see [`crate::prepare_torrent`]); only checks that the file exists and
    /// has the torrent's length. The file is kept open, so replacing the
    /// image on disk by rename keeps serving the old version until
    /// [`Seeder::remove`]. Returns `false` if this info-hash is already
    /// seeded (nothing changes).
    pub fn add(&self, image: impl AsRef<Path>, metainfo: &Metainfo) -> Result<bool, SeederError> {
        let path = image.as_ref();
        let info_hash = metainfo.info_hash();
        if self.shared.torrent(&info_hash).is_some() {
            return Ok(false);
        }
        let file = File::open(path)?;
        let actual = file.metadata()?.len();
        if actual != metainfo.length() {
            return Err(SeederError::SizeMismatch {
                path: path.display().to_string(),
                expected: metainfo.length(),
                actual,
            });
        }
        let seeded = Arc::new(Seeded {
            bitfield: wire::full_bitfield(metainfo.piece_count()),
            metainfo: metainfo.clone(),
            path: path.to_path_buf(),
            file: Arc::new(file),
            counters: Counters::default(),
            removed: watch::Sender::new(false),
        });
        let mut torrents = self
            .shared
            .torrents
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if torrents.contains_key(&info_hash) {
            return Ok(false);
        }
        torrents.insert(info_hash, seeded);
        info!(%info_hash, image = %path.display(), "seeding");
        Ok(true)
    }

    /// Stops seeding an image and closes its connections. Returns whether it
    /// was seeded.
    pub fn remove(&self, info_hash: &InfoHash) -> bool {
        let removed = self
            .shared
            .torrents
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(info_hash);
        match removed {
            Some(t) => {
                t.removed.send_replace(true);
                info!(%info_hash, image = %t.path.display(), "no longer seeding");
                true
            }
            None => false,
        }
    }

    /// Whether an info-hash is seeded.
    pub fn contains(&self, info_hash: &InfoHash) -> bool {
        self.shared.torrent(info_hash).is_some()
    }

    /// Info-hashes of all seeded images.
    pub fn info_hashes(&self) -> Vec<InfoHash> {
        self.shared
            .torrents
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .keys()
            .copied()
            .collect()
    }

    /// Changes the global upload limit (bytes/s, `None`: unlimited).
    pub fn set_upload_limit(&self, bytes_per_sec: Option<u64>) {
        self.shared.limiter.set_rate(bytes_per_sec);
    }

    /// A snapshot of all counters.
    pub fn stats(&self) -> SeederStats {
        let torrents = self
            .shared
            .torrents
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let mut list: Vec<TorrentStats> = torrents
            .values()
            .map(|t| {
                let c = &t.counters;
                TorrentStats {
                    info_hash: t.metainfo.info_hash(),
                    name: t.metainfo.name().to_string(),
                    length: t.metainfo.length(),
                    peers: Counters::get(&c.peers),
                    active_downloads: Counters::get(&c.active_downloads),
                    bytes_served: Counters::get(&c.bytes_served),
                    blocks_served: Counters::get(&c.blocks_served),
                    connections_total: Counters::get(&c.connections_total),
                    peers_completed: Counters::get(&c.peers_completed),
                }
            })
            .collect();
        list.sort_by(|a, b| a.name.cmp(&b.name).then(a.info_hash.cmp(&b.info_hash)));
        SeederStats {
            torrents: list,
            connections: self.shared.connections.load(Ordering::Relaxed),
            bytes_served: self.shared.bytes_served.load(Ordering::Relaxed),
            connections_refused: self.shared.refused.load(Ordering::Relaxed),
            upload_limit: self.shared.limiter.rate(),
        }
    }

    /// Stops accepting, closes every connection and waits (up to 5 s) until
    /// their tasks have finished.
    pub async fn shutdown(mut self) {
        self.shutdown_tx.send_replace(true);
        if let Some(accept) = self.accept.take() {
            let _ = accept.await;
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while self.shared.connections.load(Ordering::Relaxed) > 0
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        info!(local_addr = %self.local_addr, "torrent seeder stopped");
    }
}

impl Drop for Seeder {
    fn drop(&mut self) {
        self.shutdown_tx.send_replace(true);
    }
}

fn bind(config: &SeederConfig) -> std::io::Result<TcpListener> {
    let socket = match config.listen {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    if let Some(dev) = &config.bind_device {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        socket.bind_device(Some(dev.as_bytes()))?;
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        return Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            format!("bind_device {dev}"),
        ));
    }
    socket.bind(config.listen)?;
    socket.listen(1024)
}

async fn accept_loop(shared: Arc<Shared>, listener: TcpListener) {
    let mut shutdown = shared.shutdown.clone();
    loop {
        let accepted = tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => admit(&shared, stream, peer),
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

fn admit(shared: &Arc<Shared>, stream: TcpStream, peer: SocketAddr) {
    let peer = SocketAddr::new(peer.ip().to_canonical(), peer.port());
    let Some(slot) = Slot::take(shared, peer.ip()) else {
        shared.refuse(peer, DisconnectReason::ConnectionLimit);
        return;
    };
    let _ = stream.set_nodelay(true);
    tokio::spawn(peer::serve(shared.clone(), stream, peer, slot));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_ids() {
        let a = random_peer_id();
        assert!(a.starts_with(b"-BB0100-"));
        assert!(a[8..].iter().all(|b| b.is_ascii_alphanumeric()));
    }
}
