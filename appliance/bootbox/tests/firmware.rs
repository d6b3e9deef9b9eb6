//! `bootbox firmware …` on the build machine: keys, signed bundles, and
//! the clear refusals off the appliance (the A/B flow itself runs in qemu:
//! tests/appliance).

use std::path::Path;

mod common;

use common::*;

fn run(dir: &Path, args: &[&str]) -> std::process::Output {
    bootbox(&dir.join("var"), args)
}

#[test]
fn keygen_pack_and_status_off_the_appliance() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let keys = d.join("keys");
    let out = run(d, &["firmware", "keygen", keys.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        std::fs::read_to_string(keys.join("firmware.pub"))
            .unwrap()
            .trim()
            .len(),
        64
    );
    // A second keygen must not overwrite the secret key.
    let again = run(d, &["firmware", "keygen", keys.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(1));

    std::fs::write(d.join("vmlinuz"), b"kernel").unwrap();
    std::fs::write(d.join("initramfs"), b"initramfs").unwrap();
    let bundle = d.join("fw.bundle");
    let pack = |version: &str| {
        run(
            d,
            &[
                "firmware",
                "pack",
                "--key",
                keys.join("firmware.key").to_str().unwrap(),
                "--kernel",
                d.join("vmlinuz").to_str().unwrap(),
                "--initramfs",
                d.join("initramfs").to_str().unwrap(),
                "--version",
                version,
                "-o",
                bundle.to_str().unwrap(),
            ],
        )
    };
    let out = pack("1.0");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let first = std::fs::read(&bundle).unwrap();
    assert!(first.starts_with(b"BBFWBND1"));
    assert!(pack("1.0").status.success());
    assert_eq!(
        std::fs::read(&bundle).unwrap(),
        first,
        "bundles are reproducible"
    );
    let bad = pack("1.0; reboot");
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        text(&bad.stderr).contains("version"),
        "{}",
        text(&bad.stderr)
    );

    // Off the appliance: clear errors, nothing touched.
    let boot = d.join("boot");
    let out = run(
        d,
        &[
            "firmware",
            "install",
            bundle.to_str().unwrap(),
            "--boot-dir",
            boot.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("boot partition"),
        "{}",
        text(&out.stderr)
    );
    std::fs::create_dir_all(boot.join("grub")).unwrap();
    let mut env = b"# GRUB Environment Block\nbb_order=A B\nbb_A_ok=1\nbb_A_left=3\n".to_vec();
    env.resize(1024, b'#');
    std::fs::write(boot.join("grub/grubenv"), &env).unwrap();
    let out = run(
        d,
        &[
            "firmware",
            "install",
            bundle.to_str().unwrap(),
            "--boot-dir",
            boot.to_str().unwrap(),
            "--no-reboot",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("not running as the appliance firmware"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(std::fs::read(boot.join("grub/grubenv")).unwrap(), env);
    let out = run(
        d,
        &["firmware", "status", "--boot-dir", boot.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    assert!(s.contains("running: slot -"), "{s}");
    assert!(s.contains("slot A:  ok attempts-left=3"), "{s}");
    assert!(
        !d.join("var").exists(),
        "firmware commands need no data directory"
    );
}
