//! An OpenAI Chat Completions request written as an Anthropic Messages request in one pass:
//! the client's body is read into structs that borrow from it, and the provider's body is
//! serialised from structs that borrow from those. Values that travel unchanged (the
//! model, sampling knobs, tool schemas, ids) are carried as raw JSON text, never parsed.
//! Building both sides as `serde_json::Value` trees cost more than the rest of the
//! gateway's work on the request.

use std::borrow::Cow;

use serde_json::value::RawValue;

use crate::error::LlmError;
use crate::translate::chat_on_messages::DEFAULT_MAX_TOKENS;
use crate::translate::reasoning::{self, Budgets};

/// The request for the provider, and what the stream translator must know of the client's.
#[derive(Debug)]
pub struct MessagesRequest {
    pub body: Vec<u8>,
    /// `stream_options.include_usage`: the client wants a final usage chunk.
    pub include_usage: bool,
    /// The client asked for JSON following a schema, which Anthropic gives as the input of
    /// a tool it is made to call (`json_answer`); that input is the client's answer.
    pub structured: bool,
}

/// Where the Messages request goes: Anthropic's own API, or Vertex AI's Anthropic endpoint,
/// which takes the model from the path and an `anthropic_version` in the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessagesTarget {
    Anthropic,
    Vertex,
}

/// An OpenAI Chat Completions body as an Anthropic Messages body.
pub fn chat_to_messages(chat: &[u8], target: MessagesTarget) -> Result<MessagesRequest, LlmError> {
    let request: ChatRequest<'_> =
        crate::json_members::from_bytes(chat).map_err(|_| schema_error(chat))?;
    if request.n.and_then(as_u64).is_some_and(|n| n > 1) {
        return Err(LlmError::InvalidField {
            field: "n",
            why: "Anthropic returns one choice; send n = 1".into(),
        });
    }
    let format_type = request
        .response_format
        .as_ref()
        .and_then(|f| f.kind.as_deref());
    let answer_schema = match format_type {
        Some("json_schema") => Some(answer_schema(&request)?),
        _ => None,
    };
    let (system, messages) =
        turns(&request.messages).map_err(|e| content_error(chat).unwrap_or(e))?;
    if messages.is_empty() {
        return Err(LlmError::InvalidField {
            field: "messages",
            why: "Anthropic needs at least one user or assistant message with content besides the system prompt".into(),
        });
    }
    let tools: Option<Vec<Tool<'_>>> = request
        .tools
        .as_deref()
        .filter(|tools| !tools.is_empty())
        .map(|tools| tools.iter().map(Tool::of).collect());
    let tool_choice = match &tools {
        Some(_) => tool_choice(request.tool_choice, request.parallel_tool_calls),
        None => None,
    };
    let (tools, tool_choice) = match answer_schema {
        Some((schema, description)) => (
            Some(vec![Tool {
                name: Some(raw(ANSWER_TOOL_NAME)),
                description: Some(description.unwrap_or_else(|| raw(ANSWER_TOOL_DESCRIPTION))),
                input_schema: schema,
                cache_control: None,
            }]),
            // One answer: a second call would make the content two JSON texts.
            Some(ToolChoice {
                kind: "tool",
                name: Some(raw(ANSWER_TOOL_NAME)),
                disable_parallel_tool_use: Some(true),
            }),
        ),
        None => (tools, tool_choice),
    };
    let thinking = reasoning::requested(
        request.thinking,
        request.reasoning_effort.as_deref(),
        Budgets::Anthropic,
    )?;
    let forced_tool = tool_choice
        .as_ref()
        .is_some_and(|choice| matches!(choice.kind, "any" | "tool"));
    let thinking = reasoning::unless_forced_tool(thinking, forced_tool);
    let knob = |name: &str, value: Option<&RawValue>| {
        value.is_some_and(|v| {
            reasoning::sampling_allowed(thinking.as_ref(), name, v.get().parse().ok())
        })
    };
    let temperature = request
        .temperature
        .filter(|_| knob("temperature", request.temperature));
    let top_p = request.top_p.filter(|_| knob("top_p", request.top_p));
    let max_tokens = request
        .max_completion_tokens
        .or(request.max_tokens)
        .and_then(as_u64)
        .unwrap_or(DEFAULT_MAX_TOKENS);
    let out = Outgoing {
        model: (target == MessagesTarget::Anthropic)
            .then_some(request.model)
            .flatten(),
        anthropic_version: (target == MessagesTarget::Vertex)
            .then_some(crate::gcp::VERTEX_ANTHROPIC_VERSION),
        max_tokens: reasoning::max_tokens_with(max_tokens, thinking.as_ref()),
        thinking: thinking.map(|t| t.object),
        system,
        messages,
        temperature,
        top_p,
        stream: request.stream,
        stop_sequences: request.stop.and_then(StopSequences::of),
        tools,
        tool_choice,
        metadata: request
            .user
            .filter(|user| is_string(user))
            .map(|user_id| Metadata { user_id }),
    };
    let include_usage = request
        .stream_options
        .and_then(|raw| serde_json::from_str::<StreamOptions>(raw.get()).ok())
        .and_then(|options| options.include_usage)
        .unwrap_or(false);
    // Structs of strings, numbers and raw JSON always serialise.
    let body = serde_json::to_vec(&out).unwrap_or_default();
    Ok(MessagesRequest {
        body,
        include_usage,
        structured: answer_schema.is_some(),
    })
}

/// `crate::request::ANSWER_TOOL` and its description as JSON strings, for the borrowed
/// request structs.
const ANSWER_TOOL_NAME: &str = r#""json_answer""#;
const ANSWER_TOOL_DESCRIPTION: &str = r#""Give your answer as this tool's input: the JSON the user asked for, following its schema.""#;

/// The schema (and its description) of a `json_schema` response format.
fn answer_schema<'a>(
    request: &ChatRequest<'a>,
) -> Result<(&'a RawValue, Option<&'a RawValue>), LlmError> {
    use crate::request::{AnswerSchemaProblem, answer_schema_error, is_object_schema};
    if request
        .tools
        .as_ref()
        .is_some_and(|tools| !tools.is_empty())
    {
        return Err(answer_schema_error(
            "Anthropic",
            AnswerSchemaProblem::WithTools,
        ));
    }
    let format = request
        .response_format
        .as_ref()
        .and_then(|f| f.json_schema.as_ref());
    // Read as a tree only to check its top: the schema goes on as the client wrote it.
    let schema = format
        .and_then(|f| f.schema)
        .filter(|s| {
            serde_json::from_str::<serde_json::Value>(s.get()).is_ok_and(|v| is_object_schema(&v))
        })
        .ok_or_else(|| answer_schema_error("Anthropic", AnswerSchemaProblem::NotAnObject))?;
    Ok((
        schema,
        format
            .and_then(|f| f.description)
            .filter(|d| d.get().starts_with('"')),
    ))
}

/// A body the structs could not read: read again tracking the path, so the error names the
/// field at fault (only failures pay for the tracking).
fn schema_error(chat: &[u8]) -> LlmError {
    if let Some(error) = content_error(chat) {
        return error;
    }
    let mut reader = serde_json::Deserializer::from_slice(chat);
    let why = match serde_path_to_error::deserialize::<_, ChatRequest<'_>>(&mut reader) {
        Err(error) => format!("`{}`: {}", error.path(), error.inner()),
        Ok(_) => "it does not match the Chat Completions request schema".into(),
    };
    // Only the lists of objects can fail to read; the error names the one at fault.
    let field = if why.starts_with("`tools") {
        "tools"
    } else {
        "messages"
    };
    LlmError::InvalidField { field, why }
}

/// A content part of the wrong shape, named down to its field (read again as a tree: only
/// failures pay for it).
fn content_error(chat: &[u8]) -> Option<LlmError> {
    let request = serde_json::from_slice::<serde_json::Value>(chat).ok()?;
    crate::request::check_content_parts(request["messages"].as_array()?).err()
}

mod incoming;
mod outgoing;

use incoming::*;
use outgoing::*;

// ---- The translation ----

/// System and developer messages become the system prompt; tool results become user
/// turns; turns of one role in a row are merged, as Anthropic wants them alternating.
fn turns<'a>(messages: &'a [ChatMessage<'a>]) -> Result<(System<'a>, Vec<Turn<'a>>), LlmError> {
    let mut system: Vec<SystemBlock<'a>> = Vec::new();
    let mut out: Vec<Turn<'a>> = Vec::with_capacity(messages.len());
    for message in messages {
        let role = message.role.as_deref().unwrap_or_default();
        let (role, blocks) = match role {
            "system" | "developer" => {
                system_blocks(message.content, &mut system)?;
                continue;
            }
            "user" => ("user", content_blocks(message.content)?),
            "assistant" => ("assistant", assistant_blocks(message)?),
            "tool" => (
                "user",
                vec![Block::ToolResult {
                    tool_use_id: message.tool_call_id.as_deref().unwrap_or_default(),
                    content: text_of(message.content)?,
                }],
            ),
            other => {
                return Err(LlmError::InvalidField {
                    field: "messages",
                    why: format!(
                        "role '{other}' is not one of system, developer, user, assistant, tool"
                    ),
                });
            }
        };
        // Anthropic refuses empty text blocks, and a message without content; an empty
        // message is left out (its neighbours of one role then merge), as the other
        // translations do.
        let mut blocks = blocks;
        blocks.retain(|block| !matches!(block, Block::Text { text, .. } if text.is_empty()));
        if blocks.is_empty() {
            continue;
        }
        match out.last_mut() {
            Some(last) if last.role == role => last.content.extend(blocks),
            _ => out.push(Turn {
                role,
                content: blocks,
            }),
        }
    }
    // One string, unless a part carries a prompt-cache mark: then Anthropic's blocks.
    let system = if system.iter().any(|b| b.cache_control.is_some()) {
        System::Blocks(system)
    } else {
        System::Text(match system.len() {
            0 => String::new(),
            1 => system.swap_remove(0).text.into_owned(),
            _ => system
                .iter()
                .map(|b| b.text.as_ref())
                .collect::<Vec<_>>()
                .join("\n\n"),
        })
    };
    Ok((system, out))
}

/// A message's content: a string, a list of parts, or nothing (null or absent).
enum Content<'a> {
    Text(Cow<'a, str>),
    Parts(Vec<ContentPart<'a>>),
    Nothing,
}

fn content(raw: Option<&RawValue>) -> Result<Content<'_>, LlmError> {
    let Some(raw) = raw else {
        return Ok(Content::Nothing);
    };
    let invalid = |e: serde_json::Error| LlmError::InvalidField {
        field: "messages",
        why: format!("a message's content: {e}"),
    };
    match raw.get().as_bytes().first() {
        Some(b'"') => Ok(Content::Text(
            serde_json::from_str::<Text<'_>>(raw.get())
                .map_err(invalid)?
                .0,
        )),
        Some(b'[') => Ok(Content::Parts(
            serde_json::from_str(raw.get()).map_err(invalid)?,
        )),
        Some(b'n') => Ok(Content::Nothing),
        _ => Err(LlmError::InvalidField {
            field: "messages",
            why: "a message's content must be a string or a list of content parts".into(),
        }),
    }
}

/// A system or developer message's text: one block for a string (or parts without marks),
/// a block per part when a part carries a prompt-cache mark.
fn system_blocks<'a>(
    raw: Option<&'a RawValue>,
    out: &mut Vec<SystemBlock<'a>>,
) -> Result<(), LlmError> {
    let block = |text, cache_control| SystemBlock {
        kind: "text",
        text,
        cache_control,
    };
    match content(raw)? {
        Content::Parts(parts) if parts.iter().any(|p| p.cache_control.is_some()) => {
            for part in parts {
                if let Some(text) = part.text.filter(|t| !t.is_empty()) {
                    out.push(block(text, part.cache_control));
                }
            }
        }
        _ => out.push(block(text_of(raw)?, None)),
    }
    Ok(())
}

fn text_of(raw: Option<&RawValue>) -> Result<Cow<'_, str>, LlmError> {
    Ok(match content(raw)? {
        Content::Text(text) => text,
        Content::Parts(parts) => Cow::Owned(
            parts
                .iter()
                .filter_map(|part| part.text.as_deref())
                .collect(),
        ),
        Content::Nothing => Cow::Borrowed(""),
    })
}

fn content_blocks(raw: Option<&RawValue>) -> Result<Vec<Block<'_>>, LlmError> {
    Ok(match content(raw)? {
        Content::Text(text) => vec![Block::Text {
            text,
            cache_control: None,
        }],
        Content::Parts(parts) => {
            let blocks: Result<Vec<_>, _> = parts.into_iter().map(part_block).collect();
            blocks?.into_iter().flatten().collect()
        }
        Content::Nothing => Vec::new(),
    })
}

/// A text, image or inline PDF part as a content block. A kind Anthropic cannot take
/// (audio, a file by OpenAI id, another file type) is an error rather than a part silently
/// left out, as is a part missing what its kind needs (the caller names its path).
fn part_block(part: ContentPart<'_>) -> Result<Option<Block<'_>>, LlmError> {
    let incomplete = || LlmError::InvalidField {
        field: "messages",
        why: "a content part lacks its type or the field its type needs".into(),
    };
    Ok(match part.kind.as_deref().ok_or_else(incomplete)? {
        "text" => Some(Block::Text {
            text: part.text.ok_or_else(incomplete)?,
            cache_control: part.cache_control,
        }),
        "image_url" => Some(Block::Image {
            source: image_source(part.image_url.and_then(|i| i.url).ok_or_else(incomplete)?),
        }),
        "file" => {
            let file = part.file.ok_or_else(incomplete)?;
            let Some(data) = file.file_data else {
                let why = match file.file_id {
                    Some(id) => format!(
                        "file '{id}' is stored with OpenAI, which Anthropic cannot read; send the file inline as file_data"
                    ),
                    None => "a file part needs file_data".into(),
                };
                return Err(LlmError::InvalidField {
                    field: "messages",
                    why,
                });
            };
            let source = image_source(data);
            let pdf = match &source {
                ImageSource::Base64 { media_type, .. } => media_type == "application/pdf",
                ImageSource::Url { .. } => false,
            };
            if !pdf {
                return Err(LlmError::InvalidField {
                    field: "messages",
                    why: "a file part must be a PDF as a data:application/pdf;base64 URL; Anthropic reads no other files".into(),
                });
            }
            Some(Block::Document { source })
        }
        other => {
            return Err(LlmError::InvalidField {
                field: "messages",
                why: format!(
                    "content parts of type '{other}' cannot be sent to Anthropic, which takes text, images and PDF files"
                ),
            });
        }
    })
}

/// A data URL becomes an inline base64 image, any other URL a URL image.
fn image_source<'a>(url: Cow<'a, str>) -> ImageSource<'a> {
    let split = |url: &str| {
        url.strip_prefix("data:")
            .and_then(|rest| rest.split_once(";base64,"))
            .map(|(media_type, data)| (media_type.len() + 5, data.len()))
    };
    let Some((media_end, data_len)) = split(&url) else {
        return ImageSource::Url { url };
    };
    // Cut by position so a URL read with escapes (owned) is cut the same way.
    let piece = |from: usize, to: usize| match &url {
        Cow::Borrowed(text) => {
            let text: &'a str = text;
            Cow::Borrowed(&text[from..to])
        }
        Cow::Owned(text) => Cow::Owned(text[from..to].to_string()),
    };
    ImageSource::Base64 {
        media_type: piece(5, media_end),
        data: piece(url.len() - data_len, url.len()),
    }
}

fn assistant_blocks<'a>(message: &'a ChatMessage<'a>) -> Result<Vec<Block<'a>>, LlmError> {
    let mut blocks = Vec::new();
    for block in message.thinking_blocks.as_deref().unwrap_or_default() {
        blocks.push(thinking_block(block)?);
    }
    let text = text_of(message.content)?;
    if !text.is_empty() {
        blocks.push(Block::Text {
            text,
            cache_control: None,
        });
    }
    for call in message.tool_calls.as_deref().unwrap_or_default() {
        let function = call.function.as_ref();
        blocks.push(Block::ToolUse {
            id: call.id,
            name: function.and_then(|f| f.name),
            input: tool_input(function.and_then(|f| f.arguments)),
        });
    }
    Ok(blocks)
}

/// A thinking block sent back as Anthropic's block; one missing what its type needs is
/// named (Anthropic would refuse the request less clearly).
fn thinking_block<'a>(block: &'a ThinkingBlock<'a>) -> Result<Block<'a>, LlmError> {
    let incomplete = |kind: &str, needs: &str| LlmError::InvalidField {
        field: "messages",
        why: format!(
            "an assistant message's thinking_blocks entry of type '{kind}' needs {needs}, as the answer gave it"
        ),
    };
    match block.kind.as_deref() {
        Some("thinking") => Ok(Block::Thinking {
            thinking: block
                .thinking
                .ok_or_else(|| incomplete("thinking", "thinking and signature"))?,
            signature: block
                .signature
                .ok_or_else(|| incomplete("thinking", "thinking and signature"))?,
        }),
        Some("redacted_thinking") => Ok(Block::RedactedThinking {
            data: block
                .data
                .ok_or_else(|| incomplete("redacted_thinking", "data"))?,
        }),
        other => Err(LlmError::InvalidField {
            field: "messages",
            why: format!(
                "an assistant message's thinking_blocks entry has type {}, not 'thinking' or 'redacted_thinking'",
                other.map_or("(none)".into(), |k| format!("'{k}'"))
            ),
        }),
    }
}

/// A tool call's arguments as the `input` object: the JSON text inside OpenAI's string,
/// an object sent as it is, and `{}` for anything else.
fn tool_input(arguments: Option<&RawValue>) -> Cow<'_, RawValue> {
    let empty = || Cow::Borrowed(raw("{}"));
    let Some(arguments) = arguments else {
        return empty();
    };
    match arguments.get().as_bytes().first() {
        Some(b'{') => Cow::Borrowed(arguments),
        Some(b'"') => serde_json::from_str::<Text<'_>>(arguments.get())
            .ok()
            .and_then(|text| RawValue::from_string(text.0.into_owned()).ok())
            .map_or_else(empty, Cow::Owned),
        _ => empty(),
    }
}

fn tool_choice<'a>(
    choice: Option<&'a RawValue>,
    parallel_tool_calls: Option<&'a RawValue>,
) -> Option<ToolChoice<'a>> {
    let mut out = ToolChoice {
        kind: "auto",
        name: None,
        disable_parallel_tool_use: None,
    };
    match choice.map(|raw| raw.get()) {
        Some(r#""none""#) => out.kind = "none",
        Some(r#""required""#) => out.kind = "any",
        Some(object) if object.starts_with('{') => {
            let named: NamedChoice<'_> = serde_json::from_str(object).ok()?;
            out.kind = "tool";
            out.name = Some(named.function?.name?);
        }
        _ => {}
    }
    if parallel_tool_calls.map(RawValue::get) == Some("false") && out.kind != "none" {
        out.disable_parallel_tool_use = Some(true);
    }
    Some(out)
}

fn as_u64(raw: &RawValue) -> Option<u64> {
    raw.get().parse().ok()
}

fn is_string(raw: &RawValue) -> bool {
    raw.get().starts_with('"')
}

/// A constant JSON text as a raw value.
fn raw(text: &'static str) -> &'static RawValue {
    // The constants passed here are valid JSON; `null` stands in if one were not.
    serde_json::from_str(text).unwrap_or(RawValue::NULL)
}

#[cfg(test)]
mod tests;
