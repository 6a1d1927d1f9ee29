//! Every migration has a working `down`: the schema can be rolled back and re-applied.

use migration::{Migrator, MigratorTrait};
use sea_orm::ConnectionTrait;

use crate::helpers::*;
use crate::on_both_databases;

async fn migrations_roll_back_and_forward(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.signed_in_user("mig@example.com", "Mig Ration").await;
    let applied = Migrator::get_applied_migrations(&app.db)
        .await
        .unwrap()
        .len();
    assert!(applied >= 3);

    Migrator::down(&app.db, None)
        .await
        .expect("every down migration runs");
    assert_eq!(
        Migrator::get_applied_migrations(&app.db)
            .await
            .unwrap()
            .len(),
        0
    );
    let leftover = app
        .db
        .query_one_raw(sea_orm::Statement::from_string(
            app.db.get_database_backend(),
            match app.db.get_database_backend() {
                sea_orm::DatabaseBackend::Postgres => {
                    "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = 'public' AND table_name <> 'seaql_migrations'"
                }
                _ => "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name NOT IN ('seaql_migrations', 'sqlite_sequence')",
            },
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<i64>("", "n")
        .unwrap();
    assert_eq!(leftover, 0, "down leaves no table behind");

    Migrator::up(&app.db, None).await.expect("and up again");
    assert_eq!(
        Migrator::get_applied_migrations(&app.db)
            .await
            .unwrap()
            .len(),
        applied
    );
    app.stop().await;
}
on_both_databases!(migrations_roll_back_and_forward);
