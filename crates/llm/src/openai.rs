//! OpenAI Chat Completions, for providers that speak it natively (OpenAI, Ollama, vLLM,
//! llama.cpp): the request is checked and its model set, everything else passes untouched.

use std::ops::ControlFlow;

use bytes::Bytes;
use serde_json::Value;

use crate::error::LlmError;
use crate::json_members;
use crate::request::check_and_pin;
use crate::usage::Usage;

/// A request ready for the provider.
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedChat {
    pub body: Bytes,
    /// The model the provider receives.
    pub model: String,
    pub stream: bool,
    /// Whether a streamed request asks for the usage chunk (`stream_options.include_usage`).
    pub usage_requested: bool,
}

/// Checks a Chat Completions body and applies the backend's model. When the backend names
/// a model it replaces the client's (operators pin what is called); otherwise the
/// client's model is required.
pub fn prepare_chat(body: Bytes, backend_model: Option<&str>) -> Result<PreparedChat, LlmError> {
    if let Some(prepared) = prepare_unchanged(&body, backend_model) {
        return Ok(prepared);
    }
    prepare(body, backend_model, |_| Ok(()))
}

/// The fields the checks read, borrowed from the body; everything else is skipped by the
/// parser rather than built into a tree.
#[derive(serde::Deserialize)]
struct ChatShape<'a> {
    #[serde(borrow, default)]
    model: Option<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    messages: Option<NonEmptyList>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    stream_options: Option<StreamOptionsShape>,
}

#[derive(serde::Deserialize)]
struct StreamOptionsShape {
    #[serde(default)]
    include_usage: Option<bool>,
}

/// Whether a JSON array has any element; the elements are checked as JSON and dropped,
/// with no list built.
struct NonEmptyList(bool);

impl<'de> serde::Deserialize<'de> for NonEmptyList {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Elements;
        impl<'de> serde::de::Visitor<'de> for Elements {
            type Value = NonEmptyList;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a list")
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Self::Value, A::Error> {
                let mut any = false;
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {
                    any = true;
                }
                Ok(NonEmptyList(any))
            }
        }
        deserializer.deserialize_seq(Elements)
    }
}

/// The common case, found without building the body as a tree: a well-formed request
/// whose model stays as it is. Anything else (a model to replace, a wrong type, a missing
/// field, a duplicate key) returns None and takes the full path, which names the problem.
fn prepare_unchanged(body: &Bytes, backend_model: Option<&str>) -> Option<PreparedChat> {
    let shape: ChatShape<'_> = json_members::from_bytes(body).ok()?;
    if !shape.messages.is_some_and(|m| m.0) {
        return None;
    }
    let model = shape.model?;
    if backend_model.is_some_and(|pinned| pinned != model) {
        return None;
    }
    Some(PreparedChat {
        body: body.clone(),
        model: model.into_owned(),
        stream: shape.stream.unwrap_or(false),
        usage_requested: shape
            .stream_options
            .and_then(|o| o.include_usage)
            .unwrap_or(false),
    })
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
    let usage_requested = object
        .get("stream_options")
        .and_then(|o| o.get("include_usage"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let body = if checked.model_replaced {
        Bytes::from(serde_json::to_vec(&value).map_err(|e| LlmError::InvalidJson(e.to_string()))?)
    } else {
        body
    };
    Ok(PreparedChat {
        body,
        model: checked.model,
        stream: checked.stream,
        usage_requested,
    })
}

/// The body of a streamed request made to ask for the usage chunk: without it an OpenAI
/// stream reports no tokens, and budgets and token metrics would miss the call. The
/// client's other stream options are kept.
pub fn request_stream_usage(body: &[u8]) -> Result<Bytes, LlmError> {
    let mut value: Value =
        serde_json::from_slice(body).map_err(|e| LlmError::InvalidJson(e.to_string()))?;
    let object = value.as_object_mut().ok_or(LlmError::NotAnObject)?;
    let options = object
        .entry("stream_options")
        .or_insert_with(|| Value::Object(Default::default()));
    if !options.is_object() {
        *options = Value::Object(Default::default());
    }
    if let Some(options) = options.as_object_mut() {
        options.insert("include_usage".into(), Value::Bool(true));
    }
    serde_json::to_vec(&value)
        .map(Bytes::from)
        .map_err(|e| LlmError::InvalidJson(e.to_string()))
}

/// The model that answered and the usage, from a non-streamed response body.
pub fn response_facts(body: &[u8]) -> (Option<String>, Option<Usage>) {
    chunk_facts(body, true)
}

/// The same, from one `data:` payload of a stream (`[DONE]` and non-JSON give nothing).
/// Without `want_usage` (the chunk has no usage object) the read stops at the model.
pub fn chunk_facts(data: impl AsRef<[u8]>, want_usage: bool) -> (Option<String>, Option<Usage>) {
    let data = data.as_ref();
    if let Some(facts) = scanned_facts(data, true, want_usage) {
        return facts;
    }
    match serde_json::from_slice::<Facts>(data) {
        Ok(f) => f.into_parts(),
        Err(_) => loose_facts(serde_json::from_slice(data)),
    }
}

/// The usage of one `data:` payload of a stream whose model is already known: looked for
/// from the end of the chunk only, where OpenAI puts it.
pub fn chunk_usage(data: impl AsRef<[u8]>) -> Option<Usage> {
    let data = data.as_ref();
    match scanned_facts(data, false, true) {
        Some((_, usage)) => usage,
        None => chunk_facts(data, true).1,
    }
}

/// `model` and `usage` read from their raw text, with the rest of the document stepped
/// over instead of parsed. None when anything is unusual (not an object, a value of an
/// unexpected type); the caller then parses the document in full.
fn scanned_facts(
    json: &[u8],
    want_model: bool,
    want_usage: bool,
) -> Option<(Option<String>, Option<Usage>)> {
    // Answers name the model first and count usage last, after the choices and their
    // text: each is looked for from its own end of the document.
    let (mut model, mut usage) = (None, None);
    if want_model {
        json_members::visit_members(json, |key, value| {
            match key {
                b"model" => model = Some(value),
                b"usage" => usage = Some(value),
                _ => {}
            }
            match model.is_some() {
                true => ControlFlow::Break(()),
                false => ControlFlow::Continue(()),
            }
        })?;
    }
    // A forward read that found no model has seen every member already.
    if want_usage && usage.is_none() && (model.is_some() || !want_model) {
        json_members::visit_members_backward(json, |key, value| match key {
            b"usage" => {
                usage = Some(value);
                ControlFlow::Break(())
            }
            _ => ControlFlow::Continue(()),
        })?;
    }
    let model = match model {
        Some(raw) => match json_members::plain_str(raw) {
            Some(text) => Some(text.to_string()),
            None => serde_json::from_slice::<Option<String>>(raw).ok()?,
        },
        None => None,
    };
    let usage = match usage.filter(|_| want_usage) {
        Some(raw) => scanned_usage(raw).or_else(|| serde_json::from_slice(raw).ok())?,
        None => None,
    };
    Some((model, usage.and_then(UsageWire::into_usage)))
}

/// The usage object read in place when it holds only plain counts (it always does from
/// OpenAI); None otherwise.
fn scanned_usage(raw: &[u8]) -> Option<Option<UsageWire>> {
    json_members::read_object(raw, |wire: &mut UsageWire, key, value| match key {
        b"prompt_tokens" => json_members::count(value).map(|n| wire.prompt_tokens = n),
        b"completion_tokens" => json_members::count(value).map(|n| wire.completion_tokens = n),
        b"prompt_tokens_details" => scanned_details(value).map(|d| wire.prompt_tokens_details = d),
        b"completion_tokens_details" => {
            scanned_details(value).map(|d| wire.completion_tokens_details = d)
        }
        _ => Some(()),
    })
}

fn scanned_details(raw: &[u8]) -> Option<Option<UsageDetails>> {
    json_members::read_object(raw, |details: &mut UsageDetails, key, value| match key {
        b"cached_tokens" => json_members::count(value).map(|n| details.cached_tokens = n),
        b"reasoning_tokens" => json_members::count(value).map(|n| details.reasoning_tokens = n),
        _ => Some(()),
    })
}

/// Only the two fields usage accounting needs: the rest of a response (choices, text) is
/// skipped by the parser instead of being built into a tree.
#[derive(serde::Deserialize)]
struct Facts {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    usage: Option<UsageWire>,
}

/// OpenAI's `usage` object, typed: read field by field, no map is built. A value of an
/// unexpected type fails the typed read, and the callers then read it as JSON instead.
#[derive(serde::Deserialize, Default)]
struct UsageWire {
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
    prompt_tokens_details: Option<UsageDetails>,
    completion_tokens_details: Option<UsageDetails>,
}

#[derive(serde::Deserialize, Default)]
struct UsageDetails {
    cached_tokens: Option<u64>,
    reasoning_tokens: Option<u64>,
}

impl Facts {
    fn into_parts(self) -> (Option<String>, Option<Usage>) {
        (self.model, self.usage.and_then(UsageWire::into_usage))
    }
}

impl UsageWire {
    fn into_usage(self) -> Option<Usage> {
        Some(Usage {
            input: self.prompt_tokens?,
            output: self.completion_tokens.unwrap_or(0),
            cached: self
                .prompt_tokens_details
                .and_then(|d| d.cached_tokens)
                .unwrap_or(0),
            reasoning: self
                .completion_tokens_details
                .and_then(|d| d.reasoning_tokens)
                .unwrap_or(0),
            cache_write: 0,
        })
    }
}

/// What `Facts` holds, read as loosely typed JSON: the fallback for a body the typed read
/// refused (a count sent as `8.0`, say), so one odd field never costs the model or usage.
#[derive(serde::Deserialize)]
struct LooseFacts {
    #[serde(default)]
    model: Option<Value>,
    #[serde(default)]
    usage: Option<Value>,
}

fn loose_facts(parsed: Result<LooseFacts, serde_json::Error>) -> (Option<String>, Option<Usage>) {
    match parsed {
        Ok(f) => (
            f.model.and_then(|m| m.as_str().map(str::to_string)),
            f.usage.as_ref().and_then(Usage::from_openai),
        ),
        Err(_) => (None, None),
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
            true,
        );
        assert_eq!(model.as_deref(), Some("m"));
        assert_eq!(usage.unwrap().output, 2);
        assert_eq!(chunk_facts("[DONE]", true), (None, None));
    }

    #[test]
    fn the_quick_path_agrees_with_the_full_checks() {
        let bodies = [
            r#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#,
            r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true}"#,
            r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":null}"#,
            r#"{"model":"m\u00e9","messages":[{"role":"user","content":"hi"}]}"#,
            r#"{"model":"a","model":"b","messages":[{"role":"user","content":"hi"}]}"#,
            r#"{"model":7,"messages":[{"role":"user","content":"hi"}]}"#,
            r#"{"model":"m","messages":{}}"#,
            r#"{"model":"m","messages":[],"stream":true}"#,
            r#"{"model":"m","messages":[1],"stream":"yes"}"#,
            r#"{"model":null,"messages":[1]}"#,
        ];
        for raw in bodies {
            for pinned in [None, Some("m"), Some("other")] {
                let quick = prepare_chat(body(raw), pinned);
                let full = prepare(body(raw), pinned, |_| Ok(()));
                assert_eq!(
                    format!("{quick:?}"),
                    format!("{full:?}"),
                    "{raw} pinned to {pinned:?}"
                );
            }
        }
    }

    #[test]
    fn typed_and_loose_usage_reads_agree() {
        let cases = [
            r#"{"model":"m","usage":{"prompt_tokens":9,"completion_tokens":4,"prompt_tokens_details":{"cached_tokens":2},"completion_tokens_details":{"reasoning_tokens":1}}}"#,
            r#"{"model":"m","usage":{"prompt_tokens":9,"prompt_tokens_details":null}}"#,
            r#"{"model":"m","usage":{"completion_tokens":4}}"#,
            r#"{"model":"m","usage":null}"#,
            r#"{"model":"m","usage":{"prompt_tokens":9.0,"completion_tokens":4}}"#,
            r#"{"model":5,"usage":{"prompt_tokens":9,"completion_tokens":4}}"#,
        ];
        for raw in cases {
            let loose = loose_facts(serde_json::from_str(raw));
            assert_eq!(chunk_facts(raw, true), loose, "{raw}");
            assert_eq!(response_facts(raw.as_bytes()), loose, "{raw}");
        }
        for raw in cases.iter().chain(&[
            r#"{"usage":{"prompt_tokens":1,"completion_tokens":2},"model":"m","choices":[]}"#,
            r#"{"model":"m","choices":[{"delta":{"content":"\"usage\":{}"}}],"usage":null}"#,
            r#"{"model":"m","choices":[]}"#,
            r#"[1]"#,
        ]) {
            assert_eq!(chunk_usage(raw), chunk_facts(raw, true).1, "{raw}");
        }
        let (_, usage) = chunk_facts(cases[0], true);
        let usage = usage.unwrap();
        assert_eq!(
            (usage.input, usage.output, usage.cached, usage.reasoning),
            (9, 4, 2, 1)
        );
    }

    /// What the full parse finds, for comparison with the scan.
    fn parsed(json: &[u8]) -> (Option<String>, Option<Usage>) {
        serde_json::from_slice::<Facts>(json).unwrap().into_parts()
    }

    #[test]
    fn the_scan_finds_what_the_full_parse_finds() {
        let mut documents: Vec<Vec<u8>> = ["chat_response.json", "chat_response_tool_calls.json"]
            .iter()
            .map(|name| crate::fixture(&format!("openai/{name}")).to_vec())
            .collect();
        for stream in ["chat_stream.sse", "chat_stream_tool_call.sse"] {
            let text = crate::fixture(&format!("openai/{stream}"));
            let text = String::from_utf8(text.to_vec()).unwrap();
            documents.extend(
                text.lines()
                    .filter_map(|l| l.strip_prefix("data: "))
                    .filter(|d| *d != "[DONE]")
                    .map(|d| d.as_bytes().to_vec()),
            );
        }
        documents.push(
            br#" {"usage" : {"prompt_tokens":1} , "x":[{"model":"inner"}], "model":"outer"} "#
                .to_vec(),
        );
        assert!(documents.len() > 6);
        for json in &documents {
            let shown = String::from_utf8_lossy(json);
            let full = parsed(json);
            assert_eq!(
                scanned_facts(json, true, true),
                Some(full.clone()),
                "{shown}"
            );
            assert_eq!(
                scanned_facts(json, true, false).map(|(model, _)| model),
                Some(full.0),
                "{shown}"
            );
            assert_eq!(
                scanned_facts(json, false, true).map(|(_, usage)| usage),
                Some(full.1),
                "{shown}"
            );
        }
    }
}
