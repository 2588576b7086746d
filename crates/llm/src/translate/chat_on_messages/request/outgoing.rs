//! The Anthropic Messages request as written: structs borrowing from the client's.

use std::borrow::Cow;

use serde::Serialize;
use serde_json::value::RawValue;

use super::incoming::ChatTool;
use super::raw;

#[derive(Serialize)]
pub(super) struct Outgoing<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) model: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) anthropic_version: Option<&'static str>,
    pub(super) max_tokens: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) thinking: Option<Cow<'a, RawValue>>,
    #[serde(skip_serializing_if = "System::is_empty")]
    pub(super) system: System<'a>,
    pub(super) messages: Vec<Turn<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) temperature: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) top_p: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) stream: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) stop_sequences: Option<StopSequences<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) tools: Option<Vec<Tool<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) tool_choice: Option<ToolChoice<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) metadata: Option<Metadata<'a>>,
}

#[derive(Serialize)]
pub(super) struct Turn<'a> {
    pub(super) role: &'static str,
    pub(super) content: Vec<Block<'a>>,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum Block<'a> {
    Text {
        text: Cow<'a, str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        cache_control: Option<&'a RawValue>,
    },
    Image {
        source: ImageSource<'a>,
    },
    /// A PDF, which Anthropic reads as a document.
    Document {
        source: ImageSource<'a>,
    },
    ToolUse {
        id: Option<&'a RawValue>,
        name: Option<&'a RawValue>,
        input: Cow<'a, RawValue>,
    },
    ToolResult {
        tool_use_id: &'a str,
        content: Cow<'a, str>,
    },
    Thinking {
        thinking: &'a RawValue,
        signature: &'a RawValue,
    },
    RedactedThinking {
        data: &'a RawValue,
    },
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum ImageSource<'a> {
    Base64 {
        media_type: Cow<'a, str>,
        data: Cow<'a, str>,
    },
    Url {
        url: Cow<'a, str>,
    },
}

#[derive(Serialize)]
#[serde(untagged)]
pub(super) enum StopSequences<'a> {
    One([&'a RawValue; 1]),
    Many(&'a RawValue),
}

impl<'a> StopSequences<'a> {
    /// OpenAI's `stop` is a string or a list of them; Anthropic wants a list.
    pub(super) fn of(stop: &'a RawValue) -> Option<Self> {
        match stop.get().as_bytes().first() {
            Some(b'"') => Some(Self::One([stop])),
            Some(b'[') => Some(Self::Many(stop)),
            _ => None,
        }
    }
}

#[derive(Serialize)]
pub(super) struct Tool<'a> {
    pub(super) name: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) description: Option<&'a RawValue>,
    pub(super) input_schema: &'a RawValue,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) cache_control: Option<&'a RawValue>,
}

impl<'a> Tool<'a> {
    pub(super) fn of(tool: &'a ChatTool<'a>) -> Self {
        let spec = tool.function.as_ref();
        Self {
            name: spec.and_then(|f| f.name),
            description: spec.and_then(|f| f.description),
            input_schema: spec
                .and_then(|f| f.parameters)
                .unwrap_or_else(|| raw(r#"{"type":"object"}"#)),
            cache_control: tool.cache_control,
        }
    }
}

#[derive(Serialize)]
pub(super) struct ToolChoice<'a> {
    #[serde(rename = "type")]
    pub(super) kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) name: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) disable_parallel_tool_use: Option<bool>,
}

#[derive(Serialize)]
pub(super) struct Metadata<'a> {
    pub(super) user_id: &'a RawValue,
}

/// The system prompt: one string, or text blocks when some carry prompt-cache marks.
#[derive(Serialize)]
#[serde(untagged)]
pub(super) enum System<'a> {
    Text(String),
    Blocks(Vec<SystemBlock<'a>>),
}

impl System<'_> {
    pub(super) fn is_empty(&self) -> bool {
        match self {
            Self::Text(text) => text.is_empty(),
            Self::Blocks(blocks) => blocks.is_empty(),
        }
    }
}

#[derive(Serialize)]
pub(super) struct SystemBlock<'a> {
    #[serde(rename = "type")]
    pub(super) kind: &'static str,
    pub(super) text: Cow<'a, str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) cache_control: Option<&'a RawValue>,
}
