//! The dashboard, the queue and the request page with its actions.

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
use crate::domain::entities::{privacy_requests, staff_users};
use crate::domain::privacy::clock::Jurisdiction;
use crate::domain::privacy::requests::{RequestKind, RequestStatus};
use crate::domain::privacy::review::{self, Counts, QueueFilter, StaffView};
use crate::domain::staff::accounts::{self as staff, StaffRole};
use crate::error::DomainError;
use crate::state::AppState;

fn date(at: &DateTime<Utc>) -> String {
    at.format("%-d %b %Y").to_string()
}

/// How urgent a row looks: overdue, due within 7 days, or neither.
/// A request's kind in staff words (ERASE → Erasure).
fn kind_word(code: &str) -> &'static str {
    RequestKind::parse(code).map_or("Unknown", RequestKind::noun)
}

/// A request's status in staff words (VERIFIED → Email confirmed).
fn status_word(code: &str) -> &'static str {
    RequestStatus::parse(code).map_or("Unknown", RequestStatus::short_label)
}

fn urgency(request: &privacy_requests::Model, now: DateTime<Utc>) -> &'static str {
    let due = review::effective_due(request);
    if due < now {
        "overdue"
    } else if due < now + chrono::Duration::days(7) {
        "due-soon"
    } else {
        ""
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "portal/staff/dashboard.html")]
struct DashboardPage {
    staff: Staff,
    counts: Counts,
    urgent: Vec<privacy_requests::Model>,
    now: DateTime<Utc>,
}

impl DashboardPage {
    fn kind(&self, code: &str) -> &'static str {
        kind_word(code)
    }

    fn status_word(&self, code: &str) -> &'static str {
        status_word(code)
    }

    fn due(&self, r: &privacy_requests::Model) -> String {
        date(&review::effective_due(r))
    }

    fn urgency(&self, r: &privacy_requests::Model) -> &'static str {
        urgency(r, self.now)
    }
}

pub async fn dashboard(State(state): State<AppState>, staff_member: Staff) -> Response {
    if let Some(denied) = staff_member.denied_unless(StaffRole::Support) {
        return denied;
    }
    let now = Utc::now();
    let result = async {
        let counts = review::counts(&state.db, now).await?;
        let mut urgent = review::queue(&state.db, &QueueFilter::default(), now).await?;
        urgent.truncate(10);
        Ok::<_, DomainError>((counts, urgent))
    }
    .await;
    match result {
        Ok((counts, urgent)) => DashboardPage {
            staff: staff_member,
            counts,
            urgent,
            now,
        }
        .into_response(),
        Err(e) => staff_error(e),
    }
}

#[derive(Deserialize, Default)]
pub struct QueueQuery {
    #[serde(default)]
    status: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    jurisdiction: String,
    #[serde(default)]
    assignee: String,
    #[serde(default)]
    overdue: String,
    #[serde(default)]
    q: String,
}

pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "portal/staff/queue.html")]
struct QueuePage {
    staff: Staff,
    rows: Vec<privacy_requests::Model>,
    statuses: Vec<Choice>,
    kinds: Vec<Choice>,
    jurisdictions: Vec<Choice>,
    assignees: Vec<Choice>,
    overdue: bool,
    q: String,
    now: DateTime<Utc>,
}

impl QueuePage {
    fn kind(&self, code: &str) -> &'static str {
        kind_word(code)
    }

    fn status_word(&self, code: &str) -> &'static str {
        status_word(code)
    }

    fn date(&self, at: &DateTime<Utc>) -> String {
        date(at)
    }

    fn due(&self, r: &privacy_requests::Model) -> String {
        date(&review::effective_due(r))
    }

    fn urgency(&self, r: &privacy_requests::Model) -> &'static str {
        urgency(r, self.now)
    }
}

fn choices(options: impl IntoIterator<Item = (String, String)>, current: &str) -> Vec<Choice> {
    let mut list = vec![Choice {
        value: String::new(),
        label: "Any".into(),
        selected: current.is_empty(),
    }];
    list.extend(options.into_iter().map(|(value, label)| Choice {
        selected: value == current,
        value,
        label,
    }));
    list
}

pub async fn queue(
    State(state): State<AppState>,
    staff_member: Staff,
    Query(query): Query<QueueQuery>,
) -> Response {
    if let Some(denied) = staff_member.denied_unless(StaffRole::Support) {
        return denied;
    }
    let filter = QueueFilter {
        status: RequestStatus::ALL
            .into_iter()
            .find(|s| s.as_str() == query.status),
        kind: RequestKind::parse(&query.kind),
        jurisdiction: Jurisdiction::parse(&query.jurisdiction),
        assignee: Uuid::try_parse(&query.assignee).ok(),
        overdue_only: query.overdue == "1",
        search: Some(query.q.clone()).filter(|q| !q.trim().is_empty()),
    };
    let now = Utc::now();
    let result = async {
        let rows = review::queue(&state.db, &filter, now).await?;
        let staff_list = staff::list(&state.db).await?;
        Ok::<_, DomainError>((rows, staff_list))
    }
    .await;
    let (rows, staff_list) = match result {
        Ok(found) => found,
        Err(e) => return staff_error(e),
    };
    QueuePage {
        staff: staff_member,
        rows,
        statuses: choices(
            RequestStatus::ALL
                .iter()
                .map(|s| (s.as_str().to_string(), s.as_str().to_string())),
            &query.status,
        ),
        kinds: choices(
            RequestKind::ALL
                .iter()
                .map(|k| (k.as_str().to_string(), k.as_str().to_string())),
            &query.kind,
        ),
        jurisdictions: choices(
            Jurisdiction::ALL
                .iter()
                .map(|j| (j.as_str().to_string(), j.as_str().to_string())),
            &query.jurisdiction,
        ),
        assignees: choices(
            staff_list.into_iter().map(|s| (s.id.to_string(), s.name)),
            &query.assignee,
        ),
        overdue: filter.overdue_only,
        q: query.q.chars().take(254).collect(),
        now,
    }
    .into_response()
}

#[derive(Template, WebTemplate)]
#[template(path = "portal/staff/request.html")]
struct RequestPage {
    staff: Staff,
    view: StaffView,
    staff_list: Vec<staff_users::Model>,
    notice: Option<&'static str>,
    error: Option<String>,
    now: DateTime<Utc>,
    can_decide: bool,
}

impl RequestPage {
    fn step_word(&self, name: &str) -> String {
        crate::domain::privacy::fulfil::step_label(name)
    }

    fn step_status(&self, status: &str) -> &'static str {
        crate::domain::privacy::fulfil::step_status_label(status)
    }

    fn kind(&self) -> &'static str {
        kind_word(&self.view.request.kind)
    }

    fn status_word(&self) -> &'static str {
        status_word(&self.view.request.status)
    }

    fn datetime(&self, at: &DateTime<Utc>) -> String {
        at.format("%-d %b %Y %H:%M UTC").to_string()
    }

    fn due(&self) -> String {
        date(&review::effective_due(&self.view.request))
    }

    fn urgency(&self) -> &'static str {
        urgency(&self.view.request, self.now)
    }

    fn status(&self) -> &'static str {
        RequestStatus::parse(&self.view.request.status).map_or("", |s| s.label())
    }

    fn is(&self, status: &str) -> bool {
        self.view.request.status == status
    }

    fn is_open(&self) -> bool {
        review::OPEN
            .iter()
            .any(|s| s.as_str() == self.view.request.status)
    }

    fn can_lift(&self) -> bool {
        self.can_decide
            && self.is("COMPLETED")
            && matches!(self.view.request.kind.as_str(), "RESTRICT" | "OBJECT")
            && self
                .view
                .linked_user
                .as_ref()
                .is_some_and(|u| u.status == "RESTRICTED")
    }

    fn revealed(&self, event: &Uuid) -> Option<&str> {
        self.view.revealed.get(event).map(String::as_str)
    }

    fn assigned(&self, id: &Uuid) -> bool {
        self.view.request.assigned_staff_id.as_ref() == Some(id)
    }
}

#[derive(Deserialize, Default)]
pub struct ShowQuery {
    #[serde(default)]
    done: String,
}

fn notice_for(done: &str) -> Option<&'static str> {
    match done {
        "verify-identity" => Some("Identity marked as verified."),
        "assign" => Some("Assignment saved."),
        "approve" => Some("Request approved."),
        "reject" => Some("Request refused; the requester has been emailed the reason."),
        "extend" => Some("Deadline extended; the requester has been emailed."),
        "note" => Some("Note added."),
        "lift-restriction" => Some("Restriction lifted: the account is processed normally again."),
        "rectify" => {
            Some("Correction applied; the request is complete and the requester has been emailed.")
        }
        "retry-fulfilment" => Some("Fulfilment queued to run again now."),
        _ => None,
    }
}

async fn render_request(
    state: &AppState,
    staff_member: Staff,
    id: Uuid,
    notice: Option<&'static str>,
    error: Option<String>,
) -> Response {
    let result = async {
        let view = review::view(&state.db, &state.vault, id).await?;
        let staff_list = staff::list(&state.db).await?;
        Ok::<_, DomainError>((view, staff_list))
    }
    .await;
    match result {
        Ok((view, staff_list)) => {
            let status = if error.is_some() {
                StatusCode::UNPROCESSABLE_ENTITY
            } else {
                StatusCode::OK
            };
            let can_decide = staff_member.identity.role >= StaffRole::Compliance;
            (
                status,
                RequestPage {
                    staff: staff_member,
                    view,
                    staff_list,
                    notice,
                    error,
                    now: Utc::now(),
                    can_decide,
                },
            )
                .into_response()
        }
        Err(e) => staff_error(e),
    }
}

pub async fn show(
    State(state): State<AppState>,
    staff_member: Staff,
    Path(id): Path<String>,
    Query(query): Query<ShowQuery>,
) -> Response {
    if let Some(denied) = staff_member.denied_unless(StaffRole::Support) {
        return denied;
    }
    let Ok(id) = Uuid::try_parse(&id) else {
        return crate::portal::public::not_found();
    };
    render_request(&state, staff_member, id, notice_for(&query.done), None).await
}

#[derive(Deserialize, Default)]
pub struct ActionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    method: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    note: String,
    #[serde(default)]
    assignee: String,
    #[serde(default)]
    field: String,
    #[serde(default)]
    value: String,
}

pub async fn act(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    staff_member: Staff,
    Path((id, action)): Path<(String, String)>,
    Form(form): Form<ActionForm>,
) -> Response {
    let needed = if action == "note" {
        StaffRole::Support
    } else {
        StaffRole::Compliance
    };
    if let Some(denied) = staff_member.denied_unless(needed) {
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
    let db = &state.db;
    let outcome = match action.as_str() {
        "verify-identity" => review::verify_identity(db, identity, id, &form.method, &meta)
            .await
            .map(|_| ()),
        "assign" => {
            let assignee = if form.assignee.is_empty() {
                Ok(None)
            } else {
                Uuid::try_parse(&form.assignee).map(Some)
            };
            match assignee {
                Ok(assignee) => review::assign(db, identity, id, assignee, &meta)
                    .await
                    .map(|_| ()),
                Err(_) => Err(DomainError::bad_input(
                    "choose a staff member from the list",
                )),
            }
        }
        "approve" => review::approve(db, &state.vault, identity, id, &meta)
            .await
            .map(|_| ()),
        "lift-restriction" => review::lift_restriction(db, identity, id, &meta).await,
        "rectify" => review::rectify(
            db,
            &state.vault,
            identity,
            id,
            &form.field,
            &form.value,
            &meta,
        )
        .await
        .map(|_| ()),
        "reject" => review::reject(db, &state.vault, identity, id, &form.reason, &meta)
            .await
            .map(|_| ()),
        "extend" => review::extend(db, &state.vault, identity, id, &form.reason, &meta)
            .await
            .map(|_| ()),
        "note" => review::add_note(db, identity, id, &form.note, &meta).await,
        "retry-fulfilment" => match crate::domain::staff::dead_jobs::fulfilment_of(db, id).await {
            Ok(Some(job)) => {
                crate::domain::staff::dead_jobs::retry(db, identity, job.id, &meta).await
            }
            Ok(None) => Err(DomainError::bad_input(
                "this request has no fulfilment waiting to be retried",
            )),
            Err(e) => Err(e),
        },
        _ => return crate::portal::public::not_found(),
    };
    match outcome {
        Ok(()) => Redirect::to(&format!("/staff/requests/{id}?done={action}")).into_response(),
        Err(DomainError::BadInput(message)) | Err(DomainError::Conflict(message)) => {
            render_request(&state, staff_member, id, None, Some(message)).await
        }
        Err(e) => staff_error(e),
    }
}
