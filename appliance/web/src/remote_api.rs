//! REST API of remote control under `/api/v1/remote`: command validation,
//! jobs (direct over SSH or on-boot, with Wake-on-LAN), the pending
//! on-boot files, and schedules with their history.
//!
//! | method | path | what |
//! |---|---|---|
//! | POST | `/api/v1/remote/validate` | check a command list for a target (nothing runs) |
//! | GET/POST | `/api/v1/remote/jobs` | list jobs / start one (202) |
//! | GET | `/api/v1/remote/jobs/{id}` | one job's per-host state |
//! | GET | `/api/v1/remote/onboot` | pending `linbocmd/<host>.cmd` files |
//! | DELETE | `/api/v1/remote/onboot/{host}` | delete one |
//! | POST | `/api/v1/remote/onboot/delete` | delete several (`{"hosts": [...]}` or `{"all": true}`) |
//! | GET/POST | `/api/v1/remote/schedules` | list / create |
//! | GET/PUT/DELETE | `/api/v1/remote/schedules/{name}` | read / replace / delete |
//! | PUT | `/api/v1/remote/schedules/{name}/enabled` | `{"enabled": bool}` |
//! | GET | `/api/v1/remote/schedules/{name}/runs` | history |
//! | GET/PUT | `/api/v1/remote/mail` | SMTP settings for failure mails (the password is write-only) |
//! | POST | `/api/v1/remote/mail/test` | send a test mail |
//!
//! Auth as in [`crate::api`]: reads need the `read` scope, changes a
//! session plus CSRF token or an `admin` token; every change is audited.
//! Jobs run inside the service ([`bootbox_remote::Service`]) and publish
//! their progress as `remote.job.*` events, which `/api/v1/events/stream`
//! carries to the UI.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use bootbox_remote::{RemoteError, Request, Service};
use bootbox_store::jobs::{Schedule, ScheduleTarget, WakeSettings};
use bootbox_store::secrets::{MailSecurity, MailSettings};
use bootbox_store::tokens::Scope;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::json;

use crate::api::store_error;
use crate::auth::require;
use crate::error::{ApiError, ApiResult};
use crate::AppState;

/// The routes of remote control.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/remote/validate", post(validate))
        .route("/api/v1/remote/jobs", get(list_jobs).post(start_job))
        .route("/api/v1/remote/jobs/{id}", get(get_job))
        .route("/api/v1/remote/onboot", get(list_onboot))
        .route(
            "/api/v1/remote/onboot/{host}",
            axum::routing::delete(delete_onboot),
        )
        .route("/api/v1/remote/onboot/delete", post(delete_onboot_many))
        .route(
            "/api/v1/remote/schedules",
            get(list_schedules).post(create_schedule),
        )
        .route(
            "/api/v1/remote/schedules/{name}",
            get(get_schedule)
                .put(replace_schedule)
                .delete(delete_schedule),
        )
        .route(
            "/api/v1/remote/schedules/{name}/enabled",
            put(enable_schedule),
        )
        .route("/api/v1/remote/schedules/{name}/runs", get(schedule_runs))
        .route("/api/v1/remote/mail", get(get_mail).put(put_mail))
        .route("/api/v1/remote/mail/test", post(test_mail))
}

fn body<T: DeserializeOwned>(b: &Bytes) -> ApiResult<T> {
    serde_json::from_slice(b).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("the request body is not valid: {e}"),
        )
    })
}

fn ok_json(v: impl serde::Serialize) -> ApiResult {
    Ok(Json(v).into_response())
}

/// Maps remote-control errors to API errors with stable codes.
pub fn remote_error(e: RemoteError) -> ApiError {
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    match e {
        RemoteError::Store(s) => store_error(s),
        RemoteError::Invalid(m) => ApiError::new(unprocessable, "invalid", m),
        RemoteError::Schedule(m) => ApiError::new(unprocessable, "invalid_schedule", m),
        e @ RemoteError::Webhook { .. } => {
            ApiError::new(unprocessable, "invalid_webhook", e.to_string())
        }
        e @ RemoteError::Interface { .. } => {
            ApiError::new(unprocessable, "interface", e.to_string())
        }
        e => ApiError::internal(e),
    }
}

fn service(st: &AppState) -> ApiResult<&Service> {
    st.remote.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "remote_off",
            "remote control is not running in this service",
        )
    })
}

/// How commands reach the hosts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Mode {
    /// Over SSH now (`linbo-remote -c`).
    #[default]
    Direct,
    /// In the on-boot file (`-p`).
    Onboot,
}

/// A job as the API takes it (also the body of `validate`).
#[derive(Debug, Clone, Deserialize)]
struct JobReq {
    /// `{"kind": "room", "names": "r101"}`, `{"kind": "group", …}`,
    /// `{"kind": "hosts", "names": ["pc01", "10.0.0.12"]}`.
    target: ScheduleTarget,
    /// Comma-separated LINBO commands.
    #[serde(default)]
    commands: String,
    #[serde(default)]
    mode: Mode,
    #[serde(default)]
    noauto: bool,
    #[serde(default)]
    disablegui: bool,
    /// Wake first: `{"wait_s", "gap_ms", "batch", "subnet_broadcast"}`.
    #[serde(default)]
    wake: Option<WakeSettings>,
}

impl JobReq {
    fn request(&self) -> Request {
        let s = Schedule {
            target: self.target.clone(),
            commands: self.commands.clone(),
            onboot: self.mode == Mode::Onboot,
            noauto: self.noauto,
            disablegui: self.disablegui,
            wake: self.wake.clone(),
            ..Schedule::default()
        };
        bootbox_remote::request_for(&s)
    }
}

fn skipped_json(skipped: &[(String, String)]) -> serde_json::Value {
    json!(skipped
        .iter()
        .map(|(h, why)| json!({ "host": h, "reason": why }))
        .collect::<Vec<_>>())
}

async fn validate(State(st): State<AppState>, headers: HeaderMap, b: Bytes) -> ApiResult {
    require(&st, &headers, Scope::Read, false)?;
    let req: JobReq = body(&b)?;
    let svc = service(&st)?;
    let p = svc.remote.prepare(&req.request()).map_err(remote_error)?;
    ok_json(json!({
        "ok": true,
        "title": p.spec.title,
        "hosts": p.spec.hosts.iter().map(|h| h.hostname.clone()).collect::<Vec<_>>(),
        "skipped": skipped_json(&p.skipped),
    }))
}

async fn start_job(State(st): State<AppState>, headers: HeaderMap, b: Bytes) -> ApiResult {
    let actor = require(&st, &headers, Scope::Admin, true)?;
    let req: JobReq = body(&b)?;
    let svc = service(&st)?;
    let p = svc.remote.prepare(&req.request()).map_err(remote_error)?;
    let hosts: Vec<String> = p.spec.hosts.iter().map(|h| h.hostname.clone()).collect();
    let title = p.spec.title.clone();
    let (job, _task) = svc.start(p.spec).map_err(remote_error)?;
    let id = job.id();
    let _ = st.store.audit(
        &actor.audit(),
        "remote.job.start",
        format!("job {id} started: {title}"),
    );
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({
            "id": id,
            "title": title,
            "hosts": hosts,
            "skipped": skipped_json(&p.skipped),
        })),
    )
        .into_response())
}

async fn list_jobs(State(st): State<AppState>, headers: HeaderMap) -> ApiResult {
    require(&st, &headers, Scope::Read, false)?;
    ok_json(service(&st)?.jobs.list())
}

async fn get_job(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult {
    require(&st, &headers, Scope::Read, false)?;
    let not_found = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("job {id} does not exist (jobs are kept until the service restarts)"),
        )
    };
    let n: u64 = id.parse().map_err(|_| not_found())?;
    let job = service(&st)?.jobs.get(n).ok_or_else(not_found)?;
    ok_json(job.snapshot())
}

// ----- on-boot files -----------------------------------------------------------

async fn list_onboot(State(st): State<AppState>, headers: HeaderMap) -> ApiResult {
    require(&st, &headers, Scope::Read, false)?;
    let list = service(&st)?.remote.onboot.list().map_err(remote_error)?;
    ok_json(list)
}

async fn delete_onboot(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(host): Path<String>,
) -> ApiResult {
    let actor = require(&st, &headers, Scope::Admin, true)?;
    let svc = service(&st)?;
    let removed = svc.remote.onboot.remove(&host).map_err(remote_error)?;
    if !removed {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no on-boot commands are pending for {host}"),
        ));
    }
    let _ = st.store.audit(
        &actor.audit(),
        "remote.onboot.delete",
        format!("on-boot commands of {host} deleted"),
    );
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Debug, Deserialize)]
struct DeleteMany {
    #[serde(default)]
    hosts: Vec<String>,
    #[serde(default)]
    all: bool,
}

async fn delete_onboot_many(State(st): State<AppState>, headers: HeaderMap, b: Bytes) -> ApiResult {
    let actor = require(&st, &headers, Scope::Admin, true)?;
    let req: DeleteMany = body(&b)?;
    let svc = service(&st)?;
    let hosts: Vec<String> = if req.all {
        let list = svc.remote.onboot.list().map_err(remote_error)?;
        list.into_iter().map(|e| e.host).collect()
    } else {
        req.hosts
    };
    if hosts.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "give the hosts to delete (\"hosts\": [...]) or \"all\": true",
        ));
    }
    let removed = svc
        .remote
        .onboot
        .remove_many(&hosts)
        .map_err(remote_error)?;
    let _ = st.store.audit(
        &actor.audit(),
        "remote.onboot.delete",
        format!(
            "on-boot commands deleted for {} host(s): {}",
            removed.len(),
            removed.join(",")
        ),
    );
    ok_json(json!({ "removed": removed }))
}

// ----- schedules ---------------------------------------------------------------

fn next_run(s: &Schedule) -> Option<u64> {
    if !s.enabled {
        return None;
    }
    let (cron, tz) = bootbox_remote::schedule::parse(&s.cron, &s.timezone).ok()?;
    let after = bootbox_store::now_ms().max(s.last_fired_ms.unwrap_or(0));
    bootbox_remote::schedule::next_after(&cron, &tz, after)
        .ok()
        .flatten()
}

fn schedule_json(s: &Schedule) -> serde_json::Value {
    let mut v = serde_json::to_value(s).unwrap_or_default();
    v["next_ms"] = json!(next_run(s));
    v
}

/// Checks a schedule as the CLI does: name, cron and zone, webhook URL, and
/// that its job would be accepted now (target and commands).
fn check_schedule(svc: &Service, s: &mut Schedule) -> ApiResult<()> {
    s.last_fired_ms = None;
    s.created_ms = 0;
    bootbox_store::jobs::check_name(&s.name)
        .map_err(|m| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", m))?;
    bootbox_remote::schedule::check(s).map_err(remote_error)?;
    if let Some(url) = s.webhook.as_deref().filter(|u| !u.trim().is_empty()) {
        bootbox_remote::webhook::parse_url(url).map_err(remote_error)?;
    } else {
        s.webhook = None;
    }
    svc.remote
        .prepare(&bootbox_remote::request_for(s))
        .map_err(remote_error)?;
    Ok(())
}

async fn list_schedules(State(st): State<AppState>, headers: HeaderMap) -> ApiResult {
    require(&st, &headers, Scope::Read, false)?;
    let list = st.store.schedules().map_err(ApiError::store)?;
    ok_json(list.iter().map(schedule_json).collect::<Vec<_>>())
}

async fn create_schedule(State(st): State<AppState>, headers: HeaderMap, b: Bytes) -> ApiResult {
    let actor = require(&st, &headers, Scope::Admin, true)?;
    let mut s: Schedule = body(&b)?;
    let svc = service(&st)?;
    check_schedule(svc, &mut s)?;
    if st
        .store
        .schedule(&s.name)
        .map_err(ApiError::store)?
        .is_some()
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            format!("schedule {} exists; change it with PUT", s.name),
        ));
    }
    let name = s.name.clone();
    st.store
        .put_schedule(s, &actor.audit())
        .map_err(store_error)?;
    let saved = st.store.schedule(&name).map_err(ApiError::store)?;
    Ok((StatusCode::CREATED, Json(saved.as_ref().map(schedule_json))).into_response())
}

fn no_schedule(name: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("schedule {name} does not exist"),
    )
}

async fn get_schedule(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> ApiResult {
    require(&st, &headers, Scope::Read, false)?;
    let s = st
        .store
        .schedule(&name)
        .map_err(ApiError::store)?
        .ok_or_else(|| no_schedule(&name))?;
    ok_json(schedule_json(&s))
}

async fn replace_schedule(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    b: Bytes,
) -> ApiResult {
    let actor = require(&st, &headers, Scope::Admin, true)?;
    let mut s: Schedule = body(&b)?;
    s.name = name.clone();
    let svc = service(&st)?;
    check_schedule(svc, &mut s)?;
    st.store
        .put_schedule(s, &actor.audit())
        .map_err(store_error)?;
    let saved = st.store.schedule(&name).map_err(ApiError::store)?;
    ok_json(saved.as_ref().map(schedule_json))
}

async fn delete_schedule(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> ApiResult {
    let actor = require(&st, &headers, Scope::Admin, true)?;
    st.store
        .remove_schedule(&name, &actor.audit())
        .map_err(store_error)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Debug, Deserialize)]
struct EnabledReq {
    enabled: bool,
}

async fn enable_schedule(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    b: Bytes,
) -> ApiResult {
    let actor = require(&st, &headers, Scope::Admin, true)?;
    let req: EnabledReq = body(&b)?;
    st.store
        .set_schedule_enabled(&name, req.enabled, &actor.audit())
        .map_err(store_error)?;
    let s = st
        .store
        .schedule(&name)
        .map_err(ApiError::store)?
        .ok_or_else(|| no_schedule(&name))?;
    ok_json(schedule_json(&s))
}

#[derive(Debug, Deserialize)]
struct RunsQuery {
    limit: Option<usize>,
}

async fn schedule_runs(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Query(q): Query<RunsQuery>,
) -> ApiResult {
    require(&st, &headers, Scope::Read, false)?;
    if st.store.schedule(&name).map_err(ApiError::store)?.is_none() {
        return Err(no_schedule(&name));
    }
    let runs = st
        .store
        .schedule_runs(Some(&name), q.limit.unwrap_or(20).clamp(1, 500))
        .map_err(ApiError::store)?;
    ok_json(runs)
}

// ----- failure mails -------------------------------------------------------------

fn mail_json(m: &MailSettings) -> serde_json::Value {
    let mut v = serde_json::to_value(m).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.remove("password");
    }
    v["password_set"] = json!(m.password.as_deref().is_some_and(|p| !p.is_empty()));
    v
}

async fn get_mail(State(st): State<AppState>, headers: HeaderMap) -> ApiResult {
    require(&st, &headers, Scope::Admin, false)?;
    ok_json(mail_json(
        &st.store.mail_settings().map_err(ApiError::store)?,
    ))
}

/// The body of `PUT /api/v1/remote/mail`: the settings; `password` absent
/// keeps the stored one, `""` removes it.
#[derive(Debug, Deserialize)]
struct MailReq {
    #[serde(flatten)]
    settings: MailSettings,
}

async fn put_mail(State(st): State<AppState>, headers: HeaderMap, b: Bytes) -> ApiResult {
    let actor = require(&st, &headers, Scope::Admin, true)?;
    let req: MailReq = body(&b)?;
    let mut m = req.settings;
    let old = st.store.mail_settings().map_err(ApiError::store)?;
    m.password = match m.password.as_deref() {
        None => old.password,
        Some("") => None,
        Some(p) => Some(p.to_string()),
    };
    m.username = m.username.filter(|u| !u.trim().is_empty());
    if m.port == 0 {
        m.port = match m.security {
            MailSecurity::Starttls => 587,
            MailSecurity::None => 25,
        };
    }
    st.store
        .set_mail_settings(m, &actor.audit())
        .map_err(store_error)?;
    ok_json(mail_json(
        &st.store.mail_settings().map_err(ApiError::store)?,
    ))
}

async fn test_mail(State(st): State<AppState>, headers: HeaderMap) -> ApiResult {
    let actor = require(&st, &headers, Scope::Admin, true)?;
    let m = st.store.mail_settings().map_err(ApiError::store)?;
    if !m.enabled {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "mail_off",
            "failure mails are not enabled",
        ));
    }
    let r = bootbox_remote::mail::send(
        &m,
        "[bootbox] test mail",
        "This is a test of Bootbox's failure mails.\n",
        std::time::Duration::from_secs(15),
    )
    .await;
    let _ = st.store.audit(
        &actor.audit(),
        "mail.test",
        match &r {
            Ok(()) => format!("test mail sent to {}", m.to.join(",")),
            Err(e) => format!("test mail failed: {e}"),
        },
    );
    r.map_err(|e| ApiError::new(StatusCode::BAD_GATEWAY, "mail_failed", e.to_string()))?;
    ok_json(json!({ "sent": true }))
}

// ----- one-time upload credentials ------------------------------------------------

/// Authorises an image upload: a LINBO client's one-time credential
/// (`Authorization: Bearer bbu.…`, see `bootbox_remote::upload`) — spent
/// here, bound to its host (which must upload from its fixed address, if it
/// has one) and image — or else an `images` token / session with CSRF.
/// Returns the audit actor.
pub fn authorize_upload(st: &AppState, headers: &HeaderMap, image: &str) -> ApiResult<String> {
    let bearer = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| t.starts_with("bbu."));
    let Some(text) = bearer else {
        return crate::images::authorize(st, headers, Scope::Images);
    };
    let peer = crate::auth::peer(headers);
    let peer_ip: Option<std::net::Ipv4Addr> = peer.parse().ok();
    let hosts = st.store.hosts().map_err(ApiError::store)?;
    let from_host = |name: &str| {
        hosts
            .iter()
            .find(|h| h.hostname == name)
            .is_some_and(|h| h.ip.addr().is_none_or(|ip| Some(ip) == peer_ip))
    };
    match st
        .store
        .redeem_upload_credential(text, image, from_host)
        .map_err(ApiError::store)?
    {
        Ok(c) => Ok(format!("host:{}@{peer}", c.host)),
        Err(e) => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "upload_credential",
            e.to_string(),
        )),
    }
}
