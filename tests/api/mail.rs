//! Mail is durable: an email is a job committed with the change it reports, retried
//! until the SMTP server takes it.

use atelier::domain::ops::jobs;
use serde_json::json;

use crate::helpers::*;
use crate::on_both_databases;
use crate::smtp_sink::{Inbox, SmtpSink};

async fn invitation_survives_smtp_outage(backend: Backend) {
    // Find a free port and leave it closed: SMTP is "down".
    let down_port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let outage_inbox = Inbox::default();
    let app = TestApp::spawn_with(backend, |config| {
        config.smtp_url = Some(secrecy::SecretString::from(format!(
            "smtp://127.0.0.1:{down_port}"
        )));
    })
    .await;

    // The owner signs up while the server is up; then it goes down for the invitation.
    let sink = SmtpSink::start_on(down_port, outage_inbox.clone()).await;
    let owner = {
        app.sign_up("owner@example.com", "Olivia Owner").await;
        let mail = outage_inbox.wait_for("owner@example.com", 1).await;
        app.gql_ok(None, VERIFY_EMAIL, json!({ "token": mail.token() }))
            .await;
        app.log_in("owner@example.com").await
    };
    let workspace_id = app.create_workspace(&owner, "Outage Test").await;
    sink.stop();
    drop(sink);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;

    // The invitation commits although the email cannot be sent now.
    let invited = app
        .gql_ok(
            Some(&owner.access),
            INVITE,
            json!({ "input": { "workspaceId": workspace_id, "email": "late@example.com", "role": "EDITOR" } }),
        )
        .await;
    assert_eq!(invited["inviteMember"]["status"], "PENDING");

    // The job fails at least once while SMTP is down and stays queued.
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert!(outage_inbox.to("late@example.com").is_empty());
    assert!(
        jobs::pending_count(&app.db, jobs::kind::SEND_EMAIL)
            .await
            .unwrap()
            >= 1
    );

    // SMTP comes back: the email arrives exactly once.
    let _back = SmtpSink::start_on(down_port, outage_inbox.clone()).await;
    let mail = outage_inbox.wait_for("late@example.com", 1).await;
    assert!(mail.subject().contains("Outage Test"));
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(outage_inbox.to("late@example.com").len(), 1);
    assert_eq!(
        jobs::pending_count(&app.db, jobs::kind::SEND_EMAIL)
            .await
            .unwrap(),
        0
    );

    app.stop().await;
}
on_both_databases!(invitation_survives_smtp_outage);

async fn queued_mail_keeps_its_link_sealed(backend: Backend) {
    use atelier::domain::entities::jobs as job_rows;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

    // No SMTP at all: the job stays queued and we can read the row as stored.
    let app = TestApp::spawn_with(backend, |config| {
        config.smtp_url = Some(secrecy::SecretString::from("smtp://127.0.0.1:9"));
    })
    .await;
    app.sign_up("sealed@example.com", "Sam Sealed").await;
    let rows = job_rows::Entity::find()
        .filter(job_rows::Column::Kind.eq(jobs::kind::SEND_EMAIL))
        .all(&app.db)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert!(
        !rows[0].payload.contains("sealed@example.com"),
        "recipient in clear: {}",
        rows[0].payload
    );
    assert!(
        !rows[0].payload.contains("token"),
        "token in clear: {}",
        rows[0].payload
    );
    app.stop().await;
}
on_both_databases!(queued_mail_keeps_its_link_sealed);

async fn queued_mail_survives_a_restart(backend: Backend) {
    let down_port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let app = TestApp::spawn_with(backend, |config| {
        config.smtp_url = Some(secrecy::SecretString::from(format!(
            "smtp://127.0.0.1:{down_port}"
        )));
    })
    .await;
    app.sign_up("restart@example.com", "Rae Start").await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(
        jobs::pending_count(&app.db, jobs::kind::SEND_EMAIL)
            .await
            .unwrap(),
        1
    );

    // The process goes away with the email undelivered; SMTP comes back; a new process
    // on the same database delivers it, once.
    let inbox = Inbox::default();
    let _sink = SmtpSink::start_on(down_port, inbox.clone()).await;
    let app = app.restart(|_| {}).await;
    let mail = inbox.wait_for("restart@example.com", 1).await;
    assert!(mail.subject().contains("Confirm your email"));
    app.gql_ok(None, VERIFY_EMAIL, json!({ "token": mail.token() }))
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(inbox.to("restart@example.com").len(), 1);
    assert_eq!(
        jobs::pending_count(&app.db, jobs::kind::SEND_EMAIL)
            .await
            .unwrap(),
        0
    );
    app.stop().await;
}
on_both_databases!(queued_mail_survives_a_restart);

async fn shutdown_finishes_the_email_in_flight(backend: Backend) {
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let inbox = Inbox::default();
    let _slow =
        SmtpSink::start_slow(port, inbox.clone(), std::time::Duration::from_millis(800)).await;
    let app = TestApp::spawn_with(backend, |config| {
        config.smtp_url = Some(secrecy::SecretString::from(format!(
            "smtp://127.0.0.1:{port}"
        )));
    })
    .await;
    app.sign_up("inflight@example.com", "Ian Flight").await;
    // Once the runner is talking to the slow relay, stop.
    inbox.wait_for_transfer().await;
    assert!(
        inbox.to("inflight@example.com").is_empty(),
        "still in flight"
    );
    let app = app.restart(|_| {}).await;
    // Stopping waited for the delivery, and recorded it: the new process sends nothing.
    assert_eq!(inbox.to("inflight@example.com").len(), 1);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(inbox.to("inflight@example.com").len(), 1);
    assert_eq!(
        jobs::pending_count(&app.db, jobs::kind::SEND_EMAIL)
            .await
            .unwrap(),
        0
    );
    app.stop().await;
}
on_both_databases!(shutdown_finishes_the_email_in_flight);

async fn failing_jobs_back_off_and_are_given_up(backend: Backend) {
    use atelier::domain::entities::jobs as job_rows;
    use sea_orm::{ActiveModelTrait, EntityTrait, Set};

    let app = TestApp::spawn(backend).await;
    let id = jobs::enqueue(&app.db, "no_such_kind", &json!({}))
        .await
        .unwrap();
    let row = job_rows::Entity::find_by_id(id)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    let mut row: job_rows::ActiveModel = row.into();
    row.max_attempts = Set(3);
    row.update(&app.db).await.unwrap();

    let deadline = std::time::Instant::now() + crate::helpers::PATIENCE;
    let failed = loop {
        let row = job_rows::Entity::find_by_id(id)
            .one(&app.db)
            .await
            .unwrap()
            .unwrap();
        if row.failed_at.is_some() {
            break row;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "job never given up: {row:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(failed.attempts, 3);
    assert!(failed.done_at.is_none());
    assert!(failed.last_error.unwrap().contains("no handler"));
    // Backoff: 100 ms, then 200 ms between the three attempts.
    assert!(failed.failed_at.unwrap() - failed.created_at >= chrono::Duration::milliseconds(300));
    assert_eq!(
        jobs::pending_count(&app.db, "no_such_kind").await.unwrap(),
        0
    );
    app.stop().await;
}
on_both_databases!(failing_jobs_back_off_and_are_given_up);

/// The sign-up confirmation email's job, once it exists.
async fn confirmation_job(app: &TestApp) -> atelier::domain::entities::jobs::Model {
    use atelier::domain::entities::jobs as job_rows;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    job_rows::Entity::find()
        .filter(job_rows::Column::Kind.eq(jobs::kind::SEND_EMAIL))
        .filter(job_rows::Column::DoneAt.is_null())
        .one(&app.db)
        .await
        .unwrap()
        .expect("the email's job")
}

/// An SMTP server that takes the message and never answers: the send ends at its
/// deadline (`ATELIER_SMTP_TIMEOUT_SECS`, not only lettre's connect timeout) and is
/// retried, and the runner goes on to the next job meanwhile.
async fn a_stalled_smtp_server_holds_a_send_only_until_its_deadline(backend: Backend) {
    let stalled = Inbox::default();
    let _sink = SmtpSink::start_stalled(stalled.clone()).await;
    let app = TestApp::spawn_with(backend, |config| {
        config.smtp_url = Some(secrecy::SecretString::from(format!(
            "smtp://127.0.0.1:{}",
            _sink.port
        )));
        config.smtp_timeout_secs = 1;
        config.jobs.retry_base_ms = 60_000;
    })
    .await;
    app.sign_up("first@example.com", "Fern First").await;
    stalled.wait_for("first@example.com", 1).await;
    let failed = eventually(60, "the stalled send to end at its deadline", || async {
        let job = confirmation_job(&app).await;
        match &job.last_error {
            Some(error) => Ok(error.clone()),
            None => Err(format!("{job:?}")),
        }
    })
    .await;
    assert!(failed.contains("longer than 1 s"), "{failed}");
    // The runner is free: the next email is taken too (and stalls the same way).
    app.sign_up("second@example.com", "Sol Second").await;
    stalled.wait_for("second@example.com", 1).await;
    app.stop().await;
}
on_both_databases!(a_stalled_smtp_server_holds_a_send_only_until_its_deadline);

/// Shutdown while a send is stalled (a deadline far off): the job in hand gets the grace
/// period, then is given back unlocked and the process stops. The next start sends it
/// again — with the same Message-ID as the copy the stalled server took, so the
/// receiver's provider keeps one.
async fn shutdown_gives_a_stalled_send_back_and_the_retry_is_the_same_message(backend: Backend) {
    let stalled = Inbox::default();
    let sink = SmtpSink::start_stalled(stalled.clone()).await;
    let app = TestApp::spawn_with(backend, |config| {
        config.smtp_url = Some(secrecy::SecretString::from(sink.url()));
        config.smtp_timeout_secs = 3_600;
        config.jobs.shutdown_grace_secs = 1;
    })
    .await;
    app.sign_up("stalled@example.com", "Stan Stalled").await;
    let taken = stalled.wait_for("stalled@example.com", 1).await;

    // Stopping ends (the test's own guard is far beyond the one-second grace).
    let own_sink = app.sink_url();
    let restarted = tokio::time::timeout(
        std::time::Duration::from_secs(120),
        app.restart(move |config| {
            config.smtp_url = Some(secrecy::SecretString::from(own_sink));
            config.jobs.run_in_process = false;
        }),
    )
    .await
    .expect("the server stopped within its grace period");
    let job = confirmation_job(&restarted).await;
    assert_eq!((job.lease_id, job.locked_until), (None, None), "given back");
    assert_eq!(job.attempts, 1, "the interrupted attempt counts");

    // Sent again through a relay that answers: one message, two copies, one Message-ID.
    let sent = restarted.inbox.clone();
    restarted.run_jobs().await;
    let again = sent.wait_for("stalled@example.com", 1).await;
    let id = taken.header("Message-ID").expect("a Message-ID");
    assert!(
        id.starts_with('<') && id.ends_with("@atelier.localhost>"),
        "{id}"
    );
    assert_eq!(again.header("Message-ID"), Some(id));
    assert_eq!(again.subject(), taken.subject());
    restarted.stop().await;
}
on_both_databases!(shutdown_gives_a_stalled_send_back_and_the_retry_is_the_same_message);
