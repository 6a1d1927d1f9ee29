//! The JSON of an answer that is only data, written straight from async-graphql's value
//! tree, byte for byte as serde_json writes it (a property test holds the two to the
//! same output). serde_json escapes strings a byte at a time through a table; here
//! eight bytes are checked at once and copied whole when none needs escaping — the
//! strings of a page (titles, comment bodies) almost never do. Writing the dashboard's
//! answer was 5% of its instructions, two thirds of it escaping.
//!
//! An answer with errors or extensions is left to serde (`write_data` says so).

use std::io::Write;

use async_graphql::{Response, Value as ConstValue};

/// Writes `{"data":…}` for a response with neither errors nor extensions and returns
/// true; writes nothing and returns false for any other.
pub fn write_data(response: &Response, out: &mut Vec<u8>) -> bool {
    if !response.errors.is_empty() || !response.extensions.is_empty() {
        return false;
    }
    out.extend_from_slice(b"{\"data\":");
    value(&response.data, out);
    out.push(b'}');
    true
}

fn value(v: &ConstValue, out: &mut Vec<u8>) {
    match v {
        ConstValue::Null => out.extend_from_slice(b"null"),
        // serde_json writes a number as its `Display` does (itoa, or ryu for finite
        // floats); writing to a vector cannot fail.
        ConstValue::Number(n) => {
            let _ = write!(out, "{n}");
        }
        ConstValue::String(s) => string(s, out),
        ConstValue::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        // serde_json writes bytes as an array of numbers.
        ConstValue::Binary(bytes) => {
            out.push(b'[');
            for (i, byte) in bytes.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                let _ = write!(out, "{byte}");
            }
            out.push(b']');
        }
        ConstValue::Enum(name) => string(name, out),
        ConstValue::List(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                value(item, out);
            }
            out.push(b']');
        }
        ConstValue::Object(fields) => {
            out.push(b'{');
            for (i, (name, item)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                string(name, out);
                out.push(b':');
                value(item, out);
            }
            out.push(b'}');
        }
    }
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// Whether any of the eight bytes of `word` needs escaping: a control character (below
/// 0x20), a quote or a backslash. Never false when one does (it may be true for a
/// word whose bytes only look close; those are then checked one by one).
fn needs_escape(word: u64) -> bool {
    let below_space = word.wrapping_sub(ONES * 0x20) & !word;
    let quote = word ^ (ONES * u64::from(b'"'));
    let backslash = word ^ (ONES * u64::from(b'\\'));
    let zero = |x: u64| x.wrapping_sub(ONES) & !x;
    (below_space | zero(quote) | zero(backslash)) & HIGHS != 0
}

/// What a byte becomes in a JSON string: 0 for itself, `u` for `\u00XX`, or the letter
/// of its short escape.
const ESCAPE: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut byte = 0;
    while byte < 0x20 {
        table[byte] = b'u';
        byte += 1;
    }
    table[0x08] = b'b';
    table[0x0c] = b'f';
    table[b'\n' as usize] = b'n';
    table[b'\r' as usize] = b'r';
    table[b'\t' as usize] = b't';
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table
};

/// A JSON string, escaped as serde_json escapes it: `\"`, `\\`, the short forms of
/// backspace, form feed, newline, carriage return and tab, and `\u00XX` (lower-case
/// hex) for the other control characters; nothing else.
fn string(s: &str, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut start = 0;
    let mut i = 0;
    loop {
        // Whole words while none of their bytes needs escaping…
        while let Some(word) = bytes.get(i..i + 8) {
            let word = <[u8; 8]>::try_from(word).map_or(u64::MAX, u64::from_le_bytes);
            if needs_escape(word) {
                break;
            }
            i += 8;
        }
        // …then byte by byte through the word that has one, or the last few bytes.
        let end = (i + 8).min(bytes.len());
        while i < end && ESCAPE[usize::from(bytes[i])] == 0 {
            i += 1;
        }
        if i == bytes.len() {
            break;
        }
        if i == end {
            continue;
        }
        let byte = bytes[i];
        out.extend_from_slice(&bytes[start..i]);
        match ESCAPE[usize::from(byte)] {
            b'u' => out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(byte >> 4)],
                HEX[usize::from(byte & 0xf)],
            ]),
            short => out.extend_from_slice(&[b'\\', short]),
        }
        i += 1;
        start = i;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::{Name, ServerError};
    use proptest::prelude::*;

    fn serde(response: &Response) -> Vec<u8> {
        serde_json::to_vec(response).unwrap_or_default()
    }

    fn ours(response: &Response) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        write_data(response, &mut out).then_some(out)
    }

    /// Any value async-graphql can answer with: text of any characters (controls,
    /// quotes, backslashes, non-ASCII), integers and finite floats at their extremes,
    /// bytes, enums, nested lists and objects.
    fn values() -> impl Strategy<Value = ConstValue> {
        let text = prop_oneof![
            any::<String>(),
            proptest::collection::vec(
                prop_oneof![
                    Just('"'),
                    Just('\\'),
                    Just('\n'),
                    Just('\u{7f}'),
                    Just('é'),
                    Just('a'),
                    (0u32..0x20).prop_map(|c| char::from_u32(c).unwrap_or('a')),
                ],
                0..40
            )
            .prop_map(|chars| chars.into_iter().collect::<String>()),
        ];
        let leaf = prop_oneof![
            Just(ConstValue::Null),
            any::<bool>().prop_map(ConstValue::Boolean),
            any::<i64>().prop_map(|n| ConstValue::Number(n.into())),
            any::<u64>().prop_map(|n| ConstValue::Number(n.into())),
            any::<f64>().prop_filter_map("finite", |f| {
                serde_json::Number::from_f64(f).map(ConstValue::Number)
            }),
            text.clone().prop_map(ConstValue::String),
            "[A-Z_]{1,12}".prop_map(|s| ConstValue::Enum(Name::new(s))),
            proptest::collection::vec(any::<u8>(), 0..6).prop_map(|b| ConstValue::Binary(b.into())),
        ];
        leaf.prop_recursive(4, 64, 6, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(ConstValue::List),
                proptest::collection::vec((text.clone(), inner), 0..6).prop_map(|fields| {
                    ConstValue::Object(fields.into_iter().map(|(k, v)| (Name::new(k), v)).collect())
                }),
            ]
        })
    }

    proptest! {
        #[test]
        fn data_is_written_as_serde_json_writes_it(data in values()) {
            let response = Response::new(data);
            prop_assert_eq!(ours(&response), Some(serde(&response)));
        }
    }

    #[test]
    fn every_byte_that_needs_escaping_is_seen_in_every_position() {
        for byte in 0u8..=0x7f {
            for position in 0..9 {
                let mut text = "abcdefghijklmnop".to_string().into_bytes();
                text[position] = byte;
                let text = String::from_utf8(text).unwrap_or_default();
                let response = Response::new(ConstValue::String(text));
                assert_eq!(ours(&response), Some(serde(&response)), "byte {byte:#x}");
            }
        }
    }

    #[test]
    fn answers_with_errors_or_extensions_are_left_to_serde() {
        let mut failed = Response::new(ConstValue::Null);
        failed.errors.push(ServerError::new("no", None));
        assert_eq!(ours(&failed), None);
        let mut extended = Response::new(ConstValue::Null);
        extended
            .extensions
            .insert("cost".into(), ConstValue::Number(1.into()));
        assert_eq!(ours(&extended), None);
    }
}
