use sea_orm::entity::prelude::*;

/// One draft of a review link, with the reviewer's decision on it.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "review_link_drafts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub link_id: Uuid,
    pub draft_id: Uuid,
    pub position: i32,
    /// When the team plans to publish it, shown to the reviewer in their time zone.
    pub planned_at: Option<DateTimeUtc>,
    /// APPROVED or CHANGES_REQUESTED; none until decided.
    pub decision: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub comment: Option<String>,
    /// The draft's version the decision was about.
    pub draft_version: Option<i32>,
    pub decided_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
