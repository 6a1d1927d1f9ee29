//! Connected channels. Tokens are sealed with the vault, bound to their integration's id,
//! and exist in clear only in memory. Disconnecting deletes them outright.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set,
    TransactionSession, TransactionTrait,
};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use uuid::Uuid;

use super::audit::{self, Actor, NewEvent};
use super::entities::{integration_tokens, integrations};
use super::workspaces::{Role, WorkspaceAccess};
use super::{clean_text, now, RequestMeta};
use crate::crypto::vault::Vault;
use crate::error::{DomainError, DomainResult};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Provider {
    Tiktok,
    Youtube,
    Instagram,
    Facebook,
    Linkedin,
}

impl Provider {
    pub const ALL: [Provider; 5] = [
        Self::Tiktok,
        Self::Youtube,
        Self::Instagram,
        Self::Facebook,
        Self::Linkedin,
    ];
    /// The platforms whose accounts Meta's callbacks speak for.
    pub const META: [Provider; 2] = [Self::Facebook, Self::Instagram];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tiktok => "TIKTOK",
            Self::Youtube => "YOUTUBE",
            Self::Instagram => "INSTAGRAM",
            Self::Facebook => "FACEBOOK",
            Self::Linkedin => "LINKEDIN",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == value)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    Active,
    Expiring,
    RefreshFailed,
    NeedsReauth,
    Revoked,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "ACTIVE",
            Self::Expiring => "EXPIRING",
            Self::RefreshFailed => "REFRESH_FAILED",
            Self::NeedsReauth => "NEEDS_REAUTH",
            Self::Revoked => "REVOKED",
        }
    }
}

/// The account a platform says was connected.
#[derive(Clone, Debug)]
pub struct ConnectedAccount {
    pub external_account_id: String,
    pub handle: Option<String>,
    pub display_name: Option<String>,
    pub scopes: Vec<String>,
}

/// Tokens as a platform hands them over; never logged (SecretString).
pub struct TokenSet {
    pub access_token: SecretString,
    pub refresh_token: Option<SecretString>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// What a sealed token is bound to: the integration it belongs to.
pub(crate) fn associated_data(integration_id: Uuid) -> Vec<u8> {
    format!("atelier:integration:{integration_id}").into_bytes()
}

/// Creates the integration for an account, or reconnects an existing one (health back to
/// ACTIVE). A reconnection without a refresh token keeps the stored one. ADMIN and up.
pub async fn upsert_connection(
    conn: &(impl ConnectionTrait + TransactionTrait),
    vault: &Vault,
    access: &WorkspaceAccess,
    provider: Provider,
    account: ConnectedAccount,
    tokens: TokenSet,
    meta: &RequestMeta,
) -> DomainResult<integrations::Model> {
    access.require(Role::Admin)?;
    let external_id = clean_text("external account id", &account.external_account_id, 128)?;
    let txn = conn.begin().await?;
    let at = now();
    let existing = integrations::Entity::find()
        .filter(integrations::Column::WorkspaceId.eq(access.workspace_id()))
        .filter(integrations::Column::Provider.eq(provider.as_str()))
        .filter(integrations::Column::ExternalAccountId.eq(&external_id))
        .one(&txn)
        .await?;
    let reconnect = existing.is_some();
    let integration = match existing {
        Some(found) => {
            let mut active: integrations::ActiveModel = found.into();
            active.handle = Set(account.handle);
            active.display_name = Set(account.display_name);
            active.scopes = Set(account.scopes.join(" "));
            active.connected_by = Set(Some(access.user_id()));
            active.health = Set(Health::Active.as_str().into());
            active.last_error = Set(None);
            active.disconnected_at = Set(None);
            active.updated_at = Set(at);
            active.update(&txn).await?
        }
        None => {
            integrations::ActiveModel {
                id: Set(Uuid::now_v7()),
                workspace_id: Set(access.workspace_id()),
                provider: Set(provider.as_str().into()),
                external_account_id: Set(external_id),
                handle: Set(account.handle),
                display_name: Set(account.display_name),
                scopes: Set(account.scopes.join(" ")),
                connected_by: Set(Some(access.user_id())),
                health: Set(Health::Active.as_str().into()),
                last_error: Set(None),
                connected_at: Set(at),
                disconnected_at: Set(None),
                updated_at: Set(at),
            }
            .insert(&txn)
            .await?
        }
    };
    let aad = associated_data(integration.id);
    let access_sealed = vault.seal(tokens.access_token.expose_secret().as_bytes(), &aad);
    let stored = integration_tokens::Entity::find_by_id(integration.id)
        .one(&txn)
        .await?;
    let refresh_sealed = match (&tokens.refresh_token, &stored) {
        (Some(fresh), _) if !fresh.expose_secret().is_empty() => {
            Some(vault.seal(fresh.expose_secret().as_bytes(), &aad))
        }
        (_, Some(previous)) => previous.refresh_token_sealed.clone(),
        _ => None,
    };
    let row = integration_tokens::ActiveModel {
        integration_id: Set(integration.id),
        access_token_sealed: Set(access_sealed),
        refresh_token_sealed: Set(refresh_sealed),
        key_id: Set(vault.current_key_id().to_string()),
        access_expires_at: Set(tokens.expires_at),
        updated_at: Set(at),
    };
    if stored.is_some() {
        row.update(&txn).await?;
    } else {
        row.insert(&txn).await?;
    }
    audit::record(
        &txn,
        NewEvent::new(
            Actor::User(access.user_id()),
            if reconnect {
                "integration.reconnected"
            } else {
                "integration.connected"
            },
        )
        .target("integration", integration.id)
        .workspace(access.workspace_id())
        .details(json!({ "provider": provider.as_str() })),
        meta,
    )
    .await?;
    txn.commit().await?;
    Ok(integration)
}

/// Opens an integration's tokens into memory; `None` when it has none (disconnected).
pub async fn open_tokens(
    conn: &impl ConnectionTrait,
    vault: &Vault,
    integration_id: Uuid,
) -> DomainResult<Option<TokenSet>> {
    let Some(row) = integration_tokens::Entity::find_by_id(integration_id)
        .one(conn)
        .await?
    else {
        return Ok(None);
    };
    let aad = associated_data(integration_id);
    let open = |sealed: &str| -> DomainResult<SecretString> {
        let bytes = vault.open(sealed, &aad).map_err(DomainError::internal)?;
        let text = String::from_utf8(bytes).map_err(DomainError::internal)?;
        Ok(SecretString::from(text))
    };
    Ok(Some(TokenSet {
        access_token: open(&row.access_token_sealed)?,
        refresh_token: row.refresh_token_sealed.as_deref().map(open).transpose()?,
        expires_at: row.access_expires_at,
    }))
}

/// Integrations on any of `providers` for an external account id.
pub async fn find_by_external_account(
    conn: &impl ConnectionTrait,
    providers: &[Provider],
    external_account_id: &str,
) -> DomainResult<Vec<integrations::Model>> {
    Ok(integrations::Entity::find()
        .filter(integrations::Column::Provider.is_in(providers.iter().map(|p| p.as_str())))
        .filter(integrations::Column::ExternalAccountId.eq(external_account_id))
        .all(conn)
        .await?)
}

/// The platform itself revoked our access (Meta's deauthorize callback): delete the
/// tokens of every matching integration and mark it REVOKED. Nothing to revoke at the
/// platform. Returns how many integrations lost their tokens; a redelivery finds none.
pub async fn deauthorized_by_platform(
    conn: &(impl ConnectionTrait + TransactionTrait),
    providers: &[Provider],
    external_account_id: &str,
    meta: &RequestMeta,
) -> DomainResult<u64> {
    let txn = conn.begin().await?;
    let matching = find_by_external_account(&txn, providers, external_account_id).await?;
    let mut disconnected = 0;
    for integration in matching {
        let deleted = integration_tokens::Entity::delete_by_id(integration.id)
            .exec(&txn)
            .await?;
        if integration.health == Health::Revoked.as_str() && deleted.rows_affected == 0 {
            continue;
        }
        let mut active: integrations::ActiveModel = integration.clone().into();
        active.health = Set(Health::Revoked.as_str().into());
        active.last_error = Set(Some("access was removed on the platform".into()));
        active.disconnected_at = Set(Some(now()));
        active.updated_at = Set(now());
        active.update(&txn).await?;
        audit::record(
            &txn,
            NewEvent::new(Actor::System, "integration.deauthorized_by_platform")
                .target("integration", integration.id)
                .workspace(integration.workspace_id)
                .details(json!({ "provider": integration.provider, "tokens_deleted": deleted.rows_affected })),
            meta,
        )
        .await?;
        disconnected += 1;
    }
    audit::record(
        &txn,
        NewEvent::new(Actor::Anonymous, "privacy.platform_deauthorized")
            .details(json!({ "integrations_disconnected": disconnected })),
        meta,
    )
    .await?;
    txn.commit().await?;
    Ok(disconnected)
}
