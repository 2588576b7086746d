//! PEM material from Secrets: server certificates and upstream CA bundles.

use std::sync::Arc;

use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::compile::secrets::SecretValues;

#[derive(Debug, thiserror::Error)]
pub(crate) enum TlsMaterialError {
    #[error("Secret has no `{0}` key")]
    MissingKey(&'static str),
    #[error("`{0}` holds no PEM certificate")]
    NoCertificate(&'static str),
    #[error("`tls.key` holds no PEM private key")]
    NoPrivateKey,
    #[error("`tls.key` is not a supported private key: {0}")]
    UnsupportedKey(String),
    #[error("`tls.key` does not belong to the first certificate in `tls.crt`")]
    KeyMismatch,
}

/// Reads `tls.crt` and `tls.key` (a `kubernetes.io/tls` Secret) into a served certificate.
pub(crate) fn certified_key(values: &SecretValues) -> Result<Arc<CertifiedKey>, TlsMaterialError> {
    let cert_pem = values
        .get("tls.crt")
        .ok_or(TlsMaterialError::MissingKey("tls.crt"))?;
    let key_pem = values
        .get("tls.key")
        .ok_or(TlsMaterialError::MissingKey("tls.key"))?;
    let chain = certificates(cert_pem.expose().as_bytes());
    if chain.is_empty() {
        return Err(TlsMaterialError::NoCertificate("tls.crt"));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem.expose().as_bytes())
        .map_err(|_| TlsMaterialError::NoPrivateKey)?;
    let provider = rustls::crypto::ring::default_provider();
    let certified = CertifiedKey::from_der(chain, key, &provider).map_err(|e| match e {
        rustls::Error::InconsistentKeys(_) => TlsMaterialError::KeyMismatch,
        other => TlsMaterialError::UnsupportedKey(other.to_string()),
    })?;
    Ok(Arc::new(certified))
}

/// Every PEM certificate in `pem`, skipping anything else.
pub(crate) fn certificates(pem: &[u8]) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_slice_iter(pem)
        .filter_map(Result::ok)
        .collect()
}

/// CA certificates from a Secret's `ca.crt`.
pub(crate) fn ca_bundle(
    values: &SecretValues,
) -> Result<Vec<CertificateDer<'static>>, TlsMaterialError> {
    let pem = values
        .get("ca.crt")
        .ok_or(TlsMaterialError::MissingKey("ca.crt"))?;
    let certs = certificates(pem.expose().as_bytes());
    if certs.is_empty() {
        Err(TlsMaterialError::NoCertificate("ca.crt"))
    } else {
        Ok(certs)
    }
}
