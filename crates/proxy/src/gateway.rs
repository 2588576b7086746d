//! The running gateway: applies configurations, keeps the set of bound ports in step with
//! them, and shuts down gracefully.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use config::ConfigErrors;
use config::ir::{Config, ListenerProtocol, LoggingSettings};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use crate::metrics::Metrics;
use crate::server::{listener, tls};
use crate::snapshot::Snapshot;
use crate::upstream::UpstreamPools;
use crate::{LogControl, ReloadOutcome, Shared};

#[derive(Debug, Clone)]
pub struct GatewayOptions {
    /// Address the Gateway listeners bind on (their ports come from the config).
    pub bind: IpAddr,
    /// How long open connections may finish after a stop.
    pub drain_timeout: Duration,
    /// Shown in `/status`.
    pub source: String,
    /// Key sealing MCP session ids (64 hex digits or base64 of 32 bytes). Replicas that
    /// share it resume each other's sessions; without one a random key is used.
    pub mcp_session_key: Option<String>,
    /// A client connection with no request in flight and none started for this long is
    /// closed (an idle keep-alive connection, or a client that never finishes a request
    /// head); it goes after one to two periods.
    pub client_idle_timeout: Duration,
}

impl Default for GatewayOptions {
    fn default() -> Self {
        Self {
            bind: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            drain_timeout: Duration::from_secs(10),
            source: String::new(),
            mcp_session_key: None,
            client_idle_timeout: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(
        "cannot listen on port {port}: {source} (hint: another process may use it; change the Gateway listener port)"
    )]
    Bind { port: u16, source: std::io::Error },
    #[error("TLS setup failed: {0}")]
    Tls(#[from] rustls::Error),
    #[error("MCP session key: {0} (hint: AGENTGATEWAY_MCP_SESSION_KEY=$(openssl rand -hex 32))")]
    McpSessionKey(#[from] mcp::session_token::KeyError),
}

struct PortTask {
    protocol: ListenerProtocol,
    local: SocketAddr,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

pub struct Gateway {
    shared: Arc<Shared>,
    options: GatewayOptions,
    ports: tokio::sync::Mutex<BTreeMap<u16, PortTask>>,
    // Serialises apply() calls so two reloads never interleave.
    applying: Mutex<()>,
}

impl Gateway {
    /// Prepares the first configuration and binds its ports.
    pub async fn start(
        config: Config,
        options: GatewayOptions,
        log_control: Option<Arc<dyn LogControl>>,
    ) -> Result<Arc<Self>, StartError> {
        let metrics = Arc::new(Metrics::default());
        let codec = match &options.mcp_session_key {
            Some(key) => mcp::session_token::SessionCodec::from_text(key)?,
            None => mcp::session_token::SessionCodec::random()?,
        };
        let pools = UpstreamPools::new(Arc::new(codec));
        let snapshot = Snapshot::prepare(Arc::new(config), &pools, &metrics)?;
        let shared = Arc::new(Shared {
            snapshot: ArcSwap::from_pointee(snapshot),
            metrics,
            pools,
            ready: Default::default(),
            log_control,
            last_reload: Mutex::new(Some(ReloadOutcome {
                at: SystemTime::now(),
                errors: Vec::new(),
            })),
            source: options.source.clone(),
        });
        shared.metrics.reload(true);
        let gateway = Arc::new(Self {
            shared,
            options,
            ports: tokio::sync::Mutex::new(BTreeMap::new()),
            applying: Mutex::new(()),
        });
        gateway.sync_ports().await?;
        crate::jwks::spawn_refreshers(&gateway.shared.snapshot.load_full());
        gateway.shared.ready.store(true, Ordering::Release);
        Ok(gateway)
    }

    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Swaps in a new configuration. New ports are bound first; if one cannot be bound the
    /// old configuration keeps serving and the error is returned.
    pub async fn apply(&self, config: Config) -> Result<(), StartError> {
        let snapshot = {
            let _guard = self.applying.lock().unwrap_or_else(|p| p.into_inner());
            Snapshot::prepare(Arc::new(config), &self.shared.pools, &self.shared.metrics)
        };
        let snapshot = match snapshot {
            Ok(s) => Arc::new(s),
            Err(e) => {
                self.record_failure(vec![e.to_string()]);
                return Err(e.into());
            }
        };
        let previous = self.shared.snapshot.swap(snapshot.clone());
        if let Err(e) = self.sync_ports().await {
            self.shared.snapshot.store(previous);
            self.record_failure(vec![e.to_string()]);
            return Err(e);
        }
        crate::jwks::spawn_refreshers(&snapshot);
        self.follow_log_level(&previous.config.logging, &snapshot.config.logging);
        self.shared.metrics.reload(true);
        *self
            .shared
            .last_reload
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(ReloadOutcome {
            at: SystemTime::now(),
            errors: Vec::new(),
        });
        Ok(())
    }

    /// An edited `logging.level` takes effect at once, as `/logging` would set it. (The
    /// format is fixed when the process starts; it is not changed here.)
    fn follow_log_level(&self, before: &LoggingSettings, after: &LoggingSettings) {
        let (Some(level), Some(control)) = (&after.level, &self.shared.log_control) else {
            return;
        };
        if before.level.as_ref() == Some(level) {
            return;
        }
        match control.set_level(level) {
            Ok(()) => tracing::info!(%level, "log level changed by the configuration"),
            Err(error) => {
                tracing::warn!(%level, %error, "log level from the configuration not applied")
            }
        }
    }

    /// Records a configuration that did not compile; the current one keeps serving.
    pub fn reject(&self, errors: &ConfigErrors) {
        self.record_failure(errors.iter().map(|e| e.to_string()).collect());
    }

    fn record_failure(&self, errors: Vec<String>) {
        self.shared.metrics.reload(false);
        *self
            .shared
            .last_reload
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(ReloadOutcome {
            at: SystemTime::now(),
            errors,
        });
    }

    /// Binds ports the live configuration has and the process does not; stops the others.
    /// Every new port is bound before any running one is stopped, so a configuration that
    /// cannot be served (a port held by another process) leaves the old one serving whole.
    async fn sync_ports(&self) -> Result<(), StartError> {
        let snapshot = self.shared.snapshot.load_full();
        let mut ports = self.ports.lock().await;
        let wanted: BTreeMap<u16, ListenerProtocol> = snapshot
            .config
            .ports
            .iter()
            .map(|p| (p.port, p.protocol))
            .collect();
        let mut bound = Vec::new();
        for (&port, &protocol) in &wanted {
            if !ports.contains_key(&port) {
                bound.push((port, protocol, self.bind(port).await?));
            }
        }
        // Ports no longer wanted, or wanted with another protocol, stop; one that changes
        // protocol is bound again once its old socket is closed.
        let stale: Vec<u16> = ports
            .iter()
            .filter(|(port, task)| wanted.get(port) != Some(&task.protocol))
            .map(|(port, _)| *port)
            .collect();
        for port in stale {
            if let Some(task) = ports.remove(&port) {
                let _ = task.stop.send(true);
                if let Some(&protocol) = wanted.get(&port) {
                    bound.push((port, protocol, self.bind_when_free(port).await?));
                }
            }
        }
        for (port, protocol, listener) in bound {
            let local = listener
                .local_addr()
                .map_err(|source| StartError::Bind { port, source })?;
            let acceptor = match protocol {
                ListenerProtocol::Https => Some(TlsAcceptor::from(tls::server_config(
                    self.shared.clone(),
                    port,
                )?)),
                ListenerProtocol::Http => None,
            };
            let (stop, stopped) = watch::channel(false);
            let task = tokio::spawn(listener::serve_port(
                self.shared.clone(),
                listener,
                port,
                acceptor,
                stopped,
                self.options.drain_timeout,
                self.options.client_idle_timeout,
            ));
            tracing::info!(%local, ?protocol, "listening");
            ports.insert(
                port,
                PortTask {
                    protocol,
                    local,
                    stop,
                    task,
                },
            );
        }
        Ok(())
    }

    /// Binds a port this process is just letting go of: its accept loop closes the socket
    /// as soon as it sees the stop, which takes a moment.
    async fn bind_when_free(&self, port: u16) -> Result<tokio::net::TcpListener, StartError> {
        for _ in 0..50 {
            match listener::bind(self.options.bind, port).await {
                Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
                result => return result.map_err(|source| StartError::Bind { port, source }),
            }
        }
        self.bind(port).await
    }

    async fn bind(&self, port: u16) -> Result<tokio::net::TcpListener, StartError> {
        listener::bind(self.options.bind, port)
            .await
            .map_err(|source| StartError::Bind { port, source })
    }

    /// Addresses actually bound, by configured port.
    pub async fn local_addrs(&self) -> BTreeMap<u16, SocketAddr> {
        self.ports
            .lock()
            .await
            .iter()
            .map(|(port, task)| (*port, task.local))
            .collect()
    }

    /// Readiness answers 503 from now on; the listeners keep serving.
    pub fn stop_reporting_ready(&self) {
        self.shared.ready.store(false, Ordering::Release);
    }

    /// Stops accepting on every port and waits for open requests to finish (up to the
    /// drain timeout).
    pub async fn shutdown(&self) {
        self.stop_reporting_ready();
        let tasks: Vec<PortTask> = std::mem::take(&mut *self.ports.lock().await)
            .into_values()
            .collect();
        for task in &tasks {
            let _ = task.stop.send(true);
        }
        for task in tasks {
            let _ = task.task.await;
        }
    }
}
