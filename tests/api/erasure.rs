//! Fulfilment: an approved erasure runs through every system, resumes after a failure
//! without redoing finished steps, and leaves no byte of the person behind; a restriction
//! is applied and lifted.

use std::time::Duration;

use atelier::domain::channels::integrations::{self as channel, ConnectedAccount, TokenSet};
use atelier::domain::entities::{
    integration_tokens, integrations, memberships, privacy_execution_steps as steps,
    privacy_requests, sessions, staff_users, users, workspaces,
};
use atelier::domain::ops::audit::{self, Actor};
use atelier::domain::platforms::Provider;
use atelier::domain::privacy::fulfil;
use atelier::domain::staff::accounts::{self as staff, StaffRole};
use atelier::domain::{workspace::workspaces as ws, RequestMeta};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use secrecy::SecretString;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::on_both_databases;

/// A COMPLIANCE officer signed in to the staff portal.
async fn officer(app: &TestApp) -> reqwest::Client {
    staff::create_staff(
        &app.db,
        "officer@atelier.test",
        "Olga Officer",
        STAFF_PASSWORD,
        StaffRole::Compliance,
        Actor::System,
        &RequestMeta::default(),
    )
    .await
    .unwrap();
    let client = browser();
    let page = client
        .get(format!("{}/staff/login", app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = hidden(&page, "csrf");
    let response = client
        .post(format!("{}/staff/login", app.address))
        .form(&[
            ("email", "officer@atelier.test"),
            ("password", STAFF_PASSWORD),
            ("csrf", csrf.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    client
}

async fn staff_action(
    client: &reqwest::Client,
    app: &TestApp,
    id: uuid::Uuid,
    action: &str,
    fields: &[(&str, &str)],
) {
    let page = client
        .get(format!("{}/staff/requests/{id}", app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = hidden(&page, "csrf");
    let mut form = vec![("csrf", csrf.as_str())];
    form.extend_from_slice(fields);
    let response = client
        .post(format!("{}/staff/requests/{id}/{action}", app.address))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303, "{action} should succeed");
}

async fn wait_for_status(app: &TestApp, id: uuid::Uuid, status: &str) -> privacy_requests::Model {
    let deadline = std::time::Instant::now() + crate::helpers::PATIENCE;
    loop {
        let request = privacy_requests::Entity::find_by_id(id)
            .one(&app.db)
            .await
            .unwrap()
            .unwrap();
        if request.status == status {
            return request;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "request stuck in {}",
            request.status
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Erin: a solo workspace, a shared one she alone owns (Frank is ADMIN), an Instagram
/// channel she connected, an earlier export request, and an erasure request confirmed by
/// email. Returns Erin's session and the erasure request's id.
async fn erin_asks_to_be_erased(app: &TestApp) -> (Session, uuid::Uuid, String) {
    let erin = app
        .signed_in_user("erin.eraseme@example.com", "Erin Eraseme")
        .await;
    let solo = app.create_workspace(&erin, "Erin Solo Studio").await;
    let shared = app.create_workspace(&erin, "Shared Agency").await;
    app.gql_ok(
        Some(&erin.access),
        INVITE,
        json!({ "input": { "workspaceId": shared, "email": "frank@example.com", "role": "ADMIN" } }),
    )
    .await;
    let invitation = app.inbox.wait_for("frank@example.com", 1).await.token();
    let frank = app
        .signed_in_user("frank@example.com", "Frank Keeper")
        .await;
    app.gql_ok(Some(&frank.access), ACCEPT, json!({ "token": invitation }))
        .await;

    let access = ws::require_access(
        &app.db,
        erin.user_id.parse().unwrap(),
        shared.parse().unwrap(),
    )
    .await
    .unwrap();
    channel::upsert_connection(
        &app.db,
        &app.vault(),
        &access,
        Provider::Instagram,
        ConnectedAccount {
            external_account_id: "17841400000000001".into(),
            handle: Some("erin.eraseme.makes".into()),
            display_name: Some("Erin makes".into()),
            scopes: vec!["instagram_basic".into()],
            platform_user_id: None,
        },
        TokenSet {
            access_token: SecretString::from("erin-access-token"),
            refresh_token: Some(SecretString::from("erin-refresh-token")),
            expires_at: None,
        },
        &RequestMeta::default(),
    )
    .await
    .unwrap();
    // Analytics in both workspaces: those of her solo workspace go with it.
    let solo_access = ws::require_access(
        &app.db,
        erin.user_id.parse().unwrap(),
        solo.parse().unwrap(),
    )
    .await
    .unwrap();
    let solo_channel = channel::upsert_connection(
        &app.db,
        &app.vault(),
        &solo_access,
        Provider::Linkedin,
        ConnectedAccount {
            external_account_id: "erin-linkedin".into(),
            handle: None,
            display_name: Some("Erin on LinkedIn".into()),
            scopes: vec![],
            platform_user_id: None,
        },
        TokenSet {
            access_token: SecretString::from("erin-li-access"),
            refresh_token: None,
            expires_at: None,
        },
        &RequestMeta::default(),
    )
    .await
    .unwrap();
    let shared_channel = channel::list(&app.db, shared.parse().unwrap())
        .await
        .unwrap()[0]
        .id;
    let today = chrono::Utc::now().date_naive();
    let points: Vec<_> = [
        (solo_channel.id, solo.parse().unwrap()),
        (shared_channel, shared.parse().unwrap()),
    ]
    .into_iter()
    .flat_map(|(channel, workspace)| {
        (0..3).map(move |back| atelier::domain::channels::analytics::NewPoint {
            workspace_id: workspace,
            integration_id: channel,
            target_id: None,
            metric: atelier::domain::channels::analytics::Metric::Impressions,
            day: today - chrono::Duration::days(back),
            value: 100,
        })
    })
    .collect();
    atelier::domain::channels::analytics::upsert(
        &app.db,
        &points,
        atelier::domain::channels::analytics::Source::Api,
    )
    .await
    .unwrap();

    let draft = app.gql_ok(
        Some(&erin.access),
        "mutation($i: CreateDraftInput!) { createDraft(input: $i) { id } }",
        json!({ "i": { "workspaceId": shared, "title": "Autumn campaign", "body": "Plan for the autumn." } }),
    )
    .await["createDraft"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    // A discussion on it, and pictures in both workspaces.
    let comment = "mutation($i: AddCommentInput!) { addComment(input: $i) { id } }";
    app.gql_ok(
        Some(&erin.access),
        comment,
        json!({ "i": { "draftId": draft, "body": format!("<@{}> signed, Erin Eraseme", frank.user_id) } }),
    )
    .await;
    app.gql_ok(
        Some(&frank.access),
        comment,
        json!({ "i": { "draftId": draft, "body": format!("Thanks <@{}>!", erin.user_id) } }),
    )
    .await;
    let mut other_png = crate::media::PNG.to_vec();
    other_png.extend_from_slice(b"-shared");
    for (workspace, bytes) in [(&solo, crate::media::PNG.to_vec()), (&shared, other_png)] {
        let (status, body) = crate::media::upload(
            app,
            Some(&erin.access),
            workspace,
            "pixel.png",
            "image/png",
            bytes,
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    app.gql_ok(
        Some(&erin.access),
        "mutation { requestDataExport { reference } }",
        json!({}),
    )
    .await;
    let erase = app
        .gql_ok(
            Some(&erin.access),
            "mutation($p: String!) { requestAccountErasure(password: $p) { id reference } }",
            json!({ "p": PASSWORD }),
        )
        .await;
    let id: uuid::Uuid = erase["requestAccountErasure"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    // Confirm through the emailed link (the newest email to Erin).
    let count = app.inbox.to("erin.eraseme@example.com").len();
    let mail = app
        .inbox
        .wait_for("erin.eraseme@example.com", count.max(3))
        .await;
    assert!(mail.decoded().contains(
        erase["requestAccountErasure"]["reference"]
            .as_str()
            .unwrap()
    ));
    atelier::domain::privacy::requests::confirm(
        &app.db,
        &app.vault(),
        &mail.token(),
        &RequestMeta::default(),
    )
    .await
    .unwrap();
    (erin, id, shared)
}

/// Every file under a directory.
pub(crate) fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

async fn erasure_leaves_nothing_behind(backend: Backend) {
    let sqlite = matches!(backend, Backend::Sqlite);
    let platform = crate::fake_provider::FakeProvider::start().await;
    let app = TestApp::spawn_with(backend, |config| {
        config.providers.instagram = platform.meta_settings();
    })
    .await;
    let (erin, id, shared) = erin_asks_to_be_erased(&app).await;
    let erin_id: uuid::Uuid = erin.user_id.parse().unwrap();
    // An email to her that was given up on still holds her (sealed) address and text;
    // queued and marked failed in one transaction so the runner never sends it.
    {
        use atelier::domain::entities::jobs as job_rows;
        use sea_orm::TransactionTrait;
        let txn = app.db.begin().await.unwrap();
        atelier::domain::ops::outbox::enqueue(
            &txn,
            app.vault_ref(),
            &atelier::domain::ops::outbox::Email::AccountExists {
                to: "erin.eraseme@example.com".into(),
                display_name: "Erin Eraseme".into(),
            },
        )
        .await
        .unwrap();
        job_rows::Entity::update_many()
            .col_expr(
                job_rows::Column::FailedAt,
                sea_orm::sea_query::Expr::value(chrono::Utc::now()),
            )
            .filter(job_rows::Column::Kind.eq(atelier::domain::ops::jobs::kind::SEND_EMAIL))
            .filter(job_rows::Column::DoneAt.is_null())
            .filter(job_rows::Column::Attempts.eq(0))
            .exec(&txn)
            .await
            .unwrap();
        txn.commit().await.unwrap();
    }
    // An audit event with a detail naming her, sealed with her own data key.
    let sealed = atelier::domain::privacy::person_keys::seal(
        &app.db,
        app.vault_ref(),
        erin_id,
        &json!({ "name": "Erin Eraseme", "email": "erin.eraseme@example.com" }),
    )
    .await
    .unwrap();
    audit::record(
        &app.db,
        audit::NewEvent::new(audit::Actor::User(erin_id), "test.personal_detail")
            .details(json!({ "detail_sealed": sealed })),
        &RequestMeta::default(),
    )
    .await
    .unwrap();
    assert!(atelier::domain::privacy::person_keys::open(
        &app.db,
        app.vault_ref(),
        erin_id,
        &sealed
    )
    .await
    .unwrap()
    .is_some());
    let staff = officer(&app).await;
    staff_action(
        &staff,
        &app,
        id,
        "verify-identity",
        &[("method", "Signed in and re-entered the password")],
    )
    .await;
    staff_action(&staff, &app, id, "approve", &[]).await;
    let done = wait_for_status(&app, id, "COMPLETED").await;
    // Crypto-shredded: the event is still in the chain, its detail opens no more.
    assert!(atelier::domain::privacy::person_keys::open(
        &app.db,
        app.vault_ref(),
        erin_id,
        &sealed
    )
    .await
    .unwrap()
    .is_none());
    assert_eq!(
        audit::count_action(&app.db, "test.personal_detail")
            .await
            .unwrap(),
        1
    );

    // The completion notice reaches her; the record keeps no contact details.
    let notice = app
        .inbox
        .wait_for_subject("erin.eraseme@example.com", "is complete")
        .await;
    assert!(notice.decoded().contains(&done.reference));
    assert!(done.requester_email.is_none() && done.user_id.is_none());

    // Every system was touched, each step once, with its row count.
    let ran = steps::Entity::find()
        .filter(steps::Column::RequestId.eq(id))
        .all(&app.db)
        .await
        .unwrap();
    assert!(
        ran.iter().all(|s| s.status == "DONE" && s.attempts == 1),
        "{ran:?}"
    );
    let rows = |name: &str| ran.iter().find(|s| s.step == name).unwrap().rows_affected;
    assert!(
        rows("mail_outbox") >= 1,
        "the given-up email to her is deleted"
    );
    assert!(
        rows("sessions") >= 1
            && rows("workspaces") == 2
            && rows("integrations") >= 1
            && rows("account") == 1
    );

    // The account is a tombstone; sessions are gone; the solo workspace is gone; the
    // shared one keeps going with Frank as owner; the channel lost its tokens.
    let user = users::Entity::find_by_id(erin_id)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (user.status.as_str(), user.display_name.as_str()),
        ("ERASED", "Erased user")
    );
    assert!(!user.email.contains("erin"));
    assert_eq!(
        sessions::Entity::find()
            .filter(sessions::Column::UserId.eq(erin_id))
            .count(&app.db)
            .await
            .unwrap(),
        0
    );
    let left: Vec<String> = workspaces::Entity::find()
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .map(|w| w.name)
        .collect();
    assert_eq!(left, ["Shared Agency"]);
    let owners = memberships::Entity::find()
        .filter(memberships::Column::WorkspaceId.eq(shared.parse::<uuid::Uuid>().unwrap()))
        .all(&app.db)
        .await
        .unwrap();
    assert_eq!(owners.len(), 1);
    assert_eq!(owners[0].role, "OWNER");
    assert_eq!(
        integration_tokens::Entity::find()
            .count(&app.db)
            .await
            .unwrap(),
        0
    );
    // Her draft stays with the team, its author anonymised.
    let frank = app.log_in("frank@example.com").await;
    let drafts = app
        .gql_ok(
            Some(&frank.access),
            "query($w: ID!) { workspace(id: $w) { drafts { edges { node { title author { displayName email } } } } } }",
            json!({ "w": shared }),
        )
        .await;
    let node = &drafts["workspace"]["drafts"]["edges"][0]["node"];
    assert_eq!(node["title"], "Autumn campaign");
    assert_eq!(node["author"], Value::Null);
    // Her comment keeps its place in the thread without author or text; Frank's stays.
    let thread = app
        .gql_ok(
            Some(&frank.access),
            "query($w: ID!) { workspace(id: $w) { drafts(first: 5) { edges { node { comments(first: 5) { edges { node { body deleted author { displayName } } } } } } } } }",
            json!({ "w": shared }),
        )
        .await;
    let comments = &thread["workspace"]["drafts"]["edges"][0]["node"]["comments"]["edges"];
    assert_eq!(
        comments[0]["node"],
        json!({ "body": null, "deleted": true, "author": null })
    );
    assert_eq!(comments[1]["node"]["author"]["displayName"], "Frank Keeper");
    // The solo workspace's picture is gone from the store; the shared one stays, unowned.
    let stored: Vec<_> = walk(&app.data_dir().join("media"));
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert!(stored[0].to_string_lossy().contains(&shared));
    assert!(rows("media") >= 2 && rows("content") >= 2 && rows("comments") >= 1);
    // Her solo workspace's metric points went with it; the shared workspace's stay.
    assert_eq!(rows("analytics"), 3);
    assert_eq!(rows("audit_details"), 1, "her data key was destroyed");
    let points = atelier::domain::entities::metric_points::Entity::find()
        .all(&app.db)
        .await
        .unwrap();
    assert_eq!(points.len(), 3);
    assert!(points.iter().all(|p| p.workspace_id.to_string() == shared));
    let integration = integrations::Entity::find()
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(integration.health, "REVOKED");
    assert!(integration.handle.is_none() && integration.connected_by.is_none());

    // The platform saw her channel's tokens revoked (a job, retried until it takes).
    let deadline = tokio::time::Instant::now() + crate::helpers::PATIENCE;
    loop {
        let revoked = platform.revoked();
        if revoked.contains(&"erin-access-token".to_string())
            && revoked.contains(&"erin-refresh-token".to_string())
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the platform did not see the revocations: {revoked:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    // Nothing of her is left in any text column of any table.
    let needles = vec![
        "erin.eraseme@example.com".to_string(),
        "Erin Eraseme".to_string(),
        "erin.eraseme.makes".to_string(),
    ];
    assert_eq!(fulfil::scan(&app.db, &needles, None).await.unwrap(), vec![]);
    // Not even in the bytes of the SQLite files.
    if sqlite {
        let dir = app.data_dir();
        for file in ["test.sqlite", "test.sqlite-wal"] {
            let Ok(bytes) = std::fs::read(dir.join(file)) else {
                continue;
            };
            for needle in &needles {
                assert!(
                    !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                    "{needle} still in {file}"
                );
            }
        }
    }
    // She can no longer sign in; her old access token opens nothing.
    let login = app
        .gql(
            None,
            LOG_IN,
            json!({ "input": { "email": "erin.eraseme@example.com", "password": PASSWORD } }),
        )
        .await;
    assert_eq!(error_code(&login).as_deref(), Some("UNAUTHENTICATED"));
    let me = app
        .gql(Some(&erin.access), "{ me { id } }", json!({}))
        .await;
    assert_eq!(error_code(&me).as_deref(), Some("UNAUTHENTICATED"));
    // And the audit chain still verifies.
    assert!(audit::verify_chain(&app.db).await.unwrap().is_intact());
    app.stop().await;
}
on_both_databases!(erasure_leaves_nothing_behind);

async fn a_failed_step_resumes_without_redoing_finished_ones(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, id, _) = erin_asks_to_be_erased(&app).await;
    // Erin also has a staff account under the same address, which erasure of the
    // product account does not touch: verification must notice and stop.
    staff::create_staff(
        &app.db,
        "erin.eraseme@example.com",
        "Erin at work",
        STAFF_PASSWORD,
        StaffRole::Support,
        Actor::System,
        &RequestMeta::default(),
    )
    .await
    .unwrap();
    let staff = officer(&app).await;
    staff_action(
        &staff,
        &app,
        id,
        "verify-identity",
        &[("method", "Signed in")],
    )
    .await;
    staff_action(&staff, &app, id, "approve", &[]).await;

    let deadline = std::time::Instant::now() + crate::helpers::PATIENCE;
    let failed = loop {
        let ran = steps::Entity::find()
            .filter(steps::Column::RequestId.eq(id))
            .all(&app.db)
            .await
            .unwrap();
        if let Some(step) = ran.iter().find(|s| s.status == "FAILED") {
            break (step.clone(), ran);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "verification never failed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let (step, before) = failed;
    assert_eq!(step.step, "verification");
    assert!(
        step.error.as_deref().unwrap().contains("staff_users.email"),
        "{:?}",
        step.error
    );
    let request = privacy_requests::Entity::find_by_id(id)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        request.status, "IN_PROGRESS",
        "a failed verification never completes the request"
    );
    let page = staff
        .get(format!("{}/staff/requests/{id}", app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("<td>Check that nothing is left</td><td>Failed</td>")
            && page.contains("personal data left in"),
        "{page}"
    );

    // An admin removes the leftover; the job's next try resumes at verification.
    staff_users::Entity::delete_many()
        .filter(staff_users::Column::Email.eq("erin.eraseme@example.com"))
        .exec(&app.db)
        .await
        .unwrap();
    wait_for_status(&app, id, "COMPLETED").await;
    let after = steps::Entity::find()
        .filter(steps::Column::RequestId.eq(id))
        .all(&app.db)
        .await
        .unwrap();
    for (old, new) in before.iter().zip(after.iter()) {
        if old.step != "verification" {
            assert_eq!(
                (old.attempts, old.rows_affected, old.finished_at),
                (new.attempts, new.rows_affected, new.finished_at),
                "{} ran twice",
                old.step
            );
        }
    }
    assert!(
        after
            .iter()
            .find(|s| s.step == "verification")
            .unwrap()
            .attempts
            >= 2
    );
    app.stop().await;
}
on_both_databases!(a_failed_step_resumes_without_redoing_finished_ones);

async fn restriction_is_applied_and_lifted(backend: Backend) {
    use atelier::domain::privacy::requests::{self, RequestForm, RequestSource};

    let fake = crate::fake_provider::FakeProvider::start().await;
    let app = crate::publishing::spawn(backend, &fake).await;
    let rita = app
        .signed_in_user("rita@example.com", "Rita Restrict")
        .await;
    let studio = crate::publishing::workspace(&app, &rita, "Rita Studio").await;
    let channel = crate::channels::connect(&app, &rita, &studio, "LINKEDIN").await;
    let form = RequestForm {
        kind: "RESTRICT".into(),
        email: "rita@example.com".into(),
        jurisdiction: "GDPR".into(),
        ..RequestForm::default()
    };
    let request = requests::submit(
        &app.db,
        &app.vault(),
        requests::validate(&form, None).unwrap(),
        RequestSource::Portal,
        &RequestMeta::default(),
    )
    .await
    .unwrap();
    let token = app.inbox.wait_for("rita@example.com", 2).await.token();
    requests::confirm(&app.db, &app.vault(), &token, &RequestMeta::default())
        .await
        .unwrap();
    let staff = officer(&app).await;
    staff_action(
        &staff,
        &app,
        request.id,
        "verify-identity",
        &[("method", "Email reply")],
    )
    .await;
    staff_action(&staff, &app, request.id, "approve", &[]).await;
    wait_for_status(&app, request.id, "COMPLETED").await;

    // The API says so.
    let me = app
        .gql_ok(Some(&rita.access), "{ me { status } }", json!({}))
        .await;
    assert_eq!(me["me"]["status"], "RESTRICTED");

    // Publishing and analytics sync stop: her scheduled post is not sent, her channel
    // is not read.
    let held =
        crate::publishing::draft_to(&app, &rita, &studio, "Held", &[("LINKEDIN", "Held back")])
            .await;
    crate::publishing::schedule_soon(&app, &rita, &held).await;
    let done = crate::publishing::settled(&app, &rita, &held).await;
    assert_eq!(done["status"], "FAILED");
    assert_eq!(done["targets"][0]["attempts"][0]["outcome"], "SKIPPED");
    assert!(fake.posts().is_empty());
    let reads = fake
        .platform
        .metric_reads
        .load(std::sync::atomic::Ordering::SeqCst);
    app.gql_ok(
        Some(&rita.access),
        "mutation($id: ID!) { syncIntegration(id: $id) }",
        json!({ "id": channel }),
    )
    .await;
    let (app_ref, rita_ref, studio_ref) = (&app, &rita, studio.as_str());
    eventually(
        20,
        "the sync did not say it was paused",
        move || async move {
            let found = app_ref
                .gql_ok(
                    Some(&rita_ref.access),
                    "query($w: ID!) { workspace(id: $w) { integrations { sync { lastError } } } }",
                    json!({ "w": studio_ref }),
                )
                .await;
            let error = found["workspace"]["integrations"][0]["sync"]["lastError"]
                .as_str()
                .unwrap_or_default();
            if error.contains("restricted") {
                Ok(())
            } else {
                Err(found.to_string())
            }
        },
    )
    .await;
    assert_eq!(
        fake.platform
            .metric_reads
            .load(std::sync::atomic::Ordering::SeqCst),
        reads
    );

    staff_action(&staff, &app, request.id, "lift-restriction", &[]).await;
    let me = app
        .gql_ok(Some(&rita.access), "{ me { status } }", json!({}))
        .await;
    assert_eq!(me["me"]["status"], "ACTIVE");
    // Lifted: publishing works again.
    let again =
        crate::publishing::draft_to(&app, &rita, &studio, "Again", &[("LINKEDIN", "Back again")])
            .await;
    crate::publishing::schedule_soon(&app, &rita, &again).await;
    assert_eq!(
        crate::publishing::settled(&app, &rita, &again).await["status"],
        "PUBLISHED"
    );
    assert_eq!(fake.posts().len(), 1);
    let view = atelier::domain::privacy::review::view(&app.db, app.vault_ref(), request.id)
        .await
        .unwrap();
    let kinds: Vec<&str> = view.timeline.iter().map(|e| e.kind.as_str()).collect();
    assert!(
        kinds.contains(&"COMPLETED") && kinds.contains(&"RESTRICTION_LIFTED"),
        "{kinds:?}"
    );
    app.stop().await;
}
on_both_databases!(restriction_is_applied_and_lifted);

async fn retention_and_reminders_run_daily(backend: Backend) {
    use atelier::domain::entities::{jobs as job_rows, one_time_tokens};
    use atelier::domain::ops::jobs;
    use atelier::domain::privacy::requests::{self, RequestForm, RequestSource};
    use sea_orm::{ActiveModelTrait, Set};

    let app = TestApp::spawn(backend).await;
    // Today's runs exist once, whatever restarts happen, and each schedules tomorrow's.
    let deadline = std::time::Instant::now() + crate::helpers::PATIENCE;
    loop {
        let daily = job_rows::Entity::find()
            .filter(
                job_rows::Column::Kind
                    .is_in([jobs::kind::RETENTION, jobs::kind::DEADLINE_REMINDERS]),
            )
            .all(&app.db)
            .await
            .unwrap();
        if daily.len() == 4 && daily.iter().filter(|j| j.done_at.is_some()).count() == 2 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "daily jobs: {daily:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    jobs::ensure_daily_jobs(&app.db).await.unwrap();
    assert_eq!(
        job_rows::Entity::find()
            .filter(job_rows::Column::Kind.eq(jobs::kind::RETENTION))
            .count(&app.db)
            .await
            .unwrap(),
        2
    );

    // Retention: an old unconfirmed request, a long-closed record and expired tokens go;
    // a fresh request stays. Each purge is counted in the audit log.
    let meta = RequestMeta::default();
    let submit = |email: &'static str| {
        let form = RequestForm {
            kind: "ACCESS".into(),
            email: email.into(),
            ..RequestForm::default()
        };
        requests::submit(
            &app.db,
            app.vault_ref(),
            requests::validate(&form, None).unwrap(),
            RequestSource::Portal,
            &meta,
        )
    };
    let old = submit("old@example.com").await.unwrap();
    let closed = submit("closed@example.com").await.unwrap();
    let fresh = submit("fresh@example.com").await.unwrap();
    let mut stale: privacy_requests::ActiveModel = old.clone().into();
    stale.received_at = Set(chrono::Utc::now() - chrono::Duration::days(9));
    stale.update(&app.db).await.unwrap();
    let mut ancient: privacy_requests::ActiveModel = closed.clone().into();
    ancient.status = Set("COMPLETED".into());
    ancient.completed_at = Set(Some(chrono::Utc::now() - chrono::Duration::days(25 * 31)));
    ancient.update(&app.db).await.unwrap();
    one_time_tokens::Entity::update_many()
        .col_expr(
            one_time_tokens::Column::ExpiresAt,
            sea_orm::sea_query::Expr::value(chrono::Utc::now() - chrono::Duration::hours(1)),
        )
        .exec(&app.db)
        .await
        .unwrap();
    let purged = app.run_retention(chrono::Utc::now()).await;
    assert_eq!(
        (purged.unverified_requests, purged.closed_request_records),
        (1, 1)
    );
    assert!(purged.one_time_tokens >= 3);
    let remaining: Vec<uuid::Uuid> = privacy_requests::Entity::find()
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(remaining, vec![fresh.id]);
    assert!(
        audit::count_action(&app.db, "retention.purged")
            .await
            .unwrap()
            >= 2
    );

    // Reminders: the assignee hears of an overdue request; unassigned ones go to every
    // COMPLIANCE and ADMIN staff member.
    let _staff = officer(&app).await;
    let mut overdue: privacy_requests::ActiveModel = fresh.clone().into();
    overdue.status = Set("IN_REVIEW".into());
    overdue.due_at = Set(chrono::Utc::now() - chrono::Duration::hours(2));
    overdue.update(&app.db).await.unwrap();
    let sent = atelier::domain::privacy::review::send_deadline_reminders(
        &app.db,
        app.vault_ref(),
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    assert_eq!(sent, 1);
    let reminder = app.inbox.wait_for("officer@atelier.test", 1).await;
    assert!(
        reminder.subject().contains("overdue") && reminder.decoded().contains(&fresh.reference)
    );
    app.stop().await;
}
on_both_databases!(retention_and_reminders_run_daily);

async fn an_export_is_packaged_and_downloaded(backend: Backend) {
    use atelier::domain::entities::export_packages;
    use sea_orm::{ActiveModelTrait, Set};
    use std::io::Read;

    let app = TestApp::spawn(backend).await;
    let xena = app.signed_in_user("xena@example.com", "Xena Export").await;
    let studio = app.create_workspace(&xena, "Xena Studio").await;
    let draft = app
        .gql_ok(
            Some(&xena.access),
            "mutation($i: CreateDraftInput!) { createDraft(input: $i) { id } }",
            json!({ "i": { "workspaceId": studio, "title": "Xena's spring post", "body": "Flowers.", "targets": [{ "provider": "INSTAGRAM", "body": "Flowers! #spring" }] } }),
        )
        .await["createDraft"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.gql_ok(
        Some(&xena.access),
        "mutation($i: AddCommentInput!) { addComment(input: $i) { id } }",
        json!({ "i": { "draftId": draft, "body": "Needs a photo" } }),
    )
    .await;
    crate::media::upload(
        &app,
        Some(&xena.access),
        &studio,
        "tulips.png",
        "image/png",
        crate::media::PNG.to_vec(),
    )
    .await;
    let requested = app
        .gql_ok(
            Some(&xena.access),
            "mutation { requestDataExport { id reference } }",
            json!({}),
        )
        .await;
    let id: uuid::Uuid = requested["requestDataExport"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let confirm = app.inbox.wait_for("xena@example.com", 2).await.token();
    atelier::domain::privacy::requests::confirm(
        &app.db,
        app.vault_ref(),
        &confirm,
        &RequestMeta::default(),
    )
    .await
    .unwrap();
    let staff = officer(&app).await;
    staff_action(
        &staff,
        &app,
        id,
        "verify-identity",
        &[("method", "Signed in")],
    )
    .await;
    staff_action(&staff, &app, id, "approve", &[]).await;
    wait_for_status(&app, id, "COMPLETED").await;

    let mail = app
        .inbox
        .wait_for_subject("xena@example.com", "ready to download")
        .await;
    let text = mail.decoded();
    let link = text
        .split_whitespace()
        .find(|w| w.contains("/exports/"))
        .unwrap()
        .to_string();
    assert!(link.starts_with(&app.address));
    let response = reqwest::get(&link).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/zip");
    let bytes = response.bytes().await.unwrap();
    let package = export_packages::Entity::find()
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(package.size_bytes as usize, bytes.len());
    assert_eq!(package.sha256, atelier::crypto::sha256_hex(&bytes));

    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let mut names: Vec<String> = archive
        .file_names()
        .filter(|n| !n.starts_with("media/"))
        .map(str::to_string)
        .collect();
    names.sort();
    // The uploaded file itself, byte for byte.
    let files: Vec<String> = archive
        .file_names()
        .filter(|n| n.starts_with("media/"))
        .map(str::to_string)
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0].ends_with("-tulips.png"));
    let mut file = Vec::new();
    archive
        .by_name(&files[0])
        .unwrap()
        .read_to_end(&mut file)
        .unwrap();
    assert_eq!(file, crate::media::PNG);
    assert_eq!(
        names,
        [
            "README.md",
            "account.json",
            "audit_events.json",
            "comments.json",
            "drafts.json",
            "index.html",
            "integrations.json",
            "media.json",
            "privacy_requests.json",
            "review_links.json",
            "sessions.csv",
            "workspaces.csv",
            "workspaces.json",
        ]
    );
    let mut read = |name: &str| {
        let mut text = String::new();
        archive
            .by_name(name)
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        text
    };
    let readme = read("README.md");
    for name in &names {
        if name != "README.md" {
            assert!(
                readme.contains(&format!("`{name}`")),
                "README documents {name}"
            );
        }
    }
    let account: serde_json::Value = serde_json::from_str(&read("account.json")).unwrap();
    assert_eq!(account["email"], "xena@example.com");
    assert_eq!(account["display_name"], "Xena Export");
    let workspaces: serde_json::Value = serde_json::from_str(&read("workspaces.json")).unwrap();
    assert_eq!(workspaces[0]["name"], "Xena Studio");
    assert_eq!(workspaces[0]["role"], "OWNER");
    let requests: serde_json::Value = serde_json::from_str(&read("privacy_requests.json")).unwrap();
    assert_eq!(requests[0]["kind"], "EXPORT");
    let events: serde_json::Value = serde_json::from_str(&read("audit_events.json")).unwrap();
    assert!(events
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["action"] == "workspace.created"));
    assert!(read("sessions.csv")
        .starts_with("session_id,created_at,last_used_at,expires_at,revoked_at,user_agent"));
    assert!(read("workspaces.csv").contains("Xena Studio"));
    let drafts: serde_json::Value = serde_json::from_str(&read("drafts.json")).unwrap();
    assert_eq!(drafts[0]["title"], "Xena's spring post");
    assert_eq!(drafts[0]["targets"][0]["body"], "Flowers! #spring");
    let comments: serde_json::Value = serde_json::from_str(&read("comments.json")).unwrap();
    assert_eq!(comments[0]["body"], "Needs a photo");
    let media: serde_json::Value = serde_json::from_str(&read("media.json")).unwrap();
    assert_eq!(media[0]["file_name"], "tulips.png");
    assert_eq!(media[0]["file"], files[0].as_str());
    // No secrets anywhere in the package.
    let user = users::Entity::find()
        .filter(users::Column::Email.eq("xena@example.com"))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    let everything: String = names.iter().map(|n| read(n)).collect();
    assert!(!everything.contains(&user.password_hash) && !everything.contains("$argon2"));
    for session in sessions::Entity::find().all(&app.db).await.unwrap() {
        assert!(!everything.contains(&session.refresh_token_hash));
    }

    // Downloads are counted; the link dies with the package.
    reqwest::get(&link).await.unwrap().bytes().await.unwrap();
    let counted = export_packages::Entity::find()
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(counted.download_count, 2);
    let mut expired: export_packages::ActiveModel = counted.clone().into();
    expired.expires_at = Set(chrono::Utc::now() - chrono::Duration::minutes(1));
    expired.update(&app.db).await.unwrap();
    assert_eq!(reqwest::get(&link).await.unwrap().status(), 410);
    let purged = app.run_retention(chrono::Utc::now()).await;
    assert_eq!(purged.export_packages, 1);
    assert!(!app
        .data_dir()
        .join("exports")
        .join(&counted.storage_key)
        .exists());
    app.stop().await;
}
on_both_databases!(an_export_is_packaged_and_downloaded);
