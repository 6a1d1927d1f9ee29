//! Comments on drafts: threaded (a reply names its parent), with mentions of workspace
//! members written as `<@user-id>` in the body. A mention queues a notification; a job
//! per member and batching window gathers what is waiting into one email, for members
//! who want mention emails and whose processing is not restricted. Authors edit their
//! own comments (`edited_at` kept); EDITORs resolve and reopen; deletion is soft and
//! empties the body, so the thread around it stays readable.

use chrono::Duration;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, TransactionSession, TransactionTrait,
};
use uuid::Uuid;

use crate::domain::content::find_in_workspace;
use crate::domain::entities::{comments, mention_notifications};
use crate::domain::ops::audit::{self, Actor, NewEvent};
use crate::domain::workspace::workspaces::{Role, WorkspaceAccess};
use crate::domain::{now, RequestMeta};
use crate::error::{DomainError, DomainResult};

mod mentions;
use self::mentions::{check_mentions, notify};
pub use self::mentions::{
    mentioned_ids, mentions_of, render_mentions, send_mention_digest, set_mention_emails,
};

pub const MAX_BODY: usize = 10_000;
/// The most comments `last_comments` returns per draft.
pub const MAX_LAST: usize = 10;

/// How many latest comments `lastComments` shows when not told.
pub const DEFAULT_LAST: usize = 3;

fn check_body(body: &str) -> DomainResult<String> {
    let body = body.trim();
    if body.is_empty() {
        return Err(DomainError::bad_input("a comment must not be empty"));
    }
    if body.chars().count() > MAX_BODY {
        return Err(DomainError::bad_input(format!(
            "a comment must be at most {MAX_BODY} characters"
        )));
    }
    if body
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(DomainError::bad_input(
            "a comment must not contain control characters",
        ));
    }
    Ok(body.to_string())
}

/// A new comment (EDITOR and up) on a draft, optionally replying to another comment of
/// the same draft.
pub async fn add(
    conn: &(impl ConnectionTrait + TransactionTrait),
    access: &WorkspaceAccess,
    draft_id: Uuid,
    body: &str,
    parent_id: Option<Uuid>,
    window: Duration,
) -> DomainResult<comments::Model> {
    access.require(Role::Editor)?;
    let body = check_body(body)?;
    let mentioned = mentioned_ids(&body);
    let txn = conn.begin().await?;
    find_in_workspace(&txn, access, draft_id).await?;
    if let Some(parent_id) = parent_id {
        let parent = comments::Entity::find_by_id(parent_id)
            .filter(comments::Column::DraftId.eq(draft_id))
            .one(&txn)
            .await?
            .ok_or(DomainError::NotFound("parent comment"))?;
        if parent.deleted_at.is_some() {
            return Err(DomainError::bad_input(
                "that comment was deleted; reply to the thread instead",
            ));
        }
    }
    check_mentions(&txn, access.workspace_id(), &mentioned).await?;
    let comment = insert(
        &txn,
        draft_id,
        Some(access.user_id()),
        parent_id,
        &body,
        &mentioned,
    )
    .await?;
    notify(&txn, &comment, &mentioned, window).await?;
    crate::domain::workspace::webhooks::emit(
        &txn,
        access.workspace_id(),
        "comment.added",
        serde_json::json!({
            "comment_id": comment.id,
            "draft_id": draft_id,
            "parent_id": parent_id,
            "author_id": access.user_id(),
        }),
    )
    .await?;
    txn.commit().await?;
    Ok(comment)
}

/// Inserts a comment row (checks done by the caller).
pub(crate) async fn insert(
    conn: &impl ConnectionTrait,
    draft_id: Uuid,
    author: Option<Uuid>,
    parent_id: Option<Uuid>,
    body: &str,
    mentioned: &[Uuid],
) -> DomainResult<comments::Model> {
    Ok(comments::ActiveModel {
        id: Set(Uuid::now_v7()),
        draft_id: Set(draft_id),
        parent_id: Set(parent_id),
        author_id: Set(author),
        body: Set(body.to_string()),
        mentions: Set(serde_json::to_string(mentioned).map_err(DomainError::internal)?),
        resolved_at: Set(None),
        resolved_by: Set(None),
        edited_at: Set(None),
        deleted_at: Set(None),
        created_at: Set(now()),
        review_link_id: Set(None),
    }
    .insert(conn)
    .await?)
}

/// A comment of a draft in the caller's workspace, or NOT_FOUND.
pub async fn find_in_workspace_comment(
    conn: &impl ConnectionTrait,
    access: &WorkspaceAccess,
    comment_id: Uuid,
) -> DomainResult<comments::Model> {
    let comment = comments::Entity::find_by_id(comment_id)
        .one(conn)
        .await?
        .ok_or(DomainError::NotFound("comment"))?;
    find_in_workspace(conn, access, comment.draft_id)
        .await
        .map_err(|_| DomainError::NotFound("comment"))?;
    Ok(comment)
}

/// Changes the text of one's own comment; newly mentioned members are notified.
pub async fn edit(
    conn: &(impl ConnectionTrait + TransactionTrait),
    access: &WorkspaceAccess,
    comment_id: Uuid,
    body: &str,
    window: Duration,
) -> DomainResult<comments::Model> {
    access.require(Role::Editor)?;
    let body = check_body(body)?;
    let txn = conn.begin().await?;
    let comment = find_in_workspace_comment(&txn, access, comment_id).await?;
    if comment.author_id != Some(access.user_id()) {
        return Err(DomainError::forbidden("only its author can edit a comment"));
    }
    if comment.deleted_at.is_some() {
        return Err(DomainError::bad_input("a deleted comment cannot be edited"));
    }
    let before = mentions_of(&comment);
    let mentioned = mentioned_ids(&body);
    check_mentions(&txn, access.workspace_id(), &mentioned).await?;
    let mut active: comments::ActiveModel = comment.into();
    active.body = Set(body);
    active.mentions = Set(serde_json::to_string(&mentioned).map_err(DomainError::internal)?);
    active.edited_at = Set(Some(now()));
    let updated = active.update(&txn).await?;
    let added: Vec<Uuid> = mentioned
        .into_iter()
        .filter(|id| !before.contains(id))
        .collect();
    notify(&txn, &updated, &added, window).await?;
    txn.commit().await?;
    Ok(updated)
}

/// Marks a comment resolved (or open again); EDITOR and up.
pub async fn set_resolved(
    conn: &impl ConnectionTrait,
    access: &WorkspaceAccess,
    comment_id: Uuid,
    resolved: bool,
) -> DomainResult<comments::Model> {
    access.require(Role::Editor)?;
    let comment = find_in_workspace_comment(conn, access, comment_id).await?;
    if comment.deleted_at.is_some() {
        return Err(DomainError::bad_input(
            "a deleted comment cannot be resolved",
        ));
    }
    if comment.resolved_at.is_some() == resolved {
        return Ok(comment);
    }
    let mut active: comments::ActiveModel = comment.into();
    active.resolved_at = Set(resolved.then(now));
    active.resolved_by = Set(resolved.then(|| access.user_id()));
    Ok(active.update(conn).await?)
}

/// Soft-deletes a comment (its author, or an ADMIN): the body and mentions go, the row
/// stays so replies keep their place; its waiting notifications are dropped.
pub async fn delete(
    conn: &(impl ConnectionTrait + TransactionTrait),
    access: &WorkspaceAccess,
    comment_id: Uuid,
    meta: &RequestMeta,
) -> DomainResult<comments::Model> {
    access.require(Role::Editor)?;
    let txn = conn.begin().await?;
    let comment = find_in_workspace_comment(&txn, access, comment_id).await?;
    if comment.author_id != Some(access.user_id()) {
        access.require(Role::Admin).map_err(|_| {
            DomainError::forbidden("only its author or an ADMIN can delete a comment")
        })?;
    }
    if comment.deleted_at.is_some() {
        return Ok(comment);
    }
    mention_notifications::Entity::delete_many()
        .filter(mention_notifications::Column::CommentId.eq(comment_id))
        .exec(&txn)
        .await?;
    let mut active: comments::ActiveModel = comment.into();
    active.body = Set(String::new());
    active.mentions = Set("[]".into());
    active.deleted_at = Set(Some(now()));
    let deleted = active.update(&txn).await?;
    audit::record(
        &txn,
        NewEvent::new(Actor::User(access.user_id()), "comment.deleted")
            .target("comment", comment_id)
            .workspace(access.workspace_id()),
        meta,
    )
    .await?;
    txn.commit().await?;
    Ok(deleted)
}

/// A page of a draft's comments in the order they were written (replies carry their
/// parent's id).
pub async fn list(
    conn: &impl crate::db::reads::Reads,
    draft_id: Uuid,
    after: Option<Uuid>,
    limit: u64,
) -> DomainResult<Vec<comments::Model>> {
    let mut query = comments::Entity::find()
        .filter(comments::Column::DraftId.eq(draft_id))
        .order_by_asc(comments::Column::Id)
        .limit(limit);
    if let Some(after) = after {
        query = query.filter(comments::Column::Id.gt(after));
    }
    Ok(conn
        .all(sea_orm::QueryTrait::build(&query, conn.backend()))
        .await?)
}

/// A draft's latest live comments, newest first, as many as were asked for. (How many it
/// has in all is the draft's own `comment_count`.)
#[derive(Clone, Debug, Default)]
pub struct Summary {
    pub latest: Vec<comments::Model>,
    /// How many latest comments were asked for: `latest` holds all of them when this
    /// is at least what a reader wants.
    pub asked: usize,
    /// The columns left out of `latest` (each holds its stand-in): it serves a reader
    /// whose selection leaves out at least these.
    pub omitted: crate::db::reads::Omitted,
}

/// The latest `latest` (at most `MAX_LAST`) live comments of each of these drafts, in one
/// statement, without the `omitted` columns; every draft asked for gets a summary, empty
/// when it has none.
pub async fn summaries(
    conn: &impl crate::db::reads::Reads,
    draft_ids: &[Uuid],
    latest: usize,
    omitted: crate::db::reads::Omitted,
) -> DomainResult<std::collections::HashMap<Uuid, Summary>> {
    use crate::db::reads::column_list;
    use sea_orm::{DatabaseBackend, Statement, Value};
    let asked = latest.min(MAX_LAST);
    // Grouped by draft and ordered by id below, whatever else is left out.
    let omitted =
        omitted.reading::<comments::Entity>(&[comments::Column::Id, comments::Column::DraftId]);
    let mut out: std::collections::HashMap<Uuid, Summary> = draft_ids
        .iter()
        .map(|id| {
            let summary = Summary {
                latest: Vec::with_capacity(asked),
                asked,
                omitted,
            };
            (*id, summary)
        })
        .collect();
    if draft_ids.is_empty() || asked == 0 {
        return Ok(out);
    }
    // One bounded index walk per draft (draft_id, deleted_at, id), glued with UNION ALL:
    // a draft with thousands of comments costs as little as one with three, where a
    // window over all of them would sort them all.
    let backend = conn.backend();
    let values: Vec<Value> = draft_ids.iter().map(|id| (*id).into()).collect();
    let sql = match backend {
        DatabaseBackend::Postgres => {
            let columns = column_list::<comments::Entity>(backend, omitted, None);
            (1..=draft_ids.len())
            .map(|n| {
                format!(
                    "SELECT * FROM (SELECT {columns} FROM comments \
                     WHERE draft_id = ${n} AND deleted_at IS NULL ORDER BY id DESC LIMIT {asked}) AS latest_{n}",
                )
            })
            .collect::<Vec<_>>()
            .join(" UNION ALL ")
        }
        // SQLite: the walk yields rowids only (the index covers them) and each comment is
        // read once, straight into the result, by rowid. Handing whole rows out of the
        // subquery copied every value twice and looked each row up through its id's
        // index: a third of the statement's instructions.
        _ => {
            let part = format!(
                "SELECT {columns} FROM (SELECT rowid AS r FROM comments \
                 WHERE draft_id = ? AND deleted_at IS NULL ORDER BY id DESC LIMIT {asked}) AS latest \
                 CROSS JOIN comments AS c ON c.rowid = latest.r",
                columns = column_list::<comments::Entity>(backend, omitted, Some("c")),
            );
            vec![part; draft_ids.len()].join(" UNION ALL ")
        }
    };
    let rows: Vec<comments::Model> = conn
        .all_omitting(
            Statement::from_sql_and_values(backend, sql, values),
            omitted,
        )
        .await?;
    for row in rows {
        // At most `asked` each, even were a draft named twice.
        if let Some(summary) = out
            .get_mut(&row.draft_id)
            .filter(|s| s.latest.len() < asked)
        {
            summary.latest.push(row);
        }
    }
    // UNION ALL keeps each part's order only by convention: sort newest first per draft.
    for summary in out.values_mut() {
        summary.latest.sort_by_key(|c| std::cmp::Reverse(c.id));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_are_parsed_once_each() -> crate::TestResult {
        let a = Uuid::now_v7();
        let b = Uuid::now_v7();
        let body = format!("Hi <@{a}> and <@{b}>, cc <@{a}>; not <@nope> or <@{a}");
        assert_eq!(mentioned_ids(&body), vec![a, b]);
        assert_eq!(
            render_mentions(&format!("thanks <@{a}>"), &[(a, "Ana".into())]),
            "thanks @Ana"
        );
        Ok(())
    }
}
