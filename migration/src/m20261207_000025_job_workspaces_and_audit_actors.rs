//! Each job may name the workspace it works for (`jobs.workspace_id`, nullable: most
//! jobs serve no one workspace). The delivery lane reads it to bound a workspace's
//! share of its workers: one workspace's slow endpoints cannot take every worker.
//!
//! And the audit log is indexed by actor and action: a log-in that meets the
//! per-account bound asks whether the account signed in from the client's network
//! before, which must read an index, not the whole log, however many guesses ask it.

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
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_audit_events_actor_action_at")
                    .table(Alias::new("audit_events"))
                    .col(Alias::new("actor_id"))
                    .col(Alias::new("action"))
                    .col(Alias::new("at"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_audit_events_actor_action_at")
                    .table(Alias::new("audit_events"))
                    .to_owned(),
            )
            .await?;
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
