//! `/staff/keys`: ADMINs see which token keys are configured and which the stored
//! channel tokens are sealed under, and re-seal everything under the current key after
//! adding one (keys themselves live only in `ATELIER_TOKEN_KEYS`, never in the
//! database).

use std::net::SocketAddr;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;

use super::{csrf_failed, staff_error, Staff};
use crate::domain::staff::accounts::StaffRole;
use crate::domain::upkeep::keys;
use crate::state::AppState;

#[derive(Template, WebTemplate)]
#[template(path = "portal/staff/keys.html")]
struct KeysPage {
    staff: Staff,
    key_ids: Vec<String>,
    usage: Vec<(String, u64)>,
    notice: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct Done {
    #[serde(default)]
    tokens: Option<u64>,
    #[serde(default)]
    jobs: Option<u64>,
}

pub async fn show(
    State(state): State<AppState>,
    staff_member: Staff,
    Query(done): Query<Done>,
) -> Response {
    if let Some(denied) = staff_member.denied_unless(StaffRole::Admin) {
        return denied;
    }
    let usage = match keys::usage(&state.db).await {
        Ok(usage) => usage,
        Err(e) => return staff_error(e),
    };
    let notice = match (done.tokens, done.jobs) {
        (Some(tokens), Some(jobs)) => Some(format!(
            "Re-sealed {tokens} channel token row(s) and {jobs} queued job(s) under key {}.",
            state.vault.current_key_id()
        )),
        _ => None,
    };
    KeysPage {
        staff: staff_member,
        key_ids: state
            .vault
            .key_ids()
            .into_iter()
            .map(str::to_string)
            .collect(),
        usage,
        notice,
    }
    .into_response()
}

#[derive(Deserialize, Default)]
pub struct Rotate {
    #[serde(default)]
    csrf: String,
}

pub async fn rotate(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    staff_member: Staff,
    Form(form): Form<Rotate>,
) -> Response {
    if let Some(denied) = staff_member.denied_unless(StaffRole::Admin) {
        return denied;
    }
    if !staff_member.csrf_ok(&form.csrf) {
        return csrf_failed();
    }
    let meta = crate::http::request_meta(peer, &headers);
    match keys::rotate(
        &state.db,
        &state.vault,
        staff_member.identity.actor(),
        &meta,
    )
    .await
    {
        Ok(rotation) => Redirect::to(&format!(
            "/staff/keys?tokens={}&jobs={}",
            rotation.integration_tokens, rotation.queued_jobs
        ))
        .into_response(),
        Err(e) => staff_error(e),
    }
}
