//! The GraphQL API at `/graphql`: schema building, the HTTP handler (JSON only, batch
//! cap, bearer-token authentication), GraphiQL outside production, and the SDL export.

pub mod analytics;
mod answer;
pub mod collaboration;
pub mod columns;
pub mod connection;
pub mod content;
pub mod context;
mod costs;
mod document_limits;
pub mod documents;
pub mod errors;
mod intake;
pub mod integrations;
pub mod loaders;
pub mod media;
pub mod multipart;
pub mod mutation;
pub mod negotiate;
mod over_get;
use intake::{lingering, multipart_type, read_batch, viewer_of, Refused};
pub mod persisted;
pub use over_get::graphql_get;
pub mod privacy;
pub mod query;
mod rerun;
pub mod reviews;
mod sockets;
pub mod subscription;
pub mod types;
pub mod webhooks;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use async_graphql::registry::SDLExportOptions;
use async_graphql::{BatchRequest, BatchResponse, MergedObject, Schema};
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;

use self::context::{RequestInfo, Viewer};
use self::mutation::Mutation;
use self::query::Query;
use self::subscription::Subscription;
use crate::config::Config;
use crate::state::AppState;
pub(crate) use answer::error_response;
use answer::{graphql_answer, refuse, with_error_codes};

/// Every mutation, from the modules that define them.
#[derive(MergedObject, Default)]
#[graphql(name = "MutationRoot")]
pub struct Mutations(
    Mutation,
    collaboration::CollaborationMutation,
    media::MediaMutation,
    integrations::IntegrationMutation,
    analytics::AnalyticsMutation,
    webhooks::WebhookMutation,
    reviews::ReviewMutation,
);

/// The mutation root: every mutation, each of a request's run with the request's loaders
/// emptied first. The mutations of one request run one after the other, and what one
/// read before a write (a draft's comment count, its latest comments) must not answer
/// for the one after it.
#[derive(Default)]
pub struct MutationRoot(Mutations);

impl async_graphql::ContainerType for MutationRoot {
    async fn resolve_field(
        &self,
        ctx: &async_graphql::Context<'_>,
    ) -> async_graphql::ServerResult<Option<async_graphql::Value>> {
        if let Ok(loaders) = ctx.data::<loaders::Loaders>() {
            loaders::forget_all(loaders);
        }
        self.0.resolve_field(ctx).await
    }

    fn find_entity(
        &self,
        ctx: &async_graphql::Context<'_>,
        params: &async_graphql::Value,
    ) -> impl std::future::Future<Output = async_graphql::ServerResult<Option<async_graphql::Value>>>
           + Send {
        self.0.find_entity(ctx, params)
    }
}

impl async_graphql::OutputType for MutationRoot {
    fn type_name() -> std::borrow::Cow<'static, str> {
        Mutations::type_name()
    }

    fn create_type_info(registry: &mut async_graphql::registry::Registry) -> String {
        Mutations::create_type_info(registry)
    }

    async fn resolve(
        &self,
        ctx: &async_graphql::ContextSelectionSet<'_>,
        _field: &async_graphql::Positioned<async_graphql::parser::types::Field>,
    ) -> async_graphql::ServerResult<async_graphql::Value> {
        async_graphql::resolver_utils::resolve_container_serial(ctx, self).await
    }
}

impl async_graphql::ObjectType for MutationRoot {}

pub type AppSchema = Schema<Query, MutationRoot, Subscription>;

/// How deep the standard introspection query of GraphQL tools nests (graphql-js's
/// `TypeRef` fragment), with room to spare.
const INTROSPECTION_DEPTH: usize = 20;

/// What one database read costs in a request's budget (a field that reads costs what it
/// reads; a field answered from what its parent loaded costs 1).
pub const DB_READ: usize = 10;

/// The two builds of the schema a server runs. They answer alike; they differ in
/// whether every document also passes through the `DocumentLimits` extension — which
/// async-graphql, once any extension is installed, pays for on every field it resolves
/// (a chain of boxed futures and a registry lookup per field).
#[derive(Clone)]
pub struct Schemas {
    /// For a single HTTP operation: `document_limits::check` measured its document
    /// before execution, and the schema's own complexity limit is its whole budget.
    pub direct: AppSchema,
    /// The same for an operation that passed validation before, with the same document
    /// and variables (`documents::Documents::validated`): the validation rules are not
    /// checked again; its complexity and depth are still measured against the limits.
    pub checked: AppSchema,
    /// For a batch (whose operations share one cost budget) and for subscriptions over
    /// WebSocket (whose documents are measured by the extension).
    pub limited: AppSchema,
    /// The documents HTTP requests sent, parsed once each.
    pub documents: Arc<documents::Documents>,
    /// The WebSockets open on `/graphql/ws`, and what each may hold.
    pub sockets: Arc<sockets::Sockets>,
    /// Documents known by hash: registered by APQ, or listed in the manifest.
    pub persisted: Arc<persisted::Persisted>,
}

impl Schemas {
    pub fn build(state: AppState, persisted: persisted::Persisted) -> Self {
        let config = state.config.clone();
        Self {
            persisted: Arc::new(persisted),
            direct: builder(Some(state.clone()), &config).finish(),
            checked: builder(Some(state.clone()), &config)
                .validation_mode(async_graphql::ValidationMode::Fast)
                .finish(),
            limited: build_schema(Some(state), &config),
            documents: Arc::default(),
            sockets: sockets::Sockets::new(sockets::SocketLimits::from_config(&config)),
        }
    }
}

/// Builds the schema with the limits from the configuration, every document held to
/// them by the `DocumentLimits` extension.
pub fn build_schema(state: Option<AppState>, config: &Config) -> AppSchema {
    builder(state, config)
        .extension(document_limits::DocumentLimits {
            max_fields: config.graphql.max_expanded_fields,
            max_depth: config.graphql.max_depth as u64,
        })
        .finish()
}

/// The schema with the configuration's limits, without extensions.
fn builder(
    state: Option<AppState>,
    config: &Config,
) -> async_graphql::SchemaBuilder<Query, MutationRoot, Subscription> {
    // HTTP requests are held to `max_depth` before validation (`document_limits`), where
    // introspection is exempt so that standard tools read the schema outside
    // production; the schema's own limit (for subscriptions too) leaves room for the
    // standard introspection query there, and is `max_depth` in production.
    let schema_depth = if config.is_production() {
        config.graphql.max_depth
    } else {
        config.graphql.max_depth.max(INTROSPECTION_DEPTH)
    };
    let mut builder = Schema::build(Query, MutationRoot::default(), Subscription)
        .limit_depth(schema_depth)
        .limit_complexity(config.graphql.max_complexity)
        .limit_recursive_depth(32)
        .limit_directives(16);
    if config.is_production() {
        builder = builder.disable_introspection().disable_suggestions();
    }
    if let Some(state) = state {
        builder = builder.data(state);
    }
    builder
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

/// `POST /graphql`: `application/json` (a plain form cannot send it, which is the CSRF
/// defence), or a GraphQL multipart request for uploads, which must carry a bearer token
/// (no form can set one); at most `max_batch` operations, authenticated by the token.
pub async fn graphql_post(
    State((state, schemas)): State<(AppState, Schemas)>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let Some(answer) = negotiate::negotiate(&headers) else {
        return refuse(
            negotiate::AnswerType::Json,
            StatusCode::NOT_ACCEPTABLE,
            "BAD_USER_INPUT",
            "this endpoint answers application/graphql-response+json or application/json",
        );
    };
    // The token is checked before any byte of the body is read: a request with a bad
    // one costs its headers, whatever it would have uploaded.
    let viewer = match viewer_of(&state, &headers) {
        Ok(viewer) => viewer,
        Err(Refused(status, code, message)) => {
            return lingering(
                refuse(answer, status, code, &message),
                &state,
                &headers,
                body,
            )
        }
    };
    if viewer.is_none() && multipart_type(&headers).is_some() {
        let refused = refuse(
            answer,
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            "uploads need an Authorization: Bearer access token",
        );
        return lingering(refused, &state, &headers, body);
    }
    let mut batch = match read_batch(&state, &headers, body).await {
        Ok(batch) => batch,
        Err(Refused(status, code, message)) => return refuse(answer, status, code, &message),
    };
    let operations = match &batch {
        BatchRequest::Single(_) => 1,
        BatchRequest::Batch(list) => list.len(),
    };
    if operations == 0 || operations > state.config.graphql.max_batch {
        return refuse(
            answer,
            StatusCode::BAD_REQUEST,
            "BAD_USER_INPUT",
            &format!(
                "a batch holds 1 to {} operations",
                state.config.graphql.max_batch
            ),
        );
    }
    if let Err(refused) = schemas.persisted.resolve(&mut batch) {
        return refuse(answer, refused.status, refused.code, &refused.message);
    }
    run(&state, &schemas, answer, batch, viewer, peer, &headers).await
}

/// Runs the operations a request carries, once its caller is known, their count checked
/// and their persisted documents found: their size checked before any validation, their
/// answer written as the client asked.
async fn run(
    state: &AppState,
    schemas: &Schemas,
    answer: negotiate::AnswerType,
    mut batch: BatchRequest,
    viewer: Option<Viewer>,
    peer: SocketAddr,
    headers: &HeaderMap,
) -> Response {
    // Each document parsed once per server, not once per request.
    schemas.documents.attach(&mut batch);
    // Before any validation: what the documents select with their fragments expanded,
    // and how deep they nest.
    let limits = &state.config.graphql;
    if let Err(refusal) = document_limits::check(
        &mut batch,
        limits.max_expanded_fields,
        limits.max_depth as u64,
    ) {
        return refuse(
            answer,
            StatusCode::BAD_REQUEST,
            "BAD_USER_INPUT",
            &refusal.to_string(),
        );
    }
    let info = RequestInfo {
        viewer,
        meta: crate::http::request_meta(peer, headers),
    };
    let statements = Arc::new(crate::db::Costs::default());
    let executed = execute(state, schemas, batch, info, &statements).await;
    let max_errors = state.config.graphql.max_errors;
    let response = match executed {
        BatchResponse::Single(one) => BatchResponse::Single(with_error_codes(one, max_errors)),
        BatchResponse::Batch(many) => BatchResponse::Batch(
            many.into_iter()
                .map(|one| with_error_codes(one, max_errors))
                .collect(),
        ),
    };
    let mut response = graphql_answer(answer, response, state.config.graphql.max_answer_bytes);
    if !state.config.is_production() {
        costs_shown(&mut response, &statements);
    }
    response
}

/// For the benchmark and the N+1 tests: what this request cost the database, in headers.
fn costs_shown(response: &mut Response, statements: &crate::db::Costs) {
    let headers = response.headers_mut();
    headers.insert(
        SQL_STATEMENTS_HEADER,
        statements.statements.load(Ordering::Relaxed).into(),
    );
    headers.insert(
        SQL_MOVED_HEADER,
        statements.moved.load(Ordering::Relaxed).into(),
    );
    headers.insert(
        SQL_ROWS_HEADER,
        statements.rows.load(Ordering::Relaxed).into(),
    );
}

/// Runs the operations with this request's loaders, counting the statements they cost:
/// one operation on the schema its document calls for (run again once if the database
/// gave it up for a concurrent one), a batch against the request's shared budget.
async fn execute(
    state: &AppState,
    schemas: &Schemas,
    batch: BatchRequest,
    info: RequestInfo,
    statements: &Arc<crate::db::Costs>,
) -> BatchResponse {
    let counted = statements.clone();
    let reads = state.reads.clone();
    let fresh_loaders = move || {
        let counted = counted.clone();
        loaders::for_request(reads.clone(), move |batch| {
            tokio::spawn(crate::db::STATEMENTS.scope(counted.clone(), batch))
        })
    };
    let batch = batch.data(info.clone()).data(fresh_loaders());
    match batch {
        // One operation: its cost is bounded by the schema's complexity limit, which is
        // the whole budget, so no extension needs to see it.
        BatchRequest::Single(mut one) => {
            let again = rerun::copy_for_rerun(&mut one);
            let validation = schemas.documents.validation(&one);
            let schema = match validation {
                documents::Validation::Known => &schemas.checked,
                documents::Validation::Unknown(_) => &schemas.direct,
            };
            let executed = crate::db::STATEMENTS
                .scope(
                    statements.clone(),
                    schema.execute_batch(BatchRequest::Single(one)),
                )
                .await;
            if let (
                documents::Validation::Unknown(Some(remember)),
                BatchResponse::Single(response),
            ) = (validation, &executed)
            {
                if passed_validation(response) {
                    remember.passed();
                }
            }
            match (again, &executed) {
                (Some(request), BatchResponse::Single(response))
                    if rerun::worth_rerunning(response) =>
                {
                    tracing::info!(
                        "a request the database gave up for a concurrent one runs again"
                    );
                    let request = request.data(info).data(fresh_loaders());
                    crate::db::STATEMENTS
                        .scope(
                            statements.clone(),
                            schema.execute_batch(BatchRequest::Single(request)),
                        )
                        .await
                }
                _ => executed,
            }
        }
        many => {
            crate::db::STATEMENTS
                .scope(
                    statements.clone(),
                    schemas
                        .limited
                        .execute_batch(many.data(document_limits::RequestBudget::new(
                            state.config.graphql.max_complexity as u64,
                        ))),
                )
                .await
        }
    }
}

/// Whether an executed operation got past validation: a document, operation or variables
/// refused before execution is answered with errors that point at the document
/// (locations, no path); an error met while executing names the field it came from.
fn passed_validation(response: &async_graphql::Response) -> bool {
    response.errors.iter().all(|error| !error.path.is_empty())
}

/// The response header (outside production) that counts a request's SQL statements.
pub const SQL_STATEMENTS_HEADER: &str = "x-sql-statements";

/// The response header (outside production) that counts a request's SQLite list reads
/// that left its thread for the blocking pool (`db::reads`): 0 when every read fit the
/// budget of the request's own thread.
pub const SQL_MOVED_HEADER: &str = "x-sql-moved";

/// The response header (outside production) that counts the rows a request's list
/// reads (`db::reads`: pages of drafts, their targets, comments and people) returned.
pub const SQL_ROWS_HEADER: &str = "x-sql-rows";

pub(crate) fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

#[cfg(test)]
mod tests {
    /// Every script and stylesheet GraphiQL loads from elsewhere names an exact version
    /// and carries the hash the browser checks it against.
    #[test]
    fn graphiql_loads_only_pinned_checked_files() {
        let tags: Vec<&str> = super::over_get::GRAPHIQL
            .split('<')
            .filter(|tag| tag.contains("https://"))
            .collect();
        assert_eq!(
            tags.len(),
            4,
            "react, react-dom, graphiql's script and style"
        );
        for tag in tags {
            let url = tag.split("https://").nth(1).unwrap_or_default();
            let version = url.split('@').nth(1).and_then(|v| v.split('/').next());
            assert!(
                version
                    .is_some_and(|v| v.split('.').count() == 3
                        && v.split('.').all(|n| n.parse::<u32>().is_ok())),
                "{tag}"
            );
            assert!(tag.contains("integrity=\"sha384-"), "{tag}");
            assert!(tag.contains("crossorigin=\"anonymous\""), "{tag}");
        }
    }
}
