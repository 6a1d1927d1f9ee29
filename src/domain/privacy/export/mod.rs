//! Export packages for access and export requests: a ZIP with one JSON file per kind of
//! data (schema in its README.md), CSV for the tabular ones, and an index.html for people.
//! Written row page by row page, so memory stays flat however much there is. No secrets
//! (hashes, tokens) and no one else's personal data go in.

use std::io::{BufWriter, Seek, Write};

use chrono::Duration;
use sea_orm::{ConnectionTrait, EntityTrait};
use uuid::Uuid;
use zip::write::SimpleFileOptions;
use zip::ZipWriter;

use crate::domain::entities::{export_packages, privacy_requests, users};
use crate::domain::now;
use crate::error::{DomainError, DomainResult};
use crate::storage::MediaStore;

mod files;
mod package;
use self::package::checksum;
pub use self::package::{erase_packages, open_for_download, purge_expired};

pub const PACKAGE_TTL_DAYS: i64 = 7;
const PAGE: u64 = 500;

/// The documented layout of every package.
pub const SCHEMA: &str = include_str!("export_schema.md");

fn io(e: impl std::error::Error + Send + Sync + 'static) -> DomainError {
    DomainError::internal(anyhow::Error::new(e))
}

/// Builds the package for a request, stores it in the exports store (where any instance
/// serves it) and records it; returns the package row. The package is written first to
/// an anonymous temporary file (unlinked from the start, so a crash leaves nothing).
pub async fn build(
    conn: &impl ConnectionTrait,
    exports: &MediaStore,
    store: &MediaStore,
    request: &privacy_requests::Model,
) -> DomainResult<export_packages::Model> {
    let id = Uuid::now_v7();
    let storage_key = format!("{}.zip", id.simple());
    let file = tempfile::tempfile().map_err(io)?;
    let mut zip = ZipWriter::new(BufWriter::new(file));
    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let user = match request.user_id {
        Some(id) => users::Entity::find_by_id(id).one(conn).await?,
        None => None,
    };

    zip.start_file("README.md", options).map_err(io)?;
    zip.write_all(SCHEMA.as_bytes()).map_err(io)?;
    let user = user.as_ref();
    let user_id = user.map(|u| u.id);
    files::account(&mut zip, options, user)?;
    let mut counts = files::Counts {
        workspaces: files::workspaces(conn, &mut zip, options, user).await?,
        ..Default::default()
    };
    files::sessions(conn, &mut zip, options, user).await?;
    counts.channels = files::integrations(conn, &mut zip, options, user).await?;
    counts.requests = files::privacy_requests(conn, &mut zip, options, request).await?;
    counts.reviews = files::review_links(conn, &mut zip, options, request, user).await?;
    files::audit_events(conn, &mut zip, options, user).await?;
    counts.drafts = files::drafts(conn, &mut zip, options, user_id).await?;
    files::comments(conn, &mut zip, options, user_id).await?;
    files::media(conn, &mut zip, options, user_id).await?;
    files::media_files(conn, &mut zip, store, user_id).await?;
    files::index(&mut zip, options, request, user, &counts)?;

    let mut file = zip
        .finish()
        .map_err(io)?
        .into_inner()
        .map_err(|e| io(e.into_error()))?;
    file.rewind().map_err(io)?;
    let (sha256, size) = checksum(&mut file)?;
    file.rewind().map_err(io)?;
    exports
        .put_file(&storage_key, &mut tokio::fs::File::from_std(file))
        .await
        .map_err(DomainError::internal)?;
    let package = export_packages::Model {
        id,
        request_id: request.id,
        storage_key,
        sha256,
        size_bytes: size as i64,
        expires_at: now() + Duration::days(PACKAGE_TTL_DAYS),
        download_count: 0,
        created_at: now(),
    };
    use sea_orm::ActiveModelTrait;
    let active: export_packages::ActiveModel = package.clone().into();
    let active = sea_orm::ActiveModelTrait::reset_all(active);
    active.insert(conn).await?;
    Ok(package)
}
