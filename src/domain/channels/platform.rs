//! What the channels context needs from the platforms, in its own words: the
//! [`Platforms`] port (authorize, exchange, renew, revoke, publish, read metrics) and the
//! values it speaks in. `providers::Providers` implements it over HTTP; the domain never
//! names the adapter.

use chrono::{DateTime, NaiveDate, Utc};
use secrecy::SecretString;

use super::analytics::Metric;
use super::integrations::{ConnectedAccount, TokenSet};
use crate::domain::platforms::Provider;

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
    /// The platform refused the request itself (a 4xx other than 401 and 429): trying
    /// again would fail the same way.
    #[error("the platform refused the post: {0}")]
    Rejected(String),
}

/// What a connection may attach: the accounts the person can choose from (one on most
/// platforms), and their app-scoped user id where the platform has one.
pub struct Connectable {
    pub platform_user_id: Option<String>,
    pub choices: Vec<Choice>,
}

/// One account the person may connect: a Page, or the Instagram account linked to one.
pub struct Choice {
    pub account: ConnectedAccount,
    /// The token the account acts with: the Page's own token for a Page.
    pub acting_token: Option<SecretString>,
}

/// What to post: the text (and a title where the platform has one) and the files that
/// go with it, in order — as the domain's media plan chose them for the platform (one
/// video, one image, or several images or items that make one post).
pub struct PostRequest<'a> {
    /// The platform's id of the account posting (a page, a member, a channel).
    pub account_id: &'a str,
    pub title: Option<&'a str>,
    pub text: &'a str,
    pub media: &'a [PostMedia],
}

impl PostRequest<'_> {
    /// The first video among the files.
    pub fn video(&self) -> Option<&PostMedia> {
        self.media.iter().find(|m| m.is_video())
    }
}

/// A file to attach: a link the platform can fetch (signed, expiring) and, for
/// platforms that take uploads, its bytes.
pub struct PostMedia {
    pub content_type: String,
    pub url: String,
    pub bytes: Option<bytes::Bytes>,
}

impl PostMedia {
    pub fn is_video(&self) -> bool {
        self.content_type.starts_with("video/")
    }
}

/// A post the platform took: its id and, where known, its address.
#[derive(Clone, Debug)]
pub struct Posted {
    pub id: String,
    pub url: Option<String>,
}

/// The platforms, as the channels context calls them.
#[async_trait::async_trait]
pub trait Platforms: Send + Sync {
    /// The authorization URL for `state`, with a fresh PKCE (S256) challenge; returns the
    /// URL and the verifier to keep for the exchange.
    fn authorize(
        &self,
        provider: Provider,
        state: &str,
    ) -> Result<(String, SecretString), ProviderError>;

    /// Exchanges an authorization code (with the PKCE verifier) for tokens.
    async fn exchange(
        &self,
        provider: Provider,
        code: &str,
        verifier: &SecretString,
    ) -> Result<(TokenSet, Vec<String>), ProviderError>;

    /// The accounts a token may connect, and the person's app-scoped user id where the
    /// platform has one (Meta): every Page or Instagram account they manage, or the one
    /// account other platforms log in as.
    async fn connectable(
        &self,
        provider: Provider,
        token: &SecretString,
        scopes: Vec<String>,
    ) -> Result<Connectable, ProviderError>;

    /// Renews a channel's access: the OAuth refresh grant, or for a Facebook Page a
    /// fresh Page token from the person's token (kept as its refresh token).
    async fn renew(
        &self,
        provider: Provider,
        tokens: &TokenSet,
        account_id: &str,
    ) -> Result<TokenSet, ProviderError>;

    /// Publishes a post to the account `post.account_id` speaks for.
    async fn publish(
        &self,
        provider: Provider,
        token: &SecretString,
        post: &PostRequest<'_>,
    ) -> Result<Posted, ProviderError>;

    /// Looks among the account's recent posts for one with `post`'s text made after
    /// `since`: how an interrupted publish finds out whether the platform took it.
    async fn find_post(
        &self,
        provider: Provider,
        token: &SecretString,
        post: &PostRequest<'_>,
        since: DateTime<Utc>,
    ) -> Result<Option<Posted>, ProviderError>;

    /// The account's daily metrics for the days `from..=to` (levels such as followers
    /// for the day they were read).
    async fn account_metrics(
        &self,
        provider: Provider,
        token: &SecretString,
        account_id: &str,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<(NaiveDate, Metric, i64)>, ProviderError>;

    /// A published post's lifetime counts as of now.
    async fn post_metrics(
        &self,
        provider: Provider,
        token: &SecretString,
        post_id: &str,
    ) -> Result<Vec<(Metric, i64)>, ProviderError>;

    /// Revokes a token at the platform: Meta's `DELETE /me/permissions`, the others'
    /// revocation endpoints (RFC 7009 form posts, with TikTok's `client_key`).
    async fn revoke(&self, provider: Provider, token: &SecretString) -> Result<(), ProviderError>;
}
