//! Nothing acknowledged is ever lost: a full disk under concurrent writers, a writer
//! connection left inside a transaction, a database connection cut mid-mutation.

use std::collections::BTreeSet;

use sea_orm::ConnectionTrait;
use serde_json::json;

use crate::helpers::*;

const CREATE: &str = "mutation($i: CreateDraftInput!) { createDraft(input: $i) { id } }";
const DRAFT: &str = "query($id: ID!) { draft(id: $id) { id } }";

/// What came of a burst of writes: the ids the server acknowledged, and the errors it
/// answered instead (by code).
#[derive(Default)]
struct Burst {
    acknowledged: Vec<String>,
    refused: Vec<String>,
}

/// `writers` clients at once, each creating `each` drafts with 48 KB bodies.
async fn write_burst(
    app: &TestApp,
    session: &Session,
    workspace: &str,
    writers: usize,
    each: usize,
) -> Burst {
    let body = "lorem ipsum ".repeat(4_000);
    let runs = (0..writers).map(|w| {
        let body = body.clone();
        async move {
            let mut burst = Burst::default();
            for n in 0..each {
                let answer = app
                    .gql(
                        Some(&session.access),
                        CREATE,
                        json!({ "i": { "workspaceId": workspace, "title": format!("w{w} n{n}"), "body": body } }),
                    )
                    .await;
                match answer["data"]["createDraft"]["id"].as_str() {
                    Some(id) => burst.acknowledged.push(id.to_string()),
                    None => burst
                        .refused
                        .push(error_code(&answer).unwrap_or_else(|| answer.to_string())),
                }
            }
            burst
        }
    });
    let mut all = Burst::default();
    for burst in futures::future::join_all(runs).await {
        all.acknowledged.extend(burst.acknowledged);
        all.refused.extend(burst.refused);
    }
    all
}

/// The acknowledged drafts the server cannot find.
async fn missing(app: &TestApp, session: &Session, ids: &[String]) -> Vec<String> {
    let mut missing = Vec::new();
    for id in ids {
        let answer = app
            .gql(Some(&session.access), DRAFT, json!({ "id": id }))
            .await;
        if answer["data"]["draft"]["id"].as_str() != Some(id.as_str()) {
            missing.push(id.clone());
        }
    }
    missing
}

/// The database file fills under four concurrent writers (SQLite's `max_page_count` on
/// the writer connection, the portable stand-in for a full file system: SQLITE_FULL in
/// the middle of a transaction). Every write is either refused with a clear, retryable
/// error or present — now and after a restart — and the writes after the fault are
/// durable too: the writer is not left inside a transaction that never commits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_at_its_size_limit_loses_no_acknowledged_write() {
    let app =
        TestApp::spawn_with(Backend::Sqlite, |config| config.jobs.run_in_process = false).await;
    let (owner, workspace) = owner_and_workspace(&app).await;
    let pages = count_of(&app.db, "SELECT page_count AS n FROM pragma_page_count()").await;
    // Room for a few drafts of 48 KB (4 KB pages, the body kept twice: the draft and
    // its first revision), then the database is full.
    app.db
        .execute_unprepared(&format!("PRAGMA max_page_count = {}", pages + 200))
        .await
        .unwrap();
    let burst = write_burst(&app, &owner, &workspace, 4, 12).await;
    assert!(
        !burst.refused.is_empty(),
        "the database filled: some writes were refused"
    );
    // Space is back.
    app.db
        .execute_unprepared("PRAGMA max_page_count = 1073741823")
        .await
        .unwrap();
    writes_survive(app, burst, "full@example.com")
        .await
        .stop()
        .await;
}

/// The real thing: the database on a small file system that fills under four concurrent
/// writers, then gets its space back. Needs a tmpfs mount (root, as in CI); elsewhere it
/// says it was skipped (`ATELIER_REQUIRE_MOUNT=1` makes that a failure).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_system_that_fills_loses_no_acknowledged_write() {
    let Some(disk) = SmallDisk::mount(6) else {
        return;
    };
    let file = disk.path.join("atelier.sqlite");
    let app = TestApp::spawn_with(Backend::Sqlite, |config| {
        config.jobs.run_in_process = false;
        config.database_url = Some(secrecy::SecretString::from(format!(
            "sqlite://{}?mode=rwc",
            file.display()
        )));
    })
    .await;
    let (owner, workspace) = owner_and_workspace(&app).await;
    // Leave about 600 KB: a dozen drafts of 48 KB, kept twice, and their WAL frames.
    disk.fill_leaving(600 * 1024);
    let burst = write_burst(&app, &owner, &workspace, 4, 12).await;
    assert!(
        !burst.refused.is_empty(),
        "the file system filled: some writes were refused"
    );
    // Space is back: the writes after it are durable.
    disk.free();
    writes_survive(app, burst, "full@example.com")
        .await
        .stop()
        .await;
    drop(disk);
}

async fn owner_and_workspace(app: &TestApp) -> (Session, String) {
    let owner = app.signed_in_user("full@example.com", "Fay Full").await;
    let workspace = app.create_workspace(&owner, "Full disk").await;
    (owner, workspace)
}

/// Checks a burst that ran into a full disk: the database did fill, every refusal was a
/// retryable UNAVAILABLE, every acknowledged draft is readable now, writes after the
/// fault succeed, the writer holds no transaction (`/readyz`, and another connection
/// takes the write lock), and after a restart every acknowledged draft is still there.
async fn writes_survive(app: TestApp, mut burst: Burst, email: &str) -> TestApp {
    let (owner, workspace) = (app.log_in(email).await, workspace_of(&app).await);
    // The figures docs/operations.md reports (shown with --nocapture).
    eprintln!(
        "while full: {} writes acknowledged, {} refused",
        burst.acknowledged.len(),
        burst.refused.len()
    );
    for code in &burst.refused {
        assert_eq!(code, "UNAVAILABLE", "a full disk is a retryable outage");
    }
    assert_eq!(
        missing(&app, &owner, &burst.acknowledged).await,
        Vec::<String>::new(),
        "every acknowledged draft is readable"
    );

    let after = write_burst(&app, &owner, &workspace, 2, 3).await;
    assert_eq!(
        after.refused,
        Vec::<String>::new(),
        "writes after the fault"
    );
    burst.acknowledged.extend(after.acknowledged);
    assert_eq!(
        app.readiness().await,
        (200, "ready".to_string()),
        "the writer is outside any transaction"
    );

    // Another connection can take the write lock: nothing holds it.
    let url = secrecy::ExposeSecret::expose_secret(
        app.config().database_url.as_ref().expect("a database URL"),
    )
    .to_string();
    let other = sea_orm::Database::connect(url).await.unwrap();
    other
        .execute_unprepared("BEGIN IMMEDIATE; ROLLBACK;")
        .await
        .expect("the write lock is free");
    other.close().await.unwrap();

    let app = app.restart(|_| {}).await;
    let owner = app.log_in(email).await;
    assert_eq!(
        missing(&app, &owner, &burst.acknowledged).await,
        Vec::<String>::new(),
        "every acknowledged draft survived the restart"
    );
    let stored: BTreeSet<uuid::Uuid> = app
        .db
        .query_all_raw(sea_orm::Statement::from_string(
            app.db.get_database_backend(),
            "SELECT id FROM drafts".to_string(),
        ))
        .await
        .unwrap()
        .iter()
        .map(|row| row.try_get("", "id").unwrap())
        .collect();
    for id in &burst.acknowledged {
        assert!(
            stored.contains(&id.parse().unwrap()),
            "draft {id} is stored"
        );
    }
    app
}

async fn workspace_of(app: &TestApp) -> String {
    let rows = app
        .db
        .query_all_raw(sea_orm::Statement::from_string(
            app.db.get_database_backend(),
            "SELECT id FROM workspaces".to_string(),
        ))
        .await
        .unwrap();
    let id: uuid::Uuid = rows[0].try_get("", "id").unwrap();
    id.to_string()
}

/// A tmpfs of a few megabytes, mounted for one test and unmounted after it.
struct SmallDisk {
    path: std::path::PathBuf,
    filler: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl SmallDisk {
    /// Mounts a tmpfs of `megabytes`, or says why not (and fails when the environment
    /// requires it: `ATELIER_REQUIRE_MOUNT=1`).
    fn mount(megabytes: u32) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "tmpfs"])
            .arg(dir.path())
            .output();
        match mounted {
            Ok(out) if out.status.success() => Some(Self {
                path: dir.path().to_path_buf(),
                filler: dir.path().join("filler"),
                _dir: dir,
            }),
            other => {
                let why = match other {
                    Ok(out) => String::from_utf8_lossy(&out.stderr).trim().to_string(),
                    Err(e) => e.to_string(),
                };
                assert!(
                    std::env::var("ATELIER_REQUIRE_MOUNT").is_err(),
                    "a tmpfs could not be mounted: {why}"
                );
                eprintln!("a tmpfs could not be mounted ({why}): full-file-system test skipped");
                None
            }
        }
    }

    /// Writes a file that leaves `free` bytes on the file system.
    fn fill_leaving(&self, free: u64) {
        let out = std::process::Command::new("df")
            .args(["--output=avail", "-B1"])
            .arg(&self.path)
            .output()
            .unwrap();
        let available: u64 = String::from_utf8_lossy(&out.stdout)
            .lines()
            .nth(1)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let size = available.saturating_sub(free) as usize;
        std::fs::write(&self.filler, vec![0u8; size]).unwrap();
    }

    fn free(&self) {
        std::fs::remove_file(&self.filler).unwrap();
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.path)
            .status();
    }
}

/// While the SQLite writer is held by a transaction that does not end, or sits inside
/// one nobody holds, `/readyz` says so (a load balancer stops sending writes); once it
/// ends, or the connection is replaced, the server is ready again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_fails_while_the_writer_is_held() {
    use sea_orm::TransactionTrait;
    let app =
        TestApp::spawn_with(Backend::Sqlite, |config| config.jobs.run_in_process = false).await;
    assert_eq!(app.readiness().await, (200, "ready".to_string()));
    let held = app.db.begin().await.unwrap();
    held.execute_unprepared("UPDATE jobs SET attempts = attempts")
        .await
        .unwrap();
    let (status, reason) = app.readiness().await;
    assert_eq!(status, 503);
    assert!(reason.contains("writer"), "{reason}");
    held.rollback().await.unwrap();
    assert_eq!(app.readiness().await, (200, "ready".to_string()));

    // A transaction sqlx does not know of (a raw BEGIN, left open): SQLite's own state
    // says so, readiness fails once and closes that connection, and the writer is fresh.
    app.db.execute_unprepared("BEGIN").await.unwrap();
    let (status, reason) = app.readiness().await;
    assert_eq!(status, 503);
    assert!(reason.contains("inside a transaction"), "{reason}");
    assert_eq!(app.readiness().await, (200, "ready".to_string()));
    app.stop().await;
}

/// On PostgreSQL (when configured): an app, its owner, and a draft titled `title` at
/// version 1.
async fn postgres_app_with_draft(title: &str) -> Option<(TestApp, Session, String)> {
    let backend = Backend::postgres()?;
    let app = TestApp::spawn_with(backend, |config| config.jobs.run_in_process = false).await;
    let (owner, workspace) = owner_and_workspace(&app).await;
    let created = app
        .gql_ok(
            Some(&owner.access),
            CREATE,
            json!({ "i": { "workspaceId": workspace, "title": title, "body": "Text" } }),
        )
        .await;
    let id = created["createDraft"]["id"].as_str().unwrap().to_string();
    Some((app, owner, id))
}

/// A draft's title and version as the API shows them.
async fn title_and_version(app: &TestApp, owner: &Session, id: &str) -> serde_json::Value {
    app.gql_ok(
        Some(&owner.access),
        "query($id: ID!) { draft(id: $id) { title version } }",
        json!({ "id": id }),
    )
    .await["draft"]
        .clone()
}

/// PostgreSQL cuts the server's connection while a mutation waits inside its
/// transaction (a restart, a failover, an administrator's kill): the client is told
/// UNAVAILABLE with a retry hint, nothing of the mutation is written, and the same
/// request sent again succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_cut_mid_mutation_is_unavailable_and_writes_nothing() {
    use sea_orm::TransactionTrait;
    let Some((app, owner, id)) = postgres_app_with_draft("Before").await else {
        return;
    };
    let revisions = || async {
        count_of(
            &app.db,
            &format!("SELECT COUNT(*) AS n FROM draft_revisions WHERE draft_id = '{id}'"),
        )
        .await
    };
    let revisions_before = revisions().await;

    // Another session holds the draft's row: the mutation will wait for it, inside its
    // own transaction, on one of the server's connections.
    let url = secrecy::ExposeSecret::expose_secret(app.config().database_url.as_ref().unwrap())
        .to_string();
    let other = sea_orm::Database::connect(url).await.unwrap();
    let holder = other.begin().await.unwrap();
    holder
        .execute_unprepared(&format!(
            "SELECT 1 FROM drafts WHERE id = '{id}' FOR UPDATE"
        ))
        .await
        .unwrap();
    const UPDATE: &str = "mutation($id: ID!) { updateDraft(input: { id: $id, expectedVersion: 1, title: \"After\" }) { title version } }";
    let pending = {
        let (address, token, id) = (app.address.clone(), owner.access.clone(), id.clone());
        tokio::spawn(async move {
            reqwest::Client::new()
                .post(format!("{address}/graphql"))
                .bearer_auth(token)
                .json(&json!({ "query": UPDATE, "variables": { "id": id } }))
                .send()
                .await
                .unwrap()
                .json::<serde_json::Value>()
                .await
                .unwrap()
        })
    };
    const WAITING: &str = "FROM pg_stat_activity WHERE datname = current_database() \
                           AND wait_event_type = 'Lock'";
    eventually(30, "the mutation to wait for the row", || async {
        match count_of(&app.db, &format!("SELECT COUNT(*) AS n {WAITING}")).await {
            0 => Err("not waiting yet".to_string()),
            _ => Ok(()),
        }
    })
    .await;
    other
        .execute_unprepared(&format!("SELECT pg_terminate_backend(pid) {WAITING}"))
        .await
        .unwrap();

    let answer = pending.await.unwrap();
    assert_eq!(
        error_code(&answer).as_deref(),
        Some("UNAVAILABLE"),
        "{answer}"
    );
    assert!(
        answer["errors"][0]["extensions"]["retryAfterSeconds"].as_u64() > Some(0),
        "{answer}"
    );
    holder.rollback().await.unwrap();
    other.close().await.unwrap();

    let draft = title_and_version(&app, &owner, &id).await;
    assert_eq!(draft, json!({ "title": "Before", "version": 1 }));
    assert_eq!(
        revisions().await,
        revisions_before,
        "no revision half-written"
    );

    // Sent again, as the hint says, it goes through.
    let again = app
        .gql_ok(Some(&owner.access), UPDATE, json!({ "id": id }))
        .await;
    assert_eq!(again["updateDraft"]["title"], "After");
    assert_eq!(again["updateDraft"]["version"], 2);
    app.stop().await;
}

/// PostgreSQL gives a mutation's transaction up for a concurrent one's sake
/// (serialization failure, SQLSTATE 40001 — raised here by a trigger, counting its calls
/// in a sequence, which no rollback undoes): the server runs the request once more
/// before answering. Once is enough to succeed; a conflict that persists is answered
/// UNAVAILABLE after exactly two tries, with nothing written. The same when the conflict
/// is found at COMMIT.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_serialization_failure_is_run_once_more_then_unavailable() {
    let Some((app, owner, id)) = postgres_app_with_draft("One").await else {
        return;
    };
    let conflicts = |failing: &str| {
        format!(
            "CREATE OR REPLACE FUNCTION conflict() RETURNS trigger AS $$ BEGIN \
               IF {failing} THEN \
                 RAISE EXCEPTION 'could not serialize access' USING ERRCODE = '40001'; \
               END IF; RETURN NEW; END $$ LANGUAGE plpgsql"
        )
    };
    app.db
        .execute_unprepared("CREATE SEQUENCE tries")
        .await
        .unwrap();
    app.db
        .execute_unprepared(&conflicts("nextval('tries') = 1"))
        .await
        .unwrap();
    app.db
        .execute_unprepared(
            "CREATE TRIGGER conflict BEFORE UPDATE ON drafts FOR EACH ROW EXECUTE FUNCTION conflict()",
        )
        .await
        .unwrap();
    let tries = || async { count_of(&app.db, "SELECT last_value AS n FROM tries").await };
    const UPDATE: &str = "mutation($id: ID!, $v: Int!, $t: String!) { updateDraft(input: { id: $id, expectedVersion: $v, title: $t }) { title version } }";

    let answer = app
        .gql(
            Some(&owner.access),
            UPDATE,
            json!({ "id": id, "v": 1, "t": "Two" }),
        )
        .await;
    assert_eq!(answer["data"]["updateDraft"]["version"], 2, "{answer}");
    assert_eq!(tries().await, 2, "failed once, then ran again");

    app.db
        .execute_unprepared(&conflicts("nextval('tries') > 0"))
        .await
        .unwrap();
    // Asked for application/graphql-response+json, the outage is a 503 with Retry-After.
    let response = app
        .http
        .post(format!("{}/graphql", app.address))
        .bearer_auth(&owner.access)
        .header("accept", "application/graphql-response+json")
        .json(&json!({ "query": UPDATE, "variables": { "id": id, "v": 2, "t": "Three" } }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "2");
    let answer: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        error_code(&answer).as_deref(),
        Some("UNAVAILABLE"),
        "{answer}"
    );
    assert_eq!(answer["errors"][0]["extensions"]["retryAfterSeconds"], 2);
    assert_eq!(tries().await, 4, "two tries, no more");
    let draft = title_and_version(&app, &owner, &id).await;
    assert_eq!(draft, json!({ "title": "Two", "version": 2 }));

    // The conflict found at COMMIT (a deferred check): the failed commit leaves the
    // pooled connection outside any transaction, the request runs again and commits,
    // and the writes after it, on the same pool, all go through.
    app.db
        .execute_unprepared(&format!(
            "DROP TRIGGER conflict ON drafts; {}; \
             CREATE CONSTRAINT TRIGGER conflict_at_commit AFTER UPDATE ON drafts \
             DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION conflict()",
            conflicts("nextval('tries') = 5")
        ))
        .await
        .unwrap();
    let answer = app
        .gql(
            Some(&owner.access),
            UPDATE,
            json!({ "id": id, "v": 2, "t": "Three" }),
        )
        .await;
    assert_eq!(answer["data"]["updateDraft"]["version"], 3, "{answer}");
    assert_eq!(tries().await, 6, "the commit failed once, then ran again");
    for version in 3..23 {
        let answer = app
            .gql(
                Some(&owner.access),
                UPDATE,
                json!({ "id": id, "v": version, "t": format!("Title {version}") }),
            )
            .await;
        assert_eq!(
            answer["data"]["updateDraft"]["version"],
            version + 1,
            "{answer}"
        );
    }
    app.stop().await;
}

/// A TCP relay between the app and PostgreSQL that a test can cut (every connection
/// closed, new ones refused at once, as during a restart or a failover) and restore.
struct DatabaseLink {
    port: u16,
    open: std::sync::Arc<std::sync::atomic::AtomicBool>,
    carried: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    accepting: tokio::task::JoinHandle<()>,
}

impl DatabaseLink {
    async fn to(server: String) -> Self {
        use std::sync::atomic::Ordering;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let open = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let carried = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let accepting = {
            let (open, carried) = (open.clone(), carried.clone());
            tokio::spawn(async move {
                while let Ok((mut client, _)) = listener.accept().await {
                    if !open.load(Ordering::SeqCst) {
                        continue; // dropped: the connection is closed at once
                    }
                    let server = server.clone();
                    carried.lock().unwrap().push(tokio::spawn(async move {
                        if let Ok(mut upstream) = tokio::net::TcpStream::connect(server).await {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                        }
                    }));
                }
            })
        };
        Self {
            port,
            open,
            carried,
            accepting,
        }
    }

    fn cut(&self) {
        self.open.store(false, std::sync::atomic::Ordering::SeqCst);
        for link in self.carried.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    fn restore(&self) {
        self.open.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Drop for DatabaseLink {
    fn drop(&mut self) {
        self.cut();
        self.accepting.abort();
    }
}

/// PostgreSQL goes away under the server (every connection cut, new ones refused) and
/// comes back: meanwhile every request — a write and a read — is answered UNAVAILABLE
/// with a retry hint, within the pool's wait and before the request timeout, and writes
/// nothing; once the database is back the same requests succeed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_is_unavailable_then_recovers() {
    let Some(backend) = Backend::postgres() else {
        return;
    };
    let Backend::Postgres { admin_url } = &backend else {
        unreachable!()
    };
    let server = url::Url::parse(admin_url).unwrap();
    let link = DatabaseLink::to(format!(
        "{}:{}",
        server.host_str().unwrap(),
        server.port().unwrap_or(5432)
    ))
    .await;
    let direct = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let app = TestApp::spawn_with(backend.clone(), |config| {
        config.jobs.run_in_process = false;
        let url =
            secrecy::ExposeSecret::expose_secret(config.database_url.as_ref().unwrap()).to_string();
        *direct.lock().unwrap() = url.clone();
        let mut relayed = url::Url::parse(&url).unwrap();
        relayed.set_host(Some("127.0.0.1")).unwrap();
        relayed.set_port(Some(link.port)).unwrap();
        config.database_url = Some(secrecy::SecretString::from(relayed.to_string()));
    })
    .await;
    let (owner, workspace) = owner_and_workspace(&app).await;
    let create = |title: &'static str| json!({ "i": { "workspaceId": workspace, "title": title, "body": "Text" } });
    app.gql_ok(Some(&owner.access), CREATE, create("Before the outage"))
        .await;

    link.cut();
    let write = app
        .gql(Some(&owner.access), CREATE, create("During the outage"))
        .await;
    let read = app
        .gql(Some(&owner.access), "query { me { email } }", json!({}))
        .await;
    for answer in [&write, &read] {
        assert_eq!(
            error_code(answer).as_deref(),
            Some("UNAVAILABLE"),
            "{answer}"
        );
        assert!(
            answer["errors"][0]["extensions"]["retryAfterSeconds"].as_u64() > Some(0),
            "{answer}"
        );
    }

    link.restore();
    eventually(
        60,
        "requests to succeed once the database is back",
        || async {
            let answer = app
                .gql(Some(&owner.access), CREATE, create("After the outage"))
                .await;
            match answer["data"]["createDraft"]["id"].as_str() {
                Some(_) => Ok(()),
                None => Err(answer.to_string()),
            }
        },
    )
    .await;
    let me = app
        .gql_ok(Some(&owner.access), "query { me { email } }", json!({}))
        .await;
    assert_eq!(me["me"]["email"], "full@example.com");

    let url = direct.lock().unwrap().clone();
    let check = sea_orm::Database::connect(url).await.unwrap();
    let titles = |title: &str| format!("SELECT COUNT(*) AS n FROM drafts WHERE title = '{title}'");
    assert_eq!(count_of(&check, &titles("During the outage")).await, 0);
    assert_eq!(count_of(&check, &titles("Before the outage")).await, 1);
    check.close().await.unwrap();
    app.stop().await;
}
