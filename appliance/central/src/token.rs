//! Enrolment tokens: `bbe.<id>.<secret>`, one per school enrolment.
//!
//! Same shape and rules as the box's one-time upload credentials
//! (`bootbox_store::secrets`): the id selects the record, the secret is
//! never stored, checking and spending happen in one write transaction
//! ([`crate::db::CentralDb::redeem_token`]), so a token passes at most
//! once, and it expires. The secret is 256 random bits, so a plain SHA-256
//! of it is as good as a password hash (nothing to brute-force) and keeps
//! the check cheap on an unauthenticated endpoint.

use serde::{Deserialize, Serialize};

use crate::{random_hex, sha256_hex, Result};

/// A stored enrolment token (never the secret).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EnrolToken {
    /// Public id (`bbe.<id>.…`), 16 hex digits.
    pub id: String,
    /// The school a box enrolled with it belongs to.
    pub school: String,
    /// SHA-256 (hex) of the secret.
    pub hash: String,
    /// Issue time (ms since epoch).
    pub created_ms: u64,
    /// Not valid after this time (ms since epoch).
    pub expires_ms: u64,
    /// When it was used (then it is spent).
    pub used_ms: Option<u64>,
    /// The box enrolled with it.
    pub used_by: Option<String>,
}

/// Why a token was refused. Never contains the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// Malformed, unknown id or wrong secret.
    #[error("unknown enrolment token")]
    Unknown,
    /// Used before.
    #[error("the enrolment token was already used")]
    Spent,
    /// Past its time.
    #[error("the enrolment token has expired")]
    Expired,
}

/// Makes a new token for `school`, valid `ttl_ms`: the record to store and
/// the text to hand to the school (shown once).
pub fn mint(school: &str, ttl_ms: u64, now_ms: u64) -> Result<(EnrolToken, String)> {
    let id = random_hex(8)?;
    let secret = random_hex(32)?;
    let t = EnrolToken {
        id: id.clone(),
        school: school.to_string(),
        hash: sha256_hex(secret.as_bytes()),
        created_ms: now_ms,
        expires_ms: now_ms.saturating_add(ttl_ms),
        used_ms: None,
        used_by: None,
    };
    Ok((t, format!("bbe.{id}.{secret}")))
}

/// Splits `bbe.<id>.<secret>`.
pub fn split(text: &str) -> Option<(&str, &str)> {
    let rest = text.trim().strip_prefix("bbe.")?;
    let (id, secret) = rest.split_once('.')?;
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    (hex(id, 16) && hex(secret, 64)).then_some((id, secret))
}

/// Checks `secret` against the record at time `now_ms` (does not spend it).
pub fn check(t: &EnrolToken, secret: &str, now_ms: u64) -> std::result::Result<(), Refused> {
    let given = sha256_hex(secret.as_bytes());
    // Compare hashes in constant time (both are 64 hex digits).
    let diff = given
        .bytes()
        .zip(t.hash.bytes())
        .fold(given.len() ^ t.hash.len(), |acc, (a, b)| {
            acc | usize::from(a ^ b)
        });
    if diff != 0 {
        Err(Refused::Unknown)
    } else if t.used_ms.is_some() {
        Err(Refused::Spent)
    } else if now_ms > t.expires_ms {
        Err(Refused::Expired)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mint_split_check() {
        let (mut t, text) = mint("school-a", 1000, 5).expect("mint");
        let (id, secret) = split(&text).expect("split");
        assert_eq!(id, t.id);
        assert!(!t.hash.contains(secret));
        assert_eq!(check(&t, secret, 6), Ok(()));
        assert_eq!(check(&t, &"0".repeat(64), 6), Err(Refused::Unknown));
        assert_eq!(check(&t, secret, 1006), Err(Refused::Expired));
        t.used_ms = Some(7);
        assert_eq!(check(&t, secret, 8), Err(Refused::Spent));
        assert!(split("bbe.x.y").is_none());
        assert!(split(&text.replace("bbe.", "bbu.")).is_none());
    }
}
