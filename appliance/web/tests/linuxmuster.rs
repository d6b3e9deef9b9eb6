//! The wizard's linuxmuster export upload: dry run previews and changes
//! nothing, commit imports hosts and groups with their start.conf, bad
//! lines and bad start.conf values are reported at their lines, unsafe
//! archive member names (`..`, absolute) reject the whole archive.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, StatusCode};
use axum::Router;
use bootbox_store::Store;
use bootbox_web::{router, AppState};
use serde_json::{json, Value};

mod common;
use common::call_raw as call;

const PW: &str = "correct horse battery";
const DEVICES: &str = "r1;pc1;win11;00:00:00:00:00:01;10.0.0.1;;;;;;1\nr1;pc2;win11;00:00:00:00:00:02;10.0.0.2;;;;;;1\nr2;pc3;ubuntu;00:00:00:00:00:03;DHCP;;;;;;1\n";
const START_CONF: &str = "[LINBO]\nServer = 10.0.0.5\nGroup = win11\nCache = /dev/sda4\n";

/// Fresh box, wizard done; returns (dir, app, store, cookie, csrf).
async fn boxed() -> (tempfile::TempDir, Router, Arc<Store>, String, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(Store::open(dir.path().join("t.redb")).expect("store"));
    let app = router(AppState::new(store.clone()));
    let body = json!({ "password": PW, "school_name": "Test", "dhcp_mode": "off" }).to_string();
    let (s, v, cookie) = call(
        &app,
        Method::POST,
        "/api/v1/setup",
        &[("content-type", "application/json")],
        Body::from(body),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let csrf = v["csrf"].as_str().expect("csrf").to_string();
    (dir, app, store, cookie.expect("cookie"), csrf)
}

/// A .tar.gz with `(name, content)` members; names are written raw into
/// the header, so unsafe names can be built too.
fn targz(members: &[(&str, &str)]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut b = tar::Builder::new(gz);
    for (name, text) in members {
        let mut h = tar::Header::new_old();
        {
            let raw = &mut h.as_old_mut().name;
            raw[..name.len()].copy_from_slice(name.as_bytes());
        }
        h.set_size(text.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        b.append(&h, text.as_bytes()).expect("append");
    }
    b.into_inner().expect("tar").finish().expect("gz")
}

async fn upload(
    app: &Router,
    cookie: &str,
    csrf: &str,
    query: &str,
    archive: Vec<u8>,
) -> (StatusCode, Value) {
    let (s, v, _) = call(
        app,
        Method::POST,
        &format!("/api/v1/import/linuxmuster?{query}"),
        &[
            ("cookie", cookie),
            ("x-csrf-token", csrf),
            ("content-type", "application/gzip"),
        ],
        Body::from(archive),
    )
    .await;
    (s, v)
}

#[tokio::test]
async fn dry_run_previews_and_commit_imports() {
    let (_d, app, store, cookie, csrf) = boxed().await;
    let archive = targz(&[
        (
            "etc/linuxmuster/sophomorix/default-school/devices.csv",
            DEVICES,
        ),
        ("srv/linbo/start.conf.win11", START_CONF),
        ("srv/linbo/boot/grub/grub.cfg", "ignored"),
    ]);
    let (s, v) = upload(&app, &cookie, &csrf, "dry_run=true", archive.clone()).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["dry_run"], true);
    assert_eq!(v["applied"], false);
    assert_eq!(v["added"].as_array().map(Vec::len), Some(3), "{v}");
    assert_eq!(v["start_confs"], json!(["win11"]));
    assert_eq!(
        v["devices_csv"],
        "etc/linuxmuster/sophomorix/default-school/devices.csv"
    );
    assert!(v["notes"].to_string().contains("grub.cfg"), "{v}");
    assert_eq!(
        store.host_count().expect("count"),
        0,
        "dry run imports nothing"
    );

    let (s, v) = upload(&app, &cookie, &csrf, "dry_run=false", archive).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["applied"], true);
    assert_eq!(store.host_count().expect("count"), 3);
    let g = store.group("win11").expect("group").expect("exists");
    assert_eq!(g.start_conf.as_deref(), Some(START_CONF));
    let audit = store.recent_events(50).expect("events");
    assert!(
        audit.iter().any(|e| e.actor.starts_with("web:admin@")),
        "import audited"
    );
}

#[tokio::test]
async fn bad_lines_and_bad_start_conf_are_reported_at_their_lines() {
    let (_d, app, store, cookie, csrf) = boxed().await;
    let bad_csv = DEVICES.replace("00:00:00:00:00:02", "00:00:00:00:00:zz");
    let (s, v) = upload(
        &app,
        &cookie,
        &csrf,
        "dry_run=false",
        targz(&[("devices.csv", &bad_csv), ("start.conf.win11", START_CONF)]),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["error"]["code"], "invalid_csv");
    assert_eq!(v["errors"][0]["line"], 2, "{v}");
    assert_eq!(v["errors"][0]["file"], "devices.csv");
    let bad_conf = format!("{START_CONF}RootTimeout = soon\n");
    let (s, v) = upload(
        &app,
        &cookie,
        &csrf,
        "dry_run=false",
        targz(&[
            ("devices.csv", DEVICES),
            ("srv/linbo/start.conf.win11", &bad_conf),
        ]),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["error"]["code"], "invalid_startconf");
    assert!(
        v["problems"][0]
            .as_str()
            .is_some_and(|p| p.starts_with("srv/linbo/start.conf.win11:5:")),
        "{v}"
    );
    assert_eq!(store.host_count().expect("count"), 0, "nothing imported");
}

#[tokio::test]
async fn unsafe_member_names_reject_the_archive() {
    let (_d, app, store, cookie, csrf) = boxed().await;
    let victim = std::env::temp_dir().join("bbx-lm-traversal-victim");
    let _ = std::fs::remove_file(&victim);
    for name in [
        "../../../../../../tmp/bbx-lm-traversal-victim",
        "/tmp/bbx-lm-traversal-victim",
        "srv/linbo/../../../../../../../tmp/bbx-lm-traversal-victim",
    ] {
        let (s, v) = upload(
            &app,
            &cookie,
            &csrf,
            "dry_run=false",
            targz(&[("devices.csv", DEVICES), (name, "owned")]),
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{name}: {v}");
        assert_eq!(v["error"]["code"], "bad_archive", "{name}");
        assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("unsafe member name")),
            "{v}"
        );
        assert!(!victim.exists(), "{name} escaped the temp folder");
    }
    assert_eq!(store.host_count().expect("count"), 0);
    // Not a gzip at all / no usable member.
    let (s, v) = upload(&app, &cookie, &csrf, "", b"PK\x03\x04zip".to_vec()).await;
    assert_eq!(
        (s, v["error"]["code"].clone()),
        (StatusCode::BAD_REQUEST, json!("bad_archive"))
    );
    let (s, v) = upload(&app, &cookie, &csrf, "", targz(&[("readme.txt", "hi")])).await;
    assert_eq!(
        (s, v["error"]["code"].clone()),
        (StatusCode::BAD_REQUEST, json!("bad_archive"))
    );
}
