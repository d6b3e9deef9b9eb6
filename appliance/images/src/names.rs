//! Image names: what may become a directory or file name in the tree.

use crate::{ImageError, Result};

/// Checks an image base name (the folder under `images/`): 1–64 of
/// `A-Z a-z 0-9 . _ -`, not starting with `.`, no `..`.
pub fn check_base(base: &str) -> Result<()> {
    let ok = !base.is_empty()
        && base.len() <= 64
        && !base.starts_with('.')
        && !base.contains("..")
        && base
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok && base != "tmp" && base != "backups" {
        Ok(())
    } else {
        Err(ImageError::BadName(format!(
            "'{base}' is not a usable image name (1–64 letters, digits, '.', '_' or '-'; not tmp or backups)"
        )))
    }
}

/// Full (`.qcow2`) or differential (`.qdiff`) image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageKind {
    /// `<base>.qcow2`.
    Full,
    /// `<base>.qdiff`, backed by `<base>.qcow2`.
    Diff,
}

/// A checked image file name and its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageFile {
    /// Base name (folder).
    pub base: String,
    /// Full or differential.
    pub kind: ImageKind,
}

impl ImageFile {
    /// The file name, `<base>.qcow2` or `<base>.qdiff`.
    pub fn name(&self) -> String {
        match self.kind {
            ImageKind::Full => format!("{}.qcow2", self.base),
            ImageKind::Diff => format!("{}.qdiff", self.base),
        }
    }
}

/// Parses `<base>.qcow2` / `<base>.qdiff`.
pub fn check_image_file(file: &str) -> Result<ImageFile> {
    let (base, kind) = if let Some(b) = file.strip_suffix(".qcow2") {
        (b, ImageKind::Full)
    } else if let Some(b) = file.strip_suffix(".qdiff") {
        (b, ImageKind::Diff)
    } else {
        return Err(ImageError::BadName(format!(
            "'{file}' must end in .qcow2 or .qdiff"
        )));
    };
    check_base(base)?;
    Ok(ImageFile {
        base: base.to_string(),
        kind,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(check_base("win11_efi-2").is_ok());
        assert!(check_base("ubuntu.24").is_ok());
        for bad in [
            "", ".hidden", "a/b", "..", "a..b", "tmp", "backups", "a b", "ä",
        ] {
            assert!(check_base(bad).is_err(), "{bad}");
        }
        assert_eq!(
            check_image_file("win11.qcow2").map(|f| f.kind).ok(),
            Some(ImageKind::Full)
        );
        assert_eq!(
            check_image_file("win11.qdiff").map(|f| f.name()).ok(),
            Some("win11.qdiff".into())
        );
        assert!(check_image_file("win11.iso").is_err());
        assert!(check_image_file("../x.qcow2").is_err());
    }
}
