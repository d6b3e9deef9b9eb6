//! Table layout and forward migrations.
//!
//! The schema version lives in the `meta` table under [`VERSION_KEY`].
//! Opening a database runs every migration from its version up to
//! [`SCHEMA_VERSION`] inside one write transaction: a migration either
//! completes or leaves the file as it was.
//!
//! | version | change |
//! |---|---|
//! | 1 | first layout: hosts keyed by hostname, MAC index |
//! | 2 | IPv4 index `host_by_ip` (uniqueness of fixed addresses enforced by the store) |
//! | 3 | boot settings per host and group, boot timeline per MAC |
//! | 4 | API tokens (argon2id hashes) |
//! | 5 | web UI accounts (argon2id) and UI settings (central enrolment) |
//! | 6 | remote-control schedules and their run history ([`crate::jobs`]) |
//! | 7 | SMTP settings and one-time upload credentials ([`crate::secrets`]) |
//! | 8 | LINBO client status per host ([`crate::client_status`]) |

use redb::{ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};

use crate::codec::Json;
use crate::model::{
    BootEvent, Event, Group, GroupSettings, Host, HostSettings, Image, Room, SchoolSettings,
};
use crate::{Result, StoreError};

/// The schema version this build writes.
pub const SCHEMA_VERSION: u64 = 8;
/// Key of the schema version in [`META`].
pub const VERSION_KEY: &str = "schema_version";

/// Store metadata (schema version).
pub const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// School settings under the key `school`.
pub const SETTINGS: TableDefinition<&str, Json<SchoolSettings>> = TableDefinition::new("settings");
/// Rooms by name.
pub const ROOMS: TableDefinition<&str, Json<Room>> = TableDefinition::new("rooms");
/// Groups (hardware classes) by name.
pub const GROUPS: TableDefinition<&str, Json<Group>> = TableDefinition::new("groups");
/// Hosts by hostname.
pub const HOSTS: TableDefinition<&str, Json<Host>> = TableDefinition::new("hosts");
/// Index: MAC → hostname.
pub const HOST_BY_MAC: TableDefinition<[u8; 6], &str> = TableDefinition::new("host_by_mac");
/// Index: fixed IPv4 (as u32) → hostname. Since version 2.
pub const HOST_BY_IP: TableDefinition<u32, &str> = TableDefinition::new("host_by_ip");
/// Images by base name.
pub const IMAGES: TableDefinition<&str, Json<Image>> = TableDefinition::new("images");
/// Append-only event log by sequence number.
pub const EVENTS: TableDefinition<u64, Json<Event>> = TableDefinition::new("events");

/// Bootbox settings per hostname. Since version 3.
pub const HOST_SETTINGS: TableDefinition<&str, Json<HostSettings>> =
    TableDefinition::new("host_settings");
/// Bootbox settings per group. Since version 3.
pub const GROUP_SETTINGS: TableDefinition<&str, Json<GroupSettings>> =
    TableDefinition::new("group_settings");
/// Boot timeline: (MAC, sequence) → event, bounded per MAC. Since version 3.
pub const TIMELINE: TableDefinition<([u8; 6], u64), Json<BootEvent>> =
    TableDefinition::new("timeline");

/// API tokens by name. Since version 4.
pub const API_TOKENS: TableDefinition<&str, Json<crate::tokens::ApiToken>> =
    TableDefinition::new("api_tokens");

/// Reads the schema version; `None` for a database without a meta table.
pub fn read_version(db: &redb::Database) -> Result<Option<u64>> {
    let txn = db.begin_read()?;
    let meta = match txn.open_table(META) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    Ok(meta.get(VERSION_KEY)?.map(|v| v.value()))
}

/// Brings the database to [`SCHEMA_VERSION`]: creates all tables in a new
/// file, or runs the forward migrations of an older one.
pub fn upgrade(db: &redb::Database) -> Result<()> {
    let found = read_version(db)?;
    if let Some(v) = found {
        if v > SCHEMA_VERSION {
            return Err(StoreError::TooNew {
                found: v,
                supported: SCHEMA_VERSION,
            });
        }
        if v == SCHEMA_VERSION {
            return Ok(());
        }
    }
    let txn = db.begin_write()?;
    match found {
        None => create_all(&txn)?,
        Some(mut v) => {
            while v < SCHEMA_VERSION {
                match v {
                    1 => v1_to_v2(&txn)?,
                    2 => v2_to_v3(&txn)?,
                    3 => v3_to_v4(&txn)?,
                    4 => v4_to_v5(&txn)?,
                    5 => v5_to_v6(&txn)?,
                    6 => v6_to_v7(&txn)?,
                    7 => v7_to_v8(&txn)?,
                    other => {
                        return Err(StoreError::Invalid(format!(
                            "no migration from schema version {other}"
                        )))
                    }
                }
                v += 1;
            }
        }
    }
    txn.open_table(META)?.insert(VERSION_KEY, SCHEMA_VERSION)?;
    txn.commit()?;
    Ok(())
}

fn create_all(txn: &WriteTransaction) -> Result<()> {
    txn.open_table(META)?;
    txn.open_table(SETTINGS)?;
    txn.open_table(ROOMS)?;
    txn.open_table(GROUPS)?;
    txn.open_table(HOSTS)?;
    txn.open_table(HOST_BY_MAC)?;
    txn.open_table(HOST_BY_IP)?;
    txn.open_table(IMAGES)?;
    txn.open_table(EVENTS)?;
    v2_to_v3(txn)?;
    v3_to_v4(txn)?;
    v4_to_v5(txn)?;
    v5_to_v6(txn)?;
    v6_to_v7(txn)?;
    v7_to_v8(txn)
}

/// Version 3 adds the boot settings and the boot timeline tables.
fn v2_to_v3(txn: &WriteTransaction) -> Result<()> {
    txn.open_table(HOST_SETTINGS)?;
    txn.open_table(GROUP_SETTINGS)?;
    txn.open_table(TIMELINE)?;
    Ok(())
}

/// Version 4 adds the API token table.
fn v3_to_v4(txn: &WriteTransaction) -> Result<()> {
    txn.open_table(API_TOKENS)?;
    Ok(())
}

/// Version 5 adds the web UI accounts and UI settings.
fn v4_to_v5(txn: &WriteTransaction) -> Result<()> {
    txn.open_table(crate::users::USERS)?;
    txn.open_table(crate::users::UI_SETTINGS)?;
    Ok(())
}

/// Version 6 adds the remote-control schedules and their run history.
fn v5_to_v6(txn: &WriteTransaction) -> Result<()> {
    txn.open_table(crate::jobs::SCHEDULES)?;
    txn.open_table(crate::jobs::SCHEDULE_RUNS)?;
    Ok(())
}

/// Version 7 adds the SMTP settings and the one-time upload credentials.
fn v6_to_v7(txn: &WriteTransaction) -> Result<()> {
    txn.open_table(crate::secrets::MAIL_SETTINGS)?;
    txn.open_table(crate::secrets::UPLOAD_CREDENTIALS)?;
    Ok(())
}

/// Version 8 adds the LINBO client status per host.
fn v7_to_v8(txn: &WriteTransaction) -> Result<()> {
    txn.open_table(crate::client_status::CLIENT_STATUS)?;
    Ok(())
}

/// Version 2 adds the IPv4 index. Version 1 did not enforce unique fixed
/// addresses, so duplicates found here stop the upgrade with a list of
/// them (the file stays at version 1 and the admin can fix it with the
/// older build or by export/re-import).
fn v1_to_v2(txn: &WriteTransaction) -> Result<()> {
    let hosts = txn.open_table(HOSTS)?;
    let mut by_ip = txn.open_table(HOST_BY_IP)?;
    let mut dups = Vec::new();
    for entry in hosts.iter()? {
        let (k, v) = entry?;
        let name = k.value().to_string();
        let host = v.value().map_err(|c| StoreError::Corrupt {
            table: "hosts",
            key: name.clone(),
            reason: c.reason,
        })?;
        if let Some(ip) = host.ip.addr() {
            let prev = by_ip.insert(u32::from(ip), name.as_str())?;
            if let Some(prev) = prev {
                dups.push(format!("IP {ip} is used by {} and {name}", prev.value()));
            }
        }
    }
    if dups.is_empty() {
        Ok(())
    } else {
        Err(StoreError::ImportConflicts(dups))
    }
}

/// Table definitions of schema version 1, for the migration test and for
/// tools that must read old files.
pub mod v1 {
    use super::*;
    /// Version 1 had the same tables as version 2 except [`HOST_BY_IP`].
    pub const TABLES: &[&str] = &[
        "meta",
        "settings",
        "rooms",
        "groups",
        "hosts",
        "host_by_mac",
        "images",
        "events",
    ];
    /// Creates an empty version-1 database layout in `txn`.
    pub fn create(txn: &WriteTransaction) -> Result<()> {
        txn.open_table(META)?.insert(VERSION_KEY, 1u64)?;
        txn.open_table(SETTINGS)?;
        txn.open_table(ROOMS)?;
        txn.open_table(GROUPS)?;
        txn.open_table(HOSTS)?;
        txn.open_table(HOST_BY_MAC)?;
        txn.open_table(IMAGES)?;
        txn.open_table(EVENTS)?;
        Ok(())
    }
}
