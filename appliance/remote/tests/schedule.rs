//! Schedules with an injectable clock: fires once, survives a restart
//! without firing again, missed-run policies, webhook on failure.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use bootbox_remote::job::{HostReport, HostStatus, JobSnapshot};
use bootbox_remote::schedule::{self, Due, ManualClock, Runner, Scheduler};
use bootbox_remote::Result;
use bootbox_store::jobs::{MissedPolicy, RunOutcome, Schedule, ScheduleTarget};
use bootbox_store::Store;

/// A runner that reports pc2 as failed and counts its runs.
#[derive(Default)]
struct FailingRunner {
    runs: AtomicUsize,
}

impl Runner for FailingRunner {
    async fn run(&self, s: &Schedule) -> Result<JobSnapshot> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        let host = |name: &str, status| HostReport {
            host: name.into(),
            address: String::new(),
            mac: String::new(),
            status,
            woken: true,
            online: Some(true),
            onboot_written: false,
            picked_up: None,
            rebooted: false,
            commands: Vec::new(),
            error: None,
        };
        Ok(JobSnapshot {
            id: 1,
            title: s.name.clone(),
            started_ms: 0,
            finished_ms: Some(1),
            hosts: vec![
                host("pc1", HostStatus::Done),
                host("pc2", HostStatus::Failed),
            ],
        })
    }
}

/// A one-shot HTTP receiver on loopback; sends each request body to `tx`.
fn receiver() -> (String, mpsc::Receiver<String>) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/hook", l.local_addr().expect("addr"));
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut c) = conn else { continue };
            let mut r = BufReader::new(c.try_clone().expect("clone"));
            let mut len = 0usize;
            let mut first = String::new();
            let _ = r.read_line(&mut first);
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0u8; len];
            let _ = r.read_exact(&mut body);
            let _ = c.write_all(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n");
            let _ = tx.send(format!("{}{}", first, String::from_utf8_lossy(&body)));
        }
    });
    (url, rx)
}

const MIN: u64 = 60_000;

fn minute_ahead_schedule(now_ms: u64, webhook: Option<String>) -> Schedule {
    // The next full minute after now + 1 min, in UTC.
    let at = (now_ms / MIN + 2) * MIN;
    let secs = at / 1000;
    let (h, m) = ((secs / 3600) % 24, (secs / 60) % 60);
    Schedule {
        name: "r101-evening".into(),
        cron: format!("{m} {h} * * *"),
        timezone: "UTC".into(),
        target: ScheduleTarget::Room("r101".into()),
        commands: "sync:1,halt".into(),
        enabled: true,
        webhook,
        created_ms: now_ms,
        ..Schedule::default()
    }
}

#[tokio::test]
async fn fires_once_survives_restart_and_calls_the_webhook() {
    let tmp = tempfile::tempdir().expect("tmp");
    let db = tmp.path().join("bootbox.redb");
    let start = 1_800_000_000_000u64; // a fixed instant, injectable clock
    let clock = Arc::new(ManualClock::new(start));
    let runner = Arc::new(FailingRunner::default());
    let (url, hooks) = receiver();
    let fire_at;
    {
        let store = Arc::new(Store::open(&db).expect("open"));
        let s = minute_ahead_schedule(start, Some(url.clone()));
        schedule::check(&s).expect("valid");
        store.put_schedule(s, "test").expect("put");
        fire_at = (start / MIN + 2) * MIN;
        let sched = Scheduler::new(store.clone(), runner.clone(), clock.clone());
        assert!(sched.tick().await.expect("tick").is_empty(), "not yet");
        clock.set(fire_at - 1);
        assert!(sched.tick().await.expect("tick").is_empty(), "1 ms early");
        clock.set(fire_at + 5_000);
        let fired = sched.tick().await.expect("tick");
        assert_eq!(fired.len(), 1, "{fired:?}");
        assert_eq!(fired[0].outcome, RunOutcome::Failed);
        assert_eq!(fired[0].webhook, Some(Ok(204)));
        // Same minute, again: nothing.
        clock.set(fire_at + 30_000);
        assert!(sched.tick().await.expect("tick").is_empty());
    }
    let hook = hooks
        .recv_timeout(Duration::from_secs(5))
        .expect("webhook received");
    assert!(hook.starts_with("POST /hook HTTP/1.1"), "{hook}");
    assert!(hook.contains("\"schedule.failed\""), "{hook}");
    assert!(hook.contains("\"pc2\""), "{hook}");
    assert_eq!(runner.runs.load(Ordering::SeqCst), 1);

    // "Restart": a new store handle and scheduler on the same file.
    let store = Arc::new(Store::open(&db).expect("reopen"));
    let sched = Scheduler::new(store.clone(), runner.clone(), clock.clone());
    assert!(
        sched.tick().await.expect("tick").is_empty(),
        "no double run"
    );
    assert_eq!(runner.runs.load(Ordering::SeqCst), 1);
    let runs = store.schedule_runs(Some("r101-evening"), 10).expect("runs");
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].outcome, RunOutcome::Failed);
    assert_eq!(runs[0].failed_hosts, vec!["pc2".to_string()]);
    assert_eq!(runs[0].scheduled_ms, fire_at);

    // The next day, on time: fires again (once).
    clock.set(fire_at + 24 * 60 * MIN + 1_000);
    assert_eq!(sched.tick().await.expect("tick").len(), 1);
    assert_eq!(runner.runs.load(Ordering::SeqCst), 2);

    // Disabled: never fires.
    store
        .set_schedule_enabled("r101-evening", false, "t")
        .expect("disable");
    clock.set(fire_at + 2 * 24 * 60 * MIN + 1_000);
    assert!(sched.tick().await.expect("tick").is_empty());
    assert_eq!(runner.runs.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn missed_runs_follow_the_policy() {
    let tmp = tempfile::tempdir().expect("tmp");
    let store = Arc::new(Store::open(tmp.path().join("b.redb")).expect("open"));
    let start = 1_800_000_000_000u64;
    let clock = Arc::new(ManualClock::new(start));
    let runner = Arc::new(FailingRunner::default());
    let sched = Scheduler::new(store.clone(), runner.clone(), clock.clone());
    let fire_at = (start / MIN + 2) * MIN;

    let skip = minute_ahead_schedule(start, None);
    let late = Schedule {
        name: "late".into(),
        missed: MissedPolicy::RunLate { grace_s: 3600 },
        ..minute_ahead_schedule(start, None)
    };
    store.put_schedule(skip, "t").expect("put");
    store.put_schedule(late, "t").expect("put");
    // The box was off for 30 minutes past the time.
    clock.set(fire_at + 30 * MIN);
    let mut fired = sched.tick().await.expect("tick");
    fired.sort_by(|a, b| a.schedule.cmp(&b.schedule));
    assert_eq!(fired.len(), 2, "{fired:?}");
    assert_eq!(fired[0].schedule, "late");
    assert_eq!(fired[0].outcome, RunOutcome::Failed, "ran late");
    assert_eq!(fired[1].outcome, RunOutcome::Skipped, "skipped");
    assert_eq!(runner.runs.load(Ordering::SeqCst), 1);
    // Three days off: one skip each (RunLate beyond its grace), no flood.
    clock.set(fire_at + 3 * 24 * 60 * MIN + 90 * MIN);
    let fired = sched.tick().await.expect("tick");
    assert_eq!(fired.len(), 2);
    assert!(fired.iter().all(|f| f.outcome == RunOutcome::Skipped));
    assert!(sched.tick().await.expect("tick").is_empty());
}

#[test]
fn time_zones_and_bad_expressions() {
    let s = Schedule {
        name: "x".into(),
        cron: "30 18 * * mon,wed".into(),
        timezone: "Europe/Berlin".into(),
        enabled: true,
        // Sunday 2026-01-04 12:00 UTC.
        created_ms: 1_767_528_000_000,
        ..Schedule::default()
    };
    let (cron, tz) = schedule::parse(&s.cron, &s.timezone).expect("parse");
    let next = schedule::next_after(&cron, &tz, s.created_ms)
        .expect("next")
        .expect("some");
    // Monday 2026-01-05 18:30 CET = 17:30 UTC.
    assert_eq!(next, 1_767_634_200_000);
    assert_eq!(schedule::due(&s, next - 1).expect("due"), Due::No);
    assert_eq!(schedule::due(&s, next).expect("due"), Due::Fire(next));
    assert!(schedule::parse("61 * * * *", "UTC").is_err());
    assert!(schedule::parse("* * * * *", "Mars/Olympus").is_err());
}
