//! Drafts: the pieces of content a team writes. Updates use optimistic concurrency (a
//! stale `expected_version` is a CONFLICT and changes nothing), every saved version is a
//! revision, and the status machine is enforced here:
//! `DRAFT → IN_REVIEW → APPROVED → SCHEDULED → PUBLISHING → PUBLISHED | PARTIALLY_PUBLISHED | FAILED`,
//! `IN_REVIEW → CHANGES_REQUESTED → DRAFT`, any non-published → `ARCHIVED`; an approved
//! draft not yet scheduled may be sent back to `CHANGES_REQUESTED`.
//! Every transition is a workflow record.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, TransactionSession, TransactionTrait,
};
use serde_json::json;
use uuid::Uuid;

use self::targets::{Origin, TargetText};
use self::variants::{ContentGenerator, Source};
use super::entities::{draft_generations, draft_revisions, draft_targets, draft_workflow, drafts};
use super::ops::audit::{self, Actor, NewEvent};
use super::platforms::Provider;
use super::workspace::workspaces::{Role, WorkspaceAccess};
use super::{clean_text, now, RequestMeta};
use crate::error::{DomainError, DomainResult};

pub mod comments;
pub mod media;
pub mod review_links;
pub mod schedule;
pub mod targets;
pub mod variants;

pub const MAX_TAGS: usize = 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DraftStatus {
    Draft,
    InReview,
    ChangesRequested,
    Approved,
    Scheduled,
    Publishing,
    Published,
    PartiallyPublished,
    Failed,
    Archived,
}

impl DraftStatus {
    pub const ALL: [DraftStatus; 10] = [
        Self::Draft,
        Self::InReview,
        Self::ChangesRequested,
        Self::Approved,
        Self::Scheduled,
        Self::Publishing,
        Self::Published,
        Self::PartiallyPublished,
        Self::Failed,
        Self::Archived,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "DRAFT",
            Self::InReview => "IN_REVIEW",
            Self::ChangesRequested => "CHANGES_REQUESTED",
            Self::Approved => "APPROVED",
            Self::Scheduled => "SCHEDULED",
            Self::Publishing => "PUBLISHING",
            Self::Published => "PUBLISHED",
            Self::PartiallyPublished => "PARTIALLY_PUBLISHED",
            Self::Failed => "FAILED",
            Self::Archived => "ARCHIVED",
        }
    }

    pub fn parse(value: &str) -> DomainResult<Self> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == value)
            .ok_or_else(|| DomainError::internal(anyhow::anyhow!("unknown draft status {value:?}")))
    }

    /// Whether the status machine allows `self → to`.
    pub fn can_become(self, to: DraftStatus) -> bool {
        use DraftStatus::*;
        match (self, to) {
            (Draft, InReview)
            | (InReview, Approved)
            | (InReview, ChangesRequested)
            | (ChangesRequested, Draft) => true,
            // An approved draft not yet scheduled can still be sent back (a client
            // reviewer asking for changes after the team approved it).
            (Approved, ChangesRequested) => true,
            (Approved, Scheduled) | (Scheduled, Publishing) => true,
            (Publishing, Published) | (Publishing, PartiallyPublished) | (Publishing, Failed) => {
                true
            }
            (from, Archived) => {
                !matches!(from, Published | PartiallyPublished | Publishing | Archived)
            }
            _ => false,
        }
    }

    /// Text and tags may change only before review.
    pub fn is_editable(self) -> bool {
        matches!(self, Self::Draft | Self::ChangesRequested)
    }
}

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

/// When to publish, as a client says it (the way calendar APIs take a `dateTime` with a
/// `timeZone`): an instant (the value had an offset, `Z` or `+02:00`), or a wall-clock
/// time to be read in the time zone (the value had none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PublishTime {
    Instant(chrono::DateTime<chrono::Utc>),
    WallClock(chrono::NaiveDateTime),
}

/// The instant a publishing time names in `time_zone` (an IANA zone, kept with the draft
/// for display either way). A wall-clock time that does not exist there (the clocks
/// skip it) is refused; one that happens twice (the clocks go back) needs its offset.
pub fn resolve_publish_time(
    when: PublishTime,
    time_zone: &str,
) -> DomainResult<chrono::DateTime<chrono::Utc>> {
    use chrono::{LocalResult, Offset, TimeZone};
    let tz: chrono_tz::Tz = time_zone.parse().map_err(|_| {
        DomainError::bad_input(format!(
            "{time_zone:?} is not an IANA time zone like Europe/Berlin"
        ))
    })?;
    let local = match when {
        PublishTime::Instant(at) => return Ok(at),
        PublishTime::WallClock(local) => local,
    };
    let shown = local.format("%Y-%m-%d %H:%M");
    match tz.from_local_datetime(&local) {
        LocalResult::Single(at) => Ok(at.with_timezone(&chrono::Utc)),
        LocalResult::Ambiguous(earlier, later) => Err(DomainError::bad_input(format!(
            "{shown} happens twice in {time_zone} (the clocks go back): send it with its offset, {}{} for the first or {}{} for the second",
            local.format("%Y-%m-%dT%H:%M:%S"),
            earlier.offset().fix(),
            local.format("%Y-%m-%dT%H:%M:%S"),
            later.offset().fix(),
        ))),
        LocalResult::None => Err(DomainError::bad_input(format!(
            "{shown} does not exist in {time_zone}: the clocks skip that hour for daylight saving time; choose another time"
        ))),
    }
}

/// Schedules an approved draft (or a draft, where the workspace does not require
/// approval) for `when`, kept with `time_zone`. A wall-clock time that does not exist
/// (a DST gap) or is ambiguous, and a time in the past, are refused.
pub async fn schedule(
    conn: &(impl ConnectionTrait + TransactionTrait),
    access: &WorkspaceAccess,
    draft_id: Uuid,
    when: PublishTime,
    time_zone: &str,
    meta: &RequestMeta,
) -> DomainResult<drafts::Model> {
    access.require(Role::Editor)?;
    let publish_at = resolve_publish_time(when, time_zone)?;
    if publish_at <= now() {
        return Err(DomainError::bad_input("the publishing time is in the past"));
    }
    let txn = conn.begin().await?;
    let draft = find_in_workspace(&txn, access, draft_id).await?;
    let from = DraftStatus::parse(&draft.status)?;
    let allowed = from == DraftStatus::Approved
        || (!access.workspace.approval_required && from == DraftStatus::Draft);
    if !allowed {
        return Err(DomainError::bad_input(format!(
            "a draft that is {} cannot be scheduled{}",
            from.as_str(),
            if access.workspace.approval_required {
                "; this workspace requires approval first"
            } else {
                ""
            }
        )));
    }
    if access.workspace.client_approval_required
        && !super::content::review_links::client_approved(&txn, &draft).await?
    {
        return Err(DomainError::bad_input(
            "this workspace requires a client's approval before scheduling: share the draft for review and wait until the client approves it",
        ));
    }
    targets::check_ready(&txn, draft_id).await?;
    let changed = drafts::Entity::update_many()
        .col_expr(
            drafts::Column::Status,
            Expr::value(DraftStatus::Scheduled.as_str()),
        )
        .col_expr(drafts::Column::ScheduledAt, Expr::value(publish_at))
        .col_expr(drafts::Column::TimeZone, Expr::value(time_zone))
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
        DraftStatus::Scheduled,
        None,
    )
    .await?;
    schedule::enqueue_publishing(&txn, draft_id, publish_at).await?;
    audit::record(
        &txn,
        NewEvent::new(Actor::User(access.user_id()), "draft.scheduled")
            .target("draft", draft_id)
            .workspace(access.workspace_id())
            .details(json!({ "publish_at": publish_at, "time_zone": time_zone })),
        meta,
    )
    .await?;
    let updated = find_in_workspace(&txn, access, draft_id).await?;
    txn.commit().await?;
    Ok(updated)
}

/// Writes a variant of the draft for each of `providers` with `generator`, saves them
/// as the draft's targets (origin GENERATED) and records what went in and came out.
pub async fn generate_variants(
    conn: &(impl ConnectionTrait + TransactionTrait),
    access: &WorkspaceAccess,
    draft_id: Uuid,
    providers: &[Provider],
    generator: &dyn ContentGenerator,
    meta: &RequestMeta,
) -> DomainResult<Vec<draft_targets::Model>> {
    access.require(Role::Editor)?;
    let mut wanted: Vec<Provider> = Vec::new();
    for provider in providers {
        if !wanted.contains(provider) {
            wanted.push(*provider);
        }
    }
    if wanted.is_empty() {
        return Err(DomainError::bad_input(
            "name at least one channel to write for",
        ));
    }
    let draft = find_in_workspace(conn, access, draft_id).await?;
    require_editable(&draft, "its channels")?;
    let source = Source {
        title: draft.title.clone(),
        body: draft.body.clone(),
        tags: tags_of(&draft),
    };
    // The generator may take seconds (a remote model): write nothing until all are in.
    let mut variants = Vec::with_capacity(wanted.len());
    for provider in &wanted {
        let variant = generator.generate(&source, *provider).await.map_err(|e| {
            tracing::warn!(error = ?e, generator = %generator.describe(), "text generation failed");
            DomainError::Upstream(format!(
                "the text generator failed for {}: {e}",
                provider.as_str()
            ))
        })?;
        variants.push((*provider, variant));
    }
    let txn = conn.begin().await?;
    let current = find_in_workspace(&txn, access, draft_id).await?;
    if current.version != draft.version {
        return Err(DomainError::conflict(
            "the draft changed while its variants were written; generate them again",
        ));
    }
    let mut saved = Vec::with_capacity(variants.len());
    for (provider, variant) in &variants {
        saved.push(
            targets::upsert(
                &txn,
                access,
                draft_id,
                TargetText {
                    provider: *provider,
                    integration_id: None,
                    title: variant.title.clone(),
                    body: variant.body.clone(),
                },
                Origin::Generated,
            )
            .await?,
        );
    }
    let outputs: serde_json::Map<String, serde_json::Value> = variants
        .iter()
        .map(|(p, v)| (p.as_str().to_string(), json!(v)))
        .collect();
    draft_generations::ActiveModel {
        id: Set(Uuid::now_v7()),
        draft_id: Set(draft_id),
        generator: Set(generator.describe()),
        requested_by: Set(Some(access.user_id())),
        inputs: Set(json!({
            "source": source,
            "version": draft.version,
            "providers": wanted.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
        })
        .to_string()),
        outputs: Set(serde_json::Value::Object(outputs).to_string()),
        created_at: Set(now()),
    }
    .insert(&txn)
    .await?;
    audit::record(
        &txn,
        NewEvent::new(Actor::User(access.user_id()), "draft.variants_generated")
            .target("draft", draft_id)
            .workspace(access.workspace_id())
            .details(json!({ "generator": generator.describe(), "channels": wanted.len() })),
        meta,
    )
    .await?;
    txn.commit().await?;
    Ok(saved)
}

/// The generations of many drafts in one statement, newest first.
pub async fn generations_of(
    conn: &impl ConnectionTrait,
    draft_ids: &[Uuid],
) -> DomainResult<Vec<draft_generations::Model>> {
    Ok(draft_generations::Entity::find()
        .filter(draft_generations::Column::DraftId.is_in(draft_ids.iter().copied()))
        .order_by_desc(draft_generations::Column::Id)
        .all(conn)
        .await?)
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

/// The workspace a draft belongs to, for resolving access.
pub async fn workspace_of(
    conn: &impl ConnectionTrait,
    draft_id: Uuid,
) -> DomainResult<Option<Uuid>> {
    Ok(drafts::Entity::find_by_id(draft_id)
        .select_only()
        .column(drafts::Column::WorkspaceId)
        .into_tuple()
        .one(conn)
        .await?)
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

fn list_query(
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
            drafts::Column::Tags.like(LikeExpr::new(super::like_pattern(&quoted)).escape('\\')),
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
        let pattern = super::like_pattern(&words.to_lowercase());
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

/// Records a status change of a draft of `workspace_id` (and queues the webhook events it
/// makes); `actor` is none for the system's own (publishing).
pub(crate) async fn record_transition(
    conn: &impl ConnectionTrait,
    workspace_id: Uuid,
    draft_id: Uuid,
    actor: impl Into<Option<Uuid>>,
    from: Option<DraftStatus>,
    to: DraftStatus,
    note: Option<&str>,
) -> DomainResult<()> {
    record_transition_by(
        conn,
        workspace_id,
        draft_id,
        actor.into(),
        None,
        from,
        to,
        note,
    )
    .await
}

/// `record_transition`, naming the client review link whose decision made it.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn record_transition_by(
    conn: &impl ConnectionTrait,
    workspace_id: Uuid,
    draft_id: Uuid,
    actor: Option<Uuid>,
    review_link: Option<Uuid>,
    from: Option<DraftStatus>,
    to: DraftStatus,
    note: Option<&str>,
) -> DomainResult<()> {
    use super::workspace::webhooks::emit;
    match from {
        None => {
            emit(
                conn,
                workspace_id,
                "draft.created",
                json!({ "draft_id": draft_id, "status": to.as_str() }),
            )
            .await?
        }
        Some(from) => {
            emit(
                conn,
                workspace_id,
                "draft.status_changed",
                json!({ "draft_id": draft_id, "from": from.as_str(), "to": to.as_str() }),
            )
            .await?
        }
    };
    let outcome = match to {
        DraftStatus::Published | DraftStatus::PartiallyPublished => Some("draft.published"),
        DraftStatus::Failed => Some("draft.failed"),
        _ => None,
    };
    if let Some(event) = outcome {
        emit(
            conn,
            workspace_id,
            event,
            json!({ "draft_id": draft_id, "status": to.as_str() }),
        )
        .await?;
    }
    draft_workflow::ActiveModel {
        id: Set(Uuid::now_v7()),
        draft_id: Set(draft_id),
        actor_id: Set(actor),
        from_status: Set(from.map(|s| s.as_str().to_string())),
        to_status: Set(to.as_str().into()),
        note: Set(note.map(str::to_string)),
        at: Set(now()),
        review_link_id: Set(review_link),
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
