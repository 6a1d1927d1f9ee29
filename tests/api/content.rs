//! Drafts: creation, optimistic concurrency, revisions, the review lifecycle with the
//! role each step needs, and listing.

use serde_json::json;

use crate::helpers::*;
use crate::on_both_databases;
use crate::workspaces::add_member;

const DRAFT_FIELDS: &str = "id title body tags status version author { displayName }";

async fn a_draft_through_review(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.signed_in_user("owner@example.com", "Olive Owner").await;
    let ws = app.create_workspace(&owner, "Content Co").await;
    let editor = add_member(&app, &owner, &ws, "editor@example.com", "EDITOR").await;
    let viewer = add_member(&app, &owner, &ws, "viewer@example.com", "VIEWER").await;
    let create = format!(
        "mutation($i: CreateDraftInput!) {{ createDraft(input: $i) {{ {DRAFT_FIELDS} }} }}"
    );
    let update = format!(
        "mutation($i: UpdateDraftInput!) {{ updateDraft(input: $i) {{ {DRAFT_FIELDS} }} }}"
    );

    // A VIEWER reads but does not write.
    let refused = app
        .gql(
            Some(&viewer.access),
            &create,
            json!({ "i": { "workspaceId": ws, "title": "Nope" } }),
        )
        .await;
    assert_eq!(error_code(&refused).as_deref(), Some("FORBIDDEN"));
    let bad = app
        .gql(
            Some(&editor.access),
            &create,
            json!({ "i": { "workspaceId": ws, "title": "   " } }),
        )
        .await;
    assert_eq!(error_code(&bad).as_deref(), Some("BAD_USER_INPUT"));

    let created = app
        .gql_ok(
            Some(&editor.access),
            &create,
            json!({ "i": { "workspaceId": ws, "title": "Launch post", "body": "We launch on Monday.", "tags": ["Launch", "launch", "q4"] } }),
        )
        .await;
    let draft = &created["createDraft"];
    let id = draft["id"].as_str().unwrap().to_string();
    assert_eq!(
        (draft["status"].as_str(), draft["version"].as_i64()),
        (Some("DRAFT"), Some(1))
    );
    assert_eq!(draft["tags"], json!(["launch", "q4"]));
    assert_eq!(draft["author"]["displayName"], "Member");

    // Optimistic concurrency: the first save wins, the stale one is a CONFLICT and loses nothing.
    let saved = app
        .gql_ok(
            Some(&editor.access),
            &update,
            json!({ "i": { "id": id, "expectedVersion": 1, "body": "We launch on Tuesday." } }),
        )
        .await;
    assert_eq!(saved["updateDraft"]["version"], 2);
    let stale = app
        .gql(
            Some(&owner.access),
            &update,
            json!({ "i": { "id": id, "expectedVersion": 1, "body": "Overwrite!" } }),
        )
        .await;
    assert_eq!(error_code(&stale).as_deref(), Some("CONFLICT"), "{stale}");
    let read = app
        .gql_ok(
            Some(&viewer.access),
            "query($id: ID!) { draft(id: $id) { body version revisions { version body } } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(read["draft"]["body"], "We launch on Tuesday.");
    assert_eq!(read["draft"]["revisions"].as_array().unwrap().len(), 2);

    let mv = |name: &'static str, extra: &'static str| {
        format!("mutation($id: ID!{extra}) {{ {name} {{ status }} }}")
    };
    let submit = mv("submitDraftForReview(id: $id)", "");
    let approve = mv("approveDraft(id: $id, note: $note)", ", $note: String");
    let changes = mv(
        "requestDraftChanges(id: $id, note: $note)",
        ", $note: String!",
    );

    assert_eq!(
        app.gql_ok(Some(&editor.access), &submit, json!({ "id": id }))
            .await["submitDraftForReview"]["status"],
        "IN_REVIEW"
    );
    // In review: no edits, and an EDITOR cannot approve.
    let edit = app
        .gql(
            Some(&editor.access),
            &update,
            json!({ "i": { "id": id, "expectedVersion": 2, "title": "x" } }),
        )
        .await;
    assert_eq!(error_code(&edit).as_deref(), Some("BAD_USER_INPUT"));
    assert!(edit["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("IN_REVIEW"));
    let not_admin = app
        .gql(
            Some(&editor.access),
            &approve,
            json!({ "id": id, "note": "ok" }),
        )
        .await;
    assert_eq!(error_code(&not_admin).as_deref(), Some("FORBIDDEN"));
    let no_note = app
        .gql(
            Some(&owner.access),
            &changes,
            json!({ "id": id, "note": "  " }),
        )
        .await;
    assert_eq!(error_code(&no_note).as_deref(), Some("BAD_USER_INPUT"));
    let asked = app
        .gql_ok(
            Some(&owner.access),
            &changes,
            json!({ "id": id, "note": "Mention the time zone." }),
        )
        .await;
    assert_eq!(asked["requestDraftChanges"]["status"], "CHANGES_REQUESTED");
    // Editing after changes were requested brings it back to DRAFT.
    let back = app
        .gql_ok(Some(&editor.access), &update, json!({ "i": { "id": id, "expectedVersion": 2, "body": "We launch on Tuesday, 9:00 CET." } }))
        .await;
    assert_eq!(back["updateDraft"]["status"], "DRAFT");
    app.gql_ok(Some(&editor.access), &submit, json!({ "id": id }))
        .await;
    let approved = app
        .gql_ok(
            Some(&owner.access),
            &approve,
            json!({ "id": id, "note": "Good to go" }),
        )
        .await;
    assert_eq!(approved["approveDraft"]["status"], "APPROVED");
    // Illegal transitions name the current state.
    let again = app
        .gql(Some(&owner.access), &approve, json!({ "id": id }))
        .await;
    assert_eq!(error_code(&again).as_deref(), Some("BAD_USER_INPUT"));
    assert!(again["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("APPROVED"));

    let workflow = app
        .gql_ok(
            Some(&owner.access),
            "query($id: ID!) { draft(id: $id) { workflow { from to note } } }",
            json!({ "id": id }),
        )
        .await;
    let steps: Vec<(serde_json::Value, serde_json::Value)> = workflow["draft"]["workflow"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| (w["to"].clone(), w["note"].clone()))
        .collect();
    assert_eq!(
        steps,
        vec![
            (json!("DRAFT"), json!(null)),
            (json!("IN_REVIEW"), json!(null)),
            (json!("CHANGES_REQUESTED"), json!("Mention the time zone.")),
            (json!("DRAFT"), json!(null)),
            (json!("IN_REVIEW"), json!(null)),
            (json!("APPROVED"), json!("Good to go")),
        ]
    );
    let archived = app
        .gql_ok(
            Some(&editor.access),
            &mv("archiveDraft(id: $id)", ""),
            json!({ "id": id }),
        )
        .await;
    assert_eq!(archived["archiveDraft"]["status"], "ARCHIVED");
    assert_eq!(
        atelier::domain::ops::audit::count_action(&app.db, "draft.approved")
            .await
            .unwrap(),
        1
    );

    // Outsiders see nothing and change nothing.
    let outsider = app.signed_in_user("outsider@example.com", "Otto").await;
    let seen = app
        .gql_ok(
            Some(&outsider.access),
            "query($id: ID!) { draft(id: $id) { id } }",
            json!({ "id": id }),
        )
        .await;
    assert!(seen["draft"].is_null());
    let touched = app
        .gql(
            Some(&outsider.access),
            &update,
            json!({ "i": { "id": id, "expectedVersion": 3, "title": "mine" } }),
        )
        .await;
    assert_eq!(error_code(&touched).as_deref(), Some("NOT_FOUND"));
    app.stop().await;
}
on_both_databases!(a_draft_through_review);

async fn drafts_list_by_status_with_stable_pages(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.signed_in_user("lister@example.com", "Lis Ter").await;
    let ws = app.create_workspace(&owner, "List Co").await;
    let create = "mutation($i: CreateDraftInput!) { createDraft(input: $i) { id } }";
    let mut ids = Vec::new();
    for n in 0..5 {
        let data = app
            .gql_ok(
                Some(&owner.access),
                create,
                json!({ "i": { "workspaceId": ws, "title": format!("Post {n}") } }),
            )
            .await;
        ids.push(data["createDraft"]["id"].as_str().unwrap().to_string());
    }
    app.gql_ok(
        Some(&owner.access),
        "mutation($id: ID!) { submitDraftForReview(id: $id) { id } }",
        json!({ "id": ids[1] }),
    )
    .await;
    let page = "query($w: ID!, $after: String, $status: DraftStatus) { workspace(id: $w) { drafts(first: 2, after: $after, status: $status) { edges { node { id } } pageInfo { hasNextPage endCursor } } } }";
    let first = app
        .gql_ok(Some(&owner.access), page, json!({ "w": ws }))
        .await;
    let conn = &first["workspace"]["drafts"];
    let got: Vec<&str> = conn["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(got, [ids[4].as_str(), ids[3].as_str()], "newest first");
    // A draft created between pages does not shift the next page.
    app.gql_ok(
        Some(&owner.access),
        create,
        json!({ "i": { "workspaceId": ws, "title": "Late" } }),
    )
    .await;
    let second = app
        .gql_ok(
            Some(&owner.access),
            page,
            json!({ "w": ws, "after": conn["pageInfo"]["endCursor"] }),
        )
        .await;
    let got: Vec<&str> = second["workspace"]["drafts"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(got, [ids[2].as_str(), ids[1].as_str()]);
    let in_review = app
        .gql_ok(
            Some(&owner.access),
            page,
            json!({ "w": ws, "status": "IN_REVIEW" }),
        )
        .await;
    assert_eq!(
        in_review["workspace"]["drafts"]["edges"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    app.stop().await;
}
on_both_databases!(drafts_list_by_status_with_stable_pages);

async fn drafts_are_found_by_words_tag_and_author(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.signed_in_user("finder@example.com", "Fin Der").await;
    let ws = app.create_workspace(&owner, "Search Co").await;
    let editor = add_member(&app, &owner, &ws, "writer@example.com", "EDITOR").await;
    let create = "mutation($i: CreateDraftInput!) { createDraft(input: $i) { id } }";
    app.gql_ok(Some(&owner.access), create, json!({ "i": { "workspaceId": ws, "title": "Winter SALE", "body": "Half price", "tags": ["promo"] } })).await;
    app.gql_ok(Some(&editor.access), create, json!({ "i": { "workspaceId": ws, "title": "Team news", "body": "Our winter party", "tags": ["team"] } })).await;
    app.gql_ok(Some(&editor.access), create, json!({ "i": { "workspaceId": ws, "title": "100% off? No: 50_off", "body": "", "tags": [] } })).await;
    let query = "query($w: ID!, $search: String, $tag: String, $author: ID) { workspace(id: $w) { drafts(search: $search, tag: $tag, authorId: $author) { edges { node { title } } } } }";
    let titles = |data: serde_json::Value| -> Vec<String> {
        data["workspace"]["drafts"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["title"].as_str().unwrap().to_string())
            .collect()
    };
    let winter = titles(
        app.gql_ok(
            Some(&owner.access),
            query,
            json!({ "w": ws, "search": "WINTER" }),
        )
        .await,
    );
    assert_eq!(
        winter,
        ["Team news", "Winter SALE"],
        "title or body, any case"
    );
    // NUL in a search, a variable or the document, or in a draft's text: a clear input
    // error, never reaching the database (PostgreSQL refuses NUL in text).
    for (variables, document) in [
        (json!({ "w": ws, "search": "a\u{0}b" }), query.to_string()),
        (
            json!({ "w": ws }),
            query.replace("drafts(search: $search", "drafts(search: \"a\\u0000b\""),
        ),
        (
            json!({ "i": { "workspaceId": ws, "title": "x\u{0}" } }),
            create.to_string(),
        ),
    ] {
        let response = app
            .http
            .post(format!("{}/graphql", app.address))
            .bearer_auth(&owner.access)
            .json(&json!({ "query": document, "variables": variables }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400);
        assert!(
            response.headers().get("x-sql-statements").is_none(),
            "nothing ran"
        );
        let answer: serde_json::Value = response.json().await.unwrap();
        let message = answer["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(message.contains("NUL character"), "{answer}");
        assert_eq!(answer["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    }
    let promo = titles(
        app.gql_ok(
            Some(&owner.access),
            query,
            json!({ "w": ws, "tag": "Promo" }),
        )
        .await,
    );
    assert_eq!(promo, ["Winter SALE"]);
    let by_editor = titles(
        app.gql_ok(
            Some(&owner.access),
            query,
            json!({ "w": ws, "author": editor.user_id }),
        )
        .await,
    );
    assert_eq!(by_editor.len(), 2);
    // Wildcards are searched literally.
    let literal = titles(
        app.gql_ok(
            Some(&owner.access),
            query,
            json!({ "w": ws, "search": "0%" }),
        )
        .await,
    );
    assert_eq!(literal, ["100% off? No: 50_off"]);
    let underscore = titles(
        app.gql_ok(
            Some(&owner.access),
            query,
            json!({ "w": ws, "search": "_" }),
        )
        .await,
    );
    assert_eq!(underscore, ["100% off? No: 50_off"]);
    let bad = app
        .gql(
            Some(&owner.access),
            query,
            json!({ "w": ws, "author": "not-an-id" }),
        )
        .await;
    assert_eq!(error_code(&bad).as_deref(), Some("BAD_USER_INPUT"));
    app.stop().await;
}
on_both_databases!(drafts_are_found_by_words_tag_and_author);

async fn scheduling_respects_time_zones_and_approval(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.signed_in_user("planner@example.com", "Pla Nner").await;
    let ws = app.create_workspace(&owner, "Plan Co").await;
    let create = "mutation($i: CreateDraftInput!) { createDraft(input: $i) { id } }";
    let schedule = "mutation($id: ID!, $at: DateTime!, $tz: String!) { scheduleDraft(id: $id, publishAt: $at, timeZone: $tz) { status scheduledAt timeZone } }";
    let approved = |title: &'static str| {
        let app = &app;
        let owner = &owner;
        let ws = ws.clone();
        async move {
            let id = app
                .gql_ok(
                    Some(&owner.access),
                    create,
                    json!({ "i": { "workspaceId": ws, "title": title, "targets": [{ "provider": "LINKEDIN", "body": "Hello" }] } }),
                )
                .await["createDraft"]["id"]
                .as_str()
                .unwrap()
                .to_string();
            app.gql_ok(
                Some(&owner.access),
                "mutation($id: ID!) { submitDraftForReview(id: $id) { id } }",
                json!({ "id": id }),
            )
            .await;
            app.gql_ok(
                Some(&owner.access),
                "mutation($id: ID!) { approveDraft(id: $id) { id } }",
                json!({ "id": id }),
            )
            .await;
            id
        }
    };

    // Approval is required by default: a plain draft cannot be scheduled.
    let plain = app
        .gql_ok(
            Some(&owner.access),
            create,
            json!({ "i": { "workspaceId": ws, "title": "Unreviewed", "targets": [{ "provider": "LINKEDIN", "body": "Hello" }] } }),
        )
        .await["createDraft"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let refused = app
        .gql(
            Some(&owner.access),
            schedule,
            json!({ "id": plain, "at": "2031-06-01T09:00:00+02:00", "tz": "Europe/Berlin" }),
        )
        .await;
    assert_eq!(error_code(&refused).as_deref(), Some("BAD_USER_INPUT"));
    assert!(refused["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("requires approval"));

    // Without an offset the time is wall-clock time in the zone. Berlin springs forward
    // on 30 March 2031: 02:30 does not exist there; 03:30 is 01:30 UTC.
    let id = approved("Berlin").await;
    let gap = app
        .gql(
            Some(&owner.access),
            schedule,
            json!({ "id": id, "at": "2031-03-30T02:30:00", "tz": "Europe/Berlin" }),
        )
        .await;
    assert_eq!(error_code(&gap).as_deref(), Some("BAD_USER_INPUT"));
    assert!(
        gap["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("daylight saving"),
        "{gap}"
    );
    let ok = app
        .gql_ok(
            Some(&owner.access),
            schedule,
            json!({ "id": id, "at": "2031-03-30T03:30:00", "tz": "Europe/Berlin" }),
        )
        .await;
    assert_eq!(ok["scheduleDraft"]["status"], "SCHEDULED");
    assert_eq!(ok["scheduleDraft"]["timeZone"], "Europe/Berlin");
    let utc = |v: &serde_json::Value| {
        v["scheduleDraft"]["scheduledAt"]
            .as_str()
            .unwrap()
            .parse::<chrono::DateTime<chrono::Utc>>()
            .unwrap()
    };
    let instant = |text: &str| text.parse::<chrono::DateTime<chrono::Utc>>().unwrap();
    assert_eq!(utc(&ok), instant("2031-03-30T01:30:00Z"));

    // With an offset the value is that instant, whatever the zone: a browser's
    // toISOString() (Z) and an explicit offset are not reinterpreted.
    let z = approved("Zulu").await;
    let zulu = app
        .gql_ok(
            Some(&owner.access),
            schedule,
            json!({ "id": z, "at": "2031-12-04T08:06:47.000Z", "tz": "America/New_York" }),
        )
        .await;
    assert_eq!(utc(&zulu), instant("2031-12-04T08:06:47Z"));
    assert_eq!(zulu["scheduleDraft"]["timeZone"], "America/New_York");
    let o = approved("Offset").await;
    let offset = app
        .gql_ok(
            Some(&owner.access),
            schedule,
            json!({ "id": o, "at": "2031-12-04T08:06:47+00:00", "tz": "America/New_York" }),
        )
        .await;
    assert_eq!(utc(&offset), instant("2031-12-04T08:06:47Z"));
    let wall = approved("Wall clock").await;
    let in_new_york = app
        .gql_ok(
            Some(&owner.access),
            schedule,
            json!({ "id": wall, "at": "2031-12-04T08:06:47", "tz": "America/New_York" }),
        )
        .await;
    assert_eq!(utc(&in_new_york), instant("2031-12-04T13:06:47Z"));

    // New York falls back on 2 November 2031: 01:30 happens twice. Without an offset it
    // is refused and the answer names both; with one, the offset chooses.
    let first = approved("NY first").await;
    let second = approved("NY second").await;
    let twice = app
        .gql(
            Some(&owner.access),
            schedule,
            json!({ "id": first, "at": "2031-11-02T01:30:00", "tz": "America/New_York" }),
        )
        .await;
    assert_eq!(error_code(&twice).as_deref(), Some("BAD_USER_INPUT"));
    let message = twice["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("happens twice")
            && message.contains("-04:00")
            && message.contains("-05:00"),
        "{twice}"
    );
    let edt = app
        .gql_ok(
            Some(&owner.access),
            schedule,
            json!({ "id": first, "at": "2031-11-02T01:30:00-04:00", "tz": "America/New_York" }),
        )
        .await;
    let est = app
        .gql_ok(
            Some(&owner.access),
            schedule,
            json!({ "id": second, "at": "2031-11-02T01:30:00-05:00", "tz": "America/New_York" }),
        )
        .await;
    assert_eq!(utc(&edt), instant("2031-11-02T05:30:00Z"));
    assert_eq!(utc(&est), instant("2031-11-02T06:30:00Z"));
    // Nonsense is refused with the forms it takes.
    let nonsense = app
        .gql(
            Some(&owner.access),
            schedule,
            json!({ "id": second, "at": "next tuesday", "tz": "America/New_York" }),
        )
        .await;
    assert!(
        nonsense["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("wall-clock time"),
        "{nonsense}"
    );
    // And its spring gap.
    let third = approved("NY gap").await;
    let gap = app
        .gql(
            Some(&owner.access),
            schedule,
            json!({ "id": third, "at": "2031-03-09T02:30:00", "tz": "America/New_York" }),
        )
        .await;
    assert_eq!(error_code(&gap).as_deref(), Some("BAD_USER_INPUT"));

    // The past, unknown zones, and scheduling twice are refused.
    let past = app
        .gql(
            Some(&owner.access),
            schedule,
            json!({ "id": third, "at": "2020-01-01T10:00:00+00:00", "tz": "Europe/London" }),
        )
        .await;
    assert!(past["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("in the past"));
    let zone = app
        .gql(
            Some(&owner.access),
            schedule,
            json!({ "id": third, "at": "2031-05-01T10:00:00+00:00", "tz": "Mars/Olympus" }),
        )
        .await;
    assert!(zone["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("IANA"));
    let twice = app
        .gql(
            Some(&owner.access),
            schedule,
            json!({ "id": id, "at": "2031-05-01T10:00:00+02:00", "tz": "Europe/Berlin" }),
        )
        .await;
    assert!(twice["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("SCHEDULED"));

    // Without the approval requirement a draft goes straight to the schedule.
    let settings = app
        .gql_ok(
            Some(&owner.access),
            "mutation($w: ID!) { updateWorkspaceSettings(workspaceId: $w, approvalRequired: false) { approvalRequired } }",
            json!({ "w": ws }),
        )
        .await;
    assert_eq!(
        settings["updateWorkspaceSettings"]["approvalRequired"],
        false
    );
    let direct = app
        .gql_ok(
            Some(&owner.access),
            schedule,
            json!({ "id": plain, "at": "2031-06-01T09:00:00+02:00", "tz": "Europe/Berlin" }),
        )
        .await;
    assert_eq!(direct["scheduleDraft"]["status"], "SCHEDULED");
    // Berlin, three in New York (Z, +00:00, wall clock), two at the repeated hour,
    // and the direct one.
    assert_eq!(
        atelier::domain::ops::audit::count_action(&app.db, "draft.scheduled")
            .await
            .unwrap(),
        7
    );
    app.stop().await;
}
on_both_databases!(scheduling_respects_time_zones_and_approval);

/// A page that shows no body reads none, and a request that shows the texts in one place
/// and not in another gets them where it asks (the cached rows without texts are kept
/// apart from the whole ones).
async fn lists_read_texts_only_where_a_page_shows_them(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.signed_in_user("tex@example.com", "Tex Owner").await;
    let ws = app.create_workspace(&owner, "Texts Co").await;
    let draft = crate::publishing::draft_to(
        &app,
        &owner,
        &ws,
        "Texts",
        &[
            ("LINKEDIN", "The LinkedIn text"),
            ("YOUTUBE", "The YouTube text"),
        ],
    )
    .await;
    let both = app
        .gql_ok(
            Some(&owner.access),
            "query($w: ID!, $d: ID!) {
               workspace(id: $w) { drafts(first: 5) { edges { node { id title targets { provider } } } } }
               draft(id: $d) { body targets { provider title body } }
               again: workspace(id: $w) { drafts(first: 5) { edges { node { body targets { ...Text } } } } }
             }
             fragment Text on DraftTarget { body }",
            json!({ "w": ws, "d": draft }),
        )
        .await;
    let listed = &both["workspace"]["drafts"]["edges"][0]["node"];
    assert_eq!(listed["title"], "Texts");
    assert_eq!(
        listed["targets"],
        json!([{ "provider": "LINKEDIN" }, { "provider": "YOUTUBE" }])
    );
    assert_eq!(both["draft"]["body"], "Body");
    assert_eq!(
        both["draft"]["targets"],
        json!([
            { "provider": "LINKEDIN", "title": null, "body": "The LinkedIn text" },
            { "provider": "YOUTUBE", "title": "Texts", "body": "The YouTube text" }
        ])
    );
    let again = &both["again"]["drafts"]["edges"][0]["node"];
    assert_eq!(again["body"], "Body");
    assert_eq!(
        again["targets"],
        json!([{ "body": "The LinkedIn text" }, { "body": "The YouTube text" }])
    );
    app.stop().await;
}
on_both_databases!(lists_read_texts_only_where_a_page_shows_them);
