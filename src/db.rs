//! Opening the database: SQLite (WAL, synchronous=NORMAL, foreign keys, busy timeout,
//! secure_delete, one writer connection so writes never fail with SQLITE_BUSY; compiled
//! without memory statistics or a shared page cache, see `.cargo/config.toml`) or
//! PostgreSQL (a pool); a large prepared-statement cache on both.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, Database, DatabaseConnection};

pub mod reads;

/// Prepared statements kept per connection. DataLoader batches write `IN (…)` lists of
/// every length up to a page, so the application has several hundred distinct
/// statements; sqlx's default of 100 would evict and re-prepare them all the time.
const STATEMENT_CACHE: usize = 1_024;

/// Connects to the database at `url`: on SQLite, the one writer connection.
pub async fn connect(url: &str) -> anyhow::Result<DatabaseConnection> {
    open(url, 1, Role::Writer).await
}

/// Whether a pool writes. A SQLite writer connection is checked each time it is taken
/// from its pool (`left_in_a_transaction`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Writer,
    Reader,
}

/// A pool for read-only work (GraphQL reads and their loaders). With SQLite, WAL lets
/// these connections read in parallel beside the one writer; with PostgreSQL the main
/// pool serves both, so this is that pool.
pub async fn connect_readers(
    url: &str,
    main: &DatabaseConnection,
    readers: u32,
) -> anyhow::Result<DatabaseConnection> {
    if url.starts_with("sqlite:") && readers > 0 {
        open(url, readers, Role::Reader).await
    } else {
        Ok(main.clone())
    }
}

/// How long a statement waits for a connection. Below the request timeout (30 s by
/// default): while the database is out of reach the request is answered UNAVAILABLE,
/// with a retry hint, rather than timing out with nothing said.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a PostgreSQL connection sits idle in the pool before it is pinged on its
/// next use.
const POSTGRES_PING_AFTER_IDLE: Duration = Duration::from_secs(1);

async fn open(
    url: &str,
    sqlite_connections: u32,
    role: Role,
) -> anyhow::Result<DatabaseConnection> {
    let mut options = ConnectOptions::new(url.to_string());
    options
        .sqlx_logging(false)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(ACQUIRE_TIMEOUT);
    if url.starts_with("sqlite:") {
        // One connection: SQLite has one writer anyway, and a single connection means a
        // transaction never has to upgrade a read lock to a write lock, which is where
        // SQLITE_BUSY comes from under concurrent requests.
        options
            .max_connections(sqlite_connections)
            .min_connections(1)
            // A ping of a local file checks nothing a statement would not, and on sqlx's
            // SQLite driver it is a hop to the connection's thread and back.
            .test_before_acquire(false);
        options.map_sqlx_sqlite_opts(|opts| {
            opts.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10))
                .pragma("secure_delete", "ON")
                .create_if_missing(true)
                .statement_cache_capacity(STATEMENT_CACHE)
        });
        if role == Role::Writer {
            options.map_sqlx_sqlite_pool_opts(|pool| {
                pool.before_acquire(|conn, _| {
                    Box::pin(std::future::ready(Ok(!left_in_a_transaction(conn))))
                })
            });
        }
    } else {
        // A connection is pinged before use only when it has been idle for a second or
        // more (as HikariCP does): one that was just used is alive, and pinging it on
        // every acquire cost a round trip per statement (five per dashboard request).
        // One that sat idle — through a restart, a failover, a proxy's idle cut — is
        // still checked and replaced before a statement is sent on it.
        options
            .max_connections(16)
            .min_connections(1)
            .test_before_acquire_if_idle_for(POSTGRES_PING_AFTER_IDLE);
        options.map_sqlx_postgres_opts(|opts| opts.statement_cache_capacity(STATEMENT_CACHE));
    }
    let mut db = Database::connect(options).await.map_err(|e| {
        // A file that is not a database (truncated, overwritten) fails as it opens.
        let text = e.to_string();
        if text.contains("malformed") || text.contains("not a database") {
            damaged(&text)
        } else {
            anyhow::Error::new(e)
                .context("cannot connect to the database (check ATELIER_DATABASE_URL)")
        }
    })?;
    db.set_metric_callback(|info| {
        // The SQL with placeholders only: values may be personal data.
        tracing::trace!(target: "atelier::sql", sql = %info.statement.sql, elapsed = ?info.elapsed);
        count_statement();
    });
    Ok(db)
}

/// Whether a SQLite connection taken from its pool is still inside a transaction by
/// sqlx's count; such a connection is closed, and the pool opens a fresh one.
///
/// SQLite rolls a whole transaction back by itself on some errors (SQLITE_FULL,
/// SQLITE_IOERR, SQLITE_NOMEM, SQLITE_BUSY in a write); sqlx's own ROLLBACK then fails
/// ("no transaction is active") and its transaction depth stays one too high, so the
/// next transaction on the connection would be a SAVEPOINT and the one after it a
/// savepoint inside a transaction nobody commits — writes acknowledged and then lost,
/// and the write lock held for good (issue 33: a full disk). By the time a connection is
/// taken again, the rollback queued for a transaction dropped without a commit has run
/// (the pool pings a connection as it comes back), so a depth above zero here is that
/// fault. The check is a counter read: asking SQLite itself on every acquire (a
/// `BEGIN; ROLLBACK` round trip to the connection's thread) cost a quarter of SQLite's
/// write throughput (bench/writes), and readiness asks it instead
/// (`outside_any_transaction`).
fn left_in_a_transaction(conn: &sea_orm::sqlx::SqliteConnection) -> bool {
    use sea_orm::sqlx::Connection;
    let stuck = conn.is_in_transaction();
    if stuck {
        tracing::error!(
            "the database writer was left inside a transaction after an error; replacing it"
        );
    }
    stuck
}

/// Whether a SQLite connection is outside any transaction, as sqlx counts it and as
/// SQLite itself sees it (asked the one way safe code can: `BEGIN` fails inside a
/// transaction), after running whatever rollback was queued on it.
async fn outside_any_transaction(
    conn: &mut sea_orm::sqlx::SqliteConnection,
) -> Result<bool, sea_orm::sqlx::Error> {
    use sea_orm::sqlx::Connection;
    conn.ping().await?;
    if left_in_a_transaction(conn) {
        return Ok(false);
    }
    match sea_orm::sqlx::raw_sql("BEGIN; ROLLBACK")
        .execute(&mut *conn)
        .await
    {
        Ok(_) => Ok(true),
        Err(error) => {
            tracing::error!(%error, "the database writer is inside a transaction nobody holds; replacing it");
            Ok(false)
        }
    }
}

/// Refuses a SQLite database that fails `PRAGMA quick_check` (a copy taken with `cp`
/// under load, a truncated file, a damaged disk): serving from it would answer with
/// wrong data or lose writes later. PostgreSQL checks its own pages.
pub async fn check_integrity(db: &DatabaseConnection) -> anyhow::Result<()> {
    use sea_orm::{ConnectionTrait, Statement};
    if db.get_database_backend() != sea_orm::DbBackend::Sqlite {
        return Ok(());
    }
    let rows = db
        .query_all_raw(Statement::from_string(
            sea_orm::DbBackend::Sqlite,
            "PRAGMA quick_check(5)",
        ))
        .await
        .map_err(|e| damaged(&e.to_string()))?;
    let findings: Vec<String> = rows
        .iter()
        .filter_map(|row| row.try_get_by_index::<String>(0).ok())
        .collect();
    if findings != ["ok"] {
        return Err(damaged(&findings.join("; ")));
    }
    Ok(())
}

fn damaged(finding: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "the SQLite database is damaged (PRAGMA quick_check: {finding}); refusing to start \
         on it. Restore the last good backup (see docs/operations.md, \"Backups\")"
    )
}

/// How long readiness waits for the SQLite writer: a write holds it for milliseconds.
const WRITER_READY_WAIT: Duration = Duration::from_secs(2);

/// On SQLite, whether the one writer connection can be had within a moment and is
/// outside any transaction (one that is not is closed, not given back); `Err`
/// says why not. PostgreSQL's pool has many connections and nothing to check here.
pub async fn writer_ready(db: &DatabaseConnection) -> Result<(), &'static str> {
    if db.get_database_backend() != sea_orm::DbBackend::Sqlite {
        return Ok(());
    }
    let pool = db.get_sqlite_connection_pool();
    let mut conn = match tokio::time::timeout(WRITER_READY_WAIT, pool.acquire()).await {
        Ok(Ok(conn)) => conn,
        Ok(Err(_)) => return Err("the database writer cannot be opened"),
        Err(_) => return Err("the database writer is held by a transaction that does not end"),
    };
    if !matches!(outside_any_transaction(&mut conn).await, Ok(true)) {
        // Closed rather than given back: the next write gets a fresh connection.
        let _ = conn.close().await;
        return Err("the database writer is inside a transaction");
    }
    Ok(())
}

/// What a request cost the database: its SQL statements, how many of its SQLite list
/// reads left the request's thread for the blocking pool, and the rows its list reads
/// (`reads`) returned.
#[derive(Debug, Default)]
pub struct Costs {
    pub statements: AtomicU64,
    pub moved: AtomicU64,
    pub rows: AtomicU64,
}

/// Counts one SQL statement towards the current request's count.
pub(crate) fn count_statement() {
    // Outside a counted scope there is nothing to count.
    let _ = STATEMENTS.try_with(|costs| costs.statements.fetch_add(1, Ordering::Relaxed));
}

/// Counts one list read moved to the blocking pool towards the current request's count.
pub(crate) fn count_moved() {
    let _ = STATEMENTS.try_with(|costs| costs.moved.fetch_add(1, Ordering::Relaxed));
}

/// Counts the rows a list read returned towards the current request's count.
pub(crate) fn count_rows(rows: usize) {
    let _ = STATEMENTS.try_with(|costs| costs.rows.fetch_add(rows as u64, Ordering::Relaxed));
}

tokio::task_local! {
    /// What the current request cost (set by the GraphQL handler, and carried into the
    /// tasks its DataLoaders spawn).
    pub static STATEMENTS: Arc<Costs>;
}

#[cfg(test)]
mod tests {
    use sea_orm::{ConnectionTrait, Statement};

    /// SQLite is built for a server (`.cargo/config.toml`): no global memory-statistics
    /// mutex taken on every allocation, and no page cache shared by every connection
    /// behind one mutex.
    #[tokio::test]
    async fn sqlite_is_built_without_global_mutexes_on_reads() -> crate::TestResult {
        let db = super::connect("sqlite::memory:").await?;
        for (option, used) in [("DEFAULT_MEMSTATUS=0", 1), ("ENABLE_MEMORY_MANAGEMENT", 0)] {
            let row = db
                .query_one_raw(Statement::from_string(
                    db.get_database_backend(),
                    format!("SELECT sqlite_compileoption_used('{option}') AS used"),
                ))
                .await?
                .ok_or("no answer")?;
            assert_eq!(row.try_get::<i32>("", "used")?, used, "{option}");
        }
        Ok(())
    }
}
