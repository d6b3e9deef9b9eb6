//! v1 single-file metainfo (`.torrent`): creation, parsing, info-hash.
//!
//! Torrents are made for LINBO's clients: v1 only (BEP 52 is unknown to all
//! of them), `announce` always set (ctorrent reads nothing else), optional
//! `url-list` web seeds (BEP 19, used by aria2c and Transmission), piece
//! length a power of two between [`MIN_PIECE_LENGTH`] and
//! [`MAX_PIECE_LENGTH`] (ctorrent caps its 128 KiB request slice at the
//! piece length), chosen by [`auto_piece_length`] so that the metainfo stays
//! far below ctorrent's 4 MiB limit.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use sha1::{Digest, Sha1};

use crate::bencode::{self, Value};
use crate::error::TorrentError;

/// Smallest piece length accepted (128 KiB: one ctorrent `-z 128` slice).
pub const MIN_PIECE_LENGTH: u32 = 128 * 1024;
/// Largest piece length accepted (16 MiB).
pub const MAX_PIECE_LENGTH: u32 = 16 * 1024 * 1024;
/// Largest metainfo this crate writes or reads (ctorrent upstream: 4 MiB).
pub const MAX_METAINFO_LEN: usize = 4 * 1024 * 1024;

/// The SHA-1 of a torrent's bencoded `info` dictionary.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InfoHash(pub [u8; 20]);

impl InfoHash {
    /// The 20 raw bytes.
    pub fn as_bytes(&self) -> &[u8; 20] {
        &self.0
    }

    /// Lower-case hex, as in LINBO's `<image>.hash` files.
    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }
}

impl fmt::Display for InfoHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for InfoHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InfoHash({})", self.to_hex())
    }
}

impl FromStr for InfoHash {
    type Err = TorrentError;

    /// Parses 40 hex digits (either case; surrounding whitespace allowed,
    /// as in a `.hash` file).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let bad = || TorrentError::Invalid(format!("not a 40-digit hex info-hash: {s:?}"));
        if s.len() != 40 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        let mut out = [0u8; 20];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
        }
        Ok(InfoHash(out))
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What to put into a new torrent besides the data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TorrentSpec {
    /// `info.name`, the file name clients save to. `None`: the image's file
    /// name.
    pub name: Option<String>,
    /// Piece length; `None`: [`auto_piece_length`].
    pub piece_length: Option<u32>,
    /// The tracker URL written as `announce` (e.g.
    /// `http://10.0.0.5:6969/announce`).
    pub announce: String,
    /// BEP 19 web seeds (`url-list`), e.g. the box's HTTP URL of the image.
    /// A URL ending in `/` gets the name appended by clients.
    pub web_seeds: Vec<String>,
    /// `info.private = 1`: clients use only the tracker for peers (no DHT,
    /// PEX or LSD even if enabled on the client). Changes the info-hash.
    pub private: bool,
    /// `created by`.
    pub created_by: Option<String>,
    /// `creation date` (Unix seconds).
    pub creation_date: Option<i64>,
}

impl TorrentSpec {
    /// A private torrent announcing to `announce`, no web seeds, automatic
    /// piece length, created by "Bootbox".
    pub fn new(announce: impl Into<String>) -> Self {
        TorrentSpec {
            name: None,
            piece_length: None,
            announce: announce.into(),
            web_seeds: Vec::new(),
            private: true,
            created_by: Some(format!("Bootbox {}", env!("CARGO_PKG_VERSION"))),
            creation_date: None,
        }
    }
}

/// The piece length used when none is given: 512 KiB (what LINBO used),
/// doubled while the torrent would have more than 8192 pieces, up to 4 MiB
/// (LAN-sized pieces); beyond that only while it would have more than
/// 100 000 pieces (2 MB of hashes), up to [`MAX_PIECE_LENGTH`].
/// 1 GB → 512 KiB, 16 GB → 2 MiB, 100 GB → 4 MiB (25 600 pieces, 512 KB of
/// hashes), 1 TB → 16 MiB.
pub fn auto_piece_length(length: u64) -> u32 {
    let pieces = |piece: u32| length.div_ceil(u64::from(piece));
    let mut piece = 512 * 1024u32;
    while piece < 4 * 1024 * 1024 && pieces(piece) > 8192 {
        piece *= 2;
    }
    while piece < MAX_PIECE_LENGTH && pieces(piece) > 100_000 {
        piece *= 2;
    }
    piece
}

/// A parsed (or freshly made) single-file v1 torrent.
#[derive(Clone, PartialEq, Eq)]
pub struct Metainfo {
    bytes: Arc<[u8]>,
    info_hash: InfoHash,
    name: String,
    length: u64,
    piece_length: u32,
    pieces: Arc<[u8]>,
    private: bool,
    announce: Option<String>,
    web_seeds: Vec<String>,
    info_raw: std::ops::Range<usize>,
}

impl fmt::Debug for Metainfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metainfo")
            .field("info_hash", &self.info_hash)
            .field("name", &self.name)
            .field("length", &self.length)
            .field("piece_length", &self.piece_length)
            .field("announce", &self.announce)
            .field("web_seeds", &self.web_seeds)
            .field("private", &self.private)
            .finish_non_exhaustive()
    }
}

impl Metainfo {
    /// Parses a `.torrent`. Only single-file v1 torrents are accepted (LINBO
    /// images are single files); sizes and the `pieces` length must agree.
    pub fn from_bytes(bytes: &[u8]) -> Result<Metainfo, TorrentError> {
        if bytes.len() > MAX_METAINFO_LEN {
            return Err(TorrentError::Invalid(format!(
                "metainfo is {} bytes, more than {MAX_METAINFO_LEN}",
                bytes.len()
            )));
        }
        let root = bencode::decode(bytes)?;
        let info_raw = bencode::dict_value_span(bytes, b"info")?
            .ok_or_else(|| TorrentError::Invalid("no info dictionary".into()))?;
        let info = root
            .get("info")
            .filter(|i| i.as_dict().is_some())
            .ok_or_else(|| TorrentError::Invalid("info is not a dictionary".into()))?;
        let invalid = |what: &str| TorrentError::Invalid(what.to_string());
        if info.get("files").is_some() {
            return Err(invalid("multi-file torrents are not supported"));
        }
        if info
            .get("meta version")
            .and_then(Value::as_int)
            .unwrap_or(1)
            != 1
        {
            return Err(invalid("only v1 torrents are supported"));
        }
        let name = info
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .ok_or_else(|| invalid("missing or non-UTF-8 info.name"))?
            .to_string();
        let length = info
            .get("length")
            .and_then(Value::as_int)
            .and_then(|n| u64::try_from(n).ok())
            .filter(|&n| n > 0)
            .ok_or_else(|| invalid("missing or bad info.length"))?;
        let piece_length = info
            .get("piece length")
            .and_then(Value::as_int)
            .and_then(|n| u32::try_from(n).ok())
            .filter(|&n| n >= 16 * 1024)
            .ok_or_else(|| invalid("missing or bad info.piece length"))?;
        let pieces = info
            .get("pieces")
            .and_then(Value::as_bytes)
            .ok_or_else(|| invalid("missing info.pieces"))?;
        let count = length.div_ceil(u64::from(piece_length));
        if pieces.len() as u64 != count * 20 {
            return Err(invalid("info.pieces does not match length / piece length"));
        }
        let private = info.get("private").and_then(Value::as_int) == Some(1);
        let announce = root
            .get("announce")
            .and_then(Value::as_str)
            .map(str::to_string);
        let web_seeds = match root.get("url-list") {
            Some(Value::Bytes(b)) => std::str::from_utf8(b)
                .ok()
                .map(|s| vec![s.to_string()])
                .unwrap_or_default(),
            Some(Value::List(l)) => l
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
            _ => Vec::new(),
        };
        let info_hash = InfoHash(Sha1::digest(&bytes[info_raw.clone()]).into());
        Ok(Metainfo {
            bytes: bytes.into(),
            info_hash,
            name,
            length,
            piece_length,
            pieces: pieces.into(),
            private,
            announce,
            web_seeds,
            info_raw,
        })
    }

    /// Reads and parses a `.torrent` file.
    pub fn read(path: &Path) -> Result<Metainfo, TorrentError> {
        let bytes = std::fs::read(path)?;
        Metainfo::from_bytes(&bytes)
    }

    /// The whole `.torrent` file.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The info-hash.
    pub fn info_hash(&self) -> InfoHash {
        self.info_hash
    }

    /// `info.name`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Length of the file in bytes.
    pub fn length(&self) -> u64 {
        self.length
    }

    /// Piece length in bytes.
    pub fn piece_length(&self) -> u32 {
        self.piece_length
    }

    /// Number of pieces.
    pub fn piece_count(&self) -> u32 {
        (self.pieces.len() / 20) as u32
    }

    /// Length of piece `index` (the last one may be shorter); `None` if out of
    /// range.
    pub fn piece_size(&self, index: u32) -> Option<u32> {
        if index >= self.piece_count() {
            return None;
        }
        let start = u64::from(index) * u64::from(self.piece_length);
        Some((self.length - start).min(u64::from(self.piece_length)) as u32)
    }

    /// The SHA-1 of piece `index`.
    pub fn piece_hash(&self, index: u32) -> Option<[u8; 20]> {
        let i = index as usize * 20;
        self.pieces.get(i..i + 20).and_then(|s| s.try_into().ok())
    }

    /// `info.private == 1`.
    pub fn private(&self) -> bool {
        self.private
    }

    /// The `announce` URL.
    pub fn announce(&self) -> Option<&str> {
        self.announce.as_deref()
    }

    /// The `url-list` web seeds.
    pub fn web_seeds(&self) -> &[String] {
        &self.web_seeds
    }

    /// The raw bencoded `info` dictionary.
    pub fn info_bytes(&self) -> &[u8] {
        &self.bytes[self.info_raw.clone()]
    }

    /// The same torrent (same info dictionary, same info-hash) with another
    /// `announce` URL and web seeds, e.g. after the box's address changed.
    pub fn with_trackers(&self, spec: &TorrentSpec) -> Result<Metainfo, TorrentError> {
        let bytes = outer_dict(self.info_bytes(), spec);
        Metainfo::from_bytes(&bytes)
    }
}

/// Creates a torrent for the file at `path` by reading and hashing all of it
/// (blocking: run it on a blocking thread for big images). The file must not
/// change while it is hashed.
pub fn make_torrent(path: &Path, spec: &TorrentSpec) -> Result<Metainfo, TorrentError> {
    let mut file = File::open(path)?;
    let length = file.metadata()?.len();
    let name = match &spec.name {
        Some(n) => n.clone(),
        None => path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| {
                TorrentError::Invalid(format!("no UTF-8 file name in {}", path.display()))
            })?
            .to_string(),
    };
    let piece_length = spec
        .piece_length
        .unwrap_or_else(|| auto_piece_length(length));
    let pieces = hash_pieces(&mut file, length, piece_length)?;
    build(&name, length, piece_length, &pieces, spec)
}

/// Builds a metainfo from already computed piece hashes (used when only the
/// name or private flag changed: no rehash needed).
pub(crate) fn build(
    name: &str,
    length: u64,
    piece_length: u32,
    pieces: &[u8],
    spec: &TorrentSpec,
) -> Result<Metainfo, TorrentError> {
    check_piece_length(piece_length)?;
    if length == 0 {
        return Err(TorrentError::Invalid(
            "cannot make a torrent of an empty file".into(),
        ));
    }
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        return Err(TorrentError::Invalid(format!("bad torrent name {name:?}")));
    }
    let mut info = BTreeMap::new();
    info.insert(b"length".to_vec(), Value::Int(length as i64));
    info.insert(b"name".to_vec(), Value::str(name));
    info.insert(
        b"piece length".to_vec(),
        Value::Int(i64::from(piece_length)),
    );
    info.insert(b"pieces".to_vec(), Value::Bytes(pieces.to_vec()));
    if spec.private {
        info.insert(b"private".to_vec(), Value::Int(1));
    }
    let info = Value::Dict(info).encode();
    let bytes = outer_dict(&info, spec);
    if bytes.len() > MAX_METAINFO_LEN {
        return Err(TorrentError::Invalid(format!(
            "metainfo would be {} bytes (limit {MAX_METAINFO_LEN}): use a larger piece length",
            bytes.len()
        )));
    }
    Metainfo::from_bytes(&bytes)
}

fn check_piece_length(piece_length: u32) -> Result<(), TorrentError> {
    if !piece_length.is_power_of_two()
        || !(MIN_PIECE_LENGTH..=MAX_PIECE_LENGTH).contains(&piece_length)
    {
        return Err(TorrentError::Invalid(format!(
            "piece length {piece_length} is not a power of two in {MIN_PIECE_LENGTH}..={MAX_PIECE_LENGTH}"
        )));
    }
    Ok(())
}

/// The outer dictionary around a raw, already encoded `info` (keys sorted:
/// announce, comment, created by, creation date, info, url-list).
fn outer_dict(info: &[u8], spec: &TorrentSpec) -> Vec<u8> {
    let mut out = Vec::with_capacity(info.len() + 256);
    out.push(b'd');
    bencode::encode_bytes(b"announce", &mut out);
    bencode::encode_bytes(spec.announce.as_bytes(), &mut out);
    if let Some(by) = &spec.created_by {
        bencode::encode_bytes(b"created by", &mut out);
        bencode::encode_bytes(by.as_bytes(), &mut out);
    }
    if let Some(date) = spec.creation_date {
        bencode::encode_bytes(b"creation date", &mut out);
        Value::Int(date).encode_into(&mut out);
    }
    bencode::encode_bytes(b"info", &mut out);
    out.extend_from_slice(info);
    if !spec.web_seeds.is_empty() {
        bencode::encode_bytes(b"url-list", &mut out);
        Value::List(spec.web_seeds.iter().map(|u| Value::str(u)).collect()).encode_into(&mut out);
    }
    out.push(b'e');
    out
}

/// SHA-1 of every piece, read sequentially in 1 MiB chunks.
fn hash_pieces(file: &mut File, length: u64, piece_length: u32) -> Result<Vec<u8>, TorrentError> {
    check_piece_length(piece_length)?;
    let count = length.div_ceil(u64::from(piece_length));
    let mut pieces = Vec::with_capacity(count as usize * 20);
    let mut buf = vec![0u8; (piece_length as usize).min(1 << 20)];
    let mut remaining = length;
    while remaining > 0 {
        let mut hasher = Sha1::new();
        let mut left = remaining.min(u64::from(piece_length));
        remaining -= left;
        while left > 0 {
            let n = left.min(buf.len() as u64) as usize;
            file.read_exact(&mut buf[..n]).map_err(|e| {
                if e.kind() == io::ErrorKind::UnexpectedEof {
                    TorrentError::Invalid("file shrank while it was hashed".into())
                } else {
                    TorrentError::Io(e)
                }
            })?;
            hasher.update(&buf[..n]);
            left -= n as u64;
        }
        pieces.extend_from_slice(&hasher.finalize());
    }
    Ok(pieces)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn spec() -> TorrentSpec {
        TorrentSpec {
            web_seeds: vec!["http://10.0.0.5/linbo/images/win/".into()],
            creation_date: Some(1_700_000_000),
            ..TorrentSpec::new("http://10.0.0.5:6969/announce")
        }
    }

    fn file_with(len: usize) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        let data: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
        f.write_all(&data).unwrap();
        f
    }

    #[test]
    fn auto_piece_lengths() {
        assert_eq!(auto_piece_length(1), 512 * 1024);
        assert_eq!(auto_piece_length(256 << 20), 512 * 1024);
        assert_eq!(auto_piece_length(4 << 30), 512 * 1024);
        assert_eq!(auto_piece_length(16 << 30), 2 << 20);
        assert_eq!(auto_piece_length(100 << 30), 4 << 20);
        assert_eq!(auto_piece_length(1 << 40), 16 << 20);
        assert_eq!(auto_piece_length(u64::MAX), MAX_PIECE_LENGTH);
    }

    #[test]
    fn makes_and_parses() {
        let len = 3 * 128 * 1024 + 1000;
        let f = file_with(len);
        let spec = TorrentSpec {
            name: Some("win.qcow2".into()),
            piece_length: Some(128 * 1024),
            ..spec()
        };
        let m = make_torrent(f.path(), &spec).unwrap();
        assert_eq!(m.length(), len as u64);
        assert_eq!(m.piece_count(), 4);
        assert_eq!(m.piece_size(3), Some(1000));
        assert_eq!(m.piece_size(4), None);
        assert_eq!(m.name(), "win.qcow2");
        assert!(m.private());
        assert_eq!(m.announce(), Some("http://10.0.0.5:6969/announce"));
        assert_eq!(m.web_seeds(), ["http://10.0.0.5/linbo/images/win/"]);
        let data = std::fs::read(f.path()).unwrap();
        let h: [u8; 20] = Sha1::digest(&data[128 * 1024..256 * 1024]).into();
        assert_eq!(m.piece_hash(1), Some(h));
        let info_hash: [u8; 20] = Sha1::digest(m.info_bytes()).into();
        assert_eq!(m.info_hash().0, info_hash);
        // The outer keys ctorrent needs, in sorted order.
        let text = String::from_utf8_lossy(m.bytes());
        assert!(text.starts_with("d8:announce29:http://10.0.0.5:6969/announce"));
        assert!(text.contains("8:url-listl"));
        let again = Metainfo::from_bytes(m.bytes()).unwrap();
        assert_eq!(again, m);
    }

    #[test]
    fn with_trackers_keeps_info_hash() {
        let f = file_with(200_000);
        let m = make_torrent(f.path(), &spec()).unwrap();
        let moved = TorrentSpec {
            announce: "http://10.9.9.9:6969/announce".into(),
            web_seeds: vec![],
            ..spec()
        };
        let m2 = m.with_trackers(&moved).unwrap();
        assert_eq!(m2.info_hash(), m.info_hash());
        assert_eq!(m2.announce(), Some("http://10.9.9.9:6969/announce"));
        assert!(m2.web_seeds().is_empty());
    }

    #[test]
    fn private_flag_changes_hash() {
        let f = file_with(200_000);
        let a = make_torrent(f.path(), &spec()).unwrap();
        let b = make_torrent(
            f.path(),
            &TorrentSpec {
                private: false,
                ..spec()
            },
        )
        .unwrap();
        assert_ne!(a.info_hash(), b.info_hash());
        assert!(!b.private());
    }

    #[test]
    fn refuses_bad_input() {
        let f = file_with(0);
        assert!(make_torrent(f.path(), &spec()).is_err());
        let f = file_with(10);
        assert!(make_torrent(
            f.path(),
            &TorrentSpec {
                piece_length: Some(100_000),
                ..spec()
            }
        )
        .is_err());
        assert!(make_torrent(
            f.path(),
            &TorrentSpec {
                piece_length: Some(16 * 1024),
                ..spec()
            }
        )
        .is_err());
        assert!(Metainfo::from_bytes(b"d4:infod5:filesleee").is_err());
        assert!(Metainfo::from_bytes(
            b"d4:infod6:lengthi1e4:name1:a12:piece lengthi16384e6:pieces0:ee"
        )
        .is_err());
        assert!(Metainfo::from_bytes(b"le").is_err());
    }

    #[test]
    fn info_hash_hex() {
        let h: InfoHash = "00112233445566778899AABBCCDDEEFF00112233\n"
            .parse()
            .unwrap();
        assert_eq!(h.to_hex(), "00112233445566778899aabbccddeeff00112233");
        assert!("0011".parse::<InfoHash>().is_err());
        assert!("zz112233445566778899aabbccddeeff00112233"
            .parse::<InfoHash>()
            .is_err());
    }
}
