use sea_orm::entity::prelude::*;

/// One abuse limit's hits for one key, inside its window (see `domain::rate_limit`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "rate_limits")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub scope: String,
    /// HMAC-SHA256 of the key (an address, an email) under the server's limit key.
    #[sea_orm(primary_key, auto_increment = false)]
    pub key_hash: String,
    /// The hits inside the window: a JSON array of Unix milliseconds, oldest first.
    #[sea_orm(column_type = "Text")]
    pub hits: String,
    /// When the newest hit leaves the window (the row may be deleted then).
    pub expires_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
