//! TLS from the box to the central (rustls, ring): the central's
//! certificate is usually self-signed, so instead of a CA the box pins the
//! SHA-256 of the certificate it saw when it enrolled (trust on first use,
//! next to the signing-key fingerprint an admin can check), and every later
//! connection must present that very certificate.
//!
//! TLS adds confidentiality; integrity never depends on it: manifests are
//! signed with the pinned central key and every file is checked against
//! them.

use std::sync::{Arc, Mutex};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use crate::{Error, Result};

/// Accepts exactly the pinned certificate (or, without a pin, records the
/// one presented).
#[derive(Debug)]
pub struct PinnedCert {
    pin: Option<String>,
    seen: Arc<Mutex<Option<String>>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinnedCert {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        let fp = crate::sha256_hex(end_entity.as_ref());
        if let Some(pin) = &self.pin {
            if *pin != fp {
                return Err(rustls::Error::General(format!(
                    "the central's certificate {fp} is not the pinned {pin}"
                )));
            }
        }
        *self.seen.lock().unwrap_or_else(|p| p.into_inner()) = Some(fp);
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A connector for one connection; `seen` receives the certificate's
/// fingerprint once the handshake passed.
pub fn connector(
    pin: Option<&str>,
    seen: Arc<Mutex<Option<String>>>,
) -> Result<tokio_rustls::TlsConnector> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = PinnedCert {
        pin: pin.map(str::to_string),
        seen,
        provider: provider.clone(),
    };
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Http(format!("TLS setup: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsConnector::from(Arc::new(cfg)))
}

/// The server name sent in the handshake (an IP address or a DNS name).
pub fn server_name(host: &str) -> Result<ServerName<'static>> {
    ServerName::try_from(host.to_string())
        .map_err(|_| Error::Invalid(format!("{host:?} is not a host name or address")))
}
