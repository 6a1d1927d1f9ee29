//! Abuse limits are counted in the database, so that every instance counts against the
//! same figure: one row per limit and key (a keyed hash, never the address or email
//! itself), holding the instants of the hits inside its window.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(RateLimits::Table)
                    .col(string_len(RateLimits::Scope, 40))
                    .col(string_len(RateLimits::KeyHash, 64))
                    .col(text(RateLimits::Hits))
                    .col(timestamp_with_time_zone(RateLimits::ExpiresAt))
                    .primary_key(
                        Index::create()
                            .col(RateLimits::Scope)
                            .col(RateLimits::KeyHash),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_rate_limits_expires_at")
                    .table(RateLimits::Table)
                    .col(RateLimits::ExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(RateLimits::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum RateLimits {
    Table,
    Scope,
    KeyHash,
    Hits,
    ExpiresAt,
}
