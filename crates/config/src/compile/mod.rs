//! The compiler: raw resources -> IR. Pure and synchronous; collects every error.
//!
//! Order matters only through data: secrets first (everything refers to them), then
//! backends and policies (routes refer to both), then listeners, then routes, which are
//! attached to listeners last.

mod backend;
mod cloud_credentials;
mod filters;
mod gateway;
mod matches;
mod mcp_backend;
mod parameters;
mod policy;
mod refs;
mod route;
mod secrets;
mod tls;
mod traffic;

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::error::{ConfigError, ConfigErrors};
use crate::ir::Config;
use crate::status::{AncestorStatus, Condition, ResourceStatus};
use crate::store::{Entry, ObjectKey, ResourceStore};

/// How `${VAR}` in Secrets is looked up; injected so tests never touch the real environment.
pub type EnvLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

#[derive(Clone)]
pub struct CompileOptions {
    pub env: EnvLookup,
}

impl Default for CompileOptions {
    fn default() -> Self {
        Self {
            env: Arc::new(crate::env::process_env),
        }
    }
}

impl std::fmt::Debug for CompileOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompileOptions").finish_non_exhaustive()
    }
}

/// State shared by the compile steps: the input and everything found so far.
pub(crate) struct Ctx<'a> {
    pub store: &'a ResourceStore,
    pub errors: ConfigErrors,
    pub warnings: Vec<ConfigError>,
    pub statuses: BTreeMap<ObjectKey, Vec<Condition>>,
    /// Policy conditions per target.
    pub ancestors: BTreeMap<ObjectKey, Vec<AncestorStatus>>,
    /// The environment (Secret interpolation, AWS keys when no Secret names them).
    pub env: EnvLookup,
}

impl<'a> Ctx<'a> {
    fn new(store: &'a ResourceStore, env: EnvLookup) -> Self {
        Self {
            store,
            env,
            errors: ConfigErrors::default(),
            warnings: Vec::new(),
            statuses: BTreeMap::new(),
            ancestors: BTreeMap::new(),
        }
    }

    /// An error about `path` inside `entry`.
    pub fn error<T>(
        &mut self,
        entry: &Entry<T>,
        path: &str,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        let hint = hint.into();
        let mut error = ConfigError::new(message)
            .at(Some(entry.location(path)))
            .resource(&entry.key)
            .field(path);
        if !hint.is_empty() {
            error = error.hint(hint);
        }
        self.errors.push(error);
    }

    pub fn warn<T>(
        &mut self,
        entry: &Entry<T>,
        path: &str,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        let error = ConfigError::new(message)
            .at(Some(entry.location(path)))
            .resource(&entry.key)
            .field(path)
            .hint(hint);
        self.warnings.push(error);
    }

    pub fn condition(&mut self, key: &ObjectKey, condition: Condition) {
        self.statuses
            .entry(key.clone())
            .or_default()
            .push(condition);
    }
}

/// Compiles a store into a Config, or returns every error found.
/// A Secret with an error of its own (an unset `${VAR}`) is missing the values it would
/// have had; what its users say about those values (no `tls.crt` key, no keys at all)
/// would go away with the Secret's fix, so only the Secret's error is kept.
fn drop_consequences_of_broken_secrets(errors: &mut ConfigErrors) {
    let is_secret = |key: &ObjectKey| key.kind == api::ResourceKind::Secret;
    let broken = errors.resources(is_secret);
    errors
        .0
        .retain(|e| e.resource.as_ref().is_some_and(is_secret) || !e.names_any(&broken));
}

pub fn compile(store: &ResourceStore, options: &CompileOptions) -> Result<Config, ConfigErrors> {
    let mut ctx = Ctx::new(store, options.env.clone());
    let secrets = secrets::resolve(&mut ctx, &options.env);
    let backends = backend::compile_all(&mut ctx, &secrets);
    let policies = policy::compile_all(&mut ctx, &secrets);
    let remote_jwks = policies.remote_jwks.clone();
    let mut listeners = gateway::compile_listeners(&mut ctx, &secrets);
    route::attach_all(&mut ctx, &mut listeners, &backends, &policies);
    let ports = gateway::bind_ports(&mut ctx, listeners);
    // Nothing to serve is never what was meant, least of all when it replaces a running
    // configuration: an empty or truncated file lands here.
    if ports.is_empty() && ctx.errors.is_empty() {
        ctx.errors.push(
            ConfigError::new("the configuration has no Gateway listener, so it would serve nothing")
                .hint("add a Gateway with at least one listener; an empty or half-written file also reads this way"),
        );
    }
    let (logging, shutdown) = parameters::process_settings(&mut ctx);
    accept_remaining(&mut ctx);

    if !ctx.errors.is_empty() {
        drop_consequences_of_broken_secrets(&mut ctx.errors);
        ctx.errors.sort_by_location();
        return Err(ctx.errors);
    }
    let mut ancestors = ctx.ancestors;
    let statuses = ctx
        .statuses
        .into_iter()
        .map(|(resource, conditions)| ResourceStatus {
            ancestors: ancestors.remove(&resource).unwrap_or_default(),
            resource,
            conditions,
        })
        .collect();
    Ok(Config {
        ports,
        backends,
        logging,
        shutdown,
        statuses,
        warnings: ctx.warnings,
        resource_count: store.len(),
        remote_jwks,
    })
}

/// Kinds with no behaviour of their own (Secrets, grants, classes) are accepted as loaded.
fn accept_remaining(ctx: &mut Ctx<'_>) {
    let keys: Vec<ObjectKey> = ctx
        .store
        .secrets
        .keys()
        .chain(ctx.store.grants.keys())
        .chain(ctx.store.gateway_classes.keys())
        .chain(ctx.store.parameters.keys())
        .cloned()
        .collect();
    for key in keys {
        if !ctx.statuses.contains_key(&key) {
            ctx.condition(&key, Condition::ok("Accepted", "Accepted", "loaded"));
        }
    }
}
