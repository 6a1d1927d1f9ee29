//! The API as single-page apps on another origin call it: CORS preflights and
//! credentialed requests from the allowed origins, nothing readable for any other.

use reqwest::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_MAX_AGE, ORIGIN, VARY,
};
use reqwest::{Method, Response};
use serde_json::{json, Value};

use crate::helpers::{Backend, TestApp};

const APP: &str = "http://app.atelier.test:5173";

/// A browser's preflight for a POST with a bearer token and a JSON body.
async fn preflight(app: &TestApp, origin: &str) -> Response {
    app.http
        .request(Method::OPTIONS, format!("{}/graphql", app.address))
        .header(ORIGIN, origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type",
        )
        .send()
        .await
        .unwrap()
}

/// A POST the way a browser sends it from a page on `origin`.
async fn post_from(app: &TestApp, origin: &str, token: Option<&str>, query: &str) -> Response {
    let mut request = app
        .http
        .post(format!("{}/graphql", app.address))
        .header(ORIGIN, origin)
        .json(&json!({ "query": query }));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

fn header<'a>(response: &'a Response, name: &reqwest::header::HeaderName) -> Option<&'a str> {
    response.headers().get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn an_allowed_origin_signs_in_and_reads_and_another_is_kept_out() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.cors.allowed_origins = Some(format!("{APP}, https://admin.atelier.test"));
    })
    .await;

    // The preflight names the origin (never *), credentials, the methods and headers the
    // API takes, and how long the browser may keep the answer.
    let answer = preflight(&app, APP).await;
    assert!(answer.status().is_success(), "{}", answer.status());
    assert_eq!(header(&answer, &ACCESS_CONTROL_ALLOW_ORIGIN), Some(APP));
    assert_eq!(
        header(&answer, &ACCESS_CONTROL_ALLOW_CREDENTIALS),
        Some("true")
    );
    let methods = header(&answer, &ACCESS_CONTROL_ALLOW_METHODS).unwrap_or_default();
    assert!(
        methods.contains("POST") && methods.contains("GET"),
        "{methods}"
    );
    let headers = header(&answer, &ACCESS_CONTROL_ALLOW_HEADERS)
        .unwrap_or_default()
        .to_ascii_lowercase();
    for needed in ["authorization", "content-type", "apollo-require-preflight"] {
        assert!(headers.contains(needed), "{needed} in {headers}");
    }
    assert_eq!(header(&answer, &ACCESS_CONTROL_MAX_AGE), Some("7200"));
    let vary = answer
        .headers()
        .get_all(VARY)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",")
        .to_ascii_lowercase();
    assert!(vary.contains("origin"), "{vary}");

    // The page signs in and reads with its token; each answer is readable by it.
    let user = app.signed_in_user("spa@example.com", "Spa").await;
    let answer = post_from(&app, APP, Some(&user.access), "{ me { email } }").await;
    assert_eq!(header(&answer, &ACCESS_CONTROL_ALLOW_ORIGIN), Some(APP));
    assert_eq!(
        header(&answer, &ACCESS_CONTROL_ALLOW_CREDENTIALS),
        Some("true")
    );
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["data"]["me"]["email"], "spa@example.com", "{body}");
    // A refusal is readable too, so the app can refresh its session.
    let answer = post_from(&app, APP, Some("not-a-token"), "{ me { email } }").await;
    assert_eq!(answer.status(), 401);
    assert_eq!(header(&answer, &ACCESS_CONTROL_ALLOW_ORIGIN), Some(APP));
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");

    // Another origin, a look-alike and the opaque `null` origin get nothing to read: the
    // browser keeps the answer from the page.
    for stranger in [
        "https://evil.example.com",
        "http://app.atelier.test:5174",
        "http://app.atelier.test:5173.evil.example.com",
        "null",
    ] {
        let answer = preflight(&app, stranger).await;
        assert_eq!(
            header(&answer, &ACCESS_CONTROL_ALLOW_ORIGIN),
            None,
            "{stranger}"
        );
        let answer = post_from(&app, stranger, None, "{ privacyPolicy { version } }").await;
        assert_eq!(
            header(&answer, &ACCESS_CONTROL_ALLOW_ORIGIN),
            None,
            "{stranger}"
        );
    }
    // The second origin of the list is allowed as well.
    let answer = preflight(&app, "https://admin.atelier.test").await;
    assert_eq!(
        header(&answer, &ACCESS_CONTROL_ALLOW_ORIGIN),
        Some("https://admin.atelier.test")
    );
    app.stop().await;
}

/// Without the setting, an app served from another origin than the portal
/// (`ATELIER_APP_URL`) is allowed; one served from the portal's own origin needs nothing.
#[tokio::test]
async fn the_app_url_is_allowed_when_it_is_another_origin() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.app_url = Some(format!("{APP}/workspace"));
    })
    .await;
    let answer = preflight(&app, APP).await;
    assert_eq!(header(&answer, &ACCESS_CONTROL_ALLOW_ORIGIN), Some(APP));
    app.stop().await;

    let app = TestApp::spawn_with(Backend::Sqlite, |_| {}).await;
    let answer = preflight(&app, APP).await;
    assert_eq!(header(&answer, &ACCESS_CONTROL_ALLOW_ORIGIN), None);
    // Same-origin calls carry no Origin a browser would check; they work as before.
    let answer = app
        .gql_ok(None, "{ privacyPolicy { version } }", json!({}))
        .await;
    assert!(answer["privacyPolicy"]["version"].is_number());
    app.stop().await;
}

/// A list that names something other than origins stops the server at start-up with the
/// setting's name, rather than serving an API no app can reach (or every site can).
#[tokio::test]
async fn a_wildcard_or_a_path_is_refused_at_start_up() {
    for bad in ["*", "https://app.example.com/path"] {
        let data = tempfile::tempdir().unwrap();
        let mut config = crate::helpers::test_config(data.path(), "smtp://127.0.0.1:9");
        config.cors.allowed_origins = Some(bad.into());
        let err = atelier::startup::Application::build(config)
            .await
            .err()
            .expect("refused")
            .to_string();
        assert!(
            err.contains("ATELIER_CORS__ALLOWED_ORIGINS"),
            "{bad}: {err}"
        );
    }
}

fn sha256(text: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}

/// An APQ request as Apollo's link sends it: the hash, and the text only when asked.
async fn apq(app: &TestApp, token: Option<&str>, text: Option<&str>, hash: &str) -> (u16, Value) {
    let mut body = json!({
        "extensions": { "persistedQuery": { "version": 1, "sha256Hash": hash } },
        "variables": {},
    });
    if let Some(text) = text {
        body["query"] = json!(text);
    }
    let mut request = app
        .http
        .post(format!("{}/graphql", app.address))
        .header(
            "accept",
            "application/graphql-response+json, application/json;q=0.9",
        )
        .json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let answer = request.send().await.unwrap();
    let status = answer.status().as_u16();
    (status, answer.json().await.unwrap())
}

/// The hashed GET of APQ: `extensions` (and `variables`) as JSON in the query string.
async fn apq_get(app: &TestApp, token: Option<&str>, hash: &str, variables: Value) -> (u16, Value) {
    let extensions = json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } });
    let mut request = app.http.get(format!("{}/graphql", app.address)).query(&[
        ("extensions", extensions.to_string()),
        ("variables", variables.to_string()),
    ]);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let answer = request.send().await.unwrap();
    let status = answer.status().as_u16();
    (status, answer.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn automatic_persisted_queries_round_trip_over_post_and_get() {
    let app = TestApp::spawn_with(Backend::Sqlite, |_| {}).await;
    let user = app.signed_in_user("apq@example.com", "Apq").await;
    let me = "query Me { me { email } }";
    let hash = sha256(me);

    // Not known yet: the error the link waits for, and nothing ran.
    let (status, body) = apq(&app, Some(&user.access), None, &hash).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["errors"][0]["message"], "PersistedQueryNotFound");
    assert_eq!(
        body["errors"][0]["extensions"]["code"],
        "PERSISTED_QUERY_NOT_FOUND"
    );
    assert!(body.get("data").is_none(), "{body}");
    // The text with its hash runs and is registered; then the hash alone runs it, over
    // POST and over GET.
    let (status, body) = apq(&app, Some(&user.access), Some(me), &hash).await;
    assert_eq!(
        (status, &body["data"]["me"]["email"]),
        (200, &json!("apq@example.com"))
    );
    let (status, body) = apq(&app, Some(&user.access), None, &hash).await;
    assert_eq!(
        (status, &body["data"]["me"]["email"]),
        (200, &json!("apq@example.com"))
    );
    let (status, body) = apq_get(&app, Some(&user.access), &hash, json!({})).await;
    assert_eq!(
        (status, &body["data"]["me"]["email"]),
        (200, &json!("apq@example.com")),
        "{body}"
    );

    // A text whose hash is another is refused and not registered under it.
    let other = "{ privacyPolicy { version } }";
    let (status, body) = apq(&app, None, Some(other), &sha256("{ me { id } }")).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["errors"][0]["message"],
        "provided sha does not match query"
    );
    let (_, body) = apq(&app, None, None, &sha256("{ me { id } }")).await;
    assert_eq!(body["errors"][0]["message"], "PersistedQueryNotFound");
    // A malformed hash or another version is a clear refusal.
    let (status, _) = apq(&app, None, None, "1234").await;
    assert_eq!(status, 400);

    // A mutation persisted over POST never runs over GET, and neither does any text.
    let log_out = format!("mutation {{ logOut(refreshToken: {:?}) }}", user.refresh);
    let log_out = log_out.as_str();
    let (status, body) = apq(&app, None, Some(log_out), &sha256(log_out)).await;
    assert_eq!(
        (status, &body["data"]["logOut"]),
        (200, &json!(true)),
        "{body}"
    );
    let fresh = app.log_in("apq@example.com").await;
    let (status, _) = apq_get(&app, Some(&fresh.access), &sha256(log_out), json!({})).await;
    assert_eq!(status, 405);
    let answer = app
        .gql_ok(Some(&fresh.access), "{ me { email } }", json!({}))
        .await;
    assert_eq!(answer["me"]["email"], "apq@example.com", "still signed in");
    let answer = app
        .http
        .get(format!("{}/graphql", app.address))
        .query(&[("query", "{ me { email } }")])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 405);
    app.stop().await;
}

#[tokio::test]
async fn the_allow_list_runs_only_its_documents() {
    let data = tempfile::tempdir().unwrap();
    let listed = "query Policy { privacyPolicy { version } }";
    let manifest = data.path().join("persisted-documents.json");
    std::fs::write(
        &manifest,
        json!({
            "format": "apollo-persisted-query-manifest",
            "version": 1,
            "operations": [{ "id": sha256(listed), "name": "Policy", "type": "query", "body": listed }],
        })
        .to_string(),
    )
    .unwrap();
    let path = manifest.clone();
    let app = TestApp::spawn_with(Backend::Sqlite, move |c| {
        c.graphql.persisted_only = true;
        c.graphql.persisted_documents = Some(path);
    })
    .await;
    // Listed: by hash, over POST and GET, or in full with its hash.
    let (status, body) = apq(&app, None, None, &sha256(listed)).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["data"]["privacyPolicy"]["version"].is_number(),
        "{body}"
    );
    let (status, _) = apq_get(&app, None, &sha256(listed), json!({})).await;
    assert_eq!(status, 200);
    let (status, _) = apq(&app, None, Some(listed), &sha256(listed)).await;
    assert_eq!(status, 200);
    // Anything else: free text, an unlisted text with its hash, an unknown hash.
    let free = app
        .gql(None, "{ privacyPolicy { version } }", json!({}))
        .await;
    assert_eq!(
        free["errors"][0]["extensions"]["code"], "PERSISTED_QUERY_REQUIRED",
        "{free}"
    );
    let unlisted = "{ privacyPolicy { version body } }";
    let (status, body) = apq(&app, None, Some(unlisted), &sha256(unlisted)).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["code"],
        "PERSISTED_QUERY_NOT_ALLOWED"
    );
    let (_, body) = apq(&app, None, None, &sha256(unlisted)).await;
    assert_eq!(body["errors"][0]["message"], "PersistedQueryNotFound");
    app.stop().await;

    // The mode without a list, or a list whose hashes are not its texts', stops the start.
    let mut config = crate::helpers::test_config(data.path(), "smtp://127.0.0.1:9");
    config.graphql.persisted_only = true;
    let err = atelier::startup::Application::build(config.clone())
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(
        err.contains("ATELIER_GRAPHQL__PERSISTED_DOCUMENTS"),
        "{err}"
    );
    std::fs::write(&manifest, json!({ sha256("{ a }"): "{ b }" }).to_string()).unwrap();
    config.graphql.persisted_documents = Some(manifest);
    let err = atelier::startup::Application::build(config)
        .await
        .err()
        .expect("refused");
    assert!(format!("{err:#}").contains("SHA-256"), "{err:#}");
}

/// A multipart body of `size` bytes for `uploadMedia`, as an upload client sends it.
fn upload_body(size: usize) -> Vec<u8> {
    let operations = json!({
        "query": "mutation($f: Upload!) { uploadMedia(workspaceId: \"x\", file: $f) { id } }",
        "variables": { "f": null },
    });
    let mut body = format!(
        "--XYZ\r\nContent-Disposition: form-data; name=\"operations\"\r\n\r\n{operations}\r\n--XYZ\r\nContent-Disposition: form-data; name=\"map\"\r\n\r\n{{\"0\": [\"variables.f\"]}}\r\n--XYZ\r\nContent-Disposition: form-data; name=\"0\"; filename=\"clip.mp4\"\r\nContent-Type: video/mp4\r\n\r\n"
    )
    .into_bytes();
    body.resize(body.len() + size, b'v');
    body.extend_from_slice(b"\r\n--XYZ--\r\n");
    body
}

/// An upload with an expired (or made-up) token, sent whole by a client that reads no
/// answer until it has sent everything (reqwest, Node's fetch, browsers): the refusal is
/// still read — UNAUTHENTICATED, so the app refreshes and retries — rather than a reset
/// connection that looks like a network failure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_upload_is_read_by_a_client_that_sends_it_all() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    for token in [Some("expired.or.made.up"), None] {
        let mut request = app
            .http
            .post(format!("{}/graphql", app.address))
            .header("content-type", "multipart/form-data; boundary=XYZ")
            .body(upload_body(24 * 1024 * 1024));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let answer = request.send().await.expect("the refusal, not a reset");
        assert_eq!(answer.status(), 401);
        let body: Value = answer.json().await.unwrap();
        assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
    }
    app.stop().await;
}

/// A client that asks `Expect: 100-continue` is refused at once, without being told to
/// go on: it never sends the body.
#[tokio::test]
async fn an_upload_that_expects_continue_is_refused_before_it_sends() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::spawn(Backend::Sqlite).await;
    let address = app.address.trim_start_matches("http://").to_string();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "POST /graphql HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer made.up\r\nContent-Type: multipart/form-data; boundary=XYZ\r\nContent-Length: 52428800\r\nExpect: 100-continue\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut seen = Vec::new();
    let mut buffer = [0u8; 4096];
    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(crate::helpers::PATIENCE, stream.read(&mut buffer))
            .await
            .expect("an answer without the body")
            .unwrap();
        if n == 0 {
            break;
        }
        seen.extend_from_slice(&buffer[..n]);
    }
    let answer = String::from_utf8_lossy(&seen);
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    app.stop().await;
}
