//! The settings of how Atelier serves: the listener, GraphQL's limits, the job runner's
//! lanes and timings, authentication's lifetimes and limits, SQLite's read path.

use serde::{Deserialize, Serialize};

/// How SQLite list reads run (`ATELIER_SQLITE_READ_PATH`): see `db::reads`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SqliteReadPath {
    /// rusqlite on the blocking pool: one thread hop per statement.
    Rusqlite,
    /// SeaORM over sqlx: one hop per row.
    Sqlx,
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
    /// Only the documents of `persisted_documents` run (the allow-list mode).
    pub persisted_only: bool,
    /// A persisted query manifest (Apollo's, or a `{hash: text}` map): documents known by
    /// their SHA-256 from the start.
    pub persisted_documents: Option<std::path::PathBuf>,
    /// The most bytes of document text automatic persisted queries keep registered on
    /// one instance.
    pub persisted_cache_bytes: usize,
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
            persisted_only: false,
            persisted_documents: None,
            persisted_cache_bytes: 4 * 1024 * 1024,
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

/// Which other origins' pages may call the API from a browser (`ATELIER_CORS__*`).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default)]
pub struct CorsConfig {
    /// Comma-separated origins (`https://app.example.com`), each exactly scheme, host
    /// and port. Unset: the app URL's origin when it differs from the public URL's.
    /// Never `*`: the API answers with credentials.
    pub allowed_origins: Option<String>,
    /// How long a browser may keep a preflight's answer (browsers cap it: Chromium at
    /// two hours, Firefox at a day).
    pub max_age_secs: u64,
}

impl Default for CorsConfig {
    fn default() -> Self {
        Self {
            allowed_origins: None,
            max_age_secs: 7_200,
        }
    }
}

/// The origin of a URL (`scheme://host[:port]`, lower-case, default ports left out), or
/// `None` for something that is not an http(s) URL.
pub fn origin_of(url: &str) -> Option<String> {
    let parsed = reqwest::Url::parse(url.trim()).ok()?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return None;
    }
    let origin = parsed.origin();
    origin.is_tuple().then(|| origin.ascii_serialization())
}
