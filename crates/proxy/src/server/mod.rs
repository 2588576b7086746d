//! Accepting connections on the configured ports.

pub mod idle;
pub mod listener;
pub mod tls;
