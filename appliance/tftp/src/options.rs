//! Option negotiation (RFC 2347/2348/2349/7440). Pure.
//!
//! Rules, applied to the options of one read request:
//! * only options the client asked for are answered, each at most once (the
//!   first occurrence of a name wins; names are case-insensitive and echoed
//!   in lower case, in the client's order);
//! * `blksize` 8..=65464 is accepted and clamped to the configured maximum;
//!   other values are ignored (not echoed);
//! * `tsize` is answered with the file size when the size is known;
//! * `timeout` 1..=255 is echoed unchanged and used as the retransmit
//!   timeout of the transfer; other values are dropped;
//! * `windowsize` 1..=65535 is accepted and clamped to the configured maximum;
//! * unknown or malformed options are ignored.
//!
//! If nothing is accepted there is no OACK and the transfer starts with DATA 1.

use std::time::Duration;

use crate::packet::{DEFAULT_BLKSIZE, MAX_BLKSIZE, MIN_BLKSIZE};

/// The outcome of negotiating one request's options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiation {
    /// Block size to use.
    pub blksize: u16,
    /// Window size to use (1 = lock-step).
    pub windowsize: u16,
    /// Retransmit timeout requested by the client, if accepted.
    pub timeout: Option<Duration>,
    /// Option pairs for the OACK; empty means "send no OACK".
    pub oack: Vec<(String, String)>,
}

/// Strict decimal parse: ASCII digits only, no sign, no spaces.
fn number(value: &str) -> Option<u64> {
    if value.is_empty() || value.len() > 20 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}

/// Negotiates `requested` (the request's option pairs) against the server's
/// limits. `size` is the file size if known (for `tsize`).
pub fn negotiate(
    requested: &[(String, String)],
    size: Option<u64>,
    max_blksize: u16,
    max_windowsize: u16,
) -> Negotiation {
    let mut n = Negotiation {
        blksize: DEFAULT_BLKSIZE,
        windowsize: 1,
        timeout: None,
        oack: Vec::new(),
    };
    let mut seen: Vec<String> = Vec::new();
    for (name, value) in requested {
        let name = name.to_ascii_lowercase();
        if seen.contains(&name) {
            continue;
        }
        seen.push(name.clone());
        let answer = match (name.as_str(), number(value)) {
            ("blksize", Some(v))
                if (u64::from(MIN_BLKSIZE)..=u64::from(MAX_BLKSIZE)).contains(&v) =>
            {
                // v fits in u16 (checked by the range above).
                let v = u16::try_from(v).unwrap_or(MAX_BLKSIZE);
                n.blksize = v.min(max_blksize).clamp(MIN_BLKSIZE, MAX_BLKSIZE);
                Some(n.blksize.to_string())
            }
            ("tsize", Some(_)) => size.map(|s| s.to_string()),
            ("timeout", Some(v)) if (1..=255).contains(&v) => {
                n.timeout = Some(Duration::from_secs(v));
                Some(v.to_string())
            }
            ("windowsize", Some(v)) if (1..=65535).contains(&v) => {
                let v = u16::try_from(v).unwrap_or(u16::MAX);
                n.windowsize = v.min(max_windowsize).max(1);
                Some(n.windowsize.to_string())
            }
            _ => None,
        };
        if let Some(value) = answer {
            n.oack.push((name, value));
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    }

    #[test]
    fn no_options_no_oack() {
        let n = negotiate(&[], Some(10), 1468, 64);
        assert_eq!(n.blksize, 512);
        assert_eq!(n.windowsize, 1);
        assert!(n.oack.is_empty());
    }

    #[test]
    fn only_requested_options_echoed_in_client_order() {
        let n = negotiate(
            &opts(&[("TSIZE", "0"), ("blksize", "1024")]),
            Some(99),
            1468,
            64,
        );
        assert_eq!(n.oack, opts(&[("tsize", "99"), ("blksize", "1024")]));
        assert_eq!(n.blksize, 1024);
    }

    #[test]
    fn blksize_clamped_and_range_checked() {
        assert_eq!(
            negotiate(&opts(&[("blksize", "65464")]), None, 1468, 64).oack,
            opts(&[("blksize", "1468")])
        );
        assert_eq!(
            negotiate(&opts(&[("blksize", "8")]), None, 1468, 64).blksize,
            8
        );
        for bad in [
            "7",
            "65465",
            "0",
            "-1",
            "abc",
            "",
            " 512",
            "99999999999999999999999",
        ] {
            let n = negotiate(&opts(&[("blksize", bad)]), None, 1468, 64);
            assert!(n.oack.is_empty(), "{bad:?} must be ignored");
            assert_eq!(n.blksize, 512);
        }
    }

    #[test]
    fn tsize_dropped_when_size_unknown() {
        let n = negotiate(&opts(&[("tsize", "0")]), None, 1468, 64);
        assert!(n.oack.is_empty());
    }

    #[test]
    fn timeout_echoed_exactly_or_dropped() {
        let n = negotiate(&opts(&[("timeout", "4")]), None, 1468, 64);
        assert_eq!(n.oack, opts(&[("timeout", "4")]));
        assert_eq!(n.timeout, Some(Duration::from_secs(4)));
        for bad in ["0", "256", "1.5", "x"] {
            let n = negotiate(&opts(&[("timeout", bad)]), None, 1468, 64);
            assert!(n.oack.is_empty());
            assert_eq!(n.timeout, None);
        }
    }

    #[test]
    fn windowsize_clamped() {
        let n = negotiate(&opts(&[("windowsize", "128")]), None, 1468, 64);
        assert_eq!(n.oack, opts(&[("windowsize", "64")]));
        assert_eq!(n.windowsize, 64);
        let n = negotiate(&opts(&[("windowsize", "4")]), None, 1468, 64);
        assert_eq!(n.windowsize, 4);
        assert!(negotiate(&opts(&[("windowsize", "0")]), None, 1468, 64)
            .oack
            .is_empty());
        assert!(negotiate(&opts(&[("windowsize", "65536")]), None, 1468, 64)
            .oack
            .is_empty());
    }

    #[test]
    fn unknown_and_duplicate_options_ignored() {
        let n = negotiate(
            &opts(&[
                ("multicast", ""),
                ("blksize", "1000"),
                ("BLKSIZE", "600"),
                ("rollover", "0"),
            ]),
            Some(1),
            1468,
            64,
        );
        assert_eq!(n.oack, opts(&[("blksize", "1000")]));
        assert_eq!(n.blksize, 1000);
    }
}
