//! The media type of a GraphQL answer, as the GraphQL over HTTP spec has a server choose
//! it from the request's `Accept`: `application/graphql-response+json` when the client
//! prefers it (and on a tie), `application/json` when the client asks for it, sends no
//! `Accept`, or accepts anything (`*/*`); none of the two acceptable → 406.

use axum::http::{header, HeaderMap};

/// A media type a GraphQL answer can be sent as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnswerType {
    /// `application/graphql-response+json`: status codes say what went wrong.
    GraphqlResponse,
    /// `application/json`: a well-formed request is answered 200 whatever happened.
    Json,
}

impl AnswerType {
    pub fn content_type(self) -> &'static str {
        match self {
            Self::GraphqlResponse => "application/graphql-response+json; charset=utf-8",
            Self::Json => "application/json; charset=utf-8",
        }
    }
}

/// How well one `Accept` entry matches a type: its quality, and how specific the match
/// was (an exact type beats `application/*`, which beats `*/*`).
fn quality(range: &str, params: &[(&str, &str)], wanted: &str) -> Option<(u16, u8)> {
    let (kind, sub) = range.split_once('/')?;
    let (wanted_kind, wanted_sub) = wanted.split_once('/')?;
    let specificity = match (kind, sub) {
        ("*", "*") => 0,
        (k, "*") if k.eq_ignore_ascii_case(wanted_kind) => 1,
        (k, s) if k.eq_ignore_ascii_case(wanted_kind) && s.eq_ignore_ascii_case(wanted_sub) => 2,
        _ => return None,
    };
    // A charset other than UTF-8 is one we cannot give.
    let charset_ok = params
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("charset"))
        .all(|(_, value)| value.trim_matches('"').eq_ignore_ascii_case("utf-8"));
    if !charset_ok {
        return None;
    }
    let q = params
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("q"))
        .map(|(_, value)| parse_q(value))
        .unwrap_or(1000);
    Some((q, specificity))
}

/// A quality value (`0` to `1`, three decimals) in thousandths; nonsense counts as 0.
fn parse_q(text: &str) -> u16 {
    let text = text.trim();
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits: String = fraction.chars().take(3).collect();
    match (whole, digits.chars().all(|c| c.is_ascii_digit())) {
        ("1", _) => 1000,
        ("0", true) => format!("{digits:0<3}").parse().unwrap_or(0),
        _ => 0,
    }
}

/// The quality the `Accept` list gives `wanted` (that of its most specific match) and
/// whether it names `wanted` itself rather than through a wildcard.
fn accepted(entries: &[(&str, Vec<(&str, &str)>)], wanted: &str) -> (u16, bool) {
    entries
        .iter()
        .filter_map(|(range, params)| quality(range, params, wanted))
        .max_by_key(|(_, specificity)| *specificity)
        .map(|(q, specificity)| (q, specificity == 2))
        .unwrap_or((0, false))
}

/// The type to answer in, or `None` when the client accepts neither.
pub fn negotiate(headers: &HeaderMap) -> Option<AnswerType> {
    let values: Vec<&str> = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let entries: Vec<(&str, Vec<(&str, &str)>)> = values
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            let mut parts = entry.split(';').map(str::trim);
            let range = parts.next().unwrap_or_default();
            let params = parts
                .filter_map(|p| p.split_once('='))
                .map(|(k, v)| (k.trim(), v.trim()))
                .collect();
            (range, params)
        })
        .collect();
    if entries.is_empty() {
        // No Accept: as if it said application/json (what clients written before
        // application/graphql-response+json expect).
        return Some(AnswerType::Json);
    }
    let (response, response_named) = accepted(&entries, "application/graphql-response+json");
    let (json, json_named) = accepted(&entries, "application/json");
    if response == 0 && json == 0 {
        return None;
    }
    // Wildcards alone (`*/*`, `application/*`) say nothing about GraphQL: plain JSON,
    // which every client understands.
    if !response_named && !json_named {
        return Some(if json > 0 {
            AnswerType::Json
        } else {
            AnswerType::GraphqlResponse
        });
    }
    // Otherwise the higher quality; a tie goes to the type the spec prefers.
    Some(if response >= json {
        AnswerType::GraphqlResponse
    } else {
        AnswerType::Json
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with(accept: &[&str]) -> Option<AnswerType> {
        let mut headers = HeaderMap::new();
        for value in accept {
            headers.append(
                header::ACCEPT,
                HeaderValue::from_str(value).unwrap_or(HeaderValue::from_static("")),
            );
        }
        negotiate(&headers)
    }

    #[test]
    fn each_accept_gets_its_type() {
        use AnswerType::*;
        assert_eq!(with(&[]), Some(Json));
        assert_eq!(with(&["*/*"]), Some(Json));
        assert_eq!(with(&["application/json"]), Some(Json));
        assert_eq!(with(&["application/json; charset=utf-8"]), Some(Json));
        assert_eq!(
            with(&["application/graphql-response+json"]),
            Some(GraphqlResponse)
        );
        assert_eq!(
            with(&["application/graphql-response+json, application/json;q=0.9"]),
            Some(GraphqlResponse)
        );
        assert_eq!(
            with(&["application/json, application/graphql-response+json;q=0.5"]),
            Some(Json)
        );
        assert_eq!(
            with(&["application/json", "application/graphql-response+json"]),
            Some(GraphqlResponse)
        );
        assert_eq!(with(&["application/*"]), Some(Json));
        assert_eq!(with(&["text/html, */*;q=0.1"]), Some(Json));
        assert_eq!(with(&["text/html"]), None);
        assert_eq!(with(&["application/xml"]), None);
        assert_eq!(with(&["application/json;q=0"]), None);
        assert_eq!(with(&["application/json; charset=latin-1"]), None);
        assert_eq!(with(&["application/json;q=0, */*"]), Some(GraphqlResponse));
    }
}
