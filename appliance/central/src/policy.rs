//! A school box's own schedule for central releases: when it may transfer
//! (e.g. nights only), when it may switch to a verified release (the
//! school's maintenance window), and how fast it may download.
//!
//! Kept in `<data>/central/policy.json` (`bootbox central policy …`);
//! without the file a box transfers and activates at once, at full speed.
//!
//! Windows are local wall-clock times in the policy's time zone (the
//! system's unless set) and may wrap midnight: `22:00-06:00` is open from
//! 22:00 until 05:59.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Minutes in a day.
const DAY: u16 = 24 * 60;

/// A daily time window `HH:MM-HH:MM` (start inclusive, end exclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Window {
    start: u16,
    end: u16,
}

impl Window {
    /// Whether `minute` (minutes since local midnight) is inside.
    pub fn contains(&self, minute: u16) -> bool {
        if self.start <= self.end {
            (self.start..self.end).contains(&minute)
        } else {
            minute >= self.start || minute < self.end
        }
    }

    /// Minutes from `minute` until the window closes (0 when closed).
    pub fn minutes_left(&self, minute: u16) -> u16 {
        if !self.contains(minute) {
            return 0;
        }
        (self.end + DAY - minute) % DAY
    }
}

fn parse_hhmm(s: &str) -> Option<u16> {
    let (h, m) = s.trim().split_once(':')?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(h * 60 + m)
}

impl FromStr for Window {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let bad = || {
            Error::Invalid(format!(
                "time window {s:?}: expected HH:MM-HH:MM, e.g. 22:00-06:00"
            ))
        };
        let (a, b) = s.split_once('-').ok_or_else(bad)?;
        let (start, end) = (
            parse_hhmm(a).ok_or_else(bad)?,
            parse_hhmm(b).ok_or_else(bad)?,
        );
        if start == end {
            return Err(Error::Invalid(format!(
                "time window {s:?} is empty; leave it out for \"any time\""
            )));
        }
        Ok(Self { start, end })
    }
}

impl TryFrom<String> for Window {
    type Error = Error;

    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<Window> for String {
    fn from(w: Window) -> Self {
        w.to_string()
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:02}:{:02}-{:02}:{:02}",
            self.start / 60,
            self.start % 60,
            self.end / 60,
            self.end % 60
        )
    }
}

/// A box's schedule for central releases.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    /// When downloads may run (`None`: any time). A download still
    /// running when the window closes stops and resumes in the next one.
    pub transfer_window: Option<Window>,
    /// When a verified release may become current (`None`: at once).
    pub activation_window: Option<Window>,
    /// Download limit in bytes per second (`None`: unlimited).
    pub limit_bytes_per_sec: Option<u64>,
    /// IANA time zone of the windows (`None`: the system's).
    pub timezone: Option<String>,
}

impl Policy {
    /// Checks the time zone (windows and limit are checked when parsed).
    pub fn validate(&self) -> Result<()> {
        self.zone().map(|_| ())
    }

    fn zone(&self) -> Result<jiff::tz::TimeZone> {
        match self.timezone.as_deref().map(str::trim) {
            None | Some("") => Ok(jiff::tz::TimeZone::system()),
            Some(name) => jiff::tz::TimeZone::get(name)
                .map_err(|e| Error::Invalid(format!("time zone {name:?}: {e}"))),
        }
    }

    /// Minutes since local midnight now, in the policy's time zone.
    pub fn minute_now(&self) -> Result<u16> {
        let now = jiff::Timestamp::now().to_zoned(self.zone()?);
        Ok(now.hour() as u16 * 60 + now.minute() as u16)
    }
}

/// Pause that keeps a download at or below `limit` bytes per second:
/// after `sent` bytes in `elapsed`, how long to wait before the next read.
pub fn pace(limit: u64, sent: u64, elapsed: Duration) -> Duration {
    if limit == 0 {
        return Duration::ZERO;
    }
    let due = Duration::from_secs_f64(sent as f64 / limit as f64);
    due.saturating_sub(elapsed)
}

/// Parses a rate like `10M`, `500k`, `2.5M` or `1000000` (bytes per
/// second; k/M/G are powers of 1000).
pub fn parse_rate(s: &str) -> Result<u64> {
    let t = s.trim();
    let (num, mult) = match t.chars().last() {
        Some('k' | 'K') => (&t[..t.len() - 1], 1e3),
        Some('m' | 'M') => (&t[..t.len() - 1], 1e6),
        Some('g' | 'G') => (&t[..t.len() - 1], 1e9),
        _ => (t, 1.0),
    };
    let v: f64 = num.trim().parse().map_err(|_| {
        Error::Invalid(format!(
            "rate {s:?}: expected bytes per second, e.g. 10M, 500k or 1000000"
        ))
    })?;
    let bytes = v * mult;
    if !bytes.is_finite() || bytes < 1024.0 {
        return Err(Error::Invalid(format!(
            "rate {s:?} is below 1 KiB/s; leave it out for \"unlimited\""
        )));
    }
    Ok(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_parse_and_wrap_midnight() {
        let night: Window = "22:00-06:00".parse().expect("window");
        assert_eq!(night.to_string(), "22:00-06:00");
        assert!(night.contains(22 * 60));
        assert!(night.contains(23 * 60 + 59));
        assert!(night.contains(0));
        assert!(night.contains(5 * 60 + 59));
        assert!(!night.contains(6 * 60));
        assert!(!night.contains(12 * 60));
        assert_eq!(night.minutes_left(23 * 60), 7 * 60);
        assert_eq!(night.minutes_left(12 * 60), 0);
        let day: Window = "8:30-16:00".parse().expect("window");
        assert!(day.contains(8 * 60 + 30) && !day.contains(16 * 60) && !day.contains(60));
        assert_eq!(day.minutes_left(15 * 60), 60);
        for bad in [
            "",
            "22:00",
            "25:00-01:00",
            "10:60-11:00",
            "10:00-10:00",
            "a-b",
            "1:5-2:00",
        ] {
            let e = bad.parse::<Window>().expect_err(bad);
            assert!(e.to_string().contains("window"), "{bad}: {e}");
        }
    }

    #[test]
    fn policy_round_trips_and_refuses_bad_values() {
        let p = Policy {
            transfer_window: Some("22:00-06:00".parse().expect("w")),
            activation_window: Some("05:00-06:00".parse().expect("w")),
            limit_bytes_per_sec: Some(10_000_000),
            timezone: Some("Europe/Berlin".into()),
        };
        let j = serde_json::to_string(&p).expect("json");
        assert!(j.contains("\"22:00-06:00\""), "{j}");
        assert_eq!(serde_json::from_str::<Policy>(&j).expect("back"), p);
        assert!(serde_json::from_str::<Policy>(r#"{"transfer_window":"nights"}"#).is_err());
        assert!(serde_json::from_str::<Policy>(r#"{"typo":1}"#).is_err());
        let zoned = Policy {
            timezone: Some("Mars/Olympus".into()),
            ..Default::default()
        };
        assert!(zoned.validate().is_err());
        assert!(Policy::default().minute_now().expect("now") < DAY);
    }

    #[test]
    fn pace_keeps_the_rate() {
        // 1 MB/s: 2 MB after 1 s means waiting another second.
        assert_eq!(
            pace(1_000_000, 2_000_000, Duration::from_secs(1)),
            Duration::from_secs(1)
        );
        assert_eq!(
            pace(1_000_000, 500_000, Duration::from_secs(1)),
            Duration::ZERO
        );
        assert_eq!(pace(0, 10, Duration::ZERO), Duration::ZERO);
        assert_eq!(parse_rate("10M").expect("rate"), 10_000_000);
        assert_eq!(parse_rate("2.5M").expect("rate"), 2_500_000);
        assert_eq!(parse_rate("500k").expect("rate"), 500_000);
        assert_eq!(parse_rate("65536").expect("rate"), 65_536);
        assert!(
            parse_rate("fast").is_err() && parse_rate("10").is_err() && parse_rate("-5M").is_err()
        );
    }
}
