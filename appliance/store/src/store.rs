//! The [`Store`] handle and its per-action write transactions.

use std::path::{Path, PathBuf};

use bootbox_linbo::startconf::StartConf;
use bootbox_linbo::{names, MacAddr};
use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, WriteTransaction};

use crate::import::{self, ImportBatch, ImportPlan};
use crate::model::{
    BootEvent, Event, EventKind, Group, GroupSettings, Host, HostSettings, Image, Room,
    SchoolSettings,
};
use crate::schema::{
    self, EVENTS, GROUPS, GROUP_SETTINGS, HOSTS, HOST_BY_IP, HOST_BY_MAC, HOST_SETTINGS, IMAGES,
    ROOMS, SETTINGS, TIMELINE,
};
use crate::tables;
use crate::{Result, StoreError};

/// Boot events kept per MAC; older ones are dropped.
pub const TIMELINE_PER_MAC: usize = 200;

/// The registry's view of one PC, for the boot decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootView {
    /// The host.
    pub host: Host,
    /// Its group, if it exists.
    pub group: Option<Group>,
    /// Bootbox's settings of the group.
    pub group_settings: GroupSettings,
    /// Bootbox's settings of the host.
    pub host_settings: HostSettings,
}

/// Handle to the registry database. Cheap to share behind an `Arc`; redb
/// serialises writers and lets readers run concurrently.
pub struct Store {
    db: Database,
    path: PathBuf,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Opens (or creates) the database at `path` and migrates it to the
    /// current schema.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let db = Database::create(&path).map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => StoreError::InUse {
                path: path.display().to_string(),
            },
            other => other.into(),
        })?;
        schema::upgrade(&db)?;
        Ok(Self { db, path })
    }

    /// The database, for the store's other modules (`users`).
    pub(crate) fn db(&self) -> &Database {
        &self.db
    }

    /// Path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version of the open file.
    pub fn schema_version(&self) -> Result<u64> {
        Ok(schema::read_version(&self.db)?.unwrap_or(0))
    }

    // ----- settings -------------------------------------------------------

    /// The school settings (defaults before the wizard ran).
    pub fn settings(&self) -> Result<SchoolSettings> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(SETTINGS)?;
        Ok(tables::get(&t, "settings", "school")?.unwrap_or_default())
    }

    /// Replaces the school settings.
    pub fn set_settings(&self, settings: SchoolSettings, actor: &str) -> Result<()> {
        self.write(
            actor,
            "settings.update",
            "school settings changed".into(),
            |txn| tables::put(&mut txn.open_table(SETTINGS)?, "school", settings),
        )
    }

    // ----- rooms ----------------------------------------------------------

    /// All rooms, by name.
    pub fn rooms(&self) -> Result<Vec<Room>> {
        let txn = self.db.begin_read()?;
        tables::all(&txn.open_table(ROOMS)?, "rooms")
    }

    /// Creates or replaces a room.
    pub fn put_room(&self, room: Room, actor: &str) -> Result<()> {
        names::room(&room.name).map_err(StoreError::Invalid)?;
        let msg = format!("room {} saved", room.name);
        self.write(actor, "room.put", msg, |txn| {
            let name = room.name.clone();
            tables::put(&mut txn.open_table(ROOMS)?, &name, room)
        })
    }

    /// Deletes an empty room.
    pub fn remove_room(&self, name: &str, actor: &str) -> Result<()> {
        self.remove_unused(
            actor,
            "room",
            name,
            |h| h.room == name,
            |txn| Ok(txn.open_table(ROOMS)?.remove(name)?.is_some()),
        )
    }

    /// Deletes a room or group (`kind`) that no host refers to; `uses`
    /// tells whether a host refers to it, `delete` removes it and says
    /// whether it existed. One transaction with its audit event.
    fn remove_unused(
        &self,
        actor: &str,
        kind: &'static str,
        name: &str,
        uses: impl Fn(&Host) -> bool,
        delete: impl FnOnce(&WriteTransaction) -> Result<bool>,
    ) -> Result<()> {
        self.write(
            actor,
            &format!("{kind}.remove"),
            format!("{kind} {name} removed"),
            |txn| {
                let users = hosts_where(txn, uses)?;
                if !users.is_empty() {
                    return Err(StoreError::Invalid(format!(
                        "{kind} {name} is still used by hosts: {}",
                        users.join(", ")
                    )));
                }
                if !delete(txn)? {
                    return Err(not_found(kind, name));
                }
                Ok(())
            },
        )
    }

    // ----- groups ---------------------------------------------------------

    /// All groups (hardware classes), by name.
    pub fn groups(&self) -> Result<Vec<Group>> {
        let txn = self.db.begin_read()?;
        tables::all(&txn.open_table(GROUPS)?, "groups")
    }

    /// One group.
    pub fn group(&self, name: &str) -> Result<Option<Group>> {
        let txn = self.db.begin_read()?;
        tables::get(&txn.open_table(GROUPS)?, "groups", name)
    }

    /// Creates or replaces a group. Its start.conf, if any, must parse
    /// without errors; the stored text is the canonical rendering.
    pub fn put_group(&self, group: Group, actor: &str) -> Result<()> {
        let group = validate_group(group)?;
        let msg = format!("group {} saved", group.name);
        self.write(actor, "group.put", msg, |txn| {
            let name = group.name.clone();
            tables::put(&mut txn.open_table(GROUPS)?, &name, group)
        })
    }

    /// Deletes a group that no host uses.
    pub fn remove_group(&self, name: &str, actor: &str) -> Result<()> {
        self.remove_unused(
            actor,
            "group",
            name,
            |h| h.group == name,
            |txn| Ok(txn.open_table(GROUPS)?.remove(name)?.is_some()),
        )
    }

    // ----- hosts ----------------------------------------------------------

    /// All hosts, by hostname.
    pub fn hosts(&self) -> Result<Vec<Host>> {
        let txn = self.db.begin_read()?;
        tables::all(&txn.open_table(HOSTS)?, "hosts")
    }

    /// Number of hosts.
    pub fn host_count(&self) -> Result<u64> {
        let txn = self.db.begin_read()?;
        Ok(txn.open_table(HOSTS)?.len()?)
    }

    /// One host by hostname.
    pub fn host(&self, hostname: &str) -> Result<Option<Host>> {
        let txn = self.db.begin_read()?;
        tables::get(&txn.open_table(HOSTS)?, "hosts", hostname)
    }

    /// One host by MAC address (the boot path's lookup).
    pub fn host_by_mac(&self, mac: MacAddr) -> Result<Option<Host>> {
        let txn = self.db.begin_read()?;
        let Some(name) = txn
            .open_table(HOST_BY_MAC)?
            .get(mac.octets())?
            .map(|g| g.value().to_string())
        else {
            return Ok(None);
        };
        tables::get(&txn.open_table(HOSTS)?, "hosts", &name)
    }

    /// Adds a new host. Hostname, MAC and fixed IP must be unused; room and
    /// group are created when missing.
    pub fn add_host(&self, host: Host, actor: &str) -> Result<()> {
        let host = validate_host(host)?;
        let msg = format!("host {} ({}, {}) added", host.hostname, host.mac, host.ip);
        self.write(actor, "host.add", msg, |txn| {
            if tables::get(&txn.open_table(HOSTS)?, "hosts", &host.hostname)?.is_some() {
                return Err(StoreError::Conflict {
                    field: "hostname",
                    value: host.hostname.clone(),
                    holder: host.hostname.clone(),
                });
            }
            ensure_room_and_group(txn, &host)?;
            insert_host(txn, host)
        })
    }

    /// Replaces the host called `hostname` by `host` (which may rename it).
    pub fn update_host(&self, hostname: &str, host: Host, actor: &str) -> Result<()> {
        let host = validate_host(host)?;
        let msg = format!("host {hostname} updated");
        self.write(actor, "host.update", msg, |txn| {
            let settings = tables::get(&txn.open_table(HOST_SETTINGS)?, "host_settings", hostname)?;
            let old = delete_host(txn, hostname)?;
            if let Some(settings) = settings {
                tables::put(
                    &mut txn.open_table(HOST_SETTINGS)?,
                    &host.hostname,
                    settings,
                )?;
            }
            if host.hostname != old.hostname
                && tables::get(&txn.open_table(HOSTS)?, "hosts", &host.hostname)?.is_some()
            {
                return Err(StoreError::Conflict {
                    field: "hostname",
                    value: host.hostname.clone(),
                    holder: host.hostname.clone(),
                });
            }
            ensure_room_and_group(txn, &host)?;
            crate::client_status::move_status(txn, &old.hostname, &host.hostname)?;
            insert_host(txn, host)
        })
    }

    /// Removes a host (with its client status).
    pub fn remove_host(&self, hostname: &str, actor: &str) -> Result<Host> {
        let mut removed = None;
        self.write(
            actor,
            "host.remove",
            format!("host {hostname} removed"),
            |txn| {
                removed = Some(delete_host(txn, hostname)?);
                crate::client_status::drop_status(txn, hostname)
            },
        )?;
        removed.ok_or_else(|| not_found("host", hostname))
    }

    /// Bootbox's settings of a host (defaults when none were set).
    pub fn host_settings(&self, hostname: &str) -> Result<HostSettings> {
        let txn = self.db.begin_read()?;
        Ok(
            tables::get(&txn.open_table(HOST_SETTINGS)?, "host_settings", hostname)?
                .unwrap_or_default(),
        )
    }

    /// Sets Bootbox's settings of an existing host.
    pub fn set_host_settings(
        &self,
        hostname: &str,
        settings: HostSettings,
        actor: &str,
    ) -> Result<()> {
        self.update_host_settings(hostname, actor, |s| *s = settings)
            .map(|_| ())
    }

    /// Changes Bootbox's settings of an existing host in one transaction
    /// (read, `change`, write, audit) and returns the new settings.
    pub fn update_host_settings(
        &self,
        hostname: &str,
        actor: &str,
        change: impl FnOnce(&mut HostSettings),
    ) -> Result<HostSettings> {
        let txn = self.db.begin_write()?;
        if tables::get(&txn.open_table(HOSTS)?, "hosts", hostname)?.is_none() {
            return Err(not_found("host", hostname));
        }
        let mut table = txn.open_table(HOST_SETTINGS)?;
        let mut settings = tables::get(&table, "host_settings", hostname)?.unwrap_or_default();
        change(&mut settings);
        tables::put(&mut table, hostname, settings.clone())?;
        drop(table);
        let msg = format!(
            "boot settings of host {hostname} changed to {:?}, chain {:?}",
            settings.boot, settings.chain
        );
        append_event(&txn, Event::audit(actor, "host.settings", msg))?;
        txn.commit()?;
        Ok(settings)
    }

    /// Bootbox's settings of a group (defaults when none were set).
    pub fn group_settings(&self, name: &str) -> Result<GroupSettings> {
        let txn = self.db.begin_read()?;
        Ok(
            tables::get(&txn.open_table(GROUP_SETTINGS)?, "group_settings", name)?
                .unwrap_or_default(),
        )
    }

    /// Sets Bootbox's settings of an existing group.
    pub fn set_group_settings(
        &self,
        name: &str,
        settings: GroupSettings,
        actor: &str,
    ) -> Result<()> {
        self.update_group_settings(name, actor, |s| *s = settings)
            .map(|_| ())
    }

    /// Changes Bootbox's settings of an existing group in one transaction
    /// (read, `change`, write, audit) and returns the new settings.
    pub fn update_group_settings(
        &self,
        name: &str,
        actor: &str,
        change: impl FnOnce(&mut GroupSettings),
    ) -> Result<GroupSettings> {
        let txn = self.db.begin_write()?;
        if tables::get(&txn.open_table(GROUPS)?, "groups", name)?.is_none() {
            return Err(not_found("group", name));
        }
        let mut table = txn.open_table(GROUP_SETTINGS)?;
        let mut settings = tables::get(&table, "group_settings", name)?.unwrap_or_default();
        change(&mut settings);
        tables::put(&mut table, name, settings.clone())?;
        drop(table);
        let msg = format!(
            "boot settings of group {name} changed to {:?}, chain {:?}",
            settings.boot, settings.chain
        );
        append_event(&txn, Event::audit(actor, "group.settings", msg))?;
        txn.commit()?;
        Ok(settings)
    }

    /// Everything the boot decision for `mac` needs, read in one snapshot.
    /// `None` when the MAC is not registered.
    pub fn boot_view(&self, mac: MacAddr) -> Result<Option<BootView>> {
        let txn = self.db.begin_read()?;
        let Some(name) = txn
            .open_table(HOST_BY_MAC)?
            .get(mac.octets())?
            .map(|g| g.value().to_string())
        else {
            return Ok(None);
        };
        let Some(host) = tables::get(&txn.open_table(HOSTS)?, "hosts", &name)? else {
            return Ok(None);
        };
        let group = tables::get(&txn.open_table(GROUPS)?, "groups", &host.group)?;
        let group_settings = tables::get(
            &txn.open_table(GROUP_SETTINGS)?,
            "group_settings",
            &host.group,
        )?
        .unwrap_or_default();
        let host_settings = tables::get(&txn.open_table(HOST_SETTINGS)?, "host_settings", &name)?
            .unwrap_or_default();
        Ok(Some(BootView {
            host,
            group,
            group_settings,
            host_settings,
        }))
    }

    // ----- API tokens -----------------------------------------------------

    /// Creates a token; returns the secret text, shown only this once.
    pub fn create_token(
        &self,
        name: &str,
        scope: crate::tokens::Scope,
        actor: &str,
    ) -> Result<String> {
        let (token, text) = crate::tokens::mint(name, scope).map_err(StoreError::Invalid)?;
        let msg = format!("API token {name} created (scope {scope:?})");
        self.write(actor, "token.create", msg, |txn| {
            let mut t = txn.open_table(schema::API_TOKENS)?;
            if t.get(name)?.is_some() {
                return Err(StoreError::Invalid(format!(
                    "a token named {name} exists; revoke it first"
                )));
            }
            tables::put(&mut t, name, token)
        })?;
        Ok(text)
    }

    /// All tokens (hashes, never secrets).
    pub fn tokens(&self) -> Result<Vec<crate::tokens::ApiToken>> {
        let txn = self.db.begin_read()?;
        tables::all(&txn.open_table(schema::API_TOKENS)?, "api_tokens")
    }

    /// Deletes a token.
    pub fn revoke_token(&self, name: &str, actor: &str) -> Result<()> {
        self.write(
            actor,
            "token.revoke",
            format!("API token {name} revoked"),
            |txn| {
                if txn.open_table(schema::API_TOKENS)?.remove(name)?.is_none() {
                    return Err(not_found("token", name));
                }
                Ok(())
            },
        )
    }

    /// Checks a `bbx.<name>.<secret>` token; returns its name and scope.
    pub fn authenticate(&self, text: &str) -> Result<Option<(String, crate::tokens::Scope)>> {
        let Some((name, secret)) = crate::tokens::split(text) else {
            return Ok(None);
        };
        let txn = self.db.begin_read()?;
        let Some(token) = tables::get(&txn.open_table(schema::API_TOKENS)?, "api_tokens", name)?
        else {
            return Ok(None);
        };
        Ok(crate::tokens::verify(&token, secret).then(|| (token.name.clone(), token.scope)))
    }

    /// Records an audit event for an action done outside the store (files,
    /// services), in its own transaction.
    pub fn audit(&self, actor: &str, action: &str, message: impl Into<String>) -> Result<u64> {
        let txn = self.db.begin_write()?;
        let seq = append_event(&txn, Event::audit(actor, action, message))?;
        txn.commit()?;
        Ok(seq)
    }

    // ----- boot timeline --------------------------------------------------

    /// Appends boot events, keeping at most [`TIMELINE_PER_MAC`] per MAC.
    /// The commit is not flushed to disk at once (boot traffic must not
    /// wait on fsync); the next durable commit or [`Store::flush`] makes it
    /// permanent.
    pub fn append_boot_events(&self, events: &[(MacAddr, BootEvent)]) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let mut txn = self.db.begin_write()?;
        txn.set_durability(redb::Durability::None)
            .map_err(|e| StoreError::Db(e.into()))?;
        {
            let mut t = txn.open_table(TIMELINE)?;
            for (mac, ev) in events {
                let m = mac.octets();
                let (last, count) = {
                    let mut range = t.range((m, 0)..=(m, u64::MAX))?;
                    let last = range.next_back().transpose()?.map(|(k, _)| k.value().1);
                    (last, t.range((m, 0)..=(m, u64::MAX))?.count())
                };
                let seq = last.map_or(1, |l| l + 1);
                t.insert((m, seq), Ok::<BootEvent, crate::CorruptValue>(ev.clone()))?;
                if count + 1 > TIMELINE_PER_MAC {
                    let oldest: Vec<u64> = t
                        .range((m, 0)..=(m, u64::MAX))?
                        .take(count + 1 - TIMELINE_PER_MAC)
                        .map(|e| e.map(|(k, _)| k.value().1))
                        .collect::<std::result::Result<_, _>>()?;
                    for s in oldest {
                        t.remove((m, s))?;
                    }
                }
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// The newest `limit` boot events of `mac`, oldest first.
    pub fn timeline(&self, mac: MacAddr, limit: usize) -> Result<Vec<BootEvent>> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(TIMELINE)?;
        let m = mac.octets();
        let mut out = Vec::new();
        for entry in t.range((m, 0)..=(m, u64::MAX))?.rev().take(limit) {
            let (k, v) = entry?;
            out.push(v.value().map_err(|c| StoreError::Corrupt {
                table: "timeline",
                key: format!("{mac}#{}", k.value().1),
                reason: c.reason,
            })?);
        }
        out.reverse();
        Ok(out)
    }

    /// Makes all earlier non-durable commits (boot timeline) permanent.
    pub fn flush(&self) -> Result<()> {
        let txn = self.db.begin_write()?;
        txn.commit()?;
        Ok(())
    }

    // ----- images ---------------------------------------------------------

    /// All images, by base name.
    pub fn images(&self) -> Result<Vec<Image>> {
        let txn = self.db.begin_read()?;
        tables::all(&txn.open_table(IMAGES)?, "images")
    }

    /// Creates or replaces an image entry.
    pub fn put_image(&self, image: Image, actor: &str) -> Result<()> {
        let msg = format!("image {} saved", image.name);
        self.write(actor, "image.put", msg, |txn| {
            let name = image.name.clone();
            tables::put(&mut txn.open_table(IMAGES)?, &name, image)
        })
    }

    /// Removes an image entry (its files are gone).
    pub fn remove_image(&self, name: &str, actor: &str) -> Result<()> {
        self.write(
            actor,
            "image.remove",
            format!("image {name} removed from the catalogue"),
            |txn| {
                txn.open_table(IMAGES)?.remove(name)?;
                Ok(())
            },
        )
    }

    // ----- import ---------------------------------------------------------

    /// Computes what an import would change, without changing anything.
    pub fn plan_import(&self, batch: &ImportBatch) -> Result<ImportPlan> {
        let txn = self.db.begin_read()?;
        let hosts = tables::all(&txn.open_table(HOSTS)?, "hosts")?;
        let groups = tables::all(&txn.open_table(GROUPS)?, "groups")?;
        let rooms = tables::all(&txn.open_table(ROOMS)?, "rooms")?;
        let images = tables::all(&txn.open_table(IMAGES)?, "images")?;
        import::plan(batch, &hosts, &rooms, &groups, &images)
    }

    /// Applies an import in one write transaction: all of it or, on any
    /// conflict or crash, none of it. Returns the plan that was applied.
    pub fn apply_import(&self, batch: &ImportBatch, actor: &str) -> Result<ImportPlan> {
        let txn = self.db.begin_write()?;
        let plan = {
            let hosts = tables::all(&txn.open_table(HOSTS)?, "hosts")?;
            let groups = tables::all(&txn.open_table(GROUPS)?, "groups")?;
            let rooms = tables::all(&txn.open_table(ROOMS)?, "rooms")?;
            let images = tables::all(&txn.open_table(IMAGES)?, "images")?;
            import::plan(batch, &hosts, &rooms, &groups, &images)?
        };
        if !plan.conflicts.is_empty() {
            return Err(StoreError::ImportConflicts(plan.conflicts));
        }
        import::apply(&txn, &plan)?;
        append_event(
            &txn,
            Event::audit(actor, "import", format!("import: {}", plan.summary())),
        )?;
        fail_point("import.before_commit");
        txn.commit()?;
        Ok(plan)
    }

    // ----- events ---------------------------------------------------------

    /// Records a system event (not an admin action).
    pub fn record(&self, action: &str, message: impl Into<String>) -> Result<u64> {
        let txn = self.db.begin_write()?;
        let mut ev = Event::audit("system", action, message);
        ev.kind = EventKind::System;
        let seq = append_event(&txn, ev)?;
        txn.commit()?;
        Ok(seq)
    }

    /// Events with a sequence number greater than `after`, oldest first,
    /// at most `limit`.
    pub fn events(&self, after: u64, limit: usize) -> Result<Vec<Event>> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(EVENTS)?;
        let mut out = Vec::new();
        for entry in t.range(after.saturating_add(1)..)?.take(limit) {
            let (k, v) = entry?;
            out.push(v.value().map_err(|c| StoreError::Corrupt {
                table: "events",
                key: k.value().to_string(),
                reason: c.reason,
            })?);
        }
        Ok(out)
    }

    /// Sequence number of the newest event (0 when the log is empty): a
    /// cheap "has the registry changed?" check for renderers.
    pub fn last_event_seq(&self) -> Result<u64> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(EVENTS)?;
        let last = t.last()?.map(|(k, _)| k.value()).unwrap_or(0);
        Ok(last)
    }

    /// The newest `limit` events, newest first.
    pub fn recent_events(&self, limit: usize) -> Result<Vec<Event>> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(EVENTS)?;
        let mut out = Vec::new();
        for entry in t.iter()?.rev().take(limit) {
            let (k, v) = entry?;
            out.push(v.value().map_err(|c| StoreError::Corrupt {
                table: "events",
                key: k.value().to_string(),
                reason: c.reason,
            })?);
        }
        Ok(out)
    }

    // ----- plumbing -------------------------------------------------------

    /// Runs `change` and appends its audit event in one write transaction.
    fn write<F>(&self, actor: &str, action: &str, message: String, change: F) -> Result<()>
    where
        F: FnOnce(&WriteTransaction) -> Result<()>,
    {
        let txn = self.db.begin_write()?;
        change(&txn)?;
        append_event(&txn, Event::audit(actor, action, message))?;
        txn.commit()?;
        Ok(())
    }
}

fn not_found(kind: &'static str, name: &str) -> StoreError {
    StoreError::NotFound {
        kind,
        name: name.to_string(),
    }
}

/// Test hook: when `BOOTBOX_FAILPOINT` names this point, the process stops
/// here (sleeps) so a test can kill it at a known moment. Does nothing
/// otherwise.
fn fail_point(name: &str) {
    if std::env::var("BOOTBOX_FAILPOINT").is_ok_and(|v| v == name) {
        eprintln!("failpoint {name} reached");
        loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
    }
}

fn validate_group(mut group: Group) -> Result<Group> {
    names::group(&group.name).map_err(StoreError::Invalid)?;
    if let Some(text) = &group.start_conf {
        let parsed = StartConf::parse(text)
            .map_err(|e| StoreError::Invalid(format!("start.conf of group {}: {e}", group.name)))?;
        group.start_conf = Some(parsed.conf.render());
    }
    Ok(group)
}

fn validate_host(mut host: Host) -> Result<Host> {
    host.hostname = names::hostname(&host.hostname).map_err(StoreError::Invalid)?;
    names::room(&host.room).map_err(StoreError::Invalid)?;
    names::group(&host.group).map_err(StoreError::Invalid)?;
    host.check_writable().map_err(StoreError::Invalid)?;
    Ok(host)
}

pub(crate) fn append_event(txn: &WriteTransaction, mut ev: Event) -> Result<u64> {
    let mut t = txn.open_table(EVENTS)?;
    let seq = t.last()?.map(|(k, _)| k.value() + 1).unwrap_or(1);
    ev.seq = seq;
    t.insert(seq, Ok::<Event, crate::CorruptValue>(ev))?;
    Ok(seq)
}

fn hosts_where(txn: &WriteTransaction, pred: impl Fn(&Host) -> bool) -> Result<Vec<String>> {
    let hosts = tables::all(&txn.open_table(HOSTS)?, "hosts")?;
    Ok(hosts
        .into_iter()
        .filter(|h| pred(h))
        .map(|h| h.hostname)
        .collect())
}

pub(crate) fn ensure_room_and_group(txn: &WriteTransaction, host: &Host) -> Result<()> {
    let mut rooms = txn.open_table(ROOMS)?;
    if rooms.get(host.room.as_str())?.is_none() {
        let room = Room {
            name: host.room.clone(),
            ..Room::default()
        };
        tables::put(&mut rooms, &host.room, room)?;
    }
    let mut groups = txn.open_table(GROUPS)?;
    if groups.get(host.group.as_str())?.is_none() {
        let group = Group {
            name: host.group.clone(),
            ..Group::default()
        };
        tables::put(&mut groups, &host.group, group)?;
    }
    Ok(())
}

/// Inserts a host whose hostname is free, enforcing MAC and IP uniqueness.
pub(crate) fn insert_host(txn: &WriteTransaction, host: Host) -> Result<()> {
    let mut by_mac = txn.open_table(HOST_BY_MAC)?;
    if let Some(holder) = by_mac.get(host.mac.octets())? {
        return Err(StoreError::Conflict {
            field: "MAC",
            value: host.mac.to_string(),
            holder: holder.value().to_string(),
        });
    }
    by_mac.insert(host.mac.octets(), host.hostname.as_str())?;
    if let Some(ip) = host.ip.addr() {
        let mut by_ip = txn.open_table(HOST_BY_IP)?;
        if let Some(holder) = by_ip.get(u32::from(ip))? {
            return Err(StoreError::Conflict {
                field: "IP",
                value: ip.to_string(),
                holder: holder.value().to_string(),
            });
        }
        by_ip.insert(u32::from(ip), host.hostname.as_str())?;
    }
    let name = host.hostname.clone();
    tables::put(&mut txn.open_table(HOSTS)?, &name, host)
}

/// Removes a host and its index entries.
pub(crate) fn delete_host(txn: &WriteTransaction, hostname: &str) -> Result<Host> {
    let mut hosts = txn.open_table(HOSTS)?;
    let host =
        tables::get(&hosts, "hosts", hostname)?.ok_or_else(|| not_found("host", hostname))?;
    hosts.remove(hostname)?;
    txn.open_table(HOST_SETTINGS)?.remove(hostname)?;
    txn.open_table(HOST_BY_MAC)?.remove(host.mac.octets())?;
    if let Some(ip) = host.ip.addr() {
        txn.open_table(HOST_BY_IP)?.remove(u32::from(ip))?;
    }
    Ok(host)
}
