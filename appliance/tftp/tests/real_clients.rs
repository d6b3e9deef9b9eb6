//! Downloads with real TFTP clients: curl (tftp:// URLs) and the tftp-hpa
//! client (`tftp`). Both must be installed (`apt-get install curl tftp-hpa`);
//! a missing client makes its tests print SKIP and pass.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use bootbox_tftp::TransferEvent;
use common::{have, write_file, ChildGuard, TestServer};

fn curl_available() -> bool {
    let ok = have("curl", "--version");
    if !ok {
        eprintln!("SKIP: curl not installed");
    }
    ok
}

fn tftp_hpa_available() -> bool {
    let ok = have("tftp", "-V");
    if !ok {
        eprintln!("SKIP: tftp-hpa client (`tftp`) not installed; apt-get install tftp-hpa");
    }
    ok
}

fn curl(server: &TestServer, name: &str, blksize: u32, out: &Path) -> ChildGuard {
    let url = format!("tftp://{}/{name}", server.addr);
    let child = Command::new("curl")
        .args(["-s", "-S", "--max-time", "300", "--tftp-blksize"])
        .arg(blksize.to_string())
        .arg("-o")
        .arg(out)
        .arg(url)
        .stdin(Stdio::null())
        .spawn()
        .expect("spawn curl");
    ChildGuard(child)
}

fn curl_get(server: &TestServer, name: &str, blksize: u32, out: &Path) {
    let mut child = curl(server, name, blksize, out);
    let status = child.0.wait().unwrap();
    assert!(status.success(), "curl {name} failed: {status}");
}

/// Runs `tftp -m binary HOST PORT -c get NAME OUT`; returns its exit
/// success and combined output.
fn tftp_run(server: &TestServer, name: &str, out: &Path) -> (bool, String) {
    let log = tempfile::NamedTempFile::new().unwrap();
    let child = Command::new("tftp")
        .args(["-m", "binary"])
        .arg(server.addr.ip().to_string())
        .arg(server.addr.port().to_string())
        .args(["-c", "get", name])
        .arg(out)
        .stdin(Stdio::null())
        .stdout(log.reopen().unwrap())
        .stderr(log.reopen().unwrap())
        .spawn()
        .expect("spawn tftp");
    let mut guard = ChildGuard(child);
    let status = guard.0.wait().unwrap();
    let text = std::fs::read_to_string(log.path()).unwrap_or_default();
    (status.success(), text)
}

fn tftp_get(server: &TestServer, name: &str, out: &Path) {
    let (ok, text) = tftp_run(server, name, out);
    assert!(ok, "tftp {name} failed: {text}");
}

fn assert_same(path: &Path, expected: &[u8]) {
    let got = std::fs::read(path).unwrap();
    assert_eq!(got.len(), expected.len(), "size of {}", path.display());
    assert!(got == expected, "content of {} differs", path.display());
}

#[test]
fn curl_small_and_exact_multiple() {
    if !curl_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let small = write_file(dir.path(), "small.bin", 1000);
    let exact = write_file(dir.path(), "boot/exact.bin", 1468 * 10);
    let server = TestServer::start(dir.path(), |_| {});
    curl_get(&server, "small.bin", 1468, &out.path().join("small"));
    assert_same(&out.path().join("small"), &small);
    curl_get(&server, "boot/exact.bin", 1468, &out.path().join("exact"));
    assert_same(&out.path().join("exact"), &exact);
    // (No empty file here: curl 7.88 rejects "tsize 0" in an OACK with exit
    // 71, from tftpd-hpa as well; protocol.rs covers empty files.)
    server
        .events
        .wait_for(|e| matches!(e, TransferEvent::Started { blksize: 1468, .. }));
}

#[test]
fn curl_40mib_at_blksize_512_crosses_rollover() {
    if !curl_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    // 81 920 blocks of 512 bytes: block numbers wrap 65535 -> 0.
    let data = write_file(dir.path(), "big.img", 40 * 1024 * 1024);
    let server = TestServer::start(dir.path(), |_| {});
    curl_get(&server, "big.img", 512, &out.path().join("big"));
    assert_same(&out.path().join("big"), &data);
}

#[test]
fn curl_32_concurrent_downloads() {
    if !curl_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let files: Vec<Vec<u8>> = (0..4)
        .map(|i| write_file(dir.path(), &format!("f{i}"), 300_000 + i * 1111))
        .collect();
    let server = TestServer::start(dir.path(), |_| {});
    let mut children: Vec<(ChildGuard, usize)> = (0..32)
        .map(|n| {
            let which = n % files.len();
            let child = curl(
                &server,
                &format!("f{which}"),
                1468,
                &out.path().join(format!("out{n}")),
            );
            (child, which)
        })
        .collect();
    for (n, (child, which)) in children.iter_mut().enumerate() {
        let status = child.0.wait().unwrap();
        assert!(status.success(), "curl #{n} failed: {status}");
        assert_same(&out.path().join(format!("out{n}")), &files[*which]);
    }
    server
        .events
        .wait_count(32, |e| matches!(e, TransferEvent::Completed { .. }));
}

#[test]
fn curl_not_found_and_traversal() {
    if !curl_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), |_| {});
    for name in ["missing", "..%2Fetc%2Fpasswd"] {
        let mut child = curl(&server, name, 512, &out.path().join("x"));
        let status = child.0.wait().unwrap();
        assert!(!status.success(), "curl {name} must fail");
    }
    server.events.wait_for(|e| {
        matches!(
            e,
            TransferEvent::Aborted {
                reason: bootbox_tftp::AbortReason::AccessDenied(_),
                ..
            }
        )
    });
}

#[test]
fn tftp_hpa_small_and_exact_multiple() {
    if !tftp_hpa_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let small = write_file(dir.path(), "pxelinux.0", 777);
    let exact = write_file(dir.path(), "exact.bin", 512 * 8);
    let server = TestServer::start(dir.path(), |_| {});
    tftp_get(&server, "pxelinux.0", &out.path().join("small"));
    assert_same(&out.path().join("small"), &small);
    tftp_get(&server, "exact.bin", &out.path().join("exact"));
    assert_same(&out.path().join("exact"), &exact);
}

#[test]
fn tftp_hpa_40mib_crosses_rollover() {
    if !tftp_hpa_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let data = write_file(dir.path(), "big.img", 40 * 1024 * 1024);
    let server = TestServer::start(dir.path(), |_| {});
    tftp_get(&server, "big.img", &out.path().join("big"));
    assert_same(&out.path().join("big"), &data);
}

#[test]
fn tftp_hpa_not_found() {
    if !tftp_hpa_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), |_| {});
    // tftp-hpa may exit 0 here; check its message.
    let (_, text) = tftp_run(&server, "missing", &out.path().join("m"));
    assert!(text.contains("Error code 1"), "tftp-hpa said: {text}");
    server.events.wait_for(|e| {
        matches!(
            e,
            TransferEvent::Aborted {
                reason: bootbox_tftp::AbortReason::NotFound,
                ..
            }
        )
    });
}
