//! The read path's own tests: instants read fast as chrono reads them, rows read by
//! position as SeaORM reads them by name.

use super::rows::{instant, utc_rfc3339};
use super::*;
use chrono::{DateTime, Utc};
use rusqlite::types::{FromSql, ValueRef};

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
            Statement::from_sql_and_values(DbBackend::Sqlite, sql, [after.into(), limit.into()]),
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
