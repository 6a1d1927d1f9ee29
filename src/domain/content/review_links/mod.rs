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
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, TransactionSession, TransactionTrait,
};
use serde_json::json;
use uuid::Uuid;

use crate::crypto::tokens::mint;
use crate::crypto::vault::Vault;
use crate::domain::content::{self, DraftStatus, PublishTime};
use crate::domain::entities::{drafts, review_link_drafts as items, review_links as links};
use crate::domain::identity::accounts::EmailAddress;
use crate::domain::ops::audit::{self, Actor, NewEvent};
use crate::domain::ops::outbox::{self, Email};
use crate::domain::workspace::workspaces::{Role, WorkspaceAccess};
use crate::domain::{now, RequestMeta};
use crate::error::{DomainError, DomainResult};

mod decide;
pub use self::decide::{decide, Decided, Verdict};

mod page;
pub use self::page::{open, Closed, PageDraft, ReviewPage};

mod reviewers;
pub use self::reviewers::{any_sent_to, erase_reviewer, minimise_ended, sent_to};

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
