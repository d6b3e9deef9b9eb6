//! Windows registry patches `images/<base>/<img>.reg` and LINBO's
//! `"Domain"=` rewrite (linbo-facts §2.5): before a client downloads a
//! `.reg` file, the server sets its `"Domain"="…"` value to the school's
//! Windows domain.
//!
//! `.reg` files come as UTF-16LE with a byte order mark (what regedit
//! exports) or as ASCII/UTF-8, usually with CRLF line ends. [`set_domain`]
//! handles both and keeps the encoding, the BOM and every line end as they
//! were; anything else is left alone ([`DomainPatch::Unsupported`]).

/// Result of [`set_domain`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DomainPatch {
    /// The patched file content (same encoding and line ends).
    Changed(Vec<u8>),
    /// No `"Domain"=` line, or every one already names the domain.
    Unchanged,
    /// The encoding is not one this module rewrites; the reason.
    Unsupported(&'static str),
}

/// True if `name` is usable as a Windows domain name: a NetBIOS name like
/// `SCHULE` or a DNS name like `schule.lan` — dot-separated labels of
/// 1–63 letters, digits and `-` (not at a label's start or end), at most
/// 253 characters in all.
pub fn is_domain_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// Sets every `"Domain"=` value (key compared case-insensitively) in the
/// `.reg` file `bytes` to `domain`.
pub fn set_domain(bytes: &[u8], domain: &str) -> DomainPatch {
    const UTF8_BOM: &[u8] = &[0xef, 0xbb, 0xbf];
    if let Some(body) = bytes.strip_prefix(&[0xff, 0xfe]) {
        if body.len() % 2 != 0 {
            return DomainPatch::Unsupported("UTF-16LE with an odd number of bytes");
        }
        let units: Vec<u16> = body
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        let Ok(text) = String::from_utf16(&units) else {
            return DomainPatch::Unsupported("invalid UTF-16LE");
        };
        return match set_domain_text(&text, domain) {
            Some(new) => {
                let mut out = vec![0xff, 0xfe];
                out.extend(new.encode_utf16().flat_map(u16::to_le_bytes));
                DomainPatch::Changed(out)
            }
            None => DomainPatch::Unchanged,
        };
    }
    if bytes.starts_with(&[0xfe, 0xff]) {
        return DomainPatch::Unsupported("UTF-16BE");
    }
    let (bom, body) = match bytes.strip_prefix(UTF8_BOM) {
        Some(rest) => (UTF8_BOM, rest),
        None => (&[][..], bytes),
    };
    let Ok(text) = std::str::from_utf8(body) else {
        return DomainPatch::Unsupported("neither UTF-16LE with BOM nor UTF-8/ASCII");
    };
    match set_domain_text(text, domain) {
        Some(new) => {
            let mut out = bom.to_vec();
            out.extend_from_slice(new.as_bytes());
            DomainPatch::Changed(out)
        }
        None => DomainPatch::Unchanged,
    }
}

/// The text with its `"Domain"=` lines rewritten, `None` if nothing
/// changed. Line ends (`\r\n`, `\n`, none at the end) are kept.
fn set_domain_text(text: &str, domain: &str) -> Option<String> {
    let value = domain.replace('\\', "\\\\").replace('"', "\\\"");
    let mut out = String::with_capacity(text.len() + value.len());
    let mut changed = false;
    for line in text.split_inclusive('\n') {
        let (body, end) = match line.strip_suffix("\r\n") {
            Some(b) => (b, "\r\n"),
            None => match line.strip_suffix('\n') {
                Some(b) => (b, "\n"),
                None => (line, ""),
            },
        };
        match domain_key(body) {
            Some(key_end) => {
                let new = format!("{}=\"{value}\"", &body[..key_end]);
                changed |= new != body;
                out.push_str(&new);
            }
            None => out.push_str(body),
        }
        out.push_str(end);
    }
    changed.then_some(out)
}

/// For a `"Domain"=…` line: the byte length of everything before the `=`
/// (leading blanks, the quoted key, blanks after it).
fn domain_key(line: &str) -> Option<usize> {
    let lead = line.len() - line.trim_start().len();
    let rest = &line[lead..];
    let key = rest.get(..8)?;
    if !key.eq_ignore_ascii_case("\"domain\"") {
        return None;
    }
    let after = &rest[8..];
    let blanks = after.len() - after.trim_start().len();
    after[blanks..]
        .starts_with('=')
        .then_some(lead + 8 + blanks)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16(text: &str) -> Vec<u8> {
        let mut v = vec![0xff, 0xfe];
        v.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
        v
    }

    const REG: &str = "Windows Registry Editor Version 5.00\r\n\r\n\
        [HKEY_LOCAL_MACHINE\\System\\CurrentControlSet\\Services\\Tcpip\\Parameters]\r\n\
        \"Domain\"=\"OLD\"\r\n\"NV Domain\"=\"OLD\"\r\n\"Hostname\"=\"{$HostName$}\"\r\n";

    #[test]
    fn ascii_crlf_keeps_line_ends() {
        let DomainPatch::Changed(out) = set_domain(REG.as_bytes(), "SCHULE") else {
            panic!("expected a change");
        };
        let text = String::from_utf8(out).expect("utf8");
        assert_eq!(
            text,
            REG.replace("\"Domain\"=\"OLD\"", "\"Domain\"=\"SCHULE\"")
        );
        assert!(
            text.contains("\"NV Domain\"=\"OLD\""),
            "other keys untouched"
        );
        assert_eq!(text.matches("\r\n").count(), REG.matches("\r\n").count());
    }

    #[test]
    fn utf16le_with_bom_stays_utf16le() {
        let DomainPatch::Changed(out) = set_domain(&utf16(REG), "schule.lan") else {
            panic!("expected a change");
        };
        assert_eq!(
            out,
            utf16(&REG.replace("\"Domain\"=\"OLD\"", "\"Domain\"=\"schule.lan\""))
        );
    }

    #[test]
    fn key_case_blanks_and_no_final_newline() {
        let text = "REGEDIT4\n  \"domain\" = \"x\"";
        let DomainPatch::Changed(out) = set_domain(text.as_bytes(), "D") else {
            panic!("expected a change");
        };
        assert_eq!(out, b"REGEDIT4\n  \"domain\" =\"D\"");
    }

    #[test]
    fn utf8_bom_is_kept() {
        let mut input = vec![0xef, 0xbb, 0xbf];
        input.extend_from_slice(b"\"Domain\"=\"a\"\n");
        let DomainPatch::Changed(out) = set_domain(&input, "B") else {
            panic!("expected a change");
        };
        assert_eq!(out, b"\xef\xbb\xbf\"Domain\"=\"B\"\n");
    }

    #[test]
    fn unchanged_and_unsupported() {
        assert_eq!(
            set_domain(b"\"Domain\"=\"SCHULE\"\r\n", "SCHULE"),
            DomainPatch::Unchanged
        );
        assert_eq!(
            set_domain(b"\"Other\"=\"x\"\n", "S"),
            DomainPatch::Unchanged
        );
        assert_eq!(
            set_domain(b"\"DomainName\"=\"x\"\n", "S"),
            DomainPatch::Unchanged
        );
        assert!(matches!(
            set_domain(&[0xfe, 0xff, 0, 65], "S"),
            DomainPatch::Unsupported(_)
        ));
        assert!(matches!(
            set_domain(&[0xff, 0xfe, 65], "S"),
            DomainPatch::Unsupported(_)
        ));
        assert!(matches!(
            set_domain(b"\"Domain\"=\"\xe4\"", "S"),
            DomainPatch::Unsupported(_)
        ));
    }

    #[test]
    fn domain_names() {
        for ok in ["SCHULE", "schule.lan", "a", "my-school.example.org", "S1"] {
            assert!(is_domain_name(ok), "{ok}");
        }
        for bad in ["", "-a", "a-", "a..b", "a b", "a\"b", "x.", &"a".repeat(64)] {
            assert!(!is_domain_name(bad), "{bad}");
        }
    }
}
