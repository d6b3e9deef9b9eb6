//! REST API of the web UI under `/api/v1`: setup, sign-in, dashboard,
//! hosts with their LINBO client status, devices.csv import, rooms, groups with start.conf validation,
//! settings, API tokens, events with a live SSE stream, and the OpenAPI
//! document. Errors are [`ApiError`] JSON with a stable `code`.
//!
//! Reads need a session or a token with the `read` scope; changes need a
//! session plus its CSRF token, or an `admin` token. Every change writes an
//! audit event naming the account and the client address.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::time::Duration;

use crate::settings_form::SettingsForm;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use bootbox_linbo::devices::{self, DeviceRecord, IpAssignment, PxeFlag};
use bootbox_linbo::startconf::StartConf;
use bootbox_linbo::{names, MacAddr};
use bootbox_store::tokens::Scope;
use bootbox_store::users::Enrolment;
use bootbox_store::{BootChain, ClientStatus, Group, ImportBatch, MergeStrategy, Room, StoreError};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::auth::{self, require, Actor};
use crate::error::{ApiError, ApiResult};
use crate::AppState;

/// The OpenAPI document (hand-written, embedded).
pub const OPENAPI: &str = include_str!("../../../webui/openapi.json");

/// The API routes of the UI.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/setup", get(setup_status).post(setup))
        .route("/api/v1/auth/login", post(login))
        .route("/api/v1/auth/logout", post(logout))
        .route("/api/v1/auth/logout-all", post(logout_all))
        .route("/api/v1/auth/me", get(me))
        .route("/api/v1/auth/password", post(change_password))
        .route("/api/v1/dashboard", get(dashboard))
        .route("/api/v1/hosts", get(list_hosts).post(create_host))
        .route("/api/v1/hosts/{name}", put(update_host).delete(delete_host))
        .route("/api/v1/hosts/{name}/status", get(host_status))
        .route("/api/v1/hosts/{name}/chain", put(put_host_chain))
        .route("/api/v1/groups/{name}/chain", put(put_group_chain))
        .route(
            "/api/v1/hosts/{name}/status/error",
            axum::routing::delete(clear_host_error),
        )
        .route("/api/v1/import/devices", post(import_devices))
        .route("/api/v1/rooms", get(list_rooms))
        .route("/api/v1/rooms/{name}", put(put_room).delete(delete_room))
        .route("/api/v1/groups", get(list_groups))
        .route(
            "/api/v1/groups/{name}",
            get(get_group).put(put_group).delete(delete_group),
        )
        .route("/api/v1/startconf/validate", post(validate_startconf))
        .route("/api/v1/settings", get(get_settings).put(put_settings))
        .route("/api/v1/tokens", get(list_tokens).post(create_token))
        .route("/api/v1/tokens/{name}", axum::routing::delete(revoke_token))
        .route("/api/v1/events", get(list_events))
        .route("/api/v1/events/stream", get(event_stream))
        .route("/api/v1/bootfiles/{file}", put(upload_boot_file))
}

/// Boot files the wizard may upload into `<data>/linbo`.
pub const BOOT_FILES: &[&str] = &["linbo64", "linbofs64"];

/// Largest accepted boot file (LINBO kernel or initramfs).
const BOOT_FILE_MAX: u64 = 512 << 20;

/// `PUT /api/v1/bootfiles/{linbo64|linbofs64}`: streams the body to a
/// temporary file beside the target and renames it into place when
/// complete, so a cut upload never leaves half a kernel behind.
async fn upload_boot_file(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(file): Path<String>,
    body: axum::body::Body,
) -> ApiResult {
    use futures_util::StreamExt;
    use std::io::Write;
    let actor = require(&st, &headers, Scope::Admin, true)?;
    if !BOOT_FILES.contains(&file.as_str()) {
        return Err(bad_name(format!(
            "only {} can be uploaded here",
            BOOT_FILES.join(" and ")
        )));
    }
    let dir = linbo_dir(&st).ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "images_off",
            "the LINBO folder is not available",
        )
    })?;
    let target = dir.join(&file);
    let tmp = dir.join(format!(".{file}.upload"));
    let mut out = std::fs::File::create(&tmp).map_err(ApiError::internal)?;
    let mut size: u64 = 0;
    let mut stream = body.into_data_stream();
    let result: ApiResult<()> = async {
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "truncated",
                    format!("upload interrupted: {e}; nothing was changed"),
                )
            })?;
            size += chunk.len() as u64;
            if size > BOOT_FILE_MAX {
                return Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "too_large",
                    "a boot file may have at most 512 MiB",
                ));
            }
            tokio::task::block_in_place(|| out.write_all(&chunk)).map_err(ApiError::internal)?;
        }
        if size == 0 {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "empty",
                "the file is empty",
            ));
        }
        out.sync_all().map_err(ApiError::internal)?;
        std::fs::rename(&tmp, &target).map_err(ApiError::internal)?;
        Ok(())
    }
    .await;
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    let _ = st.store.audit(
        &actor.audit(),
        "bootfile.upload",
        format!("boot file {file} uploaded ({size} bytes)"),
    );
    Ok((
        StatusCode::CREATED,
        Json(json!({ "file": file, "size": size })),
    )
        .into_response())
}

/// Parses a JSON body into `T` with an API error on bad input.
fn body<T: DeserializeOwned>(b: &Bytes) -> ApiResult<T> {
    serde_json::from_slice(b).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("the request body is not valid: {e}"),
        )
    })
}

/// Maps store errors to API errors with stable codes.
pub fn store_error(e: StoreError) -> ApiError {
    let (status, code) = match &e {
        StoreError::Conflict { .. } => (StatusCode::CONFLICT, "conflict"),
        StoreError::NotFound { .. } => (StatusCode::NOT_FOUND, "not_found"),
        StoreError::Invalid(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid"),
        StoreError::ImportConflicts(_) => (StatusCode::CONFLICT, "import_conflicts"),
        _ => (StatusCode::SERVICE_UNAVAILABLE, "store"),
    };
    ApiError::new(status, code, e.to_string())
}

fn bad_name(msg: String) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "bad_name", msg)
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(ApiError::internal)?
}

fn ok_json(v: impl Serialize) -> ApiResult {
    Ok(Json(v).into_response())
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

// ----- setup -------------------------------------------------------------

/// Network interfaces of the box, from `/sys/class/net`.
pub fn interfaces() -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir("/sys/class/net")
        .map(|d| {
            d.filter_map(Result::ok)
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| n != "lo")
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

fn linbo_dir(st: &AppState) -> Option<std::path::PathBuf> {
    let c = st.images.as_ref()?;
    let probe = c.tree.image_dir("probe").ok()?;
    Some(probe.parent()?.parent()?.to_path_buf())
}

fn boot_files(st: &AppState) -> Value {
    let dir = linbo_dir(st);
    let present = |f: &str| dir.as_ref().is_some_and(|d| d.join(f).is_file());
    json!({ "linbo64": present("linbo64"), "linbofs64": present("linbofs64.lz") || present("linbofs64") })
}

async fn setup_status(State(st): State<AppState>, headers: HeaderMap) -> ApiResult {
    let admin = st.store.has_admin().map_err(ApiError::store)?;
    let signed_in = auth::session_of(&st, &headers).is_some();
    let mut v = json!({ "admin_exists": admin, "signed_in": signed_in });
    if !admin || signed_in {
        v["interfaces"] = json!(interfaces());
        v["boot_files"] = boot_files(&st);
        v["settings"] = serde_json::to_value(st.store.settings().map_err(ApiError::store)?)
            .map_err(ApiError::internal)?;
        let e = st.store.enrolment().map_err(ApiError::store)?;
        v["enrolment_url"] = json!(e.url);
    }
    ok_json(v)
}

#[derive(Debug, Deserialize)]
struct SetupReq {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(flatten)]
    settings: SettingsForm,
    #[serde(default)]
    enrol_url: String,
    #[serde(default)]
    enrol_token: String,
}

async fn setup(State(st): State<AppState>, headers: HeaderMap, b: Bytes) -> ApiResult {
    let req: SetupReq = body(&b)?;
    let admin_exists = st.store.has_admin().map_err(ApiError::store)?;
    let from = auth::peer(&headers);
    // First run: anyone on the LAN may create the admin. Afterwards the
    // wizard is re-run by a signed-in admin only.
    let actor = if admin_exists {
        require(&st, &headers, Scope::Admin, true)?
    } else {
        Actor {
            who: "web:setup".into(),
            from,
        }
    };
    let settings = req.settings.validate()?;
    let enrol = Enrolment {
        url: req.enrol_url.trim().to_string(),
        token: req.enrol_token.trim().to_string(),
    };
    let store = st.store.clone();
    let user = if req.username.trim().is_empty() {
        "admin".to_string()
    } else {
        req.username.trim().to_lowercase()
    };
    let (u, pw, a) = (user.clone(), req.password.clone(), actor.audit());
    blocking(move || {
        let admin = (!admin_exists).then_some((u.as_str(), pw.as_str()));
        store
            .complete_setup(admin, settings, enrol, &a)
            .map_err(store_error)
    })
    .await?;
    if admin_exists {
        return ok_json(json!({ "ok": true }));
    }
    let (id, csrf) = st.auth.create_session(&user)?;
    let mut resp = Json(json!({ "ok": true, "user": user, "csrf": csrf })).into_response();
    set_cookie(&mut resp, &st.auth.cookie(&id));
    Ok(resp)
}

fn set_cookie(resp: &mut Response, value: &str) {
    if let Ok(v) = header::HeaderValue::from_str(value) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
}

// ----- sign-in -------------------------------------------------------------

#[derive(Debug, Deserialize)]
struct LoginReq {
    username: String,
    password: String,
}

async fn login(State(st): State<AppState>, headers: HeaderMap, b: Bytes) -> ApiResult {
    let req: LoginReq = body(&b)?;
    let user = req.username.trim().to_lowercase();
    let from = auth::peer(&headers);
    let keys = vec![format!("user:{user}"), format!("ip:{from}")];
    if let Some(secs) = st.auth.locked_for(&keys) {
        let mut resp = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "locked",
            format!("too many failed sign-ins; try again in {secs} seconds"),
        )
        .into_response();
        if let Ok(v) = header::HeaderValue::from_str(&secs.to_string()) {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return Ok(resp);
    }
    let store = st.store.clone();
    let (u, pw) = (user.clone(), req.password);
    let ok = blocking(move || store.verify_user(&u, &pw).map_err(ApiError::store)).await?;
    if ok.is_none() {
        st.auth.failed(&keys);
        let _ = st.store.record(
            "auth.failed",
            format!("failed sign-in for '{user}' from {from}"),
        );
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "bad_credentials",
            "wrong user name or password",
        ));
    }
    st.auth.succeeded(&keys);
    let (id, csrf) = st.auth.create_session(&user)?;
    let _ = st.store.audit(
        &format!("web:{user}@{from}"),
        "auth.login",
        format!("{user} signed in"),
    );
    let mut resp = Json(json!({ "user": user, "csrf": csrf })).into_response();
    set_cookie(&mut resp, &st.auth.cookie(&id));
    Ok(resp)
}

async fn logout(State(st): State<AppState>, headers: HeaderMap) -> ApiResult {
    let actor = require(&st, &headers, Scope::Read, true)?;
    if let Some((id, _)) = auth::session_of(&st, &headers) {
        st.auth.end_session(&id);
    }
    let _ = st.store.audit(&actor.audit(), "auth.logout", "signed out");
    let mut resp = StatusCode::NO_CONTENT.into_response();
    set_cookie(&mut resp, &st.auth.clear_cookie());
    Ok(resp)
}

async fn logout_all(State(st): State<AppState>, headers: HeaderMap) -> ApiResult {
    let actor = require(&st, &headers, Scope::Admin, true)?;
    let Some((_, s)) = auth::session_of(&st, &headers) else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "no_session",
            "signing out everywhere needs a browser session",
        ));
    };
    let n = st.auth.end_all(&s.user);
    let _ = st.store.audit(
        &actor.audit(),
        "auth.logout_all",
        format!("{} signed out everywhere ({n} sessions ended)", s.user),
    );
    let mut resp = Json(json!({ "ended": n })).into_response();
    set_cookie(&mut resp, &st.auth.clear_cookie());
    Ok(resp)
}

async fn me(State(st): State<AppState>, headers: HeaderMap) -> ApiResult {
    let Some((_, s)) = auth::session_of(&st, &headers) else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "not signed in",
        ));
    };
    ok_json(json!({ "user": s.user, "csrf": s.csrf }))
}

#[derive(Debug, Deserialize)]
struct PasswordReq {
    current: String,
    new: String,
}

async fn change_password(State(st): State<AppState>, headers: HeaderMap, b: Bytes) -> ApiResult {
    let actor = require(&st, &headers, Scope::Admin, true)?;
    let req: PasswordReq = body(&b)?;
    let Some((_, s)) = auth::session_of(&st, &headers) else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "no_session",
            "needs a browser session",
        ));
    };
    let store = st.store.clone();
    let a = actor.audit();
    blocking(move || {
        if store
            .verify_user(&s.user, &req.current)
            .map_err(ApiError::store)?
            .is_none()
        {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "bad_credentials",
                "the current password is wrong",
            ));
        }
        store
            .set_user_password(&s.user, &req.new, &a)
            .map_err(store_error)
    })
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ----- dashboard -----------------------------------------------------------

/// A host as the UI shows it.
#[derive(Debug, Serialize)]
struct HostView {
    hostname: String,
    room: String,
    group: String,
    mac: String,
    ip: String,
    pxe: u8,
    role: String,
    group_ready: bool,
    last_step: Option<String>,
    last_time_ms: Option<u64>,
    /// What the LINBO client last reported (none before its first report).
    client_status: Option<StatusView>,
    /// The host's own boot chain (`None`: its group's).
    chain: Option<BootChain>,
    /// The boot chain in force: the host's, else its group's.
    effective_chain: BootChain,
}

/// A host's client status with the verdict the UI shows.
#[derive(Debug, Serialize)]
struct StatusView {
    #[serde(flatten)]
    status: ClientStatus,
    /// The newest report is a failure (no sync reported after it).
    failing: bool,
}

impl From<ClientStatus> for StatusView {
    fn from(status: ClientStatus) -> Self {
        Self {
            failing: status.failing(),
            status,
        }
    }
}

fn host_views(st: &AppState) -> ApiResult<Vec<HostView>> {
    let hosts = st.store.hosts().map_err(ApiError::store)?;
    let mut statuses: BTreeMap<String, ClientStatus> = st
        .store
        .client_statuses()
        .map_err(ApiError::store)?
        .into_iter()
        .map(|s| (s.hostname.clone(), s))
        .collect();
    let groups: BTreeMap<String, Group> = st
        .store
        .groups()
        .map_err(ApiError::store)?
        .into_iter()
        .map(|g| (g.name.clone(), g))
        .collect();
    let mut group_chain: BTreeMap<String, BootChain> = BTreeMap::new();
    let mut out = Vec::with_capacity(hosts.len());
    for h in hosts {
        let last = st.store.timeline(h.mac, 1).map_err(ApiError::store)?.pop();
        let client_status = statuses.remove(&h.hostname).map(StatusView::from);
        let chain = st
            .store
            .host_settings(&h.hostname)
            .map_err(ApiError::store)?
            .chain;
        let from_group = match group_chain.get(&h.group) {
            Some(c) => *c,
            None => {
                let c = st
                    .store
                    .group_settings(&h.group)
                    .map_err(ApiError::store)?
                    .chain;
                group_chain.insert(h.group.clone(), c);
                c
            }
        };
        out.push(HostView {
            chain,
            effective_chain: chain.unwrap_or(from_group),
            group_ready: groups.get(&h.group).is_some_and(|g| g.start_conf.is_some()),
            hostname: h.hostname,
            room: h.room,
            group: h.group,
            mac: h.mac.to_string(),
            ip: h.ip.to_string(),
            pxe: h.pxe.value(),
            role: h.role,
            last_step: last.as_ref().map(|e| e.step.clone()),
            last_time_ms: last.map(|e| e.time_ms),
            client_status,
        });
    }
    Ok(out)
}

async fn dashboard(State(st): State<AppState>, headers: HeaderMap) -> ApiResult {
    require(&st, &headers, Scope::Read, false)?;
    let hosts = host_views(&st)?;
    let mut state = BTreeMap::new();
    for h in &hosts {
        let k = if h.pxe == 0 {
            "no_pxe"
        } else if !h.group_ready {
            "no_startconf"
        } else if h.last_step.as_deref() == Some("booted") {
            "booted"
        } else if h.last_step.is_some() {
            "booting"
        } else {
            "never_seen"
        };
        *state.entry(k).or_insert(0u64) += 1;
    }
    let mut recent: Vec<&HostView> = hosts.iter().filter(|h| h.last_time_ms.is_some()).collect();
    recent.sort_by_key(|h| std::cmp::Reverse(h.last_time_ms));
    recent.truncate(10);
    let mut failing: Vec<Value> = hosts
        .iter()
        .filter_map(|h| {
            let s = h.client_status.as_ref().filter(|s| s.failing)?;
            let e = s.status.last_error.as_ref()?;
            Some(json!({
                "hostname": h.hostname,
                "room": h.room,
                "message": e.message,
                "source": e.source,
                "at_ms": e.at_ms,
            }))
        })
        .collect();
    failing.sort_by_key(|v| std::cmp::Reverse(v["at_ms"].as_u64()));
    let images = st.store.images().map_err(ApiError::store)?;
    let used: u64 = images
        .iter()
        .flat_map(|i| &i.versions)
        .map(|v| v.size)
        .sum();
    let free = linbo_dir(&st).and_then(|d| bootbox_images::free_space(&d).ok());
    let settings = st.store.settings().map_err(ApiError::store)?;
    ok_json(json!({
        "school_name": settings.school_name,
        "settings": settings,
        "hosts_total": hosts.len(),
        "hosts_by_state": state,
        "recent_boots": recent,
        "hosts_failing": failing,
        "images": images.len(),
        "disk": { "images_bytes": used, "free_bytes": free },
        "boot_files": boot_files(&st),
        "groups_without_startconf": st.store.groups().map_err(ApiError::store)?.iter().filter(|g| g.start_conf.is_none()).map(|g| g.name.clone()).collect::<Vec<_>>(),
    }))
}

// ----- hosts ---------------------------------------------------------------

#[derive(Debug, Deserialize)]
struct HostQuery {
    room: Option<String>,
    group: Option<String>,
    q: Option<String>,
}

async fn list_hosts(
    State(st): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<HostQuery>,
) -> ApiResult {
    require(&st, &headers, Scope::Read, false)?;
    let needle = q.q.unwrap_or_default().to_lowercase();
    let hosts: Vec<HostView> = host_views(&st)?
        .into_iter()
        .filter(|h| {
            q.room
                .as_deref()
                .is_none_or(|r| r.is_empty() || h.room == r)
        })
        .filter(|h| {
            q.group
                .as_deref()
                .is_none_or(|g| g.is_empty() || h.group == g)
        })
        .filter(|h| {
            needle.is_empty()
                || h.hostname.contains(&needle)
                || h.mac.to_lowercase().contains(&needle)
                || h.ip.contains(&needle)
        })
        .collect();
    ok_json(hosts)
}

#[derive(Debug, Deserialize)]
struct HostReq {
    hostname: String,
    room: String,
    group: String,
    mac: String,
    #[serde(default)]
    ip: String,
    #[serde(default = "one")]
    pxe: u8,
}

fn one() -> u8 {
    1
}

fn host_from(req: &HostReq, base: Option<DeviceRecord>) -> ApiResult<DeviceRecord> {
    let invalid = |m: String| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", m);
    let hostname = names::hostname(req.hostname.trim()).map_err(invalid)?;
    names::room(req.room.trim()).map_err(invalid)?;
    names::group(req.group.trim()).map_err(invalid)?;
    let mac: MacAddr = req
        .mac
        .trim()
        .parse()
        .map_err(|e| invalid(format!("MAC: {e}")))?;
    let ip = if req.ip.trim().is_empty() {
        IpAssignment::Dhcp
    } else {
        IpAssignment::parse(req.ip.trim()).map_err(invalid)?
    };
    let pxe =
        PxeFlag::new(req.pxe).ok_or_else(|| invalid(format!("PXE flag {} is not 0–3", req.pxe)))?;
    let mut h = match base {
        Some(b) => b,
        None => DeviceRecord {
            room: String::new(),
            hostname: String::new(),
            group: String::new(),
            mac,
            ip,
            pxe,
            role: String::new(),
            extra: Default::default(),
        },
    };
    h.hostname = hostname;
    h.room = req.room.trim().to_string();
    h.group = req.group.trim().to_string();
    h.mac = mac;
    h.ip = ip;
    h.pxe = pxe;
    Ok(h)
}

async fn create_host(State(st): State<AppState>, headers: HeaderMap, b: Bytes) -> ApiResult {
    let actor = require(&st, &headers, Scope::Admin, true)?;
    let req: HostReq = body(&b)?;
    let h = host_from(&req, None)?;
    st.store.add_host(h, &actor.audit()).map_err(store_error)?;
    Ok(StatusCode::CREATED.into_response())
}

async fn update_host(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    b: Bytes,
) -> ApiResult {
    let actor = require(&st, &headers, Scope::Admin, true)?;
    names::hostname(&name).map_err(bad_name)?;
    let req: HostReq = body(&b)?;
    let old = st
        .store
        .host(&name)
        .map_err(ApiError::store)?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("host {name} does not exist"),
            )
        })?;
    let h = host_from(&req, Some(old))?;
    st.store
        .update_host(&name, h, &actor.audit())
        .map_err(store_error)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn delete_host(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> ApiResult {
    let actor = require(&st, &headers, Scope::Admin, true)?;
    names::hostname(&name).map_err(bad_name)?;
    st.store
        .remove_host(&name, &actor.audit())
        .map_err(store_error)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Body of the boot-chain endpoints.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChainReq {
    /// `"ipxe"`, `"grub"`, or (hosts only) `null` for the group's chain.
    chain: Option<BootChain>,
}

/// `PUT /api/v1/hosts/{name}/chain`: the host's first-stage loader
/// (`{"chain": "grub"}`, `"ipxe"`, or `null` to follow its group).
async fn put_host_chain(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    b: Bytes,
) -> ApiResult {
    let actor = require(&st, &headers, Scope::Admin, true)?;
    names::hostname(&name).map_err(bad_name)?;
    let req: ChainReq = body(&b)?;
    let s = st
        .store
        .update_host_settings(&name, &actor.audit(), |s| s.chain = req.chain)
        .map_err(store_error)?;
    ok_json(json!({ "chain": s.chain }))
}

/// `PUT /api/v1/groups/{name}/chain`: the group's first-stage loader
/// (`{"chain": "grub"}` or `"ipxe"`).
async fn put_group_chain(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    b: Bytes,
) -> ApiResult {
    let actor = require(&st, &headers, Scope::Admin, true)?;
    names::group(&name).map_err(bad_name)?;
    let req: ChainReq = body(&b)?;
    let Some(chain) = req.chain else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_chain",
            "a group needs a boot chain: ipxe or grub",
        ));
    };
    let s = st
        .store
        .update_group_settings(&name, &actor.audit(), |s| s.chain = chain)
        .map_err(store_error)?;
    ok_json(json!({ "chain": s.chain }))
}

/// `GET /api/v1/hosts/{name}/status`: what the host's LINBO client last
/// reported (all fields empty before its first report).
async fn host_status(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> ApiResult {
    require(&st, &headers, Scope::Read, false)?;
    names::hostname(&name).map_err(bad_name)?;
    if st.store.host(&name).map_err(ApiError::store)?.is_none() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("host {name} does not exist"),
        ));
    }
    let status = st
        .store
        .client_status(&name)
        .map_err(ApiError::store)?
        .unwrap_or_else(|| ClientStatus {
            hostname: name.clone(),
            ..ClientStatus::default()
        });
    ok_json(StatusView::from(status))
}

/// `DELETE /api/v1/hosts/{name}/status/error`: dismisses the host's last
/// failure (the last sync stays).
async fn clear_host_error(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> ApiResult {
    let actor = require(&st, &headers, Scope::Admin, true)?;
    names::hostname(&name).map_err(bad_name)?;
    if st
        .store
        .clear_client_error(&name, &actor.audit())
        .map_err(store_error)?
    {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("host {name} has no reported failure"),
        ))
    }
}

// ----- import --------------------------------------------------------------

#[derive(Debug, Deserialize)]
struct ImportReq {
    csv: String,
    #[serde(default)]
    strategy: String,
    #[serde(default)]
    dry_run: bool,
    /// Import the valid lines and skip the lines with errors.
    #[serde(default)]
    skip_invalid: bool,
}

/// Parses devices.csv; with `skip` the lines with errors are blanked out
/// (line numbers stay) until the rest parses. Returns the devices and the
/// skipped errors.
fn parse_devices(
    csv: &str,
    skip: bool,
) -> Result<(devices::Devices, Vec<bootbox_linbo::LineError>), Vec<bootbox_linbo::LineError>> {
    let mut lines: Vec<String> = csv.lines().map(str::to_string).collect();
    let mut skipped = Vec::new();
    for _ in 0..4 {
        match devices::parse(&lines.join("\n")) {
            Ok(d) => return Ok((d, skipped)),
            Err(e) if skip => {
                for l in &e.errors {
                    if let Some(x) = lines.get_mut(l.line.wrapping_sub(1)) {
                        x.clear();
                    }
                }
                skipped.extend(e.errors);
            }
            Err(e) => return Err(e.errors),
        }
    }
    Err(skipped)
}

fn host_brief(h: &DeviceRecord) -> Value {
    json!({ "hostname": h.hostname, "room": h.room, "group": h.group, "mac": h.mac.to_string(), "ip": h.ip.to_string(), "pxe": h.pxe.value() })
}

async fn import_devices(State(st): State<AppState>, headers: HeaderMap, b: Bytes) -> ApiResult {
    let actor = require(&st, &headers, Scope::Admin, true)?;
    let req: ImportReq = body(&b)?;
    let strategy: MergeStrategy = if req.strategy.is_empty() {
        MergeStrategy::Update
    } else {
        req.strategy
            .parse()
            .map_err(|e: String| ApiError::new(StatusCode::BAD_REQUEST, "bad_request", e))?
    };
    let lines: Vec<&str> = req.csv.lines().collect();
    let line_text = |n: usize| {
        lines
            .get(n.wrapping_sub(1))
            .copied()
            .unwrap_or("")
            .to_string()
    };
    let (devices, skipped) = match parse_devices(&req.csv, req.skip_invalid) {
        Ok(d) => d,
        Err(errs) => {
            let valid = parse_devices(&req.csv, true)
                .map(|(d, _)| d.records.len())
                .unwrap_or(0);
            let errors: Vec<Value> = errs
                .iter()
                .map(|l| json!({ "line": l.line, "message": l.message, "text": line_text(l.line) }))
                .collect();
            return Ok((
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(json!({
                    "error": { "code": "invalid_csv", "message": format!("{} lines have errors; nothing was imported", errors.len()) },
                    "errors": errors,
                    "valid_lines": valid,
                    "applied": false,
                })),
            )
                .into_response());
        }
    };
    let rows: Vec<Value> = devices
        .records
        .iter()
        .zip(&devices.lines)
        .map(|(h, l)| {
            let mut v = host_brief(h);
            v["line"] = json!(l);
            v
        })
        .collect();
    let warnings: Vec<Value> = devices
        .warnings
        .iter()
        .map(|l| json!({ "line": l.line, "message": l.message }))
        .collect();
    let batch = ImportBatch {
        devices: Some(devices),
        strategy,
        ..ImportBatch::default()
    };
    let store = st.store.clone();
    let dry = req.dry_run;
    let a = actor.audit();
    let result = blocking(move || {
        if dry {
            store.plan_import(&batch).map_err(store_error)
        } else {
            store.apply_import(&batch, &a).map_err(store_error)
        }
    })
    .await;
    let plan = match result {
        Ok(p) => p,
        Err(e) if e.code == "import_conflicts" => {
            return Ok((
                StatusCode::CONFLICT,
                Json(json!({ "error": { "code": e.code, "message": e.message }, "applied": false, "rows": rows })),
            )
                .into_response())
        }
        Err(e) => return Err(e),
    };
    ok_json(json!({
        "applied": !dry,
        "dry_run": dry,
        "rows": rows,
        "warnings": warnings,
        "summary": plan.summary(),
        "added": plan.hosts_added.iter().map(host_brief).collect::<Vec<_>>(),
        "updated": plan.hosts_updated.iter().map(|(_, a)| host_brief(a)).collect::<Vec<_>>(),
        "removed": plan.hosts_removed.iter().map(host_brief).collect::<Vec<_>>(),
        "unchanged": plan.hosts_unchanged,
        "skipped": plan.hosts_skipped,
        "rooms_new": plan.rooms_new,
        "groups_new": plan.groups_new.iter().map(|g| g.name.clone()).collect::<Vec<_>>(),
        "conflicts": plan.conflicts,
        "skipped_lines": skipped.iter().map(|l| json!({ "line": l.line, "message": l.message, "text": line_text(l.line) })).collect::<Vec<_>>(),
    }))
}

// ----- rooms ---------------------------------------------------------------

async fn list_rooms(State(st): State<AppState>, headers: HeaderMap) -> ApiResult {
    require(&st, &headers, Scope::Read, false)?;
    let hosts = st.store.hosts().map_err(ApiError::store)?;
    let rooms: Vec<Value> = st
        .store
        .rooms()
        .map_err(ApiError::store)?
        .into_iter()
        .map(|r| {
            let n = hosts.iter().filter(|h| h.room == r.name).count();
            json!({ "name": r.name, "description": r.description, "hosts": n })
        })
        .collect();
    ok_json(rooms)
}

#[derive(Debug, Deserialize)]
struct DescReq {
    #[serde(default)]
    description: String,
}

async fn put_room(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    b: Bytes,
) -> ApiResult {
    let actor = require(&st, &headers, Scope::Admin, true)?;
    names::room(&name).map_err(bad_name)?;
    let req: DescReq = body(&b)?;
    st.store
        .put_room(
            Room {
                name,
                description: req.description,
            },
            &actor.audit(),
        )
        .map_err(store_error)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn delete_room(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> ApiResult {
    let actor = require(&st, &headers, Scope::Admin, true)?;
    names::room(&name).map_err(bad_name)?;
    st.store
        .remove_room(&name, &actor.audit())
        .map_err(store_error)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ----- groups and start.conf -------------------------------------------------

async fn list_groups(State(st): State<AppState>, headers: HeaderMap) -> ApiResult {
    require(&st, &headers, Scope::Read, false)?;
    let hosts = st.store.hosts().map_err(ApiError::store)?;
    let groups: Vec<Value> = st
        .store
        .groups()
        .map_err(ApiError::store)?
        .into_iter()
        .map(|g| {
            let n = hosts.iter().filter(|h| h.group == g.name).count();
            let chain = st.store.group_settings(&g.name).map(|s| s.chain).unwrap_or_default();
            json!({ "name": g.name, "description": g.description, "has_start_conf": g.start_conf.is_some(), "hosts": n, "chain": chain })
        })
        .collect();
    ok_json(groups)
}

async fn get_group(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> ApiResult {
    require(&st, &headers, Scope::Read, false)?;
    names::group(&name).map_err(bad_name)?;
    let g = st
        .store
        .group(&name)
        .map_err(ApiError::store)?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("group {name} does not exist"),
            )
        })?;
    let mut v = json!({ "name": g.name, "description": g.description, "start_conf": g.start_conf });
    if let Some(text) = &g.start_conf {
        v["validation"] = validation(text);
    }
    ok_json(v)
}

/// Validates a start.conf text with the server's parser: errors and
/// warnings with their lines, the canonical text and the `[LINBO]` values.
pub fn validation(text: &str) -> Value {
    match StartConf::parse(text) {
        Ok(p) => {
            let linbo: BTreeMap<String, String> = p
                .conf
                .linbo()
                .map(|s| {
                    s.entries()
                        .map(|e| (e.key.clone(), e.value.clone()))
                        .collect()
                })
                .unwrap_or_default();
            json!({
                "valid": true,
                "errors": [],
                "warnings": p.warnings.iter().map(|w| json!({ "line": w.line, "message": w.message })).collect::<Vec<_>>(),
                "rendered": p.conf.render(),
                "linbo": linbo,
                "partitions": p.conf.partitions().len(),
            })
        }
        Err(e) => json!({
            "valid": false,
            "errors": e.errors.iter().map(|w| json!({ "line": w.line, "message": w.message })).collect::<Vec<_>>(),
            "warnings": [],
        }),
    }
}

#[derive(Debug, Deserialize)]
struct ValidateReq {
    text: String,
}

async fn validate_startconf(State(st): State<AppState>, headers: HeaderMap, b: Bytes) -> ApiResult {
    require(&st, &headers, Scope::Read, false)?;
    let req: ValidateReq = body(&b)?;
    ok_json(validation(&req.text))
}

#[derive(Debug, Deserialize)]
struct GroupReq {
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    start_conf: Option<String>,
}

async fn put_group(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    b: Bytes,
) -> ApiResult {
    let actor = require(&st, &headers, Scope::Admin, true)?;
    names::group(&name).map_err(bad_name)?;
    let req: GroupReq = body(&b)?;
    let mut g = st
        .store
        .group(&name)
        .map_err(ApiError::store)?
        .unwrap_or(Group {
            name: name.clone(),
            ..Group::default()
        });
    if let Some(d) = req.description {
        g.description = d;
    }
    if let Some(text) = req.start_conf {
        let v = validation(&text);
        if v["valid"] != json!(true) {
            return Ok((
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(json!({
                    "error": { "code": "invalid_startconf", "message": "the start.conf has errors; nothing was saved" },
                    "errors": v["errors"],
                })),
            )
                .into_response());
        }
        g.start_conf = Some(text);
    }
    st.store.put_group(g, &actor.audit()).map_err(store_error)?;
    let g = st.store.group(&name).map_err(ApiError::store)?;
    ok_json(json!({ "saved": true, "start_conf": g.and_then(|g| g.start_conf) }))
}

async fn delete_group(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> ApiResult {
    let actor = require(&st, &headers, Scope::Admin, true)?;
    names::group(&name).map_err(bad_name)?;
    st.store
        .remove_group(&name, &actor.audit())
        .map_err(store_error)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ----- settings and tokens --------------------------------------------------

async fn get_settings(State(st): State<AppState>, headers: HeaderMap) -> ApiResult {
    require(&st, &headers, Scope::Read, false)?;
    let s = st.store.settings().map_err(ApiError::store)?;
    let e = st.store.enrolment().map_err(ApiError::store)?;
    ok_json(
        json!({ "settings": s, "enrolment_url": e.url, "enrolled": !e.url.is_empty(), "interfaces": interfaces() }),
    )
}

async fn put_settings(State(st): State<AppState>, headers: HeaderMap, b: Bytes) -> ApiResult {
    let actor = require(&st, &headers, Scope::Admin, true)?;
    let form = body::<SettingsForm>(&b)?;
    let mut s = form.validate()?;
    if form.windows_domain.is_none() {
        // Absent (older clients, the setup wizard): keep the stored one.
        s.windows_domain = st.store.settings().map_err(ApiError::store)?.windows_domain;
    }
    st.store
        .set_settings(s, &actor.audit())
        .map_err(store_error)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list_tokens(State(st): State<AppState>, headers: HeaderMap) -> ApiResult {
    require(&st, &headers, Scope::Admin, false)?;
    let t: Vec<Value> = st
        .store
        .tokens()
        .map_err(ApiError::store)?
        .into_iter()
        .map(|t| json!({ "name": t.name, "scope": t.scope, "created_ms": t.created_ms, "last_used_ms": t.last_used_ms }))
        .collect();
    ok_json(t)
}

#[derive(Debug, Deserialize)]
struct TokenReq {
    name: String,
    scope: Scope,
}

async fn create_token(State(st): State<AppState>, headers: HeaderMap, b: Bytes) -> ApiResult {
    let actor = require(&st, &headers, Scope::Admin, true)?;
    let req: TokenReq = body(&b)?;
    let store = st.store.clone();
    let a = actor.audit();
    let text = blocking(move || {
        store
            .create_token(&req.name, req.scope, &a)
            .map_err(store_error)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(json!({ "token": text }))).into_response())
}

async fn revoke_token(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> ApiResult {
    let actor = require(&st, &headers, Scope::Admin, true)?;
    bootbox_store::tokens::check_name(&name).map_err(bad_name)?;
    st.store
        .revoke_token(&name, &actor.audit())
        .map_err(store_error)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ----- events ----------------------------------------------------------------

#[derive(Debug, Deserialize)]
struct EventQuery {
    after: Option<u64>,
    limit: Option<usize>,
    kind: Option<String>,
}

async fn list_events(
    State(st): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<EventQuery>,
) -> ApiResult {
    require(&st, &headers, Scope::Read, false)?;
    let limit = q.limit.unwrap_or(200).min(1000);
    let mut ev = match q.after {
        Some(a) => st.store.events(a, limit).map_err(ApiError::store)?,
        None => st.store.recent_events(limit).map_err(ApiError::store)?,
    };
    if let Some(k) = q.kind.as_deref().filter(|k| !k.is_empty()) {
        ev.retain(|e| serde_json::to_value(e.kind).ok() == Some(json!(k)));
    }
    ok_json(ev)
}

async fn event_stream(State(st): State<AppState>, headers: HeaderMap) -> ApiResult {
    require(&st, &headers, Scope::Read, false)?;
    let start = st
        .store
        .recent_events(1)
        .map_err(ApiError::store)?
        .first()
        .map_or(0, |e| e.seq);
    // A browser's stream ends with its session (sign-out, sign-out everywhere).
    // Besides new events it carries `transfers` snapshots whenever they change.
    let session = auth::session_of(&st, &headers).map(|(id, _)| id);
    let init = (st, start, None::<String>, Vec::<SseEvent>::new());
    let stream =
        futures_util::stream::unfold(init, move |(st, mut after, mut last_t, mut queue)| {
            let session = session.clone();
            async move {
                loop {
                    if !queue.is_empty() {
                        let ev = queue.remove(0);
                        return Some((Ok::<_, Infallible>(ev), (st, after, last_t, queue)));
                    }
                    tokio::time::sleep(Duration::from_millis(700)).await;
                    if session.as_deref().is_some_and(|id| !st.auth.is_live(id)) {
                        return None;
                    }
                    let s = st.store.clone();
                    let got = tokio::task::spawn_blocking(move || s.events(after, 50))
                        .await
                        .ok()
                        .and_then(Result::ok)
                        .unwrap_or_default();
                    if let Some(last) = got.last() {
                        after = last.seq;
                        let data = serde_json::to_string(&got).unwrap_or_else(|_| "[]".into());
                        queue.push(SseEvent::default().event("events").data(data));
                    }
                    if let Some(p) = st.transfers.clone() {
                        let snap = tokio::task::spawn_blocking(move || p.transfers())
                            .await
                            .ok();
                        let text = snap.and_then(|t| serde_json::to_string(&t).ok());
                        if text.is_some() && text != last_t {
                            if let Some(d) = &text {
                                queue.push(SseEvent::default().event("transfers").data(d.clone()));
                            }
                            last_t = text;
                        }
                    }
                }
            }
        });
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}
