//! Media uploads over the GraphQL multipart request spec: the type read from the bytes,
//! de-duplication, signed links, attachment to drafts, deletion with the stored file.

use serde_json::{json, Value};

use crate::helpers::*;
use crate::on_both_databases;
use crate::workspaces::add_member;

/// A 1×1 transparent PNG.
pub(crate) const PNG: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4,
    0x89, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0D, 0x0A, 0x2D, 0xB4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE,
    0x42, 0x60, 0x82,
];

const UPLOAD: &str = "mutation($w: ID!, $file: Upload!) { uploadMedia(workspaceId: $w, file: $file) { id fileName contentType sizeBytes sha256 url uploadedBy { displayName } } }";

pub(crate) async fn upload(
    app: &TestApp,
    token: Option<&str>,
    ws: &str,
    name: &str,
    declared: &str,
    bytes: Vec<u8>,
) -> (u16, Value) {
    let operations = json!({ "query": UPLOAD, "variables": { "w": ws, "file": null } });
    let form = reqwest::multipart::Form::new()
        .text("operations", operations.to_string())
        .text("map", json!({ "0": ["variables.file"] }).to_string())
        .part(
            "0",
            reqwest::multipart::Part::bytes(bytes)
                .file_name(name.to_string())
                .mime_str(declared)
                .unwrap(),
        );
    let mut request = app
        .http
        .post(format!("{}/graphql", app.address))
        .multipart(form);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn media_are_checked_stored_once_and_deleted_with_their_files(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.media.max_bytes = 64 * 1024).await;
    let owner = app.signed_in_user("media@example.com", "Mia Owner").await;
    let ws = app.create_workspace(&owner, "Media Co").await;
    let editor = add_member(&app, &owner, &ws, "media.ed@example.com", "EDITOR").await;
    let viewer = add_member(&app, &owner, &ws, "media.view@example.com", "VIEWER").await;

    // The happy path: the type comes from the bytes, the name loses its path.
    let (status, body) = upload(
        &app,
        Some(&editor.access),
        &ws,
        "../../photos/pixel.png",
        "image/png",
        PNG.to_vec(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let item = body["data"]["uploadMedia"].clone();
    assert_eq!(item["fileName"], "pixel.png");
    assert_eq!(item["contentType"], "image/png");
    assert_eq!(item["sizeBytes"], PNG.len());
    use sha2::Digest;
    assert_eq!(item["sha256"], hex::encode(sha2::Sha256::digest(PNG)));
    let id = item["id"].as_str().unwrap().to_string();

    // The signed link serves the bytes; a tampered or expired one does not.
    let url = item["url"].as_str().unwrap().to_string();
    let served = app.http.get(&url).send().await.unwrap();
    assert_eq!(served.status(), 200);
    assert_eq!(served.headers()["content-type"], "image/png");
    assert_eq!(served.headers()["x-content-type-options"], "nosniff");
    assert_eq!(served.bytes().await.unwrap().as_ref(), PNG);
    let tampered = url.replace(&id, &uuid::Uuid::now_v7().to_string());
    assert_eq!(app.http.get(&tampered).send().await.unwrap().status(), 403);
    let expired = format!("{}/media/{id}?expires=1&signature=00", app.address);
    assert_eq!(app.http.get(&expired).send().await.unwrap().status(), 403);

    // The same bytes again: the same media, stored once.
    let (_, again) = upload(
        &app,
        Some(&owner.access),
        &ws,
        "copy.png",
        "image/png",
        PNG.to_vec(),
    )
    .await;
    assert_eq!(again["data"]["uploadMedia"]["id"], id.as_str());

    // Refused: a lying content type, bytes of no accepted type, too large, a viewer,
    // no token, a stranger's workspace.
    let (_, lying) = upload(
        &app,
        Some(&editor.access),
        &ws,
        "x.jpg",
        "image/jpeg",
        PNG.to_vec(),
    )
    .await;
    assert_eq!(error_code(&lying).as_deref(), Some("BAD_USER_INPUT"));
    assert!(lying["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("claims to be image/jpeg but its contents are image/png"));
    let (_, html) = upload(
        &app,
        Some(&editor.access),
        &ws,
        "x.png",
        "image/png",
        b"<html><script>alert(1)</script></html>".to_vec(),
    )
    .await;
    assert_eq!(error_code(&html).as_deref(), Some("BAD_USER_INPUT"));
    let said = html["errors"][0]["message"].as_str().unwrap();
    assert!(
        said.contains("not accepted") || said.contains("cannot be recognised"),
        "{said}"
    );
    let mut big = PNG.to_vec();
    big.resize(128 * 1024, 0);
    let (status, large) =
        upload(&app, Some(&editor.access), &ws, "big.png", "image/png", big).await;
    assert!(
        status == 400 || error_code(&large).as_deref() == Some("BAD_USER_INPUT"),
        "{status} {large}"
    );
    let (_, refused) = upload(
        &app,
        Some(&viewer.access),
        &ws,
        "v.png",
        "image/png",
        PNG.to_vec(),
    )
    .await;
    assert_eq!(error_code(&refused).as_deref(), Some("FORBIDDEN"));
    let (status, _) = upload(&app, None, &ws, "anon.png", "image/png", PNG.to_vec()).await;
    assert_eq!(status, 401);
    let stranger = app.signed_in_user("media.out@example.com", "Out").await;
    let (_, refused) = upload(
        &app,
        Some(&stranger.access),
        &ws,
        "s.png",
        "image/png",
        PNG.to_vec(),
    )
    .await;
    assert_eq!(error_code(&refused).as_deref(), Some("NOT_FOUND"));

    // Attach to a draft, list, then delete: the row, the attachment and the file go.
    let draft = app
        .gql_ok(
            Some(&editor.access),
            "mutation($i: CreateDraftInput!) { createDraft(input: $i) { id } }",
            json!({ "i": { "workspaceId": ws, "title": "With a picture" } }),
        )
        .await["createDraft"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let attach = "mutation($d: ID!, $m: ID!) { attachMedia(draftId: $d, mediaId: $m) { media { id contentType } } }";
    let refused = app
        .gql(Some(&viewer.access), attach, json!({ "d": draft, "m": id }))
        .await;
    assert_eq!(error_code(&refused).as_deref(), Some("FORBIDDEN"));
    let attached = app
        .gql_ok(Some(&editor.access), attach, json!({ "d": draft, "m": id }))
        .await;
    assert_eq!(attached["attachMedia"]["media"][0]["id"], id.as_str());
    let listed = app
        .gql_ok(Some(&viewer.access), "query($w: ID!) { workspace(id: $w) { media(first: 10) { edges { node { id fileName } } } } }", json!({ "w": ws }))
        .await;
    assert_eq!(
        listed["workspace"]["media"]["edges"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let stored = app
        .data_dir()
        .join("media")
        .join("workspaces")
        .join(&ws)
        .join(&id);
    assert!(
        stored.exists(),
        "stored under the data directory: {}",
        stored.display()
    );
    let delete = "mutation($id: ID!) { deleteMedia(id: $id) }";
    let refused = app
        .gql(Some(&viewer.access), delete, json!({ "id": id }))
        .await;
    assert_eq!(error_code(&refused).as_deref(), Some("FORBIDDEN"));
    let refused = app
        .gql(Some(&stranger.access), delete, json!({ "id": id }))
        .await;
    assert_eq!(error_code(&refused).as_deref(), Some("NOT_FOUND"));
    app.gql_ok(Some(&owner.access), delete, json!({ "id": id }))
        .await;
    assert!(!stored.exists(), "the stored file is deleted too");
    let after = app
        .gql_ok(
            Some(&editor.access),
            "query($id: ID!) { draft(id: $id) { media { id } } }",
            json!({ "id": draft }),
        )
        .await;
    assert_eq!(after["draft"]["media"], json!([]));
    assert_eq!(app.http.get(&url).send().await.unwrap().status(), 404);
    assert_eq!(
        atelier::domain::ops::audit::count_action(&app.db, "media.deleted")
            .await
            .unwrap(),
        1
    );
    app.stop().await;
}
on_both_databases!(media_are_checked_stored_once_and_deleted_with_their_files);
