//! Prometheus metrics of the service.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

/// All metrics the service exports on `/metrics`.
pub struct Metrics {
    registry: Registry,
    hosts: Gauge,
    uptime: Gauge,
    dhcp_replies: Labelled,
    dhcp_ignored: Labelled,
    tftp_transfers: Labelled,
    tftp_bytes: Counter,
    image_bytes: Labelled,
    image_peers: LabelledGauge,
    image_active: LabelledGauge,
}

type Labelled = Family<Vec<(String, String)>, Counter>;
type LabelledGauge = Family<Vec<(String, String)>, Gauge>;

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
        let dhcp_replies = Labelled::default();
        registry.register(
            "dhcp_replies",
            "DHCP replies sent, by kind (offer, ack, nak)",
            dhcp_replies.clone(),
        );
        let dhcp_ignored = Labelled::default();
        registry.register(
            "dhcp_ignored",
            "DHCP requests deliberately not answered, by reason",
            dhcp_ignored.clone(),
        );
        let tftp_transfers = Labelled::default();
        registry.register(
            "tftp_transfers",
            "TFTP transfers ended, by outcome",
            tftp_transfers.clone(),
        );
        let tftp_bytes = Counter::default();
        registry.register("tftp_sent_bytes", "Bytes sent by TFTP", tftp_bytes.clone());
        let image_bytes = Labelled::default();
        registry.register(
            "image_sent_bytes",
            "Image bytes sent, by image and protocol (http, torrent, multicast)",
            image_bytes.clone(),
        );
        let image_peers = LabelledGauge::default();
        registry.register(
            "image_peers",
            "Clients connected for an image now, by protocol",
            image_peers.clone(),
        );
        let image_active = LabelledGauge::default();
        registry.register(
            "image_active_downloads",
            "Downloads of an image in progress now, by protocol",
            image_active.clone(),
        );
        Self {
            registry,
            hosts,
            uptime,
            dhcp_replies,
            dhcp_ignored,
            tftp_transfers,
            tftp_bytes,
            image_bytes,
            image_peers,
            image_active,
        }
    }

    /// Sets one image's transfer figures for `protocol`: `sent_total` is
    /// the running total of bytes sent (the counter only ever rises to it),
    /// `peers` and `active` are current values.
    pub fn image_transfer(
        &self,
        image: &str,
        protocol: &str,
        sent_total: u64,
        peers: u64,
        active: u64,
    ) {
        let labels = vec![
            ("image".to_string(), image.to_string()),
            ("protocol".to_string(), protocol.to_string()),
        ];
        let counter = self.image_bytes.get_or_create(&labels);
        counter.inc_by(sent_total.saturating_sub(counter.get()));
        let gauge = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        self.image_peers.get_or_create(&labels).set(gauge(peers));
        self.image_active.get_or_create(&labels).set(gauge(active));
    }

    /// Counts a DHCP reply of `kind` (`offer`, `ack`, `nak`).
    pub fn dhcp_reply(&self, kind: &str) {
        self.dhcp_replies
            .get_or_create(&vec![("kind".into(), kind.into())])
            .inc();
    }

    /// Counts a DHCP request not answered, with a reason like `not_pxe`.
    pub fn dhcp_ignored(&self, reason: &str) {
        self.dhcp_ignored
            .get_or_create(&vec![("reason".into(), reason.into())])
            .inc();
    }

    /// Counts a finished TFTP transfer (`completed`, `aborted_by_client`,
    /// `timeout`, `not_found`, `denied`, `busy`) and its bytes.
    pub fn tftp_transfer(&self, outcome: &str, bytes: u64) {
        self.tftp_transfers
            .get_or_create(&vec![("outcome".into(), outcome.into())])
            .inc();
        self.tftp_bytes.inc_by(bytes);
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
