//! Rebuilds a small linbofs made with Debian's `cpio` and `xz` (real
//! peers) and checks what LINBO clients and the kernel depend on.

use std::path::{Path, PathBuf};
use std::process::Command;

use bootbox_linbofs::{cpio::Archive, initpatch, rebuild, Inject, Tools, TORRENT_DEFAULTS};

const INIT_SH: &str = include_str!("fixtures/init.sh");

fn sh(cwd: &Path, script: &str) {
    let ok = Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(cwd)
        .status()
        .unwrap();
    assert!(ok.success(), "{script}");
}

/// A LINBO-like linbofs64 packed as update-linbofs packs it (find | cpio
/// -o -H newc | xz --check=none), with a hard link and a symlink.
fn make_input(dir: &Path, init_sh: &str) -> PathBuf {
    let root = dir.join("root");
    std::fs::create_dir_all(root.join("etc/default")).unwrap();
    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::fs::write(root.join("init.sh"), init_sh).unwrap();
    std::fs::write(root.join("etc/linbo-version"), "LINBO 4.3.37: Fixture\n").unwrap();
    std::fs::write(root.join("start.conf"), "[LINBO]\nServer = 10.0.0.1\n").unwrap();
    std::fs::write(root.join("bin/tool"), vec![7u8; 5000]).unwrap();
    sh(
        &root,
        "ln bin/tool bin/tool2 && ln -s tool bin/link && touch -d @1700000000 init.sh",
    );
    let out = dir.join("linbofs64.in");
    sh(
        &root,
        &format!(
            "find . -print | cpio --quiet -o -H newc | xz --check=none -c > {}",
            out.display()
        ),
    );
    out
}

fn inject(start_conf: Option<&str>) -> Inject {
    Inject {
        authorized_keys: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTests bootbox\n".into(),
        host_keys: vec![
            ("rsa".into(), b"rsa-key".to_vec()),
            ("ecdsa".into(), b"ecdsa-key".to_vec()),
            ("ed25519".into(), b"ed-key".to_vec()),
        ],
        password: "Muster!".into(),
        salt: "AbCdEfGhIjKlMnOpQrStUvWxYz012345".into(),
        t_cost: 4,
        start_conf: start_conf.map(|s| s.as_bytes().to_vec()),
        torrent_defaults: TORRENT_DEFAULTS.into(),
        server_patch: true,
        mtime: Some(1_600_000_000),
    }
}

fn listing(file: &Path) -> String {
    let o = Command::new("sh")
        .arg("-c")
        .arg(format!("xz -dc {} | cpio -t --quiet", file.display()))
        .output()
        .unwrap();
    assert!(o.status.success());
    String::from_utf8(o.stdout).unwrap()
}

#[test]
fn rebuild_injects_patches_and_is_reproducible() {
    let dir = tempfile::tempdir().unwrap();
    let input = make_input(dir.path(), INIT_SH);
    let out = dir.path().join("linbofs64");
    let report = rebuild(
        &input,
        &out,
        &inject(Some("[LINBO]\nServer = 10.0.0.5\n")),
        &Tools::default(),
    )
    .unwrap();
    assert_eq!(report.linbo_version, "LINBO 4.3.37: Fixture");
    assert!(report.server_patch.unwrap().starts_with("4.2.8"));
    let bytes = std::fs::read(&out).unwrap();
    assert_eq!(bytes[7] & 0x0f, 1, "xz stream uses CRC32");
    let md5 = std::fs::read_to_string(dir.path().join("linbofs64.md5")).unwrap();
    assert_eq!(md5, format!("{}\n", report.md5));
    assert_eq!(md5.trim().len(), 32);
    // Debian's cpio reads it; LINBO's files are all there.
    let names = listing(&out);
    for want in [
        ".ssh/authorized_keys",
        "etc/dropbear/dropbear_rsa_host_key",
        "etc/dropbear/dropbear_ecdsa_host_key",
        "etc/dropbear/dropbear_ed25519_host_key",
        "etc/linbo_pwhash",
        "etc/linbo_salt",
        "etc/default/linbo-torrent",
        "start.conf",
        "bin/tool2",
        "bin/link",
    ] {
        assert!(
            names.lines().any(|l| l == want),
            "{want} missing in\n{names}"
        );
    }
    let a =
        Archive::parse(&bootbox_linbofs::xz::decompress(Path::new("xz"), &bytes).unwrap()).unwrap();
    let e = |p: &str| a.entries.get(p).unwrap_or_else(|| panic!("{p}"));
    assert_eq!(e("etc/linbo_pwhash").mode & 0o777, 0o600);
    assert_eq!(e("etc/linbo_salt").mode & 0o777, 0o600);
    assert_eq!(e(".ssh").mode & 0o777, 0o700);
    assert_eq!(
        e("etc/linbo_salt").data,
        b"AbCdEfGhIjKlMnOpQrStUvWxYz012345"
    );
    assert_eq!(
        String::from_utf8_lossy(&e("etc/linbo_pwhash").data),
        bootbox_linbofs::pwhash::linbo_hash("Muster!", "AbCdEfGhIjKlMnOpQrStUvWxYz012345", 4)
            .unwrap()
    );
    assert_eq!(e("start.conf").data, b"[LINBO]\nServer = 10.0.0.5\n");
    assert_eq!(
        e("bin/tool2").data,
        vec![7u8; 5000],
        "hard link keeps its data"
    );
    assert_eq!(e("bin/link").data, b"tool");
    assert!(String::from_utf8_lossy(&e("init.sh").data).contains(initpatch::BEGIN));
    assert!(a.entries.values().all(|x| x.mtime == 1_600_000_000));
    // Same inputs, same bytes; the output as input again gives the same.
    let out2 = dir.path().join("again");
    rebuild(
        &input,
        &out2,
        &inject(Some("[LINBO]\nServer = 10.0.0.5\n")),
        &Tools::default(),
    )
    .unwrap();
    assert_eq!(std::fs::read(&out2).unwrap(), bytes);
    // Without SOURCE_DATE_EPOCH: input times kept, new members get the newest.
    let mut keep = inject(None);
    keep.mtime = None;
    let out3 = dir.path().join("keep");
    rebuild(&input, &out3, &keep, &Tools::default()).unwrap();
    let b = Archive::parse(
        &bootbox_linbofs::xz::decompress(Path::new("xz"), &std::fs::read(&out3).unwrap()).unwrap(),
    )
    .unwrap();
    assert_eq!(
        b.entries["start.conf"].data, b"[LINBO]\nServer = 10.0.0.1\n",
        "input's start.conf kept"
    );
    let newest = b.entries.values().map(|x| x.mtime).max().unwrap();
    assert_eq!(b.entries["etc/linbo_pwhash"].mtime, newest);
}

#[test]
fn failures_leave_the_old_linbofs_and_md5_intact() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("linbofs64");
    let md5 = dir.path().join("linbofs64.md5");
    std::fs::write(&out, b"old linbofs").unwrap();
    std::fs::write(&md5, b"0123\n").unwrap();
    let unchanged = |what: &str| {
        assert_eq!(std::fs::read(&out).unwrap(), b"old linbofs", "{what}");
        assert_eq!(std::fs::read(&md5).unwrap(), b"0123\n", "{what}");
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".tmp-"))
            .collect();
        assert!(left.is_empty(), "{what}: temporary files left: {left:?}");
    };
    // Unknown init.sh: refused, naming the version.
    let odd = INIT_SH.replace(
        r#"export LINBOSERVER="${SERVERID}""#,
        r#"LINBOSERVER=$SERVERID"#,
    );
    let sub = dir.path().join("odd");
    std::fs::create_dir(&sub).unwrap();
    let input = make_input(&sub, &odd);
    let err = rebuild(&input, &out, &inject(None), &Tools::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("LINBO 4.3.37: Fixture") && err.contains("refusing"),
        "{err}"
    );
    unchanged("unknown init.sh");
    // Not xz / truncated xz.
    std::fs::write(dir.path().join("junk"), b"junk").unwrap();
    assert!(rebuild(
        &dir.path().join("junk"),
        &out,
        &inject(None),
        &Tools::default()
    )
    .is_err());
    unchanged("not xz");
    let good = make_input(&dir.path().join("good"), INIT_SH);
    let bytes = std::fs::read(&good).unwrap();
    std::fs::write(dir.path().join("cut"), &bytes[..bytes.len() / 2]).unwrap();
    assert!(rebuild(
        &dir.path().join("cut"),
        &out,
        &inject(None),
        &Tools::default()
    )
    .is_err());
    unchanged("truncated");
    // A tar.xz (LINBO 7.4's template) is named as such.
    sh(
        dir.path(),
        "mkdir -p t && echo x > t/f && tar -cJf tpl.tar.xz t",
    );
    let err = rebuild(
        &dir.path().join("tpl.tar.xz"),
        &out,
        &inject(None),
        &Tools::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("tar archive"), "{err}");
    unchanged("tar.xz template");
    // The compressor failing at the end.
    let tools = Tools {
        xz: dir.path().join("no-such-xz"),
    };
    assert!(rebuild(&good, &out, &inject(None), &tools).is_err());
    unchanged("xz missing");
    // The same odd init.sh builds when the patch is switched off.
    let ro = dir.path().join("unpatched");
    std::fs::create_dir(&ro).unwrap();
    let mut no_patch = inject(None);
    no_patch.server_patch = false;
    let r = rebuild(&input, &ro.join("linbofs64"), &no_patch, &Tools::default()).unwrap();
    assert!(r.server_patch.is_none(), "patch skipped on request");
}
