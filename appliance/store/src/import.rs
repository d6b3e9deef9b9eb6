//! Bulk import: devices.csv hosts, start.conf files and image entries,
//! planned against the current registry and applied in one transaction.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;

use bootbox_linbo::devices::Devices;
use bootbox_linbo::startconf::StartConf;
use redb::WriteTransaction;

use crate::model::{Group, Host, Image, Room};
use crate::schema::{GROUPS, IMAGES, ROOMS};
use crate::store::{delete_host, insert_host};
use crate::{tables, Result, StoreError};

/// How imported hosts combine with the hosts already in the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MergeStrategy {
    /// The file is the truth: hosts not in it are removed.
    Replace,
    /// Add new hosts, overwrite hosts with the same hostname, keep the rest.
    #[default]
    Update,
    /// Only add hosts whose hostname is new; existing ones stay untouched.
    AddOnly,
}

impl std::str::FromStr for MergeStrategy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "replace" => Ok(Self::Replace),
            "update" => Ok(Self::Update),
            "add-only" => Ok(Self::AddOnly),
            other => Err(format!(
                "unknown merge strategy '{other}' (use replace, update or add-only)"
            )),
        }
    }
}

/// What to import.
#[derive(Debug, Clone, Default)]
pub struct ImportBatch {
    /// Hosts from a devices.csv (with line numbers), if any.
    pub devices: Option<Devices>,
    /// How hosts merge.
    pub strategy: MergeStrategy,
    /// Groups with start.conf text to create or replace.
    pub groups: Vec<Group>,
    /// Image entries to create or replace.
    pub images: Vec<Image>,
}

/// Exactly what an import changes. Produced by
/// [`crate::Store::plan_import`] (dry run) and [`crate::Store::apply_import`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportPlan {
    /// New hosts.
    pub hosts_added: Vec<Host>,
    /// `(before, after)` for hosts whose record changes.
    pub hosts_updated: Vec<(Host, Host)>,
    /// Hosts deleted (replace strategy only).
    pub hosts_removed: Vec<Host>,
    /// Hosts in the file identical to the registry.
    pub hosts_unchanged: usize,
    /// Hostnames left alone because they exist (add-only strategy).
    pub hosts_skipped: Vec<String>,
    /// Rooms that will be created.
    pub rooms_new: Vec<String>,
    /// Groups that will be created.
    pub groups_new: Vec<Group>,
    /// Groups whose start.conf will be replaced: `(before, after)`.
    pub groups_changed: Vec<(Group, Group)>,
    /// Images that will be created or replaced.
    pub images: Vec<Image>,
    /// Reasons the import cannot be applied. Non-empty means nothing will
    /// be changed.
    pub conflicts: Vec<String>,
}

impl ImportPlan {
    /// True when applying would change nothing.
    pub fn is_noop(&self) -> bool {
        self.hosts_added.is_empty()
            && self.hosts_updated.is_empty()
            && self.hosts_removed.is_empty()
            && self.rooms_new.is_empty()
            && self.groups_new.is_empty()
            && self.groups_changed.is_empty()
            && self.images.is_empty()
    }

    /// One-line count summary.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "{} hosts added, {} updated, {} removed, {} unchanged",
            self.hosts_added.len(),
            self.hosts_updated.len(),
            self.hosts_removed.len(),
            self.hosts_unchanged
        );
        if !self.hosts_skipped.is_empty() {
            let _ = write!(s, ", {} skipped (exist)", self.hosts_skipped.len());
        }
        let _ = write!(
            s,
            "; {} rooms and {} groups new, {} start.conf replaced, {} images",
            self.rooms_new.len(),
            self.groups_new.len(),
            self.groups_changed.len(),
            self.images.len()
        );
        s
    }
}

/// Computes the plan for `batch` against the registry's current content.
pub(crate) fn plan(
    batch: &ImportBatch,
    hosts: &[Host],
    rooms: &[Room],
    groups: &[Group],
    images: &[Image],
) -> Result<ImportPlan> {
    let mut plan = ImportPlan::default();
    let existing: BTreeMap<&str, &Host> = hosts.iter().map(|h| (h.hostname.as_str(), h)).collect();

    // Hosts: decide per hostname, then check uniqueness of the end state.
    let mut line_of: HashMap<String, usize> = HashMap::new();
    let mut final_hosts: BTreeMap<String, Host> = hosts
        .iter()
        .map(|h| (h.hostname.clone(), h.clone()))
        .collect();
    if let Some(devices) = &batch.devices {
        let in_file: BTreeSet<&str> = devices
            .records
            .iter()
            .map(|r| r.hostname.as_str())
            .collect();
        for (rec, line) in devices.records.iter().zip(&devices.lines) {
            line_of.insert(rec.hostname.clone(), *line);
            match existing.get(rec.hostname.as_str()) {
                None => {
                    plan.hosts_added.push(rec.clone());
                    final_hosts.insert(rec.hostname.clone(), rec.clone());
                }
                Some(old) if *old == rec => plan.hosts_unchanged += 1,
                Some(_) if batch.strategy == MergeStrategy::AddOnly => {
                    plan.hosts_skipped.push(rec.hostname.clone())
                }
                Some(old) => {
                    plan.hosts_updated.push(((*old).clone(), rec.clone()));
                    final_hosts.insert(rec.hostname.clone(), rec.clone());
                }
            }
        }
        if batch.strategy == MergeStrategy::Replace {
            for h in hosts
                .iter()
                .filter(|h| !in_file.contains(h.hostname.as_str()))
            {
                plan.hosts_removed.push(h.clone());
                final_hosts.remove(&h.hostname);
            }
        }
    }
    plan.conflicts = uniqueness_conflicts(&final_hosts, &line_of);

    // Rooms and groups referenced by the end state must exist.
    let known_rooms: BTreeSet<&str> = rooms.iter().map(|r| r.name.as_str()).collect();
    let known_groups: BTreeMap<&str, &Group> =
        groups.iter().map(|g| (g.name.as_str(), g)).collect();
    let mut new_rooms = BTreeSet::new();
    let mut new_groups: BTreeMap<String, Group> = BTreeMap::new();
    for h in final_hosts.values() {
        if !known_rooms.contains(h.room.as_str()) {
            new_rooms.insert(h.room.clone());
        }
        if !known_groups.contains_key(h.group.as_str()) {
            new_groups.entry(h.group.clone()).or_insert_with(|| Group {
                name: h.group.clone(),
                ..Group::default()
            });
        }
    }
    for g in &batch.groups {
        let mut g = g.clone();
        if let Some(text) = &g.start_conf {
            match StartConf::parse(text) {
                Ok(p) => g.start_conf = Some(p.conf.render()),
                Err(e) => {
                    plan.conflicts.push(format!("start.conf.{}: {e}", g.name));
                    continue;
                }
            }
        }
        match known_groups.get(g.name.as_str()) {
            None => {
                new_groups.insert(g.name.clone(), g);
            }
            Some(old) if old.start_conf != g.start_conf => {
                let after = Group {
                    description: old.description.clone(),
                    ..g
                };
                plan.groups_changed.push(((*old).clone(), after));
            }
            Some(_) => {}
        }
    }
    plan.rooms_new = new_rooms.into_iter().collect();
    plan.groups_new = new_groups.into_values().collect();

    let known_images: BTreeMap<&str, &Image> =
        images.iter().map(|i| (i.name.as_str(), i)).collect();
    plan.images = batch
        .images
        .iter()
        .filter(|i| known_images.get(i.name.as_str()) != Some(i))
        .cloned()
        .collect();
    Ok(plan)
}

/// Lists every MAC or fixed IP used by two hosts of the end state.
fn uniqueness_conflicts(
    hosts: &BTreeMap<String, Host>,
    line_of: &HashMap<String, usize>,
) -> Vec<String> {
    let mut out = Vec::new();
    let mut macs: HashMap<_, &str> = HashMap::new();
    let mut ips: HashMap<_, &str> = HashMap::new();
    let describe = |name: &str| match line_of.get(name) {
        Some(line) => format!("host {name} (line {line})"),
        None => format!("host {name} (already registered, not in the file)"),
    };
    for h in hosts.values() {
        if let Some(other) = macs.insert(h.mac, &h.hostname) {
            out.push(format!(
                "MAC {} is used by {} and {}",
                h.mac,
                describe(other),
                describe(&h.hostname)
            ));
        }
        if let Some(ip) = h.ip.addr() {
            if let Some(other) = ips.insert(ip, &h.hostname) {
                out.push(format!(
                    "IP {ip} is used by {} and {}",
                    describe(other),
                    describe(&h.hostname)
                ));
            }
        }
    }
    out
}

/// Writes `plan` into `txn`. The caller commits.
pub(crate) fn apply(txn: &WriteTransaction, plan: &ImportPlan) -> Result<()> {
    for h in &plan.hosts_removed {
        delete_host(txn, &h.hostname)?;
        crate::client_status::drop_status(txn, &h.hostname)?;
    }
    for (old, _) in &plan.hosts_updated {
        delete_host(txn, &old.hostname)?;
    }
    for h in plan
        .hosts_added
        .iter()
        .chain(plan.hosts_updated.iter().map(|(_, new)| new))
    {
        insert_host(txn, h.clone())?;
    }
    let mut rooms = txn.open_table(ROOMS)?;
    for name in &plan.rooms_new {
        let room = Room {
            name: name.clone(),
            ..Room::default()
        };
        tables::put(&mut rooms, name, room)?;
    }
    let mut groups = txn.open_table(GROUPS)?;
    for g in plan
        .groups_new
        .iter()
        .chain(plan.groups_changed.iter().map(|(_, new)| new))
    {
        bootbox_linbo::names::group(&g.name).map_err(StoreError::Invalid)?;
        tables::put(&mut groups, &g.name, g.clone())?;
    }
    let mut images = txn.open_table(IMAGES)?;
    for i in &plan.images {
        tables::put(&mut images, &i.name, i.clone())?;
    }
    Ok(())
}
