//! Export packages: the ZIP made for an access or export request, its checksum, expiry
//! and how often it was downloaded.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ExportPackages::Table)
                    .col(pk_uuid(ExportPackages::Id))
                    .col(uuid(ExportPackages::RequestId))
                    .col(string(ExportPackages::StorageKey))
                    .col(string(ExportPackages::Sha256))
                    .col(big_integer(ExportPackages::SizeBytes))
                    .col(timestamp_with_time_zone(ExportPackages::ExpiresAt))
                    .col(integer(ExportPackages::DownloadCount).default(0))
                    .col(timestamp_with_time_zone(ExportPackages::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(ExportPackages::Table, ExportPackages::RequestId)
                            .to(PrivacyRequests::Table, PrivacyRequests::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ExportPackages::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum ExportPackages {
    Table,
    Id,
    RequestId,
    StorageKey,
    Sha256,
    SizeBytes,
    ExpiresAt,
    DownloadCount,
    CreatedAt,
}

#[derive(DeriveIden)]
enum PrivacyRequests {
    Table,
    Id,
}
