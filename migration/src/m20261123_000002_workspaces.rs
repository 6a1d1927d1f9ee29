//! Workspaces (with their billing profile), memberships and invitations.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261123_000001_accounts::Users;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Workspaces::Table)
                    .col(pk_uuid(Workspaces::Id))
                    .col(string(Workspaces::Name))
                    .col(string_uniq(Workspaces::Slug))
                    .col(string_null(Workspaces::BrandName))
                    .col(string_null(Workspaces::Company))
                    .col(string_null(Workspaces::Region))
                    .col(string(Workspaces::DefaultTimeZone).default("UTC"))
                    .col(string_null(Workspaces::BillingEmail))
                    .col(string_null(Workspaces::BillingLegalName))
                    .col(string_null(Workspaces::BillingCountry))
                    .col(string_null(Workspaces::BillingTaxId))
                    .col(timestamp_with_time_zone(Workspaces::CreatedAt))
                    .col(timestamp_with_time_zone(Workspaces::UpdatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Memberships::Table)
                    .col(pk_uuid(Memberships::Id))
                    .col(uuid(Memberships::WorkspaceId))
                    .col(uuid(Memberships::UserId))
                    .col(string(Memberships::Role))
                    .col(timestamp_with_time_zone(Memberships::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Memberships::Table, Memberships::WorkspaceId)
                            .to(Workspaces::Table, Workspaces::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Memberships::Table, Memberships::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_memberships_workspace_user")
                    .table(Memberships::Table)
                    .col(Memberships::WorkspaceId)
                    .col(Memberships::UserId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_memberships_user")
                    .table(Memberships::Table)
                    .col(Memberships::UserId)
                    .col(Memberships::Id)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Invitations::Table)
                    .col(pk_uuid(Invitations::Id))
                    .col(uuid(Invitations::WorkspaceId))
                    .col(string(Invitations::Email))
                    .col(string(Invitations::Role))
                    .col(uuid_null(Invitations::InvitedBy))
                    .col(timestamp_with_time_zone(Invitations::ExpiresAt))
                    .col(timestamp_with_time_zone_null(Invitations::AcceptedAt))
                    .col(uuid_null(Invitations::AcceptedBy))
                    .col(timestamp_with_time_zone_null(Invitations::RevokedAt))
                    .col(timestamp_with_time_zone(Invitations::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Invitations::Table, Invitations::WorkspaceId)
                            .to(Workspaces::Table, Workspaces::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Invitations::Table, Invitations::InvitedBy)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Invitations::Table, Invitations::AcceptedBy)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_invitations_workspace")
                    .table(Invitations::Table)
                    .col(Invitations::WorkspaceId)
                    .col(Invitations::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Invitations::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Memberships::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Workspaces::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
pub enum Workspaces {
    Table,
    Id,
    Name,
    Slug,
    BrandName,
    Company,
    Region,
    DefaultTimeZone,
    BillingEmail,
    BillingLegalName,
    BillingCountry,
    BillingTaxId,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Memberships {
    Table,
    Id,
    WorkspaceId,
    UserId,
    Role,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Invitations {
    Table,
    Id,
    WorkspaceId,
    Email,
    Role,
    InvitedBy,
    ExpiresAt,
    AcceptedAt,
    AcceptedBy,
    RevokedAt,
    CreatedAt,
}
