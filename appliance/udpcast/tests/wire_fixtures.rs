//! The wire format against captures of Debian's udpcast 20120424
//! (`tests/fixtures/*.hex`, made by tests/multicast/capture_fixtures.py):
//! every message decodes and re-encodes to the same bytes, our engine
//! replayed against the captured receivers' messages sends exactly the
//! datagrams udp-sender sent, and our FEC blocks equal udp-sender's.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use bootbox_udpcast::wire::{
    opcode, ConnectReply, DataHeader, FecHeader, Hello, ReceiverMessage, ReqAck, SenderMessage,
    BLOCK_HEADER_LEN,
};
use bootbox_udpcast::{
    fec, Engine, EngineConfig, FecConfig, Phase, SliceData, StartReason, StartRules,
};
use common::{all_fixtures, load, pattern, Captured, BCAST, GROUP};

#[test]
fn receiver_messages_decode_and_reencode() {
    let mut seen = BTreeSet::new();
    for (name, pkts) in all_fixtures() {
        for p in pkts.iter().filter(|p| !p.from_sender) {
            let m = ReceiverMessage::parse(&p.bytes)
                .unwrap_or_else(|e| panic!("{name}: {e} in {:02x?}", p.bytes));
            assert_eq!(m.encode(), p.bytes, "{name}: {m:?}");
            assert_eq!(p.src.port(), 9000, "receivers send from P");
            assert_eq!(p.dst.port(), 9001, "to P+1");
            seen.insert(u16::from_be_bytes([p.bytes[0], p.bytes[1]]));
        }
    }
    // OK, RETRANSMIT, GO, CONNECT_REQ, DISCONNECT all occur.
    assert_eq!(seen.len(), 5);
}

#[test]
fn captured_values_are_as_documented() {
    let pkts = load(common::SESSION);
    let hello = pkts.iter().find(|p| p.from_sender).unwrap();
    assert_eq!(hello.bytes.len(), 28);
    assert_eq!(&hello.bytes[..2], &[0x05, 0x00], "HELLO opcode is 0x0500");
    assert_eq!(hello.dst.ip(), &BCAST, "HELLO to the subnet broadcast");
    let req = pkts.iter().find(|p| !p.from_sender).unwrap();
    assert_eq!(
        ReceiverMessage::parse(&req.bytes),
        Ok(ReceiverMessage::ConnectReq {
            caps: 9,
            rcvbuf: 212_992
        })
    );
    let rt = load(common::RETRANSMIT);
    let missing: Vec<usize> = rt
        .iter()
        .filter_map(|p| match ReceiverMessage::parse(&p.bytes) {
            Ok(ReceiverMessage::Retransmit { received, .. }) => Some(
                (0..20)
                    .filter(|b| !received.contains(*b))
                    .collect::<Vec<_>>(),
            ),
            _ => None,
        })
        .next()
        .unwrap();
    assert_eq!(missing, vec![4], "bit set = received, LSB first");
}

#[test]
fn sender_messages_reencode_with_our_encoders() {
    let mut kinds = BTreeSet::new();
    for (name, pkts) in all_fixtures() {
        for p in pkts.iter().filter(|p| p.from_sender) {
            let m = SenderMessage::parse(&p.bytes)
                .unwrap_or_else(|e| panic!("{name}: {e} in {:02x?}", p.bytes));
            let mut buf = vec![0u8; 70_000];
            let len = match &m {
                SenderMessage::Hello(h) => h.encode(&mut buf),
                SenderMessage::ConnectReply(r) => r.encode(&mut buf),
                SenderMessage::ReqAck(r) => r.encode(&mut buf),
                SenderMessage::Data(h, payload) => {
                    let n = h.encode(&mut buf);
                    buf[n..n + payload.len()].copy_from_slice(payload);
                    n + payload.len()
                }
                SenderMessage::Fec(h, payload) => {
                    let n = h.encode(&mut buf);
                    buf[n..n + payload.len()].copy_from_slice(payload);
                    n + payload.len()
                }
            };
            assert_eq!(&buf[..len], &p.bytes[..], "{name}: {m:?}");
            kinds.insert(u16::from_be_bytes([p.bytes[0], p.bytes[1]]));
        }
    }
    let want = [
        opcode::HELLO,
        opcode::CONNECT_REPLY,
        opcode::DATA,
        opcode::FEC,
        opcode::REQACK,
    ];
    assert_eq!(kinds, want.into_iter().collect());
}

/// Replays the receivers' side of a capture into our engine and returns the
/// distinct datagrams it sent (HELLOs apart) and its HELLO.
fn replay(
    pkts: &[Captured],
    cfg: EngineConfig,
    image: &[u8],
) -> (BTreeSet<Vec<u8>>, Vec<u8>, Engine) {
    let t0 = Instant::now();
    let mut now = t0;
    let mut engine = Engine::new(cfg.clone(), 1, now);
    let mut offset = 0usize;
    let mut sent = BTreeSet::new();
    let mut hello = Vec::new();
    let mut buf = vec![0u8; 70_000];
    let mut pump = |engine: &mut Engine,
                    now: Instant,
                    sent: &mut BTreeSet<Vec<u8>>,
                    hello: &mut Vec<u8>| {
        loop {
            while engine.wants_data() {
                let end = (offset + cfg.slice_bytes()).min(image.len());
                engine
                    .push_slice(SliceData::new(image[offset..end].to_vec()))
                    .unwrap();
                offset = end;
            }
            match engine.poll_transmit(now, &mut buf) {
                Some(t) => {
                    let b = buf[..t.len].to_vec();
                    if b[..2] == [5, 0] {
                        *hello = b;
                    } else {
                        sent.insert(b);
                    }
                }
                None => break,
            }
        }
    };
    let mut started = false;
    for p in pkts {
        if p.from_sender {
            started = true;
            continue;
        }
        if !started {
            // Broadcast before the sender ran: it never saw these.
            continue;
        }
        now += Duration::from_millis(1);
        let before = engine.phase();
        engine.handle(now, p.src, &p.bytes);
        if before == Phase::Waiting && engine.phase() == Phase::Transferring {
            pump(&mut engine, now, &mut sent, &mut hello);
            now += bootbox_udpcast::START_GRACE;
        }
        pump(&mut engine, now, &mut sent, &mut hello);
    }
    (sent, hello, engine)
}

fn captured_sender_set(pkts: &[Captured]) -> (BTreeSet<Vec<u8>>, Vec<u8>) {
    let mut set = BTreeSet::new();
    let mut hello = Vec::new();
    for p in pkts.iter().filter(|p| p.from_sender) {
        if p.bytes[..2] == [5, 0] {
            hello = p.bytes.clone();
        } else {
            set.insert(p.bytes.clone());
        }
    }
    (set, hello)
}

fn replay_cfg(slice_blocks: usize, start: StartRules) -> EngineConfig {
    EngineConfig {
        port: 9000,
        control_addr: BCAST,
        data_addr: GROUP,
        block_size: 1456,
        slice_blocks,
        start,
        hello_interval: Duration::from_secs(1),
        fec: None,
        slow: None,
        answer_timeout: Duration::from_secs(10),
    }
}

fn start_at(n: usize) -> StartRules {
    StartRules {
        min_clients: n,
        min_wait: None,
        max_wait: None,
    }
}

#[test]
fn engine_sends_what_udp_sender_sent_session() {
    // udp-sender cut the 4000 bytes into slices of 2 blocks + 1088 bytes.
    let pkts = load(common::SESSION);
    let (want, want_hello) = captured_sender_set(&pkts);
    let (got, hello, engine) = replay(&pkts, replay_cfg(2, start_at(2)), &pattern(4000));
    assert_eq!(hello, want_hello);
    assert_eq!(got, want);
    assert_eq!(engine.phase(), Phase::Finished);
}

#[test]
fn engine_sends_what_udp_sender_sent_retransmit() {
    // Slices of 20 blocks; receiver 1 lost block 4 of slice 0.
    let pkts = load(common::RETRANSMIT);
    let (want, _) = captured_sender_set(&pkts);
    let (got, _, engine) = replay(&pkts, replay_cfg(20, start_at(2)), &pattern(30000));
    assert_eq!(got, want);
    assert_eq!(engine.phase(), Phase::Finished);
}

#[test]
fn engine_starts_on_captured_go() {
    let pkts = load(common::GO);
    let (want, _) = captured_sender_set(&pkts);
    let (got, _, mut engine) = replay(&pkts, replay_cfg(2, start_at(99)), &pattern(3000));
    assert_eq!(got, want);
    let started = std::iter::from_fn(|| engine.poll_event()).find_map(|e| match e {
        bootbox_udpcast::Event::TransferStarted { reason, .. } => Some(reason),
        _ => None,
    });
    assert_eq!(
        started,
        Some(StartReason::Go {
            ip: common::receiver_ip(1)
        })
    );
}

fn check_fec(text: &str, cfg: FecConfig, block_size: usize, size: usize) {
    let pkts = load(text);
    let input = pattern(size);
    // Slice sizes from the DATA headers; slices are consecutive in the input.
    let mut slice_bytes = BTreeMap::new();
    let mut fec_pkts = Vec::new();
    for p in pkts.iter().filter(|p| p.from_sender) {
        match SenderMessage::parse(&p.bytes).unwrap() {
            SenderMessage::Data(DataHeader { slice, bytes, .. }, _) => {
                slice_bytes.insert(slice, bytes as usize);
            }
            SenderMessage::Fec(h, payload) => fec_pkts.push((h, payload.to_vec())),
            _ => {}
        }
    }
    let mut offsets = BTreeMap::new();
    let mut off = 0;
    for (s, b) in &slice_bytes {
        offsets.insert(*s, (off, *b));
        off += b;
    }
    assert_eq!(off, size, "DATA headers cover the input");
    let mut checked = 0;
    for (
        FecHeader {
            stripes,
            slice,
            index,
            bytes,
        },
        payload,
    ) in fec_pkts
    {
        assert_eq!(stripes, cfg.stripes);
        assert_eq!(payload.len(), block_size);
        let Some(&(start, len)) = offsets.get(&slice) else {
            assert_eq!(bytes, 0, "FEC of an unknown slice");
            continue;
        };
        assert_eq!(bytes as usize, len);
        let blocks = len.div_ceil(block_size);
        if !fec::fec_block_used(&cfg, blocks, index.into()) {
            continue; // stripe without data: udp-sender sends garbage
        }
        let ours = fec::encode(&cfg, block_size, &input[start..start + len]);
        let i = usize::from(index);
        assert_eq!(
            &ours[i * block_size..(i + 1) * block_size],
            &payload[..],
            "slice {slice} FEC block {index}"
        );
        checked += 1;
    }
    assert!(checked >= 8, "only {checked} FEC blocks checked");
    // Header of a FEC datagram as we write it.
    let mut buf = [0u8; BLOCK_HEADER_LEN];
    FecHeader {
        stripes: cfg.stripes,
        slice: 1,
        index: 2,
        bytes: 3,
    }
    .encode(&mut buf);
    assert_eq!(&buf[..4], &[0, 9, 0, cfg.stripes as u8]);
}

#[test]
fn fec_blocks_equal_udp_sender_2x2_4() {
    let cfg = FecConfig {
        stripes: 2,
        redundancy: 2,
        stripe_size: 4,
    };
    check_fec(common::FEC_2X2_4, cfg, 256, 5000);
}

#[test]
fn fec_blocks_equal_udp_sender_3x4_20() {
    let cfg = FecConfig {
        stripes: 3,
        redundancy: 4,
        stripe_size: 20,
    };
    check_fec(common::FEC_3X4_20, cfg, 128, 16000);
}

#[test]
fn encoders_match_capture_fields() {
    // Independent of the replay: build each message from field values.
    let mut buf = [0u8; 200];
    let n = Hello {
        opcode: opcode::HELLO,
        caps: 9,
        data_addr: GROUP,
        block_size: 1456,
    }
    .encode(&mut buf);
    assert_eq!(
        &buf[..n],
        &load(common::SESSION)
            .iter()
            .find(|p| p.from_sender)
            .unwrap()
            .bytes[..]
    );
    let n = ConnectReply {
        client: 1,
        block_size: 1456,
        caps: 9,
        data_addr: GROUP,
    }
    .encode(&mut buf);
    assert_eq!(
        hex(&buf[..n]),
        "0007000000000001000005b000000009ea4e0001000000000000000000000000"
    );
    let n = ReqAck {
        slice: 2,
        bytes: 0,
        rxmit: 0,
        ready: Default::default(),
    }
    .encode(&mut buf);
    assert_eq!(n, 144);
    assert_eq!(hex(&buf[..16]), "00060000000000020000000000000000");
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
