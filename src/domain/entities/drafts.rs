use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "drafts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub author_id: Option<Uuid>,
    pub title: String,
    #[sea_orm(column_type = "Text")]
    pub body: String,
    #[sea_orm(column_type = "Text")]
    pub tags: String,
    pub status: String,
    pub version: i32,
    pub scheduled_at: Option<DateTimeUtc>,
    pub time_zone: Option<String>,
    pub origin: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// Live comments, kept by the database's triggers on `comments` (never written here:
    /// inserted as the default, 0).
    pub comment_count: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
