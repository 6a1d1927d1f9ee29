//! Uploaded media: the type is read from the bytes (and must match what the client
//! claims), each file is hashed (SHA-256) and stored once per workspace, and the object
//! lives in the media store under `workspaces/<workspace>/<media id>`.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, TransactionSession, TransactionTrait,
};
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use uuid::Uuid;

use crate::domain::content::find_in_workspace;
use crate::domain::entities::{draft_media, media};
use crate::domain::ops::audit::{self, Actor, NewEvent};
use crate::domain::workspace::workspaces::{Role, WorkspaceAccess};
use crate::domain::{now, RequestMeta};
use crate::error::{DomainError, DomainResult};
use crate::storage::MediaStore;

/// What can be uploaded: what the platforms publish.
pub const ACCEPTED: [(&str, &str); 6] = [
    ("image/jpeg", "JPEG"),
    ("image/png", "PNG"),
    ("image/gif", "GIF"),
    ("image/webp", "WebP"),
    ("video/mp4", "MP4"),
    ("video/quicktime", "MOV"),
];

fn accepted_list() -> String {
    ACCEPTED
        .iter()
        .map(|(_, n)| *n)
        .collect::<Vec<_>>()
        .join(", ")
}

fn normalise(content_type: &str) -> String {
    let base = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match base.as_str() {
        "image/jpg" | "image/pjpeg" => "image/jpeg".into(),
        _ => base,
    }
}

/// A file name as shown to people: the last path component, no control characters.
fn clean_file_name(name: &str) -> DomainResult<String> {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default().trim();
    let cleaned: String = base.chars().filter(|c| !c.is_control()).take(255).collect();
    if cleaned.is_empty() || cleaned == "." || cleaned == ".." {
        return Err(DomainError::bad_input("the file needs a name"));
    }
    Ok(cleaned)
}

/// A link to a file that works without credentials for `ttl_secs`, signed with
/// `link_key`: `{public_url}/media/{id}?expires=…&signature=…` (served by the portal).
pub fn signed_url(link_key: &[u8], public_url: &str, media_id: Uuid, ttl_secs: u64) -> String {
    let expires = crate::domain::now().timestamp() + ttl_secs as i64;
    let subject = media_id.to_string();
    let signature = crate::crypto::link_signature(link_key, &subject, expires);
    format!("{public_url}/media/{subject}?expires={expires}&signature={signature}")
}

/// Reads the type from the first bytes of a file.
pub fn sniff(head: &[u8]) -> Option<&'static str> {
    infer::get(head).map(|kind| kind.mime_type())
}

/// Stores an uploaded file (EDITOR and up) and returns its media row; the same bytes
/// uploaded again to the workspace return the existing row.
#[allow(clippy::too_many_arguments)]
pub async fn upload(
    conn: &(impl ConnectionTrait + TransactionTrait),
    store: &MediaStore,
    access: &WorkspaceAccess,
    file_name: &str,
    declared_type: Option<&str>,
    mut file: tokio::fs::File,
    max_bytes: u64,
    meta: &RequestMeta,
) -> DomainResult<media::Model> {
    access.require(Role::Editor)?;
    let file_name = clean_file_name(file_name)?;
    file.rewind().await.map_err(DomainError::internal)?;
    let size = file.metadata().await.map_err(DomainError::internal)?.len();
    if size == 0 {
        return Err(DomainError::bad_input("the file is empty"));
    }
    if size > max_bytes {
        return Err(DomainError::bad_input(format!(
            "the file is {size} bytes; at most {max_bytes} bytes can be uploaded"
        )));
    }
    // Hash the whole file, keeping its first bytes to read the type from.
    let mut hasher = Sha256::new();
    let mut head: Vec<u8> = Vec::with_capacity(8192);
    let mut buffer = vec![0u8; 256 * 1024];
    loop {
        let read = file
            .read(&mut buffer)
            .await
            .map_err(DomainError::internal)?;
        if read == 0 {
            break;
        }
        if head.len() < 8192 {
            let take = (8192 - head.len()).min(read);
            head.extend_from_slice(&buffer[..take]);
        }
        hasher.update(&buffer[..read]);
    }
    let sha256 = hex::encode(hasher.finalize());
    let actual = sniff(&head).ok_or_else(|| {
        DomainError::bad_input(format!(
            "the file's type cannot be recognised from its contents; upload {}",
            accepted_list()
        ))
    })?;
    if !ACCEPTED.iter().any(|(mime, _)| *mime == actual) {
        return Err(DomainError::bad_input(format!(
            "files of type {actual} are not accepted; upload {}",
            accepted_list()
        )));
    }
    if let Some(declared) = declared_type
        .map(normalise)
        .filter(|d| !d.is_empty() && d != "application/octet-stream")
    {
        if declared != actual {
            return Err(DomainError::bad_input(format!(
                "the file claims to be {declared} but its contents are {actual}"
            )));
        }
    }
    if let Some(existing) = find_by_hash(conn, access.workspace_id(), &sha256).await? {
        return Ok(existing);
    }
    let id = Uuid::now_v7();
    let key = format!("workspaces/{}/{id}", access.workspace_id());
    file.rewind().await.map_err(DomainError::internal)?;
    store
        .put_file(&key, &mut file)
        .await
        .map_err(|e| DomainError::Upstream(format!("the media store failed: {e}")))?;
    let row = media::ActiveModel {
        id: Set(id),
        workspace_id: Set(access.workspace_id()),
        uploader_id: Set(Some(access.user_id())),
        file_name: Set(file_name),
        content_type: Set(actual.to_string()),
        size_bytes: Set(size as i64),
        sha256: Set(sha256.clone()),
        storage_key: Set(key.clone()),
        created_at: Set(now()),
    };
    let txn = conn.begin().await?;
    let inserted = match row.insert(&txn).await {
        Ok(inserted) => inserted,
        Err(e) => {
            let _ = txn.rollback().await;
            let _ = store.delete(&key).await;
            // The same bytes arriving twice at once: the first one stays.
            if DomainError::is_unique_violation(&e) {
                if let Some(existing) = find_by_hash(conn, access.workspace_id(), &sha256).await? {
                    return Ok(existing);
                }
            }
            return Err(e.into());
        }
    };
    audit::record(
        &txn,
        NewEvent::new(Actor::User(access.user_id()), "media.uploaded")
            .target("media", id)
            .workspace(access.workspace_id())
            .details(json!({ "content_type": actual, "size": size })),
        meta,
    )
    .await?;
    if let Err(e) = txn.commit().await {
        let _ = store.delete(&key).await;
        return Err(e.into());
    }
    Ok(inserted)
}

async fn find_by_hash(
    conn: &impl ConnectionTrait,
    workspace_id: Uuid,
    sha256: &str,
) -> DomainResult<Option<media::Model>> {
    Ok(media::Entity::find()
        .filter(media::Column::WorkspaceId.eq(workspace_id))
        .filter(media::Column::Sha256.eq(sha256))
        .one(conn)
        .await?)
}

/// A media item of the caller's workspace, or NOT_FOUND.
pub async fn find_in_workspace_media(
    conn: &impl ConnectionTrait,
    access: &WorkspaceAccess,
    media_id: Uuid,
) -> DomainResult<media::Model> {
    media::Entity::find_by_id(media_id)
        .filter(media::Column::WorkspaceId.eq(access.workspace_id()))
        .one(conn)
        .await?
        .ok_or(DomainError::NotFound("media"))
}

pub async fn find(
    conn: &impl ConnectionTrait,
    media_id: Uuid,
) -> DomainResult<Option<media::Model>> {
    Ok(media::Entity::find_by_id(media_id).one(conn).await?)
}

/// A page of the workspace's media, newest first.
pub async fn list(
    conn: &impl ConnectionTrait,
    workspace_id: Uuid,
    before: Option<Uuid>,
    limit: u64,
) -> DomainResult<Vec<media::Model>> {
    let mut query = media::Entity::find()
        .filter(media::Column::WorkspaceId.eq(workspace_id))
        .order_by_desc(media::Column::Id)
        .limit(limit);
    if let Some(before) = before {
        query = query.filter(media::Column::Id.lt(before));
    }
    Ok(query.all(conn).await?)
}

/// Attaches media of the workspace to a draft that can still be edited (at the end).
pub async fn attach(
    conn: &(impl ConnectionTrait + TransactionTrait),
    access: &WorkspaceAccess,
    draft_id: Uuid,
    media_id: Uuid,
) -> DomainResult<()> {
    access.require(Role::Editor)?;
    let txn = conn.begin().await?;
    let draft = find_in_workspace(&txn, access, draft_id).await?;
    crate::domain::content::require_editable(&draft, "its media")?;
    find_in_workspace_media(&txn, access, media_id).await?;
    let attached: Vec<draft_media::Model> = draft_media::Entity::find()
        .filter(draft_media::Column::DraftId.eq(draft_id))
        .all(&txn)
        .await?;
    if attached.iter().any(|a| a.media_id == media_id) {
        return Ok(());
    }
    if attached.len() >= 20 {
        return Err(DomainError::bad_input("a draft has at most 20 media"));
    }
    draft_media::ActiveModel {
        id: Set(Uuid::now_v7()),
        draft_id: Set(draft_id),
        media_id: Set(media_id),
        position: Set(attached.len() as i32),
        created_at: Set(now()),
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    Ok(())
}

/// Takes media off a draft that can still be edited.
pub async fn detach(
    conn: &(impl ConnectionTrait + TransactionTrait),
    access: &WorkspaceAccess,
    draft_id: Uuid,
    media_id: Uuid,
) -> DomainResult<()> {
    access.require(Role::Editor)?;
    let txn = conn.begin().await?;
    let draft = find_in_workspace(&txn, access, draft_id).await?;
    crate::domain::content::require_editable(&draft, "its media")?;
    draft_media::Entity::delete_many()
        .filter(draft_media::Column::DraftId.eq(draft_id))
        .filter(draft_media::Column::MediaId.eq(media_id))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(())
}

/// Deletes media (its uploader or an ADMIN): the row, its attachments, then the stored
/// object.
pub async fn delete(
    conn: &(impl ConnectionTrait + TransactionTrait),
    store: &MediaStore,
    access: &WorkspaceAccess,
    media_id: Uuid,
    meta: &RequestMeta,
) -> DomainResult<()> {
    access.require(Role::Editor)?;
    let txn = conn.begin().await?;
    let item = find_in_workspace_media(&txn, access, media_id).await?;
    if item.uploader_id != Some(access.user_id()) {
        access.require(Role::Admin).map_err(|_| {
            DomainError::forbidden("only its uploader or an ADMIN can delete media")
        })?;
    }
    media::Entity::delete_by_id(media_id).exec(&txn).await?;
    audit::record(
        &txn,
        NewEvent::new(Actor::User(access.user_id()), "media.deleted")
            .target("media", media_id)
            .workspace(access.workspace_id())
            .details(json!({ "size": item.size_bytes })),
        meta,
    )
    .await?;
    txn.commit().await?;
    if let Err(e) = store.delete(&item.storage_key).await {
        // The row is gone; the object is an orphan the next erasure or cleanup removes.
        tracing::error!(media = %media_id, error = %e, "could not delete a stored media object");
    }
    Ok(())
}

/// The media of many drafts, in attachment order.
pub async fn for_drafts(
    conn: &impl ConnectionTrait,
    draft_ids: &[Uuid],
) -> DomainResult<Vec<(Uuid, media::Model)>> {
    let rows = draft_media::Entity::find()
        .filter(draft_media::Column::DraftId.is_in(draft_ids.iter().copied()))
        .find_also_related(media::Entity)
        .order_by_asc(draft_media::Column::DraftId)
        .order_by_asc(draft_media::Column::Position)
        .all(conn)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(link, item)| item.map(|m| (link.draft_id, m)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_come_from_the_bytes() {
        let png = [
            0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0x0D,
        ];
        assert_eq!(sniff(&png), Some("image/png"));
        let html = sniff(b"<html><script>alert(1)</script>");
        assert!(!ACCEPTED.iter().any(|(mime, _)| Some(*mime) == html));
        assert_eq!(sniff(b"plain words"), None);
        assert_eq!(normalise("image/JPG; charset=x"), "image/jpeg");
    }

    #[test]
    fn file_names_lose_their_paths() -> crate::TestResult {
        assert_eq!(clean_file_name("../../etc/passwd")?, "passwd");
        assert_eq!(clean_file_name("C:\\photos\\cat.png")?, "cat.png");
        assert!(clean_file_name("..").is_err());
        Ok(())
    }
}
