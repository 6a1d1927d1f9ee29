//! A scheduled draft's hand-over to publishing: the job that wakes at its time. Content
//! queues it; the channels context runs it (`channels::publishing::run`), so the two meet
//! in the job queue and content needs nothing of publishing.

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;
use uuid::Uuid;

use crate::domain::ops::jobs;
use crate::error::DomainResult;

/// The payload of a publishing job.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct PublishJob {
    pub draft_id: Uuid,
    pub publish_at: DateTime<Utc>,
}

/// The draft a publishing job's payload is for.
pub fn draft_of(payload: &str) -> Option<Uuid> {
    serde_json::from_str::<PublishJob>(payload)
        .ok()
        .map(|job| job.draft_id)
}

/// Queues the publishing of a draft at its time (inside the scheduling transaction). The
/// job's id derives from the draft and the time, so the same schedule is queued once; a
/// job whose draft was rescheduled or archived meanwhile does nothing.
pub async fn enqueue_publishing(
    conn: &impl ConnectionTrait,
    draft_id: Uuid,
    publish_at: DateTime<Utc>,
) -> DomainResult<()> {
    let id = Uuid::new_v5(
        &Uuid::NAMESPACE_OID,
        format!(
            "atelier:publish:{draft_id}:{}",
            publish_at.timestamp_micros()
        )
        .as_bytes(),
    );
    jobs::enqueue_once(
        conn,
        id,
        jobs::kind::PUBLISH_DRAFT,
        &PublishJob {
            draft_id,
            publish_at,
        },
        publish_at,
    )
    .await?;
    Ok(())
}
