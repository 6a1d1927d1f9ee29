//! Publishing a scheduled draft to its channels. A job per draft runs at its time; each
//! target gets a PublishAttempt row written (and committed) *before* the platform is
//! called, and closed after. An attempt left open by a crash, or one whose answer never
//! came (a timeout, a 5xx), is reconciled by looking for the post on the platform before
//! anything is posted again — so a crash mid-publish never posts twice; an open attempt
//! younger than `IN_FLIGHT_GRACE_SECS` is left to the run that may still be making it. A 401 renews the
//! channel's token and tries once more; other refusals fail the target; passing failures
//! are retried with backoff, up to `MAX_ATTEMPTS` per target. The draft ends PUBLISHED,
//! PARTIALLY_PUBLISHED or FAILED. Nothing is published for a RESTRICTED user.

use futures::TryStreamExt;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
    TransactionSession, TransactionTrait,
};
use serde_json::json;
use uuid::Uuid;

use super::platform::{Platforms, PostMedia, PostRequest, Posted, ProviderError};
use crate::crypto::vault::Vault;
use crate::domain::channels::integrations::Health;
use crate::domain::content::schedule::PublishJob;
use crate::domain::content::{record_transition, DraftStatus};
use crate::domain::entities::{
    draft_targets, draft_workflow, drafts, integrations, media, publish_attempts, users,
};
use crate::domain::ops::audit::{self, Actor, NewEvent};
use crate::domain::platforms::Provider;
use crate::domain::{now, RequestMeta};
use crate::error::{DomainError, DomainResult};

/// Tries per target before it is given up.
pub const MAX_ATTEMPTS: usize = 5;

/// How long an open attempt may still be in the hands of a live run (the longest call:
/// an upload, or waiting for a platform to process a video). Younger ones are left
/// alone — another runner may be in the middle of it — and looked at again later.
pub const IN_FLIGHT_GRACE_SECS: i64 = 180;

/// What an attempt came to.
pub mod outcome {
    /// Recorded before the platform is called; still open means the process stopped.
    pub const IN_FLIGHT: &str = "IN_FLIGHT";
    pub const SUCCEEDED: &str = "SUCCEEDED";
    /// Refused by the platform (or nothing to publish with): not retried.
    pub const FAILED: &str = "FAILED";
    /// A passing failure; whether the platform took the post is checked before retrying.
    pub const RETRY: &str = "RETRY";
    /// Not tried: the person's processing is restricted.
    pub const SKIPPED: &str = "SKIPPED";
}

/// What the publishing job needs besides the database.
#[derive(Clone)]
pub struct Publisher {
    pub providers: std::sync::Arc<dyn Platforms>,
    pub media: crate::storage::MediaStore,
    /// Signs the links platforms fetch attached files from.
    pub link_key: [u8; 32],
    pub public_url: String,
    /// How long such a link works (at least an hour: platforms fetch late).
    pub link_ttl_secs: u64,
}

/// One target's state after a pass.
enum Pass {
    Done,
    /// Try again later, for this reason.
    Later(String),
}

/// Runs a publishing job. Returns an error (so the job is retried with backoff) while
/// some target waits for another try — unless this is the job's `last_try`: then the
/// targets still waiting fail with the reason, and the draft is settled rather than
/// left PUBLISHING.
pub async fn run(
    conn: &(impl ConnectionTrait + TransactionTrait),
    vault: &Vault,
    publisher: &Publisher,
    payload: &str,
    last_try: bool,
) -> anyhow::Result<()> {
    let job: PublishJob = serde_json::from_str(payload)?;
    let Some(draft) = drafts::Entity::find_by_id(job.draft_id).one(conn).await? else {
        return Ok(());
    };
    match DraftStatus::parse(&draft.status)? {
        DraftStatus::Scheduled
            if draft
                .scheduled_at
                .is_some_and(|at| at.timestamp_micros() == job.publish_at.timestamp_micros()) =>
        {
            let started = drafts::Entity::update_many()
                .col_expr(
                    drafts::Column::Status,
                    Expr::value(DraftStatus::Publishing.as_str()),
                )
                .col_expr(drafts::Column::UpdatedAt, Expr::value(now()))
                .filter(drafts::Column::Id.eq(draft.id))
                .filter(drafts::Column::Status.eq(DraftStatus::Scheduled.as_str()))
                .exec(conn)
                .await?;
            if started.rows_affected != 1 {
                return Ok(());
            }
            record_transition(
                conn,
                draft.workspace_id,
                draft.id,
                None,
                Some(DraftStatus::Scheduled),
                DraftStatus::Publishing,
                None,
            )
            .await?;
        }
        // A retry, or a restart after a crash: carry on where it stopped.
        DraftStatus::Publishing => {}
        // Rescheduled (another job has the new time), archived, or already done.
        _ => return Ok(()),
    }

    let targets = draft_targets::Entity::find()
        .filter(draft_targets::Column::DraftId.eq(draft.id))
        .order_by_asc(draft_targets::Column::Id)
        .all(conn)
        .await?;
    let restricted = restricted_person(conn, &draft).await?;
    let attached: Vec<media::Model> = crate::domain::content::media::for_drafts(conn, &[draft.id])
        .await?
        .into_iter()
        .map(|(_, m)| m)
        .collect();
    let mut waiting = Vec::new();
    for target in targets
        .iter()
        .filter(|t| !matches!(t.status.as_str(), "PUBLISHED" | "FAILED"))
    {
        let pass = match &restricted {
            Some(why) => {
                skip(conn, target, why).await?;
                Pass::Done
            }
            None => publish_target(conn, vault, publisher, &draft, target, &attached).await?,
        };
        if let Pass::Later(why) = pass {
            if last_try {
                let n = attempts_of(conn, target.id).await?.len() + 1;
                let why = format!(
                    "gave up: {why} (whether an earlier try reached the platform could not be confirmed)"
                );
                fail_without_call(conn, target, n, &why).await?;
            } else {
                waiting.push(format!("{}: {why}", target.provider));
            }
        }
    }
    if !waiting.is_empty() {
        anyhow::bail!(
            "{} channel(s) will be retried — {}",
            waiting.len(),
            waiting.join("; ")
        );
    }
    finish(conn, draft.id).await?;
    Ok(())
}

/// The reason nothing may be published for this draft: its author, or whoever scheduled
/// it, has their processing restricted.
async fn restricted_person(
    conn: &impl ConnectionTrait,
    draft: &drafts::Model,
) -> DomainResult<Option<String>> {
    let scheduler = draft_workflow::Entity::find()
        .filter(draft_workflow::Column::DraftId.eq(draft.id))
        .filter(draft_workflow::Column::ToStatus.eq(DraftStatus::Scheduled.as_str()))
        .order_by_desc(draft_workflow::Column::At)
        .one(conn)
        .await?
        .and_then(|w| w.actor_id);
    let people: Vec<Uuid> = draft.author_id.into_iter().chain(scheduler).collect();
    let restricted = users::Entity::find()
        .filter(users::Column::Id.is_in(people))
        .filter(users::Column::Status.eq("RESTRICTED"))
        .one(conn)
        .await?;
    Ok(restricted.map(|_| {
        "not published: processing of the author's or scheduler's data is restricted under a privacy request".to_string()
    }))
}

async fn attempts_of(
    conn: &impl ConnectionTrait,
    target_id: Uuid,
) -> DomainResult<Vec<publish_attempts::Model>> {
    Ok(publish_attempts::Entity::find()
        .filter(publish_attempts::Column::TargetId.eq(target_id))
        .order_by_asc(publish_attempts::Column::Attempt)
        .all(conn)
        .await?)
}

/// Opens attempt `n` (committed before the platform is called).
async fn open_attempt(
    conn: &impl ConnectionTrait,
    target_id: Uuid,
    n: usize,
    outcome: &str,
) -> DomainResult<publish_attempts::Model> {
    Ok(publish_attempts::ActiveModel {
        id: Set(Uuid::now_v7()),
        target_id: Set(target_id),
        attempt: Set(n as i32),
        started_at: Set(now()),
        finished_at: Set(None),
        outcome: Set(outcome.into()),
        provider_post_id: Set(None),
        provider_error: Set(None),
    }
    .insert(conn)
    .await?)
}

async fn close_attempt(
    conn: &impl ConnectionTrait,
    attempt: &publish_attempts::Model,
    outcome: &str,
    post_id: Option<&str>,
    error: Option<&str>,
) -> DomainResult<()> {
    let mut row: publish_attempts::ActiveModel = attempt.clone().into();
    row.finished_at = Set(Some(now()));
    row.outcome = Set(outcome.into());
    row.provider_post_id = Set(post_id.map(str::to_string));
    row.provider_error = Set(error.map(|e| e.chars().take(1_000).collect()));
    row.update(conn).await?;
    Ok(())
}

/// Settles a target: PUBLISHED through `channel` as `posted`, or FAILED.
async fn set_target(
    conn: &impl ConnectionTrait,
    target: &draft_targets::Model,
    posted: Option<(&Posted, Uuid)>,
) -> DomainResult<()> {
    let mut row: draft_targets::ActiveModel = target.clone().into();
    match posted {
        Some((posted, channel)) => {
            row.status = Set("PUBLISHED".into());
            row.integration_id = Set(Some(channel));
            row.provider_post_id = Set(Some(posted.id.clone()));
            row.url = Set(posted.url.clone());
            row.published_at = Set(Some(now()));
        }
        None => row.status = Set("FAILED".into()),
    }
    row.updated_at = Set(now());
    row.update(conn).await?;
    Ok(())
}

/// Fails a target without calling anyone, with an attempt saying why.
async fn fail_without_call(
    conn: &impl ConnectionTrait,
    target: &draft_targets::Model,
    n: usize,
    why: &str,
) -> DomainResult<Pass> {
    let attempt = open_attempt(conn, target.id, n, outcome::IN_FLIGHT).await?;
    close_attempt(conn, &attempt, outcome::FAILED, None, Some(why)).await?;
    set_target(conn, target, None).await?;
    Ok(Pass::Done)
}

async fn skip(
    conn: &impl ConnectionTrait,
    target: &draft_targets::Model,
    why: &str,
) -> DomainResult<()> {
    let n = attempts_of(conn, target.id).await?.len() + 1;
    let attempt = open_attempt(conn, target.id, n, outcome::IN_FLIGHT).await?;
    close_attempt(conn, &attempt, outcome::SKIPPED, None, Some(why)).await?;
    set_target(conn, target, None).await
}

/// The channel a target publishes through: the one it names, else the workspace's only
/// connected channel on that platform.
async fn channel_of(
    conn: &impl ConnectionTrait,
    workspace_id: Uuid,
    target: &draft_targets::Model,
) -> DomainResult<Result<integrations::Model, String>> {
    let platform = Provider::parse(&target.provider)
        .map(Provider::name)
        .unwrap_or("that platform");
    if let Some(id) = target.integration_id {
        return Ok(integrations::Entity::find_by_id(id)
            .one(conn)
            .await?
            .ok_or_else(|| format!("the {platform} channel chosen for this post was removed")));
    }
    let mut connected = integrations::Entity::find()
        .filter(integrations::Column::WorkspaceId.eq(workspace_id))
        .filter(integrations::Column::Provider.eq(&target.provider))
        .filter(integrations::Column::Health.ne(Health::Revoked.as_str()))
        .all(conn)
        .await?;
    Ok(match connected.len() {
        0 => Err(format!(
            "no {platform} channel is connected to this workspace"
        )),
        1 => Ok(connected.remove(0)),
        _ => Err(format!(
            "several {platform} channels are connected; choose one for this post"
        )),
    })
}

async fn post_media(
    publisher: &Publisher,
    provider: Provider,
    item: &media::Model,
) -> anyhow::Result<PostMedia> {
    let url = crate::domain::content::media::signed_url(
        &publisher.link_key,
        &publisher.public_url,
        item.id,
        publisher.link_ttl_secs.max(3_600),
    );
    // LinkedIn and YouTube take uploads; the others fetch the link.
    let bytes = if matches!(provider, Provider::Linkedin | Provider::Youtube) {
        let chunks: Vec<bytes::Bytes> = publisher
            .media
            .get(&item.storage_key)
            .await?
            .try_collect()
            .await?;
        Some(bytes::Bytes::from(chunks.concat()))
    } else {
        None
    };
    Ok(PostMedia {
        content_type: item.content_type.clone(),
        url,
        bytes,
    })
}

async fn publish_target(
    conn: &(impl ConnectionTrait + TransactionTrait),
    vault: &Vault,
    publisher: &Publisher,
    draft: &drafts::Model,
    target: &draft_targets::Model,
    attached: &[media::Model],
) -> anyhow::Result<Pass> {
    // Another run may have settled it since this one listed the targets.
    let fresh = draft_targets::Entity::find_by_id(target.id)
        .one(conn)
        .await?;
    let Some(target) = fresh.filter(|t| !matches!(t.status.as_str(), "PUBLISHED" | "FAILED"))
    else {
        return Ok(Pass::Done);
    };
    let target = &target;
    let attempts = attempts_of(conn, target.id).await?;
    let n = attempts.len() + 1;
    let Some(provider) = Provider::parse(&target.provider) else {
        return Ok(fail_without_call(conn, target, n, "unknown platform").await?);
    };
    let channel = match channel_of(conn, draft.workspace_id, target).await? {
        Ok(channel) => channel,
        Err(why) => return Ok(fail_without_call(conn, target, n, &why).await?),
    };
    if matches!(channel.health.as_str(), "REVOKED" | "NEEDS_REAUTH") {
        let why = "the channel must be reconnected before it can publish";
        return Ok(fail_without_call(conn, target, n, why).await?);
    }
    let Some(tokens) =
        crate::domain::channels::integrations::open_tokens(conn, vault, channel.id).await?
    else {
        let why = "the channel is disconnected";
        return Ok(fail_without_call(conn, target, n, why).await?);
    };
    // Checked when it was scheduled; checked again, as files may have gone since.
    let plan = match crate::domain::content::targets::media_plan(provider, attached) {
        Ok(plan) => plan,
        Err(why) => return Ok(fail_without_call(conn, target, n, &why).await?),
    };
    let mut media = Vec::with_capacity(plan.len());
    for item in plan {
        media.push(post_media(publisher, provider, item).await?);
    }
    let post = PostRequest {
        account_id: &channel.external_account_id,
        title: target.title.as_deref().or(Some(draft.title.as_str())),
        text: &target.body,
        media: &media,
    };
    let providers = publisher.providers.as_ref();

    // An attempt another run may still be making is not touched.
    if let Some(open) = attempts.last().filter(|a| {
        a.outcome == outcome::IN_FLIGHT
            && now() - a.started_at < chrono::Duration::seconds(IN_FLIGHT_GRACE_SECS)
    }) {
        return Ok(Pass::Later(format!(
            "attempt {} started at {} may still be under way",
            open.attempt, open.started_at
        )));
    }
    // Whether an earlier try reached the platform is settled before posting again.
    if let Some(last) = attempts
        .last()
        .filter(|a| matches!(a.outcome.as_str(), outcome::IN_FLIGHT | outcome::RETRY))
    {
        match providers
            .find_post(provider, &tokens.access_token, &post, last.started_at)
            .await
        {
            Ok(Some(posted)) => {
                let note = "the platform took the post; found when reconciling";
                close_attempt(conn, last, outcome::SUCCEEDED, Some(&posted.id), Some(note)).await?;
                set_target(conn, target, Some((&posted, channel.id))).await?;
                return Ok(Pass::Done);
            }
            Ok(None) => {
                if last.outcome == outcome::IN_FLIGHT {
                    let note = "interrupted; the platform has no such post";
                    close_attempt(conn, last, outcome::RETRY, None, Some(note)).await?;
                }
            }
            Err(e) => return Ok(Pass::Later(format!("could not check the platform: {e}"))),
        }
    }
    if attempts.len() >= MAX_ATTEMPTS {
        set_target(conn, target, None).await?;
        return Ok(Pass::Done);
    }

    let attempt = open_attempt(conn, target.id, n, outcome::IN_FLIGHT).await?;
    let mut result = providers
        .publish(provider, &tokens.access_token, &post)
        .await;
    if let Err(ProviderError::Auth(_)) = &result {
        // Renew the token and try once more.
        result = match crate::domain::channels::integrations::renew(
            conn, vault, providers, &channel, &tokens,
        )
        .await?
        {
            Ok(fresh) => {
                providers
                    .publish(provider, &fresh.access_token, &post)
                    .await
            }
            Err(e) => Err(e),
        };
    }
    match result {
        Ok(posted) => {
            close_attempt(conn, &attempt, outcome::SUCCEEDED, Some(&posted.id), None).await?;
            set_target(conn, target, Some((&posted, channel.id))).await?;
            Ok(Pass::Done)
        }
        Err(ProviderError::Transient(why)) => {
            close_attempt(conn, &attempt, outcome::RETRY, None, Some(&why)).await?;
            Ok(Pass::Later(why))
        }
        Err(e) => {
            close_attempt(conn, &attempt, outcome::FAILED, None, Some(&e.to_string())).await?;
            set_target(conn, target, None).await?;
            Ok(Pass::Done)
        }
    }
}

/// Every target settled: the draft becomes PUBLISHED, PARTIALLY_PUBLISHED or FAILED.
async fn finish(
    conn: &(impl ConnectionTrait + TransactionTrait),
    draft_id: Uuid,
) -> DomainResult<()> {
    let txn = conn.begin().await?;
    let targets = draft_targets::Entity::find()
        .filter(draft_targets::Column::DraftId.eq(draft_id))
        .all(&txn)
        .await?;
    let published = targets.iter().filter(|t| t.status == "PUBLISHED").count();
    let to = match published {
        0 => DraftStatus::Failed,
        n if n == targets.len() => DraftStatus::Published,
        _ => DraftStatus::PartiallyPublished,
    };
    let changed = drafts::Entity::update_many()
        .col_expr(drafts::Column::Status, Expr::value(to.as_str()))
        .col_expr(drafts::Column::UpdatedAt, Expr::value(now()))
        .filter(drafts::Column::Id.eq(draft_id))
        .filter(drafts::Column::Status.eq(DraftStatus::Publishing.as_str()))
        .exec(&txn)
        .await?;
    if changed.rows_affected != 1 {
        return Ok(());
    }
    let note = format!("{published} of {} channels published", targets.len());
    let workspace_id = drafts::Entity::find_by_id(draft_id)
        .one(&txn)
        .await?
        .map(|d| d.workspace_id)
        .ok_or(DomainError::NotFound("draft"))?;
    record_transition(
        &txn,
        workspace_id,
        draft_id,
        None,
        Some(DraftStatus::Publishing),
        to,
        Some(&note),
    )
    .await?;
    audit::record(
        &txn,
        NewEvent::new(Actor::System, "draft.published")
            .target("draft", draft_id)
            .workspace(workspace_id)
            .details(json!({
                "status": to.as_str(),
                "channels": targets.len(),
                "published": published,
            })),
        &RequestMeta::default(),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// The attempts of many targets, oldest first (for the API).
pub async fn attempts_for_targets(
    conn: &impl ConnectionTrait,
    target_ids: &[Uuid],
) -> DomainResult<Vec<publish_attempts::Model>> {
    Ok(publish_attempts::Entity::find()
        .filter(publish_attempts::Column::TargetId.is_in(target_ids.iter().copied()))
        .order_by_asc(publish_attempts::Column::TargetId)
        .order_by_asc(publish_attempts::Column::Attempt)
        .all(conn)
        .await?)
}
