//! Metrics coming in: each point upserted by channel, day and metric (a later sync's value
//! replaces an earlier one), and points recorded by hand for a post.

use super::{Metric, MAX_POINTS_PER_CALL, MAX_VALUE};
use crate::domain::entities::{draft_targets, drafts, integrations, metric_points};
use crate::domain::now;
use crate::domain::workspace::workspaces::{Role, WorkspaceAccess};
use crate::error::{DomainError, DomainResult};
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use std::collections::HashMap;
use uuid::Uuid;

/// Where a point came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// Pulled from the platform by the sync job.
    Sync,
    /// Sent by an API client (`recordMetrics`).
    Api,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sync => "SYNC",
            Self::Api => "API",
        }
    }
}

/// One value to store: the account's (no target) or a post's.
#[derive(Clone, Debug)]
pub struct NewPoint {
    pub workspace_id: Uuid,
    pub integration_id: Uuid,
    pub target_id: Option<Uuid>,
    pub metric: Metric,
    pub day: NaiveDate,
    pub value: i64,
}

impl NewPoint {
    /// The row that stores it (its subject is "" for the account, else the target).
    pub fn row(&self, source: Source, at: DateTime<Utc>) -> metric_points::ActiveModel {
        metric_points::ActiveModel {
            id: sea_orm::Set(Uuid::now_v7()),
            workspace_id: sea_orm::Set(self.workspace_id),
            integration_id: sea_orm::Set(self.integration_id),
            target_id: sea_orm::Set(self.target_id),
            subject: sea_orm::Set(self.target_id.map(|t| t.to_string()).unwrap_or_default()),
            metric: sea_orm::Set(self.metric.as_str().into()),
            day: sea_orm::Set(self.day),
            value: sea_orm::Set(self.value),
            source: sea_orm::Set(source.as_str().into()),
            collected_at: sea_orm::Set(at),
        }
    }
}

/// The time zone a workspace reads its reports in.
pub(super) fn time_zone_of(access: &WorkspaceAccess) -> chrono_tz::Tz {
    access
        .workspace
        .default_time_zone
        .parse()
        .unwrap_or(chrono_tz::UTC)
}

/// Writes points, replacing any stored for the same (channel, post, metric, day): the
/// same points written twice leave the store as once. Returns how many were written.
pub async fn upsert(
    conn: &impl ConnectionTrait,
    points: &[NewPoint],
    source: Source,
) -> DomainResult<u64> {
    let at = now();
    let mut written = 0;
    for chunk in points.chunks(500) {
        let rows = chunk.iter().map(|p| p.row(source, at));
        metric_points::Entity::insert_many(rows)
            .on_conflict(
                OnConflict::columns([
                    metric_points::Column::IntegrationId,
                    metric_points::Column::Subject,
                    metric_points::Column::Metric,
                    metric_points::Column::Day,
                ])
                .update_columns([
                    metric_points::Column::Value,
                    metric_points::Column::Source,
                    metric_points::Column::CollectedAt,
                ])
                .to_owned(),
            )
            .exec_without_returning(conn)
            .await?;
        written += chunk.len() as u64;
    }
    Ok(written)
}

/// A point as an API client sends it.
#[derive(Clone, Debug)]
pub struct PointInput {
    pub integration_id: Uuid,
    pub target_id: Option<Uuid>,
    pub metric: Metric,
    pub day: NaiveDate,
    pub value: i64,
}

/// Stores points sent by an API client (ADMIN and up): every point names a channel of
/// the workspace (and, for a post, a target published through that channel), a day no
/// later than tomorrow, and a value from 0 to a trillion; the same point twice in one
/// call is refused. All or nothing; sending the same call again changes nothing.
pub async fn record(
    conn: &(impl ConnectionTrait + sea_orm::TransactionTrait),
    access: &WorkspaceAccess,
    points: Vec<PointInput>,
) -> DomainResult<u64> {
    use sea_orm::TransactionSession;
    access.require(Role::Admin)?;
    if points.is_empty() {
        return Err(DomainError::bad_input("send at least one point"));
    }
    if points.len() > MAX_POINTS_PER_CALL {
        return Err(DomainError::bad_input(format!(
            "send at most {MAX_POINTS_PER_CALL} points per call"
        )));
    }
    let latest = now().date_naive() + Duration::days(1);
    let mut seen = std::collections::HashSet::new();
    for (i, p) in points.iter().enumerate() {
        if !(0..=MAX_VALUE).contains(&p.value) {
            return Err(DomainError::bad_input(format!(
                "point {i}: a value must be between 0 and {MAX_VALUE}"
            )));
        }
        if p.day > latest || p.day.year() < 2000 {
            return Err(DomainError::bad_input(format!(
                "point {i}: {} is not a day metrics can be recorded for",
                p.day
            )));
        }
        if !seen.insert((p.integration_id, p.target_id, p.metric, p.day)) {
            return Err(DomainError::bad_input(format!(
                "point {i}: the same channel, post, metric and day appear twice"
            )));
        }
    }
    let channel_ids: Vec<Uuid> = {
        let mut ids: Vec<Uuid> = points.iter().map(|p| p.integration_id).collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    };
    let channels: HashMap<Uuid, integrations::Model> = integrations::Entity::find()
        .filter(integrations::Column::Id.is_in(channel_ids.iter().copied()))
        .filter(integrations::Column::WorkspaceId.eq(access.workspace_id()))
        .all(conn)
        .await?
        .into_iter()
        .map(|c| (c.id, c))
        .collect();
    if let Some(unknown) = channel_ids.iter().find(|id| !channels.contains_key(id)) {
        return Err(DomainError::bad_input(format!(
            "{unknown} is not a channel of this workspace"
        )));
    }
    let target_ids: Vec<Uuid> = points.iter().filter_map(|p| p.target_id).collect();
    let targets: HashMap<Uuid, (draft_targets::Model, Uuid)> = if target_ids.is_empty() {
        HashMap::new()
    } else {
        let found = draft_targets::Entity::find()
            .filter(draft_targets::Column::Id.is_in(target_ids))
            .all(conn)
            .await?;
        let workspaces: HashMap<Uuid, Uuid> = drafts::Entity::find()
            .filter(drafts::Column::Id.is_in(found.iter().map(|t| t.draft_id)))
            .all(conn)
            .await?
            .into_iter()
            .map(|d| (d.id, d.workspace_id))
            .collect();
        found
            .into_iter()
            .filter_map(|t| {
                let ws = *workspaces.get(&t.draft_id)?;
                Some((t.id, (t, ws)))
            })
            .collect()
    };
    for (i, p) in points.iter().enumerate() {
        let Some(target_id) = p.target_id else {
            continue;
        };
        let fits = targets.get(&target_id).is_some_and(|(t, ws)| {
            *ws == access.workspace_id()
                && t.provider == channels[&p.integration_id].provider
                && t.integration_id.is_none_or(|id| id == p.integration_id)
        });
        if !fits {
            return Err(DomainError::bad_input(format!(
                "point {i}: {target_id} is not a post of this workspace on that channel"
            )));
        }
    }
    let rows: Vec<NewPoint> = points
        .into_iter()
        .map(|p| NewPoint {
            workspace_id: access.workspace_id(),
            integration_id: p.integration_id,
            target_id: p.target_id,
            metric: p.metric,
            day: p.day,
            value: p.value,
        })
        .collect();
    let txn = conn.begin().await?;
    let written = upsert(&txn, &rows, Source::Api).await?;
    txn.commit().await?;
    Ok(written)
}
