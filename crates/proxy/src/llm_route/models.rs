//! `GET /v1/models` on an LLM route: the models a client can reach through it. A backend
//! that pins its model answers from configuration (the provider would list models the
//! route never sends); one that does not asks an OpenAI-compatible provider.

use config::ir::backend::AiBackend;
use http::{Response, StatusCode};
use llm::policy::RequestPolicy;
use serde_json::{Value, json};

use crate::body::BoxBody;
use crate::llm_route::json_response;

/// The OpenAI model list of the pinned models of `backends` and the policy's aliases, or
/// `None` when some backend pins no model (the provider has to be asked).
pub(crate) fn pinned_list<'a>(
    backends: impl IntoIterator<Item = &'a AiBackend>,
    policy: Option<&RequestPolicy>,
) -> Option<Response<BoxBody>> {
    let mut data: Vec<Value> = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for backend in backends {
        let model = backend.pinned_model()?;
        if seen.insert(model.to_string()) {
            data.push(entry(model, backend.provider.name()));
        }
    }
    // Aliases are names clients may send; each is listed as the model it resolves to.
    for (alias, _) in policy
        .map(|p| p.model_aliases.as_slice())
        .unwrap_or_default()
    {
        if seen.insert(alias.clone()) {
            data.push(entry(alias, "alias"));
        }
    }
    Some(json_response(
        StatusCode::OK,
        &json!({ "object": "list", "data": data }),
    ))
}

fn entry(id: &str, owner: &str) -> Value {
    json!({ "id": id, "object": "model", "created": 0, "owned_by": owner })
}
