//! Behaviour of the registry store: uniqueness, imports, migrations, the
//! event log and damaged values.

use std::net::Ipv4Addr;

use bootbox_linbo::devices::{self, Devices};
use bootbox_store::codec::RawJson;
use bootbox_store::schema::{self, HOSTS, HOST_BY_MAC, SCHEMA_VERSION};
use bootbox_store::{
    Group, Host, ImportBatch, IpAssignment, MergeStrategy, Room, Store, StoreError,
};
use redb::ReadableDatabase;

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path().join("bootbox.redb")).expect("open");
    (dir, store)
}

fn host(name: &str, mac_last: u8, ip: Option<u8>) -> Host {
    let ip = ip.map_or("DHCP".to_string(), |o| format!("10.0.0.{o}"));
    let line = format!("r1;{name};g1;00:00:00:00:00:{mac_last:02x};{ip};;;;;;1");
    devices::parse(&line).expect("valid line").records.remove(0)
}

fn csv(lines: &[&str]) -> Devices {
    devices::parse(&lines.join("\n")).expect("valid csv")
}

#[test]
fn new_store_has_current_schema() {
    let (_d, s) = store();
    assert_eq!(s.schema_version().expect("version"), SCHEMA_VERSION);
}

#[test]
fn uniqueness_is_enforced_by_the_store() {
    let (_d, s) = store();
    s.add_host(host("pc1", 1, Some(1)), "t").expect("first");

    let err = s
        .add_host(host("pc1", 2, Some(2)), "t")
        .expect_err("same name");
    assert!(
        matches!(
            err,
            StoreError::Conflict {
                field: "hostname",
                ..
            }
        ),
        "{err}"
    );

    let err = s
        .add_host(host("pc2", 1, Some(2)), "t")
        .expect_err("same MAC");
    assert!(
        matches!(err, StoreError::Conflict { field: "MAC", ref holder, .. } if holder == "pc1"),
        "{err}"
    );

    let err = s
        .add_host(host("pc3", 3, Some(1)), "t")
        .expect_err("same IP");
    assert!(
        matches!(err, StoreError::Conflict { field: "IP", .. }),
        "{err}"
    );

    // DHCP hosts never collide on IP.
    s.add_host(host("pc4", 4, None), "t").expect("dhcp 1");
    s.add_host(host("pc5", 5, None), "t").expect("dhcp 2");
    assert_eq!(s.host_count().expect("count"), 3);

    // A failed add leaves nothing behind, not even an index entry.
    s.add_host(host("pc3", 3, Some(3)), "t")
        .expect("pc3 after failures");
}

#[test]
fn update_and_remove_keep_indexes_consistent() {
    let (_d, s) = store();
    s.add_host(host("pc1", 1, Some(1)), "t").expect("add");
    let mut moved = host("pc1-new", 9, Some(9));
    moved.room = "r2".into();
    s.update_host("pc1", moved, "t").expect("rename");
    assert!(s.host("pc1").expect("get").is_none());
    let mac9 = "00:00:00:00:00:09".parse().expect("mac");
    assert_eq!(
        s.host_by_mac(mac9).expect("by mac").map(|h| h.hostname),
        Some("pc1-new".into())
    );
    // Old MAC and IP are free again.
    s.add_host(host("pc2", 1, Some(1)), "t")
        .expect("reuse old MAC and IP");
    assert!(s.rooms().expect("rooms").iter().any(|r| r.name == "r2"));
    s.remove_host("pc1-new", "t").expect("remove");
    assert!(s.host_by_mac(mac9).expect("by mac").is_none());
    assert!(matches!(
        s.remove_host("pc1-new", "t"),
        Err(StoreError::NotFound { .. })
    ));
}

#[test]
fn invalid_start_conf_is_refused_and_valid_one_is_canonicalised() {
    let (_d, s) = store();
    let bad = Group {
        name: "g1".into(),
        start_conf: Some("[LINBO]\nServer = $(reboot)\n".into()),
        ..Group::default()
    };
    let err = s.put_group(bad, "t").expect_err("shell-unsafe value");
    assert!(err.to_string().contains("line 2"), "{err}");
    assert!(s.group("g1").expect("get").is_none());

    let good = Group {
        name: "g1".into(),
        start_conf: Some("[LINBO]\nGroup = g1\n\n[OS]\nName = Windows 11\n".into()),
        ..Group::default()
    };
    s.put_group(good, "t").expect("valid");
    let stored = s.group("g1").expect("get").expect("exists");
    let text = stored.start_conf.expect("text");
    assert!(text.contains("Group = g1"), "{text}");
}

#[test]
fn rooms_and_groups_in_use_cannot_be_removed() {
    let (_d, s) = store();
    s.add_host(host("pc1", 1, None), "t").expect("add");
    let err = s.remove_group("g1", "t").expect_err("in use");
    assert!(err.to_string().contains("pc1"), "{err}");
    let err = s.remove_room("r1", "t").expect_err("in use");
    assert!(err.to_string().contains("pc1"), "{err}");
    s.put_room(
        Room {
            name: "empty".into(),
            ..Room::default()
        },
        "t",
    )
    .expect("room");
    s.remove_room("empty", "t").expect("empty room goes");
}

#[test]
fn import_strategies() {
    let (_d, s) = store();
    s.add_host(host("keep", 1, Some(1)), "t").expect("add");
    s.add_host(host("change", 2, Some(2)), "t").expect("add");

    let file = csv(&[
        "r1;change;g1;00:00:00:00:00:02;10.0.0.22;;;;;;1",
        "r9;new;g9;00:00:00:00:00:03;DHCP;;;;;;1",
    ]);
    let batch = |strategy| ImportBatch {
        devices: Some(file.clone()),
        strategy,
        ..ImportBatch::default()
    };

    let add_only = s.plan_import(&batch(MergeStrategy::AddOnly)).expect("plan");
    assert_eq!(add_only.hosts_added.len(), 1);
    assert_eq!(add_only.hosts_skipped, vec!["change".to_string()]);

    let update = s.plan_import(&batch(MergeStrategy::Update)).expect("plan");
    assert_eq!(
        (
            update.hosts_added.len(),
            update.hosts_updated.len(),
            update.hosts_removed.len()
        ),
        (1, 1, 0)
    );
    assert_eq!(update.rooms_new, vec!["r9".to_string()]);
    assert_eq!(
        update
            .groups_new
            .iter()
            .map(|g| g.name.as_str())
            .collect::<Vec<_>>(),
        vec!["g9"]
    );

    // Planning changed nothing.
    assert_eq!(s.host_count().expect("count"), 2);

    let replace = s
        .apply_import(&batch(MergeStrategy::Replace), "t")
        .expect("apply");
    assert_eq!(replace.hosts_removed.len(), 1);
    let names: Vec<String> = s
        .hosts()
        .expect("hosts")
        .into_iter()
        .map(|h| h.hostname)
        .collect();
    assert_eq!(names, vec!["change", "new"]);
    assert_eq!(
        s.host("change").expect("get").expect("exists").ip,
        IpAssignment::Static(Ipv4Addr::new(10, 0, 0, 22))
    );
    // The "keep" MAC/IP are free after the replace.
    s.add_host(host("again", 1, Some(1)), "t").expect("freed");
}

#[test]
fn conflicting_import_changes_nothing() {
    let (_d, s) = store();
    s.add_host(host("old", 1, Some(1)), "t").expect("add");
    let before = s.hosts().expect("hosts");
    let events_before = s.recent_events(100).expect("events").len();
    // New host reuses the MAC of a registered host that is not in the file.
    let file = csv(&[
        "r1;a;g1;00:00:00:00:00:0a;10.0.0.10;;;;;;1",
        "r1;b;g1;00:00:00:00:00:01;10.0.0.11;;;;;;1",
    ]);
    let batch = ImportBatch {
        devices: Some(file),
        strategy: MergeStrategy::Update,
        ..ImportBatch::default()
    };
    let plan = s.plan_import(&batch).expect("plan");
    assert_eq!(plan.conflicts.len(), 1);
    assert!(
        plan.conflicts[0].contains("host old (already registered, not in the file)"),
        "{:?}",
        plan.conflicts
    );
    assert!(
        plan.conflicts[0].contains("host b (line 2)"),
        "{:?}",
        plan.conflicts
    );
    let err = s.apply_import(&batch, "t").expect_err("refused");
    assert!(matches!(err, StoreError::ImportConflicts(_)));
    assert_eq!(s.hosts().expect("hosts"), before);
    assert_eq!(s.recent_events(100).expect("events").len(), events_before);
}

#[test]
fn every_action_is_audited_in_order() {
    let (_d, s) = store();
    s.add_host(host("pc1", 1, None), "cli:alice").expect("add");
    s.remove_host("pc1", "web:bob").expect("rm");
    let _ = s.add_host(host("pc1", 1, None), "cli:alice"); // ok again
    let _ = s.add_host(host("pc1", 1, None), "cli:alice"); // conflict: not logged
    let ev = s.events(0, 100).expect("events");
    let got: Vec<(u64, &str, &str)> = ev
        .iter()
        .map(|e| (e.seq, e.actor.as_str(), e.action.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            (1, "cli:alice", "host.add"),
            (2, "web:bob", "host.remove"),
            (3, "cli:alice", "host.add")
        ]
    );
    assert_eq!(s.events(2, 10).expect("after 2").len(), 1);
    assert_eq!(s.recent_events(1).expect("recent")[0].seq, 3);
}

#[test]
fn opens_a_database_written_by_schema_version_1() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("old.redb");
    {
        // Write the file exactly as version 1 did: no IP index, and host
        // records without the `extra` devices.csv fields.
        let db = redb::Database::create(&path).expect("create");
        let txn = db.begin_write().expect("txn");
        schema::v1::create(&txn).expect("v1 layout");
        {
            let mut raw = txn
                .open_table(redb::TableDefinition::<&str, RawJson<Host>>::new("hosts"))
                .expect("hosts");
            let v1_host = br#"{"room":"r1","hostname":"pc1","group":"g1","mac":"00:00:00:00:00:01","ip":{"kind":"static","addr":"10.0.0.1"},"pxe":1,"role":""}"#;
            raw.insert("pc1", v1_host.as_slice()).expect("insert");
            let mut by_mac = txn.open_table(HOST_BY_MAC).expect("mac index");
            by_mac.insert([0, 0, 0, 0, 0, 1], "pc1").expect("insert");
        }
        txn.commit().expect("commit");
        let r = db.begin_read().expect("read");
        assert!(
            r.open_table(schema::HOST_BY_IP).is_err(),
            "v1 had no IP index"
        );
    }
    let s = Store::open(&path).expect("open v1 file");
    assert_eq!(s.schema_version().expect("version"), SCHEMA_VERSION);
    let h = s.host("pc1").expect("get").expect("migrated host");
    assert_eq!(h.extra, Default::default());
    // The migrated IP index now guards uniqueness.
    let err = s
        .add_host(host("pc2", 2, Some(1)), "t")
        .expect_err("IP taken");
    assert!(
        matches!(err, StoreError::Conflict { field: "IP", .. }),
        "{err}"
    );
}

#[test]
fn migration_with_duplicate_ips_is_refused_and_file_untouched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("old.redb");
    {
        let db = redb::Database::create(&path).expect("create");
        let txn = db.begin_write().expect("txn");
        schema::v1::create(&txn).expect("v1 layout");
        {
            let mut hosts = txn.open_table(HOSTS).expect("hosts");
            for (name, last) in [("a", 1u8), ("b", 2)] {
                let mut h = host(name, last, Some(5));
                h.hostname = name.into();
                hosts
                    .insert(name, Ok::<_, bootbox_store::CorruptValue>(h))
                    .expect("insert");
            }
        }
        txn.commit().expect("commit");
    }
    let err = Store::open(&path).expect_err("duplicate IPs");
    assert!(err.to_string().contains("10.0.0.5"), "{err}");
    let db = redb::Database::open(&path).expect("reopen");
    assert_eq!(schema::read_version(&db).expect("version"), Some(1));
}

#[test]
fn newer_schema_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("new.redb");
    {
        let db = redb::Database::create(&path).expect("create");
        let txn = db.begin_write().expect("txn");
        txn.open_table(schema::META)
            .expect("meta")
            .insert(schema::VERSION_KEY, 99u64)
            .expect("v");
        txn.commit().expect("commit");
    }
    assert!(matches!(
        Store::open(&path),
        Err(StoreError::TooNew { found: 99, .. })
    ));
}

#[test]
fn damaged_value_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("x.redb");
    drop(Store::open(&path).expect("create"));
    {
        let db = redb::Database::open(&path).expect("open raw");
        let txn = db.begin_write().expect("txn");
        txn.open_table(redb::TableDefinition::<&str, RawJson<Host>>::new("hosts"))
            .expect("hosts")
            .insert("pc1", b"{not json".as_slice())
            .expect("insert");
        txn.commit().expect("commit");
    }
    let s = Store::open(&path).expect("reopen");
    let err = s.hosts().expect_err("corrupt");
    assert!(
        matches!(err, StoreError::Corrupt { table: "hosts", .. }),
        "{err}"
    );
}

#[test]
fn opens_a_database_written_by_schema_version_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("v2.redb");
    {
        let db = redb::Database::create(&path).expect("create");
        let txn = db.begin_write().expect("txn");
        schema::v1::create(&txn).expect("v1 tables");
        txn.open_table(schema::HOST_BY_IP).expect("v2 IP index");
        txn.open_table(schema::META)
            .expect("meta")
            .insert(schema::VERSION_KEY, 2u64)
            .expect("v");
        txn.commit().expect("commit");
    }
    let s = Store::open(&path).expect("open v2 file");
    assert_eq!(s.schema_version().expect("version"), SCHEMA_VERSION);
    s.add_host(host("pc1", 1, None), "t").expect("add");
    assert_eq!(
        s.host_settings("pc1").expect("settings"),
        Default::default()
    );
}

#[test]
fn boot_settings_follow_the_host() {
    use bootbox_store::{BootMode, GroupSettings, HostSettings};
    let (_d, s) = store();
    s.add_host(host("pc1", 1, None), "t").expect("add");
    let local = HostSettings {
        boot: Some(BootMode::Local),
        ..Default::default()
    };
    s.set_host_settings("pc1", local.clone(), "t").expect("set");
    assert!(s.set_host_settings("nope", local.clone(), "t").is_err());
    s.set_group_settings(
        "g1",
        GroupSettings {
            boot: BootMode::Menu,
            ..Default::default()
        },
        "t",
    )
    .expect("group");

    let mac = "00:00:00:00:00:01".parse().expect("mac");
    let view = s.boot_view(mac).expect("view").expect("registered");
    assert_eq!(view.host_settings, local);
    assert_eq!(view.group_settings.boot, BootMode::Menu);
    assert!(s
        .boot_view("00:00:00:00:00:99".parse().expect("mac"))
        .expect("view")
        .is_none());

    s.update_host("pc1", host("pc1b", 1, None), "t")
        .expect("rename");
    assert_eq!(s.host_settings("pc1b").expect("moved"), local);
    s.remove_host("pc1b", "t").expect("rm");
    s.add_host(host("pc1b", 1, None), "t").expect("re-add");
    assert_eq!(
        s.host_settings("pc1b").expect("fresh"),
        HostSettings::default()
    );
}

#[test]
fn timeline_is_bounded_per_mac_and_ordered() {
    use bootbox_store::{BootEvent, TIMELINE_PER_MAC};
    let (_d, s) = store();
    let a = "00:00:00:00:00:0a".parse().expect("mac");
    let b = "00:00:00:00:00:0b".parse().expect("mac");
    let ev = |i: usize| BootEvent {
        time_ms: i as u64,
        source: "dhcp".into(),
        step: "offer".into(),
        detail: format!("#{i}"),
    };
    let batch: Vec<_> = (0..TIMELINE_PER_MAC + 25)
        .map(|i| (a, ev(i)))
        .chain([(b, ev(7))])
        .collect();
    s.append_boot_events(&batch).expect("append");
    s.flush().expect("flush");
    let got = s.timeline(a, 1000).expect("timeline");
    assert_eq!(got.len(), TIMELINE_PER_MAC);
    assert_eq!(got.first().map(|e| e.detail.as_str()), Some("#25"));
    assert_eq!(
        got.last().map(|e| e.detail.clone()),
        Some(format!("#{}", TIMELINE_PER_MAC + 24))
    );
    assert_eq!(s.timeline(a, 3).expect("newest 3").len(), 3);
    assert_eq!(s.timeline(b, 10).expect("b").len(), 1);
}
