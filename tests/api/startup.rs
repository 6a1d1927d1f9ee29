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
    let ready = app
        .http
        .get(format!("{}/readyz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    assert_eq!(ready.text().await.unwrap(), "ready");
    app.stop().await;
}
on_both_databases!(health_endpoints_answer);
