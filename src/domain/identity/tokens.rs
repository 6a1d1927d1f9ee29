//! One-time tokens (email verification, invitations, request confirmation, export
//! download, password reset): 256-bit, stored as SHA-256, single use, expiring, compared
//! in constant time, locked after a few wrong guesses.

use chrono::Duration;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    Set,
};
use uuid::Uuid;

use crate::crypto::tokens::{mint, PresentedToken};
use crate::domain::entities::one_time_tokens;
use crate::domain::now;
use crate::error::{DomainError, DomainResult};

pub mod purpose {
    pub const EMAIL_VERIFICATION: &str = "EMAIL_VERIFICATION";
    pub const INVITATION: &str = "INVITATION";
    pub const REQUEST_CONFIRMATION: &str = "REQUEST_CONFIRMATION";
    pub const REQUEST_STATUS: &str = "REQUEST_STATUS";
    pub const EXPORT_DOWNLOAD: &str = "EXPORT_DOWNLOAD";
    pub const PASSWORD_RESET: &str = "PASSWORD_RESET";
}

const MAX_ATTEMPTS: i32 = 5;

/// Creates a token for `subject_id` and returns the only copy of its secret.
pub async fn issue(
    conn: &impl ConnectionTrait,
    purpose: &str,
    subject_id: Uuid,
    ttl: Duration,
) -> DomainResult<String> {
    let minted = mint(Uuid::now_v7());
    let at = now();
    one_time_tokens::ActiveModel {
        id: Set(minted.id),
        purpose: Set(purpose.to_string()),
        token_hash: Set(minted.secret_hash),
        subject_id: Set(subject_id),
        expires_at: Set(at + ttl),
        used_at: Set(None),
        attempts: Set(0),
        created_at: Set(at),
    }
    .insert(conn)
    .await?;
    Ok(minted.token)
}

/// Finds the live token a person presented, without using it up. Every way a token can
/// be wrong gives the same answer.
///
/// It takes the database itself, not a transaction, and is called before the caller
/// begins one: a wrong guess is counted on its own, so a caller that rolls back (as every
/// caller does on the error this returns) cannot take the count back with it. Using the
/// token up (`consume`) belongs in the caller's transaction and is itself atomic.
pub async fn find_valid(
    conn: &DatabaseConnection,
    purpose: &str,
    token: &str,
) -> DomainResult<one_time_tokens::Model> {
    let invalid = || DomainError::bad_input("this link is invalid or has expired");
    let presented = PresentedToken::parse(token).ok_or_else(invalid)?;
    let row = one_time_tokens::Entity::find_by_id(presented.id)
        .one(conn)
        .await?
        .ok_or_else(invalid)?;
    if row.purpose != purpose || row.attempts >= MAX_ATTEMPTS {
        return Err(invalid());
    }
    if !presented.matches(&row.token_hash) {
        one_time_tokens::Entity::update_many()
            .col_expr(
                one_time_tokens::Column::Attempts,
                Expr::col(one_time_tokens::Column::Attempts).add(1),
            )
            .filter(one_time_tokens::Column::Id.eq(row.id))
            .exec(conn)
            .await?;
        return Err(invalid());
    }
    if row.used_at.is_some() || row.expires_at <= now() {
        return Err(invalid());
    }
    Ok(row)
}

/// Uses a token up; fails if another request used it first.
pub async fn consume(conn: &impl ConnectionTrait, id: Uuid) -> DomainResult<()> {
    let result = one_time_tokens::Entity::update_many()
        .col_expr(one_time_tokens::Column::UsedAt, Expr::value(now()))
        .filter(one_time_tokens::Column::Id.eq(id))
        .filter(one_time_tokens::Column::UsedAt.is_null())
        .exec(conn)
        .await?;
    if result.rows_affected == 1 {
        Ok(())
    } else {
        Err(DomainError::bad_input(
            "this link is invalid or has expired",
        ))
    }
}

/// Ends every unused token of a purpose for a subject (when a newer one replaces them).
pub async fn revoke_for_subject(
    conn: &impl ConnectionTrait,
    purpose: &str,
    subject_id: Uuid,
) -> DomainResult<()> {
    one_time_tokens::Entity::update_many()
        .col_expr(one_time_tokens::Column::UsedAt, Expr::value(now()))
        .filter(one_time_tokens::Column::SubjectId.eq(subject_id))
        .filter(one_time_tokens::Column::Purpose.eq(purpose))
        .filter(one_time_tokens::Column::UsedAt.is_null())
        .exec(conn)
        .await?;
    Ok(())
}
