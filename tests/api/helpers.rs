//! Spawning the real application for a test: a fresh database (SQLite file, or a new
//! PostgreSQL database when ATELIER_TEST_DATABASE_URL is set), a real SMTP sink on
//! loopback, and a GraphQL client.

use std::time::Duration;

use atelier::config::{Config, Environment};
use atelier::crypto::vault::Vault;
use atelier::Application;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use secrecy::SecretString;
use serde_json::{json, Value};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::smtp_sink::{Inbox, SmtpSink};

/// How long a test waits for something that must happen (an email, a job, a page):
/// generous, so that a loaded machine passes; only a failing test waits this long.
/// Timeouts that a test needs to fire are set short and aimed at a peer that never
/// answers, so that load cannot make them pass or fail.
pub const PATIENCE: Duration = Duration::from_secs(90);

pub const PASSWORD: &str = "quiet-lantern-orbit-57";
pub const STAFF_PASSWORD: &str = "amber-falcon-river-82";

/// A browser-like HTTP client: keeps cookies, follows no redirects.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The value of a hidden form field in a page.
pub fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no hidden {name} in page"))
        + marker.len();
    html[start..].split('"').next().unwrap().to_string()
}

#[derive(Clone, Debug)]
pub enum Backend {
    Sqlite,
    Postgres { admin_url: String },
}

impl Backend {
    /// PostgreSQL when the environment points at a server, else `None` (test skipped).
    pub fn postgres() -> Option<Self> {
        match std::env::var("ATELIER_TEST_DATABASE_URL") {
            Ok(url) if !url.is_empty() => Some(Backend::Postgres { admin_url: url }),
            _ => {
                // Written past the harness's capture (which only takes `print!`s), once a
                // run: a passing PostgreSQL variant that ran nothing must not look run.
                static SAID: std::sync::Once = std::sync::Once::new();
                SAID.call_once(|| {
                    use std::io::Write;
                    let _ = writeln!(
                        std::io::stderr(),
                        "\nATELIER_TEST_DATABASE_URL is not set: every PostgreSQL variant \
                         (`::postgres`) is SKIPPED and reported as passing"
                    );
                });
                None
            }
        }
    }
}

/// Runs a test body once on SQLite and once on PostgreSQL (when configured).
#[macro_export]
macro_rules! on_both_databases {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::helpers::Backend::Sqlite).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(backend) = $crate::helpers::Backend::postgres() {
                    super::$name(backend).await;
                }
            }
        }
    };
}

/// What one GraphQL request cost the database.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Costs {
    /// SQL statements run.
    pub statements: u64,
    /// SQLite list reads that left the request's thread for the blocking pool.
    pub moved: u64,
    /// Rows the list reads returned.
    pub rows: u64,
}

pub struct TestApp {
    pub address: String,
    pub http: reqwest::Client,
    pub db: DatabaseConnection,
    /// Kept alive for the app's lifetime.
    _smtp: SmtpSink,
    config: Config,
    vault: Vault,
    pub inbox: Inbox,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
    pg_database: Option<(String, String)>,
    _data_dir: tempfile::TempDir,
    /// The app's job runner, for tests that drive jobs themselves
    /// (`config.jobs.run_in_process = false`).
    pub runner: atelier::jobs::JobRunner,
    /// The first-admin link the server gave out at start, while no staff exists.
    pub staff_setup_link: Option<String>,
}

/// A configuration for tests: fast job polling and retries, fresh keys, loopback only.
pub fn test_config(data_dir: &std::path::Path, smtp_url: &str) -> Config {
    let mut config = Config {
        env: Environment::Development,
        listen: "127.0.0.1:0".into(),
        data_dir: data_dir.to_path_buf(),
        app_url: Some("http://app.test".into()),
        smtp_url: Some(SecretString::from(smtp_url.to_string())),
        token_keys: Some(Vault::generate_spec("test1")),
        jwt_secret: Some(SecretString::from(format!("jwt-{}", uuid::Uuid::new_v4()))),
        ..Config::default()
    };
    config.jobs.poll_interval_ms = 25;
    config.jobs.retry_base_ms = 100;
    config
}

async fn fresh_database(
    backend: &Backend,
    dir: &std::path::Path,
) -> (String, Option<(String, String)>) {
    match backend {
        Backend::Sqlite => (
            format!("sqlite://{}?mode=rwc", dir.join("test.sqlite").display()),
            None,
        ),
        Backend::Postgres { admin_url } => {
            let name = format!("atelier_test_{}", uuid::Uuid::new_v4().simple());
            let admin = Database::connect(admin_url.as_str())
                .await
                .expect("connect to the test PostgreSQL server");
            admin
                .execute_unprepared(&format!("CREATE DATABASE {name}"))
                .await
                .expect("create a test database");
            admin.close().await.ok();
            let base = admin_url
                .rsplit_once('/')
                .map(|(b, _)| b)
                .unwrap_or(admin_url);
            (format!("{base}/{name}"), Some((admin_url.clone(), name)))
        }
    }
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, |_| {}).await
    }

    /// Spawns the app after letting the test adjust its configuration (which may point
    /// `smtp_url` elsewhere than the sink started here).
    pub async fn spawn_with(backend: Backend, adjust: impl FnOnce(&mut Config)) -> Self {
        let smtp = SmtpSink::start().await;
        let data_dir = tempfile::tempdir().expect("temp dir");
        let mut config = test_config(data_dir.path(), &smtp.url());
        let (database_url, pg_database) = fresh_database(&backend, data_dir.path()).await;
        config.database_url = Some(SecretString::from(database_url));
        adjust(&mut config);
        Self::start(config, smtp, pg_database, data_dir).await
    }

    async fn start(
        config: Config,
        smtp: SmtpSink,
        pg_database: Option<(String, String)>,
        data_dir: tempfile::TempDir,
    ) -> Self {
        let app = Application::build(config.clone())
            .await
            .expect("the app builds");
        let port = app.port();
        let db = app.db().clone();
        let runner = app.job_runner();
        let staff_setup_link = app.staff_setup_link().await.expect("the setup link");
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until_stopped(async move {
            let _ = rx.await;
        }));
        Self {
            address: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(PATIENCE)
                .build()
                .unwrap(),
            db,
            inbox: smtp.inbox.clone(),
            _smtp: smtp,
            vault: Vault::from_spec(config.token_keys.as_ref().expect("tests set token keys"))
                .unwrap(),
            config,
            shutdown: Some(tx),
            server: Some(server),
            pg_database,
            _data_dir: data_dir,
            runner,
            staff_setup_link,
        }
    }

    /// Runs the daily retention purge as of `at`, with this app's stores.
    pub async fn run_retention(
        &self,
        at: chrono::DateTime<chrono::Utc>,
    ) -> atelier::domain::upkeep::retention::Purged {
        atelier::domain::upkeep::retention::purge(
            &self.db,
            &atelier::storage::MediaStore::for_exports(&self.config).unwrap(),
            at,
        )
        .await
        .unwrap()
    }

    /// Another instance of the same deployment, as a load balancer would have beside
    /// this one: the same database and keys (PostgreSQL only: SQLite is one instance),
    /// its own listener, data directory and SMTP sink. It leaves the database to this
    /// instance to drop: stop it first.
    pub async fn spawn_beside(&self, adjust: impl FnOnce(&mut Config)) -> Self {
        assert!(
            self.pg_database.is_some(),
            "instances side by side need PostgreSQL"
        );
        let smtp = SmtpSink::start().await;
        let data_dir = tempfile::tempdir().expect("temp dir");
        let mut config = self.config.clone();
        config.data_dir = data_dir.path().to_path_buf();
        config.smtp_url = Some(SecretString::from(smtp.url()));
        adjust(&mut config);
        Self::start(config, smtp, None, data_dir).await
    }

    /// Runs due jobs now when the app was started without its runner; otherwise the
    /// runner does it on its own.
    pub async fn pump_jobs(&self) {
        if !self.config.jobs.run_in_process {
            self.run_jobs().await;
        }
    }

    /// Runs due jobs until none is left due (for apps started without their runner).
    pub async fn run_jobs(&self) {
        let (_keep, running) = tokio::sync::watch::channel(false);
        while self.runner.run_due(&running).await.expect("jobs run") > 0 {}
    }

    /// Stops the app gracefully and starts a new one on the same database and data
    /// directory, as a deploy or a crash-and-restart would.
    pub async fn restart(mut self, adjust: impl FnOnce(&mut Config)) -> Self {
        self.stop_server().await;
        let mut config = self.config.clone();
        adjust(&mut config);
        let smtp = std::mem::replace(&mut self._smtp, SmtpSink::start().await);
        let pg_database = self.pg_database.take();
        let data_dir = std::mem::replace(&mut self._data_dir, tempfile::tempdir().unwrap());
        Self::start(config, smtp, pg_database, data_dir).await
    }

    async fn stop_server(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server
                .await
                .expect("server task")
                .expect("server ran cleanly");
        }
    }

    /// What `GET /readyz` answers: its status and text.
    pub async fn readiness(&self) -> (u16, String) {
        let answer = self
            .http
            .get(format!("{}/readyz", self.address))
            .send()
            .await
            .expect("readyz answers");
        (answer.status().as_u16(), answer.text().await.unwrap())
    }

    /// The address of the SMTP sink this app was started with (`inbox` is its mail).
    pub fn sink_url(&self) -> String {
        self._smtp.url()
    }

    /// The app's data directory (SQLite files, outbox).
    pub fn data_dir(&self) -> &std::path::Path {
        self._data_dir.path()
    }

    /// The configuration the app was built with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The token vault with the app's keys (to seal test fixtures as the app would).
    pub fn vault(&self) -> Vault {
        self.vault.clone()
    }

    pub fn vault_ref(&self) -> &Vault {
        &self.vault
    }

    /// Sends a GraphQL request and returns the whole JSON response.
    pub async fn gql(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        self.gql_from(&self.http, token, query, variables).await
    }

    /// Like `gql`, sent by `client` (a `browser()` keeps the cookies the answer sets).
    pub async fn gql_from(
        &self,
        client: &reqwest::Client,
        token: Option<&str>,
        query: &str,
        variables: Value,
    ) -> Value {
        let mut request = client
            .post(format!("{}/graphql", self.address))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request
            .send()
            .await
            .expect("graphql request")
            .json()
            .await
            .expect("graphql json")
    }

    /// Like `gql_ok`, also returning how many SQL statements the request ran (the
    /// `x-sql-statements` header the server sets outside production).
    pub async fn gql_counted(&self, token: &str, query: &str, variables: Value) -> (Value, u64) {
        let (data, costs) = self.gql_costed(token, query, variables).await;
        (data, costs.statements)
    }

    /// Like `gql_ok`, also returning what the request cost the database (the
    /// `x-sql-statements` and `x-sql-moved` headers the server sets outside production).
    pub async fn gql_costed(&self, token: &str, query: &str, variables: Value) -> (Value, Costs) {
        let response = self
            .http
            .post(format!("{}/graphql", self.address))
            .bearer_auth(token)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .expect("graphql request");
        let header = |name: &str| -> u64 {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("the {name} header"))
        };
        let costs = Costs {
            statements: header("x-sql-statements"),
            moved: header("x-sql-moved"),
            rows: header("x-sql-rows"),
        };
        let body: Value = response.json().await.expect("graphql json");
        assert!(body.get("errors").is_none(), "unexpected errors: {body}");
        (body["data"].clone(), costs)
    }

    /// Like `gql`, but fails the test on any GraphQL error and returns `data`.
    pub async fn gql_ok(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let response = self.gql(token, query, variables).await;
        assert!(
            response.get("errors").is_none(),
            "unexpected errors: {response}"
        );
        response["data"].clone()
    }

    /// Signs up, verifies through the emailed link and logs in; returns the tokens.
    pub async fn signed_in_user(&self, email: &str, name: &str) -> Session {
        let before = self.inbox.to(email).len();
        self.sign_up(email, name).await;
        self.pump_jobs().await;
        let mail = self.inbox.wait_for(email, before + 1).await;
        assert!(
            mail.subject().contains("Confirm your email"),
            "{}",
            mail.subject()
        );
        self.gql_ok(None, VERIFY_EMAIL, json!({ "token": mail.token() }))
            .await;
        self.log_in(email).await
    }

    pub async fn sign_up(&self, email: &str, name: &str) -> Value {
        self.gql_ok(
            None,
            SIGN_UP,
            json!({ "input": { "email": email, "password": PASSWORD, "displayName": name } }),
        )
        .await
    }

    pub async fn log_in(&self, email: &str) -> Session {
        let data = self
            .gql_ok(
                None,
                LOG_IN,
                json!({ "input": { "email": email, "password": PASSWORD } }),
            )
            .await;
        Session::from(&data["logIn"])
    }

    pub async fn create_workspace(&self, session: &Session, name: &str) -> String {
        let data = self
            .gql_ok(
                Some(&session.access),
                "mutation($input: CreateWorkspaceInput!) { createWorkspace(input: $input) { id myRole } }",
                json!({ "input": { "name": name } }),
            )
            .await;
        assert_eq!(data["createWorkspace"]["myRole"], "OWNER");
        data["createWorkspace"]["id"].as_str().unwrap().to_string()
    }

    /// Stops the app gracefully (in-flight work finishes) and drops its database.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server
                .await
                .expect("server task")
                .expect("server ran cleanly");
        }
        if let Some((admin_url, name)) = self.pg_database.take() {
            if let Ok(admin) = Database::connect(admin_url.as_str()).await {
                admin
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await
                    .ok();
                admin.close().await.ok();
            }
        }
    }
}

#[derive(Clone, Debug)]
pub struct Session {
    pub access: String,
    pub refresh: String,
    pub user_id: String,
}

impl From<&Value> for Session {
    fn from(payload: &Value) -> Self {
        Session {
            access: payload["accessToken"]
                .as_str()
                .expect("access token")
                .to_string(),
            refresh: payload["refreshToken"]
                .as_str()
                .expect("refresh token")
                .to_string(),
            user_id: payload["user"]["id"].as_str().expect("user id").to_string(),
        }
    }
}

/// The `extensions.code` of the first error, if any.
pub fn error_code(response: &Value) -> Option<String> {
    response["errors"][0]["extensions"]["code"]
        .as_str()
        .map(str::to_string)
}

pub const SIGN_UP: &str = "mutation($input: SignUpInput!) { signUp(input: $input) { accessToken refreshToken user { id } verificationRequired } }";
pub const VERIFY_EMAIL: &str =
    "mutation($token: String!) { verifyEmail(token: $token) { id email emailVerified } }";
pub const LOG_IN: &str = "mutation($input: LogInInput!) { logIn(input: $input) { accessToken refreshToken expiresAt user { id email } } }";
pub const REFRESH: &str = "mutation($t: String!) { refreshSession(refreshToken: $t) { accessToken refreshToken user { id } } }";
pub const INVITE: &str =
    "mutation($input: InviteMemberInput!) { inviteMember(input: $input) { id email role status } }";
pub const ACCEPT: &str = "mutation($token: String!) { acceptInvitation(token: $token) { role user { email } workspace { id name myRole } } }";

/// Polls `check` every 50 ms until it answers `Ok`, for at most `secs` seconds (never
/// less than `PATIENCE`); fails the test with `what` and the last thing `check` saw.
pub async fn eventually<T, F, Fut>(secs: u64, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs).max(PATIENCE);
    loop {
        match check().await {
            Ok(found) => return found,
            Err(seen) => assert!(
                tokio::time::Instant::now() < deadline,
                "{what}; last seen: {seen}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The number a counting statement answers, its column named `n`.
pub async fn count_of(db: &DatabaseConnection, sql: &str) -> i64 {
    db.query_one_raw(sea_orm::Statement::from_string(
        db.get_database_backend(),
        sql.to_string(),
    ))
    .await
    .unwrap()
    .unwrap()
    .try_get::<i64>("", "n")
    .unwrap()
}
