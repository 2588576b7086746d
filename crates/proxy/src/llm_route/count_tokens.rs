//! `POST /v1/messages/count_tokens` for backends that are not Anthropic's API: Anthropic
//! clients (Claude Code among them) ask it before sending, and only Anthropic answers it.
//! Elsewhere the gateway answers with its own estimate of the prompt, in Anthropic's shape,
//! rather than passing on a provider's 404.

use http::header::HeaderValue;
use http::{Method, Response, StatusCode};
use llm::{ClientApi, LlmError};
use serde_json::{Value, json};

use crate::body::BoxBody;
use crate::error::ProxyError;
use crate::llm_route::{Dialect, json_response, read_request};

/// Whether a request is a token count the gateway answers itself.
pub(crate) fn is_count_tokens(method: &Method, path: &str) -> bool {
    method == Method::POST
        && path
            .trim_end_matches('/')
            .ends_with("/v1/messages/count_tokens")
}

/// The estimate, as `{"input_tokens": N}`; a header says it is the gateway's estimate.
pub(crate) async fn answer(body: BoxBody) -> Result<Response<BoxBody>, ProxyError> {
    let counted = read_request(body, Dialect::Anthropic, None, |bytes| {
        let request: Value =
            serde_json::from_slice(&bytes).map_err(|e| LlmError::InvalidJson(e.to_string()))?;
        if !request.get("messages").is_some_and(Value::is_array) {
            return Err(LlmError::MissingField {
                field: "messages",
                why: "a token count needs the messages it counts",
            });
        }
        Ok(llm::tokens::estimate_request(ClientApi::Messages, &request))
    })
    .await?;
    let tokens = match counted {
        Ok(tokens) => tokens,
        Err(answer) => return Ok(answer),
    };
    let mut response = json_response(StatusCode::OK, &json!({ "input_tokens": tokens }));
    response.headers_mut().insert(
        "x-agentgateway-token-count",
        HeaderValue::from_static("estimate"),
    );
    Ok(response)
}
