use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "integration_tokens")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub integration_id: Uuid,
    #[sea_orm(column_type = "Text")]
    pub access_token_sealed: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub refresh_token_sealed: Option<String>,
    pub key_id: String,
    pub access_expires_at: Option<DateTimeUtc>,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
