//! RESP2, the Redis wire protocol, reduced to what the limiter needs: commands go out as
//! arrays of bulk strings, and replies come back as simple strings, errors, integers, bulk
//! strings, arrays or nil.
//!
//! Decoding works on a byte buffer and reports "incomplete" instead of blocking, so the
//! connection reads until a whole reply is there. Sizes and nesting are capped: a peer that
//! is not Redis (or a corrupted stream) must produce a protocol error, not a huge allocation.

use bytes::Bytes;

/// Largest bulk string accepted. The limiter's replies are a few bytes (a script SHA is 40),
/// so anything near this is not a reply to one of our commands.
const MAX_BULK: usize = 1024 * 1024;
/// Largest array accepted, for the same reason (the script returns 4 integers).
const MAX_ARRAY: usize = 1024;
/// Deepest array nesting accepted.
const MAX_DEPTH: usize = 4;

/// A decoded reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value {
    /// `+OK`
    Simple(String),
    /// `-ERR ...`: a command failed, the connection is still usable.
    Error(String),
    /// `:42`
    Integer(i64),
    /// `$3\r\nabc`
    Bulk(Bytes),
    /// `$-1` or `*-1`
    Nil,
    /// `*2\r\n...`
    Array(Vec<Value>),
}

/// The byte stream is not valid RESP2 (or exceeds the caps above).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid RESP reply: {0}")]
pub(crate) struct ProtocolError(pub(crate) String);

/// Appends `args` as one command (an array of bulk strings) to `out`.
pub(crate) fn encode_command(out: &mut Vec<u8>, args: &[&[u8]]) {
    out.push(b'*');
    out.extend_from_slice(args.len().to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
    for arg in args {
        out.push(b'$');
        out.extend_from_slice(arg.len().to_string().as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
}

/// Decodes one reply from the start of `buf`: `Ok(None)` while it is incomplete, otherwise
/// the reply and how many bytes it used.
///
/// An incomplete reply is parsed again from the start when more bytes arrive; that costs
/// nothing measurable for replies this small and keeps the decoder stateless.
pub(crate) fn decode(buf: &[u8]) -> Result<Option<(Value, usize)>, ProtocolError> {
    decode_at(buf, 0)
}

fn decode_at(buf: &[u8], depth: usize) -> Result<Option<(Value, usize)>, ProtocolError> {
    let Some((line, after_line)) = read_line(buf)? else {
        return Ok(None);
    };
    let Some((&kind, rest)) = line.split_first() else {
        return Err(ProtocolError("empty line".into()));
    };
    match kind {
        b'+' => Ok(Some((Value::Simple(text(rest)?), after_line))),
        b'-' => Ok(Some((Value::Error(text(rest)?), after_line))),
        b':' => Ok(Some((Value::Integer(integer(rest)?), after_line))),
        b'$' => {
            let len = integer(rest)?;
            if len == -1 {
                return Ok(Some((Value::Nil, after_line)));
            }
            let len = length(len, MAX_BULK, "bulk string")?;
            let end = after_line + len;
            if buf.len() < end + 2 {
                return Ok(None);
            }
            if &buf[end..end + 2] != b"\r\n" {
                return Err(ProtocolError("bulk string not terminated by CRLF".into()));
            }
            let data = Bytes::copy_from_slice(&buf[after_line..end]);
            Ok(Some((Value::Bulk(data), end + 2)))
        }
        b'*' => {
            let len = integer(rest)?;
            if len == -1 {
                return Ok(Some((Value::Nil, after_line)));
            }
            if depth >= MAX_DEPTH {
                return Err(ProtocolError("arrays nested too deeply".into()));
            }
            let len = length(len, MAX_ARRAY, "array")?;
            let mut items = Vec::with_capacity(len);
            let mut pos = after_line;
            for _ in 0..len {
                let Some((item, used)) = decode_at(&buf[pos..], depth + 1)? else {
                    return Ok(None);
                };
                items.push(item);
                pos += used;
            }
            Ok(Some((Value::Array(items), pos)))
        }
        other => Err(ProtocolError(format!(
            "unknown reply type byte 0x{other:02x}"
        ))),
    }
}

/// The first CRLF-terminated line (without the CRLF) and the offset after it.
fn read_line(buf: &[u8]) -> Result<Option<(&[u8], usize)>, ProtocolError> {
    // Header lines are short; one that runs on this long without CRLF is garbage.
    const MAX_LINE: usize = 64 * 1024;
    match buf.iter().position(|&b| b == b'\r') {
        Some(cr) if cr + 1 < buf.len() => {
            if buf[cr + 1] != b'\n' {
                return Err(ProtocolError("CR not followed by LF".into()));
            }
            Ok(Some((&buf[..cr], cr + 2)))
        }
        Some(_) => Ok(None),
        None if buf.len() > MAX_LINE => Err(ProtocolError("line too long".into())),
        None => Ok(None),
    }
}

fn text(bytes: &[u8]) -> Result<String, ProtocolError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| ProtocolError("line is not UTF-8".into()))
}

fn integer(bytes: &[u8]) -> Result<i64, ProtocolError> {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            ProtocolError(format!(
                "not an integer: {:?}",
                String::from_utf8_lossy(bytes)
            ))
        })
}

fn length(len: i64, max: usize, what: &str) -> Result<usize, ProtocolError> {
    usize::try_from(len)
        .ok()
        .filter(|&n| n <= max)
        .ok_or_else(|| ProtocolError(format!("{what} length {len} out of range")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(input: &[u8]) -> Value {
        let (value, used) = decode(input).unwrap().unwrap();
        assert_eq!(used, input.len(), "whole input consumed");
        value
    }

    #[test]
    fn encodes_commands_as_bulk_arrays() {
        let mut out = Vec::new();
        encode_command(&mut out, &[b"GET", b"a\r\nb", b""]);
        assert_eq!(out, b"*3\r\n$3\r\nGET\r\n$4\r\na\r\nb\r\n$0\r\n\r\n");
    }

    #[test]
    fn decodes_each_reply_type() {
        assert_eq!(one(b"+OK\r\n"), Value::Simple("OK".into()));
        assert_eq!(
            one(b"-NOSCRIPT No matching script\r\n"),
            Value::Error("NOSCRIPT No matching script".into())
        );
        assert_eq!(one(b":-42\r\n"), Value::Integer(-42));
        assert_eq!(
            one(b"$5\r\nhe\r\no\r\n"),
            Value::Bulk(Bytes::from_static(b"he\r\no"))
        );
        assert_eq!(one(b"$0\r\n\r\n"), Value::Bulk(Bytes::new()));
        assert_eq!(one(b"$-1\r\n"), Value::Nil);
        assert_eq!(one(b"*-1\r\n"), Value::Nil);
        assert_eq!(
            one(b"*3\r\n:1\r\n$1\r\nx\r\n*1\r\n+y\r\n"),
            Value::Array(vec![
                Value::Integer(1),
                Value::Bulk(Bytes::from_static(b"x")),
                Value::Array(vec![Value::Simple("y".into())]),
            ])
        );
    }

    #[test]
    fn reports_incomplete_input_at_every_split_point() {
        let full = b"*4\r\n:1\r\n:19\r\n$3\r\nabc\r\n:-1\r\n";
        for cut in 0..full.len() {
            assert_eq!(decode(&full[..cut]).unwrap(), None, "cut at {cut}");
        }
        assert!(decode(full).unwrap().is_some());
    }

    #[test]
    fn leaves_following_bytes_for_the_next_reply() {
        let (value, used) = decode(b":7\r\n+OK\r\n").unwrap().unwrap();
        assert_eq!((value, used), (Value::Integer(7), 4));
    }

    #[test]
    fn rejects_malformed_and_oversized_replies() {
        for bad in [
            &b"?\r\n"[..],
            b"\r\n",
            b":12x\r\n",
            b"+OK\rX",
            b"$3\r\nabcXY",
            b"$-2\r\n",
            b"$99999999999\r\n",
            b"*5000\r\n",
            b"*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n",
        ] {
            assert!(decode(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        assert!(decode(&vec![b'a'; 70 * 1024]).is_err(), "endless line");
    }
}
