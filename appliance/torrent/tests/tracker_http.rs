//! The tracker over real HTTP on 127.0.0.1, as ctorrent talks to it
//! (HTTP/1.0, reads until close) and as HTTP/1.1 clients do.

use std::net::SocketAddr;
use std::time::Duration;

use bootbox_torrent::bencode::{self, Value};
use bootbox_torrent::{InfoHash, Tracker, TrackerConfig, Whitelist};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

async fn start(whitelist: Whitelist) -> (SocketAddr, Tracker, tokio::sync::oneshot::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let config = TrackerConfig {
        interval: Duration::from_secs(30),
        box_seeds: vec!["10.0.0.5:6881".parse().unwrap()],
        ..TrackerConfig::default()
    };
    let tracker = Tracker::new(config, whitelist);
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(tracker.clone().serve(listener, async {
        let _ = rx.await;
    }));
    (addr, tracker, tx)
}

/// Sends `request` and reads until the server closes (as ctorrent does).
async fn raw(addr: SocketAddr, request: &str) -> (String, Vec<u8>) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    let mut all = Vec::new();
    timeout(Duration::from_secs(5), s.read_to_end(&mut all))
        .await
        .expect("server did not close")
        .unwrap();
    let split = all
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("no header end")
        + 4;
    (
        String::from_utf8_lossy(&all[..split]).to_string(),
        all[split..].to_vec(),
    )
}

fn enc(b: &[u8]) -> String {
    b.iter().map(|x| format!("%{x:02x}")).collect()
}

fn announce_path(hash: &[u8; 20], port: u16) -> String {
    format!(
        "/announce?info_hash={}&peer_id=-CD0303-abcdefghijkl&port={port}&key=1&uploaded=0&downloaded=0&left=100&event=started&compact=1&numwant=100",
        enc(hash)
    )
}

#[tokio::test]
async fn http10_announce_is_answered_and_closed() {
    let wl = Whitelist::new();
    let hash = [0xab; 20];
    wl.insert(InfoHash(hash));
    let (addr, tracker, _stop) = start(wl).await;
    let (head, body) = raw(
        addr,
        &format!(
            "GET {} HTTP/1.0\r\nHost: x\r\nUser-Agent: CTorrent dnh3.3.2\r\n\r\n",
            announce_path(&hash, 2706)
        ),
    )
    .await;
    assert!(head.starts_with("HTTP/1.0 200"), "{head}");
    assert!(
        head.to_ascii_lowercase().contains("connection: close"),
        "{head}"
    );
    let v = bencode::decode(&body).unwrap();
    assert_eq!(v.get("interval").and_then(Value::as_int), Some(30));
    assert_eq!(
        v.get("peers").and_then(Value::as_bytes),
        Some(&[10, 0, 0, 5, 0x1a, 0xe1][..])
    );
    // HTTP/1.1 with keep-alive: answered and closed as well.
    let (head, body) = raw(
        addr,
        &format!(
            "GET {} HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n",
            announce_path(&hash, 2707).replace("-CD0303-", "-TR3000-")
        ),
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase().contains("connection: close"),
        "{head}"
    );
    let peers = bencode::decode(&body)
        .unwrap()
        .get("peers")
        .and_then(Value::as_bytes)
        .unwrap()
        .to_vec();
    assert_eq!(
        peers,
        vec![10, 0, 0, 5, 0x1a, 0xe1, 127, 0, 0, 1, 0x0a, 0x92]
    );
    assert_eq!(tracker.stats().announces, 2);
}

#[tokio::test]
async fn unknown_hash_and_bad_requests_are_refused() {
    let wl = Whitelist::new();
    let (addr, tracker, _stop) = start(wl.clone()).await;
    let (head, body) = raw(
        addr,
        &format!("GET {} HTTP/1.0\r\n\r\n", announce_path(&[1; 20], 1)),
    )
    .await;
    assert!(head.starts_with("HTTP/1.0 200"));
    let v = bencode::decode(&body).unwrap();
    assert!(v
        .get("failure reason")
        .and_then(Value::as_str)
        .unwrap()
        .contains("unregistered"));
    assert!(v.get("peers").is_none());
    let (_, body) = raw(addr, "GET /announce?info_hash=abc HTTP/1.0\r\n\r\n").await;
    assert!(bencode::decode(&body)
        .unwrap()
        .get("failure reason")
        .is_some());
    let (head, _) = raw(addr, "GET /other HTTP/1.0\r\n\r\n").await;
    assert!(head.starts_with("HTTP/1.0 404"));
    // Scrape of whitelisted hashes only.
    wl.insert(InfoHash([2; 20]));
    let (_, body) = raw(
        addr,
        &format!(
            "GET /scrape?info_hash={}&info_hash={} HTTP/1.0\r\n\r\n",
            enc(&[1; 20]),
            enc(&[2; 20])
        ),
    )
    .await;
    let files = bencode::decode(&body).unwrap();
    let files = files.get("files").and_then(Value::as_dict).unwrap();
    assert_eq!(
        files.keys().cloned().collect::<Vec<_>>(),
        vec![vec![2u8; 20]]
    );
    let s = tracker.stats();
    assert_eq!((s.refused_unknown, s.bad_requests), (2, 1));
}

#[tokio::test]
async fn garbage_does_not_hurt() {
    let (addr, _tracker, _stop) = start(Whitelist::new()).await;
    for junk in [
        &b"\x00\xff\r\n\r\n"[..],
        b"GET / HTTP/9.9\r\n\r\n",
        b"GET /announce?%%%%% HTTP/1.0\r\n\r\n",
    ] {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(junk).await.unwrap();
        let mut sink = Vec::new();
        let _ = timeout(Duration::from_secs(5), s.read_to_end(&mut sink)).await;
    }
    // Still serving.
    let (head, _) = raw(addr, "GET /announce HTTP/1.0\r\n\r\n").await;
    assert!(head.starts_with("HTTP/1.0 200"));
}
