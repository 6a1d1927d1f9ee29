//! The platforms' settings: each one's client id and secret, its endpoints (the real ones
//! by default, a fake's in the tests), scopes and timeout.

use super::ser_secret_opt;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

/// One social platform's OAuth client and endpoints (`ATELIER_PROVIDERS__<NAME>__*`).
/// The defaults are the platform's real endpoints; a platform is unavailable until its
/// client id and secret are set.
#[derive(Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct ProviderSettings {
    pub client_id: Option<String>,
    #[serde(serialize_with = "ser_secret_opt")]
    pub client_secret: Option<SecretString>,
    pub auth_url: String,
    pub token_url: String,
    pub revoke_url: String,
    pub api_url: String,
    /// Where the platform's analytics API lives when it is not `api_url` (YouTube
    /// Analytics); unset means `api_url`.
    pub analytics_url: Option<String>,
    /// Space-separated scopes asked for.
    pub scopes: String,
}

impl Default for ProviderSettings {
    fn default() -> Self {
        Self::endpoints("", "", "", "", "")
    }
}

impl ProviderSettings {
    pub(super) fn endpoints(
        auth: &str,
        token: &str,
        revoke: &str,
        api: &str,
        scopes: &str,
    ) -> Self {
        Self {
            client_id: None,
            client_secret: None,
            auth_url: auth.into(),
            token_url: token.into(),
            revoke_url: revoke.into(),
            api_url: api.into(),
            analytics_url: None,
            scopes: scopes.into(),
        }
    }
}

#[derive(Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct ProvidersConfig {
    pub tiktok: ProviderSettings,
    pub youtube: ProviderSettings,
    pub instagram: ProviderSettings,
    pub facebook: ProviderSettings,
    pub linkedin: ProviderSettings,
    /// Seconds before an HTTP call to a platform gives up.
    pub timeout_secs: u64,
    /// Access tokens are renewed this many seconds before they expire.
    pub refresh_before_secs: u64,
    /// Each channel's metrics are pulled this often; 0 turns the periodic pull off.
    pub sync_interval_secs: u64,
}

impl Default for ProvidersConfig {
    fn default() -> Self {
        let graph = "https://graph.facebook.com/v21.0";
        Self {
            tiktok: ProviderSettings::endpoints(
                "https://www.tiktok.com/v2/auth/authorize/",
                "https://open.tiktokapis.com/v2/oauth/token/",
                "https://open.tiktokapis.com/v2/oauth/revoke/",
                "https://open.tiktokapis.com",
                "user.info.basic video.publish video.list",
            ),
            youtube: ProviderSettings {
                analytics_url: Some("https://youtubeanalytics.googleapis.com".into()),
                ..ProviderSettings::endpoints(
                    "https://accounts.google.com/o/oauth2/v2/auth",
                    "https://oauth2.googleapis.com/token",
                    "https://oauth2.googleapis.com/revoke",
                    "https://www.googleapis.com",
                    "https://www.googleapis.com/auth/youtube.upload https://www.googleapis.com/auth/youtube.readonly https://www.googleapis.com/auth/yt-analytics.readonly",
                )
            },
            instagram: ProviderSettings::endpoints(
                "https://www.facebook.com/v21.0/dialog/oauth",
                &format!("{graph}/oauth/access_token"),
                &format!("{graph}/me/permissions"),
                graph,
                "instagram_basic instagram_content_publish instagram_manage_insights pages_show_list",
            ),
            facebook: ProviderSettings::endpoints(
                "https://www.facebook.com/v21.0/dialog/oauth",
                &format!("{graph}/oauth/access_token"),
                &format!("{graph}/me/permissions"),
                graph,
                "pages_manage_posts pages_read_engagement read_insights pages_show_list",
            ),
            linkedin: ProviderSettings::endpoints(
                "https://www.linkedin.com/oauth/v2/authorization",
                "https://www.linkedin.com/oauth/v2/accessToken",
                "https://www.linkedin.com/oauth/v2/revoke",
                "https://api.linkedin.com",
                "openid profile w_member_social",
            ),
            timeout_secs: 20,
            refresh_before_secs: 600,
            sync_interval_secs: 6 * 3600,
        }
    }
}
