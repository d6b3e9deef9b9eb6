//! Box requests signed with the box's key.
//!
//! Boxes sit behind NAT and start every connection. Each request carries:
//!
//! ```text
//! X-Bootbox-Box:       <box id>
//! X-Bootbox-Time:      <ms since the Unix epoch>
//! X-Bootbox-Nonce:     <32 hex digits, fresh per request>
//! X-Bootbox-Signature: ed25519(box key, "bootbox-central-request-v1\0" ‖
//!                      METHOD \n path?query \n box \n time \n nonce \n sha256(body))
//! ```
//!
//! The central accepts a request only when the signature verifies with the
//! key the box enrolled with, the time is within [`WINDOW_MS`] of its own
//! clock and the nonce was not seen within that window ([`ReplayGuard`]):
//! a captured request cannot be replayed, neither later nor right away.

use std::collections::HashMap;
use std::sync::Mutex;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

use crate::{random_hex, sha256_hex, Result};

/// Header names.
pub const H_BOX: &str = "x-bootbox-box";
/// Request time header.
pub const H_TIME: &str = "x-bootbox-time";
/// Nonce header.
pub const H_NONCE: &str = "x-bootbox-nonce";
/// Signature header.
pub const H_SIG: &str = "x-bootbox-signature";
/// How far a request's time may be from the central's clock.
pub const WINDOW_MS: u64 = 5 * 60 * 1000;

const DOMAIN: &str = "bootbox-central-request-v1\0";

/// The four header values of a signed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHeaders {
    /// Box id.
    pub box_id: String,
    /// Time, ms.
    pub time_ms: u64,
    /// Nonce, hex.
    pub nonce: String,
    /// Signature, hex.
    pub signature: String,
}

fn message(
    method: &str,
    path: &str,
    box_id: &str,
    time_ms: u64,
    nonce: &str,
    body: &[u8],
) -> String {
    format!(
        "{DOMAIN}{method}\n{path}\n{box_id}\n{time_ms}\n{nonce}\n{}",
        sha256_hex(body)
    )
}

/// Signs a request of `box_id` (called by the box for every request).
pub fn sign(
    key: &SigningKey,
    box_id: &str,
    method: &str,
    path: &str,
    body: &[u8],
    now_ms: u64,
) -> Result<SignedHeaders> {
    let nonce = random_hex(16)?;
    let m = message(method, path, box_id, now_ms, &nonce, body);
    Ok(SignedHeaders {
        box_id: box_id.to_string(),
        time_ms: now_ms,
        nonce,
        signature: crate::hex(&key.sign(m.as_bytes()).to_bytes()),
    })
}

/// Why a signed request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// Headers missing or malformed.
    #[error("request not signed: {0}")]
    Missing(&'static str),
    /// The box id is not enrolled (or was removed).
    #[error("unknown box")]
    UnknownBox,
    /// Time too far from the central's clock.
    #[error("request time is outside the allowed window (clock skew or replay)")]
    Stale,
    /// Nonce seen before.
    #[error("replayed request")]
    Replay,
    /// Signature does not verify with the box's key.
    #[error("bad request signature")]
    BadSignature,
}

/// Remembers nonces for [`WINDOW_MS`].
#[derive(Debug, Default)]
pub struct ReplayGuard {
    seen: Mutex<HashMap<String, u64>>,
}

impl ReplayGuard {
    /// Verifies a request of the box whose public key is `key`, and records
    /// its nonce. The signature is checked before the nonce is recorded, so
    /// nobody can burn another box's nonces.
    #[allow(clippy::too_many_arguments)]
    pub fn verify(
        &self,
        key: &VerifyingKey,
        h: &SignedHeaders,
        method: &str,
        path: &str,
        body: &[u8],
        now_ms: u64,
    ) -> std::result::Result<(), AuthError> {
        if h.time_ms.abs_diff(now_ms) > WINDOW_MS {
            return Err(AuthError::Stale);
        }
        if h.nonce.len() != 32 || !h.nonce.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(AuthError::Missing("nonce"));
        }
        let raw = decode_sig(&h.signature).ok_or(AuthError::Missing("signature"))?;
        let m = message(method, path, &h.box_id, h.time_ms, &h.nonce, body);
        key.verify_strict(m.as_bytes(), &Signature::from_bytes(&raw))
            .map_err(|_| AuthError::BadSignature)?;
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.retain(|_, exp| *exp >= now_ms);
        let k = format!("{}/{}", h.box_id, h.nonce);
        if seen.contains_key(&k) {
            return Err(AuthError::Replay);
        }
        seen.insert(k, h.time_ms.max(now_ms) + WINDOW_MS);
        Ok(())
    }
}

fn decode_sig(t: &str) -> Option<[u8; 64]> {
    if t.len() != 128 || !t.is_ascii() {
        return None;
    }
    let mut out = [0u8; 64];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&t[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_requests_verify_once_within_the_window() {
        let k = bootbox_firmware::keys::generate().expect("key");
        let vk = k.verifying_key();
        let g = ReplayGuard::default();
        let now = 1_000_000_000;
        let h = sign(&k, "box-1", "POST", "/central/v1/status", b"{}", now).expect("sign");
        assert_eq!(
            g.verify(&vk, &h, "POST", "/central/v1/status", b"{}", now + 10),
            Ok(())
        );
        assert_eq!(
            g.verify(&vk, &h, "POST", "/central/v1/status", b"{}", now + 20),
            Err(AuthError::Replay)
        );
        let h = sign(&k, "box-1", "POST", "/central/v1/status", b"{}", now).expect("sign");
        assert_eq!(
            g.verify(&vk, &h, "POST", "/central/v1/status", b"{\"x\":1}", now),
            Err(AuthError::BadSignature),
            "body is covered"
        );
        assert_eq!(
            g.verify(&vk, &h, "GET", "/central/v1/status", b"{}", now),
            Err(AuthError::BadSignature),
            "method is covered"
        );
        assert_eq!(
            g.verify(
                &vk,
                &h,
                "POST",
                "/central/v1/status",
                b"{}",
                now + WINDOW_MS + 1
            ),
            Err(AuthError::Stale)
        );
        let other = bootbox_firmware::keys::generate().expect("key");
        assert_eq!(
            g.verify(
                &other.verifying_key(),
                &h,
                "POST",
                "/central/v1/status",
                b"{}",
                now
            ),
            Err(AuthError::BadSignature)
        );
        let mut t = h.clone();
        t.box_id = "box-2".into();
        assert_eq!(
            g.verify(&vk, &t, "POST", "/central/v1/status", b"{}", now),
            Err(AuthError::BadSignature),
            "box id is covered"
        );
    }
}
