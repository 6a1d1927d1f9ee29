//! Publishing and analytics: the log of every try to publish a draft's channel (written
//! before the platform is called, so a crash can be reconciled rather than repeated), when
//! a channel was published, the metric store keyed by (channel, post or account, metric,
//! day), and each channel's sync state.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

fn fk(
    from: (impl IntoIden, impl IntoIden),
    to: (&str, &str),
    on_delete: ForeignKeyAction,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(from.0, from.1)
        .to(Alias::new(to.0), Alias::new(to.1))
        .on_delete(on_delete)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("draft_targets"))
                    .add_column(timestamp_with_time_zone_null(Alias::new("published_at")))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(PublishAttempts::Table)
                    .col(pk_uuid(PublishAttempts::Id))
                    .col(uuid(PublishAttempts::TargetId))
                    .col(integer(PublishAttempts::Attempt))
                    .col(timestamp_with_time_zone(PublishAttempts::StartedAt))
                    .col(timestamp_with_time_zone_null(PublishAttempts::FinishedAt))
                    .col(string(PublishAttempts::Outcome))
                    .col(string_null(PublishAttempts::ProviderPostId))
                    .col(text_null(PublishAttempts::ProviderError))
                    .foreign_key(&mut fk(
                        (PublishAttempts::Table, PublishAttempts::TargetId),
                        ("draft_targets", "id"),
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_publish_attempts_target")
                    .table(PublishAttempts::Table)
                    .col(PublishAttempts::TargetId)
                    .col(PublishAttempts::Attempt)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_publish_attempts_started")
                    .table(PublishAttempts::Table)
                    .col(PublishAttempts::StartedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(MetricPoints::Table)
                    .col(pk_uuid(MetricPoints::Id))
                    .col(uuid(MetricPoints::WorkspaceId))
                    .col(uuid(MetricPoints::IntegrationId))
                    .col(uuid_null(MetricPoints::TargetId))
                    // "" for the account, else the target's id: part of the unique key
                    // (a NULL would not be).
                    .col(string(MetricPoints::Subject))
                    .col(string(MetricPoints::Metric))
                    .col(date(MetricPoints::Day))
                    .col(big_integer(MetricPoints::Value))
                    .col(string(MetricPoints::Source))
                    .col(timestamp_with_time_zone(MetricPoints::CollectedAt))
                    .foreign_key(&mut fk(
                        (MetricPoints::Table, MetricPoints::WorkspaceId),
                        ("workspaces", "id"),
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut fk(
                        (MetricPoints::Table, MetricPoints::IntegrationId),
                        ("integrations", "id"),
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut fk(
                        (MetricPoints::Table, MetricPoints::TargetId),
                        ("draft_targets", "id"),
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_metric_points_key")
                    .table(MetricPoints::Table)
                    .col(MetricPoints::IntegrationId)
                    .col(MetricPoints::Subject)
                    .col(MetricPoints::Metric)
                    .col(MetricPoints::Day)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // The series query reads only this index: workspace, account-level, metric, days.
        manager
            .create_index(
                Index::create()
                    .name("idx_metric_points_series")
                    .table(MetricPoints::Table)
                    .col(MetricPoints::WorkspaceId)
                    .col(MetricPoints::Subject)
                    .col(MetricPoints::Metric)
                    .col(MetricPoints::Day)
                    .col(MetricPoints::IntegrationId)
                    .col(MetricPoints::Value)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_metric_points_target")
                    .table(MetricPoints::Table)
                    .col(MetricPoints::TargetId)
                    .col(MetricPoints::Metric)
                    .col(MetricPoints::Day)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SyncStates::Table)
                    .col(pk_uuid(SyncStates::IntegrationId))
                    .col(date_null(SyncStates::Watermark))
                    .col(timestamp_with_time_zone_null(SyncStates::LastAttemptAt))
                    .col(timestamp_with_time_zone_null(SyncStates::LastSuccessAt))
                    .col(text_null(SyncStates::LastError))
                    .col(integer(SyncStates::PointsLastRun))
                    .foreign_key(&mut fk(
                        (SyncStates::Table, SyncStates::IntegrationId),
                        ("integrations", "id"),
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            SyncStates::Table.into_iden(),
            MetricPoints::Table.into_iden(),
            PublishAttempts::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("draft_targets"))
                    .drop_column(Alias::new("published_at"))
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum PublishAttempts {
    Table,
    Id,
    TargetId,
    Attempt,
    StartedAt,
    FinishedAt,
    Outcome,
    ProviderPostId,
    ProviderError,
}

#[derive(DeriveIden)]
enum MetricPoints {
    Table,
    Id,
    WorkspaceId,
    IntegrationId,
    TargetId,
    Subject,
    Metric,
    Day,
    Value,
    Source,
    CollectedAt,
}

#[derive(DeriveIden)]
enum SyncStates {
    Table,
    IntegrationId,
    Watermark,
    LastAttemptAt,
    LastSuccessAt,
    LastError,
    PointsLastRun,
}
