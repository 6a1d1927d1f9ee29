use sea_orm::entity::prelude::*;

/// Drafts shared with someone outside the workspace through one emailed link.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "review_links")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub workspace_id: Uuid,
    /// The reviewer's address, lower-cased; none once erased or past retention.
    pub reviewer_email: Option<String>,
    /// SHA-256 of the link's secret.
    pub token_hash: String,
    /// The reviewer's time zone, in which the page shows times.
    pub time_zone: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub message: Option<String>,
    /// PENDING, APPROVED, CHANGES_REQUESTED or REVOKED (EXPIRED is read from `expires_at`).
    pub state: String,
    pub created_by: Option<Uuid>,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    pub decided_at: Option<DateTimeUtc>,
    pub revoked_at: Option<DateTimeUtc>,
    pub revoked_by: Option<Uuid>,
    /// When the reviewer's address was removed (erasure or retention).
    pub minimised_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
