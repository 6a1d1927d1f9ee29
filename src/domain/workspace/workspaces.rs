//! Workspaces, memberships and invitations. Role rules live here and only here:
//! every function that changes a workspace takes a `WorkspaceAccess`, which can only be
//! had by being a member, and asks it for the role the action needs.

use chrono::Duration;
use sea_orm::sea_query::LockType;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, TransactionSession, TransactionTrait,
};
use serde_json::json;
use uuid::Uuid;

use crate::crypto::vault::Vault;
use crate::domain::entities::{invitations, memberships, users, workspaces};
use crate::domain::identity::accounts::EmailAddress;
use crate::domain::identity::tokens::{self, purpose};
use crate::domain::ops::audit::{self, Actor, NewEvent};
use crate::domain::ops::outbox::{self, Email};
use crate::domain::{clean_text, now, RequestMeta};
use crate::error::{DomainError, DomainResult};

pub const INVITATION_TTL_DAYS: i64 = 7;

/// What another context holds of a workspace and must let go of, inside the deletion's
/// transaction, before the workspace's rows go: the channels context queues each
/// channel's revocation at its platform with the tokens sealed. Returns how many things
/// it released, for the audit event.
#[async_trait::async_trait]
pub trait Release: Sync {
    async fn release(
        &self,
        txn: &sea_orm::DatabaseTransaction,
        workspace_id: Uuid,
    ) -> DomainResult<usize>;
}

/// Roles, from most to least powerful. VIEWER reads; EDITOR writes drafts and comments;
/// ADMIN also manages members, channels and approves; OWNER also deletes the workspace
/// and changes billing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Viewer,
    Editor,
    Admin,
    Owner,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "OWNER",
            Role::Admin => "ADMIN",
            Role::Editor => "EDITOR",
            Role::Viewer => "VIEWER",
        }
    }

    pub fn parse(value: &str) -> DomainResult<Self> {
        match value {
            "OWNER" => Ok(Role::Owner),
            "ADMIN" => Ok(Role::Admin),
            "EDITOR" => Ok(Role::Editor),
            "VIEWER" => Ok(Role::Viewer),
            other => Err(DomainError::internal(anyhow::anyhow!(
                "unknown role {other:?} in database"
            ))),
        }
    }
}

/// Proof that a user is a member of a workspace, with their role.
#[derive(Clone, Debug)]
pub struct WorkspaceAccess {
    pub workspace: workspaces::Model,
    pub membership: memberships::Model,
    pub role: Role,
}

impl WorkspaceAccess {
    pub fn user_id(&self) -> Uuid {
        self.membership.user_id
    }

    pub fn workspace_id(&self) -> Uuid {
        self.workspace.id
    }

    /// Refuses with FORBIDDEN unless the member's role is at least `needed`.
    pub fn require(&self, needed: Role) -> DomainResult<()> {
        if self.role >= needed {
            Ok(())
        } else {
            Err(DomainError::forbidden(format!(
                "this needs the {} role in the workspace; you are {}",
                needed.as_str(),
                self.role.as_str()
            )))
        }
    }
}

/// The caller's access to a workspace, or `None` when it does not exist or they are not a
/// member (the two are indistinguishable on purpose).
pub async fn access(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    workspace_id: Uuid,
) -> DomainResult<Option<WorkspaceAccess>> {
    let Some((membership, Some(workspace))) = memberships::Entity::find()
        .filter(memberships::Column::WorkspaceId.eq(workspace_id))
        .filter(memberships::Column::UserId.eq(user_id))
        .find_also_related(workspaces::Entity)
        .one(conn)
        .await?
    else {
        return Ok(None);
    };
    let role = Role::parse(&membership.role)?;
    Ok(Some(WorkspaceAccess {
        workspace,
        membership,
        role,
    }))
}

pub use crate::domain::entities::memberships::AccessRow;

/// `access` on the read path of the API (on SQLite a read-only connection of the
/// blocking pool, one hop for the statement): the same one statement and answer.
pub async fn access_read(
    reads: &impl crate::db::reads::Reads,
    user_id: Uuid,
    workspace_id: Uuid,
) -> DomainResult<Option<WorkspaceAccess>> {
    use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
    use sea_orm::Iterable;
    let mut query = Query::select();
    for column in memberships::Column::iter() {
        let name = sea_orm::IdenStatic::as_str(&column);
        query.expr_as(
            Expr::col((memberships::Entity, column)),
            Alias::new(format!("m_{name}")),
        );
    }
    for column in workspaces::Column::iter() {
        query.column((workspaces::Entity, column));
    }
    query
        .from(memberships::Entity)
        .inner_join(
            workspaces::Entity,
            Expr::col((workspaces::Entity, workspaces::Column::Id))
                .equals((memberships::Entity, memberships::Column::WorkspaceId)),
        )
        .and_where(
            Expr::col((memberships::Entity, memberships::Column::WorkspaceId)).eq(workspace_id),
        )
        .and_where(Expr::col((memberships::Entity, memberships::Column::UserId)).eq(user_id))
        .limit(1);
    let statement = reads.backend().build(&query);
    let Some(AccessRow(membership, workspace)) =
        reads.all::<AccessRow>(statement).await?.into_iter().next()
    else {
        return Ok(None);
    };
    let role = Role::parse(&membership.role)?;
    Ok(Some(WorkspaceAccess {
        workspace,
        membership,
        role,
    }))
}

/// Like `access`, but a non-member gets NOT_FOUND.
pub async fn require_access(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    workspace_id: Uuid,
) -> DomainResult<WorkspaceAccess> {
    access(conn, user_id, workspace_id)
        .await?
        .ok_or(DomainError::NotFound("workspace"))
}

/// Creates a workspace; the creator becomes its OWNER.
pub async fn create_workspace(
    conn: &(impl ConnectionTrait + TransactionTrait),
    creator: &users::Model,
    name: &str,
    meta: &RequestMeta,
) -> DomainResult<WorkspaceAccess> {
    let name = clean_text("workspace name", name, 100)?;
    let txn = conn.begin().await?;
    let first_choice = unique_slug(&txn, &name).await?;
    let mut slug = first_choice.clone();
    let mut attempts = 0;
    // Another request may take the same slug between our check and our insert; the
    // unique index refuses the second one, which then tries a suffixed slug.
    let workspace = loop {
        let savepoint = txn.begin().await?;
        let at = now();
        let inserted = workspaces::ActiveModel {
            id: Set(Uuid::now_v7()),
            name: Set(name.clone()),
            slug: Set(slug.clone()),
            brand_name: Set(None),
            company: Set(None),
            region: Set(None),
            default_time_zone: Set(creator.time_zone.clone()),
            billing_email: Set(None),
            billing_legal_name: Set(None),
            billing_country: Set(None),
            billing_tax_id: Set(None),
            created_at: Set(at),
            updated_at: Set(at),
            approval_required: Set(true),
            client_approval_required: Set(false),
        }
        .insert(&savepoint)
        .await;
        match inserted {
            Ok(workspace) => {
                savepoint.commit().await?;
                break workspace;
            }
            Err(e) if DomainError::is_unique_violation(&e) && attempts < 5 => {
                savepoint.rollback().await?;
                attempts += 1;
                slug = suffixed(&first_choice);
            }
            Err(e) => return Err(e.into()),
        }
    };
    let membership = insert_membership(&txn, workspace.id, creator.id, Role::Owner).await?;
    audit::record(
        &txn,
        NewEvent::new(Actor::User(creator.id), "workspace.created")
            .target("workspace", workspace.id)
            .workspace(workspace.id),
        meta,
    )
    .await?;
    txn.commit().await?;
    Ok(WorkspaceAccess {
        workspace,
        membership,
        role: Role::Owner,
    })
}

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

/// Workspace settings an ADMIN or OWNER may change; `None` leaves one as it is, and an
/// empty brand name, company or region clears it.
#[derive(Default)]
pub struct SettingsUpdate {
    pub approval_required: Option<bool>,
    /// Whether drafts need a client reviewer's approval before scheduling.
    pub client_approval_required: Option<bool>,
    pub time_zone: Option<String>,
    pub brand_name: Option<String>,
    pub company: Option<String>,
    pub region: Option<String>,
}

/// Changes a workspace's settings (ADMIN and up): whether drafts need approval (and a
/// client's approval), its default time zone, its brand name, company and region.
pub async fn update_settings(
    conn: &(impl ConnectionTrait + TransactionTrait),
    access: &WorkspaceAccess,
    update: SettingsUpdate,
    meta: &RequestMeta,
) -> DomainResult<workspaces::Model> {
    access.require(Role::Admin)?;
    let time_zone = update
        .time_zone
        .as_deref()
        .map(|tz| {
            tz.trim()
                .parse::<chrono_tz::Tz>()
                .map(|tz| tz.name().to_string())
                .map_err(|_| {
                    DomainError::bad_input(format!(
                        "{:?} is not an IANA time zone like Europe/Berlin",
                        tz.chars().take(64).collect::<String>()
                    ))
                })
        })
        .transpose()?;
    // Empty clears; anything else is checked like every other name.
    let optional = |field: &str, value: &Option<String>, max: usize| {
        value
            .as_deref()
            .map(|v| {
                if v.trim().is_empty() {
                    Ok(None)
                } else {
                    clean_text(field, v, max).map(Some)
                }
            })
            .transpose()
    };
    let brand_name = optional("brand name", &update.brand_name, 100)?;
    let company = optional("company", &update.company, 200)?;
    let region = optional("region", &update.region, 64)?;
    let txn = conn.begin().await?;
    let mut active: workspaces::ActiveModel = access.workspace.clone().into();
    if let Some(required) = update.approval_required {
        active.approval_required = Set(required);
    }
    if let Some(required) = update.client_approval_required {
        active.client_approval_required = Set(required);
    }
    if let Some(tz) = &time_zone {
        active.default_time_zone = Set(tz.clone());
    }
    if let Some(value) = &brand_name {
        active.brand_name = Set(value.clone());
    }
    if let Some(value) = &company {
        active.company = Set(value.clone());
    }
    if let Some(value) = &region {
        active.region = Set(value.clone());
    }
    active.updated_at = Set(now());
    let updated = active.update(&txn).await?;
    audit::record(
        &txn,
        NewEvent::new(Actor::User(access.user_id()), "workspace.settings_changed")
            .target("workspace", access.workspace_id())
            .workspace(access.workspace_id())
            .details(json!({
                "approval_required": update.approval_required,
                "client_approval_required": update.client_approval_required,
                "time_zone": time_zone,
                "brand_name": brand_name,
                "company": company,
                "region": region,
            })),
        meta,
    )
    .await?;
    txn.commit().await?;
    Ok(updated)
}

/// Billing profile fields an OWNER may set; `None` leaves a field unchanged.
#[derive(Default)]
pub struct BillingProfileUpdate {
    pub billing_email: Option<String>,
    pub legal_name: Option<String>,
    pub country: Option<String>,
    pub tax_id: Option<String>,
}

/// Updates the workspace's billing profile. OWNER only.
pub async fn update_billing_profile(
    conn: &(impl ConnectionTrait + TransactionTrait),
    access: &WorkspaceAccess,
    update: BillingProfileUpdate,
    meta: &RequestMeta,
) -> DomainResult<workspaces::Model> {
    access.require(Role::Owner)?;
    let mut active: workspaces::ActiveModel = access.workspace.clone().into();
    if let Some(email) = update.billing_email {
        active.billing_email = Set(Some(EmailAddress::parse(&email)?.as_str().to_string()));
    }
    if let Some(name) = update.legal_name {
        active.billing_legal_name = Set(Some(clean_text("legal name", &name, 200)?));
    }
    if let Some(country) = update.country {
        let country = country.trim().to_uppercase();
        if country.len() != 2 || !country.chars().all(|c| c.is_ascii_uppercase()) {
            return Err(DomainError::bad_input(
                "country must be a two-letter ISO 3166 code",
            ));
        }
        active.billing_country = Set(Some(country));
    }
    if let Some(tax_id) = update.tax_id {
        active.billing_tax_id = Set(Some(clean_text("tax id", &tax_id, 64)?));
    }
    active.updated_at = Set(now());
    let txn = conn.begin().await?;
    let updated = active.update(&txn).await?;
    audit::record(
        &txn,
        NewEvent::new(Actor::User(access.user_id()), "workspace.billing_updated")
            .target("workspace", access.workspace_id())
            .workspace(access.workspace_id()),
        meta,
    )
    .await?;
    txn.commit().await?;
    Ok(updated)
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

/// A page of the workspaces a user belongs to, in the order they joined.
pub async fn list_for_user(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    after: Option<Uuid>,
    limit: u64,
) -> DomainResult<Vec<WorkspaceAccess>> {
    let mut query = memberships::Entity::find()
        .find_also_related(workspaces::Entity)
        .filter(memberships::Column::UserId.eq(user_id))
        .order_by_asc(memberships::Column::Id)
        .limit(limit);
    if let Some(after) = after {
        query = query.filter(memberships::Column::Id.gt(after));
    }
    let mut out = Vec::new();
    for (membership, workspace) in query.all(conn).await? {
        if let Some(workspace) = workspace {
            let role = Role::parse(&membership.role)?;
            out.push(WorkspaceAccess {
                workspace,
                membership,
                role,
            });
        }
    }
    Ok(out)
}

async fn insert_membership(
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

async fn find_member_for_update(
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
async fn ensure_another_owner(
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

async fn unique_slug(conn: &impl ConnectionTrait, name: &str) -> DomainResult<String> {
    let mut base: String = name
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    while base.contains("--") {
        base = base.replace("--", "-");
    }
    let base = base.trim_matches('-').chars().take(48).collect::<String>();
    let base = if base.is_empty() {
        "workspace".to_string()
    } else {
        base
    };
    let taken = |slug: String| async move {
        workspaces::Entity::find()
            .filter(workspaces::Column::Slug.eq(slug))
            .count(conn)
            .await
    };
    if taken(base.clone()).await? == 0 {
        return Ok(base);
    }
    loop {
        let candidate = suffixed(&base);
        if taken(candidate.clone()).await? == 0 {
            return Ok(candidate);
        }
    }
}

fn suffixed(base: &str) -> String {
    format!("{base}-{}", &Uuid::new_v4().simple().to_string()[..6])
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

/// Deletes a workspace (its OWNER, who confirms by typing its name): every channel is
/// disconnected at its platform (the revocations queued with the tokens sealed, retried
/// until the platform takes them), the stored media objects are deleted, and the
/// workspace row goes with everything that hangs from it (members, invitations, drafts
/// and their comments, targets and attempts, media rows, channels, tokens, metrics and
/// sync state). Each member is emailed; the audit log keeps the event.
pub async fn delete_workspace(
    conn: &sea_orm::DatabaseConnection,
    vault: &Vault,
    store: &crate::storage::MediaStore,
    access: &WorkspaceAccess,
    confirm_name: &str,
    release: &dyn Release,
    meta: &RequestMeta,
) -> DomainResult<()> {
    use crate::domain::entities::media;
    access.require(Role::Owner)?;
    let workspace = &access.workspace;
    if confirm_name.trim() != workspace.name {
        return Err(DomainError::bad_input(
            "type the workspace's name exactly as it is to confirm its deletion",
        ));
    }
    let txn = conn.begin().await?;
    let members: Vec<users::Model> = memberships::Entity::find()
        .filter(memberships::Column::WorkspaceId.eq(workspace.id))
        .find_also_related(users::Entity)
        .all(&txn)
        .await?
        .into_iter()
        .filter_map(|(_, user)| user)
        .collect();
    let channels = release.release(&txn, workspace.id).await?;
    let objects: Vec<String> = media::Entity::find()
        .select_only()
        .column(media::Column::StorageKey)
        .filter(media::Column::WorkspaceId.eq(workspace.id))
        .into_tuple()
        .all(&txn)
        .await?;
    workspaces::Entity::delete_by_id(workspace.id)
        .exec(&txn)
        .await?;
    let deleted_by = members
        .iter()
        .find(|m| m.id == access.user_id())
        .map(|m| m.display_name.clone())
        .unwrap_or_else(|| "Its owner".into());
    for member in &members {
        // Erased and restricted people get no email but about their own requests.
        if crate::domain::identity::accounts::UserStatus::parse(&member.status)
            != crate::domain::identity::accounts::UserStatus::Active
        {
            continue;
        }
        outbox::enqueue(
            &txn,
            vault,
            &Email::WorkspaceDeleted {
                to: member.email.clone(),
                name: member.display_name.clone(),
                workspace_name: workspace.name.clone(),
                deleted_by: deleted_by.clone(),
            },
        )
        .await?;
    }
    audit::record(
        &txn,
        NewEvent::new(Actor::User(access.user_id()), "workspace.deleted")
            .target("workspace", workspace.id)
            .workspace(workspace.id)
            .details(json!({
                "members": members.len(),
                "channels": channels,
                "media_objects": objects.len(),
            })),
        meta,
    )
    .await?;
    txn.commit().await?;
    for key in objects {
        if let Err(e) = store.delete(&key).await {
            // The rows are gone; the object is an orphan the next cleanup removes.
            tracing::error!(workspace = %workspace.id, error = %e, "could not delete a stored media object");
        }
    }
    Ok(())
}

/// The active accounts of a workspace's ADMINs and OWNERs: who is told when something
/// of the workspace needs a person (a lost channel, a webhook turned off).
pub async fn active_admins(
    conn: &impl ConnectionTrait,
    workspace_id: Uuid,
) -> DomainResult<Vec<users::Model>> {
    let admins = memberships::Entity::find()
        .filter(memberships::Column::WorkspaceId.eq(workspace_id))
        .filter(memberships::Column::Role.is_in([Role::Owner.as_str(), Role::Admin.as_str()]))
        .find_also_related(users::Entity)
        .all(conn)
        .await?;
    Ok(admins
        .into_iter()
        .filter_map(|(_, user)| user.filter(|u| u.status == "ACTIVE"))
        .collect())
}
