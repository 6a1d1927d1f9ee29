//! The emails of accounts and workspaces: confirming an address, resetting and changing a
//! password, an invitation, a deleted workspace.

use askama::Template;

use super::{Links, Rendered};
use crate::domain::ops::outbox::Email;

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

/// Renders an email of this family (`super::render` sends only these here).
/// Long because it is a table: one arm per intent, each naming its subject, templates
/// and fields, read side by side.
pub(super) fn render(email: &Email, links: &Links) -> anyhow::Result<Rendered> {
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
        other => anyhow::bail!("not an email of this family: {}", super::intent_of(other)),
    })
}
