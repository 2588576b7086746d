//! Helpers for tests: real in-process upstream servers, certificates, ports and clients.
//! A dev-dependency only; nothing here is compiled into the gateway.

// Test helpers fail loudly: a broken fixture should stop the test at once.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

pub mod certs;
pub mod client;
pub mod provider_mock;
pub mod redis;
pub mod upstream;

/// A port that was free a moment ago on 127.0.0.1 (the OS picks it).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}
