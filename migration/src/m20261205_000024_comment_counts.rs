//! Each draft carries the count of its live comments (`drafts.comment_count`), kept by
//! the database itself: triggers on `comments` add one for a live comment written, take
//! one away for a live comment deleted or soft-deleted, and move it when a comment is
//! restored or moved to another draft. No code path can forget it, and a page of drafts
//! reads its counts with the drafts instead of walking every draft's comments (a walk
//! that grew with the thread: a draft with 10,000 comments cost 10,000 index entries on
//! every dashboard).
//!
//! The column is not written by Atelier's code: a draft is inserted with 0 and only the
//! triggers change it.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// SQLite: one trigger per kind of change; `(x IS NULL)` is 1 for a live comment.
const SQLITE_UP: &[&str] = &[
    "CREATE TRIGGER comments_count_insert AFTER INSERT ON comments \
     WHEN NEW.deleted_at IS NULL BEGIN \
     UPDATE drafts SET comment_count = comment_count + 1 WHERE id = NEW.draft_id; END",
    "CREATE TRIGGER comments_count_delete AFTER DELETE ON comments \
     WHEN OLD.deleted_at IS NULL BEGIN \
     UPDATE drafts SET comment_count = comment_count - 1 WHERE id = OLD.draft_id; END",
    "CREATE TRIGGER comments_count_update AFTER UPDATE OF deleted_at, draft_id ON comments \
     WHEN (OLD.deleted_at IS NULL) <> (NEW.deleted_at IS NULL) OR OLD.draft_id <> NEW.draft_id BEGIN \
     UPDATE drafts SET comment_count = comment_count - (OLD.deleted_at IS NULL) WHERE id = OLD.draft_id; \
     UPDATE drafts SET comment_count = comment_count + (NEW.deleted_at IS NULL) WHERE id = NEW.draft_id; END",
];

const SQLITE_DOWN: &[&str] = &[
    "DROP TRIGGER IF EXISTS comments_count_insert",
    "DROP TRIGGER IF EXISTS comments_count_delete",
    "DROP TRIGGER IF EXISTS comments_count_update",
];

/// PostgreSQL: one row trigger function for the three kinds of change.
const POSTGRES_UP: &[&str] = &[
    "CREATE FUNCTION comments_count() RETURNS trigger LANGUAGE plpgsql AS $$ \
     BEGIN \
       IF TG_OP = 'UPDATE' AND (OLD.deleted_at IS NULL) = (NEW.deleted_at IS NULL) \
          AND OLD.draft_id = NEW.draft_id THEN \
         RETURN NULL; \
       END IF; \
       IF TG_OP IN ('DELETE', 'UPDATE') AND OLD.deleted_at IS NULL THEN \
         UPDATE drafts SET comment_count = comment_count - 1 WHERE id = OLD.draft_id; \
       END IF; \
       IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.deleted_at IS NULL THEN \
         UPDATE drafts SET comment_count = comment_count + 1 WHERE id = NEW.draft_id; \
       END IF; \
       RETURN NULL; \
     END $$",
    "CREATE TRIGGER comments_count AFTER INSERT OR DELETE OR UPDATE OF deleted_at, draft_id \
     ON comments FOR EACH ROW EXECUTE FUNCTION comments_count()",
];

const POSTGRES_DOWN: &[&str] = &[
    "DROP TRIGGER IF EXISTS comments_count ON comments",
    "DROP FUNCTION IF EXISTS comments_count()",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("drafts"))
                    .add_column(
                        ColumnDef::new(Alias::new("comment_count"))
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        db.execute_unprepared(
            "UPDATE drafts SET comment_count = (SELECT COUNT(*) FROM comments \
             WHERE comments.draft_id = drafts.id AND comments.deleted_at IS NULL)",
        )
        .await?;
        let statements = match manager.get_database_backend() {
            DbBackend::Postgres => POSTGRES_UP,
            _ => SQLITE_UP,
        };
        for statement in statements {
            db.execute_unprepared(statement).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let statements = match manager.get_database_backend() {
            DbBackend::Postgres => POSTGRES_DOWN,
            _ => SQLITE_DOWN,
        };
        for statement in statements {
            manager
                .get_connection()
                .execute_unprepared(statement)
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("drafts"))
                    .drop_column(Alias::new("comment_count"))
                    .to_owned(),
            )
            .await
    }
}
