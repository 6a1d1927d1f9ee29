//! Looking for what is left of a person: every text column of every table, the stores and\nthe files, searched for their addresses and names (the needles) after an erasure.

use crate::error::{DomainError, DomainResult};
use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What the verification scan looks for, captured when the request is approved and kept
/// sealed in the job (the live rows lose it along the way).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Needles {
    pub email: Option<String>,
    pub names: Vec<String>,
    pub handles: Vec<String>,
    /// The account's other addresses: its current one when the request came from
    /// another, and every one a correction replaced.
    #[serde(default)]
    pub other_emails: Vec<String>,
}

impl Needles {
    /// Every email address the person had, each once.
    pub fn emails(&self) -> Vec<String> {
        let mut all: Vec<String> = Vec::new();
        for email in self.email.iter().chain(self.other_emails.iter()) {
            let folded = email.trim().to_lowercase();
            if !all.contains(&folded) {
                all.push(folded);
            }
        }
        all
    }

    /// Everything the verification scan looks for.
    fn all(&self) -> Vec<String> {
        let mut all = self.emails();
        all.extend(self.names.iter().cloned());
        all.extend(self.handles.iter().cloned());
        all
    }
}

/// Where the verification scan found a needle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leftover {
    pub table: String,
    pub column: String,
    pub rows: i64,
}

/// Searches every text column of every table for the needles. The request's own
/// contact address is the one expected hit: it goes in the transaction that emails the
/// completion notice.
pub async fn scan(
    conn: &impl ConnectionTrait,
    needles: &[String],
    except_request: Option<Uuid>,
) -> DomainResult<Vec<Leftover>> {
    let backend = conn.get_database_backend();
    let columns: Vec<(String, String)> = match backend {
        DatabaseBackend::Postgres => conn
            .query_all_raw(Statement::from_string(
                backend,
                "SELECT table_name, column_name FROM information_schema.columns \
                 WHERE table_schema = current_schema() \
                 AND data_type IN ('text', 'character varying', 'character', 'json', 'jsonb')",
            ))
            .await?
            .iter()
            .map(|row| {
                Ok((
                    row.try_get::<String>("", "table_name")?,
                    row.try_get::<String>("", "column_name")?,
                ))
            })
            .collect::<Result<_, sea_orm::DbErr>>()?,
        _ => {
            let tables = conn
                .query_all_raw(Statement::from_string(
                    backend,
                    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
                ))
                .await?;
            let mut found = Vec::new();
            for table in tables {
                let table: String = table.try_get("", "name")?;
                let info = conn
                    .query_all_raw(Statement::from_string(
                        backend,
                        format!("PRAGMA table_info(\"{table}\")"),
                    ))
                    .await?;
                for column in info {
                    found.push((table.clone(), column.try_get::<String>("", "name")?));
                }
            }
            found
        }
    };
    let mut leftovers = Vec::new();
    for (table, column) in columns {
        for needle in needles.iter().filter(|n| n.chars().count() >= 4) {
            let pattern = crate::domain::like_pattern(needle);
            let (sql, values): (String, Vec<sea_orm::Value>) = match backend {
                DatabaseBackend::Postgres => (
                    format!("SELECT COUNT(*) AS n FROM \"{table}\" WHERE CAST(\"{column}\" AS TEXT) ILIKE $1 ESCAPE '\\'"),
                    vec![pattern.into()],
                ),
                _ => (
                    format!("SELECT COUNT(*) AS n FROM \"{table}\" WHERE CAST(\"{column}\" AS TEXT) LIKE ? ESCAPE '\\'"),
                    vec![pattern.into()],
                ),
            };
            let mut sql = sql;
            let mut values = values;
            if let (Some(id), true) = (
                except_request,
                table == "privacy_requests" && column == "requester_email",
            ) {
                match backend {
                    DatabaseBackend::Postgres => sql.push_str(" AND id <> $2"),
                    _ => sql.push_str(" AND id <> ?"),
                }
                values.push(id.into());
            }
            let row = conn
                .query_one_raw(Statement::from_sql_and_values(backend, sql, values))
                .await?;
            let rows = row
                .map(|r| r.try_get::<i64>("", "n"))
                .transpose()?
                .unwrap_or(0);
            if rows > 0 {
                leftovers.push(Leftover {
                    table: table.clone(),
                    column: column.clone(),
                    rows,
                });
            }
        }
    }
    Ok(leftovers)
}

pub(super) async fn verify_nothing_left(
    txn: &impl ConnectionTrait,
    request_id: Uuid,
    needles: &Needles,
) -> DomainResult<u64> {
    let leftovers = scan(txn, &needles.all(), Some(request_id)).await?;
    if leftovers.is_empty() {
        return Ok(0);
    }
    let places: Vec<String> = leftovers
        .iter()
        .map(|l| format!("{}.{} ({} rows)", l.table, l.column, l.rows))
        .collect();
    Err(DomainError::internal(anyhow::anyhow!(
        "erasure verification found personal data left in: {}",
        places.join(", ")
    )))
}
