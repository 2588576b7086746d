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
