//! An index shaped for a draft's live comments, newest first: the comment count and the
//! latest comments of a page of drafts are each one bounded walk of it.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("idx_comments_draft_live")
                    .table(Alias::new("comments"))
                    .col(Alias::new("draft_id"))
                    .col(Alias::new("deleted_at"))
                    .col(Alias::new("id"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_comments_draft_live")
                    .table(Alias::new("comments"))
                    .to_owned(),
            )
            .await
    }
}
