//! Accounts: sign-up with email verification, log-in, rotating refresh sessions with
//! reuse detection. Nothing here tells a caller whether an email address has an account.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QuerySelect, Set, TransactionSession, TransactionTrait,
};
use serde_json::json;
use uuid::Uuid;

use crate::config::AuthConfig;
use crate::crypto::password;
use crate::crypto::tokens::{mint, PresentedToken};
use crate::crypto::vault::Vault;
use crate::domain::entities::{sessions, users};
use crate::domain::identity::rate_limit::{LimitStore, RateLimiter};
use crate::domain::identity::tokens::{self, purpose};
use crate::domain::ops::audit::{self, Actor, NewEvent};
use crate::domain::ops::outbox::{self, Email};
use crate::domain::{clean_text, now, RequestMeta};
use crate::error::{DomainError, DomainResult};

pub const EMAIL_VERIFICATION_TTL_HOURS: i64 = 24;

/// An email address, trimmed and case-folded, checked for a plausible shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmailAddress(String);

impl EmailAddress {
    pub fn parse(raw: &str) -> DomainResult<Self> {
        let value = raw.trim().to_lowercase();
        let invalid = || DomainError::bad_input("email address is not valid");
        if value.len() > 254 || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid());
        }
        let (local, domain) = value.rsplit_once('@').ok_or_else(invalid)?;
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && domain
                .chars()
                .all(|c| c.is_alphanumeric() || c == '-' || c == '.');
        if local.is_empty() || local.len() > 64 || local.contains('@') || !domain_ok {
            return Err(invalid());
        }
        if local.chars().any(|c| {
            matches!(
                c,
                '<' | '>' | '(' | ')' | '[' | ']' | ',' | ';' | ':' | '\\' | '"'
            )
        }) {
            return Err(invalid());
        }
        Ok(Self(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn local_part(&self) -> &str {
        self.0.split('@').next().unwrap_or_default()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserStatus {
    Active,
    Restricted,
    Erased,
}

impl UserStatus {
    pub fn parse(value: &str) -> Self {
        match value {
            "RESTRICTED" => Self::Restricted,
            "ERASED" => Self::Erased,
            _ => Self::Active,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "ACTIVE",
            Self::Restricted => "RESTRICTED",
            Self::Erased => "ERASED",
        }
    }
}

/// Abuse limits for the account endpoints, counted in the database for every instance.
/// Failed log-ins count per account *and* client address, so one client guessing a
/// password cannot lock the account's owner out elsewhere; per address, whatever the
/// account; and per account from everywhere, at a higher bound against spread guessing.
pub struct AuthLimits {
    pub login_failures_per_email: RateLimiter,
    pub login_failures_per_account: RateLimiter,
    pub login_failures_per_ip: RateLimiter,
    pub signups_per_ip: RateLimiter,
    pub resets_per_ip: RateLimiter,
    pub resets_per_email: RateLimiter,
}

impl AuthLimits {
    pub fn new(config: &AuthConfig, store: &Arc<LimitStore>) -> Self {
        let window = StdDuration::from_secs(config.rate_window_secs);
        let limit = |scope, limit| RateLimiter::new(store, scope, limit, window);
        Self {
            login_failures_per_email: limit(
                "auth.login_failures_per_email_and_ip",
                config.login_failures_per_email,
            ),
            login_failures_per_account: limit(
                "auth.login_failures_per_account",
                config.login_failures_per_account,
            ),
            login_failures_per_ip: limit(
                "auth.login_failures_per_ip",
                config.login_failures_per_ip,
            ),
            signups_per_ip: limit("auth.signups_per_ip", config.signups_per_ip),
            resets_per_ip: limit("auth.resets_per_ip", config.signups_per_ip),
            resets_per_email: limit("auth.resets_per_email", config.password_resets_per_email),
        }
    }

    /// The limiters of one client an attempt on `email` from `ip` counts against, with
    /// their keys (the per-account bound is apart: see `reserve_attempt`).
    fn client_keyed<'a>(&'a self, email: &str, ip: Option<&str>) -> Vec<(&'a RateLimiter, String)> {
        let mut keyed = vec![(
            &self.login_failures_per_email,
            format!("{email}|{}", ip.unwrap_or("-")),
        )];
        if let Some(ip) = ip {
            keyed.push((&self.login_failures_per_ip, ip.to_string()));
        }
        keyed
    }

    /// Counts an attempt before the password is checked, so that guesses sent at once
    /// cannot all pass the check before any is counted; refused when a limit is reached
    /// (nothing is counted then).
    ///
    /// The per-account bound (failures from every client together) would let anyone lock
    /// an owner out by guessing from many addresses; so a client at a place the account
    /// has signed in from before (`known_place`, asked only when the bound is reached)
    /// passes it, held to its own limits alone. Returns whether the attempt counts
    /// against the account.
    pub async fn reserve_attempt<F, Fut>(
        &self,
        email: &str,
        ip: Option<&str>,
        known_place: F,
    ) -> DomainResult<bool>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = DomainResult<bool>>,
    {
        let keyed = self.client_keyed(email, ip);
        let keyed: Vec<(&RateLimiter, &str)> =
            keyed.iter().map(|(l, k)| (*l, k.as_str())).collect();
        RateLimiter::reserve_all(&keyed).await?;
        let account = [(&self.login_failures_per_account, email)];
        match RateLimiter::reserve_all(&account).await {
            Ok(()) => Ok(true),
            Err(refused @ DomainError::RateLimited { .. }) => {
                if known_place().await? {
                    return Ok(false);
                }
                for (limiter, key) in &keyed {
                    limiter.refund(key).await?;
                }
                Err(refused)
            }
            Err(other) => Err(other),
        }
    }

    /// The attempt was right: it does not count as a failure, and this client's
    /// failures on the account are forgotten.
    /// Call it outside any transaction: on SQLite the counters share the one writer.
    pub async fn attempt_succeeded(
        &self,
        email: &str,
        ip: Option<&str>,
        counted_on_account: bool,
    ) -> DomainResult<()> {
        for (limiter, key) in self.client_keyed(email, ip) {
            limiter.refund(&key).await?;
        }
        if counted_on_account {
            self.login_failures_per_account.refund(email).await?;
        }
        self.login_failures_per_email
            .reset(&format!("{email}|{}", ip.unwrap_or("-")))
            .await
    }

    /// A password was reset through the emailed link: whoever guessed at the account
    /// before no longer holds it shut for its owner.
    pub async fn account_recovered(&self, email: &str) -> DomainResult<()> {
        self.login_failures_per_account.reset(email).await
    }
}

/// How long a network the account signed in from stays a known place.
const KNOWN_PLACE_DAYS: i64 = 90;

/// Whether the account of `email` signed in successfully from `ip`'s network (as the
/// audit log keeps it: an IPv4 /24, an IPv6 /48) in the last `KNOWN_PLACE_DAYS` days.
async fn known_place(
    conn: &impl ConnectionTrait,
    email: &EmailAddress,
    ip: Option<std::net::IpAddr>,
) -> DomainResult<bool> {
    use crate::domain::entities::audit_events;
    let Some(ip) = ip else {
        return Ok(false);
    };
    let Some(user) = find_by_email(conn, email).await? else {
        return Ok(false);
    };
    let seen = audit_events::Entity::find()
        .filter(audit_events::Column::Action.eq("auth.login_succeeded"))
        .filter(audit_events::Column::ActorKind.eq("user"))
        .filter(audit_events::Column::ActorId.eq(user.id.to_string()))
        .filter(audit_events::Column::Ip.eq(audit::truncate_ip(ip)))
        .filter(audit_events::Column::At.gt(now() - Duration::days(KNOWN_PLACE_DAYS)))
        .count(conn)
        .await?;
    Ok(seen > 0)
}

pub struct SignUp {
    pub email: String,
    pub password: String,
    pub display_name: String,
}

/// Registers an account and emails a verification link. When the address already has an
/// account, its owner is told by email instead; the caller sees the same outcome.
pub async fn sign_up(
    conn: &(impl ConnectionTrait + TransactionTrait),
    vault: &Vault,
    limits: &AuthLimits,
    input: SignUp,
    meta: &RequestMeta,
) -> DomainResult<()> {
    if let Some(ip) = meta.ip {
        limits.signups_per_ip.check_and_hit(&ip.to_string()).await?;
    }
    let email = EmailAddress::parse(&input.email)?;
    let display_name = clean_text("display name", &input.display_name, 100)?;
    password::check_strength(&input.password, &[email.local_part(), &display_name])?;
    // Hash before looking anything up, so both outcomes cost the same.
    let password_hash = hash_off_thread(input.password).await?;

    // Two sign-ups racing for one address: the loser's insert (or commit) meets the
    // winner's row; it is run again and finds the account, which is the outcome the
    // caller would have had anyway.
    let mut raced = false;
    loop {
        let txn = conn.begin().await?;
        let registered =
            match register(&txn, vault, &email, &display_name, &password_hash, meta).await {
                Ok(()) => txn.commit().await.map_err(DomainError::from),
                Err(e) => Err(e),
            };
        match registered {
            Err(e) if e.is_duplicate() && !raced => raced = true,
            other => return other,
        }
    }
}

/// The sign-up's writes: a new account with its verification email, or the email that
/// tells an existing account's owner.
async fn register(
    txn: &(impl ConnectionTrait + TransactionTrait),
    vault: &Vault,
    email: &EmailAddress,
    display_name: &str,
    password_hash: &str,
    meta: &RequestMeta,
) -> DomainResult<()> {
    let existing = find_by_email(txn, email).await?;
    match existing {
        Some(user) => {
            outbox::enqueue(
                txn,
                vault,
                &Email::AccountExists {
                    to: user.email.clone(),
                    display_name: user.display_name.clone(),
                },
            )
            .await?;
            audit::record(
                txn,
                NewEvent::new(Actor::Anonymous, "account.sign_up_for_existing")
                    .target("user", user.id),
                meta,
            )
            .await?;
        }
        None => {
            let at = now();
            let user = users::ActiveModel {
                id: Set(Uuid::now_v7()),
                email: Set(email.as_str().to_string()),
                display_name: Set(display_name.to_string()),
                password_hash: Set(password_hash.to_string()),
                email_verified_at: Set(None),
                locale: Set("en".into()),
                time_zone: Set("UTC".into()),
                status: Set(UserStatus::Active.as_str().into()),
                mention_emails: Set(true),
                created_at: Set(at),
                updated_at: Set(at),
            }
            .insert(txn)
            .await?;
            let token = tokens::issue(
                txn,
                purpose::EMAIL_VERIFICATION,
                user.id,
                Duration::hours(EMAIL_VERIFICATION_TTL_HOURS),
            )
            .await?;
            outbox::enqueue(
                txn,
                vault,
                &Email::VerifyEmail {
                    to: user.email.clone(),
                    display_name: display_name.to_string(),
                    token,
                },
            )
            .await?;
            audit::record(
                txn,
                NewEvent::new(Actor::User(user.id), "account.signed_up").target("user", user.id),
                meta,
            )
            .await?;
        }
    }
    Ok(())
}

/// Marks the address verified using the emailed link's token.
pub async fn verify_email(
    conn: &sea_orm::DatabaseConnection,
    token: &str,
    meta: &RequestMeta,
) -> DomainResult<users::Model> {
    let row = tokens::find_valid(conn, purpose::EMAIL_VERIFICATION, token).await?;
    let txn = conn.begin().await?;
    tokens::consume(&txn, row.id).await?;
    let user = users::Entity::find_by_id(row.subject_id)
        .one(&txn)
        .await?
        .ok_or(DomainError::NotFound("account"))?;
    let user = if user.email_verified_at.is_none() {
        let mut active: users::ActiveModel = user.into();
        active.email_verified_at = Set(Some(now()));
        active.updated_at = Set(now());
        active.update(&txn).await?
    } else {
        user
    };
    audit::record(
        &txn,
        NewEvent::new(Actor::User(user.id), "account.email_verified").target("user", user.id),
        meta,
    )
    .await?;
    txn.commit().await?;
    Ok(user)
}

/// How long a password-reset link works.
pub const PASSWORD_RESET_TTL_MINUTES: i64 = 60;

/// What a queued password reset carries, sealed: the address asked for and who asked.
#[derive(serde::Serialize, serde::Deserialize)]
struct ResetAsked {
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

async fn reuse_detected<T>(
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

async fn issue_session(
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

pub async fn find_by_email(
    conn: &impl ConnectionTrait,
    email: &EmailAddress,
) -> DomainResult<Option<users::Model>> {
    Ok(users::Entity::find()
        .filter(users::Column::Email.eq(email.as_str()))
        .one(conn)
        .await?)
}

pub async fn find_by_id(
    conn: &impl ConnectionTrait,
    id: Uuid,
) -> DomainResult<Option<users::Model>> {
    Ok(users::Entity::find_by_id(id).one(conn).await?)
}

pub use crate::domain::entities::users::Person;

/// The read of several people: only the columns of [`Person`].
fn people(ids: &[Uuid]) -> sea_orm::Select<users::Entity> {
    use sea_orm::PartialModelTrait;
    Person::select_cols(users::Entity::find().select_only())
        .filter(users::Column::Id.is_in(ids.iter().copied()))
}

/// Loads several people at once (for DataLoaders), without their password hashes.
pub async fn find_many(
    conn: &impl crate::db::reads::Reads,
    ids: &[Uuid],
) -> DomainResult<Vec<Person>> {
    Ok(conn
        .all(sea_orm::QueryTrait::build(&people(ids), conn.backend()))
        .await?)
}

/// Checks the signed-in user's password again before a grave action. Wrong answers count
/// against the account's log-in failure limits.
pub async fn reauthenticate(
    limits: &AuthLimits,
    user: &users::Model,
    password: String,
) -> DomainResult<()> {
    // A signed-in session is a known place: guesses from elsewhere do not lock it out.
    let counted = limits
        .reserve_attempt(&user.email, None, || async { Ok(true) })
        .await?;
    if verify_off_thread(password, Some(user.password_hash.clone())).await? {
        limits.attempt_succeeded(&user.email, None, counted).await
    } else {
        Err(DomainError::forbidden("the password is incorrect"))
    }
}

async fn hash_off_thread(password: String) -> DomainResult<String> {
    tokio::task::spawn_blocking(move || password::hash(&password))
        .await
        .map_err(DomainError::internal)?
}

async fn verify_off_thread(password: String, stored: Option<String>) -> DomainResult<bool> {
    tokio::task::spawn_blocking(move || password::verify(&password, stored.as_deref()))
        .await
        .map_err(DomainError::internal)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The people a page shows are read by the columns it returns: never the password
    /// hash.
    #[test]
    fn people_are_read_without_their_password_hashes() {
        use sea_orm::{DbBackend, QueryTrait};
        let sql = people(&[Uuid::nil()]).build(DbBackend::Sqlite).to_string();
        let columns: Vec<&str> = sql
            .strip_prefix("SELECT ")
            .and_then(|rest| rest.split(" FROM ").next())
            .unwrap_or_default()
            .split(", ")
            .map(|item| item.rsplit(' ').next().unwrap_or(item).trim_matches('"'))
            .collect();
        assert_eq!(
            columns,
            [
                "id",
                "email",
                "display_name",
                "email_verified_at",
                "locale",
                "time_zone",
                "status",
                "mention_emails",
                "created_at"
            ],
            "{sql}"
        );
    }

    #[test]
    fn emails_are_case_folded_and_trimmed() -> crate::TestResult {
        assert_eq!(
            EmailAddress::parse("  Alice@Example.COM ")?.as_str(),
            "alice@example.com"
        );
        Ok(())
    }

    #[test]
    fn malformed_emails_are_refused() -> crate::TestResult {
        for bad in [
            "",
            "alice",
            "alice@",
            "@example.com",
            "a b@example.com",
            "alice@example",
            "alice@exa..mple.com",
            "<a>@x.io",
            "a@b@c.io",
        ] {
            assert!(
                EmailAddress::parse(bad).is_err(),
                "{bad:?} should be refused"
            );
        }
        Ok(())
    }
}
