//! What the privacy engine needs to keep its promises across sequences of requests:
//! the identifiers a person had before a correction (sealed with their data key, so the
//! erasure can look for them and shred them), sealed details on request timelines, and
//! a time horizon for job retries (a job is given up by time, not by a count).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(FormerIdentifiers::Table)
                    .col(pk_uuid(FormerIdentifiers::Id))
                    .col(uuid(FormerIdentifiers::UserId))
                    .col(string_len(FormerIdentifiers::Kind, 16))
                    .col(text(FormerIdentifiers::ValueSealed))
                    .col(timestamp_with_time_zone(FormerIdentifiers::ReplacedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(FormerIdentifiers::Table, FormerIdentifiers::UserId)
                            .to(Alias::new("users"), Alias::new("id"))
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_former_identifiers_user")
                    .table(FormerIdentifiers::Table)
                    .col(FormerIdentifiers::UserId)
                    .to_owned(),
            )
            .await?;
        // SQLite takes one column per ALTER TABLE.
        manager
            .alter_table(
                Table::alter()
                    .table(PrivacyRequestEvents::Table)
                    .add_column(text_null(PrivacyRequestEvents::SealedDetail))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(PrivacyRequestEvents::Table)
                    .add_column(uuid_null(PrivacyRequestEvents::SealedFor))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Jobs::Table)
                    .add_column(timestamp_with_time_zone_null(Jobs::GiveUpAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Jobs::Table)
                    .drop_column(Jobs::GiveUpAt)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(PrivacyRequestEvents::Table)
                    .drop_column(PrivacyRequestEvents::SealedFor)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(PrivacyRequestEvents::Table)
                    .drop_column(PrivacyRequestEvents::SealedDetail)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(FormerIdentifiers::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum FormerIdentifiers {
    Table,
    Id,
    UserId,
    Kind,
    ValueSealed,
    ReplacedAt,
}

#[derive(DeriveIden)]
enum PrivacyRequestEvents {
    Table,
    SealedDetail,
    SealedFor,
}

#[derive(DeriveIden)]
enum Jobs {
    Table,
    GiveUpAt,
}
