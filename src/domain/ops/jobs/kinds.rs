//! Every kind of job this build runs, registered once: its name in the `jobs` table, the
//! lane it runs in, how long and how often it is retried, whether it recurs daily, and
//! how `/staff/jobs` describes it. The runner's handler matches `JobKind` without a
//! catch-all, so a kind added here does not compile until it has its handler.

use chrono::Duration;
use sea_orm::{ColumnTrait, Condition};

use super::RetryPolicy;
use crate::domain::entities::jobs;

/// How often a publishing job may try: each try may reach the platform, so it stops
/// after a count whatever the horizon (its last try settles the draft).
pub const PUBLISH_MAX_ATTEMPTS: i32 = 10;

/// No count limit: the retry horizon alone decides when the job is given up.
pub const UNLIMITED_ATTEMPTS: i32 = i32::MAX;

/// A kind of job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JobKind {
    /// An email from the outbox, its contents sealed.
    SendEmail,
    /// A password reset asked for: the account looked up, a link emailed if it exists.
    PasswordReset,
    FulfilPrivacyRequest,
    Retention,
    DeadlineReminders,
    MentionDigest,
    RevokeTokens,
    RefreshTokens,
    PublishDraft,
    SyncMetrics,
    DeliverWebhook,
}

/// How long after its first failure a kind keeps being retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Horizon {
    /// The mail horizon (`ATELIER_JOBS__MAIL_RETRY_SECS`, 72 hours).
    Mail,
    /// The fulfilment horizon of a privacy request.
    Fulfilment,
    /// The horizon of every other kind (`ATELIER_JOBS__RETRY_SECS`).
    Other,
    /// The other horizon, but never longer than this many minutes.
    OtherAtMostMinutes(i64),
}

/// How a job is described to staff, from the parts of its payload that are in clear.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Described {
    /// "an email (invitation)": the intent from the queued email's clear part.
    Email,
    /// "carrying out privacy request R-…": the request's reference, looked up.
    PrivacyRequest,
    /// These words and the payload's `key`, or `missing` without one.
    WithId {
        words: &'static str,
        key: &'static str,
        missing: &'static str,
    },
    /// Always these words.
    Fixed(&'static str),
}

/// What is registered for a kind.
#[derive(Clone, Copy, Debug)]
pub struct Registration {
    pub name: &'static str,
    pub lane: Lane,
    pub horizon: Horizon,
    /// How many tries at most (`UNLIMITED_ATTEMPTS`: the horizon alone decides).
    pub attempts: i32,
    /// Whether one run exists per day (each run schedules the next).
    pub daily: bool,
    pub described: Described,
}

/// A registration retried by its horizon alone and not recurring.
const fn registered(
    name: &'static str,
    lane: Lane,
    horizon: Horizon,
    described: Described,
) -> Registration {
    Registration {
        name,
        lane,
        horizon,
        attempts: UNLIMITED_ATTEMPTS,
        daily: false,
        described,
    }
}

impl JobKind {
    pub const ALL: [JobKind; 11] = [
        JobKind::SendEmail,
        JobKind::PasswordReset,
        JobKind::FulfilPrivacyRequest,
        JobKind::Retention,
        JobKind::DeadlineReminders,
        JobKind::MentionDigest,
        JobKind::RevokeTokens,
        JobKind::RefreshTokens,
        JobKind::PublishDraft,
        JobKind::SyncMetrics,
        JobKind::DeliverWebhook,
    ];

    /// The one place a kind is described. Long because it is the registry: one entry
    /// per kind, read side by side.
    pub const fn registration(self) -> Registration {
        use Described::{Fixed, WithId};
        match self {
            JobKind::SendEmail => {
                registered("send_email", Lane::Mail, Horizon::Mail, Described::Email)
            }
            // The link it would send lasts an hour.
            JobKind::PasswordReset => registered(
                "password_reset",
                Lane::Mail,
                Horizon::OtherAtMostMinutes(60),
                Fixed("a password reset"),
            ),
            JobKind::FulfilPrivacyRequest => registered(
                "fulfil_privacy_request",
                Lane::Background,
                Horizon::Fulfilment,
                Described::PrivacyRequest,
            ),
            JobKind::Retention => Registration {
                daily: true,
                ..registered(
                    "retention",
                    Lane::Background,
                    Horizon::Other,
                    WithId {
                        words: "the daily retention purge of",
                        key: "day",
                        missing: "",
                    },
                )
            },
            JobKind::DeadlineReminders => Registration {
                daily: true,
                ..registered(
                    "deadline_reminders",
                    Lane::Background,
                    Horizon::Other,
                    WithId {
                        words: "the daily deadline reminders of",
                        key: "day",
                        missing: "",
                    },
                )
            },
            JobKind::MentionDigest => registered(
                "mention_digest",
                Lane::Background,
                Horizon::Other,
                Fixed("a member's mention digest"),
            ),
            JobKind::RevokeTokens => registered(
                "revoke_tokens",
                Lane::Publishing,
                Horizon::Other,
                WithId {
                    words: "revoking a disconnected channel's tokens at",
                    key: "provider",
                    missing: "the platform",
                },
            ),
            JobKind::RefreshTokens => registered(
                "refresh_tokens",
                Lane::Publishing,
                Horizon::Other,
                WithId {
                    words: "renewing the token of channel",
                    key: "integration_id",
                    missing: "",
                },
            ),
            JobKind::PublishDraft => Registration {
                attempts: PUBLISH_MAX_ATTEMPTS,
                ..registered(
                    "publish_draft",
                    Lane::Publishing,
                    Horizon::Other,
                    WithId {
                        words: "publishing draft",
                        key: "draft_id",
                        missing: "",
                    },
                )
            },
            // A later sync slot reads the same days again: an hour of trying is enough.
            JobKind::SyncMetrics => registered(
                "sync_metrics",
                Lane::Background,
                Horizon::OtherAtMostMinutes(60),
                WithId {
                    words: "reading the metrics of channel",
                    key: "integration_id",
                    missing: "",
                },
            ),
            JobKind::DeliverWebhook => registered(
                "deliver_webhook",
                Lane::Delivery,
                Horizon::Other,
                WithId {
                    words: "delivering webhook event",
                    key: "delivery_id",
                    missing: "",
                },
            ),
        }
    }

    /// The kind's name in the `jobs` table.
    pub const fn name(self) -> &'static str {
        self.registration().name
    }

    /// The kind a row names; `None` for a kind a newer build queued.
    pub fn parse(name: &str) -> Option<JobKind> {
        JobKind::ALL.into_iter().find(|kind| kind.name() == name)
    }

    /// How long after its first failure this kind is given up.
    pub fn horizon(self, policy: &RetryPolicy) -> Duration {
        match self.registration().horizon {
            Horizon::Mail => policy.mail,
            Horizon::Fulfilment => policy.fulfilment,
            Horizon::Other => policy.other,
            Horizon::OtherAtMostMinutes(minutes) => policy.other.min(Duration::minutes(minutes)),
        }
    }
}

/// The names of the kinds, for the places that enqueue them and filter rows by them.
pub mod kind {
    use super::JobKind;

    pub const SEND_EMAIL: &str = JobKind::SendEmail.name();
    pub const PASSWORD_RESET: &str = JobKind::PasswordReset.name();
    pub const FULFIL_PRIVACY_REQUEST: &str = JobKind::FulfilPrivacyRequest.name();
    pub const RETENTION: &str = JobKind::Retention.name();
    pub const DEADLINE_REMINDERS: &str = JobKind::DeadlineReminders.name();
    pub const MENTION_DIGEST: &str = JobKind::MentionDigest.name();
    pub const REVOKE_TOKENS: &str = JobKind::RevokeTokens.name();
    pub const REFRESH_TOKENS: &str = JobKind::RefreshTokens.name();
    pub const PUBLISH_DRAFT: &str = JobKind::PublishDraft.name();
    pub const SYNC_METRICS: &str = JobKind::SyncMetrics.name();
    pub const DELIVER_WEBHOOK: &str = JobKind::DeliverWebhook.name();
}

/// The lanes jobs run in, each with its own workers, so that one kind of slow work
/// never holds up another: an email (a verification, a reset link, a breach notice)
/// never waits behind webhook deliveries to slow endpoints, a platform that takes its
/// time to publish, or a long export.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lane {
    /// Emails, and the password-reset job that sends one.
    Mail,
    /// Webhook deliveries to customers' endpoints.
    Delivery,
    /// Talking to the platforms: publishing, token renewals and revocations.
    Publishing,
    /// Everything else: metric syncs, privacy fulfilment, retention, reminders, digests
    /// (and any kind a newer build queued that no lane names).
    Background,
}

impl Lane {
    pub const ALL: [Lane; 4] = [
        Lane::Mail,
        Lane::Delivery,
        Lane::Publishing,
        Lane::Background,
    ];

    /// The names of the kinds registered to this lane.
    fn kinds(self) -> impl Iterator<Item = &'static str> {
        JobKind::ALL
            .into_iter()
            .filter(move |kind| kind.registration().lane == self)
            .map(JobKind::name)
    }

    /// The lane a kind runs in (`Background` for a kind this build does not know).
    pub fn of(job_kind: &str) -> Lane {
        JobKind::parse(job_kind).map_or(Lane::Background, |kind| kind.registration().lane)
    }

    pub fn name(self) -> &'static str {
        match self {
            Lane::Mail => "mail",
            Lane::Delivery => "delivery",
            Lane::Publishing => "publishing",
            Lane::Background => "background",
        }
    }

    /// The rows of this lane's kinds; the background lane also runs kinds it does not
    /// know, so that a row a newer build queued is tried (and given up) rather than
    /// left forever.
    pub(super) fn rows(self) -> Condition {
        match self {
            Lane::Background => {
                let elsewhere: Vec<&str> = Lane::ALL
                    .into_iter()
                    .filter(|lane| *lane != Lane::Background)
                    .flat_map(Lane::kinds)
                    .collect();
                Condition::all().add(jobs::Column::Kind.is_not_in(elsewhere))
            }
            lane => Condition::all().add(jobs::Column::Kind.is_in(lane.kinds())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_parse_back() {
        for kind in JobKind::ALL {
            assert_eq!(JobKind::parse(kind.name()), Some(kind));
        }
        let mut names: Vec<_> = JobKind::ALL.iter().map(|k| k.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), JobKind::ALL.len());
        assert_eq!(JobKind::parse("a_kind_from_a_newer_build"), None);
    }

    #[test]
    fn only_the_daily_kinds_recur() {
        let daily: Vec<_> = JobKind::ALL
            .into_iter()
            .filter(|k| k.registration().daily)
            .collect();
        assert_eq!(daily, [JobKind::Retention, JobKind::DeadlineReminders]);
    }
}
