//! Media in the API: uploads over the GraphQL multipart request spec, the `Media` type
//! with a time-limited signed link, attaching to drafts, and deletion.

use async_graphql::{Context, Object, Result, Upload, ID};
use chrono::{DateTime, Utc};

use super::collaboration::{draft_access, publish_draft};
use super::content::Draft;
use super::context::{current_user, meta, state};
use super::errors::gql;
use super::types::{parse_id, User};
use crate::domain::entities::media as media_rows;
use crate::domain::{content, content::media, workspace::workspaces};
use crate::error::DomainError;

/// An uploaded image or video.
pub struct Media(pub media_rows::Model);

#[Object]
impl Media {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn file_name(&self) -> &str {
        &self.0.file_name
    }

    /// As read from the file's bytes.
    async fn content_type(&self) -> &str {
        &self.0.content_type
    }

    async fn size_bytes(&self) -> i64 {
        self.0.size_bytes
    }

    async fn sha256(&self) -> &str {
        &self.0.sha256
    }

    async fn uploaded_by(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        super::content::load_user(ctx, self.0.uploader_id).await
    }

    /// A link to the file that works for a limited time (`ATELIER_MEDIA__URL_TTL_SECS`)
    /// without credentials, for `<img>` and `<video>` tags.
    async fn url(&self, ctx: &Context<'_>) -> String {
        let s = state(ctx);
        crate::domain::content::media::signed_url(
            &s.media_link_key,
            &s.config.public_url(),
            self.0.id,
            s.config.media.url_ttl_secs,
        )
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

#[derive(Default)]
pub struct MediaMutation;

#[Object]
impl MediaMutation {
    /// Uploads a file (multipart request); EDITOR and up. The type is read from the
    /// bytes and must match the declared one; the same file uploaded twice is stored once.
    async fn upload_media(
        &self,
        ctx: &Context<'_>,
        workspace_id: ID,
        file: Upload,
    ) -> Result<Media> {
        let user = current_user(ctx).await?;
        let s = state(ctx);
        let workspace_id = parse_id(&workspace_id, "workspaceId")?;
        let access = workspaces::require_access(&s.db, user.id, workspace_id)
            .await
            .map_err(gql)?;
        let upload = file.value(ctx).map_err(|_| {
            gql(DomainError::bad_input(
                "send the file as a multipart request part",
            ))
        })?;
        let file = tokio::fs::File::from_std(upload.content);
        let stored = media::upload(
            &s.db,
            &s.media,
            &access,
            &upload.filename,
            upload.content_type.as_deref(),
            file,
            s.config.media.max_bytes,
            meta(ctx),
        )
        .await
        .map_err(gql)?;
        Ok(Media(stored))
    }

    /// Attaches workspace media to a draft that can still be edited.
    async fn attach_media(&self, ctx: &Context<'_>, draft_id: ID, media_id: ID) -> Result<Draft> {
        let draft_id = parse_id(&draft_id, "draftId")?;
        let media_id = parse_id(&media_id, "mediaId")?;
        let access = draft_access(ctx, draft_id).await?;
        let db = &state(ctx).db;
        media::attach(db, &access, draft_id, media_id)
            .await
            .map_err(gql)?;
        publish_draft(ctx, &access, draft_id).await;
        Ok(Draft(
            content::find_in_workspace(db, &access, draft_id)
                .await
                .map_err(gql)?,
        ))
    }

    /// Takes media off a draft that can still be edited.
    async fn detach_media(&self, ctx: &Context<'_>, draft_id: ID, media_id: ID) -> Result<Draft> {
        let draft_id = parse_id(&draft_id, "draftId")?;
        let media_id = parse_id(&media_id, "mediaId")?;
        let access = draft_access(ctx, draft_id).await?;
        let db = &state(ctx).db;
        media::detach(db, &access, draft_id, media_id)
            .await
            .map_err(gql)?;
        publish_draft(ctx, &access, draft_id).await;
        Ok(Draft(
            content::find_in_workspace(db, &access, draft_id)
                .await
                .map_err(gql)?,
        ))
    }

    /// Deletes media and its stored file (its uploader or an ADMIN).
    async fn delete_media(&self, ctx: &Context<'_>, id: ID) -> Result<bool> {
        let user = current_user(ctx).await?;
        let s = state(ctx);
        let media_id = parse_id(&id, "id")?;
        let item = media::find(&s.db, media_id)
            .await
            .map_err(gql)?
            .ok_or_else(|| gql(DomainError::NotFound("media")))?;
        let access = workspaces::access(&s.db, user.id, item.workspace_id)
            .await
            .map_err(gql)?
            .ok_or_else(|| gql(DomainError::NotFound("media")))?;
        media::delete(&s.db, &s.media, &access, media_id, meta(ctx))
            .await
            .map_err(gql)?;
        Ok(true)
    }
}
