//! The engine against simulated receivers that behave like Debian's
//! `udp-receiver` (connect on HELLO, answer REQACKs with OK/RETRANSMIT,
//! deliver slices in order, abort when a slice runs more than one ahead),
//! on a simulated clock and a lossy simulated network. Deterministic.

mod common;

use std::collections::{BTreeMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use bootbox_udpcast::wire::{Bitmap, ReceiverMessage, SenderMessage, CLIENT_REFUSED};
use bootbox_udpcast::{
    DropReason, Engine, EngineConfig, Event, FecConfig, Outcome, Phase, SliceData, SlowPolicy,
    StartReason, StartRules,
};
use common::{pattern, receiver_ip, Rng, BCAST, GROUP};

const BS: usize = 1024;

/// A stock-like receiver.
#[derive(Debug)]
struct SimRx {
    ip: Ipv4Addr,
    client: Option<u32>,
    refused: bool,
    next: u32,
    slices: BTreeMap<u32, (u32, Bitmap, Vec<u8>)>,
    data: Vec<u8>,
    done: bool,
    aborted: Option<String>,
    /// Loss of datagrams towards this receiver.
    loss_in: f64,
    /// Loss of its answers.
    loss_out: f64,
    /// Stops answering at all once it reached this slice.
    dies_at: Option<u32>,
    /// CONNECT_REPLYs to this receiver that get lost (counted down).
    lose_replies: usize,
    rng: Rng,
}

impl SimRx {
    fn new(i: usize, loss: f64, seed: u64) -> SimRx {
        SimRx {
            ip: receiver_ip(i),
            client: None,
            refused: false,
            next: 0,
            slices: BTreeMap::new(),
            data: Vec::new(),
            done: false,
            aborted: None,
            loss_in: loss,
            loss_out: loss,
            dies_at: None,
            lose_replies: 0,
            rng: Rng::new(seed),
        }
    }

    fn dead(&self) -> bool {
        self.aborted.is_some() || self.dies_at.is_some_and(|d| self.next >= d)
    }

    fn abort(&mut self, why: String) -> Vec<Vec<u8>> {
        self.aborted = Some(why);
        vec![ReceiverMessage::Disconnect.encode()]
    }

    fn on_packet(&mut self, bytes: &[u8]) -> Vec<Vec<u8>> {
        if self.dead() {
            return vec![];
        }
        let Ok(m) = SenderMessage::parse(bytes) else {
            return vec![];
        };
        match m {
            SenderMessage::Hello(_) => {
                if self.client.is_none() {
                    vec![ReceiverMessage::ConnectReq {
                        caps: 9,
                        rcvbuf: 4 << 20,
                    }
                    .encode()]
                } else {
                    vec![]
                }
            }
            SenderMessage::ConnectReply(r) => {
                if self.lose_replies > 0 {
                    self.lose_replies -= 1;
                    return vec![];
                }
                if r.client == CLIENT_REFUSED {
                    self.refused = true;
                    self.aborted = Some("too many clients".into());
                } else if self.client.is_none() {
                    self.client = Some(r.client);
                }
                vec![]
            }
            SenderMessage::Data(h, payload) => {
                if self.client.is_none() || h.slice < self.next {
                    return vec![];
                }
                if h.slice > self.next + 1 {
                    return self.abort(format!(
                        "Dropped by server: {} while at {}",
                        h.slice, self.next
                    ));
                }
                let e = self
                    .slices
                    .entry(h.slice)
                    .or_insert_with(|| (h.bytes, Bitmap::new(), vec![0; h.bytes as usize]));
                let b = usize::from(h.block);
                e.1.insert(b);
                let start = b * BS;
                e.2[start..start + payload.len()].copy_from_slice(payload);
                self.deliver();
                vec![]
            }
            SenderMessage::Fec(..) => vec![],
            SenderMessage::ReqAck(r) => {
                let Some(me) = self.client else { return vec![] };
                if r.ready.contains(me as usize) {
                    return vec![];
                }
                if r.slice < self.next {
                    return vec![ReceiverMessage::Ok { slice: r.slice }.encode()];
                }
                if r.slice > self.next + 1 {
                    return self.abort(format!("REQACK {} while at {}", r.slice, self.next));
                }
                if r.bytes == 0 {
                    if r.slice == self.next {
                        self.done = true;
                        return vec![ReceiverMessage::Ok { slice: r.slice }.encode()];
                    }
                    return self.abort("end marker before the data".into());
                }
                let e = self
                    .slices
                    .entry(r.slice)
                    .or_insert_with(|| (r.bytes, Bitmap::new(), vec![0; r.bytes as usize]));
                let blocks = (r.bytes as usize).div_ceil(BS);
                if (0..blocks).all(|b| e.1.contains(b)) {
                    vec![ReceiverMessage::Ok { slice: r.slice }.encode()]
                } else {
                    vec![ReceiverMessage::Retransmit {
                        slice: r.slice,
                        rxmit: r.rxmit,
                        received: e.1.clone(),
                    }
                    .encode()]
                }
            }
        }
    }

    fn deliver(&mut self) {
        while let Some((bytes, got, _)) = self.slices.get(&self.next) {
            let blocks = (*bytes as usize).div_ceil(BS);
            if !(0..blocks).all(|b| got.contains(b)) {
                break;
            }
            if let Some((_, _, d)) = self.slices.remove(&self.next) {
                self.data.extend_from_slice(&d);
            }
            self.next += 1;
        }
    }
}

struct Sim {
    engine: Engine,
    rx: Vec<SimRx>,
    now: Instant,
    t0: Instant,
    image: Vec<u8>,
    offset: usize,
    inbound: VecDeque<(Instant, SocketAddrV4, Vec<u8>)>,
    events: Vec<Event>,
    /// Time one datagram takes on the wire.
    per_packet: Duration,
    latency: Duration,
    rng: Rng,
    max_ahead_seen: u32,
}

fn cfg(slice_blocks: usize) -> EngineConfig {
    EngineConfig {
        port: 9000,
        control_addr: BCAST,
        data_addr: GROUP,
        block_size: BS as u16,
        slice_blocks,
        start: StartRules {
            min_clients: 1,
            min_wait: None,
            max_wait: None,
        },
        hello_interval: Duration::from_secs(1),
        fec: None,
        slow: Some(SlowPolicy::default()),
        answer_timeout: Duration::from_secs(10),
    }
}

impl Sim {
    fn new(cfg: EngineConfig, rx: Vec<SimRx>, size: usize) -> Sim {
        let t0 = Instant::now();
        Sim {
            engine: Engine::new(cfg, 1, t0),
            rx,
            now: t0,
            t0,
            image: pattern(size),
            offset: 0,
            inbound: VecDeque::new(),
            events: Vec::new(),
            per_packet: Duration::from_micros(10),
            latency: Duration::from_micros(100),
            rng: Rng::new(7),
            max_ahead_seen: 0,
        }
    }

    fn elapsed(&self) -> Duration {
        self.now - self.t0
    }

    /// Runs until the engine finishes or `limit` of simulated time passed.
    fn run(&mut self, limit: Duration) {
        let mut buf = vec![0u8; 70_000];
        while self.engine.phase() != Phase::Finished && self.elapsed() < limit {
            while self.engine.wants_data() {
                let end = (self.offset + self.engine.config().slice_bytes()).min(self.image.len());
                self.engine
                    .push_slice(SliceData::new(self.image[self.offset..end].to_vec()))
                    .unwrap();
                self.offset = end;
            }
            self.deliver_inbound();
            if let Some(d) = self.engine.next_deadline() {
                if d <= self.now {
                    self.engine.handle_timeout(self.now);
                }
            }
            self.events
                .extend(std::iter::from_fn(|| self.engine.poll_event()));
            if let Some(t) = self.engine.poll_transmit(self.now, &mut buf) {
                self.now += self.per_packet;
                let bytes = buf[..t.len].to_vec();
                self.observe(&bytes);
                for r in self.rx.iter_mut() {
                    let to_me =
                        *t.dest.ip() == r.ip || *t.dest.ip() == GROUP || *t.dest.ip() == BCAST;
                    if !to_me || r.rng.chance(r.loss_in) {
                        continue;
                    }
                    for a in r.on_packet(&bytes) {
                        if !r.rng.chance(r.loss_out) {
                            self.inbound.push_back((
                                self.now + self.latency,
                                SocketAddrV4::new(r.ip, 9000),
                                a,
                            ));
                        }
                    }
                }
                continue;
            }
            // Idle: jump to the next thing that happens.
            let mut next = self.now + Duration::from_secs(1);
            if let Some((t, _, _)) = self.inbound.front() {
                next = next.min(*t);
            }
            if let Some(d) = self.engine.next_deadline() {
                next = next.min(d);
            }
            self.now = next.max(self.now + Duration::from_micros(1));
        }
        self.deliver_inbound();
        self.events
            .extend(std::iter::from_fn(|| self.engine.poll_event()));
    }

    fn deliver_inbound(&mut self) {
        while let Some((t, _, _)) = self.inbound.front() {
            if *t > self.now {
                break;
            }
            let Some((_, from, bytes)) = self.inbound.pop_front() else {
                break;
            };
            self.engine.handle(self.now, from, &bytes);
        }
    }

    /// Window check: no DATA more than one slice ahead of the slowest
    /// receiver still taking part.
    fn observe(&mut self, bytes: &[u8]) {
        if let Ok(SenderMessage::Data(h, _)) = SenderMessage::parse(bytes) {
            let dropped: Vec<Ipv4Addr> = self
                .events
                .iter()
                .filter_map(|e| match e {
                    Event::ReceiverDropped { ip, .. } => Some(*ip),
                    _ => None,
                })
                .collect();
            for r in self.rx.iter().filter(|r| r.client.is_some() && !r.done) {
                if dropped.contains(&r.ip) || r.dies_at.is_some() {
                    continue;
                }
                self.max_ahead_seen = self.max_ahead_seen.max(h.slice.saturating_sub(r.next));
            }
        }
    }

    /// Seconds from the start of the transfer to its end.
    fn transfer_seconds(&self) -> f64 {
        self.events
            .iter()
            .find_map(|e| match e {
                Event::TransferFinished { seconds, .. } => Some(*seconds),
                _ => None,
            })
            .unwrap_or(f64::INFINITY)
    }

    fn outcome(&self) -> Option<Outcome> {
        self.events.iter().find_map(|e| match e {
            Event::TransferFinished { outcome, .. } => Some(outcome.clone()),
            _ => None,
        })
    }

    fn dropped(&self) -> Vec<(Ipv4Addr, DropReason)> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::ReceiverDropped { ip, reason, .. } => Some((*ip, *reason)),
                _ => None,
            })
            .collect()
    }
}

fn receivers(n: usize, loss: f64) -> Vec<SimRx> {
    (1..=n)
        .map(|i| SimRx::new(i, loss, i as u64 * 31))
        .collect()
}

fn assert_all_received(sim: &Sim, except: &[usize]) {
    for (i, r) in sim.rx.iter().enumerate() {
        if except.contains(&(i + 1)) {
            continue;
        }
        assert!(
            r.aborted.is_none(),
            "receiver {} aborted: {:?}",
            i + 1,
            r.aborted
        );
        assert!(r.done, "receiver {} not done", i + 1);
        assert!(r.data == sim.image, "receiver {} got different data", i + 1);
    }
}

#[test]
fn five_receivers_no_loss() {
    let mut c = cfg(64);
    c.start.min_clients = 5;
    let mut sim = Sim::new(c, receivers(5, 0.0), 3_000_000 + 77);
    sim.run(Duration::from_secs(60));
    assert_eq!(sim.outcome(), Some(Outcome::Complete));
    assert_all_received(&sim, &[]);
    assert!(
        sim.max_ahead_seen <= 1,
        "window exceeded: {}",
        sim.max_ahead_seen
    );
    let finished = sim
        .events
        .iter()
        .filter(|e| matches!(e, Event::ReceiverFinished { .. }))
        .count();
    assert_eq!(finished, 5);
}

#[test]
fn lossy_network_still_delivers_everything() {
    for (loss, seed) in [(0.01, 1u64), (0.05, 2), (0.2, 3)] {
        let mut c = cfg(128);
        c.start.min_clients = 8;
        let mut rx = receivers(8, loss);
        for r in &mut rx {
            r.rng = Rng::new(seed * 1000 + u64::from(r.ip.octets()[3]));
        }
        let mut sim = Sim::new(c, rx, 2_000_000);
        sim.rng = Rng::new(seed);
        sim.run(Duration::from_secs(600));
        assert_eq!(sim.outcome(), Some(Outcome::Complete), "loss {loss}");
        assert_eq!(sim.dropped(), vec![], "loss {loss}: nobody stands out");
        assert_all_received(&sim, &[]);
        assert!(sim.max_ahead_seen <= 1);
    }
}

#[test]
fn slow_receiver_is_dropped_and_the_others_keep_their_pace() {
    let size = 8_000_000;
    let mut c = cfg(128);
    c.start.min_clients = 4;

    let mut rx = receivers(4, 0.0);
    rx[0].loss_in = 0.9; // a link at a tenth of the rate
    let mut sim = Sim::new(c, rx, size);
    sim.run(Duration::from_secs(600));
    assert_eq!(sim.outcome(), Some(Outcome::Complete));
    assert_all_received(&sim, &[1]);
    let dropped = sim.dropped();
    assert_eq!(dropped.len(), 1, "{dropped:?}");
    assert_eq!(dropped[0].0, receiver_ip(1));
    assert!(matches!(dropped[0].1, DropReason::Slow { .. }));
    // 10 MB/s on the wire: the transfer takes about a second.
    let mut c2 = cfg(128);
    c2.start.min_clients = 4;
    c2.slow = Some(SlowPolicy {
        budget: Duration::from_millis(50),
        ..SlowPolicy::default()
    });
    let mut base = Sim::new(c2.clone(), receivers(4, 0.0), size);
    base.per_packet = Duration::from_micros(100);
    base.run(Duration::from_secs(600));
    let t_base = base.transfer_seconds();
    let mut rx = receivers(4, 0.0);
    rx[0].loss_in = 0.9;
    let mut sim = Sim::new(c2, rx, size);
    sim.per_packet = Duration::from_micros(100);
    sim.run(Duration::from_secs(600));
    assert_all_received(&sim, &[1]);
    let ratio = sim.transfer_seconds() / t_base;
    assert!(ratio < 1.3, "ratio {ratio}");
}

#[test]
fn without_slow_policy_everybody_waits_for_the_slowest() {
    let mut c = cfg(64);
    c.start.min_clients = 3;
    c.slow = None;
    let mut rx = receivers(3, 0.0);
    rx[0].loss_in = 0.5;
    let mut sim = Sim::new(c, rx, 1_000_000);
    sim.run(Duration::from_secs(600));
    assert_eq!(sim.outcome(), Some(Outcome::Complete));
    assert_all_received(&sim, &[]);
    assert!(sim.dropped().is_empty());
}

#[test]
fn silent_receiver_is_dropped_others_finish() {
    let mut c = cfg(64);
    c.start.min_clients = 3;
    c.slow = None;
    c.answer_timeout = Duration::from_secs(3);
    let mut rx = receivers(3, 0.0);
    rx[1].dies_at = Some(5);
    let mut sim = Sim::new(c, rx, 2_000_000);
    sim.run(Duration::from_secs(600));
    assert_eq!(sim.outcome(), Some(Outcome::Complete));
    assert_all_received(&sim, &[2]);
    let d = sim.dropped();
    assert_eq!(d.len(), 1);
    assert!(matches!(d[0].1, DropReason::Timeout { silent_ms } if silent_ms >= 3000));
}

#[test]
fn receiver_that_lost_its_connect_replies_is_connected_early() {
    // Its first reply and the one answering the start HELLO get lost: the
    // CONNECT_REQ it sent on that HELLO is no answer in the data phase, so
    // the early-transfer resend still reaches it.
    let mut c = cfg(64);
    c.start.min_clients = 3;
    let mut rx = receivers(3, 0.0);
    rx[2].lose_replies = 2;
    let mut sim = Sim::new(c, rx, 2_000_000);
    sim.run(Duration::from_secs(600));
    assert_eq!(sim.outcome(), Some(Outcome::Complete));
    assert_all_received(&sim, &[]);
    assert!(sim.dropped().is_empty(), "{:?}", sim.dropped());
}

#[test]
fn receiver_that_never_got_a_reply_is_told_to_give_up() {
    let mut c = cfg(64);
    c.start.min_clients = 3;
    c.answer_timeout = Duration::from_secs(3);
    let mut rx = receivers(3, 0.0);
    rx[1].lose_replies = usize::MAX;
    let mut sim = Sim::new(c, rx, 2_000_000);
    sim.run(Duration::from_secs(600));
    assert_eq!(sim.outcome(), Some(Outcome::Complete));
    assert_all_received(&sim, &[2]);
    let d = sim.dropped();
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0].0, receiver_ip(2));
    // It still waits for a CONNECT_REPLY: the end-of-round "give up"
    // datagrams carry one for it, before the REQACK far ahead.
    let replies = sim.engine.kick_replies();
    assert_eq!(replies.len(), 1);
    assert_eq!(*replies[0].0.ip(), receiver_ip(2));
    match SenderMessage::parse(&replies[0].1) {
        Ok(SenderMessage::ConnectReply(r)) => assert_eq!(r.client, 1),
        other => panic!("{other:?}"),
    }
    // It is the one dropped receiver that may still be waiting.
    assert_eq!(sim.engine.dropped_alive(), 1);
}

#[test]
fn lone_dead_receiver_ends_the_round() {
    let mut c = cfg(64);
    c.answer_timeout = Duration::from_secs(2);
    let mut rx = receivers(1, 0.0);
    rx[0].dies_at = Some(3);
    let mut sim = Sim::new(c, rx, 2_000_000);
    sim.run(Duration::from_secs(600));
    assert_eq!(sim.outcome(), Some(Outcome::NoReceivers));
    assert_eq!(sim.engine.phase(), Phase::Finished);
    assert!(sim.elapsed() < Duration::from_secs(10));
}

#[test]
fn fec_slices_complete() {
    let mut c = cfg(0);
    let fec = FecConfig {
        stripes: 4,
        redundancy: 2,
        stripe_size: 32,
    };
    c.fec = Some(fec);
    c.slice_blocks = fec.slice_blocks();
    c.start.min_clients = 2;
    let mut sim = Sim::new(c, receivers(2, 0.01), 700_000);
    // Feed slices with FEC like the reader thread does.
    let mut buf = vec![0u8; 70_000];
    let mut fec_seen = 0;
    let image = sim.image.clone();
    let mut offset = 0;
    while sim.engine.phase() != Phase::Finished && sim.elapsed() < Duration::from_secs(60) {
        while sim.engine.wants_data() {
            let end = (offset + sim.engine.config().slice_bytes()).min(image.len());
            sim.engine
                .push_slice(SliceData::with_fec(&fec, BS, image[offset..end].to_vec()))
                .unwrap();
            offset = end;
        }
        sim.offset = image.len();
        sim.deliver_inbound();
        if sim.engine.next_deadline().is_some_and(|d| d <= sim.now) {
            sim.engine.handle_timeout(sim.now);
        }
        match sim.engine.poll_transmit(sim.now, &mut buf) {
            Some(t) => {
                sim.now += sim.per_packet;
                let bytes = buf[..t.len].to_vec();
                if bytes[..2] == [0, 9] {
                    fec_seen += 1;
                }
                for r in sim.rx.iter_mut() {
                    let to_me =
                        *t.dest.ip() == r.ip || *t.dest.ip() == GROUP || *t.dest.ip() == BCAST;
                    if to_me && !r.rng.chance(r.loss_in) {
                        for a in r.on_packet(&bytes) {
                            sim.inbound
                                .push_back((sim.now, SocketAddrV4::new(r.ip, 9000), a));
                        }
                    }
                }
            }
            None => {
                let mut next = sim.now + Duration::from_millis(1);
                if let Some(d) = sim.engine.next_deadline() {
                    next = next.min(d.max(sim.now + Duration::from_micros(1)));
                }
                sim.now = next;
            }
        }
    }
    sim.events
        .extend(std::iter::from_fn(|| sim.engine.poll_event()));
    assert_eq!(sim.outcome(), Some(Outcome::Complete));
    assert_all_received(&sim, &[]);
    // 700 000 bytes = 684 blocks: 5 full slices of 128 blocks (8 FEC
    // blocks each) and one of 44 blocks (8 as well: every stripe has data).
    assert_eq!(fec_seen, 6 * 8);
}

// ------------------------------------------------------------- waiting phase

fn hello_count(engine: &mut Engine, now: Instant) -> usize {
    let mut buf = [0u8; 2000];
    let mut n = 0;
    while let Some(t) = engine.poll_transmit(now, &mut buf) {
        if buf[..2] == [5, 0] {
            assert_eq!(t.dest, SocketAddrV4::new(BCAST, 9000));
            n += 1;
        }
    }
    n
}

fn connect(engine: &mut Engine, now: Instant, i: usize) {
    let req = ReceiverMessage::ConnectReq { caps: 9, rcvbuf: 0 }.encode();
    engine.handle(now, SocketAddrV4::new(receiver_ip(i), 9000), &req);
}

fn started(engine: &mut Engine) -> Option<StartReason> {
    std::iter::from_fn(|| engine.poll_event()).find_map(|e| match e {
        Event::TransferStarted { reason, .. } => Some(reason),
        _ => None,
    })
}

#[test]
fn hello_is_repeated_while_waiting() {
    let t0 = Instant::now();
    let mut e = Engine::new(cfg(64), 1, t0);
    let mut n = 0;
    let mut now = t0;
    while now <= t0 + Duration::from_millis(3500) {
        n += hello_count(&mut e, now);
        now += Duration::from_millis(100);
    }
    assert_eq!(n, 4, "t = 0, 1, 2, 3 s");
}

#[test]
fn linbo_start_rules() {
    let mut c = cfg(64);
    c.start = StartRules::default(); // 15 / 30 s / 60 s
    let t0 = Instant::now();
    let at = |s: u64| t0 + Duration::from_secs(s);

    // Few receivers: MAXSECONDS after the first connection.
    let mut e = Engine::new(c.clone(), 1, t0);
    connect(&mut e, at(5), 1);
    connect(&mut e, at(20), 2);
    for s in 5..65 {
        e.handle_timeout(at(s));
        assert_eq!(e.phase(), Phase::Waiting, "started early at {s} s");
    }
    e.handle_timeout(at(65));
    assert_eq!(e.phase(), Phase::Transferring);
    assert_eq!(started(&mut e), Some(StartReason::MaxWait));

    // Enough receivers: MINSECONDS after the first connection.
    let mut e = Engine::new(c.clone(), 1, t0);
    for i in 1..=15 {
        connect(&mut e, at(1), i);
    }
    e.handle_timeout(at(30));
    assert_eq!(e.phase(), Phase::Waiting, "30 s counted from t = 1");
    e.handle_timeout(at(31));
    assert_eq!(e.phase(), Phase::Transferring);
    assert_eq!(started(&mut e), Some(StartReason::MinClients));
}

#[test]
fn go_starts_at_once_and_only_from_a_participant() {
    let mut c = cfg(64);
    c.start = StartRules::default();
    let t0 = Instant::now();
    let mut e = Engine::new(c, 1, t0);
    let go = ReceiverMessage::Go.encode();
    e.handle(t0, SocketAddrV4::new(receiver_ip(9), 9000), &go);
    assert_eq!(e.phase(), Phase::Waiting, "GO from a stranger");
    connect(&mut e, t0, 1);
    e.handle(t0, SocketAddrV4::new(receiver_ip(1), 9000), &go);
    assert_eq!(e.phase(), Phase::Transferring);
    assert_eq!(
        started(&mut e),
        Some(StartReason::Go { ip: receiver_ip(1) })
    );
}

#[test]
fn connect_reply_is_idempotent_and_disconnect_while_waiting_leaves() {
    let mut c = cfg(64);
    c.start = StartRules::default();
    let t0 = Instant::now();
    let mut e = Engine::new(c, 1, t0);
    let mut buf = [0u8; 2000];
    let mut replies = Vec::new();
    for i in [1, 2, 1] {
        connect(&mut e, t0, i);
        while let Some(t) = e.poll_transmit(t0, &mut buf) {
            if buf[..2] == [0, 7] {
                replies.push((
                    *t.dest.ip(),
                    u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]),
                ));
            }
        }
    }
    assert_eq!(
        replies,
        vec![
            (receiver_ip(1), 0),
            (receiver_ip(2), 1),
            (receiver_ip(1), 0)
        ]
    );
    assert_eq!(e.receivers(), 2);
    let bye = ReceiverMessage::Disconnect.encode();
    e.handle(t0, SocketAddrV4::new(receiver_ip(1), 9000), &bye);
    e.handle(t0, SocketAddrV4::new(receiver_ip(2), 9000), &bye);
    assert_eq!(e.receivers(), 0);
    // Nobody left: the wait clock restarts with the next connection.
    connect(&mut e, t0 + Duration::from_secs(50), 3);
    e.handle_timeout(t0 + Duration::from_secs(61));
    assert_eq!(e.phase(), Phase::Waiting);
    e.handle_timeout(t0 + Duration::from_secs(110));
    assert_eq!(e.phase(), Phase::Transferring);
}

#[test]
fn late_joiner_gets_no_reply_and_is_reported() {
    let t0 = Instant::now();
    let mut e = Engine::new(cfg(64), 1, t0);
    connect(&mut e, t0, 1);
    assert_eq!(e.phase(), Phase::Transferring);
    let mut buf = [0u8; 2000];
    while e.poll_transmit(t0, &mut buf).is_some() {}
    connect(&mut e, t0, 2);
    connect(&mut e, t0, 2);
    while let Some(t) = e.poll_transmit(t0, &mut buf) {
        assert_ne!(*t.dest.ip(), receiver_ip(2), "late joiner answered");
    }
    let late: Vec<Event> = std::iter::from_fn(|| e.poll_event())
        .filter(|e| matches!(e, Event::LateJoiner { .. }))
        .collect();
    assert_eq!(late, vec![Event::LateJoiner { ip: receiver_ip(2) }]);
}

#[test]
fn client_1025_is_refused() {
    let mut c = cfg(64);
    c.start = StartRules::default();
    let t0 = Instant::now();
    let mut e = Engine::new(c, 1, t0);
    let mut buf = [0u8; 2000];
    let mut last = None;
    for i in 0..1025u32 {
        let ip = Ipv4Addr::from(0x0a00_0000 + i + 1);
        let req = ReceiverMessage::ConnectReq { caps: 9, rcvbuf: 0 }.encode();
        e.handle(t0, SocketAddrV4::new(ip, 9000), &req);
        while let Some(t) = e.poll_transmit(t0, &mut buf) {
            if buf[..2] == [0, 7] {
                last = Some((
                    *t.dest.ip(),
                    u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]),
                ));
            }
        }
    }
    assert_eq!(e.receivers(), 1024);
    assert_eq!(
        last,
        Some((Ipv4Addr::from(0x0a00_0000 + 1025), CLIENT_REFUSED))
    );
}

#[test]
fn status_reports_per_receiver_progress() {
    let mut c = cfg(64);
    c.start.min_clients = 3;
    let mut sim = Sim::new(c, receivers(3, 0.0), 500_000);
    sim.run(Duration::from_secs(60));
    let st = sim.engine.status(sim.now);
    assert_eq!(st.phase, Phase::Finished);
    assert_eq!(st.bytes_sent, 500_000);
    assert_eq!(st.receivers.len(), 3);
    for r in &st.receivers {
        assert_eq!(r.bytes_acked, 500_000);
        assert_eq!(r.state, bootbox_udpcast::ReceiverState::Finished);
    }
    let json = serde_json::to_string(&st.receivers[0]).unwrap();
    assert!(json.contains("\"state\":\"finished\""), "{json}");
}

#[test]
fn end_marker_waits_for_every_slice_and_goodbye_means_finished() {
    let t0 = Instant::now();
    let mut c = cfg(4);
    c.start.min_clients = 2;
    let mut e = Engine::new(c, 1, t0);
    connect(&mut e, t0, 1);
    connect(&mut e, t0, 2);
    let now = t0 + Duration::from_secs(1);
    let mut buf = vec![0u8; 4096];
    e.push_slice(SliceData::new(vec![7; 1000])).unwrap();
    let mut reqacks = Vec::new();
    let mut pump = |e: &mut Engine, reqacks: &mut Vec<(u32, u32)>| {
        while e.wants_data() {
            e.push_slice(SliceData::new(Vec::new())).unwrap();
        }
        while let Some(t) = e.poll_transmit(now, &mut buf) {
            if let Ok(SenderMessage::ReqAck(r)) = SenderMessage::parse(&buf[..t.len]) {
                reqacks.push((r.slice, r.bytes));
            }
        }
    };
    pump(&mut e, &mut reqacks);
    assert_eq!(
        reqacks,
        vec![(0, 1000)],
        "no end marker while slice 0 is open"
    );
    let from = |i| SocketAddrV4::new(receiver_ip(i), 9000);
    e.handle(now, from(1), &ReceiverMessage::Ok { slice: 0 }.encode());
    pump(&mut e, &mut reqacks);
    assert_eq!(reqacks.len(), 1);
    e.handle(now, from(2), &ReceiverMessage::Ok { slice: 0 }.encode());
    pump(&mut e, &mut reqacks);
    assert_eq!(reqacks, vec![(0, 1000), (1, 0)]);
    // Receiver 1 acknowledges the end; receiver 2's OK got lost, its
    // DISCONNECT arrives: it has everything.
    e.handle(now, from(1), &ReceiverMessage::Ok { slice: 1 }.encode());
    e.handle(now, from(2), &ReceiverMessage::Disconnect.encode());
    assert_eq!(e.phase(), Phase::Finished);
    assert_eq!(e.outcome(), Some(&Outcome::Complete));
    let finished = std::iter::from_fn(|| e.poll_event())
        .filter(|ev| matches!(ev, Event::ReceiverFinished { .. }))
        .count();
    assert_eq!(finished, 2);
    // The "give up" message is a REQACK far ahead of the stream.
    let t = e.kick_message(&mut buf).unwrap();
    match SenderMessage::parse(&buf[..t.len]) {
        Ok(SenderMessage::ReqAck(r)) => assert!(r.slice >= 2 + 3),
        other => panic!("{other:?}"),
    }
}

#[test]
fn disconnect_mid_transfer_is_a_drop() {
    let t0 = Instant::now();
    let mut c = cfg(4);
    c.start.min_clients = 2;
    let mut e = Engine::new(c, 1, t0);
    connect(&mut e, t0, 1);
    connect(&mut e, t0, 2);
    e.handle(
        t0,
        SocketAddrV4::new(receiver_ip(2), 9000),
        &ReceiverMessage::Disconnect.encode(),
    );
    let dropped: Vec<Event> = std::iter::from_fn(|| e.poll_event())
        .filter(|ev| matches!(ev, Event::ReceiverDropped { .. }))
        .collect();
    assert!(matches!(
        dropped.as_slice(),
        [Event::ReceiverDropped {
            reason: DropReason::Disconnected,
            ..
        }]
    ));
    assert_eq!(e.phase(), Phase::Transferring, "receiver 1 goes on");
}
