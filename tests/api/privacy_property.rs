//! A state-machine property test of the privacy engine: random sequences of what one
//! person does (workspaces, drafts, comments, uploads, a channel connected at the fake
//! platform) and asks for (access, export and download, rectification of name or email,
//! restriction and its lifting, objection, an erasure refused by staff, an access
//! request extended, erasure — sometimes with the fulfilment crashing between steps),
//! checking after every step that:
//!
//! - every request reached a terminal state (nothing left approved or in progress);
//! - the audit chain verifies;
//! - after the erasure, no byte of any email or name the person ever had is left in the
//!   database (every text column; the SQLite file and its WAL), the export store, the
//!   media store or the mail outbox; every export link of theirs answers 410; and the
//!   platform saw every token it issued to them revoked.
//!
//! The app runs without its job runner: the test runs due jobs itself, so a crash is a
//! job run cut off at a random moment (its lease then runs out and the job resumes).
//! `ATELIER_PROPTEST_CASES` sets the number of cases (32 by default).

use std::time::Duration;

use atelier::domain::entities::{privacy_requests, users};
use atelier::domain::staff::accounts::StaffRole;
use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, TestCaseError, TestRunner};
use sea_orm::EntityTrait;
use serde_json::json;

use crate::fake_provider::FakeProvider;
use crate::helpers::*;
use crate::privacy_flow::*;

#[derive(Clone, Debug)]
enum Action {
    CreateWorkspace,
    CreateDraft,
    Comment,
    UploadMedia(u8),
    ConnectChannel,
    Access,
    Export,
    RectifyName,
    RectifyEmail,
    Restrict,
    Object,
    Lift,
    ErasureRefused,
    AccessExtended,
    Erase { crash_after_ms: Option<u8> },
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        2 => Just(Action::CreateWorkspace),
        3 => Just(Action::CreateDraft),
        2 => Just(Action::Comment),
        2 => any::<u8>().prop_map(Action::UploadMedia),
        2 => Just(Action::ConnectChannel),
        1 => Just(Action::Access),
        2 => Just(Action::Export),
        2 => Just(Action::RectifyName),
        2 => Just(Action::RectifyEmail),
        1 => Just(Action::Restrict),
        1 => Just(Action::Object),
        1 => Just(Action::Lift),
        1 => Just(Action::ErasureRefused),
        1 => Just(Action::AccessExtended),
        1 => proptest::option::of(0u8..120).prop_map(|crash_after_ms| Action::Erase { crash_after_ms }),
    ]
}

/// A sequence of up to eight actions; most end with an erasure.
fn sequence() -> impl Strategy<Value = Vec<Action>> {
    (
        proptest::collection::vec(action(), 1..8),
        proptest::bool::weighted(0.75),
        proptest::option::of(0u8..120),
    )
        .prop_map(|(mut actions, erase_at_end, crash_after_ms)| {
            if erase_at_end {
                actions.push(Action::Erase { crash_after_ms });
            }
            actions
        })
}

/// What the test knows of the person.
struct Person {
    session: Session,
    email: String,
    name: String,
    /// Every email address and name they ever had, and their channel's name.
    identifiers: Vec<String>,
    workspaces: Vec<String>,
    drafts: Vec<String>,
    /// The paths of the download links they were sent (`/exports/…`).
    export_links: Vec<String>,
    restricted_by: Option<uuid::Uuid>,
    erased: bool,
    counter: u32,
}

impl Person {
    fn next(&mut self) -> u32 {
        self.counter += 1;
        self.counter
    }
}

struct World {
    /// The app (taken out and put back when the test crashes and restarts it).
    app: Option<TestApp>,
    fake: FakeProvider,
    officer: Officer,
    person: Person,
}

impl World {
    fn app(&self) -> &TestApp {
        // invariant: the app is only out while it restarts.
        self.app.as_ref().expect("the app is running")
    }

    async fn start() -> Self {
        let fake = FakeProvider::start().await;
        let app = TestApp::spawn_with(Backend::Sqlite, |config| {
            config.jobs.run_in_process = false;
            config.jobs.lease_secs = 1;
            config.privacy.requests_per_email = 1_000;
            config.privacy.requests_per_ip = 1_000;
            config.privacy.app_requests_per_day = 1_000;
            config.providers.linkedin = fake.settings();
        })
        .await;
        let session = app.signed_in_user("pat@example.com", "Pat Property").await;
        let officer = Officer::sign_in(&app, "officer@atelier.test", StaffRole::Compliance).await;
        World {
            app: Some(app),
            fake,
            officer,
            person: Person {
                session,
                email: "pat@example.com".into(),
                name: "Pat Property".into(),
                identifiers: vec!["pat@example.com".into(), "Pat Property".into()],
                workspaces: Vec::new(),
                drafts: Vec::new(),
                export_links: Vec::new(),
                restricted_by: None,
                erased: false,
                counter: 0,
            },
        }
    }

    async fn workspace(&mut self) -> String {
        if let Some(w) = self.person.workspaces.last() {
            return w.clone();
        }
        let n = self.person.next();
        let id = self
            .app()
            .create_workspace(&self.person.session, &format!("Studio {n}"))
            .await;
        self.person.workspaces.push(id.clone());
        id
    }

    async fn draft(&mut self) -> String {
        if let Some(d) = self.person.drafts.last() {
            return d.clone();
        }
        self.create_draft().await
    }

    async fn create_draft(&mut self) -> String {
        let workspace = self.workspace().await;
        let body = format!("Notes by {} <{}>", self.person.name, self.person.email);
        let data = self
            .app()
            .gql_ok(
                Some(&self.person.session.access),
                "mutation($i: CreateDraftInput!) { createDraft(input: $i) { id } }",
                json!({ "i": { "workspaceId": workspace, "title": format!("Post by {}", self.person.name), "body": body } }),
            )
            .await;
        let id = data["createDraft"]["id"].as_str().unwrap().to_string();
        self.person.drafts.push(id.clone());
        id
    }

    /// Asks on the portal from the person's current address, has it approved, and waits
    /// for it to complete.
    async fn portal_request(&mut self, kind: &str) -> privacy_requests::Model {
        let email = self.person.email.clone();
        let request = ask_on_portal(self.app(), &email, kind).await;
        self.officer.approve(self.app(), request.id).await;
        request
    }

    /// Collects the download link of the newest package emailed after `seen` emails,
    /// and downloads it.
    async fn download(&mut self, seen: usize) {
        self.app().pump_jobs().await;
        let mail = self
            .app()
            .inbox
            .wait_for_new(&self.person.email, seen, "ready to download")
            .await;
        let link = mail
            .decoded()
            .split_whitespace()
            .find(|w| w.contains("/exports/"))
            .unwrap()
            .to_string();
        let response = reqwest::get(&link).await.unwrap();
        assert_eq!(response.status(), 200, "a fresh export link downloads");
        // Kept without the address: a restarted app listens elsewhere.
        let path = &link[link.find("/exports/").expect("an export link")..];
        self.person.export_links.push(path.to_string());
    }

    /// Asks in the app to be erased (password given again) and confirms by the link.
    async fn ask_erasure(&self) -> uuid::Uuid {
        let email = self.person.email.clone();
        ask_in_app(
            self.app(),
            &self.person.session,
            &email,
            ERASE,
            "requestAccountErasure",
        )
        .await
    }

    async fn rectify(&mut self, field: &str, value: &str) {
        let request = self.portal_request("RECTIFY").await;
        let (status, html) = self
            .officer
            .act(
                self.app(),
                request.id,
                "rectify",
                &[("field", field), ("value", value)],
            )
            .await;
        assert_eq!(status, 200, "{html}");
        settles(self.app(), request.id, &["COMPLETED"]).await;
    }

    async fn step(&mut self, action: &Action) {
        if self.person.erased {
            // Nobody is left to act; the invariants are checked again all the same.
            return;
        }
        let access = self.person.session.access.clone();
        match action {
            Action::CreateWorkspace => {
                let n = self.person.next();
                let id = self
                    .app()
                    .create_workspace(&self.person.session, &format!("Studio {n}"))
                    .await;
                self.person.workspaces.push(id);
            }
            Action::CreateDraft => {
                self.create_draft().await;
            }
            Action::Comment => {
                let draft = self.draft().await;
                self.app()
                    .gql_ok(
                        Some(&access),
                        "mutation($i: AddCommentInput!) { addComment(input: $i) { id } }",
                        json!({ "i": { "draftId": draft, "body": format!("Signed, {}", self.person.name) } }),
                    )
                    .await;
            }
            Action::UploadMedia(n) => {
                let workspace = self.workspace().await;
                let mut bytes = crate::media::PNG.to_vec();
                bytes.extend_from_slice(format!("-{n}-{}", self.person.next()).as_bytes());
                let (status, body) = crate::media::upload(
                    self.app(),
                    Some(&access),
                    &workspace,
                    "pat.png",
                    "image/png",
                    bytes,
                )
                .await;
                assert_eq!(status, 200, "{body}");
            }
            Action::ConnectChannel => {
                let workspace = self.workspace().await;
                connect_linkedin(self.app(), &self.person.session, &workspace).await;
                if !self.person.identifiers.iter().any(|i| i == "Lina Linked") {
                    // The fake's LinkedIn profile name: the channel's name is theirs.
                    self.person.identifiers.push("Lina Linked".into());
                }
            }
            Action::Access => {
                let seen = self.app().inbox.to(&self.person.email).len();
                let request = self.portal_request("ACCESS").await;
                settles(self.app(), request.id, &["COMPLETED"]).await;
                self.download(seen).await;
            }
            Action::Export => {
                let email = self.person.email.clone();
                let id = ask_in_app(
                    self.app(),
                    &self.person.session,
                    &email,
                    EXPORT,
                    "requestDataExport",
                )
                .await;
                let seen = self.app().inbox.to(&email).len();
                self.officer.approve(self.app(), id).await;
                settles(self.app(), id, &["COMPLETED"]).await;
                self.download(seen).await;
            }
            Action::RectifyName => {
                let name = format!("Pat Renamed{}", self.person.next());
                self.rectify("display_name", &name).await;
                self.person.identifiers.push(name.clone());
                self.person.name = name;
            }
            Action::RectifyEmail => {
                let email = format!("pat.moved{}@example.com", self.person.next());
                self.rectify("email", &email).await;
                self.person.identifiers.push(email.clone());
                self.person.email = email;
            }
            Action::Restrict | Action::Object => {
                let kind = if matches!(action, Action::Restrict) {
                    "RESTRICT"
                } else {
                    "OBJECT"
                };
                let request = self.portal_request(kind).await;
                settles(self.app(), request.id, &["COMPLETED"]).await;
                let user = users::Entity::find_by_id(
                    self.person.session.user_id.parse::<uuid::Uuid>().unwrap(),
                )
                .one(&self.app().db)
                .await
                .unwrap()
                .unwrap();
                assert_eq!(user.status, "RESTRICTED");
                self.person.restricted_by.get_or_insert(request.id);
            }
            Action::Lift => {
                if let Some(request) = self.person.restricted_by.take() {
                    let (status, html) = self
                        .officer
                        .act(self.app(), request, "lift-restriction", &[])
                        .await;
                    assert_eq!(status, 200, "{html}");
                }
            }
            Action::ErasureRefused => {
                let id = self.ask_erasure().await;
                let (status, html) = self
                    .officer
                    .act(
                        self.app(),
                        id,
                        "verify-identity",
                        &[("method", "Confirmed by email")],
                    )
                    .await;
                assert_eq!(status, 200, "{html}");
                let (status, html) = self
                    .officer
                    .act(
                        self.app(),
                        id,
                        "reject",
                        &[("reason", "We could not confirm it was you.")],
                    )
                    .await;
                assert_eq!(status, 200, "{html}");
                settles(self.app(), id, &["REJECTED"]).await;
            }
            Action::AccessExtended => {
                let email = self.person.email.clone();
                let seen = self.app().inbox.to(&email).len();
                let request = ask_on_portal(self.app(), &email, "ACCESS").await;
                let (status, html) = self
                    .officer
                    .act(
                        self.app(),
                        request.id,
                        "extend",
                        &[("reason", "Your data spans many workspaces.")],
                    )
                    .await;
                assert_eq!(status, 200, "{html}");
                self.officer.approve(self.app(), request.id).await;
                settles(self.app(), request.id, &["COMPLETED"]).await;
                self.download(seen).await;
            }
            Action::Erase { crash_after_ms } => {
                let id = self.ask_erasure().await;
                self.officer.approve(self.app(), id).await;
                if let Some(ms) = crash_after_ms {
                    // The fulfilment is cut off at a random moment; once the job's lease
                    // runs out the next run resumes at the first unfinished step.
                    let _ = tokio::time::timeout(
                        Duration::from_millis(u64::from(*ms)),
                        self.app().run_jobs(),
                    )
                    .await;
                    // Half the time the process is gone too (connections closed, a new
                    // instance starts); otherwise the same pools live on.
                    if ms % 2 == 0 {
                        let crashed = self.app.take().expect("the app is running");
                        self.app = Some(crashed.restart(|_| {}).await);
                    }
                    tokio::time::sleep(Duration::from_millis(1_100)).await;
                }
                settles(self.app(), id, &["COMPLETED"]).await;
                self.person.erased = true;
            }
        }
    }

    /// The invariants that hold after every step.
    async fn check(&self, after: &[Action]) -> Result<(), TestCaseError> {
        self.app().pump_jobs().await;
        let open: Vec<(String, String)> = privacy_requests::Entity::find()
            .all(&self.app().db)
            .await
            .unwrap()
            .into_iter()
            .filter(|r| !matches!(r.status.as_str(), "COMPLETED" | "REJECTED"))
            .map(|r| (r.kind, r.status))
            .collect();
        prop_assert!(
            open.is_empty(),
            "requests not settled after {after:?}: {open:?}"
        );
        prop_assert!(
            atelier::domain::ops::audit::verify_chain(&self.app().db)
                .await
                .unwrap()
                .is_intact(),
            "audit chain broken after {after:?}"
        );
        if !self.person.erased {
            return Ok(());
        }
        let left = leftovers(self.app(), &self.person.identifiers).await;
        prop_assert!(left.is_empty(), "left after {after:?}: {left:?}");
        for path in &self.person.export_links {
            let link = format!("{}{path}", self.app().address);
            let status = reqwest::get(&link).await.unwrap().status();
            prop_assert_eq!(status.as_u16(), 410, "export link alive after {:?}", after);
        }
        let revoked = self.fake.revoked();
        let unrevoked: Vec<String> = self
            .fake
            .issued()
            .into_iter()
            .filter(|t| !revoked.contains(t))
            .collect();
        prop_assert!(
            unrevoked.is_empty(),
            "tokens not revoked after {after:?}: {unrevoked:?}"
        );
        Ok(())
    }
}

async fn run_case(actions: Vec<Action>) -> Result<(), TestCaseError> {
    let mut world = World::start().await;
    for (done, action) in actions.iter().enumerate() {
        world.step(action).await;
        world.check(&actions[..=done]).await?;
    }
    if let Some(app) = world.app.take() {
        app.stop().await;
    }
    Ok(())
}

#[test]
fn the_privacy_engine_keeps_its_promises_in_any_order() {
    let cases = std::env::var("ATELIER_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(32);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut runner = TestRunner::new(RunnerConfig {
        cases,
        max_shrink_iters: 24,
        failure_persistence: None,
        ..RunnerConfig::default()
    });
    let seen = std::cell::RefCell::new(std::collections::BTreeMap::<String, usize>::new());
    let outcome = runner.run(&sequence(), |actions| {
        for action in &actions {
            let name = match action {
                Action::Erase {
                    crash_after_ms: Some(_),
                } => "Erase with a crash".to_string(),
                other => format!("{other:?}")
                    .split([' ', '('])
                    .next()
                    .unwrap_or_default()
                    .to_string(),
            };
            *seen.borrow_mut().entry(name).or_default() += 1;
        }
        runtime.block_on(run_case(actions))
    });
    eprintln!(
        "privacy property test: {cases} cases; actions taken (shrinking included): {:?}",
        seen.borrow()
    );
    if let Err(failure) = outcome {
        panic!("{failure}");
    }
}
