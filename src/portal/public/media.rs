//! `/media/{id}?expires=&signature=`: serves an uploaded file through a time-limited
//! signed link (the API hands these out in `Media.url`), so `<img>` tags work without
//! credentials and a link stops working after its time.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use uuid::Uuid;

use super::{error_page, not_found};
use crate::domain::content::media;
use crate::error::DomainError;
use crate::state::AppState;

#[derive(Deserialize)]
pub struct Link {
    expires: i64,
    signature: String,
}

pub async fn serve(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(link): Query<Link>,
) -> Response {
    let Ok(media_id) = Uuid::try_parse(&id) else {
        return not_found();
    };
    if !crate::crypto::link_is_valid(
        &state.media_link_key,
        &media_id.to_string(),
        link.expires,
        &link.signature,
        chrono::Utc::now().timestamp(),
    ) {
        return (
            StatusCode::FORBIDDEN,
            "this media link is invalid or has expired",
        )
            .into_response();
    }
    let item = match media::find(&state.db, media_id).await {
        Ok(Some(item)) => item,
        Ok(None) => return not_found(),
        Err(e) => return error_page(e),
    };
    let stream = match state.media.get(&item.storage_key).await {
        Ok(stream) => stream,
        Err(e) => return error_page(DomainError::internal(e)),
    };
    (
        [
            (header::CONTENT_TYPE, item.content_type.clone()),
            (header::CONTENT_LENGTH, item.size_bytes.to_string()),
            // The type was read from the bytes; never let a browser guess another.
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
            (header::CONTENT_DISPOSITION, "inline".to_string()),
            (header::CACHE_CONTROL, "private, max-age=3600".to_string()),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}
