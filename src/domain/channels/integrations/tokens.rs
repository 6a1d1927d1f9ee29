//! A channel's tokens over time: revocation at the platform (queued sealed, retried),
//! scheduled refreshes, renewal when a call is refused, and the health that tells admins a
//! channel needs reconnecting.

use super::{associated_data, open_tokens, Health, TokenSet};
use crate::crypto::vault::Vault;
use crate::domain::channels::platform::{Platforms, ProviderError};
use crate::domain::entities::{integration_tokens, integrations};
use crate::domain::now;
use crate::domain::platforms::Provider;
use crate::error::{DomainError, DomainResult};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set,
    TransactionSession, TransactionTrait,
};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use uuid::Uuid;

pub(crate) const REVOCATION_CONTEXT: &[u8] = b"atelier:revocation:v1";

/// What a revocation retry job carries: the platform and the sealed tokens.
#[derive(serde::Serialize, serde::Deserialize)]
pub(super) struct Revocation {
    provider: String,
    sealed: Vec<String>,
}

/// Queues the revocation of tokens at their platform (inside the caller's transaction).
pub async fn enqueue_revocation(
    conn: &impl ConnectionTrait,
    vault: &Vault,
    provider: Provider,
    tokens: &TokenSet,
) -> DomainResult<()> {
    let mut sealed = vec![vault.seal(
        tokens.access_token.expose_secret().as_bytes(),
        REVOCATION_CONTEXT,
    )];
    if let Some(refresh) = &tokens.refresh_token {
        sealed.push(vault.seal(refresh.expose_secret().as_bytes(), REVOCATION_CONTEXT));
    }
    crate::domain::ops::jobs::enqueue(
        conn,
        crate::domain::ops::jobs::kind::REVOKE_TOKENS,
        &Revocation {
            provider: provider.as_str().into(),
            sealed,
        },
    )
    .await?;
    Ok(())
}

/// Runs a revocation job: every token revoked at the platform, or an error to retry.
pub async fn run_revocation(
    vault: &Vault,
    providers: &dyn Platforms,
    payload: &str,
) -> anyhow::Result<()> {
    let job: Revocation = serde_json::from_str(payload)?;
    let provider = Provider::parse(&job.provider)
        .ok_or_else(|| anyhow::anyhow!("unknown provider {:?}", job.provider))?;
    for sealed in &job.sealed {
        let token = SecretString::from(String::from_utf8(vault.open(sealed, REVOCATION_CONTEXT)?)?);
        providers.revoke(provider, &token).await?;
    }
    Ok(())
}

/// Queues a renewal for every channel whose access token expires within `before`: one
/// job per channel and expiry (its id derives from both), so any number of instances
/// asking queue it once.
pub async fn schedule_refreshes(
    conn: &impl ConnectionTrait,
    before: chrono::Duration,
) -> DomainResult<u64> {
    let due = integration_tokens::Entity::find()
        .filter(integration_tokens::Column::AccessExpiresAt.lt(now() + before))
        .all(conn)
        .await?;
    let mut queued = 0;
    for row in due {
        let Some(expiry) = row.access_expires_at else {
            continue;
        };
        let id = Uuid::new_v5(
            &Uuid::NAMESPACE_OID,
            // Each stored token (its expiry and when it was stored) is renewed once.
            format!(
                "atelier:refresh:{}:{}:{}",
                row.integration_id,
                expiry.timestamp_micros(),
                row.updated_at.timestamp_micros()
            )
            .as_bytes(),
        );
        let payload = json!({ "integration_id": row.integration_id });
        let kind = crate::domain::ops::jobs::kind::REFRESH_TOKENS;
        if crate::domain::ops::jobs::enqueue_once(conn, id, kind, &payload, now()).await? {
            queued += 1;
        }
    }
    Ok(queued)
}

/// Renews one channel's access token. A refusal by the platform moves the channel to
/// NEEDS_REAUTH and emails the workspace's admins once for the incident (not per
/// attempt); a passing failure marks it REFRESH_FAILED and returns the error so the job
/// retries with backoff. A channel without a refresh token becomes EXPIRING.
pub async fn run_refresh(
    conn: &(impl ConnectionTrait + TransactionTrait),
    vault: &Vault,
    providers: &dyn Platforms,
    payload: &str,
) -> anyhow::Result<()> {
    #[derive(serde::Deserialize)]
    struct Job {
        integration_id: Uuid,
    }
    let Job { integration_id } = serde_json::from_str(payload)?;
    let Some(integration) = integrations::Entity::find_by_id(integration_id)
        .one(conn)
        .await?
    else {
        return Ok(());
    };
    let Some(tokens) = open_tokens(conn, vault, integration_id).await? else {
        return Ok(()); // disconnected meanwhile
    };
    let renews_itself =
        Provider::parse(&integration.provider).is_some_and(Provider::renews_with_access_token);
    if tokens.refresh_token.is_none() && !renews_itself {
        set_health(
            conn,
            &integration,
            Health::Expiring,
            Some("the platform gave no refresh token; reconnect before the access expires"),
        )
        .await?;
        return Ok(());
    }
    match renew(conn, vault, providers, &integration, &tokens).await? {
        // Renewed, or refused and the channel now needs reconnecting.
        Ok(_) | Err(ProviderError::Auth(_)) => Ok(()),
        Err(e) => {
            set_health(
                conn,
                &integration,
                Health::RefreshFailed,
                Some(&e.to_string()),
            )
            .await?;
            Err(e.into())
        }
    }
}

/// Renews a channel's access once with its refresh token and stores the renewal. When
/// the channel has no refresh token, or the platform refuses the renewal, the channel
/// moves to NEEDS_REAUTH (its admins emailed once per incident). Returns the fresh
/// tokens, or the platform's answer. Used before expiry and after a 401 alike.
pub(crate) async fn renew(
    conn: &(impl ConnectionTrait + TransactionTrait),
    vault: &Vault,
    providers: &dyn Platforms,
    channel: &integrations::Model,
    tokens: &TokenSet,
) -> DomainResult<Result<TokenSet, ProviderError>> {
    let provider = Provider::parse(&channel.provider)
        .ok_or_else(|| DomainError::internal(anyhow::anyhow!("unknown provider")))?;
    let renewed = providers
        .renew(provider, tokens, &channel.external_account_id)
        .await;
    match renewed {
        Ok(fresh) => {
            store_renewed(conn, vault, channel, &fresh).await?;
            Ok(Ok(fresh))
        }
        Err(ProviderError::Auth(why)) => {
            needs_reauth(conn, vault, channel, &why).await?;
            Ok(Err(ProviderError::Auth(why)))
        }
        Err(other) => Ok(Err(other)),
    }
}

/// Stores renewed tokens (sealed; a renewal without a refresh token keeps the stored
/// one) and marks the channel ACTIVE.
pub(crate) async fn store_renewed(
    conn: &(impl ConnectionTrait + TransactionTrait),
    vault: &Vault,
    integration: &integrations::Model,
    fresh: &TokenSet,
) -> DomainResult<()> {
    let aad = associated_data(integration.id);
    let txn = conn.begin().await?;
    let mut row: integration_tokens::ActiveModel =
        integration_tokens::Entity::find_by_id(integration.id)
            .one(&txn)
            .await?
            .ok_or(DomainError::NotFound("channel tokens"))?
            .into();
    row.access_token_sealed = Set(vault.seal(fresh.access_token.expose_secret().as_bytes(), &aad));
    if let Some(refresh) = fresh
        .refresh_token
        .as_ref()
        .filter(|r| !r.expose_secret().is_empty())
    {
        row.refresh_token_sealed = Set(Some(vault.seal(refresh.expose_secret().as_bytes(), &aad)));
    }
    row.key_id = Set(vault.current_key_id().to_string());
    row.access_expires_at = Set(fresh.expires_at);
    row.updated_at = Set(now());
    row.update(&txn).await?;
    set_health(&txn, integration, Health::Active, None).await?;
    txn.commit().await?;
    Ok(())
}

/// The platform refused our credentials: NEEDS_REAUTH, and the workspace's admins are
/// emailed once for the incident (not again while it lasts).
pub(crate) async fn needs_reauth(
    conn: &(impl ConnectionTrait + TransactionTrait),
    vault: &Vault,
    integration: &integrations::Model,
    why: &str,
) -> DomainResult<()> {
    let txn = conn.begin().await?;
    let incident = integration.health != Health::NeedsReauth.as_str();
    set_health(
        &txn,
        integration,
        Health::NeedsReauth,
        Some(&format!(
            "the platform refused our access ({why}); reconnect the channel"
        )),
    )
    .await?;
    if incident {
        notify_admins_of_lost_channels(&txn, vault, std::slice::from_ref(integration)).await?;
    }
    txn.commit().await?;
    Ok(())
}

pub(super) async fn set_health(
    conn: &impl ConnectionTrait,
    integration: &integrations::Model,
    health: Health,
    error: Option<&str>,
) -> DomainResult<()> {
    let mut active: integrations::ActiveModel = integration.clone().into();
    active.health = Set(health.as_str().into());
    active.last_error = Set(error.map(|e| e.chars().take(500).collect()));
    active.updated_at = Set(now());
    active.update(conn).await?;
    Ok(())
}

/// Emails the workspace's ADMINs and OWNERs (active accounts) that a channel needs
/// reconnecting.
/// One email to each active ADMIN and OWNER of the workspace of `channels` (all of one
/// workspace) naming every channel that must be connected again.
pub(super) async fn notify_admins_of_lost_channels(
    conn: &impl ConnectionTrait,
    vault: &Vault,
    channels: &[integrations::Model],
) -> DomainResult<()> {
    use crate::domain::entities::workspaces;
    let Some(first) = channels.first() else {
        return Ok(());
    };
    let workspace = workspaces::Entity::find_by_id(first.workspace_id)
        .one(conn)
        .await?
        .ok_or(DomainError::NotFound("workspace"))?;
    let mut platforms: Vec<&str> = Vec::new();
    for provider in channels.iter().filter_map(|c| Provider::parse(&c.provider)) {
        let name = provider.name();
        if !platforms.contains(&name) {
            platforms.push(name);
        }
    }
    let accounts: Vec<String> = channels
        .iter()
        .map(|c| {
            c.handle
                .clone()
                .or_else(|| c.display_name.clone())
                .unwrap_or_else(|| c.external_account_id.clone())
        })
        .collect();
    for channel in channels {
        crate::domain::workspace::webhooks::emit(
            conn,
            channel.workspace_id,
            "integration.needs_reauth",
            serde_json::json!({
                "integration_id": channel.id,
                "provider": channel.provider,
                "health": channel.health,
            }),
        )
        .await?;
    }
    for user in
        crate::domain::workspace::workspaces::active_admins(conn, first.workspace_id).await?
    {
        crate::domain::ops::outbox::enqueue(
            conn,
            vault,
            &crate::domain::ops::outbox::Email::ChannelNeedsReauth {
                to: user.email.clone(),
                name: user.display_name.clone(),
                workspace_name: workspace.name.clone(),
                platform: platforms.join(" and "),
                account: accounts.join(", "),
            },
        )
        .await?;
    }
    Ok(())
}
