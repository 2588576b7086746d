//! Minimal gRPC clients for the two Envoy external services the gateway calls:
//! external authorization (`envoy.service.auth.v3.Authorization/Check`, as Envoy's
//! `ext_authz` filter) and global rate limiting
//! (`envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit`, as Envoy's `ratelimit`
//! filter). Any service written for Envoy can serve the gateway unchanged.
//!
//! Everything is written by hand over hyper, without a gRPC framework or generated code:
//! the services need two unary calls and a few dozen message fields, which a small
//! protobuf codec and HTTP/2 framing cover at a
//! fraction of the build cost. Only plaintext HTTP/2 (h2c) is spoken, as to a sidecar or a
//! service on the cluster network.
//!
//! Build one [`GrpcChannel`] per configured service, at configuration time, and wrap it in
//! the client for that service:
//!
//! ```no_run
//! # async fn demo() -> Result<(), envoy_grpc::GrpcError> {
//! use std::time::Duration;
//! use envoy_grpc::{GrpcChannel, RateLimitClient};
//!
//! let channel = GrpcChannel::new("ratelimit:8081", Duration::from_millis(200))?;
//! let limits = RateLimitClient::new(channel);
//! let descriptor = vec![("user".to_owned(), "alice".to_owned())];
//! let verdict = limits.should_rate_limit("gateway", &[descriptor], 1).await?;
//! if verdict.over_limit { /* answer 429 */ }
//! # Ok(()) }
//! ```
//!
//! Envoy's ext_authz can also call a plain HTTP service (`http_service`): the
//! [`HttpAuthzClient`] speaks that mode over pooled HTTP/1.1 connections and returns the same
//! [`AuthzVerdict`].
//!
//! With the `testing` feature, the `testing` module provides in-process services to test against.

mod authz;
mod authz_proto;
mod grpc;
mod http_authz;
mod proto;
mod ratelimit;
mod ratelimit_proto;
#[cfg(feature = "testing")]
pub mod testing;

pub use authz::{AuthzRequest, AuthzVerdict, CHECK_PATH, ExtAuthzClient};
pub use grpc::{GrpcChannel, GrpcError, code_name};
pub use http_authz::{DEFAULT_ALLOWED_HEADERS, HttpAuthzClient, HttpAuthzError};
pub use proto::DecodeError;
pub use ratelimit::{RateLimitClient, RateLimitVerdict, SHOULD_RATE_LIMIT_PATH};
