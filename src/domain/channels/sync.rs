//! Pulling metrics from the platforms: a job per channel, queued once per interval by
//! whichever instance asks first. Each run reads the account's daily metrics from a
//! little before its watermark (platforms revise recent days) to today, and the lifetime
//! counts of the posts published through the channel in the last 90 days; it records
//! the outcome in the channel's sync state. Nothing is pulled for a channel connected by
//! a person whose processing is restricted.

use chrono::{Duration, NaiveDate};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set, TransactionTrait,
};
use secrecy::SecretString;
use uuid::Uuid;

use super::platform::{Platforms, ProviderError};
use crate::crypto::vault::Vault;
use crate::domain::channels::analytics::{self, NewPoint, Source};
use crate::domain::channels::integrations::Health;
use crate::domain::entities::{draft_targets, integrations, sync_states, users};
use crate::domain::platforms::Provider;
use crate::domain::{now, ops::jobs};
use crate::error::DomainResult;

/// How far back the first sync of a channel reaches.
pub const FIRST_SYNC_DAYS: i64 = 28;
/// Days before the watermark read again, for late corrections.
pub const REVISED_DAYS: i64 = 2;
/// Posts whose counts are still pulled, by age.
pub const POST_DAYS: i64 = 90;

#[derive(serde::Serialize, serde::Deserialize)]
struct Job {
    integration_id: Uuid,
}

/// Queues a sync for every connected channel, once per `every` (the job id derives from
/// the channel and the interval).
pub async fn schedule(conn: &impl ConnectionTrait, every: Duration) -> DomainResult<u64> {
    let slot = now().timestamp() / every.num_seconds().max(60);
    let channels = integrations::Entity::find()
        .filter(integrations::Column::Health.ne(Health::Revoked.as_str()))
        .all(conn)
        .await?;
    let mut queued = 0;
    for channel in channels {
        let id = Uuid::new_v5(
            &Uuid::NAMESPACE_OID,
            format!("atelier:sync:{}:{slot}", channel.id).as_bytes(),
        );
        let job = Job {
            integration_id: channel.id,
        };
        if jobs::enqueue_once(conn, id, jobs::kind::SYNC_METRICS, &job, now()).await? {
            queued += 1;
        }
    }
    Ok(queued)
}

/// Queues a sync of one channel now (the API's "sync now").
pub async fn enqueue_now(conn: &impl ConnectionTrait, integration_id: Uuid) -> DomainResult<()> {
    jobs::enqueue(conn, jobs::kind::SYNC_METRICS, &Job { integration_id }).await?;
    Ok(())
}

async fn save_state(
    conn: &impl ConnectionTrait,
    integration_id: Uuid,
    change: impl FnOnce(&mut sync_states::ActiveModel),
) -> DomainResult<()> {
    let existing = sync_states::Entity::find_by_id(integration_id)
        .one(conn)
        .await?;
    let mut row = match &existing {
        Some(found) => found.clone().into(),
        None => sync_states::ActiveModel {
            integration_id: Set(integration_id),
            watermark: Set(None),
            last_attempt_at: Set(None),
            last_success_at: Set(None),
            last_error: Set(None),
            points_last_run: Set(0),
        },
    };
    row.last_attempt_at = Set(Some(now()));
    change(&mut row);
    if existing.is_some() {
        row.update(conn).await?;
    } else {
        row.insert(conn).await?;
    }
    Ok(())
}

/// Reads what the platform says for the channel since `from`.
async fn pull(
    conn: &impl ConnectionTrait,
    providers: &dyn Platforms,
    channel: &integrations::Model,
    provider: Provider,
    token: &SecretString,
    from: NaiveDate,
    today: NaiveDate,
) -> Result<Vec<NewPoint>, ProviderError> {
    let database = |e: sea_orm::DbErr| ProviderError::Transient(format!("database: {e}"));
    let account = providers
        .account_metrics(provider, token, &channel.external_account_id, from, today)
        .await?;
    let mut points: Vec<NewPoint> = account
        .into_iter()
        .map(|(day, metric, value)| NewPoint {
            workspace_id: channel.workspace_id,
            integration_id: channel.id,
            target_id: None,
            metric,
            day,
            value,
        })
        .collect();
    let posts = draft_targets::Entity::find()
        .filter(draft_targets::Column::IntegrationId.eq(channel.id))
        .filter(draft_targets::Column::Status.eq("PUBLISHED"))
        .filter(draft_targets::Column::PublishedAt.gte(now() - Duration::days(POST_DAYS)))
        .all(conn)
        .await
        .map_err(database)?;
    for post in posts {
        let Some(post_id) = &post.provider_post_id else {
            continue;
        };
        match providers.post_metrics(provider, token, post_id).await {
            Ok(counts) => points.extend(counts.into_iter().map(|(metric, value)| NewPoint {
                workspace_id: channel.workspace_id,
                integration_id: channel.id,
                target_id: Some(post.id),
                metric,
                day: today,
                value,
            })),
            // A post removed on the platform has no counts any more; the others do.
            Err(ProviderError::Rejected(why)) => {
                tracing::info!(target = %post.id, %why, "no metrics for a post");
            }
            Err(e) => return Err(e),
        }
    }
    Ok(points)
}

/// Runs one channel's sync. A passing failure is recorded and returned (the job retries
/// with backoff); a refusal of our credentials (after one renewal) marks the channel
/// NEEDS_REAUTH and stops.
pub async fn run(
    conn: &(impl ConnectionTrait + TransactionTrait),
    vault: &Vault,
    providers: &dyn Platforms,
    payload: &str,
) -> anyhow::Result<()> {
    let Job { integration_id } = serde_json::from_str(payload)?;
    let Some(channel) = integrations::Entity::find_by_id(integration_id)
        .one(conn)
        .await?
    else {
        return Ok(());
    };
    if channel.health == Health::Revoked.as_str() {
        return Ok(());
    }
    let provider = Provider::parse(&channel.provider)
        .ok_or_else(|| anyhow::anyhow!("unknown provider {:?}", channel.provider))?;
    if let Some(person) = channel.connected_by {
        let restricted = users::Entity::find_by_id(person)
            .filter(users::Column::Status.eq("RESTRICTED"))
            .one(conn)
            .await?
            .is_some();
        if restricted {
            save_state(conn, channel.id, |s| {
                s.last_error = Set(Some(
                    "paused: processing of the data of the person who connected this channel is restricted".into(),
                ));
                s.points_last_run = Set(0);
            })
            .await?;
            return Ok(());
        }
    }
    let Some(tokens) =
        crate::domain::channels::integrations::open_tokens(conn, vault, channel.id).await?
    else {
        return Ok(());
    };
    let state = sync_states::Entity::find_by_id(channel.id)
        .one(conn)
        .await?;
    let today = now().date_naive();
    let from = state
        .and_then(|s| s.watermark)
        .map(|w| w - Duration::days(REVISED_DAYS))
        .unwrap_or(today - Duration::days(FIRST_SYNC_DAYS - 1))
        .max(today - Duration::days(POST_DAYS))
        .min(today);
    let mut pulled = pull(
        conn,
        providers,
        &channel,
        provider,
        &tokens.access_token,
        from,
        today,
    )
    .await;
    if let Err(ProviderError::Auth(_)) = &pulled {
        // Renew the token and try once more.
        pulled = match crate::domain::channels::integrations::renew(
            conn, vault, providers, &channel, &tokens,
        )
        .await?
        {
            Ok(fresh) => {
                pull(
                    conn,
                    providers,
                    &channel,
                    provider,
                    &fresh.access_token,
                    from,
                    today,
                )
                .await
            }
            Err(e) => Err(e),
        };
    }
    match pulled {
        Ok(points) => {
            let txn = conn.begin().await?;
            let written = analytics::upsert(&txn, &points, Source::Sync).await?;
            save_state(&txn, channel.id, |s| {
                s.watermark = Set(Some(today));
                s.last_success_at = Set(Some(now()));
                s.last_error = Set(None);
                s.points_last_run = Set(written as i32);
            })
            .await?;
            sea_orm::TransactionSession::commit(txn).await?;
            Ok(())
        }
        Err(ProviderError::Auth(why)) => {
            save_state(conn, channel.id, |s| s.last_error = Set(Some(why.clone()))).await?;
            crate::domain::channels::integrations::needs_reauth(conn, vault, &channel, &why)
                .await?;
            Ok(())
        }
        Err(e) => {
            let why: String = e.to_string().chars().take(500).collect();
            save_state(conn, channel.id, |s| s.last_error = Set(Some(why.clone()))).await?;
            Err(e.into())
        }
    }
}
