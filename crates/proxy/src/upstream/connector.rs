//! Opens connections to backends: DNS, TCP (with a deadline), then TLS when configured.
//! Each failure is its own typed error so that the client is told which step failed.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// Why a connection could not be opened.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ConnectError {
    #[error("DNS lookup of '{host}' failed: {reason}")]
    Dns { host: String, reason: String },
    #[error("connection to {addr} refused")]
    Refused { addr: SocketAddr },
    #[error("connecting to {host}:{port} timed out after {after:?}")]
    Timeout {
        host: String,
        port: u16,
        after: Duration,
    },
    #[error("connecting to {addr} failed: {reason}")]
    Io { addr: SocketAddr, reason: String },
    #[error("TLS handshake with {host} failed: {reason}")]
    Tls { host: String, reason: String },
    #[error("invalid TLS server name '{0}'")]
    InvalidServerName(String),
}

/// Connection settings shared by every connection of one upstream pool.
#[derive(Clone)]
pub struct Connector {
    pub connect_timeout: Duration,
    /// Some: wrap connections in TLS, naming `server_name` in SNI and verification.
    pub tls: Option<(Arc<ClientConfig>, String)>,
}

impl Connector {
    /// Opens a connection to `host:port` and returns it with the address it reached.
    pub async fn open(
        &self,
        host: &str,
        port: u16,
    ) -> Result<(UpstreamStream, SocketAddr), ConnectError> {
        let host = host.trim_matches(['[', ']']).to_string();
        let deadline = self.connect_timeout;
        let attempt = async {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
                .await
                .map_err(|e| ConnectError::Dns {
                    host: host.clone(),
                    reason: e.to_string(),
                })?
                .collect();
            let mut last = None;
            for addr in addrs {
                match TcpStream::connect(addr).await {
                    Ok(stream) => {
                        // Proxied requests are small writes that must not wait for Nagle.
                        let _ = stream.set_nodelay(true);
                        return Ok(stream);
                    }
                    Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                        last = Some(ConnectError::Refused { addr })
                    }
                    Err(e) => {
                        last = Some(ConnectError::Io {
                            addr,
                            reason: e.to_string(),
                        })
                    }
                }
            }
            Err(last.unwrap_or_else(|| ConnectError::Dns {
                host: host.clone(),
                reason: "no addresses".into(),
            }))
        };
        let tcp = tokio::time::timeout(deadline, attempt)
            .await
            .map_err(|_| ConnectError::Timeout {
                host: host.clone(),
                port,
                after: deadline,
            })??;
        let peer = tcp.peer_addr().map_err(|e| ConnectError::Io {
            addr: SocketAddr::from(([0, 0, 0, 0], port)),
            reason: e.to_string(),
        })?;
        let Some((config, server_name)) = self.tls.clone() else {
            return Ok((UpstreamStream::Plain(tcp), peer));
        };
        let name = ServerName::try_from(server_name.clone())
            .map_err(|_| ConnectError::InvalidServerName(server_name.clone()))?;
        let tls = tokio::time::timeout(
            deadline,
            tokio_rustls::TlsConnector::from(config).connect(name, tcp),
        )
        .await
        .map_err(|_| ConnectError::Timeout {
            host: host.clone(),
            port,
            after: deadline,
        })?
        .map_err(|e| ConnectError::Tls {
            host: server_name,
            reason: e.to_string(),
        })?;
        Ok((UpstreamStream::Tls(Box::new(tls)), peer))
    }
}

/// A connection to a backend, plain or TLS.
pub enum UpstreamStream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

/// The backend address a response came from, found in the response's extensions.
#[derive(Debug, Clone, Copy)]
pub struct UpstreamAddr(pub SocketAddr);

impl UpstreamStream {
    /// Whether TLS negotiated HTTP/2 by ALPN.
    pub fn negotiated_h2(&self) -> bool {
        match self {
            Self::Plain(_) => false,
            Self::Tls(tls) => tls.get_ref().1.alpn_protocol() == Some(b"h2"),
        }
    }
}

impl AsyncRead for UpstreamStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for UpstreamStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_flush(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Self::Plain(s) => s.is_write_vectored(),
            Self::Tls(s) => s.is_write_vectored(),
        }
    }
}
