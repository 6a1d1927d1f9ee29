//! `DomainError` is the one error type inside the domain; the GraphQL and portal edges
//! translate it into `extensions.code` or an error page. Internal causes are logged in
//! full server-side and never shown to clients.

use sea_orm::{DbErr, SqlErr};

#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    BadInput(String),
    #[error("{0}")]
    Conflict(String),
    #[error("too many attempts; try again in {retry_after_secs} seconds")]
    RateLimited { retry_after_secs: u64 },
    /// A service we depend on failed; the message says which, never how.
    #[error("{0}")]
    Upstream(String),
    /// The database is briefly out of reach or out of room (connection lost, pool
    /// exhausted, busy, disk full, a conflict with a concurrent transaction): nothing
    /// was written, and the same request may be sent again after `retry_after_secs`.
    #[error("the service is briefly unavailable; try again in {retry_after_secs} seconds")]
    Unavailable {
        retry_after_secs: u64,
        /// The database gave up this transaction for a concurrent one's sake
        /// (serialization failure, deadlock): running the request again at once is
        /// likely to succeed, so the server does it once before answering.
        rerun: bool,
    },
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl DomainError {
    pub fn bad_input(message: impl Into<String>) -> Self {
        Self::BadInput(message.into())
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::Forbidden(message.into())
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::Conflict(message.into())
    }

    /// An unexpected failure — or, when its cause is the database's passing trouble,
    /// `Unavailable`.
    pub fn internal(error: impl Into<anyhow::Error>) -> Self {
        let error = error.into();
        let passing = error
            .chain()
            .find_map(|cause| cause.downcast_ref::<DbErr>())
            .and_then(passing_trouble);
        match passing {
            Some(unavailable) => {
                tracing::warn!(error = ?error, "the database is briefly unavailable");
                unavailable
            }
            None => Self::Internal(error),
        }
    }

    /// The code clients see in `extensions.code`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthenticated(_) => "UNAUTHENTICATED",
            Self::Forbidden(_) => "FORBIDDEN",
            Self::NotFound(_) => "NOT_FOUND",
            Self::BadInput(_) => "BAD_USER_INPUT",
            Self::Conflict(_) => "CONFLICT",
            Self::RateLimited { .. } => "RATE_LIMITED",
            Self::Unavailable { .. } => "UNAVAILABLE",
            Self::Upstream(_) | Self::Internal(_) => "INTERNAL",
        }
    }

    /// True when the database refused a write because a unique key already exists.
    pub fn is_unique_violation(err: &DbErr) -> bool {
        matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
    }

    /// True when this error is the database refusing a duplicate unique key.
    pub fn is_duplicate(&self) -> bool {
        match self {
            Self::Internal(e) => e
                .downcast_ref::<DbErr>()
                .is_some_and(Self::is_unique_violation),
            _ => false,
        }
    }
}

impl From<DbErr> for DomainError {
    fn from(err: DbErr) -> Self {
        Self::internal(err)
    }
}

/// How long a client waits before sending a request the database could not serve.
const RETRY_AFTER_SECS: u64 = 2;

/// `Unavailable` when `err` is the database's passing trouble rather than a bug: the
/// connection is gone (I/O, TLS, a message cut short) or none could be had in time, or
/// the database refused this transaction for now (SQLite busy, locked, out of disk or
/// memory, an I/O error; PostgreSQL's serialization failure, deadlock, connection and
/// shutdown classes, too many connections, disk full).
fn passing_trouble(err: &DbErr) -> Option<DomainError> {
    use sea_orm::sqlx;
    use sea_orm::RuntimeErr;
    let unavailable = |rerun| DomainError::Unavailable {
        retry_after_secs: RETRY_AFTER_SECS,
        rerun,
    };
    let sqlx_error = match err {
        DbErr::ConnectionAcquire(_) => return Some(unavailable(false)),
        DbErr::Conn(RuntimeErr::SqlxError(e))
        | DbErr::Exec(RuntimeErr::SqlxError(e))
        | DbErr::Query(RuntimeErr::SqlxError(e)) => e,
        _ => return None,
    };
    match &**sqlx_error {
        // A connection dropped mid-handshake or mid-message surfaces as I/O, as TLS
        // (the local server negotiates it by default) or as a message cut short.
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => Some(unavailable(false)),
        sqlx::Error::Database(db) => {
            if let Some(pg) = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
                let code = pg.code();
                match code {
                    "40001" | "40P01" => Some(unavailable(true)),
                    "53100" | "53200" | "53300" | "57P01" | "57P02" | "57P03" => {
                        Some(unavailable(false))
                    }
                    _ if code.starts_with("08") => Some(unavailable(false)),
                    _ => None,
                }
            } else if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                // SQLite's primary result code is the low byte of the extended one.
                let primary = db.code()?.parse::<i32>().ok()? & 0xff;
                // BUSY, LOCKED, NOMEM, IOERR, FULL.
                matches!(primary, 5 | 6 | 7 | 10 | 13).then(|| unavailable(false))
            } else {
                None
            }
        }
        _ => None,
    }
}

pub type DomainResult<T> = Result<T, DomainError>;
