//! Sessions: logging in (throttled), refresh tokens rotated with reuse detection that ends
//! the whole family, logging out.

use super::limits::known_place;
use super::{
    find_by_email, verify_off_thread, AuthLimits, EmailAddress, UserStatus,
    EMAIL_VERIFICATION_TTL_HOURS,
};
use crate::config::AuthConfig;
use crate::crypto::tokens::{mint, PresentedToken};
use crate::crypto::vault::Vault;
use crate::domain::entities::{sessions, users};
use crate::domain::identity::tokens::{self, purpose};
use crate::domain::ops::audit::{self, Actor, NewEvent};
use crate::domain::ops::outbox::{self, Email};
use crate::domain::{now, RequestMeta};
use crate::error::{DomainError, DomainResult};
use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set,
    TransactionSession, TransactionTrait,
};
use serde_json::json;
use uuid::Uuid;

/// A refresh session handed to a client: the token is the only copy of its secret.
pub struct IssuedSession {
    pub session_id: Uuid,
    pub refresh_token: String,
    pub expires_at: DateTime<Utc>,
}

pub struct LogIn {
    pub email: String,
    pub password: String,
}

/// Checks a password and opens a new session family. Failures are counted per email and
/// per IP; every failure looks the same to the caller.
pub async fn log_in(
    conn: &(impl ConnectionTrait + TransactionTrait),
    vault: &Vault,
    limits: &AuthLimits,
    config: &AuthConfig,
    input: LogIn,
    meta: &RequestMeta,
) -> DomainResult<(users::Model, IssuedSession)> {
    let email = EmailAddress::parse(&input.email)?;
    let ip_key = meta.ip.map(|ip| ip.to_string());
    let counted_on_account = limits
        .reserve_attempt(email.as_str(), ip_key.as_deref(), || {
            known_place(conn, &email, meta.ip)
        })
        .await?;

    let user = find_by_email(conn, &email)
        .await?
        .filter(|u| UserStatus::parse(&u.status) != UserStatus::Erased);
    let stored = user.as_ref().map(|u| u.password_hash.clone());
    let password_ok = verify_off_thread(input.password, stored).await?;

    let Some(user) = user.filter(|_| password_ok) else {
        // The attempt reserved above stays counted as the failure it was.
        audit::record(
            conn,
            NewEvent::new(Actor::Anonymous, "auth.login_failed"),
            meta,
        )
        .await?;
        return Err(DomainError::Unauthenticated(
            "email or password is incorrect".into(),
        ));
    };

    let txn = conn.begin().await?;
    if user.email_verified_at.is_none() {
        // Only someone who knows the password learns this; send them a fresh link
        // (earlier links keep working until they expire). The attempt stays counted like
        // a failure so that repeating it cannot flood the inbox.
        let token = tokens::issue(
            &txn,
            purpose::EMAIL_VERIFICATION,
            user.id,
            Duration::hours(EMAIL_VERIFICATION_TTL_HOURS),
        )
        .await?;
        outbox::enqueue(
            &txn,
            vault,
            &Email::VerifyEmail {
                to: user.email.clone(),
                display_name: user.display_name.clone(),
                token,
            },
        )
        .await?;
        txn.commit().await?;
        return Err(DomainError::forbidden(
            "confirm your email address first: we have sent you a new link",
        ));
    }
    let session = issue_session(&txn, user.id, Uuid::now_v7(), config, meta).await?;
    audit::record(
        &txn,
        NewEvent::new(Actor::User(user.id), "auth.login_succeeded")
            .target("session", session.session_id),
        meta,
    )
    .await?;
    txn.commit().await?;
    limits
        .attempt_succeeded(email.as_str(), ip_key.as_deref(), counted_on_account)
        .await?;
    Ok((user, session))
}

/// Rotates a refresh token: the presented one is spent and a new one in the same family
/// is returned. Presenting a spent token again revokes the whole family.
pub async fn refresh_session(
    conn: &(impl ConnectionTrait + TransactionTrait),
    config: &AuthConfig,
    refresh_token: &str,
    meta: &RequestMeta,
) -> DomainResult<(users::Model, IssuedSession)> {
    let invalid = || DomainError::Unauthenticated("refresh token is invalid or expired".into());
    let presented = PresentedToken::parse(refresh_token).ok_or_else(invalid)?;
    let txn = conn.begin().await?;
    let session = sessions::Entity::find_by_id(presented.id)
        .one(&txn)
        .await?
        .filter(|s| presented.matches(&s.refresh_token_hash))
        .ok_or_else(invalid)?;

    if let Some(reason) = &session.revoked_at.and(session.revoked_reason.clone()) {
        if reason == "rotated" {
            return reuse_detected(txn, &session, meta).await;
        }
        return Err(invalid());
    }
    if session.expires_at <= now() {
        return Err(invalid());
    }
    let user = users::Entity::find_by_id(session.user_id)
        .one(&txn)
        .await?
        .filter(|u| UserStatus::parse(&u.status) != UserStatus::Erased)
        .ok_or_else(invalid)?;

    let spent = sessions::Entity::update_many()
        .col_expr(sessions::Column::RevokedAt, Expr::value(now()))
        .col_expr(sessions::Column::RevokedReason, Expr::value("rotated"))
        .col_expr(sessions::Column::LastUsedAt, Expr::value(now()))
        .filter(sessions::Column::Id.eq(session.id))
        .filter(sessions::Column::RevokedAt.is_null())
        .exec(&txn)
        .await?;
    if spent.rows_affected != 1 {
        // Another request spent it between our read and this write: that is reuse too.
        return reuse_detected(txn, &session, meta).await;
    }
    let issued = issue_session(&txn, user.id, session.family_id, config, meta).await?;
    txn.commit().await?;
    Ok((user, issued))
}

pub(super) async fn reuse_detected<T>(
    txn: impl ConnectionTrait + TransactionTrait + TransactionSession,
    session: &sessions::Model,
    meta: &RequestMeta,
) -> DomainResult<T> {
    let revoked = sessions::Entity::update_many()
        .col_expr(sessions::Column::RevokedAt, Expr::value(now()))
        .col_expr(
            sessions::Column::RevokedReason,
            Expr::value("reuse_detected"),
        )
        .filter(sessions::Column::FamilyId.eq(session.family_id))
        // Sessions only rotated so far are revoked too: whoever holds the reused refresh
        // token may hold their access tokens.
        .filter(
            sea_orm::Condition::any()
                .add(sessions::Column::RevokedAt.is_null())
                .add(sessions::Column::RevokedReason.eq("rotated")),
        )
        .exec(&txn)
        .await?;
    audit::record(
        &txn,
        NewEvent::new(Actor::User(session.user_id), "auth.refresh_reuse_detected")
            .target("session_family", session.family_id)
            .details(json!({ "sessions_revoked": revoked.rows_affected })),
        meta,
    )
    .await?;
    txn.commit().await?;
    tracing::warn!(family = %session.family_id, "refresh token reuse detected; session family revoked");
    Err(DomainError::Unauthenticated(
        "this refresh token was already used; sign in again".into(),
    ))
}

/// Ends the session a refresh token belongs to. Returns the session when a live one
/// ended.
pub async fn log_out(
    conn: &(impl ConnectionTrait + TransactionTrait),
    refresh_token: &str,
    meta: &RequestMeta,
) -> DomainResult<Option<Uuid>> {
    let Some(presented) = PresentedToken::parse(refresh_token) else {
        return Ok(None);
    };
    let txn = conn.begin().await?;
    let Some(session) = sessions::Entity::find_by_id(presented.id)
        .one(&txn)
        .await?
        .filter(|s| presented.matches(&s.refresh_token_hash))
    else {
        return Ok(None);
    };
    let ended = sessions::Entity::update_many()
        .col_expr(sessions::Column::RevokedAt, Expr::value(now()))
        .col_expr(sessions::Column::RevokedReason, Expr::value("logout"))
        .filter(sessions::Column::Id.eq(session.id))
        .filter(sessions::Column::RevokedAt.is_null())
        .exec(&txn)
        .await?;
    if ended.rows_affected == 1 {
        audit::record(
            &txn,
            NewEvent::new(Actor::User(session.user_id), "auth.logged_out")
                .target("session", session.id),
            meta,
        )
        .await?;
    }
    txn.commit().await?;
    Ok((ended.rows_affected == 1).then_some(session.id))
}

pub(super) async fn issue_session(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    family_id: Uuid,
    config: &AuthConfig,
    meta: &RequestMeta,
) -> DomainResult<IssuedSession> {
    let minted = mint(Uuid::now_v7());
    let at = now();
    let expires_at = at + Duration::days(config.refresh_token_days);
    sessions::ActiveModel {
        id: Set(minted.id),
        user_id: Set(user_id),
        family_id: Set(family_id),
        refresh_token_hash: Set(minted.secret_hash),
        created_at: Set(at),
        last_used_at: Set(at),
        expires_at: Set(expires_at),
        revoked_at: Set(None),
        revoked_reason: Set(None),
        user_agent: Set(meta
            .user_agent
            .as_ref()
            .map(|ua| ua.chars().take(300).collect())),
    }
    .insert(conn)
    .await?;
    Ok(IssuedSession {
        session_id: minted.id,
        refresh_token: minted.token,
        expires_at,
    })
}
