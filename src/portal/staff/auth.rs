//! Staff log-in, first-admin setup and log-out.

use std::net::SocketAddr;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;

use super::{csrf_failed, session_cookie, staff_error, Staff};
use crate::domain::staff::accounts::{self as staff, ABSOLUTE_TIMEOUT_HOURS};
use crate::error::DomainError;
use crate::portal::csrf;
use crate::state::AppState;

#[derive(Template, WebTemplate)]
#[template(path = "portal/staff/login.html")]
struct LoginPage {
    csrf: String,
    email: String,
    error: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "portal/staff/setup.html")]
struct SetupPage {
    csrf: String,
    token: String,
    email: String,
    name: String,
    error: Option<String>,
}

fn respond(token: &csrf::CsrfToken, status: StatusCode, page: impl IntoResponse) -> Response {
    match &token.set_cookie {
        Some(cookie) => (status, [(header::SET_COOKIE, cookie.clone())], page).into_response(),
        None => (status, page).into_response(),
    }
}

fn signed_in(state: &AppState, cookie_value: &str) -> Response {
    (
        [(
            header::SET_COOKIE,
            session_cookie(state, cookie_value, ABSOLUTE_TIMEOUT_HOURS * 3600),
        )],
        Redirect::to("/staff"),
    )
        .into_response()
}

pub async fn login_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let token = csrf::issue(&state, &headers);
    let page = LoginPage {
        csrf: token.field.clone(),
        email: String::new(),
        error: None,
    };
    respond(&token, StatusCode::OK, page)
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
}

pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let token = csrf::issue(&state, &headers);
    let again = |status: StatusCode, error: String| {
        let page = LoginPage {
            csrf: token.field.clone(),
            email: form.email.chars().take(254).collect(),
            error: Some(error),
        };
        respond(&token, status, page)
    };
    if !csrf::verify(&state, &headers, &form.csrf) {
        return again(
            StatusCode::FORBIDDEN,
            "This form expired. Please sign in again.".into(),
        );
    }
    let meta = crate::http::request_meta(peer, &headers);
    match staff::log_in(
        &state.db,
        &state.staff_login_limits,
        &form.email,
        &form.password,
        &meta,
    )
    .await
    {
        Ok((_, cookie)) => signed_in(&state, &cookie),
        Err(DomainError::Unauthenticated(_)) => again(
            StatusCode::UNAUTHORIZED,
            "The email or password is incorrect.".into(),
        ),
        Err(DomainError::RateLimited { retry_after_secs }) => again(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "Too many failed attempts: sign-in is locked for {} minutes.",
                retry_after_secs.div_ceil(60)
            ),
        ),
        Err(e) => staff_error(e),
    }
}

#[derive(Deserialize)]
pub struct TokenQuery {
    #[serde(default)]
    token: String,
}

pub async fn setup_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<TokenQuery>,
) -> Response {
    let token = csrf::issue(&state, &headers);
    let page = SetupPage {
        csrf: token.field.clone(),
        token: query.token.chars().take(200).collect(),
        email: String::new(),
        name: String::new(),
        error: None,
    };
    respond(&token, StatusCode::OK, page)
}

#[derive(Deserialize)]
pub struct SetupForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
}

pub async fn setup(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<SetupForm>,
) -> Response {
    let token = csrf::issue(&state, &headers);
    let again = |status: StatusCode, error: String| {
        let page = SetupPage {
            csrf: token.field.clone(),
            token: form.token.chars().take(200).collect(),
            email: form.email.chars().take(254).collect(),
            name: form.name.chars().take(100).collect(),
            error: Some(error),
        };
        respond(&token, status, page)
    };
    if !csrf::verify(&state, &headers, &form.csrf) {
        return again(
            StatusCode::FORBIDDEN,
            "This form expired. Please send it again.".into(),
        );
    }
    let meta = crate::http::request_meta(peer, &headers);
    match staff::complete_setup(
        &state.db,
        &form.token,
        &form.email,
        &form.name,
        &form.password,
        &meta,
    )
    .await
    {
        Ok((_, cookie)) => signed_in(&state, &cookie),
        Err(DomainError::BadInput(message)) | Err(DomainError::Conflict(message)) => again(
            StatusCode::UNPROCESSABLE_ENTITY,
            crate::portal::sentence(&message),
        ),
        Err(e) => staff_error(e),
    }
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

pub async fn logout(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    staff_member: Staff,
    Form(form): Form<CsrfOnly>,
) -> Response {
    if !staff_member.csrf_ok(&form.csrf) {
        return csrf_failed();
    }
    let meta = crate::http::request_meta(peer, &headers);
    if let Err(e) = staff::log_out(&state.db, &staff_member.identity, &meta).await {
        return staff_error(e);
    }
    (
        [(header::SET_COOKIE, session_cookie(&state, "", 0))],
        Redirect::to("/staff/login"),
    )
        .into_response()
}
