//! Resetting a forgotten password: asked for (the email sealed in a job, so every answer
//! looks the same), sent, and used.

use super::limits::AuthLimits;
use super::{find_by_email, hash_off_thread, EmailAddress, UserStatus, PASSWORD_RESET_TTL_MINUTES};
use crate::crypto::password;
use crate::crypto::vault::Vault;
use crate::domain::entities::{sessions, users};
use crate::domain::identity::tokens::{self, purpose};
use crate::domain::ops::audit::{self, Actor, NewEvent};
use crate::domain::ops::outbox::{self, Email};
use crate::domain::{now, RequestMeta};
use crate::error::{DomainError, DomainResult};
use chrono::Duration;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, Set,
    TransactionSession, TransactionTrait,
};
use serde_json::json;
use uuid::Uuid;

/// What a queued password reset carries, sealed: the address asked for and who asked.
#[derive(serde::Serialize, serde::Deserialize)]
pub(super) struct ResetAsked {
    email: String,
    ip: Option<std::net::IpAddr>,
    user_agent: Option<String>,
}

/// The context a queued reset's payload is sealed under.
pub(crate) const RESET_SEAL_CONTEXT: &[u8] = b"atelier:password-reset:v1";

/// Asks for a password-reset email. The answer must not tell whether the address has an
/// account, in its content or in its time: what is done here is the same either way
/// (the limits counted, one job queued with the address sealed), and the account is
/// looked up by the job (`send_password_reset`). Over the per-address limit nothing is
/// queued, and nothing says so.
pub async fn request_password_reset(
    conn: &impl ConnectionTrait,
    vault: &Vault,
    limits: &AuthLimits,
    email: &str,
    meta: &RequestMeta,
) -> DomainResult<()> {
    if let Some(ip) = meta.ip {
        limits.resets_per_ip.check_and_hit(&ip.to_string()).await?;
    }
    let email = EmailAddress::parse(email)?;
    match limits.resets_per_email.check_and_hit(email.as_str()).await {
        Ok(()) => {}
        Err(DomainError::RateLimited { .. }) => return Ok(()),
        Err(e) => return Err(e),
    }
    let asked = ResetAsked {
        email: email.as_str().to_string(),
        ip: meta.ip,
        user_agent: meta.user_agent.clone(),
    };
    let plain = serde_json::to_vec(&asked).map_err(DomainError::internal)?;
    let payload = json!({ "sealed_reset": vault.seal(&plain, RESET_SEAL_CONTEXT) });
    crate::domain::ops::jobs::enqueue(
        conn,
        crate::domain::ops::jobs::kind::PASSWORD_RESET,
        &payload,
    )
    .await?;
    Ok(())
}

/// The job behind `request_password_reset`: when the address has an active account, a
/// new one-hour link replaces any earlier one and is emailed; otherwise nothing.
pub async fn send_password_reset(
    conn: &(impl ConnectionTrait + TransactionTrait),
    vault: &Vault,
    payload: &str,
) -> anyhow::Result<()> {
    let payload: serde_json::Value = serde_json::from_str(payload)?;
    let sealed = payload["sealed_reset"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("a password reset job without its sealed request"))?;
    let asked: ResetAsked = serde_json::from_slice(&vault.open(sealed, RESET_SEAL_CONTEXT)?)?;
    let email = EmailAddress::parse(&asked.email)?;
    let Some(user) = find_by_email(conn, &email)
        .await?
        .filter(|u| UserStatus::parse(&u.status) == UserStatus::Active)
    else {
        return Ok(());
    };
    let meta = RequestMeta {
        ip: asked.ip,
        user_agent: asked.user_agent,
        accept_language: None,
    };
    let txn = conn.begin().await?;
    tokens::revoke_for_subject(&txn, purpose::PASSWORD_RESET, user.id).await?;
    let token = tokens::issue(
        &txn,
        purpose::PASSWORD_RESET,
        user.id,
        Duration::minutes(PASSWORD_RESET_TTL_MINUTES),
    )
    .await?;
    outbox::enqueue(
        &txn,
        vault,
        &Email::PasswordReset {
            to: user.email.clone(),
            display_name: user.display_name.clone(),
            token,
        },
    )
    .await?;
    audit::record(
        &txn,
        NewEvent::new(Actor::Anonymous, "account.password_reset_requested").target("user", user.id),
        &meta,
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// Sets a new password with an emailed reset link: the link is spent, every session of
/// the account ends (their access tokens and subscriptions with them), the address
/// counts as verified (the link proved it), and the owner is told by email. Returns the
/// ended sessions.
pub async fn reset_password(
    conn: &sea_orm::DatabaseConnection,
    vault: &Vault,
    limits: &AuthLimits,
    token: &str,
    new_password: String,
    meta: &RequestMeta,
) -> DomainResult<Vec<Uuid>> {
    let row = tokens::find_valid(conn, purpose::PASSWORD_RESET, token).await?;
    let user = users::Entity::find_by_id(row.subject_id)
        .one(conn)
        .await?
        .filter(|u| UserStatus::parse(&u.status) == UserStatus::Active)
        .ok_or_else(|| DomainError::bad_input("this link is invalid or has expired"))?;
    password::check_strength(&new_password, &[&user.email, &user.display_name])?;
    let password_hash = hash_off_thread(new_password).await?;
    let txn = conn.begin().await?;
    tokens::consume(&txn, row.id).await?;
    let ended: Vec<Uuid> = sessions::Entity::find()
        .select_only()
        .column(sessions::Column::Id)
        .filter(sessions::Column::UserId.eq(user.id))
        .filter(
            sea_orm::Condition::any()
                .add(sessions::Column::RevokedAt.is_null())
                .add(sessions::Column::RevokedReason.eq("rotated")),
        )
        .into_tuple()
        .all(&txn)
        .await?;
    sessions::Entity::update_many()
        .col_expr(sessions::Column::RevokedAt, Expr::value(now()))
        .col_expr(
            sessions::Column::RevokedReason,
            Expr::value("password_reset"),
        )
        .filter(sessions::Column::Id.is_in(ended.clone()))
        .exec(&txn)
        .await?;
    let mut active: users::ActiveModel = user.clone().into();
    active.password_hash = Set(password_hash);
    if user.email_verified_at.is_none() {
        active.email_verified_at = Set(Some(now()));
    }
    active.updated_at = Set(now());
    active.update(&txn).await?;
    outbox::enqueue(
        &txn,
        vault,
        &Email::PasswordChanged {
            to: user.email.clone(),
            display_name: user.display_name.clone(),
        },
    )
    .await?;
    audit::record(
        &txn,
        NewEvent::new(Actor::User(user.id), "account.password_reset")
            .target("user", user.id)
            .details(json!({ "sessions_ended": ended.len() })),
        meta,
    )
    .await?;
    txn.commit().await?;
    // The owner proved the mailbox: guesses at the account no longer hold it shut.
    limits.account_recovered(&user.email).await?;
    Ok(ended)
}
