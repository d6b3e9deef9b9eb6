//! The appliance's own network settings: `serve --network-conf PATH` keeps
//! that file (shell variables, read by the firmware's `bootbox-net` at
//! boot) in line with the setup wizard's address settings.
//!
//! Every value comes from a typed setting (IPv4 addresses, a prefix
//! length, an interface name the web form restricted to `[A-Za-z0-9._-]`),
//! so the file the boot script sources as root holds nothing else.

use std::path::Path;

use anyhow::Result;
use bootbox_store::{is_interface_name, AddressMode, SchoolSettings};

/// Renders `network.conf` for `settings`: DHCP unless the wizard chose a
/// fixed address and named the interface and the address.
pub fn render(settings: &SchoolSettings) -> String {
    let mut out = String::from(
        "# Written by bootbox from the setup wizard's network settings\n\
         # (web UI: Settings). Applied when the box starts.\n",
    );
    let fixed = match (
        settings.address_mode,
        &settings.interface,
        settings.server_ip,
    ) {
        (AddressMode::Static, Some(iface), Some(ip)) if is_interface_name(iface) => {
            Some((iface, ip))
        }
        _ => None,
    };
    let Some((iface, ip)) = fixed else {
        out.push_str("MODE=dhcp\n");
        return out;
    };
    let prefix = settings.prefix_len.unwrap_or(24);
    out.push_str(&format!(
        "MODE=static\nINTERFACE={iface}\nADDRESS={ip}/{prefix}\n"
    ));
    if let Some(gw) = settings.gateway {
        out.push_str(&format!("GATEWAY={gw}\n"));
    }
    if !settings.dns.is_empty() {
        let dns: Vec<String> = settings.dns.iter().map(ToString::to_string).collect();
        out.push_str(&format!("DNS=\"{}\"\n", dns.join(" ")));
    }
    out
}

/// Writes the file if its content differs; true if it was written.
pub fn write(path: &Path, settings: &SchoolSettings) -> Result<bool> {
    let text = render(settings);
    if std::fs::read(path).is_ok_and(|old| old == text.as_bytes()) {
        return Ok(false);
    }
    crate::commands::write_atomic(path, text.as_bytes())?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn fixed() -> SchoolSettings {
        SchoolSettings {
            server_ip: Some(Ipv4Addr::new(10, 0, 0, 2)),
            interface: Some("eth0".into()),
            address_mode: AddressMode::Static,
            prefix_len: Some(16),
            gateway: Some(Ipv4Addr::new(10, 0, 0, 1)),
            dns: vec![Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(9, 9, 9, 9)],
            ..SchoolSettings::default()
        }
    }

    #[test]
    fn static_settings_render_every_variable() {
        let text = render(&fixed());
        assert!(text.contains(
            "MODE=static\nINTERFACE=eth0\nADDRESS=10.0.0.2/16\nGATEWAY=10.0.0.1\nDNS=\"10.0.0.1 9.9.9.9\"\n"
        ));
    }

    #[test]
    fn dhcp_or_incomplete_settings_render_dhcp() {
        let mut s = fixed();
        s.address_mode = AddressMode::Dhcp;
        assert!(render(&s).ends_with("MODE=dhcp\n"));
        let mut s = fixed();
        s.interface = None;
        assert!(render(&s).ends_with("MODE=dhcp\n"));
        let mut s = fixed();
        s.interface = Some("eth0;reboot".into());
        assert!(render(&s).ends_with("MODE=dhcp\n"));
    }

    #[test]
    fn write_only_on_change() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("network.conf");
        assert!(write(&path, &fixed()).expect("first"));
        assert!(!write(&path, &fixed()).expect("same"));
        assert!(write(&path, &SchoolSettings::default()).expect("changed"));
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(text.ends_with("MODE=dhcp\n"));
    }
}
