use sea_orm::entity::prelude::*;

/// A URL a workspace's ADMINs registered for some of its events.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_endpoints")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub url: String,
    /// The event types it receives: a JSON array of names (`draft.created`, …).
    #[sea_orm(column_type = "Text")]
    pub events: String,
    /// The signing secret (`whsec_…`), sealed with the token keys.
    #[sea_orm(column_type = "Text")]
    pub secret: String,
    pub enabled: bool,
    /// Failed attempts in a row, across deliveries; a success resets it.
    pub failure_streak: i32,
    pub disabled_at: Option<DateTimeUtc>,
    pub created_by: Option<Uuid>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
