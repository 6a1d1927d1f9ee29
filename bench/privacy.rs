//! The privacy benchmark (`bench/privacy`): the demo database at scale 0.1 (one
//! workspace of 10,000 drafts and 100,000 comments), `--drafts N` of them and their
//! comments made the demo member's own (about 11 rows a draft), then that member's
//! export and erasure carried out by the fulfilment itself (`fulfil::run`, what the job
//! runs), timed, with the process's peak memory during each (Linux VmHWM, reset before
//! each step), the rows the erasure touched, and what is found of the person afterwards
//! in every text column and in the database file's bytes (it must be nothing). Prints
//! one JSON line.
//!
//!   cargo run --release --example privacy -- --drafts 9000

use std::time::Instant;

use atelier::config::Config;
use atelier::crypto::vault::Vault;
use atelier::domain::entities::{
    comments, drafts, privacy_execution_steps, privacy_requests, users,
};
use atelier::domain::privacy::fulfil::{self, Needles};
use atelier::storage::MediaStore;
use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect, Set,
};
use uuid::Uuid;

/// The process's peak resident memory so far, in KiB.
fn peak_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Starts the peak over from the current size (Linux: `5` to clear_refs).
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

async fn approved(
    db: &sea_orm::DatabaseConnection,
    kind: &str,
    user: &users::Model,
) -> anyhow::Result<Uuid> {
    let id = Uuid::now_v7();
    let at = chrono::Utc::now();
    privacy_requests::ActiveModel {
        id: Set(id),
        reference: Set(format!("R-BENCH-{}", &id.simple().to_string()[20..])),
        kind: Set(kind.into()),
        requester_email: Set(Some(user.email.clone())),
        requester_email_hash: Set(Some(atelier::domain::ops::outbox::recipient_hash(
            &user.email,
        ))),
        user_id: Set(Some(user.id)),
        workspace_name: Set(None),
        channel_identifiers: Set(None),
        details: Set(None),
        source: Set("APP".into()),
        jurisdiction: Set("GDPR".into()),
        status: Set("APPROVED".into()),
        received_at: Set(at),
        verified_at: Set(Some(at)),
        due_at: Set(at + chrono::Duration::days(30)),
        extended_until: Set(None),
        extension_reason: Set(None),
        assigned_staff_id: Set(None),
        decision: Set(Some("APPROVED".into())),
        decision_reason: Set(None),
        completed_at: Set(None),
        external_account_id: Set(None),
        confirmation_code: Set(None),
        updated_at: Set(at),
        identity_verified_at: Set(Some(at)),
        identity_method: Set(Some("benchmark".into())),
    }
    .insert(db)
    .await?;
    Ok(id)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let scale = 0.1f64;
    let mut owned: u64 = 9_000;
    while let Some(arg) = args.next() {
        if arg == "--drafts" {
            owned = args.next().and_then(|v| v.parse().ok()).unwrap_or(owned);
        }
    }
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("privacy.sqlite");
    let db = atelier::db::connect(&format!("sqlite://{}?mode=rwc", file.display())).await?;
    Migrator::up(&db, None).await?;
    let started = Instant::now();
    let seeded = atelier::seed::seed_demo(&db, scale, |_| {}).await?;
    let seed_secs = started.elapsed().as_secs_f64();
    let user = users::Entity::find()
        .filter(users::Column::Email.eq(seeded.email.as_str()))
        .one(&db)
        .await?
        .ok_or_else(|| anyhow::anyhow!("the demo user is missing"))?;
    // The member wrote `owned` drafts of the workspace, and every comment on them.
    let mine: Vec<Uuid> = drafts::Entity::find()
        .select_only()
        .column(drafts::Column::Id)
        .filter(drafts::Column::WorkspaceId.eq(seeded.workspace_id))
        .limit(owned)
        .into_tuple()
        .all(&db)
        .await?;
    for chunk in mine.chunks(5_000) {
        drafts::Entity::update_many()
            .col_expr(
                drafts::Column::AuthorId,
                sea_orm::sea_query::Expr::value(user.id),
            )
            .filter(drafts::Column::Id.is_in(chunk.iter().copied()))
            .exec(&db)
            .await?;
        comments::Entity::update_many()
            .col_expr(
                comments::Column::AuthorId,
                sea_orm::sea_query::Expr::value(user.id),
            )
            .filter(comments::Column::DraftId.is_in(chunk.iter().copied()))
            .exec(&db)
            .await?;
    }
    let their_drafts = drafts::Entity::find()
        .filter(drafts::Column::AuthorId.eq(user.id))
        .count(&db)
        .await?;
    let their_comments = comments::Entity::find()
        .filter(comments::Column::AuthorId.eq(user.id))
        .count(&db)
        .await?;

    let config = Config {
        data_dir: dir.path().to_path_buf(),
        ..Config::default()
    };
    let exports = MediaStore::for_exports(&config)?;
    let media = MediaStore::from_config(&config)?;
    let vault = Vault::from_spec(&Vault::generate_spec("bench"))?;
    let needles = Needles {
        email: Some(user.email.clone()),
        names: vec![user.display_name.clone()],
        ..Needles::default()
    };

    let export = approved(&db, "EXPORT", &user).await?;
    reset_peak();
    let base = peak_kib();
    let started = Instant::now();
    fulfil::run(&db, &vault, &exports, &media, export, &needles).await?;
    let export_secs = started.elapsed().as_secs_f64();
    let export_peak = peak_kib();
    let package_bytes: i64 = atelier::domain::entities::export_packages::Entity::find()
        .select_only()
        .column(atelier::domain::entities::export_packages::Column::SizeBytes)
        .filter(atelier::domain::entities::export_packages::Column::RequestId.eq(export))
        .into_tuple()
        .one(&db)
        .await?
        .unwrap_or(0);

    let erase = approved(&db, "ERASE", &user).await?;
    reset_peak();
    let started = Instant::now();
    fulfil::run(&db, &vault, &exports, &media, erase, &needles).await?;
    let erase_secs = started.elapsed().as_secs_f64();
    let erase_peak = peak_kib();
    let touched: Vec<i64> = privacy_execution_steps::Entity::find()
        .select_only()
        .column(privacy_execution_steps::Column::RowsAffected)
        .filter(privacy_execution_steps::Column::RequestId.eq(erase))
        .into_tuple()
        .all(&db)
        .await?;
    let mut search = needles.emails();
    search.extend(needles.names.iter().cloned());
    let left = fulfil::scan(&db, &search, Some(erase)).await?;
    let bytes_left = {
        let bytes = std::fs::read(&file)?;
        search
            .iter()
            .filter(|n| bytes.windows(n.len()).any(|w| w == n.as_bytes()))
            .count()
    };
    println!(
        "{}",
        serde_json::json!({
            "scale": scale,
            "drafts_made_theirs": owned,
            "seed_secs": (seed_secs * 10.0).round() / 10.0,
            "their_drafts": their_drafts,
            "their_comments": their_comments,
            "export_secs": (export_secs * 100.0).round() / 100.0,
            "export_package_bytes": package_bytes,
            "export_peak_rss_mib": export_peak / 1024,
            "rss_before_export_mib": base / 1024,
            "erase_secs": (erase_secs * 100.0).round() / 100.0,
            "erase_rows_touched": touched.iter().sum::<i64>(),
            "erase_peak_rss_mib": erase_peak / 1024,
            "rows_left_naming_them": left.iter().map(|l| l.rows).sum::<i64>(),
            "needles_left_in_database_file": bytes_left,
        })
    );
    Ok(())
}
