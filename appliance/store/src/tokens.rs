//! API tokens for scripts and the REST API: shown once at creation,
//! stored only as an argon2id hash, scoped and revocable.
//!
//! A token reads `bbx.<name>.<secret>`; the name selects the stored hash,
//! the secret (32 random bytes, hex) is verified against it.

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::Argon2;
use serde::{Deserialize, Serialize};

use crate::model::now_ms;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Read-only API access.
    Read,
    /// Manage images (upload, restore, delete) and read.
    Images,
    /// Everything.
    Admin,
}

impl Scope {
    /// True when a token with this scope may do what `needed` requires.
    pub fn allows(self, needed: Scope) -> bool {
        match self {
            Scope::Admin => true,
            Scope::Images => matches!(needed, Scope::Images | Scope::Read),
            Scope::Read => needed == Scope::Read,
        }
    }
}

impl std::str::FromStr for Scope {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "read" => Ok(Self::Read),
            "images" => Ok(Self::Images),
            "admin" => Ok(Self::Admin),
            o => Err(format!("unknown scope '{o}' (read, images, admin)")),
        }
    }
}

/// A stored token (never the secret itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiToken {
    /// Unique name, `a-z 0-9 -`.
    pub name: String,
    /// argon2id PHC string of the secret.
    pub hash: String,
    /// Permissions.
    pub scope: Scope,
    /// Creation time (ms since epoch).
    pub created_ms: u64,
    /// Last successful use (ms since epoch), 0 if never.
    #[serde(default)]
    pub last_used_ms: u64,
}

/// Checks a token name.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 32
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "token name '{name}' must be 1–32 of a-z, 0-9 and '-'"
        ))
    }
}

/// Creates a new token: the stored record and the one-time secret text.
pub fn mint(name: &str, scope: Scope) -> Result<(ApiToken, String), String> {
    check_name(name)?;
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(|e| format!("no randomness: {e}"))?;
    let secret_hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    let hash: PasswordHash = Argon2::default()
        .hash_password(secret_hex.as_bytes())
        .map_err(|e| format!("cannot hash: {e}"))?;
    let token = ApiToken {
        name: name.to_string(),
        hash: hash.to_string(),
        scope,
        created_ms: now_ms(),
        last_used_ms: 0,
    };
    Ok((token, format!("bbx.{name}.{secret_hex}")))
}

/// Splits `bbx.<name>.<secret>` into name and secret.
pub fn split(text: &str) -> Option<(&str, &str)> {
    let rest = text.trim().strip_prefix("bbx.")?;
    let (name, secret) = rest.split_once('.')?;
    (check_name(name).is_ok() && secret.len() == 64).then_some((name, secret))
}

/// True when `secret` matches the stored hash.
pub fn verify(token: &ApiToken, secret: &str) -> bool {
    PasswordHash::new(&token.hash)
        .map(|h| {
            Argon2::default()
                .verify_password(secret.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mint_split_verify() {
        let (tok, text) = mint("ci-upload", Scope::Images).expect("mint");
        assert!(tok.hash.starts_with("$argon2id$"), "{}", tok.hash);
        assert!(!tok.hash.contains(&text[13..]), "secret not stored");
        let (name, secret) = split(&text).expect("split");
        assert_eq!(name, "ci-upload");
        assert!(verify(&tok, secret));
        assert!(!verify(&tok, &"0".repeat(64)));
        assert!(split("bbx.x.short").is_none());
        assert!(split("Bearer nonsense").is_none());
        assert!(Scope::Admin.allows(Scope::Images));
        assert!(!Scope::Read.allows(Scope::Images));
    }
}
