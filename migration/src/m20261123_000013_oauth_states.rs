//! Pending channel connections: the OAuth `state` (stored hashed, single use, expiring)
//! bound to the user, workspace and platform, with the sealed PKCE verifier.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(OauthStates::Table)
                    .col(pk_uuid(OauthStates::Id))
                    .col(string_uniq(OauthStates::StateHash))
                    .col(uuid(OauthStates::UserId))
                    .col(uuid(OauthStates::WorkspaceId))
                    .col(string(OauthStates::Provider))
                    .col(text(OauthStates::VerifierSealed))
                    .col(timestamp_with_time_zone(OauthStates::ExpiresAt))
                    .col(timestamp_with_time_zone_null(OauthStates::UsedAt))
                    .col(timestamp_with_time_zone(OauthStates::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(OauthStates::Table, OauthStates::UserId)
                            .to(Alias::new("users"), Alias::new("id"))
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(OauthStates::Table, OauthStates::WorkspaceId)
                            .to(Alias::new("workspaces"), Alias::new("id"))
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(OauthStates::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum OauthStates {
    Table,
    Id,
    StateHash,
    UserId,
    WorkspaceId,
    Provider,
    VerifierSealed,
    ExpiresAt,
    UsedAt,
    CreatedAt,
}
