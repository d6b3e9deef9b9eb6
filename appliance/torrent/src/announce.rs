//! Tracker announce requests (BEP 3 query strings) and bencoded responses
//! (BEP 23 compact peers, BEP 7 `peers6`). Pure code: the parser never
//! panics on arbitrary input (property-tested in `tests/tracker_fuzz.rs`).

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use thiserror::Error;

use crate::bencode::Value;
use crate::metainfo::InfoHash;

/// Longest query string accepted.
pub const MAX_QUERY_LEN: usize = 4096;

/// Why an announce (or scrape) query was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum AnnounceError {
    /// A required parameter is absent.
    #[error("missing parameter {0}")]
    Missing(&'static str),
    /// A parameter has a bad value.
    #[error("bad parameter {0}")]
    Bad(&'static str),
    /// Longer than [`MAX_QUERY_LEN`].
    #[error("query too long")]
    TooLong,
}

/// `event=` of an announce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Event {
    /// No event (a regular re-announce), or `event=` empty/`empty`/unknown.
    #[default]
    None,
    /// `started`
    Started,
    /// `completed`
    Completed,
    /// `stopped`
    Stopped,
}

/// A parsed announce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnounceRequest {
    /// `info_hash` (20 bytes).
    pub info_hash: InfoHash,
    /// `peer_id` (20 bytes).
    pub peer_id: [u8; 20],
    /// `port` the peer listens on (1..=65535).
    pub port: u16,
    /// `uploaded` (0 if absent).
    pub uploaded: u64,
    /// `downloaded` (0 if absent).
    pub downloaded: u64,
    /// `left`; `None` if absent (then the peer counts as a leecher).
    pub left: Option<u64>,
    /// `event`.
    pub event: Event,
    /// `compact=1` (default when absent: compact, as most trackers do).
    pub compact: bool,
    /// `no_peer_id=1`.
    pub no_peer_id: bool,
    /// `numwant`.
    pub numwant: Option<u32>,
}

impl AnnounceRequest {
    /// Whether the peer has the whole file.
    pub fn is_seed(&self) -> bool {
        self.left == Some(0)
    }

    /// Parses the raw (still percent-encoded) query string of
    /// `GET /announce?…`. Unknown parameters are ignored; so is `ip=`
    /// (the connection's address is used).
    pub fn parse_query(query: &str) -> Result<AnnounceRequest, AnnounceError> {
        if query.len() > MAX_QUERY_LEN {
            return Err(AnnounceError::TooLong);
        }
        let mut info_hash = None;
        let mut peer_id = None;
        let mut port = None;
        let mut req = AnnounceRequest {
            info_hash: InfoHash([0; 20]),
            peer_id: [0; 20],
            port: 0,
            uploaded: 0,
            downloaded: 0,
            left: None,
            event: Event::None,
            compact: true,
            no_peer_id: false,
            numwant: None,
        };
        for (key, value) in pairs(query) {
            match key {
                b"info_hash" => info_hash = Some(bytes20(&value, "info_hash")?),
                b"peer_id" => peer_id = Some(bytes20(&value, "peer_id")?),
                b"port" => {
                    port =
                        Some(number(&value, "port").and_then(|p| {
                            u16::try_from(p).map_err(|_| AnnounceError::Bad("port"))
                        })?)
                }
                b"uploaded" => req.uploaded = number(&value, "uploaded")?,
                b"downloaded" => req.downloaded = number(&value, "downloaded")?,
                b"left" => req.left = Some(number(&value, "left")?),
                b"event" => {
                    req.event = match &value[..] {
                        b"started" => Event::Started,
                        b"completed" => Event::Completed,
                        b"stopped" => Event::Stopped,
                        _ => Event::None,
                    }
                }
                b"compact" => req.compact = value != b"0",
                b"no_peer_id" => req.no_peer_id = value == b"1",
                b"numwant" => {
                    req.numwant = Some(number(&value, "numwant")?.min(u64::from(u32::MAX)) as u32)
                }
                _ => {}
            }
        }
        req.info_hash = InfoHash(info_hash.ok_or(AnnounceError::Missing("info_hash"))?);
        req.peer_id = peer_id.ok_or(AnnounceError::Missing("peer_id"))?;
        req.port = port.ok_or(AnnounceError::Missing("port"))?;
        if req.port == 0 {
            return Err(AnnounceError::Bad("port"));
        }
        Ok(req)
    }
}

/// The `info_hash` values of a scrape query (`GET /scrape?info_hash=…&…`).
pub fn parse_scrape_query(query: &str) -> Result<Vec<InfoHash>, AnnounceError> {
    if query.len() > MAX_QUERY_LEN {
        return Err(AnnounceError::TooLong);
    }
    pairs(query)
        .filter(|(k, _)| *k == b"info_hash")
        .map(|(_, v)| bytes20(&v, "info_hash").map(InfoHash))
        .collect()
}

/// `key=value` pairs of a query string, values percent-decoded (`+` stays
/// `+`: info-hashes are binary). A value with a bad escape decodes to an
/// empty value, which every consumer refuses.
fn pairs(query: &str) -> impl Iterator<Item = (&[u8], Vec<u8>)> {
    query
        .as_bytes()
        .split(|&b| b == b'&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (key, value) = match pair.iter().position(|&b| b == b'=') {
                Some(i) => (&pair[..i], &pair[i + 1..]),
                None => (pair, &b""[..]),
            };
            (key, percent_decode(value).unwrap_or_default())
        })
}

/// Decodes `%XX` escapes; `None` on a truncated or non-hex escape.
pub fn percent_decode(input: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if input[i] == b'%' {
            let hi = (*input.get(i + 1)? as char).to_digit(16)?;
            let lo = (*input.get(i + 2)? as char).to_digit(16)?;
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(input[i]);
            i += 1;
        }
    }
    Some(out)
}

fn bytes20(value: &[u8], name: &'static str) -> Result<[u8; 20], AnnounceError> {
    value.try_into().map_err(|_| AnnounceError::Bad(name))
}

fn number(value: &[u8], name: &'static str) -> Result<u64, AnnounceError> {
    if value.is_empty() || value.len() > 20 || !value.iter().all(u8::is_ascii_digit) {
        return Err(AnnounceError::Bad(name));
    }
    std::str::from_utf8(value)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or(AnnounceError::Bad(name))
}

/// A peer in a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponsePeer {
    /// Address.
    pub addr: SocketAddr,
    /// Peer id, if known (the box's own seeder has none here).
    pub peer_id: Option<[u8; 20]>,
}

/// Fields of a successful announce response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnounceResponse {
    /// `interval` in seconds.
    pub interval: u32,
    /// `min interval` in seconds.
    pub min_interval: u32,
    /// `complete` (seeders).
    pub complete: u32,
    /// `incomplete` (leechers).
    pub incomplete: u32,
    /// Peers to return.
    pub peers: Vec<ResponsePeer>,
}

impl AnnounceResponse {
    /// Bencodes it: compact `peers` (6 bytes each, IPv4) plus `peers6`
    /// (18 bytes each) when `compact`, else a list of dictionaries with
    /// `ip`, `port` and (unless `no_peer_id`) `peer id`.
    pub fn encode(&self, compact: bool, no_peer_id: bool) -> Vec<u8> {
        let mut d = BTreeMap::new();
        d.insert(b"interval".to_vec(), Value::Int(i64::from(self.interval)));
        d.insert(
            b"min interval".to_vec(),
            Value::Int(i64::from(self.min_interval)),
        );
        d.insert(b"complete".to_vec(), Value::Int(i64::from(self.complete)));
        d.insert(
            b"incomplete".to_vec(),
            Value::Int(i64::from(self.incomplete)),
        );
        if compact {
            let mut v4 = Vec::new();
            let mut v6 = Vec::new();
            for p in &self.peers {
                match p.addr.ip().to_canonical() {
                    IpAddr::V4(ip) => {
                        v4.extend_from_slice(&ip.octets());
                        v4.extend_from_slice(&p.addr.port().to_be_bytes());
                    }
                    IpAddr::V6(ip) => {
                        v6.extend_from_slice(&ip.octets());
                        v6.extend_from_slice(&p.addr.port().to_be_bytes());
                    }
                }
            }
            d.insert(b"peers".to_vec(), Value::Bytes(v4));
            if !v6.is_empty() {
                d.insert(b"peers6".to_vec(), Value::Bytes(v6));
            }
        } else {
            let list = self
                .peers
                .iter()
                .map(|p| {
                    let mut pd = BTreeMap::new();
                    pd.insert(
                        b"ip".to_vec(),
                        Value::str(&p.addr.ip().to_canonical().to_string()),
                    );
                    pd.insert(b"port".to_vec(), Value::Int(i64::from(p.addr.port())));
                    if let (false, Some(id)) = (no_peer_id, p.peer_id) {
                        pd.insert(b"peer id".to_vec(), Value::Bytes(id.to_vec()));
                    }
                    Value::Dict(pd)
                })
                .collect();
            d.insert(b"peers".to_vec(), Value::List(list));
        }
        Value::Dict(d).encode()
    }
}

/// `d14:failure reason<len>:<text>e`
pub fn failure(reason: &str) -> Vec<u8> {
    let mut d = BTreeMap::new();
    d.insert(b"failure reason".to_vec(), Value::str(reason));
    Value::Dict(d).encode()
}

#[cfg(test)]
mod tests {
    use super::*;

    const Q: &str = "info_hash=%12%34Vx%9a%bc%de%f1%23Eg%89%ab%cd%ef%124Vx%9a\
                     &peer_id=-CD0303-%00%01abcdefghij&port=6881&uploaded=0&downloaded=10\
                     &left=1000&event=started&compact=1&numwant=100&key=abc&ip=10.0.0.9";

    #[test]
    fn parses_ctorrent_style_query() {
        let r = AnnounceRequest::parse_query(Q).unwrap();
        assert_eq!(
            r.info_hash.to_hex(),
            "123456789abcdef123456789abcdef123456789a"
        );
        assert_eq!(&r.peer_id[..8], b"-CD0303-");
        assert_eq!(r.peer_id[8], 0);
        assert_eq!(r.port, 6881);
        assert_eq!(r.downloaded, 10);
        assert_eq!(r.left, Some(1000));
        assert_eq!(r.event, Event::Started);
        assert!(r.compact && !r.is_seed());
        assert_eq!(r.numwant, Some(100));
    }

    #[test]
    fn refuses_bad_queries() {
        let base = Q.replace("&port=6881", "");
        assert_eq!(
            AnnounceRequest::parse_query(&base),
            Err(AnnounceError::Missing("port"))
        );
        assert_eq!(
            AnnounceRequest::parse_query(&Q.replace("port=6881", "port=0")),
            Err(AnnounceError::Bad("port"))
        );
        assert_eq!(
            AnnounceRequest::parse_query(&Q.replace("port=6881", "port=70000")),
            Err(AnnounceError::Bad("port"))
        );
        assert_eq!(
            AnnounceRequest::parse_query(&Q.replace("left=1000", "left=-1")),
            Err(AnnounceError::Bad("left"))
        );
        assert_eq!(
            AnnounceRequest::parse_query(&Q.replace("%9a&peer", "&peer")),
            Err(AnnounceError::Bad("info_hash"))
        );
        assert_eq!(
            AnnounceRequest::parse_query(&Q.replace("%12%34", "%1%34")),
            Err(AnnounceError::Bad("info_hash"))
        );
        assert_eq!(
            AnnounceRequest::parse_query(""),
            Err(AnnounceError::Missing("info_hash"))
        );
        assert_eq!(
            AnnounceRequest::parse_query(&"a".repeat(5000)),
            Err(AnnounceError::TooLong)
        );
    }

    #[test]
    fn percent() {
        assert_eq!(percent_decode(b"a%20b+%ff"), Some(b"a b+\xff".to_vec()));
        assert_eq!(percent_decode(b"%2"), None);
        assert_eq!(percent_decode(b"%zz"), None);
        assert_eq!(percent_decode(b"%+1"), None);
    }

    #[test]
    fn scrape_query() {
        let hs =
            parse_scrape_query("info_hash=aaaaaaaaaaaaaaaaaaaa&info_hash=bbbbbbbbbbbbbbbbbbbb")
                .unwrap();
        assert_eq!(hs, vec![InfoHash([b'a'; 20]), InfoHash([b'b'; 20])]);
        assert!(parse_scrape_query("info_hash=short").is_err());
    }

    #[test]
    fn encodes_responses() {
        let r = AnnounceResponse {
            interval: 60,
            min_interval: 10,
            complete: 1,
            incomplete: 2,
            peers: vec![
                ResponsePeer {
                    addr: "10.0.0.1:6881".parse().unwrap(),
                    peer_id: None,
                },
                ResponsePeer {
                    addr: "[::ffff:10.0.0.2]:51413".parse().unwrap(),
                    peer_id: Some([b'p'; 20]),
                },
                ResponsePeer {
                    addr: "[fd00::1]:1".parse().unwrap(),
                    peer_id: None,
                },
            ],
        };
        let compact = crate::bencode::decode(&r.encode(true, false)).unwrap();
        assert_eq!(compact.get("interval").and_then(Value::as_int), Some(60));
        assert_eq!(
            compact.get("min interval").and_then(Value::as_int),
            Some(10)
        );
        assert_eq!(
            compact.get("peers").and_then(Value::as_bytes),
            Some(&[10, 0, 0, 1, 0x1a, 0xe1, 10, 0, 0, 2, 0xc8, 0xd5][..])
        );
        assert_eq!(
            compact
                .get("peers6")
                .and_then(Value::as_bytes)
                .map(<[u8]>::len),
            Some(18)
        );
        let full = crate::bencode::decode(&r.encode(false, false)).unwrap();
        let peers = full.get("peers").and_then(Value::as_list).unwrap();
        assert_eq!(peers[1].get("ip").and_then(Value::as_str), Some("10.0.0.2"));
        assert_eq!(
            peers[1].get("peer id").and_then(Value::as_bytes),
            Some(&[b'p'; 20][..])
        );
        assert!(peers[0].get("peer id").is_none());
        assert_eq!(failure("x"), b"d14:failure reason1:xe");
    }
}
