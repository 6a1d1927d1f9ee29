//! The staff compliance portal: setup, sign-in with throttling and lockout, sessions,
//! roles on every route, CSRF, the queue and the decisions on a request.

use atelier::domain::entities::{privacy_requests, staff_sessions};
use atelier::domain::ops::audit::{self, Actor};
use atelier::domain::privacy::requests::{self as privacy, RequestForm, RequestSource};
use atelier::domain::staff::accounts::{self as staff, StaffRole};
use atelier::domain::RequestMeta;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, Set};

use crate::helpers::*;
use crate::on_both_databases;

async fn make_staff(app: &TestApp, email: &str, role: StaffRole) {
    staff::create_staff(
        &app.db,
        email,
        "Sam Staff",
        STAFF_PASSWORD,
        role,
        Actor::System,
        &RequestMeta::default(),
    )
    .await
    .unwrap();
}

/// Signs in through the login form; returns the client (holding the session cookie).
async fn sign_in(
    app: &TestApp,
    email: &str,
    password: &str,
) -> (reqwest::Client, reqwest::StatusCode) {
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
            ("email", email),
            ("password", password),
            ("csrf", csrf.as_str()),
        ])
        .send()
        .await
        .unwrap();
    (client, response.status())
}

async fn page(client: &reqwest::Client, url: String) -> (u16, String) {
    let response = client.get(url).send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// A portal request, confirmed by its emailed link.
async fn confirmed_request(
    app: &TestApp,
    email: &str,
    kind: &str,
    jurisdiction: &str,
) -> privacy_requests::Model {
    let form = RequestForm {
        kind: kind.into(),
        email: email.into(),
        jurisdiction: jurisdiction.into(),
        ..RequestForm::default()
    };
    let valid = privacy::validate(&form, None).unwrap();
    let before = app.inbox.to(email).len();
    privacy::submit(
        &app.db,
        &app.vault(),
        valid,
        RequestSource::Portal,
        &RequestMeta::default(),
    )
    .await
    .unwrap();
    let token = app.inbox.wait_for(email, before + 1).await.token();
    privacy::confirm(&app.db, &app.vault(), &token, &RequestMeta::default())
        .await
        .unwrap()
}

async fn act(
    client: &reqwest::Client,
    app: &TestApp,
    id: &uuid::Uuid,
    action: &str,
    fields: &[(&str, &str)],
) -> (u16, String) {
    let (_, html) = page(client, format!("{}/staff/requests/{id}", app.address)).await;
    let csrf = hidden(&html, "csrf");
    let mut form = vec![("csrf", csrf.as_str())];
    form.extend_from_slice(fields);
    let response = client
        .post(format!("{}/staff/requests/{id}/{action}", app.address))
        .form(&form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_string());
    match location {
        Some(to) => page(client, format!("{}{to}", app.address)).await,
        None => (status, response.text().await.unwrap()),
    }
}

async fn first_admin_setup_and_sign_in(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    assert!(staff::none_exist(&app.db).await.unwrap());
    // The start-up link stays the same across restarts until it is used: one token.
    let link = app
        .staff_setup_link
        .clone()
        .expect("a setup link while no staff exists");
    let token_of = |link: &str| link.split("token=").nth(1).unwrap().to_string();
    let app = app.restart(|_| {}).await;
    assert_eq!(
        app.staff_setup_link.as_deref().map(token_of),
        Some(token_of(&link))
    );
    let live = atelier::domain::entities::one_time_tokens::Entity::find()
        .filter(atelier::domain::entities::one_time_tokens::Column::UsedAt.is_null())
        .count(&app.db)
        .await
        .unwrap();
    assert_eq!(live, 1);
    let token = token_of(&link);
    let client = browser();
    let (status, html) = page(
        &client,
        format!("{}/staff/setup?token={token}", app.address),
    )
    .await;
    assert_eq!(status, 200);
    let csrf = hidden(&html, "csrf");
    let url = format!("{}/staff/setup", app.address);
    // A weak password is refused and what was typed is kept.
    let weak = client
        .post(&url)
        .form(&[
            ("token", token.as_str()),
            ("csrf", csrf.as_str()),
            ("email", "admin@atelier.test"),
            ("name", "Ada Admin"),
            ("password", "password1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(weak.status(), 422);
    let body = weak.text().await.unwrap();
    assert!(body.contains("value=\"Ada Admin\"") && body.contains("password"));
    let created = client
        .post(&url)
        .form(&[
            ("token", token.as_str()),
            ("csrf", csrf.as_str()),
            ("email", "admin@atelier.test"),
            ("name", "Ada Admin"),
            ("password", STAFF_PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 303);
    let cookie = created.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/"),
        "{cookie}"
    );
    let (status, html) = page(&client, format!("{}/staff", app.address)).await;
    assert_eq!(status, 200);
    assert!(html.contains("Ada Admin (ADMIN)"));
    // The setup link cannot be used again.
    let again = client
        .post(&url)
        .form(&[
            ("token", token.as_str()),
            ("csrf", csrf.as_str()),
            ("email", "eve@atelier.test"),
            ("name", "Eve"),
            ("password", STAFF_PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 422);
    assert!(!staff::none_exist(&app.db).await.unwrap());
    app.stop().await;
}
on_both_databases!(first_admin_setup_and_sign_in);

async fn sign_in_is_throttled_and_sessions_expire(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    make_staff(&app, "officer@atelier.test", StaffRole::Compliance).await;

    // Unknown email and wrong password look the same.
    let (_, unknown) = sign_in(&app, "nobody@atelier.test", STAFF_PASSWORD).await;
    let (_, wrong) = sign_in(&app, "officer@atelier.test", "wrong-password-123").await;
    assert_eq!(
        (unknown, wrong),
        (
            reqwest::StatusCode::UNAUTHORIZED,
            reqwest::StatusCode::UNAUTHORIZED
        )
    );

    // Five failures lock the account: even the right password is refused for a while.
    for _ in 0..4 {
        sign_in(&app, "officer@atelier.test", "wrong-password-123").await;
    }
    let (_, locked) = sign_in(&app, "officer@atelier.test", STAFF_PASSWORD).await;
    assert_eq!(locked, reqwest::StatusCode::TOO_MANY_REQUESTS);
    assert!(
        audit::count_action(&app.db, "staff.login_locked_out")
            .await
            .unwrap()
            >= 1
    );

    // Another account signs in, then idles past the limit.
    make_staff(&app, "idle@atelier.test", StaffRole::Support).await;
    let (client, status) = sign_in(&app, "idle@atelier.test", STAFF_PASSWORD).await;
    assert_eq!(status, reqwest::StatusCode::SEE_OTHER);
    assert_eq!(page(&client, format!("{}/staff", app.address)).await.0, 200);
    let session = staff_sessions::Entity::find()
        .all(&app.db)
        .await
        .unwrap()
        .pop()
        .unwrap();
    let mut idle: staff_sessions::ActiveModel = session.into();
    idle.last_seen_at = Set(chrono::Utc::now() - chrono::Duration::minutes(31));
    idle.update(&app.db).await.unwrap();
    let response = client
        .get(format!("{}/staff", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/staff/login");

    // Sign out ends the session.
    let (client, _) = sign_in(&app, "idle@atelier.test", STAFF_PASSWORD).await;
    let (_, html) = page(&client, format!("{}/staff", app.address)).await;
    let csrf = hidden(&html, "csrf");
    let out = client
        .post(format!("{}/staff/logout", app.address))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 303);
    assert_eq!(
        client
            .get(format!("{}/staff", app.address))
            .send()
            .await
            .unwrap()
            .status(),
        303
    );
    app.stop().await;
}
on_both_databases!(sign_in_is_throttled_and_sessions_expire);

async fn roles_and_csrf_guard_every_route(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let request = confirmed_request(&app, "subject@example.com", "ACCESS", "GDPR").await;
    let id = request.id;

    // Signed out: every staff page and action sends you to sign in.
    let anonymous = browser();
    for path in [
        "/staff".to_string(),
        "/staff/requests".into(),
        format!("/staff/requests/{id}"),
    ] {
        let response = anonymous
            .get(format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 303, "{path}");
    }
    let response = anonymous
        .post(format!("{}/staff/requests/{id}/approve", app.address))
        .form(&[("csrf", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);

    // SUPPORT reads and adds notes, but decides nothing.
    make_staff(&app, "support@atelier.test", StaffRole::Support).await;
    let (support, _) = sign_in(&app, "support@atelier.test", STAFF_PASSWORD).await;
    assert_eq!(
        page(&support, format!("{}/staff/requests", app.address))
            .await
            .0,
        200
    );
    let (status, html) = page(&support, format!("{}/staff/requests/{id}", app.address)).await;
    assert_eq!(status, 200);
    assert!(
        !html.contains("Mark identity verified"),
        "SUPPORT is not offered decisions"
    );
    for action in ["verify-identity", "approve", "reject", "extend", "assign"] {
        let (status, _) = act(
            &support,
            &app,
            &id,
            action,
            &[("method", "email"), ("reason", "because")],
        )
        .await;
        assert_eq!(status, 403, "SUPPORT must not {action}");
    }
    let (status, html) = act(
        &support,
        &app,
        &id,
        "note",
        &[("note", "Called the requester back.")],
    )
    .await;
    assert_eq!(status, 200);
    assert!(html.contains("Called the requester back."));

    // CSRF: missing or from another session is refused, and nothing changes.
    make_staff(&app, "officer@atelier.test", StaffRole::Compliance).await;
    let (officer, _) = sign_in(&app, "officer@atelier.test", STAFF_PASSWORD).await;
    let (_, support_page) = page(&support, format!("{}/staff/requests/{id}", app.address)).await;
    let foreign = hidden(&support_page, "csrf");
    for csrf in ["", "deadbeef", foreign.as_str()] {
        let response = officer
            .post(format!(
                "{}/staff/requests/{id}/verify-identity",
                app.address
            ))
            .form(&[("csrf", csrf), ("method", "email")])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403, "csrf {csrf:?}");
    }
    let unchanged = privacy_requests::Entity::find_by_id(id)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(unchanged.status, "VERIFIED");
    assert!(unchanged.identity_verified_at.is_none());
    app.stop().await;
}
on_both_databases!(roles_and_csrf_guard_every_route);

async fn an_officer_works_the_queue(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    make_staff(&app, "officer@atelier.test", StaffRole::Compliance).await;
    let (officer, _) = sign_in(&app, "officer@atelier.test", STAFF_PASSWORD).await;
    let access = confirmed_request(&app, "alice@example.com", "ACCESS", "GDPR").await;
    let erase = confirmed_request(&app, "bob@example.com", "ERASE", "CCPA").await;
    let late = confirmed_request(&app, "carol@example.com", "EXPORT", "LGPD").await;
    let (_, calm) = page(&officer, format!("{}/staff", app.address)).await;
    assert!(
        calm.contains("<strong>0</strong> overdue") && !calm.contains("class=\"overdue\""),
        "nothing overdue is not shown as an alarm"
    );
    let mut overdue: privacy_requests::ActiveModel = late.clone().into();
    overdue.due_at = Set(chrono::Utc::now() - chrono::Duration::days(1));
    overdue.update(&app.db).await.unwrap();

    // Dashboard: three open, one overdue; the overdue one stands out first in the queue.
    let (_, html) = page(&officer, format!("{}/staff", app.address)).await;
    assert!(
        html.contains("<strong>3</strong> open")
            && html.contains("<strong>1</strong> overdue")
            && html.contains("<li class=\"overdue\">"),
        "{html}"
    );
    let (_, queue) = page(&officer, format!("{}/staff/requests", app.address)).await;
    let first_row = queue
        .split("<tbody>")
        .nth(1)
        .unwrap()
        .split("</tr>")
        .next()
        .unwrap();
    assert!(
        first_row.contains("class=\"overdue\"") && first_row.contains(&late.reference),
        "{first_row}"
    );
    // Kinds and statuses in words, as on the public side; tables scroll in their box.
    assert!(
        queue.contains("<td>Erasure</td>") && queue.contains("<td>Email confirmed</td>"),
        "{queue}"
    );
    assert!(!queue.contains("<td>ERASE</td>") && !queue.contains("<td>VERIFIED</td>"));
    assert!(queue.contains("<div class=\"table-scroll\" tabindex=\"0\""));
    let (_, detail) = page(
        &officer,
        format!("{}/staff/requests/{}", app.address, erase.id),
    )
    .await;
    assert!(
        detail.contains("<dd>Erasure</dd>")
            && detail.contains(">Email confirmed</span>")
            && detail.contains("not yet verified by staff"),
        "{detail}"
    );
    // Filters and search.
    let (_, filtered) = page(
        &officer,
        format!("{}/staff/requests?kind=ERASE", app.address),
    )
    .await;
    assert!(filtered.contains(&erase.reference) && !filtered.contains(&access.reference));
    let (_, found) = page(
        &officer,
        format!("{}/staff/requests?q=Alice%40Example.com", app.address),
    )
    .await;
    assert!(found.contains(&access.reference) && !found.contains(&erase.reference));
    let (_, found) = page(
        &officer,
        format!(
            "{}/staff/requests?q={}",
            app.address,
            erase.reference.to_lowercase()
        ),
    )
    .await;
    assert!(found.contains(&erase.reference) && !found.contains(&access.reference));
    let (_, overdue_only) = page(
        &officer,
        format!("{}/staff/requests?overdue=1", app.address),
    )
    .await;
    assert!(overdue_only.contains(&late.reference) && !overdue_only.contains(&access.reference));

    // Approve needs the identity checked first.
    let (status, html) = act(
        &officer,
        &app,
        &access.id,
        "verify-identity",
        &[("method", "")],
    )
    .await;
    assert_eq!(status, 422);
    assert!(html.contains("must not be empty"));
    let (status, html) = act(
        &officer,
        &app,
        &access.id,
        "verify-identity",
        &[("method", "Replied from the account's address")],
    )
    .await;
    assert_eq!(status, 200);
    assert!(html.contains("Identity marked as verified."));
    let (_, html) = act(&officer, &app, &access.id, "approve", &[]).await;
    assert!(html.contains("Request approved."));
    let approved = privacy_requests::Entity::find_by_id(access.id)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    // Approved; an access request is then carried out by the fulfilment job.
    assert_eq!(approved.decision.as_deref(), Some("APPROVED"));
    assert!(["APPROVED", "IN_PROGRESS", "COMPLETED"].contains(&approved.status.as_str()));
    assert_eq!(
        approved.identity_method.as_deref(),
        Some("Replied from the account's address")
    );

    // Extend once, with the reason emailed; a second extension is refused.
    let (status, _) = act(
        &officer,
        &app,
        &erase.id,
        "extend",
        &[("reason", "Your data spans several workspaces.")],
    )
    .await;
    assert_eq!(status, 200);
    let extended = privacy_requests::Entity::find_by_id(erase.id)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        extended.extended_until,
        Some(extended.due_at + chrono::Duration::days(45))
    );
    let notice = app.inbox.wait_for("bob@example.com", 3).await;
    assert!(
        notice
            .decoded()
            .contains("Your data spans several workspaces.")
            && notice.subject().contains("more time")
    );
    let (status, html) = act(&officer, &app, &erase.id, "extend", &[("reason", "Again")]).await;
    assert_eq!(status, 422);
    assert!(html.contains("already extended once"));
    // An overdue request can no longer be extended.
    let (status, html) = act(&officer, &app, &late.id, "extend", &[("reason", "Late")]).await;
    assert_eq!(status, 422);
    assert!(html.contains("original due date has passed"));

    // Refuse with a reason: the requester is told why and of their right to complain.
    let (status, html) = act(
        &officer,
        &app,
        &erase.id,
        "reject",
        &[("reason", "We hold no data for this address.")],
    )
    .await;
    assert_eq!(status, 200);
    assert!(html.contains("Request refused"));
    let refusal = app.inbox.wait_for("bob@example.com", 4).await;
    let text = refusal.decoded();
    assert!(
        text.contains("We hold no data for this address.")
            && text.contains("supervisory authority")
    );

    // Assign to someone.
    let officer_id = staff::list(&app.db).await.unwrap()[0].id.to_string();
    let (_, html) = act(
        &officer,
        &app,
        &late.id,
        "assign",
        &[("assignee", officer_id.as_str())],
    )
    .await;
    assert!(html.contains("Assignment saved."));
    let (_, mine) = page(
        &officer,
        format!("{}/staff/requests?assignee={officer_id}", app.address),
    )
    .await;
    assert!(mine.contains(&late.reference) && !mine.contains(&access.reference));

    for action in [
        "privacy.identity_verified",
        "privacy.request_approved",
        "privacy.request_extended",
        "privacy.request_rejected",
        "privacy.request_assigned",
    ] {
        assert_eq!(
            audit::count_action(&app.db, action).await.unwrap(),
            1,
            "{action}"
        );
    }
    assert!(audit::verify_chain(&app.db).await.unwrap().is_intact());
    app.stop().await;
}
on_both_databases!(an_officer_works_the_queue);

async fn audit_viewer_filters_and_verifies(backend: Backend) {
    use sea_orm::{ConnectionTrait, Statement};

    let app = TestApp::spawn(backend).await;
    make_staff(&app, "support@atelier.test", StaffRole::Support).await;
    let (client, _) = sign_in(&app, "support@atelier.test", STAFF_PASSWORD).await;
    let request = confirmed_request(&app, "subject@example.com", "ACCESS", "GDPR").await;

    let (status, html) = page(&client, format!("{}/staff/audit", app.address)).await;
    assert_eq!(status, 200);
    assert!(html.contains("staff.login_succeeded") && html.contains("privacy.request_submitted"));
    // Actors and targets by name (the id kept in the title), long details in a box
    // that wraps, the table in a scrolling box.
    assert!(html.contains(">staff Sam Staff</td>"), "{html}");
    assert!(
        html.contains(&format!(">privacy request {}</td>", request.reference)),
        "{html}"
    );
    assert!(html.contains("<td class=\"wrap\"><code>"));
    assert!(html.contains("<div class=\"table-scroll\" tabindex=\"0\""));
    let (_, filtered) = page(
        &client,
        format!("{}/staff/audit?action=privacy.", app.address),
    )
    .await;
    assert!(
        filtered.contains("privacy.request_verified")
            && !filtered.contains("staff.login_succeeded")
    );
    let (status, bad) = page(
        &client,
        format!("{}/staff/audit?from=yesterday", app.address),
    )
    .await;
    assert_eq!(status, 200);
    assert!(bad.contains("is not a date"));
    // NUL in a filter or a search is a clear input error, on either database.
    for address in [
        "staff/audit?actor=%00",
        "staff/requests?q=a%00b",
        "staff/requests/%00",
    ] {
        let (status, page) = page(&client, format!("{}/{address}", app.address)).await;
        assert_eq!(status, 400, "{address}: {page}");
        assert!(page.contains("NUL character"), "{address}");
    }

    let csrf = hidden(&html, "csrf");
    let verify = |csrf: String| {
        let client = client.clone();
        let url = format!("{}/staff/audit/verify", app.address);
        async move {
            client
                .post(url)
                .form(&[("csrf", csrf)])
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    assert!(verify(csrf.clone()).await.contains("The chain verifies"));
    let backend = app.db.get_database_backend();
    let sql = match backend {
        sea_orm::DatabaseBackend::Postgres => {
            "UPDATE audit_events SET action = 'x.forged' WHERE seq = $1"
        }
        _ => "UPDATE audit_events SET action = 'x.forged' WHERE seq = ?",
    };
    app.db
        .execute_raw(Statement::from_sql_and_values(backend, sql, [2i64.into()]))
        .await
        .unwrap();
    let broken = verify(csrf).await;
    assert!(broken.contains("The chain is broken: event #2"), "{broken}");
    app.stop().await;
}
on_both_databases!(audit_viewer_filters_and_verifies);

async fn admins_publish_policy_versions(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    make_staff(&app, "officer@atelier.test", StaffRole::Compliance).await;
    let (officer, _) = sign_in(&app, "officer@atelier.test", STAFF_PASSWORD).await;
    assert_eq!(
        page(&officer, format!("{}/staff/policies", app.address))
            .await
            .0,
        403
    );

    make_staff(&app, "admin@atelier.test", StaffRole::Admin).await;
    let (admin, _) = sign_in(&app, "admin@atelier.test", STAFF_PASSWORD).await;
    let (status, html) = page(&admin, format!("{}/staff/policies", app.address)).await;
    assert_eq!(status, 200);
    assert!(
        html.contains("Atelier privacy policy"),
        "the form starts from the current text"
    );
    let csrf = hidden(&html, "csrf");
    let current = atelier::domain::privacy::policy::current(&app.db)
        .await
        .unwrap();
    let new_body = current
        .body
        .replace("Publishing logs: 90 days.", "Publishing logs: 60 days.");
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let submit = |fields: Vec<(&'static str, String)>| {
        let admin = admin.clone();
        let url = format!("{}/staff/policies", app.address);
        async move {
            let response = admin.post(url).form(&fields).send().await.unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };
    let (status, preview) = submit(vec![
        ("csrf", csrf.clone()),
        ("intent", "preview".into()),
        ("body", new_body.clone()),
        ("summary", "Shorter log retention".into()),
        ("effective", today.clone()),
    ])
    .await;
    assert_eq!(status, 200);
    assert!(
        preview.contains("class=\"added\">+ - Publishing logs: 60 days."),
        "{preview}"
    );
    assert!(preview.contains("class=\"removed\">− - Publishing logs: 90 days."));
    assert!(preview.contains("1 line added, 1 line removed"));
    assert_eq!(
        atelier::domain::privacy::policy::versions(&app.db)
            .await
            .unwrap()
            .len(),
        1,
        "preview publishes nothing"
    );

    for (summary, effective, needle, field) in [
        ("", today.as_str(), "must not be empty", "summary"),
        (
            "Shorter log retention",
            "2020-01-01",
            "The effective date cannot be in the past.",
            "effective",
        ),
        (
            "Shorter log retention",
            "soon",
            "must look like",
            "effective",
        ),
    ] {
        let (status, html) = submit(vec![
            ("csrf", csrf.clone()),
            ("intent", "publish".into()),
            ("body", new_body.clone()),
            ("summary", summary.into()),
            ("effective", effective.into()),
        ])
        .await;
        assert_eq!(status, 422, "{needle}");
        assert!(html.contains(needle), "{needle}");
        // The summary sits right above the form (after the preview), links to the
        // field, and the message is between the field's label and its input.
        let form_at = html
            .find("<form method=\"post\" action=\"/staff/policies\"")
            .unwrap();
        let summary_at = html.find("class=\"error-summary\"").unwrap();
        assert!(html.find("<h2>Preview</h2>").unwrap() < summary_at && summary_at < form_at);
        assert!(html.contains(&format!("<a href=\"#{field}\">")), "{html}");
        let label = html.find(&format!("<label for=\"{field}\">")).unwrap();
        let message = html.find(&format!("id=\"{field}-error\"")).unwrap();
        let input = html.find(&format!("id=\"{field}\" name=")).unwrap();
        assert!(label < message && message < input, "{field}");
        assert!(html.contains(&format!("aria-describedby=\"{field}-error\"")));
    }
    let (status, _) = submit(vec![
        ("csrf", "forged".into()),
        ("intent", "publish".into()),
        ("body", new_body.clone()),
        ("summary", "x".into()),
        ("effective", today.clone()),
    ])
    .await;
    assert_eq!(status, 403);

    let response = admin
        .post(format!("{}/staff/policies", app.address))
        .form(&[
            ("csrf", csrf.as_str()),
            ("intent", "publish"),
            ("body", new_body.as_str()),
            ("summary", "Shorter log retention"),
            ("effective", today.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let public = reqwest::get(format!("{}/privacy", app.address))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(public.contains("Version 2") && public.contains("Shorter log retention"));
    assert_eq!(
        audit::count_action(&app.db, "policy.published")
            .await
            .unwrap(),
        1
    );
    let (status, html) = submit(vec![
        ("csrf", csrf.clone()),
        ("intent", "publish".into()),
        ("body", new_body.clone()),
        ("summary", "Again".into()),
        ("effective", today.clone()),
    ])
    .await;
    assert_eq!(status, 422);
    assert!(html.contains("same as the latest version"));

    // A section appended in a browser's textarea (which sends CRLF line endings) is the
    // only change the next version shows: the rest is folded away as unchanged.
    let appended = format!(
        "{}\n\n## Appended section\nA new paragraph.\n",
        new_body.trim_end()
    )
    .replace("\r\n", "\n")
    .replace('\n', "\r\n");
    let (status, _) = submit(vec![
        ("csrf", csrf.clone()),
        ("intent", "publish".into()),
        ("body", appended),
        ("summary", "A new section".into()),
        ("effective", today.clone()),
    ])
    .await;
    assert_eq!(status, 303, "published");
    let stored = atelier::domain::privacy::policy::current(&app.db)
        .await
        .unwrap();
    assert_eq!(stored.version, 3);
    assert!(
        !stored.body.contains('\r'),
        "line endings are normalised on input"
    );
    let version = reqwest::get(format!("{}/privacy/versions/3", app.address))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        version.contains("Changes from version 2: 3 lines added, 0 lines removed"),
        "{version}"
    );
    assert!(version.contains("class=\"added\">+ ## Appended section"));
    assert!(version.contains("class=\"skipped\">… "));
    assert!(!version.contains("class=\"removed\""));
    // The diff comes after the policy, folded.
    let policy_at = version.find("<article class=\"policy\">").unwrap();
    let diff_at = version.find("<details class=\"changes\">").unwrap();
    assert!(policy_at < diff_at);
    app.stop().await;
}
on_both_databases!(admins_publish_policy_versions);

async fn a_rectification_is_applied_and_recorded(backend: Backend) {
    use atelier::domain::entities::users;
    use sea_orm::{ColumnTrait, QueryFilter};

    let app = TestApp::spawn(backend).await;
    app.signed_in_user("jon@example.com", "Jon Smyth").await;
    app.signed_in_user("taken@example.com", "Taken").await;
    let request = confirmed_request(&app, "jon@example.com", "RECTIFY", "GDPR").await;
    make_staff(&app, "officer@atelier.test", StaffRole::Compliance).await;
    let (officer, _) = sign_in(&app, "officer@atelier.test", STAFF_PASSWORD).await;
    act(
        &officer,
        &app,
        &request.id,
        "verify-identity",
        &[("method", "Email reply")],
    )
    .await;
    let (_, html) = act(&officer, &app, &request.id, "approve", &[]).await;
    assert!(html.contains("Record the correction"));

    let (status, html) = act(
        &officer,
        &app,
        &request.id,
        "rectify",
        &[("field", "email"), ("value", "taken@example.com")],
    )
    .await;
    assert_eq!(status, 422);
    assert!(html.contains("another account already uses this email address"));
    let (status, html) = act(
        &officer,
        &app,
        &request.id,
        "rectify",
        &[("field", "password_hash"), ("value", "x")],
    )
    .await;
    assert_eq!(status, 422);
    assert!(html.contains("choose the name or the email address"));

    let (status, html) = act(
        &officer,
        &app,
        &request.id,
        "rectify",
        &[("field", "display_name"), ("value", "Jon Smith")],
    )
    .await;
    assert_eq!(status, 200);
    assert!(html.contains("Correction applied"));
    let user = users::Entity::find()
        .filter(users::Column::Email.eq("jon@example.com"))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(user.display_name, "Jon Smith");
    let view = atelier::domain::privacy::review::view(&app.db, app.vault_ref(), request.id)
        .await
        .unwrap();
    assert_eq!(view.request.status, "COMPLETED");
    // The timeline says what changed, not the values: those are sealed with Jon's key,
    // shown to staff who open the request and to nobody else.
    let record = view.timeline.last().unwrap();
    assert_eq!(record.message, "We corrected your name.");
    let sealed = record.sealed_detail.as_deref().unwrap();
    assert!(!sealed.contains("Jon"), "{sealed}");
    assert_eq!(
        view.revealed.get(&record.id).map(String::as_str),
        Some("name: “Jon Smyth” → “Jon Smith”")
    );
    assert!(
        html.contains("name: “Jon Smyth” → “Jon Smith”"),
        "staff see the values"
    );
    let timeline_rows = atelier::domain::entities::privacy_request_events::Entity::find()
        .all(&app.db)
        .await
        .unwrap();
    for row in &timeline_rows {
        assert!(
            !row.message.contains("Smyth") && !row.message.contains("Smith"),
            "{}",
            row.message
        );
    }
    app.inbox
        .wait_for_subject("jon@example.com", "is complete")
        .await;
    assert_eq!(
        audit::count_action(&app.db, "privacy.rectified")
            .await
            .unwrap(),
        1
    );
    // The audit event records what changed, sealed with the person's own data key: the
    // stored details do not name them; their key opens it.
    use atelier::domain::entities::audit_events;
    let event = audit_events::Entity::find()
        .filter(audit_events::Column::Action.eq("privacy.rectified"))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert!(!event.details.contains("Jon Smith"), "{}", event.details);
    let details: serde_json::Value = serde_json::from_str(&event.details).unwrap();
    let change = atelier::domain::privacy::person_keys::open(
        &app.db,
        app.vault_ref(),
        user.id,
        details["change_sealed"].as_str().unwrap(),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(change["new"], "Jon Smith");
    assert_eq!(change["old"], "Jon Smyth");
    // The replaced name is remembered, sealed, for a later erasure to look for.
    let former = atelier::domain::privacy::person_keys::former_identifiers(
        &app.db,
        app.vault_ref(),
        user.id,
    )
    .await
    .unwrap();
    assert_eq!(
        former,
        vec![(
            atelier::domain::privacy::person_keys::IdentifierKind::Name,
            "Jon Smyth".to_string()
        )]
    );
    app.stop().await;
}
on_both_databases!(a_rectification_is_applied_and_recorded);

async fn admins_manage_the_team(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    make_staff(&app, "admin@atelier.test", StaffRole::Admin).await;
    let (admin, _) = sign_in(&app, "admin@atelier.test", STAFF_PASSWORD).await;
    let (status, html) = page(&admin, format!("{}/staff/team", app.address)).await;
    assert_eq!(status, 200);
    let csrf = hidden(&html, "csrf");
    let add = |fields: Vec<(&'static str, String)>| {
        let admin = admin.clone();
        let url = format!("{}/staff/team", app.address);
        async move {
            let response = admin.post(url).form(&fields).send().await.unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };
    let (status, html) = add(vec![
        ("csrf", csrf.clone()),
        ("name", "Nina New".into()),
        ("email", "nina@atelier.test".into()),
        ("role", "COMPLIANCE".into()),
        ("password", "short".into()),
    ])
    .await;
    assert_eq!(status, 422);
    assert!(html.contains("value=\"Nina New\"") && html.contains("at least"));
    let (status, _) = add(vec![
        ("csrf", csrf.clone()),
        ("name", "Nina New".into()),
        ("email", "nina@atelier.test".into()),
        ("role", "COMPLIANCE".into()),
        ("password", "copper-meadow-signal-41".into()),
    ])
    .await;
    assert_eq!(status, 303);
    let (status, html) = add(vec![
        ("csrf", csrf.clone()),
        ("name", "Nina Again".into()),
        ("email", "nina@atelier.test".into()),
        ("role", "SUPPORT".into()),
        ("password", "copper-meadow-signal-41".into()),
    ])
    .await;
    assert_eq!(status, 422);
    assert!(html.contains("already exists"));

    // The new officer signs in, but may not manage the team.
    let (nina, status) = sign_in(&app, "nina@atelier.test", "copper-meadow-signal-41").await;
    assert_eq!(status, 303);
    assert_eq!(
        page(&nina, format!("{}/staff/team", app.address)).await.0,
        403
    );

    // Disabling ends her session and keeps her out; an admin cannot disable themselves.
    let nina_id = staff::list_all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.email == "nina@atelier.test")
        .unwrap()
        .id;
    let response = admin
        .post(format!("{}/staff/team/{nina_id}/disable", app.address))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(
        nina.get(format!("{}/staff", app.address))
            .send()
            .await
            .unwrap()
            .status(),
        303
    );
    let (_, status) = sign_in(&app, "nina@atelier.test", "copper-meadow-signal-41").await;
    assert_eq!(status, reqwest::StatusCode::UNAUTHORIZED);
    let admin_id = staff::list_all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.email == "admin@atelier.test")
        .unwrap()
        .id;
    let response = admin
        .post(format!("{}/staff/team/{admin_id}/disable", app.address))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    assert_eq!(
        audit::count_action(&app.db, "staff.disabled")
            .await
            .unwrap(),
        1
    );
    app.stop().await;
}
on_both_databases!(admins_manage_the_team);

async fn admins_see_and_rotate_token_keys(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    make_staff(&app, "keys.admin@atelier.test", StaffRole::Admin).await;
    make_staff(&app, "keys.officer@atelier.test", StaffRole::Compliance).await;
    let (admin, _) = sign_in(&app, "keys.admin@atelier.test", STAFF_PASSWORD).await;
    let (officer, _) = sign_in(&app, "keys.officer@atelier.test", STAFF_PASSWORD).await;
    let url = format!("{}/staff/keys", app.address);

    assert_eq!(page(&officer, url.clone()).await.0, 403);
    let (status, html) = page(&admin, url.clone()).await;
    assert_eq!(status, 200);
    assert!(
        html.contains("<code>test1</code> — seals new values"),
        "{html}"
    );
    assert!(html.contains("No channel tokens are stored."));
    let csrf = hidden(&html, "csrf");

    // Without the form's token, or by a non-admin, nothing is rotated.
    let rotate = format!("{}/staff/keys/rotate", app.address);
    let refused = admin
        .post(&rotate)
        .form(&[("csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let (_, officer_html) = page(&officer, format!("{}/staff", app.address)).await;
    let officer_csrf = hidden(&officer_html, "csrf");
    let refused = officer
        .post(&rotate)
        .form(&[("csrf", officer_csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    assert_eq!(
        audit::count_action(&app.db, "keys.rotated").await.unwrap(),
        0
    );

    let done = admin
        .post(&rotate)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 303, "back to the page");
    let location = done.headers()["location"].to_str().unwrap().to_string();
    let (_, html) = page(&admin, format!("{}{location}", app.address)).await;
    assert!(
        html.contains("Re-sealed 0 channel token row(s) and 0 queued job(s) under key test1."),
        "{html}"
    );
    assert_eq!(
        audit::count_action(&app.db, "keys.rotated").await.unwrap(),
        1
    );
    app.stop().await;
}
on_both_databases!(admins_see_and_rotate_token_keys);

/// Wrong passwords sent at once are each counted: the account locks all the same.
async fn a_burst_of_wrong_passwords_locks_the_account(backend: Backend) {
    use atelier::domain::entities::staff_users;
    let app = TestApp::spawn(backend).await;
    make_staff(&app, "burst@atelier.test", StaffRole::Compliance).await;
    let guesses = (0..5).map(|_| sign_in(&app, "burst@atelier.test", "not-the-password-42"));
    let statuses = futures::future::join_all(guesses).await;
    assert!(
        statuses.iter().all(|(_, s)| s.as_u16() == 401),
        "{statuses:?}"
    );
    let row = staff_users::Entity::find()
        .filter(staff_users::Column::Email.eq("burst@atelier.test"))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert!(row.locked_until.is_some(), "five failures lock: {row:?}");
    let (_, locked) = sign_in(&app, "burst@atelier.test", STAFF_PASSWORD).await;
    assert_eq!(locked, reqwest::StatusCode::TOO_MANY_REQUESTS);

    // Thirty at once on another account: only the limit's ten reach the password check
    // (each is counted before it), the rest are refused unread.
    make_staff(&app, "burst2@atelier.test", StaffRole::Compliance).await;
    let before = atelier::domain::ops::audit::count_action(&app.db, "staff.login_failed")
        .await
        .unwrap();
    let guesses = (0..30).map(|_| sign_in(&app, "burst2@atelier.test", "not-the-password-42"));
    let statuses = futures::future::join_all(guesses).await;
    let limited = statuses
        .iter()
        .filter(|(_, s)| *s == reqwest::StatusCode::TOO_MANY_REQUESTS)
        .count();
    let checked = atelier::domain::ops::audit::count_action(&app.db, "staff.login_failed")
        .await
        .unwrap()
        - before;
    assert!(
        checked <= 10,
        "{checked} guesses reached the password check"
    );
    assert!(limited >= 20, "{statuses:?}");
    app.stop().await;
}
on_both_databases!(a_burst_of_wrong_passwords_locks_the_account);
