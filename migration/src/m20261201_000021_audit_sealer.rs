//! Audit events are appended without a lock and linked into the chain afterwards by the
//! sealer: `chain_pos` is an event's place in the chain, set when it is sealed (with its
//! `prev_hash` and `hash`; both empty until then). Events written before this change
//! were linked in `seq` order as they were appended, so their place is their `seq`.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(AuditEvents::Table)
                    .add_column(big_integer_null(AuditEvents::ChainPos))
                    .to_owned(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::update()
                    .table(AuditEvents::Table)
                    .value(AuditEvents::ChainPos, Expr::col(AuditEvents::Seq))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_audit_events_chain_pos")
                    .table(AuditEvents::Table)
                    .col(AuditEvents::ChainPos)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_audit_events_chain_pos")
                    .table(AuditEvents::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(AuditEvents::Table)
                    .drop_column(AuditEvents::ChainPos)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    Seq,
    ChainPos,
}
