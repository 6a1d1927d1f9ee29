//! A client's verdict on a review link: approving or sending back each post, with a
//! comment, recorded for the team and told to the workspace's admins.

use super::page::presented;
use super::{awaits_review, check_comment, Decision, LinkState};
use crate::crypto::vault::Vault;
use crate::domain::content::{self, DraftStatus};
use crate::domain::entities::{
    comments, draft_workflow, drafts, review_link_drafts as items, review_links as links,
    workspaces,
};
use crate::domain::ops::audit::{self, Actor, NewEvent};
use crate::domain::ops::outbox::{self, Email};
use crate::domain::{now, RequestMeta};
use crate::error::{DomainError, DomainResult};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, Set,
    TransactionSession, TransactionTrait,
};
use serde_json::json;
use uuid::Uuid;

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
    let comment = checked_comment(&verdict)?;
    let txn = conn.begin().await?;
    let (link, item, draft, from) = open_for_decision(&txn, token, &verdict).await?;
    let to = match verdict.decision {
        Decision::Approved => DraftStatus::Approved,
        Decision::ChangesRequested => DraftStatus::ChangesRequested,
    };
    claim(&txn, &item, &verdict, comment.as_deref(), draft.version).await?;
    let note = match (verdict.decision, comment.as_deref()) {
        (_, Some(comment)) => format!("Client review: {comment}"),
        (Decision::Approved, None) => "Approved by the client".to_string(),
        (Decision::ChangesRequested, None) => "Changes requested by the client".to_string(),
    };
    move_draft(&txn, &link, &draft, from, to, note).await?;
    let comment_id = match (verdict.decision, comment.as_deref()) {
        (Decision::ChangesRequested, Some(comment)) => {
            Some(open_thread(&txn, &link, &draft, comment).await?)
        }
        _ => None,
    };
    let link = settle_link(&txn, link).await?;
    let told = Told {
        link: &link,
        draft: &draft,
        decision: verdict.decision,
        from,
        to,
        comment: comment.as_deref(),
    };
    tell(&txn, vault, told, meta).await?;
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

/// The verdict's comment, trimmed and checked; a request for changes must have one.
fn checked_comment(verdict: &Verdict<'_>) -> DomainResult<Option<String>> {
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
    Ok(comment)
}

/// The link (locked), its item for the draft and the draft, if the link still takes
/// decisions and the draft still awaits this one at the version the page showed.
async fn open_for_decision(
    txn: &impl ConnectionTrait,
    token: &str,
    verdict: &Verdict<'_>,
) -> DomainResult<(links::Model, items::Model, drafts::Model, DraftStatus)> {
    // Decisions on one link wait for each other (PostgreSQL row lock; SQLite has one
    // writer), so the last one sees every other and settles the link's state.
    let link = presented(txn, token, true).await?;
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
        .one(txn)
        .await?
        .ok_or(DomainError::NotFound("draft"))?;
    if item.decision.is_some() {
        return Err(DomainError::conflict(
            "you already decided on this post; the team has your answer",
        ));
    }
    let draft = content::find(txn, verdict.draft_id)
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
    Ok((link, item, draft, from))
}

/// Claims the decision first: a second submission (another tab) finds it taken.
async fn claim(
    txn: &impl ConnectionTrait,
    item: &items::Model,
    verdict: &Verdict<'_>,
    comment: Option<&str>,
    version: i32,
) -> DomainResult<()> {
    let claimed = items::Entity::update_many()
        .col_expr(
            items::Column::Decision,
            Expr::value(verdict.decision.as_str()),
        )
        .col_expr(
            items::Column::Comment,
            Expr::value(comment.map(str::to_string)),
        )
        .col_expr(items::Column::DraftVersion, Expr::value(version))
        .col_expr(items::Column::DecidedAt, Expr::value(now()))
        .filter(items::Column::Id.eq(item.id))
        .filter(items::Column::Decision.is_null())
        .exec(txn)
        .await?;
    if claimed.rows_affected != 1 {
        return Err(DomainError::conflict(
            "you already decided on this post; the team has your answer",
        ));
    }
    Ok(())
}

/// Moves the draft and records the transition (or, for a draft the team approved
/// already, records the client's approval beside it).
async fn move_draft(
    txn: &impl ConnectionTrait,
    link: &links::Model,
    draft: &drafts::Model,
    from: DraftStatus,
    to: DraftStatus,
    note: String,
) -> DomainResult<()> {
    if from != to {
        let changed = drafts::Entity::update_many()
            .col_expr(drafts::Column::Status, Expr::value(to.as_str()))
            .col_expr(drafts::Column::UpdatedAt, Expr::value(now()))
            .filter(drafts::Column::Id.eq(draft.id))
            .filter(drafts::Column::Status.eq(from.as_str()))
            .filter(drafts::Column::Version.eq(draft.version))
            .exec(txn)
            .await?;
        if changed.rows_affected != 1 {
            return Err(DomainError::conflict(
                "this post changed since you opened the page; reload it and review it again",
            ));
        }
        content::record_transition_by(
            txn,
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
        .insert(txn)
        .await?;
    }
    Ok(())
}

/// Opens the draft's thread with the reviewer's comment; returns the comment's id.
async fn open_thread(
    txn: &impl ConnectionTrait,
    link: &links::Model,
    draft: &drafts::Model,
    comment: &str,
) -> DomainResult<Uuid> {
    let written =
        crate::domain::content::comments::insert(txn, draft.id, None, None, comment, &[]).await?;
    comments::Entity::update_many()
        .col_expr(comments::Column::ReviewLinkId, Expr::value(link.id))
        .filter(comments::Column::Id.eq(written.id))
        .exec(txn)
        .await?;
    crate::domain::workspace::webhooks::emit(
        txn,
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
    Ok(written.id)
}

/// Settles the link's own state once every draft on it is decided.
async fn settle_link(txn: &impl ConnectionTrait, link: links::Model) -> DomainResult<links::Model> {
    let decisions: Vec<Option<String>> = items::Entity::find()
        .select_only()
        .column(items::Column::Decision)
        .filter(items::Column::LinkId.eq(link.id))
        .into_tuple()
        .all(txn)
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
        link = active.update(txn).await?;
    }
    Ok(link)
}

/// What a decision is told with.
struct Told<'a> {
    link: &'a links::Model,
    draft: &'a drafts::Model,
    decision: Decision,
    from: DraftStatus,
    to: DraftStatus,
    comment: Option<&'a str>,
}

/// Tells the decision: the audit log, the workspace's webhooks, and an email to each of
/// its admins.
async fn tell(
    txn: &impl ConnectionTrait,
    vault: &Vault,
    told: Told<'_>,
    meta: &RequestMeta,
) -> DomainResult<()> {
    let Told {
        link,
        draft,
        decision,
        from,
        to,
        comment,
    } = told;
    audit::record(
        txn,
        NewEvent::new(Actor::ClientReviewer(link.id), "review.decided")
            .target("draft", draft.id)
            .workspace(link.workspace_id)
            .details(json!({
                "review_link": link.id,
                "decision": decision.as_str(),
                "from": from.as_str(),
                "to": to.as_str(),
            })),
        meta,
    )
    .await?;
    crate::domain::workspace::webhooks::emit(
        txn,
        link.workspace_id,
        "review.decided",
        json!({
            "review_link_id": link.id,
            "draft_id": draft.id,
            "decision": decision.as_str(),
            "status": to.as_str(),
            "link_state": link.state,
        }),
    )
    .await?;
    let workspace_name = workspaces::Entity::find_by_id(link.workspace_id)
        .one(txn)
        .await?
        .map(|w| w.name)
        .unwrap_or_default();
    for admin in crate::domain::workspace::workspaces::active_admins(txn, link.workspace_id).await?
    {
        outbox::enqueue(
            txn,
            vault,
            &Email::ReviewDecided {
                to: admin.email.clone(),
                name: admin.display_name.clone(),
                workspace_name: workspace_name.clone(),
                draft_title: draft.title.clone(),
                draft_id: draft.id,
                decision: decision.as_str().to_string(),
                comment: comment.map(str::to_string),
                shared_on: link.created_at.format("%-d %B %Y").to_string(),
            },
        )
        .await?;
    }
    Ok(())
}
