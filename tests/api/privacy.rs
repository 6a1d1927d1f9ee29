//! The public privacy portal: policy pages, rights requests confirmed by email, status
//! links and cancellation, Meta's deletion callback, and the app's own requests.

use atelier::domain::entities::{privacy_policies, privacy_requests};
use atelier::domain::privacy::meta;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, Set};
use serde_json::json;

use crate::helpers::*;
use crate::on_both_databases;

const META_SECRET: &str = "test-meta-app-secret";

async fn get(client: &reqwest::Client, url: String) -> (u16, String) {
    let response = client.get(url).send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

async fn post(client: &reqwest::Client, url: String, form: &[(&str, &str)]) -> (u16, String) {
    let response = client.post(url).form(form).send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// Fills in and sends the request form as a person would; returns status and page.
async fn send_request(
    app: &TestApp,
    client: &reqwest::Client,
    fields: &[(&str, &str)],
) -> (u16, String) {
    let (_, page) = get(client, format!("{}/privacy/requests/new", app.address)).await;
    let csrf = hidden(&page, "csrf");
    let mut form: Vec<(&str, &str)> = vec![("csrf", csrf.as_str()), ("deletion", "0")];
    form.extend_from_slice(fields);
    post(
        client,
        format!("{}/privacy/requests/new", app.address),
        &form,
    )
    .await
}

async fn request_count(app: &TestApp) -> u64 {
    privacy_requests::Entity::find()
        .count(&app.db)
        .await
        .unwrap()
}

async fn policy_pages_show_every_version(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = browser();
    let response = client
        .get(format!("{}/privacy", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("default-src 'none'"));
    let page = response.text().await.unwrap();
    for promise in [
        "do not sell personal data",
        "revoke the tokens at the platform",
        "/privacy/deletion",
        "one month under the GDPR",
        "Version 1",
    ] {
        assert!(
            page.to_lowercase().contains(&promise.to_lowercase()),
            "policy should say {promise:?}"
        );
    }
    let policy = app
        .gql_ok(
            None,
            "{ privacyPolicy { version summary bodyHtml } }",
            json!({}),
        )
        .await;
    assert_eq!(policy["privacyPolicy"]["version"], 1);
    assert!(policy["privacyPolicy"]["bodyHtml"]
        .as_str()
        .unwrap()
        .contains("<h2>"));

    // Publish a second version: it becomes current, with a diff against the first.
    let first = privacy_policies::Entity::find()
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    privacy_policies::ActiveModel {
        id: Set(uuid::Uuid::now_v7()),
        version: Set(2),
        effective_at: Set(chrono::Utc::now() - chrono::Duration::minutes(1)),
        published_at: Set(chrono::Utc::now()),
        published_by: Set(None),
        body: Set(first
            .body
            .replace("Publishing logs: 90 days.", "Publishing logs: 60 days.")),
        summary: Set("Publishing logs are now kept for 60 days.".into()),
    }
    .insert(&app.db)
    .await
    .unwrap();
    let (status, page) = get(&client, format!("{}/privacy", app.address)).await;
    assert_eq!(status, 200);
    assert!(
        page.contains("Version 2") && page.contains("Publishing logs are now kept for 60 days.")
    );
    let (_, versions) = get(&client, format!("{}/privacy/versions", app.address)).await;
    assert!(versions.contains("/privacy/versions/1") && versions.contains("/privacy/versions/2"));
    let (status, diff) = get(&client, format!("{}/privacy/versions/2", app.address)).await;
    assert_eq!(status, 200);
    assert!(
        diff.contains("class=\"removed\">− - Publishing logs: 90 days."),
        "{diff}"
    );
    assert!(diff.contains("class=\"added\">+ - Publishing logs: 60 days."));
    let (status, _) = get(&client, format!("{}/privacy/versions/1", app.address)).await;
    assert_eq!(status, 200);
    for missing in ["3", "abc", "-1"] {
        let (status, _) = get(
            &client,
            format!("{}/privacy/versions/{missing}", app.address),
        )
        .await;
        assert_eq!(status, 404, "version {missing}");
    }
    app.stop().await;
}
on_both_databases!(policy_pages_show_every_version);

async fn a_request_from_form_to_cancellation(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = browser();
    let (status, page) = send_request(
        &app,
        &client,
        &[
            ("kind", "ACCESS"),
            ("email", "Subject@Example.com"),
            ("workspace_name", "Northwind"),
            ("channel_identifiers", "@northwind on Instagram"),
            ("details", "Please include comments."),
            ("jurisdiction", "LGPD"),
        ],
    )
    .await;
    assert_eq!(status, 200);
    assert!(page.contains("Check your inbox"));

    // The confirmation email carries a single-use portal link.
    let mail = app.inbox.wait_for("subject@example.com", 1).await;
    assert!(
        mail.subject().contains("confirm your privacy request"),
        "{}",
        mail.subject()
    );
    let token = mail.token();
    assert!(mail.decoded().contains("/privacy/requests/confirm?token="));
    let (status, page) = get(
        &client,
        format!("{}/privacy/requests/confirm?token={token}", app.address),
    )
    .await;
    assert_eq!(status, 200);
    let csrf = hidden(&page, "csrf");
    let stored = privacy_requests::Entity::find()
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.status, "UNVERIFIED",
        "following the link alone confirms nothing"
    );
    assert_eq!(
        stored.due_at - stored.received_at,
        chrono::Duration::days(15)
    );

    let (status, page) = post(
        &client,
        format!("{}/privacy/requests/confirm", app.address),
        &[("token", token.as_str()), ("csrf", csrf.as_str())],
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        page.contains(&stored.reference),
        "the confirmed page shows the reference"
    );
    let due = stored.due_at.format("%-d %B %Y").to_string();
    assert!(page.contains(&due), "and the due date {due}");

    // The acknowledgement email: reference, what happens next, the deadline.
    let ack = app.inbox.wait_for("subject@example.com", 2).await;
    let text = ack.decoded();
    assert!(
        text.contains(&stored.reference)
            && text.contains(&due)
            && text.contains("What happens next")
    );

    // The link does not work twice.
    let (status, page) = post(
        &client,
        format!("{}/privacy/requests/confirm", app.address),
        &[("token", token.as_str()), ("csrf", csrf.as_str())],
    )
    .await;
    assert_eq!(status, 400);
    assert!(page.contains("This link does not work"));

    // Status: reference + email → a status link by email.
    let (_, page) = get(&client, format!("{}/privacy/requests/status", app.address)).await;
    let csrf = hidden(&page, "csrf");
    let lowercase_reference = stored.reference.to_lowercase();
    let (status, sent) = post(
        &client,
        format!("{}/privacy/requests/status", app.address),
        &[
            ("reference", lowercase_reference.as_str()),
            ("email", "subject@example.com"),
            ("csrf", csrf.as_str()),
        ],
    )
    .await;
    assert_eq!(status, 200);
    let link_mail = app.inbox.wait_for("subject@example.com", 3).await;
    let status_token = link_mail.token();
    let (status, page) = get(
        &client,
        format!(
            "{}/privacy/requests/status?token={status_token}",
            app.address
        ),
    )
    .await;
    assert_eq!(status, 200);
    assert!(page.contains("Confirmed, waiting for review"));
    assert!(
        page.contains("We received your request")
            && page.contains("You confirmed your email address")
    );
    assert!(page.contains("Cancel this request"));
    assert!(
        !page.contains("subject@example.com"),
        "the status page shows no email address"
    );

    // A wrong email gets the very same answer, and no email.
    let (status, same) = post(
        &client,
        format!("{}/privacy/requests/status", app.address),
        &[
            ("reference", stored.reference.as_str()),
            ("email", "someone@else.com"),
            ("csrf", csrf.as_str()),
        ],
    )
    .await;
    assert_eq!((status, same), (200, sent));
    assert!(app.inbox.to("someone@else.com").is_empty());

    // Cancel while not in progress: the first press asks again, and changes nothing.
    let csrf = hidden(&page, "csrf");
    let (status, asked) = post(
        &client,
        format!("{}/privacy/requests/cancel", app.address),
        &[("token", status_token.as_str()), ("csrf", csrf.as_str())],
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        asked.contains(&format!("Cancel request {}?", stored.reference))
            && asked.contains("Yes, cancel my request")
            && asked.contains("No, keep my request"),
        "{asked}"
    );
    let unchanged = privacy_requests::Entity::find_by_id(stored.id)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_ne!(unchanged.status, "CANCELLED");
    // The second says yes; then it cannot be cancelled again.
    let csrf = hidden(&asked, "csrf");
    let (status, page) = post(
        &client,
        format!("{}/privacy/requests/cancel", app.address),
        &[
            ("token", status_token.as_str()),
            ("csrf", csrf.as_str()),
            ("confirm", "yes"),
        ],
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        page.contains("Your request is cancelled") && page.contains("You cancelled this request")
    );
    assert!(!page.contains("Cancel this request"));
    assert!(
        page.contains("<dt>Closed</dt>") && !page.contains("Due by"),
        "a closed request has no deadline any more: {page}"
    );
    let (_, page) = post(
        &client,
        format!("{}/privacy/requests/cancel", app.address),
        &[
            ("token", status_token.as_str()),
            ("csrf", csrf.as_str()),
            ("confirm", "yes"),
        ],
    )
    .await;
    assert!(page.contains("can no longer be cancelled"));

    for action in [
        "privacy.request_submitted",
        "privacy.request_verified",
        "privacy.status_lookup",
        "privacy.request_cancelled",
    ] {
        assert!(
            atelier::domain::ops::audit::count_action(&app.db, action)
                .await
                .unwrap()
                >= 1,
            "{action} audited"
        );
    }
    assert!(atelier::domain::ops::audit::verify_chain(&app.db)
        .await
        .unwrap()
        .is_intact());
    app.stop().await;
}
on_both_databases!(a_request_from_form_to_cancellation);

async fn registered_and_unknown_emails_look_the_same(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let member = app.signed_in_user("member@example.com", "Mia Member").await;
    let client = browser();
    let (s1, known) = send_request(
        &app,
        &client,
        &[
            ("kind", "ERASE"),
            ("email", "member@example.com"),
            ("jurisdiction", "GDPR"),
        ],
    )
    .await;
    let (s2, unknown) = send_request(
        &app,
        &client,
        &[
            ("kind", "ERASE"),
            ("email", "stranger@example.com"),
            ("jurisdiction", "GDPR"),
        ],
    )
    .await;
    assert_eq!((s1, known), (s2, unknown));
    // Both get the same kind of confirmation email.
    let a = app.inbox.wait_for("member@example.com", 2).await;
    let b = app.inbox.wait_for("stranger@example.com", 1).await;
    assert_eq!(
        a.subject().split(' ').take(5).collect::<Vec<_>>(),
        b.subject().split(' ').take(5).collect::<Vec<_>>()
    );
    // Internally the registered one is linked to its account.
    let linked = privacy_requests::Entity::find()
        .filter(privacy_requests::Column::RequesterEmail.eq("member@example.com"))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        linked.user_id.map(|id| id.to_string()),
        Some(member.user_id.clone())
    );
    let unlinked = privacy_requests::Entity::find()
        .filter(privacy_requests::Column::RequesterEmail.eq("stranger@example.com"))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert!(unlinked.user_id.is_none());
    assert_eq!(
        linked.due_at - linked.received_at,
        unlinked.due_at - unlinked.received_at
    );
    app.stop().await;
}
on_both_databases!(registered_and_unknown_emails_look_the_same);

async fn bad_forms_and_tokens_are_refused(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.privacy.requests_per_email = 2).await;
    let client = browser();
    let url = format!("{}/privacy/requests/new", app.address);

    // CSRF: missing, wrong, or from a browser without the cookie.
    let (status, page) = post(
        &client,
        url.clone(),
        &[("kind", "ACCESS"), ("email", "a@example.com")],
    )
    .await;
    assert_eq!(status, 403);
    assert!(page.contains("This form expired"));
    assert!(
        page.contains("value=\"a@example.com\""),
        "what was typed is kept"
    );
    let (_, form) = get(&client, url.clone()).await;
    let (status, _) = post(
        &client,
        url.clone(),
        &[
            ("kind", "ACCESS"),
            ("email", "a@example.com"),
            ("csrf", "forged"),
        ],
    )
    .await;
    assert_eq!(status, 403);
    let csrf = hidden(&form, "csrf");
    let (status, _) = post(
        &browser(),
        url.clone(),
        &[
            ("kind", "ACCESS"),
            ("email", "a@example.com"),
            ("csrf", csrf.as_str()),
        ],
    )
    .await;
    assert_eq!(status, 403, "a token without its cookie is refused");
    assert_eq!(request_count(&app).await, 0);

    // Validation re-renders with messages next to the fields and keeps the input.
    let (status, page) = send_request(
        &app,
        &client,
        &[
            ("kind", "SELL"),
            ("email", "not-an-email"),
            ("details", "<b>keep me</b>"),
            ("jurisdiction", "MARS"),
        ],
    )
    .await;
    assert_eq!(status, 422);
    assert!(page.contains("Please choose what you would like us to do."));
    assert!(page.contains("id=\"email-error\""));
    // The error summary above the form links to each field; each message sits between
    // its label and its field, which says it is invalid and what describes it.
    let summary = page
        .find("class=\"error-summary\"")
        .expect("an error summary");
    assert!(summary < page.find("<form").unwrap());
    for field in ["kind", "email", "jurisdiction"] {
        assert!(
            page.contains(&format!("<a href=\"#{field}\">")),
            "the summary links to {field}"
        );
        let label = page.find(&format!("<label for=\"{field}\"")).unwrap();
        let message = page.find(&format!("id=\"{field}-error\"")).unwrap();
        let control = page
            .find(&format!("id=\"{field}\" name=\"{field}\""))
            .unwrap();
        assert!(
            label < message && message < control,
            "{field}: label, message, field"
        );
        let tag_end = control + page[control..].find('>').unwrap();
        assert!(page[control..tag_end].contains(&format!(
            "aria-invalid=\"true\" aria-describedby=\"{field}-error\""
        )));
    }
    assert!(
        !page.contains("<a href=\"#details\">"),
        "only fields in error are listed"
    );
    assert!(page.contains("Please choose where you live from the list."));
    let details_area = page.split("id=\"details\"").nth(1).unwrap_or_default();
    assert!(
        details_area.contains("keep me") && !details_area.contains("<b>"),
        "input kept and escaped: {details_area:.200}"
    );
    assert!(!page.contains("<b>keep me"));
    assert!(page.contains("value=\"not-an-email\""));
    assert_eq!(request_count(&app).await, 0);

    // The honeypot: a bot is told all is well; nothing is stored or sent.
    let (status, page) = send_request(
        &app,
        &client,
        &[
            ("kind", "ACCESS"),
            ("email", "bot@example.com"),
            ("website", "http://spam"),
        ],
    )
    .await;
    assert_eq!(status, 200);
    assert!(page.contains("Check your inbox"));
    assert_eq!(request_count(&app).await, 0);

    // Per-email rate limit.
    for _ in 0..2 {
        let (status, _) = send_request(
            &app,
            &client,
            &[("kind", "ACCESS"), ("email", "many@example.com")],
        )
        .await;
        assert_eq!(status, 200);
    }
    let (status, page) = send_request(
        &app,
        &client,
        &[("kind", "ACCESS"), ("email", "many@example.com")],
    )
    .await;
    assert_eq!(status, 429);
    assert!(page.contains("several requests for this email address"));
    assert_eq!(request_count(&app).await, 2);

    // Altered and unknown confirmation tokens.
    let token = app.inbox.wait_for("many@example.com", 1).await.token();
    let (_, page) = get(
        &client,
        format!("{}/privacy/requests/confirm?token={token}", app.address),
    )
    .await;
    let csrf = hidden(&page, "csrf");
    let mut altered = token.clone();
    let last = altered.pop().unwrap();
    altered.push(if last == 'A' { 'B' } else { 'A' });
    for bad in [altered.as_str(), "garbage", ""] {
        let (status, _) = post(
            &client,
            format!("{}/privacy/requests/confirm", app.address),
            &[("token", bad), ("csrf", csrf.as_str())],
        )
        .await;
        assert_eq!(status, 400, "{bad:?}");
    }
    // The status page refuses a confirmation token (another purpose).
    let (status, _) = get(
        &client,
        format!("{}/privacy/requests/status?token={token}", app.address),
    )
    .await;
    assert_eq!(status, 400);
    app.stop().await;
}
on_both_databases!(bad_forms_and_tokens_are_refused);

async fn expired_confirmation_links_are_refused_and_requests_expire(backend: Backend) {
    use atelier::domain::entities::one_time_tokens;

    let app = TestApp::spawn_with(backend, |c| c.jobs.maintenance_interval_secs = 1).await;
    let client = browser();
    send_request(
        &app,
        &client,
        &[
            ("kind", "EXPORT"),
            ("email", "late@example.com"),
            ("jurisdiction", "CCPA"),
        ],
    )
    .await;
    let token = app.inbox.wait_for("late@example.com", 1).await.token();

    // The link expires after 24 hours.
    let row = one_time_tokens::Entity::find()
        .filter(one_time_tokens::Column::Purpose.eq("REQUEST_CONFIRMATION"))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    let mut row: one_time_tokens::ActiveModel = row.into();
    row.expires_at = Set(chrono::Utc::now() - chrono::Duration::minutes(1));
    row.update(&app.db).await.unwrap();
    // The page the link opens says so at once (no button to press for nothing)…
    let (status, page) = get(
        &client,
        format!("{}/privacy/requests/confirm?token={token}", app.address),
    )
    .await;
    assert_eq!(status, 400);
    assert!(page.contains("This link does not work") && !page.contains("Confirm my request"));
    // …and a form sent from an earlier page is refused too.
    let (_, form) = get(&client, format!("{}/privacy/requests/new", app.address)).await;
    let csrf = hidden(&form, "csrf");
    let (status, _) = post(
        &client,
        format!("{}/privacy/requests/confirm", app.address),
        &[("token", token.as_str()), ("csrf", csrf.as_str())],
    )
    .await;
    assert_eq!(status, 400);

    // A request never confirmed for 7 days expires (the housekeeping job does it).
    let request = privacy_requests::Entity::find()
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        request.due_at - request.received_at,
        chrono::Duration::days(45)
    );
    let mut old: privacy_requests::ActiveModel = request.clone().into();
    old.received_at = Set(chrono::Utc::now() - chrono::Duration::days(8));
    old.update(&app.db).await.unwrap();
    let deadline = std::time::Instant::now() + crate::helpers::PATIENCE;
    loop {
        let now = privacy_requests::Entity::find_by_id(request.id)
            .one(&app.db)
            .await
            .unwrap()
            .unwrap();
        if now.status == "EXPIRED" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "request never expired: {}",
            now.status
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        atelier::domain::ops::audit::count_action(&app.db, "privacy.unverified_requests_expired")
            .await
            .unwrap(),
        1
    );
    app.stop().await;
}
on_both_databases!(expired_confirmation_links_are_refused_and_requests_expire);

async fn meta_deletion_callback(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.meta_app_secret = Some(secrecy::SecretString::from(META_SECRET));
        c.public_url = Some("https://atelier.example".into());
    })
    .await;
    let url = format!("{}/privacy/meta/data-deletion", app.address);
    let now = chrono::Utc::now().timestamp();
    let payload = json!({ "algorithm": "HMAC-SHA256", "user_id": "10158812345", "issued_at": now, "expires": 0 });
    let signed = meta::sign(&payload, META_SECRET);

    let response = app
        .http
        .post(&url)
        .form(&[("signed_request", signed.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    let code = body["confirmation_code"].as_str().unwrap().to_string();
    assert_eq!(
        body["url"],
        format!("https://atelier.example/privacy/deletion-status/{code}")
    );
    let stored = privacy_requests::Entity::find()
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            stored.kind.as_str(),
            stored.source.as_str(),
            stored.status.as_str()
        ),
        ("ERASE", "META_CALLBACK", "VERIFIED")
    );
    assert_eq!(stored.external_account_id.as_deref(), Some("10158812345"));

    // Redelivery: same answer, no second request.
    let again: serde_json::Value = app
        .http
        .post(&url)
        .form(&[("signed_request", signed.as_str())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(again["confirmation_code"], code.as_str());
    assert_eq!(request_count(&app).await, 1);

    // The status page people are sent to.
    let (status, page) = get(
        &app.http,
        format!("{}/privacy/deletion-status/{code}", app.address),
    )
    .await;
    assert_eq!(status, 200);
    assert!(page.contains("Delete my data") && page.contains("Meta told us"));
    let (status, _) = get(
        &app.http,
        format!("{}/privacy/deletion-status/NOPE", app.address),
    )
    .await;
    assert_eq!(status, 404);

    // Bad signature, expired, wrong algorithm, garbage: 400 and nothing changes.
    let forged = meta::sign(
        &json!({ "algorithm": "HMAC-SHA256", "user_id": "666", "issued_at": now }),
        "wrong-secret",
    );
    let expired = meta::sign(
        &json!({ "algorithm": "HMAC-SHA256", "user_id": "667", "issued_at": now - 60, "expires": now - 30 }),
        META_SECRET,
    );
    let algorithm = meta::sign(
        &json!({ "algorithm": "none", "user_id": "668", "issued_at": now }),
        META_SECRET,
    );
    for bad in [
        forged.as_str(),
        expired.as_str(),
        algorithm.as_str(),
        "not-a-signed-request",
        "",
    ] {
        let response = app
            .http
            .post(&url)
            .form(&[("signed_request", bad)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{bad}");
    }
    assert_eq!(request_count(&app).await, 1);
    app.stop().await;
}
on_both_databases!(meta_deletion_callback);

async fn in_app_requests(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let session = app.signed_in_user("own@example.com", "Owen Own").await;
    let export = app
        .gql_ok(
            Some(&session.access),
            "mutation { requestDataExport { reference kind status } }",
            json!({}),
        )
        .await;
    assert_eq!(export["requestDataExport"]["kind"], "EXPORT");
    assert_eq!(export["requestDataExport"]["status"], "UNVERIFIED");
    let mail = app.inbox.wait_for("own@example.com", 2).await;
    assert!(mail
        .decoded()
        .contains(export["requestDataExport"]["reference"].as_str().unwrap()));

    let wrong = app
        .gql(
            Some(&session.access),
            "mutation($p: String!) { requestAccountErasure(password: $p) { reference } }",
            json!({ "p": "not-my-password-at-all" }),
        )
        .await;
    assert_eq!(error_code(&wrong).as_deref(), Some("FORBIDDEN"), "{wrong}");
    let erase = app
        .gql_ok(
            Some(&session.access),
            "mutation($p: String!) { requestAccountErasure(password: $p) { kind status dueAt } }",
            json!({ "p": PASSWORD }),
        )
        .await;
    assert_eq!(erase["requestAccountErasure"]["kind"], "ERASE");
    let confirm = app.inbox.wait_for("own@example.com", 3).await;
    assert!(confirm
        .decoded()
        .contains("/privacy/requests/confirm?token="));

    let listed = app
        .gql_ok(
            Some(&session.access),
            "{ me { privacyRequests { kind status } } }",
            json!({}),
        )
        .await;
    let kinds: Vec<&str> = listed["me"]["privacyRequests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["ERASE", "EXPORT"]);
    let signed_out = app
        .gql(
            None,
            "mutation { requestDataExport { reference } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&signed_out).as_deref(), Some("UNAUTHENTICATED"));
    app.stop().await;
}
on_both_databases!(in_app_requests);

async fn meta_deauthorize_deletes_tokens(backend: Backend) {
    use atelier::domain::channels::integrations::{self, ConnectedAccount, TokenSet};
    use atelier::domain::entities::{integration_tokens, integrations as integration_rows};
    use atelier::domain::platforms::Provider;
    use atelier::domain::{workspace::workspaces, RequestMeta};
    use secrecy::{ExposeSecret, SecretString};

    let app = TestApp::spawn_with(backend, |c| {
        c.meta_app_secret = Some(SecretString::from(META_SECRET))
    })
    .await;
    let owner = app
        .signed_in_user("creator@example.com", "Cora Creator")
        .await;
    let workspace_id = app.create_workspace(&owner, "Cora Studio").await;
    let access = workspaces::require_access(
        &app.db,
        owner.user_id.parse().unwrap(),
        workspace_id.parse().unwrap(),
    )
    .await
    .unwrap();
    let vault = app.vault();
    let connected = integrations::upsert_connection(
        &app.db,
        &vault,
        &access,
        Provider::Instagram,
        ConnectedAccount {
            // The Instagram account's id is not the id Meta's callbacks name her by.
            external_account_id: "17841400000000099".into(),
            handle: Some("cora.makes".into()),
            display_name: Some("Cora".into()),
            scopes: vec!["instagram_basic".into(), "instagram_content_publish".into()],
            platform_user_id: Some("10158812345".into()),
        },
        TokenSet {
            access_token: SecretString::from("ig-access-token-plaintext"),
            refresh_token: Some(SecretString::from("ig-refresh-token-plaintext")),
            expires_at: None,
        },
        &RequestMeta::default(),
    )
    .await
    .unwrap();
    // Sealed at rest, bound to its row.
    let stored = integration_tokens::Entity::find_by_id(connected.id)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert!(
        !stored.access_token_sealed.contains("plaintext")
            && !stored
                .refresh_token_sealed
                .clone()
                .unwrap()
                .contains("plaintext")
    );
    let opened = integrations::open_tokens(&app.db, &vault, connected.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        opened.access_token.expose_secret(),
        "ig-access-token-plaintext"
    );

    let url = format!("{}/privacy/meta/deauthorize", app.address);
    let now = chrono::Utc::now().timestamp();
    let forged = meta::sign(
        &json!({ "algorithm": "HMAC-SHA256", "user_id": "10158812345", "issued_at": now }),
        "wrong",
    );
    let response = app
        .http
        .post(&url)
        .form(&[("signed_request", forged.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(
        integration_tokens::Entity::find()
            .count(&app.db)
            .await
            .unwrap(),
        1,
        "a bad signature changes nothing"
    );

    let signed = meta::sign(
        &json!({ "algorithm": "HMAC-SHA256", "user_id": "10158812345", "issued_at": now }),
        META_SECRET,
    );
    let body: serde_json::Value = app
        .http
        .post(&url)
        .form(&[("signed_request", signed.as_str())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["disconnected"], 1);
    assert_eq!(
        integration_tokens::Entity::find()
            .count(&app.db)
            .await
            .unwrap(),
        0,
        "no token row remains"
    );
    let integration = integration_rows::Entity::find_by_id(connected.id)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(integration.health, "REVOKED");
    assert!(integrations::open_tokens(&app.db, &vault, connected.id)
        .await
        .unwrap()
        .is_none());

    // Redelivery is harmless.
    let again: serde_json::Value = app
        .http
        .post(&url)
        .form(&[("signed_request", signed.as_str())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(again["disconnected"], 0);
    assert_eq!(
        atelier::domain::ops::audit::count_action(&app.db, "integration.deauthorized_by_platform")
            .await
            .unwrap(),
        1
    );

    // A deletion callback for the same id is linked to the person who connected it.
    let deletion = app
        .http
        .post(format!("{}/privacy/meta/data-deletion", app.address))
        .form(&[("signed_request", signed.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(deletion.status(), 200);
    let request = privacy_requests::Entity::find()
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        request.user_id.map(|id| id.to_string()),
        Some(owner.user_id.clone())
    );
    app.stop().await;
}
on_both_databases!(meta_deauthorize_deletes_tokens);
