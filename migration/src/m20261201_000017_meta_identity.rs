//! Meta as it really is: the app-scoped user id of the person who connected a Facebook
//! Page or an Instagram account (the id Meta's signed callbacks carry), and connection
//! attempts waiting for the person to choose which of their accounts to connect.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Integrations::Table)
                    .add_column(string_len_null(Integrations::PlatformUserId, 128))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_integrations_platform_user")
                    .table(Integrations::Table)
                    .col(Integrations::PlatformUserId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(PendingConnections::Table)
                    .col(pk_uuid(PendingConnections::Id))
                    .col(uuid(PendingConnections::UserId))
                    .col(uuid(PendingConnections::WorkspaceId))
                    .col(string_len(PendingConnections::Provider, 16))
                    .col(string_len_null(PendingConnections::PlatformUserId, 128))
                    .col(text(PendingConnections::ChoicesSealed))
                    .col(timestamp_with_time_zone(PendingConnections::ExpiresAt))
                    .col(timestamp_with_time_zone(PendingConnections::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(PendingConnections::Table, PendingConnections::UserId)
                            .to(Alias::new("users"), Alias::new("id"))
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(PendingConnections::Table, PendingConnections::WorkspaceId)
                            .to(Alias::new("workspaces"), Alias::new("id"))
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(PendingConnections::Table).to_owned())
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("idx_integrations_platform_user")
                    .table(Integrations::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Integrations::Table)
                    .drop_column(Integrations::PlatformUserId)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum Integrations {
    Table,
    PlatformUserId,
}

#[derive(DeriveIden)]
enum PendingConnections {
    Table,
    Id,
    UserId,
    WorkspaceId,
    Provider,
    PlatformUserId,
    ChoicesSealed,
    ExpiresAt,
    CreatedAt,
}
