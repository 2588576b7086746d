//! An incremental server-sent-events decoder: bytes arrive in arbitrary chunks, complete
//! events come out. Only what LLM streams use is kept: `event:` and `data:` fields.

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Event {
    pub event: Option<String>,
    pub data: String,
}

/// Events longer than this are dropped rather than buffered without bound.
const MAX_EVENT: usize = 4 * 1024 * 1024;

#[derive(Debug, Default)]
pub struct SseDecoder {
    line: Vec<u8>,
    current: Event,
    has_data: bool,
    oversized: bool,
}

impl SseDecoder {
    /// Feeds bytes; returns the events they complete. Whole lines inside `bytes` are read
    /// in place; only a line split across two reads is copied.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Event> {
        let mut out = Vec::new();
        let mut rest = bytes;
        while let Some(end) = memchr::memchr(b'\n', rest) {
            let (line, tail) = rest.split_at(end);
            rest = &tail[1..];
            if self.line.is_empty() {
                self.line_end(line, &mut out);
            } else {
                self.buffer(line);
                let pending = std::mem::take(&mut self.line);
                self.line_end(&pending, &mut out);
                // Keep the allocation for the next split line.
                self.line = pending;
                self.line.clear();
            }
        }
        self.buffer(rest);
        out
    }

    /// Keeps part of a line until its end arrives (bounded: an oversized event is dropped).
    fn buffer(&mut self, part: &[u8]) {
        if self.line.len() + part.len() <= MAX_EVENT {
            self.line.extend_from_slice(part);
        } else {
            self.oversized = true;
        }
    }

    fn line_end(&mut self, line: &[u8], out: &mut Vec<Event>) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            let event = std::mem::take(&mut self.current);
            if self.has_data && !self.oversized {
                out.push(event);
            }
            self.has_data = false;
            self.oversized = false;
            return;
        }
        // The field name is matched as bytes, and only a kept value is checked as UTF-8
        // (lossily only if it is not valid): this runs for every line of every stream.
        let (field, value) = match memchr::memchr(b':', line) {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &b""[..]),
        };
        match field {
            b"data" => {
                if self.has_data {
                    self.current.data.push('\n');
                }
                push_text(&mut self.current.data, value);
                self.has_data = true;
            }
            b"event" => {
                let mut name = String::new();
                push_text(&mut name, value);
                self.current.event = Some(name);
            }
            _ => {}
        }
    }
}

/// Appends `bytes` as text; invalid UTF-8 becomes U+FFFD, as in `String::from_utf8_lossy`.
fn push_text(out: &mut String, bytes: &[u8]) {
    match std::str::from_utf8(bytes) {
        Ok(text) => out.push_str(text),
        Err(_) => out.push_str(&String::from_utf8_lossy(bytes)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_events_split_anywhere() {
        let stream = b"data: {\"a\":1}\n\nevent: message_stop\ndata: {}\r\n\r\ndata: [DONE]\n\n";
        for split in 1..stream.len() {
            let mut d = SseDecoder::default();
            let mut events = d.feed(&stream[..split]);
            events.extend(d.feed(&stream[split..]));
            assert_eq!(events.len(), 3, "split at {split}");
            assert_eq!(events[0].data, "{\"a\":1}");
            assert_eq!(events[1].event.as_deref(), Some("message_stop"));
            assert_eq!(events[2].data, "[DONE]");
        }
    }

    #[test]
    fn invalid_utf8_is_replaced_and_other_fields_ignored() {
        let mut d = SseDecoder::default();
        let events = d.feed(b"id: 7\nretry: 10\n: comment\nevent: e\xff\ndata:x\xfey\n\n");
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].event.as_deref(), Some("e\u{fffd}"));
        assert_eq!(events[0].data, "x\u{fffd}y");
    }

    #[test]
    fn an_event_too_large_to_buffer_is_dropped_and_the_next_one_kept() {
        let mut d = SseDecoder::default();
        let big = vec![b'x'; MAX_EVENT + 1];
        assert!(d.feed(b"data: ").is_empty());
        assert!(d.feed(&big).is_empty());
        let events = d.feed(b"\n\ndata: ok\n\n");
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].data, "ok");
    }
}
