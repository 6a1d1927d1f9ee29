//! `atelier seed-demo`: fills a database with a realistic team's worth of content for the
//! benchmark (`bench/`): workspaces with members, drafts with channel texts, and ten
//! comments per draft, written in bulk. Refused in production.

use chrono::Duration;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sea_orm::{ConnectionTrait, EntityTrait, Set, TransactionSession, TransactionTrait};
use serde::Serialize;
use uuid::Uuid;

use crate::domain::channels::analytics::{Metric, NewPoint, Source};
use crate::domain::entities::{
    comments, draft_targets, drafts, integrations, memberships, metric_points, users, workspaces,
};
use crate::domain::now;

/// What the benchmark needs to find its way in.
#[derive(Debug, Serialize)]
pub struct Seeded {
    pub email: String,
    pub password: String,
    pub workspace_id: Uuid,
    pub draft_id: Uuid,
    pub workspaces: usize,
    pub users: usize,
    pub drafts: usize,
    pub comments: usize,
    pub metric_points: usize,
}

pub const DEMO_PASSWORD: &str = "demo-Atelier-2026-bench!";
const BATCH: usize = 1_000;

const WORDS: &[&str] = &[
    "launch",
    "campaign",
    "audience",
    "story",
    "video",
    "caption",
    "brand",
    "summer",
    "team",
    "product",
    "customers",
    "growth",
    "weekly",
    "update",
    "behind",
    "scenes",
    "studio",
    "design",
    "feature",
    "release",
    "community",
    "thanks",
    "everyone",
    "today",
    "tomorrow",
    "new",
    "look",
    "creative",
    "review",
    "draft",
    "final",
    "schedule",
    "morning",
    "evening",
    "live",
    "event",
    "partner",
    "collab",
    "tips",
    "guide",
    "how",
    "why",
    "what",
    "we",
    "our",
    "your",
    "with",
    "for",
    "and",
    "the",
    "a",
    "to",
    "in",
    "on",
    "this",
    "that",
    "is",
    "are",
    "will",
    "can",
    "more",
    "less",
    "better",
    "faster",
    "simple",
    "honest",
    "data",
    "privacy",
    "first",
    "always",
];

fn sentence(rng: &mut StdRng, min: usize, max: usize) -> String {
    let n = rng.gen_range(min..=max);
    let mut words: Vec<&str> = (0..n)
        .map(|_| WORDS[rng.gen_range(0..WORDS.len())])
        .collect();
    let first = words[0];
    let capital = first[..1].to_uppercase() + &first[1..];
    words[0] = "";
    format!("{capital}{}.", words.join(" "))
}

fn paragraph(rng: &mut StdRng, sentences: usize) -> String {
    (0..sentences)
        .map(|_| sentence(rng, 6, 18))
        .collect::<Vec<_>>()
        .join(" ")
}

async fn insert_batches<E, A>(
    conn: &(impl ConnectionTrait + TransactionTrait),
    rows: Vec<A>,
) -> anyhow::Result<()>
where
    E: EntityTrait<ActiveModel = A>,
    A: sea_orm::ActiveModelTrait<Entity = E> + Send,
{
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<A> = rows.by_ref().take(BATCH).collect();
        E::insert_many(chunk).exec_without_returning(conn).await?;
    }
    Ok(())
}

/// Days of account metrics each seeded channel has.
const ACCOUNT_DAYS: i64 = 1_100;
/// Daily counts collected for each published post.
const POST_DAYS: i64 = 4;

fn point(
    workspace: Uuid,
    integration: Uuid,
    target: Option<Uuid>,
    metric: Metric,
    day: chrono::NaiveDate,
    value: i64,
) -> metric_points::ActiveModel {
    NewPoint {
        workspace_id: workspace,
        integration_id: integration,
        target_id: target,
        metric,
        day,
        value,
    }
    .row(Source::Sync, now())
}

/// Seeds `scale` × (10 workspaces of 5 members with a channel on each platform and
/// three years of their daily metrics, 100,000 drafts with one or two channel texts, 10
/// comments each, the published ones with four days of counts per post) — about a
/// million metric points at scale 1. Long because it is one script whose steps share
/// the ids it makes; each step is a batch insert read top to bottom.
pub async fn seed_demo(
    conn: &(impl ConnectionTrait + TransactionTrait),
    scale: f64,
    progress: impl Fn(&str),
) -> anyhow::Result<Seeded> {
    let mut rng = StdRng::seed_from_u64(2026);
    let workspace_count = ((10.0 * scale).round() as usize).max(1);
    let draft_count = ((100_000.0 * scale).round() as usize).max(1);
    let per_draft_comments = 10;
    let password_hash = crate::crypto::password::hash(DEMO_PASSWORD)?;
    let at = now() - Duration::days(30);

    let run = Uuid::now_v7().simple().to_string()[24..].to_string();
    let mut user_rows = Vec::new();
    let mut user_ids = Vec::new();
    for n in 0..workspace_count * 5 {
        let id = Uuid::now_v7();
        user_ids.push(id);
        user_rows.push(users::ActiveModel {
            id: Set(id),
            email: Set(format!("demo{n}.{run}@atelier.test")),
            display_name: Set(format!(
                "Demo {}",
                sentence(&mut rng, 1, 1).trim_end_matches('.')
            )),
            password_hash: Set(password_hash.clone()),
            email_verified_at: Set(Some(at)),
            locale: Set("en".into()),
            time_zone: Set("Europe/Berlin".into()),
            status: Set("ACTIVE".into()),
            mention_emails: Set(false),
            created_at: Set(at),
            updated_at: Set(at),
        });
    }
    let txn = conn.begin().await?;
    insert_batches(&txn, user_rows).await?;
    let mut workspace_ids = Vec::new();
    let mut workspace_rows = Vec::new();
    let mut membership_rows = Vec::new();
    for w in 0..workspace_count {
        let id = Uuid::now_v7();
        workspace_ids.push(id);
        workspace_rows.push(workspaces::ActiveModel {
            id: Set(id),
            name: Set(format!("Demo studio {w}")),
            slug: Set(format!("demo-studio-{w}-{run}")),
            brand_name: Set(None),
            company: Set(None),
            region: Set(None),
            default_time_zone: Set("Europe/Berlin".into()),
            billing_email: Set(None),
            billing_legal_name: Set(None),
            billing_country: Set(None),
            billing_tax_id: Set(None),
            approval_required: Set(true),
            client_approval_required: Set(false),
            created_at: Set(at),
            updated_at: Set(at),
        });
        for (m, role) in ["OWNER", "ADMIN", "EDITOR", "EDITOR", "VIEWER"]
            .iter()
            .enumerate()
        {
            membership_rows.push(memberships::ActiveModel {
                id: Set(Uuid::now_v7()),
                workspace_id: Set(id),
                user_id: Set(user_ids[w * 5 + m]),
                role: Set(role.to_string()),
                created_at: Set(at),
            });
        }
    }
    insert_batches(&txn, workspace_rows).await?;
    insert_batches(&txn, membership_rows).await?;
    let platforms = ["LINKEDIN", "INSTAGRAM", "FACEBOOK", "TIKTOK", "YOUTUBE"];
    let mut channel_of = std::collections::HashMap::new();
    let mut channel_rows = Vec::new();
    for (w, workspace) in workspace_ids.iter().enumerate() {
        for platform in platforms {
            let id = Uuid::now_v7();
            channel_of.insert((w, platform), id);
            channel_rows.push(integrations::ActiveModel {
                id: Set(id),
                workspace_id: Set(*workspace),
                provider: Set(platform.into()),
                external_account_id: Set(format!("demo-{platform}-{w}-{run}")),
                handle: Set(Some(format!("demo.{w}"))),
                display_name: Set(Some(format!("Demo studio {w}"))),
                scopes: Set(String::new()),
                connected_by: Set(Some(user_ids[w * 5])),
                health: Set("ACTIVE".into()),
                last_error: Set(None),
                connected_at: Set(at),
                disconnected_at: Set(None),
                updated_at: Set(at),
                platform_user_id: Set(None),
            });
        }
    }
    insert_batches(&txn, channel_rows).await?;
    txn.commit().await?;
    let today = now().date_naive();
    let mut metric_count = 0;
    for (w, workspace) in workspace_ids.iter().enumerate() {
        let mut rows = Vec::new();
        for platform in platforms {
            let channel = channel_of[&(w, platform)];
            for back in 0..ACCOUNT_DAYS {
                let day = today - Duration::days(back);
                for metric in Metric::ALL {
                    let value = match metric {
                        Metric::Followers => 10_000 - back,
                        _ => rng.gen_range(0..5_000),
                    };
                    rows.push(point(*workspace, channel, None, metric, day, value));
                }
            }
        }
        metric_count += rows.len();
        let txn = conn.begin().await?;
        insert_batches(&txn, rows).await?;
        txn.commit().await?;
    }
    progress(&format!("{metric_count} account metric points"));
    progress(&format!(
        "{workspace_count} workspaces, {} users",
        user_ids.len()
    ));

    let statuses = [
        "DRAFT",
        "DRAFT",
        "IN_REVIEW",
        "APPROVED",
        "SCHEDULED",
        "PUBLISHED",
    ];
    let providers = ["LINKEDIN", "INSTAGRAM", "FACEBOOK", "TIKTOK"];
    let mut first_draft = None;
    let mut written = 0;
    while written < draft_count {
        let chunk = BATCH.min(draft_count - written);
        let mut draft_rows = Vec::with_capacity(chunk);
        let mut target_rows = Vec::with_capacity(chunk * 2);
        let mut comment_rows = Vec::with_capacity(chunk * per_draft_comments);
        let mut point_rows = Vec::new();
        for i in 0..chunk {
            let n = written + i;
            let w = n % workspace_count;
            let id = Uuid::now_v7();
            first_draft.get_or_insert((workspace_ids[w], id));
            let author = user_ids[w * 5 + rng.gen_range(0..4)];
            let sentences = rng.gen_range(2..6);
            let body = paragraph(&mut rng, sentences);
            draft_rows.push(drafts::ActiveModel {
                id: Set(id),
                workspace_id: Set(workspace_ids[w]),
                author_id: Set(Some(author)),
                title: Set(sentence(&mut rng, 3, 8)),
                body: Set(body.clone()),
                tags: Set(r#"["demo","launch"]"#.into()),
                status: Set(statuses[n % statuses.len()].into()),
                version: Set(1),
                scheduled_at: Set(None),
                time_zone: Set(None),
                origin: Set("MANUAL".into()),
                created_at: Set(at),
                updated_at: Set(at),
                comment_count: sea_orm::ActiveValue::NotSet,
            });
            let published = statuses[n % statuses.len()] == "PUBLISHED";
            for provider in providers.iter().take(1 + n % 2) {
                let target = Uuid::now_v7();
                let channel = channel_of[&(w, *provider)];
                let published_at = at + Duration::minutes(rng.gen_range(0..40_000));
                target_rows.push(draft_targets::ActiveModel {
                    id: Set(target),
                    draft_id: Set(id),
                    provider: Set(provider.to_string()),
                    integration_id: Set(published.then_some(channel)),
                    title: Set(None),
                    body: Set(format!("{body} #demo")),
                    origin: Set("MANUAL".into()),
                    status: Set(if published { "PUBLISHED" } else { "PENDING" }.into()),
                    provider_post_id: Set(published.then(|| format!("demo-post-{n}"))),
                    url: Set(None),
                    published_at: Set(published.then_some(published_at)),
                    created_at: Set(at),
                    updated_at: Set(at),
                });
                if published {
                    for back in 0..POST_DAYS {
                        for metric in [
                            Metric::Impressions,
                            Metric::Reach,
                            Metric::Likes,
                            Metric::Comments,
                            Metric::Shares,
                            Metric::Saves,
                        ] {
                            point_rows.push(point(
                                workspace_ids[w],
                                channel,
                                Some(target),
                                metric,
                                today - Duration::days(back),
                                rng.gen_range(0..2_000),
                            ));
                        }
                    }
                }
            }
            for _ in 0..per_draft_comments {
                comment_rows.push(comments::ActiveModel {
                    id: Set(Uuid::now_v7()),
                    draft_id: Set(id),
                    parent_id: Set(None),
                    author_id: Set(Some(user_ids[w * 5 + rng.gen_range(0..4)])),
                    body: Set(sentence(&mut rng, 4, 20)),
                    mentions: Set("[]".into()),
                    resolved_at: Set(None),
                    resolved_by: Set(None),
                    edited_at: Set(None),
                    deleted_at: Set(None),
                    created_at: Set(at),
                    review_link_id: Set(None),
                });
            }
        }
        let txn = conn.begin().await?;
        insert_batches(&txn, draft_rows).await?;
        insert_batches(&txn, target_rows).await?;
        insert_batches(&txn, comment_rows).await?;
        metric_count += point_rows.len();
        insert_batches(&txn, point_rows).await?;
        txn.commit().await?;
        written += chunk;
        if written % 10_000 == 0 || written == draft_count {
            progress(&format!("{written} drafts"));
        }
    }
    if conn.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
        // Planner statistics for the bulk-loaded tables now, as autovacuum would give
        // them some minutes later: without them PostgreSQL plans the first queries as
        // if the tables were empty.
        conn.execute_unprepared("ANALYZE").await?;
        progress("analyzed");
    }
    let (workspace_id, draft_id) =
        first_draft.ok_or_else(|| anyhow::anyhow!("nothing was seeded"))?;
    Ok(Seeded {
        email: format!("demo0.{run}@atelier.test"),
        password: DEMO_PASSWORD.into(),
        workspace_id,
        draft_id,
        workspaces: workspace_count,
        users: user_ids.len(),
        drafts: draft_count,
        comments: draft_count * per_draft_comments,
        metric_points: metric_count,
    })
}
