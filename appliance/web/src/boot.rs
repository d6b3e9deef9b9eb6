//! Unauthenticated boot endpoints on plain HTTP: what iPXE and UEFI HTTP
//! boot fetch. They expose nothing secret: scripts name the PC and its
//! group, files come from the LINBO tree only.
//!
//! | route | what |
//! |---|---|
//! | `GET /boot.ipxe` | entry script (DHCP retry guard), chains to itself with `?mac=` |
//! | `GET /boot.ipxe?mac=M` | the PC's script from the registry |
//! | `GET, HEAD /linbo/{path}` | files of `<data>/linbo` (Range, no redirects, streamed) |
//! | `GET /booted?mac=M` | "I am up" callback from a booted system, for the timeline |

use std::net::{IpAddr, SocketAddr};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, Path as UrlPath, Query, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bootbox_boot::timeline::Recorder;
use bootbox_boot::BootConfig;
use bootbox_linbo::MacAddr;
use bootbox_store::Store;
use serde::Deserialize;
use tower::ServiceExt;
use tower_http::services::ServeFile;

/// State of the boot endpoints.
#[derive(Clone)]
pub struct BootState {
    /// The registry.
    pub store: Arc<Store>,
    /// Addresses and policies.
    pub cfg: Arc<BootConfig>,
    /// `<data>/linbo`, canonical.
    pub linbo_root: Arc<PathBuf>,
    /// Timeline reporting.
    pub recorder: Recorder,
    /// Per-image HTTP download counters.
    pub downloads: Arc<crate::downloads::HttpDownloads>,
    /// Called with (host, file content) when a client fetched its on-boot
    /// file (remote control pushes upload credentials then).
    pub onboot_fetched: Option<OnbootHook>,
}

/// See [`BootState::onboot_fetched`].
pub type OnbootHook = Arc<dyn Fn(&str, &str) + Send + Sync>;

impl BootState {
    /// Creates the state; `linbo_root` must exist.
    pub fn new(
        store: Arc<Store>,
        cfg: BootConfig,
        linbo_root: &Path,
        recorder: Recorder,
    ) -> std::io::Result<Self> {
        Ok(Self {
            store,
            cfg: Arc::new(cfg),
            linbo_root: Arc::new(linbo_root.canonicalize()?),
            recorder,
            downloads: Arc::default(),
            onboot_fetched: None,
        })
    }
}

/// Router with the boot endpoints. Serve it with
/// `into_make_service_with_connect_info::<SocketAddr>()` so the client
/// address is known to the timeline.
pub fn boot_router(state: BootState) -> Router {
    Router::new()
        .route("/boot.ipxe", get(script))
        .route("/linbo/{*path}", get(file).head(file))
        .route("/booted", get(booted))
        .with_state(state)
}

#[derive(Debug, Deserialize)]
struct MacQuery {
    mac: Option<String>,
    platform: Option<String>,
    arch: Option<String>,
}

fn ipxe(body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

/// The client's IPv4 address, when the server was started with connect
/// info (`into_make_service_with_connect_info`).
fn client_ip(req: &Request) -> Option<std::net::Ipv4Addr> {
    match req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
    {
        Some(IpAddr::V4(ip)) => Some(ip),
        Some(IpAddr::V6(ip)) => ip.to_ipv4_mapped(),
        None => None,
    }
}

async fn script(State(st): State<BootState>, Query(q): Query<MacQuery>, req: Request) -> Response {
    let Some(raw) = q.mac.as_deref().filter(|m| !m.is_empty()) else {
        return ipxe(bootbox_boot::script::entry_script(&st.cfg));
    };
    let Ok(mac) = raw.parse::<MacAddr>() else {
        return (
            StatusCode::BAD_REQUEST,
            format!(
                "#!ipxe\necho Bootbox: '{}' is not a MAC address\nexit 1\n",
                raw.escape_default()
            ),
        )
            .into_response();
    };
    if let Some(ip) = client_ip(&req) {
        st.recorder.learn_ip(ip, mac);
    }
    let view = match st.store.boot_view(mac) {
        Ok(v) => v,
        Err(e) => {
            tracing::error!(%mac, error = %e, "registry read failed on the boot path");
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "#!ipxe\necho Bootbox: registry unavailable, retrying\nsleep 10\nchain ${0}\n",
            )
                .into_response();
        }
    };
    let text = bootbox_boot::ipxe_script(view.as_ref(), mac, &st.cfg);
    let mode = match &view {
        None => "unregistered".to_string(),
        Some(v) if !v.host.pxe.is_pxe() => "pxe flag 0".to_string(),
        Some(v) => format!("{:?}", bootbox_boot::decide::effective_mode(v)).to_lowercase(),
    };
    let platform = [q.platform.as_deref(), q.arch.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join("/");
    st.recorder.record(
        mac,
        "http",
        "script",
        format!("boot script ({mode}) for {platform}"),
    );
    ipxe(text)
}

#[derive(Debug, Deserialize)]
struct BootedQuery {
    mac: Option<String>,
}

async fn booted(
    State(st): State<BootState>,
    Query(q): Query<BootedQuery>,
    req: Request,
) -> Response {
    let mac = q
        .mac
        .as_deref()
        .and_then(|m| m.parse::<MacAddr>().ok())
        .or_else(|| client_ip(&req).and_then(|ip| st.recorder.mac_of(ip)));
    match mac {
        Some(mac) => {
            st.recorder
                .record(mac, "client", "booted", "the booted system reported back");
            (StatusCode::OK, "callback-ack\n").into_response()
        }
        None => (StatusCode::BAD_REQUEST, "give ?mac=\n").into_response(),
    }
}

/// Resolves a request path inside `root`: no `..`, no absolute paths, no
/// backslashes, and after following symlinks still inside `root`.
pub fn confine(root: &Path, request: &str) -> Result<PathBuf, StatusCode> {
    if request.contains('\\') || request.contains('\0') {
        return Err(StatusCode::BAD_REQUEST);
    }
    let rel = Path::new(request.trim_start_matches('/'));
    if rel.as_os_str().is_empty() || !rel.components().all(|c| matches!(c, Component::Normal(_))) {
        return Err(StatusCode::FORBIDDEN);
    }
    let full = root
        .join(rel)
        .canonicalize()
        .map_err(|_| StatusCode::NOT_FOUND)?;
    if !full.starts_with(root) {
        return Err(StatusCode::FORBIDDEN);
    }
    if !full.is_file() {
        return Err(StatusCode::NOT_FOUND);
    }
    Ok(full)
}

/// Read size for file downloads: big images stream in 1 MiB reads, which
/// cuts system calls and wake-ups per byte 16× against the 64 KiB default
/// (measured with scripts/bench/http).
const FILE_CHUNK: usize = 1 << 20;

/// Content type by extension, with the types firmware insists on.
fn mime_for(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "efi" => "application/efi",
        "iso" => "application/vnd.efi-iso",
        "img" => "application/vnd.efi-img",
        "ipxe" | "cfg" | "conf" | "info" | "desc" | "list" | "cmd" | "md5" | "hash" => {
            "text/plain; charset=utf-8"
        }
        "torrent" => "application/x-bittorrent",
        "png" => "image/png",
        "svg" => "image/svg+xml",
        _ => "application/octet-stream",
    }
}

async fn file(
    State(st): State<BootState>,
    UrlPath(path): UrlPath<String>,
    req: Request,
) -> Response {
    let full = match confine(&st.linbo_root, &path) {
        Ok(p) => p,
        Err(code) => {
            return (
                code,
                format!("{}\n", code.canonical_reason().unwrap_or("error")),
            )
                .into_response()
        }
    };
    if req.method() == Method::GET && !req.headers().contains_key(header::RANGE) {
        if let Some(ip) = client_ip(&req) {
            st.recorder.record_ip(ip, "http", "file", path.clone());
        }
    }
    if req.method() == Method::GET && is_onboot_cmd(&st.linbo_root, &full) {
        return onboot_once(&st, &full, &path, client_ip(&req)).await;
    }
    let method = req.method().clone();
    let mime: mime::Mime = mime_for(&full)
        .parse()
        .unwrap_or(mime::APPLICATION_OCTET_STREAM);
    match ServeFile::new_with_mime(&full, &mime)
        .with_buf_chunk_size(FILE_CHUNK)
        .oneshot(req)
        .await
    {
        Ok(resp) => match crate::downloads::image_of(&path) {
            Some(image) if resp.status().is_success() && method == Method::GET => {
                resp.map(|b| st.downloads.count(image, Body::new(b)))
            }
            _ => resp.map(Body::new),
        },
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// True for `linbocmd/<host>.cmd`, the on-boot commands of one PC.
fn is_onboot_cmd(root: &Path, full: &Path) -> bool {
    full.parent() == Some(root.join("linbocmd").as_path())
        && full.extension().is_some_and(|e| e == "cmd")
}

/// Hands an on-boot file out once, as LINBO's post-download hook does: the
/// (tiny) file is read into memory and deleted before it is sent, so a
/// second request (or a concurrent one) gets 404 and the commands run only
/// once. `bootbox-remote` jobs see the file gone and report the host as
/// having picked its commands up.
async fn onboot_once(
    st: &BootState,
    full: &Path,
    path: &str,
    ip: Option<std::net::Ipv4Addr>,
) -> Response {
    let not_found = || (StatusCode::NOT_FOUND, "Not Found\n").into_response();
    let Ok(body) = tokio::fs::read(full).await else {
        return not_found();
    };
    match tokio::fs::remove_file(full).await {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return not_found(),
        Err(e) => {
            tracing::error!(file = %full.display(), error = %e, "cannot remove on-boot file; not serving it twice");
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                "cannot consume the on-boot file\n",
            )
                .into_response();
        }
    }
    let who = ip.map_or_else(|| "a client".to_string(), |ip| ip.to_string());
    if let Some(ip) = ip {
        st.recorder.record_ip(
            ip,
            "http",
            "onboot",
            format!("on-boot commands {path} fetched (removed)"),
        );
    }
    let store = st.store.clone();
    let msg = format!("on-boot file {path} fetched by {who} and removed");
    let _ = tokio::task::spawn_blocking(move || store.record("remote.onboot.fetched", msg)).await;
    if let (Some(hook), Some(host)) = (
        &st.onboot_fetched,
        full.file_stem().and_then(|h| h.to_str()),
    ) {
        hook(host, &String::from_utf8_lossy(&body));
    }
    (
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}
