//! How each entity the read path serves is read from a SQLite row: its columns in order, the
//! ids and instants as SQLite stores them, and one `Readable` per entity.

use super::{Cells, Readable};
use crate::domain::entities::{comments, draft_revisions, draft_targets, draft_workflow, drafts};
use chrono::{DateTime, Utc};
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ValueRef};
use uuid::Uuid;

/// An id column: a 16-byte blob as sqlx writes it (or hyphenated text).
pub struct Id(pub Uuid);

impl FromSql for Id {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        match value {
            ValueRef::Blob(bytes) => Uuid::from_slice(bytes)
                .map(Id)
                .map_err(|e| FromSqlError::Other(Box::new(e))),
            ValueRef::Text(text) => std::str::from_utf8(text)
                .map_err(|e| FromSqlError::Other(Box::new(e)))
                .and_then(|t| Uuid::parse_str(t).map_err(|e| FromSqlError::Other(Box::new(e))))
                .map(Id),
            _ => Err(FromSqlError::InvalidType),
        }
    }
}

/// An instant column: RFC 3339 text as sqlx writes it (`2026-12-01T16:07:24.786045+00:00`),
/// SQLite's own `YYYY-MM-DD HH:MM:SS[.fff]` in UTC, or whole seconds since the epoch.
pub struct Instant(pub DateTime<Utc>);

impl FromSql for Instant {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        // Seconds since the epoch: the stand-in of a left-out instant (`stand_in`), as
        // sqlx reads it too.
        if let ValueRef::Integer(seconds) = value {
            return DateTime::from_timestamp(seconds, 0)
                .map(Instant)
                .ok_or(FromSqlError::OutOfRange(seconds));
        }
        let text = value.as_str()?;
        if let Some(t) = utc_rfc3339(text.as_bytes()) {
            return Ok(Instant(t));
        }
        if let Ok(t) = DateTime::parse_from_rfc3339(text) {
            return Ok(Instant(t.with_timezone(&Utc)));
        }
        if let Ok(t) = DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f%:z") {
            return Ok(Instant(t.with_timezone(&Utc)));
        }
        chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f")
            .map(|t| Instant(t.and_utc()))
            .map_err(|e| FromSqlError::Other(Box::new(e)))
    }
}

/// The form every instant is written in, read without chrono's general parser (which
/// cost 3% of the dashboard's instructions): `YYYY-MM-DDTHH:MM:SS[.f…]` then `+00:00`
/// or `Z`, up to nine fraction digits. Anything else (another offset, a leap second, a
/// space for the `T`) is `None`, for the general parser to read.
pub(super) fn utc_rfc3339(text: &[u8]) -> Option<DateTime<Utc>> {
    fn digits(text: &[u8]) -> Option<u32> {
        text.iter().try_fold(0u32, |n, &b| {
            b.is_ascii_digit().then(|| n * 10 + u32::from(b - b'0'))
        })
    }
    if text.len() < 20 || text[4] != b'-' || text[7] != b'-' || text[10] != b'T' {
        return None;
    }
    if text[13] != b':' || text[16] != b':' {
        return None;
    }
    let date = chrono::NaiveDate::from_ymd_opt(
        digits(&text[0..4])? as i32,
        digits(&text[5..7])?,
        digits(&text[8..10])?,
    )?;
    let (hour, minute, second) = (
        digits(&text[11..13])?,
        digits(&text[14..16])?,
        digits(&text[17..19])?,
    );
    if second > 59 {
        return None;
    }
    let mut rest = &text[19..];
    let mut nanos = 0;
    if let Some(fraction) = rest.strip_prefix(b".") {
        let len = fraction.iter().take_while(|b| b.is_ascii_digit()).count();
        if len == 0 || len > 9 {
            return None;
        }
        nanos = digits(&fraction[..len])? * 10u32.pow(9 - len as u32);
        rest = &fraction[len..];
    }
    if rest != b"+00:00" && rest != b"Z" {
        return None;
    }
    Some(
        date.and_hms_nano_opt(hour, minute, second, nanos)?
            .and_utc(),
    )
}

/// Reads id column `i`.
pub(super) fn id(row: &Cells<'_, '_>, i: usize) -> rusqlite::Result<Uuid> {
    Ok(row.get::<Id>(i)?.0)
}

/// Reads nullable id column `i`.
pub(super) fn maybe_id(row: &Cells<'_, '_>, i: usize) -> rusqlite::Result<Option<Uuid>> {
    Ok(row.get::<Option<Id>>(i)?.map(|id| id.0))
}

/// Reads instant column `i`.
pub(super) fn instant(row: &Cells<'_, '_>, i: usize) -> rusqlite::Result<DateTime<Utc>> {
    Ok(row.get::<Instant>(i)?.0)
}

/// Reads nullable instant column `i`.
pub(super) fn maybe_instant(
    row: &Cells<'_, '_>,
    i: usize,
) -> rusqlite::Result<Option<DateTime<Utc>>> {
    Ok(row.get::<Option<Instant>>(i)?.map(|t| t.0))
}

// The rows the list reads return, their columns in the order their statements select them.

impl Readable for drafts::Model {
    const COLUMNS: &'static [&'static str] = &[
        "id",
        "workspace_id",
        "author_id",
        "title",
        "body",
        "tags",
        "status",
        "version",
        "scheduled_at",
        "time_zone",
        "origin",
        "created_at",
        "updated_at",
        "comment_count",
    ];

    fn from_row(row: &Cells<'_, '_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: id(row, 0)?,
            workspace_id: id(row, 1)?,
            author_id: maybe_id(row, 2)?,
            title: row.get(3)?,
            body: row.get(4)?,
            tags: row.get(5)?,
            status: row.get(6)?,
            version: row.get(7)?,
            scheduled_at: maybe_instant(row, 8)?,
            time_zone: row.get(9)?,
            origin: row.get(10)?,
            created_at: instant(row, 11)?,
            updated_at: instant(row, 12)?,
            comment_count: row.get(13)?,
        })
    }
}

impl Readable for draft_targets::Model {
    const COLUMNS: &'static [&'static str] = &[
        "id",
        "draft_id",
        "provider",
        "integration_id",
        "title",
        "body",
        "origin",
        "status",
        "provider_post_id",
        "url",
        "published_at",
        "created_at",
        "updated_at",
    ];

    fn from_row(row: &Cells<'_, '_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: id(row, 0)?,
            draft_id: id(row, 1)?,
            provider: row.get(2)?,
            integration_id: maybe_id(row, 3)?,
            title: row.get(4)?,
            body: row.get(5)?,
            origin: row.get(6)?,
            status: row.get(7)?,
            provider_post_id: row.get(8)?,
            url: row.get(9)?,
            published_at: maybe_instant(row, 10)?,
            created_at: instant(row, 11)?,
            updated_at: instant(row, 12)?,
        })
    }
}

impl Readable for crate::domain::entities::users::Person {
    const COLUMNS: &'static [&'static str] = &[
        "id",
        "email",
        "display_name",
        "email_verified_at",
        "locale",
        "time_zone",
        "status",
        "mention_emails",
        "created_at",
    ];

    fn from_row(row: &Cells<'_, '_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: id(row, 0)?,
            email: row.get(1)?,
            display_name: row.get(2)?,
            email_verified_at: maybe_instant(row, 3)?,
            locale: row.get(4)?,
            time_zone: row.get(5)?,
            status: row.get(6)?,
            mention_emails: row.get(7)?,
            created_at: instant(row, 8)?,
        })
    }
}

impl Readable for crate::domain::entities::memberships::AccessRow {
    const COLUMNS: &'static [&'static str] = &[
        "m_id",
        "m_workspace_id",
        "m_user_id",
        "m_role",
        "m_created_at",
        "id",
        "name",
        "slug",
        "brand_name",
        "company",
        "region",
        "default_time_zone",
        "billing_email",
        "billing_legal_name",
        "billing_country",
        "billing_tax_id",
        "created_at",
        "updated_at",
        "approval_required",
        "client_approval_required",
    ];

    fn from_row(row: &Cells<'_, '_>) -> rusqlite::Result<Self> {
        use crate::domain::entities::{memberships, workspaces};
        Ok(Self(
            memberships::Model {
                id: id(row, 0)?,
                workspace_id: id(row, 1)?,
                user_id: id(row, 2)?,
                role: row.get(3)?,
                created_at: instant(row, 4)?,
            },
            workspaces::Model {
                id: id(row, 5)?,
                name: row.get(6)?,
                slug: row.get(7)?,
                brand_name: row.get(8)?,
                company: row.get(9)?,
                region: row.get(10)?,
                default_time_zone: row.get(11)?,
                billing_email: row.get(12)?,
                billing_legal_name: row.get(13)?,
                billing_country: row.get(14)?,
                billing_tax_id: row.get(15)?,
                created_at: instant(row, 16)?,
                updated_at: instant(row, 17)?,
                approval_required: row.get(18)?,
                client_approval_required: row.get(19)?,
            },
        ))
    }
}

/// A comment's columns, in the order its statements select them.
pub(super) const COMMENT_COLUMNS: [&str; 12] = [
    "id",
    "draft_id",
    "parent_id",
    "author_id",
    "body",
    "mentions",
    "resolved_at",
    "resolved_by",
    "edited_at",
    "deleted_at",
    "created_at",
    "review_link_id",
];

impl Readable for comments::Model {
    const COLUMNS: &'static [&'static str] = &COMMENT_COLUMNS;

    fn from_row(row: &Cells<'_, '_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: id(row, 0)?,
            draft_id: id(row, 1)?,
            parent_id: maybe_id(row, 2)?,
            author_id: maybe_id(row, 3)?,
            body: row.get(4)?,
            mentions: row.get(5)?,
            resolved_at: maybe_instant(row, 6)?,
            resolved_by: maybe_id(row, 7)?,
            edited_at: maybe_instant(row, 8)?,
            deleted_at: maybe_instant(row, 9)?,
            created_at: instant(row, 10)?,
            review_link_id: maybe_id(row, 11)?,
        })
    }
}

impl Readable for draft_revisions::Model {
    const COLUMNS: &'static [&'static str] = &[
        "id",
        "draft_id",
        "version",
        "title",
        "body",
        "tags",
        "editor_id",
        "created_at",
    ];

    fn from_row(row: &Cells<'_, '_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: id(row, 0)?,
            draft_id: id(row, 1)?,
            version: row.get(2)?,
            title: row.get(3)?,
            body: row.get(4)?,
            tags: row.get(5)?,
            editor_id: maybe_id(row, 6)?,
            created_at: instant(row, 7)?,
        })
    }
}

impl Readable for draft_workflow::Model {
    const COLUMNS: &'static [&'static str] = &[
        "id",
        "draft_id",
        "actor_id",
        "from_status",
        "to_status",
        "note",
        "at",
        "review_link_id",
    ];

    fn from_row(row: &Cells<'_, '_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: id(row, 0)?,
            draft_id: id(row, 1)?,
            actor_id: maybe_id(row, 2)?,
            from_status: row.get(3)?,
            to_status: row.get(4)?,
            note: row.get(5)?,
            at: instant(row, 6)?,
            review_link_id: maybe_id(row, 7)?,
        })
    }
}
