//! TFTP packet encoding and decoding (RFC 1350 plus the RFC 2347 OACK).
//!
//! Everything here is pure: no I/O, no allocation beyond the decoded values.
//! [`Packet::parse`] accepts any byte slice and never panics; it enforces
//! the limits documented on [`MAX_REQUEST_LEN`] and [`MAX_OPTIONS`].

use thiserror::Error;

/// Largest RRQ/WRQ accepted, in bytes. RFC 2347 says requests should fit in
/// 512 bytes; that is advisory, so we accept up to twice that.
pub const MAX_REQUEST_LEN: usize = 1024;

/// Most option pairs accepted in one request or OACK.
pub const MAX_OPTIONS: usize = 32;

/// Smallest block size a client may ask for (RFC 2348).
pub const MIN_BLKSIZE: u16 = 8;

/// Largest block size a client may ask for (RFC 2348).
pub const MAX_BLKSIZE: u16 = 65464;

/// Block size when the client negotiates none (RFC 1350).
pub const DEFAULT_BLKSIZE: u16 = 512;

/// Length of the DATA header (opcode + block number).
pub const DATA_HEADER_LEN: usize = 4;

/// TFTP opcodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u16)]
pub enum Opcode {
    /// Read request.
    Rrq = 1,
    /// Write request.
    Wrq = 2,
    /// Data block.
    Data = 3,
    /// Acknowledgement.
    Ack = 4,
    /// Error.
    Error = 5,
    /// Option acknowledgement (RFC 2347).
    Oack = 6,
}

/// Standard TFTP error codes (RFC 1350, RFC 2347 for code 8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u16)]
pub enum ErrorCode {
    /// 0: not defined, see the message.
    NotDefined = 0,
    /// 1: file not found.
    FileNotFound = 1,
    /// 2: access violation.
    AccessViolation = 2,
    /// 3: disk full or allocation exceeded.
    DiskFull = 3,
    /// 4: illegal TFTP operation.
    IllegalOperation = 4,
    /// 5: unknown transfer ID.
    UnknownTid = 5,
    /// 6: file already exists.
    FileExists = 6,
    /// 7: no such user.
    NoSuchUser = 7,
    /// 8: option negotiation refused (RFC 2347).
    OptionNegotiation = 8,
}

impl From<ErrorCode> for u16 {
    fn from(code: ErrorCode) -> u16 {
        code as u16
    }
}

/// Transfer mode of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Raw bytes.
    Octet,
    /// NVT ASCII. This server serves such requests as octet bytes (no
    /// CR/LF translation), like most boot servers do.
    Netascii,
    /// Obsolete mail mode; refused by the server.
    Mail,
}

impl Mode {
    /// The mode's name as written on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Octet => "octet",
            Mode::Netascii => "netascii",
            Mode::Mail => "mail",
        }
    }
}

/// A read or write request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The file name exactly as sent (not necessarily UTF-8).
    pub filename: Vec<u8>,
    /// Transfer mode.
    pub mode: Mode,
    /// Option pairs in the order sent. Names and values are decoded lossily
    /// as UTF-8; names keep the client's spelling.
    pub options: Vec<(String, String)>,
}

impl Request {
    /// An octet-mode request for `filename` with the given options.
    pub fn new(filename: &str, options: &[(&str, &str)]) -> Self {
        Request {
            filename: filename.as_bytes().to_vec(),
            mode: Mode::Octet,
            options: options
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }
}

/// One decoded TFTP packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    /// Read request (opcode 1).
    Rrq(Request),
    /// Write request (opcode 2).
    Wrq(Request),
    /// Data block (opcode 3).
    Data {
        /// Block number (wraps to 0 after 65535).
        block: u16,
        /// Payload, at most the negotiated block size.
        data: Vec<u8>,
    },
    /// Acknowledgement (opcode 4).
    Ack {
        /// Acknowledged block number.
        block: u16,
    },
    /// Error (opcode 5).
    Error {
        /// Error code, see [`ErrorCode`]; other values are kept as sent.
        code: u16,
        /// Human-readable message (lossily decoded).
        message: String,
    },
    /// Option acknowledgement (opcode 6).
    Oack {
        /// Accepted option pairs.
        options: Vec<(String, String)>,
    },
}

/// Why a datagram could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PacketError {
    /// Shorter than the fixed header of its opcode.
    #[error("packet too short ({0} bytes)")]
    TooShort(usize),
    /// Opcode outside 1..=6.
    #[error("unknown opcode {0}")]
    UnknownOpcode(u16),
    /// A request longer than [`MAX_REQUEST_LEN`].
    #[error("request too long ({0} bytes, limit {MAX_REQUEST_LEN})")]
    RequestTooLong(usize),
    /// The file name or mode of a request lacks its terminating NUL.
    #[error("request {0} is not NUL-terminated")]
    Unterminated(&'static str),
    /// Mode other than octet, netascii or mail.
    #[error("unsupported transfer mode {0:?}")]
    UnknownMode(String),
    /// More than [`MAX_OPTIONS`] option pairs.
    #[error("too many options (limit {MAX_OPTIONS})")]
    TooManyOptions,
}

impl PacketError {
    /// The TFTP error code a server should answer a bad request with.
    pub fn error_code(&self) -> ErrorCode {
        ErrorCode::IllegalOperation
    }
}

/// Splits `buf` at the first NUL: (bytes before, bytes after the NUL).
fn take_cstr(buf: &[u8]) -> Option<(&[u8], &[u8])> {
    let nul = buf.iter().position(|&b| b == 0)?;
    Some((&buf[..nul], &buf[nul + 1..]))
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Parses `name NUL value NUL` pairs. A trailing run of NUL bytes (padding
/// some ROMs add) and an incomplete last pair are ignored.
fn parse_options(mut rest: &[u8]) -> Result<Vec<(String, String)>, PacketError> {
    let mut options = Vec::new();
    while let Some(&first) = rest.first() {
        if first == 0 {
            break;
        }
        let Some((name, after_name)) = take_cstr(rest) else {
            break;
        };
        let Some((value, after_value)) = take_cstr(after_name) else {
            break;
        };
        if options.len() == MAX_OPTIONS {
            return Err(PacketError::TooManyOptions);
        }
        options.push((lossy(name), lossy(value)));
        rest = after_value;
    }
    Ok(options)
}

fn parse_request(body: &[u8]) -> Result<Request, PacketError> {
    let (filename, rest) = take_cstr(body).ok_or(PacketError::Unterminated("filename"))?;
    let (mode, rest) = take_cstr(rest).ok_or(PacketError::Unterminated("mode"))?;
    let mode = match mode.to_ascii_lowercase().as_slice() {
        b"octet" => Mode::Octet,
        b"netascii" => Mode::Netascii,
        b"mail" => Mode::Mail,
        _ => return Err(PacketError::UnknownMode(lossy(mode))),
    };
    Ok(Request {
        filename: filename.to_vec(),
        mode,
        options: parse_options(rest)?,
    })
}

fn push_cstr(out: &mut Vec<u8>, s: &[u8]) {
    out.extend(s.iter().copied().filter(|&b| b != 0));
    out.push(0);
}

fn push_request(out: &mut Vec<u8>, op: Opcode, req: &Request) {
    out.extend_from_slice(&(op as u16).to_be_bytes());
    push_cstr(out, &req.filename);
    push_cstr(out, req.mode.as_str().as_bytes());
    push_options(out, &req.options);
}

fn push_options(out: &mut Vec<u8>, options: &[(String, String)]) {
    for (name, value) in options {
        push_cstr(out, name.as_bytes());
        push_cstr(out, value.as_bytes());
    }
}

impl Packet {
    /// Decodes one datagram. Never panics; see [`PacketError`] for what is
    /// refused. ACKs with trailing bytes are accepted (the extra bytes are
    /// ignored), ERROR messages without a terminating NUL are accepted.
    pub fn parse(buf: &[u8]) -> Result<Packet, PacketError> {
        if buf.len() < 2 {
            return Err(PacketError::TooShort(buf.len()));
        }
        let opcode = u16::from_be_bytes([buf[0], buf[1]]);
        let body = &buf[2..];
        match opcode {
            1 | 2 => {
                if buf.len() > MAX_REQUEST_LEN {
                    return Err(PacketError::RequestTooLong(buf.len()));
                }
                let req = parse_request(body)?;
                Ok(if opcode == 1 {
                    Packet::Rrq(req)
                } else {
                    Packet::Wrq(req)
                })
            }
            3 => match body {
                [hi, lo, data @ ..] => Ok(Packet::Data {
                    block: u16::from_be_bytes([*hi, *lo]),
                    data: data.to_vec(),
                }),
                _ => Err(PacketError::TooShort(buf.len())),
            },
            4 => match body {
                [hi, lo, ..] => Ok(Packet::Ack {
                    block: u16::from_be_bytes([*hi, *lo]),
                }),
                _ => Err(PacketError::TooShort(buf.len())),
            },
            5 => match body {
                [hi, lo, rest @ ..] => {
                    let message = take_cstr(rest).map_or(rest, |(m, _)| m);
                    Ok(Packet::Error {
                        code: u16::from_be_bytes([*hi, *lo]),
                        message: lossy(message),
                    })
                }
                _ => Err(PacketError::TooShort(buf.len())),
            },
            6 => Ok(Packet::Oack {
                options: parse_options(body)?,
            }),
            other => Err(PacketError::UnknownOpcode(other)),
        }
    }

    /// An ERROR packet with a standard code.
    pub fn error(code: ErrorCode, message: impl Into<String>) -> Packet {
        Packet::Error {
            code: code.into(),
            message: message.into(),
        }
    }

    /// Encodes the packet into a new buffer.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    /// Appends the encoded packet to `out`. NUL bytes inside strings are
    /// dropped so the result is always well-formed.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            Packet::Rrq(req) => push_request(out, Opcode::Rrq, req),
            Packet::Wrq(req) => push_request(out, Opcode::Wrq, req),
            Packet::Data { block, data } => {
                out.extend_from_slice(&data_header(*block));
                out.extend_from_slice(data);
            }
            Packet::Ack { block } => {
                out.extend_from_slice(&(Opcode::Ack as u16).to_be_bytes());
                out.extend_from_slice(&block.to_be_bytes());
            }
            Packet::Error { code, message } => {
                out.extend_from_slice(&(Opcode::Error as u16).to_be_bytes());
                out.extend_from_slice(&code.to_be_bytes());
                push_cstr(out, message.as_bytes());
            }
            Packet::Oack { options } => {
                out.extend_from_slice(&(Opcode::Oack as u16).to_be_bytes());
                push_options(out, options);
            }
        }
    }
}

/// The 4-byte header of a DATA packet for `block`.
pub fn data_header(block: u16) -> [u8; DATA_HEADER_LEN] {
    let [a, b] = (Opcode::Data as u16).to_be_bytes();
    let [c, d] = block.to_be_bytes();
    [a, b, c, d]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rrq_bytes(parts: &[&[u8]]) -> Vec<u8> {
        let mut v = vec![0, 1];
        for p in parts {
            v.extend_from_slice(p);
            v.push(0);
        }
        v
    }

    #[test]
    fn parses_plain_rrq() {
        let p = Packet::parse(&rrq_bytes(&[b"pxelinux.0", b"octet"])).unwrap();
        assert_eq!(p, Packet::Rrq(Request::new("pxelinux.0", &[])));
    }

    #[test]
    fn parses_rrq_with_options_mode_case_insensitive() {
        let bytes = rrq_bytes(&[b"a/b", b"NetASCII", b"BlkSize", b"1468", b"tsize", b"0"]);
        let Packet::Rrq(req) = Packet::parse(&bytes).unwrap() else {
            panic!("not an RRQ")
        };
        assert_eq!(req.mode, Mode::Netascii);
        assert_eq!(
            req.options,
            vec![
                ("BlkSize".to_owned(), "1468".to_owned()),
                ("tsize".to_owned(), "0".to_owned())
            ]
        );
    }

    #[test]
    fn trailing_padding_and_incomplete_option_ignored() {
        let mut bytes = rrq_bytes(&[b"f", b"octet", b"tsize", b"0"]);
        bytes.extend_from_slice(&[0, 0, 0]);
        let Packet::Rrq(req) = Packet::parse(&bytes).unwrap() else {
            panic!()
        };
        assert_eq!(req.options.len(), 1);
        let mut bytes = rrq_bytes(&[b"f", b"octet", b"blksize"]);
        bytes.extend_from_slice(b"14");
        let Packet::Rrq(req) = Packet::parse(&bytes).unwrap() else {
            panic!()
        };
        assert!(req.options.is_empty());
    }

    #[test]
    fn request_errors() {
        assert_eq!(Packet::parse(&[]), Err(PacketError::TooShort(0)));
        assert_eq!(Packet::parse(&[0]), Err(PacketError::TooShort(1)));
        assert_eq!(
            Packet::parse(&[0, 1, b'f']),
            Err(PacketError::Unterminated("filename"))
        );
        assert_eq!(
            Packet::parse(&[0, 1, b'f', 0, b'o']),
            Err(PacketError::Unterminated("mode"))
        );
        assert_eq!(
            Packet::parse(&rrq_bytes(&[b"f", b"binary"])),
            Err(PacketError::UnknownMode("binary".into()))
        );
        assert_eq!(Packet::parse(&[0, 9]), Err(PacketError::UnknownOpcode(9)));
        let long = rrq_bytes(&[&[b'a'; 1100], b"octet"]);
        assert!(matches!(
            Packet::parse(&long),
            Err(PacketError::RequestTooLong(_))
        ));
        let mut many: Vec<&[u8]> = vec![b"f", b"octet"];
        for _ in 0..=MAX_OPTIONS {
            many.push(b"x");
            many.push(b"1");
        }
        assert_eq!(
            Packet::parse(&rrq_bytes(&many)),
            Err(PacketError::TooManyOptions)
        );
    }

    #[test]
    fn request_of_exactly_limit_accepted() {
        let name = vec![b'a'; MAX_REQUEST_LEN - 2 - 1 - 6];
        let bytes = rrq_bytes(&[&name, b"octet"]);
        assert_eq!(bytes.len(), MAX_REQUEST_LEN);
        assert!(Packet::parse(&bytes).is_ok());
    }

    #[test]
    fn ack_data_error_oack() {
        assert_eq!(
            Packet::parse(&[0, 4, 1, 2]),
            Ok(Packet::Ack { block: 0x0102 })
        );
        // Trailing bytes after an ACK are tolerated.
        assert_eq!(
            Packet::parse(&[0, 4, 0, 7, 0, 0]),
            Ok(Packet::Ack { block: 7 })
        );
        assert_eq!(Packet::parse(&[0, 4, 1]), Err(PacketError::TooShort(3)));
        assert_eq!(
            Packet::parse(&[0, 3, 0, 1, 9, 9]),
            Ok(Packet::Data {
                block: 1,
                data: vec![9, 9]
            })
        );
        assert_eq!(
            Packet::parse(b"\x00\x05\x00\x08closed\x00"),
            Ok(Packet::error(ErrorCode::OptionNegotiation, "closed"))
        );
        // Missing NUL after the message is tolerated.
        assert_eq!(
            Packet::parse(b"\x00\x05\x00\x00abc"),
            Ok(Packet::error(ErrorCode::NotDefined, "abc"))
        );
        assert_eq!(
            Packet::parse(b"\x00\x06tsize\x00123\x00"),
            Ok(Packet::Oack {
                options: vec![("tsize".into(), "123".into())]
            })
        );
    }

    #[test]
    fn encode_roundtrip() {
        let packets = [
            Packet::Rrq(Request::new("boot/x.efi", &[("blksize", "1468")])),
            Packet::Wrq(Request::new("f", &[])),
            Packet::Data {
                block: 65535,
                data: vec![1, 2, 3],
            },
            Packet::Ack { block: 0 },
            Packet::error(ErrorCode::AccessViolation, "read-only server"),
            Packet::Oack {
                options: vec![("windowsize".into(), "16".into())],
            },
        ];
        for p in packets {
            assert_eq!(Packet::parse(&p.encode()), Ok(p));
        }
    }

    #[test]
    fn encode_exact_bytes() {
        assert_eq!(Packet::Ack { block: 258 }.encode(), vec![0, 4, 1, 2]);
        assert_eq!(
            Packet::error(ErrorCode::FileNotFound, "nope").encode(),
            b"\x00\x05\x00\x01nope\x00".to_vec()
        );
        // Embedded NULs are dropped, never producing a malformed packet.
        assert_eq!(
            Packet::error(ErrorCode::NotDefined, "a\0b").encode(),
            b"\x00\x05\x00\x00ab\x00".to_vec()
        );
        assert_eq!(data_header(0x1234), [0, 3, 0x12, 0x34]);
    }
}
