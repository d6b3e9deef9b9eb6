//! Remote-control API without a network: auth and CSRF on every mutating
//! endpoint, command validation errors, on-boot jobs and files, schedules,
//! audit entries. (Jobs over SSH run in `tests/remote/run`.)

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use axum::Router;
use bootbox_linbo::devices::{IpAssignment, PxeFlag};
use bootbox_store::{Group, Host, Store};
use bootbox_web::{router, AppState};
use serde_json::{json, Value};
use tower::ServiceExt;

mod common;
use common::call;

const PW: &str = "correct horse battery";
const START_CONF: &str = "[LINBO]\nCache = /dev/sda2\n\n[Partition]\nDev = /dev/sda1\n\n[OS]\nName = Win\nRoot = /dev/sda1\n";

struct Bx {
    dir: tempfile::TempDir,
    app: Router,
    store: Arc<Store>,
}

fn boxed(with_remote: bool) -> Bx {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(Store::open(dir.path().join("t.redb")).expect("store"));
    store
        .put_group(
            Group {
                name: "g1".into(),
                start_conf: Some(START_CONF.into()),
                description: String::new(),
            },
            "test",
        )
        .expect("group");
    for (i, pxe) in [
        (1u8, PxeFlag::LINBO),
        (2, PxeFlag::LINBO),
        (3, PxeFlag::NONE),
    ] {
        store
            .add_host(
                Host {
                    room: "r1".into(),
                    hostname: format!("pc{i}"),
                    group: "g1".into(),
                    mac: format!("02:00:00:00:00:0{i}").parse().expect("mac"),
                    ip: IpAssignment::Dhcp,
                    pxe,
                    role: String::new(),
                    extra: Default::default(),
                },
                "test",
            )
            .expect("host");
    }
    let mut st = AppState::new(store.clone());
    if with_remote {
        let remote = bootbox_remote::Remote::new(store.clone(), dir.path(), Default::default());
        st.remote = Some(bootbox_remote::Service::new(Arc::new(remote)));
    }
    Bx {
        dir,
        app: router(st),
        store,
    }
}

async fn session(b: &Bx) -> (String, String) {
    let (s, v, c) = call(
        &b.app,
        Method::POST,
        "/api/v1/setup",
        &[],
        Some(json!({ "password": PW, "school_name": "T", "dhcp_mode": "off" })),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    (
        c.expect("cookie"),
        v["csrf"].as_str().expect("csrf").to_string(),
    )
}

fn onboot_job() -> Value {
    json!({ "target": { "kind": "room", "names": "r1" }, "commands": "sync:1,start:1", "mode": "onboot", "noauto": true })
}

fn schedule() -> Value {
    json!({ "name": "night", "cron": "30 18 * * mon,wed", "timezone": "Europe/Berlin",
            "target": { "kind": "group", "names": "g1" }, "commands": "sync:1,halt", "enabled": true })
}

#[tokio::test]
async fn every_mutating_remote_endpoint_needs_a_session_with_csrf() {
    let b = boxed(true);
    let (cookie, csrf) = session(&b).await;
    let cases: Vec<(Method, &str, Option<Value>)> = vec![
        (Method::POST, "/api/v1/remote/jobs", Some(onboot_job())),
        (Method::DELETE, "/api/v1/remote/onboot/pc1", None),
        (
            Method::POST,
            "/api/v1/remote/onboot/delete",
            Some(json!({ "all": true })),
        ),
        (Method::POST, "/api/v1/remote/schedules", Some(schedule())),
        (
            Method::PUT,
            "/api/v1/remote/schedules/night",
            Some(schedule()),
        ),
        (
            Method::PUT,
            "/api/v1/remote/schedules/night/enabled",
            Some(json!({ "enabled": false })),
        ),
        (Method::DELETE, "/api/v1/remote/schedules/night", None),
        (
            Method::PUT,
            "/api/v1/remote/mail",
            Some(json!({ "enabled": false })),
        ),
        (Method::POST, "/api/v1/remote/mail/test", None),
    ];
    for (m, uri, body) in cases {
        let (s, v, _) = call(&b.app, m.clone(), uri, &[], body.clone()).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{m} {uri} without auth: {v}");
        let (s, v, _) = call(&b.app, m.clone(), uri, &[("cookie", &cookie)], body).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{m} {uri} without CSRF: {v}");
        assert_eq!(v["error"]["code"], "csrf");
    }
    assert!(
        b.store.schedules().expect("schedules").is_empty(),
        "nothing changed"
    );
    assert!(!b.dir.path().join("linbo/linbocmd/pc1.cmd").exists());
    let _ = csrf;
}

#[tokio::test]
async fn validation_onboot_jobs_files_and_schedules() {
    let b = boxed(true);
    let (cookie, csrf) = session(&b).await;
    let h = [("cookie", cookie.as_str()), ("x-csrf-token", csrf.as_str())];
    let h = &h[..];

    // Validation: every problem, with a stable code; nothing runs.
    let (s, v, _) = call(
        &b.app,
        Method::POST,
        "/api/v1/remote/validate",
        h,
        Some(json!({ "target": { "kind": "room", "names": "r1" }, "commands": "sync:2,upload_image:1" })),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["error"]["code"], "invalid");
    let m = v["error"]["message"].as_str().unwrap_or("");
    assert!(m.contains("single host") && m.contains("[OS]"), "{m}");
    let (s, v, _) = call(
        &b.app,
        Method::POST,
        "/api/v1/remote/validate",
        h,
        Some(json!({ "target": { "kind": "room", "names": "r1" }, "commands": "linbo:secret,sync:1" })),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let (s, v, _) = call(
        &b.app,
        Method::POST,
        "/api/v1/remote/validate",
        h,
        Some(onboot_job()),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["hosts"], json!(["pc1", "pc2"]));
    assert_eq!(v["skipped"][0]["host"], "pc3");

    // An on-boot job writes the files; they are listed and deleted.
    let (s, v, _) = call(
        &b.app,
        Method::POST,
        "/api/v1/remote/jobs",
        h,
        Some(onboot_job()),
    )
    .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let id = v["id"].as_u64().expect("id");
    let mut job = Value::Null;
    for _ in 0..100 {
        let (_, j, _) = call(
            &b.app,
            Method::GET,
            &format!("/api/v1/remote/jobs/{id}"),
            h,
            None,
        )
        .await;
        job = j;
        if job["finished_ms"].is_number() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(job["hosts"][0]["status"], "scheduled", "{job}");
    let (_, list, _) = call(&b.app, Method::GET, "/api/v1/remote/onboot", h, None).await;
    assert_eq!(list[1]["commands"], "sync:1,start:1,noauto", "{list}");
    let (s, _, _) = call(&b.app, Method::DELETE, "/api/v1/remote/onboot/pc1", h, None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, v, _) = call(
        &b.app,
        Method::DELETE,
        "/api/v1/remote/onboot/..%2Fetc",
        h,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let (s, v, _) = call(
        &b.app,
        Method::POST,
        "/api/v1/remote/onboot/delete",
        h,
        Some(json!({ "hosts": ["pc1", "pc2"] })),
    )
    .await;
    assert_eq!((s, &v["removed"]), (StatusCode::OK, &json!(["pc2"])));

    // Schedules: checked like the CLI does, then stored.
    let mut bad = schedule();
    bad["commands"] = json!("sync:3");
    let (s, v, _) = call(
        &b.app,
        Method::POST,
        "/api/v1/remote/schedules",
        h,
        Some(bad),
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid"))
    );
    let mut bad = schedule();
    bad["timezone"] = json!("Mars/Base");
    let (s, v, _) = call(
        &b.app,
        Method::POST,
        "/api/v1/remote/schedules",
        h,
        Some(bad),
    )
    .await;
    assert_eq!(v["error"]["code"], "invalid_schedule", "{s} {v}");
    let mut bad = schedule();
    bad["webhook"] = json!("https://x/");
    let (_, v, _) = call(
        &b.app,
        Method::POST,
        "/api/v1/remote/schedules",
        h,
        Some(bad),
    )
    .await;
    assert_eq!(v["error"]["code"], "invalid_webhook", "{v}");
    let (s, v, _) = call(
        &b.app,
        Method::POST,
        "/api/v1/remote/schedules",
        h,
        Some(schedule()),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert!(v["next_ms"].is_number(), "{v}");
    let (s, v, _) = call(
        &b.app,
        Method::PUT,
        "/api/v1/remote/schedules/night/enabled",
        h,
        Some(json!({ "enabled": false })),
    )
    .await;
    assert_eq!(
        (s, &v["enabled"], &v["next_ms"]),
        (StatusCode::OK, &json!(false), &Value::Null)
    );
    let (_, v, _) = call(&b.app, Method::GET, "/api/v1/remote/schedules", h, None).await;
    assert_eq!(v.as_array().map(Vec::len), Some(1));

    let audit: Vec<String> = b
        .store
        .recent_events(100)
        .expect("events")
        .into_iter()
        .filter(|e| e.actor.starts_with("web:admin@"))
        .map(|e| e.action)
        .collect();
    for a in [
        "remote.job.start",
        "remote.onboot.delete",
        "schedule.put",
        "schedule.enable",
    ] {
        assert!(audit.iter().any(|x| x == a), "audit {a}: {audit:?}");
    }
}

#[tokio::test]
async fn without_remote_control_the_answer_is_a_clear_error() {
    let b = boxed(false);
    let (cookie, _) = session(&b).await;
    let (s, v, _) = call(
        &b.app,
        Method::GET,
        "/api/v1/remote/jobs",
        &[("cookie", &cookie)],
        None,
    )
    .await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(v["error"]["code"], "remote_off");
}

#[tokio::test]
async fn smtp_password_is_write_only() {
    let b = boxed(true);
    let (cookie, csrf) = session(&b).await;
    let h = [("cookie", cookie.as_str()), ("x-csrf-token", csrf.as_str())];
    let mail = json!({ "enabled": true, "host": "127.0.0.1", "port": 2525, "security": "none",
                       "from": "bootbox@school.example", "to": ["it@school.example"],
                       "username": "relay", "password": "s3cret-relay-pw" });
    let (s, v, _) = call(
        &b.app,
        Method::PUT,
        "/api/v1/remote/mail",
        &h[..1],
        Some(mail.clone()),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "CSRF needed: {v}");
    let (s, v, _) = call(&b.app, Method::PUT, "/api/v1/remote/mail", &h, Some(mail)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["password_set"], true);
    assert!(!v.to_string().contains("s3cret"), "{v}");
    // Without a password field the stored one stays.
    let (s, v, _) = call(
        &b.app,
        Method::PUT,
        "/api/v1/remote/mail",
        &h,
        Some(json!({ "enabled": true, "host": "127.0.0.1", "port": 2525, "security": "none",
                     "from": "bootbox@school.example", "to": ["x@school.example"], "username": "relay" })),
    )
    .await;
    assert_eq!(
        (s, &v["password_set"]),
        (StatusCode::OK, &json!(true)),
        "{v}"
    );
    assert_eq!(
        b.store.mail_settings().expect("read").password.as_deref(),
        Some("s3cret-relay-pw")
    );
    let (_, v, _) = call(&b.app, Method::GET, "/api/v1/remote/mail", &h, None).await;
    assert!(!v.to_string().contains("s3cret"), "{v}");
    let (s, v, _) = call(
        &b.app,
        Method::PUT,
        "/api/v1/remote/mail",
        &h,
        Some(json!({ "enabled": true, "host": "x", "port": 25, "from": "nobody", "to": [] })),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let events = b.store.recent_events(50).expect("events");
    assert!(events.iter().all(|e| !e.message.contains("s3cret")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_time_upload_credential_works_once_and_not_after_expiry() {
    let b = boxed(true);
    let mut st = AppState::new(b.store.clone());
    let tree = bootbox_images::ImageTree::open(&b.dir.path().join("linbo")).expect("tree");
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
    let app = router(st);
    let put = |cred: String| {
        let app = app.clone();
        async move {
            let req = Request::builder()
                .method(Method::PUT)
                .uri("/api/v1/images/win11/files/win11.qcow2")
                .header("authorization", format!("Bearer {cred}"))
                .body(Body::from("qcow2 bytes"))
                .expect("request");
            let resp = app.oneshot(req).await.expect("response");
            let s = resp.status();
            let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
                .await
                .expect("body");
            (
                s,
                serde_json::from_slice::<Value>(&bytes).unwrap_or(Value::Null),
            )
        }
    };
    let cred = b
        .store
        .issue_upload_credential("pc1", Some("win11"), 3_600_000, "test")
        .expect("issue");
    let (s, v) = put(cred.clone()).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (s, v) = put(cred).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    assert_eq!(v["error"]["code"], "upload_credential");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("already used"),
        "{v}"
    );
    // Another image than the one it was issued for.
    let other = b
        .store
        .issue_upload_credential("pc1", Some("ubuntu"), 3_600_000, "test")
        .expect("issue");
    assert_eq!(put(other).await.0, StatusCode::UNAUTHORIZED);
    // Expired.
    let late = b
        .store
        .issue_upload_credential("pc1", Some("win11"), 0, "test")
        .expect("issue");
    std::thread::sleep(std::time::Duration::from_millis(5));
    let (s, v) = put(late).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("expired"),
        "{v}"
    );
    // A made-up one.
    let fake = format!("bbu.{}.{}", "a".repeat(16), "b".repeat(64));
    assert_eq!(put(fake).await.0, StatusCode::UNAUTHORIZED);
    let events = b.store.recent_events(50).expect("events");
    assert!(
        events
            .iter()
            .any(|e| e.action == "image.upload" && e.actor.starts_with("host:pc1@")),
        "{events:?}"
    );
}
