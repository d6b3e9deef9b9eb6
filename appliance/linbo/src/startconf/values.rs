//! The keys LINBO knows in each start.conf section, the typed values some
//! of them take, and the checks every value must pass.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use super::SectionKind;

/// How the client fetches images (`[LINBO] DownloadType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DownloadType {
    /// rsync from the server (LINBO's default).
    #[default]
    Rsync,
    /// udpcast multicast, falling back to rsync.
    Multicast,
    /// BitTorrent, falling back to rsync.
    Torrent,
}

impl DownloadType {
    /// The spelling LINBO uses (`rsync`, `multicast`, `torrent`).
    pub fn as_str(self) -> &'static str {
        match self {
            DownloadType::Rsync => "rsync",
            DownloadType::Multicast => "multicast",
            DownloadType::Torrent => "torrent",
        }
    }
}

impl fmt::Display for DownloadType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DownloadType {
    type Err = String;

    /// Case-insensitive `rsync`, `multicast` or `torrent`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "rsync" => Ok(DownloadType::Rsync),
            "multicast" => Ok(DownloadType::Multicast),
            "torrent" => Ok(DownloadType::Torrent),
            _ => Err(format!(
                "'{s}' is not a download type (use rsync, multicast or torrent)"
            )),
        }
    }
}

/// Firmware type of the group's machines (`[LINBO] SystemType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SystemType {
    /// 32-bit BIOS.
    Bios,
    /// 64-bit BIOS.
    Bios64,
    /// 32-bit UEFI.
    Efi32,
    /// 64-bit UEFI.
    Efi64,
}

impl SystemType {
    /// The spelling LINBO uses (`bios`, `bios64`, `efi32`, `efi64`).
    pub fn as_str(self) -> &'static str {
        match self {
            SystemType::Bios => "bios",
            SystemType::Bios64 => "bios64",
            SystemType::Efi32 => "efi32",
            SystemType::Efi64 => "efi64",
        }
    }
}

impl fmt::Display for SystemType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SystemType {
    type Err = String;

    /// Case-insensitive `bios`, `bios64`, `efi32` or `efi64`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "bios" => Ok(SystemType::Bios),
            "bios64" => Ok(SystemType::Bios64),
            "efi32" => Ok(SystemType::Efi32),
            "efi64" => Ok(SystemType::Efi64),
            _ => Err(format!(
                "'{s}' is not a system type (use bios, bios64, efi32 or efi64)"
            )),
        }
    }
}

/// What the GUI's big button does for an OS (`[OS] DefaultAction`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DefaultAction {
    /// Start the installed OS.
    Start,
    /// Sync the image, then start.
    Sync,
    /// Format, restore the whole image, then start.
    New,
}

impl DefaultAction {
    /// The spelling LINBO uses (`start`, `sync`, `new`).
    pub fn as_str(self) -> &'static str {
        match self {
            DefaultAction::Start => "start",
            DefaultAction::Sync => "sync",
            DefaultAction::New => "new",
        }
    }
}

impl fmt::Display for DefaultAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DefaultAction {
    type Err = String;

    /// Case-insensitive `start`, `sync` or `new`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "start" => Ok(DefaultAction::Start),
            "sync" => Ok(DefaultAction::Sync),
            "new" => Ok(DefaultAction::New),
            _ => Err(format!(
                "'{s}' is not a default action (use start, sync or new)"
            )),
        }
    }
}

/// The shape a known key's value must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ValueKind {
    /// yes/no, read only by the GUI.
    Bool,
    /// yes/no that LINBO's shell scripts compare to lower-case `yes`.
    ScriptBool,
    DownloadType,
    SystemType,
    DefaultAction,
    /// Partition size: number with optional k/m/g/t unit, empty = rest.
    Size,
    /// MBR-style partition type code in hex.
    PartId,
    FsType,
    /// `/dev/...` block device.
    Dev,
    /// Cache location: device, NFS `host:/path` or CIFS `//server/share`.
    Cache,
    /// Non-negative integer (seconds).
    UInt,
    Locale,
    /// Server IPv4 address or host name.
    Server,
    /// LINBO group name.
    Group,
    /// A file name without directories (images, icons).
    FileName,
    /// Anything that passes the shell checks.
    Text,
}

/// Known keys per section: canonical spelling and value kind.
const LINBO_KEYS: &[(&str, ValueKind)] = &[
    ("Server", ValueKind::Server),
    ("Group", ValueKind::Group),
    ("Cache", ValueKind::Cache),
    ("RootTimeout", ValueKind::UInt),
    ("AutoPartition", ValueKind::Bool),
    ("AutoFormat", ValueKind::Bool),
    ("AutoInitCache", ValueKind::ScriptBool),
    ("DownloadType", ValueKind::DownloadType),
    ("GuiDisabled", ValueKind::ScriptBool),
    ("UseMinimalLayout", ValueKind::Bool),
    ("Locale", ValueKind::Locale),
    ("SystemType", ValueKind::SystemType),
    ("KernelOptions", ValueKind::Text),
    ("Theme", ValueKind::Text),
    ("ClientDetailsVisibleByDefault", ValueKind::Bool),
    ("BackgroundColor", ValueKind::Text),
    ("BackgroundFontColor", ValueKind::Text),
    ("ConsoleFontColorStdout", ValueKind::Text),
    ("ConsoleFontColorStderr", ValueKind::Text),
    ("School", ValueKind::Text),
];

const PARTITION_KEYS: &[(&str, ValueKind)] = &[
    ("Dev", ValueKind::Dev),
    ("Label", ValueKind::Text),
    ("Size", ValueKind::Size),
    ("Id", ValueKind::PartId),
    ("FSType", ValueKind::FsType),
    ("Bootable", ValueKind::ScriptBool),
];

const OS_KEYS: &[(&str, ValueKind)] = &[
    ("Name", ValueKind::Text),
    ("Version", ValueKind::Text),
    ("Description", ValueKind::Text),
    ("IconName", ValueKind::FileName),
    ("BaseImage", ValueKind::FileName),
    ("Root", ValueKind::Dev),
    ("Boot", ValueKind::Dev),
    ("Kernel", ValueKind::Text),
    ("Initrd", ValueKind::Text),
    ("Append", ValueKind::Text),
    ("StartEnabled", ValueKind::ScriptBool),
    ("SyncEnabled", ValueKind::ScriptBool),
    ("NewEnabled", ValueKind::ScriptBool),
    ("RemoteSyncEnabled", ValueKind::Bool),
    ("Autostart", ValueKind::ScriptBool),
    ("AutostartTimeout", ValueKind::UInt),
    ("DefaultAction", ValueKind::DefaultAction),
    ("Hidden", ValueKind::Bool),
    ("Image", ValueKind::FileName),
];

/// Looks up `key` (case-insensitively) among the keys LINBO knows in a
/// section of kind `kind`. Returns the canonical spelling and value kind.
pub(crate) fn known_key(kind: &SectionKind, key: &str) -> Option<(&'static str, ValueKind)> {
    let table = match kind {
        SectionKind::Linbo => LINBO_KEYS,
        SectionKind::Partition => PARTITION_KEYS,
        SectionKind::Os => OS_KEYS,
        SectionKind::Other(_) => return None,
    };
    table
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .copied()
}

/// Checks that `key` can become a shell variable name on the client.
pub(crate) fn check_key_name(key: &str) -> Result<(), String> {
    let mut chars = key.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!(
            "'{key}' is not a valid key: the LINBO client turns keys into shell variables, \
             so use a letter followed by letters, digits or '_'"
        ));
    }
    Ok(())
}

/// Checks that `value` survives the client's `key="value"` shell
/// assignment unchanged.
pub(crate) fn check_shell_safe(value: &str) -> Result<(), String> {
    if let Some(c) = value.chars().find(|c| matches!(c, '"' | '$' | '`')) {
        return Err(format!(
            "the value contains '{c}': the LINBO client writes values into shell \
             assignments (key=\"value\") and sources them, so '\"', '$' and '`' are not allowed"
        ));
    }
    if value.ends_with('\\') || value.contains("\\\\") {
        return Err(
            "the value ends with '\\' or contains '\\\\': inside the client's \
                    double-quoted shell assignment a backslash would escape the closing \
                    quote or be swallowed"
                .to_string(),
        );
    }
    if value.chars().any(|c| c.is_control() && c != '\t') {
        return Err(
            "the value contains a control character (newline, carriage return, ...)".to_string(),
        );
    }
    Ok(())
}

/// True when `s[i..]` starts an inline comment: `#` followed by whitespace
/// or the end of the line.
pub(crate) fn comment_start(s: &str) -> Option<usize> {
    let mut iter = s.char_indices().peekable();
    while let Some((i, c)) = iter.next() {
        if c == '#' {
            match iter.peek() {
                None => return Some(i),
                Some((_, next)) if next.is_whitespace() => return Some(i),
                _ => {}
            }
        }
    }
    None
}

/// Checks that a value given through the API (not read from a file) looks
/// exactly like a value the parser would read: trimmed, one line, no
/// comment marker, shell-safe.
pub(crate) fn check_api_value(value: &str) -> Result<(), String> {
    check_shell_safe(value)?;
    if value.trim() != value {
        return Err("the value must not start or end with whitespace".to_string());
    }
    if comment_start(value).is_some() {
        return Err(
            "the value contains '#' followed by a space (or ends with '#'), which starts a comment"
                .to_string(),
        );
    }
    Ok(())
}

/// Reads a start.conf boolean the way the LINBO GUI does: yes/true/enable
/// are true, no/false/disable are false (case-insensitive).
pub fn parse_bool(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "yes" | "true" | "enable" => Some(true),
        "no" | "false" | "disable" => Some(false),
        _ => None,
    }
}

/// Reads a partition `Size` into KiB. The unit is chosen by the first letter
/// after the number (k, m, g, t; case-insensitive); a plain number is KiB.
/// An empty value means "rest of the disk" and gives `Ok(None)`.
pub fn parse_size_kib(s: &str) -> Result<Option<u64>, String> {
    if s.is_empty() {
        return Ok(None);
    }
    let digits_end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(digits_end);
    if num.is_empty() {
        return Err(format!(
            "'{s}' is not a size: use a whole number with an optional unit k, m, g or t (e.g. 50G)"
        ));
    }
    if !unit.chars().all(|c| c.is_ascii_alphabetic()) {
        return Err(format!(
            "'{s}' is not a size: use a whole number with an optional unit k, m, g or t (e.g. 50G)"
        ));
    }
    let factor: u64 = match unit.chars().next().map(|c| c.to_ascii_lowercase()) {
        None | Some('k') => 1,
        Some('m') => 1 << 10,
        Some('g') => 1 << 20,
        Some('t') => 1 << 30,
        Some(_) => {
            return Err(format!(
                "'{s}' has unit '{unit}'; LINBO understands only k, m, g and t"
            ))
        }
    };
    num.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(factor))
        .map(Some)
        .ok_or_else(|| format!("size '{s}' is too large"))
}

const FS_TYPES: &[&str] = &[
    "vfat", "fat16", "fat32", "ntfs", "ext2", "ext3", "ext4", "swap", "reiserfs", "btrfs", "xfs",
];

fn is_dev_path(s: &str) -> bool {
    s.strip_prefix("/dev/").is_some_and(|rest| {
        !rest.is_empty()
            && !rest.starts_with('/')
            && rest
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-' | '.' | ':'))
    })
}

fn is_hostname(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// Checks a value of a known key. Returns `Ok(Some(warning))` for values
/// that are accepted but probably not what the admin means.
pub(crate) fn check_value(
    key: &str,
    kind: ValueKind,
    value: &str,
) -> Result<Option<String>, String> {
    if value.is_empty() {
        return Ok(None);
    }
    match kind {
        ValueKind::Text => Ok(None),
        ValueKind::Bool | ValueKind::ScriptBool => match parse_bool(value) {
            None => Err(format!(
                "{key} = '{value}' is not a yes/no value (use yes or no)"
            )),
            Some(true) if kind == ValueKind::ScriptBool && value != "yes" => Ok(Some(format!(
                "{key} = '{value}': the LINBO GUI reads this as yes, but LINBO's shell \
                 scripts only recognise lower-case 'yes'; write 'yes'"
            ))),
            Some(_) => Ok(None),
        },
        ValueKind::DownloadType => value
            .parse::<DownloadType>()
            .map(|_| None)
            .map_err(|e| format!("{key}: {e}")),
        ValueKind::SystemType => value
            .parse::<SystemType>()
            .map(|_| None)
            .map_err(|e| format!("{key}: {e}")),
        ValueKind::DefaultAction => value
            .parse::<DefaultAction>()
            .map(|_| None)
            .map_err(|e| format!("{key}: {e}")),
        ValueKind::Size => parse_size_kib(value)
            .map(|_| None)
            .map_err(|e| format!("{key}: {e}")),
        ValueKind::PartId => {
            if (1..=4).contains(&value.len()) && value.chars().all(|c| c.is_ascii_hexdigit()) {
                Ok(None)
            } else {
                Err(format!(
                    "{key} = '{value}' is not a partition type code: use 1 to 4 hex digits \
                     such as ef (EFI), 0c01 (MSR), 7 (NTFS), 83 (Linux), 82 (swap), 5 (extended)"
                ))
            }
        }
        ValueKind::FsType => {
            if FS_TYPES.iter().any(|t| t.eq_ignore_ascii_case(value)) {
                Ok(None)
            } else {
                Err(format!(
                    "{key} = '{value}' is not a file system LINBO can create: use one of {} \
                     or leave it empty",
                    FS_TYPES.join(", ")
                ))
            }
        }
        ValueKind::Dev => {
            if is_dev_path(value) {
                Ok(None)
            } else {
                Err(format!(
                    "{key} = '{value}' is not a device path such as /dev/sda1, \
                     /dev/nvme0n1p2 or /dev/disk0p1"
                ))
            }
        }
        ValueKind::Cache => {
            if value.starts_with("/dev/") {
                if is_dev_path(value) {
                    Ok(None)
                } else {
                    Err(format!("{key} = '{value}' is not a valid device path"))
                }
            } else if value.chars().any(char::is_whitespace) {
                Err(format!("{key} = '{value}' must not contain spaces"))
            } else if value.starts_with("//") || value.contains(':') {
                Ok(None)
            } else {
                Err(format!(
                    "{key} = '{value}' is not a cache location: use a partition (/dev/sda5, \
                     /dev/disk0p5), an NFS share (server:/path) or a CIFS share (//server/share)"
                ))
            }
        }
        ValueKind::UInt => {
            if !value.is_empty()
                && value.chars().all(|c| c.is_ascii_digit())
                && value.parse::<u32>().is_ok()
            {
                Ok(None)
            } else {
                Err(format!(
                    "{key} = '{value}' is not a whole number of seconds (0 or more)"
                ))
            }
        }
        ValueKind::Locale => {
            let ok = match value.split_once(['-', '_']) {
                Some((lang, region)) => {
                    (2..=3).contains(&lang.len())
                        && (2..=3).contains(&region.len())
                        && lang.chars().all(|c| c.is_ascii_alphabetic())
                        && region.chars().all(|c| c.is_ascii_alphabetic())
                }
                None => {
                    (2..=3).contains(&value.len()) && value.chars().all(|c| c.is_ascii_alphabetic())
                }
            };
            if ok {
                Ok(None)
            } else {
                Err(format!(
                    "{key} = '{value}' is not a locale such as de-de, en-gb or fr-fr"
                ))
            }
        }
        ValueKind::Server => {
            if value.parse::<Ipv4Addr>().is_ok() || is_hostname(value) {
                Ok(None)
            } else {
                Err(format!(
                    "{key} = '{value}' is not an IPv4 address or host name"
                ))
            }
        }
        ValueKind::Group => crate::names::group(value)
            .map(|_| None)
            .map_err(|e| format!("{key}: {e}")),
        ValueKind::FileName => {
            if value.contains('/') || value.chars().any(char::is_whitespace) || value == ".." {
                Err(format!(
                    "{key} = '{value}' must be a plain file name (no '/', no spaces)"
                ))
            } else {
                Ok(None)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size_kib(""), Ok(None));
        assert_eq!(parse_size_kib("100"), Ok(Some(100)));
        assert_eq!(parse_size_kib("200k"), Ok(Some(200)));
        assert_eq!(parse_size_kib("512M"), Ok(Some(512 * 1024)));
        assert_eq!(parse_size_kib("50G"), Ok(Some(50 * 1024 * 1024)));
        assert_eq!(parse_size_kib("50GB"), Ok(Some(50 * 1024 * 1024)));
        assert_eq!(parse_size_kib("1t"), Ok(Some(1 << 30)));
        assert!(parse_size_kib("1.5G").is_err());
        assert!(parse_size_kib("G").is_err());
        assert!(parse_size_kib("50X").is_err());
        assert!(parse_size_kib("50 G").is_err());
        assert!(parse_size_kib("99999999999999999999T").is_err());
        assert!(parse_size_kib("99999999999T").is_err());
    }

    #[test]
    fn booleans() {
        for (s, b) in [
            ("yes", true),
            ("YES", true),
            ("True", true),
            ("enable", true),
            ("no", false),
            ("False", false),
            ("DISABLE", false),
        ] {
            assert_eq!(parse_bool(s), Some(b), "{s}");
        }
        assert_eq!(parse_bool("1"), None);
        assert_eq!(
            check_value("Autostart", ValueKind::ScriptBool, "yes"),
            Ok(None)
        );
        assert!(matches!(
            check_value("Autostart", ValueKind::ScriptBool, "True"),
            Ok(Some(_))
        ));
        assert_eq!(check_value("AutoFormat", ValueKind::Bool, "True"), Ok(None));
        assert!(check_value("Autostart", ValueKind::ScriptBool, "maybe").is_err());
    }

    #[test]
    fn devices_and_cache() {
        for d in [
            "/dev/sda1",
            "/dev/nvme0n1p2",
            "/dev/mmcblk0p1",
            "/dev/disk0p5",
        ] {
            assert_eq!(check_value("Dev", ValueKind::Dev, d), Ok(None), "{d}");
        }
        for d in ["sda1", "/dev/", "/dev//x", "/dev/sd a"] {
            assert!(check_value("Dev", ValueKind::Dev, d).is_err(), "{d}");
        }
        for c in ["/dev/sda5", "10.0.0.1:/srv/cache", "//server/linbo"] {
            assert_eq!(check_value("Cache", ValueKind::Cache, c), Ok(None), "{c}");
        }
        assert!(check_value("Cache", ValueKind::Cache, "cache").is_err());
    }

    #[test]
    fn other_kinds() {
        let ok = |k, v| check_value("K", k, v).is_ok();
        assert!(ok(ValueKind::PartId, "ef"));
        assert!(ok(ValueKind::PartId, "0c01"));
        assert!(!ok(ValueKind::PartId, "0c011"));
        assert!(!ok(ValueKind::PartId, "xy"));
        assert!(ok(ValueKind::FsType, "NTFS"));
        assert!(!ok(ValueKind::FsType, "zfs"));
        assert!(ok(ValueKind::Locale, "de-de"));
        assert!(ok(ValueKind::Locale, "en_GB"));
        assert!(!ok(ValueKind::Locale, "german"));
        assert!(ok(ValueKind::UInt, "0"));
        assert!(!ok(ValueKind::UInt, "-1"));
        assert!(!ok(ValueKind::UInt, "5s"));
        assert!(ok(ValueKind::Server, "10.0.0.1"));
        assert!(ok(ValueKind::Server, "server.lan"));
        assert!(!ok(ValueKind::Server, "10.0.0.1/24"));
        assert!(ok(ValueKind::FileName, "win11.qcow2"));
        assert!(!ok(ValueKind::FileName, "../win11.qcow2"));
        assert!(ok(ValueKind::Group, "win11_efi"));
        assert!(!ok(ValueKind::Group, "win 11"));
        assert!(ok(ValueKind::DownloadType, "Torrent"));
        assert!(!ok(ValueKind::DownloadType, "ftp"));
        assert!(ok(ValueKind::SystemType, "efi64"));
        assert!(!ok(ValueKind::SystemType, "uefi"));
        assert!(ok(ValueKind::DefaultAction, "sync"));
        assert!(!ok(ValueKind::DefaultAction, "boot"));
    }

    #[test]
    fn shell_safety() {
        assert!(check_shell_safe("splash quiet").is_ok());
        assert!(check_shell_safe("C:\\Windows").is_ok());
        for v in ["a\"b", "$(reboot)", "`id`", "x\\", "a\\\\b", "a\rb"] {
            assert!(check_shell_safe(v).is_err(), "{v}");
        }
        assert!(check_key_name("KernelOptions").is_ok());
        assert!(check_key_name("Kernel Options").is_err());
        assert!(check_key_name("1st").is_err());
        assert!(check_key_name("").is_err());
    }

    #[test]
    fn comment_starts() {
        assert_eq!(comment_start("a # b"), Some(2));
        assert_eq!(comment_start("a#b # c"), Some(4));
        assert_eq!(comment_start("a#"), Some(1));
        assert_eq!(comment_start("a#b"), None);
    }
}
