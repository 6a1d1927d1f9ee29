//! Around a draft: channels with platform limits, generated variants (rule-based and an
//! OpenAI-compatible server over HTTP), comments with mentions and batched emails, and
//! the fixed statement cost of a page of drafts.

use std::sync::{Arc, Mutex};

use axum::routing::post;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::on_both_databases;
use crate::workspaces::add_member;

const CREATE: &str = "mutation($i: CreateDraftInput!) { createDraft(input: $i) { id } }";
const SET_TARGET: &str = "mutation($i: SetDraftTargetInput!) { setDraftTarget(input: $i) { id provider title body origin limits { bodyMax } } }";
const GENERATE: &str = "mutation($d: ID!, $p: [Provider!]!) { generateDraftVariants(draftId: $d, providers: $p) { provider title body origin } }";
const ADD_COMMENT: &str = "mutation($i: AddCommentInput!) { addComment(input: $i) { id body parentId editedAt resolved deleted author { displayName } mentions { displayName } } }";

/// Comments on `draft` (a reply when `parent` is given); returns the comment's id.
pub(crate) async fn add_comment(
    app: &TestApp,
    token: &str,
    draft: &str,
    body: &str,
    parent: Option<&str>,
) -> String {
    app.gql_ok(
        Some(token),
        ADD_COMMENT,
        json!({ "i": { "draftId": draft, "body": body, "parentId": parent } }),
    )
    .await["addComment"]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn new_draft(app: &TestApp, token: &str, ws: &str, title: &str, body: &str) -> String {
    app.gql_ok(
        Some(token),
        CREATE,
        json!({ "i": { "workspaceId": ws, "title": title, "body": body, "tags": ["launch", "Product news"] } }),
    )
    .await["createDraft"]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A draft's version, for the next update's `expectedVersion`.
async fn draft_version(app: &TestApp, token: &str, id: &str) -> i64 {
    app.gql_ok(
        Some(token),
        "query($id: ID!) { draft(id: $id) { version } }",
        json!({ "id": id }),
    )
    .await["draft"]["version"]
        .as_i64()
        .unwrap()
}

/// The bodies of a list of comments, in order.
fn bodies(comments: &Value) -> Vec<String> {
    comments
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["body"].as_str().unwrap().to_string())
        .collect()
}

fn message(response: &Value) -> String {
    response["errors"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

async fn targets_keep_to_platform_limits(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.signed_in_user("lim@example.com", "Li Mits").await;
    let ws = app.create_workspace(&owner, "Limits Co").await;
    let viewer = add_member(&app, &owner, &ws, "view@example.com", "VIEWER").await;
    let outsider = app.signed_in_user("out@example.com", "Out Sider").await;
    let draft = new_draft(&app, &owner.access, &ws, "Limits", "Body").await;
    let set = |provider: &str, title: Option<&str>, body: String| json!({ "i": { "draftId": draft, "provider": provider, "title": title, "body": body } });

    let cases = [
        (
            "LINKEDIN",
            None,
            "a".repeat(3_001),
            "LINKEDIN target's post text is 3001 characters; LinkedIn allows at most 3000",
        ),
        (
            "TIKTOK",
            None,
            "a".repeat(2_201),
            "TIKTOK target's caption is 2201 characters; TikTok allows at most 2200",
        ),
        (
            "INSTAGRAM",
            None,
            (0..31)
                .map(|i| format!("#t{i}"))
                .collect::<Vec<_>>()
                .join(" "),
            "31 hashtags; Instagram allows at most 30",
        ),
        (
            "YOUTUBE",
            None,
            "A description".into(),
            "YOUTUBE target needs a title",
        ),
        (
            "YOUTUBE",
            Some("t".repeat(101)),
            "d".into(),
            "title is 101 characters; YouTube allows at most 100",
        ),
        (
            "YOUTUBE",
            Some("Fine".into()),
            "d".repeat(5_001),
            "description is 5001 characters",
        ),
        (
            "FACEBOOK",
            None,
            "a".repeat(63_207),
            "Facebook allows at most 63206",
        ),
        (
            "LINKEDIN",
            Some("Title".into()),
            "text".into(),
            "LinkedIn posts have no title",
        ),
        (
            "LINKEDIN",
            None,
            "bad \u{0007} bell".into(),
            "control characters",
        ),
        ("LINKEDIN", None, "   ".into(), "must not be empty"),
    ];
    for (provider, title, body, expected) in cases {
        let refused = app
            .gql(
                Some(&owner.access),
                SET_TARGET,
                set(provider, title.as_deref(), body),
            )
            .await;
        assert_eq!(
            error_code(&refused).as_deref(),
            Some("BAD_USER_INPUT"),
            "{refused}"
        );
        assert!(
            message(&refused).contains(expected),
            "{provider}: {}",
            message(&refused)
        );
    }

    // At the limits exactly, every platform accepts; setting again replaces the text.
    for (provider, title, body) in [
        ("LINKEDIN", None, "a".repeat(3_000)),
        ("FACEBOOK", None, "a".repeat(63_206)),
        (
            "INSTAGRAM",
            None,
            (0..30)
                .map(|i| format!("#t{i}"))
                .collect::<Vec<_>>()
                .join(" "),
        ),
        ("TIKTOK", None, "a".repeat(2_200)),
        ("YOUTUBE", Some("t".repeat(100)), "d".repeat(5_000)),
        ("LINKEDIN", None, "Shorter, final text".into()),
    ] {
        app.gql_ok(
            Some(&owner.access),
            SET_TARGET,
            set(provider, title.as_deref(), body),
        )
        .await;
    }
    let read = app
        .gql_ok(
            Some(&viewer.access),
            "query($id: ID!) { draft(id: $id) { targets { provider body origin status limits { bodyMax titleMax hashtagsMax } } } }",
            json!({ "id": draft }),
        )
        .await;
    let targets = read["draft"]["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 5, "one target per channel: {targets:?}");
    assert_eq!(targets[0]["body"], "Shorter, final text");
    assert_eq!(targets[0]["origin"], "MANUAL");
    assert_eq!(targets[0]["status"], "PENDING");
    let youtube = targets.iter().find(|t| t["provider"] == "YOUTUBE").unwrap();
    assert_eq!(
        youtube["limits"],
        json!({ "bodyMax": 5000, "titleMax": 100, "hashtagsMax": 60 })
    );

    // Roles and strangers.
    let refused = app
        .gql(
            Some(&viewer.access),
            SET_TARGET,
            set("LINKEDIN", None, "x".into()),
        )
        .await;
    assert_eq!(error_code(&refused).as_deref(), Some("FORBIDDEN"));
    let refused = app
        .gql(
            Some(&outsider.access),
            SET_TARGET,
            set("LINKEDIN", None, "x".into()),
        )
        .await;
    assert_eq!(error_code(&refused).as_deref(), Some("NOT_FOUND"));
    let refused = app
        .gql(
            Some(&owner.access),
            SET_TARGET,
            json!({ "i": { "draftId": draft, "provider": "LINKEDIN", "integrationId": "not-an-id", "body": "x" } }),
        )
        .await;
    assert_eq!(error_code(&refused).as_deref(), Some("BAD_USER_INPUT"));
    let refused = app
        .gql(
            Some(&owner.access),
            SET_TARGET,
            json!({ "i": { "draftId": draft, "provider": "LINKEDIN", "integrationId": uuid::Uuid::new_v4().to_string(), "body": "x" } }),
        )
        .await;
    assert_eq!(error_code(&refused).as_deref(), Some("NOT_FOUND"));
    let refused = app
        .gql(
            Some(&owner.access),
            SET_TARGET,
            json!({ "i": { "draftId": draft, "provider": "MYSPACE", "body": "x" } }),
        )
        .await;
    assert_eq!(error_code(&refused).as_deref(), Some("BAD_USER_INPUT"));

    // Removing a channel; a draft without channels cannot be scheduled.
    let bare = new_draft(&app, &owner.access, &ws, "Bare", "Nothing").await;
    app.gql_ok(
        Some(&owner.access),
        "mutation($w: ID!) { updateWorkspaceSettings(workspaceId: $w, approvalRequired: false) { id } }",
        json!({ "w": ws }),
    )
    .await;
    let target = app
        .gql_ok(
            Some(&owner.access),
            SET_TARGET,
            json!({ "i": { "draftId": bare, "provider": "FACEBOOK", "body": "Hi" } }),
        )
        .await["setDraftTarget"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let removed = app
        .gql(
            Some(&viewer.access),
            "mutation($id: ID!) { removeDraftTarget(id: $id) }",
            json!({ "id": target }),
        )
        .await;
    assert_eq!(error_code(&removed).as_deref(), Some("FORBIDDEN"));
    app.gql_ok(
        Some(&owner.access),
        "mutation($id: ID!) { removeDraftTarget(id: $id) }",
        json!({ "id": target }),
    )
    .await;
    let refused = app
        .gql(
            Some(&owner.access),
            "mutation($id: ID!) { scheduleDraft(id: $id, publishAt: \"2031-06-01T09:00:00Z\", timeZone: \"UTC\") { status } }",
            json!({ "id": bare }),
        )
        .await;
    assert!(
        message(&refused).contains("at least one channel"),
        "{refused}"
    );
    app.stop().await;
}
on_both_databases!(targets_keep_to_platform_limits);

fn long_body() -> String {
    format!(
        "We built something new with @maria_designs. {} #spring",
        "It is fast, and it is kind to your data. ".repeat(150)
    )
}

fn char_len(value: &Value) -> usize {
    value.as_str().unwrap_or_default().chars().count()
}

fn hashtag_count(text: &str) -> usize {
    text.split_whitespace()
        .filter(|w| w.starts_with('#') && w.len() > 1)
        .count()
}

async fn rule_based_variants_fit_every_platform(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.signed_in_user("gen@example.com", "Gen Erator").await;
    let ws = app.create_workspace(&owner, "Gen Co").await;
    let viewer = add_member(&app, &owner, &ws, "gview@example.com", "VIEWER").await;
    let draft = new_draft(
        &app,
        &owner.access,
        &ws,
        "Spring launch: everything we shipped this season and why it matters to you",
        &long_body(),
    )
    .await;
    let all = json!(["LINKEDIN", "FACEBOOK", "INSTAGRAM", "TIKTOK", "YOUTUBE"]);

    let refused = app
        .gql(
            Some(&viewer.access),
            GENERATE,
            json!({ "d": draft, "p": all }),
        )
        .await;
    assert_eq!(error_code(&refused).as_deref(), Some("FORBIDDEN"));
    let refused = app
        .gql(
            Some(&owner.access),
            GENERATE,
            json!({ "d": draft, "p": [] }),
        )
        .await;
    assert_eq!(error_code(&refused).as_deref(), Some("BAD_USER_INPUT"));

    let generated = app
        .gql_ok(
            Some(&owner.access),
            GENERATE,
            json!({ "d": draft, "p": all }),
        )
        .await;
    let variants = generated["generateDraftVariants"].as_array().unwrap();
    assert_eq!(variants.len(), 5);
    for variant in variants {
        let body = variant["body"].as_str().unwrap();
        let (max, tags_max) = match variant["provider"].as_str().unwrap() {
            "LINKEDIN" => (3_000, 5),
            "FACEBOOK" => (63_206, 3),
            "INSTAGRAM" => (2_200, 30),
            "TIKTOK" => (2_200, 8),
            _ => (5_000, 15),
        };
        assert!(char_len(&variant["body"]) <= max, "{variant}");
        assert!(hashtag_count(body) <= tags_max, "{variant}");
        assert!(
            body.contains("#launch") && body.contains("#spring"),
            "{body}"
        );
        assert_eq!(variant["origin"], "GENERATED");
        let links_mentions = matches!(
            variant["provider"].as_str(),
            Some("INSTAGRAM" | "TIKTOK" | "YOUTUBE")
        );
        assert_eq!(body.contains("@maria_designs"), links_mentions, "{variant}");
        if variant["provider"] == "YOUTUBE" {
            assert!(char_len(&variant["title"]) <= 100);
            assert!(variant["title"]
                .as_str()
                .unwrap()
                .starts_with("Spring launch"));
        } else {
            assert!(variant["title"].is_null());
        }
    }
    // Shortened at a sentence boundary where the text was too long.
    let linkedin = variants
        .iter()
        .find(|v| v["provider"] == "LINKEDIN")
        .unwrap();
    let prose = linkedin["body"]
        .as_str()
        .unwrap()
        .split("\n\n#")
        .next()
        .unwrap();
    assert!(prose.ends_with("data."), "{prose}");

    let read = app
        .gql_ok(
            Some(&viewer.access),
            "query($id: ID!) { draft(id: $id) { generations { generator inputs outputs requestedBy { displayName } } } }",
            json!({ "id": draft }),
        )
        .await;
    let generation = &read["draft"]["generations"][0];
    assert_eq!(generation["generator"], "rules");
    assert_eq!(generation["inputs"]["version"], 1);
    assert_eq!(
        generation["inputs"]["providers"].as_array().unwrap().len(),
        5
    );
    assert_eq!(generation["outputs"].as_object().unwrap().len(), 5);
    assert_eq!(generation["requestedBy"]["displayName"], "Gen Erator");
    app.stop().await;
}
on_both_databases!(rule_based_variants_fit_every_platform);

/// What the fake model server was sent: the Authorization header and the JSON body.
type Seen = Arc<Mutex<Vec<(Option<String>, Value)>>>;

/// An OpenAI-compatible chat-completions server: records what it was asked, answers
/// with an over-long variant (or fails when told to).
async fn fake_model_server(fail: bool) -> (String, Seen) {
    let seen: Seen = Arc::default();
    let recorded = seen.clone();
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        post(move |headers: axum::http::HeaderMap, axum::Json(body): axum::Json<Value>| {
            let recorded = recorded.clone();
            async move {
                let auth = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                recorded.lock().unwrap().push((auth, body));
                if fail {
                    return (axum::http::StatusCode::INTERNAL_SERVER_ERROR, axum::Json(json!({ "error": "boom" })));
                }
                let content = json!({
                    "title": "A model-written title that goes on and on well past what YouTube allows for any video title",
                    "body": format!("{} #model", "Model sentence here. ".repeat(400)),
                })
                .to_string();
                (
                    axum::http::StatusCode::OK,
                    axum::Json(json!({ "choices": [{ "index": 0, "message": { "role": "assistant", "content": content } }] })),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.ok() });
    (format!("http://{address}/v1"), seen)
}

async fn http_generator_variants_fit_and_failures_change_nothing(backend: Backend) {
    let (url, seen) = fake_model_server(false).await;
    let app = TestApp::spawn_with(backend.clone(), |config| {
        config.generator.kind = atelier::config::GeneratorKind::Openai;
        config.generator.url = Some(url.clone());
        config.generator.model = "test-model".into();
        config.generator.api_key = Some(secrecy::SecretString::from("sk-test".to_string()));
    })
    .await;
    let owner = app.signed_in_user("llm@example.com", "Ll Em").await;
    let ws = app.create_workspace(&owner, "Model Co").await;
    let draft = new_draft(
        &app,
        &owner.access,
        &ws,
        "Model launch",
        "Short source text.",
    )
    .await;
    let generated = app
        .gql_ok(
            Some(&owner.access),
            GENERATE,
            json!({ "d": draft, "p": ["TIKTOK", "YOUTUBE"] }),
        )
        .await;
    let variants = generated["generateDraftVariants"].as_array().unwrap();
    let tiktok = variants.iter().find(|v| v["provider"] == "TIKTOK").unwrap();
    assert!(
        char_len(&tiktok["body"]) <= 2_200,
        "the model's text was fitted"
    );
    assert!(tiktok["body"].as_str().unwrap().contains("#model"));
    let youtube = variants
        .iter()
        .find(|v| v["provider"] == "YOUTUBE")
        .unwrap();
    assert!(char_len(&youtube["title"]) <= 100);
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0].0.as_deref(), Some("Bearer sk-test"));
        assert_eq!(seen[0].1["model"], "test-model");
        let system = seen[0].1["messages"][0]["content"].as_str().unwrap();
        assert!(
            system.contains("TikTok") && system.contains("2200"),
            "{system}"
        );
        assert!(seen[0].1["messages"][1]["content"]
            .as_str()
            .unwrap()
            .contains("Short source text."));
    }
    let read = app
        .gql_ok(
            Some(&owner.access),
            "query($id: ID!) { draft(id: $id) { generations { generator } } }",
            json!({ "id": draft }),
        )
        .await;
    assert_eq!(
        read["draft"]["generations"][0]["generator"],
        "openai-compatible:test-model"
    );
    app.stop().await;

    // A failing model: a clear error, and the draft's channels are as they were.
    let (url, _) = fake_model_server(true).await;
    let app = TestApp::spawn_with(backend, |config| {
        config.generator.kind = atelier::config::GeneratorKind::Openai;
        config.generator.url = Some(url.clone());
    })
    .await;
    let owner = app.signed_in_user("llm2@example.com", "Ll Em").await;
    let ws = app.create_workspace(&owner, "Model Co").await;
    let draft = new_draft(&app, &owner.access, &ws, "Model launch", "Source.").await;
    app.gql_ok(
        Some(&owner.access),
        SET_TARGET,
        json!({ "i": { "draftId": draft, "provider": "TIKTOK", "body": "Mine" } }),
    )
    .await;
    let failed = app
        .gql(
            Some(&owner.access),
            GENERATE,
            json!({ "d": draft, "p": ["TIKTOK"] }),
        )
        .await;
    assert_eq!(error_code(&failed).as_deref(), Some("INTERNAL"));
    assert!(message(&failed).contains("text generator"), "{failed}");
    let read = app
        .gql_ok(
            Some(&owner.access),
            "query($id: ID!) { draft(id: $id) { targets { body origin } generations { id } } }",
            json!({ "id": draft }),
        )
        .await;
    assert_eq!(
        read["draft"]["targets"],
        json!([{ "body": "Mine", "origin": "MANUAL" }])
    );
    assert_eq!(read["draft"]["generations"], json!([]));
    app.stop().await;
}
on_both_databases!(http_generator_variants_fit_and_failures_change_nothing);

async fn comments_thread_mention_and_resolve(backend: Backend) {
    let app = TestApp::spawn_with(backend, |config| config.content.mention_batch_secs = 2).await;
    let owner = app
        .signed_in_user("owner.c@example.com", "Olga Owner")
        .await;
    let ws = app.create_workspace(&owner, "Talk Co").await;
    let editor = add_member(&app, &owner, &ws, "editor.c@example.com", "EDITOR").await;
    let viewer = add_member(&app, &owner, &ws, "viewer.c@example.com", "VIEWER").await;
    let outsider = app.signed_in_user("out.c@example.com", "Out Sider").await;
    let draft = new_draft(&app, &editor.access, &ws, "Discuss me", "Text").await;
    let other_draft = new_draft(&app, &editor.access, &ws, "Other", "Text").await;
    let add = |token: &str, body: String, parent: Option<&str>| {
        let variables = json!({ "i": { "draftId": draft, "body": body, "parentId": parent } });
        let token = token.to_string();
        let app = &app;
        async move { app.gql(Some(&token), ADD_COMMENT, variables).await }
    };

    // The viewer turns mention emails off; the viewer cannot comment.
    let prefs = app
        .gql_ok(
            Some(&viewer.access),
            "mutation { updateNotificationPreferences(mentionEmails: false) { mentionEmails } }",
            json!({}),
        )
        .await;
    assert_eq!(
        prefs["updateNotificationPreferences"]["mentionEmails"],
        false
    );
    let refused = add(&viewer.access, "I want to talk".into(), None).await;
    assert_eq!(error_code(&refused).as_deref(), Some("FORBIDDEN"));
    let refused = add(&outsider.access, "Hello?".into(), None).await;
    assert_eq!(error_code(&refused).as_deref(), Some("NOT_FOUND"));
    let refused = add(&editor.access, format!("Hey <@{}>", outsider.user_id), None).await;
    assert_eq!(error_code(&refused).as_deref(), Some("BAD_USER_INPUT"));
    assert!(message(&refused).contains("not a member"));
    for bad in ["", "   ", "ding \u{0007}"] {
        let refused = add(&editor.access, bad.into(), None).await;
        assert_eq!(
            error_code(&refused).as_deref(),
            Some("BAD_USER_INPUT"),
            "{bad:?}"
        );
    }
    let refused = add(&editor.access, "x".repeat(10_001), None).await;
    assert_eq!(error_code(&refused).as_deref(), Some("BAD_USER_INPUT"));

    // Two comments mention the owner (and the viewer) within one window: one email.
    let first = add(
        &editor.access,
        format!(
            "<@{}> please check the intro; <@{}> FYI",
            owner.user_id, viewer.user_id
        ),
        None,
    )
    .await;
    let first = &first["data"]["addComment"];
    assert_eq!(
        first["mentions"],
        json!([{ "displayName": "Olga Owner" }, { "displayName": "Member" }])
    );
    let first_id = first["id"].as_str().unwrap().to_string();
    let reply = add(
        &editor.access,
        format!("Also the ending, <@{}>", owner.user_id),
        Some(&first_id),
    )
    .await;
    assert_eq!(reply["data"]["addComment"]["parentId"], first_id.as_str());
    let reply_id = reply["data"]["addComment"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    // A parent from another draft is not in this thread.
    let foreign = app
        .gql(
            Some(&editor.access),
            ADD_COMMENT,
            json!({ "i": { "draftId": other_draft, "body": "Wrong thread", "parentId": first_id } }),
        )
        .await;
    assert_eq!(error_code(&foreign).as_deref(), Some("NOT_FOUND"));

    let digest = app
        .inbox
        .wait_for_subject("owner.c@example.com", "mentioned")
        .await;
    let text = digest.decoded();
    assert!(
        digest.subject().contains("mentioned in 2 comments"),
        "{}",
        digest.subject()
    );
    assert!(
        text.contains("please check the intro") && text.contains("Also the ending"),
        "{text}"
    );
    assert!(
        text.contains("@Olga Owner"),
        "mentions are shown as names: {text}"
    );
    assert!(text.contains(&format!(
        "http://app.test/drafts/{draft}#comment-{first_id}"
    )));
    // Give any further (wrong) email time to arrive: the window is 2 s.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert_eq!(
        app.inbox
            .to("owner.c@example.com")
            .iter()
            .filter(|m| m.subject().contains("mention"))
            .count(),
        1
    );
    assert!(
        app.inbox
            .to("viewer.c@example.com")
            .iter()
            .all(|m| !m.subject().contains("mention")),
        "the viewer opted out"
    );
    assert!(
        app.inbox
            .to("editor.c@example.com")
            .iter()
            .all(|m| !m.subject().contains("mention")),
        "no email about one's own comment"
    );

    // Edit: author only; editedAt kept.
    let edit =
        "mutation($id: ID!, $b: String!) { editComment(id: $id, body: $b) { body editedAt } }";
    let refused = app
        .gql(
            Some(&owner.access),
            edit,
            json!({ "id": first_id, "b": "Hijack" }),
        )
        .await;
    assert_eq!(error_code(&refused).as_deref(), Some("FORBIDDEN"));
    let edited = app
        .gql_ok(
            Some(&editor.access),
            edit,
            json!({ "id": first_id, "b": "Intro checked, thanks" }),
        )
        .await;
    assert!(edited["editComment"]["editedAt"].is_string());

    // Resolve and reopen: EDITOR and up.
    let resolve =
        "mutation($id: ID!) { resolveComment(id: $id) { resolved resolvedBy { displayName } } }";
    let refused = app
        .gql(Some(&viewer.access), resolve, json!({ "id": first_id }))
        .await;
    assert_eq!(error_code(&refused).as_deref(), Some("FORBIDDEN"));
    let resolved = app
        .gql_ok(Some(&owner.access), resolve, json!({ "id": first_id }))
        .await;
    assert_eq!(resolved["resolveComment"]["resolved"], true);
    assert_eq!(
        resolved["resolveComment"]["resolvedBy"]["displayName"],
        "Olga Owner"
    );
    let reopened = app
        .gql_ok(
            Some(&owner.access),
            "mutation($id: ID!) { reopenComment(id: $id) { resolved } }",
            json!({ "id": first_id }),
        )
        .await;
    assert_eq!(reopened["reopenComment"]["resolved"], false);

    // Soft delete keeps the thread readable; only the author or an ADMIN may delete.
    let delete = "mutation($id: ID!) { deleteComment(id: $id) { deleted body } }";
    let refused = app
        .gql(Some(&viewer.access), delete, json!({ "id": first_id }))
        .await;
    assert_eq!(error_code(&refused).as_deref(), Some("FORBIDDEN"));
    let deleted = app
        .gql_ok(Some(&owner.access), delete, json!({ "id": first_id }))
        .await;
    assert_eq!(
        deleted["deleteComment"],
        json!({ "deleted": true, "body": null })
    );
    let thread = app
        .gql_ok(
            Some(&viewer.access),
            "query($id: ID!) { draft(id: $id) { commentCount comments(first: 10) { edges { node { id parentId body deleted } } } } }",
            json!({ "id": draft }),
        )
        .await;
    let nodes: Vec<&Value> = thread["draft"]["comments"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["node"])
        .collect();
    assert_eq!(nodes.len(), 2);
    assert_eq!(nodes[0]["deleted"], true);
    assert_eq!(nodes[1]["id"], reply_id.as_str());
    assert_eq!(nodes[1]["parentId"], first_id.as_str());
    assert_eq!(thread["draft"]["commentCount"], 1);
    let refused = app
        .gql(
            Some(&editor.access),
            ADD_COMMENT,
            json!({ "i": { "draftId": draft, "body": "late", "parentId": first_id } }),
        )
        .await;
    assert_eq!(error_code(&refused).as_deref(), Some("BAD_USER_INPUT"));
    assert_eq!(
        atelier::domain::ops::audit::count_action(&app.db, "comment.deleted")
            .await
            .unwrap(),
        1
    );

    // Requesting changes leaves the note as a comment.
    for mutation in [
        "submitDraftForReview(id: $id)",
        "requestDraftChanges(id: $id, note: \"Tighten the intro\")",
    ] {
        app.gql_ok(
            Some(&owner.access),
            &format!("mutation($id: ID!) {{ {mutation} {{ status }} }}"),
            json!({ "id": other_draft }),
        )
        .await;
    }
    let notes = app
        .gql_ok(
            Some(&editor.access),
            "query($id: ID!) { draft(id: $id) { lastComments { body author { displayName } } } }",
            json!({ "id": other_draft }),
        )
        .await;
    assert_eq!(
        notes["draft"]["lastComments"],
        json!([{ "body": "Tighten the intro", "author": { "displayName": "Olga Owner" } }])
    );
    app.stop().await;
}
on_both_databases!(comments_thread_mention_and_resolve);

const DASHBOARD: &str = "query($w: ID!, $n: Int!) { workspace(id: $w) { name myRole drafts(first: $n) { edges { node { id title status author { displayName } targets { provider body } commentCount lastComments(count: 3) { body author { displayName } } } } pageInfo { hasNextPage endCursor } } } }";

async fn a_page_of_drafts_costs_the_same_few_statements(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.signed_in_user("n1@example.com", "Nora Owner").await;
    let ws = app.create_workspace(&owner, "Busy Co").await;
    let editor = add_member(&app, &owner, &ws, "n2@example.com", "EDITOR").await;
    for i in 0..50 {
        let author = if i % 2 == 0 { &owner } else { &editor };
        let id = app
            .gql_ok(
                Some(&author.access),
                CREATE,
                json!({ "i": { "workspaceId": ws, "title": format!("Draft {i}"), "body": "Text", "targets": [
                    { "provider": "LINKEDIN", "body": format!("Post {i}") },
                    { "provider": "YOUTUBE", "title": format!("Video {i}"), "body": "Description" },
                ] } }),
            )
            .await["createDraft"]["id"]
            .as_str()
            .unwrap()
            .to_string();
        for c in 0..(i % 5) {
            let commenter = if c % 2 == 0 { &editor } else { &owner };
            app.gql_ok(
                Some(&commenter.access),
                ADD_COMMENT,
                json!({ "i": { "draftId": id, "body": format!("Comment {c} on {i}") } }),
            )
            .await;
        }
    }
    let (small, five) = app
        .gql_costed(&owner.access, DASHBOARD, json!({ "w": ws, "n": 5 }))
        .await;
    let (large, fifty) = app
        .gql_costed(&owner.access, DASHBOARD, json!({ "w": ws, "n": 50 }))
        .await;
    // On SQLite every read of the page fits the budget of the request's own thread: no
    // statement waits for the blocking pool (on PostgreSQL nothing reads that way).
    assert_eq!((five.moved, fifty.moved), (0, 0));
    let (five, fifty) = (five.statements, fifty.statements);
    let edges = large["workspace"]["drafts"]["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 50);
    assert_eq!(
        small["workspace"]["drafts"]["edges"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
    // Newest first: draft 49 has 4 comments, newest first, with their authors.
    let top = &edges[0]["node"];
    assert_eq!(top["title"], "Draft 49");
    assert_eq!(top["commentCount"], 4);
    assert_eq!(top["lastComments"].as_array().unwrap().len(), 3);
    assert_eq!(top["lastComments"][0]["body"], "Comment 3 on 49");
    assert_eq!(
        top["lastComments"][0]["author"]["displayName"],
        "Nora Owner"
    );
    assert_eq!(top["targets"].as_array().unwrap().len(), 2);
    assert_eq!(top["author"]["displayName"], "Member");
    assert_eq!(edges[49]["node"]["commentCount"], 0);
    // membership + drafts + authors (of drafts and comments) + targets + comment summaries
    assert_eq!(
        five, fifty,
        "the page size must not change the statement count"
    );
    assert!(fifty <= 5, "a page of 50 drafts cost {fifty} statements");

    // The rows read are the rows shown: the membership, 50 drafts, and of each draft's
    // comments as many as `lastComments` shows — none when only the count is asked (it
    // is the draft's own column). The 50 drafts have 0, 1, 2, 3, 4 comments, ten of each.
    let latest = |count: u32| {
        format!("query($w: ID!) {{ workspace(id: $w) {{ drafts(first: 50) {{ edges {{ node {{ commentCount lastComments(count: {count}) {{ body }} }} }} }} }} }}")
    };
    let only_count = "query($w: ID!) { workspace(id: $w) { drafts(first: 50) { edges { node { commentCount } } } } }";
    for (query, comment_rows) in [
        (only_count.to_string(), 0),
        (latest(1), 40),
        (latest(3), 10 * (1 + 2 + 3 + 3)),
        (latest(10), 10 * (1 + 2 + 3 + 4)),
    ] {
        let (answer, costs) = app
            .gql_costed(&owner.access, &query, json!({ "w": ws }))
            .await;
        assert_eq!(costs.rows, 1 + 50 + comment_rows, "{query}");
        // The membership and the page; the latest comments when they are asked for.
        let statements = if comment_rows == 0 { 2 } else { 3 };
        assert_eq!(costs.statements, statements, "{query}");
        assert_eq!(
            answer["workspace"]["drafts"]["edges"][0]["node"]["commentCount"],
            4
        );
    }
    // Two counts in one request: each alias gets as many as it asks for.
    let (two, _) = app
        .gql_costed(
            &owner.access,
            "query($w: ID!) { workspace(id: $w) { drafts(first: 5) { edges { node { id a: lastComments(count: 1) { body } b: lastComments(count: 4) { body } } } } } }",
            json!({ "w": ws }),
        )
        .await;
    let newest = &two["workspace"]["drafts"]["edges"][0]["node"];
    assert_eq!(newest["a"].as_array().unwrap().len(), 1);
    assert_eq!(newest["b"].as_array().unwrap().len(), 4);
    assert_eq!(newest["b"][0]["body"], "Comment 3 on 49");
    assert_eq!(newest["b"][3]["body"], "Comment 0 on 49");
    // Mutations run one after the other and share the request's cache: the second asks
    // for more latest comments than the first had read, and gets them all.
    let id = newest["id"].as_str().unwrap();
    let version = draft_version(&app, &owner.access, id).await;
    let edits = app
        .gql_ok(
            Some(&owner.access),
            "mutation($id: ID!, $v: Int!, $w: Int!) { \
               one: updateDraft(input: { id: $id, expectedVersion: $v, title: \"Draft 49\" }) { lastComments(count: 1) { body } } \
               four: updateDraft(input: { id: $id, expectedVersion: $w, title: \"Draft 49\" }) { lastComments(count: 4) { body } } }",
            json!({ "id": id, "v": version, "w": version + 1 }),
        )
        .await;
    assert_eq!(bodies(&edits["one"]["lastComments"]), ["Comment 3 on 49"]);
    assert_eq!(
        bodies(&edits["four"]["lastComments"]),
        [
            "Comment 3 on 49",
            "Comment 2 on 49",
            "Comment 1 on 49",
            "Comment 0 on 49"
        ]
    );

    // With each draft's performance and generations too: still the same count for 5 and
    // for 50 — two statements for performance (targets, then only the latest points) and
    // one for generations, whatever the page size.
    let with_results = "query($w: ID!, $n: Int!) { workspace(id: $w) { drafts(first: $n) { edges { node { id performance { totals { metric value } targets { targetId metrics { metric value } } } generations { id } } } } } }";
    let (_, five) = app
        .gql_counted(&owner.access, with_results, json!({ "w": ws, "n": 5 }))
        .await;
    let (answer, fifty) = app
        .gql_counted(&owner.access, with_results, json!({ "w": ws, "n": 50 }))
        .await;
    assert_eq!(
        answer["workspace"]["drafts"]["edges"]
            .as_array()
            .unwrap()
            .len(),
        50
    );
    assert_eq!(five, fifty, "performance and generations are batched");
    assert!(
        fifty <= 5,
        "a page of 50 drafts with results cost {fifty} statements"
    );

    // The draft detail view: two statements for the draft and access, then one per relation.
    let detail = "query($id: ID!) { draft(id: $id) { title author { displayName } targets { provider } revisions { version } workflow { to } commentCount lastComments { body author { displayName } } } }";
    let id = top["id"].as_str().unwrap();
    let (_, statements) = app
        .gql_counted(&editor.access, detail, json!({ "id": id }))
        .await;
    assert!(statements <= 7, "draft detail cost {statements} statements");
    // A thread with its authors: the draft, access, the comments, their authors.
    let thread = "query($id: ID!) { draft(id: $id) { comments(first: 20) { edges { node { body author { displayName } } } } } }";
    let (read, statements) = app
        .gql_counted(&editor.access, thread, json!({ "id": id }))
        .await;
    assert_eq!(
        read["draft"]["comments"]["edges"].as_array().unwrap().len(),
        4
    );
    assert!(
        statements <= 4,
        "a thread of 4 comments cost {statements} statements"
    );
    app.stop().await;
}
on_both_databases!(a_page_of_drafts_costs_the_same_few_statements);

/// A comment's people — author, resolver, the members it mentions — are read in one
/// statement however many of them a query shows and in whatever order, for a thread, a
/// draft's latest comments and a mutation's answer alike. (Comments resolve their fields
/// one after another; the first person field loads them all.)
async fn a_comments_people_are_read_together(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app
        .signed_in_user("owner.p@example.com", "Olga Owner")
        .await;
    let ws = app.create_workspace(&owner, "People Co").await;
    let editor = add_member(&app, &owner, &ws, "editor.p@example.com", "EDITOR").await;
    let viewer = add_member(&app, &owner, &ws, "viewer.p@example.com", "VIEWER").await;
    let draft = new_draft(&app, &editor.access, &ws, "Talk", "Text").await;
    let mut ids = Vec::new();
    for n in 0..3 {
        let body = format!("<@{}> and <@{}>, point {n}", owner.user_id, viewer.user_id);
        ids.push(add_comment(&app, &editor.access, &draft, &body, None).await);
    }
    let resolve = "mutation($id: ID!) { resolveComment(id: $id) { resolvedBy { displayName } } }";
    for id in &ids[..2] {
        app.gql_ok(Some(&owner.access), resolve, json!({ "id": id }))
            .await;
    }

    let thread = |fields: &str| {
        format!("query($id: ID!) {{ draft(id: $id) {{ comments(first: 10) {{ edges {{ node {{ {fields} }} }} }} }} }}")
    };
    let latest = |fields: &str| {
        format!("query($w: ID!) {{ workspace(id: $w) {{ drafts(first: 5) {{ edges {{ node {{ lastComments(count: 3) {{ {fields} }} }} }} }} }} }}")
    };
    let variables = json!({ "id": draft, "w": ws });
    let author = "author { displayName }";
    let all = [
        "author { displayName } mentions { displayName } resolvedBy { displayName }",
        "resolvedBy { displayName } mentions { displayName } author { displayName }",
        "mentions { displayName } resolvedBy { displayName } author { displayName }",
    ];
    for query in [&thread as &dyn Fn(&str) -> String, &latest] {
        let (_, alone) = app
            .gql_counted(&viewer.access, &query(author), variables.clone())
            .await;
        for fields in all {
            let (answer, statements) = app
                .gql_counted(&viewer.access, &query(fields), variables.clone())
                .await;
            assert_eq!(
                statements, alone,
                "{fields}: the people cost statements of their own"
            );
            let comments: Vec<&Value> = match answer.get("draft") {
                Some(draft) => draft["comments"]["edges"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| &e["node"])
                    .collect(),
                None => answer["workspace"]["drafts"]["edges"][0]["node"]["lastComments"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .collect(),
            };
            assert_eq!(comments.len(), 3);
            let resolved = comments
                .iter()
                .filter(|c| c["resolvedBy"] == json!({ "displayName": "Olga Owner" }))
                .count();
            assert_eq!(resolved, 2, "{fields}");
            for comment in comments {
                assert_eq!(comment["author"]["displayName"], "Member", "{fields}");
                assert_eq!(
                    comment["mentions"],
                    json!([{ "displayName": "Olga Owner" }, { "displayName": "Member" }]),
                    "{fields}"
                );
            }
        }
    }

    // A mutation's answer: one comment, its three people in one statement.
    let reopen = "mutation($id: ID!) { reopenComment(id: $id) { resolved } }";
    let (_, one) = app
        .gql_counted(&owner.access, resolve, json!({ "id": ids[2] }))
        .await;
    for fields in all {
        app.gql_ok(Some(&owner.access), reopen, json!({ "id": ids[2] }))
            .await;
        let (answer, statements) = app
            .gql_counted(
                &owner.access,
                &format!("mutation($id: ID!) {{ resolveComment(id: $id) {{ {fields} }} }}"),
                json!({ "id": ids[2] }),
            )
            .await;
        assert_eq!(statements, one, "{fields}");
        assert_eq!(
            answer["resolveComment"],
            json!({
                "author": { "displayName": "Member" },
                "mentions": [{ "displayName": "Olga Owner" }, { "displayName": "Member" }],
                "resolvedBy": { "displayName": "Olga Owner" },
            })
        );
    }
    app.stop().await;
}
on_both_databases!(a_comments_people_are_read_together);

/// Mutations of one request run one after the other and each sees what the ones before
/// it wrote: a draft shown, a comment added, the draft shown again — its count, latest
/// comments and title are the new ones, not what the first read left in the request's
/// cache.
async fn each_mutation_of_a_request_sees_what_the_ones_before_wrote(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.signed_in_user("seq@example.com", "Sam Sequence").await;
    let ws = app.create_workspace(&owner, "Sequence Co").await;
    let id = new_draft(&app, &owner.access, &ws, "First title", "Text").await;
    app.gql_ok(
        Some(&owner.access),
        ADD_COMMENT,
        json!({ "i": { "draftId": id, "body": "Before" } }),
    )
    .await;
    let version = draft_version(&app, &owner.access, &id).await;
    let done = app
        .gql_ok(
            Some(&owner.access),
            "mutation($id: ID!, $v: Int!, $w: Int!) { \
               before: updateDraft(input: { id: $id, expectedVersion: $v, title: \"Second title\" }) { title commentCount lastComments(count: 3) { body author { displayName } } } \
               added: addComment(input: { draftId: $id, body: \"During\" }) { body } \
               after: updateDraft(input: { id: $id, expectedVersion: $w, title: \"Third title\" }) { title commentCount lastComments(count: 3) { body author { displayName } } } }",
            json!({ "id": id, "v": version, "w": version + 1 }),
        )
        .await;
    assert_eq!(done["before"]["title"], "Second title");
    assert_eq!(done["before"]["commentCount"], 1);
    assert_eq!(done["added"]["body"], "During");
    assert_eq!(done["after"]["title"], "Third title");
    assert_eq!(done["after"]["commentCount"], 2);
    assert_eq!(bodies(&done["after"]["lastComments"]), ["During", "Before"]);
    assert_eq!(
        done["after"]["lastComments"][0]["author"]["displayName"],
        "Sam Sequence"
    );
}

on_both_databases!(each_mutation_of_a_request_sees_what_the_ones_before_wrote);

/// A draft's comment count, as the dashboard and the draft itself tell it.
async fn counts(app: &TestApp, token: &str, ws: &str, draft: &str) -> (i64, i64) {
    let page = app
        .gql_ok(
            Some(token),
            "query($w: ID!) { workspace(id: $w) { drafts(first: 10) { edges { node { id commentCount } } } } }",
            json!({ "w": ws }),
        )
        .await;
    let listed = page["workspace"]["drafts"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["node"]["id"] == draft)
        .map(|e| e["node"]["commentCount"].as_i64().unwrap())
        .unwrap();
    let own = app
        .gql_ok(
            Some(token),
            "query($id: ID!) { draft(id: $id) { commentCount comments(first: 50) { edges { node { deleted } } } } }",
            json!({ "id": draft }),
        )
        .await;
    let live = own["draft"]["comments"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["node"]["deleted"] == false)
        .count() as i64;
    assert_eq!(
        own["draft"]["commentCount"], live,
        "the count is the live comments shown"
    );
    (listed, own["draft"]["commentCount"].as_i64().unwrap())
}

/// Every draft's stored count against a count of its live comments, straight from the
/// database: the invariant the triggers keep, whichever way a comment came or went.
async fn stored_counts_match(app: &TestApp) {
    let wrong = count_of(
        &app.db,
        "SELECT COUNT(*) AS n FROM drafts WHERE comment_count <> \
         (SELECT COUNT(*) FROM comments WHERE comments.draft_id = drafts.id AND comments.deleted_at IS NULL)",
    )
    .await;
    assert_eq!(wrong, 0, "drafts whose stored comment count is wrong");
}

/// Runs a write straight against the database, then checks every stored count.
async fn outside_the_api(app: &TestApp, sql: &str) {
    use sea_orm::{ConnectionTrait, Statement};
    let backend = app.db.get_database_backend();
    app.db
        .execute_raw(Statement::from_string(backend, sql.to_string()))
        .await
        .unwrap();
    stored_counts_match(app).await;
}

/// Comments written, replied to, deleted, refused, erased with their author, and the
/// draft deleted: the count each draft shows follows every step.
async fn comment_counts_follow_comments_through_deletion_and_erasure(backend: Backend) {
    use crate::privacy_flow::{erase_leaving_nothing, Officer};
    use atelier::domain::staff::accounts::StaffRole;
    let app = TestApp::spawn(backend).await;
    let owner = app.signed_in_user("olga@example.com", "Olga Owner").await;
    let ws = app.create_workspace(&owner, "Count Co").await;
    let eve = crate::workspaces::add_named_member(
        &app,
        &owner,
        &ws,
        "eve@example.com",
        "Eve Editor",
        "EDITOR",
    )
    .await;
    let a = new_draft(&app, &owner.access, &ws, "Draft A", "Text").await;
    let b = new_draft(&app, &owner.access, &ws, "Draft B", "Text").await;
    assert_eq!(counts(&app, &owner.access, &ws, &a).await, (0, 0));

    let first = add_comment(&app, &eve.access, &a, "Eve one", None).await;
    add_comment(&app, &eve.access, &a, "Eve two", None).await;
    let olga = add_comment(&app, &owner.access, &a, "Olga one", None).await;
    add_comment(&app, &owner.access, &a, "Olga replies", Some(&first)).await;
    add_comment(&app, &eve.access, &b, "Eve on B", None).await;
    assert_eq!(counts(&app, &owner.access, &ws, &a).await, (4, 4));
    assert_eq!(counts(&app, &owner.access, &ws, &b).await, (1, 1));

    // A comment refused (empty body, unknown draft, by a stranger) counts nowhere.
    let refused = app
        .gql(
            Some(&eve.access),
            ADD_COMMENT,
            json!({ "i": { "draftId": a, "body": "  " } }),
        )
        .await;
    assert_eq!(error_code(&refused).as_deref(), Some("BAD_USER_INPUT"));
    let stranger = app.signed_in_user("sam@example.com", "Sam Stranger").await;
    let refused = app
        .gql(
            Some(&stranger.access),
            ADD_COMMENT,
            json!({ "i": { "draftId": a, "body": "hi" } }),
        )
        .await;
    assert!(refused["errors"].is_array());
    assert_eq!(counts(&app, &owner.access, &ws, &a).await, (4, 4));

    // Deleted once counts once; deleting it again answers the same and changes nothing.
    let delete = "mutation($id: ID!) { deleteComment(id: $id) { deleted } }";
    app.gql_ok(Some(&owner.access), delete, json!({ "id": olga }))
        .await;
    let again = app
        .gql(Some(&owner.access), delete, json!({ "id": olga }))
        .await;
    assert_eq!(again["data"]["deleteComment"]["deleted"], true, "{again}");
    assert_eq!(counts(&app, &owner.access, &ws, &a).await, (3, 3));
    stored_counts_match(&app).await;

    // Eve is erased: her comments are gone from every count, Olga's reply stays.
    let officer = Officer::sign_in(&app, "officer@atelier.test", StaffRole::Compliance).await;
    erase_leaving_nothing(
        &app,
        &officer,
        &eve,
        "eve@example.com",
        &["eve@example.com", "Eve Editor"],
    )
    .await;
    assert_eq!(counts(&app, &owner.access, &ws, &a).await, (1, 1));
    assert_eq!(counts(&app, &owner.access, &ws, &b).await, (0, 0));
    stored_counts_match(&app).await;

    // Writes outside the API keep the count too: deleted comments restored (the erased
    // and the deleted ones alike have an empty body), a reply deleted for good, and the
    // draft itself deleted with its comments.
    outside_the_api(
        &app,
        "UPDATE comments SET deleted_at = NULL WHERE body = ''",
    )
    .await;
    assert_eq!(counts(&app, &owner.access, &ws, &a).await, (4, 4));
    assert_eq!(counts(&app, &owner.access, &ws, &b).await, (1, 1));
    outside_the_api(&app, "DELETE FROM comments WHERE parent_id IS NOT NULL").await;
    assert_eq!(counts(&app, &owner.access, &ws, &a).await, (3, 3));
    outside_the_api(&app, "DELETE FROM drafts WHERE title = 'Draft A'").await;
    assert_eq!(counts(&app, &owner.access, &ws, &b).await, (1, 1));
    app.stop().await;
}
on_both_databases!(comment_counts_follow_comments_through_deletion_and_erasure);
