//! The update bundle: one file, streamed.
//!
//! ```text
//! magic      8 bytes  "BBFWBND1"
//! length     u32 LE   length of the manifest (at most 64 KiB)
//! manifest   JSON     {"format":1,"version":"…","files":[{"name","size","sha256"}…]}
//! signature  64 bytes ed25519 over "bootbox-firmware-bundle-v1\0" ‖ manifest
//! payloads            the files, in manifest order, exactly `size` bytes each
//! ```
//!
//! The signature covers the manifest, the manifest pins every payload's
//! size and SHA-256, so nothing unsigned is ever used: payloads are hashed
//! while they are copied and rejected on mismatch. Trailing bytes are
//! ignored, so a bundle can be read from a block device. Signing is
//! deterministic (ed25519), so the same inputs give the same bundle.

use std::io::{Read, Write};
use std::path::Path;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::keys::hex;
use crate::{io, Error, Result};

/// First bytes of every bundle.
pub const MAGIC: &[u8; 8] = b"BBFWBND1";
/// The files a bundle carries, in this order.
pub const FILES: [&str; 2] = ["vmlinuz", "initramfs"];
/// Largest payload accepted (a slot lives on a small boot partition).
pub const MAX_FILE: u64 = 256 << 20;
const MAX_MANIFEST: u32 = 64 << 10;
const DOMAIN: &[u8] = b"bootbox-firmware-bundle-v1\0";

/// What a bundle contains (the signed part).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Format version, 1.
    pub format: u32,
    /// Firmware version, e.g. `0.1.0-3-gabc123`.
    pub version: String,
    /// The payloads, in stream order.
    pub files: Vec<FileEntry>,
}

/// One payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// File name in the slot (one of [`FILES`]).
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256, lower-case hex.
    pub sha256: String,
}

/// Checks that a version string is short and shell/GRUB-safe.
pub fn check_version(v: &str) -> Result<()> {
    let ok = !v.is_empty()
        && v.len() <= 64
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._+-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::Bundle(format!(
            "version {v:?} must be 1-64 characters of A-Z a-z 0-9 . _ + -"
        )))
    }
}

impl Manifest {
    fn validate(&self) -> Result<()> {
        if self.format != 1 {
            return Err(Error::Bundle(format!("unknown format {}", self.format)));
        }
        check_version(&self.version)?;
        let names: Vec<&str> = self.files.iter().map(|f| f.name.as_str()).collect();
        if names != FILES {
            return Err(Error::Bundle(format!(
                "files must be {FILES:?}, got {names:?}"
            )));
        }
        for f in &self.files {
            if f.size == 0 || f.size > MAX_FILE {
                return Err(Error::Bundle(format!("{} has size {}", f.name, f.size)));
            }
            if f.sha256.len() != 64
                || !f
                    .sha256
                    .bytes()
                    .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
            {
                return Err(Error::Bundle(format!("{} has a malformed sha256", f.name)));
            }
        }
        Ok(())
    }
}

fn signed_message(manifest: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(DOMAIN.len() + manifest.len());
    m.extend_from_slice(DOMAIN);
    m.extend_from_slice(manifest);
    m
}

fn hash_file(path: &Path) -> Result<(u64, String)> {
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
    Ok((size, hex(&h.finalize())))
}

/// Writes a signed bundle of `kernel` and `initramfs` to `out`.
pub fn pack(
    key: &SigningKey,
    version: &str,
    kernel: &Path,
    initramfs: &Path,
    out: &mut impl Write,
) -> Result<Manifest> {
    let paths = [kernel, initramfs];
    let mut files = Vec::new();
    for (name, path) in FILES.iter().zip(paths) {
        let (size, sha256) = hash_file(path)?;
        files.push(FileEntry {
            name: (*name).to_string(),
            size,
            sha256,
        });
    }
    let manifest = Manifest {
        format: 1,
        version: version.to_string(),
        files,
    };
    manifest.validate()?;
    let json = serde_json::to_vec(&manifest).map_err(|e| Error::Bundle(e.to_string()))?;
    let sig = key.sign(&signed_message(&json));
    let w = io("cannot write the bundle");
    let len = u32::try_from(json.len()).map_err(|_| Error::Bundle("manifest too large".into()))?;
    out.write_all(MAGIC)
        .and_then(|()| out.write_all(&len.to_le_bytes()))
        .and_then(|()| out.write_all(&json))
        .and_then(|()| out.write_all(&sig.to_bytes()))
        .map_err(w)?;
    for path in paths {
        let mut f =
            std::fs::File::open(path).map_err(io(format!("cannot read {}", path.display())))?;
        std::io::copy(&mut f, out).map_err(io("cannot write the bundle"))?;
    }
    Ok(manifest)
}

/// A bundle whose manifest is signed by the trusted key; its payloads are
/// checked as they are copied out.
#[derive(Debug)]
pub struct Verified<R> {
    inner: R,
    manifest: Manifest,
    next: usize,
}

/// Reads the bundle header from `r` and checks the signature with `key`.
pub fn open<R: Read>(mut r: R, key: &VerifyingKey) -> Result<Verified<R>> {
    let short = |_| Error::Bundle("truncated header".into());
    let mut magic = [0u8; 8];
    r.read_exact(&mut magic).map_err(short)?;
    if &magic != MAGIC {
        return Err(Error::Bundle("not a Bootbox firmware bundle".into()));
    }
    let mut len = [0u8; 4];
    r.read_exact(&mut len).map_err(short)?;
    let len = u32::from_le_bytes(len);
    if len == 0 || len > MAX_MANIFEST {
        return Err(Error::Bundle(format!("manifest length {len} out of range")));
    }
    let mut json = vec![0u8; len as usize];
    r.read_exact(&mut json).map_err(short)?;
    let mut sig = [0u8; 64];
    r.read_exact(&mut sig).map_err(short)?;
    key.verify_strict(&signed_message(&json), &Signature::from_bytes(&sig))
        .map_err(|_| Error::Bundle("signature does not verify with this firmware's key".into()))?;
    let manifest: Manifest =
        serde_json::from_slice(&json).map_err(|e| Error::Bundle(format!("manifest: {e}")))?;
    manifest.validate()?;
    Ok(Verified {
        inner: r,
        manifest,
        next: 0,
    })
}

impl<R: Read> Verified<R> {
    /// The signed manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Copies the next payload (which must be `name`) to `out`. Fails on a
    /// short stream or a hash mismatch — the caller then discards `out`.
    pub fn copy_next(&mut self, name: &str, out: &mut impl Write) -> Result<()> {
        let entry = self
            .manifest
            .files
            .get(self.next)
            .ok_or_else(|| Error::Bundle("no more files".into()))?
            .clone();
        if entry.name != name {
            return Err(Error::Bundle(format!(
                "expected {}, asked for {name}",
                entry.name
            )));
        }
        self.next += 1;
        let mut h = Sha256::new();
        let mut left = entry.size;
        let mut buf = vec![0u8; 1 << 16];
        while left > 0 {
            let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            let n = self
                .inner
                .read(&mut buf[..want])
                .map_err(io("cannot read the bundle"))?;
            if n == 0 {
                return Err(Error::Bundle(format!("{} is truncated", entry.name)));
            }
            h.update(&buf[..n]);
            out.write_all(&buf[..n])
                .map_err(io(format!("cannot write {}", entry.name)))?;
            left -= n as u64;
        }
        if hex(&h.finalize()) != entry.sha256 {
            return Err(Error::Bundle(format!(
                "{} does not match its signed checksum",
                entry.name
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::generate;

    fn sample(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
        let k = dir.join("vmlinuz");
        let i = dir.join("initramfs");
        std::fs::write(&k, b"kernel bytes").unwrap();
        std::fs::write(&i, vec![7u8; 200_000]).unwrap();
        (k, i)
    }

    fn bundle(key: &SigningKey, dir: &Path) -> Vec<u8> {
        let (k, i) = sample(dir);
        let mut out = Vec::new();
        pack(key, "1.2.3", &k, &i, &mut out).unwrap();
        out
    }

    fn extract(bytes: &[u8], key: &VerifyingKey) -> Result<(Vec<u8>, Vec<u8>)> {
        let mut v = open(bytes, key)?;
        let (mut a, mut b) = (Vec::new(), Vec::new());
        v.copy_next("vmlinuz", &mut a)?;
        v.copy_next("initramfs", &mut b)?;
        Ok((a, b))
    }

    #[test]
    fn pack_then_verify_and_extract() {
        let dir = tempfile::tempdir().unwrap();
        let key = generate().unwrap();
        let mut bytes = bundle(&key, dir.path());
        bytes.extend_from_slice(&[0u8; 4096]); // read from a block device
        let v = open(&bytes[..], &key.verifying_key()).unwrap();
        assert_eq!(v.manifest().version, "1.2.3");
        let (k, i) = extract(&bytes, &key.verifying_key()).unwrap();
        assert_eq!(k, b"kernel bytes");
        assert_eq!(i, vec![7u8; 200_000]);
        // Deterministic: same inputs, same bytes.
        assert_eq!(bundle(&key, dir.path()), bundle(&key, dir.path()));
    }

    #[test]
    fn rejects_other_key_tampering_and_truncation() {
        let dir = tempfile::tempdir().unwrap();
        let key = generate().unwrap();
        let other = generate().unwrap();
        let bytes = bundle(&key, dir.path());
        let err = open(&bytes[..], &other.verifying_key()).unwrap_err();
        assert!(err.to_string().contains("signature"), "{err}");

        // A flipped payload byte: header verifies, the copy fails.
        let mut bad = bytes.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        let err = extract(&bad, &key.verifying_key()).unwrap_err();
        assert!(err.to_string().contains("checksum"), "{err}");

        // A flipped manifest byte: the signature fails.
        let mut bad = bytes.clone();
        bad[20] ^= 1;
        assert!(open(&bad[..], &key.verifying_key()).is_err());

        let err = extract(&bytes[..bytes.len() - 10], &key.verifying_key()).unwrap_err();
        assert!(err.to_string().contains("truncated"), "{err}");
        assert!(open(&b"BBFWBND1"[..], &key.verifying_key()).is_err());
        assert!(open(&b"garbage-garbage"[..], &key.verifying_key()).is_err());
    }

    #[test]
    fn version_rules() {
        assert!(check_version("0.1.0-3-gabc").is_ok());
        assert!(check_version("").is_err());
        assert!(check_version("a b").is_err());
        assert!(check_version("x;reboot").is_err());
    }
}
