//! The emails of a team's work: reviews asked for and decided, mentions, a channel that
//! needs reconnecting, a webhook endpoint turned off.

use askama::Template;

use super::{Links, Rendered};
use crate::domain::ops::outbox::Email;

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

/// Renders an email of this family (`super::render` sends only these here).
/// Long because it is a table: one arm per intent, each naming its subject, templates
/// and fields, read side by side.
pub(super) fn render(email: &Email, links: &Links) -> anyhow::Result<Rendered> {
    Ok(match email {
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
        other => anyhow::bail!("not an email of this family: {}", super::intent_of(other)),
    })
}
