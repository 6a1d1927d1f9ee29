//! What a request is: its kinds (the rights a person may exercise), its statuses and the
//! transitions between them, and where it came from.

use crate::error::{DomainError, DomainResult};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestKind {
    Access,
    Export,
    Rectify,
    Restrict,
    Object,
    Erase,
}

impl RequestKind {
    pub const ALL: [RequestKind; 6] = [
        Self::Access,
        Self::Export,
        Self::Rectify,
        Self::Restrict,
        Self::Object,
        Self::Erase,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Access => "ACCESS",
            Self::Export => "EXPORT",
            Self::Rectify => "RECTIFY",
            Self::Restrict => "RESTRICT",
            Self::Object => "OBJECT",
            Self::Erase => "ERASE",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == value)
    }

    /// What the person asked for, in words.
    pub fn label(self) -> &'static str {
        match self {
            Self::Access => "See the data we hold about me (access)",
            Self::Export => "Get a copy of my data to take elsewhere (export)",
            Self::Rectify => "Correct data about me (rectification)",
            Self::Restrict => "Pause the use of my data (restriction)",
            Self::Object => "Object to a use of my data (objection)",
            Self::Erase => "Delete my data (erasure)",
        }
    }

    /// The kind as staff name it.
    pub fn noun(self) -> &'static str {
        match self {
            Self::Access => "Access",
            Self::Export => "Export",
            Self::Rectify => "Rectification",
            Self::Restrict => "Restriction",
            Self::Object => "Objection",
            Self::Erase => "Erasure",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestStatus {
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

impl RequestStatus {
    pub const ALL: [RequestStatus; 9] = [
        Self::Unverified,
        Self::Verified,
        Self::InReview,
        Self::Approved,
        Self::InProgress,
        Self::Completed,
        Self::Rejected,
        Self::Cancelled,
        Self::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unverified => "UNVERIFIED",
            Self::Verified => "VERIFIED",
            Self::InReview => "IN_REVIEW",
            Self::Approved => "APPROVED",
            Self::InProgress => "IN_PROGRESS",
            Self::Completed => "COMPLETED",
            Self::Rejected => "REJECTED",
            Self::Cancelled => "CANCELLED",
            Self::Expired => "EXPIRED",
        }
    }

    pub fn parse(value: &str) -> DomainResult<Self> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == value)
            .ok_or_else(|| {
                DomainError::internal(anyhow::anyhow!("unknown request status {value:?}"))
            })
    }

    /// The status in plain language for the requester.
    pub fn label(self) -> &'static str {
        match self {
            Self::Unverified => "Waiting for you to confirm your email address",
            Self::Verified => "Confirmed, waiting for review",
            Self::InReview => "Being reviewed by our privacy team",
            Self::Approved => "Approved, about to be carried out",
            Self::InProgress => "Being carried out",
            Self::Completed => "Completed",
            Self::Rejected => "Refused",
            Self::Cancelled => "Cancelled",
            Self::Expired => "Expired (never confirmed)",
        }
    }

    /// The status in a few words for staff. VERIFIED is the requester confirming their
    /// email address, not the identity check staff record.
    pub fn short_label(self) -> &'static str {
        match self {
            Self::Unverified => "Awaiting email confirmation",
            Self::Verified => "Email confirmed",
            Self::InReview => "In review",
            Self::Approved => "Approved",
            Self::InProgress => "In progress",
            Self::Completed => "Completed",
            Self::Rejected => "Refused",
            Self::Cancelled => "Cancelled",
            Self::Expired => "Expired",
        }
    }

    /// The requester may still withdraw the request.
    pub fn can_cancel(self) -> bool {
        matches!(
            self,
            Self::Unverified | Self::Verified | Self::InReview | Self::Approved
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestSource {
    Portal,
    App,
    MetaCallback,
    Staff,
}

impl RequestSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Portal => "PORTAL",
            Self::App => "APP",
            Self::MetaCallback => "META_CALLBACK",
            Self::Staff => "STAFF",
        }
    }
}
