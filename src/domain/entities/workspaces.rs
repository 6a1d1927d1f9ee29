use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "workspaces")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub name: String,
    #[sea_orm(unique)]
    pub slug: String,
    pub brand_name: Option<String>,
    pub company: Option<String>,
    pub region: Option<String>,
    pub default_time_zone: String,
    pub billing_email: Option<String>,
    pub billing_legal_name: Option<String>,
    pub billing_country: Option<String>,
    pub billing_tax_id: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub approval_required: bool,
    /// Drafts may be scheduled only once a client reviewer approved them.
    pub client_approval_required: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
