//! The decisions an officer makes on a request, each audited and told to the requester:
//! approve (queuing fulfilment), reject with a reason, extend once, lift a restriction,
//! rectify.

use super::{load_for_action, staff_event, OPEN};
use crate::crypto::vault::Vault;
use crate::domain::entities::{privacy_requests as requests, users};
use crate::domain::ops::outbox::{self, Email};
use crate::domain::privacy::clock::{self, Jurisdiction};
use crate::domain::privacy::requests::{
    add_event, add_event_with_detail, RequestKind, RequestStatus, SealedDetail,
};
use crate::domain::staff::accounts::{StaffIdentity, StaffRole};
use crate::domain::{clean_text, now, RequestMeta};
use crate::error::{DomainError, DomainResult};
use chrono::Duration;
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, EntityTrait, Set, TransactionSession, TransactionTrait,
};
use serde_json::json;
use uuid::Uuid;

/// Approves the request for fulfilment; the identity must have been verified.
pub async fn approve(
    conn: &(impl ConnectionTrait + TransactionTrait),
    vault: &Vault,
    identity: &StaffIdentity,
    id: Uuid,
    meta: &RequestMeta,
) -> DomainResult<requests::Model> {
    identity.require(StaffRole::Compliance)?;
    let txn = conn.begin().await?;
    let (request, status) =
        load_for_action(&txn, id, &[RequestStatus::InReview], "approve").await?;
    if request.identity_verified_at.is_none() && request.source != "META_CALLBACK" {
        return Err(DomainError::bad_input(
            "verify the requester's identity before approving",
        ));
    }
    let mut active: requests::ActiveModel = request.into();
    active.status = Set(RequestStatus::Approved.as_str().into());
    active.decision = Set(Some("APPROVED".into()));
    active.updated_at = Set(now());
    let updated = active.update(&txn).await?;
    add_event(
        &txn,
        id,
        "staff",
        "APPROVED",
        Some(status),
        Some(RequestStatus::Approved),
        "We approved your request and will carry it out.",
    )
    .await?;
    if RequestKind::parse(&updated.kind).is_some_and(crate::domain::privacy::fulfil::is_automated) {
        crate::domain::privacy::fulfil::enqueue(&txn, vault, &updated).await?;
    }
    staff_event(
        &txn,
        identity,
        id,
        "privacy.request_approved",
        json!({}),
        meta,
    )
    .await?;
    txn.commit().await?;
    Ok(updated)
}

/// Refuses the request with a reason; the requester is told why and of their right to
/// complain to a supervisory authority.
pub async fn reject(
    conn: &(impl ConnectionTrait + TransactionTrait),
    vault: &Vault,
    identity: &StaffIdentity,
    id: Uuid,
    reason: &str,
    meta: &RequestMeta,
) -> DomainResult<requests::Model> {
    identity.require(StaffRole::Compliance)?;
    let reason = clean_text("reason", reason, 2_000)?;
    let txn = conn.begin().await?;
    let (request, status) = load_for_action(
        &txn,
        id,
        &[
            RequestStatus::Verified,
            RequestStatus::InReview,
            RequestStatus::Approved,
        ],
        "reject",
    )
    .await?;
    let mut active: requests::ActiveModel = request.into();
    active.status = Set(RequestStatus::Rejected.as_str().into());
    active.decision = Set(Some("REJECTED".into()));
    active.decision_reason = Set(Some(reason.clone()));
    active.completed_at = Set(Some(now()));
    active.updated_at = Set(now());
    let updated = active.update(&txn).await?;
    add_event(
        &txn,
        id,
        "staff",
        "REJECTED",
        Some(status),
        Some(RequestStatus::Rejected),
        &format!("We refused your request: {reason}"),
    )
    .await?;
    if let Some(to) = &updated.requester_email {
        outbox::enqueue(
            &txn,
            vault,
            &Email::RequestRejected {
                to: to.clone(),
                reference: updated.reference.clone(),
                reason: reason.clone(),
            },
        )
        .await?;
    }
    staff_event(
        &txn,
        identity,
        id,
        "privacy.request_rejected",
        json!({}),
        meta,
    )
    .await?;
    txn.commit().await?;
    Ok(updated)
}

/// Extends the deadline with a reason, once, before the original due date, where the law
/// allows it; the requester is told.
pub async fn extend(
    conn: &(impl ConnectionTrait + TransactionTrait),
    vault: &Vault,
    identity: &StaffIdentity,
    id: Uuid,
    reason: &str,
    meta: &RequestMeta,
) -> DomainResult<requests::Model> {
    identity.require(StaffRole::Compliance)?;
    let reason = clean_text("reason", reason, 2_000)?;
    let txn = conn.begin().await?;
    let (request, _) = load_for_action(&txn, id, &OPEN, "extend").await?;
    if request.extended_until.is_some() {
        return Err(DomainError::bad_input(
            "this request was already extended once",
        ));
    }
    if request.due_at <= now() {
        return Err(DomainError::bad_input(
            "the original due date has passed; it can no longer be extended",
        ));
    }
    let jurisdiction = Jurisdiction::parse(&request.jurisdiction).unwrap_or(Jurisdiction::Other);
    let until = clock::extended_due_at(request.due_at, jurisdiction).ok_or_else(|| {
        DomainError::bad_input(format!(
            "the {} deadline cannot be extended",
            jurisdiction.as_str()
        ))
    })?;
    let mut active: requests::ActiveModel = request.into();
    active.extended_until = Set(Some(until));
    active.extension_reason = Set(Some(reason.clone()));
    active.updated_at = Set(now());
    let updated = active.update(&txn).await?;
    let due_date = until.format("%-d %B %Y").to_string();
    add_event(
        &txn,
        id,
        "staff",
        "EXTENDED",
        None,
        None,
        &format!("We need more time and will complete your request by {due_date}: {reason}"),
    )
    .await?;
    if let Some(to) = &updated.requester_email {
        outbox::enqueue(
            &txn,
            vault,
            &Email::RequestExtended {
                to: to.clone(),
                reference: updated.reference.clone(),
                due_date,
                reason: reason.clone(),
            },
        )
        .await?;
    }
    staff_event(
        &txn,
        identity,
        id,
        "privacy.request_extended",
        json!({ "until": until }),
        meta,
    )
    .await?;
    txn.commit().await?;
    Ok(updated)
}

/// Lifts the restriction a completed RESTRICT or OBJECT request put on the account.
pub async fn lift_restriction(
    conn: &(impl ConnectionTrait + TransactionTrait),
    identity: &StaffIdentity,
    id: Uuid,
    meta: &RequestMeta,
) -> DomainResult<()> {
    identity.require(StaffRole::Compliance)?;
    let txn = conn.begin().await?;
    let request = requests::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or(DomainError::NotFound("request"))?;
    let restricting = matches!(
        RequestKind::parse(&request.kind),
        Some(RequestKind::Restrict | RequestKind::Object)
    );
    let (true, Some(user_id)) = (
        restricting && request.status == RequestStatus::Completed.as_str(),
        request.user_id,
    ) else {
        return Err(DomainError::bad_input(
            "only a completed restriction or objection on an account can be lifted",
        ));
    };
    let lifted = crate::domain::privacy::fulfil::set_user_status(
        &txn,
        user_id,
        crate::domain::identity::accounts::UserStatus::Active,
    )
    .await?;
    if lifted == 0 {
        return Err(DomainError::bad_input(
            "the account is no longer restricted",
        ));
    }
    add_event(
        &txn,
        id,
        "staff",
        "RESTRICTION_LIFTED",
        None,
        None,
        "We lifted the restriction: your data is processed normally again.",
    )
    .await?;
    staff_event(
        &txn,
        identity,
        id,
        "privacy.restriction_lifted",
        json!({}),
        meta,
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// Applies the correction a RECTIFY request asked for, through the account rules (a new
/// email address must be free and is confirmed again), records it on the timeline with
/// both values sealed with the person's data key, remembers the replaced value (sealed)
/// for a later erasure, and completes the request.
pub async fn rectify(
    conn: &(impl ConnectionTrait + TransactionTrait),
    vault: &Vault,
    identity: &StaffIdentity,
    id: Uuid,
    field: &str,
    new_value: &str,
    meta: &RequestMeta,
) -> DomainResult<requests::Model> {
    use crate::domain::identity::accounts::EmailAddress;
    identity.require(StaffRole::Compliance)?;
    let txn = conn.begin().await?;
    let (request, status) = load_for_action(
        &txn,
        id,
        &[RequestStatus::Approved],
        "record a correction on",
    )
    .await?;
    if request.kind != RequestKind::Rectify.as_str() {
        return Err(DomainError::bad_input(
            "only a rectification request records corrections",
        ));
    }
    let user = match request.user_id {
        Some(user_id) => users::Entity::find_by_id(user_id).one(&txn).await?,
        None => None,
    }
    .ok_or_else(|| DomainError::bad_input("this request is not linked to an account to correct"))?;
    let (label, old, new) = match field {
        "display_name" => (
            "name",
            user.display_name.clone(),
            clean_text("name", new_value, 100)?,
        ),
        "email" => {
            let email = EmailAddress::parse(new_value)?;
            if crate::domain::identity::accounts::find_by_email(&txn, &email)
                .await?
                .is_some()
            {
                return Err(DomainError::conflict(
                    "another account already uses this email address",
                ));
            }
            (
                "email address",
                user.email.clone(),
                email.as_str().to_string(),
            )
        }
        _ => {
            return Err(DomainError::bad_input(
                "choose the name or the email address to correct",
            ))
        }
    };
    let mut active: users::ActiveModel = user.clone().into();
    match field {
        "display_name" => active.display_name = Set(new.clone()),
        _ => {
            active.email = Set(new.clone());
            active.email_verified_at = Set(None);
        }
    }
    active.updated_at = Set(now());
    active.update(&txn).await?;
    if field == "email" {
        let token = crate::domain::identity::tokens::issue(
            &txn,
            crate::domain::identity::tokens::purpose::EMAIL_VERIFICATION,
            user.id,
            Duration::hours(crate::domain::identity::accounts::EMAIL_VERIFICATION_TTL_HOURS),
        )
        .await?;
        outbox::enqueue(
            &txn,
            vault,
            &Email::VerifyEmail {
                to: new.clone(),
                display_name: user.display_name.clone(),
                token,
            },
        )
        .await?;
    }
    let mut done: requests::ActiveModel = request.clone().into();
    done.status = Set(RequestStatus::Completed.as_str().into());
    done.completed_at = Set(Some(now()));
    done.updated_at = Set(now());
    let done = done.update(&txn).await?;
    // What changed names the person: the values are sealed with their own data key (the
    // timeline shows only which field changed), the replaced value is remembered sealed
    // so a later erasure looks for it too, and erasing them shreds all of it.
    let change = json!({ "field": field, "old": old, "new": new });
    let timeline_detail =
        crate::domain::privacy::person_keys::seal(&txn, vault, user.id, &change).await?;
    add_event_with_detail(
        &txn,
        id,
        "staff",
        "COMPLETED",
        Some(status),
        Some(RequestStatus::Completed),
        &format!("We corrected your {label}."),
        Some(SealedDetail {
            user_id: user.id,
            sealed: timeline_detail,
        }),
    )
    .await?;
    crate::domain::privacy::person_keys::remember_former_identifier(
        &txn,
        vault,
        user.id,
        match field {
            "email" => crate::domain::privacy::person_keys::IdentifierKind::Email,
            _ => crate::domain::privacy::person_keys::IdentifierKind::Name,
        },
        &old,
    )
    .await?;
    if let Some(to) = &done.requester_email {
        outbox::enqueue(
            &txn,
            vault,
            &Email::RequestCompleted {
                to: to.clone(),
                reference: done.reference.clone(),
                kind: RequestKind::Rectify.label().into(),
            },
        )
        .await?;
    }
    let change = crate::domain::privacy::person_keys::seal(&txn, vault, user.id, &change).await?;
    staff_event(
        &txn,
        identity,
        id,
        "privacy.rectified",
        json!({ "field": field, "user": user.id, "change_sealed": change }),
        meta,
    )
    .await?;
    txn.commit().await?;
    Ok(done)
}
