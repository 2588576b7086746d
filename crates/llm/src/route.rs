//! Which API a client speaks, decided by the path suffix (as the upstream project does), so
//! `/ollama/v1/chat/completions` and `/v1/chat/completions` are the same operation.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientApi {
    /// OpenAI Chat Completions.
    ChatCompletions,
    /// Anthropic Messages.
    Messages,
    /// OpenAI embeddings.
    Embeddings,
    /// `GET /v1/models`.
    Models,
    /// Anything else is forwarded as it is.
    Passthrough,
}

impl ClientApi {
    pub fn from_path(path: &str) -> Self {
        let path = path.trim_end_matches('/');
        if path.ends_with("/chat/completions") {
            Self::ChatCompletions
        } else if path.ends_with("/v1/messages") {
            Self::Messages
        } else if path.ends_with("/embeddings") {
            Self::Embeddings
        } else if path.ends_with("/models") {
            Self::Models
        } else {
            Self::Passthrough
        }
    }

    /// The API of a path under an operator's route table (`backend.ai.routes`): the first
    /// entry whose suffix ends the path (the table is ordered longest suffix first, `*`
    /// matching anything last); the well-known suffixes when none does.
    pub fn from_route_table(path: &str, routes: &[(String, Self)]) -> Self {
        let trimmed = path.trim_end_matches('/');
        routes
            .iter()
            .find(|(suffix, _)| suffix == "*" || trimmed.ends_with(suffix.trim_end_matches('/')))
            .map(|(_, api)| *api)
            .unwrap_or_else(|| Self::from_path(path))
    }

    /// The OpenTelemetry GenAI operation name.
    pub fn operation(self) -> &'static str {
        match self {
            Self::ChatCompletions | Self::Messages => "chat",
            Self::Embeddings => "embeddings",
            Self::Models | Self::Passthrough => "other",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes_pick_the_api() {
        assert_eq!(
            ClientApi::from_path("/ollama/v1/chat/completions"),
            ClientApi::ChatCompletions
        );
        assert_eq!(
            ClientApi::from_path("/v1/chat/completions/"),
            ClientApi::ChatCompletions
        );
        assert_eq!(
            ClientApi::from_path("/anthropic/v1/messages"),
            ClientApi::Messages
        );
        assert_eq!(
            ClientApi::from_path("/v1/embeddings"),
            ClientApi::Embeddings
        );
        assert_eq!(ClientApi::from_path("/openai/v1/models"), ClientApi::Models);
        assert_eq!(ClientApi::from_path("/v1/files"), ClientApi::Passthrough);
    }

    #[test]
    fn a_route_table_overrides_the_suffixes() {
        let table = vec![
            ("/v1/chat".to_string(), ClientApi::ChatCompletions),
            ("/custom/models".to_string(), ClientApi::Models),
            ("*".to_string(), ClientApi::Passthrough),
        ];
        assert_eq!(
            ClientApi::from_route_table("/llm/v1/chat", &table),
            ClientApi::ChatCompletions
        );
        assert_eq!(
            ClientApi::from_route_table("/llm/v1/chat/completions", &table),
            ClientApi::Passthrough,
            "`*` catches what the table does not name"
        );
        let without_fallback = &table[..2];
        assert_eq!(
            ClientApi::from_route_table("/x/v1/messages", without_fallback),
            ClientApi::Messages,
            "without `*` the well-known suffixes still apply"
        );
    }
}
