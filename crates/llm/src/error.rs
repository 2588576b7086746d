//! Errors the gateway raises on LLM routes, rendered in the OpenAI error shape that the
//! official SDKs parse: `{"error": {"message", "type", "param", "code"}}`.

use serde_json::{Value, json};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LlmError {
    #[error("{route} takes POST with a JSON body, not {method}")]
    MethodNotAllowed { route: &'static str, method: String },
    #[error("the request body is not valid JSON: {0}")]
    InvalidJson(String),
    #[error("the request body must be a JSON object")]
    NotAnObject,
    #[error("`{field}` is required: {why}")]
    MissingField {
        field: &'static str,
        why: &'static str,
    },
    #[error("`{field}` is invalid: {why}")]
    InvalidField { field: &'static str, why: String },
    #[error("the request body is larger than {limit} bytes")]
    TooLarge { limit: usize },
    /// The operator's prompt guard refused the request.
    #[error("{0}")]
    Guarded(crate::guard::Blocked),
}

impl LlmError {
    pub fn status(&self) -> u16 {
        match self {
            Self::MethodNotAllowed { .. } => 405,
            Self::TooLarge { .. } => 413,
            Self::Guarded(blocked) => blocked.status,
            _ => 400,
        }
    }

    /// The OpenAI `param` field: which request field is at fault.
    fn param(&self) -> Option<&'static str> {
        match self {
            Self::MissingField { field, .. } | Self::InvalidField { field, .. } => Some(field),
            _ => None,
        }
    }

    /// The body clients of the OpenAI API expect.
    pub fn openai_body(&self) -> Value {
        if let Self::Guarded(blocked) = self {
            return blocked.error_body(crate::ClientApi::ChatCompletions);
        }
        openai_error(
            &self.to_string(),
            "invalid_request_error",
            self.param(),
            None,
        )
    }
}

impl LlmError {
    /// The body clients of the Anthropic API expect.
    pub fn anthropic_body(&self) -> Value {
        if let Self::Guarded(blocked) = self {
            return blocked.error_body(crate::ClientApi::Messages);
        }
        let kind = match self {
            Self::TooLarge { .. } => "request_too_large",
            _ => "invalid_request_error",
        };
        anthropic_error(kind, &self.to_string())
    }
}

/// An Anthropic-shaped error body.
pub fn anthropic_error(error_type: &str, message: &str) -> Value {
    json!({ "type": "error", "error": { "type": error_type, "message": message } })
}

/// Anthropic's error type for an HTTP status, for errors that have no type of their own
/// (the gateway's, or a provider's that names none).
pub fn anthropic_type_for_status(status: u16) -> &'static str {
    match status {
        400 | 422 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        529 => "overloaded_error",
        _ => "api_error",
    }
}

/// An OpenAI-shaped error body.
pub fn openai_error(
    message: &str,
    error_type: &str,
    param: Option<&str>,
    code: Option<&str>,
) -> Value {
    json!({ "error": { "message": message, "type": error_type, "param": param, "code": code } })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_field_in_param() {
        let e = LlmError::MissingField {
            field: "messages",
            why: "a chat request needs at least one message",
        };
        assert_eq!(e.status(), 400);
        let body = e.openai_body();
        assert_eq!(body["error"]["param"], "messages");
        assert_eq!(body["error"]["type"], "invalid_request_error");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("`messages` is required")
        );
        let m = LlmError::MethodNotAllowed {
            route: "/v1/chat/completions",
            method: "GET".into(),
        };
        assert_eq!(m.status(), 405);
        assert!(m.to_string().contains("takes POST with a JSON body"));
    }
}
