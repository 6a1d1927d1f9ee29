//! Live events for GraphQL subscriptions: changes are broadcast within this instance to
//! every open subscription, which keeps only those its member may see.

use tokio::sync::broadcast;
use uuid::Uuid;

use crate::domain::entities::{comments, drafts};

#[derive(Clone, Debug)]
pub enum LiveEvent {
    CommentAdded {
        workspace_id: Uuid,
        comment: comments::Model,
    },
    DraftChanged {
        workspace_id: Uuid,
        draft: drafts::Model,
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
pub struct LiveBus(broadcast::Sender<LiveEvent>);

impl Default for LiveBus {
    fn default() -> Self {
        Self(broadcast::channel(1024).0)
    }
}

impl LiveBus {
    /// Sends to whoever listens (nobody listening is fine).
    pub fn publish(&self, event: LiveEvent) {
        let _ = self.0.send(event);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<LiveEvent> {
        self.0.subscribe()
    }
}
