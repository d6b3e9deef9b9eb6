//! Tracker query strings (announce and scrape).
#![no_main]

use bootbox_torrent::announce::{parse_scrape_query, percent_decode};
use bootbox_torrent::AnnounceRequest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let q = String::from_utf8_lossy(data);
    let _ = AnnounceRequest::parse_query(&q);
    let _ = parse_scrape_query(&q);
    let _ = percent_decode(data);
});
