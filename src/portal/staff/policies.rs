//! `/staff/policies`: every published version, and a form to draft, preview and publish
//! the next one (ADMIN). Published versions are never edited.

use std::net::SocketAddr;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use chrono::{NaiveDate, Utc};
use serde::Deserialize;

use super::{csrf_failed, staff_error, Staff};
use crate::domain::entities::privacy_policies;
use crate::domain::privacy::policy::{self, DiffLine};
use crate::domain::staff::accounts::StaffRole;
use crate::error::DomainError;
use crate::state::AppState;

#[derive(Template, WebTemplate)]
#[template(path = "portal/staff/policies.html")]
struct PoliciesPage {
    staff: Staff,
    versions: Vec<privacy_policies::Model>,
    body: String,
    summary: String,
    effective: String,
    preview_html: Option<String>,
    diff: Vec<DiffLine>,
    notice: Option<&'static str>,
    /// The field a refusal is about (`summary`, `effective` or `body`) and its message.
    error: Option<(&'static str, String)>,
}

/// The field of the form a refusal from the domain is about.
fn field_of(message: &str) -> &'static str {
    if message.contains("summary") {
        "summary"
    } else if message.contains("date") {
        "effective"
    } else {
        "body"
    }
}

impl PoliciesPage {
    /// The message for one field, if the refusal is about it.
    fn error_for(&self, field: &str) -> Option<&str> {
        self.error
            .as_ref()
            .filter(|(f, _)| *f == field)
            .map(|(_, m)| m.as_str())
    }

    fn css(&self, line: &DiffLine) -> &'static str {
        crate::portal::diff_class(line)
    }

    fn marker(&self, line: &DiffLine) -> &'static str {
        crate::portal::diff_marker(line)
    }

    fn counts(&self) -> String {
        crate::portal::diff_summary(&self.diff)
    }
}

#[derive(Deserialize, Default)]
pub struct PolicyForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    summary: String,
    #[serde(default)]
    effective: String,
    #[serde(default)]
    intent: String,
}

#[derive(Deserialize, Default)]
pub struct Published {
    #[serde(default)]
    published: String,
}

async fn page(
    state: &AppState,
    staff_member: Staff,
    form: PolicyForm,
    preview: bool,
    notice: Option<&'static str>,
    error: Option<String>,
) -> Response {
    let versions = match policy::versions(&state.db).await {
        Ok(v) => v,
        Err(e) => return staff_error(e),
    };
    let current_body = versions.first().map(|v| v.body.clone()).unwrap_or_default();
    let body = if form.body.is_empty() {
        current_body.clone()
    } else {
        form.body
    };
    let (preview_html, diff) = if preview {
        (
            Some(policy::render(&body)),
            policy::diff(&current_body, &body),
        )
    } else {
        (None, Vec::new())
    };
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    (
        status,
        PoliciesPage {
            staff: staff_member,
            versions,
            body,
            summary: form.summary,
            effective: if form.effective.is_empty() {
                Utc::now().format("%Y-%m-%d").to_string()
            } else {
                form.effective
            },
            preview_html,
            diff,
            notice,
            error: error.map(|m| (field_of(&m), crate::portal::sentence(&m))),
        },
    )
        .into_response()
}

pub async fn show(
    State(state): State<AppState>,
    staff_member: Staff,
    axum::extract::Query(query): axum::extract::Query<Published>,
) -> Response {
    if let Some(denied) = staff_member.denied_unless(StaffRole::Admin) {
        return denied;
    }
    let notice = (!query.published.is_empty()).then_some("Published.");
    page(
        &state,
        staff_member,
        PolicyForm::default(),
        false,
        notice,
        None,
    )
    .await
}

pub async fn submit(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    staff_member: Staff,
    Form(form): Form<PolicyForm>,
) -> Response {
    if let Some(denied) = staff_member.denied_unless(StaffRole::Admin) {
        return denied;
    }
    if !staff_member.csrf_ok(&form.csrf) {
        return csrf_failed();
    }
    if form.intent != "publish" {
        return page(&state, staff_member, form, true, None, None).await;
    }
    let effective = match NaiveDate::parse_from_str(form.effective.trim(), "%Y-%m-%d") {
        Ok(day) if day == Utc::now().date_naive() => Utc::now(),
        Ok(day) => match day.and_hms_opt(0, 0, 0) {
            Some(start) => start.and_utc(),
            None => {
                return page(
                    &state,
                    staff_member,
                    form,
                    true,
                    None,
                    Some("Choose a valid date.".into()),
                )
                .await
            }
        },
        Err(_) => {
            return page(
                &state,
                staff_member,
                form,
                true,
                None,
                Some("The effective date must look like 2026-12-01.".into()),
            )
            .await
        }
    };
    let meta = crate::http::request_meta(peer, &headers);
    match policy::publish(
        &state.db,
        &staff_member.identity,
        &form.body,
        &form.summary,
        effective,
        &meta,
    )
    .await
    {
        Ok(published) => Redirect::to(&format!("/staff/policies?published={}", published.version))
            .into_response(),
        Err(DomainError::BadInput(message)) => {
            page(&state, staff_member, form, true, None, Some(message)).await
        }
        Err(e) => staff_error(e),
    }
}
