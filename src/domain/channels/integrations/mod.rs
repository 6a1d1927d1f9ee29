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

use super::platform::Platforms;
use crate::crypto::vault::Vault;
use crate::domain::entities::{integration_tokens, integrations};
use crate::domain::ops::audit::{self, Actor, NewEvent};
use crate::domain::platforms::Provider;
use crate::domain::workspace::workspaces::{Role, WorkspaceAccess};
use crate::domain::{clean_text, now, RequestMeta};
use crate::error::{DomainError, DomainResult};

mod connect;
pub use self::connect::{
    complete_connect, connect_cookie_name, finish_connect, pending_connect, start_connect,
    AccountChoice, ConnectOutcome, PendingConnect, PlatformReturn, StartedConnect,
    CHOICE_TTL_MINUTES, STATE_TTL_MINUTES,
};

mod tokens;
pub(crate) use self::connect::VERIFIER_CONTEXT;
use self::tokens::notify_admins_of_lost_channels;
pub use self::tokens::{enqueue_revocation, run_refresh, run_revocation, schedule_refreshes};
pub(crate) use self::tokens::{needs_reauth, renew, REVOCATION_CONTEXT};

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
    /// The person's app-scoped user id where the platform has one (Meta): the id its
    /// signed callbacks name them by.
    pub platform_user_id: Option<String>,
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
            active.platform_user_id = Set(account.platform_user_id);
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
                platform_user_id: Set(account.platform_user_id),
            }
            .insert(&txn)
            .await?
        }
    };
    let aad = associated_data(integration.id);
    let access_sealed = vault.seal(tokens.access_token.expose_secret().as_bytes(), &aad);
    // Tokens a reconnect replaces stop working at the platform too, where revoking one
    // token does not end the grant just renewed.
    if provider.revokes_single_tokens() {
        if let Some(old) = open_tokens(&txn, vault, integration.id).await? {
            let replaced = |old: &SecretString, new: Option<&SecretString>| {
                new.is_some_and(|n| n.expose_secret() != old.expose_secret())
            };
            let stale = TokenSet {
                access_token: old.access_token.clone(),
                refresh_token: old
                    .refresh_token
                    .clone()
                    .filter(|r| replaced(r, tokens.refresh_token.as_ref())),
                expires_at: None,
            };
            if replaced(&stale.access_token, Some(&tokens.access_token)) {
                enqueue_revocation(&txn, vault, provider, &stale).await?;
            }
        }
    }
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

/// The channels connected under a person's app-scoped user id at Meta (the id its
/// signed callbacks carry): every Page and Instagram account they connected.
pub async fn find_by_platform_user(
    conn: &impl ConnectionTrait,
    providers: &[Provider],
    platform_user_id: &str,
) -> DomainResult<Vec<integrations::Model>> {
    Ok(integrations::Entity::find()
        .filter(integrations::Column::Provider.is_in(providers.iter().map(|p| p.as_str())))
        .filter(integrations::Column::PlatformUserId.eq(platform_user_id))
        .all(conn)
        .await?)
}

/// The platform itself revoked our access (Meta's deauthorize callback, naming the
/// person by their app-scoped user id): every channel connected under that id loses its
/// tokens and is marked REVOKED, and each workspace's ADMINs get one email naming its
/// lost channels. Nothing to revoke at the platform. Returns how many channels lost
/// their tokens; a redelivery finds none.
pub async fn deauthorized_by_platform(
    conn: &(impl ConnectionTrait + TransactionTrait),
    vault: &Vault,
    providers: &[Provider],
    platform_user_id: &str,
    meta: &RequestMeta,
) -> DomainResult<u64> {
    let txn = conn.begin().await?;
    let matching = find_by_platform_user(&txn, providers, platform_user_id).await?;
    let mut disconnected = 0;
    // workspace → the channels it lost (one email per workspace).
    let mut lost: std::collections::BTreeMap<Uuid, Vec<integrations::Model>> =
        std::collections::BTreeMap::new();
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
        lost.entry(integration.workspace_id)
            .or_default()
            .push(integration.clone());
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
    for channels in lost.values() {
        notify_admins_of_lost_channels(&txn, vault, channels).await?;
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

/// Disconnects a channel (ADMIN and up): its tokens are revoked at the platform and
/// deleted here; the row keeps no secret. When the platform cannot be reached, the
/// tokens are deleted all the same and the revocation is retried by a job.
pub async fn disconnect(
    conn: &(impl ConnectionTrait + TransactionTrait),
    vault: &Vault,
    providers: &dyn Platforms,
    access: &WorkspaceAccess,
    integration_id: Uuid,
    meta: &RequestMeta,
) -> DomainResult<()> {
    access.require(Role::Admin)?;
    let integration = integrations::Entity::find_by_id(integration_id)
        .filter(integrations::Column::WorkspaceId.eq(access.workspace_id()))
        .one(conn)
        .await?
        .ok_or(DomainError::NotFound("integration"))?;
    let provider = Provider::parse(&integration.provider)
        .ok_or_else(|| DomainError::internal(anyhow::anyhow!("unknown provider")))?;
    let tokens = open_tokens(conn, vault, integration_id).await?;
    let mut revoked = true;
    if let Some(tokens) = &tokens {
        for token in std::iter::once(&tokens.access_token).chain(tokens.refresh_token.iter()) {
            if let Err(e) = providers.revoke(provider, token).await {
                tracing::warn!(integration = %integration_id, error = %e, "revocation failed; it will be retried");
                revoked = false;
                break;
            }
        }
    }
    let txn = conn.begin().await?;
    let deleted = integration_tokens::Entity::delete_by_id(integration_id)
        .exec(&txn)
        .await?;
    if let (false, Some(tokens)) = (revoked, &tokens) {
        enqueue_revocation(&txn, vault, provider, tokens).await?;
    }
    let mut active: integrations::ActiveModel = integration.into();
    active.health = Set(Health::Revoked.as_str().into());
    active.last_error = Set(None);
    active.disconnected_at = Set(Some(now()));
    active.updated_at = Set(now());
    active.update(&txn).await?;
    audit::record(
        &txn,
        NewEvent::new(Actor::User(access.user_id()), "integration.disconnected")
            .target("integration", integration_id)
            .workspace(access.workspace_id())
            .details(json!({
                "provider": provider.as_str(),
                "tokens_deleted": deleted.rows_affected,
                "revoked_at_platform": revoked,
            })),
        meta,
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// The channels of a workspace, in the order they were connected.
pub async fn list(
    conn: &impl ConnectionTrait,
    workspace_id: Uuid,
) -> DomainResult<Vec<integrations::Model>> {
    use sea_orm::QueryOrder;
    Ok(integrations::Entity::find()
        .filter(integrations::Column::WorkspaceId.eq(workspace_id))
        .order_by_asc(integrations::Column::Id)
        .all(conn)
        .await?)
}
