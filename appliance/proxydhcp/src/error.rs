//! Errors of configuration and socket setup. Packet handling never fails:
//! bad packets are dropped with a debug log and an
//! [`Event::Ignored`](crate::Event::Ignored).

use std::io;

use thiserror::Error;

/// Errors from building the engine state or binding the sockets.
#[derive(Debug, Error)]
pub enum Error {
    /// A configuration value is unusable.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
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
}
