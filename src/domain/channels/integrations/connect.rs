//! Connecting a channel: the OAuth round trip with PKCE (the verifier sealed in a cookie),
//! the platform's return, and — where a person manages several accounts (Facebook Pages,
//! Instagram accounts) — the choice they make before the channel is stored.

use super::{upsert_connection, ConnectedAccount, TokenSet};
use crate::crypto::vault::Vault;
use crate::domain::channels::platform::{Platforms, ProviderError};
use crate::domain::entities::{integrations, oauth_states, pending_connections};
use crate::domain::ops::audit::{self, Actor, NewEvent};
use crate::domain::platforms::Provider;
use crate::domain::workspace::workspaces::{Role, WorkspaceAccess};
use crate::domain::{now, RequestMeta};
use crate::error::{DomainError, DomainResult};
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set, TransactionTrait,
};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use uuid::Uuid;

/// How long a connection attempt may take between leaving for the platform and coming
/// back.
pub const STATE_TTL_MINUTES: i64 = 10;

pub(crate) const VERIFIER_CONTEXT: &[u8] = b"atelier:oauth-verifier:v1";

pub(super) fn provider_error(error: ProviderError) -> DomainError {
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
pub(super) struct PendingChoices {
    access_token: String,
    refresh_token: Option<String>,
    expires_at: Option<DateTime<Utc>>,
    scopes: Vec<String>,
    accounts: Vec<PendingAccount>,
}

#[derive(serde::Serialize, serde::Deserialize)]
pub(super) struct PendingAccount {
    choice: AccountChoice,
    acting_token: Option<String>,
}

pub(super) const PENDING_CONTEXT: &[u8] = b"atelier:pending-connection:v1";

/// How long a person has to choose the account after coming back from the platform.
pub const CHOICE_TTL_MINUTES: i64 = 30;

/// The tokens a channel stores for an account: a Facebook Page publishes with its own
/// token, and the person's long-lived token (which hands out a new Page token) is kept
/// in the refresh slot; its expiry is the channel's, so it is renewed before it ends.
pub(super) fn tokens_for(tokens: TokenSet, acting_token: Option<SecretString>) -> TokenSet {
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

pub(super) fn pending_context(id: Uuid) -> Vec<u8> {
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

pub(super) async fn open_pending(
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
