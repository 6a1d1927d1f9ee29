use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "comments")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub draft_id: Uuid,
    pub parent_id: Option<Uuid>,
    pub author_id: Option<Uuid>,
    #[sea_orm(column_type = "Text")]
    pub body: String,
    #[sea_orm(column_type = "Text")]
    pub mentions: String,
    pub resolved_at: Option<DateTimeUtc>,
    pub resolved_by: Option<Uuid>,
    pub edited_at: Option<DateTimeUtc>,
    pub deleted_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    /// Written by the reviewer of this client review link (the author is then none).
    pub review_link_id: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::drafts::Entity",
        from = "Column::DraftId",
        to = "super::drafts::Column::Id",
        on_update = "NoAction",
        on_delete = "Cascade"
    )]
    Drafts,
}

impl Related<super::drafts::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Drafts.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
