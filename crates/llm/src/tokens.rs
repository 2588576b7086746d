//! Estimated input tokens of a request before it is sent, for token budgets and rate
//! limits at admission. No vocabulary is loaded: the gateway fronts several tokenizers
//! (OpenAI's `o200k_base`/`cl100k_base`, Claude's, Gemini's), none of which it may
//! download at run time, and admission only needs a number that is close and cheap.
//!
//! The text is cut the way the GPT-4 pre-tokenizer cuts it (runs of letters with the one
//! space or symbol before them, digit groups of up to three, runs of symbols, whitespace),
//! and each piece is priced by what a BPE vocabulary does with such a piece on average:
//! a common short word is one token, longer and rarer words split, camelCase splits at its
//! humps, symbols pair up, non-ASCII letters cost more per character. The prices are in
//! thousandths of a token so fractional expectations add up before the final rounding.
//!
//! Calibration (counted with the real `cl100k_base` and `o200k_base` vocabularies; the
//! files that were measured were not the ones the prices were fitted on):
//! - English prose, licences and Markdown docs: within ±5% per file (a changelog dense
//!   with GitHub links: 8% low); any 1,500-character window within ±14%.
//! - C, Python and Rust source: within ±5% per file; windows within ±10%.
//! - JSON: within ±4% per file; tool definitions run 10–15% high.
//! - Chinese, Japanese, Korean and Russian land between the two vocabularies
//!   (`cl100k_base` spends about 40% more on them than `o200k_base`); German and
//!   Spanish run 5–20% low, their words splitting more than English ones.
//! - Claude: Anthropic publishes no tokenizer for current models. Its legacy tokenizer
//!   counts English prose like `cl100k_base` (±2%) but code 5–17% higher, so for Claude
//!   code the estimate runs about 10% low; the provider's reported usage settles the
//!   difference afterwards.
//!
//! Random strings (base64, hashes) are underestimated (a vocabulary cannot be guessed
//! for them); image data is never read as text: images are priced by fixed costs below.

use std::ops::Range;

use serde_json::Value;

use crate::ClientApi;

/// Tokens OpenAI adds around every chat message (`<|start|>{role}\n{content}<|end|>`):
/// the cookbook's `num_tokens_from_messages` counts 3 per message for every current model.
/// Claude's framing is not published; the same number is used for it.
pub const MESSAGE_OVERHEAD: u64 = 3;

/// Tokens that prime the reply (`<|start|>assistant<|message|>`), counted once per request.
pub const REPLY_PRIMING: u64 = 3;

/// An OpenAI image with `"detail": "low"`: a fixed 85 tokens whatever its size.
pub const OPENAI_IMAGE_LOW: u64 = 85;

/// An OpenAI image at high (or the default `auto`) detail: 85 + 170 per 512-pixel tile of
/// the image scaled to fit 2048×2048 with its short side at 768. The gateway does not
/// decode images, so it prices the common case: a square (or 4:3) picture becomes 768×768,
/// four tiles, 765 tokens. Long thin images cost up to 1,445 (eight tiles).
pub const OPENAI_IMAGE_HIGH: u64 = 765;

/// An Anthropic image: about width×height/750 tokens, and Claude scales any image above
/// about 1.15 megapixels down to that, so a typical photo or screenshot costs close to the
/// documented cap of ~1,600.
pub const ANTHROPIC_IMAGE: u64 = 1600;

/// An Anthropic PDF document. Anthropic's PDF guide puts a page at 1,500–3,000 tokens
/// depending on how dense it is; the page count is not known without parsing the file,
/// so one dense page is assumed.
pub const ANTHROPIC_DOCUMENT: u64 = 3000;

/// The system prompt Anthropic adds when `tools` are present. Its pricing page lists
/// 159–530 tokens depending on the model and `tool_choice`; this is the middle.
pub const ANTHROPIC_TOOL_PROMPT: u64 = 300;

/// Estimated tokens of `text` in the common BPE vocabularies.
pub fn estimate_text(text: &str) -> u64 {
    let milli: Milli = pieces(text).map(|(_, cost)| cost).sum();
    if milli == 0 {
        return 0;
    }
    // Round to nearest: the per-piece prices are expectations, so their sum is too.
    ((milli + ONE / 2) / ONE).max(1)
}

/// Estimated input tokens of a request body in `api`'s format. Unknown shapes count as
/// nothing rather than failing: admission must not reject a request the provider would
/// accept.
pub fn estimate_request(api: ClientApi, body: &Value) -> u64 {
    match api {
        ClientApi::ChatCompletions => openai_chat(body),
        ClientApi::Messages => anthropic_messages(body),
        ClientApi::Embeddings => embeddings_input(body),
        ClientApi::Models | ClientApi::Passthrough => 0,
    }
}

/// The most output tokens the request allows, when it says: `max_completion_tokens` (or
/// the older `max_tokens`) times `n` choices for OpenAI chat, `max_tokens` for Anthropic.
pub fn max_output(api: ClientApi, body: &Value) -> Option<u64> {
    match api {
        ClientApi::ChatCompletions => {
            let per_choice = body
                .get("max_completion_tokens")
                .and_then(Value::as_u64)
                .or_else(|| body.get("max_tokens").and_then(Value::as_u64))?;
            // Every one of `n` choices may use the whole allowance.
            let choices = body.get("n").and_then(Value::as_u64).unwrap_or(1).max(1);
            Some(per_choice.saturating_mul(choices))
        }
        ClientApi::Messages => body.get("max_tokens").and_then(Value::as_u64),
        ClientApi::Embeddings | ClientApi::Models | ClientApi::Passthrough => None,
    }
}

/// OpenAI Chat Completions: messages with their framing, then the tool definitions and
/// any JSON schema the model is asked to follow (both are rendered into the prompt).
fn openai_chat(body: &Value) -> u64 {
    let mut total = 0u64;
    let messages = body.get("messages").and_then(Value::as_array);
    for message in messages.into_iter().flatten() {
        total = total
            .saturating_add(MESSAGE_OVERHEAD)
            .saturating_add(str_tokens(message.get("role")))
            .saturating_add(openai_content(message.get("content")))
            .saturating_add(str_tokens(message.get("refusal")));
        if let Some(name) = message.get("name").and_then(Value::as_str) {
            // The cookbook counts one more token for a named participant.
            total = total.saturating_add(1 + estimate_text(name));
        }
        let calls = message.get("tool_calls").and_then(Value::as_array);
        for call in calls.into_iter().flatten() {
            total = total.saturating_add(function_call(call.get("function")));
        }
        total = total.saturating_add(function_call(message.get("function_call")));
    }
    if messages.is_some_and(|m| !m.is_empty()) {
        total = total.saturating_add(REPLY_PRIMING);
    }
    // OpenAI renders tool definitions into its own compact form; their JSON text is a
    // close, slightly high stand-in.
    total = total
        .saturating_add(json_tokens(body.get("tools")))
        .saturating_add(json_tokens(body.get("functions")))
        .saturating_add(json_tokens(
            body.get("response_format")
                .and_then(|f| f.get("json_schema")),
        ));
    total
}

/// A `content` string or array of parts. Audio and file parts are left out: their cost
/// depends on media the gateway does not decode.
fn openai_content(content: Option<&Value>) -> u64 {
    match content {
        Some(Value::String(text)) => estimate_text(text),
        Some(Value::Array(parts)) => parts
            .iter()
            .map(|part| match part.get("type").and_then(Value::as_str) {
                Some("text") => str_tokens(part.get("text")),
                Some("refusal") => str_tokens(part.get("refusal")),
                Some("image_url") => {
                    let detail = part
                        .get("image_url")
                        .and_then(|i| i.get("detail"))
                        .and_then(Value::as_str);
                    if detail == Some("low") {
                        OPENAI_IMAGE_LOW
                    } else {
                        OPENAI_IMAGE_HIGH
                    }
                }
                _ => 0,
            })
            .fold(0, u64::saturating_add),
        _ => 0,
    }
}

/// A tool call (or legacy `function_call`): its name and argument text, plus the framing
/// that separates calls.
fn function_call(function: Option<&Value>) -> u64 {
    match function {
        Some(f) if f.is_object() => MESSAGE_OVERHEAD
            .saturating_add(str_tokens(f.get("name")))
            .saturating_add(str_tokens(f.get("arguments"))),
        _ => 0,
    }
}

/// Anthropic Messages: the system prompt, the messages with their framing, and the tool
/// definitions with the tool-use system prompt they bring along.
fn anthropic_messages(body: &Value) -> u64 {
    let mut total = anthropic_content(body.get("system"));
    let messages = body.get("messages").and_then(Value::as_array);
    for message in messages.into_iter().flatten() {
        total = total
            .saturating_add(MESSAGE_OVERHEAD)
            .saturating_add(anthropic_content(message.get("content")));
    }
    if messages.is_some_and(|m| !m.is_empty()) {
        total = total.saturating_add(REPLY_PRIMING);
    }
    if body
        .get("tools")
        .and_then(Value::as_array)
        .is_some_and(|t| !t.is_empty())
    {
        total = total
            .saturating_add(ANTHROPIC_TOOL_PROMPT)
            .saturating_add(json_tokens(body.get("tools")));
    }
    total
}

/// A `content` (or `system`) string or array of blocks.
fn anthropic_content(content: Option<&Value>) -> u64 {
    match content {
        Some(Value::String(text)) => estimate_text(text),
        Some(Value::Array(blocks)) => blocks
            .iter()
            .map(anthropic_block)
            .fold(0, u64::saturating_add),
        _ => 0,
    }
}

fn anthropic_block(block: &Value) -> u64 {
    match block.get("type").and_then(Value::as_str) {
        Some("text") => str_tokens(block.get("text")),
        Some("image") => ANTHROPIC_IMAGE,
        Some("document") => {
            let source = block.get("source");
            match source.and_then(|s| s.get("type")).and_then(Value::as_str) {
                Some("text") => str_tokens(source.and_then(|s| s.get("data"))),
                Some("content") => anthropic_content(source.and_then(|s| s.get("content"))),
                _ => ANTHROPIC_DOCUMENT,
            }
        }
        Some("tool_use") | Some("server_tool_use") => {
            str_tokens(block.get("name")).saturating_add(json_tokens(block.get("input")))
        }
        Some("tool_result") => anthropic_content(block.get("content")),
        Some("search_result") => {
            str_tokens(block.get("title")).saturating_add(anthropic_content(block.get("content")))
        }
        Some("thinking") => str_tokens(block.get("thinking")),
        // `redacted_thinking` is encrypted and its size says nothing reliable; other
        // blocks are results of server tools, whose text is what the model reads.
        _ => str_tokens(block.get("text")),
    }
}

/// OpenAI embeddings `input`: text, a list of texts, or token ids (counted exactly).
fn embeddings_input(body: &Value) -> u64 {
    fn one(input: &Value) -> u64 {
        match input {
            Value::String(text) => estimate_text(text),
            Value::Number(_) => 1,
            Value::Array(items) => items.iter().map(one).fold(0, u64::saturating_add),
            _ => 0,
        }
    }
    body.get("input").map_or(0, one)
}

fn str_tokens(value: Option<&Value>) -> u64 {
    value.and_then(Value::as_str).map_or(0, estimate_text)
}

/// The compact JSON text of a value (tool definitions, tool inputs, schemas).
fn json_tokens(value: Option<&Value>) -> u64 {
    match value {
        None | Some(Value::Null) => 0,
        Some(Value::String(text)) => estimate_text(text),
        Some(other) => estimate_text(&other.to_string()),
    }
}

/// A cost in thousandths of a token.
type Milli = u64;

const ONE: Milli = 1000;

// Prices of pieces, fitted against `cl100k_base`/`o200k_base` counts of English prose,
// source code (C, Python, Rust), JSON and translated UI messages.

/// Words of 7–10 letters: most common ones are still one token.
const MID_WORD_PER_LETTER: Milli = 60;
/// Words past 10 letters: each extra letter adds a fifth of a token.
const LONG_WORD_PER_LETTER: Milli = 200;
/// A word without a leading space (line starts, after a newline) merges less.
const NO_PREFIX_PER_LETTER: Milli = 40;
/// `.`, `_`, `(` and a few others fold into the word after them (`.com`, `_id`).
const MERGING_PREFIX: Milli = 100;
/// Other symbols (`/`, `-`, `"`, `:`) mostly stay a token of their own.
const SEPARATE_PREFIX: Milli = 800;
/// Later humps of camelCase words share tokens (`getElement` + `ById`).
const CONTINUATION_HUMP: Milli = 750;
/// ALL-CAPS runs split about every three letters.
const CAPS_BASE: Milli = 600;
const CAPS_PER_LETTER: Milli = 170;
/// An accented letter inside a Latin word (`é`, `ü`) breaks the word's merges.
const ACCENTED_LETTER: Milli = 700;
/// Cyrillic, Greek, Hebrew, Arabic words: a base plus a fraction per letter.
const NON_LATIN_WORD_BASE: Milli = 550;
const NON_LATIN_LETTER: Milli = 280;
/// Chinese characters: about 1.1 tokens each in `cl100k_base`, 0.8 in `o200k_base`.
const CJK_IDEOGRAPH: Milli = 1000;
const KANA: Milli = 900;
const HANGUL: Milli = 900;
/// Other three-byte letters (Devanagari, Thai, …).
const OTHER_THREE_BYTE_LETTER: Milli = 700;
const FOUR_BYTE_LETTER: Milli = 1500;
/// Symbols: the first two share a token (`()`, `::`, `=>`); after that a repeat of the
/// previous symbol is nearly free (`-----`) and a different one costs a fraction.
const REPEATED_SYMBOL: Milli = 70;
const THIRD_SYMBOL: Milli = 200;
const FOURTH_SYMBOL: Milli = 300;
const MIXED_SYMBOL: Milli = 500;
const TWO_BYTE_SYMBOL: Milli = 800;
const THREE_BYTE_SYMBOL: Milli = 900;
/// Emoji and other four-byte symbols take a token or two each.
const FOUR_BYTE_SYMBOL: Milli = 1800;
/// A blank line after punctuation (`.\n\n`) is sometimes a separate token.
const EXTRA_NEWLINES: Milli = 100;
/// Runs of whitespace are one token up to dozens of characters.
const WHITESPACE_PER_TOKEN: u64 = 80;

/// What the pre-tokenizer sees a character as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Letter,
    Digit,
    Newline,
    Space,
    Symbol,
}

fn class(c: char) -> Class {
    if c.is_ascii() {
        return match c {
            'a'..='z' | 'A'..='Z' => Class::Letter,
            '0'..='9' => Class::Digit,
            '\r' | '\n' => Class::Newline,
            ' ' | '\t' | '\u{b}' | '\u{c}' => Class::Space,
            _ => Class::Symbol,
        };
    }
    if c.is_alphabetic() {
        Class::Letter
    } else if c.is_numeric() {
        Class::Digit
    } else if c.is_whitespace() {
        Class::Space
    } else {
        Class::Symbol
    }
}

/// The character right before a word's letters, which vocabularies fold into the word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Prefix {
    None,
    Space,
    Other(char),
}

/// The pre-tokens of a text: each one's byte range and expected cost.
struct Pieces<'a> {
    text: &'a str,
    pos: usize,
}

fn pieces(text: &str) -> Pieces<'_> {
    Pieces { text, pos: 0 }
}

impl Pieces<'_> {
    fn peek(&self, pos: usize) -> Option<char> {
        self.text.get(pos..).and_then(|rest| rest.chars().next())
    }
}

/// The alternatives of the GPT-4 pattern, tried in its order: letters with an optional
/// one-character prefix, 1–3 digits, symbols with an optional leading space and trailing
/// newlines, whitespace up to its last newline, whitespace that leaves its last space to
/// the next word.
impl Iterator for Pieces<'_> {
    type Item = (Range<usize>, Milli);

    fn next(&mut self) -> Option<Self::Item> {
        let start = self.pos;
        let first = self.peek(start)?;
        let first_class = class(first);
        let next_class = self.peek(start + first.len_utf8()).map(class);
        let cost = match first_class {
            Class::Letter => self.word(Prefix::None),
            Class::Symbol | Class::Space if next_class == Some(Class::Letter) => {
                self.pos += first.len_utf8();
                let prefix = if first == ' ' {
                    Prefix::Space
                } else {
                    Prefix::Other(first)
                };
                self.word(prefix)
            }
            Class::Digit => self.number(),
            Class::Symbol => self.symbols(),
            Class::Space if first == ' ' && next_class == Some(Class::Symbol) => {
                self.pos += 1;
                self.symbols()
            }
            Class::Space | Class::Newline => self.whitespace(),
        };
        Some((start..self.pos, cost))
    }
}

/// Letters of one hump of a word: `get`, `Element`, `By`, `Id` in `getElementById`.
#[derive(Default)]
struct Hump {
    upper: u64,
    lower: u64,
}

impl Pieces<'_> {
    fn word(&mut self, prefix: Prefix) -> Milli {
        let mut cost = 0;
        let mut hump = Hump::default();
        let mut humps_done = 0u32;
        let mut ascii = 0u64;
        let mut two_byte = 0u64;
        let mut wide: Milli = 0;
        while let Some(c) = self.peek(self.pos) {
            if class(c) != Class::Letter {
                break;
            }
            self.pos += c.len_utf8();
            if c.is_ascii_uppercase() {
                if hump.lower > 0 {
                    cost += hump_cost(&hump, humps_done, prefix);
                    humps_done += 1;
                    hump = Hump::default();
                }
                hump.upper += 1;
                ascii += 1;
            } else if c.is_ascii() {
                hump.lower += 1;
                ascii += 1;
            } else {
                match c.len_utf8() {
                    2 => two_byte += 1,
                    3 => wide += wide_letter_cost(c),
                    _ => wide += FOUR_BYTE_LETTER,
                }
            }
        }
        if hump.upper + hump.lower > 0 {
            cost += hump_cost(&hump, humps_done, prefix);
        }
        cost += wide;
        if ascii > 0 {
            cost += two_byte * ACCENTED_LETTER;
        } else if two_byte > 0 {
            cost += NON_LATIN_WORD_BASE + two_byte * NON_LATIN_LETTER;
        }
        cost.max(ONE)
    }

    /// Every number of up to three digits is a token of its own in both vocabularies.
    fn number(&mut self) -> Milli {
        let mut digits = 0;
        while digits < 3 {
            match self.peek(self.pos) {
                Some(d) if class(d) == Class::Digit => {
                    self.pos += d.len_utf8();
                    digits += 1;
                }
                _ => break,
            }
        }
        ONE
    }

    fn symbols(&mut self) -> Milli {
        let mut ascii_cost: Milli = 0;
        let mut non_ascii: Milli = 0;
        let mut ascii_seen = 0u32;
        let mut previous = None;
        while let Some(s) = self.peek(self.pos) {
            if class(s) != Class::Symbol {
                break;
            }
            self.pos += s.len_utf8();
            if s.is_ascii() {
                ascii_cost += match ascii_seen {
                    0 => ONE,
                    1 => 0,
                    _ if previous == Some(s) => REPEATED_SYMBOL,
                    2 => THIRD_SYMBOL,
                    3 => FOURTH_SYMBOL,
                    _ => MIXED_SYMBOL,
                };
                ascii_seen += 1;
            } else {
                non_ascii += match s.len_utf8() {
                    2 => TWO_BYTE_SYMBOL,
                    3 => THREE_BYTE_SYMBOL,
                    _ => FOUR_BYTE_SYMBOL,
                };
            }
            previous = Some(s);
        }
        let mut newlines = 0;
        while self.peek(self.pos).map(class) == Some(Class::Newline) {
            self.pos += 1;
            newlines += 1;
        }
        let extra_newlines = if newlines >= 2 { EXTRA_NEWLINES } else { 0 };
        (ascii_cost + non_ascii + extra_newlines).max(ONE)
    }

    fn whitespace(&mut self) -> Milli {
        let mut end = self.pos;
        let mut after_last_newline = None;
        let mut last_len = 0;
        let mut count = 0u64;
        while let Some(c) = self.peek(end) {
            let cls = class(c);
            if cls != Class::Space && cls != Class::Newline {
                break;
            }
            end += c.len_utf8();
            last_len = c.len_utf8();
            count += 1;
            if cls == Class::Newline {
                after_last_newline = Some((end, count));
            }
        }
        let (stop, chars) = match after_last_newline {
            Some(found) => found,
            None if end == self.text.len() || count == 1 => (end, count),
            // The last space goes with the word or symbols after it.
            None => (end - last_len, count - 1),
        };
        self.pos = stop;
        ONE + chars / WHITESPACE_PER_TOKEN * ONE
    }
}

fn hump_cost(hump: &Hump, index: u32, prefix: Prefix) -> Milli {
    let base = match (hump.upper, hump.lower) {
        (upper, 0) if upper >= 2 => caps_cost(upper),
        // `HTTPServer`: the capitals, then a capitalised word.
        (upper, lower) if upper >= 2 => caps_cost(upper - 1) + word_cost(lower + 1),
        (upper, lower) => word_cost(upper + lower),
    };
    let len = hump.upper + hump.lower;
    if index > 0 {
        // Later humps of camelCase often merge (`ById`); one- and two-letter fragments
        // (random identifiers, base64) rarely do.
        return if len >= 3 {
            base * CONTINUATION_HUMP / ONE
        } else {
            base
        };
    }
    match prefix {
        Prefix::Space => base,
        Prefix::None => base + len.saturating_sub(5) * NO_PREFIX_PER_LETTER,
        Prefix::Other(c) if merges_with_word(c) => base + MERGING_PREFIX,
        Prefix::Other(_) => base + SEPARATE_PREFIX,
    }
}

fn merges_with_word(c: char) -> bool {
    matches!(
        c,
        '.' | '_' | '(' | '\'' | '\u{2019}' | '#' | '[' | '@' | '$' | '<' | '=' | '\t'
    )
}

fn word_cost(len: u64) -> Milli {
    match len {
        0..=6 => ONE,
        7..=10 => ONE + (len - 6) * MID_WORD_PER_LETTER,
        _ => ONE + 4 * MID_WORD_PER_LETTER + (len - 10) * LONG_WORD_PER_LETTER,
    }
}

fn caps_cost(len: u64) -> Milli {
    (CAPS_BASE + len * CAPS_PER_LETTER).max(ONE)
}

fn wide_letter_cost(c: char) -> Milli {
    match c as u32 {
        0x3040..=0x30ff => KANA,
        0x1100..=0x11ff | 0x3130..=0x318f | 0xac00..=0xd7af => HANGUL,
        0x3400..=0x9fff | 0xf900..=0xfaff => CJK_IDEOGRAPH,
        _ => OTHER_THREE_BYTE_LETTER,
    }
}

#[cfg(test)]
mod tests;
