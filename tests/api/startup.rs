//! Start-up: production refuses development defaults; health endpoints answer.

use atelier::config::{Config, Environment};
use atelier::Application;

use crate::helpers::*;
use crate::on_both_databases;

#[tokio::test]
async fn production_without_secrets_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        env: Environment::Production,
        data_dir: dir.path().to_path_buf(),
        listen: "127.0.0.1:0".into(),
        ..Config::default()
    };
    let error = match Application::build(config).await {
        Ok(_) => panic!("production must not start without its secrets"),
        Err(e) => format!("{e:#}"),
    };
    for name in [
        "ATELIER_DATABASE_URL",
        "ATELIER_SMTP_URL",
        "ATELIER_TOKEN_KEYS",
        "ATELIER_JWT_SECRET",
        "ATELIER_PUBLIC_URL",
    ] {
        assert!(error.contains(name), "{error} should name {name}");
    }
    // Nothing was created on the way: no keys were generated for production.
    assert!(!dir.path().join("keys").exists());
}

#[tokio::test]
async fn development_keeps_its_generated_keys_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        data_dir: dir.path().to_path_buf(),
        listen: "127.0.0.1:0".into(),
        ..Config::default()
    };
    let app = Application::build(config.clone()).await.unwrap();
    assert!(app.mail_destination().contains("outbox"));
    drop(app);
    let first = std::fs::read_to_string(dir.path().join("keys/token_keys")).unwrap();
    let app = Application::build(config).await.unwrap();
    drop(app);
    let second = std::fs::read_to_string(dir.path().join("keys/token_keys")).unwrap();
    assert_eq!(first, second);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("keys/jwt_secret"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "keys are private to their owner");
    }
}

async fn health_endpoints_answer(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let health = app
        .http
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(app.readiness().await, (200, "ready".to_string()));
    app.stop().await;
}
on_both_databases!(health_endpoints_answer);

/// PostgreSQL drops every connection of the server (a restart, a failover, an idle cut by
/// a proxy): once they have sat idle, the next requests are answered, none with an
/// error — the pool checks a connection that was idle before it sends a statement on it
/// (hot connections are not pinged on every use; see `db::POSTGRES_PING_AFTER_IDLE`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_after_postgres_dropped_the_connections_are_answered() {
    use sea_orm::{ConnectionTrait, Statement};
    use serde_json::json;

    let Some(backend) = Backend::postgres() else {
        return;
    };
    let app = TestApp::spawn_with(backend, |config| config.jobs.run_in_process = false).await;
    let owner = app
        .signed_in_user("dropped@example.com", "Dee Dropped")
        .await;
    const ME: &str = "query { me { email } }";
    // Several requests at once, so that the pool holds several connections.
    let answers =
        futures::future::join_all((0..6).map(|_| app.gql(Some(&owner.access), ME, json!({}))))
            .await;
    assert!(answers
        .iter()
        .all(|a| a["data"]["me"]["email"] == "dropped@example.com"));

    let killed = app
        .db
        .query_all_raw(Statement::from_string(
            app.db.get_database_backend(),
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        ))
        .await
        .unwrap();
    assert!(!killed.is_empty(), "the server's connections were dropped");
    tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;

    for _ in 0..3 {
        let answers =
            futures::future::join_all((0..6).map(|_| app.gql(Some(&owner.access), ME, json!({}))))
                .await;
        for answer in answers {
            assert_eq!(
                answer["data"]["me"]["email"], "dropped@example.com",
                "{answer}"
            );
        }
    }
    app.stop().await;
}

/// A damaged SQLite file (a copy cut short, as `cp` of a live database or a full disk
/// leaves): the server refuses to start on it and says why and what to do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_database_file_is_refused_at_start() {
    let app =
        TestApp::spawn_with(Backend::Sqlite, |config| config.jobs.run_in_process = false).await;
    let owner = app.signed_in_user("cut@example.com", "Cy Cut").await;
    app.create_workspace(&owner, "Cut short").await;
    let config = app.config().clone();
    let file = app.data_dir().join("test.sqlite");
    let keep = tempfile::tempdir().unwrap();
    let copy = keep.path().join("test.sqlite");
    // The app's files go with it when it stops: keep a copy of the database, stopped
    // cleanly (WAL checkpointed into the file).
    let db = app.db.clone();
    sea_orm::ConnectionTrait::execute_unprepared(&db, "PRAGMA wal_checkpoint(TRUNCATE)")
        .await
        .unwrap();
    std::fs::copy(&file, &copy).unwrap();
    app.stop().await;

    // Cut short by a half or a third (it no longer opens), or the same length with one
    // page in the middle overwritten: it opens, and only a check of its pages finds it.
    let bytes = std::fs::read(&copy).unwrap();
    let length = bytes.len();
    let mut scribbled = bytes.clone();
    let page = 4096 * (length / 4096 / 2);
    scribbled[page..page + 4096].fill(0x5a);
    let damages = [
        bytes[..length / 2].to_vec(),
        bytes[..length * 2 / 3].to_vec(),
        scribbled,
    ];
    for (n, contents) in damages.iter().enumerate() {
        let damaged = keep.path().join(format!("damaged{n}.sqlite"));
        std::fs::write(&damaged, contents).unwrap();
        let mut config = config.clone();
        config.data_dir = keep.path().to_path_buf();
        config.database_url = Some(secrecy::SecretString::from(format!(
            "sqlite://{}",
            damaged.display()
        )));
        let error = match Application::build(config).await {
            Ok(_) => panic!("a damaged database must be refused"),
            Err(e) => format!("{e:#}"),
        };
        assert!(error.contains("damaged"), "{error}");
        assert!(error.contains("backup"), "{error}");
    }

    // The intact copy starts.
    let mut intact = config.clone();
    intact.data_dir = keep.path().to_path_buf();
    intact.database_url = Some(secrecy::SecretString::from(format!(
        "sqlite://{}",
        copy.display()
    )));
    Application::build(intact)
        .await
        .expect("an intact copy starts");
}
