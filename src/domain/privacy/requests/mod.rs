//! Data-subject requests: submitted by anyone (portal), by a signed-in user (app) or by
//! Meta's deletion callback; confirmed by an emailed single-use link; followed by status
//! links; cancelled while not yet in progress; expired when never confirmed. Every step
//! is an event on the request's timeline and an audit event. Nothing here tells the
//! requester whether their email address has an account.

use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, TransactionSession, TransactionTrait,
};
use serde_json::json;
use uuid::Uuid;

use super::clock::{self, Jurisdiction};
use crate::crypto::vault::Vault;
use crate::domain::channels::integrations;
use crate::domain::entities::{
    privacy_request_events as events, privacy_requests as requests, users,
};
use crate::domain::identity::accounts::{self, EmailAddress};
use crate::domain::identity::tokens::{self, purpose};
use crate::domain::ops::audit::{self, Actor, NewEvent};
use crate::domain::ops::outbox::{self, recipient_hash, Email};
use crate::domain::platforms::Provider;
use crate::domain::{now, RequestMeta};
use crate::error::{DomainError, DomainResult};

mod kinds;
pub use self::kinds::{RequestKind, RequestSource, RequestStatus};

mod form;
pub use self::form::{validate, FieldErrors, RequestForm, ValidRequest};

mod status;
pub use self::status::{
    cancel, open_by_confirmation_code, open_status, send_status_link, PublicView,
};

mod reference;
pub use self::reference::normalise_reference;
use self::reference::{new_reference, random_code};

pub const CONFIRMATION_TTL_HOURS: i64 = 24;
pub const STATUS_LINK_TTL_HOURS: i64 = 24;
pub const UNVERIFIED_EXPIRY_DAYS: i64 = 7;

/// Records a request as UNVERIFIED and emails its confirmation link. The same work is
/// done whether or not the address has an account; a matching account is linked
/// internally and never shown to the requester.
pub async fn submit(
    conn: &(impl ConnectionTrait + TransactionTrait),
    vault: &Vault,
    request: ValidRequest,
    source: RequestSource,
    meta: &RequestMeta,
) -> DomainResult<requests::Model> {
    let email = request.email.clone().ok_or_else(|| {
        DomainError::bad_input("an email address is needed to confirm the request")
    })?;
    let txn = conn.begin().await?;
    let user = accounts::find_by_email(&txn, &email)
        .await?
        .filter(|u| accounts::UserStatus::parse(&u.status) != accounts::UserStatus::Erased);
    let created = insert_request(&txn, &request, source, user.as_ref().map(|u| u.id), None).await?;
    add_event(
        &txn,
        created.id,
        "requester",
        "SUBMITTED",
        None,
        Some(RequestStatus::Unverified),
        &format!("We received your request: {}.", request.kind.label()),
    )
    .await?;
    let token = tokens::issue(
        &txn,
        purpose::REQUEST_CONFIRMATION,
        created.id,
        Duration::hours(CONFIRMATION_TTL_HOURS),
    )
    .await?;
    outbox::enqueue(
        &txn,
        vault,
        &Email::RequestConfirmation {
            to: email.as_str().to_string(),
            reference: created.reference.clone(),
            kind: request.kind.label().to_string(),
            token,
        },
    )
    .await?;
    audit::record(
        &txn,
        NewEvent::new(
            user.map_or(Actor::Anonymous, |u| Actor::User(u.id)),
            "privacy.request_submitted",
        )
        .target("privacy_request", created.id)
        .details(json!({ "kind": request.kind.as_str(), "source": source.as_str(), "jurisdiction": request.jurisdiction.as_str() })),
        meta,
    )
    .await?;
    txn.commit().await?;
    Ok(created)
}

/// Confirms a request with the emailed link: VERIFIED, acknowledged by email with its
/// reference, what happens next and the deadline.
/// What an unused confirmation link would confirm (for its page), or BAD_INPUT when the
/// link is invalid, expired or already used. Consumes nothing.
pub async fn awaiting_confirmation(
    conn: &sea_orm::DatabaseConnection,
    token: &str,
) -> DomainResult<RequestKind> {
    let invalid = || DomainError::bad_input("this link is invalid or has expired");
    let row = tokens::find_valid(conn, purpose::REQUEST_CONFIRMATION, token).await?;
    let request = requests::Entity::find_by_id(row.subject_id)
        .one(conn)
        .await?
        .ok_or_else(invalid)?;
    if RequestStatus::parse(&request.status)? != RequestStatus::Unverified {
        return Err(invalid());
    }
    RequestKind::parse(&request.kind).ok_or_else(invalid)
}

pub async fn confirm(
    conn: &sea_orm::DatabaseConnection,
    vault: &Vault,
    token: &str,
    meta: &RequestMeta,
) -> DomainResult<requests::Model> {
    let row = tokens::find_valid(conn, purpose::REQUEST_CONFIRMATION, token).await?;
    let txn = conn.begin().await?;
    let request = requests::Entity::find_by_id(row.subject_id)
        .one(&txn)
        .await?
        .ok_or_else(|| DomainError::bad_input("this link is invalid or has expired"))?;
    if RequestStatus::parse(&request.status)? != RequestStatus::Unverified {
        return Err(DomainError::bad_input(
            "this link is invalid or has expired",
        ));
    }
    tokens::consume(&txn, row.id).await?;
    let updated = set_status(&txn, request, RequestStatus::Verified, |active| {
        active.verified_at = Set(Some(now()));
    })
    .await?;
    add_event(
        &txn,
        updated.id,
        "requester",
        "VERIFIED",
        Some(RequestStatus::Unverified),
        Some(RequestStatus::Verified),
        "You confirmed your email address. Our privacy team will review your request.",
    )
    .await?;
    send_acknowledgement(&txn, vault, &updated).await?;
    audit::record(
        &txn,
        NewEvent::new(Actor::Anonymous, "privacy.request_verified")
            .target("privacy_request", updated.id),
        meta,
    )
    .await?;
    txn.commit().await?;
    Ok(updated)
}

async fn send_acknowledgement(
    conn: &impl ConnectionTrait,
    vault: &Vault,
    request: &requests::Model,
) -> DomainResult<()> {
    let Some(to) = &request.requester_email else {
        return Ok(());
    };
    let jurisdiction = Jurisdiction::parse(&request.jurisdiction).unwrap_or(Jurisdiction::Other);
    outbox::enqueue(
        conn,
        vault,
        &Email::RequestAcknowledgement {
            to: to.clone(),
            reference: request.reference.clone(),
            kind: RequestKind::parse(&request.kind)
                .map_or("", |k| k.label())
                .to_string(),
            due_date: request.due_at.format("%-d %B %Y").to_string(),
            deadline: jurisdiction.deadline_in_words().to_string(),
        },
    )
    .await
}

/// Marks requests never confirmed within 7 days of receipt as EXPIRED; returns how many.
pub async fn expire_unverified(
    conn: &(impl ConnectionTrait + TransactionTrait),
    at: DateTime<Utc>,
) -> DomainResult<u64> {
    let cutoff = at - Duration::days(UNVERIFIED_EXPIRY_DAYS);
    let txn = conn.begin().await?;
    let stale: Vec<Uuid> = requests::Entity::find()
        .select_only()
        .column(requests::Column::Id)
        .filter(requests::Column::Status.eq(RequestStatus::Unverified.as_str()))
        .filter(requests::Column::ReceivedAt.lt(cutoff))
        .into_tuple()
        .all(&txn)
        .await?;
    if stale.is_empty() {
        return Ok(0);
    }
    requests::Entity::update_many()
        .col_expr(
            requests::Column::Status,
            Expr::value(RequestStatus::Expired.as_str()),
        )
        .col_expr(requests::Column::UpdatedAt, Expr::value(at))
        .filter(requests::Column::Id.is_in(stale.iter().copied()))
        .exec(&txn)
        .await?;
    for id in &stale {
        add_event(
            &txn,
            *id,
            "system",
            "EXPIRED",
            Some(RequestStatus::Unverified),
            Some(RequestStatus::Expired),
            "The email address was not confirmed within 7 days, so the request expired.",
        )
        .await?;
    }
    audit::record(
        &txn,
        NewEvent::new(Actor::System, "privacy.unverified_requests_expired")
            .details(json!({ "count": stale.len() })),
        &RequestMeta::default(),
    )
    .await?;
    txn.commit().await?;
    Ok(stale.len() as u64)
}

/// Creates a request for the signed-in user from the app (after the caller has
/// re-checked what needs re-checking); confirmed by the same emailed link.
pub async fn submit_for_user(
    conn: &(impl ConnectionTrait + TransactionTrait),
    vault: &Vault,
    user: &users::Model,
    kind: RequestKind,
    per_day: u64,
    meta: &RequestMeta,
) -> DomainResult<requests::Model> {
    // At most `per_day` new requests in the app within 24 hours (the portal's form has
    // its own limits by address and network).
    // One at a time per person: their row is locked while the request is checked and
    // written (SQLite's single writer serialises the same way).
    let txn = conn.begin().await?;
    users::Entity::find_by_id(user.id)
        .lock_exclusive()
        .one(&txn)
        .await?
        .ok_or(DomainError::NotFound("account"))?;
    // Asking again while a request of the kind is open answers with that request:
    // nothing new is written and no further email goes out.
    let open = requests::Entity::find()
        .filter(requests::Column::UserId.eq(user.id))
        .filter(requests::Column::Kind.eq(kind.as_str()))
        .filter(requests::Column::Status.is_in([
            RequestStatus::Unverified.as_str(),
            RequestStatus::Verified.as_str(),
            RequestStatus::InReview.as_str(),
            RequestStatus::Approved.as_str(),
            RequestStatus::InProgress.as_str(),
        ]))
        .order_by_desc(requests::Column::Id)
        .one(&txn)
        .await?;
    if let Some(open) = open {
        txn.commit().await?;
        return Ok(open);
    }
    use sea_orm::PaginatorTrait;
    let day_ago = now() - Duration::hours(24);
    let recent = requests::Entity::find()
        .filter(requests::Column::UserId.eq(user.id))
        .filter(requests::Column::Source.eq(RequestSource::App.as_str()))
        .filter(requests::Column::ReceivedAt.gt(day_ago))
        .count(&txn)
        .await?;
    if recent >= per_day {
        return Err(DomainError::RateLimited {
            retry_after_secs: 3_600,
        });
    }
    let request = ValidRequest {
        kind,
        email: Some(EmailAddress::parse(&user.email)?),
        workspace_name: None,
        channel_identifiers: None,
        details: None,
        jurisdiction: Jurisdiction::infer(meta.accept_language.as_deref()),
    };
    let created = submit(&txn, vault, request, RequestSource::App, meta).await?;
    txn.commit().await?;
    Ok(created)
}

/// The signed-in user's own requests, newest first.
pub async fn list_for_user(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
) -> DomainResult<Vec<requests::Model>> {
    Ok(requests::Entity::find()
        .filter(requests::Column::UserId.eq(user_id))
        .order_by_desc(requests::Column::Id)
        .limit(200)
        .all(conn)
        .await?)
}

/// Records an erasure request from Meta's signed deletion callback for an app-scoped user
/// id. A redelivery for the same id while a request is open returns that request.
pub async fn submit_meta_deletion(
    conn: &(impl ConnectionTrait + TransactionTrait),
    external_user_id: &str,
    meta: &RequestMeta,
) -> DomainResult<requests::Model> {
    let txn = conn.begin().await?;
    let open = requests::Entity::find()
        .filter(requests::Column::ExternalAccountId.eq(external_user_id))
        .filter(requests::Column::Source.eq(RequestSource::MetaCallback.as_str()))
        .filter(requests::Column::Status.is_not_in([
            RequestStatus::Completed.as_str(),
            RequestStatus::Rejected.as_str(),
            RequestStatus::Cancelled.as_str(),
            RequestStatus::Expired.as_str(),
        ]))
        .one(&txn)
        .await?;
    if let Some(existing) = open {
        audit::record(
            &txn,
            NewEvent::new(Actor::Anonymous, "privacy.meta_deletion_redelivered")
                .target("privacy_request", existing.id),
            meta,
        )
        .await?;
        txn.commit().await?;
        return Ok(existing);
    }
    let request = ValidRequest {
        kind: RequestKind::Erase,
        // Meta callbacks carry no email address; the request is matched to connected
        // channels by the app-scoped id.
        email: None,
        workspace_name: None,
        channel_identifiers: Some(format!("Meta app-scoped user id {external_user_id}")),
        details: None,
        jurisdiction: Jurisdiction::Gdpr,
    };
    // The person is known to us through the channels they connected under that id
    // (linked, never revealed to the caller).
    let connected =
        integrations::find_by_platform_user(&txn, &Provider::META, external_user_id).await?;
    let user_id = connected.iter().find_map(|i| i.connected_by);
    let code = random_code(12);
    let created = insert_request(
        &txn,
        &request,
        RequestSource::MetaCallback,
        user_id,
        Some((external_user_id, &code)),
    )
    .await?;
    add_event(
        &txn,
        created.id,
        "platform",
        "SUBMITTED",
        None,
        Some(RequestStatus::Verified),
        "Meta told us you asked for the data of your Facebook or Instagram connection to be deleted.",
    )
    .await?;
    audit::record(
        &txn,
        NewEvent::new(Actor::Anonymous, "privacy.meta_deletion_requested")
            .target("privacy_request", created.id),
        meta,
    )
    .await?;
    txn.commit().await?;
    Ok(created)
}

async fn insert_request(
    conn: &impl ConnectionTrait,
    request: &ValidRequest,
    source: RequestSource,
    user_id: Option<Uuid>,
    meta_callback: Option<(&str, &str)>,
) -> DomainResult<requests::Model> {
    let at = now();
    let email = request.email.as_ref().map(|e| e.as_str().to_string());
    let email_hash = email.as_deref().map(recipient_hash);
    let (status, verified_at, external, code) = match meta_callback {
        Some((external, code)) => (
            RequestStatus::Verified,
            Some(at),
            Some(external.to_string()),
            Some(code.to_string()),
        ),
        None => (RequestStatus::Unverified, None, None, None),
    };
    Ok(requests::ActiveModel {
        id: Set(Uuid::now_v7()),
        reference: Set(new_reference()),
        kind: Set(request.kind.as_str().to_string()),
        requester_email: Set(email),
        requester_email_hash: Set(email_hash),
        user_id: Set(user_id),
        workspace_name: Set(request.workspace_name.clone()),
        channel_identifiers: Set(request.channel_identifiers.clone()),
        details: Set(request.details.clone()),
        source: Set(source.as_str().to_string()),
        jurisdiction: Set(request.jurisdiction.as_str().to_string()),
        status: Set(status.as_str().to_string()),
        received_at: Set(at),
        verified_at: Set(verified_at),
        due_at: Set(clock::due_at(at, request.jurisdiction)),
        extended_until: Set(None),
        extension_reason: Set(None),
        assigned_staff_id: Set(None),
        decision: Set(None),
        decision_reason: Set(None),
        completed_at: Set(None),
        external_account_id: Set(external),
        confirmation_code: Set(code),
        updated_at: Set(at),
        identity_verified_at: Set(None),
        identity_method: Set(None),
    }
    .insert(conn)
    .await?)
}

async fn set_status(
    conn: &impl ConnectionTrait,
    request: requests::Model,
    status: RequestStatus,
    also: impl FnOnce(&mut requests::ActiveModel),
) -> DomainResult<requests::Model> {
    let mut active: requests::ActiveModel = request.into();
    active.status = Set(status.as_str().to_string());
    active.updated_at = Set(now());
    also(&mut active);
    Ok(active.update(conn).await?)
}

/// Adds a public event to a request's timeline.
pub async fn add_event(
    conn: &impl ConnectionTrait,
    request_id: Uuid,
    actor_kind: &str,
    kind: &str,
    from: Option<RequestStatus>,
    to: Option<RequestStatus>,
    message: &str,
) -> DomainResult<()> {
    add_event_with_detail(conn, request_id, actor_kind, kind, from, to, message, None).await
}

/// A detail of a timeline event that names the person, sealed with their data key: staff
/// who open the request see it, the public timeline shows only the message, and erasure
/// (which destroys the key) leaves it unreadable.
pub struct SealedDetail {
    pub user_id: Uuid,
    pub sealed: String,
}

/// Like `add_event`, with a sealed detail beside the public message.
#[allow(clippy::too_many_arguments)]
pub async fn add_event_with_detail(
    conn: &impl ConnectionTrait,
    request_id: Uuid,
    actor_kind: &str,
    kind: &str,
    from: Option<RequestStatus>,
    to: Option<RequestStatus>,
    message: &str,
    detail: Option<SealedDetail>,
) -> DomainResult<()> {
    let (sealed_for, sealed_detail) = match detail {
        Some(d) => (Some(d.user_id), Some(d.sealed)),
        None => (None, None),
    };
    events::ActiveModel {
        id: Set(Uuid::now_v7()),
        request_id: Set(request_id),
        at: Set(now()),
        actor_kind: Set(actor_kind.to_string()),
        kind: Set(kind.to_string()),
        from_status: Set(from.map(|s| s.as_str().to_string())),
        to_status: Set(to.map(|s| s.as_str().to_string())),
        message: Set(message.to_string()),
        public: Set(true),
        sealed_detail: Set(sealed_detail),
        sealed_for: Set(sealed_for),
    }
    .insert(conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_readable_and_distinct() {
        let a = new_reference();
        let b = new_reference();
        assert_ne!(a, b);
        assert_eq!(a.len(), 13);
        assert!(a.starts_with("R-"));
        assert_eq!(normalise_reference(&a.to_lowercase()), a);
        assert_eq!(normalise_reference(" r-0oiL1-ABCDE "), "R-00111-ABCDE");
    }

    #[test]
    fn the_form_is_validated_field_by_field() -> crate::TestResult {
        let errors = validate(
            &RequestForm {
                kind: "SELL".into(),
                email: "nope".into(),
                jurisdiction: "MARS".into(),
                details: "x".repeat(5_001),
                ..RequestForm::default()
            },
            None,
        )
        .unwrap_err();
        for field in ["kind", "email", "jurisdiction", "details"] {
            assert!(errors.get(field).is_some(), "{field} should have a message");
        }
        let ok = validate(
            &RequestForm {
                kind: "ERASE".into(),
                email: " Me@Example.com ".into(),
                ..RequestForm::default()
            },
            Some("pt-BR"),
        )
        .map_err(|e| format!("{e:?}"))?;
        assert_eq!(ok.jurisdiction, Jurisdiction::Lgpd);
        assert_eq!(ok.email.ok_or("no email")?.as_str(), "me@example.com");
        Ok(())
    }

    #[test]
    fn only_requests_not_yet_in_progress_can_be_cancelled() {
        assert!(RequestStatus::Verified.can_cancel());
        assert!(RequestStatus::Approved.can_cancel());
        assert!(!RequestStatus::InProgress.can_cancel());
        assert!(!RequestStatus::Completed.can_cancel());
    }
}
