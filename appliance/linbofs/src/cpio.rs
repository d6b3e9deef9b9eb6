//! The "newc" cpio format (`070701`), as the kernel unpacks an initramfs.
//!
//! Reading accepts concatenated archives (later entries replace earlier
//! ones of the same name, as when the kernel unpacks them in order) and
//! names with or without a leading `./`. Writing is deterministic: entries
//! sorted by name, inode numbers assigned in that order, hard links
//! materialised as separate files (the kernel needs no links here).

use std::collections::BTreeMap;

use crate::Error;

const MAGIC: &[u8; 6] = b"070701";
const TRAILER: &str = "TRAILER!!!";
const HEADER_LEN: usize = 110;

/// File type bits of `mode`.
pub const S_IFMT: u32 = 0o170000;
/// Directory.
pub const S_IFDIR: u32 = 0o040000;
/// Regular file.
pub const S_IFREG: u32 = 0o100000;
/// Symbolic link.
pub const S_IFLNK: u32 = 0o120000;

/// One archive member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Type and permission bits.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Modification time (seconds since the epoch).
    pub mtime: u32,
    /// Device number of a character or block device node.
    pub rdev: (u32, u32),
    /// File contents (the target for a symlink; empty for others).
    pub data: Vec<u8>,
}

impl Entry {
    /// A regular file owned by root.
    pub fn file(perm: u32, data: Vec<u8>, mtime: u32) -> Self {
        Entry {
            mode: S_IFREG | (perm & 0o7777),
            uid: 0,
            gid: 0,
            mtime,
            rdev: (0, 0),
            data,
        }
    }

    /// A directory owned by root.
    pub fn dir(perm: u32, mtime: u32) -> Self {
        Entry {
            mode: S_IFDIR | (perm & 0o7777),
            uid: 0,
            gid: 0,
            mtime,
            rdev: (0, 0),
            data: Vec::new(),
        }
    }

    /// True for a directory.
    pub fn is_dir(&self) -> bool {
        self.mode & S_IFMT == S_IFDIR
    }

    /// True for a regular file.
    pub fn is_file(&self) -> bool {
        self.mode & S_IFMT == S_IFREG
    }
}

/// An unpacked archive: normalised path (no leading `./` or `/`) → entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Archive {
    /// Members by path, sorted.
    pub entries: BTreeMap<String, Entry>,
}

fn hex_field(h: &[u8], i: usize) -> Result<u32, Error> {
    let s = &h[6 + i * 8..6 + (i + 1) * 8];
    let s = std::str::from_utf8(s).map_err(|_| Error::Cpio("header is not ASCII".into()))?;
    u32::from_str_radix(s, 16).map_err(|_| Error::Cpio(format!("bad header field {s:?}")))
}

fn pad4(n: usize) -> usize {
    (4 - n % 4) % 4
}

/// Normalises a member name: strips `./` and `/` prefixes; `.` → empty.
fn normalise(name: &str) -> String {
    let mut n = name;
    loop {
        if let Some(rest) = n.strip_prefix("./") {
            n = rest;
        } else if let Some(rest) = n.strip_prefix('/') {
            n = rest;
        } else {
            break;
        }
    }
    if n == "." {
        String::new()
    } else {
        n.trim_end_matches('/').to_string()
    }
}

impl Archive {
    /// Parses one or more concatenated newc archives.
    pub fn parse(buf: &[u8]) -> Result<Archive, Error> {
        struct Raw {
            name: String,
            entry: Entry,
            link_key: Option<(u32, u32, u32)>,
        }
        let mut raws: Vec<Raw> = Vec::new();
        let mut pos = 0usize;
        let mut archives = 0usize;
        while pos < buf.len() {
            // Zero padding between concatenated archives.
            if buf[pos] == 0 {
                pos += 1;
                continue;
            }
            let h = buf
                .get(pos..pos + HEADER_LEN)
                .ok_or_else(|| Error::Cpio(format!("truncated header at byte {pos}")))?;
            if &h[..6] != MAGIC {
                return Err(Error::Cpio(format!(
                    "not a newc cpio archive (bad magic at byte {pos})"
                )));
            }
            let f = |i| hex_field(h, i);
            let (ino, mode, uid, gid, nlink, mtime) = (f(0)?, f(1)?, f(2)?, f(3)?, f(4)?, f(5)?);
            let size = f(6)? as usize;
            let (devmajor, devminor) = (f(7)?, f(8)?);
            let rdev = (f(9)?, f(10)?);
            let namesize = f(11)? as usize;
            let name_start = pos + HEADER_LEN;
            let name_end = name_start + namesize;
            let raw_name = buf
                .get(name_start..name_end)
                .ok_or_else(|| Error::Cpio(format!("truncated name at byte {name_start}")))?;
            let raw_name = raw_name.strip_suffix(&[0]).unwrap_or(raw_name);
            let name = std::str::from_utf8(raw_name)
                .map_err(|_| Error::Cpio(format!("member name at byte {pos} is not UTF-8")))?
                .to_string();
            let data_start = name_end + pad4(HEADER_LEN + namesize);
            let data_end = data_start + size;
            let data = buf
                .get(data_start..data_end)
                .ok_or_else(|| Error::Cpio(format!("truncated data of {name:?}")))?
                .to_vec();
            pos = data_end + pad4(size);
            if name == TRAILER {
                archives += 1;
                continue;
            }
            if name.split('/').any(|c| c == "..") {
                return Err(Error::Cpio(format!(
                    "member name {name:?} leaves the archive"
                )));
            }
            let entry = Entry {
                mode,
                uid,
                gid,
                mtime,
                rdev,
                data,
            };
            let link_key = (entry.is_file() && nlink > 1).then_some((devmajor, devminor, ino));
            raws.push(Raw {
                name: normalise(&name),
                entry,
                link_key,
            });
        }
        if archives == 0 {
            return Err(Error::Cpio("no cpio trailer: archive incomplete".into()));
        }
        // Hard links: the data travels with one member of the group.
        let mut link_data: BTreeMap<(u32, u32, u32), Vec<u8>> = BTreeMap::new();
        for r in &raws {
            if let Some(k) = r.link_key {
                if !r.entry.data.is_empty() {
                    link_data.insert(k, r.entry.data.clone());
                }
            }
        }
        let mut entries = BTreeMap::new();
        for mut r in raws {
            if r.name.is_empty() {
                continue;
            }
            if let Some(k) = r.link_key {
                if let Some(d) = link_data.get(&k) {
                    r.entry.data = d.clone();
                }
            }
            entries.insert(r.name, r.entry);
        }
        Ok(Archive { entries })
    }

    /// Adds or replaces a member, creating missing parent directories
    /// (root, mode 0755, the entry's mtime).
    pub fn put_file(&mut self, path: &str, entry: Entry) {
        let path = normalise(path);
        let mtime = entry.mtime;
        self.mkdirs(&path, mtime);
        self.entries.insert(path, entry);
    }

    /// Adds missing parent directories of `path`.
    fn mkdirs(&mut self, path: &str, mtime: u32) {
        let mut at = 0;
        while let Some(i) = path[at..].find('/') {
            let dir = &path[..at + i];
            self.entries
                .entry(dir.to_string())
                .or_insert_with(|| Entry::dir(0o755, mtime));
            at += i + 1;
        }
    }

    /// Serialises as one newc archive, entries sorted by name.
    pub fn write(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut ino = 1u32;
        let member = |out: &mut Vec<u8>, name: &str, e: &Entry, ino: u32| {
            let nlink = if e.is_dir() { 2 } else { 1 };
            let namesize = name.len() + 1;
            let fields = [
                ino,
                e.mode,
                e.uid,
                e.gid,
                nlink,
                e.mtime,
                e.data.len() as u32,
                0,
                0,
                e.rdev.0,
                e.rdev.1,
                namesize as u32,
                0,
            ];
            out.extend_from_slice(MAGIC);
            for v in fields {
                out.extend_from_slice(format!("{v:08X}").as_bytes());
            }
            out.extend_from_slice(name.as_bytes());
            out.push(0);
            out.extend(std::iter::repeat_n(0u8, pad4(HEADER_LEN + namesize)));
            out.extend_from_slice(&e.data);
            out.extend(std::iter::repeat_n(0u8, pad4(e.data.len())));
        };
        for (name, e) in &self.entries {
            member(&mut out, name, e, ino);
            ino += 1;
        }
        let trailer = Entry {
            mode: 0,
            uid: 0,
            gid: 0,
            mtime: 0,
            rdev: (0, 0),
            data: Vec::new(),
        };
        member(&mut out, TRAILER, &trailer, 0);
        // Pad to 512 bytes as cpio(1) does.
        out.extend(std::iter::repeat_n(0u8, (512 - out.len() % 512) % 512));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Archive {
        let mut a = Archive::default();
        a.put_file(
            "etc/dropbear/key",
            Entry::file(0o600, b"secret".to_vec(), 7),
        );
        a.put_file("init", Entry::file(0o755, b"#!/bin/sh\n".to_vec(), 7));
        a.entries.insert(
            "bin/sh".into(),
            Entry {
                mode: S_IFLNK | 0o777,
                uid: 0,
                gid: 0,
                mtime: 7,
                rdev: (0, 0),
                data: b"busybox".to_vec(),
            },
        );
        a
    }

    #[test]
    fn roundtrip_is_stable_and_sorted() {
        let a = sample();
        let bytes = a.write();
        assert_eq!(bytes.len() % 512, 0);
        let b = Archive::parse(&bytes).unwrap();
        assert_eq!(a, b);
        assert_eq!(b.write(), bytes, "writing is deterministic");
        let names: Vec<_> = b.entries.keys().cloned().collect();
        assert_eq!(
            names,
            ["bin/sh", "etc", "etc/dropbear", "etc/dropbear/key", "init"]
        );
        assert!(b.entries["etc/dropbear"].is_dir());
    }

    #[test]
    fn concatenated_archives_and_dot_prefixes() {
        let mut first = Archive::default();
        first.put_file("./a", Entry::file(0o644, b"old".to_vec(), 1));
        let mut second = Archive::default();
        second.put_file("a", Entry::file(0o644, b"new".to_vec(), 2));
        let mut bytes = first.write();
        bytes.extend(second.write());
        let got = Archive::parse(&bytes).unwrap();
        assert_eq!(got.entries["a"].data, b"new");
    }

    #[test]
    fn broken_input_is_an_error() {
        let bytes = sample().write();
        assert!(Archive::parse(b"hello world, not cpio").is_err());
        assert!(Archive::parse(&bytes[..200]).is_err());
        // Without the trailer: incomplete.
        let cut = bytes.windows(10).position(|w| w == b"TRAILER!!!").unwrap() - HEADER_LEN;
        assert!(Archive::parse(&bytes[..cut]).is_err());
    }
}
