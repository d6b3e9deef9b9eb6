//! Peer wire input: a handshake followed by a stream of frames.
#![no_main]

use bootbox_torrent::wire::{decode_frame, Handshake, Message};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = Handshake::parse(data);
    let mut rest = data.get(68..).unwrap_or(&[]);
    while let Ok(Some((_, used))) = decode_frame(rest, 128 * 1024 + 13) {
        rest = &rest[used..];
    }
    let _ = Message::parse(data);
});
