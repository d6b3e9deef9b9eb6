//! Protocol behaviour checks with a tiny UDP client on 127.0.0.1.
//!
//! Where a test checks that the server sends *nothing* for a while, the wait
//! is a multiple of the server's retransmit timeout: a protocol property
//! ("no retransmission"), not a speed assertion.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use bootbox_tftp::packet::{ErrorCode, Mode};
use bootbox_tftp::{AbortReason, FileSource, Opened, Packet, TftpError, TransferEvent};
use common::client::Client;
use common::{write_file, TestServer};

fn opts(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

fn error_code(packet: &Packet) -> u16 {
    match packet {
        Packet::Error { code, .. } => *code,
        other => panic!("expected ERROR, got {other:?}"),
    }
}

fn aborted_reason(server: &TestServer, file: &str) -> AbortReason {
    match server
        .events
        .wait_for(|e| matches!(e, TransferEvent::Aborted { path, .. } if path == file))
    {
        TransferEvent::Aborted { reason, .. } => reason,
        _ => unreachable!(),
    }
}

fn short_timeout(ms: u64) -> impl FnOnce(&mut bootbox_tftp::TftpConfig) {
    move |c| c.timeout = Duration::from_millis(ms)
}

#[test]
fn lockstep_without_options_and_events() {
    let dir = tempfile::tempdir().unwrap();
    let data = write_file(dir.path(), "pxelinux.0", 5000);
    let server = TestServer::start(dir.path(), |_| {});
    let mut client = Client::new(server.addr);
    let got = client.download("pxelinux.0", &[]).unwrap();
    assert!(got.oack.is_none(), "no options requested => no OACK");
    assert_eq!(got.data, data);
    assert_eq!(got.packets, 10, "512-byte blocks, lock-step, no duplicates");

    let done = server
        .events
        .wait_for(|e| matches!(e, TransferEvent::Completed { .. }));
    let TransferEvent::Completed {
        client: who, bytes, ..
    } = done
    else {
        unreachable!()
    };
    assert_eq!(who, client.sock.local_addr().unwrap());
    assert_eq!(bytes, 5000);
    let events = server.events.events();
    assert!(
        matches!(&events[0], TransferEvent::Requested { path, options, .. } if path == "pxelinux.0" && options.is_empty())
    );
    assert!(matches!(
        &events[1],
        TransferEvent::Started {
            size: Some(5000),
            blksize: 512,
            windowsize: 1,
            ..
        }
    ));
}

#[test]
fn exact_multiple_ends_with_empty_block() {
    let dir = tempfile::tempdir().unwrap();
    let data = write_file(dir.path(), "f", 1024);
    let server = TestServer::start(dir.path(), |_| {});
    let mut client = Client::new(server.addr);
    client.rrq("f", &[]);
    let mut blocks = Vec::new();
    loop {
        let Packet::Data { block, data } = client.recv() else {
            panic!("expected DATA")
        };
        client.ack(block);
        let last = data.len() < 512;
        blocks.push((block, data));
        if last {
            break;
        }
    }
    assert_eq!(
        blocks.iter().map(|b| b.0).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert!(blocks[2].1.is_empty());
    assert_eq!(blocks[0].1.len() + blocks[1].1.len(), data.len());
}

#[test]
fn empty_file() {
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "empty", 0);
    let server = TestServer::start(dir.path(), |_| {});
    let mut client = Client::new(server.addr);
    let got = client.download("empty", &[("tsize", "0")]).unwrap();
    assert_eq!(got.oack.unwrap(), opts(&[("tsize", "0")]));
    assert!(got.data.is_empty());
    assert_eq!(got.packets, 1);
}

#[test]
fn windowsize_16_download_with_oack() {
    let dir = tempfile::tempdir().unwrap();
    let data = write_file(dir.path(), "boot/grub/core.efi", 3 * 1024 * 1024 + 77);
    let server = TestServer::start(dir.path(), |_| {});
    let mut client = Client::new(server.addr);
    let got = client
        .download(
            "/boot/grub/core.efi",
            &[("blksize", "1468"), ("windowsize", "16"), ("tsize", "0")],
        )
        .unwrap();
    assert_eq!(
        got.oack.unwrap(),
        opts(&[
            ("blksize", "1468"),
            ("windowsize", "16"),
            ("tsize", &data.len().to_string())
        ])
    );
    assert!(got.data == data, "content differs");
    server.events.wait_for(|e| {
        matches!(
            e,
            TransferEvent::Started {
                blksize: 1468,
                windowsize: 16,
                ..
            }
        )
    });
}

#[test]
fn windowed_transfer_rolls_block_numbers_over_to_zero() {
    let dir = tempfile::tempdir().unwrap();
    // 70 000 blocks of 8 bytes: block numbers wrap 65535 -> 0.
    let data = write_file(dir.path(), "big", 70_000 * 8 + 3);
    let server = TestServer::start(dir.path(), |_| {});
    let mut client = Client::new(server.addr);
    let got = client
        .download("big", &[("blksize", "8"), ("windowsize", "16")])
        .unwrap();
    assert!(got.data == data, "content differs");
}

#[test]
fn blksize_and_windowsize_clamped_unknown_options_ignored() {
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "f", 10);
    let server = TestServer::start(dir.path(), |c| {
        c.max_blksize = 1000;
        c.max_windowsize = 8;
    });
    let mut client = Client::new(server.addr);
    client.rrq(
        "f",
        &[("foo", "1"), ("BLKSIZE", "2000"), ("windowsize", "100")],
    );
    assert_eq!(
        client.recv(),
        Packet::Oack {
            options: opts(&[("blksize", "1000"), ("windowsize", "8")])
        }
    );

    // Only unknown options: no OACK, data starts at once.
    let mut client = Client::new(server.addr);
    client.rrq("f", &[("multicast", ""), ("rollover", "0")]);
    assert!(matches!(client.recv(), Packet::Data { block: 1, .. }));
}

#[test]
fn tsize_probe_then_abort_like_edk2() {
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "shimx64.efi", 12345);
    let server = TestServer::start(dir.path(), |_| {}); // 1 s retransmit timeout
    let mut client = Client::new(server.addr);
    client.rrq("shimx64.efi", &[("tsize", "0"), ("blksize", "1468")]);
    assert_eq!(
        client.recv(),
        Packet::Oack {
            options: opts(&[("tsize", "12345"), ("blksize", "1468")])
        }
    );
    client.send(&Packet::error(ErrorCode::OptionNegotiation, "tsize probe"));
    // Nothing more: no OACK retransmission, no DATA (3x the retransmit timeout).
    assert_eq!(client.recv_within(Duration::from_secs(3)), None);
    assert_eq!(
        aborted_reason(&server, "shimx64.efi"),
        AbortReason::ClientError {
            code: 8,
            message: "tsize probe".into()
        }
    );
}

#[test]
fn client_error_mid_transfer_stops_at_once() {
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "grub.cfg", 100_000);
    let server = TestServer::start(dir.path(), |_| {}); // 1 s retransmit timeout
    let mut client = Client::new(server.addr);
    client.rrq("grub.cfg", &[("blksize", "1024")]);
    assert!(matches!(client.recv(), Packet::Oack { .. }));
    client.ack(0);
    assert!(matches!(client.recv(), Packet::Data { block: 1, .. }));
    client.ack(1);
    assert!(matches!(client.recv(), Packet::Data { block: 2, .. }));
    client.send(&Packet::error(ErrorCode::NotDefined, "closed"));
    assert_eq!(client.recv_within(Duration::from_secs(3)), None);
    let TransferEvent::Aborted { bytes, reason, .. } = server
        .events
        .wait_for(|e| matches!(e, TransferEvent::Aborted { .. }))
    else {
        unreachable!()
    };
    assert_eq!(bytes, 1024);
    assert!(reason.is_client_abort());
    assert!(!server
        .events
        .events()
        .iter()
        .any(|e| matches!(e, TransferEvent::Completed { .. })));
}

#[test]
fn client_error_mid_window_stops_at_once() {
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "f", 200_000);
    let server = TestServer::start(dir.path(), |_| {}); // 1 s retransmit timeout
    let mut client = Client::new(server.addr);
    client.rrq("f", &[("windowsize", "8")]);
    assert!(matches!(client.recv(), Packet::Oack { .. }));
    client.ack(0);
    assert!(matches!(client.recv(), Packet::Data { block: 1, .. }));
    client.send(&Packet::error(ErrorCode::NotDefined, "closed"));
    // Drain the rest of the window already in flight (blocks 2..=8), then
    // nothing more may come.
    let mut extra = 0;
    while let Some(p) = client.recv_within(Duration::from_secs(3)) {
        assert!(
            matches!(p, Packet::Data { block: 2..=8, .. }),
            "unexpected {p:?}"
        );
        extra += 1;
        assert!(extra <= 7, "server kept sending after the client's ERROR");
    }
    assert!(aborted_reason(&server, "f").is_client_abort());
}

#[test]
fn partial_window_ack_resends_from_last_acked_block() {
    let dir = tempfile::tempdir().unwrap();
    let data = write_file(dir.path(), "f", 20 * 512 + 1);
    let server = TestServer::start(dir.path(), |c| c.timeout = Duration::from_secs(5));
    let mut client = Client::new(server.addr);
    client.rrq("f", &[("windowsize", "4")]);
    assert!(matches!(client.recv(), Packet::Oack { .. }));
    client.ack(0);
    let mut window = Vec::new();
    for _ in 0..4 {
        let Packet::Data { block, .. } = client.recv() else {
            panic!()
        };
        window.push(block);
    }
    assert_eq!(window, vec![1, 2, 3, 4]);
    // Pretend block 3 was lost: ACK 2. The server must send 3, 4, 5, 6.
    client.ack(2);
    let mut next = Vec::new();
    for _ in 0..4 {
        let Packet::Data { block, data: chunk } = client.recv() else {
            panic!()
        };
        let start = (usize::from(block) - 1) * 512;
        assert_eq!(chunk, data[start..start + 512]);
        next.push(block);
    }
    assert_eq!(next, vec![3, 4, 5, 6]);
}

#[test]
fn duplicate_ack_does_not_trigger_retransmission() {
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "f", 4000);
    let server = TestServer::start(dir.path(), |c| c.timeout = Duration::from_secs(5));
    let mut client = Client::new(server.addr);
    client.rrq("f", &[]);
    assert!(matches!(client.recv(), Packet::Data { block: 1, .. }));
    client.ack(1);
    assert!(matches!(client.recv(), Packet::Data { block: 2, .. }));
    client.ack(1); // duplicate
    client.ack(1);
    assert_eq!(
        client.recv_within(Duration::from_millis(1500)),
        None,
        "a duplicate ACK must not cause a retransmission (Sorcerer's Apprentice)"
    );
    client.ack(2);
    assert!(matches!(client.recv(), Packet::Data { block: 3, .. }));
}

#[test]
fn retransmits_on_timeout_then_gives_up() {
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "f", 4000);
    let server = TestServer::start(dir.path(), |c| {
        c.timeout = Duration::from_millis(150);
        c.retries = 3;
    });
    let mut client = Client::new(server.addr);
    client.rrq("f", &[]);
    assert_eq!(aborted_reason(&server, "f"), AbortReason::Timeout);
    let mut copies = 0;
    while let Some(p) = client.recv_within(Duration::from_millis(100)) {
        assert!(matches!(p, Packet::Data { block: 1, .. }));
        copies += 1;
    }
    assert_eq!(copies, 4, "first send + 3 retransmissions");
}

#[test]
fn lost_ack_is_recovered_by_retransmission() {
    let dir = tempfile::tempdir().unwrap();
    let data = write_file(dir.path(), "f", 3000);
    let server = TestServer::start(dir.path(), short_timeout(200));
    let mut client = Client::new(server.addr);
    client.rrq("f", &[]);
    assert!(matches!(client.recv(), Packet::Data { block: 1, .. }));
    // Do not ACK: the same block must come again after the timeout.
    assert!(matches!(client.recv(), Packet::Data { block: 1, .. }));
    // Continue as a lock-step client that tolerates further duplicates.
    let mut got = Vec::new();
    let mut expected = 1u16;
    let mut packet = Packet::Data {
        block: 1,
        data: data[..512].to_vec(),
    };
    loop {
        let Packet::Data { block, data: chunk } = packet else {
            panic!("expected DATA")
        };
        client.ack(block);
        if block == expected {
            got.extend_from_slice(&chunk);
            expected += 1;
            if chunk.len() < 512 {
                break;
            }
        }
        packet = client.recv();
    }
    assert_eq!(got, data);
}

#[test]
fn timeout_option_echoed_exactly_or_dropped() {
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "f", 100);
    let server = TestServer::start(dir.path(), |_| {});
    let mut client = Client::new(server.addr);
    client.rrq("f", &[("timeout", "4"), ("tsize", "0")]);
    assert_eq!(
        client.recv(),
        Packet::Oack {
            options: opts(&[("timeout", "4"), ("tsize", "100")])
        }
    );
    for bad in ["0", "256", "abc"] {
        let mut client = Client::new(server.addr);
        client.rrq("f", &[("timeout", bad)]);
        assert!(
            matches!(client.recv(), Packet::Data { block: 1, .. }),
            "timeout={bad} must be dropped (no OACK)"
        );
    }
}

#[test]
fn write_request_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), |_| {});
    let mut client = Client::new(server.addr);
    client.send_to_server(&Packet::Wrq(bootbox_tftp::packet::Request::new(
        "upload",
        &[],
    )));
    assert_eq!(
        client.recv(),
        Packet::error(ErrorCode::AccessViolation, "read-only server")
    );
    assert!(matches!(
        aborted_reason(&server, "upload"),
        AbortReason::AccessDenied(_)
    ));
    assert!(!dir.path().join("upload").exists());
}

#[test]
fn not_found() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), |_| {});
    let mut client = Client::new(server.addr);
    client.rrq("missing.efi", &[("tsize", "0")]);
    assert_eq!(error_code(&client.recv()), 1);
    assert_eq!(
        aborted_reason(&server, "missing.efi"),
        AbortReason::NotFound
    );
}

#[cfg(unix)]
#[test]
fn traversal_and_confinement() {
    use std::os::unix::fs::symlink;
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret"), b"top secret").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let inside = write_file(root, "sub/file", 700);
    std::fs::create_dir(root.join("dir")).unwrap();
    symlink(outside.path().join("secret"), root.join("escape")).unwrap();
    symlink(outside.path(), root.join("escdir")).unwrap();
    symlink("sub/file", root.join("link")).unwrap();
    let server = TestServer::start(root, |_| {});

    let secret_rel = format!(
        "../{}/secret",
        outside.path().file_name().unwrap().to_str().unwrap()
    );
    let refused: Vec<&[u8]> = vec![
        b"../etc/passwd",
        b"sub/../../etc/passwd",
        secret_rel.as_bytes(),
        b"sub\\file",
        b"..\\..\\etc\\passwd",
        b"escape",
        b"escdir/secret",
        b"dir",
        b"/",
        b"\xff\xfe",
    ];
    for name in refused {
        let mut client = Client::new(server.addr);
        client.rrq_raw_name(name, Mode::Octet);
        let reply = client.recv();
        assert_eq!(
            error_code(&reply),
            2,
            "{:?} must be refused with access violation, got {reply:?}",
            String::from_utf8_lossy(name)
        );
    }
    // An absolute path is taken relative to the root: /etc/passwd is not there.
    let mut client = Client::new(server.addr);
    client.rrq("/etc/passwd", &[]);
    assert_eq!(error_code(&client.recv()), 1);

    // Symlink inside the root, and a leading slash: served.
    for name in ["link", "/sub/file", "./sub/file"] {
        let mut client = Client::new(server.addr);
        assert_eq!(client.download(name, &[]).unwrap().data, inside, "{name}");
    }
}

#[test]
fn netascii_served_as_octet_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let content = b"line1\nline2\r\nline3\rend\0".to_vec();
    std::fs::write(dir.path().join("t.txt"), &content).unwrap();
    let server = TestServer::start(dir.path(), |_| {});
    let mut client = Client::new(server.addr);
    client.rrq_raw_name(b"t.txt", Mode::Netascii);
    let Packet::Data { block: 1, data } = client.recv() else {
        panic!()
    };
    client.ack(1);
    assert_eq!(data, content);
}

#[test]
fn mail_mode_and_malformed_requests_illegal() {
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "f", 10);
    let server = TestServer::start(dir.path(), |_| {});
    let mut client = Client::new(server.addr);
    client.rrq_raw_name(b"f", Mode::Mail);
    assert_eq!(error_code(&client.recv()), 4);

    let raw = UdpSocket::bind("127.0.0.1:0").unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = [0u8; 600];
    for bad in [
        &b"\x00\x01f\x00binary\x00"[..],
        b"\x00\x01no-nul",
        b"\x00\x02f",
    ] {
        raw.send_to(bad, server.addr).unwrap();
        let (len, _) = raw.recv_from(&mut buf).unwrap();
        assert_eq!(error_code(&Packet::parse(&buf[..len]).unwrap()), 4);
    }
    // A huge request is refused too.
    let mut huge = b"\x00\x01".to_vec();
    huge.extend(std::iter::repeat_n(b'a', 1500));
    huge.extend_from_slice(b"\x00octet\x00");
    raw.send_to(&huge, server.addr).unwrap();
    let (len, _) = raw.recv_from(&mut buf).unwrap();
    assert_eq!(error_code(&Packet::parse(&buf[..len]).unwrap()), 4);
}

#[test]
fn busy_beyond_max_transfers() {
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "f", 100_000);
    let server = TestServer::start(dir.path(), |c| {
        c.max_transfers = 1;
        c.timeout = Duration::from_secs(5);
    });
    let mut first = Client::new(server.addr);
    first.rrq("f", &[]);
    assert!(matches!(first.recv(), Packet::Data { block: 1, .. }));
    let mut second = Client::new(server.addr);
    second.rrq("f", &[]);
    assert_eq!(
        second.recv(),
        Packet::error(ErrorCode::NotDefined, "server busy")
    );
    assert_eq!(aborted_reason(&server, "f"), AbortReason::Busy);
    // The first transfer is unaffected; once it ends a new one is accepted.
    first.send(&Packet::error(ErrorCode::NotDefined, "done"));
    server.events.wait_for(|e| {
        matches!(
            e,
            TransferEvent::Aborted {
                reason: AbortReason::ClientError { .. },
                ..
            }
        )
    });
    let mut third = Client::new(server.addr);
    assert_eq!(third.download("f", &[]).unwrap().data.len(), 100_000);
}

#[test]
fn retransmitted_request_is_not_a_second_transfer() {
    let dir = tempfile::tempdir().unwrap();
    let data = write_file(dir.path(), "f", 2000);
    let server = TestServer::start(dir.path(), |c| c.timeout = Duration::from_secs(5));
    let mut client = Client::new(server.addr);
    client.rrq("f", &[]);
    assert!(matches!(client.recv(), Packet::Data { block: 1, .. }));
    client.rrq("f", &[]); // retransmitted RRQ, same port
    client.ack(1);
    let mut got = data[..512].to_vec();
    loop {
        let Packet::Data { block, data } = client.recv() else {
            panic!()
        };
        assert_eq!(usize::from(block), got.len() / 512 + 1, "unexpected block");
        got.extend_from_slice(&data);
        client.ack(block);
        if data.len() < 512 {
            break;
        }
    }
    assert_eq!(got, data);
    server
        .events
        .wait_for(|e| matches!(e, TransferEvent::Completed { .. }));
    let requests = server
        .events
        .events()
        .iter()
        .filter(|e| matches!(e, TransferEvent::Requested { .. }))
        .count();
    assert_eq!(requests, 1);
}

#[test]
fn stranger_gets_unknown_tid_and_transfer_continues() {
    let dir = tempfile::tempdir().unwrap();
    let data = write_file(dir.path(), "f", 1500);
    let server = TestServer::start(dir.path(), |c| c.timeout = Duration::from_secs(5));
    let mut client = Client::new(server.addr);
    client.rrq("f", &[]);
    assert!(matches!(client.recv(), Packet::Data { block: 1, .. }));
    let stranger = UdpSocket::bind("127.0.0.1:0").unwrap();
    stranger
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stranger
        .send_to(&Packet::Ack { block: 1 }.encode(), client.peer.unwrap())
        .unwrap();
    let mut buf = [0u8; 100];
    let (len, _) = stranger.recv_from(&mut buf).unwrap();
    assert_eq!(error_code(&Packet::parse(&buf[..len]).unwrap()), 5);
    client.ack(1);
    assert!(matches!(client.recv(), Packet::Data { block: 2, .. }));
    client.ack(2);
    let Packet::Data {
        block: 3,
        data: tail,
    } = client.recv()
    else {
        panic!()
    };
    client.ack(3);
    assert_eq!(tail, data[1024..]);
}

#[test]
fn graceful_shutdown_lets_running_transfer_finish() {
    let dir = tempfile::tempdir().unwrap();
    let data = write_file(dir.path(), "f", 3000);
    let mut server = TestServer::start(dir.path(), |c| c.timeout = Duration::from_secs(5));
    let mut client = Client::new(server.addr);
    client.rrq("f", &[]);
    assert!(matches!(client.recv(), Packet::Data { block: 1, .. }));
    let thread = server.begin_shutdown();
    // New requests are no longer answered.
    std::thread::sleep(Duration::from_millis(200));
    let mut late = Client::new(server.addr);
    late.rrq("f", &[]);
    assert_eq!(late.recv_within(Duration::from_millis(500)), None);
    // The running transfer completes.
    let mut got = data[..512].to_vec();
    client.ack(1);
    loop {
        let Packet::Data { block, data } = client.recv() else {
            panic!()
        };
        got.extend_from_slice(&data);
        client.ack(block);
        if data.len() < 512 {
            break;
        }
    }
    assert_eq!(got, data);
    thread.join().unwrap();
    assert!(server
        .events
        .events()
        .iter()
        .any(|e| matches!(e, TransferEvent::Completed { bytes: 3000, .. })));
}

/// A reader that always fails.
struct FailingReader;

impl tokio::io::AsyncRead for FailingReader {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        _buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Err(std::io::Error::other("disk on fire")))
    }
}

/// A generated-content source: per-client text, unknown size.
struct Generated;

impl FileSource for Generated {
    async fn open(&self, client: SocketAddr, path: &str) -> Result<Opened, TftpError> {
        match path {
            "menu.ipxe" => {
                let text = format!("#!ipxe\necho hello {}\n", client.ip());
                Ok(Opened::new(std::io::Cursor::new(text.into_bytes()), None))
            }
            "fixed" => Ok(Opened::from_bytes(vec![7u8; 600])),
            "denied" => Err(TftpError::AccessDenied("not for you".into())),
            "broken" => {
                use tokio::io::AsyncReadExt;
                let good = std::io::Cursor::new(vec![1u8; 1000]);
                Ok(Opened::new(good.chain(FailingReader), Some(5000)))
            }
            _ => Err(TftpError::NotFound),
        }
    }
}

#[test]
fn pluggable_source() {
    let server = TestServer::start_with(Generated, |_| {});
    let mut client = Client::new(server.addr);
    let got = client.download("/menu.ipxe", &[("tsize", "0")]).unwrap();
    assert!(got.oack.is_none(), "tsize dropped when the size is unknown");
    assert_eq!(got.data, b"#!ipxe\necho hello 127.0.0.1\n");

    let mut client = Client::new(server.addr);
    let got = client.download("fixed", &[("tsize", "0")]).unwrap();
    assert_eq!(got.oack.unwrap(), opts(&[("tsize", "600")]));
    assert_eq!(got.data, vec![7u8; 600]);

    let mut client = Client::new(server.addr);
    client.rrq("denied", &[]);
    assert_eq!(
        client.recv(),
        Packet::error(ErrorCode::AccessViolation, "not for you")
    );
    // A read error mid-file ends the transfer with ERROR 0.
    let mut client = Client::new(server.addr);
    client.rrq("broken", &[]);
    assert!(matches!(client.recv(), Packet::Data { block: 1, .. }));
    client.ack(1);
    assert_eq!(
        client.recv(),
        Packet::error(ErrorCode::NotDefined, "read error")
    );
    assert!(matches!(
        aborted_reason(&server, "broken"),
        AbortReason::Io(_)
    ));
    // Path checks apply to every source.
    let mut client = Client::new(server.addr);
    client.rrq("../menu.ipxe", &[]);
    assert_eq!(error_code(&client.recv()), 2);
}
