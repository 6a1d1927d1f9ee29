//! Relay connections with opaque keyset cursors: a cursor is the sort key of the last
//! row seen, so page N costs the same as page 1.

use std::fmt::Display;
use std::str::FromStr;

use async_graphql::connection::{Connection, Edge, EmptyFields};
use async_graphql::{OutputType, Result};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use super::errors::bad_input;

pub const DEFAULT_PAGE: i32 = 20;
pub const MAX_PAGE: i32 = 100;

/// The page size asked for, checked.
pub fn page_size(first: Option<i32>) -> Result<u64> {
    let first = first.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&first) {
        return Err(bad_input(format!("first must be between 1 and {MAX_PAGE}")));
    }
    Ok(first as u64)
}

pub fn encode_cursor(key: impl Display) -> String {
    URL_SAFE_NO_PAD.encode(key.to_string())
}

/// Decodes an `after` cursor into its sort key.
pub fn decode_cursor<K: FromStr>(after: Option<&str>) -> Result<Option<K>> {
    let Some(after) = after else {
        return Ok(None);
    };
    let invalid = || bad_input("after is not a cursor from this list");
    let bytes = URL_SAFE_NO_PAD.decode(after).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    text.parse().map(Some).map_err(|_| invalid())
}

/// Builds a connection from `limit + 1` fetched rows (the extra row only says whether
/// another page exists).
pub fn build<T, N, K>(
    mut rows: Vec<T>,
    limit: u64,
    has_previous: bool,
    key: impl Fn(&T) -> K,
    node: impl Fn(T) -> N,
) -> Connection<String, N, EmptyFields, EmptyFields>
where
    N: OutputType,
    K: Display,
{
    let has_next = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    let mut connection = Connection::new(has_previous, has_next);
    connection.edges.extend(
        rows.into_iter()
            .map(|row| Edge::new(encode_cursor(key(&row)), node(row))),
    );
    connection
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() -> crate::TestResult {
        let cursor = encode_cursor(42i64);
        assert_eq!(
            decode_cursor::<i64>(Some(&cursor)).map_err(|e| e.message)?,
            Some(42)
        );
        assert!(decode_cursor::<i64>(Some("!!!")).is_err());
        assert!(decode_cursor::<uuid::Uuid>(Some(&encode_cursor("nope"))).is_err());
        assert!(page_size(Some(0)).is_err());
        assert!(page_size(Some(101)).is_err());
        assert_eq!(page_size(None).map_err(|e| e.message)?, 20);
        Ok(())
    }
}
