//! Request policies an operator sets on LLM routes (`backend.ai` of AgentgatewayPolicy):
//! model aliases, field defaults and overrides, prompt enrichment and the route table.

use bytes::Bytes;
use serde_json::{Value, json};

use crate::error::LlmError;
use crate::guard::PromptGuard;
use crate::route::ClientApi;

/// A message added to every prompt.
#[derive(Debug, Clone, PartialEq)]
pub struct PromptMessage {
    pub role: String,
    pub content: String,
}

#[derive(Debug, Clone, Default)]
pub struct RequestPolicy {
    /// Client model name -> model sent.
    pub model_aliases: Vec<(String, String)>,
    /// Set when the client did not set the field.
    pub defaults: Vec<(String, Value)>,
    /// Always set, replacing the client's value.
    pub overrides: Vec<(String, Value)>,
    pub prepend: Vec<PromptMessage>,
    pub append: Vec<PromptMessage>,
    /// Path suffix -> the API requests on it speak (`routes`), longest suffix first, `*`
    /// last; replaces the detection by well-known suffixes when set.
    pub routes: Vec<(String, ClientApi)>,
    /// `promptGuard`: checks (and may mask) requests here, responses in the proxy.
    pub guard: Option<PromptGuard>,
}

impl RequestPolicy {
    /// Whether the policy leaves request bodies as they are.
    pub fn is_empty(&self) -> bool {
        self.model_aliases.is_empty()
            && self.defaults.is_empty()
            && self.overrides.is_empty()
            && self.prepend.is_empty()
            && self.append.is_empty()
            && !self
                .guard
                .as_ref()
                .is_some_and(PromptGuard::has_request_rules)
    }

    /// The guard for responses, when the policy has response rules.
    pub fn response_guard(&self) -> Option<&PromptGuard> {
        self.guard.as_ref().filter(|g| g.has_response_rules())
    }

    /// The API a request path speaks under this policy's route table.
    pub fn client_api(&self, path: &str) -> ClientApi {
        ClientApi::from_route_table(path, &self.routes)
    }

    /// Applies the policy to a request body of the client's API.
    pub fn apply(&self, body: Bytes, api: ClientApi) -> Result<Bytes, LlmError> {
        if self.is_empty() {
            return Ok(body);
        }
        let mut value: Value =
            serde_json::from_slice(&body).map_err(|e| LlmError::InvalidJson(e.to_string()))?;
        let object = value.as_object_mut().ok_or(LlmError::NotAnObject)?;
        if let Some(Value::String(model)) = object.get("model")
            && let Some((_, target)) = self.model_aliases.iter().find(|(alias, _)| alias == model)
        {
            object.insert("model".into(), Value::String(target.clone()));
        }
        for (field, v) in &self.defaults {
            if object.get(field).is_none_or(Value::is_null) {
                object.insert(field.clone(), v.clone());
            }
        }
        for (field, v) in &self.overrides {
            object.insert(field.clone(), v.clone());
        }
        enrich(&mut value, &self.prepend, &self.append, api);
        // The guard sees the prompt as the provider will, enrichment included.
        if let Some(guard) = &self.guard {
            guard
                .check_request(api, &mut value)
                .map_err(LlmError::Guarded)?;
        }
        serde_json::to_vec(&value)
            .map(Bytes::from)
            .map_err(|e| LlmError::InvalidJson(e.to_string()))
    }
}

/// Adds the configured messages. Anthropic keeps system prompts outside `messages`, so
/// system messages for Messages clients go to `system`.
fn enrich(value: &mut Value, prepend: &[PromptMessage], append: &[PromptMessage], api: ClientApi) {
    let anthropic = api == ClientApi::Messages;
    let mut system_before = Vec::new();
    let mut system_after = Vec::new();
    let mut front = Vec::new();
    let mut back = Vec::new();
    for (list, system, messages) in [
        (prepend, &mut system_before, &mut front),
        (append, &mut system_after, &mut back),
    ] {
        for m in list {
            if anthropic && m.role == "system" {
                system.push(m.content.clone());
            } else {
                messages.push(json!({ "role": m.role, "content": m.content }));
            }
        }
    }
    if let Some(messages) = value.get_mut("messages").and_then(Value::as_array_mut) {
        messages.splice(0..0, front);
        messages.extend(back);
    }
    if system_before.is_empty() && system_after.is_empty() {
        return;
    }
    value["system"] = match value.get_mut("system").map(Value::take) {
        // Blocks stay blocks, so what the client put on them (`cache_control` breakpoints)
        // is kept; the added prompts become text blocks around them.
        Some(Value::Array(blocks)) => {
            let text_block = |text: String| json!({ "type": "text", "text": text });
            let blocks: Vec<Value> = system_before
                .into_iter()
                .map(text_block)
                .chain(blocks)
                .chain(system_after.into_iter().map(text_block))
                .collect();
            Value::Array(blocks)
        }
        existing => {
            let existing = match existing {
                Some(Value::String(s)) => Some(s),
                _ => None,
            };
            let joined: Vec<String> = system_before
                .into_iter()
                .chain(existing)
                .chain(system_after)
                .collect();
            Value::String(joined.join("\n\n"))
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RequestPolicy {
        RequestPolicy {
            model_aliases: vec![("fast".into(), "llama3.2".into())],
            defaults: vec![("temperature".into(), json!(0.2))],
            overrides: vec![("max_tokens".into(), json!(1024))],
            prepend: vec![PromptMessage {
                role: "system".into(),
                content: "Be brief.".into(),
            }],
            append: vec![],
            routes: vec![],
            guard: None,
        }
    }

    #[test]
    fn aliases_defaults_overrides_and_prompts_apply_to_chat() {
        let body = Bytes::from(
            r#"{"model":"fast","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}"#,
        );
        let out: Value =
            serde_json::from_slice(&policy().apply(body, ClientApi::ChatCompletions).unwrap())
                .unwrap();
        assert_eq!(out["model"], "llama3.2");
        assert_eq!(out["temperature"], 0.2);
        assert_eq!(out["max_tokens"], 1024);
        assert_eq!(
            out["messages"][0],
            json!({"role": "system", "content": "Be brief."})
        );
        let kept: Value = serde_json::from_slice(
            &policy()
                .apply(
                    Bytes::from(r#"{"model":"m","temperature":1.0,"messages":[]}"#),
                    ClientApi::ChatCompletions,
                )
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            kept["temperature"], 1.0,
            "a default never replaces the client's value"
        );
    }

    #[test]
    fn system_prompts_go_to_system_for_messages_clients() {
        let body = Bytes::from(
            r#"{"model":"m","system":"Existing.","messages":[{"role":"user","content":"hi"}]}"#,
        );
        let out: Value =
            serde_json::from_slice(&policy().apply(body, ClientApi::Messages).unwrap()).unwrap();
        assert_eq!(out["system"], "Be brief.\n\nExisting.");
        assert_eq!(out["messages"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn system_blocks_keep_their_cache_breakpoints() {
        let body = Bytes::from(
            r#"{"model":"m","system":[{"type":"text","text":"Long.","cache_control":{"type":"ephemeral"}}],"messages":[{"role":"user","content":"hi"}]}"#,
        );
        let out: Value =
            serde_json::from_slice(&policy().apply(body, ClientApi::Messages).unwrap()).unwrap();
        assert_eq!(
            out["system"],
            json!([
                {"type": "text", "text": "Be brief."},
                {"type": "text", "text": "Long.", "cache_control": {"type": "ephemeral"}}
            ])
        );
    }
}
