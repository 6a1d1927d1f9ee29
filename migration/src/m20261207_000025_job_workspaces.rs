//! Each job may name the workspace it works for (`jobs.workspace_id`, nullable: most
//! jobs serve no one workspace). The delivery lane reads it to bound a workspace's
//! share of its workers: one workspace's slow endpoints cannot take every worker.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("jobs"))
                    .add_column(ColumnDef::new(Alias::new("workspace_id")).uuid().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("jobs"))
                    .drop_column(Alias::new("workspace_id"))
                    .to_owned(),
            )
            .await
    }
}
