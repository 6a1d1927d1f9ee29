//! The erasure's steps, one per data area: media, content, comments, channels (revoked at\nthe platform), Meta's data, analytics, memberships, queued mail, other requests, and the\ntombstone. Each returns the rows it changed, recorded as the step's count.

use crate::crypto::vault::Vault;
use crate::domain::channels::integrations::Health;
use crate::domain::entities::{
    comments, draft_generations, draft_revisions, draft_workflow, drafts, integration_tokens,
    integrations, jobs as job_rows, media, memberships, mention_notifications,
    privacy_requests as requests, users, workspaces,
};
use crate::domain::identity::accounts::UserStatus;
use crate::domain::ops::outbox::QueuedEmail;
use crate::domain::workspace::workspaces::Role;
use crate::domain::{now, ops::jobs};
use crate::error::{DomainError, DomainResult};
use crate::storage::MediaStore;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use uuid::Uuid;

/// The workspaces only this user is in (the workspaces step deletes them).
pub(super) async fn sole_workspaces(
    txn: &impl ConnectionTrait,
    user_id: Uuid,
) -> DomainResult<Vec<Uuid>> {
    let mine: Vec<Uuid> = memberships::Entity::find()
        .select_only()
        .column(memberships::Column::WorkspaceId)
        .filter(memberships::Column::UserId.eq(user_id))
        .into_tuple()
        .all(txn)
        .await?;
    let shared: Vec<Uuid> = memberships::Entity::find()
        .select_only()
        .column(memberships::Column::WorkspaceId)
        .filter(memberships::Column::WorkspaceId.is_in(mine.clone()))
        .filter(memberships::Column::UserId.ne(user_id))
        .into_tuple()
        .all(txn)
        .await?;
    Ok(mine.into_iter().filter(|w| !shared.contains(w)).collect())
}

/// Media of the workspaces that go with them: stored objects first, then rows. In shared
/// workspaces their uploads stay as the workspace's, without an uploader.
pub(super) async fn erase_media(
    txn: &impl ConnectionTrait,
    store: &MediaStore,
    user_id: Uuid,
) -> DomainResult<u64> {
    let sole = sole_workspaces(txn, user_id).await?;
    let doomed = media::Entity::find()
        .filter(media::Column::WorkspaceId.is_in(sole))
        .all(txn)
        .await?;
    let mut affected = 0;
    for item in &doomed {
        store
            .delete(&item.storage_key)
            .await
            .map_err(|e| DomainError::internal(e.context("deleting a stored media object")))?;
        affected += media::Entity::delete_by_id(item.id)
            .exec(txn)
            .await?
            .rows_affected;
    }
    affected += media::Entity::update_many()
        .col_expr(media::Column::UploaderId, Expr::value(Option::<Uuid>::None))
        .filter(media::Column::UploaderId.eq(user_id))
        .exec(txn)
        .await?
        .rows_affected;
    Ok(affected)
}

/// In the workspaces they shared, the content stays and loses its author.
pub(super) async fn anonymise_content(
    txn: &impl ConnectionTrait,
    user_id: Uuid,
) -> DomainResult<u64> {
    let none = || Expr::value(Option::<Uuid>::None);
    let mut affected = drafts::Entity::update_many()
        .col_expr(drafts::Column::AuthorId, none())
        .filter(drafts::Column::AuthorId.eq(user_id))
        .exec(txn)
        .await?
        .rows_affected;
    affected += draft_revisions::Entity::update_many()
        .col_expr(draft_revisions::Column::EditorId, none())
        .filter(draft_revisions::Column::EditorId.eq(user_id))
        .exec(txn)
        .await?
        .rows_affected;
    affected += draft_workflow::Entity::update_many()
        .col_expr(draft_workflow::Column::ActorId, none())
        .filter(draft_workflow::Column::ActorId.eq(user_id))
        .exec(txn)
        .await?
        .rows_affected;
    affected += draft_generations::Entity::update_many()
        .col_expr(draft_generations::Column::RequestedBy, none())
        .filter(draft_generations::Column::RequestedBy.eq(user_id))
        .exec(txn)
        .await?
        .rows_affected;
    Ok(affected)
}

/// Their comments lose author and text (the thread keeps its shape); notifications
/// waiting for them go.
pub(super) async fn erase_comments(txn: &impl ConnectionTrait, user_id: Uuid) -> DomainResult<u64> {
    let mut affected = comments::Entity::update_many()
        .col_expr(
            comments::Column::AuthorId,
            Expr::value(Option::<Uuid>::None),
        )
        .col_expr(comments::Column::Body, Expr::value(""))
        .col_expr(comments::Column::Mentions, Expr::value("[]"))
        .col_expr(comments::Column::DeletedAt, Expr::value(now()))
        .filter(comments::Column::AuthorId.eq(user_id))
        .exec(txn)
        .await?
        .rows_affected;
    affected += comments::Entity::update_many()
        .col_expr(
            comments::Column::ResolvedBy,
            Expr::value(Option::<Uuid>::None),
        )
        .filter(comments::Column::ResolvedBy.eq(user_id))
        .exec(txn)
        .await?
        .rows_affected;
    affected += mention_notifications::Entity::delete_many()
        .filter(mention_notifications::Column::UserId.eq(user_id))
        .exec(txn)
        .await?
        .rows_affected;
    Ok(affected)
}

/// Channels they connected lose their tokens (revoked at the platform), handle, name and
/// connector (`revoke_channel`); connections waiting for a choice go too.
pub(super) async fn disconnect_integrations(
    txn: &impl ConnectionTrait,
    vault: &Vault,
    user_id: Uuid,
) -> DomainResult<u64> {
    let connected = integrations::Entity::find()
        .filter(integrations::Column::ConnectedBy.eq(user_id))
        .all(txn)
        .await?;
    // Connections still waiting for their choice of account hold sealed tokens too.
    let mut affected = crate::domain::entities::pending_connections::Entity::delete_many()
        .filter(crate::domain::entities::pending_connections::Column::UserId.eq(user_id))
        .exec(txn)
        .await?
        .rows_affected;
    for integration in connected {
        affected += revoke_channel(
            txn,
            vault,
            integration,
            "disconnected when its owner's data was erased",
            true,
        )
        .await?;
    }
    Ok(affected)
}

/// A channel loses what came from its platform about the person: its tokens are deleted
/// here and their revocation queued (a job retried until the platform takes it, holding
/// them sealed); it is marked REVOKED without handle, name or app-scoped id, and
/// without its connector when `forget_connector`. Returns the rows affected.
pub(super) async fn revoke_channel(
    txn: &impl ConnectionTrait,
    vault: &Vault,
    channel: integrations::Model,
    why: &str,
    forget_connector: bool,
) -> DomainResult<u64> {
    use crate::domain::channels::integrations as channels;
    let tokens = channels::open_tokens(txn, vault, channel.id).await?;
    if let (Some(provider), Some(tokens)) = (
        crate::domain::platforms::Provider::parse(&channel.provider),
        tokens,
    ) {
        channels::enqueue_revocation(txn, vault, provider, &tokens).await?;
    }
    let deleted = integration_tokens::Entity::delete_by_id(channel.id)
        .exec(txn)
        .await?
        .rows_affected;
    let mut active: integrations::ActiveModel = channel.into();
    active.health = Set(Health::Revoked.as_str().into());
    if forget_connector {
        active.connected_by = Set(None);
    }
    active.handle = Set(None);
    active.display_name = Set(None);
    active.platform_user_id = Set(None);
    active.last_error = Set(Some(why.into()));
    active.disconnected_at = Set(Some(now()));
    active.updated_at = Set(now());
    active.update(txn).await?;
    Ok(deleted + 1)
}

/// What Meta gave us about the person behind an app-scoped user id, for Meta's
/// data-deletion callback: the channels' tokens (revoked at Meta too), their profile
/// (handle, name, the id itself), their metrics and sync state, the platform's post ids
/// and links on the drafts published through them, and any connection waiting for a
/// choice. Drafts, comments and the Atelier account stay.
pub(super) async fn erase_meta_data(
    txn: &impl ConnectionTrait,
    vault: &Vault,
    platform_user: &str,
) -> DomainResult<u64> {
    use crate::domain::entities::{draft_targets, metric_points, pending_connections, sync_states};
    use crate::domain::platforms::Provider as Platform;
    let channels = crate::domain::channels::integrations::find_by_platform_user(
        txn,
        &Platform::META,
        platform_user,
    )
    .await?;
    let ids: Vec<Uuid> = channels.iter().map(|c| c.id).collect();
    let mut affected = 0;
    for channel in channels {
        affected += revoke_channel(
            txn,
            vault,
            channel,
            "disconnected when Meta asked for this account's data to be deleted",
            false,
        )
        .await?;
    }
    if !ids.is_empty() {
        affected += metric_points::Entity::delete_many()
            .filter(metric_points::Column::IntegrationId.is_in(ids.clone()))
            .exec(txn)
            .await?
            .rows_affected;
        affected += sync_states::Entity::delete_many()
            .filter(sync_states::Column::IntegrationId.is_in(ids.clone()))
            .exec(txn)
            .await?
            .rows_affected;
        affected += draft_targets::Entity::update_many()
            .col_expr(
                draft_targets::Column::ProviderPostId,
                Expr::value(Option::<String>::None),
            )
            .col_expr(
                draft_targets::Column::Url,
                Expr::value(Option::<String>::None),
            )
            .filter(draft_targets::Column::IntegrationId.is_in(ids))
            .filter(
                sea_orm::Condition::any()
                    .add(draft_targets::Column::ProviderPostId.is_not_null())
                    .add(draft_targets::Column::Url.is_not_null()),
            )
            .exec(txn)
            .await?
            .rows_affected;
    }
    affected += pending_connections::Entity::delete_many()
        .filter(pending_connections::Column::PlatformUserId.eq(platform_user))
        .exec(txn)
        .await?
        .rows_affected;
    Ok(affected)
}

/// The analytics of the workspaces that go with them (those where they are the only
/// member): metric points and the channels' sync states, counted before the workspace
/// step deletes the rest.
pub(super) async fn erase_analytics(
    txn: &impl ConnectionTrait,
    user_id: Uuid,
) -> DomainResult<u64> {
    use crate::domain::entities::{metric_points, sync_states};
    let mine = memberships::Entity::find()
        .filter(memberships::Column::UserId.eq(user_id))
        .all(txn)
        .await?;
    let mut sole = Vec::new();
    for membership in mine {
        let shared = memberships::Entity::find()
            .filter(memberships::Column::WorkspaceId.eq(membership.workspace_id))
            .filter(memberships::Column::UserId.ne(user_id))
            .one(txn)
            .await?
            .is_some();
        if !shared {
            sole.push(membership.workspace_id);
        }
    }
    if sole.is_empty() {
        return Ok(0);
    }
    let channels: Vec<Uuid> = integrations::Entity::find()
        .filter(integrations::Column::WorkspaceId.is_in(sole.iter().copied()))
        .all(txn)
        .await?
        .into_iter()
        .map(|i| i.id)
        .collect();
    let points = metric_points::Entity::delete_many()
        .filter(metric_points::Column::WorkspaceId.is_in(sole))
        .exec(txn)
        .await?
        .rows_affected;
    let states = sync_states::Entity::delete_many()
        .filter(sync_states::Column::IntegrationId.is_in(channels))
        .exec(txn)
        .await?
        .rows_affected;
    Ok(points + states)
}

/// Workspaces where they are the only member are deleted with everything in them; in
/// shared ones they leave, and when they were the only owner the longest-standing
/// remaining member becomes owner.
pub(super) async fn leave_workspaces(
    txn: &impl ConnectionTrait,
    user_id: Uuid,
) -> DomainResult<u64> {
    let mine = memberships::Entity::find()
        .filter(memberships::Column::UserId.eq(user_id))
        .all(txn)
        .await?;
    let mut affected = 0;
    for membership in mine {
        let others = memberships::Entity::find()
            .filter(memberships::Column::WorkspaceId.eq(membership.workspace_id))
            .filter(memberships::Column::UserId.ne(user_id))
            .order_by_asc(memberships::Column::Id)
            .all(txn)
            .await?;
        if others.is_empty() {
            affected += workspaces::Entity::delete_by_id(membership.workspace_id)
                .exec(txn)
                .await?
                .rows_affected;
            continue;
        }
        if !others.iter().any(|m| m.role == Role::Owner.as_str()) {
            let successor = others
                .iter()
                .find(|m| m.role == Role::Admin.as_str())
                .unwrap_or(&others[0]);
            memberships::Entity::update_many()
                .col_expr(memberships::Column::Role, Expr::value(Role::Owner.as_str()))
                .filter(memberships::Column::Id.eq(successor.id))
                .exec(txn)
                .await?;
        }
        affected += memberships::Entity::delete_by_id(membership.id)
            .exec(txn)
            .await?
            .rows_affected;
    }
    Ok(affected)
}

pub(super) async fn delete_queued_mail(
    txn: &impl ConnectionTrait,
    email_hashes: &[String],
) -> DomainResult<u64> {
    if email_hashes.is_empty() {
        return Ok(0);
    }
    // Sent emails keep no payload; waiting and given-up ones still hold the sealed email.
    // The request's own correspondence (its confirmation, acknowledgement, outcome) is
    // the answer the law requires, not data held about the person: it stays, and it
    // never makes a stranger's request look as if something was found.
    let pending = job_rows::Entity::find()
        .filter(job_rows::Column::Kind.eq(jobs::kind::SEND_EMAIL))
        .filter(job_rows::Column::DoneAt.is_null())
        .all(txn)
        .await?;
    let mut affected = 0;
    for job in pending {
        let to_them = serde_json::from_str::<QueuedEmail>(&job.payload)
            .map(|q| {
                email_hashes.contains(&q.to_hash)
                    && !q.intent.as_deref().is_some_and(answers_a_request)
            })
            .unwrap_or(false);
        if to_them {
            affected += job_rows::Entity::delete_by_id(job.id)
                .exec(txn)
                .await?
                .rows_affected;
        }
    }
    Ok(affected)
}

/// Whether an email of this intent answers a privacy request (to its requester).
pub(super) fn answers_a_request(intent: &str) -> bool {
    matches!(
        intent,
        "request_confirmation"
            | "request_acknowledgement"
            | "request_rejected"
            | "request_extended"
            | "request_completed"
            | "export_ready"
            | "request_status_link"
            | "nothing_held"
    )
}

/// Earlier request records of the same person (by any of their addresses, or linked to
/// their account) keep what the compliance log needs, not the person.
pub(super) async fn minimise_other_requests(
    txn: &impl ConnectionTrait,
    request_id: Uuid,
    user_id: Option<Uuid>,
    email_hashes: &[String],
) -> DomainResult<u64> {
    let mut theirs = sea_orm::Condition::any()
        .add(requests::Column::RequesterEmailHash.is_in(email_hashes.iter().cloned()));
    if let Some(user_id) = user_id {
        theirs = theirs.add(requests::Column::UserId.eq(user_id));
    }
    if email_hashes.is_empty() && user_id.is_none() {
        return Ok(0);
    }
    let none = || Expr::value(Option::<String>::None);
    Ok(requests::Entity::update_many()
        .col_expr(requests::Column::RequesterEmail, none())
        .col_expr(requests::Column::WorkspaceName, none())
        .col_expr(requests::Column::ChannelIdentifiers, none())
        .col_expr(requests::Column::Details, none())
        .filter(theirs)
        .filter(requests::Column::Id.ne(request_id))
        .exec(txn)
        .await?
        .rows_affected)
}

/// The account becomes a tombstone: no email, name or password left, status ERASED; the
/// identifiers corrections replaced are forgotten too.
pub(super) async fn tombstone(txn: &impl ConnectionTrait, user_id: Uuid) -> DomainResult<u64> {
    let Some(user) = users::Entity::find_by_id(user_id).one(txn).await? else {
        return Ok(0);
    };
    let mut active: users::ActiveModel = user.into();
    active.email = Set(format!("erased-{}@erased.invalid", user_id.simple()));
    active.display_name = Set("Erased user".into());
    active.password_hash = Set("!erased".into());
    active.email_verified_at = Set(None);
    active.locale = Set("en".into());
    active.time_zone = Set("UTC".into());
    active.status = Set(UserStatus::Erased.as_str().into());
    active.updated_at = Set(now());
    active.update(txn).await?;
    let forgotten =
        crate::domain::privacy::person_keys::forget_former_identifiers(txn, user_id).await?;
    Ok(1 + forgotten)
}
