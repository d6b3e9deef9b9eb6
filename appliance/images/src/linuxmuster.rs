//! Reading a linuxmuster.net server's data: `devices.csv`, the
//! `start.conf.<group>` files and the image tree — from a copied folder
//! ([`read`]) or from an uploaded `.tar.gz` export ([`unpack_export`]).
//!
//! Shared by `bootbox import linuxmuster` and the web wizard, so both
//! read exactly the same way. Nothing here writes to the registry: the
//! caller turns an [`Export`] into a [`bootbox_store::ImportBatch`].
//!
//! Accepted layouts (inside the folder or the archive):
//!
//! ```text
//! etc/linuxmuster/sophomorix/default-school/devices.csv   or devices.csv
//! srv/linbo/start.conf.<group>                            or start.conf.<group>
//! srv/linbo/images/<base>/…                               (folders only)
//! ```

use std::fs;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use bootbox_linbo::devices::{self, Devices};
use bootbox_linbo::{names, LineError};
use bootbox_store::{Group, Image, ImageVersion};

/// Errors reading an export.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The source is not a folder.
    #[error("{0} is not a directory")]
    NotADirectory(PathBuf),
    /// devices.csv has bad lines; nothing may be imported.
    #[error("{file} has {lines} bad line(s); nothing was imported", lines = distinct_lines(.errors))]
    Devices {
        /// The devices.csv.
        file: PathBuf,
        /// Every problem with its line.
        errors: Vec<LineError>,
    },
    /// start.conf files have errors (`file:line: message` each).
    #[error("{} problem(s) in start.conf files; nothing was imported", .0.len())]
    StartConfs(Vec<String>),
    /// The uploaded archive is unusable or unsafe.
    #[error("archive: {0}")]
    Archive(String),
    /// Reading a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
}

fn distinct_lines(errors: &[LineError]) -> usize {
    errors
        .iter()
        .map(|e| e.line)
        .collect::<std::collections::BTreeSet<_>>()
        .len()
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ExportError + '_ {
    move |source| ExportError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What a linuxmuster export holds, ready for an import batch.
#[derive(Debug, Default)]
pub struct Export {
    /// The devices.csv found, if any.
    pub devices_file: Option<PathBuf>,
    /// Its parsed records.
    pub devices: Option<Devices>,
    /// Groups with their start.conf.
    pub groups: Vec<Group>,
    /// Images with their versions.
    pub images: Vec<Image>,
    /// Image folders to copy: `(base name, source folder)`.
    pub image_dirs: Vec<(String, PathBuf)>,
    /// Warnings (`file:line: message` or notes), for the operator.
    pub warnings: Vec<String>,
}

/// Reads a text file; non-UTF-8 files are read as Latin-1 with a note.
pub fn read_text(path: &Path, notes: &mut Vec<String>) -> Result<String, ExportError> {
    let bytes = fs::read(path).map_err(io(path))?;
    match String::from_utf8(bytes) {
        Ok(s) => Ok(s),
        Err(e) => {
            notes.push(format!(
                "note: {} is not UTF-8; reading it as Latin-1 (ISO-8859-1)",
                path.display()
            ));
            Ok(e.into_bytes().iter().map(|&b| b as char).collect())
        }
    }
}

/// Reads and parses a devices.csv; every bad line is an error.
pub fn read_devices(file: &Path, warnings: &mut Vec<String>) -> Result<Devices, ExportError> {
    let text = read_text(file, warnings)?;
    match devices::parse(&text) {
        Ok(d) => {
            warnings.extend(
                d.warnings
                    .iter()
                    .map(|w| format!("{}:{}: warning: {}", file.display(), w.line, w.message)),
            );
            Ok(d)
        }
        Err(errs) => Err(ExportError::Devices {
            file: file.to_path_buf(),
            errors: errs.errors,
        }),
    }
}

/// Reads a linuxmuster server copy in `src`.
pub fn read(src: &Path) -> Result<Export, ExportError> {
    if !src.is_dir() {
        return Err(ExportError::NotADirectory(src.to_path_buf()));
    }
    let mut ex = Export {
        devices_file: [
            src.join("devices.csv"),
            src.join("etc/linuxmuster/sophomorix/default-school/devices.csv"),
        ]
        .into_iter()
        .find(|p| p.is_file()),
        ..Export::default()
    };
    let linbo = if src.join("srv/linbo").is_dir() {
        src.join("srv/linbo")
    } else {
        src.to_path_buf()
    };
    if let Some(f) = ex.devices_file.clone() {
        ex.devices = Some(read_devices(&f, &mut ex.warnings)?);
    }
    ex.groups = read_start_confs(&linbo, &mut ex.warnings)?;
    let (images, dirs) = read_images(&linbo, &mut ex.warnings)?;
    ex.images = images;
    ex.image_dirs = dirs;
    Ok(ex)
}

/// Reads every `start.conf.<group>` in the LINBO root. All problems of all
/// files are reported together.
fn read_start_confs(linbo: &Path, warnings: &mut Vec<String>) -> Result<Vec<Group>, ExportError> {
    let mut groups = Vec::new();
    let mut problems = Vec::new();
    let mut entries: Vec<_> = fs::read_dir(linbo)
        .map_err(io(linbo))?
        .filter_map(Result::ok)
        .collect();
    entries.sort_by_key(fs::DirEntry::file_name);
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(group) = name.strip_prefix("start.conf.") else {
            continue;
        };
        // Host links (start.conf-<ip>) use '-', not '.'; backups end in '~' etc.
        if names::group(group).is_err() || entry.file_type().is_ok_and(|t| t.is_symlink()) {
            continue;
        }
        let path = entry.path();
        let text = read_text(&path, warnings)?;
        match bootbox_linbo::startconf::StartConf::parse(&text) {
            Ok(parsed) => {
                warnings.extend(
                    parsed
                        .warnings
                        .iter()
                        .map(|w| format!("{}:{}: warning: {}", path.display(), w.line, w.message)),
                );
                groups.push(Group {
                    name: group.to_string(),
                    start_conf: Some(text),
                    description: String::new(),
                });
            }
            Err(errs) => problems.extend(
                errs.errors
                    .iter()
                    .map(|e| format!("{}:{}: {}", path.display(), e.line, e.message)),
            ),
        }
    }
    if problems.is_empty() {
        Ok(groups)
    } else {
        Err(ExportError::StartConfs(problems))
    }
}

type ImageDirs = Vec<(String, PathBuf)>;

/// Reads `images/<base>/` folders: current files and `backups/<ts>/`.
fn read_images(
    linbo: &Path,
    warnings: &mut Vec<String>,
) -> Result<(Vec<Image>, ImageDirs), ExportError> {
    let root = linbo.join("images");
    let mut images = Vec::new();
    let mut dirs = Vec::new();
    if !root.is_dir() {
        return Ok((images, dirs));
    }
    let mut entries: Vec<_> = fs::read_dir(&root)
        .map_err(io(&root))?
        .filter_map(Result::ok)
        .collect();
    entries.sort_by_key(fs::DirEntry::file_name);
    for entry in entries {
        let base = entry.file_name().to_string_lossy().into_owned();
        if base == "tmp"
            || base == "backups"
            || names::group(&base).is_err()
            || !entry.path().is_dir()
        {
            continue;
        }
        let mut versions = image_versions(&entry.path(), &base, None, warnings)?;
        let backups = entry.path().join("backups");
        if backups.is_dir() {
            let mut stamps: Vec<_> = fs::read_dir(&backups)
                .map_err(io(&backups))?
                .filter_map(Result::ok)
                .collect();
            stamps.sort_by_key(|e| std::cmp::Reverse(e.file_name()));
            for ts in stamps {
                let ts_name = ts.file_name().to_string_lossy().into_owned();
                versions.extend(image_versions(&ts.path(), &base, Some(ts_name), warnings)?);
            }
        }
        if versions.is_empty() {
            continue;
        }
        images.push(Image {
            name: base.clone(),
            versions,
        });
        dirs.push((base, entry.path()));
    }
    Ok((images, dirs))
}

fn image_versions(
    dir: &Path,
    base: &str,
    backup: Option<String>,
    warnings: &mut Vec<String>,
) -> Result<Vec<ImageVersion>, ExportError> {
    let mut out = Vec::new();
    for ext in ["qcow2", "qdiff"] {
        let file = format!("{base}.{ext}");
        let path = dir.join(&file);
        let Ok(meta) = fs::metadata(&path) else {
            continue;
        };
        let info_path = dir.join(format!("{file}.info"));
        let timestamp = match fs::read_to_string(&info_path) {
            Ok(text) => match bootbox_linbo::info::ImageInfo::parse(&text) {
                Ok(info) => Some(info.timestamp),
                Err(e) => {
                    warnings.push(format!("{}: warning: ignored: {e}", info_path.display()));
                    None
                }
            },
            Err(_) => None,
        };
        let comment = fs::read_to_string(dir.join(format!("{file}.desc")))
            .ok()
            .and_then(|d| d.lines().next().map(str::to_string))
            .unwrap_or_default();
        out.push(ImageVersion {
            file,
            size: meta.len(),
            sha256: None,
            timestamp,
            comment,
            backup: backup.clone(),
        });
    }
    Ok(out)
}

/// Copies the export's image folders into `<linbo>/images` (each appears
/// complete or not at all; existing folders are kept). Returns notes.
pub fn copy_images(ex: &Export, linbo: &Path) -> Result<Vec<String>, ExportError> {
    let mut notes = Vec::new();
    for (name, from) in &ex.image_dirs {
        let to = linbo.join("images").join(name);
        if to.exists() {
            notes.push(format!("image folder {} exists, keeping it", to.display()));
            continue;
        }
        copy_tree_atomic(from, &to, &linbo.join("images").join("tmp"))?;
    }
    Ok(notes)
}

/// Copies (hard-links where possible) `from` to `to` through a staging
/// folder, so `to` appears complete or not at all.
fn copy_tree_atomic(from: &Path, to: &Path, staging_root: &Path) -> Result<(), ExportError> {
    fs::create_dir_all(staging_root).map_err(io(staging_root))?;
    let name = to
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let staging = staging_root.join(format!("import-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&staging);
    let result = copy_tree(from, &staging).and_then(|()| fs::rename(&staging, to).map_err(io(to)));
    if result.is_err() {
        let _ = fs::remove_dir_all(&staging);
    }
    result
}

fn copy_tree(from: &Path, to: &Path) -> Result<(), ExportError> {
    fs::create_dir_all(to).map_err(io(to))?;
    for entry in fs::read_dir(from).map_err(io(from))? {
        let entry = entry.map_err(io(from))?;
        let kind = entry.file_type().map_err(io(&entry.path()))?;
        let dst = to.join(entry.file_name());
        if kind.is_dir() {
            copy_tree(&entry.path(), &dst)?;
        } else if kind.is_file() && fs::hard_link(entry.path(), &dst).is_err() {
            fs::copy(entry.path(), &dst).map_err(io(&entry.path()))?;
        }
        // Symlinks are not followed: they could point outside the tree.
    }
    Ok(())
}

/// Largest uploaded export (compressed).
pub const ARCHIVE_MAX: usize = 16 << 20;
/// Largest unpacked member and total unpacked size.
const UNPACKED_MAX: u64 = 64 << 20;

/// Checks an archive member name: relative, no `..`, no root or prefix.
pub fn safe_member(name: &Path) -> Result<PathBuf, ExportError> {
    let mut out = PathBuf::new();
    for c in name.components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                return Err(ExportError::Archive(format!(
                    "unsafe member name '{}' (absolute or with '..'); nothing was imported",
                    name.display()
                )))
            }
        }
    }
    Ok(out)
}

/// True for the files an export upload may carry: a devices.csv and
/// `start.conf.<group>` files.
fn wanted(rel: &Path) -> bool {
    let file = rel
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    file == "devices.csv"
        || file
            .strip_prefix("start.conf.")
            .is_some_and(|g| names::group(g).is_ok())
}

/// Unpacks an uploaded `.tar.gz` linuxmuster export into `dest` (which
/// must be empty). Only `devices.csv` and `start.conf.<group>` members are
/// written; links and other files are skipped with a note. Any member name
/// that is absolute or contains `..` rejects the whole archive. Returns the
/// notes.
pub fn unpack_export(gz: &[u8], dest: &Path) -> Result<Vec<String>, ExportError> {
    if gz.len() > ARCHIVE_MAX {
        return Err(ExportError::Archive(format!(
            "the upload is too large (at most {} MiB)",
            ARCHIVE_MAX >> 20
        )));
    }
    if !gz.starts_with(&[0x1f, 0x8b]) {
        return Err(ExportError::Archive(
            "not a .tar.gz file (no gzip header)".into(),
        ));
    }
    let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(gz));
    let bad = |e: std::io::Error| ExportError::Archive(format!("cannot read the archive: {e}"));
    // First pass: check every name before anything is written.
    let mut plan: Vec<(PathBuf, Vec<u8>)> = Vec::new();
    let mut notes = Vec::new();
    let mut total = 0u64;
    for entry in ar.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        let raw = entry.path().map_err(bad)?.into_owned();
        let rel = safe_member(&raw)?;
        let kind = entry.header().entry_type();
        if kind.is_dir() {
            continue;
        }
        if !kind.is_file() {
            notes.push(format!("skipped '{}': not a regular file", raw.display()));
            continue;
        }
        if !wanted(&rel) {
            notes.push(format!(
                "skipped '{}': not devices.csv or start.conf.<group>",
                raw.display()
            ));
            continue;
        }
        let size = entry.header().size().map_err(bad)?;
        total = total.saturating_add(size);
        if total > UNPACKED_MAX {
            return Err(ExportError::Archive(
                "the archive unpacks to more than 64 MiB".into(),
            ));
        }
        let mut data = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        entry
            .by_ref()
            .take(UNPACKED_MAX)
            .read_to_end(&mut data)
            .map_err(bad)?;
        plan.push((rel, data));
    }
    if plan.is_empty() {
        return Err(ExportError::Archive(
            "no devices.csv and no start.conf.<group> in the archive".into(),
        ));
    }
    for (rel, data) in plan {
        let path = dest.join(&rel);
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(io(dir))?;
        }
        fs::write(&path, data).map_err(io(&path))?;
    }
    Ok(notes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_names_are_checked() {
        assert!(safe_member(Path::new("srv/linbo/start.conf.win11")).is_ok());
        assert!(safe_member(Path::new("./devices.csv")).is_ok());
        for bad in [
            "../etc/passwd",
            "/etc/passwd",
            "srv/../../x",
            "a/b/../../../c",
        ] {
            let e = safe_member(Path::new(bad)).expect_err(bad);
            assert!(e.to_string().contains("unsafe member name"), "{e}");
        }
    }
}
