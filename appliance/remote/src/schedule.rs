//! Schedules: cron-style recurring remote jobs kept in the store.
//!
//! - Cron expressions are read by [`croner`] (5 fields, names such as
//!   `mon,wed` allowed) in the schedule's IANA time zone (by [`jiff`], from
//!   the system's zoneinfo), so "18:30" stays 18:30 across DST changes.
//! - **No double runs**: an occurrence is claimed in the store
//!   ([`bootbox_store::Store::claim_fire`]) before the job starts; the
//!   claim stores the occurrence time, so a restart (or a second
//!   scheduler) never runs it again. Claiming first makes runs
//!   at-most-once: a crash during a run leaves that run `running` in the
//!   history, it is not repeated.
//! - **Missed runs** (box off at the time): [`MissedPolicy::Skip`] records
//!   a skipped run; [`MissedPolicy::RunLate`] runs once if the newest
//!   missed occurrence is within its grace time. Several missed
//!   occurrences never cause more than one run.
//! - The clock is injectable ([`Clock`], [`ManualClock`]) for tests.
//! - A run with failures POSTs a JSON report to the schedule's webhook and
//!   sends a mail when SMTP is configured ([`crate::mail`]).

use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bootbox_store::jobs::{MissedPolicy, RunOutcome, Schedule};
use bootbox_store::Store;
use croner::Cron;
use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};

use crate::job::JobSnapshot;
use crate::{RemoteError, Result};

/// An occurrence up to this late still counts as on time.
pub const ON_TIME: Duration = Duration::from_secs(120);

/// Where the scheduler reads the time.
pub trait Clock: Send + Sync {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        bootbox_store::now_ms()
    }
}

/// A clock that only moves when told (tests).
#[derive(Debug, Default)]
pub struct ManualClock(AtomicU64);

impl ManualClock {
    /// A clock at `ms`.
    pub fn new(ms: u64) -> Self {
        Self(AtomicU64::new(ms))
    }
    /// Sets the time.
    pub fn set(&self, ms: u64) {
        self.0.store(ms, Ordering::SeqCst);
    }
    /// Moves the time forward.
    pub fn advance(&self, d: Duration) {
        self.0.fetch_add(d.as_millis() as u64, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// Parses a cron expression and a time zone (empty: the system's).
pub fn parse(cron: &str, timezone: &str) -> Result<(Cron, TimeZone)> {
    let c = Cron::from_str(cron.trim())
        .map_err(|e| RemoteError::Schedule(format!("cron expression '{cron}': {e}")))?;
    let tz = if timezone.trim().is_empty() {
        TimeZone::system()
    } else {
        TimeZone::get(timezone.trim())
            .map_err(|e| RemoteError::Schedule(format!("time zone '{timezone}': {e}")))?
    };
    Ok((c, tz))
}

fn zoned(ms: u64, tz: &TimeZone) -> Result<Zoned> {
    let ts = Timestamp::from_millisecond(ms as i64)
        .map_err(|e| RemoteError::Schedule(format!("time {ms}: {e}")))?;
    Ok(ts.to_zoned(tz.clone()))
}

fn ms_of(z: &Zoned) -> u64 {
    z.timestamp().as_millisecond().max(0) as u64
}

/// The first occurrence strictly after `after_ms`.
pub fn next_after(cron: &Cron, tz: &TimeZone, after_ms: u64) -> Result<Option<u64>> {
    let z = zoned(after_ms, tz)?;
    match cron.find_next_occurrence(&z, false) {
        Ok(n) => Ok(Some(ms_of(&n))),
        Err(_) => Ok(None),
    }
}

/// Checks a schedule's expression and zone (for the API/CLI before
/// storing).
pub fn check(s: &Schedule) -> Result<()> {
    parse(&s.cron, &s.timezone).map(|_| ())
}

/// What a schedule wants now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Due {
    /// Nothing to do.
    No,
    /// Run the occurrence at this time.
    Fire(u64),
    /// Record the occurrence at this time as skipped.
    Skip(u64, String),
}

/// Decides whether `s` is due at `now_ms`.
pub fn due(s: &Schedule, now_ms: u64) -> Result<Due> {
    if !s.enabled {
        return Ok(Due::No);
    }
    let (cron, tz) = parse(&s.cron, &s.timezone)?;
    let base = s.last_fired_ms.unwrap_or(0).max(s.created_ms);
    let Some(first) = next_after(&cron, &tz, base)? else {
        return Ok(Due::No);
    };
    if first > now_ms {
        return Ok(Due::No);
    }
    // The newest occurrence not after now (several may have been missed).
    let latest = match cron.find_previous_occurrence(&zoned(now_ms, &tz)?, true) {
        Ok(z) => ms_of(&z).max(first),
        Err(_) => first,
    };
    let late = Duration::from_millis(now_ms.saturating_sub(latest));
    if late <= ON_TIME {
        return Ok(Due::Fire(latest));
    }
    let when = zoned(latest, &tz)
        .map(|z| z.strftime("%Y-%m-%d %H:%M %Z").to_string())
        .unwrap_or_default();
    Ok(match s.missed {
        MissedPolicy::RunLate { grace_s } if late <= Duration::from_secs(grace_s) => {
            Due::Fire(latest)
        }
        _ => Due::Skip(
            latest,
            format!(
                "missed the run at {when} (box down or busy); policy {:?}",
                s.missed
            ),
        ),
    })
}

/// Runs a schedule's job. The live runner resolves the target and runs
/// WoL/commands; tests plug in their own.
pub trait Runner: Send + Sync + 'static {
    /// Runs `schedule` once.
    fn run(
        &self,
        schedule: &Schedule,
    ) -> impl std::future::Future<Output = Result<JobSnapshot>> + Send;
}

/// What one tick did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fired {
    /// Schedule name.
    pub schedule: String,
    /// Run id in the history.
    pub run: u64,
    /// Outcome.
    pub outcome: RunOutcome,
    /// Webhook delivery: `Some(Ok(status))`, `Some(Err(reason))`, or
    /// `None` when none was due.
    pub webhook: Option<std::result::Result<u16, String>>,
    /// Failure mail: `Some(Ok(()))` sent, `Some(Err(reason))`, or `None`
    /// when none was due (no failures, or mail not enabled).
    pub mail: Option<std::result::Result<(), String>>,
}

/// A claimed occurrence to run: schedule, run id, occurrence time.
type Claimed = (Schedule, u64, u64);

/// Fires due schedules.
pub struct Scheduler<R: Runner, C: Clock> {
    store: Arc<Store>,
    runner: Arc<R>,
    clock: Arc<C>,
    webhook_timeout: Duration,
}

impl<R: Runner, C: Clock + 'static> Scheduler<R, C> {
    /// A scheduler over the store's schedules.
    pub fn new(store: Arc<Store>, runner: Arc<R>, clock: Arc<C>) -> Self {
        Self {
            store,
            runner,
            clock,
            webhook_timeout: Duration::from_secs(10),
        }
    }

    /// Claims every due occurrence: skipped ones are recorded (and
    /// returned as [`Fired`]), the ones to run are returned as
    /// (schedule, run id, occurrence).
    fn claim_due(&self) -> Result<(Vec<Fired>, Vec<Claimed>)> {
        let now = self.clock.now_ms();
        let mut skipped = Vec::new();
        let mut to_run = Vec::new();
        for s in self.store.schedules()? {
            let due = match due(&s, now) {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!(schedule = %s.name, error = %e, "schedule cannot be evaluated");
                    continue;
                }
            };
            match due {
                Due::No => {}
                Due::Skip(at, why) => {
                    if let Some(run) = self.store.claim_fire(&s.name, at, Some(&why))? {
                        tracing::info!(schedule = %s.name, run, "{why}");
                        skipped.push(Fired {
                            schedule: s.name.clone(),
                            run,
                            outcome: RunOutcome::Skipped,
                            webhook: None,
                            mail: None,
                        });
                    }
                }
                Due::Fire(at) => {
                    if let Some(run) = self.store.claim_fire(&s.name, at, None)? {
                        tracing::info!(schedule = %s.name, run, "schedule fired");
                        to_run.push((s, run, at));
                    }
                }
            }
        }
        Ok((skipped, to_run))
    }

    /// Checks every schedule once; runs the due ones (concurrently) and
    /// returns when they have finished.
    pub async fn tick(&self) -> Result<Vec<Fired>> {
        let (mut out, to_run) = self.claim_due()?;
        let mut set = tokio::task::JoinSet::new();
        for (s, run, at) in to_run {
            let store = self.store.clone();
            let runner = self.runner.clone();
            let timeout = self.webhook_timeout;
            set.spawn(async move { run_one(store, runner, s, run, at, timeout).await });
        }
        while let Some(done) = set.join_next().await {
            match done {
                Ok(Ok(f)) => out.push(f),
                Ok(Err(e)) => tracing::error!(error = %e, "schedule run could not be recorded"),
                Err(e) => tracing::error!(error = %e, "schedule run panicked"),
            }
        }
        Ok(out)
    }

    /// Checks the schedules every `every` until `stop` resolves. Runs are
    /// started in the background, so a long run never delays another
    /// schedule; runs still going at `stop` are left to the runtime.
    pub async fn run_until(&self, every: Duration, stop: impl std::future::Future<Output = ()>) {
        tokio::pin!(stop);
        loop {
            match self.claim_due() {
                Ok((_, to_run)) => {
                    for (s, run, at) in to_run {
                        let store = self.store.clone();
                        let runner = self.runner.clone();
                        let timeout = self.webhook_timeout;
                        tokio::spawn(async move {
                            if let Err(e) = run_one(store, runner, s, run, at, timeout).await {
                                tracing::error!(error = %e, "schedule run could not be recorded");
                            }
                        });
                    }
                }
                Err(e) => tracing::error!(error = %e, "scheduler tick failed"),
            }
            tokio::select! {
                _ = &mut stop => return,
                _ = tokio::time::sleep(every) => {}
            }
        }
    }
}

async fn run_one<R: Runner>(
    store: Arc<Store>,
    runner: Arc<R>,
    s: Schedule,
    run: u64,
    scheduled_ms: u64,
    webhook_timeout: Duration,
) -> Result<Fired> {
    let mut record = store
        .schedule_run(run)?
        .unwrap_or_else(|| bootbox_store::jobs::ScheduleRun {
            id: run,
            schedule: s.name.clone(),
            scheduled_ms,
            ..Default::default()
        });
    match runner.run(&s).await {
        Ok(snap) => {
            let failed = snap.failed_hosts();
            record.outcome = if failed.is_empty() {
                RunOutcome::Ok
            } else {
                RunOutcome::Failed
            };
            record.summary = snap.summary();
            record.failed_hosts = failed;
            record.report = Some(snap.to_json());
        }
        Err(e) => {
            record.outcome = RunOutcome::Error;
            record.summary = e.to_string();
        }
    }
    record.finished_ms = Some(bootbox_store::now_ms());
    let mut webhook = None;
    if matches!(record.outcome, RunOutcome::Failed | RunOutcome::Error) {
        if let Some(url) = s.webhook.as_deref().filter(|u| !u.is_empty()) {
            let body = serde_json::json!({
                "event": "schedule.failed",
                "schedule": s.name,
                "run": record.id,
                "scheduled_ms": record.scheduled_ms,
                "outcome": record.outcome,
                "summary": record.summary,
                "failed_hosts": record.failed_hosts,
            });
            let r = crate::webhook::post_json(url, &body, webhook_timeout).await;
            if let Err(e) = &r {
                tracing::warn!(schedule = %s.name, error = %e, "webhook not delivered");
            }
            webhook = Some(r.map_err(|e| e.to_string()));
        }
    }
    let mut mail = None;
    if matches!(record.outcome, RunOutcome::Failed | RunOutcome::Error) {
        match store.mail_settings() {
            Ok(m) if m.enabled => {
                let (subject, body) = crate::mail::failure_text(&record);
                let r = crate::mail::send(&m, &subject, &body, webhook_timeout).await;
                let note = match &r {
                    Ok(()) => format!(
                        "failure mail for schedule {} sent to {}",
                        s.name,
                        m.to.join(",")
                    ),
                    Err(e) => format!("failure mail for schedule {} not sent: {e}", s.name),
                };
                if r.is_err() {
                    tracing::warn!(schedule = %s.name, "{note}");
                }
                let _ = store.record("schedule.mail", note);
                mail = Some(r.map_err(|e| e.to_string()));
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "cannot read the mail settings"),
        }
    }
    let outcome = record.outcome;
    store.finish_run(record)?;
    Ok(Fired {
        schedule: s.name,
        run,
        outcome,
        webhook,
        mail,
    })
}
