//! `GET /graphql`: GraphiQL for people outside production, and the one request GraphQL
//! runs over GET, a query persisted by its hash.

use std::net::SocketAddr;

use async_graphql::BatchRequest;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};

use super::{error_response, negotiate, refuse, run, viewer_of, Refused, Schemas};
use crate::state::AppState;

/// GraphiQL, its scripts pinned to exact versions and checked by their hashes.
pub(super) const GRAPHIQL: &str = include_str!("../../static/graphiql.html");

/// `GET /graphql`: a *query* persisted by its hash (APQ's GET, which caches can keep);
/// GraphiQL outside production otherwise. A document's text never runs over GET (a link
/// or an image tag must not run anything it names), and neither does a mutation.
pub async fn graphql_get(
    State((state, schemas)): State<(AppState, Schemas)>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Response {
    let params: Vec<(String, String)> = uri
        .query()
        .and_then(|q| reqwest::Url::parse(&format!("http://query/?{q}")).ok())
        .map(|url| url.query_pairs().into_owned().collect())
        .unwrap_or_default();
    let param = |name: &str| {
        params
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    };
    if param("query").is_some_and(|q| !q.is_empty()) {
        return post_only(
            "GraphQL requests are sent with POST and Content-Type: application/json (over GET only a query persisted by its hash runs)",
        );
    }
    let Some(extensions) = param("extensions") else {
        if state.config.is_production() {
            return StatusCode::NOT_FOUND.into_response();
        }
        return Html(GRAPHIQL).into_response();
    };
    let Some(answer) = negotiate::negotiate(&headers) else {
        return refuse(
            negotiate::AnswerType::Json,
            StatusCode::NOT_ACCEPTABLE,
            "BAD_USER_INPUT",
            "this endpoint answers application/graphql-response+json or application/json",
        );
    };
    let viewer = match viewer_of(&state, &headers) {
        Ok(viewer) => viewer,
        Err(Refused(status, code, message)) => return refuse(answer, status, code, &message),
    };
    let request = match hashed_request(extensions, param("variables"), param("operationName")) {
        Ok(request) => request,
        Err(Refused(status, code, message)) => return refuse(answer, status, code, &message),
    };
    let mut batch = BatchRequest::Single(request);
    if let Err(refused) = schemas.persisted.resolve(&mut batch) {
        return refuse(answer, refused.status, refused.code, &refused.message);
    }
    if let BatchRequest::Single(request) = &batch {
        if !is_query(request) {
            return post_only("a mutation or subscription is sent with POST");
        }
    }
    run(&state, &schemas, answer, batch, viewer, peer, &headers).await
}

/// A 405 that names POST, as GraphQL over HTTP answers what GET must not run.
fn post_only(message: &str) -> Response {
    let mut refused = error_response(StatusCode::METHOD_NOT_ALLOWED, "BAD_USER_INPUT", message);
    refused
        .headers_mut()
        .insert(header::ALLOW, header::HeaderValue::from_static("POST"));
    refused
}

/// The request a GET names in its parameters (each a JSON value, as APQ sends them).
fn hashed_request(
    extensions: &str,
    variables: Option<&str>,
    operation: Option<&str>,
) -> Result<async_graphql::Request, Refused> {
    let bad = |what: &str| {
        Refused(
            StatusCode::BAD_REQUEST,
            "BAD_USER_INPUT",
            format!("the {what} parameter is not a JSON object"),
        )
    };
    let extensions: std::collections::HashMap<String, async_graphql::Value> =
        serde_json::from_str(extensions).map_err(|_| bad("extensions"))?;
    let mut request = async_graphql::Request::new("");
    request.extensions = async_graphql::Extensions(extensions);
    if let Some(variables) = variables.filter(|v| !v.is_empty()) {
        let json: serde_json::Value =
            serde_json::from_str(variables).map_err(|_| bad("variables"))?;
        if !json.is_object() && !json.is_null() {
            return Err(bad("variables"));
        }
        request = request.variables(async_graphql::Variables::from_json(json));
    }
    if let Some(operation) = operation.filter(|o| !o.is_empty()) {
        request = request.operation_name(operation);
    }
    Ok(request)
}

/// Whether the operation a request names is a query (one that does not parse, or names
/// no operation of its document, is left to execution to refuse with its error).
fn is_query(request: &async_graphql::Request) -> bool {
    use async_graphql::parser::types::{DocumentOperations, OperationType};
    let Ok(document) = async_graphql::parser::parse_query(&request.query) else {
        return true;
    };
    let operation = match (&document.operations, request.operation_name.as_deref()) {
        (DocumentOperations::Single(one), _) => Some(one),
        (DocumentOperations::Multiple(many), Some(name)) => many.get(name),
        (DocumentOperations::Multiple(many), None) if many.len() == 1 => many.values().next(),
        (DocumentOperations::Multiple(_), None) => None,
    };
    operation.is_none_or(|op| op.node.ty == OperationType::Query)
}
