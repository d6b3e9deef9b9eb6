//! ProxyDHCP rules on real-shaped requests (ports 67 and 4011).

mod common;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use bootbox_proxydhcp::{
    respond_at, Arch, BootFile, BootPolicy, Config, Decision, Event, IgnoreReason, ListenPort, Mac,
    PxeClient, RecordingObserver, State, StaticPolicy,
};
use common::*;
use dhcproto::v4::MessageType as Mt;

fn observed() -> (State, Arc<RecordingObserver>) {
    let obs = Arc::new(RecordingObserver::new());
    (state().with_observer(obs.clone()), obs)
}

fn ignored_reasons(obs: &RecordingObserver) -> Vec<IgnoreReason> {
    obs.take()
        .into_iter()
        .filter_map(|e| match e {
            Event::Ignored { reason, .. } => Some(reason),
            _ => None,
        })
        .collect()
}

#[test]
fn bios_pxe_rom_gets_file_and_option_43() {
    let (mut st, obs) = observed();
    let req = ClientReq::bios(mac(1), 0x1000);
    let reply = send(&mut st, &policy(), &req, ingress67(), t0()).expect("offer");
    let m = assert_proxy_offer(&reply, &req, "undionly.kpxe", b"PXEClient", true);
    // The ROM asked for 67 in option 55: boot file there too, NUL-terminated.
    assert_eq!(bootfile_opt(&m), Some(b"undionly.kpxe\0".to_vec()));
    assert_eq!(
        obs.take(),
        vec![Event::OfferSent {
            mac: Mac(mac(1)),
            arch: Some(Arch::Bios),
            port: ListenPort::Dhcp,
            file: Some("undionly.kpxe".into()),
            ipxe: false,
            yiaddr: None,
        }]
    );
}

#[test]
fn edk2_x64_arch_7_and_9_no_option_43() {
    for arch in [7u16, 9] {
        let mut st = state();
        let req = ClientReq::efi(mac(2), 0x2000 + u32::from(arch), arch);
        let reply = send(&mut st, &policy(), &req, ingress67(), t0()).expect("offer");
        assert_proxy_offer(&reply, &req, "ipxe.efi", b"PXEClient", false);
    }
}

#[test]
fn other_uefi_arches() {
    for (arch, file) in [
        (6u16, "ipxe-ia32.efi"),
        (10, "ipxe-arm32.efi"),
        (11, "ipxe-arm64.efi"),
    ] {
        let mut st = state();
        let req = ClientReq::efi(mac(3), 0x3000, arch);
        let reply = send(&mut st, &policy(), &req, ingress67(), t0()).expect("offer");
        assert_proxy_offer(&reply, &req, file, b"PXEClient", false);
    }
}

#[test]
fn uefi_request_on_4011_gets_ack_with_boot_file() {
    let (mut st, obs) = observed();
    let mut req = ClientReq::efi(mac(4), 0x4000, 7).msg(Mt::Request);
    req.ciaddr = Ipv4Addr::new(10, 0, 0, 50);
    let src = SocketAddr::from((req.ciaddr, 68));
    let reply = send(&mut st, &policy(), &req, ingress4011(src), t0()).expect("ack");
    let m = decode(&reply);
    assert_eq!(msg_type(&m), Some(Mt::Ack));
    assert_eq!(reply.dest, src, "back to the request's source addr:port");
    assert_eq!(m.yiaddr(), Ipv4Addr::UNSPECIFIED);
    assert_eq!(m.ciaddr(), req.ciaddr);
    assert_eq!(m.siaddr(), SERVER);
    assert_eq!(file_of(&m), "ipxe.efi");
    assert_eq!(sname_of(&m), "10.0.0.1");
    assert_eq!(server_id(&m), Some(SERVER));
    assert_eq!(class_id(&m), Some(b"PXEClient".to_vec()));
    assert_eq!(uuid_opt(&m), req.uuid);
    assert_eq!(vendor_opts(&m), None);
    assert_eq!(bootfile_opt(&m), Some(b"ipxe.efi\0".to_vec()));
    assert!(matches!(
        obs.take().as_slice(),
        [Event::AckSent {
            port: ListenPort::PxeBoot,
            arch: Some(Arch::EfiX64),
            ..
        }]
    ));

    // INFORM is answered too; a boot item (43.71) is echoed.
    let mut inform = ClientReq::efi(mac(4), 0x4001, 7).msg(Mt::Inform);
    inform.ciaddr = Ipv4Addr::new(10, 0, 0, 50);
    inform.vendor_opts = Some(vec![71, 4, 0x80, 0x00, 0x00, 0x00, 255]);
    let reply = send(&mut st, &policy(), &inform, ingress4011(src), t0()).expect("ack");
    let m = decode(&reply);
    assert_eq!(vendor_opts(&m), Some(vec![71, 4, 0x80, 0, 0, 0, 255]));
}

#[test]
fn boot_server_yiaddr_knob() {
    let mut st = State::new(Config {
        boot_server_yiaddr_from_ciaddr: true,
        ..Config::default()
    })
    .expect("valid");
    let mut req = ClientReq::efi(mac(4), 0x4000, 7).msg(Mt::Request);
    req.ciaddr = Ipv4Addr::new(10, 0, 0, 50);
    let src = SocketAddr::from((req.ciaddr, 4011));
    let reply = send(&mut st, &policy(), &req, ingress4011(src), t0()).expect("ack");
    assert_eq!(decode(&reply).yiaddr(), req.ciaddr);
}

#[test]
fn port_4011_rules() {
    let (mut st, obs) = observed();
    let src = SocketAddr::from((Ipv4Addr::new(10, 0, 0, 50), 68));
    // DISCOVER on 4011: no.
    let req = ClientReq::efi(mac(5), 1, 7);
    assert!(send(&mut st, &policy(), &req, ingress4011(src), t0()).is_none());
    // Non-PXE REQUEST on 4011: no.
    let req = ClientReq::plain(mac(5), 2).msg(Mt::Request);
    assert!(send(&mut st, &policy(), &req, ingress4011(src), t0()).is_none());
    // BIS credentials requested (layer bit 15): refused.
    let mut req = ClientReq::efi(mac(5), 3, 7).msg(Mt::Request);
    req.vendor_opts = Some(vec![71, 4, 0, 1, 0x80, 0x00, 255]);
    assert!(send(&mut st, &policy(), &req, ingress4011(src), t0()).is_none());
    assert_eq!(
        ignored_reasons(&obs),
        vec![
            IgnoreReason::NotDiscover,
            IgnoreReason::NotPxe,
            IgnoreReason::Unsupported
        ]
    );
    // A request from 0.0.0.0 is answered by broadcast to its port.
    let req = ClientReq::efi(mac(5), 4, 7).msg(Mt::Request);
    let src0 = SocketAddr::from((Ipv4Addr::UNSPECIFIED, 68));
    let reply = send(&mut st, &policy(), &req, ingress4011(src0), t0()).expect("ack");
    assert_eq!(reply.dest, SocketAddr::from((Ipv4Addr::BROADCAST, 68)));
}

#[test]
fn ipxe_gets_script_url() {
    let mut st = state();
    // Raw user class + option 175, BIOS arch (undionly.kpxe).
    let req = ClientReq::ipxe(mac(6), 0x6000, 0);
    let reply = send(&mut st, &policy(), &req, ingress67(), t0()).expect("offer");
    let m = assert_proxy_offer(&reply, &req, SCRIPT, b"PXEClient", false);
    assert_ne!(m.siaddr(), Ipv4Addr::UNSPECIFIED);
    assert_eq!(bootfile_opt(&m), Some(format!("{SCRIPT}\0").into_bytes()));

    // RFC 3004 length-prefixed user class only (no 175), x64 UEFI iPXE.
    let mut req = ClientReq::ipxe(mac(7), 0x6001, 7);
    req.ipxe_encap = false;
    req.user_class = Some(b"\x04iPXE".to_vec());
    let reply = send(&mut st, &policy(), &req, ingress67(), t0()).expect("offer");
    assert_proxy_offer(&reply, &req, SCRIPT, b"PXEClient", false);

    // Option 175 only.
    let mut req = ClientReq::ipxe(mac(8), 0x6002, 7);
    req.user_class = None;
    let reply = send(&mut st, &policy(), &req, ingress67(), t0()).expect("offer");
    assert_proxy_offer(&reply, &req, SCRIPT, b"PXEClient", false);
}

#[test]
fn custom_ipxe_user_class() {
    let mut st = State::new(Config {
        ipxe_user_classes: vec!["iPXE".into(), "bootbox".into()],
        ..Config::default()
    })
    .expect("valid");
    let mut req = ClientReq::ipxe(mac(9), 1, 7);
    req.ipxe_encap = false;
    req.user_class = Some(b"bootbox".to_vec());
    let reply = send(&mut st, &policy(), &req, ingress67(), t0()).expect("offer");
    assert_proxy_offer(&reply, &req, SCRIPT, b"PXEClient", false);
}

#[test]
fn uefi_http_boot_gets_url_and_httpclient() {
    let mut st = state();
    let req = ClientReq::http(mac(10), 0xa000);
    let reply = send(&mut st, &policy(), &req, ingress67(), t0()).expect("offer");
    let url = "http://10.0.0.1:8080/ipxe.efi";
    let m = assert_proxy_offer(&reply, &req, url, b"HTTPClient", false);
    assert_eq!(bootfile_opt(&m), Some(format!("{url}\0").into_bytes()));
}

#[test]
fn http_boot_option_67_even_when_not_requested() {
    let mut st = state();
    let mut req = ClientReq::http(mac(10), 0xa001);
    req.prl = false;
    let reply = send(&mut st, &policy(), &req, ingress67(), t0()).expect("offer");
    assert!(bootfile_opt(&decode(&reply)).is_some());
    // A PXE client that does not ask for 67 gets `file` only.
    let mut req = ClientReq::bios(mac(10), 0xa002);
    req.prl = false;
    let reply = send(&mut st, &policy(), &req, ingress67(), t0()).expect("offer");
    assert!(bootfile_opt(&decode(&reply)).is_none());
}

#[test]
fn http_boot_with_file_name_is_refused() {
    let (mut st, obs) = observed();
    let p = StaticPolicy {
        http_x64: Some("ipxe.efi".into()),
        ..StaticPolicy::default()
    };
    assert!(send(&mut st, &p, &ClientReq::http(mac(11), 1), ingress67(), t0()).is_none());
    assert_eq!(ignored_reasons(&obs), vec![IgnoreReason::Unsupported]);
}

#[test]
fn non_pxe_discover_never_answered() {
    let (mut st, obs) = observed();
    assert!(send(
        &mut st,
        &policy(),
        &ClientReq::plain(mac(12), 1),
        ingress67(),
        t0()
    )
    .is_none());
    // Other vendor classes (Windows, Linux dhcpcd) neither.
    let mut req = ClientReq::plain(mac(12), 2);
    req.vendor = Some("MSFT 5.0".into());
    assert!(send(&mut st, &policy(), &req, ingress67(), t0()).is_none());
    // Even with option 93 but without PXEClient.
    let mut req = ClientReq::plain(mac(12), 3);
    req.arch = Some(7);
    assert!(send(&mut st, &policy(), &req, ingress67(), t0()).is_none());
    assert_eq!(ignored_reasons(&obs), vec![IgnoreReason::NotPxe; 3]);
}

#[test]
fn request_on_67_not_answered_in_proxy_mode() {
    let (mut st, obs) = observed();
    for t in [Mt::Request, Mt::Inform, Mt::Release, Mt::Decline] {
        let mut req = ClientReq::bios(mac(13), 1).msg(t);
        req.server_id = Some(Ipv4Addr::new(10, 0, 0, 254));
        req.requested_ip = Some(Ipv4Addr::new(10, 0, 0, 77));
        assert!(
            send(&mut st, &policy(), &req, ingress67(), t0()).is_none(),
            "{t:?}"
        );
    }
    assert_eq!(ignored_reasons(&obs), vec![IgnoreReason::NotDiscover; 4]);
}

#[test]
fn relayed_discover_goes_to_giaddr() {
    let mut st = state();
    let mut req = ClientReq::efi(mac(14), 0xe000, 7);
    req.giaddr = Ipv4Addr::new(10, 1, 0, 1);
    let reply = send(&mut st, &policy(), &req, ingress67(), t0()).expect("offer");
    assert_proxy_offer(&reply, &req, "ipxe.efi", b"PXEClient", false);
    assert_eq!(
        reply.dest,
        SocketAddr::from((Ipv4Addr::new(10, 1, 0, 1), 67))
    );
}

#[test]
fn missing_option_97_not_echoed() {
    let mut st = state();
    let mut req = ClientReq::bios(mac(15), 1);
    req.uuid = None;
    let reply = send(&mut st, &policy(), &req, ingress67(), t0()).expect("offer");
    let m = assert_proxy_offer(&reply, &req, "undionly.kpxe", b"PXEClient", true);
    assert_eq!(uuid_opt(&m), None);
}

#[test]
fn arch_from_vendor_class_when_93_missing() {
    let mut st = state();
    let mut req = ClientReq::efi(mac(16), 1, 7);
    req.arch = None;
    let reply = send(&mut st, &policy(), &req, ingress67(), t0()).expect("offer");
    assert_proxy_offer(&reply, &req, "ipxe.efi", b"PXEClient", false);
}

#[test]
fn policy_ignore_and_unknown_arch() {
    let (mut st, obs) = observed();
    let mut p = policy();
    p.no_pxe.insert(Mac(mac(17)));
    assert!(send(&mut st, &p, &ClientReq::bios(mac(17), 1), ingress67(), t0()).is_none());
    // Arch 12 (PPC OpenFirmware): StaticPolicy has nothing for it.
    let req = ClientReq::efi(mac(18), 1, 12);
    assert!(send(&mut st, &p, &req, ingress67(), t0()).is_none());
    assert_eq!(ignored_reasons(&obs), vec![IgnoreReason::PolicyIgnore; 2]);
}

#[test]
fn policy_sees_the_client() {
    struct Check;
    impl BootPolicy for Check {
        fn decide(&self, c: &PxeClient) -> Decision {
            assert_eq!(c.mac, Mac(mac(19)));
            assert_eq!(c.arch, Arch::EfiX64);
            assert_eq!(c.vendor_class, "PXEClient:Arch:00009:UNDI:003000");
            assert_eq!(c.uuid, Some(guid(19)));
            assert_eq!(c.port, ListenPort::Dhcp);
            assert!(!c.is_ipxe);
            Decision::Boot(BootFile::new(format!("by-mac/{}/snponly.efi", c.mac)))
        }
    }
    let mut st = state();
    let req = ClientReq::efi(mac(19), 1, 9);
    let reply = send(&mut st, &Check, &req, ingress67(), t0()).expect("offer");
    assert_proxy_offer(
        &reply,
        &req,
        "by-mac/52:54:00:12:34:13/snponly.efi",
        b"PXEClient",
        false,
    );
}

#[test]
fn long_url_only_in_option_67() {
    let url = format!("http://10.0.0.1/{}", "x".repeat(150));
    let p = StaticPolicy {
        ipxe_script: Some(url.clone().into()),
        ..StaticPolicy::default()
    };
    let mut st = state();
    let mut req = ClientReq::ipxe(mac(20), 1, 7);
    req.prl = false;
    let reply = send(&mut st, &p, &req, ingress67(), t0()).expect("offer");
    let m = decode(&reply);
    assert_eq!(file_of(&m), "");
    assert_eq!(bootfile_opt(&m), Some(format!("{url}\0").into_bytes()));
    // Longer than option 67 can carry: refused.
    let p = StaticPolicy {
        ipxe_script: Some("y".repeat(300).into()),
        ..StaticPolicy::default()
    };
    assert!(send(
        &mut st,
        &p,
        &ClientReq::ipxe(mac(20), 2, 7),
        ingress67(),
        t0()
    )
    .is_none());
}

#[test]
fn rate_limited_per_mac() {
    let (mut st, obs) = observed();
    let p = policy();
    for i in 0..10 {
        assert!(send(&mut st, &p, &ClientReq::bios(mac(21), i), ingress67(), t0()).is_some());
    }
    assert!(send(
        &mut st,
        &p,
        &ClientReq::bios(mac(21), 10),
        ingress67(),
        t0()
    )
    .is_none());
    assert!(send(&mut st, &p, &ClientReq::bios(mac(22), 1), ingress67(), t0()).is_some());
    let later = t0() + std::time::Duration::from_millis(1100);
    assert!(send(
        &mut st,
        &p,
        &ClientReq::bios(mac(21), 11),
        ingress67(),
        later
    )
    .is_some());
    assert!(ignored_reasons(&obs).contains(&IgnoreReason::RateLimited));
}

#[test]
fn malformed_dropped() {
    let (mut st, obs) = observed();
    for bytes in [vec![], vec![0u8; 100], vec![0xff; 600]] {
        assert!(respond_at(&bytes, ingress67(), &policy(), &mut st, t0()).is_none());
    }
    // A valid request with the op flipped to BOOTREPLY.
    let mut b = ClientReq::bios(mac(23), 1).bytes();
    b[0] = 2;
    assert!(respond_at(&b, ingress67(), &policy(), &mut st, t0()).is_none());
    // Option 53 missing.
    let mut r = ClientReq::bios(mac(23), 2).message();
    r.opts_mut().remove(dhcproto::v4::OptionCode::MessageType);
    let b = dhcproto::Encodable::to_vec(&r).expect("encodes");
    assert!(respond_at(&b, ingress67(), &policy(), &mut st, t0()).is_none());
    assert_eq!(ignored_reasons(&obs), vec![IgnoreReason::Malformed; 5]);
}

/// The chainload loop breaker for iPXE builds that hide their user class.
#[test]
fn remembered_mac_fallback_bios() {
    let mut st = state();
    let p = policy();
    let m = mac(30);
    // Firmware DISCOVER → binary; its retransmission (same xid) → binary.
    for _ in 0..2 {
        let r = send(&mut st, &p, &ClientReq::bios(m, 100), ingress67(), t0()).expect("offer");
        assert_eq!(file_of(&decode(&r)), "undionly.kpxe");
    }
    // Unmarked iPXE: new xid, same arch/vendor/97, 3 s later → script.
    let r = send(
        &mut st,
        &p,
        &ClientReq::bios(m, 200),
        ingress67(),
        t0() + secs(3),
    )
    .expect("offer");
    let msg = decode(&r);
    assert_eq!(file_of(&msg), SCRIPT);
    assert_eq!(vendor_opts(&msg), None, "treated as iPXE: no option 43");
    // Retransmission of that transaction still gets the script.
    let r = send(
        &mut st,
        &p,
        &ClientReq::bios(m, 200),
        ingress67(),
        t0() + secs(4),
    )
    .expect("offer");
    assert_eq!(file_of(&decode(&r)), SCRIPT);
    // One-shot: the next transaction gets the binary again.
    let r = send(
        &mut st,
        &p,
        &ClientReq::bios(m, 300),
        ingress67(),
        t0() + secs(30),
    )
    .expect("offer");
    assert_eq!(file_of(&decode(&r)), "undionly.kpxe");
    // Out of window (default 60 s): binary.
    let r = send(
        &mut st,
        &p,
        &ClientReq::bios(m, 400),
        ingress67(),
        t0() + secs(100),
    )
    .expect("offer");
    assert_eq!(file_of(&decode(&r)), "undionly.kpxe");
    // Different options (another arch) do not match.
    let r = send(
        &mut st,
        &p,
        &ClientReq::efi(m, 500, 7),
        ingress67(),
        t0() + secs(101),
    )
    .expect("offer");
    assert_eq!(file_of(&decode(&r)), "ipxe.efi");
}

#[test]
fn remembered_mac_fallback_uefi_and_disabled() {
    let obs = Arc::new(RecordingObserver::new());
    let mut st = state().with_observer(obs.clone());
    let p = policy();
    let m = mac(31);
    let src = SocketAddr::from((Ipv4Addr::new(10, 0, 0, 60), 68));
    // Proxy offer on 67 alone does not count as "got the binary".
    send(&mut st, &p, &ClientReq::efi(m, 1, 7), ingress67(), t0()).expect("offer");
    let r = send(&mut st, &p, &ClientReq::efi(m, 2, 7), ingress67(), t0()).expect("offer");
    assert_eq!(file_of(&decode(&r)), "ipxe.efi");
    // The 4011 ACK does.
    let mut req = ClientReq::efi(m, 2, 7).msg(Mt::Request);
    req.ciaddr = Ipv4Addr::new(10, 0, 0, 60);
    send(&mut st, &p, &req, ingress4011(src), t0()).expect("ack");
    obs.take();
    let r = send(
        &mut st,
        &p,
        &ClientReq::efi(m, 3, 7),
        ingress67(),
        t0() + secs(2),
    )
    .expect("offer");
    assert_eq!(file_of(&decode(&r)), SCRIPT);
    assert!(matches!(
        obs.take().as_slice(),
        [Event::OfferSent { ipxe: true, .. }]
    ));

    // Window zero disables the heuristic.
    let mut st = State::new(Config {
        ipxe_memory: std::time::Duration::ZERO,
        ..Config::default()
    })
    .expect("valid");
    send(&mut st, &p, &ClientReq::bios(m, 1), ingress67(), t0()).expect("offer");
    let r = send(
        &mut st,
        &p,
        &ClientReq::bios(m, 2),
        ingress67(),
        t0() + secs(2),
    )
    .expect("offer");
    assert_eq!(file_of(&decode(&r)), "undionly.kpxe");
}

#[test]
fn marked_ipxe_clears_memory() {
    let mut st = state();
    let p = policy();
    let m = mac(32);
    send(&mut st, &p, &ClientReq::bios(m, 1), ingress67(), t0()).expect("offer");
    let r = send(
        &mut st,
        &p,
        &ClientReq::ipxe(m, 2, 0),
        ingress67(),
        t0() + secs(1),
    )
    .expect("offer");
    assert_eq!(file_of(&decode(&r)), SCRIPT);
    // The next firmware boot (new xid, within the window) gets the binary.
    let r = send(
        &mut st,
        &p,
        &ClientReq::bios(m, 3),
        ingress67(),
        t0() + secs(20),
    )
    .expect("offer");
    assert_eq!(file_of(&decode(&r)), "undionly.kpxe");
}

#[test]
fn grub_policy_for_linbo() {
    let mut st = state();
    let p = StaticPolicy::linbo_grub();
    let r = send(&mut st, &p, &ClientReq::bios(mac(33), 1), ingress67(), t0()).expect("offer");
    assert_eq!(file_of(&decode(&r)), "boot/grub/i386-pc/core.0");
    let r = send(
        &mut st,
        &p,
        &ClientReq::efi(mac(34), 1, 7),
        ingress67(),
        t0(),
    )
    .expect("offer");
    assert_eq!(file_of(&decode(&r)), "boot/grub/x86_64-efi/core.efi");
}

#[test]
fn exactly_300_bytes_for_small_offer() {
    let mut st = state();
    let mut req = ClientReq::bios(mac(35), 1);
    req.uuid = None;
    req.prl = false;
    let r = send(&mut st, &policy(), &req, ingress67(), t0()).expect("offer");
    assert_eq!(r.bytes.len(), 300);
}
