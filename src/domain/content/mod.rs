//! Content: drafts and their targets, comments, media, client review links, scheduling and
//! generated variants. Depends on `workspace`, `identity`, `platforms` and `ops`.
//!
//! This module holds the drafts themselves. Updates use optimistic concurrency (a
//! stale `expected_version` is a CONFLICT and changes nothing), every saved version is a
//! revision, and the status machine (`status`) is enforced on every change:
//! `DRAFT → IN_REVIEW → APPROVED → SCHEDULED → PUBLISHING → PUBLISHED | PARTIALLY_PUBLISHED | FAILED`,
//! `IN_REVIEW → CHANGES_REQUESTED → DRAFT`, any non-published → `ARCHIVED`; an approved
//! draft not yet scheduled may be sent back to `CHANGES_REQUESTED`.
//! Every transition is a workflow record.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set,
    TransactionSession, TransactionTrait,
};
use serde_json::json;
use uuid::Uuid;

use self::targets::{Origin, TargetText};
use super::entities::{draft_revisions, drafts};
use super::ops::audit::{self, Actor, NewEvent};
use super::workspace::workspaces::{Role, WorkspaceAccess};
use super::{clean_text, now, RequestMeta};
use crate::error::{DomainError, DomainResult};

pub mod comments;
pub mod media;
pub mod review_links;
pub mod schedule;
pub mod targets;
pub mod variants;

mod status;
pub use self::status::DraftStatus;

pub use self::schedule::{resolve_publish_time, schedule, PublishTime};

mod generation;
pub use self::generation::{generate_variants, generations_of};

mod queries;
#[cfg(test)]
use self::queries::list_query;
pub use self::queries::{
    find, find_in_workspace, find_many, list, revisions, workflow, DraftFilter,
};
pub(crate) use self::status::{record_transition, record_transition_by};

pub const MAX_TAGS: usize = 20;

fn parse_tags(tags: &[String]) -> DomainResult<Vec<String>> {
    let mut clean: Vec<String> = Vec::new();
    for tag in tags {
        let tag = clean_text("tag", tag, 50)?.to_lowercase();
        if !clean.contains(&tag) {
            clean.push(tag);
        }
    }
    if clean.len() > MAX_TAGS {
        return Err(DomainError::bad_input(format!(
            "a draft has at most {MAX_TAGS} tags"
        )));
    }
    Ok(clean)
}

fn check_body(body: &str) -> DomainResult<String> {
    if body.chars().count() > 100_000 {
        return Err(DomainError::bad_input(
            "the body must be at most 100,000 characters",
        ));
    }
    if body
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(DomainError::bad_input(
            "the body must not contain control characters",
        ));
    }
    Ok(body.to_string())
}

pub fn tags_of(draft: &drafts::Model) -> Vec<String> {
    serde_json::from_str(&draft.tags).unwrap_or_default()
}

/// Creates a draft (EDITOR and up) with its first revision and workflow record.
pub async fn create_draft(
    conn: &(impl ConnectionTrait + TransactionTrait),
    access: &WorkspaceAccess,
    title: &str,
    body: &str,
    tags: &[String],
    targets: &[TargetText],
    meta: &RequestMeta,
) -> DomainResult<drafts::Model> {
    access.require(Role::Editor)?;
    let title = clean_text("title", title, 200)?;
    let body = check_body(body)?;
    let tags = serde_json::to_string(&parse_tags(tags)?).map_err(DomainError::internal)?;
    let txn = conn.begin().await?;
    let at = now();
    let draft = drafts::ActiveModel {
        id: Set(Uuid::now_v7()),
        workspace_id: Set(access.workspace_id()),
        author_id: Set(Some(access.user_id())),
        title: Set(title),
        body: Set(body),
        tags: Set(tags),
        status: Set(DraftStatus::Draft.as_str().into()),
        version: Set(1),
        scheduled_at: Set(None),
        time_zone: Set(None),
        origin: Set("MANUAL".into()),
        created_at: Set(at),
        updated_at: Set(at),
        comment_count: sea_orm::ActiveValue::NotSet,
    }
    .insert(&txn)
    .await?;
    save_revision(&txn, &draft, access.user_id()).await?;
    for target in targets {
        targets::upsert(&txn, access, draft.id, target.clone(), Origin::Manual).await?;
    }
    record_transition(
        &txn,
        access.workspace_id(),
        draft.id,
        access.user_id(),
        None,
        DraftStatus::Draft,
        None,
    )
    .await?;
    audit::record(
        &txn,
        NewEvent::new(Actor::User(access.user_id()), "draft.created")
            .target("draft", draft.id)
            .workspace(access.workspace_id()),
        meta,
    )
    .await?;
    txn.commit().await?;
    Ok(draft)
}

/// What an update changes; `None` leaves a field as it is.
#[derive(Default)]
pub struct DraftChanges {
    pub title: Option<String>,
    pub body: Option<String>,
    pub tags: Option<Vec<String>>,
}

/// Saves new text if `expected_version` is still the draft's version (else CONFLICT,
/// nothing changed), as a new revision. Editing a draft whose changes were requested
/// moves it back to DRAFT.
pub async fn update_draft(
    conn: &(impl ConnectionTrait + TransactionTrait),
    access: &WorkspaceAccess,
    draft_id: Uuid,
    expected_version: i32,
    changes: DraftChanges,
) -> DomainResult<drafts::Model> {
    access.require(Role::Editor)?;
    let txn = conn.begin().await?;
    let draft = find_in_workspace(&txn, access, draft_id).await?;
    let status = DraftStatus::parse(&draft.status)?;
    if !status.is_editable() {
        return Err(DomainError::bad_input(format!(
            "a draft that is {} cannot be edited",
            status.as_str()
        )));
    }
    let mut update = drafts::Entity::update_many()
        .col_expr(drafts::Column::Version, Expr::value(expected_version + 1))
        .col_expr(drafts::Column::UpdatedAt, Expr::value(now()))
        .filter(drafts::Column::Id.eq(draft_id))
        .filter(drafts::Column::Version.eq(expected_version));
    if let Some(title) = &changes.title {
        update = update.col_expr(
            drafts::Column::Title,
            Expr::value(clean_text("title", title, 200)?),
        );
    }
    if let Some(body) = &changes.body {
        update = update.col_expr(drafts::Column::Body, Expr::value(check_body(body)?));
    }
    if let Some(tags) = &changes.tags {
        let tags = serde_json::to_string(&parse_tags(tags)?).map_err(DomainError::internal)?;
        update = update.col_expr(drafts::Column::Tags, Expr::value(tags));
    }
    if status == DraftStatus::ChangesRequested {
        update = update.col_expr(
            drafts::Column::Status,
            Expr::value(DraftStatus::Draft.as_str()),
        );
    }
    if update.exec(&txn).await?.rows_affected != 1 {
        return Err(DomainError::conflict(format!(
            "this draft was changed by someone else (it is now at version {}, you edited version {expected_version}); reload it and apply your changes again",
            draft.version
        )));
    }
    let updated = find_in_workspace(&txn, access, draft_id).await?;
    save_revision(&txn, &updated, access.user_id()).await?;
    if status == DraftStatus::ChangesRequested {
        record_transition(
            &txn,
            access.workspace_id(),
            draft_id,
            access.user_id(),
            Some(status),
            DraftStatus::Draft,
            None,
        )
        .await?;
    }
    txn.commit().await?;
    Ok(updated)
}

/// Moves a draft along the status machine, with the role each step needs: EDITOR submits
/// and archives, ADMIN approves and requests changes (with a note).
pub async fn transition(
    conn: &(impl ConnectionTrait + TransactionTrait),
    access: &WorkspaceAccess,
    draft_id: Uuid,
    to: DraftStatus,
    note: Option<&str>,
    meta: &RequestMeta,
) -> DomainResult<drafts::Model> {
    let needed = match to {
        DraftStatus::Approved | DraftStatus::ChangesRequested => Role::Admin,
        _ => Role::Editor,
    };
    access.require(needed)?;
    let note = match (to, note.map(str::trim).filter(|n| !n.is_empty())) {
        (DraftStatus::ChangesRequested, None) => {
            return Err(DomainError::bad_input(
                "say what should change: a note is required",
            ))
        }
        (_, Some(note)) => Some(clean_text("note", note, 2_000)?),
        (_, None) => None,
    };
    let txn = conn.begin().await?;
    let draft = find_in_workspace(&txn, access, draft_id).await?;
    let from = DraftStatus::parse(&draft.status)?;
    if !from.can_become(to) {
        return Err(DomainError::bad_input(format!(
            "a draft that is {} cannot become {}",
            from.as_str(),
            to.as_str()
        )));
    }
    let changed = drafts::Entity::update_many()
        .col_expr(drafts::Column::Status, Expr::value(to.as_str()))
        .col_expr(drafts::Column::UpdatedAt, Expr::value(now()))
        .filter(drafts::Column::Id.eq(draft_id))
        .filter(drafts::Column::Status.eq(from.as_str()))
        .exec(&txn)
        .await?;
    if changed.rows_affected != 1 {
        return Err(DomainError::conflict(
            "the draft changed meanwhile; reload it",
        ));
    }
    record_transition(
        &txn,
        access.workspace_id(),
        draft_id,
        access.user_id(),
        Some(from),
        to,
        note.as_deref(),
    )
    .await?;
    if let (DraftStatus::ChangesRequested, Some(note)) = (to, note.as_deref()) {
        // The reviewer's note also opens the discussion on the draft.
        super::content::comments::insert(&txn, draft_id, Some(access.user_id()), None, note, &[])
            .await?;
    }
    if matches!(
        to,
        DraftStatus::Approved | DraftStatus::Archived | DraftStatus::ChangesRequested
    ) {
        let action = match to {
            DraftStatus::Approved => "draft.approved",
            DraftStatus::Archived => "draft.archived",
            _ => "draft.changes_requested",
        };
        audit::record(
            &txn,
            NewEvent::new(Actor::User(access.user_id()), action)
                .target("draft", draft_id)
                .workspace(access.workspace_id())
                .details(json!({ "from": from.as_str() })),
            meta,
        )
        .await?;
    }
    let updated = find_in_workspace(&txn, access, draft_id).await?;
    txn.commit().await?;
    Ok(updated)
}

/// Refuses a change to `what` (its text, channels, media) unless the draft is still
/// editable (DRAFT or CHANGES_REQUESTED).
pub fn require_editable(draft: &drafts::Model, what: &str) -> DomainResult<DraftStatus> {
    let status = DraftStatus::parse(&draft.status)?;
    if !status.is_editable() {
        return Err(DomainError::bad_input(format!(
            "a draft that is {} cannot change {what}",
            status.as_str()
        )));
    }
    Ok(status)
}

async fn save_revision(
    conn: &impl ConnectionTrait,
    draft: &drafts::Model,
    editor: Uuid,
) -> DomainResult<()> {
    draft_revisions::ActiveModel {
        id: Set(Uuid::now_v7()),
        draft_id: Set(draft.id),
        version: Set(draft.version),
        title: Set(draft.title.clone()),
        body: Set(draft.body.clone()),
        tags: Set(draft.tags.clone()),
        editor_id: Set(Some(editor)),
        created_at: Set(now()),
    }
    .insert(conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::DraftStatus::*;

    #[test]
    fn a_list_without_bodies_does_not_select_them() -> crate::TestResult {
        use crate::db::reads::Omitted;
        use crate::domain::entities::drafts;
        use sea_orm::{DbBackend, QueryTrait};
        let filter = super::DraftFilter {
            search: Some("spring".into()),
            ..Default::default()
        };
        let id = uuid::Uuid::nil();
        let sql = |omitted| -> Result<String, crate::error::DomainError> {
            Ok(
                super::list_query(DbBackend::Sqlite, id, &filter, None, 21, omitted)?
                    .build(DbBackend::Sqlite)
                    .to_string(),
            )
        };
        let body = Omitted::only::<drafts::Entity>(&[drafts::Column::Body]);
        let without = sql(body)?;
        let (columns, rest) = without
            .split_once(" FROM ")
            .ok_or("no FROM in the statement")?;
        assert!(columns.contains("'' AS \"body\""), "{columns}");
        assert!(!columns.contains("\"drafts\".\"body\""), "{columns}");
        assert!(columns.contains("\"drafts\".\"title\""), "{columns}");
        // The search still looks in the body.
        assert!(rest.contains("\"drafts\".\"body\""), "{rest}");
        let with = sql(Omitted::NONE)?;
        let (columns, _) = with.split_once(" FROM ").ok_or("no FROM")?;
        assert!(columns.contains("\"drafts\".\"body\""), "{columns}");
        Ok(())
    }

    #[test]
    fn the_status_machine() {
        assert!(Draft.can_become(InReview));
        assert!(InReview.can_become(Approved) && InReview.can_become(ChangesRequested));
        assert!(ChangesRequested.can_become(Draft));
        assert!(!Draft.can_become(Approved), "approval needs review first");
        assert!(!ChangesRequested.can_become(Approved));
        assert!(!Published.can_become(Archived) && !Archived.can_become(Archived));
        assert!(Failed.can_become(Archived) && Approved.can_become(Archived));
        assert!(Publishing.can_become(PartiallyPublished));
        assert!(!Scheduled.can_become(Published));
        assert!(Approved.can_become(ChangesRequested) && !Scheduled.can_become(ChangesRequested));
    }
}
