//! `/privacy/review`: the page an outside reviewer opens from the emailed link (no
//! account, no JavaScript). It shows each shared draft as it will be published on every
//! channel, with its media and the planned time in the reviewer's time zone, and a form
//! per draft to approve it or ask for changes (a comment required). The link's token is
//! the reviewer's only credential; the page answers `?token=` (the emailed form) and
//! `/privacy/review/{token}` alike. Revoked and expired links are refused (410).

use std::net::SocketAddr;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use uuid::Uuid;

use super::{error_page, not_found, MessagePage};
use crate::domain::content::review_links::{self as reviews, Closed, Decision, PageDraft, Verdict};
use crate::domain::platforms::Provider;
use crate::error::DomainError;
use crate::live::LiveEvent;
use crate::portal::csrf;
use crate::state::AppState;

/// One channel's text as it will be published.
pub struct ChannelView {
    pub name: &'static str,
    pub title: Option<String>,
    pub body: String,
}

/// One attached file.
pub struct MediaView {
    pub url: String,
    pub name: String,
    pub image: bool,
    pub video: bool,
}

/// One draft on the page.
pub struct DraftView {
    pub id: Uuid,
    pub title: String,
    pub body: String,
    pub version: i32,
    pub planned: Option<String>,
    pub channels: Vec<ChannelView>,
    pub media: Vec<MediaView>,
    /// What the reviewer decided, in words, with their comment.
    pub decided: Option<(String, Option<String>)>,
    /// Why it cannot be decided any more, when it cannot.
    pub moved_on: bool,
    pub open: bool,
    pub error: Option<String>,
    pub comment: String,
}

/// One `<option>` of the time-zone list.
pub struct ZoneChoice {
    pub name: &'static str,
    pub selected: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "portal/privacy/review.html")]
struct ReviewPageView {
    token: String,
    csrf: String,
    workspace_name: String,
    shared_by: Option<String>,
    message: Option<String>,
    time_zone: String,
    zones: Vec<ZoneChoice>,
    expires: String,
    finished: bool,
    drafts: Vec<DraftView>,
    notice: Option<String>,
    /// The draft whose form had a problem (the summary links to its field).
    failed: Option<(Uuid, String)>,
}

impl ReviewPageView {
    fn waiting(&self) -> usize {
        self.drafts.iter().filter(|d| d.open).count()
    }
}

#[derive(Deserialize)]
pub struct PageQuery {
    #[serde(default)]
    token: String,
    /// A time zone the reviewer chose to read times in.
    #[serde(default)]
    tz: String,
    /// The draft just decided, for the thank-you notice.
    #[serde(default)]
    done: String,
}

#[derive(Deserialize)]
pub struct DecisionForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    draft: String,
    #[serde(default)]
    version: String,
    #[serde(default)]
    decision: String,
    #[serde(default)]
    comment: String,
    #[serde(default)]
    tz: String,
}

fn closed_page(why: Closed) -> Response {
    let (title, message) = match why {
        Closed::Revoked => (
            "This review link was withdrawn",
            "The team that sent it withdrew this link, so it no longer shows their posts. If you still need to review them, ask them for a new link.",
        ),
        Closed::Expired => (
            "This review link has expired",
            "Review links work for a limited time, and this one's time is up. If you still need to review these posts, ask the team that sent it for a new link.",
        ),
    };
    (
        StatusCode::GONE,
        MessagePage {
            title,
            message: message.into(),
        },
    )
        .into_response()
}

fn zone_of(wanted: &str, link_zone: &str) -> chrono_tz::Tz {
    wanted
        .trim()
        .parse::<chrono_tz::Tz>()
        .or_else(|_| link_zone.parse::<chrono_tz::Tz>())
        .unwrap_or(chrono_tz::UTC)
}

fn when(at: DateTime<Utc>, zone: chrono_tz::Tz) -> String {
    at.with_timezone(&zone)
        .format("%A %-d %B %Y, %H:%M (%Z)")
        .to_string()
}

fn draft_view(state: &AppState, d: PageDraft, zone: chrono_tz::Tz) -> DraftView {
    let open = d.open();
    let planned = d
        .draft
        .scheduled_at
        .or(d.item.planned_at)
        .map(|at| when(at, zone));
    let decided = d
        .item
        .decision
        .as_deref()
        .and_then(Decision::parse)
        .map(|decision| {
            let on = d
                .item
                .decided_at
                .map(|at| format!(" on {}", when(at, zone)))
                .unwrap_or_default();
            let words = match decision {
                Decision::Approved => format!("You approved this post{on}."),
                Decision::ChangesRequested => format!("You asked for changes{on}."),
            };
            (words, d.item.comment.clone())
        });
    let public_url = state.config.public_url();
    DraftView {
        id: d.draft.id,
        title: d.draft.title.clone(),
        body: d.draft.body.clone(),
        version: d.draft.version,
        planned,
        channels: d
            .targets
            .iter()
            .map(|t| ChannelView {
                name: Provider::parse(&t.provider).map_or("Channel", Provider::name),
                title: t.title.clone().filter(|t| !t.trim().is_empty()),
                body: t.body.clone(),
            })
            .collect(),
        media: d
            .media
            .iter()
            .map(|m| MediaView {
                url: crate::domain::content::media::signed_url(
                    &state.media_link_key,
                    &public_url,
                    m.id,
                    state.config.media.url_ttl_secs,
                ),
                name: m.file_name.clone(),
                image: m.content_type.starts_with("image/"),
                video: m.content_type.starts_with("video/"),
            })
            .collect(),
        moved_on: decided.is_none() && !open,
        decided,
        open,
        error: None,
        comment: String::new(),
    }
}

/// Builds the page of a live link; `Err` is the response for any other.
async fn page(
    state: &AppState,
    headers: &HeaderMap,
    token: &str,
    tz: &str,
) -> Result<(ReviewPageView, csrf::CsrfToken), Response> {
    if token.is_empty() || token.len() > 200 {
        return Err(not_found());
    }
    let opened = match reviews::open(&state.db, token).await {
        Ok(Ok(page)) => page,
        Ok(Err(why)) => return Err(closed_page(why)),
        Err(e) => return Err(error_page(e)),
    };
    let zone = zone_of(tz, &opened.link.time_zone);
    let csrf = csrf::issue(state, headers);
    let finished = opened.state != reviews::LinkState::Pending;
    let view = ReviewPageView {
        token: token.to_string(),
        csrf: csrf.field.clone(),
        workspace_name: opened.workspace_name,
        shared_by: opened.shared_by,
        message: opened.link.message.clone(),
        time_zone: zone.name().to_string(),
        zones: chrono_tz::TZ_VARIANTS
            .iter()
            .map(|z| ZoneChoice {
                name: z.name(),
                selected: *z == zone,
            })
            .collect(),
        expires: when(opened.link.expires_at, zone),
        finished,
        drafts: opened
            .drafts
            .into_iter()
            .map(|d| draft_view(state, d, zone))
            .collect(),
        notice: None,
        failed: None,
    };
    Ok((view, csrf))
}

fn respond(status: StatusCode, csrf: &csrf::CsrfToken, view: ReviewPageView) -> Response {
    match &csrf.set_cookie {
        Some(cookie) => (status, [(header::SET_COOKIE, cookie.clone())], view).into_response(),
        None => (status, view).into_response(),
    }
}

/// `GET /privacy/review?token=…` (the emailed link).
pub async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<PageQuery>,
) -> Response {
    let (mut view, csrf) = match page(&state, &headers, &query.token, &query.tz).await {
        Ok(built) => built,
        Err(response) => return response,
    };
    if let Ok(done) = Uuid::try_parse(&query.done) {
        if let Some(d) = view.drafts.iter().find(|d| d.id == done) {
            view.notice = d.decided.as_ref().map(|(words, _)| {
                format!(
                    "Thank you. “{}”: {} The team has been told.",
                    d.title, words
                )
            });
        }
    }
    respond(StatusCode::OK, &csrf, view)
}

/// `GET /privacy/review/{token}`: the same page.
pub async fn show_path(
    state: State<AppState>,
    headers: HeaderMap,
    Path(token): Path<String>,
    Query(query): Query<PageQuery>,
) -> Response {
    show(
        state,
        headers,
        Query(PageQuery {
            token,
            tz: query.tz,
            done: query.done,
        }),
    )
    .await
}

/// `POST /privacy/review`: one decision on one draft.
pub async fn decide(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<DecisionForm>,
) -> Response {
    if !csrf::verify(&state, &headers, &form.csrf) {
        return (
            StatusCode::FORBIDDEN,
            MessagePage {
                title: "Please try again",
                message: "This form expired or was sent from another site. Go back, reload the page and send your decision again.".into(),
            },
        )
            .into_response();
    }
    let (Ok(draft_id), Ok(version)) = (Uuid::try_parse(&form.draft), form.version.parse::<i32>())
    else {
        return error_page(DomainError::bad_input(
            "this form is incomplete: reload the page and try again",
        ));
    };
    let decision = match form.decision.as_str() {
        "approve" => Decision::Approved,
        "changes" => Decision::ChangesRequested,
        _ => {
            return error_page(DomainError::bad_input(
                "choose whether you approve the post or ask for changes",
            ))
        }
    };
    let meta = crate::http::request_meta(peer, &headers);
    let verdict = Verdict {
        draft_id,
        version,
        decision,
        comment: Some(form.comment.as_str()),
    };
    match reviews::decide(&state.db, &state.vault, &form.token, verdict, &meta).await {
        Ok(decided) => {
            // Members watching the workspace or the draft see the change live.
            let workspace_id = decided.link.workspace_id;
            if let Some(comment_id) = decided.comment_id {
                state
                    .live
                    .publish(LiveEvent::CommentAdded {
                        workspace_id,
                        draft_id,
                        comment_id,
                    })
                    .await;
            }
            state
                .live
                .publish(LiveEvent::DraftChanged {
                    workspace_id,
                    draft_id,
                })
                .await;
            let tz = if form.tz.is_empty() {
                String::new()
            } else {
                format!("&tz={}", crate::http::percent_encode(&form.tz))
            };
            Redirect::to(&format!(
                "/privacy/review?token={}{tz}&done={draft_id}#draft-{draft_id}",
                crate::http::percent_encode(&form.token)
            ))
            .into_response()
        }
        // A problem with what was typed (or the post changed): the page again, with the
        // message at the top and beside the form, and what they wrote kept.
        Err(DomainError::BadInput(message)) | Err(DomainError::Conflict(message)) => {
            let (mut view, csrf) = match page(&state, &headers, &form.token, &form.tz).await {
                Ok(built) => built,
                Err(response) => return response,
            };
            let message = crate::portal::sentence(&message);
            if let Some(d) = view.drafts.iter_mut().find(|d| d.id == draft_id) {
                d.error = Some(message.clone());
                d.comment = form
                    .comment
                    .chars()
                    .take(reviews::MAX_COMMENT * 2)
                    .collect();
            }
            view.failed = Some((draft_id, message));
            respond(StatusCode::BAD_REQUEST, &csrf, view)
        }
        Err(e) => error_page(e),
    }
}
