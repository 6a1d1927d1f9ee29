//! The list reads a page is made of give the same answers on every path: SQLite through
//! rusqlite (the default) and through SeaORM over sqlx, and PostgreSQL — for the same
//! rows, seeded with the same ids and instants into each database. The rows cover what
//! the decoders must get right: absent authors, nullable instants and ids, deleted and
//! resolved comments, replies, text with quotes and non-ASCII letters.

use atelier::db::reads::{stand_in_value, Omitted, Reader, SqliteReadPath};
use atelier::domain::content::{DraftFilter, DraftStatus};
use atelier::domain::entities::{comments, draft_targets, drafts, memberships, users, workspaces};
use chrono::{DateTime, TimeZone, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, IdenStatic, IntoActiveModel,
    Iterable, ModelTrait,
};
use uuid::Uuid;

use crate::helpers::*;
use crate::on_both_databases;

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

/// Ways to leave columns of `E` out (never the keys a read groups and orders by): every
/// one that can be, every other one, and the other half.
fn omissions<E: EntityTrait>() -> [Omitted; 3] {
    let place = |column: &E::Column| E::Column::iter().position(|c| c.as_str() == column.as_str());
    let key = |column: &E::Column| ["id", "draft_id"].contains(&column.as_str());
    [
        Omitted::all_but::<E>(key),
        Omitted::all_but::<E>(|c| key(c) || place(c).is_some_and(|p| p % 2 == 0)),
        Omitted::all_but::<E>(|c| key(c) || place(c).is_some_and(|p| p % 2 == 1)),
    ]
}

/// The rows as a read leaving out `omitted` returns them: each left-out column holds its
/// stand-in.
fn stood_in<M: ModelTrait + Clone>(rows: &[M], omitted: Omitted) -> Vec<M> {
    rows.iter()
        .cloned()
        .map(|mut row| {
            for (place, column) in <M::Entity as EntityTrait>::Column::iter().enumerate() {
                if omitted.leaves_out(place) {
                    let value = stand_in_value(&column.def()).expect("a stand-in");
                    row.set(column, value);
                }
            }
            row
        })
        .collect()
}

/// Everything the list reads answer for the seeded rows, as text to compare.
async fn answers(reader: &Reader, seeded: &Seeded) -> Vec<String> {
    use atelier::domain::{content, content::comments as comment_reads, identity::accounts};
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
            let page = content::list(reader, seeded.workspace, filter, before, 21, Omitted::NONE)
                .await
                .unwrap();
            // Without some columns: the same rows, each left-out column holding its
            // stand-in and nothing else changed.
            for omitted in omissions::<drafts::Entity>() {
                let bare = content::list(reader, seeded.workspace, filter, before, 21, omitted)
                    .await
                    .unwrap();
                assert_eq!(bare, stood_in(&page, omitted), "{filter:?}");
            }
            out.push(format!("{filter:?} {before:?} → {page:?}"));
        }
    }
    let targets = content::targets::for_drafts(reader, &seeded.drafts)
        .await
        .unwrap();
    for omitted in omissions::<draft_targets::Entity>() {
        let parts = content::targets::parts_for_drafts(reader, &seeded.drafts, omitted)
            .await
            .unwrap();
        assert_eq!(parts, stood_in(&targets, omitted));
    }
    out.push(format!("targets {targets:?}"));
    let summaries = comment_reads::summaries(
        reader,
        &seeded.drafts,
        comment_reads::MAX_LAST,
        Omitted::NONE,
    )
    .await
    .unwrap();
    for omitted in omissions::<comments::Entity>() {
        let parts =
            comment_reads::summaries(reader, &seeded.drafts, comment_reads::MAX_LAST, omitted)
                .await
                .unwrap();
        for draft in &seeded.drafts {
            let (whole, part) = (&summaries[draft], &parts[draft]);
            assert_eq!(part.latest, stood_in(&whole.latest, omitted), "{draft}");
            assert_eq!(part.omitted, omitted);
        }
    }
    for draft in &seeded.drafts {
        out.push(format!("comments of {draft}: {:?}", summaries.get(draft)));
    }
    for person in &seeded.people {
        let access =
            atelier::domain::workspace::workspaces::access_read(reader, *person, seeded.workspace)
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

/// The fields of a GraphQL type, each with the selection it is asked with alone: an
/// object (or a list of them) by its `id`, or its type name where it has none.
async fn fields_of(app: &TestApp, token: &str, type_name: &str) -> Vec<(String, String)> {
    const TYPE: &str = "query($t: String!){ __type(name: $t){ fields { name args { name } type { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } }";
    let data = app
        .gql_ok(Some(token), TYPE, serde_json::json!({ "t": type_name }))
        .await;
    let mut out = Vec::new();
    for field in data["__type"]["fields"].as_array().unwrap() {
        let name = field["name"].as_str().unwrap().to_string();
        // The named type under lists and non-nulls.
        let mut ty = &field["type"];
        while ty["name"].is_null() {
            ty = &ty["ofType"];
        }
        let selection = if ty["kind"] == "OBJECT" {
            let inner = app
                .gql_ok(Some(token), TYPE, serde_json::json!({ "t": ty["name"] }))
                .await;
            let names: Vec<&str> = inner["__type"]["fields"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["name"].as_str().unwrap())
                .collect();
            if names.contains(&"id") {
                "{ id }".to_string()
            } else if names.contains(&"edges") {
                "{ edges { node { id } } }".to_string()
            } else {
                "{ __typename }".to_string()
            }
        } else {
            String::new()
        };
        // Every argument these types take has a default.
        let args = if name == "lastComments" {
            "(count: 10)"
        } else {
            ""
        };
        out.push((name.clone(), format!("{name}{args} {selection}")));
    }
    out
}

/// A page of drafts answers each field asked alone as it does among all the fields (when
/// every column is read), under `edges { node }` and under `nodes`, and so do each
/// draft's targets and latest comments: the tables of the columns each field reads
/// (`graphql::columns`) leave out nothing a field shows. And two aliases of
/// `lastComments` showing different fields each get theirs.
async fn each_field_alone_reads_what_it_shows(backend: Backend) {
    {
        let app = TestApp::spawn(backend).await;
        let seeded = seed(&app.db).await;
        let session = app.signed_in_user("reader@example.com", "Reader").await;
        insert(
            &app.db,
            memberships::Model {
                id: id(0x301),
                workspace_id: seeded.workspace,
                user_id: session.user_id.parse().unwrap(),
                role: "EDITOR".into(),
                created_at: at(2),
            }
            .into_active_model(),
        )
        .await;
        let token = session.access.as_str();
        let vars = serde_json::json!({ "w": seeded.workspace.to_string() });
        let page = |selection: &str| {
            format!(
                "query($w: ID!){{ workspace(id: $w){{ drafts(first: 10){{ edges {{ node {{ {selection} }} }} nodes {{ {selection} }} }} }} }}"
            )
        };
        let nodes = |data: &serde_json::Value| data["workspace"]["drafts"]["nodes"].clone();
        for (type_name, wrap) in [
            ("Draft", None),
            ("DraftTarget", Some("targets")),
            ("Comment", Some("lastComments(count: 10)")),
        ] {
            let fields = fields_of(&app, token, type_name).await;
            assert!(fields.len() > 10, "{type_name}: {fields:?}");
            let inside = |selection: &str| match wrap {
                None => selection.to_string(),
                Some(relation) => format!("id {relation} {{ {selection} }}"),
            };
            let all: Vec<&str> = fields.iter().map(|(_, s)| s.as_str()).collect();
            let whole = app
                .gql_ok(Some(token), &page(&inside(&all.join(" "))), vars.clone())
                .await;
            let whole = nodes(&whole);
            let key = wrap.map(|r| r.split('(').next().unwrap_or(r));
            // The seeded rows fill every field somewhere, so a stand-in shows.
            for (name, selection) in &fields {
                let alone = app
                    .gql_ok(Some(token), &page(&inside(selection)), vars.clone())
                    .await;
                let edges: Vec<serde_json::Value> = alone["workspace"]["drafts"]["edges"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| e["node"].clone())
                    .collect();
                let alone = nodes(&alone);
                assert_eq!(serde_json::Value::Array(edges), alone, "{type_name}.{name}");
                let pick = |drafts: &serde_json::Value| -> Vec<serde_json::Value> {
                    drafts
                        .as_array()
                        .unwrap()
                        .iter()
                        .flat_map(|draft| match key {
                            None => vec![draft[name.as_str()].clone()],
                            Some(relation) => draft[relation]
                                .as_array()
                                .unwrap()
                                .iter()
                                .map(|row| row[name.as_str()].clone())
                                .collect(),
                        })
                        .collect()
                };
                let (expected, got) = (pick(&whole), pick(&alone));
                assert!(!expected.is_empty(), "{type_name}.{name}");
                assert_eq!(got, expected, "{type_name}.{name} asked alone");
            }
        }
        // Two aliases, each showing a field the other does not.
        let both = app
            .gql_ok(
                Some(token),
                "query($w: ID!){ workspace(id: $w){ drafts(first: 10){ nodes { a: lastComments(count: 3){ body } b: lastComments(count: 3){ createdAt editedAt } all: lastComments(count: 3){ body createdAt editedAt } } } } }",
                vars.clone(),
            )
            .await;
        for draft in nodes(&both).as_array().unwrap() {
            let all = draft["all"].as_array().unwrap();
            for (n, comment) in all.iter().enumerate() {
                assert_eq!(draft["a"][n]["body"], comment["body"]);
                assert_eq!(draft["b"][n]["createdAt"], comment["createdAt"]);
                assert_eq!(draft["b"][n]["editedAt"], comment["editedAt"]);
            }
        }
        app.stop().await;
    }
}

on_both_databases!(each_field_alone_reads_what_it_shows);
