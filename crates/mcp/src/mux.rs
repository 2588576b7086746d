//! Multiplexing rules, as pure functions: how names are prefixed with the target name, how
//! list results and `initialize` results of several targets merge, and how one cursor
//! carries every target's own cursor.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};

/// Tool names may use `A-Za-z0-9_-.` (MCP 2025-11-25), so the separator is one of those.
pub const SEPARATOR: char = '_';

/// `target_name`.
pub fn prefixed(target: &str, name: &str) -> String {
    format!("{target}{SEPARATOR}{name}")
}

/// Which target a prefixed name belongs to and the name it has there. The longest matching
/// target name wins, so `a_b` and `a` can both be targets.
pub fn split_prefix<'n>(targets: &[&str], name: &'n str) -> Option<(usize, &'n str)> {
    targets
        .iter()
        .enumerate()
        .filter_map(|(i, target)| {
            let rest = name.strip_prefix(target)?.strip_prefix(SEPARATOR)?;
            Some((i, target.len(), rest))
        })
        .max_by_key(|(_, len, _)| *len)
        .filter(|(_, _, rest)| !rest.is_empty())
        .map(|(i, _, rest)| (i, rest))
}

/// The list methods that fan out, with the member holding their items.
pub fn list_member(method: &str) -> Option<&'static str> {
    match method {
        "tools/list" => Some("tools"),
        "prompts/list" => Some("prompts"),
        "resources/list" => Some("resources"),
        "resources/templates/list" => Some("resourceTemplates"),
        "tasks/list" => Some("tasks"),
        _ => None,
    }
}

/// A cursor for several targets: each target's own cursor, by target name.
pub fn encode_cursor(cursors: &BTreeMap<String, String>) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(cursors).unwrap_or_default())
}

pub fn decode_cursor(cursor: &str) -> Option<BTreeMap<String, String>> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Capability bits kept per target (in the session id too).
pub mod caps {
    pub const TOOLS: u8 = 1;
    pub const PROMPTS: u8 = 2;
    pub const RESOURCES: u8 = 4;
    pub const LOGGING: u8 = 8;
    pub const COMPLETIONS: u8 = 16;
    pub const TASKS: u8 = 32;
    /// Unknown (a resumed stateless session): assume everything.
    pub const ALL: u8 = 0xff;

    /// The bit a method needs of a target, if any.
    pub fn needed_by(method: &str) -> Option<u8> {
        match method {
            "tools/list" | "tools/call" => Some(TOOLS),
            "prompts/list" | "prompts/get" => Some(PROMPTS),
            "resources/list"
            | "resources/templates/list"
            | "resources/read"
            | "resources/subscribe"
            | "resources/unsubscribe" => Some(RESOURCES),
            "logging/setLevel" => Some(LOGGING),
            "completion/complete" => Some(COMPLETIONS),
            "tasks/list" => Some(TASKS),
            _ => None,
        }
    }
}

/// The capability bits an `initialize` result declares.
pub fn capability_bits(result: &Value) -> u8 {
    let Some(declared) = result.get("capabilities").and_then(Value::as_object) else {
        return 0;
    };
    [
        ("tools", caps::TOOLS),
        ("prompts", caps::PROMPTS),
        ("resources", caps::RESOURCES),
        ("logging", caps::LOGGING),
        ("completions", caps::COMPLETIONS),
        ("tasks", caps::TASKS),
    ]
    .into_iter()
    .filter(|(name, _)| declared.contains_key(*name))
    .fold(0, |bits, (_, bit)| bits | bit)
}

/// One `initialize` result for several targets: the oldest protocol version any of them
/// agreed to, the union of capabilities (a flag is on when any target has it), the gateway
/// as server, and every target's instructions.
pub fn merge_initialize(results: &[(&str, &Value)], gateway_version: &str) -> Value {
    let protocol = results
        .iter()
        .filter_map(|(_, r)| r.get("protocolVersion").and_then(Value::as_str))
        .min()
        .unwrap_or_default();
    let mut capabilities = Map::new();
    for (_, result) in results {
        if let Some(Value::Object(declared)) = result.get("capabilities") {
            union_into(&mut capabilities, declared);
        }
    }
    let instructions: Vec<String> = results
        .iter()
        .filter_map(|(name, r)| {
            let text = r.get("instructions")?.as_str()?;
            Some(format!("{name}: {text}"))
        })
        .collect();
    let mut merged = json!({
        "protocolVersion": protocol,
        "capabilities": capabilities,
        "serverInfo": { "name": "agentgateway", "version": gateway_version },
    });
    if !instructions.is_empty() {
        merged["instructions"] = Value::String(instructions.join("\n\n"));
    }
    merged
}

fn union_into(into: &mut Map<String, Value>, from: &Map<String, Value>) {
    for (key, value) in from {
        match (into.get_mut(key), value) {
            (Some(Value::Object(existing)), Value::Object(more)) => union_into(existing, more),
            (Some(Value::Bool(existing)), Value::Bool(more)) => *existing |= *more,
            (Some(_), _) => {}
            (None, value) => {
                into.insert(key.clone(), value.clone());
            }
        }
    }
}

/// Renames a listed item for the client: `name` (tools, prompts, resources, templates) gets
/// the target prefix. URIs stay as they are, so they remain valid for the target.
pub fn prefix_item(item: &mut Value, target: &str) {
    if let Some(Value::String(name)) = item.get_mut("name") {
        *name = prefixed(target, name);
    }
}

/// The literal part of a URI template before its first expression: resources whose URI
/// starts with it belong to the template's target.
pub fn template_stem(template: &str) -> &str {
    template.split('{').next().unwrap_or(template)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_lists_merge_over_the_targets_that_declared_tasks() {
        assert_eq!(list_member("tasks/list"), Some("tasks"));
        let with_tasks = json!({"capabilities": {"tools": {}, "tasks": {"list": {}}}});
        let without = json!({"capabilities": {"tools": {}}});
        let needed = caps::needed_by("tasks/list").unwrap();
        assert_ne!(capability_bits(&with_tasks) & needed, 0);
        assert_eq!(capability_bits(&without) & needed, 0);
    }

    #[test]
    fn prefixes_split_back_to_the_longest_target() {
        let targets = ["a", "a_b", "everything"];
        assert_eq!(split_prefix(&targets, "a_b_echo"), Some((1, "echo")));
        assert_eq!(split_prefix(&targets, "a_echo"), Some((0, "echo")));
        assert_eq!(
            split_prefix(&targets, "everything_get_sum"),
            Some((2, "get_sum"))
        );
        assert_eq!(split_prefix(&targets, "other_echo"), None);
        assert_eq!(split_prefix(&targets, "a_"), None);
        assert_eq!(prefixed("a", "echo"), "a_echo");
    }

    #[test]
    fn cursors_round_trip() {
        let cursors = BTreeMap::from([("a".to_string(), "2".to_string())]);
        assert_eq!(decode_cursor(&encode_cursor(&cursors)), Some(cursors));
        assert_eq!(decode_cursor("%%%"), None);
    }

    #[test]
    fn initialize_results_merge_capabilities_and_take_the_oldest_version() {
        let a = json!({"protocolVersion": "2025-06-18", "capabilities": {"tools": {"listChanged": false}, "logging": {}}, "serverInfo": {"name": "a"}});
        let b = json!({"protocolVersion": "2025-03-26", "capabilities": {"tools": {"listChanged": true}, "resources": {"subscribe": true}}, "instructions": "use b", "serverInfo": {"name": "b"}});
        let merged = merge_initialize(&[("a", &a), ("b", &b)], "1.0");
        assert_eq!(merged["protocolVersion"], "2025-03-26");
        assert_eq!(merged["capabilities"]["tools"]["listChanged"], true);
        assert_eq!(merged["capabilities"]["resources"]["subscribe"], true);
        assert!(merged["capabilities"]["logging"].is_object());
        assert_eq!(merged["instructions"], "b: use b");
        assert_eq!(capability_bits(&a), caps::TOOLS | caps::LOGGING);
    }

    #[test]
    fn template_stems_end_before_the_first_expression() {
        assert_eq!(
            template_stem("test://template/{id}/data"),
            "test://template/"
        );
        assert_eq!(template_stem("file:///x"), "file:///x");
    }
}
