//! One image's udpcast session on tokio: binds the sockets, drives an
//! [`Engine`] per round (wait → transfer → end), restarts after each round
//! so a room can come back later, and publishes events and status.

use std::fs::File;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio::sync::{broadcast, mpsc, watch};
use tracing::{debug, info, warn};

use crate::config::Config;
use crate::engine::{Engine, EngineConfig};
use crate::error::Error;
use crate::net::{self, Endpoint};
use crate::ratelimit::RateLimiter;
use crate::source::{spawn_reader, SliceResult};
use crate::status::{Event, Outcome, Phase, SessionEvent, SessionStatus};
use crate::wire::{BLOCK_HEADER_LEN, MAX_BLOCK_SIZE};

/// Datagrams sent in a row before incoming answers are read again.
const SEND_BURST: usize = 64;
/// How often the status snapshot is refreshed during a round.
const STATUS_EVERY: Duration = Duration::from_millis(250);
/// Retry delay when the image cannot be opened.
const RETRY_OPEN: Duration = Duration::from_secs(5);
/// Receive buffer: larger than any receiver message.
const RECV_BUF: usize = 2048;

/// One image served on one port pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSpec {
    /// Image file name as in `multicast.list` (what clients look up).
    pub image: String,
    /// Where the image is on disk.
    pub path: PathBuf,
    /// Port base `P` of this session (receivers' `--portbase`).
    pub port: u16,
}

/// A bound session, ready to [`run`](Session::run).
#[derive(Debug)]
pub struct Session {
    image: Arc<str>,
    path: PathBuf,
    engine_cfg: EngineConfig,
    max_bitrate: Option<u64>,
    restart_delay: Duration,
    main: UdpSocket,
    bcast: Option<UdpSocket>,
    events: broadcast::Sender<SessionEvent>,
    status: watch::Sender<SessionStatus>,
}

impl Session {
    /// Binds `server_ip:P+1` and `broadcast:P+1` on the endpoint's
    /// interface. `index` picks the default multicast group (see
    /// [`crate::DataMode`]). Events go to `events`. Needs a tokio runtime
    /// (the sockets are registered with it) and CAP_NET_RAW for
    /// SO_BINDTODEVICE.
    pub fn bind(
        cfg: &Config,
        endpoint: &Endpoint,
        spec: SessionSpec,
        index: usize,
        events: broadcast::Sender<SessionEvent>,
    ) -> Result<Session, Error> {
        cfg.validate().map_err(Error::InvalidConfig)?;
        let data_addr = cfg.data_addr(index, endpoint.server_ip, endpoint.broadcast);
        let engine_cfg = EngineConfig::from_config(cfg, spec.port, endpoint.broadcast, data_addr);
        let sockets = net::bind(endpoint, spec.port, cfg.ttl)?;
        let p1 = spec.port.wrapping_add(1);
        let to_tokio =
            |s| UdpSocket::from_std(s).map_err(|source| Error::Socket { port: p1, source });
        let main = to_tokio(sockets.main)?;
        let bcast = sockets.bcast.map(to_tokio).transpose()?;
        let image: Arc<str> = spec.image.into();
        let (status, _) = watch::channel(SessionStatus::new(image.clone(), spec.port, data_addr));
        info!(
            image = %image, port = spec.port, interface = %endpoint.interface,
            server_ip = %endpoint.server_ip, broadcast = %endpoint.broadcast, data = %data_addr,
            "udpcast session bound"
        );
        Ok(Session {
            image,
            path: spec.path,
            engine_cfg,
            max_bitrate: cfg.max_bitrate,
            restart_delay: cfg.restart_delay,
            main,
            bcast,
            events,
            status,
        })
    }

    /// Live status of this session.
    pub fn status(&self) -> watch::Receiver<SessionStatus> {
        self.status.subscribe()
    }

    /// The engine settings (port, addresses, slices).
    pub fn engine_config(&self) -> &EngineConfig {
        &self.engine_cfg
    }

    /// Runs rounds until `shutdown` turns true (or its sender is dropped),
    /// or `rounds` rounds have run. Returns the last round's outcome.
    pub async fn run(
        mut self,
        mut shutdown: watch::Receiver<bool>,
        rounds: Option<u64>,
    ) -> Option<Outcome> {
        let mut last = None;
        let mut round = 0u64;
        loop {
            if *shutdown.borrow() || rounds.is_some_and(|r| round >= r) {
                break;
            }
            round += 1;
            let (outcome, kick) = self.run_round(round, &mut shutdown).await;
            let stop = outcome == Outcome::Shutdown;
            let failed_open = matches!(outcome, Outcome::SourceFailed { .. });
            self.status.send_modify(|s| {
                s.phase = if stop {
                    Phase::Stopped
                } else {
                    Phase::Finished
                };
                s.last_outcome = Some(outcome.clone());
            });
            last = Some(outcome);
            if stop {
                break;
            }
            if rounds.is_some_and(|r| round >= r) {
                // Last round: still tell dropped receivers to give up.
                if kick.is_some() {
                    self.pause(Duration::ZERO, kick, &mut shutdown).await;
                }
                break;
            }
            let pause = if failed_open {
                RETRY_OPEN
            } else {
                self.restart_delay
            };
            if self.pause(pause, kick, &mut shutdown).await {
                break;
            }
        }
        self.status.send_modify(|s| s.phase = Phase::Stopped);
        last
    }

    /// Waits `d`, discarding what arrives (late DISCONNECTs of the round
    /// that just ended); sends `kick` after [`KICK_AFTER`]. True if
    /// shutdown was asked for.
    async fn pause(
        &self,
        d: Duration,
        mut kick: Option<Kick>,
        shutdown: &mut watch::Receiver<bool>,
    ) -> bool {
        let start = tokio::time::Instant::now();
        let until = start + d.max(KICK_AFTER + Duration::from_millis(100));
        let kick_at = start + KICK_AFTER;
        let mut buf = [0u8; RECV_BUF];
        let mut buf2 = [0u8; RECV_BUF];
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(kick_at), if kick.is_some() => {
                    if let Some(k) = kick.take() {
                        self.send_kick(&k).await;
                    }
                }
                _ = tokio::time::sleep_until(until) => return false,
                r = shutdown.changed() => {
                    if r.is_err() || *shutdown.borrow() {
                        return true;
                    }
                }
                _ = self.main.recv_from(&mut buf) => {}
                _ = recv_opt(self.bcast.as_ref(), &mut buf2) => {}
            }
        }
    }

    fn open_source(&self) -> Result<(mpsc::Receiver<SliceResult>, Option<u64>), String> {
        let file = File::open(&self.path)
            .map_err(|e| format!("cannot open {}: {e}", self.path.display()))?;
        let size = file.metadata().ok().map(|m| m.len());
        let fec = self
            .engine_cfg
            .fec
            .map(|f| (f, usize::from(self.engine_cfg.block_size)));
        let rx = spawn_reader(
            Box::new(io::BufReader::with_capacity(1 << 20, file)),
            self.engine_cfg.slice_bytes(),
            fec,
            &self.image,
        )
        .map_err(|e| format!("cannot start the reader thread: {e}"))?;
        Ok((rx, size))
    }

    fn publish(&self, engine: &mut Engine) {
        while let Some(event) = engine.poll_event() {
            debug!(image = %self.image, port = self.engine_cfg.port, ?event, "udpcast event");
            match &event {
                Event::ReceiverDropped { ip, reason, .. } => {
                    info!(image = %self.image, %ip, ?reason, "receiver dropped from multicast")
                }
                Event::TransferStarted { receivers, reason } => {
                    info!(image = %self.image, receivers, ?reason, "multicast transfer started")
                }
                Event::TransferFinished {
                    outcome,
                    finished,
                    failed,
                    seconds,
                    ..
                } => info!(
                    image = %self.image, ?outcome, finished, failed, seconds,
                    "multicast transfer finished"
                ),
                _ => {}
            }
            // Nobody listening is fine.
            let _ = self.events.send(SessionEvent {
                image: self.image.clone(),
                port: self.engine_cfg.port,
                event,
            });
        }
    }

    fn snapshot(&self, engine: &Engine, round: u64, image_bytes: Option<u64>) {
        let st = engine.status(Instant::now());
        self.status.send_modify(|s| {
            s.phase = st.phase;
            s.round = round;
            s.image_bytes = image_bytes;
            s.bytes_sent = st.bytes_sent;
            s.retransmitted_blocks = st.retransmitted_blocks;
            s.seconds = st.seconds;
            s.receivers = st.receivers;
        });
    }

    /// One round: wait for receivers, transfer, end. Returns the outcome
    /// and, if receivers were dropped and may still wait, the message that
    /// makes them give up (sent a little later, after the finished
    /// receivers have left).
    async fn run_round(
        &mut self,
        round: u64,
        shutdown: &mut watch::Receiver<bool>,
    ) -> (Outcome, Option<Kick>) {
        let (mut slices, image_bytes) = match self.open_source() {
            Ok(x) => x,
            Err(message) => {
                warn!(image = %self.image, %message, "multicast session cannot start");
                self.status.send_modify(|s| s.error = Some(message.clone()));
                return (Outcome::SourceFailed { message }, None);
            }
        };
        self.status.send_modify(|s| s.error = None);
        let mut engine = Engine::new(self.engine_cfg.clone(), round, Instant::now());
        let mut limiter = self
            .max_bitrate
            .map(|r| RateLimiter::new(r, Instant::now()));
        let mut sbuf = vec![0u8; MAX_BLOCK_SIZE + BLOCK_HEADER_LEN];
        let mut rbuf = [0u8; RECV_BUF];
        let mut next_status = Instant::now();
        let mut source_open = true;
        loop {
            let now = Instant::now();
            self.drain(&mut engine, now, &mut rbuf);
            while source_open && engine.wants_data() {
                match slices.try_recv() {
                    Ok(r) => self.feed(&mut engine, r),
                    Err(mpsc::error::TryRecvError::Empty) => break,
                    Err(mpsc::error::TryRecvError::Disconnected) => {
                        source_open = false;
                        engine.abort(Outcome::SourceFailed {
                            message: "the reader stopped".into(),
                        });
                    }
                }
            }
            if engine.next_deadline().is_some_and(|d| d <= now) {
                engine.handle_timeout(now);
            }
            // Send a burst.
            let mut rate_wait = None;
            for _ in 0..SEND_BURST {
                if let Some(l) = limiter.as_mut() {
                    if let Some(t) = l.wait_until(Instant::now()) {
                        rate_wait = Some(t);
                        break;
                    }
                }
                let Some(t) = engine.poll_transmit(Instant::now(), &mut sbuf) else {
                    break;
                };
                let Some(bytes) = sbuf.get(..t.len) else {
                    break;
                };
                if let Err(e) = self.main.send_to(bytes, SocketAddr::V4(t.dest)).await {
                    debug!(dest = %t.dest, error = %e, "send failed");
                }
                if let Some(l) = limiter.as_mut() {
                    l.consume(t.len);
                }
            }
            self.publish(&mut engine);
            let now = Instant::now();
            if now >= next_status || engine.phase() == Phase::Finished {
                self.snapshot(&engine, round, image_bytes);
                next_status = now + STATUS_EVERY;
            }
            if engine.phase() == Phase::Finished {
                let outcome = engine.outcome().cloned().unwrap_or(Outcome::NoReceivers);
                let kick = Kick::from_engine(&engine);
                if !matches!(outcome, Outcome::Complete | Outcome::NoReceivers) {
                    // Aborted: everybody still running must give up now.
                    if let Some(k) = &kick {
                        self.send_kick(k).await;
                    }
                    return (outcome, None);
                }
                let later = kick.filter(|_| engine.dropped_alive() > 0);
                return (outcome, later);
            }
            // More to send right away?
            if rate_wait.is_none() && engine.has_pending_transmit(Instant::now()) {
                tokio::task::yield_now().await;
                continue;
            }
            let mut wake = next_status;
            if let Some(d) = engine.next_deadline() {
                wake = wake.min(d);
            }
            if let Some(t) = rate_wait {
                wake = wake.min(t);
            }
            let wants = source_open && engine.wants_data();
            tokio::select! {
                _ = tokio::time::sleep_until(wake.into()) => {}
                r = self.main.readable() => { let _ = r; }
                r = readable_opt(self.bcast.as_ref()) => { let _ = r; }
                r = slices.recv(), if wants => match r {
                    Some(r) => self.feed(&mut engine, r),
                    None => {
                        source_open = false;
                        engine.abort(Outcome::SourceFailed { message: "the reader stopped".into() });
                    }
                },
                r = shutdown.changed() => {
                    if r.is_err() || *shutdown.borrow() {
                        engine.abort(Outcome::Shutdown);
                    }
                }
            }
        }
    }

    fn feed(&self, engine: &mut Engine, r: SliceResult) {
        let res = match r {
            Ok(slice) => engine.push_slice(slice),
            Err(e) => Err(e),
        };
        if let Err(message) = res {
            warn!(image = %self.image, %message, "image read failed");
            engine.abort(Outcome::SourceFailed { message });
        }
    }

    fn drain(&self, engine: &mut Engine, now: Instant, buf: &mut [u8]) {
        for sock in std::iter::once(&self.main).chain(self.bcast.as_ref()) {
            // Bounded: never starve the sending side.
            for _ in 0..4096 {
                match sock.try_recv_from(buf) {
                    Ok((n, SocketAddr::V4(from))) => {
                        if let Some(d) = buf.get(..n) {
                            engine.handle(now, from, d);
                        }
                    }
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => {
                        debug!(error = %e, "receive failed");
                        break;
                    }
                }
            }
        }
    }

    /// Tells receivers of an aborted transfer, or dropped ones, to give
    /// up (they would wait forever otherwise; LINBO then falls back to
    /// HTTP/BitTorrent).
    async fn send_kick(&self, k: &Kick) {
        for _ in 0..3 {
            for (dest, bytes) in &k.datagrams {
                let _ = self.main.send_to(bytes, SocketAddr::V4(*dest)).await;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Delay between the end of a round and the "give up" message to dropped
/// receivers: finished receivers linger 500 ms (udp-receiver's
/// `--exit-wait`) and must not see it.
const KICK_AFTER: Duration = Duration::from_millis(1200);

/// The "give up" datagrams: CONNECT_REPLYs for dropped receivers that
/// never got theirs ([`Engine::kick_replies`]), then the REQACK far ahead
/// ([`Engine::kick_message`]), in this order.
#[derive(Debug)]
struct Kick {
    datagrams: Vec<(std::net::SocketAddrV4, Vec<u8>)>,
}

impl Kick {
    fn from_engine(engine: &Engine) -> Option<Kick> {
        let mut buf = [0u8; 256];
        let t = engine.kick_message(&mut buf)?;
        let mut datagrams = engine.kick_replies();
        datagrams.push((t.dest, buf.get(..t.len)?.to_vec()));
        Some(Kick { datagrams })
    }
}

async fn readable_opt(s: Option<&UdpSocket>) -> io::Result<()> {
    match s {
        Some(s) => s.readable().await,
        None => std::future::pending().await,
    }
}

async fn recv_opt(s: Option<&UdpSocket>, buf: &mut [u8]) -> io::Result<()> {
    match s {
        Some(s) => s.recv_from(buf).await.map(|_| ()),
        None => std::future::pending().await,
    }
}
