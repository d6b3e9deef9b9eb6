//! BitTorrent peer wire protocol (BEP 3), the parts a seed needs.
//!
//! Pure functions: [`Handshake`] encoding/parsing, [`Message::parse`] for one
//! frame's payload and [`decode_frame`] for a byte stream. None of them
//! panics on arbitrary input (property-tested in `tests/wire_fuzz.rs`).

use thiserror::Error;

use crate::metainfo::InfoHash;

/// The protocol string of the handshake.
pub const PROTOCOL: &[u8; 19] = b"BitTorrent protocol";
/// Length of a full handshake.
pub const HANDSHAKE_LEN: usize = 68;
/// Length of the handshake up to and including the info-hash.
pub const HANDSHAKE_PREFIX_LEN: usize = 48;
/// Largest block a peer may request (BEP 3's upper bound, and what LINBO's
/// `ctorrent -z 128` asks for).
pub const MAX_BLOCK_LEN: u32 = 128 * 1024;
/// Reserved-bits flag for the extension protocol (BEP 10), byte 5.
pub const EXTENSION_BIT: (usize, u8) = (5, 0x10);

/// Message ids.
pub mod id {
    /// choke
    pub const CHOKE: u8 = 0;
    /// unchoke
    pub const UNCHOKE: u8 = 1;
    /// interested
    pub const INTERESTED: u8 = 2;
    /// not interested
    pub const NOT_INTERESTED: u8 = 3;
    /// have
    pub const HAVE: u8 = 4;
    /// bitfield
    pub const BITFIELD: u8 = 5;
    /// request
    pub const REQUEST: u8 = 6;
    /// piece
    pub const PIECE: u8 = 7;
    /// cancel
    pub const CANCEL: u8 = 8;
    /// port (DHT)
    pub const PORT: u8 = 9;
    /// extended (BEP 10)
    pub const EXTENDED: u8 = 20;
}

/// A malformed handshake or message.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum WireError {
    /// The connection does not start with the BitTorrent handshake (e.g. an
    /// MSE-encrypted handshake, or not BitTorrent at all).
    #[error("not a BitTorrent handshake")]
    NotBitTorrent,
    /// Fewer bytes than the handshake needs.
    #[error("short handshake")]
    ShortHandshake,
    /// A frame longer than allowed.
    #[error("message of {0} bytes is too long")]
    TooLong(u32),
    /// A known message with a wrong payload length.
    #[error("message id {id} with bad length {len}")]
    BadLength {
        /// Message id.
        id: u8,
        /// Payload length (without the id).
        len: usize,
    },
}

/// A peer's handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handshake {
    /// The 8 reserved bytes (feature flags).
    pub reserved: [u8; 8],
    /// The torrent.
    pub info_hash: InfoHash,
    /// The peer's id.
    pub peer_id: [u8; 20],
}

impl Handshake {
    /// Encodes the 68 bytes.
    pub fn encode(&self) -> [u8; HANDSHAKE_LEN] {
        let mut out = [0u8; HANDSHAKE_LEN];
        out[0] = 19;
        out[1..20].copy_from_slice(PROTOCOL);
        out[20..28].copy_from_slice(&self.reserved);
        out[28..48].copy_from_slice(&self.info_hash.0);
        out[48..68].copy_from_slice(&self.peer_id);
        out
    }

    /// Parses the first 48 bytes: reserved bytes and info-hash. A seed
    /// answers after these, before the peer id arrives.
    pub fn parse_prefix(bytes: &[u8]) -> Result<([u8; 8], InfoHash), WireError> {
        if bytes.first().is_some_and(|&b| b != 19)
            || bytes.get(1..20).is_some_and(|p| p != PROTOCOL)
        {
            return Err(WireError::NotBitTorrent);
        }
        let reserved = bytes
            .get(20..28)
            .and_then(|s| s.try_into().ok())
            .ok_or(WireError::ShortHandshake)?;
        let hash = bytes
            .get(28..48)
            .and_then(|s| s.try_into().ok())
            .ok_or(WireError::ShortHandshake)?;
        Ok((reserved, InfoHash(hash)))
    }

    /// Parses a full 68-byte handshake.
    pub fn parse(bytes: &[u8]) -> Result<Handshake, WireError> {
        let (reserved, info_hash) = Handshake::parse_prefix(bytes)?;
        let peer_id = bytes
            .get(48..68)
            .and_then(|s| s.try_into().ok())
            .ok_or(WireError::ShortHandshake)?;
        Ok(Handshake {
            reserved,
            info_hash,
            peer_id,
        })
    }

    /// Whether the peer supports the extension protocol (BEP 10).
    pub fn supports_extensions(reserved: &[u8; 8]) -> bool {
        reserved[EXTENSION_BIT.0] & EXTENSION_BIT.1 != 0
    }
}

/// A block: `length` bytes at `begin` inside piece `index`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Block {
    /// Piece index.
    pub index: u32,
    /// Offset inside the piece.
    pub begin: u32,
    /// Length.
    pub length: u32,
}

/// A peer wire message (payload of one frame).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Zero-length frame.
    KeepAlive,
    /// choke
    Choke,
    /// unchoke
    Unchoke,
    /// interested
    Interested,
    /// not interested
    NotInterested,
    /// The peer has piece `n`.
    Have(u32),
    /// The peer's pieces, one bit each, high bit first.
    Bitfield(Vec<u8>),
    /// Asks for a block.
    Request(Block),
    /// A block of data (only its header is kept: a seed discards data).
    Piece {
        /// Piece index.
        index: u32,
        /// Offset.
        begin: u32,
        /// Data length.
        len: usize,
    },
    /// Withdraws a request.
    Cancel(Block),
    /// The peer's DHT port.
    Port(u16),
    /// BEP 10 extended message.
    Extended {
        /// Extended message id (0 = handshake).
        ext_id: u8,
        /// Bencoded payload.
        payload: Vec<u8>,
    },
    /// Any other id (fast extension, …), ignored.
    Unknown {
        /// The id.
        id: u8,
        /// Payload length.
        len: usize,
    },
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

impl Message {
    /// Parses the payload of one frame (id byte included; empty = keep-alive).
    pub fn parse(frame: &[u8]) -> Result<Message, WireError> {
        let Some((&msg_id, body)) = frame.split_first() else {
            return Ok(Message::KeepAlive);
        };
        let want = |n: usize| {
            if body.len() == n {
                Ok(())
            } else {
                Err(WireError::BadLength {
                    id: msg_id,
                    len: body.len(),
                })
            }
        };
        let block = |b: &[u8]| Block {
            index: be32(&b[0..4]),
            begin: be32(&b[4..8]),
            length: be32(&b[8..12]),
        };
        Ok(match msg_id {
            id::CHOKE => want(0).map(|_| Message::Choke)?,
            id::UNCHOKE => want(0).map(|_| Message::Unchoke)?,
            id::INTERESTED => want(0).map(|_| Message::Interested)?,
            id::NOT_INTERESTED => want(0).map(|_| Message::NotInterested)?,
            id::HAVE => want(4).map(|_| Message::Have(be32(body)))?,
            id::BITFIELD => Message::Bitfield(body.to_vec()),
            id::REQUEST => want(12).map(|_| Message::Request(block(body)))?,
            id::CANCEL => want(12).map(|_| Message::Cancel(block(body)))?,
            id::PIECE => {
                if body.len() < 8 {
                    return Err(WireError::BadLength {
                        id: msg_id,
                        len: body.len(),
                    });
                }
                Message::Piece {
                    index: be32(&body[0..4]),
                    begin: be32(&body[4..8]),
                    len: body.len() - 8,
                }
            }
            id::PORT => want(2).map(|_| Message::Port(u16::from_be_bytes([body[0], body[1]])))?,
            id::EXTENDED => {
                let Some((&ext_id, payload)) = body.split_first() else {
                    return Err(WireError::BadLength { id: msg_id, len: 0 });
                };
                Message::Extended {
                    ext_id,
                    payload: payload.to_vec(),
                }
            }
            other => Message::Unknown {
                id: other,
                len: body.len(),
            },
        })
    }

    /// Appends the framed message (length prefix included) to `out`. A
    /// `Piece` is encoded as header only, with a length prefix that counts
    /// `len` data bytes the caller appends; `Unknown` encodes `len` zeros.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        let frame = |out: &mut Vec<u8>, msg_id: u8, body_len: usize| {
            out.extend_from_slice(&(body_len as u32 + 1).to_be_bytes());
            out.push(msg_id);
        };
        let block = |out: &mut Vec<u8>, b: &Block| {
            out.extend_from_slice(&b.index.to_be_bytes());
            out.extend_from_slice(&b.begin.to_be_bytes());
            out.extend_from_slice(&b.length.to_be_bytes());
        };
        match self {
            Message::KeepAlive => out.extend_from_slice(&[0, 0, 0, 0]),
            Message::Choke => frame(out, id::CHOKE, 0),
            Message::Unchoke => frame(out, id::UNCHOKE, 0),
            Message::Interested => frame(out, id::INTERESTED, 0),
            Message::NotInterested => frame(out, id::NOT_INTERESTED, 0),
            Message::Have(n) => {
                frame(out, id::HAVE, 4);
                out.extend_from_slice(&n.to_be_bytes());
            }
            Message::Bitfield(bits) => {
                frame(out, id::BITFIELD, bits.len());
                out.extend_from_slice(bits);
            }
            Message::Request(b) => {
                frame(out, id::REQUEST, 12);
                block(out, b);
            }
            Message::Cancel(b) => {
                frame(out, id::CANCEL, 12);
                block(out, b);
            }
            Message::Piece { index, begin, len } => {
                frame(out, id::PIECE, 8 + len);
                out.extend_from_slice(&index.to_be_bytes());
                out.extend_from_slice(&begin.to_be_bytes());
            }
            Message::Port(p) => {
                frame(out, id::PORT, 2);
                out.extend_from_slice(&p.to_be_bytes());
            }
            Message::Extended { ext_id, payload } => {
                frame(out, id::EXTENDED, 1 + payload.len());
                out.push(*ext_id);
                out.extend_from_slice(payload);
            }
            Message::Unknown { id: msg_id, len } => {
                frame(out, *msg_id, *len);
                out.resize(out.len() + len, 0);
            }
        }
    }
}

/// Decodes the first frame of `buf`: `Ok(Some((message, consumed)))`,
/// `Ok(None)` if more bytes are needed, or an error for a frame longer than
/// `max_len` (payload bytes, id included) or a malformed message.
pub fn decode_frame(buf: &[u8], max_len: u32) -> Result<Option<(Message, usize)>, WireError> {
    let Some(prefix) = buf.get(0..4) else {
        return Ok(None);
    };
    let len = be32(prefix);
    if len > max_len {
        return Err(WireError::TooLong(len));
    }
    let end = 4 + len as usize;
    match buf.get(4..end) {
        Some(frame) => Ok(Some((Message::parse(frame)?, end))),
        None => Ok(None),
    }
}

/// The BITFIELD payload of a seed: `⌈pieces/8⌉` bytes, every piece bit set,
/// spare bits of the last byte clear (ctorrent and others check them).
pub fn full_bitfield(pieces: u32) -> Vec<u8> {
    let mut bits = vec![0xffu8; pieces.div_ceil(8) as usize];
    let spare = (pieces % 8) as u8;
    if spare != 0 {
        if let Some(last) = bits.last_mut() {
            *last = 0xffu8 << (8 - spare);
        }
    }
    bits
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handshake_roundtrip() {
        let h = Handshake {
            reserved: [0, 0, 0, 0, 0, 0x10, 0, 5],
            info_hash: InfoHash([7; 20]),
            peer_id: *b"-CD0303-abcdefghijkl",
        };
        let bytes = h.encode();
        assert_eq!(bytes[0], 19);
        assert_eq!(&bytes[1..20], PROTOCOL);
        assert_eq!(Handshake::parse(&bytes), Ok(h));
        assert!(Handshake::supports_extensions(&h.reserved));
        assert!(!Handshake::supports_extensions(&[0; 8]));
        assert_eq!(
            Handshake::parse_prefix(&bytes[..48]),
            Ok((h.reserved, h.info_hash))
        );
        assert_eq!(
            Handshake::parse(&bytes[..50]),
            Err(WireError::ShortHandshake)
        );
        let mut mse = bytes;
        mse[0] = 0x8a;
        assert_eq!(Handshake::parse(&mse), Err(WireError::NotBitTorrent));
    }

    #[test]
    fn bitfields() {
        assert_eq!(full_bitfield(1), vec![0x80]);
        assert_eq!(full_bitfield(8), vec![0xff]);
        assert_eq!(full_bitfield(9), vec![0xff, 0x80]);
        assert_eq!(full_bitfield(15), vec![0xff, 0xfe]);
        assert_eq!(full_bitfield(512).len(), 64);
    }

    #[test]
    fn messages_roundtrip() {
        let msgs = [
            Message::KeepAlive,
            Message::Choke,
            Message::Unchoke,
            Message::Interested,
            Message::NotInterested,
            Message::Have(77),
            Message::Bitfield(vec![0xff, 0x80]),
            Message::Request(Block {
                index: 3,
                begin: 131072,
                length: 131072,
            }),
            Message::Cancel(Block {
                index: 3,
                begin: 0,
                length: 16384,
            }),
            Message::Port(6881),
            Message::Extended {
                ext_id: 0,
                payload: b"d1:md1:xi1eee".to_vec(),
            },
            Message::Unknown { id: 14, len: 0 },
        ];
        for m in msgs {
            let mut buf = Vec::new();
            m.encode_into(&mut buf);
            assert_eq!(
                decode_frame(&buf, 1 << 20),
                Ok(Some((m.clone(), buf.len()))),
                "{m:?}"
            );
            assert_eq!(decode_frame(&buf[..buf.len() - 1], 1 << 20), Ok(None));
        }
    }

    #[test]
    fn bad_frames() {
        assert_eq!(
            decode_frame(&[0, 0, 1, 0], 100),
            Err(WireError::TooLong(256))
        );
        assert_eq!(
            decode_frame(&[0, 0, 0, 2, 1, 0], 100),
            Err(WireError::BadLength { id: 1, len: 1 })
        );
        assert_eq!(
            decode_frame(&[0, 0, 0, 3, 6, 0, 0], 100),
            Err(WireError::BadLength { id: 6, len: 2 })
        );
        assert_eq!(
            decode_frame(&[0, 0, 0, 1, 20], 100),
            Err(WireError::BadLength { id: 20, len: 0 })
        );
        assert_eq!(
            decode_frame(&[0, 0, 0, 5, 7, 0, 0, 0, 0], 100),
            Err(WireError::BadLength { id: 7, len: 4 })
        );
    }
}
