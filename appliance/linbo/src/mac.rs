//! Ethernet MAC addresses in every spelling linuxmuster accepts.

use std::fmt;
use std::str::FromStr;

/// A 48-bit Ethernet address. Displays as upper-case, colon-separated
/// (`00:1A:2B:3C:4D:5E`), which is linuxmuster's normal form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MacAddr(pub [u8; 6]);

/// Why a MAC address could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{input}' is not a MAC address (expected six hex pairs like 00:1A:2B:3C:4D:5E)")]
pub struct MacParseError {
    input: String,
}

impl MacAddr {
    /// The six octets.
    pub fn octets(&self) -> [u8; 6] {
        self.0
    }

    /// Lower-case hex without separators (`001a2b3c4d5e`), as used in some
    /// file names.
    pub fn to_plain_lower(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl FromStr for MacAddr {
    type Err = MacParseError;

    /// Accepts `00:1a:2b:3c:4d:5e`, `00-1A-2B-3C-4D-5E` (one separator used
    /// consistently), Cisco `001a.2b3c.4d5e` and bare `001a2b3c4d5e`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || MacParseError {
            input: s.to_string(),
        };
        let t = s.trim();
        let hex: String = match t.len() {
            17 => {
                let sep = t.as_bytes()[2];
                if sep != b':' && sep != b'-' {
                    return Err(err());
                }
                let parts: Vec<&str> = t.split(sep as char).collect();
                if parts.len() != 6 || parts.iter().any(|p| p.len() != 2) {
                    return Err(err());
                }
                parts.concat()
            }
            14 => {
                let parts: Vec<&str> = t.split('.').collect();
                if parts.len() != 3 || parts.iter().any(|p| p.len() != 4) {
                    return Err(err());
                }
                parts.concat()
            }
            12 => t.to_string(),
            _ => return Err(err()),
        };
        let mut out = [0u8; 6];
        for (i, byte) in out.iter_mut().enumerate() {
            let pair = hex.get(i * 2..i * 2 + 2).ok_or_else(err)?;
            if !pair.bytes().all(|c| c.is_ascii_hexdigit()) {
                return Err(err());
            }
            *byte = u8::from_str_radix(pair, 16).map_err(|_| err())?;
        }
        Ok(MacAddr(out))
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02X}:{b:02X}:{c:02X}:{d:02X}:{e:02X}:{g:02X}")
    }
}

impl serde::Serialize for MacAddr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for MacAddr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_all_linuxmuster_spellings() {
        let want = MacAddr([0x00, 0x1a, 0x2b, 0x3c, 0x4d, 0x5e]);
        for s in [
            "00:1a:2b:3c:4d:5e",
            "00-1A-2B-3C-4D-5E",
            "001a.2b3c.4d5e",
            "001A2B3C4D5E",
            " 00:1A:2B:3C:4D:5E ",
        ] {
            assert_eq!(s.parse::<MacAddr>(), Ok(want), "{s}");
        }
        assert_eq!(want.to_string(), "00:1A:2B:3C:4D:5E");
        assert_eq!(want.to_plain_lower(), "001a2b3c4d5e");
    }

    #[test]
    fn rejects_mixed_separators_and_garbage() {
        for s in [
            "00:1a-2b:3c:4d:5e",
            "00:1a:2b:3c:4d",
            "00:1a:2b:3c:4d:5g",
            "",
            "0:1a:2b:3c:4d:5e:",
            "+0:1a:2b:3c:4d:5e",
            "ä0:1a:2b:3c:4d:5",
        ] {
            assert!(s.parse::<MacAddr>().is_err(), "{s}");
        }
    }
}
