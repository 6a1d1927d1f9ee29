//! `Application::build(config)` is the one way to make the app: the binary and every
//! test call it. It checks the configuration, opens and migrates the database, binds its
//! own listener (port 0 allowed), and starts the job runner when run.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use migration::{Migrator, MigratorTrait};
use sea_orm::DatabaseConnection;
use secrecy::SecretString;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::config::Config;
use crate::crypto::jwt::JwtKeys;
use crate::crypto::vault::Vault;
use crate::domain::identity::accounts::AuthLimits;
use crate::jobs::JobRunner;
use crate::mail::Mailer;
use crate::state::{AppState, PrivacyLimits, Shared};
use crate::{db, graphql, portal};

pub struct Application {
    listener: TcpListener,
    port: u16,
    router: Router,
    state: AppState,
    runner: JobRunner,
    /// On PostgreSQL, brings other instances' live events to this one's subscriptions.
    live_relay: Option<crate::live::Relay>,
    mail_destination: String,
}

impl Application {
    /// Builds the whole application from its configuration.
    pub async fn build(mut config: Config) -> anyhow::Result<Self> {
        config.check_production()?;
        // Checked before anything is opened: a bad block is a start-up error.
        let trusted_proxies = config.trusted_proxies()?;
        let cors_origins = config.cors_origins()?;
        let persisted = graphql::persisted::Persisted::from_config(
            config.graphql.persisted_only,
            config.graphql.persisted_documents.as_deref(),
            config.graphql.persisted_cache_bytes,
        )?;
        std::fs::create_dir_all(&config.data_dir).with_context(|| {
            format!(
                "cannot create the data directory {}",
                config.data_dir.display()
            )
        })?;
        resolve_development_secrets(&mut config)?;
        // invariant: resolve_development_secrets fills both in development and
        // check_production requires both in production.
        let token_keys = config
            .token_keys
            .clone()
            .context("ATELIER_TOKEN_KEYS is not set")?;
        let jwt_secret = config
            .jwt_secret
            .clone()
            .context("ATELIER_JWT_SECRET is not set")?;
        let vault = Vault::from_spec(&token_keys)?;
        let jwt = JwtKeys::new(
            &jwt_secret,
            chrono::Duration::minutes(config.auth.access_token_minutes),
        );

        let db = db::connect(&config.database_url()).await?;
        db::check_integrity(&db).await?;
        Migrator::up(&db, None)
            .await
            .context("database migrations failed")?;
        crate::domain::ops::jobs::ensure_daily_jobs(&db).await?;

        let read_db =
            db::connect_readers(&config.database_url(), &db, config.sqlite_readers).await?;
        let reads = db::reads::Reader::open(
            &config.database_url(),
            read_db.clone(),
            config.sqlite_read_path,
            config.sqlite_readers,
        )?;

        let listener = TcpListener::bind(config.listen_addr()?)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        let bound = listener.local_addr()?;
        let port = bound.port();
        if config.public_url.is_none() {
            // Links in emails must reach this process even when it picked its own port.
            config.public_url = Some(format!("http://{bound}"));
        }

        let mailer = Arc::new(Mailer::from_config(&config)?);
        let media_store = crate::storage::MediaStore::from_config(&config)?;
        let exports = crate::storage::MediaStore::for_exports(&config)?;
        let providers = crate::providers::Providers::from_config(&config)?;
        let mail_destination = mailer.describe();
        let media_link_key = crate::crypto::derive_key(&jwt_secret, b"atelier media links v1");
        let setup_key = crate::crypto::derive_key(&jwt_secret, b"atelier staff setup v1");
        let publisher = crate::domain::channels::publishing::Publisher {
            providers: Arc::new(providers.clone()),
            media: media_store.clone(),
            link_key: media_link_key,
            public_url: config.public_url(),
            link_ttl_secs: config.media.url_ttl_secs,
        };
        let (live, live_relay) = crate::live::LiveBus::for_database(&db, &config.database_url())
            .await
            .context("cannot listen for live events")?;
        let runner = JobRunner::new(
            db.clone(),
            vault.clone(),
            mailer,
            &config,
            publisher,
            exports.clone(),
            live.clone(),
        );

        let limit_store = crate::domain::identity::rate_limit::LimitStore::new(
            db.clone(),
            crate::crypto::derive_key(&jwt_secret, b"atelier rate limits v1"),
        );
        let state = AppState::new(Shared {
            auth_limits: AuthLimits::new(&config.auth, &limit_store),
            privacy_limits: PrivacyLimits::new(&config.privacy, &limit_store),
            staff_login_limits: crate::domain::staff::accounts::StaffLoginLimits::new(&limit_store),
            csrf_key: crate::portal::csrf::derive_key(&jwt_secret),
            generator: crate::generate::from_config(&config.generator)?,
            live,
            media: media_store.clone(),
            exports,
            providers,
            media_link_key,
            setup_key,
            revocations: crate::revocations::RevokedSessions::new(chrono::Duration::minutes(
                config.auth.access_token_minutes,
            )),
            db,
            reads,
            read_db,
            config,
            vault,
            jwt,
        });
        let router = router(state.clone(), trusted_proxies, &cors_origins, persisted);
        Ok(Self {
            listener,
            port,
            router,
            state,
            runner,
            live_relay,
            mail_destination,
        })
    }

    /// The job runner this application starts (when `jobs.run_in_process` is on), for
    /// driving jobs by hand: an instance that only serves requests, or a test.
    pub fn job_runner(&self) -> JobRunner {
        self.runner.clone()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.state.db
    }

    /// While no staff account exists: a fresh link to create the first ADMIN (printed at
    /// start-up so that whoever runs the server can claim the staff portal).
    pub async fn staff_setup_link(&self) -> anyhow::Result<Option<String>> {
        if !crate::domain::staff::accounts::none_exist(&self.state.db).await? {
            return Ok(None);
        }
        let token =
            crate::domain::staff::accounts::setup_token(&self.state.db, &self.state.setup_key)
                .await?;
        Ok(Some(format!(
            "{}/staff/setup?token={token}",
            self.state.config.public_url()
        )))
    }

    /// Where outgoing mail goes (SMTP host or outbox directory), for the start-up banner.
    pub fn mail_destination(&self) -> &str {
        &self.mail_destination
    }

    /// Serves until `shutdown` completes, then lets in-flight requests and the job in
    /// hand finish before returning.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let revocations = tokio::spawn(self.state.revocations.clone().keep_polling(
            self.state.db.clone(),
            Duration::from_millis(self.state.config.auth.revocation_poll_ms.max(50)),
            stop_rx.clone(),
        ));
        let relay = self
            .live_relay
            .map(|relay| tokio::spawn(relay.run(stop_rx.clone())));
        let runner = self
            .state
            .config
            .jobs
            .run_in_process
            .then(|| tokio::spawn(self.runner.run(stop_rx)));
        crate::serve::serve(
            self.listener,
            self.router,
            self.state.config.server.connection_limits(),
            async move {
                shutdown.await;
                tracing::info!("shutting down: finishing in-flight requests and jobs");
                let _ = stop_tx.send(true);
            },
        )
        .await;
        if let Some(runner) = runner {
            runner.await.context("job runner panicked")?;
        }
        revocations
            .await
            .context("the revocation poller panicked")?;
        if let Some(relay) = relay {
            relay.await.context("the live event relay panicked")?;
        }
        self.state.db.clone().close().await.ok();
        Ok(())
    }
}

fn router(
    state: AppState,
    trusted_proxies: Vec<crate::http::Cidr>,
    cors_origins: &[String],
    persisted: graphql::persisted::Persisted,
) -> Router {
    let schemas = graphql::Schemas::build(state.clone(), persisted);
    let limits = &state.config.graphql;
    let api = Router::new()
        .route(
            "/graphql",
            get(graphql::graphql_get).post(graphql::graphql_post),
        )
        .route("/graphql/ws", get(graphql::subscription::graphql_ws))
        .layer(DefaultBodyLimit::max(limits.max_body_bytes))
        // Answers carry tokens (`logIn`, `refreshSession`, `resetPassword`) and personal
        // data: no cache keeps them, and no browser reads them as anything but JSON.
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(cors(cors_origins, state.config.cors.max_age_secs))
        .with_state((state.clone(), schemas));
    let ops = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/analytics/export.csv", get(graphql::analytics::export_csv))
        .with_state(state.clone());
    let router = Router::new()
        .merge(api)
        .merge(ops)
        .merge(portal::router(state.clone()))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(limits.request_timeout_secs),
        ))
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(trusted_proxies),
            crate::http::client_behind_proxies,
        ))
        .layer(TraceLayer::new_for_http());
    if state.config.is_production() {
        // Production is served over HTTPS (its public URL says so): browsers must never
        // try plain HTTP again.
        router.layer(
            tower_http::set_header::SetResponseHeaderLayer::if_not_present(
                axum::http::header::STRICT_TRANSPORT_SECURITY,
                axum::http::HeaderValue::from_static("max-age=63072000; includeSubDomains"),
            ),
        )
    } else {
        router
    }
}

/// Cross-origin calls from the listed origins' pages: a preflight names the methods and
/// headers the API takes (a bearer token, JSON or a multipart upload, Apollo's own
/// headers); a page from any other origin gets no `Access-Control-Allow-Origin` and its
/// browser keeps the answer from it. Credentials are allowed, so never for `*`.
fn cors(origins: &[String], max_age_secs: u64) -> tower_http::cors::CorsLayer {
    use axum::http::{HeaderName, Method};
    use tower_http::cors::{AllowOrigin, CorsLayer};
    let origins = origins
        .iter()
        .filter_map(|origin| HeaderValue::from_str(origin).ok());
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT,
            HeaderName::from_static("apollo-require-preflight"),
            HeaderName::from_static("x-apollo-operation-name"),
            HeaderName::from_static("graphql-preflight"),
        ])
        .allow_credentials(true)
        .max_age(Duration::from_secs(max_age_secs))
}

async fn healthz() -> &'static str {
    "ok"
}

/// Ready when the database answers, the writer can be had and is outside any
/// transaction, and every migration this build knows is applied.
/// (On SQLite the checks that need no writer read through the readers, so that a held
/// writer makes the answer "not ready", not a timeout.)
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    if let Err(e) = state.read_db.ping().await {
        tracing::warn!(error = %e, "readiness: database unreachable");
        return (StatusCode::SERVICE_UNAVAILABLE, "database unreachable");
    }
    if let Err(not_ready) = db::writer_ready(&state.db).await {
        tracing::warn!(
            reason = not_ready,
            "readiness: the database writer is not ready"
        );
        return (StatusCode::SERVICE_UNAVAILABLE, not_ready);
    }
    match Migrator::get_pending_migrations(&state.read_db).await {
        Ok(pending) if pending.is_empty() => (StatusCode::OK, "ready"),
        Ok(_) => (StatusCode::SERVICE_UNAVAILABLE, "migrations pending"),
        Err(e) => {
            tracing::warn!(error = %e, "readiness: cannot read migration state");
            (StatusCode::SERVICE_UNAVAILABLE, "migration state unknown")
        }
    }
}

/// In development, missing keys are generated once into `<data dir>/keys/` and reused.
fn resolve_development_secrets(config: &mut Config) -> anyhow::Result<()> {
    if config.is_production() {
        return Ok(());
    }
    let dir = config.data_dir.join("keys");
    if config.token_keys.is_none() {
        config.token_keys = Some(load_or_create(&dir.join("token_keys"), || {
            Vault::generate_spec("dev1")
        })?);
    }
    if config.jwt_secret.is_none() {
        config.jwt_secret = Some(load_or_create(&dir.join("jwt_secret"), || {
            use base64::Engine;
            let mut bytes = [0u8; 48];
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
            SecretString::from(base64::engine::general_purpose::STANDARD.encode(bytes))
        })?);
    }
    Ok(())
}

fn load_or_create(
    path: &Path,
    generate: impl FnOnce() -> SecretString,
) -> anyhow::Result<SecretString> {
    use secrecy::ExposeSecret;
    if let Ok(existing) = std::fs::read_to_string(path) {
        let existing = existing.trim().to_string();
        if !existing.is_empty() {
            return Ok(SecretString::from(existing));
        }
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let secret = generate();
    write_private(path, secret.expose_secret())?;
    tracing::warn!(
        file = %path.display(),
        "generated a development key; set ATELIER_TOKEN_KEYS and ATELIER_JWT_SECRET in production"
    );
    Ok(secret)
}

fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(contents.as_bytes())?;
    Ok(())
}
