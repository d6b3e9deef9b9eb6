//! Property tests of everything that reads network input: the decoders and
//! the engine fed arbitrary (and arbitrary-but-plausible) receiver
//! messages from many addresses at arbitrary times. No panic, and the
//! engine's tables stay bounded.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use bootbox_udpcast::wire::{Bitmap, ReceiverMessage, SenderMessage, MAX_CLIENTS};
use bootbox_udpcast::{Engine, EngineConfig, FecConfig, SliceData, SlowPolicy, StartRules};
use proptest::prelude::*;

/// Upper bound of `Engine::table_entries`: receivers twice (list and
/// index), replies, remembered addresses, events, two slices.
const BOUND: usize = 2 * MAX_CLIENTS + 2 * MAX_CLIENTS + 4 * MAX_CLIENTS + 4 * MAX_CLIENTS + 2;

#[derive(Debug, Clone)]
enum Op {
    Raw(u16, Vec<u8>),
    Msg(u16, ReceiverMessage),
    Advance(u16),
    Poll(u8),
    Timeout,
}

fn message() -> impl Strategy<Value = ReceiverMessage> {
    prop_oneof![
        (0u32..8).prop_map(|slice| ReceiverMessage::Ok { slice }),
        (
            0u32..8,
            0u32..4,
            proptest::collection::vec(any::<u8>(), 128)
        )
            .prop_map(|(slice, rxmit, b)| {
                let mut bytes = [0u8; 128];
                bytes.copy_from_slice(&b);
                ReceiverMessage::Retransmit {
                    slice,
                    rxmit,
                    received: Bitmap::from_bytes(bytes),
                }
            }),
        Just(ReceiverMessage::Go),
        (any::<u32>(), any::<u32>())
            .prop_map(|(caps, rcvbuf)| ReceiverMessage::ConnectReq { caps, rcvbuf }),
        Just(ReceiverMessage::Disconnect),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => (any::<u16>(), proptest::collection::vec(any::<u8>(), 0..200)).prop_map(|(ip, b)| Op::Raw(ip, b)),
        4 => (0u16..40, message()).prop_map(|(ip, m)| Op::Msg(ip, m)),
        1 => (0u16..3000, message()).prop_map(|(ip, m)| Op::Msg(ip, m)),
        2 => (0u16..500).prop_map(Op::Advance),
        2 => any::<u8>().prop_map(Op::Poll),
        1 => Just(Op::Timeout),
    ]
}

fn config(fec: bool, slow: bool) -> EngineConfig {
    let fec = fec.then_some(FecConfig {
        stripes: 2,
        redundancy: 2,
        stripe_size: 4,
    });
    EngineConfig {
        port: 9000,
        control_addr: Ipv4Addr::new(10, 0, 255, 255),
        data_addr: Ipv4Addr::new(239, 255, 0, 1),
        block_size: 128,
        slice_blocks: fec.map_or(8, |f| f.slice_blocks()),
        start: StartRules {
            min_clients: 3,
            min_wait: Some(Duration::from_millis(200)),
            max_wait: Some(Duration::from_secs(1)),
        },
        hello_interval: Duration::from_millis(300),
        fec,
        slow: slow.then_some(SlowPolicy {
            budget: Duration::from_millis(100),
            ..SlowPolicy::default()
        }),
        answer_timeout: Duration::from_secs(2),
    }
}

fn ip(n: u16) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::from(0x0a00_0000 + u32::from(n)), 9000)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn decoders_never_panic(b in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(m) = ReceiverMessage::parse(&b) {
            prop_assert_eq!(ReceiverMessage::parse(&m.encode()), Ok(m));
        }
        let _ = SenderMessage::parse(&b);
    }

    #[test]
    fn engine_survives_anything(ops in proptest::collection::vec(op(), 1..400), fec: bool, slow: bool, size in 0usize..5000) {
        let cfg = config(fec, slow);
        let t0 = Instant::now();
        let mut now = t0;
        let mut e = Engine::new(cfg.clone(), 1, now);
        let image: Vec<u8> = (0..size).map(|i| (i * 7) as u8).collect();
        let mut offset = 0;
        let mut buf = vec![0u8; 2048];
        for op in ops {
            while e.wants_data() {
                let end = (offset + cfg.slice_bytes()).min(image.len());
                let data = image[offset..end].to_vec();
                let slice = match &cfg.fec {
                    Some(f) => SliceData::with_fec(f, 128, data),
                    None => SliceData::new(data),
                };
                prop_assert!(e.push_slice(slice).is_ok());
                offset = end;
            }
            match op {
                Op::Raw(n, b) => e.handle(now, ip(n), &b),
                Op::Msg(n, m) => e.handle(now, ip(n), &m.encode()),
                Op::Advance(ms) => now += Duration::from_millis(u64::from(ms)),
                Op::Poll(k) => {
                    for _ in 0..k {
                        match e.poll_transmit(now, &mut buf) {
                            Some(t) => prop_assert!(t.len <= buf.len() && SenderMessage::parse(&buf[..t.len]).is_ok()),
                            None => break,
                        }
                    }
                }
                Op::Timeout => {
                    if e.next_deadline().is_some_and(|d| d <= now) {
                        e.handle_timeout(now);
                    }
                }
            }
            while e.poll_event().is_some() {}
            prop_assert!(e.table_entries() <= BOUND, "{} entries", e.table_entries());
            prop_assert!(e.receivers() <= MAX_CLIENTS);
        }
    }
}

#[test]
fn connect_flood_from_many_addresses_stays_bounded() {
    let t0 = Instant::now();
    let mut e = Engine::new(config(false, true), 1, t0);
    let req = ReceiverMessage::ConnectReq { caps: 9, rcvbuf: 0 }.encode();
    for n in 0..50_000u32 {
        let from = SocketAddrV4::new(Ipv4Addr::from(0x0a00_0000 + n), 9000);
        e.handle(t0, from, &req);
    }
    assert!(e.table_entries() <= BOUND);
    assert_eq!(e.receivers(), MAX_CLIENTS);
}
