//! GRUB's environment block (`grubenv`): exactly 1024 bytes, the header
//! line `# GRUB Environment Block`, then `name=value` lines, padded with
//! `#`. Backslash and newline in values are escaped with a backslash, as
//! GRUB's `grub-editenv` does.
//!
//! GRUB's `save_env` refuses to grow or move the file (it writes the
//! sectors in place), so this module never changes its size either:
//! [`write_in_place`] overwrites the existing 1024 bytes and syncs.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use crate::{io, Error, Result};

/// Size of the block.
pub const SIZE: usize = 1024;
const HEADER: &str = "# GRUB Environment Block\n";

/// The variables of a block, in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Env {
    vars: Vec<(String, String)>,
}

impl Env {
    /// An empty environment.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses a block (as read from disk).
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let text =
            std::str::from_utf8(bytes).map_err(|_| Error::Grubenv("not UTF-8 text".into()))?;
        let body = text.strip_prefix(HEADER).ok_or_else(|| {
            Error::Grubenv("missing the '# GRUB Environment Block' header".into())
        })?;
        let mut env = Env::new();
        let mut chars = body.chars().peekable();
        let mut line = String::new();
        let mut lines = Vec::new();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some(n) => {
                        line.push('\\');
                        line.push(n);
                    }
                    None => return Err(Error::Grubenv("dangling backslash".into())),
                },
                '\n' => lines.push(std::mem::take(&mut line)),
                c => line.push(c),
            }
        }
        // Whatever follows the last newline is padding ('#').
        if !line.chars().all(|c| c == '#') {
            return Err(Error::Grubenv("unterminated last line".into()));
        }
        for raw in lines {
            if raw.starts_with('#') || raw.is_empty() {
                continue;
            }
            let (name, value) = raw
                .split_once('=')
                .ok_or_else(|| Error::Grubenv(format!("line without '=': {raw:?}")))?;
            env.set(name, &unescape(value))?;
        }
        Ok(env)
    }

    /// Renders the block: exactly [`SIZE`] bytes.
    pub fn render(&self) -> Result<Vec<u8>> {
        let mut out = String::from(HEADER);
        for (k, v) in &self.vars {
            out.push_str(k);
            out.push('=');
            out.push_str(&escape(v));
            out.push('\n');
        }
        if out.len() > SIZE {
            return Err(Error::Grubenv(format!(
                "variables need {} bytes, the block holds {SIZE}",
                out.len()
            )));
        }
        let mut bytes = out.into_bytes();
        bytes.resize(SIZE, b'#');
        Ok(bytes)
    }

    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Sets `name` (appended if new, replaced in place otherwise).
    pub fn set(&mut self, name: &str, value: &str) -> Result<()> {
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(Error::Grubenv(format!("invalid variable name {name:?}")));
        }
        match self.vars.iter_mut().find(|(k, _)| k == name) {
            Some((_, v)) => *v = value.to_string(),
            None => self.vars.push((name.to_string(), value.to_string())),
        }
        Ok(())
    }

    /// Removes `name`.
    pub fn unset(&mut self, name: &str) {
        self.vars.retain(|(k, _)| k != name);
    }

    /// All variables in order.
    pub fn vars(&self) -> impl Iterator<Item = (&str, &str)> {
        self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

fn escape(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        if c == '\\' || c == '\n' {
            s.push('\\');
        }
        s.push(c);
    }
    s
}

fn unescape(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                s.push(n);
            }
        } else {
            s.push(c);
        }
    }
    s
}

/// Reads and parses the block at `path`.
pub fn read(path: &Path) -> Result<Env> {
    let mut bytes = Vec::with_capacity(SIZE);
    std::fs::File::open(path)
        .and_then(|f| f.take(SIZE as u64 + 1).read_to_end(&mut bytes))
        .map_err(io(format!("cannot read {}", path.display())))?;
    if bytes.len() != SIZE {
        return Err(Error::Grubenv(format!(
            "{} has {} bytes, expected {SIZE}",
            path.display(),
            bytes.len()
        )));
    }
    Env::parse(&bytes)
}

/// Creates a new block file (fails if it exists).
pub fn create(path: &Path, env: &Env) -> Result<()> {
    let bytes = env.render()?;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(io(format!("cannot create {}", path.display())))?;
    f.write_all(&bytes)
        .and_then(|()| f.sync_all())
        .map_err(io(format!("cannot write {}", path.display())))
}

/// Overwrites the existing block at `path` in place (same size, same
/// sectors — what GRUB expects) and syncs it to the disk.
pub fn write_in_place(path: &Path, env: &Env) -> Result<()> {
    let bytes = env.render()?;
    let what = || format!("cannot write {}", path.display());
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(io(what()))?;
    let len = f.metadata().map_err(io(what()))?.len();
    if len != SIZE as u64 {
        return Err(Error::Grubenv(format!(
            "{} has {len} bytes, expected {SIZE}; refusing to rewrite it",
            path.display()
        )));
    }
    f.seek(SeekFrom::Start(0))
        .and_then(|_| f.write_all(&bytes))
        .and_then(|()| f.sync_all())
        .map_err(io(what()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn renders_grub_layout() {
        let mut env = Env::new();
        env.set("bb_order", "A B").unwrap();
        env.set("bb_A_ok", "1").unwrap();
        let bytes = env.render().unwrap();
        assert_eq!(bytes.len(), SIZE);
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.starts_with("# GRUB Environment Block\nbb_order=A B\nbb_A_ok=1\n###"));
        assert!(text.ends_with('#'));
        assert_eq!(Env::parse(&bytes).unwrap(), env);
    }

    #[test]
    fn parses_what_grub_editenv_writes() {
        // Byte layout of `grub-editenv F create; grub-editenv F set a=1 b='x\y'`.
        let mut raw = b"# GRUB Environment Block\na=1\nb=x\\\\y\n".to_vec();
        raw.resize(SIZE, b'#');
        let env = Env::parse(&raw).unwrap();
        assert_eq!(env.get("a"), Some("1"));
        assert_eq!(env.get("b"), Some("x\\y"));
        assert_eq!(env.render().unwrap(), raw);
    }

    #[test]
    fn rejects_garbage_and_overflow() {
        assert!(Env::parse(&[0xff; SIZE]).is_err());
        assert!(Env::parse(&[b'#'; SIZE]).is_err());
        let mut env = Env::new();
        env.set("big", &"x".repeat(SIZE)).unwrap();
        assert!(matches!(env.render(), Err(Error::Grubenv(_))));
        assert!(env.set("bad name", "1").is_err());
    }

    #[test]
    fn rewrites_in_place_only_a_block_of_the_right_size() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("grubenv");
        let mut env = Env::new();
        env.set("k", "v").unwrap();
        create(&p, &env).unwrap();
        env.set("k", "w").unwrap();
        write_in_place(&p, &env).unwrap();
        assert_eq!(read(&p).unwrap().get("k"), Some("w"));
        std::fs::write(&p, b"short").unwrap();
        assert!(write_in_place(&p, &env).is_err());
        assert_eq!(std::fs::read(&p).unwrap(), b"short");
    }

    proptest! {
        #[test]
        fn roundtrip(vals in proptest::collection::vec(("[a-z_]{1,8}", "[ -~\n\\\\]{0,20}"), 0..10)) {
            let mut env = Env::new();
            for (k, v) in &vals {
                env.set(k, v).unwrap();
            }
            let bytes = env.render().unwrap();
            prop_assert_eq!(Env::parse(&bytes).unwrap(), env);
        }
    }
}
