//! The steps of a fulfilment: which run for which kind of request, in what order, what each\nis called on the staff portal, and running one (its rows counted, its error kept).

use super::erase::{
    anonymise_content, delete_queued_mail, disconnect_integrations, erase_analytics,
    erase_comments, erase_media, erase_meta_data, leave_workspaces, minimise_other_requests,
    tombstone,
};
use super::scan::verify_nothing_left;
use super::scan::Needles;
use super::{meta_subject, set_user_status};
use crate::crypto::vault::Vault;
use crate::domain::entities::{
    invitations, one_time_tokens, privacy_execution_steps as steps, privacy_requests as requests,
    sessions,
};
use crate::domain::identity::accounts::UserStatus;
use crate::domain::ops::outbox::recipient_hash;
use crate::domain::privacy::requests::RequestKind;
use crate::error::DomainResult;
use crate::storage::MediaStore;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set, TransactionTrait};
use uuid::Uuid;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Step {
    Integrations,
    Sessions,
    Media,
    ExportPackages,
    Analytics,
    Workspaces,
    Content,
    Comments,
    Invitations,
    OneTimeTokens,
    MailOutbox,
    RequestRecords,
    AuditDetails,
    Account,
    Verification,
    Restrict,
    ExportPackage,
    MetaChannels,
    ReviewLinks,
}

impl Step {
    pub(super) fn name(self) -> &'static str {
        match self {
            Self::Integrations => "integrations",
            Self::Sessions => "sessions",
            Self::Media => "media",
            Self::ExportPackages => "export_packages",
            Self::Analytics => "analytics",
            Self::Workspaces => "workspaces",
            Self::Content => "content",
            Self::Comments => "comments",
            Self::Invitations => "invitations",
            Self::OneTimeTokens => "one_time_tokens",
            Self::MailOutbox => "mail_outbox",
            Self::RequestRecords => "request_records",
            Self::AuditDetails => "audit_details",
            Self::Account => "account",
            Self::Verification => "verification",
            Self::Restrict => "restrict_processing",
            Self::ExportPackage => "export_package",
            Self::MetaChannels => "meta_channels",
            Self::ReviewLinks => "review_links",
        }
    }

    /// What the step does, in the words staff read on the request page.
    pub(super) fn label(self) -> &'static str {
        match self {
            Self::Integrations => "Disconnect channels (tokens revoked at the platform)",
            Self::Sessions => "End every session",
            Self::Media => "Delete uploaded files",
            Self::ExportPackages => "Delete earlier export packages",
            Self::Analytics => "Delete channel analytics",
            Self::Workspaces => "Delete workspaces with no other member",
            Self::Content => "Remove the name from shared content",
            Self::Comments => "Erase comments",
            Self::Invitations => "Delete invitations",
            Self::OneTimeTokens => "Delete one-time links",
            Self::MailOutbox => "Delete queued email",
            Self::RequestRecords => "Minimise other request records",
            Self::AuditDetails => "Strip details from the audit log",
            Self::Account => "Close the account",
            Self::Verification => "Check that nothing is left",
            Self::Restrict => "Restrict processing",
            Self::ExportPackage => "Build the export package",
            Self::MetaChannels => "Delete the data Meta gave us",
            Self::ReviewLinks => "Remove the address and words from client reviews",
        }
    }

    /// The steps of a request: Meta's data-deletion callback deletes what Meta gave us
    /// (the channels' tokens, profile, metrics and post ids) and nothing else; other
    /// requests go by their kind.
    pub(super) fn plan_for(request: &requests::Model, kind: RequestKind) -> &'static [Step] {
        if meta_subject(request).is_some() {
            return &[Self::MetaChannels, Self::Verification];
        }
        Self::plan(kind)
    }

    pub(super) fn plan(kind: RequestKind) -> &'static [Step] {
        match kind {
            RequestKind::Erase => &[
                Self::Integrations,
                Self::Sessions,
                Self::Media,
                Self::ExportPackages,
                Self::Analytics,
                Self::Workspaces,
                Self::Content,
                Self::Comments,
                Self::Invitations,
                Self::ReviewLinks,
                Self::OneTimeTokens,
                Self::MailOutbox,
                Self::RequestRecords,
                Self::AuditDetails,
                Self::Account,
                Self::Verification,
            ],
            RequestKind::Restrict | RequestKind::Object => &[Self::Restrict],
            RequestKind::Access | RequestKind::Export => &[Self::ExportPackage],
            RequestKind::Rectify => &[],
        }
    }
}

/// Runs (or resumes) the fulfilment job's request. Errors leave the failed step marked
/// FAILED with its error, for the job to retry and staff to see.
/// A stored step name (`export_packages`) in staff words; the name itself when unknown.
pub fn step_label(name: &str) -> String {
    pub(super) const ALL: [Step; 19] = [
        Step::Integrations,
        Step::Sessions,
        Step::Media,
        Step::ExportPackages,
        Step::Analytics,
        Step::Workspaces,
        Step::Content,
        Step::Comments,
        Step::Invitations,
        Step::OneTimeTokens,
        Step::MailOutbox,
        Step::RequestRecords,
        Step::AuditDetails,
        Step::Account,
        Step::Verification,
        Step::Restrict,
        Step::ExportPackage,
        Step::MetaChannels,
        Step::ReviewLinks,
    ];
    ALL.iter()
        .find(|s| s.name() == name)
        .map_or_else(|| name.to_string(), |s| s.label().to_string())
}

/// A step's status (PENDING, DONE, FAILED) in staff words.
pub fn step_status_label(status: &str) -> &'static str {
    match status {
        "DONE" => "Done",
        "FAILED" => "Failed",
        "PENDING" => "Waiting",
        _ => "Unknown",
    }
}

pub(super) fn new_step(request_id: Uuid, position: usize, step: Step) -> steps::ActiveModel {
    steps::ActiveModel {
        id: Set(Uuid::now_v7()),
        request_id: Set(request_id),
        position: Set(position as i32),
        step: Set(step.name().into()),
        status: Set("PENDING".into()),
        rows_affected: Set(0),
        error: Set(None),
        attempts: Set(0),
        finished_at: Set(None),
    }
}

pub(super) async fn run_step(
    txn: &(impl ConnectionTrait + TransactionTrait),
    step: Step,
    request: &requests::Model,
    needles: &Needles,
    exports: &MediaStore,
    store: &MediaStore,
    vault: &Vault,
) -> DomainResult<u64> {
    let user_id = request.user_id;
    let emails = needles.emails();
    let email_hashes: Vec<String> = emails.iter().map(|e| recipient_hash(e)).collect();
    match (step, user_id) {
        (Step::Verification, _) => verify_nothing_left(txn, request.id, needles).await,
        // Without an account, the client reviews sent to the address are all there is to
        // package; with none of those either, the completion says nothing was held.
        (Step::ExportPackage, None) => {
            if crate::domain::content::review_links::any_sent_to(txn, &emails).await? {
                crate::domain::privacy::export::build(txn, exports, store, request)
                    .await
                    .map(|_| 1)
            } else {
                Ok(0)
            }
        }
        (Step::ExportPackage, Some(_)) => {
            crate::domain::privacy::export::build(txn, exports, store, request)
                .await
                .map(|_| 1)
        }
        (Step::ExportPackages, _) => {
            crate::domain::privacy::export::erase_packages(
                txn,
                exports,
                request.id,
                user_id,
                &email_hashes,
            )
            .await
        }
        (Step::MetaChannels, _) => match meta_subject(request) {
            Some(platform_user) => erase_meta_data(txn, vault, platform_user).await,
            None => Ok(0),
        },
        (Step::MailOutbox, _) => delete_queued_mail(txn, &email_hashes).await,
        (Step::ReviewLinks, _) => {
            crate::domain::content::review_links::erase_reviewer(txn, &emails).await
        }
        (Step::RequestRecords, _) => {
            minimise_other_requests(txn, request.id, user_id, &email_hashes).await
        }
        (Step::Invitations, _) => Ok(invitations::Entity::delete_many()
            .filter(invitations::Column::Email.is_in(emails))
            .exec(txn)
            .await?
            .rows_affected),
        (_, None) => Ok(0),
        (Step::Integrations, Some(user_id)) => disconnect_integrations(txn, vault, user_id).await,
        (Step::Sessions, Some(user_id)) => Ok(sessions::Entity::delete_many()
            .filter(sessions::Column::UserId.eq(user_id))
            .exec(txn)
            .await?
            .rows_affected),
        (Step::Media, Some(user_id)) => erase_media(txn, store, user_id).await,
        (Step::Analytics, Some(user_id)) => erase_analytics(txn, user_id).await,
        (Step::Workspaces, Some(user_id)) => leave_workspaces(txn, user_id).await,
        (Step::Content, Some(user_id)) => anonymise_content(txn, user_id).await,
        (Step::Comments, Some(user_id)) => erase_comments(txn, user_id).await,
        (Step::OneTimeTokens, Some(user_id)) => Ok(one_time_tokens::Entity::delete_many()
            .filter(one_time_tokens::Column::SubjectId.eq(user_id))
            .exec(txn)
            .await?
            .rows_affected),
        // Crypto-shredding: the audit details sealed with their key become unreadable.
        (Step::AuditDetails, Some(user_id)) => {
            crate::domain::privacy::person_keys::shred(txn, user_id).await
        }
        (Step::Account, Some(user_id)) => tombstone(txn, user_id).await,
        (Step::Restrict, Some(user_id)) => {
            set_user_status(txn, user_id, UserStatus::Restricted).await
        }
    }
}
