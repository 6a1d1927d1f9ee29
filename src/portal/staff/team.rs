//! `/staff/team`: ADMINs add staff accounts and disable or re-enable them.

use std::net::SocketAddr;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;
use uuid::Uuid;

use super::{csrf_failed, staff_error, Staff};
use crate::domain::entities::staff_users;
use crate::domain::staff::accounts::{self as staff, StaffRole};
use crate::error::DomainError;
use crate::state::AppState;

#[derive(Template, WebTemplate)]
#[template(path = "portal/staff/team.html")]
struct TeamPage {
    staff: Staff,
    members: Vec<staff_users::Model>,
    email: String,
    name: String,
    role: String,
    notice: Option<&'static str>,
    error: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct Done {
    #[serde(default)]
    done: String,
}

#[derive(Deserialize, Default)]
pub struct NewMember {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    password: String,
}

async fn page(
    state: &AppState,
    staff_member: Staff,
    form: NewMember,
    notice: Option<&'static str>,
    error: Option<String>,
) -> Response {
    let members = match staff::list_all(&state.db).await {
        Ok(members) => members,
        Err(e) => return staff_error(e),
    };
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    (
        status,
        TeamPage {
            staff: staff_member,
            members,
            email: form.email,
            name: form.name,
            role: form.role,
            notice,
            error,
        },
    )
        .into_response()
}

pub async fn show(
    State(state): State<AppState>,
    staff_member: Staff,
    Query(query): Query<Done>,
) -> Response {
    if let Some(denied) = staff_member.denied_unless(StaffRole::Admin) {
        return denied;
    }
    let notice = match query.done.as_str() {
        "created" => Some("Staff account created."),
        "disabled" => Some("Account disabled; its sessions have ended."),
        "enabled" => Some("Account enabled."),
        _ => None,
    };
    page(&state, staff_member, NewMember::default(), notice, None).await
}

pub async fn create(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    staff_member: Staff,
    Form(form): Form<NewMember>,
) -> Response {
    if let Some(denied) = staff_member.denied_unless(StaffRole::Admin) {
        return denied;
    }
    if !staff_member.csrf_ok(&form.csrf) {
        return csrf_failed();
    }
    let Some(role) = StaffRole::parse(&form.role) else {
        return page(
            &state,
            staff_member,
            form,
            None,
            Some("Choose a role.".into()),
        )
        .await;
    };
    let meta = crate::http::request_meta(peer, &headers);
    let actor = staff_member.identity.actor();
    match staff::create_staff(
        &state.db,
        &form.email,
        &form.name,
        &form.password,
        role,
        actor,
        &meta,
    )
    .await
    {
        Ok(_) => Redirect::to("/staff/team?done=created").into_response(),
        Err(DomainError::BadInput(message)) | Err(DomainError::Conflict(message)) => {
            let kept = NewMember {
                password: String::new(),
                ..form
            };
            page(&state, staff_member, kept, None, Some(message)).await
        }
        Err(e) => staff_error(e),
    }
}

#[derive(Deserialize, Default)]
pub struct Toggle {
    #[serde(default)]
    csrf: String,
}

pub async fn toggle(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    staff_member: Staff,
    Path((id, action)): Path<(String, String)>,
    Form(form): Form<Toggle>,
) -> Response {
    if let Some(denied) = staff_member.denied_unless(StaffRole::Admin) {
        return denied;
    }
    if !staff_member.csrf_ok(&form.csrf) {
        return csrf_failed();
    }
    let (Ok(id), Some(disable)) = (
        Uuid::try_parse(&id),
        match action.as_str() {
            "disable" => Some(true),
            "enable" => Some(false),
            _ => None,
        },
    ) else {
        return crate::portal::public::not_found();
    };
    let meta = crate::http::request_meta(peer, &headers);
    match staff::set_disabled(&state.db, &staff_member.identity, id, disable, &meta).await {
        Ok(_) => Redirect::to(&format!("/staff/team?done={action}d")).into_response(),
        Err(DomainError::BadInput(message)) => {
            page(
                &state,
                staff_member,
                NewMember::default(),
                None,
                Some(message),
            )
            .await
        }
        Err(e) => staff_error(e),
    }
}
