//! Secrets of remote control (schema version 7): the SMTP settings for
//! failure mails (with the relay password) and one-time upload credentials.
//!
//! Both live only in the registry file (`<data>/bootbox.redb`), never below
//! `<data>/linbo`, which clients and anyone on the LAN can download.
//!
//! ## One-time upload credentials
//!
//! LINBO's `linbo-remote` writes the cleartext rsync password into the
//! on-boot file (`linbo:<password>`) of a host that is to upload an image.
//! Bootbox instead issues, per upload, a credential `bbu.<id>.<secret>`:
//! - bound to one host (and, when known, one image name);
//! - expiring (`expires_ms`);
//! - single-use: [`Store::redeem_upload_credential`] checks and marks it
//!   used in one write transaction, so two concurrent uploads cannot both
//!   pass;
//! - stored as an argon2id hash of the secret; the text exists only in the
//!   memory of the issuing process and on the client it is pushed to.

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::Argon2;
use redb::{ReadableDatabase, TableDefinition};
use serde::{Deserialize, Serialize};

use crate::codec::Json;
use crate::model::{now_ms, Event};
use crate::store::append_event;
use crate::{tables, Result, Store, StoreError};

/// SMTP settings under the key `mail`. Since version 7.
pub const MAIL_SETTINGS: TableDefinition<&str, Json<MailSettings>> =
    TableDefinition::new("mail_settings");
/// Upload credentials by id. Since version 7.
pub const UPLOAD_CREDENTIALS: TableDefinition<&str, Json<UploadCredential>> =
    TableDefinition::new("upload_credentials");

impl crate::codec::Stored for MailSettings {
    const NAME: &'static str = "bootbox.mail_settings";
}
impl crate::codec::Stored for UploadCredential {
    const NAME: &'static str = "bootbox.upload_credential";
}

/// Transport security towards the SMTP relay.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailSecurity {
    /// STARTTLS, required (the mail is not sent without it).
    #[default]
    Starttls,
    /// Plain SMTP (a relay on the box itself or a trusted LAN).
    None,
}

/// Where failure mails go.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MailSettings {
    /// Send mails at all.
    pub enabled: bool,
    /// SMTP relay host name or address.
    pub host: String,
    /// Port (587 for STARTTLS, 25 plain).
    pub port: u16,
    /// STARTTLS or none.
    pub security: MailSecurity,
    /// Sender address.
    pub from: String,
    /// Recipients.
    pub to: Vec<String>,
    /// User name for SMTP AUTH (none: no AUTH).
    pub username: Option<String>,
    /// Password for SMTP AUTH. Kept in the registry only; the API never
    /// returns it.
    pub password: Option<String>,
}

impl MailSettings {
    /// Checks the settings of an enabled configuration.
    pub fn check(&self) -> Result<(), String> {
        if !self.enabled {
            return Ok(());
        }
        if self.host.trim().is_empty() || self.host.contains(char::is_whitespace) {
            return Err("the SMTP host is missing or has spaces".into());
        }
        if self.port == 0 {
            return Err("the SMTP port must be 1–65535".into());
        }
        let addr_ok = |a: &str| {
            let a = a.trim();
            a.len() <= 254
                && a.split_once('@').is_some_and(|(l, d)| {
                    !l.is_empty() && !d.is_empty() && !a.contains(char::is_whitespace)
                })
        };
        if !addr_ok(&self.from) {
            return Err(format!("sender '{}' is not a mail address", self.from));
        }
        if self.to.is_empty() {
            return Err("give at least one recipient".into());
        }
        if let Some(bad) = self.to.iter().find(|a| !addr_ok(a)) {
            return Err(format!("recipient '{bad}' is not a mail address"));
        }
        if self.username.as_deref().is_some_and(|u| !u.is_empty()) && self.password.is_none() {
            return Err("SMTP AUTH needs a password".into());
        }
        Ok(())
    }
}

/// A stored upload credential (never the secret itself).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct UploadCredential {
    /// Public id (`bbu.<id>.…`).
    pub id: String,
    /// The only host that may use it.
    pub host: String,
    /// The only image base name it may upload (`None`: any of that host's
    /// group, decided by the caller).
    pub image: Option<String>,
    /// argon2id PHC string of the secret.
    pub hash: String,
    /// Issue time (ms since epoch).
    pub created_ms: u64,
    /// Not valid after this time (ms since epoch).
    pub expires_ms: u64,
    /// When it was used (then it is spent).
    pub used_ms: Option<u64>,
}

/// Why a credential was refused. The message never contains the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialRefused {
    /// Not of the form `bbu.<id>.<secret>` or unknown id or wrong secret.
    #[error("unknown upload credential")]
    Unknown,
    /// Used before.
    #[error("the upload credential was already used")]
    Spent,
    /// Past its time.
    #[error("the upload credential has expired")]
    Expired,
    /// Issued for another host or image.
    #[error("the upload credential was issued for {0}")]
    Mismatch(String),
}

fn random_hex(n: usize) -> Result<String> {
    let mut b = vec![0u8; n];
    getrandom::fill(&mut b).map_err(|e| StoreError::Invalid(format!("no randomness: {e}")))?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// Splits `bbu.<id>.<secret>`.
pub fn split_credential(text: &str) -> Option<(&str, &str)> {
    let rest = text.trim().strip_prefix("bbu.")?;
    let (id, secret) = rest.split_once('.')?;
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    (hex(id, 16) && hex(secret, 64)).then_some((id, secret))
}

impl Store {
    /// The SMTP settings (defaults when never saved).
    pub fn mail_settings(&self) -> Result<MailSettings> {
        let txn = self.db().begin_read()?;
        let t = txn.open_table(MAIL_SETTINGS)?;
        Ok(tables::get(&t, "mail_settings", "mail")?.unwrap_or_default())
    }

    /// Replaces the SMTP settings (checked first).
    pub fn set_mail_settings(&self, s: MailSettings, actor: &str) -> Result<()> {
        s.check().map_err(StoreError::Invalid)?;
        let msg = format!(
            "mail notification {} ({}:{} {:?}, to {})",
            if s.enabled { "enabled" } else { "disabled" },
            s.host,
            s.port,
            s.security,
            s.to.join(",")
        );
        let txn = self.db().begin_write()?;
        tables::put(&mut txn.open_table(MAIL_SETTINGS)?, "mail", s)?;
        append_event(&txn, Event::audit(actor, "mail.settings", msg))?;
        txn.commit()?;
        Ok(())
    }

    /// Issues a single-use upload credential for `host` (and `image`),
    /// valid for `ttl_ms`. Returns the text `bbu.<id>.<secret>`, which is
    /// not stored. Expired and spent credentials are purged on the way.
    pub fn issue_upload_credential(
        &self,
        host: &str,
        image: Option<&str>,
        ttl_ms: u64,
        actor: &str,
    ) -> Result<String> {
        let id = random_hex(8)?;
        let secret = random_hex(32)?;
        let hash: PasswordHash = Argon2::default()
            .hash_password(secret.as_bytes())
            .map_err(|e| StoreError::Invalid(format!("cannot hash: {e}")))?;
        let now = now_ms();
        let cred = UploadCredential {
            id: id.clone(),
            host: host.to_string(),
            image: image.map(str::to_string),
            hash: hash.to_string(),
            created_ms: now,
            expires_ms: now.saturating_add(ttl_ms),
            used_ms: None,
        };
        let txn = self.db().begin_write()?;
        {
            let mut t = txn.open_table(UPLOAD_CREDENTIALS)?;
            let all: Vec<UploadCredential> = tables::all(&t, "upload_credentials")?;
            let old: Vec<String> = all
                .into_iter()
                .filter(|c| c.used_ms.is_some() || c.expires_ms < now)
                .map(|c| c.id)
                .collect();
            for o in old {
                t.remove(o.as_str())?;
            }
            tables::put(&mut t, &id, cred)?;
        }
        append_event(
            &txn,
            Event::audit(
                actor,
                "upload.credential.issue",
                format!(
                    "one-time upload credential {id} issued for {host}{} (valid {} min)",
                    image.map(|i| format!(", image {i}")).unwrap_or_default(),
                    ttl_ms / 60_000
                ),
            ),
        )?;
        txn.commit()?;
        Ok(format!("bbu.{id}.{secret}"))
    }

    /// Checks `text` for an upload of `image` and spends it: in one write
    /// transaction, so a credential passes at most once. `from_host` says
    /// whether the request may come from the credential's host (the caller
    /// compares the client address with the host's fixed IP).
    pub fn redeem_upload_credential(
        &self,
        text: &str,
        image: &str,
        from_host: impl Fn(&str) -> bool,
    ) -> Result<std::result::Result<UploadCredential, CredentialRefused>> {
        let Some((id, secret)) = split_credential(text) else {
            return Ok(Err(CredentialRefused::Unknown));
        };
        let txn = self.db().begin_write()?;
        let outcome = {
            let mut t = txn.open_table(UPLOAD_CREDENTIALS)?;
            let got: Option<UploadCredential> = tables::get(&t, "upload_credentials", id)?;
            let Some(mut c) = got else {
                return Ok(Err(CredentialRefused::Unknown));
            };
            let ok = PasswordHash::new(&c.hash)
                .map(|h| {
                    Argon2::default()
                        .verify_password(secret.as_bytes(), &h)
                        .is_ok()
                })
                .unwrap_or(false);
            let now = now_ms();
            if !ok {
                Err(CredentialRefused::Unknown)
            } else if c.used_ms.is_some() {
                Err(CredentialRefused::Spent)
            } else if now > c.expires_ms {
                Err(CredentialRefused::Expired)
            } else if !from_host(&c.host) || c.image.as_deref().is_some_and(|i| i != image) {
                Err(CredentialRefused::Mismatch(format!(
                    "host {}{}",
                    c.host,
                    c.image
                        .as_deref()
                        .map(|i| format!(", image {i}"))
                        .unwrap_or_default()
                )))
            } else {
                c.used_ms = Some(now);
                tables::put(&mut t, id, c.clone())?;
                Ok(c)
            }
        };
        let msg = match &outcome {
            Ok(c) => format!("upload credential {id} of {} used for {image}", c.host),
            Err(e) => format!("upload credential {id} refused for {image}: {e}"),
        };
        append_event(&txn, Event::audit("upload", "upload.credential.use", msg))?;
        txn.commit()?;
        Ok(outcome)
    }

    /// Withdraws a credential (e.g. when the upload command ended without
    /// using it). `false` when it did not exist.
    pub fn revoke_upload_credential(&self, text_or_id: &str) -> Result<bool> {
        let id = split_credential(text_or_id)
            .map(|(i, _)| i)
            .unwrap_or(text_or_id);
        let txn = self.db().begin_write()?;
        let removed = txn.open_table(UPLOAD_CREDENTIALS)?.remove(id)?.is_some();
        txn.commit()?;
        Ok(removed)
    }

    /// All stored credentials (without secrets), for tests and the CLI.
    pub fn upload_credentials(&self) -> Result<Vec<UploadCredential>> {
        let txn = self.db().begin_read()?;
        tables::all(&txn.open_table(UPLOAD_CREDENTIALS)?, "upload_credentials")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let d = tempfile::tempdir().expect("tmp");
        let s = Store::open(d.path().join("s.redb")).expect("open");
        (d, s)
    }

    #[test]
    fn credential_works_once_for_its_host_and_image() {
        let (_d, s) = store();
        let text = s
            .issue_upload_credential("pc01", Some("win11"), 60_000, "test")
            .expect("issue");
        assert!(text.starts_with("bbu."));
        let stored = s.upload_credentials().expect("list");
        assert_eq!(stored.len(), 1);
        assert!(stored[0].hash.starts_with("$argon2id$"));
        assert!(!stored[0]
            .hash
            .contains(text.rsplit('.').next().expect("secret")));
        let (id, secret) = split_credential(&text).expect("split");
        let wrong = format!("bbu.{id}.{}", "0".repeat(64));
        assert_eq!(
            s.redeem_upload_credential(&wrong, "win11", |h| h == "pc01")
                .expect("db"),
            Err(CredentialRefused::Unknown)
        );
        assert!(matches!(
            s.redeem_upload_credential(&text, "win11", |h| h == "pc02")
                .expect("db"),
            Err(CredentialRefused::Mismatch(_))
        ));
        assert!(matches!(
            s.redeem_upload_credential(&text, "other", |h| h == "pc01")
                .expect("db"),
            Err(CredentialRefused::Mismatch(_))
        ));
        let c = s
            .redeem_upload_credential(&text, "win11", |h| h == "pc01")
            .expect("db")
            .expect("first use");
        assert_eq!(c.host, "pc01");
        assert_eq!(
            s.redeem_upload_credential(&text, "win11", |h| h == "pc01")
                .expect("db"),
            Err(CredentialRefused::Spent)
        );
        let _ = secret;
        let audit = s.recent_events(10).expect("events");
        assert!(audit.iter().all(|e| !e.message.contains(secret)));
    }

    #[test]
    fn credential_expires() {
        let (_d, s) = store();
        let text = s
            .issue_upload_credential("pc01", None, 0, "test")
            .expect("issue");
        std::thread::sleep(std::time::Duration::from_millis(5));
        assert_eq!(
            s.redeem_upload_credential(&text, "any", |h| h == "pc01")
                .expect("db"),
            Err(CredentialRefused::Expired)
        );
        assert!(s.revoke_upload_credential(&text).expect("revoke"));
        assert!(s.upload_credentials().expect("list").is_empty());
    }

    #[test]
    fn mail_settings_are_checked() {
        let (_d, s) = store();
        assert!(!s.mail_settings().expect("default").enabled);
        let mut m = MailSettings {
            enabled: true,
            host: "smtp.school.example".into(),
            port: 587,
            from: "bootbox@school.example".into(),
            to: vec!["it@school.example".into()],
            ..MailSettings::default()
        };
        s.set_mail_settings(m.clone(), "t").expect("valid");
        m.to = vec!["not an address".into()];
        assert!(s.set_mail_settings(m, "t").is_err());
        assert_eq!(
            s.mail_settings().expect("read").to,
            vec!["it@school.example"]
        );
    }
}
