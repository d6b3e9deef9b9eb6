//! Jobs: one remote action on a set of hosts, with per-host state that can
//! be read as a snapshot at any time and followed as events.
//!
//! A job runs in this order (like `linbo-remote`):
//! 1. on-boot files are written (on-boot delivery);
//! 2. Wake-on-LAN packets go out in batches, then the job waits (`-w`);
//! 3. direct delivery: per host (at most `parallelism` at a time) an "is it
//!    up?" probe on port 2222, then each command through `linbo_wrapper`,
//!    one at a time, stopping at the first failure; on-boot delivery: the
//!    job watches which files the clients fetched until `onboot_wait`
//!    ends, and removes the ones nobody fetched (LINBO's "Not done").

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bootbox_linbo::onboot::{Command, OnbootCmd};
use bootbox_store::{now_ms, Host};
use serde::Serialize;
use tokio::sync::{broadcast, Semaphore};

use crate::onboot::OnbootDir;
use crate::ssh::{self, shell_quote, SshConfig};
use crate::wol::{self, WolConfig};

/// What a job delivers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Nothing but Wake-on-LAN.
    WakeOnly,
    /// Commands over SSH now.
    Direct(Vec<Command>),
    /// An on-boot file per host.
    Onboot(OnbootCmd),
}

/// Wake-on-LAN part of a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WakePlan {
    /// Where and how packets go.
    pub wol: WolConfig,
    /// Wait after the last packet (`-w`).
    pub wait: Duration,
}

/// Everything a job needs to run.
#[derive(Debug, Clone)]
pub struct JobSpec {
    /// Short description (target and commands), for reports.
    pub title: String,
    /// Hosts, in order.
    pub hosts: Vec<Host>,
    /// What to deliver.
    pub action: Action,
    /// Wake first.
    pub wake: Option<WakePlan>,
    /// Hosts handled at the same time (direct delivery).
    pub parallelism: usize,
    /// Time limit of one command.
    pub command_timeout: Duration,
    /// "Is it up?" connection timeout, per attempt.
    pub probe_timeout: Duration,
    /// Probe attempts before a host counts as offline.
    pub probe_attempts: u32,
    /// On-boot delivery: how long to watch for the files to be fetched
    /// (`None`: don't watch, the files stay until the next boot).
    pub onboot_wait: Option<Duration>,
    /// Direct `upload_*`: the one-time credential pushed to the client
    /// before the upload (see [`crate::upload`]); only in memory.
    pub upload_credential: Option<String>,
}

impl JobSpec {
    /// A spec with the usual defaults (8 hosts at a time, 1 h per
    /// command, 1 s probe timeout, 3 probes).
    pub fn new(title: impl Into<String>, hosts: Vec<Host>, action: Action) -> Self {
        Self {
            title: title.into(),
            hosts,
            action,
            wake: None,
            parallelism: 8,
            command_timeout: Duration::from_secs(3600),
            probe_timeout: Duration::from_secs(1),
            probe_attempts: 3,
            onboot_wait: None,
            upload_credential: None,
        }
    }
}

/// Where a host stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HostStatus {
    /// Not started.
    Pending,
    /// Magic packets sent, waiting.
    Woken,
    /// Commands running.
    Running,
    /// On-boot file written, waiting for the host to boot.
    Scheduled,
    /// Every command succeeded / the on-boot file was fetched / woken.
    Done,
    /// A command failed (the chain stopped there), or a step failed.
    Failed,
    /// A command ran into its time limit.
    TimedOut,
    /// The host did not answer on port 2222.
    Offline,
    /// On-boot: the file was not fetched in time and was removed.
    NotPickedUp,
}

impl HostStatus {
    /// True for the states that count as failures.
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            Self::Failed | Self::TimedOut | Self::Offline | Self::NotPickedUp
        )
    }
}

/// One command's result on one host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CommandResult {
    /// The command (`sync:1`).
    pub command: String,
    /// Exit code of `linbo_wrapper`; `None` when it did not finish.
    pub exit_code: Option<i32>,
    /// Its output (stdout, then stderr).
    pub output: String,
    /// Stopped by the time limit.
    pub timed_out: bool,
    /// Counted as success.
    pub ok: bool,
    /// Start and end (ms since epoch).
    pub started_ms: u64,
    /// End (ms since epoch).
    pub finished_ms: u64,
}

/// One host's part of a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostReport {
    /// Host name.
    pub host: String,
    /// Address used for SSH (fixed IP, else the host name).
    pub address: String,
    /// MAC (for WoL).
    pub mac: String,
    /// Where it stands.
    pub status: HostStatus,
    /// Magic packets sent.
    pub woken: bool,
    /// Result of the "is it up?" probe, once made.
    pub online: Option<bool>,
    /// On-boot file written.
    pub onboot_written: bool,
    /// On-boot file fetched by the client (once known).
    pub picked_up: Option<bool>,
    /// On-boot with wake: the host was already running LINBO and was
    /// rebooted over SSH instead of woken (as `linbo-remote -p -w` does).
    pub rebooted: bool,
    /// Commands run, in order.
    pub commands: Vec<CommandResult>,
    /// Why the host failed, if it did and no command says it.
    pub error: Option<String>,
}

/// A job's state at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobSnapshot {
    /// Job id (unique in this process).
    pub id: u64,
    /// Target and commands.
    pub title: String,
    /// Start (ms since epoch).
    pub started_ms: u64,
    /// End (ms since epoch), once finished.
    pub finished_ms: Option<u64>,
    /// Per host, in target order.
    pub hosts: Vec<HostReport>,
}

impl JobSnapshot {
    /// Finished?
    pub fn finished(&self) -> bool {
        self.finished_ms.is_some()
    }

    /// Names of the hosts that failed.
    pub fn failed_hosts(&self) -> Vec<String> {
        self.hosts
            .iter()
            .filter(|h| h.status.is_failure())
            .map(|h| h.host.clone())
            .collect()
    }

    /// One-line summary: counts per state.
    pub fn summary(&self) -> String {
        let mut counts: Vec<(HostStatus, usize)> = Vec::new();
        for h in &self.hosts {
            match counts.iter_mut().find(|(s, _)| *s == h.status) {
                Some((_, n)) => *n += 1,
                None => counts.push((h.status, 1)),
            }
        }
        let parts: Vec<String> = counts
            .iter()
            .map(|(s, n)| {
                let s = serde_json::to_value(s)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default();
                format!("{n} {s}")
            })
            .collect();
        format!("{}: {}", self.title, parts.join(", "))
    }

    /// The report as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

/// A change, for the UI's event stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum JobEvent {
    /// A host's state changed.
    Host {
        /// Job id.
        job: u64,
        /// The host's new state.
        report: HostReport,
    },
    /// The job ended.
    Finished {
        /// The final snapshot.
        snapshot: JobSnapshot,
    },
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A running (or finished) job. Cheap to clone; clones share the state.
#[derive(Debug, Clone)]
pub struct Job {
    state: Arc<Mutex<JobSnapshot>>,
    events: broadcast::Sender<JobEvent>,
}

fn address_of(h: &Host) -> String {
    h.ip.addr()
        .map(|ip| ip.to_string())
        .unwrap_or_else(|| h.hostname.clone())
}

/// `start`, `reboot`, `halt`, `poweroff` end the SSH session when they
/// work: OpenSSH then reports 255 ("connection closed"), which counts as
/// success for them.
fn ends_session(c: &Command) -> bool {
    matches!(
        c,
        Command::Start(_) | Command::Reboot | Command::Halt | Command::Poweroff
    )
}

impl Job {
    /// A new job for `spec` (not started).
    pub fn new(spec: &JobSpec) -> Self {
        let hosts = spec
            .hosts
            .iter()
            .map(|h| HostReport {
                host: h.hostname.clone(),
                address: address_of(h),
                mac: h.mac.to_string(),
                status: HostStatus::Pending,
                woken: false,
                online: None,
                onboot_written: false,
                picked_up: None,
                rebooted: false,
                commands: Vec::new(),
                error: None,
            })
            .collect();
        let (events, _) = broadcast::channel(256);
        Self {
            state: Arc::new(Mutex::new(JobSnapshot {
                id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
                title: spec.title.clone(),
                started_ms: now_ms(),
                finished_ms: None,
                hosts,
            })),
            events,
        }
    }

    /// The job id.
    pub fn id(&self) -> u64 {
        self.snapshot().id
    }

    /// The current state.
    pub fn snapshot(&self) -> JobSnapshot {
        match self.state.lock() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Follows the job's changes.
    pub fn subscribe(&self) -> broadcast::Receiver<JobEvent> {
        self.events.subscribe()
    }

    fn update(&self, i: usize, f: impl FnOnce(&mut HostReport)) {
        let (job, report) = {
            let mut g = match self.state.lock() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            let job = g.id;
            let Some(h) = g.hosts.get_mut(i) else {
                return;
            };
            f(h);
            (job, h.clone())
        };
        let _ = self.events.send(JobEvent::Host { job, report });
    }

    /// Runs the job to its end and returns the final snapshot.
    pub async fn run(
        &self,
        spec: &JobSpec,
        ssh_cfg: &SshConfig,
        onboot: &OnbootDir,
    ) -> JobSnapshot {
        // 1. On-boot files first, so a host woken below finds them.
        if let Action::Onboot(cmd) = &spec.action {
            for (i, h) in spec.hosts.iter().enumerate() {
                match onboot.write(&h.hostname, cmd) {
                    Ok(_) => self.update(i, |r| {
                        r.onboot_written = true;
                        r.status = HostStatus::Scheduled;
                    }),
                    Err(e) => self.update(i, |r| {
                        r.status = HostStatus::Failed;
                        r.error = Some(e.to_string());
                    }),
                }
            }
        }
        // 2. Wake-on-LAN.
        if let Some(plan) = &spec.wake {
            // On-boot delivery: a host already running LINBO would never
            // boot, so it is rebooted over SSH instead of woken.
            let mut rebooted = vec![false; spec.hosts.len()];
            if matches!(spec.action, Action::Onboot(_)) {
                rebooted = self.reboot_online(spec, ssh_cfg).await;
            }
            let targets: Vec<(usize, String, bootbox_linbo::MacAddr)> = spec
                .hosts
                .iter()
                .enumerate()
                .filter(|(i, _)| !rebooted.get(*i).copied().unwrap_or(false))
                .map(|(i, h)| (i, h.hostname.clone(), h.mac))
                .collect();
            let list: Vec<(String, bootbox_linbo::MacAddr)> =
                targets.iter().map(|(_, n, m)| (n.clone(), *m)).collect();
            let res = wol::wake(&plan.wol, &list, |name, r| {
                if let Some((i, _, _)) = targets.iter().find(|(_, n, _)| n == name) {
                    let i = *i;
                    self.update(i, |rep| match r {
                        Ok(()) => {
                            rep.woken = true;
                            if rep.status == HostStatus::Pending {
                                rep.status = HostStatus::Woken;
                            }
                        }
                        Err(e) => rep.error = Some(format!("Wake-on-LAN: {e}")),
                    });
                }
            })
            .await;
            if let Err(e) = res {
                for i in 0..spec.hosts.len() {
                    let msg = e.to_string();
                    self.update(i, |r| r.error = Some(format!("Wake-on-LAN: {msg}")));
                }
            }
            if !plan.wait.is_zero() {
                tokio::time::sleep(plan.wait).await;
            }
        }
        // 3. Deliver.
        match &spec.action {
            Action::WakeOnly => {
                for i in 0..spec.hosts.len() {
                    self.update(i, |r| {
                        r.status = if r.woken {
                            HostStatus::Done
                        } else {
                            HostStatus::Failed
                        }
                    });
                }
            }
            Action::Direct(cmds) => self.run_direct(spec, ssh_cfg, cmds).await,
            Action::Onboot(_) => {
                if let Some(wait) = spec.onboot_wait {
                    self.watch_onboot(spec, onboot, wait).await;
                }
            }
        }
        let snap = {
            let mut g = match self.state.lock() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            g.finished_ms = Some(now_ms());
            g.clone()
        };
        let _ = self.events.send(JobEvent::Finished {
            snapshot: snap.clone(),
        });
        snap
    }

    /// Probes every host once; reboots the ones that answer (over SSH,
    /// `linbo_wrapper reboot`). Returns which were rebooted.
    async fn reboot_online(&self, spec: &JobSpec, cfg: &SshConfig) -> Vec<bool> {
        let mut set = tokio::task::JoinSet::new();
        for (i, h) in spec.hosts.iter().enumerate() {
            let (addr, cfg, timeout) = (address_of(h), cfg.clone(), spec.probe_timeout);
            set.spawn(async move {
                let sa = tokio::net::lookup_host((addr.as_str(), cfg.port))
                    .await
                    .ok()
                    .and_then(|mut a| a.next());
                let up = match sa {
                    Some(sa) => ssh::probe(sa, timeout).await,
                    None => false,
                };
                if !up {
                    return (i, false);
                }
                let line = format!("{} reboot", cfg.wrapper);
                let _ = ssh::exec(&cfg, &addr, &line, Duration::from_secs(30)).await;
                (i, true)
            });
        }
        let mut out = vec![false; spec.hosts.len()];
        while let Some(r) = set.join_next().await {
            if let Ok((i, true)) = r {
                out[i] = true;
                self.update(i, |r| {
                    r.rebooted = true;
                    r.online = Some(true);
                });
            }
        }
        out
    }

    async fn run_direct(&self, spec: &JobSpec, ssh_cfg: &SshConfig, cmds: &[Command]) {
        let sem = Arc::new(Semaphore::new(spec.parallelism.max(1)));
        let mut set = tokio::task::JoinSet::new();
        for (i, h) in spec.hosts.iter().enumerate() {
            let this = self.clone();
            let sem = sem.clone();
            let addr = address_of(h);
            let cfg = ssh_cfg.clone();
            let cmds = cmds.to_vec();
            let spec = spec.clone();
            set.spawn(async move {
                let Ok(_permit) = sem.acquire_owned().await else {
                    return;
                };
                this.run_host(i, &addr, &spec, &cfg, &cmds).await;
            });
        }
        while set.join_next().await.is_some() {}
    }

    async fn run_host(
        &self,
        i: usize,
        addr: &str,
        spec: &JobSpec,
        cfg: &SshConfig,
        cmds: &[Command],
    ) {
        let sockaddr: Option<SocketAddr> = tokio::net::lookup_host((addr, cfg.port))
            .await
            .ok()
            .and_then(|mut a| a.next());
        let mut online = false;
        if let Some(sa) = sockaddr {
            for attempt in 0..spec.probe_attempts.max(1) {
                if attempt > 0 {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                if ssh::probe(sa, spec.probe_timeout).await {
                    online = true;
                    break;
                }
            }
        }
        if !online {
            self.update(i, |r| {
                r.online = Some(false);
                r.status = HostStatus::Offline;
                r.error = Some(match sockaddr {
                    None => format!("cannot resolve {addr}"),
                    Some(sa) => format!("no answer on {sa}"),
                });
            });
            return;
        }
        self.update(i, |r| {
            r.online = Some(true);
            r.status = HostStatus::Running;
        });
        let mut pushed = false;
        let ok = self.run_chain(i, addr, spec, cfg, cmds, &mut pushed).await;
        if pushed {
            crate::upload::wipe(cfg, addr).await;
        }
        if ok {
            self.update(i, |r| r.status = HostStatus::Done);
        }
    }

    /// Runs the commands one at a time; false at the first failure.
    async fn run_chain(
        &self,
        i: usize,
        addr: &str,
        spec: &JobSpec,
        cfg: &SshConfig,
        cmds: &[Command],
        pushed: &mut bool,
    ) -> bool {
        for c in cmds {
            if matches!(c, Command::UploadImage(_) | Command::UploadQdiff(_)) && !*pushed {
                if let Some(cred) = &spec.upload_credential {
                    let now = now_ms();
                    if let Err(e) = crate::upload::push(cfg, addr, cred).await {
                        let result = CommandResult {
                            command: c.to_string(),
                            exit_code: None,
                            output: e.to_string(),
                            timed_out: false,
                            ok: false,
                            started_ms: now,
                            finished_ms: now_ms(),
                        };
                        self.update(i, |r| {
                            r.commands.push(result);
                            r.status = HostStatus::Failed;
                        });
                        return false;
                    }
                    *pushed = true;
                }
            }
            let text = c.to_string();
            let line = format!("{} {}", cfg.wrapper, shell_quote(&text));
            let started_ms = now_ms();
            let res = ssh::exec(cfg, addr, &line, spec.command_timeout).await;
            let finished_ms = now_ms();
            let result = match res {
                Ok(out) => {
                    let ok =
                        out.exit_code == Some(0) || (ends_session(c) && out.exit_code == Some(255));
                    CommandResult {
                        command: text,
                        exit_code: out.exit_code,
                        output: out.output,
                        timed_out: out.timed_out,
                        ok,
                        started_ms,
                        finished_ms,
                    }
                }
                Err(e) => CommandResult {
                    command: text,
                    exit_code: None,
                    output: e.to_string(),
                    timed_out: false,
                    ok: false,
                    started_ms,
                    finished_ms,
                },
            };
            let ok = result.ok;
            let timed_out = result.timed_out;
            self.update(i, |r| {
                r.commands.push(result);
                if !ok {
                    r.status = if timed_out {
                        HostStatus::TimedOut
                    } else {
                        HostStatus::Failed
                    };
                }
            });
            if !ok {
                return false;
            }
        }
        true
    }

    async fn watch_onboot(&self, spec: &JobSpec, onboot: &OnbootDir, wait: Duration) {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let mut open = 0;
            for (i, h) in spec.hosts.iter().enumerate() {
                let written = self
                    .snapshot()
                    .hosts
                    .get(i)
                    .is_some_and(|r| r.onboot_written && r.picked_up.is_none());
                if !written {
                    continue;
                }
                if onboot.pending(&h.hostname) {
                    open += 1;
                } else {
                    self.update(i, |r| {
                        r.picked_up = Some(true);
                        r.status = HostStatus::Done;
                    });
                }
            }
            if open == 0 || tokio::time::Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        for (i, h) in spec.hosts.iter().enumerate() {
            let open = self
                .snapshot()
                .hosts
                .get(i)
                .is_some_and(|r| r.onboot_written && r.picked_up.is_none());
            if open {
                let removed = onboot.remove(&h.hostname);
                if matches!(removed, Ok(false)) {
                    // Fetched between the last look and now.
                    self.update(i, |r| {
                        r.picked_up = Some(true);
                        r.status = HostStatus::Done;
                    });
                    continue;
                }
                self.update(i, |r| {
                    r.picked_up = Some(false);
                    r.status = HostStatus::NotPickedUp;
                    r.error = Some(match removed {
                        Ok(_) => "the on-boot file was not fetched in time and was removed".into(),
                        Err(e) => format!("the on-boot file was not fetched in time: {e}"),
                    });
                });
            }
        }
    }
}

/// The jobs of one process (the service), for the API and the UI: start
/// them, list their snapshots, follow one. Keeps the newest `keep`
/// finished jobs.
#[derive(Debug, Clone)]
pub struct JobRegistry {
    jobs: Arc<Mutex<Vec<Job>>>,
    keep: usize,
}

impl Default for JobRegistry {
    fn default() -> Self {
        Self::new(100)
    }
}

impl JobRegistry {
    /// A registry keeping `keep` finished jobs.
    pub fn new(keep: usize) -> Self {
        Self {
            jobs: Arc::new(Mutex::new(Vec::new())),
            keep: keep.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Job>> {
        match self.jobs.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Starts `spec` in the background; returns the job (for its id,
    /// snapshot and events).
    pub fn start(&self, spec: JobSpec, ssh_cfg: SshConfig, onboot: OnbootDir) -> Job {
        self.spawn(spec, ssh_cfg, onboot).0
    }

    /// Like [`JobRegistry::start`], also returning the task that ends with
    /// the final snapshot and a receiver subscribed before the job began
    /// (so no event is missed).
    pub fn spawn(
        &self,
        spec: JobSpec,
        ssh_cfg: SshConfig,
        onboot: OnbootDir,
    ) -> (
        Job,
        tokio::task::JoinHandle<JobSnapshot>,
        broadcast::Receiver<JobEvent>,
    ) {
        let job = Job::new(&spec);
        let events = job.subscribe();
        {
            let mut jobs = self.lock();
            jobs.push(job.clone());
            let finished: Vec<usize> = jobs
                .iter()
                .enumerate()
                .filter(|(_, j)| j.snapshot().finished())
                .map(|(i, _)| i)
                .collect();
            let excess = finished.len().saturating_sub(self.keep);
            for i in finished.into_iter().take(excess).rev() {
                jobs.remove(i);
            }
        }
        let j = job.clone();
        let task = tokio::spawn(async move { j.run(&spec, &ssh_cfg, &onboot).await });
        (job, task, events)
    }

    /// One job by id.
    pub fn get(&self, id: u64) -> Option<Job> {
        self.lock().iter().find(|j| j.id() == id).cloned()
    }

    /// Snapshots of all kept jobs, newest first.
    pub fn list(&self) -> Vec<JobSnapshot> {
        let mut v: Vec<JobSnapshot> = self.lock().iter().map(Job::snapshot).collect();
        v.sort_by_key(|s| std::cmp::Reverse(s.id));
        v
    }
}
