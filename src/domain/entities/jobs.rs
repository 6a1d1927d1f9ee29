use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "jobs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub kind: String,
    #[sea_orm(column_type = "Text")]
    pub payload: String,
    pub run_at: DateTimeUtc,
    pub attempts: i32,
    pub max_attempts: i32,
    pub locked_until: Option<DateTimeUtc>,
    #[sea_orm(column_type = "Text", nullable)]
    pub last_error: Option<String>,
    pub done_at: Option<DateTimeUtc>,
    pub failed_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub give_up_at: Option<DateTimeUtc>,
    /// The lease of the runner that holds the job (while `locked_until` is ahead).
    pub lease_id: Option<Uuid>,
    /// The workspace the job works for, where it serves one (webhook deliveries).
    pub workspace_id: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
