//! Mentions in comments: the @handles a body names, checked against the workspace's
//! members, notified at once in the app and gathered into a digest email.

use crate::crypto::vault::Vault;
use crate::domain::entities::{comments, drafts, jobs, memberships, mention_notifications, users};
use crate::domain::now;
use crate::domain::ops::outbox::{self, Email, MentionItem};
use crate::error::{DomainError, DomainResult};
use chrono::Duration;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, TransactionSession, TransactionTrait,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

/// The members a stored comment mentions, in order (none when a read left its
/// `mentions` column out).
pub fn mentions_of(comment: &comments::Model) -> Vec<Uuid> {
    if comment.mentions.is_empty() {
        return Vec::new();
    }
    serde_json::from_str(&comment.mentions).unwrap_or_default()
}

/// The ids a body mentions as `<@uuid>`, each once, in order.
pub fn mentioned_ids(body: &str) -> Vec<Uuid> {
    let mut ids = Vec::new();
    let mut rest = body;
    while let Some(start) = rest.find("<@") {
        rest = &rest[start + 2..];
        if let Some(end) = rest.find('>') {
            if let Ok(id) = Uuid::parse_str(&rest[..end]) {
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
        }
    }
    ids
}

/// The body with each `<@uuid>` replaced by `@Name` (for emails and excerpts).
pub fn render_mentions(body: &str, names: &[(Uuid, String)]) -> String {
    let mut out = body.to_string();
    for (id, name) in names {
        out = out.replace(&format!("<@{id}>"), &format!("@{name}"));
    }
    out
}

/// Checks every mention names a member of the workspace.
pub(super) async fn check_mentions(
    conn: &impl ConnectionTrait,
    workspace_id: Uuid,
    ids: &[Uuid],
) -> DomainResult<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let members: Vec<Uuid> = memberships::Entity::find()
        .select_only()
        .column(memberships::Column::UserId)
        .filter(memberships::Column::WorkspaceId.eq(workspace_id))
        .filter(memberships::Column::UserId.is_in(ids.iter().copied()))
        .into_tuple()
        .all(conn)
        .await?;
    if let Some(stranger) = ids.iter().find(|id| !members.contains(id)) {
        return Err(DomainError::bad_input(format!(
            "<@{stranger}> is not a member of this workspace and cannot be mentioned"
        )));
    }
    Ok(())
}

/// Queues the notifications for newly mentioned members (not the author), and the
/// digest job of each one's current window.
pub(super) async fn notify(
    conn: &impl ConnectionTrait,
    comment: &comments::Model,
    mentioned: &[Uuid],
    window: Duration,
) -> DomainResult<()> {
    for user_id in mentioned
        .iter()
        .filter(|id| Some(**id) != comment.author_id)
    {
        mention_notifications::Entity::insert(mention_notifications::ActiveModel {
            id: Set(Uuid::now_v7()),
            user_id: Set(*user_id),
            comment_id: Set(comment.id),
            created_at: Set(now()),
        })
        .on_conflict(
            OnConflict::columns([
                mention_notifications::Column::UserId,
                mention_notifications::Column::CommentId,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(conn)
        .await?;
        // One email per window: the first mention opens it (a digest job due at its
        // end), later mentions join the job still waiting.
        let payload = json!({ "user_id": user_id }).to_string();
        let waiting = jobs::Entity::find()
            .filter(jobs::Column::Kind.eq(crate::domain::ops::jobs::kind::MENTION_DIGEST))
            .filter(jobs::Column::Payload.eq(payload.as_str()))
            .filter(jobs::Column::DoneAt.is_null())
            .filter(jobs::Column::FailedAt.is_null())
            .filter(jobs::Column::LockedUntil.is_null())
            .one(conn)
            .await?;
        if waiting.is_some() {
            continue;
        }
        crate::domain::ops::jobs::enqueue_once(
            conn,
            Uuid::now_v7(),
            crate::domain::ops::jobs::kind::MENTION_DIGEST,
            &json!({ "user_id": user_id }),
            now() + window,
        )
        .await?;
    }
    Ok(())
}

/// What a digest job sends: one email to a member listing every mention waiting for
/// them, then the notifications are gone. Members who turned mention emails off, and
/// restricted or erased accounts, get nothing (their notifications are dropped).
pub async fn send_mention_digest(
    conn: &(impl ConnectionTrait + TransactionTrait),
    vault: &Vault,
    payload: &str,
) -> anyhow::Result<usize> {
    #[derive(Deserialize, Serialize)]
    struct Payload {
        user_id: Uuid,
    }
    let Payload { user_id } = serde_json::from_str(payload)?;
    let txn = conn.begin().await?;
    let waiting = mention_notifications::Entity::find()
        .filter(mention_notifications::Column::UserId.eq(user_id))
        .order_by_asc(mention_notifications::Column::Id)
        .all(&txn)
        .await?;
    if waiting.is_empty() {
        return Ok(0);
    }
    let user = users::Entity::find_by_id(user_id).one(&txn).await?;
    let wants = user
        .as_ref()
        .is_some_and(|u| u.mention_emails && u.status == "ACTIVE");
    let mut items = Vec::new();
    if let (true, Some(user)) = (wants, &user) {
        let comment_ids: Vec<Uuid> = waiting.iter().map(|n| n.comment_id).collect();
        let found = comments::Entity::find()
            .filter(comments::Column::Id.is_in(comment_ids))
            .filter(comments::Column::DeletedAt.is_null())
            .find_also_related(drafts::Entity)
            .order_by_asc(comments::Column::Id)
            .all(&txn)
            .await?;
        let mut people: Vec<Uuid> = found.iter().filter_map(|(c, _)| c.author_id).collect();
        for (comment, _) in &found {
            people.extend(mentioned_ids(&comment.body));
        }
        let names: Vec<(Uuid, String)> = users::Entity::find()
            .filter(users::Column::Id.is_in(people))
            .all(&txn)
            .await?
            .into_iter()
            .map(|u| (u.id, u.display_name))
            .collect();
        for (comment, draft) in found {
            let Some(draft) = draft else { continue };
            // Only drafts of workspaces the member still belongs to.
            let member = memberships::Entity::find()
                .filter(memberships::Column::WorkspaceId.eq(draft.workspace_id))
                .filter(memberships::Column::UserId.eq(user.id))
                .one(&txn)
                .await?
                .is_some();
            if !member {
                continue;
            }
            let author = comment
                .author_id
                .and_then(|a| names.iter().find(|(id, _)| *id == a))
                .map_or_else(|| "Someone".to_string(), |(_, n)| n.clone());
            let text = render_mentions(&comment.body, &names);
            items.push(MentionItem {
                author,
                draft_title: draft.title.clone(),
                excerpt: crate::domain::content::variants::shorten(&text, 280),
                draft_id: draft.id,
                comment_id: comment.id,
            });
        }
        if !items.is_empty() {
            outbox::enqueue(
                &txn,
                vault,
                &Email::MentionDigest {
                    to: user.email.clone(),
                    name: user.display_name.clone(),
                    items: items.clone(),
                },
            )
            .await?;
        }
    }
    mention_notifications::Entity::delete_many()
        .filter(
            mention_notifications::Column::Id
                .is_in(waiting.iter().map(|n| n.id).collect::<Vec<_>>()),
        )
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(items.len())
}

/// Turns mention emails on or off for the signed-in user.
pub async fn set_mention_emails(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    enabled: bool,
) -> DomainResult<users::Model> {
    let user = users::Entity::find_by_id(user_id)
        .one(conn)
        .await?
        .ok_or(DomainError::NotFound("user"))?;
    let mut active: users::ActiveModel = user.into();
    active.mention_emails = Set(enabled);
    active.updated_at = Set(now());
    Ok(active.update(conn).await?)
}
