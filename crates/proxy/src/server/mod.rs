//! Accepting connections on the configured ports.

pub mod listener;
pub mod tls;
