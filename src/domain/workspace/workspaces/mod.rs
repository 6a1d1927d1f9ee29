//! Workspaces, memberships and invitations. Role rules live here and only here:
//! every function that changes a workspace takes a `WorkspaceAccess`, which can only be
//! had by being a member, and asks it for the role the action needs.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, TransactionSession, TransactionTrait,
};
use serde_json::json;
use uuid::Uuid;

use crate::crypto::vault::Vault;
use crate::domain::entities::{memberships, users, workspaces};
use crate::domain::identity::accounts::EmailAddress;
use crate::domain::ops::audit::{self, Actor, NewEvent};
use crate::domain::ops::outbox::{self, Email};
use crate::domain::{clean_text, now, RequestMeta};
use crate::error::{DomainError, DomainResult};

mod access;
pub use self::access::{
    access, access_read, active_admins, require_access, workspace_of, Owned, Role, WorkspaceAccess,
};

mod members;
use self::members::insert_membership;
pub use self::members::{
    accept_invitation, change_member_role, invitation_status, invite_member, list_invitations,
    list_members, remove_member, INVITATION_TTL_DAYS,
};

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

pub use crate::domain::entities::memberships::AccessRow;

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
