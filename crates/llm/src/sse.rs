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
    /// A line split across two reads, until its end arrives.
    line: Vec<u8>,
    /// The event's `data`, once it no longer lies in one line of the current read.
    data: String,
    /// The event's `event` field (empty: none); the buffer is reused.
    name: String,
    has_name: bool,
    has_data: bool,
    oversized: bool,
}

/// The data of the event being read.
#[derive(Clone, Copy)]
enum Data<'b> {
    None,
    /// One line, still inside the bytes being fed: read in place, never copied.
    InPlace(&'b [u8]),
    /// In the decoder's own buffer.
    Buffered,
}

impl SseDecoder {
    /// Feeds bytes; returns the events they complete.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Event> {
        let mut out = Vec::new();
        self.feed_each(bytes, |name, data| {
            out.push(Event {
                event: name.map(str::to_string),
                data: data.to_string(),
            })
        });
        out
    }

    /// Feeds bytes and hands each event they complete to `on_event(event name, data)`.
    /// An event whose data is one line inside `bytes` (nearly every event of an LLM
    /// stream) is handed over in place: nothing is copied or allocated for it.
    pub fn feed_each(&mut self, bytes: &[u8], mut on_event: impl FnMut(Option<&str>, &str)) {
        self.feed_each_raw(bytes, |name, data| match std::str::from_utf8(data) {
            Ok(text) => on_event(name, text),
            Err(_) => on_event(name, &String::from_utf8_lossy(data)),
        });
    }

    /// `feed_each` with each event's data as bytes, not checked to be UTF-8: for readers
    /// that look for a few keys and parse bytes anyway (the check cost as much as the
    /// rest of decoding).
    pub fn feed_each_raw(&mut self, bytes: &[u8], mut on_event: impl FnMut(Option<&str>, &[u8])) {
        let mut data = match self.has_data {
            true => Data::Buffered,
            false => Data::None,
        };
        let mut rest = bytes;
        while let Some(end) = memchr::memchr(b'\n', rest) {
            let (line, tail) = rest.split_at(end);
            rest = &tail[1..];
            if self.line.is_empty() {
                self.line_end(line, Some(line), &mut data, &mut on_event);
            } else {
                self.buffer(line);
                let pending = std::mem::take(&mut self.line);
                self.line_end(&pending, None, &mut data, &mut on_event);
                // Keep the allocation for the next split line.
                self.line = pending;
                self.line.clear();
            }
        }
        // Data still in place belongs to an event that ends in a later read: keep a copy.
        if let Data::InPlace(value) = data {
            push_text(&mut self.data, value);
        }
        self.buffer(rest);
    }

    /// Keeps part of a line until its end arrives (bounded: an oversized event is dropped).
    fn buffer(&mut self, part: &[u8]) {
        if self.line.len() + part.len() <= MAX_EVENT {
            self.line.extend_from_slice(part);
        } else {
            self.oversized = true;
        }
    }

    /// One complete line; `in_place` is the same line when it lies in the bytes being fed
    /// (so `data` may borrow from it), None when it was put together in the split-line
    /// buffer.
    fn line_end<'b>(
        &mut self,
        line: &[u8],
        in_place: Option<&'b [u8]>,
        data: &mut Data<'b>,
        on_event: &mut impl FnMut(Option<&str>, &[u8]),
    ) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            self.dispatch(data, on_event);
            return;
        }
        // The field name is matched as bytes, and only a kept value is checked as UTF-8
        // (lossily only if it is not valid): this runs for every line of every stream.
        let (field, value_from) = match memchr::memchr(b':', line) {
            Some(colon) if line.get(colon + 1) == Some(&b' ') => (&line[..colon], colon + 2),
            Some(colon) => (&line[..colon], colon + 1),
            None => (line, line.len()),
        };
        let value = &line[value_from..];
        match field {
            b"data" => {
                match (*data, in_place) {
                    (Data::None, Some(whole)) => {
                        *data = Data::InPlace(&whole[value_from..value_from + value.len()]);
                    }
                    (Data::None, None) => {
                        push_text(&mut self.data, value);
                        *data = Data::Buffered;
                    }
                    // A second data line: the event's data is built in the buffer.
                    (Data::InPlace(first), _) => {
                        push_text(&mut self.data, first);
                        self.data.push('\n');
                        push_text(&mut self.data, value);
                        *data = Data::Buffered;
                    }
                    (Data::Buffered, _) => {
                        self.data.push('\n');
                        push_text(&mut self.data, value);
                    }
                }
                self.has_data = true;
            }
            b"event" => {
                self.name.clear();
                push_text(&mut self.name, value);
                self.has_name = true;
            }
            _ => {}
        }
    }

    /// The blank line ending an event: hands it over (if it had data) and starts afresh.
    fn dispatch(&mut self, data: &mut Data<'_>, on_event: &mut impl FnMut(Option<&str>, &[u8])) {
        if self.has_data && !self.oversized {
            let name = self.has_name.then_some(self.name.as_str());
            match *data {
                Data::InPlace(value) => on_event(name, value),
                Data::None | Data::Buffered => on_event(name, self.data.as_bytes()),
            }
        }
        *data = Data::None;
        self.data.clear();
        self.has_name = false;
        self.has_data = false;
        self.oversized = false;
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
    fn raw_events_are_the_bytes_sent_and_text_events_are_lossy() {
        let stream = b"event: a\ndata: caf\xc3\xa9 \xff\n\n";
        let mut raw = Vec::new();
        SseDecoder::default().feed_each_raw(stream, |name, data| {
            raw.push((name.map(str::to_string), data.to_vec()))
        });
        assert_eq!(raw, [(Some("a".to_string()), b"caf\xc3\xa9 \xff".to_vec())]);
        let text = SseDecoder::default().feed(stream);
        assert_eq!(text[0].data, "caf\u{e9} \u{fffd}");
    }

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
    fn multi_line_data_and_events_across_reads_match_the_owned_form() {
        let stream = b"event: a\ndata: one\ndata: two\n\ndata: x\n\nevent: b\ndata: {\"k\":1}\n\n";
        for split in 0..stream.len() {
            for second in split..stream.len() {
                let mut d = SseDecoder::default();
                let mut seen = Vec::new();
                for piece in [&stream[..split], &stream[split..second], &stream[second..]] {
                    d.feed_each(piece, |name, data| {
                        seen.push((name.map(str::to_string), data.to_string()))
                    });
                }
                assert_eq!(
                    seen,
                    [
                        (Some("a".to_string()), "one\ntwo".to_string()),
                        (None, "x".to_string()),
                        (Some("b".to_string()), "{\"k\":1}".to_string()),
                    ],
                    "split at {split} and {second}"
                );
            }
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
