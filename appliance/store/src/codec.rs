//! Typed redb values stored as JSON.
//!
//! JSON keeps the store readable with generic tools and lets later schema
//! versions add fields with `#[serde(default)]`. A value that no longer
//! decodes is not a panic: it reads back as [`CorruptValue`] and turns into
//! [`crate::StoreError::Corrupt`] at the API boundary.

use std::fmt;
use std::marker::PhantomData;

use redb::{TypeName, Value};
use serde::{de::DeserializeOwned, Serialize};

/// redb value type holding `T` as JSON.
pub struct Json<T>(PhantomData<T>);

impl<T> fmt::Debug for Json<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Json")
    }
}

/// Bytes in the database that do not decode as the expected type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorruptValue {
    /// The stored bytes, kept so that nothing is lost.
    pub raw: Vec<u8>,
    /// Why decoding failed.
    pub reason: String,
}

/// A type stored in a table, with a name that stays the same when the Rust
/// type is renamed or moved (redb checks it on every table open).
pub trait Stored: fmt::Debug + Serialize + DeserializeOwned {
    /// Stable type name, e.g. `bootbox.host`.
    const NAME: &'static str;
}

impl<T: Stored> Value for Json<T> {
    type SelfType<'a>
        = Result<T, CorruptValue>
    where
        Self: 'a;
    type AsBytes<'a>
        = Vec<u8>
    where
        Self: 'a;

    fn fixed_width() -> Option<usize> {
        None
    }

    fn from_bytes<'a>(data: &'a [u8]) -> Self::SelfType<'a>
    where
        Self: 'a,
    {
        serde_json::from_slice(data).map_err(|e| CorruptValue {
            raw: data.to_vec(),
            reason: e.to_string(),
        })
    }

    fn as_bytes<'a, 'b: 'a>(value: &'a Self::SelfType<'b>) -> Self::AsBytes<'a>
    where
        Self: 'b,
    {
        match value {
            // Model types are plain structs with string keys: serialising
            // them cannot fail, so this is an invariant, not input handling.
            Ok(v) => serde_json::to_vec(v).expect("model types always serialise to JSON"),
            Err(c) => c.raw.clone(),
        }
    }

    fn type_name() -> TypeName {
        TypeName::new(&format!("json:{}", T::NAME))
    }
}

/// The undecoded bytes of a [`Json<T>`] table: same type name, so a repair
/// tool or a test can read and write raw JSON in a typed table.
pub struct RawJson<T>(PhantomData<T>);

impl<T> fmt::Debug for RawJson<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RawJson")
    }
}

impl<T: Stored> Value for RawJson<T> {
    type SelfType<'a>
        = &'a [u8]
    where
        Self: 'a;
    type AsBytes<'a>
        = &'a [u8]
    where
        Self: 'a;

    fn fixed_width() -> Option<usize> {
        None
    }

    fn from_bytes<'a>(data: &'a [u8]) -> &'a [u8]
    where
        Self: 'a,
    {
        data
    }

    fn as_bytes<'a, 'b: 'a>(value: &'a &'b [u8]) -> &'a [u8]
    where
        Self: 'b,
    {
        value
    }

    fn type_name() -> TypeName {
        Json::<T>::type_name()
    }
}

macro_rules! stored {
    ($($t:ty => $name:literal),* $(,)?) => {$(
        impl Stored for $t {
            const NAME: &'static str = $name;
        }
    )*};
}
stored!(
    crate::model::Host => "bootbox.host",
    crate::model::Room => "bootbox.room",
    crate::model::Group => "bootbox.group",
    crate::model::Image => "bootbox.image",
    crate::model::SchoolSettings => "bootbox.settings",
    crate::model::Event => "bootbox.event",
    crate::model::HostSettings => "bootbox.host_settings",
    crate::model::GroupSettings => "bootbox.group_settings",
    crate::model::BootEvent => "bootbox.boot_event",
    crate::tokens::ApiToken => "bootbox.api_token",
    crate::users::User => "bootbox.user",
    crate::users::Enrolment => "bootbox.enrolment",
    crate::jobs::Schedule => "bootbox.schedule",
    crate::jobs::ScheduleRun => "bootbox.schedule_run",
);
