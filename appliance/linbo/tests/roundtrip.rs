//! Property tests: every valid document survives render → parse unchanged,
//! rendering is stable, and no input makes a parser panic.

use std::net::Ipv4Addr;

use bootbox_linbo::desc::ImageDesc;
use bootbox_linbo::info::ImageInfo;
use bootbox_linbo::multicast::{MulticastEntry, MulticastList};
use bootbox_linbo::onboot::{Command, OnbootCmd};
use bootbox_linbo::startconf::{DownloadType, Entry, Line, Section, SectionKind, StartConf};
use proptest::prelude::*;

// ---------------------------------------------------------------- start.conf

/// Free comment text: printable, may contain '#', trimmed.
fn comment_text() -> impl Strategy<Value = String> {
    "[ -~äöüß€]{0,24}".prop_map(|s| s.trim().to_string())
}

fn comment_line() -> impl Strategy<Value = Line> {
    (prop_oneof!["#", ";", " #", "\t;", "##"], "[ -~äö]{0,24}")
        .prop_map(|(mark, rest)| Line::Comment(format!("{mark}{rest}")))
}

/// A non-blank line that does not start like a comment.
fn plain_text() -> impl Strategy<Value = String> {
    "[A-Za-z0-9=\\[\\]$\"`.:/ -]{0,24}".prop_map(|s| s)
}

fn indented_line() -> impl Strategy<Value = Line> {
    (
        prop_oneof![" ", "  ", "\t"],
        "[A-Za-z0-9=\\[]",
        plain_text(),
    )
        .prop_map(|(ws, first, rest)| Line::Indented(format!("{ws}{first}{rest}")))
}

fn raw_line() -> impl Strategy<Value = Line> {
    (prop_oneof!["", " ", "\t"], "[A-Za-z0-9=$\"`]", plain_text())
        .prop_map(|(ws, first, rest)| Line::Raw(format!("{ws}{first}{rest}")))
}

/// Values that are safe for any unknown or free-text key.
fn text_value() -> impl Strategy<Value = String> {
    "[A-Za-z0-9 ._:/=,+#()'-]{0,24}".prop_filter_map("not a clean value", |s| {
        let t = s.trim().to_string();
        let comment = t
            .char_indices()
            .any(|(i, c)| c == '#' && t[i + 1..].chars().next().is_none_or(char::is_whitespace));
        (!comment).then_some(t)
    })
}

fn pick(options: &'static [&'static str]) -> impl Strategy<Value = String> {
    proptest::sample::select(options).prop_map(str::to_string)
}

fn bool_value() -> impl Strategy<Value = String> {
    pick(&["yes", "no", "", "No", "false", "disable"])
}

/// (key, value) for a known key of a section kind, with a valid value.
fn known_entry(kind: &SectionKind) -> BoxedStrategy<(String, String)> {
    let dev = || {
        (
            pick(&["/dev/sda", "/dev/nvme0n1p", "/dev/disk0p", "/dev/mmcblk0p"]),
            1u8..20,
        )
            .prop_map(|(d, n)| format!("{d}{n}"))
    };
    match kind {
        SectionKind::Linbo => prop_oneof![
            any::<[u8; 4]>().prop_map(|o| ("Server".into(), Ipv4Addr::from(o).to_string())),
            "[A-Za-z0-9_-]{1,12}".prop_map(|g| ("Group".into(), g)),
            dev().prop_map(|d| ("Cache".into(), d)),
            (0u32..10000).prop_map(|n| ("RootTimeout".into(), n.to_string())),
            bool_value().prop_map(|b| ("AutoPartition".into(), b)),
            bool_value().prop_map(|b| ("GuiDisabled".into(), b)),
            pick(&["rsync", "multicast", "torrent", "Torrent", ""])
                .prop_map(|v| ("DownloadType".into(), v)),
            pick(&["bios", "bios64", "efi32", "efi64"]).prop_map(|v| ("SystemType".into(), v)),
            pick(&["de-de", "en-GB", "fr_fr", ""]).prop_map(|v| ("Locale".into(), v)),
            text_value().prop_map(|v| ("KernelOptions".into(), v)),
        ]
        .boxed(),
        SectionKind::Partition => prop_oneof![
            dev().prop_map(|d| ("Dev".into(), d)),
            text_value().prop_map(|v| ("Label".into(), v)),
            (1u32..100000, pick(&["", "k", "M", "G", "GB", "t"]))
                .prop_map(|(n, u)| ("Size".into(), format!("{n}{u}"))),
            pick(&["ef", "0c01", "7", "83", "82", "5", ""]).prop_map(|v| ("Id".into(), v)),
            pick(&["vfat", "ntfs", "ext4", "swap", ""]).prop_map(|v| ("FSType".into(), v)),
            bool_value().prop_map(|b| ("Bootable".into(), b)),
        ]
        .boxed(),
        SectionKind::Os => prop_oneof![
            text_value().prop_map(|v| ("Name".into(), v)),
            "[a-z0-9_]{1,10}\\.(qcow2|iso)".prop_map(|v| ("BaseImage".into(), v)),
            dev().prop_map(|d| ("Root".into(), d)),
            text_value().prop_map(|v| ("Append".into(), v)),
            pick(&["auto", "boot/vmlinuz", ""]).prop_map(|v| ("Kernel".into(), v)),
            bool_value().prop_map(|b| ("Autostart".into(), b)),
            (0u32..100).prop_map(|n| ("AutostartTimeout".into(), n.to_string())),
            pick(&["start", "sync", "new"]).prop_map(|v| ("DefaultAction".into(), v)),
        ]
        .boxed(),
        SectionKind::Other(_) => Just(("x".to_string(), String::new())).boxed(),
    }
}

fn unknown_entry() -> impl Strategy<Value = (String, String)> {
    ("Zz[A-Za-z0-9_]{0,8}", text_value())
}

fn section(kind: SectionKind) -> BoxedStrategy<Section> {
    let header_comment = proptest::option::of(comment_text());
    if let SectionKind::Other(_) = kind {
        let line = prop_oneof![Just(Line::Blank), comment_line(), raw_line()];
        return (header_comment, proptest::collection::vec(line, 0..6))
            .prop_map(move |(comment, lines)| Section {
                kind: kind.clone(),
                comment,
                lines,
            })
            .boxed();
    }
    let entry = (
        prop_oneof![3 => known_entry(&kind), 1 => unknown_entry()],
        proptest::option::of(comment_text()),
    )
        .prop_map(|((key, value), comment)| {
            Line::Entry(Entry {
                key,
                value,
                comment,
            })
        });
    let line = prop_oneof![
        1 => Just(Line::Blank),
        1 => comment_line(),
        1 => indented_line(),
        5 => entry,
    ];
    (header_comment, proptest::collection::vec(line, 0..10))
        .prop_map(move |(comment, lines)| {
            // Keep only the first entry per key (case-insensitive).
            let mut seen = std::collections::HashSet::new();
            let lines = lines
                .into_iter()
                .filter(|l| match l {
                    Line::Entry(e) => seen.insert(e.key.to_ascii_lowercase()),
                    _ => true,
                })
                .collect();
            Section {
                kind: kind.clone(),
                comment,
                lines,
            }
        })
        .boxed()
}

fn section_kind() -> impl Strategy<Value = SectionKind> {
    prop_oneof![
        3 => Just(SectionKind::Partition),
        3 => Just(SectionKind::Os),
        1 => "[A-Za-z][A-Za-z0-9_]{0,8}"
            .prop_filter("not a LINBO name", |n| {
                !["linbo", "partition", "os"].contains(&n.to_ascii_lowercase().as_str())
            })
            .prop_map(SectionKind::Other),
    ]
}

fn start_conf() -> impl Strategy<Value = StartConf> {
    let preamble = proptest::collection::vec(
        prop_oneof![Just(Line::Blank), comment_line(), indented_line()],
        0..4,
    );
    let linbo = proptest::option::of(section(SectionKind::Linbo));
    let rest = proptest::collection::vec(section_kind().prop_flat_map(section), 0..6);
    (preamble, linbo, rest).prop_map(|(preamble, linbo, rest)| StartConf {
        preamble,
        sections: linbo.into_iter().chain(rest).collect(),
    })
}

/// Line-level fragments for text that is often, but not always, valid.
fn startconf_text() -> impl Strategy<Value = String> {
    let line = prop_oneof![
        pick(&[
            "[LINBO]",
            "[Partition]",
            "[OS]",
            "[os] # c",
            "[Foo]",
            "[",
            "[]",
            ""
        ]),
        pick(&[
            "Cache = /dev/sda3",
            "Name = Win 11",
            "Dev = /dev/disk0p1",
            "Size = 50G"
        ]),
        pick(&[
            "Bootable = True",
            "Id = ef",
            "Root=/dev/sda1#",
            "a = b # c",
            "x"
        ]),
        "[A-Za-z ]{0,3}[=#;\\[\\] \t$\"`A-Za-z0-9/]{0,16}",
        "[ -~]{0,20}",
    ];
    (
        proptest::collection::vec(line, 0..14),
        pick(&["\n", "\r\n"]),
    )
        .prop_map(|(lines, nl)| lines.join(&nl))
}

proptest! {
    #[test]
    fn startconf_model_roundtrip(conf in start_conf()) {
        let text = conf.render();
        let parsed = StartConf::parse(&text);
        prop_assert!(parsed.is_ok(), "{:?}\n{}", parsed.err(), text);
        if let Ok(p) = parsed {
            prop_assert_eq!(&p.conf, &conf);
            prop_assert_eq!(p.conf.render(), text);
        }
    }

    #[test]
    fn startconf_text_roundtrip(text in startconf_text()) {
        if let Ok(p) = StartConf::parse(&text) {
            let once = p.conf.render();
            let again = StartConf::parse(&once);
            prop_assert!(again.is_ok(), "{:?}\n{}", again.err(), once);
            if let Ok(again) = again {
                prop_assert_eq!(&again.conf, &p.conf);
                prop_assert_eq!(again.conf.render(), once);
            }
        }
    }

    #[test]
    fn startconf_set_keeps_file_valid(conf in start_conf(), value in text_value()) {
        let mut conf = conf;
        if let Some(s) = conf.sections.iter_mut().find(|s| !matches!(s.kind, SectionKind::Other(_))) {
            let key = match s.kind {
                SectionKind::Os => "Description",
                SectionKind::Partition => "Label",
                _ => "Theme",
            };
            prop_assert_eq!(s.set(key, &value), Ok(()));
            prop_assert_eq!(s.get(key), Some(value.as_str()));
            let text = conf.render();
            let parsed = StartConf::parse(&text);
            prop_assert!(parsed.is_ok(), "{:?}\n{}", parsed.err(), text);
            if let Ok(p) = parsed {
                prop_assert_eq!(p.conf, conf);
            }
        }
    }
}

// ---------------------------------------------------------------- onboot

fn command() -> impl Strategy<Value = Command> {
    let n = 1u32..1000;
    let comment = proptest::option::of("[A-Za-z0-9 ._äö-]{1,20}");
    prop_oneof![
        Just(Command::Partition),
        proptest::option::of(1u32..50).prop_map(Command::Format),
        Just(Command::Label),
        proptest::option::of(proptest::sample::select(vec![
            DownloadType::Rsync,
            DownloadType::Multicast,
            DownloadType::Torrent
        ]))
        .prop_map(Command::InitCache),
        n.clone().prop_map(Command::Sync),
        n.clone().prop_map(Command::New),
        n.clone().prop_map(Command::Postsync),
        n.clone().prop_map(Command::Prestart),
        n.clone().prop_map(Command::Start),
        (n.clone(), comment.clone()).prop_map(|(os, comment)| Command::CreateImage { os, comment }),
        (n.clone(), comment).prop_map(|(os, comment)| Command::CreateQdiff { os, comment }),
        n.clone().prop_map(Command::UploadImage),
        n.prop_map(Command::UploadQdiff),
        Just(Command::Reboot),
        Just(Command::Halt),
        Just(Command::Poweroff),
        Just(Command::NoAuto),
        Just(Command::DisableGui),
    ]
}

proptest! {
    #[test]
    fn onboot_roundtrip(commands in proptest::collection::vec(command(), 0..8)) {
        let cmd = OnbootCmd { commands };
        let text = cmd.render();
        prop_assert_eq!(OnbootCmd::parse(&text), Ok(cmd.clone()));
        for c in &cmd.commands {
            prop_assert_eq!(Command::parse(&c.to_string()), Ok(c.clone()));
        }
    }

    #[test]
    fn onboot_text_roundtrip(text in "[a-z_:,0-9\"$ ]{0,40}") {
        if let Ok(cmd) = OnbootCmd::parse(&text) {
            let once = cmd.render();
            prop_assert_eq!(OnbootCmd::parse(&once), Ok(cmd));
        }
    }
}

// ---------------------------------------------------------------- info

fn timestamp() -> impl Strategy<Value = String> {
    (2000u32..2100, 1u32..13, 1u32..32, 0u32..24, 0u32..60)
        .prop_map(|(y, mo, d, h, mi)| format!("{y:04}{mo:02}{d:02}{h:02}{mi:02}"))
}

fn image_info() -> impl Strategy<Value = ImageInfo> {
    let extra =
        proptest::collection::vec(("x[a-z0-9_]{0,8}", "[ -!#-~]{0,20}"), 0..3).prop_map(|v| {
            let mut seen = std::collections::HashSet::new();
            v.into_iter()
                .filter(|(k, _)| seen.insert(k.clone()))
                .collect::<Vec<_>>()
        });
    (
        "[a-z0-9_]{1,10}\\.(qcow2|qdiff|iso)",
        timestamp(),
        proptest::option::of(any::<u64>()),
        proptest::option::of("/dev/[a-z0-9]{1,8}"),
        proptest::option::of(any::<u64>()),
        proptest::option::of(timestamp()),
        extra,
    )
        .prop_map(
            |(image, timestamp, imagesize, partition, partitionsize, backing, extra)| ImageInfo {
                image,
                timestamp,
                imagesize,
                partition,
                partitionsize,
                backingfile_timestamp: backing,
                extra,
            },
        )
}

proptest! {
    #[test]
    fn info_roundtrip(info in image_info()) {
        let text = info.render();
        prop_assert_eq!(ImageInfo::parse(&text), Ok(info.clone()));
        prop_assert_eq!(ImageInfo::parse(&text).map(|i| i.render()), Ok(text));
    }
}

// ---------------------------------------------------------------- multicast

fn multicast_list() -> impl Strategy<Value = MulticastList> {
    proptest::collection::vec(
        (
            "[A-Za-z0-9_-][A-Za-z0-9._-]{0,12}",
            any::<[u8; 4]>(),
            1u16..=65535,
        ),
        0..6,
    )
    .prop_map(|v| {
        let mut seen = std::collections::HashSet::new();
        MulticastList {
            entries: v
                .into_iter()
                .filter(|(img, _, _)| seen.insert(img.clone()))
                .map(|(image, ip, port)| MulticastEntry {
                    image,
                    server: Ipv4Addr::from(ip),
                    port,
                })
                .collect(),
        }
    })
}

proptest! {
    #[test]
    fn multicast_roundtrip(list in multicast_list()) {
        let text = list.render();
        prop_assert_eq!(MulticastList::parse(&text), Ok(list));
    }

    #[test]
    fn desc_is_lossless(text in any::<String>(), date in "[A-Za-z0-9 :]{1,30}", msg in "[ -~]{0,30}") {
        let mut d = ImageDesc::parse(&text);
        prop_assert_eq!(d.render(), text.clone());
        d.prepend(&date, &msg);
        prop_assert!(d.render().ends_with(&text));
        prop_assert_eq!(ImageDesc::parse(&d.render()), d);
    }
}

// ---------------------------------------------------------------- no panics

fn nasty_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        any::<String>(),
        pick(&["\n", "\r\n", "\r", "[", "]", "=", "#", "# ", ";", ":", ",", "\"", "$", "`", "\\"]),
        pick(&[
            "[LINBO]",
            "[OS]",
            "[Partition]",
            "Dev",
            "sync:1",
            "create_image:1:\"",
            "linbo:"
        ]),
        pick(&[
            "[\"a\" Info File]",
            "timestamp=",
            "image=",
            " 1.2.3.4:",
            "\u{feff}",
            "\u{2028}",
            "é"
        ]),
    ];
    proptest::collection::vec(piece, 0..24).prop_map(|v| v.concat())
}

proptest! {
    #[test]
    fn parsers_never_panic(text in nasty_text()) {
        let _ = StartConf::parse(&text);
        let _ = OnbootCmd::parse(&text);
        let _ = Command::parse(&text);
        let _ = ImageInfo::parse(&text);
        let _ = MulticastList::parse(&text);
        let _ = ImageDesc::parse(&text).entries();
        let _ = bootbox_linbo::devices::parse(&text);
    }

    #[test]
    fn successful_parses_roundtrip(text in nasty_text()) {
        if let Ok(p) = StartConf::parse(&text) {
            prop_assert_eq!(StartConf::parse(&p.conf.render()).map(|q| q.conf), Ok(p.conf));
        }
        if let Ok(c) = OnbootCmd::parse(&text) {
            prop_assert_eq!(OnbootCmd::parse(&c.render()), Ok(c));
        }
        if let Ok(i) = ImageInfo::parse(&text) {
            prop_assert_eq!(ImageInfo::parse(&i.render()), Ok(i));
        }
        if let Ok(m) = MulticastList::parse(&text) {
            prop_assert_eq!(MulticastList::parse(&m.render()), Ok(m));
        }
    }
}

// ---------------------------------------------------------------- seed corpus

/// The committed fuzz seeds are realistic files; they must all parse.
#[test]
fn fuzz_seed_corpus_parses() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let read = |target: &str| -> Vec<(String, String)> {
        let mut out = Vec::new();
        if let Ok(entries) = std::fs::read_dir(dir.join(target)) {
            for e in entries.flatten() {
                if let Ok(text) = std::fs::read_to_string(e.path()) {
                    out.push((e.path().display().to_string(), text));
                }
            }
        }
        assert!(out.len() >= 3, "seed corpus for {target} is missing");
        out
    };
    for (path, text) in read("startconf") {
        let p = StartConf::parse(&text);
        assert!(p.is_ok(), "{path}: {:?}", p.err());
    }
    for (path, text) in read("info") {
        assert!(ImageInfo::parse(&text).is_ok(), "{path}");
    }
    for (path, text) in read("onboot") {
        assert!(OnbootCmd::parse(&text).is_ok(), "{path}");
    }
    for (path, text) in read("multicast") {
        assert!(MulticastList::parse(&text).is_ok(), "{path}");
    }
}
