//! Command lists: parsing with LINBO's grammar and the checks
//! `linbo-remote` makes (plus the start.conf check it does not make).

use std::collections::BTreeMap;

use bootbox_linbo::onboot::{Command, OnbootCmd};
use bootbox_linbo::startconf::StartConf;
use bootbox_store::{Host, Store};

use crate::{RemoteError, Result};

/// Parses a comma-separated command list (`sync:1,start:1`). Every bad
/// item is reported. `linbo:<password>` is refused by the grammar.
pub fn parse_commands(text: &str) -> Result<Vec<Command>> {
    OnbootCmd::parse(text)
        .map(|c| c.commands)
        .map_err(|e| RemoteError::Invalid(format!("commands '{text}': {e}")))
}

/// How commands reach the hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Over SSH now (`-c`).
    Direct,
    /// In the on-boot file, run at the next boot (`-p`, `-n`, `-d`).
    Onboot,
}

/// Checks a command list for a set of hosts:
/// - `create_*` / `upload_*` only for a single host;
/// - `noauto` / `disablegui` only in on-boot files;
/// - every `N` exists in the start.conf of each host's group (a group
///   without start.conf cannot take numbered commands).
///
/// Returns every problem found, joined, or `Ok`.
pub fn validate(
    store: &Store,
    hosts: &[Host],
    commands: &[Command],
    delivery: Delivery,
) -> Result<()> {
    let mut problems = Vec::new();
    if hosts.len() > 1 {
        for c in commands.iter().filter(|c| c.requires_single_host()) {
            problems.push(format!(
                "{c} is only allowed for a single host ({} selected)",
                hosts.len()
            ));
        }
    }
    if delivery == Delivery::Direct {
        for c in commands.iter().filter(|c| c.is_onboot_flag()) {
            problems.push(format!(
                "{c} only works in an on-boot file (use -p, or -n / -d)"
            ));
        }
    }
    let numbered = commands
        .iter()
        .any(|c| c.os_index().is_some() || c.partition_index().is_some());
    if numbered {
        let mut groups: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for h in hosts {
            groups.entry(&h.group).or_default().push(&h.hostname);
        }
        for (group, members) in groups {
            let conf = store.group(group)?.and_then(|g| g.start_conf);
            let Some(text) = conf else {
                problems.push(format!(
                    "group {group} (hosts {}) has no start.conf, so numbered commands cannot be checked",
                    members.join(",")
                ));
                continue;
            };
            let conf = match StartConf::parse(&text) {
                Ok(p) => p.conf,
                Err(e) => {
                    problems.push(format!("start.conf of group {group}: {e}"));
                    continue;
                }
            };
            for c in commands {
                if let Err(e) = c.check_against(&conf) {
                    problems.push(format!("group {group}: {e}"));
                }
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(RemoteError::Invalid(problems.join("; ")))
    }
}
