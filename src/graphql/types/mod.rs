//! GraphQL output types. Each wraps a domain value; none is derived on an entity model.

use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::{Context, Enum, Json, Object, Result, ID};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::connection::{self, decode_cursor, page_size};
use super::context::{state, viewer_id};
use super::errors::gql;
use super::privacy::PrivacyRequest;
use crate::domain::entities::{audit_events, invitations, memberships, users};
use crate::domain::workspace::workspaces::{self, WorkspaceAccess};
use crate::domain::{identity::accounts, privacy};
use crate::error::DomainError;

mod workspace;
pub use self::workspace::{BillingProfile, Workspace};

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "Role")]
pub enum RoleEnum {
    Owner,
    Admin,
    Editor,
    Viewer,
}

impl From<workspaces::Role> for RoleEnum {
    fn from(role: workspaces::Role) -> Self {
        match role {
            workspaces::Role::Owner => Self::Owner,
            workspaces::Role::Admin => Self::Admin,
            workspaces::Role::Editor => Self::Editor,
            workspaces::Role::Viewer => Self::Viewer,
        }
    }
}

impl From<RoleEnum> for workspaces::Role {
    fn from(role: RoleEnum) -> Self {
        match role {
            RoleEnum::Owner => Self::Owner,
            RoleEnum::Admin => Self::Admin,
            RoleEnum::Editor => Self::Editor,
            RoleEnum::Viewer => Self::Viewer,
        }
    }
}

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "UserStatus")]
pub enum UserStatusEnum {
    Active,
    Restricted,
    Erased,
}

impl From<accounts::UserStatus> for UserStatusEnum {
    fn from(status: accounts::UserStatus) -> Self {
        match status {
            accounts::UserStatus::Active => Self::Active,
            accounts::UserStatus::Restricted => Self::Restricted,
            accounts::UserStatus::Erased => Self::Erased,
        }
    }
}

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum InvitationStatus {
    Pending,
    Accepted,
    Revoked,
    Expired,
}

pub fn parse_id(id: &ID, what: &str) -> Result<Uuid> {
    Uuid::try_parse(id.as_str())
        .map_err(|_| gql(DomainError::bad_input(format!("{what} is not a valid id"))))
}

fn role_of(value: &str) -> Result<RoleEnum> {
    workspaces::Role::parse(value).map(Into::into).map_err(gql)
}

/// A person with an Atelier account (shared with the request's loader, which hands the
/// same person to every field that shows them).
pub struct User(pub std::sync::Arc<accounts::Person>);

impl<P: Into<accounts::Person>> From<P> for User {
    fn from(person: P) -> Self {
        Self(std::sync::Arc::new(person.into()))
    }
}

// Fields one after another (`serial`), not as a set of concurrent futures: each of a
// page's authors was a `FuturesUnordered`, an allocation per field and a wake-up per
// poll — 3% of the dashboard's instructions. Only `privacyRequests` and `workspaces`
// read, and each on its own.
#[Object(serial)]
impl User {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn email(&self) -> &str {
        &self.0.email
    }

    async fn display_name(&self) -> &str {
        &self.0.display_name
    }

    async fn time_zone(&self) -> &str {
        &self.0.time_zone
    }

    async fn locale(&self) -> &str {
        &self.0.locale
    }

    async fn status(&self) -> UserStatusEnum {
        accounts::UserStatus::parse(&self.0.status).into()
    }

    /// Whether mentions email this user; only they can see it.
    async fn mention_emails(&self, ctx: &Context<'_>) -> Result<Option<bool>> {
        Ok((viewer_id(ctx)? == self.0.id).then_some(self.0.mention_emails))
    }

    async fn email_verified(&self) -> bool {
        self.0.email_verified_at.is_some()
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// The privacy requests this user made, newest first; only the user may list them.
    async fn privacy_requests(&self, ctx: &Context<'_>) -> Result<Vec<PrivacyRequest>> {
        if viewer_id(ctx)? != self.0.id {
            return Err(gql(DomainError::forbidden(
                "only you can list your privacy requests",
            )));
        }
        // Boxed (as `workspaces` below): the future of every `User` field is as large as
        // the largest of them, and a page resolves a person for each author it shows.
        Ok(
            Box::pin(privacy::requests::list_for_user(&state(ctx).db, self.0.id))
                .await
                .map_err(gql)?
                .into_iter()
                .map(PrivacyRequest)
                .collect(),
        )
    }

    /// The workspaces this user belongs to; only the user themselves may list them.
    #[graphql(complexity = "first.unwrap_or(20).max(0) as usize * child_complexity")]
    async fn workspaces(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<String, Workspace, EmptyFields, EmptyFields>> {
        if viewer_id(ctx)? != self.0.id {
            return Err(gql(DomainError::forbidden(
                "only you can list your workspaces",
            )));
        }
        let limit = page_size(first)?;
        let after_key = decode_cursor::<Uuid>(after.as_deref())?;
        let rows = Box::pin(workspaces::list_for_user(
            &state(ctx).db,
            self.0.id,
            after_key,
            limit + 1,
        ))
        .await
        .map_err(gql)?;
        Ok(connection::build(
            rows,
            limit,
            after_key.is_some(),
            |a| a.membership.id,
            Workspace,
        ))
    }
}

/// A user's membership of a workspace.
pub struct Membership {
    pub membership: memberships::Model,
    pub user: users::Model,
    /// The signed-in user's access to the same workspace.
    pub viewer_access: WorkspaceAccess,
}

#[Object]
impl Membership {
    async fn id(&self) -> ID {
        ID(self.membership.id.to_string())
    }

    async fn role(&self) -> Result<RoleEnum> {
        role_of(&self.membership.role)
    }

    async fn joined_at(&self) -> DateTime<Utc> {
        self.membership.created_at
    }

    async fn user(&self) -> User {
        self.user.clone().into()
    }

    async fn workspace(&self) -> Workspace {
        Workspace(self.viewer_access.clone())
    }
}

pub struct Invitation(pub invitations::Model);

#[Object]
impl Invitation {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn email(&self) -> &str {
        &self.0.email
    }

    async fn role(&self) -> Result<RoleEnum> {
        role_of(&self.0.role)
    }

    async fn status(&self) -> InvitationStatus {
        match workspaces::invitation_status(&self.0) {
            "ACCEPTED" => InvitationStatus::Accepted,
            "REVOKED" => InvitationStatus::Revoked,
            "EXPIRED" => InvitationStatus::Expired,
            _ => InvitationStatus::Pending,
        }
    }

    async fn expires_at(&self) -> DateTime<Utc> {
        self.0.expires_at
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// One link of the audit chain.
pub struct AuditEvent(pub audit_events::Model);

#[Object]
impl AuditEvent {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn seq(&self) -> String {
        self.0.seq.to_string()
    }

    async fn at(&self) -> DateTime<Utc> {
        self.0.at
    }

    async fn actor_kind(&self) -> &str {
        &self.0.actor_kind
    }

    async fn actor_id(&self) -> Option<&str> {
        self.0.actor_id.as_deref()
    }

    async fn action(&self) -> &str {
        &self.0.action
    }

    async fn target_kind(&self) -> Option<&str> {
        self.0.target_kind.as_deref()
    }

    async fn target_id(&self) -> Option<&str> {
        self.0.target_id.as_deref()
    }

    /// The client network the action came from (truncated, never a full address).
    async fn ip_network(&self) -> Option<&str> {
        self.0.ip.as_deref()
    }

    async fn details(&self) -> Json<serde_json::Value> {
        Json(serde_json::from_str(&self.0.details).unwrap_or(serde_json::Value::Null))
    }

    /// This event's link in the chain; null until the sealer has linked it (within a
    /// moment of the write while a job runner runs).
    async fn hash(&self) -> Option<&str> {
        self.0.chain_pos.map(|_| self.0.hash.as_str())
    }

    /// The previous link's hash; null until sealed.
    async fn prev_hash(&self) -> Option<&str> {
        self.0.chain_pos.map(|_| self.0.prev_hash.as_str())
    }

    /// Whether the event is linked into the chain yet.
    async fn sealed(&self) -> bool {
        self.0.chain_pos.is_some()
    }
}

/// The result of signing in or refreshing. After `signUp` the tokens are empty and
/// `verificationRequired` is true: the account opens once the email link is followed.
#[derive(Default)]
pub struct AuthPayload {
    pub access_token: Option<String>,
    pub refresh_token: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub user: Option<users::Model>,
    pub verification_required: bool,
}

#[Object]
impl AuthPayload {
    async fn access_token(&self) -> Option<&str> {
        self.access_token.as_deref()
    }

    async fn refresh_token(&self) -> Option<&str> {
        self.refresh_token.as_deref()
    }

    /// When the access token expires.
    async fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.expires_at
    }

    async fn user(&self) -> Option<User> {
        self.user.clone().map(User::from)
    }

    async fn verification_required(&self) -> bool {
        self.verification_required
    }
}
