//! Analytics through HTTP: metrics pulled from the fake platform (account series with a
//! watermark, post counts) and recorded by API clients, both idempotent and validated;
//! series filled with zeros in the workspace's time zone across a DST change, totals,
//! change and engagement rate; top drafts and a draft's performance; the CSV export
//! matching the API; roles; restriction pausing the sync.

use std::sync::atomic::Ordering;

use chrono::{Duration, NaiveDate};
use sea_orm::{ActiveModelTrait, EntityTrait, PaginatorTrait, Set};
use serde_json::{json, Value};

use crate::channels::connect;
use crate::fake_provider::{daily_value, FakeProvider, FOLLOWERS, POST_COMMENTS, POST_LIKES};
use crate::helpers::*;
use crate::on_both_databases;
use crate::publishing::{draft_to, schedule_soon, settled, spawn, workspace};
use crate::workspaces::add_member;

const RECORD: &str =
    "mutation($w: ID!, $p: [MetricPointInput!]!) { recordMetrics(workspaceId: $w, points: $p) }";
const SYNC: &str = "mutation($id: ID!) { syncIntegration(id: $id) }";
const ANALYTICS: &str = "query($w: ID!, $from: NaiveDate!, $to: NaiveDate!, $g: Granularity!, $m: [Metric!]!) { workspace(id: $w) { analytics(range: {from: $from, to: $to}, granularity: $g, metrics: $m) { from to timeZone engagementRate previousEngagementRate metrics { metric total previousTotal change points { date start value } } } } }";

async fn point_count(app: &TestApp) -> u64 {
    atelier::domain::entities::metric_points::Entity::find()
        .count(&app.db)
        .await
        .unwrap()
}

async fn sync_states(app: &TestApp, session: &Session, ws: &str) -> Vec<Value> {
    let found = app
        .gql_ok(
            Some(&session.access),
            "query($w: ID!) { workspace(id: $w) { integrations { id provider sync { watermark lastAttemptAt lastSuccessAt lastError pointsLastRun } } } }",
            json!({ "w": ws }),
        )
        .await;
    found["workspace"]["integrations"]
        .as_array()
        .unwrap()
        .clone()
}

/// Asks for a sync of `channel` and waits until its state shows an attempt after `since`.
async fn sync_and_wait(app: &TestApp, session: &Session, ws: &str, channel: &str) -> Value {
    let before = chrono::Utc::now();
    app.gql_ok(Some(&session.access), SYNC, json!({ "id": channel }))
        .await;
    eventually(20, &format!("no sync of {channel}"), move || async move {
        let states = sync_states(app, session, ws).await;
        let state = states.iter().find(|c| c["id"] == channel).unwrap()["sync"].clone();
        let attempted = state["lastAttemptAt"]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .is_some_and(|t| t >= before);
        if attempted {
            Ok(state)
        } else {
            Err(format!("{states:?}"))
        }
    })
    .await
}

fn series<'a>(analytics: &'a Value, metric: &str) -> &'a Value {
    analytics["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["metric"] == metric)
        .unwrap_or_else(|| panic!("no {metric} in {analytics}"))
}

async fn analytics(
    app: &TestApp,
    session: &Session,
    ws: &str,
    from: NaiveDate,
    to: NaiveDate,
    granularity: &str,
    metrics: &[&str],
) -> Value {
    let found = app
        .gql_ok(
            Some(&session.access),
            ANALYTICS,
            json!({ "w": ws, "from": from.to_string(), "to": to.to_string(), "g": granularity, "m": metrics }),
        )
        .await;
    found["workspace"]["analytics"].clone()
}

async fn metrics_are_synced_and_recorded_idempotently(backend: Backend) {
    let fake = FakeProvider::start().await;
    let app = spawn(backend, &fake).await;
    let owner = app
        .signed_in_user("metrics@example.com", "Mia Metrics")
        .await;
    let ws = workspace(&app, &owner, "Metrics Co").await;
    let linkedin = connect(&app, &owner, &ws, "LINKEDIN").await;
    let facebook = connect(&app, &owner, &ws, "FACEBOOK").await;
    let editor = add_member(&app, &owner, &ws, "metrics.ed@example.com", "EDITOR").await;
    let viewer = add_member(&app, &owner, &ws, "metrics.view@example.com", "VIEWER").await;
    let draft = draft_to(
        &app,
        &owner,
        &ws,
        "Counted",
        &[("LINKEDIN", "Count me"), ("FACEBOOK", "Count me too")],
    )
    .await;
    schedule_soon(&app, &owner, &draft).await;
    assert_eq!(settled(&app, &owner, &draft).await["status"], "PUBLISHED");

    // Only ADMIN and up ask for a sync.
    let refused = app
        .gql(Some(&editor.access), SYNC, json!({ "id": linkedin }))
        .await;
    assert_eq!(error_code(&refused).as_deref(), Some("FORBIDDEN"));

    // The first sync reads 28 days of account series and the posts' counts.
    let today = chrono::Utc::now().date_naive();
    let from = today - Duration::days(27);
    for channel in [&linkedin, &facebook] {
        let state = sync_and_wait(&app, &owner, &ws, channel).await;
        assert!(state["lastError"].is_null(), "{state}");
        assert_eq!(state["watermark"], today.to_string());
        assert!(state["pointsLastRun"].as_i64().unwrap() > 0);
    }
    let days: Vec<NaiveDate> = from.iter_days().take_while(|d| *d <= today).collect();
    let report = analytics(
        &app,
        &viewer,
        &ws,
        from,
        today,
        "DAY",
        &["IMPRESSIONS", "REACH", "FOLLOWERS"],
    )
    .await;
    let impressions: i64 = days.iter().map(|d| daily_value(*d, "IMPRESSIONS")).sum();
    // LinkedIn and the Facebook Page both report impressions; only the Page reach.
    assert_eq!(series(&report, "IMPRESSIONS")["total"], 2 * impressions);
    assert_eq!(
        series(&report, "REACH")["total"],
        days.iter().map(|d| daily_value(*d, "REACH")).sum::<i64>()
    );
    assert_eq!(
        series(&report, "FOLLOWERS")["total"],
        2 * FOLLOWERS,
        "a level: the last day's, summed over channels"
    );
    assert_eq!(
        series(&report, "IMPRESSIONS")["points"]
            .as_array()
            .unwrap()
            .len(),
        28
    );

    // Syncing again rewrites the same points: nothing added, nothing changed.
    let stored = point_count(&app).await;
    sync_and_wait(&app, &owner, &ws, &linkedin).await;
    sync_and_wait(&app, &owner, &ws, &facebook).await;
    assert_eq!(point_count(&app).await, stored);
    assert_eq!(
        analytics(
            &app,
            &viewer,
            &ws,
            from,
            today,
            "DAY",
            &["IMPRESSIONS", "REACH", "FOLLOWERS"]
        )
        .await,
        report
    );

    // The draft's performance: each post's latest counts, summed over its channels.
    let found = app
        .gql_ok(Some(&viewer.access), "query($id: ID!) { draft(id: $id) { performance { totals { metric value } targets { targetId collectedOn metrics { metric value } } } } }", json!({ "id": draft }))
        .await;
    let performance = &found["draft"]["performance"];
    let total = |metric: &str| {
        performance["totals"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["metric"] == metric)
            .map(|m| m["value"].as_i64().unwrap())
    };
    assert_eq!(total("LIKES"), Some(2 * POST_LIKES));
    assert_eq!(
        total("COMMENTS"),
        Some(POST_COMMENTS),
        "LinkedIn counts comments; the Page insights here do not"
    );
    assert_eq!(performance["targets"].as_array().unwrap().len(), 2);
    assert_eq!(performance["targets"][0]["collectedOn"], today.to_string());
    let top = app
        .gql_ok(Some(&viewer.access), "query($w: ID!, $from: NaiveDate!, $to: NaiveDate!) { workspace(id: $w) { analytics(range: {from: $from, to: $to}) { topDrafts(metric: LIKES, first: 5) { value draft { id title } } } } }", json!({ "w": ws, "from": from.to_string(), "to": today.to_string() }))
        .await;
    let top = &top["workspace"]["analytics"]["topDrafts"];
    assert_eq!(top.as_array().unwrap().len(), 1);
    assert_eq!(top[0]["draft"]["id"], draft);
    assert_eq!(top[0]["value"], 2 * POST_LIKES);
    // Narrowed to one channel, only that channel's post counts.
    let narrowed = app
        .gql_ok(Some(&viewer.access), "query($w: ID!, $from: NaiveDate!, $to: NaiveDate!, $c: [ID!]!) { workspace(id: $w) { analytics(range: {from: $from, to: $to}, integrationIds: $c) { topDrafts(metric: LIKES) { value } } } }", json!({ "w": ws, "from": from.to_string(), "to": today.to_string(), "c": [facebook] }))
        .await;
    assert_eq!(
        narrowed["workspace"]["analytics"]["topDrafts"][0]["value"],
        POST_LIKES
    );

    // A platform that is down: the error is recorded, the points stay, the job retries.
    fake.platform.fail_metrics.store(true, Ordering::SeqCst);
    let state = sync_and_wait(&app, &owner, &ws, &linkedin).await;
    assert!(
        state["lastError"].as_str().unwrap().contains("503"),
        "{state}"
    );
    assert!(
        state["lastSuccessAt"].is_string(),
        "the last success is kept"
    );
    assert_eq!(point_count(&app).await, stored);
    fake.platform.fail_metrics.store(false, Ordering::SeqCst);

    // Ingest: ADMIN and up; a point per channel, post, metric and day.
    let day = (today - Duration::days(3)).to_string();
    let saves = json!([{ "integrationId": linkedin, "metric": "SAVES", "day": day, "value": 9 }]);
    for session in [&viewer, &editor] {
        let refused = app
            .gql(
                Some(&session.access),
                RECORD,
                json!({ "w": ws, "p": saves }),
            )
            .await;
        assert_eq!(error_code(&refused).as_deref(), Some("FORBIDDEN"));
    }
    let stranger = app.signed_in_user("metrics.out@example.com", "Out").await;
    let refused = app
        .gql(
            Some(&stranger.access),
            RECORD,
            json!({ "w": ws, "p": saves }),
        )
        .await;
    assert_eq!(error_code(&refused).as_deref(), Some("NOT_FOUND"));
    let refused = app.gql(None, RECORD, json!({ "w": ws, "p": saves })).await;
    assert_eq!(error_code(&refused).as_deref(), Some("UNAUTHENTICATED"));
    let written = app
        .gql_ok(Some(&owner.access), RECORD, json!({ "w": ws, "p": saves }))
        .await;
    assert_eq!(written["recordMetrics"], 1);
    let stored = point_count(&app).await;
    app.gql_ok(Some(&owner.access), RECORD, json!({ "w": ws, "p": saves }))
        .await;
    assert_eq!(
        point_count(&app).await,
        stored,
        "the same call twice stores once"
    );
    let corrected =
        json!([{ "integrationId": linkedin, "metric": "SAVES", "day": day, "value": 11 }]);
    app.gql_ok(
        Some(&owner.access),
        RECORD,
        json!({ "w": ws, "p": corrected }),
    )
    .await;
    assert_eq!(point_count(&app).await, stored);
    let report = analytics(&app, &viewer, &ws, from, today, "DAY", &["SAVES"]).await;
    assert_eq!(
        series(&report, "SAVES")["total"],
        11,
        "a correction replaces the value"
    );

    // Invalid points are refused with the reason, and nothing of the call is kept.
    let other_ws = workspace(&app, &stranger, "Elsewhere").await;
    let foreign = connect(&app, &stranger, &other_ws, "LINKEDIN").await;
    let future = (today + Duration::days(5)).to_string();
    let good = json!({ "integrationId": linkedin, "metric": "CLICKS", "day": day, "value": 1 });
    let cases = [
        (
            json!({ "integrationId": linkedin, "metric": "CLICKS", "day": day, "value": -1 }),
            "between 0",
        ),
        (
            json!({ "integrationId": linkedin, "metric": "CLICKS", "day": future, "value": 1 }),
            "not a day",
        ),
        (
            json!({ "integrationId": foreign, "metric": "CLICKS", "day": day, "value": 1 }),
            "not a channel of this workspace",
        ),
        (
            json!({ "integrationId": "not-an-id", "metric": "CLICKS", "day": day, "value": 1 }),
            "integrationId",
        ),
        (
            json!({ "integrationId": linkedin, "targetId": uuid::Uuid::new_v4().to_string(), "metric": "CLICKS", "day": day, "value": 1 }),
            "not a post of this workspace",
        ),
        (good.clone(), "appear twice"),
    ];
    for (bad, why) in cases {
        let refused = app
            .gql(
                Some(&owner.access),
                RECORD,
                json!({ "w": ws, "p": [good, bad] }),
            )
            .await;
        assert_eq!(
            error_code(&refused).as_deref(),
            Some("BAD_USER_INPUT"),
            "{refused}"
        );
        assert!(
            refused["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains(why),
            "{refused}"
        );
        assert_eq!(point_count(&app).await, stored, "all or nothing");
    }
    let too_many: Vec<Value> = (0..1_001).map(|i| json!({ "integrationId": linkedin, "metric": "CLICKS", "day": (today - Duration::days(i % 300)).to_string(), "value": i })).collect();
    let refused = app
        .gql(
            Some(&owner.access),
            RECORD,
            json!({ "w": ws, "p": too_many }),
        )
        .await;
    assert!(
        refused["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("at most 1000"),
        "{refused}"
    );

    // Restriction pauses the sync of the channels the person connected: another admin
    // asks for a sync, and the platform is not even asked.
    let admin = add_member(&app, &owner, &ws, "metrics.admin@example.com", "ADMIN").await;
    let owner_id: uuid::Uuid = owner.user_id.parse().unwrap();
    let mut user: atelier::domain::entities::users::ActiveModel =
        atelier::domain::entities::users::Entity::find_by_id(owner_id)
            .one(&app.db)
            .await
            .unwrap()
            .unwrap()
            .into();
    user.status = Set("RESTRICTED".into());
    user.update(&app.db).await.unwrap();
    let reads = fake.platform.metric_reads.load(Ordering::SeqCst);
    let state = sync_and_wait(&app, &admin, &ws, &linkedin).await;
    assert!(
        state["lastError"].as_str().unwrap().contains("restricted"),
        "{state}"
    );
    assert_eq!(
        fake.platform.metric_reads.load(Ordering::SeqCst),
        reads,
        "the platform was not asked"
    );
    app.stop().await;
}
on_both_databases!(metrics_are_synced_and_recorded_idempotently);

async fn series_are_zero_filled_in_the_workspace_time_zone_and_the_csv_agrees(backend: Backend) {
    let fake = FakeProvider::start().await;
    let app = spawn(backend, &fake).await;
    let owner = app
        .signed_in_user("series@example.com", "Sera Series")
        .await;
    let ws = workspace(&app, &owner, "Series Co").await;
    let viewer = add_member(&app, &owner, &ws, "series.view@example.com", "VIEWER").await;
    let set = app
        .gql(Some(&owner.access), "mutation($w: ID!, $tz: String!) { updateWorkspaceSettings(workspaceId: $w, defaultTimeZone: $tz) { defaultTimeZone } }", json!({ "w": ws, "tz": "Mars/Olympus" }))
        .await;
    assert_eq!(error_code(&set).as_deref(), Some("BAD_USER_INPUT"));
    let refused = app
        .gql(Some(&viewer.access), "mutation($w: ID!, $tz: String!) { updateWorkspaceSettings(workspaceId: $w, defaultTimeZone: $tz) { defaultTimeZone } }", json!({ "w": ws, "tz": "Europe/Berlin" }))
        .await;
    assert_eq!(error_code(&refused).as_deref(), Some("FORBIDDEN"));
    app.gql_ok(Some(&owner.access), "mutation($w: ID!, $tz: String!) { updateWorkspaceSettings(workspaceId: $w, defaultTimeZone: $tz) { defaultTimeZone } }", json!({ "w": ws, "tz": "Europe/Berlin" }))
        .await;
    let linkedin = connect(&app, &owner, &ws, "LINKEDIN").await;
    let facebook = connect(&app, &owner, &ws, "FACEBOOK").await;

    // Berlin moves its clocks forward in the night to Sunday 2026-03-29. Points on
    // Friday and Monday, nothing in between; the week before for comparison.
    let point = |channel: &str, metric: &str, day: &str, value: i64| json!({ "integrationId": channel, "metric": metric, "day": day, "value": value });
    let points = json!([
        point(&linkedin, "IMPRESSIONS", "2026-03-27", 1_000),
        point(&facebook, "IMPRESSIONS", "2026-03-27", 500),
        point(&linkedin, "LIKES", "2026-03-27", 30),
        point(&linkedin, "IMPRESSIONS", "2026-03-30", 2_000),
        point(&linkedin, "COMMENTS", "2026-03-30", 15),
        point(&linkedin, "IMPRESSIONS", "2026-03-24", 1_250),
        point(&linkedin, "LIKES", "2026-03-23", 10),
        point(&linkedin, "FOLLOWERS", "2026-03-26", 90),
        point(&linkedin, "FOLLOWERS", "2026-03-28", 100),
        point(&linkedin, "FOLLOWERS", "2026-03-30", 120),
    ]);
    app.gql_ok(Some(&owner.access), RECORD, json!({ "w": ws, "p": points }))
        .await;
    let from = NaiveDate::from_ymd_opt(2026, 3, 27).unwrap();
    let to = NaiveDate::from_ymd_opt(2026, 3, 31).unwrap();
    let report = analytics(
        &app,
        &viewer,
        &ws,
        from,
        to,
        "DAY",
        &["IMPRESSIONS", "LIKES", "COMMENTS", "FOLLOWERS"],
    )
    .await;
    assert_eq!(report["timeZone"], "Europe/Berlin");
    let impressions = series(&report, "IMPRESSIONS");
    let values: Vec<i64> = impressions["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["value"].as_i64().unwrap())
        .collect();
    assert_eq!(values, [1_500, 0, 0, 2_000, 0], "zero-filled gaps");
    let starts: Vec<String> = impressions["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["start"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        starts,
        [
            "2026-03-26T23:00:00+00:00",
            "2026-03-27T23:00:00+00:00",
            "2026-03-28T23:00:00+00:00",
            "2026-03-29T22:00:00+00:00",
            "2026-03-30T22:00:00+00:00",
        ],
        "local midnights: the Sunday of the change lasts 23 hours"
    );
    assert_eq!(impressions["total"], 3_500);
    // The previous five days (22–26 March) had 1,250.
    assert_eq!(impressions["previousTotal"], 1_250);
    assert!((impressions["change"].as_f64().unwrap() - 1.8).abs() < 1e-9);
    assert_eq!(series(&report, "LIKES")["previousTotal"], 10);
    let followers = series(&report, "FOLLOWERS");
    assert_eq!(followers["total"], 120, "a level: the last value");
    assert_eq!(followers["previousTotal"], 90);
    let rate = report["engagementRate"].as_f64().unwrap();
    assert!((rate - 45.0 / 3_500.0).abs() < 1e-9, "{rate}");
    assert!((report["previousEngagementRate"].as_f64().unwrap() - 10.0 / 1_250.0).abs() < 1e-9);

    // Weeks start on Monday (the first is cut at the range's start); a month is one.
    let weekly = analytics(&app, &viewer, &ws, from, to, "WEEK", &["IMPRESSIONS"]).await;
    let weeks: Vec<(String, i64)> = series(&weekly, "IMPRESSIONS")["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["date"].as_str().unwrap().to_string(),
                p["value"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        weeks,
        [
            ("2026-03-27".to_string(), 1_500),
            ("2026-03-30".to_string(), 2_000)
        ]
    );
    let monthly = analytics(&app, &viewer, &ws, from, to, "MONTH", &["IMPRESSIONS"]).await;
    assert_eq!(
        series(&monthly, "IMPRESSIONS")["points"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Bad ranges are refused.
    for (a, b) in [("2026-03-31", "2026-03-01"), ("2020-01-01", "2026-01-01")] {
        let refused = app
            .gql(
                Some(&viewer.access),
                ANALYTICS,
                json!({ "w": ws, "from": a, "to": b, "g": "DAY", "m": [] }),
            )
            .await;
        assert_eq!(
            error_code(&refused).as_deref(),
            Some("BAD_USER_INPUT"),
            "{refused}"
        );
    }

    // The CSV of the same range adds up to the API's totals, for any member.
    let url = format!("{}/analytics/export.csv?workspaceId={ws}&from={from}&to={to}&metrics=IMPRESSIONS,LIKES,COMMENTS", app.address);
    let response = app
        .http
        .get(&url)
        .bearer_auth(&viewer.access)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    assert!(response.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains("analytics-2026-03-27-2026-03-31.csv"));
    let csv = response.text().await.unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("date,start,metric,value"));
    let rows: Vec<Vec<String>> = lines
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect();
    assert_eq!(rows.len(), 3 * 5);
    for metric in ["IMPRESSIONS", "LIKES", "COMMENTS"] {
        let sum: i64 = rows
            .iter()
            .filter(|r| r[2] == metric)
            .map(|r| r[3].parse::<i64>().unwrap())
            .sum();
        assert_eq!(json!(sum), series(&report, metric)["total"], "{metric}");
    }
    assert!(rows.iter().any(|r| r[0] == "2026-03-30"
        && r[1] == "2026-03-29T22:00:00Z"
        && r[2] == "IMPRESSIONS"
        && r[3] == "2000"));

    // The same access rules: a token, membership, valid parameters.
    assert_eq!(app.http.get(&url).send().await.unwrap().status(), 401);
    assert_eq!(
        app.http
            .get(&url)
            .bearer_auth("forged.token.value")
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let stranger = app.signed_in_user("series.out@example.com", "Out").await;
    assert_eq!(
        app.http
            .get(&url)
            .bearer_auth(&stranger.access)
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    for bad in [
        format!(
            "{}/analytics/export.csv?workspaceId={ws}&from=yesterday&to={to}",
            app.address
        ),
        format!(
            "{}/analytics/export.csv?workspaceId={ws}&from={from}&to={to}&metrics=HEARTS",
            app.address
        ),
        format!(
            "{}/analytics/export.csv?workspaceId={ws}&from={from}&to={to}&granularity=HOUR",
            app.address
        ),
        format!(
            "{}/analytics/export.csv?workspaceId=1%27%20OR%201=1&from={from}&to={to}",
            app.address
        ),
        format!(
            "{}/analytics/export.csv?workspaceId={ws}&from={to}&to={from}",
            app.address
        ),
    ] {
        assert_eq!(
            app.http
                .get(&bad)
                .bearer_auth(&viewer.access)
                .send()
                .await
                .unwrap()
                .status(),
            400,
            "{bad}"
        );
    }
    app.stop().await;
}
on_both_databases!(series_are_zero_filled_in_the_workspace_time_zone_and_the_csv_agrees);

/// The series statement reads only the days it sums: SQLite seeks each metric's first
/// day in the series index and stops at its last, instead of reading every account
/// point the workspace ever had and filtering by day (the plan is SQLite's own account
/// of the index it walks, the same on any machine and at any table size).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_series_statement_seeks_each_metrics_days() {
    use atelier::domain::channels::analytics::series_query;
    use sea_orm::{ConnectionTrait, DatabaseBackend, QueryTrait, Statement};

    let fake = FakeProvider::start().await;
    let app = spawn(Backend::Sqlite, &fake).await;
    let from = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
    let to = NaiveDate::from_ymd_opt(2026, 5, 29).unwrap();
    for channels in [vec![], vec![uuid::Uuid::now_v7(), uuid::Uuid::now_v7()]] {
        let statement =
            series_query(uuid::Uuid::now_v7(), from, to, &channels).build(DatabaseBackend::Sqlite);
        let plan = app
            .db
            .query_all_raw(Statement {
                sql: format!("EXPLAIN QUERY PLAN {}", statement.sql),
                ..statement
            })
            .await
            .unwrap();
        let steps: Vec<String> = plan
            .iter()
            .map(|row| row.try_get::<String>("", "detail").unwrap())
            .collect();
        assert_eq!(
            steps,
            [
                "SEARCH metric_points USING COVERING INDEX idx_metric_points_series \
              (workspace_id=? AND subject=? AND metric=? AND day>? AND day<?)"
            ],
            "one seek per metric to its days, grouped in index order (no temporary b-tree)"
        );
    }
    app.stop().await;
}

/// The audit's request: a hundred aliases of a two-year daily series (45 MB of answer)
/// is refused before it runs, by a cost that grows with the days, metrics and channels
/// asked for; one such series alone is answered. An answer over the size ceiling is
/// never sent.
async fn a_costly_analytics_request_is_refused_before_it_runs(backend: Backend) {
    let app = TestApp::spawn(backend.clone()).await;
    let owner = app.signed_in_user("costly@example.com", "Costly").await;
    let ws = app.create_workspace(&owner, "Costly Co").await;
    let one = |alias: usize| {
        format!("a{alias}: analytics(range: {{ from: \"2024-01-01\", to: \"2025-12-31\" }}) {{ metrics {{ metric points {{ value }} }} }}")
    };
    let post = |query: String| {
        let app = &app;
        let token = owner.access.clone();
        let ws = ws.clone();
        async move {
            let response = app
                .http
                .post(format!("{}/graphql", app.address))
                .bearer_auth(token)
                .json(&json!({ "query": query, "variables": { "w": ws } }))
                .send()
                .await
                .unwrap();
            let ran = response
                .headers()
                .get("x-sql-statements")
                .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
            let status = response.status().as_u16();
            (status, ran, response.text().await.unwrap())
        }
    };
    let hundred: String = (0..100).map(one).collect::<Vec<_>>().join(" ");
    let (status, ran, body) = post(format!(
        "query($w: ID!) {{ workspace(id: $w) {{ {hundred} }} }}"
    ))
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("too complex"), "{body}");
    assert_eq!(ran.unwrap_or(0), 0, "nothing read");
    assert!(body.len() < 1_000);
    // Two already exceed the budget; one is answered in full (731 days of every metric).
    let (status, _, body) = post(format!(
        "query($w: ID!) {{ workspace(id: $w) {{ {} {} }} }}",
        one(0),
        one(1)
    ))
    .await;
    assert_eq!(status, 400, "{body}");
    let (status, _, body) = post(format!(
        "query($w: ID!) {{ workspace(id: $w) {{ {} }} }}",
        one(0)
    ))
    .await;
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    let points = answer["data"]["workspace"]["a0"]["metrics"][0]["points"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(points, 731);
    app.stop().await;

    // With a ceiling below that answer's size, it is refused rather than sent.
    let app = TestApp::spawn_with(backend, |c| c.graphql.max_answer_bytes = 20_000).await;
    let owner = app.signed_in_user("ceiling@example.com", "Ceiling").await;
    let ws = app.create_workspace(&owner, "Ceiling Co").await;
    let response = app
        .http
        .post(format!("{}/graphql", app.address))
        .bearer_auth(&owner.access)
        .json(&json!({ "query": format!("query($w: ID!) {{ workspace(id: $w) {{ {} }} }}", one(0)), "variables": { "w": ws } }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body = response.text().await.unwrap();
    assert!(body.contains("more than the 20000"), "{body}");
    assert!(body.len() < 1_000);
    app.stop().await;
}
on_both_databases!(a_costly_analytics_request_is_refused_before_it_runs);
