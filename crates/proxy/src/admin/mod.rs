//! The operator endpoints: admin (config dump, status, log level), metrics and readiness.
//! Each is a tiny HTTP/1.1 server on its own address.

mod routes;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::Shared;
use crate::body::BoxBody;

pub use routes::{admin, metrics, readiness};

/// Runs one operator server until the process ends.
pub async fn serve<F, Fut>(listener: TcpListener, shared: Arc<Shared>, handler: F)
where
    F: Fn(Arc<Shared>, Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Response<BoxBody>> + Send + 'static,
{
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let shared = shared.clone();
        let handler = handler.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let shared = shared.clone();
                let handler = handler.clone();
                async move { Ok::<_, Infallible>(handler(shared, request).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Binds an operator address, naming it in the error.
pub async fn bind(what: &str, addr: SocketAddr) -> Result<TcpListener, std::io::Error> {
    TcpListener::bind(addr).await.map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("cannot bind the {what} address {addr}: {e}"),
        )
    })
}
