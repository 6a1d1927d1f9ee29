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
use crate::domain::channels::integrations::Health;
use crate::domain::entities::{
    comments, draft_generations, draft_revisions, draft_workflow, drafts, export_packages,
    integration_tokens, integrations, invitations, jobs as job_rows, media, memberships,
    mention_notifications, one_time_tokens, privacy_execution_steps as steps,
    privacy_requests as requests, sessions, users, workspaces,
};
use crate::domain::identity::accounts::UserStatus;
use crate::domain::ops::audit::{self, Actor, NewEvent};
use crate::domain::ops::outbox::{self, recipient_hash, Email, QueuedEmail};
use crate::domain::privacy::person_keys::IdentifierKind;
use crate::domain::workspace::workspaces::Role;
use crate::domain::{now, ops::jobs, RequestMeta};
use crate::error::{DomainError, DomainResult};
use crate::storage::MediaStore;

pub(crate) const SEAL_CONTEXT: &[u8] = b"atelier:fulfilment:v1";

/// What the verification scan looks for, captured when the request is approved and kept
/// sealed in the job (the live rows lose it along the way).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Needles {
    pub email: Option<String>,
    pub names: Vec<String>,
    pub handles: Vec<String>,
    /// The account's other addresses: its current one when the request came from
    /// another, and every one a correction replaced.
    #[serde(default)]
    pub other_emails: Vec<String>,
}

impl Needles {
    /// Every email address the person had, each once.
    pub fn emails(&self) -> Vec<String> {
        let mut all: Vec<String> = Vec::new();
        for email in self.email.iter().chain(self.other_emails.iter()) {
            let folded = email.trim().to_lowercase();
            if !all.contains(&folded) {
                all.push(folded);
            }
        }
        all
    }

    /// Everything the verification scan looks for.
    fn all(&self) -> Vec<String> {
        let mut all = self.emails();
        all.extend(self.names.iter().cloned());
        all.extend(self.handles.iter().cloned());
        all
    }
}

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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Integrations,
    Sessions,
    Media,
    ExportPackages,
    Analytics,
    Workspaces,
    Content,
    Comments,
    Invitations,
    OneTimeTokens,
    MailOutbox,
    RequestRecords,
    AuditDetails,
    Account,
    Verification,
    Restrict,
    ExportPackage,
    MetaChannels,
    ReviewLinks,
}

impl Step {
    fn name(self) -> &'static str {
        match self {
            Self::Integrations => "integrations",
            Self::Sessions => "sessions",
            Self::Media => "media",
            Self::ExportPackages => "export_packages",
            Self::Analytics => "analytics",
            Self::Workspaces => "workspaces",
            Self::Content => "content",
            Self::Comments => "comments",
            Self::Invitations => "invitations",
            Self::OneTimeTokens => "one_time_tokens",
            Self::MailOutbox => "mail_outbox",
            Self::RequestRecords => "request_records",
            Self::AuditDetails => "audit_details",
            Self::Account => "account",
            Self::Verification => "verification",
            Self::Restrict => "restrict_processing",
            Self::ExportPackage => "export_package",
            Self::MetaChannels => "meta_channels",
            Self::ReviewLinks => "review_links",
        }
    }

    /// What the step does, in the words staff read on the request page.
    fn label(self) -> &'static str {
        match self {
            Self::Integrations => "Disconnect channels (tokens revoked at the platform)",
            Self::Sessions => "End every session",
            Self::Media => "Delete uploaded files",
            Self::ExportPackages => "Delete earlier export packages",
            Self::Analytics => "Delete channel analytics",
            Self::Workspaces => "Delete workspaces with no other member",
            Self::Content => "Remove the name from shared content",
            Self::Comments => "Erase comments",
            Self::Invitations => "Delete invitations",
            Self::OneTimeTokens => "Delete one-time links",
            Self::MailOutbox => "Delete queued email",
            Self::RequestRecords => "Minimise other request records",
            Self::AuditDetails => "Strip details from the audit log",
            Self::Account => "Close the account",
            Self::Verification => "Check that nothing is left",
            Self::Restrict => "Restrict processing",
            Self::ExportPackage => "Build the export package",
            Self::MetaChannels => "Delete the data Meta gave us",
            Self::ReviewLinks => "Remove the address and words from client reviews",
        }
    }

    /// The steps of a request: Meta's data-deletion callback deletes what Meta gave us
    /// (the channels' tokens, profile, metrics and post ids) and nothing else; other
    /// requests go by their kind.
    fn plan_for(request: &requests::Model, kind: RequestKind) -> &'static [Step] {
        if meta_subject(request).is_some() {
            return &[Self::MetaChannels, Self::Verification];
        }
        Self::plan(kind)
    }

    fn plan(kind: RequestKind) -> &'static [Step] {
        match kind {
            RequestKind::Erase => &[
                Self::Integrations,
                Self::Sessions,
                Self::Media,
                Self::ExportPackages,
                Self::Analytics,
                Self::Workspaces,
                Self::Content,
                Self::Comments,
                Self::Invitations,
                Self::ReviewLinks,
                Self::OneTimeTokens,
                Self::MailOutbox,
                Self::RequestRecords,
                Self::AuditDetails,
                Self::Account,
                Self::Verification,
            ],
            RequestKind::Restrict | RequestKind::Object => &[Self::Restrict],
            RequestKind::Access | RequestKind::Export => &[Self::ExportPackage],
            RequestKind::Rectify => &[],
        }
    }
}

/// Runs (or resumes) the fulfilment job's request. Errors leave the failed step marked
/// FAILED with its error, for the job to retry and staff to see.
/// A stored step name (`export_packages`) in staff words; the name itself when unknown.
pub fn step_label(name: &str) -> String {
    const ALL: [Step; 19] = [
        Step::Integrations,
        Step::Sessions,
        Step::Media,
        Step::ExportPackages,
        Step::Analytics,
        Step::Workspaces,
        Step::Content,
        Step::Comments,
        Step::Invitations,
        Step::OneTimeTokens,
        Step::MailOutbox,
        Step::RequestRecords,
        Step::AuditDetails,
        Step::Account,
        Step::Verification,
        Step::Restrict,
        Step::ExportPackage,
        Step::MetaChannels,
        Step::ReviewLinks,
    ];
    ALL.iter()
        .find(|s| s.name() == name)
        .map_or_else(|| name.to_string(), |s| s.label().to_string())
}

/// A step's status (PENDING, DONE, FAILED) in staff words.
pub fn step_status_label(status: &str) -> &'static str {
    match status {
        "DONE" => "Done",
        "FAILED" => "Failed",
        "PENDING" => "Waiting",
        _ => "Unknown",
    }
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

fn new_step(request_id: Uuid, position: usize, step: Step) -> steps::ActiveModel {
    steps::ActiveModel {
        id: Set(Uuid::now_v7()),
        request_id: Set(request_id),
        position: Set(position as i32),
        step: Set(step.name().into()),
        status: Set("PENDING".into()),
        rows_affected: Set(0),
        error: Set(None),
        attempts: Set(0),
        finished_at: Set(None),
    }
}

async fn run_step(
    txn: &(impl ConnectionTrait + TransactionTrait),
    step: Step,
    request: &requests::Model,
    needles: &Needles,
    exports: &MediaStore,
    store: &MediaStore,
    vault: &Vault,
) -> DomainResult<u64> {
    let user_id = request.user_id;
    let emails = needles.emails();
    let email_hashes: Vec<String> = emails.iter().map(|e| recipient_hash(e)).collect();
    match (step, user_id) {
        (Step::Verification, _) => verify_nothing_left(txn, request.id, needles).await,
        // Without an account, the client reviews sent to the address are all there is to
        // package; with none of those either, the completion says nothing was held.
        (Step::ExportPackage, None) => {
            if crate::domain::content::review_links::any_sent_to(txn, &emails).await? {
                super::export::build(txn, exports, store, request)
                    .await
                    .map(|_| 1)
            } else {
                Ok(0)
            }
        }
        (Step::ExportPackage, Some(_)) => super::export::build(txn, exports, store, request)
            .await
            .map(|_| 1),
        (Step::ExportPackages, _) => {
            super::export::erase_packages(txn, exports, request.id, user_id, &email_hashes).await
        }
        (Step::MetaChannels, _) => match meta_subject(request) {
            Some(platform_user) => erase_meta_data(txn, vault, platform_user).await,
            None => Ok(0),
        },
        (Step::MailOutbox, _) => delete_queued_mail(txn, &email_hashes).await,
        (Step::ReviewLinks, _) => {
            crate::domain::content::review_links::erase_reviewer(txn, &emails).await
        }
        (Step::RequestRecords, _) => {
            minimise_other_requests(txn, request.id, user_id, &email_hashes).await
        }
        (Step::Invitations, _) => Ok(invitations::Entity::delete_many()
            .filter(invitations::Column::Email.is_in(emails))
            .exec(txn)
            .await?
            .rows_affected),
        (_, None) => Ok(0),
        (Step::Integrations, Some(user_id)) => disconnect_integrations(txn, vault, user_id).await,
        (Step::Sessions, Some(user_id)) => Ok(sessions::Entity::delete_many()
            .filter(sessions::Column::UserId.eq(user_id))
            .exec(txn)
            .await?
            .rows_affected),
        (Step::Media, Some(user_id)) => erase_media(txn, store, user_id).await,
        (Step::Analytics, Some(user_id)) => erase_analytics(txn, user_id).await,
        (Step::Workspaces, Some(user_id)) => leave_workspaces(txn, user_id).await,
        (Step::Content, Some(user_id)) => anonymise_content(txn, user_id).await,
        (Step::Comments, Some(user_id)) => erase_comments(txn, user_id).await,
        (Step::OneTimeTokens, Some(user_id)) => Ok(one_time_tokens::Entity::delete_many()
            .filter(one_time_tokens::Column::SubjectId.eq(user_id))
            .exec(txn)
            .await?
            .rows_affected),
        // Crypto-shredding: the audit details sealed with their key become unreadable.
        (Step::AuditDetails, Some(user_id)) => {
            crate::domain::privacy::person_keys::shred(txn, user_id).await
        }
        (Step::Account, Some(user_id)) => tombstone(txn, user_id).await,
        (Step::Restrict, Some(user_id)) => {
            set_user_status(txn, user_id, UserStatus::Restricted).await
        }
    }
}

/// The workspaces only this user is in (the workspaces step deletes them).
async fn sole_workspaces(txn: &impl ConnectionTrait, user_id: Uuid) -> DomainResult<Vec<Uuid>> {
    let mine: Vec<Uuid> = memberships::Entity::find()
        .select_only()
        .column(memberships::Column::WorkspaceId)
        .filter(memberships::Column::UserId.eq(user_id))
        .into_tuple()
        .all(txn)
        .await?;
    let shared: Vec<Uuid> = memberships::Entity::find()
        .select_only()
        .column(memberships::Column::WorkspaceId)
        .filter(memberships::Column::WorkspaceId.is_in(mine.clone()))
        .filter(memberships::Column::UserId.ne(user_id))
        .into_tuple()
        .all(txn)
        .await?;
    Ok(mine.into_iter().filter(|w| !shared.contains(w)).collect())
}

/// Media of the workspaces that go with them: stored objects first, then rows. In shared
/// workspaces their uploads stay as the workspace's, without an uploader.
async fn erase_media(
    txn: &impl ConnectionTrait,
    store: &MediaStore,
    user_id: Uuid,
) -> DomainResult<u64> {
    let sole = sole_workspaces(txn, user_id).await?;
    let doomed = media::Entity::find()
        .filter(media::Column::WorkspaceId.is_in(sole))
        .all(txn)
        .await?;
    let mut affected = 0;
    for item in &doomed {
        store
            .delete(&item.storage_key)
            .await
            .map_err(|e| DomainError::internal(e.context("deleting a stored media object")))?;
        affected += media::Entity::delete_by_id(item.id)
            .exec(txn)
            .await?
            .rows_affected;
    }
    affected += media::Entity::update_many()
        .col_expr(media::Column::UploaderId, Expr::value(Option::<Uuid>::None))
        .filter(media::Column::UploaderId.eq(user_id))
        .exec(txn)
        .await?
        .rows_affected;
    Ok(affected)
}

/// In the workspaces they shared, the content stays and loses its author.
async fn anonymise_content(txn: &impl ConnectionTrait, user_id: Uuid) -> DomainResult<u64> {
    let none = || Expr::value(Option::<Uuid>::None);
    let mut affected = drafts::Entity::update_many()
        .col_expr(drafts::Column::AuthorId, none())
        .filter(drafts::Column::AuthorId.eq(user_id))
        .exec(txn)
        .await?
        .rows_affected;
    affected += draft_revisions::Entity::update_many()
        .col_expr(draft_revisions::Column::EditorId, none())
        .filter(draft_revisions::Column::EditorId.eq(user_id))
        .exec(txn)
        .await?
        .rows_affected;
    affected += draft_workflow::Entity::update_many()
        .col_expr(draft_workflow::Column::ActorId, none())
        .filter(draft_workflow::Column::ActorId.eq(user_id))
        .exec(txn)
        .await?
        .rows_affected;
    affected += draft_generations::Entity::update_many()
        .col_expr(draft_generations::Column::RequestedBy, none())
        .filter(draft_generations::Column::RequestedBy.eq(user_id))
        .exec(txn)
        .await?
        .rows_affected;
    Ok(affected)
}

/// Their comments lose author and text (the thread keeps its shape); notifications
/// waiting for them go.
async fn erase_comments(txn: &impl ConnectionTrait, user_id: Uuid) -> DomainResult<u64> {
    let mut affected = comments::Entity::update_many()
        .col_expr(
            comments::Column::AuthorId,
            Expr::value(Option::<Uuid>::None),
        )
        .col_expr(comments::Column::Body, Expr::value(""))
        .col_expr(comments::Column::Mentions, Expr::value("[]"))
        .col_expr(comments::Column::DeletedAt, Expr::value(now()))
        .filter(comments::Column::AuthorId.eq(user_id))
        .exec(txn)
        .await?
        .rows_affected;
    affected += comments::Entity::update_many()
        .col_expr(
            comments::Column::ResolvedBy,
            Expr::value(Option::<Uuid>::None),
        )
        .filter(comments::Column::ResolvedBy.eq(user_id))
        .exec(txn)
        .await?
        .rows_affected;
    affected += mention_notifications::Entity::delete_many()
        .filter(mention_notifications::Column::UserId.eq(user_id))
        .exec(txn)
        .await?
        .rows_affected;
    Ok(affected)
}

/// Channels they connected lose their tokens (revoked at the platform), handle, name and
/// connector (`revoke_channel`); connections waiting for a choice go too.
async fn disconnect_integrations(
    txn: &impl ConnectionTrait,
    vault: &Vault,
    user_id: Uuid,
) -> DomainResult<u64> {
    let connected = integrations::Entity::find()
        .filter(integrations::Column::ConnectedBy.eq(user_id))
        .all(txn)
        .await?;
    // Connections still waiting for their choice of account hold sealed tokens too.
    let mut affected = crate::domain::entities::pending_connections::Entity::delete_many()
        .filter(crate::domain::entities::pending_connections::Column::UserId.eq(user_id))
        .exec(txn)
        .await?
        .rows_affected;
    for integration in connected {
        affected += revoke_channel(
            txn,
            vault,
            integration,
            "disconnected when its owner's data was erased",
            true,
        )
        .await?;
    }
    Ok(affected)
}

/// A channel loses what came from its platform about the person: its tokens are deleted
/// here and their revocation queued (a job retried until the platform takes it, holding
/// them sealed); it is marked REVOKED without handle, name or app-scoped id, and
/// without its connector when `forget_connector`. Returns the rows affected.
async fn revoke_channel(
    txn: &impl ConnectionTrait,
    vault: &Vault,
    channel: integrations::Model,
    why: &str,
    forget_connector: bool,
) -> DomainResult<u64> {
    use crate::domain::channels::integrations as channels;
    let tokens = channels::open_tokens(txn, vault, channel.id).await?;
    if let (Some(provider), Some(tokens)) = (
        crate::domain::platforms::Provider::parse(&channel.provider),
        tokens,
    ) {
        channels::enqueue_revocation(txn, vault, provider, &tokens).await?;
    }
    let deleted = integration_tokens::Entity::delete_by_id(channel.id)
        .exec(txn)
        .await?
        .rows_affected;
    let mut active: integrations::ActiveModel = channel.into();
    active.health = Set(Health::Revoked.as_str().into());
    if forget_connector {
        active.connected_by = Set(None);
    }
    active.handle = Set(None);
    active.display_name = Set(None);
    active.platform_user_id = Set(None);
    active.last_error = Set(Some(why.into()));
    active.disconnected_at = Set(Some(now()));
    active.updated_at = Set(now());
    active.update(txn).await?;
    Ok(deleted + 1)
}

/// What Meta gave us about the person behind an app-scoped user id, for Meta's
/// data-deletion callback: the channels' tokens (revoked at Meta too), their profile
/// (handle, name, the id itself), their metrics and sync state, the platform's post ids
/// and links on the drafts published through them, and any connection waiting for a
/// choice. Drafts, comments and the Atelier account stay.
async fn erase_meta_data(
    txn: &impl ConnectionTrait,
    vault: &Vault,
    platform_user: &str,
) -> DomainResult<u64> {
    use crate::domain::entities::{draft_targets, metric_points, pending_connections, sync_states};
    use crate::domain::platforms::Provider as Platform;
    let channels = crate::domain::channels::integrations::find_by_platform_user(
        txn,
        &Platform::META,
        platform_user,
    )
    .await?;
    let ids: Vec<Uuid> = channels.iter().map(|c| c.id).collect();
    let mut affected = 0;
    for channel in channels {
        affected += revoke_channel(
            txn,
            vault,
            channel,
            "disconnected when Meta asked for this account's data to be deleted",
            false,
        )
        .await?;
    }
    if !ids.is_empty() {
        affected += metric_points::Entity::delete_many()
            .filter(metric_points::Column::IntegrationId.is_in(ids.clone()))
            .exec(txn)
            .await?
            .rows_affected;
        affected += sync_states::Entity::delete_many()
            .filter(sync_states::Column::IntegrationId.is_in(ids.clone()))
            .exec(txn)
            .await?
            .rows_affected;
        affected += draft_targets::Entity::update_many()
            .col_expr(
                draft_targets::Column::ProviderPostId,
                Expr::value(Option::<String>::None),
            )
            .col_expr(
                draft_targets::Column::Url,
                Expr::value(Option::<String>::None),
            )
            .filter(draft_targets::Column::IntegrationId.is_in(ids))
            .filter(
                sea_orm::Condition::any()
                    .add(draft_targets::Column::ProviderPostId.is_not_null())
                    .add(draft_targets::Column::Url.is_not_null()),
            )
            .exec(txn)
            .await?
            .rows_affected;
    }
    affected += pending_connections::Entity::delete_many()
        .filter(pending_connections::Column::PlatformUserId.eq(platform_user))
        .exec(txn)
        .await?
        .rows_affected;
    Ok(affected)
}

/// The analytics of the workspaces that go with them (those where they are the only
/// member): metric points and the channels' sync states, counted before the workspace
/// step deletes the rest.
async fn erase_analytics(txn: &impl ConnectionTrait, user_id: Uuid) -> DomainResult<u64> {
    use crate::domain::entities::{metric_points, sync_states};
    let mine = memberships::Entity::find()
        .filter(memberships::Column::UserId.eq(user_id))
        .all(txn)
        .await?;
    let mut sole = Vec::new();
    for membership in mine {
        let shared = memberships::Entity::find()
            .filter(memberships::Column::WorkspaceId.eq(membership.workspace_id))
            .filter(memberships::Column::UserId.ne(user_id))
            .one(txn)
            .await?
            .is_some();
        if !shared {
            sole.push(membership.workspace_id);
        }
    }
    if sole.is_empty() {
        return Ok(0);
    }
    let channels: Vec<Uuid> = integrations::Entity::find()
        .filter(integrations::Column::WorkspaceId.is_in(sole.iter().copied()))
        .all(txn)
        .await?
        .into_iter()
        .map(|i| i.id)
        .collect();
    let points = metric_points::Entity::delete_many()
        .filter(metric_points::Column::WorkspaceId.is_in(sole))
        .exec(txn)
        .await?
        .rows_affected;
    let states = sync_states::Entity::delete_many()
        .filter(sync_states::Column::IntegrationId.is_in(channels))
        .exec(txn)
        .await?
        .rows_affected;
    Ok(points + states)
}

/// Workspaces where they are the only member are deleted with everything in them; in
/// shared ones they leave, and when they were the only owner the longest-standing
/// remaining member becomes owner.
async fn leave_workspaces(txn: &impl ConnectionTrait, user_id: Uuid) -> DomainResult<u64> {
    let mine = memberships::Entity::find()
        .filter(memberships::Column::UserId.eq(user_id))
        .all(txn)
        .await?;
    let mut affected = 0;
    for membership in mine {
        let others = memberships::Entity::find()
            .filter(memberships::Column::WorkspaceId.eq(membership.workspace_id))
            .filter(memberships::Column::UserId.ne(user_id))
            .order_by_asc(memberships::Column::Id)
            .all(txn)
            .await?;
        if others.is_empty() {
            affected += workspaces::Entity::delete_by_id(membership.workspace_id)
                .exec(txn)
                .await?
                .rows_affected;
            continue;
        }
        if !others.iter().any(|m| m.role == Role::Owner.as_str()) {
            let successor = others
                .iter()
                .find(|m| m.role == Role::Admin.as_str())
                .unwrap_or(&others[0]);
            memberships::Entity::update_many()
                .col_expr(memberships::Column::Role, Expr::value(Role::Owner.as_str()))
                .filter(memberships::Column::Id.eq(successor.id))
                .exec(txn)
                .await?;
        }
        affected += memberships::Entity::delete_by_id(membership.id)
            .exec(txn)
            .await?
            .rows_affected;
    }
    Ok(affected)
}

async fn delete_queued_mail(
    txn: &impl ConnectionTrait,
    email_hashes: &[String],
) -> DomainResult<u64> {
    if email_hashes.is_empty() {
        return Ok(0);
    }
    // Sent emails keep no payload; waiting and given-up ones still hold the sealed email.
    // The request's own correspondence (its confirmation, acknowledgement, outcome) is
    // the answer the law requires, not data held about the person: it stays, and it
    // never makes a stranger's request look as if something was found.
    let pending = job_rows::Entity::find()
        .filter(job_rows::Column::Kind.eq(jobs::kind::SEND_EMAIL))
        .filter(job_rows::Column::DoneAt.is_null())
        .all(txn)
        .await?;
    let mut affected = 0;
    for job in pending {
        let to_them = serde_json::from_str::<QueuedEmail>(&job.payload)
            .map(|q| {
                email_hashes.contains(&q.to_hash)
                    && !q.intent.as_deref().is_some_and(answers_a_request)
            })
            .unwrap_or(false);
        if to_them {
            affected += job_rows::Entity::delete_by_id(job.id)
                .exec(txn)
                .await?
                .rows_affected;
        }
    }
    Ok(affected)
}

/// Whether an email of this intent answers a privacy request (to its requester).
fn answers_a_request(intent: &str) -> bool {
    matches!(
        intent,
        "request_confirmation"
            | "request_acknowledgement"
            | "request_rejected"
            | "request_extended"
            | "request_completed"
            | "export_ready"
            | "request_status_link"
            | "nothing_held"
    )
}

/// Earlier request records of the same person (by any of their addresses, or linked to
/// their account) keep what the compliance log needs, not the person.
async fn minimise_other_requests(
    txn: &impl ConnectionTrait,
    request_id: Uuid,
    user_id: Option<Uuid>,
    email_hashes: &[String],
) -> DomainResult<u64> {
    let mut theirs = sea_orm::Condition::any()
        .add(requests::Column::RequesterEmailHash.is_in(email_hashes.iter().cloned()));
    if let Some(user_id) = user_id {
        theirs = theirs.add(requests::Column::UserId.eq(user_id));
    }
    if email_hashes.is_empty() && user_id.is_none() {
        return Ok(0);
    }
    let none = || Expr::value(Option::<String>::None);
    Ok(requests::Entity::update_many()
        .col_expr(requests::Column::RequesterEmail, none())
        .col_expr(requests::Column::WorkspaceName, none())
        .col_expr(requests::Column::ChannelIdentifiers, none())
        .col_expr(requests::Column::Details, none())
        .filter(theirs)
        .filter(requests::Column::Id.ne(request_id))
        .exec(txn)
        .await?
        .rows_affected)
}

/// The account becomes a tombstone: no email, name or password left, status ERASED; the
/// identifiers corrections replaced are forgotten too.
async fn tombstone(txn: &impl ConnectionTrait, user_id: Uuid) -> DomainResult<u64> {
    let Some(user) = users::Entity::find_by_id(user_id).one(txn).await? else {
        return Ok(0);
    };
    let mut active: users::ActiveModel = user.into();
    active.email = Set(format!("erased-{}@erased.invalid", user_id.simple()));
    active.display_name = Set("Erased user".into());
    active.password_hash = Set("!erased".into());
    active.email_verified_at = Set(None);
    active.locale = Set("en".into());
    active.time_zone = Set("UTC".into());
    active.status = Set(UserStatus::Erased.as_str().into());
    active.updated_at = Set(now());
    active.update(txn).await?;
    let forgotten =
        crate::domain::privacy::person_keys::forget_former_identifiers(txn, user_id).await?;
    Ok(1 + forgotten)
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

/// Where the verification scan found a needle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leftover {
    pub table: String,
    pub column: String,
    pub rows: i64,
}

/// Searches every text column of every table for the needles. The request's own
/// contact address is the one expected hit: it goes in the transaction that emails the
/// completion notice.
pub async fn scan(
    conn: &impl ConnectionTrait,
    needles: &[String],
    except_request: Option<Uuid>,
) -> DomainResult<Vec<Leftover>> {
    let backend = conn.get_database_backend();
    let columns: Vec<(String, String)> = match backend {
        DatabaseBackend::Postgres => conn
            .query_all_raw(Statement::from_string(
                backend,
                "SELECT table_name, column_name FROM information_schema.columns \
                 WHERE table_schema = current_schema() \
                 AND data_type IN ('text', 'character varying', 'character', 'json', 'jsonb')",
            ))
            .await?
            .iter()
            .map(|row| {
                Ok((
                    row.try_get::<String>("", "table_name")?,
                    row.try_get::<String>("", "column_name")?,
                ))
            })
            .collect::<Result<_, sea_orm::DbErr>>()?,
        _ => {
            let tables = conn
                .query_all_raw(Statement::from_string(
                    backend,
                    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
                ))
                .await?;
            let mut found = Vec::new();
            for table in tables {
                let table: String = table.try_get("", "name")?;
                let info = conn
                    .query_all_raw(Statement::from_string(
                        backend,
                        format!("PRAGMA table_info(\"{table}\")"),
                    ))
                    .await?;
                for column in info {
                    found.push((table.clone(), column.try_get::<String>("", "name")?));
                }
            }
            found
        }
    };
    let mut leftovers = Vec::new();
    for (table, column) in columns {
        for needle in needles.iter().filter(|n| n.chars().count() >= 4) {
            let pattern = crate::domain::like_pattern(needle);
            let (sql, values): (String, Vec<sea_orm::Value>) = match backend {
                DatabaseBackend::Postgres => (
                    format!("SELECT COUNT(*) AS n FROM \"{table}\" WHERE CAST(\"{column}\" AS TEXT) ILIKE $1 ESCAPE '\\'"),
                    vec![pattern.into()],
                ),
                _ => (
                    format!("SELECT COUNT(*) AS n FROM \"{table}\" WHERE CAST(\"{column}\" AS TEXT) LIKE ? ESCAPE '\\'"),
                    vec![pattern.into()],
                ),
            };
            let mut sql = sql;
            let mut values = values;
            if let (Some(id), true) = (
                except_request,
                table == "privacy_requests" && column == "requester_email",
            ) {
                match backend {
                    DatabaseBackend::Postgres => sql.push_str(" AND id <> $2"),
                    _ => sql.push_str(" AND id <> ?"),
                }
                values.push(id.into());
            }
            let row = conn
                .query_one_raw(Statement::from_sql_and_values(backend, sql, values))
                .await?;
            let rows = row
                .map(|r| r.try_get::<i64>("", "n"))
                .transpose()?
                .unwrap_or(0);
            if rows > 0 {
                leftovers.push(Leftover {
                    table: table.clone(),
                    column: column.clone(),
                    rows,
                });
            }
        }
    }
    Ok(leftovers)
}

async fn verify_nothing_left(
    txn: &impl ConnectionTrait,
    request_id: Uuid,
    needles: &Needles,
) -> DomainResult<u64> {
    let leftovers = scan(txn, &needles.all(), Some(request_id)).await?;
    if leftovers.is_empty() {
        return Ok(0);
    }
    let places: Vec<String> = leftovers
        .iter()
        .map(|l| format!("{}.{} ({} rows)", l.table, l.column, l.rows))
        .collect();
    Err(DomainError::internal(anyhow::anyhow!(
        "erasure verification found personal data left in: {}",
        places.join(", ")
    )))
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
