//! `spec.mcp` of an AgentgatewayBackend -> the MCP backend: targets (HTTP, SSE, stdio),
//! session routing, failure and prefix modes.

use std::collections::BTreeSet;
use std::time::Duration;

use api::backend::{AgentgatewayBackend, BackendPolicies, McpBackend, StaticBackend as RawStatic};

use super::backend::{duration, static_backend};
use crate::compile::Ctx;
use crate::compile::secrets::ResolvedSecrets;
use crate::ir::backend::{
    BackendCredential, McpBackend as IrMcpBackend, McpPrefixMode, McpTarget, McpTransport,
};
use crate::store::Entry;

/// Used when `spec.mcp.sessionIdleTimeout` is not set.
pub const DEFAULT_MCP_IDLE_TIMEOUT: Duration = Duration::from_secs(30 * 60);

pub(super) fn check(ctx: &mut Ctx<'_>, entry: &Entry<AgentgatewayBackend>, mcp: &McpBackend) {
    if mcp.targets.is_empty() || mcp.targets.len() > 128 {
        ctx.error(
            entry,
            "spec.mcp.targets",
            "an MCP backend needs 1 to 128 targets",
            "",
        );
    }
    let mut names = BTreeSet::new();
    for (i, target) in mcp.targets.iter().enumerate() {
        let path = format!("spec.mcp.targets[{i}]");
        if !names.insert(target.name.clone()) {
            ctx.error(
                entry,
                &format!("{path}.name"),
                format!("target name `{}` is used twice", target.name),
                "target names prefix tool names, so they must be unique",
            );
        }
        if target.static_target.is_some() == target.stdio.is_some() {
            ctx.error(
                entry,
                &path,
                "exactly one of `static` or `stdio` must be set",
                "",
            );
        }
    }
}

pub(super) fn compile(
    ctx: &mut Ctx<'_>,
    entry: &Entry<AgentgatewayBackend>,
    mcp: &McpBackend,
    policies: &BackendPolicies,
    secrets: &ResolvedSecrets,
    credential: Option<BackendCredential>,
) -> Option<IrMcpBackend> {
    let stateful = mcp.session_routing != Some(api::backend::McpSessionRouting::Stateless);
    let mut ok = true;
    if let Some(kind) = match &credential {
        Some(BackendCredential::Aws(_)) => Some("aws"),
        Some(BackendCredential::Gcp(_)) => Some("gcp"),
        Some(BackendCredential::Azure(_)) => Some("azure"),
        Some(BackendCredential::Authorization(_) | BackendCredential::Passthrough) | None => None,
    } {
        ctx.error(
            entry,
            "spec.policies.auth",
            format!("`{kind}` credentials do not apply to MCP targets"),
            "use `secretRef` or `key` (sent as the Authorization header of every request to the targets) or `passthrough` (the client's own)",
        );
        ok = false;
    }
    let mut targets = Vec::with_capacity(mcp.targets.len());
    for (i, target) in mcp.targets.iter().enumerate() {
        let field = format!("spec.mcp.targets[{i}]");
        let transport = if let Some(raw) = &target.static_target {
            let connection = RawStatic {
                host: raw.host.clone(),
                port: raw.port,
            };
            let connection_field = format!("{field}.static");
            let fields = super::backend::Fields {
                connection: &connection_field,
                policies: super::backend::TOP_POLICIES,
            };
            let Some(backend) = static_backend(
                ctx,
                entry,
                fields,
                &connection,
                policies,
                secrets,
                credential.clone(),
            ) else {
                ok = false;
                continue;
            };
            let sse = raw.protocol == Some(api::backend::McpProtocol::SSE);
            let path = raw
                .path
                .clone()
                .unwrap_or_else(|| if sse { "/sse" } else { "/mcp" }.to_string());
            if !path.starts_with('/') {
                ctx.error(
                    entry,
                    &format!("{field}.static.path"),
                    format!("`{path}` is not an absolute path"),
                    "write the path starting with /, e.g. /mcp",
                );
                ok = false;
            }
            match sse {
                true => McpTransport::Sse { backend, path },
                false => McpTransport::StreamableHttp { backend, path },
            }
        } else if let Some(stdio) = &target.stdio {
            if !stateful {
                ctx.error(
                    entry,
                    &format!("{field}.stdio"),
                    "stdio targets keep a session in their process, so they need `sessionRouting: Stateful`",
                    "remove `sessionRouting: Stateless`, or serve this server over HTTP",
                );
                ok = false;
            }
            if stdio.cmd.trim().is_empty() {
                ctx.error(
                    entry,
                    &format!("{field}.stdio.cmd"),
                    "the command is empty",
                    "",
                );
                ok = false;
            }
            McpTransport::Stdio {
                cmd: stdio.cmd.clone(),
                args: stdio.args.clone(),
                env: stdio.env.clone(),
            }
        } else {
            ok = false;
            continue;
        };
        if target.name.is_empty()
            || !target
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        {
            ctx.error(
                entry,
                &format!("{field}.name"),
                format!("`{}` cannot prefix tool names", target.name),
                "use letters, digits, `-` and `.` (the prefix separator is `_`)",
            );
            ok = false;
        }
        targets.push(McpTarget {
            name: target.name.clone(),
            transport,
        });
    }
    let idle_timeout = duration(
        ctx,
        entry,
        "spec.mcp.sessionIdleTimeout",
        mcp.session_idle_timeout.as_deref(),
        &mut ok,
    )
    .unwrap_or(DEFAULT_MCP_IDLE_TIMEOUT);
    ok.then(|| IrMcpBackend {
        targets,
        stateful,
        fail_open: mcp.failure_mode == Some(api::backend::FailureMode::FailOpen),
        prefix_mode: match mcp.prefix_mode {
            Some(api::backend::McpPrefixMode::Always) => McpPrefixMode::Always,
            Some(api::backend::McpPrefixMode::Never) => McpPrefixMode::Never,
            Some(api::backend::McpPrefixMode::Conditional) | None => McpPrefixMode::Conditional,
        },
        allowed_hosts: mcp.allowed_hosts.clone(),
        idle_timeout,
    })
}
