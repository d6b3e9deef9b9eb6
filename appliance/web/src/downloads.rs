//! Per-image counters of HTTP downloads from `/linbo/images/<base>/…`:
//! bytes sent and downloads in flight, for the API and `/metrics`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use axum::body::Body;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

/// Counters of one image.
#[derive(Debug, Default)]
struct Counters {
    bytes: AtomicU64,
    active: AtomicU64,
    started: AtomicU64,
}

/// A snapshot of one image's HTTP downloads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpImageStats {
    /// Image name (its folder under `images/`).
    pub image: String,
    /// Body bytes sent since the service started.
    pub bytes_served: u64,
    /// Responses being sent now.
    pub active_downloads: u64,
    /// Responses started since the service started.
    pub downloads_total: u64,
}

/// HTTP download counters of all images. The map only grows by images
/// that exist on disk (counting starts after the file was opened).
#[derive(Debug, Default)]
pub struct HttpDownloads {
    images: Mutex<BTreeMap<String, Arc<Counters>>>,
}

impl HttpDownloads {
    /// Wraps a response body from `images/<image>/…` so its bytes and its
    /// lifetime are counted.
    pub fn count(&self, image: &str, body: Body) -> Body {
        let counters = {
            let mut map = self.images.lock().unwrap_or_else(PoisonError::into_inner);
            map.entry(image.to_string()).or_default().clone()
        };
        counters.started.fetch_add(1, Ordering::Relaxed);
        counters.active.fetch_add(1, Ordering::Relaxed);
        let guard = Active(counters);
        Body::from_stream(body.into_data_stream().map(move |chunk| {
            if let Ok(data) = &chunk {
                guard
                    .0
                    .bytes
                    .fetch_add(data.len() as u64, Ordering::Relaxed);
            }
            chunk
        }))
    }

    /// A snapshot of every image seen, sorted by name.
    pub fn stats(&self) -> Vec<HttpImageStats> {
        let map = self.images.lock().unwrap_or_else(PoisonError::into_inner);
        map.iter()
            .map(|(image, c)| HttpImageStats {
                image: image.clone(),
                bytes_served: c.bytes.load(Ordering::Relaxed),
                active_downloads: c.active.load(Ordering::Relaxed),
                downloads_total: c.started.load(Ordering::Relaxed),
            })
            .collect()
    }
}

/// Decrements the in-flight count when the body is dropped (sent, or the
/// client went away).
struct Active(Arc<Counters>);

impl Drop for Active {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The image an `/linbo/` request path belongs to: `images/<base>/<file>`
/// (also inside `backups/`); `None` for anything else.
pub fn image_of(path: &str) -> Option<&str> {
    let rest = path.trim_start_matches('/').strip_prefix("images/")?;
    let (base, file) = rest.split_once('/')?;
    (!base.is_empty() && !file.is_empty()).then_some(base)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_paths() {
        assert_eq!(image_of("images/win10/win10.qcow2"), Some("win10"));
        assert_eq!(
            image_of("/images/win10/backups/x/win10.qcow2"),
            Some("win10")
        );
        assert_eq!(image_of("images/win10"), None);
        assert_eq!(image_of("start.conf"), None);
    }

    #[tokio::test]
    async fn counts_bytes_and_in_flight() {
        let d = HttpDownloads::default();
        let body = d.count("win10", Body::from(vec![7u8; 1000]));
        assert_eq!(d.stats()[0].active_downloads, 1);
        let bytes = axum::body::to_bytes(body, usize::MAX).await.expect("body");
        assert_eq!(bytes.len(), 1000);
        let s = &d.stats()[0];
        assert_eq!(
            (s.bytes_served, s.active_downloads, s.downloads_total),
            (1000, 0, 1)
        );
    }
}
