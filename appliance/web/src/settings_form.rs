//! The school-and-network form of the setup wizard and the settings page:
//! what the browser sends, and its validation into [`SchoolSettings`].
//!
//! The box's own address settings end up, on the appliance, in a file the
//! boot script sources as root, so every field is parsed into a typed
//! value here (addresses, a prefix length, an interface name of safe
//! characters) and nothing free-form passes through.

use std::net::Ipv4Addr;

use axum::http::StatusCode;
use bootbox_store::{is_interface_name, AddressMode, DhcpMode, SchoolSettings};
use serde::Deserialize;

use crate::error::ApiError;

/// The form fields shared by `POST /api/v1/setup` and `PUT /api/v1/settings`.
#[derive(Debug, Deserialize)]
pub(crate) struct SettingsForm {
    pub school_name: String,
    #[serde(default)]
    pub interface: String,
    #[serde(default)]
    pub server_ip: String,
    pub dhcp_mode: DhcpMode,
    /// `dhcp` (default) or `static`.
    #[serde(default)]
    pub address_mode: AddressMode,
    /// Static mode: prefix length, e.g. 24.
    #[serde(default)]
    pub prefix_len: Option<u8>,
    /// Static mode: default gateway (may be empty).
    #[serde(default)]
    pub gateway: String,
    /// Static mode: DNS servers separated by spaces or commas.
    #[serde(default)]
    pub dns: String,
    /// Windows domain for the `.reg` rewrite: empty clears it, absent
    /// keeps the stored one (see `put_settings`).
    #[serde(default)]
    pub windows_domain: Option<String>,
}

fn invalid(message: String) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message)
}

fn ipv4(field: &str, text: &str) -> Result<Ipv4Addr, ApiError> {
    text.parse::<Ipv4Addr>()
        .map_err(|_| invalid(format!("{field}: '{text}' is not an IPv4 address")))
}

fn optional_ipv4(field: &str, text: &str) -> Result<Option<Ipv4Addr>, ApiError> {
    let text = text.trim();
    (!text.is_empty()).then(|| ipv4(field, text)).transpose()
}

/// True if `a` and `b` lie in the same subnet of `prefix` bits.
fn same_subnet(a: Ipv4Addr, b: Ipv4Addr, prefix: u8) -> bool {
    let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
    u32::from(a) & mask == u32::from(b) & mask
}

impl SettingsForm {
    /// The checked Windows domain (`None` when absent or empty).
    pub(crate) fn windows_domain(&self) -> Result<Option<String>, ApiError> {
        let Some(d) = self.windows_domain.as_deref().map(str::trim) else {
            return Ok(None);
        };
        if d.is_empty() {
            return Ok(None);
        }
        if !bootbox_linbo::reg::is_domain_name(d) {
            return Err(invalid(format!(
                "Windows domain: '{d}' is not a domain name (letters, digits and '-' in labels of at most 63 characters separated by dots, e.g. SCHULE or schule.lan)"
            )));
        }
        Ok(Some(d.to_string()))
    }

    /// Validates the form; the error names the field and what is wrong.
    pub(crate) fn validate(&self) -> Result<SchoolSettings, ApiError> {
        let school = self.school_name.trim();
        if school.is_empty() || school.chars().count() > 120 {
            return Err(invalid("the school name must have 1–120 characters".into()));
        }
        let iface = self.interface.trim();
        if !iface.is_empty() && !is_interface_name(iface) {
            return Err(invalid(format!(
                "'{iface}' is not a network interface name"
            )));
        }
        let server_ip = optional_ipv4("address of this box", &self.server_ip)?;
        if self.dhcp_mode != DhcpMode::Off && (iface.is_empty() || server_ip.is_none()) {
            return Err(invalid(
                "DHCP needs a network interface and the box's address; choose them or set DHCP to off"
                    .into(),
            ));
        }
        let mut settings = SchoolSettings {
            school_name: school.to_string(),
            server_ip,
            interface: (!iface.is_empty()).then(|| iface.to_string()),
            dhcp_mode: self.dhcp_mode,
            address_mode: self.address_mode,
            windows_domain: self.windows_domain()?,
            ..SchoolSettings::default()
        };
        if self.address_mode == AddressMode::Static {
            let (Some(ip), false) = (server_ip, iface.is_empty()) else {
                return Err(invalid(
                    "a fixed address needs the network interface and the box's address".into(),
                ));
            };
            let prefix = self.prefix_len.unwrap_or(24);
            if !(8..=30).contains(&prefix) {
                return Err(invalid(format!(
                    "prefix length {prefix} is not between 8 and 30 (24 means 255.255.255.0)"
                )));
            }
            let gateway = optional_ipv4("gateway", &self.gateway)?;
            if let Some(gw) = gateway {
                if gw == ip || !same_subnet(gw, ip, prefix) {
                    return Err(invalid(format!(
                        "the gateway {gw} is not another address in {ip}/{prefix}"
                    )));
                }
            }
            let dns = self
                .dns
                .split(|c: char| c == ',' || c.is_whitespace())
                .filter(|s| !s.is_empty())
                .map(|s| ipv4("DNS server", s))
                .collect::<Result<Vec<_>, _>>()?;
            if dns.len() > 3 {
                return Err(invalid("at most three DNS servers".into()));
            }
            settings.prefix_len = Some(prefix);
            settings.gateway = gateway;
            settings.dns = dns;
        }
        Ok(settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(address_mode: AddressMode) -> SettingsForm {
        SettingsForm {
            school_name: "Schule".into(),
            interface: "eth0".into(),
            server_ip: "10.0.0.2".into(),
            dhcp_mode: DhcpMode::Proxy,
            address_mode,
            prefix_len: Some(24),
            gateway: "10.0.0.1".into(),
            dns: "10.0.0.1, 9.9.9.9".into(),
            windows_domain: None,
        }
    }

    #[test]
    fn windows_domain_is_checked() {
        let mut f = form(AddressMode::Dhcp);
        assert_eq!(f.validate().expect("valid").windows_domain, None);
        f.windows_domain = Some(" SCHULE ".into());
        assert_eq!(
            f.validate().expect("valid").windows_domain.as_deref(),
            Some("SCHULE")
        );
        f.windows_domain = Some(String::new());
        assert_eq!(f.validate().expect("valid").windows_domain, None);
        f.windows_domain = Some("bad domain;".into());
        let e = f.validate().expect_err("invalid");
        assert!(e.message.contains("Windows domain"), "{}", e.message);
    }

    #[test]
    fn dhcp_mode_drops_the_static_fields() {
        let s = form(AddressMode::Dhcp).validate().expect("valid");
        assert_eq!(s.address_mode, AddressMode::Dhcp);
        assert_eq!((s.prefix_len, s.gateway, s.dns.len()), (None, None, 0));
    }

    #[test]
    fn static_mode_keeps_typed_fields() {
        let s = form(AddressMode::Static).validate().expect("valid");
        assert_eq!(s.prefix_len, Some(24));
        assert_eq!(s.gateway, Some(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(
            s.dns,
            vec![Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(9, 9, 9, 9)]
        );
    }

    #[test]
    fn static_mode_rejects_what_would_cut_the_box_off() {
        type Change = fn(&mut SettingsForm);
        let cases: [(&str, Change); 6] = [
            ("gateway", |f| f.gateway = "10.0.1.1".into()),
            ("gateway", |f| f.gateway = "10.0.0.2".into()),
            ("prefix length", |f| f.prefix_len = Some(31)),
            ("DNS server", |f| f.dns = "10.0.0.1; reboot".into()),
            ("at most three", |f| {
                f.dns = "1.1.1.1 2.2.2.2 3.3.3.3 4.4.4.4".into()
            }),
            ("interface", |f| {
                f.interface.clear();
                f.dhcp_mode = DhcpMode::Off;
            }),
        ];
        for (needle, change) in cases {
            let mut f = form(AddressMode::Static);
            change(&mut f);
            let e = f.validate().expect_err(needle);
            assert!(e.message.contains(needle), "{needle}: {}", e.message);
        }
    }

    #[test]
    fn subnet_arithmetic() {
        let a = Ipv4Addr::new(10, 1, 2, 3);
        assert!(same_subnet(a, Ipv4Addr::new(10, 1, 2, 254), 24));
        assert!(!same_subnet(a, Ipv4Addr::new(10, 1, 3, 1), 24));
        assert!(same_subnet(a, Ipv4Addr::new(10, 1, 3, 1), 16));
    }
}
