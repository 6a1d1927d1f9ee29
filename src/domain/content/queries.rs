//! Finding drafts: by id within a workspace (another workspace's id is NOT_FOUND), in pages
//! with filters on the read path, and their revisions and workflow.

use super::status::DraftStatus;
use crate::domain::entities::{draft_revisions, draft_workflow, drafts};
use crate::domain::workspace::workspaces::WorkspaceAccess;
use crate::error::{DomainError, DomainResult};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

/// A draft of the caller's workspace, or NOT_FOUND.
pub async fn find_in_workspace(
    conn: &impl ConnectionTrait,
    access: &WorkspaceAccess,
    draft_id: Uuid,
) -> DomainResult<drafts::Model> {
    drafts::Entity::find_by_id(draft_id)
        .filter(drafts::Column::WorkspaceId.eq(access.workspace_id()))
        .one(conn)
        .await?
        .ok_or(DomainError::NotFound("draft"))
}

/// A draft by id, whoever's it is (callers check access).
/// Drafts by id, in no particular order (missing ones left out).
pub async fn find_many(
    conn: &impl crate::db::reads::Reads,
    ids: &[Uuid],
) -> DomainResult<Vec<drafts::Model>> {
    let query = drafts::Entity::find().filter(drafts::Column::Id.is_in(ids.iter().copied()));
    Ok(conn
        .all(sea_orm::QueryTrait::build(&query, conn.backend()))
        .await?)
}

pub async fn find(
    conn: &impl crate::db::reads::Reads,
    draft_id: Uuid,
) -> DomainResult<Option<drafts::Model>> {
    let query = drafts::Entity::find_by_id(draft_id).limit(1);
    Ok(conn
        .all(sea_orm::QueryTrait::build(&query, conn.backend()))
        .await?
        .pop())
}

/// What a list of drafts is narrowed to.
#[derive(Clone, Debug, Default)]
pub struct DraftFilter {
    pub status: Option<DraftStatus>,
    /// Words to find in the title or body (case-insensitive).
    pub search: Option<String>,
    pub tag: Option<String>,
    pub author: Option<Uuid>,
}

/// A page of a workspace's drafts, newest first, narrowed by `filter`. The `omitted`
/// columns are not read (each row holds their stand-ins): a page that does not show a
/// body, a date or the tags does not copy them out of the database.
pub async fn list(
    conn: &impl crate::db::reads::Reads,
    workspace_id: Uuid,
    filter: &DraftFilter,
    before: Option<Uuid>,
    limit: u64,
    omitted: crate::db::reads::Omitted,
) -> DomainResult<Vec<drafts::Model>> {
    // Pages are cut by id.
    let omitted = omitted.reading::<drafts::Entity>(&[drafts::Column::Id]);
    let query = list_query(conn.backend(), workspace_id, filter, before, limit, omitted)?;
    Ok(conn
        .all_omitting(sea_orm::QueryTrait::build(&query, conn.backend()), omitted)
        .await?)
}

pub(super) fn list_query(
    backend: sea_orm::DbBackend,
    workspace_id: Uuid,
    filter: &DraftFilter,
    before: Option<Uuid>,
    limit: u64,
    // What `Omitted::reading` left out (the id is always read).
    omitted: crate::db::reads::Omitted,
) -> DomainResult<sea_orm::Select<drafts::Entity>> {
    use sea_orm::sea_query::{ExprTrait, Func, LikeExpr};
    let status = filter.status;
    let mut query = crate::db::reads::select_omitting(drafts::Entity::find(), backend, omitted)
        .filter(drafts::Column::WorkspaceId.eq(workspace_id))
        .order_by_desc(drafts::Column::Id)
        .limit(limit);
    if let Some(status) = status {
        query = query.filter(drafts::Column::Status.eq(status.as_str()));
    }
    if let Some(before) = before {
        query = query.filter(drafts::Column::Id.lt(before));
    }
    if let Some(author) = filter.author {
        query = query.filter(drafts::Column::AuthorId.eq(author));
    }
    if let Some(tag) = filter
        .tag
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        let quoted = serde_json::to_string(&tag.to_lowercase()).map_err(DomainError::internal)?;
        query = query.filter(
            drafts::Column::Tags
                .like(LikeExpr::new(crate::domain::like_pattern(&quoted)).escape('\\')),
        );
    }
    if let Some(words) = filter
        .search
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        if words.chars().count() > 200 {
            return Err(DomainError::bad_input(
                "search text must be at most 200 characters",
            ));
        }
        let pattern = crate::domain::like_pattern(&words.to_lowercase());
        // Qualified: the select list may name an empty `body` of its own.
        let lower =
            |column: drafts::Column| Expr::expr(Func::lower(Expr::col((drafts::Entity, column))));
        query = query.filter(
            sea_orm::Condition::any()
                .add(lower(drafts::Column::Title).like(LikeExpr::new(pattern.clone()).escape('\\')))
                .add(lower(drafts::Column::Body).like(LikeExpr::new(pattern).escape('\\'))),
        );
    }
    Ok(query)
}

pub async fn revisions(
    conn: &impl ConnectionTrait,
    draft_id: Uuid,
) -> DomainResult<Vec<draft_revisions::Model>> {
    Ok(draft_revisions::Entity::find()
        .filter(draft_revisions::Column::DraftId.eq(draft_id))
        .order_by_asc(draft_revisions::Column::Version)
        .all(conn)
        .await?)
}

pub async fn workflow(
    conn: &impl ConnectionTrait,
    draft_id: Uuid,
) -> DomainResult<Vec<draft_workflow::Model>> {
    Ok(draft_workflow::Entity::find()
        .filter(draft_workflow::Column::DraftId.eq(draft_id))
        .order_by_asc(draft_workflow::Column::Id)
        .all(conn)
        .await?)
}
