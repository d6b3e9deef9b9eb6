//! `bootbox serve`: the long-running service.
//!
//! Wires the crates together: the registry (store) feeds the boot
//! decisions (boot), which the protocol servers (proxydhcp, tftp, web)
//! act on; every server reports into the boot timeline. Each network
//! service is enabled by configuration (the wizard's settings, overridden
//! by command-line flags). Stops cleanly on SIGTERM or SIGINT.

mod dhcp;
mod leases;
mod linbo_hooks;
mod linbofs;
mod multicast;
mod network_conf;
mod tftp;
mod torrent;
mod transfers;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use bootbox_boot::timeline::Recorder;
use bootbox_boot::{BootConfig, NbpFiles, UnknownPolicy};
use bootbox_store::{DhcpMode, Store};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::cli::{DhcpArg, ServeArgs};
use crate::datadir::DataDir;

/// The effective network configuration of this run.
#[derive(Debug, Clone)]
pub struct NetPlan {
    /// LAN interface for DHCP.
    pub interface: Option<String>,
    /// The box's address on the boot LAN.
    pub server_ip: Option<Ipv4Addr>,
    /// DHCP role.
    pub dhcp: DhcpMode,
    /// TFTP on server_ip:port.
    pub tftp: Option<u16>,
    /// BitTorrent seeding and tracker on server_ip.
    pub torrent: bool,
    /// LINBO's rsync service on server_ip.
    pub rsync: bool,
    /// Address pool, full DHCP mode only.
    pub full: Option<bootbox_proxydhcp::FullDhcpConfig>,
}

impl NetPlan {
    fn resolve(store: &Store, args: &ServeArgs) -> Result<Self> {
        let settings = store.settings()?;
        let interface = args.interface.clone().or(settings.interface);
        let server_ip = args.server_ip.or(settings.server_ip);
        let dhcp = match args.dhcp {
            Some(DhcpArg::Proxy) => DhcpMode::Proxy,
            Some(DhcpArg::Full) => DhcpMode::Full,
            Some(DhcpArg::Off) => DhcpMode::Off,
            // Without an interface chosen in the wizard, DHCP stays off:
            // never answer on a network nobody pointed us at.
            None if interface.is_some() => settings.dhcp_mode,
            None => DhcpMode::Off,
        };
        if dhcp != DhcpMode::Off && (interface.is_none() || server_ip.is_none()) {
            bail!(
                "DHCP needs --interface and --server-ip (or the setup wizard's network settings)"
            );
        }
        // Services on the box's address stay off until one is known (the
        // appliance starts them before the wizard has run, and must not
        // crash-loop).
        let on_address = |wanted: bool, service: &str| {
            if wanted && server_ip.is_none() {
                tracing::warn!(
                    "{service} is off: the box's address is not set (--server-ip, or the setup \
                     wizard; it starts with the next restart of the service)"
                );
            }
            wanted && server_ip.is_some()
        };
        let tftp = on_address(args.tftp, "TFTP").then_some(args.tftp_port);
        let torrent = on_address(args.torrent, "BitTorrent seeding");
        let rsync = on_address(args.rsync, "the rsync service");
        let full = match (dhcp, &args.pool) {
            (DhcpMode::Full, Some(pool)) => Some(full_config(pool, args)?),
            (DhcpMode::Full, None) => bail!("full DHCP needs an address pool: --pool FIRST-LAST"),
            (_, Some(_)) => bail!("--pool is only used with --dhcp full"),
            _ => None,
        };
        Ok(Self {
            interface,
            server_ip,
            dhcp,
            tftp,
            torrent,
            rsync,
            full,
        })
    }
}

fn full_config(pool: &str, args: &ServeArgs) -> Result<bootbox_proxydhcp::FullDhcpConfig> {
    let (first, last) = pool
        .split_once('-')
        .and_then(|(a, b)| Some((a.trim().parse().ok()?, b.trim().parse().ok()?)))
        .with_context(|| {
            format!("--pool '{pool}' is not FIRST-LAST, e.g. 10.0.0.100-10.0.0.199")
        })?;
    let mut cfg = bootbox_proxydhcp::FullDhcpConfig::new(first, last, args.netmask);
    cfg.router = args.router;
    cfg.dns = args.dns.clone();
    cfg.domain = args.domain.clone();
    cfg.validate().context("invalid address pool")?;
    Ok(cfg)
}

/// Runs the service until SIGTERM/SIGINT.
pub fn run(dir: &DataDir, store: Store, args: &ServeArgs) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(dir, Arc::new(store), args))
}

async fn serve(dir: &DataDir, store: Arc<Store>, args: &ServeArgs) -> Result<()> {
    let plan = NetPlan::resolve(&store, args)?;
    let listener = TcpListener::bind(args.http)
        .await
        .with_context(|| format!("cannot listen on {} (in use? try --http)", args.http))?;
    let local = listener.local_addr()?;
    // LINBO's network GRUB for hosts on the GRUB chain: built (or rebuilt
    // for a new address or GRUB version) before any PC is answered;
    // without Debian's GRUB packages those hosts get iPXE.
    let linbo_dir = dir.linbo();
    let server_for_grub = plan.server_ip;
    let cores = tokio::task::spawn_blocking(move || {
        crate::commands::grub::ensure_at_start(&linbo_dir, server_for_grub)
    })
    .await
    .unwrap_or_default();
    let mut nbp = NbpFiles::default();
    if !cores.contains(&bootbox_boot::grubcore::CorePlatform::Pc) {
        nbp.grub_bios = None;
    }
    if !cores.contains(&bootbox_boot::grubcore::CorePlatform::Efi) {
        nbp.grub_efi_x64 = None;
    }
    let boot_cfg = BootConfig {
        server_ip: plan.server_ip.unwrap_or(match local {
            SocketAddr::V4(a) if !a.ip().is_unspecified() => *a.ip(),
            _ => Ipv4Addr::LOCALHOST,
        }),
        http_port: local.port(),
        unknown: UnknownPolicy::Register,
        nbp,
    };
    let recorder = Recorder::start(store.clone(), Duration::from_secs(30));
    let metrics = Arc::new(bootbox_web::Metrics::new());
    let (stop_tx, stop_rx) = watch::channel(false);

    let mut tasks = tokio::task::JoinSet::new();
    if plan.dhcp != DhcpMode::Off {
        let server = dhcp::start(
            &plan,
            store.clone(),
            boot_cfg.clone(),
            recorder.clone(),
            metrics.clone(),
            dir.root().join("dhcp-leases.json"),
        )?;
        let mut stop = stop_rx.clone();
        tasks.spawn(async move {
            tokio::select! {
                r = server => r.context("DHCP server stopped"),
                _ = stop.changed() => Ok(()),
            }
        });
    }
    if let (Some(port), Some(ip)) = (plan.tftp, plan.server_ip) {
        let server = tftp::start(
            SocketAddr::from((ip, port)),
            &dir.linbo(),
            recorder.clone(),
            metrics.clone(),
        )
        .await?;
        let stop = stop_rx.clone();
        tasks.spawn(async move {
            server
                .run(wait_stop(stop))
                .await
                .context("TFTP server stopped")
        });
    }

    tasks.spawn(render_derived_files(
        store.clone(),
        dir.linbo(),
        bootbox_boot::grub::LinboSource {
            http_port: Some(local.port()),
            server_ip: plan.server_ip,
        },
        args.network_conf.clone(),
        stop_rx.clone(),
    ));

    tasks.spawn({
        let (dir, store, stop) = (dir.clone(), store.clone(), stop_rx.clone());
        async move {
            linbofs::keep_current(dir, store, stop).await;
            Ok(())
        }
    });

    // Remote control: the box's SSH key for LINBO clients (its public half
    // belongs into linbofs' /.ssh/authorized_keys) and the schedules.
    match bootbox_remote::ssh::ensure_key(&dir.root().join("ssh")) {
        Ok(key) => tracing::info!(public_key = %key.public.display(), "SSH key for LINBO clients"),
        Err(e) => tracing::warn!(error = %e, "no SSH key: direct remote commands will fail"),
    }
    let mut remote = bootbox_remote::Remote::new(
        store.clone(),
        dir.root(),
        bootbox_remote::WolDefaults {
            interface: plan.interface.clone(),
            ..Default::default()
        },
    );
    remote.ssh.wrapper = args.remote_wrapper.clone();
    remote.ssh.secrets_path = args.remote_secrets_path.clone();
    let remote = Arc::new(remote);
    // Jobs from the API and from schedules run here, in the service, and
    // publish their progress to the event log (the UI's event stream).
    let remote_service = bootbox_remote::Service::new(remote);
    let scheduler = bootbox_remote::schedule::Scheduler::new(
        store.clone(),
        Arc::new(remote_service.clone()),
        Arc::new(bootbox_remote::schedule::SystemClock),
    );
    let sched_stop = stop_rx.clone();
    tasks.spawn(async move {
        scheduler
            .run_until(Duration::from_secs(20), wait_stop(sched_stop))
            .await;
        Ok(())
    });

    let mut boot = bootbox_web::boot::BootState::new(
        store.clone(),
        boot_cfg.clone(),
        &dir.linbo(),
        recorder.clone(),
    )
    .with_context(|| format!("cannot use the LINBO tree {}", dir.linbo().display()))?;
    // A fetched on-boot file with an upload: push the one-time credential.
    let pusher = remote_service.clone();
    boot.onboot_fetched = Some(Arc::new(move |host: &str, text: &str| {
        pusher.onboot_fetched(host, text)
    }));
    let mut state = bootbox_web::AppState::new(store.clone());
    state.metrics = metrics.clone();
    state.remote = Some(remote_service);
    let mut images = images_ctx(
        dir,
        &store,
        plan.server_ip,
        args.image_reserve_mib,
        args.multicast_portbase,
    )?;
    let mut seeding = None;
    if let (true, Some(ip)) = (plan.torrent, plan.server_ip) {
        let limit = args.torrent_upload_mbps.map(|m| m * 1_000_000);
        let (torrents, tracker, listener) = torrent::start(
            ip,
            local,
            &dir.linbo(),
            dir.root(),
            images.tree.clone(),
            limit,
        )
        .await?;
        let all = torrents.clone();
        tokio::task::spawn_blocking(move || all.sync_all());
        images.hooks = Some(Arc::new(torrent::Hooks(torrents.clone())));
        seeding = Some(torrents);
        let stop = stop_rx.clone();
        tasks.spawn(async move {
            tracker
                .serve(listener, wait_stop(stop))
                .await
                .context("tracker stopped")
        });
    }
    if let (true, Some(ip)) = (plan.rsync, plan.server_ip) {
        start_rsync(
            dir,
            ip,
            args.rsync_port,
            linbo_hooks::LinboHooks {
                store: store.clone(),
                linbo: dir.linbo(),
                upload: dir.root().join("rsync-upload"),
                logs: dir.root().join("clientlogs"),
                images: images.clone(),
                recorder: recorder.clone(),
                ssh: bootbox_remote::ssh::SshConfig::new(&dir.root().join("ssh")),
                runtime: tokio::runtime::Handle::current(),
                requests: bootbox_rsyncd::RequestMemory::default(),
                uploads: std::sync::Mutex::new(()),
                notified: Default::default(),
            },
            &mut tasks,
            &stop_rx,
        )?;
    }
    if args.central_poll > 0 {
        tasks.spawn(crate::commands::central::poll(
            dir.root().to_path_buf(),
            store.clone(),
            images.clone(),
            args.central_poll,
            stop_rx.clone(),
        ));
    }
    state.images = Some(images);
    let multicast = if args.multicast {
        let cfg = multicast_config(&plan, args)?;
        let status = multicast::MulticastStatus::default();
        tasks.spawn(multicast::run(
            cfg,
            dir.linbo(),
            store.clone(),
            status.clone(),
            stop_rx.clone(),
        ));
        Some(status)
    } else {
        None
    };
    let transfers = transfers::Transfers::new(boot.downloads.clone(), seeding, multicast);
    tasks.spawn(transfers.clone().sample(metrics.clone(), stop_rx.clone()));
    state.transfers = Some(Arc::new(transfers.clone()));
    let https = match args.https {
        Some(addr) => Some(https_listener(dir, addr, plan.server_ip)?),
        None => None,
    };
    state.tls = https.as_ref().map(|(tls, l)| bootbox_web::tls::TlsCtx {
        tls: tls.clone(),
        port: l.local_addr().map_or(0, |a| a.port()),
    });
    let mut app = bootbox_web::boot::boot_router(boot).merge(bootbox_web::router(state.clone()));
    if let Some((tls, l)) = https {
        let port = l.local_addr()?.port();
        app = app.layer(axum::middleware::from_fn_with_state(
            port,
            bootbox_web::tls::https_guard,
        ));
        tracing::info!(https = %l.local_addr()?, sha256 = %tls.info().fingerprint_sha256, "HTTPS for the web UI");
        let stop = stop_rx.clone();
        let ui = bootbox_web::router(state);
        tasks.spawn(async move {
            bootbox_web::tls::serve(l, ui, tls, wait_stop(stop))
                .await
                .context("HTTPS server failed")
        });
    }
    tracing::info!(
        data = %dir.root().display(),
        http = %local,
        dhcp = ?plan.dhcp,
        interface = plan.interface.as_deref().unwrap_or("-"),
        server_ip = %boot_cfg.server_ip,
        tftp = ?plan.tftp,
        hosts = store.host_count().unwrap_or(0),
        "bootbox started"
    );
    let _ = store.record(
        "service.start",
        format!("service started, HTTP on {local}, DHCP {:?}", plan.dhcp),
    );
    // On the appliance: confirm the running firmware slot once healthy.
    crate::commands::firmware::confirm_when_healthy(local, store.clone());
    let http_stop = stop_rx.clone();
    tasks.spawn(async move {
        let listener = listener.into_std().context("HTTP listener")?;
        bootbox_web::listen::serve_http(listener, app, wait_stop(http_stop))
            .await
            .context("HTTP server failed")
    });

    // Run until a signal, or until a server fails.
    let result = tokio::select! {
        () = shutdown_signal() => Ok(()),
        Some(done) = tasks.join_next() => match done {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e),
            Err(e) => Err(anyhow::anyhow!("a server task panicked: {e}")),
        },
    };
    let _ = stop_tx.send(true);
    while tasks.join_next().await.is_some() {}
    drop(recorder);
    let _ = store.flush();
    let _ = store.record("service.stop", "service stopped");
    tracing::info!("bootbox stopped");
    result
}

/// Loads (or makes) the UI certificate in `<data>/tls` and binds `addr`.
fn https_listener(
    dir: &DataDir,
    addr: SocketAddr,
    server_ip: Option<Ipv4Addr>,
) -> Result<(Arc<bootbox_web::tls::Tls>, std::net::TcpListener)> {
    let names: Vec<String> = server_ip.iter().map(ToString::to_string).collect();
    let tls = bootbox_web::tls::Tls::load_or_generate(&dir.root().join("tls"), &names)
        .context("cannot set up the HTTPS certificate")?;
    let l = std::net::TcpListener::bind(addr)
        .with_context(|| format!("cannot listen on {addr} (in use? try --https)"))?;
    Ok((Arc::new(tls), l))
}

/// Keeps the files derived from the registry current: the LINBO tree's
/// start.conf.<group> and host links, and (appliance) the box's own
/// network.conf. Renders at start and whenever the event log moves.
async fn render_derived_files(
    store: Arc<Store>,
    linbo: std::path::PathBuf,
    grub: bootbox_boot::grub::LinboSource,
    network_conf: Option<std::path::PathBuf>,
    stop: watch::Receiver<bool>,
) -> Result<()> {
    let mut seen = None;
    let mut tick = tokio::time::interval(Duration::from_secs(2));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = wait_stop(stop.clone()) => return Ok(()),
        }
        let seq = store.last_event_seq().ok();
        if seq.is_some() && seq == seen {
            continue;
        }
        let (s, root, src, net) = (
            store.clone(),
            linbo.clone(),
            grub.clone(),
            network_conf.clone(),
        );
        let rendered = tokio::task::spawn_blocking(move || -> Result<_> {
            if let Some(path) = net {
                let settings = s.settings()?;
                if network_conf::write(&path, &settings)
                    .with_context(|| format!("cannot write {}", path.display()))?
                {
                    tracing::info!(path = %path.display(), mode = ?settings.address_mode,
                        "network settings written; they apply when the box restarts");
                }
            }
            let report = bootbox_boot::files::render(&root, &s.groups()?, &s.hosts()?, &src)?;
            Ok(report)
        })
        .await;
        match rendered {
            Ok(Ok(report)) => {
                if !report.written.is_empty() || !report.removed.is_empty() {
                    tracing::info!(
                        written = report.written.len(),
                        removed = report.removed.len(),
                        "LINBO files rendered from the registry"
                    );
                }
                seen = seq;
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot render LINBO files"),
            Err(e) => tracing::warn!(error = %e, "LINBO file renderer failed"),
        }
    }
}

/// Opens the image tree, repairs what a crash left behind, and brings the
/// catalogue in the store in line with the disk.
fn images_ctx(
    dir: &DataDir,
    store: &Store,
    server_ip: Option<Ipv4Addr>,
    reserve_mib: u64,
    portbase: u16,
) -> Result<bootbox_web::images::ImagesCtx> {
    let tree =
        bootbox_images::ImageTree::open(&dir.linbo()).context("cannot open the image tree")?;
    for note in tree.recover().context("cannot repair the image tree")? {
        tracing::warn!("{note}");
        let _ = store.record("image.recover", note);
    }
    let on_disk = tree.scan();
    let known = store.images()?;
    for img in &on_disk {
        if !known.contains(img) {
            store.put_image(img.clone(), "system")?;
        }
    }
    for old in known
        .iter()
        .filter(|k| !on_disk.iter().any(|d| d.name == k.name))
    {
        store.remove_image(&old.name, "system")?;
    }
    if let Some(ip) = server_ip {
        if let Err(e) = tree.write_multicast_list(ip, portbase) {
            tracing::warn!(error = %e, "cannot write multicast.list");
        }
    }
    Ok(bootbox_web::images::ImagesCtx {
        tree: Arc::new(tree),
        limits: bootbox_images::UploadLimits {
            reserve: reserve_mib << 20,
            ..bootbox_images::UploadLimits::default()
        },
        server_ip,
        portbase,
        hooks: None,
    })
}

/// Starts LINBO's rsync service: the hook socket the daemon's hooks call,
/// and the supervised daemon itself. The upload password lives in
/// `<data>/rsyncd.secrets` (created with a random password if missing).
fn start_rsync(
    dir: &DataDir,
    ip: Ipv4Addr,
    port: u16,
    hooks: linbo_hooks::LinboHooks,
    tasks: &mut tokio::task::JoinSet<Result<()>>,
    stop: &watch::Receiver<bool>,
) -> Result<()> {
    let run = dir.root().join("run");
    std::fs::create_dir_all(&run).with_context(|| format!("cannot create {}", run.display()))?;
    let socket = crate::commands::hook::socket_path(dir);
    let _ = std::fs::remove_file(&socket);
    let listener = tokio::net::UnixListener::bind(&socket)
        .with_context(|| format!("cannot listen on {}", socket.display()))?;
    let exe =
        std::env::current_exe().context("cannot find the bootbox binary for rsync's hooks")?;
    let cfg = bootbox_rsyncd::RsyncConfig {
        address: ip,
        port,
        linbo: dir.linbo(),
        upload: dir.root().join("rsync-upload"),
        secrets: dir.root().join("rsyncd.secrets"),
        pid_file: run.join("rsyncd.pid"),
        hook_command: format!(
            "{} --data {} hook",
            bootbox_remote::ssh::shell_quote(&exe.to_string_lossy()),
            bootbox_remote::ssh::shell_quote(&dir.root().to_string_lossy())
        ),
    };
    if !cfg.secrets.exists() {
        let mut raw = [0u8; 18];
        getrandom::fill(&mut raw).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
        let password: String = raw.iter().map(|b| format!("{b:02x}")).collect();
        cfg.write_secrets(&password)
            .context("cannot write the LINBO upload password")?;
        tracing::info!(file = %cfg.secrets.display(), "LINBO upload password generated");
    }
    let hook_stop = stop.clone();
    tasks.spawn(async move {
        bootbox_rsyncd::hook::serve(listener, Arc::new(hooks), wait_stop(hook_stop)).await;
        Ok(())
    });
    let rsync_stop = stop.clone();
    let conf = run.join("rsyncd.conf");
    tasks.spawn(async move {
        bootbox_rsyncd::supervise(
            &cfg,
            std::path::Path::new("rsync"),
            &conf,
            wait_stop(rsync_stop),
        )
        .await
        .context("rsync service failed")
    });
    Ok(())
}

/// The udpcast configuration from the command line (LINBO's defaults).
fn multicast_config(plan: &NetPlan, args: &ServeArgs) -> Result<bootbox_udpcast::Config> {
    let (Some(interface), Some(_)) = (&plan.interface, plan.server_ip) else {
        bail!("--multicast needs --interface and --server-ip (or the setup wizard's network settings)");
    };
    let mut cfg = bootbox_udpcast::Config::new(interface.clone());
    cfg.server_ip = plan.server_ip;
    cfg.portbase = args.multicast_portbase;
    cfg.start = bootbox_udpcast::StartRules {
        min_clients: args.multicast_min_clients,
        min_wait: Some(Duration::from_secs(args.multicast_min_seconds)),
        max_wait: Some(Duration::from_secs(args.multicast_max_seconds)),
    };
    cfg.max_bitrate = args.multicast_max_mbps.map(|m| m * 1_000_000);
    cfg.slow = match Duration::try_from_secs_f64(args.multicast_slow_budget) {
        Ok(d) if d.is_zero() => None,
        Ok(budget) => Some(bootbox_udpcast::SlowPolicy {
            budget,
            ..Default::default()
        }),
        Err(_) => bail!(
            "--multicast-slow-budget {} is not a number of seconds",
            args.multicast_slow_budget
        ),
    };
    cfg.validate()
        .map_err(|e| anyhow::anyhow!("invalid multicast settings: {e}"))?;
    Ok(cfg)
}

async fn wait_stop(mut rx: watch::Receiver<bool>) {
    while !*rx.borrow() {
        if rx.changed().await.is_err() {
            return;
        }
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    match (term, int) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM received, shutting down"),
                _ = int.recv() => tracing::info!("SIGINT received, shutting down"),
            }
        }
        _ => {
            tracing::warn!("cannot install signal handlers; stop with kill -9");
            std::future::pending::<()>().await;
        }
    }
}
