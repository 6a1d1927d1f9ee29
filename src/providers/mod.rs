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

use chrono::{DateTime, NaiveDate, Utc};

use crate::config::{Config, ProviderSettings};
use crate::domain::channels::analytics::Metric;
use crate::domain::channels::integrations::{ConnectedAccount, TokenSet};
pub use crate::domain::channels::platform::{
    Choice, Connectable, Platforms, PostMedia, PostRequest, Posted, ProviderError,
};
use crate::domain::platforms::Provider;

mod facebook;
mod instagram;
mod linkedin;
pub mod meta;
mod tiktok;
mod youtube;

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
            _ => Err(ProviderError::Unavailable(provider.name())),
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
        // LinkedIn and Google document the client's credentials as form fields of the
        // token request; LinkedIn does not document HTTP Basic.
        Ok(BasicClient::new(ClientId::new(id.to_string()))
            .set_client_secret(ClientSecret::new(secret.expose_secret().to_string()))
            .set_auth_type(oauth2::AuthType::RequestBody)
            .set_auth_uri(AuthUrl::new(settings.auth_url.clone())?)
            .set_token_uri(TokenUrl::new(settings.token_url.clone())?)
            .set_redirect_uri(RedirectUrl::new(self.redirect_uri(provider))?))
    }

    /// Renews an access token with the refresh token. A platform that answers with an
    /// OAuth error (invalid_grant and the like) refused it: the person must reconnect.
    pub async fn refresh(
        &self,
        provider: Provider,
        refresh_token: &SecretString,
    ) -> Result<TokenSet, ProviderError> {
        if provider == Provider::Tiktok {
            let (key, secret) = self.credentials(provider)?;
            return tiktok::token_request(
                &self.http,
                &self.settings(provider).token_url,
                &[
                    ("client_key", key),
                    ("client_secret", secret.expose_secret()),
                    ("grant_type", "refresh_token"),
                    ("refresh_token", refresh_token.expose_secret()),
                ],
            )
            .await
            .map(|(tokens, _)| tokens);
        }
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

    /// A Facebook Page's token renewed from the person's token (kept as the channel's
    /// refresh token).
    pub async fn page_token(
        &self,
        person_token: &SecretString,
        page_id: &str,
    ) -> Result<TokenSet, ProviderError> {
        let call = self.call(Provider::Facebook, person_token);
        let token = facebook::page_token(&call, page_id).await?;
        Ok(TokenSet {
            access_token: SecretString::from(token),
            refresh_token: None,
            expires_at: None,
        })
    }

    fn call<'a>(&'a self, provider: Provider, token: &'a SecretString) -> Call<'a> {
        let settings = self.settings(provider);
        Call {
            http: &self.http,
            token,
            api: settings.api_url.trim_end_matches('/'),
            analytics: settings
                .analytics_url
                .as_deref()
                .unwrap_or(&settings.api_url)
                .trim_end_matches('/'),
        }
    }
}

#[async_trait::async_trait]
impl Platforms for Providers {
    /// The authorization URL for `state`, with a fresh PKCE (S256) challenge; returns the
    /// URL and the verifier to keep for the exchange.
    fn authorize(
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
    async fn exchange(
        &self,
        provider: Provider,
        code: &str,
        verifier: &SecretString,
    ) -> Result<(TokenSet, Vec<String>), ProviderError> {
        if Provider::META.contains(&provider) {
            // Facebook Login: a short-lived token for the code, exchanged at once for a
            // long-lived one; Meta's answer names no scopes, so the ones asked for stand.
            let credentials = self.credentials(provider)?;
            let token_url = &self.settings(provider).token_url;
            let short = meta::exchange_code(
                &self.http,
                token_url,
                credentials,
                &self.redirect_uri(provider),
                code,
                verifier,
            )
            .await?;
            let long =
                meta::long_lived(&self.http, token_url, credentials, &short.access_token).await?;
            let scopes = self
                .settings(provider)
                .scopes
                .split_whitespace()
                .map(str::to_string)
                .collect();
            return Ok((long, scopes));
        }
        if provider == Provider::Tiktok {
            // TikTok's token endpoint wants `client_key` in the form, which the oauth2
            // crate cannot send.
            let (key, secret) = self.credentials(provider)?;
            let redirect = self.redirect_uri(provider);
            return tiktok::token_request(
                &self.http,
                &self.settings(provider).token_url,
                &[
                    ("client_key", key),
                    ("client_secret", secret.expose_secret()),
                    ("grant_type", "authorization_code"),
                    ("code", code),
                    ("redirect_uri", &redirect),
                    ("code_verifier", verifier.expose_secret()),
                ],
            )
            .await;
        }
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

    /// The accounts a token may connect, and the person's app-scoped user id where the
    /// platform has one (Meta): every Page or Instagram account they manage, or the one
    /// account other platforms log in as.
    async fn connectable(
        &self,
        provider: Provider,
        token: &SecretString,
        scopes: Vec<String>,
    ) -> Result<Connectable, ProviderError> {
        let call = self.call(provider, token);
        let profile = match provider {
            Provider::Facebook | Provider::Instagram => {
                let platform_user_id = meta::app_scoped_user_id(&call).await?;
                let mut choices = meta::accounts(&call, provider, &scopes).await?;
                for choice in &mut choices {
                    choice.account.platform_user_id = Some(platform_user_id.clone());
                }
                return Ok(Connectable {
                    platform_user_id: Some(platform_user_id),
                    choices,
                });
            }
            Provider::Linkedin => linkedin::profile(&call).await?,
            Provider::Youtube => youtube::profile(&call).await?,
            Provider::Tiktok => tiktok::profile(&call).await?,
        };
        let Some(id) = profile.id else {
            return Err(ProviderError::Transient(
                "the platform's profile answer has no account id".into(),
            ));
        };
        Ok(Connectable {
            platform_user_id: None,
            choices: vec![Choice {
                account: ConnectedAccount {
                    external_account_id: id,
                    handle: profile.handle,
                    display_name: profile.name,
                    scopes,
                    platform_user_id: None,
                },
                acting_token: profile.acting_token.map(SecretString::from),
            }],
        })
    }

    /// Renews a channel's access: the OAuth refresh grant, or for a Facebook Page a
    /// fresh Page token from the person's token (kept as its refresh token).
    async fn renew(
        &self,
        provider: Provider,
        tokens: &TokenSet,
        account_id: &str,
    ) -> Result<TokenSet, ProviderError> {
        let no_refresh = || ProviderError::Auth("no refresh token to renew with".into());
        match provider {
            // The person's long-lived token (kept in the refresh slot) is exchanged for a
            // fresh one, which hands out the Page's token.
            Provider::Facebook => {
                let user = tokens.refresh_token.as_ref().ok_or_else(no_refresh)?;
                let long = meta::long_lived(
                    &self.http,
                    &self.settings(provider).token_url,
                    self.credentials(provider)?,
                    user,
                )
                .await?;
                let page = self.page_token(&long.access_token, account_id).await?;
                Ok(TokenSet {
                    access_token: page.access_token,
                    refresh_token: Some(long.access_token),
                    expires_at: long.expires_at,
                })
            }
            // Instagram acts with the person's long-lived token itself.
            Provider::Instagram => {
                meta::long_lived(
                    &self.http,
                    &self.settings(provider).token_url,
                    self.credentials(provider)?,
                    &tokens.access_token,
                )
                .await
            }
            _ => {
                let refresh = tokens.refresh_token.as_ref().ok_or_else(no_refresh)?;
                self.refresh(provider, refresh).await
            }
        }
    }

    /// Publishes a post to the account `post.account_id` speaks for.
    async fn publish(
        &self,
        provider: Provider,
        token: &SecretString,
        post: &PostRequest<'_>,
    ) -> Result<Posted, ProviderError> {
        let call = self.call(provider, token);
        match provider {
            Provider::Linkedin => linkedin::publish(&call, post).await,
            Provider::Youtube => youtube::publish(&call, post).await,
            Provider::Tiktok => tiktok::publish(&call, post).await,
            Provider::Facebook => facebook::publish(&call, post).await,
            Provider::Instagram => instagram::publish(&call, post).await,
        }
    }

    /// Looks among the account's recent posts for one with `post`'s text made after
    /// `since`: how an interrupted publish finds out whether the platform took it.
    async fn find_post(
        &self,
        provider: Provider,
        token: &SecretString,
        post: &PostRequest<'_>,
        since: DateTime<Utc>,
    ) -> Result<Option<Posted>, ProviderError> {
        let call = self.call(provider, token);
        let recent = match provider {
            Provider::Linkedin => linkedin::recent_posts(&call, post.account_id).await?,
            Provider::Youtube => youtube::recent_posts(&call).await?,
            Provider::Tiktok => tiktok::recent_posts(&call).await?,
            Provider::Facebook => facebook::recent_posts(&call, post.account_id).await?,
            Provider::Instagram => instagram::recent_posts(&call, post.account_id).await?,
        };
        let wanted = post
            .title
            .filter(|_| provider == Provider::Youtube)
            .unwrap_or(post.text);
        let slack = chrono::Duration::minutes(5);
        Ok(recent
            .into_iter()
            .find(|p| {
                same_text(&p.text, wanted) && p.created_at.is_none_or(|at| at >= since - slack)
            })
            .map(|p| p.posted))
    }

    /// The account's daily metrics for the days `from..=to` (levels such as followers
    /// for the day they were read).
    async fn account_metrics(
        &self,
        provider: Provider,
        token: &SecretString,
        account_id: &str,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<(NaiveDate, Metric, i64)>, ProviderError> {
        let call = self.call(provider, token);
        match provider {
            Provider::Linkedin => linkedin::account_metrics(&call, from, to).await,
            Provider::Youtube => youtube::account_metrics(&call, from, to).await,
            Provider::Tiktok => tiktok::account_metrics(&call, to).await,
            Provider::Facebook => facebook::account_metrics(&call, account_id, from, to).await,
            Provider::Instagram => instagram::account_metrics(&call, account_id, from, to).await,
        }
    }

    /// A published post's lifetime counts as of now.
    async fn post_metrics(
        &self,
        provider: Provider,
        token: &SecretString,
        post_id: &str,
    ) -> Result<Vec<(Metric, i64)>, ProviderError> {
        let call = self.call(provider, token);
        match provider {
            Provider::Linkedin => linkedin::post_metrics(&call, post_id).await,
            Provider::Youtube => youtube::post_metrics(&call, post_id).await,
            Provider::Tiktok => tiktok::post_metrics(&call, post_id).await,
            Provider::Facebook => facebook::post_metrics(&call, post_id).await,
            Provider::Instagram => instagram::post_metrics(&call, post_id).await,
        }
    }

    /// Revokes a token at the platform: Meta's `DELETE /me/permissions`, the others'
    /// revocation endpoints (RFC 7009 form posts, with TikTok's `client_key`).
    async fn revoke(&self, provider: Provider, token: &SecretString) -> Result<(), ProviderError> {
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

/// The account a token speaks for, as a platform describes it.
pub(crate) struct Profile {
    pub id: Option<String>,
    pub handle: Option<String>,
    pub name: Option<String>,
    /// The token that acts for the account, when not the person's own.
    pub acting_token: Option<String>,
}

/// One of an account's recent posts, as a platform lists them.
pub(crate) struct RecentPost {
    pub posted: Posted,
    pub text: String,
    pub created_at: Option<DateTime<Utc>>,
}

fn same_text(found: &str, wanted: &str) -> bool {
    let (found, wanted) = (found.trim(), wanted.trim());
    !wanted.is_empty() && (found == wanted || (found.len() >= 40 && wanted.starts_with(found)))
}

/// One platform call's context: the HTTP client (no redirects), the bearer token, and
/// the platform's API addresses.
pub(crate) struct Call<'a> {
    http: &'a reqwest::Client,
    token: &'a SecretString,
    api: &'a str,
    analytics: &'a str,
}

impl Call<'_> {
    fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .get(format!("{}{path}", self.api))
            .bearer_auth(self.token.expose_secret())
    }

    fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .post(format!("{}{path}", self.api))
            .bearer_auth(self.token.expose_secret())
    }

    /// A PUT of bytes to an upload address the platform handed out.
    fn put_bytes(
        &self,
        url: &str,
        content_type: &str,
        bytes: bytes::Bytes,
    ) -> reqwest::RequestBuilder {
        self.http
            .put(url)
            .bearer_auth(self.token.expose_secret())
            .header("content-type", content_type)
            .body(bytes)
    }

    /// Sends a request and sorts the answer: 401 is an authorization failure (renew and
    /// retry once), 429 and 5xx and network failures pass, other 4xx are refusals.
    async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, ProviderError> {
        let response = request
            .send()
            .await
            .map_err(|e| ProviderError::Transient(e.without_url().to_string()))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let body: String = response
            .text()
            .await
            .unwrap_or_default()
            .chars()
            .take(300)
            .collect();
        let what = if body.is_empty() {
            format!("HTTP {status}")
        } else {
            format!("HTTP {status}: {body}")
        };
        Err(match status.as_u16() {
            401 => ProviderError::Auth(what),
            // Meta answers a dead token with 400 and error code 190.
            400 | 403 if meta::is_token_error(&body) => ProviderError::Auth(what),
            429 | 500..=599 => ProviderError::Transient(what),
            _ => ProviderError::Rejected(what),
        })
    }

    async fn json(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<serde_json::Value, ProviderError> {
        self.send(request)
            .await?
            .json()
            .await
            .map_err(|e| ProviderError::Transient(e.without_url().to_string()))
    }
}

fn text(value: &serde_json::Value) -> Option<String> {
    value.as_str().map(str::to_string)
}

/// A count that platforms send as a number or a string of digits.
fn count(value: &serde_json::Value) -> Option<i64> {
    value
        .as_i64()
        .or_else(|| value.as_str().and_then(|s| s.parse().ok()))
}

fn missing(what: &str) -> ProviderError {
    ProviderError::Transient(format!("the platform's answer has no {what}"))
}
