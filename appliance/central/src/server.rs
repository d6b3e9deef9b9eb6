//! The central's HTTP API (`bootbox central serve`), under `/central/v1`:
//!
//! | method | path | who | what |
//! |---|---|---|---|
//! | GET | `/central/v1/key` | anyone | `{central_key, fingerprint}` (checked by a box before it sends its token) |
//! | POST | `/central/v1/enrol` | a box with a token | `{token, public_key, box_version}` → `{box_id, school, central_key, fingerprint}` |
//! | GET | `/central/v1/releases` | signed box | every release's signed manifest, oldest first |
//! | GET | `/central/v1/releases/{id}/files/{name}` | signed box | a release file; `Range` supported |
//! | POST | `/central/v1/status` | signed box | `{release, state, detail, bytes}` |
//!
//! Errors are JSON `{"error": "<code>", "message": "…"}`. Signed requests
//! are checked by [`crate::auth`].

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};
use tower::ServiceExt;
use tower_http::services::ServeFile;

use crate::auth::{AuthError, ReplayGuard, SignedHeaders, H_BOX, H_NONCE, H_SIG, H_TIME};
use crate::db::{BoxRecord, BoxStatus, CentralDb};
use crate::keys::{fingerprint, parse_public, public_hex};
use crate::manifest::{check_name, SignedManifest};
use crate::now_ms;
use crate::publish::{read_manifest, MANIFEST_FILE};

/// Largest accepted request body.
const MAX_BODY: usize = 64 << 10;

/// What the API handlers share.
#[derive(Debug)]
pub struct Central {
    /// The database.
    pub db: CentralDb,
    /// The signing key (only its public half leaves the process).
    pub key: SigningKey,
    /// Where release folders are.
    pub releases: PathBuf,
    /// Nonces of recent box requests.
    pub guard: ReplayGuard,
    /// Cap on concurrent release downloads.
    pub downloads: DownloadSlots,
}

/// The central-side cap on concurrent release downloads: the central's
/// uplink is shared by every school, so beyond `max` running downloads a
/// box is told to come back later (503, `Retry-After`) and its next round
/// resumes where it stopped. This staggers a rollout instead of splitting
/// the uplink a hundred ways.
#[derive(Debug, Clone)]
pub struct DownloadSlots {
    slots: Arc<tokio::sync::Semaphore>,
    max: usize,
}

impl DownloadSlots {
    /// At most `max` (at least 1) downloads at a time.
    pub fn new(max: usize) -> Self {
        let max = max.max(1);
        Self {
            slots: Arc::new(tokio::sync::Semaphore::new(max)),
            max,
        }
    }

    /// A slot, held until the download's body is dropped; `None` when all
    /// are taken.
    pub fn try_take(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.slots.clone().try_acquire_owned().ok()
    }

    /// The cap.
    pub fn max(&self) -> usize {
        self.max
    }
}

impl Default for DownloadSlots {
    /// Eight downloads: enough to fill a 1 Gbit/s uplink with school links
    /// of 100+ Mbit/s.
    fn default() -> Self {
        Self::new(8)
    }
}

/// Request of `POST /central/v1/enrol`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnrolRequest {
    /// `bbe.<id>.<secret>`.
    pub token: String,
    /// The box's ed25519 public key, hex.
    pub public_key: String,
    /// The box's software version.
    pub box_version: String,
}

/// Answer of `POST /central/v1/enrol`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnrolResponse {
    /// The id the box uses from now on.
    pub box_id: String,
    /// Its school.
    pub school: String,
    /// The central's signing key, hex (the box pins it).
    pub central_key: String,
    /// SHA-256 fingerprint of that key.
    pub fingerprint: String,
}

/// Answer of `GET /central/v1/key`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyInfo {
    /// The central's signing key, hex.
    pub central_key: String,
    /// SHA-256 fingerprint of that key.
    pub fingerprint: String,
}

/// Answer of `GET /central/v1/releases`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReleaseList {
    /// Signed manifests, oldest first.
    pub releases: Vec<SignedManifest>,
    /// Names the set of releases this box's school sees; a box passes it
    /// back as `since` to wait for a change.
    #[serde(default)]
    pub tag: String,
    /// The set differs from `since` (always true without `since`).
    #[serde(default)]
    pub changed: bool,
}

/// Longest a `GET /central/v1/releases?wait=` is held open (below the
/// box's 30 s answer timeout).
pub const MAX_WAIT_SECS: u64 = 25;

/// Query of `GET /central/v1/releases`: `since=<tag>&wait=<secs>` holds
/// the request until the school's releases change or `wait` (at most
/// [`MAX_WAIT_SECS`]) passes — the box's prompt notification (long-poll),
/// box-initiated like every request.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ReleaseQuery {
    since: String,
    wait: u64,
}

/// Releases `school` may see, and the tag naming that set.
fn visible(db: &CentralDb, school: &str) -> crate::Result<(Vec<String>, String)> {
    let school = db.school(school)?.unwrap_or_default();
    let ids: Vec<String> = db
        .releases()?
        .into_iter()
        .filter(|r| r.reaches(&school))
        .map(|r| r.id)
        .collect();
    let tag = crate::sha256_hex(ids.join("\n").as_bytes());
    Ok((ids, tag))
}

/// Body of `POST /central/v1/status`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct StatusReport {
    /// Release id.
    pub release: String,
    /// `waiting`, `downloading`, `verified`, `active`, `rejected`, `failed`.
    pub state: String,
    /// Reason or detail.
    pub detail: String,
    /// Bytes downloaded in this attempt.
    pub bytes: u64,
}

/// States a box may report.
pub const STATES: &[&str] = &[
    "waiting",
    "downloading",
    "verified",
    "active",
    "rejected",
    "failed",
];

fn err(status: StatusCode, code: &str, message: impl std::fmt::Display) -> Response {
    (
        status,
        Json(serde_json::json!({"error": code, "message": message.to_string()})),
    )
        .into_response()
}

fn internal(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "central request failed");
    err(StatusCode::INTERNAL_SERVER_ERROR, "internal", e)
}

async fn blocking<R: Send + 'static>(
    f: impl FnOnce() -> crate::Result<R> + Send + 'static,
) -> Result<R, Response> {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(r)) => Ok(r),
        Ok(Err(e)) => Err(internal(e)),
        Err(e) => Err(internal(e)),
    }
}

/// The router (mount it on any listener).
pub fn router(c: Arc<Central>) -> Router {
    Router::new()
        .route("/central/v1/key", get(key))
        .route("/central/v1/enrol", post(enrol))
        .route("/central/v1/releases", get(releases))
        .route("/central/v1/releases/{id}/files/{name}", get(file))
        .route("/central/v1/status", post(status))
        .with_state(c)
}

async fn key(State(c): State<Arc<Central>>) -> Response {
    Json(KeyInfo {
        central_key: public_hex(&c.key.verifying_key()),
        fingerprint: fingerprint(&c.key.verifying_key()),
    })
    .into_response()
}

async fn enrol(State(c): State<Arc<Central>>, body: Bytes) -> Response {
    let Ok(req) = serde_json::from_slice::<EnrolRequest>(&body) else {
        return err(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "expected {token, public_key, box_version}",
        );
    };
    if parse_public(&req.public_key).is_err() {
        return err(
            StatusCode::BAD_REQUEST,
            "bad_key",
            "public_key is not an ed25519 key in hex",
        );
    }
    let db = c.db.clone();
    let r = req.clone();
    let out = match blocking(move || db.redeem_token(&r.token, &r.public_key, &r.box_version)).await
    {
        Ok(o) => o,
        Err(resp) => return resp,
    };
    match out {
        Ok(b) => {
            tracing::info!(box_id = %b.id, school = %b.school, "box enrolled");
            Json(EnrolResponse {
                box_id: b.id,
                school: b.school,
                central_key: public_hex(&c.key.verifying_key()),
                fingerprint: fingerprint(&c.key.verifying_key()),
            })
            .into_response()
        }
        Err(refused) => {
            tracing::warn!(reason = %refused, "enrolment refused");
            err(StatusCode::FORBIDDEN, "enrol_refused", refused)
        }
    }
}

fn headers_of(h: &HeaderMap) -> Result<SignedHeaders, AuthError> {
    let s = |n: &'static str| {
        h.get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .ok_or(AuthError::Missing(n))
    };
    Ok(SignedHeaders {
        box_id: s(H_BOX)?,
        time_ms: s(H_TIME)?.parse().map_err(|_| AuthError::Missing(H_TIME))?,
        nonce: s(H_NONCE)?,
        signature: s(H_SIG)?,
    })
}

/// Checks a signed box request; returns the box.
async fn authed(
    c: &Arc<Central>,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<BoxRecord, Response> {
    let refuse = |e: AuthError| {
        tracing::warn!(reason = %e, path = %uri.path(), "box request refused");
        err(StatusCode::UNAUTHORIZED, "box_auth", e)
    };
    let h = headers_of(headers).map_err(refuse)?;
    let db = c.db.clone();
    let id = h.box_id.clone();
    let rec = blocking(move || db.box_record(&id))
        .await?
        .ok_or_else(|| refuse(AuthError::UnknownBox))?;
    let key = parse_public(&rec.public_key).map_err(|_| refuse(AuthError::UnknownBox))?;
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    c.guard
        .verify(&key, &h, method.as_str(), path, body, now_ms())
        .map_err(refuse)?;
    let db = c.db.clone();
    let id = rec.id.clone();
    blocking(move || db.touch_box(&id)).await?;
    Ok(rec)
}

async fn releases(
    State(c): State<Arc<Central>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    axum::extract::Query(q): axum::extract::Query<ReleaseQuery>,
) -> Response {
    let rec = match authed(&c, &method, &uri, &headers, b"").await {
        Ok(rec) => rec,
        Err(r) => return r,
    };
    // Long-poll: publishing may happen in another process (the admin CLI),
    // so the set is re-read once a second; a redb read is cheap.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(q.wait.min(MAX_WAIT_SECS));
    let ids = loop {
        let (db, school) = (c.db.clone(), rec.school.clone());
        let (ids, tag) = match blocking(move || visible(&db, &school)).await {
            Ok(v) => v,
            Err(r) => return r,
        };
        if q.since.is_empty() || tag != q.since || tokio::time::Instant::now() >= deadline {
            break (ids, tag);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let (ids, tag) = ids;
    let changed = tag != q.since;
    let dir = c.releases.clone();
    let list = blocking(move || {
        let mut out = Vec::new();
        for id in ids {
            match read_manifest(&dir, &id) {
                Ok(m) => out.push(m),
                Err(e) => tracing::warn!(release = %id, error = %e, "release not served"),
            }
        }
        Ok(out)
    })
    .await;
    match list {
        Ok(releases) => Json(ReleaseList {
            releases,
            tag,
            changed,
        })
        .into_response(),
        Err(r) => r,
    }
}

async fn file(
    State(c): State<Arc<Central>>,
    Path((id, name)): Path<(String, String)>,
    req: Request,
) -> Response {
    let (parts, _) = req.into_parts();
    let rec = match authed(&c, &parts.method, &parts.uri, &parts.headers, b"").await {
        Ok(rec) => rec,
        Err(r) => return r,
    };
    if check_name("release", &id).is_err()
        || check_name("file", &name).is_err()
        || name == MANIFEST_FILE
    {
        return err(StatusCode::NOT_FOUND, "not_found", "no such release file");
    }
    // Files of a release not (yet) in this school's wave are not there.
    let db = c.db.clone();
    let rid = id.clone();
    let reaches = blocking(move || {
        let school = db.school(&rec.school)?.unwrap_or_default();
        Ok(db
            .releases()?
            .iter()
            .any(|r| r.id == rid && r.reaches(&school)))
    })
    .await;
    match reaches {
        Ok(true) => {}
        Ok(false) => return err(StatusCode::NOT_FOUND, "not_found", "no such release file"),
        Err(r) => return r,
    }
    let path = c.releases.join(&id).join(&name);
    if !path.is_file() {
        return err(StatusCode::NOT_FOUND, "not_found", "no such release file");
    }
    let Some(slot) = c.downloads.try_take() else {
        let mut r = err(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            format!(
                "{} downloads are running (the central's cap); try again later",
                c.downloads.max()
            ),
        );
        r.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from_static("60"),
        );
        return r;
    };
    match ServeFile::new(&path)
        .oneshot(Request::from_parts(parts, Body::empty()))
        .await
    {
        // The slot goes with the body: freed when the transfer ends or
        // the box hangs up.
        Ok(resp) => resp.map(|b| {
            use http_body_util::BodyExt;
            Body::new(b.map_frame(move |f| {
                let _held = &slot;
                f
            }))
        }),
        Err(e) => internal(e),
    }
}

async fn status(
    State(c): State<Arc<Central>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if body.len() > MAX_BODY {
        return err(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            "status report too large",
        );
    }
    let rec = match authed(&c, &method, &uri, &headers, &body).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    let Ok(rep) = serde_json::from_slice::<StatusReport>(&body) else {
        return err(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "expected {release, state, detail, bytes}",
        );
    };
    if !STATES.contains(&rep.state.as_str()) || check_name("release", &rep.release).is_err() {
        return err(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "unknown state or release",
        );
    }
    let level_bad = matches!(rep.state.as_str(), "rejected" | "failed");
    if level_bad {
        tracing::warn!(box_id = %rec.id, school = %rec.school, release = %rep.release, state = %rep.state, detail = %rep.detail, "box reports a problem");
    } else {
        tracing::info!(box_id = %rec.id, release = %rep.release, state = %rep.state, bytes = rep.bytes, "box status");
    }
    let db = c.db.clone();
    let s = BoxStatus {
        box_id: rec.id,
        release: rep.release,
        state: rep.state,
        detail: rep.detail.chars().take(1000).collect(),
        bytes: rep.bytes,
        time_ms: 0,
    };
    match blocking(move || db.put_status(s)).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(r) => r,
    }
}
