//! End to end over loopback: a central (the real axum router on a real
//! socket), boxes enrolling, fetching, verifying and refusing bad bytes.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bootbox_central::db::CentralDb;
use bootbox_central::fetch::{sync, Activate, BoxDir, Outcome};
use bootbox_central::manifest::Manifest;
use bootbox_central::policy::{Policy, Window};
use bootbox_central::publish::{publish, PublishRequest};
use bootbox_central::server::{router, Central, DownloadSlots};

struct Record(Vec<(String, Vec<u8>)>);

impl Activate for Record {
    fn activate(&mut self, m: &Manifest, dir: &Path) -> Result<String, String> {
        let f = &m.files[0].name;
        let bytes = std::fs::read(dir.join(f)).map_err(|e| e.to_string())?;
        self.0.push((m.id(), bytes));
        Ok(format!("{f} current"))
    }
}

struct Setup {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    central: Arc<Central>,
    url: String,
}

async fn central() -> Setup {
    let tmp = tempfile::tempdir().expect("tmp");
    let root = tmp.path().to_path_buf();
    let central = Arc::new(Central {
        db: CentralDb::new(&root.join("central.redb")),
        key: bootbox_firmware::keys::generate().expect("key"),
        releases: root.join("releases"),
        guard: Default::default(),
        downloads: DownloadSlots::new(1),
    });
    std::fs::create_dir_all(&central.releases).expect("mkdir");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let app = router(central.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Setup {
        _tmp: tmp,
        root,
        central,
        url,
    }
}

fn image(root: &Path, version: &str, len: usize, seed: u8) -> PathBuf {
    let dir = root.join(format!("src-{version}")).join("win11");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let data: Vec<u8> = (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect();
    std::fs::write(dir.join("win11.qcow2"), data).expect("write");
    dir
}

fn publish_v(s: &Setup, version: &str, len: usize, seed: u8) {
    let req = PublishRequest {
        source: image(&s.root, version, len, seed),
        version: version.into(),
        notes: format!("release {version}"),
        min_box_version: "0.1.0".into(),
    };
    publish(&s.central.db, &s.central.releases, &s.central.key, &req).expect("publish");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrol_fetch_verify_activate_and_refuse_bad_bytes() {
    let s = central().await;
    let token = s
        .central
        .db
        .add_school_token("school-a", 60_000)
        .expect("token");
    let bx = BoxDir::new(&s.root.join("box1"));
    let wrong = bx
        .enrol(&s.url, &token, "0.1.0", Some("0000000000000000"))
        .await;
    assert!(wrong.is_err(), "fingerprint mismatch refuses to enrol");
    // The token was never sent, so it still works with the right fingerprint.
    let fp = bootbox_central::keys::fingerprint(&s.central.key.verifying_key());
    let cfg = bx
        .enrol(&s.url, &token, "0.1.0", Some(&fp[..16]))
        .await
        .expect("enrol");
    assert_eq!(cfg.school, "school-a");
    let again = BoxDir::new(&s.root.join("box2"))
        .enrol(&s.url, &token, "0.1.0", None)
        .await;
    assert!(again
        .expect_err("spent")
        .to_string()
        .contains("already used"));

    publish_v(&s, "1", 300_000, 1);
    let mut rec = Record(Vec::new());
    let out = sync(&bx, "0.1.0", &mut rec).await.expect("sync");
    assert!(
        matches!(&out[0], Outcome::Activated { release, bytes: 300_000, .. } if release == "win11-1"),
        "{out:?}"
    );
    assert_eq!(rec.0.len(), 1);
    let out = sync(&bx, "0.1.0", &mut rec).await.expect("sync");
    assert_eq!(out, vec![Outcome::Current("win11-1".into())]);

    // Tampered manifest: the newer release is refused, nothing activated.
    publish_v(&s, "2", 1000, 2);
    let mpath = s.central.releases.join("win11-2/manifest.json");
    let text = std::fs::read_to_string(&mpath).expect("read");
    std::fs::write(&mpath, text.replace("release 2", "release 3")).expect("tamper");
    let out = sync(&bx, "0.1.0", &mut rec).await.expect("sync");
    assert!(out.iter().any(|o| matches!(o, Outcome::Refused { release, reason, .. } if release == "win11-2" && reason.contains("bad signature"))), "{out:?}");
    assert_eq!(rec.0.len(), 1);

    // Corrupted file on the central: downloaded, refused, not activated.
    publish_v(&s, "3", 200_000, 3);
    let f = s.central.releases.join("win11-3/win11.qcow2");
    let mut data = std::fs::read(&f).expect("read");
    data[1234] ^= 0xff;
    std::fs::write(&f, &data).expect("corrupt");
    let out = sync(&bx, "0.1.0", &mut rec).await.expect("sync");
    assert!(out.iter().any(|o| matches!(o, Outcome::Refused { release, reason, .. } if release == "win11-3" && reason.contains("sha256"))), "{out:?}");
    assert_eq!(rec.0.len(), 1);
    let statuses = s.central.db.statuses().expect("status");
    let st = |r: &str| {
        statuses
            .iter()
            .find(|x| x.release == r)
            .map(|x| x.state.clone())
    };
    assert_eq!(st("win11-1").as_deref(), Some("active"));
    assert_eq!(st("win11-2").as_deref(), Some("rejected"));
    assert_eq!(st("win11-3").as_deref(), Some("rejected"));

    // A release for newer boxes only is refused and reported, not fetched.
    let req = PublishRequest {
        source: image(&s.root, "new", 1000, 5),
        version: "new".into(),
        notes: String::new(),
        min_box_version: "99.0.0".into(),
    };
    publish(&s.central.db, &s.central.releases, &s.central.key, &req).expect("publish");
    let out = sync(&bx, "0.1.0", &mut rec).await.expect("sync");
    assert!(out.iter().any(|o| matches!(o, Outcome::Refused { release, reason, bytes: 0 } if release == "win11-new" && reason.contains("needs box version 99.0.0"))), "{out:?}");
    assert_eq!(rec.0.len(), 1);

    // Repaired on the central: the next round gets it.
    data[1234] ^= 0xff;
    std::fs::write(&f, &data).expect("repair");
    let out = sync(&bx, "0.1.0", &mut rec).await.expect("sync");
    assert!(
        out.iter()
            .any(|o| matches!(o, Outcome::Activated { release, .. } if release == "win11-3")),
        "{out:?}"
    );
    assert_eq!(rec.0.last().expect("activated").1, data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_download_resumes_with_range() {
    let s = central().await;
    let token = s
        .central
        .db
        .add_school_token("school-b", 60_000)
        .expect("token");
    let bx = BoxDir::new(&s.root.join("box"));
    bx.enrol(&s.url, &token, "0.1.0", None)
        .await
        .expect("enrol");
    publish_v(&s, "1", 500_000, 9);
    // As if a previous run was killed after 200 000 bytes.
    let full = std::fs::read(s.central.releases.join("win11-1/win11.qcow2")).expect("read");
    let dl = bx.download_dir("win11-1");
    std::fs::create_dir_all(&dl).expect("mkdir");
    std::fs::write(dl.join("win11.qcow2.part"), &full[..200_000]).expect("part");
    let mut rec = Record(Vec::new());
    let out = sync(&bx, "0.1.0", &mut rec).await.expect("sync");
    assert!(
        matches!(&out[0], Outcome::Activated { bytes: 300_000, .. }),
        "{out:?}"
    );
    assert_eq!(rec.0[0].1, full);
}

/// A window that is closed now (starts in two hours, one hour long).
fn closed_window() -> Window {
    let now = Policy::default().minute_now().expect("now");
    let at = |m: u16| format!("{:02}:{:02}", (m / 60) % 24, m % 60);
    format!("{}-{}", at(now + 120), at(now + 180))
        .parse()
        .expect("window")
}

/// The box's schedule and the central's cap: outside the transfer window
/// nothing is fetched (reported `waiting`); with the central at its cap the
/// box waits and resumes later; outside the activation window a verified
/// release waits on disk and becomes current, without a second download,
/// once the window opens; a bandwidth limit still delivers every byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn windows_cap_and_limit() {
    let s = central().await;
    let token = s
        .central
        .db
        .add_school_token("school-c", 60_000)
        .expect("token");
    let bx = BoxDir::new(&s.root.join("box"));
    bx.enrol(&s.url, &token, "0.1.0", None)
        .await
        .expect("enrol");
    publish_v(&s, "1", 400_000, 7);
    let mut rec = Record(Vec::new());
    let status = || {
        s.central
            .db
            .statuses()
            .expect("status")
            .into_iter()
            .find(|x| x.release == "win11-1")
            .map(|x| (x.state, x.detail))
            .expect("reported")
    };

    // Nights only, and it is not night: nothing fetched.
    bx.save_policy(&Policy {
        transfer_window: Some(closed_window()),
        ..Default::default()
    })
    .expect("policy");
    let out = sync(&bx, "0.1.0", &mut rec).await.expect("sync");
    assert!(
        matches!(&out[0], Outcome::Waiting { reason, bytes: 0, .. } if reason.contains("transfer window")),
        "{out:?}"
    );
    assert_eq!(status().0, "waiting");
    assert!(!bx.download_dir("win11-1").join("win11.qcow2").exists());

    // The central's only download slot is taken by another box.
    bx.save_policy(&Policy {
        activation_window: Some(closed_window()),
        limit_bytes_per_sec: Some(4_000_000),
        ..Default::default()
    })
    .expect("policy");
    let slot = s.central.downloads.try_take().expect("free slot");
    let out = sync(&bx, "0.1.0", &mut rec).await.expect("sync");
    assert!(
        matches!(&out[0], Outcome::Waiting { reason, .. } if reason.contains("try again later")),
        "{out:?}"
    );
    assert_eq!(status().0, "waiting");
    drop(slot);

    // Downloaded at the limit and verified, but not activated outside the window.
    let out = sync(&bx, "0.1.0", &mut rec).await.expect("sync");
    assert!(
        matches!(&out[0], Outcome::Verified { bytes: 400_000, .. }),
        "{out:?}"
    );
    assert!(rec.0.is_empty(), "nothing activated outside the window");
    let (state, detail) = status();
    assert_eq!(state, "verified");
    assert!(detail.contains("activation in the window"), "{detail}");
    // The slot came back when the body was done.
    assert!(s.central.downloads.try_take().is_some());

    // The window opens: activated from disk, not downloaded again.
    bx.save_policy(&Policy {
        transfer_window: Some(closed_window()),
        ..Default::default()
    })
    .expect("policy");
    let out = sync(&bx, "0.1.0", &mut rec).await.expect("sync");
    assert!(
        matches!(&out[0], Outcome::Activated { bytes: 0, .. }),
        "{out:?}"
    );
    let full = std::fs::read(s.central.releases.join("win11-1/win11.qcow2")).expect("read");
    assert_eq!(rec.0[0].1, full);
    assert_eq!(status().0, "active");

    // A damaged policy file is a clear error, not a silent default.
    std::fs::write(
        s.root.join("box/central/policy.json"),
        "{\"transfer_window\": \"nights\"}",
    )
    .expect("write");
    let e = sync(&bx, "0.1.0", &mut rec).await.expect_err("damaged");
    assert!(e.to_string().contains("policy.json is damaged"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_replayed_and_foreign_requests_are_refused() {
    let s = central().await;
    let ep = s.url.trim_start_matches("http://").to_string();
    let raw = |req: String| {
        let ep = ep.clone();
        async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut c = tokio::net::TcpStream::connect(&ep).await.expect("connect");
            c.write_all(req.as_bytes()).await.expect("write");
            let mut out = String::new();
            let _ = c.read_to_string(&mut out).await;
            out
        }
    };
    let r = raw("GET /central/v1/releases HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".into())
        .await;
    assert!(r.starts_with("HTTP/1.1 401"), "{r}");
    let token = s
        .central
        .db
        .add_school_token("school-c", 60_000)
        .expect("token");
    let bx = BoxDir::new(&s.root.join("box"));
    bx.enrol(&s.url, &token, "0.1.0", None)
        .await
        .expect("enrol");
    let (client, _) = bx.client().expect("client");
    let h = bootbox_central::auth::sign(
        &client.key,
        &client.box_id,
        "GET",
        "/central/v1/releases",
        b"",
        bootbox_central::now_ms(),
    )
    .expect("sign");
    let req = format!(
        "GET /central/v1/releases HTTP/1.1\r\nHost: x\r\nConnection: close\r\nx-bootbox-box: {}\r\nx-bootbox-time: {}\r\nx-bootbox-nonce: {}\r\nx-bootbox-signature: {}\r\n\r\n",
        h.box_id, h.time_ms, h.nonce, h.signature
    );
    assert!(raw(req.clone()).await.starts_with("HTTP/1.1 200"));
    let r = raw(req.clone()).await;
    assert!(
        r.starts_with("HTTP/1.1 401") && r.contains("replayed"),
        "{r}"
    );
    let other = req.replace(&h.box_id, "box-0000000000000000");
    assert!(raw(other).await.contains("unknown box"));
}
