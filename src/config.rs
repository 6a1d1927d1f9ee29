//! Typed configuration: defaults, then an optional `atelier.toml`, then `ATELIER_*`
//! environment variables (nested keys joined with `__`). Secrets are `SecretString` and
//! never reach Debug output or logs.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Format, Serialized, Toml};
use figment::Figment;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    #[default]
    Development,
    Production,
}

#[derive(Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct Config {
    pub env: Environment,
    pub listen: String,
    pub public_url: Option<String>,
    pub app_url: Option<String>,
    pub data_dir: PathBuf,
    #[serde(serialize_with = "ser_secret_opt")]
    pub database_url: Option<SecretString>,
    #[serde(serialize_with = "ser_secret_opt")]
    pub smtp_url: Option<SecretString>,
    /// The longest one email's whole SMTP conversation may take (connecting, the
    /// greeting, TLS, every command and the message): lettre's own timeout covers only
    /// connecting, and a server that accepts and then stalls would hold the job forever.
    pub smtp_timeout_secs: u64,
    pub mail_from: String,
    #[serde(serialize_with = "ser_secret_opt")]
    pub token_keys: Option<SecretString>,
    #[serde(serialize_with = "ser_secret_opt")]
    pub jwt_secret: Option<SecretString>,
    #[serde(serialize_with = "ser_secret_opt")]
    pub meta_app_secret: Option<SecretString>,
    pub server: ServerConfig,
    pub graphql: GraphqlLimits,
    pub jobs: JobsConfig,
    pub auth: AuthConfig,
    pub privacy: PrivacyConfig,
    pub generator: GeneratorConfig,
    pub content: ContentConfig,
    pub media: MediaConfig,
    /// SQLite only: connections that read beside the single writer.
    pub sqlite_readers: u32,
    /// SQLite only: how list reads run (`rusqlite` on the blocking pool, or `sqlx`).
    pub sqlite_read_path: SqliteReadPath,
    /// Comma-separated address blocks of reverse proxies whose `Forwarded` /
    /// `X-Forwarded-For` headers are believed (unset: none; the peer is the client).
    pub trusted_proxies: Option<String>,
    pub providers: ProvidersConfig,
    pub webhooks: WebhooksConfig,
    /// Declares that one instance serves this deployment, so media and export packages
    /// may stay on its local disk in production.
    pub single_instance: bool,
}

/// How SQLite list reads run (`ATELIER_SQLITE_READ_PATH`): see `db::reads`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SqliteReadPath {
    /// rusqlite on the blocking pool: one thread hop per statement.
    Rusqlite,
    /// SeaORM over sqlx: one hop per row.
    Sqlx,
}

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
    fn endpoints(auth: &str, token: &str, revoke: &str, api: &str, scopes: &str) -> Self {
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

/// What one connection may hold on to (`ATELIER_SERVER__*`).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default)]
pub struct ServerConfig {
    /// Seconds a request's head may take to arrive, counted from when the connection
    /// opened or sent its previous response (so it also ends idle keep-alives).
    pub header_read_timeout_secs: u64,
    /// Seconds a connection may pass without a byte sent or received (a stalled body,
    /// a reader that stopped reading). Keep it above `graphql.request_timeout_secs`.
    pub idle_timeout_secs: u64,
    /// Connections served at once; more wait in the listen backlog until one closes.
    pub max_connections: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            header_read_timeout_secs: 10,
            idle_timeout_secs: 60,
            max_connections: 512,
        }
    }
}

impl ServerConfig {
    pub fn connection_limits(&self) -> crate::serve::ConnectionLimits {
        crate::serve::ConnectionLimits {
            header_read: std::time::Duration::from_secs(self.header_read_timeout_secs.max(1)),
            idle: std::time::Duration::from_secs(self.idle_timeout_secs.max(1)),
            max_connections: self.max_connections.max(1),
        }
    }
}

/// Limits that protect the API from expensive or abusive requests.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default)]
pub struct GraphqlLimits {
    pub max_depth: usize,
    pub max_complexity: usize,
    pub max_batch: usize,
    /// Fields one HTTP request may select, fragments expanded, aliases and every
    /// operation of a batch counted; checked before validation.
    pub max_expanded_fields: u64,
    /// Errors one response carries at most (the rest are summed up in one more).
    pub max_errors: usize,
    pub max_body_bytes: usize,
    pub request_timeout_secs: u64,
    /// Seconds a WebSocket has to send `connection_init` and be acknowledged.
    pub ws_init_timeout_secs: u64,
    /// WebSockets one client address may hold open.
    pub max_sockets_per_client: usize,
    /// WebSockets open at once, never more than half of `server.max_connections`.
    pub max_sockets: usize,
    /// Subscriptions one WebSocket runs at once.
    pub max_subscriptions_per_socket: usize,
    /// The longest answer one HTTP request gets, in bytes; a longer one is refused.
    pub max_answer_bytes: usize,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default)]
pub struct JobsConfig {
    /// Whether this instance runs background jobs (off for an instance that only serves
    /// requests while others run the jobs).
    pub run_in_process: bool,
    /// How often an idle runner looks for due jobs.
    pub poll_interval_ms: u64,
    /// First retry delay; each further attempt doubles it, up to `retry_cap_ms`.
    pub retry_base_ms: u64,
    /// The longest delay between two tries (30 minutes).
    pub retry_cap_ms: u64,
    /// How long an email keeps being retried after its first failure (72 hours).
    pub mail_retry_secs: u64,
    /// How long a privacy request's fulfilment keeps being retried (24 hours).
    pub fulfilment_retry_secs: u64,
    /// How long any other job keeps being retried (24 hours).
    pub retry_secs: u64,
    /// How long a claimed job stays locked before another runner may take it over.
    pub lease_secs: u64,
    /// How often housekeeping runs (expiring unconfirmed privacy requests).
    pub maintenance_interval_secs: u64,
    /// On shutdown, how long the job in hand may go on before it is given back (its
    /// lease released, so another instance takes it at once) and the runner stops.
    pub shutdown_grace_secs: u64,
    /// Jobs each lane runs at once: emails (and reset links), webhook deliveries,
    /// platform calls (publishing, token renewals and revocations), everything else.
    pub mail_workers: usize,
    pub delivery_workers: usize,
    pub publishing_workers: usize,
    pub background_workers: usize,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default)]
pub struct AuthConfig {
    pub access_token_minutes: i64,
    pub refresh_token_days: i64,
    /// Failed log-ins allowed per email address and client address within the window.
    pub login_failures_per_email: u32,
    /// Failed log-ins allowed per email address from all clients together.
    pub login_failures_per_account: u32,
    /// Failed log-ins allowed per client IP within the window.
    pub login_failures_per_ip: u32,
    /// Sign-ups allowed per client IP within the window.
    pub signups_per_ip: u32,
    /// Password-reset emails one address gets per window (more are silently skipped).
    pub password_resets_per_email: u32,
    pub rate_window_secs: u64,
    /// How often each instance reads the sessions other instances ended (a log-out here
    /// takes effect at once).
    pub revocation_poll_ms: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            env: Environment::Development,
            listen: "127.0.0.1:8080".into(),
            public_url: None,
            app_url: None,
            data_dir: PathBuf::from("./data"),
            database_url: None,
            smtp_url: None,
            smtp_timeout_secs: 60,
            mail_from: "Atelier <no-reply@atelier.localhost>".into(),
            token_keys: None,
            jwt_secret: None,
            meta_app_secret: None,
            server: ServerConfig::default(),
            graphql: GraphqlLimits::default(),
            jobs: JobsConfig::default(),
            auth: AuthConfig::default(),
            privacy: PrivacyConfig::default(),
            generator: GeneratorConfig::default(),
            content: ContentConfig::default(),
            media: MediaConfig::default(),
            sqlite_readers: 4,
            sqlite_read_path: SqliteReadPath::Rusqlite,
            trusted_proxies: None,
            providers: ProvidersConfig::default(),
            webhooks: WebhooksConfig::default(),
            single_instance: false,
        }
    }
}

impl Default for GraphqlLimits {
    fn default() -> Self {
        Self {
            max_depth: 12,
            max_complexity: 2_000,
            max_batch: 10,
            max_expanded_fields: 2_000,
            max_errors: 20,
            max_body_bytes: 256 * 1024,
            request_timeout_secs: 30,
            ws_init_timeout_secs: 3,
            max_sockets_per_client: 16,
            max_sockets: 256,
            max_subscriptions_per_socket: 50,
            max_answer_bytes: 16 * 1024 * 1024,
        }
    }
}

impl JobsConfig {
    /// The retry policy these settings describe.
    /// The jobs `lane` runs at once (at least one).
    pub fn workers(&self, lane: crate::domain::ops::jobs::Lane) -> usize {
        use crate::domain::ops::jobs::Lane;
        match lane {
            Lane::Mail => self.mail_workers,
            Lane::Delivery => self.delivery_workers,
            Lane::Publishing => self.publishing_workers,
            Lane::Background => self.background_workers,
        }
        .max(1)
    }

    pub fn retry_policy(&self) -> crate::domain::ops::jobs::RetryPolicy {
        let ms = |v: u64| chrono::Duration::milliseconds(v.min(i64::MAX as u64) as i64);
        let secs = |v: u64| chrono::Duration::seconds(v.min(i64::MAX as u64 / 1_000) as i64);
        crate::domain::ops::jobs::RetryPolicy {
            base: ms(self.retry_base_ms.max(1)),
            cap: ms(self.retry_cap_ms.max(self.retry_base_ms).max(1)),
            mail: secs(self.mail_retry_secs),
            fulfilment: secs(self.fulfilment_retry_secs),
            other: secs(self.retry_secs),
        }
    }
}

impl Default for JobsConfig {
    fn default() -> Self {
        Self {
            run_in_process: true,
            poll_interval_ms: 1_000,
            retry_base_ms: 5_000,
            retry_cap_ms: 30 * 60 * 1_000,
            mail_retry_secs: 72 * 3_600,
            fulfilment_retry_secs: 24 * 3_600,
            retry_secs: 24 * 3_600,
            lease_secs: 300,
            maintenance_interval_secs: 600,
            shutdown_grace_secs: 20,
            mail_workers: 2,
            delivery_workers: 4,
            publishing_workers: 2,
            background_workers: 1,
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            access_token_minutes: 15,
            refresh_token_days: 30,
            login_failures_per_email: 5,
            login_failures_per_account: 100,
            login_failures_per_ip: 50,
            signups_per_ip: 20,
            password_resets_per_email: 3,
            rate_window_secs: 15 * 60,
            revocation_poll_ms: 2_000,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid configuration: {0}")]
    Invalid(String),
    #[error("production mode refuses to start without: {}", .0.join(", "))]
    MissingForProduction(Vec<String>),
}

impl Config {
    /// The trusted proxies' address blocks, or the setting's error.
    pub fn trusted_proxies(&self) -> Result<Vec<crate::http::Cidr>, ConfigError> {
        let Some(list) = &self.trusted_proxies else {
            return Ok(Vec::new());
        };
        list.split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(|item| {
                crate::http::Cidr::parse(item).ok_or_else(|| {
                    ConfigError::Invalid(format!(
                        "ATELIER_TRUSTED_PROXIES: {item:?} is not an address or a block like 10.0.0.0/8"
                    ))
                })
            })
            .collect()
    }

    /// Reads defaults, then `atelier.toml` in the working directory if present, then the
    /// `ATELIER_*` environment.
    pub fn load() -> Result<Self, ConfigError> {
        Self::load_from(Path::new("atelier.toml"))
    }

    pub fn load_from(file: &Path) -> Result<Self, ConfigError> {
        Self::load_with_env(file, std::env::vars())
    }

    /// Like `load_from`, with the environment given. Every variable's value is taken as
    /// text — a Meta app id of digits stays the string it is — and read as a number or
    /// a boolean only where the setting is one.
    pub fn load_with_env(
        file: &Path,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut figment =
            Figment::from(Serialized::defaults(Config::default())).merge(Toml::file(file));
        for (name, value) in vars {
            let Some(key) = name.strip_prefix("ATELIER_") else {
                continue;
            };
            if key.is_empty() {
                continue;
            }
            let path = key.to_ascii_lowercase().replace("__", ".");
            figment = figment.merge(Serialized::default(&path, value));
        }
        figment
            .extract_lossy()
            .map_err(|e| ConfigError::Invalid(e.to_string()))
    }

    pub fn is_production(&self) -> bool {
        self.env == Environment::Production
    }

    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.listen.parse().map_err(|_| {
            ConfigError::Invalid(format!(
                "ATELIER_LISTEN must be host:port, got {:?}",
                self.listen
            ))
        })
    }

    /// The address people reach the portal at, without a trailing slash.
    pub fn public_url(&self) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => format!("http://{}", self.listen),
        }
    }

    /// Where links in emails for app flows point; the public URL unless set.
    pub fn app_url(&self) -> String {
        match &self.app_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => self.public_url(),
        }
    }

    /// The database URL: the configured one, or SQLite in the data directory.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.expose_secret().to_string(),
            None => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("atelier.sqlite").display()
            ),
        }
    }

    /// Production refuses development defaults; this names every missing setting at once.
    pub fn check_production(&self) -> Result<(), ConfigError> {
        if !self.is_production() {
            return Ok(());
        }
        let mut missing: Vec<String> = Vec::new();
        let is_postgres = self.database_url.as_ref().is_some_and(|u| {
            let u = u.expose_secret();
            u.starts_with("postgres://") || u.starts_with("postgresql://")
        });
        if !is_postgres {
            missing.push("ATELIER_DATABASE_URL (a PostgreSQL URL)".into());
        }
        if self.smtp_url.is_none() {
            missing.push("ATELIER_SMTP_URL".into());
        }
        if self.token_keys.is_none() {
            missing.push("ATELIER_TOKEN_KEYS".into());
        }
        match &self.jwt_secret {
            None => missing.push("ATELIER_JWT_SECRET".into()),
            // HS256 with a short secret can be guessed offline from one token.
            Some(secret) if secret.expose_secret().len() < MIN_JWT_SECRET_BYTES => missing.push(
                format!("ATELIER_JWT_SECRET of at least {MIN_JWT_SECRET_BYTES} characters (a random one: openssl rand -base64 48)"),
            ),
            Some(_) => {}
        }
        match &self.public_url {
            None => missing.push("ATELIER_PUBLIC_URL".into()),
            Some(url) if !is_https_url(url) => missing.push(format!(
                "ATELIER_PUBLIC_URL as an https:// URL with a host (got {url:?})"
            )),
            Some(_) => {}
        }
        if self.media.store == MediaStoreKind::Local && !self.single_instance {
            // Another instance could neither serve this one's files nor delete them.
            missing.push(
                "ATELIER_MEDIA__STORE=s3 with its bucket (media and export packages shared by every instance), or ATELIER_SINGLE_INSTANCE=true"
                    .into(),
            );
        }
        if missing.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::MissingForProduction(missing))
        }
    }
}

/// The shortest JWT secret production accepts.
const MIN_JWT_SECRET_BYTES: usize = 32;

/// An absolute `https://` URL with a host and nothing after the path.
fn is_https_url(value: &str) -> bool {
    reqwest::Url::parse(value).is_ok_and(|url| {
        url.scheme() == "https"
            && url.host_str().is_some_and(|h| !h.is_empty())
            && url.query().is_none()
            && url.fragment().is_none()
            && url.username().is_empty()
    })
}

fn ser_secret_opt<S: serde::Serializer>(
    value: &Option<SecretString>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    // Only used to seed figment's defaults, which never carry secrets; a set secret is
    // still written so a round trip keeps it.
    match value {
        Some(secret) => serializer.serialize_some(secret.expose_secret()),
        None => serializer.serialize_none(),
    }
}

fn redact(value: &Option<SecretString>) -> &'static str {
    if value.is_some() {
        "[set]"
    } else {
        "[unset]"
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("env", &self.env)
            .field("listen", &self.listen)
            .field("public_url", &self.public_url)
            .field("app_url", &self.app_url)
            .field("data_dir", &self.data_dir)
            .field("database_url", &redact(&self.database_url))
            .field("smtp_url", &redact(&self.smtp_url))
            .field("mail_from", &self.mail_from)
            .field("token_keys", &redact(&self.token_keys))
            .field("jwt_secret", &redact(&self.jwt_secret))
            .field("meta_app_secret", &redact(&self.meta_app_secret))
            .field("graphql", &self.graphql)
            .field("jobs", &self.jobs)
            .field("auth", &self.auth)
            .field("privacy", &self.privacy)
            .field("sqlite_readers", &self.sqlite_readers)
            .field("sqlite_read_path", &self.sqlite_read_path)
            .field("content", &self.content)
            .field("media.store", &self.media.store)
            .field("media.max_bytes", &self.media.max_bytes)
            .field("media.s3_bucket", &self.media.s3_bucket)
            .field("media.s3_endpoint", &self.media.s3_endpoint)
            .field(
                "media.s3_secret_access_key",
                &redact(&self.media.s3_secret_access_key),
            )
            .field("generator.kind", &self.generator.kind)
            .field("generator.url", &self.generator.url)
            .field("generator.model", &self.generator.model)
            .field("generator.api_key", &redact(&self.generator.api_key))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_from_the_environment_are_text_first() -> crate::TestResult {
        let vars = [
            ("ATELIER_PROVIDERS__FACEBOOK__CLIENT_ID", "1234567890123456"),
            ("ATELIER_MAIL_FROM", "true"),
            ("ATELIER_JOBS__RUN_IN_PROCESS", "false"),
            ("ATELIER_JOBS__LEASE_SECS", "42"),
            ("ATELIER_JWT_SECRET", "31415926535897932384626433832795"),
            ("HOME", "/root"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()));
        // Numbers and booleans are accepted as text.
        let config = Config::load_with_env(Path::new("/nonexistent/atelier.toml"), vars)?;
        assert_eq!(
            config.providers.facebook.client_id.as_deref(),
            Some("1234567890123456")
        );
        assert_eq!(config.mail_from, "true");
        assert!(!config.jobs.run_in_process);
        assert_eq!(config.jobs.lease_secs, 42);
        assert_eq!(
            config
                .jwt_secret
                .as_ref()
                .map(|s| s.expose_secret().to_string()),
            Some("31415926535897932384626433832795".to_string())
        );
        let bad = Config::load_with_env(
            Path::new("/nonexistent/atelier.toml"),
            [("ATELIER_JOBS__LEASE_SECS".to_string(), "soon".to_string())],
        );
        let message = bad.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(message.contains("lease_secs"), "{message}");
        Ok(())
    }

    #[test]
    fn production_names_every_missing_secret() {
        let config = Config {
            env: Environment::Production,
            database_url: Some(SecretString::from("sqlite://x.db")),
            ..Config::default()
        };
        let err = config.check_production().unwrap_err().to_string();
        for name in [
            "ATELIER_DATABASE_URL",
            "ATELIER_SMTP_URL",
            "ATELIER_TOKEN_KEYS",
            "ATELIER_JWT_SECRET",
            "ATELIER_PUBLIC_URL",
        ] {
            assert!(err.contains(name), "{err} should name {name}");
        }
    }

    #[test]
    fn production_refuses_weak_secrets_and_bad_urls() {
        let good = Config {
            env: Environment::Production,
            database_url: Some(SecretString::from("postgres://db/atelier")),
            smtp_url: Some(SecretString::from("smtps://smtp.example.com")),
            token_keys: Some(SecretString::from("k1:AAAA")),
            jwt_secret: Some(SecretString::from("x".repeat(32))),
            public_url: Some("https://atelier.example.com".into()),
            single_instance: true,
            ..Config::default()
        };
        assert!(good.check_production().is_ok());
        // Several instances cannot share files on one's local disk.
        let local = Config {
            single_instance: false,
            ..good.clone()
        };
        let err = local.check_production().unwrap_err().to_string();
        assert!(
            err.contains("ATELIER_MEDIA__STORE=s3") && err.contains("ATELIER_SINGLE_INSTANCE=true"),
            "{err}"
        );
        let mut shared = local.clone();
        shared.media.store = MediaStoreKind::S3;
        assert!(shared.check_production().is_ok());
        let weak = Config {
            jwt_secret: Some(SecretString::from("hunter")),
            ..good.clone()
        };
        let err = weak.check_production().unwrap_err().to_string();
        assert!(err.contains("ATELIER_JWT_SECRET of at least 32"), "{err}");
        assert!(!err.contains("hunter"), "the secret is never shown: {err}");
        for url in [
            "atelier.example.com",
            "http://atelier.example.com",
            "https://",
            "https://atelier.example.com/?next=evil",
            "not a url",
        ] {
            let bad = Config {
                public_url: Some(url.into()),
                ..good.clone()
            };
            let err = bad.check_production().unwrap_err().to_string();
            assert!(
                err.contains("ATELIER_PUBLIC_URL as an https:// URL"),
                "{url}: {err}"
            );
        }
    }

    #[test]
    fn trusted_proxies_are_address_blocks() -> crate::TestResult {
        let config = Config {
            trusted_proxies: Some("10.0.0.0/8, 2001:db8::/32,192.0.2.1".into()),
            ..Config::default()
        };
        assert_eq!(config.trusted_proxies().map(|p| p.len()).ok(), Some(3));
        let bad = Config {
            trusted_proxies: Some("10.0.0.0/8, the-load-balancer".into()),
            ..Config::default()
        };
        let err = bad.trusted_proxies().unwrap_err().to_string();
        assert!(
            err.contains("ATELIER_TRUSTED_PROXIES") && err.contains("the-load-balancer"),
            "{err}"
        );
        assert!(Config::default().trusted_proxies()?.is_empty());
        Ok(())
    }

    #[test]
    fn debug_output_hides_secrets() {
        let config = Config {
            jwt_secret: Some(SecretString::from("super-secret-value")),
            database_url: Some(SecretString::from("postgres://u:hunter2@db/atelier")),
            ..Config::default()
        };
        let shown = format!("{config:?}");
        assert!(!shown.contains("super-secret-value"));
        assert!(!shown.contains("hunter2"));
        assert!(shown.contains("[set]"));
    }
}
