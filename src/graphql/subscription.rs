//! Subscriptions over WebSocket (`/graphql/ws`, graphql-ws and graphql-transport-ws
//! protocols), authenticated by the access token in `connection_init`
//! (`{"authorization": "Bearer …"}` or `{"accessToken": "…"}`). A subscriber must be a
//! member of the workspace, and membership is checked again for every event, so a member
//! removed mid-subscription stops receiving; a subscription completes when its session
//! ends (log-out, a reused refresh token) or its access token expires.

use crate::domain::workspace::workspaces::{workspace_of as owner_of, Owned};
use std::net::SocketAddr;
use std::sync::Arc;

use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql::{Context, Data, Result, Subscription, ID};
use async_graphql_axum::GraphQLProtocol;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use futures::stream::{self, Stream};
use tokio::sync::broadcast::error::RecvError;
use uuid::Uuid;

use super::content::{Comment, Draft};
use super::context::{state, RequestInfo, Viewer};
use super::errors::gql;
use super::types::parse_id;
use super::Schemas;
use crate::domain::{content, content::comments, workspace::workspaces};
use crate::error::DomainError;
use crate::live::LiveEvent;
use crate::state::AppState;

pub struct Subscription;

/// How often a live subscription checks that its session and token still hold.
const SESSION_CHECK: std::time::Duration = std::time::Duration::from_secs(1);

/// The events of one workspace the viewer stays a member of, while their session lasts
/// and their access token has not expired (then the subscription completes).
fn member_events(
    app: AppState,
    viewer: Viewer,
    workspace_id: Uuid,
    loaders: super::loaders::Loaders,
) -> impl Stream<Item = (LiveEvent, workspaces::WorkspaceAccess)> {
    let receiver = app.live.subscribe();
    stream::unfold(receiver, move |mut receiver| {
        let app = app.clone();
        let loaders = loaders.clone();
        async move {
            loop {
                let ended = app.revocations.is_revoked(viewer.session_id)
                    || chrono::Utc::now().timestamp() >= viewer.expires_at;
                if ended {
                    // Not completed: the socket is closed with 4401 within a second, and
                    // the client resubscribes once it has a valid token again.
                    std::future::pending::<()>().await;
                }
                let next = tokio::select! {
                    next = receiver.recv() => next,
                    _ = tokio::time::sleep(SESSION_CHECK) => continue,
                };
                match next {
                    Ok(event) if event.workspace_id() == workspace_id => {
                        match workspaces::access(&app.db, viewer.user_id, workspace_id).await {
                            Ok(Some(access)) => {
                                // Answered with today's values, not the connection's
                                // first ones.
                                super::loaders::forget_all(&loaders);
                                return Some(((event, access), receiver));
                            }
                            // No longer a member (or the database is gone): stop.
                            Ok(None) | Err(_) => return None,
                        }
                    }
                    Ok(_) | Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => return None,
                }
            }
        }
    })
}

/// The connection's loaders, which its subscriptions empty before each event.
fn loaders(ctx: &Context<'_>) -> Result<super::loaders::Loaders> {
    ctx.data::<super::loaders::Loaders>().cloned()
}

/// The viewer of a subscription (it always has one: `connection_init` requires a token).
fn subscriber(ctx: &Context<'_>) -> Result<Viewer> {
    super::context::request(ctx)
        .viewer
        .ok_or_else(|| gql(DomainError::Unauthenticated("sign in first".into())))
}

#[Subscription]
impl Subscription {
    /// Comments added to a draft, as they are written.
    async fn comment_added(
        &self,
        ctx: &Context<'_>,
        draft_id: ID,
    ) -> Result<impl Stream<Item = Comment>> {
        let viewer = subscriber(ctx)?;
        let user_id = viewer.user_id;
        let app = state(ctx).clone();
        let draft_id = parse_id(&draft_id, "draftId")?;
        let workspace_id = owner_of(&app.db, Owned::Draft(draft_id))
            .await
            .map_err(gql)?
            .ok_or_else(|| gql(DomainError::NotFound("draft")))?;
        workspaces::require_access(&app.db, user_id, workspace_id)
            .await
            .map_err(|_| gql(DomainError::NotFound("draft")))?;
        let db = app.read_db.clone();
        Ok(futures::StreamExt::filter_map(
            member_events(app, viewer, workspace_id, loaders(ctx)?),
            move |(event, access)| {
                let db = db.clone();
                async move {
                    let LiveEvent::CommentAdded {
                        draft_id: of,
                        comment_id,
                        ..
                    } = event
                    else {
                        return None;
                    };
                    // Reloaded as it is now (a comment deleted since is left out).
                    match comments::find_in_workspace_comment(&db, &access, comment_id).await {
                        Ok(comment) if of == draft_id && comment.draft_id == draft_id => {
                            Some(Comment::from(comment))
                        }
                        _ => None,
                    }
                }
            },
        ))
    }

    /// Drafts of a workspace as they are created, edited or change status.
    async fn draft_changed(
        &self,
        ctx: &Context<'_>,
        workspace_id: ID,
    ) -> Result<impl Stream<Item = Draft>> {
        let viewer = subscriber(ctx)?;
        let user_id = viewer.user_id;
        let app = state(ctx).clone();
        let workspace_id = parse_id(&workspace_id, "workspaceId")?;
        workspaces::require_access(&app.db, user_id, workspace_id)
            .await
            .map_err(gql)?;
        let db = app.read_db.clone();
        Ok(futures::StreamExt::filter_map(
            member_events(app, viewer, workspace_id, loaders(ctx)?),
            move |(event, access)| {
                let db = db.clone();
                async move {
                    let LiveEvent::DraftChanged { draft_id, .. } = event else {
                        return None;
                    };
                    // Reloaded as it is now (a draft deleted since is left out).
                    content::find_in_workspace(&db, &access, draft_id)
                        .await
                        .ok()
                        .map(Draft)
                }
            },
        ))
    }
}

/// The access token a client sent in `connection_init`.
fn init_token(payload: &serde_json::Value) -> Option<&str> {
    if let Some(token) = payload.get("accessToken").and_then(|v| v.as_str()) {
        return Some(token);
    }
    let header = payload
        .get("authorization")
        .or_else(|| payload.get("Authorization"))
        .and_then(|v| v.as_str())?;
    let (scheme, token) = header.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

/// `GET /graphql/ws`: the subscription endpoint.
pub async fn graphql_ws(
    State((app, schemas)): State<(AppState, Schemas)>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    protocol: GraphQLProtocol,
    upgrade: WebSocketUpgrade,
) -> Response {
    let meta = crate::http::request_meta(peer, &headers);
    let client = meta.ip.unwrap_or(peer.ip());
    let place = match schemas.sockets.take(client) {
        Ok(place) => place,
        Err(full) => {
            let status = match full {
                super::sockets::Full::Client(_) => StatusCode::TOO_MANY_REQUESTS,
                super::sockets::Full::Server(_) => StatusCode::SERVICE_UNAVAILABLE,
            };
            let mut refused = super::error_response(status, "RATE_LIMITED", &full.to_string());
            let headers = refused.headers_mut();
            headers.insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
            // The connection is given back at once rather than kept alive for more.
            headers.insert(
                header::CONNECTION,
                header::HeaderValue::from_static("close"),
            );
            return refused;
        }
    };
    let kind = super::sockets::protocol_of(&headers);
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| {
            // The session the socket is acknowledged for, once it is.
            let session = Arc::new(std::sync::OnceLock::<(Uuid, i64)>::new());
            let ended: super::sockets::SessionEnded = {
                let (app, session) = (app.clone(), session.clone());
                Arc::new(move || {
                    session.get().is_some_and(|(sid, expires_at)| {
                        app.revocations.is_revoked(*sid)
                            || chrono::Utc::now().timestamp() >= *expires_at
                    })
                })
            };
            let on_init = move |payload: serde_json::Value| async move {
                let claims = init_token(&payload)
                    .and_then(|token| app.jwt.verify(token))
                    .filter(|claims| !app.revocations.is_revoked(claims.sid))
                    .ok_or_else(|| async_graphql::Error::new(super::sockets::INIT_REFUSED))?;
                let _ = session.set((claims.sid, claims.exp));
                let mut data = Data::default();
                data.insert(RequestInfo {
                    viewer: Some(Viewer {
                        user_id: claims.sub,
                        session_id: claims.sid,
                        expires_at: claims.exp,
                    }),
                    meta,
                });
                data.insert(super::loaders::for_request(app.reads.clone(), tokio::spawn));
                Ok(data)
            };
            super::sockets::serve(
                socket,
                schemas.limited,
                protocol,
                kind,
                on_init,
                ended,
                place,
            )
        })
}
