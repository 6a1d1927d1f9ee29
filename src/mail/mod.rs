//! Sending email: one rendering function per intent (askama templates, text and HTML)
//! and a `Mailer` that speaks SMTP when `ATELIER_SMTP_URL` is set, or writes `.eml`
//! files to the outbox in the data directory (logging the link) when it is not.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;

use crate::config::Config;
use crate::domain::ops::outbox::Email;

mod account;
mod privacy;
mod team;

/// An email ready to send.
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
    /// The action link in the email, if it has one (logged in outbox mode).
    pub link: Option<String>,
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

/// Renders an email: each family of intents renders its own (`account`, `privacy`,
/// `team`); this match names every intent, so a new one cannot go unrendered.
pub fn render(email: &Email, links: &Links) -> anyhow::Result<Rendered> {
    match email {
        Email::VerifyEmail { .. }
        | Email::PasswordReset { .. }
        | Email::PasswordChanged { .. }
        | Email::WorkspaceDeleted { .. }
        | Email::AccountExists { .. }
        | Email::Invitation { .. } => account::render(email, links),
        Email::RequestConfirmation { .. }
        | Email::RequestAcknowledgement { .. }
        | Email::RequestRejected { .. }
        | Email::RequestExtended { .. }
        | Email::RequestCompleted { .. }
        | Email::NothingHeld { .. }
        | Email::ExportReady { .. }
        | Email::DeadlineReminder { .. }
        | Email::RequestStatusLink { .. }
        | Email::JobDied { .. } => privacy::render(email, links),
        Email::WebhookDisabled { .. }
        | Email::ReviewRequested { .. }
        | Email::ReviewDecided { .. }
        | Email::ChannelNeedsReauth { .. }
        | Email::MentionDigest { .. } => team::render(email, links),
    }
}

/// The intent of an email, as its queued job names it.
fn intent_of(email: &Email) -> String {
    serde_json::to_value(email)
        .ok()
        .and_then(|v| v.get("intent").and_then(|i| i.as_str()).map(str::to_string))
        .unwrap_or_default()
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
