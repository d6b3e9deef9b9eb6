//! Prometheus metrics of the service.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

/// All metrics the service exports on `/metrics`.
pub struct Metrics {
    registry: Registry,
    hosts: Gauge,
    uptime: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("bootbox");
        let hosts = Gauge::default();
        registry.register("hosts", "Hosts in the registry", hosts.clone());
        let uptime = Gauge::default();
        registry.register(
            "uptime_seconds",
            "Seconds since the service started",
            uptime.clone(),
        );
        registry.register(
            "build",
            "Version of the running service",
            Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]),
        );
        Self {
            registry,
            hosts,
            uptime,
        }
    }

    /// Updates the host count.
    pub fn set_hosts(&self, n: u64) {
        self.hosts.set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// Updates the uptime.
    pub fn set_uptime(&self, secs: u64) {
        self.uptime.set(i64::try_from(secs).unwrap_or(i64::MAX));
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        encode(&mut out, &self.registry)?;
        Ok(out)
    }
}
