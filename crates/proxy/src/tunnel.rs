//! WebSocket upgrades through static backends.
//!
//! A client's `Upgrade: websocket` request goes to the backend with its upgrade headers
//! (which are otherwise hop-by-hop and dropped). When the backend switches protocols
//! (101), the gateway answers the client with the 101 and joins the two connections,
//! copying bytes both ways until either side closes. Everything before the switch
//! (routing, authentication, rate limits, header edits) applied to the upgrade request
//! as to any other.
//!
//! Only WebSocket is tunnelled. Another upgrade (`h2c` above all) would hand the client a
//! raw connection to the backend on which later requests skip routing and policies, so
//! its headers are dropped as before and the backend answers plain HTTP.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Extensions, Version};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::io::AsyncWriteExt;

use crate::error::ProxyError;
use crate::upstream::connector::UpstreamStream;

/// The only protocol a connection is switched to.
const WEBSOCKET: HeaderValue = HeaderValue::from_static("websocket");
const UPGRADE: HeaderValue = HeaderValue::from_static("upgrade");

/// A client request that asked to switch to WebSocket: hyper hands over its connection
/// once the 101 has been written.
pub(crate) struct ClientUpgrade {
    on_upgrade: OnUpgrade,
}

/// The backend's side of a switched connection, carried from the HTTP/1.1 client to the
/// pipeline in the 101 response's extensions (which must be `Clone`, hence the slot).
#[derive(Clone)]
pub struct SwitchedConnection(Arc<Mutex<Option<BackendSide>>>);

struct BackendSide {
    io: UpstreamStream,
    /// What the backend sent after its 101 head, read with it: the tunnel's first bytes.
    early: Bytes,
}

impl SwitchedConnection {
    pub(crate) fn new(io: UpstreamStream, early: Bytes) -> Self {
        Self(Arc::new(Mutex::new(Some(BackendSide { io, early }))))
    }

    fn take(&self) -> Option<BackendSide> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

/// The client's WebSocket upgrade, when this HTTP/1.1 request asks for one: `Upgrade`
/// names `websocket` and `Connection` names `upgrade`.
pub(crate) fn requested(parts: &mut http::request::Parts) -> Option<ClientUpgrade> {
    // hyper leaves a handle only on requests that ask for an upgrade: the cheap test
    // first, since every request to a static backend passes here.
    if parts.version != Version::HTTP_11
        || parts.extensions.get::<OnUpgrade>().is_none()
        || !names(&parts.headers, header::UPGRADE, "websocket")
        || !names(&parts.headers, header::CONNECTION, "upgrade")
    {
        return None;
    }
    let on_upgrade = parts.extensions.remove::<OnUpgrade>()?;
    Some(ClientUpgrade { on_upgrade })
}

/// Whether a comma-separated header lists `token` (case-insensitively; a protocol
/// version such as `websocket/13` counts as its name).
fn names(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|item| item.trim().split('/').next().unwrap_or_default())
        .any(|item| item.eq_ignore_ascii_case(token))
}

/// Puts the upgrade headers (dropped with the other hop-by-hop ones) back on a message
/// that asks for or answers a switch to WebSocket.
pub(crate) fn restore_headers(headers: &mut HeaderMap) {
    headers.insert(header::CONNECTION, UPGRADE);
    headers.insert(header::UPGRADE, WEBSOCKET);
}

/// Joins the client's connection to the backend's once the 101 reaches the client. The
/// copying runs in a task of its own, beyond the request's deadlines: a WebSocket lives
/// as long as its two ends keep it open.
pub(crate) fn open(
    client: Option<ClientUpgrade>,
    extensions: &mut Extensions,
    backend: &str,
) -> Result<(), ProxyError> {
    let backend_side = extensions
        .remove::<SwitchedConnection>()
        .and_then(|slot| slot.take());
    let (Some(client), Some(backend_side)) = (client, backend_side) else {
        return Err(ProxyError::UpstreamProtocol {
            backend: backend.to_string(),
            reason: "the backend switched protocols (101) to a request that did not ask to".into(),
        });
    };
    tokio::spawn(splice(client.on_upgrade, backend_side));
    Ok(())
}

async fn splice(client: OnUpgrade, backend: BackendSide) {
    let upgraded = match client.await {
        Ok(upgraded) => upgraded,
        Err(error) => return tracing::debug!(%error, "the client left before the upgrade"),
    };
    let mut client = TokioIo::new(upgraded);
    let mut backend_io = backend.io;
    if !backend.early.is_empty()
        && let Err(error) = client.write_all(&backend.early).await
    {
        return tracing::debug!(%error, "writing to the upgraded client connection failed");
    }
    match tokio::io::copy_bidirectional(&mut client, &mut backend_io).await {
        Ok((to_backend, to_client)) => {
            tracing::debug!(to_backend, to_client, "WebSocket tunnel closed");
        }
        Err(error) => tracing::debug!(%error, "WebSocket tunnel ended with an error"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    #[test]
    fn finds_tokens_in_any_case_and_position() {
        let h = headers(&[
            ("connection", "keep-alive, Upgrade"),
            ("upgrade", "WebSocket"),
        ]);
        assert!(names(&h, header::CONNECTION, "upgrade"));
        assert!(names(&h, header::UPGRADE, "websocket"));
        let versioned = headers(&[("upgrade", "websocket/13")]);
        assert!(names(&versioned, header::UPGRADE, "websocket"));
    }

    #[test]
    fn other_protocols_are_not_websocket() {
        let h = headers(&[
            ("connection", "upgrade, http2-settings"),
            ("upgrade", "h2c"),
        ]);
        assert!(!names(&h, header::UPGRADE, "websocket"));
        let h = headers(&[("upgrade", "websockets")]);
        assert!(!names(&h, header::UPGRADE, "websocket"));
    }
}
