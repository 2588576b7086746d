//! The resource model: serde types that mirror the YAML users write, one to one.
//!
//! Every struct denies unknown fields so that a misspelt key is an error instead of a
//! silently ignored setting. Types here hold strings exactly as written; parsing into
//! durations, regexes and header names happens in the `config` crate's compiler.

#[macro_use]
mod macros;

pub mod backend;
pub mod gateway;
pub mod grant;
pub mod httproute;
pub mod meta;
pub mod parameters;
pub mod policy;
pub mod resource;
pub mod schema;
pub mod secret;

pub use resource::{Resource, ResourceKind};
