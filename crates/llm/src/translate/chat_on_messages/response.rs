//! An Anthropic Messages response written as an OpenAI Chat Completion in one pass, from
//! structs borrowed from the provider's body (see `request.rs` for why not JSON trees).

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::anthropic::AnthropicUsage;
use crate::json_members::compact;
use crate::translate::chat_on_messages::finish_reason;
use crate::usage::{OpenAiUsage, Usage};

/// The client's answer, with what the gateway records of it.
#[derive(Debug)]
pub struct ChatAnswer {
    pub body: Vec<u8>,
    pub usage: Option<Usage>,
    /// The model the provider says answered.
    pub model: Option<String>,
}

/// An Anthropic Messages response as an OpenAI Chat Completion; the error says what in the
/// provider's body is not a Messages response.
pub fn message_to_chat(message: &[u8], created: u64) -> Result<ChatAnswer, serde_json::Error> {
    message_to_chat_with(message, created, false)
}

/// `message_to_chat`; with `structured`, the answer to a `json_schema` request (see
/// `MessagesRequest::structured`): the forced tool's input is the answer's content.
pub fn message_to_chat_with(
    message: &[u8],
    created: u64,
    structured: bool,
) -> Result<ChatAnswer, serde_json::Error> {
    let message: Message<'_> = crate::json_members::from_bytes(message)?;
    let mut structured_answer = None;
    let mut texts = Vec::new();
    let mut tool_calls = Vec::new();
    let mut reasoning = String::new();
    let mut thinking_blocks = Vec::new();
    for block in &message.content {
        match block.kind.as_ref() {
            "text" => texts.extend(block.text.filter(|t| t.get() != r#""""#)),
            "thinking" => {
                if let Some(text) = block.thinking {
                    reasoning.push_str(&serde_json::from_str::<Cow<'_, str>>(text.get())?);
                }
                thinking_blocks.push(ThinkingBlock::Thinking {
                    thinking: block.thinking,
                    signature: block.signature,
                });
            }
            "redacted_thinking" => {
                thinking_blocks.push(ThinkingBlock::RedactedThinking { data: block.data })
            }
            "tool_use" if structured => {
                structured_answer = Some(compact(block.input.map_or("{}", RawValue::get)));
            }
            "tool_use" => tool_calls.push(ToolCall {
                id: block.id,
                kind: "function",
                function: CalledFunction {
                    name: block.name,
                    arguments: compact(block.input.map_or("null", RawValue::get)),
                },
            }),
            _ => {}
        }
    }
    let content = match texts.as_slice() {
        _ if structured_answer.is_some() => structured_answer.map(Text::Json),
        [] => None,
        // The usual answer, one text block: its string goes over as the provider wrote it.
        [text] => Some(Text::Raw(text)),
        several => Some(Text::Joined(
            several
                .iter()
                .map(|text| serde_json::from_str::<Cow<'_, str>>(text.get()))
                .collect::<Result<String, _>>()?,
        )),
    };
    let usage = message.usage.as_ref().and_then(AnthropicUsage::normalised);
    let chat = Completion {
        id: message.id,
        object: "chat.completion",
        created,
        model: message.model.as_deref(),
        choices: [Choice {
            index: 0,
            message: Reply {
                role: "assistant",
                content,
                refusal: None,
                tool_calls,
                reasoning_content: (!thinking_blocks.is_empty()).then_some(reasoning),
                thinking_blocks,
            },
            logprobs: None,
            finish_reason: match message.stop_reason.as_deref() {
                // The forced answer tool ends every structured answer.
                Some("tool_use") if structured => "stop",
                other => finish_reason(other),
            },
        }],
        usage: usage.unwrap_or_default().to_openai(),
    };
    Ok(ChatAnswer {
        // Structs of strings, numbers and raw JSON always serialise.
        body: serde_json::to_vec(&chat).unwrap_or_default(),
        usage,
        model: message.model.map(Cow::into_owned),
    })
}

// ---- The provider's answer, borrowed from its body ----

#[derive(Deserialize)]
struct Message<'a> {
    #[serde(borrow, default)]
    id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    model: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    content: Vec<ContentBlock<'a>>,
    #[serde(borrow, default)]
    stop_reason: Option<Cow<'a, str>>,
    #[serde(default)]
    usage: Option<AnthropicUsage>,
}

/// A content block; the fields of kinds other than text and tool use are skipped.
#[derive(Deserialize)]
struct ContentBlock<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    /// A text block's text as its JSON string, unread.
    #[serde(borrow, default, deserialize_with = "json_string")]
    text: Option<&'a RawValue>,
    #[serde(borrow, default)]
    id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    name: Option<&'a RawValue>,
    #[serde(borrow, default)]
    input: Option<&'a RawValue>,
    /// A thinking block's text and signature, and a redacted block's data.
    #[serde(borrow, default)]
    thinking: Option<&'a RawValue>,
    #[serde(borrow, default)]
    signature: Option<&'a RawValue>,
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
}

/// A JSON string kept as its raw text; anything else is not a text block's text.
fn json_string<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<&'de RawValue>, D::Error> {
    let raw = Option::<&'de RawValue>::deserialize(deserializer)?;
    match raw {
        Some(text) if !text.get().starts_with('"') => Err(serde::de::Error::custom(
            "a text block's text is not a string",
        )),
        raw => Ok(raw),
    }
}

// ---- The client's answer ----

#[derive(Serialize)]
struct Completion<'a> {
    id: Option<&'a RawValue>,
    object: &'static str,
    created: u64,
    model: Option<&'a str>,
    choices: [Choice<'a>; 1],
    usage: OpenAiUsage,
}

#[derive(Serialize)]
struct Choice<'a> {
    index: u32,
    message: Reply<'a>,
    logprobs: Option<()>,
    finish_reason: &'static str,
}

#[derive(Serialize)]
struct Reply<'a> {
    role: &'static str,
    content: Option<Text<'a>>,
    refusal: Option<()>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<ToolCall<'a>>,
    /// The thinking's text, as LiteLLM and OpenAI-compatible servers name it.
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_content: Option<String>,
    /// The thinking blocks with their signatures, for the client to send back.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    thinking_blocks: Vec<ThinkingBlock<'a>>,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ThinkingBlock<'a> {
    Thinking {
        thinking: Option<&'a RawValue>,
        signature: Option<&'a RawValue>,
    },
    RedactedThinking {
        data: Option<&'a RawValue>,
    },
}

/// The answer's text: one block's JSON string as it came, or several blocks' text joined.
#[derive(Serialize)]
#[serde(untagged)]
enum Text<'a> {
    Raw(&'a RawValue),
    Joined(String),
    /// JSON text, sent as a string.
    Json(Cow<'a, str>),
}

#[derive(Serialize)]
struct ToolCall<'a> {
    id: Option<&'a RawValue>,
    #[serde(rename = "type")]
    kind: &'static str,
    function: CalledFunction<'a>,
}

#[derive(Serialize)]
struct CalledFunction<'a> {
    name: Option<&'a RawValue>,
    /// The tool's input as JSON text, as OpenAI clients expect it.
    arguments: Cow<'a, str>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture;
    use serde_json::{Value, json};

    fn translate(message: &Value) -> (Value, ChatAnswer) {
        let answer = message_to_chat(&serde_json::to_vec(message).unwrap(), 7).unwrap();
        (serde_json::from_slice(&answer.body).unwrap(), answer)
    }

    #[test]
    fn keeps_text_tools_and_usage() {
        let answer =
            message_to_chat(&fixture("anthropic/messages_response_tool_use.json"), 7).unwrap();
        let chat: Value = serde_json::from_slice(&answer.body).unwrap();
        assert_eq!(chat["object"], "chat.completion");
        assert_eq!(chat["created"], 7);
        assert_eq!(chat["choices"][0]["finish_reason"], "tool_calls");
        let call = &chat["choices"][0]["message"]["tool_calls"][0];
        assert_eq!(call["type"], "function");
        assert_eq!(call["function"]["name"], "get_weather");
        let args: Value =
            serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
        assert_eq!(args["location"], "Paris");
        assert_eq!(chat["usage"]["completion_tokens"], 74);
        assert_eq!(chat["usage"]["prompt_tokens"], 412 + 1536);
        assert_eq!(answer.usage.unwrap().output, 74);
        assert_eq!(answer.model.as_deref(), chat["model"].as_str());
    }

    #[test]
    fn thinking_becomes_reasoning_content_and_signed_thinking_blocks() {
        let (chat, _) = translate(&json!({
            "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x",
            "content": [
                {"type": "thinking", "thinking": "First \"units\", ", "signature": "EqQBCgIYAhIM"},
                {"type": "redacted_thinking", "data": "EmwKAhgBEgy3"},
                {"type": "thinking", "thinking": "then the call.", "signature": "EqQBCgIYAhIN"},
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}
            ],
            "stop_reason": "tool_use",
            "usage": {"input_tokens": 3, "output_tokens": 40}
        }));
        let message = &chat["choices"][0]["message"];
        assert_eq!(
            message["reasoning_content"],
            "First \"units\", then the call."
        );
        assert_eq!(
            message["thinking_blocks"],
            json!([
                {"type": "thinking", "thinking": "First \"units\", ", "signature": "EqQBCgIYAhIM"},
                {"type": "redacted_thinking", "data": "EmwKAhgBEgy3"},
                {"type": "thinking", "thinking": "then the call.", "signature": "EqQBCgIYAhIN"}
            ])
        );
        assert_eq!(message["content"], "Checking.");
        assert_eq!(message["tool_calls"][0]["id"], "toolu_1");
    }

    #[test]
    fn a_structured_answer_is_the_forced_tools_input_as_content() {
        let message = json!({
            "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x",
            "content": [
                {"type": "text", "text": "Here it is."},
                {"type": "tool_use", "id": "toolu_1", "name": "json_answer", "input": {"city": "Paris", "note": "quote \" here"}}
            ],
            "stop_reason": "tool_use",
            "usage": {"input_tokens": 3, "output_tokens": 9}
        });
        let answer = message_to_chat_with(&serde_json::to_vec(&message).unwrap(), 7, true).unwrap();
        let chat: Value = serde_json::from_slice(&answer.body).unwrap();
        let choice = &chat["choices"][0];
        assert_eq!(choice["finish_reason"], "stop");
        assert!(choice["message"].get("tool_calls").is_none());
        let content: Value =
            serde_json::from_str(choice["message"]["content"].as_str().unwrap()).unwrap();
        assert_eq!(content, json!({"city": "Paris", "note": "quote \" here"}));
    }

    #[test]
    fn text_blocks_join_and_other_blocks_are_skipped() {
        let (chat, answer) = translate(&json!({
            "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x",
            "content": [
                {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}},
                {"type": "text", "text": "a \"quoted\" "},
                {"type": "text", "text": "answer", "citations": null}
            ],
            "stop_reason": "max_tokens",
            "usage": {"input_tokens": 3, "output_tokens": 2, "cache_read_input_tokens": 1, "service_tier": "standard"}
        }));
        assert_eq!(
            chat["choices"][0],
            json!({"index": 0, "message": {"role": "assistant", "content": "a \"quoted\" answer", "refusal": null}, "logprobs": null, "finish_reason": "length"})
        );
        assert_eq!(chat["id"], "msg_1");
        assert_eq!(chat["usage"]["prompt_tokens"], 4);
        assert_eq!(chat["usage"]["prompt_tokens_details"]["cached_tokens"], 1);
        assert_eq!(answer.model.as_deref(), Some("claude-x"));
    }

    #[test]
    fn one_text_block_goes_over_as_written() {
        let body = br#"{"id":"msg_1","model":"m","content":[{"type":"text","text":"caf\u00e9 \"q\" \n"},{"type":"text","text":""}],"stop_reason":"end_turn"}"#;
        let answer = message_to_chat(body, 7).unwrap();
        let text = String::from_utf8(answer.body).unwrap();
        assert!(text.contains(r#""content":"caf\u00e9 \"q\" \n""#), "{text}");
        let chat: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            chat["choices"][0]["message"]["content"],
            "caf\u{e9} \"q\" \n"
        );
        let not_text = br#"{"content":[{"type":"text","text":5}]}"#;
        let error = message_to_chat(not_text, 7).unwrap_err();
        assert!(error.to_string().contains("not a string"), "{error}");
    }

    #[test]
    fn an_answer_without_text_has_null_content() {
        let (chat, answer) =
            translate(&json!({"id": "msg_1", "content": [], "stop_reason": "end_turn"}));
        assert_eq!(chat["choices"][0]["message"]["content"], Value::Null);
        assert_eq!(chat["choices"][0]["finish_reason"], "stop");
        assert_eq!(chat["usage"]["total_tokens"], 0);
        assert!(answer.usage.is_none());
    }

    #[test]
    fn a_body_that_is_not_a_message_is_an_error() {
        assert!(message_to_chat(br#""just text""#, 7).is_err());
        assert!(message_to_chat(br#"{"content": "text"}"#, 7).is_err());
        assert!(message_to_chat(b"not json", 7).is_err());
    }
}
