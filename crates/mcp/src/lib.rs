//! The MCP gateway: one endpoint in front of many MCP servers ("targets").
//!
//! Messages stay JSON objects end to end (`jsonrpc`): the gateway forwards methods and fields
//! it has no rule for, so a server behind it keeps every capability it has alone. That is why
//! this crate does not use the `rmcp` SDK's typed model, which would drop or refuse what it
//! does not know, and whose transports would bypass the gateway's own connection pools, TLS
//! and credentials. HTTP comes from the proxy through [`target::HttpClient`].
//!
//! - [`service::McpService`]: a backend's targets and sessions (start, resume, expire, end).
//! - [`dispatch`]: where each message goes and how answers merge.
//! - [`mux`]: prefixing, merging and cursors, as pure functions.
//! - [`session_token`]: sealed session ids that any replica with the key can resume.
//! - [`target`]: Streamable HTTP, legacy SSE and stdio connections.

pub mod dispatch;
pub mod jsonrpc;
pub mod mux;
pub mod service;
pub mod session;
pub mod session_token;
pub mod target;
