//! The LINBO client status in the API: host list, host status, dashboard
//! and dismissing a failure.

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use axum::Router;
use bootbox_store::{ClientReport, Store, SyncKind};
use bootbox_web::{router, AppState};
use serde_json::{json, Value};

mod common;

const PW: &str = "correct horse battery";

fn boxed() -> (tempfile::TempDir, Router, Arc<Store>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(Store::open(dir.path().join("t.redb")).expect("store"));
    let app = router(AppState::new(store.clone()));
    (dir, app, store)
}

async fn call(
    app: &Router,
    method: Method,
    uri: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> (StatusCode, Value) {
    let (s, j, _) = common::call(app, method, uri, headers, body).await;
    (s, j)
}

/// Runs the wizard; returns (cookie, csrf).
async fn setup(app: &Router) -> (String, String) {
    let (status, json, cookie) = common::call(
        app,
        Method::POST,
        "/api/v1/setup",
        &[],
        Some(json!({ "password": PW, "school_name": "Test", "dhcp_mode": "off" })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{json}");
    (
        cookie.expect("cookie"),
        json["csrf"].as_str().expect("csrf").to_string(),
    )
}

fn add(store: &Store, row: &str) {
    let h = bootbox_linbo::devices::parse(row)
        .expect("row")
        .records
        .remove(0);
    store.add_host(h, "t").expect("add");
}

#[tokio::test]
async fn status_in_host_list_host_status_and_dashboard() {
    let (_d, app, store) = boxed();
    let (cookie, csrf) = setup(&app).await;
    let c = [("cookie", cookie.as_str())];
    add(&store, "r1;pc01;g1;00:00:00:00:00:01;DHCP;;;;;;1");
    add(&store, "r1;pc02;g1;00:00:00:00:00:02;DHCP;;;;;;1");
    add(&store, "r1;pc03;g1;00:00:00:00:00:03;DHCP;;;;;;1");

    // Before any report: empty status, nothing failing.
    let (s, j) = call(&app, Method::GET, "/api/v1/hosts/pc01/status", &c, None).await;
    assert_eq!(s, StatusCode::OK, "{j}");
    assert_eq!(j["hostname"], "pc01");
    assert_eq!(j["failing"], false);
    assert!(j["last_sync"].is_null() && j["last_error"].is_null(), "{j}");
    let (_, d) = call(&app, Method::GET, "/api/v1/dashboard", &c, None).await;
    assert_eq!(d["hosts_failing"], json!([]), "{d}");

    // pc01 synced, then failed; pc02 failed, then synced; pc03 is silent.
    let sync = || ClientReport::Sync {
        kind: SyncKind::Applied,
        image: "win11.qcow2".into(),
        version: Some("202611201200".into()),
        when: "202611221830".into(),
    };
    let fail = || ClientReport::Log {
        failure: Some("rsync error: disk full".into()),
    };
    store.record_client_report("pc01", sync(), 1000).expect("r");
    store.record_client_report("pc01", fail(), 2000).expect("r");
    store.record_client_report("pc02", fail(), 1000).expect("r");
    store.record_client_report("pc02", sync(), 2000).expect("r");

    let (s, j) = call(&app, Method::GET, "/api/v1/hosts/pc01/status", &c, None).await;
    assert_eq!(s, StatusCode::OK, "{j}");
    assert_eq!(j["last_sync"]["image"], "win11.qcow2");
    assert_eq!(j["last_sync"]["version"], "202611201200");
    assert_eq!(j["last_sync"]["when"], "202611221830");
    assert_eq!(j["last_error"]["message"], "rsync error: disk full");
    assert_eq!(j["last_error"]["source"], "linbo.log");
    assert_eq!(j["failing"], true);

    let (_, list) = call(&app, Method::GET, "/api/v1/hosts", &c, None).await;
    let by_name = |n: &str| {
        list.as_array()
            .expect("list")
            .iter()
            .find(|h| h["hostname"] == n)
            .cloned()
            .expect("host")
    };
    assert_eq!(by_name("pc01")["client_status"]["failing"], true);
    let pc02 = by_name("pc02");
    assert_eq!(pc02["client_status"]["failing"], false, "{pc02}");
    assert_eq!(
        pc02["client_status"]["last_error"]["message"], "rsync error: disk full",
        "an older error is kept"
    );
    assert!(by_name("pc03")["client_status"].is_null());

    let (_, d) = call(&app, Method::GET, "/api/v1/dashboard", &c, None).await;
    let failing = d["hosts_failing"].as_array().expect("list");
    assert_eq!(failing.len(), 1, "{d}");
    assert_eq!(failing[0]["hostname"], "pc01");
    assert_eq!(failing[0]["message"], "rsync error: disk full");

    // Unknown and bad names.
    let (s, _) = call(&app, Method::GET, "/api/v1/hosts/nope/status", &c, None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = call(&app, Method::GET, "/api/v1/hosts/..%2Fx/status", &c, None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    // Reads need a session.
    let (s, _) = call(&app, Method::GET, "/api/v1/hosts/pc01/status", &[], None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    // Dismissing needs CSRF, then clears the failure (once).
    let uri = "/api/v1/hosts/pc01/status/error";
    let (s, _) = call(&app, Method::DELETE, uri, &c, None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let with_csrf = [("cookie", cookie.as_str()), ("x-csrf-token", csrf.as_str())];
    let (s, j) = call(&app, Method::DELETE, uri, &with_csrf, None).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{j}");
    let (s, _) = call(&app, Method::DELETE, uri, &with_csrf, None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, j) = call(&app, Method::GET, "/api/v1/hosts/pc01/status", &c, None).await;
    assert!(j["last_error"].is_null(), "{j}");
    assert_eq!(j["last_sync"]["image"], "win11.qcow2");
    let (_, d) = call(&app, Method::GET, "/api/v1/dashboard", &c, None).await;
    assert_eq!(d["hosts_failing"], json!([]));
    let audit = store.recent_events(5).expect("events");
    assert!(
        audit.iter().any(|e| e.action == "client.error.clear"),
        "{audit:?}"
    );
}

/// The boot chain per host and group: set through the API (admin, CSRF),
/// shown in the host and group lists, audited; bad values are refused.
#[tokio::test]
async fn boot_chain_per_host_and_group() {
    let (_d, app, store) = boxed();
    let (cookie, csrf) = setup(&app).await;
    let c = [("cookie", cookie.as_str())];
    let cx = [("cookie", cookie.as_str()), ("x-csrf-token", csrf.as_str())];
    let (s, j) = call(
        &app,
        Method::PUT,
        "/api/v1/groups/g1",
        &cx,
        Some(json!({ "description": "" })),
    )
    .await;
    assert!(s.is_success(), "{j}");
    add(&store, "r1;pc01;g1;00:00:00:00:00:01;DHCP;;;;;;1");
    add(&store, "r1;pc02;g1;00:00:00:00:00:02;DHCP;;;;;;1");
    let chains = |hosts: &Value| -> Vec<(String, Value, Value)> {
        hosts
            .as_array()
            .expect("list")
            .iter()
            .map(|h| {
                (
                    h["hostname"].as_str().unwrap_or("").to_string(),
                    h["chain"].clone(),
                    h["effective_chain"].clone(),
                )
            })
            .collect()
    };
    let (_, hosts) = call(&app, Method::GET, "/api/v1/hosts", &c, None).await;
    assert_eq!(
        chains(&hosts),
        vec![
            ("pc01".into(), Value::Null, json!("ipxe")),
            ("pc02".into(), Value::Null, json!("ipxe"))
        ]
    );

    // Without the CSRF token: refused, nothing changes.
    let (s, _) = call(
        &app,
        Method::PUT,
        "/api/v1/hosts/pc01/chain",
        &c,
        Some(json!({ "chain": "grub" })),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, j) = call(
        &app,
        Method::PUT,
        "/api/v1/hosts/pc01/chain",
        &cx,
        Some(json!({ "chain": "grub" })),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{j}");
    assert_eq!(j["chain"], "grub");
    // The group on GRUB, pc02 back on iPXE by its own setting.
    let (s, j) = call(
        &app,
        Method::PUT,
        "/api/v1/groups/g1/chain",
        &cx,
        Some(json!({ "chain": "grub" })),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{j}");
    let (s, _) = call(
        &app,
        Method::PUT,
        "/api/v1/hosts/pc02/chain",
        &cx,
        Some(json!({ "chain": "ipxe" })),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = call(
        &app,
        Method::PUT,
        "/api/v1/hosts/pc01/chain",
        &cx,
        Some(json!({ "chain": null })),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (_, hosts) = call(&app, Method::GET, "/api/v1/hosts", &c, None).await;
    assert_eq!(
        chains(&hosts),
        vec![
            ("pc01".into(), Value::Null, json!("grub")),
            ("pc02".into(), json!("ipxe"), json!("ipxe"))
        ]
    );
    let (_, groups) = call(&app, Method::GET, "/api/v1/groups", &c, None).await;
    assert_eq!(groups[0]["chain"], "grub", "{groups}");

    // Bad input: unknown chain, unknown field, a group without a chain,
    // unknown host — each a clear error, nothing changed.
    for (uri, body, want) in [
        (
            "/api/v1/hosts/pc01/chain",
            json!({ "chain": "pxelinux" }),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/v1/hosts/pc01/chain",
            json!({ "chain": "grub", "x": 1 }),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/v1/groups/g1/chain",
            json!({ "chain": null }),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/v1/hosts/nope/chain",
            json!({ "chain": "grub" }),
            StatusCode::NOT_FOUND,
        ),
    ] {
        let (s, j) = call(&app, Method::PUT, uri, &cx, Some(body)).await;
        assert_eq!(s, want, "{uri}: {j}");
        assert!(
            j["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{j}"
        );
    }
    assert_eq!(store.host_settings("pc01").expect("settings").chain, None);
    assert_eq!(
        store.group_settings("g1").expect("settings").chain,
        bootbox_store::BootChain::Grub
    );

    // Every change is in the audit log.
    let audits = store
        .recent_events(100)
        .expect("events")
        .into_iter()
        .filter(|e| e.kind == bootbox_store::EventKind::Audit && e.action.ends_with(".settings"))
        .count();
    assert_eq!(audits, 4);
}
