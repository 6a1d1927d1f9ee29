//! What the requester sees without an account: the status link emailed on asking, the
//! status page it opens, and cancelling a request that is not yet under way.

use super::kinds::RequestStatus;
use super::{add_event, normalise_reference, set_status, STATUS_LINK_TTL_HOURS};
use crate::crypto::vault::Vault;
use crate::domain::entities::{privacy_request_events as events, privacy_requests as requests};
use crate::domain::identity::accounts::EmailAddress;
use crate::domain::identity::tokens::{self, purpose};
use crate::domain::ops::audit::{self, Actor, NewEvent};
use crate::domain::ops::outbox::{self, recipient_hash, Email};
use crate::domain::{now, RequestMeta};
use crate::error::{DomainError, DomainResult};
use chrono::Duration;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
    TransactionSession, TransactionTrait,
};
use serde_json::json;
use uuid::Uuid;

/// Emails a status link when `reference` and `email` belong to the same request. The
/// caller's answer is the same either way; the lookup is audited either way.
pub async fn send_status_link(
    conn: &(impl ConnectionTrait + TransactionTrait),
    vault: &Vault,
    reference: &str,
    email: &str,
    meta: &RequestMeta,
) -> DomainResult<()> {
    let reference = normalise_reference(reference);
    let email_hash = EmailAddress::parse(email)
        .ok()
        .map(|e| recipient_hash(e.as_str()));
    let txn = conn.begin().await?;
    let found = requests::Entity::find()
        .filter(requests::Column::Reference.eq(reference))
        .one(&txn)
        .await?
        .filter(|r| r.requester_email_hash.is_some() && r.requester_email_hash == email_hash);
    if let Some(request) = &found {
        // A completed erasure no longer holds the address; the one typed is the same
        // (its hash matched), so the link goes there, saying the request is closed.
        let (to, closed) = match &request.requester_email {
            Some(stored) => (stored.clone(), false),
            None => (email.trim().to_string(), true),
        };
        let token = tokens::issue(
            &txn,
            purpose::REQUEST_STATUS,
            request.id,
            Duration::hours(STATUS_LINK_TTL_HOURS),
        )
        .await?;
        outbox::enqueue(
            &txn,
            vault,
            &Email::RequestStatusLink {
                to,
                reference: request.reference.clone(),
                token,
                closed,
            },
        )
        .await?;
    }
    audit::record(
        &txn,
        NewEvent::new(Actor::Anonymous, "privacy.status_lookup")
            .details(json!({ "matched": found.is_some() }))
            .target(
                "privacy_request",
                found
                    .as_ref()
                    .map_or_else(|| "none".to_string(), |r| r.id.to_string()),
            ),
        meta,
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// A request and its public timeline, as the requester may see them.
pub struct PublicView {
    pub request: requests::Model,
    pub timeline: Vec<events::Model>,
}

/// Opens the request a status link points to (the link stays usable until it expires).
pub async fn open_status(
    conn: &sea_orm::DatabaseConnection,
    token: &str,
) -> DomainResult<PublicView> {
    let row = tokens::find_valid(conn, purpose::REQUEST_STATUS, token).await?;
    public_view(conn, row.subject_id).await
}

/// The public view of a request found by Meta's confirmation code.
pub async fn open_by_confirmation_code(
    conn: &impl ConnectionTrait,
    code: &str,
) -> DomainResult<PublicView> {
    let request = requests::Entity::find()
        .filter(requests::Column::ConfirmationCode.eq(code))
        .one(conn)
        .await?
        .ok_or(DomainError::NotFound("deletion request"))?;
    public_view(conn, request.id).await
}

pub(super) async fn public_view(conn: &impl ConnectionTrait, id: Uuid) -> DomainResult<PublicView> {
    let request = requests::Entity::find_by_id(id)
        .one(conn)
        .await?
        .ok_or(DomainError::NotFound("request"))?;
    let timeline = events::Entity::find()
        .filter(events::Column::RequestId.eq(id))
        .filter(events::Column::Public.eq(true))
        .order_by_asc(events::Column::Id)
        .all(conn)
        .await?;
    Ok(PublicView { request, timeline })
}

/// Withdraws a request through its status link, while it is not yet in progress.
pub async fn cancel(
    conn: &sea_orm::DatabaseConnection,
    token: &str,
    meta: &RequestMeta,
) -> DomainResult<requests::Model> {
    let row = tokens::find_valid(conn, purpose::REQUEST_STATUS, token).await?;
    let txn = conn.begin().await?;
    let request = requests::Entity::find_by_id(row.subject_id)
        .lock_exclusive()
        .one(&txn)
        .await?
        .ok_or(DomainError::NotFound("request"))?;
    let status = RequestStatus::parse(&request.status)?;
    if !status.can_cancel() {
        return Err(DomainError::bad_input(format!(
            "this request can no longer be cancelled: it is {}",
            status.label().to_lowercase()
        )));
    }
    let updated = set_status(&txn, request, RequestStatus::Cancelled, |active| {
        active.completed_at = Set(Some(now()));
    })
    .await?;
    add_event(
        &txn,
        updated.id,
        "requester",
        "CANCELLED",
        Some(status),
        Some(RequestStatus::Cancelled),
        "You cancelled this request. Nothing further will be done.",
    )
    .await?;
    audit::record(
        &txn,
        NewEvent::new(Actor::Anonymous, "privacy.request_cancelled")
            .target("privacy_request", updated.id),
        meta,
    )
    .await?;
    txn.commit().await?;
    Ok(updated)
}
