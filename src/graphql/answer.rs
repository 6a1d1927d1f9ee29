//! The HTTP answer to a GraphQL request: the body written once in the negotiated type,
//! the status GraphQL over HTTP gives it, every error with its `extensions.code`, and
//! `Retry-After` when the database was briefly unavailable.

use async_graphql::BatchResponse;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::negotiate;

/// A request refused before execution, in the negotiated type.
pub(super) fn refuse(
    answer: negotiate::AnswerType,
    status: StatusCode,
    code: &str,
    message: &str,
) -> Response {
    let mut response = error_response(status, code, message);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(answer.content_type()),
    );
    response
}

/// Whether a response failed before execution (a syntax error, a validation error, a
/// variable that does not coerce): no data, and no error that has a path.
fn failed_before_execution(response: &async_graphql::Response) -> bool {
    response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty())
}

/// Writes one result as the GraphQL spec writes it: no `data` entry at all when the
/// request failed before execution began. An executed result is serialized straight
/// into the body, without building a JSON tree of it first.
fn write_result(response: &async_graphql::Response, out: &mut Vec<u8>) {
    let start = out.len();
    let written = if failed_before_execution(response) {
        let mut value = serde_json::to_value(response).unwrap_or_else(|_| json!({}));
        if let Some(object) = value.as_object_mut() {
            object.remove("data");
        }
        serde_json::to_writer(&mut *out, &value)
    } else {
        serde_json::to_writer(&mut *out, response)
    };
    if written.is_err() {
        // invariant: a Response (maps with string keys, no NaN) always serializes; were
        // it ever to fail, no half-written result is left in the body.
        out.truncate(start);
        out.extend_from_slice(b"{}");
    }
}

/// Whether a request was refused for a limit the schema checks while validating (its
/// cost, its depth): a 400 under either media type, as the limits checked before
/// validation (expanded size, depth) answer — one rule for every limit.
fn over_a_limit(response: &async_graphql::Response) -> bool {
    failed_before_execution(response)
        && response.errors.iter().any(|e| {
            matches!(
                e.message.as_str(),
                "Query is too complex." | "Query is nested too deep."
            )
        })
}

/// The HTTP answer to an executed request. A single request over a limit is a 400;
/// otherwise, under `application/graphql-response+json` a single request that failed
/// before execution is a 400 and under `application/json` a well-formed request is 200,
/// as the GraphQL over HTTP spec says.
///
/// An answer longer than `max_bytes` is not sent: the request is told to ask for less
/// (a backstop behind the cost budget, which should refuse such a request before it
/// runs; a mutation in it has taken effect all the same).
pub(super) fn graphql_answer(
    answer: negotiate::AnswerType,
    response: BatchResponse,
    max_bytes: usize,
) -> Response {
    let mut body = Vec::with_capacity(4096);
    let retry_after = match &response {
        BatchResponse::Single(one) => unavailable_for(one),
        BatchResponse::Batch(many) => many.iter().filter_map(unavailable_for).max(),
    };
    let status = match &response {
        BatchResponse::Single(one) => {
            write_result(one, &mut body);
            if over_a_limit(one)
                || answer == negotiate::AnswerType::GraphqlResponse && failed_before_execution(one)
            {
                StatusCode::BAD_REQUEST
            } else if answer == negotiate::AnswerType::GraphqlResponse && retry_after.is_some() {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::OK
            }
        }
        BatchResponse::Batch(many) => {
            body.push(b'[');
            for (i, one) in many.iter().enumerate() {
                if i > 0 {
                    body.push(b',');
                }
                write_result(one, &mut body);
            }
            body.push(b']');
            StatusCode::OK
        }
    };
    if body.len() > max_bytes {
        tracing::warn!(
            bytes = body.len(),
            max_bytes,
            "an answer over the size ceiling was not sent"
        );
        return refuse(
            answer,
            StatusCode::BAD_REQUEST,
            "BAD_USER_INPUT",
            &format!(
                "the answer would be {} bytes, more than the {max_bytes} this server sends; ask for fewer fields, fewer aliases or a shorter range",
                body.len()
            ),
        );
    }
    let mut http = (status, body).into_response();
    let headers = http.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(answer.content_type()),
    );
    if response.is_ok() {
        if let Some(value) = response
            .cache_control()
            .value()
            .and_then(|v| header::HeaderValue::from_str(&v).ok())
        {
            headers.insert(header::CACHE_CONTROL, value);
        }
    }
    headers.extend(response.http_headers());
    if let Some(seconds) = retry_after {
        headers.insert(header::RETRY_AFTER, seconds.into());
    }
    http
}

/// The wait an `UNAVAILABLE` error of this response asks for, if it has one: the
/// database was briefly out of reach, and the client may send the request again.
fn unavailable_for(response: &async_graphql::Response) -> Option<u64> {
    response
        .errors
        .iter()
        .filter_map(|error| error.extensions.as_ref())
        .filter(|ext| {
            matches!(ext.get("code"), Some(async_graphql::Value::String(code)) if code == "UNAVAILABLE")
        })
        .filter_map(|ext| match ext.get("retryAfterSeconds") {
            Some(async_graphql::Value::Number(n)) => n.as_u64(),
            _ => None,
        })
        .max()
}

pub(crate) fn error_response(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!({ "errors": [{ "message": message, "extensions": { "code": code } }] })),
    )
        .into_response()
}

/// The longest line an error message keeps, and the most it keeps in all.
const MESSAGE_LINE_CHARS: usize = 500;
const MESSAGE_CHARS: usize = 2_000;

/// A message cut to size, if it is too long: a syntax error quotes the line it is on (and
/// draws a caret under the column), which for a one-line 120 KB document is 240 KB of
/// answer; its locator and what was expected are short lines and stay whole.
fn shortened(message: &str) -> Option<String> {
    if message.len() <= MESSAGE_CHARS && message.lines().all(|l| l.len() <= MESSAGE_LINE_CHARS) {
        return None;
    }
    let mut short = String::new();
    for line in message.lines() {
        if short.len() >= MESSAGE_CHARS {
            break;
        }
        if !short.is_empty() {
            short.push('\n');
        }
        match line.char_indices().nth(MESSAGE_LINE_CHARS) {
            Some((at, _)) => {
                short.push_str(line[..at].trim_end());
                short.push('…');
            }
            None => short.push_str(line),
        }
    }
    Some(short)
}

/// Every error carries `extensions.code`. Resolver errors set their own; what is left
/// (parse and validation errors, depth and complexity limits, bad argument values) is
/// the request's fault.
/// A response keeps at most `max_errors` errors: the rest are summed up in one more, so
/// ten thousand bad arguments cost a short answer, and no message is longer than
/// `MESSAGE_CHARS`.
pub(super) fn with_error_codes(
    mut response: async_graphql::Response,
    max_errors: usize,
) -> async_graphql::Response {
    let dropped = response.errors.len().saturating_sub(max_errors);
    if dropped > 0 {
        response.errors.truncate(max_errors);
        response.errors.push(async_graphql::ServerError::new(
            format!("{dropped} more errors were left out"),
            None,
        ));
    }
    for error in &mut response.errors {
        if let Some(short) = shortened(&error.message) {
            error.message = short;
        }
        let extensions = error.extensions.get_or_insert_with(Default::default);
        if extensions.get("code").is_none() {
            extensions.set("code", "BAD_USER_INPUT");
        }
    }
    response
}
