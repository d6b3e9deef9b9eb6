use super::*;

/// A typical dual-boot group: Windows 11 and Ubuntu on one NVMe disk, UEFI.
const DUAL_BOOT: &str = "\
# start.conf.win11_ubuntu -- room 101
# edited by the network admin, 2024-05-02

[LINBO]                         # global settings
Server = 10.0.0.1
Group = win11_ubuntu
Cache = /dev/nvme0n1p6          # cache partition
RootTimeout = 600
AutoPartition = no
AutoFormat = no
AutoInitCache = no
DownloadType = torrent
GuiDisabled = no
UseMinimalLayout = no
Locale = de-DE
SystemType = efi64
KernelOptions = quiet splash

[Partition]                     # EFI system partition
Dev = /dev/nvme0n1p1
Label = efi
Size = 200M
Id = ef
FSType = vfat
Bootable = yes

[Partition]                     # Microsoft reserved
Dev = /dev/nvme0n1p2
Label = msr
Size = 128M
Id = 0c01
FSType =
Bootable = no

[Partition]
Dev = /dev/nvme0n1p3
Label = windows
Size = 120G
Id = 7
FSType = ntfs
Bootable = no

[Partition]
Dev = /dev/nvme0n1p4
Label = ubuntu
Size = 60G
Id = 83
FSType = ext4
Bootable = no

[Partition]
Dev = /dev/nvme0n1p5
Label = swap
Size = 8G
Id = 82
FSType = swap
Bootable = no

[Partition]
Dev = /dev/nvme0n1p6
Label = cache
Size =                          # rest of the disk
Id = 83
FSType = ext4
Bootable = no

[OS]
Name = Windows 11
Version = 23H2
Description = Windows 11 Education
IconName = win10.svg
BaseImage = win11.qcow2
Boot = /dev/nvme0n1p3
Root = /dev/nvme0n1p3
Kernel = auto
Initrd =
Append =
StartEnabled = yes
SyncEnabled = yes
NewEnabled = yes
Autostart = no
AutostartTimeout = 5
DefaultAction = sync

[OS]
Name = Ubuntu 24.04
Version =
Description = Ubuntu LTS
IconName = ubuntu.svg
BaseImage = ubuntu.qcow2
Boot = /dev/nvme0n1p4
Root = /dev/nvme0n1p4
Kernel = boot/vmlinuz
Initrd = boot/initrd.img
Append = ro splash
StartEnabled = yes
SyncEnabled = yes
NewEnabled = no
Autostart = no
AutostartTimeout = 5
DefaultAction = start
; old-style comment the server accepts too
";

fn parse_ok(text: &str) -> Parsed {
    match StartConf::parse(text) {
        Ok(p) => p,
        Err(e) => panic!("expected to parse, got {e}"),
    }
}

fn parse_err(text: &str) -> Vec<LineError> {
    match StartConf::parse(text) {
        Ok(p) => panic!("expected errors, parsed {p:?}"),
        Err(e) => e.errors,
    }
}

fn assert_roundtrip(conf: &StartConf) {
    let text = conf.render();
    let again = parse_ok(&text).conf;
    assert_eq!(&again, conf, "render:\n{text}");
    assert_eq!(again.render(), text);
}

#[test]
fn dual_boot_parses_with_typed_views() {
    let p = parse_ok(DUAL_BOOT);
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    let c = &p.conf;
    assert_eq!(c.group(), Some("win11_ubuntu"));
    assert_eq!(c.server(), Some("10.0.0.1"));
    assert_eq!(c.server_ip(), Some(std::net::Ipv4Addr::new(10, 0, 0, 1)));
    assert_eq!(c.cache(), Some("/dev/nvme0n1p6"));
    assert_eq!(c.download_type(), DownloadType::Torrent);
    assert_eq!(c.system_type(), Some(SystemType::Efi64));
    assert_eq!(c.kernel_options(), Some("quiet splash"));
    assert_eq!(c.locale(), Some("de-DE"));
    assert_eq!(c.root_timeout(), Some(600));
    assert!(!c.gui_disabled());

    let parts = c.partitions();
    assert_eq!(parts.len(), 6);
    assert_eq!(parts[0].dev, "/dev/nvme0n1p1");
    assert!(parts[0].is_efi());
    assert!(parts[0].bootable);
    assert_eq!(parts[0].size_kib, Some(200 * 1024));
    assert_eq!(parts[1].id, "0c01");
    assert_eq!(parts[1].fstype, "");
    assert_eq!(parts[2].fstype, "ntfs");
    assert_eq!(parts[5].size, "");
    assert_eq!(parts[5].size_kib, None);
    assert_eq!(parts[5].index, 6);

    let oses = c.oses();
    assert_eq!(oses.len(), 2);
    assert_eq!(oses[0].name, "Windows 11");
    assert_eq!(oses[0].base_image, "win11.qcow2");
    assert_eq!(oses[0].qdiff_image().as_deref(), Some("win11.qdiff"));
    assert_eq!(oses[0].kernel, "auto");
    assert_eq!(oses[0].default_action, Some(DefaultAction::Sync));
    assert_eq!(oses[1].index, 2);
    assert_eq!(oses[1].root, "/dev/nvme0n1p4");
    assert_eq!(oses[1].append, "ro splash");
    assert_eq!(oses[1].new_enabled, Some(false));
    assert_eq!(oses[1].autostart_timeout, Some(5));
    assert!(!oses[1].autostart);
}

#[test]
fn dual_boot_render_keeps_comments_and_order() {
    let p = parse_ok(DUAL_BOOT);
    let text = p.conf.render();
    assert!(text.starts_with("# start.conf.win11_ubuntu -- room 101\n"));
    assert!(text.contains("[LINBO] # global settings\n"));
    assert!(text.contains("Cache = /dev/nvme0n1p6 # cache partition\n"));
    assert!(text.contains("Size = # rest of the disk\n"));
    assert!(text.contains("FSType =\n"));
    assert!(text.ends_with("; old-style comment the server accepts too\n"));
    assert_eq!(text.lines().count(), DUAL_BOOT.lines().count());
    assert_roundtrip(&p.conf);
}

#[test]
fn section_names_and_keys_are_case_insensitive() {
    let p = parse_ok("[linbo]\ncache = /dev/sda3\n[partition]\nDEV = /dev/sda1\n[os]\nname = X\nROOT = /dev/sda1\n");
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    assert_eq!(p.conf.cache(), Some("/dev/sda3"));
    assert_eq!(p.conf.partitions()[0].dev, "/dev/sda1");
    assert_eq!(p.conf.oses()[0].name, "X");
    let text = p.conf.render();
    assert!(text.contains("[LINBO]\ncache = /dev/sda3\n[Partition]\nDEV = /dev/sda1\n[OS]\n"));
    assert_roundtrip(&p.conf);
}

#[test]
fn crlf_and_missing_final_newline() {
    let p = parse_ok("[LINBO]\r\nCache = /dev/sda3\r\n[OS]\r\nName = Win");
    assert_eq!(p.conf.cache(), Some("/dev/sda3"));
    assert_eq!(
        p.conf.render(),
        "[LINBO]\nCache = /dev/sda3\n[OS]\nName = Win\n"
    );
}

#[test]
fn indented_lines_are_kept_with_a_warning() {
    let text =
        "[LINBO]\n  Cache = /dev/sda3\nCache = /dev/sda4\n\t# indented comment\n[OS]\nName = W\n";
    let p = parse_ok(text);
    assert_eq!(
        p.warnings,
        vec![LineError::new(
            2,
            "indented, so the LINBO client ignores it"
        )]
    );
    assert_eq!(p.conf.cache(), Some("/dev/sda4"));
    assert_eq!(p.conf.render(), text);
    assert_roundtrip(&p.conf);
}

#[test]
fn unknown_sections_and_keys_are_kept_with_warnings() {
    let text = "[LINBO]\nCache = /dev/sda3\nFancyKey = 1\n[Printer]\nanything goes = \"$here\"\n  even indented\n[OS]\nName = W\n";
    let p = parse_ok(text);
    let lines: Vec<usize> = p.warnings.iter().map(|w| w.line).collect();
    assert_eq!(lines, vec![3, 4], "{:?}", p.warnings);
    assert!(p.warnings[0].message.contains("unknown key 'FancyKey'"));
    assert!(p.warnings[1].message.contains("unknown section [Printer]"));
    assert_eq!(p.conf.render(), text);
    let other = p.conf.section(&SectionKind::Other("Printer".into()), 0);
    assert!(other.is_some());
    assert_roundtrip(&p.conf);
}

#[test]
fn inline_comment_rules() {
    let p = parse_ok("[LINBO]\nKernelOptions = a#b c # real comment\nTheme = x#\t tab comment\n[OS]\nName = W #\n");
    let l = p
        .conf
        .linbo()
        .cloned()
        .unwrap_or_else(|| Section::new(SectionKind::Linbo));
    let e = l.entry("kerneloptions").cloned();
    assert_eq!(
        e,
        Some(Entry {
            key: "KernelOptions".into(),
            value: "a#b c".into(),
            comment: Some("real comment".into())
        })
    );
    assert_eq!(l.get("Theme"), Some("x"));
    assert_eq!(
        l.entry("Theme").and_then(|e| e.comment.clone()).as_deref(),
        Some("tab comment")
    );
    assert_eq!(p.conf.oses()[0].name, "W");
    assert!(p.conf.render().contains("Name = W #\n"));
    assert_roundtrip(&p.conf);
}

#[test]
fn shell_dangerous_values_are_errors() {
    let errs = parse_err("[LINBO]\nKernelOptions = \"quoted\"\nTheme = $(reboot)\nSchool = `id`\nBackgroundColor = x\\\n[OS]\nName = W\n");
    let lines: Vec<usize> = errs.iter().map(|e| e.line).collect();
    assert_eq!(lines, vec![2, 3, 4, 5]);
    assert!(errs[0].message.contains("shell"), "{}", errs[0].message);
    assert!(errs[0].message.contains("'\"'"));
    assert!(errs[1].message.contains("'$'"));
    assert!(errs[2].message.contains("'`'"));
    assert!(errs[3].message.contains("backslash"));
}

#[test]
fn structural_errors_are_all_reported() {
    let text = "\
Cache = /dev/sda3
[LINBO]
Cache = /dev/sda3
cache = /dev/sda4
this is not a setting
[LINBO]
[OS
Name = W
Kernel Options = x
[]
[OS] trailing
";
    let errs = parse_err(text);
    let lines: Vec<usize> = errs.iter().map(|e| e.line).collect();
    assert_eq!(lines, vec![1, 4, 5, 6, 7, 9, 10, 11], "{errs:?}");
    assert!(errs[0].message.contains("before the first section"));
    assert!(errs[1].message.contains("set twice"));
    assert!(errs[1].message.contains("first on line 3"));
    assert!(errs[2].message.contains("not a section header"));
    assert!(errs[3].message.contains("second [LINBO]"));
    assert!(errs[4].message.contains("section header"));
    assert!(errs[5].message.contains("not a valid key"));
    assert!(errs[6].message.contains("empty section name"));
}

#[test]
fn typed_values_are_checked() {
    let text = "\
[LINBO]
DownloadType = ftp
SystemType = uefi
RootTimeout = -1
AutoPartition = maybe
Locale = german
Server = 10.0.0.1/24
Group = room 101
Cache = cache
[Partition]
Dev = sda1
Size = 1.5G
Id = ntfs
FSType = zfs
Bootable = 1
[OS]
Name = W
BaseImage = images/win11.qcow2
Root = sda1
AutostartTimeout = 5s
DefaultAction = boot
";
    let errs = parse_err(text);
    let lines: Vec<usize> = errs.iter().map(|e| e.line).collect();
    assert_eq!(
        lines,
        vec![2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 14, 15, 18, 19, 20, 21],
        "{errs:#?}"
    );
    assert!(errs[0].message.contains("rsync, multicast or torrent"));
    assert!(errs[9].message.contains("k, m, g or t"));
}

#[test]
fn warnings_for_things_the_client_ignores() {
    let p = parse_ok("[LINBO]\nCache = /dev/sda3\n[Partition]\nDev = /dev/sda1\nBootable = True\n[Partition]\nLabel = x\n[Partition]\nDev = /dev/sda1\n[OS]\nRoot = /dev/sda2\n");
    let msgs: Vec<(usize, &str)> = p
        .warnings
        .iter()
        .map(|w| (w.line, w.message.as_str()))
        .collect();
    assert_eq!(msgs.len(), 5, "{msgs:#?}");
    assert_eq!(msgs[0].0, 5);
    assert!(msgs[0].1.contains("lower-case 'yes'"));
    assert_eq!(msgs[1].0, 6);
    assert!(msgs[1].1.contains("without Dev"));
    assert_eq!(msgs[2].0, 9);
    assert!(msgs[2].1.contains("defined twice"));
    assert_eq!(msgs[3].0, 10);
    assert!(msgs[3].1.contains("without Name"));
    assert_eq!(msgs[4].0, 11);
    assert!(msgs[4].1.contains("not the Dev"));
}

#[test]
fn no_os_section_is_a_warning() {
    let p = parse_ok("[LINBO]\nCache = /dev/sda3\n");
    assert_eq!(p.warnings.len(), 1);
    assert!(p.warnings[0].message.contains("not a real configuration"));
    let p = parse_ok("");
    assert_eq!(p.warnings.len(), 2);
    assert_eq!(p.conf, StartConf::default());
    assert_eq!(p.conf.render(), "");
}

#[test]
fn value_ending_in_hash_is_an_error() {
    let errs = parse_err("[LINBO]\nTheme = a## b\n[OS]\nName = W\n");
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].line, 2);
}

#[test]
fn byte_order_mark_is_explained() {
    let errs = parse_err("\u{feff}[LINBO]\nCache = /dev/sda3\n[OS]\nName = W\n");
    assert_eq!(errs[0].line, 1);
    assert!(errs[0].message.contains("byte-order mark"));
}

#[test]
fn set_keeps_comments_and_validates() {
    let mut c = parse_ok(DUAL_BOOT).conf;
    let before = c.render();
    let linbo = c.linbo_mut();
    assert!(linbo.is_some());
    if let Some(linbo) = linbo {
        assert_eq!(linbo.set("cache", "/dev/nvme0n1p7"), Ok(()));
        assert!(linbo.set("DownloadType", "ftp").is_err());
        assert!(linbo.set("KernelOptions", "a $(b)").is_err());
        assert!(linbo.set("KernelOptions", "a # b").is_err());
        assert!(linbo.set("KernelOptions", " padded").is_err());
        assert!(linbo.set("KernelOptions", "two\nlines").is_err());
        assert!(linbo.set("Bad Key", "x").is_err());
    }
    let after = c.render();
    assert_eq!(
        after,
        before.replace(
            "Cache = /dev/nvme0n1p6 # cache partition",
            "Cache = /dev/nvme0n1p7 # cache partition"
        )
    );
    assert_roundtrip(&c);

    // A new key lands after the last setting, before trailing blank lines.
    let os = c.section_mut(&SectionKind::Os, 0);
    assert!(os.is_some());
    if let Some(os) = os {
        assert_eq!(os.set("hidden", "no"), Ok(()));
        assert_eq!(os.get("Hidden"), Some("no"));
        assert_eq!(
            os.remove("Version").map(|e| e.value),
            Some("23H2".to_string())
        );
        assert_eq!(os.get("Version"), None);
    }
    let text = c.render();
    assert!(
        text.contains("DefaultAction = sync\nHidden = no\n\n[OS]\n"),
        "{text}"
    );
    assert_roundtrip(&c);
}

#[test]
fn set_on_unknown_section_is_refused() {
    let mut c = parse_ok("[Extra]\nx = 1\n").conf;
    let s = c.section_mut(&SectionKind::Other("Extra".into()), 0);
    assert!(s.is_some_and(|s| s.set("x", "2").is_err()));
}

#[test]
fn add_section_builds_a_valid_file() {
    let mut c = StartConf::default();
    if let Ok(s) = c.add_section(SectionKind::Linbo) {
        assert_eq!(s.set("Cache", "/dev/sda2"), Ok(()));
        assert_eq!(s.set("Group", "lab"), Ok(()));
    }
    assert!(c.add_section(SectionKind::Linbo).is_err());
    if let Ok(s) = c.add_section(SectionKind::Os) {
        assert_eq!(s.set("Name", "Win"), Ok(()));
    }
    assert!(c.add_section(SectionKind::Other("bad]".into())).is_err());
    assert_eq!(
        c.render(),
        "[LINBO]\nCache = /dev/sda2\nGroup = lab\n\n[OS]\nName = Win\n"
    );
    assert_roundtrip(&c);
}

#[test]
fn new_default_is_valid_and_clean() {
    let c = StartConf::new_default("lab_101", std::net::Ipv4Addr::new(10, 0, 0, 1));
    assert!(c.is_ok());
    if let Ok(c) = c {
        let p = parse_ok(&c.render());
        assert!(p.warnings.is_empty(), "{:?}", p.warnings);
        assert_eq!(c.group(), Some("lab_101"));
        assert_eq!(c.server(), Some("10.0.0.1"));
        assert_eq!(c.cache(), Some("/dev/disk0p3"));
        assert_eq!(c.partitions().len(), 3);
        assert_eq!(c.oses().len(), 1);
        assert_eq!(c.oses()[0].root, "/dev/disk0p2");
        assert_roundtrip(&c);
    }
    assert!(StartConf::new_default("bad group", std::net::Ipv4Addr::LOCALHOST).is_err());
    assert!(StartConf::new_default("$x", std::net::Ipv4Addr::LOCALHOST).is_err());
}

#[test]
fn numbered_lines_behaviour() {
    let v: Vec<_> = numbered_lines("").collect();
    assert!(v.is_empty());
    let v: Vec<_> = numbered_lines("\n").collect();
    assert_eq!(v, vec![(1, "")]);
    let v: Vec<_> = numbered_lines("a\r\nb").collect();
    assert_eq!(v, vec![(1, "a"), (2, "b")]);
    let v: Vec<_> = numbered_lines("a\n\n").collect();
    assert_eq!(v, vec![(1, "a"), (2, "")]);
}
