//! The client's Chat Completions request as read: structs borrowing from its body.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

#[derive(Deserialize)]
pub(super) struct ResponseFormat<'a> {
    #[serde(rename = "type", borrow, default)]
    pub(super) kind: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub(super) json_schema: Option<JsonSchemaFormat<'a>>,
}

/// `response_format.json_schema`: the schema the answer must follow.
#[derive(Deserialize)]
pub(super) struct JsonSchemaFormat<'a> {
    #[serde(borrow, default)]
    pub(super) description: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub(super) schema: Option<&'a RawValue>,
}

#[derive(Deserialize)]
pub(super) struct ChatRequest<'a> {
    #[serde(borrow, default)]
    pub(super) model: Option<&'a RawValue>,
    #[serde(borrow)]
    pub(super) messages: Vec<ChatMessage<'a>>,
    #[serde(borrow, default)]
    pub(super) max_completion_tokens: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub(super) max_tokens: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub(super) temperature: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub(super) top_p: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub(super) stream: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub(super) stream_options: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub(super) response_format: Option<ResponseFormat<'a>>,
    #[serde(borrow, default)]
    pub(super) stop: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub(super) n: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub(super) tools: Option<Vec<ChatTool<'a>>>,
    #[serde(borrow, default)]
    pub(super) tool_choice: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub(super) parallel_tool_calls: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub(super) user: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub(super) reasoning_effort: Option<Cow<'a, str>>,
    /// Anthropic's own thinking object (from Anthropic clients, or LiteLLM users).
    #[serde(borrow, default)]
    pub(super) thinking: Option<&'a RawValue>,
}

#[derive(Deserialize)]
pub(super) struct ChatMessage<'a> {
    #[serde(borrow, default)]
    pub(super) role: Option<Cow<'a, str>>,
    /// A string, a list of parts, or null; told apart by its first byte.
    #[serde(borrow, default)]
    pub(super) content: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub(super) tool_call_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub(super) tool_calls: Option<Vec<ToolCall<'a>>>,
    /// An assistant turn's thinking, with signatures, as the answer gave it (LiteLLM's
    /// field): Anthropic wants it back before the turn's tool calls.
    #[serde(borrow, default)]
    pub(super) thinking_blocks: Option<Vec<ThinkingBlock<'a>>>,
}

/// A thinking block as Chat answers carry it (`{"type":"thinking","thinking","signature"}`
/// or `{"type":"redacted_thinking","data"}`).
#[derive(Deserialize)]
pub(crate) struct ThinkingBlock<'a> {
    #[serde(rename = "type", borrow, default)]
    pub kind: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub thinking: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub signature: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub data: Option<&'a RawValue>,
}

#[derive(Deserialize)]
pub(super) struct ContentPart<'a> {
    #[serde(rename = "type", borrow, default)]
    pub(super) kind: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub(super) text: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub(super) image_url: Option<ImageUrl<'a>>,
    #[serde(borrow, default)]
    pub(super) file: Option<FilePart<'a>>,
    /// A prompt-cache mark (as LiteLLM users send it), passed on to Anthropic's block.
    #[serde(borrow, default)]
    pub(super) cache_control: Option<&'a RawValue>,
}

/// A file part: the file inline as a data URL, or the id of a file uploaded to OpenAI.
#[derive(Deserialize)]
pub(super) struct FilePart<'a> {
    #[serde(borrow, default)]
    pub(super) file_data: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub(super) file_id: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
pub(super) struct ImageUrl<'a> {
    #[serde(borrow, default)]
    pub(super) url: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
pub(super) struct ToolCall<'a> {
    #[serde(borrow, default)]
    pub(super) id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub(super) function: Option<CalledFunction<'a>>,
}

#[derive(Deserialize)]
pub(super) struct CalledFunction<'a> {
    #[serde(borrow, default)]
    pub(super) name: Option<&'a RawValue>,
    /// JSON text in a string, as OpenAI sends it (an object is taken as it is).
    #[serde(borrow, default)]
    pub(super) arguments: Option<&'a RawValue>,
}

#[derive(Deserialize)]
pub(super) struct ChatTool<'a> {
    #[serde(borrow, default)]
    pub(super) function: Option<FunctionSpec<'a>>,
    #[serde(borrow, default)]
    pub(super) cache_control: Option<&'a RawValue>,
}

#[derive(Deserialize)]
pub(super) struct FunctionSpec<'a> {
    #[serde(borrow, default)]
    pub(super) name: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub(super) description: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub(super) parameters: Option<&'a RawValue>,
}

#[derive(Deserialize)]
pub(super) struct NamedChoice<'a> {
    #[serde(borrow, default)]
    pub(super) function: Option<NamedFunction<'a>>,
}

#[derive(Deserialize)]
pub(super) struct NamedFunction<'a> {
    #[serde(borrow, default)]
    pub(super) name: Option<&'a RawValue>,
}

#[derive(Deserialize)]
pub(super) struct StreamOptions {
    #[serde(default)]
    pub(super) include_usage: Option<bool>,
}

/// A JSON string read on its own, borrowed when it has no escapes.
#[derive(Deserialize)]
pub(super) struct Text<'a>(#[serde(borrow)] pub(super) Cow<'a, str>);
