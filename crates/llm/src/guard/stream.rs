//! Prompt guards on streamed responses: a masker that holds back a short tail so a match
//! split across deltas is still masked, and adapters for OpenAI chat chunks and
//! Anthropic Messages events.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::{Blocked, CONTEXT_BYTES, HOLD_BYTES, MATCH_HOLD_BYTES, RuleSet};

/// Masks streamed text per channel (a choice or a content block). Each push releases what is
/// safe to send and holds back what could still be the start of a match: the last word
/// (emails, SSNs and most custom patterns contain no whitespace), a trailing number that may
/// grow into a card or phone number, and any match that is visible but may still grow. The
/// held tail is at most [`HOLD_BYTES`] on the heuristic and [`MATCH_HOLD_BYTES`] for a
/// visible match, so clients see text one word late at most, not a whole response late.
///
/// The trade-off: a custom pattern that spans whitespace (`social security`) can be cut
/// between two deltas; the released part (`social `) has then been sent, but the part after
/// the cut is still masked, or the stream rejected, because the masker keeps
/// [`CONTEXT_BYTES`] of released text to recognise matches that began there.
#[derive(Debug, Clone)]
pub struct StreamMasker {
    rules: Arc<RuleSet>,
    channels: BTreeMap<usize, Window>,
}

/// One channel's text: released context followed by pending text.
#[derive(Debug, Clone, Default)]
struct Window {
    text: String,
    /// Bytes of `text` already released.
    released: usize,
}

impl StreamMasker {
    pub(super) fn new(rules: Arc<RuleSet>) -> Self {
        Self {
            rules,
            channels: BTreeMap::new(),
        }
    }

    /// Adds a delta to `channel`; returns the text to send now (possibly empty).
    pub fn push(&mut self, channel: usize, delta: &str) -> Result<String, Blocked> {
        let window = self.channels.entry(channel).or_default();
        window.text.push_str(delta);
        release(&self.rules, window, false)
    }

    /// Ends `channel` (its text block is complete): returns the held text, masked.
    pub fn flush(&mut self, channel: usize) -> Result<String, Blocked> {
        match self.channels.remove(&channel) {
            Some(mut window) => release(&self.rules, &mut window, true),
            None => Ok(String::new()),
        }
    }

    /// Ends every channel; returns the held text of those that had some.
    pub fn flush_all(&mut self) -> Result<Vec<(usize, String)>, Blocked> {
        let mut out = Vec::new();
        for (channel, mut window) in std::mem::take(&mut self.channels) {
            let rest = release(&self.rules, &mut window, true)?;
            if !rest.is_empty() {
                out.push((channel, rest));
            }
        }
        Ok(out)
    }

    /// Whether some channel has been pushed to and not flushed.
    pub fn has_open_channels(&self) -> bool {
        !self.channels.is_empty()
    }
}

/// Releases what is safe from `window` (everything when `last`), masked.
fn release(rules: &RuleSet, window: &mut Window, last: bool) -> Result<String, Blocked> {
    let len = window.text.len();
    let mut cut = if last {
        len
    } else {
        window.released + hold_back_start(&window.text[window.released..])
    };
    let out = if rules.prefilter.is_match(&window.text) {
        if !last {
            cut = hold_open_matches(rules, &window.text, window.released, cut);
        }
        let (context, rest) = window.text.split_at(window.released);
        let (segment, ahead) = rest.split_at(cut - window.released);
        rules.apply_window(context, segment, ahead)?
    } else {
        window.text[window.released..cut].to_owned()
    };
    window.released = cut;
    if last {
        window.text.clear();
        window.released = 0;
    } else if window.released > CONTEXT_BYTES {
        let mut drop = window.released - CONTEXT_BYTES;
        while !window.text.is_char_boundary(drop) {
            drop -= 1;
        }
        window.text.drain(..drop);
        window.released -= drop;
    }
    Ok(out)
}

/// Where the held-back tail of `pending` starts: at the last word, or earlier at a trailing
/// number with separators (`4111 1111`, `+1 (415) 555`), capped at [`HOLD_BYTES`].
fn hold_back_start(pending: &str) -> usize {
    let word = pending
        .char_indices()
        .rev()
        .find(|(_, c)| c.is_whitespace())
        .map_or(0, |(i, c)| i + c.len_utf8());
    let mut run = pending.len();
    for (i, c) in pending.char_indices().rev() {
        if c.is_ascii_digit() || matches!(c, ' ' | '-' | '.' | '(' | ')' | '+') {
            run = i;
        } else {
            break;
        }
    }
    let number = if pending[run..].bytes().any(|b| b.is_ascii_digit()) {
        pending[run..]
            .find(|c: char| c.is_ascii_digit() || c == '+' || c == '(')
            .map_or(pending.len(), |i| run + i)
    } else {
        pending.len()
    };
    let mut start = word.min(number);
    if pending.len() - start > HOLD_BYTES {
        start = pending.len() - HOLD_BYTES;
        while !pending.is_char_boundary(start) {
            start += 1;
        }
    }
    start
}

/// Moves `cut` back to the start of any unreleased match that crosses it or reaches the end
/// of the text (a greedy pattern may still grow), within [`MATCH_HOLD_BYTES`].
fn hold_open_matches(rules: &RuleSet, text: &str, released: usize, mut cut: usize) -> usize {
    let hits: Vec<Range<usize>> = rules
        .rules
        .iter()
        .flat_map(|rule| rule.find(text))
        .map(|hit| hit.range)
        .collect();
    loop {
        let mut moved = false;
        for hit in &hits {
            let open = hit.end > cut || hit.end == text.len();
            if hit.start >= released
                && hit.start < cut
                && open
                && text.len() - hit.start <= MATCH_HOLD_BYTES
            {
                cut = hit.start;
                moved = true;
            }
        }
        if !moved {
            return cut;
        }
    }
}

/// Masks the text of an OpenAI `chat.completion.chunk` stream (`choices[i].delta.content`,
/// one masker channel per choice index). Chunks without text pass as they are; held text is
/// sent in an extra chunk before the chunk that finishes its choice, or before `[DONE]`.
/// Tool call arguments and refusals are not masked.
#[derive(Debug, Clone)]
pub struct GuardedChatStream {
    masker: StreamMasker,
    /// `id`, `object`, `created`, `model`... of the stream, for the extra chunks.
    meta: Option<Map<String, Value>>,
}

impl GuardedChatStream {
    pub fn new(masker: StreamMasker) -> Self {
        Self { masker, meta: None }
    }

    /// One SSE `data` payload in; the payloads to send in its place, in order. JSON is
    /// re-serialized only when its text changed.
    pub fn payload(&mut self, data: &str) -> Result<Vec<String>, Blocked> {
        if data.trim() == "[DONE]" {
            let mut out: Vec<String> = self
                .masker
                .flush_all()?
                .into_iter()
                .map(|(index, text)| self.extra_chunk(index, text))
                .collect();
            out.push(data.to_owned());
            return Ok(out);
        }
        let Ok(mut chunk) = serde_json::from_str::<Value>(data) else {
            return Ok(vec![data.to_owned()]);
        };
        if self.meta.is_none()
            && let Value::Object(fields) = &chunk
            && fields.contains_key("choices")
        {
            self.meta = Some(chunk_meta(fields));
        }
        let Some(choices) = chunk.get_mut("choices").and_then(Value::as_array_mut) else {
            return Ok(vec![data.to_owned()]);
        };
        let mut changed = false;
        let mut held = Vec::new();
        for (position, choice) in choices.iter_mut().enumerate() {
            let index = choice
                .get("index")
                .and_then(Value::as_u64)
                .and_then(|i| usize::try_from(i).ok())
                .unwrap_or(position);
            let finished = choice.get("finish_reason").is_some_and(|r| !r.is_null());
            match choice
                .get_mut("delta")
                .and_then(|delta| delta.get_mut("content"))
            {
                Some(Value::String(text)) => {
                    let mut safe = self.masker.push(index, text)?;
                    if finished {
                        safe.push_str(&self.masker.flush(index)?);
                    }
                    if safe != *text {
                        *text = safe;
                        changed = true;
                    }
                }
                _ if finished => {
                    let rest = self.masker.flush(index)?;
                    if !rest.is_empty() {
                        held.push((index, rest));
                    }
                }
                _ => {}
            }
        }
        let mut out: Vec<String> = held
            .into_iter()
            .map(|(index, text)| self.extra_chunk(index, text))
            .collect();
        out.push(if changed {
            chunk.to_string()
        } else {
            data.to_owned()
        });
        Ok(out)
    }

    fn extra_chunk(&self, index: usize, text: String) -> String {
        let mut chunk = self.meta.clone().unwrap_or_default();
        chunk
            .entry("object")
            .or_insert_with(|| Value::from("chat.completion.chunk"));
        chunk.insert(
            "choices".to_owned(),
            json!([{
                "index": index,
                "delta": { "content": text },
                "logprobs": null,
                "finish_reason": null,
            }]),
        );
        Value::Object(chunk).to_string()
    }
}

/// The fields that identify a chat stream, copied onto extra chunks.
fn chunk_meta(fields: &Map<String, Value>) -> Map<String, Value> {
    [
        "id",
        "object",
        "created",
        "model",
        "system_fingerprint",
        "service_tier",
    ]
    .into_iter()
    .filter_map(|key| Some((key.to_owned(), fields.get(key)?.clone())))
    .collect()
}

/// Masks the text of an Anthropic Messages stream (`text_delta`s of `content_block_delta`,
/// one masker channel per block index). Other events pass as they are; held text is sent as
/// an extra `text_delta` before the block's `content_block_stop`. Thinking, tool input and
/// citations are not masked.
#[derive(Debug, Clone)]
pub struct GuardedMessagesStream {
    masker: StreamMasker,
}

impl GuardedMessagesStream {
    pub fn new(masker: StreamMasker) -> Self {
        Self { masker }
    }

    /// One SSE event in (its `event` name, empty if it had none, and its `data`); the
    /// `(event, data)` pairs to send in its place, in order.
    pub fn event(
        &mut self,
        event_name: &str,
        data: &str,
    ) -> Result<Vec<(String, String)>, Blocked> {
        let unchanged = || vec![(event_name.to_owned(), data.to_owned())];
        let parsed_type;
        let kind = if event_name.is_empty() {
            parsed_type = event_type(data);
            parsed_type.as_deref().unwrap_or_default()
        } else {
            event_name
        };
        match kind {
            "content_block_delta" => {
                let Ok(mut event) = serde_json::from_str::<Value>(data) else {
                    return Ok(unchanged());
                };
                let index = block_index(&event);
                let Some(delta) = event.get_mut("delta") else {
                    return Ok(unchanged());
                };
                if delta.get("type").and_then(Value::as_str) != Some("text_delta") {
                    return Ok(unchanged());
                }
                let Some(Value::String(text)) = delta.get_mut("text") else {
                    return Ok(unchanged());
                };
                let safe = self.masker.push(index, text)?;
                if safe == *text {
                    return Ok(unchanged());
                }
                *text = safe;
                Ok(vec![(event_name.to_owned(), event.to_string())])
            }
            "content_block_stop" if self.masker.has_open_channels() => {
                let Ok(event) = serde_json::from_str::<Value>(data) else {
                    return Ok(unchanged());
                };
                let rest = self.masker.flush(block_index(&event))?;
                let mut out = Vec::with_capacity(2);
                if !rest.is_empty() {
                    out.push(text_delta_event(block_index(&event), rest));
                }
                out.push((event_name.to_owned(), data.to_owned()));
                Ok(out)
            }
            // A block left open (no content_block_stop) still gets its held text.
            "message_delta" | "message_stop" if self.masker.has_open_channels() => {
                let mut out: Vec<(String, String)> = self
                    .masker
                    .flush_all()?
                    .into_iter()
                    .map(|(index, text)| text_delta_event(index, text))
                    .collect();
                out.push((event_name.to_owned(), data.to_owned()));
                Ok(out)
            }
            _ => Ok(unchanged()),
        }
    }
}

fn event_type(data: &str) -> Option<String> {
    let value: Value = serde_json::from_str(data).ok()?;
    value.get("type")?.as_str().map(str::to_owned)
}

fn block_index(event: &Value) -> usize {
    event
        .get("index")
        .and_then(Value::as_u64)
        .and_then(|i| usize::try_from(i).ok())
        .unwrap_or(0)
}

fn text_delta_event(index: usize, text: String) -> (String, String) {
    let data = json!({
        "type": "content_block_delta",
        "index": index,
        "delta": { "type": "text_delta", "text": text },
    });
    ("content_block_delta".to_owned(), data.to_string())
}
