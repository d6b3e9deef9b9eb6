//! The listening socket, request dispatch and per-transfer tasks.

use std::collections::HashSet;
use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::error::TftpError;
use crate::event::{AbortReason, TransferEvent, TransferObserver};
use crate::options::negotiate;
use crate::packet::{ErrorCode, Mode, Packet, Request, MAX_BLKSIZE, MIN_BLKSIZE};
use crate::path::sanitize;
use crate::readahead::ReadAhead;
use crate::source::FileSource;
use crate::transfer::{send_file, Params};

/// Largest accepted `max_windowsize`: keeps the window well below half the
/// 16-bit block-number space, so late ACKs can never be mistaken for new ones.
pub const MAX_WINDOWSIZE_LIMIT: u16 = 32767;

/// Server settings. Out-of-range values are clamped by [`TftpServer::bind`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TftpConfig {
    /// Listening address (usually port 69). Transfer sockets are bound to the
    /// same IP with an ephemeral port; with an unspecified IP (`0.0.0.0`) the
    /// kernel picks their source address, so on a multi-homed box bind one
    /// server per interface address.
    pub bind: SocketAddr,
    /// Largest block size granted (clamped to 8..=65464; default 1468, which
    /// fits a 1500-byte MTU without IP fragmentation).
    pub max_blksize: u16,
    /// Largest window size granted (clamped to 1..=32767; default 64).
    /// Memory per transfer is about `blksize × windowsize` plus 192 KiB of
    /// read-ahead.
    pub max_windowsize: u16,
    /// Retransmit timeout unless the client negotiates `timeout` (default 1 s).
    pub timeout: Duration,
    /// Retransmissions in a row before giving up (default 5).
    pub retries: u32,
    /// Concurrent transfers; further requests get ERROR 0 "server busy"
    /// (default 256).
    pub max_transfers: usize,
}

impl TftpConfig {
    /// Defaults with the given listening address.
    pub fn new(bind: SocketAddr) -> Self {
        TftpConfig {
            bind,
            max_blksize: 1468,
            max_windowsize: 64,
            timeout: Duration::from_secs(1),
            retries: 5,
            max_transfers: 256,
        }
    }

    fn clamped(mut self) -> Self {
        self.max_blksize = self.max_blksize.clamp(MIN_BLKSIZE, MAX_BLKSIZE);
        self.max_windowsize = self.max_windowsize.clamp(1, MAX_WINDOWSIZE_LIMIT);
        self.timeout = self.timeout.max(Duration::from_millis(1));
        self.max_transfers = self.max_transfers.max(1);
        self
    }
}

impl Default for TftpConfig {
    /// Defaults listening on `0.0.0.0:69`.
    fn default() -> Self {
        TftpConfig::new(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 69)))
    }
}

/// A running duplicate-request key: client address + raw request bytes.
type RequestKey = (SocketAddr, Vec<u8>);

struct Shared<S, O> {
    config: TftpConfig,
    source: S,
    observer: O,
    slots: Arc<Semaphore>,
    /// Requests being served, to drop retransmitted RRQs.
    active: Mutex<HashSet<RequestKey>>,
}

/// Removes a request from the active set when its task ends.
struct ActiveGuard<S, O> {
    shared: Arc<Shared<S, O>>,
    key: Option<RequestKey>,
}

impl<S, O> Drop for ActiveGuard<S, O> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.shared
                .active
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&key);
        }
    }
}

/// A bound TFTP server; call [`TftpServer::run`] to serve.
pub struct TftpServer<S, O> {
    socket: UdpSocket,
    local_addr: SocketAddr,
    shared: Arc<Shared<S, O>>,
}

impl<S: FileSource, O: TransferObserver> TftpServer<S, O> {
    /// Binds the listening socket. Configuration values are clamped to their
    /// documented ranges.
    pub async fn bind(config: TftpConfig, source: S, observer: O) -> io::Result<Self> {
        let config = config.clamped();
        let socket = UdpSocket::bind(config.bind).await?;
        let local_addr = socket.local_addr()?;
        let slots = Arc::new(Semaphore::new(config.max_transfers));
        Ok(TftpServer {
            socket,
            local_addr,
            shared: Arc::new(Shared {
                config,
                source,
                observer,
                slots,
                active: Mutex::new(HashSet::new()),
            }),
        })
    }

    /// The listening address (with the real port if 0 was configured).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves until `shutdown` completes, then stops accepting requests and
    /// waits for running transfers to finish or abort (each is bounded by
    /// `retries × timeout` of silence).
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> io::Result<()> {
        let TftpServer {
            socket,
            local_addr,
            shared,
        } = self;
        info!(addr = %local_addr, "tftp server listening");
        let mut tasks = JoinSet::new();
        let mut buf = vec![0u8; 2048];
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                Some(joined) = tasks.join_next(), if !tasks.is_empty() => log_join(joined),
                received = socket.recv_from(&mut buf) => match received {
                    Ok((len, client)) => shared.dispatch(&socket, &buf[..len], client, &mut tasks),
                    Err(e) => {
                        warn!(error = %e, "tftp receive failed");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                },
            }
        }
        drop(socket);
        info!(addr = %local_addr, running = tasks.len(), "tftp server stopping; waiting for transfers");
        while let Some(joined) = tasks.join_next().await {
            log_join(joined);
        }
        Ok(())
    }
}

fn log_join(joined: Result<(), tokio::task::JoinError>) {
    if let Err(e) = joined {
        warn!(error = %e, "tftp transfer task failed");
    }
}

impl<S: FileSource, O: TransferObserver> Shared<S, O> {
    /// Handles one datagram on the listening socket. Never blocks: replies
    /// from here use `try_send_to`.
    fn dispatch(
        self: &Arc<Self>,
        socket: &UdpSocket,
        datagram: &[u8],
        client: SocketAddr,
        tasks: &mut JoinSet<()>,
    ) {
        let (request, write) = match Packet::parse(datagram) {
            Ok(Packet::Rrq(request)) => (request, false),
            Ok(Packet::Wrq(request)) => (request, true),
            Ok(other) => {
                debug!(%client, packet = ?other, "tftp: ignoring non-request on the server port");
                return;
            }
            Err(e) => {
                debug!(%client, error = %e, "tftp: malformed packet");
                if matches!(datagram, [0, 1 | 2, ..]) {
                    let reply = Packet::error(e.error_code(), e.to_string());
                    let _ = socket.try_send_to(&reply.encode(), client);
                }
                return;
            }
        };
        let key = (client, datagram.to_vec());
        let mut active = self.active.lock().unwrap_or_else(PoisonError::into_inner);
        if active.contains(&key) {
            debug!(%client, "tftp: duplicate request ignored");
            return;
        }
        let Ok(permit) = self.slots.clone().try_acquire_owned() else {
            drop(active);
            let path = String::from_utf8_lossy(&request.filename).into_owned();
            warn!(%client, %path, "tftp: server busy");
            self.observer.on_event(TransferEvent::Requested {
                client,
                path: path.clone(),
                options: request.options,
            });
            let reply = Packet::error(ErrorCode::NotDefined, "server busy");
            let _ = socket.try_send_to(&reply.encode(), client);
            self.observer.on_event(TransferEvent::Aborted {
                client,
                path,
                bytes: 0,
                reason: AbortReason::Busy,
            });
            return;
        };
        active.insert(key.clone());
        drop(active);
        let guard = ActiveGuard {
            shared: Arc::clone(self),
            key: Some(key),
        };
        tasks.spawn(Arc::clone(self).handle(client, request, write, permit, guard));
    }

    /// Serves one request from its own socket.
    async fn handle(
        self: Arc<Self>,
        client: SocketAddr,
        request: Request,
        write: bool,
        _permit: OwnedSemaphorePermit,
        _guard: ActiveGuard<S, O>,
    ) {
        let path = String::from_utf8_lossy(&request.filename).into_owned();
        self.observer.on_event(TransferEvent::Requested {
            client,
            path: path.clone(),
            options: request.options.clone(),
        });
        let aborted = |bytes: u64, reason: AbortReason| {
            if reason.is_client_abort() {
                debug!(%client, %path, bytes, %reason, "tftp transfer ended by client");
            } else {
                info!(%client, %path, bytes, %reason, "tftp transfer aborted");
            }
            self.observer.on_event(TransferEvent::Aborted {
                client,
                path: path.clone(),
                bytes,
                reason,
            });
        };
        let sock = match UdpSocket::bind(SocketAddr::new(self.config.bind.ip(), 0)).await {
            Ok(sock) => sock,
            Err(e) => {
                warn!(error = %e, "tftp: cannot bind a transfer socket");
                return aborted(0, AbortReason::Io(format!("binding transfer socket: {e}")));
            }
        };
        let refuse = |code: ErrorCode, message: String| {
            let sock = &sock;
            async move {
                let reply = Packet::error(code, message).encode();
                if let Err(e) = sock.send_to(&reply, client).await {
                    debug!(%client, error = %e, "tftp: sending error failed");
                }
            }
        };
        if write {
            const MSG: &str = "read-only server";
            refuse(ErrorCode::AccessViolation, MSG.into()).await;
            return aborted(0, AbortReason::AccessDenied(MSG.into()));
        }
        if request.mode == Mode::Mail {
            const MSG: &str = "mail mode not supported";
            refuse(ErrorCode::IllegalOperation, MSG.into()).await;
            return aborted(0, AbortReason::IllegalOperation(MSG.into()));
        }
        // netascii is deliberately served byte for byte, like octet.
        let rel = match sanitize(&request.filename) {
            Ok(rel) => rel,
            Err(e) => {
                refuse(ErrorCode::AccessViolation, e.to_string()).await;
                return aborted(0, AbortReason::AccessDenied(e.to_string()));
            }
        };
        let opened = match self.source.open(client, &rel).await {
            Ok(opened) => opened,
            Err(e) => {
                let (code, message) = e.wire();
                refuse(code, message).await;
                let reason = match e {
                    TftpError::NotFound => AbortReason::NotFound,
                    TftpError::Path(p) => AbortReason::AccessDenied(p.to_string()),
                    TftpError::AccessDenied(m) => AbortReason::AccessDenied(m),
                    TftpError::Io(e) => AbortReason::Io(e.to_string()),
                };
                return aborted(0, reason);
            }
        };
        let config = &self.config;
        let negotiated = negotiate(
            &request.options,
            opened.size,
            config.max_blksize,
            config.max_windowsize,
        );
        self.observer.on_event(TransferEvent::Started {
            client,
            path: path.clone(),
            size: opened.size,
            blksize: negotiated.blksize,
            windowsize: negotiated.windowsize,
        });
        let params = Params {
            blksize: usize::from(negotiated.blksize),
            windowsize: usize::from(negotiated.windowsize),
            timeout: negotiated.timeout.unwrap_or(config.timeout),
            retries: config.retries,
        };
        let oack = (!negotiated.oack.is_empty()).then(|| {
            Packet::Oack {
                options: negotiated.oack,
            }
            .encode()
        });
        let reader = ReadAhead::spawn(opened.reader);
        let start = Instant::now();
        let outcome = send_file(&sock, client, reader, params, oack).await;
        match outcome.result {
            Ok(()) => {
                let duration = start.elapsed();
                info!(%client, %path, bytes = outcome.bytes, ?duration, "tftp transfer completed");
                self.observer.on_event(TransferEvent::Completed {
                    client,
                    path: path.clone(),
                    bytes: outcome.bytes,
                    duration,
                });
            }
            Err(reason) => aborted(outcome.bytes, reason),
        }
    }
}
