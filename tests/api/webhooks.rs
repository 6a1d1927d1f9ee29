//! Webhooks through HTTP: an ADMIN registers an endpoint, a receiver on loopback gets
//! each event once, signed the Standard Webhooks way (checked here and, when installed,
//! with the specification's Python reference library); a failing receiver gets retries
//! until the endpoint is disabled and its ADMINs emailed; redelivery sends the same
//! message; private addresses are refused unless the server allows them.

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::HeaderMap;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::helpers::*;
use crate::on_both_databases;
use crate::workspaces::add_member;

/// One request the receiver got: its headers and raw body.
#[derive(Clone, Debug)]
struct Received {
    id: String,
    timestamp: String,
    signature: String,
    body: String,
}

/// An HTTP receiver on loopback that records what it is sent and answers `status`.
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Received>>>,
    status: Arc<AtomicU16>,
    /// How long it takes to answer, in milliseconds (0: at once).
    delay_ms: Arc<std::sync::atomic::AtomicU64>,
    _task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    async fn start() -> Self {
        let got: Arc<Mutex<Vec<Received>>> = Arc::default();
        let status = Arc::new(AtomicU16::new(204));
        let delay_ms = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let (g, s, d) = (got.clone(), status.clone(), delay_ms.clone());
        let app = axum::Router::new().route(
            "/hooks",
            axum::routing::post(move |headers: HeaderMap, body: String| {
                let (g, s, d) = (g.clone(), s.clone(), d.clone());
                async move {
                    tokio::time::sleep(Duration::from_millis(d.load(Ordering::SeqCst))).await;
                    let header = |name: &str| {
                        headers
                            .get(name)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_string()
                    };
                    g.lock().unwrap().push(Received {
                        id: header("webhook-id"),
                        timestamp: header("webhook-timestamp"),
                        signature: header("webhook-signature"),
                        body,
                    });
                    axum::http::StatusCode::from_u16(s.load(Ordering::SeqCst)).unwrap()
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hooks", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.ok();
        });
        Self {
            url,
            got,
            status,
            delay_ms,
            _task: task,
        }
    }

    fn all(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    fn of_type(&self, event: &str) -> Vec<Received> {
        self.all()
            .into_iter()
            .filter(|r| serde_json::from_str::<Value>(&r.body).unwrap()["type"] == event)
            .collect()
    }

    async fn wait_for(&self, event: &str, count: usize) -> Vec<Received> {
        eventually(20, &format!("{count} × {event}"), || async {
            let got = self.of_type(event);
            (got.len() >= count)
                .then_some(got.clone())
                .ok_or(format!("{got:?}"))
        })
        .await
    }
}

/// The Standard Webhooks check, written from the specification: HMAC-SHA256 with the
/// base64 key after `whsec_` over `id.timestamp.body`, compared with each `v1,` entry.
fn verifies(secret: &str, message: &Received) -> bool {
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.trim_start_matches("whsec_"))
        .unwrap();
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).unwrap();
    mac.update(format!("{}.{}.{}", message.id, message.timestamp, message.body).as_bytes());
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    message
        .signature
        .split(' ')
        .any(|entry| entry.strip_prefix("v1,") == Some(expected.as_str()))
}

/// The same check by the specification's Python reference library (`pip install
/// standardwebhooks`): Some(verified), or None when it is not installed and not required.
fn reference_verifies(secret: &str, message: &Received) -> Option<bool> {
    let script = "import sys, json
from standardwebhooks.webhooks import Webhook
secret, msg_id, ts, sig, body = sys.argv[1:6]
Webhook(secret).verify(body, {'webhook-id': msg_id, 'webhook-timestamp': ts, 'webhook-signature': sig})
print('verified')";
    let output = std::process::Command::new("python3")
        .args([
            "-c",
            script,
            secret,
            &message.id,
            &message.timestamp,
            &message.signature,
            &message.body,
        ])
        .output()
        .ok()?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if stderr.contains("No module named 'standardwebhooks'") {
        assert!(
            std::env::var_os("ATELIER_REQUIRE_STANDARD_WEBHOOKS").is_none(),
            "the Standard Webhooks reference library is required but not installed"
        );
        eprintln!("standardwebhooks (Python) not installed: reference check skipped");
        return None;
    }
    Some(String::from_utf8_lossy(&output.stdout).trim() == "verified")
}

const CREATE: &str = "mutation($i: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $i) { secret endpoint { id url events enabled } } }";
const ENDPOINTS: &str = "query($w: ID!) { workspace(id: $w) { webhookEndpoints { id enabled failureStreak deliveries { id messageId event attempts lastStatus lastError deliveredAt failedAt } } } }";
const COMMENT: &str = "mutation($i: AddCommentInput!) { addComment(input: $i) { id } }";

async fn deliveries(app: &TestApp, session: &Session, ws: &str) -> Value {
    app.gql_ok(Some(&session.access), ENDPOINTS, json!({ "w": ws }))
        .await["workspace"]["webhookEndpoints"][0]
        .clone()
}

async fn events_reach_a_receiver_once_signed_and_a_failing_one_is_disabled(backend: Backend) {
    let receiver = Receiver::start().await;
    let app = TestApp::spawn_with(backend, |config| {
        config.webhooks.allow_private_addresses = true;
        config.webhooks.disable_after_failures = 3;
    })
    .await;
    let owner = app.signed_in_user("hooks@example.com", "Hana Hooks").await;
    let ws = app.create_workspace(&owner, "Hook Co").await;
    let editor = add_member(&app, &owner, &ws, "hooks.ed@example.com", "EDITOR").await;

    // Only ADMINs register endpoints; bad input is refused and nothing is kept.
    let input = |url: &str, events: Value| json!({ "i": { "workspaceId": ws, "url": url, "events": events } });
    let all = json!([
        "DRAFT_CREATED",
        "DRAFT_STATUS_CHANGED",
        "COMMENT_ADDED",
        "DRAFT_PUBLISHED"
    ]);
    let refused = app
        .gql(
            Some(&editor.access),
            CREATE,
            input(&receiver.url, all.clone()),
        )
        .await;
    assert_eq!(
        error_code(&refused).as_deref(),
        Some("FORBIDDEN"),
        "{refused}"
    );
    for (url, events) in [
        ("ftp://example.com/hooks", all.clone()),
        ("not a url", all.clone()),
        (receiver.url.as_str(), json!([])),
    ] {
        let refused = app
            .gql(Some(&owner.access), CREATE, input(url, events))
            .await;
        assert_eq!(
            error_code(&refused).as_deref(),
            Some("BAD_USER_INPUT"),
            "{refused}"
        );
    }
    let anonymous = app
        .gql(None, CREATE, input(&receiver.url, all.clone()))
        .await;
    assert_eq!(error_code(&anonymous).as_deref(), Some("UNAUTHENTICATED"));

    let created = app
        .gql_ok(Some(&owner.access), CREATE, input(&receiver.url, all))
        .await;
    let secret = created["createWebhookEndpoint"]["secret"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(secret.starts_with("whsec_"));
    let listed = deliveries(&app, &owner, &ws).await;
    assert!(
        !listed.to_string().contains(&secret),
        "the secret is shown once only"
    );
    let editor_view = app
        .gql(Some(&editor.access), ENDPOINTS, json!({ "w": ws }))
        .await;
    assert_eq!(error_code(&editor_view).as_deref(), Some("FORBIDDEN"));

    // What the team does reaches the receiver, each event once, signed.
    let draft = app
        .gql_ok(
            Some(&editor.access),
            "mutation($i: CreateDraftInput!) { createDraft(input: $i) { id } }",
            json!({ "i": { "workspaceId": ws, "title": "Hooked" } }),
        )
        .await["createDraft"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.gql_ok(
        Some(&editor.access),
        COMMENT,
        json!({ "i": { "draftId": draft, "body": "Looks good" } }),
    )
    .await;
    app.gql_ok(
        Some(&editor.access),
        "mutation($id: ID!) { submitDraftForReview(id: $id) { id } }",
        json!({ "id": draft }),
    )
    .await;
    let created = receiver.wait_for("draft.created", 1).await;
    let commented = receiver.wait_for("comment.added", 1).await;
    let changed = receiver.wait_for("draft.status_changed", 1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got = receiver.all();
    assert_eq!(got.len(), 3, "each event once: {got:?}");
    for message in &got {
        assert!(message.id.starts_with("msg_"), "{message:?}");
        assert!(verifies(&secret, message), "signature: {message:?}");
        if let Some(verified) = reference_verifies(&secret, message) {
            assert!(verified, "the reference library rejects {message:?}");
        }
        assert!(!message.body.contains("whsec_") && !message.body.contains("token"));
        let age = chrono::Utc::now().timestamp() - message.timestamp.parse::<i64>().unwrap();
        assert!((0..60).contains(&age));
    }
    let body = |m: &Received| serde_json::from_str::<Value>(&m.body).unwrap();
    assert_eq!(body(&created[0])["data"]["draft_id"], draft);
    assert_eq!(body(&commented[0])["data"]["draft_id"], draft);
    assert_eq!(
        (
            body(&changed[0])["data"]["from"].as_str(),
            body(&changed[0])["data"]["to"].as_str()
        ),
        (Some("DRAFT"), Some("IN_REVIEW"))
    );
    // A tampered body does not verify.
    let mut forged = changed[0].clone();
    forged.body = forged.body.replace("IN_REVIEW", "APPROVED");
    assert!(!verifies(&secret, &forged));
    if let Some(verified) = reference_verifies(&secret, &forged) {
        assert!(!verified);
    }
    let listed = deliveries(&app, &owner, &ws).await;
    let rows = listed["deliveries"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    assert!(rows
        .iter()
        .all(|d| d["lastStatus"] == 204 && d["attempts"] == 1 && !d["deliveredAt"].is_null()));

    // The receiver starts failing: the next event is tried again with backoff, then
    // the endpoint is turned off after three failures in a row and the ADMINs told.
    receiver.status.store(500, Ordering::SeqCst);
    app.gql_ok(
        Some(&editor.access),
        COMMENT,
        json!({ "i": { "draftId": draft, "body": "Second thoughts" } }),
    )
    .await;
    let tries = receiver.wait_for("comment.added", 4).await;
    let failing: Vec<&Received> = tries.iter().skip(1).collect();
    assert!(
        failing.iter().all(|m| m.id == failing[0].id),
        "retries are the same message"
    );
    let mail = app
        .inbox
        .wait_for_subject("hooks@example.com", "was turned off")
        .await;
    assert!(mail.decoded().contains(&receiver.url), "{}", mail.decoded());
    let listed = deliveries(&app, &owner, &ws).await;
    assert_eq!(
        (
            listed["enabled"].as_bool(),
            listed["failureStreak"].as_i64()
        ),
        (Some(false), Some(3))
    );
    let failed = listed["deliveries"][0].clone();
    assert_eq!(
        (failed["attempts"].as_i64(), failed["lastStatus"].as_i64()),
        (Some(3), Some(500))
    );
    assert!(!failed["failedAt"].is_null(), "{failed}");
    // No more deliveries while it is off, and no fourth try.
    tokio::time::sleep(Duration::from_millis(800)).await;
    app.gql_ok(
        Some(&editor.access),
        COMMENT,
        json!({ "i": { "draftId": draft, "body": "Unheard" } }),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.of_type("comment.added").len(), 4);

    // Redelivery waits until the endpoint is on again; then the same message arrives.
    let redeliver = "mutation($d: ID!) { redeliverWebhook(deliveryId: $d) { id } }";
    let refused = app
        .gql(Some(&owner.access), redeliver, json!({ "d": failed["id"] }))
        .await;
    assert_eq!(
        error_code(&refused).as_deref(),
        Some("BAD_USER_INPUT"),
        "{refused}"
    );
    let stranger = app
        .signed_in_user("stranger@example.com", "Stan Stranger")
        .await;
    let hidden = app
        .gql(
            Some(&stranger.access),
            redeliver,
            json!({ "d": failed["id"] }),
        )
        .await;
    assert_eq!(
        error_code(&hidden).as_deref(),
        Some("NOT_FOUND"),
        "{hidden}"
    );
    receiver.status.store(200, Ordering::SeqCst);
    app.gql_ok(
        Some(&owner.access),
        "mutation($id: ID!) { enableWebhookEndpoint(id: $id) { enabled } }",
        json!({ "id": listed["id"] }),
    )
    .await;
    app.gql_ok(Some(&owner.access), redeliver, json!({ "d": failed["id"] }))
        .await;
    let again = receiver.wait_for("comment.added", 5).await;
    assert_eq!(again[4].id, failed["messageId"].as_str().unwrap());
    assert!(verifies(&secret, &again[4]));
    let listed = deliveries(&app, &owner, &ws).await;
    assert_eq!(
        (
            listed["enabled"].as_bool(),
            listed["failureStreak"].as_i64()
        ),
        (Some(true), Some(0))
    );

    // A month on, retention deletes the settled deliveries.
    use atelier::domain::entities::webhook_deliveries;
    use sea_orm::EntityTrait;
    webhook_deliveries::Entity::update_many()
        .col_expr(
            webhook_deliveries::Column::CreatedAt,
            sea_orm::sea_query::Expr::value(chrono::Utc::now() - chrono::Duration::days(31)),
        )
        .exec(&app.db)
        .await
        .unwrap();
    let purged = app.run_retention(chrono::Utc::now()).await;
    assert_eq!(purged.webhook_deliveries, 4);
    app.stop().await;
}
on_both_databases!(events_reach_a_receiver_once_signed_and_a_failing_one_is_disabled);

async fn private_addresses_are_refused_unless_allowed(backend: Backend) {
    let receiver = Receiver::start().await;
    let app = TestApp::spawn(backend).await;
    let owner = app.signed_in_user("ssrf@example.com", "Sid Ssrf").await;
    let ws = app.create_workspace(&owner, "Ssrf Co").await;
    let port = receiver
        .url
        .split(':')
        .nth(2)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_string();
    for url in [
        receiver.url.clone(),
        format!("http://localhost:{port}/hooks"),
        "http://169.254.169.254/latest/meta-data/".to_string(),
        "http://[::1]/hooks".to_string(),
        "http://10.0.0.7/hooks".to_string(),
    ] {
        let refused = app
            .gql(
                Some(&owner.access),
                CREATE,
                json!({ "i": { "workspaceId": ws, "url": url, "events": ["DRAFT_CREATED"] } }),
            )
            .await;
        assert_eq!(
            error_code(&refused).as_deref(),
            Some("BAD_USER_INPUT"),
            "{url}: {refused}"
        );
        assert!(refused.to_string().contains("private"), "{refused}");
    }
    let none = app
        .gql_ok(Some(&owner.access), ENDPOINTS, json!({ "w": ws }))
        .await;
    assert_eq!(none["workspace"]["webhookEndpoints"], json!([]));
    assert!(receiver.all().is_empty());
    app.stop().await;
}
on_both_databases!(private_addresses_are_refused_unless_allowed);

/// A webhook endpoint that accepts connections and never answers; counts them.
async fn silent_endpoint() -> (
    String,
    Arc<std::sync::atomic::AtomicUsize>,
    tokio::task::JoinHandle<()>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let open = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = open.clone();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            held.push(stream);
        }
    });
    (url, open, task)
}

/// Twenty deliveries to endpoints that never answer hold every worker of the delivery
/// lane — and a stranger's verification email is sent meanwhile, by the mail lane: it
/// waited behind none of them (all twenty are still undelivered when it arrives, and
/// the delivery lane has exactly its workers in hand).
async fn an_email_never_waits_behind_slow_webhook_deliveries(backend: Backend) {
    use atelier::domain::entities::jobs as job_rows;
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    let (url, open, _task) = silent_endpoint().await;
    let app = TestApp::spawn_with(backend, |config| {
        config.webhooks.allow_private_addresses = true;
        config.webhooks.timeout_secs = 600;
        config.jobs.delivery_workers = 4;
        config.webhooks.max_in_flight_per_workspace = 4;
        config.jobs.shutdown_grace_secs = 1;
    })
    .await;
    let owner = app.signed_in_user("lanes@example.com", "Lane Owner").await;
    let ws = app.create_workspace(&owner, "Lanes Co").await;
    for _ in 0..20 {
        app.gql_ok(
            Some(&owner.access),
            CREATE,
            json!({ "i": { "workspaceId": ws, "url": url, "events": ["DRAFT_CREATED"] } }),
        )
        .await;
    }
    app.gql_ok(
        Some(&owner.access),
        "mutation($i: CreateDraftInput!) { createDraft(input: $i) { id } }",
        json!({ "i": { "workspaceId": ws, "title": "Twenty deliveries" } }),
    )
    .await;
    eventually(
        60,
        "the delivery lane busy with four silent endpoints",
        || async {
            let n = open.load(Ordering::SeqCst);
            if n == 4 {
                Ok(())
            } else {
                Err(n.to_string())
            }
        },
    )
    .await;

    app.sign_up("stranger@example.com", "Stranger").await;
    let mail = app.inbox.wait_for("stranger@example.com", 1).await;
    assert!(mail.subject().contains("Confirm your email"));
    assert_eq!(
        open.load(Ordering::SeqCst),
        4,
        "no delivery finished, none more began"
    );
    let undelivered = job_rows::Entity::find()
        .filter(job_rows::Column::Kind.eq("deliver_webhook"))
        .filter(job_rows::Column::DoneAt.is_null())
        .count(&app.db)
        .await
        .unwrap();
    assert_eq!(undelivered, 20, "the email waited behind none of them");
    app.stop().await;
}
on_both_databases!(an_email_never_waits_behind_slow_webhook_deliveries);

/// One workspace's endpoints that never answer hold only its share of the delivery
/// lane: another workspace's event is delivered meanwhile.
async fn a_workspace_holds_only_its_share_of_the_delivery_lane(backend: Backend) {
    let (url, open, _task) = silent_endpoint().await;
    let receiver = Receiver::start().await;
    let app = TestApp::spawn_with(backend, |config| {
        config.webhooks.allow_private_addresses = true;
        config.webhooks.timeout_secs = 600;
        config.jobs.delivery_workers = 4;
        config.webhooks.max_in_flight_per_workspace = 2;
        config.jobs.shutdown_grace_secs = 1;
    })
    .await;
    let owner = app.signed_in_user("share@example.com", "Share Owner").await;
    let noisy = app.create_workspace(&owner, "Noisy Co").await;
    let quiet = app.create_workspace(&owner, "Quiet Co").await;
    for _ in 0..10 {
        app.gql_ok(
            Some(&owner.access),
            CREATE,
            json!({ "i": { "workspaceId": noisy, "url": url, "events": ["DRAFT_CREATED"] } }),
        )
        .await;
    }
    app.gql_ok(
        Some(&owner.access),
        CREATE,
        json!({ "i": { "workspaceId": quiet, "url": receiver.url, "events": ["DRAFT_CREATED"] } }),
    )
    .await;
    let draft = "mutation($i: CreateDraftInput!) { createDraft(input: $i) { id } }";
    app.gql_ok(
        Some(&owner.access),
        draft,
        json!({ "i": { "workspaceId": noisy, "title": "Ten silent" } }),
    )
    .await;
    eventually(60, "the noisy workspace's share in hand", || async {
        let n = open.load(Ordering::SeqCst);
        if n == 2 {
            Ok(())
        } else {
            Err(n.to_string())
        }
    })
    .await;
    app.gql_ok(
        Some(&owner.access),
        draft,
        json!({ "i": { "workspaceId": quiet, "title": "Heard" } }),
    )
    .await;
    receiver.wait_for("draft.created", 1).await;
    assert_eq!(
        open.load(Ordering::SeqCst),
        2,
        "the noisy workspace never took more than its share"
    );
    app.stop().await;
}
on_both_databases!(a_workspace_holds_only_its_share_of_the_delivery_lane);

/// An endpoint that answers, but slowly, has each slow delivery counted against it: it is
/// disabled after as many as a failing one would be, and its ADMINs are told.
async fn an_endpoint_that_answers_slowly_is_counted_against(backend: Backend) {
    let receiver = Receiver::start().await;
    receiver.delay_ms.store(2_500, Ordering::SeqCst);
    let app = TestApp::spawn_with(backend, |config| {
        config.webhooks.allow_private_addresses = true;
        config.webhooks.slow_after_secs = 1;
        config.webhooks.disable_after_failures = 2;
        // One at a time, so the third is due only after the second was counted.
        config.webhooks.max_in_flight_per_workspace = 1;
    })
    .await;
    let owner = app
        .signed_in_user("slow.hooks@example.com", "Slow Hooks")
        .await;
    let ws = app.create_workspace(&owner, "Slow Co").await;
    app.gql_ok(
        Some(&owner.access),
        CREATE,
        json!({ "i": { "workspaceId": ws, "url": receiver.url, "events": ["DRAFT_CREATED"] } }),
    )
    .await;
    let draft = "mutation($i: CreateDraftInput!) { createDraft(input: $i) { id } }";
    for title in ["First", "Second", "Third"] {
        app.gql_ok(
            Some(&owner.access),
            draft,
            json!({ "i": { "workspaceId": ws, "title": title } }),
        )
        .await;
    }
    app.inbox
        .wait_for_subject("slow.hooks@example.com", "was turned off")
        .await;
    let endpoint = deliveries(&app, &owner, &ws).await;
    assert_eq!(endpoint["enabled"], false, "{endpoint}");
    // Both slow deliveries were delivered (not retried), and say why they counted.
    assert_eq!(
        receiver.of_type("draft.created").len(),
        2,
        "the third was never sent"
    );
    let delivered: Vec<&Value> = endpoint["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["deliveredAt"].is_string())
        .collect();
    assert_eq!(delivered.len(), 2, "{endpoint}");
    for delivery in delivered {
        assert_eq!(delivery["attempts"], 1, "{delivery}");
        assert!(
            delivery["lastError"]
                .as_str()
                .unwrap_or_default()
                .contains("took"),
            "{delivery}"
        );
    }
    app.stop().await;
}
on_both_databases!(an_endpoint_that_answers_slowly_is_counted_against);
