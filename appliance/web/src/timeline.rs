//! `GET /api/v1/hosts/{mac}/timeline`: a PC's recent boot steps with
//! plain-language hints about where it stopped.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use bootbox_linbo::MacAddr;
use bootbox_store::BootEvent;
use serde::Serialize;

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

/// JSON error with a stable code and a human message.
pub fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    (
        status,
        Json(serde_json::json!({ "error": { "code": code, "message": message.into() } })),
    )
        .into_response()
}

pub async fn host_timeline(State(st): State<AppState>, Path(mac): Path<String>) -> Response {
    let Ok(mac) = mac.parse::<MacAddr>() else {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_mac",
            format!("'{mac}' is not a MAC address"),
        );
    };
    let store = st.store.clone();
    let read = tokio::task::spawn_blocking(move || {
        let events = store.timeline(mac, 200)?;
        let host = store.host_by_mac(mac)?;
        Ok::<_, bootbox_store::StoreError>((events, host))
    })
    .await;
    match read {
        Ok(Ok((events, host))) => Json(Timeline {
            mac: mac.to_string(),
            hostname: host.map(|h| h.hostname),
            hints: bootbox_boot::timeline::hints(&events),
            events,
        })
        .into_response(),
        Ok(Err(e)) => error(StatusCode::SERVICE_UNAVAILABLE, "store", e.to_string()),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()),
    }
}
