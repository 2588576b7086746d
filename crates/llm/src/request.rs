//! Checks every chat-style request shares, whichever API the client speaks.

use serde_json::{Map, Value};

use crate::error::LlmError;

/// What the checks found, and whether the body needs re-serialising.
pub(crate) struct Checked {
    pub model: String,
    pub stream: bool,
    pub model_replaced: bool,
}

/// `messages` must be a non-empty list, `model` a string (required unless the backend pins
/// one, which then replaces it), `stream` a boolean.
pub(crate) fn check_and_pin(
    object: &mut Map<String, Value>,
    backend_model: Option<&str>,
) -> Result<Checked, LlmError> {
    match object.get("messages") {
        None | Some(Value::Null) => {
            return Err(LlmError::MissingField {
                field: "messages",
                why: "a chat request needs a list of messages",
            });
        }
        Some(Value::Array(messages)) if messages.is_empty() => {
            return Err(LlmError::InvalidField {
                field: "messages",
                why: "it must hold at least one message".into(),
            });
        }
        Some(Value::Array(_)) => {}
        Some(_) => {
            return Err(LlmError::InvalidField {
                field: "messages",
                why: "it must be a list of messages".into(),
            });
        }
    }
    let client_model = match object.get("model") {
        None | Some(Value::Null) => None,
        Some(Value::String(m)) => Some(m.clone()),
        Some(_) => {
            return Err(LlmError::InvalidField {
                field: "model",
                why: "it must be a string".into(),
            });
        }
    };
    let stream = match object.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(LlmError::InvalidField {
                field: "stream",
                why: "it must be true or false".into(),
            });
        }
    };
    match (backend_model, client_model) {
        (Some(pinned), client) if client.as_deref() == Some(pinned) => Ok(Checked {
            model: pinned.to_string(),
            stream,
            model_replaced: false,
        }),
        (Some(pinned), _) => {
            object.insert("model".into(), Value::String(pinned.to_string()));
            Ok(Checked {
                model: pinned.to_string(),
                stream,
                model_replaced: true,
            })
        }
        (None, Some(client)) => Ok(Checked {
            model: client,
            stream,
            model_replaced: false,
        }),
        (None, None) => Err(LlmError::MissingField {
            field: "model",
            why: "this backend pins no model, so the request must name one",
        }),
    }
}

/// Providers that return one choice refuse `n > 1` rather than silently answering once.
pub(crate) fn single_choice(request: &Value, provider: &str) -> Result<(), LlmError> {
    if request
        .get("n")
        .and_then(Value::as_u64)
        .is_some_and(|n| n > 1)
    {
        return Err(LlmError::InvalidField {
            field: "n",
            why: format!("{provider} returns one choice; send n = 1"),
        });
    }
    Ok(())
}

/// `response_format` with a JSON schema, for a provider that cannot hold an answer to one:
/// refused rather than dropped, so the client does not take free text for checked JSON.
/// The tool a `json_schema` answer is asked for through on providers without a response
/// format every model takes (Anthropic, Bedrock): every model fills a forced tool's input
/// to its schema, and that input is the client's answer.
pub(crate) const ANSWER_TOOL: &str = "json_answer";

/// What the answer tool is for, when the schema says nothing.
pub(crate) const ANSWER_TOOL_DESCRIPTION: &str =
    "Give your answer as this tool's input: the JSON the user asked for, following its schema.";

/// Why a `json_schema` response format cannot be asked of a provider through its answer
/// tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AnswerSchemaProblem {
    /// Tools of the client's own: the answer tool must be the forced one.
    WithTools,
    /// No schema, or one whose top level is not an object (a tool's input is an object).
    NotAnObject,
    /// A model that cannot be made to call a given tool.
    CannotForceATool,
}

pub(crate) fn answer_schema_error(provider: &str, problem: AnswerSchemaProblem) -> LlmError {
    let elsewhere = "or route to an OpenAI-compatible or Gemini backend";
    let why = match problem {
        AnswerSchemaProblem::WithTools => format!(
            "json_schema together with tools cannot be translated for {provider}, which is asked for the JSON through a tool it must call; send one of the two, {elsewhere}"
        ),
        AnswerSchemaProblem::NotAnObject => format!(
            "json_schema needs a schema whose top level is an object (\"type\": \"object\") for {provider}, which gives the JSON as a tool's input; wrap other values in an object, {elsewhere}"
        ),
        AnswerSchemaProblem::CannotForceATool => format!(
            "json_schema structured output is given on {provider} through a tool the model must call, which only Claude and Nova models can be made to do; use one of those, {elsewhere}"
        ),
    };
    LlmError::InvalidField {
        field: "response_format",
        why,
    }
}

/// Whether a schema (as JSON) is an object schema: `"type": "object"` at its top.
pub(crate) fn is_object_schema(schema: &Value) -> bool {
    schema["type"] == "object"
}

/// The content of Chat Completions messages, checked before it is translated for another
/// provider: a part whose fields have the wrong type would otherwise be dropped, or passed
/// on unread for the provider to refuse. The error names the JSON path at fault.
pub(crate) fn check_content_parts(messages: &[Value]) -> Result<(), LlmError> {
    for (i, message) in messages.iter().enumerate() {
        let wrong = |at: String, want: &str| LlmError::InvalidField {
            field: "messages",
            why: format!("{at} must be {want}"),
        };
        let parts = match message.get("content") {
            None | Some(Value::Null | Value::String(_)) => continue,
            Some(Value::Array(parts)) => parts,
            Some(_) => {
                let at = format!("messages[{i}].content");
                return Err(wrong(at, "a string or a list of content parts"));
            }
        };
        for (j, part) in parts.iter().enumerate() {
            let at = |field: &str| format!("messages[{i}].content[{j}]{field}");
            let Some(kind) = part.get("type").and_then(Value::as_str) else {
                return Err(wrong(
                    at(".type"),
                    "a string naming the part (text, image_url)",
                ));
            };
            let (field, value) = match kind {
                "text" | "refusal" => (kind, part.get(kind)),
                "image_url" => ("image_url.url", part.pointer("/image_url/url")),
                _ => continue,
            };
            if !value.is_some_and(Value::is_string) {
                return Err(wrong(at(&format!(".{field}")), "a string"));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::translate::chat_on_converse::chat_to_converse;
    use crate::translate::chat_on_gemini::chat_to_gemini;
    use crate::translate::chat_on_messages::{MessagesTarget, chat_to_messages};

    /// Every translation refuses a malformed part the same way, naming its path.
    #[test]
    fn malformed_content_parts_are_named_by_path_for_every_provider() {
        let cases = [
            (
                json!([{"type": "text", "text": 5}]),
                "messages[1].content[1].text must be a string",
            ),
            (
                json!([{"text": "no type"}]),
                "messages[1].content[1].type must be a string",
            ),
            (
                json!([{"type": "image_url", "image_url": {"url": 7}}]),
                "messages[1].content[1].image_url.url must be a string",
            ),
        ];
        for (bad_part, says) in cases {
            let mut parts = vec![json!({"type": "text", "text": "a"})];
            parts.extend(bad_part.as_array().unwrap().iter().cloned());
            let request = json!({"model": "m", "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": parts}
            ]});
            let errors = [
                chat_to_gemini(&request).unwrap_err(),
                chat_to_converse(&request).unwrap_err(),
                chat_to_messages(request.to_string().as_bytes(), MessagesTarget::Anthropic)
                    .unwrap_err(),
            ];
            for error in errors {
                assert_eq!(error.status(), 400);
                assert!(error.to_string().contains(says), "{error} (wanted {says})");
            }
        }
        let request = json!({"model": "m", "messages": [{"role": "user", "content": 5}]});
        let error = chat_to_converse(&request).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("messages[0].content must be a string or a list")
        );
    }

    #[test]
    fn a_json_schema_format_becomes_a_forced_answer_tool_where_there_is_no_format() {
        let format = json!({"type": "json_schema", "json_schema": {"name": "w", "schema": {"type": "object"}}});
        let request = json!({"model": "anthropic.claude-sonnet-4-5", "response_format": format, "messages": [{"role": "user", "content": "hi"}]});
        let converse = chat_to_converse(&request).unwrap();
        assert_eq!(
            converse["toolConfig"]["toolChoice"],
            json!({"tool": {"name": "json_answer"}})
        );
        let anthropic = chat_to_messages(request.to_string().as_bytes(), MessagesTarget::Anthropic);
        assert!(anthropic.unwrap().structured);
        assert!(
            chat_to_gemini(&request).is_ok(),
            "Gemini takes JSON schemas"
        );
        let mut llama = request.clone();
        llama["model"] = json!("meta.llama3-3-70b-instruct-v1:0");
        let error = chat_to_converse(&llama).unwrap_err();
        assert!(
            error.to_string().contains("only Claude and Nova"),
            "{error}"
        );
        let mut with_tools = request.clone();
        with_tools["tools"] = json!([{"type": "function", "function": {"name": "f"}}]);
        let errors = [
            chat_to_converse(&with_tools).unwrap_err(),
            chat_to_messages(with_tools.to_string().as_bytes(), MessagesTarget::Anthropic)
                .unwrap_err(),
        ];
        for error in errors {
            assert_eq!(error.status(), 400);
            assert_eq!(error.openai_body()["error"]["param"], "response_format");
            assert!(error.to_string().contains("together with tools"), "{error}");
        }
    }
}
