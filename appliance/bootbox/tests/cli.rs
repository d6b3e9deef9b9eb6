//! The `bootbox` binary as an admin uses it: exit codes, messages, the
//! data-dir lock, `serve` answering curl, and crash safety of imports.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

mod common;

use common::*;

/// A devices.csv with a header comment on line 1 and `n` hosts on lines
/// 2..=n+1, each line unique.
fn devices_csv(n: usize, prefix: &str) -> Vec<String> {
    let mut lines =
        vec!["# room;host;group;mac;ip;office;windows;dhcp;role;;pxe;;;;comment".to_string()];
    for i in 0..n {
        let room = format!("r{}", 100 + i / 30);
        lines.push(format!(
            "{room};{prefix}pc{i:04};win11;02:00:{:02x}:{:02x}:{:02x}:{:02x};10.{}.{}.{};---;---;;classroom-studentcomputer;;1;;;;Raum {room}",
            prefix.len(),
            (i >> 16) & 0xff,
            (i >> 8) & 0xff,
            i & 0xff,
            10 + prefix.len(),
            i / 200,
            1 + i % 200,
        ));
    }
    lines
}

fn write(dir: &Path, name: &str, lines: &[String]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, lines.join("\n") + "\n").expect("write file");
    p
}

fn export(data: &Path) -> String {
    let out = bootbox(data, &["export", "devices", "-"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
}

#[test]
fn dry_run_lists_every_broken_line_and_changes_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("var");
    let mut lines = devices_csv(500, "");
    // Break 7 lines in 7 different ways (index = line number - 1).
    lines[10] = lines[10].replacen("02:00:", "02:0G:", 1); // bad MAC
    lines[50] = lines[50].replacen(";10.10.0.", ";10.10.0.999", 1); // bad IP
    lines[99] = lines[98]
        .replacen("02:00:00:00:00:61", "02:00:00:00:03:e7", 1)
        .replacen(";10.10.0.98;", ";10.10.9.9;", 1); // duplicate hostname of line 99
    lines[200] = lines[200].replacen("r106;", "r 106;", 1); // bad room
    lines[300] = lines[300].replacen(";;1;;;;", ";;9;;;;", 1); // bad PXE flag
    lines[400] = "r100;lonely".to_string(); // too few fields
    lines[450] = lines[450].replacen("classroom-studentcomputer", "teacher", 1); // unknown role
    let file = write(tmp.path(), "devices.csv", &lines);

    let out = bootbox(
        &data,
        &[
            "import",
            "devices",
            file.to_str().expect("utf8"),
            "--dry-run",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    for line in [11, 51, 100, 201, 301, 401, 451] {
        assert!(
            err.contains(&format!("devices.csv:{line}: ")),
            "line {line} missing in:\n{err}"
        );
    }
    assert!(
        err.contains("has 7 bad line(s); nothing was imported"),
        "{err}"
    );
    assert!(
        err.contains("hostname pc0097 already used on line 99"),
        "{err}"
    );
    assert_eq!(export(&data), "", "nothing may be imported");

    // The same file, fixed, imports completely.
    let fixed = write(tmp.path(), "fixed.csv", &devices_csv(500, ""));
    let out = bootbox(
        &data,
        &[
            "import",
            "devices",
            fixed.to_str().expect("utf8"),
            "--dry-run",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("500 hosts added"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(export(&data), "", "dry run changes nothing");

    let out = bootbox(&data, &["import", "devices", fixed.to_str().expect("utf8")]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("imported: 500 hosts added"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(export(&data).lines().count(), 500);

    // Importing again is a no-op.
    let out = bootbox(&data, &["import", "devices", fixed.to_str().expect("utf8")]);
    assert!(
        text(&out.stdout).contains("nothing to do"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn export_import_roundtrip_is_lossless() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    let mut lines = devices_csv(20, "");
    lines[3].push_str(";extra16;extra17");
    let file = write(tmp.path(), "devices.csv", &lines);
    assert!(
        bootbox(&a, &["import", "devices", file.to_str().expect("utf8")])
            .status
            .success()
    );
    let exported = tmp.path().join("export.csv");
    let out = bootbox(&a, &["export", "devices", exported.to_str().expect("utf8")]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        bootbox(&b, &["import", "devices", exported.to_str().expect("utf8")])
            .status
            .success()
    );
    let (ea, eb) = (export(&a), export(&b));
    assert_eq!(ea, eb);
    assert!(ea.contains(";Raum r100;extra16;extra17\n"), "{ea}");
}

#[test]
fn hosts_commands_and_exit_codes() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("var");
    let add = |name: &str, mac: &str, ip: &str| {
        bootbox(
            &data,
            &[
                "hosts", "add", name, "--mac", mac, "--ip", ip, "--room", "r1", "--group", "g1",
            ],
        )
    };
    assert!(add("PC1", "00-11-22-33-44-55", "10.0.0.1").status.success());
    let dup = add("pc2", "00:11:22:33:44:55", "10.0.0.2");
    assert_eq!(dup.status.code(), Some(1));
    let msg = text(&dup.stderr);
    assert_eq!(msg.lines().count(), 1, "one-line cause: {msg}");
    assert!(
        msg.contains("MAC 00:11:22:33:44:55 is already used by host pc1"),
        "{msg}"
    );

    let show = bootbox(&data, &["hosts", "show", "00:11:22:33:44:55"]);
    assert!(
        text(&show.stdout).contains("\"hostname\": \"pc1\""),
        "{}",
        text(&show.stdout)
    );
    let list = bootbox(&data, &["hosts", "list", "--room", "r1"]);
    assert!(text(&list.stdout).contains("pc1"));
    // Boot modes: per host, per group, custom kernels are checked for
    // characters iPXE would interpret.
    assert!(bootbox(&data, &["hosts", "boot", "pc1", "local"])
        .status
        .success());
    let bad = bootbox(
        &data,
        &[
            "hosts",
            "boot",
            "pc1",
            "custom",
            "--kernel",
            "k",
            "--cmdline",
            "x=${evil}",
        ],
    );
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        text(&bad.stderr).contains("iPXE would interpret"),
        "{}",
        text(&bad.stderr)
    );
    assert_eq!(
        bootbox(&data, &["hosts", "boot", "pc1", "custom"])
            .status
            .code(),
        Some(2),
        "--kernel required"
    );
    assert!(bootbox(&data, &["groups", "boot", "g1", "menu"])
        .status
        .success());
    assert_eq!(
        bootbox(&data, &["groups", "boot", "g1", "group"])
            .status
            .code(),
        Some(1)
    );
    assert_eq!(
        bootbox(&data, &["groups", "boot", "nope", "menu"])
            .status
            .code(),
        Some(1)
    );
    let groups = text(&bootbox(&data, &["groups", "list"]).stdout);
    assert!(
        groups.contains("g1") && groups.contains("menu") && groups.contains("missing"),
        "{groups}"
    );

    assert!(bootbox(&data, &["hosts", "rm", "pc1"]).status.success());
    assert_eq!(
        bootbox(&data, &["hosts", "rm", "pc1"]).status.code(),
        Some(1)
    );

    // Usage errors exit with 2.
    assert_eq!(
        bootbox(&data, &["hosts", "frobnicate"]).status.code(),
        Some(2)
    );
    assert_eq!(
        bootbox(&data, &["import", "devices", "x", "--merge", "sideways"])
            .status
            .code(),
        Some(2)
    );
    // A missing file is an error (1) with the path in the message.
    let out = bootbox(&data, &["import", "devices", "/nonexistent/devices.csv"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("/nonexistent/devices.csv"));
}

#[test]
fn serve_answers_healthz_locks_the_dir_and_stops_on_sigterm() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("fresh/var");
    let mut child = Command::new(BIN)
        .arg("--data")
        .arg(&data)
        .args(["serve", "--http", "127.0.0.1:0", "--log-format", "json"])
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn serve");
    let rx = stderr_lines(&mut child);
    let guard = Running(child);
    let started = wait_for_line(&rx, "bootbox started");
    let v: serde_json::Value = serde_json::from_str(&started).expect("json log line");
    let addr = v["http"].as_str().expect("http field").to_string();

    let (ok, body) = curl(&format!("http://{addr}/healthz"));
    assert!(ok, "healthz failed");
    let health: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(health["status"], "ok");
    let (ok, metrics) = curl(&format!("http://{addr}/metrics"));
    assert!(ok && metrics.contains("bootbox_hosts 0"), "{metrics}");

    // A second process on the same data dir is refused, naming the holder.
    let out = bootbox(&data, &["hosts", "list"]);
    assert_eq!(out.status.code(), Some(1));
    let msg = text(&out.stderr);
    assert!(
        msg.contains(&format!("in use by bootbox process {}", guard.0.id())),
        "{msg}"
    );

    // SIGTERM stops it cleanly.
    let status = Command::new("kill")
        .args(["-TERM", &guard.0.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let mut guard = guard;
    let exit = guard.0.wait().expect("wait");
    assert!(exit.success(), "{exit:?}");
    wait_for_line(&rx, "bootbox stopped");
    assert!(
        bootbox(&data, &["hosts", "list"]).status.success(),
        "lock released"
    );
}

#[test]
fn kill_9_during_import_leaves_the_store_as_before() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("var");
    let first = write(tmp.path(), "first.csv", &devices_csv(50, "a"));
    assert!(
        bootbox(&data, &["import", "devices", first.to_str().expect("utf8")])
            .status
            .success()
    );
    let before = export(&data);

    // Replace everything with 2000 other hosts, and kill -9 the import at
    // the last moment before its commit.
    let second = write(tmp.path(), "second.csv", &devices_csv(2000, "bb"));
    let mut child = Command::new(BIN)
        .arg("--data")
        .arg(&data)
        .args([
            "import",
            "devices",
            second.to_str().expect("utf8"),
            "--merge",
            "replace",
        ])
        .env("BOOTBOX_FAILPOINT", "import.before_commit")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn import");
    let rx = stderr_lines(&mut child);
    let mut guard = Running(child);
    wait_for_line(&rx, "failpoint import.before_commit reached");
    guard.0.kill().expect("kill -9");
    let status = guard.0.wait().expect("wait");
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9)
    );

    assert_eq!(
        export(&data),
        before,
        "store must be exactly as before the import"
    );
    let events = bootbox(&data, &["hosts", "list"]);
    assert!(events.status.success(), "store usable after the crash");

    // Kill at arbitrary moments too: the store is always wholly old or wholly new.
    let after_text = {
        let scratch = tmp.path().join("scratch");
        assert!(bootbox(
            &scratch,
            &["import", "devices", second.to_str().expect("utf8")]
        )
        .status
        .success());
        export(&scratch)
    };
    for delay_ms in [5u64, 40, 120] {
        let mut child = Command::new(BIN)
            .arg("--data")
            .arg(&data)
            .args([
                "import",
                "devices",
                second.to_str().expect("utf8"),
                "--merge",
                "replace",
            ])
            .env_remove("BOOTBOX_FAILPOINT")
            .stderr(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn import");
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        let now = export(&data);
        assert!(
            now == before || now == after_text,
            "partial import after kill at {delay_ms} ms"
        );
        if now == after_text {
            // Put the old state back for the next round.
            assert!(bootbox(
                &data,
                &[
                    "import",
                    "devices",
                    first.to_str().expect("utf8"),
                    "--merge",
                    "replace"
                ]
            )
            .status
            .success());
        }
    }
}

/// A copy of a linuxmuster server: devices.csv, start.conf files, images.
fn linuxmuster_tree(root: &Path, start_conf: &str) {
    let etc = root.join("etc/linuxmuster/sophomorix/default-school");
    let linbo = root.join("srv/linbo");
    std::fs::create_dir_all(&etc).expect("mkdir");
    std::fs::create_dir_all(linbo.join("images/win11/backups/202501011200")).expect("mkdir");
    std::fs::write(
        etc.join("devices.csv"),
        "r1;pc1;win11;00:00:00:00:00:01;10.0.0.1;;;;;;1\n",
    )
    .expect("write");
    std::fs::write(linbo.join("start.conf.win11"), start_conf).expect("write");
    std::fs::write(linbo.join("start.conf.win11~"), "editor backup, ignored").expect("write");
    std::os::unix::fs::symlink("start.conf.win11", linbo.join("start.conf-10.0.0.1"))
        .expect("link");
    let img = linbo.join("images/win11");
    std::fs::write(img.join("win11.qcow2"), b"QFI\xfbnew").expect("write");
    std::fs::write(
        img.join("win11.qcow2.info"),
        "[\"win11.qcow2\" Info File]\ntimestamp=\"202511201030\"\nimage=\"win11.qcow2\"\nimagesize=\"7\"\n",
    )
    .expect("write");
    std::fs::write(img.join("win11.qcow2.desc"), "20.11.2025: Office updates\n").expect("write");
    std::fs::write(img.join("backups/202501011200/win11.qcow2"), b"QFI\xfbold").expect("write");
}

const START_CONF: &str = "[LINBO]\nServer = 10.0.0.1\nGroup = win11\nCache = /dev/disk0p3\n\n[Partition]\nDev = /dev/disk0p1\nLabel = windows\nSize = 50G\nId = 7\nFSType = ntfs\n\n[OS]\nName = Windows 11\nBaseImage = win11.qcow2\nRoot = /dev/disk0p1\n";

#[test]
fn linuxmuster_import_dry_run_then_real() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let src = tmp.path().join("server");
    linuxmuster_tree(&src, START_CONF);
    let data = tmp.path().join("var");
    let src_arg = src.to_str().expect("utf8");

    let out = bootbox(&data, &["import", "linuxmuster", src_arg, "--dry-run"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let plan = text(&out.stdout);
    assert!(plan.contains("+ host   pc1"), "{plan}");
    assert!(plan.contains("+ group  win11 (with start.conf)"), "{plan}");
    assert!(
        plan.contains("+ image  win11 (2 file version(s))"),
        "{plan}"
    );
    assert!(
        !data.join("linbo/images/win11").exists(),
        "dry run copies nothing"
    );
    assert_eq!(export(&data), "");

    let out = bootbox(&data, &["import", "linuxmuster", src_arg]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        std::fs::read(data.join("linbo/images/win11/win11.qcow2")).expect("copied image"),
        b"QFI\xfbnew"
    );
    assert!(data
        .join("linbo/images/win11/backups/202501011200/win11.qcow2")
        .is_file());
    assert_eq!(export(&data).lines().count(), 1);

    // Second run: nothing left to do.
    let out = bootbox(&data, &["import", "linuxmuster", src_arg]);
    assert!(
        text(&out.stdout).contains("nothing to do"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn linuxmuster_import_takes_over_grub_customisations_and_onboot_files() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let src = tmp.path().join("server");
    linuxmuster_tree(&src, START_CONF);
    let linbo = src.join("srv/linbo");
    for d in ["boot/grub/hostcfg", "linbocmd", "linuxmuster-win"] {
        std::fs::create_dir_all(linbo.join(d)).expect("mkdir");
    }
    std::fs::write(linbo.join("boot/grub/win11.cfg"), "# custom menu\n").expect("write");
    std::fs::write(
        linbo.join("boot/grub/grub.cfg"),
        "### managed by linuxmuster.net ###\n",
    )
    .expect("write");
    std::fs::write(linbo.join("boot/grub/hostcfg/pc1.cfg"), "# pc1\n").expect("write");
    std::fs::write(linbo.join("linbocmd/pc1.cmd"), "sync:1,start:1\n").expect("write");
    std::fs::write(linbo.join("linbocmd/unknown.cmd"), "start:1\n").expect("write");
    let data = tmp.path().join("var");
    let src_arg = src.to_str().expect("utf8");

    let out = bootbox(&data, &["import", "linuxmuster", src_arg, "--dry-run"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let plan = text(&out.stdout);
    for line in [
        "+ files  images/win11/",
        "+ files  boot/grub/win11.cfg (customised group menu)",
        "+ files  boot/grub/hostcfg/pc1.cfg (custom host menu)",
        "+ files  linbocmd/pc1.cmd (pending on-boot commands)",
        "- left   linuxmuster-win/",
        "files to take over: 1 custom host menu, 1 customised group menu, 1 pending on-boot commands",
    ] {
        assert!(plan.contains(line), "{line}\n{plan}");
    }
    assert!(
        !plan.contains("grub.cfg (") && !plan.contains("unknown.cmd"),
        "{plan}"
    );
    assert!(text(&out.stderr).contains("linbocmd/unknown.cmd"));
    assert!(
        !data.join("linbo/boot/grub/win11.cfg").exists(),
        "dry run writes nothing"
    );
    assert!(
        !data.join("linbo/linbocmd").exists(),
        "dry run writes nothing"
    );

    let out = bootbox(&data, &["import", "linuxmuster", src_arg]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let read = |n: &str| std::fs::read_to_string(data.join("linbo").join(n)).expect(n);
    assert_eq!(read("boot/grub/win11.cfg"), "# custom menu\n");
    assert_eq!(read("boot/grub/hostcfg/pc1.cfg"), "# pc1\n");
    assert_eq!(read("linbocmd/pc1.cmd"), "sync:1,start:1\n");
    assert!(!data.join("linbo/linbocmd/unknown.cmd").exists());

    let out = bootbox(&data, &["import", "linuxmuster", src_arg]);
    assert!(
        text(&out.stdout).contains("nothing to do"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn linuxmuster_import_with_a_broken_start_conf_imports_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let src = tmp.path().join("server");
    linuxmuster_tree(
        &src,
        &START_CONF.replace("Label = windows", "Label = `reboot`"),
    );
    let data = tmp.path().join("var");
    let out = bootbox(
        &data,
        &["import", "linuxmuster", src.to_str().expect("utf8")],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("start.conf.win11:8:"), "{err}");
    assert!(err.contains("nothing was imported"), "{err}");
    assert_eq!(export(&data), "");
    assert!(!data.join("linbo/images/win11").exists());
}
