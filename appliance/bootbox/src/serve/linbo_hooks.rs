//! The side effects of LINBO's rsync transfers (linbo-facts §2.5, §2.7),
//! done in the service when rsync's hooks call (`bootbox hook …`):
//!
//! | request | when | what |
//! |---|---|---|
//! | `boot/grub/spool/<host>.<group>.grub.cfg` | pre-download | rendered from the group's start.conf; removed after |
//! | `/tmp/*.log`, `/tmp/*.status`, `/tmp/*.gz` | pre-download | pulled from the client over SSH into `<data>/clientlogs/<host>_<name>`; parsed into events and the host's client status (last sync, last error; a new failure is mailed) |
//! | `images/<base>/*.reg` | pre-download | `"Domain"=` set to the Windows domain of the settings |
//! | `linbocmd/<host>.cmd` | post-download | consumed (deleted) once fetched |
//! | `images/<base>/<base>.qcow2\|qdiff` | post-upload | becomes the current version through the image catalogue (backup, .info, torrent, multicast.list) |
//! | `images/<base>/<img>.info\|.desc` | post-upload | replaces the generated companion |
//! | `<host>.new` | post-upload | registration: the row is added to the registry |
//!
//! Clients are identified by their address: a fixed address in the
//! registry, else the MAC last seen with it (DHCP, iPXE, the kernel's ARP
//! table).

use std::fs;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bootbox_boot::timeline::Recorder;
use bootbox_linbo::startconf::StartConf;
use bootbox_linbo::MacAddr;
use bootbox_remote::ssh::SshConfig;
use bootbox_rsyncd::{HookHandler, HookPhase, HookReply, HookRequest};
use bootbox_store::{ClientReport, ClientStatus, Host, LastError, Store, SyncKind};
use bootbox_web::images::ImagesCtx;

/// Largest file pulled from a client (logs grow; hwinfo is small).
const MAX_PULL: u64 = 16 << 20;
/// Time limit of one pull over SSH.
const PULL_TIMEOUT: Duration = Duration::from_secs(20);

/// Everything the hooks touch.
pub struct LinboHooks {
    /// The registry.
    pub store: Arc<Store>,
    /// `<data>/linbo`.
    pub linbo: PathBuf,
    /// Module `linbo-upload`'s folder.
    pub upload: PathBuf,
    /// `<data>/clientlogs`.
    pub logs: PathBuf,
    /// The image catalogue.
    pub images: ImagesCtx,
    /// IP → MAC knowledge of the boot servers.
    pub recorder: Recorder,
    /// How to reach clients.
    pub ssh: SshConfig,
    /// The service's runtime (SSH pulls are async).
    pub runtime: tokio::runtime::Handle,
    /// Pre-hook requests for the post hooks.
    pub requests: bootbox_rsyncd::RequestMemory,
    /// One upload is taken over at a time: a client sends the image and
    /// then its `.info` on a new connection, whose hook must not overtake
    /// the (slower) promotion of the image.
    pub uploads: std::sync::Mutex<()>,
    /// When each host was last sent a failure mail. Mails do not spam:
    /// one goes out only for a failure that differs from the host's
    /// stored last error (a log pulled again with the same failure is not
    /// news), and at most one per host per [`MAIL_INTERVAL`]; failures in
    /// between are still in the host's status and the event log.
    pub notified: std::sync::Mutex<std::collections::HashMap<String, std::time::Instant>>,
}

/// Least time between two failure mails about the same host.
pub const MAIL_INTERVAL: Duration = Duration::from_secs(600);
/// Time limit of sending one failure mail.
const MAIL_TIMEOUT: Duration = Duration::from_secs(30);

/// True (and remembered in `sent`) when `host` is not in `sent` with a time
/// less than [`MAIL_INTERVAL`] before `now`; forgets older entries.
fn rate_limit(
    sent: &mut std::collections::HashMap<String, std::time::Instant>,
    host: &str,
    now: std::time::Instant,
) -> bool {
    sent.retain(|_, at| now.saturating_duration_since(*at) < MAIL_INTERVAL);
    if sent.contains_key(host) {
        return false;
    }
    sent.insert(host.to_string(), now);
    true
}

/// Subject and body of the mail about a client's failure.
fn failure_mail(status: &ClientStatus, error: &LastError) -> (String, String) {
    let subject = format!("Bootbox: {} reports a failure", status.hostname);
    let mut body = format!(
        "The LINBO client {} reported a failure ({}):\n\n  {}\n",
        status.hostname, error.source, error.message
    );
    match &status.last_sync {
        Some(s) => body.push_str(&format!(
            "\nIts last reported sync: {} version {} at {} (client clock).\n",
            s.image,
            s.version.as_deref().unwrap_or("?"),
            s.when
        )),
        None => body.push_str("\nIt has not reported a sync yet.\n"),
    }
    body.push_str(&format!(
        "\nThe host's logs are in clientlogs/{}_linbo.log on the box.\n\
         Further failures of this host are mailed at most every {} minutes.\n",
        status.hostname,
        MAIL_INTERVAL.as_secs() / 60
    ));
    (subject, body)
}

impl HookHandler for LinboHooks {
    fn handle(&self, req: HookRequest) -> HookReply {
        let req = self.requests.complete(req);
        let addr: Option<Ipv4Addr> = req.host_addr.parse().ok();
        let mut messages = Vec::new();
        for path in req.paths() {
            if !safe_relative(&path) {
                return HookReply::refuse(format!("refused: {path:?} leaves the LINBO tree"));
            }
            let result = match req.phase {
                HookPhase::PreDownload => self.pre_download(&path, addr),
                HookPhase::PostDownload => self.post_download(&path, addr, req.exit_status),
                HookPhase::PreUpload => self.pre_upload(&path),
                HookPhase::PostUpload => self.post_upload(&path, addr, req.exit_status),
            };
            match result {
                Ok(m) if m.is_empty() => {}
                Ok(m) => messages.push(m),
                Err(e) => {
                    tracing::warn!(path, client = %req.host_addr, phase = ?req.phase, "{e}");
                    return HookReply::refuse(e);
                }
            }
        }
        HookReply::ok(messages.join("; "))
    }
}

impl LinboHooks {
    fn pre_download(&self, path: &str, addr: Option<Ipv4Addr>) -> Result<String, String> {
        if let Some(name) = path.strip_prefix("boot/grub/spool/") {
            return self.render_spool(name);
        }
        if let Some(name) = path.strip_prefix("tmp/") {
            if is_pull_trigger(name) {
                return Ok(self.pull(name, addr));
            }
        }
        let inside = !path
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..");
        if inside && path.starts_with("images/") && path.ends_with(".reg") {
            return Ok(self.patch_reg(path));
        }
        Ok(String::new())
    }

    /// `images/…/*.reg`: sets `"Domain"=` to the configured Windows domain
    /// (LINBO's Samba domain rewrite), atomically and only on a change.
    /// Problems are logged, never refused: the client still gets the file.
    fn patch_reg(&self, path: &str) -> String {
        let Ok(Some(domain)) = self.store.settings().map(|s| s.windows_domain) else {
            return String::new();
        };
        let file = self.linbo.join(path);
        let Ok(bytes) = fs::read(&file) else {
            return String::new(); // missing: rsync reports it to the client
        };
        match bootbox_linbo::reg::set_domain(&bytes, &domain) {
            bootbox_linbo::reg::DomainPatch::Changed(new) => match write_file(&file, &new) {
                Ok(()) => format!("{path}: Domain set to {domain}"),
                Err(e) => {
                    tracing::warn!(path, "{e}");
                    String::new()
                }
            },
            bootbox_linbo::reg::DomainPatch::Unchanged => String::new(),
            bootbox_linbo::reg::DomainPatch::Unsupported(why) => {
                tracing::info!(path, "Domain not rewritten: {why}");
                String::new()
            }
        }
    }

    fn post_download(
        &self,
        path: &str,
        addr: Option<Ipv4Addr>,
        status: Option<i32>,
    ) -> Result<String, String> {
        if let Some(name) = path.strip_prefix("boot/grub/spool/") {
            if name.ends_with(".grub.cfg") && !name.contains('/') {
                let _ = fs::remove_file(self.linbo.join(path));
            }
            return Ok(String::new());
        }
        let is_cmd = path
            .strip_prefix("linbocmd/")
            .is_some_and(|n| !n.contains('/') && n.ends_with(".cmd"));
        if is_cmd && status == Some(0) {
            let who = addr.map_or_else(|| "a client".to_string(), |a| a.to_string());
            match fs::remove_file(self.linbo.join(path)) {
                Ok(()) => {
                    let _ = self.store.record(
                        "remote.onboot.fetched",
                        format!("on-boot file {path} fetched by {who} (rsync) and removed"),
                    );
                    if let Some(ip) = addr {
                        self.recorder.record_ip(
                            ip,
                            "rsync",
                            "onboot",
                            format!("{path} fetched (removed)"),
                        );
                    }
                    return Ok(format!("{path} consumed"));
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(format!("cannot remove {path}: {e}")),
            }
        }
        Ok(String::new())
    }

    /// `<host>.<group>.grub.cfg`: the client's local cache config.
    fn render_spool(&self, name: &str) -> Result<String, String> {
        let Some(stem) = name.strip_suffix(".grub.cfg") else {
            return Ok(String::new());
        };
        let Some((host, group)) = stem.split_once('.') else {
            return Ok(String::new());
        };
        if !plain_name(host) || !plain_name(group) {
            return Err(format!("refused: bad spool name {name:?}"));
        }
        let text = self
            .store
            .group(group)
            .map_err(|e| format!("registry: {e}"))?
            .and_then(|g| g.start_conf)
            .and_then(|t| StartConf::parse(&t).ok())
            .map(|p| bootbox_boot::grub::local_cache_cfg(group, &p.conf, self.images.server_ip));
        let Some(text) = text else {
            return Ok(String::new());
        };
        let dir = self.linbo.join("boot/grub/spool");
        fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        write_file(&dir.join(name), text.as_bytes())?;
        Ok(format!("spool {name} rendered"))
    }

    /// The client asked for its own `/tmp/<name>`: fetch it over SSH.
    fn pull(&self, name: &str, addr: Option<Ipv4Addr>) -> String {
        let Some(ip) = addr else {
            return String::new();
        };
        let Some(host) = self.identify(ip) else {
            tracing::info!(%ip, file = name, "pull-trigger from an unregistered client ignored");
            return String::new();
        };
        let fetched = self.runtime.block_on(bootbox_remote::ssh::fetch(
            &self.ssh,
            &ip.to_string(),
            &format!("/tmp/{name}"),
            MAX_PULL,
            PULL_TIMEOUT,
        ));
        let bytes = match fetched {
            Ok(Some(b)) => b,
            Ok(None) => {
                tracing::info!(host = %host.hostname, file = name, "client has no such file or is not reachable over SSH");
                return String::new();
            }
            Err(e) => {
                tracing::warn!(host = %host.hostname, error = %e, "cannot pull from client");
                return String::new();
            }
        };
        if let Err(e) = self.store_pulled(&host, name, &bytes) {
            tracing::warn!(host = %host.hostname, file = name, "{e}");
            return String::new();
        }
        format!("{name} pulled from {}", host.hostname)
    }

    fn store_pulled(&self, host: &Host, name: &str, bytes: &[u8]) -> Result<(), String> {
        fs::create_dir_all(&self.logs)
            .map_err(|e| format!("cannot create {}: {e}", self.logs.display()))?;
        let target = self.logs.join(format!("{}_{name}", host.hostname));
        if name.ends_with(".log") {
            // Logs are appended, as LINBO's server does.
            use std::io::Write as _;
            let mut f = fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&target)
                .map_err(|e| format!("cannot open {}: {e}", target.display()))?;
            f.write_all(bytes)
                .map_err(|e| format!("cannot append to {}: {e}", target.display()))?;
            let text = String::from_utf8_lossy(bytes);
            let failure = bootbox_linbo::status::log_failures(&text).pop();
            if let Some(last) = &failure {
                let _ = self.store.record(
                    "client.failure",
                    format!("{} reports a failure: {last}", host.hostname),
                );
            }
            self.report(host, ClientReport::Log { failure });
        } else {
            write_file(&target, bytes)?;
        }
        if name.ends_with(".status") {
            let text = String::from_utf8_lossy(bytes);
            match bootbox_linbo::status::parse_image_status(&text) {
                Ok(s) => {
                    let verb = match s.event {
                        bootbox_linbo::status::ImageEvent::Applied => "restored",
                        bootbox_linbo::status::ImageEvent::Created => "created",
                    };
                    let _ = self.store.record(
                        "client.image",
                        format!(
                            "{} {verb} {} (version {}) at {}",
                            host.hostname,
                            s.image,
                            s.image_timestamp.as_deref().unwrap_or("?"),
                            s.when
                        ),
                    );
                    let kind = match s.event {
                        bootbox_linbo::status::ImageEvent::Applied => SyncKind::Applied,
                        bootbox_linbo::status::ImageEvent::Created => SyncKind::Created,
                    };
                    self.report(
                        host,
                        ClientReport::Sync {
                            kind,
                            image: s.image,
                            version: s.image_timestamp,
                            when: s.when,
                        },
                    );
                }
                Err(e) => {
                    let _ = self.store.record(
                        "client.failure",
                        format!("{} sent an unreadable image.status: {e}", host.hostname),
                    );
                    self.report(host, ClientReport::BadStatus { reason: e });
                }
            }
        }
        Ok(())
    }

    /// Merges a report into the host's client status; a new failure is
    /// mailed (see [`LinboHooks::notified`]) by a task of its own, so the
    /// rsync client is not kept waiting for the SMTP relay.
    fn report(&self, host: &Host, report: ClientReport) {
        let outcome =
            match self
                .store
                .record_client_report(&host.hostname, report, bootbox_store::now_ms())
            {
                Ok(o) => o,
                Err(e) => {
                    tracing::warn!(host = %host.hostname, "cannot record the client status: {e}");
                    return;
                }
            };
        if !outcome.new_failure {
            return;
        }
        let Some(error) = outcome.status.last_error.clone() else {
            return;
        };
        let settings = match self.store.mail_settings() {
            Ok(m) if m.enabled => m,
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the mail settings");
                return;
            }
        };
        if !self.may_notify(&host.hostname, std::time::Instant::now()) {
            let _ = self.store.record(
                "client.mail",
                format!(
                    "failure mail for {} not sent: one was sent less than {} minutes ago",
                    host.hostname,
                    MAIL_INTERVAL.as_secs() / 60
                ),
            );
            return;
        }
        let (subject, body) = failure_mail(&outcome.status, &error);
        let store = self.store.clone();
        let hostname = host.hostname.clone();
        self.runtime.spawn(async move {
            let r = bootbox_remote::mail::send(&settings, &subject, &body, MAIL_TIMEOUT).await;
            let note = match &r {
                Ok(()) => format!(
                    "failure mail for {hostname} sent to {}",
                    settings.to.join(",")
                ),
                Err(e) => format!("failure mail for {hostname} not sent: {e}"),
            };
            if r.is_err() {
                tracing::warn!(host = %hostname, "{note}");
            }
            let _ = store.record("client.mail", note);
        });
    }

    /// True (and remembered) when `host` got no failure mail within
    /// [`MAIL_INTERVAL`] before `now`.
    fn may_notify(&self, host: &str, now: std::time::Instant) -> bool {
        let mut sent = self
            .notified
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        rate_limit(&mut sent, host, now)
    }

    /// Checks the name and creates the folder the upload goes to (the
    /// rsync client does not create parents).
    fn pre_upload(&self, path: &str) -> Result<String, String> {
        check_upload_name(path)?;
        if let Some((dir, _)) = path.rsplit_once('/') {
            let dir = self.upload.join(dir);
            fs::create_dir_all(&dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        Ok(String::new())
    }

    fn post_upload(
        &self,
        path: &str,
        addr: Option<Ipv4Addr>,
        status: Option<i32>,
    ) -> Result<String, String> {
        let staged = self.upload.join(path);
        if status != Some(0) {
            // A failed or aborted upload leaves nothing behind.
            let _ = fs::remove_file(&staged);
            return Ok(String::new());
        }
        check_upload_name(path)?;
        let _one_at_a_time = self
            .uploads
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let who = addr.map_or_else(|| "?".to_string(), |a| a.to_string());
        let actor = format!("rsync:{who}");
        let result = if let Some(row_file) = path.strip_suffix(".new") {
            self.register(row_file, &staged, &actor)
        } else {
            self.upload_image_file(path, &staged, &actor)
        };
        let _ = fs::remove_file(&staged);
        result
    }

    /// `images/<base>/<file>`: image or companion.
    fn upload_image_file(&self, path: &str, staged: &Path, actor: &str) -> Result<String, String> {
        let file = path.rsplit('/').next().unwrap_or(path);
        let base = path
            .strip_prefix("images/")
            .and_then(|r| r.split_once('/'))
            .map(|(b, _)| b.to_string())
            .unwrap_or_default();
        let tree = &self.images.tree;
        if file.ends_with(".qcow2") || file.ends_with(".qdiff") {
            let done = tree.adopt(file, staged).map_err(|e| e.to_string())?;
            let promoted = tree
                .promote(
                    done,
                    &format!("uploaded by {actor}"),
                    None,
                    &bootbox_images::timestamp_now(),
                )
                .map_err(|e| e.to_string())?;
            let message = format!(
                "image {file} uploaded by LINBO client {actor} ({} bytes, sha256 {}){}",
                promoted.size,
                promoted.sha256,
                promoted
                    .backup
                    .as_deref()
                    .map(|b| format!(", previous version kept in backups/{b}"))
                    .unwrap_or_default()
            );
            bootbox_web::images::catalogue_changed(
                &self.store,
                &self.images,
                &base,
                actor,
                "image.upload",
                message.clone(),
            )
            .map_err(|e| e.to_string())?;
            return Ok(message);
        }
        let (image, kind) = file.rsplit_once('.').unwrap_or((file, ""));
        match kind {
            "info" | "desc" => {
                let text = fs::read_to_string(staged)
                    .map_err(|e| format!("cannot read uploaded {file}: {e}"))?;
                tree.set_companion(image, kind, &text)
                    .map_err(|e| e.to_string())?;
                Ok(format!("{file} taken over"))
            }
            // The box generates its own torrent and hash for what it seeds.
            "torrent" | "hash" => Ok(format!("{file} ignored (the box makes its own)")),
            _ => Err(format!("refused: {file} is not an image file or companion")),
        }
    }

    /// `<host>.new`: a client registering itself with one devices.csv row.
    fn register(&self, name: &str, staged: &Path, actor: &str) -> Result<String, String> {
        let text =
            fs::read_to_string(staged).map_err(|e| format!("cannot read {name}.new: {e}"))?;
        let parsed = bootbox_linbo::devices::parse(&text)
            .map_err(|e| format!("registration {name}.new is not a devices.csv row: {e}"))?;
        let Some(host) = parsed.records.into_iter().next() else {
            return Err(format!("registration {name}.new is empty"));
        };
        if host.hostname != name.to_ascii_lowercase() {
            return Err(format!(
                "registration {name}.new names host {} instead",
                host.hostname
            ));
        }
        let hostname = host.hostname.clone();
        match self.store.add_host(host, actor) {
            Ok(()) => {
                let _ = self.store.record(
                    "client.registered",
                    format!("{hostname} registered itself by LINBO"),
                );
                Ok(format!("{hostname} registered"))
            }
            Err(e) => Err(format!("registration of {hostname} refused: {e}")),
        }
    }

    /// The registered host at `ip`.
    fn identify(&self, ip: Ipv4Addr) -> Option<Host> {
        let hosts = self.store.hosts().ok()?;
        if let Some(h) = hosts.iter().find(|h| h.ip.addr() == Some(ip)) {
            return Some(h.clone());
        }
        let mac = self.recorder.mac_of(ip).or_else(|| arp_lookup(ip))?;
        hosts.into_iter().find(|h| h.mac == mac)
    }
}

/// Files clients may upload: images with their companions under
/// `images/<base>/`, and `<host>.new` registrations at the top.
fn check_upload_name(path: &str) -> Result<(), String> {
    let refuse = || Err(format!("refused: uploads of {path:?} are not accepted"));
    if let Some(rest) = path.strip_prefix("images/") {
        let Some((base, file)) = rest.split_once('/') else {
            return refuse();
        };
        let image = file
            .strip_suffix(".info")
            .or_else(|| file.strip_suffix(".desc"))
            .or_else(|| file.strip_suffix(".torrent"))
            .or_else(|| file.strip_suffix(".hash"))
            .unwrap_or(file);
        let ok = plain_name(base)
            && (image == format!("{base}.qcow2") || image == format!("{base}.qdiff"));
        return if ok { Ok(()) } else { refuse() };
    }
    match path.strip_suffix(".new") {
        Some(host) if plain_name(host) => Ok(()),
        _ => refuse(),
    }
}

/// LINBO's pull-trigger names (`/tmp/linbo.log`, `image.status`, `hwinfo.gz`).
fn is_pull_trigger(name: &str) -> bool {
    plain_name(name)
        && (name.ends_with(".log") || name.ends_with(".status") || name.ends_with(".gz"))
}

use bootbox_linbo::names::is_plain_file_name as plain_name;

/// No absolute paths, no `..`, no empty segments beyond leading slashes
/// (already stripped).
fn safe_relative(path: &str) -> bool {
    !path.is_empty() && path.split('/').all(|seg| !seg.is_empty() && seg != "..")
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let tmp = path.with_extension("tmp-hook");
    fs::write(&tmp, bytes)
        .and_then(|()| fs::rename(&tmp, path))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// The MAC of `ip` in the kernel's neighbour table (the client just
/// connected, so it is there).
fn arp_lookup(ip: Ipv4Addr) -> Option<MacAddr> {
    let table = fs::read_to_string("/proc/net/arp").ok()?;
    let wanted = ip.to_string();
    table.lines().skip(1).find_map(|l| {
        let cols: Vec<&str> = l.split_whitespace().collect();
        (cols.first() == Some(&wanted.as_str()))
            .then(|| cols.get(3).and_then(|m| m.parse().ok()))
            .flatten()
            .filter(|m: &MacAddr| m.to_string() != "00:00:00:00:00:00")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_names() {
        assert!(check_upload_name("images/win11/win11.qcow2").is_ok());
        assert!(check_upload_name("images/win11/win11.qdiff.info").is_ok());
        assert!(check_upload_name("images/win11/win11.qcow2.torrent").is_ok());
        assert!(check_upload_name("pc01.new").is_ok());
        assert!(check_upload_name("images/win11/other.qcow2").is_err());
        assert!(check_upload_name("images/win11/win11.qcow2.postsync").is_err());
        assert!(check_upload_name("start.conf.g1").is_err());
        assert!(check_upload_name("linbocmd/pc01.cmd").is_err());
        assert!(check_upload_name("images/../x/x.qcow2").is_err());
        assert!(check_upload_name("../etc.new").is_err());
    }

    #[test]
    fn traversal_is_caught_before_anything() {
        assert!(safe_relative("tmp/linbo.log"));
        assert!(!safe_relative("images/../../etc/passwd"));
        assert!(!safe_relative(""));
        assert!(!safe_relative("a//b"));
    }

    #[test]
    fn failure_mails_are_rate_limited_per_host() {
        let mut sent = std::collections::HashMap::new();
        let t0 = std::time::Instant::now();
        assert!(rate_limit(&mut sent, "pc01", t0));
        assert!(!rate_limit(&mut sent, "pc01", t0 + Duration::from_secs(60)));
        assert!(rate_limit(&mut sent, "pc02", t0 + Duration::from_secs(60)));
        assert!(rate_limit(&mut sent, "pc01", t0 + MAIL_INTERVAL));
    }

    #[test]
    fn failure_mail_names_host_error_and_last_sync() {
        let status = ClientStatus {
            hostname: "pc01".into(),
            last_sync: Some(bootbox_store::LastSync {
                image: "win11.qcow2".into(),
                version: Some("202611201200".into()),
                when: "202611221830".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let error = LastError {
            message: "rsync error: disk full".into(),
            at_ms: 1,
            source: "linbo.log".into(),
        };
        let (subject, body) = failure_mail(&status, &error);
        assert_eq!(subject, "Bootbox: pc01 reports a failure");
        assert!(body.contains("rsync error: disk full"), "{body}");
        assert!(body.contains("win11.qcow2 version 202611201200"), "{body}");
    }

    #[test]
    fn pull_triggers() {
        assert!(is_pull_trigger("linbo.log"));
        assert!(is_pull_trigger("image.status"));
        assert!(is_pull_trigger("hwinfo.gz"));
        assert!(!is_pull_trigger("start.conf"));
        assert!(!is_pull_trigger("x/../y.log"));
    }
}
