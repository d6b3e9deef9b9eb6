//! The A/B slots on the boot partition and their state in `grubenv`.
//!
//! Variables (GRUB's `grub.cfg` reads and writes the same ones):
//!
//! | variable     | meaning |
//! |--------------|---------|
//! | `bb_order`   | slots in preference order, e.g. `A B` |
//! | `bb_X_ok`    | `1`: slot X holds a complete firmware; `0`: empty, half-written or failed |
//! | `bb_X_left`  | boot attempts left (`0`–`3`); GRUB takes one per boot, a healthy firmware puts it back to 3 |
//! | `bb_X_ver`   | firmware version in slot X (for display) |
//!
//! GRUB boots the first slot in `bb_order` with `ok=1` and attempts left.
//! An update goes into the inactive slot with one attempt and first in the
//! order; if it never confirms, GRUB falls back to the other slot on the
//! next boot and that one's [`confirm`] marks the update failed.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::bundle::{Verified, FILES};
use crate::grubenv::{self, Env};
use crate::{io, Error, Result};

/// Boot attempts a confirmed slot gets.
pub const MAX_ATTEMPTS: u8 = 3;

/// One of the two slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// Slot A (the factory slot).
    A,
    /// Slot B.
    B,
}

impl Slot {
    /// The other slot.
    pub fn other(self) -> Slot {
        match self {
            Slot::A => Slot::B,
            Slot::B => Slot::A,
        }
    }

    /// `"A"` or `"B"`.
    pub fn name(self) -> &'static str {
        match self {
            Slot::A => "A",
            Slot::B => "B",
        }
    }

    /// Parses `"A"` / `"B"`.
    pub fn parse(s: &str) -> Option<Slot> {
        match s {
            "A" => Some(Slot::A),
            "B" => Some(Slot::B),
            _ => None,
        }
    }

    fn var(self, what: &str) -> String {
        format!("bb_{}_{what}", self.name())
    }
}

impl std::fmt::Display for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The running slot, from the kernel command line (`bootbox.slot=X`, set
/// by GRUB). `None` when not booted as the appliance.
pub fn running_slot(cmdline: &str) -> Option<Slot> {
    cmdline
        .split_whitespace()
        .find_map(|w| w.strip_prefix("bootbox.slot="))
        .and_then(Slot::parse)
}

/// Where the boot partition is mounted.
#[derive(Debug, Clone)]
pub struct Layout {
    /// Mount point (the appliance mounts it at `/boot`).
    pub boot: PathBuf,
}

impl Layout {
    /// Layout rooted at `boot`.
    pub fn new(boot: impl Into<PathBuf>) -> Self {
        Self { boot: boot.into() }
    }

    /// The `grubenv` file.
    pub fn env_path(&self) -> PathBuf {
        self.boot.join("grub").join("grubenv")
    }

    /// The directory of `slot`.
    pub fn slot_dir(&self, slot: Slot) -> PathBuf {
        self.boot.join(slot.name())
    }
}

/// State of one slot.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SlotState {
    /// Holds a complete firmware that has not failed.
    pub ok: bool,
    /// Boot attempts left.
    pub attempts_left: u8,
    /// Version, if known.
    pub version: Option<String>,
}

/// Both slots and the boot order.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Status {
    /// Preference order (first = what GRUB tries next).
    pub order: Vec<&'static str>,
    /// Slot A.
    pub a: SlotState,
    /// Slot B.
    pub b: SlotState,
}

fn order(env: &Env) -> Vec<Slot> {
    let mut v: Vec<Slot> = env
        .get("bb_order")
        .unwrap_or("A B")
        .split_whitespace()
        .filter_map(Slot::parse)
        .collect();
    v.dedup();
    for s in [Slot::A, Slot::B] {
        if !v.contains(&s) {
            v.push(s);
        }
    }
    v
}

fn slot_state(env: &Env, s: Slot) -> SlotState {
    SlotState {
        ok: env.get(&s.var("ok")) == Some("1"),
        attempts_left: env
            .get(&s.var("left"))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
        version: env.get(&s.var("ver")).map(str::to_string),
    }
}

/// Reads the slot state.
pub fn status(layout: &Layout) -> Result<Status> {
    let env = grubenv::read(&layout.env_path())?;
    Ok(Status {
        order: order(&env).into_iter().map(Slot::name).collect(),
        a: slot_state(&env, Slot::A),
        b: slot_state(&env, Slot::B),
    })
}

/// The initial environment of a fresh image: slot A holds `version`.
pub fn factory_env(version: &str) -> Result<Env> {
    let mut env = Env::new();
    env.set("bb_order", "A B")?;
    env.set("bb_A_ok", "1")?;
    env.set("bb_A_left", &MAX_ATTEMPTS.to_string())?;
    env.set("bb_A_ver", version)?;
    env.set("bb_B_ok", "0")?;
    env.set("bb_B_left", "0")?;
    Ok(env)
}

/// Result of [`install`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    /// The slot written.
    pub slot: Slot,
    /// Its version.
    pub version: String,
}

/// Writes a verified bundle into the slot that is not `running`, then makes
/// it the next boot's first choice with a single attempt.
///
/// Crash safety: the target slot is marked not-ok *before* its files are
/// touched and marked ok only after they are complete and synced, so a
/// power cut at any point leaves GRUB booting the running slot.
pub fn install<R: Read>(
    layout: &Layout,
    running: Slot,
    mut bundle: Verified<R>,
    progress: &mut dyn FnMut(&str),
) -> Result<Installed> {
    let target = running.other();
    let version = bundle.manifest().version.clone();
    let env_path = layout.env_path();
    let mut env = grubenv::read(&env_path)?;
    env.set(&target.var("ok"), "0")?;
    env.set(&target.var("left"), "0")?;
    env.unset(&target.var("ver"));
    env.set("bb_order", &format!("{running} {target}"))?;
    grubenv::write_in_place(&env_path, &env)?;

    let dir = layout.slot_dir(target);
    std::fs::create_dir_all(&dir).map_err(io(format!("cannot create {}", dir.display())))?;
    // Free the space of the old firmware first: the boot partition holds
    // two slots, not three.
    for name in FILES {
        for p in [dir.join(name), tmp_name(&dir, name)] {
            match std::fs::remove_file(&p) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(io(format!("cannot remove {}", p.display()))(e))
                }
                _ => {}
            }
        }
    }
    for name in FILES {
        progress(&format!("writing slot {target}: {name}"));
        let tmp = tmp_name(&dir, name);
        let result = (|| {
            let mut f =
                File::create(&tmp).map_err(io(format!("cannot create {}", tmp.display())))?;
            bundle.copy_next(name, &mut f)?;
            f.sync_all()
                .map_err(io(format!("cannot sync {}", tmp.display())))
        })();
        if let Err(e) = result {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    }
    for name in FILES {
        let (tmp, dst) = (tmp_name(&dir, name), dir.join(name));
        std::fs::rename(&tmp, &dst).map_err(io(format!("cannot rename {}", tmp.display())))?;
    }
    sync_dir(&dir);

    env.set(&target.var("ok"), "1")?;
    env.set(&target.var("left"), "1")?;
    env.set(&target.var("ver"), &version)?;
    env.set("bb_order", &format!("{target} {running}"))?;
    grubenv::write_in_place(&env_path, &env)?;
    progress(&format!(
        "slot {target} holds {version}; it is tried once at the next boot"
    ));
    Ok(Installed {
        slot: target,
        version,
    })
}

fn tmp_name(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.new"))
}

fn sync_dir(dir: &Path) {
    // Not every file system supports fsync on a directory; the renames are
    // also covered by the grubenv write, which is synced.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// What [`confirm`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirmed {
    /// The running slot was already confirmed.
    Unchanged,
    /// The running slot is now confirmed.
    Confirmed,
    /// The preferred slot failed to come up; it is now marked bad and the
    /// running slot is first again.
    RolledBack {
        /// The slot that failed.
        failed: Slot,
        /// Its version, if known.
        version: Option<String>,
    },
}

/// Marks the running slot good (full attempts, first in order). If GRUB
/// preferred the other slot but we run this one, the other one failed:
/// mark it bad.
pub fn confirm(layout: &Layout, running: Slot, version: Option<&str>) -> Result<Confirmed> {
    let env_path = layout.env_path();
    let before = grubenv::read(&env_path)?;
    let mut env = before.clone();
    let other = running.other();
    let mut outcome = Confirmed::Confirmed;
    if order(&env).first() == Some(&other) && env.get(&other.var("ok")) == Some("1") {
        outcome = Confirmed::RolledBack {
            failed: other,
            version: env.get(&other.var("ver")).map(str::to_string),
        };
        env.set(&other.var("ok"), "0")?;
        env.set(&other.var("left"), "0")?;
    }
    env.set("bb_order", &format!("{running} {other}"))?;
    env.set(&running.var("ok"), "1")?;
    env.set(&running.var("left"), &MAX_ATTEMPTS.to_string())?;
    if let Some(v) = version {
        crate::bundle::check_version(v)?;
        env.set(&running.var("ver"), v)?;
    }
    if env == before {
        return Ok(Confirmed::Unchanged);
    }
    grubenv::write_in_place(&env_path, &env)?;
    Ok(outcome)
}

impl Status {
    /// The state of `slot`.
    pub fn slot(&self, slot: Slot) -> &SlotState {
        match slot {
            Slot::A => &self.a,
            Slot::B => &self.b,
        }
    }
}

/// Whether rebooting would bring up another firmware when the service
/// cannot start: the running slot has not confirmed itself in this boot
/// (GRUB took an attempt; a confirm puts it back to the maximum) and the
/// other slot holds a good firmware. GRUB then skips the running slot once
/// its attempts are used up. Without a good other slot, rebooting would
/// only loop, so the box stays up (with its console) instead.
pub fn fallback_available(st: &Status, running: Slot) -> bool {
    st.slot(running).attempts_left < MAX_ATTEMPTS && st.slot(running.other()).ok
}

/// Fails unless the boot partition looks like a Bootbox one.
pub fn check_layout(layout: &Layout) -> Result<()> {
    if !layout.env_path().is_file() {
        return Err(Error::Slot(format!(
            "{} not found: is the boot partition mounted at {}?",
            layout.env_path().display(),
            layout.boot.display()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{bundle, keys};

    /// A boot partition as the image ships it, plus a simulation of what
    /// GRUB's grub.cfg does at boot.
    struct Disk {
        _dir: tempfile::TempDir,
        layout: Layout,
    }

    impl Disk {
        fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            let layout = Layout::new(dir.path());
            std::fs::create_dir_all(dir.path().join("grub")).unwrap();
            std::fs::create_dir_all(dir.path().join("A")).unwrap();
            grubenv::create(&layout.env_path(), &factory_env("1.0").unwrap()).unwrap();
            Self { _dir: dir, layout }
        }

        /// The slot choice of board/bootbox-x86_64/grub.cfg.
        fn grub_boot(&self) -> Slot {
            let mut env = grubenv::read(&self.layout.env_path()).unwrap();
            let pick = order(&env).into_iter().find(|s| {
                let st = slot_state(&env, *s);
                st.ok && st.attempts_left > 0
            });
            let slot = pick
                .or_else(|| order(&env).into_iter().find(|s| slot_state(&env, *s).ok))
                .unwrap_or(Slot::A);
            let left = slot_state(&env, slot).attempts_left.saturating_sub(1);
            env.set(&slot.var("left"), &left.to_string()).unwrap();
            grubenv::write_in_place(&self.layout.env_path(), &env).unwrap();
            slot
        }
    }

    fn make_bundle(key: &ed25519_dalek::SigningKey, version: &str) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        let (k, i) = (dir.path().join("k"), dir.path().join("i"));
        std::fs::write(&k, format!("kernel {version}")).unwrap();
        std::fs::write(&i, format!("initramfs {version}")).unwrap();
        let mut out = Vec::new();
        bundle::pack(key, version, &k, &i, &mut out).unwrap();
        out
    }

    #[test]
    fn cmdline_slot() {
        assert_eq!(running_slot("quiet bootbox.slot=B panic=5"), Some(Slot::B));
        assert_eq!(running_slot("quiet"), None);
        assert_eq!(running_slot("bootbox.slot=C"), None);
    }

    #[test]
    fn update_confirm_then_failed_update_rolls_back() {
        let disk = Disk::new();
        let key = keys::generate().unwrap();
        let l = &disk.layout;
        assert_eq!(disk.grub_boot(), Slot::A);
        assert_eq!(confirm(l, Slot::A, None).unwrap(), Confirmed::Confirmed);
        assert_eq!(confirm(l, Slot::A, None).unwrap(), Confirmed::Unchanged);

        // Good update into B: tried once, confirmed, stays.
        let b = make_bundle(&key, "2.0");
        let v = bundle::open(&b[..], &key.verifying_key()).unwrap();
        let done = install(l, Slot::A, v, &mut |_| {}).unwrap();
        assert_eq!(done.slot, Slot::B);
        assert_eq!(
            std::fs::read(l.slot_dir(Slot::B).join("vmlinuz")).unwrap(),
            b"kernel 2.0"
        );
        assert_eq!(disk.grub_boot(), Slot::B);
        assert_eq!(
            confirm(l, Slot::B, Some("2.0")).unwrap(),
            Confirmed::Confirmed
        );
        assert_eq!(disk.grub_boot(), Slot::B);
        let st = status(l).unwrap();
        assert_eq!(st.order, ["B", "A"]);
        assert_eq!(st.b.attempts_left, 2);

        // Bad update into A: tried once, never confirms, GRUB falls back.
        let bad = make_bundle(&key, "3.0-bad");
        let v = bundle::open(&bad[..], &key.verifying_key()).unwrap();
        install(l, Slot::B, v, &mut |_| {}).unwrap();
        assert_eq!(disk.grub_boot(), Slot::A); // panics, never confirms
        assert_eq!(disk.grub_boot(), Slot::B);
        assert_eq!(
            confirm(l, Slot::B, None).unwrap(),
            Confirmed::RolledBack {
                failed: Slot::A,
                version: Some("3.0-bad".into())
            }
        );
        let st = status(l).unwrap();
        assert_eq!(st.order, ["B", "A"]);
        assert!(!st.a.ok);
        assert!(st.b.ok);
        assert_eq!(disk.grub_boot(), Slot::B);
    }

    #[test]
    fn interrupted_install_keeps_running_slot() {
        let disk = Disk::new();
        let l = &disk.layout;
        let key = keys::generate().unwrap();
        let mut b = make_bundle(&key, "2.0");
        let n = b.len();
        b.truncate(n - 3); // stream ends early, like a cut upload
        let v = bundle::open(&b[..], &key.verifying_key()).unwrap();
        let err = install(l, Slot::A, v, &mut |_| {}).unwrap_err();
        assert!(err.to_string().contains("truncated"), "{err}");
        assert!(!l.slot_dir(Slot::B).join("initramfs.new").exists());
        let st = status(l).unwrap();
        assert!(!st.b.ok);
        assert_eq!(st.order, ["A", "B"]);
        assert_eq!(disk.grub_boot(), Slot::A);
    }

    #[test]
    fn fallback_only_to_a_good_other_slot_and_only_before_confirm() {
        let disk = Disk::new();
        let l = &disk.layout;
        let key = keys::generate().unwrap();
        assert_eq!(disk.grub_boot(), Slot::A);
        // Factory slot, B empty: nothing to fall back to.
        assert!(!fallback_available(&status(l).unwrap(), Slot::A));
        confirm(l, Slot::A, None).unwrap();
        let b = make_bundle(&key, "2.0");
        install(
            l,
            Slot::A,
            bundle::open(&b[..], &key.verifying_key()).unwrap(),
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(disk.grub_boot(), Slot::B);
        // B on trial and A good: giving up on B brings A back.
        assert!(fallback_available(&status(l).unwrap(), Slot::B));
        assert_eq!(disk.grub_boot(), Slot::A);
        // Once confirmed, a slot does not give up.
        confirm(l, Slot::A, None).unwrap();
        assert!(!fallback_available(&status(l).unwrap(), Slot::A));
    }

    #[test]
    fn missing_env_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = check_layout(&Layout::new(dir.path())).unwrap_err();
        assert!(err.to_string().contains("boot partition"), "{err}");
    }
}
