//! Which hosts an action reaches: a room, a group or a host list, and only
//! hosts with PXE flag 1 or 2 (those that run LINBO), like `linbo-remote`.

use std::net::Ipv4Addr;

use bootbox_store::jobs::ScheduleTarget;
use bootbox_store::{Host, Store};

use crate::{RemoteError, Result};

/// The hosts an action is meant for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// All hosts of a room (`-r`).
    Room(String),
    /// All hosts of a group / hardware class (`-g`).
    Group(String),
    /// Hostnames or fixed IPv4 addresses (`-i h1,h2,…`).
    Hosts(Vec<String>),
}

impl From<&ScheduleTarget> for Target {
    fn from(t: &ScheduleTarget) -> Self {
        match t {
            ScheduleTarget::Room(r) => Target::Room(r.clone()),
            ScheduleTarget::Group(g) => Target::Group(g.clone()),
            ScheduleTarget::Hosts(h) => Target::Hosts(h.clone()),
        }
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Room(r) => write!(f, "room {r}"),
            Target::Group(g) => write!(f, "group {g}"),
            Target::Hosts(h) => write!(f, "hosts {}", h.join(",")),
        }
    }
}

/// The result of resolving a [`Target`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resolved {
    /// Hosts to act on, by hostname.
    pub hosts: Vec<Host>,
    /// Hosts left out, with the reason (PXE flag 0 or 3).
    pub skipped: Vec<(String, String)>,
}

/// Resolves a target against the registry. Unknown rooms, groups or hosts
/// are errors; hosts that do not run LINBO are skipped with a reason.
pub fn resolve(store: &Store, target: &Target) -> Result<Resolved> {
    let all = store.hosts()?;
    let picked: Vec<Host> = match target {
        Target::Room(room) => {
            let v: Vec<Host> = all.into_iter().filter(|h| &h.room == room).collect();
            if v.is_empty() {
                return Err(RemoteError::Invalid(format!("room {room} has no hosts")));
            }
            v
        }
        Target::Group(group) => {
            let v: Vec<Host> = all.into_iter().filter(|h| &h.group == group).collect();
            if v.is_empty() {
                return Err(RemoteError::Invalid(format!("group {group} has no hosts")));
            }
            v
        }
        Target::Hosts(names) => {
            let mut v: Vec<Host> = Vec::new();
            for raw in names.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
                let found = match raw.parse::<Ipv4Addr>() {
                    Ok(ip) => all.iter().find(|h| h.ip.addr() == Some(ip)),
                    Err(_) => {
                        let lower = raw.to_ascii_lowercase();
                        all.iter().find(|h| h.hostname == lower)
                    }
                };
                match found {
                    Some(h) if !v.iter().any(|x| x.hostname == h.hostname) => v.push(h.clone()),
                    Some(_) => {}
                    None => {
                        return Err(RemoteError::Invalid(format!(
                            "host {raw} is not registered"
                        )))
                    }
                }
            }
            if v.is_empty() {
                return Err(RemoteError::Invalid("the host list is empty".into()));
            }
            v
        }
    };
    let mut out = Resolved::default();
    for h in picked {
        if h.pxe.runs_linbo() {
            out.hosts.push(h);
        } else {
            let why = format!("PXE flag {} (only 1 and 2 run LINBO)", h.pxe.value());
            out.skipped.push((h.hostname, why));
        }
    }
    Ok(out)
}
