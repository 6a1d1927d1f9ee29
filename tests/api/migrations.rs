//! Every migration has a working `down`: the schema can be rolled back and re-applied.

use migration::{Migrator, MigratorTrait};

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
    let leftover = count_of(
        &app.db,
        match app.db.get_database_backend() {
            sea_orm::DatabaseBackend::Postgres => {
                "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = 'public' AND table_name <> 'seaql_migrations'"
            }
            _ => "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name NOT IN ('seaql_migrations', 'sqlite_sequence')",
        },
    )
    .await;
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

/// The comment counts migration counts the comments already there: rolled back on a
/// database with comments (live and deleted) and applied again, every draft's count is
/// its live comments.
async fn comment_counts_are_counted_when_the_migration_runs(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.signed_in_user("count@example.com", "Count Er").await;
    let ws = app.create_workspace(&owner, "Count Co").await;
    let draft = crate::publishing::draft_to(&app, &owner, &ws, "Counted", &[]).await;
    let mut ids = Vec::new();
    for body in ["one", "two", "three"] {
        ids.push(crate::collaboration::add_comment(&app, &owner.access, &draft, body, None).await);
    }
    app.gql_ok(
        Some(&owner.access),
        "mutation($id: ID!) { deleteComment(id: $id) { deleted } }",
        serde_json::json!({ "id": ids[0] }),
    )
    .await;

    Migrator::down(&app.db, Some(1))
        .await
        .expect("the last migration rolls back");
    assert_eq!(
        count_of(&app.db, "SELECT COUNT(*) AS n FROM comments").await,
        3
    );
    Migrator::up(&app.db, None)
        .await
        .expect("and applies again");
    assert_eq!(
        count_of(&app.db, "SELECT comment_count AS n FROM drafts").await,
        2
    );
    let shown = app
        .gql_ok(
            Some(&owner.access),
            "query($id: ID!) { draft(id: $id) { commentCount } }",
            serde_json::json!({ "id": draft }),
        )
        .await;
    assert_eq!(shown["draft"]["commentCount"], 2);
    app.stop().await;
}
on_both_databases!(comment_counts_are_counted_when_the_migration_runs);
