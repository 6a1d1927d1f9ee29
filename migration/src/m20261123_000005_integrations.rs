//! Connected channels and their sealed tokens.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261123_000001_accounts::Users;
use crate::m20261123_000002_workspaces::Workspaces;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Integrations::Table)
                    .col(pk_uuid(Integrations::Id))
                    .col(uuid(Integrations::WorkspaceId))
                    .col(string(Integrations::Provider))
                    .col(string(Integrations::ExternalAccountId))
                    .col(string_null(Integrations::Handle))
                    .col(string_null(Integrations::DisplayName))
                    .col(text(Integrations::Scopes))
                    .col(uuid_null(Integrations::ConnectedBy))
                    .col(string(Integrations::Health))
                    .col(text_null(Integrations::LastError))
                    .col(timestamp_with_time_zone(Integrations::ConnectedAt))
                    .col(timestamp_with_time_zone_null(Integrations::DisconnectedAt))
                    .col(timestamp_with_time_zone(Integrations::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Integrations::Table, Integrations::WorkspaceId)
                            .to(Workspaces::Table, Workspaces::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Integrations::Table, Integrations::ConnectedBy)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_integrations_account")
                    .table(Integrations::Table)
                    .col(Integrations::WorkspaceId)
                    .col(Integrations::Provider)
                    .col(Integrations::ExternalAccountId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_integrations_external")
                    .table(Integrations::Table)
                    .col(Integrations::Provider)
                    .col(Integrations::ExternalAccountId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(IntegrationTokens::Table)
                    .col(pk_uuid(IntegrationTokens::IntegrationId))
                    .col(text(IntegrationTokens::AccessTokenSealed))
                    .col(text_null(IntegrationTokens::RefreshTokenSealed))
                    .col(string(IntegrationTokens::KeyId))
                    .col(timestamp_with_time_zone_null(
                        IntegrationTokens::AccessExpiresAt,
                    ))
                    .col(timestamp_with_time_zone(IntegrationTokens::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(IntegrationTokens::Table, IntegrationTokens::IntegrationId)
                            .to(Integrations::Table, Integrations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(IntegrationTokens::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Integrations::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Integrations {
    Table,
    Id,
    WorkspaceId,
    Provider,
    ExternalAccountId,
    Handle,
    DisplayName,
    Scopes,
    ConnectedBy,
    Health,
    LastError,
    ConnectedAt,
    DisconnectedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum IntegrationTokens {
    Table,
    IntegrationId,
    AccessTokenSealed,
    RefreshTokenSealed,
    KeyId,
    AccessExpiresAt,
    UpdatedAt,
}
