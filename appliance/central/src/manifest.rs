//! Release manifests and their signatures.
//!
//! A manifest says what a release is: image base name, version, the files
//! with size and SHA-256 (plus a BitTorrent info-hash when one was made),
//! notes, the minimum box version that may install it and its creation
//! time. The central signs the manifest's **exact bytes** (its canonical
//! JSON: fixed field order, no spaces) prefixed with a domain string; a box
//! verifies the bytes it received and only then parses them, so no
//! re-serialisation can change what was signed.
//!
//! ```text
//! signed envelope (JSON): {"manifest":"<canonical JSON text>","signature":"<128 hex>","key":"<fingerprint>"}
//! signature = ed25519(central key, "bootbox-central-manifest-v1\0" ‖ manifest bytes)
//! ```

use std::io::Read;
use std::path::Path;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::keys::fingerprint;
use crate::{io, Error, Result};

const DOMAIN: &[u8] = b"bootbox-central-manifest-v1\0";
/// Largest manifest accepted (bytes of its JSON text).
pub const MAX_MANIFEST: usize = 64 << 10;

/// What a release contains (the signed part).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Format version, 1.
    pub format: u32,
    /// Image base name (`<linbo>/images/<image>/`).
    pub image: String,
    /// Release version, e.g. `2026-11` or `20261122-1`.
    pub version: String,
    /// The files, image files (`.qcow2`, `.qdiff`) first.
    pub files: Vec<FileEntry>,
    /// BitTorrent v1 info-hash of the image file, when the central made a
    /// torrent (the swarm is the next step; HTTP is used today).
    #[serde(default)]
    pub info_hash: Option<String>,
    /// Release notes for the admins.
    #[serde(default)]
    pub notes: String,
    /// Oldest box version that may install this release.
    pub min_box_version: String,
    /// Creation time (ms since the Unix epoch).
    pub created_ms: u64,
}

/// One file of a release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// File name inside the image folder (no path).
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256, lower-case hex.
    pub sha256: String,
}

/// A manifest with the central's signature, as stored and sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedManifest {
    /// The manifest's canonical JSON text (what was signed).
    pub manifest: String,
    /// ed25519 signature, hex.
    pub signature: String,
    /// Fingerprint of the signing key (informational; the box checks the
    /// signature against the key it pinned, never against this field).
    pub key: String,
}

/// Checks a name (image base, file, version): 1–128 of `A-Z a-z 0-9 . _ + -`,
/// not starting with a dot.
pub fn check_name(what: &str, s: &str) -> Result<()> {
    let ok = !s.is_empty()
        && s.len() <= 128
        && !s.starts_with('.')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._+-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "{what} {s:?} must be 1-128 characters of A-Z a-z 0-9 . _ + - (no leading dot)"
        )))
    }
}

impl Manifest {
    /// Release id: `<image>-<version>`.
    pub fn id(&self) -> String {
        format!("{}-{}", self.image, self.version)
    }

    /// The canonical bytes that are signed.
    pub fn canonical(&self) -> Vec<u8> {
        // Struct fields serialise in declaration order, without spaces:
        // deterministic for a given manifest.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Checks the fields (names, hashes, sizes).
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Manifest(m));
        if self.format != 1 {
            return bad(format!("unknown format {}", self.format));
        }
        check_name("image", &self.image).or_else(|e| bad(e.to_string()))?;
        check_name("version", &self.version).or_else(|e| bad(e.to_string()))?;
        if self.files.is_empty() {
            return bad("no files".into());
        }
        let mut seen = std::collections::BTreeSet::new();
        for f in &self.files {
            check_name("file", &f.name).or_else(|e| bad(e.to_string()))?;
            if !seen.insert(f.name.as_str()) {
                return bad(format!("{} is listed twice", f.name));
            }
            if !crate::is_sha256(&f.sha256) {
                return bad(format!("{} has a malformed sha256", f.name));
            }
        }
        if !self.files.iter().any(|f| is_image_file(&f.name)) {
            return bad("no .qcow2 or .qdiff image file".into());
        }
        parse_version(&self.min_box_version).ok_or_else(|| {
            Error::Manifest(format!("bad min_box_version {:?}", self.min_box_version))
        })?;
        Ok(())
    }

    /// Signs the manifest.
    pub fn sign(&self, key: &SigningKey) -> Result<SignedManifest> {
        self.validate()?;
        let bytes = self.canonical();
        let sig = key.sign(&message(&bytes));
        Ok(SignedManifest {
            manifest: String::from_utf8(bytes).map_err(|_| Error::Manifest("not UTF-8".into()))?,
            signature: crate::hex(&sig.to_bytes()),
            key: fingerprint(&key.verifying_key()),
        })
    }
}

/// True for LINBO image files (`.qcow2`, `.qdiff`).
pub fn is_image_file(name: &str) -> bool {
    name.ends_with(".qcow2") || name.ends_with(".qdiff")
}

fn message(bytes: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(DOMAIN.len() + bytes.len());
    m.extend_from_slice(DOMAIN);
    m.extend_from_slice(bytes);
    m
}

impl SignedManifest {
    /// Verifies the signature with the pinned `key`, then parses and checks
    /// the manifest. Nothing of an unverified manifest is ever used.
    pub fn verify(&self, key: &VerifyingKey) -> Result<Manifest> {
        if self.manifest.len() > MAX_MANIFEST {
            return Err(Error::Manifest(format!(
                "{} bytes, more than {MAX_MANIFEST}",
                self.manifest.len()
            )));
        }
        let raw = parse_sig(&self.signature)?;
        let sig = Signature::from_bytes(&raw);
        key.verify_strict(&message(self.manifest.as_bytes()), &sig)
            .map_err(|_| {
                Error::Manifest(format!(
                    "bad signature (signed by key {}, pinned key is {})",
                    short(&self.key),
                    short(&fingerprint(key))
                ))
            })?;
        let m: Manifest = serde_json::from_str(&self.manifest)
            .map_err(|e| Error::Manifest(format!("signed but unreadable: {e}")))?;
        m.validate()?;
        Ok(m)
    }
}

fn short(f: &str) -> &str {
    f.get(..16).unwrap_or(f)
}

fn parse_sig(text: &str) -> Result<[u8; 64]> {
    let t = text.trim();
    if t.len() != 128 || !t.is_ascii() {
        return Err(Error::Manifest("malformed signature".into()));
    }
    let mut out = [0u8; 64];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&t[2 * i..2 * i + 2], 16)
            .map_err(|_| Error::Manifest("malformed signature".into()))?;
    }
    Ok(out)
}

/// Size and SHA-256 of a file.
pub fn hash_file(path: &Path) -> Result<(u64, String)> {
    let mut f = std::fs::File::open(path).map_err(io(format!("cannot read {}", path.display())))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = f
            .read(&mut buf)
            .map_err(io(format!("cannot read {}", path.display())))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        size += n as u64;
    }
    Ok((size, crate::hex(&h.finalize())))
}

/// Checks a downloaded file against its manifest entry: size first (cheap),
/// then every byte's SHA-256.
pub fn verify_file(entry: &FileEntry, path: &Path) -> Result<()> {
    let len = std::fs::metadata(path)
        .map_err(io(format!("cannot read {}", path.display())))?
        .len();
    // Size first: no need to hash a file of the wrong length.
    check_file(entry, len, &entry.sha256)?;
    let (len, sha) = hash_file(path)?;
    check_file(entry, len, &sha)
}

/// Checks a file's size and SHA-256 (computed elsewhere, e.g. while it was
/// downloaded) against its manifest entry.
pub fn check_file(entry: &FileEntry, len: u64, sha256: &str) -> Result<()> {
    if len != entry.size {
        return Err(Error::File(format!(
            "{}: size {len} bytes, the manifest says {}",
            entry.name, entry.size
        )));
    }
    if sha256 != entry.sha256 {
        return Err(Error::File(format!(
            "{}: sha256 {sha256}, the manifest says {}",
            entry.name, entry.sha256
        )));
    }
    Ok(())
}

/// Parses `MAJOR.MINOR.PATCH` (a pre-release suffix after `-` is ignored).
pub fn parse_version(v: &str) -> Option<(u64, u64, u64)> {
    let core = v.split(['-', '+']).next()?;
    let mut it = core.split('.').map(|p| p.parse::<u64>().ok());
    let r = (it.next()??, it.next()??, it.next()??);
    it.next().is_none().then_some(r)
}

/// True when a box of version `have` may install a release that needs
/// `need`.
pub fn box_version_ok(have: &str, need: &str) -> bool {
    match (parse_version(have), parse_version(need)) {
        (Some(h), Some(n)) => h >= n,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SigningKey {
        bootbox_firmware::keys::generate().expect("key")
    }

    fn manifest(dir: &Path) -> Manifest {
        std::fs::write(dir.join("win11.qcow2"), b"image bytes").expect("write");
        let (size, sha256) = hash_file(&dir.join("win11.qcow2")).expect("hash");
        Manifest {
            format: 1,
            image: "win11".into(),
            version: "2026-11".into(),
            files: vec![FileEntry {
                name: "win11.qcow2".into(),
                size,
                sha256,
            }],
            info_hash: None,
            notes: "November".into(),
            min_box_version: "0.1.0".into(),
            created_ms: 1,
        }
    }

    #[test]
    fn signed_manifest_verifies_with_the_pinned_key_only() {
        let d = tempfile::tempdir().expect("tmp");
        let k = key();
        let m = manifest(d.path());
        let s = m.sign(&k).expect("sign");
        assert_eq!(s.verify(&k.verifying_key()).expect("verify"), m);
        // Deterministic: same manifest, same bytes, same signature.
        assert_eq!(m.sign(&k).expect("again"), s);

        let other = key();
        let e = s.verify(&other.verifying_key()).expect_err("wrong key");
        assert!(e.to_string().contains("bad signature"), "{e}");
    }

    #[test]
    fn tampered_manifest_is_rejected() {
        let d = tempfile::tempdir().expect("tmp");
        let k = key();
        let s = manifest(d.path()).sign(&k).expect("sign");
        for (from, to) in [("2026-11", "2026-12"), ("\"size\":11", "\"size\":12")] {
            let mut t = s.clone();
            assert!(t.manifest.contains(from));
            t.manifest = t.manifest.replace(from, to);
            let e = t.verify(&k.verifying_key()).expect_err("tampered");
            assert!(matches!(e, Error::Manifest(_)), "{e}");
        }
        let mut t = s.clone();
        t.signature = "00".repeat(64);
        assert!(t.verify(&k.verifying_key()).is_err());
        t.signature = "xyz".into();
        assert!(t.verify(&k.verifying_key()).is_err());
    }

    #[test]
    fn files_are_checked_by_size_and_hash() {
        let d = tempfile::tempdir().expect("tmp");
        let m = manifest(d.path());
        let f = d.path().join("win11.qcow2");
        verify_file(&m.files[0], &f).expect("matches");
        std::fs::write(&f, b"image bytez").expect("write");
        let e = verify_file(&m.files[0], &f).expect_err("hash");
        assert!(e.to_string().contains("sha256"), "{e}");
        std::fs::write(&f, b"short").expect("write");
        let e = verify_file(&m.files[0], &f).expect_err("size");
        assert!(e.to_string().contains("size 5 bytes"), "{e}");
    }

    #[test]
    fn invalid_manifests_are_not_signed() {
        let d = tempfile::tempdir().expect("tmp");
        let k = key();
        let mut m = manifest(d.path());
        m.files[0].name = "../etc/passwd".into();
        assert!(m.sign(&k).is_err());
        let mut m = manifest(d.path());
        m.files[0].name = "win11.postsync".into();
        assert!(m.sign(&k).is_err(), "an image file is required");
        let mut m = manifest(d.path());
        m.min_box_version = "new".into();
        assert!(m.sign(&k).is_err());
    }

    #[test]
    fn box_versions_compare_numerically() {
        assert!(box_version_ok("0.10.0", "0.9.1"));
        assert!(!box_version_ok("0.1.0", "0.2.0"));
        assert!(box_version_ok("1.2.3-rc1", "1.2.3"));
        assert!(!box_version_ok("x", "0.1.0"));
    }
}
