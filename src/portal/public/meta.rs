//! Meta's data-deletion callback and the human-readable status page it points people to.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use serde::Deserialize;
use serde_json::json;

use super::requests::StatusPage;
use super::{error_page, not_found};
use crate::domain::channels::integrations;
use crate::domain::platforms::Provider;
use crate::domain::privacy::{meta, requests};
use crate::error::DomainError;
use crate::state::AppState;

#[derive(Deserialize)]
pub struct SignedRequestForm {
    #[serde(default)]
    signed_request: String,
}

fn refuse(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

/// `POST /privacy/meta/data-deletion`: verifies the signed_request, records an ERASE
/// request for the app-scoped user id, and answers `{"url", "confirmation_code"}`.
/// A redelivery answers with the same code; a bad signature gets 400 and changes nothing.
pub async fn data_deletion(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<SignedRequestForm>,
) -> Response {
    let Some(secret) = &state.config.meta_app_secret else {
        tracing::error!(
            "Meta data-deletion callback received but ATELIER_META_APP_SECRET is not set"
        );
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "this endpoint is not configured",
        );
    };
    let signed = match meta::parse(&form.signed_request, secret, chrono::Utc::now()) {
        Ok(signed) => signed,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let request_meta = crate::http::request_meta(peer, &headers);
    match requests::submit_meta_deletion(&state.db, &signed.user_id, &request_meta).await {
        Ok(request) => {
            // invariant: submit_meta_deletion always sets a confirmation code.
            let code = request.confirmation_code.unwrap_or_default();
            Json(json!({
                "url": format!("{}/privacy/deletion-status/{code}", state.config.public_url()),
                "confirmation_code": code,
            }))
            .into_response()
        }
        Err(e) => {
            tracing::error!(error = ?e, "Meta data-deletion callback failed");
            refuse(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
        }
    }
}

/// `GET /privacy/deletion-status/{code}`
pub async fn deletion_status(State(state): State<AppState>, Path(code): Path<String>) -> Response {
    if code.len() > 40 || !code.chars().all(|c| c.is_ascii_alphanumeric()) {
        return not_found();
    }
    match requests::open_by_confirmation_code(&state.db, &code).await {
        Ok(view) => StatusPage::new(view, None, String::new(), None).into_response(),
        Err(DomainError::NotFound(_)) => not_found(),
        Err(e) => error_page(e),
    }
}

/// `POST /privacy/meta/deauthorize`: the person removed our app on Facebook or Instagram;
/// every matching integration loses its tokens. Redelivery is harmless.
pub async fn deauthorize(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<SignedRequestForm>,
) -> Response {
    let Some(secret) = &state.config.meta_app_secret else {
        tracing::error!(
            "Meta deauthorize callback received but ATELIER_META_APP_SECRET is not set"
        );
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "this endpoint is not configured",
        );
    };
    let signed = match meta::parse(&form.signed_request, secret, chrono::Utc::now()) {
        Ok(signed) => signed,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let request_meta = crate::http::request_meta(peer, &headers);
    match integrations::deauthorized_by_platform(
        &state.db,
        &state.vault,
        &Provider::META,
        &signed.user_id,
        &request_meta,
    )
    .await
    {
        Ok(count) => Json(json!({ "disconnected": count })).into_response(),
        Err(e) => {
            tracing::error!(error = ?e, "Meta deauthorize callback failed");
            refuse(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
        }
    }
}
