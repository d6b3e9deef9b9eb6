//! Helpers shared by the integration tests: fixture loading, the input
//! pattern of the captures, a tiny deterministic RNG.

#![allow(dead_code)]

use std::net::{Ipv4Addr, SocketAddrV4};

/// One captured datagram.
#[derive(Debug, Clone)]
pub struct Captured {
    /// Sent by udp-sender (else by a udp-receiver).
    pub from_sender: bool,
    pub src: SocketAddrV4,
    pub dst: SocketAddrV4,
    /// UDP payload length on the wire.
    pub len: usize,
    /// Payload (DATA of FEC captures: header only).
    pub bytes: Vec<u8>,
}

fn addr(s: &str) -> SocketAddrV4 {
    s.parse().expect("fixture address")
}

fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digit"))
        .collect()
}

/// Parses a fixture written by tests/multicast/capture_fixtures.py.
pub fn load(text: &str) -> Vec<Captured> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(f.len(), 5, "fixture line {l:?}");
            Captured {
                from_sender: f[0] == "S",
                src: addr(f[1]),
                dst: addr(f[2]),
                len: f[3].parse().expect("length"),
                bytes: unhex(f[4]),
            }
        })
        .collect()
}

pub const SESSION: &str = include_str!("../fixtures/session.hex");
pub const RETRANSMIT: &str = include_str!("../fixtures/retransmit.hex");
pub const GO: &str = include_str!("../fixtures/go.hex");
pub const FEC_2X2_4: &str = include_str!("../fixtures/fec-2x2-4.hex");
pub const FEC_3X4_20: &str = include_str!("../fixtures/fec-3x4-20.hex");

pub fn all_fixtures() -> Vec<(&'static str, Vec<Captured>)> {
    vec![
        ("session", load(SESSION)),
        ("retransmit", load(RETRANSMIT)),
        ("go", load(GO)),
        ("fec-2x2-4", load(FEC_2X2_4)),
        ("fec-3x4-20", load(FEC_3X4_20)),
    ]
}

/// The captures' input: LCG x = x·1103515245 + 12345 (mod 2³²), byte = x >> 16.
pub fn pattern(n: usize) -> Vec<u8> {
    let mut x: u32 = 1;
    (0..n)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (x >> 16) as u8
        })
        .collect()
}

/// xorshift64*, deterministic per seed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
}

pub const SERVER: Ipv4Addr = Ipv4Addr::new(10, 78, 0, 1);
pub const BCAST: Ipv4Addr = Ipv4Addr::new(10, 78, 0, 255);
pub const GROUP: Ipv4Addr = Ipv4Addr::new(234, 78, 0, 1);

pub fn receiver_ip(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 78, 0, 10 + i as u8)
}
