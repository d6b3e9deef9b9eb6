//! Sessions survive a restart (they are kept in the registry under the
//! SHA-256 of their id, never the id itself), sign-out ends them for good,
//! sign-out everywhere reaches sessions from before the restart, and the
//! idle limit counts across restarts.

use std::path::Path;
use std::sync::Arc;

use axum::http::{Method, StatusCode};
use axum::Router;
use bootbox_store::sessions::WebSession;
use bootbox_store::Store;
use bootbox_web::auth::{session_key, IDLE};
use bootbox_web::{router, AppState};
use serde_json::json;

mod common;
use common::call;

const PW: &str = "correct horse battery";

/// A "service run": store + app on the data file.
fn start(path: &Path) -> (Arc<Store>, Router) {
    let store = Arc::new(Store::open(path).expect("store"));
    (store.clone(), router(AppState::new(store)))
}

async fn login(app: &Router) -> (String, String) {
    let (s, v, c) = call(
        app,
        Method::POST,
        "/api/v1/auth/login",
        &[],
        Some(json!({ "username": "admin", "password": PW })),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    (
        c.expect("cookie"),
        v["csrf"].as_str().expect("csrf").to_string(),
    )
}

fn cookie_id(cookie: &str) -> String {
    cookie.trim_start_matches("bbx_session=").to_string()
}

#[tokio::test]
async fn sessions_survive_a_restart_and_end_for_good() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("bootbox.redb");
    let (cookie, csrf, other) = {
        let (store, app) = start(&db);
        let (s, v, _) = call(
            &app,
            Method::POST,
            "/api/v1/setup",
            &[],
            Some(json!({ "password": PW, "school_name": "T", "dhcp_mode": "off" })),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let (cookie, csrf) = login(&app).await;
        let (other, _) = login(&app).await;
        // Stored hashed: no stored key or value contains the cookie's id.
        let id = cookie_id(&cookie);
        let stored = store.web_sessions().expect("sessions");
        assert!(stored.iter().any(|(k, _)| *k == session_key(&id)));
        assert!(stored
            .iter()
            .all(|(k, w)| !k.contains(&id) && !w.csrf.contains(&id) && !w.user.contains(&id)));
        (cookie, csrf, other)
    }; // service stops: store and app dropped

    let (store, app) = start(&db);
    let (s, v, _) = call(
        &app,
        Method::GET,
        "/api/v1/auth/me",
        &[("cookie", &cookie)],
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "still signed in after the restart: {v}");
    assert_eq!(v["user"], "admin");
    assert_eq!(v["csrf"], csrf.as_str(), "same CSRF token");
    // A mutating call with the old CSRF token works.
    let (s, v, _) = call(
        &app,
        Method::PUT,
        "/api/v1/rooms/r1",
        &[("cookie", &cookie), ("x-csrf-token", &csrf)],
        Some(json!({ "description": "x" })),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    // Sign out: gone, also after the next restart.
    let (s, _, _) = call(
        &app,
        Method::POST,
        "/api/v1/auth/logout",
        &[("cookie", &cookie), ("x-csrf-token", &csrf)],
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert!(store
        .web_session(&session_key(&cookie_id(&cookie)))
        .expect("read")
        .is_none());
    drop((store, app));
    let (store, app) = start(&db);
    let (s, _, _) = call(
        &app,
        Method::GET,
        "/api/v1/auth/me",
        &[("cookie", &cookie)],
        None,
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "signed out stays signed out");

    // Sign out everywhere from a new session ends the one from before the restart.
    let (fresh, fresh_csrf) = login(&app).await;
    let (s, v, _) = call(
        &app,
        Method::POST,
        "/api/v1/auth/logout-all",
        &[("cookie", &fresh), ("x-csrf-token", &fresh_csrf)],
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        v["ended"], 3,
        "the fresh one and two from before the restart (the wizard's and `other`)"
    );
    let (s, _, _) = call(
        &app,
        Method::GET,
        "/api/v1/auth/me",
        &[("cookie", &other)],
        None,
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(store.web_sessions().expect("sessions").is_empty());
}

#[tokio::test]
async fn idle_sessions_expire_across_restarts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("bootbox.redb");
    let (store, app) = start(&db);
    let (s, _, _) = call(
        &app,
        Method::POST,
        "/api/v1/setup",
        &[],
        Some(json!({ "password": PW, "school_name": "T", "dhcp_mode": "off" })),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    // A session whose last request lies longer back than the idle limit
    // (as if the box had been off over the weekend).
    let id = "f".repeat(64);
    let now = bootbox_store::model::now_ms();
    let idle = u64::try_from(IDLE.as_millis()).expect("ms");
    store
        .put_web_session(
            &session_key(&id),
            &WebSession {
                user: "admin".into(),
                csrf: "c".repeat(48),
                created_ms: now - idle - 120_000,
                last_seen_ms: now - idle - 60_000,
            },
        )
        .expect("put");
    let cookie = format!("bbx_session={id}");
    let (s, _, _) = call(
        &app,
        Method::GET,
        "/api/v1/auth/me",
        &[("cookie", &cookie)],
        None,
    )
    .await;
    assert_eq!(
        s,
        StatusCode::UNAUTHORIZED,
        "an idle session is not accepted"
    );
    assert!(
        store
            .web_session(&session_key(&id))
            .expect("read")
            .is_none(),
        "and removed"
    );
    // One used a minute ago is fine.
    store
        .put_web_session(
            &session_key(&id),
            &WebSession {
                user: "admin".into(),
                csrf: "c".repeat(48),
                created_ms: now - 120_000,
                last_seen_ms: now - 60_000,
            },
        )
        .expect("put");
    let (s, v, _) = call(
        &app,
        Method::GET,
        "/api/v1/auth/me",
        &[("cookie", &cookie)],
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
}
