//! Client review links through HTTP: an ADMIN shares drafts, the reviewer (no account)
//! opens the emailed link, approves one draft and asks for changes on another; the
//! drafts move, the team is told (email, audit, webhook delivery); revoked, expired and
//! forged links open nothing; a workspace can require a client's approval before
//! scheduling; the reviewer's address is exported, erased and minimised by retention.
//! The same flow clicked through in Chromium lives in `browser.rs`.

use std::io::Read;

use atelier::domain::entities::{audit_events, review_links, webhook_deliveries};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{json, Value};

use crate::helpers::*;
use crate::on_both_databases;
use crate::privacy_flow::{ask_on_portal, get, leftovers, settles, Officer};
use crate::workspaces::add_member;

pub(crate) const SHARE: &str = "mutation($i: ShareForReviewInput!) { shareForReview(input: $i) { id email state timeZone expiresAt drafts { draftId plannedAt decision } } }";
const REVOKE: &str = "mutation($id: ID!) { revokeReviewLink(id: $id) { id state revokedAt } }";
const DRAFT: &str = "query($id: ID!) { draft(id: $id) { status version workflow { from to note actorId reviewLinkId } comments { edges { node { body author { id } reviewLinkId } } } clientReviews { decision comment draftVersion reviewLink { id email state } } } }";

/// A draft with a LinkedIn and an Instagram text, submitted for review; its id.
pub(crate) async fn draft_in_review(
    app: &TestApp,
    session: &Session,
    ws: &str,
    title: &str,
) -> String {
    draft_with(app, session, ws, title, None).await
}

/// `draft_in_review`, with a PNG attached first when `image` names it.
pub(crate) async fn draft_with(
    app: &TestApp,
    session: &Session,
    ws: &str,
    title: &str,
    image: Option<&str>,
) -> String {
    let id = crate::publishing::draft_to(
        app,
        session,
        ws,
        title,
        &[
            ("LINKEDIN", &format!("{title}: the long read for LinkedIn")),
            ("INSTAGRAM", &format!("{title} 📸 #spring")),
        ],
    )
    .await;
    if let Some(name) = image {
        crate::publishing::attach(app, session, ws, &id, name, "image/png", crate::media::PNG)
            .await;
    }
    app.gql_ok(
        Some(&session.access),
        "mutation($id: ID!) { submitDraftForReview(id: $id) { status } }",
        json!({ "id": id }),
    )
    .await;
    id
}

/// Shares drafts with `email` (ADMIN); the link as the API answers it.
pub(crate) async fn share(
    app: &TestApp,
    session: &Session,
    ws: &str,
    email: &str,
    drafts: Value,
) -> Value {
    app.gql_ok(
        Some(&session.access),
        SHARE,
        json!({ "i": { "workspaceId": ws, "email": email, "drafts": drafts,
                        "reviewerTimeZone": "America/New_York",
                        "message": "Here are next week's posts." } }),
    )
    .await["shareForReview"]
        .clone()
}

/// The review link in the newest review email to `email` after `seen`.
pub(crate) async fn review_link(app: &TestApp, email: &str, seen: usize) -> String {
    app.pump_jobs().await;
    let mail = app.inbox.wait_for_new(email, seen, "review").await;
    let text = mail.decoded();
    let link = text
        .split_whitespace()
        .find(|w| w.contains("/privacy/review?token="))
        .unwrap_or_else(|| panic!("no review link in {text}"))
        .to_string();
    assert!(link.starts_with(&app.address), "{link}");
    link
}

/// Sends one decision from the page at `link` (with its CSRF field); the status and the
/// page the browser ends on.
async fn decide(
    client: &reqwest::Client,
    app: &TestApp,
    link: &str,
    draft: &str,
    decision: &str,
    comment: &str,
) -> (u16, String) {
    let (status, page) = get(client, link.to_string()).await;
    assert_eq!(status, 200, "{page}");
    let token = link.split("token=").nth(1).unwrap();
    let marker = format!("name=\"draft\" value=\"{draft}\"");
    let at = page
        .find(&marker)
        .unwrap_or_else(|| panic!("no form for {draft}"));
    let version = hidden(&page[at..], "version");
    let response = client
        .post(format!("{}/privacy/review", app.address))
        .form(&[
            ("token", token),
            ("csrf", hidden(&page, "csrf").as_str()),
            ("draft", draft),
            ("version", version.as_str()),
            ("decision", decision),
            ("comment", comment),
            ("tz", ""),
        ])
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    match response.headers().get("location") {
        Some(to) => {
            let to = to.to_str().unwrap().to_string();
            assert!(to.starts_with("/privacy/review?token="), "{to}");
            get(client, format!("{}{to}", app.address)).await
        }
        None => (status, response.text().await.unwrap()),
    }
}

/// Posts a decision form as a browser would, without reading the page first (a page
/// opened earlier, or a forged form); the status of the answer.
async fn post_decision(client: &reqwest::Client, app: &TestApp, fields: &[(&str, &str)]) -> u16 {
    client
        .post(format!("{}/privacy/review", app.address))
        .form(fields)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn a_reviewer_approves_one_post_and_asks_for_changes_on_another(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.webhooks.allow_private_addresses = true).await;
    let owner = app
        .signed_in_user("olive@agency.example", "Olive Owner")
        .await;
    let ws = app.create_workspace(&owner, "Olive Agency").await;
    app.gql_ok(
        Some(&owner.access),
        "mutation($i: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $i) { secret } }",
        json!({ "i": { "workspaceId": ws, "url": "http://127.0.0.1:9/hooks", "events": ["REVIEW_DECIDED"] } }),
    )
    .await;
    let spring = draft_with(&app, &owner, &ws, "Spring launch", Some("tulips.png")).await;
    let summer = draft_in_review(&app, &owner, &ws, "Summer teaser").await;
    let planned = (chrono::Utc::now() + chrono::Duration::days(9))
        .date_naive()
        .and_hms_opt(15, 0, 0)
        .unwrap()
        .and_utc();
    let link = share(
        &app,
        &owner,
        &ws,
        "Casey.Client@Brand.example",
        json!([{ "draftId": spring, "plannedAt": planned.to_rfc3339() }, { "draftId": summer }]),
    )
    .await;
    assert_eq!(link["email"], "casey.client@brand.example");
    assert_eq!(link["state"], "PENDING");
    assert_eq!(link["timeZone"], "America/New_York");
    assert_eq!(link["drafts"].as_array().unwrap().len(), 2);

    // The email: who asks, what, and the link; the reviewer has no account.
    let url = review_link(&app, "casey.client@brand.example", 0).await;
    let mail = app.inbox.to("casey.client@brand.example").pop().unwrap();
    assert!(
        mail.subject()
            .contains("Olive Agency asks you to review 2 posts"),
        "{}",
        mail.subject()
    );
    assert!(mail.decoded().contains("Olive Owner of Olive Agency"));

    // The page: each channel's text, the media, the planned time in the reviewer's zone.
    let client = browser();
    let response = client.get(&url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.headers()["referrer-policy"], "no-referrer");
    let page = response.text().await.unwrap();
    let early_csrf = hidden(&page, "csrf");
    for needle in [
        "Review posts for Olive Agency",
        "Spring launch: the long read for LinkedIn",
        "Summer teaser 📸 #spring",
        "<h3>LinkedIn</h3>",
        "<h3>Instagram</h3>",
        "alt=\"Attached image: tulips.png\"",
        "Here are next week&#39;s posts.",
        "<option value=\"America/New_York\" selected>",
    ] {
        assert!(page.contains(needle), "{needle} not in {page}");
    }
    let shown = planned
        .with_timezone(&chrono_tz::America::New_York)
        .format("%A %-d %B %Y, %H:%M (%Z)")
        .to_string();
    assert!(page.contains(&shown), "{shown} not in {page}");
    // The same page in another zone the reviewer picks (a plain GET form).
    let (_, in_tokyo) = get(&client, format!("{url}&tz=Asia/Tokyo")).await;
    let tokyo = planned
        .with_timezone(&chrono_tz::Asia::Tokyo)
        .format("%A %-d %B %Y, %H:%M (%Z)")
        .to_string();
    assert!(in_tokyo.contains(&tokyo), "{tokyo}");
    // The image link on the page works without credentials.
    let img = page
        .split("<img src=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let img = img.replace("&#38;", "&").replace("&amp;", "&");
    let (status, _) = get(&client, img).await;
    assert_eq!(status, 200);
    // The path form of the link opens the same page.
    let token = url.split("token=").nth(1).unwrap();
    let (status, by_path) = get(&client, format!("{}/privacy/review/{token}", app.address)).await;
    assert_eq!(status, 200);
    assert!(by_path.contains("Summer teaser"));

    // Approve the first.
    let (status, after) = decide(&client, &app, &url, &spring, "approve", "").await;
    assert_eq!(status, 200, "{after}");
    assert!(after.contains("Thank you."), "{after}");
    assert!(after.contains("You approved this post"), "{after}");
    // Asking for changes without a comment: the page again, the message at the top and
    // beside the field, nothing recorded.
    let (status, refused) = decide(&client, &app, &url, &summer, "changes", "   ").await;
    assert_eq!(status, 400);
    assert!(refused.contains("There is a problem"), "{refused}");
    assert!(
        refused.contains(&format!("href=\"#comment-{summer}\"")),
        "{refused}"
    );
    assert!(refused.contains("a comment is required"), "{refused}");
    let draft = app
        .gql_ok(Some(&owner.access), DRAFT, json!({ "id": summer }))
        .await;
    assert_eq!(draft["draft"]["status"], "IN_REVIEW");
    let (status, _) = decide(
        &client,
        &app,
        &url,
        &summer,
        "changes",
        "Please use the <b>blue</b> logo",
    )
    .await;
    assert_eq!(status, 200);

    // The drafts moved through the review machine, each step recorded with the link.
    let approved = app
        .gql_ok(Some(&owner.access), DRAFT, json!({ "id": spring }))
        .await;
    assert_eq!(approved["draft"]["status"], "APPROVED");
    let last = approved["draft"]["workflow"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["from"], "IN_REVIEW");
    assert_eq!(last["to"], "APPROVED");
    assert_eq!(last["actorId"], Value::Null);
    assert_eq!(last["reviewLinkId"], link["id"]);
    let review = &approved["draft"]["clientReviews"][0];
    assert_eq!(review["decision"], "APPROVED");
    assert_eq!(review["reviewLink"]["email"], "casey.client@brand.example");
    let changed = app
        .gql_ok(Some(&owner.access), DRAFT, json!({ "id": summer }))
        .await;
    assert_eq!(changed["draft"]["status"], "CHANGES_REQUESTED");
    let comment = &changed["draft"]["comments"]["edges"][0]["node"];
    assert_eq!(comment["body"], "Please use the <b>blue</b> logo");
    assert_eq!(comment["author"], Value::Null);
    assert_eq!(comment["reviewLinkId"], link["id"]);
    assert_eq!(
        changed["draft"]["clientReviews"][0]["reviewLink"]["state"], "CHANGES_REQUESTED",
        "every draft decided, one sent back"
    );
    // The page shows the decisions, escaped, and no more forms.
    let (_, done) = get(&client, url.clone()).await;
    assert!(
        done.contains("Please use the &#60;b&#62;blue&#60;"),
        "{done}"
    );
    assert!(!done.contains("name=\"decision\""), "{done}");
    assert!(done.contains("You have decided on every post"));

    // The team is told: an email to the ADMINs per decision, audit events, webhooks.
    app.pump_jobs().await;
    app.inbox
        .wait_for_subject("olive@agency.example", "Your client approved")
        .await;
    let sent_back = app
        .inbox
        .wait_for_subject("olive@agency.example", "Your client asked for changes")
        .await;
    assert!(sent_back.decoded().contains("Please use the"));
    assert!(
        !sent_back.decoded().contains("casey.client"),
        "the address stays in the app"
    );
    let decided = audit_events::Entity::find()
        .filter(audit_events::Column::Action.eq("review.decided"))
        .all(&app.db)
        .await
        .unwrap();
    assert_eq!(decided.len(), 2);
    assert!(decided.iter().all(|e| e.actor_kind == "client_reviewer"));
    assert!(decided.iter().all(|e| !e.details.contains("casey")));
    let hooks = webhook_deliveries::Entity::find()
        .filter(webhook_deliveries::Column::EventType.eq("review.decided"))
        .all(&app.db)
        .await
        .unwrap();
    assert_eq!(hooks.len(), 2);
    assert!(
        hooks.iter().all(|h| !h.payload.contains("casey")),
        "ids, not people"
    );

    // A second answer on a decided post changes nothing.
    let page = get(&client, url.clone()).await.1;
    assert!(!page.contains(&format!("name=\"draft\" value=\"{spring}\"")));
    let response = client
        .post(format!("{}/privacy/review", app.address))
        .form(&[
            ("token", token),
            ("csrf", early_csrf.as_str()),
            ("draft", spring.as_str()),
            ("version", "1"),
            ("decision", "changes"),
            ("comment", "changed my mind"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("You already decided on this post"));
    let still = app
        .gql_ok(Some(&owner.access), DRAFT, json!({ "id": spring }))
        .await;
    assert_eq!(still["draft"]["status"], "APPROVED");
    app.stop().await;
}
on_both_databases!(a_reviewer_approves_one_post_and_asks_for_changes_on_another);

async fn revoked_expired_and_forged_links_open_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app
        .signed_in_user("rita@agency.example", "Rita Owner")
        .await;
    let ws = app.create_workspace(&owner, "Rita Agency").await;
    let first = draft_in_review(&app, &owner, &ws, "First").await;
    let second = draft_in_review(&app, &owner, &ws, "Second").await;
    let revoked = share(
        &app,
        &owner,
        &ws,
        "pat@client.example",
        json!([{ "draftId": first }]),
    )
    .await;
    let revoked_url = review_link(&app, "pat@client.example", 0).await;
    let expired = share(
        &app,
        &owner,
        &ws,
        "pat@client.example",
        json!([{ "draftId": second }]),
    )
    .await;
    let expired_url = review_link(&app, "pat@client.example", 1).await;
    let client = browser();
    let (_, live) = get(&client, revoked_url.clone()).await;
    let csrf = hidden(&live, "csrf");

    let answer = app
        .gql_ok(Some(&owner.access), REVOKE, json!({ "id": revoked["id"] }))
        .await;
    assert_eq!(answer["revokeReviewLink"]["state"], "REVOKED");
    let again = app
        .gql(Some(&owner.access), REVOKE, json!({ "id": revoked["id"] }))
        .await;
    assert_eq!(
        error_code(&again).as_deref(),
        Some("BAD_USER_INPUT"),
        "{again}"
    );
    review_links::Entity::update_many()
        .col_expr(
            review_links::Column::ExpiresAt,
            Expr::value(chrono::Utc::now() - chrono::Duration::minutes(1)),
        )
        .filter(
            review_links::Column::Id.eq(expired["id"]
                .as_str()
                .unwrap()
                .parse::<uuid::Uuid>()
                .unwrap()),
        )
        .exec(&app.db)
        .await
        .unwrap();

    let (status, page) = get(&client, revoked_url.clone()).await;
    assert_eq!(status, 410);
    assert!(page.contains("This review link was withdrawn"), "{page}");
    assert!(!page.contains("First"), "nothing of the draft shows");
    let (status, page) = get(&client, expired_url.clone()).await;
    assert_eq!(status, 410);
    assert!(page.contains("This review link has expired"), "{page}");
    assert!(!page.contains("Second"));

    // A decision sent from a page opened before the link was revoked is refused.
    let token = revoked_url.split("token=").nth(1).unwrap();
    let status = post_decision(
        &client,
        &app,
        &[
            ("token", token),
            ("csrf", csrf.as_str()),
            ("draft", first.as_str()),
            ("version", "1"),
            ("decision", "approve"),
        ],
    )
    .await;
    assert_eq!(status, 410);
    let expired_token = expired_url.split("token=").nth(1).unwrap();
    let status = post_decision(
        &client,
        &app,
        &[
            ("token", expired_token),
            ("csrf", csrf.as_str()),
            ("draft", second.as_str()),
            ("version", "1"),
            ("decision", "approve"),
        ],
    )
    .await;
    assert_eq!(status, 410);
    for id in [&first, &second] {
        let draft = app
            .gql_ok(Some(&owner.access), DRAFT, json!({ "id": id }))
            .await;
        assert_eq!(draft["draft"]["status"], "IN_REVIEW", "nothing was decided");
    }
    let listed = app
        .gql_ok(
            Some(&owner.access),
            "query($w: ID!) { workspace(id: $w) { reviewLinks { edges { node { id state } } } } }",
            json!({ "w": ws }),
        )
        .await;
    let states: Vec<&str> = listed["workspace"]["reviewLinks"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["EXPIRED", "REVOKED"], "newest first");

    // Forged tokens: another secret for a real id, garbage, an overlong value.
    let (id, secret) = expired_token.split_once('.').unwrap();
    let mut forged: Vec<char> = secret.chars().collect();
    forged[0] = if forged[0] == 'A' { 'B' } else { 'A' };
    let forged: String = forged.into_iter().collect();
    for token in [
        format!("{id}.{forged}"),
        "nothing".to_string(),
        format!("{id}.{}", "x".repeat(300)),
        "%27%20OR%201%3D1--".to_string(),
    ] {
        let (status, page) = get(
            &client,
            format!("{}/privacy/review?token={token}", app.address),
        )
        .await;
        assert_eq!(status, 404, "{token}: {page}");
    }
    // A decision without the page's CSRF field is refused whatever the token.
    let fields = [
        ("token", expired_token),
        ("draft", second.as_str()),
        ("version", "1"),
        ("decision", "approve"),
    ];
    assert_eq!(post_decision(&client, &app, &fields).await, 403);
    app.stop().await;
}
on_both_databases!(revoked_expired_and_forged_links_open_nothing);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sharing_is_for_admins_and_checks_what_it_is_given() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let owner = app.signed_in_user("sam@agency.example", "Sam Owner").await;
    let ws = app.create_workspace(&owner, "Sam Agency").await;
    let editor = add_member(&app, &owner, &ws, "eddie@agency.example", "EDITOR").await;
    let ready = draft_in_review(&app, &owner, &ws, "<script>alert(1)</script> Ready").await;
    let unsubmitted =
        crate::publishing::draft_to(&app, &owner, &ws, "Unsubmitted", &[("LINKEDIN", "x")]).await;
    let stranger = app.signed_in_user("sly@else.example", "Sly Stranger").await;
    let theirs = app.create_workspace(&stranger, "Else").await;
    let foreign = draft_in_review(&app, &stranger, &theirs, "Foreign").await;
    let input = |email: &str, drafts: Value, extra: Value| {
        let mut i = json!({ "workspaceId": ws, "email": email, "drafts": drafts });
        for (k, v) in extra.as_object().unwrap() {
            i[k] = v.clone();
        }
        json!({ "i": i })
    };
    let ok = json!([{ "draftId": ready }]);
    let past = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let many: Vec<Value> = (0..21).map(|_| json!({ "draftId": ready })).collect();
    for (who, vars, code, words) in [
        (
            None,
            input("c@client.example", ok.clone(), json!({})),
            "UNAUTHENTICATED",
            "",
        ),
        (
            Some(&editor),
            input("c@client.example", ok.clone(), json!({})),
            "FORBIDDEN",
            "ADMIN",
        ),
        (
            Some(&stranger),
            input("c@client.example", ok.clone(), json!({})),
            "NOT_FOUND",
            "",
        ),
        (
            Some(&owner),
            input("not-an-address", ok.clone(), json!({})),
            "BAD_USER_INPUT",
            "email",
        ),
        (
            Some(&owner),
            input("c@client.example", json!([]), json!({})),
            "BAD_USER_INPUT",
            "at least one",
        ),
        (
            Some(&owner),
            input("c@client.example", json!(many), json!({})),
            "BAD_USER_INPUT",
            "at most 20",
        ),
        (
            Some(&owner),
            input(
                "c@client.example",
                json!([{ "draftId": ready }, { "draftId": ready }]),
                json!({}),
            ),
            "BAD_USER_INPUT",
            "only once",
        ),
        (
            Some(&owner),
            input(
                "c@client.example",
                json!([{ "draftId": unsubmitted }]),
                json!({}),
            ),
            "BAD_USER_INPUT",
            "only drafts in review",
        ),
        (
            Some(&owner),
            input(
                "c@client.example",
                json!([{ "draftId": foreign }]),
                json!({}),
            ),
            "NOT_FOUND",
            "",
        ),
        (
            Some(&owner),
            input(
                "c@client.example",
                json!([{ "draftId": "nope" }]),
                json!({}),
            ),
            "BAD_USER_INPUT",
            "",
        ),
        (
            Some(&owner),
            input(
                "c@client.example",
                ok.clone(),
                json!({ "expiresInDays": 0 }),
            ),
            "BAD_USER_INPUT",
            "between 1 and 30",
        ),
        (
            Some(&owner),
            input(
                "c@client.example",
                ok.clone(),
                json!({ "expiresInDays": 31 }),
            ),
            "BAD_USER_INPUT",
            "between 1 and 30",
        ),
        (
            Some(&owner),
            input(
                "c@client.example",
                ok.clone(),
                json!({ "reviewerTimeZone": "Mars/Olympus" }),
            ),
            "BAD_USER_INPUT",
            "IANA",
        ),
        (
            Some(&owner),
            input(
                "c@client.example",
                json!([{ "draftId": ready, "plannedAt": past }]),
                json!({}),
            ),
            "BAD_USER_INPUT",
            "past",
        ),
        (
            Some(&owner),
            input(
                "c@client.example",
                ok.clone(),
                json!({ "message": "bell\u{7}" }),
            ),
            "BAD_USER_INPUT",
            "control",
        ),
        (
            Some(&owner),
            input(
                "c@client.example",
                ok.clone(),
                json!({ "message": "x".repeat(2_001) }),
            ),
            "BAD_USER_INPUT",
            "2000",
        ),
    ] {
        let answer = app
            .gql(who.map(|s| s.access.as_str()), SHARE, vars.clone())
            .await;
        assert_eq!(
            error_code(&answer).as_deref(),
            Some(code),
            "{vars}: {answer}"
        );
        assert!(answer.to_string().contains(words), "{words}: {answer}");
    }
    assert!(
        review_links::Entity::find()
            .all(&app.db)
            .await
            .unwrap()
            .is_empty(),
        "nothing was shared"
    );
    assert!(app.inbox.to("c@client.example").is_empty());

    // The happy path, then the other ADMIN mutations refused to others.
    let link = share(&app, &owner, &ws, "c@client.example", ok).await;
    let revoke = |s: &Session, id: Value| {
        let token = s.access.clone();
        let app = &app;
        async move { app.gql(Some(&token), REVOKE, json!({ "id": id })).await }
    };
    assert_eq!(
        error_code(&revoke(&editor, link["id"].clone()).await).as_deref(),
        Some("FORBIDDEN")
    );
    assert_eq!(
        error_code(&revoke(&stranger, link["id"].clone()).await).as_deref(),
        Some("NOT_FOUND")
    );
    assert_eq!(
        error_code(&revoke(&owner, json!(uuid::Uuid::now_v7().to_string())).await).as_deref(),
        Some("NOT_FOUND")
    );
    let listed = app
        .gql(
            Some(&editor.access),
            "query($w: ID!) { workspace(id: $w) { reviewLinks { edges { node { id } } } } }",
            json!({ "w": ws }),
        )
        .await;
    assert_eq!(
        error_code(&listed).as_deref(),
        Some("FORBIDDEN"),
        "{listed}"
    );
    // Markup in a title is shown as text on the reviewer's page.
    let url = review_link(&app, "c@client.example", 0).await;
    let (_, page) = get(&browser(), url).await;
    assert!(!page.contains("<script>alert(1)</script>"), "{page}");
    assert!(page.contains("&#60;script&#62;alert(1)&#60;"), "{page}");
    app.stop().await;
}

async fn a_workspace_can_require_a_clients_approval_before_scheduling(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app
        .signed_in_user("cleo@agency.example", "Cleo Owner")
        .await;
    let ws = app.create_workspace(&owner, "Cleo Agency").await;
    let settings = app
        .gql_ok(
            Some(&owner.access),
            "mutation($w: ID!) { updateWorkspaceSettings(workspaceId: $w, clientApprovalRequired: true) { clientApprovalRequired } }",
            json!({ "w": ws }),
        )
        .await;
    assert_eq!(
        settings["updateWorkspaceSettings"]["clientApprovalRequired"],
        true
    );
    let draft = draft_in_review(&app, &owner, &ws, "Needs the client").await;
    app.gql_ok(
        Some(&owner.access),
        "mutation($id: ID!) { approveDraft(id: $id) { status } }",
        json!({ "id": draft }),
    )
    .await;
    let at = (chrono::Utc::now() + chrono::Duration::days(3)).to_rfc3339();
    let schedule = "mutation($id: ID!, $at: DateTime!) { scheduleDraft(id: $id, publishAt: $at, timeZone: \"UTC\") { status } }";
    let refused = app
        .gql(
            Some(&owner.access),
            schedule,
            json!({ "id": draft, "at": at }),
        )
        .await;
    assert_eq!(
        error_code(&refused).as_deref(),
        Some("BAD_USER_INPUT"),
        "{refused}"
    );
    assert!(
        refused.to_string().contains("requires a client's approval"),
        "{refused}"
    );

    // The team approved already; the client's approval is recorded beside it, and then
    // the draft can be scheduled.
    share(
        &app,
        &owner,
        &ws,
        "quinn@client.example",
        json!([{ "draftId": draft }]),
    )
    .await;
    let url = review_link(&app, "quinn@client.example", 0).await;
    let (status, page) = decide(&browser(), &app, &url, &draft, "approve", "Lovely").await;
    assert_eq!(status, 200, "{page}");
    let state = app
        .gql_ok(Some(&owner.access), DRAFT, json!({ "id": draft }))
        .await;
    assert_eq!(state["draft"]["status"], "APPROVED");
    let last = state["draft"]["workflow"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        (last["from"].as_str(), last["to"].as_str()),
        (Some("APPROVED"), Some("APPROVED"))
    );
    assert_eq!(last["note"], "Client review: Lovely");
    let scheduled = app
        .gql_ok(
            Some(&owner.access),
            schedule,
            json!({ "id": draft, "at": at }),
        )
        .await;
    assert_eq!(scheduled["scheduleDraft"]["status"], "SCHEDULED");
    app.stop().await;
}
on_both_databases!(a_workspace_can_require_a_clients_approval_before_scheduling);

async fn a_reviewers_address_is_exported_then_erased_everywhere(backend: Backend) {
    use atelier::domain::staff::accounts::StaffRole;
    let app = TestApp::spawn(backend).await;
    let owner = app
        .signed_in_user("erin@agency.example", "Erin Owner")
        .await;
    let ws = app.create_workspace(&owner, "Erin Agency").await;
    let draft = draft_in_review(&app, &owner, &ws, "Autumn").await;
    let other = draft_in_review(&app, &owner, &ws, "Winter").await;
    let reviewer = "rowan.reviewer@client.example";
    share(&app, &owner, &ws, reviewer, json!([{ "draftId": draft }])).await;
    let url = review_link(&app, reviewer, 0).await;
    let words = "Rowan-says-make-it-warmer";
    decide(&browser(), &app, &url, &draft, "changes", words).await;

    // The reviewer (no account) asks for their data on the portal.
    let officer = Officer::sign_in(&app, "ola@atelier.test", StaffRole::Compliance).await;
    let export = ask_on_portal(&app, reviewer, "EXPORT").await;
    officer.approve(&app, export.id).await;
    settles(&app, export.id, &["COMPLETED"]).await;
    app.pump_jobs().await;
    let mail = app
        .inbox
        .wait_for_subject(reviewer, "ready to download")
        .await;
    let download = mail
        .decoded()
        .split_whitespace()
        .find(|w| w.contains("/exports/"))
        .unwrap()
        .to_string();
    let bytes = reqwest::get(&download)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let mut text = String::new();
    archive
        .by_name("review_links.json")
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    let reviews: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(reviews.as_array().unwrap().len(), 1, "{reviews}");
    assert_eq!(reviews[0]["email"], reviewer);
    assert_eq!(reviews[0]["workspace"], "Erin Agency");
    assert_eq!(reviews[0]["drafts"][0]["title"], "Autumn");
    assert_eq!(reviews[0]["drafts"][0]["decision"], "CHANGES_REQUESTED");
    assert_eq!(reviews[0]["drafts"][0]["comment"], words);
    drop(archive);

    // Then erasure, with a second link still pending: the address and their words leave
    // every table and file.
    share(&app, &owner, &ws, reviewer, json!([{ "draftId": other }])).await;
    let erase = ask_on_portal(&app, reviewer, "ERASE").await;
    officer.approve(&app, erase.id).await;
    settles(&app, erase.id, &["COMPLETED"]).await;
    let left = leftovers(&app, &[reviewer.to_string(), words.to_string()]).await;
    assert!(left.is_empty(), "{left:?}");
    // What the client decided stays with the draft, without the person.
    let state = app
        .gql_ok(Some(&owner.access), DRAFT, json!({ "id": draft }))
        .await;
    let review = &state["draft"]["clientReviews"][0];
    assert_eq!(review["decision"], "CHANGES_REQUESTED");
    assert_eq!(review["comment"], Value::Null);
    assert_eq!(review["reviewLink"]["email"], Value::Null);
    let pending = app
        .gql_ok(Some(&owner.access), DRAFT, json!({ "id": other }))
        .await;
    let pending = &pending["draft"]["clientReviews"][0]["reviewLink"];
    assert_eq!(pending["state"], "REVOKED", "the pending link stopped");
    assert_eq!(pending["email"], Value::Null);
    let (status, _) = get(&browser(), url).await;
    assert_eq!(status, 404, "the old link opens nothing");
    // Erasure told them it was done: there was something to erase.
    app.pump_jobs().await;
    app.inbox
        .wait_for_subject(
            reviewer,
            &format!("Your privacy request {} is complete", erase.reference),
        )
        .await;
    app.stop().await;
}
on_both_databases!(a_reviewers_address_is_exported_then_erased_everywhere);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_removes_a_reviewers_address_90_days_after_the_link_ended() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let owner = app
        .signed_in_user("tess@agency.example", "Tess Owner")
        .await;
    let ws = app.create_workspace(&owner, "Tess Agency").await;
    let draft = draft_in_review(&app, &owner, &ws, "Old").await;
    let old = share(
        &app,
        &owner,
        &ws,
        "old@client.example",
        json!([{ "draftId": draft }]),
    )
    .await;
    let recent = share(
        &app,
        &owner,
        &ws,
        "new@client.example",
        json!([{ "draftId": draft }]),
    )
    .await;
    let id = |v: &Value| v["id"].as_str().unwrap().parse::<uuid::Uuid>().unwrap();
    let now = chrono::Utc::now();
    for (link, ended) in [(&old, 91), (&recent, 89)] {
        review_links::Entity::update_many()
            .col_expr(
                review_links::Column::ExpiresAt,
                Expr::value(now - chrono::Duration::days(ended)),
            )
            .filter(review_links::Column::Id.eq(id(link)))
            .exec(&app.db)
            .await
            .unwrap();
    }
    let purged = app.run_retention(now).await;
    assert_eq!(purged.review_links_minimised, 1);
    let rows = review_links::Entity::find().all(&app.db).await.unwrap();
    let of = |link: &Value| rows.iter().find(|r| r.id == id(link)).unwrap().clone();
    assert_eq!(of(&old).reviewer_email, None);
    assert!(of(&old).minimised_at.is_some());
    assert_eq!(
        of(&recent).reviewer_email.as_deref(),
        Some("new@client.example")
    );
    assert_eq!(
        app.run_retention(now).await.review_links_minimised,
        0,
        "once"
    );
    app.stop().await;
}

async fn a_clients_decision_reaches_members_live(backend: Backend) {
    use crate::subscriptions::{connect, next, subscribe, COMMENTS};
    let app = TestApp::spawn(backend).await;
    let owner = app
        .signed_in_user("lina@agency.example", "Lina Owner")
        .await;
    let ws = app.create_workspace(&owner, "Lina Agency").await;
    let draft = draft_in_review(&app, &owner, &ws, "Live one").await;
    share(
        &app,
        &owner,
        &ws,
        "lou@client.example",
        json!([{ "draftId": draft }]),
    )
    .await;
    let url = review_link(&app, "lou@client.example", 0).await;
    let mut watcher = connect(
        &app,
        json!({ "authorization": format!("Bearer {}", owner.access) }),
    )
    .await;
    assert_eq!(next(&mut watcher).await.unwrap()["type"], "connection_ack");
    subscribe(&mut watcher, "c", COMMENTS, json!({ "d": draft })).await;
    subscribe(
        &mut watcher,
        "d",
        "subscription($w: ID!) { draftChanged(workspaceId: $w) { title status } }",
        json!({ "w": ws }),
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

    let (status, _) = decide(&browser(), &app, &url, &draft, "changes", "Shorter, please").await;
    assert_eq!(status, 200);
    let mut seen = Vec::new();
    for _ in 0..2 {
        let event = next(&mut watcher).await.unwrap();
        assert_eq!(event["type"], "next", "{event}");
        seen.push((
            event["id"].as_str().unwrap().to_string(),
            event["payload"]["data"].clone(),
        ));
    }
    seen.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        seen[0].1["commentAdded"],
        json!({ "body": "Shorter, please", "author": null })
    );
    assert_eq!(
        seen[1].1["draftChanged"],
        json!({ "title": "Live one", "status": "CHANGES_REQUESTED" })
    );
    app.stop().await;
}
on_both_databases!(a_clients_decision_reaches_members_live);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_review_links_costs_the_same_for_one_or_many() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let owner = app
        .signed_in_user("nora@agency.example", "Nora Owner")
        .await;
    let ws = app.create_workspace(&owner, "Nora Agency").await;
    let list = "query($w: ID!) { workspace(id: $w) { reviewLinks(first: 50) { edges { node { id email sharedBy { displayName } drafts { decision draft { title status } } } } } } }";
    let mut counts = Vec::new();
    for n in [1, 4] {
        while app
            .gql_ok(Some(&owner.access), list, json!({ "w": ws }))
            .await["workspace"]["reviewLinks"]["edges"]
            .as_array()
            .unwrap()
            .len()
            < n
        {
            let a = draft_in_review(&app, &owner, &ws, "One").await;
            let b = draft_in_review(&app, &owner, &ws, "Two").await;
            share(
                &app,
                &owner,
                &ws,
                "m@client.example",
                json!([{ "draftId": a }, { "draftId": b }]),
            )
            .await;
        }
        let (answer, statements) = app
            .gql_counted(&owner.access, list, json!({ "w": ws }))
            .await;
        assert_eq!(
            answer["workspace"]["reviewLinks"]["edges"]
                .as_array()
                .unwrap()
                .len(),
            n
        );
        counts.push(statements);
    }
    assert_eq!(counts[0], counts[1], "no query per link: {counts:?}");
    app.stop().await;
}
