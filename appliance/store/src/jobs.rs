//! Remote-control schedules and their run history (schema version 6).
//!
//! A [`Schedule`] is a recurring remote job ("Mon,Wed 18:30: wake room
//! r101 in batches, then `sync:1,halt`"). The store keeps the definition,
//! the time it last fired and one [`ScheduleRun`] per firing.
//!
//! The double-run guard lives here: [`Store::claim_fire`] sets the
//! schedule's `last_fired_ms` and writes the run record in one write
//! transaction, and refuses a time that is not newer than the stored one.
//! A scheduler that restarts (or two that race) therefore fires each
//! occurrence at most once. The cron expression itself is interpreted by
//! `bootbox-remote`; the store only keeps its text.

use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use crate::codec::Json;
use crate::model::{now_ms, Event, EventKind};
use crate::store::append_event;
use crate::{tables, Result, Store, StoreError};

/// Schedules by name. Since version 6.
pub const SCHEDULES: TableDefinition<&str, Json<Schedule>> = TableDefinition::new("schedules");
/// Run history by run id (increasing). Since version 6.
pub const SCHEDULE_RUNS: TableDefinition<u64, Json<ScheduleRun>> =
    TableDefinition::new("schedule_runs");

/// Which hosts a schedule acts on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "kind", content = "names")]
pub enum ScheduleTarget {
    /// All LINBO hosts (PXE flag 1/2) of a room.
    Room(String),
    /// All LINBO hosts of a group (hardware class).
    Group(String),
    /// Named hosts.
    Hosts(Vec<String>),
}

impl Default for ScheduleTarget {
    fn default() -> Self {
        Self::Hosts(Vec::new())
    }
}

/// Wake-on-LAN part of a schedule.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct WakeSettings {
    /// Seconds to wait after the last packet before commands run
    /// (`linbo-remote -w`).
    pub wait_s: u64,
    /// Milliseconds between the packets of successive batches (`-b`).
    pub gap_ms: u64,
    /// Hosts woken per batch (LINBO: 1).
    pub batch: u32,
    /// Send to the subnet broadcast instead of 255.255.255.255 (`-u`).
    pub subnet_broadcast: bool,
}

/// What to do when the box was off (or busy) at a scheduled time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "policy")]
pub enum MissedPolicy {
    /// Record the missed run as skipped; wait for the next occurrence.
    #[default]
    Skip,
    /// Run once, late, if the missed time is at most `grace_s` seconds
    /// ago; older misses are skipped. Several missed occurrences never
    /// cause more than one run.
    RunLate {
        /// How late a run may still start.
        grace_s: u64,
    },
}

/// A recurring remote job.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Schedule {
    /// Unique name, `a-z 0-9 - _`, 1–64 characters.
    pub name: String,
    /// Cron expression (5 fields: minute hour day-of-month month
    /// day-of-week; names like `mon,wed` allowed).
    pub cron: String,
    /// IANA time zone the expression is read in, e.g. `Europe/Berlin`;
    /// empty for the box's zone.
    pub timezone: String,
    /// Hosts to act on.
    pub target: ScheduleTarget,
    /// LINBO commands, comma-separated (`sync:1,halt`).
    pub commands: String,
    /// Write on-boot files instead of sending the commands over SSH.
    pub onboot: bool,
    /// On-boot only: add `noauto`.
    pub noauto: bool,
    /// On-boot only: add `disablegui`.
    pub disablegui: bool,
    /// Wake the hosts first.
    pub wake: Option<WakeSettings>,
    /// Policy for occurrences missed while the box was down.
    pub missed: MissedPolicy,
    /// Disabled schedules never fire.
    pub enabled: bool,
    /// `http://` URL that receives a JSON POST when a run has failures.
    pub webhook: Option<String>,
    /// Creation time (ms since epoch); occurrences before it never fire.
    pub created_ms: u64,
    /// Scheduled time (ms since epoch) of the last occurrence that fired or
    /// was skipped; set only through [`Store::claim_fire`].
    pub last_fired_ms: Option<u64>,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunOutcome {
    /// Started, not finished (a run still `running` after a restart was
    /// interrupted).
    #[default]
    Running,
    /// Every host succeeded.
    Ok,
    /// At least one host failed, was offline or timed out.
    Failed,
    /// Not run (missed-run policy, or nothing to do).
    Skipped,
    /// The run could not start (bad target, bad commands, …).
    Error,
}

/// One firing of a schedule.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ScheduleRun {
    /// Run id, assigned by the store.
    pub id: u64,
    /// Schedule name.
    pub schedule: String,
    /// The occurrence (ms since epoch) this run belongs to.
    pub scheduled_ms: u64,
    /// When it started.
    pub started_ms: u64,
    /// When it ended.
    pub finished_ms: Option<u64>,
    /// Result.
    pub outcome: RunOutcome,
    /// One-line summary.
    pub summary: String,
    /// Hosts that failed.
    pub failed_hosts: Vec<String>,
    /// The job's report (per-host states), as produced by the runner.
    pub report: Option<serde_json::Value>,
}

/// Checks a schedule name.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "schedule name '{name}' must be 1–64 of a-z, 0-9, '-' and '_'"
        ))
    }
}

fn decode_run(k: u64, v: Result<ScheduleRun, crate::CorruptValue>) -> Result<ScheduleRun> {
    v.map_err(|c| StoreError::Corrupt {
        table: "schedule_runs",
        key: k.to_string(),
        reason: c.reason,
    })
}

impl Store {
    /// Creates or replaces a schedule. Replacing keeps the stored
    /// `last_fired_ms` (so an edit never re-fires a past occurrence) and
    /// `created_ms`.
    pub fn put_schedule(&self, mut schedule: Schedule, actor: &str) -> Result<()> {
        check_name(&schedule.name).map_err(StoreError::Invalid)?;
        if schedule.cron.trim().is_empty() {
            return Err(StoreError::Invalid(format!(
                "schedule {}: the cron expression is empty",
                schedule.name
            )));
        }
        let txn = self.db().begin_write()?;
        {
            let mut t = txn.open_table(SCHEDULES)?;
            let old = tables::get(&t, "schedules", &schedule.name)?;
            match old {
                Some(old) => {
                    schedule.last_fired_ms = old.last_fired_ms.max(schedule.last_fired_ms);
                    schedule.created_ms = old.created_ms;
                }
                None if schedule.created_ms == 0 => schedule.created_ms = now_ms(),
                None => {}
            }
            let name = schedule.name.clone();
            let msg = format!(
                "schedule {name} saved ({}, {:?}, '{}', {})",
                schedule.cron,
                schedule.target,
                schedule.commands,
                if schedule.enabled {
                    "enabled"
                } else {
                    "disabled"
                }
            );
            tables::put(&mut t, &name, schedule)?;
            append_event(&txn, Event::audit(actor, "schedule.put", msg))?;
        }
        txn.commit()?;
        Ok(())
    }

    /// All schedules, by name.
    pub fn schedules(&self) -> Result<Vec<Schedule>> {
        let txn = self.db().begin_read()?;
        tables::all(&txn.open_table(SCHEDULES)?, "schedules")
    }

    /// One schedule.
    pub fn schedule(&self, name: &str) -> Result<Option<Schedule>> {
        let txn = self.db().begin_read()?;
        tables::get(&txn.open_table(SCHEDULES)?, "schedules", name)
    }

    /// Deletes a schedule (its history stays).
    pub fn remove_schedule(&self, name: &str, actor: &str) -> Result<()> {
        let txn = self.db().begin_write()?;
        if txn.open_table(SCHEDULES)?.remove(name)?.is_none() {
            return Err(StoreError::NotFound {
                kind: "schedule",
                name: name.to_string(),
            });
        }
        append_event(
            &txn,
            Event::audit(actor, "schedule.remove", format!("schedule {name} removed")),
        )?;
        txn.commit()?;
        Ok(())
    }

    /// Enables or disables a schedule.
    pub fn set_schedule_enabled(&self, name: &str, enabled: bool, actor: &str) -> Result<()> {
        let txn = self.db().begin_write()?;
        {
            let mut t = txn.open_table(SCHEDULES)?;
            let mut s =
                tables::get(&t, "schedules", name)?.ok_or_else(|| StoreError::NotFound {
                    kind: "schedule",
                    name: name.to_string(),
                })?;
            s.enabled = enabled;
            tables::put(&mut t, name, s)?;
            let what = if enabled { "enabled" } else { "disabled" };
            append_event(
                &txn,
                Event::audit(actor, "schedule.enable", format!("schedule {name} {what}")),
            )?;
        }
        txn.commit()?;
        Ok(())
    }

    /// Claims the occurrence `scheduled_ms` of schedule `name`: if it is
    /// newer than the stored `last_fired_ms`, stores it and appends a run
    /// record (`Running`, or `Skipped` with `skip_reason`) in the same
    /// transaction and returns the run id. Returns `None` when the
    /// occurrence was already claimed (the double-run guard) or the
    /// schedule no longer exists.
    pub fn claim_fire(
        &self,
        name: &str,
        scheduled_ms: u64,
        skip_reason: Option<&str>,
    ) -> Result<Option<u64>> {
        let txn = self.db().begin_write()?;
        let id = {
            let mut t = txn.open_table(SCHEDULES)?;
            let Some(mut s) = tables::get(&t, "schedules", name)? else {
                return Ok(None);
            };
            if s.last_fired_ms.is_some_and(|l| l >= scheduled_ms) {
                return Ok(None);
            }
            s.last_fired_ms = Some(scheduled_ms);
            tables::put(&mut t, name, s)?;
            let mut runs = txn.open_table(SCHEDULE_RUNS)?;
            let id = runs.last()?.map(|(k, _)| k.value() + 1).unwrap_or(1);
            let now = now_ms();
            let run = ScheduleRun {
                id,
                schedule: name.to_string(),
                scheduled_ms,
                started_ms: now,
                finished_ms: skip_reason.map(|_| now),
                outcome: if skip_reason.is_some() {
                    RunOutcome::Skipped
                } else {
                    RunOutcome::Running
                },
                summary: skip_reason.unwrap_or_default().to_string(),
                failed_hosts: Vec::new(),
                report: None,
            };
            runs.insert(id, Ok::<ScheduleRun, crate::CorruptValue>(run))?;
            let mut ev = Event::audit(
                "system",
                "schedule.fire",
                match skip_reason {
                    None => format!("schedule {name} fired (run {id})"),
                    Some(r) => format!("schedule {name} skipped (run {id}): {r}"),
                },
            );
            ev.kind = EventKind::System;
            append_event(&txn, ev)?;
            id
        };
        txn.commit()?;
        Ok(Some(id))
    }

    /// Stores the end of a run.
    pub fn finish_run(&self, mut run: ScheduleRun) -> Result<()> {
        let txn = self.db().begin_write()?;
        {
            let mut runs = txn.open_table(SCHEDULE_RUNS)?;
            if runs.get(run.id)?.is_none() {
                return Err(StoreError::NotFound {
                    kind: "schedule run",
                    name: run.id.to_string(),
                });
            }
            if run.finished_ms.is_none() {
                run.finished_ms = Some(now_ms());
            }
            let msg = format!(
                "schedule {} run {} ended {:?}: {}",
                run.schedule, run.id, run.outcome, run.summary
            );
            runs.insert(run.id, Ok::<ScheduleRun, crate::CorruptValue>(run))?;
            let mut ev = Event::audit("system", "schedule.done", msg);
            ev.kind = EventKind::System;
            append_event(&txn, ev)?;
        }
        txn.commit()?;
        Ok(())
    }

    /// One run.
    pub fn schedule_run(&self, id: u64) -> Result<Option<ScheduleRun>> {
        let txn = self.db().begin_read()?;
        let t = txn.open_table(SCHEDULE_RUNS)?;
        let v = t.get(id)?.map(|g| g.value());
        v.map(|v| decode_run(id, v)).transpose()
    }

    /// The newest `limit` runs (of one schedule, or all), newest first.
    pub fn schedule_runs(&self, schedule: Option<&str>, limit: usize) -> Result<Vec<ScheduleRun>> {
        let txn = self.db().begin_read()?;
        let t = txn.open_table(SCHEDULE_RUNS)?;
        let mut out = Vec::new();
        for entry in t.iter()?.rev() {
            if out.len() >= limit {
                break;
            }
            let (k, v) = entry?;
            let run = decode_run(k.value(), v.value())?;
            if schedule.is_none_or(|s| s == run.schedule) {
                out.push(run);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sched() -> Schedule {
        Schedule {
            name: "r101-evening".into(),
            cron: "30 18 * * mon,wed".into(),
            timezone: "Europe/Berlin".into(),
            target: ScheduleTarget::Room("r101".into()),
            commands: "sync:1,halt".into(),
            enabled: true,
            ..Schedule::default()
        }
    }

    #[test]
    fn claim_fires_once_and_survives_reopen() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let path = tmp.path().join("s.redb");
        {
            let store = Store::open(&path).expect("open");
            store.put_schedule(sched(), "test").expect("put");
            let id = store.claim_fire("r101-evening", 1000, None).expect("claim");
            assert_eq!(id, Some(1));
            assert_eq!(
                store.claim_fire("r101-evening", 1000, None).expect("c"),
                None
            );
            assert_eq!(
                store.claim_fire("r101-evening", 999, None).expect("c"),
                None
            );
            // An edit keeps last_fired.
            store.put_schedule(sched(), "test").expect("put");
            let mut run = store.schedule_run(1).expect("run").expect("some");
            run.outcome = RunOutcome::Failed;
            run.failed_hosts = vec!["pc1".into()];
            store.finish_run(run).expect("finish");
        }
        let store = Store::open(&path).expect("reopen");
        assert_eq!(
            store.claim_fire("r101-evening", 1000, None).expect("c"),
            None
        );
        assert_eq!(
            store
                .claim_fire("r101-evening", 2000, Some("missed"))
                .expect("c"),
            Some(2)
        );
        let runs = store.schedule_runs(Some("r101-evening"), 10).expect("runs");
        assert_eq!(runs.len(), 2);
        assert_eq!(runs[0].outcome, RunOutcome::Skipped);
        assert_eq!(runs[1].outcome, RunOutcome::Failed);
        store
            .set_schedule_enabled("r101-evening", false, "t")
            .expect("disable");
        assert!(
            !store
                .schedule("r101-evening")
                .expect("g")
                .expect("s")
                .enabled
        );
        assert!(store
            .put_schedule(
                Schedule {
                    name: "Bad Name".into(),
                    ..sched()
                },
                "t"
            )
            .is_err());
        store.remove_schedule("r101-evening", "t").expect("rm");
        assert!(store.schedules().expect("all").is_empty());
        assert_eq!(
            store.claim_fire("r101-evening", 3000, None).expect("c"),
            None
        );
    }
}
