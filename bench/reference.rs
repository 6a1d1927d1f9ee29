//! The reference the dashboard benchmark compares Atelier with: the workspace dashboard
//! query answered by one hand-written axum handler over sqlx, without GraphQL — the
//! same bearer-token check (Atelier's own JWT keys from the data directory), the same
//! five SQL statements reading only the columns the answer needs, and the same JSON.
//!
//! `bench/run` builds it (`cargo build --release --example reference`), starts it on the
//! benchmark's database beside the server, checks that both give the same answer, and
//! prints Atelier's throughput as a share of this one's.
//!
//!   ATELIER_DATA_DIR=… ATELIER_REFERENCE_LISTEN=127.0.0.1:18081 reference

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use sea_orm::sqlx::{self, Row, SqlitePool};
use secrecy::SecretString;
use serde_json::{json, Value};
use uuid::Uuid;

use atelier::crypto::jwt::JwtKeys;

/// Comments read per draft, as Atelier's loader reads them (it answers any count up to
/// ten from one read); the dashboard shows three.
const LATEST: usize = 10;
const SHOWN: usize = 3;
const PAGE: usize = 20;

/// A draft's comment count and its latest comments (body, author), newest first.
type Comments = (i64, Vec<(String, Option<Uuid>)>);

struct Reference {
    pool: SqlitePool,
    jwt: JwtKeys,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let data = std::path::PathBuf::from(
        std::env::var("ATELIER_DATA_DIR").unwrap_or_else(|_| "data".into()),
    );
    let listen =
        std::env::var("ATELIER_REFERENCE_LISTEN").unwrap_or_else(|_| "127.0.0.1:18081".into());
    let readers: u32 = std::env::var("ATELIER_SQLITE_READERS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(4);
    let secret = std::fs::read_to_string(data.join("keys/jwt_secret"))?;
    let jwt = JwtKeys::new(
        &SecretString::from(secret.trim().to_string()),
        chrono::Duration::minutes(15),
    );
    let options = SqliteConnectOptions::new()
        .filename(data.join("atelier.sqlite"))
        .journal_mode(SqliteJournalMode::Wal)
        .read_only(true)
        .statement_cache_capacity(1_024);
    let pool = SqlitePoolOptions::new()
        .max_connections(readers)
        .connect_with(options)
        .await?;
    let app = Router::new()
        .route("/graphql", post(dashboard))
        .with_state(Arc::new(Reference { pool, jwt }));
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    axum::serve(listener, app).await?;
    Ok(())
}

fn refuse(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "errors": [{ "message": message }] }))).into_response()
}

async fn dashboard(
    State(app): State<Arc<Reference>>,
    headers: HeaderMap,
    Json(request): Json<Value>,
) -> Response {
    let claims = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .and_then(|token| app.jwt.verify(token));
    let Some(claims) = claims else {
        return refuse(StatusCode::UNAUTHORIZED, "unauthenticated");
    };
    let Some(workspace) = request["variables"]["w"]
        .as_str()
        .and_then(|w| Uuid::parse_str(w).ok())
    else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "variables.w must be a workspace id",
        );
    };
    match answer(&app.pool, claims.sub, workspace).await {
        Ok(Some(data)) => Json(json!({ "data": data })).into_response(),
        Ok(None) => refuse(StatusCode::OK, "not a member of this workspace"),
        Err(e) => refuse(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

async fn answer(pool: &SqlitePool, user: Uuid, workspace: Uuid) -> sqlx::Result<Option<Value>> {
    // 1. The membership and the workspace's name.
    let Some(member) = sqlx::query(
        "SELECT m.role, w.name FROM memberships m JOIN workspaces w ON w.id = m.workspace_id \
         WHERE m.workspace_id = ? AND m.user_id = ? LIMIT 1",
    )
    .bind(workspace)
    .bind(user)
    .fetch_optional(pool)
    .await?
    else {
        return Ok(None);
    };
    let role: String = member.try_get(0)?;
    let name: String = member.try_get(1)?;

    // 2. The page of drafts, newest first, one more than the page to know if another follows.
    let rows = sqlx::query(
        "SELECT id, author_id, title, status FROM drafts WHERE workspace_id = ? \
         ORDER BY id DESC LIMIT ?",
    )
    .bind(workspace)
    .bind(PAGE as i64 + 1)
    .fetch_all(pool)
    .await?;
    let has_next = rows.len() > PAGE;
    let mut drafts = Vec::with_capacity(PAGE);
    for row in rows.iter().take(PAGE) {
        let id: Uuid = row.try_get(0)?;
        let author: Option<Uuid> = row.try_get(1)?;
        let title: String = row.try_get(2)?;
        let status: String = row.try_get(3)?;
        drafts.push((id, author, title, status));
    }
    let ids: Vec<Uuid> = drafts.iter().map(|d| d.0).collect();
    let list = |n: usize| vec!["?"; n].join(", ");

    // 3. Their targets' platforms.
    let mut targets: HashMap<Uuid, Vec<String>> = HashMap::new();
    if !ids.is_empty() {
        let sql = format!(
            "SELECT draft_id, provider FROM draft_targets WHERE draft_id IN ({}) \
             ORDER BY draft_id, id",
            list(ids.len())
        );
        // Placeholders only: the values are bound.
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for id in &ids {
            query = query.bind(*id);
        }
        for row in query.fetch_all(pool).await? {
            targets
                .entry(row.try_get(0)?)
                .or_default()
                .push(row.try_get(1)?);
        }
    }

    // 4. Each draft's comment count and latest comments, in one statement.
    let mut comments: HashMap<Uuid, Comments> = HashMap::new();
    if !ids.is_empty() {
        let one = format!(
            "SELECT * FROM (SELECT draft_id, author_id, body, (SELECT COUNT(*) FROM comments AS counted \
             WHERE counted.draft_id = ? AND counted.deleted_at IS NULL) AS total FROM comments \
             WHERE draft_id = ? AND deleted_at IS NULL ORDER BY id DESC LIMIT {LATEST})"
        );
        let sql = vec![one; ids.len()].join(" UNION ALL ");
        // Placeholders only: the values are bound.
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for id in &ids {
            query = query.bind(*id).bind(*id);
        }
        for row in query.fetch_all(pool).await? {
            let entry = comments.entry(row.try_get(0)?).or_default();
            entry.0 = row.try_get(3)?;
            entry.1.push((row.try_get(2)?, row.try_get(1)?));
        }
    }

    // 5. The names of the authors of the drafts and of the comments shown.
    let mut people: Vec<Uuid> = drafts.iter().filter_map(|d| d.1).collect();
    for (_, latest) in comments.values() {
        people.extend(latest.iter().take(SHOWN).filter_map(|c| c.1));
    }
    people.sort_unstable();
    people.dedup();
    let mut names: HashMap<Uuid, String> = HashMap::new();
    if !people.is_empty() {
        let sql = format!(
            "SELECT id, display_name FROM users WHERE id IN ({})",
            list(people.len())
        );
        // Placeholders only: the values are bound.
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for id in &people {
            query = query.bind(*id);
        }
        for row in query.fetch_all(pool).await? {
            names.insert(row.try_get(0)?, row.try_get(1)?);
        }
    }
    let person = |id: &Option<Uuid>| match id.and_then(|id| names.get(&id)) {
        Some(name) => json!({ "displayName": name }),
        None => Value::Null,
    };

    let cursor = |id: &Uuid| URL_SAFE_NO_PAD.encode(id.to_string());
    let edges: Vec<Value> = drafts
        .iter()
        .map(|(id, author, title, status)| {
            let (count, latest) = comments.get(id).cloned().unwrap_or_default();
            json!({ "node": {
                "id": id.to_string(),
                "title": title,
                "status": status,
                "author": person(author),
                "targets": targets.get(id).into_iter().flatten().map(|p| json!({ "provider": p })).collect::<Vec<_>>(),
                "commentCount": count,
                "lastComments": latest.iter().take(SHOWN).map(|(body, author)| json!({ "body": body, "author": person(author) })).collect::<Vec<_>>(),
            } })
        })
        .collect();
    Ok(Some(json!({ "workspace": {
        "name": name,
        "myRole": role,
        "drafts": {
            "edges": edges,
            "pageInfo": { "hasNextPage": has_next, "endCursor": drafts.last().map(|d| cursor(&d.0)) },
        },
    } })))
}
