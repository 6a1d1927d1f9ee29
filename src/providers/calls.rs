//! The `Platforms` port over HTTP: each call dispatched to the platform's module.

use super::{meta, module, same_text, tiktok, token_set, Providers};
use crate::domain::channels::analytics::Metric;
use crate::domain::channels::integrations::TokenSet;
use crate::domain::channels::platform::{
    Connectable, Platforms, PostRequest, Posted, ProviderError,
};
use crate::domain::platforms::Provider;
use chrono::{DateTime, NaiveDate, Utc};
use oauth2::{
    AuthorizationCode, CsrfToken, PkceCodeChallenge, PkceCodeVerifier, Scope, TokenResponse,
};
use secrecy::{ExposeSecret, SecretString};

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
        module(provider)
            .connectable(&self.call(provider, token), scopes)
            .await
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
        module(provider)
            .publish(&self.call(provider, token), post)
            .await
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
        let recent = module(provider)
            .recent_posts(&call, post.account_id)
            .await?;
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
        module(provider)
            .account_metrics(&self.call(provider, token), account_id, from, to)
            .await
    }

    /// A published post's lifetime counts as of now.
    async fn post_metrics(
        &self,
        provider: Provider,
        token: &SecretString,
        post_id: &str,
    ) -> Result<Vec<(Metric, i64)>, ProviderError> {
        module(provider)
            .post_metrics(&self.call(provider, token), post_id)
            .await
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
