//! The staff side of a request: the queue against legal deadlines, and the decisions a
//! compliance officer takes. Every action is a timeline event and an audit event.

use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set, TransactionSession, TransactionTrait,
};
use serde_json::json;
use uuid::Uuid;

use super::clock::Jurisdiction;
use super::requests::{add_event, RequestKind, RequestStatus};
use crate::crypto::vault::Vault;
use crate::domain::entities::{
    privacy_execution_steps, privacy_request_events as events, privacy_requests as requests,
    staff_users, users,
};
use crate::domain::identity::accounts::EmailAddress;
use crate::domain::ops::audit::{self, NewEvent};
use crate::domain::ops::outbox::{self, recipient_hash, Email};
use crate::domain::staff::accounts::{StaffIdentity, StaffRole};
use crate::domain::{clean_text, now, RequestMeta};
use crate::error::{DomainError, DomainResult};

mod decisions;
pub use self::decisions::{approve, extend, lift_restriction, rectify, reject};

/// Statuses in which a request still needs work from us.
pub const OPEN: [RequestStatus; 4] = [
    RequestStatus::Verified,
    RequestStatus::InReview,
    RequestStatus::Approved,
    RequestStatus::InProgress,
];

fn open_statuses() -> Vec<&'static str> {
    OPEN.iter().map(|s| s.as_str()).collect()
}

/// The deadline in force: the extension when there is one.
pub fn effective_due(request: &requests::Model) -> DateTime<Utc> {
    request.extended_until.unwrap_or(request.due_at)
}

/// The dashboard's three numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counts {
    pub open: u64,
    pub due_within_7_days: u64,
    pub overdue: u64,
}

pub async fn counts(conn: &impl ConnectionTrait, at: DateTime<Utc>) -> DomainResult<Counts> {
    let open = || requests::Entity::find().filter(requests::Column::Status.is_in(open_statuses()));
    let due_before = |limit: DateTime<Utc>| {
        Condition::any()
            .add(
                Condition::all()
                    .add(requests::Column::ExtendedUntil.is_null())
                    .add(requests::Column::DueAt.lt(limit)),
            )
            .add(requests::Column::ExtendedUntil.lt(limit))
    };
    let overdue = open().filter(due_before(at)).count(conn).await?;
    let due_soon = open()
        .filter(due_before(at + Duration::days(7)))
        .count(conn)
        .await?
        - overdue;
    Ok(Counts {
        open: open().count(conn).await?,
        due_within_7_days: due_soon,
        overdue,
    })
}

/// What the queue is narrowed to.
#[derive(Clone, Debug, Default)]
pub struct QueueFilter {
    pub status: Option<RequestStatus>,
    pub kind: Option<RequestKind>,
    pub jurisdiction: Option<Jurisdiction>,
    pub assignee: Option<Uuid>,
    pub overdue_only: bool,
    /// A reference or an email address.
    pub search: Option<String>,
}

/// Requests sorted by the deadline in force, soonest first (at most 500).
pub async fn queue(
    conn: &impl ConnectionTrait,
    filter: &QueueFilter,
    at: DateTime<Utc>,
) -> DomainResult<Vec<requests::Model>> {
    let mut query = requests::Entity::find();
    query = match filter.status {
        Some(status) => query.filter(requests::Column::Status.eq(status.as_str())),
        None if filter.search.is_none() => {
            query.filter(requests::Column::Status.is_in(open_statuses()))
        }
        None => query,
    };
    if let Some(kind) = filter.kind {
        query = query.filter(requests::Column::Kind.eq(kind.as_str()));
    }
    if let Some(jurisdiction) = filter.jurisdiction {
        query = query.filter(requests::Column::Jurisdiction.eq(jurisdiction.as_str()));
    }
    if let Some(assignee) = filter.assignee {
        query = query.filter(requests::Column::AssignedStaffId.eq(assignee));
    }
    if let Some(search) = filter
        .search
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        query = match EmailAddress::parse(search) {
            Ok(email) => query
                .filter(requests::Column::RequesterEmailHash.eq(recipient_hash(email.as_str()))),
            Err(_) => query.filter(
                requests::Column::Reference.eq(super::requests::normalise_reference(search)),
            ),
        };
    }
    let mut rows = query
        .order_by_asc(requests::Column::DueAt)
        .limit(500)
        .all(conn)
        .await?;
    if filter.overdue_only {
        rows.retain(|r| effective_due(r) < at);
    }
    rows.sort_by_key(effective_due);
    Ok(rows)
}

/// Everything the request page shows.
pub struct StaffView {
    pub request: requests::Model,
    pub timeline: Vec<events::Model>,
    /// The sealed details of timeline events, opened for staff (by event id); an event
    /// whose person was erased since has "erased" here.
    pub revealed: std::collections::HashMap<Uuid, String>,
    pub linked_user: Option<users::Model>,
    pub assignee: Option<staff_users::Model>,
    pub steps: Vec<privacy_execution_steps::Model>,
    /// The fulfilment job while it is not done, when it has failed at least once.
    pub fulfilment: Option<crate::domain::staff::dead_jobs::TroubledJob>,
}

/// Opens a sealed timeline detail into words for staff.
fn describe_change(detail: &serde_json::Value) -> String {
    let text = |key: &str| detail[key].as_str().unwrap_or_default().to_string();
    let field = match text("field").as_str() {
        "display_name" => "name".to_string(),
        "email" => "email address".to_string(),
        other => other.to_string(),
    };
    format!("{field}: “{}” → “{}”", text("old"), text("new"))
}

/// Everything the staff page of a request shows, with sealed details opened.
pub async fn view(conn: &impl ConnectionTrait, vault: &Vault, id: Uuid) -> DomainResult<StaffView> {
    let request = requests::Entity::find_by_id(id)
        .one(conn)
        .await?
        .ok_or(DomainError::NotFound("request"))?;
    let timeline = events::Entity::find()
        .filter(events::Column::RequestId.eq(id))
        .order_by_asc(events::Column::Id)
        .all(conn)
        .await?;
    let linked_user = match request.user_id {
        Some(user_id) => users::Entity::find_by_id(user_id).one(conn).await?,
        None => None,
    };
    let assignee = match request.assigned_staff_id {
        Some(staff_id) => staff_users::Entity::find_by_id(staff_id).one(conn).await?,
        None => None,
    };
    let steps = privacy_execution_steps::Entity::find()
        .filter(privacy_execution_steps::Column::RequestId.eq(id))
        .order_by_asc(privacy_execution_steps::Column::Position)
        .all(conn)
        .await?;
    let mut revealed = std::collections::HashMap::new();
    for event in &timeline {
        let (Some(user_id), Some(sealed)) = (event.sealed_for, &event.sealed_detail) else {
            continue;
        };
        let shown =
            match crate::domain::privacy::person_keys::open(conn, vault, user_id, sealed).await? {
                Some(detail) => describe_change(&detail),
                None => "the values were erased with the person's data".to_string(),
            };
        revealed.insert(event.id, shown);
    }
    let fulfilment = crate::domain::staff::dead_jobs::fulfilment_of(conn, id)
        .await?
        .filter(|job| !job.last_error.is_empty() || job.is_dead());
    Ok(StaffView {
        request,
        timeline,
        revealed,
        linked_user,
        assignee,
        steps,
        fulfilment,
    })
}

/// Loads a request for a decision, locked, and checks its status allows it.
async fn load_for_action(
    conn: &impl ConnectionTrait,
    id: Uuid,
    allowed: &[RequestStatus],
    action: &str,
) -> DomainResult<(requests::Model, RequestStatus)> {
    let request = requests::Entity::find_by_id(id)
        .lock_exclusive()
        .one(conn)
        .await?
        .ok_or(DomainError::NotFound("request"))?;
    let status = RequestStatus::parse(&request.status)?;
    if !allowed.contains(&status) {
        return Err(DomainError::bad_input(format!(
            "cannot {action} a request that is {}",
            status.as_str()
        )));
    }
    Ok((request, status))
}

async fn staff_event(
    conn: &(impl ConnectionTrait + TransactionTrait),
    identity: &StaffIdentity,
    request_id: Uuid,
    action: &'static str,
    details: serde_json::Value,
    meta: &RequestMeta,
) -> DomainResult<()> {
    audit::record(
        conn,
        NewEvent::new(identity.actor(), action)
            .target("privacy_request", request_id)
            .details(details),
        meta,
    )
    .await?;
    Ok(())
}

/// Records how the requester's identity was checked; the request moves into review.
pub async fn verify_identity(
    conn: &(impl ConnectionTrait + TransactionTrait),
    identity: &StaffIdentity,
    id: Uuid,
    method: &str,
    meta: &RequestMeta,
) -> DomainResult<requests::Model> {
    identity.require(StaffRole::Compliance)?;
    let method = clean_text("verification method", method, 200)?;
    let txn = conn.begin().await?;
    let (request, status) = load_for_action(
        &txn,
        id,
        &[RequestStatus::Verified, RequestStatus::InReview],
        "verify the identity of",
    )
    .await?;
    let mut active: requests::ActiveModel = request.into();
    active.identity_verified_at = Set(Some(now()));
    active.identity_method = Set(Some(method.clone()));
    active.status = Set(RequestStatus::InReview.as_str().into());
    active.updated_at = Set(now());
    let updated = active.update(&txn).await?;
    add_event(
        &txn,
        id,
        "staff",
        "IDENTITY_VERIFIED",
        Some(status),
        Some(RequestStatus::InReview),
        "We confirmed your identity and are reviewing your request.",
    )
    .await?;
    staff_event(
        &txn,
        identity,
        id,
        "privacy.identity_verified",
        json!({ "method": method }),
        meta,
    )
    .await?;
    txn.commit().await?;
    Ok(updated)
}

/// Assigns the request to a staff member (or to nobody).
pub async fn assign(
    conn: &(impl ConnectionTrait + TransactionTrait),
    identity: &StaffIdentity,
    id: Uuid,
    assignee: Option<Uuid>,
    meta: &RequestMeta,
) -> DomainResult<requests::Model> {
    identity.require(StaffRole::Compliance)?;
    let txn = conn.begin().await?;
    if let Some(staff_id) = assignee {
        staff_users::Entity::find_by_id(staff_id)
            .one(&txn)
            .await?
            .filter(|s| s.disabled_at.is_none())
            .ok_or_else(|| DomainError::bad_input("choose an active staff member"))?;
    }
    let request = requests::Entity::find_by_id(id)
        .lock_exclusive()
        .one(&txn)
        .await?
        .ok_or(DomainError::NotFound("request"))?;
    let mut active: requests::ActiveModel = request.into();
    active.assigned_staff_id = Set(assignee);
    active.updated_at = Set(now());
    let updated = active.update(&txn).await?;
    internal_note(&txn, id, "Assignment changed.").await?;
    staff_event(
        &txn,
        identity,
        id,
        "privacy.request_assigned",
        json!({ "assignee": assignee }),
        meta,
    )
    .await?;
    txn.commit().await?;
    Ok(updated)
}

/// Emails each assignee (or, for unassigned requests, every COMPLIANCE and ADMIN staff
/// member) the open requests due within 3 days and those overdue. Returns emails queued.
pub async fn send_deadline_reminders(
    conn: &(impl ConnectionTrait + TransactionTrait),
    vault: &Vault,
    at: DateTime<Utc>,
) -> DomainResult<u64> {
    use std::collections::BTreeMap;

    let open = queue(conn, &QueueFilter::default(), at).await?;
    let staff = staff_users::Entity::find()
        .filter(staff_users::Column::DisabledAt.is_null())
        .all(conn)
        .await?;
    let deciders: Vec<&staff_users::Model> = staff
        .iter()
        .filter(|s| StaffRole::parse(&s.role).is_some_and(|r| r >= StaffRole::Compliance))
        .collect();
    // recipient id -> (due soon, overdue)
    let mut digest: BTreeMap<Uuid, (Vec<String>, Vec<String>)> = BTreeMap::new();
    for request in &open {
        let due = effective_due(request);
        if due > at + Duration::days(3) {
            continue;
        }
        let line = format!(
            "{} ({}, due {})",
            request.reference,
            request.kind,
            due.format("%-d %B %Y")
        );
        let recipients: Vec<Uuid> = match request
            .assigned_staff_id
            .filter(|id| staff.iter().any(|s| s.id == *id))
        {
            Some(assignee) => vec![assignee],
            None => deciders.iter().map(|s| s.id).collect(),
        };
        for recipient in recipients {
            let entry = digest.entry(recipient).or_default();
            if due < at {
                entry.1.push(line.clone());
            } else {
                entry.0.push(line.clone());
            }
        }
    }
    let txn = conn.begin().await?;
    let mut sent = 0;
    for (recipient, (due_soon, overdue)) in digest {
        let Some(member) = staff.iter().find(|s| s.id == recipient) else {
            continue;
        };
        outbox::enqueue(
            &txn,
            vault,
            &Email::DeadlineReminder {
                to: member.email.clone(),
                name: member.name.clone(),
                due_soon,
                overdue,
            },
        )
        .await?;
        sent += 1;
    }
    audit::record(
        &txn,
        NewEvent::new(
            crate::domain::ops::audit::Actor::System,
            "privacy.deadline_reminders_sent",
        )
        .details(json!({ "emails": sent })),
        &RequestMeta::default(),
    )
    .await?;
    txn.commit().await?;
    Ok(sent)
}

/// Adds an internal note (never shown to the requester). Any staff role.
pub async fn add_note(
    conn: &(impl ConnectionTrait + TransactionTrait),
    identity: &StaffIdentity,
    id: Uuid,
    note: &str,
    meta: &RequestMeta,
) -> DomainResult<()> {
    identity.require(StaffRole::Support)?;
    let note = clean_text("note", note, 5_000)?;
    let txn = conn.begin().await?;
    requests::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or(DomainError::NotFound("request"))?;
    internal_note(&txn, id, &format!("{}: {note}", identity.staff.name)).await?;
    staff_event(&txn, identity, id, "privacy.note_added", json!({}), meta).await?;
    txn.commit().await?;
    Ok(())
}

async fn internal_note(
    conn: &impl ConnectionTrait,
    request_id: Uuid,
    message: &str,
) -> DomainResult<()> {
    events::ActiveModel {
        id: Set(Uuid::now_v7()),
        request_id: Set(request_id),
        at: Set(now()),
        actor_kind: Set("staff".into()),
        kind: Set("NOTE".into()),
        from_status: Set(None),
        to_status: Set(None),
        message: Set(message.to_string()),
        public: Set(false),
        sealed_detail: Set(None),
        sealed_for: Set(None),
    }
    .insert(conn)
    .await?;
    Ok(())
}
