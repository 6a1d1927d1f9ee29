//! A draft's comments as the schema shows them: author, mentions rendered, replies, and
//! whether the viewer may edit them.

use super::{id_of, People};
use crate::domain::content::comments;
use crate::domain::entities::comments as comment_rows;
use crate::graphql::loaders::{loader, UserById};
use crate::graphql::types::User;
use async_graphql::{Context, Object, Result, ID};
use chrono::{DateTime, Utc};
use std::sync::OnceLock;
use uuid::Uuid;

/// A comment on a draft, and the people it names once a field had to load them
/// (`people`).
pub struct Comment(pub comment_rows::Model, OnceLock<People>);

impl From<comment_rows::Model> for Comment {
    fn from(row: comment_rows::Model) -> Self {
        Self(row, OnceLock::new())
    }
}

impl Comment {
    /// The person `id` names, from what the list this comment came in loaded for its
    /// nodes, or else from `people`.
    pub(super) async fn person(&self, ctx: &Context<'_>, id: Option<Uuid>) -> Result<Option<User>> {
        let Some(id) = id else {
            return Ok(None);
        };
        if let Some(person) = loader(ctx)?.loader().primed_user(id) {
            return Ok(Some(User(person)));
        }
        Ok(self.people(ctx).await?.get(&id).cloned().map(User))
    }

    /// Every person this comment names — author, resolver, the members it mentions —
    /// loaded at once the first time a field needs one the request has not loaded
    /// ahead (a mutation's answer, a subscription's event). Its fields resolve one
    /// after another (`serial`), so its three person fields would otherwise each wait
    /// out the loader's batching delay and cost a statement of their own; this way the
    /// first loads them all (every comment resolving at the same time in one batch)
    /// and the others, and a person not found, ask nothing more. A person the read
    /// left out (its column was not asked for) is not loaded.
    pub(super) async fn people(&self, ctx: &Context<'_>) -> Result<&People> {
        if let Some(people) = self.1.get() {
            return Ok(people);
        }
        let mut keys: Vec<UserById> = self
            .0
            .author_id
            .into_iter()
            .chain(self.0.resolved_by)
            .chain(comments::mentions_of(&self.0))
            .map(UserById)
            .collect();
        keys.sort_unstable_by_key(|k| k.0);
        keys.dedup();
        // Boxed: every field's future is as large as the largest, and a page resolves
        // sixty comments.
        let found = Box::pin(loader(ctx)?.load_many(keys)).await?;
        Ok(self
            .1
            .get_or_init(|| found.into_iter().map(|(k, v)| (k.0, v)).collect()))
    }
}

#[Object(serial)]
impl Comment {
    pub(super) async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    pub(super) async fn draft_id(&self) -> ID {
        ID(self.0.draft_id.to_string())
    }

    /// The comment this one replies to.
    pub(super) async fn parent_id(&self) -> Option<ID> {
        id_of(self.0.parent_id)
    }

    /// The member who wrote it; none when a client reviewer did (`reviewLinkId`) or the
    /// author's account was erased.
    pub(super) async fn author(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        self.person(ctx, self.0.author_id).await
    }

    /// The client review link whose reviewer wrote it (asking for changes).
    pub(super) async fn review_link_id(&self) -> Option<ID> {
        id_of(self.0.review_link_id)
    }

    /// The text; mentions are written `<@userId>`. Null once deleted.
    pub(super) async fn body(&self) -> Option<&str> {
        self.0.deleted_at.is_none().then_some(self.0.body.as_str())
    }

    /// The members the body mentions.
    pub(super) async fn mentions(&self, ctx: &Context<'_>) -> Result<Vec<User>> {
        let mut people = Vec::new();
        for id in comments::mentions_of(&self.0) {
            people.extend(self.person(ctx, Some(id)).await?);
        }
        Ok(people)
    }

    pub(super) async fn resolved(&self) -> bool {
        self.0.resolved_at.is_some()
    }

    pub(super) async fn resolved_at(&self) -> Option<DateTime<Utc>> {
        self.0.resolved_at
    }

    pub(super) async fn resolved_by(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        self.person(ctx, self.0.resolved_by).await
    }

    pub(super) async fn edited_at(&self) -> Option<DateTime<Utc>> {
        self.0.edited_at
    }

    pub(super) async fn deleted(&self) -> bool {
        self.0.deleted_at.is_some()
    }

    pub(super) async fn deleted_at(&self) -> Option<DateTime<Utc>> {
        self.0.deleted_at
    }

    pub(super) async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}
