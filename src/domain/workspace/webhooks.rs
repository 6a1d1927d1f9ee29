//! Webhooks: a workspace's ADMINs register endpoints (a URL, the events it wants, a
//! signing secret shown once) and each event becomes one delivery per endpoint, a
//! durable job like an email, committed with the change it reports. Deliveries are
//! signed the Standard Webhooks way (`webhook-id`, `webhook-timestamp`,
//! `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`), retried with
//! the job queue's backoff, and an endpoint that keeps failing is disabled and its
//! workspace's ADMINs told. Payloads carry ids and the changed state, never tokens.
//! Sending (and its guard against server-side request forgery) is the job runner's:
//! this module decides what is sent and records what came of it.

use base64::Engine;
use chrono::Utc;
use hmac::{Hmac, Mac};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::Sha256;
use uuid::Uuid;

use crate::crypto::vault::Vault;
use crate::domain::entities::{webhook_deliveries as deliveries, webhook_endpoints as endpoints};
use crate::domain::ops::audit::{self, Actor, NewEvent};
use crate::domain::workspace::workspaces::{Role, WorkspaceAccess};
use crate::domain::{now, ops::jobs, RequestMeta};
use crate::error::{DomainError, DomainResult};

const SEAL_CONTEXT: &[u8] = b"atelier:webhook-secret:v1";

/// Every event an endpoint may ask for.
pub const EVENTS: [&str; 7] = [
    "draft.created",
    "draft.status_changed",
    "draft.published",
    "draft.failed",
    "comment.added",
    "integration.needs_reauth",
    "review.decided",
];

/// At most this many endpoints per workspace.
const MAX_ENDPOINTS: u64 = 20;

/// An endpoint just registered, with its secret (shown this once).
pub struct Registered {
    pub endpoint: endpoints::Model,
    pub secret: String,
}

/// The events an endpoint receives.
pub fn events_of(endpoint: &endpoints::Model) -> Vec<String> {
    serde_json::from_str(&endpoint.events).unwrap_or_default()
}

/// Registers an endpoint (ADMIN). The URL's form and address were checked by the caller
/// against the outbound policy; here its length and the events are.
pub async fn register(
    conn: &impl ConnectionTrait,
    vault: &Vault,
    access: &WorkspaceAccess,
    url: &str,
    events: &[String],
    meta: &RequestMeta,
) -> DomainResult<Registered> {
    access.require(Role::Admin)?;
    let url = url.trim();
    if url.is_empty() || url.len() > 2048 {
        return Err(DomainError::bad_input(
            "the URL must be between 1 and 2,048 characters",
        ));
    }
    let mut chosen: Vec<String> = Vec::new();
    for event in events {
        if !EVENTS.contains(&event.as_str()) {
            return Err(DomainError::bad_input(format!(
                "{:?} is not an event (choose from {})",
                event.chars().take(64).collect::<String>(),
                EVENTS.join(", ")
            )));
        }
        if !chosen.contains(event) {
            chosen.push(event.clone());
        }
    }
    if chosen.is_empty() {
        return Err(DomainError::bad_input("choose at least one event"));
    }
    use sea_orm::PaginatorTrait;
    let existing = endpoints::Entity::find()
        .filter(endpoints::Column::WorkspaceId.eq(access.workspace_id()))
        .count(conn)
        .await?;
    if existing >= MAX_ENDPOINTS {
        return Err(DomainError::bad_input(format!(
            "a workspace has at most {MAX_ENDPOINTS} webhook endpoints"
        )));
    }
    let mut key = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut key);
    let secret = format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(key)
    );
    let endpoint = endpoints::ActiveModel {
        id: Set(Uuid::now_v7()),
        workspace_id: Set(access.workspace_id()),
        url: Set(url.to_string()),
        events: Set(serde_json::to_string(&chosen).map_err(DomainError::internal)?),
        secret: Set(vault.seal(secret.as_bytes(), SEAL_CONTEXT)),
        enabled: Set(true),
        failure_streak: Set(0),
        disabled_at: Set(None),
        created_by: Set(Some(access.user_id())),
        created_at: Set(now()),
    }
    .insert(conn)
    .await?;
    audit::record(
        conn,
        NewEvent::new(Actor::User(access.user_id()), "webhook.endpoint_created")
            .workspace(access.workspace_id())
            .target("webhook_endpoint", endpoint.id)
            .details(json!({ "events": chosen })),
        meta,
    )
    .await?;
    Ok(Registered { endpoint, secret })
}

/// The workspace's endpoints (ADMIN), oldest first.
pub async fn list(
    conn: &impl ConnectionTrait,
    access: &WorkspaceAccess,
) -> DomainResult<Vec<endpoints::Model>> {
    access.require(Role::Admin)?;
    Ok(endpoints::Entity::find()
        .filter(endpoints::Column::WorkspaceId.eq(access.workspace_id()))
        .order_by_asc(endpoints::Column::CreatedAt)
        .all(conn)
        .await?)
}

/// One endpoint of the caller's workspace (ADMIN), or NOT_FOUND.
pub async fn find(
    conn: &impl ConnectionTrait,
    access: &WorkspaceAccess,
    id: Uuid,
) -> DomainResult<endpoints::Model> {
    access.require(Role::Admin)?;
    endpoints::Entity::find_by_id(id)
        .filter(endpoints::Column::WorkspaceId.eq(access.workspace_id()))
        .one(conn)
        .await?
        .ok_or(DomainError::NotFound("webhook endpoint"))
}

/// Deletes an endpoint and its deliveries (ADMIN).
pub async fn delete(
    conn: &impl ConnectionTrait,
    access: &WorkspaceAccess,
    id: Uuid,
    meta: &RequestMeta,
) -> DomainResult<()> {
    let endpoint = find(conn, access, id).await?;
    endpoints::Entity::delete_by_id(endpoint.id)
        .exec(conn)
        .await?;
    audited(
        conn,
        access,
        "webhook.endpoint_deleted",
        ("webhook_endpoint", endpoint.id),
        meta,
    )
    .await?;
    Ok(())
}

/// Turns a disabled endpoint back on, its failure streak forgotten (ADMIN).
pub async fn enable(
    conn: &impl ConnectionTrait,
    access: &WorkspaceAccess,
    id: Uuid,
    meta: &RequestMeta,
) -> DomainResult<endpoints::Model> {
    let endpoint = find(conn, access, id).await?;
    let mut active: endpoints::ActiveModel = endpoint.into();
    active.enabled = Set(true);
    active.failure_streak = Set(0);
    active.disabled_at = Set(None);
    let endpoint = active.update(conn).await?;
    audited(
        conn,
        access,
        "webhook.endpoint_enabled",
        ("webhook_endpoint", endpoint.id),
        meta,
    )
    .await?;
    Ok(endpoint)
}

/// An endpoint's latest deliveries, newest first (ADMIN).
pub async fn deliveries_of(
    conn: &impl ConnectionTrait,
    access: &WorkspaceAccess,
    endpoint_id: Uuid,
    limit: u64,
) -> DomainResult<Vec<deliveries::Model>> {
    let endpoint = find(conn, access, endpoint_id).await?;
    Ok(deliveries::Entity::find()
        .filter(deliveries::Column::EndpointId.eq(endpoint.id))
        .order_by_desc(deliveries::Column::CreatedAt)
        .order_by_desc(deliveries::Column::Id)
        .limit(limit.clamp(1, 100))
        .all(conn)
        .await?)
}

/// Records an ADMIN's action on an endpoint or delivery in the audit log.
async fn audited(
    conn: &impl ConnectionTrait,
    access: &WorkspaceAccess,
    action: &'static str,
    target: (&'static str, Uuid),
    meta: &RequestMeta,
) -> DomainResult<()> {
    audit::record(
        conn,
        NewEvent::new(Actor::User(access.user_id()), action)
            .workspace(access.workspace_id())
            .target(target.0, target.1),
        meta,
    )
    .await?;
    Ok(())
}

/// The job that delivers one message.
#[derive(Serialize, Deserialize)]
struct DeliveryJob {
    delivery_id: Uuid,
}

/// Sends a delivery again, as the same message (same `webhook-id`), now (ADMIN).
pub async fn redeliver(
    conn: &impl ConnectionTrait,
    access: &WorkspaceAccess,
    delivery_id: Uuid,
    meta: &RequestMeta,
) -> DomainResult<deliveries::Model> {
    let delivery = deliveries::Entity::find_by_id(delivery_id)
        .one(conn)
        .await?
        .ok_or(DomainError::NotFound("webhook delivery"))?;
    let endpoint = find(conn, access, delivery.endpoint_id)
        .await
        .map_err(|_| DomainError::NotFound("webhook delivery"))?;
    if !endpoint.enabled {
        return Err(DomainError::bad_input(
            "the endpoint is disabled: enable it first",
        ));
    }
    let mut active: deliveries::ActiveModel = delivery.into();
    active.failed_at = Set(None);
    let delivery = active.update(conn).await?;
    jobs::enqueue_for_workspace(
        conn,
        jobs::kind::DELIVER_WEBHOOK,
        &DeliveryJob {
            delivery_id: delivery.id,
        },
        endpoint.workspace_id,
    )
    .await?;
    audited(
        conn,
        access,
        "webhook.redelivered",
        ("webhook_delivery", delivery.id),
        meta,
    )
    .await?;
    Ok(delivery)
}

/// Queues `event` (one of `EVENTS`) with its `data` for every enabled endpoint of the
/// workspace that asked for it. Call it inside the transaction of the change, so that a
/// delivery exists exactly when the change does.
pub async fn emit(
    conn: &impl ConnectionTrait,
    workspace_id: Uuid,
    event: &'static str,
    data: Value,
) -> DomainResult<u64> {
    debug_assert!(EVENTS.contains(&event));
    let listening = endpoints::Entity::find()
        .filter(endpoints::Column::WorkspaceId.eq(workspace_id))
        .filter(endpoints::Column::Enabled.eq(true))
        .all(conn)
        .await?;
    let mut queued = 0;
    for endpoint in listening {
        if !events_of(&endpoint).iter().any(|e| e == event) {
            continue;
        }
        let delivery = deliveries::ActiveModel {
            id: Set(Uuid::now_v7()),
            endpoint_id: Set(endpoint.id),
            event_type: Set(event.to_string()),
            payload: Set(data.to_string()),
            attempts: Set(0),
            last_status: Set(None),
            last_error: Set(None),
            delivered_at: Set(None),
            failed_at: Set(None),
            created_at: Set(now()),
        }
        .insert(conn)
        .await?;
        jobs::enqueue_for_workspace(
            conn,
            jobs::kind::DELIVER_WEBHOOK,
            &DeliveryJob {
                delivery_id: delivery.id,
            },
            workspace_id,
        )
        .await?;
        queued += 1;
    }
    Ok(queued)
}

/// One message ready to send: where, the body and its Standard Webhooks headers.
pub struct Message {
    pub delivery: deliveries::Model,
    /// The workspace the endpoint belongs to (its share of the delivery lane is bounded).
    pub workspace_id: Uuid,
    pub url: String,
    pub body: String,
    pub headers: Vec<(&'static str, String)>,
}

/// The signature header value for a message: `v1,` and the base64 HMAC-SHA256 of
/// `id.timestamp.body` under the secret's key (the base64 after `whsec_`).
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &str) -> DomainResult<String> {
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.trim_start_matches("whsec_"))
        .map_err(DomainError::internal)?;
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).map_err(DomainError::internal)?;
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body.as_bytes());
    Ok(format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    ))
}

/// The message a delivery job is to send now, or None when there is nothing to send
/// (the delivery or its endpoint is gone, or the endpoint is disabled).
pub async fn prepare(
    conn: &impl ConnectionTrait,
    vault: &Vault,
    job_payload: &str,
) -> anyhow::Result<Option<Message>> {
    let job: DeliveryJob = serde_json::from_str(job_payload)?;
    let Some(delivery) = deliveries::Entity::find_by_id(job.delivery_id)
        .one(conn)
        .await?
    else {
        return Ok(None);
    };
    let Some(endpoint) = endpoints::Entity::find_by_id(delivery.endpoint_id)
        .one(conn)
        .await?
        .filter(|e| e.enabled)
    else {
        return Ok(None);
    };
    let secret = String::from_utf8(vault.open(&endpoint.secret, SEAL_CONTEXT)?)?;
    let data: Value = serde_json::from_str(&delivery.payload)?;
    let body = json!({
        "type": delivery.event_type,
        "timestamp": delivery.created_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "data": data,
    })
    .to_string();
    let id = format!("msg_{}", delivery.id.simple());
    let timestamp = Utc::now().timestamp();
    let signature = sign(&secret, &id, timestamp, &body)?;
    Ok(Some(Message {
        workspace_id: endpoint.workspace_id,
        url: endpoint.url.clone(),
        body,
        headers: vec![
            ("webhook-id", id),
            ("webhook-timestamp", timestamp.to_string()),
            ("webhook-signature", signature),
        ],
        delivery,
    }))
}

/// What came of one attempt, as the runner saw it.
pub enum Attempt {
    /// The endpoint answered 2xx.
    Delivered(u16),
    /// It answered 2xx, but slower than it should: delivered, and counted against the
    /// endpoint like a failure (an endpoint that holds a delivery worker for seconds
    /// each time is disabled as one that fails would be).
    Slow { status: u16, secs: u64 },
    /// It answered something else, or not at all (or the address was refused).
    Failed { status: Option<u16>, error: String },
}

/// Records an attempt. A success resets the endpoint's failure streak; a failure or a
/// slow answer adds to it, and once it reaches `disable_after` the endpoint is disabled and its
/// workspace's ADMINs and OWNERs emailed. Returns whether the job should be retried.
pub async fn record_attempt(
    conn: &(impl ConnectionTrait + sea_orm::TransactionTrait),
    vault: &Vault,
    delivery: &deliveries::Model,
    attempt: Attempt,
    disable_after: i32,
) -> DomainResult<bool> {
    use sea_orm::TransactionSession;
    let txn = conn.begin().await?;
    let mut active: deliveries::ActiveModel = delivery.clone().into();
    active.attempts = Set(delivery.attempts + 1);
    let strike = match attempt {
        Attempt::Delivered(status) => {
            active.last_status = Set(Some(i32::from(status)));
            active.last_error = Set(None);
            active.delivered_at = Set(Some(now()));
            endpoints::Entity::update_many()
                .col_expr(endpoints::Column::FailureStreak, Expr::value(0))
                .filter(endpoints::Column::Id.eq(delivery.endpoint_id))
                .exec(&txn)
                .await?;
            None
        }
        Attempt::Slow { status, secs } => {
            active.last_status = Set(Some(i32::from(status)));
            active.last_error = Set(Some(format!(
                "delivered, but the endpoint took {secs} s to answer"
            )));
            active.delivered_at = Set(Some(now()));
            Some(false)
        }
        Attempt::Failed { status, error } => {
            active.last_status = Set(status.map(i32::from));
            active.last_error = Set(Some(error.chars().take(500).collect()));
            Some(true)
        }
    };
    // A failure or a slow answer adds to the endpoint's streak; at `disable_after` it is
    // disabled. Only a failure is retried, while the endpoint stays enabled.
    let retry = match strike {
        None => false,
        Some(failed) => {
            use sea_orm::sea_query::ExprTrait;
            endpoints::Entity::update_many()
                .col_expr(
                    endpoints::Column::FailureStreak,
                    Expr::col(endpoints::Column::FailureStreak).add(1),
                )
                .filter(endpoints::Column::Id.eq(delivery.endpoint_id))
                .exec(&txn)
                .await?;
            let endpoint = endpoints::Entity::find_by_id(delivery.endpoint_id)
                .one(&txn)
                .await?;
            match endpoint {
                Some(endpoint) if endpoint.enabled && endpoint.failure_streak >= disable_after => {
                    if failed {
                        active.failed_at = Set(Some(now()));
                    }
                    disable(&txn, vault, endpoint).await?;
                    false
                }
                Some(endpoint) if endpoint.enabled => failed,
                _ => {
                    if failed {
                        active.failed_at = Set(Some(now()));
                    }
                    false
                }
            }
        }
    };
    active.update(&txn).await?;
    txn.commit().await?;
    Ok(retry)
}

/// Marks a delivery given up by the job queue (its retry horizon passed).
pub async fn give_up(conn: &impl ConnectionTrait, job_payload: &str) -> DomainResult<()> {
    let Ok(job) = serde_json::from_str::<DeliveryJob>(job_payload) else {
        return Ok(());
    };
    deliveries::Entity::update_many()
        .col_expr(deliveries::Column::FailedAt, Expr::value(now()))
        .filter(deliveries::Column::Id.eq(job.delivery_id))
        .filter(deliveries::Column::DeliveredAt.is_null())
        .exec(conn)
        .await?;
    Ok(())
}

async fn disable(
    conn: &impl ConnectionTrait,
    vault: &Vault,
    endpoint: endpoints::Model,
) -> DomainResult<()> {
    use crate::domain::entities::workspaces;
    let failures = endpoint.failure_streak;
    let workspace_id = endpoint.workspace_id;
    let url = endpoint.url.clone();
    let id = endpoint.id;
    let mut active: endpoints::ActiveModel = endpoint.into();
    active.enabled = Set(false);
    active.disabled_at = Set(Some(now()));
    active.update(conn).await?;
    audit::record(
        conn,
        NewEvent::new(Actor::System, "webhook.endpoint_disabled")
            .workspace(workspace_id)
            .target("webhook_endpoint", id)
            .details(json!({ "failures": failures })),
        &RequestMeta::default(),
    )
    .await?;
    let workspace_name = workspaces::Entity::find_by_id(workspace_id)
        .one(conn)
        .await?
        .map(|w| w.name)
        .unwrap_or_default();
    for user in crate::domain::workspace::workspaces::active_admins(conn, workspace_id).await? {
        crate::domain::ops::outbox::enqueue(
            conn,
            vault,
            &crate::domain::ops::outbox::Email::WebhookDisabled {
                to: user.email.clone(),
                name: user.display_name.clone(),
                workspace_name: workspace_name.clone(),
                url: url.clone(),
                failures,
            },
        )
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_follow_the_standard_webhooks_example() -> crate::TestResult {
        // The example of the Standard Webhooks specification and its reference
        // libraries: this secret, id, timestamp and body sign to this value.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = r#"{"test": 2432232314}"#;
        let signed = sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)?;
        assert_eq!(signed, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        Ok(())
    }
}
