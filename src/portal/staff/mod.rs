//! The staff compliance portal: cookie sessions (`__Host-` prefixed and Secure outside
//! development, HttpOnly, SameSite=Lax), a per-session CSRF token on every form, and the
//! role each route needs checked before anything else happens.

mod audit;
mod auth;
mod jobs;
mod keys;
mod policies;
mod requests;
mod team;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::domain::staff::accounts::{self as staff, StaffIdentity, StaffRole};
use crate::error::DomainError;
use crate::state::AppState;

const DEV_COOKIE: &str = "atelier_staff";
const PROD_COOKIE: &str = "__Host-atelier_staff";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/staff/login", get(auth::login_page).post(auth::login))
        .route("/staff/setup", get(auth::setup_page).post(auth::setup))
        .route("/staff/logout", post(auth::logout))
        .route("/staff", get(requests::dashboard))
        .route("/staff/requests", get(requests::queue))
        .route("/staff/requests/{id}", get(requests::show))
        .route("/staff/requests/{id}/{action}", post(requests::act))
        .route("/staff/audit", get(audit::show))
        .route("/staff/audit/verify", post(audit::verify))
        .route(
            "/staff/policies",
            get(policies::show).post(policies::submit),
        )
        .route("/staff/team", get(team::show).post(team::create))
        .route("/staff/jobs", get(jobs::show))
        .route("/staff/jobs/{id}/{action}", post(jobs::act))
        .route("/staff/keys", get(keys::show))
        .route("/staff/keys/rotate", post(keys::rotate))
        .route("/staff/team/{id}/{action}", post(team::toggle))
}

pub(crate) fn cookie_name(state: &AppState) -> &'static str {
    if state.config.is_production() {
        PROD_COOKIE
    } else {
        DEV_COOKIE
    }
}

pub(crate) fn session_cookie(state: &AppState, value: &str, max_age_secs: i64) -> HeaderValue {
    let cookie = crate::http::set_cookie(
        state.config.is_production(),
        cookie_name(state),
        value,
        "/",
        "Lax",
        Some(max_age_secs),
    );
    // invariant: the value is an ASCII token we minted (uuid hex, '.', base64url).
    HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// A signed-in staff member with this request's CSRF token; routes that take it redirect
/// to the log-in page when there is no live session.
pub struct Staff {
    pub identity: StaffIdentity,
    pub csrf: String,
}

impl Staff {
    /// The role check every route starts with: the refusal page when the role is short.
    pub fn denied_unless(&self, role: StaffRole) -> Option<Response> {
        self.identity
            .require(role)
            .err()
            .map(|e| forbidden(&e.to_string()))
    }

    /// True when a submitted form carries this session's CSRF token.
    pub fn csrf_ok(&self, presented: &str) -> bool {
        let Ok(bytes) = hex::decode(presented.trim()) else {
            return false;
        };
        csrf_mac(&self.identity.session.csrf_secret)
            .verify_slice(&bytes)
            .is_ok()
    }
}

fn csrf_mac(secret: &str) -> Hmac<Sha256> {
    let mut mac = crate::crypto::hmac_sha256(secret.as_bytes());
    mac.update(b"atelier staff form");
    mac
}

impl FromRequestParts<AppState> for Staff {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let to_login = || Redirect::to("/staff/login").into_response();
        let Some(cookie) = crate::http::read_cookie(&parts.headers, cookie_name(state)) else {
            return Err(to_login());
        };
        match staff::authenticate(&state.db, cookie).await {
            Ok(Some(identity)) => {
                let csrf = hex::encode(
                    csrf_mac(&identity.session.csrf_secret)
                        .finalize()
                        .into_bytes(),
                );
                Ok(Staff { identity, csrf })
            }
            Ok(None) => Err(to_login()),
            Err(e) => Err(crate::portal::public::error_page(e)),
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "portal/staff/message.html")]
struct StaffMessage {
    title: &'static str,
    message: String,
}

pub(crate) fn forbidden(message: &str) -> Response {
    (
        StatusCode::FORBIDDEN,
        StaffMessage {
            title: "Not allowed",
            message: message.to_string(),
        },
    )
        .into_response()
}

pub(crate) fn csrf_failed() -> Response {
    (
        StatusCode::FORBIDDEN,
        StaffMessage {
            title: "Please try again",
            message: "This form expired or came from another site. Go back, reload the page and try again.".into(),
        },
    )
        .into_response()
}

pub(crate) fn staff_error(error: DomainError) -> Response {
    match error {
        DomainError::Forbidden(message) => forbidden(&message),
        other => crate::portal::public::error_page(other),
    }
}
