//! Helpers shared by the binary's integration tests.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_bootbox");

pub fn bootbox(data: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--data")
        .arg(data)
        .args(args)
        .env_remove("BOOTBOX_FAILPOINT")
        .output()
        .expect("run bootbox")
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Kills the child (by PID, through the handle) when the test ends, pass or fail.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Reads the child's stderr on a thread and forwards lines over a channel,
/// so the test can wait for a line without blocking forever.
pub fn stderr_lines(child: &mut Child) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    let stderr = child.stderr.take().expect("piped stderr");
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

pub fn wait_for_line(rx: &mpsc::Receiver<String>, needle: &str) -> String {
    loop {
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(line) if line.contains(needle) => return line,
            Ok(_) => continue,
            Err(e) => panic!("no line containing '{needle}': {e}"),
        }
    }
}

pub fn curl(url: &str) -> (bool, String) {
    let out = Command::new("curl")
        .args(["-fsS", "--max-time", "10", url])
        .output()
        .expect("curl installed");
    (out.status.success(), text(&out.stdout))
}

/// Starts `bootbox serve` on an ephemeral port; returns the process guard,
/// its stderr lines and the HTTP address.
pub fn serve(data: &Path, extra: &[&str]) -> (Running, mpsc::Receiver<String>, String) {
    let mut child = Command::new(BIN)
        .arg("--data")
        .arg(data)
        .args(["serve", "--http", "127.0.0.1:0", "--log-format", "json"])
        .args(extra)
        .env("RUST_LOG", "info")
        .env_remove("BOOTBOX_FAILPOINT")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn serve");
    let rx = stderr_lines(&mut child);
    let guard = Running(child);
    let started = wait_for_line(&rx, "bootbox started");
    let v: serde_json::Value = serde_json::from_str(&started).expect("json log line");
    let addr = v["http"].as_str().expect("http field").to_string();
    (guard, rx, addr)
}
