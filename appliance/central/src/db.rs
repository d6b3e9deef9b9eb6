//! The central's own database, `<data>/central.redb` — separate from a
//! school box's registry, so the school schema and its migrations are not
//! touched. Values are JSON through `bootbox_store::codec`.
//!
//! The file is opened per operation ([`CentralDb::with`]), so the admin CLI
//! (`bootbox central school add`, `publish`) works while `central serve`
//! runs: whoever has it waits a moment for the other.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bootbox_store::codec::{Json, Stored};
use redb::{Database, DatabaseError, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::token::{self, EnrolToken, Refused};
use crate::{now_ms, Error, Result};

const SCHOOLS: TableDefinition<&str, Json<School>> = TableDefinition::new("schools");
const TOKENS: TableDefinition<&str, Json<EnrolToken>> = TableDefinition::new("enrol_tokens");
const BOXES: TableDefinition<&str, Json<BoxRecord>> = TableDefinition::new("boxes");
const RELEASES: TableDefinition<&str, Json<Release>> = TableDefinition::new("releases");
const STATUS: TableDefinition<&str, Json<BoxStatus>> = TableDefinition::new("box_status");

/// A school (one box or more).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct School {
    /// Unique name.
    pub name: String,
    /// Creation time (ms).
    pub created_ms: u64,
    /// In the pilot wave: gets releases before the other schools.
    pub pilot: bool,
}

/// Which schools a release goes to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Wave {
    /// Pilot schools only (first wave).
    Pilot,
    /// Every school.
    #[default]
    All,
}

impl std::str::FromStr for Wave {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim() {
            "pilot" => Ok(Self::Pilot),
            "all" => Ok(Self::All),
            other => Err(Error::Invalid(format!(
                "wave {other:?}: expected pilot or all"
            ))),
        }
    }
}

impl std::fmt::Display for Wave {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Pilot => "pilot",
            Self::All => "all",
        })
    }
}

/// An enrolled box.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BoxRecord {
    /// Box id given at enrolment (`box-<hex>`).
    pub id: String,
    /// Its school.
    pub school: String,
    /// The box's ed25519 public key, hex.
    pub public_key: String,
    /// Enrolment time (ms).
    pub enrolled_ms: u64,
    /// Last authenticated request (ms).
    pub last_seen_ms: u64,
    /// Box software version it reported.
    pub box_version: String,
}

/// A published release (the signed manifest lives beside its files).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Release {
    /// `<image>-<version>`.
    pub id: String,
    /// Image base name.
    pub image: String,
    /// Version.
    pub version: String,
    /// Publication time (ms).
    pub created_ms: u64,
    /// Who gets it: the pilot schools first, then all.
    pub wave: Wave,
    /// Withdrawn by the central team (a rollback): no box sees it any
    /// more, so boxes go back to the newest release still out.
    pub withdrawn: bool,
}

impl Release {
    /// Whether boxes of `school` may see and fetch this release.
    pub fn reaches(&self, school: &School) -> bool {
        !self.withdrawn && (self.wave == Wave::All || school.pilot)
    }
}

/// What a box reported about a release.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BoxStatus {
    /// Box id (filled in by the central from the authenticated request).
    pub box_id: String,
    /// Release id.
    pub release: String,
    /// `waiting`, `downloading`, `verified`, `active`, `rejected` or `failed`.
    pub state: String,
    /// Reason or detail (e.g. why a file was rejected).
    pub detail: String,
    /// Bytes downloaded so far in this attempt.
    pub bytes: u64,
    /// When the central received it (ms).
    pub time_ms: u64,
}

macro_rules! stored {
    ($t:ty, $n:literal) => {
        impl Stored for $t {
            const NAME: &'static str = $n;
        }
    };
}
stored!(School, "bootbox.central.school");
stored!(EnrolToken, "bootbox.central.enrol_token");
stored!(BoxRecord, "bootbox.central.box");
stored!(Release, "bootbox.central.release");
stored!(BoxStatus, "bootbox.central.box_status");

fn dbe(e: impl std::fmt::Display) -> Error {
    Error::Db(e.to_string())
}

fn get<T: Stored + 'static>(
    t: &impl ReadableTable<&'static str, Json<T>>,
    key: &str,
) -> Result<Option<T>> {
    match t.get(key).map_err(dbe)? {
        None => Ok(None),
        Some(g) => g
            .value()
            .map(Some)
            .map_err(|c| Error::Db(format!("{} {key} is damaged: {}", T::NAME, c.reason))),
    }
}

fn all<T: Stored + DeserializeOwned + 'static>(
    t: &impl ReadableTable<&'static str, Json<T>>,
) -> Result<Vec<T>> {
    let mut out = Vec::new();
    for e in t.iter().map_err(dbe)? {
        let (k, v) = e.map_err(dbe)?;
        out.push(v.value().map_err(|c| {
            Error::Db(format!(
                "{} {} is damaged: {}",
                T::NAME,
                k.value(),
                c.reason
            ))
        })?);
    }
    Ok(out)
}

fn put<T: Stored + 'static>(
    t: &mut redb::Table<&'static str, Json<T>>,
    key: &str,
    v: T,
) -> Result<()> {
    t.insert(key, Ok::<T, bootbox_store::CorruptValue>(v))
        .map_err(dbe)?;
    Ok(())
}

/// Handle on `central.redb` (opened per operation).
#[derive(Debug, Clone)]
pub struct CentralDb {
    path: PathBuf,
}

impl CentralDb {
    /// Uses the database file at `path` (created on first use).
    pub fn new(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
        }
    }

    /// Runs `f` with the opened database; waits up to 10 s while another
    /// process has it open.
    pub fn with<R>(&self, f: impl FnOnce(&Database) -> Result<R>) -> Result<R> {
        let mut waited = Duration::ZERO;
        let db = loop {
            match Database::create(&self.path) {
                Ok(db) => break db,
                Err(DatabaseError::DatabaseAlreadyOpen) if waited < Duration::from_secs(10) => {
                    std::thread::sleep(Duration::from_millis(20));
                    waited += Duration::from_millis(20);
                }
                Err(e) => {
                    return Err(Error::Db(format!(
                        "cannot open {}: {e}",
                        self.path.display()
                    )))
                }
            }
        };
        let txn = db.begin_write().map_err(dbe)?;
        txn.open_table(SCHOOLS).map_err(dbe)?;
        txn.open_table(TOKENS).map_err(dbe)?;
        txn.open_table(BOXES).map_err(dbe)?;
        txn.open_table(RELEASES).map_err(dbe)?;
        txn.open_table(STATUS).map_err(dbe)?;
        txn.commit().map_err(dbe)?;
        f(&db)
    }

    /// Adds a school (if new) and issues an enrolment token for it, valid
    /// `ttl_ms`. Returns the token text (shown once, not stored).
    pub fn add_school_token(&self, school: &str, ttl_ms: u64) -> Result<String> {
        crate::manifest::check_name("school", school)?;
        let now = now_ms();
        let (tok, text) = token::mint(school, ttl_ms, now)?;
        self.with(|db| {
            let txn = db.begin_write().map_err(dbe)?;
            {
                let mut s = txn.open_table(SCHOOLS).map_err(dbe)?;
                if get(&s, school)?.is_none() {
                    put(
                        &mut s,
                        school,
                        School {
                            name: school.into(),
                            created_ms: now,
                            pilot: false,
                        },
                    )?;
                }
                let mut t = txn.open_table(TOKENS).map_err(dbe)?;
                // Purge spent and expired tokens on the way.
                let old: Vec<String> = all(&t)?
                    .into_iter()
                    .filter(|x: &EnrolToken| x.used_ms.is_some() || x.expires_ms < now)
                    .map(|x| x.id)
                    .collect();
                for o in old {
                    t.remove(o.as_str()).map_err(dbe)?;
                }
                put(&mut t, &tok.id, tok.clone())?;
            }
            txn.commit().map_err(dbe)?;
            Ok(())
        })?;
        tracing::info!(school, token = %tok.id, "enrolment token issued");
        Ok(text)
    }

    /// Spends `text` and enrols a box with `public_key` in one write
    /// transaction. Returns the new box record.
    pub fn redeem_token(
        &self,
        text: &str,
        public_key: &str,
        box_version: &str,
    ) -> Result<std::result::Result<BoxRecord, Refused>> {
        let Some((id, secret)) = token::split(text) else {
            return Ok(Err(Refused::Unknown));
        };
        let box_id = format!("box-{}", crate::random_hex(8)?);
        self.with(|db| {
            let txn = db.begin_write().map_err(dbe)?;
            let out = {
                let mut t = txn.open_table(TOKENS).map_err(dbe)?;
                let Some(mut tok) = get(&t, id)? else {
                    return Ok(Err(Refused::Unknown));
                };
                let now = now_ms();
                if let Err(r) = token::check(&tok, secret, now) {
                    return Ok(Err(r));
                }
                tok.used_ms = Some(now);
                tok.used_by = Some(box_id.clone());
                let school = tok.school.clone();
                put(&mut t, id, tok)?;
                let rec = BoxRecord {
                    id: box_id.clone(),
                    school,
                    public_key: public_key.to_string(),
                    enrolled_ms: now,
                    last_seen_ms: now,
                    box_version: box_version.to_string(),
                };
                put(
                    &mut txn.open_table(BOXES).map_err(dbe)?,
                    &box_id,
                    rec.clone(),
                )?;
                rec
            };
            txn.commit().map_err(dbe)?;
            Ok(Ok(out))
        })
    }

    /// The box `id`.
    pub fn box_record(&self, id: &str) -> Result<Option<BoxRecord>> {
        self.with(|db| {
            let txn = db.begin_read().map_err(dbe)?;
            get(&txn.open_table(BOXES).map_err(dbe)?, id)
        })
    }

    /// Notes an authenticated request of `id`.
    pub fn touch_box(&self, id: &str) -> Result<()> {
        self.with(|db| {
            let txn = db.begin_write().map_err(dbe)?;
            {
                let mut t = txn.open_table(BOXES).map_err(dbe)?;
                if let Some(mut b) = get(&t, id)? {
                    b.last_seen_ms = now_ms();
                    put(&mut t, id, b)?;
                }
            }
            txn.commit().map_err(dbe)
        })
    }

    /// The school `name`.
    pub fn school(&self, name: &str) -> Result<Option<School>> {
        self.with(|db| {
            let txn = db.begin_read().map_err(dbe)?;
            get(&txn.open_table(SCHOOLS).map_err(dbe)?, name)
        })
    }

    /// Puts a school into the pilot wave or takes it out.
    pub fn set_pilot(&self, name: &str, pilot: bool) -> Result<()> {
        self.with(|db| {
            let txn = db.begin_write().map_err(dbe)?;
            {
                let mut t = txn.open_table(SCHOOLS).map_err(dbe)?;
                let Some(mut s) = get(&t, name)? else {
                    return Err(Error::Invalid(format!("there is no school {name}")));
                };
                s.pilot = pilot;
                put(&mut t, name, s)?;
            }
            txn.commit().map_err(dbe)
        })
    }

    /// Sets the wave of release `id` (e.g. from the pilot schools to all).
    pub fn set_wave(&self, id: &str, wave: Wave) -> Result<()> {
        self.change_release(id, |r| r.wave = wave)
    }

    /// Withdraws release `id` (central rollback) or puts it back.
    pub fn set_withdrawn(&self, id: &str, withdrawn: bool) -> Result<()> {
        self.change_release(id, |r| r.withdrawn = withdrawn)
    }

    fn change_release(&self, id: &str, change: impl FnOnce(&mut Release)) -> Result<()> {
        self.with(|db| {
            let txn = db.begin_write().map_err(dbe)?;
            {
                let mut t = txn.open_table(RELEASES).map_err(dbe)?;
                let Some(mut r) = get(&t, id)? else {
                    return Err(Error::Invalid(format!("there is no release {id}")));
                };
                change(&mut r);
                put(&mut t, id, r)?;
            }
            txn.commit().map_err(dbe)
        })
    }

    /// All schools.
    pub fn schools(&self) -> Result<Vec<School>> {
        self.with(|db| {
            all(&db
                .begin_read()
                .map_err(dbe)?
                .open_table(SCHOOLS)
                .map_err(dbe)?)
        })
    }

    /// All enrolled boxes.
    pub fn boxes(&self) -> Result<Vec<BoxRecord>> {
        self.with(|db| {
            all(&db
                .begin_read()
                .map_err(dbe)?
                .open_table(BOXES)
                .map_err(dbe)?)
        })
    }

    /// Records a published release.
    pub fn add_release(&self, r: Release) -> Result<()> {
        self.with(|db| {
            let txn = db.begin_write().map_err(dbe)?;
            {
                let mut t = txn.open_table(RELEASES).map_err(dbe)?;
                if get(&t, &r.id)?.is_some() {
                    return Err(Error::Invalid(format!("release {} exists already", r.id)));
                }
                put(&mut t, &r.id.clone(), r)?;
            }
            txn.commit().map_err(dbe)
        })
    }

    /// All releases, oldest first.
    pub fn releases(&self) -> Result<Vec<Release>> {
        let mut v: Vec<Release> = self.with(|db| {
            all(&db
                .begin_read()
                .map_err(dbe)?
                .open_table(RELEASES)
                .map_err(dbe)?)
        })?;
        v.sort_by_key(|r| r.created_ms);
        Ok(v)
    }

    /// Stores a box's report on a release (the latest one counts).
    pub fn put_status(&self, mut s: BoxStatus) -> Result<()> {
        s.time_ms = now_ms();
        let key = format!("{}/{}", s.box_id, s.release);
        self.with(|db| {
            let txn = db.begin_write().map_err(dbe)?;
            put(&mut txn.open_table(STATUS).map_err(dbe)?, &key, s)?;
            txn.commit().map_err(dbe)
        })
    }

    /// Every box's latest report per release.
    pub fn statuses(&self) -> Result<Vec<BoxStatus>> {
        self.with(|db| {
            all(&db
                .begin_read()
                .map_err(dbe)?
                .open_table(STATUS)
                .map_err(dbe)?)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_enrols_one_box_once() {
        let d = tempfile::tempdir().expect("tmp");
        let db = CentralDb::new(&d.path().join("central.redb"));
        let text = db.add_school_token("school-a", 60_000).expect("token");
        let b = db
            .redeem_token(&text, "ab", "0.1.0")
            .expect("db")
            .expect("first use");
        assert_eq!(b.school, "school-a");
        assert_eq!(db.box_record(&b.id).expect("db"), Some(b));
        assert_eq!(
            db.redeem_token(&text, "cd", "0.1.0").expect("db"),
            Err(Refused::Spent)
        );
        assert_eq!(db.boxes().expect("db").len(), 1);
        let expired = db.add_school_token("school-a", 0).expect("token");
        std::thread::sleep(Duration::from_millis(3));
        assert_eq!(
            db.redeem_token(&expired, "cd", "0.1.0").expect("db"),
            Err(Refused::Expired)
        );
        assert_eq!(
            db.redeem_token("bbe.nonsense", "cd", "0.1.0").expect("db"),
            Err(Refused::Unknown)
        );
        assert_eq!(db.schools().expect("db").len(), 1);
        assert!(db.add_school_token("../x", 1).is_err());
    }

    #[test]
    fn releases_and_status() {
        let d = tempfile::tempdir().expect("tmp");
        let db = CentralDb::new(&d.path().join("central.redb"));
        let r = Release {
            id: "win11-1".into(),
            image: "win11".into(),
            version: "1".into(),
            created_ms: 1,
            wave: Wave::Pilot,
            withdrawn: false,
        };
        db.add_release(r.clone()).expect("add");
        assert!(db.add_release(r).is_err(), "ids are unique");
        // Old records without a wave read as "all"; promotion changes it.
        assert_eq!(
            serde_json::from_str::<Release>(r#"{"id":"x"}"#)
                .expect("old")
                .wave,
            Wave::All
        );
        db.set_wave("win11-1", Wave::All).expect("promote");
        assert_eq!(db.releases().expect("list")[0].wave, Wave::All);
        assert!(db.set_wave("nope", Wave::All).is_err());
        let pilot = School {
            pilot: true,
            ..Default::default()
        };
        assert!(db.releases().expect("list")[0].reaches(&School::default()));
        db.set_withdrawn("win11-1", true).expect("withdraw");
        assert!(
            !db.releases().expect("list")[0].reaches(&pilot),
            "withdrawn reaches no one"
        );
        assert!("later".parse::<Wave>().is_err());
        db.put_status(BoxStatus {
            box_id: "box-1".into(),
            release: "win11-1".into(),
            state: "active".into(),
            ..BoxStatus::default()
        })
        .expect("status");
        assert_eq!(db.statuses().expect("db")[0].state, "active");
    }
}
