//! One accept loop per port: TCP, optional TLS, then HTTP/1.1 or HTTP/2 (by ALPN, or by the
//! h2c preface in plain text). Stopping a port stops accepting; its open connections drain.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::Shared;
use crate::pipeline::{self, Connection};
use crate::server::idle::{Activity, close_when_idle};

/// How long a client may take to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an HTTP/2 client has to answer a keep-alive ping before its connection is closed.
const H2_PING_TIMEOUT: Duration = Duration::from_secs(20);

/// The HTTP/2 header-list limit: above `pipeline::MAX_HEAD_BYTES` with room for HPACK's
/// per-field overhead.
const MAX_H2_HEADER_LIST: u32 = 96 * 1024;

/// Runs the accept loop until `stop` fires, then waits up to `drain` for open connections.
pub async fn serve_port(
    shared: Arc<Shared>,
    listener: TcpListener,
    port: u16,
    tls: Option<TlsAcceptor>,
    mut stop: watch::Receiver<bool>,
    drain: Duration,
    idle_timeout: Duration,
) {
    let graceful = GracefulShutdown::new();
    let mut builder = Builder::new(TokioExecutor::new());
    // No per-request header-read timer: `idle::close_when_idle` closes slow and idle
    // connections with one timer per connection. Head and body go out in one flat buffer
    // rather than a queue of buffers for writev: answers are mostly small, and copying a
    // small body beside its head costs less than queueing it (2-3% fewer instructions
    // per proxied request, measured with callgrind; the syscall count is the same).
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(None)
        .writev(false);
    // HTTP/2 connections are not closed for idleness (clients multiplex on them and
    // expect them to last); a peer that stops answering pings is.
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(idle_timeout))
        .keep_alive_timeout(H2_PING_TIMEOUT)
        // Room above the gateway's own 60 KiB head limit (HPACK counts 32 bytes more per
        // field), so an oversized head gets the gateway's JSON 431, not h2's bare refusal
        // at its 16 KiB default.
        .max_header_list_size(MAX_H2_HEADER_LIST);
    let builder = Arc::new(builder);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.changed() => break,
        };
        let (stream, client) = match accepted {
            Ok(pair) => pair,
            Err(error) => {
                // Usually EMFILE: back off instead of spinning.
                tracing::warn!(port, %error, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let watcher = graceful.watcher();
        let shared = shared.clone();
        let builder = builder.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let conn = Connection {
                client,
                port,
                tls: tls.is_some(),
            };
            let activity = Arc::new(Activity::default());
            let service = service_fn({
                let activity = activity.clone();
                move |request: hyper::Request<hyper::body::Incoming>| {
                    let shared = shared.clone();
                    let busy = activity.begin(request.version());
                    async move {
                        Ok::<_, Infallible>(pipeline::handle(shared, conn, request, busy).await)
                    }
                }
            });
            let result = match tls {
                None => {
                    let serving = watcher.watch(
                        builder.serve_connection_with_upgrades(TokioIo::new(stream), service),
                    );
                    close_when_idle(serving, activity, idle_timeout).await
                }
                Some(acceptor) => {
                    let stream = match tokio::time::timeout(
                        HANDSHAKE_TIMEOUT,
                        acceptor.accept(stream),
                    )
                    .await
                    {
                        Ok(Ok(s)) => s,
                        Ok(Err(error)) => {
                            return tracing::debug!(%client, %error, "TLS handshake failed");
                        }
                        Err(_) => return tracing::debug!(%client, "TLS handshake timed out"),
                    };
                    let serving = watcher.watch(
                        builder.serve_connection_with_upgrades(TokioIo::new(stream), service),
                    );
                    close_when_idle(serving, activity, idle_timeout).await
                }
            };
            match result {
                Some(Ok(())) => {}
                Some(Err(error)) => {
                    tracing::debug!(%client, %error, "connection ended with an error");
                }
                None => tracing::debug!(%client, "closed an idle connection"),
            }
        });
    }
    drop(listener);
    tracing::info!(port, "stopped accepting; draining open connections");
    if tokio::time::timeout(drain, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            port,
            ?drain,
            "connections still open after the drain deadline; closing them"
        );
    }
}

/// Binds a port on `ip`.
pub async fn bind(ip: std::net::IpAddr, port: u16) -> std::io::Result<TcpListener> {
    TcpListener::bind(SocketAddr::new(ip, port)).await
}
