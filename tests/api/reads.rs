//! The list reads a page is made of give the same answers on every path: SQLite through
//! rusqlite (the default) and through SeaORM over sqlx, and PostgreSQL — for the same
//! rows, seeded with the same ids and instants into each database. The rows cover what
//! the decoders must get right: absent authors, nullable instants and ids, deleted and
//! resolved comments, replies, text with quotes and non-ASCII letters.

use atelier::db::reads::{Reader, SqliteReadPath};
use atelier::domain::content::{DraftFilter, DraftStatus};
use atelier::domain::entities::{comments, draft_targets, drafts, memberships, users, workspaces};
use chrono::{DateTime, TimeZone, Utc};
use sea_orm::{ActiveModelTrait, DatabaseConnection, IntoActiveModel};
use uuid::Uuid;

use crate::helpers::*;

fn id(n: u128) -> Uuid {
    // Version-7-shaped ids in a fixed order: the newest draft has the largest.
    Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 | n)
}

fn at(minutes: i64) -> DateTime<Utc> {
    // Whole microseconds: what PostgreSQL keeps.
    Utc.with_ymd_and_hms(2026, 11, 2, 9, 30, 0).unwrap()
        + chrono::Duration::minutes(minutes)
        + chrono::Duration::microseconds(123_456)
}

struct Seeded {
    workspace: Uuid,
    drafts: Vec<Uuid>,
    people: Vec<Uuid>,
}

async fn insert<A: ActiveModelTrait + sea_orm::ActiveModelBehavior + Send>(
    db: &DatabaseConnection,
    model: A,
) where
    <A::Entity as sea_orm::EntityTrait>::Model: IntoActiveModel<A>,
{
    // Every column written, as given.
    model.reset_all().insert(db).await.unwrap();
}

async fn seed(db: &DatabaseConnection) -> Seeded {
    let people: Vec<Uuid> = (1..=3).map(|n| id(0x100 + n)).collect();
    for (n, person) in people.iter().enumerate() {
        insert(
            db,
            users::Model {
                id: *person,
                email: format!("person{n}@example.com"),
                display_name: ["Zoë Ångström", "O'Brien \"Ob\"", "Lee"][n].into(),
                password_hash: "$argon2id$v=19$not-read".into(),
                email_verified_at: (n != 1).then(|| at(n as i64)),
                locale: "en".into(),
                time_zone: "Europe/Berlin".into(),
                status: "ACTIVE".into(),
                mention_emails: n == 0,
                created_at: at(n as i64),
                updated_at: at(n as i64),
            }
            .into_active_model(),
        )
        .await;
    }
    let workspace = id(0x200);
    insert(
        db,
        workspaces::Model {
            id: workspace,
            name: "Reads Co".into(),
            slug: "reads-co".into(),
            brand_name: None,
            company: None,
            region: None,
            default_time_zone: "UTC".into(),
            billing_email: None,
            billing_legal_name: None,
            billing_country: None,
            billing_tax_id: Some("DE «123»".into()),
            created_at: at(0),
            updated_at: at(0),
            approval_required: false,
            client_approval_required: true,
        }
        .into_active_model(),
    )
    .await;
    insert(
        db,
        memberships::Model {
            id: id(0x300),
            workspace_id: workspace,
            user_id: people[0],
            role: "ADMIN".into(),
            created_at: at(1),
        }
        .into_active_model(),
    )
    .await;
    let statuses = ["DRAFT", "IN_REVIEW", "SCHEDULED", "PUBLISHED"];
    let providers = ["LINKEDIN", "INSTAGRAM", "YOUTUBE"];
    let mut draft_ids = Vec::new();
    for n in 0..25u128 {
        let draft = id(0x1000 + n);
        draft_ids.push(draft);
        let i = n as usize;
        insert(
            db,
            drafts::Model {
                id: draft,
                workspace_id: workspace,
                author_id: (i % 5 != 4).then(|| people[i % 3]),
                title: format!("Launch «{n}» — \"quoted\""),
                body: format!("Body {n} with ünïcode and a launch word"),
                tags: if i % 2 == 0 {
                    r#"["launch","q4"]"#
                } else {
                    "[]"
                }
                .into(),
                status: statuses[i % 4].into(),
                version: (i % 3) as i32 + 1,
                scheduled_at: (i % 4 == 2).then(|| at(600 + i as i64)),
                time_zone: (i % 4 == 2).then(|| "America/New_York".to_string()),
                origin: "MANUAL".into(),
                created_at: at(10 + i as i64),
                updated_at: at(20 + i as i64),
                // Kept by the database: the comments below are counted as they are written.
                comment_count: 0,
            }
            .into_active_model(),
        )
        .await;
        for (t, provider) in providers.iter().enumerate().take(i % 4) {
            insert(
                db,
                draft_targets::Model {
                    id: id(0x10_0000 + n * 10 + t as u128),
                    draft_id: draft,
                    provider: provider.to_string(),
                    integration_id: None,
                    title: (*provider == "YOUTUBE").then(|| format!("Video {n}")),
                    body: format!("Target {t} of {n}"),
                    origin: "MANUAL".into(),
                    status: if i % 4 == 3 { "PUBLISHED" } else { "PENDING" }.into(),
                    provider_post_id: (i % 4 == 3).then(|| format!("post-{n}-{t}")),
                    url: (i % 4 == 3).then(|| format!("https://example.com/{n}/{t}")),
                    published_at: (i % 4 == 3).then(|| at(900 + i as i64)),
                    created_at: at(30 + i as i64),
                    updated_at: at(40 + i as i64),
                }
                .into_active_model(),
            )
            .await;
        }
        for c in 0..(i % 13) {
            let comment = id(0x20_0000 + n * 100 + c as u128);
            insert(
                db,
                comments::Model {
                    id: comment,
                    draft_id: draft,
                    parent_id: (c % 3 == 2).then(|| id(0x20_0000 + n * 100)),
                    author_id: (c % 6 != 5).then(|| people[c % 3]),
                    body: format!("Comment {c} on {n}: l'été «ok»"),
                    mentions: if c % 4 == 0 {
                        format!("[\"{}\"]", people[0])
                    } else {
                        "[]".into()
                    },
                    resolved_at: (c % 5 == 1).then(|| at(100 + c as i64)),
                    resolved_by: (c % 5 == 1).then(|| people[1]),
                    edited_at: (c % 7 == 3).then(|| at(200 + c as i64)),
                    deleted_at: (c % 8 == 7).then(|| at(300 + c as i64)),
                    created_at: at(50 + c as i64),
                    review_link_id: None,
                }
                .into_active_model(),
            )
            .await;
        }
    }
    Seeded {
        workspace,
        drafts: draft_ids,
        people,
    }
}

/// Everything the list reads answer for the seeded rows, as text to compare.
async fn answers(reader: &Reader, seeded: &Seeded) -> Vec<String> {
    use atelier::domain::{accounts, comments as comment_reads, content};
    let mut out = Vec::new();
    let filters = [
        DraftFilter::default(),
        DraftFilter {
            status: Some(DraftStatus::Scheduled),
            ..Default::default()
        },
        DraftFilter {
            search: Some("LAUNCH «1".into()),
            ..Default::default()
        },
        DraftFilter {
            tag: Some("Q4".into()),
            author: Some(seeded.people[0]),
            ..Default::default()
        },
    ];
    for filter in &filters {
        for before in [None, Some(seeded.drafts[12])] {
            let page = content::list(reader, seeded.workspace, filter, before, 21, true)
                .await
                .unwrap();
            // Without bodies: the same rows, each with an empty body and nothing else
            // changed.
            let bare = content::list(reader, seeded.workspace, filter, before, 21, false)
                .await
                .unwrap();
            let emptied: Vec<_> = page
                .iter()
                .cloned()
                .map(|mut d| {
                    d.body = String::new();
                    d
                })
                .collect();
            assert_eq!(bare, emptied, "{filter:?}");
            out.push(format!("{filter:?} {before:?} → {page:?}"));
        }
    }
    let targets = content::targets::for_drafts(reader, &seeded.drafts)
        .await
        .unwrap();
    let heads = content::targets::heads_for_drafts(reader, &seeded.drafts)
        .await
        .unwrap();
    let stripped: Vec<_> = targets
        .iter()
        .cloned()
        .map(|mut t| {
            t.title = None;
            t.body = String::new();
            t
        })
        .collect();
    assert_eq!(heads, stripped, "heads are the targets without their texts");
    out.push(format!("targets {targets:?}"));
    let summaries = comment_reads::summaries(reader, &seeded.drafts, comment_reads::MAX_LAST)
        .await
        .unwrap();
    for draft in &seeded.drafts {
        out.push(format!("comments of {draft}: {:?}", summaries.get(draft)));
    }
    for person in &seeded.people {
        let access = atelier::domain::workspaces::access_read(reader, *person, seeded.workspace)
            .await
            .unwrap()
            .map(|a| (a.membership, a.workspace, a.role));
        out.push(format!("access of {person}: {access:?}"));
    }
    assert!(
        out.last().is_some_and(|a| a.ends_with("None")),
        "not a member"
    );
    let mut people = accounts::find_many(reader, &seeded.people).await.unwrap();
    people.sort_by_key(|p| p.id);
    out.push(format!("people {people:?}"));
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_read_path_gives_the_same_answers() {
    let sqlite = TestApp::spawn(Backend::Sqlite).await;
    let seeded = seed(&sqlite.db).await;
    let url = sqlite.config().database_url();
    let rusqlite = Reader::open(&url, sqlite.db.clone(), SqliteReadPath::Rusqlite, 2).unwrap();
    assert_eq!(rusqlite.path(), "rusqlite");
    let sqlx = Reader::open(&url, sqlite.db.clone(), SqliteReadPath::Sqlx, 2).unwrap();
    assert_eq!(sqlx.path(), "sqlx");

    let by_rusqlite = answers(&rusqlite, &seeded).await;
    let by_sqlx = answers(&sqlx, &seeded).await;
    // The answers are not empty: every filter and read found rows.
    assert!(
        by_rusqlite.iter().all(|a| !a.ends_with("→ []")),
        "{by_rusqlite:#?}"
    );
    assert!(by_rusqlite.iter().any(|a| a.contains("count: 11")));
    for (a, b) in by_rusqlite.iter().zip(&by_sqlx) {
        assert_eq!(a, b, "rusqlite and sqlx disagree");
    }
    assert_eq!(by_rusqlite.len(), by_sqlx.len());

    if let Some(backend) = Backend::postgres() {
        let postgres = TestApp::spawn(backend).await;
        let seeded_pg = seed(&postgres.db).await;
        let reader = Reader::orm(postgres.db.clone());
        assert_eq!(reader.path(), "postgres");
        let by_postgres = answers(&reader, &seeded_pg).await;
        for (a, b) in by_rusqlite.iter().zip(&by_postgres) {
            assert_eq!(a, b, "SQLite and PostgreSQL disagree");
        }
        assert_eq!(by_rusqlite.len(), by_postgres.len());
        postgres.stop().await;
    }
    sqlite.stop().await;
}
