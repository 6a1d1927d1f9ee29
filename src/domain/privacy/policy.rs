//! The published privacy policy: exactly one current version (the latest effective one),
//! every version kept forever, rendered from Markdown with raw HTML escaped.

use chrono::{DateTime, Duration, Utc};
use pulldown_cmark::{html, CowStr, Event, Options, Parser, Tag};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
    TransactionSession, TransactionTrait,
};
use serde_json::json;
use similar::{ChangeTag, TextDiff};
use uuid::Uuid;

use crate::domain::entities::privacy_policies;
use crate::domain::ops::audit::{self, NewEvent};
use crate::domain::staff::accounts::{StaffIdentity, StaffRole};
use crate::domain::{clean_text, now, RequestMeta};
use crate::error::{DomainError, DomainResult};

/// The version in force now.
pub async fn current(conn: &impl ConnectionTrait) -> DomainResult<privacy_policies::Model> {
    privacy_policies::Entity::find()
        .filter(privacy_policies::Column::EffectiveAt.lte(now()))
        .order_by_desc(privacy_policies::Column::Version)
        .one(conn)
        .await?
        .ok_or(DomainError::NotFound("privacy policy"))
}

/// Every version, newest first.
pub async fn versions(conn: &impl ConnectionTrait) -> DomainResult<Vec<privacy_policies::Model>> {
    Ok(privacy_policies::Entity::find()
        .order_by_desc(privacy_policies::Column::Version)
        .all(conn)
        .await?)
}

/// One version and the one before it (for the diff).
pub async fn version_with_previous(
    conn: &impl ConnectionTrait,
    version: i32,
) -> DomainResult<(privacy_policies::Model, Option<privacy_policies::Model>)> {
    let found = privacy_policies::Entity::find()
        .filter(privacy_policies::Column::Version.lte(version))
        .order_by_desc(privacy_policies::Column::Version)
        .all(conn)
        .await?;
    let mut iter = found.into_iter();
    match iter.next() {
        Some(this) if this.version == version => Ok((this, iter.next())),
        _ => Err(DomainError::NotFound("policy version")),
    }
}

/// Publishes a new version (ADMIN only). Published versions are never changed; the new
/// one becomes current on its effective date, which may not lie in the past.
pub async fn publish(
    conn: &(impl ConnectionTrait + TransactionTrait),
    identity: &StaffIdentity,
    body: &str,
    summary: &str,
    effective_at: DateTime<Utc>,
    meta: &RequestMeta,
) -> DomainResult<privacy_policies::Model> {
    identity.require(StaffRole::Admin)?;
    let body = normalize(body);
    let body = body.trim();
    if body.is_empty() || body.len() > 200_000 {
        return Err(DomainError::bad_input(
            "the policy text must be between 1 and 200,000 characters",
        ));
    }
    let summary = clean_text("summary of changes", summary, 2_000)?;
    if effective_at < now() - Duration::minutes(5) {
        return Err(DomainError::bad_input(
            "the effective date cannot be in the past",
        ));
    }
    let txn = conn.begin().await?;
    let latest = privacy_policies::Entity::find()
        .order_by_desc(privacy_policies::Column::Version)
        .one(&txn)
        .await?;
    if latest.as_ref().is_some_and(|l| l.body.trim() == body) {
        return Err(DomainError::bad_input(
            "the text is the same as the latest version",
        ));
    }
    let version = latest.map_or(1, |l| l.version + 1);
    let published = privacy_policies::ActiveModel {
        id: Set(Uuid::now_v7()),
        version: Set(version),
        effective_at: Set(effective_at),
        published_at: Set(now()),
        published_by: Set(Some(identity.staff.id)),
        body: Set(body.to_string()),
        summary: Set(summary),
    }
    .insert(&txn)
    .await?;
    audit::record(
        &txn,
        NewEvent::new(identity.actor(), "policy.published")
            .target("privacy_policy", published.id)
            .details(json!({ "version": version })),
        meta,
    )
    .await?;
    txn.commit().await?;
    Ok(published)
}

/// Markdown to HTML. Raw HTML in the source is shown as text, and links may only point
/// to http(s), mailto or paths on this site.
pub fn render(markdown: &str) -> String {
    let parser = Parser::new_ext(markdown, Options::ENABLE_TABLES).map(|event| match event {
        Event::Html(raw) | Event::InlineHtml(raw) => Event::Text(raw),
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }) => Event::Start(Tag::Link {
            link_type,
            dest_url: safe_url(dest_url),
            title,
            id,
        }),
        Event::Start(Tag::Image {
            link_type,
            dest_url,
            title,
            id,
        }) => Event::Start(Tag::Image {
            link_type,
            dest_url: safe_url(dest_url),
            title,
            id,
        }),
        other => other,
    });
    let mut out = String::with_capacity(markdown.len() * 3 / 2);
    html::push_html(&mut out, parser);
    out
}

fn safe_url(url: CowStr<'_>) -> CowStr<'_> {
    let lower = url.trim().to_ascii_lowercase();
    let allowed = lower.starts_with("https://")
        || lower.starts_with("http://")
        || lower.starts_with("mailto:")
        || (lower.starts_with('/') && !lower.starts_with("//"))
        || lower.starts_with('#');
    if allowed {
        url
    } else {
        CowStr::Borrowed("#")
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    Same,
    Added,
    Removed,
    /// Unchanged lines left out between two changed sections (`text` says how many).
    Skipped,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiffLine {
    pub change: Change,
    pub text: String,
}

/// Lines of unchanged text shown around each change.
const CONTEXT: usize = 3;

/// The text with every line ending as `\n`: a browser's textarea sends `\r\n`, which
/// would make every line differ from a version stored with `\n`.
pub fn normalize(text: &str) -> String {
    text.replace("\r\n", "\n").replace('\r', "\n")
}

/// The changed sections between two versions' Markdown, each with a few lines of
/// context; the unchanged stretches between them are one `Skipped` line.
pub fn diff(old: &str, new: &str) -> Vec<DiffLine> {
    // Every line ends with a newline, the last one too: a version stored trimmed and
    // the next one with text after it share their common last line.
    let lines_of = |text: &str| {
        let mut text = normalize(text);
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text
    };
    let (old, new) = (lines_of(old), lines_of(new));
    let diff = TextDiff::from_lines(&old, &new);
    let mut lines = Vec::new();
    let mut shown_until = 0;
    for group in diff.grouped_ops(CONTEXT) {
        let Some(first) = group.first() else { continue };
        let start = first.old_range().start;
        if start > shown_until {
            lines.push(skipped(start - shown_until));
        }
        for op in &group {
            for change in diff.iter_changes(op) {
                lines.push(DiffLine {
                    change: match change.tag() {
                        ChangeTag::Equal => Change::Same,
                        ChangeTag::Insert => Change::Added,
                        ChangeTag::Delete => Change::Removed,
                    },
                    text: change.value().trim_end_matches('\n').to_string(),
                });
            }
        }
        if let Some(last) = group.last() {
            shown_until = last.old_range().end;
        }
    }
    let total = old.lines().count();
    if !lines.is_empty() && total > shown_until {
        lines.push(skipped(total - shown_until));
    }
    lines
}

/// The line standing for `n` unchanged lines left out.
fn skipped(n: usize) -> DiffLine {
    DiffLine {
        change: Change::Skipped,
        text: format!("{n} unchanged line{}", if n == 1 { "" } else { "s" }),
    }
}

/// How many lines a diff adds and removes.
pub fn diff_counts(lines: &[DiffLine]) -> (usize, usize) {
    let count = |c: Change| lines.iter().filter(|l| l.change == c).count();
    (count(Change::Added), count(Change::Removed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(lines: &[DiffLine]) -> Vec<(Change, &str)> {
        lines.iter().map(|l| (l.change, l.text.as_str())).collect()
    }

    #[test]
    fn raw_html_and_script_links_are_neutralised() {
        let html = render(
            "Hello <script>alert(1)</script> [x](javascript:alert(1)) [ok](/privacy) **bold**",
        );
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;"));
        assert!(!html.contains("javascript:"));
        assert!(html.contains("href=\"/privacy\""));
        assert!(html.contains("<strong>bold</strong>"));
    }

    #[test]
    fn an_appended_section_is_the_only_change_whatever_the_line_endings() {
        let old: String = (1..=40).map(|n| format!("Line {n}\n")).collect();
        let new = format!("{old}\n## New section\nNew text.\n").replace('\n', "\r\n");
        let lines = diff(&old, &new);
        assert_eq!(diff_counts(&lines), (3, 0), "{lines:?}");
        assert_eq!(
            pairs(&lines),
            vec![
                (Change::Skipped, "37 unchanged lines"),
                (Change::Same, "Line 38"),
                (Change::Same, "Line 39"),
                (Change::Same, "Line 40"),
                (Change::Added, ""),
                (Change::Added, "## New section"),
                (Change::Added, "New text."),
            ]
        );
        assert_eq!(normalize("a\r\nb\rc\n"), "a\nb\nc\n");
        assert!(diff(&old, &old.replace('\n', "\r\n")).is_empty());
    }

    #[test]
    fn changes_far_apart_are_separate_sections() {
        let line = |n: usize| match n {
            5 => "five".to_string(),
            25 => "twenty-five".to_string(),
            n => n.to_string(),
        };
        let old: String = (1..=30).map(|n| format!("{n}\n")).collect();
        let new: String = (1..=30).map(|n| format!("{}\n", line(n))).collect();
        let lines = diff(&old, &new);
        let skipped: Vec<&str> = lines
            .iter()
            .filter(|l| l.change == Change::Skipped)
            .map(|l| l.text.as_str())
            .collect();
        assert_eq!(
            skipped,
            [
                "1 unchanged line",
                "13 unchanged lines",
                "2 unchanged lines"
            ]
        );
        assert_eq!(diff_counts(&lines), (2, 2));
    }

    #[test]
    fn diff_marks_added_and_removed_lines() {
        let lines = diff("a\nb\nc\n", "a\nB\nc\n");
        assert_eq!(
            pairs(&lines),
            vec![
                (Change::Same, "a"),
                (Change::Removed, "b"),
                (Change::Added, "B"),
                (Change::Same, "c")
            ]
        );
    }
}
