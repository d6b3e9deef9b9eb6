//! # bootbox-remote — remote control of LINBO clients
//!
//! What `linbo-remote`, cron, tmux and ssh do on a linuxmuster server, with
//! a result per host:
//!
//! | module | what |
//! |---|---|
//! | [`target`] | rooms, groups, host lists → hosts with PXE flag 1/2 |
//! | [`validate`] | LINBO's command grammar, `N` checked against the group's start.conf, `create_*`/`upload_*` for one host only |
//! | [`wol`] | magic packets (UDP 9) to 255.255.255.255 or the subnet broadcast, bound to the LAN interface, in batches with a pause, several copies |
//! | [`onboot`] | `linbocmd/<host>.cmd`: written atomically, fetched once (the HTTP server deletes it after serving), listed, deleted |
//! | [`ssh`] | the box's ed25519 key (`<data>/ssh/`), `linbo_wrapper <cmd>` over SSH port 2222, "is it up?" probe |
//! | [`job`] | one action on many hosts: per-host state (woken, online, each command's exit code, done/failed/timed out), snapshot and events |
//! | [`plan`] | `linbo-remote`'s option rules → a checked job |
//! | [`schedule`] | cron-style schedules (time zones, no double runs, missed-run policy, history, webhook on failure) |
//! | [`webhook`] | JSON POST to an `http://` URL |
//! | [`upload`] | one-time upload credentials pushed over SSH (no `linbo:<password>` in files) |
//! | [`mail`] | failure mails over SMTP (STARTTLS or plain, optional AUTH) |
//!
//! ## SSH: the system OpenSSH client
//!
//! Direct commands use `ssh` from openssh-client through `tokio::process`
//! (`ssh -F none -p 2222 -i <data>/ssh/id_ed25519 -o BatchMode=yes
//! -o StrictHostKeyChecking=no -o UserKnownHostsFile=<data>/ssh/known_hosts
//! -o ConnectTimeout=…`). That is what LINBO's own server uses against the
//! client's dropbear, and it keeps an SSH implementation out of the
//! process and the build. The key pair is created on first start
//! ([`ssh::ensure_key`]); its public half (`<data>/ssh/id_ed25519.pub`)
//! belongs into linbofs' `/.ssh/authorized_keys`.
//!
//! ## No passwords in downloadable files
//!
//! LINBO's `linbo-remote` puts the cleartext rsync password (`linbo:<pw>`)
//! first in the on-boot file of a host that is to upload an image. That
//! file lies in the download area: any PC on the LAN can fetch it. Bootbox
//! refuses `linbo:` items in every command list and on-boot file (the
//! parser in `bootbox-linbo` rejects them), so no code path can write one.
//! The replacement:
//!
//! - **Direct uploads** (`-c upload_image:N`): a single-use, expiring,
//!   host- and image-bound credential (hashed in the store) is pushed over
//!   the authenticated SSH channel to the client's `/tmp/rsyncd.secrets`
//!   right before the `upload_*` command, deleted there after the chain,
//!   and withdrawn when the job ends.
//! - **On-boot uploads** (`-p upload_image:N`): the file carries only the
//!   command. When the host fetches its `.cmd` file the box learns the
//!   host is booting and pushes a fresh credential over SSH (port 2222),
//!   retrying until the client answers.
//!
//! Details in [`upload`]. Either way no secret is
//! ever written below `<data>/linbo`.

pub mod error;
pub mod job;
pub mod mail;
pub mod onboot;
pub mod plan;
pub mod schedule;
pub mod ssh;
pub mod target;
pub mod upload;
pub mod validate;
pub mod webhook;
pub mod wol;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bootbox_store::jobs::{Schedule, WakeSettings};
use bootbox_store::Store;

pub use error::{RemoteError, Result};
pub use job::{Action, HostReport, HostStatus, Job, JobEvent, JobRegistry, JobSnapshot, JobSpec};
pub use plan::{Prepared, Request, WolDefaults};
pub use target::Target;

/// Everything remote control needs, for the service and the CLI.
#[derive(Debug, Clone)]
pub struct Remote {
    /// The registry.
    pub store: Arc<Store>,
    /// SSH settings (key in `<data>/ssh`).
    pub ssh: ssh::SshConfig,
    /// `<data>/linbo/linbocmd`.
    pub onboot: onboot::OnbootDir,
    /// Wake-on-LAN network defaults.
    pub wol: WolDefaults,
    /// Hosts handled at once (direct commands).
    pub parallelism: usize,
    /// Time limit of one command.
    pub command_timeout: Duration,
}

impl Remote {
    /// Remote control for the data directory `data` (`<data>/ssh`,
    /// `<data>/linbo`). Does not create the key; see [`ssh::ensure_key`].
    pub fn new(store: Arc<Store>, data: &Path, wol: WolDefaults) -> Self {
        Self {
            store,
            ssh: ssh::SshConfig::new(&data.join("ssh")),
            onboot: onboot::OnbootDir::new(&data.join("linbo")),
            wol,
            parallelism: 8,
            command_timeout: Duration::from_secs(3600),
        }
    }

    /// Checks a request and builds its job with this box's settings.
    pub fn prepare(&self, req: &Request) -> Result<Prepared> {
        let mut p = plan::prepare(&self.store, req, &self.wol)?;
        p.spec.parallelism = self.parallelism;
        p.spec.command_timeout = self.command_timeout;
        Ok(p)
    }

    /// Issues the one-time upload credential a direct job with `upload_*`
    /// needs (such jobs have a single host; see [`upload`]).
    pub fn arm(&self, spec: &mut JobSpec) -> Result<()> {
        if let Action::Direct(cmds) = &spec.action {
            if let (Some(n), [host]) = (upload::upload_os(cmds), spec.hosts.as_slice()) {
                let cred = upload::issue(&self.store, host, n, upload::DIRECT_TTL, "system")?;
                spec.upload_credential = Some(cred);
            }
        }
        Ok(())
    }

    /// Withdraws a finished job's upload credential (used or not).
    pub fn disarm(&self, spec: &JobSpec) {
        if let Some(c) = &spec.upload_credential {
            let _ = self.store.revoke_upload_credential(c);
        }
    }

    /// Runs a prepared job to its end.
    pub async fn run(&self, spec: &JobSpec) -> JobSnapshot {
        let mut spec = spec.clone();
        if let Err(e) = self.arm(&mut spec) {
            tracing::warn!(error = %e, "no upload credential issued");
        }
        let snap = Job::new(&spec).run(&spec, &self.ssh, &self.onboot).await;
        self.disarm(&spec);
        snap
    }
}

/// Remote control inside the service (`bootbox serve`): jobs run in the
/// background, are kept for the API ([`JobRegistry`]) and publish every
/// change to the store's event log (`remote.job.host`,
/// `remote.job.finished`), which the web UI's event stream carries.
/// Scheduled runs go through it too, so they show up beside API jobs.
#[derive(Debug, Clone)]
pub struct Service {
    /// Settings and registry.
    pub remote: Arc<Remote>,
    /// The jobs of this process.
    pub jobs: JobRegistry,
}

impl Service {
    /// A service over `remote` keeping the newest 100 finished jobs.
    pub fn new(remote: Arc<Remote>) -> Self {
        Self {
            remote,
            jobs: JobRegistry::default(),
        }
    }

    /// Starts a prepared job in the background (issuing its upload
    /// credential first, if it uploads). Returns the job and the task that
    /// ends with its final snapshot.
    pub fn start(&self, mut spec: JobSpec) -> Result<(Job, tokio::task::JoinHandle<JobSnapshot>)> {
        self.remote.arm(&mut spec)?;
        let credential = spec.upload_credential.clone();
        let (job, task, mut rx) =
            self.jobs
                .spawn(spec, self.remote.ssh.clone(), self.remote.onboot.clone());
        let store = self.remote.store.clone();
        tokio::spawn(async move {
            loop {
                let ev = match rx.recv().await {
                    Ok(ev) => ev,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(_) => break,
                };
                let (action, msg, last) = match &ev {
                    JobEvent::Host { job, report } => {
                        ("remote.job.host", host_line(*job, report), false)
                    }
                    JobEvent::Finished { snapshot } => (
                        "remote.job.finished",
                        format!("job {} finished: {}", snapshot.id, snapshot.summary()),
                        true,
                    ),
                };
                let s = store.clone();
                let _ = tokio::task::spawn_blocking(move || s.record(action, msg)).await;
                if last {
                    break;
                }
            }
            if let Some(c) = credential {
                let s = store.clone();
                let _ = tokio::task::spawn_blocking(move || s.revoke_upload_credential(&c)).await;
            }
        });
        Ok((job, task))
    }

    /// A client fetched its on-boot file (`text`): when it uploads, issue
    /// a fresh one-time credential and push it over SSH as soon as the
    /// booting client answers (in the background).
    pub fn onboot_fetched(&self, host: &str, text: &str) {
        let Ok(cmd) = bootbox_linbo::onboot::OnbootCmd::parse(text) else {
            return;
        };
        let Some(n) = upload::upload_os(&cmd.commands) else {
            return;
        };
        let (remote, host) = (self.remote.clone(), host.to_string());
        tokio::spawn(async move {
            let store = remote.store.clone();
            let h = match store.host(&host) {
                Ok(Some(h)) => h,
                _ => return,
            };
            let cred = match upload::issue(&store, &h, n, upload::ONBOOT_TTL, "system") {
                Ok(c) => c,
                Err(e) => {
                    let _ = store.record(
                        "upload.credential.push",
                        format!("no upload credential for {host}: {e}"),
                    );
                    return;
                }
            };
            let addr =
                h.ip.addr()
                    .map_or_else(|| host.clone(), |ip| ip.to_string());
            let r = upload::push_when_up(
                &remote.ssh,
                &addr,
                &cred,
                Duration::from_secs(3),
                upload::PUSH_PATIENCE,
            )
            .await;
            let note = match &r {
                Ok(()) => format!("one-time upload credential pushed to {host} over SSH"),
                Err(e) => {
                    let _ = store.revoke_upload_credential(&cred);
                    format!("upload credential for {host} not pushed (withdrawn): {e}")
                }
            };
            let _ = store.record("upload.credential.push", note);
        });
    }
}

/// One line for the event log: `job 3: pc01 done (sync:1=0 start:1=0)`.
fn host_line(job: u64, r: &HostReport) -> String {
    let status = serde_json::to_value(r.status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let cmds: Vec<String> = r
        .commands
        .iter()
        .map(|c| match c.exit_code {
            Some(code) => format!("{}={code}", c.command),
            None => format!("{}=-", c.command),
        })
        .collect();
    let mut line = format!("job {job}: {} {status}", r.host);
    if !cmds.is_empty() {
        line.push_str(&format!(" ({})", cmds.join(" ")));
    }
    if let Some(e) = &r.error {
        line.push_str(&format!(" — {e}"));
    }
    line
}

impl schedule::Runner for Service {
    async fn run(&self, s: &Schedule) -> Result<JobSnapshot> {
        let p = self.remote.prepare(&request_for(s))?;
        let (job, task) = self.start(p.spec)?;
        Ok(match task.await {
            Ok(snap) => snap,
            Err(_) => job.snapshot(),
        })
    }
}

/// The request a schedule stands for.
pub fn request_for(s: &Schedule) -> Request {
    let mut req = Request::new(Target::from(&s.target));
    if s.onboot {
        req.onboot = Some(s.commands.clone()).filter(|c| !c.trim().is_empty());
        req.noauto = s.noauto;
        req.disablegui = s.disablegui;
    } else if !s.commands.trim().is_empty() {
        req.direct = Some(s.commands.clone());
    }
    if let Some(WakeSettings {
        wait_s,
        gap_ms,
        batch,
        subnet_broadcast,
    }) = &s.wake
    {
        req.wait = Some(Duration::from_secs(*wait_s));
        req.gap = Duration::from_millis(*gap_ms);
        req.batch = (*batch).max(1) as usize;
        req.subnet_broadcast = *subnet_broadcast;
    }
    req
}

impl schedule::Runner for Remote {
    async fn run(&self, s: &Schedule) -> Result<JobSnapshot> {
        let p = self.prepare(&request_for(s))?;
        Ok(Remote::run(self, &p.spec).await)
    }
}
