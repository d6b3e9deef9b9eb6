//! Key files and fingerprints. The file format (64 hex digits of the
//! ed25519 seed) is the one of `bootbox_firmware::keys`, whose helpers do
//! the parsing; this module adds creation with mode 0600 and fingerprints.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use bootbox_firmware::keys as fw;
use ed25519_dalek::{SigningKey, VerifyingKey};

use crate::{io, Error, Result};

/// Fingerprint of a public key: SHA-256 of its 32 bytes, hex, shown on
/// both sides at enrolment so an admin can compare them.
pub fn fingerprint(key: &VerifyingKey) -> String {
    crate::sha256_hex(key.as_bytes())
}

/// Short form for humans: the first 16 hex digits in groups of four.
pub fn short_fingerprint(key: &VerifyingKey) -> String {
    let f = fingerprint(key);
    f.as_bytes()[..16]
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(":")
}

/// Reads the secret key at `path`, or creates one (mode 0600, never
/// overwriting) when the file does not exist.
pub fn load_or_create(path: &Path) -> Result<SigningKey> {
    if path.exists() {
        return fw::read_secret(path).map_err(|e| Error::Key(e.to_string()));
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io(format!("cannot create {}", dir.display())))?;
    }
    let key = fw::generate().map_err(|e| Error::Key(e.to_string()))?;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io(format!("cannot create key {}", path.display())))?;
    writeln!(f, "{}", fw::secret_hex(&key))
        .and_then(|()| f.sync_all())
        .map_err(io(format!("cannot write key {}", path.display())))?;
    Ok(key)
}

/// Parses a public key from 64 hex digits.
pub fn parse_public(text: &str) -> Result<VerifyingKey> {
    let bytes = fw::parse_hex32(text).map_err(|e| Error::Key(e.to_string()))?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| Error::Key("not an ed25519 public key".into()))
}

/// Hex text of a public key.
pub fn public_hex(key: &VerifyingKey) -> String {
    fw::public_hex(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn created_once_with_mode_0600() {
        let d = tempfile::tempdir().expect("tmp");
        let p = d.path().join("k/box.key");
        let a = load_or_create(&p).expect("create");
        let b = load_or_create(&p).expect("read");
        assert_eq!(a.to_bytes(), b.to_bytes());
        let mode = std::fs::metadata(&p).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let vk = a.verifying_key();
        assert_eq!(parse_public(&public_hex(&vk)).expect("parse"), vk);
        assert_eq!(short_fingerprint(&vk).len(), 19);
        assert!(parse_public("zz").is_err());
    }
}
