//! Operations on `<linbo>/images/`: promotion with backups, restore,
//! deletion, retention, scanning and crash recovery.

use std::fs;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use bootbox_linbo::startconf::StartConf;
use bootbox_store::{Group, Image, ImageVersion};
use serde::{Deserialize, Serialize};

use crate::names::{check_base, check_image_file, ImageKind};
use crate::upload::{Finished, StagedUpload, UploadLimits};
use crate::{ImageError, Result};

/// First multicast port, as LINBO's default.
pub const PORTBASE: u16 = 9000;

/// Companion suffixes that belong to one image file version.
const VERSION_COMPANIONS: &[&str] = &["info", "torrent", "hash", "sha256", "macct"];

/// The image tree under a LINBO root.
#[derive(Debug, Clone)]
pub struct ImageTree {
    linbo: PathBuf,
    images: PathBuf,
    staging: PathBuf,
}

/// What a promotion did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Promoted {
    /// The image file now current.
    pub file: String,
    /// Its size.
    pub size: u64,
    /// Its SHA-256.
    pub sha256: String,
    /// Its `.info` timestamp.
    pub timestamp: String,
    /// The backup folder the previous version went to, if there was one.
    pub backup: Option<String>,
}

/// Written before a promotion moves files; removed when it is complete.
#[derive(Debug, Serialize, Deserialize)]
struct Journal {
    base: String,
    file: String,
    staged: PathBuf,
    backup_dir: Option<PathBuf>,
    moved: Vec<String>,
    info: String,
    sha256: String,
}

impl ImageTree {
    /// Opens (creating folders as needed) the tree under `linbo`.
    pub fn open(linbo: &Path) -> Result<Self> {
        let images = linbo.join("images");
        let staging = images.join("tmp");
        fs::create_dir_all(&staging).map_err(ImageError::io("cannot create", &staging))?;
        Ok(Self {
            linbo: linbo.to_path_buf(),
            images,
            staging,
        })
    }

    /// `<linbo>/images/<base>`.
    pub fn image_dir(&self, base: &str) -> Result<PathBuf> {
        check_base(base)?;
        Ok(self.images.join(base))
    }

    /// Starts a streamed upload of `file` (`<base>.qcow2|qdiff`).
    pub fn begin_upload(
        &self,
        file: &str,
        declared_size: Option<u64>,
        limits: UploadLimits,
    ) -> Result<StagedUpload> {
        let target = check_image_file(file)?;
        StagedUpload::create(&self.staging, target, declared_size, limits)
    }

    /// Makes a verified upload the current version. The previous version
    /// (with its companions) moves to `backups/<its timestamp>/`; a new
    /// `.qcow2` also retires the old `.qdiff`, which no longer fits it.
    /// `info` is a client-provided `.info` text (kept as is when valid);
    /// otherwise one is generated with `timestamp` (YYYYMMDDHHMM).
    pub fn promote(
        &self,
        upload: Finished,
        comment: &str,
        info: Option<&str>,
        timestamp: &str,
    ) -> Result<Promoted> {
        let target = upload.target.clone();
        let file = target.name();
        let dir = self.images.join(&target.base);
        fs::create_dir_all(&dir).map_err(ImageError::io("cannot create", &dir))?;

        let info_text = match info.map(bootbox_linbo::info::ImageInfo::parse) {
            Some(Ok(i)) if i.image == file => i.render(),
            _ => crate::render_info(&file, timestamp, upload.size).ok_or_else(|| {
                ImageError::BadName(format!("timestamp '{timestamp}' is not YYYYMMDDHHMM"))
            })?,
        };
        let new_ts = bootbox_linbo::info::ImageInfo::parse(&info_text)
            .map(|i| i.timestamp)
            .unwrap_or_else(|_| timestamp.to_string());

        // What moves away: this file's version, and for a new base image
        // the differential image built on the old one.
        let mut moving: Vec<String> = version_files(&dir, &file);
        if target.kind == ImageKind::Full {
            moving.extend(version_files(&dir, &format!("{}.qdiff", target.base)));
        }
        let backup_dir = if moving.is_empty() {
            None
        } else {
            let old_ts = current_timestamp(&dir, &file).unwrap_or_else(|| timestamp.to_string());
            Some(unique_dir(&dir.join("backups"), &old_ts))
        };

        let journal = Journal {
            base: target.base.clone(),
            file: file.clone(),
            staged: upload.path.clone(),
            backup_dir: backup_dir.clone(),
            moved: moving.clone(),
            info: info_text.clone(),
            sha256: upload.sha256.clone(),
        };
        let journal_path = self.staging.join(format!("promote-{file}.json"));
        write_atomic(
            &journal_path,
            &serde_json::to_vec(&journal).unwrap_or_default(),
        )?;

        if let Some(bdir) = &backup_dir {
            fs::create_dir_all(bdir).map_err(ImageError::io("cannot create", bdir))?;
            for name in &moving {
                let from = dir.join(name);
                fs::rename(&from, bdir.join(name))
                    .map_err(ImageError::io("cannot move to backups", &from))?;
            }
            // The description is a history: the backup keeps a copy.
            let desc = dir.join(format!("{file}.desc"));
            if desc.exists() {
                let _ = fs::copy(&desc, bdir.join(format!("{file}.desc")));
            }
        }
        let dest = dir.join(&file);
        fs::rename(&upload.path, &dest)
            .map_err(ImageError::io("cannot move the upload into place", &dest))?;
        self.write_companions(&dir, &file, &info_text, &upload.sha256, comment, &new_ts)?;
        fs::remove_file(&journal_path).map_err(ImageError::io("cannot remove", &journal_path))?;
        sync_dir(&dir);
        Ok(Promoted {
            file,
            size: upload.size,
            sha256: upload.sha256.clone(),
            timestamp: new_ts,
            backup: backup_dir
                .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned())),
        })
    }

    fn write_companions(
        &self,
        dir: &Path,
        file: &str,
        info: &str,
        sha256: &str,
        comment: &str,
        ts: &str,
    ) -> Result<()> {
        write_atomic(&dir.join(format!("{file}.info")), info.as_bytes())?;
        write_atomic(
            &dir.join(format!("{file}.sha256")),
            format!("{sha256}  {file}\n").as_bytes(),
        )?;
        let desc_path = dir.join(format!("{file}.desc"));
        let old = fs::read_to_string(&desc_path).unwrap_or_default();
        let mut desc = bootbox_linbo::desc::ImageDesc::parse(&old);
        if !comment.trim().is_empty() {
            desc.prepend(&display_date(ts), comment.trim());
        }
        write_atomic(&desc_path, desc.render().as_bytes())
    }

    /// Finishes or rolls back promotions interrupted by a crash and removes
    /// partial uploads. Run before serving. Returns what it did, for the
    /// event log.
    pub fn recover(&self) -> Result<Vec<String>> {
        let mut done = Vec::new();
        let entries =
            fs::read_dir(&self.staging).map_err(ImageError::io("cannot list", &self.staging))?;
        let mut journals = Vec::new();
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with("promote-") && name.ends_with(".json") {
                journals.push(e.path());
            }
        }
        for jpath in journals {
            let Ok(j) = fs::read(&jpath)
                .map_err(|_| ())
                .and_then(|b| serde_json::from_slice::<Journal>(&b).map_err(|_| ()))
            else {
                let _ = fs::remove_file(&jpath);
                continue;
            };
            let dir = self.images.join(&j.base);
            if j.staged.exists() {
                // The new file never arrived: put the old version back.
                if let Some(bdir) = &j.backup_dir {
                    for name in &j.moved {
                        let from = bdir.join(name);
                        if from.exists() {
                            let _ = fs::rename(&from, dir.join(name));
                        }
                    }
                    let _ = fs::remove_file(bdir.join(format!("{}.desc", j.file)));
                    let _ = fs::remove_dir(bdir);
                }
                let _ = fs::remove_file(&j.staged);
                done.push(format!(
                    "interrupted upload of {} rolled back; the previous version is current",
                    j.file
                ));
            } else {
                // The new file is in place: finish its companions.
                let ts = bootbox_linbo::info::ImageInfo::parse(&j.info)
                    .map(|i| i.timestamp)
                    .unwrap_or_default();
                self.write_companions(&dir, &j.file, &j.info, &j.sha256, "", &ts)?;
                done.push(format!("interrupted promotion of {} completed", j.file));
            }
            let _ = fs::remove_file(&jpath);
        }
        for e in fs::read_dir(&self.staging)
            .map_err(ImageError::io("cannot list", &self.staging))?
            .flatten()
        {
            if e.file_name().to_string_lossy().ends_with(".part") {
                let _ = fs::remove_file(e.path());
                done.push(format!(
                    "removed partial upload {}",
                    e.file_name().to_string_lossy()
                ));
            }
        }
        Ok(done)
    }

    /// Makes backup `stamp` of `base` current again; the current version
    /// becomes a backup itself, so nothing is lost.
    pub fn restore(&self, base: &str, stamp: &str) -> Result<()> {
        let dir = self.image_dir(base)?;
        check_base(stamp)?;
        let bdir = dir.join("backups").join(stamp);
        if !bdir.is_dir() {
            return Err(ImageError::NotFound(format!(
                "backup {stamp} of image {base}"
            )));
        }
        let restoring: Vec<String> = list_files(&bdir);
        let files: Vec<String> = restoring
            .iter()
            .filter(|n| n.ends_with(".qcow2") || n.ends_with(".qdiff"))
            .cloned()
            .collect();
        if files.is_empty() {
            return Err(ImageError::NotFound(format!(
                "an image file in backup {stamp} of {base}"
            )));
        }
        let mut current: Vec<String> = Vec::new();
        for f in &files {
            current.extend(version_files(&dir, f));
        }
        if files.iter().any(|f| f.ends_with(".qcow2")) {
            current.extend(version_files(&dir, &format!("{base}.qdiff")));
        }
        current.sort();
        current.dedup();
        if !current.is_empty() {
            let ts = files
                .iter()
                .find_map(|f| current_timestamp(&dir, f))
                .unwrap_or_else(|| "replaced".to_string());
            let keep = unique_dir(&dir.join("backups"), &ts);
            fs::create_dir_all(&keep).map_err(ImageError::io("cannot create", &keep))?;
            for name in &current {
                let from = dir.join(name);
                fs::rename(&from, keep.join(name))
                    .map_err(ImageError::io("cannot move to backups", &from))?;
            }
        }
        for name in &restoring {
            let from = bdir.join(name);
            fs::rename(&from, dir.join(name)).map_err(ImageError::io("cannot restore", &from))?;
        }
        let _ = fs::remove_dir(&bdir);
        sync_dir(&dir);
        Ok(())
    }

    /// Deletes one backup.
    pub fn delete_backup(&self, base: &str, stamp: &str) -> Result<()> {
        let dir = self.image_dir(base)?;
        check_base(stamp)?;
        let bdir = dir.join("backups").join(stamp);
        if !bdir.is_dir() {
            return Err(ImageError::NotFound(format!(
                "backup {stamp} of image {base}"
            )));
        }
        fs::remove_dir_all(&bdir).map_err(ImageError::io("cannot delete", &bdir))
    }

    /// Deletes an image with all its versions, unless a group uses it.
    pub fn delete_image(&self, base: &str, groups: &[Group]) -> Result<()> {
        let dir = self.image_dir(base)?;
        if !dir.is_dir() {
            return Err(ImageError::NotFound(format!("image {base}")));
        }
        let users = groups_using(base, groups);
        if !users.is_empty() {
            return Err(ImageError::InUse {
                image: base.to_string(),
                groups: users,
            });
        }
        fs::remove_dir_all(&dir).map_err(ImageError::io("cannot delete", &dir))
    }

    /// Keeps the newest `keep` backups of `base`, deletes the older ones.
    /// Returns the deleted backup names.
    pub fn retain(&self, base: &str, keep: usize) -> Result<Vec<String>> {
        let bdir = self.image_dir(base)?.join("backups");
        let mut stamps = list_dirs(&bdir);
        stamps.sort_by(|a, b| b.cmp(a));
        let mut removed = Vec::new();
        for old in stamps.into_iter().skip(keep) {
            let p = bdir.join(&old);
            fs::remove_dir_all(&p).map_err(ImageError::io("cannot delete", &p))?;
            removed.push(old);
        }
        Ok(removed)
    }

    /// Reads the catalogue from disk: every image with its current files
    /// and backups (newest first).
    pub fn scan(&self) -> Vec<Image> {
        let mut bases = list_dirs(&self.images);
        bases.retain(|b| check_base(b).is_ok());
        bases.sort();
        bases
            .into_iter()
            .filter_map(|b| self.scan_image(&b))
            .collect()
    }

    /// One image from disk, `None` when it has no image file.
    pub fn scan_image(&self, base: &str) -> Option<Image> {
        let dir = self.image_dir(base).ok()?;
        let mut versions = versions_in(&dir, None);
        let mut stamps = list_dirs(&dir.join("backups"));
        stamps.sort_by(|a, b| b.cmp(a));
        for s in stamps {
            versions.extend(versions_in(&dir.join("backups").join(&s), Some(s.clone())));
        }
        (!versions.is_empty()).then(|| Image {
            name: base.to_string(),
            versions,
        })
    }

    /// Current image files of all images, for multicast.list.
    pub fn current_files(&self) -> Vec<String> {
        let mut out = Vec::new();
        for img in self.scan() {
            for v in img.versions.iter().filter(|v| v.backup.is_none()) {
                out.push(v.file.clone());
            }
        }
        out
    }

    /// Rewrites `<linbo>/multicast.list` for the current images.
    pub fn write_multicast_list(&self, server: Ipv4Addr, portbase: u16) -> Result<()> {
        let text = crate::multicast_list(server, portbase, &self.current_files())
            .map_err(ImageError::BadName)?;
        write_atomic(&self.linbo.join("multicast.list"), text.as_bytes())
    }
}

/// Groups whose start.conf names `base` as BaseImage (qcow2 or qdiff).
pub fn groups_using(base: &str, groups: &[Group]) -> Vec<String> {
    let names = [format!("{base}.qcow2"), format!("{base}.qdiff")];
    groups
        .iter()
        .filter(|g| {
            g.start_conf
                .as_deref()
                .and_then(|t| StartConf::parse(t).ok())
                .is_some_and(|p| {
                    p.conf
                        .oses()
                        .iter()
                        .any(|os| names.contains(&os.base_image))
                })
        })
        .map(|g| g.name.clone())
        .collect()
}

fn versions_in(dir: &Path, backup: Option<String>) -> Vec<ImageVersion> {
    let mut out = Vec::new();
    let mut files = list_files(dir);
    files.sort();
    for f in files.iter().filter(|f| check_image_file(f).is_ok()) {
        let Ok(meta) = fs::metadata(dir.join(f)) else {
            continue;
        };
        let sha256 = fs::read_to_string(dir.join(format!("{f}.sha256")))
            .ok()
            .and_then(|s| s.split_whitespace().next().map(str::to_string));
        let comment = fs::read_to_string(dir.join(format!("{f}.desc")))
            .ok()
            .and_then(|d| d.lines().next().map(str::to_string))
            .unwrap_or_default();
        out.push(ImageVersion {
            file: f.clone(),
            size: meta.len(),
            sha256,
            timestamp: current_timestamp(dir, f),
            comment,
            backup: backup.clone(),
        });
    }
    out
}

/// The `.info` timestamp of `file` in `dir`.
fn current_timestamp(dir: &Path, file: &str) -> Option<String> {
    let text = fs::read_to_string(dir.join(format!("{file}.info"))).ok()?;
    bootbox_linbo::info::ImageInfo::parse(&text)
        .ok()
        .map(|i| i.timestamp)
}

/// `file` and its per-version companions that exist in `dir`.
fn version_files(dir: &Path, file: &str) -> Vec<String> {
    let mut out = Vec::new();
    if dir.join(file).exists() {
        out.push(file.to_string());
        for ext in VERSION_COMPANIONS {
            let c = format!("{file}.{ext}");
            if dir.join(&c).exists() {
                out.push(c);
            }
        }
    }
    out
}

fn unique_dir(parent: &Path, stamp: &str) -> PathBuf {
    let mut candidate = parent.join(stamp);
    let mut n = 1;
    while candidate.exists() {
        candidate = parent.join(format!("{stamp}-{n}"));
        n += 1;
    }
    candidate
}

fn list_files(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn list_dirs(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n != "backups" && n != "tmp")
                .collect()
        })
        .unwrap_or_default()
}

/// `YYYYMMDDHHMM` → `DD.MM.YYYY HH:MM` for `.desc` entries.
fn display_date(ts: &str) -> String {
    if ts.len() == 12 && ts.bytes().all(|b| b.is_ascii_digit()) {
        format!(
            "{}.{}.{} {}:{}",
            &ts[6..8],
            &ts[4..6],
            &ts[0..4],
            &ts[8..10],
            &ts[10..12]
        )
    } else {
        ts.to_string()
    }
}

/// Writes through a temporary file, fsync and rename.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(ImageError::io("cannot write", path))
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
}
