//! `agentgateway run`: serve until SIGTERM/SIGINT, reloading the files when they change.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use config::{CompileOptions, Config, load_and_compile, load_path};
use proxy::{Gateway, GatewayOptions, admin};

use crate::default_config;
use crate::logging::{self, LogFormat};

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// A multi-document YAML file, or a directory of *.yaml / *.yml files. It is watched and
    /// reloaded on change. Without it the embedded default configuration serves.
    #[arg(short = 'f', long = "file", value_name = "PATH")]
    file: Option<PathBuf>,
    /// Address the Gateway listeners bind on; their ports come from the configuration.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::UNSPECIFIED))]
    bind: IpAddr,
    /// Admin API (config dump, status, log level).
    #[arg(long, default_value = "127.0.0.1:15000")]
    admin_addr: SocketAddr,
    /// Prometheus metrics at /metrics.
    #[arg(long, default_value = "0.0.0.0:15020")]
    metrics_addr: SocketAddr,
    /// Readiness probe at /healthz/ready.
    #[arg(long, default_value = "0.0.0.0:15021")]
    readiness_addr: SocketAddr,
    /// Log filter in RUST_LOG syntax; overrides RUST_LOG and AgentgatewayParameters.
    #[arg(long)]
    log_level: Option<String>,
    /// Log format; overrides AgentgatewayParameters.spec.logging.format.
    #[arg(long, value_enum)]
    log_format: Option<LogFormat>,
    /// How long in-flight requests may finish after SIGTERM before connections are closed;
    /// overrides AgentgatewayParameters.spec.shutdown.max [default: 10s].
    #[arg(long, value_parser = parse_duration)]
    drain_timeout: Option<Duration>,
    /// Close a client connection once it has had no request in flight and none started for
    /// this long (idle keep-alive connections, clients that never finish a request head);
    /// it goes after one to two periods. HTTP/2 connections are not closed this way.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    client_idle_timeout: Duration,
    /// Threads serving traffic; defaults to the CPUs this process may use. With 1, a
    /// single-threaded runtime serves everything (no cross-thread scheduling at all).
    #[arg(long)]
    worker_threads: Option<usize>,
    /// How often the configuration files are checked for changes.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    reload_interval: Duration,
    /// Key that seals MCP session ids: 64 hex digits or base64 of 32 bytes. Replicas with the
    /// same key resume each other's sessions; without it each process uses a random key.
    #[arg(long, env = "AGENTGATEWAY_MCP_SESSION_KEY", hide_env_values = true)]
    mcp_session_key: Option<String>,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    config::duration::parse_duration(s).map_err(|e| e.to_string())
}

pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let options = CompileOptions::default();
    let (config, source) = match &args.file {
        Some(path) => (
            load_and_compile(load_path(path).map_err(report)?, &options).map_err(report)?,
            path.display().to_string(),
        ),
        None => (
            load_and_compile(default_config::documents(&options), &options).map_err(report)?,
            "embedded default configuration".to_string(),
        ),
    };
    let filter = args
        .log_level
        .clone()
        .or_else(|| std::env::var("RUST_LOG").ok())
        .or_else(|| config.logging.level.clone())
        .unwrap_or_else(|| "info".to_string());
    let format = args.log_format.unwrap_or(match config.logging.format {
        Some(api::parameters::LogFormat::json) => LogFormat::Json,
        _ => LogFormat::Text,
    });
    let log_control = logging::init(&filter, format)?;
    let workers = args
        .worker_threads
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        })
        .max(1);
    let mut builder = if workers == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut multi = tokio::runtime::Builder::new_multi_thread();
        multi.worker_threads(workers);
        multi
    };
    let runtime = builder
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(args, config, source, options, log_control))
}

fn report(errors: config::ConfigErrors) -> anyhow::Error {
    anyhow::anyhow!("the configuration is invalid\n{errors}")
}

async fn serve(
    args: RunArgs,
    config: Config,
    source: String,
    options: CompileOptions,
    log_control: Arc<dyn proxy::LogControl>,
) -> anyhow::Result<ExitCode> {
    for warning in &config.warnings {
        tracing::warn!(%warning, "configuration warning");
    }
    let drain = args
        .drain_timeout
        .or(config.shutdown.max)
        .unwrap_or(Duration::from_secs(10));
    // Kept serving (reported not ready) this long after a stop signal, so load balancers
    // stop sending before the listeners close.
    let linger = config.shutdown.min.unwrap_or_default();
    let gateway_options = GatewayOptions {
        bind: args.bind,
        drain_timeout: drain,
        source: source.clone(),
        mcp_session_key: args.mcp_session_key.clone(),
        client_idle_timeout: args.client_idle_timeout,
    };
    let gateway = Gateway::start(config, gateway_options, Some(log_control)).await?;
    let shared = gateway.shared().clone();
    let admin_listener = admin::bind("admin", args.admin_addr).await?;
    let metrics_listener = admin::bind("metrics", args.metrics_addr).await?;
    let readiness_listener = admin::bind("readiness", args.readiness_addr).await?;
    tokio::spawn(admin::serve(admin_listener, shared.clone(), admin::admin));
    tokio::spawn(admin::serve(
        metrics_listener,
        shared.clone(),
        admin::metrics,
    ));
    tokio::spawn(admin::serve(readiness_listener, shared, admin::readiness));
    tracing::info!(%source, admin = %args.admin_addr, metrics = %args.metrics_addr, readiness = %args.readiness_addr, "agentgateway started");
    if let Some(path) = args.file.clone() {
        tokio::spawn(proxy::reload::watch(
            gateway.clone(),
            path,
            options,
            args.reload_interval,
        ));
    }
    shutdown_signal().await;
    if !linger.is_zero() {
        tracing::info!(?linger, "stop signal: reporting not ready, still serving");
        gateway.stop_reporting_ready();
        tokio::time::sleep(linger).await;
    }
    tracing::info!(
        ?drain,
        "shutting down: no new connections; draining in-flight requests"
    );
    gateway.shutdown().await;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let terminate = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
