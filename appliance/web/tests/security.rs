//! Security tests of the web API: authentication and CSRF on every
//! mutating endpoint, login throttling, path traversal in names, audit log.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use bootbox_store::Store;
use bootbox_web::{router, AppState};
use serde_json::{json, Value};
use tower::ServiceExt;

mod common;

const PW: &str = "correct horse battery";

struct Box_ {
    _dir: tempfile::TempDir,
    app: Router,
    store: Arc<Store>,
}

fn boxed() -> Box_ {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(Store::open(dir.path().join("t.redb")).expect("store"));
    let mut st = AppState::new(store.clone());
    let tree = bootbox_images::ImageTree::open(&dir.path().join("linbo")).expect("tree");
    st.images = Some(bootbox_web::images::ImagesCtx {
        tree: Arc::new(tree),
        limits: bootbox_images::UploadLimits {
            reserve: 0,
            ..bootbox_images::UploadLimits::default()
        },
        server_ip: None,
        portbase: bootbox_images::PORTBASE,
        hooks: None,
    });
    Box_ {
        _dir: dir,
        app: router(st),
        store,
    }
}

struct Resp {
    status: StatusCode,
    json: Value,
    cookie: Option<String>,
}

async fn call(
    app: &Router,
    method: Method,
    uri: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> Resp {
    let (status, json, cookie) = common::call(app, method, uri, headers, body).await;
    Resp {
        status,
        json,
        cookie,
    }
}

/// Runs the wizard; returns (cookie, csrf).
async fn setup(b: &Box_) -> (String, String) {
    let r = call(
        &b.app,
        Method::POST,
        "/api/v1/setup",
        &[],
        Some(json!({ "password": PW, "school_name": "Test", "dhcp_mode": "off" })),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    (
        r.cookie.expect("cookie"),
        r.json["csrf"].as_str().expect("csrf").to_string(),
    )
}

fn mutating() -> Vec<(Method, &'static str, Option<Value>)> {
    let host = json!({ "hostname": "pc1", "room": "r1", "group": "g1", "mac": "00:11:22:33:44:55", "ip": "", "pxe": 1 });
    vec![
        (
            Method::POST,
            "/api/v1/setup",
            Some(json!({ "school_name": "X", "dhcp_mode": "off" })),
        ),
        (Method::POST, "/api/v1/auth/logout", None),
        (Method::POST, "/api/v1/auth/logout-all", None),
        (
            Method::POST,
            "/api/v1/auth/password",
            Some(json!({ "current": PW, "new": "another long pw" })),
        ),
        (Method::POST, "/api/v1/hosts", Some(host.clone())),
        (Method::PUT, "/api/v1/hosts/pc1", Some(host)),
        (
            Method::PUT,
            "/api/v1/hosts/pc1/chain",
            Some(json!({ "chain": "grub" })),
        ),
        (
            Method::PUT,
            "/api/v1/groups/g1/chain",
            Some(json!({ "chain": "grub" })),
        ),
        (Method::DELETE, "/api/v1/hosts/pc1", None),
        (
            Method::POST,
            "/api/v1/import/devices",
            Some(json!({ "csv": "r1;pc2;g1;00:11:22:33:44:56;DHCP;;;;;;1\n" })),
        ),
        (
            Method::PUT,
            "/api/v1/rooms/r1",
            Some(json!({ "description": "x" })),
        ),
        (Method::DELETE, "/api/v1/rooms/r1", None),
        (
            Method::PUT,
            "/api/v1/groups/g1",
            Some(json!({ "description": "x" })),
        ),
        (Method::DELETE, "/api/v1/groups/g1", None),
        (
            Method::PUT,
            "/api/v1/settings",
            Some(json!({ "school_name": "Y", "dhcp_mode": "off" })),
        ),
        (
            Method::POST,
            "/api/v1/tokens",
            Some(json!({ "name": "t1", "scope": "admin" })),
        ),
        (Method::DELETE, "/api/v1/tokens/t1", None),
        (Method::PUT, "/api/v1/images/win/files/win.qcow2", None),
        (
            Method::POST,
            "/api/v1/images/win/backups/202401010000/restore",
            None,
        ),
        (
            Method::DELETE,
            "/api/v1/images/win/backups/202401010000",
            None,
        ),
        (Method::POST, "/api/v1/images/win/retain?keep=1", None),
        (Method::DELETE, "/api/v1/images/win", None),
        (Method::PUT, "/api/v1/bootfiles/linbo64", None),
        (
            Method::PUT,
            "/api/v1/settings/tls",
            Some(json!({ "cert_pem": "x", "key_pem": "y" })),
        ),
        (
            Method::POST,
            "/api/v1/import/linuxmuster?dry_run=false",
            None,
        ),
        (
            Method::POST,
            "/api/v1/setup/preflight",
            Some(json!({ "interface": "lo", "dhcp_mode": "proxy" })),
        ),
    ]
}

#[tokio::test]
async fn every_mutating_endpoint_needs_session_or_token_and_csrf() {
    let b = boxed();
    let (cookie, csrf) = setup(&b).await;
    let before = b.store.recent_events(1000).expect("events").len();
    for (m, uri, body) in mutating() {
        let r = call(&b.app, m.clone(), uri, &[], body.clone()).await;
        assert_eq!(
            r.status,
            StatusCode::UNAUTHORIZED,
            "{m} {uri} without session: {}",
            r.json
        );
        assert_eq!(r.json["error"]["code"], "unauthorized", "{m} {uri}");
        let r = call(&b.app, m.clone(), uri, &[("cookie", &cookie)], body.clone()).await;
        assert_eq!(
            r.status,
            StatusCode::FORBIDDEN,
            "{m} {uri} without CSRF: {}",
            r.json
        );
        assert_eq!(r.json["error"]["code"], "csrf", "{m} {uri}");
        let r = call(
            &b.app,
            m.clone(),
            uri,
            &[("cookie", &cookie), ("x-csrf-token", "forged")],
            body.clone(),
        )
        .await;
        assert_eq!(
            r.status,
            StatusCode::FORBIDDEN,
            "{m} {uri} with a wrong CSRF token"
        );
        let r = call(
            &b.app,
            m.clone(),
            uri,
            &[("authorization", "Bearer bbx.nope.0000")],
            body,
        )
        .await;
        assert_eq!(
            r.status,
            StatusCode::UNAUTHORIZED,
            "{m} {uri} with a forged token"
        );
    }
    // Nothing of the refused requests changed the registry.
    assert_eq!(b.store.recent_events(1000).expect("events").len(), before);
    assert_eq!(b.store.host_count().expect("count"), 0);
    // With session and CSRF the same request works.
    let r = call(
        &b.app,
        Method::PUT,
        "/api/v1/rooms/r1",
        &[("cookie", &cookie), ("x-csrf-token", &csrf)],
        Some(json!({ "description": "ok" })),
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.json);
    // Reads need a session or token too.
    for uri in [
        "/api/v1/hosts",
        "/api/v1/events",
        "/api/v1/dashboard",
        "/api/v1/settings",
        "/api/v1/tokens",
    ] {
        let r = call(&b.app, Method::GET, uri, &[], None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "GET {uri}");
    }
}

/// Every mutating operation the API documents (OpenAPI), with its path
/// parameters filled in: none may be reached without a session and CSRF
/// token, so a new endpoint cannot slip past the hand-written list above.
#[tokio::test]
async fn every_documented_mutating_operation_is_refused_without_auth() {
    let b = boxed();
    let (cookie, _csrf) = setup(&b).await;
    let spec = call(&b.app, Method::GET, "/api/v1/openapi.json", &[], None).await;
    assert_eq!(spec.status, StatusCode::OK);
    let paths = spec.json["paths"].as_object().expect("paths");
    let before = b.store.recent_events(1000).expect("events").len();
    let mut checked = 0;
    let samples = mutating();
    for (path, ops) in paths {
        for (verb, _) in ops.as_object().expect("operations") {
            let method = match verb.as_str() {
                "post" => Method::POST,
                "put" => Method::PUT,
                "delete" => Method::DELETE,
                "patch" => Method::PATCH,
                _ => continue,
            };
            // A well-formed request where the list above has one (bodies
            // are parsed before the handler runs), else a bare one.
            let (uri, body) = samples
                .iter()
                .find(|(m, u, _)| *m == method && matches_template(path, u))
                .map(|(_, u, b)| (u.to_string(), b.clone().unwrap_or(json!({}))))
                .unwrap_or_else(|| (fill_template(path), json!({})));
            // Signing in is what a session comes from.
            if uri == "/api/v1/auth/login" {
                continue;
            }
            let r = call(&b.app, method.clone(), &uri, &[], Some(body.clone())).await;
            assert_eq!(
                r.status,
                StatusCode::UNAUTHORIZED,
                "{method} {uri} without session: {}",
                r.json
            );
            // Validation endpoints change nothing: a session is enough.
            if uri.ends_with("/validate") {
                checked += 1;
                continue;
            }
            let r = call(
                &b.app,
                method.clone(),
                &uri,
                &[("cookie", &cookie)],
                Some(body),
            )
            .await;
            assert_eq!(
                r.status,
                StatusCode::FORBIDDEN,
                "{method} {uri} without CSRF: {}",
                r.json
            );
            checked += 1;
        }
    }
    assert!(checked >= 30, "only {checked} operations documented");
    assert_eq!(b.store.recent_events(1000).expect("events").len(), before);
}

/// True if `uri` (query ignored) fits the OpenAPI path `template`.
fn matches_template(template: &str, uri: &str) -> bool {
    let uri = uri.split('?').next().unwrap_or(uri);
    let (t, u): (Vec<_>, Vec<_>) = (template.split('/').collect(), uri.split('/').collect());
    t.len() == u.len() && t.iter().zip(&u).all(|(t, u)| t == u || t.starts_with('{'))
}

/// The template with every path parameter set to a harmless name.
fn fill_template(template: &str) -> String {
    template
        .split('/')
        .map(|seg| if seg.starts_with('{') { "x1" } else { seg })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test]
async fn revoked_token_is_refused_at_once() {
    let b = boxed();
    let (cookie, csrf) = setup(&b).await;
    let token = b
        .store
        .create_token("ci", bootbox_store::tokens::Scope::Admin, "test")
        .expect("token");
    let bearer = format!("Bearer {token}");
    let r = call(
        &b.app,
        Method::GET,
        "/api/v1/hosts",
        &[("authorization", &bearer)],
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = call(
        &b.app,
        Method::DELETE,
        "/api/v1/tokens/ci",
        &[("cookie", &cookie), ("x-csrf-token", &csrf)],
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.json);
    for (m, uri) in [
        (Method::GET, "/api/v1/hosts"),
        (Method::PUT, "/api/v1/rooms/r1"),
    ] {
        let r = call(
            &b.app,
            m.clone(),
            uri,
            &[("authorization", &bearer)],
            Some(json!({ "description": "x" })),
        )
        .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{m} {uri} after revoke");
    }
    let audit = b.store.recent_events(50).expect("events");
    assert!(
        audit
            .iter()
            .any(|e| e.action == "token.revoke" && e.actor.contains("admin")),
        "revocation not in the audit log"
    );
}

#[tokio::test]
async fn tokens_need_no_csrf_but_the_right_scope() {
    let b = boxed();
    setup(&b).await;
    let read = b
        .store
        .create_token("reader", bootbox_store::tokens::Scope::Read, "test")
        .expect("t");
    let admin = b
        .store
        .create_token("admin", bootbox_store::tokens::Scope::Admin, "test")
        .expect("t");
    let body = json!({ "description": "x" });
    let r = call(
        &b.app,
        Method::PUT,
        "/api/v1/rooms/r1",
        &[("authorization", &format!("Bearer {read}"))],
        Some(body.clone()),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = call(
        &b.app,
        Method::PUT,
        "/api/v1/rooms/r1",
        &[("authorization", &format!("Bearer {admin}"))],
        Some(body),
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.json);
    let r = call(
        &b.app,
        Method::GET,
        "/api/v1/hosts",
        &[("authorization", &format!("Bearer {read}"))],
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn setup_cannot_be_taken_over_once_done() {
    let b = boxed();
    setup(&b).await;
    let r = call(
        &b.app,
        Method::POST,
        "/api/v1/setup",
        &[],
        Some(json!({ "password": "attacker-password", "school_name": "Evil", "dhcp_mode": "off" })),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(b.store.users().expect("users").len(), 1);
    assert_eq!(b.store.settings().expect("s").school_name, "Test");
}

#[tokio::test]
async fn login_brute_force_is_throttled() {
    let b = boxed();
    setup(&b).await;
    for i in 0..5 {
        let r = call(
            &b.app,
            Method::POST,
            "/api/v1/auth/login",
            &[],
            Some(json!({ "username": "admin", "password": format!("guess-{i}") })),
        )
        .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "attempt {i}");
        assert_eq!(r.json["error"]["code"], "bad_credentials");
    }
    // Locked now, even with the right password.
    let r = call(
        &b.app,
        Method::POST,
        "/api/v1/auth/login",
        &[],
        Some(json!({ "username": "admin", "password": PW })),
    )
    .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.json);
    assert_eq!(r.json["error"]["code"], "locked");
    let m = r.json["error"]["message"].as_str().expect("message");
    assert!(m.contains("try again in"), "{m}");
    // Failed sign-ins are in the log.
    let ev = b.store.recent_events(100).expect("events");
    assert!(ev.iter().filter(|e| e.action == "auth.failed").count() >= 5);
}

#[tokio::test]
async fn sign_out_everywhere_ends_all_sessions() {
    let b = boxed();
    let (c1, csrf1) = setup(&b).await;
    let r = call(
        &b.app,
        Method::POST,
        "/api/v1/auth/login",
        &[],
        Some(json!({ "username": "admin", "password": PW })),
    )
    .await;
    let c2 = r.cookie.expect("cookie");
    let r = call(
        &b.app,
        Method::GET,
        "/api/v1/auth/me",
        &[("cookie", &c2)],
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = call(
        &b.app,
        Method::POST,
        "/api/v1/auth/logout-all",
        &[("cookie", &c1), ("x-csrf-token", &csrf1)],
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    assert_eq!(r.json["ended"], 2);
    for c in [&c1, &c2] {
        let r = call(
            &b.app,
            Method::GET,
            "/api/v1/auth/me",
            &[("cookie", c)],
            None,
        )
        .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn session_cookie_flags() {
    let b = boxed();
    let req = Request::post("/api/v1/setup")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            json!({ "password": PW, "school_name": "T", "dhcp_mode": "off" }).to_string(),
        ))
        .expect("req");
    let resp = b.app.clone().oneshot(req).await.expect("resp");
    let c = resp
        .headers()
        .get(header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert!(
        c.contains("HttpOnly") && c.contains("SameSite=Strict") && c.contains("Path=/"),
        "{c}"
    );
}

#[tokio::test]
async fn path_traversal_in_names_is_rejected() {
    let b = boxed();
    let (cookie, csrf) = setup(&b).await;
    let h = [("cookie", cookie.as_str()), ("x-csrf-token", csrf.as_str())];
    let evil = [
        "..",
        "..%2F..%2Fetc",
        "a%2F..%2Fb",
        "%2E%2E",
        "x%00y",
        "a%5Cb",
    ];
    for e in evil {
        for (m, uri, body) in [
            (Method::PUT, format!("/api/v1/rooms/{e}"), Some(json!({}))),
            (Method::PUT, format!("/api/v1/groups/{e}"), Some(json!({}))),
            (Method::GET, format!("/api/v1/groups/{e}"), None),
            (Method::DELETE, format!("/api/v1/hosts/{e}"), None),
            (Method::DELETE, format!("/api/v1/tokens/{e}"), None),
            (
                Method::PUT,
                format!("/api/v1/images/{e}/files/{e}.qcow2"),
                None,
            ),
            (Method::PUT, format!("/api/v1/images/win/files/{e}"), None),
            (
                Method::POST,
                format!("/api/v1/images/{e}/backups/{e}/restore"),
                None,
            ),
            (
                Method::DELETE,
                format!("/api/v1/images/win/backups/{e}"),
                None,
            ),
            (Method::PUT, format!("/api/v1/bootfiles/{e}"), None),
        ] {
            let r = call(&b.app, m.clone(), &uri, &h, body).await;
            assert!(
                r.status.is_client_error(),
                "{m} {uri} must be refused, got {} {}",
                r.status,
                r.json
            );
            assert_ne!(r.status, StatusCode::UNAUTHORIZED, "{m} {uri}");
        }
    }
    // UI pages: only known names.
    let r = call(&b.app, Method::GET, "/..%2F..%2Fetc%2Fpasswd", &[], None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(b.store.rooms().expect("rooms").is_empty());
    assert!(b.store.groups().expect("groups").is_empty());
}

#[tokio::test]
async fn audit_log_records_each_admin_action_with_actor() {
    let b = boxed();
    let (cookie, csrf) = setup(&b).await;
    let h = [("cookie", cookie.as_str()), ("x-csrf-token", csrf.as_str())];
    let steps: Vec<(Method, &str, Option<Value>, &str)> = vec![
        (
            Method::PUT,
            "/api/v1/rooms/r1",
            Some(json!({ "description": "Raum" })),
            "room.put",
        ),
        (
            Method::POST,
            "/api/v1/import/devices",
            Some(json!({ "csv": "r1;pc2;g1;00:11:22:33:44:56;DHCP;;;;;;1\n" })),
            "import",
        ),
        (
            Method::PUT,
            "/api/v1/groups/g1",
            Some(
                json!({ "start_conf": "[LINBO]\nServer = 10.0.0.1\nGroup = g1\nCache = /dev/sda4\n" }),
            ),
            "group.put",
        ),
        (
            Method::POST,
            "/api/v1/hosts",
            Some(
                json!({ "hostname": "pc1", "room": "r1", "group": "g1", "mac": "00:11:22:33:44:55", "pxe": 1 }),
            ),
            "host.add",
        ),
        (
            Method::PUT,
            "/api/v1/settings",
            Some(json!({ "school_name": "Neu", "dhcp_mode": "off" })),
            "settings.update",
        ),
        (
            Method::POST,
            "/api/v1/tokens",
            Some(json!({ "name": "ci", "scope": "images" })),
            "token.create",
        ),
        (Method::DELETE, "/api/v1/tokens/ci", None, "token.revoke"),
        (Method::DELETE, "/api/v1/hosts/pc1", None, "host.remove"),
        (Method::POST, "/api/v1/auth/logout", None, "auth.logout"),
    ];
    for (m, uri, body, action) in steps {
        let before = b.store.recent_events(1).expect("ev")[0].seq;
        let r = call(&b.app, m.clone(), uri, &h, body).await;
        assert!(r.status.is_success(), "{m} {uri}: {} {}", r.status, r.json);
        let new = b.store.events(before, 100).expect("ev");
        let hit = new.iter().find(|e| e.action.starts_with(action));
        let hit = hit.unwrap_or_else(|| panic!("{m} {uri}: no {action} event in {new:?}"));
        assert!(hit.actor.starts_with("web:admin@"), "{:?}", hit);
    }
    let ev = b.store.recent_events(100).expect("ev");
    assert!(ev
        .iter()
        .any(|e| e.action == "setup" && e.actor.starts_with("web:setup@")));
}

#[tokio::test]
async fn start_conf_invalid_is_not_saved() {
    let b = boxed();
    let (cookie, csrf) = setup(&b).await;
    let h = [("cookie", cookie.as_str()), ("x-csrf-token", csrf.as_str())];
    let bad = "[LINBO]\nServer = 10.0.0.1\nRootTimeout = soon\n";
    let r = call(
        &b.app,
        Method::POST,
        "/api/v1/startconf/validate",
        &h,
        Some(json!({ "text": bad })),
    )
    .await;
    assert_eq!(r.json["valid"], false);
    assert_eq!(r.json["errors"][0]["line"], 3, "{}", r.json);
    let r = call(
        &b.app,
        Method::PUT,
        "/api/v1/groups/g1",
        &h,
        Some(json!({ "start_conf": bad })),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json["error"]["code"], "invalid_startconf");
    assert!(b.store.group("g1").expect("g").is_none());
}

#[tokio::test]
async fn import_reports_every_bad_line_and_dry_run_changes_nothing() {
    let b = boxed();
    let (cookie, csrf) = setup(&b).await;
    let h = [("cookie", cookie.as_str()), ("x-csrf-token", csrf.as_str())];
    let csv = "r1;pc1;g1;00:11:22:33:44:01;DHCP;;;;;;1\nr1;pc2;g1;zz;DHCP;;;;;;1\nr1;pc3;g1;00:11:22:33:44:03;DHCP;;;;;;1\nr1;pc4;g1;00:11:22:33:44:01;DHCP;;;;;;1\n";
    let r = call(
        &b.app,
        Method::POST,
        "/api/v1/import/devices",
        &h,
        Some(json!({ "csv": csv, "dry_run": true })),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let lines: Vec<u64> = r.json["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["line"].as_u64())
        .collect();
    assert_eq!(lines, vec![2, 4]);
    assert_eq!(r.json["valid_lines"], 2);
    let r = call(
        &b.app,
        Method::POST,
        "/api/v1/import/devices",
        &h,
        Some(json!({ "csv": csv, "dry_run": true, "skip_invalid": true })),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    assert_eq!(b.store.host_count().expect("n"), 0);
    let r = call(
        &b.app,
        Method::POST,
        "/api/v1/import/devices",
        &h,
        Some(json!({ "csv": csv, "skip_invalid": true, "strategy": "add-only" })),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    assert_eq!(b.store.host_count().expect("n"), 2);
}

#[tokio::test]
async fn ui_pages_redirect_and_have_security_headers() {
    let b = boxed();
    let r = b
        .app
        .clone()
        .oneshot(Request::get("/").body(Body::empty()).expect("r"))
        .await
        .expect("r");
    assert_eq!(
        r.headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok()),
        Some("/setup")
    );
    let r = b
        .app
        .clone()
        .oneshot(Request::get("/setup").body(Body::empty()).expect("r"))
        .await
        .expect("r");
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers().get(header::CONTENT_SECURITY_POLICY).is_some());
    let (cookie, _) = setup(&b).await;
    let r = b
        .app
        .clone()
        .oneshot(Request::get("/hosts").body(Body::empty()).expect("r"))
        .await
        .expect("r");
    assert_eq!(
        r.headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok()),
        Some("/login")
    );
    let r = b
        .app
        .clone()
        .oneshot(
            Request::get("/hosts")
                .header("cookie", &cookie)
                .body(Body::empty())
                .expect("r"),
        )
        .await
        .expect("r");
    assert_eq!(r.status(), StatusCode::OK);
    let r = call(&b.app, Method::GET, "/api/v1/openapi.json", &[], None).await;
    assert_eq!(r.json["openapi"], "3.0.3");
}

#[tokio::test]
async fn wizard_can_be_rerun_by_the_signed_in_admin() {
    let b = boxed();
    let (cookie, csrf) = setup(&b).await;
    let h = [("cookie", cookie.as_str()), ("x-csrf-token", csrf.as_str())];
    let r = call(
        &b.app,
        Method::POST,
        "/api/v1/setup",
        &h,
        Some(json!({ "school_name": "Neu", "dhcp_mode": "off", "enrol_url": "https://central.example.org", "enrol_token": "0123456789abcdefXYZ" })),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    assert_eq!(b.store.settings().expect("s").school_name, "Neu");
    assert_eq!(b.store.users().expect("u").len(), 1);
    assert_eq!(
        b.store.enrolment().expect("e").url,
        "https://central.example.org"
    );
    // Bad enrolment input is refused with a clear error and changes nothing.
    let r = call(
        &b.app,
        Method::POST,
        "/api/v1/setup",
        &h,
        Some(json!({ "school_name": "X", "dhcp_mode": "off", "enrol_url": "ftp://x", "enrol_token": "0123456789abcdefXYZ" })),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(b.store.settings().expect("s").school_name, "Neu");
    // DHCP without interface and address is refused.
    let r = call(
        &b.app,
        Method::POST,
        "/api/v1/setup",
        &h,
        Some(json!({ "school_name": "X", "dhcp_mode": "proxy" })),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json["error"]["code"], "invalid");
}
