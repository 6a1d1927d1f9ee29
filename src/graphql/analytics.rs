//! Analytics in the API: `Workspace.analytics` (series in the workspace's time zone,
//! totals, change, engagement rate, top drafts), `Draft.performance`, the ingest
//! mutation `recordMetrics`, and `syncIntegration`.

use crate::domain::workspace::workspaces::{workspace_of as owner_of, Owned};
use async_graphql::{Context, Enum, InputObject, Object, Result, SimpleObject, ID};
use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use super::context::{current_user, state};
use super::errors::{bad_input, gql};
use super::types::parse_id;
use crate::domain::channels::analytics::{self, Granularity, Metric, PointInput, Question, Report};
use crate::domain::workspace::workspaces::{self, Role, WorkspaceAccess};
use crate::error::DomainError;

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(name = "Metric")]
pub enum MetricEnum {
    Impressions,
    Reach,
    Views,
    Likes,
    Comments,
    Shares,
    Saves,
    Clicks,
    /// A level (how many followed on a day), not a count of events.
    Followers,
}

impl From<MetricEnum> for Metric {
    fn from(value: MetricEnum) -> Self {
        match value {
            MetricEnum::Impressions => Metric::Impressions,
            MetricEnum::Reach => Metric::Reach,
            MetricEnum::Views => Metric::Views,
            MetricEnum::Likes => Metric::Likes,
            MetricEnum::Comments => Metric::Comments,
            MetricEnum::Shares => Metric::Shares,
            MetricEnum::Saves => Metric::Saves,
            MetricEnum::Clicks => Metric::Clicks,
            MetricEnum::Followers => Metric::Followers,
        }
    }
}

impl From<Metric> for MetricEnum {
    fn from(value: Metric) -> Self {
        match value {
            Metric::Impressions => MetricEnum::Impressions,
            Metric::Reach => MetricEnum::Reach,
            Metric::Views => MetricEnum::Views,
            Metric::Likes => MetricEnum::Likes,
            Metric::Comments => MetricEnum::Comments,
            Metric::Shares => MetricEnum::Shares,
            Metric::Saves => MetricEnum::Saves,
            Metric::Clicks => MetricEnum::Clicks,
            Metric::Followers => MetricEnum::Followers,
        }
    }
}

#[derive(Enum, Clone, Copy, PartialEq, Eq, Default)]
#[graphql(name = "Granularity")]
pub enum GranularityEnum {
    #[default]
    Day,
    /// Weeks start on Monday.
    Week,
    Month,
}

impl From<GranularityEnum> for Granularity {
    fn from(value: GranularityEnum) -> Self {
        match value {
            GranularityEnum::Day => Granularity::Day,
            GranularityEnum::Week => Granularity::Week,
            GranularityEnum::Month => Granularity::Month,
        }
    }
}

/// Days in the workspace's time zone, both included.
#[derive(InputObject, Clone, Copy)]
pub struct DateRange {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

/// One bucket of a series.
// This and the other answers of analytics are plain values with nothing to wait for:
// they resolve their fields one after the other (`serial`), not through a set of
// futures per object — a 90-day daily answer has 810 buckets.
#[derive(SimpleObject)]
#[graphql(serial)]
pub struct MetricBucket {
    /// The bucket's first day.
    pub date: NaiveDate,
    /// When that day starts in the workspace's time zone.
    pub start: DateTime<Utc>,
    pub value: i64,
}

#[derive(SimpleObject)]
#[graphql(serial)]
pub struct MetricSeries {
    pub metric: MetricEnum,
    /// Every bucket of the range, zero where nothing was recorded.
    pub points: Vec<MetricBucket>,
    /// Summed over the range (FOLLOWERS: the last value).
    pub total: i64,
    /// The same over the period of the same length just before.
    pub previous_total: i64,
    /// (total − previousTotal) / previousTotal; null when the previous period had none.
    pub change: Option<f64>,
}

/// How a workspace's channels did over a range.
pub struct Analytics {
    report: Report,
    question: Question,
    access: WorkspaceAccess,
}

/// A draft and how it did on the chosen metric.
pub struct TopDraft {
    draft: crate::domain::entities::drafts::Model,
    value: i64,
}

#[Object]
impl TopDraft {
    async fn draft(&self) -> super::content::Draft {
        super::content::Draft(self.draft.clone())
    }

    async fn value(&self) -> i64 {
        self.value
    }
}

#[Object]
impl Analytics {
    async fn from(&self) -> NaiveDate {
        self.report.from
    }

    async fn to(&self) -> NaiveDate {
        self.report.to
    }

    /// The time zone the buckets are in (the workspace's).
    async fn time_zone(&self) -> &str {
        &self.report.time_zone
    }

    async fn metrics(&self) -> Vec<MetricSeries> {
        self.report
            .series
            .iter()
            .map(|s| MetricSeries {
                metric: s.metric.into(),
                points: s
                    .buckets
                    .iter()
                    .map(|b| MetricBucket {
                        date: b.date,
                        start: b.start,
                        value: b.value,
                    })
                    .collect(),
                total: s.total,
                previous_total: s.previous_total,
                change: s.change(),
            })
            .collect()
    }

    /// Likes, comments, shares, saves and clicks per impression; null without
    /// impressions.
    async fn engagement_rate(&self) -> Option<f64> {
        self.report.engagement_rate
    }

    async fn previous_engagement_rate(&self) -> Option<f64> {
        self.report.previous_engagement_rate
    }

    /// The drafts published in the range that did best on `metric` (each post's latest
    /// count, summed over the draft's channels).
    async fn top_drafts(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "MetricEnum::Impressions")] metric: MetricEnum,
        #[graphql(default = 10)] first: i32,
    ) -> Result<Vec<TopDraft>> {
        if !(1..=100).contains(&first) {
            return Err(bad_input("first must be between 1 and 100"));
        }
        let s = state(ctx);
        let ranked = analytics::top_drafts(
            &s.read_db,
            &self.access,
            &self.question,
            metric.into(),
            first as u64,
        )
        .await
        .map_err(gql)?;
        let ids: Vec<Uuid> = ranked.iter().map(|(id, _)| *id).collect();
        let mut drafts: std::collections::HashMap<Uuid, _> =
            crate::domain::content::find_many(&s.read_db, &ids)
                .await
                .map_err(gql)?
                .into_iter()
                .map(|d| (d.id, d))
                .collect();
        Ok(ranked
            .into_iter()
            .filter_map(|(id, value)| {
                Some(TopDraft {
                    draft: drafts.remove(&id)?,
                    value,
                })
            })
            .collect())
    }
}

/// The question `Workspace.analytics` answers.
pub async fn answer(
    ctx: &Context<'_>,
    access: &WorkspaceAccess,
    range: DateRange,
    granularity: GranularityEnum,
    metrics: Vec<MetricEnum>,
    integration_ids: Vec<ID>,
) -> Result<Analytics> {
    let integration_ids = integration_ids
        .iter()
        .map(|id| parse_id(id, "integrationIds"))
        .collect::<Result<Vec<_>>>()?;
    let question = Question {
        from: range.from,
        to: range.to,
        granularity: granularity.into(),
        metrics: metrics.into_iter().map(Into::into).collect(),
        integration_ids,
    };
    let report = analytics::report(&state(ctx).read_db, access, &question)
        .await
        .map_err(gql)?;
    Ok(Analytics {
        report,
        question,
        access: access.clone(),
    })
}

#[derive(SimpleObject)]
#[graphql(serial)]
pub struct MetricValue {
    pub metric: MetricEnum,
    pub value: i64,
}

/// How one channel's post did: the latest counts collected.
#[derive(SimpleObject)]
#[graphql(serial)]
pub struct TargetPerformance {
    pub target_id: ID,
    pub metrics: Vec<MetricValue>,
    /// The day the latest counts are from.
    pub collected_on: Option<NaiveDate>,
}

/// How a published draft did, per channel and in sum.
#[derive(SimpleObject)]
#[graphql(serial)]
pub struct DraftPerformance {
    pub totals: Vec<MetricValue>,
    pub targets: Vec<TargetPerformance>,
}

pub async fn performance(ctx: &Context<'_>, draft_id: Uuid) -> Result<DraftPerformance> {
    // Through the request's loader: a page of drafts costs two statements in all.
    let rows = super::loaders::loader(ctx)?
        .load_one(super::loaders::PerformanceOf(draft_id))
        .await?
        .unwrap_or_default();
    let mut totals: std::collections::BTreeMap<Metric, i64> = Default::default();
    let mut targets: Vec<TargetPerformance> = Vec::new();
    for (target, metric, value, day) in rows {
        *totals.entry(metric).or_default() += value;
        let id = ID(target.to_string());
        match targets.iter_mut().find(|t| t.target_id == id) {
            Some(t) => {
                t.metrics.push(MetricValue {
                    metric: metric.into(),
                    value,
                });
                t.collected_on = t.collected_on.max(Some(day));
            }
            None => targets.push(TargetPerformance {
                target_id: id,
                metrics: vec![MetricValue {
                    metric: metric.into(),
                    value,
                }],
                collected_on: Some(day),
            }),
        }
    }
    Ok(DraftPerformance {
        totals: totals
            .into_iter()
            .map(|(metric, value)| MetricValue {
                metric: metric.into(),
                value,
            })
            .collect(),
        targets,
    })
}

/// One value an API client records.
#[derive(InputObject)]
pub struct MetricPointInput {
    pub integration_id: ID,
    /// The post (a draft's target) it counts; omitted for the account.
    pub target_id: Option<ID>,
    pub metric: MetricEnum,
    pub day: NaiveDate,
    pub value: i64,
}

/// When and how a channel's metrics were last pulled.
#[derive(SimpleObject)]
pub struct SyncState {
    /// The last day fully read.
    pub watermark: Option<NaiveDate>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub last_success_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub points_last_run: i32,
}

impl From<crate::domain::entities::sync_states::Model> for SyncState {
    fn from(s: crate::domain::entities::sync_states::Model) -> Self {
        Self {
            watermark: s.watermark,
            last_attempt_at: s.last_attempt_at,
            last_success_at: s.last_success_at,
            last_error: s.last_error,
            points_last_run: s.points_last_run,
        }
    }
}

#[derive(Default)]
pub struct AnalyticsMutation;

#[Object]
impl AnalyticsMutation {
    /// Records metric points (bulk, at most 1,000 per call; ADMIN and OWNER). Idempotent: a
    /// point replaces the one stored for the same channel, post, metric and day. All or
    /// nothing. Returns how many points were written.
    async fn record_metrics(
        &self,
        ctx: &Context<'_>,
        workspace_id: ID,
        points: Vec<MetricPointInput>,
    ) -> Result<i32> {
        let user = current_user(ctx).await?;
        let s = state(ctx);
        let workspace_id = parse_id(&workspace_id, "workspaceId")?;
        let access = workspaces::require_access(&s.db, user.id, workspace_id)
            .await
            .map_err(gql)?;
        access.require(Role::Admin).map_err(gql)?;
        let points = points
            .into_iter()
            .map(|p| {
                Ok(PointInput {
                    integration_id: parse_id(&p.integration_id, "integrationId")?,
                    target_id: p
                        .target_id
                        .as_ref()
                        .map(|t| parse_id(t, "targetId"))
                        .transpose()?,
                    metric: p.metric.into(),
                    day: p.day,
                    value: p.value,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let written = analytics::record(&s.db, &access, points)
            .await
            .map_err(gql)?;
        Ok(written as i32)
    }

    /// Pulls a channel's metrics from its platform now (ADMIN and OWNER).
    async fn sync_integration(&self, ctx: &Context<'_>, id: ID) -> Result<bool> {
        let user = current_user(ctx).await?;
        let s = state(ctx);
        let integration_id = parse_id(&id, "id")?;
        let workspace_id = owner_of(&s.db, Owned::Channel(integration_id))
            .await
            .map_err(gql)?
            .ok_or_else(|| gql(DomainError::NotFound("integration")))?;
        let access = workspaces::access(&s.db, user.id, workspace_id)
            .await
            .map_err(gql)?
            .ok_or_else(|| gql(DomainError::NotFound("integration")))?;
        access.require(Role::Admin).map_err(gql)?;
        crate::domain::channels::sync::enqueue_now(&s.db, integration_id)
            .await
            .map_err(gql)?;
        Ok(true)
    }
}

/// What `GET /analytics/export.csv` takes: the same as `Workspace.analytics`, as query
/// parameters (lists comma-separated).
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportParams {
    workspace_id: String,
    from: String,
    to: String,
    granularity: Option<String>,
    metrics: Option<String>,
    integration_ids: Option<String>,
}

/// `GET /analytics/export.csv`: the series of a range as CSV (`date,start,metric,value`,
/// one row per bucket and metric), for any member of the workspace, with the same
/// Bearer access token as the API.
pub async fn export_csv(
    axum::extract::State(state): axum::extract::State<crate::state::AppState>,
    headers: axum::http::HeaderMap,
    query: Result<axum::extract::Query<ExportParams>, axum::extract::rejection::QueryRejection>,
) -> axum::response::Response {
    use axum::http::{header, StatusCode};
    use axum::response::IntoResponse;
    let refuse = super::error_response;
    let Some(claims) = super::bearer_token(&headers).and_then(|t| state.jwt.verify(t)) else {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            "send a valid access token as Authorization: Bearer",
        );
    };
    let Ok(axum::extract::Query(params)) = query else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "BAD_USER_INPUT",
            "workspaceId, from and to (YYYY-MM-DD) are required",
        );
    };
    let bad = |message: &str| refuse(StatusCode::BAD_REQUEST, "BAD_USER_INPUT", message);
    let Ok(workspace_id) = params.workspace_id.parse::<Uuid>() else {
        return bad("workspaceId is not a valid id");
    };
    let (Ok(from), Ok(to)) = (
        NaiveDate::parse_from_str(&params.from, "%Y-%m-%d"),
        NaiveDate::parse_from_str(&params.to, "%Y-%m-%d"),
    ) else {
        return bad("from and to are days like 2026-11-24");
    };
    let granularity = match params
        .granularity
        .as_deref()
        .map(str::to_ascii_uppercase)
        .as_deref()
    {
        None | Some("DAY") => Granularity::Day,
        Some("WEEK") => Granularity::Week,
        Some("MONTH") => Granularity::Month,
        Some(_) => return bad("granularity is DAY, WEEK or MONTH"),
    };
    let list = |value: &Option<String>| -> Vec<String> {
        value
            .as_deref()
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    };
    let Some(metrics) = list(&params.metrics)
        .iter()
        .map(|m| Metric::parse(&m.to_ascii_uppercase()))
        .collect::<Option<Vec<_>>>()
    else {
        return bad("metrics are names like IMPRESSIONS,LIKES");
    };
    let Ok(integration_ids) = list(&params.integration_ids)
        .iter()
        .map(|id| id.parse::<Uuid>())
        .collect::<Result<Vec<_>, _>>()
    else {
        return bad("integrationIds are channel ids");
    };
    let access = match workspaces::access(&state.read_db, claims.sub, workspace_id).await {
        Ok(Some(access)) => access,
        Ok(None) => return refuse(StatusCode::NOT_FOUND, "NOT_FOUND", "workspace not found"),
        Err(e) => return super::errors::domain_response(e),
    };
    let question = Question {
        from,
        to,
        granularity,
        metrics,
        integration_ids,
    };
    let report = match analytics::report(&state.read_db, &access, &question).await {
        Ok(report) => report,
        Err(e) => return super::errors::domain_response(e),
    };
    let mut csv = String::from("date,start,metric,value\n");
    for series in &report.series {
        for bucket in &series.buckets {
            csv.push_str(&format!(
                "{},{},{},{}\n",
                bucket.date,
                bucket
                    .start
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                series.metric.as_str(),
                bucket.value
            ));
        }
    }
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"analytics-{from}-{to}.csv\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        csv,
    )
        .into_response()
}
