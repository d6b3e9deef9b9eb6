//! Read-ahead: a small task reads the file in 64 KiB chunks while the
//! transfer is busy on the network, so file I/O (for `tokio::fs::File`, one
//! blocking-pool round trip per chunk) overlaps with waiting for ACKs instead
//! of adding to the lock-step round trip.
//!
//! At most [`DEPTH`] chunks wait in the channel, so a transfer holds about
//! `(DEPTH + 1) × 64 KiB` of file data. When the transfer ends (or aborts)
//! the receiving side is dropped and the reading task stops at its next send.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncReadExt, ReadBuf};
use tokio::sync::mpsc;

/// Size of one read-ahead chunk.
const CHUNK: usize = 64 * 1024;

/// Chunks read ahead of the sender.
const DEPTH: usize = 2;

/// An [`AsyncRead`] fed by a background reading task.
pub(crate) struct ReadAhead {
    rx: mpsc::Receiver<io::Result<Vec<u8>>>,
    chunk: Vec<u8>,
    pos: usize,
    eof: bool,
}

impl ReadAhead {
    /// Starts reading `reader` on a new task (must be called inside a tokio
    /// runtime).
    pub(crate) fn spawn<R: AsyncRead + Send + Unpin + 'static>(mut reader: R) -> ReadAhead {
        let (tx, rx) = mpsc::channel(DEPTH);
        tokio::spawn(async move {
            loop {
                let mut chunk = vec![0u8; CHUNK];
                let mut filled = 0;
                let result = loop {
                    match reader.read(&mut chunk[filled..]).await {
                        Ok(0) => break Ok(true),
                        Ok(n) => {
                            filled += n;
                            if filled == CHUNK {
                                break Ok(false);
                            }
                        }
                        Err(e) => break Err(e),
                    }
                };
                chunk.truncate(filled);
                // Data read before an error is still delivered first.
                if !chunk.is_empty() && tx.send(Ok(chunk)).await.is_err() {
                    return; // transfer gone
                }
                match result {
                    Ok(false) => {}
                    Ok(true) => return, // dropping tx signals EOF
                    Err(e) => {
                        let _ = tx.send(Err(e)).await;
                        return;
                    }
                }
            }
        });
        ReadAhead {
            rx,
            chunk: Vec::new(),
            pos: 0,
            eof: false,
        }
    }
}

impl AsyncRead for ReadAhead {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if this.pos < this.chunk.len() {
                let n = buf.remaining().min(this.chunk.len() - this.pos);
                buf.put_slice(&this.chunk[this.pos..this.pos + n]);
                this.pos += n;
                return Poll::Ready(Ok(()));
            }
            if this.eof {
                return Poll::Ready(Ok(()));
            }
            match ready!(this.rx.poll_recv(cx)) {
                Some(Ok(chunk)) => {
                    this.chunk = chunk;
                    this.pos = 0;
                }
                Some(Err(e)) => {
                    this.eof = true;
                    return Poll::Ready(Err(e));
                }
                None => this.eof = true,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn yields_the_same_bytes_in_odd_sized_reads() {
        let data: Vec<u8> = (0..300_007u32).map(|i| (i % 251) as u8).collect();
        let mut ra = ReadAhead::spawn(io::Cursor::new(data.clone()));
        let mut out = Vec::new();
        let mut buf = [0u8; 1468];
        loop {
            let n = ra.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        assert_eq!(out, data);
    }

    #[tokio::test]
    async fn data_before_an_error_is_delivered() {
        struct Fail;
        impl AsyncRead for Fail {
            fn poll_read(
                self: Pin<&mut Self>,
                _cx: &mut Context<'_>,
                _buf: &mut ReadBuf<'_>,
            ) -> Poll<io::Result<()>> {
                Poll::Ready(Err(io::Error::other("boom")))
            }
        }
        let mut ra = ReadAhead::spawn(io::Cursor::new(vec![5u8; 10]).chain(Fail));
        let mut buf = [0u8; 64];
        assert_eq!(ra.read(&mut buf).await.unwrap(), 10);
        assert!(ra.read(&mut buf).await.is_err());
        assert_eq!(ra.read(&mut buf).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn empty_input_is_eof() {
        let mut ra = ReadAhead::spawn(io::Cursor::new(Vec::new()));
        let mut buf = [0u8; 16];
        assert_eq!(ra.read(&mut buf).await.unwrap(), 0);
    }
}
