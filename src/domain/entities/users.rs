use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(unique)]
    pub email: String,
    pub display_name: String,
    pub password_hash: String,
    pub email_verified_at: Option<DateTimeUtc>,
    pub locale: String,
    pub time_zone: String,
    pub status: String,
    pub mention_emails: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// A person's account as reads that show people need it: everything but the password
/// hash, which only signing in and changing the password read.
#[derive(Clone, Debug, PartialEq, Eq, sea_orm::DerivePartialModel)]
#[sea_orm(entity = "Entity")]
pub struct Person {
    pub id: Uuid,
    pub email: String,
    pub display_name: String,
    pub email_verified_at: Option<DateTimeUtc>,
    pub locale: String,
    pub time_zone: String,
    pub status: String,
    pub mention_emails: bool,
    pub created_at: DateTimeUtc,
}

impl From<Model> for Person {
    fn from(user: Model) -> Self {
        Self {
            id: user.id,
            email: user.email,
            display_name: user.display_name,
            email_verified_at: user.email_verified_at,
            locale: user.locale,
            time_zone: user.time_zone,
            status: user.status,
            mention_emails: user.mention_emails,
            created_at: user.created_at,
        }
    }
}
