//! The proxy-DHCP server hook: a version-checked patch of LINBO's
//! `init.sh`.
//!
//! Since LINBO 4.2.8, `do_env` in init.sh forces `LINBOSERVER` to the DHCP
//! server identifier (option 54) whenever the client has a group or is a
//! `pxeclient`, so `server=` on the kernel command line no longer counts.
//! With the box as ProxyDHCP, option 54 is the school's DHCP server, and
//! LINBO would fetch start.conf, images and commands from the wrong
//! machine. The patch inserts, right after that rule, a block that lets a
//! `bootboxserver=<IPv4>` kernel parameter win (the box puts it on every
//! LINBO kernel line it renders). Without the parameter LINBO behaves as
//! before.
//!
//! The patch is applied only where the rule's code is found exactly as
//! the known LINBO versions have it; anything else fails the build with a
//! message naming the LINBO version, never a blind edit.

use crate::Error;

/// Kernel parameter that names the LINBO server.
pub const PARAM: &str = "bootboxserver";
/// First line of the inserted block (also how a patched file is detected).
pub const BEGIN: &str = "# bootbox: begin proxy-DHCP server patch";
/// Last line of the inserted block.
pub const END: &str = "# bootbox: end proxy-DHCP server patch";

/// A known shape of the server rule in `do_env` (lines compared with
/// surrounding whitespace trimmed).
struct Shape {
    versions: &'static str,
    lines: [&'static str; 4],
}

const SHAPES: [Shape; 2] = [
    Shape {
        versions: "4.2.8 to 7.4 (DHCP server-id overrides server=)",
        lines: [
            r#"if [ -n "$HOSTGROUP" -o "$HOSTNAME" = "pxeclient" ]; then"#,
            r#"echo "export LINBOSERVER='"${SERVERID}"'" >> /.env"#,
            r#"export LINBOSERVER="${SERVERID}""#,
            "fi",
        ],
    },
    Shape {
        versions: "4.2.0 to 4.2.7 (server-id only without server=)",
        lines: [
            r#"if [ -z "$LINBOSERVER" ]; then"#,
            r#"echo "export LINBOSERVER='"${SERVERID}"'" >> /.env"#,
            r#"export LINBOSERVER="${SERVERID}""#,
            "fi",
        ],
    },
];

/// What [`patch`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Patched {
    /// The patched script.
    pub text: String,
    /// Which known LINBO code shape was found.
    pub shape: &'static str,
}

fn block(indent: &str) -> String {
    let body = [
        BEGIN,
        "# A bootboxserver=<IPv4> kernel parameter names the LINBO server: with",
        "# the box as ProxyDHCP the DHCP server-id above is the school's DHCP.",
        "for bootbox_arg in $(cat /proc/cmdline); do",
        "  case \"$bootbox_arg\" in",
        "    bootboxserver=*)",
        "      bootbox_ip=\"${bootbox_arg#bootboxserver=}\"",
        "      case \"$bootbox_ip\" in",
        "        *[!0-9.]*|\"\") ;;",
        "        *)",
        "          echo \"export LINBOSERVER='${bootbox_ip}'\" >> /.env",
        "          export LINBOSERVER=\"${bootbox_ip}\"",
        "          ;;",
        "      esac",
        "      ;;",
        "  esac",
        "done",
        END,
    ];
    body.iter().map(|l| format!("{indent}{l}\n")).collect()
}

/// Removes an earlier bootbox block (a linbofs built by bootbox used as
/// input again).
fn strip_old(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut inside = false;
    for line in text.split_inclusive('\n') {
        let t = line.trim();
        if t == BEGIN {
            inside = true;
            continue;
        }
        if inside {
            if t == END {
                inside = false;
            }
            continue;
        }
        out.push_str(line);
    }
    out
}

/// Patches `init.sh` (`version`: the first line of `etc/linbo-version`,
/// for messages).
pub fn patch(init_sh: &str, version: &str) -> Result<Patched, Error> {
    let text = strip_old(init_sh);
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut found: Vec<(usize, &Shape)> = Vec::new();
    for shape in &SHAPES {
        for i in 0..lines.len().saturating_sub(3) {
            if (0..4).all(|k| lines[i + k].trim() == shape.lines[k]) {
                found.push((i, shape));
            }
        }
    }
    let refuse = |why: &str| Error::InitSh {
        version: version.to_string(),
        why: why.to_string(),
    };
    let (at, shape) = match found.as_slice() {
        [one] => *one,
        [] => {
            return Err(refuse(
                "its do_env has no LINBOSERVER=SERVERID rule in a form bootbox knows (LINBO 4.2.0 to 7.4)",
            ))
        }
        _ => return Err(refuse("the LINBOSERVER=SERVERID rule occurs more than once")),
    };
    let first = lines[at];
    let indent = &first[..first.len() - first.trim_start().len()];
    let mut out = String::with_capacity(text.len() + 1024);
    for l in &lines[..at + 4] {
        out.push_str(l);
    }
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(&block(indent));
    for l in &lines[at + 4..] {
        out.push_str(l);
    }
    Ok(Patched {
        text: out,
        shape: shape.versions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE: &str = include_str!("../tests/fixtures/init.sh");

    #[test]
    fn patches_the_known_rule_once_and_idempotently() {
        let p = patch(FIXTURE, "LINBO 4.3.37").unwrap();
        assert!(p.shape.starts_with("4.2.8"));
        assert_eq!(p.text.matches(BEGIN).count(), 1);
        // The block sits right after the SERVERID rule's `fi`.
        let rule = p.text.find(r#"export LINBOSERVER="${SERVERID}""#).unwrap();
        let begin = p.text.find(BEGIN).unwrap();
        assert!(begin > rule && p.text[rule..begin].trim_end().ends_with("fi"));
        // Everything else is unchanged.
        assert_eq!(strip_old(&p.text), FIXTURE);
        let again = patch(&p.text, "LINBO 4.3.37").unwrap();
        assert_eq!(again.text, p.text);
    }

    #[test]
    fn older_rule_is_known_too() {
        let old = FIXTURE.replace(
            r#"if [ -n "$HOSTGROUP" -o "$HOSTNAME" = "pxeclient" ]; then"#,
            r#"if [ -z "$LINBOSERVER" ]; then"#,
        );
        assert!(patch(&old, "LINBO 4.2.3")
            .unwrap()
            .shape
            .starts_with("4.2.0"));
    }

    #[test]
    fn unknown_init_sh_is_refused_naming_the_version() {
        let changed = FIXTURE.replace(
            r#"export LINBOSERVER="${SERVERID}""#,
            r#"export LINBOSERVER="${SERVERID:-$DHCPSERVER}""#,
        );
        let err = patch(&changed, "LINBO 9.0.0: Future")
            .unwrap_err()
            .to_string();
        assert!(err.contains("LINBO 9.0.0: Future"), "{err}");
        assert!(err.contains("refusing"), "{err}");
        let twice = format!("{FIXTURE}\n{FIXTURE}");
        assert!(patch(&twice, "x")
            .unwrap_err()
            .to_string()
            .contains("more than once"));
        assert!(patch("#!/bin/sh\necho hi\n", "x").is_err());
    }
}
