//! Data-subject requests: submitted by anyone (portal), by a signed-in user (app) or by
//! Meta's deletion callback; confirmed by an emailed single-use link; followed by status
//! links; cancelled while not yet in progress; expired when never confirmed. Every step
//! is an event on the request's timeline and an audit event. Nothing here tells the
//! requester whether their email address has an account.

use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
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

pub const CONFIRMATION_TTL_HOURS: i64 = 24;
pub const STATUS_LINK_TTL_HOURS: i64 = 24;
pub const UNVERIFIED_EXPIRY_DAYS: i64 = 7;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestKind {
    Access,
    Export,
    Rectify,
    Restrict,
    Object,
    Erase,
}

impl RequestKind {
    pub const ALL: [RequestKind; 6] = [
        Self::Access,
        Self::Export,
        Self::Rectify,
        Self::Restrict,
        Self::Object,
        Self::Erase,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Access => "ACCESS",
            Self::Export => "EXPORT",
            Self::Rectify => "RECTIFY",
            Self::Restrict => "RESTRICT",
            Self::Object => "OBJECT",
            Self::Erase => "ERASE",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == value)
    }

    /// What the person asked for, in words.
    pub fn label(self) -> &'static str {
        match self {
            Self::Access => "See the data we hold about me (access)",
            Self::Export => "Get a copy of my data to take elsewhere (export)",
            Self::Rectify => "Correct data about me (rectification)",
            Self::Restrict => "Pause the use of my data (restriction)",
            Self::Object => "Object to a use of my data (objection)",
            Self::Erase => "Delete my data (erasure)",
        }
    }

    /// The kind as staff name it.
    pub fn noun(self) -> &'static str {
        match self {
            Self::Access => "Access",
            Self::Export => "Export",
            Self::Rectify => "Rectification",
            Self::Restrict => "Restriction",
            Self::Object => "Objection",
            Self::Erase => "Erasure",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestStatus {
    Unverified,
    Verified,
    InReview,
    Approved,
    InProgress,
    Completed,
    Rejected,
    Cancelled,
    Expired,
}

impl RequestStatus {
    pub const ALL: [RequestStatus; 9] = [
        Self::Unverified,
        Self::Verified,
        Self::InReview,
        Self::Approved,
        Self::InProgress,
        Self::Completed,
        Self::Rejected,
        Self::Cancelled,
        Self::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unverified => "UNVERIFIED",
            Self::Verified => "VERIFIED",
            Self::InReview => "IN_REVIEW",
            Self::Approved => "APPROVED",
            Self::InProgress => "IN_PROGRESS",
            Self::Completed => "COMPLETED",
            Self::Rejected => "REJECTED",
            Self::Cancelled => "CANCELLED",
            Self::Expired => "EXPIRED",
        }
    }

    pub fn parse(value: &str) -> DomainResult<Self> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == value)
            .ok_or_else(|| {
                DomainError::internal(anyhow::anyhow!("unknown request status {value:?}"))
            })
    }

    /// The status in plain language for the requester.
    pub fn label(self) -> &'static str {
        match self {
            Self::Unverified => "Waiting for you to confirm your email address",
            Self::Verified => "Confirmed, waiting for review",
            Self::InReview => "Being reviewed by our privacy team",
            Self::Approved => "Approved, about to be carried out",
            Self::InProgress => "Being carried out",
            Self::Completed => "Completed",
            Self::Rejected => "Refused",
            Self::Cancelled => "Cancelled",
            Self::Expired => "Expired (never confirmed)",
        }
    }

    /// The status in a few words for staff. VERIFIED is the requester confirming their
    /// email address, not the identity check staff record.
    pub fn short_label(self) -> &'static str {
        match self {
            Self::Unverified => "Awaiting email confirmation",
            Self::Verified => "Email confirmed",
            Self::InReview => "In review",
            Self::Approved => "Approved",
            Self::InProgress => "In progress",
            Self::Completed => "Completed",
            Self::Rejected => "Refused",
            Self::Cancelled => "Cancelled",
            Self::Expired => "Expired",
        }
    }

    /// The requester may still withdraw the request.
    pub fn can_cancel(self) -> bool {
        matches!(
            self,
            Self::Unverified | Self::Verified | Self::InReview | Self::Approved
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestSource {
    Portal,
    App,
    MetaCallback,
    Staff,
}

impl RequestSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Portal => "PORTAL",
            Self::App => "APP",
            Self::MetaCallback => "META_CALLBACK",
            Self::Staff => "STAFF",
        }
    }
}

/// What a person submits.
#[derive(Clone, Debug, Default)]
pub struct RequestForm {
    pub kind: String,
    pub email: String,
    pub workspace_name: String,
    pub channel_identifiers: String,
    pub details: String,
    /// A jurisdiction code, or empty to infer one.
    pub jurisdiction: String,
}

/// A form that failed validation: one message per field, for showing next to it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldErrors(pub Vec<(&'static str, String)>);

impl FieldErrors {
    pub fn get(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, m)| m.as_str())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A validated request, ready to record.
#[derive(Clone, Debug)]
pub struct ValidRequest {
    pub kind: RequestKind,
    /// None only for Meta callbacks, which carry no address.
    pub email: Option<EmailAddress>,
    pub workspace_name: Option<String>,
    pub channel_identifiers: Option<String>,
    pub details: Option<String>,
    pub jurisdiction: Jurisdiction,
}

fn optional_text(
    value: &str,
    max: usize,
    field: &'static str,
    errors: &mut FieldErrors,
) -> Option<String> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    if value.chars().count() > max {
        errors
            .0
            .push((field, format!("Please keep this under {max} characters.")));
        return None;
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
    {
        errors
            .0
            .push((field, "This contains characters we cannot accept.".into()));
        return None;
    }
    Some(value.to_string())
}

/// Checks a submitted form; `accept_language` lets an unchosen jurisdiction be inferred.
pub fn validate(
    form: &RequestForm,
    accept_language: Option<&str>,
) -> Result<ValidRequest, FieldErrors> {
    let mut errors = FieldErrors::default();
    let kind = RequestKind::parse(form.kind.trim());
    if kind.is_none() {
        errors
            .0
            .push(("kind", "Please choose what you would like us to do.".into()));
    }
    let email = EmailAddress::parse(&form.email).ok();
    if email.is_none() {
        errors.0.push((
            "email",
            "Please enter the email address of your account, like name@example.com.".into(),
        ));
    }
    let workspace_name = optional_text(&form.workspace_name, 200, "workspace_name", &mut errors);
    let channel_identifiers = optional_text(
        &form.channel_identifiers,
        1_000,
        "channel_identifiers",
        &mut errors,
    );
    let details = optional_text(&form.details, 5_000, "details", &mut errors);
    let jurisdiction = match form.jurisdiction.trim() {
        "" => Some(Jurisdiction::infer(accept_language)),
        code => {
            let parsed = Jurisdiction::parse(code);
            if parsed.is_none() {
                errors.0.push((
                    "jurisdiction",
                    "Please choose where you live from the list.".into(),
                ));
            }
            parsed
        }
    };
    match (kind, email, jurisdiction) {
        (Some(kind), Some(email), Some(jurisdiction)) if errors.is_empty() => Ok(ValidRequest {
            kind,
            email: Some(email),
            workspace_name,
            channel_identifiers,
            details,
            jurisdiction,
        }),
        _ => Err(errors),
    }
}

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

async fn public_view(conn: &impl ConnectionTrait, id: Uuid) -> DomainResult<PublicView> {
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

const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

fn random_code(len: usize) -> String {
    let mut bytes = vec![0u8; len];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes
        .iter()
        .map(|b| CROCKFORD[(b & 31) as usize] as char)
        .collect()
}

/// A public reference like `R-7K3MQ-9XD2A`: 50 random bits, easy to read aloud.
fn new_reference() -> String {
    let code = random_code(10);
    format!("R-{}-{}", &code[..5], &code[5..])
}

/// Accepts a reference typed with other case, spaces or look-alike letters.
pub fn normalise_reference(typed: &str) -> String {
    typed
        .trim()
        .to_ascii_uppercase()
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| match c {
            'O' => '0',
            'I' | 'L' => '1',
            other => other,
        })
        .collect()
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
