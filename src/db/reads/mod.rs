//! The reads a page is made of (drafts, their targets, revisions, workflow and comments,
//! the people named, the caller's access), behind one trait with two paths on SQLite:
//!
//! - through SeaORM and sqlx, where each SQLite connection runs on its own thread and
//!   every row crosses a channel to the task that asked — a wake-up and a context switch
//!   per row, a third of the dashboard's CPU in the profile of issue 17;
//! - or through rusqlite (`ATELIER_SQLITE_READ_PATH=rusqlite`, the default): the
//!   statement is built by SeaORM as before and runs on a read-only connection from a
//!   small pool — on the request's own thread within a budget of SQLite instructions,
//!   and whole on the blocking pool past it — and the rows come back at once.
//!
//! PostgreSQL always reads through SeaORM. Each statement counts towards the request's
//! statement count, and its rows towards the request's row count, on either path.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::config::DbConfig;
use rusqlite::types::FromSql;
use rusqlite::{OpenFlags, Row};
use sea_orm::sea_query::Value;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, FromQueryResult, Statement};
use tokio::sync::Semaphore;

pub use crate::config::SqliteReadPath;

mod rows;
pub use self::rows::{Id, Instant};

mod omitted;
pub use self::omitted::{column_list, select_omitting, stand_in, stand_in_value, Omitted, StandIn};

/// A row type both paths can read: SeaORM's by column name, and rusqlite's by position
/// — the statement's columns checked once against `COLUMNS` before any row is read (a
/// lookup by name costs a scan of the column names per value).
pub trait Readable: FromQueryResult + Send + 'static {
    /// The columns the statement selects, in order.
    const COLUMNS: &'static [&'static str];

    /// Reads a row whose columns are `COLUMNS`.
    fn from_row(row: &Cells<'_, '_>) -> rusqlite::Result<Self>;
}

/// One row of a rusqlite read, by place. A column the read left out (`Omitted`) is
/// not asked of SQLite at all: it is its stand-in's value (`StandIn`, the value
/// `stand_in_value` names), which the row would have decoded to anyway. Asking SQLite
/// for a value and decoding it cost about 200 instructions a column.
pub struct Cells<'r, 's> {
    row: &'r Row<'s>,
    omitted: Omitted,
}

impl Cells<'_, '_> {
    /// Column `i`, or its stand-in's value when the read left it out.
    pub fn get<T: FromSql + StandIn>(&self, i: usize) -> rusqlite::Result<T> {
        if self.omitted.leaves_out(i) {
            Ok(T::stand_in())
        } else {
            self.row.get(i)
        }
    }
}

/// Where list reads run.
pub trait Reads: Sync {
    fn backend(&self) -> DbBackend;

    /// Every row the statement selects.
    fn all<M: Readable>(
        &self,
        statement: Statement,
    ) -> impl Future<Output = Result<Vec<M>, DbErr>> + Send {
        self.all_omitting(statement, Omitted::NONE)
    }

    /// Every row the statement selects, whose `omitted` columns it selects as their
    /// stand-ins (`select_omitting` or `column_list` with the same `Omitted`, made by
    /// `Omitted::reading`): rusqlite does not read those at all.
    fn all_omitting<M: Readable>(
        &self,
        statement: Statement,
        omitted: Omitted,
    ) -> impl Future<Output = Result<Vec<M>, DbErr>> + Send;
}

/// Any SeaORM connection or transaction reads through SeaORM.
impl<C: ConnectionTrait + Sync> Reads for C {
    fn backend(&self) -> DbBackend {
        self.get_database_backend()
    }

    fn all_omitting<M: Readable>(
        &self,
        statement: Statement,
        _omitted: Omitted,
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

    fn all_omitting<M: Readable>(
        &self,
        statement: Statement,
        omitted: Omitted,
    ) -> impl Future<Output = Result<Vec<M>, DbErr>> + Send {
        let sqlite = self.sqlite.clone();
        let orm = self.orm.clone();
        async move {
            let rows = match sqlite {
                Some(reads) => {
                    super::count_statement();
                    reads.all(statement, omitted).await?
                }
                None => M::find_by_statement(statement).all(&orm).await?,
            };
            super::count_rows(rows.len());
            Ok(rows)
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

/// SQLite virtual-machine instructions between two calls of a connection's progress
/// handler.
const STEPS_PER_CHECK: i32 = 1_000;

/// How many checks (of `STEPS_PER_CHECK` instructions) a statement may run on the
/// request's own thread before it is interrupted and run again on the blocking pool:
/// 200,000 instructions, under a millisecond. A page of 50 drafts with its relations fits
/// (asserted through `x-sql-moved`); a scan of many thousand rows does not, and moves.
const INLINE_CHECKS: i64 = 200;

/// A read-only connection and the budget its progress handler spends.
struct Reader1 {
    conn: rusqlite::Connection,
    /// Checks left before the running statement is interrupted (`i64::MAX` on the
    /// blocking pool: never).
    budget: Arc<AtomicI64>,
}

/// Read-only rusqlite connections, one per permit. A statement first runs on the
/// request's own thread — no thread hop, no wake-up, the rows at once — within
/// `INLINE_CHECKS`; one that needs more (or finds every connection busy) runs whole on
/// the blocking pool, where nothing interrupts it. A read has no effect, so running it
/// again from the start is safe.
pub struct SqliteReads {
    idle: Mutex<Vec<Reader1>>,
    permits: Arc<Semaphore>,
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
            // Plans that do not depend on the values bound: SQLite otherwise compiles the
            // value of a `LIMIT ?` into a cached statement, and binding the next value
            // makes it prepare the statement again on every run (5% of the dashboard's
            // CPU in the profile of issue 17).
            conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
            let budget = Arc::new(AtomicI64::new(i64::MAX));
            let spent = budget.clone();
            conn.progress_handler(
                STEPS_PER_CHECK,
                Some(move || spent.fetch_sub(1, Ordering::Relaxed) <= 0),
            )?;
            idle.push(Reader1 { conn, budget });
        }
        Ok(Self {
            idle: Mutex::new(idle),
            permits: Arc::new(Semaphore::new(connections)),
        })
    }

    fn take(&self) -> Result<Reader1, DbErr> {
        // invariant: the caller holds a permit, so an idle connection is waiting.
        self.idle
            .lock()
            .map_err(|_| DbErr::Custom("the SQLite read pool is poisoned".into()))?
            .pop()
            .ok_or_else(|| DbErr::Custom("no idle SQLite read connection".into()))
    }

    fn give_back(&self, reader: Reader1) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(reader);
        }
    }

    async fn all<M: Readable>(
        self: Arc<Self>,
        statement: Statement,
        omitted: Omitted,
    ) -> Result<Vec<M>, DbErr> {
        if let Ok(permit) = self.permits.clone().try_acquire_owned() {
            let reader = self.take()?;
            reader.budget.store(INLINE_CHECKS, Ordering::Relaxed);
            let rows = run::<M>(&reader.conn, &statement, omitted);
            reader.budget.store(i64::MAX, Ordering::Relaxed);
            self.give_back(reader);
            drop(permit);
            match rows {
                Err(e) if interrupted(&e) => {}
                rows => return rows.map_err(read_error),
            }
        }
        super::count_moved();
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| DbErr::Custom(e.to_string()))?;
        let reads = self.clone();
        tokio::task::spawn_blocking(move || {
            // The permit travels with the work and is given back only once the
            // connection is: a request dropped while its statement runs (a timeout, a
            // closed connection) cannot let another take a permit with no connection
            // behind it.
            let reader = reads.take()?;
            let rows = run::<M>(&reader.conn, &statement, omitted);
            reads.give_back(reader);
            drop(permit);
            rows.map_err(read_error)
        })
        .await
        .map_err(|e| DbErr::Custom(e.to_string()))?
    }
}

/// Whether a statement stopped because its budget on the request's thread ran out.
fn interrupted(error: &rusqlite::Error) -> bool {
    error.sqlite_error_code() == Some(rusqlite::ErrorCode::OperationInterrupted)
}

/// A statement this path cannot read as asked.
fn mismatch(message: String) -> rusqlite::Error {
    rusqlite::Error::ToSqlConversionFailure(message.into())
}

fn read_error(e: rusqlite::Error) -> DbErr {
    DbErr::Custom(format!("SQLite read: {e}"))
}

fn run<M: Readable>(
    conn: &rusqlite::Connection,
    statement: &Statement,
    omitted: Omitted,
) -> rusqlite::Result<Vec<M>> {
    let values = match &statement.values {
        Some(values) => values
            .0
            .iter()
            .map(parameter)
            .collect::<rusqlite::Result<Vec<_>>>()?,
        None => Vec::new(),
    };
    let mut prepared = conn.prepare_cached(&statement.sql)?;
    // Compared in place: collecting the names into a vector cost an allocation per read.
    let same = prepared.column_count() == M::COLUMNS.len()
        && M::COLUMNS
            .iter()
            .enumerate()
            .all(|(i, name)| prepared.column_name(i).is_ok_and(|n| n == *name));
    if !same {
        return Err(mismatch(format!(
            "the statement selects {:?}, the row reads {:?}",
            prepared.column_names(),
            M::COLUMNS
        )));
    }
    let rows = prepared.query_map(rusqlite::params_from_iter(values.iter()), |row| {
        M::from_row(&Cells { row, omitted })
    })?;
    rows.collect()
}

/// A SeaORM value as sqlx binds it on SQLite: ids as 16-byte blobs, instants as RFC 3339
/// text, booleans as integers.
fn parameter(value: &Value) -> rusqlite::Result<rusqlite::types::Value> {
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
                i64::try_from(*n)
                    .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?,
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
        other => return Err(mismatch(format!("no rusqlite binding for {other:?}"))),
    })
}

#[cfg(test)]
mod tests;
