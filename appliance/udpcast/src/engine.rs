//! The sender's protocol logic without any I/O ("sans-IO"): datagrams and
//! clock readings go in, datagrams to send, timer deadlines and events come
//! out. One [`Engine`] runs one round of a session: waiting for receivers,
//! the transfer, and its end. [`crate::Session`] drives it with sockets;
//! tests drive it with simulated receivers and a simulated clock.
//!
//! Rules kept here (see `../shared/reference/protocols.md` §1):
//! * HELLO to the control address at once and every `hello_interval` while
//!   waiting; every CONNECT_REQ is answered (idempotent per source IP);
//!   client numbers 0..1023, then "too many clients".
//! * Start by [`StartRules`] or a GO from a connected receiver; receivers
//!   asking during a transfer are not admitted (they would abort with
//!   "Slice no mismatch") and join the next round.
//! * Slices numbered from 0, non-final slices block-aligned, at most two in
//!   flight, REQACK to the data address, resend each requested block once
//!   per round, a new round when every awaited receiver answered or the
//!   round timed out, the end marked by a slice of 0 bytes.
//! * Receivers that alone hold the group back beyond the [`SlowPolicy`]
//!   budget, or stop answering for `answer_timeout`, are dropped.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use tracing::{debug, trace};

use crate::config::{Config, SlowPolicy, StartRules};
use crate::fec::{self, FecConfig};
use crate::status::{
    DropReason, Event, Outcome, Phase, ReceiverState, ReceiverStatus, StartReason,
};
use crate::wire::{
    caps, opcode, Bitmap, ConnectReply, DataHeader, FecHeader, Hello, ReceiverMessage, ReqAck,
    BLOCK_HEADER_LEN, CLIENT_REFUSED, MAX_CLIENTS,
};

/// Replies waiting to be sent are capped (a CONNECT_REQ flood cannot grow
/// memory).
const MAX_PENDING_REPLIES: usize = 2 * MAX_CLIENTS;
/// Addresses remembered for "late joiner"/"refused" events (reported once).
const MAX_REPORTED: usize = 4 * MAX_CLIENTS;
/// Events not yet collected by the driver.
const MAX_EVENTS: usize = 4 * MAX_CLIENTS;
/// Bounds of the REQACK round timeout.
const MIN_ROUND: Duration = Duration::from_millis(5);
/// Answer delay assumed before the first measurement.
const INITIAL_RTT: Duration = Duration::from_millis(20);
const MAX_ROUND: Duration = Duration::from_millis(500);
const MAX_ROUND_BACKOFF: Duration = Duration::from_millis(500);
/// Pause between the last CONNECT_REPLY and the first DATA: receivers
/// join the data group only after reading their reply, and one that misses
/// all of slice 0 aborts ("Previous slice size not known").
pub const START_GRACE: Duration = Duration::from_millis(300);
/// Slow-receiver accounting granularity.
const ACCOUNT_STEP: Duration = Duration::from_millis(1);

/// Everything the engine needs to know, with addresses resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineConfig {
    /// Receivers' port `P` (we send from and listen on `P + 1`).
    pub port: u16,
    /// Where HELLOs go (the subnet-directed broadcast).
    pub control_addr: Ipv4Addr,
    /// Where DATA, FEC and REQACK go (multicast group or broadcast).
    pub data_addr: Ipv4Addr,
    /// Payload bytes per block.
    pub block_size: u16,
    /// Blocks per full slice.
    pub slice_blocks: usize,
    /// When to start.
    pub start: StartRules,
    /// HELLO repeat interval while waiting.
    pub hello_interval: Duration,
    /// FEC layout, if any.
    pub fec: Option<FecConfig>,
    /// Slow-receiver policy, if any.
    pub slow: Option<SlowPolicy>,
    /// Drop a receiver silent for this long during a transfer.
    pub answer_timeout: Duration,
}

impl EngineConfig {
    /// Takes the protocol settings from `cfg` for a session on `port`.
    pub fn from_config(
        cfg: &Config,
        port: u16,
        control_addr: Ipv4Addr,
        data_addr: Ipv4Addr,
    ) -> EngineConfig {
        EngineConfig {
            port,
            control_addr,
            data_addr,
            block_size: cfg.block_size,
            slice_blocks: cfg.effective_slice_blocks(),
            start: cfg.start,
            hello_interval: cfg.hello_interval,
            fec: cfg.fec,
            slow: cfg.slow,
            answer_timeout: cfg.answer_timeout,
        }
    }

    /// Bytes of a full slice.
    pub fn slice_bytes(&self) -> usize {
        self.slice_blocks * usize::from(self.block_size)
    }
}

/// One slice of the image as read from the source, with its FEC blocks
/// (computed off the sending path, see [`SliceData::with_fec`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SliceData {
    /// The bytes; empty marks the end of the image.
    pub data: Vec<u8>,
    /// FEC blocks ([`fec::encode`]) when FEC is on.
    pub fec: Option<Vec<u8>>,
}

impl SliceData {
    /// A slice without FEC.
    pub fn new(data: Vec<u8>) -> SliceData {
        SliceData { data, fec: None }
    }

    /// A slice with its FEC blocks computed now.
    pub fn with_fec(cfg: &FecConfig, block_size: usize, data: Vec<u8>) -> SliceData {
        let fec = (!data.is_empty()).then(|| fec::encode(cfg, block_size, &data));
        SliceData { data, fec }
    }
}

/// A datagram the engine wrote into the caller's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit {
    /// Destination.
    pub dest: SocketAddrV4,
    /// Bytes written at the start of the buffer.
    pub len: usize,
}

#[derive(Debug, Clone)]
struct Client {
    ip: Ipv4Addr,
    number: u16,
    state: ReceiverState,
    bytes_acked: u64,
    blocks_requested: u64,
    last_heard: Instant,
    /// Heard from since the transfer started.
    heard: bool,
    /// Smoothed delay between a REQACK and this receiver's answer.
    rtt: Duration,
    /// Leaky-bucket level of the slow-receiver policy, in seconds.
    bucket: f64,
    held_back: Duration,
}

impl Client {
    /// Dropped as slow or silent: it may still be running and waiting.
    fn is_dropped_alive(&self) -> bool {
        matches!(
            self.state,
            ReceiverState::Dropped {
                reason: DropReason::Slow { .. } | DropReason::Timeout { .. }
            }
        )
    }
}

#[derive(Debug)]
struct Slice {
    number: u32,
    data: Vec<u8>,
    fec: Option<Vec<u8>>,
    blocks: usize,
    /// Next block of the first transmission (data blocks, then FEC blocks).
    cursor: usize,
    /// First transmission done (its first REQACK went out).
    sent: bool,
    rxmit: u32,
    ready: Bitmap,
    answered: Bitmap,
    resend: Bitmap,
    resent: Bitmap,
    reqack_pending: bool,
    round_started: Instant,
    timeouts: u32,
}

impl Slice {
    fn is_final(&self) -> bool {
        self.data.is_empty()
    }

    fn bytes(&self) -> u32 {
        self.data.len() as u32
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct Stats {
    bytes_sent: u64,
    resent_blocks: u64,
    reqacks: u64,
    round_timeouts: u64,
    packets: u64,
    wire_bytes: u64,
}

/// One round of a udpcast session (see the module docs).
#[derive(Debug)]
pub struct Engine {
    cfg: EngineConfig,
    phase: Phase,
    now: Instant,
    clients: Vec<Client>,
    by_ip: HashMap<Ipv4Addr, u16>,
    first_connect: Option<Instant>,
    next_hello: Instant,
    replies: VecDeque<(Ipv4Addr, u32)>,
    last_reply: Option<Instant>,
    data_not_before: Instant,
    start_hello: bool,
    reported: HashSet<Ipv4Addr>,
    events: VecDeque<Event>,
    started: Option<Instant>,
    active: Bitmap,
    window: VecDeque<Slice>,
    next_slice: Option<SliceData>,
    next_number: u32,
    short_seen: bool,
    eof: bool,
    last_account: Instant,
    stats: Stats,
    outcome: Option<Outcome>,
}

impl Engine {
    /// A new round, waiting for receivers. `round` is reported in the
    /// [`Event::Waiting`] event.
    pub fn new(cfg: EngineConfig, round: u64, now: Instant) -> Engine {
        let mut e = Engine {
            cfg,
            phase: Phase::Waiting,
            now,
            clients: Vec::new(),
            by_ip: HashMap::new(),
            first_connect: None,
            next_hello: now,
            replies: VecDeque::new(),
            last_reply: None,
            data_not_before: now,
            start_hello: false,
            reported: HashSet::new(),
            events: VecDeque::new(),
            started: None,
            active: Bitmap::new(),
            window: VecDeque::new(),
            next_slice: None,
            next_number: 0,
            short_seen: false,
            eof: false,
            last_account: now,
            stats: Stats::default(),
            outcome: None,
        };
        e.push_event(Event::Waiting { round });
        e
    }

    /// The configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.cfg
    }

    /// Current phase ([`Phase::Finished`] once the round is over).
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// How the transfer ended, once it has.
    pub fn outcome(&self) -> Option<&Outcome> {
        self.outcome.as_ref()
    }

    /// Receivers connected and not left (waiting phase) or taking part.
    pub fn receivers(&self) -> usize {
        self.clients
            .iter()
            .filter(|c| {
                matches!(
                    c.state,
                    ReceiverState::Connected | ReceiverState::Receiving | ReceiverState::Finished
                )
            })
            .count()
    }

    /// Next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// True while the engine wants the next slice of the image.
    pub fn wants_data(&self) -> bool {
        self.phase != Phase::Finished && !self.eof && self.next_slice.is_none()
    }

    /// Hands over the next slice (empty data = end of image). Every slice
    /// but the last must hold exactly `slice_blocks` blocks; a short slice
    /// must be followed by the end.
    pub fn push_slice(&mut self, slice: SliceData) -> Result<(), String> {
        if !self.wants_data() {
            return Err("the engine did not ask for data".into());
        }
        let len = slice.data.len();
        if len > self.cfg.slice_bytes() {
            return Err(format!(
                "slice of {len} bytes exceeds {}",
                self.cfg.slice_bytes()
            ));
        }
        if len == 0 {
            self.eof = true;
        } else if self.short_seen {
            return Err("data after a short slice".into());
        } else if len < self.cfg.slice_bytes() {
            self.short_seen = true;
        }
        self.next_slice = Some(slice);
        Ok(())
    }

    /// Ends the round early (the source failed or the service stops).
    pub fn abort(&mut self, outcome: Outcome) {
        if self.phase != Phase::Finished {
            self.finish(outcome);
        }
    }

    /// The number of the slice being sent (for a "stop" message to
    /// receivers, see [`Engine::kick_message`]).
    pub fn current_slice(&self) -> u32 {
        self.next_number
    }

    /// A REQACK for a slice far ahead of every receiver: stock receivers
    /// that see it stop at once ("Dropped by server") instead of waiting
    /// forever for a transfer that will not continue. Written into `buf`.
    pub fn kick_message(&self, buf: &mut [u8]) -> Option<Transmit> {
        self.started?;
        let len = ReqAck {
            slice: self.next_number.wrapping_add(16),
            bytes: self.cfg.block_size.into(),
            rxmit: 0,
            ready: Bitmap::new(),
        }
        .encode(buf);
        Some(Transmit {
            dest: SocketAddrV4::new(self.cfg.data_addr, self.cfg.port),
            len,
        })
    }

    /// CONNECT_REPLYs for the receivers dropped before they were ever
    /// heard in the data phase: they lost their reply, still wait for one
    /// and would not see [`Engine::kick_message`] on the data address.
    /// Sent just before it, they join and give up with the others.
    pub fn kick_replies(&self) -> Vec<(SocketAddrV4, Vec<u8>)> {
        self.clients
            .iter()
            .filter(|c| !c.heard && c.is_dropped_alive())
            .map(|c| {
                let mut buf = [0u8; 64];
                let len = self.connect_reply(u32::from(c.number), &mut buf);
                let bytes = buf.get(..len).unwrap_or_default().to_vec();
                (SocketAddrV4::new(c.ip, self.cfg.port), bytes)
            })
            .collect()
    }

    /// Receivers dropped as slow or silent in this round: they may still
    /// be running and waiting (see [`Engine::kick_message`]).
    pub fn dropped_alive(&self) -> usize {
        self.clients.iter().filter(|c| c.is_dropped_alive()).count()
    }

    /// Entries held in the engine's tables (receivers, queued replies,
    /// remembered addresses, pending events, slices in flight). Bounded
    /// whatever arrives: at most a few thousand (checked by the fuzz tests).
    pub fn table_entries(&self) -> usize {
        self.clients.len()
            + self.by_ip.len()
            + self.replies.len()
            + self.reported.len()
            + self.events.len()
            + self.window.len()
    }

    /// Feeds one datagram that arrived on port `P + 1` from `from`.
    pub fn handle(&mut self, now: Instant, from: SocketAddrV4, datagram: &[u8]) {
        self.tick(now, false);
        let msg = match ReceiverMessage::parse(datagram) {
            Ok(m) => m,
            Err(e) => {
                trace!(%from, error = %e, "ignored datagram");
                return;
            }
        };
        let ip = *from.ip();
        match self.phase {
            Phase::Waiting => self.on_waiting(now, ip, msg),
            Phase::Transferring => self.on_transfer(now, ip, msg),
            Phase::Finished | Phase::Stopped => {}
        }
    }

    /// Earliest moment [`Engine::handle_timeout`] has work to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        let now = self.now;
        match self.phase {
            Phase::Waiting => {
                let start = self.cfg.start.next_check(self.first_connect, now);
                Some(start.map_or(self.next_hello, |s| s.min(self.next_hello)))
            }
            Phase::Transferring => {
                let mut best: Option<Instant> = None;
                let mut consider = |t: Instant| best = Some(best.map_or(t, |b| b.min(t)));
                if self.data_not_before > now {
                    consider(self.data_not_before);
                }
                for s in self.window.iter().filter(|s| self.awaiting(s)) {
                    consider(s.round_started + self.round_timeout(s));
                }
                if let Some(front) = self.window.front().filter(|s| s.sent) {
                    for n in self.active.difference(&front.ready).iter() {
                        if let Some(c) = self.clients.get(n) {
                            consider(c.last_heard + self.cfg.answer_timeout);
                        }
                    }
                }
                if let (Some(slow), Some(lagging)) = (self.cfg.slow, self.blamable()) {
                    let rate = (1.0 - slow.tolerance).max(0.01);
                    let median = self.bucket_median();
                    for n in lagging.iter() {
                        if let Some(c) = self.clients.get(n) {
                            let excess = c.bucket - median;
                            let left = (slow.budget.as_secs_f64() - excess).max(0.0) / rate;
                            consider(self.last_account + Duration::from_secs_f64(left + 0.001));
                        }
                    }
                }
                best
            }
            Phase::Finished | Phase::Stopped => None,
        }
    }

    /// Runs the timers due at `now`: start rules, REQACK round timeouts,
    /// silent and slow receivers.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.tick(now, true);
        match self.phase {
            Phase::Waiting => self.check_start(now),
            Phase::Transferring => {
                let timeouts: Vec<usize> = self
                    .window
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| {
                        self.awaiting(s) && now >= s.round_started + self.round_timeout(s)
                    })
                    .map(|(i, _)| i)
                    .collect();
                // Early in the transfer, a receiver never heard from most
                // likely lost its CONNECT_REPLY and still waits for it.
                let early = self.window.front().is_some_and(|s| s.number <= 1);
                if early && !timeouts.is_empty() {
                    let silent: Vec<(Ipv4Addr, u32)> = self
                        .active
                        .iter()
                        .filter_map(|n| self.clients.get(n))
                        .filter(|c| !c.heard && c.state == ReceiverState::Receiving)
                        .map(|c| (c.ip, u32::from(c.number)))
                        .collect();
                    for (ip, number) in silent {
                        self.queue_reply(ip, number);
                    }
                }
                for i in timeouts {
                    if let Some(s) = self.window.get_mut(i) {
                        self.stats.round_timeouts += 1;
                        s.reqack_pending = true;
                        s.timeouts = s.timeouts.saturating_add(1);
                        trace!(slice = s.number, rxmit = s.rxmit, "REQACK round timed out");
                    }
                }
                let silent: Vec<(usize, Duration)> = match self.window.front() {
                    Some(front) if front.sent => self
                        .active
                        .difference(&front.ready)
                        .iter()
                        .filter_map(|n| {
                            let c = self.clients.get(n)?;
                            let quiet = now.saturating_duration_since(c.last_heard);
                            (quiet >= self.cfg.answer_timeout).then_some((n, quiet))
                        })
                        .collect(),
                    _ => Vec::new(),
                };
                for (n, quiet) in silent {
                    self.drop_client(
                        n,
                        DropReason::Timeout {
                            silent_ms: quiet.as_millis() as u64,
                        },
                    );
                }
                self.progress();
            }
            Phase::Finished | Phase::Stopped => {}
        }
    }

    /// Writes the next datagram to send into `buf` (at least `block_size +
    /// 16` bytes) and returns its destination, or `None` if nothing is due.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        self.tick(now, false);
        let t = self.next_transmit(now, buf)?;
        self.stats.packets += 1;
        self.stats.wire_bytes += t.len as u64 + 28;
        Some(t)
    }

    /// True if [`Engine::poll_transmit`] would return a datagram now.
    pub fn has_pending_transmit(&self, now: Instant) -> bool {
        if !self.replies.is_empty() || (self.phase == Phase::Transferring && self.start_hello) {
            return true;
        }
        match self.phase {
            Phase::Waiting => now >= self.next_hello,
            Phase::Transferring => {
                now >= self.data_not_before
                    && (self
                        .window
                        .iter()
                        .any(|s| s.sent && (s.reqack_pending || !s.resend.is_empty()))
                        || self.window.back().is_some_and(|s| !s.sent)
                        || self.next_slice.as_ref().is_some_and(|n| {
                            self.window.is_empty() || (self.window.len() < 2 && !n.data.is_empty())
                        }))
            }
            Phase::Finished | Phase::Stopped => false,
        }
    }

    fn next_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        let port = self.cfg.port;
        if let Some((ip, client)) = self.replies.pop_front() {
            let len = self.connect_reply(client, buf);
            return Some(Transmit {
                dest: SocketAddrV4::new(ip, port),
                len,
            });
        }
        match self.phase {
            Phase::Waiting if now >= self.next_hello => {
                self.next_hello = now + self.cfg.hello_interval;
                let len = Hello {
                    opcode: opcode::HELLO,
                    caps: caps::SENDER,
                    data_addr: self.cfg.data_addr,
                    block_size: self.cfg.block_size,
                }
                .encode(buf);
                Some(Transmit {
                    dest: SocketAddrV4::new(self.cfg.control_addr, port),
                    len,
                })
            }
            Phase::Transferring if self.start_hello => {
                self.start_hello = false;
                let len = Hello {
                    opcode: opcode::HELLO,
                    caps: caps::SENDER,
                    data_addr: self.cfg.data_addr,
                    block_size: self.cfg.block_size,
                }
                .encode(buf);
                Some(Transmit {
                    dest: SocketAddrV4::new(self.cfg.control_addr, port),
                    len,
                })
            }
            Phase::Transferring => self.transfer_transmit(now, buf),
            _ => None,
        }
    }

    fn transfer_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        if now < self.data_not_before {
            return None;
        }
        let dest = SocketAddrV4::new(self.cfg.data_addr, self.cfg.port);
        let bs = usize::from(self.cfg.block_size);
        // Repairs first: they hold everybody back.
        for s in self.window.iter_mut().filter(|s| s.sent) {
            if let Some(block) = s.resend.next_set(0) {
                s.resend.remove(block);
                s.resent.insert(block);
                self.stats.resent_blocks += 1;
                let len = write_data(buf, s, block, bs);
                return Some(Transmit { dest, len });
            }
            if s.reqack_pending {
                s.reqack_pending = false;
                s.rxmit = s.rxmit.wrapping_add(1);
                s.answered.clear();
                s.resent.clear();
                s.round_started = now;
                self.stats.reqacks += 1;
                let len = ReqAck {
                    slice: s.number,
                    bytes: s.bytes(),
                    rxmit: s.rxmit,
                    ready: s.ready.clone(),
                }
                .encode(buf);
                return Some(Transmit { dest, len });
            }
        }
        // First transmission of the newest slice, or a new one if the
        // window of two slices allows.
        let need_new = self.window.back().is_none_or(|s| s.sent);
        if need_new {
            if self.window.len() >= 2 {
                return None;
            }
            // The end marker goes out only once every data slice is
            // acknowledged: a stock receiver that sees the 0-byte slice
            // while still missing blocks OKs it and then never answers for
            // the older slice again (it hangs).
            let is_end = self.next_slice.as_ref()?.data.is_empty();
            if is_end && !self.window.is_empty() {
                return None;
            }
            let next = self.next_slice.take()?;
            let blocks = next.data.len().div_ceil(bs);
            let mut ready = Bitmap::new();
            // Receivers no longer taking part stay silent.
            for c in &self.clients {
                if !matches!(c.state, ReceiverState::Receiving | ReceiverState::Finished) {
                    ready.insert(usize::from(c.number));
                }
            }
            self.window.push_back(Slice {
                number: self.next_number,
                data: next.data,
                fec: next.fec,
                blocks,
                cursor: 0,
                sent: false,
                rxmit: 0,
                ready,
                answered: Bitmap::new(),
                resend: Bitmap::new(),
                resent: Bitmap::new(),
                reqack_pending: false,
                round_started: now,
                timeouts: 0,
            });
            self.next_number = self.next_number.wrapping_add(1);
        }
        let fec_cfg = self.cfg.fec;
        let s = self.window.back_mut()?;
        if s.cursor < s.blocks {
            let block = s.cursor;
            s.cursor += 1;
            let len = write_data(buf, s, block, bs);
            self.stats.bytes_sent += (len - BLOCK_HEADER_LEN) as u64;
            return Some(Transmit { dest, len });
        }
        if let (Some(cfg), Some(fec)) = (fec_cfg, s.fec.as_ref()) {
            let total = cfg.fec_blocks();
            let mut idx = s.cursor - s.blocks;
            while idx < total && !fec::fec_block_used(&cfg, s.blocks, idx) {
                idx += 1;
            }
            if idx < total {
                s.cursor = s.blocks + idx + 1;
                let hl = FecHeader {
                    stripes: cfg.stripes,
                    slice: s.number,
                    index: idx as u16,
                    bytes: s.bytes(),
                }
                .encode(buf);
                let payload = fec.get(idx * bs..(idx + 1) * bs).unwrap_or(&[]);
                let end = hl + payload.len();
                buf.get_mut(hl..end)?.copy_from_slice(payload);
                return Some(Transmit { dest, len: end });
            }
            s.cursor = s.blocks + total;
        }
        s.sent = true;
        s.round_started = now;
        self.stats.reqacks += 1;
        let len = ReqAck {
            slice: s.number,
            bytes: s.bytes(),
            rxmit: s.rxmit,
            ready: s.ready.clone(),
        }
        .encode(buf);
        // A slice may already be complete (every receiver dropped, or the
        // final slice when nobody is left).
        self.progress();
        Some(Transmit { dest, len })
    }

    /// Snapshot of the receivers and counters (the caller adds the
    /// session's name and port).
    pub fn status(&self, now: Instant) -> EngineStatus {
        let since = match self.phase {
            Phase::Waiting => self.first_connect,
            _ => self.started,
        };
        EngineStatus {
            phase: self.phase,
            bytes_sent: self.stats.bytes_sent,
            retransmitted_blocks: self.stats.resent_blocks,
            seconds: since.map_or(0.0, |t| now.saturating_duration_since(t).as_secs_f64()),
            receivers: self
                .clients
                .iter()
                .map(|c| ReceiverStatus {
                    ip: c.ip,
                    client: c.number,
                    state: c.state,
                    bytes_acked: c.bytes_acked,
                    blocks_requested: c.blocks_requested,
                    held_back_ms: c.held_back.as_millis() as u64,
                })
                .collect(),
        }
    }

    // ---------------------------------------------------------------- waiting

    fn on_waiting(&mut self, now: Instant, ip: Ipv4Addr, msg: ReceiverMessage) {
        match msg {
            ReceiverMessage::ConnectReq { .. } => self.connect(now, ip),
            ReceiverMessage::Go => {
                if self.client_state(ip) == Some(ReceiverState::Connected) {
                    self.start(now, StartReason::Go { ip });
                    return;
                }
            }
            ReceiverMessage::Disconnect => {
                if let Some(c) = self.client_mut(ip) {
                    if c.state == ReceiverState::Connected {
                        c.state = ReceiverState::Left;
                        self.push_event(Event::ReceiverLeft { ip });
                        if self.receivers() == 0 {
                            self.first_connect = None;
                        }
                    }
                }
            }
            ReceiverMessage::Ok { .. } | ReceiverMessage::Retransmit { .. } => {}
        }
        self.check_start(now);
    }

    fn connect(&mut self, now: Instant, ip: Ipv4Addr) {
        if let Some(&n) = self.by_ip.get(&ip) {
            let rejoined = match self.clients.get_mut(usize::from(n)) {
                Some(c) if c.state == ReceiverState::Left => {
                    c.state = ReceiverState::Connected;
                    true
                }
                _ => false,
            };
            if rejoined {
                self.first_connect.get_or_insert(now);
                let receivers = self.receivers();
                self.push_event(Event::ReceiverConnected {
                    ip,
                    client: n,
                    receivers,
                });
            }
            self.queue_reply(ip, u32::from(n));
            return;
        }
        if self.clients.len() >= MAX_CLIENTS {
            if self.remember(ip) {
                self.push_event(Event::ReceiverRefused { ip });
            }
            self.queue_reply(ip, CLIENT_REFUSED);
            return;
        }
        let n = self.clients.len() as u16;
        self.clients.push(Client {
            ip,
            number: n,
            state: ReceiverState::Connected,
            bytes_acked: 0,
            blocks_requested: 0,
            last_heard: now,
            heard: false,
            rtt: INITIAL_RTT,
            bucket: 0.0,
            held_back: Duration::ZERO,
        });
        self.by_ip.insert(ip, n);
        self.first_connect.get_or_insert(now);
        debug!(%ip, client = n, port = self.cfg.port, "receiver connected");
        let receivers = self.receivers();
        self.push_event(Event::ReceiverConnected {
            ip,
            client: n,
            receivers,
        });
        self.queue_reply(ip, u32::from(n));
    }

    fn check_start(&mut self, now: Instant) {
        if self.phase != Phase::Waiting {
            return;
        }
        let n = self.receivers();
        if self.cfg.start.should_start(n, self.first_connect, now) {
            let by_max = match (self.cfg.start.max_wait, self.first_connect) {
                (Some(m), Some(f)) => now.saturating_duration_since(f) >= m,
                _ => false,
            };
            let enough = n >= self.cfg.start.min_clients.max(1);
            let reason = if by_max && !enough {
                StartReason::MaxWait
            } else {
                StartReason::MinClients
            };
            self.start(now, reason);
        }
    }

    fn start(&mut self, now: Instant, reason: StartReason) {
        self.phase = Phase::Transferring;
        self.started = Some(now);
        self.data_not_before = self.last_reply.map_or(now, |t| (t + START_GRACE).max(now));
        // One more HELLO: a receiver whose CONNECT_REPLY got lost asks
        // again when it sees it (it has no timer of its own).
        self.start_hello = true;
        self.last_account = now;
        for c in &mut self.clients {
            if c.state == ReceiverState::Connected {
                c.state = ReceiverState::Receiving;
                c.last_heard = now;
                self.active.insert(usize::from(c.number));
            }
        }
        let receivers = self.active.count();
        debug!(port = self.cfg.port, receivers, ?reason, "transfer starts");
        self.push_event(Event::TransferStarted { receivers, reason });
    }

    // --------------------------------------------------------------- transfer

    fn on_transfer(&mut self, now: Instant, ip: Ipv4Addr, msg: ReceiverMessage) {
        let Some(&n) = self.by_ip.get(&ip) else {
            if matches!(msg, ReceiverMessage::ConnectReq { .. }) && self.remember(ip) {
                self.push_event(Event::LateJoiner { ip });
            }
            return;
        };
        let n = usize::from(n);
        let state = match self.clients.get(n) {
            Some(c) => c.state,
            None => return,
        };
        let taking_part = matches!(state, ReceiverState::Receiving | ReceiverState::Finished);
        if taking_part {
            // A CONNECT_REQ (or GO) says the receiver is alive but not that
            // it got its CONNECT_REPLY: only data-phase answers prove that.
            let in_data_phase = !matches!(
                msg,
                ReceiverMessage::ConnectReq { .. } | ReceiverMessage::Go
            );
            if let Some(c) = self.clients.get_mut(n) {
                c.last_heard = now;
                c.heard |= in_data_phase;
            }
        }
        match msg {
            ReceiverMessage::ConnectReq { .. } => {
                if state == ReceiverState::Receiving {
                    // Its CONNECT_REPLY was lost: same answer again.
                    self.queue_reply(ip, n as u32);
                } else if !taking_part && self.remember(ip) {
                    self.push_event(Event::LateJoiner { ip });
                }
            }
            ReceiverMessage::Go => {}
            ReceiverMessage::Disconnect if state == ReceiverState::Receiving => {
                if self.window.front().is_some_and(|s| s.is_final() && s.sent) {
                    // Every data slice was acknowledged before the end
                    // marker went out: this receiver has it all and says
                    // goodbye (its OK for the end got lost).
                    if let Some(s) = self.window.front_mut() {
                        s.ready.insert(n);
                    }
                    self.mark_finished(now, n);
                } else {
                    self.drop_client(n, DropReason::Disconnected);
                }
                self.progress();
            }
            ReceiverMessage::Ok { slice } if taking_part => self.on_ok(now, n, slice),
            ReceiverMessage::Retransmit {
                slice,
                rxmit,
                received,
            } if state == ReceiverState::Receiving => {
                self.on_retransmit(now, n, slice, rxmit, &received)
            }
            _ => {}
        }
    }

    fn on_ok(&mut self, now: Instant, n: usize, number: u32) {
        let Some(s) = self
            .window
            .iter_mut()
            .find(|s| s.number == number && s.sent)
        else {
            return;
        };
        if s.ready.contains(n) {
            return;
        }
        s.ready.insert(n);
        s.answered.insert(n);
        let bytes = u64::from(s.bytes());
        let delay = now.saturating_duration_since(s.round_started);
        if let Some(c) = self.clients.get_mut(n) {
            c.bytes_acked += bytes;
        }
        self.update_rtt(n, delay);
        self.check_finished(now, n);
        self.progress();
    }

    fn on_retransmit(&mut self, now: Instant, n: usize, number: u32, rxmit: u32, got: &Bitmap) {
        let Some(s) = self
            .window
            .iter_mut()
            .find(|s| s.number == number && s.sent)
        else {
            return;
        };
        if s.ready.contains(n) || rxmit != s.rxmit {
            return;
        }
        s.answered.insert(n);
        let mut asked = 0u64;
        for block in 0..s.blocks {
            if !got.contains(block) {
                asked += 1;
                if !s.resent.contains(block) {
                    s.resend.insert(block);
                }
            }
        }
        let delay = now.saturating_duration_since(s.round_started);
        if let Some(c) = self.clients.get_mut(n) {
            c.blocks_requested += asked;
        }
        self.update_rtt(n, delay);
        self.progress();
    }

    fn check_finished(&mut self, now: Instant, n: usize) {
        let has_final = self.window.iter().any(Slice::is_final);
        if !has_final || !self.window.iter().all(|s| s.ready.contains(n)) {
            return;
        }
        self.mark_finished(now, n);
    }

    fn mark_finished(&mut self, now: Instant, n: usize) {
        let seconds = self.elapsed(now);
        if let Some(c) = self.clients.get_mut(n) {
            if c.state == ReceiverState::Receiving {
                c.state = ReceiverState::Finished;
                let ev = Event::ReceiverFinished {
                    ip: c.ip,
                    bytes: c.bytes_acked,
                    seconds,
                };
                self.push_event(ev);
            }
        }
    }

    /// Completes slices acknowledged by everybody, starts new REQACK rounds
    /// when every awaited receiver answered, ends the transfer.
    fn progress(&mut self) {
        if self.phase != Phase::Transferring {
            return;
        }
        for s in self.window.iter_mut().filter(|s| s.sent) {
            let waiting_for = self.active.difference(&s.ready);
            if waiting_for.is_empty() {
                continue;
            }
            if !s.reqack_pending && waiting_for.difference(&s.answered).is_empty() {
                s.reqack_pending = true;
                s.timeouts = 0;
            }
        }
        while let Some(front) = self.window.front() {
            if !front.sent || !self.active.difference(&front.ready).is_empty() {
                break;
            }
            let done_final = front.is_final();
            self.window.pop_front();
            if done_final {
                let now = self.now;
                let active: Vec<usize> = self.active.iter().collect();
                for n in active {
                    self.mark_finished(now, n);
                }
                let outcome = if self.active.is_empty() {
                    Outcome::NoReceivers
                } else {
                    Outcome::Complete
                };
                self.finish(outcome);
                return;
            }
        }
        if self.active.is_empty() {
            self.finish(Outcome::NoReceivers);
        }
    }

    fn drop_client(&mut self, n: usize, reason: DropReason) {
        let now = self.now;
        let seconds = self.elapsed(now);
        let Some(c) = self.clients.get_mut(n) else {
            return;
        };
        if c.state != ReceiverState::Receiving {
            return;
        }
        c.state = ReceiverState::Dropped { reason };
        let (ip, bytes, number) = (c.ip, c.bytes_acked, c.number);
        let waits_for_reply = !c.heard && c.is_dropped_alive();
        self.active.remove(n);
        for s in &mut self.window {
            s.ready.insert(n);
        }
        if waits_for_reply {
            // It never got its CONNECT_REPLY and still waits for one (it
            // has no timer): with the reply it joins, sees a slice it
            // cannot place and gives up instead of waiting forever.
            self.queue_reply(ip, u32::from(number));
        }
        debug!(%ip, port = self.cfg.port, ?reason, "receiver dropped");
        self.push_event(Event::ReceiverDropped {
            ip,
            reason,
            bytes,
            seconds,
        });
    }

    fn finish(&mut self, outcome: Outcome) {
        self.phase = Phase::Finished;
        let seconds = self.elapsed(self.now);
        let finished = self
            .clients
            .iter()
            .filter(|c| c.state == ReceiverState::Finished)
            .count();
        let failed = self
            .clients
            .iter()
            .filter(|c| matches!(c.state, ReceiverState::Dropped { .. }))
            .count();
        debug!(
            port = self.cfg.port,
            ?outcome,
            finished,
            failed,
            "transfer finished"
        );
        self.push_event(Event::TransferFinished {
            outcome: outcome.clone(),
            bytes: self.stats.bytes_sent,
            retransmitted_blocks: self.stats.resent_blocks,
            reqacks: self.stats.reqacks,
            round_timeouts: self.stats.round_timeouts,
            packets: self.stats.packets,
            wire_bytes: self.stats.wire_bytes,
            finished,
            failed,
            seconds,
        });
        self.outcome = Some(outcome);
        self.window.clear();
        self.next_slice = None;
    }

    // ------------------------------------------------------------- timing

    fn update_rtt(&mut self, n: usize, sample: Duration) {
        // Exponential average (1/8), as TCP's SRTT.
        if let Some(c) = self.clients.get_mut(n) {
            c.rtt = (c.rtt * 7 + sample) / 8;
        }
    }

    /// True if `s` is sent, its REQACK round is running, and some
    /// receiver still has to acknowledge it.
    fn awaiting(&self, s: &Slice) -> bool {
        s.sent && !s.reqack_pending && !self.active.difference(&s.ready).is_empty()
    }

    /// How long a REQACK round waits for the receivers that have not
    /// answered yet: twice the slowest one's usual answer delay (an answer
    /// that late was most likely lost), doubled per timed-out round.
    fn round_timeout(&self, s: &Slice) -> Duration {
        let slowest = self
            .active
            .difference(&s.ready)
            .difference(&s.answered)
            .iter()
            .filter_map(|n| self.clients.get(n).map(|c| c.rtt))
            .max()
            .unwrap_or(MIN_ROUND);
        let base = (slowest * 2 + Duration::from_millis(2)).clamp(MIN_ROUND, MAX_ROUND);
        (base * (1u32 << s.timeouts.min(3))).min(MAX_ROUND_BACKOFF)
    }

    fn elapsed(&self, now: Instant) -> f64 {
        self.started
            .map_or(0.0, |t| now.saturating_duration_since(t).as_secs_f64())
    }

    /// Advances the clock and the slow-receiver accounting.
    fn tick(&mut self, now: Instant, force: bool) {
        if now > self.now {
            self.now = now;
        }
        if self.phase != Phase::Transferring {
            self.last_account = self.now;
            return;
        }
        let dt = self.now.saturating_duration_since(self.last_account);
        if dt < ACCOUNT_STEP && !force {
            return;
        }
        self.last_account = self.now;
        let Some(slow) = self.cfg.slow else { return };
        let leak = slow.tolerance * dt.as_secs_f64();
        for c in &mut self.clients {
            c.bucket = (c.bucket - leak).max(0.0);
        }
        let Some(lagging) = self.blamable() else {
            return;
        };
        for n in lagging.iter() {
            if let Some(c) = self.clients.get_mut(n) {
                c.bucket += dt.as_secs_f64();
                c.held_back += dt;
            }
        }
        // Compared with the group: under loss spread over the whole network
        // everybody is last now and then and all buckets fill alike.
        let median = self.bucket_median();
        let to_drop: Vec<(usize, Duration)> = lagging
            .iter()
            .filter_map(|n| {
                let c = self.clients.get(n)?;
                (c.bucket - median > slow.budget.as_secs_f64()).then_some((n, c.held_back))
            })
            .collect();
        if !to_drop.is_empty() {
            for (n, held) in to_drop {
                self.drop_client(
                    n,
                    DropReason::Slow {
                        held_back_ms: held.as_millis() as u64,
                    },
                );
            }
            self.progress();
        }
    }

    /// Lower median of the slow-policy buckets of the receivers taking part.
    fn bucket_median(&self) -> f64 {
        let mut b: Vec<f64> = self
            .active
            .iter()
            .filter_map(|n| self.clients.get(n).map(|c| c.bucket))
            .collect();
        if b.is_empty() {
            return 0.0;
        }
        b.sort_by(f64::total_cmp);
        b[(b.len() - 1) / 2]
    }

    /// Receivers to charge right now: the window is full, the newer slice
    /// is fully sent (and is not the end marker), and the older slice waits
    /// only for a small minority of the group.
    fn blamable(&self) -> Option<Bitmap> {
        let slow = self.cfg.slow?;
        if self.window.len() < 2 {
            return None;
        }
        let (front, back) = (self.window.front()?, self.window.back()?);
        if !back.sent || back.is_final() || !front.sent {
            return None;
        }
        let lagging = self.active.difference(&front.ready);
        let (nl, na) = (lagging.count(), self.active.count());
        if na < 2 || nl == 0 || nl >= na {
            return None;
        }
        let limit = ((na as f64 * slow.max_fraction).floor() as usize).max(1);
        (nl <= limit).then_some(lagging)
    }

    // ------------------------------------------------------------ helpers

    fn client_state(&self, ip: Ipv4Addr) -> Option<ReceiverState> {
        let n = *self.by_ip.get(&ip)?;
        self.clients.get(usize::from(n)).map(|c| c.state)
    }

    fn client_mut(&mut self, ip: Ipv4Addr) -> Option<&mut Client> {
        let n = *self.by_ip.get(&ip)?;
        self.clients.get_mut(usize::from(n))
    }

    fn connect_reply(&self, client: u32, buf: &mut [u8]) -> usize {
        ConnectReply {
            client,
            block_size: self.cfg.block_size.into(),
            caps: caps::SENDER,
            data_addr: self.cfg.data_addr,
        }
        .encode(buf)
    }

    fn queue_reply(&mut self, ip: Ipv4Addr, client: u32) {
        if self.replies.len() < MAX_PENDING_REPLIES {
            self.replies.push_back((ip, client));
            self.last_reply = Some(self.now);
        }
    }

    fn remember(&mut self, ip: Ipv4Addr) -> bool {
        self.reported.len() < MAX_REPORTED && self.reported.insert(ip)
    }

    fn push_event(&mut self, e: Event) {
        if self.events.len() >= MAX_EVENTS {
            self.events.pop_front();
        }
        self.events.push_back(e);
    }
}

fn write_data(buf: &mut [u8], s: &Slice, block: usize, bs: usize) -> usize {
    let start = (block * bs).min(s.data.len());
    let end = ((block + 1) * bs).min(s.data.len());
    let payload = s.data.get(start..end).unwrap_or(&[]);
    let hl = DataHeader {
        slice: s.number,
        block: block as u16,
        bytes: s.bytes(),
    }
    .encode(buf);
    match buf.get_mut(hl..hl + payload.len()) {
        Some(dst) => {
            dst.copy_from_slice(payload);
            hl + payload.len()
        }
        None => hl,
    }
}

/// What [`Engine::status`] reports.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineStatus {
    /// Phase of the round.
    pub phase: Phase,
    /// Image bytes sent (first transmissions).
    pub bytes_sent: u64,
    /// Blocks sent again.
    pub retransmitted_blocks: u64,
    /// Seconds since the first connection (waiting) or the start.
    pub seconds: f64,
    /// Every receiver of the round.
    pub receivers: Vec<ReceiverStatus>,
}
