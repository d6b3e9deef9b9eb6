//! `GET /api/v1/hosts/{mac}/timeline`: a PC's recent boot steps with
//! plain-language hints about where it stopped.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use bootbox_linbo::MacAddr;
use bootbox_store::BootEvent;
use serde::Serialize;

use crate::error::{ApiError, ApiResult};
use crate::AppState;

/// Response body.
#[derive(Debug, Serialize)]
pub struct Timeline {
    /// Normalised MAC.
    pub mac: String,
    /// Hostname, when registered.
    pub hostname: Option<String>,
    /// Oldest first.
    pub events: Vec<BootEvent>,
    /// Where the boot seems to have stopped, in plain words.
    pub hints: Vec<String>,
}

/// `GET /api/v1/hosts/{mac}/timeline`.
pub async fn host_timeline(
    State(st): State<AppState>,
    Path(mac): Path<String>,
) -> ApiResult<Response> {
    let mac = mac.parse::<MacAddr>().map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_mac",
            format!("'{mac}' is not a MAC address"),
        )
    })?;
    let store = st.store.clone();
    let (events, host) = tokio::task::spawn_blocking(move || {
        let events = store.timeline(mac, 200)?;
        let host = store.host_by_mac(mac)?;
        Ok::<_, bootbox_store::StoreError>((events, host))
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::store)?;
    Ok(Json(Timeline {
        mac: mac.to_string(),
        hostname: host.map(|h| h.hostname),
        hints: bootbox_boot::timeline::hints(&events),
        events,
    })
    .into_response())
}
