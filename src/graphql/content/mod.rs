//! Drafts in the API: `Draft` with its targets, revisions, workflow and comments (all
//! through the request's loader, so a page of drafts costs a fixed number of
//! statements), `DraftTarget`, `Comment`, and their enums.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::{Context, Object, Result, SimpleObject, ID};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::connection::{self, decode_cursor, page_size};
use super::context::state;
use super::errors::{bad_input, gql};
use super::loaders::{loader, CommentsOf, MediaOf, RevisionsOf, TargetsOf, UserById, WorkflowOf};
use super::types::User;
use crate::domain::content::{self, comments, DraftStatus};
use crate::domain::entities::{
    draft_generations, draft_revisions, draft_targets, draft_workflow, drafts,
};
use crate::domain::identity::accounts;
use crate::domain::platforms::PlatformLimits;
use crate::domain::platforms::Provider;

mod enums;
pub use self::enums::{DraftStatusEnum, OriginEnum, ProviderEnum, PublishAtInput};

mod discussion;
pub use self::discussion::Comment;

impl From<ProviderEnum> for Provider {
    fn from(p: ProviderEnum) -> Self {
        match p {
            ProviderEnum::Tiktok => Provider::Tiktok,
            ProviderEnum::Youtube => Provider::Youtube,
            ProviderEnum::Instagram => Provider::Instagram,
            ProviderEnum::Facebook => Provider::Facebook,
            ProviderEnum::Linkedin => Provider::Linkedin,
        }
    }
}

fn id_of(id: Option<Uuid>) -> Option<ID> {
    id.map(|id| ID(id.to_string()))
}

pub(crate) async fn load_user(ctx: &Context<'_>, id: Option<Uuid>) -> Result<Option<User>> {
    let Some(id) = id else {
        return Ok(None);
    };
    let loader = loader(ctx)?;
    if let Some(person) = loader.loader().primed_user(id) {
        return Ok(Some(User(person)));
    }
    Ok(loader.load_one(UserById(id)).await?.map(User))
}

impl From<DraftStatusEnum> for DraftStatus {
    fn from(status: DraftStatusEnum) -> Self {
        DraftStatus::ALL
            .into_iter()
            .find(|s| DraftStatusEnum::from(*s) == status)
            .unwrap_or(DraftStatus::Draft)
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

    async fn origin(&self) -> OriginEnum {
        OriginEnum::parse(&self.0.origin)
    }

    /// Who wrote it; null once its author's account was erased.
    async fn author(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        load_user(ctx, self.0.author_id).await
    }

    /// How it did once published: the latest counts per channel and in sum.
    async fn performance(&self, ctx: &Context<'_>) -> Result<super::analytics::DraftPerformance> {
        super::analytics::performance(ctx, self.0.id).await
    }

    /// The channels it goes to, each with its own text.
    async fn targets(&self, ctx: &Context<'_>) -> Result<Vec<DraftTarget>> {
        let omitted = super::columns::TARGET.omitted(&ctx.look_ahead().selection_fields());
        let loader = loader(ctx)?;
        let read = match loader.loader().primed_targets(self.0.id) {
            Some(primed) => Some(primed),
            None => {
                loader.loader().want_targets(omitted);
                loader.load_one(TargetsOf(self.0.id)).await?
            }
        };
        let rows = match read {
            Some(read) if read.omitted.serves(omitted) => read.rows.clone(),
            // Read earlier in this request without a column this selection shows:
            // this draft's again, with it.
            _ => Box::pin(crate::domain::content::targets::parts_for_drafts(
                &loader.loader().reads,
                &[self.0.id],
                omitted,
            ))
            .await
            .map_err(gql)?,
        };
        Ok(rows.into_iter().map(DraftTarget).collect())
    }

    /// Every saved version, oldest first.
    async fn revisions(&self, ctx: &Context<'_>) -> Result<Vec<DraftRevision>> {
        Ok(loader(ctx)?
            .load_one(RevisionsOf(self.0.id))
            .await?
            .unwrap_or_default()
            .into_iter()
            .map(DraftRevision)
            .collect())
    }

    /// Every status change: who, when, from, to, note.
    async fn workflow(&self, ctx: &Context<'_>) -> Result<Vec<WorkflowRecord>> {
        Ok(loader(ctx)?
            .load_one(WorkflowOf(self.0.id))
            .await?
            .unwrap_or_default()
            .into_iter()
            .map(WorkflowRecord)
            .collect())
    }

    /// How many comments it has (deleted ones not counted).
    async fn comment_count(&self) -> i64 {
        self.0.comment_count
    }

    /// Its latest comments, newest first (at most 10).
    async fn last_comments(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 3)] count: i32,
    ) -> Result<Vec<Comment>> {
        if !(1..=comments::MAX_LAST as i32).contains(&count) {
            return Err(bad_input(format!(
                "count must be between 1 and {}",
                comments::MAX_LAST
            )));
        }
        let count = count as usize;
        let omitted = super::columns::COMMENT.omitted(&ctx.look_ahead().selection_fields());
        let loader = loader(ctx)?;
        let mut summary = match loader.loader().primed_comments(self.0.id) {
            Some(primed) => primed,
            None => {
                loader.loader().want_latest(count, omitted);
                loader
                    .load_one(CommentsOf(self.0.id))
                    .await?
                    .unwrap_or_default()
            }
        };
        if summary.asked < count || !summary.omitted.serves(omitted) {
            // Loaded earlier in this request for a smaller count or without a column
            // this selection shows (another alias): read this draft's again, as asked.
            let draft = [self.0.id];
            let read = comments::summaries(&loader.loader().reads, &draft, count, omitted);
            summary = Arc::new(
                Box::pin(read)
                    .await
                    .map_err(gql)?
                    .remove(&self.0.id)
                    .unwrap_or_default(),
            );
        }
        Ok(summary
            .latest
            .iter()
            .take(count)
            .cloned()
            .map(Comment::from)
            .collect())
    }

    /// The discussion, in the order it was written; a reply carries `parentId`.
    #[graphql(complexity = "first.unwrap_or(20).max(0) as usize * child_complexity")]
    async fn comments(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<String, Comment, EmptyFields, EmptyFields>> {
        let limit = page_size(first)?;
        let after_key = decode_cursor::<Uuid>(after.as_deref())?;
        // Boxed, these reads' futures are not part of every `Draft` field's: each field a
        // query selects is resolved in a future as large as the largest of its type's,
        // moved into place on every field of every draft of a page.
        let rows = Box::pin(comments::list(
            &state(ctx).reads,
            self.0.id,
            after_key,
            limit + 1,
        ))
        .await
        .map_err(gql)?;
        // The people the page shows, under `edges { node }` or `nodes`, in one statement.
        let page = ctx.look_ahead();
        let mut people = Vec::new();
        for node in [page.field("edges").field("node"), page.field("nodes")] {
            people.extend(super::loaders::people_of_comments(&node, rows.iter()));
        }
        Box::pin(super::loaders::prime_users(ctx, people)).await?;
        Ok(connection::build(
            rows,
            limit,
            after_key.is_some(),
            |c| c.id,
            Comment::from,
        ))
    }

    /// The images and videos attached, in order.
    async fn media(&self, ctx: &Context<'_>) -> Result<Vec<super::media::Media>> {
        Ok(loader(ctx)?
            .load_one(MediaOf(self.0.id))
            .await?
            .unwrap_or_default()
            .into_iter()
            .map(super::media::Media)
            .collect())
    }

    /// The client reviews it was shared in, oldest first, with the reviewer's decision.
    async fn client_reviews(
        &self,
        ctx: &Context<'_>,
    ) -> Result<Vec<super::reviews::ReviewLinkDraft>> {
        Ok(loader(ctx)?
            .load_one(super::loaders::ClientReviewsOf(self.0.id))
            .await?
            .unwrap_or_default()
            .into_iter()
            .map(|(item, link)| super::reviews::ReviewLinkDraft {
                item,
                link: Some(link),
            })
            .collect())
    }

    /// Each time variants were generated: the generator, what went in, what came out.
    async fn generations(&self, ctx: &Context<'_>) -> Result<Vec<Generation>> {
        Ok(loader(ctx)?
            .load_one(super::loaders::GenerationsOf(self.0.id))
            .await?
            .unwrap_or_default()
            .into_iter()
            .map(Generation)
            .collect())
    }
}

/// One channel a draft goes to.
pub struct DraftTarget(pub draft_targets::Model);

/// What a platform accepts, so a client can count characters as people type.
#[derive(SimpleObject)]
pub struct TargetLimits {
    pub body_max: i32,
    pub title_max: Option<i32>,
    pub hashtags_max: Option<i32>,
}

// Fields one after another, as `User`'s: only `attempts` reads (and through the loader,
// so a page's targets still ask for theirs in one statement).
#[Object(serial)]
impl DraftTarget {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn provider(&self) -> Result<ProviderEnum> {
        Provider::parse(&self.0.provider)
            .map(Into::into)
            .ok_or_else(|| bad_input("unknown provider"))
    }

    /// The connected channel that publishes it, once one is chosen.
    async fn integration_id(&self) -> Option<ID> {
        id_of(self.0.integration_id)
    }

    /// The title, where the platform has one (YouTube).
    async fn title(&self) -> Option<&str> {
        self.0.title.as_deref()
    }

    /// This channel's text.
    async fn body(&self) -> &str {
        &self.0.body
    }

    async fn origin(&self) -> OriginEnum {
        OriginEnum::parse(&self.0.origin)
    }

    /// PENDING until published; then PUBLISHED or FAILED.
    async fn status(&self) -> &str {
        &self.0.status
    }

    /// The platform's id of the post, once published.
    async fn provider_post_id(&self) -> Option<&str> {
        self.0.provider_post_id.as_deref()
    }

    /// Where the post can be seen, where the platform says.
    async fn url(&self) -> Option<&str> {
        self.0.url.as_deref()
    }

    async fn published_at(&self) -> Option<DateTime<Utc>> {
        self.0.published_at
    }

    /// Every try to publish it, oldest first, with the platform's error where it failed.
    async fn attempts(&self, ctx: &Context<'_>) -> Result<Vec<PublishAttempt>> {
        Ok(loader(ctx)?
            .load_one(super::loaders::AttemptsOf(self.0.id))
            .await?
            .unwrap_or_default()
            .into_iter()
            .map(PublishAttempt)
            .collect())
    }

    async fn limits(&self) -> Option<TargetLimits> {
        let limits = PlatformLimits::of(Provider::parse(&self.0.provider)?);
        Some(TargetLimits {
            body_max: limits.body_max as i32,
            title_max: limits.title_max.map(|m| m as i32),
            hashtags_max: limits.hashtags_max.map(|m| m as i32),
        })
    }

    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

/// One try to publish a target.
pub struct PublishAttempt(pub crate::domain::entities::publish_attempts::Model);

#[Object]
impl PublishAttempt {
    /// 1 for the first try.
    async fn attempt(&self) -> i32 {
        self.0.attempt
    }

    async fn started_at(&self) -> DateTime<Utc> {
        self.0.started_at
    }

    async fn finished_at(&self) -> Option<DateTime<Utc>> {
        self.0.finished_at
    }

    /// IN_FLIGHT (under way, or interrupted and to be reconciled), SUCCEEDED, FAILED
    /// (refused; not retried), RETRY (a passing failure; retried) or SKIPPED.
    async fn outcome(&self) -> &str {
        &self.0.outcome
    }

    async fn provider_post_id(&self) -> Option<&str> {
        self.0.provider_post_id.as_deref()
    }

    /// What the platform said, when it failed.
    async fn provider_error(&self) -> Option<&str> {
        self.0.provider_error.as_deref()
    }
}

/// One run of a variant generator.
pub struct Generation(pub draft_generations::Model);

#[Object]
impl Generation {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// Which generator (and model) wrote the variants.
    async fn generator(&self) -> &str {
        &self.0.generator
    }

    /// What it was given: the draft's text and tags, its version, the channels.
    async fn inputs(&self) -> async_graphql::Json<serde_json::Value> {
        async_graphql::Json(serde_json::from_str(&self.0.inputs).unwrap_or_default())
    }

    /// What it wrote, per channel.
    async fn outputs(&self) -> async_graphql::Json<serde_json::Value> {
        async_graphql::Json(serde_json::from_str(&self.0.outputs).unwrap_or_default())
    }

    async fn requested_by(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        load_user(ctx, self.0.requested_by).await
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// People by id.
type People = HashMap<Uuid, Arc<accounts::Person>>;

// Fields one after another (`serial`), not as a set of concurrent futures (a
// `FuturesUnordered` per comment cost 3% of the dashboard's instructions); its person
// fields load together (`people`).

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
        id_of(self.0.editor_id)
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

pub struct WorkflowRecord(pub draft_workflow::Model);

#[Object]
impl WorkflowRecord {
    async fn actor_id(&self) -> Option<ID> {
        id_of(self.0.actor_id)
    }

    /// The client review link whose reviewer's decision made this change (the actor is
    /// then none).
    async fn review_link_id(&self) -> Option<ID> {
        id_of(self.0.review_link_id)
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
