//! What a client sees when they open a review link: the posts, their targets and media,
//! or why the link no longer opens.

use super::{awaits_review, items_of, LinkState};
use crate::crypto::tokens::PresentedToken;
use crate::domain::content::{self, DraftStatus};
use crate::domain::entities::{
    draft_targets, drafts, media, review_link_drafts as items, review_links as links, workspaces,
};
use crate::domain::now;
use crate::error::{DomainError, DomainResult};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

/// Why a presented link opens nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Closed {
    Expired,
    Revoked,
}

/// A link as its reviewer sees it.
pub struct ReviewPage {
    pub link: links::Model,
    pub state: LinkState,
    pub workspace_name: String,
    pub shared_by: Option<String>,
    pub drafts: Vec<PageDraft>,
}

/// One draft on the reviewer's page.
pub struct PageDraft {
    pub item: items::Model,
    pub draft: drafts::Model,
    pub status: DraftStatus,
    pub targets: Vec<draft_targets::Model>,
    pub media: Vec<media::Model>,
}

impl PageDraft {
    /// Whether the reviewer may still decide it.
    pub fn open(&self) -> bool {
        self.item.decision.is_none() && awaits_review(self.status)
    }
}

/// The link a presented token names, if it is one of ours and its secret matches. Every
/// way a token can be wrong gives the same answer (NOT_FOUND). `lock` takes the row's
/// lock for the caller's transaction.
pub(super) async fn presented(
    conn: &impl ConnectionTrait,
    token: &str,
    lock: bool,
) -> DomainResult<links::Model> {
    let presented = PresentedToken::parse(token).ok_or(DomainError::NotFound("review link"))?;
    let mut query = links::Entity::find_by_id(presented.id);
    if lock {
        query = query.lock_exclusive();
    }
    let link = query
        .one(conn)
        .await?
        .ok_or(DomainError::NotFound("review link"))?;
    if !presented.matches(&link.token_hash) {
        return Err(DomainError::NotFound("review link"));
    }
    Ok(link)
}

/// Opens the page of a presented link: NOT_FOUND for a token that is not one, `Err` with
/// why for a link revoked or expired.
pub async fn open(
    conn: &impl ConnectionTrait,
    token: &str,
) -> DomainResult<Result<ReviewPage, Closed>> {
    let link = presented(conn, token, false).await?;
    let state = LinkState::of(&link, now());
    match state {
        LinkState::Revoked => return Ok(Err(Closed::Revoked)),
        // Decided or not, a link opens nothing past its expiry.
        _ if link.expires_at <= now() => return Ok(Err(Closed::Expired)),
        _ => {}
    }
    let workspace = workspaces::Entity::find_by_id(link.workspace_id)
        .one(conn)
        .await?
        .ok_or(DomainError::NotFound("review link"))?;
    let shared_by = match link.created_by {
        Some(id) => crate::domain::entities::users::Entity::find_by_id(id)
            .one(conn)
            .await?
            .filter(|u| u.status != "ERASED")
            .map(|u| u.display_name),
        None => None,
    };
    let its_items = items_of(conn, &[link.id]).await?;
    let draft_ids: Vec<Uuid> = its_items.iter().map(|i| i.draft_id).collect();
    let found = content::find_many(conn, &draft_ids).await?;
    let targets = draft_targets::Entity::find()
        .filter(draft_targets::Column::DraftId.is_in(draft_ids.iter().copied()))
        .order_by_asc(draft_targets::Column::Provider)
        .all(conn)
        .await?;
    let files = crate::domain::content::media::for_drafts(conn, &draft_ids).await?;
    let mut drafts = Vec::with_capacity(its_items.len());
    for item in its_items {
        let Some(draft) = found.iter().find(|d| d.id == item.draft_id).cloned() else {
            continue;
        };
        drafts.push(PageDraft {
            status: DraftStatus::parse(&draft.status)?,
            targets: targets
                .iter()
                .filter(|t| t.draft_id == draft.id)
                .cloned()
                .collect(),
            media: files
                .iter()
                .filter(|(d, _)| *d == draft.id)
                .map(|(_, m)| m.clone())
                .collect(),
            item,
            draft,
        });
    }
    Ok(Ok(ReviewPage {
        state,
        workspace_name: workspace.brand_name.unwrap_or(workspace.name),
        shared_by,
        drafts,
        link,
    }))
}
