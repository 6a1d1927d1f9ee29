//! Channels in the API: `Integration` (never a token), connecting through the platform's
//! OAuth page, and disconnecting.

use crate::domain::workspace::workspaces::{workspace_of as owner_of, Owned};
use async_graphql::{Context, Object, Result, SimpleObject, ID};
use chrono::{DateTime, Utc};

use super::content::ProviderEnum;
use super::context::{current_user, meta, state};
use super::errors::gql;
use super::types::parse_id;
use crate::domain::channels::integrations;
use crate::domain::entities::integrations as integration_rows;
use crate::domain::platforms::Provider;
use crate::domain::workspace::workspaces;
use crate::error::DomainError;

/// A connected social account. Its tokens never leave the server.
pub struct Integration(pub integration_rows::Model);

#[Object]
impl Integration {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn provider(&self) -> Option<ProviderEnum> {
        Provider::parse(&self.0.provider).map(Into::into)
    }

    async fn external_account_id(&self) -> &str {
        &self.0.external_account_id
    }

    async fn handle(&self) -> Option<&str> {
        self.0.handle.as_deref()
    }

    async fn display_name(&self) -> Option<&str> {
        self.0.display_name.as_deref()
    }

    async fn scopes(&self) -> Vec<&str> {
        self.0.scopes.split_whitespace().collect()
    }

    /// ACTIVE, EXPIRING, REFRESH_FAILED, NEEDS_REAUTH or REVOKED.
    async fn health(&self) -> &str {
        &self.0.health
    }

    async fn last_error(&self) -> Option<&str> {
        self.0.last_error.as_deref()
    }

    async fn connected_at(&self) -> DateTime<Utc> {
        self.0.connected_at
    }

    async fn disconnected_at(&self) -> Option<DateTime<Utc>> {
        self.0.disconnected_at
    }

    /// When its metrics were last pulled, and how that went; null before the first
    /// sync.
    async fn sync(&self, ctx: &Context<'_>) -> Result<Option<super::analytics::SyncState>> {
        Ok(super::loaders::loader(ctx)?
            .load_one(super::loaders::SyncOf(self.0.id))
            .await?
            .flatten()
            .map(Into::into))
    }
}

/// Where to send the person to connect a channel.
#[derive(SimpleObject)]
pub struct IntegrationConnect {
    /// The platform's authorization page (with PKCE and a single-use state, valid for
    /// 10 minutes); it comes back to `/integrations/callback/{provider}`.
    pub authorize_url: String,
}

/// An account a waiting connection may attach.
#[derive(SimpleObject)]
pub struct AccountChoice {
    /// The platform's id of the account (a Page id, an Instagram account id).
    pub external_account_id: String,
    pub handle: Option<String>,
    pub display_name: Option<String>,
}

/// A connection waiting for the person's choice of account.
#[derive(SimpleObject)]
pub struct PendingIntegrationConnect {
    pub id: ID,
    pub workspace_id: ID,
    pub provider: ProviderEnum,
    pub accounts: Vec<AccountChoice>,
    pub expires_at: DateTime<Utc>,
}

impl From<integrations::PendingConnect> for PendingIntegrationConnect {
    fn from(pending: integrations::PendingConnect) -> Self {
        Self {
            id: ID(pending.id.to_string()),
            workspace_id: ID(pending.workspace_id.to_string()),
            provider: pending.provider.into(),
            accounts: pending
                .accounts
                .into_iter()
                .map(|a| AccountChoice {
                    external_account_id: a.external_account_id,
                    handle: a.handle,
                    display_name: a.display_name,
                })
                .collect(),
            expires_at: pending.expires_at,
        }
    }
}

#[derive(Default)]
pub struct IntegrationMutation;

#[Object]
impl IntegrationMutation {
    /// Starts connecting a channel; ADMIN and OWNER.
    async fn start_integration_connect(
        &self,
        ctx: &Context<'_>,
        workspace_id: ID,
        provider: ProviderEnum,
    ) -> Result<IntegrationConnect> {
        let user = current_user(ctx).await?;
        let s = state(ctx);
        let workspace_id = parse_id(&workspace_id, "workspaceId")?;
        let access = workspaces::require_access(&s.db, user.id, workspace_id)
            .await
            .map_err(gql)?;
        let started = integrations::start_connect(
            &s.db,
            &s.vault,
            &s.providers,
            &access,
            provider.into(),
            meta(ctx),
        )
        .await
        .map_err(gql)?;
        // The browser that asked keeps the attempt's nonce; the callback wants it back.
        ctx.append_http_header(
            axum::http::header::SET_COOKIE,
            crate::http::set_cookie(
                s.config.is_production(),
                &started.cookie_name,
                &started.cookie_value,
                "/integrations/callback",
                "Lax",
                Some(integrations::STATE_TTL_MINUTES * 60),
            ),
        );
        Ok(IntegrationConnect {
            authorize_url: started.authorize_url,
        })
    }

    /// Connects the account the person chose among those a waiting connection offers
    /// (`pendingIntegrationConnect`); the person who started it, still ADMIN or OWNER.
    async fn complete_integration_connect(
        &self,
        ctx: &Context<'_>,
        id: ID,
        external_account_id: String,
    ) -> Result<Integration> {
        let user = current_user(ctx).await?;
        let s = state(ctx);
        let pending_id = parse_id(&id, "id")?;
        integrations::complete_connect(
            &s.db,
            &s.vault,
            user.id,
            pending_id,
            &external_account_id,
            meta(ctx),
        )
        .await
        .map(Integration)
        .map_err(gql)
    }

    /// Revokes the channel's tokens at the platform and deletes them here; ADMIN and
    /// OWNER.
    async fn disconnect_integration(&self, ctx: &Context<'_>, id: ID) -> Result<bool> {
        let user = current_user(ctx).await?;
        let s = state(ctx);
        let integration_id = parse_id(&id, "id")?;
        let workspace_id = owner_of(&s.db, Owned::Channel(integration_id))
            .await
            .map_err(gql)?
            .ok_or_else(|| gql(DomainError::NotFound("integration")))?;
        let access = workspaces::access(&s.db, user.id, workspace_id)
            .await
            .map_err(gql)?
            .ok_or_else(|| gql(DomainError::NotFound("integration")))?;
        integrations::disconnect(
            &s.db,
            &s.vault,
            &s.providers,
            &access,
            integration_id,
            meta(ctx),
        )
        .await
        .map_err(gql)?;
        Ok(true)
    }
}
