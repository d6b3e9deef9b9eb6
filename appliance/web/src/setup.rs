//! Setup wizard extras: the network pre-flight.
//!
//! `POST /api/v1/setup/preflight` runs [`bootbox_proxydhcp::probe`] on the
//! chosen interface and turns the answers into findings for the chosen
//! DHCP mode. Each finding has a stable `code` (the UI words it in German
//! or English), a `level` (`ok`, `warn`, `bad`) and the servers it is
//! about.

use std::net::Ipv4Addr;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use axum::{Json, Router};
use bootbox_proxydhcp::probe::{ProbeConfig, ProbeReport, Responder};
use bootbox_store::tokens::Scope;
use bootbox_store::DhcpMode;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::auth::require;
use crate::error::{ApiError, ApiResult};
use crate::AppState;

/// Routes of the wizard extras.
pub fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/setup/preflight", post(preflight))
}

#[derive(Debug, Deserialize)]
struct PreflightReq {
    interface: String,
    dhcp_mode: DhcpMode,
    /// The box's own address (its own ProxyDHCP may answer the probe).
    #[serde(default)]
    server_ip: String,
}

/// One statement about the network, for the chosen DHCP mode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable code, e.g. `dhcp_found_proxy_ok`.
    pub code: &'static str,
    /// `ok`, `warn` or `bad`.
    pub level: &'static str,
    /// Server the finding is about, if any.
    pub server: Option<Ipv4Addr>,
    /// Address that server offered, if any.
    pub offered_ip: Option<Ipv4Addr>,
    /// Boot file that server offered, if any.
    pub boot_file: Option<String>,
}

fn finding(code: &'static str, level: &'static str, r: Option<&Responder>) -> Finding {
    Finding {
        code,
        level,
        server: r.map(|r| r.server_id),
        offered_ip: r.and_then(|r| r.offered_ip),
        boot_file: r.and_then(|r| r.boot_file.clone()),
    }
}

/// What the probe's answers mean for `mode`. Answers from `own_ip` (this
/// box's own ProxyDHCP) are reported as such and otherwise ignored.
pub fn assess(report: &ProbeReport, mode: DhcpMode, own_ip: Option<Ipv4Addr>) -> Vec<Finding> {
    let mut out = Vec::new();
    let (own, others): (Vec<&Responder>, Vec<&Responder>) = report
        .responders
        .iter()
        .partition(|r| Some(r.server_id) == own_ip);
    for r in own {
        out.push(finding("this_box", "ok", Some(r)));
    }
    let dhcp: Vec<&Responder> = others
        .iter()
        .copied()
        .filter(|r| r.offered_ip.is_some())
        .collect();
    for r in &dhcp {
        let (code, level) = match mode {
            DhcpMode::Proxy => ("dhcp_found_proxy_ok", "ok"),
            DhcpMode::Full => ("dhcp_found_full_conflict", "bad"),
            DhcpMode::Off => ("dhcp_found_off", "warn"),
        };
        out.push(finding(code, level, Some(r)));
    }
    for r in others.iter().filter(|r| r.offers_pxe) {
        out.push(finding("rival_pxe", "bad", Some(r)));
    }
    if dhcp.is_empty() {
        let (code, level) = match mode {
            DhcpMode::Proxy => ("none_proxy", "bad"),
            DhcpMode::Full => ("none_full_ok", "ok"),
            DhcpMode::Off => ("none_off", "warn"),
        };
        out.push(finding(code, level, None));
    }
    out
}

/// Seconds the wizard's probe listens.
const LISTEN: Duration = Duration::from_secs(6);

async fn preflight(State(st): State<AppState>, headers: HeaderMap, b: Bytes) -> ApiResult {
    // Like the wizard itself: open before the first admin exists, then
    // admins only.
    if st.store.has_admin().map_err(ApiError::store)? {
        require(&st, &headers, Scope::Admin, true)?;
    }
    let req: PreflightReq = serde_json::from_slice(&b).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("the request body is not valid: {e}"),
        )
    })?;
    // Only interfaces the box really has (and never "any").
    if req.interface.is_empty() || !crate::api::interfaces().contains(&req.interface) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            format!("'{}' is not a network interface of this box", req.interface),
        ));
    }
    let own_ip = req.server_ip.trim().parse::<Ipv4Addr>().ok();
    let mut cfg = ProbeConfig::new(req.interface.clone());
    cfg.listen = LISTEN;
    let report = bootbox_proxydhcp::probe::probe(&cfg).await.map_err(|e| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "probe_failed",
            format!("the network check could not run on {}: {e}", req.interface),
        )
    })?;
    let findings = assess(&report, req.dhcp_mode, own_ip);
    let _ = st.store.record(
        "setup.preflight",
        format!(
            "network pre-flight on {}: {} responder(s)",
            report.interface,
            report.responders.len()
        ),
    );
    Ok(Json(json!({
        "interface": report.interface,
        "dhcp_mode": req.dhcp_mode,
        "listened_s": LISTEN.as_secs(),
        "responders": report.responders,
        "findings": findings,
    }))
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(id: [u8; 4], offered: Option<[u8; 4]>, pxe: bool) -> Responder {
        Responder {
            server_id: id.into(),
            source: id.into(),
            offered_ip: offered.map(Into::into),
            next_server: None,
            boot_file: pxe.then(|| "pxelinux.0".to_string()),
            vendor_class: None,
            vendor_options: false,
            offers_pxe: pxe,
            offers: 1,
        }
    }

    fn codes(f: &[Finding]) -> Vec<&str> {
        f.iter().map(|f| f.code).collect()
    }

    #[test]
    fn findings_depend_on_mode() {
        let mut rep = ProbeReport {
            interface: "eth1".into(),
            mac: String::new(),
            responders: vec![r([10, 0, 0, 1], Some([10, 0, 0, 50]), false)],
        };
        assert_eq!(
            codes(&assess(&rep, DhcpMode::Proxy, None)),
            ["dhcp_found_proxy_ok"]
        );
        assert_eq!(
            codes(&assess(&rep, DhcpMode::Full, None)),
            ["dhcp_found_full_conflict"]
        );
        rep.responders.push(r([10, 0, 0, 9], None, true));
        assert_eq!(
            codes(&assess(&rep, DhcpMode::Proxy, None)),
            ["dhcp_found_proxy_ok", "rival_pxe"]
        );
        // Our own ProxyDHCP answering is no rival.
        assert_eq!(
            codes(&assess(&rep, DhcpMode::Proxy, Some([10, 0, 0, 9].into()))),
            ["this_box", "dhcp_found_proxy_ok"]
        );
        rep.responders.clear();
        assert_eq!(codes(&assess(&rep, DhcpMode::Proxy, None)), ["none_proxy"]);
        assert_eq!(codes(&assess(&rep, DhcpMode::Full, None)), ["none_full_ok"]);
        assert_eq!(codes(&assess(&rep, DhcpMode::Off, None)), ["none_off"]);
    }
}
