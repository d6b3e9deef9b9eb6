//! Fastresume: seeding again after a restart without hashing the images.
//!
//! The seeder never verifies data (it trusts its own files); what costs time
//! at start is *making* the torrents, which reads every byte. A small JSON
//! record per image — length, modification time, piece length and
//! info-hash — lets [`prepare_torrent`] reuse the existing `.torrent` when
//! the image is unchanged. Only the metadata is compared ("trust the
//! record"): an image rewritten in place with the same length and mtime
//! would not be noticed; LINBO uploads replace files by rename, which
//! changes the mtime.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};
use tracing::{debug, info, warn};

use crate::error::TorrentError;
use crate::metainfo::{self, hex, make_torrent, InfoHash, Metainfo, TorrentSpec};

/// What is remembered about one image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResumeRecord {
    /// The image path as given.
    pub image: PathBuf,
    /// Its length.
    pub length: u64,
    /// Its modification time: seconds since the epoch.
    pub mtime_secs: i64,
    /// … and nanoseconds.
    pub mtime_nanos: u32,
    /// Piece length of the torrent.
    pub piece_length: u32,
    /// Info-hash of the torrent (hex).
    pub info_hash: String,
}

/// A directory of resume records, one small JSON file per image.
#[derive(Debug, Clone)]
pub struct ResumeStore {
    dir: PathBuf,
}

impl ResumeStore {
    /// Opens (creating) the directory.
    pub fn open(dir: impl Into<PathBuf>) -> io::Result<ResumeStore> {
        let dir = dir.into();
        fs::create_dir_all(&dir)?;
        Ok(ResumeStore { dir })
    }

    fn file_for(&self, image: &Path) -> PathBuf {
        let key = Sha1::digest(image.as_os_str().as_encoded_bytes());
        self.dir.join(format!("{}.json", hex(&key)))
    }

    /// The record of `image`, if any (a damaged record counts as none).
    pub fn get(&self, image: &Path) -> Option<ResumeRecord> {
        let bytes = fs::read(self.file_for(image)).ok()?;
        match serde_json::from_slice::<ResumeRecord>(&bytes) {
            Ok(r) if r.image == image => Some(r),
            Ok(_) => None,
            Err(e) => {
                warn!(image = %image.display(), error = %e, "ignoring damaged resume record");
                None
            }
        }
    }

    /// Stores a record (atomically: temporary file + rename).
    pub fn put(&self, record: &ResumeRecord) -> io::Result<()> {
        let bytes = serde_json::to_vec_pretty(record).map_err(io::Error::other)?;
        write_atomic(&self.file_for(&record.image), &bytes)
    }

    /// Forgets `image`.
    pub fn remove(&self, image: &Path) -> io::Result<()> {
        match fs::remove_file(self.file_for(image)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

/// Writes `bytes` to `path` through a temporary file in the same directory
/// and a rename, so readers never see a partial file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::other("path has no file name"))?;
    let mut tmp_name = name.to_os_string();
    tmp_name.push(format!(".tmp{}", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let result = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// The result of [`prepare_torrent`].
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The torrent to seed (also written to the `.torrent` path).
    pub metainfo: Metainfo,
    /// Whether the image was read and hashed (`false`: reused from the
    /// resume record and the existing `.torrent`).
    pub hashed: bool,
}

/// Returns the torrent of `image`, making it only when needed, and keeps
/// `torrent_path` (LINBO: `<image>.torrent`) up to date.
///
/// * Image unchanged (length, mtime, piece length as recorded) and
///   `torrent_path` holds the recorded info-hash: reused without reading the
///   image. If `spec`'s announce URL or web seeds differ from the file's, the
///   `.torrent` is rewritten (same info-hash); if the name or private flag
///   differ, the info dictionary is rebuilt from the existing piece hashes
///   (new info-hash, still no rehash).
/// * Otherwise the image is hashed, and the `.torrent` and the record are
///   written.
///
/// Blocking (hashing reads the whole image): call it on a blocking thread.
pub fn prepare_torrent(
    image: &Path,
    torrent_path: &Path,
    spec: &TorrentSpec,
    store: &ResumeStore,
) -> Result<Prepared, TorrentError> {
    let meta = fs::metadata(image)?;
    let (secs, nanos) = match meta.modified()?.duration_since(UNIX_EPOCH) {
        Ok(d) => (d.as_secs() as i64, d.subsec_nanos()),
        Err(e) => (-(e.duration().as_secs() as i64), 0),
    };
    if let Some(reused) = reuse(image, torrent_path, spec, store, meta.len(), secs, nanos)? {
        return Ok(Prepared {
            metainfo: reused,
            hashed: false,
        });
    }
    info!(image = %image.display(), bytes = meta.len(), "hashing image for its torrent");
    let started = std::time::Instant::now();
    let metainfo = make_torrent(image, spec)?;
    // The image must not have changed while we read it.
    let after = fs::metadata(image)?;
    if after.len() != meta.len() || after.modified()? != meta.modified()? {
        return Err(TorrentError::Invalid(format!(
            "{} changed while it was hashed",
            image.display()
        )));
    }
    write_atomic(torrent_path, metainfo.bytes())?;
    store.put(&ResumeRecord {
        image: image.to_path_buf(),
        length: meta.len(),
        mtime_secs: secs,
        mtime_nanos: nanos,
        piece_length: metainfo.piece_length(),
        info_hash: metainfo.info_hash().to_hex(),
    })?;
    info!(image = %image.display(), info_hash = %metainfo.info_hash(), secs = started.elapsed().as_secs_f64(), "torrent made");
    Ok(Prepared {
        metainfo,
        hashed: true,
    })
}

fn reuse(
    image: &Path,
    torrent_path: &Path,
    spec: &TorrentSpec,
    store: &ResumeStore,
    length: u64,
    secs: i64,
    nanos: u32,
) -> Result<Option<Metainfo>, TorrentError> {
    let Some(record) = store.get(image) else {
        return Ok(None);
    };
    if record.length != length || record.mtime_secs != secs || record.mtime_nanos != nanos {
        debug!(image = %image.display(), "image changed since its torrent was made");
        return Ok(None);
    }
    if spec.piece_length.is_some_and(|p| p != record.piece_length) {
        return Ok(None);
    }
    let Ok(existing) = Metainfo::read(torrent_path) else {
        return Ok(None);
    };
    let recorded: Option<InfoHash> = record.info_hash.parse().ok();
    if recorded != Some(existing.info_hash()) || existing.length() != length {
        return Ok(None);
    }
    let name = spec.name.clone().unwrap_or_else(|| {
        image
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or(existing.name())
            .to_string()
    });
    let metainfo = if name != existing.name() || spec.private != existing.private() {
        let pieces: Vec<u8> = (0..existing.piece_count())
            .filter_map(|i| existing.piece_hash(i))
            .flatten()
            .collect();
        let rebuilt = metainfo::build(&name, length, existing.piece_length(), &pieces, spec)?;
        store.put(&ResumeRecord {
            info_hash: rebuilt.info_hash().to_hex(),
            ..record
        })?;
        rebuilt
    } else if existing.announce() != Some(spec.announce.as_str())
        || existing.web_seeds() != spec.web_seeds
    {
        existing.with_trackers(spec)?
    } else {
        debug!(image = %image.display(), info_hash = %existing.info_hash(), "torrent reused (fastresume)");
        return Ok(Some(existing));
    };
    write_atomic(torrent_path, metainfo.bytes())?;
    info!(image = %image.display(), info_hash = %metainfo.info_hash(), "torrent rewritten without rehash");
    Ok(Some(metainfo))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (tempfile::TempDir, PathBuf, PathBuf, ResumeStore) {
        let dir = tempfile::tempdir().unwrap();
        let image = dir.path().join("win11.qcow2");
        fs::write(&image, vec![7u8; 300_000]).unwrap();
        let torrent = dir.path().join("win11.qcow2.torrent");
        let store = ResumeStore::open(dir.path().join("resume")).unwrap();
        (dir, image, torrent, store)
    }

    fn spec() -> TorrentSpec {
        TorrentSpec::new("http://10.0.0.5:6969/announce")
    }

    #[test]
    fn reuses_until_the_image_changes() {
        let (_dir, image, torrent, store) = setup();
        let first = prepare_torrent(&image, &torrent, &spec(), &store).unwrap();
        assert!(first.hashed);
        assert_eq!(Metainfo::read(&torrent).unwrap(), first.metainfo);
        let again = prepare_torrent(&image, &torrent, &spec(), &store).unwrap();
        assert!(!again.hashed);
        assert_eq!(again.metainfo.info_hash(), first.metainfo.info_hash());

        // New announce URL: same info-hash, file rewritten, no rehash.
        let moved = TorrentSpec {
            web_seeds: vec!["http://10.0.0.6/x/".into()],
            ..TorrentSpec::new("http://10.0.0.6:6969/announce")
        };
        let m = prepare_torrent(&image, &torrent, &moved, &store).unwrap();
        assert!(!m.hashed);
        assert_eq!(m.metainfo.info_hash(), first.metainfo.info_hash());
        assert_eq!(
            Metainfo::read(&torrent).unwrap().announce(),
            Some("http://10.0.0.6:6969/announce")
        );

        // Public instead of private: new info-hash, still no rehash, and the
        // pieces are the same as a fresh hash would give.
        let public = TorrentSpec {
            private: false,
            ..spec()
        };
        let p = prepare_torrent(&image, &torrent, &public, &store).unwrap();
        assert!(!p.hashed);
        assert_ne!(p.metainfo.info_hash(), first.metainfo.info_hash());
        assert_eq!(
            make_torrent(&image, &public).unwrap().info_hash(),
            p.metainfo.info_hash()
        );
        assert!(
            !prepare_torrent(&image, &torrent, &public, &store)
                .unwrap()
                .hashed
        );

        // The image changes: rehash.
        fs::write(&image, vec![8u8; 300_001]).unwrap();
        let changed = prepare_torrent(&image, &torrent, &public, &store).unwrap();
        assert!(changed.hashed);
        assert_eq!(changed.metainfo.length(), 300_001);
    }

    #[test]
    fn rehashes_without_a_valid_torrent_or_record() {
        let (_dir, image, torrent, store) = setup();
        prepare_torrent(&image, &torrent, &spec(), &store).unwrap();
        fs::write(&torrent, b"garbage").unwrap();
        assert!(
            prepare_torrent(&image, &torrent, &spec(), &store)
                .unwrap()
                .hashed
        );
        store.remove(&image).unwrap();
        assert!(
            prepare_torrent(&image, &torrent, &spec(), &store)
                .unwrap()
                .hashed
        );
        fs::write(store.file_for(&image), b"{").unwrap();
        assert!(store.get(&image).is_none());
        assert!(
            prepare_torrent(&image, &torrent, &spec(), &store)
                .unwrap()
                .hashed
        );
        let other_piece = TorrentSpec {
            piece_length: Some(256 * 1024),
            ..spec()
        };
        assert!(
            prepare_torrent(&image, &torrent, &other_piece, &store)
                .unwrap()
                .hashed
        );
    }
}
