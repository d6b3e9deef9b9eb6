//! `bootbox central …`: the central role (serve, schools, publish, list)
//! and the box side (enrol, sync, status) of central push.
//!
//! Central role data lives in `<data>/central-role/` (`central.redb`,
//! `signing.key`, `releases/`), the box side in `<data>/central/` (see
//! `bootbox_central::fetch`). A box activates a verified release through
//! its image catalogue exactly like a LINBO upload: `ImageTree::adopt` +
//! `promote` (previous version to `backups/`), then
//! `bootbox_web::images::catalogue_changed`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use bootbox_central::db::{CentralDb, Wave};
use bootbox_central::fetch::{Activate, BoxDir, Outcome};
use bootbox_central::keys::{fingerprint, load_or_create, short_fingerprint};
use bootbox_central::manifest::{is_image_file, FileEntry, Manifest};
use bootbox_central::policy::{parse_rate, Policy};
use bootbox_central::publish::{publish, PublishRequest};
use bootbox_central::server::{router, Central, DownloadSlots};
use bootbox_store::Store;
use bootbox_web::images::ImagesCtx;
use clap::Subcommand;

use crate::cli::LogFormat;
use crate::datadir::DataDir;

/// This program's version, compared with a release's minimum box version.
pub const BOX_VERSION: &str = env!("CARGO_PKG_VERSION");

/// `bootbox central …`.
#[derive(Debug, Subcommand)]
pub enum CentralCommand {
    /// Central role: run the central API (enrolment, releases, status).
    Serve {
        /// Plain HTTP listen address, e.g. 0.0.0.0:8090.
        #[arg(long)]
        http: Option<SocketAddr>,
        /// HTTPS listen address, e.g. 0.0.0.0:8443 (rustls; a self-signed
        /// certificate is made in <data>/central-role/tls on first start;
        /// boxes pin it when they enrol).
        #[arg(long)]
        https: Option<SocketAddr>,
        /// Name (DNS or IP) for the self-signed certificate (repeatable).
        #[arg(long = "tls-name")]
        tls_names: Vec<String>,
        /// Log format on stderr.
        #[arg(long, value_enum, default_value_t = LogFormat::Text)]
        log_format: LogFormat,
        /// Release downloads served at once; further boxes are told to come
        /// back later (staggering the rollout over the central's uplink).
        #[arg(long, default_value_t = 8)]
        max_downloads: usize,
    },
    /// Central role: schools and their one-time enrolment tokens.
    #[command(subcommand)]
    School(SchoolCommand),
    /// Central role: publish an image file or image folder as a signed
    /// release.
    Publish {
        /// `<base>.qcow2|qdiff`, or a folder `<base>/` with the image and
        /// optional `<base>.reg|postsync|prestart` (defaults: a school's own
        /// copies are never overwritten).
        source: PathBuf,
        /// Release version label (A-Z a-z 0-9 . _ + -); the release id is
        /// `<base>-<label>`.
        #[arg(long = "release", value_name = "LABEL")]
        release: String,
        /// Release notes.
        #[arg(long, default_value = "")]
        notes: String,
        /// Oldest box version that may install it.
        #[arg(long, default_value = BOX_VERSION)]
        min_box_version: String,
        /// Rollout wave: "pilot" (pilot schools only, until `central
        /// promote`) or "all".
        #[arg(long, default_value = "all")]
        wave: Wave,
    },
    /// Central role: hand a pilot-wave release to every school.
    Promote {
        /// Release id `<base>-<label>`.
        release: String,
    },
    /// Central role: withdraw a release (rollback): boxes go back to the
    /// newest release still out, from their own backups where they have
    /// them.
    Withdraw {
        /// Release id `<base>-<label>`.
        release: String,
        /// Put the release out again instead.
        #[arg(long)]
        undo: bool,
    },
    /// Central role: schools, boxes, releases and every box's last report.
    List,
    /// Box: enrol with the central (URL + one-time token); makes the box
    /// key and pins the central's signing key.
    Enrol {
        /// Central URL, e.g. http://central.example:8090.
        #[arg(long)]
        url: String,
        /// Enrolment token `bbe.…` from `bootbox central school add`.
        #[arg(long)]
        token: String,
        /// Expected fingerprint of the central's key (at least its first 16
        /// hex digits, as `school add` shows); enrolment fails otherwise.
        #[arg(long)]
        fingerprint: Option<String>,
    },
    /// Box: fetch, verify and activate new releases (one round, or every
    /// N seconds with --every). Exit status 2 when a release was refused.
    Sync {
        /// Repeat every N seconds (never exits).
        #[arg(long, value_name = "SECS")]
        every: Option<u64>,
    },
    /// Box: enrolment and active releases.
    Status,
    /// Box: when releases may be downloaded and activated, and how fast.
    /// Without options: shows the schedule. Windows are local times
    /// HH:MM-HH:MM and may wrap midnight; "always" removes one.
    Policy {
        /// Downloads only in this window, e.g. 22:00-06:00 (a running
        /// download stops when it closes and resumes in the next one).
        #[arg(long, value_name = "HH:MM-HH:MM|always")]
        transfer_window: Option<String>,
        /// A verified release becomes current only in this window (the
        /// school's maintenance window), e.g. 05:00-06:30.
        #[arg(long, value_name = "HH:MM-HH:MM|always")]
        activation_window: Option<String>,
        /// Download limit in bytes per second, e.g. 10M or 500k; "none"
        /// removes it.
        #[arg(long, value_name = "RATE|none")]
        limit: Option<String>,
        /// IANA time zone of the windows, e.g. Europe/Berlin; "system"
        /// uses the box's.
        #[arg(long)]
        timezone: Option<String>,
    },
}

/// `bootbox central school …`.
#[derive(Debug, Subcommand)]
pub enum SchoolCommand {
    /// Create a school (if new) and print a one-time enrolment token.
    Add {
        /// School name (A-Z a-z 0-9 . _ + -).
        name: String,
        /// Hours the token stays valid.
        #[arg(long, default_value_t = 72)]
        valid_hours: u64,
    },
    /// Put a school into the pilot wave (gets pilot releases first).
    Pilot {
        /// School name.
        name: String,
        /// Take it out of the pilot wave instead.
        #[arg(long)]
        off: bool,
    },
}

struct Role {
    root: PathBuf,
    db: CentralDb,
    key_path: PathBuf,
    releases: PathBuf,
}

fn role(dir: &DataDir) -> Result<Role> {
    let root = dir.root().join("central-role");
    let releases = root.join("releases");
    std::fs::create_dir_all(&releases)
        .with_context(|| format!("cannot create {}", releases.display()))?;
    Ok(Role {
        db: CentralDb::new(&root.join("central.redb")),
        root: root.clone(),
        key_path: root.join("signing.key"),
        releases,
    })
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .worker_threads(2)
        .build()
        .context("cannot start the async runtime")
}

/// Runs a `central` command.
pub fn run(dir: &DataDir, cmd: CentralCommand) -> Result<()> {
    match cmd {
        CentralCommand::Serve {
            http,
            https,
            tls_names,
            log_format,
            max_downloads,
        } => {
            crate::logging::init(log_format);
            if http.is_none() && https.is_none() {
                bail!("give --http ADDR and/or --https ADDR");
            }
            let r = role(dir)?;
            let key = load_or_create(&r.key_path)?;
            tracing::info!(fingerprint = %fingerprint(&key.verifying_key()), "central signing key");
            let tls_dir = r.root.join("tls");
            let c = Arc::new(Central {
                db: r.db,
                key,
                releases: r.releases,
                guard: Default::default(),
                downloads: DownloadSlots::new(max_downloads),
            });
            runtime()?.block_on(async move {
                let mut tasks = tokio::task::JoinSet::new();
                if let Some(addr) = http {
                    let listener = tokio::net::TcpListener::bind(addr)
                        .await
                        .with_context(|| format!("cannot listen on {addr}"))?;
                    tracing::info!(http = %addr, "central serving");
                    let app = router(c.clone());
                    tasks.spawn(async move {
                        axum::serve(listener, app)
                            .with_graceful_shutdown(async {
                                let _ = tokio::signal::ctrl_c().await;
                            })
                            .await
                            .context("central HTTP server failed")
                    });
                }
                if let Some(addr) = https {
                    let tls = bootbox_web::tls::Tls::load_or_generate(&tls_dir, &tls_names)
                        .context("cannot set up the central's TLS certificate")?;
                    let listener = std::net::TcpListener::bind(addr)
                        .with_context(|| format!("cannot listen on {addr}"))?;
                    tracing::info!(https = %addr, certificate_sha256 = %tls.info().fingerprint_sha256, "central serving");
                    let app = router(c.clone());
                    tasks.spawn(async move {
                        bootbox_web::tls::serve(listener, app, Arc::new(tls), async {
                            let _ = tokio::signal::ctrl_c().await;
                        })
                        .await
                        .context("central HTTPS server failed")
                    });
                }
                // Until a signal, or until a server fails.
                match tasks.join_next().await {
                    Some(Ok(r)) => r,
                    Some(Err(e)) => Err(anyhow::anyhow!("central server task failed: {e}")),
                    None => Ok(()),
                }
            })
        }
        CentralCommand::School(SchoolCommand::Add { name, valid_hours }) => {
            let r = role(dir)?;
            let key = load_or_create(&r.key_path)?;
            let token =
                r.db.add_school_token(&name, valid_hours.saturating_mul(3_600_000))?;
            eprintln!(
                "school {name}: one-time enrolment token, valid {valid_hours} h, shown only now;\n\
                 central key fingerprint {} (full: {})",
                short_fingerprint(&key.verifying_key()),
                fingerprint(&key.verifying_key())
            );
            println!("{token}");
            Ok(())
        }
        CentralCommand::School(SchoolCommand::Pilot { name, off }) => {
            role(dir)?.db.set_pilot(&name, !off)?;
            eprintln!(
                "school {name} {} the pilot wave",
                if off { "left" } else { "is in" }
            );
            Ok(())
        }
        CentralCommand::Promote { release } => {
            role(dir)?.db.set_wave(&release, Wave::All)?;
            eprintln!("release {release} goes to every school now");
            Ok(())
        }
        CentralCommand::Withdraw { release, undo } => {
            role(dir)?.db.set_withdrawn(&release, !undo)?;
            if undo {
                eprintln!("release {release} is out again");
            } else {
                eprintln!(
                    "release {release} withdrawn: boxes go back to the newest release still out"
                );
            }
            Ok(())
        }
        CentralCommand::Publish {
            source,
            release,
            notes,
            min_box_version,
            wave,
        } => {
            let r = role(dir)?;
            let key = load_or_create(&r.key_path)?;
            let req = PublishRequest {
                source,
                version: release,
                notes,
                min_box_version,
                wave,
            };
            let signed = publish(&r.db, &r.releases, &key, &req)?;
            let m = signed.verify(&key.verifying_key())?;
            println!("{}", m.id());
            for f in &m.files {
                eprintln!("  {}  {} bytes  sha256 {}", f.name, f.size, f.sha256);
            }
            Ok(())
        }
        CentralCommand::List => list(&role(dir)?),
        CentralCommand::Enrol {
            url,
            token,
            fingerprint,
        } => {
            let bx = BoxDir::new(dir.root());
            let cfg =
                runtime()?.block_on(bx.enrol(&url, &token, BOX_VERSION, fingerprint.as_deref()))?;
            eprintln!(
                "enrolled as {} (school {}) at {}; pinned central key {}",
                cfg.box_id, cfg.school, cfg.url, &cfg.fingerprint
            );
            println!("{}", cfg.box_id);
            Ok(())
        }
        CentralCommand::Sync { every } => sync(dir, every),
        CentralCommand::Status => status(dir),
        CentralCommand::Policy {
            transfer_window,
            activation_window,
            limit,
            timezone,
        } => policy(dir, transfer_window, activation_window, limit, timezone),
    }
}

/// `central policy`: shows the box's schedule, or changes the parts given.
fn policy(
    dir: &DataDir,
    transfer: Option<String>,
    activation: Option<String>,
    limit: Option<String>,
    timezone: Option<String>,
) -> Result<()> {
    let bx = BoxDir::new(dir.root());
    let mut p: Policy = bx.policy()?;
    let changed =
        transfer.is_some() || activation.is_some() || limit.is_some() || timezone.is_some();
    let window = |v: &str| -> Result<_> {
        Ok(match v.trim() {
            "always" | "any" => None,
            w => Some(w.parse()?),
        })
    };
    if let Some(v) = transfer {
        p.transfer_window = window(&v)?;
    }
    if let Some(v) = activation {
        p.activation_window = window(&v)?;
    }
    if let Some(v) = limit {
        p.limit_bytes_per_sec = match v.trim() {
            "none" | "unlimited" => None,
            r => Some(parse_rate(r)?),
        };
    }
    if let Some(v) = timezone {
        p.timezone = match v.trim() {
            "system" | "" => None,
            z => Some(z.to_string()),
        };
    }
    if changed {
        bx.save_policy(&p)?;
    }
    let show = |w: Option<bootbox_central::policy::Window>| {
        w.map(|w| w.to_string()).unwrap_or_else(|| "always".into())
    };
    println!("transfer window:   {}", show(p.transfer_window));
    println!("activation window: {}", show(p.activation_window));
    println!(
        "limit:             {}",
        p.limit_bytes_per_sec
            .map(|b| format!("{:.1} MB/s", b as f64 / 1e6))
            .unwrap_or_else(|| "none".into())
    );
    println!(
        "time zone:         {}",
        p.timezone.as_deref().unwrap_or("system")
    );
    Ok(())
}

fn list(r: &Role) -> Result<()> {
    for s in r.db.schools()? {
        println!("school  {}{}", s.name, if s.pilot { "  pilot" } else { "" });
    }
    for b in r.db.boxes()? {
        println!(
            "box     {}  school {}  version {}  last contact {} ms ago",
            b.id,
            b.school,
            b.box_version,
            bootbox_central::now_ms().saturating_sub(b.last_seen_ms)
        );
    }
    for rel in r.db.releases()? {
        println!(
            "release {}  wave {}{}",
            rel.id,
            rel.wave,
            if rel.withdrawn { "  withdrawn" } else { "" }
        );
    }
    for s in r.db.statuses()? {
        println!(
            "status  {} {} {} bytes={} {}",
            s.box_id, s.release, s.state, s.bytes, s.detail
        );
    }
    Ok(())
}

/// Activates verified releases through the box's image catalogue.
pub struct Catalogue<'a> {
    /// The school registry.
    pub store: &'a Store,
    /// The image tree and its hooks.
    pub images: ImagesCtx,
}

impl Activate for Catalogue<'_> {
    fn activate(&mut self, m: &Manifest, dir: &Path) -> std::result::Result<String, String> {
        let tree = &self.images.tree;
        let image_dir = tree.image_dir(&m.image).map_err(|e| e.to_string())?;
        let mut done = Vec::new();
        // Image files first (a new .qcow2 retires the old .qdiff), then the
        // companions a school may have adapted.
        let (images, others): (Vec<_>, Vec<_>) =
            m.files.iter().partition(|f| is_image_file(&f.name));
        for f in images {
            let stem = f.name.rsplit_once('.').map(|(s, _)| s).unwrap_or("");
            if stem != m.image {
                return Err(format!("{} does not belong to image {}", f.name, m.image));
            }
            let staged = tree
                .adopt(&f.name, &dir.join(&f.name))
                .map_err(|e| e.to_string())?;
            if staged.sha256 != f.sha256 {
                return Err(format!("{} changed on disk after verification", f.name));
            }
            let comment = format!(
                "central release {}{}",
                m.version,
                if m.notes.is_empty() {
                    String::new()
                } else {
                    format!(": {}", m.notes)
                }
            );
            let p = tree
                .promote(staged, &comment, None, &bootbox_images::timestamp_now())
                .map_err(|e| e.to_string())?;
            done.push(format!(
                "{} current (sha256 {}){}",
                p.file,
                p.sha256,
                p.backup
                    .map(|b| format!(", previous in backups/{b}"))
                    .unwrap_or_default()
            ));
        }
        for f in others {
            let dest = image_dir.join(&f.name);
            if dest.exists() {
                done.push(format!("{} kept (the school's own)", f.name));
                continue;
            }
            std::fs::copy(dir.join(&f.name), &dest)
                .map_err(|e| format!("cannot install {}: {e}", f.name))?;
            done.push(format!("{} installed", f.name));
        }
        let message = format!("central release {} activated: {}", m.id(), done.join("; "));
        bootbox_web::images::catalogue_changed(
            self.store,
            &self.images,
            &m.image,
            "central",
            "image.central",
            message.clone(),
        )
        .map_err(|e| e.to_string())?;
        Ok(message)
    }

    /// The image's current file or a backup with exactly `f`'s bytes: after
    /// a central rollback the previous release is still in `backups/`.
    fn local_copy(&mut self, m: &Manifest, f: &FileEntry) -> Option<PathBuf> {
        let image_dir = self.images.tree.image_dir(&m.image).ok()?;
        let mut candidates = vec![image_dir.join(&f.name)];
        if let Ok(stamps) = std::fs::read_dir(image_dir.join("backups")) {
            let mut dirs: Vec<PathBuf> = stamps.flatten().map(|e| e.path()).collect();
            // Newest backup first.
            dirs.sort();
            dirs.reverse();
            candidates.extend(dirs.into_iter().map(|d| d.join(&f.name)));
        }
        candidates.into_iter().find(|p| {
            std::fs::metadata(p).is_ok_and(|md| md.is_file() && md.len() == f.size)
                && bootbox_central::manifest::verify_file(f, p).is_ok()
        })
    }
}

fn sync(dir: &DataDir, every: Option<u64>) -> Result<()> {
    let _lock = dir.lock()?;
    let store = Store::open(dir.db_path())
        .with_context(|| format!("cannot open the registry {}", dir.db_path().display()))?;
    let tree = bootbox_images::ImageTree::open(&dir.linbo())?;
    for note in tree.recover().context("cannot repair the image tree")? {
        eprintln!("{note}");
    }
    let mut cat = Catalogue {
        store: &store,
        images: ImagesCtx {
            tree: Arc::new(tree),
            limits: bootbox_images::UploadLimits::default(),
            server_ip: None,
            portbase: bootbox_images::PORTBASE,
            hooks: None,
        },
    };
    let bx = BoxDir::new(dir.root());
    let rt = runtime()?;
    loop {
        let round = rt.block_on(bootbox_central::fetch::sync(&bx, BOX_VERSION, &mut cat));
        let mut refused = false;
        match round {
            Ok(outcomes) => {
                for o in outcomes {
                    match o {
                        Outcome::Current(id) => println!("current {id}"),
                        Outcome::Activated {
                            release,
                            bytes,
                            detail,
                        } => {
                            println!("activated {release} received={bytes}: {detail}")
                        }
                        Outcome::Refused {
                            release,
                            reason,
                            bytes,
                        } => {
                            refused = true;
                            println!("refused {release} received={bytes}: {reason}")
                        }
                        Outcome::Waiting {
                            release,
                            reason,
                            bytes,
                        } => println!("waiting {release} received={bytes}: {reason}"),
                        Outcome::Verified {
                            release,
                            bytes,
                            window,
                        } => println!(
                            "verified {release} received={bytes}: activation in the window {window}"
                        ),
                    }
                }
            }
            Err(e) if every.is_some() => eprintln!("sync failed: {e}"),
            Err(e) => return Err(e.into()),
        }
        match every {
            Some(secs) => std::thread::sleep(Duration::from_secs(secs.max(1))),
            None if refused => std::process::exit(2),
            None => return Ok(()),
        }
    }
}

fn status(dir: &DataDir) -> Result<()> {
    let bx = BoxDir::new(dir.root());
    let Some(cfg) = bx.config()? else {
        bail!("this box is not enrolled (bootbox central enrol --url … --token …)");
    };
    println!(
        "central {}  box {}  school {}",
        cfg.url, cfg.box_id, cfg.school
    );
    println!("pinned central key {}", cfg.fingerprint);
    for (image, release) in bx.state()?.active {
        println!("active {image} {release}");
    }
    Ok(())
}

/// Enrols with the URL and token the setup wizard stored, once per token
/// (a token is single-use: a refusal is logged, not retried).
async fn wizard_enrolment(bx: &BoxDir, store: &Store, tried: &mut String) {
    let Ok(e) = store.enrolment() else { return };
    if e.url.is_empty() || e.token.is_empty() || *tried == e.token {
        return;
    }
    tried.clone_from(&e.token);
    // A text that cannot be a token is never sent anywhere.
    if bootbox_central::token::split(&e.token).is_none() {
        tracing::warn!("the setup wizard's enrolment token is not a bbe.… token; not enrolling");
        let _ = store.record(
            "central.enrol",
            format!(
                "not enrolling with {}: the token is not a bbe.… enrolment token",
                e.url
            ),
        );
        return;
    }
    match bx.enrol(&e.url, &e.token, BOX_VERSION, None).await {
        Ok(cfg) => {
            tracing::info!(box_id = %cfg.box_id, url = %cfg.url, "enrolled with the central");
            let _ = store.audit(
                "central",
                "central.enrol",
                format!(
                    "enrolled with {} as {} (school {}); pinned central key {}",
                    cfg.url, cfg.box_id, cfg.school, cfg.fingerprint
                ),
            );
        }
        Err(err) => {
            tracing::warn!(error = %err, "enrolment from the setup wizard failed");
            let _ = store.record(
                "central.enrol",
                format!("enrolment with {} failed: {err}", e.url),
            );
        }
    }
}

/// The fetcher inside `bootbox serve --central-poll SECS`: enrols with the
/// setup wizard's URL and token when given; when the box is enrolled, a sync round at start and every `secs` seconds after the
/// previous one ended. Activations go through the service's own image
/// context (torrents re-made by its hooks); refusals land in the event
/// log. A stop interrupts a download; its partial file is resumed later.
pub async fn poll(
    root: PathBuf,
    store: Arc<Store>,
    images: ImagesCtx,
    secs: u64,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Result<()> {
    let bx = BoxDir::new(&root);
    let mut tried = String::new();
    loop {
        match bx.config() {
            Ok(Some(_)) => {
                let mut cat = Catalogue {
                    store: &store,
                    images: images.clone(),
                };
                let round = tokio::select! {
                    r = bootbox_central::fetch::sync(&bx, BOX_VERSION, &mut cat) => r,
                    _ = stop.changed() => return Ok(()),
                };
                match round {
                    Ok(outcomes) => {
                        for o in outcomes {
                            match o {
                                Outcome::Current(_) => {}
                                Outcome::Waiting {
                                    release, reason, ..
                                } => {
                                    tracing::info!(%release, %reason, "central release waiting")
                                }
                                Outcome::Verified {
                                    release, window, ..
                                } => tracing::info!(
                                    %release,
                                    %window,
                                    "central release verified; activation in its window"
                                ),
                                Outcome::Activated {
                                    release, detail, ..
                                } => {
                                    tracing::info!(%release, %detail, "central release activated")
                                }
                                Outcome::Refused {
                                    release, reason, ..
                                } => {
                                    tracing::warn!(%release, %reason, "central release refused");
                                    let _ = store.record(
                                        "central.refused",
                                        format!("central release {release} refused: {reason}"),
                                    );
                                }
                            }
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "central sync failed"),
                }
            }
            Ok(None) => wizard_enrolment(&bx, &store, &mut tried).await,
            Err(e) => tracing::warn!(error = %e, "central enrolment unreadable"),
        }
        // Until the next round: the central's long-poll answers at once when
        // a release is published or promoted; the period is the fallback.
        let period = Duration::from_secs(secs.max(1));
        let started = tokio::time::Instant::now();
        let news = if matches!(bx.config(), Ok(Some(_))) {
            tokio::select! {
                _ = stop.changed() => return Ok(()),
                r = bootbox_central::fetch::wait_for_news(&bx, period) => r,
            }
        } else {
            Ok(false)
        };
        let announced = matches!(news, Ok(true));
        match news {
            Ok(true) => tracing::info!("central announced new releases"),
            Ok(false) => {}
            Err(e) => {
                tracing::debug!(error = %e, "central long-poll failed; waiting out the period")
            }
        }
        if !announced {
            tokio::select! {
                _ = stop.changed() => return Ok(()),
                () = tokio::time::sleep_until(started + period) => {}
            }
        }
    }
}
