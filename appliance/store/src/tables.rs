//! Small typed helpers over redb tables that turn undecodable values into
//! [`StoreError::Corrupt`] instead of panics.

use redb::{ReadableTable, Table};

use crate::codec::{Json, Stored};
use crate::{Result, StoreError};

/// Reads and decodes `key`.
pub fn get<T, R>(table: &R, name: &'static str, key: &str) -> Result<Option<T>>
where
    T: Stored + 'static,
    R: ReadableTable<&'static str, Json<T>>,
{
    match table.get(key)? {
        None => Ok(None),
        Some(guard) => guard.value().map(Some).map_err(|c| StoreError::Corrupt {
            table: name,
            key: key.to_string(),
            reason: c.reason,
        }),
    }
}

/// Decodes every value in key order.
pub fn all<T, R>(table: &R, name: &'static str) -> Result<Vec<T>>
where
    T: Stored + 'static,
    R: ReadableTable<&'static str, Json<T>>,
{
    let mut out = Vec::new();
    for entry in table.iter()? {
        let (k, v) = entry?;
        out.push(v.value().map_err(|c| StoreError::Corrupt {
            table: name,
            key: k.value().to_string(),
            reason: c.reason,
        })?);
    }
    Ok(out)
}

/// Encodes and writes `value` under `key`.
pub fn put<T>(table: &mut Table<&'static str, Json<T>>, key: &str, value: T) -> Result<()>
where
    T: Stored + 'static,
{
    table.insert(key, Ok::<T, crate::CorruptValue>(value))?;
    Ok(())
}
