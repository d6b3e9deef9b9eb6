//! HTTPS for the UI and API: the generated certificate is served by a
//! real TLS listener and checked by curl (`--cacert`), cookies get
//! `Secure`, uploads of broken or mismatching certificates are refused
//! with the old certificate kept, and plain HTTP sends remote browsers to
//! HTTPS while loopback and the boot endpoints stay on HTTP.

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, Request, StatusCode};
use bootbox_store::Store;
use bootbox_web::tls::{Tls, TlsCtx, TlsError};
use bootbox_web::{router, AppState};
use tower::ServiceExt;

/// Runs curl; returns (exit ok, stdout+headers).
fn curl(args: &[&str]) -> (bool, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10"])
        .args(args)
        .output()
        .expect("curl must be installed");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

struct Running {
    _dir: tempfile::TempDir,
    tls: Arc<Tls>,
    port: u16,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

async fn start() -> Running {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(Store::open(dir.path().join("t.redb")).expect("store"));
    let tls = Arc::new(Tls::load_or_generate(&dir.path().join("tls"), &[]).expect("cert"));
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    let mut st = AppState::new(store);
    st.tls = Some(TlsCtx {
        tls: tls.clone(),
        port,
    });
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let t = tls.clone();
    tokio::spawn(async move {
        bootbox_web::tls::serve(l, router(st), t, async {
            let _ = rx.await;
        })
        .await
        .expect("https server");
    });
    Running {
        _dir: dir,
        tls,
        port,
        stop: Some(tx),
    }
}

fn url(r: &Running, path: &str) -> String {
    format!("https://localhost:{}{path}", r.port)
}

fn cacert(r: &Running) -> String {
    r.tls.cert_path().display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_certificate_is_served_and_verifiable() {
    let r = start().await;
    let key = r.tls.cert_path().with_file_name("key.pem");
    let mode = std::fs::metadata(&key).expect("key").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "key file mode");
    let ca = cacert(&r);
    let u = url(&r, "/healthz");
    let (ok, out) = tokio::task::spawn_blocking(move || curl(&["--cacert", &ca, &u]))
        .await
        .expect("join");
    assert!(ok, "curl over HTTPS with the generated cert: {out}");
    assert!(out.contains("\"status\":\"ok\""), "{out}");
    // Without trusting the cert, curl must refuse it (it is self-signed).
    let u = url(&r, "/healthz");
    let (ok, out) = tokio::task::spawn_blocking(move || curl(&[&u]))
        .await
        .expect("join");
    assert!(
        !ok,
        "an untrusted self-signed cert must fail verification: {out}"
    );

    // First-run setup over HTTPS: the session cookie is Secure.
    let ca = cacert(&r);
    let u = url(&r, "/api/v1/setup");
    let (ok, out) = tokio::task::spawn_blocking(move || {
        curl(&[
            "--cacert",
            &ca,
            "-i",
            "-H",
            "content-type: application/json",
            "--data",
            r#"{"username":"admin","password":"correct horse battery","school_name":"Test","dhcp_mode":"off"}"#,
            &u,
        ])
    })
    .await
    .expect("join");
    assert!(ok, "{out}");
    let cookie_line = out
        .lines()
        .find(|l| {
            l.to_ascii_lowercase()
                .starts_with("set-cookie: bbx_session=")
        })
        .unwrap_or_else(|| panic!("no session cookie in {out}"));
    assert!(cookie_line.contains("HttpOnly"), "{cookie_line}");
    assert!(cookie_line.contains("SameSite=Strict"), "{cookie_line}");
    assert!(cookie_line.trim_end().ends_with("Secure"), "{cookie_line}");
    drop(r.stop);
}

fn self_signed(name: &str) -> (String, String) {
    let ck = rcgen::generate_simple_self_signed(vec![name.to_string()]).expect("rcgen");
    (ck.cert.pem(), ck.signing_key.serialize_pem())
}

fn file_text(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploaded_certificate_is_validated_and_used() {
    let r = start().await;
    let before = r.tls.info();
    assert_eq!(before.source, "generated");
    assert_eq!(before.fingerprint_sha256.len(), 32 * 3 - 1);
    let old_file = file_text(&r.tls.cert_path());

    let (cert_a, key_a) = self_signed("localhost");
    let (_cert_b, key_b) = self_signed("localhost");

    // Garbage, a key that belongs to another cert, a missing key: refused,
    // nothing changes.
    let e = r
        .tls
        .replace(b"not a certificate", key_a.as_bytes())
        .expect_err("garbage cert");
    assert!(matches!(e, TlsError::Cert(_)), "{e}");
    assert!(e.to_string().contains("BEGIN CERTIFICATE"), "{e}");
    let e = r
        .tls
        .replace(cert_a.as_bytes(), key_b.as_bytes())
        .expect_err("mismatch");
    assert!(matches!(e, TlsError::Mismatch), "{e}");
    let e = r
        .tls
        .replace(
            cert_a.as_bytes(),
            b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        )
        .expect_err("bad key");
    assert!(matches!(e, TlsError::Key(_)), "{e}");
    assert_eq!(r.tls.info(), before, "old certificate still in use");
    assert_eq!(file_text(&r.tls.cert_path()), old_file);

    // Still served with the old one.
    let (ca, u) = (cacert(&r), url(&r, "/healthz"));
    let (ok, out) = tokio::task::spawn_blocking(move || curl(&["--cacert", &ca, &u]))
        .await
        .expect("join");
    assert!(ok, "{out}");

    // A good pair replaces it at once, without restart.
    let info = r
        .tls
        .replace(cert_a.as_bytes(), key_a.as_bytes())
        .expect("good pair");
    assert_eq!(info.source, "uploaded");
    assert_ne!(info.fingerprint_sha256, before.fingerprint_sha256);
    let mode = std::fs::metadata(r.tls.cert_path().with_file_name("key.pem"))
        .expect("key")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    let new_ca = r.tls.cert_path().with_file_name("new-ca.pem");
    std::fs::write(&new_ca, &cert_a).expect("write");
    let (ca, u) = (new_ca.display().to_string(), url(&r, "/healthz"));
    let (ok, out) = tokio::task::spawn_blocking(move || curl(&["--cacert", &ca, &u]))
        .await
        .expect("join");
    assert!(ok, "uploaded cert served: {out}");
    // Reloading from disk gives the uploaded certificate.
    let again = Tls::load_or_generate(r.tls.cert_path().parent().expect("dir"), &[]).expect("load");
    assert_eq!(again.info(), info);
    drop(r.stop);
}

async fn status_location(app: &axum::Router, path: &str, from: &str) -> (StatusCode, String) {
    let peer: SocketAddr = from.parse().expect("addr");
    let mut req = Request::get(path)
        .header(header::HOST, "box.school.lan:8080")
        .body(Body::empty())
        .expect("req");
    req.extensions_mut().insert(ConnectInfo(peer));
    let resp = app.clone().oneshot(req).await.expect("resp");
    let loc = resp
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    (resp.status(), loc)
}

#[tokio::test]
async fn plain_http_sends_remote_browsers_to_https() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(Store::open(dir.path().join("t.redb")).expect("store"));
    let app = router(AppState::new(store)).layer(axum::middleware::from_fn_with_state(
        8443u16,
        bootbox_web::tls::https_guard,
    ));
    let (s, loc) = status_location(&app, "/dashboard", "10.0.0.7:50000").await;
    assert_eq!(s, StatusCode::PERMANENT_REDIRECT);
    assert_eq!(loc, "https://box.school.lan:8443/dashboard");
    let (s, _) = status_location(&app, "/api/v1/hosts", "10.0.0.7:50000").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // Health stays on plain HTTP; loopback clients may use the UI there.
    let (s, _) = status_location(&app, "/healthz", "10.0.0.7:50000").await;
    assert_eq!(s, StatusCode::OK);
    let (s, loc) = status_location(&app, "/", "127.0.0.1:50000").await;
    assert_eq!(s, StatusCode::SEE_OTHER, "{loc}");
    assert_eq!(loc, "/setup");
}
