//! `<image>.desc`: the free-text history of an image, newest entry first.
//!
//! `linbo_wrapper` prepends one line per `create_image`/`create_qdiff`:
//! `<date>: <comment>` where `<date>` is the output of `date` (e.g.
//! `Thu May  2 14:30:12 CEST 2024`). Admins also edit the file by hand, so
//! it is kept losslessly: [`ImageDesc::render`] returns exactly the text
//! that was parsed, and [`ImageDesc::entries`] is a best-effort reading.

/// The text of a `.desc` file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImageDesc {
    text: String,
}

/// One history entry as read by [`ImageDesc::entries`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DescEntry {
    /// The date part before the first `": "` (empty for text that does not
    /// look like an entry, such as hand-written notes at the top).
    pub date: String,
    /// The message, including any continuation lines (joined with `\n`).
    pub message: String,
}

/// Splits `line` into date and message if it looks like `<date>: <msg>`:
/// the part before the first `": "` is short, contains a digit and starts
/// with a letter or digit.
fn split_entry(line: &str) -> Option<(&str, &str)> {
    let (date, msg) = line.split_once(": ")?;
    let looks_like_date = !date.is_empty()
        && date.chars().count() <= 40
        && date.chars().next().is_some_and(|c| c.is_alphanumeric())
        && date.chars().any(|c| c.is_ascii_digit());
    looks_like_date.then_some((date, msg))
}

impl ImageDesc {
    /// Reads a `.desc` file. Never fails: any text is a valid description.
    pub fn parse(text: &str) -> ImageDesc {
        ImageDesc {
            text: text.to_string(),
        }
    }

    /// The file content, byte for byte as parsed (plus prepended entries).
    pub fn render(&self) -> String {
        self.text.clone()
    }

    /// The whole text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// True if the description is empty or whitespace only.
    pub fn is_empty(&self) -> bool {
        self.text.trim().is_empty()
    }

    /// Adds `<date>: <comment>` as the new first line, as `linbo_wrapper`
    /// does. Line breaks in `comment` are kept (as `\n`); trailing
    /// whitespace is dropped.
    pub fn prepend(&mut self, date: &str, comment: &str) {
        let comment = comment.replace("\r\n", "\n").replace('\r', "\n");
        let date = date.trim();
        let mut entry = format!("{date}: {}", comment.trim_end());
        entry.push('\n');
        entry.push_str(&self.text);
        self.text = entry;
    }

    /// Best-effort split into entries, newest first. A line of the form
    /// `<date>: <message>` starts an entry; other non-empty lines continue
    /// the previous entry (or form an entry with an empty date at the top).
    pub fn entries(&self) -> Vec<DescEntry> {
        let mut out: Vec<DescEntry> = Vec::new();
        for line in self.text.lines() {
            if let Some((date, msg)) = split_entry(line) {
                out.push(DescEntry {
                    date: date.trim().to_string(),
                    message: msg.trim_end().to_string(),
                });
                continue;
            }
            if line.trim().is_empty() {
                continue;
            }
            match out.last_mut() {
                Some(e) => {
                    if !e.message.is_empty() {
                        e.message.push('\n');
                    }
                    e.message.push_str(line.trim_end());
                }
                None => out.push(DescEntry {
                    date: String::new(),
                    message: line.trim_end().to_string(),
                }),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DESC: &str = "\
Thu May  2 14:30:12 CEST 2024: Office 2021 und Treiber aktualisiert
Mon Jan 15 08:01:55 CET 2024: win11.qcow2 created by linbo_wrapper.
  second line of a hand-written note
";

    #[test]
    fn lossless() {
        for t in [DESC, "", "no newline", "\r\nwindows\r\n", "  \n\n"] {
            assert_eq!(ImageDesc::parse(t).render(), t);
        }
    }

    #[test]
    fn entries_newest_first() {
        let d = ImageDesc::parse(DESC);
        let e = d.entries();
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].date, "Thu May  2 14:30:12 CEST 2024");
        assert_eq!(e[0].message, "Office 2021 und Treiber aktualisiert");
        assert_eq!(
            e[1].message,
            "win11.qcow2 created by linbo_wrapper.\n  second line of a hand-written note"
        );
    }

    #[test]
    fn prepend_like_linbo_wrapper() {
        let mut d = ImageDesc::parse(DESC);
        d.prepend("Fri Jun  7 10:00:00 CEST 2024", "Firefox 126 \r\n");
        assert!(d
            .render()
            .starts_with("Fri Jun  7 10:00:00 CEST 2024: Firefox 126\nThu May  2"));
        assert_eq!(d.entries().len(), 3);
        assert_eq!(d.entries()[0].message, "Firefox 126");

        let mut empty = ImageDesc::default();
        assert!(empty.is_empty());
        empty.prepend("2024-06-07 10:00", "first image");
        assert_eq!(empty.render(), "2024-06-07 10:00: first image\n");
        assert_eq!(empty.entries()[0].date, "2024-06-07 10:00");
    }

    #[test]
    fn free_text_without_dates() {
        let d = ImageDesc::parse("Schulimage Raum 101\nBitte nicht löschen: wichtig\n");
        let e = d.entries();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].date, "");
        assert_eq!(
            e[0].message,
            "Schulimage Raum 101\nBitte nicht löschen: wichtig"
        );
    }
}
