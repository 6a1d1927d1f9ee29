//! Public pages anyone can reach without an account.

pub mod exports;
pub mod integrations;
pub mod media;
pub mod meta;
pub mod policy;
pub mod requests;
pub mod review;
mod verify_email;

use askama::Template;
use askama_web::WebTemplate;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

pub use verify_email::{verify_email_page, verify_email_submit};

use crate::error::DomainError;

#[derive(Template, WebTemplate)]
#[template(path = "portal/message.html")]
pub(crate) struct MessagePage {
    pub title: &'static str,
    pub message: String,
}

/// A page for an error: internal causes are logged, never shown.
pub(crate) fn error_page(error: DomainError) -> Response {
    match error {
        DomainError::NotFound(_) => not_found(),
        DomainError::BadInput(message) => (
            StatusCode::BAD_REQUEST,
            MessagePage {
                title: "This did not work",
                message,
            },
        )
            .into_response(),
        DomainError::Forbidden(message) => (
            StatusCode::FORBIDDEN,
            MessagePage {
                title: "This is not yours to do",
                message,
            },
        )
            .into_response(),
        DomainError::Conflict(message) => (
            StatusCode::CONFLICT,
            MessagePage {
                title: "This changed in the meantime",
                message,
            },
        )
            .into_response(),
        DomainError::Upstream(message) => (
            StatusCode::BAD_GATEWAY,
            MessagePage {
                title: "A service Atelier relies on did not answer",
                message,
            },
        )
            .into_response(),
        DomainError::Unavailable {
            retry_after_secs, ..
        } => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(
                axum::http::header::RETRY_AFTER,
                retry_after_secs.to_string(),
            )],
            MessagePage {
                title: "Atelier is briefly unavailable",
                message: format!(
                    "Nothing was changed. Please try again in {retry_after_secs} seconds."
                ),
            },
        )
            .into_response(),
        DomainError::RateLimited { retry_after_secs } => (
            StatusCode::TOO_MANY_REQUESTS,
            MessagePage {
                title: "Too many attempts",
                message: format!(
                    "Please wait {} minutes and try again.",
                    retry_after_secs.div_ceil(60)
                ),
            },
        )
            .into_response(),
        other => {
            tracing::error!(error = ?other, "portal request failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                MessagePage {
                    title: "Something went wrong",
                    message:
                        "We could not complete this just now. Please try again in a few minutes."
                            .into(),
                },
            )
                .into_response()
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "portal/not_found.html")]
struct NotFoundPage;

/// The page for an address with nothing behind it, with the ways back: every unknown URL
/// answers it (the router's fallback).
pub(crate) fn not_found() -> Response {
    (StatusCode::NOT_FOUND, NotFoundPage).into_response()
}

/// The router's fallback.
pub(crate) async fn unknown_address() -> Response {
    not_found()
}
