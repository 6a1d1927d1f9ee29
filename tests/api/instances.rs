//! Two instances of one deployment on one PostgreSQL database, as behind a load
//! balancer: jobs are held by one runner at a time and finished once, whichever runner
//! stops or races.

use std::time::Duration;

use atelier::domain::entities::{
    export_packages, jobs as job_rows, privacy_execution_steps as steps, privacy_request_events,
};
use atelier::domain::ops::jobs;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use tokio::sync::watch;

use crate::helpers::*;
use crate::privacy_flow::{ask_in_app, files_under, Officer, EXPORT};
use crate::smtp_sink::{Inbox, SmtpSink};
use atelier::domain::staff::accounts::StaffRole;

/// Two instances without their own runners (the test drives each), on PostgreSQL.
async fn two_instances(
    adjust: impl Fn(&mut atelier::config::Config),
) -> Option<(TestApp, TestApp)> {
    let backend = Backend::postgres()?;
    let a = TestApp::spawn_with(backend, |config| {
        config.jobs.run_in_process = false;
        adjust(config);
    })
    .await;
    let b = a
        .spawn_beside(|config| {
            config.jobs.run_in_process = false;
            adjust(config);
        })
        .await;
    // The daily jobs every start makes due: out of the way before the test's own.
    a.run_jobs().await;
    Some((a, b))
}

async fn email_job(app: &TestApp) -> job_rows::Model {
    job_rows::Entity::find()
        .filter(job_rows::Column::Kind.eq(jobs::kind::SEND_EMAIL))
        .one(&app.db)
        .await
        .unwrap()
        .expect("an email job")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_runner_is_killed_is_finished_by_the_other_once() {
    // A's relay takes the message and never answers (no 250): A's runner is mid-job
    // until killed.
    let hung = Inbox::default();
    let hung_sink = SmtpSink::start_stalled(hung.clone()).await;
    let hung_port = hung_sink.port;
    let Some((a, b)) = two_instances(|config| config.jobs.lease_secs = 1).await else {
        return;
    };
    let a = a
        .restart(|config| {
            config.smtp_url = Some(secrecy::SecretString::from(format!(
                "smtp://127.0.0.1:{hung_port}"
            )));
        })
        .await;

    // Someone signs up through B; A's runner takes the confirmation email.
    b.sign_up("kept@example.com", "Kim Kept").await;
    let (_keep, running) = watch::channel(false);
    let runner = a.runner.clone();
    let killed = tokio::spawn(async move { runner.run_due(&running).await });
    hung.wait_for_transfer().await;

    // Three leases long, A's heartbeat keeps the job: B's runner finds nothing to do.
    for _ in 0..6 {
        let (_keep, running) = watch::channel(false);
        assert_eq!(b.runner.run_due(&running).await.unwrap(), 0);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(b.inbox.to("kept@example.com").is_empty());

    // A is killed mid-job: no more heartbeats. Once its lease runs out, B takes over.
    killed.abort();
    let mail = eventually(10, "B to send the email A was killed sending", || async {
        let (_keep, running) = watch::channel(false);
        b.runner.run_due(&running).await.unwrap();
        b.inbox
            .to("kept@example.com")
            .into_iter()
            .next()
            .ok_or_else(|| "nothing yet".to_string())
    })
    .await;
    assert!(mail.subject().contains("Confirm your email"));
    // The relay A was killed talking to had taken a copy: both copies are one message
    // to the receiver, by their Message-ID.
    let first = hung.wait_for("kept@example.com", 1).await;
    assert!(mail.header("Message-ID").is_some());
    assert_eq!(first.header("Message-ID"), mail.header("Message-ID"));

    // Finished once: done, two attempts (A's and B's), no lease left, nothing due.
    let job = email_job(&b).await;
    assert!(job.done_at.is_some(), "{job:?}");
    assert_eq!(
        (job.attempts, job.lease_id, job.locked_until),
        (2, None, None)
    );
    let (_keep, running) = watch::channel(false);
    assert_eq!(b.runner.run_due(&running).await.unwrap(), 0);
    assert_eq!(a.runner.run_due(&running).await.unwrap(), 0);
    assert_eq!(b.inbox.to("kept@example.com").len(), 1);
    b.stop().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fulfilment_run_by_both_instances_at_once_runs_each_step_once() {
    let Some((a, b)) = two_instances(|_| {}).await else {
        return;
    };
    let xena = a.signed_in_user("xena@example.com", "Xena Export").await;
    a.create_workspace(&xena, "Xena Studio").await;
    let officer = Officer::sign_in(&a, "officer@atelier.test", StaffRole::Compliance).await;
    let export = ask_in_app(&a, &xena, "xena@example.com", EXPORT, "requestDataExport").await;
    officer.approve(&a, export).await;
    let mails_before = job_rows::Entity::find()
        .filter(job_rows::Column::Kind.eq(jobs::kind::SEND_EMAIL))
        .count(&a.db)
        .await
        .unwrap();

    // Both runners hold the fulfilment at once, as when A's lease ran out while A was
    // cut off and B took the job over: both carry it out, side by side.
    let job = job_rows::Entity::find()
        .filter(job_rows::Column::Kind.eq(jobs::kind::FULFIL_PRIVACY_REQUEST))
        .one(&a.db)
        .await
        .unwrap()
        .expect("the fulfilment job");
    let run = |app: &TestApp| {
        let db = app.db.clone();
        let vault = app.vault();
        let exports = atelier::storage::MediaStore::for_exports(app.config()).unwrap();
        let store = atelier::storage::MediaStore::from_config(app.config()).unwrap();
        let payload = job.payload.clone();
        async move {
            atelier::domain::privacy::fulfil::run_job(&db, &vault, &exports, &store, &payload).await
        }
    };
    let (ran_a, ran_b) = tokio::join!(tokio::spawn(run(&a)), tokio::spawn(run(&b)));
    ran_a.unwrap().unwrap();
    ran_b.unwrap().unwrap();

    // Each step ran once, one package was built, one "ready" email and one COMPLETED
    // event were written.
    let rows = steps::Entity::find()
        .filter(steps::Column::RequestId.eq(export))
        .all(&a.db)
        .await
        .unwrap();
    assert!(!rows.is_empty());
    for row in &rows {
        assert_eq!((row.status.as_str(), row.attempts), ("DONE", 1), "{row:?}");
    }
    assert_eq!(
        export_packages::Entity::find()
            .filter(export_packages::Column::RequestId.eq(export))
            .count(&a.db)
            .await
            .unwrap(),
        1
    );
    let files = files_under(&a.data_dir().join("exports")).len()
        + files_under(&b.data_dir().join("exports")).len();
    assert_eq!(files, 1);
    let mails_after = job_rows::Entity::find()
        .filter(job_rows::Column::Kind.eq(jobs::kind::SEND_EMAIL))
        .count(&a.db)
        .await
        .unwrap();
    assert_eq!(mails_after, mails_before + 1);
    let completed = privacy_request_events::Entity::find()
        .filter(privacy_request_events::Column::RequestId.eq(export))
        .filter(privacy_request_events::Column::ToStatus.eq("COMPLETED"))
        .count(&a.db)
        .await
        .unwrap();
    assert_eq!(completed, 1);
    b.stop().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_on_one_instance_hears_what_happens_through_the_other() {
    use crate::subscriptions::{connect, next, subscribe, COMMENTS};
    use serde_json::json;

    let fake = crate::fake_provider::FakeProvider::start().await;
    let Some((a, b)) = two_instances(|config| {
        config.providers.linkedin = fake.settings();
        config.providers.sync_interval_secs = 0;
    })
    .await
    else {
        return;
    };
    let owner = a.signed_in_user("live@example.com", "Liv Owner").await;
    let ws = crate::publishing::workspace(&b, &owner, "Live Co").await;
    crate::channels::connect(&b, &owner, &ws, "LINKEDIN").await;
    let draft = crate::publishing::draft_to(
        &b,
        &owner,
        &ws,
        "Watched",
        &[("LINKEDIN", "Live on two instances")],
    )
    .await;

    // The owner watches through A.
    let mut watcher = connect(&a, json!({ "accessToken": owner.access })).await;
    assert_eq!(next(&mut watcher).await.unwrap()["type"], "connection_ack");
    subscribe(&mut watcher, "c", COMMENTS, json!({ "d": draft })).await;
    subscribe(
        &mut watcher,
        "d",
        "subscription($w: ID!) { draftChanged(workspaceId: $w) { title status } }",
        json!({ "w": ws }),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    // A comment added through B reaches A's subscriber, reloaded with its author.
    b.gql_ok(
        Some(&owner.access),
        "mutation($i: AddCommentInput!) { addComment(input: $i) { id } }",
        json!({ "i": { "draftId": draft, "body": "Written through B" } }),
    )
    .await;
    let event = next(&mut watcher).await.unwrap();
    assert_eq!(
        (event["type"].as_str(), event["id"].as_str()),
        (Some("next"), Some("c"))
    );
    assert_eq!(
        event["payload"]["data"]["commentAdded"],
        json!({ "body": "Written through B", "author": { "displayName": "Liv Owner" } })
    );

    // Scheduled through B; B's runner publishes it: A's subscriber sees both changes.
    crate::publishing::schedule_soon(&b, &owner, &draft).await;
    let event = next(&mut watcher).await.unwrap();
    assert_eq!(
        event["payload"]["data"]["draftChanged"],
        json!({ "title": "Watched", "status": "SCHEDULED" })
    );
    eventually(20, "B's runner to publish the draft", || async {
        b.run_jobs().await;
        let status = b
            .gql_ok(
                Some(&owner.access),
                "query($id: ID!) { draft(id: $id) { status } }",
                json!({ "id": draft }),
            )
            .await["draft"]["status"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        (status == "PUBLISHED").then_some(()).ok_or(status)
    })
    .await;
    let event = next(&mut watcher).await.unwrap();
    assert_eq!(event["id"], "d", "{event}");
    assert_eq!(
        event["payload"]["data"]["draftChanged"],
        json!({ "title": "Watched", "status": "PUBLISHED" })
    );
    b.stop().await;
    a.stop().await;
}

async fn attempt(app: &TestApp, password: &str) -> Option<String> {
    let answer = app
        .gql(
            None,
            LOG_IN,
            serde_json::json!({ "input": { "email": "guarded@example.com", "password": password } }),
        )
        .await;
    error_code(&answer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_limit_counts_attempts_through_both_instances() {
    let Some((a, b)) = two_instances(|config| config.auth.login_failures_per_email = 4).await
    else {
        return;
    };
    a.signed_in_user("guarded@example.com", "Gus Guarded").await;

    // Twenty-four wrong passwords at once from one client, half through each instance:
    // four are looked at, the others refused before.
    let attempts: Vec<_> = (0..24)
        .map(|i| attempt(if i % 2 == 0 { &a } else { &b }, "not-the-password-0"))
        .collect();
    let codes = futures::future::join_all(attempts).await;
    let count = |code: &str| codes.iter().filter(|c| c.as_deref() == Some(code)).count();
    assert_eq!(
        (count("UNAUTHENTICATED"), count("RATE_LIMITED")),
        (4, 20),
        "{codes:?}"
    );
    // Through either instance, even the right password waits now.
    assert_eq!(attempt(&a, PASSWORD).await.as_deref(), Some("RATE_LIMITED"));
    assert_eq!(attempt(&b, PASSWORD).await.as_deref(), Some("RATE_LIMITED"));
    b.stop().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_built_by_one_instance_is_downloaded_through_the_other() {
    use crate::privacy_flow::{erase_leaving_nothing, settles};

    if Backend::postgres().is_none() {
        return;
    }
    let Some(s3) = crate::s3_server::S3Server::start().await else {
        return;
    };
    let Some((a, b)) = two_instances(|config| s3.configure(config)).await else {
        return;
    };
    let xena = a.signed_in_user("xena@example.com", "Xena Export").await;
    let studio = a.create_workspace(&xena, "Xena Studio").await;
    crate::media::upload(
        &a,
        Some(&xena.access),
        &studio,
        "tulips.png",
        "image/png",
        crate::media::PNG.to_vec(),
    )
    .await;
    let officer = Officer::sign_in(&a, "officer@atelier.test", StaffRole::Compliance).await;
    let export = ask_in_app(&a, &xena, "xena@example.com", EXPORT, "requestDataExport").await;
    officer.approve(&a, export).await;
    // A's runner builds the package, into the shared bucket, not onto A's disk.
    settles(&a, export, &["COMPLETED"]).await;
    assert_eq!(s3.keys("exports/").await.len(), 1);
    assert!(files_under(&a.data_dir().join("exports")).is_empty());

    // The emailed link, followed through B.
    let mail = a
        .inbox
        .wait_for_subject("xena@example.com", "ready to download")
        .await;
    let link = mail
        .decoded()
        .split_whitespace()
        .find(|w| w.contains("/exports/"))
        .unwrap()
        .to_string();
    let path = &link[link.find("/exports/").unwrap()..];
    let response = reqwest::get(format!("{}{path}", b.address)).await.unwrap();
    assert_eq!(response.status(), 200);
    let package = response.bytes().await.unwrap();
    assert!(package.starts_with(b"PK"), "a ZIP");
    let listed = zip::ZipArchive::new(std::io::Cursor::new(package.to_vec()))
        .unwrap()
        .file_names()
        .map(str::to_string)
        .collect::<Vec<_>>();
    assert!(
        listed.iter().any(|n| n.ends_with("tulips.png")),
        "{listed:?}"
    );

    // Her erasure deletes the package from the bucket, and her uploaded file.
    erase_leaving_nothing(
        &a,
        &officer,
        &xena,
        "xena@example.com",
        &["xena@example.com", "Xena Export"],
    )
    .await;
    assert!(s3.keys("").await.is_empty(), "{:?}", s3.keys("").await);
    let response = reqwest::get(format!("{}{path}", b.address)).await.unwrap();
    assert_eq!(response.status(), 410);
    b.stop().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audited_writes_through_both_instances_all_commit_and_the_chain_verifies() {
    use atelier::domain::entities::audit_events;
    use atelier::domain::ops::audit;
    use serde_json::json;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    let Some((a, b)) = two_instances(|_| {}).await else {
        return;
    };
    let owner = a.signed_in_user("audited@example.com", "Ada Audited").await;
    let ws = a.create_workspace(&owner, "Audit Co").await;

    // B's sealer links the chain over and over while 32 audited writes go through both
    // instances at once.
    let stop = Arc::new(AtomicBool::new(false));
    let sealer = {
        let (db, stop) = (b.db.clone(), stop.clone());
        tokio::spawn(async move {
            let mut sealed = 0;
            while !stop.load(Ordering::SeqCst) {
                sealed += audit::seal(&db).await.unwrap();
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            sealed
        })
    };
    let writes: Vec<_> = (0..32)
        .map(|i| {
            (if i % 2 == 0 { &a } else { &b }).gql(
                Some(&owner.access),
                "mutation($i: CreateDraftInput!) { createDraft(input: $i) { id } }",
                json!({ "i": { "workspaceId": ws, "title": format!("Draft {i}") } }),
            )
        })
        .collect();
    for answer in futures::future::join_all(writes).await {
        assert!(answer.get("errors").is_none(), "{answer}");
    }
    stop.store(true, Ordering::SeqCst);
    let sealed_while_writing = sealer.await.unwrap();

    // A's sealer takes what is left; the whole chain verifies, every event in it.
    audit::seal(&a.db).await.unwrap();
    let report = audit::verify_chain(&a.db).await.unwrap();
    let events = audit_events::Entity::find().count(&a.db).await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!((report.events_checked, report.unsealed), (events, 0));
    assert_eq!(
        audit::count_action(&a.db, "draft.created").await.unwrap(),
        32
    );
    eprintln!("{sealed_while_writing} of {events} events sealed while the writes ran");
    b.stop().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_committed_late_is_sealed_after_those_committed_first() {
    use atelier::domain::entities::audit_events;
    use atelier::domain::ops::audit::{self, Actor, NewEvent};
    use sea_orm::TransactionTrait;

    let Some(backend) = Backend::postgres() else {
        return;
    };
    let app = TestApp::spawn_with(backend, |config| config.jobs.run_in_process = false).await;
    let meta = atelier::domain::RequestMeta::default();
    audit::seal(&app.db).await.unwrap();

    // A slow transaction appends first (the lower seq) and commits last.
    let slow = app.db.begin().await.unwrap();
    let late = audit::record(&slow, NewEvent::new(Actor::System, "test.late"), &meta)
        .await
        .unwrap();
    let early = audit::record(&app.db, NewEvent::new(Actor::System, "test.early"), &meta)
        .await
        .unwrap();
    assert!(late.seq < early.seq);
    // The early one is sealed without waiting; the slow one is not visible yet.
    assert_eq!(audit::seal(&app.db).await.unwrap(), 1);
    slow.commit().await.unwrap();
    assert_eq!(audit::seal(&app.db).await.unwrap(), 1);

    let place = |seq: i64| {
        let db = app.db.clone();
        async move {
            audit_events::Entity::find_by_id(seq)
                .one(&db)
                .await
                .unwrap()
                .unwrap()
                .chain_pos
                .unwrap()
        }
    };
    assert!(place(late.seq).await > place(early.seq).await);
    let report = audit::verify_chain(&app.db).await.unwrap();
    assert!(report.is_intact() && report.unsealed == 0, "{report:?}");
    app.stop().await;
}
