//! One view of every image transfer — HTTP downloads, BitTorrent seeding,
//! multicast sessions — sampled for `/metrics` and served to the API.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bootbox_web::downloads::HttpDownloads;
use bootbox_web::Metrics;
use serde::Serialize;
use tokio::sync::watch;

use super::multicast::MulticastStatus;
use super::torrent::Torrents;

/// How often metrics are refreshed from the servers' counters.
const SAMPLE_EVERY: Duration = Duration::from_secs(5);

/// Figures of one image and protocol.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImageTransfer {
    /// Bytes sent since the service started.
    pub sent_bytes: u64,
    /// Clients connected now.
    pub peers: u64,
    /// Downloads in progress now.
    pub active_downloads: u64,
}

/// Per image, per protocol (`http`, `torrent`, `multicast`).
pub type ByImage = BTreeMap<String, BTreeMap<&'static str, ImageTransfer>>;

/// The transfer sources of this run (absent ones are disabled).
#[derive(Clone)]
pub struct Transfers {
    /// HTTP downloads from `/linbo/images`.
    pub http: Arc<HttpDownloads>,
    /// The seeder, with `--torrent`.
    pub torrents: Option<Arc<Torrents>>,
    /// The multicast sessions, with `--multicast`.
    pub multicast: Option<MulticastStatus>,
    totals: Arc<Mutex<RunningTotals>>,
}

impl Transfers {
    /// Sources of this run.
    pub fn new(
        http: Arc<HttpDownloads>,
        torrents: Option<Arc<Torrents>>,
        multicast: Option<MulticastStatus>,
    ) -> Self {
        Self {
            http,
            torrents,
            multicast,
            totals: Arc::default(),
        }
    }

    /// Current figures; byte totals survive replaced torrents and
    /// finished multicast rounds.
    pub fn by_image(&self) -> ByImage {
        let mut now = Vec::new();
        for s in self.http.stats() {
            now.push(Sample {
                image: s.image.clone(),
                protocol: "http",
                source: s.image,
                epoch: 0,
                raw_bytes: s.bytes_served,
                peers: s.active_downloads,
                active: s.active_downloads,
            });
        }
        if let Some(torrents) = &self.torrents {
            for s in torrents.stats().torrents {
                now.push(Sample {
                    image: image_base(&s.name).to_string(),
                    protocol: "torrent",
                    source: s.info_hash.to_hex(),
                    epoch: 0,
                    raw_bytes: s.bytes_served,
                    peers: s.peers,
                    active: s.active_downloads,
                });
            }
        }
        if let Some(mc) = &self.multicast {
            let sent = mc.sent_bytes();
            for s in mc.sessions() {
                let receiving = s
                    .receivers
                    .iter()
                    .filter(|r| matches!(r.state, bootbox_udpcast::ReceiverState::Receiving))
                    .count() as u64;
                now.push(Sample {
                    image: image_base(&s.image).to_string(),
                    protocol: "multicast",
                    // Bytes come from `sent_bytes` below.
                    source: format!("receivers/{}", s.image),
                    epoch: 0,
                    raw_bytes: 0,
                    peers: s.receivers.len() as u64,
                    active: receiving,
                });
            }
            for (file, bytes) in sent {
                now.push(Sample {
                    image: image_base(&file).to_string(),
                    protocol: "multicast",
                    source: file,
                    epoch: 0,
                    raw_bytes: bytes,
                    peers: 0,
                    active: 0,
                });
            }
        }
        self.totals
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .update(now)
    }

    /// Refreshes the metrics every few seconds until `stop`.
    pub async fn sample(
        self,
        metrics: Arc<Metrics>,
        mut stop: watch::Receiver<bool>,
    ) -> anyhow::Result<()> {
        let mut tick = tokio::time::interval(SAMPLE_EVERY);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.changed() => return Ok(()),
            }
            for (image, protocols) in self.by_image() {
                for (protocol, t) in protocols {
                    metrics.image_transfer(
                        &image,
                        protocol,
                        t.sent_bytes,
                        t.peers,
                        t.active_downloads,
                    );
                }
            }
        }
    }
}

/// One source's counters at one moment.
struct Sample {
    image: String,
    protocol: &'static str,
    /// Identifies the counter (info-hash, session, image).
    source: String,
    /// Changes when the counter starts again from zero.
    epoch: u64,
    raw_bytes: u64,
    peers: u64,
    active: u64,
}

/// Turns counters that restart (new torrent, new multicast round) into
/// totals that only rise.
#[derive(Default)]
struct RunningTotals {
    /// Last (epoch, raw bytes) per (protocol, source).
    last: HashMap<(&'static str, String), (u64, u64)>,
    /// Bytes per (image, protocol) since start.
    sent: BTreeMap<(String, &'static str), u64>,
}

impl RunningTotals {
    fn update(&mut self, samples: Vec<Sample>) -> ByImage {
        let mut out = ByImage::new();
        for ((image, protocol), sent) in &self.sent {
            out.entry(image.clone())
                .or_default()
                .entry(protocol)
                .or_default()
                .sent_bytes = *sent;
        }
        for s in samples {
            let last = self
                .last
                .entry((s.protocol, s.source))
                .or_insert((s.epoch, 0));
            let delta = if last.0 != s.epoch || s.raw_bytes < last.1 {
                s.raw_bytes
            } else {
                s.raw_bytes - last.1
            };
            *last = (s.epoch, s.raw_bytes);
            let sent = self.sent.entry((s.image.clone(), s.protocol)).or_default();
            *sent += delta;
            let t = out
                .entry(s.image)
                .or_default()
                .entry(s.protocol)
                .or_default();
            t.sent_bytes = *sent;
            t.peers += s.peers;
            t.active_downloads += s.active;
        }
        out
    }
}

impl bootbox_web::transfers::TransferStatus for Transfers {
    fn transfers(&self) -> bootbox_web::transfers::Transfers {
        use bootbox_web::transfers::{
            MulticastReceiver, MulticastSessionStatus, MulticastState, TorrentImageStatus,
        };
        let torrent = self
            .torrents
            .as_ref()
            .map(|t| t.stats().torrents)
            .unwrap_or_default()
            .into_iter()
            .map(|s| TorrentImageStatus {
                image: image_base(&s.name).to_string(),
                info_hash: s.info_hash.to_hex(),
                peers: u32::try_from(s.peers).unwrap_or(u32::MAX),
                uploaded_bytes: s.bytes_served,
                active_downloads: u32::try_from(s.active_downloads).unwrap_or(u32::MAX),
            })
            .collect();
        let multicast = self
            .multicast
            .as_ref()
            .map(|m| m.sessions())
            .unwrap_or_default()
            .into_iter()
            .map(|s| {
                let total = s.image_bytes;
                let state = match (s.phase, &s.last_outcome, &s.error) {
                    (bootbox_udpcast::Phase::Transferring, _, _) => MulticastState::Sending,
                    (_, _, Some(_)) => MulticastState::Failed,
                    (
                        bootbox_udpcast::Phase::Finished,
                        Some(bootbox_udpcast::Outcome::Complete),
                        _,
                    ) => MulticastState::Done,
                    (bootbox_udpcast::Phase::Finished, _, _) => MulticastState::Failed,
                    _ => MulticastState::Waiting,
                };
                MulticastSessionStatus {
                    image: s.image.to_string(),
                    port: s.port,
                    state,
                    receivers: s
                        .receivers
                        .iter()
                        .map(|r| MulticastReceiver {
                            addr: r.ip.to_string(),
                            progress_percent: match total {
                                Some(t) if t > 0 => {
                                    (r.bytes_acked as f64 * 100.0 / t as f64).min(100.0) as f32
                                }
                                _ => 0.0,
                            },
                        })
                        .collect(),
                    bytes_sent: s.bytes_sent,
                    total_bytes: total,
                }
            })
            .collect();
        bootbox_web::transfers::Transfers {
            torrent,
            multicast,
            http: self.http.stats(),
        }
    }
}

/// The image folder a file belongs to (`win10.qcow2` → `win10`).
pub(super) fn image_base(file: &str) -> &str {
    file.rsplit_once('.').map_or(file, |(b, _)| b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(source: &str, epoch: u64, raw: u64) -> Sample {
        Sample {
            image: "win10".into(),
            protocol: "multicast",
            source: source.into(),
            epoch,
            raw_bytes: raw,
            peers: 1,
            active: 1,
        }
    }

    #[test]
    fn totals_survive_restarting_counters() {
        let mut t = RunningTotals::default();
        let sent = |m: &ByImage| m["win10"]["multicast"].sent_bytes;
        assert_eq!(sent(&t.update(vec![sample("s", 1, 100)])), 100);
        assert_eq!(sent(&t.update(vec![sample("s", 1, 250)])), 250);
        // Next round: the counter starts again.
        assert_eq!(sent(&t.update(vec![sample("s", 2, 400)])), 650);
        // A replaced source (new torrent) counts from its own zero.
        assert_eq!(sent(&t.update(vec![sample("other", 0, 50)])), 700);
        // Gone sources keep their bytes; peers are current only.
        let m = t.update(Vec::new());
        assert_eq!(m["win10"]["multicast"].sent_bytes, 700);
        assert_eq!(m["win10"]["multicast"].peers, 0);
    }

    #[test]
    fn image_folder_of_file() {
        assert_eq!(image_base("win10.qcow2"), "win10");
        assert_eq!(image_base("win10.qdiff"), "win10");
        assert_eq!(image_base("plain"), "plain");
    }
}
