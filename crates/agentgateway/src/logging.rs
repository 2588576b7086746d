//! Process logging: text or JSON lines, with a filter that the admin API can change.

use std::sync::Arc;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Registry, reload};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

struct FilterControl {
    handle: reload::Handle<EnvFilter, Registry>,
}

impl proxy::LogControl for FilterControl {
    fn level(&self) -> String {
        self.handle
            .with_current(|f| f.to_string())
            .unwrap_or_default()
    }

    fn set_level(&self, filter: &str) -> Result<(), String> {
        let parsed = EnvFilter::try_new(filter)
            .map_err(|e| format!("'{filter}' is not a valid log filter: {e}"))?;
        self.handle.reload(parsed).map_err(|e| e.to_string())?;
        tracing::info!(filter, "log filter changed");
        Ok(())
    }
}

/// Installs the global logger; returns the control the admin API uses.
pub fn init(filter: &str, format: LogFormat) -> anyhow::Result<Arc<dyn proxy::LogControl>> {
    let filter = EnvFilter::try_new(filter)
        .map_err(|e| anyhow::anyhow!("invalid log filter '{filter}': {e}"))?;
    let (filter, handle) = reload::Layer::new(filter);
    let registry = tracing_subscriber::registry().with(filter);
    match format {
        LogFormat::Text => {
            let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
            registry
                .with(
                    tracing_subscriber::fmt::layer()
                        .with_ansi(ansi)
                        .with_writer(std::io::stdout),
                )
                .try_init()?
        }
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(false)
                    .with_writer(std::io::stdout),
            )
            .try_init()?,
    }
    Ok(Arc::new(FilterControl { handle }))
}
