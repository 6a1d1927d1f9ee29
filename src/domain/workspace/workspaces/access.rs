//! Who may touch a workspace: roles, and the `WorkspaceAccess` that can only be had by
//! being a member, asked for the role each action needs.

use crate::domain::entities::memberships::AccessRow;
use crate::domain::entities::{memberships, users, workspaces};
use crate::error::{DomainError, DomainResult};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

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

/// Something a workspace owns, named by its id. "Whose is this?" is answered here and
/// only here, for every kind of thing a request may name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owned {
    Draft(Uuid),
    Comment(Uuid),
    ReviewLink(Uuid),
    Channel(Uuid),
    WebhookEndpoint(Uuid),
    WebhookDelivery(Uuid),
}

/// The workspace that owns `owned`, if it exists.
pub async fn workspace_of(conn: &impl ConnectionTrait, owned: Owned) -> DomainResult<Option<Uuid>> {
    use crate::domain::entities::{
        comments, drafts, integrations, review_links, webhook_deliveries, webhook_endpoints,
    };
    Ok(match owned {
        Owned::Draft(id) => {
            column_of::<drafts::Entity>(conn, id, drafts::Column::WorkspaceId).await?
        }
        Owned::Comment(id) => {
            use sea_orm::{EntityTrait, QuerySelect};
            comments::Entity::find_by_id(id)
                .select_only()
                .column(drafts::Column::WorkspaceId)
                .inner_join(drafts::Entity)
                .into_tuple()
                .one(conn)
                .await?
        }
        Owned::ReviewLink(id) => {
            column_of::<review_links::Entity>(conn, id, review_links::Column::WorkspaceId).await?
        }
        Owned::Channel(id) => {
            column_of::<integrations::Entity>(conn, id, integrations::Column::WorkspaceId).await?
        }
        Owned::WebhookEndpoint(id) => {
            column_of::<webhook_endpoints::Entity>(conn, id, webhook_endpoints::Column::WorkspaceId)
                .await?
        }
        Owned::WebhookDelivery(id) => {
            let endpoint = column_of::<webhook_deliveries::Entity>(
                conn,
                id,
                webhook_deliveries::Column::EndpointId,
            )
            .await?;
            match endpoint {
                Some(endpoint) => {
                    column_of::<webhook_endpoints::Entity>(
                        conn,
                        endpoint,
                        webhook_endpoints::Column::WorkspaceId,
                    )
                    .await?
                }
                None => None,
            }
        }
    })
}

/// One id column of the row with primary key `id`, read alone.
async fn column_of<E>(
    conn: &impl ConnectionTrait,
    id: Uuid,
    column: E::Column,
) -> DomainResult<Option<Uuid>>
where
    E: sea_orm::EntityTrait,
    <E::PrimaryKey as sea_orm::PrimaryKeyTrait>::ValueType: From<Uuid>,
{
    use sea_orm::QuerySelect;
    Ok(E::find_by_id(id)
        .select_only()
        .column(column)
        .into_tuple()
        .one(conn)
        .await?)
}
