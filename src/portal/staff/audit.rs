//! `/staff/audit`: the chain, filtered, with a button that verifies it end to end.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::Form;
use chrono::{NaiveDate, Utc};
use serde::Deserialize;

use super::{csrf_failed, staff_error, Staff};
use crate::domain::entities::audit_events;
use crate::domain::ops::audit::{self, ChainReport, Search};
use crate::domain::staff::accounts::StaffRole;
use crate::state::AppState;

#[derive(Deserialize, Default, Clone)]
pub struct AuditQuery {
    #[serde(default)]
    actor: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    target: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    until: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "portal/staff/audit.html")]
struct AuditPage {
    staff: Staff,
    query: AuditQuery,
    events: Vec<audit_events::Model>,
    /// Names of the actors and targets, by id.
    names: std::collections::HashMap<String, String>,
    report: Option<ChainReport>,
    error: Option<String>,
}

impl AuditPage {
    /// How an actor or target is shown: its kind and name, or its id when it names
    /// nothing that exists.
    fn who(&self, kind: &str, id: &Option<String>) -> String {
        match id {
            Some(id) => match self.names.get(id) {
                Some(name) => format!("{} {name}", kind.replace('_', " ")),
                None => format!("{} {id}", kind.replace('_', " ")),
            },
            None => kind.replace('_', " "),
        }
    }
}

fn day(value: &str) -> Result<Option<chrono::DateTime<Utc>>, String> {
    if value.trim().is_empty() {
        return Ok(None);
    }
    NaiveDate::parse_from_str(value.trim(), "%Y-%m-%d")
        .map(|d| d.and_hms_opt(0, 0, 0).map(|t| t.and_utc()))
        .map_err(|_| format!("{value:?} is not a date like 2026-11-23"))
}

async fn render(
    state: &AppState,
    staff_member: Staff,
    query: AuditQuery,
    report: Option<ChainReport>,
) -> Response {
    let text = |v: &str| Some(v.trim().to_string()).filter(|v| !v.is_empty());
    let (from, until) = match (day(&query.from), day(&query.until)) {
        (Ok(from), Ok(until)) => (from, until.map(|u| u + chrono::Duration::days(1))),
        (Err(e), _) | (_, Err(e)) => {
            return AuditPage {
                staff: staff_member,
                query,
                events: Vec::new(),
                names: Default::default(),
                report,
                error: Some(e),
            }
            .into_response()
        }
    };
    let search = Search {
        actor: text(&query.actor),
        action: text(&query.action),
        target: text(&query.target),
        from,
        until,
    };
    let events = match audit::search(&state.db, &search, 200).await {
        Ok(events) => events,
        Err(e) => return staff_error(e),
    };
    match audit::names(&state.db, &events).await {
        Ok(names) => AuditPage {
            staff: staff_member,
            query,
            events,
            names,
            report,
            error: None,
        }
        .into_response(),
        Err(e) => staff_error(e),
    }
}

pub async fn show(
    State(state): State<AppState>,
    staff_member: Staff,
    Query(query): Query<AuditQuery>,
) -> Response {
    if let Some(denied) = staff_member.denied_unless(StaffRole::Support) {
        return denied;
    }
    render(&state, staff_member, query, None).await
}

#[derive(Deserialize)]
pub struct VerifyForm {
    #[serde(default)]
    csrf: String,
}

pub async fn verify(
    State(state): State<AppState>,
    staff_member: Staff,
    Form(form): Form<VerifyForm>,
) -> Response {
    if let Some(denied) = staff_member.denied_unless(StaffRole::Support) {
        return denied;
    }
    if !staff_member.csrf_ok(&form.csrf) {
        return csrf_failed();
    }
    // Everything appended up to now is linked first, so the check covers it.
    if let Err(e) = audit::seal(&state.db).await {
        return staff_error(e);
    }
    match audit::verify_chain(&state.db).await {
        Ok(report) => render(&state, staff_member, AuditQuery::default(), Some(report)).await,
        Err(e) => staff_error(e),
    }
}
