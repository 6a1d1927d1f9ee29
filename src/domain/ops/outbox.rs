//! Emails the domain decides to send. An email is a job enqueued in the same transaction
//! as the change it reports; its contents (which carry one-time links) are sealed with
//! the token vault, and only a hash of the recipient stays readable so that queued mail
//! to a person can be found without opening it.

use sea_orm::ConnectionTrait;
use serde::{Deserialize, Serialize};

use crate::crypto::sha256_hex;
use crate::crypto::vault::Vault;
use crate::domain::ops::jobs;
use crate::error::{DomainError, DomainResult};

pub(crate) const SEAL_CONTEXT: &[u8] = b"atelier:outbox:v1";

/// One email intent with what its templates need. Links are built from the configured
/// URLs when the email is rendered, so a token is the only secret carried here.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "intent", rename_all = "snake_case")]
pub enum Email {
    /// Confirms the address given at sign-up.
    VerifyEmail {
        to: String,
        display_name: String,
        token: String,
    },
    /// The one-time link to choose a new password.
    PasswordReset {
        to: String,
        display_name: String,
        token: String,
    },
    /// The password was changed with a reset link; every session was ended.
    PasswordChanged { to: String, display_name: String },
    /// A workspace the person belonged to was deleted by its owner.
    WorkspaceDeleted {
        to: String,
        name: String,
        workspace_name: String,
        deleted_by: String,
    },
    /// Someone tried to sign up with an address that already has an account.
    AccountExists { to: String, display_name: String },
    /// An invitation to join a workspace.
    Invitation {
        to: String,
        workspace_name: String,
        inviter_name: String,
        role: String,
        token: String,
    },
    /// The single-use link that confirms a privacy request.
    RequestConfirmation {
        to: String,
        reference: String,
        kind: String,
        token: String,
    },
    /// A confirmed privacy request: its reference, what happens next, the deadline.
    RequestAcknowledgement {
        to: String,
        reference: String,
        kind: String,
        due_date: String,
        deadline: String,
    },
    /// A refused privacy request: why, and the right to complain.
    RequestRejected {
        to: String,
        reference: String,
        reason: String,
    },
    /// A privacy request's deadline was extended: until when, and why.
    RequestExtended {
        to: String,
        reference: String,
        due_date: String,
        reason: String,
    },
    /// A privacy request was carried out.
    RequestCompleted {
        to: String,
        reference: String,
        kind: String,
    },
    /// An access or export request's package is ready to download.
    ExportReady {
        to: String,
        reference: String,
        token: String,
        expires: String,
    },
    /// A staff member's daily digest of requests due soon or overdue.
    DeadlineReminder {
        to: String,
        name: String,
        due_soon: Vec<String>,
        overdue: Vec<String>,
    },
    /// A link to a privacy request's status page; `closed` when the request was an
    /// erasure carried out, whose record no longer holds the address.
    RequestStatusLink {
        to: String,
        reference: String,
        token: String,
        #[serde(default)]
        closed: bool,
    },
    /// A webhook endpoint failed too many times in a row and was disabled.
    WebhookDisabled {
        to: String,
        name: String,
        workspace_name: String,
        url: String,
        failures: i32,
    },
    /// An ADMIN shared drafts with an outside reviewer: the link to review them.
    ReviewRequested {
        to: String,
        workspace_name: String,
        sender_name: String,
        drafts: Vec<String>,
        message: Option<String>,
        token: String,
        expires: String,
    },
    /// A client reviewer approved a draft or asked for changes: told to each ADMIN.
    ReviewDecided {
        to: String,
        name: String,
        workspace_name: String,
        draft_title: String,
        draft_id: uuid::Uuid,
        /// APPROVED or CHANGES_REQUESTED.
        decision: String,
        comment: Option<String>,
        shared_on: String,
    },
    /// A channel stopped working and must be connected again.
    ChannelNeedsReauth {
        to: String,
        name: String,
        workspace_name: String,
        platform: String,
        account: String,
    },
    /// A job was given up after its retry horizon: told once to each ADMIN.
    JobDied {
        to: String,
        name: String,
        kind: String,
        purpose: String,
        attempts: i32,
    },
    /// A request completed that matched no account and no channel: nothing was held.
    NothingHeld {
        to: String,
        reference: String,
        kind: String,
    },
    /// The comments that mentioned a member within one batching window.
    MentionDigest {
        to: String,
        name: String,
        items: Vec<MentionItem>,
    },
}

/// One mention in a digest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MentionItem {
    pub author: String,
    pub draft_title: String,
    pub excerpt: String,
    pub draft_id: uuid::Uuid,
    pub comment_id: uuid::Uuid,
}

impl Email {
    pub fn recipient(&self) -> &str {
        match self {
            Email::VerifyEmail { to, .. }
            | Email::PasswordReset { to, .. }
            | Email::PasswordChanged { to, .. }
            | Email::WorkspaceDeleted { to, .. }
            | Email::AccountExists { to, .. }
            | Email::Invitation { to, .. }
            | Email::RequestConfirmation { to, .. }
            | Email::RequestAcknowledgement { to, .. }
            | Email::RequestRejected { to, .. }
            | Email::RequestExtended { to, .. }
            | Email::RequestCompleted { to, .. }
            | Email::DeadlineReminder { to, .. }
            | Email::ExportReady { to, .. }
            | Email::RequestStatusLink { to, .. }
            | Email::MentionDigest { to, .. }
            | Email::JobDied { to, .. }
            | Email::NothingHeld { to, .. }
            | Email::WebhookDisabled { to, .. }
            | Email::ReviewRequested { to, .. }
            | Email::ReviewDecided { to, .. }
            | Email::ChannelNeedsReauth { to, .. } => to,
        }
    }
}

/// The job payload: a recipient hash and the email's intent in clear (so that queued
/// mail to a person can be found, and a stuck email described, without opening it) and
/// the sealed email.
#[derive(Serialize, Deserialize)]
pub struct QueuedEmail {
    pub to_hash: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intent: Option<String>,
    pub sealed: String,
}

/// Queues an email as a durable job inside the caller's transaction.
pub async fn enqueue(
    conn: &impl ConnectionTrait,
    vault: &Vault,
    email: &Email,
) -> DomainResult<()> {
    let value = serde_json::to_value(email).map_err(DomainError::internal)?;
    let intent = value
        .get("intent")
        .and_then(|i| i.as_str())
        .map(str::to_string);
    let plain = serde_json::to_vec(&value).map_err(DomainError::internal)?;
    let payload = QueuedEmail {
        to_hash: recipient_hash(email.recipient()),
        intent,
        sealed: vault.seal(&plain, SEAL_CONTEXT),
    };
    jobs::enqueue(conn, jobs::kind::SEND_EMAIL, &payload).await?;
    Ok(())
}

/// Opens a queued email's payload.
pub fn open(vault: &Vault, payload: &str) -> anyhow::Result<Email> {
    let queued: QueuedEmail = serde_json::from_str(payload)?;
    let plain = vault.open(&queued.sealed, SEAL_CONTEXT)?;
    Ok(serde_json::from_slice(&plain)?)
}

pub fn recipient_hash(address: &str) -> String {
    sha256_hex(address.trim().to_lowercase())
}
