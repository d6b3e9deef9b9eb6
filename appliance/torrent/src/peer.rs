//! One peer connection of the seeder: handshake, greeting, then a reader
//! (requests, cancels, the peer's state) and a writer (blocks, keep-alives)
//! running side by side in the connection's task.
//!
//! Wire behaviour, chosen for ctorrent, aria2c and Transmission:
//! * answer the handshake after its first 48 bytes; reserved bytes all zero
//!   except the BEP 10 bit when the peer set it (no fast extension, no DHT);
//! * then one write: BITFIELD of exactly ⌈pieces/8⌉ bytes, the BEP 10
//!   extended handshake (only if both set the bit), UNCHOKE. We never choke
//!   and never send HAVE;
//! * serve every REQUEST of 1..=128 KiB that lies inside its piece, in
//!   order, by positioned reads of the image file (contiguous requests are
//!   read together, up to 256 KiB);
//! * CANCEL removes a queued request; INTERESTED / NOT INTERESTED, HAVE and
//!   BITFIELD only update statistics; CHOKE, UNCHOKE, PIECE, PORT,
//!   extended and unknown ids are ignored;
//! * a peer that has every piece is disconnected (two seeds have nothing to
//!   say to each other, ctorrent does the same).

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::os::unix::fs::FileExt;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::timeout;
use tracing::debug;

use crate::bencode::Value;
use crate::ratelimit::RateLimiter;
use crate::seeder::{Seeded, Shared, Slot};
use crate::stats::{client_tag, Counters, DisconnectReason, SeederEvent};
use crate::wire::{self, Block, Handshake, Message, HANDSHAKE_PREFIX_LEN, MAX_BLOCK_LEN};

/// Contiguous requests are read and sent together up to this many bytes.
const MAX_BATCH: u32 = 256 * 1024;

/// Runs one accepted connection to its end.
pub(crate) async fn serve(
    shared: Arc<Shared>,
    mut stream: TcpStream,
    peer: SocketAddr,
    _slot: Slot,
) {
    let mut shutdown = shared.shutdown.clone();
    let handshaken = tokio::select! {
        h = handshake(&shared, &mut stream) => h,
        _ = shutdown.wait_for(|stop| *stop) => Err(DisconnectReason::Shutdown),
    };
    let (torrent, reserved, peer_id) = match handshaken {
        Ok(t) => t,
        Err(reason) => {
            shared.refuse(peer, reason);
            return;
        }
    };
    let info_hash = torrent.metainfo.info_hash();
    let counters = &torrent.counters;
    Counters::inc(&counters.peers, 1);
    Counters::inc(&counters.connections_total, 1);
    let client = client_tag(&peer_id);
    debug!(%peer, %info_hash, %client, "peer connected");
    shared.observer.on_event(SeederEvent::PeerConnected {
        info_hash,
        peer,
        client,
    });

    let started = Instant::now();
    let mut session = Session {
        shared: &shared,
        torrent: &torrent,
        peer,
        state: PeerState::default(),
        bytes_sent: 0,
        blocks_sent: 0,
    };
    let reason = session
        .run(stream, Handshake::supports_extensions(&reserved))
        .await;
    let (bytes_sent, blocks_sent) = (session.bytes_sent, session.blocks_sent);
    session.state.set_active(false, counters);
    Counters::dec(&counters.peers);
    debug!(%peer, %info_hash, %reason, bytes_sent, "peer disconnected");
    shared.observer.on_event(SeederEvent::PeerDisconnected {
        info_hash,
        peer,
        bytes_sent,
        blocks_sent,
        duration: started.elapsed(),
        reason,
    });
}

/// Reads the peer's handshake, answers it; returns the torrent, the peer's
/// reserved bytes and its id.
async fn handshake(
    shared: &Shared,
    stream: &mut TcpStream,
) -> Result<(Arc<Seeded>, [u8; 8], [u8; 20]), DisconnectReason> {
    let limit = shared.config.handshake_timeout;
    let mut prefix = [0u8; HANDSHAKE_PREFIX_LEN];
    read_exact_timeout(stream, &mut prefix, limit).await?;
    let (reserved, info_hash) =
        Handshake::parse_prefix(&prefix).map_err(|_| DisconnectReason::NotBitTorrent)?;
    let torrent = shared
        .torrent(&info_hash)
        .ok_or(DisconnectReason::UnknownInfoHash(info_hash))?;
    let mut ours = [0u8; 8];
    if Handshake::supports_extensions(&reserved) {
        ours[wire::EXTENSION_BIT.0] |= wire::EXTENSION_BIT.1;
    }
    let reply = Handshake {
        reserved: ours,
        info_hash,
        peer_id: shared.config.peer_id,
    };
    stream.write_all(&reply.encode()).await.map_err(io_reason)?;
    let mut peer_id = [0u8; 20];
    read_exact_timeout(stream, &mut peer_id, limit).await?;
    if peer_id == shared.config.peer_id {
        return Err(DisconnectReason::SelfConnection);
    }
    Ok((torrent, reserved, peer_id))
}

async fn read_exact_timeout(
    stream: &mut TcpStream,
    buf: &mut [u8],
    limit: std::time::Duration,
) -> Result<(), DisconnectReason> {
    match timeout(limit, stream.read_exact(buf)).await {
        Err(_) => Err(DisconnectReason::Timeout),
        Ok(Err(e)) => Err(io_reason(e)),
        Ok(Ok(_)) => Ok(()),
    }
}

fn io_reason(e: io::Error) -> DisconnectReason {
    match e.kind() {
        io::ErrorKind::UnexpectedEof
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::BrokenPipe => DisconnectReason::PeerClosed,
        _ => DisconnectReason::Io(e.to_string()),
    }
}

/// What we know of the peer.
#[derive(Default)]
struct PeerState {
    interested: bool,
    /// Counted in `active_downloads`.
    active: bool,
    /// Pieces the peer has (one bit each), allocated on first HAVE/BITFIELD.
    have: Vec<u8>,
    have_count: u32,
}

impl PeerState {
    fn set_active(&mut self, active: bool, counters: &Counters) {
        if active != self.active {
            self.active = active;
            if active {
                Counters::inc(&counters.active_downloads, 1);
            } else {
                Counters::dec(&counters.active_downloads);
            }
        }
    }
}

/// Requests waiting to be served, shared by reader and writer.
#[derive(Default)]
struct RequestQueue {
    blocks: Mutex<VecDeque<Block>>,
    notify: Notify,
}

impl RequestQueue {
    /// Queues a request; `false` if the queue is full.
    fn push(&self, block: Block, max: usize) -> bool {
        let mut q = self.blocks.lock().unwrap_or_else(PoisonError::into_inner);
        if q.len() >= max {
            return false;
        }
        q.push_back(block);
        drop(q);
        self.notify.notify_one();
        true
    }

    fn cancel(&self, block: &Block) {
        let mut q = self.blocks.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(pos) = q.iter().position(|b| b == block) {
            q.remove(pos);
        }
    }

    /// Waits for requests; returns the first and those directly following
    /// it in the same piece, up to [`MAX_BATCH`] bytes.
    async fn next_batch(&self) -> Vec<Block> {
        loop {
            {
                let mut q = self.blocks.lock().unwrap_or_else(PoisonError::into_inner);
                if let Some(first) = q.pop_front() {
                    let mut batch = vec![first];
                    let mut end = first.begin + first.length;
                    let mut total = first.length;
                    while let Some(next) = q.front().copied() {
                        if next.index != first.index
                            || next.begin != end
                            || total + next.length > MAX_BATCH
                        {
                            break;
                        }
                        q.pop_front();
                        batch.push(next);
                        end += next.length;
                        total += next.length;
                    }
                    return batch;
                }
            }
            self.notify.notified().await;
        }
    }
}

struct Session<'a> {
    shared: &'a Shared,
    torrent: &'a Seeded,
    peer: SocketAddr,
    state: PeerState,
    bytes_sent: u64,
    blocks_sent: u64,
}

impl Session<'_> {
    async fn run(&mut self, stream: TcpStream, extensions: bool) -> DisconnectReason {
        let (rd, mut wr) = stream.into_split();
        let mut greeting = Vec::with_capacity(self.torrent.bitfield.len() + 128);
        Message::Bitfield(self.torrent.bitfield.clone()).encode_into(&mut greeting);
        if extensions {
            Message::Extended {
                ext_id: 0,
                payload: self.extended_handshake(),
            }
            .encode_into(&mut greeting);
        }
        Message::Unchoke.encode_into(&mut greeting);
        if let Err(e) = wr.write_all(&greeting).await {
            return io_reason(e);
        }

        let queue = RequestQueue::default();
        let mut shutdown = self.shared.shutdown.clone();
        let mut removed = self.torrent.removed.subscribe();
        let shared = self.shared;
        let torrent = self.torrent;
        let peer_limiter = shared
            .config
            .peer_upload_limit
            .map(|r| RateLimiter::new(Some(r)));
        let mut sent = (0u64, 0u64);
        let reason = {
            let reader = read_loop(shared, torrent, self.peer, rd, &queue, &mut self.state);
            let writer = write_loop(
                shared,
                torrent,
                wr,
                &queue,
                peer_limiter.as_ref(),
                &mut sent,
            );
            tokio::select! {
                r = reader => r,
                r = writer => r,
                _ = shutdown.wait_for(|stop| *stop) => DisconnectReason::Shutdown,
                _ = removed.wait_for(|gone| *gone) => DisconnectReason::Removed,
            }
        };
        (self.bytes_sent, self.blocks_sent) = sent;
        reason
    }

    /// `d1:md e 4:reqq i<n> e 1:v <client> e`: no extension messages, our
    /// request queue length, our name.
    fn extended_handshake(&self) -> Vec<u8> {
        let mut d = std::collections::BTreeMap::new();
        d.insert(b"m".to_vec(), Value::Dict(Default::default()));
        d.insert(
            b"reqq".to_vec(),
            Value::Int(self.shared.config.max_queued_requests as i64),
        );
        d.insert(
            b"v".to_vec(),
            Value::str(concat!("Bootbox ", env!("CARGO_PKG_VERSION"))),
        );
        Value::Dict(d).encode()
    }
}

async fn read_loop(
    shared: &Shared,
    torrent: &Seeded,
    peer: SocketAddr,
    rd: OwnedReadHalf,
    queue: &RequestQueue,
    state: &mut PeerState,
) -> DisconnectReason {
    let meta = &torrent.metainfo;
    let pieces = meta.piece_count();
    let max_frame = (MAX_BLOCK_LEN as usize + 9).max(torrent.bitfield.len() + 1);
    let idle = shared.config.idle_timeout;
    let mut rd = BufReader::with_capacity(64 * 1024, rd);
    let mut buf = Vec::new();
    loop {
        let len = match timeout(idle, rd.read_u32()).await {
            Err(_) => return DisconnectReason::Timeout,
            Ok(Err(e)) => return io_reason(e),
            Ok(Ok(len)) => len as usize,
        };
        if len > max_frame {
            return DisconnectReason::Protocol(format!("message of {len} bytes"));
        }
        buf.resize(len, 0);
        match timeout(idle, rd.read_exact(&mut buf)).await {
            Err(_) => return DisconnectReason::Timeout,
            Ok(Err(e)) => return io_reason(e),
            Ok(Ok(_)) => {}
        }
        let msg = match Message::parse(&buf) {
            Ok(m) => m,
            Err(e) => return DisconnectReason::Protocol(e.to_string()),
        };
        match msg {
            Message::Request(b) => {
                let fits = meta.piece_size(b.index).is_some_and(|size| {
                    b.length > 0
                        && b.length <= MAX_BLOCK_LEN
                        && b.begin.checked_add(b.length).is_some_and(|end| end <= size)
                });
                if !fits {
                    return DisconnectReason::Protocol(format!(
                        "bad request piece {} offset {} length {}",
                        b.index, b.begin, b.length
                    ));
                }
                if !queue.push(b, shared.config.max_queued_requests) {
                    return DisconnectReason::TooManyRequests;
                }
            }
            Message::Cancel(b) => queue.cancel(&b),
            Message::Interested => {
                state.interested = true;
                let complete = state.have_count >= pieces;
                state.set_active(!complete, &torrent.counters);
            }
            Message::NotInterested => {
                state.interested = false;
                state.set_active(false, &torrent.counters);
            }
            Message::Have(index) => {
                if index >= pieces {
                    return DisconnectReason::Protocol(format!("HAVE {index} of {pieces} pieces"));
                }
                if state.have.is_empty() {
                    state.have = vec![0; torrent.bitfield.len()];
                }
                let (byte, bit) = ((index / 8) as usize, 0x80u8 >> (index % 8));
                if state.have[byte] & bit == 0 {
                    state.have[byte] |= bit;
                    state.have_count += 1;
                    if state.have_count == pieces {
                        Counters::inc(&torrent.counters.peers_completed, 1);
                        shared.observer.on_event(SeederEvent::PeerCompleted {
                            info_hash: meta.info_hash(),
                            peer,
                        });
                        return DisconnectReason::PeerComplete;
                    }
                }
            }
            Message::Bitfield(bits) => {
                if bits.len() != torrent.bitfield.len() {
                    return DisconnectReason::Protocol(format!("bitfield of {} bytes", bits.len()));
                }
                // Only the piece bits count; spare bits are ignored.
                let mut count = 0u32;
                let mut have = bits;
                for (b, full) in have.iter_mut().zip(&torrent.bitfield) {
                    *b &= full;
                    count += b.count_ones();
                }
                state.have = have;
                state.have_count = count;
                if count == pieces {
                    return DisconnectReason::PeerComplete;
                }
            }
            Message::KeepAlive
            | Message::Choke
            | Message::Unchoke
            | Message::Piece { .. }
            | Message::Port(_)
            | Message::Extended { .. }
            | Message::Unknown { .. } => {}
        }
    }
}

async fn write_loop(
    shared: &Shared,
    torrent: &Seeded,
    mut wr: OwnedWriteHalf,
    queue: &RequestQueue,
    peer_limiter: Option<&RateLimiter>,
    sent: &mut (u64, u64),
) -> DisconnectReason {
    let piece_length = u64::from(torrent.metainfo.piece_length());
    let mut out = Vec::new();
    loop {
        let batch = tokio::select! {
            batch = queue.next_batch() => batch,
            _ = tokio::time::sleep(shared.config.keepalive_interval) => {
                if let Err(e) = wr.write_all(&[0, 0, 0, 0]).await {
                    return io_reason(e);
                }
                continue;
            }
        };
        let total: u32 = batch.iter().map(|b| b.length).sum();
        shared.limiter.acquire(u64::from(total)).await;
        if let Some(limiter) = peer_limiter {
            limiter.acquire(u64::from(total)).await;
        }
        let blocks = batch.len() as u64;
        out = match read_blocks(torrent.file.clone(), piece_length, batch, out).await {
            Ok(o) => o,
            Err(e) => {
                return DisconnectReason::Io(format!("reading {}: {e}", torrent.path.display()))
            }
        };
        if let Err(e) = wr.write_all(&out).await {
            return io_reason(e);
        }
        let c = &torrent.counters;
        Counters::inc(&c.bytes_served, u64::from(total));
        Counters::inc(&c.blocks_served, blocks);
        shared
            .bytes_served
            .fetch_add(u64::from(total), Ordering::Relaxed);
        sent.0 += u64::from(total);
        sent.1 += blocks;
    }
}

/// Builds the PIECE messages of `batch` in `buf` (reused), reading each
/// block with a positioned read straight into place, on a blocking thread.
async fn read_blocks(
    file: Arc<std::fs::File>,
    piece_length: u64,
    batch: Vec<Block>,
    mut buf: Vec<u8>,
) -> io::Result<Vec<u8>> {
    tokio::task::spawn_blocking(move || {
        buf.clear();
        for b in &batch {
            let len = b.length as usize;
            Message::Piece {
                index: b.index,
                begin: b.begin,
                len,
            }
            .encode_into(&mut buf);
            let start = buf.len();
            buf.resize(start + len, 0);
            let offset = u64::from(b.index) * piece_length + u64::from(b.begin);
            file.read_exact_at(&mut buf[start..], offset)?;
        }
        Ok(buf)
    })
    .await
    .map_err(io::Error::other)?
}
