//! Transfer status: `GET /api/v1/transfers` returns the provider's
//! snapshot in the documented shape, needs a session or token, is empty
//! without a provider, and the event stream pushes a `transfers` event
//! whenever the snapshot changes.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use bootbox_store::Store;
use bootbox_web::transfers::{
    MulticastReceiver, MulticastSessionStatus, MulticastState, TorrentImageStatus, TransferStatus,
    Transfers,
};
use bootbox_web::{router, AppState};
use futures_util::StreamExt;
use serde_json::{json, Value};
use tower::ServiceExt;

/// A provider the test changes at will.
#[derive(Default)]
struct TestProvider(Mutex<Transfers>);

impl TransferStatus for TestProvider {
    fn transfers(&self) -> Transfers {
        self.0.lock().expect("lock").clone()
    }
}

fn sample(peers: u32) -> Transfers {
    Transfers {
        torrent: vec![TorrentImageStatus {
            image: "win11".into(),
            info_hash: "0123456789abcdef0123456789abcdef01234567".into(),
            peers,
            uploaded_bytes: 1 << 30,
            active_downloads: 2,
        }],
        multicast: vec![MulticastSessionStatus {
            image: "ubuntu.qcow2".into(),
            port: 9000,
            state: MulticastState::Sending,
            receivers: vec![
                MulticastReceiver {
                    addr: "10.0.0.21".into(),
                    progress_percent: 42.5,
                },
                MulticastReceiver {
                    addr: "10.0.0.22".into(),
                    progress_percent: 40.0,
                },
            ],
            bytes_sent: 123_456_789,
            total_bytes: Some(300_000_000),
        }],
        http: Vec::new(),
    }
}

async fn signed_in(provider: Option<Arc<TestProvider>>) -> (tempfile::TempDir, Router, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(Store::open(dir.path().join("t.redb")).expect("store"));
    let mut st = AppState::new(store);
    st.transfers = provider.map(|p| p as Arc<dyn TransferStatus>);
    let app = router(st);
    let resp = app
        .clone()
        .oneshot(
            Request::post("/api/v1/setup")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(
                    json!({ "password": "correct horse battery", "school_name": "T", "dhcp_mode": "off" })
                        .to_string(),
                ))
                .expect("req"),
        )
        .await
        .expect("resp");
    assert_eq!(resp.status(), StatusCode::OK);
    let cookie = resp
        .headers()
        .get(header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .expect("cookie")
        .to_string();
    (dir, app, cookie)
}

async fn get_json(app: &Router, uri: &str, cookie: Option<&str>) -> (StatusCode, Value) {
    let mut req = Request::builder().method(Method::GET).uri(uri);
    if let Some(c) = cookie {
        req = req.header(header::COOKIE, c);
    }
    let resp = app
        .clone()
        .oneshot(req.body(Body::empty()).expect("req"))
        .await
        .expect("resp");
    let s = resp.status();
    let b = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .expect("body");
    (s, serde_json::from_slice(&b).unwrap_or(Value::Null))
}

#[tokio::test]
async fn transfers_have_the_documented_shape() {
    let p = Arc::new(TestProvider(Mutex::new(sample(3))));
    let (_d, app, cookie) = signed_in(Some(p)).await;
    let (s, _) = get_json(&app, "/api/v1/transfers", None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, v) = get_json(&app, "/api/v1/transfers", Some(&cookie)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let t = &v["torrent"][0];
    assert_eq!(t["image"], "win11");
    assert_eq!(t["peers"], 3);
    assert_eq!(t["uploaded_bytes"], 1u64 << 30);
    assert_eq!(t["active_downloads"], 2);
    assert_eq!(t["info_hash"].as_str().map(str::len), Some(40));
    let m = &v["multicast"][0];
    assert_eq!(m["state"], "sending");
    assert_eq!(m["port"], 9000);
    assert_eq!(m["bytes_sent"], 123_456_789);
    assert_eq!(m["receivers"][0]["addr"], "10.0.0.21");
    assert_eq!(m["receivers"][0]["progress_percent"], 42.5);
    // Round trip through the public types.
    let back: Transfers = serde_json::from_value(v).expect("parses");
    assert_eq!(back, sample(3));
}

#[tokio::test]
async fn no_provider_means_empty_lists() {
    let (_d, app, cookie) = signed_in(None).await;
    let (s, v) = get_json(&app, "/api/v1/transfers", Some(&cookie)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v, json!({ "torrent": [], "multicast": [], "http": [] }));
}

/// Reads SSE frames until an event `name` whose data satisfies `want`.
async fn next_event(
    stream: &mut (impl futures_util::Stream<Item = Result<axum::body::Bytes, axum::Error>> + Unpin),
    buf: &mut String,
    name: &str,
    want: impl Fn(&Value) -> bool,
) -> Value {
    loop {
        while let Some(end) = buf.find("\n\n") {
            let frame: String = buf.drain(..end + 2).collect();
            let ev = frame
                .lines()
                .find_map(|l| l.strip_prefix("event: "))
                .unwrap_or("");
            let data: String = frame
                .lines()
                .filter_map(|l| l.strip_prefix("data: "))
                .collect();
            if ev == name {
                let v: Value = serde_json::from_str(&data).expect("json data");
                if want(&v) {
                    return v;
                }
            }
        }
        let chunk = tokio::time::timeout(Duration::from_secs(30), stream.next())
            .await
            .expect("an SSE frame (the stream sends every 0.7 s)")
            .expect("stream open")
            .expect("chunk");
        buf.push_str(&String::from_utf8_lossy(&chunk));
    }
}

#[tokio::test]
async fn event_stream_pushes_transfer_changes() {
    let p = Arc::new(TestProvider(Mutex::new(sample(3))));
    let (_d, app, cookie) = signed_in(Some(p.clone())).await;
    let resp = app
        .clone()
        .oneshot(
            Request::get("/api/v1/events/stream")
                .header(header::COOKIE, &cookie)
                .body(Body::empty())
                .expect("req"),
        )
        .await
        .expect("resp");
    assert_eq!(resp.status(), StatusCode::OK);
    let mut stream = resp.into_body().into_data_stream();
    let mut buf = String::new();
    let first = next_event(&mut stream, &mut buf, "transfers", |_| true).await;
    assert_eq!(first["torrent"][0]["peers"], 3);
    // A change is pushed.
    *p.0.lock().expect("lock") = sample(5);
    let v = next_event(&mut stream, &mut buf, "transfers", |v| {
        v["torrent"][0]["peers"] == 5
    })
    .await;
    assert_eq!(v["multicast"][0]["state"], "sending");
}
