//! Connecting channels through a fake platform over HTTP: PKCE verified by the platform,
//! single-use states, sealed tokens, roles; disconnecting revokes at the platform and
//! deletes the tokens, with a retried revocation when the platform is down.

use std::sync::atomic::Ordering;

use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{json, Value};

use crate::fake_provider::FakeProvider;
use crate::helpers::*;
use crate::on_both_databases;
use crate::workspaces::add_member;

const START: &str = "mutation($w: ID!, $p: Provider!) { startIntegrationConnect(workspaceId: $w, provider: $p) { authorizeUrl } }";
const DISCONNECT: &str = "mutation($id: ID!) { disconnectIntegration(id: $id) }";

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Goes to the platform's authorize URL and returns where it sends the browser back.
async fn authorize(url: &str) -> String {
    let response = no_redirects().get(url).send().await.unwrap();
    assert_eq!(response.status(), 303, "the platform redirects back");
    response.headers()["location"].to_str().unwrap().to_string()
}

/// Starts connecting from `browser`, which keeps the cookie only it can finish with.
async fn start(
    app: &TestApp,
    browser: &reqwest::Client,
    token: &str,
    ws: &str,
    provider: &str,
) -> Value {
    app.gql_from(
        browser,
        Some(token),
        START,
        json!({ "w": ws, "p": provider }),
    )
    .await
}

fn query_param(url: &str, name: &str) -> String {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.to_string())
        .unwrap_or_default()
}

async fn channels_connect_and_disconnect(backend: Backend) {
    let fake = FakeProvider::start().await;
    let app = TestApp::spawn_with(backend, |config| {
        config.providers.linkedin = fake.settings();
        config.providers.instagram = fake.meta_settings();
    })
    .await;
    let owner = app.signed_in_user("chan@example.com", "Cha Owner").await;
    let ws = app.create_workspace(&owner, "Channel Co").await;
    let editor = add_member(&app, &owner, &ws, "chan.ed@example.com", "EDITOR").await;
    let stranger = app.signed_in_user("chan.out@example.com", "Out").await;
    let owner_browser = browser();

    // Roles, strangers, and a platform this server has no credentials for.
    let refused = start(&app, &no_redirects(), &editor.access, &ws, "LINKEDIN").await;
    assert_eq!(error_code(&refused).as_deref(), Some("FORBIDDEN"));
    let refused = start(&app, &no_redirects(), &stranger.access, &ws, "LINKEDIN").await;
    assert_eq!(error_code(&refused).as_deref(), Some("NOT_FOUND"));
    let refused = start(&app, &owner_browser, &owner.access, &ws, "TIKTOK").await;
    assert_eq!(error_code(&refused).as_deref(), Some("BAD_USER_INPUT"));
    assert!(refused["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("TikTok is not available"));

    // Connect LinkedIn: PKCE S256 and a state in the URL, back through the callback.
    let started = start(&app, &owner_browser, &owner.access, &ws, "LINKEDIN").await;
    let url = started["data"]["startIntegrationConnect"]["authorizeUrl"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(url.starts_with(&format!("{}/authorize", fake.url)));
    assert_eq!(query_param(&url, "code_challenge_method"), "S256");
    assert_eq!(
        query_param(&url, "redirect_uri"),
        format!("{}/integrations/callback/linkedin", app.address)
    );
    let back = authorize(&url).await;
    let done = owner_browser.get(&back).send().await.unwrap();
    assert_eq!(done.status(), 303, "{}", done.text().await.unwrap());
    let landing = done.headers()["location"].to_str().unwrap().to_string();
    assert!(landing.starts_with("http://app.test/integrations?connected=LINKEDIN&integration="));
    let listed = app
        .gql_ok(
            Some(&editor.access),
            "query($w: ID!) { workspace(id: $w) { integrations { id provider externalAccountId displayName health scopes } } }",
            json!({ "w": ws }),
        )
        .await;
    let linkedin = listed["workspace"]["integrations"][0].clone();
    assert_eq!(linkedin["provider"], "LINKEDIN");
    assert_eq!(linkedin["externalAccountId"], "li-member-42");
    assert_eq!(linkedin["displayName"], "Lina Linked");
    assert_eq!(linkedin["health"], "ACTIVE");
    assert!(
        !listed.to_string().contains("fake-access"),
        "no token in the API"
    );

    // The tokens are sealed: the raw column holds no token text.
    let issued = fake.issued();
    let rows = atelier::domain::entities::integration_tokens::Entity::find()
        .all(&app.db)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert!(!rows[0].access_token_sealed.contains(&issued[0]));

    // The same callback again (a replay) is refused; so is a state used on another
    // platform's callback, and one we never issued.
    let replay = owner_browser.get(&back).send().await.unwrap();
    assert_eq!(replay.status(), 400);
    assert!(replay.text().await.unwrap().contains("already used"));
    let other = start(&app, &owner_browser, &owner.access, &ws, "LINKEDIN").await;
    let other_url = other["data"]["startIntegrationConnect"]["authorizeUrl"]
        .as_str()
        .unwrap()
        .to_string();
    let other_back = authorize(&other_url).await;
    let foreign = other_back.replace("/callback/linkedin", "/callback/instagram");
    assert_eq!(
        owner_browser.get(&foreign).send().await.unwrap().status(),
        400
    );
    let forged = format!(
        "{}/integrations/callback/linkedin?code=x&state=made-up",
        app.address
    );
    assert_eq!(
        no_redirects().get(&forged).send().await.unwrap().status(),
        400
    );

    // PKCE is checked by the platform: a code obtained for one attempt, brought back
    // with another attempt's state, fails the verifier check and connects nothing.
    let first = start(&app, &owner_browser, &owner.access, &ws, "LINKEDIN").await;
    let second = start(&app, &owner_browser, &owner.access, &ws, "LINKEDIN").await;
    let first_back = authorize(
        first["data"]["startIntegrationConnect"]["authorizeUrl"]
            .as_str()
            .unwrap(),
    )
    .await;
    let second_state = query_param(
        second["data"]["startIntegrationConnect"]["authorizeUrl"]
            .as_str()
            .unwrap(),
        "state",
    );
    let swapped = format!(
        "{}/integrations/callback/linkedin?code={}&state={}",
        app.address,
        query_param(&first_back, "code"),
        second_state
    );
    let refused = owner_browser.get(&swapped).send().await.unwrap();
    assert_eq!(refused.status(), 400);
    assert_eq!(*fake.platform.pkce_failures.lock().unwrap(), 1);

    // Disconnect: EDITOR refused; ADMIN revokes at the platform and deletes the tokens.
    let id = linkedin["id"].as_str().unwrap();
    let refused = app
        .gql(Some(&editor.access), DISCONNECT, json!({ "id": id }))
        .await;
    assert_eq!(error_code(&refused).as_deref(), Some("FORBIDDEN"));
    let refused = app
        .gql(Some(&stranger.access), DISCONNECT, json!({ "id": id }))
        .await;
    assert_eq!(error_code(&refused).as_deref(), Some("NOT_FOUND"));
    app.gql_ok(Some(&owner.access), DISCONNECT, json!({ "id": id }))
        .await;
    let revoked = fake.revoked();
    assert!(
        revoked.contains(&issued[0]),
        "the platform saw the access token revoked"
    );
    assert!(
        revoked.iter().any(|t| t.starts_with("fake-refresh-")),
        "and the refresh token"
    );
    assert_eq!(
        atelier::domain::entities::integration_tokens::Entity::find()
            .count(&app.db)
            .await
            .unwrap(),
        0
    );
    let after = app
        .gql_ok(
            Some(&owner.access),
            "query($w: ID!) { workspace(id: $w) { integrations { health } } }",
            json!({ "w": ws }),
        )
        .await;
    assert_eq!(after["workspace"]["integrations"][0]["health"], "REVOKED");
    assert_eq!(
        atelier::domain::ops::audit::count_action(&app.db, "integration.disconnected")
            .await
            .unwrap(),
        1
    );

    // Instagram (Meta's shapes); the platform is down when it is disconnected: the
    // tokens go at once, and the revocation is retried until the platform takes it.
    let started = start(&app, &owner_browser, &owner.access, &ws, "INSTAGRAM").await;
    let back = authorize(
        started["data"]["startIntegrationConnect"]["authorizeUrl"]
            .as_str()
            .unwrap(),
    )
    .await;
    assert_eq!(owner_browser.get(&back).send().await.unwrap().status(), 303);
    let listed = app
        .gql_ok(
            Some(&owner.access),
            "query($w: ID!) { workspace(id: $w) { integrations { id provider handle health } } }",
            json!({ "w": ws }),
        )
        .await;
    let instagram = listed["workspace"]["integrations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["provider"] == "INSTAGRAM")
        .unwrap()
        .clone();
    assert_eq!(instagram["handle"], crate::fake_provider::meta_page(1).3);
    // Instagram acts with the person's long-lived Facebook Login token.
    let instagram_token = fake
        .issued()
        .into_iter()
        .rev()
        .find(|t| t.starts_with("fake-fb-long-"))
        .unwrap();
    fake.platform.fail_revocations.store(true, Ordering::SeqCst);
    app.gql_ok(
        Some(&owner.access),
        DISCONNECT,
        json!({ "id": instagram["id"] }),
    )
    .await;
    assert_eq!(
        atelier::domain::entities::integration_tokens::Entity::find()
            .count(&app.db)
            .await
            .unwrap(),
        0,
        "tokens are deleted even when the platform is down"
    );
    assert!(!fake.revoked().contains(&instagram_token));
    fake.platform
        .fail_revocations
        .store(false, Ordering::SeqCst);
    let deadline = tokio::time::Instant::now() + crate::helpers::PATIENCE;
    while !fake.revoked().contains(&instagram_token) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the revocation was retried"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    app.stop().await;
}
on_both_databases!(channels_connect_and_disconnect);

/// Connects `provider` for the workspace through the fake platform; returns its id.
pub(crate) async fn connect(app: &TestApp, owner: &Session, ws: &str, provider: &str) -> String {
    let owner_browser = browser();
    let started = start(app, &owner_browser, &owner.access, ws, provider).await;
    let back = authorize(
        started["data"]["startIntegrationConnect"]["authorizeUrl"]
            .as_str()
            .unwrap(),
    )
    .await;
    let done = owner_browser.get(&back).send().await.unwrap();
    assert_eq!(done.status(), 303);
    query_param(done.headers()["location"].to_str().unwrap(), "integration")
}

async fn health_of(app: &TestApp, owner: &Session, ws: &str) -> (String, Option<String>) {
    let listed = app
        .gql_ok(
            Some(&owner.access),
            "query($w: ID!) { workspace(id: $w) { integrations { health lastError } } }",
            json!({ "w": ws }),
        )
        .await;
    let channel = &listed["workspace"]["integrations"][0];
    (
        channel["health"].as_str().unwrap().to_string(),
        channel["lastError"].as_str().map(str::to_string),
    )
}

async fn wait_for_health(app: &TestApp, owner: &Session, ws: &str, health: &str) -> Option<String> {
    let deadline = tokio::time::Instant::now() + crate::helpers::PATIENCE;
    loop {
        let (now, error) = health_of(app, owner, ws).await;
        if now == health {
            return error;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "health stayed {now} ({error:?}), expected {health}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

async fn tokens_are_renewed_and_failures_set_health(backend: Backend) {
    let fake = FakeProvider::start().await;
    let app = TestApp::spawn_with(backend, |config| {
        config.providers.linkedin = fake.settings();
        // Tokens live an hour; renew anything expiring within two, checked every second.
        config.providers.refresh_before_secs = 7_200;
        config.jobs.maintenance_interval_secs = 1;
    })
    .await;
    let owner = app.signed_in_user("renew@example.com", "Rene Owner").await;
    let ws = app.create_workspace(&owner, "Renew Co").await;
    let id: uuid::Uuid = connect(&app, &owner, &ws, "LINKEDIN")
        .await
        .parse()
        .unwrap();
    let first = fake.issued()[0].clone();

    // Renewed before expiry: a new access token is stored (sealed), health ACTIVE.
    let deadline = tokio::time::Instant::now() + crate::helpers::PATIENCE;
    loop {
        let tokens =
            atelier::domain::channels::integrations::open_tokens(&app.db, app.vault_ref(), id)
                .await
                .unwrap()
                .unwrap();
        use secrecy::ExposeSecret;
        if tokens.access_token.expose_secret() != first {
            assert!(fake
                .issued()
                .iter()
                .any(|t| t == tokens.access_token.expose_secret()));
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the token was not renewed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(health_of(&app, &owner, &ws).await.0, "ACTIVE");

    // The platform is down: REFRESH_FAILED, retried, and nobody is emailed.
    fake.platform.refresh_mode.store(2, Ordering::SeqCst);
    let error = wait_for_health(&app, &owner, &ws, "REFRESH_FAILED").await;
    assert!(error.unwrap_or_default().contains("failed"));
    let attempts = fake.platform.refreshes.load(Ordering::SeqCst);
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    assert!(
        fake.platform.refreshes.load(Ordering::SeqCst) > attempts,
        "retried with backoff"
    );

    // The platform refuses the refresh token: NEEDS_REAUTH, and one email per incident.
    fake.platform.refresh_mode.store(1, Ordering::SeqCst);
    wait_for_health(&app, &owner, &ws, "NEEDS_REAUTH").await;
    let mail = app
        .inbox
        .wait_for_subject("renew@example.com", "Reconnect your LinkedIn account")
        .await;
    assert!(
        mail.decoded().contains("Renew Co")
            && mail.decoded().contains("http://app.test/integrations")
    );
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let notices = app
        .inbox
        .to("renew@example.com")
        .iter()
        .filter(|m| m.subject().contains("Reconnect"))
        .count();
    assert_eq!(notices, 1, "one email per incident, not one per attempt");
    app.stop().await;
}
on_both_databases!(tokens_are_renewed_and_failures_set_health);

/// The login-CSRF of OAuth: someone starts connecting in their own workspace and lures
/// another person onto the platform's consent page. That person's browser comes back
/// without the starter's cookie, so their account is not connected to the lurer's
/// workspace — and the attempt stays usable in the browser that started it.
async fn a_connect_cannot_be_finished_by_a_lured_browser(backend: Backend) {
    let fake = FakeProvider::start().await;
    let app = TestApp::spawn_with(backend, |config| {
        config.providers.linkedin = fake.settings();
    })
    .await;
    let lurer = app.signed_in_user("lurer@example.com", "Lurer").await;
    let ws = app.create_workspace(&lurer, "Lure Co").await;
    let lurer_browser = browser();
    let started = start(&app, &lurer_browser, &lurer.access, &ws, "LINKEDIN").await;
    let url = started["data"]["startIntegrationConnect"]["authorizeUrl"]
        .as_str()
        .unwrap()
        .to_string();

    // The lured person consents at the platform and their own browser comes back.
    let lured_browser = browser();
    let back = authorize(&url).await;
    let refused = lured_browser.get(&back).send().await.unwrap();
    assert_eq!(refused.status(), 403);
    assert!(refused
        .text()
        .await
        .unwrap()
        .contains("started in another browser"));
    // A browser with a cookie of the right name but a made-up nonce fares no better.
    let attempt = atelier::domain::entities::oauth_states::Entity::find()
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    let forged = no_redirects()
        .get(&back)
        .header(
            "cookie",
            format!(
                "{}=made-up-nonce",
                atelier::domain::channels::integrations::connect_cookie_name(attempt.id)
            ),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    assert_eq!(
        atelier::domain::entities::integrations::Entity::find()
            .count(&app.db)
            .await
            .unwrap(),
        0,
        "nothing was connected"
    );
    assert!(fake.issued().is_empty(), "no code was even exchanged");

    // The browser that started it finishes it.
    let done = lurer_browser
        .get(&authorize(&url).await)
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 303, "{}", done.text().await.unwrap());
    assert_eq!(
        atelier::domain::entities::integrations::Entity::find()
            .count(&app.db)
            .await
            .unwrap(),
        1
    );
    app.stop().await;
}
on_both_databases!(a_connect_cannot_be_finished_by_a_lured_browser);
