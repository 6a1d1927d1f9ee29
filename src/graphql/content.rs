//! Drafts in the API: the `Draft` type, its status enum, and the loader that batches the
//! authors of a page of drafts into one query.

use std::collections::HashMap;

use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::{Context, Enum, Object, Result, ID};
use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use super::context::state;
use super::errors::gql;
use super::types::User;
use crate::domain::accounts;
use crate::domain::content::{self, DraftStatus};
use crate::domain::entities::{draft_revisions, draft_workflow, drafts, users};

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

impl From<DraftStatusEnum> for DraftStatus {
    fn from(status: DraftStatusEnum) -> Self {
        DraftStatus::ALL
            .into_iter()
            .find(|s| DraftStatusEnum::from(*s) == status)
            .unwrap_or(DraftStatus::Draft)
    }
}

/// Loads users by id in one query for everything a request asks at once.
pub struct UserLoader(pub DatabaseConnection);

impl Loader<Uuid> for UserLoader {
    type Value = users::Model;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, users::Model>, Self::Error> {
        Ok(accounts::find_many(&self.0, keys)
            .await
            .map_err(gql)?
            .into_iter()
            .map(|u| (u.id, u))
            .collect())
    }
}

/// A piece of content.
pub struct Draft(pub drafts::Model);

#[Object]
impl Draft {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn title(&self) -> &str {
        &self.0.title
    }

    async fn body(&self) -> &str {
        &self.0.body
    }

    async fn tags(&self) -> Vec<String> {
        content::tags_of(&self.0)
    }

    async fn status(&self) -> Result<DraftStatusEnum> {
        Ok(DraftStatus::parse(&self.0.status).map_err(gql)?.into())
    }

    /// Pass it back as `expectedVersion` when updating.
    async fn version(&self) -> i32 {
        self.0.version
    }

    async fn scheduled_at(&self) -> Option<DateTime<Utc>> {
        self.0.scheduled_at
    }

    async fn time_zone(&self) -> Option<&str> {
        self.0.time_zone.as_deref()
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }

    /// Who wrote it (an erased account shows as "Erased user").
    async fn author(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let Some(author) = self.0.author_id else {
            return Ok(None);
        };
        let loader = ctx.data_unchecked::<DataLoader<UserLoader>>();
        Ok(loader.load_one(author).await?.map(User))
    }

    /// Every saved version, oldest first.
    async fn revisions(&self, ctx: &Context<'_>) -> Result<Vec<DraftRevision>> {
        Ok(content::revisions(&state(ctx).db, self.0.id)
            .await
            .map_err(gql)?
            .into_iter()
            .map(DraftRevision)
            .collect())
    }

    /// Every status change: who, when, from, to, note.
    async fn workflow(&self, ctx: &Context<'_>) -> Result<Vec<WorkflowRecord>> {
        Ok(content::workflow(&state(ctx).db, self.0.id)
            .await
            .map_err(gql)?
            .into_iter()
            .map(WorkflowRecord)
            .collect())
    }
}

pub struct DraftRevision(pub draft_revisions::Model);

#[Object]
impl DraftRevision {
    async fn version(&self) -> i32 {
        self.0.version
    }

    async fn title(&self) -> &str {
        &self.0.title
    }

    async fn body(&self) -> &str {
        &self.0.body
    }

    async fn tags(&self) -> Vec<String> {
        serde_json::from_str(&self.0.tags).unwrap_or_default()
    }

    async fn editor_id(&self) -> Option<ID> {
        self.0.editor_id.map(|id| ID(id.to_string()))
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

pub struct WorkflowRecord(pub draft_workflow::Model);

#[Object]
impl WorkflowRecord {
    async fn actor_id(&self) -> Option<ID> {
        self.0.actor_id.map(|id| ID(id.to_string()))
    }

    async fn from(&self) -> Result<Option<DraftStatusEnum>> {
        self.0
            .from_status
            .as_deref()
            .map(|s| DraftStatus::parse(s).map(Into::into).map_err(gql))
            .transpose()
    }

    async fn to(&self) -> Result<DraftStatusEnum> {
        Ok(DraftStatus::parse(&self.0.to_status).map_err(gql)?.into())
    }

    async fn note(&self) -> Option<&str> {
        self.0.note.as_deref()
    }

    async fn at(&self) -> DateTime<Utc> {
        self.0.at
    }
}
