//! LLM wire formats, as pure functions over bytes and JSON: which client API a request
//! speaks, how a request is prepared for a provider, the error shapes clients parse, token
//! usage, and server-sent events. No networking here: the proxy drives these.

pub mod anthropic;
pub mod error;
pub mod openai;
mod request;
pub mod route;
pub mod sse;
pub mod translate;
pub mod usage;

pub use error::LlmError;
pub use route::ClientApi;
pub use usage::Usage;
