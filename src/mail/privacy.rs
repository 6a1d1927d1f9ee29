//! The emails of privacy requests (confirmation, acknowledgement, outcome, the export
//! link, the status link) and the ones staff get (deadline reminders, a job that died).

use askama::Template;

use super::{Links, Rendered};
use crate::domain::ops::outbox::Email;

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

/// Renders an email of this family (`super::render` sends only these here).
/// Long because it is a table: one arm per intent, each naming its subject, templates
/// and fields, read side by side.
pub(super) fn render(email: &Email, links: &Links) -> anyhow::Result<Rendered> {
    Ok(match email {
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
        other => anyhow::bail!("not an email of this family: {}", super::intent_of(other)),
    })
}
