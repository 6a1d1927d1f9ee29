//! GraphQL over HTTP as the spec has it: the answer's type negotiated from `Accept`,
//! and under `application/graphql-response+json` a request that fails before execution
//! is a 400 without `data`.

use serde_json::{json, Value};

use crate::helpers::*;
use crate::on_both_databases;

const RESPONSE_TYPE: &str = "application/graphql-response+json";

/// Posts `body` with `accept` (None: no Accept header at all, which reqwest cannot
/// leave out, so the request is written by hand); returns status, type and body.
async fn post(app: &TestApp, accept: Option<&str>, body: &Value) -> (u16, String, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = app.address.trim_start_matches("http://").to_string();
    let body = body.to_string();
    let accept = accept
        .map(|a| format!("Accept: {a}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "POST /graphql HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n{accept}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let raw = String::from_utf8(raw).unwrap();
    let (head, rest) = raw.split_once("\r\n\r\n").expect("a head and a body");
    let status: u16 = head[9..12].parse().unwrap();
    let content_type = head
        .lines()
        .find_map(|l| {
            l.split_once(':')
                .filter(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        })
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_default();
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let text = if chunked {
        unchunk(rest)
    } else {
        rest.to_string()
    };
    (
        status,
        content_type,
        serde_json::from_str(&text).unwrap_or(Value::Null),
    )
}

fn unchunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.push_str(&after[..size]);
        rest = &after[size + 2..];
    }
    out
}

async fn answers_are_negotiated_from_accept(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let query = json!({ "query": "{ privacyPolicy { version } }" });
    for (accept, expected) in [
        (None, "application/json"),
        (Some("*/*"), "application/json"),
        (Some("application/json"), "application/json"),
        (Some("application/json; charset=utf-8"), "application/json"),
        (Some(RESPONSE_TYPE), RESPONSE_TYPE),
        (
            Some("application/graphql-response+json, application/json;q=0.9"),
            RESPONSE_TYPE,
        ),
        (
            Some("application/json, application/graphql-response+json;q=0.5"),
            "application/json",
        ),
        (Some("text/html, */*;q=0.1"), "application/json"),
    ] {
        let (status, content_type, body) = post(&app, accept, &query).await;
        assert_eq!(status, 200, "{accept:?}: {body}");
        assert!(
            content_type.starts_with(expected),
            "{accept:?} → {content_type}"
        );
        assert!(
            body["data"]["privacyPolicy"]["version"].is_number(),
            "{body}"
        );
    }
    // Types it cannot give.
    for accept in ["text/html", "application/xml", "application/json;q=0"] {
        let (status, _, body) = post(&app, Some(accept), &query).await;
        assert_eq!(status, 406, "{accept}: {body}");
        assert!(body["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("application/graphql-response+json"));
    }
    app.stop().await;
}
on_both_databases!(answers_are_negotiated_from_accept);

async fn failures_before_execution_are_400_without_data(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let failures = [
        (
            "a syntax error",
            json!({ "query": "{ privacyPolicy { version " }),
        ),
        ("an unknown field", json!({ "query": "{ nothingHere }" })),
        (
            "a variable that does not coerce",
            json!({ "query": "query($id: ID!) { draft(id: $id) { id } }", "variables": { "id": { "not": "an id" } } }),
        ),
    ];
    for (what, body) in &failures {
        let (status, content_type, answer) = post(&app, Some(RESPONSE_TYPE), body).await;
        assert_eq!(status, 400, "{what}: {answer}");
        assert!(content_type.starts_with(RESPONSE_TYPE), "{what}");
        assert!(answer.get("data").is_none(), "{what}: {answer}");
        assert!(
            answer["errors"][0]["message"].is_string(),
            "{what}: {answer}"
        );
        // Under application/json a well-formed request is 200, still without data.
        let (status, content_type, answer) = post(&app, Some("application/json"), body).await;
        assert_eq!(status, 200, "{what}: {answer}");
        assert!(content_type.starts_with("application/json"), "{what}");
        assert!(answer.get("data").is_none(), "{what}: {answer}");
    }
    // An error while executing keeps its data and its 200 under either type.
    let field_error = json!({ "query": "{ privacyPolicy { version } draft(id: \"x\") { id } }" });
    let (status, _, answer) = post(&app, Some(RESPONSE_TYPE), &field_error).await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer.get("data").is_some(), "{answer}");
    assert!(answer["errors"][0]["path"].is_array(), "{answer}");
    app.stop().await;
}
on_both_databases!(failures_before_execution_are_400_without_data);
