//! The enums and scalars of drafts as the schema names them, and their conversions to and
//! from the domain's values.

use crate::domain::content::{self, DraftStatus};
use crate::domain::platforms::Provider;
use async_graphql::Enum;
use chrono::{DateTime, Utc};

/// A social platform.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "Provider")]
pub enum ProviderEnum {
    Tiktok,
    Youtube,
    Instagram,
    Facebook,
    Linkedin,
}

impl From<Provider> for ProviderEnum {
    fn from(p: Provider) -> Self {
        match p {
            Provider::Tiktok => Self::Tiktok,
            Provider::Youtube => Self::Youtube,
            Provider::Instagram => Self::Instagram,
            Provider::Facebook => Self::Facebook,
            Provider::Linkedin => Self::Linkedin,
        }
    }
}

/// Where a draft or a target's text came from.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "ContentOrigin")]
pub enum OriginEnum {
    Manual,
    Generated,
    Api,
}

impl OriginEnum {
    pub(super) fn parse(value: &str) -> Self {
        match value {
            "GENERATED" => Self::Generated,
            "API" => Self::Api,
            _ => Self::Manual,
        }
    }
}

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "DraftStatus")]
pub enum DraftStatusEnum {
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

impl From<DraftStatus> for DraftStatusEnum {
    fn from(status: DraftStatus) -> Self {
        match status {
            DraftStatus::Draft => Self::Draft,
            DraftStatus::InReview => Self::InReview,
            DraftStatus::ChangesRequested => Self::ChangesRequested,
            DraftStatus::Approved => Self::Approved,
            DraftStatus::Scheduled => Self::Scheduled,
            DraftStatus::Publishing => Self::Publishing,
            DraftStatus::Published => Self::Published,
            DraftStatus::PartiallyPublished => Self::PartiallyPublished,
            DraftStatus::Failed => Self::Failed,
            DraftStatus::Archived => Self::Archived,
        }
    }
}

/// A `DateTime` as scheduling takes it: RFC 3339 with an offset is an instant; the same
/// without an offset is wall-clock time in the request's time zone. (The same scalar as
/// every other `DateTime`; only this argument also takes the form without an offset.)
pub struct PublishAtInput(pub content::PublishTime);

#[async_graphql::Scalar(
    name = "DateTime",
    specified_by_url = "https://datatracker.ietf.org/doc/html/rfc3339"
)]
impl async_graphql::ScalarType for PublishAtInput {
    fn parse(value: async_graphql::Value) -> async_graphql::InputValueResult<Self> {
        let async_graphql::Value::String(text) = &value else {
            return Err(async_graphql::InputValueError::expected_type(value));
        };
        let text = text.trim();
        if let Ok(at) = DateTime::parse_from_rfc3339(text) {
            return Ok(Self(content::PublishTime::Instant(at.with_timezone(&Utc))));
        }
        ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"]
            .iter()
            .find_map(|format| chrono::NaiveDateTime::parse_from_str(text, format).ok())
            .map(|local| Self(content::PublishTime::WallClock(local)))
            .ok_or_else(|| {
                async_graphql::InputValueError::custom(
                    "a date and time like 2026-12-04T13:06:47Z or 2026-12-04T08:06:47+02:00 (an instant), or 2026-12-04T08:06:47 (wall-clock time in timeZone)",
                )
            })
    }

    fn to_value(&self) -> async_graphql::Value {
        async_graphql::Value::String(match self.0 {
            content::PublishTime::Instant(at) => at.to_rfc3339(),
            content::PublishTime::WallClock(local) => local.format("%Y-%m-%dT%H:%M:%S").to_string(),
        })
    }
}
