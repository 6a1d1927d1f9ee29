//! Drafts (pieces of content), every saved version of them, and their workflow.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261123_000001_accounts::Users;
use crate::m20261123_000002_workspaces::Workspaces;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Drafts::Table)
                    .col(pk_uuid(Drafts::Id))
                    .col(uuid(Drafts::WorkspaceId))
                    .col(uuid_null(Drafts::AuthorId))
                    .col(string(Drafts::Title))
                    .col(text(Drafts::Body))
                    .col(text(Drafts::Tags))
                    .col(string(Drafts::Status))
                    .col(integer(Drafts::Version))
                    .col(timestamp_with_time_zone_null(Drafts::ScheduledAt))
                    .col(string_null(Drafts::TimeZone))
                    .col(string(Drafts::Origin))
                    .col(timestamp_with_time_zone(Drafts::CreatedAt))
                    .col(timestamp_with_time_zone(Drafts::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Drafts::Table, Drafts::WorkspaceId)
                            .to(Workspaces::Table, Workspaces::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Drafts::Table, Drafts::AuthorId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_drafts_workspace_id")
                    .table(Drafts::Table)
                    .col(Drafts::WorkspaceId)
                    .col(Drafts::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_drafts_workspace_status_id")
                    .table(Drafts::Table)
                    .col(Drafts::WorkspaceId)
                    .col(Drafts::Status)
                    .col(Drafts::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(DraftRevisions::Table)
                    .col(pk_uuid(DraftRevisions::Id))
                    .col(uuid(DraftRevisions::DraftId))
                    .col(integer(DraftRevisions::Version))
                    .col(string(DraftRevisions::Title))
                    .col(text(DraftRevisions::Body))
                    .col(text(DraftRevisions::Tags))
                    .col(uuid_null(DraftRevisions::EditorId))
                    .col(timestamp_with_time_zone(DraftRevisions::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(DraftRevisions::Table, DraftRevisions::DraftId)
                            .to(Drafts::Table, Drafts::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(DraftRevisions::Table, DraftRevisions::EditorId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_draft_revisions_draft_version")
                    .table(DraftRevisions::Table)
                    .col(DraftRevisions::DraftId)
                    .col(DraftRevisions::Version)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(DraftWorkflow::Table)
                    .col(pk_uuid(DraftWorkflow::Id))
                    .col(uuid(DraftWorkflow::DraftId))
                    .col(uuid_null(DraftWorkflow::ActorId))
                    .col(string_null(DraftWorkflow::FromStatus))
                    .col(string(DraftWorkflow::ToStatus))
                    .col(text_null(DraftWorkflow::Note))
                    .col(timestamp_with_time_zone(DraftWorkflow::At))
                    .foreign_key(
                        ForeignKey::create()
                            .from(DraftWorkflow::Table, DraftWorkflow::DraftId)
                            .to(Drafts::Table, Drafts::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(DraftWorkflow::Table, DraftWorkflow::ActorId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_draft_workflow_draft")
                    .table(DraftWorkflow::Table)
                    .col(DraftWorkflow::DraftId)
                    .col(DraftWorkflow::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(DraftWorkflow::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(DraftRevisions::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Drafts::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Drafts {
    Table,
    Id,
    WorkspaceId,
    AuthorId,
    Title,
    Body,
    Tags,
    Status,
    Version,
    ScheduledAt,
    TimeZone,
    Origin,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum DraftRevisions {
    Table,
    Id,
    DraftId,
    Version,
    Title,
    Body,
    Tags,
    EditorId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum DraftWorkflow {
    Table,
    Id,
    DraftId,
    ActorId,
    FromStatus,
    ToStatus,
    Note,
    At,
}
