//! Wires the ProxyDHCP server to the registry (decisions) and to the boot
//! timeline and metrics (observations).

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use anyhow::{Context, Result};
use bootbox_boot::timeline::Recorder;
use bootbox_boot::{dhcp_answer, BootConfig, DhcpAnswer, Firmware};
use bootbox_linbo::MacAddr;
use bootbox_proxydhcp::{
    Arch, BootFile, BootPolicy, Config, Decision, Event, HostInfo, IgnoreReason, ListenPort, Mac,
    Observer, PxeClient, Server, ServerConfig, SharedState, State,
};
use bootbox_store::{DhcpMode, Store};
use bootbox_web::Metrics;

use super::leases;
use super::NetPlan;

/// Starts the DHCP server described by `plan`; the returned future runs it.
pub fn start(
    plan: &NetPlan,
    store: Arc<Store>,
    cfg: BootConfig,
    recorder: Recorder,
    metrics: Arc<Metrics>,
    leases_file: PathBuf,
) -> Result<impl Future<Output = Result<()>>> {
    let (Some(interface), Some(server_ip)) = (plan.interface.clone(), plan.server_ip) else {
        anyhow::bail!("DHCP needs an interface and a server address");
    };
    let observer = Arc::new(Timeline {
        recorder: recorder.clone(),
        metrics,
    });
    let config = Config {
        full: if plan.dhcp == DhcpMode::Full {
            plan.full.clone()
        } else {
            None
        },
        ..Config::default()
    };
    let full = config.full.is_some();
    let mut state = State::new(config)
        .context("invalid DHCP configuration")?
        .with_observer(observer);
    if full {
        let leases = leases::load(&leases_file);
        tracing::info!(count = leases.len(), file = %leases_file.display(), "restoring DHCP leases");
        state.restore_leases(leases, SystemTime::now());
        state = state.with_lease_store(Arc::new(leases::FileLeases::start(leases_file)));
    }
    let policy = Arc::new(RegistryPolicy {
        store,
        cfg,
        recorder,
    });
    let server = Server::bind(
        ServerConfig::new(interface.clone(), server_ip),
        SharedState::new(state),
        policy,
    )
    .with_context(|| {
        format!("cannot start ProxyDHCP on {interface} (ports 67 and 4011; needs root)")
    })?;
    let mode = if full { "full DHCP" } else { "ProxyDHCP" };
    tracing::info!(%interface, %server_ip, "{mode} listening on ports 67 and 4011");
    Ok(async move { server.run().await.context("ProxyDHCP failed") })
}

fn mac(m: Mac) -> MacAddr {
    MacAddr(m.octets())
}

/// Boot decisions from the registry.
struct RegistryPolicy {
    store: Arc<Store>,
    cfg: BootConfig,
    recorder: Recorder,
}

impl BootPolicy for RegistryPolicy {
    fn decide(&self, client: &PxeClient) -> Decision {
        let m = mac(client.mac);
        if !client.ciaddr.is_unspecified() {
            // Port-4011 requests carry the client's address: TFTP and HTTP
            // requests from it can then be put on this MAC's timeline.
            self.recorder.learn_ip(client.ciaddr, m);
        }
        let view = match self.store.boot_view(m) {
            Ok(v) => v,
            Err(e) => {
                tracing::error!(mac = %m, error = %e, "registry read failed; not answering");
                return Decision::Ignore;
            }
        };
        let firmware = match client.arch {
            Arch::HttpIa32 | Arch::HttpX64 | Arch::HttpArm64 => Firmware::HttpBoot,
            other => Firmware::from_arch(other.code()),
        };
        let ipxe = client.is_ipxe || client.ipxe_remembered;
        match dhcp_answer(view.as_ref(), firmware, ipxe, &self.cfg) {
            DhcpAnswer::Tftp(file) | DhcpAnswer::Url(file) => Decision::Boot(BootFile::new(file)),
            DhcpAnswer::Ignore { reason } => {
                self.recorder.record(m, "dhcp", "ignored", reason);
                Decision::Ignore
            }
        }
    }

    fn host(&self, m: Mac) -> Option<HostInfo> {
        let view = self.store.boot_view(mac(m)).ok().flatten()?;
        Some(HostInfo {
            hostname: Some(view.host.hostname.clone()),
            group: Some(view.host.group.clone()),
            fixed_address: view.host.ip.addr(),
        })
    }
}

/// DHCP events into the timeline and the metrics. Cheap: runs under the
/// DHCP engine's lock.
struct Timeline {
    recorder: Recorder,
    metrics: Arc<Metrics>,
}

impl Observer for Timeline {
    fn event(&self, event: &Event) {
        match event {
            Event::OfferSent {
                mac: m,
                arch,
                port,
                file,
                ipxe,
                ..
            }
            | Event::AckSent {
                mac: m,
                arch,
                port,
                file,
                ipxe,
                ..
            } => {
                let step = if matches!(event, Event::OfferSent { .. }) {
                    "offer"
                } else {
                    "ack"
                };
                self.metrics.dhcp_reply(step);
                let port = match port {
                    ListenPort::Dhcp => 67,
                    ListenPort::PxeBoot => 4011,
                };
                let detail = format!(
                    "{} on port {port} to {}{}: {}",
                    if step == "offer" {
                        "ProxyDHCP offer"
                    } else {
                        "boot-server ACK"
                    },
                    arch.map(|a| format!("{a:?}"))
                        .unwrap_or_else(|| "client".into()),
                    if *ipxe { " (iPXE)" } else { "" },
                    file.as_deref().unwrap_or("-")
                );
                self.recorder.record(mac(*m), "dhcp", step, detail);
            }
            Event::NakSent { mac: m, .. } => {
                self.metrics.dhcp_reply("nak");
                self.recorder.record(mac(*m), "dhcp", "nak", "DHCP NAK");
            }
            Event::Ignored { reason, .. } => self.metrics.dhcp_ignored(reason_label(*reason)),
            Event::LeaseGranted { mac: m, ip, .. } => {
                self.recorder.learn_ip(*ip, mac(*m));
                self.recorder
                    .record(mac(*m), "dhcp", "lease", format!("address {ip}"));
            }
            Event::LeaseReleased { .. } | Event::LeaseDeclined { .. } => {}
        }
    }
}

fn reason_label(r: IgnoreReason) -> &'static str {
    match r {
        IgnoreReason::NotPxe => "not_pxe",
        IgnoreReason::PolicyIgnore => "policy",
        IgnoreReason::RateLimited => "rate_limited",
        IgnoreReason::NotDiscover => "not_discover",
        IgnoreReason::Malformed => "malformed",
        IgnoreReason::NotForUs => "not_for_us",
        IgnoreReason::Unsupported => "unsupported",
        IgnoreReason::PoolExhausted => "pool_exhausted",
    }
}
