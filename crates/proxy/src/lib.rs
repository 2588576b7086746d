//! The data plane: listeners, the request pipeline, upstream pools, operator endpoints.

pub mod access_log;
pub mod admin;
mod admission;
pub mod body;
mod deadline;
pub mod error;
pub mod forward;
pub mod gateway;
pub mod gen_ai_metrics;
mod jwks;
pub mod llm_route;
pub mod mcp_route;
pub mod metrics;
pub mod mirror;
pub mod observed;
mod path_normal;
pub mod pipeline;
pub mod reload;
pub mod server;
pub mod snapshot;
mod tunnel;
pub mod upstream;

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use arc_swap::ArcSwap;
use serde_json::{Value, json};

pub use gateway::{Gateway, GatewayOptions, StartError};

use crate::metrics::Metrics;
use crate::snapshot::Snapshot;
use crate::upstream::UpstreamPools;

/// Changes the process log filter at runtime (implemented by the binary over its logger).
pub trait LogControl: Send + Sync {
    fn level(&self) -> String;
    fn set_level(&self, filter: &str) -> Result<(), String>;
}

/// The outcome of the latest configuration load.
#[derive(Debug, Clone)]
pub struct ReloadOutcome {
    pub at: SystemTime,
    pub errors: Vec<String>,
}

/// State every connection and operator endpoint reads.
pub struct Shared {
    pub snapshot: ArcSwap<Snapshot>,
    pub metrics: Arc<Metrics>,
    pub pools: UpstreamPools,
    pub ready: AtomicBool,
    pub log_control: Option<Arc<dyn LogControl>>,
    pub last_reload: Mutex<Option<ReloadOutcome>>,
    /// Where the configuration comes from, for `/status`.
    pub source: String,
}

impl Shared {
    /// What the admin API's `/status` shows.
    pub fn status_report(&self) -> Value {
        let snapshot = self.snapshot.load();
        let config = &snapshot.config;
        let last = self
            .last_reload
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        json!({
            "source": self.source,
            "ready": self.ready.load(std::sync::atomic::Ordering::Acquire),
            "resources": config.resource_count,
            "ports": config.ports.iter().map(|p| json!({
                "port": p.port,
                "protocol": p.protocol,
                "listeners": p.listeners.iter().map(|l| l.qualified_name.to_string()).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "statuses": config.statuses,
            "warnings": config.warnings.iter().map(|w| w.to_string()).collect::<Vec<_>>(),
            "lastReload": last.map(|r| json!({
                "at": r.at.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default(),
                "ok": r.errors.is_empty(),
                "errors": r.errors,
            })),
        })
    }
}
