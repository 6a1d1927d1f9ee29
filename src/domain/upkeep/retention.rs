//! Retention: what is kept no longer than the privacy policy says. Runs daily; every
//! purge writes its counts to the audit log.

use chrono::{DateTime, Duration, Months, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, ExprTrait, QueryFilter, TransactionSession,
    TransactionTrait,
};
use serde_json::json;

use crate::domain::entities::{
    jobs, oauth_states, one_time_tokens, pending_connections, privacy_requests, publish_attempts,
    sessions, staff_sessions, webhook_deliveries,
};
use crate::domain::ops::audit::{self, Actor, NewEvent};
use crate::domain::privacy::requests::RequestStatus;
use crate::domain::RequestMeta;
use crate::error::DomainResult;

/// How many rows each purge removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Purged {
    pub one_time_tokens: u64,
    pub unverified_requests: u64,
    pub closed_request_records: u64,
    pub sessions: u64,
    pub staff_sessions: u64,
    pub finished_jobs: u64,
    pub export_packages: u64,
    pub publish_logs: u64,
    pub oauth_states: u64,
    pub webhook_deliveries: u64,
    pub review_links_minimised: u64,
}

/// Purges, as of `at`: expired one-time tokens; requests never confirmed, 7 days after
/// receipt; request records 24 months after they closed; sessions ended 30 days ago;
/// finished jobs after 30 days (never given-up ones); publish attempts finished 90 days ago; channel
/// connection attempts a day after they expired; webhook deliveries 30 days after they
/// were made, once delivered or given up; a client reviewer's address 90 days after
/// their link ended.
pub async fn purge(
    conn: &(impl ConnectionTrait + TransactionTrait),
    exports: &crate::storage::MediaStore,
    at: DateTime<Utc>,
) -> DomainResult<Purged> {
    let txn = conn.begin().await?;
    let export_packages = crate::domain::privacy::export::purge_expired(&txn, exports, at).await?;
    let month_ago = at - Duration::days(30);
    let two_years_ago = at.checked_sub_months(Months::new(24)).unwrap_or(at);
    let purged = Purged {
        one_time_tokens: one_time_tokens::Entity::delete_many()
            .filter(one_time_tokens::Column::ExpiresAt.lt(at))
            .exec(&txn)
            .await?
            .rows_affected,
        unverified_requests: privacy_requests::Entity::delete_many()
            .filter(privacy_requests::Column::Status.is_in([
                RequestStatus::Unverified.as_str(),
                RequestStatus::Expired.as_str(),
            ]))
            .filter(privacy_requests::Column::ReceivedAt.lt(at - Duration::days(7)))
            .exec(&txn)
            .await?
            .rows_affected,
        closed_request_records: privacy_requests::Entity::delete_many()
            .filter(privacy_requests::Column::Status.is_in([
                RequestStatus::Completed.as_str(),
                RequestStatus::Rejected.as_str(),
                RequestStatus::Cancelled.as_str(),
            ]))
            .filter(privacy_requests::Column::CompletedAt.lt(two_years_ago))
            .exec(&txn)
            .await?
            .rows_affected,
        sessions: sessions::Entity::delete_many()
            .filter(
                sessions::Column::ExpiresAt
                    .lt(month_ago)
                    .or(sessions::Column::RevokedAt.lt(month_ago)),
            )
            .exec(&txn)
            .await?
            .rows_affected,
        staff_sessions: staff_sessions::Entity::delete_many()
            .filter(staff_sessions::Column::ExpiresAt.lt(at))
            .exec(&txn)
            .await?
            .rows_affected,
        // Only finished ones: a job given up (an email never delivered) stays until
        // staff retry or discard it.
        finished_jobs: jobs::Entity::delete_many()
            .filter(jobs::Column::DoneAt.lt(month_ago))
            .exec(&txn)
            .await?
            .rows_affected,
        export_packages,
        publish_logs: publish_attempts::Entity::delete_many()
            .filter(publish_attempts::Column::FinishedAt.lt(at - Duration::days(90)))
            .exec(&txn)
            .await?
            .rows_affected,
        oauth_states: oauth_states::Entity::delete_many()
            .filter(oauth_states::Column::ExpiresAt.lt(at - Duration::days(1)))
            .exec(&txn)
            .await?
            .rows_affected
            // Connections never completed by a choice of account go the same way.
            + pending_connections::Entity::delete_many()
                .filter(pending_connections::Column::ExpiresAt.lt(at))
                .exec(&txn)
                .await?
                .rows_affected,
        webhook_deliveries: webhook_deliveries::Entity::delete_many()
            .filter(webhook_deliveries::Column::CreatedAt.lt(month_ago))
            .filter(
                webhook_deliveries::Column::DeliveredAt
                    .is_not_null()
                    .or(webhook_deliveries::Column::FailedAt.is_not_null()),
            )
            .exec(&txn)
            .await?
            .rows_affected,
        review_links_minimised: crate::domain::content::review_links::minimise_ended(&txn, at)
            .await?,
    };
    audit::record(
        &txn,
        NewEvent::new(Actor::System, "retention.purged").details(json!({
            "one_time_tokens": purged.one_time_tokens,
            "unverified_requests": purged.unverified_requests,
            "closed_request_records": purged.closed_request_records,
            "sessions": purged.sessions,
            "staff_sessions": purged.staff_sessions,
            "finished_jobs": purged.finished_jobs,
            "export_packages": purged.export_packages,
            "publish_logs": purged.publish_logs,
            "oauth_states": purged.oauth_states,
            "webhook_deliveries": purged.webhook_deliveries,
            "review_links_minimised": purged.review_links_minimised,
        })),
        &RequestMeta::default(),
    )
    .await?;
    txn.commit().await?;
    Ok(purged)
}
