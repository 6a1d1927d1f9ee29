//! `/staff/jobs`: background work that is failing or was given up — what it is for, how
//! often it was tried, its last error (never its sealed payload) — with Retry and
//! Discard for COMPLIANCE staff and above.

use std::net::SocketAddr;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use uuid::Uuid;

use super::{csrf_failed, staff_error, Staff};
use crate::domain::staff::accounts::StaffRole;
use crate::domain::staff::dead_jobs::{self, TroubledJob};
use crate::error::DomainError;
use crate::state::AppState;

#[derive(Template, WebTemplate)]
#[template(path = "portal/staff/jobs.html")]
struct JobsPage {
    staff: Staff,
    jobs: Vec<TroubledJob>,
    can_act: bool,
    notice: Option<&'static str>,
    error: Option<String>,
}

impl JobsPage {
    fn datetime(&self, at: &DateTime<Utc>) -> String {
        at.format("%-d %b %Y %H:%M UTC").to_string()
    }

    fn dead(&self) -> usize {
        self.jobs.iter().filter(|j| j.is_dead()).count()
    }
}

#[derive(Deserialize, Default)]
pub struct Done {
    #[serde(default)]
    done: String,
}

async fn page(
    state: &AppState,
    staff_member: Staff,
    notice: Option<&'static str>,
    error: Option<String>,
) -> Response {
    let jobs = match dead_jobs::list(&state.db).await {
        Ok(jobs) => jobs,
        Err(e) => return staff_error(e),
    };
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let can_act = staff_member.identity.role >= StaffRole::Compliance;
    (
        status,
        JobsPage {
            staff: staff_member,
            jobs,
            can_act,
            notice,
            error,
        },
    )
        .into_response()
}

pub async fn show(
    State(state): State<AppState>,
    staff_member: Staff,
    Query(done): Query<Done>,
) -> Response {
    if let Some(denied) = staff_member.denied_unless(StaffRole::Support) {
        return denied;
    }
    let notice = match done.done.as_str() {
        "retry" => Some("The job is queued to run again now."),
        "discard" => Some("The job was discarded."),
        _ => None,
    };
    page(&state, staff_member, notice, None).await
}

#[derive(Deserialize, Default)]
pub struct Action {
    #[serde(default)]
    csrf: String,
}

pub async fn act(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    staff_member: Staff,
    Path((id, action)): Path<(String, String)>,
    Form(form): Form<Action>,
) -> Response {
    if let Some(denied) = staff_member.denied_unless(StaffRole::Compliance) {
        return denied;
    }
    if !staff_member.csrf_ok(&form.csrf) {
        return csrf_failed();
    }
    let Ok(id) = Uuid::try_parse(&id) else {
        return crate::portal::public::not_found();
    };
    let meta = crate::http::request_meta(peer, &headers);
    let identity = &staff_member.identity;
    let outcome = match action.as_str() {
        "retry" => dead_jobs::retry(&state.db, identity, id, &meta).await,
        "discard" => dead_jobs::discard(&state.db, identity, id, &meta).await,
        _ => return crate::portal::public::not_found(),
    };
    match outcome {
        Ok(()) => Redirect::to(&format!("/staff/jobs?done={action}")).into_response(),
        Err(DomainError::Conflict(message)) | Err(DomainError::BadInput(message)) => {
            page(&state, staff_member, None, Some(message)).await
        }
        Err(DomainError::NotFound(_)) => {
            page(
                &state,
                staff_member,
                None,
                Some("That job is no longer waiting: it finished or was discarded.".into()),
            )
            .await
        }
        Err(e) => staff_error(e),
    }
}
