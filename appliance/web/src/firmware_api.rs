//! Appliance firmware over the API:
//!
//! * `GET /api/v1/firmware` (read): running slot and version, both slots
//!   and the boot order; `{"appliance": false}` when not running as the
//!   appliance firmware.
//! * `POST /api/v1/firmware` (admin; a session needs its CSRF token): the
//!   body is a signed update bundle. It is spooled to a temporary file,
//!   verified against the key baked into the firmware, written into the
//!   inactive slot (tried once at the next boot), and the box reboots two
//!   seconds after the answer. A bundle that does not verify changes
//!   nothing.

use std::io::Write;
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use bootbox_firmware::{bundle, keys, slots, system};
use bootbox_store::tokens::Scope;
use futures_util::StreamExt;
use serde_json::json;

use crate::auth::require;
use crate::error::{ApiError, ApiResult};
use crate::AppState;

/// Largest bundle accepted (two payloads at their limit plus the header).
const MAX_BUNDLE: u64 = 2 * bundle::MAX_FILE + (1 << 20);

/// The firmware routes.
pub fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/firmware", get(status).post(install))
}

fn not_appliance() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "not_appliance",
        "not running as the appliance firmware (no bootbox.slot= on the kernel command line)",
    )
}

fn fw_error(e: bootbox_firmware::Error) -> ApiError {
    match e {
        bootbox_firmware::Error::Bundle(_) | bootbox_firmware::Error::Key(_) => {
            ApiError::new(StatusCode::BAD_REQUEST, "bad_bundle", e.to_string())
        }
        other => ApiError::internal(other),
    }
}

async fn status(State(st): State<AppState>, headers: HeaderMap) -> ApiResult {
    require(&st, &headers, Scope::Read, false)?;
    let Some(slot) = system::running_slot() else {
        return Ok(Json(json!({ "appliance": false })).into_response());
    };
    let layout = system::layout();
    let slots = tokio::task::spawn_blocking(move || slots::status(&layout))
        .await
        .map_err(ApiError::internal)?
        .map_err(fw_error)?;
    Ok(Json(json!({
        "appliance": true,
        "running": slot.name(),
        "version": system::running_version(),
        "slots": slots,
    }))
    .into_response())
}

async fn install(State(st): State<AppState>, headers: HeaderMap, body: Body) -> ApiResult {
    let actor = require(&st, &headers, Scope::Admin, true)?;
    let running = system::running_slot().ok_or_else(not_appliance)?;
    let mut spool = tempfile_in_tmp()?;
    let mut size = 0u64;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "truncated",
                format!("upload interrupted: {e}; nothing was changed"),
            )
        })?;
        size += chunk.len() as u64;
        if size > MAX_BUNDLE {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("a firmware bundle is at most {MAX_BUNDLE} bytes"),
            ));
        }
        tokio::task::block_in_place(|| spool.write_all(&chunk)).map_err(ApiError::internal)?;
    }
    let done = tokio::task::spawn_blocking(move || -> bootbox_firmware::Result<_> {
        let key = keys::read_public(&system::public_key_path())?;
        let mut file = spool
            .reopen()
            .map_err(|source| bootbox_firmware::Error::Io {
                what: "cannot reopen the uploaded bundle".into(),
                source,
            })?;
        let verified = bundle::open(std::io::BufReader::new(&mut file), &key)?;
        let layout = system::layout();
        slots::check_layout(&layout)?;
        slots::install(&layout, running, verified, &mut |m| {
            tracing::info!("firmware: {m}")
        })
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(fw_error)?;
    let msg = format!(
        "firmware {} installed into slot {}; rebooting to try it",
        done.version, done.slot
    );
    st.store
        .audit(&actor.audit(), "firmware.install", msg.clone())
        .map_err(ApiError::store)?;
    tracing::info!("{msg}");
    tokio::spawn(async {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let res =
            tokio::task::spawn_blocking(|| std::process::Command::new("reboot").status()).await;
        match res {
            Ok(Ok(s)) if s.success() => {}
            Ok(Ok(s)) => tracing::error!("reboot failed ({s})"),
            Ok(Err(e)) => tracing::error!(error = %e, "cannot run reboot"),
            Err(e) => tracing::error!(error = %e, "reboot task failed"),
        }
    });
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "installed": done.version, "slot": done.slot.name(), "rebooting": true })),
    )
        .into_response())
}

/// A named temporary file in the system temp directory (RAM on the
/// appliance), removed when dropped.
fn tempfile_in_tmp() -> ApiResult<Spool> {
    let dir = std::env::temp_dir();
    let name = format!(
        "bootbox-firmware-{}-{}.bundle",
        std::process::id(),
        crate::auth::random_hex(8)?
    );
    let path = dir.join(name);
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(ApiError::internal)?;
    Ok(Spool { path, file })
}

struct Spool {
    path: std::path::PathBuf,
    file: std::fs::File,
}

impl Spool {
    fn write_all(&mut self, b: &[u8]) -> std::io::Result<()> {
        self.file.write_all(b)
    }

    fn reopen(&self) -> std::io::Result<std::fs::File> {
        std::fs::File::open(&self.path)
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::to_bytes;
    use axum::http::Request;
    use tower::ServiceExt;

    fn app() -> (tempfile::TempDir, Router, String) {
        let dir = tempfile::tempdir().unwrap();
        let store = std::sync::Arc::new(bootbox_store::Store::open(dir.path().join("db")).unwrap());
        let token = store.create_token("fw", Scope::Admin, "test").unwrap();
        let router = routes().with_state(AppState::new(store));
        (dir, router, token)
    }

    #[tokio::test]
    async fn status_off_the_appliance_and_auth() {
        let (_d, app, token) = app();
        let res = app
            .clone()
            .oneshot(
                Request::get("/api/v1/firmware")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        let res = app
            .oneshot(
                Request::get("/api/v1/firmware")
                    .header("authorization", format!("Bearer {token}"))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let body = to_bytes(res.into_body(), 1 << 16).await.unwrap();
        // The test machine is not booted by the appliance's GRUB.
        assert_eq!(&body[..], br#"{"appliance":false}"#);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn install_refuses_off_the_appliance() {
        let (_d, app, token) = app();
        let res = app
            .oneshot(
                Request::post("/api/v1/firmware")
                    .header("authorization", format!("Bearer {token}"))
                    .body(Body::from("BBFWBND1 not really"))
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CONFLICT);
    }
}
