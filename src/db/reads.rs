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

use chrono::{DateTime, Utc};
use rusqlite::config::DbConfig;
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ValueRef};
use rusqlite::{OpenFlags, Row};
use sea_orm::sea_query::Value;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, FromQueryResult, Statement};
use tokio::sync::Semaphore;

pub use crate::config::SqliteReadPath;
use uuid::Uuid;

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

/// The value a left-out column of this type is read as: what its SQL stand-in
/// (`stand_ins`) decodes to. A nullable column is an `Option` and its stand-in NULL; a
/// required one is the empty text, zero, false, the nil id or the Unix epoch.
pub trait StandIn {
    fn stand_in() -> Self;
}

impl<T> StandIn for Option<T> {
    fn stand_in() -> Self {
        None
    }
}

impl StandIn for String {
    fn stand_in() -> Self {
        String::new()
    }
}

impl StandIn for i32 {
    fn stand_in() -> Self {
        0
    }
}

impl StandIn for i64 {
    fn stand_in() -> Self {
        0
    }
}

impl StandIn for bool {
    fn stand_in() -> Self {
        false
    }
}

impl StandIn for Id {
    fn stand_in() -> Self {
        Id(Uuid::nil())
    }
}

impl StandIn for Instant {
    fn stand_in() -> Self {
        Instant(DateTime::<Utc>::UNIX_EPOCH)
    }
}

/// Columns of one entity a read leaves out, by their place in the entity's column order
/// (`Readable::COLUMNS`). Each is selected as a stand-in constant (`stand_in`) the
/// database does not fetch from the row, so the row type stays whole while only what a
/// page returns is read and decoded. A column without a stand-in is never left out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Omitted(u64);

impl Omitted {
    /// Every column read.
    pub const NONE: Self = Self(0);

    /// Every column of `E` but those `kept` names (and those without a stand-in).
    pub fn all_but<E: sea_orm::EntityTrait>(kept: impl Fn(&E::Column) -> bool) -> Self {
        use sea_orm::{ColumnTrait, Iterable};
        let mut bits = 0;
        for (place, column) in E::Column::iter().enumerate() {
            if place < 64 && !kept(&column) && has_stand_in(&column.def()) {
                bits |= 1 << place;
            }
        }
        Self(bits)
    }

    /// Exactly `columns` of `E` (those with a stand-in); for tests that leave out a few.
    #[cfg(test)]
    pub fn only<E: sea_orm::EntityTrait>(columns: &[E::Column]) -> Self {
        use sea_orm::IdenStatic;
        Self::all_but::<E>(|column| !columns.iter().any(|c| c.as_str() == column.as_str()))
    }

    /// The same but for `columns` of `E`, which are read (the keys a read groups and
    /// orders its rows by), and for every column without a stand-in or past `E`'s last:
    /// exactly the columns `select_omitting` and `column_list` select as stand-ins, which
    /// is what a read's rows must be told (`Reads::all_omitting`).
    pub fn reading<E: sea_orm::EntityTrait>(self, columns: &[E::Column]) -> Self {
        use sea_orm::IdenStatic;
        let left =
            Self::all_but::<E>(|column| columns.iter().any(|c| c.as_str() == column.as_str()));
        Self(self.0 & left.0)
    }

    /// Whether the column at `place` (in the entity's column order) is left out.
    pub fn leaves_out(self, place: usize) -> bool {
        place < 64 && self.0 & (1 << place) != 0
    }

    /// What both leave out: a read for two selections reads what either needs.
    pub fn both(self, other: Self) -> Self {
        Self(self.0 & other.0)
    }

    /// Whether a read that left out `self` read every column one leaving out `other`
    /// needs.
    pub fn serves(self, other: Self) -> bool {
        self.0 & !other.0 == 0
    }

    /// As bits, for a lock-free union of wishes (`from_bits` turns them back).
    pub fn bits(self) -> u64 {
        self.0
    }

    pub fn from_bits(bits: u64) -> Self {
        Self(bits)
    }
}

/// Whether a column of this definition has a stand-in.
fn has_stand_in(def: &sea_orm::ColumnDef) -> bool {
    stand_ins(def).is_some()
}

/// A left-out column's stand-in on SQLite and on PostgreSQL, and the value it decodes to.
type StandIns = (&'static str, &'static str, Value);

/// What a left-out column is selected as: NULL where the row type allows none, else a
/// constant of its type — the empty text, zero, false, the nil id, the Unix epoch
/// (SQLite: 0, which both SQLite readers take as seconds since the epoch). On
/// PostgreSQL each is cast to the column's type, so the driver decodes it as it would
/// the column. None for a type without one (such a column is always read).
fn stand_ins(def: &sea_orm::ColumnDef) -> Option<StandIns> {
    use sea_orm::sea_query::ColumnType as T;
    let epoch = DateTime::<Utc>::UNIX_EPOCH;
    Some(match (def.get_column_type(), def.is_null()) {
        (T::Uuid, true) => ("NULL", "NULL::uuid", Value::Uuid(None)),
        (T::Uuid, false) => (
            "X'00000000000000000000000000000000'",
            "'00000000-0000-0000-0000-000000000000'::uuid",
            Value::Uuid(Some(Uuid::nil())),
        ),
        (T::String(_) | T::Text, true) => ("NULL", "NULL::text", Value::String(None)),
        (T::String(_) | T::Text, false) => ("''", "''::text", Value::String(Some(String::new()))),
        (T::Integer, true) => ("NULL", "NULL::integer", Value::Int(None)),
        (T::Integer, false) => ("0", "0::integer", Value::Int(Some(0))),
        (T::BigInteger, true) => ("NULL", "NULL::bigint", Value::BigInt(None)),
        (T::BigInteger, false) => ("0", "0::bigint", Value::BigInt(Some(0))),
        (T::Boolean, true) => ("NULL", "NULL::boolean", Value::Bool(None)),
        (T::Boolean, false) => ("0", "false", Value::Bool(Some(false))),
        (T::TimestampWithTimeZone, true) => {
            ("NULL", "NULL::timestamptz", Value::ChronoDateTimeUtc(None))
        }
        (T::TimestampWithTimeZone, false) => (
            "0",
            "'epoch'::timestamptz",
            Value::ChronoDateTimeUtc(Some(epoch)),
        ),
        _ => return None,
    })
}

/// A left-out column's stand-in in the SQL of `backend` (`stand_ins`).
pub fn stand_in(def: &sea_orm::ColumnDef, backend: DbBackend) -> Option<&'static str> {
    let (sqlite, postgres, _) = stand_ins(def)?;
    match backend {
        DbBackend::Postgres => Some(postgres),
        DbBackend::Sqlite => Some(sqlite),
        _ => None,
    }
}

/// The value a left-out column holds in the row read: what its stand-in decodes to.
pub fn stand_in_value(def: &sea_orm::ColumnDef) -> Option<Value> {
    stand_ins(def).map(|(_, _, value)| value)
}

/// Selects every column of `E` in declaration order (the order `Readable::COLUMNS` names
/// them), each `omitted` one as its stand-in.
pub fn select_omitting<E: sea_orm::EntityTrait>(
    query: sea_orm::Select<E>,
    backend: DbBackend,
    omitted: Omitted,
) -> sea_orm::Select<E> {
    use sea_orm::sea_query::Expr;
    use sea_orm::{ColumnTrait, Iterable, QuerySelect};
    let mut query = query.select_only();
    for (place, column) in E::Column::iter().enumerate() {
        match stand_in(&column.def(), backend).filter(|_| omitted.leaves_out(place)) {
            Some(constant) => {
                query = query.expr_as(Expr::cust(constant), sea_orm::IdenStatic::as_str(&column))
            }
            None => query = query.column(column),
        }
    }
    query
}

/// The select list of `select_omitting` as SQL text, for statements written by hand:
/// each column of `E` read from the table `from` (`from.column AS column`, or the bare
/// name without one), or its stand-in.
pub fn column_list<E: sea_orm::EntityTrait>(
    backend: DbBackend,
    omitted: Omitted,
    from: Option<&str>,
) -> String {
    use sea_orm::{ColumnTrait, Iterable};
    E::Column::iter()
        .enumerate()
        .map(|(place, column)| {
            let name = sea_orm::IdenStatic::as_str(&column);
            match (
                stand_in(&column.def(), backend).filter(|_| omitted.leaves_out(place)),
                from,
            ) {
                (Some(constant), _) => format!("{constant} AS {name}"),
                (None, Some(table)) => format!("{table}.{name} AS {name}"),
                (None, None) => name.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
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
/// SQLite's own `YYYY-MM-DD HH:MM:SS[.fff]` in UTC, or whole seconds since the epoch.
pub struct Instant(pub DateTime<Utc>);

impl FromSql for Instant {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        // Seconds since the epoch: the stand-in of a left-out instant (`stand_in`), as
        // sqlx reads it too.
        if let ValueRef::Integer(seconds) = value {
            return DateTime::from_timestamp(seconds, 0)
                .map(Instant)
                .ok_or(FromSqlError::OutOfRange(seconds));
        }
        let text = value.as_str()?;
        if let Some(t) = utc_rfc3339(text.as_bytes()) {
            return Ok(Instant(t));
        }
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

/// The form every instant is written in, read without chrono's general parser (which
/// cost 3% of the dashboard's instructions): `YYYY-MM-DDTHH:MM:SS[.f…]` then `+00:00`
/// or `Z`, up to nine fraction digits. Anything else (another offset, a leap second, a
/// space for the `T`) is `None`, for the general parser to read.
fn utc_rfc3339(text: &[u8]) -> Option<DateTime<Utc>> {
    fn digits(text: &[u8]) -> Option<u32> {
        text.iter().try_fold(0u32, |n, &b| {
            b.is_ascii_digit().then(|| n * 10 + u32::from(b - b'0'))
        })
    }
    if text.len() < 20 || text[4] != b'-' || text[7] != b'-' || text[10] != b'T' {
        return None;
    }
    if text[13] != b':' || text[16] != b':' {
        return None;
    }
    let date = chrono::NaiveDate::from_ymd_opt(
        digits(&text[0..4])? as i32,
        digits(&text[5..7])?,
        digits(&text[8..10])?,
    )?;
    let (hour, minute, second) = (
        digits(&text[11..13])?,
        digits(&text[14..16])?,
        digits(&text[17..19])?,
    );
    if second > 59 {
        return None;
    }
    let mut rest = &text[19..];
    let mut nanos = 0;
    if let Some(fraction) = rest.strip_prefix(b".") {
        let len = fraction.iter().take_while(|b| b.is_ascii_digit()).count();
        if len == 0 || len > 9 {
            return None;
        }
        nanos = digits(&fraction[..len])? * 10u32.pow(9 - len as u32);
        rest = &fraction[len..];
    }
    if rest != b"+00:00" && rest != b"Z" {
        return None;
    }
    Some(
        date.and_hms_nano_opt(hour, minute, second, nanos)?
            .and_utc(),
    )
}

/// Reads id column `i`.
fn id(row: &Cells<'_, '_>, i: usize) -> rusqlite::Result<Uuid> {
    Ok(row.get::<Id>(i)?.0)
}

/// Reads nullable id column `i`.
fn maybe_id(row: &Cells<'_, '_>, i: usize) -> rusqlite::Result<Option<Uuid>> {
    Ok(row.get::<Option<Id>>(i)?.map(|id| id.0))
}

/// Reads instant column `i`.
fn instant(row: &Cells<'_, '_>, i: usize) -> rusqlite::Result<DateTime<Utc>> {
    Ok(row.get::<Instant>(i)?.0)
}

/// Reads nullable instant column `i`.
fn maybe_instant(row: &Cells<'_, '_>, i: usize) -> rusqlite::Result<Option<DateTime<Utc>>> {
    Ok(row.get::<Option<Instant>>(i)?.map(|t| t.0))
}

// The rows the list reads return, their columns in the order their statements select them.

use crate::domain::entities::{comments, draft_revisions, draft_targets, draft_workflow, drafts};

impl Readable for drafts::Model {
    const COLUMNS: &'static [&'static str] = &[
        "id",
        "workspace_id",
        "author_id",
        "title",
        "body",
        "tags",
        "status",
        "version",
        "scheduled_at",
        "time_zone",
        "origin",
        "created_at",
        "updated_at",
        "comment_count",
    ];

    fn from_row(row: &Cells<'_, '_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: id(row, 0)?,
            workspace_id: id(row, 1)?,
            author_id: maybe_id(row, 2)?,
            title: row.get(3)?,
            body: row.get(4)?,
            tags: row.get(5)?,
            status: row.get(6)?,
            version: row.get(7)?,
            scheduled_at: maybe_instant(row, 8)?,
            time_zone: row.get(9)?,
            origin: row.get(10)?,
            created_at: instant(row, 11)?,
            updated_at: instant(row, 12)?,
            comment_count: row.get(13)?,
        })
    }
}

impl Readable for draft_targets::Model {
    const COLUMNS: &'static [&'static str] = &[
        "id",
        "draft_id",
        "provider",
        "integration_id",
        "title",
        "body",
        "origin",
        "status",
        "provider_post_id",
        "url",
        "published_at",
        "created_at",
        "updated_at",
    ];

    fn from_row(row: &Cells<'_, '_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: id(row, 0)?,
            draft_id: id(row, 1)?,
            provider: row.get(2)?,
            integration_id: maybe_id(row, 3)?,
            title: row.get(4)?,
            body: row.get(5)?,
            origin: row.get(6)?,
            status: row.get(7)?,
            provider_post_id: row.get(8)?,
            url: row.get(9)?,
            published_at: maybe_instant(row, 10)?,
            created_at: instant(row, 11)?,
            updated_at: instant(row, 12)?,
        })
    }
}

impl Readable for crate::domain::entities::users::Person {
    const COLUMNS: &'static [&'static str] = &[
        "id",
        "email",
        "display_name",
        "email_verified_at",
        "locale",
        "time_zone",
        "status",
        "mention_emails",
        "created_at",
    ];

    fn from_row(row: &Cells<'_, '_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: id(row, 0)?,
            email: row.get(1)?,
            display_name: row.get(2)?,
            email_verified_at: maybe_instant(row, 3)?,
            locale: row.get(4)?,
            time_zone: row.get(5)?,
            status: row.get(6)?,
            mention_emails: row.get(7)?,
            created_at: instant(row, 8)?,
        })
    }
}

impl Readable for crate::domain::entities::memberships::AccessRow {
    const COLUMNS: &'static [&'static str] = &[
        "m_id",
        "m_workspace_id",
        "m_user_id",
        "m_role",
        "m_created_at",
        "id",
        "name",
        "slug",
        "brand_name",
        "company",
        "region",
        "default_time_zone",
        "billing_email",
        "billing_legal_name",
        "billing_country",
        "billing_tax_id",
        "created_at",
        "updated_at",
        "approval_required",
        "client_approval_required",
    ];

    fn from_row(row: &Cells<'_, '_>) -> rusqlite::Result<Self> {
        use crate::domain::entities::{memberships, workspaces};
        Ok(Self(
            memberships::Model {
                id: id(row, 0)?,
                workspace_id: id(row, 1)?,
                user_id: id(row, 2)?,
                role: row.get(3)?,
                created_at: instant(row, 4)?,
            },
            workspaces::Model {
                id: id(row, 5)?,
                name: row.get(6)?,
                slug: row.get(7)?,
                brand_name: row.get(8)?,
                company: row.get(9)?,
                region: row.get(10)?,
                default_time_zone: row.get(11)?,
                billing_email: row.get(12)?,
                billing_legal_name: row.get(13)?,
                billing_country: row.get(14)?,
                billing_tax_id: row.get(15)?,
                created_at: instant(row, 16)?,
                updated_at: instant(row, 17)?,
                approval_required: row.get(18)?,
                client_approval_required: row.get(19)?,
            },
        ))
    }
}

/// A comment's columns, in the order its statements select them.
const COMMENT_COLUMNS: [&str; 12] = [
    "id",
    "draft_id",
    "parent_id",
    "author_id",
    "body",
    "mentions",
    "resolved_at",
    "resolved_by",
    "edited_at",
    "deleted_at",
    "created_at",
    "review_link_id",
];

impl Readable for comments::Model {
    const COLUMNS: &'static [&'static str] = &COMMENT_COLUMNS;

    fn from_row(row: &Cells<'_, '_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: id(row, 0)?,
            draft_id: id(row, 1)?,
            parent_id: maybe_id(row, 2)?,
            author_id: maybe_id(row, 3)?,
            body: row.get(4)?,
            mentions: row.get(5)?,
            resolved_at: maybe_instant(row, 6)?,
            resolved_by: maybe_id(row, 7)?,
            edited_at: maybe_instant(row, 8)?,
            deleted_at: maybe_instant(row, 9)?,
            created_at: instant(row, 10)?,
            review_link_id: maybe_id(row, 11)?,
        })
    }
}

impl Readable for draft_revisions::Model {
    const COLUMNS: &'static [&'static str] = &[
        "id",
        "draft_id",
        "version",
        "title",
        "body",
        "tags",
        "editor_id",
        "created_at",
    ];

    fn from_row(row: &Cells<'_, '_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: id(row, 0)?,
            draft_id: id(row, 1)?,
            version: row.get(2)?,
            title: row.get(3)?,
            body: row.get(4)?,
            tags: row.get(5)?,
            editor_id: maybe_id(row, 6)?,
            created_at: instant(row, 7)?,
        })
    }
}

impl Readable for draft_workflow::Model {
    const COLUMNS: &'static [&'static str] = &[
        "id",
        "draft_id",
        "actor_id",
        "from_status",
        "to_status",
        "note",
        "at",
        "review_link_id",
    ];

    fn from_row(row: &Cells<'_, '_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: id(row, 0)?,
            draft_id: id(row, 1)?,
            actor_id: maybe_id(row, 2)?,
            from_status: row.get(3)?,
            to_status: row.get(4)?,
            note: row.get(5)?,
            at: instant(row, 6)?,
            review_link_id: maybe_id(row, 7)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The fast reading of an instant agrees with chrono's for every form an
        /// instant can be written in; the forms Atelier writes take the fast path.
        #[test]
        fn instants_read_fast_as_chrono_reads_them(
            seconds in -62_000_000_000i64..250_000_000_000i64,
            nanos in 0u32..1_000_000_000,
            form in 0usize..6,
            offset_minutes in -720i32..720,
        ) {
            use chrono::{Datelike, FixedOffset, SecondsFormat};
            let out_of_range = || proptest::test_runner::TestCaseError::fail("out of chrono's range");
            let t = DateTime::<Utc>::from_timestamp(seconds, nanos).ok_or_else(out_of_range)?;
            let offset = FixedOffset::east_opt(offset_minutes * 60).ok_or_else(out_of_range)?;
            let text = match form {
                0 => t.to_rfc3339_opts(SecondsFormat::Micros, false),
                1 => t.to_rfc3339_opts(SecondsFormat::AutoSi, true),
                2 => t.to_rfc3339_opts(SecondsFormat::Secs, false),
                3 => t.to_rfc3339_opts(SecondsFormat::Nanos, true),
                4 => t.with_timezone(&offset).to_rfc3339(),
                _ => t.format("%Y-%m-%d %H:%M:%S%.f").to_string(),
            };
            let general = DateTime::parse_from_rfc3339(&text).ok().map(|t| t.with_timezone(&Utc));
            let fast = utc_rfc3339(text.as_bytes());
            if fast.is_some() || form < 4 && (0..=9999).contains(&t.year()) {
                proptest::prop_assert_eq!(fast, general, "{}", text);
            }
            let read = Instant::column_result(ValueRef::Text(text.as_bytes())).map(|i| i.0).ok();
            let expected = general.or_else(|| chrono::NaiveDateTime::parse_from_str(&text, "%Y-%m-%d %H:%M:%S%.f").ok().map(|t| t.and_utc()));
            proptest::prop_assert_eq!(read, expected, "{}", text);
        }
    }

    /// What the fast reading leaves to chrono's parser.
    #[test]
    fn instants_outside_the_fast_form_are_left_to_chrono() -> crate::TestResult {
        for text in [
            "2026-12-05 10:00:00+00:00",
            "2026-12-05T10:00:00+02:00",
            "2016-12-31T23:59:60Z",
            "2026-12-05T10:00:00.+00:00",
            "2026-12-05T10:00:00.1234567891Z",
            "2026-02-30T10:00:00Z",
            "2026-12-05T24:00:00Z",
            "2026-12-05T10:00:00",
            "+2026-12-05T10:00:00Z",
        ] {
            assert_eq!(utc_rfc3339(text.as_bytes()), None, "{text}");
        }
        assert_eq!(
            utc_rfc3339(b"2026-11-05T17:40:01.942629+00:00"),
            Some(DateTime::parse_from_rfc3339("2026-11-05T17:40:01.942629Z")?.to_utc())
        );
        Ok(())
    }

    #[derive(Debug, FromQueryResult)]
    struct Count {
        n: i64,
    }

    impl Readable for Count {
        const COLUMNS: &'static [&'static str] = &["n"];

        fn from_row(row: &Cells<'_, '_>) -> rusqlite::Result<Self> {
            Ok(Self { n: row.get(0)? })
        }
    }

    fn count(sql: &str) -> Statement {
        Statement::from_string(DbBackend::Sqlite, sql)
    }

    #[derive(Debug, FromQueryResult)]
    struct Sample {
        n: i64,
        text: String,
        maybe: Option<String>,
        at: DateTime<Utc>,
    }

    impl Readable for Sample {
        const COLUMNS: &'static [&'static str] = &["n", "text", "maybe", "at"];

        fn from_row(row: &Cells<'_, '_>) -> rusqlite::Result<Self> {
            Ok(Self {
                n: row.get(0)?,
                text: row.get(1)?,
                maybe: row.get(2)?,
                at: instant(row, 3)?,
            })
        }
    }

    /// A column the read left out is its stand-in's value without SQLite being asked for
    /// it: here the statement selects real values, and those left out do not show.
    #[tokio::test]
    async fn left_out_columns_are_not_read() -> crate::TestResult {
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("reads.sqlite");
        rusqlite::Connection::open(&file)?.execute_batch("CREATE TABLE t (x INTEGER)")?;
        let reads = Arc::new(SqliteReads::open(&file, 1)?);
        let sql = "SELECT 7 AS n, 'text' AS text, 'maybe' AS maybe, \
                   '2026-12-06T10:00:00+00:00' AS at";
        let whole = reads
            .clone()
            .all::<Sample>(count(sql), Omitted::NONE)
            .await?;
        assert_eq!(whole[0].n, 7);
        assert_eq!(whole[0].text, "text");
        assert_eq!(whole[0].maybe.as_deref(), Some("maybe"));
        assert_eq!(whole[0].at.to_rfc3339(), "2026-12-06T10:00:00+00:00");
        let left = reads
            .all::<Sample>(count(sql), Omitted::from_bits(0b1110))
            .await?;
        assert_eq!(left[0].n, 7);
        assert_eq!(left[0].text, "");
        assert_eq!(left[0].maybe, None);
        assert_eq!(left[0].at, DateTime::<Utc>::UNIX_EPOCH);
        Ok(())
    }

    /// A request dropped while its statement runs (a timeout) keeps the connection's
    /// permit until the statement is done: the next read waits for the connection
    /// instead of failing for want of one.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_dropped_read_keeps_its_connection_until_it_is_done() -> crate::TestResult {
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("reads.sqlite");
        rusqlite::Connection::open(&file)?.execute_batch("CREATE TABLE t (x INTEGER)")?;
        let reads = Arc::new(SqliteReads::open(&file, 1)?);
        let slow = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c \
                    WHERE x < 2000000) SELECT count(*) AS n FROM c";
        let dropped = tokio::time::timeout(
            Duration::from_millis(20),
            reads.clone().all::<Count>(count(slow), Omitted::NONE),
        )
        .await;
        assert!(dropped.is_err(), "the slow read outlived its caller");
        let next = reads
            .clone()
            .all::<Count>(count("SELECT 7 AS n"), Omitted::NONE)
            .await?;
        assert_eq!(next.iter().map(|c| c.n).collect::<Vec<_>>(), [7]);
        // A statement whose columns are not the row's is refused, not misread.
        let wrong = reads
            .clone()
            .all::<Count>(count("SELECT 7 AS m"), Omitted::NONE)
            .await;
        assert!(wrong.is_err_and(|e| e.to_string().contains("the row reads")));
        let more = reads
            .all::<Count>(count("SELECT 7 AS n, 8 AS m"), Omitted::NONE)
            .await;
        assert!(more.is_err_and(|e| e.to_string().contains("the row reads")));
        Ok(())
    }

    /// A statement within its budget is answered on the caller's thread; one past it is
    /// interrupted there and answered whole on the blocking pool — counted in SQLite
    /// instructions, so the same on any machine.
    #[tokio::test]
    async fn short_reads_run_inline_and_long_ones_move() -> crate::TestResult {
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("reads.sqlite");
        rusqlite::Connection::open(&file)?.execute_batch("CREATE TABLE t (x INTEGER)")?;
        let reads = Arc::new(SqliteReads::open(&file, 2)?);
        let costs = Arc::new(crate::db::Costs::default());
        let moved = || costs.moved.load(Ordering::Relaxed);
        let read = |sql: &'static str| {
            crate::db::STATEMENTS.scope(
                costs.clone(),
                reads.clone().all::<Count>(count(sql), Omitted::NONE),
            )
        };
        let short = read("SELECT 7 AS n").await?;
        assert_eq!(short.iter().map(|c| c.n).collect::<Vec<_>>(), [7]);
        assert_eq!(moved(), 0);
        let long = read(
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c \
             WHERE x < 300000) SELECT count(*) AS n FROM c",
        )
        .await?;
        assert_eq!(long.iter().map(|c| c.n).collect::<Vec<_>>(), [300_000]);
        assert_eq!(moved(), 1);
        // The connection it was interrupted on answers the next short reads inline.
        read("SELECT 8 AS n").await?;
        read("SELECT 9 AS n").await?;
        assert_eq!(moved(), 1);
        Ok(())
    }

    /// A cached statement is prepared once: binding another `LIMIT` (every page read
    /// binds one) does not make SQLite prepare it again on its next run.
    #[tokio::test]
    async fn cached_statements_are_not_prepared_again_for_new_values() -> crate::TestResult {
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("reads.sqlite");
        rusqlite::Connection::open(&file)?.execute_batch(
            "CREATE TABLE t (x INTEGER); CREATE INDEX t_x ON t (x);
             INSERT INTO t VALUES (1), (2), (3), (4), (5);",
        )?;
        let reads = Arc::new(SqliteReads::open(&file, 1)?);
        let sql = "SELECT x AS n FROM t WHERE x > ? ORDER BY x LIMIT ?";
        let page = |after: i64, limit: i64| {
            reads.clone().all::<Count>(
                Statement::from_sql_and_values(
                    DbBackend::Sqlite,
                    sql,
                    [after.into(), limit.into()],
                ),
                Omitted::NONE,
            )
        };
        let numbers = |rows: Vec<Count>| rows.iter().map(|c| c.n).collect::<Vec<_>>();
        assert_eq!(numbers(page(0, 2).await?), [1, 2]);
        assert_eq!(numbers(page(2, 3).await?), [3, 4, 5]);
        assert_eq!(numbers(page(1, 1).await?), [2]);
        let reader = reads.take()?;
        let reprepared = reader
            .conn
            .prepare_cached(sql)?
            .get_status(rusqlite::StatementStatus::RePrepare);
        assert_eq!(reprepared, 0);
        Ok(())
    }

    #[test]
    fn sqlite_urls_name_their_file() {
        assert_eq!(
            sqlite_file("sqlite:///var/lib/atelier/atelier.sqlite?mode=rwc"),
            Some(PathBuf::from("/var/lib/atelier/atelier.sqlite"))
        );
        assert_eq!(
            sqlite_file("sqlite:data/a.sqlite"),
            Some(PathBuf::from("data/a.sqlite"))
        );
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("postgres://db/atelier"), None);
    }
}
