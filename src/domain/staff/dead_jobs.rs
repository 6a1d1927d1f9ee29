//! Work that is failing or was given up: what staff see at `/staff/jobs` and on a
//! request's page, what they can do about it (retry, discard — both audited), and the
//! one email ADMIN staff get when a job dies. Nothing here opens a sealed payload: a job
//! is described by its kind and the ids its payload carries in clear.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionSession, TransactionTrait,
};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::crypto::vault::Vault;
use crate::domain::entities::{jobs as job_rows, privacy_requests, staff_users};
use crate::domain::ops::audit::{self, Actor, NewEvent};
use crate::domain::ops::jobs::{kind, Described, JobKind};
use crate::domain::ops::outbox::{self, Email, QueuedEmail};
use crate::domain::staff::accounts::{StaffIdentity, StaffRole};
use crate::domain::{now, RequestMeta};
use crate::error::{DomainError, DomainResult};

/// How many failing and dead jobs a page lists at most.
const LISTED: u64 = 200;

/// A job that failed at least once and is not done: still retrying, or dead.
#[derive(Clone, Debug)]
pub struct TroubledJob {
    pub id: Uuid,
    pub kind: String,
    /// What the job is for, in words, without anything sealed in its payload.
    pub purpose: String,
    pub attempts: i32,
    pub last_error: String,
    pub next_try_at: Option<DateTime<Utc>>,
    pub died_at: Option<DateTime<Utc>>,
    pub give_up_at: Option<DateTime<Utc>>,
}

impl TroubledJob {
    pub fn is_dead(&self) -> bool {
        self.died_at.is_some()
    }
}

/// The intent of a queued email (`invitation`, `job_died`…), read from its payload's
/// clear part; `None` for other jobs.
fn email_intent(job: &job_rows::Model) -> Option<String> {
    (job.kind == kind::SEND_EMAIL)
        .then(|| serde_json::from_str::<QueuedEmail>(&job.payload).ok())
        .flatten()
        .and_then(|q| q.intent)
}

/// Describes a job from the parts of its payload that are in clear, as its kind's
/// registration says.
async fn purpose(conn: &impl ConnectionTrait, job: &job_rows::Model) -> DomainResult<String> {
    let Some(registered) = JobKind::parse(&job.kind) else {
        return Ok(format!("a job of kind {}", job.kind));
    };
    let payload: Value = serde_json::from_str(&job.payload).unwrap_or(Value::Null);
    let id_of = |key: &str| payload.get(key).and_then(Value::as_str).map(str::to_string);
    Ok(match registered.registration().described {
        Described::Email => match email_intent(job) {
            Some(intent) => format!("an email ({})", intent.replace('_', " ")),
            None => "an email".to_string(),
        },
        Described::PrivacyRequest => {
            let reference = match id_of("request_id").and_then(|id| id.parse::<Uuid>().ok()) {
                Some(id) => privacy_requests::Entity::find_by_id(id)
                    .one(conn)
                    .await?
                    .map(|r| r.reference),
                None => None,
            };
            match reference {
                Some(reference) => format!("carrying out privacy request {reference}"),
                None => "carrying out a privacy request that no longer exists".to_string(),
            }
        }
        Described::WithId {
            words,
            key,
            missing,
        } => format!(
            "{words} {}",
            id_of(key).unwrap_or_else(|| missing.to_string())
        ),
        Described::Fixed(words) => words.to_string(),
    })
}

async fn describe(conn: &impl ConnectionTrait, job: job_rows::Model) -> DomainResult<TroubledJob> {
    Ok(TroubledJob {
        purpose: purpose(conn, &job).await?,
        id: job.id,
        attempts: job.attempts,
        last_error: job.last_error.clone().unwrap_or_default(),
        next_try_at: job.failed_at.is_none().then_some(job.run_at),
        died_at: job.failed_at,
        give_up_at: job.give_up_at,
        kind: job.kind,
    })
}

/// The dead jobs, then those still retrying after a failure, newest trouble first.
pub async fn list(conn: &impl ConnectionTrait) -> DomainResult<Vec<TroubledJob>> {
    let rows = job_rows::Entity::find()
        .filter(job_rows::Column::DoneAt.is_null())
        .filter(
            Condition::any()
                .add(job_rows::Column::FailedAt.is_not_null())
                .add(job_rows::Column::LastError.is_not_null()),
        )
        .order_by_desc(job_rows::Column::FailedAt)
        .order_by_desc(job_rows::Column::RunAt)
        .limit(LISTED)
        .all(conn)
        .await?;
    let mut listed = Vec::with_capacity(rows.len());
    for row in rows {
        listed.push(describe(conn, row).await?);
    }
    // Dead first (NULLs sort differently on the two databases).
    listed.sort_by_key(|j| !j.is_dead());
    Ok(listed)
}

/// The fulfilment job of a request while it is not done (failing, dead or waiting).
pub async fn fulfilment_of(
    conn: &impl ConnectionTrait,
    request_id: Uuid,
) -> DomainResult<Option<TroubledJob>> {
    // The payload names its request in clear: `{"request_id":"…","sealed_needles":…}`.
    let row = job_rows::Entity::find()
        .filter(job_rows::Column::Kind.eq(kind::FULFIL_PRIVACY_REQUEST))
        .filter(job_rows::Column::DoneAt.is_null())
        .filter(job_rows::Column::Payload.contains(format!("\"request_id\":\"{request_id}\"")))
        .order_by_desc(job_rows::Column::CreatedAt)
        .one(conn)
        .await?;
    match row {
        Some(row) => Ok(Some(describe(conn, row).await?)),
        None => Ok(None),
    }
}

async fn troubled(conn: &impl ConnectionTrait, id: Uuid) -> DomainResult<job_rows::Model> {
    job_rows::Entity::find_by_id(id)
        .filter(job_rows::Column::DoneAt.is_null())
        .one(conn)
        .await?
        .ok_or(DomainError::NotFound("job"))
}

/// Runs a failing or dead job again now, with a fresh retry horizon (COMPLIANCE and up).
pub async fn retry(
    conn: &(impl ConnectionTrait + TransactionTrait),
    identity: &StaffIdentity,
    id: Uuid,
    meta: &RequestMeta,
) -> DomainResult<()> {
    identity.require(StaffRole::Compliance)?;
    let txn = conn.begin().await?;
    let job = troubled(&txn, id).await?;
    let none = || Expr::value(Option::<DateTime<Utc>>::None);
    job_rows::Entity::update_many()
        .col_expr(job_rows::Column::FailedAt, none())
        .col_expr(job_rows::Column::GiveUpAt, none())
        .col_expr(job_rows::Column::RunAt, Expr::value(now()))
        // A count-limited kind gets its count back.
        .col_expr(job_rows::Column::Attempts, Expr::value(0))
        .filter(job_rows::Column::Id.eq(id))
        .exec(&txn)
        .await?;
    audit::record(
        &txn,
        NewEvent::new(identity.actor(), "job.retried")
            .target("job", id)
            .details(json!({ "kind": job.kind, "attempts": job.attempts, "was_dead": job.failed_at.is_some() })),
        meta,
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// Drops a dead job for good, with its sealed payload (COMPLIANCE and up). A job still
/// retrying cannot be discarded: it may be running.
pub async fn discard(
    conn: &(impl ConnectionTrait + TransactionTrait),
    identity: &StaffIdentity,
    id: Uuid,
    meta: &RequestMeta,
) -> DomainResult<()> {
    identity.require(StaffRole::Compliance)?;
    let txn = conn.begin().await?;
    let job = troubled(&txn, id).await?;
    if job.failed_at.is_none() {
        return Err(DomainError::conflict(
            "only a job that was given up can be discarded; this one is still being retried",
        ));
    }
    let described = purpose(&txn, &job).await?;
    job_rows::Entity::delete_by_id(id).exec(&txn).await?;
    audit::record(
        &txn,
        NewEvent::new(identity.actor(), "job.discarded")
            .target("job", id)
            .details(json!({ "kind": job.kind, "purpose": described, "attempts": job.attempts })),
        meta,
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// Tells every active ADMIN by email (once per death) that a job was given up, and
/// records it in the audit log. A dead alert about a dead job is not alerted about again:
/// the page lists it.
pub async fn report_death(
    conn: &(impl ConnectionTrait + TransactionTrait),
    vault: &Vault,
    job: &job_rows::Model,
) -> DomainResult<()> {
    let described = purpose(conn, job).await?;
    let txn = conn.begin().await?;
    let is_alert = email_intent(job).as_deref() == Some("job_died");
    if !is_alert {
        let admins = staff_users::Entity::find()
            .filter(staff_users::Column::Role.eq(StaffRole::Admin.as_str()))
            .filter(staff_users::Column::DisabledAt.is_null())
            .all(&txn)
            .await?;
        for admin in admins {
            outbox::enqueue(
                &txn,
                vault,
                &Email::JobDied {
                    to: admin.email,
                    name: admin.name,
                    kind: job.kind.clone(),
                    purpose: described.clone(),
                    attempts: job.attempts,
                },
            )
            .await?;
        }
    }
    audit::record(
        &txn,
        NewEvent::new(Actor::System, "job.died")
            .target("job", job.id)
            .details(json!({ "kind": job.kind, "purpose": described, "attempts": job.attempts })),
        &RequestMeta::default(),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}
