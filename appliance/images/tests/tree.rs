//! The image tree: uploads, promotion with backups, restore, retention,
//! the in-use guard, and recovery from crashes at every step.

use std::fs;
use std::path::Path;

use bootbox_images::{hex, ImageError, ImageTree, UploadLimits};
use bootbox_store::Group;
use sha2::{Digest, Sha256};

fn tree() -> (tempfile::TempDir, ImageTree) {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = ImageTree::open(&dir.path().join("linbo")).expect("open");
    (dir, t)
}

fn upload(
    t: &ImageTree,
    file: &str,
    data: &[u8],
    ts: &str,
    comment: &str,
) -> bootbox_images::Promoted {
    let mut up = t
        .begin_upload(file, Some(data.len() as u64), UploadLimits::default())
        .expect("begin");
    for chunk in data.chunks(7) {
        up.write(chunk).expect("write");
    }
    let sha = hex(&Sha256::digest(data));
    let done = up.finish(Some(&sha)).expect("finish");
    t.promote(done, comment, None, ts).expect("promote")
}

fn read(root: &Path, rel: &str) -> String {
    fs::read_to_string(root.join("linbo/images").join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

#[test]
fn upload_promote_backup_restore() {
    let (d, t) = tree();
    let first = upload(&t, "win11.qcow2", b"version-one", "202501011200", "first");
    assert_eq!(first.backup, None);
    assert_eq!(first.sha256, hex(&Sha256::digest(b"version-one")));
    assert!(read(d.path(), "win11/win11.qcow2.info").contains("timestamp=\"202501011200\""));
    assert!(read(d.path(), "win11/win11.qcow2.info").contains("imagesize=\"11\""));
    upload(&t, "win11.qdiff", b"diff-one", "202501021200", "diff");

    let second = upload(&t, "win11.qcow2", b"version-two!", "202502011200", "second");
    assert_eq!(second.backup.as_deref(), Some("202501011200"));
    assert_eq!(read(d.path(), "win11/win11.qcow2"), "version-two!");
    assert_eq!(
        read(d.path(), "win11/backups/202501011200/win11.qcow2"),
        "version-one"
    );
    // A new base image retires the differential image built on the old one.
    assert_eq!(
        read(d.path(), "win11/backups/202501011200/win11.qdiff"),
        "diff-one"
    );
    assert!(!d.path().join("linbo/images/win11/win11.qdiff").exists());
    let desc = read(d.path(), "win11/win11.qcow2.desc");
    assert!(desc.starts_with("01.02.2025 12:00: second"), "{desc}");
    assert!(desc.contains("first"), "history kept: {desc}");

    let img = t.scan_image("win11").expect("scanned");
    let summary: Vec<(String, Option<String>)> = img
        .versions
        .iter()
        .map(|v| (v.file.clone(), v.backup.clone()))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("win11.qcow2".into(), None),
            ("win11.qcow2".into(), Some("202501011200".into())),
            ("win11.qdiff".into(), Some("202501011200".into())),
        ]
    );
    assert_eq!(
        img.versions[0].sha256.as_deref(),
        Some(second.sha256.as_str())
    );

    t.restore("win11", "202501011200").expect("restore");
    assert_eq!(read(d.path(), "win11/win11.qcow2"), "version-one");
    assert_eq!(read(d.path(), "win11/win11.qdiff"), "diff-one");
    assert_eq!(
        read(d.path(), "win11/backups/202502011200/win11.qcow2"),
        "version-two!",
        "nothing lost"
    );
    assert!(matches!(
        t.restore("win11", "209901011200"),
        Err(ImageError::NotFound(_))
    ));
}

#[test]
fn bad_uploads_change_nothing() {
    let (d, t) = tree();
    upload(&t, "img.qcow2", b"good", "202501011200", "");
    let before = read(d.path(), "img/img.qcow2");

    // Wrong checksum.
    let mut up = t
        .begin_upload("img.qcow2", Some(3), UploadLimits::default())
        .expect("begin");
    up.write(b"bad").expect("write");
    let err = up.finish(Some(&"0".repeat(64))).expect_err("mismatch");
    assert!(matches!(err, ImageError::ChecksumMismatch { .. }), "{err}");
    assert!(err.to_string().contains("nothing was changed"));

    // Connection dropped halfway.
    let mut up = t
        .begin_upload("img.qcow2", Some(100), UploadLimits::default())
        .expect("begin");
    up.write(&[1u8; 50]).expect("write");
    assert!(matches!(
        up.finish(None),
        Err(ImageError::Truncated {
            received: 50,
            declared: 100
        })
    ));

    // More than announced, more than allowed, more than the disk has.
    let mut up = t
        .begin_upload("img.qcow2", Some(4), UploadLimits::default())
        .expect("begin");
    assert!(up.write(b"12345").is_err());
    drop(up);
    let small = UploadLimits {
        max_size: 10,
        reserve: 0,
    };
    assert!(matches!(
        t.begin_upload("img.qcow2", Some(11), small),
        Err(ImageError::TooLarge { .. })
    ));
    let huge = UploadLimits {
        max_size: u64::MAX,
        reserve: 0,
    };
    let err = t
        .begin_upload("img.qcow2", Some(u64::MAX / 2), huge)
        .expect_err("no space");
    assert!(err.is_disk_full(), "{err}");
    assert!(matches!(
        t.begin_upload("../etc.qcow2", None, small),
        Err(ImageError::BadName(_))
    ));

    assert_eq!(read(d.path(), "img/img.qcow2"), before);
    let staged: Vec<_> = fs::read_dir(d.path().join("linbo/images/tmp"))
        .expect("tmp")
        .collect();
    assert!(staged.is_empty(), "no partial files left: {staged:?}");
}

#[test]
fn retention_and_in_use_guard() {
    let (_d, t) = tree();
    for (i, ts) in [
        "202501011200",
        "202502011200",
        "202503011200",
        "202504011200",
    ]
    .iter()
    .enumerate()
    {
        upload(&t, "img.qcow2", format!("v{i}").as_bytes(), ts, "");
    }
    let removed = t.retain("img", 2).expect("retain");
    assert_eq!(removed, vec!["202501011200".to_string()]);
    assert_eq!(t.scan_image("img").expect("img").versions.len(), 3);

    let group = Group {
        name: "g1".into(),
        start_conf: Some("[LINBO]\nGroup = g1\n\n[OS]\nName = W\nBaseImage = img.qcow2\n".into()),
        description: String::new(),
    };
    let err = t
        .delete_image("img", std::slice::from_ref(&group))
        .expect_err("in use");
    assert!(
        err.to_string()
            .contains("used by the start.conf of group(s) g1"),
        "{err}"
    );
    t.delete_backup("img", "202502011200")
        .expect("delete backup");
    t.delete_image("img", &[]).expect("delete");
    assert!(t.scan().is_empty());
}

#[test]
fn recovery_rolls_back_or_completes_interrupted_promotions() {
    let (d, t) = tree();
    upload(&t, "img.qcow2", b"old", "202501011200", "");
    let img = d.path().join("linbo/images/img");
    let tmp = d.path().join("linbo/images/tmp");

    // Crash after the old version moved to backups, before the new file
    // was renamed into place: roll back.
    let staged = tmp.join("img.qcow2.1-1.part");
    fs::write(&staged, b"new").expect("staged");
    let bdir = img.join("backups/202501011200");
    fs::create_dir_all(&bdir).expect("mkdir");
    for f in ["img.qcow2", "img.qcow2.info", "img.qcow2.sha256"] {
        fs::rename(img.join(f), bdir.join(f)).expect("move");
    }
    let journal = serde_json::json!({
        "base": "img", "file": "img.qcow2", "staged": staged, "backup_dir": bdir,
        "moved": ["img.qcow2", "img.qcow2.info", "img.qcow2.sha256"],
        "info": "[\"img.qcow2\" Info File]\ntimestamp=\"202502011200\"\nimage=\"img.qcow2\"\nimagesize=\"3\"\n",
        "sha256": "x"
    });
    fs::write(tmp.join("promote-img.qcow2.json"), journal.to_string()).expect("journal");
    fs::write(tmp.join("other.qcow2.9-9.part"), b"partial").expect("partial upload");
    let done = t.recover().expect("recover");
    assert_eq!(done.len(), 2, "{done:?}");
    assert_eq!(fs::read(img.join("img.qcow2")).expect("old back"), b"old");
    assert!(!bdir.exists());
    assert!(fs::read_dir(&tmp).expect("tmp").next().is_none());

    // Crash after the rename, before the companions: complete.
    fs::remove_file(img.join("img.qcow2.info")).expect("rm info");
    let journal = serde_json::json!({
        "base": "img", "file": "img.qcow2", "staged": tmp.join("gone.part"), "backup_dir": null,
        "moved": [],
        "info": "[\"img.qcow2\" Info File]\ntimestamp=\"202501011200\"\nimage=\"img.qcow2\"\nimagesize=\"3\"\n",
        "sha256": "abc"
    });
    fs::write(tmp.join("promote-img.qcow2.json"), journal.to_string()).expect("journal");
    t.recover().expect("recover");
    assert!(read(d.path(), "img/img.qcow2.info").contains("202501011200"));
}

#[test]
fn multicast_list_follows_the_images() {
    let (d, t) = tree();
    upload(&t, "b.qcow2", b"b", "202501011200", "");
    upload(&t, "a.qcow2", b"a", "202501011200", "");
    upload(&t, "a.qdiff", b"ad", "202501011200", "");
    t.write_multicast_list("10.0.0.2".parse().expect("ip"), 9000)
        .expect("write");
    let list = fs::read_to_string(d.path().join("linbo/multicast.list")).expect("list");
    assert_eq!(
        list,
        "a.qcow2 10.0.0.2:9000\na.qdiff 10.0.0.2:9002\nb.qcow2 10.0.0.2:9004\n"
    );
}

#[test]
fn adopted_rsync_upload_and_client_companions() {
    let (d, t) = tree();
    upload(&t, "win11.qcow2", b"old", "202501011200", "first");
    let incoming = d.path().join("incoming.qcow2");
    fs::write(&incoming, b"from-rsync").expect("write");
    let done = t.adopt("win11.qcow2", &incoming).expect("adopt");
    assert!(!incoming.exists(), "moved into staging");
    let p = t
        .promote(done, "via rsync", None, "202503011200")
        .expect("promote");
    assert_eq!(p.sha256, hex(&Sha256::digest(b"from-rsync")));
    assert_eq!(p.backup.as_deref(), Some("202501011200"));
    assert_eq!(read(d.path(), "win11/win11.qcow2"), "from-rsync");

    // The client's own .info replaces the generated one; a wrong one is refused.
    let info = "[\"win11.qcow2\" Info File]\ntimestamp=\"202503011159\"\nimage=\"win11.qcow2\"\nimagesize=\"10\"\n";
    t.set_companion("win11.qcow2", "info", info).expect("info");
    assert!(read(d.path(), "win11/win11.qcow2.info").contains("202503011159"));
    let other = info.replace("image=\"win11.qcow2\"", "image=\"other.qcow2\"");
    assert!(t.set_companion("win11.qcow2", "info", &other).is_err());
    assert!(t.set_companion("win11.qcow2", "info", "garbage").is_err());
    assert!(read(d.path(), "win11/win11.qcow2.info").contains("202503011159"));
    t.set_companion("win11.qcow2", "desc", "Notes\n")
        .expect("desc");
    assert_eq!(read(d.path(), "win11/win11.qcow2.desc"), "Notes\n");
    assert!(t.set_companion("win11.qcow2", "torrent", "x").is_err());
    assert!(t.set_companion("nothere.qcow2", "desc", "x").is_err());
    // Bad names never reach the disk.
    let evil = d.path().join("evil");
    fs::write(&evil, b"x").expect("write");
    assert!(t.adopt("../x.qcow2", &evil).is_err());
    assert!(evil.exists());
}
