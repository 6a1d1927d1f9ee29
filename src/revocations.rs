//! Sessions ended before their access tokens expire: a log-out, a refresh token used
//! twice (the whole family), an erasure. Access tokens carry their session id; every
//! request and every live subscription checks it against this small set, which costs
//! no database statement on the request path. The set is fed at once by the instance
//! that ended a session and, for the others, by polling the `sessions` table for
//! revocations newer than the last poll. Entries older than an access token's lifetime
//! are dropped: no token that old is still accepted anyway.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use crate::domain::entities::sessions;

/// Why a session row was closed when it was only replaced: its access tokens live on.
const ROTATED: &str = "rotated";

#[derive(Clone)]
pub struct RevokedSessions {
    inner: Arc<Mutex<Inner>>,
    /// How long an access token lives: how long a revocation must be remembered.
    remember: Duration,
}

struct Inner {
    revoked: HashMap<Uuid, DateTime<Utc>>,
    /// Revocations up to this instant have been read from the database.
    watermark: DateTime<Utc>,
}

impl RevokedSessions {
    /// An empty set that will read revocations of the last `token_lifetime` (plus a
    /// minute) at its first poll.
    pub fn new(token_lifetime: Duration) -> Self {
        let remember = token_lifetime + Duration::minutes(1);
        Self {
            inner: Arc::new(Mutex::new(Inner {
                revoked: HashMap::new(),
                watermark: Utc::now() - remember,
            })),
            remember,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // invariant: no code panics while holding the lock; recover the data if it did.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether the session's access tokens no longer count.
    pub fn is_revoked(&self, session_id: Uuid) -> bool {
        self.lock().revoked.contains_key(&session_id)
    }

    /// Records a revocation made here, effective at once.
    pub fn revoke(&self, session_id: Uuid) {
        self.lock().revoked.insert(session_id, Utc::now());
    }

    /// Reads the revocations made since the last poll (by any instance) and forgets
    /// those older than an access token's lifetime.
    pub async fn poll(&self, db: &DatabaseConnection) -> Result<usize, sea_orm::DbErr> {
        let since = self.lock().watermark;
        // A little overlap: a transaction that committed late with an earlier time.
        let from = since - Duration::seconds(5);
        let now = Utc::now();
        let rows: Vec<(Uuid, Option<DateTime<Utc>>)> = sessions::Entity::find()
            .select_only()
            .column(sessions::Column::Id)
            .column(sessions::Column::RevokedAt)
            .filter(sessions::Column::RevokedAt.gt(from))
            .filter(sessions::Column::RevokedReason.ne(ROTATED))
            .into_tuple()
            .all(db)
            .await?;
        let mut inner = self.lock();
        let added = rows.len();
        for (id, at) in rows {
            inner.revoked.insert(id, at.unwrap_or(now));
        }
        inner.watermark = now;
        let horizon = now - self.remember;
        inner.revoked.retain(|_, at| *at > horizon);
        Ok(added)
    }

    /// Polls every `every` until `stop` turns true.
    pub async fn keep_polling(
        self,
        db: DatabaseConnection,
        every: std::time::Duration,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        loop {
            if let Err(e) = self.poll(&db).await {
                tracing::warn!(error = ?e, "could not read revoked sessions");
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.changed() => break,
            }
            if *stop.borrow() {
                break;
            }
        }
    }
}
