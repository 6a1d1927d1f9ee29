//! `/integrations/callback/{provider}`: where a platform sends a person back after they
//! allowed (or refused) the connection. Success goes on to the app; anything else is
//! explained on a page.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{error_page, not_found, MessagePage};
use crate::domain::channels::integrations;
use crate::domain::platforms::Provider;
use crate::error::DomainError;
use crate::state::AppState;

#[derive(Deserialize)]
pub struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

pub async fn callback(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(provider): Path<String>,
    Query(query): Query<Callback>,
) -> Response {
    let Some(provider) = Provider::parse(&provider.to_ascii_uppercase()) else {
        return not_found();
    };
    if query.error.is_some() {
        return (
            StatusCode::BAD_REQUEST,
            MessagePage {
                title: "The channel was not connected",
                message: "The platform did not give access (you may have cancelled). Nothing was connected; you can try again from Atelier.".into(),
            },
        )
            .into_response();
    }
    let (Some(code), Some(oauth_state)) = (query.code, query.state) else {
        return error_page(DomainError::bad_input(
            "this address is only for platforms sending you back to Atelier",
        ));
    };
    let meta = crate::http::request_meta(peer, &headers);
    match integrations::finish_connect(
        &state.db,
        &state.vault,
        &state.providers,
        integrations::PlatformReturn {
            provider,
            state: &oauth_state,
            code: &code,
        },
        |name| crate::http::read_cookie(&headers, name).map(str::to_string),
        &meta,
    )
    .await
    {
        Ok(integrations::ConnectOutcome::Connected(integration)) => Redirect::to(&format!(
            "{}/integrations?connected={}&integration={}",
            state.config.app_url(),
            provider.as_str(),
            integration.id
        ))
        .into_response(),
        // Several Pages or accounts: the app asks which one (`pendingIntegrationConnect`,
        // then `completeIntegrationConnect`).
        Ok(integrations::ConnectOutcome::Choose(pending)) => Redirect::to(&format!(
            "{}/integrations?choose={}&provider={}",
            state.config.app_url(),
            pending,
            provider.as_str()
        ))
        .into_response(),
        Err(DomainError::Upstream(message)) => (
            StatusCode::BAD_GATEWAY,
            MessagePage {
                title: "The channel was not connected",
                message,
            },
        )
            .into_response(),
        Err(e) => error_page(e),
    }
}
