//! The GraphQL API at `/graphql`: schema building, the HTTP handler (JSON only, batch
//! cap, bearer-token authentication), GraphiQL outside production, and the SDL export.

pub mod connection;
pub mod content;
pub mod context;
pub mod errors;
pub mod mutation;
pub mod privacy;
pub mod query;
pub mod types;

use std::net::SocketAddr;

use async_graphql::http::GraphiQLSource;
use async_graphql::registry::SDLExportOptions;
use async_graphql::{BatchRequest, BatchResponse, EmptySubscription, Schema};
use async_graphql_axum::GraphQLResponse;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use serde_json::json;

use self::context::{RequestInfo, Viewer};
use self::mutation::Mutation;
use self::query::Query;
use crate::config::Config;
use crate::state::AppState;

pub type AppSchema = Schema<Query, Mutation, EmptySubscription>;

/// Builds the schema with the limits from the configuration.
pub fn build_schema(state: Option<AppState>, config: &Config) -> AppSchema {
    let mut builder = Schema::build(Query, Mutation, EmptySubscription)
        .limit_depth(config.graphql.max_depth)
        .limit_complexity(config.graphql.max_complexity)
        .limit_recursive_depth(32)
        .limit_directives(16);
    if config.is_production() {
        builder = builder.disable_introspection().disable_suggestions();
    }
    if let Some(state) = state {
        let users = async_graphql::dataloader::DataLoader::new(
            content::UserLoader(state.db.clone()),
            tokio::spawn,
        );
        builder = builder.data(state).data(users);
    }
    builder.finish()
}

/// The SDL as committed in `schema.graphql`, with sorted fields, arguments and enums.
pub fn sdl() -> String {
    build_schema(None, &Config::default()).sdl_with_options(
        SDLExportOptions::new()
            .sorted_fields()
            .sorted_arguments()
            .sorted_enum_items(),
    )
}

fn error_response(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!({ "errors": [{ "message": message, "extensions": { "code": code } }] })),
    )
        .into_response()
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
}

/// `POST /graphql`: `application/json` only (a plain form cannot reach it, which is the
/// CSRF defence), at most `max_batch` operations, authenticated by a bearer token.
pub async fn graphql_post(
    State((state, schema)): State<(AppState, AppSchema)>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !is_json(&headers) {
        return error_response(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "BAD_USER_INPUT",
            "POST /graphql takes Content-Type: application/json",
        );
    }
    let batch: BatchRequest = match serde_json::from_slice(&body) {
        Ok(batch) => batch,
        Err(_) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                "BAD_USER_INPUT",
                "the body is not a GraphQL request in JSON",
            )
        }
    };
    let operations = match &batch {
        BatchRequest::Single(_) => 1,
        BatchRequest::Batch(list) => list.len(),
    };
    if operations == 0 || operations > state.config.graphql.max_batch {
        return error_response(
            StatusCode::BAD_REQUEST,
            "BAD_USER_INPUT",
            &format!(
                "a batch holds 1 to {} operations",
                state.config.graphql.max_batch
            ),
        );
    }
    let viewer = match bearer_token(&headers) {
        None => None,
        Some(token) => match state.jwt.verify(token) {
            Some(claims) => Some(Viewer {
                user_id: claims.sub,
            }),
            None => {
                return error_response(
                    StatusCode::UNAUTHORIZED,
                    "UNAUTHENTICATED",
                    "the access token is invalid or expired; refresh the session",
                )
            }
        },
    };
    let info = RequestInfo {
        viewer,
        meta: crate::http::request_meta(peer, &headers),
    };
    let response = match schema.execute_batch(batch.data(info)).await {
        BatchResponse::Single(one) => BatchResponse::Single(with_error_codes(one)),
        BatchResponse::Batch(many) => {
            BatchResponse::Batch(many.into_iter().map(with_error_codes).collect())
        }
    };
    GraphQLResponse::from(response).into_response()
}

/// Every error carries `extensions.code`. Resolver errors set their own; what is left
/// (parse and validation errors, depth and complexity limits, bad argument values) is
/// the request's fault.
fn with_error_codes(mut response: async_graphql::Response) -> async_graphql::Response {
    for error in &mut response.errors {
        let extensions = error.extensions.get_or_insert_with(Default::default);
        if extensions.get("code").is_none() {
            extensions.set("code", "BAD_USER_INPUT");
        }
    }
    response
}

/// `GET /graphql`: GraphiQL outside production; nothing (and never a query) otherwise.
pub async fn graphql_get(State((state, _)): State<(AppState, AppSchema)>) -> Response {
    if state.config.is_production() {
        return StatusCode::NOT_FOUND.into_response();
    }
    Html(GraphiQLSource::build().endpoint("/graphql").finish()).into_response()
}

fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}
