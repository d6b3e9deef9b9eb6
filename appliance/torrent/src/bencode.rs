//! Bencoding (BEP 3): a value type, an encoder and a strict, bounded decoder.
//!
//! The decoder never panics on arbitrary input: nesting depth is limited to
//! [`MAX_DEPTH`], string lengths are checked against the remaining input and
//! integers must fit an `i64` without leading zeros or `-0`. Dictionaries are
//! read in any key order (some creators do not sort), duplicate keys are
//! refused. The encoder always writes keys sorted (a `BTreeMap`).

use std::collections::BTreeMap;
use std::ops::Range;

use thiserror::Error;

/// Deepest nesting of lists/dictionaries the decoder accepts.
pub const MAX_DEPTH: usize = 64;

/// A bencoded value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// `i<n>e`
    Int(i64),
    /// `<len>:<bytes>`
    Bytes(Vec<u8>),
    /// `l…e`
    List(Vec<Value>),
    /// `d…e`, keys sorted when encoded.
    Dict(BTreeMap<Vec<u8>, Value>),
}

/// Why bytes are not valid bencoding.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum BencodeError {
    /// The input ended inside a value.
    #[error("unexpected end of input at byte {0}")]
    Eof(usize),
    /// A byte that cannot start or continue a value here.
    #[error("unexpected byte {byte:#04x} at byte {pos}")]
    Unexpected {
        /// The offending byte.
        byte: u8,
        /// Its offset.
        pos: usize,
    },
    /// An integer or length that is malformed or out of range.
    #[error("bad integer at byte {0}")]
    BadInt(usize),
    /// Nesting deeper than [`MAX_DEPTH`].
    #[error("nesting deeper than {MAX_DEPTH}")]
    TooDeep,
    /// A dictionary key that is not a byte string, or a repeated key.
    #[error("bad dictionary key at byte {0}")]
    BadKey(usize),
    /// Bytes after the value.
    #[error("trailing data at byte {0}")]
    Trailing(usize),
}

impl Value {
    /// A byte-string value from text.
    pub fn str(s: &str) -> Value {
        Value::Bytes(s.as_bytes().to_vec())
    }

    /// Encodes into a new buffer.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    /// Appends the encoding to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            Value::Int(n) => {
                out.push(b'i');
                out.extend_from_slice(n.to_string().as_bytes());
                out.push(b'e');
            }
            Value::Bytes(b) => encode_bytes(b, out),
            Value::List(items) => {
                out.push(b'l');
                for item in items {
                    item.encode_into(out);
                }
                out.push(b'e');
            }
            Value::Dict(map) => {
                out.push(b'd');
                for (k, v) in map {
                    encode_bytes(k, out);
                    v.encode_into(out);
                }
                out.push(b'e');
            }
        }
    }

    /// The integer, if this is one.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(n) => Some(*n),
            _ => None,
        }
    }

    /// The bytes, if this is a byte string.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// The text, if this is a UTF-8 byte string.
    pub fn as_str(&self) -> Option<&str> {
        self.as_bytes().and_then(|b| std::str::from_utf8(b).ok())
    }

    /// The items, if this is a list.
    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }

    /// The map, if this is a dictionary.
    pub fn as_dict(&self) -> Option<&BTreeMap<Vec<u8>, Value>> {
        match self {
            Value::Dict(d) => Some(d),
            _ => None,
        }
    }

    /// Looks up `key` if this is a dictionary.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.as_dict().and_then(|d| d.get(key.as_bytes()))
    }
}

/// Appends `<len>:<bytes>` to `out`.
pub fn encode_bytes(b: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(b.len().to_string().as_bytes());
    out.push(b':');
    out.extend_from_slice(b);
}

/// Decodes exactly one value spanning all of `input`.
pub fn decode(input: &[u8]) -> Result<Value, BencodeError> {
    let (value, end) = decode_prefix(input)?;
    if end != input.len() {
        return Err(BencodeError::Trailing(end));
    }
    Ok(value)
}

/// Decodes one value at the start of `input`; returns it and the offset just
/// after it.
pub fn decode_prefix(input: &[u8]) -> Result<(Value, usize), BencodeError> {
    Decoder { input }.value(0, 0)
}

/// For a top-level dictionary, the byte range of the value stored under
/// `key` (e.g. the raw `info` dictionary, whose SHA-1 is the info-hash).
/// `Ok(None)` if the key is absent. The whole input must be valid.
pub fn dict_value_span(input: &[u8], key: &[u8]) -> Result<Option<Range<usize>>, BencodeError> {
    let d = Decoder { input };
    match input.first() {
        Some(b'd') => {}
        Some(&byte) => return Err(BencodeError::Unexpected { byte, pos: 0 }),
        None => return Err(BencodeError::Eof(0)),
    }
    let mut pos = 1;
    let mut found = None;
    loop {
        match input.get(pos) {
            None => return Err(BencodeError::Eof(pos)),
            Some(b'e') => {
                pos += 1;
                break;
            }
            Some(_) => {}
        }
        let (k, after_key) = d.bytes(pos)?;
        let (_, after_value) = d.value(after_key, 1)?;
        if k == key {
            if found.is_some() {
                return Err(BencodeError::BadKey(pos));
            }
            found = Some(after_key..after_value);
        }
        pos = after_value;
    }
    if pos != input.len() {
        return Err(BencodeError::Trailing(pos));
    }
    Ok(found)
}

struct Decoder<'a> {
    input: &'a [u8],
}

impl Decoder<'_> {
    fn at(&self, pos: usize) -> Result<u8, BencodeError> {
        self.input.get(pos).copied().ok_or(BencodeError::Eof(pos))
    }

    fn value(&self, pos: usize, depth: usize) -> Result<(Value, usize), BencodeError> {
        match self.at(pos)? {
            b'i' => {
                let (n, end) = self.int(pos + 1, b'e')?;
                Ok((Value::Int(n), end))
            }
            b'0'..=b'9' => {
                let (b, end) = self.bytes(pos)?;
                Ok((Value::Bytes(b.to_vec()), end))
            }
            b'l' => {
                if depth >= MAX_DEPTH {
                    return Err(BencodeError::TooDeep);
                }
                let mut items = Vec::new();
                let mut p = pos + 1;
                while self.at(p)? != b'e' {
                    let (v, next) = self.value(p, depth + 1)?;
                    items.push(v);
                    p = next;
                }
                Ok((Value::List(items), p + 1))
            }
            b'd' => {
                if depth >= MAX_DEPTH {
                    return Err(BencodeError::TooDeep);
                }
                let mut map = BTreeMap::new();
                let mut p = pos + 1;
                while self.at(p)? != b'e' {
                    if !self.at(p)?.is_ascii_digit() {
                        return Err(BencodeError::BadKey(p));
                    }
                    let (k, after_key) = self.bytes(p)?;
                    let (v, next) = self.value(after_key, depth + 1)?;
                    if map.insert(k.to_vec(), v).is_some() {
                        return Err(BencodeError::BadKey(p));
                    }
                    p = next;
                }
                Ok((Value::Dict(map), p + 1))
            }
            byte => Err(BencodeError::Unexpected { byte, pos }),
        }
    }

    /// `<len>:<bytes>` starting at `pos`.
    fn bytes(&self, pos: usize) -> Result<(&[u8], usize), BencodeError> {
        let (len, colon_end) = self.int(pos, b':')?;
        let len = usize::try_from(len).map_err(|_| BencodeError::BadInt(pos))?;
        let end = colon_end
            .checked_add(len)
            .filter(|&e| e <= self.input.len())
            .ok_or(BencodeError::Eof(self.input.len()))?;
        Ok((&self.input[colon_end..end], end))
    }

    /// Decimal digits (optionally negative when `term` is `e`) up to `term`;
    /// returns the value and the offset after `term`.
    fn int(&self, start: usize, term: u8) -> Result<(i64, usize), BencodeError> {
        let mut p = start;
        let negative = term == b'e' && self.at(p)? == b'-';
        if negative {
            p += 1;
        }
        let digits_start = p;
        while self.at(p)?.is_ascii_digit() {
            p += 1;
            if p - digits_start > 19 {
                return Err(BencodeError::BadInt(start));
            }
        }
        let digits = &self.input[digits_start..p];
        if self.at(p)? != term
            || digits.is_empty()
            || (digits.len() > 1 && digits[0] == b'0')
            || (negative && digits == b"0")
        {
            return Err(BencodeError::BadInt(start));
        }
        let text = std::str::from_utf8(digits).map_err(|_| BencodeError::BadInt(start))?;
        let magnitude: i64 = text.parse().map_err(|_| BencodeError::BadInt(start))?;
        Ok((if negative { -magnitude } else { magnitude }, p + 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dict(pairs: &[(&str, Value)]) -> Value {
        Value::Dict(
            pairs
                .iter()
                .map(|(k, v)| (k.as_bytes().to_vec(), v.clone()))
                .collect(),
        )
    }

    #[test]
    fn encodes_sorted() {
        let v = dict(&[
            ("b", Value::Int(-3)),
            ("a", Value::List(vec![Value::str("xy"), Value::Int(0)])),
        ]);
        assert_eq!(v.encode(), b"d1:al2:xyi0ee1:bi-3ee");
    }

    #[test]
    fn roundtrip_and_accessors() {
        let bytes = b"d4:infod6:lengthi42e4:name3:abce3:numi7ee";
        let v = decode(bytes).unwrap();
        assert_eq!(v.encode(), bytes);
        assert_eq!(v.get("num").and_then(Value::as_int), Some(7));
        assert_eq!(
            v.get("info")
                .and_then(|i| i.get("name"))
                .and_then(Value::as_str),
            Some("abc")
        );
        let span = dict_value_span(bytes, b"info").unwrap().unwrap();
        assert_eq!(&bytes[span], b"d6:lengthi42e4:name3:abce");
        assert_eq!(dict_value_span(bytes, b"nope").unwrap(), None);
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            &b""[..],
            b"i",
            b"i01e",
            b"i-0e",
            b"ie",
            b"i-e",
            b"i99999999999999999999e",
            b"5:abc",
            b"-1:a",
            b"01:a",
            b"l",
            b"d1:a",
            b"di1ei2ee",
            b"d1:ai1e1:ai2ee",
            b"x",
            b"i1ei2e",
            b"99999999999999999999999:x",
        ] {
            assert!(
                decode(bad).is_err(),
                "accepted {:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn depth_is_bounded() {
        let mut deep = vec![b'l'; MAX_DEPTH + 1];
        deep.extend(vec![b'e'; MAX_DEPTH + 1]);
        assert_eq!(decode(&deep), Err(BencodeError::TooDeep));
        let mut ok = vec![b'l'; MAX_DEPTH];
        ok.extend(vec![b'e'; MAX_DEPTH]);
        assert!(decode(&ok).is_ok());
    }

    #[test]
    fn extreme_ints() {
        assert_eq!(decode(b"i9223372036854775807e"), Ok(Value::Int(i64::MAX)));
        assert_eq!(decode(b"i-9223372036854775807e"), Ok(Value::Int(-i64::MAX)));
        assert!(decode(b"i9223372036854775808e").is_err());
    }
}
