//! The settings of what Atelier does: media and their store, content and its generator,
//! webhooks, privacy.

use super::ser_secret_opt;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaStoreKind {
    /// Files under `<data dir>/media`.
    #[default]
    Local,
    /// An S3-compatible bucket.
    S3,
}

#[derive(Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct MediaConfig {
    /// The largest upload accepted.
    pub max_bytes: u64,
    pub store: MediaStoreKind,
    pub s3_bucket: Option<String>,
    pub s3_region: Option<String>,
    /// For S3-compatible services (MinIO, R2, …).
    pub s3_endpoint: Option<String>,
    pub s3_access_key_id: Option<String>,
    #[serde(serialize_with = "ser_secret_opt")]
    pub s3_secret_access_key: Option<SecretString>,
    /// How long a signed media link works.
    pub url_ttl_secs: u64,
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self {
            max_bytes: 100 * 1024 * 1024,
            store: MediaStoreKind::Local,
            s3_bucket: None,
            s3_region: None,
            s3_endpoint: None,
            s3_access_key_id: None,
            s3_secret_access_key: None,
            url_ttl_secs: 3600,
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default)]
pub struct ContentConfig {
    /// Mentions within this many seconds are gathered into one email per member.
    pub mention_batch_secs: u64,
}

impl Default for ContentConfig {
    fn default() -> Self {
        Self {
            mention_batch_secs: 120,
        }
    }
}

/// Which generator writes channel variants (`generateDraftVariants`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GeneratorKind {
    /// The built-in rule-based rewrite; no network.
    #[default]
    Rules,
    /// An OpenAI-compatible chat-completions endpoint at `url`.
    Openai,
}

#[derive(Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct GeneratorConfig {
    pub kind: GeneratorKind,
    /// Base URL of the API, e.g. `https://api.openai.com/v1`.
    pub url: Option<String>,
    pub model: String,
    #[serde(serialize_with = "ser_secret_opt")]
    pub api_key: Option<SecretString>,
    pub timeout_secs: u64,
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        Self {
            kind: GeneratorKind::Rules,
            url: None,
            model: "gpt-4o-mini".into(),
            api_key: None,
            timeout_secs: 30,
        }
    }
}

/// Outgoing webhook deliveries (`ATELIER_WEBHOOKS__*`).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default)]
pub struct WebhooksConfig {
    /// Let endpoints be on loopback, private or link-local addresses (an intranet
    /// receiver, or tests); off, such addresses are refused when registered and when
    /// a name resolves to one.
    pub allow_private_addresses: bool,
    /// How long one delivery may take, connection included.
    pub timeout_secs: u64,
    /// Failed attempts in a row after which an endpoint is disabled (a delivery answered
    /// slower than `slow_after_secs` counts as one).
    pub disable_after_failures: i32,
    /// A delivery answered after this many seconds is slow: delivered, and counted
    /// against its endpoint.
    pub slow_after_secs: u64,
    /// Deliveries of one workspace an instance runs at once (a share of the delivery
    /// lane's workers, so one workspace's slow endpoints cannot hold them all).
    pub max_in_flight_per_workspace: usize,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        Self {
            allow_private_addresses: false,
            timeout_secs: 10,
            disable_after_failures: 20,
            slow_after_secs: 5,
            max_in_flight_per_workspace: 2,
        }
    }
}

impl WebhooksConfig {
    pub fn policy(&self) -> crate::outbound::Policy {
        crate::outbound::Policy {
            allow_private: self.allow_private_addresses,
            timeout: std::time::Duration::from_secs(self.timeout_secs.clamp(1, 60)),
        }
    }
}

/// Abuse limits on the public privacy forms.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default)]
pub struct PrivacyConfig {
    /// Rights requests accepted per client IP within the window.
    pub requests_per_ip: u32,
    /// Rights requests accepted per email address within the window.
    pub requests_per_email: u32,
    /// Status-link lookups per client IP within the window.
    pub status_lookups_per_ip: u32,
    /// New requests one signed-in person may make in the app within 24 hours.
    pub app_requests_per_day: u64,
    pub window_secs: u64,
}

impl Default for PrivacyConfig {
    fn default() -> Self {
        Self {
            requests_per_ip: 10,
            requests_per_email: 3,
            status_lookups_per_ip: 20,
            app_requests_per_day: 5,
            window_secs: 3600,
        }
    }
}
