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
