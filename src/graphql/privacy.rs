//! GraphQL types for the policy and the signed-in person's own privacy requests.

use async_graphql::{Enum, Object, ID};
use chrono::{DateTime, Utc};

use crate::domain::entities::{privacy_policies, privacy_requests};
use crate::domain::privacy::policy;
use crate::domain::privacy::requests::{RequestKind, RequestStatus};

pub struct PrivacyPolicy(pub privacy_policies::Model);

#[Object]
impl PrivacyPolicy {
    async fn version(&self) -> i32 {
        self.0.version
    }

    async fn effective_at(&self) -> DateTime<Utc> {
        self.0.effective_at
    }

    async fn published_at(&self) -> DateTime<Utc> {
        self.0.published_at
    }

    /// What changed from the previous version.
    async fn summary(&self) -> &str {
        &self.0.summary
    }

    /// The policy as Markdown.
    async fn body(&self) -> &str {
        &self.0.body
    }

    /// The policy rendered to safe HTML.
    async fn body_html(&self) -> String {
        policy::render(&self.0.body)
    }
}

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "PrivacyRequestKind")]
pub enum PrivacyRequestKindEnum {
    Access,
    Export,
    Rectify,
    Restrict,
    Object,
    Erase,
}

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "PrivacyRequestStatus")]
pub enum PrivacyRequestStatusEnum {
    Unverified,
    Verified,
    InReview,
    Approved,
    InProgress,
    Completed,
    Rejected,
    Cancelled,
    Expired,
}

/// A data-subject request the signed-in person made.
pub struct PrivacyRequest(pub privacy_requests::Model);

#[Object]
impl PrivacyRequest {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// The public reference to quote when asking about it.
    async fn reference(&self) -> &str {
        &self.0.reference
    }

    async fn kind(&self) -> Option<PrivacyRequestKindEnum> {
        RequestKind::parse(&self.0.kind).map(|k| match k {
            RequestKind::Access => PrivacyRequestKindEnum::Access,
            RequestKind::Export => PrivacyRequestKindEnum::Export,
            RequestKind::Rectify => PrivacyRequestKindEnum::Rectify,
            RequestKind::Restrict => PrivacyRequestKindEnum::Restrict,
            RequestKind::Object => PrivacyRequestKindEnum::Object,
            RequestKind::Erase => PrivacyRequestKindEnum::Erase,
        })
    }

    async fn status(&self) -> Option<PrivacyRequestStatusEnum> {
        RequestStatus::parse(&self.0.status).ok().map(|s| match s {
            RequestStatus::Unverified => PrivacyRequestStatusEnum::Unverified,
            RequestStatus::Verified => PrivacyRequestStatusEnum::Verified,
            RequestStatus::InReview => PrivacyRequestStatusEnum::InReview,
            RequestStatus::Approved => PrivacyRequestStatusEnum::Approved,
            RequestStatus::InProgress => PrivacyRequestStatusEnum::InProgress,
            RequestStatus::Completed => PrivacyRequestStatusEnum::Completed,
            RequestStatus::Rejected => PrivacyRequestStatusEnum::Rejected,
            RequestStatus::Cancelled => PrivacyRequestStatusEnum::Cancelled,
            RequestStatus::Expired => PrivacyRequestStatusEnum::Expired,
        })
    }

    /// GDPR, CCPA, LGPD or OTHER: which legal deadline applies.
    async fn jurisdiction(&self) -> &str {
        &self.0.jurisdiction
    }

    async fn received_at(&self) -> DateTime<Utc> {
        self.0.received_at
    }

    async fn verified_at(&self) -> Option<DateTime<Utc>> {
        self.0.verified_at
    }

    async fn due_at(&self) -> DateTime<Utc> {
        self.0.due_at
    }

    async fn extended_until(&self) -> Option<DateTime<Utc>> {
        self.0.extended_until
    }

    async fn completed_at(&self) -> Option<DateTime<Utc>> {
        self.0.completed_at
    }
}
