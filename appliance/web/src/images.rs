//! Image catalogue API: list, versions, streamed upload, restore, delete,
//! retention. Mutating calls need an API token (`Authorization: Bearer
//! bbx.<name>.<secret>`) with the `images` or `admin` scope, or a browser
//! session with its CSRF token (`X-CSRF-Token`); every change is audited
//! with the token's or account's name and the client address.
//!
//! | route | what |
//! |---|---|
//! | `GET /api/v1/images` | catalogue |
//! | `GET /api/v1/images/{name}/versions` | current files and backups |
//! | `PUT /api/v1/images/{name}/files/{file}` | upload `<name>.qcow2`/`.qdiff`; `X-Image-Sha256`, `?comment=` optional |
//! | `POST /api/v1/images/{name}/backups/{stamp}/restore` | make a backup current |
//! | `DELETE /api/v1/images/{name}/backups/{stamp}` | delete one backup |
//! | `POST /api/v1/images/{name}/retain?keep=N` | delete all but the newest N backups |
//! | `DELETE /api/v1/images/{name}` | delete an image no group uses |

use std::net::Ipv4Addr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use bootbox_images::{ImageError, ImageTree, UploadLimits};
use bootbox_store::tokens::Scope;
use futures_util::StreamExt;
use serde::Deserialize;

use crate::error::{ApiError, ApiResult};
use crate::AppState;

/// Called after every change of the image tree (torrent files, seeding).
pub trait ImageHooks: Send + Sync + 'static {
    /// `base` changed (new version, restore, deletion).
    fn changed(&self, base: &str);
}

/// What the image API needs besides the store.
#[derive(Clone)]
pub struct ImagesCtx {
    /// The tree under `<data>/linbo`.
    pub tree: Arc<ImageTree>,
    /// Upload limits.
    pub limits: UploadLimits,
    /// The box's address, for multicast.list.
    pub server_ip: Option<Ipv4Addr>,
    /// First multicast port (PORTBASE), for multicast.list.
    pub portbase: u16,
    /// Extra work after a change.
    pub hooks: Option<Arc<dyn ImageHooks>>,
}

/// The image API routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/images", get(list))
        .route("/api/v1/images/{name}", delete(delete_image))
        .route("/api/v1/images/{name}/versions", get(versions))
        .route("/api/v1/images/{name}/files/{file}", put(upload))
        .route(
            "/api/v1/images/{name}/backups/{stamp}/restore",
            post(restore),
        )
        .route(
            "/api/v1/images/{name}/backups/{stamp}",
            delete(delete_backup),
        )
        .route("/api/v1/images/{name}/retain", post(retain))
}

/// Checks a bearer token (scope `needed`) or a browser session with its
/// CSRF token; returns the actor (`token:<name>@<addr>` or
/// `web:<user>@<addr>`) for the audit log. Every caller is a mutating call.
pub fn authorize(st: &AppState, headers: &HeaderMap, needed: Scope) -> ApiResult<String> {
    crate::auth::require(st, headers, needed, true).map(|a| a.audit())
}

fn ctx(st: &AppState) -> ApiResult<ImagesCtx> {
    st.images.clone().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "images_off",
            "image management is not enabled",
        )
    })
}

/// Maps image errors to HTTP answers with stable codes.
fn image_error(e: ImageError) -> ApiError {
    let (status, code) = match &e {
        ImageError::BadName(_) => (StatusCode::BAD_REQUEST, "bad_name"),
        ImageError::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
        ImageError::NoSpace { .. } => (StatusCode::INSUFFICIENT_STORAGE, "no_space"),
        ImageError::Truncated { .. } => (StatusCode::BAD_REQUEST, "truncated"),
        ImageError::ChecksumMismatch { .. } => {
            (StatusCode::UNPROCESSABLE_ENTITY, "checksum_mismatch")
        }
        ImageError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
        ImageError::InUse { .. } => (StatusCode::CONFLICT, "in_use"),
        ImageError::Busy(_) => (StatusCode::CONFLICT, "busy"),
        ImageError::Io { .. } if e.is_disk_full() => (StatusCode::INSUFFICIENT_STORAGE, "no_space"),
        ImageError::Io { .. } => (StatusCode::INTERNAL_SERVER_ERROR, "io"),
    };
    ApiError::new(status, code, e.to_string())
}

async fn list(State(st): State<AppState>) -> ApiResult {
    Ok(Json(st.store.images().map_err(ApiError::store)?).into_response())
}

async fn versions(State(st): State<AppState>, Path(name): Path<String>) -> ApiResult {
    let images = st.store.images().map_err(ApiError::store)?;
    let img = images.into_iter().find(|i| i.name == name).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("image {name} does not exist"),
        )
    })?;
    Ok(Json(img.versions).into_response())
}

/// Re-reads `base` from disk into the catalogue, rewrites multicast.list
/// and runs the hooks; one audit entry describes the action.
fn after_change(
    st: &AppState,
    c: &ImagesCtx,
    base: &str,
    actor: &str,
    action: &str,
    message: String,
) -> ApiResult<()> {
    catalogue_changed(&st.store, c, base, actor, action, message).map_err(ApiError::store)
}

/// What every change of the image tree is followed by, whoever made it
/// (the API, LINBO's rsync upload): the catalogue entry of `base` is
/// re-read from disk, multicast.list rewritten, the hooks (torrents) run
/// and the action audited.
pub fn catalogue_changed(
    store: &bootbox_store::Store,
    c: &ImagesCtx,
    base: &str,
    actor: &str,
    action: &str,
    message: String,
) -> Result<(), bootbox_store::StoreError> {
    match c.tree.scan_image(base) {
        Some(img) => store.put_image(img, actor)?,
        None => store.remove_image(base, actor)?,
    }
    if let Some(ip) = c.server_ip {
        if let Err(e) = c.tree.write_multicast_list(ip, c.portbase) {
            tracing::warn!(error = %e, "cannot rewrite multicast.list");
        }
    }
    if let Some(h) = &c.hooks {
        h.changed(base);
    }
    let _ = store.audit(actor, action, message);
    Ok(())
}

#[derive(Debug, Deserialize)]
struct UploadQuery {
    comment: Option<String>,
}

/// Runs blocking image work off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ImageError> + Send + 'static,
) -> ApiResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(ApiError::internal)?
        .map_err(image_error)
}

async fn upload(
    State(st): State<AppState>,
    Path((name, file)): Path<(String, String)>,
    Query(q): Query<UploadQuery>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    // An images token or session, or a LINBO client's one-time credential.
    let actor = crate::remote_api::authorize_upload(&st, &headers, &name)?;
    let c = ctx(&st)?;
    let target = bootbox_images::check_image_file(&file).map_err(image_error)?;
    if target.base != name {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_name",
            format!("{file} does not belong to image {name}"),
        ));
    }
    let declared_size = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let declared_sha = headers
        .get("x-image-sha256")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let (tree, limits) = (c.tree.clone(), c.limits);
    let mut staged = blocking(move || tree.begin_upload(&file, declared_size, limits)).await?;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        // A client that goes away drops `staged`, which removes the file.
        let chunk = chunk.map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "truncated",
                format!("upload interrupted: {e}; nothing was changed"),
            )
        })?;
        tokio::task::block_in_place(|| staged.write(&chunk)).map_err(image_error)?;
    }
    let comment = q.comment.unwrap_or_default();
    let tree = c.tree.clone();
    let p = blocking(move || {
        let done = staged.finish(declared_sha.as_deref())?;
        tree.promote(done, &comment, None, &bootbox_images::timestamp_now())
    })
    .await?;
    let kept = p
        .backup
        .as_deref()
        .map(|b| format!("; previous version kept in backups/{b}"))
        .unwrap_or_default();
    let msg = format!(
        "image {} uploaded ({} bytes, sha256 {}){kept}",
        p.file, p.size, p.sha256
    );
    after_change(&st, &c, &name, &actor, "image.upload", msg)?;
    let body = serde_json::json!({
        "file": p.file, "size": p.size, "sha256": p.sha256, "timestamp": p.timestamp, "backup": p.backup
    });
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// What can be done with one backup.
#[derive(Clone, Copy)]
enum BackupAction {
    Restore,
    Delete,
}

/// Restores or deletes backup `stamp` of image `name`, then updates the
/// catalogue and the audit log.
async fn on_backup(
    st: AppState,
    name: String,
    stamp: String,
    headers: HeaderMap,
    action: BackupAction,
) -> ApiResult {
    let actor = authorize(&st, &headers, Scope::Images)?;
    let c = ctx(&st)?;
    let (tree, n, s) = (c.tree.clone(), name.clone(), stamp.clone());
    let (audit, message) = match action {
        BackupAction::Restore => {
            blocking(move || tree.restore(&n, &s)).await?;
            (
                "image.restore",
                format!("image {name}: backup {stamp} restored as current"),
            )
        }
        BackupAction::Delete => {
            blocking(move || tree.delete_backup(&n, &s)).await?;
            (
                "image.backup.delete",
                format!("image {name}: backup {stamp} deleted"),
            )
        }
    };
    after_change(&st, &c, &name, &actor, audit, message)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn restore(
    State(st): State<AppState>,
    Path((name, stamp)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult {
    on_backup(st, name, stamp, headers, BackupAction::Restore).await
}

async fn delete_backup(
    State(st): State<AppState>,
    Path((name, stamp)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult {
    on_backup(st, name, stamp, headers, BackupAction::Delete).await
}

#[derive(Debug, Deserialize)]
struct RetainQuery {
    keep: usize,
}

async fn retain(
    State(st): State<AppState>,
    Path(name): Path<String>,
    query: Result<Query<RetainQuery>, QueryRejection>,
    headers: HeaderMap,
) -> ApiResult {
    // Who asks comes first: a stranger learns nothing about the parameters.
    let actor = authorize(&st, &headers, Scope::Images)?;
    let Query(q) = query.map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("retain needs ?keep=N (backups to keep): {e}"),
        )
    })?;
    let c = ctx(&st)?;
    let (tree, n, keep) = (c.tree.clone(), name.clone(), q.keep);
    let removed = blocking(move || tree.retain(&n, keep)).await?;
    let msg = format!(
        "image {name}: kept {keep} newest backups, deleted {}",
        removed.join(", ")
    );
    after_change(&st, &c, &name, &actor, "image.retain", msg)?;
    Ok(Json(serde_json::json!({ "deleted": removed })).into_response())
}

async fn delete_image(
    State(st): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> ApiResult {
    let actor = authorize(&st, &headers, Scope::Images)?;
    let c = ctx(&st)?;
    let groups = st.store.groups().map_err(ApiError::store)?;
    let (tree, n) = (c.tree.clone(), name.clone());
    blocking(move || tree.delete_image(&n, &groups)).await?;
    after_change(
        &st,
        &c,
        &name,
        &actor,
        "image.delete",
        format!("image {name} deleted with all versions"),
    )?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
