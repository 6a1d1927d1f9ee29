//! Client review links: drafts an ADMIN shares with someone outside the workspace, who
//! approves or asks for changes per draft from an emailed link. The reviewer's address is
//! personal data (export, erasure and retention reach it); workflow records and comments
//! a decision wrote point back to their link. A workspace may require a client's approval
//! before anything is scheduled.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ReviewLinks::Table)
                    .col(pk_uuid(ReviewLinks::Id))
                    .col(uuid(ReviewLinks::WorkspaceId))
                    .col(string_len_null(ReviewLinks::ReviewerEmail, 320))
                    .col(string_len(ReviewLinks::TokenHash, 64))
                    .col(string_len(ReviewLinks::TimeZone, 64))
                    .col(text_null(ReviewLinks::Message))
                    .col(string_len(ReviewLinks::State, 32))
                    .col(uuid_null(ReviewLinks::CreatedBy))
                    .col(timestamp_with_time_zone(ReviewLinks::CreatedAt))
                    .col(timestamp_with_time_zone(ReviewLinks::ExpiresAt))
                    .col(timestamp_with_time_zone_null(ReviewLinks::DecidedAt))
                    .col(timestamp_with_time_zone_null(ReviewLinks::RevokedAt))
                    .col(uuid_null(ReviewLinks::RevokedBy))
                    .col(timestamp_with_time_zone_null(ReviewLinks::MinimisedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(ReviewLinks::Table, ReviewLinks::WorkspaceId)
                            .to(Workspaces::Table, Workspaces::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ReviewLinkDrafts::Table)
                    .col(pk_uuid(ReviewLinkDrafts::Id))
                    .col(uuid(ReviewLinkDrafts::LinkId))
                    .col(uuid(ReviewLinkDrafts::DraftId))
                    .col(integer(ReviewLinkDrafts::Position))
                    .col(timestamp_with_time_zone_null(ReviewLinkDrafts::PlannedAt))
                    .col(string_len_null(ReviewLinkDrafts::Decision, 32))
                    .col(text_null(ReviewLinkDrafts::Comment))
                    .col(integer_null(ReviewLinkDrafts::DraftVersion))
                    .col(timestamp_with_time_zone_null(ReviewLinkDrafts::DecidedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(ReviewLinkDrafts::Table, ReviewLinkDrafts::LinkId)
                            .to(ReviewLinks::Table, ReviewLinks::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(ReviewLinkDrafts::Table, ReviewLinkDrafts::DraftId)
                            .to(Drafts::Table, Drafts::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_review_link_drafts_link_draft")
                    .table(ReviewLinkDrafts::Table)
                    .col(ReviewLinkDrafts::LinkId)
                    .col(ReviewLinkDrafts::DraftId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_review_link_drafts_draft")
                    .table(ReviewLinkDrafts::Table)
                    .col(ReviewLinkDrafts::DraftId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_review_links_workspace")
                    .table(ReviewLinks::Table)
                    .col(ReviewLinks::WorkspaceId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_review_links_email")
                    .table(ReviewLinks::Table)
                    .col(ReviewLinks::ReviewerEmail)
                    .to_owned(),
            )
            .await?;
        // SQLite adds one column per statement.
        manager
            .alter_table(
                Table::alter()
                    .table(DraftWorkflow::Table)
                    .add_column(uuid_null(DraftWorkflow::ReviewLinkId))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Comments::Table)
                    .add_column(uuid_null(Comments::ReviewLinkId))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Workspaces::Table)
                    .add_column(boolean(Workspaces::ClientApprovalRequired).default(false))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Workspaces::Table)
                    .drop_column(Workspaces::ClientApprovalRequired)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Comments::Table)
                    .drop_column(Comments::ReviewLinkId)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(DraftWorkflow::Table)
                    .drop_column(DraftWorkflow::ReviewLinkId)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(ReviewLinkDrafts::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(ReviewLinks::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum ReviewLinks {
    Table,
    Id,
    WorkspaceId,
    ReviewerEmail,
    TokenHash,
    TimeZone,
    Message,
    State,
    CreatedBy,
    CreatedAt,
    ExpiresAt,
    DecidedAt,
    RevokedAt,
    RevokedBy,
    MinimisedAt,
}

#[derive(DeriveIden)]
enum ReviewLinkDrafts {
    Table,
    Id,
    LinkId,
    DraftId,
    Position,
    PlannedAt,
    Decision,
    Comment,
    DraftVersion,
    DecidedAt,
}

#[derive(DeriveIden)]
enum DraftWorkflow {
    Table,
    ReviewLinkId,
}

#[derive(DeriveIden)]
enum Comments {
    Table,
    ReviewLinkId,
}

#[derive(DeriveIden)]
enum Drafts {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Workspaces {
    Table,
    Id,
    ClientApprovalRequired,
}
