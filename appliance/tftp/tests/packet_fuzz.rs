//! Property tests ("fuzz") of the request parser: arbitrary bytes never make
//! `Packet::parse` panic, and well-formed packets survive encode -> parse.

use bootbox_tftp::packet::{Mode, Request, MAX_OPTIONS, MAX_REQUEST_LEN};
use bootbox_tftp::Packet;
use proptest::prelude::*;

fn field() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9._/-]{0,20}"
}

fn request() -> impl Strategy<Value = Request> {
    (
        "[a-zA-Z0-9._/-]{0,60}",
        prop_oneof![Just(Mode::Octet), Just(Mode::Netascii), Just(Mode::Mail)],
        proptest::collection::vec(("[a-zA-Z]{1,10}", field()), 0..8),
    )
        .prop_map(|(name, mode, options)| Request {
            filename: name.into_bytes(),
            mode,
            options,
        })
}

fn packet() -> impl Strategy<Value = Packet> {
    prop_oneof![
        request().prop_map(Packet::Rrq),
        request().prop_map(Packet::Wrq),
        (any::<u16>(), proptest::collection::vec(any::<u8>(), 0..600))
            .prop_map(|(block, data)| Packet::Data { block, data }),
        any::<u16>().prop_map(|block| Packet::Ack { block }),
        (any::<u16>(), "[ -~]{0,80}").prop_map(|(code, message)| Packet::Error { code, message }),
        proptest::collection::vec(("[a-zA-Z]{1,10}", field()), 0..8)
            .prop_map(|options| Packet::Oack { options }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    #[test]
    fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..1600)) {
        if let Ok(Packet::Rrq(req) | Packet::Wrq(req)) = Packet::parse(&bytes) {
            prop_assert!(bytes.len() <= MAX_REQUEST_LEN);
            prop_assert!(req.options.len() <= MAX_OPTIONS);
            prop_assert!(!req.filename.contains(&0));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn parse_never_panics_on_request_like_input(
        op in 1u8..=2,
        parts in proptest::collection::vec(
            prop_oneof![
                Just(b"octet".to_vec()),
                Just(b"blksize".to_vec()),
                Just(b"1468".to_vec()),
                Just(Vec::new()),
                proptest::collection::vec(any::<u8>(), 0..12),
            ],
            0..80,
        ),
    ) {
        let mut bytes = vec![0, op];
        for p in parts {
            bytes.extend_from_slice(&p);
            bytes.push(0);
        }
        let _ = Packet::parse(&bytes);
    }

    #[test]
    fn encode_parse_roundtrip(p in packet()) {
        prop_assert_eq!(Packet::parse(&p.encode()), Ok(p));
    }
}
