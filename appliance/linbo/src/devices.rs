//! `devices.csv`, linuxmuster 7's host list.
//!
//! One host per line, fields separated by `;`, no quoting. Lines that are
//! blank or start with `#` are ignored. The first five fields are required;
//! fields 6–15 may be missing (read as empty) and further fields are kept
//! verbatim, so an import followed by an export loses nothing.
//!
//! | field | meaning | rule |
//! |---|---|---|
//! | 1 | room | `A-Z a-z 0-9 -` |
//! | 2 | hostname | `A-Z a-z 0-9 -`, ≤ 63, lower-cased, unique |
//! | 3 | group (hardware class) | `A-Z a-z 0-9 _ -` |
//! | 4 | MAC | any common spelling, normalised, unique |
//! | 5 | IPv4 or `DHCP` | unique; first octet 1–254, last octet ≤ 254 |
//! | 6, 7 | MS Office / Windows key | kept verbatim |
//! | 8 | extra DHCP statements | kept verbatim |
//! | 9 | sophomorix role | empty or one of [`ROLES`] |
//! | 10 | reserved | kept verbatim |
//! | 11 | PXE flag | `0`–`3` |
//! | 12–15 | option, reserved, reserved, comment | kept verbatim |

use std::collections::HashMap;
use std::fmt;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::{names, LineError, MacAddr, ParseErrors};

/// Number of fields linuxmuster 7 defines.
pub const FIELD_COUNT: usize = 15;

/// Roles sophomorix accepts in field 9 (empty means
/// `classroom-studentcomputer`).
pub const ROLES: &[&str] = &[
    "iponly",
    "classroom-studentcomputer",
    "classroom-teachercomputer",
    "faculty-teachercomputer",
    "staffcomputer",
    "server",
    "addc",
    "printer",
    "mobile",
    "thinclient",
    "voip",
    "byod",
    "router",
    "wlan",
    "switch",
];

/// How a host gets its IPv4 address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "kind", content = "addr")]
pub enum IpAssignment {
    /// `DHCP` in the file: the school's DHCP server picks the address.
    Dhcp,
    /// A fixed address.
    Static(Ipv4Addr),
}

impl IpAssignment {
    /// Parses field 5 with linuxmuster's rules.
    pub fn parse(s: &str) -> Result<Self, String> {
        if s.eq_ignore_ascii_case("dhcp") {
            return Ok(Self::Dhcp);
        }
        let ip: Ipv4Addr = s
            .parse()
            .map_err(|_| format!("'{s}' is neither an IPv4 address nor DHCP"))?;
        let o = ip.octets();
        if o[0] == 0 || o[0] > 254 {
            return Err(format!("IP {s}: first number must be 1–254"));
        }
        if o[3] > 254 {
            return Err(format!("IP {s}: last number must not be 255 (broadcast)"));
        }
        Ok(Self::Static(ip))
    }

    /// The fixed address, if any.
    pub fn addr(&self) -> Option<Ipv4Addr> {
        match self {
            Self::Dhcp => None,
            Self::Static(ip) => Some(*ip),
        }
    }
}

impl fmt::Display for IpAssignment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Dhcp => f.write_str("DHCP"),
            Self::Static(ip) => write!(f, "{ip}"),
        }
    }
}

/// Field 11: whether and how the host network-boots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct PxeFlag(u8);

impl PxeFlag {
    /// No network boot.
    pub const NONE: Self = Self(0);
    /// LINBO.
    pub const LINBO: Self = Self(1);
    /// LINBO and opsi.
    pub const LINBO_OPSI: Self = Self(2);
    /// opsi PXE only.
    pub const OPSI: Self = Self(3);

    /// Creates a flag from `0..=3`.
    pub fn new(v: u8) -> Option<Self> {
        (v <= 3).then_some(Self(v))
    }

    /// The numeric value written to devices.csv.
    pub fn value(self) -> u8 {
        self.0
    }

    /// True for 1, 2 and 3: the host gets network-boot answers.
    pub fn is_pxe(self) -> bool {
        self.0 != 0
    }

    /// True for 1 and 2: linbo-remote acts on the host.
    pub fn runs_linbo(self) -> bool {
        matches!(self.0, 1 | 2)
    }
}

impl TryFrom<u8> for PxeFlag {
    type Error = String;
    fn try_from(v: u8) -> Result<Self, String> {
        Self::new(v).ok_or_else(|| format!("PXE flag {v} is not 0, 1, 2 or 3"))
    }
}

impl From<PxeFlag> for u8 {
    fn from(f: PxeFlag) -> u8 {
        f.0
    }
}

/// One host line of devices.csv, with every field kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRecord {
    /// Field 1.
    pub room: String,
    /// Field 2, lower-cased.
    pub hostname: String,
    /// Field 3: hardware class / LINBO group.
    pub group: String,
    /// Field 4, normalised.
    pub mac: MacAddr,
    /// Field 5.
    pub ip: IpAssignment,
    /// Field 11.
    pub pxe: PxeFlag,
    /// Field 9 (empty = classroom-studentcomputer).
    pub role: String,
    /// Fields 6–8, 10, 12–15 and anything after 15, verbatim.
    #[serde(default)]
    pub extra: ExtraFields,
}

/// The devices.csv fields bootbox does not interpret, kept verbatim.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExtraFields {
    /// Field 6.
    pub office_key: String,
    /// Field 7.
    pub windows_key: String,
    /// Field 8.
    pub dhcp_options: String,
    /// Field 10.
    pub reserved10: String,
    /// Field 12.
    pub option12: String,
    /// Field 13.
    pub reserved13: String,
    /// Field 14.
    pub reserved14: String,
    /// Field 15.
    pub comment: String,
    /// Fields 16 and later.
    pub tail: Vec<String>,
}

impl DeviceRecord {
    /// The role to act on: field 9, or `classroom-studentcomputer` when empty.
    pub fn effective_role(&self) -> &str {
        if self.role.is_empty() {
            "classroom-studentcomputer"
        } else {
            &self.role
        }
    }

    /// Renders this record as one devices.csv line (no newline).
    pub fn to_line(&self) -> String {
        let e = &self.extra;
        let pxe = self.pxe.value().to_string();
        let ip = self.ip.to_string();
        let mac = self.mac.to_string();
        let mut fields: Vec<&str> = vec![
            &self.room,
            &self.hostname,
            &self.group,
            &mac,
            &ip,
            &e.office_key,
            &e.windows_key,
            &e.dhcp_options,
            &self.role,
            &e.reserved10,
            &pxe,
            &e.option12,
            &e.reserved13,
            &e.reserved14,
            &e.comment,
        ];
        fields.extend(e.tail.iter().map(String::as_str));
        fields.join(";")
    }

    /// Checks the free-text fields cannot break the file: no `;` or line
    /// breaks (the format has no quoting).
    pub fn check_writable(&self) -> Result<(), String> {
        let e = &self.extra;
        let texts = [
            ("room", &self.room),
            ("role", &self.role),
            ("office key", &e.office_key),
            ("windows key", &e.windows_key),
            ("DHCP options", &e.dhcp_options),
            ("field 10", &e.reserved10),
            ("field 12", &e.option12),
            ("field 13", &e.reserved13),
            ("field 14", &e.reserved14),
            ("comment", &e.comment),
        ];
        for (what, v) in texts
            .into_iter()
            .chain(e.tail.iter().map(|t| ("extra field", t)))
        {
            if v.contains([';', '\n', '\r']) {
                return Err(format!("{what} '{v}' must not contain ';' or a line break"));
            }
        }
        Ok(())
    }
}

/// The hosts read from a devices.csv.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Devices {
    /// Hosts in file order.
    pub records: Vec<DeviceRecord>,
    /// 1-based line number of each record (same index as `records`).
    pub lines: Vec<usize>,
    /// Things that are allowed but probably not what the admin meant.
    pub warnings: Vec<LineError>,
}

/// Parses a whole devices.csv. On failure every bad line is reported, each
/// with its line number and reason, including duplicates across lines.
pub fn parse(text: &str) -> Result<Devices, ParseErrors> {
    let mut out = Devices::default();
    let mut errors = Vec::new();
    let mut seen_host: HashMap<String, usize> = HashMap::new();
    let mut seen_mac: HashMap<MacAddr, usize> = HashMap::new();
    let mut seen_ip: HashMap<Ipv4Addr, usize> = HashMap::new();

    for (idx, raw) in text.lines().enumerate() {
        let line_no = idx + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let mut problems = Vec::new();
        let Some(rec) = parse_line(line, &mut problems, &mut out.warnings, line_no) else {
            errors.extend(problems.into_iter().map(|m| LineError::new(line_no, m)));
            continue;
        };
        if let Some(first) = seen_host.insert(rec.hostname.clone(), line_no) {
            problems.push(format!(
                "hostname {} already used on line {first}",
                rec.hostname
            ));
        }
        if let Some(first) = seen_mac.insert(rec.mac, line_no) {
            problems.push(format!("MAC {} already used on line {first}", rec.mac));
        }
        if let Some(ip) = rec.ip.addr() {
            if let Some(first) = seen_ip.insert(ip, line_no) {
                problems.push(format!("IP {ip} already used on line {first}"));
            }
        }
        if problems.is_empty() {
            out.records.push(rec);
            out.lines.push(line_no);
        } else {
            errors.extend(problems.into_iter().map(|m| LineError::new(line_no, m)));
        }
    }
    ParseErrors::check(errors, out)
}

/// Parses one non-comment line. Problems are pushed to `problems`; returns
/// `None` when there was any.
fn parse_line(
    line: &str,
    problems: &mut Vec<String>,
    warnings: &mut Vec<LineError>,
    line_no: usize,
) -> Option<DeviceRecord> {
    let f: Vec<&str> = line.split(';').collect();
    if f.len() < 5 {
        problems.push(format!(
            "only {} field(s); need at least room;hostname;group;MAC;IP",
            f.len()
        ));
        return None;
    }
    let field = |i: usize| f.get(i).map(|s| s.trim()).unwrap_or("");

    let room = field(0);
    if let Err(e) = names::room(room) {
        problems.push(e);
    }
    let hostname = names::hostname(field(1)).map_err(|e| problems.push(e)).ok();
    let group = field(2);
    if let Err(e) = names::group(group) {
        problems.push(e);
    }
    let mac = field(3)
        .parse::<MacAddr>()
        .map_err(|e| problems.push(e.to_string()))
        .ok();
    let ip = IpAssignment::parse(field(4))
        .map_err(|e| problems.push(e))
        .ok();
    let role = field(8);
    if !role.is_empty() && !ROLES.contains(&role) {
        problems.push(format!(
            "role '{role}' is unknown; use one of {} or leave it empty",
            ROLES.join(", ")
        ));
    }
    let pxe = match field(10) {
        "" => {
            warnings.push(LineError::new(
                line_no,
                "PXE flag (field 11) is empty: read as 0, the host will not network-boot",
            ));
            Some(PxeFlag::NONE)
        }
        s => {
            let flag = s.parse::<u8>().ok().and_then(PxeFlag::new);
            if flag.is_none() {
                problems.push(format!("PXE flag '{s}' must be 0, 1, 2 or 3"));
            }
            flag
        }
    };
    if !problems.is_empty() {
        return None;
    }
    let owned = |i: usize| field(i).to_string();
    Some(DeviceRecord {
        room: room.to_string(),
        hostname: hostname?,
        group: group.to_string(),
        mac: mac?,
        ip: ip?,
        pxe: pxe?,
        role: role.to_string(),
        extra: ExtraFields {
            office_key: owned(5),
            windows_key: owned(6),
            dhcp_options: owned(7),
            reserved10: owned(9),
            option12: owned(11),
            reserved13: owned(12),
            reserved14: owned(13),
            comment: owned(14),
            tail: f
                .iter()
                .skip(FIELD_COUNT)
                .map(|s| s.trim().to_string())
                .collect(),
        },
    })
}

/// Renders records as a devices.csv (one line each, `\n` line ends).
pub fn render(records: &[DeviceRecord]) -> String {
    let mut out = String::new();
    for r in records {
        out.push_str(&r.to_line());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "\
# room;host;group;mac;ip;office;windows;dhcp;role;;pxe;;;;comment
r100;R100-PC01;win11;00-1a-2b-3c-4d-01;10.0.100.1;---;---;;classroom-studentcomputer;;1;;;;;
r100;r100-pc02;win11;001a.2b3c.4d02;DHCP;;;;;;2

r101;r101-lehrer;win11_efi;00:1A:2B:3C:4D:03;10.0.101.1;;;;classroom-teachercomputer;;1;;;;Lehrer-PC;x;y
";

    #[test]
    fn parses_and_normalises() {
        let d = parse(GOOD).expect("valid file");
        assert_eq!(d.records.len(), 3);
        assert_eq!(d.lines, vec![2, 3, 5]);
        let a = &d.records[0];
        assert_eq!(a.hostname, "r100-pc01");
        assert_eq!(a.mac.to_string(), "00:1A:2B:3C:4D:01");
        assert_eq!(a.ip, IpAssignment::Static(Ipv4Addr::new(10, 0, 100, 1)));
        assert_eq!(a.extra.office_key, "---");
        assert_eq!(d.records[1].ip, IpAssignment::Dhcp);
        assert_eq!(d.records[1].pxe, PxeFlag::LINBO_OPSI);
        assert_eq!(d.records[1].effective_role(), "classroom-studentcomputer");
        assert_eq!(d.records[2].extra.comment, "Lehrer-PC");
        assert_eq!(d.records[2].extra.tail, vec!["x", "y"]);
        assert!(d.warnings.is_empty());
    }

    #[test]
    fn export_then_import_is_lossless() {
        let d = parse(GOOD).expect("valid file");
        let again = parse(&render(&d.records)).expect("rendered file parses");
        assert_eq!(again.records, d.records);
        assert_eq!(render(&again.records), render(&d.records));
    }

    #[test]
    fn reports_every_bad_line() {
        let text = "\
r1;pc1;g;00:00:00:00:00:01;10.0.0.1;;;;;;1
r 1;pc2;g;00:00:00:00:00:02;10.0.0.2;;;;;;1
r1;pc_3;g;00:00:00:00:00:03;10.0.0.3;;;;;;1
r1;pc4;g/x;00:00:00:00:00:04;10.0.0.4;;;;;;1
r1;pc5;g;00:00:00:00:00:0Z;10.0.0.5;;;;;;1
r1;pc6;g;00:00:00:00:00:06;10.0.0.256;;;;;;1
r1;pc7;g;00:00:00:00:00:07;10.0.0.7;;;;;;7
r1;pc8;g;00:00:00:00:00:08;10.0.0.8;;;;teacher;;1
r1;PC1;g;00:00:00:00:00:01;10.0.0.1;;;;;;1
r1;pc10
r1;pc11;g;00:00:00:00:00:11;0.0.0.11;;;;;;1
";
        let errs = parse(text).expect_err("bad file").errors;
        let lines: Vec<usize> = errs.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 10, 11]);
        let msg = |i: usize| errs[i].message.as_str();
        assert!(msg(0).contains("room 'r 1'"));
        assert!(msg(5).contains("PXE flag '7'"));
        assert!(msg(6).contains("role 'teacher'"));
        assert!(msg(7).contains("hostname pc1 already used on line 1"));
        assert!(msg(8).contains("MAC 00:00:00:00:00:01 already used on line 1"));
        assert!(msg(9).contains("IP 10.0.0.1 already used on line 1"));
        assert!(msg(10).contains("at least"));
        assert!(
            msg(11).contains("first number must be 1–254"),
            "{}",
            msg(11)
        );
    }

    #[test]
    fn empty_pxe_flag_warns() {
        let d = parse("r1;pc1;g;00:00:00:00:00:01;DHCP").expect("valid");
        assert_eq!(d.records[0].pxe, PxeFlag::NONE);
        assert_eq!(d.warnings.len(), 1);
        assert_eq!(d.warnings[0].line, 1);
    }

    #[test]
    fn crlf_and_blank_lines() {
        let d = parse("# c\r\n\r\nr1;pc1;g;00:00:00:00:00:01;DHCP;;;;;;1\r\n").expect("valid");
        assert_eq!(d.lines, vec![3]);
    }

    #[test]
    fn ip_rules() {
        assert!(IpAssignment::parse("dhcp").is_ok());
        assert!(IpAssignment::parse("10.0.0.255").is_err());
        assert!(IpAssignment::parse("255.0.0.1").is_err());
        assert!(IpAssignment::parse("10.0.0").is_err());
        assert!(IpAssignment::parse("10.0.0.0").is_ok());
    }

    #[test]
    fn writable_check_catches_separators() {
        let mut r = parse("r1;pc1;g;00:00:00:00:00:01;DHCP;;;;;;1")
            .expect("valid")
            .records[0]
            .clone();
        assert!(r.check_writable().is_ok());
        r.extra.comment = "a;b".into();
        assert!(r.check_writable().is_err());
    }

    mod prop {
        use super::super::*;
        use proptest::prelude::*;

        fn name() -> impl Strategy<Value = String> {
            "[a-z0-9][a-z0-9-]{0,10}[a-z0-9]"
        }
        fn text() -> impl Strategy<Value = String> {
            "[A-Za-z0-9 ,.:=/_-]{0,12}".prop_map(|s| s.trim().to_string())
        }

        prop_compose! {
            fn record()(room in name(), host in name(), group in "[a-z0-9_-]{1,8}",
                        mac in any::<[u8; 6]>(), ip in prop::option::of((1u8..=254, any::<u8>(), any::<u8>(), 0u8..=254)),
                        pxe in 0u8..=3, role in prop::sample::select(ROLES), comment in text(),
                        tail in prop::collection::vec(text(), 0..3)) -> DeviceRecord {
                DeviceRecord {
                    room, hostname: host, group, mac: MacAddr(mac),
                    ip: match ip { None => IpAssignment::Dhcp, Some((a,b,c,d)) => IpAssignment::Static(Ipv4Addr::new(a,b,c,d)) },
                    pxe: PxeFlag(pxe), role: role.to_string(),
                    extra: ExtraFields { comment, tail, ..Default::default() },
                }
            }
        }

        proptest! {
            #[test]
            fn render_parse_roundtrip(r in record()) {
                let text = render(std::slice::from_ref(&r));
                let d = parse(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(&d.records[0], &r);
                prop_assert_eq!(render(&d.records), text);
            }

            #[test]
            fn never_panics(s in ".{0,400}") {
                let _ = parse(&s);
            }
        }
    }
}
