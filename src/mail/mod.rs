//! Sending email: one rendering function per intent (askama templates, text and HTML)
//! and a `Mailer` that speaks SMTP when `ATELIER_SMTP_URL` is set, or writes `.eml`
//! files to the outbox in the data directory (logging the link) when it is not.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use askama::Template;
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;

use crate::config::Config;
use crate::domain::ops::outbox::Email;

/// An email ready to send.
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
    /// The action link in the email, if it has one (logged in outbox mode).
    pub link: Option<String>,
}

#[derive(Template)]
#[template(path = "emails/verify_email.txt")]
struct VerifyEmailText<'a> {
    display_name: &'a str,
    link: &'a str,
}

#[derive(Template)]
#[template(path = "emails/verify_email.html")]
struct VerifyEmailHtml<'a> {
    display_name: &'a str,
    link: &'a str,
}

#[derive(Template)]
#[template(path = "emails/account_exists.txt")]
struct AccountExistsText<'a> {
    display_name: &'a str,
    login_link: &'a str,
}

#[derive(Template)]
#[template(path = "emails/account_exists.html")]
struct AccountExistsHtml<'a> {
    display_name: &'a str,
    login_link: &'a str,
}

#[derive(Template)]
#[template(path = "emails/password_reset.txt")]
struct PasswordResetText<'a> {
    display_name: &'a str,
    link: &'a str,
    minutes: i64,
}

#[derive(Template)]
#[template(path = "emails/password_reset.html")]
struct PasswordResetHtml<'a> {
    display_name: &'a str,
    link: &'a str,
    minutes: i64,
}

#[derive(Template)]
#[template(path = "emails/password_changed.txt")]
struct PasswordChangedText<'a> {
    display_name: &'a str,
    forgot_link: &'a str,
}

#[derive(Template)]
#[template(path = "emails/password_changed.html")]
struct PasswordChangedHtml<'a> {
    display_name: &'a str,
    forgot_link: &'a str,
}

#[derive(Template)]
#[template(path = "emails/workspace_deleted.txt")]
struct WorkspaceDeletedText<'a> {
    name: &'a str,
    workspace_name: &'a str,
    deleted_by: &'a str,
}

#[derive(Template)]
#[template(path = "emails/workspace_deleted.html")]
struct WorkspaceDeletedHtml<'a> {
    name: &'a str,
    workspace_name: &'a str,
    deleted_by: &'a str,
}

#[derive(Template)]
#[template(path = "emails/invitation.txt")]
struct InvitationText<'a> {
    workspace_name: &'a str,
    inviter_name: &'a str,
    role: &'a str,
    link: &'a str,
}

#[derive(Template)]
#[template(path = "emails/invitation.html")]
struct InvitationHtml<'a> {
    workspace_name: &'a str,
    inviter_name: &'a str,
    role: &'a str,
    link: &'a str,
}

#[derive(Template)]
#[template(path = "emails/request_confirmation.txt")]
struct RequestConfirmationText<'a> {
    reference: &'a str,
    kind: &'a str,
    link: &'a str,
}

#[derive(Template)]
#[template(path = "emails/request_confirmation.html")]
struct RequestConfirmationHtml<'a> {
    reference: &'a str,
    kind: &'a str,
    link: &'a str,
}

#[derive(Template)]
#[template(path = "emails/request_acknowledgement.txt")]
struct RequestAcknowledgementText<'a> {
    reference: &'a str,
    kind: &'a str,
    due_date: &'a str,
    deadline: &'a str,
    status_link: &'a str,
}

#[derive(Template)]
#[template(path = "emails/request_acknowledgement.html")]
struct RequestAcknowledgementHtml<'a> {
    reference: &'a str,
    kind: &'a str,
    due_date: &'a str,
    deadline: &'a str,
    status_link: &'a str,
}

#[derive(Template)]
#[template(path = "emails/request_status_link.txt")]
struct RequestStatusLinkText<'a> {
    reference: &'a str,
    link: &'a str,
    closed: bool,
}

#[derive(Template)]
#[template(path = "emails/request_status_link.html")]
struct RequestStatusLinkHtml<'a> {
    reference: &'a str,
    link: &'a str,
    closed: bool,
}

#[derive(Template)]
#[template(path = "emails/request_rejected.txt")]
struct RequestRejectedText<'a> {
    reference: &'a str,
    reason: &'a str,
    status_link: &'a str,
}

#[derive(Template)]
#[template(path = "emails/request_rejected.html")]
struct RequestRejectedHtml<'a> {
    reference: &'a str,
    reason: &'a str,
    status_link: &'a str,
}

#[derive(Template)]
#[template(path = "emails/request_extended.txt")]
struct RequestExtendedText<'a> {
    reference: &'a str,
    due_date: &'a str,
    reason: &'a str,
}

#[derive(Template)]
#[template(path = "emails/request_extended.html")]
struct RequestExtendedHtml<'a> {
    reference: &'a str,
    due_date: &'a str,
    reason: &'a str,
}

#[derive(Template)]
#[template(path = "emails/request_completed.txt")]
struct RequestCompletedText<'a> {
    reference: &'a str,
    kind: &'a str,
}

#[derive(Template)]
#[template(path = "emails/request_completed.html")]
struct RequestCompletedHtml<'a> {
    reference: &'a str,
    kind: &'a str,
}

#[derive(Template)]
#[template(path = "emails/nothing_held.txt")]
struct NothingHeldText<'a> {
    reference: &'a str,
    kind: &'a str,
}

#[derive(Template)]
#[template(path = "emails/nothing_held.html")]
struct NothingHeldHtml<'a> {
    reference: &'a str,
    kind: &'a str,
}

#[derive(Template)]
#[template(path = "emails/job_died.txt")]
struct JobDiedText<'a> {
    name: &'a str,
    kind: &'a str,
    purpose: &'a str,
    attempts: i32,
    link: &'a str,
}

#[derive(Template)]
#[template(path = "emails/job_died.html")]
struct JobDiedHtml<'a> {
    name: &'a str,
    kind: &'a str,
    purpose: &'a str,
    attempts: i32,
    link: &'a str,
}

#[derive(Template)]
#[template(path = "emails/deadline_reminder.txt")]
struct DeadlineReminderText<'a> {
    name: &'a str,
    due_soon: &'a [String],
    overdue: &'a [String],
    queue_link: &'a str,
}

#[derive(Template)]
#[template(path = "emails/deadline_reminder.html")]
struct DeadlineReminderHtml<'a> {
    name: &'a str,
    due_soon: &'a [String],
    overdue: &'a [String],
    queue_link: &'a str,
}

#[derive(Template)]
#[template(path = "emails/export_ready.txt")]
struct ExportReadyText<'a> {
    reference: &'a str,
    link: &'a str,
    expires: &'a str,
}

#[derive(Template)]
#[template(path = "emails/export_ready.html")]
struct ExportReadyHtml<'a> {
    reference: &'a str,
    link: &'a str,
    expires: &'a str,
}

#[derive(Template)]
#[template(path = "emails/webhook_disabled.txt")]
struct WebhookDisabledText<'a> {
    name: &'a str,
    workspace_name: &'a str,
    url: &'a str,
    failures: i32,
    link: &'a str,
}

#[derive(Template)]
#[template(path = "emails/webhook_disabled.html")]
struct WebhookDisabledHtml<'a> {
    name: &'a str,
    workspace_name: &'a str,
    url: &'a str,
    failures: i32,
    link: &'a str,
}

#[derive(Template)]
#[template(path = "emails/review_requested.txt")]
struct ReviewRequestedText<'a> {
    workspace_name: &'a str,
    sender_name: &'a str,
    drafts: &'a [String],
    message: Option<&'a str>,
    link: &'a str,
    expires: &'a str,
}

#[derive(Template)]
#[template(path = "emails/review_requested.html")]
struct ReviewRequestedHtml<'a> {
    workspace_name: &'a str,
    sender_name: &'a str,
    drafts: &'a [String],
    message: Option<&'a str>,
    link: &'a str,
    expires: &'a str,
}

#[derive(Template)]
#[template(path = "emails/review_decided.txt")]
struct ReviewDecidedText<'a> {
    name: &'a str,
    workspace_name: &'a str,
    draft_title: &'a str,
    approved: bool,
    comment: Option<&'a str>,
    shared_on: &'a str,
    link: &'a str,
}

#[derive(Template)]
#[template(path = "emails/review_decided.html")]
struct ReviewDecidedHtml<'a> {
    name: &'a str,
    workspace_name: &'a str,
    draft_title: &'a str,
    approved: bool,
    comment: Option<&'a str>,
    shared_on: &'a str,
    link: &'a str,
}

#[derive(Template)]
#[template(path = "emails/channel_needs_reauth.txt")]
struct ChannelNeedsReauthText<'a> {
    name: &'a str,
    workspace_name: &'a str,
    platform: &'a str,
    account: &'a str,
    link: &'a str,
}

#[derive(Template)]
#[template(path = "emails/channel_needs_reauth.html")]
struct ChannelNeedsReauthHtml<'a> {
    name: &'a str,
    workspace_name: &'a str,
    platform: &'a str,
    account: &'a str,
    link: &'a str,
}

/// A mention as the digest templates show it.
struct MentionLine {
    author: String,
    draft_title: String,
    excerpt: String,
    link: String,
}

#[derive(Template)]
#[template(path = "emails/mention_digest.txt")]
struct MentionDigestText<'a> {
    name: &'a str,
    items: &'a [MentionLine],
}

#[derive(Template)]
#[template(path = "emails/mention_digest.html")]
struct MentionDigestHtml<'a> {
    name: &'a str,
    items: &'a [MentionLine],
}

/// Where links in emails point.
#[derive(Clone, Debug)]
pub struct Links {
    pub app_url: String,
    pub public_url: String,
}

impl Links {
    fn app(&self, path: &str, token: &str) -> String {
        format!(
            "{}{path}?token={}",
            self.app_url,
            crate::http::percent_encode(token)
        )
    }

    fn portal(&self, path: &str, token: &str) -> String {
        format!(
            "{}{path}?token={}",
            self.public_url,
            crate::http::percent_encode(token)
        )
    }
}

/// Renders one email intent into subject, text and HTML.
pub fn render(email: &Email, links: &Links) -> anyhow::Result<Rendered> {
    Ok(match email {
        Email::VerifyEmail {
            display_name,
            token,
            ..
        } => {
            let link = links.app("/verify-email", token);
            Rendered {
                subject: "Confirm your email address for Atelier".into(),
                text: VerifyEmailText {
                    display_name,
                    link: &link,
                }
                .render()?,
                html: VerifyEmailHtml {
                    display_name,
                    link: &link,
                }
                .render()?,
                link: Some(link),
            }
        }
        Email::PasswordReset {
            display_name,
            token,
            ..
        } => {
            let link = links.app("/reset-password", token);
            let minutes = crate::domain::identity::accounts::PASSWORD_RESET_TTL_MINUTES;
            Rendered {
                subject: "Reset your Atelier password".into(),
                text: PasswordResetText {
                    display_name,
                    link: &link,
                    minutes,
                }
                .render()?,
                html: PasswordResetHtml {
                    display_name,
                    link: &link,
                    minutes,
                }
                .render()?,
                link: Some(link),
            }
        }
        Email::PasswordChanged { display_name, .. } => {
            let forgot_link = format!("{}/forgot-password", links.app_url);
            Rendered {
                subject: "Your Atelier password was changed".into(),
                text: PasswordChangedText {
                    display_name,
                    forgot_link: &forgot_link,
                }
                .render()?,
                html: PasswordChangedHtml {
                    display_name,
                    forgot_link: &forgot_link,
                }
                .render()?,
                link: None,
            }
        }
        Email::WorkspaceDeleted {
            name,
            workspace_name,
            deleted_by,
            ..
        } => Rendered {
            subject: format!("The workspace {workspace_name} was deleted"),
            text: WorkspaceDeletedText {
                name,
                workspace_name,
                deleted_by,
            }
            .render()?,
            html: WorkspaceDeletedHtml {
                name,
                workspace_name,
                deleted_by,
            }
            .render()?,
            link: None,
        },
        Email::AccountExists { display_name, .. } => {
            let login_link = format!("{}/login", links.app_url);
            Rendered {
                subject: "Someone tried to sign up with your email address".into(),
                text: AccountExistsText {
                    display_name,
                    login_link: &login_link,
                }
                .render()?,
                html: AccountExistsHtml {
                    display_name,
                    login_link: &login_link,
                }
                .render()?,
                link: None,
            }
        }
        Email::Invitation {
            workspace_name,
            inviter_name,
            role,
            token,
            ..
        } => {
            let link = links.app("/invitations/accept", token);
            Rendered {
                subject: format!("{inviter_name} invited you to {workspace_name} on Atelier"),
                text: InvitationText {
                    workspace_name,
                    inviter_name,
                    role,
                    link: &link,
                }
                .render()?,
                html: InvitationHtml {
                    workspace_name,
                    inviter_name,
                    role,
                    link: &link,
                }
                .render()?,
                link: Some(link),
            }
        }
        Email::RequestConfirmation {
            reference,
            kind,
            token,
            ..
        } => {
            let link = links.portal("/privacy/requests/confirm", token);
            Rendered {
                subject: format!("Please confirm your privacy request {reference}"),
                text: RequestConfirmationText {
                    reference,
                    kind,
                    link: &link,
                }
                .render()?,
                html: RequestConfirmationHtml {
                    reference,
                    kind,
                    link: &link,
                }
                .render()?,
                link: Some(link),
            }
        }
        Email::RequestAcknowledgement {
            reference,
            kind,
            due_date,
            deadline,
            ..
        } => {
            let status_link = format!("{}/privacy/requests/status", links.public_url);
            Rendered {
                subject: format!("We have your privacy request {reference}"),
                text: RequestAcknowledgementText {
                    reference,
                    kind,
                    due_date,
                    deadline,
                    status_link: &status_link,
                }
                .render()?,
                html: RequestAcknowledgementHtml {
                    reference,
                    kind,
                    due_date,
                    deadline,
                    status_link: &status_link,
                }
                .render()?,
                link: None,
            }
        }
        Email::RequestRejected {
            reference, reason, ..
        } => {
            let status_link = format!("{}/privacy/requests/status", links.public_url);
            Rendered {
                subject: format!("Your privacy request {reference} was refused"),
                text: RequestRejectedText {
                    reference,
                    reason,
                    status_link: &status_link,
                }
                .render()?,
                html: RequestRejectedHtml {
                    reference,
                    reason,
                    status_link: &status_link,
                }
                .render()?,
                link: None,
            }
        }
        Email::RequestExtended {
            reference,
            due_date,
            reason,
            ..
        } => Rendered {
            subject: format!("We need more time for your privacy request {reference}"),
            text: RequestExtendedText {
                reference,
                due_date,
                reason,
            }
            .render()?,
            html: RequestExtendedHtml {
                reference,
                due_date,
                reason,
            }
            .render()?,
            link: None,
        },
        Email::RequestCompleted {
            reference, kind, ..
        } => Rendered {
            subject: format!("Your privacy request {reference} is complete"),
            text: RequestCompletedText { reference, kind }.render()?,
            html: RequestCompletedHtml { reference, kind }.render()?,
            link: None,
        },
        Email::NothingHeld {
            reference, kind, ..
        } => Rendered {
            subject: format!("Your privacy request {reference}: we hold no data about you"),
            text: NothingHeldText { reference, kind }.render()?,
            html: NothingHeldHtml { reference, kind }.render()?,
            link: None,
        },
        Email::JobDied {
            name,
            kind,
            purpose,
            attempts,
            ..
        } => {
            let link = format!("{}/staff/jobs", links.public_url);
            Rendered {
                subject: format!("Atelier gave up on a job: {purpose}"),
                text: JobDiedText {
                    name,
                    kind,
                    purpose,
                    attempts: *attempts,
                    link: &link,
                }
                .render()?,
                html: JobDiedHtml {
                    name,
                    kind,
                    purpose,
                    attempts: *attempts,
                    link: &link,
                }
                .render()?,
                link: Some(link),
            }
        }
        Email::ExportReady {
            reference,
            token,
            expires,
            ..
        } => {
            let link = format!(
                "{}/exports/{}",
                links.public_url,
                crate::http::percent_encode(token)
            );
            Rendered {
                subject: format!("Your data is ready to download ({reference})"),
                text: ExportReadyText {
                    reference,
                    link: &link,
                    expires,
                }
                .render()?,
                html: ExportReadyHtml {
                    reference,
                    link: &link,
                    expires,
                }
                .render()?,
                link: Some(link),
            }
        }
        Email::DeadlineReminder {
            name,
            due_soon,
            overdue,
            ..
        } => {
            let queue_link = format!("{}/staff/requests", links.public_url);
            Rendered {
                subject: if overdue.is_empty() {
                    format!("{} privacy request(s) due within 3 days", due_soon.len())
                } else {
                    format!("{} privacy request(s) overdue", overdue.len())
                },
                text: DeadlineReminderText {
                    name,
                    due_soon,
                    overdue,
                    queue_link: &queue_link,
                }
                .render()?,
                html: DeadlineReminderHtml {
                    name,
                    due_soon,
                    overdue,
                    queue_link: &queue_link,
                }
                .render()?,
                link: None,
            }
        }
        Email::RequestStatusLink {
            reference,
            token,
            closed,
            ..
        } => {
            let link = links.portal("/privacy/requests/status", token);
            Rendered {
                subject: if *closed {
                    format!("Your privacy request {reference} is closed")
                } else {
                    format!("The status of your privacy request {reference}")
                },
                text: RequestStatusLinkText {
                    reference,
                    link: &link,
                    closed: *closed,
                }
                .render()?,
                html: RequestStatusLinkHtml {
                    reference,
                    link: &link,
                    closed: *closed,
                }
                .render()?,
                link: Some(link),
            }
        }
        Email::WebhookDisabled {
            name,
            workspace_name,
            url,
            failures,
            ..
        } => {
            let link = format!("{}/settings/webhooks", links.app_url);
            Rendered {
                subject: format!("A webhook of {workspace_name} was turned off"),
                text: WebhookDisabledText {
                    name,
                    workspace_name,
                    url,
                    failures: *failures,
                    link: &link,
                }
                .render()?,
                html: WebhookDisabledHtml {
                    name,
                    workspace_name,
                    url,
                    failures: *failures,
                    link: &link,
                }
                .render()?,
                link: Some(link),
            }
        }
        Email::ReviewRequested {
            workspace_name,
            sender_name,
            drafts,
            message,
            token,
            expires,
            ..
        } => {
            let link = links.portal("/privacy/review", token);
            Rendered {
                subject: if drafts.len() == 1 {
                    format!("{workspace_name} asks you to review a post")
                } else {
                    format!("{workspace_name} asks you to review {} posts", drafts.len())
                },
                text: ReviewRequestedText {
                    workspace_name,
                    sender_name,
                    drafts,
                    message: message.as_deref(),
                    link: &link,
                    expires,
                }
                .render()?,
                html: ReviewRequestedHtml {
                    workspace_name,
                    sender_name,
                    drafts,
                    message: message.as_deref(),
                    link: &link,
                    expires,
                }
                .render()?,
                link: Some(link),
            }
        }
        Email::ReviewDecided {
            name,
            workspace_name,
            draft_title,
            draft_id,
            decision,
            comment,
            shared_on,
            ..
        } => {
            let link = format!("{}/drafts/{draft_id}", links.app_url);
            let approved = decision == "APPROVED";
            Rendered {
                subject: if approved {
                    format!("Your client approved “{draft_title}”")
                } else {
                    format!("Your client asked for changes to “{draft_title}”")
                },
                text: ReviewDecidedText {
                    name,
                    workspace_name,
                    draft_title,
                    approved,
                    comment: comment.as_deref(),
                    shared_on,
                    link: &link,
                }
                .render()?,
                html: ReviewDecidedHtml {
                    name,
                    workspace_name,
                    draft_title,
                    approved,
                    comment: comment.as_deref(),
                    shared_on,
                    link: &link,
                }
                .render()?,
                link: Some(link),
            }
        }
        Email::ChannelNeedsReauth {
            name,
            workspace_name,
            platform,
            account,
            ..
        } => {
            let link = format!("{}/integrations", links.app_url);
            Rendered {
                subject: format!("Reconnect your {platform} account {account}"),
                text: ChannelNeedsReauthText {
                    name,
                    workspace_name,
                    platform,
                    account,
                    link: &link,
                }
                .render()?,
                html: ChannelNeedsReauthHtml {
                    name,
                    workspace_name,
                    platform,
                    account,
                    link: &link,
                }
                .render()?,
                link: Some(link),
            }
        }
        Email::MentionDigest { name, items, .. } => {
            let lines: Vec<MentionLine> = items
                .iter()
                .map(|item| MentionLine {
                    author: item.author.clone(),
                    draft_title: item.draft_title.clone(),
                    excerpt: item.excerpt.clone(),
                    link: format!(
                        "{}/drafts/{}#comment-{}",
                        links.app_url, item.draft_id, item.comment_id
                    ),
                })
                .collect();
            Rendered {
                subject: if lines.len() == 1 {
                    format!("{} mentioned you", lines[0].author)
                } else {
                    format!("You were mentioned in {} comments", lines.len())
                },
                text: MentionDigestText {
                    name,
                    items: &lines,
                }
                .render()?,
                html: MentionDigestHtml {
                    name,
                    items: &lines,
                }
                .render()?,
                link: lines.first().map(|l| l.link.clone()),
            }
        }
    })
}

enum Transport {
    Smtp {
        transport: AsyncSmtpTransport<Tokio1Executor>,
        shown_as: String,
        /// The deadline of one whole send (`ATELIER_SMTP_TIMEOUT_SECS`).
        deadline: Duration,
    },
    Outbox(PathBuf),
}

pub struct Mailer {
    transport: Transport,
    from: Mailbox,
    links: Links,
}

impl Mailer {
    pub fn from_config(config: &Config) -> anyhow::Result<Self> {
        let from: Mailbox = config.mail_from.parse().with_context(|| {
            format!(
                "ATELIER_MAIL_FROM is not a valid mailbox: {:?}",
                config.mail_from
            )
        })?;
        let transport = match &config.smtp_url {
            Some(url) => {
                let url = url.expose_secret();
                let deadline = Duration::from_secs(config.smtp_timeout_secs.max(1));
                let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .context("ATELIER_SMTP_URL is not a valid SMTP URL")?
                    .timeout(Some(deadline.min(Duration::from_secs(15))))
                    .build();
                Transport::Smtp {
                    transport,
                    shown_as: redact_url(url),
                    deadline,
                }
            }
            None => {
                let dir = config.data_dir.join("outbox");
                std::fs::create_dir_all(&dir)
                    .with_context(|| format!("cannot create the mail outbox {}", dir.display()))?;
                Transport::Outbox(dir)
            }
        };
        Ok(Self {
            transport,
            from,
            links: Links {
                app_url: config.app_url(),
                public_url: config.public_url(),
            },
        })
    }

    /// Where mail goes, for the start-up banner (no credentials).
    pub fn describe(&self) -> String {
        match &self.transport {
            Transport::Smtp { shown_as, .. } => format!("SMTP at {shown_as}"),
            Transport::Outbox(dir) => format!(".eml files in {}", dir.display()),
        }
    }

    /// Renders and delivers one email. `id` names this message for good: every attempt
    /// to send it carries the same `Message-ID` (`<id@sender's domain>`), so a copy sent
    /// again after a crash between the server taking the message and its `250` is one
    /// message to the receiver's mailbox provider and mail client, which drop the repeat.
    /// An SMTP conversation that outlasts the configured deadline is abandoned (the
    /// job is retried later).
    pub async fn send(&self, email: &Email, id: uuid::Uuid) -> anyhow::Result<()> {
        let rendered = render(email, &self.links)?;
        let to: Mailbox = email
            .recipient()
            .parse()
            .context("recipient is not a valid mailbox")?;
        let message = Message::builder()
            .message_id(Some(message_id(id, &self.from)))
            .from(self.from.clone())
            .to(to)
            .subject(rendered.subject.clone())
            .multipart(MultiPart::alternative_plain_html(
                rendered.text.clone(),
                rendered.html.clone(),
            ))?;
        match &self.transport {
            Transport::Smtp {
                transport,
                deadline,
                ..
            } => {
                // Dropping the send at the deadline drops its connection: a message not
                // yet ended with "." is discarded by the server; one it already took is
                // sent again by the retry with the same Message-ID.
                tokio::time::timeout(*deadline, transport.send(message))
                    .await
                    .map_err(|_| {
                        anyhow::anyhow!(
                            "SMTP delivery took longer than {} s; abandoned",
                            deadline.as_secs()
                        )
                    })?
                    .context("SMTP delivery failed")?;
            }
            Transport::Outbox(dir) => {
                let name = format!(
                    "{}-{}.eml",
                    chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ"),
                    uuid::Uuid::new_v4().simple()
                );
                let path = dir.join(name);
                tokio::fs::write(&path, message.formatted())
                    .await
                    .with_context(|| format!("cannot write {}", path.display()))?;
                match &rendered.link {
                    Some(link) => {
                        tracing::info!(file = %path.display(), %link, "email written to the outbox")
                    }
                    None => tracing::info!(file = %path.display(), "email written to the outbox"),
                }
            }
        }
        Ok(())
    }
}

/// The `Message-ID` of the email with this id: the id at the sender's domain, the same
/// on every attempt.
fn message_id(id: uuid::Uuid, from: &Mailbox) -> String {
    format!("<{}@{}>", id.simple(), from.email.domain())
}

/// Shows an SMTP URL without its password.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!("{}://[credentials]@{}", &url[..scheme_end], &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_passwords_never_show() {
        assert_eq!(
            redact_url("smtp://user:hunter2@mail.example.com:587"),
            "smtp://[credentials]@mail.example.com:587"
        );
        assert_eq!(redact_url("smtp://127.0.0.1:2525"), "smtp://127.0.0.1:2525");
    }

    #[test]
    fn invitation_email_escapes_names_in_html() -> crate::TestResult {
        let links = Links {
            app_url: "https://app.example".into(),
            public_url: "https://example".into(),
        };
        let rendered = render(
            &Email::Invitation {
                to: "a@example.com".into(),
                workspace_name: "<script>alert(1)</script>".into(),
                inviter_name: "Eve".into(),
                role: "EDITOR".into(),
                token: "abc.def".into(),
            },
            &links,
        )?;
        assert!(!rendered.html.contains("<script>"));
        assert!(rendered
            .text
            .contains("https://app.example/invitations/accept?token=abc.def"));
        assert_eq!(
            rendered.link.as_deref(),
            Some("https://app.example/invitations/accept?token=abc.def")
        );
        Ok(())
    }
}
