//! What every request handler shares: the database, configuration, keys and limits.

use std::ops::Deref;
use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::config::Config;
use crate::crypto::jwt::JwtKeys;
use crate::crypto::vault::Vault;
use crate::domain::accounts::AuthLimits;

#[derive(Clone)]
pub struct AppState(Arc<Shared>);

pub struct Shared {
    pub db: DatabaseConnection,
    pub config: Config,
    pub vault: Vault,
    pub jwt: JwtKeys,
    pub auth_limits: AuthLimits,
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
