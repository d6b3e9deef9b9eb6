//! Property tests ("fuzz") of every parser that sees network or file input:
//! arbitrary bytes never make them panic, and valid input round-trips.

use bootbox_torrent::announce::{parse_scrape_query, percent_decode};
use bootbox_torrent::bencode::{self, Value};
use bootbox_torrent::wire::{decode_frame, Block, Handshake, Message};
use bootbox_torrent::{AnnounceRequest, InfoHash, Metainfo};
use proptest::prelude::*;

fn message() -> impl Strategy<Value = Message> {
    let block =
        (any::<u32>(), any::<u32>(), any::<u32>()).prop_map(|(index, begin, length)| Block {
            index,
            begin,
            length,
        });
    prop_oneof![
        Just(Message::KeepAlive),
        Just(Message::Choke),
        Just(Message::Unchoke),
        Just(Message::Interested),
        Just(Message::NotInterested),
        any::<u32>().prop_map(Message::Have),
        proptest::collection::vec(any::<u8>(), 0..64).prop_map(Message::Bitfield),
        block.clone().prop_map(Message::Request),
        block.prop_map(Message::Cancel),
        any::<u16>().prop_map(Message::Port),
        (any::<u8>(), proptest::collection::vec(any::<u8>(), 0..64))
            .prop_map(|(ext_id, payload)| Message::Extended { ext_id, payload }),
        (21u8..=255, 0usize..64).prop_map(|(id, len)| Message::Unknown { id, len }),
    ]
}

fn bvalue() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        any::<i64>().prop_map(Value::Int),
        proptest::collection::vec(any::<u8>(), 0..20).prop_map(Value::Bytes),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::List),
            proptest::collection::btree_map(
                proptest::collection::vec(any::<u8>(), 0..8),
                inner,
                0..6
            )
            .prop_map(Value::Dict),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn wire_parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = Message::parse(&bytes);
        let _ = Handshake::parse(&bytes);
        let _ = Handshake::parse_prefix(&bytes);
        // A stream of frames: decode until an error or more data is needed.
        let mut rest = &bytes[..];
        while let Ok(Some((_, used))) = decode_frame(rest, 256) {
            prop_assert!(used >= 4 && used <= rest.len());
            rest = &rest[used..];
        }
    }

    #[test]
    fn framed_like_input_never_panics(id in any::<u8>(), body in proptest::collection::vec(any::<u8>(), 0..20)) {
        let mut frame = ((body.len() + 1) as u32).to_be_bytes().to_vec();
        frame.push(id);
        frame.extend_from_slice(&body);
        let _ = decode_frame(&frame, 1 << 20);
    }

    #[test]
    fn messages_roundtrip(m in message()) {
        let mut buf = Vec::new();
        m.encode_into(&mut buf);
        prop_assert_eq!(decode_frame(&buf, 1 << 20), Ok(Some((m, buf.len()))));
    }

    #[test]
    fn bencode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(v) = bencode::decode(&bytes) {
            // Whatever decodes re-encodes to something that decodes the same.
            prop_assert_eq!(bencode::decode(&v.encode()), Ok(v));
        }
        let _ = bencode::dict_value_span(&bytes, b"info");
        let _ = Metainfo::from_bytes(&bytes);
    }

    #[test]
    fn bencode_like_input_never_panics(parts in proptest::collection::vec(
        prop_oneof![Just(&b"d"[..]), Just(&b"l"[..]), Just(&b"e"[..]), Just(&b"i-"[..]), Just(&b"4:info"[..]),
                    Just(&b"6:pieces"[..]), Just(&b"0:"[..]), Just(&b"i0e"[..]), Just(&b"12:piece length"[..]),
                    Just(&b"99:"[..]), Just(&b"6:length"[..])], 0..40)) {
        let bytes: Vec<u8> = parts.concat();
        let _ = bencode::decode(&bytes);
        let _ = Metainfo::from_bytes(&bytes);
    }

    #[test]
    fn bencode_roundtrip(v in bvalue()) {
        prop_assert_eq!(bencode::decode(&v.encode()), Ok(v));
    }

    #[test]
    fn tracker_query_never_panics(q in "[a-z_=&%0-9A-Fa-f+.-]{0,300}") {
        if let Ok(r) = AnnounceRequest::parse_query(&q) {
            prop_assert!(r.port != 0);
        }
        let _ = parse_scrape_query(&q);
        let _ = percent_decode(q.as_bytes());
    }

    #[test]
    fn tracker_query_arbitrary_text_never_panics(q in any::<String>()) {
        let _ = AnnounceRequest::parse_query(&q);
        let _ = parse_scrape_query(&q);
    }

    #[test]
    fn tracker_query_with_valid_fields(ih in any::<[u8; 20]>(), pid in any::<[u8; 20]>(), port in 1u16.., left in any::<u64>(), junk in "x[a-z]{0,10}=[a-z]{0,10}") {
        let enc = |b: &[u8]| b.iter().map(|x| format!("%{x:02X}")).collect::<String>();
        let q = format!("{junk}&info_hash={}&peer_id={}&port={port}&left={left}&compact=1", enc(&ih), enc(&pid));
        let r = AnnounceRequest::parse_query(&q).unwrap();
        prop_assert_eq!(r.info_hash, InfoHash(ih));
        prop_assert_eq!(r.peer_id, pid);
        prop_assert_eq!(r.port, port);
        prop_assert_eq!(r.left, Some(left));
    }
}
