//! OpenAI Chat Completions, for providers that speak it natively (OpenAI, Ollama, vLLM,
//! llama.cpp): the request is checked and its model set, everything else passes untouched.

use bytes::Bytes;
use serde_json::Value;

use crate::error::LlmError;
use crate::request::check_and_pin;
use crate::usage::Usage;

/// A request ready for the provider.
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedChat {
    pub body: Bytes,
    /// The model the provider receives.
    pub model: String,
    pub stream: bool,
}

/// Checks a Chat Completions body and applies the backend's model. When the backend names
/// a model it replaces the client's (operators pin what is called); otherwise the
/// client's model is required.
pub fn prepare_chat(body: Bytes, backend_model: Option<&str>) -> Result<PreparedChat, LlmError> {
    prepare(body, backend_model, |_| Ok(()))
}

/// Parses, checks (the shared checks plus `extra`) and pins the model; an unchanged body is
/// forwarded byte for byte.
pub(crate) fn prepare(
    body: Bytes,
    backend_model: Option<&str>,
    extra: impl Fn(&serde_json::Map<String, Value>) -> Result<(), LlmError>,
) -> Result<PreparedChat, LlmError> {
    let mut value: Value =
        serde_json::from_slice(&body).map_err(|e| LlmError::InvalidJson(e.to_string()))?;
    let object = value.as_object_mut().ok_or(LlmError::NotAnObject)?;
    let checked = check_and_pin(object, backend_model)?;
    extra(object)?;
    let body = if checked.model_replaced {
        Bytes::from(serde_json::to_vec(&value).map_err(|e| LlmError::InvalidJson(e.to_string()))?)
    } else {
        body
    };
    Ok(PreparedChat {
        body,
        model: checked.model,
        stream: checked.stream,
    })
}

/// The model that answered and the usage, from a non-streamed response body.
pub fn response_facts(body: &[u8]) -> (Option<String>, Option<Usage>) {
    match serde_json::from_slice::<Facts>(body) {
        Ok(f) => f.into_parts(),
        Err(_) => (None, None),
    }
}

/// The same, from one `data:` payload of a stream (`[DONE]` and non-JSON give nothing).
pub fn chunk_facts(data: &str) -> (Option<String>, Option<Usage>) {
    match serde_json::from_str::<Facts>(data) {
        Ok(f) => f.into_parts(),
        Err(_) => (None, None),
    }
}

/// Only the two fields usage accounting needs: the rest of a response (choices, text) is
/// skipped by the parser instead of being built into a tree.
#[derive(serde::Deserialize)]
struct Facts {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    usage: Option<Value>,
}

impl Facts {
    fn into_parts(self) -> (Option<String>, Option<Usage>) {
        (self.model, self.usage.as_ref().and_then(Usage::from_openai))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(s: &str) -> Bytes {
        Bytes::from(s.to_string())
    }

    #[test]
    fn backend_model_replaces_the_clients() {
        let p = prepare_chat(body(r#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"temperature":0.2}"#), Some("llama3.2")).unwrap();
        assert_eq!(p.model, "llama3.2");
        let sent: Value = serde_json::from_slice(&p.body).unwrap();
        assert_eq!(sent["model"], "llama3.2");
        assert_eq!(sent["temperature"], 0.2, "other fields pass untouched");
    }

    #[test]
    fn client_model_is_used_when_the_backend_pins_none() {
        let raw =
            body(r#"{"model":"qwen3","messages":[{"role":"user","content":"hi"}],"stream":true}"#);
        let p = prepare_chat(raw.clone(), None).unwrap();
        assert_eq!((p.model.as_str(), p.stream), ("qwen3", true));
        assert_eq!(
            p.body, raw,
            "an unchanged request is forwarded byte for byte"
        );
    }

    #[test]
    fn bad_requests_name_the_field() {
        let missing = prepare_chat(body(r#"{"model":"m"}"#), None).unwrap_err();
        assert!(matches!(
            missing,
            LlmError::MissingField {
                field: "messages",
                ..
            }
        ));
        let no_model = prepare_chat(
            body(r#"{"messages":[{"role":"user","content":"x"}]}"#),
            None,
        )
        .unwrap_err();
        assert!(matches!(
            no_model,
            LlmError::MissingField { field: "model", .. }
        ));
        assert!(matches!(
            prepare_chat(body("{not json"), None),
            Err(LlmError::InvalidJson(_))
        ));
        assert!(matches!(
            prepare_chat(body("[1]"), None),
            Err(LlmError::NotAnObject)
        ));
        assert!(matches!(
            prepare_chat(body(r#"{"messages":[]}"#), Some("m")),
            Err(LlmError::InvalidField {
                field: "messages",
                ..
            })
        ));
    }

    #[test]
    fn facts_from_fixtures() {
        let response = crate::fixture("openai/chat_response.json");
        let (model, usage) = response_facts(&response);
        assert!(model.is_some());
        assert!(usage.unwrap().input > 0);
        let (model, usage) = chunk_facts(
            r#"{"model":"m","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2}}"#,
        );
        assert_eq!(model.as_deref(), Some("m"));
        assert_eq!(usage.unwrap().output, 2);
        assert_eq!(chunk_facts("[DONE]"), (None, None));
    }
}
