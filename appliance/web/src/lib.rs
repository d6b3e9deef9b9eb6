//! # bootbox-web — the box's HTTP front
//!
//! Health (`/healthz`), Prometheus metrics (`/metrics`), the REST API
//! under `/api/v1` ([`api`], [`images`]) and the browser UI ([`ui`]) with
//! sign-in, sessions and CSRF protection ([`auth`]). Handlers read the
//! registry through [`bootbox_store::Store`] and never touch sockets of the
//! boot protocols.

pub mod api;
pub mod auth;
pub mod boot;
pub mod downloads;
pub mod error;
pub mod firmware_api;
pub mod images;
pub mod import_lm;
pub mod listen;
mod metrics;
pub mod remote_api;
mod settings_form;
pub mod setup;
mod timeline;
pub mod tls;
pub mod transfers;
pub mod ui;

use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use bootbox_store::Store;
use serde::Serialize;

pub use metrics::Metrics;

/// Shared state of all HTTP handlers.
#[derive(Clone)]
pub struct AppState {
    /// The registry.
    pub store: Arc<Store>,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// When the service started.
    pub started: Instant,
    /// Image management, when enabled.
    pub images: Option<images::ImagesCtx>,
    /// Sessions and sign-in throttling of the web UI.
    pub auth: Arc<auth::Auth>,
    /// HTTPS certificate and port, when the UI is served over HTTPS.
    pub tls: Option<tls::TlsCtx>,
    /// Running torrent and multicast transfers, when the service has them.
    pub transfers: Option<transfers::SharedTransferStatus>,
    /// Remote control (jobs, on-boot files), when the service runs it.
    pub remote: Option<bootbox_remote::Service>,
}

impl AppState {
    /// State for a freshly started service.
    pub fn new(store: Arc<Store>) -> Self {
        Self {
            auth: Arc::new(auth::Auth::with_store(store.clone())),
            store,
            metrics: Arc::new(Metrics::new()),
            started: Instant::now(),
            images: None,
            tls: None,
            transfers: None,
            remote: None,
        }
    }
}

/// Builds the router with every route of this crate.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics_text))
        .route("/api/v1/hosts/{mac}/timeline", get(timeline::host_timeline))
        .merge(images::routes())
        .merge(api::routes())
        .merge(tls::routes())
        .merge(setup::routes())
        .merge(import_lm::routes())
        .merge(transfers::routes())
        .merge(remote_api::routes())
        .merge(firmware_api::routes())
        .merge(ui::routes())
        .layer(axum::middleware::from_fn(auth::peer_header))
        .with_state(state)
}

/// Body of `/healthz`.
#[derive(Debug, Serialize)]
pub struct Health {
    /// `ok` or `degraded`.
    pub status: &'static str,
    /// Crate version.
    pub version: &'static str,
    /// Seconds since start.
    pub uptime_s: u64,
    /// Registry schema version, when the store answers.
    pub schema_version: Option<u64>,
    /// Store error, when it does not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

async fn healthz(State(state): State<AppState>) -> Response {
    let store = state.store.clone();
    let schema = tokio::task::spawn_blocking(move || store.schema_version()).await;
    let (status, schema_version, error) = match schema {
        Ok(Ok(v)) => (StatusCode::OK, Some(v), None),
        Ok(Err(e)) => (StatusCode::SERVICE_UNAVAILABLE, None, Some(e.to_string())),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, None, Some(e.to_string())),
    };
    let body = Health {
        status: if status == StatusCode::OK {
            "ok"
        } else {
            "degraded"
        },
        version: env!("CARGO_PKG_VERSION"),
        uptime_s: state.started.elapsed().as_secs(),
        schema_version,
        error,
    };
    (status, Json(body)).into_response()
}

async fn metrics_text(State(state): State<AppState>) -> Response {
    let store = state.store.clone();
    if let Ok(Ok(n)) = tokio::task::spawn_blocking(move || store.host_count()).await {
        state.metrics.set_hosts(n);
    }
    state.metrics.set_uptime(state.started.elapsed().as_secs());
    match state.metrics.encode() {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    fn app() -> (tempfile::TempDir, Router) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path().join("t.redb")).expect("store");
        (dir, router(AppState::new(Arc::new(store))))
    }

    async fn get_text(app: Router, uri: &str) -> (StatusCode, String) {
        let resp = app
            .oneshot(Request::get(uri).body(Body::empty()).expect("request"))
            .await
            .expect("response");
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .expect("body");
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    #[tokio::test]
    async fn healthz_reports_schema() {
        let (_d, app) = app();
        let (status, body) = get_text(app, "/healthz").await;
        assert_eq!(status, StatusCode::OK);
        let v: serde_json::Value = serde_json::from_str(&body).expect("json");
        assert_eq!(v["status"], "ok");
        assert_eq!(v["schema_version"], bootbox_store::schema::SCHEMA_VERSION);
    }

    #[tokio::test]
    async fn metrics_are_openmetrics() {
        let (_d, app) = app();
        let (status, body) = get_text(app, "/metrics").await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("bootbox_hosts 0"), "{body}");
        assert!(body.trim_end().ends_with("# EOF"), "{body}");
    }
}
