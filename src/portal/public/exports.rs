//! `/exports/{token}`: downloads an export package while its 7-day link is valid; each
//! download is counted and audited.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::{error_page, MessagePage};
use crate::domain::privacy::export;
use crate::error::DomainError;
use crate::state::AppState;

pub async fn download(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Response {
    let meta = crate::http::request_meta(peer, &headers);
    let package = match export::open_for_download(&state.db, &token, &meta).await {
        Ok(package) => package,
        Err(DomainError::BadInput(_)) => {
            return (
                StatusCode::GONE,
                MessagePage {
                    title: "This download link does not work",
                    message: "The link is invalid or has expired (packages are kept for 7 days). You can ask for a new copy from the privacy request page.".into(),
                },
            )
                .into_response()
        }
        Err(e) => return error_page(e),
    };
    // From the shared store: any instance serves a package any instance built.
    let bytes = match state.exports.get(&package.storage_key).await {
        Ok(bytes) => bytes,
        Err(e) => return error_page(DomainError::internal(e)),
    };
    (
        [
            (header::CONTENT_TYPE, "application/zip".to_string()),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"atelier-data.zip\"".to_string(),
            ),
            (header::CONTENT_LENGTH, package.size_bytes.to_string()),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        Body::from_stream(bytes),
    )
        .into_response()
}
