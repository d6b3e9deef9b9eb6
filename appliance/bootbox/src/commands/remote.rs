//! `bootbox remote`: `linbo-remote` with the same options (so cron lines
//! keep working after `s/linbo-remote/bootbox remote/`), and a result per
//! host at the end.
//!
//! ```text
//! bootbox remote -r r101 -b 1 -w 5 -c sync:1,halt     wake room r101 (1 s apart), wait 5 s, then sync:1 and halt
//! bootbox remote -g win11 -p sync:1,start:1 -n        on-boot file for every host of group win11
//! bootbox remote -i pc01,10.0.100.7 -c reboot
//! bootbox remote --list-onboot | --rm-onboot pc01,pc02 | --rm-onboot all
//! bootbox remote --show-key                            the public key for linbofs' authorized_keys
//! ```
//!
//! The command opens the registry, so it runs while `bootbox serve` is
//! stopped; while the service runs, it says so.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use bootbox_remote::{HostStatus, JobEvent, Remote, Request, Target, WolDefaults};
use clap::Args;

use crate::datadir::DataDir;

/// `bootbox remote` options (`linbo-remote`'s, plus a few of Bootbox's).
#[derive(Debug, Args)]
#[command(disable_help_flag = true)]
pub struct RemoteArgs {
    /// Print help.
    #[arg(short = 'h', long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
    /// All LINBO hosts (PXE flag 1/2) of this room.
    #[arg(short = 'r', value_name = "ROOM", conflicts_with_all = ["group", "ips"])]
    pub room: Option<String>,
    /// All LINBO hosts of this group (hardware class).
    #[arg(short = 'g', value_name = "GROUP", conflicts_with = "ips")]
    pub group: Option<String>,
    /// Hostnames or IPs, comma-separated.
    #[arg(short = 'i', value_name = "HOSTS", value_delimiter = ',')]
    pub ips: Vec<String>,
    /// Direct commands over SSH now, comma-separated (sync:1,start:1).
    #[arg(short = 'c', value_name = "CMDS", conflicts_with = "onboot")]
    pub direct: Option<String>,
    /// On-boot commands, run once at the next boot.
    #[arg(short = 'p', value_name = "CMDS")]
    pub onboot: Option<String>,
    /// Send Wake-on-LAN, wait SEC seconds, then run -c / check -p.
    #[arg(short = 'w', value_name = "SEC")]
    pub wait: Option<u64>,
    /// Seconds between the Wake-on-LAN packets of successive hosts.
    #[arg(short = 'b', value_name = "SEC", default_value_t = 0)]
    pub gap: u64,
    /// Add `noauto` to the on-boot file.
    #[arg(short = 'n')]
    pub noauto: bool,
    /// Add `disablegui` to the on-boot file.
    #[arg(short = 'd')]
    pub disablegui: bool,
    /// Wake-on-LAN to the subnet broadcast, or fail (it is the default
    /// whenever the LAN interface is known; else 255.255.255.255).
    #[arg(short = 'u')]
    pub subnet_broadcast: bool,
    /// LAN interface for Wake-on-LAN (default: the setup wizard's).
    #[arg(long)]
    pub interface: Option<String>,
    /// Subnet broadcast to use with -u (default: from the interface).
    #[arg(long)]
    pub broadcast: Option<std::net::Ipv4Addr>,
    /// Hosts woken per batch (the pause -b is between batches).
    #[arg(long, default_value_t = 1)]
    pub batch: usize,
    /// Hosts handled at the same time.
    #[arg(long, default_value_t = 8)]
    pub parallel: usize,
    /// Time limit of one command, in seconds.
    #[arg(long, default_value_t = 3600)]
    pub timeout: u64,
    /// SSH port of the clients.
    #[arg(long, default_value_t = 2222)]
    pub ssh_port: u16,
    /// The program each command runs through on the client.
    #[arg(long, default_value = "linbo_wrapper")]
    pub wrapper: String,
    /// Print the job report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Create the box's SSH key if missing and print its public half.
    #[arg(long)]
    pub show_key: bool,
    /// List pending on-boot files.
    #[arg(long)]
    pub list_onboot: bool,
    /// Delete on-boot files: host names, comma-separated, or `all`.
    #[arg(long, value_name = "HOSTS", value_delimiter = ',')]
    pub rm_onboot: Vec<String>,
}

fn target(a: &RemoteArgs) -> Result<Target> {
    Ok(match (&a.room, &a.group, a.ips.is_empty()) {
        (Some(r), None, true) => Target::Room(r.clone()),
        (None, Some(g), true) => Target::Group(g.clone()),
        (None, None, false) => Target::Hosts(a.ips.clone()),
        (None, None, true) => bail!("give the hosts: -r ROOM, -g GROUP or -i HOST,…"),
        _ => bail!("-r, -g and -i are mutually exclusive"),
    })
}

/// Runs `bootbox remote`.
pub fn run(dir: &DataDir, a: RemoteArgs) -> Result<()> {
    let ssh_dir = dir.root().join("ssh");
    if a.show_key {
        let key = bootbox_remote::ssh::ensure_key(&ssh_dir)?;
        let text = std::fs::read_to_string(&key.public)
            .with_context(|| format!("cannot read {}", key.public.display()))?;
        eprintln!(
            "public key {} (for linbofs /.ssh/authorized_keys):",
            key.public.display()
        );
        print!("{text}");
        return Ok(());
    }
    let onboot = bootbox_remote::onboot::OnbootDir::new(&dir.linbo());
    if a.list_onboot {
        for e in onboot.list()? {
            println!("{:<24} {}", e.host, e.commands);
        }
        return Ok(());
    }
    if !a.rm_onboot.is_empty() {
        let hosts: Vec<String> = if a.rm_onboot.iter().any(|h| h == "all") {
            onboot.list()?.into_iter().map(|e| e.host).collect()
        } else {
            a.rm_onboot.clone()
        };
        let removed = onboot.remove_many(&hosts)?;
        eprintln!(
            "removed {} on-boot file(s): {}",
            removed.len(),
            removed.join(", ")
        );
        return Ok(());
    }
    let target = target(&a)?;
    let lock = dir.lock().context(
        "bootbox remote needs the registry, which a running bootbox (serve) holds; \
         stop it first (while it runs, use its web UI or API for remote commands)",
    )?;
    let store = bootbox_store::Store::open(dir.db_path())
        .with_context(|| format!("cannot open the registry {}", dir.db_path().display()))?;
    let settings = store.settings()?;
    let wol = WolDefaults {
        interface: a.interface.clone().or(settings.interface),
        broadcast: a.broadcast,
        port: None,
        copies: None,
    };
    let mut remote = Remote::new(std::sync::Arc::new(store), dir.root(), wol);
    remote.parallelism = a.parallel.max(1);
    remote.command_timeout = Duration::from_secs(a.timeout.max(1));
    remote.ssh.port = a.ssh_port;
    remote.ssh.wrapper = a.wrapper.clone();
    let req = Request {
        direct: a.direct.clone(),
        onboot: a.onboot.clone(),
        noauto: a.noauto,
        disablegui: a.disablegui,
        wait: a.wait.map(Duration::from_secs),
        gap: Duration::from_secs(a.gap),
        batch: a.batch.max(1),
        subnet_broadcast: a.subnet_broadcast,
        ..Request::new(target)
    };
    let mut prepared = remote.prepare(&req)?;
    for (h, why) in &prepared.skipped {
        eprintln!("skipped {h}: {why}");
    }
    if matches!(prepared.spec.action, bootbox_remote::Action::Direct(_)) {
        bootbox_remote::ssh::ensure_key(&ssh_dir)?;
    }
    let _ = remote.store.audit(
        &super::actor(),
        "remote.run",
        format!("remote: {}", prepared.spec.title),
    );
    // An upload gets its one-time credential (pushed over SSH, withdrawn after).
    remote.arm(&mut prepared.spec)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let snap = runtime.block_on(async {
        let job = bootbox_remote::Job::new(&prepared.spec);
        let mut events = job.subscribe();
        let printer = tokio::spawn(async move {
            let mut last: std::collections::HashMap<String, HostStatus> = Default::default();
            while let Ok(ev) = events.recv().await {
                match ev {
                    JobEvent::Host { report, .. } => {
                        if last.get(&report.host) != Some(&report.status) {
                            eprintln!("{}: {:?}", report.host, report.status);
                            last.insert(report.host.clone(), report.status);
                        }
                    }
                    JobEvent::Finished { .. } => break,
                }
            }
        });
        let snap = job.run(&prepared.spec, &remote.ssh, &remote.onboot).await;
        let _ = printer.await;
        snap
    });
    remote.disarm(&prepared.spec);
    let _ = remote.store.record("remote.done", snap.summary());
    drop(lock);
    if a.json {
        println!("{}", serde_json::to_string_pretty(&snap.to_json())?);
    } else {
        for h in &snap.hosts {
            let cmds: Vec<String> = h
                .commands
                .iter()
                .map(|c| match c.exit_code {
                    Some(code) => format!("{}={code}", c.command),
                    None if c.timed_out => format!("{}=timeout", c.command),
                    None => format!("{}=?", c.command),
                })
                .collect();
            let status = serde_json::to_value(h.status)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            println!(
                "{:<20} {:<14} {}{}",
                h.host,
                status,
                cmds.join(" "),
                h.error
                    .as_deref()
                    .map(|e| format!("  ({e})"))
                    .unwrap_or_default()
            );
        }
    }
    let failed = snap.failed_hosts();
    if !failed.is_empty() {
        bail!(
            "{} of {} hosts failed: {}",
            failed.len(),
            snap.hosts.len(),
            failed.join(", ")
        );
    }
    Ok(())
}
