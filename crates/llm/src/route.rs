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
}
