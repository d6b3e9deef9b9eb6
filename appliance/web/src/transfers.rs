//! Running image transfers: BitTorrent seeding per image and multicast
//! (udpcast) sessions, for the dashboard and the images page.
//!
//! The web crate defines the JSON shape and the [`TransferStatus`]
//! provider trait; `bootbox serve` plugs in a provider that reads the
//! torrent seeder and the multicast sessions. Without a provider the
//! lists are empty.
//!
//! * `GET /api/v1/transfers` → [`Transfers`] (`read` scope).
//! * Live: the event stream (`/api/v1/events/stream`) sends an SSE event
//!   `transfers` with the same JSON whenever it changes.

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use bootbox_store::tokens::Scope;
use serde::{Deserialize, Serialize};

use crate::auth::require;
use crate::error::ApiResult;
use crate::AppState;

/// BitTorrent seeding of one image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TorrentImageStatus {
    /// Image base name (e.g. `win11`).
    pub image: String,
    /// Info hash of the torrent, hex.
    pub info_hash: String,
    /// Peers currently known to the tracker/seeder for this torrent.
    pub peers: u32,
    /// Bytes this box has sent for this torrent since start.
    pub uploaded_bytes: u64,
    /// Clients still downloading (not yet complete).
    pub active_downloads: u32,
}

/// State of a multicast session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MulticastState {
    /// Waiting for receivers to join.
    Waiting,
    /// Sending.
    Sending,
    /// Finished successfully.
    Done,
    /// Ended with an error.
    Failed,
}

/// One receiver of a multicast session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MulticastReceiver {
    /// Receiver address (IP, optionally with port).
    pub addr: String,
    /// How much of the image it has, 0–100.
    pub progress_percent: f32,
}

/// One multicast (udpcast) session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MulticastSessionStatus {
    /// Image file or base name being sent.
    pub image: String,
    /// UDP port base of the session.
    pub port: u16,
    /// Session state.
    pub state: MulticastState,
    /// Receivers that joined.
    pub receivers: Vec<MulticastReceiver>,
    /// Bytes sent so far.
    pub bytes_sent: u64,
    /// Size of what is sent, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_bytes: Option<u64>,
}

/// Body of `GET /api/v1/transfers`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Transfers {
    /// Torrent seeding per image.
    pub torrent: Vec<TorrentImageStatus>,
    /// Multicast sessions (running and recently ended).
    pub multicast: Vec<MulticastSessionStatus>,
    /// HTTP downloads per image.
    #[serde(default)]
    pub http: Vec<crate::downloads::HttpImageStats>,
}

/// What `bootbox serve` implements to show transfers. Must be cheap: it
/// is called on every request and about once a second per open UI.
pub trait TransferStatus: Send + Sync {
    /// A snapshot of all transfers.
    fn transfers(&self) -> Transfers;
}

/// Shared provider handle.
pub type SharedTransferStatus = Arc<dyn TransferStatus>;

/// The current snapshot (empty without a provider).
pub fn snapshot(st: &AppState) -> Transfers {
    st.transfers
        .as_ref()
        .map(|p| p.transfers())
        .unwrap_or_default()
}

/// Routes of the transfer status.
pub fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/transfers", get(list))
}

async fn list(State(st): State<AppState>, headers: HeaderMap) -> ApiResult {
    require(&st, &headers, Scope::Read, false)?;
    let provider = st.transfers.clone();
    let t =
        tokio::task::spawn_blocking(move || provider.map(|p| p.transfers()).unwrap_or_default())
            .await
            .map_err(crate::error::ApiError::internal)?;
    Ok(Json(t).into_response())
}
