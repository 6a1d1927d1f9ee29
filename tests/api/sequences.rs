//! Privacy promises across the sequences people take: export then erase, rectify then
//! erase, an SMTP outage longer than ten tries, work given up and retried by staff, a
//! daily job that fails once, a request that matches nobody.

use std::time::Duration;

use atelier::domain::entities::{
    export_packages, jobs as job_rows, one_time_tokens, privacy_request_events, users,
};
use atelier::domain::ops::jobs;
use atelier::domain::staff::accounts::StaffRole;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::json;

use crate::helpers::*;
use crate::on_both_databases;
use crate::privacy_flow::*;
use crate::smtp_sink::{Inbox, SmtpSink};

/// A free port left closed: SMTP is "down" until a sink starts on it.
fn closed_port() -> u16 {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    probe.local_addr().unwrap().port()
}

/// The owner signs up while SMTP (on `port`) is up; then SMTP goes down and they invite
/// late@example.com to their new workspace `name`: the invitation waits in the queue.
async fn invite_while_smtp_is_down(app: &TestApp, port: u16, inbox: &Inbox, name: &str) {
    let sink = SmtpSink::start_on(port, inbox.clone()).await;
    app.sign_up("owner@example.com", "Olivia Owner").await;
    let mail = inbox.wait_for("owner@example.com", 1).await;
    app.gql_ok(None, VERIFY_EMAIL, json!({ "token": mail.token() }))
        .await;
    let owner = app.log_in("owner@example.com").await;
    let workspace = app.create_workspace(&owner, name).await;
    sink.stop();
    drop(sink);
    tokio::time::sleep(Duration::from_millis(100)).await;
    app.gql_ok(
        Some(&owner.access),
        INVITE,
        json!({ "input": { "workspaceId": workspace, "email": "late@example.com", "role": "EDITOR" } }),
    )
    .await;
}

async fn export_then_erase_kills_the_link_and_the_file(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let xena = app.signed_in_user("xena@example.com", "Xena Export").await;
    let studio = app.create_workspace(&xena, "Xena Studio").await;
    crate::media::upload(
        &app,
        Some(&xena.access),
        &studio,
        "tulips.png",
        "image/png",
        crate::media::PNG.to_vec(),
    )
    .await;
    let officer = Officer::sign_in(&app, "officer@atelier.test", StaffRole::Compliance).await;

    // She asks for her data and downloads it.
    let export = ask_in_app(&app, &xena, "xena@example.com", EXPORT, "requestDataExport").await;
    officer.approve(&app, export).await;
    settles(&app, export, &["COMPLETED"]).await;
    let mail = app
        .inbox
        .wait_for_subject("xena@example.com", "ready to download")
        .await;
    let link = mail
        .decoded()
        .split_whitespace()
        .find(|w| w.contains("/exports/"))
        .unwrap()
        .to_string();
    let response = reqwest::get(&link).await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(!response.bytes().await.unwrap().is_empty());
    assert_eq!(files_under(&app.data_dir().join("exports")).len(), 1);

    // Then she asks to be erased.
    let erase = erase_leaving_nothing(
        &app,
        &officer,
        &xena,
        "xena@example.com",
        &["xena@example.com", "Xena Export"],
    )
    .await;

    // The link sent before the erasure answers 410; the package is gone everywhere.
    let response = reqwest::get(&link).await.unwrap();
    assert_eq!(response.status(), 410);
    assert!(files_under(&app.data_dir().join("exports")).is_empty());
    assert_eq!(
        export_packages::Entity::find()
            .count(&app.db)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        one_time_tokens::Entity::find()
            .filter(one_time_tokens::Column::Purpose.eq("EXPORT_DOWNLOAD"))
            .count(&app.db)
            .await
            .unwrap(),
        0
    );
    let step = atelier::domain::entities::privacy_execution_steps::Entity::find()
        .filter(atelier::domain::entities::privacy_execution_steps::Column::RequestId.eq(erase))
        .filter(
            atelier::domain::entities::privacy_execution_steps::Column::Step.eq("export_packages"),
        )
        .one(&app.db)
        .await
        .unwrap()
        .expect("export packages are a step of the erasure");
    assert_eq!((step.status.as_str(), step.rows_affected), ("DONE", 1));
    app.stop().await;
}
on_both_databases!(export_then_erase_kills_the_link_and_the_file);

async fn rectified_name_then_erasure_leaves_neither_name(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let jon = app.signed_in_user("jon@example.com", "Jon Smyth").await;
    app.create_workspace(&jon, "Jon's Kitchen").await;
    let officer = Officer::sign_in(&app, "officer@atelier.test", StaffRole::Compliance).await;

    let rectify = ask_on_portal(&app, "jon@example.com", "RECTIFY").await;
    officer.approve(&app, rectify.id).await;
    let (status, html) = officer
        .act(
            &app,
            rectify.id,
            "rectify",
            &[("field", "display_name"), ("value", "Jonathan Smithers")],
        )
        .await;
    assert_eq!(status, 200, "{html}");
    // The requester's status page says what changed, never the values.
    let public: Vec<String> = privacy_request_events::Entity::find()
        .filter(privacy_request_events::Column::RequestId.eq(rectify.id))
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.message)
        .collect();
    assert!(
        public.contains(&"We corrected your name.".to_string()),
        "{public:?}"
    );
    assert!(public
        .iter()
        .all(|m| !m.contains("Smyth") && !m.contains("Smithers")));

    // Then he asks to be erased: the erasure completes (it did not, before).
    erase_leaving_nothing(
        &app,
        &officer,
        &jon,
        "jon@example.com",
        &["jon@example.com", "Jon Smyth", "Jonathan Smithers"],
    )
    .await;
    // The staff page of the rectification now shows the values as erased.
    let (_, html) = officer
        .page(&app, &format!("/staff/requests/{}", rectify.id))
        .await;
    assert!(
        html.contains("the values were erased with the person"),
        "{html}"
    );
    assert!(!html.contains("Smithers"));
    assert!(atelier::domain::ops::audit::verify_chain(&app.db)
        .await
        .unwrap()
        .is_intact());
    app.stop().await;
}
on_both_databases!(rectified_name_then_erasure_leaves_neither_name);

async fn changed_email_then_erasure_leaves_neither_address(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.signed_in_user("old.address@example.com", "Mae Mover")
        .await;
    let officer = Officer::sign_in(&app, "officer@atelier.test", StaffRole::Compliance).await;
    let rectify = ask_on_portal(&app, "old.address@example.com", "RECTIFY").await;
    officer.approve(&app, rectify.id).await;
    let (status, html) = officer
        .act(
            &app,
            rectify.id,
            "rectify",
            &[("field", "email"), ("value", "new.address@example.com")],
        )
        .await;
    assert_eq!(status, 200, "{html}");
    // The new address is confirmed again, and the account answers to it.
    let verify = app
        .inbox
        .wait_for_subject("new.address@example.com", "Confirm your email")
        .await;
    app.gql_ok(None, VERIFY_EMAIL, json!({ "token": verify.token() }))
        .await;
    let mae = app.log_in("new.address@example.com").await;

    // Erasure asked for from the new address finds the old one too.
    erase_leaving_nothing(
        &app,
        &officer,
        &mae,
        "new.address@example.com",
        &[
            "old.address@example.com",
            "new.address@example.com",
            "Mae Mover",
        ],
    )
    .await;
    let user = users::Entity::find_by_id(mae.user_id.parse::<uuid::Uuid>().unwrap())
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(user.status, "ERASED");
    assert_eq!(
        atelier::domain::entities::former_identifiers::Entity::find()
            .count(&app.db)
            .await
            .unwrap(),
        0
    );
    app.stop().await;
}
on_both_databases!(changed_email_then_erasure_leaves_neither_address);

async fn a_request_that_matches_nobody_says_no_data_is_held(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let officer = Officer::sign_in(&app, "officer@atelier.test", StaffRole::Compliance).await;
    for (kind, address) in [
        ("ERASE", "stranger@example.com"),
        ("EXPORT", "visitor@example.com"),
    ] {
        let request = ask_on_portal(&app, address, kind).await;
        officer.approve(&app, request.id).await;
        settles(&app, request.id, &["COMPLETED"]).await;
        let mail = app
            .inbox
            .wait_for_subject(address, "we hold no data about you")
            .await;
        assert!(mail.decoded().contains(&request.reference));
        assert!(!mail.decoded().to_lowercase().contains("we erased"));
        let last = privacy_request_events::Entity::find()
            .filter(privacy_request_events::Column::RequestId.eq(request.id))
            .all(&app.db)
            .await
            .unwrap()
            .pop()
            .unwrap();
        assert!(
            last.message.starts_with("We hold no data about you"),
            "{}",
            last.message
        );
    }
    // No package was built for nobody, and no download link was sent.
    assert_eq!(
        export_packages::Entity::find()
            .count(&app.db)
            .await
            .unwrap(),
        0
    );
    assert!(app
        .inbox
        .to("visitor@example.com")
        .iter()
        .all(|m| !m.subject().contains("ready to download")));
    app.stop().await;
}
on_both_databases!(a_request_that_matches_nobody_says_no_data_is_held);

async fn mail_outlives_an_outage_longer_than_ten_tries(backend: Backend) {
    let port = closed_port();
    let inbox = Inbox::default();
    // A fast retry clock: tries 40 ms apart, so ten tries pass in well under a second.
    let app = TestApp::spawn_with(backend, |config| {
        config.smtp_url = Some(secrecy::SecretString::from(format!(
            "smtp://127.0.0.1:{port}"
        )));
        config.jobs.retry_base_ms = 20;
        config.jobs.retry_cap_ms = 40;
    })
    .await;
    invite_while_smtp_is_down(&app, port, &inbox, "Long Outage").await;
    // More tries than the old limit of ten, and the email is still waiting.
    let job = eventually(30, "the email to be tried more than ten times", || async {
        let waiting = job_rows::Entity::find()
            .filter(job_rows::Column::Kind.eq(jobs::kind::SEND_EMAIL))
            .filter(job_rows::Column::DoneAt.is_null())
            .one(&app.db)
            .await
            .unwrap();
        match waiting {
            Some(job) if job.attempts > 12 => Ok(job),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    assert!(job.failed_at.is_none(), "not given up: {job:?}");
    assert!(job.give_up_at.unwrap() - job.created_at >= chrono::Duration::hours(71));

    // SMTP comes back: the email arrives, once.
    let _back = SmtpSink::start_on(port, inbox.clone()).await;
    let mail = inbox.wait_for("late@example.com", 1).await;
    assert!(mail.subject().contains("Long Outage"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(inbox.to("late@example.com").len(), 1);
    app.stop().await;
}
on_both_databases!(mail_outlives_an_outage_longer_than_ten_tries);

async fn a_dead_email_is_listed_retried_by_staff_and_delivered(backend: Backend) {
    let port = closed_port();
    let inbox = Inbox::default();
    // One-second horizons stand for 72 hours of mail and a day of anything else.
    let app = TestApp::spawn_with(backend, |config| {
        config.smtp_url = Some(secrecy::SecretString::from(format!(
            "smtp://127.0.0.1:{port}"
        )));
        config.jobs.retry_base_ms = 50;
        config.jobs.retry_cap_ms = 100;
        config.jobs.mail_retry_secs = 1;
        config.jobs.retry_secs = 1;
    })
    .await;
    let admin = Officer::sign_in(&app, "admin@atelier.test", StaffRole::Admin).await;
    let support = Officer::sign_in(&app, "support@atelier.test", StaffRole::Support).await;
    invite_while_smtp_is_down(&app, port, &inbox, "Dead Letters").await;

    // Past its horizon the email is given up, and so is the alert to the ADMIN (SMTP is
    // still down); neither is dropped.
    let dead = eventually(
        30,
        "the invitation and the alert to be given up",
        || async {
            let dead = job_rows::Entity::find()
                .filter(job_rows::Column::FailedAt.is_not_null())
                .all(&app.db)
                .await
                .unwrap();
            if dead.len() == 2 {
                Ok(dead)
            } else {
                Err(format!("{dead:?}"))
            }
        },
    )
    .await;
    assert!(dead
        .iter()
        .all(|j| j.done_at.is_none() && j.payload.contains("sealed")));
    assert_eq!(
        atelier::domain::ops::audit::count_action(&app.db, "job.died")
            .await
            .unwrap(),
        2
    );
    // The jobs page lists both, without their sealed contents.
    let (status, html) = admin.page(&app, "/staff/jobs").await;
    assert_eq!(status, 200);
    assert!(html.contains("an email (invitation)"), "{html}");
    assert!(html.contains("an email (job died)"), "{html}");
    assert!(html.contains("2 given up"), "{html}");
    assert!(!html.contains("late@example.com") && !html.contains(&dead[0].payload));
    let invitation = dead
        .iter()
        .find(|j| j.payload.contains("\"invitation\""))
        .unwrap()
        .id;
    let alert = dead.iter().find(|j| j.id != invitation).unwrap().id;

    // SUPPORT may look but not act; a forged form is refused; nonsense ids are unknown.
    let (status, _) = support.page(&app, "/staff/jobs").await;
    assert_eq!(status, 200);
    let (status, _) = support
        .submit(
            &app,
            "/staff/jobs",
            &format!("/staff/jobs/{invitation}/retry"),
            &[],
        )
        .await;
    assert_eq!(status, 403);
    let forged = admin
        .client
        .post(format!("{}/staff/jobs/{invitation}/retry", app.address))
        .form(&[("csrf", "00ff")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    let (status, _) = admin
        .submit(&app, "/staff/jobs", "/staff/jobs/not-a-job/retry", &[])
        .await;
    assert_eq!(status, 404);
    let (status, html) = admin
        .submit(
            &app,
            "/staff/jobs",
            &format!("/staff/jobs/{}/retry", uuid::Uuid::now_v7()),
            &[],
        )
        .await;
    assert_eq!(status, 422);
    assert!(html.contains("no longer waiting"));

    // SMTP is back; the ADMIN retries the invitation and discards the stale alert.
    let _back = SmtpSink::start_on(port, inbox.clone()).await;
    let (status, html) = admin
        .submit(
            &app,
            "/staff/jobs",
            &format!("/staff/jobs/{invitation}/retry"),
            &[],
        )
        .await;
    assert_eq!(status, 200);
    assert!(html.contains("queued to run again"));
    let mail = inbox.wait_for("late@example.com", 1).await;
    assert!(mail.subject().contains("Dead Letters"));
    let (status, html) = admin
        .submit(
            &app,
            "/staff/jobs",
            &format!("/staff/jobs/{alert}/discard"),
            &[],
        )
        .await;
    assert_eq!(status, 200);
    assert!(
        html.contains("discarded") && html.contains("No job is failing"),
        "{html}"
    );
    assert!(job_rows::Entity::find_by_id(alert)
        .one(&app.db)
        .await
        .unwrap()
        .is_none());
    for action in ["job.retried", "job.discarded"] {
        assert_eq!(
            atelier::domain::ops::audit::count_action(&app.db, action)
                .await
                .unwrap(),
            1,
            "{action}"
        );
    }

    // With SMTP up, a job that dies reaches the ADMIN by email, once.
    let seen = inbox.to("admin@atelier.test").len();
    jobs::enqueue(&app.db, "no_such_kind", &json!({}))
        .await
        .unwrap();
    let alert = inbox
        .wait_for_new("admin@atelier.test", seen, "gave up on a job")
        .await;
    assert!(alert.decoded().contains("no_such_kind"));
    assert!(alert.decoded().contains("/staff/jobs"));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(inbox.to("admin@atelier.test").len(), seen + 1);
    // Retention, even a month later, keeps what was given up and nobody has looked at.
    let dead_job = job_rows::Entity::find()
        .filter(job_rows::Column::Kind.eq("no_such_kind"))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert!(dead_job.failed_at.is_some());
    app.run_retention(chrono::Utc::now() + chrono::Duration::days(40))
        .await;
    assert!(job_rows::Entity::find_by_id(dead_job.id)
        .one(&app.db)
        .await
        .unwrap()
        .is_some());
    app.stop().await;
}
on_both_databases!(a_dead_email_is_listed_retried_by_staff_and_delivered);

async fn a_stuck_fulfilment_says_so_and_is_retried_from_its_page(backend: Backend) {
    use atelier::domain::entities::staff_users;

    let app = TestApp::spawn_with(backend, |config| {
        config.jobs.retry_base_ms = 50;
        config.jobs.retry_cap_ms = 100;
        config.jobs.fulfilment_retry_secs = 1;
    })
    .await;
    app.signed_in_user("ivy@example.com", "Ivy Stuck").await;
    let officer = Officer::sign_in(&app, "officer@atelier.test", StaffRole::Compliance).await;
    // Ivy also works here under the same address: the verification scan finds it.
    atelier::domain::staff::accounts::create_staff(
        &app.db,
        "ivy@example.com",
        "Ivy at work",
        STAFF_PASSWORD,
        StaffRole::Support,
        atelier::domain::ops::audit::Actor::System,
        &atelier::domain::RequestMeta::default(),
    )
    .await
    .unwrap();
    let request = ask_on_portal(&app, "ivy@example.com", "ERASE").await;
    officer.approve(&app, request.id).await;
    let page = format!("/staff/requests/{}", request.id);
    let html = eventually(30, "the request page to say fulfilment stopped", || async {
        let (_, html) = officer.page(&app, &page).await;
        if html.contains("Fulfilment stopped") {
            Ok(html)
        } else {
            Err(html.chars().take(200).collect())
        }
    })
    .await;
    assert!(html.contains("personal data left in"), "{html}");
    assert!(html.contains("Retry fulfilment now"));

    staff_users::Entity::delete_many()
        .filter(staff_users::Column::Email.eq("ivy@example.com"))
        .exec(&app.db)
        .await
        .unwrap();
    let (status, html) = officer.act(&app, request.id, "retry-fulfilment", &[]).await;
    assert_eq!(status, 200);
    assert!(html.contains("Fulfilment queued to run again"), "{html}");
    settles(&app, request.id, &["COMPLETED"]).await;
    let (status, html) = officer.act(&app, request.id, "retry-fulfilment", &[]).await;
    assert_eq!(status, 422, "nothing left to retry");
    assert!(html.contains("no fulfilment waiting"));
    app.stop().await;
}
on_both_databases!(a_stuck_fulfilment_says_so_and_is_retried_from_its_page);

async fn a_failing_daily_job_runs_again_the_next_day(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let today = chrono::Utc::now().date_naive();
    let tomorrow = today + chrono::Days::new(1);
    // An expired package whose "file" the store cannot remove makes today's purge fail.
    let exports = app.data_dir().join("exports");
    let stuck = exports.join("stuck.zip");
    std::fs::create_dir_all(stuck.join("inside")).unwrap();
    let xena = app.signed_in_user("xena@example.com", "Xena").await;
    let request = ask_in_app(&app, &xena, "xena@example.com", EXPORT, "requestDataExport").await;
    use sea_orm::{ActiveModelTrait, Set};
    export_packages::ActiveModel {
        id: Set(uuid::Uuid::now_v7()),
        request_id: Set(request),
        storage_key: Set("stuck.zip".into()),
        sha256: Set("0".repeat(64)),
        size_bytes: Set(0),
        expires_at: Set(chrono::Utc::now() - chrono::Duration::days(1)),
        download_count: Set(0),
        created_at: Set(chrono::Utc::now() - chrono::Duration::days(8)),
    }
    .insert(&app.db)
    .await
    .unwrap();
    // Today's run (queued at start) went well and queued tomorrow's; forget that one, so
    // only a failing run can queue it again. Then yesterday's missed run falls due.
    eventually(20, "today's retention run", || async {
        let done = job_rows::Entity::find()
            .filter(job_rows::Column::Kind.eq(jobs::kind::RETENTION))
            .filter(job_rows::Column::DoneAt.is_not_null())
            .count(&app.db)
            .await
            .unwrap();
        if done >= 1 {
            Ok(())
        } else {
            Err("not yet".to_string())
        }
    })
    .await;
    job_rows::Entity::delete_many()
        .filter(job_rows::Column::Kind.eq(jobs::kind::RETENTION))
        .filter(job_rows::Column::DoneAt.is_null())
        .exec(&app.db)
        .await
        .unwrap();
    let yesterday = today - chrono::Days::new(1);
    jobs::schedule_daily(
        &app.db,
        jobs::kind::RETENTION,
        yesterday,
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    let failed = eventually(20, "the retention run to fail", || async {
        let runs = job_rows::Entity::find()
            .filter(job_rows::Column::Kind.eq(jobs::kind::RETENTION))
            .filter(job_rows::Column::LastError.is_not_null())
            .all(&app.db)
            .await
            .unwrap();
        runs.into_iter()
            .next()
            .ok_or_else(|| "no failure yet".to_string())
    })
    .await;
    assert!(failed.done_at.is_none());
    // Tomorrow's run exists although this one failed.
    let next = job_rows::Entity::find()
        .filter(job_rows::Column::Kind.eq(jobs::kind::RETENTION))
        .filter(job_rows::Column::Payload.contains(tomorrow.to_string()))
        .one(&app.db)
        .await
        .unwrap()
        .expect("tomorrow's retention run is scheduled");
    assert!(next.done_at.is_none() && next.run_at > chrono::Utc::now());

    // Tomorrow comes (its run falls due) and the store works again: it runs and purges.
    std::fs::remove_dir_all(&stuck).unwrap();
    job_rows::Entity::update_many()
        .col_expr(
            job_rows::Column::RunAt,
            sea_orm::sea_query::Expr::value(chrono::Utc::now()),
        )
        .filter(job_rows::Column::Id.eq(next.id))
        .exec(&app.db)
        .await
        .unwrap();
    eventually(20, "tomorrow's run to finish", || async {
        let row = job_rows::Entity::find_by_id(next.id)
            .one(&app.db)
            .await
            .unwrap()
            .unwrap();
        row.done_at.map(|_| ()).ok_or_else(|| format!("{row:?}"))
    })
    .await;
    assert_eq!(
        export_packages::Entity::find()
            .count(&app.db)
            .await
            .unwrap(),
        0
    );
    app.stop().await;
}
on_both_databases!(a_failing_daily_job_runs_again_the_next_day);

async fn a_reconnect_revokes_the_token_it_replaces(backend: Backend) {
    let fake = crate::fake_provider::FakeProvider::start().await;
    let app = TestApp::spawn_with(backend, |config| {
        config.providers.linkedin = fake.settings();
    })
    .await;
    let lea = app.signed_in_user("lea@example.com", "Lea Linked").await;
    let workspace = app.create_workspace(&lea, "Lea Studio").await;
    connect_linkedin(&app, &lea, &workspace).await;
    let first: Vec<String> = fake.issued();
    connect_linkedin(&app, &lea, &workspace).await;
    let first_access = first
        .iter()
        .find(|t| t.starts_with("fake-access"))
        .expect("an access token was issued")
        .clone();
    eventually(20, "the replaced token to be revoked", || async {
        let revoked = fake.revoked();
        if revoked.contains(&first_access) {
            Ok(())
        } else {
            Err(format!("{revoked:?}"))
        }
    })
    .await;
    // The new one still works: it was not revoked.
    let current: Vec<String> = fake
        .issued()
        .into_iter()
        .filter(|t| !first.contains(t) && t.starts_with("fake-access"))
        .collect();
    assert_eq!(current.len(), 1);
    assert!(!fake.revoked().contains(&current[0]));
    app.stop().await;
}
on_both_databases!(a_reconnect_revokes_the_token_it_replaces);

async fn in_app_requests_are_limited_per_person(backend: Backend) {
    let app = TestApp::spawn_with(backend, |config| config.privacy.app_requests_per_day = 2).await;
    let kim = app.signed_in_user("kim@example.com", "Kim Clicks").await;
    let officer = Officer::sign_in(&app, "officer@atelier.test", StaffRole::Compliance).await;
    let seen = app.inbox.to("kim@example.com").len();
    // Twenty clicks at once: one request, one email.
    let asks = (0..20).map(|_| app.gql(Some(&kim.access), EXPORT, json!({})));
    let answers = futures::future::join_all(asks).await;
    let ids: std::collections::BTreeSet<String> = answers
        .iter()
        .map(|a| {
            a["data"]["requestDataExport"]["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(ids.len(), 1, "{answers:?}");
    app.inbox
        .wait_for_new("kim@example.com", seen, "confirm your privacy request")
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(app.inbox.to("kim@example.com").len(), seen + 1);

    // Refused by staff, it may be asked for again — up to the day's limit.
    let refuse = |id: uuid::Uuid| {
        let (app, officer) = (&app, &officer);
        async move {
            officer
                .act(app, id, "verify-identity", &[("method", "Signed in")])
                .await;
            let (status, html) = officer
                .act(app, id, "reject", &[("reason", "Asked twice by mistake.")])
                .await;
            assert_eq!(status, 200, "{html}");
        }
    };
    let first: uuid::Uuid = ids.iter().next().unwrap().parse().unwrap();
    confirm_by_link(&app, "kim@example.com", seen).await;
    refuse(first).await;
    let second = ask_in_app(&app, &kim, "kim@example.com", EXPORT, "requestDataExport").await;
    assert_ne!(second, first);
    refuse(second).await;
    // The refusal's own emails arrive first.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let before = app.inbox.to("kim@example.com").len();
    let third = app.gql(Some(&kim.access), EXPORT, json!({})).await;
    assert_eq!(
        error_code(&third).as_deref(),
        Some("RATE_LIMITED"),
        "{third}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        app.inbox.to("kim@example.com").len(),
        before,
        "no email for a refusal"
    );
    app.stop().await;
}
on_both_databases!(in_app_requests_are_limited_per_person);

async fn a_status_link_asked_after_the_erasure_says_the_request_is_closed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let erin = app.signed_in_user("erin@example.com", "Erin Erased").await;
    app.create_workspace(&erin, "Erin Studio").await;
    let officer = Officer::sign_in(&app, "officer@atelier.test", StaffRole::Compliance).await;
    let erase = erase_leaving_nothing(
        &app,
        &officer,
        &erin,
        "erin@example.com",
        &["erin@example.com", "Erin Erased"],
    )
    .await;
    let reference = atelier::domain::entities::privacy_requests::Entity::find_by_id(erase)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap()
        .reference;

    // Weeks later she asks for the status: the form says where the link goes, and the
    // link comes to the address she typed although the request no longer holds it.
    let client = browser();
    let (_, form) = get(&client, format!("{}/privacy/requests/status", app.address)).await;
    assert!(
        form.contains("the email address you gave with it"),
        "{form}"
    );
    let seen = app.inbox.to("erin@example.com").len();
    let response = client
        .post(format!("{}/privacy/requests/status", app.address))
        .form(&[
            ("reference", reference.as_str()),
            ("email", "Erin@Example.com"),
            ("csrf", hidden(&form, "csrf").as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("to the address of the request"));
    app.pump_jobs().await;
    let mail = app
        .inbox
        .wait_for_new("erin@example.com", seen, "is closed")
        .await;
    assert!(
        mail.decoded().contains("we carried out the erasure"),
        "{}",
        mail.decoded()
    );
    let (status, page) = get(
        &client,
        format!(
            "{}/privacy/requests/status?token={}",
            app.address,
            mail.token()
        ),
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        page.contains("Completed") && page.contains("We erased your data"),
        "{page}"
    );
    assert!(!page.contains("Cancel this request"));

    // Another address typed with her reference gets nothing, as before.
    let (_, form) = get(&client, format!("{}/privacy/requests/status", app.address)).await;
    client
        .post(format!("{}/privacy/requests/status", app.address))
        .form(&[
            ("reference", reference.as_str()),
            ("email", "mallory@example.com"),
            ("csrf", hidden(&form, "csrf").as_str()),
        ])
        .send()
        .await
        .unwrap();
    app.pump_jobs().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(app.inbox.to("mallory@example.com").is_empty());
    app.stop().await;
}
on_both_databases!(a_status_link_asked_after_the_erasure_says_the_request_is_closed);
