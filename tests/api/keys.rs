//! Key rotation re-seals stored tokens and queued sealed jobs under the new key, so the
//! old key can be retired.

use atelier::crypto::vault::Vault;
use atelier::domain::channels::integrations::{self, ConnectedAccount, TokenSet};
use atelier::domain::entities::{integration_tokens, jobs as job_rows};
use atelier::domain::ops::outbox::{self, Email};
use atelier::domain::platforms::Provider;
use atelier::domain::{ops::jobs, upkeep::keys, workspace::workspaces, RequestMeta};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, TransactionTrait};
use secrecy::{ExposeSecret, SecretString};

use crate::helpers::*;
use crate::on_both_databases;

async fn rotation_reseals_everything_under_the_new_key(backend: Backend) {
    // Jobs run only when the test says so: what it queues must still be queued when the
    // keys rotate.
    let app = TestApp::spawn_with(backend, |c| c.jobs.run_in_process = false).await;
    let owner = app.signed_in_user("keys@example.com", "Kay Keys").await;
    let workspace_id = app.create_workspace(&owner, "Key Studio").await;
    let access = workspaces::require_access(
        &app.db,
        owner.user_id.parse().unwrap(),
        workspace_id.parse().unwrap(),
    )
    .await
    .unwrap();
    let old = app.vault();
    let connected = integrations::upsert_connection(
        &app.db,
        &old,
        &access,
        Provider::Linkedin,
        ConnectedAccount {
            external_account_id: "li-1".into(),
            handle: None,
            display_name: None,
            scopes: vec![],
            platform_user_id: None,
        },
        TokenSet {
            access_token: SecretString::from("li-access"),
            refresh_token: Some(SecretString::from("li-refresh")),
            expires_at: None,
        },
        &RequestMeta::default(),
    )
    .await
    .unwrap();
    // A password reset asked for (its job holds the address, sealed).
    app.gql_ok(
        None,
        "mutation($e: String!) { requestPasswordReset(email: $e) }",
        serde_json::json!({ "e": "someone@example.com" }),
    )
    .await;
    // A queued email due in an hour: committed with its later time, so it waits.
    let txn = app.db.begin().await.unwrap();
    outbox::enqueue(
        &txn,
        &old,
        &Email::AccountExists {
            to: "later@example.com".into(),
            display_name: "Later".into(),
        },
    )
    .await
    .unwrap();
    // And a revocation waiting to be retried, holding sealed tokens.
    integrations::enqueue_revocation(
        &txn,
        &old,
        Provider::Linkedin,
        &TokenSet {
            access_token: SecretString::from("li-old-access"),
            refresh_token: None,
            expires_at: None,
        },
    )
    .await
    .unwrap();
    job_rows::Entity::update_many()
        .col_expr(
            job_rows::Column::RunAt,
            sea_orm::sea_query::Expr::value(chrono::Utc::now() + chrono::Duration::hours(1)),
        )
        .filter(job_rows::Column::Kind.is_in([
            jobs::kind::SEND_EMAIL,
            jobs::kind::REVOKE_TOKENS,
            jobs::kind::PASSWORD_RESET,
        ]))
        .filter(job_rows::Column::DoneAt.is_null())
        .exec(&txn)
        .await
        .unwrap();
    txn.commit().await.unwrap();
    let queued = job_rows::Entity::find()
        .filter(job_rows::Column::Kind.eq(jobs::kind::SEND_EMAIL))
        .filter(job_rows::Column::DoneAt.is_null())
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();

    // The operator puts a new key first and keeps the old one to open existing values.
    let new_key = Vault::generate_spec("k2026");
    let old_spec = app
        .config()
        .token_keys
        .as_ref()
        .unwrap()
        .expose_secret()
        .to_string();
    let rotating = Vault::from_spec(&SecretString::from(format!(
        "{},{old_spec}",
        new_key.expose_secret()
    )))
    .unwrap();
    let rotation = keys::rotate(
        &app.db,
        &rotating,
        atelier::domain::ops::audit::Actor::System,
        &RequestMeta::default(),
    )
    .await
    .unwrap();
    assert_eq!(rotation.integration_tokens, 1);
    assert!(rotation.queued_jobs >= 1);

    // Now the new key alone opens everything.
    let only_new = Vault::from_spec(&new_key).unwrap();
    let stored = integration_tokens::Entity::find_by_id(connected.id)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.key_id, "k2026");
    let opened = integrations::open_tokens(&app.db, &only_new, connected.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(opened.access_token.expose_secret(), "li-access");
    assert_eq!(opened.refresh_token.unwrap().expose_secret(), "li-refresh");
    let job = job_rows::Entity::find_by_id(queued.id)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(
        outbox::open(&only_new, &job.payload).unwrap(),
        Email::AccountExists { .. }
    ));
    assert!(
        outbox::open(&old, &job.payload).is_err(),
        "the old key no longer opens it"
    );
    let revocation = job_rows::Entity::find()
        .filter(job_rows::Column::Kind.eq(jobs::kind::REVOKE_TOKENS))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    let payload: serde_json::Value = serde_json::from_str(&revocation.payload).unwrap();
    for sealed in payload["sealed"].as_array().unwrap() {
        assert_eq!(Vault::key_id_of(sealed.as_str().unwrap()), Some("k2026"));
    }
    let reset = job_rows::Entity::find()
        .filter(job_rows::Column::Kind.eq(jobs::kind::PASSWORD_RESET))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    let payload: serde_json::Value = serde_json::from_str(&reset.payload).unwrap();
    assert_eq!(
        Vault::key_id_of(payload["sealed_reset"].as_str().unwrap()),
        Some("k2026")
    );

    // Rotating again changes nothing.
    let again = keys::rotate(
        &app.db,
        &rotating,
        atelier::domain::ops::audit::Actor::System,
        &RequestMeta::default(),
    )
    .await
    .unwrap();
    assert_eq!(
        (
            again.integration_tokens,
            again.queued_jobs,
            again.already_current
        ),
        (0, 0, 1)
    );
    assert_eq!(
        atelier::domain::ops::audit::count_action(&app.db, "keys.rotated")
            .await
            .unwrap(),
        2
    );
    app.stop().await;
}
on_both_databases!(rotation_reseals_everything_under_the_new_key);
