//! Mutations around a draft: its channels (targets), generated variants, comments, and
//! the member's notification preference. Each change that members watch is published to
//! the live bus for subscriptions.

use crate::domain::workspace::workspaces::{workspace_of as owner_of, Owned};
use async_graphql::{Context, InputObject, Object, Result, ID};
use uuid::Uuid;

use super::content::{Comment, DraftTarget, ProviderEnum};
use super::context::{current_user, meta, state};
use super::errors::gql;
use super::types::{parse_id, User};
use crate::domain::content::comments;
use crate::domain::content::targets::{self, Origin, TargetText};
use crate::domain::content::{self};
use crate::domain::workspace::workspaces::{self, WorkspaceAccess};
use crate::error::DomainError;
use crate::live::LiveEvent;

#[derive(Default)]
pub struct CollaborationMutation;

/// One channel's text for a draft.
#[derive(InputObject, Clone)]
pub struct DraftTargetInput {
    pub provider: ProviderEnum,
    /// The connected channel to publish through, if already chosen.
    pub integration_id: Option<ID>,
    /// Only for platforms with titles (YouTube).
    pub title: Option<String>,
    pub body: String,
}

impl DraftTargetInput {
    pub fn into_domain(self) -> Result<TargetText> {
        Ok(TargetText {
            provider: self.provider.into(),
            integration_id: self
                .integration_id
                .as_ref()
                .map(|id| parse_id(id, "integrationId"))
                .transpose()?,
            title: self.title,
            body: self.body,
        })
    }
}

#[derive(InputObject)]
pub struct SetDraftTargetInput {
    pub draft_id: ID,
    pub provider: ProviderEnum,
    pub integration_id: Option<ID>,
    pub title: Option<String>,
    pub body: String,
}

#[derive(InputObject)]
pub struct AddCommentInput {
    pub draft_id: ID,
    /// Mention members as `<@userId>`; they are emailed (batched) if they wish.
    pub body: String,
    /// The comment this one replies to.
    pub parent_id: Option<ID>,
}

/// The caller's access to the workspace of a draft (NOT_FOUND without it).
pub async fn draft_access(ctx: &Context<'_>, draft_id: Uuid) -> Result<WorkspaceAccess> {
    let user = current_user(ctx).await?;
    let db = &state(ctx).db;
    let workspace_id = owner_of(db, Owned::Draft(draft_id))
        .await
        .map_err(gql)?
        .ok_or_else(|| gql(DomainError::NotFound("draft")))?;
    workspaces::access(db, user.id, workspace_id)
        .await
        .map_err(gql)?
        .ok_or_else(|| gql(DomainError::NotFound("draft")))
}

async fn comment_access(ctx: &Context<'_>, id: &ID) -> Result<(WorkspaceAccess, Uuid)> {
    let user = current_user(ctx).await?;
    let comment_id = parse_id(id, "id")?;
    let db = &state(ctx).db;
    let workspace_id = owner_of(db, Owned::Comment(comment_id))
        .await
        .map_err(gql)?
        .ok_or_else(|| gql(DomainError::NotFound("comment")))?;
    let access = workspaces::access(db, user.id, workspace_id)
        .await
        .map_err(gql)?
        .ok_or_else(|| gql(DomainError::NotFound("comment")))?;
    Ok((access, comment_id))
}

/// Tells subscribers a draft changed (each reloads it as it is when the event arrives).
pub async fn publish_draft(ctx: &Context<'_>, access: &WorkspaceAccess, draft_id: Uuid) {
    state(ctx)
        .live
        .publish(LiveEvent::DraftChanged {
            workspace_id: access.workspace_id(),
            draft_id,
        })
        .await;
}

fn mention_window(ctx: &Context<'_>) -> chrono::Duration {
    chrono::Duration::seconds(state(ctx).config.content.mention_batch_secs.max(1) as i64)
}

#[Object]
impl CollaborationMutation {
    /// Sets a draft's text for one channel (EDITOR and up, while the draft is editable).
    /// The text is checked against the platform's limits.
    async fn set_draft_target(
        &self,
        ctx: &Context<'_>,
        input: SetDraftTargetInput,
    ) -> Result<DraftTarget> {
        let draft_id = parse_id(&input.draft_id, "draftId")?;
        let access = draft_access(ctx, draft_id).await?;
        let text = DraftTargetInput {
            provider: input.provider,
            integration_id: input.integration_id,
            title: input.title,
            body: input.body,
        }
        .into_domain()?;
        let target = targets::set_target(&state(ctx).db, &access, draft_id, text, Origin::Manual)
            .await
            .map_err(gql)?;
        publish_draft(ctx, &access, draft_id).await;
        Ok(DraftTarget(target))
    }

    /// Takes a channel off a draft that is still editable.
    async fn remove_draft_target(&self, ctx: &Context<'_>, id: ID) -> Result<bool> {
        let target_id = parse_id(&id, "id")?;
        let db = &state(ctx).db;
        let draft_id = targets::draft_of_target(db, target_id)
            .await
            .map_err(gql)?
            .ok_or_else(|| gql(DomainError::NotFound("target")))?;
        let access = draft_access(ctx, draft_id)
            .await
            .map_err(|_| gql(DomainError::NotFound("target")))?;
        targets::remove_target(db, &access, target_id)
            .await
            .map_err(gql)?;
        publish_draft(ctx, &access, draft_id).await;
        Ok(true)
    }

    /// Writes a fitting variant of the draft for each channel (replacing their text) and
    /// records the generator's inputs and outputs.
    async fn generate_draft_variants(
        &self,
        ctx: &Context<'_>,
        draft_id: ID,
        providers: Vec<ProviderEnum>,
    ) -> Result<Vec<DraftTarget>> {
        let draft_id = parse_id(&draft_id, "draftId")?;
        let access = draft_access(ctx, draft_id).await?;
        let s = state(ctx);
        let providers: Vec<_> = providers.into_iter().map(Into::into).collect();
        let saved = content::generate_variants(
            &s.db,
            &access,
            draft_id,
            &providers,
            s.generator.as_ref(),
            meta(ctx),
        )
        .await
        .map_err(gql)?;
        publish_draft(ctx, &access, draft_id).await;
        Ok(saved.into_iter().map(DraftTarget).collect())
    }

    /// A comment on a draft (EDITOR and up), or a reply to one.
    async fn add_comment(&self, ctx: &Context<'_>, input: AddCommentInput) -> Result<Comment> {
        let draft_id = parse_id(&input.draft_id, "draftId")?;
        let access = draft_access(ctx, draft_id).await?;
        let parent = input
            .parent_id
            .as_ref()
            .map(|id| parse_id(id, "parentId"))
            .transpose()?;
        let s = state(ctx);
        let comment = comments::add(
            &s.db,
            &access,
            draft_id,
            &input.body,
            parent,
            mention_window(ctx),
        )
        .await
        .map_err(gql)?;
        s.live
            .publish(LiveEvent::CommentAdded {
                workspace_id: access.workspace_id(),
                draft_id: comment.draft_id,
                comment_id: comment.id,
            })
            .await;
        Ok(Comment::from(comment))
    }

    /// Changes the text of your own comment.
    async fn edit_comment(&self, ctx: &Context<'_>, id: ID, body: String) -> Result<Comment> {
        let (access, comment_id) = comment_access(ctx, &id).await?;
        Ok(Comment::from(
            comments::edit(
                &state(ctx).db,
                &access,
                comment_id,
                &body,
                mention_window(ctx),
            )
            .await
            .map_err(gql)?,
        ))
    }

    /// Marks a comment resolved.
    async fn resolve_comment(&self, ctx: &Context<'_>, id: ID) -> Result<Comment> {
        let (access, comment_id) = comment_access(ctx, &id).await?;
        Ok(Comment::from(
            comments::set_resolved(&state(ctx).db, &access, comment_id, true)
                .await
                .map_err(gql)?,
        ))
    }

    /// Opens a resolved comment again.
    async fn reopen_comment(&self, ctx: &Context<'_>, id: ID) -> Result<Comment> {
        let (access, comment_id) = comment_access(ctx, &id).await?;
        Ok(Comment::from(
            comments::set_resolved(&state(ctx).db, &access, comment_id, false)
                .await
                .map_err(gql)?,
        ))
    }

    /// Deletes a comment (its author or an ADMIN); replies stay in the thread.
    async fn delete_comment(&self, ctx: &Context<'_>, id: ID) -> Result<Comment> {
        let (access, comment_id) = comment_access(ctx, &id).await?;
        Ok(Comment::from(
            comments::delete(&state(ctx).db, &access, comment_id, meta(ctx))
                .await
                .map_err(gql)?,
        ))
    }

    /// Whether mentions email you (batched).
    async fn update_notification_preferences(
        &self,
        ctx: &Context<'_>,
        mention_emails: bool,
    ) -> Result<User> {
        let user = current_user(ctx).await?;
        Ok(
            comments::set_mention_emails(&state(ctx).db, user.id, mention_emails)
                .await
                .map_err(gql)?
                .into(),
        )
    }
}
