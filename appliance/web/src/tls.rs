//! HTTPS for the web UI and API.
//!
//! * On first start [`Tls::load_or_generate`] creates a self-signed
//!   certificate (rcgen, ECDSA P-256) in `<data>/tls/` — outside the LINBO
//!   tree that clients may download; the key file is mode 0600.
//! * An admin may replace it by an uploaded certificate chain and key
//!   ([`Tls::replace`]): both are parsed, the key must match the
//!   certificate, and only then are the files swapped. Bad input leaves the
//!   old certificate in place and in use.
//! * The TLS server ([`serve`]) uses rustls with the ring provider and
//!   picks the current certificate for every handshake, so a replaced
//!   certificate is used at once, without a restart.
//! * On plain HTTP, [`https_guard`] sends UI pages to HTTPS (API calls get a
//!   `https_required` error) unless the client is on loopback; the boot
//!   endpoints are left alone. On HTTPS, [`secure_cookies`] marks every
//!   cookie `Secure`.

use std::fmt;
use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::ApiError;

/// Certificate chain file inside the TLS folder.
pub const CERT_FILE: &str = "cert.pem";
/// Private key file inside the TLS folder (mode 0600).
pub const KEY_FILE: &str = "key.pem";
/// Present when the certificate was uploaded rather than generated.
const UPLOADED_MARK: &str = "uploaded";
/// Largest accepted PEM upload (certificate chain or key).
pub const PEM_MAX: usize = 64 << 10;

/// Errors of certificate handling.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The certificate text is not usable.
    #[error("certificate: {0}")]
    Cert(String),
    /// The key text is not usable.
    #[error("private key: {0}")]
    Key(String),
    /// Key and certificate do not belong together.
    #[error("the private key does not belong to the certificate")]
    Mismatch,
    /// Generating a certificate failed.
    #[error("cannot generate a certificate: {0}")]
    Generate(String),
    /// Reading or writing the files failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> TlsError + '_ {
    move |source| TlsError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What the settings page shows about the certificate.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CertInfo {
    /// SHA-256 of the end-entity certificate (DER), `AB:CD:…`.
    pub fingerprint_sha256: String,
    /// `generated` (self-signed on first start) or `uploaded`.
    pub source: &'static str,
    /// Certificates in the chain.
    pub chain_len: usize,
}

struct Current {
    key: Arc<CertifiedKey>,
    info: CertInfo,
}

/// The box's TLS certificate: files in one folder plus the loaded key.
pub struct Tls {
    dir: PathBuf,
    provider: Arc<CryptoProvider>,
    current: RwLock<Current>,
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tls")
            .field("dir", &self.dir)
            .field("info", &self.info())
            .finish_non_exhaustive()
    }
}

/// `AB:CD:…` SHA-256 fingerprint of DER bytes.
pub fn fingerprint(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Parses a PEM certificate chain and key and checks that they match.
fn parse(
    provider: &CryptoProvider,
    cert_pem: &[u8],
    key_pem: &[u8],
) -> Result<CertifiedKey, TlsError> {
    if cert_pem.len() > PEM_MAX || key_pem.len() > PEM_MAX {
        return Err(TlsError::Cert(
            "the upload is too large (at most 64 KiB)".into(),
        ));
    }
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::Cert(format!("not valid PEM ({e})")))?;
    if chain.is_empty() {
        return Err(TlsError::Cert(
            "no '-----BEGIN CERTIFICATE-----' block found".into(),
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|e| TlsError::Key(format!("no PKCS#8, PKCS#1 or SEC1 private key found ({e})")))?;
    let signer = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| TlsError::Key(format!("unsupported key: {e}")))?;
    let ck = CertifiedKey::new(chain, signer);
    match ck.keys_match() {
        Ok(()) => Ok(ck),
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            Err(TlsError::Mismatch)
        }
        Err(e) => Err(TlsError::Cert(format!(
            "cannot check it against the key: {e}"
        ))),
    }
}

/// Writes `data` to `path` through a temporary file; `mode` for new files.
fn write_atomic(path: &Path, data: &[u8], mode: u32) -> Result<(), TlsError> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .map_err(io_err(&tmp))?;
    f.write_all(data).map_err(io_err(&tmp))?;
    f.sync_all().map_err(io_err(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io_err(path))
}

impl Tls {
    /// Loads the certificate from `dir`, or generates a self-signed one
    /// for `names` (DNS names and IP addresses) when there is none.
    pub fn load_or_generate(dir: &Path, names: &[String]) -> Result<Self, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .map_err(io_err(dir))?;
        }
        let (cert_path, key_path) = (dir.join(CERT_FILE), dir.join(KEY_FILE));
        if !cert_path.is_file() || !key_path.is_file() {
            generate(dir, names)?;
        }
        let cert = std::fs::read(&cert_path).map_err(io_err(&cert_path))?;
        let key = std::fs::read(&key_path).map_err(io_err(&key_path))?;
        let ck = parse(&provider, &cert, &key)?;
        let uploaded = dir.join(UPLOADED_MARK).exists();
        let info = info_of(&ck, uploaded);
        Ok(Self {
            dir: dir.to_path_buf(),
            provider,
            current: RwLock::new(Current {
                key: Arc::new(ck),
                info,
            }),
        })
    }

    /// The certificate in use.
    pub fn info(&self) -> CertInfo {
        self.read().info.clone()
    }

    /// Path of the certificate chain file (for `curl --cacert`).
    pub fn cert_path(&self) -> PathBuf {
        self.dir.join(CERT_FILE)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Current> {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Replaces the certificate by an uploaded chain and key (PEM). On any
    /// error nothing changes.
    pub fn replace(&self, cert_pem: &[u8], key_pem: &[u8]) -> Result<CertInfo, TlsError> {
        let ck = parse(&self.provider, cert_pem, key_pem)?;
        let info = info_of(&ck, true);
        let mut cur = self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Key first: a crash between the renames leaves a mismatching pair,
        // which the next start reports instead of serving a wrong key.
        write_atomic(&self.dir.join(KEY_FILE), key_pem, 0o600)?;
        write_atomic(&self.dir.join(CERT_FILE), cert_pem, 0o644)?;
        write_atomic(&self.dir.join(UPLOADED_MARK), b"1\n", 0o644)?;
        *cur = Current {
            key: Arc::new(ck),
            info: info.clone(),
        };
        Ok(info)
    }

    /// A rustls server configuration that always uses the current certificate.
    pub fn server_config(self: &Arc<Self>) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        let mut cfg = rustls::ServerConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Cert(e.to_string()))?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(Resolver(self.clone())));
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(cfg))
    }
}

fn info_of(ck: &CertifiedKey, uploaded: bool) -> CertInfo {
    CertInfo {
        fingerprint_sha256: ck.cert.first().map(|c| fingerprint(c)).unwrap_or_default(),
        source: if uploaded { "uploaded" } else { "generated" },
        chain_len: ck.cert.len(),
    }
}

/// Generates a self-signed certificate for `names` into `dir`.
fn generate(dir: &Path, names: &[String]) -> Result<(), TlsError> {
    let mut sans: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "bootbox".into()];
    for n in names {
        if !n.is_empty() && !sans.contains(n) {
            sans.push(n.clone());
        }
    }
    let mut params =
        rcgen::CertificateParams::new(sans).map_err(|e| TlsError::Generate(e.to_string()))?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Bootbox");
    let key = rcgen::KeyPair::generate().map_err(|e| TlsError::Generate(e.to_string()))?;
    let cert = params
        .self_signed(&key)
        .map_err(|e| TlsError::Generate(e.to_string()))?;
    write_atomic(&dir.join(KEY_FILE), key.serialize_pem().as_bytes(), 0o600)?;
    write_atomic(&dir.join(CERT_FILE), cert.pem().as_bytes(), 0o644)?;
    let _ = std::fs::remove_file(dir.join(UPLOADED_MARK));
    Ok(())
}

#[derive(Debug)]
struct Resolver(Arc<Tls>);

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.read().key.clone())
    }
}

/// Serves `app` over HTTPS on `listener` until `stop` completes.
pub async fn serve(
    listener: std::net::TcpListener,
    app: axum::Router,
    tls: Arc<Tls>,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let cfg = tls
        .server_config()
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    listener.set_nonblocking(true)?;
    let mut server = axum_server::from_tcp_rustls(
        listener,
        axum_server::tls_rustls::RustlsConfig::from_config(cfg),
    )?
    .handle(crate::listen::shutdown_handle(stop));
    // As on plain HTTP ([`crate::listen`]): header names in title case.
    server.http_builder().http1().title_case_headers(true);
    server
        .serve(
            app.layer(axum::middleware::from_fn(secure_cookies))
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
}

/// Middleware for the HTTPS side: adds `Secure` to every `Set-Cookie`.
pub async fn secure_cookies(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let cookies: Vec<HeaderValue> = resp
        .headers_mut()
        .get_all(header::SET_COOKIE)
        .iter()
        .cloned()
        .collect();
    if cookies.is_empty() {
        return resp;
    }
    resp.headers_mut().remove(header::SET_COOKIE);
    for c in cookies {
        let text = c.to_str().unwrap_or("");
        let fixed = if text.to_ascii_lowercase().contains("; secure") {
            c.clone()
        } else {
            HeaderValue::from_str(&format!("{text}; Secure")).unwrap_or(c)
        };
        resp.headers_mut().append(header::SET_COOKIE, fixed);
    }
    resp
}

/// True for the paths of the UI and the API (not the boot endpoints,
/// health or metrics).
pub fn is_ui_path(path: &str) -> bool {
    path == "/"
        || path.starts_with("/api/")
        || path.starts_with("/ui/")
        || matches!(path, "/setup" | "/login")
        || crate::ui::PAGES.contains(&path.trim_start_matches('/'))
}

/// Middleware for the plain-HTTP side when HTTPS is on (state: the HTTPS
/// port): UI pages are redirected to HTTPS and API calls refused, unless
/// the client is on loopback (local scripts and tests).
pub async fn https_guard(State(port): State<u16>, req: Request, next: Next) -> Response {
    let loopback = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .is_some_and(|c| match c.0.ip() {
            IpAddr::V4(a) => a.is_loopback(),
            IpAddr::V6(a) => a.is_loopback() || a.to_ipv4_mapped().is_some_and(|v| v.is_loopback()),
        });
    let path = req.uri().path().to_string();
    if loopback || !is_ui_path(&path) {
        return next.run(req).await;
    }
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(host_without_port);
    let target = host.map(|h| {
        let q = req
            .uri()
            .query()
            .map(|q| format!("?{q}"))
            .unwrap_or_default();
        if port == 443 {
            format!("https://{h}{path}{q}")
        } else {
            format!("https://{h}:{port}{path}{q}")
        }
    });
    match target {
        Some(t) if req.method() == axum::http::Method::GET && !path.starts_with("/api/") => {
            Redirect::permanent(&t).into_response()
        }
        _ => ApiError::new(
            StatusCode::FORBIDDEN,
            "https_required",
            format!(
                "the UI and API answer on HTTPS only (port {port}); plain HTTP is for booting PCs"
            ),
        )
        .into_response(),
    }
}

fn host_without_port(h: &str) -> &str {
    if let Some(rest) = h.strip_prefix('[') {
        // [v6]:port
        return rest.split(']').next().map_or(h, |v6| &h[..v6.len() + 2]);
    }
    h.rsplit_once(':').map_or(h, |(a, _)| a)
}

/// HTTPS as the handlers see it: the certificate and the port.
#[derive(Debug, Clone)]
pub struct TlsCtx {
    /// The certificate.
    pub tls: Arc<Tls>,
    /// Port of the HTTPS listener.
    pub port: u16,
}

/// Routes of the certificate settings.
pub fn routes() -> axum::Router<crate::AppState> {
    axum::Router::new().route(
        "/api/v1/settings/tls",
        axum::routing::get(get_tls).put(put_tls),
    )
}

async fn get_tls(
    State(st): State<crate::AppState>,
    headers: axum::http::HeaderMap,
) -> crate::error::ApiResult {
    crate::auth::require(&st, &headers, bootbox_store::tokens::Scope::Read, false)?;
    let v = match &st.tls {
        Some(t) => {
            serde_json::json!({ "enabled": true, "port": t.port, "certificate": t.tls.info() })
        }
        None => serde_json::json!({ "enabled": false }),
    };
    Ok(axum::Json(v).into_response())
}

#[derive(Debug, serde::Deserialize)]
struct CertUpload {
    cert_pem: String,
    key_pem: String,
}

async fn put_tls(
    State(st): State<crate::AppState>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> crate::error::ApiResult {
    let actor = crate::auth::require(&st, &headers, bootbox_store::tokens::Scope::Admin, true)?;
    let req: CertUpload = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("the request body is not valid: {e}"),
        )
    })?;
    let Some(ctx) = st.tls.clone() else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "https_off",
            "HTTPS is not enabled on this box (start it with --https ADDR)",
        ));
    };
    let tls = ctx.tls.clone();
    let result = tokio::task::spawn_blocking(move || {
        tls.replace(req.cert_pem.as_bytes(), req.key_pem.as_bytes())
    })
    .await
    .map_err(ApiError::internal)?;
    match result {
        Ok(info) => {
            let _ = st.store.audit(
                &actor.audit(),
                "tls.replace",
                format!(
                    "HTTPS certificate replaced (SHA-256 {})",
                    info.fingerprint_sha256
                ),
            );
            Ok(axum::Json(
                serde_json::json!({ "enabled": true, "port": ctx.port, "certificate": info }),
            )
            .into_response())
        }
        Err(e @ TlsError::Io { .. }) => Err(ApiError::internal(e)),
        Err(e) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad_certificate",
            format!("{e}; the previous certificate stays in use"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_is_stripped() {
        assert_eq!(host_without_port("box.local:8080"), "box.local");
        assert_eq!(host_without_port("10.0.0.5"), "10.0.0.5");
        assert_eq!(host_without_port("[fe80::1]:80"), "[fe80::1]");
    }

    #[test]
    fn ui_paths() {
        assert!(is_ui_path("/"));
        assert!(is_ui_path("/dashboard"));
        assert!(is_ui_path("/api/v1/hosts"));
        assert!(!is_ui_path("/boot.ipxe"));
        assert!(!is_ui_path("/linbo/linbo64"));
        assert!(!is_ui_path("/healthz"));
    }
}
