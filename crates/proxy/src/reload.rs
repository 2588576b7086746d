//! Watches the configuration files and applies changes. Polling (not inotify) keeps this
//! simple and works the same for files replaced by editors, symlinks and mounted volumes.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use config::{CompileOptions, load_and_compile, load_path};

use crate::gateway::Gateway;

/// A fingerprint of the files' names and contents; a change in any of them is a reload.
pub fn fingerprint(path: &Path) -> u64 {
    let mut hasher = DefaultHasher::new();
    for file in config::source::watched_files(path) {
        file.hash(&mut hasher);
        match std::fs::read(&file) {
            Ok(bytes) => bytes.hash(&mut hasher),
            Err(e) => e.kind().to_string().hash(&mut hasher),
        }
    }
    hasher.finish()
}

/// Reloads `path` whenever its fingerprint changes, until the task is dropped.
pub async fn watch(
    gateway: Arc<Gateway>,
    path: PathBuf,
    options: CompileOptions,
    interval: Duration,
) {
    let mut last = fingerprint(&path);
    // What the last poll saw: a change is applied once a poll finds the file as the one
    // before did, so a file still being written (an editor's save, a `cat >` of several
    // documents) is not applied half-way.
    let mut seen = last;
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let current = fingerprint(&path);
        let settled = current == seen;
        seen = current;
        if current == last || !settled {
            continue;
        }
        last = current;
        reload(&gateway, &path, &options).await;
    }
}

/// Loads, compiles and applies once; a bad configuration is logged and the old one stays.
pub async fn reload(gateway: &Gateway, path: &Path, options: &CompileOptions) -> bool {
    let compiled = load_path(path).and_then(|docs| load_and_compile(docs, options));
    match compiled {
        Ok(config) => {
            for warning in &config.warnings {
                tracing::warn!(%warning, "configuration warning");
            }
            let resources = config.resource_count;
            match gateway.apply(config).await {
                Ok(()) => {
                    tracing::info!(path = %path.display(), resources, "configuration reloaded");
                    true
                }
                Err(error) => {
                    tracing::error!(%error, "configuration rejected; the previous one keeps serving");
                    false
                }
            }
        }
        Err(errors) => {
            tracing::error!(path = %path.display(), "configuration rejected; the previous one keeps serving:\n{errors}");
            gateway.reject(&errors);
            false
        }
    }
}
