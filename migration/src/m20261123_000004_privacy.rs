//! Privacy: the versioned policy (its first version seeded here), data-subject requests
//! and their timelines.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261123_000001_accounts::Users;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The first published policy: what Atelier actually does.
const FIRST_POLICY: &str = include_str!("policy_v1.md");
const FIRST_POLICY_ID: &str = "0193a000-0000-7000-8000-000000000001";
const FIRST_POLICY_EFFECTIVE: &str = "2026-11-23T00:00:00Z";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(PrivacyPolicies::Table)
                    .col(pk_uuid(PrivacyPolicies::Id))
                    .col(integer_uniq(PrivacyPolicies::Version))
                    .col(timestamp_with_time_zone(PrivacyPolicies::EffectiveAt))
                    .col(timestamp_with_time_zone(PrivacyPolicies::PublishedAt))
                    .col(uuid_null(PrivacyPolicies::PublishedBy))
                    .col(text(PrivacyPolicies::Body))
                    .col(text(PrivacyPolicies::Summary))
                    .to_owned(),
            )
            .await?;

        let effective: chrono::DateTime<chrono::Utc> = FIRST_POLICY_EFFECTIVE
            .parse()
            .map_err(|e| DbErr::Custom(format!("bad seed date: {e}")))?;
        let id: uuid::Uuid = FIRST_POLICY_ID
            .parse()
            .map_err(|e| DbErr::Custom(format!("bad seed id: {e}")))?;
        manager
            .exec_stmt(
                Query::insert()
                    .into_table(PrivacyPolicies::Table)
                    .columns([
                        PrivacyPolicies::Id,
                        PrivacyPolicies::Version,
                        PrivacyPolicies::EffectiveAt,
                        PrivacyPolicies::PublishedAt,
                        PrivacyPolicies::Body,
                        PrivacyPolicies::Summary,
                    ])
                    .values_panic([
                        id.into(),
                        1.into(),
                        effective.into(),
                        effective.into(),
                        FIRST_POLICY.into(),
                        "The first published version of Atelier's privacy policy.".into(),
                    ])
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(PrivacyRequests::Table)
                    .col(pk_uuid(PrivacyRequests::Id))
                    .col(string_uniq(PrivacyRequests::Reference))
                    .col(string(PrivacyRequests::Kind))
                    .col(string_null(PrivacyRequests::RequesterEmail))
                    .col(string_null(PrivacyRequests::RequesterEmailHash))
                    .col(uuid_null(PrivacyRequests::UserId))
                    .col(string_null(PrivacyRequests::WorkspaceName))
                    .col(text_null(PrivacyRequests::ChannelIdentifiers))
                    .col(text_null(PrivacyRequests::Details))
                    .col(string(PrivacyRequests::Source))
                    .col(string(PrivacyRequests::Jurisdiction))
                    .col(string(PrivacyRequests::Status))
                    .col(timestamp_with_time_zone(PrivacyRequests::ReceivedAt))
                    .col(timestamp_with_time_zone_null(PrivacyRequests::VerifiedAt))
                    .col(timestamp_with_time_zone(PrivacyRequests::DueAt))
                    .col(timestamp_with_time_zone_null(
                        PrivacyRequests::ExtendedUntil,
                    ))
                    .col(text_null(PrivacyRequests::ExtensionReason))
                    .col(uuid_null(PrivacyRequests::AssignedStaffId))
                    .col(string_null(PrivacyRequests::Decision))
                    .col(text_null(PrivacyRequests::DecisionReason))
                    .col(timestamp_with_time_zone_null(PrivacyRequests::CompletedAt))
                    .col(string_null(PrivacyRequests::ExternalAccountId))
                    .col(string_null(PrivacyRequests::ConfirmationCode))
                    .col(timestamp_with_time_zone(PrivacyRequests::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(PrivacyRequests::Table, PrivacyRequests::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, columns) in [
            (
                "idx_privacy_requests_status_due",
                vec![PrivacyRequests::Status, PrivacyRequests::DueAt],
            ),
            (
                "idx_privacy_requests_user",
                vec![PrivacyRequests::UserId, PrivacyRequests::Id],
            ),
            (
                "idx_privacy_requests_email_hash",
                vec![PrivacyRequests::RequesterEmailHash],
            ),
            (
                "idx_privacy_requests_external",
                vec![PrivacyRequests::ExternalAccountId],
            ),
        ] {
            let mut index = Index::create();
            index.name(name).table(PrivacyRequests::Table);
            for column in columns {
                index.col(column);
            }
            manager.create_index(index.to_owned()).await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("idx_privacy_requests_confirmation_code")
                    .table(PrivacyRequests::Table)
                    .col(PrivacyRequests::ConfirmationCode)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(PrivacyRequestEvents::Table)
                    .col(pk_uuid(PrivacyRequestEvents::Id))
                    .col(uuid(PrivacyRequestEvents::RequestId))
                    .col(timestamp_with_time_zone(PrivacyRequestEvents::At))
                    .col(string(PrivacyRequestEvents::ActorKind))
                    .col(string(PrivacyRequestEvents::Kind))
                    .col(string_null(PrivacyRequestEvents::FromStatus))
                    .col(string_null(PrivacyRequestEvents::ToStatus))
                    .col(text(PrivacyRequestEvents::Message))
                    .col(boolean(PrivacyRequestEvents::Public))
                    .foreign_key(
                        ForeignKey::create()
                            .from(PrivacyRequestEvents::Table, PrivacyRequestEvents::RequestId)
                            .to(PrivacyRequests::Table, PrivacyRequests::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_privacy_request_events_request")
                    .table(PrivacyRequestEvents::Table)
                    .col(PrivacyRequestEvents::RequestId)
                    .col(PrivacyRequestEvents::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(PrivacyRequestEvents::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(PrivacyRequests::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(PrivacyPolicies::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum PrivacyPolicies {
    Table,
    Id,
    Version,
    EffectiveAt,
    PublishedAt,
    PublishedBy,
    Body,
    Summary,
}

#[derive(DeriveIden)]
enum PrivacyRequests {
    Table,
    Id,
    Reference,
    Kind,
    RequesterEmail,
    RequesterEmailHash,
    UserId,
    WorkspaceName,
    ChannelIdentifiers,
    Details,
    Source,
    Jurisdiction,
    Status,
    ReceivedAt,
    VerifiedAt,
    DueAt,
    ExtendedUntil,
    ExtensionReason,
    AssignedStaffId,
    Decision,
    DecisionReason,
    CompletedAt,
    ExternalAccountId,
    ConfirmationCode,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum PrivacyRequestEvents {
    Table,
    Id,
    RequestId,
    At,
    ActorKind,
    Kind,
    FromStatus,
    ToStatus,
    Message,
    Public,
}
