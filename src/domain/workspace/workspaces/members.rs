//! A workspace's members and invitations: inviting by email, accepting, changing roles and
//! removing members, always leaving the workspace an owner.

use super::access::{Role, WorkspaceAccess};
use crate::crypto::vault::Vault;
use crate::domain::entities::{invitations, memberships, users, workspaces};
use crate::domain::identity::accounts::EmailAddress;
use crate::domain::identity::tokens::{self, purpose};
use crate::domain::ops::audit::{self, Actor, NewEvent};
use crate::domain::ops::outbox::{self, Email};
use crate::domain::{now, RequestMeta};
use crate::error::{DomainError, DomainResult};
use chrono::Duration;
use sea_orm::sea_query::LockType;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, TransactionSession, TransactionTrait,
};
use serde_json::json;
use uuid::Uuid;

pub const INVITATION_TTL_DAYS: i64 = 7;

/// Invites someone by email with a role and emails them a one-time link. ADMIN and up;
/// only an OWNER may invite another OWNER. A newer invitation to the same address
/// replaces a pending one.
pub async fn invite_member(
    conn: &(impl ConnectionTrait + TransactionTrait),
    vault: &Vault,
    access: &WorkspaceAccess,
    inviter: &users::Model,
    email: &str,
    role: Role,
    meta: &RequestMeta,
) -> DomainResult<invitations::Model> {
    access.require(Role::Admin)?;
    if role == Role::Owner {
        access.require(Role::Owner)?;
    }
    let email = EmailAddress::parse(email)?;
    let txn = conn.begin().await?;
    let already_member = memberships::Entity::find()
        .inner_join(users::Entity)
        .filter(memberships::Column::WorkspaceId.eq(access.workspace_id()))
        .filter(users::Column::Email.eq(email.as_str()))
        .count(&txn)
        .await?
        > 0;
    if already_member {
        return Err(DomainError::conflict(
            "this person is already a member of the workspace",
        ));
    }
    let at = now();
    let pending = invitations::Entity::find()
        .filter(invitations::Column::WorkspaceId.eq(access.workspace_id()))
        .filter(invitations::Column::Email.eq(email.as_str()))
        .filter(invitations::Column::AcceptedAt.is_null())
        .filter(invitations::Column::RevokedAt.is_null())
        .all(&txn)
        .await?;
    for old in pending {
        tokens::revoke_for_subject(&txn, purpose::INVITATION, old.id).await?;
        let mut old: invitations::ActiveModel = old.into();
        old.revoked_at = Set(Some(at));
        old.update(&txn).await?;
    }
    let invitation = invitations::ActiveModel {
        id: Set(Uuid::now_v7()),
        workspace_id: Set(access.workspace_id()),
        email: Set(email.as_str().to_string()),
        role: Set(role.as_str().to_string()),
        invited_by: Set(Some(inviter.id)),
        expires_at: Set(at + Duration::days(INVITATION_TTL_DAYS)),
        accepted_at: Set(None),
        accepted_by: Set(None),
        revoked_at: Set(None),
        created_at: Set(at),
    }
    .insert(&txn)
    .await?;
    let token = tokens::issue(
        &txn,
        purpose::INVITATION,
        invitation.id,
        Duration::days(INVITATION_TTL_DAYS),
    )
    .await?;
    outbox::enqueue(
        &txn,
        vault,
        &Email::Invitation {
            to: invitation.email.clone(),
            workspace_name: access.workspace.name.clone(),
            inviter_name: inviter.display_name.clone(),
            role: role.as_str().to_string(),
            token,
        },
    )
    .await?;
    audit::record(
        &txn,
        NewEvent::new(Actor::User(inviter.id), "workspace.member_invited")
            .target("invitation", invitation.id)
            .workspace(access.workspace_id())
            .details(json!({ "role": role.as_str() })),
        meta,
    )
    .await?;
    txn.commit().await?;
    Ok(invitation)
}

/// Accepts an invitation for the signed-in user, whose verified address must be the one
/// invited. The token stays usable when someone else presents it.
pub async fn accept_invitation(
    conn: &sea_orm::DatabaseConnection,
    user: &users::Model,
    token: &str,
    meta: &RequestMeta,
) -> DomainResult<WorkspaceAccess> {
    let row = tokens::find_valid(conn, purpose::INVITATION, token).await?;
    let txn = conn.begin().await?;
    let invitation = invitations::Entity::find_by_id(row.subject_id)
        .one(&txn)
        .await?
        .filter(|i| i.accepted_at.is_none() && i.revoked_at.is_none() && i.expires_at > now())
        .ok_or_else(|| DomainError::bad_input("this link is invalid or has expired"))?;
    if user.email_verified_at.is_none() {
        return Err(DomainError::forbidden(
            "confirm your email address before joining a workspace",
        ));
    }
    if user.email != invitation.email {
        return Err(DomainError::forbidden(
            "this invitation was sent to a different email address",
        ));
    }
    let workspace = workspaces::Entity::find_by_id(invitation.workspace_id)
        .one(&txn)
        .await?
        .ok_or(DomainError::NotFound("workspace"))?;
    let existing = memberships::Entity::find()
        .filter(memberships::Column::WorkspaceId.eq(workspace.id))
        .filter(memberships::Column::UserId.eq(user.id))
        .count(&txn)
        .await?;
    if existing > 0 {
        return Err(DomainError::conflict(
            "you are already a member of this workspace",
        ));
    }
    tokens::consume(&txn, row.id).await?;
    let role = Role::parse(&invitation.role)?;
    let membership = insert_membership(&txn, workspace.id, user.id, role).await?;
    let mut accepted: invitations::ActiveModel = invitation.clone().into();
    accepted.accepted_at = Set(Some(now()));
    accepted.accepted_by = Set(Some(user.id));
    accepted.update(&txn).await?;
    audit::record(
        &txn,
        NewEvent::new(Actor::User(user.id), "workspace.invitation_accepted")
            .target("invitation", invitation.id)
            .workspace(workspace.id)
            .details(json!({ "role": role.as_str() })),
        meta,
    )
    .await?;
    txn.commit().await?;
    Ok(WorkspaceAccess {
        workspace,
        membership,
        role,
    })
}

/// Changes a member's role. ADMIN and up; only an OWNER may grant OWNER or change an
/// OWNER's or ADMIN's role; the last OWNER cannot be demoted.
pub async fn change_member_role(
    conn: &(impl ConnectionTrait + TransactionTrait),
    access: &WorkspaceAccess,
    member_user_id: Uuid,
    role: Role,
    meta: &RequestMeta,
) -> DomainResult<memberships::Model> {
    access.require(Role::Admin)?;
    let txn = conn.begin().await?;
    let member = find_member_for_update(&txn, access.workspace_id(), member_user_id).await?;
    let current = Role::parse(&member.role)?;
    if role == Role::Owner || current >= Role::Admin {
        access.require(Role::Owner)?;
    }
    if current == role {
        return Ok(member);
    }
    if current == Role::Owner {
        ensure_another_owner(&txn, access.workspace_id(), member_user_id).await?;
    }
    let mut active: memberships::ActiveModel = member.into();
    active.role = Set(role.as_str().to_string());
    let updated = active.update(&txn).await?;
    audit::record(
        &txn,
        NewEvent::new(
            Actor::User(access.user_id()),
            "workspace.member_role_changed",
        )
        .target("user", member_user_id)
        .workspace(access.workspace_id())
        .details(json!({ "from": current.as_str(), "to": role.as_str() })),
        meta,
    )
    .await?;
    txn.commit().await?;
    Ok(updated)
}

/// Removes a member. Anyone may leave; removing someone else needs ADMIN, and removing an
/// ADMIN or OWNER needs OWNER; the last OWNER can neither leave nor be removed.
pub async fn remove_member(
    conn: &(impl ConnectionTrait + TransactionTrait),
    access: &WorkspaceAccess,
    member_user_id: Uuid,
    meta: &RequestMeta,
) -> DomainResult<()> {
    let leaving = member_user_id == access.user_id();
    if !leaving {
        access.require(Role::Admin)?;
    }
    let txn = conn.begin().await?;
    let member = find_member_for_update(&txn, access.workspace_id(), member_user_id).await?;
    let current = Role::parse(&member.role)?;
    if !leaving && current >= Role::Admin {
        access.require(Role::Owner)?;
    }
    if current == Role::Owner {
        ensure_another_owner(&txn, access.workspace_id(), member_user_id).await?;
    }
    memberships::Entity::delete_by_id(member.id)
        .exec(&txn)
        .await?;
    audit::record(
        &txn,
        NewEvent::new(
            Actor::User(access.user_id()),
            if leaving {
                "workspace.member_left"
            } else {
                "workspace.member_removed"
            },
        )
        .target("user", member_user_id)
        .workspace(access.workspace_id())
        .details(json!({ "role": current.as_str() })),
        meta,
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// A page of a workspace's members with their accounts, oldest membership first.
pub async fn list_members(
    conn: &impl ConnectionTrait,
    workspace_id: Uuid,
    after: Option<Uuid>,
    limit: u64,
) -> DomainResult<Vec<(memberships::Model, users::Model)>> {
    let mut query = memberships::Entity::find()
        .find_also_related(users::Entity)
        .filter(memberships::Column::WorkspaceId.eq(workspace_id))
        .order_by_asc(memberships::Column::Id)
        .limit(limit);
    if let Some(after) = after {
        query = query.filter(memberships::Column::Id.gt(after));
    }
    Ok(query
        .all(conn)
        .await?
        .into_iter()
        .filter_map(|(m, u)| u.map(|u| (m, u)))
        .collect())
}

/// A page of a workspace's invitations, oldest first.
pub async fn list_invitations(
    conn: &impl ConnectionTrait,
    workspace_id: Uuid,
    after: Option<Uuid>,
    limit: u64,
) -> DomainResult<Vec<invitations::Model>> {
    let mut query = invitations::Entity::find()
        .filter(invitations::Column::WorkspaceId.eq(workspace_id))
        .order_by_asc(invitations::Column::Id)
        .limit(limit);
    if let Some(after) = after {
        query = query.filter(invitations::Column::Id.gt(after));
    }
    Ok(query.all(conn).await?)
}

pub(super) async fn insert_membership(
    conn: &impl ConnectionTrait,
    workspace_id: Uuid,
    user_id: Uuid,
    role: Role,
) -> DomainResult<memberships::Model> {
    Ok(memberships::ActiveModel {
        id: Set(Uuid::now_v7()),
        workspace_id: Set(workspace_id),
        user_id: Set(user_id),
        role: Set(role.as_str().to_string()),
        created_at: Set(now()),
    }
    .insert(conn)
    .await?)
}

pub(super) async fn find_member_for_update(
    conn: &impl ConnectionTrait,
    workspace_id: Uuid,
    user_id: Uuid,
) -> DomainResult<memberships::Model> {
    memberships::Entity::find()
        .filter(memberships::Column::WorkspaceId.eq(workspace_id))
        .filter(memberships::Column::UserId.eq(user_id))
        .lock(LockType::Update)
        .one(conn)
        .await?
        .ok_or(DomainError::NotFound("member"))
}

/// Refuses when `user_id` is the workspace's only OWNER. The owners' rows are locked so
/// that two owners cannot demote each other at the same moment.
pub(super) async fn ensure_another_owner(
    conn: &impl ConnectionTrait,
    workspace_id: Uuid,
    user_id: Uuid,
) -> DomainResult<()> {
    let owners = memberships::Entity::find()
        .filter(memberships::Column::WorkspaceId.eq(workspace_id))
        .filter(memberships::Column::Role.eq(Role::Owner.as_str()))
        .lock(LockType::Update)
        .all(conn)
        .await?;
    if owners.iter().any(|m| m.user_id != user_id) {
        Ok(())
    } else {
        Err(DomainError::bad_input(
            "a workspace must keep at least one owner: make someone else an owner first",
        ))
    }
}

/// Where an invitation stands, derived from its dates.
pub fn invitation_status(invitation: &invitations::Model) -> &'static str {
    if invitation.accepted_at.is_some() {
        "ACCEPTED"
    } else if invitation.revoked_at.is_some() {
        "REVOKED"
    } else if invitation.expires_at <= now() {
        "EXPIRED"
    } else {
        "PENDING"
    }
}
