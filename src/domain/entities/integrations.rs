use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "integrations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub provider: String,
    pub external_account_id: String,
    pub handle: Option<String>,
    pub display_name: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub scopes: String,
    pub connected_by: Option<Uuid>,
    pub health: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub last_error: Option<String>,
    pub connected_at: DateTimeUtc,
    pub disconnected_at: Option<DateTimeUtc>,
    pub updated_at: DateTimeUtc,
    pub platform_user_id: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
