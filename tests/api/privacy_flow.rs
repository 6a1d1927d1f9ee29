//! The steps of a privacy request as people take them, shared by the sequence tests and
//! the property test: a person asks in the app or on the portal and confirms by the
//! emailed link; an officer signed in to the staff portal verifies, approves, refuses,
//! extends or corrects; and the checks that nothing of an erased person is left.

use atelier::domain::entities::privacy_requests;
use atelier::domain::ops::audit::Actor;
use atelier::domain::staff::accounts::{self as staff, StaffRole};
use atelier::domain::RequestMeta;
use sea_orm::EntityTrait;
use serde_json::json;

use crate::helpers::*;

/// A staff member signed in to the portal (a browser with its cookie).
pub struct Officer {
    pub client: reqwest::Client,
}

impl Officer {
    /// Creates the staff account and signs in through the log-in form.
    pub async fn sign_in(app: &TestApp, email: &str, role: StaffRole) -> Self {
        staff::create_staff(
            &app.db,
            email,
            "Olga Officer",
            STAFF_PASSWORD,
            role,
            Actor::System,
            &RequestMeta::default(),
        )
        .await
        .unwrap();
        let client = browser();
        let (_, page) = get(&client, format!("{}/staff/login", app.address)).await;
        let csrf = hidden(&page, "csrf");
        let response = client
            .post(format!("{}/staff/login", app.address))
            .form(&[
                ("email", email),
                ("password", STAFF_PASSWORD),
                ("csrf", csrf.as_str()),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 303, "staff sign-in");
        Officer { client }
    }

    pub async fn page(&self, app: &TestApp, path: &str) -> (u16, String) {
        get(&self.client, format!("{}{path}", app.address)).await
    }

    /// Submits a form found on `page_path` to `action_path` (with the page's CSRF
    /// token), following the redirect as a browser would.
    pub async fn submit(
        &self,
        app: &TestApp,
        page_path: &str,
        action_path: &str,
        fields: &[(&str, &str)],
    ) -> (u16, String) {
        let (_, html) = self.page(app, page_path).await;
        let csrf = hidden(&html, "csrf");
        let mut form = vec![("csrf", csrf.as_str())];
        form.extend_from_slice(fields);
        let response = self
            .client
            .post(format!("{}{action_path}", app.address))
            .form(&form)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        match response.headers().get("location") {
            Some(to) => {
                let to = to.to_str().unwrap().to_string();
                self.page(app, &to).await
            }
            None => (status, response.text().await.unwrap()),
        }
    }

    /// An action on a request's page (`approve`, `reject`, `rectify`…).
    pub async fn act(
        &self,
        app: &TestApp,
        id: uuid::Uuid,
        action: &str,
        fields: &[(&str, &str)],
    ) -> (u16, String) {
        let page = format!("/staff/requests/{id}");
        self.submit(app, &page, &format!("{page}/{action}"), fields)
            .await
    }

    /// Verifies the requester's identity and approves the request.
    pub async fn approve(&self, app: &TestApp, id: uuid::Uuid) {
        let (status, html) = self
            .act(
                app,
                id,
                "verify-identity",
                &[("method", "Confirmed by email")],
            )
            .await;
        assert_eq!(status, 200, "{html}");
        let (status, html) = self.act(app, id, "approve", &[]).await;
        assert_eq!(status, 200, "{html}");
    }
}

pub async fn get(client: &reqwest::Client, url: String) -> (u16, String) {
    let response = client.get(url).send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// Confirms a request through the newest confirmation email to `email` after the first
/// `seen` emails, on the portal page the link opens.
pub async fn confirm_by_link(app: &TestApp, email: &str, seen: usize) {
    app.pump_jobs().await;
    let mail = app
        .inbox
        .wait_for_new(email, seen, "confirm your privacy request")
        .await;
    let token = mail.token();
    let client = browser();
    let (status, page) = get(
        &client,
        format!("{}/privacy/requests/confirm?token={token}", app.address),
    )
    .await;
    assert_eq!(status, 200, "{page}");
    // The page says what is being confirmed, and that an erasure is for good.
    assert!(page.contains("You asked us to:"), "{page}");
    assert_eq!(
        page.contains("An erasure cannot be undone"),
        page.contains("Delete my data (erasure)"),
        "{page}"
    );
    let csrf = hidden(&page, "csrf");
    let response = client
        .post(format!("{}/privacy/requests/confirm", app.address))
        .form(&[("token", token.as_str()), ("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "confirmation");
}

/// Asks in the app (a GraphQL mutation answering `{ id }` under `field`) and confirms
/// by the emailed link; returns the request's id.
pub async fn ask_in_app(
    app: &TestApp,
    session: &Session,
    email: &str,
    mutation: &str,
    field: &str,
) -> uuid::Uuid {
    let seen = app.inbox.to(email).len();
    let data = app
        .gql_ok(Some(&session.access), mutation, json!({ "p": PASSWORD }))
        .await;
    let id = data[field]["id"].as_str().unwrap().parse().unwrap();
    confirm_by_link(app, email, seen).await;
    id
}

pub const EXPORT: &str = "mutation { requestDataExport { id reference } }";
pub const ERASE: &str =
    "mutation($p: String!) { requestAccountErasure(password: $p) { id reference } }";

/// Sends the public request form for `email` and confirms it; returns the request.
pub async fn ask_on_portal(app: &TestApp, email: &str, kind: &str) -> privacy_requests::Model {
    use atelier::domain::entities::privacy_requests::Column;
    use sea_orm::{ColumnTrait, QueryFilter, QueryOrder};

    let client = browser();
    let (_, page) = get(&client, format!("{}/privacy/requests/new", app.address)).await;
    let csrf = hidden(&page, "csrf");
    let seen = app.inbox.to(email).len();
    let response = client
        .post(format!("{}/privacy/requests/new", app.address))
        .form(&[
            ("csrf", csrf.as_str()),
            ("deletion", "0"),
            ("kind", kind),
            ("email", email),
            ("jurisdiction", "GDPR"),
        ])
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "request form");
    confirm_by_link(app, email, seen).await;
    privacy_requests::Entity::find()
        .filter(Column::RequesterEmailHash.eq(atelier::domain::ops::outbox::recipient_hash(email)))
        .order_by_desc(Column::ReceivedAt)
        .one(&app.db)
        .await
        .unwrap()
        .expect("the request is stored")
}

/// Waits until the request reaches one of `statuses`.
pub async fn settles(app: &TestApp, id: uuid::Uuid, statuses: &[&str]) -> privacy_requests::Model {
    eventually(30, "the request to settle", || async {
        app.pump_jobs().await;
        let request = privacy_requests::Entity::find_by_id(id)
            .one(&app.db)
            .await
            .unwrap()
            .unwrap();
        if statuses.contains(&request.status.as_str()) {
            Ok(request)
        } else {
            Err(request.status)
        }
    })
    .await
}

/// Every file under a directory.
pub fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// Where any of `needles` is still found: any text column of any table, and, on
/// SQLite, the bytes of the database files; the export and media stores and the mail
/// outbox on either. Empty when nothing is left.
pub async fn leftovers(app: &TestApp, needles: &[String]) -> Vec<String> {
    let mut found: Vec<String> = atelier::domain::privacy::fulfil::scan(&app.db, needles, None)
        .await
        .unwrap()
        .into_iter()
        .map(|l| format!("{}.{} ({} rows)", l.table, l.column, l.rows))
        .collect();
    let dir = app.data_dir();
    let mut files: Vec<std::path::PathBuf> = ["test.sqlite", "test.sqlite-wal"]
        .iter()
        .map(|f| dir.join(f))
        .collect();
    for store in ["exports", "media", "outbox"] {
        files.extend(files_under(&dir.join(store)));
    }
    for file in files {
        let Ok(bytes) = std::fs::read(&file) else {
            continue;
        };
        for needle in needles {
            for form in [needle.clone(), needle.to_lowercase()] {
                if bytes.windows(form.len()).any(|w| w == form.as_bytes()) {
                    found.push(format!("{form} in {}", file.display()));
                }
            }
        }
    }
    found
}

/// Connects LinkedIn to a workspace through the platform's consent page, as a browser
/// would: the authorize URL, the platform's redirect back, the callback.
pub async fn connect_linkedin(app: &TestApp, session: &Session, workspace: &str) {
    let client = browser();
    let started = app
        .gql_from(
            &client,
            Some(&session.access),
            "mutation($w: ID!) { startIntegrationConnect(workspaceId: $w, provider: LINKEDIN) { authorizeUrl } }",
            json!({ "w": workspace }),
        )
        .await["data"]
        .clone();
    let url = started["startIntegrationConnect"]["authorizeUrl"]
        .as_str()
        .unwrap();
    let back = client.get(url).send().await.unwrap();
    assert_eq!(back.status(), 303, "the platform sends the browser back");
    let back = back.headers()["location"].to_str().unwrap().to_string();
    let done = client.get(&back).send().await.unwrap();
    assert_eq!(done.status(), 303, "{}", done.text().await.unwrap());
}

/// The person asks in the app to be erased, staff approve, the erasure completes, and
/// none of `needles` is left anywhere (`leftovers`). Returns the request's id.
pub async fn erase_leaving_nothing(
    app: &TestApp,
    officer: &Officer,
    session: &Session,
    email: &str,
    needles: &[&str],
) -> uuid::Uuid {
    let erase = ask_in_app(app, session, email, ERASE, "requestAccountErasure").await;
    officer.approve(app, erase).await;
    settles(app, erase, &["COMPLETED"]).await;
    let needles: Vec<String> = needles.iter().map(|n| n.to_string()).collect();
    let left = leftovers(app, &needles).await;
    assert!(left.is_empty(), "{left:?}");
    erase
}
