//! stdio targets: a child process per gateway session, speaking newline-delimited JSON-RPC on
//! stdin/stdout. Its stderr goes to the log. When it exits, the next message restarts it (no
//! sooner than a backoff that doubles up to a limit) and replays the session's `initialize`,
//! so the client keeps its session. The process is killed when the session ends, including
//! on shutdown and on a configuration reload.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;
use tokio::sync::{Mutex, mpsc};
use tokio::time::Instant;

use super::duplex::DuplexTarget;
use super::{MessageStream, TargetError, parse_message};
use crate::jsonrpc::Message;

const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Lines longer than this end the connection: a server that writes them is broken.
const MAX_LINE: usize = 16 * 1024 * 1024;

/// What to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StdioCommand {
    pub cmd: String,
    pub args: Vec<String>,
    /// Added to the gateway's own environment.
    pub env: BTreeMap<String, String>,
}

struct Supervised {
    current: Option<DuplexTarget>,
    /// The session's `initialize`, replayed after a restart.
    initialize: Option<Message>,
    not_before: Instant,
    backoff: Duration,
    /// Set with the first start: every later start is a restart (backoff, replay).
    started_once: bool,
}

pub struct StdioTarget {
    name: Arc<str>,
    command: StdioCommand,
    state: Mutex<Supervised>,
}

impl StdioTarget {
    pub fn new(name: Arc<str>, command: StdioCommand) -> Self {
        Self {
            name,
            command,
            state: Mutex::new(Supervised {
                current: None,
                initialize: None,
                not_before: Instant::now(),
                backoff: FIRST_BACKOFF,
                started_once: false,
            }),
        }
    }

    pub async fn request(&self, message: Message) -> Result<MessageStream, TargetError> {
        let mut state = self.state.lock().await;
        if message.method() == Some("initialize") {
            state.initialize = Some(message.clone());
        }
        self.ensure_running(&mut state).await?;
        let current = state.current.as_ref().ok_or_else(|| self.closed())?;
        current.request(message).await
    }

    pub async fn deliver(&self, message: Message) -> Result<(), TargetError> {
        let mut state = self.state.lock().await;
        self.ensure_running(&mut state).await?;
        let current = state.current.as_ref().ok_or_else(|| self.closed())?;
        current.deliver(message).await
    }

    pub async fn listen(&self) -> Option<MessageStream> {
        let mut state = self.state.lock().await;
        self.ensure_running(&mut state).await.ok()?;
        state.current.as_ref()?.listen()
    }

    fn closed(&self) -> TargetError {
        TargetError::Closed {
            target: self.name.clone(),
        }
    }

    /// Starts the process if it is not running, re-initializing the session after a restart.
    async fn ensure_running(&self, state: &mut Supervised) -> Result<(), TargetError> {
        if state.current.as_ref().is_some_and(|c| !c.is_closed()) {
            return Ok(());
        }
        state.current = None;
        let restart = state.started_once;
        if restart && Instant::now() < state.not_before {
            return Err(TargetError::Unreachable {
                target: self.name.clone(),
                reason: format!(
                    "the process exited; it is restarted after a backoff of {:?}",
                    state.backoff
                ),
            });
        }
        let started = spawn(&self.name, &self.command)?;
        state.started_once = true;
        state.not_before = Instant::now() + state.backoff;
        state.backoff = if restart {
            (state.backoff * 2).min(MAX_BACKOFF)
        } else {
            FIRST_BACKOFF
        };
        if restart && let Some(initialize) = state.initialize.clone() {
            tracing::warn!(target_name = %self.name, "MCP stdio target restarted; replaying initialize");
            let replayed = tokio::time::timeout(
                super::SETUP_TIMEOUT,
                crate::service::first_response(&self.name, started.request(initialize).await),
            )
            .await
            .map_err(|_| TargetError::Unreachable {
                target: self.name.clone(),
                reason: format!(
                    "the restarted process did not answer `initialize` within {:?}",
                    super::SETUP_TIMEOUT
                ),
            })??;
            if replayed.is_error() {
                return Err(TargetError::Protocol {
                    target: self.name.clone(),
                    reason: "the restarted process refused the replayed `initialize`".into(),
                });
            }
            started
                .deliver(Message::notification(
                    "notifications/initialized",
                    json!({}),
                ))
                .await?;
        }
        state.current = Some(started);
        Ok(())
    }
}

fn spawn(name: &Arc<str>, command: &StdioCommand) -> Result<DuplexTarget, TargetError> {
    let mut child = Command::new(&command.cmd)
        .args(&command.args)
        .envs(&command.env)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| TargetError::Unreachable {
            target: name.clone(),
            reason: format!("cannot start `{}`: {e}", command.cmd),
        })?;
    let (Some(mut stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return Err(TargetError::Unreachable {
            target: name.clone(),
            reason: "the process has no stdio pipes".into(),
        });
    };
    let (outbox, mut outgoing) = mpsc::channel::<Message>(super::STREAM_BUFFER);
    let (inbound_tx, inbound) = mpsc::channel(super::STREAM_BUFFER);

    let writer = tokio::spawn(async move {
        while let Some(message) = outgoing.recv().await {
            let mut line = message.to_json();
            line.push(b'\n');
            if stdin.write_all(&line).await.is_err() || stdin.flush().await.is_err() {
                break;
            }
        }
    });
    let reader_name = name.clone();
    let reader = tokio::spawn(async move {
        let mut lines = BufReader::new(stdout);
        let mut line = Vec::new();
        loop {
            line.clear();
            match lines.read_until(b'\n', &mut line).await {
                Ok(0) | Err(_) => break,
                Ok(_) if line.len() > MAX_LINE => break,
                Ok(_) => {}
            }
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match parse_message(&reader_name, &line) {
                Ok(message) => {
                    if inbound_tx.send(message).await.is_err() {
                        break;
                    }
                }
                // Servers sometimes print non-protocol lines; they are logged, not fatal.
                Err(e) => {
                    tracing::warn!(target_name = %reader_name, error = %e, "ignoring a line from an MCP stdio target")
                }
            }
        }
    });
    let log_name = name.clone();
    let logger = tokio::spawn(async move {
        let mut lines = BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            tracing::info!(target_name = %log_name, "{line}");
        }
    });
    let wait_name = name.clone();
    let waiter = tokio::spawn(async move {
        // The child lives in this task: aborting it (the session ended) kills the process.
        match child.wait().await {
            Ok(status) => {
                tracing::warn!(target_name = %wait_name, %status, "MCP stdio target exited")
            }
            Err(e) => {
                tracing::warn!(target_name = %wait_name, error = %e, "waiting for an MCP stdio target failed")
            }
        }
    });
    let tasks = vec![
        writer.abort_handle(),
        reader.abort_handle(),
        logger.abort_handle(),
        waiter.abort_handle(),
    ];
    Ok(DuplexTarget::start(name.clone(), outbox, inbound, tasks))
}
