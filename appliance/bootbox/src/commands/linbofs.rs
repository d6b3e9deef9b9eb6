//! `bootbox linbofs build`: rebuilds `<data>/linbo/linbofs64` (+ `.md5`)
//! from LINBO's original linbofs64 with this box's keys and settings.
//!
//! Files (all below `<data>/linbofs/`, mode 0700, never served):
//! - `linbofs64.orig` — LINBO's linbofs64 as provided. `--input FILE`
//!   replaces it after a successful build; without `--input`, an admin's
//!   linbofs64 found in `<data>/linbo/` (one not built by bootbox) is
//!   adopted as the original first.
//! - `dropbear_{rsa,ecdsa,ed25519}_host_key` — made once, shared by all
//!   clients; `linbo_salt` — made once, so equal inputs give equal bytes.
//! - `linbo-torrent` — optional admin override of the torrent defaults.
//!
//! Other inputs: the LINBO password from `<data>/rsyncd.secrets`, the box's
//! SSH public key (`<data>/ssh/id_ed25519.pub`, created if missing) and
//! LINBO's default `<data>/linbo/start.conf` when present.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use bootbox_linbofs::{keys, pwhash, Inject, Tools};
use clap::Subcommand;

use crate::datadir::DataDir;

/// `bootbox linbofs …`.
#[derive(Debug, Subcommand)]
pub enum LinbofsCommand {
    /// Rebuild <data>/linbo/linbofs64 and linbofs64.md5: the box's SSH key,
    /// dropbear host keys, the LINBO password hash, start.conf, torrent
    /// defaults and the proxy-DHCP server patch of init.sh.
    Build {
        /// LINBO's linbofs64 to start from (kept as <data>/linbofs/linbofs64.orig).
        /// Default: that kept original, else the admin's <data>/linbo/linbofs64.
        #[arg(long, value_name = "LINBOFS64")]
        input: Option<PathBuf>,
        /// Do not patch init.sh (only sensible when the box is the DHCP
        /// server itself, i.e. full-DHCP mode).
        #[arg(long)]
        no_server_patch: bool,
    },
}

/// Runs a `linbofs` command.
pub fn run(dir: &DataDir, cmd: LinbofsCommand) -> Result<()> {
    match cmd {
        LinbofsCommand::Build {
            input,
            no_server_patch,
        } => build(dir, input.as_deref(), !no_server_patch),
    }
}

fn private_dir(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(path).with_context(|| format!("cannot create {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("cannot protect {}", path.display()))
}

/// The salt, created once (mode 0600).
fn salt(state: &Path) -> Result<String> {
    use std::os::unix::fs::PermissionsExt;
    let path = state.join("linbo_salt");
    if let Ok(s) = std::fs::read_to_string(&path) {
        let s = s.trim().to_string();
        if s.len() == pwhash::SALT_LEN && s.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Ok(s);
        }
    }
    let s = pwhash::new_salt()?;
    super::write_atomic(&path, s.as_bytes())?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    Ok(s)
}

/// Which linbofs64 to start from, adopting the admin's file if needed.
fn original(dir: &DataDir, state: &Path, tools: &Tools) -> Result<PathBuf> {
    let orig = state.join("linbofs64.orig");
    if orig.is_file() {
        return Ok(orig);
    }
    let served = dir.linbo().join("linbofs64");
    if !served.is_file() {
        bail!(
            "no LINBO linbofs64: copy LINBO's linbofs64 to {} or pass --input FILE",
            served.display()
        );
    }
    let bytes =
        std::fs::read(&served).with_context(|| format!("cannot read {}", served.display()))?;
    let archive = bootbox_linbofs::unpack(&bytes, tools)
        .with_context(|| format!("{} is not a LINBO linbofs64", served.display()))?;
    if bootbox_linbofs::is_bootbox_build(&archive) {
        bail!(
            "{} was built by bootbox and the original ({}) is gone: pass LINBO's linbofs64 with --input",
            served.display(),
            orig.display()
        );
    }
    super::write_atomic(&orig, &bytes)?;
    eprintln!(
        "adopted {} as the original ({})",
        served.display(),
        orig.display()
    );
    Ok(orig)
}

/// Everything one build reads, gathered before anything is written.
struct Inputs {
    /// The linbofs64 to start from.
    source: PathBuf,
    /// `--input`'s bytes, kept as the original after a successful build.
    input_bytes: Option<Vec<u8>>,
    inject: Inject,
}

fn gather(dir: &DataDir, input: Option<&Path>, server_patch: bool) -> Result<Inputs> {
    let tools = Tools::default();
    let state = dir.root().join("linbofs");
    private_dir(&state)?;
    let source = match input {
        Some(p) => p.to_path_buf(),
        None => original(dir, &state, &tools)?,
    };
    // Read now: `--input` may name the very file the build replaces.
    let input_bytes = match input {
        Some(p) => Some(std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?),
        None => None,
    };
    let secrets = dir.root().join("rsyncd.secrets");
    let text = std::fs::read_to_string(&secrets).with_context(|| {
        format!(
            "cannot read the LINBO password from {} (`bootbox serve --rsync` creates it; or write `linbo:<password>`, mode 600)",
            secrets.display()
        )
    })?;
    let password = pwhash::password_from_secrets(&text)
        .with_context(|| format!("{} has no `linbo:<password>` line", secrets.display()))?;
    let ssh = bootbox_remote::ssh::ensure_key(&dir.root().join("ssh"))
        .context("cannot create the box's SSH key")?;
    let authorized_keys = std::fs::read_to_string(&ssh.public)
        .with_context(|| format!("cannot read {}", ssh.public.display()))?;
    let mut host_keys = Vec::new();
    for (kind, path) in keys::TYPES
        .iter()
        .zip(keys::ensure_host_keys(&state, Path::new("dropbearkey"))?)
    {
        let key =
            std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        host_keys.push((kind.to_string(), key));
    }
    let start_conf_path = dir.linbo().join("start.conf");
    let start_conf = match std::fs::read(&start_conf_path) {
        Ok(b) => Some(b),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            return Err(e).with_context(|| format!("cannot read {}", start_conf_path.display()))
        }
    };
    let torrent_defaults = match std::fs::read_to_string(state.join("linbo-torrent")) {
        Ok(t) => t,
        Err(_) => bootbox_linbofs::TORRENT_DEFAULTS.to_string(),
    };
    let mtime = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) => Some(
            v.trim()
                .parse::<u32>()
                .with_context(|| format!("SOURCE_DATE_EPOCH={v:?} is not a time in seconds"))?,
        ),
        Err(_) => None,
    };
    let inject = Inject {
        authorized_keys,
        host_keys,
        password,
        salt: salt(&state)?,
        t_cost: pwhash::LINBO_T_COST,
        start_conf,
        torrent_defaults,
        server_patch,
        mtime,
    };
    Ok(Inputs {
        source,
        input_bytes,
        inject,
    })
}

/// What the last successful build was made from (`<data>/linbofs/built.json`).
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct Built {
    /// [`fingerprint`] of its inputs.
    fingerprint: String,
    /// Whether init.sh got the proxy-DHCP server patch; automatic
    /// rebuilds keep the admin's last choice.
    server_patch: bool,
}

fn built_path(dir: &DataDir) -> PathBuf {
    dir.root().join("linbofs/built.json")
}

fn read_built(dir: &DataDir) -> Option<Built> {
    let text = std::fs::read_to_string(built_path(dir)).ok()?;
    serde_json::from_str(&text).ok()
}

/// SHA-256 over everything a build depends on. The original linbofs64
/// (tens of MB) counts by size and modification time, the small inputs by
/// content; the password only enters hashed.
fn fingerprint(inputs: &Inputs) -> Result<String> {
    use sha2::{Digest, Sha256};
    let meta = std::fs::metadata(&inputs.source)
        .with_context(|| format!("cannot read {}", inputs.source.display()))?;
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let i = &inputs.inject;
    let mut h = Sha256::new();
    let mut part = |label: &str, bytes: &[u8]| {
        h.update(label.as_bytes());
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    };
    part("source", format!("{}:{modified}", meta.len()).as_bytes());
    part("keys", i.authorized_keys.as_bytes());
    for (kind, key) in &i.host_keys {
        part(kind, key);
    }
    part("password", i.password.as_bytes());
    part("salt", i.salt.as_bytes());
    part("t_cost", &i.t_cost.to_le_bytes());
    part("start.conf", i.start_conf.as_deref().unwrap_or(b"\0none"));
    part("torrent", i.torrent_defaults.as_bytes());
    part("patch", &[u8::from(i.server_patch)]);
    part("mtime", &i.mtime.unwrap_or(0).to_le_bytes());
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Rebuilds `<data>/linbo/linbofs64` (+ `.md5`) from `input` or the kept
/// original. Blocking (argon2 with 1000 passes, xz).
pub fn build(dir: &DataDir, input: Option<&Path>, server_patch: bool) -> Result<()> {
    let inputs = gather(dir, input, server_patch)?;
    let (source, report) = build_from(dir, inputs)?;
    eprintln!(
        "linbofs64 rebuilt from {} ({}): {} members, {} bytes, md5 {}; proxy-DHCP server patch: {}",
        source.display(),
        report.linbo_version,
        report.entries,
        report.size,
        report.md5,
        report.server_patch.unwrap_or("off (--no-server-patch)")
    );
    println!("{}", dir.linbo().join("linbofs64").display());
    Ok(())
}

fn build_from(dir: &DataDir, inputs: Inputs) -> Result<(PathBuf, bootbox_linbofs::Report)> {
    let tools = Tools::default();
    let linbo = dir.linbo();
    std::fs::create_dir_all(&linbo)
        .with_context(|| format!("cannot create {}", linbo.display()))?;
    let output = linbo.join("linbofs64");
    let report = bootbox_linbofs::rebuild(&inputs.source, &output, &inputs.inject, &tools)
        .with_context(|| format!("linbofs rebuild from {} failed", inputs.source.display()))?;
    let mut source = inputs.source.clone();
    let orig = dir.root().join("linbofs/linbofs64.orig");
    if let Some(bytes) = &inputs.input_bytes {
        super::write_atomic(&orig, bytes)?;
        source = orig;
    }
    // Fingerprint what later builds will start from: the kept original.
    let kept = Inputs {
        source: source.clone(),
        input_bytes: None,
        inject: inputs.inject,
    };
    let built = Built {
        fingerprint: fingerprint(&kept)?,
        server_patch: kept.inject.server_patch,
    };
    super::write_atomic(&built_path(dir), serde_json::to_string(&built)?.as_bytes())?;
    Ok((source, report))
}

/// The outcome of [`rebuild_if_changed`].
#[derive(Debug)]
pub enum AutoBuild {
    /// No LINBO linbofs64 on the box yet: nothing to build from.
    NoOriginal,
    /// The served linbofs64 was built from the current inputs.
    Current,
    /// Rebuilt; the report of the build.
    Rebuilt(bootbox_linbofs::Report),
}

/// For the service: rebuilds linbofs64 when an input changed since the
/// last build (LINBO password, box key, default start.conf, torrent
/// defaults, a new original). Keeps the last build's server-patch choice.
pub fn rebuild_if_changed(dir: &DataDir) -> Result<AutoBuild> {
    let state = dir.root().join("linbofs");
    if !state.join("linbofs64.orig").is_file() && !dir.linbo().join("linbofs64").is_file() {
        return Ok(AutoBuild::NoOriginal);
    }
    let last = read_built(dir);
    let patch = last.as_ref().is_none_or(|b| b.server_patch);
    let inputs = gather(dir, None, patch)?;
    let served = dir.linbo().join("linbofs64");
    let now = fingerprint(&inputs)?;
    if served.is_file() && last.is_some_and(|b| b.fingerprint == now) {
        return Ok(AutoBuild::Current);
    }
    let (_, report) = build_from(dir, inputs)?;
    Ok(AutoBuild::Rebuilt(report))
}
