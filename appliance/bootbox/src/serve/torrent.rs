//! Wires BitTorrent into the service: every current image file gets a
//! `.torrent` (announce = the box's tracker, web seed = the box's HTTP) and
//! a `.hash`, is seeded by the box's seeder and whitelisted in the box's
//! tracker. Runs again for an image whenever the image API changes it.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use bootbox_images::ImageTree;
use bootbox_torrent::{
    prepare_torrent, InfoHash, NoopObserver, ResumeStore, Seeder, SeederConfig, TorrentSpec,
    Tracker, TrackerConfig, Whitelist,
};
use tokio::net::TcpListener;

/// Port of the box's HTTP tracker (LINBO's opentracker port).
pub const TRACKER_PORT: u16 = 6969;
/// Port the box's seeder listens on.
pub const SEEDER_PORT: u16 = 6881;

/// Seeder, tracker whitelist and the bookkeeping that ties them to files.
pub struct Torrents {
    seeder: Seeder,
    whitelist: Whitelist,
    resume: ResumeStore,
    tree: Arc<ImageTree>,
    linbo: PathBuf,
    announce: String,
    http_base: Option<String>,
    /// Which info-hash each seeded file has, to drop replaced versions.
    seeded: Mutex<HashMap<PathBuf, InfoHash>>,
}

/// Starts seeder and tracker; returns the service and the tracker's
/// listener (served by the caller until shutdown).
pub async fn start(
    server_ip: Ipv4Addr,
    http: SocketAddr,
    linbo: &Path,
    data: &Path,
    tree: Arc<ImageTree>,
    upload_limit: Option<u64>,
) -> Result<(Arc<Torrents>, Tracker, TcpListener)> {
    let mut cfg = SeederConfig::new(SocketAddr::from((server_ip, SEEDER_PORT)));
    cfg.upload_limit = upload_limit;
    let seeder = Seeder::start(cfg, NoopObserver).await.with_context(|| {
        format!("cannot start the BitTorrent seeder on {server_ip}:{SEEDER_PORT}")
    })?;
    let whitelist = Whitelist::new();
    let tracker = Tracker::new(
        TrackerConfig {
            box_seeds: vec![seeder.local_addr()],
            ..TrackerConfig::default()
        },
        whitelist.clone(),
    );
    let listener = TcpListener::bind((server_ip, TRACKER_PORT))
        .await
        .with_context(|| format!("cannot start the tracker on {server_ip}:{TRACKER_PORT}"))?;
    let resume = ResumeStore::open(data.join("torrent-resume"))
        .context("cannot open the torrent resume folder")?;
    let http_base = (!http.ip().is_loopback()).then(|| match http.port() {
        80 => format!("http://{server_ip}"),
        port => format!("http://{server_ip}:{port}"),
    });
    let svc = Arc::new(Torrents {
        seeder,
        whitelist,
        resume,
        tree,
        linbo: linbo.to_path_buf(),
        announce: format!("http://{server_ip}:{TRACKER_PORT}/announce"),
        http_base,
        seeded: Mutex::new(HashMap::new()),
    });
    Ok((svc, tracker, listener))
}

impl Torrents {
    /// A snapshot of the seeder's counters.
    pub fn stats(&self) -> bootbox_torrent::SeederStats {
        self.seeder.stats()
    }

    /// Makes (or reuses) torrents for every current file of `base`, seeds
    /// them and whitelists them; stops seeding versions that are gone.
    /// Blocking: may hash an image.
    pub fn sync_image(&self, base: &str) {
        let dir = self.linbo.join("images").join(base);
        let current: Vec<String> = self
            .tree
            .scan_image(base)
            .map(|img| {
                img.versions
                    .into_iter()
                    .filter(|v| v.backup.is_none())
                    .map(|v| v.file)
                    .collect()
            })
            .unwrap_or_default();
        let mut keep = Vec::new();
        for file in &current {
            let image = dir.join(file);
            match self.seed_file(base, file, &image) {
                Ok(()) => keep.push(image),
                Err(e) => tracing::warn!(image = %image.display(), error = %e, "cannot seed image"),
            }
        }
        // Versions replaced or deleted: stop seeding them.
        if let Ok(mut seeded) = self.seeded.lock() {
            let gone: Vec<PathBuf> = seeded
                .keys()
                .filter(|p| p.starts_with(&dir) && !keep.contains(p))
                .cloned()
                .collect();
            for p in gone {
                if let Some(h) = seeded.remove(&p) {
                    self.seeder.remove(&h);
                    self.whitelist.remove(&h);
                }
            }
        }
    }

    fn seed_file(&self, base: &str, file: &str, image: &Path) -> Result<()> {
        let mut spec = TorrentSpec::new(self.announce.clone());
        spec.name = Some(file.to_string());
        // Only a reachable web seed helps: aria2c clients stall on one that
        // is not (measured), so none when HTTP listens on loopback only.
        if let Some(http) = &self.http_base {
            spec.web_seeds = vec![format!("{http}/linbo/images/{base}/")];
        }
        let torrent = image.with_file_name(format!("{file}.torrent"));
        let prepared = prepare_torrent(image, &torrent, &spec, &self.resume)?;
        let hash = prepared.metainfo.info_hash();
        bootbox_torrent::write_atomic(
            &image.with_file_name(format!("{file}.hash")),
            format!("{}\n", hash.to_hex()).as_bytes(),
        )?;
        let mut seeded = self
            .seeded
            .lock()
            .map_err(|_| anyhow::anyhow!("seeding table poisoned"))?;
        if seeded.get(image) != Some(&hash) {
            if let Some(old) = seeded.insert(image.to_path_buf(), hash) {
                self.seeder.remove(&old);
                self.whitelist.remove(&old);
            }
            // The seeder keeps the file open, so replacing the image by
            // rename keeps serving the old bytes until removed above.
            self.seeder.add(image, &prepared.metainfo)?;
            self.whitelist.insert(hash);
            tracing::info!(image = %file, info_hash = %hash.to_hex(), hashed = prepared.hashed, "seeding");
        }
        Ok(())
    }

    /// Seeds every image in the tree.
    pub fn sync_all(&self) {
        for img in self.tree.scan() {
            self.sync_image(&img.name);
        }
    }
}

/// Image API hook: re-sync the changed image on a blocking thread.
pub struct Hooks(pub Arc<Torrents>);

impl bootbox_web::images::ImageHooks for Hooks {
    fn changed(&self, base: &str) {
        let (svc, base) = (self.0.clone(), base.to_string());
        tokio::task::spawn_blocking(move || svc.sync_image(&base));
    }
}
