//! Compression through Debian's `xz` program (xz-utils).
//!
//! The kernel's initramfs decoder accepts only the CRC32 integrity check
//! or none, never xz's default CRC64, so the archive is always written with
//! `--check=crc32`. One thread (`-T1`) keeps the output byte-identical on
//! every machine (multi-threaded xz splits blocks differently).

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use crate::Error;

/// Runs `xz` with `args`, feeding `input` and collecting stdout.
fn run(xz: &Path, args: &[&str], input: &[u8]) -> Result<Vec<u8>, Error> {
    let mut child = Command::new(xz)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            Error::Tool(format!(
                "cannot run {} (install xz-utils): {e}",
                xz.display()
            ))
        })?;
    let mut stdin = child.stdin.take().expect("piped stdin");
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let (out, err, wrote) = std::thread::scope(|s| {
        let w = s.spawn(move || {
            let r = stdin.write_all(input);
            drop(stdin);
            r
        });
        let e = s.spawn(move || {
            let mut v = Vec::new();
            let _ = stderr.read_to_end(&mut v);
            v
        });
        let mut out = Vec::new();
        let r = stdout.read_to_end(&mut out).map(|_| out);
        (r, e.join().unwrap_or_default(), w.join())
    });
    let status = child
        .wait()
        .map_err(|e| Error::Tool(format!("{} did not finish: {e}", xz.display())))?;
    let msg = String::from_utf8_lossy(&err).trim().to_string();
    if !status.success() {
        return Err(Error::Tool(format!(
            "{} {} failed: {}",
            xz.display(),
            args.join(" "),
            if msg.is_empty() {
                status.to_string()
            } else {
                msg
            }
        )));
    }
    if let Ok(Err(e)) = wrote {
        return Err(Error::Tool(format!("cannot feed {}: {e}", xz.display())));
    }
    out.map_err(|e| Error::Tool(format!("cannot read from {}: {e}", xz.display())))
}

/// Decompresses an xz file (all concatenated streams).
pub fn decompress(xz: &Path, data: &[u8]) -> Result<Vec<u8>, Error> {
    run(xz, &["-d", "-c", "-q"], data)
}

/// Compresses for the kernel: CRC32 check, one thread, preset 6.
pub fn compress(xz: &Path, data: &[u8]) -> Result<Vec<u8>, Error> {
    run(xz, &["-z", "-c", "-6", "-T1", "--check=crc32"], data)
}

/// The integrity check named in an xz stream header (flags byte 7):
/// 0 none, 1 CRC32, 4 CRC64, 10 SHA-256.
pub fn check_id(data: &[u8]) -> Option<u8> {
    (data.len() >= 12 && data[..6] == *b"\xFD7zXZ\0").then(|| data[7] & 0x0F)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_with_crc32_through_debian_xz() {
        let xz = Path::new("xz");
        let data: Vec<u8> = (0..100_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        let packed = compress(xz, &data).expect("xz-utils is installed");
        assert_eq!(check_id(&packed), Some(1), "CRC32, never CRC64");
        assert_eq!(decompress(xz, &packed).unwrap(), data);
        assert_eq!(compress(xz, &data).unwrap(), packed, "deterministic");
        let err = decompress(xz, b"not xz at all").unwrap_err().to_string();
        assert!(err.contains("failed"), "{err}");
        let missing = compress(Path::new("/nonexistent/xz"), b"x")
            .unwrap_err()
            .to_string();
        assert!(missing.contains("install xz-utils"), "{missing}");
    }
}
