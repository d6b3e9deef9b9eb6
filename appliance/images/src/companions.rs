//! Companion files: `.info` (LINBO format) and `multicast.list`.

use std::net::Ipv4Addr;

use bootbox_linbo::info::ImageInfo;
use bootbox_linbo::multicast::MulticastList;

/// Renders the `.info` LINBO clients compare to decide whether to download:
/// title line, `timestamp`, `image`, `imagesize`.
pub fn render_info(file: &str, timestamp: &str, size: u64) -> Option<String> {
    let mut info = ImageInfo::new(file, timestamp).ok()?;
    info.imagesize = Some(size);
    Some(info.render())
}

/// `multicast.list` for the given image files (in order), ports from
/// `portbase` in steps of 2, as linbo-multicast assigns them.
pub fn multicast_list(server: Ipv4Addr, portbase: u16, files: &[String]) -> Result<String, String> {
    MulticastList::assign(server, portbase, files).map(|l| l.render())
}

/// Now as LINBO's image timestamp `YYYYMMDDHHMM` (UTC; LINBO writes local
/// time, which the appliance runs as UTC).
pub fn timestamp_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = secs / 86_400;
    let (h, m) = ((secs % 86_400) / 3600, (secs % 3600) / 60);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(mo <= 2);
    format!("{y:04}{mo:02}{d:02}{h:02}{m:02}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn timestamp_is_linbo_shaped() {
        let s = super::timestamp_now();
        assert_eq!(s.len(), 12);
        assert!(s.starts_with("20"), "{s}");
        assert!(s.bytes().all(|b| b.is_ascii_digit()));
    }
}
