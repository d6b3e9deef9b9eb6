//! The udpcast wire format: every message a sender sends or receives.
//!
//! All multi-byte fields are big-endian. Sizes are what Debian's
//! `udp-sender`/`udp-receiver` 20120424 put on the wire (checked against
//! captures in `tests/fixtures/`): HELLO 28, CONNECT_REQ 12, CONNECT_REPLY
//! 32, OK 8, RETRANSMIT 140, GO/DISCONNECT 4, REQACK 144, DATA/FEC header
//! 16. Receiver messages shorter than their layout are rejected; trailing
//! bytes are ignored. Parsing never panics and never allocates.

use std::fmt;
use std::net::Ipv4Addr;

/// Message opcodes (16 bits at offset 0).
pub mod opcode {
    /// R→S: slice fully received.
    pub const OK: u16 = 0;
    /// R→S: slice incomplete, carries the received-blocks bitmap.
    pub const RETRANSMIT: u16 = 1;
    /// R→S: start the transfer now.
    pub const GO: u16 = 2;
    /// R→S: join request.
    pub const CONNECT_REQ: u16 = 3;
    /// R→S: receiver leaves (or has finished).
    pub const DISCONNECT: u16 = 4;
    /// S→R: "report the state of slice N".
    pub const REQACK: u16 = 6;
    /// S→R: join accepted.
    pub const CONNECT_REPLY: u16 = 7;
    /// S→R: one data block.
    pub const DATA: u16 = 8;
    /// S→R: one forward-error-correction block.
    pub const FEC: u16 = 9;
    /// S→R: hello of new-generation senders (accepted, never sent by stock senders).
    pub const HELLO_NEW: u16 = 10;
    /// S→R: hello during a running streaming transfer.
    pub const HELLO_STREAMING: u16 = 11;
    /// S→R: the hello every stock sender sends (bytes `05 00`).
    pub const HELLO: u16 = 0x0500;
}

/// Capability bits (32 bits) in HELLO, CONNECT_REQ and CONNECT_REPLY.
pub mod caps {
    /// New-generation protocol: the data address in HELLO/REPLY is honoured.
    pub const NEW_GEN: u32 = 0x0001;
    /// FEC (defined, never negotiated).
    pub const FEC: u32 = 0x0004;
    /// Big-endian byte order (the only one still spoken).
    pub const BIG_ENDIAN: u32 = 0x0008;
    /// Obsolete little-endian variant.
    pub const LITTLE_ENDIAN: u32 = 0x0010;
    /// Asynchronous mode: receivers stay passive.
    pub const ASYNC: u32 = 0x0020;
    /// What a normal (non-async) sender announces.
    pub const SENDER: u32 = NEW_GEN | BIG_ENDIAN;
}

/// HELLO length.
pub const HELLO_LEN: usize = 28;
/// CONNECT_REQ length.
pub const CONNECT_REQ_LEN: usize = 12;
/// CONNECT_REPLY length.
pub const CONNECT_REPLY_LEN: usize = 32;
/// OK length.
pub const OK_LEN: usize = 8;
/// RETRANSMIT length.
pub const RETRANSMIT_LEN: usize = 140;
/// GO and DISCONNECT length.
pub const SHORT_LEN: usize = 4;
/// REQACK length (16-byte header + 128-byte ready set).
pub const REQACK_LEN: usize = 144;
/// DATA and FEC header length (payload follows).
pub const BLOCK_HEADER_LEN: usize = 16;
/// Bytes in a block or client bitmap.
pub const BITMAP_LEN: usize = 128;
/// Most blocks in one slice (one bit each in a 128-byte bitmap).
pub const MAX_SLICE_BLOCKS: usize = BITMAP_LEN * 8;
/// Most receivers in one session (one bit each in the REQACK ready set).
pub const MAX_CLIENTS: usize = BITMAP_LEN * 8;
/// Client number in a CONNECT_REPLY meaning "too many clients".
pub const CLIENT_REFUSED: u32 = 0xFFFF_FFFF;
/// Largest block size: one DATA datagram must fit in a UDP/IPv4 datagram.
pub const MAX_BLOCK_SIZE: usize = 65_507 - BLOCK_HEADER_LEN;
/// Smallest block size: the REQACK ready set is read into a block buffer.
pub const MIN_BLOCK_SIZE: usize = BITMAP_LEN;

/// Why a datagram is not a valid message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireError {
    /// Shorter than the smallest message (2 bytes) or than its layout.
    TooShort {
        /// Opcode read (0 when not even that was there).
        opcode: u16,
        /// Bytes received.
        len: usize,
    },
    /// An opcode that is not valid in this direction.
    UnknownOpcode(u16),
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::TooShort { opcode, len } => {
                write!(f, "message (opcode {opcode:#06x}) too short: {len} bytes")
            }
            WireError::UnknownOpcode(op) => write!(f, "unknown opcode {op:#06x}"),
        }
    }
}

impl std::error::Error for WireError {}

fn be16(b: &[u8], off: usize) -> u16 {
    match b.get(off..off + 2) {
        Some(&[x, y]) => u16::from_be_bytes([x, y]),
        _ => 0,
    }
}

fn be32(b: &[u8], off: usize) -> u32 {
    match b.get(off..off + 4) {
        Some(&[a, c, d, e]) => u32::from_be_bytes([a, c, d, e]),
        _ => 0,
    }
}

fn put16(b: &mut [u8], off: usize, v: u16) {
    if let Some(dst) = b.get_mut(off..off + 2) {
        dst.copy_from_slice(&v.to_be_bytes());
    }
}

fn put32(b: &mut [u8], off: usize, v: u32) {
    if let Some(dst) = b.get_mut(off..off + 4) {
        dst.copy_from_slice(&v.to_be_bytes());
    }
}

fn need(b: &[u8], len: usize) -> Result<(), WireError> {
    if b.len() < len {
        Err(WireError::TooShort {
            opcode: be16(b, 0),
            len: b.len(),
        })
    } else {
        Ok(())
    }
}

/// A 1024-bit set in udpcast's bit order: bit `i` is byte `i / 8`, mask
/// `1 << (i % 8)` (least significant bit first). Used for the blocks of a
/// slice (RETRANSMIT: bit set = block received) and for client numbers
/// (REQACK ready set).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Bitmap([u8; BITMAP_LEN]);

impl Default for Bitmap {
    fn default() -> Self {
        Bitmap([0; BITMAP_LEN])
    }
}

impl fmt::Debug for Bitmap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl Bitmap {
    /// The empty set.
    pub fn new() -> Bitmap {
        Bitmap::default()
    }

    /// The set as it is on the wire.
    pub fn from_bytes(bytes: [u8; BITMAP_LEN]) -> Bitmap {
        Bitmap(bytes)
    }

    /// The wire bytes.
    pub fn as_bytes(&self) -> &[u8; BITMAP_LEN] {
        &self.0
    }

    /// True if bit `i` is set (false beyond 1023).
    pub fn contains(&self, i: usize) -> bool {
        self.0.get(i / 8).is_some_and(|b| b & (1 << (i % 8)) != 0)
    }

    /// Sets bit `i` (ignored beyond 1023).
    pub fn insert(&mut self, i: usize) {
        if let Some(b) = self.0.get_mut(i / 8) {
            *b |= 1 << (i % 8);
        }
    }

    /// Clears bit `i`.
    pub fn remove(&mut self, i: usize) {
        if let Some(b) = self.0.get_mut(i / 8) {
            *b &= !(1 << (i % 8));
        }
    }

    /// Clears every bit.
    pub fn clear(&mut self) {
        self.0 = [0; BITMAP_LEN];
    }

    /// Number of set bits.
    pub fn count(&self) -> usize {
        self.0.iter().map(|b| b.count_ones() as usize).sum()
    }

    /// True if no bit is set.
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|b| *b == 0)
    }

    /// Set bits in increasing order.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.0.iter().enumerate().flat_map(|(byte, bits)| {
            (0..8).filter_map(move |bit| (bits & (1 << bit) != 0).then_some(byte * 8 + bit))
        })
    }

    /// The first set bit at or after `from`.
    pub fn next_set(&self, from: usize) -> Option<usize> {
        let mut i = from;
        while i < MAX_SLICE_BLOCKS {
            let byte = self.0.get(i / 8).copied().unwrap_or(0) >> (i % 8);
            if byte == 0 {
                i = (i / 8 + 1) * 8;
                continue;
            }
            return Some(i + byte.trailing_zeros() as usize);
        }
        None
    }

    /// `self |= other`.
    pub fn union_with(&mut self, other: &Bitmap) {
        for (a, b) in self.0.iter_mut().zip(other.0.iter()) {
            *a |= *b;
        }
    }

    /// `self &= !other`.
    pub fn subtract(&mut self, other: &Bitmap) {
        for (a, b) in self.0.iter_mut().zip(other.0.iter()) {
            *a &= !*b;
        }
    }

    /// Bits of `self` that are not in `other`.
    pub fn difference(&self, other: &Bitmap) -> Bitmap {
        let mut d = self.clone();
        d.subtract(other);
        d
    }
}

impl FromIterator<usize> for Bitmap {
    fn from_iter<T: IntoIterator<Item = usize>>(iter: T) -> Self {
        let mut b = Bitmap::new();
        for i in iter {
            b.insert(i);
        }
        b
    }
}

fn bitmap_at(b: &[u8], off: usize) -> Bitmap {
    let mut bytes = [0u8; BITMAP_LEN];
    if let Some(src) = b.get(off..off + BITMAP_LEN) {
        bytes.copy_from_slice(src);
    }
    Bitmap(bytes)
}

/// A message from a receiver (arrives on the sender port `P+1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReceiverMessage {
    /// Slice `slice` is complete at this receiver.
    Ok {
        /// Slice number.
        slice: u32,
    },
    /// Slice `slice` is incomplete; `received` has a bit per block received.
    Retransmit {
        /// Slice number.
        slice: u32,
        /// Round id echoed from the REQACK being answered.
        rxmit: u32,
        /// Bit set = block received.
        received: Bitmap,
    },
    /// Start now (a key was pressed on a receiver).
    Go,
    /// Join request.
    ConnectReq {
        /// Receiver capabilities (stock: 0x9).
        caps: u32,
        /// Receiver socket buffer size (informational).
        rcvbuf: u32,
    },
    /// The receiver leaves (or has finished).
    Disconnect,
}

impl ReceiverMessage {
    /// Decodes one datagram received on port `P+1`.
    pub fn parse(b: &[u8]) -> Result<ReceiverMessage, WireError> {
        need(b, 2)?;
        let op = be16(b, 0);
        match op {
            opcode::OK => {
                need(b, OK_LEN)?;
                Ok(ReceiverMessage::Ok { slice: be32(b, 4) })
            }
            opcode::RETRANSMIT => {
                need(b, RETRANSMIT_LEN)?;
                Ok(ReceiverMessage::Retransmit {
                    slice: be32(b, 4),
                    rxmit: be32(b, 8),
                    received: bitmap_at(b, 12),
                })
            }
            opcode::GO => {
                need(b, SHORT_LEN)?;
                Ok(ReceiverMessage::Go)
            }
            opcode::CONNECT_REQ => {
                need(b, CONNECT_REQ_LEN)?;
                Ok(ReceiverMessage::ConnectReq {
                    caps: be32(b, 4),
                    rcvbuf: be32(b, 8),
                })
            }
            opcode::DISCONNECT => {
                need(b, SHORT_LEN)?;
                Ok(ReceiverMessage::Disconnect)
            }
            other => Err(WireError::UnknownOpcode(other)),
        }
    }

    /// Encodes the message as a stock receiver does (for tests and
    /// simulated receivers).
    pub fn encode(&self) -> Vec<u8> {
        match self {
            ReceiverMessage::Ok { slice } => {
                let mut b = vec![0; OK_LEN];
                put16(&mut b, 0, opcode::OK);
                put32(&mut b, 4, *slice);
                b
            }
            ReceiverMessage::Retransmit {
                slice,
                rxmit,
                received,
            } => {
                let mut b = vec![0; RETRANSMIT_LEN];
                put16(&mut b, 0, opcode::RETRANSMIT);
                put32(&mut b, 4, *slice);
                put32(&mut b, 8, *rxmit);
                b[12..].copy_from_slice(received.as_bytes());
                b
            }
            ReceiverMessage::Go => opcode::GO
                .to_be_bytes()
                .iter()
                .copied()
                .chain([0, 0])
                .collect(),
            ReceiverMessage::ConnectReq { caps, rcvbuf } => {
                let mut b = vec![0; CONNECT_REQ_LEN];
                put16(&mut b, 0, opcode::CONNECT_REQ);
                put32(&mut b, 4, *caps);
                put32(&mut b, 8, *rcvbuf);
                b
            }
            ReceiverMessage::Disconnect => opcode::DISCONNECT
                .to_be_bytes()
                .iter()
                .copied()
                .chain([0, 0])
                .collect(),
        }
    }
}

/// HELLO: "a sender is here" (to the control address, port `P`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hello {
    /// 0x0500 normally, [`opcode::HELLO_STREAMING`] in streaming mode.
    pub opcode: u16,
    /// Sender capabilities ([`caps::SENDER`]).
    pub caps: u32,
    /// Where data will be sent.
    pub data_addr: Ipv4Addr,
    /// Payload bytes per DATA block.
    pub block_size: u16,
}

impl Hello {
    /// Writes the 28 bytes into `buf` (at least [`HELLO_LEN`] long);
    /// returns the length.
    pub fn encode(&self, buf: &mut [u8]) -> usize {
        let Some(b) = buf.get_mut(..HELLO_LEN) else {
            return 0;
        };
        b.fill(0);
        put16(b, 0, self.opcode);
        put32(b, 4, self.caps);
        b[8..12].copy_from_slice(&self.data_addr.octets());
        put16(b, 24, self.block_size);
        HELLO_LEN
    }
}

/// CONNECT_REPLY: "you are client N" (unicast to the receiver, port `P`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectReply {
    /// Client number (0..1023) or [`CLIENT_REFUSED`].
    pub client: u32,
    /// Payload bytes per DATA block.
    pub block_size: u32,
    /// Sender capabilities.
    pub caps: u32,
    /// Where data will be sent.
    pub data_addr: Ipv4Addr,
}

impl ConnectReply {
    /// Writes the 32 bytes into `buf`; returns the length.
    pub fn encode(&self, buf: &mut [u8]) -> usize {
        let Some(b) = buf.get_mut(..CONNECT_REPLY_LEN) else {
            return 0;
        };
        b.fill(0);
        put16(b, 0, opcode::CONNECT_REPLY);
        put32(b, 4, self.client);
        put32(b, 8, self.block_size);
        put32(b, 12, self.caps);
        b[16..20].copy_from_slice(&self.data_addr.octets());
        CONNECT_REPLY_LEN
    }
}

/// REQACK: "report the state of slice N" (to the data address).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReqAck {
    /// Slice number.
    pub slice: u32,
    /// Total bytes of the slice (0 marks the end of the stream).
    pub bytes: u32,
    /// Round id (0 for the first REQACK of a slice, +1 per round).
    pub rxmit: u32,
    /// Clients that already answered OK: they stay silent.
    pub ready: Bitmap,
}

impl ReqAck {
    /// Writes the 144 bytes into `buf`; returns the length.
    pub fn encode(&self, buf: &mut [u8]) -> usize {
        let Some(b) = buf.get_mut(..REQACK_LEN) else {
            return 0;
        };
        put16(b, 0, opcode::REQACK);
        put16(b, 2, 0);
        put32(b, 4, self.slice);
        put32(b, 8, self.bytes);
        put32(b, 12, self.rxmit);
        b[16..].copy_from_slice(self.ready.as_bytes());
        REQACK_LEN
    }
}

/// Header of a DATA block (payload follows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataHeader {
    /// Slice number.
    pub slice: u32,
    /// Block number within the slice.
    pub block: u16,
    /// Total bytes of this slice.
    pub bytes: u32,
}

impl DataHeader {
    /// Writes the 16-byte header into `buf`; returns the length.
    pub fn encode(&self, buf: &mut [u8]) -> usize {
        let Some(b) = buf.get_mut(..BLOCK_HEADER_LEN) else {
            return 0;
        };
        put16(b, 0, opcode::DATA);
        put16(b, 2, 0);
        put32(b, 4, self.slice);
        put16(b, 8, self.block);
        put16(b, 10, 0);
        put32(b, 12, self.bytes);
        BLOCK_HEADER_LEN
    }
}

/// Header of a FEC block (exactly `block_size` payload bytes follow).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FecHeader {
    /// Number of stripes of the slice.
    pub stripes: u16,
    /// Slice number.
    pub slice: u32,
    /// FEC block index: stripe `index % stripes`, row `index / stripes`.
    pub index: u16,
    /// Total bytes of this slice.
    pub bytes: u32,
}

impl FecHeader {
    /// Writes the 16-byte header into `buf`; returns the length.
    pub fn encode(&self, buf: &mut [u8]) -> usize {
        let Some(b) = buf.get_mut(..BLOCK_HEADER_LEN) else {
            return 0;
        };
        put16(b, 0, opcode::FEC);
        put16(b, 2, self.stripes);
        put32(b, 4, self.slice);
        put16(b, 8, self.index);
        put16(b, 10, 0);
        put32(b, 12, self.bytes);
        BLOCK_HEADER_LEN
    }
}

/// A message from the sender, decoded (what a receiver sees; used by the
/// tests' simulated receivers and fixture checks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SenderMessage<'a> {
    /// HELLO (any of the three hello opcodes).
    Hello(Hello),
    /// CONNECT_REPLY.
    ConnectReply(ConnectReply),
    /// REQACK.
    ReqAck(ReqAck),
    /// DATA header and payload.
    Data(DataHeader, &'a [u8]),
    /// FEC header and payload.
    Fec(FecHeader, &'a [u8]),
}

impl<'a> SenderMessage<'a> {
    /// Decodes one datagram received on port `P`.
    pub fn parse(b: &'a [u8]) -> Result<SenderMessage<'a>, WireError> {
        need(b, 2)?;
        let op = be16(b, 0);
        let ip = |off: usize| Ipv4Addr::new(b[off], b[off + 1], b[off + 2], b[off + 3]);
        match op {
            opcode::HELLO | opcode::HELLO_NEW | opcode::HELLO_STREAMING => {
                need(b, HELLO_LEN)?;
                Ok(SenderMessage::Hello(Hello {
                    opcode: op,
                    caps: be32(b, 4),
                    data_addr: ip(8),
                    block_size: be16(b, 24),
                }))
            }
            opcode::CONNECT_REPLY => {
                need(b, CONNECT_REPLY_LEN)?;
                Ok(SenderMessage::ConnectReply(ConnectReply {
                    client: be32(b, 4),
                    block_size: be32(b, 8),
                    caps: be32(b, 12),
                    data_addr: ip(16),
                }))
            }
            opcode::REQACK => {
                need(b, REQACK_LEN)?;
                Ok(SenderMessage::ReqAck(ReqAck {
                    slice: be32(b, 4),
                    bytes: be32(b, 8),
                    rxmit: be32(b, 12),
                    ready: bitmap_at(b, 16),
                }))
            }
            opcode::DATA => {
                need(b, BLOCK_HEADER_LEN)?;
                Ok(SenderMessage::Data(
                    DataHeader {
                        slice: be32(b, 4),
                        block: be16(b, 8),
                        bytes: be32(b, 12),
                    },
                    &b[BLOCK_HEADER_LEN..],
                ))
            }
            opcode::FEC => {
                need(b, BLOCK_HEADER_LEN)?;
                Ok(SenderMessage::Fec(
                    FecHeader {
                        stripes: be16(b, 2),
                        slice: be32(b, 4),
                        index: be16(b, 8),
                        bytes: be32(b, 12),
                    },
                    &b[BLOCK_HEADER_LEN..],
                ))
            }
            other => Err(WireError::UnknownOpcode(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitmap_bit_order_is_lsb_first() {
        let mut b = Bitmap::new();
        b.insert(0);
        b.insert(9);
        b.insert(1023);
        b.insert(1024); // ignored
        assert_eq!(b.as_bytes()[0], 0x01);
        assert_eq!(b.as_bytes()[1], 0x02);
        assert_eq!(b.as_bytes()[127], 0x80);
        assert_eq!(b.iter().collect::<Vec<_>>(), vec![0, 9, 1023]);
        assert_eq!(b.next_set(1), Some(9));
        assert_eq!(b.next_set(10), Some(1023));
        assert_eq!(b.next_set(1024), None);
        assert_eq!(b.count(), 3);
        b.remove(9);
        assert!(!b.contains(9));
        assert!(!b.contains(5000));
    }

    #[test]
    fn short_messages_are_rejected() {
        assert!(matches!(
            ReceiverMessage::parse(&[]),
            Err(WireError::TooShort { .. })
        ));
        assert!(matches!(
            ReceiverMessage::parse(&[0, 1, 0, 0, 0, 0, 0, 0]),
            Err(WireError::TooShort { opcode: 1, len: 8 })
        ));
        assert_eq!(
            ReceiverMessage::parse(&[0, 6, 0, 0]),
            Err(WireError::UnknownOpcode(6))
        );
    }

    #[test]
    fn receiver_messages_round_trip() {
        let msgs = [
            ReceiverMessage::Ok { slice: 7 },
            ReceiverMessage::Retransmit {
                slice: 3,
                rxmit: 2,
                received: [1usize, 5, 700].into_iter().collect(),
            },
            ReceiverMessage::Go,
            ReceiverMessage::ConnectReq {
                caps: 9,
                rcvbuf: 212_992,
            },
            ReceiverMessage::Disconnect,
        ];
        for m in msgs {
            assert_eq!(ReceiverMessage::parse(&m.encode()), Ok(m));
        }
    }
}
