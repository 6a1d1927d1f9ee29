//! Accounts: nothing reveals whether an email is registered; bad input is refused
//! clearly and changes nothing; log-in failures are rate limited.

use atelier::domain::entities::users;
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::json;

use crate::helpers::*;
use crate::on_both_databases;

async fn sign_up_never_reveals_an_existing_account(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let fresh = app.sign_up("taken@example.com", "First Person").await;
    let again = app
        .gql_ok(
            None,
            SIGN_UP,
            json!({ "input": { "email": "Taken@Example.com", "password": "another-quiet-phrase-93", "displayName": "Impostor" } }),
        )
        .await;
    // Same answer either way.
    assert_eq!(fresh, again);
    // One account; its owner is told by email instead, and the password is unchanged.
    assert_eq!(users::Entity::find().count(&app.db).await.unwrap(), 1);
    let notice = app.inbox.wait_for("taken@example.com", 2).await;
    assert!(
        notice.subject().contains("tried to sign up"),
        "{}",
        notice.subject()
    );
    assert!(!notice.decoded().contains("token="));
    app.stop().await;
}
on_both_databases!(sign_up_never_reveals_an_existing_account);

async fn log_in_failures_look_alike_and_are_rate_limited(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.auth.login_failures_per_email = 3).await;
    app.signed_in_user("rate@example.com", "Rita Rate").await;

    let wrong_password = app
        .gql(
            None,
            LOG_IN,
            json!({ "input": { "email": "rate@example.com", "password": "not-the-password-1" } }),
        )
        .await;
    let unknown = app
        .gql(
            None,
            LOG_IN,
            json!({ "input": { "email": "nobody@example.com", "password": "not-the-password-1" } }),
        )
        .await;
    assert_eq!(
        error_code(&wrong_password).as_deref(),
        Some("UNAUTHENTICATED")
    );
    assert_eq!(
        wrong_password["errors"][0]["message"],
        unknown["errors"][0]["message"]
    );

    for _ in 0..2 {
        app.gql(
            None,
            LOG_IN,
            json!({ "input": { "email": "rate@example.com", "password": "nope-nope-nope-1" } }),
        )
        .await;
    }
    // Now even the right password is refused for this address until the window passes.
    let limited = app
        .gql(
            None,
            LOG_IN,
            json!({ "input": { "email": "rate@example.com", "password": PASSWORD } }),
        )
        .await;
    assert_eq!(
        error_code(&limited).as_deref(),
        Some("RATE_LIMITED"),
        "{limited}"
    );
    assert!(
        limited["errors"][0]["extensions"]["retryAfterSeconds"]
            .as_u64()
            .unwrap()
            > 0
    );
    assert_eq!(
        atelier::domain::ops::audit::count_action(&app.db, "auth.login_failed")
            .await
            .unwrap(),
        4
    );
    app.stop().await;
}
on_both_databases!(log_in_failures_look_alike_and_are_rate_limited);

async fn invalid_and_malicious_account_input_is_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let cases = [
        (
            json!({ "email": "not-an-email", "password": PASSWORD, "displayName": "X" }),
            "email",
        ),
        (
            json!({ "email": "a@example.com", "password": "short", "displayName": "X" }),
            "at least",
        ),
        (
            json!({ "email": "a@example.com", "password": "password1234", "displayName": "X" }),
            "too weak",
        ),
        (
            json!({ "email": "a@example.com", "password": PASSWORD, "displayName": "   " }),
            "display name",
        ),
        (
            json!({ "email": "a@example.com", "password": PASSWORD, "displayName": "Bob\u{0007}" }),
            "control",
        ),
        (
            json!({ "email": "a'; DROP TABLE users;--@example.com", "password": PASSWORD, "displayName": "X" }),
            "email",
        ),
    ];
    for (input, needle) in cases {
        let response = app.gql(None, SIGN_UP, json!({ "input": input })).await;
        assert_eq!(
            error_code(&response).as_deref(),
            Some("BAD_USER_INPUT"),
            "{input}: {response}"
        );
        let message = response["errors"][0]["message"].as_str().unwrap();
        assert!(
            message.contains(needle),
            "{message} should mention {needle}"
        );
    }
    assert_eq!(users::Entity::find().count(&app.db).await.unwrap(), 0);
    assert!(app.inbox.all().is_empty());

    // Forged or garbage tokens.
    for token in [
        "",
        "garbage",
        "0190f1b2c3d4e5f60718293a4b5c6d7e.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    ] {
        let response = app.gql(None, VERIFY_EMAIL, json!({ "token": token })).await;
        assert_eq!(
            error_code(&response).as_deref(),
            Some("BAD_USER_INPUT"),
            "{response}"
        );
        let response = app.gql(None, REFRESH, json!({ "t": token })).await;
        assert_eq!(
            error_code(&response).as_deref(),
            Some("UNAUTHENTICATED"),
            "{response}"
        );
    }

    // A forged access token is refused for the whole request.
    let response = app
        .http
        .post(format!("{}/graphql", app.address))
        .bearer_auth("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.")
        .json(&json!({ "query": "{ me { id } }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(error_code(&body).as_deref(), Some("UNAUTHENTICATED"));

    // Signed out: `me` is null and mutations that need an account say so.
    let me = app.gql_ok(None, "{ me { id } }", json!({})).await;
    assert!(me["me"].is_null());
    let response = app
        .gql(
            None,
            "mutation { createWorkspace(input: {name: \"X\"}) { id } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&response).as_deref(), Some("UNAUTHENTICATED"));
    app.stop().await;
}
on_both_databases!(invalid_and_malicious_account_input_is_refused);

async fn log_out_ends_the_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let session = app.signed_in_user("leave@example.com", "Lee Leave").await;
    let me = app
        .gql_ok(Some(&session.access), "{ me { id } }", json!({}))
        .await;
    assert_eq!(me["me"]["id"], session.user_id.as_str());
    let out = app
        .gql_ok(
            None,
            "mutation($t: String!) { logOut(refreshToken: $t) }",
            json!({ "t": session.refresh }),
        )
        .await;
    assert_eq!(out["logOut"], true);
    // Its access token stops working at once, not 15 minutes later.
    let after = app
        .gql(Some(&session.access), "{ me { id } }", json!({}))
        .await;
    assert_eq!(
        error_code(&after).as_deref(),
        Some("UNAUTHENTICATED"),
        "{after}"
    );
    let refresh = app
        .gql(None, REFRESH, json!({ "t": session.refresh }))
        .await;
    assert_eq!(error_code(&refresh).as_deref(), Some("UNAUTHENTICATED"));
    let again = app
        .gql_ok(
            None,
            "mutation($t: String!) { logOut(refreshToken: $t) }",
            json!({ "t": session.refresh }),
        )
        .await;
    assert_eq!(again["logOut"], false);
    app.stop().await;
}
on_both_databases!(log_out_ends_the_session);

async fn a_reused_refresh_token_ends_every_access_token_of_its_family(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let first = app.signed_in_user("thief@example.com", "Theo Target").await;
    // The owner refreshes; an attacker who copied the first refresh token uses it too.
    let renewed = app
        .gql_ok(None, REFRESH, json!({ "t": first.refresh }))
        .await;
    let current = Session::from(&renewed["refreshSession"]);
    let me = app
        .gql_ok(Some(&current.access), "{ me { id } }", json!({}))
        .await;
    assert_eq!(me["me"]["id"], first.user_id.as_str());
    // A rotation alone leaves the earlier access token working until it expires.
    let old = app
        .gql_ok(Some(&first.access), "{ me { id } }", json!({}))
        .await;
    assert_eq!(old["me"]["id"], first.user_id.as_str());
    let reuse = app.gql(None, REFRESH, json!({ "t": first.refresh })).await;
    assert_eq!(error_code(&reuse).as_deref(), Some("UNAUTHENTICATED"));
    // The whole family is revoked: the newest access token is refused at once.
    for token in [&current.access, &first.access] {
        let refused = app.gql(Some(token), "{ me { id } }", json!({})).await;
        assert_eq!(
            error_code(&refused).as_deref(),
            Some("UNAUTHENTICATED"),
            "{refused}"
        );
    }
    app.stop().await;
}
on_both_databases!(a_reused_refresh_token_ends_every_access_token_of_its_family);

/// Another instance learns of a log-out by polling the sessions table.
async fn a_session_ended_elsewhere_is_refused_after_the_next_poll(backend: Backend) {
    use atelier::domain::entities::sessions;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let app = TestApp::spawn_with(backend, |c| c.auth.revocation_poll_ms = 100).await;
    let session = app.signed_in_user("far@example.com", "Fay Far").await;
    // As another instance would: the row is revoked without this instance being told.
    sessions::Entity::update_many()
        .col_expr(
            sessions::Column::RevokedAt,
            sea_orm::sea_query::Expr::value(chrono::Utc::now()),
        )
        .col_expr(
            sessions::Column::RevokedReason,
            sea_orm::sea_query::Expr::value("logout"),
        )
        .filter(sessions::Column::UserId.eq(session.user_id.parse::<uuid::Uuid>().unwrap()))
        .exec(&app.db)
        .await
        .unwrap();
    eventually(10, "the access token to be refused", || async {
        let answer = app
            .gql(Some(&session.access), "{ me { id } }", json!({}))
            .await;
        match error_code(&answer).as_deref() {
            Some("UNAUTHENTICATED") => Ok(()),
            _ => Err(answer.to_string()),
        }
    })
    .await;
    app.stop().await;
}
on_both_databases!(a_session_ended_elsewhere_is_refused_after_the_next_poll);

/// Guessing from one client neither slips past the limit by sending guesses at once nor
/// locks the account's owner out from elsewhere.
/// A log-in sent through the trusted proxy (127.0.0.1) for `client`; the whole answer.
async fn log_in_from(
    app: &TestApp,
    client: &str,
    email: &str,
    password: &str,
) -> serde_json::Value {
    app.http
        .post(format!("{}/graphql", app.address))
        .header("x-forwarded-for", client)
        .json(&json!({ "query": LOG_IN, "variables": { "input": { "email": email, "password": password } } }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn guessing_cannot_race_the_limit_or_lock_the_owner_out(backend: Backend) {
    use atelier::domain::entities::audit_events;
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};

    let app = TestApp::spawn_with(backend, |c| c.trusted_proxies = Some("127.0.0.1".into())).await;
    app.signed_in_user("owner@example.com", "Owen Owner").await;
    let attempt = |client: &'static str, password: &'static str| {
        let app = &app;
        async move { error_code(&log_in_from(app, client, "owner@example.com", password).await) }
    };
    // Twenty guesses at once from one client: only the limit's five reach the password.
    let guesses = (0..20).map(|_| attempt("203.0.113.66", "wrong-guess-123456"));
    let codes = futures::future::join_all(guesses).await;
    let limited = codes
        .iter()
        .filter(|c| c.as_deref() == Some("RATE_LIMITED"))
        .count();
    assert_eq!(limited, 15, "{codes:?}");
    let failures = audit_events::Entity::find()
        .filter(audit_events::Column::Action.eq("auth.login_failed"))
        .count(&app.db)
        .await
        .unwrap();
    assert_eq!(failures, 5);
    // Sixty aliased attempts in one request change nothing for that client...
    let aliases: String = (0..60)
        .map(|i| format!("a{i}: logIn(input: {{ email: \"owner@example.com\", password: \"guess-{i}-xxxxxxxx\" }}) {{ accessToken }} "))
        .collect();
    let burst = app
        .http
        .post(format!("{}/graphql", app.address))
        .header("x-forwarded-for", "203.0.113.66")
        .json(&json!({ "query": format!("mutation {{ {aliases} }}") }))
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap();
    assert!(burst["errors"].as_array().is_some_and(|e| !e.is_empty()));
    assert_eq!(
        audit_events::Entity::find()
            .filter(audit_events::Column::Action.eq("auth.login_failed"))
            .count(&app.db)
            .await
            .unwrap(),
        5,
        "no guess got through"
    );
    assert_eq!(
        attempt("203.0.113.66", PASSWORD).await.as_deref(),
        Some("RATE_LIMITED")
    );
    // ...and the owner, elsewhere, signs in with the right password.
    assert_eq!(attempt("198.51.100.20", PASSWORD).await, None);
    app.stop().await;
}
on_both_databases!(guessing_cannot_race_the_limit_or_lock_the_owner_out);

/// Wrong guesses at an emailed link's secret are counted even though each guess fails
/// (and so rolls back whatever the confirmation had begun): after five, the link is dead
/// for its rightful owner too.
async fn wrong_guesses_at_a_link_are_counted_and_end_it(backend: Backend) {
    use atelier::domain::entities::one_time_tokens;
    let app = TestApp::spawn(backend).await;
    app.sign_up("guessed@example.com", "Guessed").await;
    app.pump_jobs().await;
    let token = app.inbox.wait_for("guessed@example.com", 1).await.token();
    let (id, secret) = token.split_once('.').expect("id.secret");
    for n in 0..5 {
        // Same shape, other secret: the guess reaches the comparison.
        let wrong = format!(
            "{id}.{}{}",
            &secret[..42],
            if secret.ends_with('A') { 'B' } else { 'A' }
        );
        assert_ne!(wrong, token, "guess {n}");
        let response = app.gql(None, VERIFY_EMAIL, json!({ "token": wrong })).await;
        assert_eq!(
            error_code(&response).as_deref(),
            Some("BAD_USER_INPUT"),
            "{response}"
        );
    }
    let row = one_time_tokens::Entity::find_by_id(uuid::Uuid::parse_str(id).unwrap())
        .one(&app.db)
        .await
        .unwrap()
        .expect("the link's row");
    assert_eq!(row.attempts, 5, "every wrong guess is on the row");
    let response = app.gql(None, VERIFY_EMAIL, json!({ "token": token })).await;
    assert_eq!(
        error_code(&response).as_deref(),
        Some("BAD_USER_INPUT"),
        "{response}"
    );
    let user = users::Entity::find().one(&app.db).await.unwrap().unwrap();
    assert!(user.email_verified_at.is_none());
    app.stop().await;
}
on_both_databases!(wrong_guesses_at_a_link_are_counted_and_end_it);

/// A sign-up that meets another one's account being created for the same address (the
/// other's row inserted but not yet committed) gets the same answer as any other sign-up
/// once the other commits; one account exists afterwards.
async fn racing_sign_ups_for_one_address_all_succeed(backend: Backend) {
    use sea_orm::{ActiveModelTrait, Set, TransactionTrait};
    let app = TestApp::spawn(backend).await;
    let other = app.db.begin().await.unwrap();
    let at = chrono::Utc::now();
    users::ActiveModel {
        id: Set(uuid::Uuid::now_v7()),
        email: Set("race@example.com".into()),
        display_name: Set("The other one".into()),
        password_hash: Set("x".into()),
        email_verified_at: Set(None),
        locale: Set("en".into()),
        time_zone: Set("UTC".into()),
        status: Set("ACTIVE".into()),
        mention_emails: Set(true),
        created_at: Set(at),
        updated_at: Set(at),
    }
    .insert(&other)
    .await
    .unwrap();
    let racing = app.gql(
        None,
        SIGN_UP,
        json!({ "input": { "email": "race@example.com", "password": PASSWORD, "displayName": "Racer" } }),
    );
    let committing = async {
        // Long enough for the sign-up to have hashed its password and reached its insert.
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        other.commit().await.unwrap();
    };
    let (answer, ()) = tokio::join!(racing, committing);
    assert!(answer.get("errors").is_none(), "{answer}");
    assert_eq!(answer["data"]["signUp"]["verificationRequired"], true);
    assert_eq!(users::Entity::find().count(&app.db).await.unwrap(), 1);
    app.stop().await;
}
on_both_databases!(racing_sign_ups_for_one_address_all_succeed);

const REQUEST_RESET: &str = "mutation($e: String!) { requestPasswordReset(email: $e) }";
const RESET: &str =
    "mutation($t: String!, $p: String!) { resetPassword(token: $t, newPassword: $p) }";
const NEW_PASSWORD: &str = "copper-meadow-lantern-93";

/// Forgot password → emailed one-time link → new password: every earlier session ends,
/// the old password stops working, an unknown address gets the same answer, and bad
/// input loses nothing.
async fn a_forgotten_password_is_reset_by_email(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let first = app.signed_in_user("forgot@example.com", "Forgetful").await;
    let second = app.log_in("forgot@example.com").await;
    let me = "{ me { id } }";
    assert!(app.gql(Some(&first.access), me, json!({})).await["data"]["me"]["id"].is_string());

    // The same answer for an address with an account and one without.
    let known = app
        .gql(None, REQUEST_RESET, json!({ "e": "forgot@example.com" }))
        .await;
    let unknown = app
        .gql(None, REQUEST_RESET, json!({ "e": "nobody@example.com" }))
        .await;
    assert_eq!(known, unknown);
    assert_eq!(known["data"]["requestPasswordReset"], true);
    app.pump_jobs().await;
    let mail = app
        .inbox
        .wait_for_subject("forgot@example.com", "Reset your Atelier password")
        .await;
    assert!(app.inbox.to("nobody@example.com").is_empty());
    let token = mail.token();

    // A weak password or a made-up token changes nothing; the link still works.
    let weak = app
        .gql(None, RESET, json!({ "t": token, "p": "password" }))
        .await;
    assert_eq!(
        error_code(&weak).as_deref(),
        Some("BAD_USER_INPUT"),
        "{weak}"
    );
    let forged = app
        .gql(
            None,
            RESET,
            json!({ "t": "0190aaaa.bbbb", "p": NEW_PASSWORD }),
        )
        .await;
    assert_eq!(error_code(&forged).as_deref(), Some("BAD_USER_INPUT"));
    assert!(app.gql(Some(&first.access), me, json!({})).await["data"]["me"]["id"].is_string());

    let done = app
        .gql_ok(None, RESET, json!({ "t": token, "p": NEW_PASSWORD }))
        .await;
    assert_eq!(done["resetPassword"], true);
    // Every earlier session is over: access tokens at once, refresh tokens too.
    let refused = app.gql(Some(&first.access), me, json!({})).await;
    assert_eq!(
        error_code(&refused).as_deref(),
        Some("UNAUTHENTICATED"),
        "{refused}"
    );
    let refused = app.gql(Some(&second.access), me, json!({})).await;
    assert_eq!(
        error_code(&refused).as_deref(),
        Some("UNAUTHENTICATED"),
        "{refused}"
    );
    let refused = app.gql(None, REFRESH, json!({ "t": second.refresh })).await;
    assert_eq!(
        error_code(&refused).as_deref(),
        Some("UNAUTHENTICATED"),
        "{refused}"
    );
    // The old password no longer opens the account; the new one does.
    let old = app
        .gql(
            None,
            LOG_IN,
            json!({ "input": { "email": "forgot@example.com", "password": PASSWORD } }),
        )
        .await;
    assert_eq!(
        error_code(&old).as_deref(),
        Some("UNAUTHENTICATED"),
        "{old}"
    );
    let new = app
        .gql_ok(
            None,
            LOG_IN,
            json!({ "input": { "email": "forgot@example.com", "password": NEW_PASSWORD } }),
        )
        .await;
    assert!(new["logIn"]["accessToken"].is_string());
    // The link was spent, and the owner is told.
    let again = app
        .gql(
            None,
            RESET,
            json!({ "t": token, "p": "another-tall-pine-44" }),
        )
        .await;
    assert_eq!(error_code(&again).as_deref(), Some("BAD_USER_INPUT"));
    app.pump_jobs().await;
    app.inbox
        .wait_for_subject("forgot@example.com", "password was changed")
        .await;
    assert_eq!(
        atelier::domain::ops::audit::count_action(&app.db, "account.password_reset")
            .await
            .unwrap(),
        1
    );
    // And the same work: the account is looked up later, by a job, so the answer takes
    // as many statements (and as long) for an address with an account as without.
    let statements = |email: &'static str| {
        let app = &app;
        async move {
            let response = app
                .http
                .post(format!("{}/graphql", app.address))
                .json(&json!({ "query": REQUEST_RESET, "variables": { "e": email } }))
                .send()
                .await
                .unwrap();
            response.headers()["x-sql-statements"]
                .to_str()
                .unwrap()
                .parse::<u64>()
                .unwrap()
        }
    };
    assert_eq!(
        statements("forgot@example.com").await,
        statements("nobody.else@example.com").await
    );
    app.stop().await;
}
on_both_databases!(a_forgotten_password_is_reset_by_email);

/// A guessing attack from many addresses reaches the per-account bound, and the owner
/// still signs in: from a place the account signed in from before at once, from a new
/// place after resetting the password by email. The guessers stay refused.
async fn a_distributed_guessing_attack_does_not_lock_the_owner_out(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.trusted_proxies = Some("127.0.0.1".into());
        c.auth.login_failures_per_account = 10;
    })
    .await;
    app.sign_up("besieged@example.com", "Besieged").await;
    app.pump_jobs().await;
    let mail = app.inbox.wait_for("besieged@example.com", 1).await;
    app.gql_ok(None, VERIFY_EMAIL, json!({ "token": mail.token() }))
        .await;
    let attempt = |client: String, password: &'static str| {
        let app = &app;
        async move { error_code(&log_in_from(app, &client, "besieged@example.com", password).await) }
    };
    // The owner's usual place: signed in from there once.
    assert_eq!(attempt("198.51.100.20".into(), PASSWORD).await, None);
    // Thirty guesses from thirty addresses: ten reach the password, then the account's
    // bound refuses the rest.
    let mut codes = Vec::new();
    for i in 0..30 {
        codes.push(attempt(format!("203.0.113.{}", i + 1), "wrong-guess-123456").await);
    }
    let limited = codes
        .iter()
        .filter(|c| c.as_deref() == Some("RATE_LIMITED"))
        .count();
    assert_eq!(limited, 20, "{codes:?}");
    // A guesser at a new address is refused before the password is looked at, even
    // with the right one...
    assert_eq!(
        attempt("192.0.2.77".into(), PASSWORD).await.as_deref(),
        Some("RATE_LIMITED")
    );
    // ...but the owner at the usual place is let in, and a wrong password there is
    // still only that client's failure.
    assert_eq!(
        attempt("198.51.100.20".into(), "wrong-guess-123456")
            .await
            .as_deref(),
        Some("UNAUTHENTICATED")
    );
    assert_eq!(attempt("198.51.100.20".into(), PASSWORD).await, None);
    // From a new place, the owner resets the password by email, and then signs in.
    let before = app.inbox.to("besieged@example.com").len();
    app.gql_ok(None, REQUEST_RESET, json!({ "e": "besieged@example.com" }))
        .await;
    app.pump_jobs().await;
    let mail = app.inbox.wait_for("besieged@example.com", before + 1).await;
    app.gql_ok(None, RESET, json!({ "t": mail.token(), "p": NEW_PASSWORD }))
        .await;
    let fresh = log_in_from(&app, "192.0.2.99", "besieged@example.com", NEW_PASSWORD).await;
    assert!(fresh["data"]["logIn"]["accessToken"].is_string(), "{fresh}");
    app.stop().await;
}
on_both_databases!(a_distributed_guessing_attack_does_not_lock_the_owner_out);
