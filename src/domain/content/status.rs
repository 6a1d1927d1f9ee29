//! The draft's status machine: which transitions each status allows, and every transition
//! recorded in the draft's workflow, with who made it.

use crate::domain::entities::draft_workflow;
use crate::domain::now;
use crate::error::{DomainError, DomainResult};
use sea_orm::{ActiveModelTrait, ConnectionTrait, Set};
use serde_json::json;
use uuid::Uuid;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DraftStatus {
    Draft,
    InReview,
    ChangesRequested,
    Approved,
    Scheduled,
    Publishing,
    Published,
    PartiallyPublished,
    Failed,
    Archived,
}

impl DraftStatus {
    pub const ALL: [DraftStatus; 10] = [
        Self::Draft,
        Self::InReview,
        Self::ChangesRequested,
        Self::Approved,
        Self::Scheduled,
        Self::Publishing,
        Self::Published,
        Self::PartiallyPublished,
        Self::Failed,
        Self::Archived,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "DRAFT",
            Self::InReview => "IN_REVIEW",
            Self::ChangesRequested => "CHANGES_REQUESTED",
            Self::Approved => "APPROVED",
            Self::Scheduled => "SCHEDULED",
            Self::Publishing => "PUBLISHING",
            Self::Published => "PUBLISHED",
            Self::PartiallyPublished => "PARTIALLY_PUBLISHED",
            Self::Failed => "FAILED",
            Self::Archived => "ARCHIVED",
        }
    }

    pub fn parse(value: &str) -> DomainResult<Self> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == value)
            .ok_or_else(|| DomainError::internal(anyhow::anyhow!("unknown draft status {value:?}")))
    }

    /// Whether the status machine allows `self → to`.
    pub fn can_become(self, to: DraftStatus) -> bool {
        use DraftStatus::*;
        match (self, to) {
            (Draft, InReview)
            | (InReview, Approved)
            | (InReview, ChangesRequested)
            | (ChangesRequested, Draft) => true,
            // An approved draft not yet scheduled can still be sent back (a client
            // reviewer asking for changes after the team approved it).
            (Approved, ChangesRequested) => true,
            (Approved, Scheduled) | (Scheduled, Publishing) => true,
            (Publishing, Published) | (Publishing, PartiallyPublished) | (Publishing, Failed) => {
                true
            }
            (from, Archived) => {
                !matches!(from, Published | PartiallyPublished | Publishing | Archived)
            }
            _ => false,
        }
    }

    /// Text and tags may change only before review.
    pub fn is_editable(self) -> bool {
        matches!(self, Self::Draft | Self::ChangesRequested)
    }
}

/// Records a status change of a draft of `workspace_id` (and queues the webhook events it
/// makes); `actor` is none for the system's own (publishing).
pub(crate) async fn record_transition(
    conn: &impl ConnectionTrait,
    workspace_id: Uuid,
    draft_id: Uuid,
    actor: impl Into<Option<Uuid>>,
    from: Option<DraftStatus>,
    to: DraftStatus,
    note: Option<&str>,
) -> DomainResult<()> {
    record_transition_by(
        conn,
        workspace_id,
        draft_id,
        actor.into(),
        None,
        from,
        to,
        note,
    )
    .await
}

/// `record_transition`, naming the client review link whose decision made it.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn record_transition_by(
    conn: &impl ConnectionTrait,
    workspace_id: Uuid,
    draft_id: Uuid,
    actor: Option<Uuid>,
    review_link: Option<Uuid>,
    from: Option<DraftStatus>,
    to: DraftStatus,
    note: Option<&str>,
) -> DomainResult<()> {
    use crate::domain::workspace::webhooks::emit;
    match from {
        None => {
            emit(
                conn,
                workspace_id,
                "draft.created",
                json!({ "draft_id": draft_id, "status": to.as_str() }),
            )
            .await?
        }
        Some(from) => {
            emit(
                conn,
                workspace_id,
                "draft.status_changed",
                json!({ "draft_id": draft_id, "from": from.as_str(), "to": to.as_str() }),
            )
            .await?
        }
    };
    let outcome = match to {
        DraftStatus::Published | DraftStatus::PartiallyPublished => Some("draft.published"),
        DraftStatus::Failed => Some("draft.failed"),
        _ => None,
    };
    if let Some(event) = outcome {
        emit(
            conn,
            workspace_id,
            event,
            json!({ "draft_id": draft_id, "status": to.as_str() }),
        )
        .await?;
    }
    draft_workflow::ActiveModel {
        id: Set(Uuid::now_v7()),
        draft_id: Set(draft_id),
        actor_id: Set(actor),
        from_status: Set(from.map(|s| s.as_str().to_string())),
        to_status: Set(to.as_str().into()),
        note: Set(note.map(str::to_string)),
        at: Set(now()),
        review_link_id: Set(review_link),
    }
    .insert(conn)
    .await?;
    Ok(())
}
