//! SeaORM entities in the shape `sea-orm-cli generate entity` writes them. Behaviour lives
//! in the sibling domain modules, never here.

pub mod audit_events;
pub mod comments;
pub mod draft_generations;
pub mod draft_media;
pub mod draft_revisions;
pub mod draft_targets;
pub mod draft_workflow;
pub mod drafts;
pub mod export_packages;
pub mod former_identifiers;
pub mod integration_tokens;
pub mod integrations;
pub mod invitations;
pub mod jobs;
pub mod media;
pub mod memberships;
pub mod mention_notifications;
pub mod metric_points;
pub mod oauth_states;
pub mod one_time_tokens;
pub mod pending_connections;
pub mod person_keys;
pub mod privacy_execution_steps;
pub mod privacy_policies;
pub mod privacy_request_events;
pub mod privacy_requests;
pub mod publish_attempts;
pub mod rate_limits;
pub mod sessions;
pub mod staff_sessions;
pub mod staff_users;
pub mod sync_states;
pub mod users;
pub mod workspaces;
