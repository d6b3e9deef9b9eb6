//! Name rules for hosts, rooms and hardware classes (groups), as
//! linuxmuster's `sophomorix-device` and `linuxmuster-import-devices`
//! enforce them.

/// Checks a hostname: 1–63 characters of `A-Z a-z 0-9 -`, not starting or
/// ending with `-`. Returns the lower-cased name linuxmuster stores.
pub fn hostname(s: &str) -> Result<String, String> {
    if s.is_empty() {
        return Err("hostname is empty".into());
    }
    if s.len() > 63 {
        return Err(format!("hostname '{s}' is longer than 63 characters"));
    }
    if let Some(c) = s
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
    {
        return Err(format!(
            "hostname '{s}' contains '{c}'; only letters, digits and '-' are allowed"
        ));
    }
    if s.starts_with('-') || s.ends_with('-') {
        return Err(format!("hostname '{s}' must not start or end with '-'"));
    }
    Ok(s.to_ascii_lowercase())
}

/// Checks a room name: non-empty, `A-Z a-z 0-9 -` only.
pub fn room(s: &str) -> Result<(), String> {
    charset(
        "room",
        s,
        |c| c.is_ascii_alphanumeric() || c == '-',
        "letters, digits and '-'",
    )
}

/// Checks a hardware class (LINBO group) name: non-empty, `A-Z a-z 0-9 _ -`
/// only. The name becomes part of file names (`start.conf.<group>`).
pub fn group(s: &str) -> Result<(), String> {
    charset(
        "group",
        s,
        |c| c.is_ascii_alphanumeric() || c == '-' || c == '_',
        "letters, digits, '_' and '-'",
    )
}

fn charset(what: &str, s: &str, ok: impl Fn(char) -> bool, allowed: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err(format!("{what} is empty"));
    }
    if s.len() > 64 {
        return Err(format!("{what} '{s}' is longer than 64 characters"));
    }
    match s.chars().find(|c| !ok(*c)) {
        Some(c) => Err(format!(
            "{what} '{s}' contains '{c}'; only {allowed} are allowed"
        )),
        None => Ok(()),
    }
}

/// A plain file name as LINBO's tree uses them: no `/`, not `.`/`..`, only
/// `A-Z a-z 0-9 . - _`.
pub fn is_plain_file_name(s: &str) -> bool {
    !s.is_empty()
        && s != "."
        && s != ".."
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostnames() {
        assert_eq!(hostname("R100-PC01").as_deref(), Ok("r100-pc01"));
        assert!(hostname("-pc").is_err());
        assert!(hostname("pc-").is_err());
        assert!(hostname("pc_1").is_err());
        assert!(hostname("pc.local").is_err());
        assert!(hostname(&"a".repeat(64)).is_err());
        assert!(hostname(&"a".repeat(63)).is_ok());
    }

    #[test]
    fn rooms_and_groups() {
        assert!(room("r100").is_ok());
        assert!(room("r_100").is_err());
        assert!(group("win11_efi").is_ok());
        assert!(group("win 11").is_err());
        assert!(group("").is_err());
        assert!(group("../etc").is_err());
    }
}
