//! # bootbox-central — signed image releases pushed from a central server
//!
//! Many schools, one central team: the central publishes an image version
//! once, every school's box fetches it, verifies every byte and activates it
//! through its own image catalogue.
//!
//! * [`manifest`]: the release manifest (image, version, files with size and
//!   SHA-256, notes, minimum box version, creation time), signed with the
//!   central's ed25519 key over its exact bytes; verification of the
//!   signature and of every downloaded file.
//! * [`token`]: one-time, expiring enrolment tokens (`bbe.<id>.<secret>`),
//!   stored only as the SHA-256 of a 256-bit secret.
//! * [`auth`]: box requests signed with the box's own ed25519 key over
//!   method, path, time, nonce and body hash; replay-safe within a window.
//! * [`keys`]: key files (0600) and fingerprints.
//! * [`db`]: the central's own redb file (`<data>/central.redb`): schools,
//!   enrolment tokens, boxes, releases, per-box status.
//! * [`server`]: the central's HTTP API under `/central/v1` (axum).
//! * [`tls`]: HTTPS to the central with the certificate pinned at enrolment.
//! * [`client`] and [`fetch`]: the box side — enrolment, polling, resumable
//!   downloads with HTTP `Range`, verification before anything is called
//!   present.
//!
//! The crate knows nothing of the school registry's tables nor of the image
//! tree: the binary activates a verified release through
//! `bootbox_images::ImageTree`.

pub mod auth;
pub mod client;
pub mod db;
pub mod fetch;
pub mod keys;
pub mod manifest;
pub mod policy;
pub mod publish;
pub mod server;
pub mod tls;
pub mod token;

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A manifest is malformed, badly signed or signed by another key.
    #[error("manifest rejected: {0}")]
    Manifest(String),
    /// A downloaded file does not match the manifest.
    #[error("file rejected: {0}")]
    File(String),
    /// A key file or key text is malformed.
    #[error("key: {0}")]
    Key(String),
    /// The central's database failed.
    #[error("central database: {0}")]
    Db(String),
    /// Input that is not acceptable (names, versions, paths).
    #[error("{0}")]
    Invalid(String),
    /// A request to the central failed.
    #[error("central: {0}")]
    Http(String),
    /// The central serves its maximum of concurrent downloads; the box
    /// tries again in a later round (staggering).
    #[error("central busy: {0}")]
    Busy(String),
}

/// Result with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let what = what.into();
    move |source| Error::Io { what, source }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    bootbox_store::now_ms()
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn random_hex(n: usize) -> Result<String> {
    let mut b = vec![0u8; n];
    getrandom::fill(&mut b).map_err(|e| Error::Key(format!("no randomness: {e}")))?;
    Ok(hex(&b))
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex(&sha2::Sha256::digest(bytes))
}

/// True for 64 lower-case hex digits.
pub(crate) fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}
