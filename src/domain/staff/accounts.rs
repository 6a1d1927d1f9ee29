//! Staff of the compliance portal: accounts separate from product users, argon2id
//! passwords, throttled log-in with lockout, and cookie sessions with idle and absolute
//! expiry, each carrying its own CSRF secret.

use chrono::Duration;
use rand::RngCore;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, Set, TransactionSession, TransactionTrait,
};
use serde_json::json;
use uuid::Uuid;

use crate::crypto::password;
use crate::crypto::tokens::{mint, PresentedToken};
use crate::domain::entities::{staff_sessions, staff_users};
use crate::domain::identity::accounts::EmailAddress;
use crate::domain::identity::rate_limit::RateLimiter;
use crate::domain::identity::tokens;
use crate::domain::ops::audit::{self, Actor, NewEvent};
use crate::domain::{clean_text, now, RequestMeta};
use crate::error::{DomainError, DomainResult};

pub const IDLE_TIMEOUT_MINUTES: i64 = 30;
pub const ABSOLUTE_TIMEOUT_HOURS: i64 = 12;
pub const LOCKOUT_AFTER_FAILURES: i32 = 5;
pub const LOCKOUT_MINUTES: i64 = 15;
pub const SETUP_PURPOSE: &str = "STAFF_SETUP";

/// Staff roles, from least to most powerful. SUPPORT reads and adds notes; COMPLIANCE
/// also decides and fulfils requests; ADMIN also manages staff, policies and keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum StaffRole {
    Support,
    Compliance,
    Admin,
}

impl StaffRole {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Support => "SUPPORT",
            Self::Compliance => "COMPLIANCE",
            Self::Admin => "ADMIN",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value.trim().to_ascii_uppercase().as_str() {
            "SUPPORT" => Some(Self::Support),
            "COMPLIANCE" => Some(Self::Compliance),
            "ADMIN" => Some(Self::Admin),
            _ => None,
        }
    }
}

/// A signed-in staff member, as proven by a live session.
#[derive(Clone, Debug)]
pub struct StaffIdentity {
    pub staff: staff_users::Model,
    pub session: staff_sessions::Model,
    pub role: StaffRole,
}

impl StaffIdentity {
    /// Refuses with FORBIDDEN unless the staff member's role is at least `needed`.
    pub fn require(&self, needed: StaffRole) -> DomainResult<()> {
        if self.role >= needed {
            Ok(())
        } else {
            Err(DomainError::forbidden(format!(
                "this needs the {} role; you are {}",
                needed.as_str(),
                self.role.as_str()
            )))
        }
    }

    pub fn actor(&self) -> Actor {
        Actor::Staff(self.staff.id)
    }
}

/// Creates a staff account (the CLI, the first-admin setup, or an ADMIN).
pub async fn create_staff(
    conn: &(impl ConnectionTrait + TransactionTrait),
    email: &str,
    name: &str,
    password_plain: &str,
    role: StaffRole,
    created_by: Actor,
    meta: &RequestMeta,
) -> DomainResult<staff_users::Model> {
    let email = EmailAddress::parse(email)?;
    let name = clean_text("name", name, 100)?;
    password::check_strength(password_plain, &[email.as_str(), &name])?;
    let plain = password_plain.to_string();
    let hash = tokio::task::spawn_blocking(move || password::hash(&plain))
        .await
        .map_err(DomainError::internal)??;
    let txn = conn.begin().await?;
    if staff_users::Entity::find()
        .filter(staff_users::Column::Email.eq(email.as_str()))
        .count(&txn)
        .await?
        > 0
    {
        return Err(DomainError::conflict(
            "a staff account with this email already exists",
        ));
    }
    let staff = staff_users::ActiveModel {
        id: Set(Uuid::now_v7()),
        email: Set(email.as_str().to_string()),
        name: Set(name),
        password_hash: Set(hash),
        role: Set(role.as_str().into()),
        failed_logins: Set(0),
        locked_until: Set(None),
        disabled_at: Set(None),
        created_at: Set(now()),
    }
    .insert(&txn)
    .await?;
    audit::record(
        &txn,
        NewEvent::new(created_by, "staff.created")
            .target("staff", staff.id)
            .details(json!({ "role": role.as_str() })),
        meta,
    )
    .await?;
    txn.commit().await?;
    Ok(staff)
}

/// True while no staff account exists (the first-admin setup link is offered then).
pub async fn none_exist(conn: &impl ConnectionTrait) -> DomainResult<bool> {
    Ok(staff_users::Entity::find().count(conn).await? == 0)
}

/// The first-admin setup token; call only while `none_exist`. There is one at a time:
/// while it is unused and unexpired every start gives out the same one (its secret is
/// derived from its row and `key`), and a new one (24 hours) is made only after it
/// expired.
pub async fn setup_token(conn: &impl ConnectionTrait, key: &[u8; 32]) -> DomainResult<String> {
    use crate::domain::entities::one_time_tokens;
    let at = crate::domain::now();
    let live = one_time_tokens::Entity::find()
        .filter(one_time_tokens::Column::Purpose.eq(SETUP_PURPOSE))
        .filter(one_time_tokens::Column::UsedAt.is_null())
        .filter(one_time_tokens::Column::ExpiresAt.gt(at))
        .all(conn)
        .await?;
    // A token minted by an older build (random secret) cannot be given out again: it
    // goes, and the derived one replaces it.
    for row in &live {
        if crate::crypto::tokens::mint_derived(row.id, key).secret_hash == row.token_hash {
            return Ok(crate::crypto::tokens::mint_derived(row.id, key).token);
        }
        one_time_tokens::Entity::delete_by_id(row.id)
            .exec(conn)
            .await?;
    }
    let minted = crate::crypto::tokens::mint_derived(Uuid::now_v7(), key);
    one_time_tokens::ActiveModel {
        id: Set(minted.id),
        purpose: Set(SETUP_PURPOSE.to_string()),
        token_hash: Set(minted.secret_hash),
        subject_id: Set(Uuid::nil()),
        expires_at: Set(at + Duration::hours(24)),
        used_at: Set(None),
        attempts: Set(0),
        created_at: Set(at),
    }
    .insert(conn)
    .await?;
    Ok(minted.token)
}

/// Creates the first ADMIN with the printed setup token, and signs them in.
pub async fn complete_setup(
    conn: &sea_orm::DatabaseConnection,
    token: &str,
    email: &str,
    name: &str,
    password_plain: &str,
    meta: &RequestMeta,
) -> DomainResult<(StaffIdentity, String)> {
    let row = tokens::find_valid(conn, SETUP_PURPOSE, token).await?;
    if !none_exist(conn).await? {
        return Err(DomainError::bad_input(
            "setup is already complete; sign in instead",
        ));
    }
    let staff = create_staff(
        conn,
        email,
        name,
        password_plain,
        StaffRole::Admin,
        Actor::Anonymous,
        meta,
    )
    .await?;
    tokens::consume(conn, row.id).await?;
    open_session(conn, staff, meta).await
}

/// Abuse limits on the staff log-in, per address and per client IP, counted in the
/// database for every instance.
pub struct StaffLoginLimits {
    pub per_email: RateLimiter,
    pub per_ip: RateLimiter,
}

impl StaffLoginLimits {
    pub fn new(store: &std::sync::Arc<crate::domain::identity::rate_limit::LimitStore>) -> Self {
        let window = std::time::Duration::from_secs(15 * 60);
        Self {
            per_email: RateLimiter::new(store, "staff.logins_per_email", 10, window),
            per_ip: RateLimiter::new(store, "staff.logins_per_ip", 30, window),
        }
    }
}

/// Checks a staff password and opens a session; returns the session cookie's value.
/// Five wrong passwords lock the account for 15 minutes.
pub async fn log_in(
    conn: &(impl ConnectionTrait + TransactionTrait),
    limits: &StaffLoginLimits,
    email: &str,
    password_plain: &str,
    meta: &RequestMeta,
) -> DomainResult<(StaffIdentity, String)> {
    let refused = || DomainError::Unauthenticated("email or password is incorrect".into());
    let email = EmailAddress::parse(email).map_err(|_| refused())?;
    let ip_key = meta.ip.map(|ip| ip.to_string()).unwrap_or_default();
    // Each attempt is counted before its password is checked (and given back when it
    // was right), so guesses sent at once cannot all pass the limit before any counts.
    RateLimiter::reserve_all(&[
        (&limits.per_email, email.as_str()),
        (&limits.per_ip, &ip_key),
    ])
    .await?;
    let staff = staff_users::Entity::find()
        .filter(staff_users::Column::Email.eq(email.as_str()))
        .one(conn)
        .await?;
    let stored = staff.as_ref().map(|s| s.password_hash.clone());
    let plain = password_plain.to_string();
    let ok = tokio::task::spawn_blocking(move || password::verify(&plain, stored.as_deref()))
        .await
        .map_err(DomainError::internal)?;
    let Some(staff) = staff else {
        audit::record(
            conn,
            NewEvent::new(Actor::Anonymous, "staff.login_failed"),
            meta,
        )
        .await?;
        return Err(refused());
    };
    if staff.locked_until.is_some_and(|until| until > now()) {
        audit::record(
            conn,
            NewEvent::new(Actor::Anonymous, "staff.login_locked_out").target("staff", staff.id),
            meta,
        )
        .await?;
        return Err(DomainError::RateLimited {
            retry_after_secs: (LOCKOUT_MINUTES * 60) as u64,
        });
    }
    if !ok || staff.disabled_at.is_some() {
        // Counted in the database itself (not read, added to and written back), so
        // wrong passwords sent at once are each counted; the lock falls on whichever
        // reaches the limit.
        staff_users::Entity::update_many()
            .col_expr(
                staff_users::Column::FailedLogins,
                Expr::col(staff_users::Column::FailedLogins).add(1),
            )
            .filter(staff_users::Column::Id.eq(staff.id))
            .exec(conn)
            .await?;
        staff_users::Entity::update_many()
            .col_expr(
                staff_users::Column::LockedUntil,
                Expr::value(Some(now() + Duration::minutes(LOCKOUT_MINUTES))),
            )
            .col_expr(staff_users::Column::FailedLogins, Expr::value(0))
            .filter(staff_users::Column::Id.eq(staff.id))
            .filter(staff_users::Column::FailedLogins.gte(LOCKOUT_AFTER_FAILURES))
            .exec(conn)
            .await?;
        audit::record(
            conn,
            NewEvent::new(Actor::Anonymous, "staff.login_failed").target("staff", staff.id),
            meta,
        )
        .await?;
        return Err(refused());
    }
    limits.per_email.reset(email.as_str()).await?;
    limits.per_ip.refund(&ip_key).await?;
    let mut active: staff_users::ActiveModel = staff.into();
    active.failed_logins = Set(0);
    active.locked_until = Set(None);
    let staff = active.update(conn).await?;
    open_session(conn, staff, meta).await
}

async fn open_session(
    conn: &(impl ConnectionTrait + TransactionTrait),
    staff: staff_users::Model,
    meta: &RequestMeta,
) -> DomainResult<(StaffIdentity, String)> {
    let role = StaffRole::parse(&staff.role).ok_or_else(|| {
        DomainError::internal(anyhow::anyhow!("unknown staff role {:?}", staff.role))
    })?;
    let minted = mint(Uuid::now_v7());
    let mut csrf = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut csrf);
    let at = now();
    let txn = conn.begin().await?;
    let session = staff_sessions::ActiveModel {
        id: Set(minted.id),
        staff_id: Set(staff.id),
        token_hash: Set(minted.secret_hash),
        csrf_secret: Set(hex::encode(csrf)),
        created_at: Set(at),
        last_seen_at: Set(at),
        expires_at: Set(at + Duration::hours(ABSOLUTE_TIMEOUT_HOURS)),
        revoked_at: Set(None),
    }
    .insert(&txn)
    .await?;
    audit::record(
        &txn,
        NewEvent::new(Actor::Staff(staff.id), "staff.login_succeeded")
            .target("staff_session", session.id),
        meta,
    )
    .await?;
    txn.commit().await?;
    Ok((
        StaffIdentity {
            staff,
            session,
            role,
        },
        minted.token,
    ))
}

/// The staff member behind a session cookie, if the session is live; touches it.
pub async fn authenticate(
    conn: &impl ConnectionTrait,
    cookie: &str,
) -> DomainResult<Option<StaffIdentity>> {
    let Some(presented) = PresentedToken::parse(cookie) else {
        return Ok(None);
    };
    let Some(session) = staff_sessions::Entity::find_by_id(presented.id)
        .one(conn)
        .await?
        .filter(|s| presented.matches(&s.token_hash))
    else {
        return Ok(None);
    };
    let at = now();
    let idle_limit = session.last_seen_at + Duration::minutes(IDLE_TIMEOUT_MINUTES);
    if session.revoked_at.is_some() || session.expires_at <= at || idle_limit <= at {
        return Ok(None);
    }
    let Some(staff) = staff_users::Entity::find_by_id(session.staff_id)
        .one(conn)
        .await?
        .filter(|s| s.disabled_at.is_none())
    else {
        return Ok(None);
    };
    let Some(role) = StaffRole::parse(&staff.role) else {
        return Ok(None);
    };
    if at - session.last_seen_at > Duration::minutes(1) {
        staff_sessions::Entity::update_many()
            .col_expr(staff_sessions::Column::LastSeenAt, Expr::value(at))
            .filter(staff_sessions::Column::Id.eq(session.id))
            .exec(conn)
            .await?;
    }
    Ok(Some(StaffIdentity {
        staff,
        session,
        role,
    }))
}

/// Ends a staff session.
pub async fn log_out(
    conn: &(impl ConnectionTrait + TransactionTrait),
    identity: &StaffIdentity,
    meta: &RequestMeta,
) -> DomainResult<()> {
    let txn = conn.begin().await?;
    staff_sessions::Entity::update_many()
        .col_expr(staff_sessions::Column::RevokedAt, Expr::value(now()))
        .filter(staff_sessions::Column::Id.eq(identity.session.id))
        .exec(&txn)
        .await?;
    audit::record(
        &txn,
        NewEvent::new(identity.actor(), "staff.logged_out"),
        meta,
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// Disables or re-enables a staff account (ADMIN only; nobody disables themselves).
/// Disabling ends the account's sessions at once.
pub async fn set_disabled(
    conn: &(impl ConnectionTrait + TransactionTrait),
    identity: &StaffIdentity,
    staff_id: Uuid,
    disabled: bool,
    meta: &RequestMeta,
) -> DomainResult<staff_users::Model> {
    identity.require(StaffRole::Admin)?;
    if staff_id == identity.staff.id {
        return Err(DomainError::bad_input(
            "you cannot disable your own account",
        ));
    }
    let txn = conn.begin().await?;
    let member = staff_users::Entity::find_by_id(staff_id)
        .one(&txn)
        .await?
        .ok_or(DomainError::NotFound("staff member"))?;
    let mut active: staff_users::ActiveModel = member.into();
    active.disabled_at = Set(disabled.then(now));
    let updated = active.update(&txn).await?;
    if disabled {
        staff_sessions::Entity::update_many()
            .col_expr(staff_sessions::Column::RevokedAt, Expr::value(now()))
            .filter(staff_sessions::Column::StaffId.eq(staff_id))
            .filter(staff_sessions::Column::RevokedAt.is_null())
            .exec(&txn)
            .await?;
    }
    audit::record(
        &txn,
        NewEvent::new(
            identity.actor(),
            if disabled {
                "staff.disabled"
            } else {
                "staff.enabled"
            },
        )
        .target("staff", staff_id),
        meta,
    )
    .await?;
    txn.commit().await?;
    Ok(updated)
}

/// Every staff account, including disabled ones, for the team page.
pub async fn list_all(conn: &impl ConnectionTrait) -> DomainResult<Vec<staff_users::Model>> {
    Ok(staff_users::Entity::find()
        .order_by_asc(staff_users::Column::Name)
        .all(conn)
        .await?)
}

/// Every staff account, for assignment lists.
pub async fn list(conn: &impl ConnectionTrait) -> DomainResult<Vec<staff_users::Model>> {
    Ok(staff_users::Entity::find()
        .filter(staff_users::Column::DisabledAt.is_null())
        .order_by_asc(staff_users::Column::Name)
        .all(conn)
        .await?)
}
