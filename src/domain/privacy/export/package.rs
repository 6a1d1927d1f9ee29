//! The package around an export: its files written (CSV fields, media entries, pages of
//! rows, checksums), downloaded once through its link, purged when it expires, erased with
//! its person.

use super::{io, PAGE};
use crate::domain::entities::{export_packages, media, privacy_requests};
use crate::domain::now;
use crate::error::{DomainError, DomainResult};
use crate::storage::MediaStore;
use chrono::Utc;
use sea_orm::sea_query::ExprTrait;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{Read, Write};
use uuid::Uuid;
use zip::ZipWriter;

pub(super) fn csv_field(value: &str) -> String {
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_string()
    }
}

/// Where an uploaded file goes in the package: `media/{id}-{file name}`, with anything
/// but letters, digits, `.`, `-` and `_` in the name replaced.
pub(super) fn media_entry(item: &media::Model) -> String {
    let name: String = item
        .file_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("media/{}-{}", item.id, name.trim_start_matches('.'))
}

/// Writes a JSON array page by page: `page(after)` returns the next rows after the last
/// key (with their keys); returns how many rows were written.
pub(super) async fn write_pages<W, F, Fut>(
    zip: &mut ZipWriter<W>,
    mut page: F,
) -> DomainResult<usize>
where
    W: Write + std::io::Seek,
    F: FnMut(Option<Uuid>) -> Fut,
    Fut: std::future::Future<Output = DomainResult<Vec<(Uuid, serde_json::Value)>>>,
{
    zip.write_all(b"[").map_err(io)?;
    let mut written = 0;
    let mut after = None;
    loop {
        let rows = page(after).await?;
        let full = rows.len() as u64 == PAGE;
        for (key, row) in rows {
            if written > 0 {
                zip.write_all(b",").map_err(io)?;
            }
            serde_json::to_writer(&mut *zip, &row).map_err(io)?;
            written += 1;
            after = Some(key);
        }
        if !full {
            break;
        }
    }
    zip.write_all(b"]").map_err(io)?;
    Ok(written)
}

pub(super) fn checksum(file: &mut File) -> DomainResult<(String, u64)> {
    let mut hasher = Sha256::new();
    let mut buffer = [0u8; 64 * 1024];
    let mut size = 0u64;
    loop {
        let read = file.read(&mut buffer).map_err(io)?;
        if read == 0 {
            break;
        }
        size += read as u64;
        hasher.update(&buffer[..read]);
    }
    Ok((hex::encode(hasher.finalize()), size))
}

pub(super) fn html_escape(value: &str) -> String {
    value
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The package a download token opens, counting the download.
pub async fn open_for_download(
    conn: &sea_orm::DatabaseConnection,
    token: &str,
    meta: &crate::domain::RequestMeta,
) -> DomainResult<export_packages::Model> {
    let row = crate::domain::identity::tokens::find_valid(
        conn,
        crate::domain::identity::tokens::purpose::EXPORT_DOWNLOAD,
        token,
    )
    .await?;
    let package = export_packages::Entity::find_by_id(row.subject_id)
        .one(conn)
        .await?
        .filter(|p| p.expires_at > now())
        .ok_or_else(|| DomainError::bad_input("this link is invalid or has expired"))?;
    export_packages::Entity::update_many()
        .col_expr(
            export_packages::Column::DownloadCount,
            sea_orm::sea_query::Expr::col(export_packages::Column::DownloadCount).add(1),
        )
        .filter(export_packages::Column::Id.eq(package.id))
        .exec(conn)
        .await?;
    crate::domain::ops::audit::record(
        conn,
        crate::domain::ops::audit::NewEvent::new(
            crate::domain::ops::audit::Actor::Anonymous,
            "privacy.export_downloaded",
        )
        .target("export_package", package.id)
        .details(json!({ "request_id": package.request_id })),
        meta,
    )
    .await?;
    Ok(package)
}

/// Deletes expired packages, files first; returns how many.
pub async fn purge_expired(
    conn: &impl ConnectionTrait,
    exports: &MediaStore,
    at: chrono::DateTime<Utc>,
) -> DomainResult<u64> {
    let expired = export_packages::Entity::find()
        .filter(export_packages::Column::ExpiresAt.lt(at))
        .all(conn)
        .await?;
    for package in &expired {
        exports
            .delete(&package.storage_key)
            .await
            .map_err(DomainError::internal)?;
        export_packages::Entity::delete_by_id(package.id)
            .exec(conn)
            .await?;
    }
    Ok(expired.len() as u64)
}

/// Erasure of a person's export packages: every package built for a request of theirs
/// (linked to their account or sent from one of their addresses), other than the
/// erasure itself — files first, then their download links and rows, so a link sent
/// before the erasure stops working. Returns how many packages went.
pub async fn erase_packages(
    conn: &impl ConnectionTrait,
    exports: &MediaStore,
    erasure_id: Uuid,
    user_id: Option<Uuid>,
    email_hashes: &[String],
) -> DomainResult<u64> {
    let mut theirs = sea_orm::Condition::any()
        .add(privacy_requests::Column::RequesterEmailHash.is_in(email_hashes.iter().cloned()));
    if let Some(user_id) = user_id {
        theirs = theirs.add(privacy_requests::Column::UserId.eq(user_id));
    }
    let requests: Vec<Uuid> = privacy_requests::Entity::find()
        .select_only()
        .column(privacy_requests::Column::Id)
        .filter(theirs)
        .filter(privacy_requests::Column::Id.ne(erasure_id))
        .into_tuple()
        .all(conn)
        .await?;
    if requests.is_empty() {
        return Ok(0);
    }
    let packages = export_packages::Entity::find()
        .filter(export_packages::Column::RequestId.is_in(requests))
        .all(conn)
        .await?;
    for package in &packages {
        exports
            .delete(&package.storage_key)
            .await
            .map_err(DomainError::internal)?;
    }
    let ids: Vec<Uuid> = packages.iter().map(|p| p.id).collect();
    crate::domain::entities::one_time_tokens::Entity::delete_many()
        .filter(
            crate::domain::entities::one_time_tokens::Column::Purpose
                .eq(crate::domain::identity::tokens::purpose::EXPORT_DOWNLOAD),
        )
        .filter(crate::domain::entities::one_time_tokens::Column::SubjectId.is_in(ids.clone()))
        .exec(conn)
        .await?;
    Ok(export_packages::Entity::delete_many()
        .filter(export_packages::Column::Id.is_in(ids))
        .exec(conn)
        .await?
        .rows_affected)
}
