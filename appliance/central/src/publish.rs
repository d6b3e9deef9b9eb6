//! Publishing a release on the central: files are copied (hard-linked when
//! on the same file system) into `<releases>/<id>/`, hashed, and the signed
//! manifest is written beside them. The folder appears under its final name
//! only when complete.

use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;

use crate::db::{CentralDb, Release, Wave};
use crate::manifest::{check_name, hash_file, FileEntry, Manifest, SignedManifest};
use crate::{io, now_ms, Error, Result};

/// Name of the signed manifest inside a release folder.
pub const MANIFEST_FILE: &str = "manifest.json";
/// Companions a release may carry as defaults; a school's own copy always
/// wins (the box installs them only where none exists).
pub const COMPANIONS: &[&str] = &["reg", "postsync", "prestart"];

/// What to publish.
#[derive(Debug, Clone)]
pub struct PublishRequest {
    /// An image file (`<base>.qcow2|qdiff`) or an image folder
    /// (`<base>/` with `<base>.qcow2`, optional `.qdiff` and companions).
    pub source: PathBuf,
    /// Version label.
    pub version: String,
    /// Release notes.
    pub notes: String,
    /// Oldest box version that may install it.
    pub min_box_version: String,
    /// Who gets it first (`Pilot`: pilot schools until it is promoted).
    pub wave: Wave,
}

fn sources(src: &Path) -> Result<(String, Vec<PathBuf>)> {
    let name = |p: &Path| {
        p.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    if src.is_file() {
        let file = name(src);
        let Some(base) = file
            .strip_suffix(".qcow2")
            .or_else(|| file.strip_suffix(".qdiff"))
        else {
            return Err(Error::Invalid(format!(
                "{} is not a .qcow2 or .qdiff image file",
                src.display()
            )));
        };
        return Ok((base.to_string(), vec![src.to_path_buf()]));
    }
    if !src.is_dir() {
        return Err(Error::Invalid(format!("{} does not exist", src.display())));
    }
    let base = name(src);
    let mut files = Vec::new();
    for ext in ["qcow2", "qdiff"].iter().chain(COMPANIONS) {
        let p = src.join(format!("{base}.{ext}"));
        if p.is_file() {
            files.push(p);
        }
    }
    if !files
        .iter()
        .any(|p| crate::manifest::is_image_file(&name(p)))
    {
        return Err(Error::Invalid(format!(
            "{} has no {base}.qcow2 or {base}.qdiff",
            src.display()
        )));
    }
    Ok((base, files))
}

/// Publishes a release: returns its signed manifest.
pub fn publish(
    db: &CentralDb,
    releases: &Path,
    key: &SigningKey,
    req: &PublishRequest,
) -> Result<SignedManifest> {
    let (image, files) = sources(&req.source)?;
    check_name("image", &image)?;
    check_name("version", &req.version)?;
    let id = format!("{image}-{}", req.version);
    let dest = releases.join(&id);
    if dest.exists() {
        return Err(Error::Invalid(format!("release {id} exists already")));
    }
    let tmp = releases.join(format!(".{id}.tmp"));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(io(format!("cannot create {}", tmp.display())))?;
    let result = (|| {
        let mut entries = Vec::new();
        for src in &files {
            let file = src
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let to = tmp.join(&file);
            if std::fs::hard_link(src, &to).is_err() {
                std::fs::copy(src, &to).map_err(io(format!("cannot copy {}", src.display())))?;
            }
            let (size, sha256) = hash_file(&to)?;
            entries.push(FileEntry {
                name: file,
                size,
                sha256,
            });
        }
        let m = Manifest {
            format: 1,
            image: image.clone(),
            version: req.version.clone(),
            files: entries,
            info_hash: None,
            notes: req.notes.clone(),
            min_box_version: req.min_box_version.clone(),
            created_ms: now_ms(),
        };
        let signed = m.sign(key)?;
        let text =
            serde_json::to_vec_pretty(&signed).map_err(|e| Error::Manifest(e.to_string()))?;
        std::fs::write(tmp.join(MANIFEST_FILE), text)
            .map_err(io(format!("cannot write the manifest of {id}")))?;
        std::fs::rename(&tmp, &dest).map_err(io(format!("cannot create {}", dest.display())))?;
        db.add_release(Release {
            id: id.clone(),
            image: image.clone(),
            version: req.version.clone(),
            created_ms: m.created_ms,
            wave: req.wave,
            withdrawn: false,
        })?;
        Ok(signed)
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    result
}

/// Reads the signed manifest of release `id` as stored (it is served as is;
/// the boxes verify it).
pub fn read_manifest(releases: &Path, id: &str) -> Result<SignedManifest> {
    check_name("release", id)?;
    let p = releases.join(id).join(MANIFEST_FILE);
    let text = std::fs::read(&p).map_err(io(format!("cannot read {}", p.display())))?;
    serde_json::from_slice(&text)
        .map_err(|e| Error::Manifest(format!("{} is unreadable: {e}", p.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_a_folder_and_read_it_back() {
        let d = tempfile::tempdir().expect("tmp");
        let src = d.path().join("win11");
        std::fs::create_dir_all(&src).expect("mkdir");
        std::fs::write(src.join("win11.qcow2"), vec![7u8; 5000]).expect("w");
        std::fs::write(src.join("win11.postsync"), "echo hi\n").expect("w");
        std::fs::write(src.join("other.txt"), "ignored").expect("w");
        let db = CentralDb::new(&d.path().join("c.redb"));
        let key = bootbox_firmware::keys::generate().expect("key");
        let rel = d.path().join("releases");
        let req = PublishRequest {
            source: src.clone(),
            version: "1".into(),
            notes: String::new(),
            min_box_version: "0.1.0".into(),
            wave: Wave::All,
        };
        let s = publish(&db, &rel, &key, &req).expect("publish");
        let m = s.verify(&key.verifying_key()).expect("verify");
        let names: Vec<_> = m.files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["win11.qcow2", "win11.postsync"]);
        assert_eq!(read_manifest(&rel, "win11-1").expect("read"), s);
        assert!(publish(&db, &rel, &key, &req).is_err(), "no second 1");
        let bad = PublishRequest {
            source: src.join("other.txt"),
            ..req
        };
        assert!(publish(&db, &rel, &key, &bad).is_err());
        assert_eq!(db.releases().expect("db").len(), 1);
    }
}
