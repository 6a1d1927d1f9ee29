//! Client review links: an ADMIN shares drafts with someone outside the workspace (a
//! client) by email. The emailed link is a bearer token for that one purpose: it opens a
//! portal page with each draft as it will be published, where the reviewer approves or
//! asks for changes (with a required comment), draft by draft. A decision moves the draft
//! through the normal review machine (`IN_REVIEW → APPROVED`, `→ CHANGES_REQUESTED` with
//! the comment opening its thread), and is a workflow record, an audit event, an email to
//! the workspace's ADMINs and a `review.decided` webhook event.
//!
//! A link is `PENDING` until every draft on it is decided (then `APPROVED`, or
//! `CHANGES_REQUESTED` if any draft was sent back), `REVOKED` when an ADMIN withdraws it,
//! `EXPIRED` once past its expiry while still pending. Revoked and expired links open
//! nothing. The reviewer's address is personal data: the export of that address includes
//! the links, erasure removes it (and the reviewer's words), and retention removes it 90
//! days after a link ended.

use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, TransactionSession, TransactionTrait,
};
use serde_json::json;
use uuid::Uuid;

use crate::crypto::tokens::{mint, PresentedToken};
use crate::crypto::vault::Vault;
use crate::domain::content::{self, DraftStatus, PublishTime};
use crate::domain::entities::{
    comments, draft_targets, draft_workflow, drafts, media, review_link_drafts as items,
    review_links as links, workspaces,
};
use crate::domain::identity::accounts::EmailAddress;
use crate::domain::ops::audit::{self, Actor, NewEvent};
use crate::domain::ops::outbox::{self, Email};
use crate::domain::workspace::workspaces::{Role, WorkspaceAccess};
use crate::domain::{now, RequestMeta};
use crate::error::{DomainError, DomainResult};

/// At most this many drafts go on one link.
pub const MAX_DRAFTS: usize = 20;
/// How long a link lives unless the ADMIN says otherwise, and at most.
pub const DEFAULT_DAYS: i64 = 7;
pub const MAX_DAYS: i64 = 30;
/// How long after a link ended the reviewer's address is kept.
pub const RETENTION_DAYS: i64 = 90;
/// The longest comment a reviewer may write.
pub const MAX_COMMENT: usize = 2_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkState {
    Pending,
    Approved,
    ChangesRequested,
    Expired,
    Revoked,
}

impl LinkState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Approved => "APPROVED",
            Self::ChangesRequested => "CHANGES_REQUESTED",
            Self::Expired => "EXPIRED",
            Self::Revoked => "REVOKED",
        }
    }

    /// A link's state as of `at`: a pending link past its expiry is EXPIRED.
    pub fn of(link: &links::Model, at: DateTime<Utc>) -> Self {
        match link.state.as_str() {
            "REVOKED" => Self::Revoked,
            "APPROVED" => Self::Approved,
            "CHANGES_REQUESTED" => Self::ChangesRequested,
            _ if link.expires_at <= at => Self::Expired,
            _ => Self::Pending,
        }
    }
}

/// What a reviewer decided about one draft.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Approved,
    ChangesRequested,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Approved => "APPROVED",
            Self::ChangesRequested => "CHANGES_REQUESTED",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "APPROVED" => Some(Self::Approved),
            "CHANGES_REQUESTED" => Some(Self::ChangesRequested),
            _ => None,
        }
    }
}

/// Whether a draft in this status still waits for a reviewer: in review, or approved by
/// the team and not yet scheduled.
pub fn awaits_review(status: DraftStatus) -> bool {
    matches!(status, DraftStatus::InReview | DraftStatus::Approved)
}

/// One draft to share, with the time the team plans to publish it, if any.
pub struct ShareItem {
    pub draft_id: Uuid,
    pub planned_at: Option<PublishTime>,
}

/// What an ADMIN shares.
pub struct Share {
    pub email: String,
    pub items: Vec<ShareItem>,
    /// The reviewer's IANA time zone; the workspace's when none.
    pub time_zone: Option<String>,
    /// A note to the reviewer, shown in the email and on the page.
    pub message: Option<String>,
    pub expires_in_days: Option<i64>,
}

fn parse_zone(value: &str) -> DomainResult<chrono_tz::Tz> {
    value.trim().parse::<chrono_tz::Tz>().map_err(|_| {
        DomainError::bad_input(format!(
            "{:?} is not an IANA time zone like Europe/Berlin",
            value.chars().take(64).collect::<String>()
        ))
    })
}

/// Shares drafts of the workspace (ADMIN and up) with an outside reviewer: creates the
/// link and emails it. Each draft must be in review or approved and not yet scheduled.
pub async fn share(
    conn: &(impl ConnectionTrait + TransactionTrait),
    vault: &Vault,
    access: &WorkspaceAccess,
    sender_name: &str,
    share: Share,
    meta: &RequestMeta,
) -> DomainResult<links::Model> {
    access.require(Role::Admin)?;
    let email = EmailAddress::parse(&share.email)?;
    if share.items.is_empty() {
        return Err(DomainError::bad_input("choose at least one draft to share"));
    }
    if share.items.len() > MAX_DRAFTS {
        return Err(DomainError::bad_input(format!(
            "a review link holds at most {MAX_DRAFTS} drafts"
        )));
    }
    let mut seen: Vec<Uuid> = Vec::new();
    for item in &share.items {
        if seen.contains(&item.draft_id) {
            return Err(DomainError::bad_input(
                "each draft may be shared only once per link",
            ));
        }
        seen.push(item.draft_id);
    }
    let zone = match share.time_zone.as_deref().filter(|z| !z.trim().is_empty()) {
        Some(zone) => parse_zone(zone)?,
        None => parse_zone(&access.workspace.default_time_zone)?,
    };
    let days = share.expires_in_days.unwrap_or(DEFAULT_DAYS);
    if !(1..=MAX_DAYS).contains(&days) {
        return Err(DomainError::bad_input(format!(
            "a review link lasts between 1 and {MAX_DAYS} days"
        )));
    }
    let message = share
        .message
        .as_deref()
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(|m| check_comment("the message", m))
        .transpose()?;
    let mut planned = Vec::with_capacity(share.items.len());
    for item in &share.items {
        let at = item
            .planned_at
            .map(|when| content::resolve_publish_time(when, zone.name()))
            .transpose()?;
        if at.is_some_and(|at| at <= now()) {
            return Err(DomainError::bad_input(
                "a planned publishing time is in the past",
            ));
        }
        planned.push(at);
    }
    let txn = conn.begin().await?;
    let found = content::find_many(&txn, &seen).await?;
    let mut titles = Vec::with_capacity(seen.len());
    for id in &seen {
        let draft = found
            .iter()
            .find(|d| d.id == *id && d.workspace_id == access.workspace_id())
            .ok_or(DomainError::NotFound("draft"))?;
        let status = DraftStatus::parse(&draft.status)?;
        if !awaits_review(status) {
            return Err(DomainError::bad_input(format!(
                "“{}” is {}: only drafts in review or approved (and not yet scheduled) can be shared for review",
                draft.title,
                status.as_str()
            )));
        }
        titles.push(draft.title.clone());
    }
    let at = now();
    let minted = mint(Uuid::now_v7());
    let link = links::ActiveModel {
        id: Set(minted.id),
        workspace_id: Set(access.workspace_id()),
        reviewer_email: Set(Some(email.as_str().to_string())),
        token_hash: Set(minted.secret_hash),
        time_zone: Set(zone.name().to_string()),
        message: Set(message.clone()),
        state: Set(LinkState::Pending.as_str().into()),
        created_by: Set(Some(access.user_id())),
        created_at: Set(at),
        expires_at: Set(at + Duration::days(days)),
        decided_at: Set(None),
        revoked_at: Set(None),
        revoked_by: Set(None),
        minimised_at: Set(None),
    }
    .insert(&txn)
    .await?;
    for (position, (item, planned_at)) in share.items.iter().zip(planned).enumerate() {
        items::ActiveModel {
            id: Set(Uuid::now_v7()),
            link_id: Set(link.id),
            draft_id: Set(item.draft_id),
            position: Set(position as i32),
            planned_at: Set(planned_at),
            decision: Set(None),
            comment: Set(None),
            draft_version: Set(None),
            decided_at: Set(None),
        }
        .insert(&txn)
        .await?;
    }
    audit::record(
        &txn,
        NewEvent::new(Actor::User(access.user_id()), "review.shared")
            .target("review_link", link.id)
            .workspace(access.workspace_id())
            .details(json!({ "drafts": seen, "expires_at": link.expires_at })),
        meta,
    )
    .await?;
    outbox::enqueue(
        &txn,
        vault,
        &Email::ReviewRequested {
            to: email.as_str().to_string(),
            workspace_name: access
                .workspace
                .brand_name
                .clone()
                .unwrap_or_else(|| access.workspace.name.clone()),
            sender_name: sender_name.to_string(),
            drafts: titles,
            message,
            token: minted.token,
            expires: link
                .expires_at
                .with_timezone(&zone)
                .format("%-d %B %Y, %H:%M")
                .to_string(),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(link)
}

fn check_comment(field: &str, value: &str) -> DomainResult<String> {
    let value = value.trim();
    if value.chars().count() > MAX_COMMENT {
        return Err(DomainError::bad_input(format!(
            "{field} must be at most {MAX_COMMENT} characters"
        )));
    }
    if value
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(DomainError::bad_input(format!(
            "{field} must not contain control characters"
        )));
    }
    Ok(value.replace("\r\n", "\n"))
}

/// Withdraws a link (ADMIN and up): it opens nothing from now on; decisions already made
/// stand.
pub async fn revoke(
    conn: &(impl ConnectionTrait + TransactionTrait),
    access: &WorkspaceAccess,
    link_id: Uuid,
    meta: &RequestMeta,
) -> DomainResult<links::Model> {
    access.require(Role::Admin)?;
    let txn = conn.begin().await?;
    let link = find_in_workspace(&txn, access.workspace_id(), link_id).await?;
    if LinkState::of(&link, now()) == LinkState::Revoked {
        return Err(DomainError::bad_input(
            "this review link is already revoked",
        ));
    }
    let mut active: links::ActiveModel = link.into();
    active.state = Set(LinkState::Revoked.as_str().into());
    active.revoked_at = Set(Some(now()));
    active.revoked_by = Set(Some(access.user_id()));
    let link = active.update(&txn).await?;
    audit::record(
        &txn,
        NewEvent::new(Actor::User(access.user_id()), "review.revoked")
            .target("review_link", link.id)
            .workspace(access.workspace_id()),
        meta,
    )
    .await?;
    txn.commit().await?;
    Ok(link)
}

/// A link of the workspace, or NOT_FOUND.
pub async fn find_in_workspace(
    conn: &impl ConnectionTrait,
    workspace_id: Uuid,
    link_id: Uuid,
) -> DomainResult<links::Model> {
    links::Entity::find_by_id(link_id)
        .filter(links::Column::WorkspaceId.eq(workspace_id))
        .one(conn)
        .await?
        .ok_or(DomainError::NotFound("review link"))
}

/// The workspace a link belongs to, for resolving access.
pub async fn workspace_of(
    conn: &impl ConnectionTrait,
    link_id: Uuid,
) -> DomainResult<Option<Uuid>> {
    Ok(links::Entity::find_by_id(link_id)
        .select_only()
        .column(links::Column::WorkspaceId)
        .into_tuple()
        .one(conn)
        .await?)
}

/// A page of a workspace's links, newest first.
pub async fn list(
    conn: &impl ConnectionTrait,
    workspace_id: Uuid,
    before: Option<Uuid>,
    limit: u64,
) -> DomainResult<Vec<links::Model>> {
    let mut query = links::Entity::find()
        .filter(links::Column::WorkspaceId.eq(workspace_id))
        .order_by_desc(links::Column::Id)
        .limit(limit);
    if let Some(before) = before {
        query = query.filter(links::Column::Id.lt(before));
    }
    Ok(query.all(conn).await?)
}

/// The drafts of many links, in their order on each link.
pub async fn items_of(
    conn: &impl ConnectionTrait,
    link_ids: &[Uuid],
) -> DomainResult<Vec<items::Model>> {
    Ok(items::Entity::find()
        .filter(items::Column::LinkId.is_in(link_ids.iter().copied()))
        .order_by_asc(items::Column::LinkId)
        .order_by_asc(items::Column::Position)
        .all(conn)
        .await?)
}

/// The client reviews of many drafts, each with its link, oldest first.
pub async fn for_drafts(
    conn: &impl ConnectionTrait,
    draft_ids: &[Uuid],
) -> DomainResult<Vec<(items::Model, links::Model)>> {
    let rows = items::Entity::find()
        .filter(items::Column::DraftId.is_in(draft_ids.iter().copied()))
        .order_by_asc(items::Column::Id)
        .all(conn)
        .await?;
    let link_ids: Vec<Uuid> = rows.iter().map(|r| r.link_id).collect();
    let found = links::Entity::find()
        .filter(links::Column::Id.is_in(link_ids))
        .all(conn)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|item| {
            let link = found.iter().find(|l| l.id == item.link_id)?.clone();
            Some((item, link))
        })
        .collect())
}

/// Whether a client approved the draft as it is now: the latest client decision on its
/// current version is an approval.
pub async fn client_approved(
    conn: &impl ConnectionTrait,
    draft: &drafts::Model,
) -> DomainResult<bool> {
    let latest = items::Entity::find()
        .filter(items::Column::DraftId.eq(draft.id))
        .filter(items::Column::DraftVersion.eq(draft.version))
        .filter(items::Column::DecidedAt.is_not_null())
        .order_by_desc(items::Column::DecidedAt)
        .one(conn)
        .await?;
    Ok(latest.and_then(|i| i.decision).as_deref() == Some(Decision::Approved.as_str()))
}

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
async fn presented(
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

/// A reviewer's decision on one draft of their link.
pub struct Verdict<'a> {
    pub draft_id: Uuid,
    /// The version of the draft the page showed: a draft changed since is not decided.
    pub version: i32,
    pub decision: Decision,
    pub comment: Option<&'a str>,
}

/// What a decision changed, for the caller to tell live subscribers.
pub struct Decided {
    pub link: links::Model,
    pub draft: drafts::Model,
    /// The comment a request for changes opened the draft's thread with.
    pub comment_id: Option<Uuid>,
}

/// Records a reviewer's decision from a presented link and moves the draft: approval
/// takes a draft in review to APPROVED (an approved one stays so); a request for changes
/// takes it to CHANGES_REQUESTED with the comment as the first message of its thread.
pub async fn decide(
    conn: &(impl ConnectionTrait + TransactionTrait),
    vault: &Vault,
    token: &str,
    verdict: Verdict<'_>,
    meta: &RequestMeta,
) -> DomainResult<Decided> {
    let comment = verdict
        .comment
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(|c| check_comment("your comment", c))
        .transpose()?;
    if verdict.decision == Decision::ChangesRequested && comment.is_none() {
        return Err(DomainError::bad_input(
            "say what should change: a comment is required to ask for changes",
        ));
    }
    let txn = conn.begin().await?;
    // Decisions on one link wait for each other (PostgreSQL row lock; SQLite has one
    // writer), so the last one sees every other and settles the link's state.
    let link = presented(&txn, token, true).await?;
    match LinkState::of(&link, now()) {
        LinkState::Revoked => {
            return Err(DomainError::bad_input(
                "this review link was withdrawn; nothing was recorded",
            ))
        }
        LinkState::Expired => {
            return Err(DomainError::bad_input(
                "this review link has expired; nothing was recorded",
            ))
        }
        _ => {}
    }
    let item = items::Entity::find()
        .filter(items::Column::LinkId.eq(link.id))
        .filter(items::Column::DraftId.eq(verdict.draft_id))
        .one(&txn)
        .await?
        .ok_or(DomainError::NotFound("draft"))?;
    if item.decision.is_some() {
        return Err(DomainError::conflict(
            "you already decided on this post; the team has your answer",
        ));
    }
    let draft = content::find(&txn, verdict.draft_id)
        .await?
        .filter(|d| d.workspace_id == link.workspace_id)
        .ok_or(DomainError::NotFound("draft"))?;
    let from = DraftStatus::parse(&draft.status)?;
    if !awaits_review(from) {
        return Err(DomainError::conflict(
            "this post is no longer waiting for your review (the team moved it on); nothing was recorded",
        ));
    }
    if draft.version != verdict.version {
        return Err(DomainError::conflict(
            "this post changed since you opened the page; reload it and review it again",
        ));
    }
    let to = match verdict.decision {
        Decision::Approved => DraftStatus::Approved,
        Decision::ChangesRequested => DraftStatus::ChangesRequested,
    };
    // Claim the decision first: a second submission (another tab) finds it taken.
    let claimed = items::Entity::update_many()
        .col_expr(
            items::Column::Decision,
            Expr::value(verdict.decision.as_str()),
        )
        .col_expr(items::Column::Comment, Expr::value(comment.clone()))
        .col_expr(items::Column::DraftVersion, Expr::value(draft.version))
        .col_expr(items::Column::DecidedAt, Expr::value(now()))
        .filter(items::Column::Id.eq(item.id))
        .filter(items::Column::Decision.is_null())
        .exec(&txn)
        .await?;
    if claimed.rows_affected != 1 {
        return Err(DomainError::conflict(
            "you already decided on this post; the team has your answer",
        ));
    }
    let note = match (verdict.decision, comment.as_deref()) {
        (_, Some(comment)) => format!("Client review: {comment}"),
        (Decision::Approved, None) => "Approved by the client".to_string(),
        (Decision::ChangesRequested, None) => "Changes requested by the client".to_string(),
    };
    if from != to {
        let changed = drafts::Entity::update_many()
            .col_expr(drafts::Column::Status, Expr::value(to.as_str()))
            .col_expr(drafts::Column::UpdatedAt, Expr::value(now()))
            .filter(drafts::Column::Id.eq(draft.id))
            .filter(drafts::Column::Status.eq(from.as_str()))
            .filter(drafts::Column::Version.eq(draft.version))
            .exec(&txn)
            .await?;
        if changed.rows_affected != 1 {
            return Err(DomainError::conflict(
                "this post changed since you opened the page; reload it and review it again",
            ));
        }
        content::record_transition_by(
            &txn,
            link.workspace_id,
            draft.id,
            None,
            Some(link.id),
            Some(from),
            to,
            Some(&note),
        )
        .await?;
    } else {
        // Already approved by the team: the client's approval is recorded beside it.
        draft_workflow::ActiveModel {
            id: Set(Uuid::now_v7()),
            draft_id: Set(draft.id),
            actor_id: Set(None),
            from_status: Set(Some(from.as_str().into())),
            to_status: Set(to.as_str().into()),
            note: Set(Some(note)),
            at: Set(now()),
            review_link_id: Set(Some(link.id)),
        }
        .insert(&txn)
        .await?;
    }
    let mut comment_id = None;
    if let (Decision::ChangesRequested, Some(comment)) = (verdict.decision, comment.as_deref()) {
        let written =
            crate::domain::content::comments::insert(&txn, draft.id, None, None, comment, &[])
                .await?;
        comments::Entity::update_many()
            .col_expr(comments::Column::ReviewLinkId, Expr::value(link.id))
            .filter(comments::Column::Id.eq(written.id))
            .exec(&txn)
            .await?;
        comment_id = Some(written.id);
        crate::domain::workspace::webhooks::emit(
            &txn,
            link.workspace_id,
            "comment.added",
            json!({
                "comment_id": written.id,
                "draft_id": draft.id,
                "parent_id": null,
                "author_id": null,
                "review_link_id": link.id,
            }),
        )
        .await?;
    }
    // The link's own state once every draft on it is decided.
    let decisions: Vec<Option<String>> = items::Entity::find()
        .select_only()
        .column(items::Column::Decision)
        .filter(items::Column::LinkId.eq(link.id))
        .into_tuple()
        .all(&txn)
        .await?;
    let mut link = link;
    if decisions.iter().all(Option::is_some) {
        let state = if decisions
            .iter()
            .flatten()
            .all(|d| d == Decision::Approved.as_str())
        {
            LinkState::Approved
        } else {
            LinkState::ChangesRequested
        };
        let mut active: links::ActiveModel = link.into();
        active.state = Set(state.as_str().into());
        active.decided_at = Set(Some(now()));
        link = active.update(&txn).await?;
    }
    audit::record(
        &txn,
        NewEvent::new(Actor::ClientReviewer(link.id), "review.decided")
            .target("draft", draft.id)
            .workspace(link.workspace_id)
            .details(json!({
                "review_link": link.id,
                "decision": verdict.decision.as_str(),
                "from": from.as_str(),
                "to": to.as_str(),
            })),
        meta,
    )
    .await?;
    crate::domain::workspace::webhooks::emit(
        &txn,
        link.workspace_id,
        "review.decided",
        json!({
            "review_link_id": link.id,
            "draft_id": draft.id,
            "decision": verdict.decision.as_str(),
            "status": to.as_str(),
            "link_state": link.state,
        }),
    )
    .await?;
    let workspace_name = workspaces::Entity::find_by_id(link.workspace_id)
        .one(&txn)
        .await?
        .map(|w| w.name)
        .unwrap_or_default();
    for admin in
        crate::domain::workspace::workspaces::active_admins(&txn, link.workspace_id).await?
    {
        outbox::enqueue(
            &txn,
            vault,
            &Email::ReviewDecided {
                to: admin.email.clone(),
                name: admin.display_name.clone(),
                workspace_name: workspace_name.clone(),
                draft_title: draft.title.clone(),
                draft_id: draft.id,
                decision: verdict.decision.as_str().to_string(),
                comment: comment.clone(),
                shared_on: link.created_at.format("%-d %B %Y").to_string(),
            },
        )
        .await?;
    }
    let updated = content::find(&txn, draft.id)
        .await?
        .ok_or(DomainError::NotFound("draft"))?;
    txn.commit().await?;
    Ok(Decided {
        link,
        draft: updated,
        comment_id,
    })
}

/// Whether any link was sent to one of these addresses (lower-cased).
pub async fn any_sent_to(conn: &impl ConnectionTrait, emails: &[String]) -> DomainResult<bool> {
    use sea_orm::PaginatorTrait;
    if emails.is_empty() {
        return Ok(false);
    }
    Ok(links::Entity::find()
        .filter(links::Column::ReviewerEmail.is_in(emails.iter().cloned()))
        .count(conn)
        .await?
        > 0)
}

/// The links sent to any of these addresses (lower-cased), for an export.
pub async fn sent_to(
    conn: &impl ConnectionTrait,
    emails: &[String],
) -> DomainResult<Vec<(links::Model, Vec<items::Model>)>> {
    if emails.is_empty() {
        return Ok(Vec::new());
    }
    let found = links::Entity::find()
        .filter(links::Column::ReviewerEmail.is_in(emails.iter().cloned()))
        .order_by_asc(links::Column::Id)
        .all(conn)
        .await?;
    let ids: Vec<Uuid> = found.iter().map(|l| l.id).collect();
    let all_items = items_of(conn, &ids).await?;
    Ok(found
        .into_iter()
        .map(|link| {
            let mine = all_items
                .iter()
                .filter(|i| i.link_id == link.id)
                .cloned()
                .collect();
            (link, mine)
        })
        .collect())
}

/// Erasure of a reviewer: their address leaves every link sent to it, those links stop
/// working (a pending one is revoked), and their words (decision comments, the comments
/// and workflow notes the decisions wrote) are removed. What they decided stays, as the
/// workspace's record of its drafts. Returns the rows changed.
pub async fn erase_reviewer(conn: &impl ConnectionTrait, emails: &[String]) -> DomainResult<u64> {
    if emails.is_empty() {
        return Ok(0);
    }
    let ids: Vec<Uuid> = links::Entity::find()
        .select_only()
        .column(links::Column::Id)
        .filter(links::Column::ReviewerEmail.is_in(emails.iter().cloned()))
        .into_tuple()
        .all(conn)
        .await?;
    if ids.is_empty() {
        return Ok(0);
    }
    let at = now();
    let mut affected = links::Entity::update_many()
        .col_expr(
            links::Column::State,
            Expr::value(LinkState::Revoked.as_str()),
        )
        .col_expr(links::Column::RevokedAt, Expr::value(at))
        .filter(links::Column::Id.is_in(ids.iter().copied()))
        .filter(links::Column::State.eq(LinkState::Pending.as_str()))
        .exec(conn)
        .await?
        .rows_affected;
    affected += minimise(conn, &ids, at).await?;
    affected += items::Entity::update_many()
        .col_expr(items::Column::Comment, Expr::value(Option::<String>::None))
        .filter(items::Column::LinkId.is_in(ids.iter().copied()))
        .filter(items::Column::Comment.is_not_null())
        .exec(conn)
        .await?
        .rows_affected;
    affected += comments::Entity::update_many()
        .col_expr(comments::Column::Body, Expr::value(""))
        .col_expr(comments::Column::DeletedAt, Expr::value(at))
        .filter(comments::Column::ReviewLinkId.is_in(ids.iter().copied()))
        .filter(comments::Column::DeletedAt.is_null())
        .exec(conn)
        .await?
        .rows_affected;
    affected += draft_workflow::Entity::update_many()
        .col_expr(
            draft_workflow::Column::Note,
            Expr::value(Option::<String>::None),
        )
        .filter(draft_workflow::Column::ReviewLinkId.is_in(ids.iter().copied()))
        .filter(draft_workflow::Column::Note.is_not_null())
        .exec(conn)
        .await?
        .rows_affected;
    Ok(affected)
}

/// Removes the address from links (and a secret no token can match any more takes the
/// place of their token's).
async fn minimise(
    conn: &impl ConnectionTrait,
    ids: &[Uuid],
    at: DateTime<Utc>,
) -> DomainResult<u64> {
    Ok(links::Entity::update_many()
        .col_expr(
            links::Column::ReviewerEmail,
            Expr::value(Option::<String>::None),
        )
        .col_expr(links::Column::TokenHash, Expr::value(""))
        .col_expr(links::Column::MinimisedAt, Expr::value(at))
        .filter(links::Column::Id.is_in(ids.iter().copied()))
        .exec(conn)
        .await?
        .rows_affected)
}

/// Retention: 90 days after a link ended (it expired, was revoked, or every draft on it
/// was decided), the reviewer's address is removed. Returns how many links lost it.
pub async fn minimise_ended(conn: &impl ConnectionTrait, at: DateTime<Utc>) -> DomainResult<u64> {
    let cutoff = at - Duration::days(RETENTION_DAYS);
    let ended: Vec<Uuid> = links::Entity::find()
        .select_only()
        .column(links::Column::Id)
        .filter(links::Column::ReviewerEmail.is_not_null())
        .filter(
            Condition::any()
                .add(links::Column::ExpiresAt.lt(cutoff))
                .add(links::Column::RevokedAt.lt(cutoff))
                .add(links::Column::DecidedAt.lt(cutoff)),
        )
        .into_tuple()
        .all(conn)
        .await?;
    if ended.is_empty() {
        return Ok(0);
    }
    minimise(conn, &ended, at).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(state: &str, expires_in: i64) -> links::Model {
        let at = now();
        links::Model {
            id: Uuid::now_v7(),
            workspace_id: Uuid::now_v7(),
            reviewer_email: None,
            token_hash: String::new(),
            time_zone: "UTC".into(),
            message: None,
            state: state.into(),
            created_by: None,
            created_at: at,
            expires_at: at + Duration::seconds(expires_in),
            decided_at: None,
            revoked_at: None,
            revoked_by: None,
            minimised_at: None,
        }
    }

    #[test]
    fn a_pending_link_expires_and_a_decided_or_revoked_one_keeps_its_state() {
        let at = now();
        assert_eq!(LinkState::of(&link("PENDING", 60), at), LinkState::Pending);
        assert_eq!(LinkState::of(&link("PENDING", -1), at), LinkState::Expired);
        assert_eq!(LinkState::of(&link("REVOKED", 60), at), LinkState::Revoked);
        assert_eq!(LinkState::of(&link("REVOKED", -1), at), LinkState::Revoked);
        assert_eq!(
            LinkState::of(&link("APPROVED", -1), at),
            LinkState::Approved
        );
    }

    #[test]
    fn only_drafts_in_review_or_approved_await_a_client() {
        assert!(awaits_review(DraftStatus::InReview) && awaits_review(DraftStatus::Approved));
        for status in [
            DraftStatus::Draft,
            DraftStatus::ChangesRequested,
            DraftStatus::Scheduled,
            DraftStatus::Published,
            DraftStatus::Archived,
        ] {
            assert!(!awaits_review(status), "{status:?}");
        }
    }
}
