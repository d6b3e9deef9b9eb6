//! The seeder against a scripted peer on 127.0.0.1: handshake, greeting,
//! 16 KiB and 128 KiB requests, cancel, bad input, limits, removal, stats.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bootbox_torrent::wire::{self, Block, Handshake, Message};
use bootbox_torrent::{
    make_torrent, DisconnectReason, InfoHash, Metainfo, Seeder, SeederConfig, SeederEvent,
    SeederObserver, TorrentSpec,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

const PIECE: u32 = 512 * 1024;

#[derive(Default)]
struct Recorder(Mutex<Vec<SeederEvent>>);

impl SeederObserver for Recorder {
    fn on_event(&self, event: SeederEvent) {
        self.0.lock().unwrap().push(event);
    }
}

impl Recorder {
    fn events(&self) -> Vec<SeederEvent> {
        self.0.lock().unwrap().clone()
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    data: Vec<u8>,
    meta: Metainfo,
    seeder: Seeder,
    events: Arc<Recorder>,
}

/// 3 pieces of 512 KiB and a short last one (4 pieces, 1.6 MB).
async fn fixture(tweak: impl FnOnce(&mut SeederConfig)) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("img.qcow2");
    let data: Vec<u8> = (0..(3 * PIECE as usize + 77_777))
        .map(|i| (i % 251) as u8 ^ (i >> 12) as u8)
        .collect();
    std::fs::File::create(&path)
        .unwrap()
        .write_all(&data)
        .unwrap();
    let spec = TorrentSpec {
        piece_length: Some(PIECE),
        ..TorrentSpec::new("http://127.0.0.1:1/announce")
    };
    let meta = make_torrent(&path, &spec).unwrap();
    let mut config = SeederConfig::new("127.0.0.1:0".parse().unwrap());
    config.keepalive_interval = Duration::from_millis(300);
    tweak(&mut config);
    let events = Arc::new(Recorder::default());
    let seeder = Seeder::start(config, events.clone()).await.unwrap();
    assert!(seeder.add(&path, &meta).unwrap());
    assert!(!seeder.add(&path, &meta).unwrap(), "second add is a no-op");
    Fixture {
        _dir: dir,
        data,
        meta,
        seeder,
        events,
    }
}

struct Peer {
    stream: TcpStream,
    reserved: [u8; 8],
}

impl Peer {
    async fn connect(addr: SocketAddr, info_hash: InfoHash, reserved: [u8; 8]) -> Peer {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let hs = Handshake {
            reserved,
            info_hash,
            peer_id: *b"-CD0303-testtesttest",
        };
        stream.write_all(&hs.encode()).await.unwrap();
        let mut reply = [0u8; wire::HANDSHAKE_LEN];
        timeout(Duration::from_secs(5), stream.read_exact(&mut reply))
            .await
            .unwrap()
            .unwrap();
        let reply = Handshake::parse(&reply).unwrap();
        assert_eq!(reply.info_hash, info_hash);
        assert!(reply.peer_id.starts_with(b"-BB0100-"));
        Peer {
            stream,
            reserved: reply.reserved,
        }
    }

    async fn send(&mut self, m: Message) {
        let mut buf = Vec::new();
        m.encode_into(&mut buf);
        self.stream.write_all(&buf).await.unwrap();
    }

    /// Next message; `None` when the seeder closed the connection. PIECE
    /// data is returned through `data`.
    async fn recv(&mut self, data: &mut Vec<u8>) -> Option<Message> {
        let len = match timeout(Duration::from_secs(5), self.stream.read_u32())
            .await
            .expect("recv timed out")
        {
            Ok(l) => l as usize,
            Err(_) => return None,
        };
        let mut frame = vec![0u8; len];
        timeout(Duration::from_secs(5), self.stream.read_exact(&mut frame))
            .await
            .unwrap()
            .ok()?;
        let m = Message::parse(&frame).unwrap();
        if let Message::Piece { .. } = m {
            data.clear();
            data.extend_from_slice(&frame[9..]);
        }
        Some(m)
    }

    async fn recv_non_keepalive(&mut self, data: &mut Vec<u8>) -> Option<Message> {
        loop {
            match self.recv(data).await {
                Some(Message::KeepAlive) => continue,
                other => return other,
            }
        }
    }

    async fn closed(&mut self) -> bool {
        let mut sink = Vec::new();
        loop {
            match self.recv(&mut sink).await {
                None => return true,
                Some(_) => continue,
            }
        }
    }
}

async fn greeted(f: &Fixture, reserved: [u8; 8]) -> Peer {
    let mut p = Peer::connect(f.seeder.local_addr(), f.meta.info_hash(), reserved).await;
    let mut d = Vec::new();
    assert_eq!(
        p.recv(&mut d).await,
        Some(Message::Bitfield(vec![0xf0])),
        "bitfield of ⌈4/8⌉ bytes"
    );
    if Handshake::supports_extensions(&reserved) {
        match p.recv(&mut d).await {
            Some(Message::Extended { ext_id: 0, payload }) => {
                let v = bootbox_torrent::bencode::decode(&payload).unwrap();
                assert!(v.get("m").is_some());
                assert_eq!(v.get("reqq").and_then(|r| r.as_int()), Some(1024));
            }
            other => panic!("expected extended handshake, got {other:?}"),
        }
    }
    assert_eq!(p.recv(&mut d).await, Some(Message::Unchoke));
    p
}

async fn wait_for(mut cond: impl FnMut() -> bool) {
    for _ in 0..500 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("condition not reached");
}

#[tokio::test]
async fn ctorrent_128k_requests_and_16k_requests() {
    let f = fixture(|_| {}).await;
    // ctorrent: zero reserved bytes; our reply must be all zero too.
    let mut p = greeted(&f, [0; 8]).await;
    assert_eq!(p.reserved, [0; 8]);
    p.send(Message::Interested).await;
    // Seven 128 KiB requests outstanding, as `ctorrent -z 128` does with
    // 512 KiB pieces, then the short last piece in 128 KiB slices.
    let mut wanted = Vec::new();
    for i in 0..7u32 {
        wanted.push(Block {
            index: i / 4,
            begin: (i % 4) * 131072,
            length: 131072,
        });
    }
    let last = f.meta.piece_size(3).unwrap();
    let mut begin = 0;
    while begin < last {
        let length = (last - begin).min(131072);
        wanted.push(Block {
            index: 3,
            begin,
            length,
        });
        begin += length;
    }
    for b in &wanted {
        p.send(Message::Request(*b)).await;
    }
    let mut data = Vec::new();
    for b in &wanted {
        let m = p.recv_non_keepalive(&mut data).await.unwrap();
        assert_eq!(
            m,
            Message::Piece {
                index: b.index,
                begin: b.begin,
                len: b.length as usize
            }
        );
        let off = (b.index * PIECE + b.begin) as usize;
        assert_eq!(data, f.data[off..off + b.length as usize], "block {b:?}");
    }
    // aria2c/Transmission: 16 KiB blocks, odd offsets are fine too.
    for b in [
        Block {
            index: 2,
            begin: 16384,
            length: 16384,
        },
        Block {
            index: 1,
            begin: 1,
            length: 3,
        },
    ] {
        p.send(Message::Request(b)).await;
        let m = p.recv_non_keepalive(&mut data).await.unwrap();
        assert_eq!(
            m,
            Message::Piece {
                index: b.index,
                begin: b.begin,
                len: b.length as usize
            }
        );
        let off = (b.index * PIECE + b.begin) as usize;
        assert_eq!(data, f.data[off..off + b.length as usize]);
    }
    let stats = f.seeder.stats();
    let t = &stats.torrents[0];
    assert_eq!((t.peers, t.active_downloads), (1, 1));
    let total: u64 = wanted.iter().map(|b| u64::from(b.length)).sum::<u64>() + 16384 + 3;
    assert_eq!(t.bytes_served, total);
    assert_eq!(stats.bytes_served, total);
}

#[tokio::test]
async fn extension_bit_is_echoed_and_unknown_messages_are_ignored() {
    let f = fixture(|_| {}).await;
    let mut reserved = [0u8; 8];
    reserved[5] = 0x10;
    reserved[7] = 0x05; // DHT + fast extension: not echoed
    let mut p = greeted(&f, reserved).await;
    assert_eq!(p.reserved, [0, 0, 0, 0, 0, 0x10, 0, 0]);
    for m in [
        Message::Extended {
            ext_id: 0,
            payload: b"d1:md6:ut_pexi1eee".to_vec(),
        },
        Message::Unknown { id: 14, len: 0 },
        Message::Unknown { id: 99, len: 40 },
        Message::Port(6881),
        Message::Choke,
        Message::Unchoke,
        Message::KeepAlive,
        Message::NotInterested,
        Message::Have(0),
        Message::Have(0), // duplicate HAVE from the peer: tolerated
    ] {
        p.send(m).await;
    }
    p.send(Message::Request(Block {
        index: 0,
        begin: 0,
        length: 16384,
    }))
    .await;
    let mut data = Vec::new();
    assert_eq!(
        p.recv_non_keepalive(&mut data).await,
        Some(Message::Piece {
            index: 0,
            begin: 0,
            len: 16384
        })
    );
    // Keep-alives arrive while idle.
    assert_eq!(p.recv(&mut data).await, Some(Message::KeepAlive));
}

#[tokio::test]
async fn cancel_removes_queued_requests() {
    // 1 MiB/s per peer: the queue fills up behind the first request.
    let f = fixture(|c| c.peer_upload_limit = Some(1024 * 1024)).await;
    let mut p = greeted(&f, [0; 8]).await;
    let blocks: Vec<Block> = (0..8)
        .map(|i| Block {
            index: 0,
            begin: i * 65536,
            length: 65536,
        })
        .collect();
    for b in &blocks {
        p.send(Message::Request(*b)).await;
    }
    // Different pieces so that nothing is batched with the cancelled one.
    let far = Block {
        index: 2,
        begin: 0,
        length: 16384,
    };
    p.send(Message::Request(far)).await;
    p.send(Message::Cancel(far)).await;
    p.send(Message::Request(Block {
        index: 1,
        begin: 0,
        length: 100,
    }))
    .await;
    let mut data = Vec::new();
    let mut got = Vec::new();
    while got.len() < 9 {
        if let Some(Message::Piece { index, begin, len }) = p.recv_non_keepalive(&mut data).await {
            got.push(Block {
                index,
                begin,
                length: len as u32,
            });
        }
    }
    assert!(!got.contains(&far), "cancelled block was sent: {got:?}");
    assert_eq!(
        got.last(),
        Some(&Block {
            index: 1,
            begin: 0,
            length: 100
        })
    );
}

#[tokio::test]
async fn bad_requests_disconnect() {
    let f = fixture(|_| {}).await;
    for bad in [
        Block {
            index: 0,
            begin: 0,
            length: 131073,
        }, // > 128 KiB
        Block {
            index: 0,
            begin: PIECE - 10,
            length: 16384,
        }, // crosses the piece end
        Block {
            index: 3,
            begin: 77_000,
            length: 16384,
        }, // past the short last piece
        Block {
            index: 4,
            begin: 0,
            length: 16384,
        }, // no such piece
        Block {
            index: 0,
            begin: 0,
            length: 0,
        }, // empty
        Block {
            index: 0,
            begin: u32::MAX,
            length: 16384,
        }, // overflow
    ] {
        let mut p = greeted(&f, [0; 8]).await;
        p.send(Message::Request(bad)).await;
        assert!(p.closed().await, "{bad:?}");
    }
    let mut p = greeted(&f, [0; 8]).await;
    p.send(Message::Have(4)).await;
    assert!(p.closed().await);
    let mut p = greeted(&f, [0; 8]).await;
    p.send(Message::Bitfield(vec![0, 0])).await;
    assert!(p.closed().await, "bitfield of wrong length");
    let mut p = greeted(&f, [0; 8]).await;
    p.stream
        .write_all(&(2u32 << 20).to_be_bytes())
        .await
        .unwrap();
    assert!(p.closed().await, "oversized frame");
    wait_for(|| f.seeder.stats().torrents[0].peers == 0).await;
    let reasons: Vec<DisconnectReason> = f
        .events
        .events()
        .into_iter()
        .filter_map(|e| match e {
            SeederEvent::PeerDisconnected { reason, .. } => Some(reason),
            _ => None,
        })
        .collect();
    assert_eq!(reasons.len(), 9);
    assert!(
        reasons
            .iter()
            .all(|r| matches!(r, DisconnectReason::Protocol(_))),
        "{reasons:?}"
    );
}

#[tokio::test]
async fn complete_peers_are_dropped_and_counted() {
    let f = fixture(|_| {}).await;
    // A seed connecting to us: dropped after its bitfield, not counted.
    let mut seed = greeted(&f, [0; 8]).await;
    seed.send(Message::Bitfield(vec![0xff])).await; // spare bits set: ignored
    assert!(seed.closed().await);
    // A leecher finishing with HAVEs.
    let mut p = greeted(&f, [0; 8]).await;
    p.send(Message::Bitfield(vec![0x80])).await;
    p.send(Message::Interested).await;
    wait_for(|| f.seeder.stats().torrents[0].active_downloads == 1).await;
    for i in 1..4 {
        p.send(Message::Have(i)).await;
    }
    assert!(p.closed().await);
    wait_for(|| f.seeder.stats().torrents[0].peers == 0).await;
    let t = &f.seeder.stats().torrents[0];
    assert_eq!(
        (t.peers_completed, t.active_downloads, t.connections_total),
        (1, 0, 2)
    );
    assert!(f
        .events
        .events()
        .iter()
        .any(|e| matches!(e, SeederEvent::PeerCompleted { .. })));
}

#[tokio::test]
async fn refuses_unknown_hash_mse_and_self() {
    let f = fixture(|_| {}).await;
    let addr = f.seeder.local_addr();
    // Unknown info-hash: closed without a handshake reply.
    let mut s = TcpStream::connect(addr).await.unwrap();
    let hs = Handshake {
        reserved: [0; 8],
        info_hash: InfoHash([9; 20]),
        peer_id: [1; 20],
    };
    s.write_all(&hs.encode()).await.unwrap();
    let mut buf = [0u8; 1];
    assert_eq!(
        timeout(Duration::from_secs(5), s.read(&mut buf))
            .await
            .unwrap()
            .unwrap_or(0),
        0
    );
    // MSE-style random bytes: closed.
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(&[0x8au8; 96]).await.unwrap();
    assert_eq!(
        timeout(Duration::from_secs(5), s.read(&mut buf))
            .await
            .unwrap()
            .unwrap_or(0),
        0
    );
    // Our own peer id.
    let mut s = TcpStream::connect(addr).await.unwrap();
    let hs = Handshake {
        reserved: [0; 8],
        info_hash: f.meta.info_hash(),
        peer_id: f.seeder.peer_id(),
    };
    s.write_all(&hs.encode()).await.unwrap();
    let mut reply = [0u8; 68];
    s.read_exact(&mut reply).await.unwrap();
    assert_eq!(
        timeout(Duration::from_secs(5), s.read(&mut buf))
            .await
            .unwrap()
            .unwrap_or(0),
        0
    );
    wait_for(|| f.seeder.stats().connections_refused == 3).await;
    let reasons: Vec<DisconnectReason> = f
        .events
        .events()
        .into_iter()
        .filter_map(|e| match e {
            SeederEvent::ConnectionRefused { reason, .. } => Some(reason),
            _ => None,
        })
        .collect();
    assert_eq!(
        reasons,
        vec![
            DisconnectReason::UnknownInfoHash(InfoHash([9; 20])),
            DisconnectReason::NotBitTorrent,
            DisconnectReason::SelfConnection
        ]
    );
}

#[tokio::test]
async fn per_ip_connection_limit() {
    let f = fixture(|c| c.max_connections_per_ip = 2).await;
    let _a = greeted(&f, [0; 8]).await;
    let _b = greeted(&f, [0; 8]).await;
    let mut c = TcpStream::connect(f.seeder.local_addr()).await.unwrap();
    let mut buf = [0u8; 1];
    assert_eq!(
        timeout(Duration::from_secs(5), c.read(&mut buf))
            .await
            .unwrap()
            .unwrap_or(0),
        0
    );
    assert_eq!(f.seeder.stats().connections, 2);
}

#[tokio::test]
async fn remove_and_shutdown_close_connections() {
    let f = fixture(|_| {}).await;
    let mut p = greeted(&f, [0; 8]).await;
    assert!(f.seeder.remove(&f.meta.info_hash()));
    assert!(!f.seeder.remove(&f.meta.info_hash()));
    assert!(p.closed().await);
    assert!(f.seeder.stats().torrents.is_empty());
    // Re-added, connected, then the seeder shuts down.
    let path = f._dir.path().join("img.qcow2");
    f.seeder.add(&path, &f.meta).unwrap();
    let mut p = greeted(&f, [0; 8]).await;
    let addr = f.seeder.local_addr();
    f.seeder.shutdown().await;
    assert!(p.closed().await);
    assert!(TcpStream::connect(addr).await.is_err());
    let events = f.events.events();
    assert!(events.iter().any(|e| matches!(
        e,
        SeederEvent::PeerDisconnected {
            reason: DisconnectReason::Removed,
            ..
        }
    )));
    assert!(events.iter().any(|e| matches!(
        e,
        SeederEvent::PeerDisconnected {
            reason: DisconnectReason::Shutdown,
            ..
        }
    )));
}

#[tokio::test]
async fn global_rate_limit_applies() {
    let f = fixture(|c| c.upload_limit = Some(2 * 1024 * 1024)).await;
    let mut p = greeted(&f, [0; 8]).await;
    for i in 0..16u32 {
        p.send(Message::Request(Block {
            index: (i / 4) % 2,
            begin: (i % 4) * 131072,
            length: 131072,
        }))
        .await;
    }
    let started = std::time::Instant::now();
    let mut data = Vec::new();
    for _ in 0..16 {
        p.recv_non_keepalive(&mut data).await.unwrap();
    }
    // 2 MiB at 2 MiB/s in batches of up to 512 KiB, each charged after it
    // is sent: the last one starts after 0.75 s less the 100 ms burst.
    let took = started.elapsed();
    assert!(
        (Duration::from_millis(550)..Duration::from_secs(3)).contains(&took),
        "{took:?}"
    );
    assert_eq!(f.seeder.stats().upload_limit, Some(2 * 1024 * 1024));
    f.seeder.set_upload_limit(None);
    assert_eq!(f.seeder.stats().upload_limit, None);
}

#[tokio::test]
async fn size_mismatch_is_refused() {
    let f = fixture(|_| {}).await;
    let other = f._dir.path().join("short");
    std::fs::write(&other, b"abc").unwrap();
    let spec = TorrentSpec::new("http://x/announce");
    let meta = make_torrent(&other, &spec).unwrap();
    std::fs::write(&other, b"abcd").unwrap();
    assert!(f.seeder.add(&other, &meta).is_err());
    assert!(f.seeder.add(f._dir.path().join("missing"), &meta).is_err());
}
