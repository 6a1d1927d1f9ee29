//! Workspace roles and membership rules, enforced in one place, seen through the API.

use serde_json::json;

use crate::helpers::*;
use crate::on_both_databases;

const CHANGE_ROLE: &str =
    "mutation($w: ID!, $u: ID!, $r: Role!) { changeMemberRole(workspaceId: $w, userId: $u, role: $r) { role user { email } } }";
const REMOVE: &str = "mutation($w: ID!, $u: ID!) { removeMember(workspaceId: $w, userId: $u) }";

/// Invites `email` with `role` and has them accept; returns their session.
pub(crate) async fn add_member(
    app: &TestApp,
    owner: &Session,
    workspace_id: &str,
    email: &str,
    role: &str,
) -> Session {
    add_named_member(app, owner, workspace_id, email, "Member", role).await
}

/// `add_member` for someone who signs up as `name`.
pub(crate) async fn add_named_member(
    app: &TestApp,
    owner: &Session,
    workspace_id: &str,
    email: &str,
    name: &str,
    role: &str,
) -> Session {
    app.gql_ok(
        Some(&owner.access),
        INVITE,
        json!({ "input": { "workspaceId": workspace_id, "email": email, "role": role } }),
    )
    .await;
    let invitation = app.inbox.wait_for(email, 1).await;
    let session = app.signed_in_user(email, name).await;
    app.gql_ok(
        Some(&session.access),
        ACCEPT,
        json!({ "token": invitation.token() }),
    )
    .await;
    session
}

async fn role_rules_hold(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app
        .signed_in_user("owner@example.com", "Olivia Owner")
        .await;
    let ws = app.create_workspace(&owner, "Rules Inc").await;
    let admin = add_member(&app, &owner, &ws, "admin@example.com", "ADMIN").await;
    let editor = add_member(&app, &owner, &ws, "editor@example.com", "EDITOR").await;
    let viewer = add_member(&app, &owner, &ws, "viewer@example.com", "VIEWER").await;

    // An ADMIN can invite, but not an OWNER.
    let response = app
        .gql(
            Some(&admin.access),
            INVITE,
            json!({ "input": { "workspaceId": ws, "email": "o2@example.com", "role": "OWNER" } }),
        )
        .await;
    assert_eq!(
        error_code(&response).as_deref(),
        Some("FORBIDDEN"),
        "{response}"
    );
    // An EDITOR cannot invite at all, nor change roles.
    let response = app
        .gql(
            Some(&editor.access),
            INVITE,
            json!({ "input": { "workspaceId": ws, "email": "e2@example.com", "role": "VIEWER" } }),
        )
        .await;
    assert_eq!(error_code(&response).as_deref(), Some("FORBIDDEN"));
    let response = app
        .gql(
            Some(&editor.access),
            CHANGE_ROLE,
            json!({ "w": ws, "u": viewer.user_id, "r": "EDITOR" }),
        )
        .await;
    assert_eq!(error_code(&response).as_deref(), Some("FORBIDDEN"));
    // ADMIN promotes a viewer to editor; cannot touch another admin or the owner.
    let promoted = app
        .gql_ok(
            Some(&admin.access),
            CHANGE_ROLE,
            json!({ "w": ws, "u": viewer.user_id, "r": "EDITOR" }),
        )
        .await;
    assert_eq!(promoted["changeMemberRole"]["role"], "EDITOR");
    let response = app
        .gql(
            Some(&admin.access),
            CHANGE_ROLE,
            json!({ "w": ws, "u": owner.user_id, "r": "VIEWER" }),
        )
        .await;
    assert_eq!(error_code(&response).as_deref(), Some("FORBIDDEN"));
    // VIEWERs and EDITORs cannot read the audit log or billing.
    let response = app
        .gql(
            Some(&editor.access),
            "query($id: ID!) { workspace(id: $id) { auditLog { edges { cursor } } } }",
            json!({ "id": ws }),
        )
        .await;
    assert_eq!(error_code(&response).as_deref(), Some("FORBIDDEN"));
    // Billing is the OWNER's.
    let billing = "mutation($w: ID!) { updateBillingProfile(workspaceId: $w, input: {country: \"de\", legalName: \"Rules GmbH\"}) { billingProfile { country legalName } } }";
    let response = app
        .gql(Some(&admin.access), billing, json!({ "w": ws }))
        .await;
    assert_eq!(error_code(&response).as_deref(), Some("FORBIDDEN"));
    let updated = app
        .gql_ok(Some(&owner.access), billing, json!({ "w": ws }))
        .await;
    assert_eq!(
        updated["updateBillingProfile"]["billingProfile"]["country"],
        "DE"
    );
    let response = app
        .gql(
            Some(&owner.access),
            "mutation($w: ID!) { updateBillingProfile(workspaceId: $w, input: {country: \"Germany\"}) { id } }",
            json!({ "w": ws }),
        )
        .await;
    assert_eq!(error_code(&response).as_deref(), Some("BAD_USER_INPUT"));

    // Two owners: one may step down; then the last may not.
    app.gql_ok(
        Some(&owner.access),
        CHANGE_ROLE,
        json!({ "w": ws, "u": admin.user_id, "r": "OWNER" }),
    )
    .await;
    app.gql_ok(
        Some(&admin.access),
        CHANGE_ROLE,
        json!({ "w": ws, "u": owner.user_id, "r": "ADMIN" }),
    )
    .await;
    let response = app
        .gql(
            Some(&admin.access),
            REMOVE,
            json!({ "w": ws, "u": admin.user_id }),
        )
        .await;
    assert_eq!(error_code(&response).as_deref(), Some("BAD_USER_INPUT"));

    // A member may leave; a removed member loses access (the workspace reads as null).
    let left = app
        .gql_ok(
            Some(&viewer.access),
            REMOVE,
            json!({ "w": ws, "u": viewer.user_id }),
        )
        .await;
    assert_eq!(left["removeMember"], true);
    let gone = app
        .gql_ok(
            Some(&viewer.access),
            "query($id: ID!) { workspace(id: $id) { id } }",
            json!({ "id": ws }),
        )
        .await;
    assert!(gone["workspace"].is_null());
    // An outsider cannot act on the workspace at all.
    let response = app
        .gql(
            Some(&viewer.access),
            REMOVE,
            json!({ "w": ws, "u": editor.user_id }),
        )
        .await;
    assert_eq!(error_code(&response).as_deref(), Some("NOT_FOUND"));
    // Inviting an existing member conflicts.
    let response = app
        .gql(Some(&admin.access), INVITE, json!({ "input": { "workspaceId": ws, "email": "editor@example.com", "role": "VIEWER" } }))
        .await;
    assert_eq!(error_code(&response).as_deref(), Some("CONFLICT"));
    app.stop().await;
}
on_both_databases!(role_rules_hold);

async fn invitations_go_only_to_the_invited_address(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app
        .signed_in_user("owner@example.com", "Olivia Owner")
        .await;
    let ws = app.create_workspace(&owner, "Private Co").await;
    app.gql_ok(
        Some(&owner.access),
        INVITE,
        json!({ "input": { "workspaceId": ws, "email": "right@example.com", "role": "EDITOR" } }),
    )
    .await;
    let token = app.inbox.wait_for("right@example.com", 1).await.token();

    // Someone else holding the link cannot use it, and it stays usable.
    let intruder = app.signed_in_user("intruder@example.com", "Ivan").await;
    let response = app
        .gql(Some(&intruder.access), ACCEPT, json!({ "token": token }))
        .await;
    assert_eq!(
        error_code(&response).as_deref(),
        Some("FORBIDDEN"),
        "{response}"
    );
    // Signed out: refused.
    let response = app.gql(None, ACCEPT, json!({ "token": token })).await;
    assert_eq!(error_code(&response).as_deref(), Some("UNAUTHENTICATED"));

    let right = app.signed_in_user("right@example.com", "Rhea Right").await;
    let accepted = app
        .gql_ok(Some(&right.access), ACCEPT, json!({ "token": token }))
        .await;
    assert_eq!(accepted["acceptInvitation"]["role"], "EDITOR");
    // Single use.
    let response = app
        .gql(Some(&right.access), ACCEPT, json!({ "token": token }))
        .await;
    assert_eq!(error_code(&response).as_deref(), Some("BAD_USER_INPUT"));

    // A newer invitation replaces a pending one: the old link stops working.
    app.gql_ok(
        Some(&owner.access),
        INVITE,
        json!({ "input": { "workspaceId": ws, "email": "twice@example.com", "role": "VIEWER" } }),
    )
    .await;
    let old = app.inbox.wait_for("twice@example.com", 1).await.token();
    app.gql_ok(
        Some(&owner.access),
        INVITE,
        json!({ "input": { "workspaceId": ws, "email": "twice@example.com", "role": "EDITOR" } }),
    )
    .await;
    let new = app.inbox.wait_for("twice@example.com", 2).await.token();
    let twice = app.signed_in_user("twice@example.com", "Tess").await;
    let response = app
        .gql(Some(&twice.access), ACCEPT, json!({ "token": old }))
        .await;
    assert_eq!(error_code(&response).as_deref(), Some("BAD_USER_INPUT"));
    let accepted = app
        .gql_ok(Some(&twice.access), ACCEPT, json!({ "token": new }))
        .await;
    assert_eq!(accepted["acceptInvitation"]["role"], "EDITOR");
    app.stop().await;
}
on_both_databases!(invitations_go_only_to_the_invited_address);

async fn lists_page_with_keyset_cursors(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.signed_in_user("pager@example.com", "Paige").await;
    let mut created = Vec::new();
    for i in 0..7 {
        created.push(app.create_workspace(&owner, &format!("Space {i}")).await);
    }
    let query = "query($after: String) { me { workspaces(first: 3, after: $after) { edges { cursor node { id name } } pageInfo { hasNextPage endCursor } } } }";
    let mut seen = Vec::new();
    let mut after = serde_json::Value::Null;
    loop {
        let page = app
            .gql_ok(Some(&owner.access), query, json!({ "after": after }))
            .await;
        let conn = &page["me"]["workspaces"];
        for edge in conn["edges"].as_array().unwrap() {
            seen.push(edge["node"]["id"].as_str().unwrap().to_string());
        }
        if !conn["pageInfo"]["hasNextPage"].as_bool().unwrap() {
            break;
        }
        after = conn["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(seen, created);
    app.stop().await;
}
on_both_databases!(lists_page_with_keyset_cursors);

async fn concurrent_writes_all_succeed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.signed_in_user("busy@example.com", "Bea Busy").await;
    let mut tasks = Vec::new();
    for i in 0..24 {
        let http = app.http.clone();
        let url = format!("{}/graphql", app.address);
        let token = owner.access.clone();
        tasks.push(tokio::spawn(async move {
            let body: serde_json::Value = http
                .post(url)
                .bearer_auth(token)
                .json(&json!({
                    "query": "mutation($i: CreateWorkspaceInput!) { createWorkspace(input: $i) { id slug } }",
                    "variables": { "i": { "name": "Same Name" } }
                }))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            (i, body)
        }));
    }
    let mut slugs = std::collections::HashSet::new();
    for task in tasks {
        let (i, body) = task.await.unwrap();
        assert!(body.get("errors").is_none(), "write {i} failed: {body}");
        slugs.insert(
            body["data"]["createWorkspace"]["slug"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    assert_eq!(slugs.len(), 24, "every workspace gets its own slug");
    let report = atelier::domain::ops::audit::verify_chain(&app.db)
        .await
        .unwrap();
    assert!(
        report.is_intact(),
        "concurrent appends keep the chain linear: {report:?}"
    );
    app.stop().await;
}
on_both_databases!(concurrent_writes_all_succeed);

const SETTINGS: &str = "mutation($w: ID!, $b: String, $c: String, $r: String) { updateWorkspaceSettings(workspaceId: $w, brandName: $b, company: $c, region: $r) { brandName company region } }";

/// An ADMIN sets the brand name, company and region; an EDITOR cannot; bad values are
/// refused and change nothing; an empty value clears one.
async fn brand_company_and_region_are_set_by_admins(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.signed_in_user("brand@example.com", "Bran Owner").await;
    let ws = app.create_workspace(&owner, "Brand Co").await;
    let admin = add_member(&app, &owner, &ws, "brand.admin@example.com", "ADMIN").await;
    let editor = add_member(&app, &owner, &ws, "brand.ed@example.com", "EDITOR").await;

    let set = app
        .gql_ok(
            Some(&admin.access),
            SETTINGS,
            json!({ "w": ws, "b": "  Brandly ", "c": "Brand Co GmbH", "r": "EU" }),
        )
        .await;
    assert_eq!(
        set["updateWorkspaceSettings"],
        json!({ "brandName": "Brandly", "company": "Brand Co GmbH", "region": "EU" })
    );
    let refused = app
        .gql(
            Some(&editor.access),
            SETTINGS,
            json!({ "w": ws, "b": "Mine now" }),
        )
        .await;
    assert_eq!(error_code(&refused).as_deref(), Some("FORBIDDEN"));
    for (field, value) in [
        ("b", "x".repeat(101)),
        ("c", "x".repeat(201)),
        ("r", "bad\u{0007}region".to_string()),
    ] {
        let refused = app
            .gql(
                Some(&admin.access),
                SETTINGS,
                json!({ "w": ws, field: value }),
            )
            .await;
        assert_eq!(
            error_code(&refused).as_deref(),
            Some("BAD_USER_INPUT"),
            "{field}"
        );
    }
    // Only the region is cleared; the others are left as they were.
    let cleared = app
        .gql_ok(Some(&owner.access), SETTINGS, json!({ "w": ws, "r": "" }))
        .await;
    assert_eq!(
        cleared["updateWorkspaceSettings"],
        json!({ "brandName": "Brandly", "company": "Brand Co GmbH", "region": null })
    );
    app.stop().await;
}
on_both_databases!(brand_company_and_region_are_set_by_admins);

const DELETE: &str =
    "mutation($id: ID!, $n: String!) { deleteWorkspace(id: $id, confirmName: $n) }";

/// An OWNER deletes a workspace by typing its name: its channel is revoked at the
/// platform, its media objects and every row hanging from it are gone, its members are
/// told; anyone else, or the wrong name, changes nothing; the owner's other workspace
/// is untouched.
async fn an_owner_deletes_a_workspace_and_nothing_of_it_is_left(backend: Backend) {
    use atelier::domain::entities::{
        comments, draft_targets, drafts, integration_tokens, integrations, media, memberships,
        metric_points, workspaces,
    };
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    let fake = crate::fake_provider::FakeProvider::start().await;
    let app = crate::publishing::spawn(backend, &fake).await;
    let owner = app
        .signed_in_user("del.owner@example.com", "Dee Owner")
        .await;
    let ws = crate::publishing::workspace(&app, &owner, "Gone Co").await;
    let kept = app.create_workspace(&owner, "Kept Co").await;
    let admin = add_member(&app, &owner, &ws, "del.admin@example.com", "ADMIN").await;
    crate::channels::connect(&app, &owner, &ws, "LINKEDIN").await;
    let token = fake.issued().last().cloned().expect("a token was issued");
    let draft =
        crate::publishing::draft_to(&app, &owner, &ws, "Doomed", &[("LINKEDIN", "Soon gone")])
            .await;
    crate::publishing::attach(
        &app,
        &owner,
        &ws,
        &draft,
        "a.png",
        "image/png",
        crate::media::PNG,
    )
    .await;
    app.gql_ok(
        Some(&admin.access),
        "mutation($i: AddCommentInput!) { addComment(input: $i) { id } }",
        json!({ "i": { "draftId": draft, "body": "Last words" } }),
    )
    .await;
    let media_dir = app.data_dir().join("media");
    assert!(!crate::erasure::walk(&media_dir).is_empty());

    // Refused: an ADMIN, the wrong name, a stranger.
    let refused = app
        .gql(
            Some(&admin.access),
            DELETE,
            json!({ "id": ws, "n": "Gone Co" }),
        )
        .await;
    assert_eq!(
        error_code(&refused).as_deref(),
        Some("FORBIDDEN"),
        "{refused}"
    );
    let refused = app
        .gql(
            Some(&owner.access),
            DELETE,
            json!({ "id": ws, "n": "gone co" }),
        )
        .await;
    assert_eq!(
        error_code(&refused).as_deref(),
        Some("BAD_USER_INPUT"),
        "{refused}"
    );
    let stranger = app.signed_in_user("del.out@example.com", "Out").await;
    let refused = app
        .gql(
            Some(&stranger.access),
            DELETE,
            json!({ "id": ws, "n": "Gone Co" }),
        )
        .await;
    assert_eq!(
        error_code(&refused).as_deref(),
        Some("NOT_FOUND"),
        "{refused}"
    );
    let id: uuid::Uuid = ws.parse().unwrap();
    assert_eq!(
        workspaces::Entity::find_by_id(id)
            .count(&app.db)
            .await
            .unwrap(),
        1
    );

    let done = app
        .gql_ok(
            Some(&owner.access),
            DELETE,
            json!({ "id": ws, "n": " Gone Co " }),
        )
        .await;
    assert_eq!(done["deleteWorkspace"], true);
    // Nothing of it is left.
    assert_eq!(
        workspaces::Entity::find_by_id(id)
            .count(&app.db)
            .await
            .unwrap(),
        0
    );
    let in_ws = |n: u64, what: &str| assert_eq!(n, 0, "{what} left");
    in_ws(
        memberships::Entity::find()
            .filter(memberships::Column::WorkspaceId.eq(id))
            .count(&app.db)
            .await
            .unwrap(),
        "memberships",
    );
    in_ws(
        drafts::Entity::find()
            .filter(drafts::Column::WorkspaceId.eq(id))
            .count(&app.db)
            .await
            .unwrap(),
        "drafts",
    );
    in_ws(
        media::Entity::find()
            .filter(media::Column::WorkspaceId.eq(id))
            .count(&app.db)
            .await
            .unwrap(),
        "media",
    );
    in_ws(
        integrations::Entity::find()
            .filter(integrations::Column::WorkspaceId.eq(id))
            .count(&app.db)
            .await
            .unwrap(),
        "channels",
    );
    in_ws(
        metric_points::Entity::find()
            .filter(metric_points::Column::WorkspaceId.eq(id))
            .count(&app.db)
            .await
            .unwrap(),
        "metrics",
    );
    in_ws(
        integration_tokens::Entity::find()
            .count(&app.db)
            .await
            .unwrap(),
        "tokens",
    );
    in_ws(
        draft_targets::Entity::find().count(&app.db).await.unwrap(),
        "targets",
    );
    in_ws(
        comments::Entity::find().count(&app.db).await.unwrap(),
        "comments",
    );
    assert_eq!(
        crate::erasure::walk(&media_dir).len(),
        0,
        "the stored objects are deleted"
    );
    // The platform is told, the members are emailed, the log keeps the event.
    eventually(20, "the platform saw the revocation", || async {
        if fake.revoked().contains(&token) {
            Ok(())
        } else {
            Err(format!("{:?}", fake.revoked()))
        }
    })
    .await;
    app.pump_jobs().await;
    for member in ["del.owner@example.com", "del.admin@example.com"] {
        app.inbox
            .wait_for_subject(member, "Gone Co was deleted")
            .await;
    }
    assert_eq!(
        atelier::domain::ops::audit::count_action(&app.db, "workspace.deleted")
            .await
            .unwrap(),
        1
    );
    // The owner's other workspace is as it was.
    let other = app
        .gql_ok(
            Some(&owner.access),
            "query($w: ID!) { workspace(id: $w) { name myRole } }",
            json!({ "w": kept }),
        )
        .await;
    assert_eq!(
        other["workspace"],
        json!({ "name": "Kept Co", "myRole": "OWNER" })
    );
    app.stop().await;
}
on_both_databases!(an_owner_deletes_a_workspace_and_nothing_of_it_is_left);
