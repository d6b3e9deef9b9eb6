//! `start.conf.<group>`: the per-group configuration every LINBO client
//! downloads at boot.
//!
//! The file is INI-like: `[LINBO]`, `[Partition]` and `[OS]` sections with
//! `Key = Value` lines. The client (`linbo_split_startconf`) only looks at
//! lines starting in column 0 with `[` or a letter, cuts comments at `# `,
//! lower-cases keys and writes every entry as a shell assignment
//! `key="value"` which it later *sources*. This module therefore:
//!
//! * keeps the whole document (comments, blank lines, order, key spelling,
//!   unknown keys and sections) so an editor can change one value and leave
//!   the rest of the file as the admin wrote it;
//! * rejects values that would break or abuse the shell assignment
//!   (`"`, `$`, backticks, a trailing backslash);
//! * checks the values of the keys LINBO knows and warns about things the
//!   client silently ignores (indented lines, unknown keys and sections).
//!
//! [`StartConf::render`] writes a canonical form: `[LINBO]`, `[Partition]`
//! and `[OS]` headers, `Key = Value` entries and ` # text` inline comments;
//! own-line comments, indented lines and unknown sections stay verbatim. For
//! every text that parses, `parse(render(conf)) == conf`.

mod values;
mod views;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fmt;

use crate::{LineError, ParseErrors};

pub use values::{parse_bool, parse_size_kib, DefaultAction, DownloadType, SystemType};
pub use views::{OsView, PartitionView};

use values::{
    check_api_value, check_key_name, check_shell_safe, check_value, comment_start, known_key,
};

/// Splits `text` into lines the way every parser in this crate does: at
/// `\n`, with trailing `\r`s removed, and without an empty last line after
/// a final newline. Yields 1-based line numbers.
pub(crate) fn numbered_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let body = text.strip_suffix('\n').unwrap_or(text);
    let empty = text.is_empty();
    body.split('\n')
        .filter(move |_| !empty)
        .map(|l| l.trim_end_matches('\r'))
        .enumerate()
        .map(|(i, l)| (i + 1, l))
}

/// The kind of a section, from its `[Name]` header (matched
/// case-insensitively).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SectionKind {
    /// `[LINBO]`: global settings of the group.
    Linbo,
    /// `[Partition]`: one partition, in disk order.
    Partition,
    /// `[OS]`: one operating system; its 1-based position is the `N` of
    /// `sync:N`, `start:N` etc.
    Os,
    /// Any other section, which LINBO ignores. Holds the name as written
    /// (without brackets, trimmed).
    Other(String),
}

impl SectionKind {
    /// Classifies a section name (the text between the brackets).
    pub fn from_name(name: &str) -> SectionKind {
        if name.eq_ignore_ascii_case("linbo") {
            SectionKind::Linbo
        } else if name.eq_ignore_ascii_case("partition") {
            SectionKind::Partition
        } else if name.eq_ignore_ascii_case("os") {
            SectionKind::Os
        } else {
            SectionKind::Other(name.to_string())
        }
    }

    /// The header name as rendered: `LINBO`, `Partition`, `OS`, or the
    /// unknown name as written.
    pub fn name(&self) -> &str {
        match self {
            SectionKind::Linbo => "LINBO",
            SectionKind::Partition => "Partition",
            SectionKind::Os => "OS",
            SectionKind::Other(n) => n,
        }
    }
}

impl fmt::Display for SectionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}]", self.name())
    }
}

/// One `Key = Value` setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The key as the admin spelled it (LINBO matches keys case-insensitively).
    pub key: String,
    /// The value, trimmed. Never contains `"`, `$` or backticks.
    pub value: String,
    /// Inline comment after the value (text after `# `, trimmed), if any.
    pub comment: Option<String>,
}

/// One line of the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// An empty or whitespace-only line (rendered empty).
    Blank,
    /// A comment line (`#` or `;` first, possibly indented), verbatim.
    Comment(String),
    /// A setting.
    Entry(Entry),
    /// An indented, non-comment line in the preamble or a LINBO section.
    /// The client ignores it; kept verbatim.
    Indented(String),
    /// A line inside an unknown section, kept verbatim.
    Raw(String),
}

impl Line {
    fn render_into(&self, out: &mut String) {
        match self {
            Line::Blank => {}
            Line::Comment(s) | Line::Indented(s) | Line::Raw(s) => out.push_str(s),
            Line::Entry(e) => {
                out.push_str(&e.key);
                out.push_str(" =");
                if !e.value.is_empty() {
                    out.push(' ');
                    out.push_str(&e.value);
                }
                push_inline_comment(out, e.comment.as_deref());
            }
        }
        out.push('\n');
    }
}

fn push_inline_comment(out: &mut String, comment: Option<&str>) {
    if let Some(c) = comment {
        out.push_str(" #");
        if !c.is_empty() {
            out.push(' ');
            out.push_str(c);
        }
    }
}

/// A section: header plus the lines up to the next header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// Which section this is.
    pub kind: SectionKind,
    /// Inline comment on the header line, if any.
    pub comment: Option<String>,
    /// The lines after the header, in file order.
    pub lines: Vec<Line>,
}

impl Section {
    /// A new, empty section.
    pub fn new(kind: SectionKind) -> Section {
        Section {
            kind,
            comment: None,
            lines: Vec::new(),
        }
    }

    /// The settings of this section, in file order.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.lines.iter().filter_map(|l| match l {
            Line::Entry(e) => Some(e),
            _ => None,
        })
    }

    /// The setting with key `key` (case-insensitive).
    pub fn entry(&self, key: &str) -> Option<&Entry> {
        self.entries().find(|e| e.key.eq_ignore_ascii_case(key))
    }

    /// The value of `key` (case-insensitive), if the key is present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entry(key).map(|e| e.value.as_str())
    }

    /// Like [`Section::get`], but an empty value counts as absent.
    pub fn get_nonempty(&self, key: &str) -> Option<&str> {
        self.get(key).filter(|v| !v.is_empty())
    }

    /// Sets `key` to `value`, keeping the key's spelling, position and inline
    /// comment if it already exists; otherwise appends `Key = value` after
    /// the last setting (a known key gets LINBO's canonical spelling).
    ///
    /// The value is checked like the parser checks it (shell safety, no
    /// comment marker, typed values such as `DownloadType`), so the
    /// rendered document still parses. Returns the explanation on error.
    /// Unknown sections cannot be edited.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        if let SectionKind::Other(name) = &self.kind {
            return Err(format!(
                "[{name}] is not a LINBO section; its lines are kept verbatim and cannot be edited"
            ));
        }
        check_key_name(key)?;
        check_api_value(value)?;
        let known = known_key(&self.kind, key);
        if let Some((canonical, kind)) = known {
            check_value(canonical, kind, value)?;
        }
        let existing = self.lines.iter_mut().find_map(|l| match l {
            Line::Entry(e) if e.key.eq_ignore_ascii_case(key) => Some(e),
            _ => None,
        });
        match existing {
            Some(e) => e.value = value.to_string(),
            None => {
                let at = self
                    .lines
                    .iter()
                    .rposition(|l| matches!(l, Line::Entry(_)))
                    .map_or(0, |i| i + 1);
                let key = known.map_or(key, |(canonical, _)| canonical);
                self.lines.insert(
                    at,
                    Line::Entry(Entry {
                        key: key.to_string(),
                        value: value.to_string(),
                        comment: None,
                    }),
                );
            }
        }
        Ok(())
    }

    /// Removes `key` (case-insensitive) and returns its entry, if present.
    pub fn remove(&mut self, key: &str) -> Option<Entry> {
        let i = self
            .lines
            .iter()
            .position(|l| matches!(l, Line::Entry(e) if e.key.eq_ignore_ascii_case(key)))?;
        match self.lines.remove(i) {
            Line::Entry(e) => Some(e),
            _ => None,
        }
    }

    fn bool_value(&self, key: &str) -> Option<bool> {
        self.get(key).and_then(parse_bool)
    }
}

/// A whole start.conf document.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StartConf {
    /// Comments, blank and indented lines before the first section header.
    pub preamble: Vec<Line>,
    /// The sections in file order.
    pub sections: Vec<Section>,
}

/// The result of a successful [`StartConf::parse`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// The document.
    pub conf: StartConf,
    /// Things that are accepted but probably not what the admin meant
    /// (indented lines, unknown keys/sections, no `[OS]`, ...), in line order.
    pub warnings: Vec<LineError>,
}

/// Per-section bookkeeping while parsing.
struct SectionState {
    /// Lower-cased key → line where it was first set.
    keys: HashMap<String, usize>,
    /// Line of the header.
    header_line: usize,
}

/// Splits a column-0 line into content and inline comment.
fn split_comment(line: &str) -> (&str, Option<String>) {
    match comment_start(line) {
        Some(i) => (&line[..i], Some(line[i + 1..].trim().to_string())),
        None => (line, None),
    }
}

/// Reads a header line (starts with `[`). Returns kind and inline comment,
/// or the kind it most likely meant plus an error message.
fn parse_header(line: &str) -> Result<(SectionKind, Option<String>), (SectionKind, String)> {
    let (content, comment) = split_comment(line);
    let content = content.trim_end();
    let inner = content.strip_prefix('[').unwrap_or(content);
    let Some(inner) = inner.strip_suffix(']') else {
        let guess = inner.split(']').next().unwrap_or(inner).trim();
        return Err((
            SectionKind::from_name(guess),
            format!("section header '{content}' must be '[Name]' with nothing after the ']' except a '# comment'"),
        ));
    };
    let name = inner.trim();
    if name.is_empty() {
        return Err((
            SectionKind::Other(String::new()),
            "empty section name '[]'".to_string(),
        ));
    }
    if name.contains(['[', ']']) {
        return Err((
            SectionKind::from_name(name),
            format!("section name '{name}' must not contain '[' or ']'"),
        ));
    }
    Ok((SectionKind::from_name(name), comment))
}

impl StartConf {
    /// Parses a start.conf. Returns the document and warnings, or every
    /// error found (each with its 1-based line number).
    pub fn parse(text: &str) -> Result<Parsed, ParseErrors> {
        let mut errors: Vec<LineError> = Vec::new();
        let mut warnings: Vec<LineError> = Vec::new();
        let mut conf = StartConf::default();
        let mut state: Option<SectionState> = None;
        let mut linbo_line: Option<usize> = None;

        for (n, line) in numbered_lines(text) {
            let in_other = matches!(
                conf.sections.last(),
                Some(Section {
                    kind: SectionKind::Other(_),
                    ..
                })
            );
            let target = match conf.sections.last_mut() {
                Some(s) => &mut s.lines,
                None => &mut conf.preamble,
            };
            let trimmed = line.trim_start();
            if trimmed.is_empty() {
                target.push(Line::Blank);
                continue;
            }
            if trimmed.starts_with('#') || trimmed.starts_with(';') {
                target.push(Line::Comment(line.to_string()));
                continue;
            }
            if trimmed.len() != line.len() {
                if in_other {
                    target.push(Line::Raw(line.to_string()));
                } else {
                    warnings.push(LineError::new(
                        n,
                        "indented, so the LINBO client ignores it",
                    ));
                    target.push(Line::Indented(line.to_string()));
                }
                continue;
            }
            if line.starts_with('[') {
                let (kind, comment) = match parse_header(line) {
                    Ok(h) => h,
                    Err((kind, msg)) => {
                        errors.push(LineError::new(n, msg));
                        (kind, None)
                    }
                };
                match &kind {
                    SectionKind::Linbo => match linbo_line {
                        Some(first) => errors.push(LineError::new(
                            n,
                            format!(
                                "second [LINBO] section (the first is on line {first}); merge them"
                            ),
                        )),
                        None => linbo_line = Some(n),
                    },
                    SectionKind::Other(name) if !name.is_empty() => warnings.push(LineError::new(
                        n,
                        format!("unknown section [{name}]; kept, but LINBO ignores it"),
                    )),
                    _ => {}
                }
                conf.sections.push(Section {
                    kind,
                    comment,
                    lines: Vec::new(),
                });
                state = Some(SectionState {
                    keys: HashMap::new(),
                    header_line: n,
                });
                continue;
            }
            if in_other {
                target.push(Line::Raw(line.to_string()));
                continue;
            }
            let (content, comment) = split_comment(line);
            let Some((key, value)) = content.split_once('=') else {
                if line.starts_with('\u{feff}') {
                    errors.push(LineError::new(
                        n,
                        "the line starts with an invisible byte-order mark (BOM); save the file as UTF-8 without BOM",
                    ));
                    continue;
                }
                errors.push(LineError::new(
                    n,
                    format!(
                        "'{}' is not a section header, 'Key = Value' setting or comment",
                        line.trim_end()
                    ),
                ));
                continue;
            };
            let key = key.trim();
            let value = value.trim();
            let entry = Entry {
                key: key.to_string(),
                value: value.to_string(),
                comment,
            };
            let (Some(st), Some(section)) = (state.as_mut(), conf.sections.last_mut()) else {
                errors.push(LineError::new(
                    n,
                    format!(
                        "setting '{key}' comes before the first section header such as [LINBO]"
                    ),
                ));
                conf.preamble.push(Line::Entry(entry));
                continue;
            };
            if let Err(e) = check_key_name(key) {
                errors.push(LineError::new(n, e));
            } else if let Some(first) = st.keys.get(&key.to_ascii_lowercase()) {
                errors.push(LineError::new(
                    n,
                    format!(
                        "{key} is set twice in the {} section starting on line {} (first on line {first})",
                        section.kind, st.header_line
                    ),
                ));
            } else {
                st.keys.insert(key.to_ascii_lowercase(), n);
            }
            if let Err(e) = check_shell_safe(value) {
                errors.push(LineError::new(n, format!("{key}: {e}")));
            } else if value.ends_with('#') {
                errors.push(LineError::new(
                    n,
                    format!("{key}: the value ends with '#', which reads like the start of a comment; remove it or put it elsewhere"),
                ));
            } else {
                match known_key(&section.kind, key) {
                    Some((canonical, kind)) => match check_value(canonical, kind, value) {
                        Ok(None) => {}
                        Ok(Some(w)) => warnings.push(LineError::new(n, w)),
                        Err(e) => errors.push(LineError::new(n, e)),
                    },
                    None => warnings.push(LineError::new(
                        n,
                        format!(
                            "unknown key '{key}' in {}; kept, but LINBO does not use it",
                            section.kind
                        ),
                    )),
                }
            }
            section.lines.push(Line::Entry(entry));
        }

        conf.whole_file_warnings(&mut warnings);
        warnings.sort_by_key(|w| w.line);
        ParseErrors::check(errors, Parsed { conf, warnings })
    }

    /// Checks that need the whole document. Line numbers are recomputed
    /// from the model (each model line is one text line).
    fn whole_file_warnings(&self, warnings: &mut Vec<LineError>) {
        if !self.sections.iter().any(|s| s.kind == SectionKind::Os) {
            warnings.push(LineError::new(
                1,
                "no [OS] section: the LINBO client treats this file as not a real configuration",
            ));
        }
        if !self.sections.iter().any(|s| s.kind == SectionKind::Linbo) {
            warnings.push(LineError::new(
                1,
                "no [LINBO] section: the client has no cache partition or download settings",
            ));
        }
        let mut line = self.preamble.len();
        let mut devs: HashMap<String, usize> = HashMap::new();
        let mut roots: Vec<(String, usize)> = Vec::new();
        for s in &self.sections {
            line += 1;
            let header = line;
            let line_of = |key: &str| {
                s.lines
                    .iter()
                    .position(|l| matches!(l, Line::Entry(e) if e.key.eq_ignore_ascii_case(key)))
                    .map_or(header, |i| header + 1 + i)
            };
            match s.kind {
                SectionKind::Partition => match s.get_nonempty("Dev") {
                    None => warnings.push(LineError::new(
                        header,
                        "[Partition] without Dev: LINBO cannot create this partition",
                    )),
                    Some(dev) => {
                        let at = line_of("Dev");
                        if let Some(first) = devs.get(dev) {
                            warnings.push(LineError::new(
                                at,
                                format!("partition {dev} is defined twice (first on line {first})"),
                            ));
                        } else {
                            devs.insert(dev.to_string(), at);
                        }
                    }
                },
                SectionKind::Os => {
                    if s.get_nonempty("Name").is_none() {
                        warnings.push(LineError::new(
                            header,
                            "[OS] without Name: the LINBO GUI does not show it",
                        ));
                    }
                    if let Some(root) = s.get_nonempty("Root") {
                        roots.push((root.to_string(), line_of("Root")));
                    }
                }
                _ => {}
            }
            line += s.lines.len();
        }
        if !devs.is_empty() {
            for (root, at) in roots {
                if !devs.contains_key(&root) {
                    warnings.push(LineError::new(
                        at,
                        format!("Root {root} is not the Dev of any [Partition]"),
                    ));
                }
            }
        }
    }

    /// Writes the document in canonical form (see the module docs).
    pub fn render(&self) -> String {
        let mut out = String::new();
        for l in &self.preamble {
            l.render_into(&mut out);
        }
        for s in &self.sections {
            out.push('[');
            out.push_str(s.kind.name());
            out.push(']');
            push_inline_comment(&mut out, s.comment.as_deref());
            out.push('\n');
            for l in &s.lines {
                l.render_into(&mut out);
            }
        }
        out
    }

    /// A small, valid configuration for a new group: a `[LINBO]` section,
    /// an EFI, a system and a cache partition (uniform `/dev/disk0pN` names)
    /// and one Linux `[OS]` ("Ubuntu", image `ubuntu.qcow2`).
    ///
    /// Fails if `group` is not a valid LINBO group name.
    pub fn new_default(group: &str, server_ip: std::net::Ipv4Addr) -> Result<StartConf, String> {
        crate::names::group(group)?;
        let text = views::default_text(group, server_ip);
        StartConf::parse(&text)
            .map(|p| p.conf)
            .map_err(|e| format!("internal error building the default start.conf: {e}"))
    }

    /// The `index`-th (0-based) section of kind `kind`.
    pub fn section(&self, kind: &SectionKind, index: usize) -> Option<&Section> {
        self.sections.iter().filter(|s| &s.kind == kind).nth(index)
    }

    /// Mutable access to the `index`-th (0-based) section of kind `kind`,
    /// e.g. to [`Section::set`] a value.
    pub fn section_mut(&mut self, kind: &SectionKind, index: usize) -> Option<&mut Section> {
        self.sections
            .iter_mut()
            .filter(|s| &s.kind == kind)
            .nth(index)
    }

    /// Number of sections of kind `kind`.
    pub fn count(&self, kind: &SectionKind) -> usize {
        self.sections.iter().filter(|s| &s.kind == kind).count()
    }

    /// Appends a new, empty section (separated from the previous one by a
    /// blank line) and returns it for filling in with [`Section::set`].
    /// Fails for a second `[LINBO]`.
    pub fn add_section(&mut self, kind: SectionKind) -> Result<&mut Section, String> {
        if kind == SectionKind::Linbo && self.linbo().is_some() {
            return Err("the file already has a [LINBO] section".to_string());
        }
        if let SectionKind::Other(name) = &kind {
            if name.trim() != name || name.is_empty() || name.contains(['[', ']', '#', ';']) {
                return Err(format!("'{name}' is not a usable section name"));
            }
        }
        let prev = match self.sections.last_mut() {
            Some(s) => Some(&mut s.lines),
            None if !self.preamble.is_empty() => Some(&mut self.preamble),
            None => None,
        };
        if let Some(lines) = prev {
            if !matches!(lines.last(), Some(Line::Blank)) {
                lines.push(Line::Blank);
            }
        }
        self.sections.push(Section::new(kind));
        let last = self.sections.len() - 1;
        Ok(&mut self.sections[last])
    }

    /// The `[LINBO]` section.
    pub fn linbo(&self) -> Option<&Section> {
        self.section(&SectionKind::Linbo, 0)
    }

    /// The `[LINBO]` section, mutable.
    pub fn linbo_mut(&mut self) -> Option<&mut Section> {
        self.section_mut(&SectionKind::Linbo, 0)
    }

    fn linbo_value(&self, key: &str) -> Option<&str> {
        self.linbo().and_then(|s| s.get_nonempty(key))
    }

    /// `[LINBO] Group`, if set and not empty.
    pub fn group(&self) -> Option<&str> {
        self.linbo_value("Group")
    }

    /// `[LINBO] Server` as written, if set and not empty.
    pub fn server(&self) -> Option<&str> {
        self.linbo_value("Server")
    }

    /// `[LINBO] Server` if it is an IPv4 address.
    pub fn server_ip(&self) -> Option<std::net::Ipv4Addr> {
        self.server().and_then(|s| s.parse().ok())
    }

    /// `[LINBO] Cache` (device or remote share), if set and not empty.
    pub fn cache(&self) -> Option<&str> {
        self.linbo_value("Cache")
    }

    /// `[LINBO] DownloadType`; rsync when unset (as on the client).
    pub fn download_type(&self) -> DownloadType {
        self.linbo_value("DownloadType")
            .and_then(|v| v.parse().ok())
            .unwrap_or_default()
    }

    /// `[LINBO] KernelOptions`, if set and not empty.
    pub fn kernel_options(&self) -> Option<&str> {
        self.linbo_value("KernelOptions")
    }

    /// `[LINBO] SystemType`, if set.
    pub fn system_type(&self) -> Option<SystemType> {
        self.linbo_value("SystemType").and_then(|v| v.parse().ok())
    }

    /// `[LINBO] Locale`, if set and not empty.
    pub fn locale(&self) -> Option<&str> {
        self.linbo_value("Locale")
    }

    /// `[LINBO] RootTimeout` in seconds, if set.
    pub fn root_timeout(&self) -> Option<u32> {
        self.linbo_value("RootTimeout").and_then(|v| v.parse().ok())
    }

    /// `[LINBO] GuiDisabled` as the GUI reads it (false when unset).
    pub fn gui_disabled(&self) -> bool {
        self.linbo()
            .and_then(|s| s.bool_value("GuiDisabled"))
            .unwrap_or(false)
    }

    /// All `[Partition]` sections, in order.
    pub fn partitions(&self) -> Vec<PartitionView> {
        self.sections
            .iter()
            .filter(|s| s.kind == SectionKind::Partition)
            .enumerate()
            .map(|(i, s)| PartitionView::from_section(i + 1, s))
            .collect()
    }

    /// All `[OS]` sections, in order (`index` 1 is `sync:1`, `start:1`, ...).
    pub fn oses(&self) -> Vec<OsView> {
        self.sections
            .iter()
            .filter(|s| s.kind == SectionKind::Os)
            .enumerate()
            .map(|(i, s)| OsView::from_section(i + 1, s))
            .collect()
    }
}
