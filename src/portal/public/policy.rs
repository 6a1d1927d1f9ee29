//! `/privacy`, `/privacy/versions`, `/privacy/versions/{n}`: the policy in force, every
//! version, and what changed between versions.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};

use super::{error_page, not_found};
use crate::domain::entities::privacy_policies;
use crate::domain::privacy::policy::{self, DiffLine};
use crate::error::DomainError;
use crate::state::AppState;

#[derive(Template, WebTemplate)]
#[template(path = "portal/privacy/policy.html")]
struct PolicyPage {
    policy: privacy_policies::Model,
    body_html: String,
    version_count: usize,
}

#[derive(Template, WebTemplate)]
#[template(path = "portal/privacy/versions.html")]
struct VersionsPage {
    versions: Vec<privacy_policies::Model>,
    current_version: i32,
}

#[derive(Template, WebTemplate)]
#[template(path = "portal/privacy/version.html")]
struct VersionPage {
    policy: privacy_policies::Model,
    previous: Option<i32>,
    body_html: String,
    diff: Vec<DiffLine>,
}

impl VersionPage {
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

pub async fn current(State(state): State<AppState>) -> Response {
    let result = async {
        let policy = policy::current(&state.db).await?;
        let version_count = policy::versions(&state.db).await?.len();
        Ok::<_, DomainError>(PolicyPage {
            body_html: policy::render(&policy.body),
            policy,
            version_count,
        })
    }
    .await;
    match result {
        Ok(page) => page.into_response(),
        Err(e) => error_page(e),
    }
}

pub async fn versions(State(state): State<AppState>) -> Response {
    let result = async {
        let current = policy::current(&state.db).await?;
        Ok::<_, DomainError>(VersionsPage {
            versions: policy::versions(&state.db).await?,
            current_version: current.version,
        })
    }
    .await;
    match result {
        Ok(page) => page.into_response(),
        Err(e) => error_page(e),
    }
}

pub async fn version(State(state): State<AppState>, Path(version): Path<String>) -> Response {
    let Ok(version) = version.parse::<i32>() else {
        return not_found();
    };
    match policy::version_with_previous(&state.db, version).await {
        Ok((policy, previous)) => {
            let diff = previous
                .as_ref()
                .map(|p| policy::diff(&p.body, &policy.body))
                .unwrap_or_default();
            VersionPage {
                body_html: policy::render(&policy.body),
                previous: previous.map(|p| p.version),
                policy,
                diff,
            }
            .into_response()
        }
        Err(DomainError::NotFound(_)) => not_found(),
        Err(e) => error_page(e),
    }
}
