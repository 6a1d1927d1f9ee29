use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "privacy_requests")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(unique)]
    pub reference: String,
    pub kind: String,
    pub requester_email: Option<String>,
    pub requester_email_hash: Option<String>,
    pub user_id: Option<Uuid>,
    pub workspace_name: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub channel_identifiers: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub details: Option<String>,
    pub source: String,
    pub jurisdiction: String,
    pub status: String,
    pub received_at: DateTimeUtc,
    pub verified_at: Option<DateTimeUtc>,
    pub due_at: DateTimeUtc,
    pub extended_until: Option<DateTimeUtc>,
    #[sea_orm(column_type = "Text", nullable)]
    pub extension_reason: Option<String>,
    pub assigned_staff_id: Option<Uuid>,
    pub decision: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub decision_reason: Option<String>,
    pub completed_at: Option<DateTimeUtc>,
    pub external_account_id: Option<String>,
    #[sea_orm(unique)]
    pub confirmation_code: Option<String>,
    pub updated_at: DateTimeUtc,
    pub identity_verified_at: Option<DateTimeUtc>,
    pub identity_method: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
