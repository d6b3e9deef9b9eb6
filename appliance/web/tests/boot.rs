//! Boot endpoints through the real router (no sockets): scripts per MAC,
//! file serving rules, the callback and the timeline API.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use bootbox_boot::timeline::Recorder;
use bootbox_boot::{BootConfig, NbpFiles, UnknownPolicy};
use bootbox_store::{BootMode, HostSettings, Store};
use bootbox_web::boot::{boot_router, BootState};
use bootbox_web::{router, AppState};
use tower::ServiceExt;

struct Fixture {
    _dir: tempfile::TempDir,
    store: Arc<Store>,
    app: Router,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let linbo = dir.path().join("linbo");
    std::fs::create_dir_all(linbo.join("boot/ipxe")).expect("mkdir");
    std::fs::write(linbo.join("linbo64"), vec![7u8; 100_000]).expect("kernel");
    std::fs::write(linbo.join("boot/ipxe/snponly.efi"), b"MZ-efi").expect("efi");
    std::fs::write(dir.path().join("secret.txt"), b"secret").expect("secret");
    std::os::unix::fs::symlink(dir.path().join("secret.txt"), linbo.join("escape"))
        .expect("symlink");
    std::os::unix::fs::symlink("linbo64", linbo.join("inside")).expect("symlink");
    let store = Arc::new(Store::open(dir.path().join("bootbox.redb")).expect("store"));
    let host = bootbox_linbo::devices::parse("r1;pc1;win11;52:54:00:00:00:01;DHCP;;;;;;1")
        .expect("valid")
        .records
        .remove(0);
    store.add_host(host, "test").expect("add");
    let cfg = BootConfig {
        server_ip: "10.0.0.2".parse().expect("ip"),
        http_port: 8080,
        unknown: UnknownPolicy::Register,
        nbp: NbpFiles::default(),
    };
    let recorder = Recorder::start(store.clone(), Duration::from_millis(10));
    let boot = BootState::new(store.clone(), cfg, &linbo, recorder).expect("state");
    let app = boot_router(boot).merge(router(AppState::new(store.clone())));
    Fixture {
        _dir: dir,
        store,
        app,
    }
}

async fn call(
    app: &Router,
    method: Method,
    uri: &str,
    headers: &[(header::HeaderName, &str)],
) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let mut req = Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        req = req.header(k, *v);
    }
    let resp = app
        .clone()
        .oneshot(req.body(Body::empty()).expect("request"))
        .await
        .expect("response");
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = axum::body::to_bytes(resp.into_body(), 1 << 24)
        .await
        .expect("body")
        .to_vec();
    (status, headers, body)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[tokio::test]
async fn scripts_per_mac() {
    let f = fixture().await;
    let (s, _, body) = call(&f.app, Method::GET, "/boot.ipxe", &[]).await;
    assert_eq!(s, StatusCode::OK);
    assert!(text(&body).contains("chain --replace http://10.0.0.2:8080/boot.ipxe?mac=${mac}"));

    let (_, h, body) = call(
        &f.app,
        Method::GET,
        "/boot.ipxe?mac=52:54:00:00:00:01&platform=efi",
        &[],
    )
    .await;
    assert_eq!(h[header::CACHE_CONTROL], "no-store");
    assert!(text(&body).contains("kernel http://10.0.0.2:8080/linbo/linbo64 initrd=linbofs64 server=10.0.0.2 hostgroup=win11 hostname=pc1"), "{}", text(&body));

    f.store
        .set_host_settings(
            "pc1",
            HostSettings {
                boot: Some(BootMode::Local),
                ..Default::default()
            },
            "t",
        )
        .expect("set");
    let (_, _, body) = call(&f.app, Method::GET, "/boot.ipxe?mac=52-54-00-00-00-01", &[]).await;
    assert!(
        text(&body).contains("exit 1") && !text(&body).contains("kernel"),
        "{}",
        text(&body)
    );

    let (_, _, body) = call(&f.app, Method::GET, "/boot.ipxe?mac=52:54:00:00:00:99", &[]).await;
    assert!(text(&body).contains("not registered"), "{}", text(&body));

    let (s, _, _) = call(&f.app, Method::GET, "/boot.ipxe?mac=zz", &[]).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn files_with_head_range_types_and_confinement() {
    let f = fixture().await;
    let (s, h, body) = call(&f.app, Method::GET, "/linbo/boot/ipxe/snponly.efi", &[]).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h[header::CONTENT_TYPE], "application/efi");
    assert_eq!(body, b"MZ-efi");

    let (s, h, body) = call(&f.app, Method::HEAD, "/linbo/linbo64", &[]).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h[header::CONTENT_LENGTH], "100000");
    assert!(body.is_empty());

    let (s, h, body) = call(
        &f.app,
        Method::GET,
        "/linbo/linbo64",
        &[(header::RANGE, "bytes=10-19")],
    )
    .await;
    assert_eq!(s, StatusCode::PARTIAL_CONTENT);
    assert_eq!(h[header::CONTENT_RANGE], "bytes 10-19/100000");
    assert_eq!(body, vec![7u8; 10]);

    let (s, _, body) = call(&f.app, Method::GET, "/linbo/inside", &[]).await;
    assert_eq!(
        (s, body.len()),
        (StatusCode::OK, 100_000),
        "symlink inside the tree is fine"
    );

    for (uri, want) in [
        ("/linbo/escape", StatusCode::FORBIDDEN),
        ("/linbo/../secret.txt", StatusCode::FORBIDDEN),
        ("/linbo/boot/..%2f..%2fsecret.txt", StatusCode::FORBIDDEN),
        ("/linbo/boot%5cipxe%5csnponly.efi", StatusCode::BAD_REQUEST),
        ("/linbo/boot", StatusCode::NOT_FOUND),
        ("/linbo/nope", StatusCode::NOT_FOUND),
    ] {
        let (s, h, body) = call(&f.app, Method::GET, uri, &[]).await;
        assert_eq!(s, want, "{uri}");
        assert!(
            h.get(header::LOCATION).is_none(),
            "no redirects on boot paths: {uri}"
        );
        assert!(!text(&body).contains("secret"), "{uri}");
    }
}

#[tokio::test]
async fn callback_and_timeline() {
    let f = fixture().await;
    call(&f.app, Method::GET, "/boot.ipxe?mac=52:54:00:00:00:01", &[]).await;
    let (s, _, _) = call(&f.app, Method::GET, "/booted?mac=52:54:00:00:00:01", &[]).await;
    assert_eq!(s, StatusCode::OK);
    let mut steps = Vec::new();
    for _ in 0..300 {
        let (s, _, body) = call(
            &f.app,
            Method::GET,
            "/api/v1/hosts/52:54:00:00:00:01/timeline",
            &[],
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(v["hostname"], "pc1");
        steps = v["events"]
            .as_array()
            .expect("events")
            .iter()
            .map(|e| e["step"].as_str().unwrap_or("").to_string())
            .collect();
        if steps.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(steps, vec!["script", "booted"]);
    let (s, _, body) = call(&f.app, Method::GET, "/api/v1/hosts/nonsense/timeline", &[]).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(text(&body).contains("\"code\":\"bad_mac\""));
}
