//! The image API through the real binary and curl: auth, uploads that
//! succeed, fail or are killed half-way, a full disk, restore.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

fn token(data: &Path, scope: &str) -> String {
    let out = bootbox(
        data,
        &["tokens", "create", &format!("t-{scope}"), "--scope", scope],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout).trim().to_string()
}

/// curl PUT of `file`; returns (HTTP status, body).
fn put(
    addr: &str,
    token: &str,
    image: &str,
    name: &str,
    file: &Path,
    extra: &[&str],
) -> (u16, String) {
    let out = Command::new("curl")
        .args([
            "-sS",
            "-o",
            "-",
            "-w",
            "\n%{http_code}",
            "-X",
            "PUT",
            "--max-time",
            "120",
        ])
        .args(["-H", &format!("Authorization: Bearer {token}")])
        .arg("--upload-file")
        .arg(file)
        .args(extra)
        .arg(format!("http://{addr}/api/v1/images/{image}/files/{name}"))
        .output()
        .expect("curl installed");
    let s = text(&out.stdout);
    let (body, code) = s.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

fn get(addr: &str, path: &str) -> String {
    let (ok, body) = curl(&format!("http://{addr}{path}"));
    assert!(ok, "GET {path} failed");
    body
}

fn sha256(path: &Path) -> String {
    let out = Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum");
    text(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_string()
}

fn write_file(path: &Path, len: usize, seed: u8) {
    let data: Vec<u8> = (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect();
    std::fs::write(path, data).expect("write");
}

#[test]
fn upload_auth_checksum_restore() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("var");
    let images_token = token(&data, "images");
    let read_token = token(&data, "read");
    let (_srv, _rx, addr) = serve(&data, &[]);
    let v1 = tmp.path().join("v1.qcow2");
    let v2 = tmp.path().join("v2.qcow2");
    write_file(&v1, 300_000, 1);
    write_file(&v2, 200_000, 2);

    // Without a token, with a read-only token, with a forged token: refused.
    let out = Command::new("curl")
        .args([
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-X",
            "PUT",
            "--data-binary",
            "x",
        ])
        .arg(format!(
            "http://{addr}/api/v1/images/win11/files/win11.qcow2"
        ))
        .output()
        .expect("curl");
    assert_eq!(text(&out.stdout), "401");
    assert_eq!(
        put(&addr, &read_token, "win11", "win11.qcow2", &v1, &[]).0,
        403
    );
    let forged = format!("bbx.t-images.{}", "0".repeat(64));
    assert_eq!(put(&addr, &forged, "win11", "win11.qcow2", &v1, &[]).0, 401);
    // Traversal in names.
    assert_eq!(
        put(&addr, &images_token, "win11", "..%2Fx.qcow2", &v1, &[]).0,
        400
    );
    assert_eq!(
        put(&addr, &images_token, "win11", "other.qcow2", &v1, &[]).0,
        400
    );

    // Wrong declared checksum: refused with a clear message, nothing stored.
    let (code, body) = put(
        &addr,
        &images_token,
        "win11",
        "win11.qcow2",
        &v1,
        &["-H", &format!("X-Image-Sha256: {}", "ab".repeat(32))],
    );
    assert_eq!(code, 422, "{body}");
    assert!(
        body.contains("checksum_mismatch") && body.contains("nothing was changed"),
        "{body}"
    );
    assert_eq!(get(&addr, "/api/v1/images"), "[]");

    let (code, body) = put(
        &addr,
        &images_token,
        "win11",
        "win11.qcow2",
        &v1,
        &["-H", &format!("X-Image-Sha256: {}", sha256(&v1))],
    );
    assert_eq!(code, 201, "{body}");
    let (code, body) = put(
        &addr,
        &images_token,
        "win11",
        "win11.qcow2?comment=Office%20updates",
        &v2,
        &[],
    );
    assert_eq!(code, 201, "{body}");
    let resp: serde_json::Value = serde_json::from_str(&body).expect("json");
    let backup = resp["backup"]
        .as_str()
        .expect("previous version kept")
        .to_string();

    // Clients get the new bytes, with LINBO companions.
    let served = tmp.path().join("served");
    let ok = Command::new("curl")
        .args(["-fsS", "-o"])
        .arg(&served)
        .arg(format!("http://{addr}/linbo/images/win11/win11.qcow2"))
        .status()
        .expect("curl");
    assert!(ok.success());
    assert_eq!(sha256(&served), sha256(&v2));
    let info = get(&addr, "/linbo/images/win11/win11.qcow2.info");
    assert!(
        info.starts_with("[\"win11.qcow2\" Info File]") && info.contains("imagesize=\"200000\""),
        "{info}"
    );
    assert!(get(&addr, "/linbo/images/win11/win11.qcow2.desc").contains("Office updates"));
    let versions: serde_json::Value =
        serde_json::from_str(&get(&addr, "/api/v1/images/win11/versions")).expect("json");
    assert_eq!(versions.as_array().map(Vec::len), Some(2), "{versions}");

    // Restore: clients get the old bytes again.
    let out = Command::new("curl")
        .args([
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-X",
            "POST",
            "-H",
            &format!("Authorization: Bearer {images_token}"),
        ])
        .arg(format!(
            "http://{addr}/api/v1/images/win11/backups/{backup}/restore"
        ))
        .output()
        .expect("curl");
    assert_eq!(text(&out.stdout), "204");
    let ok = Command::new("curl")
        .args(["-fsS", "-o"])
        .arg(&served)
        .arg(format!("http://{addr}/linbo/images/win11/win11.qcow2"))
        .status()
        .expect("curl");
    assert!(ok.success());
    assert_eq!(sha256(&served), sha256(&v1));

    // Every change is in the audit log, attributed to the token.
    let store_events = get(&addr, "/api/v1/images");
    assert!(store_events.contains("win11.qcow2"));
    drop(_srv);
    let list = bootbox(&data, &["hosts", "list"]);
    assert!(list.status.success());
}

#[test]
fn kill_9_in_the_middle_of_an_upload_loses_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("var");
    let tok = token(&data, "images");
    let old = tmp.path().join("old.qcow2");
    let new = tmp.path().join("new.qcow2");
    write_file(&old, 100_000, 3);
    write_file(&new, 64 << 20, 4);
    let (srv, _rx, addr) = serve(&data, &[]);
    assert_eq!(put(&addr, &tok, "img", "img.qcow2", &old, &[]).0, 201);
    let catalogue = get(&addr, "/api/v1/images");

    // A slow upload of 64 MiB; kill -9 the server once half has arrived.
    let mut upload = Command::new("curl")
        .args([
            "-sS",
            "-o",
            "/dev/null",
            "-X",
            "PUT",
            "--limit-rate",
            "8M",
            "-H",
            &format!("Authorization: Bearer {tok}"),
        ])
        .arg("--upload-file")
        .arg(&new)
        .arg(format!("http://{addr}/api/v1/images/img/files/img.qcow2"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("curl");
    let staging = data.join("linbo/images/tmp");
    let mut half = false;
    for _ in 0..600 {
        let size: u64 = std::fs::read_dir(&staging)
            .map(|rd| {
                rd.flatten()
                    .filter_map(|e| e.metadata().ok())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0);
        if size >= 32 << 20 {
            half = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(half, "the upload never reached 50 %");
    let mut srv = srv;
    srv.0.kill().expect("kill -9");
    let _ = srv.0.wait();
    let _ = upload.kill();
    let _ = upload.wait();
    drop(srv);

    // Restart: the partial upload is gone, the old version is current.
    let (_srv2, _rx2, addr2) = serve(&data, &[]);
    assert_eq!(get(&addr2, "/api/v1/images"), catalogue);
    let served = tmp.path().join("served");
    let ok = Command::new("curl")
        .args(["-fsS", "-o"])
        .arg(&served)
        .arg(format!("http://{addr2}/linbo/images/img/img.qcow2"))
        .status()
        .expect("curl");
    assert!(ok.success());
    assert_eq!(sha256(&served), sha256(&old));
    let leftovers: Vec<_> = std::fs::read_dir(&staging)
        .expect("tmp")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// Mounts a small tmpfs (root only) and removes it on drop.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(path: &Path, size: &str) -> Option<Self> {
        std::fs::create_dir_all(path).ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(path)
            .status()
            .ok()?;
        ok.success().then(|| Tmpfs(path.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn full_disk_is_refused_and_loses_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let Some(disk) = Tmpfs::mount(&tmp.path().join("small"), "24m") else {
        eprintln!("SKIP: cannot mount a tmpfs (needs root)");
        return;
    };
    let data = disk.0.join("var");
    let tok = token(&data, "images");
    let old = tmp.path().join("old.qcow2");
    let big = tmp.path().join("big.qcow2");
    write_file(&old, 1 << 20, 5);
    write_file(&big, 40 << 20, 6);
    let (_srv, _rx, addr) = serve(&data, &["--image-reserve-mib", "1"]);
    assert_eq!(put(&addr, &tok, "img", "img.qcow2", &old, &[]).0, 201);

    // Announced size larger than the free space: refused before accepting.
    let (code, body) = put(&addr, &tok, "img", "img.qcow2", &big, &[]);
    assert_eq!(code, 507, "{body}");
    assert!(body.contains("not enough disk space"), "{body}");

    // Size not announced (chunked): the disk fills up while streaming.
    let (code, body) = put(
        &addr,
        &tok,
        "img",
        "img.qcow2",
        &big,
        &["-H", "Transfer-Encoding: chunked"],
    );
    assert!(code == 507 || code == 413, "{code} {body}");
    assert!(
        body.contains("space") || body.contains("No space"),
        "{body}"
    );

    let served = tmp.path().join("served");
    let ok = Command::new("curl")
        .args(["-fsS", "-o"])
        .arg(&served)
        .arg(format!("http://{addr}/linbo/images/img/img.qcow2"))
        .status()
        .expect("curl");
    assert!(ok.success());
    assert_eq!(sha256(&served), sha256(&old));
    let leftovers: Vec<_> = std::fs::read_dir(data.join("linbo/images/tmp"))
        .expect("tmp")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
