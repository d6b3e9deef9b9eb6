//! Rebuilds LINBO's `linbofs64` for this box (linbo-facts §7).
//!
//! The admin provides LINBO's own linbofs64 (an xz-compressed newc cpio).
//! [`rebuild`] unpacks it, injects what LINBO's `update-linbofs` injects —
//! the box's SSH public key as `/.ssh/authorized_keys`, the shared dropbear
//! host keys, the argon2 hash of the LINBO password (`etc/linbo_pwhash`,
//! `etc/linbo_salt`, mode 600), the default `start.conf` and the torrent
//! defaults (`etc/default/linbo-torrent`) — applies the version-checked
//! proxy-DHCP server patch to `init.sh` ([`initpatch`]), and repacks it
//! deterministically (sorted members, fixed times, `xz --check=crc32`,
//! which the kernel's decoder accepts). The result and its `.md5` replace
//! the old files only when everything succeeded.

pub mod cpio;
pub mod initpatch;
pub mod keys;
pub mod pwhash;
pub mod xz;

use std::io::Write;
use std::path::{Path, PathBuf};

use md5::{Digest, Md5};

use crate::cpio::{Archive, Entry, S_IFDIR};

/// Errors of the linbofs rebuild.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The archive is not a newc cpio.
    #[error("linbofs is not a valid cpio archive: {0}")]
    Cpio(String),
    /// An external program (xz, dropbearkey) failed or is missing.
    #[error("{0}")]
    Tool(String),
    /// The password or its hash.
    #[error("LINBO password: {0}")]
    Secret(String),
    /// init.sh does not look like any LINBO version the patch knows.
    #[error(
        "init.sh of {version} cannot be patched for proxy-DHCP mode: {why}; refusing to patch it blindly \
         (LINBO clients would take the school's DHCP server as their LINBO server). \
         Use a LINBO release bootbox knows, or build with --no-server-patch in full-DHCP mode"
    )]
    InitSh {
        /// `etc/linbo-version` of the input.
        version: String,
        /// What was wrong.
        why: String,
    },
    /// The input lacks a file LINBO always has.
    #[error("{0}")]
    NotLinbo(String),
}

impl Error {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Marker file inside a linbofs built by bootbox (input md5, patch state).
pub const MARKER: &str = "etc/bootbox-linbofs";

/// Torrent defaults baked into linbofs as `etc/default/linbo-torrent`
/// (and read by the client's download and seeding scripts): the aria2c
/// options of LINBO 7.4 and the ctorrent options of LINBO 4.3, matching
/// the box's seeder (it serves any request of up to 128 KiB).
pub const TORRENT_DEFAULTS: &str = "\
# /etc/default/linbo-torrent — written by bootbox (linbofs rebuild)
# LINBO 7.x: aria2c options
ARIA2C_GLOBAL_OPTS=\"--enable-color=false --enable-dht=false --disable-ipv6=true\"
ARIA2C_DWNLD_OPTS=\"-c --console-log-level=notice --summary-interval=3 --seed-time=0\"
ARIA2C_SEED_OPTS=\"-V --seed-ratio=0.0\"
# LINBO 4.x: ctorrent options
SEEDHOURS=\"100000\"
MAXPEERS=\"100\"
MINPEERS=\"1\"
SLICESIZE=\"128\"
PIECELEN=\"524288\"
TIMEOUT=\"300\"
CTUSER=\"nobody\"
";

/// Everything injected into the archive.
#[derive(Debug, Clone)]
pub struct Inject {
    /// `/.ssh/authorized_keys` (the box's public key, one per line).
    pub authorized_keys: String,
    /// Dropbear host keys: (`rsa`|`ecdsa`|`ed25519`, key file bytes).
    pub host_keys: Vec<(String, Vec<u8>)>,
    /// The LINBO password (the rsync upload password).
    pub password: String,
    /// Its salt ([`pwhash::new_salt`], kept so rebuilds are reproducible).
    pub salt: String,
    /// Argon2 passes ([`pwhash::LINBO_T_COST`]; lower only in tests).
    pub t_cost: u32,
    /// `/start.conf` (LINBO's default start.conf); `None` keeps the input's.
    pub start_conf: Option<Vec<u8>>,
    /// `etc/default/linbo-torrent`.
    pub torrent_defaults: String,
    /// Apply the proxy-DHCP server patch to `init.sh`.
    pub server_patch: bool,
    /// Modification time of every member (SOURCE_DATE_EPOCH); `None`:
    /// members keep theirs, new ones get the newest time in the input.
    pub mtime: Option<u32>,
}

/// Programs the rebuild runs.
#[derive(Debug, Clone)]
pub struct Tools {
    /// Debian's `xz` (xz-utils).
    pub xz: PathBuf,
}

impl Default for Tools {
    fn default() -> Self {
        Tools { xz: "xz".into() }
    }
}

/// What a rebuild produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// `etc/linbo-version` of the input (or "unknown LINBO version").
    pub linbo_version: String,
    /// Hex md5 of the written linbofs64 (also in `<output>.md5`).
    pub md5: String,
    /// Size of the written file.
    pub size: u64,
    /// Which init.sh shape was patched (`None`: patch not requested).
    pub server_patch: Option<&'static str>,
    /// Members in the archive.
    pub entries: usize,
}

fn md5_hex(data: &[u8]) -> String {
    Md5::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The LINBO version string of an unpacked linbofs.
pub fn linbo_version(a: &Archive) -> String {
    a.entries
        .get("etc/linbo-version")
        .and_then(|e| {
            String::from_utf8_lossy(&e.data)
                .lines()
                .next()
                .map(str::to_string)
        })
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown LINBO version".into())
}

/// Unpacks an xz-compressed linbofs.
pub fn unpack(data: &[u8], tools: &Tools) -> Result<Archive, Error> {
    if xz::check_id(data).is_none() {
        return Err(Error::NotLinbo(
            "the input is not xz-compressed (LINBO's linbofs64 is an xz cpio)".into(),
        ));
    }
    let raw = xz::decompress(&tools.xz, data)?;
    if raw.get(257..262) == Some(b"ustar".as_slice()) {
        return Err(Error::NotLinbo(
            "the input is a tar archive (LINBO 7.4's linbofs64.tar.xz template?): use the linbofs64 \
             a LINBO server serves (/srv/linbo/linbofs64, an xz cpio)"
                .into(),
        ));
    }
    Archive::parse(&raw)
}

/// True when `a` was written by [`rebuild`].
pub fn is_bootbox_build(a: &Archive) -> bool {
    a.entries.contains_key(MARKER)
}

/// Applies the injections and the patch to an unpacked archive.
pub fn apply(
    a: &mut Archive,
    inject: &Inject,
    input_md5: &str,
) -> Result<Option<&'static str>, Error> {
    let version = linbo_version(a);
    if !a.entries.contains_key("init.sh") {
        return Err(Error::NotLinbo(format!(
            "the input ({version}) has no /init.sh: not a LINBO linbofs"
        )));
    }
    let newest = a.entries.values().map(|e| e.mtime).max().unwrap_or(0);
    let t = inject.mtime.unwrap_or(newest);
    let mut shape = None;
    if inject.server_patch {
        let init = &a.entries["init.sh"];
        let text = String::from_utf8(init.data.clone()).map_err(|_| Error::InitSh {
            version: version.clone(),
            why: "it is not UTF-8 text".into(),
        })?;
        let p = initpatch::patch(&text, &version)?;
        let mut e = init.clone();
        e.data = p.text.into_bytes();
        e.mtime = t;
        a.entries.insert("init.sh".into(), e);
        shape = Some(p.shape);
    }
    let hash = pwhash::linbo_hash(&inject.password, &inject.salt, inject.t_cost)?;
    a.put_file("etc/linbo_pwhash", Entry::file(0o600, hash.into_bytes(), t));
    a.put_file(
        "etc/linbo_salt",
        Entry::file(0o600, inject.salt.clone().into_bytes(), t),
    );
    for (kind, key) in &inject.host_keys {
        a.put_file(
            &format!("etc/dropbear/{}", keys::file_name(kind)),
            Entry::file(0o600, key.clone(), t),
        );
    }
    // root's ~/.ssh: a directory of mode 0700 whatever the input had there.
    match a.entries.get_mut(".ssh") {
        Some(e) if e.is_dir() => e.mode = S_IFDIR | 0o700,
        _ => {
            a.entries.insert(".ssh".into(), Entry::dir(0o700, t));
        }
    }
    a.put_file(
        ".ssh/authorized_keys",
        Entry::file(0o600, inject.authorized_keys.clone().into_bytes(), t),
    );
    if let Some(sc) = &inject.start_conf {
        a.put_file("start.conf", Entry::file(0o644, sc.clone(), t));
    }
    a.put_file(
        "etc/default/linbo-torrent",
        Entry::file(0o644, inject.torrent_defaults.clone().into_bytes(), t),
    );
    let marker = format!(
        "built by bootbox {}\ninput-md5 {input_md5}\nlinbo-version {version}\nserver-patch {}\n",
        env!("CARGO_PKG_VERSION"),
        shape.unwrap_or("off")
    );
    a.put_file(MARKER, Entry::file(0o644, marker.into_bytes(), t));
    if let Some(fixed) = inject.mtime {
        for e in a.entries.values_mut() {
            e.mtime = fixed;
        }
    }
    Ok(shape)
}

/// Writes `bytes` to `path` via a temporary file in the same directory
/// (fsynced), renamed into place by the caller.
fn write_temp(path: &Path, bytes: &[u8]) -> Result<PathBuf, Error> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let r = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()
    })();
    match r {
        Ok(()) => Ok(tmp),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(Error::io(&tmp, e))
        }
    }
}

/// Rebuilds `input` into `output` and `<output>.md5` (hex only, newline).
/// Nothing at `output` changes unless the whole build succeeded.
pub fn rebuild(
    input: &Path,
    output: &Path,
    inject: &Inject,
    tools: &Tools,
) -> Result<Report, Error> {
    let raw = std::fs::read(input).map_err(|e| Error::io(input, e))?;
    let mut archive = unpack(&raw, tools)?;
    let linbo_version = linbo_version(&archive);
    let server_patch = apply(&mut archive, inject, &md5_hex(&raw))?;
    let packed = xz::compress(&tools.xz, &archive.write())?;
    let md5 = md5_hex(&packed);
    let md5_path = PathBuf::from(format!("{}.md5", output.display()));
    let tmp = write_temp(output, &packed)?;
    let tmp_md5 = match write_temp(&md5_path, format!("{md5}\n").as_bytes()) {
        Ok(t) => t,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    if let Err(e) = std::fs::rename(&tmp, output) {
        let _ = std::fs::remove_file(&tmp);
        let _ = std::fs::remove_file(&tmp_md5);
        return Err(Error::io(output, e));
    }
    std::fs::rename(&tmp_md5, &md5_path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp_md5);
        Error::io(&md5_path, e)
    })?;
    Ok(Report {
        linbo_version,
        md5,
        size: packed.len() as u64,
        server_patch,
        entries: archive.entries.len(),
    })
}
