//! What every request handler shares: the database, configuration, keys and limits.

use std::ops::Deref;
use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::config::{Config, PrivacyConfig};
use crate::crypto::jwt::JwtKeys;
use crate::crypto::vault::Vault;
use crate::domain::identity::accounts::AuthLimits;
use crate::domain::identity::rate_limit::{LimitStore, RateLimiter};
use crate::domain::staff::accounts::StaffLoginLimits;

#[derive(Clone)]
pub struct AppState(Arc<Shared>);

pub struct Shared {
    pub db: DatabaseConnection,
    /// For reads that may run beside the writer (GraphQL queries and loaders).
    pub read_db: DatabaseConnection,
    /// The list reads of the API (drafts, targets, comments, people): `read_db`, or on
    /// SQLite rusqlite connections beside it (see `db::reads`).
    pub reads: crate::db::reads::Reader,
    pub config: Config,
    pub vault: Vault,
    pub jwt: JwtKeys,
    pub auth_limits: AuthLimits,
    pub privacy_limits: PrivacyLimits,
    pub staff_login_limits: StaffLoginLimits,
    /// Signs the portal's CSRF tokens.
    pub csrf_key: [u8; 32],
    /// Writes channel variants of drafts.
    pub generator: Arc<dyn crate::domain::content::variants::ContentGenerator>,
    /// Changes that subscriptions watch.
    pub live: crate::live::LiveBus,
    /// Where uploaded media are stored.
    pub media: crate::storage::MediaStore,
    /// Where export packages are stored (beside the media).
    pub exports: crate::storage::MediaStore,
    /// Signs time-limited media links.
    pub media_link_key: [u8; 32],
    /// Derives the first-admin setup token, so that every start gives out the same one.
    pub setup_key: [u8; 32],
    /// The social platforms.
    pub providers: crate::providers::Providers,
    /// Sessions ended before their access tokens expire.
    pub revocations: crate::revocations::RevokedSessions,
}

/// Abuse limits on the public privacy forms, counted in the database for every instance.
pub struct PrivacyLimits {
    pub requests_per_ip: RateLimiter,
    pub requests_per_email: RateLimiter,
    pub status_lookups_per_ip: RateLimiter,
}

impl PrivacyLimits {
    pub fn new(config: &PrivacyConfig, store: &Arc<LimitStore>) -> Self {
        let window = std::time::Duration::from_secs(config.window_secs);
        let limit = |scope, limit| RateLimiter::new(store, scope, limit, window);
        Self {
            requests_per_ip: limit("privacy.requests_per_ip", config.requests_per_ip),
            requests_per_email: limit("privacy.requests_per_email", config.requests_per_email),
            status_lookups_per_ip: limit(
                "privacy.status_lookups_per_ip",
                config.status_lookups_per_ip,
            ),
        }
    }
}

impl AppState {
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}
