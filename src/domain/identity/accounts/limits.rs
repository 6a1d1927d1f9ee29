//! The limits on guessing a password: per address, per network, and per account unless the
//! guess comes from a place the account signed in from lately.

use super::{find_by_email, EmailAddress, KNOWN_PLACE_DAYS};
use crate::config::AuthConfig;
use crate::domain::identity::rate_limit::{LimitStore, RateLimiter};
use crate::domain::now;
use crate::domain::ops::audit::{self};
use crate::error::{DomainError, DomainResult};
use chrono::Duration;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter};
use std::sync::Arc;
use std::time::Duration as StdDuration;

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
    pub(super) fn client_keyed<'a>(
        &'a self,
        email: &str,
        ip: Option<&str>,
    ) -> Vec<(&'a RateLimiter, String)> {
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

/// Whether the account of `email` signed in successfully from `ip`'s network (as the
/// audit log keeps it: an IPv4 /24, an IPv6 /48) in the last `KNOWN_PLACE_DAYS` days.
pub(super) async fn known_place(
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
