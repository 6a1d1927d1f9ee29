//! What a team builds around a draft: the channels it goes to (targets with their
//! per-channel text), generated variants with their inputs and outputs, threaded
//! comments with mentions (and the queue of mention emails waiting to be batched), and
//! uploaded media attached to drafts. Users choose whether mentions email them.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261123_000001_accounts::Users;
use crate::m20261123_000002_workspaces::Workspaces;

#[derive(DeriveMigrationName)]
pub struct Migration;

fn fk(
    from: (impl IntoIden, impl IntoIden),
    to: (impl IntoIden, impl IntoIden),
    on_delete: ForeignKeyAction,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(from.0, from.1)
        .to(to.0, to.1)
        .on_delete(on_delete)
        .to_owned()
}

async fn index(
    manager: &SchemaManager<'_>,
    name: &str,
    table: impl IntoIden + 'static,
    columns: &[Alias],
    unique: bool,
) -> Result<(), DbErr> {
    let mut index = Index::create();
    index.name(name).table(table);
    for column in columns {
        index.col(column.clone());
    }
    if unique {
        index.unique();
    }
    manager.create_index(index.to_owned()).await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .add_column(boolean(Alias::new("mention_emails")).default(true))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(DraftTargets::Table)
                    .col(pk_uuid(DraftTargets::Id))
                    .col(uuid(DraftTargets::DraftId))
                    .col(string(DraftTargets::Provider))
                    .col(uuid_null(DraftTargets::IntegrationId))
                    .col(string_null(DraftTargets::Title))
                    .col(text(DraftTargets::Body))
                    .col(string(DraftTargets::Origin))
                    .col(string(DraftTargets::Status))
                    .col(string_null(DraftTargets::ProviderPostId))
                    .col(string_null(DraftTargets::Url))
                    .col(timestamp_with_time_zone(DraftTargets::CreatedAt))
                    .col(timestamp_with_time_zone(DraftTargets::UpdatedAt))
                    .foreign_key(&mut fk(
                        (DraftTargets::Table, DraftTargets::DraftId),
                        (Drafts::Table, Drafts::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut fk(
                        (DraftTargets::Table, DraftTargets::IntegrationId),
                        (Integrations::Table, Integrations::Id),
                        ForeignKeyAction::SetNull,
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_draft_targets_draft",
            DraftTargets::Table,
            &[Alias::new("draft_id"), Alias::new("id")],
            false,
        )
        .await?;
        manager
            .create_table(
                Table::create()
                    .table(DraftGenerations::Table)
                    .col(pk_uuid(DraftGenerations::Id))
                    .col(uuid(DraftGenerations::DraftId))
                    .col(string(DraftGenerations::Generator))
                    .col(uuid_null(DraftGenerations::RequestedBy))
                    .col(text(DraftGenerations::Inputs))
                    .col(text(DraftGenerations::Outputs))
                    .col(timestamp_with_time_zone(DraftGenerations::CreatedAt))
                    .foreign_key(&mut fk(
                        (DraftGenerations::Table, DraftGenerations::DraftId),
                        (Drafts::Table, Drafts::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut fk(
                        (DraftGenerations::Table, DraftGenerations::RequestedBy),
                        (Users::Table, Users::Id),
                        ForeignKeyAction::SetNull,
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_draft_generations_draft",
            DraftGenerations::Table,
            &[Alias::new("draft_id"), Alias::new("id")],
            false,
        )
        .await?;
        manager
            .create_table(
                Table::create()
                    .table(Comments::Table)
                    .col(pk_uuid(Comments::Id))
                    .col(uuid(Comments::DraftId))
                    .col(uuid_null(Comments::ParentId))
                    .col(uuid_null(Comments::AuthorId))
                    .col(text(Comments::Body))
                    .col(text(Comments::Mentions))
                    .col(timestamp_with_time_zone_null(Comments::ResolvedAt))
                    .col(uuid_null(Comments::ResolvedBy))
                    .col(timestamp_with_time_zone_null(Comments::EditedAt))
                    .col(timestamp_with_time_zone_null(Comments::DeletedAt))
                    .col(timestamp_with_time_zone(Comments::CreatedAt))
                    .foreign_key(&mut fk(
                        (Comments::Table, Comments::DraftId),
                        (Drafts::Table, Drafts::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut fk(
                        (Comments::Table, Comments::ParentId),
                        (Comments::Table, Comments::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut fk(
                        (Comments::Table, Comments::AuthorId),
                        (Users::Table, Users::Id),
                        ForeignKeyAction::SetNull,
                    ))
                    .foreign_key(&mut fk(
                        (Comments::Table, Comments::ResolvedBy),
                        (Users::Table, Users::Id),
                        ForeignKeyAction::SetNull,
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_comments_draft",
            Comments::Table,
            &[Alias::new("draft_id"), Alias::new("id")],
            false,
        )
        .await?;
        index(
            manager,
            "idx_comments_author",
            Comments::Table,
            &[Alias::new("author_id")],
            false,
        )
        .await?;
        manager
            .create_table(
                Table::create()
                    .table(MentionNotifications::Table)
                    .col(pk_uuid(MentionNotifications::Id))
                    .col(uuid(MentionNotifications::UserId))
                    .col(uuid(MentionNotifications::CommentId))
                    .col(timestamp_with_time_zone(MentionNotifications::CreatedAt))
                    .foreign_key(&mut fk(
                        (MentionNotifications::Table, MentionNotifications::UserId),
                        (Users::Table, Users::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut fk(
                        (MentionNotifications::Table, MentionNotifications::CommentId),
                        (Comments::Table, Comments::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_mention_notifications_user",
            MentionNotifications::Table,
            &[Alias::new("user_id"), Alias::new("comment_id")],
            true,
        )
        .await?;
        manager
            .create_table(
                Table::create()
                    .table(Media::Table)
                    .col(pk_uuid(Media::Id))
                    .col(uuid(Media::WorkspaceId))
                    .col(uuid_null(Media::UploaderId))
                    .col(string(Media::FileName))
                    .col(string(Media::ContentType))
                    .col(big_integer(Media::SizeBytes))
                    .col(string(Media::Sha256))
                    .col(string(Media::StorageKey))
                    .col(timestamp_with_time_zone(Media::CreatedAt))
                    .foreign_key(&mut fk(
                        (Media::Table, Media::WorkspaceId),
                        (Workspaces::Table, Workspaces::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut fk(
                        (Media::Table, Media::UploaderId),
                        (Users::Table, Users::Id),
                        ForeignKeyAction::SetNull,
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_media_workspace_sha256",
            Media::Table,
            &[Alias::new("workspace_id"), Alias::new("sha256")],
            true,
        )
        .await?;
        index(
            manager,
            "idx_media_workspace_id",
            Media::Table,
            &[Alias::new("workspace_id"), Alias::new("id")],
            false,
        )
        .await?;
        manager
            .create_table(
                Table::create()
                    .table(DraftMedia::Table)
                    .col(pk_uuid(DraftMedia::Id))
                    .col(uuid(DraftMedia::DraftId))
                    .col(uuid(DraftMedia::MediaId))
                    .col(integer(DraftMedia::Position))
                    .col(timestamp_with_time_zone(DraftMedia::CreatedAt))
                    .foreign_key(&mut fk(
                        (DraftMedia::Table, DraftMedia::DraftId),
                        (Drafts::Table, Drafts::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut fk(
                        (DraftMedia::Table, DraftMedia::MediaId),
                        (Media::Table, Media::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_draft_media_draft_media",
            DraftMedia::Table,
            &[Alias::new("draft_id"), Alias::new("media_id")],
            true,
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            DraftMedia::Table.into_iden(),
            Media::Table.into_iden(),
            MentionNotifications::Table.into_iden(),
            Comments::Table.into_iden(),
            DraftGenerations::Table.into_iden(),
            DraftTargets::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .drop_column(Alias::new("mention_emails"))
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Drafts {
    Table,
    Id,
}

#[derive(DeriveIden, Clone, Copy)]
enum Integrations {
    Table,
    Id,
}

#[derive(DeriveIden, Clone, Copy)]
enum DraftTargets {
    Table,
    Id,
    DraftId,
    Provider,
    IntegrationId,
    Title,
    Body,
    Origin,
    Status,
    ProviderPostId,
    Url,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum DraftGenerations {
    Table,
    Id,
    DraftId,
    Generator,
    RequestedBy,
    Inputs,
    Outputs,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Comments {
    Table,
    Id,
    DraftId,
    ParentId,
    AuthorId,
    Body,
    Mentions,
    ResolvedAt,
    ResolvedBy,
    EditedAt,
    DeletedAt,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum MentionNotifications {
    Table,
    Id,
    UserId,
    CommentId,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Media {
    Table,
    Id,
    WorkspaceId,
    UploaderId,
    FileName,
    ContentType,
    SizeBytes,
    Sha256,
    StorageKey,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum DraftMedia {
    Table,
    Id,
    DraftId,
    MediaId,
    Position,
    CreatedAt,
}
