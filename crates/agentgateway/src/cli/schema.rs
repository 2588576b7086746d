//! `agentgateway schema [KIND]`.

use std::process::ExitCode;

use anyhow::bail;
use api::ResourceKind;
use serde_json::{Map, Value};

#[derive(Debug, clap::Args)]
pub struct SchemaArgs {
    /// Kind to print (e.g. AgentgatewayBackend, HTTPRoute); every kind when omitted.
    kind: Option<String>,
}

pub fn schema(args: &SchemaArgs) -> anyhow::Result<ExitCode> {
    let value = match &args.kind {
        Some(name) => {
            let Some(kind) = ResourceKind::from_kind(name) else {
                let known: Vec<&str> = ResourceKind::ALL.iter().map(|k| k.as_str()).collect();
                bail!("unknown kind '{name}'; known kinds: {}", known.join(", "));
            };
            api::schema::json_schema(kind).unwrap_or(Value::Null)
        }
        None => {
            let all: Map<String, Value> = ResourceKind::ALL
                .iter()
                .filter_map(|k| api::schema::json_schema(*k).map(|s| (k.as_str().to_string(), s)))
                .collect();
            Value::Object(all)
        }
    };
    super::write_stdout(&(serde_json::to_string_pretty(&value)? + "\n"))
}
