//! Reviewers' addresses under the privacy promises: found for a request, erased on
//! erasure, and minimised once a link has ended.

use super::{items_of, LinkState, RETENTION_DAYS};
use crate::domain::entities::{
    comments, draft_workflow, review_link_drafts as items, review_links as links,
};
use crate::domain::now;
use crate::error::DomainResult;
use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

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
pub(super) async fn minimise(
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
