//! Carrying out an approved request, step by step. Each step's changes and its DONE mark
//! commit in one transaction, so a crash in the middle resumes at the first unfinished
//! step and never runs a finished one twice.
//!
//! ERASE touches every system that holds the person: connected channels, sessions,
//! workspaces they alone are in (deleted) and shared ones (they leave; ownership passes
//! on), invitations, client reviews sent to them, one-time tokens, queued email, other
//! request records, and the account itself, which becomes an irreversible tombstone. A
//! final scan of every text column of every table fails the request loudly if the email,
//! name or a handle is left.
//! RESTRICT and OBJECT mark the account RESTRICTED until staff lift it.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, Statement, TransactionSession, TransactionTrait,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::requests::{add_event, RequestKind, RequestStatus};
use crate::crypto::vault::Vault;
use crate::domain::entities::{
    export_packages, integrations, privacy_execution_steps as steps, privacy_requests as requests,
    users,
};
use crate::domain::identity::accounts::UserStatus;
use crate::domain::ops::audit::{self, Actor, NewEvent};
use crate::domain::ops::outbox::{self, Email};
use crate::domain::privacy::person_keys::IdentifierKind;
use crate::domain::{now, ops::jobs, RequestMeta};
use crate::error::{DomainError, DomainResult};
use crate::storage::MediaStore;

mod erase;

mod scan;
pub use self::scan::{scan, Leftover, Needles};

mod plan;
use self::plan::{new_step, run_step, Step};
pub use self::plan::{step_label, step_status_label};

pub(crate) const SEAL_CONTEXT: &[u8] = b"atelier:fulfilment:v1";

#[derive(Serialize, Deserialize)]
struct JobPayload {
    request_id: Uuid,
    sealed_needles: String,
}

/// The app-scoped user id a Meta data-deletion callback named, for a request that came
/// from one.
fn meta_subject(request: &requests::Model) -> Option<&str> {
    (request.source == super::requests::RequestSource::MetaCallback.as_str())
        .then_some(request.external_account_id.as_deref())
        .flatten()
}

/// The kinds carried out automatically; the others are fulfilled by staff.
pub fn is_automated(kind: RequestKind) -> bool {
    kind != RequestKind::Rectify
}

/// Queues the fulfilment job of an approved request (inside the approval's transaction).
pub async fn enqueue(
    conn: &impl ConnectionTrait,
    vault: &Vault,
    request: &requests::Model,
) -> DomainResult<()> {
    let mut needles = Needles {
        email: request.requester_email.clone(),
        ..Needles::default()
    };
    if let Some(platform_user) = meta_subject(request) {
        // Meta's deletion covers what Meta gave us about that person, not their Atelier
        // account: the scan looks for the channels' names only.
        for channel in crate::domain::channels::integrations::find_by_platform_user(
            conn,
            &crate::domain::platforms::Provider::META,
            platform_user,
        )
        .await?
        {
            needles.handles.extend(channel.handle);
            needles.handles.extend(channel.display_name);
        }
    } else if let Some(user_id) = request.user_id {
        if let Some(user) = users::Entity::find_by_id(user_id).one(conn).await? {
            match &needles.email {
                None => needles.email = Some(user.email.clone()),
                Some(email) if !email.eq_ignore_ascii_case(&user.email) => {
                    needles.other_emails.push(user.email.clone())
                }
                Some(_) => {}
            }
            needles.names.push(user.display_name.clone());
        }
        for (kind, value) in
            crate::domain::privacy::person_keys::former_identifiers(conn, vault, user_id).await?
        {
            match kind {
                IdentifierKind::Email => needles.other_emails.push(value),
                IdentifierKind::Name => needles.names.push(value),
            }
        }
        let connected = integrations::Entity::find()
            .filter(integrations::Column::ConnectedBy.eq(user_id))
            .all(conn)
            .await?;
        needles
            .handles
            .extend(connected.into_iter().filter_map(|i| i.handle));
    }
    let sealed = vault.seal(
        &serde_json::to_vec(&needles).map_err(DomainError::internal)?,
        SEAL_CONTEXT,
    );
    jobs::enqueue(
        conn,
        jobs::kind::FULFIL_PRIVACY_REQUEST,
        &JobPayload {
            request_id: request.id,
            sealed_needles: sealed,
        },
    )
    .await?;
    Ok(())
}

pub async fn run_job(
    conn: &(impl ConnectionTrait + TransactionTrait),
    vault: &Vault,
    exports: &MediaStore,
    store: &MediaStore,
    payload: &str,
) -> anyhow::Result<()> {
    let payload: JobPayload = serde_json::from_str(payload)?;
    let needles: Needles =
        serde_json::from_slice(&vault.open(&payload.sealed_needles, SEAL_CONTEXT)?)?;
    run(conn, vault, exports, store, payload.request_id, &needles)
        .await
        .map_err(|e| anyhow::anyhow!("{e:?}"))
}

pub async fn run(
    conn: &(impl ConnectionTrait + TransactionTrait),
    vault: &Vault,
    exports: &MediaStore,
    store: &MediaStore,
    request_id: Uuid,
    needles: &Needles,
) -> DomainResult<()> {
    let Some(request) = requests::Entity::find_by_id(request_id).one(conn).await? else {
        return Ok(());
    };
    let status = RequestStatus::parse(&request.status)?;
    let kind = RequestKind::parse(&request.kind)
        .ok_or_else(|| DomainError::internal(anyhow::anyhow!("bad kind")))?;
    match status {
        RequestStatus::Approved => start(conn, &request, kind).await?,
        RequestStatus::InProgress => {}
        // Completed, but the WAL may still hold the erased pages if the checkpoint did
        // not get through last time: this retry is for it.
        RequestStatus::Completed if kind == RequestKind::Erase => {
            return checkpoint_wal(conn).await;
        }
        // Cancelled, refused or already done: nothing to carry out.
        _ => return Ok(()),
    }
    let plan = Step::plan_for(&request, kind);
    for (position, step) in plan.iter().enumerate() {
        let found = steps::Entity::find()
            .filter(steps::Column::RequestId.eq(request_id))
            .filter(steps::Column::Step.eq(step.name()))
            .one(conn)
            .await?;
        let row = match found {
            Some(row) => row,
            // A request started before this build added a step: plan it now.
            None => new_step(request_id, position, *step).insert(conn).await?,
        };
        if row.status == "DONE" {
            continue;
        }
        let txn = conn.begin().await?;
        // The step is claimed with its row lock: another runner that reached it (one that
        // took the job over while this one was cut off) waits here, then finds it DONE.
        // SQLite's single writer connection serialises the same way.
        let row = steps::Entity::find_by_id(row.id)
            .lock_exclusive()
            .one(&txn)
            .await?
            .ok_or(DomainError::NotFound("execution step"))?;
        if row.status == "DONE" {
            txn.commit().await?;
            continue;
        }
        match run_step(&txn, *step, &request, needles, exports, store, vault).await {
            Ok(rows) => {
                let attempts = row.attempts + 1;
                let mut done: steps::ActiveModel = row.into();
                done.status = Set("DONE".into());
                done.rows_affected = Set(rows as i64);
                done.error = Set(None);
                done.attempts = Set(attempts);
                done.finished_at = Set(Some(now()));
                done.update(&txn).await?;
                txn.commit().await?;
            }
            Err(e) => {
                txn.rollback().await?;
                let message = match &e {
                    DomainError::Internal(cause) => format!("{cause:#}"),
                    other => other.to_string(),
                };
                let attempts = row.attempts + 1;
                let mut failed: steps::ActiveModel = row.into();
                failed.status = Set("FAILED".into());
                failed.error = Set(Some(message.chars().take(2_000).collect()));
                failed.attempts = Set(attempts);
                failed.update(conn).await?;
                tracing::error!(request = %request_id, step = step.name(), error = %message, "privacy request step failed");
                audit::record(
                    conn,
                    NewEvent::new(Actor::System, "privacy.fulfilment_step_failed")
                        .target("privacy_request", request_id)
                        .details(json!({ "step": step.name() })),
                    &RequestMeta::default(),
                )
                .await?;
                return Err(e);
            }
        }
    }
    complete(conn, vault, request_id, kind).await?;
    if kind == RequestKind::Erase {
        checkpoint_wal(conn).await?;
    }
    Ok(())
}

/// SQLite keeps old page images in its write-ahead log until a checkpoint copies them
/// into the database file; `secure_delete` zeroes freed pages there, and a TRUNCATE
/// checkpoint empties the log. A reader still looking at an older snapshot makes the
/// checkpoint stop short (`busy`): it is tried again for a few seconds, then the job
/// fails and is retried, so erased bytes never stay in the log unnoticed.
async fn checkpoint_wal(conn: &impl ConnectionTrait) -> DomainResult<()> {
    if conn.get_database_backend() != DatabaseBackend::Sqlite {
        return Ok(());
    }
    for _ in 0..50 {
        let row = conn
            .query_one_raw(Statement::from_string(
                DatabaseBackend::Sqlite,
                "PRAGMA wal_checkpoint(TRUNCATE)",
            ))
            .await?;
        // One row: busy, pages in the log, pages checkpointed.
        let busy = row
            .map(|r| r.try_get_by_index::<i64>(0))
            .transpose()?
            .unwrap_or(0);
        if busy == 0 {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    Err(DomainError::internal(anyhow::anyhow!(
        "the write-ahead log could not be checkpointed after the erasure: a reader holds an old snapshot"
    )))
}

async fn start(
    conn: &(impl ConnectionTrait + TransactionTrait),
    request: &requests::Model,
    kind: RequestKind,
) -> DomainResult<()> {
    let txn = conn.begin().await?;
    // Two runners may both have read APPROVED: the row lock lets one start the request.
    let still_approved = requests::Entity::find_by_id(request.id)
        .lock_exclusive()
        .one(&txn)
        .await?
        .is_some_and(|r| r.status == RequestStatus::Approved.as_str());
    if !still_approved {
        return Ok(txn.commit().await?);
    }
    for (position, step) in Step::plan_for(request, kind).iter().enumerate() {
        new_step(request.id, position, *step).insert(&txn).await?;
    }
    requests::Entity::update_many()
        .col_expr(
            requests::Column::Status,
            Expr::value(RequestStatus::InProgress.as_str()),
        )
        .col_expr(requests::Column::UpdatedAt, Expr::value(now()))
        .filter(requests::Column::Id.eq(request.id))
        .exec(&txn)
        .await?;
    add_event(
        &txn,
        request.id,
        "system",
        "IN_PROGRESS",
        Some(RequestStatus::Approved),
        Some(RequestStatus::InProgress),
        "We are carrying out your request.",
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

pub(crate) async fn set_user_status(
    txn: &impl ConnectionTrait,
    user_id: Uuid,
    status: UserStatus,
) -> DomainResult<u64> {
    Ok(users::Entity::update_many()
        .col_expr(users::Column::Status, Expr::value(status.as_str()))
        .col_expr(users::Column::UpdatedAt, Expr::value(now()))
        .filter(users::Column::Id.eq(user_id))
        .filter(users::Column::Status.ne(UserStatus::Erased.as_str()))
        .exec(txn)
        .await?
        .rows_affected)
}

async fn complete(
    conn: &(impl ConnectionTrait + TransactionTrait),
    vault: &Vault,
    request_id: Uuid,
    kind: RequestKind,
) -> DomainResult<()> {
    let txn = conn.begin().await?;
    let request = requests::Entity::find_by_id(request_id)
        .lock_exclusive()
        .one(&txn)
        .await?
        .ok_or(DomainError::NotFound("request"))?;
    if request.status != RequestStatus::InProgress.as_str() {
        // Another runner completed it first (and sent its email).
        return Ok(txn.commit().await?);
    }
    let package = match kind {
        RequestKind::Access | RequestKind::Export => {
            export_packages::Entity::find()
                .filter(export_packages::Column::RequestId.eq(request_id))
                .order_by_desc(export_packages::Column::Id)
                .one(&txn)
                .await?
        }
        _ => None,
    };
    // A request that matched no account (and so no channel) and changed nothing held
    // nothing about the person: it says so, never "we erased your data".
    let held_nothing = request.user_id.is_none() && {
        let touched: Vec<i64> = steps::Entity::find()
            .select_only()
            .column(steps::Column::RowsAffected)
            .filter(steps::Column::RequestId.eq(request_id))
            .filter(steps::Column::Step.ne(Step::Verification.name()))
            .into_tuple()
            .all(&txn)
            .await?;
        touched.iter().all(|rows| *rows == 0)
    };
    if let (true, Some(to)) = (held_nothing, &request.requester_email) {
        outbox::enqueue(
            &txn,
            vault,
            &Email::NothingHeld {
                to: to.clone(),
                reference: request.reference.clone(),
                kind: kind.label().to_string(),
            },
        )
        .await?;
    } else if let (Some(to), Some(package)) = (&request.requester_email, &package) {
        let token = crate::domain::identity::tokens::issue(
            &txn,
            crate::domain::identity::tokens::purpose::EXPORT_DOWNLOAD,
            package.id,
            chrono::Duration::days(super::export::PACKAGE_TTL_DAYS),
        )
        .await?;
        outbox::enqueue(
            &txn,
            vault,
            &Email::ExportReady {
                to: to.clone(),
                reference: request.reference.clone(),
                token,
                expires: package.expires_at.format("%-d %B %Y").to_string(),
            },
        )
        .await?;
    } else if let Some(to) = &request.requester_email {
        outbox::enqueue(
            &txn,
            vault,
            &Email::RequestCompleted {
                to: to.clone(),
                reference: request.reference.clone(),
                kind: kind.label().to_string(),
            },
        )
        .await?;
    }
    let from_meta = meta_subject(&request).is_some();
    let mut active: requests::ActiveModel = request.into();
    active.status = Set(RequestStatus::Completed.as_str().into());
    active.completed_at = Set(Some(now()));
    active.updated_at = Set(now());
    if kind == RequestKind::Erase {
        // The compliance log keeps date, kind, channel and outcome; not the person.
        active.requester_email = Set(None);
        active.workspace_name = Set(None);
        active.channel_identifiers = Set(None);
        active.details = Set(None);
        active.user_id = Set(None);
        // Meta's id for the person goes too; the confirmation code still finds the record.
        active.external_account_id = Set(None);
    }
    active.update(&txn).await?;
    let message = match kind {
        _ if from_meta && held_nothing => "We hold no data for this Facebook account: no channel was connected to Atelier with it.",
        _ if from_meta => "We deleted the data Meta gave us about your Facebook or Instagram account: the connection's access tokens, its profile, its statistics and the platform's post ids. Content written in Atelier is not Meta's data and stays; to delete your whole Atelier account, use the deletion request form.",
        _ if held_nothing => "We hold no data about you: no account and no connected channel matched your request, so there was nothing to send, restrict or erase.",
        RequestKind::Erase => "We erased your data. This notice is the last thing we hold about the request, without your details.",
        RequestKind::Access | RequestKind::Export => "We prepared your data and emailed you a download link, valid for 7 days.",
        RequestKind::Restrict | RequestKind::Object => "We stopped processing your data (no publishing, no analytics sync, no email except about this request) until the matter is settled.",
        _ => "We completed your request.",
    };
    add_event(
        &txn,
        request_id,
        "system",
        "COMPLETED",
        Some(RequestStatus::InProgress),
        Some(RequestStatus::Completed),
        message,
    )
    .await?;
    audit::record(
        &txn,
        NewEvent::new(Actor::System, "privacy.request_completed")
            .target("privacy_request", request_id)
            .details(json!({ "kind": kind.as_str(), "held_nothing": held_nothing })),
        &RequestMeta::default(),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_planned_step_has_words_for_staff() {
        for kind in RequestKind::ALL {
            for step in Step::plan(kind) {
                assert_ne!(step_label(step.name()), step.name(), "{step:?}");
            }
        }
        assert_ne!(step_label("meta_channels"), "meta_channels");
        assert_eq!(step_label("no_such_step"), "no_such_step");
        assert_eq!(step_status_label("DONE"), "Done");
    }
}
