//! The social platforms over HTTP: OAuth 2.0 authorization with PKCE, the code exchange
//! (through the `oauth2` crate), the connected account's profile, and token revocation.
//! Every endpoint comes from configuration (`ATELIER_PROVIDERS__<NAME>__*`), defaulting
//! to the platform's real one; a platform without a client id and secret is unavailable.
//! The HTTP client follows no redirects.

use std::time::Duration;

use oauth2::basic::BasicClient;
use oauth2::{AuthUrl, ClientId, ClientSecret, RedirectUrl, TokenResponse, TokenUrl};
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

mod calls;

/// What each platform's module answers in its own API, given a call's context. Adding a
/// platform: its descriptor in `domain/platforms.rs`, a module here implementing this,
/// its line in `module`, and its section of the configuration.
#[async_trait::async_trait]
pub(crate) trait PlatformApi: Sync {
    /// The accounts a token may connect: the one it logs in as, or (Meta) every Page or
    /// Instagram account the person manages.
    async fn connectable(
        &self,
        call: &Call<'_>,
        scopes: Vec<String>,
    ) -> Result<Connectable, ProviderError>;

    async fn publish(
        &self,
        call: &Call<'_>,
        post: &PostRequest<'_>,
    ) -> Result<Posted, ProviderError>;

    /// The account's recent posts, newest first.
    async fn recent_posts(
        &self,
        call: &Call<'_>,
        account_id: &str,
    ) -> Result<Vec<RecentPost>, ProviderError>;

    /// The account's daily metrics for `from..=to`.
    async fn account_metrics(
        &self,
        call: &Call<'_>,
        account_id: &str,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<(NaiveDate, Metric, i64)>, ProviderError>;

    /// A published post's lifetime counts.
    async fn post_metrics(
        &self,
        call: &Call<'_>,
        post_id: &str,
    ) -> Result<Vec<(Metric, i64)>, ProviderError>;
}

/// The module that speaks a platform's API.
fn module(provider: Provider) -> &'static dyn PlatformApi {
    match provider {
        Provider::Tiktok => &tiktok::TikTok,
        Provider::Youtube => &youtube::YouTube,
        Provider::Instagram => &instagram::Instagram,
        Provider::Facebook => &facebook::Facebook,
        Provider::Linkedin => &linkedin::LinkedIn,
    }
}

/// The one account a login speaks for, from its profile.
fn one_account(profile: Profile, scopes: Vec<String>) -> Result<Connectable, ProviderError> {
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
