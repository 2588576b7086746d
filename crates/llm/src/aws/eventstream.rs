//! An incremental decoder for AWS event streams (`application/vnd.amazon.eventstream`), the
//! binary framing Bedrock's ConverseStream answers with, and the mapping of its messages to
//! the [`Event`]s the stream translators consume.
//!
//! A message is a 12-byte prelude (total length, headers length, CRC-32 of those 8 bytes),
//! the headers, the payload and a CRC-32 of everything before it; integers are big-endian.

use base64::Engine as _;
use bytes::Bytes;
use serde_json::{Value, json};

use crate::sse::Event;

/// Messages longer than this are refused rather than buffered: Bedrock's events are a few
/// hundred bytes, so a larger length means a corrupt or hostile stream.
pub const MAX_MESSAGE_LEN: u32 = 16 * 1024 * 1024;

const PRELUDE_LEN: usize = 12;
const CRC_LEN: usize = 4;
/// A message with no headers and no payload: prelude plus message CRC.
const MIN_MESSAGE_LEN: u32 = 16;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventStreamError {
    #[error(
        "event-stream prelude checksum mismatch (sent {sent:#010x}, computed {computed:#010x})"
    )]
    PreludeChecksum { sent: u32, computed: u32 },
    #[error(
        "event-stream message checksum mismatch (sent {sent:#010x}, computed {computed:#010x})"
    )]
    MessageChecksum { sent: u32, computed: u32 },
    #[error(
        "event-stream message length {length} is outside {MIN_MESSAGE_LEN}..={MAX_MESSAGE_LEN}"
    )]
    MessageLength { length: u32 },
    #[error("event-stream headers length {headers} does not fit a message of {total} bytes")]
    HeadersLength { headers: u32, total: u32 },
    #[error("malformed event-stream header: {0}")]
    Header(&'static str),
    #[error("unknown event-stream header value type {0}")]
    HeaderType(u8),
    #[error("the event stream ended inside a message ({buffered} bytes left over)")]
    Truncated { buffered: usize },
}

/// One decoded message. Header values are rendered as text: strings as they are, booleans
/// as `true`/`false`, integers and timestamps (milliseconds since the epoch) in decimal,
/// byte arrays in base64 and UUIDs in their hyphenated form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub headers: Vec<(String, String)>,
    pub payload: Bytes,
}

impl Message {
    /// The value of the first header with this name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Bytes in, complete messages out; a message may span any number of chunks and a chunk may
/// hold several messages.
#[derive(Debug, Default)]
pub struct EventStreamDecoder {
    buffer: Vec<u8>,
    /// Once the framing is lost nothing after it can be trusted, so the error sticks.
    failed: Option<EventStreamError>,
}

impl EventStreamDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes and returns the messages they complete. When a chunk holds good messages
    /// followed by a corrupt one, the good ones are returned and the error comes with the
    /// next call (or [`Self::finish`]).
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Vec<Message>, EventStreamError> {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        self.buffer.extend_from_slice(bytes);
        let mut messages = Vec::new();
        let mut consumed = 0;
        loop {
            match decode_message(&self.buffer[consumed..]) {
                Ok(Some((message, length))) => {
                    messages.push(message);
                    consumed += length;
                }
                Ok(None) => break,
                Err(error) => {
                    self.buffer = Vec::new();
                    self.failed = Some(error.clone());
                    return if messages.is_empty() {
                        Err(error)
                    } else {
                        Ok(messages)
                    };
                }
            }
        }
        self.buffer.drain(..consumed);
        Ok(messages)
    }

    /// Checks that the stream ended on a message boundary with no pending error.
    pub fn finish(&self) -> Result<(), EventStreamError> {
        match &self.failed {
            Some(error) => Err(error.clone()),
            None if !self.buffer.is_empty() => Err(EventStreamError::Truncated {
                buffered: self.buffer.len(),
            }),
            None => Ok(()),
        }
    }
}

/// The first message in `buf` and its length, or `None` while it is incomplete.
fn decode_message(buf: &[u8]) -> Result<Option<(Message, usize)>, EventStreamError> {
    let Some(prelude) = buf.get(..PRELUDE_LEN) else {
        return Ok(None);
    };
    let total = read_u32(&prelude[0..4]);
    let headers_len = read_u32(&prelude[4..8]);
    // The lengths are only trusted once their checksum holds.
    check_crc(
        &prelude[..8],
        read_u32(&prelude[8..12]),
        |sent, computed| EventStreamError::PreludeChecksum { sent, computed },
    )?;
    if !(MIN_MESSAGE_LEN..=MAX_MESSAGE_LEN).contains(&total) {
        return Err(EventStreamError::MessageLength { length: total });
    }
    if headers_len > total - MIN_MESSAGE_LEN {
        return Err(EventStreamError::HeadersLength {
            headers: headers_len,
            total,
        });
    }
    // Both fit in usize: they are bounded by MAX_MESSAGE_LEN above.
    let (total, headers_len) = (total as usize, headers_len as usize);
    let Some(message) = buf.get(..total) else {
        return Ok(None);
    };
    let crc_at = total - CRC_LEN;
    check_crc(
        &message[..crc_at],
        read_u32(&message[crc_at..]),
        |sent, computed| EventStreamError::MessageChecksum { sent, computed },
    )?;
    let headers_end = PRELUDE_LEN + headers_len;
    let headers = decode_headers(&message[PRELUDE_LEN..headers_end])?;
    let payload = Bytes::copy_from_slice(&message[headers_end..crc_at]);
    Ok(Some((Message { headers, payload }, total)))
}

fn check_crc(
    bytes: &[u8],
    sent: u32,
    error: impl FnOnce(u32, u32) -> EventStreamError,
) -> Result<(), EventStreamError> {
    let computed = crc32(bytes);
    if computed == sent {
        Ok(())
    } else {
        Err(error(sent, computed))
    }
}

/// Reads big-endian integers; callers pass slices of the exact width.
fn read_u32(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0, |acc, &b| acc << 8 | u32::from(b))
}

/// Splits `n` bytes off the front of the header block.
fn take<'a>(block: &mut &'a [u8], n: usize) -> Result<&'a [u8], EventStreamError> {
    let (head, rest) = block.split_at_checked(n).ok_or(EventStreamError::Header(
        "a header runs past the header block",
    ))?;
    *block = rest;
    Ok(head)
}

/// A big-endian two's-complement integer of 1, 2, 4 or 8 bytes, in decimal.
fn signed(bytes: &[u8]) -> String {
    let unsigned = bytes.iter().fold(0u64, |acc, &b| acc << 8 | u64::from(b));
    // Shifting the value to the top and back copies its sign bit down.
    let shift = 64 - 8 * bytes.len() as u32;
    (((unsigned << shift) as i64) >> shift).to_string()
}

/// Walks the header block: `name_len u8, name, type u8, value` until it is used up.
fn decode_headers(mut block: &[u8]) -> Result<Vec<(String, String)>, EventStreamError> {
    let mut headers = Vec::new();
    while !block.is_empty() {
        let name_len = usize::from(take(&mut block, 1)?[0]);
        let name = std::str::from_utf8(take(&mut block, name_len)?)
            .map_err(|_| EventStreamError::Header("a header name is not UTF-8"))?
            .to_string();
        let value = match take(&mut block, 1)?[0] {
            0 => "true".to_string(),
            1 => "false".to_string(),
            2 => signed(take(&mut block, 1)?),
            3 => signed(take(&mut block, 2)?),
            4 => signed(take(&mut block, 4)?),
            5 | 8 => signed(take(&mut block, 8)?),
            6 => {
                let len = read_u32(take(&mut block, 2)?) as usize;
                base64::engine::general_purpose::STANDARD.encode(take(&mut block, len)?)
            }
            7 => {
                let len = read_u32(take(&mut block, 2)?) as usize;
                std::str::from_utf8(take(&mut block, len)?)
                    .map_err(|_| EventStreamError::Header("a string header is not UTF-8"))?
                    .to_string()
            }
            9 => uuid(take(&mut block, 16)?),
            other => return Err(EventStreamError::HeaderType(other)),
        };
        headers.push((name, value));
    }
    Ok(headers)
}

fn uuid(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(36);
    for (i, byte) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

/// The CRC-32 lookup table (IEEE 802.3, reflected polynomial 0xEDB88320), built at compile
/// time so no table is written out by hand.
const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 == 1 {
                0xEDB8_8320 ^ (crc >> 1)
            } else {
                crc >> 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
};

/// CRC-32 as zlib computes it (initial value and final XOR all ones).
/// One event message as Bedrock frames it, with string headers (`:event-type`,
/// `:content-type`, `:message-type`): what mock providers and tests send the decoder.
pub fn encode_message(headers: &[(&str, &str)], payload: &[u8]) -> Vec<u8> {
    let mut block = Vec::new();
    for (name, value) in headers {
        block.push(name.len() as u8);
        block.extend_from_slice(name.as_bytes());
        block.push(7); // a string value, with a 2-byte length
        block.extend_from_slice(&(value.len() as u16).to_be_bytes());
        block.extend_from_slice(value.as_bytes());
    }
    frame_block(&block, payload)
}

/// The prelude (total and header lengths, their CRC), the encoded header block, the payload
/// and the CRC of everything before it.
fn frame_block(block: &[u8], payload: &[u8]) -> Vec<u8> {
    let total = (PRELUDE_LEN + block.len() + payload.len() + CRC_LEN) as u32;
    let mut out = total.to_be_bytes().to_vec();
    out.extend_from_slice(&(block.len() as u32).to_be_bytes());
    out.extend_from_slice(&crc32(&out).to_be_bytes());
    out.extend_from_slice(block);
    out.extend_from_slice(payload);
    out.extend_from_slice(&crc32(&out).to_be_bytes());
    out
}

pub fn crc32(bytes: &[u8]) -> u32 {
    !bytes.iter().fold(!0u32, |crc, &b| {
        CRC_TABLE[usize::from(crc as u8 ^ b)] ^ (crc >> 8)
    })
}

/// The event a message stands for. Normal events keep their `:event-type` as the event name
/// and their JSON payload as data; modeled exceptions and unmodeled errors both become an
/// `exception` event carrying `{"type", "message"}`.
pub fn to_sse_event(msg: &Message) -> Event {
    let payload = String::from_utf8_lossy(&msg.payload).into_owned();
    match msg.header(":message-type") {
        Some("exception") | Some("error") => {
            let error_type = msg
                .header(":exception-type")
                .or_else(|| msg.header(":error-code"))
                .unwrap_or("unknownException");
            let from_payload = serde_json::from_str::<Value>(&payload).ok().and_then(|v| {
                v.get("message")
                    .or_else(|| v.get("Message"))
                    .and_then(Value::as_str)
                    .map(String::from)
            });
            let message = from_payload
                .or_else(|| msg.header(":error-message").map(String::from))
                .or_else(|| Some(payload.clone()).filter(|p| !p.is_empty()))
                .unwrap_or_else(|| "the provider ended the stream with an error".into());
            Event {
                event: Some("exception".into()),
                data: json!({ "type": error_type, "message": message }).to_string(),
            }
        }
        message_type => Event {
            event: msg.header(":event-type").or(message_type).map(String::from),
            data: payload,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture;

    /// Frames one message; each header is (name, type byte, raw value bytes).
    fn frame(headers: &[(&str, u8, &[u8])], payload: &[u8]) -> Vec<u8> {
        let mut block = Vec::new();
        for (name, kind, value) in headers {
            block.push(name.len() as u8);
            block.extend_from_slice(name.as_bytes());
            block.push(*kind);
            block.extend_from_slice(value);
        }
        frame_block(&block, payload)
    }

    #[test]
    fn encoded_messages_decode_to_their_headers_and_payload() {
        let bytes = encode_message(
            &[(":event-type", "messageStop")],
            br#"{"stopReason":"end_turn"}"#,
        );
        let messages = decode_in_chunks(&bytes, 5);
        let event = to_sse_event(&messages[0]);
        assert_eq!(event.event.as_deref(), Some("messageStop"));
        assert_eq!(event.data, r#"{"stopReason":"end_turn"}"#);
    }

    fn decode_in_chunks(bytes: &[u8], size: usize) -> Vec<Message> {
        let mut decoder = EventStreamDecoder::new();
        let messages: Vec<Message> = bytes
            .chunks(size)
            .flat_map(|chunk| decoder.feed(chunk).unwrap())
            .collect();
        decoder.finish().unwrap();
        messages
    }

    #[test]
    fn crc32_is_the_zlib_one() {
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        // The first prelude of converse_stream.bin, per its hexdump.
        assert_eq!(crc32(&[0, 0, 0, 0xa5, 0, 0, 0, 0x52]), 0x5880_ff57);
    }

    #[test]
    fn decodes_the_converse_stream_in_any_chunking() {
        let bytes = fixture("bedrock/converse_stream.bin");
        let expected_text =
            String::from_utf8(fixture("bedrock/converse_stream_events.jsonl")).unwrap();
        let expected: Vec<Value> = expected_text
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        assert_eq!(expected.len(), 11);
        for size in [37, 1, bytes.len()] {
            let messages = decode_in_chunks(&bytes, size);
            assert_eq!(messages.len(), expected.len(), "chunks of {size}");
            for (message, want) in messages.iter().zip(&expected) {
                for name in [":message-type", ":event-type", ":content-type"] {
                    assert_eq!(message.header(name), want[name].as_str(), "{name}");
                }
                let payload: Value = serde_json::from_slice(&message.payload).unwrap();
                assert_eq!(payload, want["payload"]);
            }
        }
        let first = &decode_in_chunks(&bytes, 37)[0];
        assert_eq!(
            first.headers[0],
            (":event-type".into(), "messageStart".into())
        );
        assert_eq!(
            to_sse_event(first),
            Event {
                event: Some("messageStart".into()),
                data: r#"{"p":"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMN","role":"assistant"}"#
                    .into(),
            }
        );
    }

    #[test]
    fn exceptions_become_exception_events() {
        let messages = decode_in_chunks(&fixture("bedrock/converse_stream_exception.bin"), 37);
        let last = messages.last().unwrap();
        assert_eq!(last.header(":message-type"), Some("exception"));
        let event = to_sse_event(last);
        assert_eq!(event.event.as_deref(), Some("exception"));
        let data: Value = serde_json::from_str(&event.data).unwrap();
        assert_eq!(
            data,
            json!({"type": "throttlingException", "message": "Too many tokens, please wait before trying again."})
        );
        let deltas: String = messages
            .iter()
            .filter(|m| m.header(":event-type") == Some("contentBlockDelta"))
            .map(|m| {
                serde_json::from_slice::<Value>(&m.payload).unwrap()["delta"]["text"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert!(deltas.ends_with("Paris is"), "{deltas}");
    }

    #[test]
    fn unmodeled_errors_use_their_headers() {
        let bytes = frame(
            &[
                (":message-type", 7, b"\x00\x05error"),
                (":error-code", 7, b"\x00\x0dInternalError"),
                (":error-message", 7, b"\x00\x04boom"),
            ],
            b"",
        );
        let event = to_sse_event(&decode_in_chunks(&bytes, 5)[0]);
        assert_eq!(event.event.as_deref(), Some("exception"));
        let data: Value = serde_json::from_str(&event.data).unwrap();
        assert_eq!(data, json!({"type": "InternalError", "message": "boom"}));
    }

    #[test]
    fn every_header_value_type_decodes() {
        let uuid_bytes: Vec<u8> = (0u8..16).collect();
        let bytes = frame(
            &[
                ("t", 0, b""),
                ("f", 1, b""),
                ("i8", 2, &[0xff]),
                ("i16", 3, &[0x80, 0x00]),
                ("i32", 4, &[0, 0, 1, 0]),
                ("i64", 5, &[0xff; 8]),
                ("bytes", 6, b"\x00\x03abc"),
                ("str", 7, b"\x00\x02hi"),
                ("ts", 8, &1_700_000_000_000i64.to_be_bytes()),
                ("uuid", 9, &uuid_bytes),
            ],
            b"{}",
        );
        let message = &decode_in_chunks(&bytes, 3)[0];
        let values: Vec<&str> = message.headers.iter().map(|(_, v)| v.as_str()).collect();
        assert_eq!(
            values,
            [
                "true",
                "false",
                "-1",
                "-32768",
                "256",
                "-1",
                "YWJj",
                "hi",
                "1700000000000",
                "00010203-0405-0607-0809-0a0b0c0d0e0f"
            ]
        );
        assert_eq!(&message.payload[..], b"{}");
        let unknown = frame(&[("x", 10, b"")], b"");
        assert_eq!(
            EventStreamDecoder::new().feed(&unknown),
            Err(EventStreamError::HeaderType(10))
        );
    }

    #[test]
    fn corrupt_checksums_are_errors_and_stick() {
        let good = fixture("bedrock/converse_stream.bin");
        // The last byte of the first message is part of its message CRC.
        let mut bytes = good.clone();
        bytes[0xa4] ^= 0x01;
        let mut decoder = EventStreamDecoder::new();
        assert!(matches!(
            decoder.feed(&bytes),
            Err(EventStreamError::MessageChecksum {
                sent: 0xbb42_da64,
                computed: 0xbb42_da65
            })
        ));
        assert!(
            decoder.feed(&good).is_err(),
            "a lost framing is not resynchronised"
        );

        // A corrupt second prelude: the first message is still delivered, the error follows.
        let mut bytes = good.clone();
        bytes[0xa5 + 3] ^= 0x40;
        let mut decoder = EventStreamDecoder::new();
        assert_eq!(decoder.feed(&bytes).unwrap().len(), 1);
        assert!(matches!(
            decoder.finish(),
            Err(EventStreamError::PreludeChecksum { .. })
        ));
    }

    #[test]
    fn oversized_and_truncated_messages_are_refused() {
        let mut prelude = (MAX_MESSAGE_LEN + 1).to_be_bytes().to_vec();
        prelude.extend_from_slice(&0u32.to_be_bytes());
        prelude.extend_from_slice(&crc32(&prelude).to_be_bytes());
        assert_eq!(
            EventStreamDecoder::new().feed(&prelude),
            Err(EventStreamError::MessageLength {
                length: MAX_MESSAGE_LEN + 1
            })
        );
        let bytes = fixture("bedrock/converse_stream.bin");
        let mut decoder = EventStreamDecoder::new();
        assert_eq!(decoder.feed(&bytes[..200]).unwrap().len(), 1);
        assert_eq!(
            decoder.finish(),
            Err(EventStreamError::Truncated {
                buffered: 200 - 0xa5
            })
        );
    }
}
