//! One row per system a request's fulfilment touches, so that a fulfilment resumes where
//! it stopped and never runs a finished step twice.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ExecutionSteps::Table)
                    .col(pk_uuid(ExecutionSteps::Id))
                    .col(uuid(ExecutionSteps::RequestId))
                    .col(integer(ExecutionSteps::Position))
                    .col(string(ExecutionSteps::Step))
                    .col(string(ExecutionSteps::Status))
                    .col(big_integer(ExecutionSteps::RowsAffected).default(0))
                    .col(text_null(ExecutionSteps::Error))
                    .col(integer(ExecutionSteps::Attempts).default(0))
                    .col(timestamp_with_time_zone_null(ExecutionSteps::FinishedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(ExecutionSteps::Table, ExecutionSteps::RequestId)
                            .to(PrivacyRequests::Table, PrivacyRequests::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_execution_steps_request_step")
                    .table(ExecutionSteps::Table)
                    .col(ExecutionSteps::RequestId)
                    .col(ExecutionSteps::Step)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ExecutionSteps::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum ExecutionSteps {
    #[sea_orm(iden = "privacy_execution_steps")]
    Table,
    Id,
    RequestId,
    Position,
    Step,
    Status,
    RowsAffected,
    Error,
    Attempts,
    FinishedAt,
}

#[derive(DeriveIden)]
enum PrivacyRequests {
    Table,
    Id,
}
