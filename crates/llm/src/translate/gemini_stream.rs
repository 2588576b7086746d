//! Gemini's answers for OpenAI Chat Completions clients: a whole `GenerateContentResponse`
//! becomes a chat completion, and a `streamGenerateContent?alt=sse` stream becomes
//! `chat.completion.chunk` events. Each stream event is a whole response holding the next
//! piece of each candidate; function calls arrive whole, and the stream has no
//! terminator, so the end (finish reasons still due, the usage chunk, `[DONE]`) is
//! written when the body ends.

use serde_json::{Map, Value, json};

use crate::gemini;
use crate::sse::Event;
use crate::translate::openai_chunk::ChunkHead;
use crate::usage::Usage;

/// A Gemini `GenerateContentResponse` as an OpenAI chat completion. `model` is the one
/// requested, used when the response names no `modelVersion`.
pub fn gemini_to_chat(response: &Value, model: &str, created: u64) -> Value {
    let response_id = response["responseId"].as_str().unwrap_or_default();
    let candidates = response["candidates"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut choices: Vec<Value> = Vec::new();
    let mut minted = 0;
    for (position, candidate) in candidates.iter().enumerate() {
        let parts = gemini::candidate_parts(candidate);
        let calls: Vec<Value> = parts
            .calls
            .iter()
            .map(|call| {
                minted += 1;
                gemini::tool_call(call, response_id, minted - 1)
            })
            .collect();
        let mut message = json!({
            "role": "assistant",
            "content": if parts.text.is_empty() && !calls.is_empty() { Value::Null } else { json!(parts.text) },
            "refusal": null,
        });
        if !parts.reasoning.is_empty() {
            message["reasoning_content"] = json!(parts.reasoning);
        }
        let reason = gemini::finish_reason(candidate["finishReason"].as_str(), !calls.is_empty());
        if !calls.is_empty() {
            message["tool_calls"] = Value::Array(calls);
        }
        choices.push(json!({
            "index": candidate["index"].as_u64().unwrap_or(position as u64),
            "message": message,
            "logprobs": null,
            "finish_reason": reason,
        }));
    }
    // A blocked prompt is a 200 with no candidates; OpenAI clients expect a choice.
    if choices.is_empty() {
        let reason = if response["promptFeedback"]["blockReason"].is_string() {
            "content_filter"
        } else {
            "stop"
        };
        choices.push(json!({
            "index": 0,
            "message": { "role": "assistant", "content": "", "refusal": null },
            "logprobs": null,
            "finish_reason": reason,
        }));
    }
    let usage = response
        .get("usageMetadata")
        .and_then(Usage::from_gemini)
        .unwrap_or_default();
    json!({
        "id": gemini::completion_id(response_id, created),
        "object": "chat.completion",
        "created": created,
        "model": response["modelVersion"].as_str().unwrap_or(model),
        "choices": choices,
        "usage": usage.to_openai(),
    })
}

/// What has been sent for one OpenAI choice (one Gemini candidate).
#[derive(Debug)]
struct ChoiceState {
    index: u64,
    /// Tool calls sent so far; the next one gets this as its OpenAI `index`.
    calls: usize,
    finished: bool,
}

/// Turns a Gemini event stream into OpenAI chunks, event by event.
#[derive(Debug)]
pub struct GeminiStreamTranslator {
    head: ChunkHead,
    /// Gemini's `responseId`, part of the tool-call ids minted for this answer.
    response_id: String,
    include_usage: bool,
    choices: Vec<ChoiceState>,
    /// Tool calls so far across all choices, numbered as in a whole response so minted
    /// ids match `gemini_to_chat`'s.
    minted: usize,
    usage: Option<Usage>,
    /// The provider reported an error mid-stream: no finish or usage chunk pretends the
    /// answer completed.
    failed: bool,
    done: bool,
}

impl GeminiStreamTranslator {
    pub fn new(model: &str, created: u64, include_usage: bool) -> Self {
        Self {
            head: ChunkHead::new(&gemini::completion_id("", created), model, created),
            response_id: String::new(),
            include_usage,
            choices: Vec::new(),
            minted: 0,
            usage: None,
            failed: false,
            done: false,
        }
    }

    fn chunk(&self, index: u64, delta: Value, finish: Option<&str>) -> String {
        self.head.choice(index, &delta, finish)
    }

    /// The state of choice `index`, and whether this is its first appearance (when OpenAI
    /// clients expect `delta.role`).
    fn choice(&mut self, index: u64) -> (usize, bool) {
        match self.choices.iter().position(|c| c.index == index) {
            Some(at) => (at, false),
            None => {
                self.choices.push(ChoiceState {
                    index,
                    calls: 0,
                    finished: false,
                });
                (self.choices.len() - 1, true)
            }
        }
    }

    /// The `data:` payloads (without framing) that one Gemini event becomes.
    pub fn payloads(&mut self, event: &Event) -> Vec<String> {
        let v = match super::event_json(&event.data) {
            Ok(Some(v)) => v,
            Ok(None) => return Vec::new(),
            Err(message) => {
                self.failed = true;
                return vec![super::error_payload(&message)];
            }
        };
        if v.get("error").is_some() {
            self.failed = true;
            return vec![gemini::error_to_openai(&v, 500).to_string()];
        }
        // The id is fixed once a chunk has gone out with it.
        if self.choices.is_empty()
            && let Some(id) = v["responseId"].as_str()
        {
            self.response_id = id.to_string();
            self.head
                .set_id(&gemini::completion_id(id, self.head.created()));
        }
        if let Some(model) = v["modelVersion"].as_str() {
            self.head.set_model(model);
        }
        // Usage is cumulative and repeated on every chunk: the latest is the total so far.
        if let Some(usage) = v.get("usageMetadata").and_then(Usage::from_gemini) {
            self.usage = Some(usage);
        }
        let candidates = v["candidates"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        let mut out = Vec::new();
        for (position, candidate) in candidates.iter().enumerate() {
            let index = candidate["index"].as_u64().unwrap_or(position as u64);
            out.extend(self.candidate(index, candidate));
        }
        // A blocked prompt has no candidates: the client still gets a choice that ends.
        if candidates.is_empty() && v["promptFeedback"]["blockReason"].is_string() {
            let (at, first) = self.choice(0);
            if first {
                out.push(self.chunk(0, json!({ "role": "assistant", "content": "" }), None));
            }
            if !self.choices[at].finished {
                self.choices[at].finished = true;
                out.push(self.chunk(0, json!({}), Some("content_filter")));
            }
        }
        out
    }

    /// The chunks for one candidate's piece: its content delta, then its finish reason
    /// once Gemini gives one.
    fn candidate(&mut self, index: u64, candidate: &Value) -> Vec<String> {
        let (at, first) = self.choice(index);
        let parts = gemini::candidate_parts(candidate);
        let mut delta = Map::new();
        if first {
            delta.insert("role".into(), json!("assistant"));
        }
        if !parts.text.is_empty() || (first && parts.calls.is_empty()) {
            delta.insert("content".into(), json!(parts.text));
        }
        if !parts.reasoning.is_empty() {
            delta.insert("reasoning_content".into(), json!(parts.reasoning));
        }
        if !parts.calls.is_empty() {
            let mut calls = Vec::new();
            for call in &parts.calls {
                let mut openai = gemini::tool_call(call, &self.response_id, self.minted);
                self.minted += 1;
                openai["index"] = json!(self.choices[at].calls);
                self.choices[at].calls += 1;
                calls.push(openai);
            }
            delta.insert("tool_calls".into(), Value::Array(calls));
        }
        let mut out = Vec::new();
        if !delta.is_empty() {
            out.push(self.chunk(index, Value::Object(delta), None));
        }
        if let Some(reason) = candidate["finishReason"].as_str()
            && !self.choices[at].finished
        {
            self.choices[at].finished = true;
            let reason = gemini::finish_reason(Some(reason), self.choices[at].calls > 0);
            out.push(self.chunk(index, json!({}), Some(reason)));
        }
        out
    }

    /// What is still due when the body ends: a finish chunk for every choice Gemini left
    /// open, the usage chunk when the client asked for it, and `[DONE]`.
    fn closing(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        if !self.failed {
            for at in 0..self.choices.len() {
                if self.choices[at].finished {
                    continue;
                }
                self.choices[at].finished = true;
                let reason = gemini::finish_reason(None, self.choices[at].calls > 0);
                out.push(self.chunk(self.choices[at].index, json!({}), Some(reason)));
            }
        }
        // A failed stream already carried its error: no usage, only the end marker.
        let usage = (self.include_usage && !self.failed)
            .then(|| self.usage.unwrap_or_default().to_openai());
        out.extend(self.head.end(usage.as_ref()));
        out
    }
}

impl super::ChunkStream for GeminiStreamTranslator {
    fn translate(&mut self, event: &Event) -> Vec<String> {
        self.payloads(event)
    }

    fn close(&mut self) -> Vec<String> {
        self.closing()
    }

    /// Gemini has no end marker: an answer is whole once every choice has its finish
    /// reason (or the stream carried Gemini's error).
    fn stopped(&self) -> bool {
        self.failed || (!self.choices.is_empty() && self.choices.iter().all(|c| c.finished))
    }

    fn is_done(&self) -> bool {
        self.done
    }

    fn mark_done(&mut self) {
        self.done = true;
    }

    fn usage(&self) -> Option<Usage> {
        self.usage
    }

    fn model(&self) -> &str {
        self.head.model()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture;
    use crate::sse::SseDecoder;
    use crate::translate::EventTranslator;

    fn load(path: &str) -> Value {
        serde_json::from_slice(&fixture(path)).unwrap()
    }

    fn usage(prompt: u64, completion: u64, cached: u64, reasoning: u64) -> Value {
        json!({
            "prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
            "prompt_tokens_details": { "cached_tokens": cached },
            "completion_tokens_details": { "reasoning_tokens": reasoning },
        })
    }

    #[test]
    fn text_response_becomes_a_chat_completion() {
        let response = load("gemini/generate_content_response.json");
        let chat = gemini_to_chat(&response, "requested", 7);
        assert_eq!(chat["id"], "chatcmpl-vL2saKXnC9WVz7IPx8mK-Ak");
        assert_eq!(
            (&chat["object"], &chat["created"]),
            (&json!("chat.completion"), &json!(7))
        );
        assert_eq!(chat["model"], "gemini-2.5-flash");
        let text = "It's 18 °C and partly cloudy in Paris right now.";
        assert_eq!(
            chat["choices"],
            json!([{"index": 0, "message": {"role": "assistant", "content": text, "refusal": null}, "logprobs": null, "finish_reason": "stop"}])
        );
        assert_eq!(chat["usage"], usage(1152, 14 + 184, 1024, 184));
        assert_eq!(chat["usage"]["total_tokens"], 1350, "Gemini's own total");
    }

    /// The thought signature of the function-call samples.
    const SIGNATURE: &str = "RkFLRS10aG91Z2h0LXNpZ25hdHVyZS1vcGFxdWUtYnl0ZXMtMDAwMQ==";

    #[test]
    fn function_call_response_becomes_tool_calls() {
        let response = load("gemini/generate_content_response_function_call.json");
        let choice = &gemini_to_chat(&response, "requested", 7)["choices"][0];
        assert_eq!(choice["finish_reason"], "tool_calls");
        assert_eq!(choice["message"]["content"], Value::Null);
        let call = &choice["message"]["tool_calls"][0];
        // The call's thought signature rides in its id, to come back with the call.
        let (id, signature) = gemini::split_signature(call["id"].as_str().unwrap());
        assert_eq!(id, "call_f1KtaN2vGMrZz7IPs6yOyQ4_0");
        assert_eq!(signature.as_deref(), Some(SIGNATURE));
        assert_eq!(call["type"], "function");
        assert_eq!(call["function"]["name"], "get_weather");
        let args: Value =
            serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
        assert_eq!(args, json!({"location": "Paris", "unit": "celsius"}));
        assert_eq!(
            gemini_to_chat(&response, "m", 7)["usage"],
            usage(96, 21 + 116, 0, 116)
        );
    }

    #[test]
    fn blocked_prompts_thoughts_and_token_limits() {
        let blocked = load("gemini/generate_content_response_blocked_prompt.json");
        let chat = gemini_to_chat(&blocked, "requested", 7);
        assert_eq!(chat["id"], "chatcmpl-k9ZtaPb1J6X-z7IP9c2lmAU");
        assert_eq!(chat["choices"][0]["finish_reason"], "content_filter");
        assert_eq!(chat["choices"][0]["message"]["content"], "");
        assert_eq!(chat["usage"], usage(12, 0, 0, 0));

        let thinking = json!({"candidates": [{"content": {"role": "model", "parts": [
            {"text": "Considering units.", "thought": true}, {"text": "18 °C"}
        ]}, "finishReason": "MAX_TOKENS"}]});
        let chat = gemini_to_chat(&thinking, "gemini-2.5-pro", 9);
        assert_eq!(
            (&chat["model"], &chat["id"]),
            (&json!("gemini-2.5-pro"), &json!("chatcmpl-gemini-9"))
        );
        let choice = &chat["choices"][0];
        assert_eq!(choice["message"]["content"], "18 °C");
        assert_eq!(choice["message"]["reasoning_content"], "Considering units.");
        assert_eq!(choice["finish_reason"], "length");
    }

    /// Feeds a stream through the decoder and the translator `step` bytes at a time, ends
    /// it as the proxy does, checks the `data: ...\n\n` framing, and returns the payloads.
    fn run(stream: &[u8], step: usize, translator: &mut GeminiStreamTranslator) -> Vec<String> {
        let mut decoder = SseDecoder::default();
        let mut out = String::new();
        for piece in stream.chunks(step) {
            for event in decoder.feed(piece) {
                out.push_str(&translator.event(&event));
            }
        }
        assert!(!translator.finished(), "Gemini streams have no terminator");
        out.push_str(&translator.finish());
        assert!(out.ends_with("\n\n"));
        out.split_terminator("\n\n")
            .map(|frame| frame.strip_prefix("data: ").unwrap().to_string())
            .collect()
    }

    fn parse(payloads: &[String]) -> Vec<Value> {
        assert_eq!(payloads.last().unwrap(), "[DONE]");
        let body = &payloads[..payloads.len() - 1];
        body.iter()
            .map(|p| serde_json::from_str(p).unwrap())
            .collect()
    }

    fn text(chunks: &[Value]) -> String {
        chunks
            .iter()
            .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
            .collect()
    }

    #[test]
    fn text_stream_rebuilds_the_answer_finish_and_usage() {
        let mut translator = GeminiStreamTranslator::new("requested", 7, true);
        let chunks = parse(&run(
            &fixture("gemini/stream_generate_content.sse"),
            5,
            &mut translator,
        ));
        assert!(translator.finished());
        assert_eq!(translator.finish(), "", "the end is written once");
        assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
        assert!(
            chunks
                .iter()
                .all(|c| c["id"] == "chatcmpl-Wm2taMmDH5-Xz7IPl8nW2Qk"
                    && c["object"] == "chat.completion.chunk"
                    && c["model"] == "gemini-2.5-flash")
        );
        assert_eq!(
            text(&chunks),
            "It's 18 °C and partly cloudy in Paris right now."
        );
        let finishes: Vec<&str> = chunks
            .iter()
            .filter_map(|c| c["choices"][0]["finish_reason"].as_str())
            .collect();
        assert_eq!(finishes, ["stop"]);
        let last = chunks.last().unwrap();
        assert_eq!(last["choices"], json!([]));
        assert_eq!(last["usage"], usage(1152, 14 + 184, 1024, 184));
        assert_eq!(translator.model(), "gemini-2.5-flash");
        assert_eq!(translator.usage().unwrap().output, 198);
    }

    #[test]
    fn function_call_stream_sends_each_call_whole() {
        let mut translator = GeminiStreamTranslator::new("gemini-2.5-flash", 7, false);
        let stream = fixture("gemini/stream_generate_content_function_call.sse");
        let chunks = parse(&run(&stream, 3, &mut translator));
        assert_eq!(chunks.len(), 2, "the call, then the finish; no usage chunk");
        let delta = &chunks[0]["choices"][0]["delta"];
        assert_eq!(delta["role"], "assistant");
        let call = &delta["tool_calls"][0];
        assert_eq!(
            (&call["index"], &call["type"]),
            (&json!(0), &json!("function"))
        );
        let (id, signature) = gemini::split_signature(call["id"].as_str().unwrap());
        assert_eq!(id, "call_p3OtaJ7nBaTXz7IP0tGQ6Ac_0");
        assert_eq!(signature.as_deref(), Some(SIGNATURE));
        assert_eq!(call["function"]["name"], "get_weather");
        let args: Value =
            serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
        assert_eq!(args, json!({"location": "Paris", "unit": "celsius"}));
        assert_eq!(chunks[1]["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!(chunks[1]["choices"][0]["delta"], json!({}));
        assert_eq!(translator.usage().unwrap().input, 96);
    }

    #[test]
    fn streams_cut_short_errors_and_blocked_prompts() {
        let mut translator = GeminiStreamTranslator::new("gemini-2.5-flash", 7, true);
        let vertex = fixture("vertex/gemini_stream_generate_content.sse");
        let chunks = parse(&run(&vertex, 64, &mut translator));
        assert_eq!(
            text(&chunks),
            "It's 18 °C and partly cloudy in Paris right now."
        );
        assert_eq!(chunks.last().unwrap()["usage"]["prompt_tokens"], 1152);

        let cut = b"data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Hel\"}],\"role\":\"model\"}}]}\r\n\r\n";
        let mut translator = GeminiStreamTranslator::new("gemini-2.5-flash", 7, true);
        let payloads = run(cut, 8, &mut translator);
        assert_eq!(
            payloads.len(),
            2,
            "the text, then an error: no made-up finish"
        );
        let text_chunk: Value = serde_json::from_str(&payloads[0]).unwrap();
        assert_eq!(text_chunk["id"], "chatcmpl-gemini-7");
        let error: Value = serde_json::from_str(&payloads[1]).unwrap();
        assert!(
            error["error"]["message"]
                .as_str()
                .unwrap()
                .contains("cut short")
        );

        let failing = b"data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Hi\"}]}}]}\n\ndata: {\"error\":{\"code\":503,\"message\":\"The model is overloaded.\",\"status\":\"UNAVAILABLE\"}}\n\n";
        let mut translator = GeminiStreamTranslator::new("gemini-2.5-flash", 7, true);
        let chunks = parse(&run(failing, 11, &mut translator));
        assert_eq!(
            chunks.len(),
            2,
            "text, error, [DONE]: no made-up finish or usage"
        );
        assert_eq!(chunks[1]["error"]["message"], "The model is overloaded.");
        assert_eq!(chunks[1]["error"]["type"], "overloaded_error");

        let mut translator = GeminiStreamTranslator::new("gemini-2.5-flash", 7, false);
        let broken = translator.error("the provider stream broke off");
        assert!(broken.starts_with("data: {\"error\":") && broken.ends_with("}\n\n"));
        assert!(translator.finished());

        let blocked = load("gemini/generate_content_response_blocked_prompt.json");
        let stream = format!("data: {blocked}\r\n\r\n");
        let mut translator = GeminiStreamTranslator::new("gemini-2.5-flash", 7, true);
        let chunks = parse(&run(stream.as_bytes(), 9, &mut translator));
        assert_eq!(chunks.len(), 3);
        assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
        assert_eq!(chunks[1]["choices"][0]["finish_reason"], "content_filter");
        assert_eq!(chunks[2]["usage"]["prompt_tokens"], 12);
    }
}
