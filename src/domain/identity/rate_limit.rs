//! Sliding-window abuse limits (log-in failures, sign-ups, the public forms), counted in
//! the database so that every instance counts against the same figure: behind a load
//! balancer a limit of five is five, not five per instance.
//!
//! One row per limit and key holds the instants of the hits inside the window. A
//! reservation locks the rows it counts against (`FOR UPDATE` on PostgreSQL; SQLite's
//! single writer connection serialises the same way), so attempts sent at once, to any
//! instance, cannot all pass before any is counted. Keys are never stored as given: a
//! row is named by an HMAC of its key (an address, an email) under a server key, and
//! is deleted once its newest hit has left the window.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect, Set, TransactionTrait,
};
use sha2::Sha256;

use crate::domain::entities::rate_limits;
use crate::domain::now;
use crate::error::{DomainError, DomainResult};

/// Where every limiter of an instance counts: the database, and the key that names rows.
pub struct LimitStore {
    db: DatabaseConnection,
    key: [u8; 32],
}

impl LimitStore {
    pub fn new(db: DatabaseConnection, key: [u8; 32]) -> Arc<Self> {
        Arc::new(Self { db, key })
    }

    fn row_key(&self, scope: &str, key: &str) -> String {
        // invariant: HMAC takes keys of any length.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        mac.update(scope.as_bytes());
        mac.update(&[0]);
        mac.update(key.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

/// Deletes the rows whose hits have all left their window (housekeeping, on any
/// instance: one idempotent statement).
pub async fn purge_expired(conn: &impl sea_orm::ConnectionTrait) -> DomainResult<u64> {
    Ok(rate_limits::Entity::delete_many()
        .filter(rate_limits::Column::ExpiresAt.lt(now()))
        .exec(conn)
        .await?
        .rows_affected)
}

#[derive(Clone)]
pub struct RateLimiter {
    store: Arc<LimitStore>,
    /// Names the limit in its rows (`auth.login_failures_per_ip`, …).
    scope: &'static str,
    limit: u32,
    window: Duration,
}

/// The hits of one row still inside `window` at `at`, oldest first.
fn live_hits(row: Option<&rate_limits::Model>, window: Duration, at: DateTime<Utc>) -> Vec<i64> {
    let since = at.timestamp_millis() - i64::try_from(window.as_millis()).unwrap_or(i64::MAX);
    row.and_then(|row| serde_json::from_str::<Vec<i64>>(&row.hits).ok())
        .unwrap_or_default()
        .into_iter()
        .filter(|hit| *hit > since)
        .collect()
}

impl RateLimiter {
    pub fn new(store: &Arc<LimitStore>, scope: &'static str, limit: u32, window: Duration) -> Self {
        Self {
            store: store.clone(),
            scope,
            limit,
            window,
        }
    }

    /// RATE_LIMITED, naming the wait until the oldest of `hits` leaves the window, when
    /// `hits` already fill the limit.
    fn refusal(&self, hits: &[i64], at: DateTime<Utc>) -> DomainResult<()> {
        if (hits.len() as u64) < u64::from(self.limit) {
            return Ok(());
        }
        let oldest = hits.first().copied().unwrap_or(at.timestamp_millis());
        let window_ms = i64::try_from(self.window.as_millis()).unwrap_or(i64::MAX);
        let wait_ms = (oldest.saturating_add(window_ms) - at.timestamp_millis()).max(0);
        Err(DomainError::RateLimited {
            retry_after_secs: (wait_ms as u64).div_ceil(1_000).max(1),
        })
    }

    /// Refuses with RATE_LIMITED when `key` already has `limit` hits inside the window
    /// (counts nothing).
    pub async fn check(&self, key: &str) -> DomainResult<()> {
        let row = rate_limits::Entity::find_by_id((
            self.scope.to_string(),
            self.store.row_key(self.scope, key),
        ))
        .one(&self.store.db)
        .await?;
        let at = now();
        self.refusal(&live_hits(row.as_ref(), self.window, at), at)
    }

    /// Checks and counts one hit in one step: attempts sent at once cannot all pass the
    /// check before any of them is counted.
    pub async fn check_and_hit(&self, key: &str) -> DomainResult<()> {
        Self::reserve_all(&[(self, key)]).await
    }

    /// Counts one attempt against every `(limiter, key)` before the work it guards, or
    /// none when one of them refuses. The limiters must share one store.
    pub async fn reserve_all(keyed: &[(&RateLimiter, &str)]) -> DomainResult<()> {
        let Some((first, _)) = keyed.first() else {
            return Ok(());
        };
        let store = &first.store;
        // Rows are locked in one order whoever asks, so two reservations never wait on
        // each other's rows.
        let mut rows: Vec<(&RateLimiter, String)> = keyed
            .iter()
            .map(|(limiter, key)| (*limiter, store.row_key(limiter.scope, key)))
            .collect();
        rows.sort_by(|a, b| (a.0.scope, &a.1).cmp(&(b.0.scope, &b.1)));
        rows.dedup_by(|a, b| a.0.scope == b.0.scope && a.1 == b.1);
        let at = now();
        let txn = store.db.begin().await?;
        let mut counted = Vec::with_capacity(rows.len());
        for (limiter, row_key) in &rows {
            let id = (limiter.scope.to_string(), row_key.clone());
            // The row exists before it is locked: a first hit from two instances at once
            // meets on the primary key, and the second waits for the first.
            rate_limits::Entity::insert(rate_limits::ActiveModel {
                scope: Set(id.0.clone()),
                key_hash: Set(id.1.clone()),
                hits: Set("[]".into()),
                expires_at: Set(at),
            })
            .on_conflict(
                OnConflict::columns([rate_limits::Column::Scope, rate_limits::Column::KeyHash])
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(&txn)
            .await?;
            let row = rate_limits::Entity::find_by_id(id.clone())
                .lock_exclusive()
                .one(&txn)
                .await?;
            let hits = live_hits(row.as_ref(), limiter.window, at);
            // Dropping the transaction rolls it back: nothing is counted.
            limiter.refusal(&hits, at)?;
            counted.push((*limiter, id, hits));
        }
        for (limiter, (scope, key_hash), mut hits) in counted {
            hits.push(at.timestamp_millis());
            write(&txn, scope, key_hash, &hits, limiter.window, at).await?;
        }
        txn.commit().await?;
        Ok(())
    }

    /// Gives back the latest hit of `key` (an attempt counted up front that turned out
    /// well).
    pub async fn refund(&self, key: &str) -> DomainResult<()> {
        let id = (self.scope.to_string(), self.store.row_key(self.scope, key));
        let txn = self.store.db.begin().await?;
        let row = rate_limits::Entity::find_by_id(id.clone())
            .lock_exclusive()
            .one(&txn)
            .await?;
        if row.is_some() {
            let at = now();
            let mut hits = live_hits(row.as_ref(), self.window, at);
            hits.pop();
            write(&txn, id.0, id.1, &hits, self.window, at).await?;
        }
        txn.commit().await?;
        Ok(())
    }

    /// Forgets every hit of `key`.
    pub async fn reset(&self, key: &str) -> DomainResult<()> {
        rate_limits::Entity::delete_many()
            .filter(rate_limits::Column::Scope.eq(self.scope))
            .filter(rate_limits::Column::KeyHash.eq(self.store.row_key(self.scope, key)))
            .exec(&self.store.db)
            .await?;
        Ok(())
    }
}

/// Stores a row's hits; its expiry is when the newest leaves the window.
async fn write(
    conn: &impl sea_orm::ConnectionTrait,
    scope: String,
    key_hash: String,
    hits: &[i64],
    window: Duration,
    at: DateTime<Utc>,
) -> DomainResult<()> {
    let newest = hits
        .last()
        .and_then(|ms| DateTime::<Utc>::from_timestamp_millis(*ms))
        .unwrap_or(at);
    let expires_at =
        newest + chrono::Duration::from_std(window).unwrap_or_else(|_| chrono::Duration::days(1));
    rate_limits::Entity::update(rate_limits::ActiveModel {
        scope: Set(scope),
        key_hash: Set(key_hash),
        hits: Set(serde_json::to_string(hits).map_err(DomainError::internal)?),
        expires_at: Set(expires_at),
    })
    .exec(conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use migration::MigratorTrait;

    async fn store() -> Result<Arc<LimitStore>, Box<dyn std::error::Error + Send + Sync>> {
        let db = crate::db::connect("sqlite::memory:").await?;
        migration::Migrator::up(&db, None).await?;
        Ok(LimitStore::new(db, [7; 32]))
    }

    #[tokio::test]
    async fn refuses_after_the_limit_and_names_a_wait() -> crate::TestResult {
        let store = store().await?;
        let limiter = RateLimiter::new(&store, "test", 2, Duration::from_secs(60));
        limiter.check_and_hit("a").await?;
        limiter.check_and_hit("a").await?;
        let err = limiter.check("a").await.unwrap_err();
        assert_eq!(err.code(), "RATE_LIMITED");
        assert!(
            matches!(err, DomainError::RateLimited { retry_after_secs } if (59..=60).contains(&retry_after_secs)),
            "{err:?}"
        );
        assert!(limiter.check_and_hit("a").await.is_err());
        limiter.check("b").await?;
        limiter.reset("a").await?;
        limiter.check("a").await?;
        // A refund gives back one hit.
        limiter.check_and_hit("a").await?;
        limiter.check_and_hit("a").await?;
        limiter.refund("a").await?;
        limiter.check_and_hit("a").await?;
        Ok(())
    }

    #[tokio::test]
    async fn hits_expire_with_the_window_and_their_rows_are_purged() -> crate::TestResult {
        let store = store().await?;
        let limiter = RateLimiter::new(&store, "test", 1, Duration::from_millis(50));
        limiter.check_and_hit("a").await?;
        assert!(limiter.check("a").await.is_err());
        tokio::time::sleep(Duration::from_millis(80)).await;
        limiter.check("a").await?;
        assert_eq!(purge_expired(&store.db).await?, 1);
        assert!(rate_limits::Entity::find().all(&store.db).await?.is_empty());
        Ok(())
    }

    #[tokio::test]
    async fn a_reservation_counts_against_all_its_limits_or_none() -> crate::TestResult {
        let store = store().await?;
        let per_ip = RateLimiter::new(&store, "ip", 3, Duration::from_secs(60));
        let per_email = RateLimiter::new(&store, "email", 1, Duration::from_secs(60));
        RateLimiter::reserve_all(&[(&per_ip, "net"), (&per_email, "a@example.com")]).await?;
        // The address is spent: the network is not counted for the refused attempt.
        assert!(
            RateLimiter::reserve_all(&[(&per_ip, "net"), (&per_email, "a@example.com")])
                .await
                .is_err()
        );
        RateLimiter::reserve_all(&[(&per_ip, "net"), (&per_email, "b@example.com")]).await?;
        per_ip.check_and_hit("net").await?;
        assert!(per_ip.check("net").await.is_err(), "three hits, not four");
        Ok(())
    }

    #[tokio::test]
    async fn rows_are_named_by_a_keyed_hash_never_the_key() -> crate::TestResult {
        let store = store().await?;
        let limiter = RateLimiter::new(&store, "email", 5, Duration::from_secs(60));
        limiter.check_and_hit("person@example.com").await?;
        let rows = rate_limits::Entity::find().all(&store.db).await?;
        assert_eq!(rows.len(), 1);
        assert!(!format!("{rows:?}").contains("person"), "{rows:?}");
        // Another server key names another row.
        let other = LimitStore::new(store.db.clone(), [8; 32]);
        assert_ne!(
            other.row_key("email", "person@example.com"),
            rows[0].key_hash
        );
        Ok(())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn attempts_at_once_are_admitted_up_to_the_limit_only() -> crate::TestResult {
        let store = store().await?;
        let limiter = RateLimiter::new(&store, "test", 5, Duration::from_secs(60));
        let attempts: Vec<_> = (0..40)
            .map(|_| {
                let limiter = limiter.clone();
                tokio::spawn(async move { limiter.check_and_hit("same").await.is_ok() })
            })
            .collect();
        let mut admitted = 0;
        for attempt in attempts {
            admitted += usize::from(attempt.await?);
        }
        assert_eq!(admitted, 5);
        Ok(())
    }
}
