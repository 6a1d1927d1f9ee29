//! The portal's `/verify-email` page, which answers the sign-up link without the app.

use serde_json::json;

use crate::helpers::*;
use crate::on_both_databases;

async fn verify_email_page_confirms_on_post_only(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.sign_up("page@example.com", "Pat Page").await;
    let token = app.inbox.wait_for("page@example.com", 1).await.token();

    // Following the link (GET) shows a button and does not use the token up.
    let page = app
        .http
        .get(format!("{}/verify-email?token={token}", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    let html = page.text().await.unwrap();
    assert!(html.contains("Confirm my email address"));
    assert!(html.contains(&format!("value=\"{token}\"")));
    let login = app
        .gql(
            None,
            LOG_IN,
            json!({ "input": { "email": "page@example.com", "password": PASSWORD } }),
        )
        .await;
    assert_eq!(
        error_code(&login).as_deref(),
        Some("FORBIDDEN"),
        "still unverified after GET"
    );

    // The button's POST confirms.
    let confirmed = app
        .http
        .post(format!("{}/verify-email", app.address))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(confirmed.status(), 200);
    assert!(confirmed
        .text()
        .await
        .unwrap()
        .contains("Email address confirmed"));
    app.log_in("page@example.com").await;

    // A used, forged or hostile token gets a plain explanation, escaped.
    for token in [token.as_str(), "nope", "<script>alert(1)</script>"] {
        let response = app
            .http
            .post(format!("{}/verify-email", app.address))
            .form(&[("token", token)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400);
        let body = response.text().await.unwrap();
        assert!(body.contains("This link does not work"));
        assert!(!body.contains("<script>alert"));
    }
    let hostile = app
        .http
        .get(format!(
            "{}/verify-email?token=%22%3E%3Cscript%3Ealert(1)%3C/script%3E",
            app.address
        ))
        .send()
        .await
        .unwrap();
    assert!(!hostile.text().await.unwrap().contains("<script>alert"));
    app.stop().await;
}
on_both_databases!(verify_email_page_confirms_on_post_only);

async fn pages_with_personal_data_are_never_cached(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for path in [
        "/staff/login",
        "/privacy/requests/status",
        "/privacy/requests/new",
        "/privacy/deletion-status/NOPE",
    ] {
        let response = app
            .http
            .get(format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response
                .headers()
                .get("cache-control")
                .map(|v| v.to_str().unwrap()),
            Some("no-store"),
            "{path}"
        );
        assert!(
            response
                .headers()
                .get("strict-transport-security")
                .is_none(),
            "no HSTS over development's plain HTTP"
        );
    }
    let css = app
        .http
        .get(format!("{}/static/portal.css", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(css.headers()["cache-control"], "public, max-age=3600");
    app.stop().await;
}
on_both_databases!(pages_with_personal_data_are_never_cached);

/// An address with nothing behind it answers a portal page with the ways back, under
/// the portal's Content-Security-Policy — never an empty body the browser dresses up.
async fn unknown_addresses_answer_a_page_with_a_way_back(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for path in [
        "/no/such/page",
        "/privacy/versions/999",
        "/privacy/versions/not-a-number",
        "/staff/nothing-here",
    ] {
        let response = app
            .http
            .get(format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{path}");
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html"),
            "{path}"
        );
        assert!(response.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'none'"));
        let html = response.text().await.unwrap();
        assert!(html.contains("<h1>Page not found</h1>"), "{path}: {html}");
        assert!(html.contains("href=\"/privacy\""), "{path}");
        assert!(html.contains("href=\"/privacy/requests/status\""), "{path}");
        assert!(
            html.contains("/static/portal.css"),
            "styled like the portal"
        );
    }
    app.stop().await;
}
on_both_databases!(unknown_addresses_answer_a_page_with_a_way_back);

/// Production (PostgreSQL only) tells browsers to use HTTPS from now on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn production_answers_with_hsts() {
    let Some(backend) = Backend::postgres() else {
        return;
    };
    let app = TestApp::spawn_with(backend, |config| {
        config.env = atelier::config::Environment::Production;
        config.single_instance = true;
        config.public_url = Some("https://atelier.example.com".into());
        config.jwt_secret = Some(secrecy::SecretString::from("j".repeat(48)));
    })
    .await;
    for path in ["/healthz", "/privacy", "/staff/login"] {
        let response = app
            .http
            .get(format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.headers()["strict-transport-security"],
            "max-age=63072000; includeSubDomains",
            "{path}"
        );
    }
    app.stop().await;
}
