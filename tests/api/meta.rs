//! Meta as it really is, against a fake written from Meta's documentation: Facebook
//! Login's short-lived token exchanged for a long-lived one, `/me` naming the person by
//! an app-scoped user id that is neither a Page id nor an Instagram id, several Pages to
//! choose from, and the signed callbacks that name the person by that id.

use atelier::domain::entities::{
    draft_targets, integration_tokens, integrations as integration_rows, metric_points,
    privacy_requests,
};
use atelier::domain::privacy::meta;
use atelier::domain::staff::accounts::StaffRole;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use secrecy::ExposeSecret;
use serde_json::{json, Value};

use crate::fake_provider::{meta_page, FakeProvider, META_USER_ID};
use crate::helpers::*;
use crate::on_both_databases;
use crate::privacy_flow::Officer;

const SECRET: &str = "meta-app-secret-for-tests";

async fn meta_app(backend: Backend) -> (TestApp, FakeProvider) {
    let fake = FakeProvider::start().await;
    let app = TestApp::spawn_with(backend, |config| {
        config.meta_app_secret = Some(secrecy::SecretString::from(SECRET));
        config.providers.facebook = fake.meta_settings();
        config.providers.instagram = fake.meta_settings();
    })
    .await;
    (app, fake)
}

/// Goes through Facebook Login for `provider` and returns where Atelier sends the
/// browser at the end (the app, connected or asked to choose).
async fn log_in_with_facebook(
    app: &TestApp,
    session: &Session,
    ws: &str,
    provider: &str,
) -> String {
    let client = browser();
    let started = app
        .gql_from(
            &client,
            Some(&session.access),
            "mutation($w: ID!, $p: Provider!) { startIntegrationConnect(workspaceId: $w, provider: $p) { authorizeUrl } }",
            json!({ "w": ws, "p": provider }),
        )
        .await["data"]
        .clone();
    let url = started["startIntegrationConnect"]["authorizeUrl"]
        .as_str()
        .unwrap();
    let back = client.get(url).send().await.unwrap();
    assert_eq!(back.status(), 303);
    let back = back.headers()["location"].to_str().unwrap().to_string();
    let done = client.get(&back).send().await.unwrap();
    assert_eq!(done.status(), 303, "{}", done.text().await.unwrap());
    done.headers()["location"].to_str().unwrap().to_string()
}

async fn channel(app: &TestApp, provider: &str) -> integration_rows::Model {
    integration_rows::Entity::find()
        .filter(integration_rows::Column::Provider.eq(provider))
        .one(&app.db)
        .await
        .unwrap()
        .expect("the channel is connected")
}

fn signed(user_id: &str) -> String {
    meta::sign(
        &json!({ "algorithm": "HMAC-SHA256", "user_id": user_id, "issued_at": chrono::Utc::now().timestamp(), "expires": 0 }),
        SECRET,
    )
}

async fn post_signed(app: &TestApp, path: &str, user_id: &str) -> Value {
    let response = app
        .http
        .post(format!("{}{path}", app.address))
        .form(&[("signed_request", signed(user_id).as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn facebook_and_instagram_connect_long_lived_and_deauthorize(backend: Backend) {
    let sqlite = matches!(backend, Backend::Sqlite);
    let (app, fake) = meta_app(backend).await;
    let owner = app.signed_in_user("mia@example.com", "Mia Meta").await;
    let ws = app.create_workspace(&owner, "Mia Studio").await;
    for provider in ["FACEBOOK", "INSTAGRAM"] {
        let landing = log_in_with_facebook(&app, &owner, &ws, provider).await;
        assert!(
            landing.contains(&format!("connected={provider}")),
            "{landing}"
        );
    }
    let (page_id, page_name, ig_id, ig_name) = meta_page(1);
    let facebook = channel(&app, "FACEBOOK").await;
    let instagram = channel(&app, "INSTAGRAM").await;
    // The channel is the Page / the Instagram account; the person is the app-scoped id.
    assert_eq!(facebook.external_account_id, page_id);
    assert_eq!(facebook.display_name.as_deref(), Some(page_name.as_str()));
    assert_eq!(instagram.external_account_id, ig_id);
    assert_eq!(instagram.handle.as_deref(), Some(ig_name.as_str()));
    for c in [&facebook, &instagram] {
        assert_eq!(c.platform_user_id.as_deref(), Some(META_USER_ID));
        assert_ne!(c.external_account_id, META_USER_ID);
    }

    // Each login's short-lived token was exchanged for a long-lived one at once: the
    // stored tokens outlive the short ones, and are renewed before 60 days end.
    assert_eq!(fake.long_lived_exchanges(), 2);
    let tokens = |id| {
        let app = &app;
        async move {
            atelier::domain::channels::integrations::open_tokens(&app.db, app.vault_ref(), id)
                .await
                .unwrap()
                .unwrap()
        }
    };
    let fb_tokens = tokens(facebook.id).await;
    let ig_tokens = tokens(instagram.id).await;
    assert!(fb_tokens
        .access_token
        .expose_secret()
        .starts_with("fake-page-"));
    assert!(fb_tokens
        .refresh_token
        .as_ref()
        .unwrap()
        .expose_secret()
        .starts_with("fake-fb-long-"));
    assert!(ig_tokens
        .access_token
        .expose_secret()
        .starts_with("fake-fb-long-"));
    for t in [&fb_tokens, &ig_tokens] {
        let left = t.expires_at.unwrap() - chrono::Utc::now();
        assert!(left > chrono::Duration::days(59), "{left:?}");
    }
    // An hour and a half later the short-lived tokens are dead; what is stored works.
    fake.expire_short_lived_meta_tokens();
    let live = fake.issued();
    for token in [
        fb_tokens.access_token.expose_secret(),
        fb_tokens.refresh_token.as_ref().unwrap().expose_secret(),
        ig_tokens.access_token.expose_secret(),
    ] {
        assert!(
            live.iter().any(|t| t == token),
            "{token} died with the short-lived ones"
        );
    }

    // A callback naming the Page id (what the first round stored) finds nobody.
    let none = post_signed(&app, "/privacy/meta/deauthorize", &page_id).await;
    assert_eq!(none["disconnected"], 0);
    // The person removes the app on Facebook: Meta names them by their app-scoped id.
    let seen = app.inbox.to("mia@example.com").len();
    let answer = post_signed(&app, "/privacy/meta/deauthorize", META_USER_ID).await;
    assert_eq!(answer["disconnected"], 2);
    for provider in ["FACEBOOK", "INSTAGRAM"] {
        assert_eq!(channel(&app, provider).await.health, "REVOKED");
    }
    assert_eq!(
        integration_tokens::Entity::find()
            .count(&app.db)
            .await
            .unwrap(),
        0
    );
    // The workspace's admin hears of it once, with both channels named.
    let mail = app
        .inbox
        .wait_for_new(
            "mia@example.com",
            seen,
            "Reconnect your Facebook and Instagram",
        )
        .await;
    assert!(mail.decoded().contains(&page_name) && mail.decoded().contains(&ig_name));
    // A redelivery changes nothing and emails nobody again.
    let again = post_signed(&app, "/privacy/meta/deauthorize", META_USER_ID).await;
    assert_eq!(again["disconnected"], 0);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(app.inbox.to("mia@example.com").len(), seen + 1);
    if sqlite {
        let secrets: Vec<String> = [&fb_tokens, &ig_tokens]
            .iter()
            .flat_map(|t| {
                std::iter::once(t.access_token.expose_secret().to_string()).chain(
                    t.refresh_token
                        .iter()
                        .map(|r| r.expose_secret().to_string()),
                )
            })
            .collect();
        let left = crate::privacy_flow::leftovers(&app, &secrets).await;
        assert!(left.is_empty(), "token bytes left: {left:?}");
    }
    app.stop().await;
}
on_both_databases!(facebook_and_instagram_connect_long_lived_and_deauthorize);

async fn a_meta_deletion_deletes_what_meta_gave_and_nothing_else(backend: Backend) {
    let (app, _fake) = meta_app(backend).await;
    let owner = app.signed_in_user("mia@example.com", "Mia Meta").await;
    let ws = app.create_workspace(&owner, "Mia Studio").await;
    log_in_with_facebook(&app, &owner, &ws, "FACEBOOK").await;
    let facebook = channel(&app, "FACEBOOK").await;
    // Statistics and a published post's id came from Meta.
    let today = chrono::Utc::now().date_naive();
    atelier::domain::channels::analytics::upsert(
        &app.db,
        &[atelier::domain::channels::analytics::NewPoint {
            workspace_id: ws.parse().unwrap(),
            integration_id: facebook.id,
            target_id: None,
            metric: atelier::domain::channels::analytics::Metric::Impressions,
            day: today,
            value: 321,
        }],
        atelier::domain::channels::analytics::Source::Api,
    )
    .await
    .unwrap();
    let draft = app
        .gql_ok(
            Some(&owner.access),
            "mutation($i: CreateDraftInput!) { createDraft(input: $i) { id } }",
            json!({ "i": { "workspaceId": ws, "title": "Spring launch", "body": "Our spring range.", "targets": [{ "provider": "FACEBOOK", "body": "Spring is here", "integrationId": facebook.id.to_string() }] } }),
        )
        .await["createDraft"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    draft_targets::Entity::update_many()
        .col_expr(
            draft_targets::Column::ProviderPostId,
            sea_orm::sea_query::Expr::value("104000000000001_987654321"),
        )
        .col_expr(
            draft_targets::Column::Url,
            sea_orm::sea_query::Expr::value("https://www.facebook.com/104000000000001_987654321"),
        )
        .exec(&app.db)
        .await
        .unwrap();

    let answer = post_signed(&app, "/privacy/meta/data-deletion", META_USER_ID).await;
    let code = answer["confirmation_code"].as_str().unwrap().to_string();
    let request = privacy_requests::Entity::find()
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        request.user_id.map(|u| u.to_string()),
        Some(owner.user_id.clone()),
        "linked to whoever connected the channels"
    );
    let officer = Officer::sign_in(&app, "officer@atelier.test", StaffRole::Compliance).await;
    officer.approve(&app, request.id).await;
    crate::privacy_flow::settles(&app, request.id, &["COMPLETED"]).await;

    // What Meta gave us is gone.
    let facebook = channel(&app, "FACEBOOK").await;
    assert_eq!(facebook.health, "REVOKED");
    assert!(facebook.display_name.is_none() && facebook.platform_user_id.is_none());
    assert_eq!(
        integration_tokens::Entity::find()
            .count(&app.db)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        metric_points::Entity::find().count(&app.db).await.unwrap(),
        0
    );
    let target = draft_targets::Entity::find()
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert!(target.provider_post_id.is_none() && target.url.is_none());
    // What the person wrote in Atelier, and their account, stay.
    let kept = app
        .gql_ok(
            Some(&owner.access),
            "query($id: ID!) { draft(id: $id) { title body } me { email } }",
            json!({ "id": draft }),
        )
        .await;
    assert_eq!(kept["draft"]["title"], "Spring launch");
    assert_eq!(kept["me"]["email"], "mia@example.com");

    // The status page Meta sends people to shows Meta's code and our reference, says
    // what was deleted, and offers the full erasure.
    let page = app
        .http
        .get(format!("{}/privacy/deletion-status/{code}", app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(&code) && page.contains(&request.reference),
        "{page}"
    );
    assert!(page.contains("We deleted the data Meta gave us"));
    assert!(page.contains("href=\"/privacy/deletion\""));
    app.stop().await;
}
on_both_databases!(a_meta_deletion_deletes_what_meta_gave_and_nothing_else);

async fn a_meta_deletion_for_nobody_says_no_data_is_held(backend: Backend) {
    let (app, _fake) = meta_app(backend).await;
    let answer = post_signed(&app, "/privacy/meta/data-deletion", "10220000000000999").await;
    let code = answer["confirmation_code"].as_str().unwrap().to_string();
    let request = privacy_requests::Entity::find()
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert!(request.user_id.is_none());
    let officer = Officer::sign_in(&app, "officer@atelier.test", StaffRole::Compliance).await;
    officer.approve(&app, request.id).await;
    crate::privacy_flow::settles(&app, request.id, &["COMPLETED"]).await;
    let page = app
        .http
        .get(format!("{}/privacy/deletion-status/{code}", app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("We hold no data for this Facebook account"),
        "{page}"
    );
    assert!(!page.contains("We deleted the data") && !page.contains("We erased"));
    app.stop().await;
}
on_both_databases!(a_meta_deletion_for_nobody_says_no_data_is_held);

const PENDING: &str = "query($id: ID!) { pendingIntegrationConnect(id: $id) { id provider accounts { externalAccountId displayName handle } } }";
const COMPLETE: &str = "mutation($id: ID!, $a: String!) { completeIntegrationConnect(id: $id, externalAccountId: $a) { id provider externalAccountId displayName } }";

async fn a_person_with_several_pages_chooses_one(backend: Backend) {
    let (app, fake) = meta_app(backend).await;
    fake.manage_pages(3);
    let owner = app.signed_in_user("mia@example.com", "Mia Meta").await;
    let ws = app.create_workspace(&owner, "Mia Studio").await;
    let landing = log_in_with_facebook(&app, &owner, &ws, "FACEBOOK").await;
    assert!(
        landing.starts_with("http://app.test/integrations?choose="),
        "{landing}"
    );
    assert_eq!(
        integration_rows::Entity::find()
            .count(&app.db)
            .await
            .unwrap(),
        0,
        "nothing is connected before the person chooses"
    );
    let pending = url::Url::parse(&landing)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "choose")
        .unwrap()
        .1
        .to_string();
    let offered = app
        .gql_ok(Some(&owner.access), PENDING, json!({ "id": pending }))
        .await;
    let accounts = offered["pendingIntegrationConnect"]["accounts"]
        .as_array()
        .unwrap();
    assert_eq!(accounts.len(), 3);
    assert!(
        !offered.to_string().contains("fake-"),
        "no token in the API"
    );

    // Someone else cannot see or complete it; a made-up account is refused.
    let other = app.signed_in_user("eve@example.com", "Eve Else").await;
    let peek = app
        .gql(Some(&other.access), PENDING, json!({ "id": pending }))
        .await;
    assert_eq!(error_code(&peek).as_deref(), Some("NOT_FOUND"));
    let (second_id, second_name, _, _) = meta_page(2);
    let stolen = app
        .gql(
            Some(&other.access),
            COMPLETE,
            json!({ "id": pending, "a": second_id }),
        )
        .await;
    assert_eq!(error_code(&stolen).as_deref(), Some("NOT_FOUND"));
    let made_up = app
        .gql(
            Some(&owner.access),
            COMPLETE,
            json!({ "id": pending, "a": "999" }),
        )
        .await;
    assert_eq!(error_code(&made_up).as_deref(), Some("BAD_USER_INPUT"));
    let anonymous = app
        .gql(None, COMPLETE, json!({ "id": pending, "a": second_id }))
        .await;
    assert_eq!(error_code(&anonymous).as_deref(), Some("UNAUTHENTICATED"));

    // The person picks the second Page: that one is connected, with its own token.
    let chosen = app
        .gql_ok(
            Some(&owner.access),
            COMPLETE,
            json!({ "id": pending, "a": second_id }),
        )
        .await;
    assert_eq!(
        chosen["completeIntegrationConnect"]["externalAccountId"],
        second_id.as_str()
    );
    assert_eq!(
        chosen["completeIntegrationConnect"]["displayName"],
        second_name.as_str()
    );
    let connected = channel(&app, "FACEBOOK").await;
    assert_eq!(connected.external_account_id, second_id);
    assert_eq!(connected.platform_user_id.as_deref(), Some(META_USER_ID));
    // The choice is spent.
    let replay = app
        .gql(
            Some(&owner.access),
            COMPLETE,
            json!({ "id": pending, "a": second_id }),
        )
        .await;
    assert_eq!(error_code(&replay).as_deref(), Some("NOT_FOUND"));
    assert_eq!(
        atelier::domain::entities::pending_connections::Entity::find()
            .count(&app.db)
            .await
            .unwrap(),
        0
    );
    app.stop().await;
}
on_both_databases!(a_person_with_several_pages_chooses_one);

async fn long_lived_tokens_are_renewed_before_they_end(backend: Backend) {
    let (app, fake) = meta_app(backend).await;
    let owner = app.signed_in_user("mia@example.com", "Mia Meta").await;
    let ws = app.create_workspace(&owner, "Mia Studio").await;
    log_in_with_facebook(&app, &owner, &ws, "FACEBOOK").await;
    let facebook = channel(&app, "FACEBOOK").await;
    let before =
        atelier::domain::channels::integrations::open_tokens(&app.db, app.vault_ref(), facebook.id)
            .await
            .unwrap()
            .unwrap();
    // Fifty-nine days later the long-lived token is about to end.
    let soon = chrono::Utc::now() + chrono::Duration::minutes(5);
    integration_tokens::Entity::update_many()
        .col_expr(
            integration_tokens::Column::AccessExpiresAt,
            sea_orm::sea_query::Expr::value(soon),
        )
        .exec(&app.db)
        .await
        .unwrap();
    let exchanges = fake.long_lived_exchanges();
    atelier::domain::channels::integrations::schedule_refreshes(
        &app.db,
        chrono::Duration::minutes(10),
    )
    .await
    .unwrap();
    let after = eventually(20, "the long-lived token to be exchanged again", || async {
        let now = atelier::domain::channels::integrations::open_tokens(
            &app.db,
            app.vault_ref(),
            facebook.id,
        )
        .await
        .unwrap()
        .unwrap();
        if now
            .expires_at
            .is_some_and(|e| e > chrono::Utc::now() + chrono::Duration::days(59))
        {
            Ok(now)
        } else {
            Err(format!("{:?}", now.expires_at))
        }
    })
    .await;
    assert_eq!(fake.long_lived_exchanges(), exchanges + 1);
    assert_ne!(
        after.refresh_token.as_ref().unwrap().expose_secret(),
        before.refresh_token.as_ref().unwrap().expose_secret()
    );
    assert_ne!(
        after.access_token.expose_secret(),
        before.access_token.expose_secret()
    );
    assert_eq!(channel(&app, "FACEBOOK").await.health, "ACTIVE");

    // When Meta refuses (the token ended or was withdrawn): NEEDS_REAUTH, one email.
    fake.expire_access_tokens();
    integration_tokens::Entity::update_many()
        .col_expr(
            integration_tokens::Column::AccessExpiresAt,
            sea_orm::sea_query::Expr::value(soon),
        )
        .exec(&app.db)
        .await
        .unwrap();
    let seen = app.inbox.to("mia@example.com").len();
    atelier::domain::channels::integrations::schedule_refreshes(
        &app.db,
        chrono::Duration::minutes(10),
    )
    .await
    .unwrap();
    app.inbox
        .wait_for_new("mia@example.com", seen, "Reconnect your Facebook")
        .await;
    assert_eq!(channel(&app, "FACEBOOK").await.health, "NEEDS_REAUTH");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(app.inbox.to("mia@example.com").len(), seen + 1);
    app.stop().await;
}
on_both_databases!(long_lived_tokens_are_renewed_before_they_end);

/// The real binary, configured only by the environment, with a Meta app id of digits
/// (as every Meta app id is) and a boolean and a number given as text.
#[tokio::test]
async fn the_server_starts_with_a_numeric_meta_app_id() {
    let dir = tempfile::tempdir().unwrap();
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_atelier"))
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("ATELIER_DATA_DIR", dir.path())
        .env("ATELIER_LISTEN", format!("127.0.0.1:{port}"))
        .env("ATELIER_PROVIDERS__FACEBOOK__CLIENT_ID", "1234567890123456")
        .env("ATELIER_PROVIDERS__FACEBOOK__CLIENT_SECRET", "0123456789")
        .env("ATELIER_META_APP_SECRET", "98765432109876543210")
        .env("ATELIER_JOBS__RUN_IN_PROCESS", "true")
        .env("ATELIER_JOBS__POLL_INTERVAL_MS", "500")
        .kill_on_drop(true)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let health = format!("http://127.0.0.1:{port}/healthz");
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            let mut stderr = String::new();
            if let Some(mut pipe) = child.stderr.take() {
                use tokio::io::AsyncReadExt;
                pipe.read_to_string(&mut stderr).await.ok();
            }
            panic!("the server exited with {status}: {stderr}");
        }
        if reqwest::get(&health).await.is_ok_and(|r| r.status() == 200) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no answer on /healthz"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    child.kill().await.ok();
}
