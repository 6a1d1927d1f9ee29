//! The job runner: claims due jobs, runs the handler for their kind, and records the
//! outcome. Kinds run in lanes (`jobs::Lane`: mail, delivery, publishing, background),
//! each with its own workers, so slow webhook endpoints or platforms never hold up an
//! email. It stops claiming when asked; a job in flight has a grace period to finish,
//! after which it is given back for another runner.

use std::sync::Arc;
use std::time::Duration;

use sea_orm::DatabaseConnection;
use tokio::sync::watch;
use uuid::Uuid;

use crate::config::JobsConfig;
use crate::crypto::vault::Vault;
use crate::domain::entities::jobs as job_rows;
use crate::domain::{ops::jobs, ops::outbox, privacy, staff::dead_jobs};
use crate::mail::Mailer;

/// How many jobs one `run_due` takes on before it returns.
const BATCH: usize = 10;

/// Completes once `shutdown` turns true; never, when its sender is gone (nobody can ask
/// to stop any more).
async fn stopped(mut shutdown: watch::Receiver<bool>) {
    if shutdown.wait_for(|stop| *stop).await.is_err() {
        std::future::pending::<()>().await;
    }
}

#[derive(Clone)]
pub struct JobRunner {
    db: DatabaseConnection,
    vault: Vault,
    mailer: Arc<Mailer>,
    config: JobsConfig,
    /// When failed jobs are retried and given up.
    policy: jobs::RetryPolicy,
    /// Where export packages are stored.
    exports: crate::storage::MediaStore,
    /// The platforms (for publishing, renewals, revocations and syncs) and the media
    /// store (erasure deletes objects, exports copy them).
    publisher: crate::domain::channels::publishing::Publisher,
    /// How long before expiry access tokens are renewed.
    refresh_before_secs: u64,
    /// How often each channel's metrics are pulled.
    sync_every_secs: u64,
    /// Where changes this runner makes are announced to live subscriptions.
    live: crate::live::LiveBus,
    /// Webhook deliveries: what the outbound guard lets through, and when an endpoint
    /// that keeps failing is turned off.
    webhooks: crate::config::WebhooksConfig,
    /// Jobs in hand per workspace (of those that name one), shared by this instance's
    /// lanes: the delivery lane passes over a workspace that holds its share.
    in_flight: Arc<std::sync::Mutex<std::collections::HashMap<Uuid, usize>>>,
}

/// A job's place in its workspace's count of jobs in hand, given back when dropped.
struct InFlight {
    counts: Arc<std::sync::Mutex<std::collections::HashMap<Uuid, usize>>>,
    workspace_id: Uuid,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = counts.get_mut(&self.workspace_id) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                counts.remove(&self.workspace_id);
            }
        }
    }
}

impl JobRunner {
    /// A runner with the application's configuration (job timing, how early tokens are
    /// renewed) and its services (the export packages' store among them).
    pub fn new(
        db: DatabaseConnection,
        vault: Vault,
        mailer: Arc<Mailer>,
        config: &crate::config::Config,
        publisher: crate::domain::channels::publishing::Publisher,
        exports: crate::storage::MediaStore,
        live: crate::live::LiveBus,
    ) -> Self {
        Self {
            db,
            vault,
            mailer,
            config: config.jobs.clone(),
            policy: config.jobs.retry_policy(),
            exports,
            publisher,
            refresh_before_secs: config.providers.refresh_before_secs,
            sync_every_secs: config.providers.sync_interval_secs,
            live,
            webhooks: config.webhooks.clone(),
            in_flight: Arc::default(),
        }
    }

    /// The workspaces holding their share of `lane`'s workers now (only the delivery
    /// lane bounds one).
    fn full_workspaces(&self, lane: jobs::Lane) -> Vec<Uuid> {
        if lane != jobs::Lane::Delivery {
            return Vec::new();
        }
        let share = self.webhooks.max_in_flight_per_workspace.max(1);
        let counts = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        counts
            .iter()
            .filter(|(_, count)| **count >= share)
            .map(|(workspace, _)| *workspace)
            .collect()
    }

    /// Counts a claimed job against its workspace until the returned place is dropped.
    fn hold(&self, job: &job_rows::Model) -> Option<InFlight> {
        let workspace_id = job.workspace_id?;
        *self
            .in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(workspace_id)
            .or_default() += 1;
        Some(InFlight {
            counts: self.in_flight.clone(),
            workspace_id,
        })
    }

    /// Tells live subscriptions about the draft a publishing job is for.
    async fn announce_draft(&self, payload: &str) {
        use crate::domain::entities::drafts;
        use sea_orm::{EntityTrait, QuerySelect};
        let Some(draft_id) = crate::domain::content::schedule::draft_of(payload) else {
            return;
        };
        let workspace: Result<Option<Uuid>, _> = drafts::Entity::find_by_id(draft_id)
            .select_only()
            .column(drafts::Column::WorkspaceId)
            .into_tuple()
            .one(&self.db)
            .await;
        match workspace {
            Ok(Some(workspace_id)) => {
                self.live
                    .publish(crate::live::LiveEvent::DraftChanged {
                        workspace_id,
                        draft_id,
                    })
                    .await
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, %draft_id, "could not announce a published draft"),
        }
    }

    /// Sends one webhook message through the outbound guard and records the attempt; an
    /// error asks the queue to try again after its backoff.
    async fn deliver_webhook(&self, payload: &str) -> anyhow::Result<()> {
        use crate::domain::workspace::webhooks::{self, Attempt};
        use crate::outbound::{self, OutboundError};
        let Some(message) = webhooks::prepare(&self.db, &self.vault, payload).await? else {
            return Ok(());
        };
        let started = std::time::Instant::now();
        let sent = outbound::post(
            &message.url,
            &message.headers,
            message.body.clone(),
            &self.webhooks.policy(),
        )
        .await;
        let took = started.elapsed().as_secs();
        let attempt = match sent {
            Ok(status)
                if (200..300).contains(&status) && took >= self.webhooks.slow_after_secs.max(1) =>
            {
                Attempt::Slow { status, secs: took }
            }
            Ok(status) if (200..300).contains(&status) => Attempt::Delivered(status),
            Ok(status) => Attempt::Failed {
                status: Some(status),
                error: format!("the endpoint answered {status}"),
            },
            Err(OutboundError::Refused(why)) => Attempt::Failed {
                status: None,
                error: format!("refused: {why}"),
            },
            Err(OutboundError::Failed(why)) => Attempt::Failed {
                status: None,
                error: why,
            },
        };
        let error = match &attempt {
            Attempt::Failed { error, .. } => Some(error.clone()),
            Attempt::Delivered(_) | Attempt::Slow { .. } => None,
        };
        let retry = webhooks::record_attempt(
            &self.db,
            &self.vault,
            &message.delivery,
            attempt,
            self.webhooks.disable_after_failures.max(1),
        )
        .await?;
        match error {
            Some(error) if retry => anyhow::bail!("webhook delivery failed: {error}"),
            _ => Ok(()),
        }
    }

    /// Runs until `shutdown` turns true: every lane with its own workers
    /// (`jobs.*_workers`), and housekeeping beside them. Each lane stops claiming when
    /// asked to and lets the jobs in hand finish (each within its grace period).
    pub async fn run(self, shutdown: watch::Receiver<bool>) {
        let mut lanes = tokio::task::JoinSet::new();
        for lane in jobs::Lane::ALL {
            lanes.spawn(self.clone().run_lane(lane, shutdown.clone()));
        }
        lanes.spawn(self.clone().keep_house(shutdown));
        while lanes.join_next().await.is_some() {}
        tracing::info!("job runner stopped");
    }

    /// One lane: claims its next due job whenever one of its workers is free, runs it
    /// beside the others, and waits a poll interval when none is due. One claimer per
    /// lane, so an idle lane asks the database once per interval however many workers
    /// it has.
    async fn run_lane(self, lane: jobs::Lane, mut shutdown: watch::Receiver<bool>) {
        let idle = Duration::from_millis(self.config.poll_interval_ms.max(10));
        let length = chrono::Duration::seconds(self.config.lease_secs.max(1) as i64);
        let workers = Arc::new(tokio::sync::Semaphore::new(self.config.workers(lane)));
        let mut running = tokio::task::JoinSet::new();
        loop {
            while running.try_join_next().is_some() {}
            if *shutdown.borrow() {
                break;
            }
            let worker = tokio::select! {
                worker = workers.clone().acquire_owned() => match worker {
                    Ok(worker) => worker,
                    Err(_) => break,
                },
                () = stopped(shutdown.clone()) => break,
            };
            let full = self.full_workspaces(lane);
            match jobs::claim_next(&self.db, length, Some(lane), &full).await {
                Ok(Some((job, lease))) => {
                    let runner = self.clone();
                    let stop = shutdown.clone();
                    let place = self.hold(&job);
                    running.spawn(async move {
                        runner.run_leased(&job, &lease, length, &stop).await;
                        drop(place);
                        drop(worker);
                    });
                    continue;
                }
                Ok(None) => drop(worker),
                Err(e) => {
                    drop(worker);
                    tracing::error!(lane = lane.name(), error = ?e, "job runner could not claim a job");
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(idle) => {}
                changed = shutdown.changed() => {
                    if changed.is_err() {
                        tokio::time::sleep(idle).await;
                    }
                }
            }
        }
        while running.join_next().await.is_some() {}
    }

    /// Links new audit events into the chain every poll interval, and runs the
    /// maintenance pass every `maintenance_interval_secs`.
    async fn keep_house(self, mut shutdown: watch::Receiver<bool>) {
        let idle = Duration::from_millis(self.config.poll_interval_ms.max(10));
        let maintenance_every = Duration::from_secs(self.config.maintenance_interval_secs.max(1));
        let mut next_maintenance = tokio::time::Instant::now();
        loop {
            if *shutdown.borrow() {
                break;
            }
            if tokio::time::Instant::now() >= next_maintenance {
                self.maintain().await;
                next_maintenance = tokio::time::Instant::now() + maintenance_every;
            }
            if let Err(e) = crate::domain::ops::audit::seal(&self.db).await {
                tracing::error!(error = ?e, "could not seal audit events into the chain");
            }
            tokio::select! {
                _ = tokio::time::sleep(idle) => {}
                changed = shutdown.changed() => {
                    if changed.is_err() {
                        tokio::time::sleep(idle).await;
                    }
                }
            }
        }
    }

    /// Claims and runs due jobs of any lane one at a time, up to a batch; returns how
    /// many ran (for tests and tools that drive jobs themselves). It stops claiming when
    /// asked to shut down, so nothing is left claimed but unstarted.
    pub async fn run_due(&self, shutdown: &watch::Receiver<bool>) -> anyhow::Result<usize> {
        // Audit events written since the last pass are linked into the chain first.
        if let Err(e) = crate::domain::ops::audit::seal(&self.db).await {
            tracing::error!(error = ?e, "could not seal audit events into the chain");
        }
        let length = chrono::Duration::seconds(self.config.lease_secs.max(1) as i64);
        let mut ran = 0;
        while ran < BATCH {
            if *shutdown.borrow() {
                break;
            }
            let Some((job, lease)) = jobs::claim_next(&self.db, length, None, &[]).await? else {
                break;
            };
            ran += 1;
            self.run_leased(&job, &lease, length, shutdown).await;
        }
        Ok(ran)
    }

    /// Runs one claimed job, renewing its lease every third of its length while it
    /// works, then records the outcome. A job whose lease is lost (this runner was cut
    /// off longer than a lease, and another took the job over) is dropped where it
    /// stands: its new holder runs and records it. Once shutdown is asked for, the job
    /// has the grace period to finish; past it, it is dropped and given back, so the
    /// process stops in bounded time and another runner takes the job at once.
    async fn run_leased(
        &self,
        job: &job_rows::Model,
        lease: &jobs::Lease,
        length: chrono::Duration,
        shutdown: &watch::Receiver<bool>,
    ) {
        let every = length
            .to_std()
            .map(|l| l / 3)
            .unwrap_or(Duration::from_secs(1))
            .max(Duration::from_millis(50));
        // The heartbeat runs beside the work, both polled together: on SQLite a beat may
        // wait for the one writer connection while the job's own transaction holds it,
        // and the job must go on meanwhile to let it go.
        let heartbeat = async {
            let mut beat = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            loop {
                beat.tick().await;
                match jobs::heartbeat(&self.db, lease, length).await {
                    Ok(true) => {}
                    Ok(false) => return,
                    // The lease still holds until it runs out; the next beat tries again.
                    Err(e) => {
                        tracing::warn!(job = %job.id, error = %e, "could not renew a job's lease")
                    }
                }
            }
        };
        let grace = Duration::from_secs(self.config.shutdown_grace_secs);
        let mut stopping = shutdown.clone();
        let out_of_grace = async move {
            // A runner whose shutdown sender is gone is never asked to stop.
            if stopping.wait_for(|stop| *stop).await.is_err() {
                std::future::pending::<()>().await;
            }
            tokio::time::sleep(grace).await;
        };
        let outcome = tokio::select! {
            outcome = self.handle(job) => outcome,
            () = heartbeat => {
                tracing::warn!(job = %job.id, kind = %job.kind, "job lease lost: another runner holds the job now; stopping here");
                return;
            }
            () = out_of_grace => {
                tracing::warn!(job = %job.id, kind = %job.kind, grace_secs = grace.as_secs(), "shutting down: the job in hand did not finish within the grace period; giving it back");
                if let Err(e) = jobs::give_back(&self.db, lease).await {
                    tracing::error!(job = %job.id, error = ?e, "could not give a job back; it returns when its lease runs out");
                }
                return;
            }
        };
        let recorded = match &outcome {
            Ok(()) => jobs::complete(&self.db, lease).await.map(|held| {
                if !held {
                    tracing::warn!(job = %job.id, kind = %job.kind, "job finished after its lease was lost; its new holder records it");
                }
            }),
            Err(e) => {
                tracing::warn!(job = %job.id, kind = %job.kind, attempt = job.attempts, error = %format!("{e:#}"), "job failed");
                self.record_failure(job, lease, &format!("{e:#}")).await
            }
        };
        if let Err(e) = recorded {
            tracing::error!(job = %job.id, error = ?e, "could not record a job's outcome");
        }
    }

    /// Records a failed attempt. A job given up is marked dead, its webhook delivery (if
    /// any) failed, and its death reported to the ADMINs and the audit log in one
    /// transaction: nobody sees a dead job whose report is still to come, and a crash in
    /// between cannot leave a death unreported.
    async fn record_failure(
        &self,
        job: &job_rows::Model,
        lease: &jobs::Lease,
        error: &str,
    ) -> crate::error::DomainResult<()> {
        use sea_orm::TransactionTrait;
        let txn = self.db.begin().await?;
        match jobs::fail(&txn, job, lease, error, &self.policy).await? {
            jobs::Failure::Dead => {
                tracing::error!(job = %job.id, kind = %job.kind, attempts = job.attempts, "job given up after its retry horizon");
                if job.kind == jobs::kind::DELIVER_WEBHOOK {
                    crate::domain::workspace::webhooks::give_up(&txn, &job.payload).await?;
                }
                dead_jobs::report_death(&txn, &self.vault, job).await?;
            }
            jobs::Failure::Retrying | jobs::Failure::LeaseLost => {}
        }
        txn.commit().await?;
        Ok(())
    }

    /// Housekeeping that is safe to run on every instance at once: each step is a single
    /// idempotent update.
    async fn maintain(&self) {
        let before = chrono::Duration::seconds(self.refresh_before_secs as i64);
        match crate::domain::channels::integrations::schedule_refreshes(&self.db, before).await {
            Ok(0) => {}
            Ok(count) => tracing::info!(count, "channel token renewals queued"),
            Err(e) => tracing::error!(error = ?e, "could not queue channel token renewals"),
        }
        // 0 turns the periodic sync off (syncIntegration still works).
        let every = chrono::Duration::seconds(self.sync_every_secs as i64);
        let scheduled = match self.sync_every_secs {
            0 => Ok(0),
            _ => crate::domain::channels::sync::schedule(&self.db, every).await,
        };
        match scheduled {
            Ok(0) => {}
            Ok(count) => tracing::info!(count, "channel metric syncs queued"),
            Err(e) => tracing::error!(error = ?e, "could not queue channel metric syncs"),
        }
        if let Err(e) = crate::domain::identity::rate_limit::purge_expired(&self.db).await {
            tracing::error!(error = ?e, "could not purge expired rate-limit counters");
        }
        match privacy::requests::expire_unverified(&self.db, crate::domain::now()).await {
            Ok(0) => {}
            Ok(count) => tracing::info!(count, "expired unconfirmed privacy requests"),
            Err(e) => tracing::error!(error = ?e, "could not expire unconfirmed privacy requests"),
        }
    }

    /// Runs a job's handler. Long because it is a table: one arm per `JobKind`, each a
    /// call into the domain with what the runner holds.
    async fn handle(&self, job: &job_rows::Model) -> anyhow::Result<()> {
        use jobs::JobKind;
        // No catch-all arm: a kind registered in the domain has a handler here.
        let Some(kind) = JobKind::parse(&job.kind) else {
            anyhow::bail!("no handler for job kind {:?}", job.kind);
        };
        match kind {
            JobKind::SendEmail => {
                let email = outbox::open(&self.vault, &job.payload)?;
                self.mailer.send(&email, job.id).await
            }
            JobKind::PasswordReset => {
                crate::domain::identity::accounts::send_password_reset(
                    &self.db,
                    &self.vault,
                    &job.payload,
                )
                .await
            }
            JobKind::FulfilPrivacyRequest => {
                privacy::fulfil::run_job(
                    &self.db,
                    &self.vault,
                    &self.exports,
                    &self.publisher.media,
                    &job.payload,
                )
                .await
            }
            JobKind::Retention => {
                // Tomorrow's run first: a failure today must not stop it.
                jobs::schedule_next_day(&self.db, jobs::kind::RETENTION).await?;
                let purged = crate::domain::upkeep::retention::purge(
                    &self.db,
                    &self.exports,
                    crate::domain::now(),
                )
                .await?;
                tracing::info!(?purged, "retention purge done");
                Ok(())
            }
            JobKind::DeadlineReminders => {
                jobs::schedule_next_day(&self.db, jobs::kind::DEADLINE_REMINDERS).await?;
                let sent = privacy::review::send_deadline_reminders(
                    &self.db,
                    &self.vault,
                    crate::domain::now(),
                )
                .await?;
                tracing::info!(sent, "deadline reminders queued");
                Ok(())
            }
            JobKind::RefreshTokens => {
                crate::domain::channels::integrations::run_refresh(
                    &self.db,
                    &self.vault,
                    self.publisher.providers.as_ref(),
                    &job.payload,
                )
                .await
            }
            JobKind::RevokeTokens => {
                crate::domain::channels::integrations::run_revocation(
                    &self.vault,
                    self.publisher.providers.as_ref(),
                    &job.payload,
                )
                .await
            }
            JobKind::MentionDigest => {
                let mentions = crate::domain::content::comments::send_mention_digest(
                    &self.db,
                    &self.vault,
                    &job.payload,
                )
                .await?;
                tracing::debug!(mentions, "mention digest queued");
                Ok(())
            }
            JobKind::SyncMetrics => {
                crate::domain::channels::sync::run(
                    &self.db,
                    &self.vault,
                    self.publisher.providers.as_ref(),
                    &job.payload,
                )
                .await
            }
            JobKind::PublishDraft => {
                let last_try = self.policy.is_last_try(job, crate::domain::now());
                let ran = crate::domain::channels::publishing::run(
                    &self.db,
                    &self.vault,
                    &self.publisher,
                    &job.payload,
                    last_try,
                )
                .await;
                // Whatever came of it (published, failed, to be retried), subscribers
                // see the draft as it now is.
                self.announce_draft(&job.payload).await;
                ran
            }
            JobKind::DeliverWebhook => self.deliver_webhook(&job.payload).await,
        }
    }
}
