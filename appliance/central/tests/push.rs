//! End to end over loopback: a central (the real axum router on a real
//! socket), boxes enrolling, fetching, verifying and refusing bad bytes.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bootbox_central::db::{CentralDb, Wave};
use bootbox_central::fetch::{sync, wait_for_news, Activate, BoxDir, Outcome};
use bootbox_central::manifest::{verify_file, FileEntry, Manifest};
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

/// A box in `<root>/<dir>` enrolled with a fresh token of `school`.
async fn enrolled(s: &Setup, school: &str, dir: &str) -> BoxDir {
    let token = s
        .central
        .db
        .add_school_token(school, 60_000)
        .expect("token");
    let bx = BoxDir::new(&s.root.join(dir));
    bx.enrol(&s.url, &token, "0.1.0", None)
        .await
        .expect("enrol");
    bx
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
        wave: Wave::All,
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
        wave: Wave::All,
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
    let bx = enrolled(&s, "school-b", "box").await;
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

/// Rollout waves: a pilot-wave release reaches only pilot schools (the
/// others neither see it nor can fetch its files) until it is promoted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pilot_wave_first_then_all() {
    let s = central().await;
    let mut boxes = Vec::new();
    for school in ["pilot-school", "other-school"] {
        boxes.push(enrolled(&s, school, school).await);
    }
    s.central.db.set_pilot("pilot-school", true).expect("pilot");
    assert!(s.central.db.set_pilot("nope", true).is_err());
    let req = PublishRequest {
        source: image(&s.root, "p1", 100_000, 4),
        version: "p1".into(),
        notes: String::new(),
        min_box_version: "0.1.0".into(),
        wave: Wave::Pilot,
    };
    publish(&s.central.db, &s.central.releases, &s.central.key, &req).expect("publish");
    let mut pilot = Record(Vec::new());
    let mut other = Record(Vec::new());
    let out = sync(&boxes[0], "0.1.0", &mut pilot).await.expect("sync");
    assert!(
        matches!(&out[0], Outcome::Activated { release, .. } if release == "win11-p1"),
        "{out:?}"
    );
    let out = sync(&boxes[1], "0.1.0", &mut other).await.expect("sync");
    assert!(out.is_empty(), "not in this school's wave yet: {out:?}");
    // Not by guessing the file name either.
    let (client, _) = boxes[1].client().expect("client");
    let part = s.root.join("guess.part");
    let e = client
        .download("win11-p1", "win11.qcow2", &part, 100_000, None)
        .await
        .expect_err("hidden");
    assert!(e.to_string().contains("404"), "{e}");
    s.central
        .db
        .set_wave("win11-p1", Wave::All)
        .expect("promote");
    let out = sync(&boxes[1], "0.1.0", &mut other).await.expect("sync");
    assert!(
        matches!(&out[0], Outcome::Activated { release, .. } if release == "win11-p1"),
        "{out:?}"
    );
    assert_eq!(pilot.0[0].1, other.0[0].1);
}

/// Prompt notification: a box's long-poll is answered when a release is
/// published (by another process, as the admin CLI does), and a poll
/// without news ends unchanged; `wait_for_news` turns that into "go now".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_poll_announces_a_release() {
    let s = central().await;
    let bx = enrolled(&s, "school-d", "box").await;
    let (client, _) = bx.client().expect("client");
    let first = client.releases().await.expect("list");
    assert!(first.releases.is_empty() && first.changed && !first.tag.is_empty());
    // Nothing new: the poll ends after its wait with changed = false.
    let quiet = client.releases_since(&first.tag, 1).await.expect("poll");
    assert!(!quiet.changed && quiet.tag == first.tag, "{quiet:?}");
    // Published while the box waits: answered with the new set.
    let waiting = tokio::spawn({
        let (client, tag) = (client.clone(), first.tag.clone());
        async move { client.releases_since(&tag, 20).await }
    });
    let news = tokio::spawn({
        let bx = bx.clone();
        async move { wait_for_news(&bx, std::time::Duration::from_secs(20)).await }
    });
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    publish_v(&s, "1", 1000, 1);
    let got = waiting.await.expect("join").expect("poll");
    assert!(got.changed && got.tag != first.tag, "{got:?}");
    assert_eq!(got.releases.len(), 1);
    assert!(
        news.await.expect("join").expect("news"),
        "wait_for_news saw the release"
    );
    assert!(client.releases_since("not-a-tag", 1).await.is_err());
}

/// An activator that keeps every activated release on disk (as the
/// catalogue's backups do) and offers those bytes again.
struct Keep {
    dir: PathBuf,
    log: Vec<String>,
}

impl Activate for Keep {
    fn activate(&mut self, m: &Manifest, dir: &Path) -> Result<String, String> {
        let to = self.dir.join(m.id());
        std::fs::create_dir_all(&to).map_err(|e| e.to_string())?;
        for f in &m.files {
            std::fs::copy(dir.join(&f.name), to.join(&f.name)).map_err(|e| e.to_string())?;
        }
        self.log.push(m.id());
        Ok("kept".into())
    }

    fn local_copy(&mut self, _m: &Manifest, f: &FileEntry) -> Option<PathBuf> {
        let kept = std::fs::read_dir(&self.dir).ok()?;
        kept.flatten()
            .map(|e| e.path().join(&f.name))
            .find(|p| verify_file(f, p).is_ok())
    }
}

/// Central rollback: a withdrawn release disappears for every box; a box
/// goes back to the newest release still out, taking its bytes from what
/// it kept (no download), and is then current on it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn withdrawn_release_rolls_boxes_back_from_their_own_copy() {
    let s = central().await;
    let bx = enrolled(&s, "school-e", "box").await;
    let mut keep = Keep {
        dir: s.root.join("kept"),
        log: Vec::new(),
    };
    publish_v(&s, "1", 200_000, 1);
    let out = sync(&bx, "0.1.0", &mut keep).await.expect("sync");
    assert!(
        matches!(&out[0], Outcome::Activated { bytes: 200_000, .. }),
        "{out:?}"
    );
    publish_v(&s, "2", 200_000, 2);
    let out = sync(&bx, "0.1.0", &mut keep).await.expect("sync");
    assert!(
        matches!(&out[0], Outcome::Activated { release, .. } if release == "win11-2"),
        "{out:?}"
    );
    // Release 2 is bad: withdrawn on the central.
    s.central
        .db
        .set_withdrawn("win11-2", true)
        .expect("withdraw");
    // Even outside the transfer window: no transfer is needed.
    bx.save_policy(&Policy {
        transfer_window: Some(closed_window()),
        ..Default::default()
    })
    .expect("policy");
    let out = sync(&bx, "0.1.0", &mut keep).await.expect("sync");
    assert!(
        matches!(&out[0], Outcome::Activated { release, bytes: 0, .. } if release == "win11-1"),
        "{out:?}"
    );
    assert_eq!(keep.log, ["win11-1", "win11-2", "win11-1"]);
    assert_eq!(bx.state().expect("state").active["win11"], "win11-1");
    // Its files are gone for boxes too.
    let (client, _) = bx.client().expect("client");
    let e = client
        .download(
            "win11-2",
            "win11.qcow2",
            &s.root.join("x.part"),
            200_000,
            None,
        )
        .await
        .expect_err("withdrawn");
    assert!(e.to_string().contains("404"), "{e}");
    let out = sync(&bx, "0.1.0", &mut keep).await.expect("sync");
    assert_eq!(out, vec![Outcome::Current("win11-1".into())]);
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
    let bx = enrolled(&s, "school-c", "box").await;
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
    let bx = enrolled(&s, "school-c", "box").await;
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
