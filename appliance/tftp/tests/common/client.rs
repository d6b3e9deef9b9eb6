//! A tiny synchronous TFTP client (std UDP) for protocol tests, including an
//! RFC 7440 windowed receiver.

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use bootbox_tftp::packet::{Mode, Request};
use bootbox_tftp::Packet;

pub struct Client {
    pub sock: UdpSocket,
    pub server: SocketAddr,
    /// The transfer's TID (address of the server's transfer socket).
    pub peer: Option<SocketAddr>,
    buf: Vec<u8>,
    read_timeout: Duration,
}

/// Result of a complete download.
#[derive(Debug)]
pub struct Download {
    pub oack: Option<Vec<(String, String)>>,
    pub data: Vec<u8>,
    /// Number of DATA packets received (including duplicates).
    pub packets: usize,
}

impl Client {
    pub fn new(server: SocketAddr) -> Client {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        Client {
            sock,
            server,
            peer: None,
            buf: vec![0; 70_000],
            read_timeout: Duration::from_secs(10),
        }
    }

    pub fn send_to_server(&self, packet: &Packet) {
        self.sock.send_to(&packet.encode(), self.server).unwrap();
    }

    pub fn rrq(&self, name: &str, options: &[(&str, &str)]) {
        self.send_to_server(&Packet::Rrq(Request::new(name, options)));
    }

    pub fn rrq_raw_name(&self, name: &[u8], mode: Mode) {
        self.send_to_server(&Packet::Rrq(Request {
            filename: name.to_vec(),
            mode,
            options: vec![],
        }));
    }

    /// Sends to the transfer peer (must be known).
    pub fn send(&self, packet: &Packet) {
        self.sock
            .send_to(&packet.encode(), self.peer.expect("no transfer peer yet"))
            .unwrap();
    }

    pub fn ack(&self, block: u16) {
        self.send(&Packet::Ack { block });
    }

    /// Receives one packet (panics after 10 s); remembers the peer.
    pub fn recv(&mut self) -> Packet {
        self.recv_within(Duration::from_secs(10))
            .expect("no packet from the server within 10 s")
    }

    /// Receives one packet if one arrives within `wait`.
    pub fn recv_within(&mut self, wait: Duration) -> Option<Packet> {
        if wait != self.read_timeout {
            self.sock.set_read_timeout(Some(wait)).unwrap();
            self.read_timeout = wait;
        }
        match self.sock.recv_from(&mut self.buf) {
            Ok((len, from)) => {
                let packet =
                    Packet::parse(&self.buf[..len]).expect("server sent a malformed packet");
                if self.peer.is_none() {
                    // Refusals decided on the listening socket ("server
                    // busy", malformed request) come from the server port;
                    // everything else from a new port (TID).
                    if from == self.server {
                        assert!(
                            matches!(packet, Packet::Error { .. }),
                            "{packet:?} from the server port"
                        );
                    } else {
                        self.peer = Some(from);
                    }
                }
                Some(packet)
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                None
            }
            Err(e) => panic!("recv failed: {e}"),
        }
    }

    /// Full download with RFC 7440 receiver behaviour: ACK every
    /// `windowsize` in-order blocks and the last one; on an out-of-order
    /// block ACK the last in-order one. Returns `Err(packet)` if the server
    /// answers with an ERROR.
    pub fn download(&mut self, name: &str, options: &[(&str, &str)]) -> Result<Download, Packet> {
        self.rrq(name, options);
        let mut blksize = 512usize;
        let mut windowsize = 1usize;
        let mut oack = None;
        let mut data = Vec::new();
        let mut packets = 0;
        let mut expected: u16 = 1;
        let mut in_window = 0usize;
        let mut pending = Some(self.recv());
        let mut silent = 0;
        loop {
            let packet = match pending.take() {
                Some(p) => p,
                None => match self.recv_within(Duration::from_secs(3)) {
                    Some(p) => p,
                    None => {
                        silent += 1;
                        assert!(silent < 5, "server went silent");
                        self.ack(expected.wrapping_sub(1));
                        continue;
                    }
                },
            };
            match packet {
                Packet::Oack { options } if oack.is_none() && packets == 0 => {
                    for (name, value) in &options {
                        match name.as_str() {
                            "blksize" => blksize = value.parse().unwrap(),
                            "windowsize" => windowsize = value.parse().unwrap(),
                            _ => {}
                        }
                    }
                    oack = Some(options);
                    self.ack(0);
                }
                Packet::Data { block, data: chunk } => {
                    packets += 1;
                    assert!(chunk.len() <= blksize, "DATA larger than blksize");
                    if block == expected {
                        let last = chunk.len() < blksize;
                        data.extend_from_slice(&chunk);
                        in_window += 1;
                        if in_window == windowsize || last {
                            self.ack(expected);
                            in_window = 0;
                        }
                        if last {
                            return Ok(Download {
                                oack,
                                data,
                                packets,
                            });
                        }
                        expected = expected.wrapping_add(1);
                    } else {
                        self.ack(expected.wrapping_sub(1));
                        in_window = 0;
                    }
                }
                err @ Packet::Error { .. } => return Err(err),
                other => panic!("unexpected packet {other:?}"),
            }
        }
    }
}
