//! Socket layer on loopback only: port 4011 behaviour (reply from the
//! boot server port back to the sender). Uses ephemeral ports, never 67,
//! and never sends broadcasts, so no DHCP leaves the machine.

mod common;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bootbox_proxydhcp::{ListenPort, Server, ServerConfig, SharedState};
use common::*;
use dhcproto::v4::MessageType as Mt;
use dhcproto::Decodable;

async fn roundtrip(interface: Option<String>) {
    let cfg = ServerConfig {
        interface,
        server_ip: SERVER,
        bind_ip: Ipv4Addr::LOCALHOST,
        dhcp_port: None,
        pxe_port: Some(0),
    };
    let server = Server::bind(cfg, SharedState::new(state()), Arc::new(policy())).expect("bind");
    let addrs = server.local_addrs();
    let [(ListenPort::PxeBoot, server_addr)] = addrs.as_slice() else {
        panic!("expected one 4011 socket, got {addrs:?}");
    };
    let server_addr = *server_addr;
    let task = tokio::spawn(server.run());

    let client = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("client socket");
    let mut req = ClientReq::efi(mac(1), 0x4242, 7).msg(Mt::Request);
    req.ciaddr = Ipv4Addr::LOCALHOST;
    client
        .send_to(&req.bytes(), server_addr)
        .await
        .expect("send");
    let mut buf = [0u8; 1500];
    let (n, from) = tokio::time::timeout(Duration::from_secs(5), client.recv_from(&mut buf))
        .await
        .expect("reply within 5 s")
        .expect("recv");
    assert_eq!(
        from,
        SocketAddr::from((Ipv4Addr::LOCALHOST, server_addr.port())),
        "reply comes from the boot server port"
    );
    let m = dhcproto::v4::Message::from_bytes(&buf[..n]).expect("decodes");
    assert_eq!(m.xid(), 0x4242);
    assert_eq!(m.opts().msg_type(), Some(Mt::Ack));
    assert_eq!(file_of(&m), "ipxe.efi");

    // Garbage does not kill the server.
    client.send_to(b"garbage", server_addr).await.expect("send");
    client
        .send_to(&req.bytes(), server_addr)
        .await
        .expect("send");
    let got = tokio::time::timeout(Duration::from_secs(5), client.recv_from(&mut buf)).await;
    assert!(got.is_ok(), "still answering after garbage");
    task.abort();
}

#[tokio::test]
async fn boot_server_on_loopback() {
    roundtrip(None).await;
}

/// SO_BINDTODEVICE needs CAP_NET_RAW; skip quietly without it.
#[tokio::test]
async fn boot_server_bound_to_lo() {
    let probe =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).expect("socket");
    if probe.bind_device(Some(b"lo")).is_err() {
        eprintln!("skipping: SO_BINDTODEVICE not permitted");
        return;
    }
    roundtrip(Some("lo".into())).await;
}

#[test]
fn bind_errors_are_reported() {
    let cfg = ServerConfig {
        interface: Some("no-such-if0".into()),
        server_ip: SERVER,
        bind_ip: Ipv4Addr::LOCALHOST,
        dhcp_port: None,
        pxe_port: Some(0),
    };
    assert!(Server::bind(cfg, SharedState::new(state()), Arc::new(policy())).is_err());
    let none = ServerConfig {
        interface: None,
        server_ip: SERVER,
        bind_ip: Ipv4Addr::LOCALHOST,
        dhcp_port: None,
        pxe_port: None,
    };
    assert!(Server::bind(none, SharedState::new(state()), Arc::new(policy())).is_err());
}
