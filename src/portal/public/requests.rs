//! The rights-request pages: the form (and its deletion variant), the emailed
//! confirmation, status links and cancellation. Every answer that could reveal whether
//! an email address has an account is the same whatever was typed.

use std::net::SocketAddr;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use serde::Deserialize;

use super::{error_page, MessagePage};
use crate::domain::entities::{privacy_request_events, privacy_requests};
use crate::domain::identity::rate_limit::RateLimiter;
use crate::domain::privacy::clock::Jurisdiction;
use crate::domain::privacy::requests::{
    self, FieldErrors, PublicView, RequestForm, RequestKind, RequestSource, RequestStatus,
};
use crate::error::DomainError;
use crate::portal::csrf;
use crate::state::AppState;

/// One `<option>`.
pub struct Choice {
    pub value: &'static str,
    pub label: &'static str,
    pub selected: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "portal/privacy/request_form.html")]
struct FormPage {
    deletion: bool,
    csrf: String,
    form: RequestForm,
    kinds: Vec<Choice>,
    jurisdictions: Vec<Choice>,
    errors: FieldErrors,
    general_error: Option<String>,
}

impl FormPage {
    fn new(
        deletion: bool,
        csrf: String,
        form: RequestForm,
        errors: FieldErrors,
        general_error: Option<String>,
    ) -> Self {
        let kinds = RequestKind::ALL
            .iter()
            .map(|k| Choice {
                value: k.as_str(),
                label: k.label(),
                selected: form.kind == k.as_str(),
            })
            .collect();
        let mut jurisdictions = vec![Choice {
            value: "",
            label: "I'm not sure: work it out for me",
            selected: form.jurisdiction.is_empty(),
        }];
        jurisdictions.extend(Jurisdiction::ALL.iter().map(|j| Choice {
            value: j.as_str(),
            label: j.label(),
            selected: form.jurisdiction == j.as_str(),
        }));
        Self {
            deletion,
            csrf,
            form,
            kinds,
            jurisdictions,
            errors,
            general_error,
        }
    }

    fn error(&self, field: &str) -> Option<&str> {
        self.errors.get(field)
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "portal/privacy/check_inbox.html")]
struct CheckInboxPage;

#[derive(Template, WebTemplate)]
#[template(path = "portal/privacy/confirm.html")]
struct ConfirmPage {
    token: String,
    csrf: String,
    /// What the person asked for, in words.
    kind: &'static str,
    erasure: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "portal/privacy/cancel_confirm.html")]
struct CancelConfirmPage {
    token: String,
    csrf: String,
    reference: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "portal/privacy/confirmed.html")]
struct ConfirmedPage {
    reference: String,
    kind: &'static str,
    due_date: String,
    deadline: &'static str,
}

#[derive(Template, WebTemplate)]
#[template(path = "portal/privacy/status_form.html")]
struct StatusFormPage {
    csrf: String,
    reference: String,
    email: String,
    error: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "portal/privacy/status_sent.html")]
struct StatusSentPage;

#[derive(Template, WebTemplate)]
#[template(path = "portal/privacy/status.html")]
pub(crate) struct StatusPage {
    pub request: privacy_requests::Model,
    pub timeline: Vec<privacy_request_events::Model>,
    pub kind: &'static str,
    pub status: &'static str,
    pub deadline: &'static str,
    pub refused: bool,
    /// The status link's token, when the page may offer cancellation.
    pub cancel_token: Option<String>,
    pub csrf: String,
    pub notice: Option<String>,
}

impl StatusPage {
    pub(crate) fn new(
        view: PublicView,
        cancel_token: Option<String>,
        csrf: String,
        notice: Option<String>,
    ) -> Self {
        let status = RequestStatus::parse(&view.request.status).unwrap_or(RequestStatus::InReview);
        let jurisdiction =
            Jurisdiction::parse(&view.request.jurisdiction).unwrap_or(Jurisdiction::Other);
        Self {
            kind: RequestKind::parse(&view.request.kind).map_or("Request", |k| k.label()),
            status: status.label(),
            deadline: jurisdiction.deadline_in_words(),
            refused: status == RequestStatus::Rejected,
            cancel_token: cancel_token.filter(|_| status.can_cancel()),
            request: view.request,
            timeline: view.timeline,
            csrf,
            notice,
        }
    }

    fn date(&self, at: &chrono::DateTime<chrono::Utc>) -> String {
        at.format("%-d %B %Y").to_string()
    }
}

fn with_cookie(token: &csrf::CsrfToken, status: StatusCode, page: impl IntoResponse) -> Response {
    match &token.set_cookie {
        Some(cookie) => (status, [(header::SET_COOKIE, cookie.clone())], page).into_response(),
        None => (status, page).into_response(),
    }
}

#[derive(Deserialize, Default)]
pub struct SubmitForm {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    workspace_name: String,
    #[serde(default)]
    channel_identifiers: String,
    #[serde(default)]
    details: String,
    #[serde(default)]
    jurisdiction: String,
    #[serde(default)]
    csrf: String,
    /// The honeypot: hidden from people, filled in by bots.
    #[serde(default)]
    website: String,
    #[serde(default)]
    deletion: String,
}

/// `GET /privacy/requests/new`
pub async fn new_request(State(state): State<AppState>, headers: HeaderMap) -> Response {
    show_form(&state, &headers, false)
}

/// `GET /privacy/deletion`: explains deletion, with the form set to ERASE.
pub async fn deletion(State(state): State<AppState>, headers: HeaderMap) -> Response {
    show_form(&state, &headers, true)
}

fn show_form(state: &AppState, headers: &HeaderMap, deletion: bool) -> Response {
    let token = csrf::issue(state, headers);
    let form = RequestForm {
        kind: if deletion {
            RequestKind::Erase.as_str().into()
        } else {
            String::new()
        },
        ..RequestForm::default()
    };
    let page = FormPage::new(
        deletion,
        token.field.clone(),
        form,
        FieldErrors::default(),
        None,
    );
    with_cookie(&token, StatusCode::OK, page)
}

/// `POST /privacy/requests/new`
pub async fn submit(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(input): Form<SubmitForm>,
) -> Response {
    let deletion = input.deletion == "1";
    let form = RequestForm {
        kind: input.kind,
        email: input.email,
        workspace_name: input.workspace_name,
        channel_identifiers: input.channel_identifiers,
        details: input.details,
        jurisdiction: input.jurisdiction,
    };
    let token = csrf::issue(&state, &headers);
    let again =
        |status: StatusCode, errors: FieldErrors, general: Option<String>, form: RequestForm| {
            with_cookie(
                &token,
                status,
                FormPage::new(deletion, token.field.clone(), form, errors, general),
            )
        };
    if !csrf::verify(&state, &headers, &input.csrf) {
        return again(
            StatusCode::FORBIDDEN,
            FieldErrors::default(),
            Some("This form expired or was sent from another site. Please check your answers and send it again.".into()),
            form,
        );
    }
    if !input.website.is_empty() {
        // A bot filled the hidden field: answer as if all went well, do nothing.
        return CheckInboxPage.into_response();
    }
    let meta = crate::http::request_meta(peer, &headers);
    // Only accepted submissions count against the limits: a person who mistyped their
    // address and sends the form again is not one request nearer to being locked out.
    let valid = match requests::validate(&form, meta.accept_language.as_deref()) {
        Ok(valid) => valid,
        Err(errors) => {
            return again(
                StatusCode::UNPROCESSABLE_ENTITY,
                errors,
                Some("Please correct the fields marked below.".into()),
                form,
            )
        }
    };
    let email_key = valid
        .email
        .as_ref()
        .map(|e| e.as_str().to_string())
        .unwrap_or_default();
    let ip = peer.ip().to_string();
    let limits = &state.privacy_limits;
    // Counted against the network and the address together, or against neither.
    let reserved = RateLimiter::reserve_all(&[
        (&limits.requests_per_ip, &ip),
        (&limits.requests_per_email, &email_key),
    ])
    .await;
    if let Err(refused) = reserved {
        if !matches!(refused, DomainError::RateLimited { .. }) {
            return error_page(refused);
        }
        let message = if limits.requests_per_ip.check(&ip).await.is_err() {
            "We have received many requests from your network. Please wait an hour and try again."
        } else {
            "We have received several requests for this email address recently. Please check your inbox, or wait an hour and try again."
        };
        return again(
            StatusCode::TOO_MANY_REQUESTS,
            FieldErrors::default(),
            Some(message.into()),
            form,
        );
    }
    match requests::submit(&state.db, &state.vault, valid, RequestSource::Portal, &meta).await {
        Ok(_) => CheckInboxPage.into_response(),
        Err(e) => error_page(e),
    }
}

#[derive(Deserialize)]
pub struct TokenQuery {
    #[serde(default)]
    token: String,
}

#[derive(Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    csrf: String,
    /// `yes` once the person has confirmed on the second step (cancelling).
    #[serde(default)]
    confirm: String,
}

fn invalid_link() -> Response {
    (
        StatusCode::BAD_REQUEST,
        MessagePage {
            title: "This link does not work",
            message: "The link is invalid, was already used, or has expired. You can send your request again from the privacy request page.".into(),
        },
    )
        .into_response()
}

fn form_expired() -> Response {
    (
        StatusCode::FORBIDDEN,
        MessagePage {
            title: "Please try again",
            message: "This form expired or was sent from another site. Go back, reload the page and press the button again.".into(),
        },
    )
        .into_response()
}

/// `GET /privacy/requests/confirm?token=`: a button, so link scanners do not confirm.
pub async fn confirm_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<TokenQuery>,
) -> Response {
    if query.token.is_empty() || query.token.len() > 200 {
        return invalid_link();
    }
    let kind = match requests::awaiting_confirmation(&state.db, &query.token).await {
        Ok(kind) => kind,
        Err(DomainError::BadInput(_)) => return invalid_link(),
        Err(e) => return error_page(e),
    };
    let token = csrf::issue(&state, &headers);
    let page = ConfirmPage {
        token: query.token,
        csrf: token.field.clone(),
        kind: kind.label(),
        erasure: kind == RequestKind::Erase,
    };
    with_cookie(&token, StatusCode::OK, page)
}

/// `POST /privacy/requests/confirm`
pub async fn confirm(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<TokenForm>,
) -> Response {
    if !csrf::verify(&state, &headers, &form.csrf) {
        return form_expired();
    }
    let meta = crate::http::request_meta(peer, &headers);
    match requests::confirm(&state.db, &state.vault, &form.token, &meta).await {
        Ok(request) => {
            let jurisdiction =
                Jurisdiction::parse(&request.jurisdiction).unwrap_or(Jurisdiction::Other);
            ConfirmedPage {
                kind: RequestKind::parse(&request.kind).map_or("Request", |k| k.label()),
                due_date: request.due_at.format("%-d %B %Y").to_string(),
                deadline: jurisdiction.deadline_in_words(),
                reference: request.reference,
            }
            .into_response()
        }
        Err(DomainError::BadInput(_)) => invalid_link(),
        Err(e) => error_page(e),
    }
}

/// `GET /privacy/requests/status`: the lookup form, or with `?token=` the status page.
pub async fn status(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<TokenQuery>,
) -> Response {
    let token = csrf::issue(&state, &headers);
    if query.token.is_empty() {
        let page = StatusFormPage {
            csrf: token.field.clone(),
            reference: String::new(),
            email: String::new(),
            error: None,
        };
        return with_cookie(&token, StatusCode::OK, page);
    }
    match requests::open_status(&state.db, &query.token).await {
        Ok(view) => {
            let page = StatusPage::new(view, Some(query.token), token.field.clone(), None);
            with_cookie(&token, StatusCode::OK, page)
        }
        Err(DomainError::BadInput(_)) => invalid_link(),
        Err(e) => error_page(e),
    }
}

#[derive(Deserialize)]
pub struct StatusLookup {
    #[serde(default)]
    reference: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    csrf: String,
}

/// `POST /privacy/requests/status`: emails a status link when reference and email match;
/// the answer is the same either way.
pub async fn status_lookup(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<StatusLookup>,
) -> Response {
    let token = csrf::issue(&state, &headers);
    let again = |status: StatusCode, error: &str| {
        let page = StatusFormPage {
            csrf: token.field.clone(),
            reference: form.reference.chars().take(40).collect(),
            email: form.email.chars().take(254).collect(),
            error: Some(error.to_string()),
        };
        with_cookie(&token, status, page)
    };
    if !csrf::verify(&state, &headers, &form.csrf) {
        return again(
            StatusCode::FORBIDDEN,
            "This form expired or was sent from another site. Please send it again.",
        );
    }
    if form.reference.trim().is_empty() || form.email.trim().is_empty() {
        return again(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Please enter both the reference of your request and your email address.",
        );
    }
    match state
        .privacy_limits
        .status_lookups_per_ip
        .check_and_hit(&peer.ip().to_string())
        .await
    {
        Ok(()) => {}
        Err(DomainError::RateLimited { .. }) => {
            return again(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many lookups from your network. Please wait an hour and try again.",
            )
        }
        Err(e) => return error_page(e),
    }
    let meta = crate::http::request_meta(peer, &headers);
    match requests::send_status_link(&state.db, &state.vault, &form.reference, &form.email, &meta)
        .await
    {
        Ok(()) => StatusSentPage.into_response(),
        Err(e) => error_page(e),
    }
}

/// `POST /privacy/requests/cancel`
pub async fn cancel(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<TokenForm>,
) -> Response {
    if !csrf::verify(&state, &headers, &form.csrf) {
        return form_expired();
    }
    if form.confirm != "yes" {
        // The first press asks again: a cancelled request cannot be resumed.
        return match requests::open_status(&state.db, &form.token).await {
            Ok(view) => {
                let token = csrf::issue(&state, &headers);
                let page = CancelConfirmPage {
                    token: form.token,
                    csrf: token.field.clone(),
                    reference: view.request.reference,
                };
                with_cookie(&token, StatusCode::OK, page)
            }
            Err(DomainError::BadInput(_)) => invalid_link(),
            Err(e) => error_page(e),
        };
    }
    let meta = crate::http::request_meta(peer, &headers);
    let notice = match requests::cancel(&state.db, &form.token, &meta).await {
        Ok(_) => "Your request is cancelled.".to_string(),
        Err(DomainError::BadInput(message))
            if message.starts_with("this request can no longer") =>
        {
            message
        }
        Err(DomainError::BadInput(_)) => return invalid_link(),
        Err(e) => return error_page(e),
    };
    match requests::open_status(&state.db, &form.token).await {
        Ok(view) => {
            let token = csrf::issue(&state, &headers);
            let page = StatusPage::new(view, Some(form.token), token.field.clone(), Some(notice));
            with_cookie(&token, StatusCode::OK, page)
        }
        Err(e) => error_page(e),
    }
}
