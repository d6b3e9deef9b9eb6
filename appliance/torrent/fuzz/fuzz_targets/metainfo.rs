//! `.torrent` files and bencoding.
#![no_main]

use bootbox_torrent::{bencode, Metainfo};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(v) = bencode::decode(data) {
        assert_eq!(bencode::decode(&v.encode()).as_ref(), Ok(&v));
    }
    let _ = Metainfo::from_bytes(data);
});
