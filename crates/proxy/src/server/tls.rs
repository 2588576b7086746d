//! TLS termination: the certificate is chosen per handshake from the live configuration,
//! so a reload that changes a certificate takes effect on the next connection.

use std::sync::Arc;

use rustls::ServerConfig;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::Shared;

#[derive(Debug)]
struct SnapshotCertificates {
    shared: Arc<Shared>,
    port: u16,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").finish_non_exhaustive()
    }
}

impl ResolvesServerCert for SnapshotCertificates {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let snapshot = self.shared.snapshot.load();
        snapshot
            .config
            .port(self.port)?
            .certificate_for(hello.server_name())
            .cloned()
    }
}

/// Server TLS settings for one port, offering HTTP/2 and HTTP/1.1 by ALPN.
pub fn server_config(shared: Arc<Shared>, port: u16) -> Result<Arc<ServerConfig>, rustls::Error> {
    let mut config = ServerConfig::builder_with_provider(crate::upstream::tls::provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(SnapshotCertificates { shared, port }));
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
