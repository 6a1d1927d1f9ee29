//! The server-rendered portal (askama): public pages now, the staff portal later. Every
//! portal response carries a strict Content-Security-Policy; output is escaped by askama.

pub mod csrf;
pub mod public;
pub mod staff;

use axum::http::{header, HeaderValue};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::domain::privacy::policy::{Change, DiffLine};
use crate::state::AppState;

const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; media-src 'self'; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The CSS class of a policy diff line.
pub(crate) fn diff_class(line: &DiffLine) -> &'static str {
    match line.change {
        Change::Same => "same",
        Change::Added => "added",
        Change::Removed => "removed",
        Change::Skipped => "skipped",
    }
}

/// The marker before a policy diff line: readers see what changed without colour.
pub(crate) fn diff_marker(line: &DiffLine) -> &'static str {
    match line.change {
        Change::Same => " ",
        Change::Added => "+",
        Change::Removed => "−",
        Change::Skipped => "…",
    }
}

/// "3 lines added, 1 removed".
pub(crate) fn diff_summary(lines: &[DiffLine]) -> String {
    let (added, removed) = crate::domain::privacy::policy::diff_counts(lines);
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    format!(
        "{added} line{} added, {removed} line{} removed",
        plural(added),
        plural(removed)
    )
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/verify-email",
            get(public::verify_email_page).post(public::verify_email_submit),
        )
        .route("/privacy", get(public::policy::current))
        .route("/privacy/versions", get(public::policy::versions))
        .route("/privacy/versions/{version}", get(public::policy::version))
        .route(
            "/privacy/requests/new",
            get(public::requests::new_request).post(public::requests::submit),
        )
        .route("/privacy/deletion", get(public::requests::deletion))
        .route(
            "/privacy/requests/confirm",
            get(public::requests::confirm_page).post(public::requests::confirm),
        )
        .route(
            "/privacy/requests/status",
            get(public::requests::status).post(public::requests::status_lookup),
        )
        .route("/privacy/requests/cancel", post(public::requests::cancel))
        .route(
            "/privacy/meta/data-deletion",
            post(public::meta::data_deletion),
        )
        .route("/privacy/meta/deauthorize", post(public::meta::deauthorize))
        .route(
            "/privacy/deletion-status/{code}",
            get(public::meta::deletion_status),
        )
        .route(
            "/privacy/review",
            get(public::review::show).post(public::review::decide),
        )
        .route("/privacy/review/{token}", get(public::review::show_path))
        .route("/exports/{token}", get(public::exports::download))
        .route("/media/{id}", get(public::media::serve))
        .route(
            "/integrations/callback/{provider}",
            get(public::integrations::callback),
        )
        .route("/static/portal.css", get(stylesheet))
        .merge(staff::routes())
        .fallback(public::unknown_address)
        .layer(axum::middleware::from_fn(refuse_nul))
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        // Staff pages, status pages and confirmation pages show personal data or carry
        // tokens: no browser or proxy keeps a copy unless a route says otherwise.
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .with_state(state)
}

/// The most a portal form's body may hold (axum's own default limit for a form).
const FORM_BYTES: usize = 2 * 1024 * 1024;

/// Whether percent-encoded text (a path, a query, a form body) decodes to a NUL
/// character, or holds one raw.
fn carries_nul(encoded: &[u8]) -> bool {
    encoded.contains(&0) || encoded.windows(3).any(|w| w == b"%00")
}

/// Middleware: a path, query or form that carries NUL is refused with a page that says
/// so (PostgreSQL takes no NUL in text; a search or a filter must not become a 500).
async fn refuse_nul(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let refused = || {
        public::error_page(crate::error::DomainError::BadInput(
            "Text may not contain the NUL character (U+0000).".into(),
        ))
    };
    let uri = request.uri();
    if carries_nul(uri.path().as_bytes()) || uri.query().is_some_and(|q| carries_nul(q.as_bytes()))
    {
        return refused();
    }
    let is_form = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| {
            mime.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !is_form {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, FORM_BYTES).await else {
        let mut too_large = public::error_page(crate::error::DomainError::BadInput(
            "The form is too large.".into(),
        ));
        *too_large.status_mut() = axum::http::StatusCode::PAYLOAD_TOO_LARGE;
        return too_large;
    };
    if carries_nul(&bytes) {
        return refused();
    }
    next.run(axum::extract::Request::from_parts(
        parts,
        axum::body::Body::from(bytes),
    ))
    .await
}

async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../static/portal.css"),
    )
}

/// A domain message as a sentence for a person: capital first letter, final full stop
/// ("the effective date cannot be in the past" → "The effective date cannot be in the
/// past.").
pub(crate) fn sentence(message: &str) -> String {
    let message = message.trim();
    let mut chars = message.chars();
    let Some(first) = chars.next() else {
        return String::new();
    };
    let mut out: String = first.to_uppercase().chain(chars).collect();
    if !out.ends_with(['.', '!', '?']) {
        out.push('.');
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn messages_read_as_sentences() {
        assert_eq!(
            super::sentence("the effective date cannot be in the past"),
            "The effective date cannot be in the past."
        );
        assert_eq!(super::sentence("Already one."), "Already one.");
        assert_eq!(super::sentence("  "), "");
    }
}
