//! Client review links in the API (workspace ADMINs share and revoke them; every member
//! sees a draft's client reviews on `Draft.clientReviews`).

use crate::domain::workspace::workspaces::{workspace_of as owner_of, Owned};
use async_graphql::{Context, Enum, InputObject, Object, Result, ID};
use chrono::{DateTime, Utc};

use super::content::{load_user, Draft, PublishAtInput};
use super::context::{current_user, meta, state};
use super::errors::gql;
use super::loaders::{loader, DraftById, ItemsOfLink};
use super::types::{parse_id, User};
use crate::domain::content::review_links::{self as reviews, Decision, LinkState};
use crate::domain::entities::{review_link_drafts, review_links};
use crate::domain::workspace::workspaces;
use crate::error::DomainError;

/// Where a review link stands.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(name = "ReviewLinkState")]
pub enum ReviewLinkStateEnum {
    /// Waiting for the reviewer (some drafts undecided).
    Pending,
    /// Every draft on it approved.
    Approved,
    /// Every draft decided, at least one sent back for changes.
    ChangesRequested,
    /// Past its expiry before every draft was decided; it opens nothing.
    Expired,
    /// Withdrawn by an ADMIN (or by the reviewer's erasure); it opens nothing.
    Revoked,
}

impl From<LinkState> for ReviewLinkStateEnum {
    fn from(state: LinkState) -> Self {
        match state {
            LinkState::Pending => Self::Pending,
            LinkState::Approved => Self::Approved,
            LinkState::ChangesRequested => Self::ChangesRequested,
            LinkState::Expired => Self::Expired,
            LinkState::Revoked => Self::Revoked,
        }
    }
}

/// What a client reviewer decided about one draft.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(name = "ClientDecision")]
pub enum ClientDecisionEnum {
    Approved,
    ChangesRequested,
}

/// Drafts shared with someone outside the workspace through one emailed link.
pub struct ReviewLink(pub review_links::Model);

#[Object]
impl ReviewLink {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// The reviewer's address; null once erased or past retention (90 days after the
    /// link ended).
    async fn email(&self) -> Option<&str> {
        self.0.reviewer_email.as_deref()
    }

    async fn state(&self) -> ReviewLinkStateEnum {
        LinkState::of(&self.0, Utc::now()).into()
    }

    /// The reviewer's IANA time zone, in which their page shows times.
    async fn time_zone(&self) -> &str {
        &self.0.time_zone
    }

    /// The note sent to the reviewer with the link.
    async fn message(&self) -> Option<&str> {
        self.0.message.as_deref()
    }

    async fn shared_by(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        load_user(ctx, self.0.created_by).await
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    async fn expires_at(&self) -> DateTime<Utc> {
        self.0.expires_at
    }

    /// When the last draft on it was decided.
    async fn decided_at(&self) -> Option<DateTime<Utc>> {
        self.0.decided_at
    }

    async fn revoked_at(&self) -> Option<DateTime<Utc>> {
        self.0.revoked_at
    }

    /// The drafts on the link, in the order the reviewer sees them, with decisions.
    async fn drafts(&self, ctx: &Context<'_>) -> Result<Vec<ReviewLinkDraft>> {
        let items = loader(ctx)?
            .load_one(ItemsOfLink(self.0.id))
            .await?
            .unwrap_or_default();
        Ok(items
            .into_iter()
            .map(|item| ReviewLinkDraft { item, link: None })
            .collect())
    }
}

/// One draft of a review link and the reviewer's decision on it.
pub struct ReviewLinkDraft {
    pub item: review_link_drafts::Model,
    /// The link, when it was loaded with the draft (`Draft.clientReviews`).
    pub link: Option<review_links::Model>,
}

#[Object]
impl ReviewLinkDraft {
    async fn draft_id(&self) -> ID {
        ID(self.item.draft_id.to_string())
    }

    async fn draft(&self, ctx: &Context<'_>) -> Result<Option<Draft>> {
        Ok(loader(ctx)?
            .load_one(DraftById(self.item.draft_id))
            .await?
            .map(Draft))
    }

    /// The link it was shared in (on `Draft.clientReviews`; null inside `ReviewLink`).
    async fn review_link(&self) -> Option<ReviewLink> {
        self.link.clone().map(ReviewLink)
    }

    /// When the team told the reviewer it plans to publish it.
    async fn planned_at(&self) -> Option<DateTime<Utc>> {
        self.item.planned_at
    }

    /// Null until the reviewer decided.
    async fn decision(&self) -> Option<ClientDecisionEnum> {
        match self.item.decision.as_deref().and_then(Decision::parse) {
            Some(Decision::Approved) => Some(ClientDecisionEnum::Approved),
            Some(Decision::ChangesRequested) => Some(ClientDecisionEnum::ChangesRequested),
            None => None,
        }
    }

    /// What the reviewer wrote with the decision (null once the reviewer was erased).
    async fn comment(&self) -> Option<&str> {
        self.item.comment.as_deref()
    }

    /// The draft's version the decision was about.
    async fn draft_version(&self) -> Option<i32> {
        self.item.draft_version
    }

    async fn decided_at(&self) -> Option<DateTime<Utc>> {
        self.item.decided_at
    }
}

/// One draft to share and, optionally, when the team plans to publish it.
#[derive(InputObject)]
pub struct ReviewDraftInput {
    pub draft_id: ID,
    /// Shown to the reviewer in their time zone. With an offset it is that instant;
    /// without one it is wall-clock time in `reviewerTimeZone`.
    pub planned_at: Option<PublishAtInput>,
}

#[derive(InputObject)]
pub struct ShareForReviewInput {
    pub workspace_id: ID,
    /// The reviewer's address; the link is emailed there.
    pub email: String,
    /// In review or approved (not yet scheduled); at most 20.
    pub drafts: Vec<ReviewDraftInput>,
    /// The reviewer's IANA time zone (the workspace's when omitted).
    pub reviewer_time_zone: Option<String>,
    /// A note to the reviewer (at most 2,000 characters).
    pub message: Option<String>,
    /// How long the link works: 1 to 30 days, 7 when omitted.
    pub expires_in_days: Option<i32>,
}

#[derive(Default)]
pub struct ReviewMutation;

#[Object]
impl ReviewMutation {
    /// Shares drafts with an outside reviewer (ADMIN): emails them a link to a page where
    /// they approve each draft or ask for changes, without an account.
    async fn share_for_review(
        &self,
        ctx: &Context<'_>,
        input: ShareForReviewInput,
    ) -> Result<ReviewLink> {
        let user = current_user(ctx).await?;
        let s = state(ctx);
        let workspace_id = parse_id(&input.workspace_id, "workspaceId")?;
        let access = workspaces::require_access(&s.db, user.id, workspace_id)
            .await
            .map_err(gql)?;
        let mut items = Vec::with_capacity(input.drafts.len());
        for draft in &input.drafts {
            items.push(reviews::ShareItem {
                draft_id: parse_id(&draft.draft_id, "draftId")?,
                planned_at: draft.planned_at.as_ref().map(|p| p.0),
            });
        }
        reviews::share(
            &s.db,
            &s.vault,
            &access,
            &user.display_name,
            reviews::Share {
                email: input.email,
                items,
                time_zone: input.reviewer_time_zone,
                message: input.message,
                expires_in_days: input.expires_in_days.map(i64::from),
            },
            meta(ctx),
        )
        .await
        .map(ReviewLink)
        .map_err(gql)
    }

    /// Withdraws a review link (ADMIN): it opens nothing from now on; decisions already
    /// made stand.
    async fn revoke_review_link(&self, ctx: &Context<'_>, id: ID) -> Result<ReviewLink> {
        let user = current_user(ctx).await?;
        let s = state(ctx);
        let id = parse_id(&id, "id")?;
        let not_found = || gql(DomainError::NotFound("review link"));
        let workspace_id = owner_of(&s.db, Owned::ReviewLink(id))
            .await
            .map_err(gql)?
            .ok_or_else(not_found)?;
        let access = workspaces::access(&s.db, user.id, workspace_id)
            .await
            .map_err(gql)?
            .ok_or_else(not_found)?;
        reviews::revoke(&s.db, &access, id, meta(ctx))
            .await
            .map(ReviewLink)
            .map_err(gql)
    }
}
