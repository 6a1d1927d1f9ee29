//! Facebook Login, as Meta documents it, for both Facebook Pages and Instagram
//! professional accounts (which Atelier reaches through the Pages they are linked to):
//!
//! - the code is exchanged at `GET /oauth/access_token` (client id and secret as query
//!   parameters) for a *short-lived* user token — an hour or two, no refresh token;
//! - that is exchanged at once for a *long-lived* one (`grant_type=fb_exchange_token`,
//!   about 60 days), which is exchanged again the same way before it ends;
//! - `/me` names the person by their *app-scoped user id* — the id Meta's signed
//!   deauthorize and data-deletion callbacks carry — which is neither a Page id nor an
//!   Instagram account id;
//! - `/me/accounts` lists the Pages they manage, each with its own Page token (one that
//!   does not expire when taken from a long-lived user token) and its linked Instagram
//!   account; a person with several is asked which one to connect.
//!
//! Errors come as `{"error": {"message", "type", "code"}}`; code 190 (and 102) means the
//! token is no good: the person must log in again.

use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use super::{text, Call, Choice, ProviderError};
use crate::domain::channels::integrations::{ConnectedAccount, TokenSet};
use crate::domain::platforms::Provider;

/// Meta's error codes that mean "this token is no good" (expired, revoked, invalid).
const TOKEN_ERRORS: [i64; 2] = [190, 102];

/// Sorts an answer of the token endpoint into a token or the error it carries.
async fn token_answer(response: reqwest::Response) -> Result<TokenSet, ProviderError> {
    let status = response.status();
    if status.as_u16() == 429 || status.is_server_error() {
        return Err(ProviderError::Transient(format!("HTTP {status}")));
    }
    let answer: Value = response
        .json()
        .await
        .map_err(|e| ProviderError::Transient(e.without_url().to_string()))?;
    if let Some(error) = answer.get("error").filter(|e| e.is_object()) {
        let message = text(&error["message"]).unwrap_or_else(|| "refused".into());
        return Err(ProviderError::Auth(format!(
            "{message} (code {})",
            error["code"].as_i64().unwrap_or_default()
        )));
    }
    let access = text(&answer["access_token"])
        .ok_or_else(|| ProviderError::Transient("the token answer has no access_token".into()))?;
    Ok(TokenSet {
        access_token: SecretString::from(access),
        refresh_token: None,
        expires_at: answer["expires_in"]
            .as_i64()
            .filter(|s| *s > 0)
            .map(|s| crate::domain::now() + chrono::Duration::seconds(s)),
    })
}

/// Whether a Graph API error body says the token is no good.
pub(super) fn is_token_error(body: &str) -> bool {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v["error"]["code"].as_i64())
        .is_some_and(|code| TOKEN_ERRORS.contains(&code))
}

/// The code exchange: a short-lived user token.
pub(super) async fn exchange_code(
    http: &reqwest::Client,
    token_url: &str,
    (client_id, secret): (&str, &SecretString),
    redirect_uri: &str,
    code: &str,
    verifier: &SecretString,
) -> Result<TokenSet, ProviderError> {
    let response = http
        .get(token_url)
        .query(&[
            ("client_id", client_id),
            ("client_secret", secret.expose_secret()),
            ("redirect_uri", redirect_uri),
            ("code", code),
            ("code_verifier", verifier.expose_secret()),
        ])
        .send()
        .await
        .map_err(|e| ProviderError::Transient(e.without_url().to_string()))?;
    token_answer(response).await
}

/// A long-lived user token (about 60 days) for a short-lived or long-lived one.
pub(super) async fn long_lived(
    http: &reqwest::Client,
    token_url: &str,
    (client_id, secret): (&str, &SecretString),
    token: &SecretString,
) -> Result<TokenSet, ProviderError> {
    let response = http
        .get(token_url)
        .query(&[
            ("grant_type", "fb_exchange_token"),
            ("client_id", client_id),
            ("client_secret", secret.expose_secret()),
            ("fb_exchange_token", token.expose_secret()),
        ])
        .send()
        .await
        .map_err(|e| ProviderError::Transient(e.without_url().to_string()))?;
    token_answer(response).await
}

/// The app-scoped user id of the person the token belongs to.
pub(super) async fn app_scoped_user_id(call: &Call<'_>) -> Result<String, ProviderError> {
    let me = call.json(call.get("/me?fields=id,name")).await?;
    text(&me["id"]).ok_or_else(|| ProviderError::Transient("/me answered without an id".into()))
}

/// Every account of `provider` the person manages: their Pages, or the Instagram
/// accounts linked to their Pages.
pub(super) async fn accounts(
    call: &Call<'_>,
    provider: Provider,
    scopes: &[String],
) -> Result<Vec<Choice>, ProviderError> {
    let pages = call
        .json(call.get(
            "/me/accounts?fields=id,name,access_token,instagram_business_account{id,username,name}&limit=100",
        ))
        .await?;
    let listed = pages["data"].as_array().cloned().unwrap_or_default();
    Ok(listed
        .iter()
        .filter_map(|page| match provider {
            Provider::Instagram => {
                let account = &page["instagram_business_account"];
                Some(Choice {
                    account: ConnectedAccount {
                        external_account_id: text(&account["id"])?,
                        handle: text(&account["username"]),
                        display_name: text(&account["name"]).or_else(|| text(&account["username"])),
                        scopes: scopes.to_vec(),
                        platform_user_id: None,
                    },
                    acting_token: None,
                })
            }
            _ => Some(Choice {
                account: ConnectedAccount {
                    external_account_id: text(&page["id"])?,
                    handle: None,
                    display_name: text(&page["name"]),
                    scopes: scopes.to_vec(),
                    platform_user_id: None,
                },
                acting_token: text(&page["access_token"]).map(SecretString::from),
            }),
        })
        .collect())
}

/// What a Facebook Login token may connect: every Page (or Instagram account) the person
/// manages, each tagged with the person's app-scoped user id (what Meta's
/// deauthorization and deletion callbacks name).
pub(super) async fn connectable(
    call: &Call<'_>,
    provider: Provider,
    scopes: &[String],
) -> Result<super::Connectable, ProviderError> {
    let platform_user_id = app_scoped_user_id(call).await?;
    let mut choices = accounts(call, provider, scopes).await?;
    for choice in &mut choices {
        choice.account.platform_user_id = Some(platform_user_id.clone());
    }
    Ok(super::Connectable {
        platform_user_id: Some(platform_user_id),
        choices,
    })
}
