//! What LINBO clients report about themselves: the one-line
//! `image.status` (overwritten on every restore or creation) and the
//! appended `linbo.log`, pulled by the server (linbo-facts §8).

use serde::Serialize;

/// What an `image.status` line says happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ImageEvent {
    /// The image was restored onto the PC (`applied:`).
    Applied,
    /// The image was created on the PC (`created:`).
    Created,
}

/// A parsed `image.status` line:
/// `<YYYYMMDDHHMM> applied: <image> <image timestamp>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageStatus {
    /// When it happened (client clock), `YYYYMMDDHHMM`.
    pub when: String,
    /// Restored or created.
    pub event: ImageEvent,
    /// Image file name.
    pub image: String,
    /// The image version's timestamp (from its `.info`).
    pub image_timestamp: Option<String>,
}

fn is_stamp(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// Parses the last meaningful line of an `image.status` file.
pub fn parse_image_status(text: &str) -> Result<ImageStatus, String> {
    let line = text
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .ok_or("image.status is empty")?;
    let mut words = line.split_whitespace();
    let when = words.next().unwrap_or_default();
    if !is_stamp(when) {
        return Err(format!(
            "image.status line {line:?} does not start with YYYYMMDDHHMM"
        ));
    }
    let event = match words.next() {
        Some("applied:") => ImageEvent::Applied,
        Some("created:") => ImageEvent::Created,
        other => {
            return Err(format!(
                "image.status line {line:?}: expected 'applied:' or 'created:', found {other:?}"
            ))
        }
    };
    let image = words
        .next()
        .filter(|i| crate::multicast::check_image_name(i).is_ok())
        .ok_or_else(|| format!("image.status line {line:?} names no image"))?;
    let image_timestamp = words.next().filter(|t| is_stamp(t)).map(str::to_string);
    Ok(ImageStatus {
        when: when.to_string(),
        event,
        image: image.to_string(),
        image_timestamp,
    })
}

/// Lines of a `linbo.log` that report a failure, as LINBO's scripts word
/// them (English and German), in order.
pub fn log_failures(text: &str) -> Vec<String> {
    const NEEDLES: &[&str] = &[
        "error",
        "failed",
        "fehler",
        "fehlgeschlagen",
        "abgebrochen",
        "cannot ",
        "not found",
    ];
    text.lines()
        .map(str::trim)
        .filter(|l| {
            let lower = l.to_lowercase();
            NEEDLES.iter().any(|n| lower.contains(n))
                && !lower.contains("0 errors")
                && !lower.contains("no error")
        })
        .map(|l| l.chars().take(300).collect())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applied_and_created_lines() {
        let s =
            parse_image_status("202511201830 applied: win11.qcow2 202511011200\n").expect("valid");
        assert_eq!(s.event, ImageEvent::Applied);
        assert_eq!(s.image, "win11.qcow2");
        assert_eq!(s.image_timestamp.as_deref(), Some("202511011200"));
        let s = parse_image_status("\n202511011200 created: ubuntu.qcow2 202511011200\n\n")
            .expect("valid");
        assert_eq!(s.event, ImageEvent::Created);
    }

    #[test]
    fn bad_status_lines_are_explained() {
        assert!(parse_image_status("").is_err());
        assert!(parse_image_status("yesterday applied: a.qcow2").is_err());
        assert!(parse_image_status("202511201830 deleted: a.qcow2").is_err());
        assert!(parse_image_status("202511201830 applied: ../../x").is_err());
    }

    #[test]
    fn failures_in_logs() {
        let log =
            "Starting sync of win11.qcow2\nrsync error: some files could not be transferred\n\
                   Synchronisation fehlgeschlagen!\nall fine, 0 errors\n";
        let f = log_failures(log);
        assert_eq!(f.len(), 2, "{f:?}");
        assert!(f[1].contains("fehlgeschlagen"));
    }
}
