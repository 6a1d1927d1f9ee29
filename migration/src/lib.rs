//! Schema migrations for Atelier, one file per change, each with `up` and `down`.
//! Names are `m<date>_<number>_<what>` so they sort in the order they were written.

pub use sea_orm_migration::prelude::*;

mod m20261123_000001_accounts;
mod m20261123_000002_workspaces;
mod m20261123_000003_audit_and_jobs;
mod m20261123_000004_privacy;
mod m20261123_000005_integrations;
mod m20261123_000006_staff;
mod m20261123_000007_execution_steps;
mod m20261123_000008_export_packages;
mod m20261123_000009_drafts;
mod m20261123_000010_workspace_settings;
mod m20261123_000011_collaboration;
mod m20261123_000012_comment_summaries;
mod m20261123_000013_oauth_states;
mod m20261124_000014_publishing_and_analytics;
mod m20261124_000015_person_keys;
mod m20261201_000016_privacy_sequences;
mod m20261201_000017_meta_identity;
mod m20261201_000018_connect_browser;
mod m20261201_000019_job_leases;
mod m20261201_000020_rate_limits;
mod m20261201_000021_audit_sealer;
mod m20261201_000022_webhooks;
mod m20261201_000023_review_links;
mod m20261205_000024_comment_counts;
mod m20261207_000025_job_workspaces_and_audit_actors;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_accounts::Migration),
            Box::new(m20261123_000002_workspaces::Migration),
            Box::new(m20261123_000003_audit_and_jobs::Migration),
            Box::new(m20261123_000004_privacy::Migration),
            Box::new(m20261123_000005_integrations::Migration),
            Box::new(m20261123_000006_staff::Migration),
            Box::new(m20261123_000007_execution_steps::Migration),
            Box::new(m20261123_000008_export_packages::Migration),
            Box::new(m20261123_000009_drafts::Migration),
            Box::new(m20261123_000010_workspace_settings::Migration),
            Box::new(m20261123_000011_collaboration::Migration),
            Box::new(m20261123_000012_comment_summaries::Migration),
            Box::new(m20261123_000013_oauth_states::Migration),
            Box::new(m20261124_000014_publishing_and_analytics::Migration),
            Box::new(m20261124_000015_person_keys::Migration),
            Box::new(m20261201_000016_privacy_sequences::Migration),
            Box::new(m20261201_000017_meta_identity::Migration),
            Box::new(m20261201_000018_connect_browser::Migration),
            Box::new(m20261201_000019_job_leases::Migration),
            Box::new(m20261201_000020_rate_limits::Migration),
            Box::new(m20261201_000021_audit_sealer::Migration),
            Box::new(m20261201_000022_webhooks::Migration),
            Box::new(m20261201_000023_review_links::Migration),
            Box::new(m20261205_000024_comment_counts::Migration),
            Box::new(m20261207_000025_job_workspaces_and_audit_actors::Migration),
        ]
    }
}
