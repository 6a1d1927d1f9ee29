//! When a draft goes out: a time (in the workspace's zone) or the first free slot, checked
//! against the approval the workspace requires, and the job queued for it.
//! The job is content's hand-over to publishing: content queues it, the channels context
//! runs it (`channels::publishing::run`), so the two meet in the job queue and content
//! needs nothing of publishing.

use super::find_in_workspace;
use super::status::record_transition;
use super::status::DraftStatus;
use super::targets;
use crate::domain::entities::drafts;
use crate::domain::ops::audit::{self, Actor, NewEvent};
use crate::domain::ops::jobs;
use crate::domain::workspace::workspaces::{Role, WorkspaceAccess};
use crate::domain::{now, RequestMeta};
use crate::error::{DomainError, DomainResult};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, TransactionSession, TransactionTrait,
};
use serde_json::json;
use uuid::Uuid;

/// When to publish, as a client says it (the way calendar APIs take a `dateTime` with a
/// `timeZone`): an instant (the value had an offset, `Z` or `+02:00`), or a wall-clock
/// time to be read in the time zone (the value had none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PublishTime {
    Instant(chrono::DateTime<chrono::Utc>),
    WallClock(chrono::NaiveDateTime),
}

/// The instant a publishing time names in `time_zone` (an IANA zone, kept with the draft
/// for display either way). A wall-clock time that does not exist there (the clocks
/// skip it) is refused; one that happens twice (the clocks go back) needs its offset.
pub fn resolve_publish_time(
    when: PublishTime,
    time_zone: &str,
) -> DomainResult<chrono::DateTime<chrono::Utc>> {
    use chrono::{LocalResult, Offset, TimeZone};
    let tz: chrono_tz::Tz = time_zone.parse().map_err(|_| {
        DomainError::bad_input(format!(
            "{time_zone:?} is not an IANA time zone like Europe/Berlin"
        ))
    })?;
    let local = match when {
        PublishTime::Instant(at) => return Ok(at),
        PublishTime::WallClock(local) => local,
    };
    let shown = local.format("%Y-%m-%d %H:%M");
    match tz.from_local_datetime(&local) {
        LocalResult::Single(at) => Ok(at.with_timezone(&chrono::Utc)),
        LocalResult::Ambiguous(earlier, later) => Err(DomainError::bad_input(format!(
            "{shown} happens twice in {time_zone} (the clocks go back): send it with its offset, {}{} for the first or {}{} for the second",
            local.format("%Y-%m-%dT%H:%M:%S"),
            earlier.offset().fix(),
            local.format("%Y-%m-%dT%H:%M:%S"),
            later.offset().fix(),
        ))),
        LocalResult::None => Err(DomainError::bad_input(format!(
            "{shown} does not exist in {time_zone}: the clocks skip that hour for daylight saving time; choose another time"
        ))),
    }
}

/// Schedules an approved draft (or a draft, where the workspace does not require
/// approval) for `when`, kept with `time_zone`. A wall-clock time that does not exist
/// (a DST gap) or is ambiguous, and a time in the past, are refused.
pub async fn schedule(
    conn: &(impl ConnectionTrait + TransactionTrait),
    access: &WorkspaceAccess,
    draft_id: Uuid,
    when: PublishTime,
    time_zone: &str,
    meta: &RequestMeta,
) -> DomainResult<drafts::Model> {
    access.require(Role::Editor)?;
    let publish_at = resolve_publish_time(when, time_zone)?;
    if publish_at <= now() {
        return Err(DomainError::bad_input("the publishing time is in the past"));
    }
    let txn = conn.begin().await?;
    let draft = find_in_workspace(&txn, access, draft_id).await?;
    let from = DraftStatus::parse(&draft.status)?;
    let allowed = from == DraftStatus::Approved
        || (!access.workspace.approval_required && from == DraftStatus::Draft);
    if !allowed {
        return Err(DomainError::bad_input(format!(
            "a draft that is {} cannot be scheduled{}",
            from.as_str(),
            if access.workspace.approval_required {
                "; this workspace requires approval first"
            } else {
                ""
            }
        )));
    }
    if access.workspace.client_approval_required
        && !super::review_links::client_approved(&txn, &draft).await?
    {
        return Err(DomainError::bad_input(
            "this workspace requires a client's approval before scheduling: share the draft for review and wait until the client approves it",
        ));
    }
    targets::check_ready(&txn, draft_id).await?;
    let changed = drafts::Entity::update_many()
        .col_expr(
            drafts::Column::Status,
            Expr::value(DraftStatus::Scheduled.as_str()),
        )
        .col_expr(drafts::Column::ScheduledAt, Expr::value(publish_at))
        .col_expr(drafts::Column::TimeZone, Expr::value(time_zone))
        .col_expr(drafts::Column::UpdatedAt, Expr::value(now()))
        .filter(drafts::Column::Id.eq(draft_id))
        .filter(drafts::Column::Status.eq(from.as_str()))
        .exec(&txn)
        .await?;
    if changed.rows_affected != 1 {
        return Err(DomainError::conflict(
            "the draft changed meanwhile; reload it",
        ));
    }
    record_transition(
        &txn,
        access.workspace_id(),
        draft_id,
        access.user_id(),
        Some(from),
        DraftStatus::Scheduled,
        None,
    )
    .await?;
    enqueue_publishing(&txn, draft_id, publish_at).await?;
    audit::record(
        &txn,
        NewEvent::new(Actor::User(access.user_id()), "draft.scheduled")
            .target("draft", draft_id)
            .workspace(access.workspace_id())
            .details(json!({ "publish_at": publish_at, "time_zone": time_zone })),
        meta,
    )
    .await?;
    let updated = find_in_workspace(&txn, access, draft_id).await?;
    txn.commit().await?;
    Ok(updated)
}

/// The payload of a publishing job.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct PublishJob {
    pub draft_id: Uuid,
    pub publish_at: DateTime<Utc>,
}

/// The draft a publishing job's payload is for.
pub fn draft_of(payload: &str) -> Option<Uuid> {
    serde_json::from_str::<PublishJob>(payload)
        .ok()
        .map(|job| job.draft_id)
}

/// Queues the publishing of a draft at its time (inside the scheduling transaction). The
/// job's id derives from the draft and the time, so the same schedule is queued once; a
/// job whose draft was rescheduled or archived meanwhile does nothing.
pub async fn enqueue_publishing(
    conn: &impl ConnectionTrait,
    draft_id: Uuid,
    publish_at: DateTime<Utc>,
) -> DomainResult<()> {
    let id = Uuid::new_v5(
        &Uuid::NAMESPACE_OID,
        format!(
            "atelier:publish:{draft_id}:{}",
            publish_at.timestamp_micros()
        )
        .as_bytes(),
    );
    jobs::enqueue_once(
        conn,
        id,
        jobs::kind::PUBLISH_DRAFT,
        &PublishJob {
            draft_id,
            publish_at,
        },
        publish_at,
    )
    .await?;
    Ok(())
}
