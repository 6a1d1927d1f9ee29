//! Portal flows in a real headless Chromium (Debian's chromium and chromedriver), driven
//! over WebDriver as a person would click through them. Skipped with a note when the
//! browser is not installed, unless ATELIER_REQUIRE_BROWSER is set (CI sets it).

use std::process::Stdio;
use std::time::Duration;

use atelier::domain::entities::privacy_requests;
use fantoccini::{Client, ClientBuilder, Locator};
use sea_orm::EntityTrait;
use serde_json::json;

use crate::helpers::*;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

struct Browser {
    client: Client,
    driver: tokio::process::Child,
}

impl Browser {
    async fn start() -> Option<Self> {
        let installed =
            std::path::Path::new(CHROMIUM).exists() && std::path::Path::new(CHROMEDRIVER).exists();
        if !installed {
            assert!(
                std::env::var_os("ATELIER_REQUIRE_BROWSER").is_none(),
                "ATELIER_REQUIRE_BROWSER is set but {CHROMIUM} or {CHROMEDRIVER} is missing"
            );
            eprintln!("chromium/chromedriver not installed: browser test skipped");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = tokio::process::Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start chromedriver");
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--window-size=1100,1400",
                ],
            }),
        );
        let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
        connector.enforce_http(true);
        let mut last_error = None;
        for _ in 0..100 {
            match ClientBuilder::new(connector.clone())
                .capabilities(capabilities.clone())
                .connect(&format!("http://127.0.0.1:{port}"))
                .await
            {
                Ok(client) => return Some(Self { client, driver }),
                Err(e) => last_error = Some(e.to_string()),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("could not start a Chromium session: {last_error:?}");
    }

    async fn stop(mut self) {
        let _ = self.client.close().await;
        let _ = self.driver.kill().await;
    }
}

fn artifact(name: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Types `text` into the field found by `css`.
async fn type_into(b: &Client, css: &str, text: &str) {
    b.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"))
        .send_keys(text)
        .await
        .unwrap();
}

/// Clicks the element found by `css`.
async fn press(b: &Client, css: &str) {
    b.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"))
        .click()
        .await
        .unwrap();
}

/// Signs a staff member in on the portal's log-in page and waits for the dashboard.
async fn staff_sign_in(b: &Client, base: &str, email: &str, password: &str) {
    b.goto(&format!("{base}/staff/login")).await.unwrap();
    type_into(b, "#email", email).await;
    type_into(b, "#password", password).await;
    press(b, "form button[type=submit]").await;
    b.wait()
        .for_element(Locator::XPath("//h1[text()='Privacy requests']"))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_asks_for_deletion_in_a_browser() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = TestApp::spawn(Backend::Sqlite).await;
    let b = &browser.client;

    // The deletion page explains deletion and has the form with ERASE chosen.
    b.goto(&format!("{}/privacy/deletion", app.address))
        .await
        .unwrap();
    let heading = b
        .find(Locator::Css("h1"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(heading, "Ask us to delete your data");
    let chosen = b
        .find(Locator::Css("#kind option:checked"))
        .await
        .unwrap()
        .attr("value")
        .await
        .unwrap();
    assert_eq!(chosen.as_deref(), Some("ERASE"));

    // A first try with a typo: the form comes back with the message and what was typed.
    type_into(b, "#email", "dana@example").await;
    type_into(b, "#channel_identifiers", "@dana.makes on Instagram").await;
    press(b, "button[type=submit]").await;
    let error = b
        .wait()
        .for_element(Locator::Id("email-error"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(error.contains("Please enter the email address"), "{error}");
    let kept = b
        .find(Locator::Css("#channel_identifiers"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap();
    assert_eq!(kept.as_deref(), Some("@dana.makes on Instagram"));

    let email = b.find(Locator::Css("#email")).await.unwrap();
    email.clear().await.unwrap();
    email.send_keys("dana@example.com").await.unwrap();
    type_into(b, "#workspace_name", "Dana Makes").await;
    press(b, "#jurisdiction option[value=GDPR]").await;
    std::fs::write(
        artifact("privacy-deletion-form.png"),
        b.screenshot().await.unwrap(),
    )
    .unwrap();
    press(b, "button[type=submit]").await;
    b.wait()
        .for_element(Locator::XPath("//h1[text()='Check your inbox']"))
        .await
        .unwrap();

    // Follow the emailed link and press the button: the reference and due date show.
    let mail = app.inbox.wait_for("dana@example.com", 1).await;
    let text = mail.decoded();
    let link = text
        .split_whitespace()
        .find(|w| w.contains("/privacy/requests/confirm?token="))
        .expect("a confirmation link")
        .to_string();
    assert!(
        link.starts_with(&app.address),
        "{link} should point at this server"
    );
    b.goto(&link).await.unwrap();
    press(b, "button[type=submit]").await;
    let reference = b
        .wait()
        .for_element(Locator::Css(".reference"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let stored = privacy_requests::Entity::find()
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reference, stored.reference);
    assert_eq!(stored.status, "VERIFIED");
    assert_eq!(stored.kind, "ERASE");
    let page = b.source().await.unwrap();
    assert!(page.contains(&stored.due_at.format("%-d %B %Y").to_string()));
    let shot = artifact("privacy-request-confirmed.png");
    std::fs::write(&shot, b.screenshot().await.unwrap()).unwrap();
    eprintln!("screenshot saved to {}", shot.display());

    browser.stop().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_officer_approves_an_erasure_in_a_browser() {
    use atelier::domain::ops::audit::Actor;
    use atelier::domain::privacy::requests::{self, RequestForm, RequestSource};
    use atelier::domain::staff::accounts::{self as staff, StaffRole};
    use atelier::domain::RequestMeta;

    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = TestApp::spawn(Backend::Sqlite).await;
    staff::create_staff(
        &app.db,
        "olga@atelier.test",
        "Olga Officer",
        "amber-falcon-river-82",
        StaffRole::Compliance,
        Actor::System,
        &RequestMeta::default(),
    )
    .await
    .unwrap();
    app.signed_in_user("gone@example.com", "Gina Gone").await;
    let form = RequestForm {
        kind: "ERASE".into(),
        email: "gone@example.com".into(),
        jurisdiction: "GDPR".into(),
        ..RequestForm::default()
    };
    let request = requests::submit(
        &app.db,
        app.vault_ref(),
        requests::validate(&form, None).unwrap(),
        RequestSource::Portal,
        &RequestMeta::default(),
    )
    .await
    .unwrap();
    let token = app.inbox.wait_for("gone@example.com", 2).await.token();
    requests::confirm(&app.db, app.vault_ref(), &token, &RequestMeta::default())
        .await
        .unwrap();

    let b = &browser.client;
    staff_sign_in(
        b,
        &app.address,
        "olga@atelier.test",
        "amber-falcon-river-82",
    )
    .await;

    // Find the request in the queue by its reference.
    b.goto(&format!("{}/staff/requests", app.address))
        .await
        .unwrap();
    type_into(b, "input[name=q]", &request.reference).await;
    press(b, ".filters button[type=submit]").await;
    // Wait for the filtered page before looking for the link on it.
    let deadline = std::time::Instant::now() + crate::helpers::PATIENCE;
    while !b.current_url().await.unwrap().as_str().contains("q=") {
        assert!(
            std::time::Instant::now() < deadline,
            "the filter did not submit"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    b.wait()
        .for_element(Locator::LinkText(&request.reference))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();

    // Verify identity, approve, and watch it complete.
    b.wait()
        .for_element(Locator::Css("#method"))
        .await
        .unwrap()
        .send_keys("Replied from the account's address")
        .await
        .unwrap();
    press(b, "form[action$='verify-identity'] button").await;
    b.wait()
        .for_element(Locator::Css("form[action$='/approve'] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.wait()
        .for_element(Locator::XPath("//p[contains(., 'Request approved.')]"))
        .await
        .unwrap();
    std::fs::write(
        artifact("staff-request-approved.png"),
        b.screenshot().await.unwrap(),
    )
    .unwrap();
    // The fulfilment job runs in the background; once it is done, the page says so.
    let deadline = std::time::Instant::now() + crate::helpers::PATIENCE;
    loop {
        let stored = privacy_requests::Entity::find_by_id(request.id)
            .one(&app.db)
            .await
            .unwrap()
            .unwrap();
        if stored.status == "COMPLETED" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still {}",
            stored.status
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    b.refresh().await.unwrap();
    let status = b
        .wait()
        .for_element(Locator::Css("h1 .badge"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(status, "Completed", "the badge says the status in words");
    let page = b.source().await.unwrap();
    assert!(
        page.contains("Check that nothing is left") && page.contains("<td>Done</td>"),
        "the steps in words"
    );
    let shot = artifact("staff-request-completed.png");
    std::fs::write(&shot, b.screenshot().await.unwrap()).unwrap();
    eprintln!("screenshot saved to {}", shot.display());
    browser.stop().await;
    app.stop().await;
}

/// axe-core's script (`npm ci --prefix .ci/axe`), or None (noted) when not installed
/// and not required.
fn axe_source() -> Option<String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(".ci/axe/node_modules/axe-core/axe.min.js");
    match std::fs::read_to_string(&path) {
        Ok(source) => Some(source),
        Err(_) => {
            assert!(
                std::env::var_os("ATELIER_REQUIRE_BROWSER").is_none(),
                "axe-core is missing at {}: run npm ci --prefix .ci/axe",
                path.display()
            );
            eprintln!(
                "axe-core not installed (npm ci --prefix .ci/axe): accessibility check skipped"
            );
            None
        }
    }
}

/// What a person sees of the page now, at the window's width: saved as a screenshot;
/// the page no wider than the window; no serious or critical axe-core violation.
async fn looks_right(b: &Client, axe: Option<&str>, name: &str, width: u32) {
    std::fs::write(
        artifact(&format!("{name}-{width}.png")),
        b.screenshot().await.unwrap(),
    )
    .unwrap();
    let sizes = b
        .execute(
            "return [document.documentElement.scrollWidth, window.innerWidth];",
            vec![],
        )
        .await
        .unwrap();
    let (page, window) = (sizes[0].as_u64().unwrap(), sizes[1].as_u64().unwrap());
    assert_eq!(
        window,
        u64::from(width),
        "{name}: the window is {window} px wide"
    );
    if page > window {
        // Name what sticks out, deepest first, for whoever fixes it.
        let wide = b
            .execute(
                "return [...document.querySelectorAll('body *')]
                   .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
                   .filter(e => ![...e.children].some(c => c.getBoundingClientRect().right > window.innerWidth + 1))
                   .slice(0, 5)
                   .map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (e.className ? '.' + e.className : '')
                     + ' ' + Math.round(e.getBoundingClientRect().right) + 'px: ' + (e.textContent || '').trim().slice(0, 60));",
                vec![],
            )
            .await
            .unwrap();
        panic!("{name} at {width} px: the page is {page} px wide (it scrolls sideways): {wide:#}");
    }
    let Some(axe) = axe else {
        return;
    };
    b.execute(&format!("{axe}\nreturn typeof window.axe;"), vec![])
        .await
        .unwrap();
    let found = b
        .execute_async(
            "const done = arguments[arguments.length - 1];
             window.axe.run(document, { resultTypes: ['violations'] })
               .then(r => done(r.violations.map(v => ({ id: v.id, impact: v.impact, help: v.help,
                 nodes: v.nodes.slice(0, 3).map(n => n.target.join(' ')) }))))
               .catch(e => done([{ id: 'axe-error', impact: 'critical', help: String(e), nodes: [] }]));",
            vec![],
        )
        .await
        .unwrap();
    let grave: Vec<&serde_json::Value> = found
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
        .collect();
    assert!(
        grave.is_empty(),
        "{name} at {width} px: axe-core found {grave:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_portal_page_fits_a_desktop_and_a_phone_and_passes_axe() {
    use atelier::domain::ops::audit::Actor;
    use atelier::domain::privacy::requests::{self, RequestForm, RequestSource};
    use atelier::domain::staff::accounts::{self as staff, StaffRole};
    use atelier::domain::RequestMeta;

    let Some(browser) = Browser::start().await else {
        return;
    };
    let axe = axe_source();
    let axe = axe.as_deref();
    let app = TestApp::spawn(Backend::Sqlite).await;
    staff::create_staff(
        &app.db,
        "ada@atelier.test",
        "Ada Admin",
        "amber-falcon-river-82",
        StaffRole::Admin,
        Actor::System,
        &RequestMeta::default(),
    )
    .await
    .unwrap();
    let form = RequestForm {
        kind: "ERASE".into(),
        email: "phone@example.com".into(),
        jurisdiction: "GDPR".into(),
        channel_identifiers: "@phone.person on Instagram, and a long handle without spaces: @averyveryveryveryverylonghandlethatshouldwrapsomewhere".into(),
        ..RequestForm::default()
    };
    let request = requests::submit(
        &app.db,
        app.vault_ref(),
        requests::validate(&form, None).unwrap(),
        RequestSource::Portal,
        &RequestMeta::default(),
    )
    .await
    .unwrap();
    let confirm_link = app
        .inbox
        .wait_for("phone@example.com", 1)
        .await
        .decoded()
        .split_whitespace()
        .find(|w| w.contains("/privacy/requests/confirm?token="))
        .unwrap()
        .to_string();
    let b = &browser.client;
    let base = &app.address;

    for (width, height) in [(1280, 800), (375, 812)] {
        b.set_window_size(width, height).await.unwrap();
        // The public pages.
        for (name, path) in [
            ("policy", "/privacy"),
            ("request-form", "/privacy/requests/new"),
            ("deletion-form", "/privacy/deletion"),
            ("status-form", "/privacy/requests/status"),
            ("confirm", confirm_link.trim_start_matches(base.as_str())),
        ] {
            b.goto(&format!("{base}{path}")).await.unwrap();
            looks_right(b, axe, name, width).await;
        }
        // A form sent with a mistake: the summary links to the field, whose message
        // sits between its label and the input, which is marked invalid.
        b.goto(&format!("{base}/privacy/requests/new"))
            .await
            .unwrap();
        type_into(b, "#email", "not-an-address").await;
        press(b, "form button[type=submit]").await;
        let summary = b
            .wait()
            .for_element(Locator::Css(".error-summary a[href='#email']"))
            .await
            .unwrap();
        assert!(summary.text().await.unwrap().contains("email"));
        let invalid = b
            .find(Locator::Css(
                "#email[aria-invalid=true][aria-describedby=email-error]",
            ))
            .await
            .unwrap();
        let _ = invalid;
        let between: bool = b
            .execute(
                "const label = document.querySelector('label[for=email]');
                 const error = document.getElementById('email-error');
                 const input = document.getElementById('email');
                 return !!(label.compareDocumentPosition(error) & Node.DOCUMENT_POSITION_FOLLOWING)
                   && !!(error.compareDocumentPosition(input) & Node.DOCUMENT_POSITION_FOLLOWING);",
                vec![],
            )
            .await
            .unwrap()
            .as_bool()
            .unwrap();
        assert!(between, "the message is between the label and the field");
        looks_right(b, axe, "request-form-error", width).await;
        // An unknown address: a styled page with a way back.
        b.goto(&format!("{base}/no/such/page")).await.unwrap();
        let heading = b
            .find(Locator::Css("h1"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(heading, "Page not found");
        b.find(Locator::Css("main a[href='/privacy']"))
            .await
            .unwrap();
        looks_right(b, axe, "not-found", width).await;
    }

    // The staff portal, signed in as an ADMIN (who sees every page).
    b.set_window_size(1280, 800).await.unwrap();
    b.goto(&format!("{base}/staff/login")).await.unwrap();
    looks_right(b, axe, "staff-login", 1280).await;
    staff_sign_in(b, base, "ada@atelier.test", "amber-falcon-river-82").await;

    // A policy with one section appended in the browser's textarea (CRLF line
    // endings): the diff shows that section only, with + markers, folded below.
    b.goto(&format!("{base}/staff/policies")).await.unwrap();
    let body = b.find(Locator::Css("#body")).await.unwrap();
    let before = body.prop("value").await.unwrap().unwrap_or_default();
    body.send_keys("\n\n## Appended in the browser\n\nOne new paragraph.")
        .await
        .unwrap();
    type_into(b, "#summary", "A new section").await;
    press(b, "button[value=preview]").await;
    let changes = b
        .wait()
        .for_element(Locator::Css("details.changes"))
        .await
        .unwrap();
    let counts = changes
        .find(Locator::Css("summary"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // The section and the blank lines around it; nothing of the 100-odd lines before.
    assert!(
        counts.ends_with("lines added, 0 lines removed")
            && (counts.contains(" 4 lines") || counts.contains(" 5 lines")),
        "{counts} ({} lines before)",
        before.lines().count()
    );
    assert!(changes.attr("open").await.unwrap().is_none(), "folded");
    let added = b
        .execute(
            "return [...document.querySelectorAll('.diff .added')].map(e => e.textContent);",
            vec![],
        )
        .await
        .unwrap();
    let added: Vec<&str> = added
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(added.iter().all(|l| l.starts_with('+')), "{added:?}");
    assert!(
        added
            .iter()
            .any(|l| l.contains("## Appended in the browser")),
        "{added:?}"
    );
    let kept = b
        .execute(
            "return document.querySelectorAll('.diff .same').length;",
            vec![],
        )
        .await
        .unwrap();
    assert!(
        kept.as_u64().unwrap() <= 3,
        "three lines of context at most: {kept}"
    );
    let preview_above = b
        .execute(
            "return !!(document.querySelector('article.preview').compareDocumentPosition(document.querySelector('details.changes')) & Node.DOCUMENT_POSITION_FOLLOWING);",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        preview_above,
        serde_json::Value::Bool(true),
        "the changes fold below the policy"
    );

    for (width, height) in [(1280, 800), (375, 812)] {
        b.set_window_size(width, height).await.unwrap();
        for (name, path) in [
            ("staff-dashboard", "/staff".to_string()),
            ("staff-queue", "/staff/requests".to_string()),
            ("staff-request", format!("/staff/requests/{}", request.id)),
            ("staff-audit", "/staff/audit".to_string()),
            ("staff-team", "/staff/team".to_string()),
            ("staff-policies", "/staff/policies".to_string()),
            ("staff-jobs", "/staff/jobs".to_string()),
            ("staff-keys", "/staff/keys".to_string()),
        ] {
            b.goto(&format!("{base}{path}")).await.unwrap();
            looks_right(b, axe, name, width).await;
        }
    }
    eprintln!("screenshots saved under {}", artifact("").display());
    browser.stop().await;
    app.stop().await;
}

/// A client with no account opens the emailed review link, reads both posts, approves
/// one, tries to send the other back without saying why (the page says what is
/// missing), then asks for changes with a comment; the drafts move in the app. With
/// screenshots at each step, and the page checked at a desktop's and a phone's width.
async fn a_client_reviews_two_posts_in_a_browser(backend: Backend) {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let db = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres { .. } => "postgres",
    };
    let axe = axe_source();
    let app = TestApp::spawn(backend).await;
    let b = &browser.client;
    let owner = app
        .signed_in_user("ines@agency.example", "Ines Owner")
        .await;
    let ws = app.create_workspace(&owner, "Ines Agency").await;
    let spring =
        crate::reviews::draft_with(&app, &owner, &ws, "Spring launch", Some("tulips.png")).await;
    let summer = crate::reviews::draft_in_review(&app, &owner, &ws, "Summer teaser").await;
    crate::reviews::share(
        &app,
        &owner,
        &ws,
        "kim@brand.example",
        json!([{ "draftId": spring, "plannedAt": (chrono::Utc::now() + chrono::Duration::days(5)).to_rfc3339() },
               { "draftId": summer }]),
    )
    .await;
    let link = crate::reviews::review_link(&app, "kim@brand.example", 0).await;

    b.goto(&link).await.unwrap();
    b.wait()
        .for_element(Locator::XPath(
            "//h1[text()='Review posts for Ines Agency']",
        ))
        .await
        .unwrap();
    for (width, height) in [(1280, 1600), (375, 2400)] {
        b.set_window_size(width, height).await.unwrap();
        looks_right(b, axe.as_deref(), &format!("review-page-{db}"), width).await;
    }
    b.set_window_size(1100, 1400).await.unwrap();
    let image = b
        .find(Locator::Css(&format!("#draft-{spring} img")))
        .await
        .unwrap();
    let loaded = b
        .execute(
            "return arguments[0].complete && arguments[0].naturalWidth > 0;",
            vec![serde_json::to_value(&image).unwrap()],
        )
        .await
        .unwrap();
    assert_eq!(loaded, json!(true), "the attached image shows");

    press(b, &format!("#draft-{spring} button[value=approve]")).await;
    let notice = b
        .wait()
        .for_element(Locator::Css(".notice[role=status]"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(notice.contains("You approved this post"), "{notice}");
    std::fs::write(
        artifact(&format!("review-approved-{db}.png")),
        b.screenshot().await.unwrap(),
    )
    .unwrap();

    // Sending one back without a comment: the problem is named, the draft unchanged.
    press(b, &format!("#draft-{summer} button[value=changes]")).await;
    let problem = b
        .wait()
        .for_element(Locator::Id(&format!("comment-{summer}-error")))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(problem.contains("a comment is required"), "{problem}");
    looks_right(b, axe.as_deref(), &format!("review-error-{db}"), 1100).await;
    type_into(
        b,
        &format!("#comment-{summer}"),
        "The date in the second line is wrong.",
    )
    .await;
    press(b, &format!("#draft-{summer} button[value=changes]")).await;
    let notice = b
        .wait()
        .for_element(Locator::XPath(
            "//p[@role='status'][contains(., 'You asked for changes')]",
        ))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(notice.contains("Summer teaser"), "{notice}");
    let page = b.source().await.unwrap();
    assert!(page.contains("You have decided on every post"), "{page}");
    let shot = artifact(&format!("review-done-{db}.png"));
    std::fs::write(&shot, b.screenshot().await.unwrap()).unwrap();
    eprintln!("screenshot saved to {}", shot.display());

    let status = |id: String| {
        let (app, token) = (&app, owner.access.clone());
        async move {
            app.gql_ok(
                Some(&token),
                "query($id: ID!) { draft(id: $id) { status } }",
                json!({ "id": id }),
            )
            .await["draft"]["status"]
                .clone()
        }
    };
    assert_eq!(status(spring).await, "APPROVED");
    assert_eq!(status(summer).await, "CHANGES_REQUESTED");
    browser.stop().await;
    app.stop().await;
}
crate::on_both_databases!(a_client_reviews_two_posts_in_a_browser);
