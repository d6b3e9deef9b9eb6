//! From a `linbo-remote`-style request to a checked [`JobSpec`].
//!
//! `linbo-remote`'s rules: `-r`, `-g`, `-i` exclusive (one target); `-c`
//! and `-p` exclusive; at least one of `-c -p -w -d -n`; `-n` / `-d` add
//! `noauto` / `disablegui` to the on-boot file (and so imply one);
//! `create_*` / `upload_*` only for a single host; with `-c` and `-w 0` no
//! Wake-on-LAN is sent.

use std::net::Ipv4Addr;
use std::time::Duration;

use bootbox_store::Store;

use crate::job::{Action, JobSpec, WakePlan};
use crate::target::{self, Target};
use crate::validate::{self, Delivery};
use crate::wol::{self, WolConfig};
use crate::{RemoteError, Result};

/// Network defaults for Wake-on-LAN.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WolDefaults {
    /// Interface to send on (the LAN interface).
    pub interface: Option<String>,
    /// A configured subnet broadcast (else computed from the interface).
    pub broadcast: Option<Ipv4Addr>,
    /// UDP port (default 9).
    pub port: Option<u16>,
    /// Copies per packet (default 3).
    pub copies: Option<u32>,
}

/// One remote action, as `linbo-remote` options express it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `-r` / `-g` / `-i`.
    pub target: Target,
    /// `-c`: direct commands.
    pub direct: Option<String>,
    /// `-p`: on-boot commands.
    pub onboot: Option<String>,
    /// `-n`.
    pub noauto: bool,
    /// `-d`.
    pub disablegui: bool,
    /// `-w <sec>`: wake, then wait.
    pub wait: Option<Duration>,
    /// `-b <sec>`: pause between batches.
    pub gap: Duration,
    /// Hosts per WoL batch (LINBO: 1).
    pub batch: usize,
    /// `-u`: insist on the subnet broadcast (an error if the box knows no
    /// LAN interface or broadcast; otherwise it is the default anyway).
    pub subnet_broadcast: bool,
}

impl Request {
    /// A request with nothing set but the target.
    pub fn new(target: Target) -> Self {
        Self {
            target,
            direct: None,
            onboot: None,
            noauto: false,
            disablegui: false,
            wait: None,
            gap: Duration::ZERO,
            batch: 1,
            subnet_broadcast: false,
        }
    }
}

/// A checked job, plus the hosts left out and why.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// What to run.
    pub spec: JobSpec,
    /// Hosts skipped (PXE flag).
    pub skipped: Vec<(String, String)>,
}

/// The Wake-on-LAN settings for a request. Packets go to the configured
/// broadcast, else to the subnet broadcast of the LAN interface; only a
/// box that knows neither falls back to 255.255.255.255, unless `-u`
/// insists on a subnet broadcast (then that is an error).
pub fn wol_config(req: &Request, net: &WolDefaults) -> Result<WolConfig> {
    let destination = match (net.broadcast, &net.interface) {
        (Some(b), _) => b,
        (None, Some(ifname)) => match wol::interface_ipv4(ifname) {
            Ok((_, _, b)) => b,
            Err(e) if req.subnet_broadcast => return Err(e),
            Err(_) => Ipv4Addr::BROADCAST,
        },
        (None, None) if req.subnet_broadcast => {
            return Err(RemoteError::Invalid(
                "-u needs the LAN interface (--interface or the setup wizard) or a configured broadcast"
                    .into(),
            ))
        }
        (None, None) => Ipv4Addr::BROADCAST,
    };
    Ok(WolConfig {
        destination,
        port: net.port.unwrap_or(wol::DEFAULT_PORT),
        interface: net.interface.clone(),
        copies: net.copies.unwrap_or(3),
        batch: req.batch.max(1),
        gap: req.gap,
    })
}

/// Checks a request against `linbo-remote`'s rules and the registry and
/// builds the job.
pub fn prepare(store: &Store, req: &Request, net: &WolDefaults) -> Result<Prepared> {
    if req.direct.is_some() && req.onboot.is_some() {
        return Err(RemoteError::Invalid(
            "-c (direct) and -p (on-boot) cannot be combined".into(),
        ));
    }
    if req.direct.is_none()
        && req.onboot.is_none()
        && req.wait.is_none()
        && !req.noauto
        && !req.disablegui
    {
        return Err(RemoteError::Invalid(
            "nothing to do: give -c, -p, -w, -n or -d".into(),
        ));
    }
    if req.direct.is_some() && (req.noauto || req.disablegui) {
        return Err(RemoteError::Invalid(
            "-n and -d act on the next boot; use them with -p (or alone), not with -c".into(),
        ));
    }
    let resolved = target::resolve(store, &req.target)?;
    if resolved.hosts.is_empty() {
        return Err(RemoteError::Invalid(format!(
            "{}: no host runs LINBO (PXE flag 1 or 2)",
            req.target
        )));
    }
    let hosts = resolved.hosts;
    let (action, title_cmds) = if let Some(text) = &req.direct {
        let cmds = validate::parse_commands(text)?;
        if cmds.is_empty() {
            return Err(RemoteError::Invalid("-c: no commands given".into()));
        }
        validate::validate(store, &hosts, &cmds, Delivery::Direct)?;
        let t = format!(
            "-c {}",
            bootbox_linbo::onboot::OnbootCmd {
                commands: cmds.clone()
            }
        );
        (Action::Direct(cmds), t)
    } else if req.onboot.is_some() || req.noauto || req.disablegui {
        let cmds = match &req.onboot {
            Some(t) => validate::parse_commands(t)?,
            None => Vec::new(),
        };
        validate::validate(store, &hosts, &cmds, Delivery::Onboot)?;
        let file = crate::onboot::build(&cmds, req.noauto, req.disablegui);
        let t = format!("-p {file}");
        (Action::Onboot(file), t)
    } else {
        (Action::WakeOnly, "wake".to_string())
    };
    let wake = match req.wait {
        // With -c and -w 0 no WoL is sent (linbo-remote).
        Some(w) if w.is_zero() && matches!(action, Action::Direct(_)) => None,
        Some(wait) => Some(WakePlan {
            wol: wol_config(req, net)?,
            wait,
        }),
        None => None,
    };
    let mut spec = JobSpec::new(format!("{} {title_cmds}", req.target), hosts, action);
    if matches!(spec.action, Action::Onboot(_)) {
        // As linbo-remote: with -w, check after the wait which files were
        // fetched; without, leave them for the next boot.
        // The watch covers the wait itself.
        spec.onboot_wait = req.wait.map(|w| w.max(Duration::from_secs(1)));
    }
    spec.wake = wake.map(|mut w| {
        if matches!(spec.action, Action::Onboot(_)) {
            w.wait = Duration::ZERO;
        }
        w
    });
    Ok(Prepared {
        spec,
        skipped: resolved.skipped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(subnet_broadcast: bool) -> Request {
        Request {
            subnet_broadcast,
            ..Request::new(Target::Hosts(vec!["pc1".into()]))
        }
    }

    fn net(interface: Option<&str>, broadcast: Option<Ipv4Addr>) -> WolDefaults {
        WolDefaults {
            interface: interface.map(str::to_string),
            broadcast,
            ..WolDefaults::default()
        }
    }

    #[test]
    fn wake_on_lan_goes_to_the_subnet_broadcast_of_the_lan_interface() {
        // Loopback is 127.0.0.1/8 on every Linux machine.
        for u in [false, true] {
            let c = wol_config(&req(u), &net(Some("lo"), None)).expect("config");
            assert_eq!(c.destination, Ipv4Addr::new(127, 255, 255, 255));
            assert_eq!(c.interface.as_deref(), Some("lo"));
            assert_eq!(c.port, wol::DEFAULT_PORT);
        }
    }

    #[test]
    fn a_configured_broadcast_wins() {
        let b = Ipv4Addr::new(10, 0, 100, 255);
        let c = wol_config(&req(false), &net(Some("lo"), Some(b))).expect("config");
        assert_eq!(c.destination, b);
        let c = wol_config(&req(true), &net(None, Some(b))).expect("config");
        assert_eq!(c.destination, b);
    }

    #[test]
    fn without_an_interface_only_the_limited_broadcast_is_left() {
        let c = wol_config(&req(false), &net(None, None)).expect("config");
        assert_eq!(c.destination, Ipv4Addr::BROADCAST);
        let c = wol_config(&req(false), &net(Some("bbnosuch0"), None)).expect("config");
        assert_eq!(c.destination, Ipv4Addr::BROADCAST);
        // -u insists on a subnet broadcast: an error that says why.
        let e = wol_config(&req(true), &net(None, None)).expect_err("-u without interface");
        assert!(e.to_string().contains("-u needs the LAN interface"), "{e}");
        let e = wol_config(&req(true), &net(Some("bbnosuch0"), None)).expect_err("no such if");
        assert!(e.to_string().contains("bbnosuch0"), "{e}");
    }
}
