//! LLM wire formats, as pure functions over bytes and JSON: which client API a request
//! speaks, how a request is prepared for a provider, the error shapes clients parse, token
//! usage, and server-sent events. No networking here: the proxy drives these.

pub mod anthropic;
pub mod aws;
pub mod azure;
pub mod error;
pub mod gcp;
pub mod gemini;
pub mod guard;
mod json_members;
pub use json_members::has_any_member;
pub mod openai;
pub mod policy;
mod request;
pub mod route;
pub mod sse;
pub mod tokens;
pub mod translate;
pub mod usage;

pub use error::LlmError;
pub use route::ClientApi;
pub use usage::Usage;

/// A provider sample from the project's shared fixtures (checked against the official SDKs).
#[cfg(test)]
pub(crate) fn fixture(path: &str) -> Vec<u8> {
    let full = format!(
        "{}/../../../shared/fixtures/providers/{path}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}
