//! Staff accounts for the compliance portal (separate from product users), their cookie
//! sessions, and how a request's identity check was done.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(StaffUsers::Table)
                    .col(pk_uuid(StaffUsers::Id))
                    .col(string_uniq(StaffUsers::Email))
                    .col(string(StaffUsers::Name))
                    .col(string(StaffUsers::PasswordHash))
                    .col(string(StaffUsers::Role))
                    .col(integer(StaffUsers::FailedLogins).default(0))
                    .col(timestamp_with_time_zone_null(StaffUsers::LockedUntil))
                    .col(timestamp_with_time_zone_null(StaffUsers::DisabledAt))
                    .col(timestamp_with_time_zone(StaffUsers::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(StaffSessions::Table)
                    .col(pk_uuid(StaffSessions::Id))
                    .col(uuid(StaffSessions::StaffId))
                    .col(string(StaffSessions::TokenHash))
                    .col(string(StaffSessions::CsrfSecret))
                    .col(timestamp_with_time_zone(StaffSessions::CreatedAt))
                    .col(timestamp_with_time_zone(StaffSessions::LastSeenAt))
                    .col(timestamp_with_time_zone(StaffSessions::ExpiresAt))
                    .col(timestamp_with_time_zone_null(StaffSessions::RevokedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(StaffSessions::Table, StaffSessions::StaffId)
                            .to(StaffUsers::Table, StaffUsers::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(PrivacyRequests::Table)
                    .add_column(timestamp_with_time_zone_null(
                        PrivacyRequests::IdentityVerifiedAt,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(PrivacyRequests::Table)
                    .add_column(string_null(PrivacyRequests::IdentityMethod))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(PrivacyRequests::Table)
                    .drop_column(PrivacyRequests::IdentityMethod)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(PrivacyRequests::Table)
                    .drop_column(PrivacyRequests::IdentityVerifiedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(StaffSessions::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(StaffUsers::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum StaffUsers {
    Table,
    Id,
    Email,
    Name,
    PasswordHash,
    Role,
    FailedLogins,
    LockedUntil,
    DisabledAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum StaffSessions {
    Table,
    Id,
    StaffId,
    TokenHash,
    CsrfSecret,
    CreatedAt,
    LastSeenAt,
    ExpiresAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum PrivacyRequests {
    Table,
    IdentityVerifiedAt,
    IdentityMethod,
}
