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

    pub fn internal(error: impl Into<anyhow::Error>) -> Self {
        Self::Internal(error.into())
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
        Self::Internal(err.into())
    }
}

pub type DomainResult<T> = Result<T, DomainError>;
