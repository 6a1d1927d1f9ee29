//! The social platforms over HTTP: OAuth 2.0 authorization with PKCE, the code exchange
//! (through the `oauth2` crate), the connected account's profile, and token revocation.
//! Every endpoint comes from configuration (`ATELIER_PROVIDERS__<NAME>__*`), defaulting
//! to the platform's real one; a platform without a client id and secret is unavailable.
//! The HTTP client follows no redirects.

use std::time::Duration;

use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, TokenResponse, TokenUrl,
};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use crate::config::{Config, ProviderSettings};
use crate::domain::integrations::{ConnectedAccount, Provider, TokenSet};

/// The tokens of a platform's token response, with the expiry as an instant.
fn token_set(response: &oauth2::basic::BasicTokenResponse) -> TokenSet {
    TokenSet {
        access_token: SecretString::from(response.access_token().secret().clone()),
        refresh_token: response
            .refresh_token()
            .map(|t| SecretString::from(t.secret().clone())),
        expires_at: response.expires_in().and_then(|d| {
            chrono::Duration::from_std(d)
                .ok()
                .map(|d| crate::domain::now() + d)
        }),
    }
}

#[derive(Clone)]
pub struct Providers {
    http: reqwest::Client,
    settings: crate::config::ProvidersConfig,
    public_url: String,
}

/// Why a platform call failed: the platform refused our credentials (reconnect), or
/// something passing (retry).
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("{0} is not configured on this server")]
    Unavailable(&'static str),
    #[error("the platform refused the credentials: {0}")]
    Auth(String),
    #[error("the platform could not be reached or failed: {0}")]
    Transient(String),
}

impl Providers {
    pub fn from_config(config: &Config) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(config.providers.timeout_secs.max(1)))
            .build()?;
        Ok(Self {
            http,
            settings: config.providers.clone(),
            public_url: config.public_url(),
        })
    }

    fn settings(&self, provider: Provider) -> &ProviderSettings {
        match provider {
            Provider::Tiktok => &self.settings.tiktok,
            Provider::Youtube => &self.settings.youtube,
            Provider::Instagram => &self.settings.instagram,
            Provider::Facebook => &self.settings.facebook,
            Provider::Linkedin => &self.settings.linkedin,
        }
    }

    /// The client id and secret, or Unavailable.
    fn credentials(&self, provider: Provider) -> Result<(&str, &SecretString), ProviderError> {
        let settings = self.settings(provider);
        match (&settings.client_id, &settings.client_secret) {
            (Some(id), Some(secret)) if !id.is_empty() => Ok((id, secret)),
            _ => Err(ProviderError::Unavailable(
                crate::domain::content::targets::platform_name(provider),
            )),
        }
    }

    pub fn is_available(&self, provider: Provider) -> bool {
        self.credentials(provider).is_ok()
    }

    /// Where the platform sends people back: `/integrations/callback/{provider}`.
    pub fn redirect_uri(&self, provider: Provider) -> String {
        format!(
            "{}/integrations/callback/{}",
            self.public_url,
            provider.as_str().to_lowercase()
        )
    }

    fn client(
        &self,
        provider: Provider,
    ) -> anyhow::Result<
        BasicClient<
            oauth2::EndpointSet,
            oauth2::EndpointNotSet,
            oauth2::EndpointNotSet,
            oauth2::EndpointNotSet,
            oauth2::EndpointSet,
        >,
    > {
        let (id, secret) = self.credentials(provider)?;
        let settings = self.settings(provider);
        Ok(BasicClient::new(ClientId::new(id.to_string()))
            .set_client_secret(ClientSecret::new(secret.expose_secret().to_string()))
            .set_auth_uri(AuthUrl::new(settings.auth_url.clone())?)
            .set_token_uri(TokenUrl::new(settings.token_url.clone())?)
            .set_redirect_uri(RedirectUrl::new(self.redirect_uri(provider))?))
    }

    /// The authorization URL for `state`, with a fresh PKCE (S256) challenge; returns the
    /// URL and the verifier to keep for the exchange.
    pub fn authorize(
        &self,
        provider: Provider,
        state: &str,
    ) -> Result<(String, SecretString), ProviderError> {
        let client = self
            .client(provider)
            .map_err(|e| match e.downcast::<ProviderError>() {
                Ok(p) => p,
                Err(e) => ProviderError::Transient(e.to_string()),
            })?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let state = state.to_string();
        let (url, _) = client
            .authorize_url(move || CsrfToken::new(state))
            .add_scopes(
                self.settings(provider)
                    .scopes
                    .split_whitespace()
                    .map(|s| Scope::new(s.to_string())),
            )
            .set_pkce_challenge(challenge)
            .url();
        Ok((
            url.to_string(),
            SecretString::from(verifier.secret().clone()),
        ))
    }

    /// Exchanges an authorization code (with the PKCE verifier) for tokens.
    pub async fn exchange(
        &self,
        provider: Provider,
        code: &str,
        verifier: &SecretString,
    ) -> Result<(TokenSet, Vec<String>), ProviderError> {
        let client = self
            .client(provider)
            .map_err(|e| ProviderError::Transient(e.to_string()))?;
        let response = client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .set_pkce_verifier(PkceCodeVerifier::new(verifier.expose_secret().to_string()))
            .request_async(&self.http)
            .await
            .map_err(|e| match e {
                oauth2::RequestTokenError::ServerResponse(r) => {
                    ProviderError::Auth(r.error().to_string())
                }
                other => ProviderError::Transient(other.to_string()),
            })?;
        let scopes = response
            .scopes()
            .map(|s| s.iter().map(|s| s.to_string()).collect())
            .unwrap_or_default();
        Ok((token_set(&response), scopes))
    }

    /// Renews an access token with the refresh token. A platform that answers with an
    /// OAuth error (invalid_grant and the like) refused it: the person must reconnect.
    pub async fn refresh(
        &self,
        provider: Provider,
        refresh_token: &SecretString,
    ) -> Result<TokenSet, ProviderError> {
        let client = self
            .client(provider)
            .map_err(|e| match e.downcast::<ProviderError>() {
                Ok(p) => p,
                Err(e) => ProviderError::Transient(e.to_string()),
            })?;
        let response = client
            .exchange_refresh_token(&oauth2::RefreshToken::new(
                refresh_token.expose_secret().to_string(),
            ))
            .request_async(&self.http)
            .await
            .map_err(|e| match e {
                oauth2::RequestTokenError::ServerResponse(r) => {
                    ProviderError::Auth(r.error().to_string())
                }
                other => ProviderError::Transient(other.to_string()),
            })?;
        Ok(token_set(&response))
    }

    async fn get_json(&self, url: &str, token: &SecretString) -> Result<Value, ProviderError> {
        let response = self
            .http
            .get(url)
            .bearer_auth(token.expose_secret())
            .send()
            .await
            .map_err(|e| ProviderError::Transient(e.without_url().to_string()))?;
        let status = response.status();
        if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
            return Err(ProviderError::Auth(format!("HTTP {status}")));
        }
        if !status.is_success() {
            return Err(ProviderError::Transient(format!("HTTP {status}")));
        }
        response
            .json()
            .await
            .map_err(|e| ProviderError::Transient(e.without_url().to_string()))
    }

    /// The account the token speaks for, in each platform's shape.
    pub async fn profile(
        &self,
        provider: Provider,
        token: &SecretString,
        scopes: Vec<String>,
    ) -> Result<ConnectedAccount, ProviderError> {
        let api = self.settings(provider).api_url.trim_end_matches('/');
        let text = |v: &Value| v.as_str().map(str::to_string);
        let account = match provider {
            Provider::Linkedin => {
                let me = self.get_json(&format!("{api}/v2/userinfo"), token).await?;
                (text(&me["sub"]), None, text(&me["name"]))
            }
            Provider::Youtube => {
                let me = self
                    .get_json(
                        &format!("{api}/youtube/v3/channels?part=snippet&mine=true"),
                        token,
                    )
                    .await?;
                let channel = &me["items"][0];
                (
                    text(&channel["id"]),
                    text(&channel["snippet"]["customUrl"]),
                    text(&channel["snippet"]["title"]),
                )
            }
            Provider::Tiktok => {
                let me = self
                    .get_json(
                        &format!("{api}/v2/user/info/?fields=open_id,display_name,username"),
                        token,
                    )
                    .await?;
                let user = &me["data"]["user"];
                (
                    text(&user["open_id"]),
                    text(&user["username"]),
                    text(&user["display_name"]),
                )
            }
            Provider::Facebook => {
                let pages = self
                    .get_json(&format!("{api}/me/accounts?fields=id,name"), token)
                    .await?;
                let page = &pages["data"][0];
                (text(&page["id"]), None, text(&page["name"]))
            }
            Provider::Instagram => {
                let pages = self
                    .get_json(
                        &format!(
                            "{api}/me/accounts?fields=instagram_business_account{{id,username}}"
                        ),
                        token,
                    )
                    .await?;
                let account = &pages["data"][0]["instagram_business_account"];
                (
                    text(&account["id"]),
                    text(&account["username"]),
                    text(&account["username"]),
                )
            }
        };
        let (Some(id), handle, name) = account else {
            return Err(ProviderError::Transient(
                "the platform's profile answer has no account id".into(),
            ));
        };
        Ok(ConnectedAccount {
            external_account_id: id,
            handle,
            display_name: name,
            scopes,
        })
    }

    /// Revokes a token at the platform: Meta's `DELETE /me/permissions`, the others'
    /// revocation endpoints (RFC 7009 form posts, with TikTok's `client_key`).
    pub async fn revoke(
        &self,
        provider: Provider,
        token: &SecretString,
    ) -> Result<(), ProviderError> {
        let (id, secret) = self.credentials(provider)?;
        let url = &self.settings(provider).revoke_url;
        let request = match provider {
            Provider::Facebook | Provider::Instagram => self
                .http
                .delete(url)
                .query(&[("access_token", token.expose_secret())]),
            Provider::Tiktok => self.http.post(url).form(&[
                ("client_key", id),
                ("client_secret", secret.expose_secret()),
                ("token", token.expose_secret()),
            ]),
            Provider::Youtube | Provider::Linkedin => self.http.post(url).form(&[
                ("client_id", id),
                ("client_secret", secret.expose_secret()),
                ("token", token.expose_secret()),
            ]),
        };
        let response = request
            .send()
            .await
            .map_err(|e| ProviderError::Transient(e.without_url().to_string()))?;
        let status = response.status();
        // A token the platform no longer knows or accepts is as revoked as it gets.
        let gone = [
            reqwest::StatusCode::BAD_REQUEST,
            reqwest::StatusCode::UNAUTHORIZED,
        ];
        if status.is_success() || gone.contains(&status) {
            Ok(())
        } else {
            Err(ProviderError::Transient(format!("HTTP {status}")))
        }
    }
}
