//! HTTP clients for driving the gateway in tests.

use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;

/// A plain HTTP/1.1 client.
pub fn http1() -> Client<HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new()).build(HttpConnector::new())
}

/// A plain-text HTTP/2 (prior knowledge) client.
pub fn h2c() -> Client<HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build(HttpConnector::new())
}

/// A response with its body read in full.
#[derive(Debug)]
pub struct Collected {
    pub status: http::StatusCode,
    pub headers: http::HeaderMap,
    pub version: http::Version,
    pub body: Bytes,
}

impl Collected {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

pub async fn collect<B>(response: Response<B>) -> Collected
where
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    let (parts, body) = response.into_parts();
    let body = body.collect().await.expect("read body").to_bytes();
    Collected {
        status: parts.status,
        headers: parts.headers,
        version: parts.version,
        body,
    }
}

/// GET `url` over HTTP/1.1 and read the whole response.
pub async fn get(url: &str) -> Collected {
    send(Request::get(url).body(Full::default()).expect("request")).await
}

/// GET `url`, or the error when nothing answers (for polling a starting server).
pub async fn try_get(url: &str) -> Result<Collected, hyper_util::client::legacy::Error> {
    let response = http1()
        .request(Request::get(url).body(Full::default()).expect("request"))
        .await?;
    Ok(collect(response).await)
}

pub async fn send(request: Request<Full<Bytes>>) -> Collected {
    collect(http1().request(request).await.expect("request failed")).await
}

/// One request over TLS to 127.0.0.1:`port` with SNI `server_name`, trusting `ca_pem`.
/// Returns the response and the ALPN protocol negotiated.
pub async fn tls_request(
    port: u16,
    server_name: &str,
    ca_pem: &str,
    alpn_h2: bool,
    path: &str,
) -> (Collected, Option<Vec<u8>>) {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.expect("ca pem")).expect("add root");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = if alpn_h2 {
        vec![b"h2".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    let tcp = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let name = ServerName::try_from(server_name.to_string()).expect("server name");
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .expect("tls handshake");
    let alpn = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
    let io = hyper_util::rt::TokioIo::new(tls);
    let request = Request::get(format!("https://{server_name}{path}"))
        .body(Full::<Bytes>::default())
        .expect("request");
    let response = if alpn.as_deref() == Some(b"h2") {
        let (mut sender, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
            .await
            .expect("h2 handshake");
        tokio::spawn(conn);
        sender.send_request(request).await.expect("h2 request")
    } else {
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
            .await
            .expect("h1 handshake");
        tokio::spawn(conn);
        let mut request = request;
        request.headers_mut().insert(
            http::header::HOST,
            http::HeaderValue::from_str(server_name).expect("host"),
        );
        *request.uri_mut() = path.parse().expect("path");
        sender.send_request(request).await.expect("h1 request")
    };
    (collect(response).await, alpn)
}
