//! The list reads a page is made of (drafts, their targets and comments, the people
//! named), behind one trait with two paths on SQLite:
//!
//! - through SeaORM and sqlx, where each SQLite connection runs on its own thread and
//!   every row crosses a channel to the task that asked — a wake-up and a context switch
//!   per row, a third of the dashboard's CPU in the profile of issue 17;
//! - or through rusqlite on the blocking pool (`ATELIER_SQLITE_READ_PATH=rusqlite`, the
//!   default): the statement is built by SeaORM as before, runs whole on one blocking
//!   thread from a pool of read-only connections, and the rows come back at once — one
//!   hop per statement.
//!
//! PostgreSQL always reads through SeaORM. Each statement counts towards the request's
//! statement count on either path.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ValueRef};
use rusqlite::{OpenFlags, Row};
use sea_orm::sea_query::Value;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, FromQueryResult, Statement};
use tokio::sync::Semaphore;

pub use crate::config::SqliteReadPath;
use uuid::Uuid;

/// A row type both paths can read: SeaORM's by column name, and rusqlite's.
pub trait Readable: FromQueryResult + Send + 'static {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self>;
}

/// Where list reads run.
pub trait Reads: Sync {
    fn backend(&self) -> DbBackend;

    /// Every row the statement selects.
    fn all<M: Readable>(
        &self,
        statement: Statement,
    ) -> impl Future<Output = Result<Vec<M>, DbErr>> + Send;
}

/// Any SeaORM connection or transaction reads through SeaORM.
impl<C: ConnectionTrait + Sync> Reads for C {
    fn backend(&self) -> DbBackend {
        self.get_database_backend()
    }

    fn all<M: Readable>(
        &self,
        statement: Statement,
    ) -> impl Future<Output = Result<Vec<M>, DbErr>> + Send {
        M::find_by_statement(statement).all(self)
    }
}

/// The read pool of the GraphQL API: SeaORM's, and on SQLite the rusqlite connections
/// when that path is chosen.
#[derive(Clone)]
pub struct Reader {
    orm: DatabaseConnection,
    sqlite: Option<Arc<SqliteReads>>,
}

impl Reader {
    /// Reads through SeaORM only.
    pub fn orm(orm: DatabaseConnection) -> Self {
        Self { orm, sqlite: None }
    }

    /// Reads for the database at `url`: rusqlite connections beside `orm` when the
    /// database is SQLite and that path is chosen.
    pub fn open(
        url: &str,
        orm: DatabaseConnection,
        path: SqliteReadPath,
        connections: u32,
    ) -> anyhow::Result<Self> {
        let sqlite = match (sqlite_file(url), path) {
            (Some(file), SqliteReadPath::Rusqlite) => Some(Arc::new(SqliteReads::open(
                &file,
                connections.max(1) as usize,
            )?)),
            _ => None,
        };
        Ok(Self { orm, sqlite })
    }

    /// The SeaORM connection the other reads use.
    pub fn connection(&self) -> &DatabaseConnection {
        &self.orm
    }

    /// Which path list reads take.
    pub fn path(&self) -> &'static str {
        match (&self.sqlite, self.backend()) {
            (Some(_), _) => "rusqlite",
            (None, DbBackend::Sqlite) => "sqlx",
            _ => "postgres",
        }
    }
}

impl Reads for Reader {
    fn backend(&self) -> DbBackend {
        self.orm.get_database_backend()
    }

    fn all<M: Readable>(
        &self,
        statement: Statement,
    ) -> impl Future<Output = Result<Vec<M>, DbErr>> + Send {
        let sqlite = self.sqlite.clone();
        let orm = self.orm.clone();
        async move {
            match sqlite {
                Some(reads) => {
                    super::count_statement();
                    reads.all(statement).await
                }
                None => M::find_by_statement(statement).all(&orm).await,
            }
        }
    }
}

/// The SQLite file of a `sqlite:` URL (`sqlite://path?mode=rwc`), or None for another
/// database or an in-memory one.
fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
}

/// Read-only rusqlite connections, one per permit, used on the blocking pool.
pub struct SqliteReads {
    idle: Mutex<Vec<rusqlite::Connection>>,
    permits: Semaphore,
}

impl SqliteReads {
    fn open(file: &Path, connections: usize) -> anyhow::Result<Self> {
        let mut idle = Vec::with_capacity(connections);
        for _ in 0..connections {
            let conn = rusqlite::Connection::open_with_flags(
                file,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            conn.busy_timeout(Duration::from_secs(10))?;
            conn.set_prepared_statement_cache_capacity(1_024);
            idle.push(conn);
        }
        Ok(Self {
            idle: Mutex::new(idle),
            permits: Semaphore::new(connections),
        })
    }

    async fn all<M: Readable>(self: Arc<Self>, statement: Statement) -> Result<Vec<M>, DbErr> {
        let permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| DbErr::Custom(e.to_string()))?;
        let reads = self.clone();
        let rows = tokio::task::spawn_blocking(move || {
            // invariant: a permit is held, so an idle connection is waiting.
            let conn = reads
                .idle
                .lock()
                .map_err(|_| DbErr::Custom("the SQLite read pool is poisoned".into()))?
                .pop()
                .ok_or_else(|| DbErr::Custom("no idle SQLite read connection".into()))?;
            let rows = run::<M>(&conn, &statement);
            if let Ok(mut idle) = reads.idle.lock() {
                idle.push(conn);
            }
            rows
        })
        .await
        .map_err(|e| DbErr::Custom(e.to_string()))?;
        drop(permit);
        rows
    }
}

fn run<M: Readable>(conn: &rusqlite::Connection, statement: &Statement) -> Result<Vec<M>, DbErr> {
    let query = |e: rusqlite::Error| DbErr::Custom(format!("SQLite read: {e}"));
    let values = match &statement.values {
        Some(values) => values
            .0
            .iter()
            .map(parameter)
            .collect::<Result<Vec<_>, _>>()?,
        None => Vec::new(),
    };
    let mut prepared = conn.prepare_cached(&statement.sql).map_err(query)?;
    let rows = prepared
        .query_map(rusqlite::params_from_iter(values.iter()), |row| {
            M::from_row(row)
        })
        .map_err(query)?;
    rows.collect::<Result<Vec<M>, _>>().map_err(query)
}

/// A SeaORM value as sqlx binds it on SQLite: ids as 16-byte blobs, instants as RFC 3339
/// text, booleans as integers.
fn parameter(value: &Value) -> Result<rusqlite::types::Value, DbErr> {
    use rusqlite::types::Value as Sql;
    let text = |s: String| Sql::Text(s);
    Ok(match value {
        Value::Bool(v) => v.map_or(Sql::Null, |b| Sql::Integer(b as i64)),
        Value::TinyInt(v) => v.map_or(Sql::Null, |n| Sql::Integer(n.into())),
        Value::SmallInt(v) => v.map_or(Sql::Null, |n| Sql::Integer(n.into())),
        Value::Int(v) => v.map_or(Sql::Null, |n| Sql::Integer(n.into())),
        Value::BigInt(v) => v.map_or(Sql::Null, Sql::Integer),
        Value::TinyUnsigned(v) => v.map_or(Sql::Null, |n| Sql::Integer(n.into())),
        Value::SmallUnsigned(v) => v.map_or(Sql::Null, |n| Sql::Integer(n.into())),
        Value::Unsigned(v) => v.map_or(Sql::Null, |n| Sql::Integer(n.into())),
        Value::BigUnsigned(v) => match v {
            Some(n) => Sql::Integer(
                i64::try_from(*n).map_err(|e| DbErr::Custom(format!("SQLite read: {e}")))?,
            ),
            None => Sql::Null,
        },
        Value::Float(v) => v.map_or(Sql::Null, |n| Sql::Real(n.into())),
        Value::Double(v) => v.map_or(Sql::Null, Sql::Real),
        Value::String(v) => v.clone().map_or(Sql::Null, text),
        Value::Char(v) => v.map_or(Sql::Null, |c| Sql::Text(c.to_string())),
        Value::Bytes(v) => v.clone().map_or(Sql::Null, Sql::Blob),
        Value::Uuid(v) => v.map_or(Sql::Null, |u| Sql::Blob(u.as_bytes().to_vec())),
        Value::ChronoDateTimeUtc(v) => v.map_or(Sql::Null, |t| {
            Sql::Text(t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false))
        }),
        other => {
            return Err(DbErr::Custom(format!(
                "SQLite read: no rusqlite binding for {other:?}"
            )))
        }
    })
}

/// An id column: a 16-byte blob as sqlx writes it (or hyphenated text).
pub struct Id(pub Uuid);

impl FromSql for Id {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        match value {
            ValueRef::Blob(bytes) => Uuid::from_slice(bytes)
                .map(Id)
                .map_err(|e| FromSqlError::Other(Box::new(e))),
            ValueRef::Text(text) => std::str::from_utf8(text)
                .map_err(|e| FromSqlError::Other(Box::new(e)))
                .and_then(|t| Uuid::parse_str(t).map_err(|e| FromSqlError::Other(Box::new(e))))
                .map(Id),
            _ => Err(FromSqlError::InvalidType),
        }
    }
}

/// An instant column: RFC 3339 text as sqlx writes it (`2026-12-01T16:07:24.786045+00:00`),
/// or SQLite's own `YYYY-MM-DD HH:MM:SS[.fff]` in UTC.
pub struct Instant(pub DateTime<Utc>);

impl FromSql for Instant {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let text = value.as_str()?;
        if let Ok(t) = DateTime::parse_from_rfc3339(text) {
            return Ok(Instant(t.with_timezone(&Utc)));
        }
        if let Ok(t) = DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f%:z") {
            return Ok(Instant(t.with_timezone(&Utc)));
        }
        chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f")
            .map(|t| Instant(t.and_utc()))
            .map_err(|e| FromSqlError::Other(Box::new(e)))
    }
}

/// Reads id column `name`.
pub fn id(row: &Row<'_>, name: &str) -> rusqlite::Result<Uuid> {
    Ok(row.get::<_, Id>(name)?.0)
}

/// Reads nullable id column `name`.
pub fn maybe_id(row: &Row<'_>, name: &str) -> rusqlite::Result<Option<Uuid>> {
    Ok(row.get::<_, Option<Id>>(name)?.map(|i| i.0))
}

/// Reads instant column `name`.
pub fn instant(row: &Row<'_>, name: &str) -> rusqlite::Result<DateTime<Utc>> {
    Ok(row.get::<_, Instant>(name)?.0)
}

/// Reads nullable instant column `name`.
pub fn maybe_instant(row: &Row<'_>, name: &str) -> rusqlite::Result<Option<DateTime<Utc>>> {
    Ok(row.get::<_, Option<Instant>>(name)?.map(|i| i.0))
}

// The rows the list reads return, read by column name as SeaORM reads them.

use crate::domain::entities::{draft_targets, drafts};

impl Readable for drafts::Model {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: id(row, "id")?,
            workspace_id: id(row, "workspace_id")?,
            author_id: maybe_id(row, "author_id")?,
            title: row.get("title")?,
            body: row.get("body")?,
            tags: row.get("tags")?,
            status: row.get("status")?,
            version: row.get("version")?,
            scheduled_at: maybe_instant(row, "scheduled_at")?,
            time_zone: row.get("time_zone")?,
            origin: row.get("origin")?,
            created_at: instant(row, "created_at")?,
            updated_at: instant(row, "updated_at")?,
        })
    }
}

impl Readable for draft_targets::Model {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: id(row, "id")?,
            draft_id: id(row, "draft_id")?,
            provider: row.get("provider")?,
            integration_id: maybe_id(row, "integration_id")?,
            title: row.get("title")?,
            body: row.get("body")?,
            origin: row.get("origin")?,
            status: row.get("status")?,
            provider_post_id: row.get("provider_post_id")?,
            url: row.get("url")?,
            published_at: maybe_instant(row, "published_at")?,
            created_at: instant(row, "created_at")?,
            updated_at: instant(row, "updated_at")?,
        })
    }
}

impl Readable for crate::domain::accounts::Person {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: id(row, "id")?,
            email: row.get("email")?,
            display_name: row.get("display_name")?,
            email_verified_at: maybe_instant(row, "email_verified_at")?,
            locale: row.get("locale")?,
            time_zone: row.get("time_zone")?,
            status: row.get("status")?,
            mention_emails: row.get("mention_emails")?,
            created_at: instant(row, "created_at")?,
        })
    }
}

impl Readable for crate::domain::comments::SummaryRow {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: id(row, "id")?,
            draft_id: id(row, "draft_id")?,
            parent_id: maybe_id(row, "parent_id")?,
            author_id: maybe_id(row, "author_id")?,
            body: row.get("body")?,
            mentions: row.get("mentions")?,
            resolved_at: maybe_instant(row, "resolved_at")?,
            resolved_by: maybe_id(row, "resolved_by")?,
            edited_at: maybe_instant(row, "edited_at")?,
            deleted_at: maybe_instant(row, "deleted_at")?,
            created_at: instant(row, "created_at")?,
            total: row.get("total")?,
        })
    }
}
