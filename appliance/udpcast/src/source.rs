//! Reads the image in slice-sized chunks on a thread of its own (disk reads
//! and FEC never block the sending loop) and hands them over through a
//! small bounded channel.

use std::io::{self, Read};
use std::thread;

use tokio::sync::mpsc;

use crate::engine::SliceData;
use crate::fec::FecConfig;

/// Slices read ahead of the sender.
const READ_AHEAD: usize = 4;

/// What the reader thread delivers: a slice, or why reading failed.
pub(crate) type SliceResult = Result<SliceData, String>;

/// Starts a thread reading `src` in chunks of `slice_bytes` (each full
/// unless it is the last), followed by an empty chunk at the end. The
/// thread stops when the receiving side is dropped.
pub(crate) fn spawn_reader(
    mut src: Box<dyn Read + Send>,
    slice_bytes: usize,
    fec: Option<(FecConfig, usize)>,
    name: &str,
) -> io::Result<mpsc::Receiver<SliceResult>> {
    let (tx, rx) = mpsc::channel(READ_AHEAD);
    thread::Builder::new()
        .name(format!("udpcast-read-{name}"))
        .spawn(move || loop {
            let mut buf = vec![0u8; slice_bytes];
            let mut filled = 0;
            let result = loop {
                if filled == buf.len() {
                    break Ok(());
                }
                match src.read(&mut buf[filled..]) {
                    Ok(0) => break Ok(()),
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => break Err(e),
                }
            };
            if let Err(e) = result {
                let _ = tx.blocking_send(Err(format!("read error: {e}")));
                return;
            }
            buf.truncate(filled);
            let end = buf.is_empty();
            let slice = match &fec {
                Some((cfg, bs)) => SliceData::with_fec(cfg, *bs, buf),
                None => SliceData::new(buf),
            };
            if tx.blocking_send(Ok(slice)).is_err() || end {
                return;
            }
        })?;
    Ok(rx)
}
