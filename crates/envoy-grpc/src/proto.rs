//! A tiny protobuf wire-format codec: just what the ext_authz and rate limit messages need.
//!
//! The encoder writes varints (wire type 0) and length-delimited fields (wire type 2), which
//! cover every field these services' requests and responses use: strings, integers, enums,
//! nested messages, repeated fields and maps (a map is a repeated entry message with the key
//! in field 1 and the value in field 2). It follows proto3's implicit presence, so zero
//! numbers and empty strings are not written, while a nested message is always written
//! because its presence is meaningful (an empty `HttpStatus` differs from none).
//!
//! The decoder walks a message's fields in order and leaves interpretation to the caller.
//! It also skips fixed 32- and 64-bit fields, so that fields Envoy adds later (or ones we do
//! not read) never break decoding; groups are long deprecated and none of these protos use
//! them, so they are rejected.

const WIRE_VARINT: u8 = 0;
const WIRE_FIXED64: u8 = 1;
const WIRE_LEN: u8 = 2;
const WIRE_FIXED32: u8 = 5;

/// Why a protobuf message could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The message ends in the middle of a field.
    #[error("message is truncated")]
    Truncated,
    /// A varint runs past the 10 bytes that any 64-bit value fits in.
    #[error("varint is longer than 10 bytes")]
    VarintOverflow,
    /// A field number outside protobuf's range of 1 to 2^29 - 1.
    #[error("field number {0} is out of range")]
    InvalidFieldNumber(u64),
    /// A wire type this decoder does not know (3 and 4 are deprecated groups).
    #[error("unsupported wire type {0}")]
    UnsupportedWireType(u8),
    /// A known field arrived with a wire type that does not fit its declared type.
    #[error("field {0} has the wrong wire type")]
    WrongWireType(u32),
    /// A `string` field holds bytes that are not UTF-8, which proto3 forbids.
    #[error("string field {0} is not valid UTF-8")]
    InvalidUtf8(u32),
}

/// Appends `value` as a base-128 varint, least significant group first.
pub(crate) fn put_varint(buf: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        buf.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    buf.push(value as u8);
}

/// Writes one protobuf message into a growing buffer.
#[derive(Debug, Default)]
pub(crate) struct Encoder {
    buf: Vec<u8>,
}

impl Encoder {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    pub(crate) fn finish(self) -> Vec<u8> {
        self.buf
    }

    fn key(&mut self, field: u32, wire_type: u8) {
        put_varint(
            &mut self.buf,
            (u64::from(field) << 3) | u64::from(wire_type),
        );
    }

    /// A `uint32`, `uint64`, `bool` or enum field; zero is the default and is not written.
    pub(crate) fn uint(&mut self, field: u32, value: u64) {
        if value != 0 {
            self.key(field, WIRE_VARINT);
            put_varint(&mut self.buf, value);
        }
    }

    /// An `int32` or `int64` field. Negative values are sign-extended to 64 bits (ten bytes
    /// on the wire), as protobuf requires for both widths so that readers of either agree.
    pub(crate) fn int(&mut self, field: u32, value: i64) {
        self.uint(field, value as u64);
    }

    /// A `string` field; the empty string is the default and is not written.
    pub(crate) fn string(&mut self, field: u32, value: &str) {
        if !value.is_empty() {
            self.bytes(field, value.as_bytes());
        }
    }

    /// A length-delimited field written even when empty (a `bytes` value or an encoded
    /// message).
    pub(crate) fn bytes(&mut self, field: u32, value: &[u8]) {
        self.key(field, WIRE_LEN);
        put_varint(&mut self.buf, value.len() as u64);
        self.buf.extend_from_slice(value);
    }

    /// A nested message, built by `body` and written even when empty (its presence counts).
    pub(crate) fn message(&mut self, field: u32, body: impl FnOnce(&mut Encoder)) {
        // The length prefix comes first, so the nested message is built on its own; these
        // messages are small and shallow, so the copy is cheaper than a two-pass size walk.
        let mut inner = Encoder::new();
        body(&mut inner);
        self.bytes(field, &inner.buf);
    }

    /// One entry of a `map<string, string>` field.
    pub(crate) fn map_entry(&mut self, field: u32, key: &str, value: &str) {
        self.message(field, |entry| {
            entry.string(1, key);
            entry.string(2, value);
        });
    }
}

/// The value of one field as it appears on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Value<'a> {
    Varint(u64),
    Len(&'a [u8]),
    Fixed32(u32),
    Fixed64(u64),
}

impl<'a> Value<'a> {
    /// A `uint64`, `int64`, `bool` or enum value.
    pub(crate) fn u64(self, field: u32) -> Result<u64, DecodeError> {
        match self {
            Value::Varint(v) => Ok(v),
            _ => Err(DecodeError::WrongWireType(field)),
        }
    }

    /// A `uint32` or enum value; like every protobuf reader, keeps the low 32 bits.
    pub(crate) fn u32(self, field: u32) -> Result<u32, DecodeError> {
        self.u64(field).map(|v| v as u32)
    }

    /// An `int32` value: the low 32 bits of the (possibly sign-extended) varint.
    pub(crate) fn i32(self, field: u32) -> Result<i32, DecodeError> {
        self.u64(field).map(|v| v as i32)
    }

    /// An `int64` value (two's complement).
    pub(crate) fn i64(self, field: u32) -> Result<i64, DecodeError> {
        self.u64(field).map(|v| v as i64)
    }

    /// A `bytes` value or an encoded nested message.
    pub(crate) fn bytes(self, field: u32) -> Result<&'a [u8], DecodeError> {
        match self {
            Value::Len(b) => Ok(b),
            _ => Err(DecodeError::WrongWireType(field)),
        }
    }

    /// A `string` value.
    pub(crate) fn str(self, field: u32) -> Result<&'a str, DecodeError> {
        std::str::from_utf8(self.bytes(field)?).map_err(|_| DecodeError::InvalidUtf8(field))
    }

    pub(crate) fn string(self, field: u32) -> Result<String, DecodeError> {
        self.str(field).map(str::to_owned)
    }
}

/// Iterates over the fields of one encoded message, in wire order.
///
/// Singular fields that repeat are all yielded; callers keep the last, as protobuf does for
/// scalars. (For nested messages protobuf would merge the occurrences; no encoder splits
/// the messages read here, so keeping the last is enough.)
pub(crate) struct Fields<'a> {
    rest: &'a [u8],
}

pub(crate) fn fields(message: &[u8]) -> Fields<'_> {
    Fields { rest: message }
}

impl<'a> Fields<'a> {
    fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut value = 0u64;
        for (i, &byte) in self.rest.iter().enumerate().take(10) {
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                self.rest = &self.rest[i + 1..];
                return Ok(value);
            }
        }
        if self.rest.len() >= 10 {
            Err(DecodeError::VarintOverflow)
        } else {
            Err(DecodeError::Truncated)
        }
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], DecodeError> {
        if self.rest.len() < len {
            return Err(DecodeError::Truncated);
        }
        let (head, tail) = self.rest.split_at(len);
        self.rest = tail;
        Ok(head)
    }

    fn field(&mut self) -> Result<(u32, Value<'a>), DecodeError> {
        let key = self.varint()?;
        let number = key >> 3;
        let field = match u32::try_from(number) {
            Ok(field) if (1..1 << 29).contains(&field) => field,
            _ => return Err(DecodeError::InvalidFieldNumber(number)),
        };
        let value = match (key & 0x7) as u8 {
            WIRE_VARINT => Value::Varint(self.varint()?),
            WIRE_LEN => {
                let len = usize::try_from(self.varint()?).map_err(|_| DecodeError::Truncated)?;
                Value::Len(self.take(len)?)
            }
            WIRE_FIXED32 => {
                let raw = self.take(4)?;
                Value::Fixed32(u32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]))
            }
            WIRE_FIXED64 => {
                let mut raw = [0u8; 8];
                raw.copy_from_slice(self.take(8)?);
                Value::Fixed64(u64::from_le_bytes(raw))
            }
            other => return Err(DecodeError::UnsupportedWireType(other)),
        };
        Ok((field, value))
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u32, Value<'a>), DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let item = self.field();
        if item.is_err() {
            // Nothing after a malformed field can be trusted, so stop there.
            self.rest = &[];
        }
        Some(item)
    }
}

/// Decodes one `map<string, string>` entry (or any `{string key = 1; string value = 2}`).
/// Only the test servers read maps: the gateway receives none.
#[cfg(any(test, feature = "testing"))]
pub(crate) fn decode_pair(entry: &[u8]) -> Result<(String, String), DecodeError> {
    let mut key = String::new();
    let mut value = String::new();
    for item in fields(entry) {
        match item? {
            (1, v) => key = v.string(1)?,
            (2, v) => value = v.string(2)?,
            _ => {}
        }
    }
    Ok((key, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn varint_bytes(value: u64) -> Vec<u8> {
        let mut buf = Vec::new();
        put_varint(&mut buf, value);
        buf
    }

    #[test]
    fn varints_match_the_spec_examples() {
        assert_eq!(varint_bytes(0), [0x00]);
        assert_eq!(varint_bytes(1), [0x01]);
        assert_eq!(varint_bytes(127), [0x7f]);
        // 150 = 0b1_0010110: low group 0x16 with the continuation bit, then 0x01.
        assert_eq!(varint_bytes(150), [0x96, 0x01]);
        assert_eq!(varint_bytes(300), [0xac, 0x02]);
        assert_eq!(
            varint_bytes(u64::MAX),
            [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]
        );
    }

    #[test]
    fn encoder_skips_defaults_but_keeps_messages() {
        let mut enc = Encoder::new();
        enc.uint(1, 0);
        enc.string(2, "");
        enc.message(3, |_| {});
        enc.uint(4, 150);
        enc.int(5, -1);
        enc.map_entry(6, "k", "v");
        let expected: Vec<u8> = [
            &[0x1a, 0x00][..],
            &[0x20, 0x96, 0x01],
            &[
                0x28, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
            ],
            &[0x32, 0x06, 0x0a, 0x01, b'k', 0x12, 0x01, b'v'],
        ]
        .concat();
        assert_eq!(enc.finish(), expected);
    }

    #[test]
    fn decoder_reads_every_wire_type() {
        let bytes = [
            0x08, 0x96, 0x01, // field 1 varint 150
            0x12, 0x02, b'h', b'i', // field 2 "hi"
            0x1d, 0x01, 0x00, 0x00, 0x00, // field 3 fixed32 1
            0x21, 0x02, 0, 0, 0, 0, 0, 0, 0, // field 4 fixed64 2
            0x28, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, // field 5 -1
        ];
        let got: Vec<_> = fields(&bytes).collect::<Result<_, _>>().unwrap();
        assert_eq!(
            got,
            [
                (1, Value::Varint(150)),
                (2, Value::Len(b"hi")),
                (3, Value::Fixed32(1)),
                (4, Value::Fixed64(2)),
                (5, Value::Varint(u64::MAX)),
            ]
        );
        assert_eq!(got[4].1.i64(5), Ok(-1));
        assert_eq!(got[4].1.i32(5), Ok(-1));
        assert_eq!(got[1].1.str(2), Ok("hi"));
        assert_eq!(got[0].1.str(1), Err(DecodeError::WrongWireType(1)));
    }

    #[test]
    fn decoder_rejects_malformed_input() {
        fn first(bytes: &[u8]) -> Result<(u32, Value<'_>), DecodeError> {
            fields(bytes).next().unwrap()
        }
        assert_eq!(first(&[0x0a, 0x05, b'a']), Err(DecodeError::Truncated));
        assert_eq!(first(&[0x08, 0x80]), Err(DecodeError::Truncated));
        assert_eq!(
            first(&[
                0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff
            ]),
            Err(DecodeError::VarintOverflow)
        );
        assert_eq!(
            first(&[0x00, 0x01]),
            Err(DecodeError::InvalidFieldNumber(0))
        );
        assert_eq!(first(&[0x0b]), Err(DecodeError::UnsupportedWireType(3)));
        assert_eq!(
            first(&[0x0a, 0x01, 0xff]).unwrap().1.str(1),
            Err(DecodeError::InvalidUtf8(1))
        );
        // After an error the iterator stops instead of reading garbage.
        let mut it = fields(&[0x0b, 0x08, 0x01]);
        assert!(it.next().unwrap().is_err());
        assert!(it.next().is_none());
    }

    #[test]
    fn map_entries_round_trip() {
        let mut enc = Encoder::new();
        enc.map_entry(1, "key", "value");
        let bytes = enc.finish();
        let (field, value) = fields(&bytes).next().unwrap().unwrap();
        assert_eq!(field, 1);
        let entry = decode_pair(value.bytes(1).unwrap()).unwrap();
        assert_eq!(entry, ("key".to_owned(), "value".to_owned()));
    }
}
