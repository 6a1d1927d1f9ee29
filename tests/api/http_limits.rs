//! The API's outer defences: JSON only, body size, depth, complexity and batch limits.

use std::time::Duration;

use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::json;

use crate::helpers::*;
use crate::on_both_databases;

async fn the_api_refuses_what_it_should(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.graphql.max_body_bytes = 4 * 1024).await;
    let url = format!("{}/graphql", app.address);

    // Wrong content type (what an HTML form would send): refused, nothing executed.
    let form = app
        .http
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("query=mutation{logOut(refreshToken:\"x\")}")
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 415);
    let text_plain = app
        .http
        .post(&url)
        .header("content-type", "text/plain")
        .body(r#"{"query":"{ me { id } }"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(text_plain.status(), 415);

    // Oversized body.
    let big = json!({ "query": format!("{{ me {{ id }} }} # {}", "x".repeat(8 * 1024)) });
    let response = app.http.post(&url).json(&big).send().await.unwrap();
    assert_eq!(response.status(), 413);

    // Not JSON at all.
    let response = app
        .http
        .post(&url)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);

    // Deeper than the limit.
    let mut deep = String::from("id");
    for _ in 0..3 {
        deep = format!(
            "workspaces(first: 1) {{ edges {{ node {{ members(first: 1) {{ edges {{ node {{ user {{ {deep} }} }} }} }} }} }} }}"
        );
    }
    let response = app
        .gql(None, &format!("{{ me {{ {deep} }} }}"), json!({}))
        .await;
    let message = response["errors"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(message.contains("nested too deep"), "{response}");
    assert_eq!(error_code(&response).as_deref(), Some("BAD_USER_INPUT"));
    assert!(response["data"].is_null(), "{response}");

    // Too complex (a wide page of pages).
    let response = app
        .gql(
            None,
            "{ me { workspaces(first: 100) { edges { node { members(first: 100) { edges { node { user { id email displayName } } } } } } } } }",
            json!({}),
        )
        .await;
    let message = response["errors"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_lowercase();
    assert!(message.contains("complex"), "{response}");
    assert_eq!(error_code(&response).as_deref(), Some("BAD_USER_INPUT"));
    // Every limit answers 400, under either media type (the depth and size limits
    // always did; the cost limit too).
    let too_complex = json!({ "query": "{ me { workspaces(first: 100) { edges { node { members(first: 100) { edges { node { user { id email displayName } } } } } } } } }" });
    for accept in ["application/json", "application/graphql-response+json"] {
        let response = app
            .http
            .post(&url)
            .header("accept", accept)
            .json(&too_complex)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{accept}");
    }

    // `__typename` is held to the directives the schema knows, like any other field.
    let response = app.gql(None, "{ __typename @foo }", json!({})).await;
    assert!(
        response["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("@foo"),
        "{response}"
    );
    assert!(response.get("data").is_none(), "{response}");

    // Batches: allowed up to the cap, refused above it.
    let one = json!({ "query": "{ me { id } }" });
    let response = app
        .http
        .post(&url)
        .json(&json!([one, one]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body.as_array().unwrap().len(), 2);
    let eleven: Vec<_> = (0..11).map(|_| one.clone()).collect();
    let response = app.http.post(&url).json(&eleven).send().await.unwrap();
    assert_eq!(response.status(), 400);

    // Page sizes and cursors are checked.
    let session = app.signed_in_user("limits@example.com", "Lim Its").await;
    let response = app
        .gql(
            Some(&session.access),
            "{ me { workspaces(first: 101) { edges { cursor } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        error_code(&response).as_deref(),
        Some("BAD_USER_INPUT"),
        "{response}"
    );
    let response = app
        .gql(
            Some(&session.access),
            "{ me { workspaces(after: \"%%%\") { edges { cursor } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        error_code(&response).as_deref(),
        Some("BAD_USER_INPUT"),
        "{response}"
    );

    // Nothing is executed over GET: a document there is told to use POST; a bare GET
    // serves GraphiQL in development.
    let refused = app
        .http
        .get(format!(
            "{url}?query=mutation%7BlogOut(refreshToken:%22x%22)%7D"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 405);
    assert_eq!(refused.headers()["allow"], "POST");
    let page = app.http.get(&url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page
        .text()
        .await
        .unwrap()
        .to_lowercase()
        .contains("graphiql"));
    app.stop().await;
}
on_both_databases!(the_api_refuses_what_it_should);

#[tokio::test]
async fn production_hides_introspection_and_suggestions() {
    let config = atelier::Config {
        env: atelier::config::Environment::Production,
        ..atelier::Config::default()
    };
    let schema = atelier::graphql::build_schema(None, &config);
    let response = schema.execute("{ __schema { types { name } } }").await;
    let shown = serde_json::to_value(&response).unwrap();
    assert!(
        shown["data"]["__schema"].is_null() && !shown.to_string().contains("Workspace"),
        "introspection must be off in production: {shown}"
    );
    let response = schema.execute("{ mee { id } }").await;
    let message = &response.errors[0].message;
    assert!(!message.contains("Did you mean"), "{message}");

    let development = atelier::graphql::build_schema(None, &atelier::Config::default());
    let response = development
        .execute("{ __schema { queryType { name } } }")
        .await;
    assert!(response.errors.is_empty());
}

/// Posts a GraphQL request body and returns the status, the `x-sql-statements` count
/// (absent when the request was refused before it ran) and the answer's bytes.
async fn post_raw(app: &TestApp, body: &serde_json::Value) -> (u16, Option<u64>, String) {
    let response = app
        .http
        .post(format!("{}/graphql", app.address))
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let statements = response
        .headers()
        .get("x-sql-statements")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    (status, statements, response.text().await.unwrap())
}

/// Fragments F0..F{levels-1} on `on` where each spreads the next twice, the last
/// spreading `...Missing`, which the document does not define.
pub(crate) fn unknown_fragment_fan_out(on: &str, levels: usize) -> String {
    let keyword = if on == "Subscription" {
        "subscription "
    } else {
        ""
    };
    let mut query = format!("{keyword}{{ ...F0 }}\n");
    for i in 0..levels {
        query.push_str(&format!(
            "fragment F{i} on {on} {{ ...F{} ...F{} }}\n",
            i + 1,
            i + 1
        ));
    }
    query.push_str(&format!("fragment F{levels} on {on} {{ ...Missing }}\n"));
    query
}

async fn expensive_documents_are_refused_before_any_work(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    // Fragments that each spread the next twice: 1.5 KB that would expand to four
    // million fields. Refused before validation, without touching the database.
    let mut fan_out = String::from("{ ...F0 }\n");
    for i in 0..22 {
        fan_out.push_str(&format!(
            "fragment F{i} on Query {{ ...F{} ...F{} }}\n",
            i + 1,
            i + 1
        ));
    }
    fan_out.push_str("fragment F22 on Query { privacyPolicy { bodyHtml } }\n");
    assert!(fan_out.len() < 1_600);
    let (status, statements, body) = post_raw(&app, &json!({ "query": fan_out })).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(statements, None, "nothing ran");
    assert!(body.contains("fragments are expanded"), "{body}");
    // Two at once do not hold up anyone else.
    let hostile = json!({ "query": fan_out });
    let honest = json!({ "query": "{ privacyPolicy { version } }" });
    let (a, b, c) = tokio::join!(
        post_raw(&app, &hostile),
        post_raw(&app, &hostile),
        post_raw(&app, &honest),
    );
    assert_eq!((a.0, b.0, c.0), (400, 400, 200));

    // The same fan-out ending in a fragment nobody defined: 2^30 paths for any walk that
    // follows spreads without a memo. Refused by the first pass, alone and in a batch,
    // with or without a token, and nothing else ran.
    let unknown = unknown_fragment_fan_out("Query", 30);
    assert!(unknown.len() < 1_300, "{}", unknown.len());
    for body in [
        json!({ "query": unknown }),
        json!([{ "query": "{ privacyPolicy { version } }" }, { "query": unknown }]),
    ] {
        let (status, statements, answer) = post_raw(&app, &body).await;
        assert_eq!(status, 400, "{answer}");
        assert_eq!(statements, None, "nothing ran");
        assert!(
            answer.contains("unknown fragment \\\"Missing\\\""),
            "{answer}"
        );
    }

    // Ten operations of 850 aliases each share one budget per HTTP request.
    let aliases: String = (0..850)
        .map(|i| format!("p{i}:privacyPolicy{{bodyHtml}} "))
        .collect();
    let batch: Vec<_> = (0..10)
        .map(|_| json!({ "query": format!("{{ {aliases} }}") }))
        .collect();
    let batch = json!(batch);
    assert!(
        batch.to_string().len() < 256 * 1024,
        "within the body limit"
    );
    let (status, statements, body) = post_raw(&app, &batch).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(statements, None);
    assert!(
        body.len() < 1_000,
        "a short refusal, not 55 MB: {}",
        body.len()
    );
    // A single operation with a handful of aliases is fine, and costs what it reads.
    let few: String = (0..3)
        .map(|i| format!("p{i}: privacyPolicy {{ version }} "))
        .collect();
    let (status, statements, body) =
        post_raw(&app, &json!({ "query": format!("{{ {few} }}") })).await;
    assert_eq!(status, 200, "{body}");
    assert!(statements.is_some_and(|n| n <= 3), "{statements:?}");

    // Under the field budget but over the cost budget: a field that reads the database
    // costs what it reads, and the batch's operations draw on one budget, so the fifth
    // operation of forty reads each is refused and never reaches the database.
    let forty: String = (0..40)
        .map(|i| format!("p{i}: privacyPolicy {{ version }} "))
        .collect();
    let batch: Vec<_> = (0..10)
        .map(|_| json!({ "query": format!("{{ {forty} }}") }))
        .collect();
    let (status, statements, body) = post_raw(&app, &json!(batch)).await;
    assert_eq!(status, 200, "{body}");
    let answers: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
    assert_eq!(answers.len(), 10);
    for (i, answer) in answers.iter().enumerate() {
        if i < 4 {
            assert!(answer.get("errors").is_none(), "{i}: {answer}");
        } else {
            let message = answer["errors"][0]["message"].as_str().unwrap_or_default();
            assert!(message.contains("budget"), "{i}: {answer}");
        }
    }
    assert!(
        statements.is_some_and(|n| n <= 4 * 40),
        "only the operations within the budget read: {statements:?}"
    );

    // Ten thousand unknown arguments: the error list is capped.
    let arguments: String = (0..10_000).map(|i| format!("a{i}: 1 ")).collect();
    let (status, _, body) = post_raw(
        &app,
        &json!({ "query": format!("{{ privacyPolicy({arguments}) {{ version }} }}") }),
    )
    .await;
    assert_eq!(status, 200);
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    let errors = answer["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 21, "20 errors and the count of the rest");
    assert!(errors[20]["message"]
        .as_str()
        .unwrap()
        .contains("more errors were left out"));
    assert!(body.len() < 20_000, "{}", body.len());
    app.stop().await;
}
on_both_databases!(expensive_documents_are_refused_before_any_work);

/// The introspection query GraphiQL and graphql-js tools send (`getIntrospectionQuery()`).
const STANDARD_INTROSPECTION: &str = r#"
query IntrospectionQuery {
  __schema {
    queryType { name }
    mutationType { name }
    subscriptionType { name }
    types { ...FullType }
    directives { name description locations args { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description
  fields(includeDeprecated: true) {
    name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason
  }
  inputFields { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name
    ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } }
}
"#;

async fn standard_tools_can_introspect_in_development(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (status, statements, body) = post_raw(
        &app,
        &json!({ "query": STANDARD_INTROSPECTION, "operationName": "IntrospectionQuery" }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(answer.get("errors").is_none(), "{body}");
    assert_eq!(answer["data"]["__schema"]["queryType"]["name"], "Query");
    assert_eq!(statements, Some(0), "introspection reads no table");
    // The depth limit still holds for everything else.
    let nested = "{ me { workspaces(first: 1) { edges { node { members(first: 1) { edges { node { user { workspaces(first: 1) { edges { node { members(first: 1) { edges { node { user { id } } } } } } } } } } } } } } } }";
    let (status, statements, body) = post_raw(&app, &json!({ "query": nested })).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(statements, None);
    assert!(body.contains("nested too deep"), "{body}");
    app.stop().await;
}
on_both_databases!(standard_tools_can_introspect_in_development);

/// Sends `head`, then `opening`, then filler up to `announced` bytes of body, until the
/// server answers; returns the answer's head and how many body bytes had been sent.
async fn answer_while_sending(
    app: &TestApp,
    head: &str,
    opening: &[u8],
    announced: usize,
) -> (String, usize) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = app.address.trim_start_matches("http://").to_string();
    let stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let head = format!("{head}Host: {address}\r\nContent-Length: {announced}\r\n\r\n");
    writer.write_all(head.as_bytes()).await.unwrap();
    let answer = tokio::spawn(async move {
        let mut seen = Vec::new();
        let mut buffer = [0u8; 4096];
        loop {
            match reader.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    seen.extend_from_slice(&buffer[..n]);
                    if seen.windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
            }
        }
        String::from_utf8_lossy(&seen).to_string()
    });
    let mut sent = 0;
    if writer.write_all(opening).await.is_ok() {
        sent += opening.len();
    }
    let chunk = vec![b'a'; 64 * 1024];
    while sent < announced && !answer.is_finished() {
        if writer.write_all(&chunk).await.is_err() {
            break;
        }
        sent += chunk.len();
    }
    (answer.await.unwrap(), sent)
}

/// An upload with a made-up token is refused from its headers: the server answers 401
/// while the client is still sending, long before the 50 MB it announced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_with_a_bad_token_is_refused_before_its_body_is_read() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let announced: usize = 50 * 1024 * 1024;
    let (answer, sent) = answer_while_sending(
        &app,
        "POST /graphql HTTP/1.1\r\nAuthorization: Bearer garbage\r\nContent-Type: multipart/form-data; boundary=XYZ\r\n",
        b"",
        announced,
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(
        sent < announced / 4,
        "the answer came after {sent} of {announced} bytes"
    );
    app.stop().await;
}

/// With a valid token every part still has its limit: an `operations` part larger than
/// the JSON body limit, or a file the map does not name, is refused while the client is
/// still sending — the server read that part, not the request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_part_of_an_upload_has_its_limit() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.graphql.max_body_bytes = 16 * 1024;
        c.media.max_bytes = 100 * 1024 * 1024;
    })
    .await;
    let owner = app.signed_in_user("parts@example.com", "Parts").await;
    let announced: usize = 50 * 1024 * 1024;
    let head = format!(
        "POST /graphql HTTP/1.1\r\nAuthorization: Bearer {}\r\nContent-Type: multipart/form-data; boundary=XYZ\r\n",
        owner.access
    );

    // `operations` that never ends: refused at the body limit, not the file limit.
    let opening =
        b"--XYZ\r\nContent-Disposition: form-data; name=\"operations\"\r\n\r\n{\"query\":\"";
    let (answer, sent) = answer_while_sending(&app, &head, opening, announced).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        sent < announced / 4,
        "answered after {sent} of {announced} bytes"
    );

    // A file the map does not name: refused at its first byte.
    let operations = json!({ "query": "mutation($f: Upload!) { uploadMedia(workspaceId: \"x\", file: $f) { id } }", "variables": { "f": null } });
    let opening = format!(
        "--XYZ\r\nContent-Disposition: form-data; name=\"operations\"\r\n\r\n{operations}\r\n--XYZ\r\nContent-Disposition: form-data; name=\"map\"\r\n\r\n{{\"0\": [\"variables.f\"]}}\r\n--XYZ\r\nContent-Disposition: form-data; name=\"stowaway\"; filename=\"big.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    );
    let (answer, sent) = answer_while_sending(&app, &head, opening.as_bytes(), announced).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(
        sent < announced / 4,
        "answered after {sent} of {announced} bytes"
    );

    // Files before the map, and a missing map, are refused with what is wrong.
    let files_first = "--XYZ\r\nContent-Disposition: form-data; name=\"0\"; filename=\"a.png\"\r\n\r\nxx\r\n--XYZ--\r\n";
    let response = app
        .http
        .post(format!("{}/graphql", app.address))
        .bearer_auth(&owner.access)
        .header("content-type", "multipart/form-data; boundary=XYZ")
        .body(files_first)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("before `map`"),
        "{body}"
    );
    app.stop().await;
}

/// Sends the public request form (an ACCESS request under the GDPR for `email`) from
/// `client` (its `X-Forwarded-For`, when given) and returns the answer's status.
async fn request_form_status(
    app: &TestApp,
    browser: &reqwest::Client,
    client: Option<&str>,
    email: &str,
) -> u16 {
    let url = format!("{}/privacy/requests/new", app.address);
    let with_client = |request: reqwest::RequestBuilder| match client {
        Some(client) => request.header("x-forwarded-for", client),
        None => request,
    };
    let page = with_client(browser.get(&url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = hidden(&page, "csrf");
    with_client(browser.post(&url))
        .form(&[
            ("csrf", csrf.as_str()),
            ("deletion", "0"),
            ("kind", "ACCESS"),
            ("email", email),
            ("jurisdiction", "GDPR"),
        ])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Behind a trusted reverse proxy each client has its own limits and its own address
/// in the audit log; from anyone else the forwarding headers are ignored.
async fn clients_behind_a_trusted_proxy_are_told_apart(backend: Backend) {
    use atelier::domain::entities::audit_events;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

    let app = TestApp::spawn_with(backend, |c| {
        c.trusted_proxies = Some("127.0.0.1/32, ::1".into());
        c.privacy.requests_per_ip = 1;
    })
    .await;
    let submit = |client: &'static str| {
        let app = &app;
        async move { request_form_status(app, &browser(), Some(client), "someone@example.com").await }
    };
    // A spoofed first hop is not believed: the proxy's own hop (the last) counts.
    assert_eq!(submit("1.1.1.1, 203.0.113.7").await, 200);
    assert_eq!(
        submit("198.51.100.8").await,
        200,
        "another client is not locked out"
    );
    assert_eq!(
        submit("9.9.9.9, 203.0.113.7").await,
        429,
        "the same client is limited"
    );

    let session = app.signed_in_user("proxied@example.com", "Pro Xied").await;
    let login = app
        .http
        .post(format!("{}/graphql", app.address))
        .header("x-forwarded-for", "192.0.2.44")
        .json(&json!({ "query": LOG_IN, "variables": { "input": { "email": "proxied@example.com", "password": PASSWORD } } }))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let event = audit_events::Entity::find()
        .filter(audit_events::Column::Action.eq("auth.login_succeeded"))
        .order_by_desc(audit_events::Column::Id)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(event.ip.as_deref(), Some("192.0.2.0/24"), "{event:?}");
    drop(session);
    app.stop().await;
}
on_both_databases!(clients_behind_a_trusted_proxy_are_told_apart);

/// The public request form counts the submissions it accepts: people who get a field
/// wrong and send the form again are not locked out for it, and a request refused for
/// its email address does not count against the network either.
async fn the_request_form_counts_accepted_submissions(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.privacy.requests_per_ip = 2;
        c.privacy.requests_per_email = 1;
    })
    .await;
    let browser = browser();
    let submit = |email: &'static str| request_form_status(&app, &browser, None, email);
    for typo in ["someone@", "someone at example.com", "@example.com"] {
        assert_eq!(submit(typo).await, 422, "{typo} is refused as invalid");
    }
    assert_eq!(submit("first@example.com").await, 200);
    assert_eq!(
        submit("first@example.com").await,
        429,
        "the address's limit refuses"
    );
    assert_eq!(
        submit("second@example.com").await,
        200,
        "neither the typos nor the refused request counted against the network"
    );
    assert_eq!(
        submit("third@example.com").await,
        429,
        "two accepted: the network's limit"
    );
    assert_eq!(
        atelier::domain::entities::privacy_requests::Entity::find()
            .count(&app.db)
            .await
            .unwrap(),
        2
    );
    app.stop().await;
}
on_both_databases!(the_request_form_counts_accepted_submissions);

async fn forwarding_headers_from_anyone_else_are_ignored(backend: Backend) {
    use atelier::domain::entities::audit_events;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

    let app = TestApp::spawn(backend).await;
    app.signed_in_user("direct@example.com", "Di Rect").await;
    app.http
        .post(format!("{}/graphql", app.address))
        .header("x-forwarded-for", "192.0.2.44")
        .json(&json!({ "query": LOG_IN, "variables": { "input": { "email": "direct@example.com", "password": PASSWORD } } }))
        .send()
        .await
        .unwrap();
    let event = audit_events::Entity::find()
        .filter(audit_events::Column::Action.eq("auth.login_succeeded"))
        .order_by_desc(audit_events::Column::Id)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(event.ip.as_deref(), Some("127.0.0.0/24"));
    app.stop().await;
}
on_both_databases!(forwarding_headers_from_anyone_else_are_ignored);

/// A syntax error is explained where it is, not refused before the parser saw it.
async fn syntax_errors_say_where_they_are(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, _, body) = post_raw(&app, &json!({ "query": "{ privacyPolicy { version " })).await;
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    assert!(answer["errors"][0]["locations"].is_array(), "{body}");
    // A syntax error says where it is without echoing a long line back.
    let long_line = format!(
        "{{ privacyPolicy {{ version }} {} }} }}",
        "x".repeat(120_000)
    );
    let response = app
        .http
        .post(format!("{}/graphql", app.address))
        .json(&json!({ "query": long_line }))
        .send()
        .await
        .unwrap();
    let body = response.text().await.unwrap();
    assert!(body.len() < 4_000, "{} bytes answered", body.len());
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["errors"][0]["locations"][0]["line"], 1, "{body}");
    assert!(
        answer["errors"][0]["locations"][0]["column"].as_u64() > Some(120_000),
        "{body}"
    );

    app.stop().await;
}
on_both_databases!(syntax_errors_say_where_they_are);

/// Reads what the server sends until it closes the connection (or `within` passes,
/// which fails the test: the server was meant to close it).
async fn read_until_closed(stream: &mut tokio::net::TcpStream, within: Duration) -> Vec<u8> {
    use tokio::io::AsyncReadExt;
    let mut seen = Vec::new();
    let mut buffer = [0u8; 1024];
    let reading = async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => seen.extend_from_slice(&buffer[..n]),
            }
        }
    };
    tokio::time::timeout(within, reading)
        .await
        .expect("the server closes the connection");
    seen
}

/// Sends `GET /healthz` on a kept-alive connection and reads its whole answer.
async fn health_check(stream: &mut tokio::net::TcpStream) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: atelier.test\r\n\r\n")
        .await
        .unwrap();
    let mut seen = Vec::new();
    let mut buffer = [0u8; 1024];
    while !(seen.windows(4).any(|w| w == b"\r\n\r\n") && seen.ends_with(b"ok")) {
        let n = stream.read(&mut buffer).await.unwrap();
        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buffer[..n]);
    }
    String::from_utf8_lossy(&seen).to_string()
}

/// A connection that never sends a request, one that sends half a head, and a kept-
/// alive one that goes quiet after its answer are all closed by the server.
#[tokio::test]
async fn silent_and_half_sent_connections_are_closed() {
    use tokio::io::AsyncWriteExt;
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.server.header_read_timeout_secs = 1;
    })
    .await;
    let address = app.address.trim_start_matches("http://").to_string();
    let within = crate::helpers::PATIENCE;

    let mut silent = tokio::net::TcpStream::connect(&address).await.unwrap();
    let mut half = tokio::net::TcpStream::connect(&address).await.unwrap();
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: atelier.test\r\nX-Slow: ")
        .await
        .unwrap();
    let mut kept_alive = tokio::net::TcpStream::connect(&address).await.unwrap();
    assert!(health_check(&mut kept_alive)
        .await
        .starts_with("HTTP/1.1 200"));

    let (silent, half, after) = tokio::join!(
        read_until_closed(&mut silent, within),
        read_until_closed(&mut half, within),
        read_until_closed(&mut kept_alive, within),
    );
    // Nothing was served on any of them after the timeout.
    for answer in [&silent, &half, &after] {
        assert!(
            !String::from_utf8_lossy(answer).contains("200 OK"),
            "{}",
            String::from_utf8_lossy(answer)
        );
    }
    // The server itself goes on serving.
    let mut fresh = tokio::net::TcpStream::connect(&address).await.unwrap();
    assert!(health_check(&mut fresh).await.starts_with("HTTP/1.1 200"));
    app.stop().await;
}

/// A request whose body stops arriving is cut off by the idle timeout (long before the
/// request timeout), and the handler waiting for it is dropped with it.
#[tokio::test]
async fn a_stalled_body_ends_with_the_idle_timeout() {
    use tokio::io::AsyncWriteExt;
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.server.idle_timeout_secs = 1;
        c.graphql.request_timeout_secs = 600;
    })
    .await;
    let address = app.address.trim_start_matches("http://").to_string();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    stream
        .write_all(
            b"POST /graphql HTTP/1.1\r\nHost: atelier.test\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"query\":",
        )
        .await
        .unwrap();
    let answer = read_until_closed(&mut stream, crate::helpers::PATIENCE).await;
    assert!(
        !String::from_utf8_lossy(&answer).contains("200 OK"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    app.stop().await;
}

/// Over `server.max_connections`, a new connection waits until one of those being
/// served closes, then is answered.
#[tokio::test]
async fn connections_over_the_cap_wait_their_turn() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.server.max_connections = 2;
        c.server.header_read_timeout_secs = 120;
    })
    .await;
    let address = app.address.trim_start_matches("http://").to_string();
    let mut first = tokio::net::TcpStream::connect(&address).await.unwrap();
    let mut second = tokio::net::TcpStream::connect(&address).await.unwrap();
    // Both are being served (each has had an answer) and both stay open.
    assert!(health_check(&mut first).await.starts_with("HTTP/1.1 200"));
    assert!(health_check(&mut second).await.starts_with("HTTP/1.1 200"));

    let mut third = tokio::net::TcpStream::connect(&address).await.unwrap();
    third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: atelier.test\r\n\r\n")
        .await
        .unwrap();
    let mut buffer = [0u8; 256];
    let early = tokio::time::timeout(Duration::from_millis(500), third.read(&mut buffer)).await;
    assert!(
        early.is_err(),
        "the third connection was served over the cap"
    );

    drop(first);
    let mut seen = Vec::new();
    while !seen.ends_with(b"ok") {
        let n = tokio::time::timeout(crate::helpers::PATIENCE, third.read(&mut buffer))
            .await
            .expect("served once a place is free")
            .unwrap();
        assert!(n > 0);
        seen.extend_from_slice(&buffer[..n]);
    }
    assert!(String::from_utf8_lossy(&seen).starts_with("HTTP/1.1 200"));
    drop(second);
    app.stop().await;
}

/// A request the server validated before (same document, operation and variables) is
/// answered as it was; the same document with other variables is validated again — a
/// value of the wrong type, a missing one — however often the valid one was sent, and a
/// request refused by validation is refused every time.
async fn validation_is_skipped_only_for_the_same_request(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let session = app.signed_in_user("valid@example.com", "Val").await;
    let token = session.access.as_str();
    let workspace = app.create_workspace(&session, "Valid Co").await;
    const PAGE: &str =
        "query($w: ID!, $n: Int){ workspace(id: $w){ name drafts(first: $n){ pageInfo { hasNextPage } } } }";
    let good = json!({ "w": workspace, "n": 5 });
    let first = app.gql(Some(token), PAGE, good.clone()).await;
    assert!(first.get("errors").is_none(), "{first}");
    for _ in 0..3 {
        assert_eq!(app.gql(Some(token), PAGE, good.clone()).await, first);
    }
    // Values of the wrong type are refused by validation (no data, no path); a missing
    // variable by the executor, at the field that reads it. Either, every time.
    for (bad, validation) in [
        (json!({ "w": workspace, "n": "five" }), true),
        (json!({ "w": workspace, "n": 5.5 }), true),
        (json!({ "w": [workspace], "n": 5 }), true),
        (json!({ "n": 5 }), false),
    ] {
        let refused = app.gql(Some(token), PAGE, bad.clone()).await;
        assert_eq!(
            error_code(&refused).as_deref(),
            Some("BAD_USER_INPUT"),
            "{refused}"
        );
        assert!(refused["data"].is_null(), "{refused}");
        assert_eq!(
            refused["errors"][0].get("path").is_none(),
            validation,
            "{refused}"
        );
        for _ in 0..2 {
            assert_eq!(app.gql(Some(token), PAGE, bad.clone()).await, refused);
        }
        // And the valid request is still answered as before.
        assert_eq!(app.gql(Some(token), PAGE, good.clone()).await, first);
    }
    // A document that never validates, sent again and again.
    for _ in 0..3 {
        let refused = app
            .gql(
                Some(token),
                "query($w: ID!){ workspace(id: $w){ nope } }",
                json!({ "w": workspace }),
            )
            .await;
        assert_eq!(
            error_code(&refused).as_deref(),
            Some("BAD_USER_INPUT"),
            "{refused}"
        );
    }
    // Too costly for the limits: refused every time.
    let costly = json!({ "w": workspace, "n": 100_000 });
    for _ in 0..2 {
        let refused = app.gql(Some(token), PAGE, costly.clone()).await;
        assert!(
            refused["errors"][0]["message"]
                .as_str()
                .is_some_and(|m| m.contains("too complex")),
            "{refused}"
        );
    }
    // An error met while executing (no page of no drafts) leaves the request valid:
    // answered the same way again.
    let elsewhere = json!({ "w": workspace, "n": 0 });
    let once = app.gql(Some(token), PAGE, elsewhere.clone()).await;
    assert!(once["errors"][0]["path"].is_array(), "{once}");
    for _ in 0..2 {
        assert_eq!(app.gql(Some(token), PAGE, elsewhere.clone()).await, once);
    }
    app.stop().await;
}

on_both_databases!(validation_is_skipped_only_for_the_same_request);

/// Every `/graphql` answer — those that carry tokens, refusals, GraphiQL — tells caches
/// to keep nothing and browsers not to guess its type.
async fn graphql_answers_are_never_stored_or_sniffed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.signed_in_user("headers@example.com", "Headers").await;
    let log_in = json!({
        "query": LOG_IN,
        "variables": { "input": { "email": "headers@example.com", "password": PASSWORD } },
    });
    let url = format!("{}/graphql", app.address);
    let answers = [
        app.http.post(&url).json(&log_in).send().await.unwrap(),
        app.http
            .post(&url)
            .json(&json!({ "query": "{ privacyPolicy { version } }" }))
            .send()
            .await
            .unwrap(),
        app.http
            .post(&url)
            .json(&json!({ "query": "{" }))
            .send()
            .await
            .unwrap(),
        app.http
            .post(&url)
            .header("content-type", "text/plain")
            .body("{}")
            .send()
            .await
            .unwrap(),
        app.http
            .post(&url)
            .bearer_auth("forged")
            .json(&log_in)
            .send()
            .await
            .unwrap(),
        app.http.get(&url).send().await.unwrap(),
    ];
    for (i, answer) in answers.iter().enumerate() {
        let header = |name: &str| {
            answer
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        assert_eq!(
            header("cache-control").as_deref(),
            Some("no-store"),
            "{i}: {:?}",
            answer.status()
        );
        assert_eq!(
            header("x-content-type-options").as_deref(),
            Some("nosniff"),
            "{i}"
        );
    }
    let tokens: serde_json::Value = answers.into_iter().next().unwrap().json().await.unwrap();
    assert!(
        tokens["data"]["logIn"]["accessToken"].is_string(),
        "{tokens}"
    );
    app.stop().await;
}
on_both_databases!(graphql_answers_are_never_stored_or_sniffed);
