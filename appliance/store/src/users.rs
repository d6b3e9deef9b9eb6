//! Web UI accounts and UI-only settings (schema version 5).
//!
//! Admin accounts are stored with an argon2id hash of the password; the
//! first account is created by the setup wizard. Sessions live in the web
//! process, not here. The optional central enrolment (URL + token) is kept
//! beside the accounts until the central server arrives.

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::Argon2;
use redb::{ReadableDatabase, ReadableTableMetadata, TableDefinition};
use serde::{Deserialize, Serialize};

use crate::codec::Json;
use crate::model::{now_ms, Event, SchoolSettings};
use crate::store::append_event;
use crate::{tables, Result, Store, StoreError};

/// Web UI accounts by user name. Since version 5.
pub const USERS: TableDefinition<&str, Json<User>> = TableDefinition::new("users");
/// UI settings (central enrolment) under the key `enrolment`. Since version 5.
pub const UI_SETTINGS: TableDefinition<&str, Json<Enrolment>> = TableDefinition::new("ui_settings");

/// Minimum password length for admin accounts.
pub const MIN_PASSWORD: usize = 10;

/// A web UI account (never the password itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Login name, `a-z 0-9 . _ -`.
    pub name: String,
    /// argon2id PHC string of the password.
    pub hash: String,
    /// Creation time (ms since epoch).
    pub created_ms: u64,
    /// Last successful sign-in (ms since epoch), 0 if never.
    #[serde(default)]
    pub last_login_ms: u64,
}

/// Enrolment with a central server: stored and validated now, used later.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Enrolment {
    /// `https://…` address of the central server; empty when not enrolled.
    pub url: String,
    /// Enrolment token given by the central server.
    pub token: String,
}

/// Checks a login name.
pub fn check_user_name(name: &str) -> std::result::Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 32
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "user name '{name}' must be 1–32 of a-z, 0-9, '.', '_' and '-'"
        ))
    }
}

/// Checks a new password.
pub fn check_password(pw: &str) -> std::result::Result<(), String> {
    if pw.chars().count() < MIN_PASSWORD {
        return Err(format!(
            "the password must have at least {MIN_PASSWORD} characters"
        ));
    }
    if pw.len() > 1024 {
        return Err("the password is too long (at most 1024 bytes)".into());
    }
    Ok(())
}

/// Checks enrolment input: empty (not enrolled) or an http(s) URL and a token.
pub fn check_enrolment(e: &Enrolment) -> std::result::Result<(), String> {
    if e.url.is_empty() && e.token.is_empty() {
        return Ok(());
    }
    let rest = e
        .url
        .strip_prefix("https://")
        .or_else(|| e.url.strip_prefix("http://"))
        .ok_or("the central server address must start with https:// (or http://)")?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    if !host_ok || e.url.len() > 512 || e.url.chars().any(char::is_whitespace) {
        return Err(format!("'{}' is not a valid server address", e.url));
    }
    let tok_ok = (16..=512).contains(&e.token.len())
        && e.token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '=' | '+' | '/'));
    if !tok_ok {
        return Err(
            "the enrolment token must be 16–512 characters of letters, digits and . _ - = + /"
                .into(),
        );
    }
    Ok(())
}

fn hash_password(pw: &str) -> Result<String> {
    let h: PasswordHash = Argon2::default()
        .hash_password(pw.as_bytes())
        .map_err(|e| StoreError::Invalid(format!("cannot hash the password: {e}")))?;
    Ok(h.to_string())
}

fn verify_password(user: &User, pw: &str) -> bool {
    PasswordHash::new(&user.hash)
        .map(|h| Argon2::default().verify_password(pw.as_bytes(), &h).is_ok())
        .unwrap_or(false)
}

impl Store {
    /// True when at least one admin account exists (setup was done).
    pub fn has_admin(&self) -> Result<bool> {
        let txn = self.db().begin_read()?;
        Ok(txn.open_table(USERS)?.len()? > 0)
    }

    /// All accounts (hashes only).
    pub fn users(&self) -> Result<Vec<User>> {
        let txn = self.db().begin_read()?;
        tables::all(&txn.open_table(USERS)?, "users")
    }

    /// Creates or replaces the password of account `name`.
    pub fn set_user_password(&self, name: &str, password: &str, actor: &str) -> Result<()> {
        check_user_name(name).map_err(StoreError::Invalid)?;
        check_password(password).map_err(StoreError::Invalid)?;
        let hash = hash_password(password)?;
        let txn = self.db().begin_write()?;
        let existed = {
            let mut t = txn.open_table(USERS)?;
            let old: Option<User> = tables::get(&t, "users", name)?;
            let user = User {
                name: name.to_string(),
                hash,
                created_ms: old.as_ref().map_or_else(now_ms, |u| u.created_ms),
                last_login_ms: old.as_ref().map_or(0, |u| u.last_login_ms),
            };
            tables::put(&mut t, name, user)?;
            old.is_some()
        };
        let (action, msg) = if existed {
            ("user.password", format!("password of {name} changed"))
        } else {
            ("user.create", format!("admin account {name} created"))
        };
        append_event(&txn, Event::audit(actor, action, msg))?;
        txn.commit()?;
        Ok(())
    }

    /// Checks a password; on success records the sign-in time and returns
    /// the account.
    pub fn verify_user(&self, name: &str, password: &str) -> Result<Option<User>> {
        if check_user_name(name).is_err() {
            return Ok(None);
        }
        let user = {
            let txn = self.db().begin_read()?;
            let t = txn.open_table(USERS)?;
            tables::get::<User, _>(&t, "users", name)?
        };
        let Some(mut user) = user else {
            // Same work as a real check, so timing does not reveal names.
            let _ = hash_password(password);
            return Ok(None);
        };
        if !verify_password(&user, password) {
            return Ok(None);
        }
        user.last_login_ms = now_ms();
        let txn = self.db().begin_write()?;
        tables::put(&mut txn.open_table(USERS)?, name, user.clone())?;
        txn.commit()?;
        Ok(Some(user))
    }

    /// The stored central enrolment (empty when none).
    pub fn enrolment(&self) -> Result<Enrolment> {
        let txn = self.db().begin_read()?;
        Ok(
            tables::get(&txn.open_table(UI_SETTINGS)?, "ui_settings", "enrolment")?
                .unwrap_or_default(),
        )
    }

    /// Validates and stores the central enrolment.
    pub fn set_enrolment(&self, e: Enrolment, actor: &str) -> Result<()> {
        check_enrolment(&e).map_err(StoreError::Invalid)?;
        let msg = if e.url.is_empty() {
            "central enrolment cleared".to_string()
        } else {
            format!("central enrolment set to {}", e.url)
        };
        let txn = self.db().begin_write()?;
        tables::put(&mut txn.open_table(UI_SETTINGS)?, "enrolment", e)?;
        append_event(&txn, Event::audit(actor, "enrolment.update", msg))?;
        txn.commit()?;
        Ok(())
    }

    /// The first-run wizard in one transaction: admin account (when
    /// `admin` is given), school settings and enrolment, with audit events.
    pub fn complete_setup(
        &self,
        admin: Option<(&str, &str)>,
        settings: SchoolSettings,
        enrolment: Enrolment,
        actor: &str,
    ) -> Result<()> {
        check_enrolment(&enrolment).map_err(StoreError::Invalid)?;
        let hashed = match admin {
            Some((name, pw)) => {
                check_user_name(name).map_err(StoreError::Invalid)?;
                check_password(pw).map_err(StoreError::Invalid)?;
                Some((name, hash_password(pw)?))
            }
            None => None,
        };
        let txn = self.db().begin_write()?;
        if let Some((name, hash)) = hashed {
            let mut t = txn.open_table(USERS)?;
            if t.len()? > 0 {
                return Err(StoreError::Invalid(
                    "setup was already done; sign in to run it again".into(),
                ));
            }
            let user = User {
                name: name.to_string(),
                hash,
                created_ms: now_ms(),
                last_login_ms: 0,
            };
            tables::put(&mut t, name, user)?;
            append_event(
                &txn,
                Event::audit(
                    actor,
                    "user.create",
                    format!("admin account {name} created"),
                ),
            )?;
        }
        let msg = format!(
            "setup: school '{}', interface {}, address {}, DHCP {:?}",
            settings.school_name,
            settings.interface.as_deref().unwrap_or("-"),
            settings
                .server_ip
                .map_or_else(|| "-".to_string(), |ip| ip.to_string()),
            settings.dhcp_mode
        );
        tables::put(
            &mut txn.open_table(crate::schema::SETTINGS)?,
            "school",
            settings,
        )?;
        tables::put(&mut txn.open_table(UI_SETTINGS)?, "enrolment", enrolment)?;
        append_event(&txn, Event::audit(actor, "setup", msg))?;
        txn.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setup_creates_one_admin_and_verifies() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path().join("t.redb")).expect("store");
        assert!(!store.has_admin().expect("has"));
        let s = SchoolSettings {
            school_name: "Test".into(),
            ..SchoolSettings::default()
        };
        store
            .complete_setup(
                Some(("admin", "correct horse")),
                s.clone(),
                Enrolment::default(),
                "web:setup",
            )
            .expect("setup");
        assert!(store.has_admin().expect("has"));
        assert!(store.users().expect("users")[0]
            .hash
            .starts_with("$argon2id$"));
        assert!(store
            .verify_user("admin", "correct horse")
            .expect("v")
            .is_some());
        assert!(store
            .verify_user("admin", "wrong horse!")
            .expect("v")
            .is_none());
        assert!(store
            .verify_user("nobody", "correct horse")
            .expect("v")
            .is_none());
        assert!(store
            .complete_setup(Some(("x", "0123456789")), s, Enrolment::default(), "web")
            .is_err());
        assert!(store.set_user_password("admin", "short", "t").is_err());
    }

    #[test]
    fn migrates_a_version_4_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("t.redb");
        {
            let store = Store::open(&path).expect("store");
            let txn = store.db().begin_write().expect("txn");
            txn.delete_table(USERS).expect("drop users");
            txn.delete_table(UI_SETTINGS).expect("drop ui settings");
            txn.open_table(crate::schema::META)
                .expect("meta")
                .insert(crate::schema::VERSION_KEY, 4u64)
                .expect("version");
            txn.commit().expect("commit");
        }
        let store = Store::open(&path).expect("reopen");
        assert_eq!(
            store.schema_version().expect("v"),
            crate::schema::SCHEMA_VERSION
        );
        assert!(!store.has_admin().expect("has"));
        assert_eq!(store.enrolment().expect("e"), Enrolment::default());
    }

    #[test]
    fn enrolment_validation() {
        assert!(check_enrolment(&Enrolment::default()).is_ok());
        let good = Enrolment {
            url: "https://central.example.org/api".into(),
            token: "abcdefghijklmnop1234".into(),
        };
        assert!(check_enrolment(&good).is_ok());
        let bad_url = Enrolment {
            url: "ftp://x".into(),
            ..good.clone()
        };
        assert!(check_enrolment(&bad_url).is_err());
        let bad_tok = Enrolment {
            token: "short".into(),
            ..good
        };
        assert!(check_enrolment(&bad_tok).is_err());
    }
}
