//! `bootbox schedules`: recurring remote jobs (cron-style, time-zone
//! aware), run by `bootbox serve`.
//!
//! ```text
//! bootbox schedules add r101-evening --cron "30 18 * * mon,wed" --tz Europe/Berlin \
//!     -r r101 -w 300 -b 60 --batch 10 -c sync:1,halt --webhook http://10.0.0.9:8081/hook
//! bootbox schedules list | runs [NAME] | enable NAME | disable NAME | rm NAME
//! ```

use anyhow::{bail, Context, Result};
use bootbox_store::jobs::{MissedPolicy, Schedule, ScheduleTarget, WakeSettings};
use bootbox_store::Store;
use clap::{Args, Subcommand};

/// `bootbox schedules …`.
#[derive(Debug, Subcommand)]
pub enum SchedulesCommand {
    /// Create or replace a schedule (checked against the registry first).
    Add(Box<AddArgs>),
    /// List schedules.
    List,
    /// Show the run history (newest first).
    Runs {
        /// Only this schedule.
        name: Option<String>,
        /// How many runs.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// Enable a schedule.
    Enable {
        /// Name.
        name: String,
    },
    /// Disable a schedule (it keeps its history).
    Disable {
        /// Name.
        name: String,
    },
    /// Delete a schedule (its history stays).
    Rm {
        /// Name.
        name: String,
    },
}

/// `bootbox schedules add`.
#[derive(Debug, Args)]
pub struct AddArgs {
    /// Name (a-z, 0-9, '-', '_').
    pub name: String,
    /// Cron expression: minute hour day-of-month month day-of-week.
    #[arg(long)]
    pub cron: String,
    /// IANA time zone (default: the box's).
    #[arg(long, default_value = "")]
    pub tz: String,
    /// Room.
    #[arg(short = 'r', conflicts_with_all = ["group", "ips"])]
    pub room: Option<String>,
    /// Group.
    #[arg(short = 'g', conflicts_with = "ips")]
    pub group: Option<String>,
    /// Hosts, comma-separated.
    #[arg(short = 'i', value_delimiter = ',')]
    pub ips: Vec<String>,
    /// Direct commands.
    #[arg(short = 'c', conflicts_with = "onboot")]
    pub direct: Option<String>,
    /// On-boot commands.
    #[arg(short = 'p')]
    pub onboot: Option<String>,
    /// On-boot: add noauto.
    #[arg(short = 'n')]
    pub noauto: bool,
    /// On-boot: add disablegui.
    #[arg(short = 'd')]
    pub disablegui: bool,
    /// Wake first, then wait SEC seconds.
    #[arg(short = 'w')]
    pub wait: Option<u64>,
    /// Seconds between WoL batches.
    #[arg(short = 'b', default_value_t = 0)]
    pub gap: u64,
    /// Hosts per WoL batch.
    #[arg(long, default_value_t = 1)]
    pub batch: u32,
    /// WoL to the subnet broadcast.
    #[arg(short = 'u')]
    pub subnet_broadcast: bool,
    /// Missed runs: `skip`, or `late:SECONDS` (run once if at most that late).
    #[arg(long, default_value = "skip")]
    pub missed: String,
    /// http:// URL that gets a JSON POST when a run has failures.
    #[arg(long)]
    pub webhook: Option<String>,
    /// Store it disabled.
    #[arg(long)]
    pub disabled: bool,
}

fn schedule_of(a: AddArgs) -> Result<Schedule> {
    let target = match (a.room, a.group, a.ips.is_empty()) {
        (Some(r), None, true) => ScheduleTarget::Room(r),
        (None, Some(g), true) => ScheduleTarget::Group(g),
        (None, None, false) => ScheduleTarget::Hosts(a.ips),
        _ => bail!("give exactly one of -r ROOM, -g GROUP, -i HOSTS"),
    };
    let missed = match a.missed.as_str() {
        "skip" => MissedPolicy::Skip,
        m => match m.strip_prefix("late:").and_then(|s| s.parse().ok()) {
            Some(grace_s) => MissedPolicy::RunLate { grace_s },
            None => bail!("--missed is 'skip' or 'late:SECONDS', not '{m}'"),
        },
    };
    if let Some(url) = &a.webhook {
        bootbox_remote::webhook::parse_url(url)?;
    }
    let onboot = a.onboot.is_some() || a.noauto || a.disablegui;
    Ok(Schedule {
        name: a.name,
        cron: a.cron,
        timezone: a.tz,
        target,
        commands: a.direct.or(a.onboot).unwrap_or_default(),
        onboot,
        noauto: a.noauto,
        disablegui: a.disablegui,
        wake: a.wait.map(|w| WakeSettings {
            wait_s: w,
            gap_ms: a.gap * 1000,
            batch: a.batch.max(1),
            subnet_broadcast: a.subnet_broadcast,
        }),
        missed,
        enabled: !a.disabled,
        webhook: a.webhook,
        ..Schedule::default()
    })
}

fn when(ms: u64) -> String {
    jiff::Timestamp::from_millisecond(ms as i64)
        .map(|t| {
            t.to_zoned(jiff::tz::TimeZone::system())
                .strftime("%Y-%m-%d %H:%M")
                .to_string()
        })
        .unwrap_or_default()
}

/// Runs `bootbox schedules …`.
pub fn run(store: &Store, cmd: SchedulesCommand) -> Result<()> {
    let actor = super::actor();
    match cmd {
        SchedulesCommand::Add(a) => {
            let s = schedule_of(*a)?;
            bootbox_remote::schedule::check(&s)?;
            let net = bootbox_remote::WolDefaults {
                interface: store.settings()?.interface,
                ..Default::default()
            };
            bootbox_remote::plan::prepare(store, &bootbox_remote::request_for(&s), &net)
                .context("the schedule's job would not run")?;
            let name = s.name.clone();
            store.put_schedule(s, &actor)?;
            if let Some(s) = store.schedule(&name)? {
                let (cron, tz) = bootbox_remote::schedule::parse(&s.cron, &s.timezone)?;
                let now = bootbox_store::now_ms();
                if let Some(next) = bootbox_remote::schedule::next_after(&cron, &tz, now)? {
                    eprintln!("schedule {name} saved; next run {}", when(next));
                }
            }
        }
        SchedulesCommand::List => {
            for s in store.schedules()? {
                println!(
                    "{:<20} {:<8} {:<22} {:<16} {:?} {}{}",
                    s.name,
                    if s.enabled { "enabled" } else { "disabled" },
                    s.cron,
                    s.timezone,
                    s.target,
                    if s.onboot { "-p " } else { "-c " },
                    s.commands
                );
            }
        }
        SchedulesCommand::Runs { name, limit } => {
            for r in store.schedule_runs(name.as_deref(), limit)? {
                println!(
                    "{:>5} {:<20} {} {:?}: {}",
                    r.id,
                    r.schedule,
                    when(r.scheduled_ms),
                    r.outcome,
                    r.summary
                );
            }
        }
        SchedulesCommand::Enable { name } => store.set_schedule_enabled(&name, true, &actor)?,
        SchedulesCommand::Disable { name } => store.set_schedule_enabled(&name, false, &actor)?,
        SchedulesCommand::Rm { name } => store.remove_schedule(&name, &actor)?,
    }
    Ok(())
}
