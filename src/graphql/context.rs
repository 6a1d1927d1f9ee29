//! Per-request data the HTTP handler puts into each GraphQL request, and the accessors
//! resolvers use to reach it.

use async_graphql::{Context, Result};
use uuid::Uuid;

use super::errors::{gql, unauthenticated};
use crate::domain::entities::users;
use crate::domain::identity::accounts::{self, UserStatus};
use crate::domain::RequestMeta;
use crate::error::DomainError;
use crate::state::AppState;

/// The signed-in user as the access token says, if any.
#[derive(Clone, Copy, Debug)]
pub struct Viewer {
    pub user_id: Uuid,
    /// The session the access token belongs to, and when the token expires: a live
    /// subscription ends when either does.
    pub session_id: Uuid,
    pub expires_at: i64,
}

/// Everything a resolver learns about the HTTP request.
#[derive(Clone, Debug, Default)]
pub struct RequestInfo {
    pub viewer: Option<Viewer>,
    pub meta: RequestMeta,
}

pub fn state<'a>(ctx: &Context<'a>) -> &'a AppState {
    // invariant: build_schema always registers the AppState.
    ctx.data_unchecked::<AppState>()
}

pub fn request<'a>(ctx: &Context<'a>) -> &'a RequestInfo {
    // invariant: the HTTP handler puts a RequestInfo into every request it executes;
    // the SDL export never executes a request.
    ctx.data_unchecked::<RequestInfo>()
}

pub fn meta<'a>(ctx: &Context<'a>) -> &'a RequestMeta {
    &request(ctx).meta
}

pub fn viewer_id(ctx: &Context<'_>) -> Result<Uuid> {
    request(ctx)
        .viewer
        .map(|v| v.user_id)
        .ok_or_else(unauthenticated)
}

/// The signed-in user's account; an erased or vanished account counts as signed out.
pub async fn current_user(ctx: &Context<'_>) -> Result<users::Model> {
    let id = viewer_id(ctx)?;
    accounts::find_by_id(&state(ctx).db, id)
        .await
        .map_err(gql)?
        .filter(|u| UserStatus::parse(&u.status) != UserStatus::Erased)
        .ok_or_else(|| {
            gql(DomainError::Unauthenticated(
                "this account no longer exists".into(),
            ))
        })
}
