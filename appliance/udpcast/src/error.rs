//! Errors of configuration, interface lookup and socket setup. Datagram
//! handling never fails: bad datagrams are dropped with a trace log.

use std::io;
use std::path::PathBuf;

use thiserror::Error;

/// Errors from setting up a session or the service.
#[derive(Debug, Error)]
pub enum Error {
    /// A configuration value is unusable.
    #[error("invalid multicast configuration: {0}")]
    InvalidConfig(String),
    /// The interface is missing or has no usable IPv4 address.
    #[error("interface {interface:?}: {message}")]
    Interface {
        /// Interface name.
        interface: String,
        /// What is wrong with it.
        message: String,
    },
    /// Creating, configuring or binding a socket failed.
    #[error("cannot set up UDP socket on port {port}: {source}")]
    Socket {
        /// The port being set up.
        port: u16,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// SO_BINDTODEVICE failed (unknown interface, missing privilege).
    #[error("cannot bind UDP port {port} to interface {interface:?}: {source}")]
    BindDevice {
        /// The port being set up.
        port: u16,
        /// The interface name.
        interface: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The image cannot be opened.
    #[error("cannot open image {path}: {source}")]
    Image {
        /// The image path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}
