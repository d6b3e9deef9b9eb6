//! Property tests: `respond` never panics on arbitrary or mutated input,
//! and whatever it sends keeps the proxy-mode invariants.

mod common;

use std::net::{Ipv4Addr, SocketAddr};

use bootbox_proxydhcp::{respond_at, Config, FullDhcpConfig, Ingress, ListenPort, Reply, State};
use common::*;
use proptest::prelude::*;

fn seeds() -> Vec<Vec<u8>> {
    let mut req4011 = ClientReq::efi(mac(1), 7, 7).msg(dhcproto::v4::MessageType::Request);
    req4011.ciaddr = Ipv4Addr::new(10, 0, 0, 9);
    req4011.vendor_opts = Some(vec![71, 4, 0x80, 0, 0, 0, 255]);
    vec![
        ClientReq::bios(mac(1), 1).bytes(),
        ClientReq::efi(mac(1), 2, 7).bytes(),
        ClientReq::ipxe(mac(1), 3, 0).bytes(),
        ClientReq::http(mac(1), 4).bytes(),
        ClientReq::plain(mac(1), 5).bytes(),
        req4011.bytes(),
    ]
}

fn ingresses() -> [Ingress; 2] {
    [
        ingress67(),
        ingress4011(SocketAddr::from((Ipv4Addr::new(10, 0, 0, 9), 68))),
    ]
}

fn full_state() -> State {
    let f = FullDhcpConfig::new(
        Ipv4Addr::new(10, 0, 0, 100),
        Ipv4Addr::new(10, 0, 0, 120),
        Ipv4Addr::new(255, 255, 255, 0),
    );
    State::new(Config {
        full: Some(f),
        ..Config::default()
    })
    .expect("valid")
}

/// Reads our own reply's options (TLV walk on raw bytes).
fn reply_option(b: &[u8], code: u8) -> Option<&[u8]> {
    let mut i = 240;
    while i < b.len() {
        match b[i] {
            0 => i += 1,
            255 => return None,
            c => {
                let len = usize::from(*b.get(i + 1)?);
                let v = b.get(i + 2..i + 2 + len)?;
                if c == code {
                    return Some(v);
                }
                i += 2 + len;
            }
        }
    }
    None
}

fn check_proxy_reply(reply: &Reply) {
    let b = &reply.bytes;
    assert!(b.len() >= 300);
    assert_eq!(b[0], 2);
    assert_eq!(&b[16..20], &[0, 0, 0, 0], "proxy mode never sets yiaddr");
    assert_eq!(&b[20..24], &SERVER.octets(), "siaddr is the box");
    let vc = reply_option(b, 60).expect("option 60 echoed");
    assert!(vc == b"PXEClient" || vc == b"HTTPClient");
    assert!(b[108..236].contains(&0));
}

fn run_all(bytes: &[u8]) {
    let p = policy();
    let mut proxy = state();
    let mut full = full_state();
    for ing in ingresses() {
        if let Some(r) = respond_at(bytes, ing, &p, &mut proxy, t0()) {
            check_proxy_reply(&r);
            // Proxy mode answers only PXE/HTTP clients, and on 67 only
            // DISCOVERs; the reply type says which.
            let t = reply_option(&r.bytes, 53).expect("53");
            match ing.port {
                ListenPort::Dhcp => assert_eq!(t, [2]),
                ListenPort::PxeBoot => assert_eq!(t, [5]),
            }
        }
        if let Some(r) = respond_at(bytes, ing, &p, &mut full, t0()) {
            assert!(r.bytes.len() >= 300);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..1500)) {
        run_all(&bytes);
    }

    #[test]
    fn valid_header_random_options(
        seed in 0usize..6,
        tail in proptest::collection::vec(any::<u8>(), 0..600),
    ) {
        let mut b = seeds()[seed].clone();
        b.truncate(240);
        b.extend_from_slice(&[53, 1, 1]);
        b.extend_from_slice(&tail);
        run_all(&b);
    }

    #[test]
    fn mutated_valid_packets(
        seed in 0usize..6,
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..12),
        cut in proptest::option::of(any::<prop::sample::Index>()),
        extra in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut b = seeds()[seed].clone();
        for (at, v) in flips {
            let i = at.index(b.len());
            b[i] = v;
        }
        if let Some(c) = cut {
            let n = c.index(b.len() + 1);
            b.truncate(n);
        }
        b.extend_from_slice(&extra);
        run_all(&b);
    }

    /// Structured options: a DHCP header followed by random TLVs with the
    /// option codes we interpret, at any length.
    #[test]
    fn random_tlvs_of_known_codes(
        opts in proptest::collection::vec(
            (prop::sample::select(vec![43u8, 50, 52, 53, 54, 55, 57, 60, 61, 77, 93, 94, 97, 175]),
             proptest::collection::vec(any::<u8>(), 0..40)),
            0..12),
        msg in 1u8..9,
    ) {
        let mut b = seeds()[0].clone();
        b.truncate(240);
        b.extend_from_slice(&[53, 1, msg, 60, 9]);
        b.extend_from_slice(b"PXEClient");
        for (c, v) in opts {
            b.push(c);
            b.push(u8::try_from(v.len()).unwrap_or(0));
            b.extend_from_slice(&v);
        }
        b.push(255);
        run_all(&b);
    }
}
