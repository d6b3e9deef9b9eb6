//! The box side of central push: enrolment state in `<data>/central/`, and
//! one sync round — list releases, verify their signatures with the pinned
//! key, download what is new (resuming with `Range`), verify every file,
//! hand the verified folder to the caller for activation, and report each
//! step to the central.
//!
//! ```text
//! <data>/central/box.key          the box's ed25519 key (0600, made at enrolment)
//! <data>/central/central.json     URL, box id, school, pinned central key + fingerprint
//! <data>/central/state.json       release id active per image
//! <data>/central/policy.json      transfer/activation windows, bandwidth limit (optional)
//! <data>/central/downloads/<release>/<file>.part   partial downloads (resumed)
//! <data>/central/downloads/<release>/<file>        complete and verified
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};

use crate::client::{central_key, enrol, BoxClient, Endpoint};
use crate::keys::{fingerprint, load_or_create, parse_public, public_hex};
use crate::manifest::{
    box_version_ok, check_file, check_name, verify_file, FileEntry, Manifest, SignedManifest,
};
use crate::policy::Policy;
use crate::server::{EnrolRequest, StatusReport};
use crate::{io, Error, Result};

/// What a box keeps about its central.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoxConfig {
    /// Central URL.
    pub url: String,
    /// This box's id at the central.
    pub box_id: String,
    /// Its school.
    pub school: String,
    /// The pinned central signing key, hex.
    pub central_key: String,
    /// Its fingerprint.
    pub fingerprint: String,
    /// SHA-256 of the central's TLS certificate seen at enrolment
    /// (`https://` only); later connections accept only this certificate.
    #[serde(default)]
    pub tls_pin: Option<String>,
}

/// Which release is active per image.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BoxState {
    /// Image base name → active release id.
    pub active: BTreeMap<String, String>,
}

/// Paths under `<data>/central/`.
#[derive(Debug, Clone)]
pub struct BoxDir {
    root: PathBuf,
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(io(format!("cannot write {}", path.display())))
}

impl BoxDir {
    /// `<data>/central`.
    pub fn new(data: &Path) -> Self {
        Self {
            root: data.join("central"),
        }
    }

    /// The box key file.
    pub fn key_path(&self) -> PathBuf {
        self.root.join("box.key")
    }

    /// The enrolment file.
    pub fn config_path(&self) -> PathBuf {
        self.root.join("central.json")
    }

    /// Download folder of one release.
    pub fn download_dir(&self, release: &str) -> PathBuf {
        self.root.join("downloads").join(release)
    }

    /// The enrolment, if the box is enrolled.
    pub fn config(&self) -> Result<Option<BoxConfig>> {
        match std::fs::read(self.config_path()) {
            Ok(b) => serde_json::from_slice(&b).map(Some).map_err(|e| {
                Error::Invalid(format!("{} is damaged: {e}", self.config_path().display()))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::Io {
                what: format!("cannot read {}", self.config_path().display()),
                source: e,
            }),
        }
    }

    /// Active releases.
    pub fn state(&self) -> Result<BoxState> {
        match std::fs::read(self.root.join("state.json")) {
            Ok(b) => serde_json::from_slice(&b)
                .map_err(|e| Error::Invalid(format!("central/state.json is damaged: {e}"))),
            Err(_) => Ok(BoxState::default()),
        }
    }

    /// The box's schedule (defaults: any time, unlimited).
    pub fn policy(&self) -> Result<Policy> {
        let path = self.root.join("policy.json");
        match std::fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b)
                .map_err(|e| Error::Invalid(format!("{} is damaged: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Policy::default()),
            Err(e) => Err(Error::Io {
                what: format!("cannot read {}", path.display()),
                source: e,
            }),
        }
    }

    /// Replaces the box's schedule (checked first; the old one stays on
    /// error).
    pub fn save_policy(&self, p: &Policy) -> Result<()> {
        p.validate()?;
        std::fs::create_dir_all(&self.root)
            .map_err(io(format!("cannot create {}", self.root.display())))?;
        write_atomic(
            &self.root.join("policy.json"),
            &serde_json::to_vec_pretty(p).map_err(|e| Error::Invalid(e.to_string()))?,
        )
    }

    fn save_state(&self, s: &BoxState) -> Result<()> {
        write_atomic(
            &self.root.join("state.json"),
            &serde_json::to_vec_pretty(s).map_err(|e| Error::Invalid(e.to_string()))?,
        )
    }

    /// Enrols this box: makes its key (if none), redeems the token and pins
    /// the central's key. `expect_fingerprint`, when given, must match the
    /// central's (as shown by `bootbox central school add`).
    pub async fn enrol(
        &self,
        url: &str,
        token: &str,
        box_version: &str,
        expect_fingerprint: Option<&str>,
    ) -> Result<BoxConfig> {
        if let Some(c) = self.config()? {
            return Err(Error::Invalid(format!(
                "this box is already enrolled as {} at {}; remove {} to enrol again",
                c.box_id,
                c.url,
                self.config_path().display()
            )));
        }
        let mut ep = Endpoint::parse(url)?;
        let check = |fp: &str| -> Result<()> {
            let Some(want) = expect_fingerprint else {
                return Ok(());
            };
            let want = want.replace(':', "").to_ascii_lowercase();
            if want.len() < 16 || !fp.starts_with(&want) {
                return Err(Error::Key(format!(
                    "the central's key has fingerprint {fp}, expected {want}: not enrolled"
                )));
            }
            Ok(())
        };
        // With an expected fingerprint, ask for the key first: the token is
        // never sent to a central whose key does not match, and it goes to
        // the very TLS certificate that answered.
        let mut announced = None;
        if expect_fingerprint.is_some() {
            let (info, seen) = central_key(&ep).await?;
            check(&info.fingerprint)?;
            let k = parse_public(&info.central_key)?;
            check(&fingerprint(&k))?;
            ep = ep.pinned(seen);
            announced = Some(k);
        }
        let key = load_or_create(&self.key_path())?;
        let (resp, tls_pin) = enrol(
            &ep,
            &EnrolRequest {
                token: token.trim().to_string(),
                public_key: public_hex(&key.verifying_key()),
                box_version: box_version.to_string(),
            },
        )
        .await?;
        let central = parse_public(&resp.central_key)?;
        let fp = fingerprint(&central);
        check(&fp)?;
        if announced.is_some_and(|a| a != central) {
            return Err(Error::Key(
                "the central answered with another key than it announced: not enrolled".into(),
            ));
        }
        let cfg = BoxConfig {
            url: url.trim().to_string(),
            box_id: resp.box_id,
            school: resp.school,
            central_key: resp.central_key,
            fingerprint: fp,
            tls_pin,
        };
        write_atomic(
            &self.config_path(),
            &serde_json::to_vec_pretty(&cfg).map_err(|e| Error::Invalid(e.to_string()))?,
        )?;
        Ok(cfg)
    }

    /// The client and pinned key of an enrolled box.
    pub fn client(&self) -> Result<(BoxClient, VerifyingKey)> {
        let cfg = self.config()?.ok_or_else(|| {
            Error::Invalid("this box is not enrolled (bootbox central enrol)".into())
        })?;
        let key = bootbox_firmware::keys::read_secret(&self.key_path())
            .map_err(|e| Error::Key(e.to_string()))?;
        Ok((
            BoxClient {
                endpoint: Endpoint::parse(&cfg.url)?.pinned(cfg.tls_pin),
                box_id: cfg.box_id,
                key,
            },
            parse_public(&cfg.central_key)?,
        ))
    }
}

/// What happened to one release in a sync round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Already the active release of its image.
    Current(String),
    /// Downloaded, verified and activated.
    Activated {
        /// Release id.
        release: String,
        /// Bytes received in this round.
        bytes: u64,
        /// What activation said.
        detail: String,
    },
    /// Not fetched now: outside the box's transfer window, or the central
    /// is at its download cap. Partial files stay and are resumed.
    Waiting {
        /// Release id.
        release: String,
        /// Why, for the log and the central.
        reason: String,
        /// Bytes received in this round.
        bytes: u64,
    },
    /// Downloaded and verified; becomes current in the activation window.
    Verified {
        /// Release id.
        release: String,
        /// Bytes received in this round.
        bytes: u64,
        /// The activation window.
        window: String,
    },
    /// Refused (bad signature, wrong file, box too old) or failed
    /// (network, activation); retried next round.
    Refused {
        /// Release id (as claimed, for an unverified manifest).
        release: String,
        /// Why.
        reason: String,
        /// Bytes received in this round.
        bytes: u64,
    },
}

/// Activates a verified release: gets the manifest and the folder holding
/// every file, verified. Returns a line for the log and the report.
pub trait Activate {
    /// Makes the release current (the caller's image catalogue).
    fn activate(&mut self, m: &Manifest, dir: &Path) -> std::result::Result<String, String>;

    /// A file the box already holds with exactly `f`'s bytes (e.g. a backup
    /// of a release it had before, after a central rollback), checked
    /// against `f`'s size and sha256. It is linked into the download folder
    /// instead of being fetched again. Default: none.
    fn local_copy(&mut self, _m: &Manifest, _f: &FileEntry) -> Option<PathBuf> {
        None
    }
}

fn claimed_id(s: &SignedManifest) -> String {
    serde_json::from_str::<serde_json::Value>(&s.manifest)
        .ok()
        .and_then(|v| {
            let i = v.get("image")?.as_str()?.to_string();
            let ver = v.get("version")?.as_str()?.to_string();
            Some(format!("{i}-{ver}"))
        })
        .filter(|id| check_name("release", id).is_ok())
        .unwrap_or_else(|| "unverified".into())
}

/// One sync round. Only the newest verified release per image that this
/// box version may install is fetched.
/// Needs a multi-threaded tokio runtime (hashing runs in `block_in_place`).
/// Dropping the future stops a download; its partial file is resumed by
/// the next round.
pub async fn sync(
    dir: &BoxDir,
    box_version: &str,
    act: &mut (dyn Activate + Send),
) -> Result<Vec<Outcome>> {
    let (client, pinned) = dir.client()?;
    let list = client.releases().await?;
    let mut out = Vec::new();
    let mut newest: BTreeMap<String, Manifest> = BTreeMap::new();
    for s in &list.releases {
        match s.verify(&pinned) {
            // Too new for this box: reported, and older releases it can
            // install stay eligible.
            Ok(m) if !box_version_ok(box_version, &m.min_box_version) => {
                let (release, reason) = (
                    m.id(),
                    format!(
                        "needs box version {} or newer (this is {box_version})",
                        m.min_box_version
                    ),
                );
                report(&client, &release, "failed", &reason, 0).await;
                out.push(Outcome::Refused {
                    release,
                    reason,
                    bytes: 0,
                });
            }
            Ok(m) => {
                if newest
                    .get(&m.image)
                    .is_none_or(|n| m.created_ms >= n.created_ms)
                {
                    newest.insert(m.image.clone(), m);
                }
            }
            Err(e) => {
                let release = claimed_id(s);
                tracing::warn!(%release, error = %e, "release rejected");
                report(&client, &release, "rejected", &e.to_string(), 0).await;
                out.push(Outcome::Refused {
                    release,
                    reason: e.to_string(),
                    bytes: 0,
                });
            }
        }
    }
    let mut state = dir.state()?;
    let policy = dir.policy()?;
    let minute = policy.minute_now()?;
    for m in newest.into_values() {
        let id = m.id();
        if state.active.get(&m.image) == Some(&id) {
            out.push(Outcome::Current(id));
            continue;
        }
        // Outside the transfer window only a release already on disk
        // goes on (to its activation); the rest waits, partial files kept.
        let transfer_left = match policy.transfer_window {
            None => None,
            Some(w) if w.contains(minute) => Some(w.minutes_left(minute)),
            // Also when the box holds every file itself (a rollback).
            Some(_) if fully_downloaded(dir, &m) || take_local_copies(dir, &m, &mut *act) => None,
            Some(w) => {
                let reason = format!("outside the transfer window {w}");
                report(&client, &id, "waiting", &reason, 0).await;
                out.push(Outcome::Waiting {
                    release: id,
                    reason,
                    bytes: 0,
                });
                continue;
            }
        };
        let started = std::time::Instant::now();
        let fetch = fetch_release(dir, &client, &m, policy.limit_bytes_per_sec, &mut *act);
        let (res, bytes, timing) = match transfer_left {
            None => fetch.await,
            Some(mins) => {
                let until_close = std::time::Duration::from_secs(u64::from(mins) * 60);
                match tokio::time::timeout(until_close, fetch).await {
                    Ok(r) => r,
                    Err(_) => {
                        let reason = "the transfer window closed; resumed in the next one";
                        report(&client, &id, "waiting", reason, 0).await;
                        out.push(Outcome::Waiting {
                            release: id,
                            reason: reason.into(),
                            bytes: 0,
                        });
                        continue;
                    }
                }
            }
        };
        let o = match res {
            Err(Error::Busy(why)) => {
                report(&client, &id, "waiting", &why, bytes).await;
                Outcome::Waiting {
                    release: id,
                    reason: why,
                    bytes,
                }
            }
            Err(e) => {
                let _ = timing;
                let state_word = if matches!(e, Error::File(_) | Error::Manifest(_)) {
                    "rejected"
                } else {
                    "failed"
                };
                tracing::warn!(release = %id, error = %e, "release not fetched");
                report(&client, &id, state_word, &e.to_string(), bytes).await;
                Outcome::Refused {
                    release: id,
                    reason: e.to_string(),
                    bytes,
                }
            }
            Ok(_)
                if policy
                    .activation_window
                    .is_some_and(|w| !w.contains(minute)) =>
            {
                let window = policy
                    .activation_window
                    .map(|w| w.to_string())
                    .unwrap_or_default();
                report(
                    &client,
                    &id,
                    "verified",
                    &format!(
                        "every file matches the signed manifest; activation in the window {window}"
                    ),
                    bytes,
                )
                .await;
                Outcome::Verified {
                    release: id,
                    bytes,
                    window,
                }
            }
            Ok(folder) => {
                report(
                    &client,
                    &id,
                    "verified",
                    "every file matches the signed manifest",
                    bytes,
                )
                .await;
                let t = std::time::Instant::now();
                // Hashing and moving gigabytes: off the async workers.
                let activated = tokio::task::block_in_place(|| act.activate(&m, &folder));
                let timing = format!(
                    "{timing}, activation {:.1} s, total {:.1} s",
                    t.elapsed().as_secs_f64(),
                    started.elapsed().as_secs_f64()
                );
                match activated {
                    Ok(detail) => {
                        let detail = format!("{detail} ({timing})");
                        state.active.insert(m.image.clone(), id.clone());
                        dir.save_state(&state)?;
                        let _ = std::fs::remove_dir_all(&folder);
                        report(&client, &id, "active", &detail, bytes).await;
                        Outcome::Activated {
                            release: id,
                            bytes,
                            detail,
                        }
                    }
                    Err(reason) => {
                        report(&client, &id, "failed", &reason, bytes).await;
                        Outcome::Refused {
                            release: id,
                            reason,
                            bytes,
                        }
                    }
                }
            }
        };
        out.push(o);
    }
    Ok(out)
}

/// Waits up to `max` for the central to announce a change in the releases
/// this box's school sees (repeated long-polls, box-initiated). `Ok(true)`:
/// something changed, run a round now. `Ok(false)`: nothing within `max`,
/// or a central without long-poll (the caller then waits out the rest of
/// its period).
pub async fn wait_for_news(dir: &BoxDir, max: std::time::Duration) -> Result<bool> {
    let (client, _) = dir.client()?;
    let deadline = tokio::time::Instant::now() + max;
    let tag = client.releases().await?.tag;
    if tag.is_empty() {
        return Ok(false);
    }
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            return Ok(false);
        }
        let wait = left.as_secs().clamp(1, crate::server::MAX_WAIT_SECS);
        let list = client.releases_since(&tag, wait).await?;
        if list.changed && list.tag != tag {
            return Ok(true);
        }
    }
}

async fn report(c: &BoxClient, release: &str, state: &str, detail: &str, bytes: u64) {
    let r = StatusReport {
        release: release.to_string(),
        state: state.to_string(),
        detail: detail.to_string(),
        bytes,
    };
    if let Err(e) = c.report(&r).await {
        tracing::warn!(%release, error = %e, "cannot report to the central");
    }
}

/// Downloads and verifies every file of `m`. Returns the folder with the
/// verified files, the bytes received in this call (also on failure) and
/// how long downloading and verifying took.
/// Links the box's own copy of `f` (if the activator has one) to `done`
/// and verifies it. True when `done` now holds `f`'s bytes.
fn link_local_copy(
    act: &mut (dyn Activate + Send),
    m: &Manifest,
    f: &FileEntry,
    done: &Path,
) -> bool {
    let Some(local) = act.local_copy(m, f) else {
        return false;
    };
    let linked =
        std::fs::hard_link(&local, done).or_else(|_| std::fs::copy(&local, done).map(|_| ()));
    if linked.is_ok() && verify_file(f, done).is_ok() {
        tracing::info!(release = %m.id(), file = %f.name, from = %local.display(), "file taken from the box itself");
        return true;
    }
    let _ = std::fs::remove_file(done);
    false
}

/// Outside the transfer window: puts the box's own copies of `m`'s files
/// into its download folder; true when that completes the release.
fn take_local_copies(dir: &BoxDir, m: &Manifest, act: &mut (dyn Activate + Send)) -> bool {
    let folder = dir.download_dir(&m.id());
    if std::fs::create_dir_all(&folder).is_err() {
        return false;
    }
    tokio::task::block_in_place(|| {
        m.files.iter().all(|f| {
            let done = folder.join(&f.name);
            done.is_file() || link_local_copy(act, m, f, &done)
        })
    })
}

/// Whether every file of `m` is in its download folder, complete (not
/// checked: [`fetch_release`] verifies them again).
fn fully_downloaded(dir: &BoxDir, m: &Manifest) -> bool {
    let folder = dir.download_dir(&m.id());
    m.files.iter().all(|f| {
        std::fs::metadata(folder.join(&f.name)).is_ok_and(|md| md.is_file() && md.len() == f.size)
    })
}

async fn fetch_release(
    dir: &BoxDir,
    c: &BoxClient,
    m: &Manifest,
    limit: Option<u64>,
    act: &mut (dyn Activate + Send),
) -> (Result<PathBuf>, u64, String) {
    use std::time::{Duration, Instant};
    let (mut dl, mut ver) = (Duration::ZERO, Duration::ZERO);
    let timing = |dl: Duration, ver: Duration| {
        format!(
            "download {:.1} s, verification {:.1} s",
            dl.as_secs_f64(),
            ver.as_secs_f64()
        )
    };
    let id = m.id();
    let folder = dir.download_dir(&id);
    if let Err(e) = std::fs::create_dir_all(&folder) {
        let e = Error::Io {
            what: format!("cannot create {}", folder.display()),
            source: e,
        };
        return (Err(e), 0, timing(dl, ver));
    }
    let mut bytes = 0u64;
    for f in &m.files {
        let done = folder.join(&f.name);
        if done.is_file() && tokio::task::block_in_place(|| verify_file(f, &done)).is_ok() {
            continue;
        }
        let _ = std::fs::remove_file(&done);
        // Bytes the box already has (checked by the activator) are not
        // fetched again.
        if tokio::task::block_in_place(|| link_local_copy(act, m, f, &done)) {
            continue;
        }
        let part = folder.join(format!("{}.part", f.name));
        report(c, &id, "downloading", &f.name, bytes).await;
        let t = Instant::now();
        let got = c.download(&id, &f.name, &part, f.size, limit).await;
        dl += t.elapsed();
        let got = match got {
            Ok(d) => d,
            Err(e) => return (Err(e), bytes, timing(dl, ver)),
        };
        bytes += got.received;
        // Hashed while written: checking is a comparison.
        let t = Instant::now();
        let checked = check_file(f, got.len, &got.sha256);
        ver += t.elapsed();
        if let Err(e) = checked {
            // Wrong bytes are never kept: the next round starts this file over.
            let _ = std::fs::remove_file(&part);
            return (Err(e), bytes, timing(dl, ver));
        }
        if let Err(e) = std::fs::rename(&part, &done) {
            let e = Error::Io {
                what: format!("cannot rename {}", part.display()),
                source: e,
            };
            return (Err(e), bytes, timing(dl, ver));
        }
    }
    (Ok(folder), bytes, timing(dl, ver))
}
