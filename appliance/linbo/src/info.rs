//! `<image>.info`: the metadata the client compares to decide whether its
//! cached image is up to date.
//!
//! ```text
//! ["win11.qcow2" Info File]
//! timestamp="202405021430"
//! image="win11.qcow2"
//! imagesize="21474836480"
//! partition="/dev/nvme0n1p3"
//! partitionsize="125829120"
//! ```
//!
//! A qdiff adds `backingfile_timestamp`; the ISO variant has only
//! timestamp, image and imagesize. Unknown keys are kept in order. The
//! client compares the whole file textually, so the server should serve
//! uploaded `.info` files unchanged and use [`ImageInfo::render`] only for
//! files it creates itself.

use crate::{LineError, ParseErrors};

/// Typed content of an `.info` file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ImageInfo {
    /// `image`: the image file name (also named in the title line).
    pub image: String,
    /// `timestamp`: creation time, `YYYYMMDDHHMM` (client local time).
    pub timestamp: String,
    /// `imagesize`: image file size in bytes.
    pub imagesize: Option<u64>,
    /// `partition`: the device the image was taken from.
    pub partition: Option<String>,
    /// `partitionsize`: size of that partition in KiB.
    pub partitionsize: Option<u64>,
    /// `backingfile_timestamp`: for a qdiff, the timestamp of its base image.
    pub backingfile_timestamp: Option<String>,
    /// Other `key="value"` lines, in file order.
    pub extra: Vec<(String, String)>,
}

const KNOWN: &[&str] = &[
    "timestamp",
    "image",
    "imagesize",
    "partition",
    "partitionsize",
    "backingfile_timestamp",
];

/// Checks a `YYYYMMDDHHMM` timestamp (month 01–12, day 01–31, hour 00–23,
/// minute 00–59).
pub fn check_timestamp(s: &str) -> Result<(), String> {
    let bad = || format!("'{s}' is not a timestamp of the form YYYYMMDDHHMM (e.g. 202405021430)");
    if s.len() != 12 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let field = |r: std::ops::Range<usize>| s.get(r).and_then(|f| f.parse::<u32>().ok());
    let (Some(month), Some(day), Some(hour), Some(minute)) =
        (field(4..6), field(6..8), field(8..10), field(10..12))
    else {
        return Err(bad());
    };
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return Err(bad());
    }
    Ok(())
}

fn parse_title(line: &str) -> Option<&str> {
    line.trim()
        .strip_prefix("[\"")?
        .strip_suffix("\" Info File]")
        .filter(|name| !name.is_empty() && !name.contains('"'))
}

fn parse_value(raw: &str) -> Result<String, String> {
    let v = raw.trim();
    let inner = match v.strip_prefix('"') {
        Some(rest) => rest
            .strip_suffix('"')
            .ok_or_else(|| format!("value {v} has an opening '\"' but no closing one"))?,
        None => v,
    };
    if inner.contains('"') {
        return Err(format!("value {v} contains a '\"' inside the quotes"));
    }
    if inner.chars().any(char::is_control) {
        return Err("the value contains a control character".to_string());
    }
    Ok(inner.to_string())
}

fn check_key(key: &str) -> Result<(), String> {
    let mut chars = key.chars();
    let ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "'{key}' is not a valid key (letters, digits and '_' only)"
        ))
    }
}

fn parse_u64(key: &str, v: &str) -> Result<u64, String> {
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{key} '{v}' is not a whole number"));
    }
    v.parse().map_err(|_| format!("{key} '{v}' is too large"))
}

impl ImageInfo {
    /// A minimal info (the ISO variant's fields without size): checks the
    /// image name and timestamp.
    pub fn new(image: &str, timestamp: &str) -> Result<ImageInfo, String> {
        crate::multicast::check_image_name(image)?;
        check_timestamp(timestamp)?;
        Ok(ImageInfo {
            image: image.to_string(),
            timestamp: timestamp.to_string(),
            imagesize: None,
            partition: None,
            partitionsize: None,
            backingfile_timestamp: None,
            extra: Vec::new(),
        })
    }

    /// True if the image is a differential image (`.qdiff`).
    pub fn is_qdiff(&self) -> bool {
        self.image.ends_with(".qdiff")
    }

    /// Parses an `.info` file, reporting every problem with its line.
    pub fn parse(text: &str) -> Result<ImageInfo, ParseErrors> {
        let mut errors: Vec<LineError> = Vec::new();
        let mut title: Option<(usize, String)> = None;
        let mut seen_first = false;
        let mut values: Vec<(usize, String, String)> = Vec::new();

        for (n, line) in crate::startconf::numbered_lines(text) {
            if line.trim().is_empty() {
                continue;
            }
            if !seen_first {
                seen_first = true;
                if let Some(name) = parse_title(line) {
                    title = Some((n, name.to_string()));
                    continue;
                }
                errors.push(LineError::new(
                    n,
                    "the first line must be the title [\"<image>\" Info File]",
                ));
                if line.trim_start().starts_with('[') {
                    continue;
                }
            }
            let Some((key, value)) = line.split_once('=') else {
                errors.push(LineError::new(
                    n,
                    format!("'{}' is not a key=\"value\" line", line.trim()),
                ));
                continue;
            };
            let key = key.trim();
            if let Err(e) = check_key(key) {
                errors.push(LineError::new(n, e));
                continue;
            }
            match parse_value(value) {
                Err(e) => errors.push(LineError::new(n, format!("{key}: {e}"))),
                Ok(v) => {
                    if let Some((first, _, _)) = values.iter().find(|(_, k, _)| k == key) {
                        errors.push(LineError::new(
                            n,
                            format!("{key} is set twice (first on line {first})"),
                        ));
                    } else {
                        values.push((n, key.to_string(), v));
                    }
                }
            }
        }

        let mut info = ImageInfo {
            image: String::new(),
            timestamp: String::new(),
            imagesize: None,
            partition: None,
            partitionsize: None,
            backingfile_timestamp: None,
            extra: Vec::new(),
        };
        let mut have_image = false;
        let mut have_timestamp = false;
        for (n, key, v) in values {
            let mut fail = |e: String| errors.push(LineError::new(n, e));
            match key.as_str() {
                "timestamp" => {
                    have_timestamp = true;
                    match check_timestamp(&v) {
                        Ok(()) => info.timestamp = v,
                        Err(e) => fail(format!("timestamp: {e}")),
                    }
                }
                "backingfile_timestamp" => match check_timestamp(&v) {
                    Ok(()) => info.backingfile_timestamp = Some(v),
                    Err(e) => fail(format!("backingfile_timestamp: {e}")),
                },
                "image" => {
                    have_image = true;
                    match crate::multicast::check_image_name(&v) {
                        Ok(()) => info.image = v,
                        Err(e) => fail(e),
                    }
                }
                "imagesize" => match parse_u64("imagesize", &v) {
                    Ok(x) => info.imagesize = Some(x),
                    Err(e) => fail(e),
                },
                "partitionsize" => match parse_u64("partitionsize", &v) {
                    Ok(x) => info.partitionsize = Some(x),
                    Err(e) => fail(e),
                },
                "partition" => info.partition = Some(v),
                _ => info.extra.push((key, v)),
            }
        }
        let report_line = title.as_ref().map_or(1, |(n, _)| *n);
        if !have_image {
            errors.push(LineError::new(
                report_line,
                "the file has no image=\"...\" line",
            ));
        }
        if !have_timestamp {
            errors.push(LineError::new(
                report_line,
                "the file has no timestamp=\"...\" line",
            ));
        }
        if let Some((n, name)) = &title {
            if have_image && !info.image.is_empty() && *name != info.image {
                errors.push(LineError::new(
                    *n,
                    format!("the title names '{name}' but image= says '{}'", info.image),
                ));
            }
        }
        ParseErrors::check(errors, info)
    }

    /// Writes the file: title, the known keys in LINBO's order, then the
    /// extra keys, each as `key="value"`.
    pub fn render(&self) -> String {
        let mut out = format!("[\"{}\" Info File]\n", self.image);
        let mut line = |k: &str, v: &str| {
            out.push_str(k);
            out.push_str("=\"");
            out.push_str(v);
            out.push_str("\"\n");
        };
        line("timestamp", &self.timestamp);
        line("image", &self.image);
        if let Some(s) = self.imagesize {
            line("imagesize", &s.to_string());
        }
        if let Some(p) = &self.partition {
            line("partition", p);
        }
        if let Some(s) = self.partitionsize {
            line("partitionsize", &s.to_string());
        }
        if let Some(t) = &self.backingfile_timestamp {
            line("backingfile_timestamp", t);
        }
        for (k, v) in &self.extra {
            if !KNOWN.contains(&k.as_str()) {
                line(k, v);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "[\"win11.qcow2\" Info File]
timestamp=\"202405021430\"
image=\"win11.qcow2\"
imagesize=\"21474836480\"
partition=\"/dev/nvme0n1p3\"
partitionsize=\"125829120\"
";

    const QDIFF: &str = "[\"win11.qdiff\" Info File]
timestamp=\"202406011200\"
image=\"win11.qdiff\"
imagesize=\"1073741824\"
partition=\"/dev/nvme0n1p3\"
partitionsize=\"125829120\"
backingfile_timestamp=\"202405021430\"
";

    #[test]
    fn base_image_info() {
        let i = ImageInfo::parse(BASE);
        assert!(i.is_ok(), "{i:?}");
        let Ok(i) = i else { return };
        assert_eq!(i.image, "win11.qcow2");
        assert_eq!(i.timestamp, "202405021430");
        assert_eq!(i.imagesize, Some(21_474_836_480));
        assert_eq!(i.partition.as_deref(), Some("/dev/nvme0n1p3"));
        assert_eq!(i.partitionsize, Some(125_829_120));
        assert_eq!(i.backingfile_timestamp, None);
        assert!(!i.is_qdiff());
        assert_eq!(i.render(), BASE);
    }

    #[test]
    fn qdiff_info_and_extras() {
        let text = format!("{QDIFF}creator=\"r101-pc01\"\n");
        let i = ImageInfo::parse(&text);
        assert!(i.is_ok(), "{i:?}");
        let Ok(i) = i else { return };
        assert!(i.is_qdiff());
        assert_eq!(i.backingfile_timestamp.as_deref(), Some("202405021430"));
        assert_eq!(
            i.extra,
            vec![("creator".to_string(), "r101-pc01".to_string())]
        );
        assert_eq!(i.render(), text);
    }

    #[test]
    fn iso_variant_and_unquoted_values() {
        let i = ImageInfo::parse("[\"rescue.iso\" Info File]\r\ntimestamp=202401010000\r\nimage=rescue.iso\r\nimagesize=\"734003200\"");
        assert!(i.is_ok(), "{i:?}");
        let Ok(i) = i else { return };
        assert_eq!(i.imagesize, Some(734_003_200));
        assert_eq!(i.partition, None);
        assert_eq!(
            i.render(),
            "[\"rescue.iso\" Info File]\ntimestamp=\"202401010000\"\nimage=\"rescue.iso\"\nimagesize=\"734003200\"\n"
        );
    }

    #[test]
    fn all_errors_with_lines() {
        let text = "\
[\"win11.qcow2\" Info File]
timestamp=\"2024-05-02\"
image=\"other.qcow2\"
imagesize=\"20G\"
partitionsize=\"-1\"
backingfile_timestamp=\"202413011200\"
no equals sign
bad key=\"x\"
partition=\"a\"b\"
imagesize=\"1\"
";
        let errs = ImageInfo::parse(text)
            .err()
            .map(|e| e.errors)
            .unwrap_or_default();
        let lines: Vec<usize> = errs.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![1, 2, 4, 5, 6, 7, 8, 9, 10], "{errs:#?}");
        assert!(errs[0].message.contains("title names 'win11.qcow2'"));
        assert!(errs[1].message.contains("YYYYMMDDHHMM"));
        assert!(errs[2].message.contains("whole number"));
        assert!(errs[8].message.contains("twice"));
    }

    #[test]
    fn missing_title_image_and_timestamp() {
        let errs = ImageInfo::parse("imagesize=\"1\"\n")
            .err()
            .map(|e| e.errors)
            .unwrap_or_default();
        assert_eq!(errs.len(), 3, "{errs:?}");
        assert!(errs[0].message.contains("title"));
        assert!(errs.iter().any(|e| e.message.contains("no image=")));
        assert!(errs.iter().any(|e| e.message.contains("no timestamp=")));
        let errs = ImageInfo::parse("")
            .err()
            .map(|e| e.errors)
            .unwrap_or_default();
        assert_eq!(errs.len(), 2);
        let errs = ImageInfo::parse("[win11 Info]\ntimestamp=\"202401010000\"\nimage=\"a\"\n")
            .err()
            .map(|e| e.errors)
            .unwrap_or_default();
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].line, 1);
    }

    #[test]
    fn timestamps() {
        assert!(check_timestamp("202405021430").is_ok());
        assert!(check_timestamp("202400021430").is_err());
        assert!(check_timestamp("202405321430").is_err());
        assert!(check_timestamp("202405022430").is_err());
        assert!(check_timestamp("202405021460").is_err());
        assert!(check_timestamp("20240502143").is_err());
        assert!(check_timestamp("2024050214301").is_err());
        assert!(check_timestamp("2024-5021430").is_err());
        assert!(ImageInfo::new("a.iso", "202401010000").is_ok());
        assert!(ImageInfo::new("a/b.iso", "202401010000").is_err());
    }
}
