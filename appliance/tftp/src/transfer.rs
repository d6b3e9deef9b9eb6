//! The sending side of one read transfer: optional OACK, then lock-step or
//! windowed (RFC 7440) DATA with retransmission on timeout only.
//!
//! Blocks are numbered internally with a 64-bit counter starting at 1; the
//! wire number is its low 16 bits, so after 65535 it wraps to 0 (the de-facto
//! convention). The unacknowledged window is kept as ready-to-send packets
//! (at most `windowsize` × `blksize` bytes), so nothing has to be re-read:
//!
//! * after an ACK for block k of the window (the last one, or an earlier one
//!   when the client saw a gap), blocks up to k are dropped, the window is
//!   refilled and **all** its blocks are sent, i.e. sending resumes right
//!   after the last acknowledged block;
//! * an ACK that acknowledges nothing new (duplicate) or something never sent
//!   is ignored — no retransmission (Sorcerer's Apprentice);
//! * on timeout the whole window is resent, at most `retries` times in a row,
//!   then the transfer gives up;
//! * an ERROR from the client ends the transfer at once, nothing more is sent;
//! * datagrams from any other address get ERROR 5 (unknown TID) and do not
//!   disturb the transfer.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use std::pin::Pin;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::UdpSocket;

use tokio::time::{Instant, Sleep};
use tracing::debug;

use crate::event::AbortReason;
use crate::packet::{data_header, ErrorCode, Packet, DATA_HEADER_LEN};

/// Size of the receive buffer for ACK/ERROR packets (longer datagrams are
/// truncated, which only cuts long error messages).
const RECV_BUF: usize = 1536;

/// Negotiated parameters of one transfer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Params {
    pub blksize: usize,
    pub windowsize: usize,
    pub timeout: Duration,
    pub retries: u32,
}

/// How a transfer ended: bytes acknowledged, and `Ok` if the last block was
/// acknowledged.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub bytes: u64,
    pub result: Result<(), AbortReason>,
}

enum Incoming {
    Ack(u16),
    ClientError { code: u16, message: String },
    Timeout,
}

struct Sender<'a, R> {
    sock: &'a UdpSocket,
    peer: SocketAddr,
    reader: R,
    params: Params,
    /// Unacknowledged packets (header + data), blocks `acked + 1 ..`.
    window: VecDeque<Vec<u8>>,
    /// Recycled packet buffers.
    spare: Vec<Vec<u8>>,
    /// Absolute number of the last acknowledged block (0 = none).
    acked: u64,
    /// The final (short) block has been read into the window.
    eof_queued: bool,
    bytes_acked: u64,
    buf: Vec<u8>,
    /// One timer for the whole transfer, re-armed per wait (cheaper than a
    /// new timer per packet).
    timer: Pin<Box<Sleep>>,
}

/// Sends `reader` to `peer` from `sock`. If `oack` is given it is sent first
/// and ACK 0 awaited before DATA 1.
pub(crate) async fn send_file<R: AsyncRead + Unpin>(
    sock: &UdpSocket,
    peer: SocketAddr,
    reader: R,
    params: Params,
    oack: Option<Vec<u8>>,
) -> Outcome {
    let mut sender = Sender {
        sock,
        peer,
        reader,
        params,
        window: VecDeque::with_capacity(params.windowsize),
        spare: Vec::with_capacity(params.windowsize),
        acked: 0,
        eof_queued: false,
        bytes_acked: 0,
        buf: vec![0; RECV_BUF],
        timer: Box::pin(tokio::time::sleep(params.timeout)),
    };
    let mut result = Ok(());
    if let Some(oack) = oack {
        result = sender.negotiate(&oack).await;
    }
    if result.is_ok() {
        result = sender.send_data().await;
    }
    Outcome {
        bytes: sender.bytes_acked,
        result,
    }
}

/// Sends one datagram; failures are left to the retransmission timer.
async fn send(sock: &UdpSocket, peer: SocketAddr, packet: &[u8]) {
    if let Err(e) = sock.send_to(packet, peer).await {
        debug!(%peer, error = %e, "tftp send failed");
    }
}

impl<R: AsyncRead + Unpin> Sender<'_, R> {
    /// Arms the retransmission timer for one timeout from now.
    fn arm_timer(&mut self) {
        let deadline = Instant::now() + self.params.timeout;
        self.timer.as_mut().reset(deadline);
    }

    /// Waits for an ACK or ERROR from the peer until the timer fires.
    async fn recv(&mut self) -> Incoming {
        loop {
            let received = tokio::select! {
                biased;
                received = self.sock.recv_from(&mut self.buf) => Some(received),
                () = self.timer.as_mut() => None,
            };
            let (len, from) = match received {
                None => return Incoming::Timeout,
                Some(Err(e)) => {
                    debug!(peer = %self.peer, error = %e, "tftp recv failed");
                    tokio::task::yield_now().await;
                    continue;
                }
                Some(Ok(got)) => got,
            };
            let packet = Packet::parse(&self.buf[..len]);
            if from != self.peer {
                if !matches!(packet, Ok(Packet::Error { .. })) {
                    let reply = Packet::error(ErrorCode::UnknownTid, "unknown transfer ID");
                    let _ = self.sock.try_send_to(&reply.encode(), from);
                }
                continue;
            }
            match packet {
                Ok(Packet::Ack { block }) => return Incoming::Ack(block),
                Ok(Packet::Error { code, message }) => {
                    return Incoming::ClientError { code, message }
                }
                _ => continue,
            }
        }
    }

    /// Sends the OACK until ACK 0 arrives.
    async fn negotiate(&mut self, oack: &[u8]) -> Result<(), AbortReason> {
        let mut retries = 0;
        loop {
            send(self.sock, self.peer, oack).await;
            self.arm_timer();
            loop {
                match self.recv().await {
                    Incoming::Ack(0) => return Ok(()),
                    Incoming::Ack(_) => continue,
                    Incoming::ClientError { code, message } => {
                        return Err(AbortReason::ClientError { code, message })
                    }
                    Incoming::Timeout => break,
                }
            }
            retries += 1;
            if retries > self.params.retries {
                return Err(AbortReason::Timeout);
            }
        }
    }

    /// Reads the next block into the window.
    async fn read_block(&mut self) -> io::Result<()> {
        let blksize = self.params.blksize;
        let block = self.acked + self.window.len() as u64 + 1;
        let mut packet = self.spare.pop().unwrap_or_default();
        packet.clear();
        // Low 16 bits: block numbers wrap 65535 -> 0.
        packet.extend_from_slice(&data_header(block as u16));
        packet.resize(DATA_HEADER_LEN + blksize, 0);
        let mut filled = 0;
        while filled < blksize {
            let n = self
                .reader
                .read(&mut packet[DATA_HEADER_LEN + filled..])
                .await?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        packet.truncate(DATA_HEADER_LEN + filled);
        if filled < blksize {
            self.eof_queued = true;
        }
        self.window.push_back(packet);
        Ok(())
    }

    async fn send_data(&mut self) -> Result<(), AbortReason> {
        let mut retries = 0;
        loop {
            while !self.eof_queued && self.window.len() < self.params.windowsize {
                if let Err(e) = self.read_block().await {
                    let reply = Packet::error(ErrorCode::NotDefined, "read error");
                    send(self.sock, self.peer, &reply.encode()).await;
                    return Err(AbortReason::Io(format!("reading the file: {e}")));
                }
            }
            for packet in &self.window {
                send(self.sock, self.peer, packet).await;
            }
            self.arm_timer();
            loop {
                match self.recv().await {
                    Incoming::Timeout => {
                        retries += 1;
                        if retries > self.params.retries {
                            return Err(AbortReason::Timeout);
                        }
                        break;
                    }
                    Incoming::ClientError { code, message } => {
                        return Err(AbortReason::ClientError { code, message })
                    }
                    Incoming::Ack(block) => {
                        let newly = usize::from(block.wrapping_sub(self.acked as u16));
                        if newly == 0 || newly > self.window.len() {
                            // Duplicate or bogus: never retransmit on these.
                            continue;
                        }
                        for packet in self.window.drain(..newly) {
                            self.bytes_acked += (packet.len() - DATA_HEADER_LEN) as u64;
                            self.spare.push(packet);
                        }
                        self.acked += newly as u64;
                        retries = 0;
                        if self.window.is_empty() && self.eof_queued {
                            return Ok(());
                        }
                        break;
                    }
                }
            }
        }
    }
}
