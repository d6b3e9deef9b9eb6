//! What a session reports: live [`Event`]s and [`SessionStatus`] snapshots
//! with per-receiver progress. All types serialize to JSON (snake_case) for
//! the web API.

use std::net::Ipv4Addr;
use std::sync::Arc;

use serde::{Serialize, Serializer};

fn serialize_arc_str<S: Serializer>(s: &Arc<str>, ser: S) -> Result<S::Ok, S::Error> {
    ser.serialize_str(s)
}

/// Why a transfer started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StartReason {
    /// Enough receivers (MINCLIENTS) and MINSECONDS passed.
    MinClients,
    /// MAXSECONDS passed since the first receiver connected.
    MaxWait,
    /// A receiver sent GO (a key was pressed on it).
    Go {
        /// The receiver that sent it.
        ip: Ipv4Addr,
    },
}

/// Why a receiver left a running transfer early.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DropReason {
    /// It alone held the group back beyond the slow-receiver budget.
    Slow {
        /// Hold-back accumulated during the transfer, in milliseconds.
        held_back_ms: u64,
    },
    /// It stopped answering (dead, unplugged, killed).
    Timeout {
        /// Silence before it was dropped, in milliseconds.
        silent_ms: u64,
    },
    /// It sent DISCONNECT before the end (the user aborted it).
    Disconnected,
}

/// State of one receiver in the current session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ReceiverState {
    /// Connected, waiting for the transfer to start.
    Connected,
    /// The transfer is running and the receiver takes part.
    Receiving,
    /// It acknowledged the whole image.
    Finished,
    /// It was dropped from the transfer.
    Dropped {
        /// Why.
        reason: DropReason,
    },
    /// It disconnected while the session was still waiting.
    Left,
}

/// How a transfer ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Outcome {
    /// Every remaining receiver acknowledged the whole image.
    Complete,
    /// No receiver was left (all dropped or disconnected).
    NoReceivers,
    /// The image could not be read (message names the cause).
    SourceFailed {
        /// What went wrong.
        message: String,
    },
    /// The service is shutting down.
    Shutdown,
}

/// One thing that happened in a session.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The session announces itself (HELLO) and waits for receivers.
    Waiting {
        /// Session round (1 for the first transfer of this session).
        round: u64,
    },
    /// A receiver connected (CONNECT_REQ answered).
    ReceiverConnected {
        /// Its address.
        ip: Ipv4Addr,
        /// Client number given to it.
        client: u16,
        /// Receivers connected now.
        receivers: usize,
    },
    /// A waiting receiver disconnected.
    ReceiverLeft {
        /// Its address.
        ip: Ipv4Addr,
    },
    /// A receiver was refused (1024 already connected).
    ReceiverRefused {
        /// Its address.
        ip: Ipv4Addr,
    },
    /// A receiver asked to join while a transfer was running; it joins the
    /// next session when it sees that session's HELLO.
    LateJoiner {
        /// Its address.
        ip: Ipv4Addr,
    },
    /// The transfer started.
    TransferStarted {
        /// Receivers taking part.
        receivers: usize,
        /// Why it started.
        reason: StartReason,
    },
    /// A receiver acknowledged the whole image.
    ReceiverFinished {
        /// Its address.
        ip: Ipv4Addr,
        /// Bytes it acknowledged.
        bytes: u64,
        /// Seconds since the transfer started.
        seconds: f64,
    },
    /// A receiver was dropped from the transfer.
    ReceiverDropped {
        /// Its address.
        ip: Ipv4Addr,
        /// Why.
        reason: DropReason,
        /// Bytes it had acknowledged.
        bytes: u64,
        /// Seconds since the transfer started.
        seconds: f64,
    },
    /// The transfer ended.
    TransferFinished {
        /// How.
        outcome: Outcome,
        /// Image bytes sent (first transmissions).
        bytes: u64,
        /// Data blocks sent again on request.
        retransmitted_blocks: u64,
        /// REQACKs sent (one per slice and acknowledgement round).
        reqacks: u64,
        /// Rounds that ended by timeout rather than by every answer.
        round_timeouts: u64,
        /// Datagrams sent (all kinds).
        packets: u64,
        /// Bytes on the wire: UDP payload + 28 per datagram.
        wire_bytes: u64,
        /// Receivers that got everything.
        finished: usize,
        /// Receivers dropped or disconnected.
        failed: usize,
        /// Seconds from start to end.
        seconds: f64,
    },
}

/// An [`Event`] with the session it belongs to.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionEvent {
    /// Image file name (as in `multicast.list`).
    #[serde(serialize_with = "serialize_arc_str")]
    pub image: Arc<str>,
    /// Session port base.
    pub port: u16,
    /// What happened.
    #[serde(flatten)]
    pub event: Event,
}

/// One receiver's progress.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReceiverStatus {
    /// Its address.
    pub ip: Ipv4Addr,
    /// Client number.
    pub client: u16,
    /// Where it is.
    #[serde(flatten)]
    pub state: ReceiverState,
    /// Bytes it acknowledged so far.
    pub bytes_acked: u64,
    /// Blocks it asked to get again.
    pub blocks_requested: u64,
    /// Time it alone held the group back, in milliseconds.
    pub held_back_ms: u64,
}

/// Phase of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Announcing itself and collecting receivers.
    Waiting,
    /// Sending the image.
    Transferring,
    /// Transfer over; the next session starts after a short pause.
    Finished,
    /// Not running (image missing, socket error, shut down).
    Stopped,
}

/// Snapshot of one session.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionStatus {
    /// Image file name.
    #[serde(serialize_with = "serialize_arc_str")]
    pub image: Arc<str>,
    /// Port base (receivers' `--portbase`).
    pub port: u16,
    /// Where data goes.
    pub data_addr: Ipv4Addr,
    /// Current phase.
    pub phase: Phase,
    /// Session round (1 = first transfer since start).
    pub round: u64,
    /// Image size in bytes, if known.
    pub image_bytes: Option<u64>,
    /// Image bytes sent so far in this round (first transmissions).
    pub bytes_sent: u64,
    /// Data blocks sent again on request in this round.
    pub retransmitted_blocks: u64,
    /// Seconds since the first receiver connected (waiting) or since the
    /// transfer started (transferring).
    pub seconds: f64,
    /// Receivers of this round.
    pub receivers: Vec<ReceiverStatus>,
    /// How the previous round ended.
    pub last_outcome: Option<Outcome>,
    /// Last error (e.g. the image cannot be opened), if any.
    pub error: Option<String>,
}

impl SessionStatus {
    /// An empty snapshot for a session that has not run yet.
    pub fn new(image: Arc<str>, port: u16, data_addr: Ipv4Addr) -> SessionStatus {
        SessionStatus {
            image,
            port,
            data_addr,
            phase: Phase::Stopped,
            round: 0,
            image_bytes: None,
            bytes_sent: 0,
            retransmitted_blocks: 0,
            seconds: 0.0,
            receivers: Vec::new(),
            last_outcome: None,
            error: None,
        }
    }
}
