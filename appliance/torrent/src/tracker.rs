//! Built-in HTTP tracker (BEP 3, compact peers BEP 23), answering only for
//! whitelisted info-hashes, so a school LAN needs no opentracker.
//!
//! HTTP details for ctorrent (HTTP/1.0 client that reads until the server
//! closes): every response carries `Connection: close` and a
//! `Content-Length`, is `200` with a bencoded body (errors as
//! `failure reason`), and hyper answers an HTTP/1.0 request with an
//! HTTP/1.0 status line. The peer address is the connection's source
//! address (the `ip=` parameter is ignored).

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, Response, StatusCode};
use axum::routing::get;
use axum::Router;
use serde::Serialize;
use tokio::net::TcpListener;
use tracing::{debug, info};

use crate::announce::{
    failure, parse_scrape_query, AnnounceRequest, AnnounceResponse, Event, ResponsePeer,
};
use crate::bencode::Value;
use crate::metainfo::InfoHash;

/// The set of info-hashes the tracker answers for. Cheap to clone; all
/// clones share the set, so the caller keeps one to update it at runtime.
#[derive(Debug, Clone, Default)]
pub struct Whitelist(Arc<RwLock<HashSet<InfoHash>>>);

impl Whitelist {
    /// An empty whitelist.
    pub fn new() -> Self {
        Whitelist::default()
    }

    /// Allows an info-hash; `false` if it already was.
    pub fn insert(&self, info_hash: InfoHash) -> bool {
        self.0
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(info_hash)
    }

    /// Disallows an info-hash; `false` if it was not allowed.
    pub fn remove(&self, info_hash: &InfoHash) -> bool {
        self.0
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(info_hash)
    }

    /// Replaces the whole set.
    pub fn replace(&self, hashes: impl IntoIterator<Item = InfoHash>) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = hashes.into_iter().collect();
    }

    /// Whether an info-hash is allowed.
    pub fn contains(&self, info_hash: &InfoHash) -> bool {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(info_hash)
    }

    /// The allowed info-hashes.
    pub fn hashes(&self) -> Vec<InfoHash> {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .copied()
            .collect()
    }
}

/// Tracker settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackerConfig {
    /// `interval` sent to clients (default 60 s).
    pub interval: Duration,
    /// `min interval` sent to clients (default 15 s). aria2c re-announces at
    /// this pace while it has few peers, which is how clients find the
    /// box's seeder again after a restart.
    pub min_interval: Duration,
    /// Peers returned when the client does not say `numwant` (default 50).
    pub default_numwant: usize,
    /// Most peers returned (default 200).
    pub max_numwant: usize,
    /// A peer that has not announced for this long is forgotten (default
    /// 2 × interval + 60 s).
    pub peer_ttl: Duration,
    /// Most peers remembered per torrent (default 2000); further ones are
    /// answered but not remembered.
    pub max_peers_per_torrent: usize,
    /// The box's own seeders, listed first in every answer for a whitelisted
    /// info-hash (e.g. `10.0.0.5:6881`).
    pub box_seeds: Vec<SocketAddr>,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        let interval = Duration::from_secs(60);
        TrackerConfig {
            interval,
            min_interval: Duration::from_secs(15),
            default_numwant: 50,
            max_numwant: 200,
            peer_ttl: interval * 2 + Duration::from_secs(60),
            max_peers_per_torrent: 2000,
            box_seeds: Vec::new(),
        }
    }
}

#[derive(Debug, Clone)]
struct PeerEntry {
    addr: SocketAddr,
    seed: bool,
    last_seen: Instant,
}

#[derive(Debug, Default)]
struct Swarm {
    peers: HashMap<[u8; 20], PeerEntry>,
    completed: u64,
    announces: u64,
    /// Rotates the starting point of peer lists.
    cursor: usize,
}

impl Swarm {
    fn purge(&mut self, ttl: Duration, now: Instant) {
        self.peers
            .retain(|_, p| now.duration_since(p.last_seen) <= ttl);
    }

    fn counts(&self) -> (u32, u32) {
        let seeds = self.peers.values().filter(|p| p.seed).count() as u32;
        (seeds, self.peers.len() as u32 - seeds)
    }
}

/// One torrent's swarm as the tracker sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SwarmStats {
    /// Info-hash (hex when serialised).
    pub info_hash: String,
    /// Peers with `left=0` (the box's own seeders not counted).
    pub seeders: u32,
    /// Other peers.
    pub leechers: u32,
    /// `event=completed` announces.
    pub completed: u64,
    /// Announces answered.
    pub announces: u64,
}

/// A snapshot of the tracker's counters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrackerStats {
    /// Announces answered with peers.
    pub announces: u64,
    /// Announces and scrapes refused because the info-hash is not whitelisted.
    pub refused_unknown: u64,
    /// Malformed requests.
    pub bad_requests: u64,
    /// Per whitelisted torrent that has been announced.
    pub swarms: Vec<SwarmStats>,
}

struct Inner {
    config: TrackerConfig,
    whitelist: Whitelist,
    swarms: Mutex<HashMap<InfoHash, Swarm>>,
    announces: AtomicU64,
    refused: AtomicU64,
    bad: AtomicU64,
}

/// The tracker: swarm state plus an axum router. Cheap to clone.
#[derive(Clone)]
pub struct Tracker {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Tracker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracker")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl Tracker {
    /// A tracker answering for the info-hashes in `whitelist`.
    pub fn new(config: TrackerConfig, whitelist: Whitelist) -> Tracker {
        Tracker {
            inner: Arc::new(Inner {
                config,
                whitelist,
                swarms: Mutex::new(HashMap::new()),
                announces: AtomicU64::new(0),
                refused: AtomicU64::new(0),
                bad: AtomicU64::new(0),
            }),
        }
    }

    /// The whitelist handle.
    pub fn whitelist(&self) -> &Whitelist {
        &self.inner.whitelist
    }

    /// Handles an announce from `ip` and returns the bencoded body.
    pub fn announce(&self, req: &AnnounceRequest, ip: IpAddr) -> Vec<u8> {
        let inner = &self.inner;
        let config = &inner.config;
        if !inner.whitelist.contains(&req.info_hash) {
            inner.refused.fetch_add(1, Ordering::Relaxed);
            inner
                .swarms
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&req.info_hash);
            debug!(info_hash = %req.info_hash, %ip, "announce for unknown info-hash refused");
            return failure(
                "unregistered torrent: this tracker serves only the images of its Bootbox",
            );
        }
        inner.announces.fetch_add(1, Ordering::Relaxed);
        let addr = SocketAddr::new(ip.to_canonical(), req.port);
        let now = Instant::now();
        let mut swarms = inner.swarms.lock().unwrap_or_else(PoisonError::into_inner);
        let swarm = swarms.entry(req.info_hash).or_default();
        swarm.purge(config.peer_ttl, now);
        swarm.announces += 1;
        if req.event == Event::Completed {
            swarm.completed += 1;
        }
        if req.event == Event::Stopped {
            swarm.peers.remove(&req.peer_id);
        } else if swarm.peers.len() < config.max_peers_per_torrent
            || swarm.peers.contains_key(&req.peer_id)
        {
            swarm.peers.insert(
                req.peer_id,
                PeerEntry {
                    addr,
                    seed: req.is_seed(),
                    last_seen: now,
                },
            );
        }
        let (complete, incomplete) = swarm.counts();

        let want = req
            .numwant
            .map_or(config.default_numwant, |n| n as usize)
            .min(config.max_numwant);
        let mut peers: Vec<ResponsePeer> = config
            .box_seeds
            .iter()
            .filter(|s| **s != addr)
            .map(|&addr| ResponsePeer {
                addr,
                peer_id: None,
            })
            .take(want)
            .collect();
        if req.event != Event::Stopped {
            // Seeds need only leechers; everybody else gets everybody.
            let mut others: Vec<ResponsePeer> = swarm
                .peers
                .iter()
                .filter(|(id, p)| {
                    **id != req.peer_id && p.addr != addr && !(req.is_seed() && p.seed)
                })
                .filter(|(_, p)| !config.box_seeds.contains(&p.addr))
                .map(|(id, p)| ResponsePeer {
                    addr: p.addr,
                    peer_id: Some(*id),
                })
                .collect();
            if !others.is_empty() {
                swarm.cursor = swarm.cursor.wrapping_add(1);
                let start = swarm.cursor % others.len();
                others.rotate_left(start);
            }
            let room = want.saturating_sub(peers.len());
            peers.extend(others.into_iter().take(room));
        }
        drop(swarms);
        AnnounceResponse {
            interval: config.interval.as_secs().max(1) as u32,
            min_interval: config.min_interval.as_secs().max(1) as u32,
            complete: complete + config.box_seeds.len() as u32,
            incomplete,
            peers,
        }
        .encode(req.compact, req.no_peer_id)
    }

    /// Handles a scrape of `hashes` (all whitelisted ones if empty).
    pub fn scrape(&self, hashes: &[InfoHash]) -> Vec<u8> {
        let inner = &self.inner;
        let hashes = if hashes.is_empty() {
            inner.whitelist.hashes()
        } else {
            hashes.to_vec()
        };
        let swarms = inner.swarms.lock().unwrap_or_else(PoisonError::into_inner);
        let mut files = std::collections::BTreeMap::new();
        for h in hashes {
            if !inner.whitelist.contains(&h) {
                inner.refused.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let (complete, incomplete, completed) = swarms.get(&h).map_or((0, 0, 0), |s| {
                let (c, i) = s.counts();
                (c, i, s.completed)
            });
            let mut d = std::collections::BTreeMap::new();
            d.insert(
                b"complete".to_vec(),
                Value::Int(i64::from(complete) + inner.config.box_seeds.len() as i64),
            );
            d.insert(b"incomplete".to_vec(), Value::Int(i64::from(incomplete)));
            d.insert(b"downloaded".to_vec(), Value::Int(completed as i64));
            files.insert(h.0.to_vec(), Value::Dict(d));
        }
        let mut root = std::collections::BTreeMap::new();
        root.insert(b"files".to_vec(), Value::Dict(files));
        Value::Dict(root).encode()
    }

    /// A snapshot of the counters (expired peers are not counted).
    pub fn stats(&self) -> TrackerStats {
        let inner = &self.inner;
        let now = Instant::now();
        let mut swarms = inner.swarms.lock().unwrap_or_else(PoisonError::into_inner);
        let mut list: Vec<SwarmStats> = swarms
            .iter_mut()
            .map(|(h, s)| {
                s.purge(inner.config.peer_ttl, now);
                let (seeders, leechers) = s.counts();
                SwarmStats {
                    info_hash: h.to_hex(),
                    seeders,
                    leechers,
                    completed: s.completed,
                    announces: s.announces,
                }
            })
            .collect();
        list.sort_by(|a, b| a.info_hash.cmp(&b.info_hash));
        TrackerStats {
            announces: inner.announces.load(Ordering::Relaxed),
            refused_unknown: inner.refused.load(Ordering::Relaxed),
            bad_requests: inner.bad.load(Ordering::Relaxed),
            swarms: list,
        }
    }

    /// The HTTP routes `GET /announce` and `GET /scrape`. The server must
    /// provide `ConnectInfo<SocketAddr>` (use
    /// `into_make_service_with_connect_info::<SocketAddr>()`, as
    /// [`Tracker::serve`] does).
    pub fn router(&self) -> Router {
        Router::new()
            .route("/announce", get(announce_handler))
            .route("/scrape", get(scrape_handler))
            .fallback(not_found)
            .with_state(self.clone())
    }

    /// Serves the tracker on `listener` until `shutdown` completes.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        if let Ok(addr) = listener.local_addr() {
            info!(%addr, "torrent tracker listening");
        }
        axum::serve(
            listener,
            self.router()
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await
    }
}

fn bencoded(body: Vec<u8>) -> Response<Body> {
    let mut resp = Response::new(Body::from(body));
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    h.insert(header::CONNECTION, HeaderValue::from_static("close"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

fn peer_ip(req: &Request) -> Option<IpAddr> {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
}

async fn announce_handler(State(tracker): State<Tracker>, req: Request) -> Response<Body> {
    let Some(ip) = peer_ip(&req) else {
        return bencoded(failure(
            "tracker has no peer address (server misconfigured)",
        ));
    };
    match AnnounceRequest::parse_query(req.uri().query().unwrap_or("")) {
        Ok(a) => bencoded(tracker.announce(&a, ip)),
        Err(e) => {
            tracker.inner.bad.fetch_add(1, Ordering::Relaxed);
            debug!(%ip, error = %e, "bad announce");
            bencoded(failure(&e.to_string()))
        }
    }
}

async fn scrape_handler(State(tracker): State<Tracker>, req: Request) -> Response<Body> {
    match parse_scrape_query(req.uri().query().unwrap_or("")) {
        Ok(hashes) => bencoded(tracker.scrape(&hashes)),
        Err(e) => {
            tracker.inner.bad.fetch_add(1, Ordering::Relaxed);
            bencoded(failure(&e.to_string()))
        }
    }
}

async fn not_found() -> Response<Body> {
    let mut resp = bencoded(failure("not found: use /announce"));
    *resp.status_mut() = StatusCode::NOT_FOUND;
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bencode::decode;

    fn req(id: u8, port: u16, left: u64, event: Event) -> AnnounceRequest {
        AnnounceRequest {
            info_hash: InfoHash([1; 20]),
            peer_id: [id; 20],
            port,
            uploaded: 0,
            downloaded: 0,
            left: Some(left),
            event,
            compact: true,
            no_peer_id: false,
            numwant: None,
        }
    }

    fn peers(body: &[u8]) -> Vec<u8> {
        decode(body)
            .unwrap()
            .get("peers")
            .and_then(Value::as_bytes)
            .unwrap()
            .to_vec()
    }

    #[test]
    fn whitelist_and_peers() {
        let wl = Whitelist::new();
        let config = TrackerConfig {
            box_seeds: vec!["10.0.0.1:6881".parse().unwrap()],
            ..TrackerConfig::default()
        };
        let t = Tracker::new(config, wl.clone());
        let ip: IpAddr = "10.0.0.20".parse().unwrap();
        let refused = decode(&t.announce(&req(2, 6881, 5, Event::Started), ip)).unwrap();
        assert!(refused.get("failure reason").is_some());
        assert!(refused.get("peers").is_none());

        wl.insert(InfoHash([1; 20]));
        let first = t.announce(&req(2, 6881, 5, Event::Started), ip);
        let d = decode(&first).unwrap();
        assert_eq!(d.get("interval").and_then(Value::as_int), Some(60));
        assert_eq!(peers(&first), vec![10, 0, 0, 1, 0x1a, 0xe1]);
        // A second leecher sees the box and the first leecher.
        let second = t.announce(
            &req(3, 7000, 5, Event::Started),
            "10.0.0.21".parse().unwrap(),
        );
        assert_eq!(
            peers(&second),
            vec![10, 0, 0, 1, 0x1a, 0xe1, 10, 0, 0, 20, 0x1a, 0xe1]
        );
        assert_eq!(
            decode(&second)
                .unwrap()
                .get("incomplete")
                .and_then(Value::as_int),
            Some(2)
        );
        // A completed peer that asks gets only leechers.
        let done = t.announce(&req(2, 6881, 0, Event::Completed), ip);
        assert_eq!(
            peers(&done),
            vec![10, 0, 0, 1, 0x1a, 0xe1, 10, 0, 0, 21, 0x1b, 0x58]
        );
        let s = t.stats();
        assert_eq!((s.announces, s.refused_unknown), (3, 1));
        assert_eq!(
            (
                s.swarms[0].seeders,
                s.swarms[0].leechers,
                s.swarms[0].completed
            ),
            (1, 1, 1)
        );
        // Stopped peers disappear.
        t.announce(
            &req(3, 7000, 5, Event::Stopped),
            "10.0.0.21".parse().unwrap(),
        );
        assert_eq!(t.stats().swarms[0].leechers, 0);
        // numwant bounds the list.
        let mut r = req(4, 1, 5, Event::None);
        r.numwant = Some(0);
        assert!(peers(&t.announce(&r, ip)).is_empty());
        // Removing from the whitelist refuses again.
        wl.remove(&InfoHash([1; 20]));
        assert!(decode(&t.announce(&req(2, 6881, 5, Event::None), ip))
            .unwrap()
            .get("failure reason")
            .is_some());
    }

    #[test]
    fn scrape_lists_only_whitelisted() {
        let wl = Whitelist::new();
        wl.insert(InfoHash([1; 20]));
        let t = Tracker::new(TrackerConfig::default(), wl);
        let body = decode(&t.scrape(&[InfoHash([1; 20]), InfoHash([2; 20])])).unwrap();
        let files = body.get("files").and_then(Value::as_dict).unwrap();
        assert_eq!(files.len(), 1);
        assert!(files.contains_key(&[1u8; 20][..]));
    }
}
