//! Full-DHCP mode: leases, fixed addresses, NAK, release/decline, LINBO
//! options.

mod common;

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use bootbox_proxydhcp::{
    Config, Event, FullDhcpConfig, HostInfo, IgnoreReason, Ingress, Lease, LeaseStore, ListenPort,
    Mac, RecordingObserver, State, StaticPolicy,
};
use common::*;
use dhcproto::v4::{DhcpOption, Message, MessageType as Mt};

const SRV: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 1);

fn ip(d: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 9, 0, d)
}

fn ingress() -> Ingress {
    Ingress {
        port: ListenPort::Dhcp,
        server_ip: SRV,
        source: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 68)),
    }
}

fn full_config(start: u8, end: u8) -> FullDhcpConfig {
    let mut f = FullDhcpConfig::new(ip(start), ip(end), Ipv4Addr::new(255, 255, 255, 0));
    f.router = Some(ip(254));
    f.dns = vec![SRV];
    f.ntp = vec![SRV];
    f.domain = Some("linuxmuster.lan".into());
    f
}

fn full_state(start: u8, end: u8) -> (State, Arc<RecordingObserver>) {
    let obs = Arc::new(RecordingObserver::new());
    let st = State::new(Config {
        full: Some(full_config(start, end)),
        rate_limit: None,
        ..Config::default()
    })
    .expect("valid")
    .with_observer(obs.clone());
    (st, obs)
}

fn full_policy() -> StaticPolicy {
    let mut p = StaticPolicy::ipxe_chainload(SRV, 8080);
    p.hosts.insert(
        Mac(mac(50)),
        HostInfo {
            hostname: Some("r100-pc01".into()),
            group: Some("win11".into()),
            fixed_address: Some(ip(50)),
        },
    );
    p
}

fn string_opt(m: &Message, code: u8) -> Option<String> {
    match opt(m, code)? {
        DhcpOption::Hostname(s)
        | DhcpOption::DomainName(s)
        | DhcpOption::ExtensionsPath(s)
        | DhcpOption::NisDomain(s) => Some(s.clone()),
        _ => None,
    }
}

fn lease_time(m: &Message) -> Option<u32> {
    match opt(m, 51)? {
        DhcpOption::AddressLeaseTime(t) => Some(*t),
        _ => None,
    }
}

/// DISCOVER then REQUEST (selecting); returns the ACK.
fn obtain(st: &mut State, p: &StaticPolicy, req: ClientReq) -> Message {
    let offer = send(st, p, &req, ingress(), t0()).expect("offer");
    let offer = decode(&offer);
    assert_eq!(msg_type(&offer), Some(Mt::Offer));
    let mut r = ClientReq { ..req }.msg(Mt::Request);
    r.server_id = Some(SRV);
    r.requested_ip = Some(offer.yiaddr());
    let ack = send(st, p, &r, ingress(), t0()).expect("ack");
    let ack = decode(&ack);
    assert_eq!(msg_type(&ack), Some(Mt::Ack));
    assert_eq!(ack.yiaddr(), offer.yiaddr());
    ack
}

#[test]
fn non_pxe_client_gets_address_but_no_boot_options() {
    let (mut st, obs) = full_state(100, 110);
    let p = full_policy();
    let req = ClientReq::plain(mac(1), 1);
    let reply = send(&mut st, &p, &req, ingress(), t0()).expect("offer");
    assert_eq!(reply.dest, SocketAddr::from((Ipv4Addr::BROADCAST, 68)));
    let m = decode(&reply);
    assert_eq!(m.yiaddr(), ip(100));
    assert_eq!(server_id(&m), Some(SRV));
    assert_eq!(lease_time(&m), Some(600));
    assert!(
        matches!(opt(&m, 1), Some(DhcpOption::SubnetMask(x)) if *x == Ipv4Addr::new(255, 255, 255, 0))
    );
    assert!(matches!(opt(&m, 3), Some(DhcpOption::Router(r)) if r == &vec![ip(254)]));
    assert!(matches!(opt(&m, 6), Some(DhcpOption::DomainNameServer(r)) if r == &vec![SRV]));
    assert_eq!(string_opt(&m, 12).as_deref(), Some("pxeclient"));
    assert_eq!(string_opt(&m, 15).as_deref(), Some("linuxmuster.lan"));
    assert_eq!(string_opt(&m, 18), None, "no group for unknown hosts");
    assert_eq!(file_of(&m), "");
    assert_eq!(class_id(&m), None);
    assert_eq!(vendor_opts(&m), None);
    assert!(matches!(
        obs.take().as_slice(),
        [Event::OfferSent {
            arch: None,
            file: None,
            yiaddr: Some(_),
            ..
        }]
    ));
    let ack = obtain(&mut st, &p, ClientReq::plain(mac(1), 2));
    assert_eq!(ack.yiaddr(), ip(100));
    assert_eq!(st.leases().len(), 1);
    assert!(obs
        .take()
        .iter()
        .any(|e| matches!(e, Event::LeaseGranted { ip: i, lease_secs: 600, .. } if *i == ip(100))));
}

#[test]
fn registered_host_gets_fixed_address_and_linbo_options() {
    let (mut st, _) = full_state(100, 110);
    let p = full_policy();
    let ack = obtain(&mut st, &p, ClientReq::plain(mac(50), 1));
    assert_eq!(ack.yiaddr(), ip(50));
    assert_eq!(string_opt(&ack, 12).as_deref(), Some("r100-pc01"));
    assert_eq!(string_opt(&ack, 18).as_deref(), Some("win11"));
    assert_eq!(string_opt(&ack, 40).as_deref(), Some("win11"));
    assert_eq!(server_id(&ack), Some(SRV));
    assert_eq!(lease_time(&ack), Some(172_800));
    // The fixed address is never handed out dynamically.
    let (mut st, _) = full_state(50, 50);
    let other = send(&mut st, &p, &ClientReq::plain(mac(2), 1), ingress(), t0());
    assert!(other.is_none(), "pool of one reserved address is exhausted");
}

#[test]
fn pxe_client_in_full_mode_gets_address_and_boot_options() {
    let (mut st, _) = full_state(100, 110);
    let p = full_policy();
    let req = ClientReq::bios(mac(3), 7);
    let reply = send(&mut st, &p, &req, ingress(), t0()).expect("offer");
    let m = decode(&reply);
    assert_eq!(m.yiaddr(), ip(100));
    assert_eq!(m.siaddr(), SRV);
    assert_eq!(file_of(&m), "undionly.kpxe");
    assert_eq!(class_id(&m), Some(b"PXEClient".to_vec()));
    assert_eq!(vendor_opts(&m), Some(vec![6, 1, 8, 255]));
    assert_eq!(uuid_opt(&m), req.uuid);
    // And the ACK carries them again.
    let ack = obtain(&mut st, &p, ClientReq::efi(mac(4), 8, 7));
    assert_eq!(file_of(&ack), "ipxe.efi");
    assert_eq!(vendor_opts(&ack), None);
    // Policy "no PXE": address yes, boot options no.
    let mut p2 = full_policy();
    p2.no_pxe.insert(Mac(mac(5)));
    let m =
        decode(&send(&mut st, &p2, &ClientReq::bios(mac(5), 9), ingress(), t0()).expect("offer"));
    assert_ne!(m.yiaddr(), Ipv4Addr::UNSPECIFIED);
    assert_eq!(file_of(&m), "");
    assert_eq!(class_id(&m), None);
}

#[test]
fn pool_exhaustion() {
    let (mut st, obs) = full_state(100, 102);
    let p = full_policy();
    let mut got = Vec::new();
    for n in 1..=3 {
        got.push(obtain(&mut st, &p, ClientReq::plain(mac(n), u32::from(n))).yiaddr());
    }
    got.sort();
    got.dedup();
    assert_eq!(got, vec![ip(100), ip(101), ip(102)], "no address twice");
    obs.take();
    assert!(send(&mut st, &p, &ClientReq::plain(mac(9), 9), ingress(), t0()).is_none());
    assert!(obs.take().iter().any(|e| matches!(
        e,
        Event::Ignored {
            reason: IgnoreReason::PoolExhausted,
            ..
        }
    )));
    // An existing client still gets its own address back.
    let m =
        decode(&send(&mut st, &p, &ClientReq::plain(mac(2), 20), ingress(), t0()).expect("offer"));
    assert!(got.contains(&m.yiaddr()));
}

#[test]
fn release_and_reuse() {
    let (mut st, obs) = full_state(100, 100);
    let p = full_policy();
    let a = obtain(&mut st, &p, ClientReq::plain(mac(1), 1)).yiaddr();
    assert!(send(&mut st, &p, &ClientReq::plain(mac(2), 2), ingress(), t0()).is_none());
    let mut rel = ClientReq::plain(mac(1), 3).msg(Mt::Release);
    rel.ciaddr = a;
    rel.server_id = Some(SRV);
    assert!(
        send(&mut st, &p, &rel, ingress(), t0()).is_none(),
        "no reply to RELEASE"
    );
    assert!(obs
        .take()
        .iter()
        .any(|e| matches!(e, Event::LeaseReleased { .. })));
    assert!(st.leases().is_empty());
    let b = obtain(&mut st, &p, ClientReq::plain(mac(2), 4)).yiaddr();
    assert_eq!(a, b);
}

#[test]
fn lease_expiry_frees_address() {
    let (mut st, _) = full_state(100, 100);
    let p = full_policy();
    obtain(&mut st, &p, ClientReq::plain(mac(1), 1));
    let later = t0() + secs(601);
    let reply = respond(&mut st, &p, &ClientReq::plain(mac(2), 2), later).expect("offer");
    assert_eq!(decode(&reply).yiaddr(), ip(100));
}

fn respond(
    st: &mut State,
    p: &StaticPolicy,
    req: &ClientReq,
    now: std::time::SystemTime,
) -> Option<bootbox_proxydhcp::Reply> {
    send(st, p, req, ingress(), now)
}

#[test]
fn nak_for_foreign_or_taken_address() {
    let (mut st, obs) = full_state(100, 110);
    let p = full_policy();
    // INIT-REBOOT with an address from another network.
    let mut r = ClientReq::plain(mac(1), 1).msg(Mt::Request);
    r.requested_ip = Some(Ipv4Addr::new(192, 168, 1, 5));
    let reply = send(&mut st, &p, &r, ingress(), t0()).expect("nak");
    let m = decode(&reply);
    assert_eq!(msg_type(&m), Some(Mt::Nak));
    assert_eq!(m.yiaddr(), Ipv4Addr::UNSPECIFIED);
    assert_eq!(server_id(&m), Some(SRV));
    assert_eq!(reply.dest, SocketAddr::from((Ipv4Addr::BROADCAST, 68)));
    assert!(obs
        .take()
        .iter()
        .any(|e| matches!(e, Event::NakSent { .. })));
    // An address leased to someone else.
    let a = obtain(&mut st, &p, ClientReq::plain(mac(2), 2)).yiaddr();
    let mut r = ClientReq::plain(mac(3), 3).msg(Mt::Request);
    r.requested_ip = Some(a);
    r.server_id = Some(SRV);
    assert_eq!(
        msg_type(&decode(
            &send(&mut st, &p, &r, ingress(), t0()).expect("nak")
        )),
        Some(Mt::Nak)
    );
    // A registered host asking for something other than its fixed address.
    let mut r = ClientReq::plain(mac(50), 4).msg(Mt::Request);
    r.requested_ip = Some(ip(105));
    assert_eq!(
        msg_type(&decode(
            &send(&mut st, &p, &r, ingress(), t0()).expect("nak")
        )),
        Some(Mt::Nak)
    );
    // The server's own address.
    let (mut st, _) = full_state(1, 10);
    let mut r = ClientReq::plain(mac(6), 5).msg(Mt::Request);
    r.requested_ip = Some(SRV);
    assert_eq!(
        msg_type(&decode(
            &send(&mut st, &p, &r, ingress(), t0()).expect("nak")
        )),
        Some(Mt::Nak)
    );
}

#[test]
fn request_for_other_server_drops_offer() {
    let (mut st, obs) = full_state(100, 100);
    let p = full_policy();
    let offer =
        decode(&send(&mut st, &p, &ClientReq::plain(mac(1), 1), ingress(), t0()).expect("offer"));
    let mut r = ClientReq::plain(mac(1), 1).msg(Mt::Request);
    r.server_id = Some(Ipv4Addr::new(10, 9, 0, 2));
    r.requested_ip = Some(offer.yiaddr());
    assert!(send(&mut st, &p, &r, ingress(), t0()).is_none());
    assert!(obs.take().iter().any(|e| matches!(
        e,
        Event::Ignored {
            reason: IgnoreReason::NotForUs,
            ..
        }
    )));
    // The held address is free again for the next client.
    let m =
        decode(&send(&mut st, &p, &ClientReq::plain(mac(2), 2), ingress(), t0()).expect("offer"));
    assert_eq!(m.yiaddr(), offer.yiaddr());
}

#[test]
fn renewal_is_unicast_and_decline_quarantines() {
    let (mut st, obs) = full_state(100, 101);
    let p = full_policy();
    let a = obtain(&mut st, &p, ClientReq::plain(mac(1), 1)).yiaddr();
    let mut renew = ClientReq::plain(mac(1), 2).msg(Mt::Request);
    renew.ciaddr = a;
    let reply = send(&mut st, &p, &renew, ingress(), t0() + secs(300)).expect("ack");
    assert_eq!(reply.dest, SocketAddr::from((a, 68)));
    let m = decode(&reply);
    assert_eq!(msg_type(&m), Some(Mt::Ack));
    assert_eq!(m.yiaddr(), a);
    assert_eq!(m.ciaddr(), a);
    // Decline: address quarantined, client gets the other one.
    let mut dec = ClientReq::plain(mac(1), 3).msg(Mt::Decline);
    dec.requested_ip = Some(a);
    dec.server_id = Some(SRV);
    assert!(send(&mut st, &p, &dec, ingress(), t0() + secs(301)).is_none());
    assert!(obs
        .take()
        .iter()
        .any(|e| matches!(e, Event::LeaseDeclined { .. })));
    let m = decode(
        &send(
            &mut st,
            &p,
            &ClientReq::plain(mac(1), 4),
            ingress(),
            t0() + secs(302),
        )
        .expect("offer"),
    );
    assert_ne!(m.yiaddr(), a);
    // Another client: pool has only the declined address left → none.
    assert!(send(
        &mut st,
        &p,
        &ClientReq::plain(mac(2), 5),
        ingress(),
        t0() + secs(303)
    )
    .is_none());
}

#[test]
fn inform_gets_config_without_lease() {
    let (mut st, _) = full_state(100, 110);
    let p = full_policy();
    let mut r = ClientReq::plain(mac(1), 1).msg(Mt::Inform);
    r.ciaddr = ip(200);
    let reply = send(&mut st, &p, &r, ingress(), t0()).expect("ack");
    assert_eq!(reply.dest, SocketAddr::from((ip(200), 68)));
    let m = decode(&reply);
    assert_eq!(msg_type(&m), Some(Mt::Ack));
    assert_eq!(m.yiaddr(), Ipv4Addr::UNSPECIFIED);
    assert_eq!(lease_time(&m), None);
    assert!(st.leases().is_empty());
}

#[test]
fn relayed_from_foreign_subnet_ignored() {
    let (mut st, _) = full_state(100, 110);
    let p = full_policy();
    let mut r = ClientReq::plain(mac(1), 1);
    r.giaddr = Ipv4Addr::new(172, 16, 0, 1);
    assert!(send(&mut st, &p, &r, ingress(), t0()).is_none());
    r.giaddr = ip(254);
    let reply = send(&mut st, &p, &r, ingress(), t0()).expect("offer");
    assert_eq!(reply.dest, SocketAddr::from((ip(254), 67)));
}

#[test]
fn requested_address_honoured_when_free() {
    let (mut st, _) = full_state(100, 110);
    let p = full_policy();
    let mut r = ClientReq::plain(mac(1), 1);
    r.requested_ip = Some(ip(107));
    assert_eq!(
        decode(&send(&mut st, &p, &r, ingress(), t0()).expect("offer")).yiaddr(),
        ip(107)
    );
}

#[derive(Default)]
struct Store(Mutex<Vec<Vec<Lease>>>);

impl LeaseStore for Store {
    fn snapshot(&self, leases: &[Lease]) {
        self.0.lock().expect("lock").push(leases.to_vec());
    }
}

#[test]
fn snapshot_hook_and_restore() {
    let store = Arc::new(Store::default());
    let mut st = State::new(Config {
        full: Some(full_config(100, 110)),
        ..Config::default()
    })
    .expect("valid")
    .with_lease_store(store.clone());
    let p = full_policy();
    let a = obtain(&mut st, &p, ClientReq::plain(mac(1), 1)).yiaddr();
    let snaps = store.0.lock().expect("lock").clone();
    let last = snaps.last().expect("snapshot after ACK");
    assert_eq!(last.len(), 1);
    assert_eq!(last[0].ip, a);
    assert_eq!(last[0].mac, Mac(mac(1)));
    assert_eq!(last[0].hostname.as_deref(), Some("pxeclient"));

    // A fresh state restored from the snapshot gives the same address back
    // and keeps it from others.
    let mut st2 = State::new(Config {
        full: Some(full_config(100, 100)),
        ..Config::default()
    })
    .expect("valid");
    st2.restore_leases(last.clone(), t0());
    assert_eq!(st2.leases().len(), 1);
    assert!(send(&mut st2, &p, &ClientReq::plain(mac(2), 1), ingress(), t0()).is_none());
    let m =
        decode(&send(&mut st2, &p, &ClientReq::plain(mac(1), 2), ingress(), t0()).expect("offer"));
    assert_eq!(m.yiaddr(), a);
}

#[test]
fn reserved_addresses_skipped() {
    let mut p = full_policy();
    let mut hosts = HashMap::new();
    hosts.insert(
        Mac(mac(60)),
        HostInfo {
            hostname: Some("pc60".into()),
            group: None,
            fixed_address: Some(ip(100)),
        },
    );
    p.hosts.extend(hosts);
    let (mut st, _) = full_state(100, 101);
    let m =
        decode(&send(&mut st, &p, &ClientReq::plain(mac(1), 1), ingress(), t0()).expect("offer"));
    assert_eq!(m.yiaddr(), ip(101));
}

#[test]
fn port_4011_still_works_in_full_mode() {
    let (mut st, _) = full_state(100, 110);
    let p = full_policy();
    let mut r = ClientReq::efi(mac(1), 1, 7).msg(Mt::Request);
    r.ciaddr = ip(100);
    let src = SocketAddr::from((ip(100), 68));
    let ing = Ingress {
        port: ListenPort::PxeBoot,
        server_ip: SRV,
        source: src,
    };
    let m = decode(&send(&mut st, &p, &r, ing, t0()).expect("ack"));
    assert_eq!(file_of(&m), "ipxe.efi");
}

#[test]
fn invalid_full_config_rejected() {
    let mut f = full_config(100, 110);
    f.range_end = ip(50);
    assert!(State::new(Config {
        full: Some(f),
        ..Config::default()
    })
    .is_err());
}
