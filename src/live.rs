//! Live events for GraphQL subscriptions. An event names what changed by id only; each
//! subscription reloads it and keeps only what its member may see. On SQLite (one
//! instance) events go through an in-process broadcast. On PostgreSQL they go through
//! `NOTIFY atelier_live`: every instance LISTENs and hands what arrives to its own
//! subscriptions, so a subscriber on one instance sees changes made through any other
//! instance or by any job runner.

use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, Statement};
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, watch};
use uuid::Uuid;

/// The PostgreSQL channel every instance listens on.
pub const CHANNEL: &str = "atelier_live";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum LiveEvent {
    CommentAdded {
        workspace_id: Uuid,
        draft_id: Uuid,
        comment_id: Uuid,
    },
    DraftChanged {
        workspace_id: Uuid,
        draft_id: Uuid,
    },
}

impl LiveEvent {
    pub fn workspace_id(&self) -> Uuid {
        match self {
            Self::CommentAdded { workspace_id, .. } | Self::DraftChanged { workspace_id, .. } => {
                *workspace_id
            }
        }
    }
}

/// The instance's event bus. Slow subscribers miss events rather than hold memory.
#[derive(Clone)]
pub struct LiveBus {
    local: broadcast::Sender<LiveEvent>,
    /// On PostgreSQL, where events are sent (to every instance's listener).
    notify: Option<DatabaseConnection>,
}

impl LiveBus {
    /// A bus for the database `db` is on: in-process for SQLite, over NOTIFY for
    /// PostgreSQL, where the returned relay must run to hear anything (see `Relay::run`).
    /// The relay is already listening when this returns: nothing published after it is
    /// missed.
    pub async fn for_database(
        db: &DatabaseConnection,
        url: &str,
    ) -> anyhow::Result<(Self, Option<Relay>)> {
        let local = broadcast::channel(1024).0;
        if db.get_database_backend() != DatabaseBackend::Postgres {
            return Ok((
                Self {
                    local,
                    notify: None,
                },
                None,
            ));
        }
        let mut listener = sea_orm::sqlx::postgres::PgListener::connect(url).await?;
        listener.listen(CHANNEL).await?;
        let relay = Relay {
            listener,
            local: local.clone(),
        };
        Ok((
            Self {
                local,
                notify: Some(db.clone()),
            },
            Some(relay),
        ))
    }

    /// Tells every subscription about a committed change (nobody listening is fine). A
    /// NOTIFY that fails is logged and the event still reaches this instance's
    /// subscribers: a live view is a convenience, never the record.
    pub async fn publish(&self, event: LiveEvent) {
        let Some(db) = &self.notify else {
            let _ = self.local.send(event);
            return;
        };
        let sent = match serde_json::to_string(&event) {
            Ok(payload) => db
                .execute_raw(Statement::from_sql_and_values(
                    DatabaseBackend::Postgres,
                    "SELECT pg_notify($1, $2)",
                    [CHANNEL.into(), payload.into()],
                ))
                .await
                .map(|_| ())
                .map_err(anyhow::Error::from),
            Err(e) => Err(e.into()),
        };
        if let Err(e) = sent {
            tracing::warn!(error = %e, "could not notify other instances of a live event");
            let _ = self.local.send(event);
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<LiveEvent> {
        self.local.subscribe()
    }
}

/// Hands the events other instances (and this one) NOTIFY to this instance's
/// subscriptions.
pub struct Relay {
    listener: sea_orm::sqlx::postgres::PgListener,
    local: broadcast::Sender<LiveEvent>,
}

impl Relay {
    /// Relays until `stop` turns true. A lost connection is re-established by the
    /// listener (events sent meanwhile are lost, as a dropped WebSocket would lose them);
    /// a failure to reconnect is retried every second.
    pub async fn run(mut self, mut stop: watch::Receiver<bool>) {
        loop {
            if *stop.borrow() {
                return;
            }
            let next = tokio::select! {
                next = self.listener.recv() => next,
                _ = stop.changed() => return,
            };
            match next {
                Ok(notification) => match serde_json::from_str(notification.payload()) {
                    Ok(event) => {
                        let _ = self.local.send(event);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "ignored a live event this build does not know")
                    }
                },
                Err(e) => {
                    tracing::warn!(error = %e, "live events: lost the listening connection; reconnecting");
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_carries_ids_only() -> crate::TestResult {
        let event = LiveEvent::CommentAdded {
            workspace_id: Uuid::nil(),
            draft_id: Uuid::max(),
            comment_id: Uuid::nil(),
        };
        let payload = serde_json::to_string(&event)?;
        assert_eq!(
            payload,
            r#"{"event":"comment_added","workspace_id":"00000000-0000-0000-0000-000000000000","draft_id":"ffffffff-ffff-ffff-ffff-ffffffffffff","comment_id":"00000000-0000-0000-0000-000000000000"}"#
        );
        assert_eq!(serde_json::from_str::<LiveEvent>(&payload)?, event);
        Ok(())
    }
}
