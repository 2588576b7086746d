//! From YAML to the immutable IR the proxy serves.
//!
//! `load` reads files into raw resources (keeping where each came from), `compile` checks
//! them all and builds the IR, collecting every error instead of stopping at the first so
//! that a user fixes a configuration in one pass. Nothing here does network I/O.

pub mod compile;
pub mod dump;
pub mod duration;
pub mod env;
pub mod error;
pub mod ir;
pub mod locate;
pub mod parse;
pub mod source;
pub mod status;
pub mod store;

pub use compile::{CompileOptions, compile};
pub use error::{ConfigError, ConfigErrors, Location};
pub use ir::Config;
pub use source::{Document, load_path, load_str};
pub use store::ResourceStore;

/// Loads and compiles a configuration in one call: what `validate` and the reloader run.
pub fn load_and_compile(
    documents: Vec<Document>,
    options: &CompileOptions,
) -> Result<Config, ConfigErrors> {
    let (store, mut errors) = parse::parse_documents_leniently(&documents);
    if errors.is_empty() {
        return compile(&store, options);
    }
    // The documents that did parse are compiled too, so one run shows every error. What
    // only follows from a document that failed (a reference to it, no listener left) is
    // left out: it would go away with the fix.
    let unreadable = errors.resources(|_| true);
    if let Err(more) = compile(&store, options) {
        let follows =
            |e: &ConfigError| e.names_any(&unreadable) || e.message.contains("no Gateway listener");
        errors.0.extend(more.0.into_iter().filter(|e| !follows(e)));
        errors.sort_by_location();
    }
    Err(errors)
}
