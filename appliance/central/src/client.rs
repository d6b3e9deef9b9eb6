//! The box's HTTP client towards the central: hyper's HTTP/1.1 client
//! connection over a TCP stream the box opens (boxes are behind NAT).
//!
//! `https://` (rustls; the central's certificate pinned at enrolment, see
//! [`crate::tls`]) or plain `http://`. Integrity does not depend on TLS:
//! manifests are signed with the pinned central key, files checked against
//! them, requests signed with the box key — a man in the middle can delay
//! or corrupt, never make a box accept bad bytes.

use std::path::Path;
use std::time::Duration;

use axum::body::Bytes;
use ed25519_dalek::SigningKey;
use http_body_util::{BodyExt, Full};
use hyper::header::{CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, HOST, RANGE};
use hyper::StatusCode;
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::auth::{self, H_BOX, H_NONCE, H_SIG, H_TIME};
use crate::server::{EnrolRequest, EnrolResponse, KeyInfo, ReleaseList, StatusReport};
use crate::{now_ms, Error, Result};

/// Longest wait for a connection or for the next chunk of a response.
pub const IDLE: Duration = Duration::from_secs(30);

/// Where the central is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    host: String,
    port: u16,
    prefix: String,
    tls: bool,
    /// SHA-256 (hex) of the central's TLS certificate, pinned at enrolment.
    pin: Option<String>,
}

impl Endpoint {
    /// Parses `http[s]://host[:port][/prefix]`.
    pub fn parse(url: &str) -> Result<Self> {
        let url = url.trim();
        let (rest, tls) = match (url.strip_prefix("https://"), url.strip_prefix("http://")) {
            (Some(r), _) => (r, true),
            (None, Some(r)) => (r, false),
            _ => {
                return Err(Error::Invalid(format!(
                    "{url:?} is not an http:// or https:// URL"
                )))
            }
        };
        let (hostport, prefix) = match rest.split_once('/') {
            Some((h, p)) => (h, format!("/{}", p.trim_end_matches('/'))),
            None => (rest, String::new()),
        };
        let prefix = if prefix == "/" { String::new() } else { prefix };
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => (
                h.trim_start_matches('[').trim_end_matches(']').to_string(),
                p.parse()
                    .map_err(|_| Error::Invalid(format!("bad port in {url:?}")))?,
            ),
            _ => (hostport.to_string(), if tls { 443 } else { 80 }),
        };
        if host.is_empty() {
            return Err(Error::Invalid(format!("no host in {url:?}")));
        }
        Ok(Self {
            host,
            port,
            prefix,
            tls,
            pin: None,
        })
    }

    /// The same endpoint, accepting only the TLS certificate `pin`.
    pub fn pinned(mut self, pin: Option<String>) -> Self {
        self.pin = pin;
        self
    }

    /// True for `https://`.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    fn host_header(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

fn http(e: impl std::fmt::Display) -> Error {
    Error::Http(e.to_string())
}

type Resp = hyper::Response<hyper::body::Incoming>;

async fn send(
    ep: &Endpoint,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: Vec<u8>,
) -> Result<Resp> {
    send_seen(ep, method, path, headers, body, &Default::default()).await
}

/// Like [`send`]; `seen` receives the TLS certificate's fingerprint.
async fn send_seen(
    ep: &Endpoint,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: Vec<u8>,
    seen: &std::sync::Arc<std::sync::Mutex<Option<String>>>,
) -> Result<Resp> {
    let stream = tokio::time::timeout(
        IDLE,
        tokio::net::TcpStream::connect((ep.host.as_str(), ep.port)),
    )
    .await
    .map_err(|_| Error::Http(format!("{}: connection timed out", ep.host_header())))?
    .map_err(|e| Error::Http(format!("cannot connect to {}: {e}", ep.host_header())))?;
    let mut sender = if ep.tls {
        let connector = crate::tls::connector(ep.pin.as_deref(), seen.clone())?;
        let name = crate::tls::server_name(&ep.host)?;
        let tls = tokio::time::timeout(IDLE, connector.connect(name, stream))
            .await
            .map_err(|_| Error::Http(format!("{}: TLS handshake timed out", ep.host_header())))?
            .map_err(|e| Error::Http(format!("TLS to {}: {e}", ep.host_header())))?;
        handshake(tls).await?
    } else {
        handshake(stream).await?
    };
    let mut b = hyper::Request::builder()
        .method(method)
        .uri(format!("{}{path}", ep.prefix))
        .header(HOST, ep.host_header());
    for (k, v) in headers {
        b = b.header(*k, v.as_str());
    }
    if !body.is_empty() {
        b = b
            .header(CONTENT_TYPE, "application/json")
            .header(CONTENT_LENGTH, body.len());
    }
    let req = b.body(Full::new(Bytes::from(body))).map_err(http)?;
    tokio::time::timeout(IDLE, sender.send_request(req))
        .await
        .map_err(|_| Error::Http(format!("{method} {path}: no answer")))?
        .map_err(http)
}

async fn handshake<S>(io: S) -> Result<hyper::client::conn::http1::SendRequest<Full<Bytes>>>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(http)?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

async fn read_all(resp: Resp, limit: usize) -> Result<(StatusCode, Vec<u8>)> {
    let status = resp.status();
    let mut body = resp.into_body();
    let mut out = Vec::new();
    while let Some(frame) = tokio::time::timeout(IDLE, body.frame())
        .await
        .map_err(|_| Error::Http("response stalled".into()))?
    {
        if let Ok(d) = frame.map_err(http)?.into_data() {
            out.extend_from_slice(&d);
            if out.len() > limit {
                return Err(Error::Http("response too large".into()));
            }
        }
    }
    Ok((status, out))
}

fn decode<T: DeserializeOwned>(status: StatusCode, body: &[u8], what: &str) -> Result<T> {
    if !status.is_success() {
        let msg = serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| {
                v.get("message")
                    .and_then(|m| m.as_str())
                    .map(str::to_string)
            })
            .unwrap_or_else(|| String::from_utf8_lossy(body).chars().take(200).collect());
        return Err(Error::Http(format!("{what}: {status}: {msg}")));
    }
    serde_json::from_slice(body).map_err(|e| Error::Http(format!("{what}: bad answer: {e}")))
}

/// The central's signing key (unauthenticated; the caller compares its
/// fingerprint with the one the central admin gave). Also returns the TLS
/// certificate's fingerprint seen.
pub async fn central_key(ep: &Endpoint) -> Result<(KeyInfo, Option<String>)> {
    let seen = Default::default();
    let resp = send_seen(ep, "GET", "/central/v1/key", &[], Vec::new(), &seen).await?;
    let (status, body) = read_all(resp, 64 << 10).await?;
    let answer = decode(status, &body, "central key")?;
    let pin = seen.lock().unwrap_or_else(|p| p.into_inner()).clone();
    Ok((answer, pin))
}

/// Enrols with a token (the only unsigned request). Returns the answer and,
/// over TLS, the fingerprint of the certificate the central presented (to
/// pin).
pub async fn enrol(ep: &Endpoint, req: &EnrolRequest) -> Result<(EnrolResponse, Option<String>)> {
    let body = serde_json::to_vec(req).map_err(http)?;
    let seen = Default::default();
    let resp = send_seen(ep, "POST", "/central/v1/enrol", &[], body, &seen).await?;
    let (status, body) = read_all(resp, 64 << 10).await?;
    let answer = decode(status, &body, "enrolment")?;
    let pin = seen.lock().unwrap_or_else(|p| p.into_inner()).clone();
    Ok((answer, pin))
}

/// An enrolled box talking to its central.
#[derive(Debug, Clone)]
pub struct BoxClient {
    /// The central.
    pub endpoint: Endpoint,
    /// This box's id.
    pub box_id: String,
    /// This box's key.
    pub key: SigningKey,
}

impl BoxClient {
    async fn signed(
        &self,
        method: &str,
        path: &str,
        extra: &[(&str, String)],
        body: Vec<u8>,
    ) -> Result<Resp> {
        // The path as the central's router sees it (a reverse proxy may
        // strip the prefix).
        let h = auth::sign(&self.key, &self.box_id, method, path, &body, now_ms())?;
        let mut headers = vec![
            (H_BOX, h.box_id),
            (H_TIME, h.time_ms.to_string()),
            (H_NONCE, h.nonce),
            (H_SIG, h.signature),
        ];
        headers.extend(extra.iter().map(|(k, v)| (*k, v.clone())));
        send(&self.endpoint, method, path, &headers, body).await
    }

    /// All releases' signed manifests (unverified: the caller verifies).
    pub async fn releases(&self) -> Result<ReleaseList> {
        self.releases_since("", 0).await
    }

    /// The release list once it differs from `since` (a [`ReleaseList::tag`])
    /// or after `wait` seconds (at most the central's 25 s), whichever is
    /// first: the box's long-poll for prompt news of a release.
    pub async fn releases_since(&self, since: &str, wait: u64) -> Result<ReleaseList> {
        let path = if since.is_empty() && wait == 0 {
            "/central/v1/releases".to_string()
        } else {
            if !crate::is_sha256(since) {
                return Err(Error::Invalid(format!("bad release tag {since:?}")));
            }
            format!("/central/v1/releases?since={since}&wait={wait}")
        };
        let resp = self.signed("GET", &path, &[], Vec::new()).await?;
        let (status, body) = read_all(resp, 16 << 20).await?;
        decode(status, &body, "release list")
    }

    /// Reports the state of a release.
    pub async fn report(&self, r: &StatusReport) -> Result<()> {
        let body = serde_json::to_vec(r).map_err(http)?;
        let resp = self.signed("POST", "/central/v1/status", &[], body).await?;
        let (status, body) = read_all(resp, 64 << 10).await?;
        if status.is_success() {
            Ok(())
        } else {
            decode::<serde_json::Value>(status, &body, "status report").map(|_| ())
        }
    }

    /// Downloads `name` of `release` into `part`, continuing after the
    /// bytes already there (HTTP `Range`), up to `size` bytes. The file is
    /// hashed as it is written (bytes already on disk first), so no second
    /// pass is needed. `limit` caps the rate in bytes per second.
    pub async fn download(
        &self,
        release: &str,
        name: &str,
        part: &Path,
        size: u64,
        limit: Option<u64>,
    ) -> Result<Downloaded> {
        let mut have = std::fs::metadata(part).map(|m| m.len()).unwrap_or(0);
        if have > size {
            // More than the manifest says: cannot be right; start over.
            std::fs::remove_file(part)
                .map_err(crate::io(format!("cannot remove {}", part.display())))?;
            have = 0;
        }
        let mut hasher = Sha256::new();
        if have > 0 {
            let p = part.to_path_buf();
            hasher = tokio::task::block_in_place(move || hash_prefix(&p, hasher))?;
        }
        if have == size {
            return Ok(Downloaded {
                received: 0,
                len: have,
                sha256: crate::hex(&hasher.finalize()),
            });
        }
        let path = format!("/central/v1/releases/{release}/files/{name}");
        let range = [(RANGE.as_str(), format!("bytes={have}-"))];
        let extra: &[(&str, String)] = if have > 0 { &range } else { &[] };
        let resp = self.signed("GET", &path, extra, Vec::new()).await?;
        let status = resp.status();
        let append = match status {
            StatusCode::PARTIAL_CONTENT => {
                let from = resp
                    .headers()
                    .get(CONTENT_RANGE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("bytes "))
                    .and_then(|v| v.split('-').next())
                    .and_then(|v| v.parse::<u64>().ok());
                if from != Some(have) {
                    return Err(Error::Http(format!(
                        "download of {name}: the central answered another range than bytes={have}-"
                    )));
                }
                true
            }
            StatusCode::OK => {
                hasher = Sha256::new();
                false
            }
            StatusCode::SERVICE_UNAVAILABLE => {
                let (_, body) = read_all(resp, 64 << 10)
                    .await
                    .unwrap_or((status, Vec::new()));
                let why =
                    decode::<serde_json::Value>(status, &body, &format!("download of {name}"))
                        .err()
                        .map(|e| e.to_string())
                        .unwrap_or_default();
                return Err(Error::Busy(why));
            }
            s => {
                let (_, body) = read_all(resp, 64 << 10).await.unwrap_or((s, Vec::new()));
                return decode::<serde_json::Value>(s, &body, &format!("download of {name}"))
                    .map(|_| Downloaded::default());
            }
        };
        let mut f = tokio::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .append(append)
            .truncate(!append)
            .open(part)
            .await
            .map_err(crate::io(format!("cannot write {}", part.display())))?;
        let mut len = if append { have } else { 0 };
        let mut got = 0u64;
        let started = std::time::Instant::now();
        let mut body = resp.into_body();
        while let Some(frame) = tokio::time::timeout(IDLE, body.frame())
            .await
            .map_err(|_| Error::Http(format!("download of {name} stalled")))?
        {
            let Ok(data) = frame.map_err(http)?.into_data() else {
                continue;
            };
            if len + data.len() as u64 > size {
                return Err(Error::File(format!(
                    "{name}: the central sent more than {size} bytes"
                )));
            }
            f.write_all(&data)
                .await
                .map_err(crate::io(format!("cannot write {}", part.display())))?;
            hasher.update(&data);
            len += data.len() as u64;
            got += data.len() as u64;
            // The box's bandwidth limit: read no faster than allowed (TCP
            // flow control slows the central down accordingly).
            if let Some(limit) = limit {
                let wait = crate::policy::pace(limit, got, started.elapsed());
                if !wait.is_zero() {
                    tokio::time::sleep(wait).await;
                }
            }
        }
        f.sync_all()
            .await
            .map_err(crate::io(format!("cannot write {}", part.display())))?;
        Ok(Downloaded {
            received: got,
            len,
            sha256: crate::hex(&hasher.finalize()),
        })
    }
}

/// What [`BoxClient::download`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Downloaded {
    /// Bytes received in this call.
    pub received: u64,
    /// Length of the file now.
    pub len: u64,
    /// SHA-256 (hex) of the whole file, computed while writing it.
    pub sha256: String,
}

fn hash_prefix(path: &Path, mut h: Sha256) -> Result<Sha256> {
    use std::io::Read;
    let mut f =
        std::fs::File::open(path).map_err(crate::io(format!("cannot read {}", path.display())))?;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f
            .read(&mut buf)
            .map_err(crate::io(format!("cannot read {}", path.display())))?;
        if n == 0 {
            return Ok(h);
        }
        h.update(&buf[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse() {
        let e = Endpoint::parse("http://10.0.0.1:8090").expect("parse");
        assert_eq!(
            (e.host.as_str(), e.port, e.prefix.as_str()),
            ("10.0.0.1", 8090, "")
        );
        let e = Endpoint::parse("http://central.example/x/").expect("parse");
        assert_eq!(
            (e.host.as_str(), e.port, e.prefix.as_str()),
            ("central.example", 80, "/x")
        );
        let e = Endpoint::parse("http://[fd00::1]:81").expect("parse");
        assert_eq!((e.host.as_str(), e.port), ("fd00::1", 81));
        let e = Endpoint::parse("https://x").expect("parse");
        assert_eq!((e.port, e.is_tls()), (443, true));
        assert!(Endpoint::parse("ftp://x").is_err());
        assert!(Endpoint::parse("http://:80").is_err());
    }
}
