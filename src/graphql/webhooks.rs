//! Webhooks in the API (workspace ADMINs): endpoints with the events they receive (the
//! signing secret is answered once, when the endpoint is created), their latest
//! deliveries, and redelivery.

use crate::domain::workspace::workspaces::{workspace_of as owner_of, Owned};
use async_graphql::{Context, Enum, InputObject, Object, Result, SimpleObject, ID};
use chrono::{DateTime, Utc};

use super::context::{current_user, meta, state};
use super::errors::gql;
use super::types::parse_id;
use crate::domain::entities::{webhook_deliveries, webhook_endpoints};
use crate::domain::{workspace::webhooks, workspace::workspaces};
use crate::error::DomainError;

/// What an endpoint can be told about.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum WebhookEvent {
    /// `draft.created`
    DraftCreated,
    /// `draft.status_changed`
    DraftStatusChanged,
    /// `draft.published`: every channel or some of them took it.
    DraftPublished,
    /// `draft.failed`: no channel took it.
    DraftFailed,
    /// `comment.added`
    CommentAdded,
    /// `integration.needs_reauth`: a channel must be connected again.
    IntegrationNeedsReauth,
    /// `review.decided`: a client reviewer approved or asked for changes.
    ReviewDecided,
}

impl WebhookEvent {
    fn name(self) -> &'static str {
        match self {
            Self::DraftCreated => "draft.created",
            Self::DraftStatusChanged => "draft.status_changed",
            Self::DraftPublished => "draft.published",
            Self::DraftFailed => "draft.failed",
            Self::CommentAdded => "comment.added",
            Self::IntegrationNeedsReauth => "integration.needs_reauth",
            Self::ReviewDecided => "review.decided",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        [
            Self::DraftCreated,
            Self::DraftStatusChanged,
            Self::DraftPublished,
            Self::DraftFailed,
            Self::CommentAdded,
            Self::IntegrationNeedsReauth,
            Self::ReviewDecided,
        ]
        .into_iter()
        .find(|e| e.name() == name)
    }
}

/// A URL the workspace's events are posted to, signed the Standard Webhooks way.
pub struct WebhookEndpoint(pub webhook_endpoints::Model);

#[Object]
impl WebhookEndpoint {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn url(&self) -> &str {
        &self.0.url
    }

    async fn events(&self) -> Vec<WebhookEvent> {
        webhooks::events_of(&self.0)
            .iter()
            .filter_map(|e| WebhookEvent::parse(e))
            .collect()
    }

    /// False once it failed too often in a row (its ADMINs were emailed); turn it back
    /// on with `enableWebhookEndpoint`.
    async fn enabled(&self) -> bool {
        self.0.enabled
    }

    /// Failed attempts in a row.
    async fn failure_streak(&self) -> i32 {
        self.0.failure_streak
    }

    async fn disabled_at(&self) -> Option<DateTime<Utc>> {
        self.0.disabled_at
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// The latest deliveries, newest first (at most 100).
    async fn deliveries(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20)] first: i32,
    ) -> Result<Vec<WebhookDelivery>> {
        let access = admin_access(ctx, self.0.workspace_id).await?;
        let rows = webhooks::deliveries_of(
            &state(ctx).db,
            &access,
            self.0.id,
            u64::try_from(first.clamp(1, 100)).unwrap_or(20),
        )
        .await
        .map_err(gql)?;
        Ok(rows.into_iter().map(WebhookDelivery).collect())
    }
}

/// One event sent (or being sent) to one endpoint.
pub struct WebhookDelivery(pub webhook_deliveries::Model);

#[Object]
impl WebhookDelivery {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// The `webhook-id` header the receiver saw: the same for every attempt.
    async fn message_id(&self) -> String {
        format!("msg_{}", self.0.id.simple())
    }

    async fn event(&self) -> Option<WebhookEvent> {
        WebhookEvent::parse(&self.0.event_type)
    }

    async fn attempts(&self) -> i32 {
        self.0.attempts
    }

    /// The status code of the latest answer, if there was one.
    async fn last_status(&self) -> Option<i32> {
        self.0.last_status
    }

    async fn last_error(&self) -> Option<&str> {
        self.0.last_error.as_deref()
    }

    async fn delivered_at(&self) -> Option<DateTime<Utc>> {
        self.0.delivered_at
    }

    /// When it was given up (the endpoint was disabled, or retries ran out).
    async fn failed_at(&self) -> Option<DateTime<Utc>> {
        self.0.failed_at
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

#[derive(InputObject)]
pub struct CreateWebhookEndpointInput {
    pub workspace_id: ID,
    /// Where events are posted: `https://…` (addresses on private networks are refused
    /// unless the server allows them).
    pub url: String,
    pub events: Vec<WebhookEvent>,
}

/// A new endpoint and its signing secret (`whsec_…`), shown only here.
#[derive(SimpleObject)]
pub struct CreatedWebhookEndpoint {
    pub endpoint: WebhookEndpoint,
    pub secret: String,
}

async fn admin_access(
    ctx: &Context<'_>,
    workspace_id: uuid::Uuid,
) -> Result<workspaces::WorkspaceAccess> {
    let user = current_user(ctx).await?;
    workspaces::require_access(&state(ctx).db, user.id, workspace_id)
        .await
        .map_err(gql)
}

/// The access to the workspace of an endpoint (NOT_FOUND when there is none to see).
async fn endpoint_access(
    ctx: &Context<'_>,
    id: &ID,
) -> Result<(workspaces::WorkspaceAccess, uuid::Uuid)> {
    let id = parse_id(id, "id")?;
    let workspace = owner_of(&state(ctx).db, Owned::WebhookEndpoint(id))
        .await
        .map_err(gql)?
        .ok_or_else(|| gql(DomainError::NotFound("webhook endpoint")))?;
    let access = admin_access(ctx, workspace)
        .await
        .map_err(|_| gql(DomainError::NotFound("webhook endpoint")))?;
    Ok((access, id))
}

#[derive(Default)]
pub struct WebhookMutation;

#[Object]
impl WebhookMutation {
    /// Registers an endpoint for some of the workspace's events (ADMIN). The answer's
    /// `secret` is the only time the signing secret is shown.
    async fn create_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        input: CreateWebhookEndpointInput,
    ) -> Result<CreatedWebhookEndpoint> {
        let s = state(ctx);
        let access = admin_access(ctx, parse_id(&input.workspace_id, "workspaceId")?).await?;
        access.require(workspaces::Role::Admin).map_err(gql)?;
        // The address, where it resolves now: a private one is refused here already.
        crate::outbound::resolve(&input.url, &s.config.webhooks.policy())
            .await
            .map_err(|e| gql(DomainError::bad_input(e.to_string())))?;
        let events: Vec<String> = input.events.iter().map(|e| e.name().to_string()).collect();
        let registered =
            webhooks::register(&s.db, &s.vault, &access, &input.url, &events, meta(ctx))
                .await
                .map_err(gql)?;
        Ok(CreatedWebhookEndpoint {
            endpoint: WebhookEndpoint(registered.endpoint),
            secret: registered.secret,
        })
    }

    /// Deletes an endpoint and its deliveries (ADMIN).
    async fn delete_webhook_endpoint(&self, ctx: &Context<'_>, id: ID) -> Result<bool> {
        let (access, id) = endpoint_access(ctx, &id).await?;
        webhooks::delete(&state(ctx).db, &access, id, meta(ctx))
            .await
            .map_err(gql)?;
        Ok(true)
    }

    /// Turns a disabled endpoint back on (ADMIN).
    async fn enable_webhook_endpoint(&self, ctx: &Context<'_>, id: ID) -> Result<WebhookEndpoint> {
        let (access, id) = endpoint_access(ctx, &id).await?;
        webhooks::enable(&state(ctx).db, &access, id, meta(ctx))
            .await
            .map(WebhookEndpoint)
            .map_err(gql)
    }

    /// Sends a delivery again now, as the same message (ADMIN).
    async fn redeliver_webhook(
        &self,
        ctx: &Context<'_>,
        delivery_id: ID,
    ) -> Result<WebhookDelivery> {
        let id = parse_id(&delivery_id, "deliveryId")?;
        let workspace = owner_of(&state(ctx).db, Owned::WebhookDelivery(id))
            .await
            .map_err(gql)?
            .ok_or_else(|| gql(DomainError::NotFound("webhook delivery")))?;
        let access = admin_access(ctx, workspace)
            .await
            .map_err(|_| gql(DomainError::NotFound("webhook delivery")))?;
        webhooks::redeliver(&state(ctx).db, &access, id, meta(ctx))
            .await
            .map(WebhookDelivery)
            .map_err(gql)
    }
}
