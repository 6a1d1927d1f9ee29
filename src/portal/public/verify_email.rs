//! `/verify-email`: where the sign-up email's link lands when no app answers it. The GET
//! only shows a button, so mail scanners that prefetch links do not use the token up;
//! the POST confirms. (No CSRF token here: forging the POST needs the emailed token.)

use std::net::SocketAddr;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use serde::Deserialize;

use super::MessagePage;
use crate::domain::identity::accounts;
use crate::error::DomainError;
use crate::state::AppState;

#[derive(Deserialize)]
pub struct TokenParam {
    #[serde(default)]
    token: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "portal/verify_email.html")]
struct ConfirmPage {
    token: String,
}

pub async fn verify_email_page(Query(param): Query<TokenParam>) -> Response {
    if param.token.is_empty() || param.token.len() > 200 {
        return invalid_link();
    }
    ConfirmPage { token: param.token }.into_response()
}

pub async fn verify_email_submit(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<TokenParam>,
) -> Response {
    if form.token.is_empty() || form.token.len() > 200 {
        return invalid_link();
    }
    let meta = crate::http::request_meta(peer, &headers);
    match accounts::verify_email(&state.db, &form.token, &meta).await {
        Ok(_) => MessagePage {
            title: "Email address confirmed",
            message: "Thank you: your email address is confirmed. You can now sign in to Atelier."
                .into(),
        }
        .into_response(),
        Err(DomainError::BadInput(_)) | Err(DomainError::NotFound(_)) => invalid_link(),
        Err(e) => {
            tracing::error!(error = ?e, "email verification failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                MessagePage {
                    title: "Something went wrong",
                    message: "We could not confirm your address just now. Please try the link again in a few minutes.".into(),
                },
            )
                .into_response()
        }
    }
}

fn invalid_link() -> Response {
    (
        StatusCode::BAD_REQUEST,
        MessagePage {
            title: "This link does not work",
            message: "The link is invalid, was already used, or has expired. Sign in to Atelier to get a new one.".into(),
        },
    )
        .into_response()
}
