//! How channels performed: metric points keyed by (channel, post or account, metric,
//! day), written by the sync job and by API clients, idempotently; and the questions the
//! app asks of them — series filled with zeros in the workspace's time zone, totals,
//! change against the previous period, engagement rate, top drafts.

mod recording;
use self::recording::time_zone_of;
pub use self::recording::{record, upsert, NewPoint, PointInput, Source};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Metric {
    Impressions,
    Reach,
    Views,
    Likes,
    Comments,
    Shares,
    Saves,
    Clicks,
    Followers,
}

impl Metric {
    pub const ALL: [Metric; 9] = [
        Self::Impressions,
        Self::Reach,
        Self::Views,
        Self::Likes,
        Self::Comments,
        Self::Shares,
        Self::Saves,
        Self::Clicks,
        Self::Followers,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Impressions => "IMPRESSIONS",
            Self::Reach => "REACH",
            Self::Views => "VIEWS",
            Self::Likes => "LIKES",
            Self::Comments => "COMMENTS",
            Self::Shares => "SHARES",
            Self::Saves => "SAVES",
            Self::Clicks => "CLICKS",
            Self::Followers => "FOLLOWERS",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == value)
    }

    /// FOLLOWERS is a level (how many on that day), not a count of events: it is not
    /// added up over days, the last value of a period stands for it.
    pub fn is_level(self) -> bool {
        self == Self::Followers
    }

    /// The interactions counted by the engagement rate.
    pub fn is_engagement(self) -> bool {
        matches!(
            self,
            Self::Likes | Self::Comments | Self::Shares | Self::Saves | Self::Clicks
        )
    }
}

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, QueryFilter, QuerySelect, Select,
    Statement,
};
use uuid::Uuid;

use crate::domain::entities::{draft_targets, metric_points};
use crate::domain::workspace::workspaces::WorkspaceAccess;
use crate::error::{DomainError, DomainResult};

/// Points one `recordMetrics` call may carry.
pub const MAX_POINTS_PER_CALL: usize = 1_000;
/// The longest range one question may span.
pub const MAX_RANGE_DAYS: i64 = 731;
/// The largest value a point may hold.
pub const MAX_VALUE: i64 = 1_000_000_000_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Granularity {
    Day,
    Week,
    Month,
}

/// One bucket of a series: its first day (in the workspace's time zone), the instant
/// that day starts there, and the value.
#[derive(Clone, Debug, PartialEq)]
pub struct Bucket {
    pub date: NaiveDate,
    pub start: DateTime<Utc>,
    pub value: i64,
}

#[derive(Clone, Debug)]
pub struct Series {
    pub metric: Metric,
    pub buckets: Vec<Bucket>,
    /// Summed over the range; for levels (followers), the last value.
    pub total: i64,
    pub previous_total: i64,
}

impl Series {
    /// The change against the previous period of the same length, as a fraction; none
    /// when the previous period had nothing.
    pub fn change(&self) -> Option<f64> {
        (self.previous_total != 0)
            .then(|| (self.total - self.previous_total) as f64 / self.previous_total as f64)
    }
}

#[derive(Clone, Debug)]
pub struct Report {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub time_zone: String,
    pub series: Vec<Series>,
    /// Interactions (likes, comments, shares, saves, clicks) per impression.
    pub engagement_rate: Option<f64>,
    pub previous_engagement_rate: Option<f64>,
}

/// What a question asks.
#[derive(Clone, Debug)]
pub struct Question {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub granularity: Granularity,
    /// Empty means every metric.
    pub metrics: Vec<Metric>,
    /// Empty means every channel.
    pub integration_ids: Vec<Uuid>,
}

fn check_range(from: NaiveDate, to: NaiveDate) -> DomainResult<i64> {
    if from > to {
        return Err(DomainError::bad_input("the range starts after it ends"));
    }
    let days = (to - from).num_days() + 1;
    if days > MAX_RANGE_DAYS {
        return Err(DomainError::bad_input(format!(
            "a range spans at most {MAX_RANGE_DAYS} days"
        )));
    }
    Ok(days)
}

/// The first day of the bucket `day` falls in.
fn bucket_of(day: NaiveDate, granularity: Granularity, from: NaiveDate) -> NaiveDate {
    let first = match granularity {
        Granularity::Day => day,
        Granularity::Week => day - Duration::days(day.weekday().num_days_from_monday() as i64),
        Granularity::Month => day.with_day(1).unwrap_or(day),
    };
    first.max(from)
}

/// The instant a day starts in a time zone (the first instant that exists, where
/// midnight falls in a DST gap).
pub fn day_start(day: NaiveDate, tz: chrono_tz::Tz) -> DateTime<Utc> {
    let mut local = day.and_time(chrono::NaiveTime::MIN);
    for _ in 0..4 {
        if let Some(at) = tz.from_local_datetime(&local).earliest() {
            return at.with_timezone(&Utc);
        }
        local += Duration::minutes(30);
    }
    local.and_utc()
}

/// Daily account-level sums per metric for a workspace between two days (inclusive):
/// one statement, answered from the series index (workspace, subject, metric, day). The
/// metrics are named, so that each is one seek to its first day and a read to its last:
/// without them the day range cannot use the index behind `metric`, and every point
/// the workspace ever had is read and filtered (3 years of history: 6 times the rows).
pub fn series_query(
    workspace_id: Uuid,
    from: NaiveDate,
    to: NaiveDate,
    integration_ids: &[Uuid],
) -> Select<metric_points::Entity> {
    let mut query = metric_points::Entity::find()
        .select_only()
        .column(metric_points::Column::Metric)
        .column(metric_points::Column::Day)
        .column_as(Expr::cust("CAST(SUM(value) AS BIGINT)"), "total")
        .filter(metric_points::Column::WorkspaceId.eq(workspace_id))
        .filter(metric_points::Column::Subject.eq(""))
        .filter(metric_points::Column::Metric.is_in(Metric::ALL.map(Metric::as_str)))
        .filter(metric_points::Column::Day.between(from, to));
    if !integration_ids.is_empty() {
        query = query
            .filter(metric_points::Column::IntegrationId.is_in(integration_ids.iter().copied()));
    }
    query
        .group_by(metric_points::Column::Metric)
        .group_by(metric_points::Column::Day)
}

async fn daily_sums(
    conn: &impl ConnectionTrait,
    workspace_id: Uuid,
    from: NaiveDate,
    to: NaiveDate,
    integration_ids: &[Uuid],
) -> DomainResult<Vec<(String, NaiveDate, i64)>> {
    Ok(series_query(workspace_id, from, to, integration_ids)
        .into_tuple::<(String, NaiveDate, i64)>()
        .all(conn)
        .await?)
}

fn engagement(totals: &HashMap<Metric, i64>) -> Option<f64> {
    let impressions = totals
        .get(&Metric::Impressions)
        .copied()
        .unwrap_or_default();
    let interactions: i64 = totals
        .iter()
        .filter(|(m, _)| m.is_engagement())
        .map(|(_, v)| *v)
        .sum();
    (impressions > 0).then(|| interactions as f64 / impressions as f64)
}

/// Daily values of every metric from a first day, one slot per metric and day (none where
/// nothing was recorded): a lookup is an index, not a hash of (metric, day).
struct Daily {
    first: NaiveDate,
    days: usize,
    values: Vec<Option<i64>>,
}

impl Daily {
    fn new(first: NaiveDate, last: NaiveDate, rows: Vec<(String, NaiveDate, i64)>) -> Self {
        let days = ((last - first).num_days() + 1).max(0) as usize;
        let mut values = vec![None; Metric::ALL.len() * days];
        for (metric, day, value) in rows {
            let (Some(metric), Some(offset)) =
                (Metric::parse(&metric), Self::offset(first, days, day))
            else {
                continue;
            };
            values[Self::slot(metric) * days + offset] = Some(value);
        }
        Self {
            first,
            days,
            values,
        }
    }

    fn slot(metric: Metric) -> usize {
        Metric::ALL.iter().position(|m| *m == metric).unwrap_or(0)
    }

    fn offset(first: NaiveDate, days: usize, day: NaiveDate) -> Option<usize> {
        usize::try_from((day - first).num_days())
            .ok()
            .filter(|o| *o < days)
    }

    fn get(&self, metric: Metric, day: NaiveDate) -> Option<i64> {
        let offset = Self::offset(self.first, self.days, day)?;
        self.values[Self::slot(metric) * self.days + offset]
    }
}

/// Sums (or, for levels, the last value) of each metric over `from..=to`.
fn totals(daily: &Daily, from: NaiveDate, to: NaiveDate) -> HashMap<Metric, i64> {
    let mut out = HashMap::new();
    for metric in Metric::ALL {
        let days = from.iter_days().take_while(|d| *d <= to);
        let value = if metric.is_level() {
            days.filter_map(|d| daily.get(metric, d))
                .last()
                .unwrap_or_default()
        } else {
            days.filter_map(|d| daily.get(metric, d)).sum()
        };
        out.insert(metric, value);
    }
    out
}

/// The workspace's performance over a range: per metric a series filled with zeros in
/// buckets of the workspace's time zone, the total and the previous period's, and the
/// engagement rate. Any member may ask.
pub async fn report(
    conn: &impl ConnectionTrait,
    access: &WorkspaceAccess,
    question: &Question,
) -> DomainResult<Report> {
    let days = check_range(question.from, question.to)?;
    let tz = time_zone_of(access);
    let previous_from = question.from - Duration::days(days);
    let previous_to = question.from - Duration::days(1);
    let rows = daily_sums(
        conn,
        access.workspace_id(),
        previous_from,
        question.to,
        &question.integration_ids,
    )
    .await?;
    let daily = Daily::new(previous_from, question.to, rows);
    let current = totals(&daily, question.from, question.to);
    let previous = totals(&daily, previous_from, previous_to);
    let metrics = if question.metrics.is_empty() {
        Metric::ALL.to_vec()
    } else {
        let mut m = question.metrics.clone();
        m.sort();
        m.dedup();
        m
    };
    // The buckets (each day's bucket, and when each bucket starts in the time zone) are
    // the same for every metric: worked out once.
    let range: Vec<NaiveDate> = question
        .from
        .iter_days()
        .take_while(|d| *d <= question.to)
        .collect();
    let mut starts: BTreeMap<NaiveDate, DateTime<Utc>> = BTreeMap::new();
    let mut bucket_index: Vec<usize> = Vec::with_capacity(range.len());
    for day in &range {
        let key = bucket_of(*day, question.granularity, question.from);
        starts.entry(key).or_insert_with(|| day_start(key, tz));
        bucket_index.push(starts.len() - 1);
    }
    let series = metrics
        .into_iter()
        .map(|metric| {
            let mut values: Vec<Option<i64>> = vec![None; starts.len()];
            for (day, index) in range.iter().zip(&bucket_index) {
                if let Some(v) = daily.get(metric, *day) {
                    let slot = &mut values[*index];
                    *slot = Some(if metric.is_level() {
                        v
                    } else {
                        slot.unwrap_or_default() + v
                    });
                }
            }
            Series {
                metric,
                buckets: starts
                    .iter()
                    .zip(values)
                    .map(|((date, start), value)| Bucket {
                        date: *date,
                        start: *start,
                        value: value.unwrap_or_default(),
                    })
                    .collect(),
                total: current[&metric],
                previous_total: previous[&metric],
            }
        })
        .collect();
    Ok(Report {
        from: question.from,
        to: question.to,
        time_zone: tz.name().to_string(),
        series,
        engagement_rate: engagement(&current),
        previous_engagement_rate: engagement(&previous),
    })
}

/// Rewrites `?` placeholders as `$1, $2, …` for PostgreSQL.
fn numbered(backend: DatabaseBackend, sql: &str) -> String {
    if backend != DatabaseBackend::Postgres {
        return sql.to_string();
    }
    let mut out = String::with_capacity(sql.len() + 8);
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push_str(&format!("${n}"));
        } else {
            out.push(c);
        }
    }
    out
}

/// The drafts published in the range that did best on `metric`: each post's latest
/// value, summed over a draft's channels (those of `question.integration_ids`, when
/// given). Best first.
pub async fn top_drafts(
    conn: &impl ConnectionTrait,
    access: &WorkspaceAccess,
    question: &Question,
    metric: Metric,
    first: u64,
) -> DomainResult<Vec<(Uuid, i64)>> {
    let (from, to) = (question.from, question.to);
    check_range(from, to)?;
    let tz = time_zone_of(access);
    let backend = conn.get_database_backend();
    let channels = &question.integration_ids;
    let only_channels = if channels.is_empty() {
        String::new()
    } else {
        format!(
            " AND mp.integration_id IN ({})",
            vec!["?"; channels.len()].join(", ")
        )
    };
    let sql = numbered(
        backend,
        &format!(
            "SELECT t.draft_id, CAST(SUM(mp.value) AS BIGINT) AS total \
             FROM metric_points mp \
             JOIN (SELECT target_id, MAX(day) AS last_day FROM metric_points \
                   WHERE workspace_id = ? AND subject <> '' AND metric = ? AND day <= ? \
                   GROUP BY target_id) latest \
               ON latest.target_id = mp.target_id AND latest.last_day = mp.day \
             JOIN draft_targets t ON t.id = mp.target_id \
             WHERE mp.metric = ? AND t.published_at >= ? AND t.published_at < ?{only_channels} \
             GROUP BY t.draft_id ORDER BY total DESC, t.draft_id LIMIT ?"
        ),
    );
    let mut values: Vec<sea_orm::Value> = vec![
        access.workspace_id().into(),
        metric.as_str().into(),
        to.into(),
        metric.as_str().into(),
        day_start(from, tz).into(),
        day_start(to + Duration::days(1), tz).into(),
    ];
    values.extend(channels.iter().map(|id| sea_orm::Value::from(*id)));
    values.push((first.clamp(1, 100) as i64).into());
    let statement = Statement::from_sql_and_values(backend, sql, values);
    let rows = conn.query_all_raw(statement).await?;
    rows.into_iter()
        .map(|row| {
            Ok((
                row.try_get::<Uuid>("", "draft_id")?,
                row.try_get::<i64>("", "total")?,
            ))
        })
        .collect()
}

/// One channel's latest value of one metric: target, metric, value, day collected.
pub type LatestValue = (Uuid, Metric, i64, NaiveDate);

/// The performance of many drafts in two statements, whatever their number: their
/// targets, then only the latest point of each target and metric (the history before
/// it is not read). Every asked draft has an entry.
pub async fn performance_of(
    conn: &impl ConnectionTrait,
    draft_ids: &[Uuid],
) -> DomainResult<HashMap<Uuid, Vec<LatestValue>>> {
    let mut out: HashMap<Uuid, Vec<LatestValue>> =
        draft_ids.iter().map(|d| (*d, Vec::new())).collect();
    if draft_ids.is_empty() {
        return Ok(out);
    }
    let targets: HashMap<Uuid, Uuid> = draft_targets::Entity::find()
        .select_only()
        .column(draft_targets::Column::Id)
        .column(draft_targets::Column::DraftId)
        .filter(draft_targets::Column::DraftId.is_in(draft_ids.iter().copied()))
        .into_tuple::<(Uuid, Uuid)>()
        .all(conn)
        .await?
        .into_iter()
        .collect();
    if targets.is_empty() {
        return Ok(out);
    }
    let ids: Vec<Uuid> = targets.keys().copied().collect();
    use sea_orm::sea_query::ExprTrait;
    // (target, metric, day) of each series' latest point.
    let latest = sea_orm::sea_query::Query::select()
        .column(metric_points::Column::TargetId)
        .column(metric_points::Column::Metric)
        .expr(Expr::col(metric_points::Column::Day).max())
        .from(metric_points::Entity)
        .and_where(Expr::col(metric_points::Column::TargetId).is_in(ids.iter().copied()))
        .group_by_col(metric_points::Column::TargetId)
        .group_by_col(metric_points::Column::Metric)
        .to_owned();
    let latest_only = Expr::tuple([
        Expr::col(metric_points::Column::TargetId),
        Expr::col(metric_points::Column::Metric),
        Expr::col(metric_points::Column::Day),
    ])
    .in_subquery(latest);
    let points = metric_points::Entity::find()
        .filter(metric_points::Column::TargetId.is_in(ids.iter().copied()))
        .filter(latest_only)
        .all(conn)
        .await?;
    for p in points {
        let (Some(target), Some(metric)) = (p.target_id, Metric::parse(&p.metric)) else {
            continue;
        };
        if let Some(draft) = targets.get(&target) {
            out.entry(*draft)
                .or_default()
                .push((target, metric, p.value, p.day));
        }
    }
    for values in out.values_mut() {
        values.sort_by_key(|(t, m, _, _)| (*t, *m));
    }
    Ok(out)
}
