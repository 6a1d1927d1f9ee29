//! One data key per person, sealed by the vault: audit details that must name a person
//! are encrypted with it, and erasure deletes it (crypto-shredding), so the audit chain
//! stays intact while the detail becomes unreadable.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(PersonKeys::Table)
                    .col(pk_uuid(PersonKeys::UserId))
                    .col(text(PersonKeys::KeySealed))
                    .col(timestamp_with_time_zone(PersonKeys::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(PersonKeys::Table, PersonKeys::UserId)
                            .to(Alias::new("users"), Alias::new("id"))
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(PersonKeys::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum PersonKeys {
    Table,
    UserId,
    KeySealed,
    CreatedAt,
}
