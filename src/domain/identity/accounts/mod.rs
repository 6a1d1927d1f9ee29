//! Accounts: sign-up with email verification, log-in, rotating refresh sessions with
//! reuse detection. Nothing here tells a caller whether an email address has an account.

use chrono::Duration;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, Set,
    TransactionSession, TransactionTrait,
};
use uuid::Uuid;

use crate::crypto::password;
use crate::crypto::vault::Vault;
use crate::domain::entities::users;
use crate::domain::identity::tokens::{self, purpose};
use crate::domain::ops::audit::{self, Actor, NewEvent};
use crate::domain::ops::outbox::{self, Email};
use crate::domain::{clean_text, now, RequestMeta};
use crate::error::{DomainError, DomainResult};

mod sessions;
pub use self::sessions::{log_in, log_out, refresh_session, IssuedSession, LogIn};

mod limits;
pub use self::limits::AuthLimits;

mod password_reset;
pub(crate) use self::password_reset::RESET_SEAL_CONTEXT;
pub use self::password_reset::{request_password_reset, reset_password, send_password_reset};

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

/// How long a network the account signed in from stays a known place.
const KNOWN_PLACE_DAYS: i64 = 90;

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
