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

use super::platform::{Platforms, ProviderError};
use crate::crypto::vault::Vault;
use crate::domain::entities::{
    integration_tokens, integrations, oauth_states, pending_connections,
};
use crate::domain::ops::audit::{self, Actor, NewEvent};
use crate::domain::platforms::Provider;
use crate::domain::workspace::workspaces::{Role, WorkspaceAccess};
use crate::domain::{clean_text, now, RequestMeta};
use crate::error::{DomainError, DomainResult};

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

/// How long a connection attempt may take between leaving for the platform and coming
/// back.
pub const STATE_TTL_MINUTES: i64 = 10;
pub(crate) const VERIFIER_CONTEXT: &[u8] = b"atelier:oauth-verifier:v1";
pub(crate) const REVOCATION_CONTEXT: &[u8] = b"atelier:revocation:v1";

fn provider_error(error: ProviderError) -> DomainError {
    match error {
        ProviderError::Unavailable(name) => DomainError::bad_input(format!(
            "{name} is not available: this server has no client id and secret for it"
        )),
        ProviderError::Auth(why) => DomainError::bad_input(format!(
            "the platform refused the connection ({why}); try again"
        )),
        ProviderError::Transient(why) => DomainError::Upstream(format!(
            "the platform could not be reached ({why}); try again"
        )),
        ProviderError::Rejected(why) => {
            DomainError::bad_input(format!("the platform refused the request ({why})"))
        }
    }
}

/// A connection attempt that has left for the platform: where to send the person, and
/// the cookie their browser must keep so that only this browser can finish it.
pub struct StartedConnect {
    pub authorize_url: String,
    pub cookie_name: String,
    pub cookie_value: String,
}

/// The cookie that binds a connection attempt to the browser that started it. Scoped
/// to the callback path and named after the attempt, so attempts in two tabs coexist.
pub fn connect_cookie_name(attempt: Uuid) -> String {
    format!("atelier_connect_{}", attempt.simple())
}

/// Starts connecting a channel (ADMIN and up): a single-use state bound to the user,
/// workspace and platform (stored hashed, 10 minutes) and to the starting browser (the
/// hash of a nonce only its cookie holds), a PKCE verifier kept sealed, and the
/// platform's authorization URL to send the person to.
pub async fn start_connect(
    conn: &(impl ConnectionTrait + TransactionTrait),
    vault: &Vault,
    providers: &dyn Platforms,
    access: &WorkspaceAccess,
    provider: Provider,
    meta: &RequestMeta,
) -> DomainResult<StartedConnect> {
    access.require(Role::Admin)?;
    let state = crate::crypto::tokens::random_secret();
    let browser_nonce = crate::crypto::tokens::random_secret();
    let (url, verifier) = providers
        .authorize(provider, &state)
        .map_err(provider_error)?;
    let id = Uuid::now_v7();
    oauth_states::ActiveModel {
        id: Set(id),
        state_hash: Set(crate::crypto::sha256_hex(&state)),
        user_id: Set(access.user_id()),
        workspace_id: Set(access.workspace_id()),
        provider: Set(provider.as_str().into()),
        verifier_sealed: Set(vault.seal(verifier.expose_secret().as_bytes(), VERIFIER_CONTEXT)),
        expires_at: Set(now() + chrono::Duration::minutes(STATE_TTL_MINUTES)),
        used_at: Set(None),
        browser_hash: Set(Some(crate::crypto::sha256_hex(&browser_nonce))),
        created_at: Set(now()),
    }
    .insert(conn)
    .await?;
    audit::record(
        conn,
        NewEvent::new(Actor::User(access.user_id()), "integration.connect_started")
            .target("oauth_state", id)
            .workspace(access.workspace_id())
            .details(json!({ "provider": provider.as_str() })),
        meta,
    )
    .await?;
    Ok(StartedConnect {
        authorize_url: url,
        cookie_name: connect_cookie_name(id),
        cookie_value: browser_nonce,
    })
}

/// What a platform sends back to the callback: whose callback it came to, the state
/// we gave it, and the authorization code.
pub struct PlatformReturn<'a> {
    pub provider: Provider,
    pub state: &'a str,
    pub code: &'a str,
}

/// How a connection attempt ended at the callback: connected, or waiting for the person
/// to choose which of several accounts to connect.
pub enum ConnectOutcome {
    Connected(Box<integrations::Model>),
    Choose(Uuid),
}

/// One account a waiting connection may attach, as the person sees it.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct AccountChoice {
    pub external_account_id: String,
    pub handle: Option<String>,
    pub display_name: Option<String>,
}

/// What a waiting connection keeps, sealed: the tokens and every account offered.
#[derive(serde::Serialize, serde::Deserialize)]
struct PendingChoices {
    access_token: String,
    refresh_token: Option<String>,
    expires_at: Option<DateTime<Utc>>,
    scopes: Vec<String>,
    accounts: Vec<PendingAccount>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct PendingAccount {
    choice: AccountChoice,
    acting_token: Option<String>,
}

const PENDING_CONTEXT: &[u8] = b"atelier:pending-connection:v1";
/// How long a person has to choose the account after coming back from the platform.
pub const CHOICE_TTL_MINUTES: i64 = 30;

/// The tokens a channel stores for an account: a Facebook Page publishes with its own
/// token, and the person's long-lived token (which hands out a new Page token) is kept
/// in the refresh slot; its expiry is the channel's, so it is renewed before it ends.
fn tokens_for(tokens: TokenSet, acting_token: Option<SecretString>) -> TokenSet {
    match acting_token {
        Some(page_token) => TokenSet {
            access_token: page_token,
            refresh_token: Some(tokens.access_token),
            expires_at: tokens.expires_at,
        },
        None => tokens,
    }
}

/// Where a connection attempt came back: the platform's code and our state. The state
/// is spent first (a replay finds it used), then the code is exchanged with the PKCE
/// verifier and the accounts read. One account is connected (created or reconnected);
/// several wait, sealed, for the person to choose (`complete_connect`) — never the
/// first one silently; none is refused.
pub async fn finish_connect(
    conn: &(impl ConnectionTrait + TransactionTrait),
    vault: &Vault,
    providers: &dyn Platforms,
    returned: PlatformReturn<'_>,
    browser_cookie: impl Fn(&str) -> Option<String>,
    meta: &RequestMeta,
) -> DomainResult<ConnectOutcome> {
    use sea_orm::sea_query::Expr;
    let PlatformReturn {
        provider,
        state,
        code,
    } = returned;
    let refused = || {
        DomainError::bad_input(
            "this connection link is invalid, expired or already used; start connecting again",
        )
    };
    let pending = oauth_states::Entity::find()
        .filter(oauth_states::Column::StateHash.eq(crate::crypto::sha256_hex(state)))
        .one(conn)
        .await?
        .ok_or_else(refused)?;
    if pending.provider != provider.as_str() || pending.expires_at < now() {
        return Err(refused());
    }
    // Only the browser that started the attempt holds the nonce: a person lured onto
    // someone else's authorization link comes back without it and connects nothing
    // (and the attempt stays unspent for the browser it belongs to).
    let presented = browser_cookie(&connect_cookie_name(pending.id))
        .map(|nonce| crate::crypto::sha256_hex(&nonce));
    let same_browser = match (&pending.browser_hash, &presented) {
        (Some(expected), Some(presented)) => bool::from(subtle::ConstantTimeEq::ct_eq(
            expected.as_bytes(),
            presented.as_bytes(),
        )),
        _ => false,
    };
    if !same_browser {
        return Err(DomainError::forbidden(
            "this connection was started in another browser; start connecting again from Atelier in this browser",
        ));
    }
    let spent = oauth_states::Entity::update_many()
        .col_expr(oauth_states::Column::UsedAt, Expr::value(now()))
        .filter(oauth_states::Column::Id.eq(pending.id))
        .filter(oauth_states::Column::UsedAt.is_null())
        .exec(conn)
        .await?;
    if spent.rows_affected != 1 {
        return Err(refused());
    }
    let access =
        crate::domain::workspace::workspaces::access(conn, pending.user_id, pending.workspace_id)
            .await?
            .ok_or_else(|| {
                DomainError::forbidden("you are no longer a member of that workspace")
            })?;
    let verifier = vault
        .open(&pending.verifier_sealed, VERIFIER_CONTEXT)
        .map_err(DomainError::internal)?;
    let verifier = SecretString::from(String::from_utf8(verifier).map_err(DomainError::internal)?);
    let (tokens, scopes) = providers
        .exchange(provider, code, &verifier)
        .await
        .map_err(provider_error)?;
    let connectable = providers
        .connectable(provider, &tokens.access_token, scopes.clone())
        .await
        .map_err(provider_error)?;
    let mut choices = connectable.choices;
    match choices.len() {
        0 => Err(DomainError::bad_input(match provider {
            Provider::Instagram => "this account manages no Page with an Instagram professional account linked to it; link one on Instagram, then connect again",
            Provider::Facebook => "this account manages no Facebook Page; create or get access to one, then connect again",
            _ => "the platform offered no account to connect",
        })),
        1 => {
            let choice = choices.remove(0);
            let tokens = tokens_for(tokens, choice.acting_token);
            upsert_connection(conn, vault, &access, provider, choice.account, tokens, meta)
                .await
                .map(|c| ConnectOutcome::Connected(Box::new(c)))
        }
        _ => {
            let kept = PendingChoices {
                access_token: tokens.access_token.expose_secret().to_string(),
                refresh_token: tokens.refresh_token.as_ref().map(|t| t.expose_secret().to_string()),
                expires_at: tokens.expires_at,
                scopes,
                accounts: choices
                    .into_iter()
                    .map(|c| PendingAccount {
                        choice: AccountChoice {
                            external_account_id: c.account.external_account_id,
                            handle: c.account.handle,
                            display_name: c.account.display_name,
                        },
                        acting_token: c.acting_token.map(|t| t.expose_secret().to_string()),
                    })
                    .collect(),
            };
            let id = Uuid::now_v7();
            let plain = serde_json::to_vec(&kept).map_err(DomainError::internal)?;
            pending_connections::ActiveModel {
                id: Set(id),
                user_id: Set(access.user_id()),
                workspace_id: Set(access.workspace_id()),
                provider: Set(provider.as_str().into()),
                platform_user_id: Set(connectable.platform_user_id),
                choices_sealed: Set(vault.seal(&plain, &pending_context(id))),
                expires_at: Set(now() + chrono::Duration::minutes(CHOICE_TTL_MINUTES)),
                created_at: Set(now()),
            }
            .insert(conn)
            .await?;
            Ok(ConnectOutcome::Choose(id))
        }
    }
}

fn pending_context(id: Uuid) -> Vec<u8> {
    let mut context = PENDING_CONTEXT.to_vec();
    context.extend_from_slice(id.as_bytes());
    context
}

/// A connection waiting for the person's choice, with the accounts offered; only the
/// person who started it (still an ADMIN of the workspace) may see or complete it.
pub struct PendingConnect {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub provider: Provider,
    pub accounts: Vec<AccountChoice>,
    pub expires_at: DateTime<Utc>,
}

async fn open_pending(
    conn: &impl ConnectionTrait,
    vault: &Vault,
    user_id: Uuid,
    id: Uuid,
) -> DomainResult<(pending_connections::Model, Provider, PendingChoices)> {
    let row = pending_connections::Entity::find_by_id(id)
        .one(conn)
        .await?
        .filter(|p| p.user_id == user_id && p.expires_at > now())
        .ok_or(DomainError::NotFound("connection waiting for a choice"))?;
    let plain = vault
        .open(&row.choices_sealed, &pending_context(row.id))
        .map_err(DomainError::internal)?;
    let kept: PendingChoices = serde_json::from_slice(&plain).map_err(DomainError::internal)?;
    let provider = Provider::parse(&row.provider)
        .ok_or_else(|| DomainError::internal(anyhow::anyhow!("unknown provider")))?;
    Ok((row, provider, kept))
}

/// The accounts a waiting connection offers (to the person who started it).
pub async fn pending_connect(
    conn: &impl ConnectionTrait,
    vault: &Vault,
    user_id: Uuid,
    id: Uuid,
) -> DomainResult<PendingConnect> {
    let (row, provider, kept) = open_pending(conn, vault, user_id, id).await?;
    Ok(PendingConnect {
        id: row.id,
        workspace_id: row.workspace_id,
        provider,
        accounts: kept.accounts.into_iter().map(|a| a.choice).collect(),
        expires_at: row.expires_at,
    })
}

/// Connects the account the person chose among those a waiting connection offers; the
/// waiting connection is spent (its tokens kept only in the channel).
pub async fn complete_connect(
    conn: &(impl ConnectionTrait + TransactionTrait),
    vault: &Vault,
    user_id: Uuid,
    id: Uuid,
    external_account_id: &str,
    meta: &RequestMeta,
) -> DomainResult<integrations::Model> {
    let (row, provider, kept) = open_pending(conn, vault, user_id, id).await?;
    let access = crate::domain::workspace::workspaces::access(conn, user_id, row.workspace_id)
        .await?
        .ok_or_else(|| DomainError::forbidden("you are no longer a member of that workspace"))?;
    let Some(chosen) = kept
        .accounts
        .into_iter()
        .find(|a| a.choice.external_account_id == external_account_id)
    else {
        return Err(DomainError::bad_input(
            "choose one of the accounts the platform offered",
        ));
    };
    let spent = pending_connections::Entity::delete_by_id(row.id)
        .exec(conn)
        .await?;
    if spent.rows_affected != 1 {
        return Err(DomainError::NotFound("connection waiting for a choice"));
    }
    let tokens = tokens_for(
        TokenSet {
            access_token: SecretString::from(kept.access_token),
            refresh_token: kept.refresh_token.map(SecretString::from),
            expires_at: kept.expires_at,
        },
        chosen.acting_token.map(SecretString::from),
    );
    let account = ConnectedAccount {
        external_account_id: chosen.choice.external_account_id,
        handle: chosen.choice.handle,
        display_name: chosen.choice.display_name,
        scopes: kept.scopes,
        platform_user_id: row.platform_user_id,
    };
    upsert_connection(conn, vault, &access, provider, account, tokens, meta).await
}

/// What a revocation retry job carries: the platform and the sealed tokens.
#[derive(serde::Serialize, serde::Deserialize)]
struct Revocation {
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

/// The workspace a channel belongs to.
pub async fn workspace_of(
    conn: &impl ConnectionTrait,
    integration_id: Uuid,
) -> DomainResult<Option<Uuid>> {
    Ok(integrations::Entity::find_by_id(integration_id)
        .one(conn)
        .await?
        .map(|i| i.workspace_id))
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

async fn set_health(
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
async fn notify_admins_of_lost_channels(
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
