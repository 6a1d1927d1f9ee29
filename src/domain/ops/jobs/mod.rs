//! The durable job queue: rows in `jobs`, claimed one at a time with `FOR UPDATE SKIP
//! LOCKED` on PostgreSQL (any instance may run any job) and by the single writer on
//! SQLite, each under its own lease that the runner renews while the job runs, retried
//! with exponential backoff up to `max_attempts` or the kind's horizon.

use chrono::Duration;
use sea_orm::sea_query::{Expr, LockBehavior, LockType};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, TransactionSession, TransactionTrait,
};
use serde::Serialize;
use uuid::Uuid;

use crate::domain::entities::jobs;
use crate::domain::now;
use crate::error::DomainResult;

mod kinds;

pub use kinds::{
    kind, Described, Horizon, JobKind, Lane, Registration, PUBLISH_MAX_ATTEMPTS, UNLIMITED_ATTEMPTS,
};

/// When failed jobs are tried again and when they are given up.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    /// The first retry delay; each further failure doubles it, up to `cap`.
    pub base: Duration,
    pub cap: Duration,
    /// How long emails keep being retried after their first failure.
    pub mail: Duration,
    /// How long a privacy request's fulfilment keeps being retried.
    pub fulfilment: Duration,
    /// Every other kind.
    pub other: Duration,
}

impl RetryPolicy {
    /// How long after its first failure a job of `kind` is given up.
    pub fn horizon(&self, kind: &str) -> Duration {
        JobKind::parse(kind).map_or(self.other, |kind| kind.horizon(self))
    }

    /// The delay before the next try after `attempts` failed ones.
    pub fn backoff(&self, attempts: i32) -> Duration {
        let exponent = attempts.clamp(1, 30) - 1;
        let delay = self
            .base
            .checked_mul(2i32.saturating_pow(exponent as u32))
            .unwrap_or(self.cap);
        delay.min(self.cap)
    }

    /// Whether a failure of this attempt gives the job up: its count is spent, or the
    /// next try would fall past its horizon.
    pub fn is_last_try(&self, job: &jobs::Model, at: chrono::DateTime<chrono::Utc>) -> bool {
        let give_up_at = job
            .give_up_at
            .unwrap_or_else(|| at + self.horizon(&job.kind));
        job.attempts >= job.max_attempts || at + self.backoff(job.attempts) > give_up_at
    }
}

/// Adds a job to run as soon as possible. Call it inside the transaction of the change the
/// job belongs to, so that it exists exactly when the change does.
pub async fn enqueue(
    conn: &impl ConnectionTrait,
    kind: &str,
    payload: &impl Serialize,
) -> DomainResult<Uuid> {
    let id = Uuid::now_v7();
    new_job(id, kind, payload, now())?.insert(conn).await?;
    Ok(id)
}

/// A queued job row: not tried yet, unlocked.
fn new_job(
    id: Uuid,
    kind: &str,
    payload: &impl Serialize,
    run_at: chrono::DateTime<chrono::Utc>,
) -> DomainResult<jobs::ActiveModel> {
    Ok(jobs::ActiveModel {
        id: Set(id),
        kind: Set(kind.to_string()),
        payload: Set(serde_json::to_string(payload).map_err(crate::error::DomainError::internal)?),
        run_at: Set(run_at),
        attempts: Set(0),
        max_attempts: Set(
            JobKind::parse(kind).map_or(UNLIMITED_ATTEMPTS, |kind| kind.registration().attempts)
        ),
        locked_until: Set(None),
        last_error: Set(None),
        done_at: Set(None),
        failed_at: Set(None),
        created_at: Set(now()),
        give_up_at: Set(None),
        lease_id: Set(None),
        workspace_id: Set(None),
    })
}

/// Queues a job that works for `workspace_id` (a webhook delivery): as `enqueue`, and the
/// workspace is kept with it so a lane can bound the workspace's share of its workers.
pub async fn enqueue_for_workspace(
    conn: &impl ConnectionTrait,
    kind: &str,
    payload: &impl Serialize,
    workspace_id: Uuid,
) -> DomainResult<Uuid> {
    let id = Uuid::now_v7();
    let mut job = new_job(id, kind, payload, now())?;
    job.workspace_id = Set(Some(workspace_id));
    job.insert(conn).await?;
    Ok(id)
}

/// Adds a job with a chosen id to run at `run_at`; a job with that id already queued
/// stays as it is (so a job derived from what it is for is queued once). Returns whether
/// it was added.
pub async fn enqueue_once(
    conn: &impl ConnectionTrait,
    id: Uuid,
    kind: &str,
    payload: &impl Serialize,
    run_at: chrono::DateTime<chrono::Utc>,
) -> DomainResult<bool> {
    use sea_orm::sea_query::OnConflict;
    let row = new_job(id, kind, payload, run_at)?;
    let added = jobs::Entity::insert(row)
        .on_conflict(OnConflict::column(jobs::Column::Id).do_nothing().to_owned())
        .exec_without_returning(conn)
        .await?;
    Ok(added == 1)
}

/// Schedules the run of a daily job for `day` at `run_at`. The job's id is derived from
/// its kind and day, so however many instances ask, one row exists per day.
pub async fn schedule_daily(
    conn: &impl ConnectionTrait,
    kind: &str,
    day: chrono::NaiveDate,
    run_at: chrono::DateTime<chrono::Utc>,
) -> DomainResult<()> {
    let id = Uuid::new_v5(
        &Uuid::NAMESPACE_OID,
        format!("atelier:{kind}:{day}").as_bytes(),
    );
    enqueue_once(conn, id, kind, &serde_json::json!({ "day": day }), run_at).await?;
    Ok(())
}

/// Makes sure today's run of every daily job exists (at start-up; each run schedules the
/// next day's at 03:00 UTC before it does its work, so a failing run never stops the
/// next one).
pub async fn ensure_daily_jobs(conn: &impl ConnectionTrait) -> DomainResult<()> {
    let today = now().date_naive();
    for kind in JobKind::ALL.into_iter().filter(|k| k.registration().daily) {
        schedule_daily(conn, kind.name(), today, now()).await?;
    }
    Ok(())
}

/// Schedules tomorrow's run of a daily job.
pub async fn schedule_next_day(conn: &impl ConnectionTrait, kind: &str) -> DomainResult<()> {
    let tomorrow = now().date_naive() + chrono::Days::new(1);
    let run_at = tomorrow
        .and_hms_opt(3, 0, 0)
        .map(|t| t.and_utc())
        .unwrap_or_else(|| now() + Duration::days(1));
    schedule_daily(conn, kind, tomorrow, run_at).await
}

/// A runner's hold on one claimed job: its lease id, renewed by heartbeats while the job
/// runs. Whoever holds the lease alone may renew it and record the job's outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lease {
    pub job_id: Uuid,
    pub id: Uuid,
}

/// Claims the next due job for `lease`, counting the attempt. A claimed job is invisible
/// to other claimers while its lease runs; the runner renews it with `heartbeat` while it
/// works, so only a runner that stopped (crashed, killed, cut off from the database)
/// loses its jobs, and they come back when the lease runs out.
///
/// With a `lane`, only that lane's kinds are claimed; without, any due job. Jobs of the
/// workspaces in `full` (which hold their share of the lane's workers) are passed over.
pub async fn claim_next(
    conn: &(impl ConnectionTrait + TransactionTrait),
    lease: Duration,
    lane: Option<Lane>,
    full: &[Uuid],
) -> DomainResult<Option<(jobs::Model, Lease)>> {
    let txn = conn.begin().await?;
    let at = now();
    let mut not_full = Condition::all();
    if !full.is_empty() {
        not_full = not_full.add(
            Condition::any()
                .add(jobs::Column::WorkspaceId.is_null())
                .add(jobs::Column::WorkspaceId.is_not_in(full.iter().copied())),
        );
    }
    let due = jobs::Entity::find()
        .filter(lane.map_or_else(Condition::all, Lane::rows))
        .filter(not_full)
        .filter(jobs::Column::DoneAt.is_null())
        .filter(jobs::Column::FailedAt.is_null())
        .filter(jobs::Column::RunAt.lte(at))
        .filter(
            Condition::any()
                .add(jobs::Column::LockedUntil.is_null())
                .add(jobs::Column::LockedUntil.lt(at)),
        )
        .order_by_asc(jobs::Column::RunAt)
        .limit(1)
        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
        .one(&txn)
        .await?;
    let Some(job) = due else {
        txn.commit().await?;
        return Ok(None);
    };
    let held = Lease {
        job_id: job.id,
        id: Uuid::now_v7(),
    };
    let attempts = job.attempts + 1;
    let mut active: jobs::ActiveModel = job.into();
    active.attempts = Set(attempts);
    active.locked_until = Set(Some(at + lease));
    active.lease_id = Set(Some(held.id));
    let claimed = active.update(&txn).await?;
    txn.commit().await?;
    Ok(Some((claimed, held)))
}

/// The rows of `lease`'s job while the lease still holds it.
fn held(lease: &Lease) -> Condition {
    Condition::all()
        .add(jobs::Column::Id.eq(lease.job_id))
        .add(jobs::Column::LeaseId.eq(lease.id))
        .add(jobs::Column::DoneAt.is_null())
}

/// Renews a lease for another `lease` from now. Returns false when the lease is lost: it
/// ran out and another runner claimed the job, or the job was finished elsewhere.
pub async fn heartbeat(
    conn: &impl ConnectionTrait,
    lease: &Lease,
    length: Duration,
) -> DomainResult<bool> {
    let renewed = jobs::Entity::update_many()
        .col_expr(jobs::Column::LockedUntil, Expr::value(now() + length))
        .filter(held(lease))
        .exec(conn)
        .await?;
    Ok(renewed.rows_affected == 1)
}

/// Gives a claimed job back unfinished (its runner is shutting down): unlocked now, so
/// any runner takes it at once instead of after its lease. The attempt still counts: it
/// may have reached the outside world (an email taken, a post made) before it stopped.
pub async fn give_back(conn: &impl ConnectionTrait, lease: &Lease) -> DomainResult<bool> {
    let given = jobs::Entity::update_many()
        .col_expr(
            jobs::Column::LockedUntil,
            Expr::value(Option::<chrono::DateTime<chrono::Utc>>::None),
        )
        .col_expr(jobs::Column::LeaseId, Expr::value(Option::<Uuid>::None))
        .filter(held(lease))
        .exec(conn)
        .await?;
    Ok(given.rows_affected == 1)
}

/// Marks a job finished and drops its payload: a done job keeps no content (an email's
/// sealed text and address, a fulfilment's search terms) beyond its need. Returns false
/// when the lease was lost before (the job's new holder records its outcome).
pub async fn complete(conn: &impl ConnectionTrait, lease: &Lease) -> DomainResult<bool> {
    let done = jobs::Entity::update_many()
        .col_expr(jobs::Column::DoneAt, Expr::value(now()))
        .col_expr(jobs::Column::Payload, Expr::value("{}"))
        .col_expr(
            jobs::Column::LockedUntil,
            Expr::value(Option::<chrono::DateTime<chrono::Utc>>::None),
        )
        .col_expr(jobs::Column::LeaseId, Expr::value(Option::<Uuid>::None))
        .col_expr(jobs::Column::LastError, Expr::value(Option::<String>::None))
        .filter(held(lease))
        .exec(conn)
        .await?;
    Ok(done.rows_affected == 1)
}

/// What came of recording a failed attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// Tried again after the policy's backoff.
    Retrying,
    /// Given up: the next try would fall past its horizon or its count is spent.
    Dead,
    /// The lease was lost before: the job's new holder records its outcome.
    LeaseLost,
}

/// Records a failed attempt: retried after the policy's backoff, or given up (dead) once
/// the next try would fall past the job's horizon, counted from its first failure.
pub async fn fail(
    conn: &impl ConnectionTrait,
    job: &jobs::Model,
    lease: &Lease,
    error: &str,
    policy: &RetryPolicy,
) -> DomainResult<Failure> {
    let at = now();
    let error: String = error.chars().take(2_000).collect();
    let dead = policy.is_last_try(job, at);
    let give_up_at = job
        .give_up_at
        .unwrap_or_else(|| at + policy.horizon(&job.kind));
    let none = Option::<chrono::DateTime<chrono::Utc>>::None;
    let mut update = jobs::Entity::update_many()
        .col_expr(jobs::Column::LastError, Expr::value(error))
        .col_expr(jobs::Column::LockedUntil, Expr::value(none))
        .col_expr(jobs::Column::LeaseId, Expr::value(Option::<Uuid>::None))
        .col_expr(jobs::Column::GiveUpAt, Expr::value(give_up_at));
    update = if dead {
        update.col_expr(jobs::Column::FailedAt, Expr::value(at))
    } else {
        update.col_expr(
            jobs::Column::RunAt,
            Expr::value(at + policy.backoff(job.attempts)),
        )
    };
    let recorded = update.filter(held(lease)).exec(conn).await?;
    Ok(match (recorded.rows_affected, dead) {
        (0, _) => Failure::LeaseLost,
        (_, true) => Failure::Dead,
        (_, false) => Failure::Retrying,
    })
}

/// Jobs of a kind not yet done nor given up, for health views and tests.
pub async fn pending_count(conn: &impl ConnectionTrait, kind: &str) -> DomainResult<u64> {
    use sea_orm::PaginatorTrait;
    Ok(jobs::Entity::find()
        .filter(jobs::Column::Kind.eq(kind))
        .filter(jobs::Column::DoneAt.is_null())
        .filter(jobs::Column::FailedAt.is_null())
        .count(conn)
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_lane() {
        assert_eq!(Lane::of(kind::SEND_EMAIL), Lane::Mail);
        assert_eq!(Lane::of(kind::PASSWORD_RESET), Lane::Mail);
        assert_eq!(Lane::of(kind::DELIVER_WEBHOOK), Lane::Delivery);
        assert_eq!(Lane::of(kind::PUBLISH_DRAFT), Lane::Publishing);
        assert_eq!(Lane::of(kind::REVOKE_TOKENS), Lane::Publishing);
        assert_eq!(Lane::of(kind::SYNC_METRICS), Lane::Background);
        assert_eq!(Lane::of(kind::FULFIL_PRIVACY_REQUEST), Lane::Background);
        assert_eq!(Lane::of("a_kind_from_a_newer_build"), Lane::Background);
    }

    fn policy() -> RetryPolicy {
        RetryPolicy {
            base: Duration::seconds(5),
            cap: Duration::minutes(30),
            mail: Duration::hours(72),
            fulfilment: Duration::hours(24),
            other: Duration::hours(24),
        }
    }

    fn job(
        kind: &str,
        attempts: i32,
        give_up_at: Option<chrono::DateTime<chrono::Utc>>,
    ) -> jobs::Model {
        jobs::Model {
            id: Uuid::now_v7(),
            kind: kind.into(),
            payload: "{}".into(),
            run_at: now(),
            attempts,
            max_attempts: UNLIMITED_ATTEMPTS,
            locked_until: None,
            last_error: None,
            done_at: None,
            failed_at: None,
            created_at: now(),
            give_up_at,
            lease_id: None,
            workspace_id: None,
        }
    }

    #[test]
    fn backoff_doubles_and_is_capped_at_thirty_minutes() {
        let policy = policy();
        assert_eq!(policy.backoff(1), Duration::seconds(5));
        assert_eq!(policy.backoff(2), Duration::seconds(10));
        assert_eq!(policy.backoff(4), Duration::seconds(40));
        assert_eq!(policy.backoff(15), Duration::minutes(30));
        assert_eq!(policy.backoff(i32::MAX), Duration::minutes(30));
    }

    #[test]
    fn mail_is_retried_for_three_days_not_ten_tries() {
        let policy = policy();
        let at = now();
        // The eleventh failure of an email an hour into an outage is not its last.
        let email = job(kind::SEND_EMAIL, 11, Some(at + Duration::hours(71)));
        assert!(!policy.is_last_try(&email, at));
        // Past the horizon it is.
        let email = job(kind::SEND_EMAIL, 150, Some(at + Duration::minutes(10)));
        assert!(policy.is_last_try(&email, at));
        // A first failure sets the horizon from now.
        assert!(!policy.is_last_try(&job(kind::FULFIL_PRIVACY_REQUEST, 1, None), at));
        // A count still limits the kinds that have one.
        let mut publish = job(kind::PUBLISH_DRAFT, PUBLISH_MAX_ATTEMPTS, None);
        publish.max_attempts = PUBLISH_MAX_ATTEMPTS;
        assert!(policy.is_last_try(&publish, at));
    }
}
