//! Onboot command files `linbocmd/<host>.cmd` and single LINBO commands.
//!
//! An onboot file is one line of comma-separated commands that the client
//! fetches at boot and runs once through `linbo_wrapper`, e.g.
//! `format,initcache,sync:1,start:1` or `noauto,create_image:1:"drivers"`.
//! Empty items (a leading comma from `linbo-remote -n`) are skipped.
//!
//! `N` in `sync:N` etc. is the 1-based position of the `[OS]` (for
//! `format:N` of the `[Partition]`) in the group's start.conf.
//!
//! `linbo:<password>` items are rejected: LINBO's own `linbo-remote` puts
//! the cleartext rsync password there for uploads, but the file lies in a
//! world-readable download area, so Bootbox never writes one.

use std::fmt;

use crate::startconf::{DownloadType, SectionKind, StartConf};
use crate::{LineError, ParseErrors};

/// One LINBO command (as accepted by `linbo-remote`) or onboot flag.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Command {
    /// `partition`: write the partition table, no formatting.
    Partition,
    /// `format`: partition and format everything; `format:N`: format only
    /// partition N (no repartitioning).
    Format(Option<u32>),
    /// `label`: relabel all partitions.
    Label,
    /// `initcache[:type]`: fill the cache. The client ignores the type and
    /// uses start.conf's DownloadType.
    InitCache(Option<DownloadType>),
    /// `sync:N`: download and sync OS N.
    Sync(u32),
    /// `new:N`: format and fully restore OS N.
    New(u32),
    /// `postsync:N`: run the postsync script of OS N.
    Postsync(u32),
    /// `prestart:N` (broken on the client by a typo, accepted for
    /// compatibility).
    Prestart(u32),
    /// `start:N`: boot OS N.
    Start(u32),
    /// `create_image:N[:"comment"]`: create the base image of OS N.
    CreateImage {
        /// 1-based OS position.
        os: u32,
        /// Comment prepended to the image's `.desc`.
        comment: Option<String>,
    },
    /// `create_qdiff:N[:"comment"]`: create the differential image of OS N.
    CreateQdiff {
        /// 1-based OS position.
        os: u32,
        /// Comment prepended to the image's `.desc`.
        comment: Option<String>,
    },
    /// `upload_image:N`: upload the base image of OS N to the server.
    UploadImage(u32),
    /// `upload_qdiff:N`: upload the differential image of OS N.
    UploadQdiff(u32),
    /// `reboot`.
    Reboot,
    /// `halt`: power off.
    Halt,
    /// `poweroff` (same as `halt` in `linbo_wrapper`).
    Poweroff,
    /// Onboot flag `noauto`: skip all Auto* actions and Autostart once.
    NoAuto,
    /// Onboot flag `disablegui`: boot with the GUI disabled.
    DisableGui,
}

fn parse_index(what: &str, s: &str) -> Result<u32, String> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "'{what}' needs a number after ':', counting from 1 (got '{s}')"
        ));
    }
    match s.parse::<u32>() {
        Ok(0) => Err(format!("'{what}:0': positions count from 1")),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("'{what}:{s}': number too large")),
    }
}

/// Checks a `create_*` comment and strips optional surrounding quotes.
/// An empty comment is `None`.
fn parse_comment(s: &str) -> Result<Option<String>, String> {
    let inner = match s.strip_prefix('"') {
        Some(rest) => rest.strip_suffix('"').ok_or_else(|| {
            format!("comment {s} has an opening '\"' but no closing one at the end")
        })?,
        None => s,
    };
    check_comment(inner)?;
    Ok((!inner.is_empty()).then(|| inner.to_string()))
}

/// The rules for image comments inside commands.
fn check_comment(c: &str) -> Result<(), String> {
    if let Some(ch) = c
        .chars()
        .find(|ch| matches!(ch, ',' | '"' | '$' | '`' | ':' | '\\') || ch.is_control())
    {
        let why = match ch {
            ',' => "commas separate commands".to_string(),
            ':' => "the client cuts the comment at the next ':'".to_string(),
            '"' | '$' | '`' | '\\' => "the client passes the comment through the shell".to_string(),
            _ => "control characters are not allowed".to_string(),
        };
        return Err(format!(
            "the image comment must not contain {:?}: {why}",
            ch
        ));
    }
    Ok(())
}

impl Command {
    /// Parses one command such as `sync:1` or `create_image:2:"new drivers"`.
    /// Surrounding whitespace is ignored; command names are lower-case.
    pub fn parse(s: &str) -> Result<Command, String> {
        let s = s.trim();
        if s.is_empty() {
            return Err("empty command".to_string());
        }
        let mut parts = s.splitn(3, ':');
        let name = parts.next().unwrap_or_default();
        let arg = parts.next();
        let rest = parts.next();
        let no_arg = |c: Command| -> Result<Command, String> {
            if arg.is_some() {
                Err(format!("'{name}' takes no ':' argument (got '{s}')"))
            } else {
                Ok(c)
            }
        };
        let need_n = |ctor: fn(u32) -> Command| -> Result<Command, String> {
            if rest.is_some() {
                return Err(format!("'{name}' takes exactly one number (got '{s}')"));
            }
            match arg {
                None => Err(format!(
                    "'{name}' needs a number: {name}:N, counting from 1"
                )),
                Some(a) => parse_index(name, a).map(ctor),
            }
        };
        let create = |qdiff: bool| -> Result<Command, String> {
            let os = match arg {
                None => {
                    return Err(format!(
                        "'{name}' needs the OS number: {name}:N or {name}:N:\"comment\""
                    ))
                }
                Some(a) => parse_index(name, a)?,
            };
            let comment = match rest {
                None => None,
                Some(c) => parse_comment(c)?,
            };
            Ok(if qdiff {
                Command::CreateQdiff { os, comment }
            } else {
                Command::CreateImage { os, comment }
            })
        };
        match name {
            "partition" => no_arg(Command::Partition),
            "format" => match (arg, rest) {
                (None, _) => Ok(Command::Format(None)),
                (Some(a), None) => parse_index(name, a).map(|n| Command::Format(Some(n))),
                (Some(_), Some(_)) => Err(format!("'format' takes at most one number (got '{s}')")),
            },
            "label" => no_arg(Command::Label),
            "initcache" => match (arg, rest) {
                (None, _) => Ok(Command::InitCache(None)),
                (Some(a), None) => a
                    .parse::<DownloadType>()
                    .map(|t| Command::InitCache(Some(t)))
                    .map_err(|e| format!("initcache: {e}")),
                (Some(_), Some(_)) => Err(format!(
                    "'initcache' takes at most one argument (got '{s}')"
                )),
            },
            "sync" => need_n(Command::Sync),
            "new" => need_n(Command::New),
            "postsync" => need_n(Command::Postsync),
            "prestart" => need_n(Command::Prestart),
            "start" => need_n(Command::Start),
            "create_image" => create(false),
            "create_qdiff" => create(true),
            "upload_image" => need_n(Command::UploadImage),
            "upload_qdiff" => need_n(Command::UploadQdiff),
            "reboot" => no_arg(Command::Reboot),
            "halt" => no_arg(Command::Halt),
            "poweroff" => no_arg(Command::Poweroff),
            "noauto" => no_arg(Command::NoAuto),
            "disablegui" => no_arg(Command::DisableGui),
            "linbo" => Err(
                "'linbo:<password>' is refused: Bootbox never writes passwords into files \
                 clients can download"
                    .to_string(),
            ),
            _ => {
                let lower = name.to_ascii_lowercase();
                if lower != name && Command::parse(&s.to_ascii_lowercase()).is_ok() {
                    Err(format!(
                        "unknown command '{name}': LINBO commands are lower-case ('{lower}')"
                    ))
                } else {
                    Err(format!("unknown command '{name}'"))
                }
            }
        }
    }

    /// The command word (`sync`, `create_image`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Command::Partition => "partition",
            Command::Format(_) => "format",
            Command::Label => "label",
            Command::InitCache(_) => "initcache",
            Command::Sync(_) => "sync",
            Command::New(_) => "new",
            Command::Postsync(_) => "postsync",
            Command::Prestart(_) => "prestart",
            Command::Start(_) => "start",
            Command::CreateImage { .. } => "create_image",
            Command::CreateQdiff { .. } => "create_qdiff",
            Command::UploadImage(_) => "upload_image",
            Command::UploadQdiff(_) => "upload_qdiff",
            Command::Reboot => "reboot",
            Command::Halt => "halt",
            Command::Poweroff => "poweroff",
            Command::NoAuto => "noauto",
            Command::DisableGui => "disablegui",
        }
    }

    /// The 1-based `[OS]` position the command acts on, if any.
    pub fn os_index(&self) -> Option<u32> {
        match self {
            Command::Sync(n)
            | Command::New(n)
            | Command::Postsync(n)
            | Command::Prestart(n)
            | Command::Start(n)
            | Command::UploadImage(n)
            | Command::UploadQdiff(n)
            | Command::CreateImage { os: n, .. }
            | Command::CreateQdiff { os: n, .. } => Some(*n),
            _ => None,
        }
    }

    /// The 1-based `[Partition]` position of `format:N`, if any.
    pub fn partition_index(&self) -> Option<u32> {
        match self {
            Command::Format(n) => *n,
            _ => None,
        }
    }

    /// True for commands `linbo-remote` refuses to send to more than one
    /// host at a time (`create_*`, `upload_*`).
    pub fn requires_single_host(&self) -> bool {
        matches!(
            self,
            Command::CreateImage { .. }
                | Command::CreateQdiff { .. }
                | Command::UploadImage(_)
                | Command::UploadQdiff(_)
        )
    }

    /// True for `noauto` and `disablegui`, which only make sense in an
    /// onboot file (the client acts on them while booting).
    pub fn is_onboot_flag(&self) -> bool {
        matches!(self, Command::NoAuto | Command::DisableGui)
    }

    /// True for commands that wipe data on the client (`partition`,
    /// `format`, `new`).
    pub fn is_destructive(&self) -> bool {
        matches!(
            self,
            Command::Partition | Command::Format(_) | Command::New(_)
        )
    }

    /// Checks the OS / partition number against a group's start.conf.
    pub fn check_against(&self, conf: &StartConf) -> Result<(), String> {
        if let Some(n) = self.os_index() {
            let have = conf.count(&SectionKind::Os);
            if n as usize > have {
                return Err(format!(
                    "{self}: the start.conf has {have} [OS] section{}",
                    if have == 1 { "" } else { "s" }
                ));
            }
        }
        if let Some(n) = self.partition_index() {
            let have = conf.count(&SectionKind::Partition);
            if n as usize > have {
                return Err(format!(
                    "{self}: the start.conf has {have} [Partition] section{}",
                    if have == 1 { "" } else { "s" }
                ));
            }
        }
        Ok(())
    }
}

impl std::str::FromStr for Command {
    type Err = String;

    /// Same as [`Command::parse`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Command::parse(s)
    }
}

impl fmt::Display for Command {
    /// Canonical form, e.g. `sync:1`, `create_image:1:"comment"`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())?;
        match self {
            Command::Format(Some(n)) => write!(f, ":{n}"),
            Command::InitCache(Some(t)) => write!(f, ":{t}"),
            Command::CreateImage { os, comment } | Command::CreateQdiff { os, comment } => {
                write!(f, ":{os}")?;
                match comment {
                    Some(c) => write!(f, ":\"{c}\""),
                    None => Ok(()),
                }
            }
            c => match c.os_index() {
                Some(n) => write!(f, ":{n}"),
                None => Ok(()),
            },
        }
    }
}

/// A whole onboot file: commands in execution order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OnbootCmd {
    /// The commands, flags included, in file order.
    pub commands: Vec<Command>,
}

impl OnbootCmd {
    /// Parses an onboot file: one line (a trailing newline is fine) of
    /// comma-separated commands. Every bad item is reported, with its
    /// position in the line.
    pub fn parse(text: &str) -> Result<OnbootCmd, ParseErrors> {
        let mut errors = Vec::new();
        let mut commands = Vec::new();
        let mut first = true;
        for (n, line) in crate::startconf::numbered_lines(text) {
            if line.trim().is_empty() {
                continue;
            }
            if !first {
                errors.push(LineError::new(
                    n,
                    "an onboot file is a single line; put all commands on the first line, \
                     separated by commas",
                ));
                continue;
            }
            first = false;
            let mut col = 1usize;
            for (i, item) in line.split(',').enumerate() {
                let item_col = col;
                col += item.chars().count() + 1;
                if item.trim().is_empty() {
                    continue;
                }
                let lead = item.chars().take_while(|c| c.is_whitespace()).count();
                match Command::parse(item) {
                    Ok(c) => commands.push(c),
                    Err(e) => errors.push(LineError::new(
                        n,
                        format!("item {} (column {}): {e}", i + 1, item_col + lead),
                    )),
                }
            }
        }
        ParseErrors::check(errors, OnbootCmd { commands })
    }

    /// Writes the file: canonical commands joined by commas, plus a newline.
    pub fn render(&self) -> String {
        format!("{self}\n")
    }

    /// True if any command may only be sent to one host.
    pub fn requires_single_host(&self) -> bool {
        self.commands.iter().any(Command::requires_single_host)
    }

    /// Checks every command's OS / partition number against a start.conf;
    /// returns one message per problem.
    pub fn check_against(&self, conf: &StartConf) -> Vec<String> {
        self.commands
            .iter()
            .filter_map(|c| c.check_against(conf).err())
            .collect()
    }
}

impl fmt::Display for OnbootCmd {
    /// The commands joined by commas, without a newline.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, c) in self.commands.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{c}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typical_linbo_remote_files() {
        let c = OnbootCmd::parse(",format,initcache:torrent,sync:1,start:1,noauto,disablegui\n");
        assert_eq!(
            c,
            Ok(OnbootCmd {
                commands: vec![
                    Command::Format(None),
                    Command::InitCache(Some(DownloadType::Torrent)),
                    Command::Sync(1),
                    Command::Start(1),
                    Command::NoAuto,
                    Command::DisableGui,
                ]
            })
        );
        let c = OnbootCmd::parse("create_image:2:\"Treiber aktualisiert\",upload_image:2,halt");
        assert_eq!(
            c.as_ref().map(|c| c.render()),
            Ok("create_image:2:\"Treiber aktualisiert\",upload_image:2,halt\n".to_string())
        );
        assert_eq!(c.map(|c| c.requires_single_host()), Ok(true));
    }

    #[test]
    fn every_command_round_trips() {
        for s in [
            "partition",
            "format",
            "format:3",
            "label",
            "initcache",
            "initcache:rsync",
            "initcache:multicast",
            "sync:1",
            "new:2",
            "postsync:1",
            "prestart:1",
            "start:12",
            "create_image:1",
            "create_image:1:\"new office\"",
            "create_qdiff:2:\"hotfix\"",
            "upload_image:1",
            "upload_qdiff:1",
            "reboot",
            "halt",
            "poweroff",
            "noauto",
            "disablegui",
        ] {
            let c = Command::parse(s);
            assert_eq!(c.as_ref().map(|c| c.to_string()), Ok(s.to_string()), "{s}");
        }
    }

    #[test]
    fn lenient_spellings_normalise() {
        assert_eq!(
            Command::parse(" create_image:01:new office "),
            Ok(Command::CreateImage {
                os: 1,
                comment: Some("new office".into())
            })
        );
        assert_eq!(
            Command::parse("create_qdiff:1:\"\""),
            Ok(Command::CreateQdiff {
                os: 1,
                comment: None
            })
        );
        assert_eq!(
            Command::parse("initcache:Torrent"),
            Ok(Command::InitCache(Some(DownloadType::Torrent)))
        );
    }

    #[test]
    fn bad_commands_explain_themselves() {
        let cases = [
            ("sync", "needs a number"),
            ("sync:0", "count from 1"),
            ("sync:x", "needs a number"),
            ("sync:-1", "needs a number"),
            ("sync:99999999999", "too large"),
            ("sync:1:2", "exactly one"),
            ("reboot:1", "takes no"),
            ("initcache:ftp", "rsync, multicast or torrent"),
            ("create_image", "needs the OS number"),
            ("create_image:1:\"a$b\"", "shell"),
            ("create_image:1:\"a:b\"", "next ':'"),
            ("create_image:1:\"open", "no closing"),
            ("create_image:1:a\"b", "shell"),
            ("Sync:1", "lower-case"),
            ("update", "unknown command 'update'"),
            ("linbo:secret", "never writes passwords"),
            ("", "empty"),
        ];
        for (s, want) in cases {
            match Command::parse(s) {
                Ok(c) => panic!("{s} parsed as {c:?}"),
                Err(e) => assert!(e.contains(want), "{s}: {e}"),
            }
        }
    }

    #[test]
    fn all_bad_items_reported_with_columns() {
        let e = OnbootCmd::parse("linbo:pw,sync:1, bogus,start:0\n");
        let errs = e.err().map(|e| e.errors).unwrap_or_default();
        assert_eq!(errs.len(), 3, "{errs:?}");
        assert!(errs.iter().all(|e| e.line == 1));
        assert!(
            errs[0].message.starts_with("item 1 (column 1): "),
            "{}",
            errs[0].message
        );
        assert!(
            errs[1].message.starts_with("item 3 (column 18): "),
            "{}",
            errs[1].message
        );
        assert!(
            errs[2].message.starts_with("item 4 (column 24): "),
            "{}",
            errs[2].message
        );
    }

    #[test]
    fn second_line_is_an_error() {
        let errs = OnbootCmd::parse("sync:1\nstart:1\n")
            .err()
            .map(|e| e.errors);
        assert_eq!(
            errs.map(|e| e.iter().map(|e| e.line).collect::<Vec<_>>()),
            Some(vec![2])
        );
        assert_eq!(
            OnbootCmd::parse("\n\nreboot\r\n\n").map(|c| c.commands),
            Ok(vec![Command::Reboot])
        );
        assert_eq!(OnbootCmd::parse(""), Ok(OnbootCmd::default()));
        assert_eq!(OnbootCmd::parse(",,"), Ok(OnbootCmd::default()));
    }

    #[test]
    fn helpers() {
        assert_eq!(Command::Sync(3).os_index(), Some(3));
        assert_eq!(
            Command::CreateImage {
                os: 2,
                comment: None
            }
            .os_index(),
            Some(2)
        );
        assert_eq!(Command::Format(Some(4)).os_index(), None);
        assert_eq!(Command::Format(Some(4)).partition_index(), Some(4));
        assert!(Command::UploadQdiff(1).requires_single_host());
        assert!(!Command::Sync(1).requires_single_host());
        assert!(Command::NoAuto.is_onboot_flag());
        assert!(Command::New(1).is_destructive());
        assert_eq!("start:2".parse::<Command>(), Ok(Command::Start(2)));

        let conf = StartConf::parse("[LINBO]\nCache = /dev/sda2\n[Partition]\nDev = /dev/sda1\n[Partition]\nDev = /dev/sda2\n[OS]\nName = W\nRoot = /dev/sda1\n")
            .map(|p| p.conf)
            .unwrap_or_default();
        assert_eq!(Command::Sync(1).check_against(&conf), Ok(()));
        assert!(Command::Sync(2).check_against(&conf).is_err());
        assert!(Command::Format(Some(3)).check_against(&conf).is_err());
        let cmd = OnbootCmd {
            commands: vec![Command::Format(Some(2)), Command::Start(2)],
        };
        assert_eq!(cmd.check_against(&conf).len(), 1);
    }
}
