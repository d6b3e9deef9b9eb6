//! Signing keys as text files: 64 hex digits (the 32-byte ed25519 seed
//! for the secret key, the 32-byte point for the public key) and a newline.
//!
//! The public key is baked into the firmware (`/etc/bootbox/firmware.pub`);
//! the secret key stays with whoever builds the updates.

use std::path::Path;

use ed25519_dalek::{SigningKey, VerifyingKey};

use crate::{io, Error, Result};

/// Generates a new key pair from the operating system's randomness.
pub fn generate() -> Result<SigningKey> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| Error::Key(format!("no randomness: {e}")))?;
    Ok(SigningKey::from_bytes(&seed))
}

/// Hex text of the secret key's seed.
pub fn secret_hex(key: &SigningKey) -> String {
    hex(&key.to_bytes())
}

/// Hex text of a public key.
pub fn public_hex(key: &VerifyingKey) -> String {
    hex(key.as_bytes())
}

/// Reads a secret key file.
pub fn read_secret(path: &Path) -> Result<SigningKey> {
    let bytes = read_hex32(path)?;
    Ok(SigningKey::from_bytes(&bytes))
}

/// Reads a public key file.
pub fn read_public(path: &Path) -> Result<VerifyingKey> {
    let bytes = read_hex32(path)?;
    VerifyingKey::from_bytes(&bytes)
        .map_err(|_| Error::Key(format!("{} is not an ed25519 public key", path.display())))
}

/// Parses 64 hex digits (surrounding whitespace allowed).
pub fn parse_hex32(text: &str) -> Result<[u8; 32]> {
    let t = text.trim();
    if t.len() != 64 || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::Key("expected 64 hex digits".into()));
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&t[2 * i..2 * i + 2], 16)
            .map_err(|_| Error::Key("expected 64 hex digits".into()))?;
    }
    Ok(out)
}

fn read_hex32(path: &Path) -> Result<[u8; 32]> {
    let text =
        std::fs::read_to_string(path).map_err(io(format!("cannot read key {}", path.display())))?;
    parse_hex32(&text).map_err(|e| Error::Key(format!("{}: {e}", path.display())))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_roundtrip_and_errors() {
        let key = generate().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (s, p) = (dir.path().join("k"), dir.path().join("k.pub"));
        std::fs::write(&s, secret_hex(&key) + "\n").unwrap();
        std::fs::write(&p, public_hex(&key.verifying_key())).unwrap();
        assert_eq!(read_secret(&s).unwrap().to_bytes(), key.to_bytes());
        assert_eq!(read_public(&p).unwrap(), key.verifying_key());
        std::fs::write(&p, "xyz").unwrap();
        assert!(matches!(read_public(&p), Err(Error::Key(_))));
        assert!(parse_hex32(&"g".repeat(64)).is_err());
    }
}
