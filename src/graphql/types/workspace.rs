//! The `Workspace` object: its settings, members, invitations, channels, drafts and the
//! reads that hang from it.

use super::{parse_id, AuditEvent, Invitation, Membership, RoleEnum};
use crate::domain::ops::audit;
use crate::domain::workspace::workspaces::{self, WorkspaceAccess};
use crate::graphql::connection::{self, decode_cursor, page_size};
use crate::graphql::context::state;
use crate::graphql::errors::gql;
use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::{Context, Object, Result, SimpleObject, ID};
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// A team's shared space: members, content, channels.
pub struct Workspace(pub WorkspaceAccess);

#[Object]
impl Workspace {
    pub(super) async fn id(&self) -> ID {
        ID(self.0.workspace.id.to_string())
    }

    pub(super) async fn name(&self) -> &str {
        &self.0.workspace.name
    }

    pub(super) async fn slug(&self) -> &str {
        &self.0.workspace.slug
    }

    pub(super) async fn brand_name(&self) -> Option<&str> {
        self.0.workspace.brand_name.as_deref()
    }

    pub(super) async fn company(&self) -> Option<&str> {
        self.0.workspace.company.as_deref()
    }

    pub(super) async fn region(&self) -> Option<&str> {
        self.0.workspace.region.as_deref()
    }

    pub(super) async fn default_time_zone(&self) -> &str {
        &self.0.workspace.default_time_zone
    }

    pub(super) async fn created_at(&self) -> DateTime<Utc> {
        self.0.workspace.created_at
    }

    /// Whether drafts need approval before they can be scheduled.
    pub(super) async fn approval_required(&self) -> bool {
        self.0.workspace.approval_required
    }

    /// Whether a draft needs a client reviewer's approval before it can be scheduled.
    pub(super) async fn client_approval_required(&self) -> bool {
        self.0.workspace.client_approval_required
    }

    /// The signed-in user's role here.
    pub(super) async fn my_role(&self) -> RoleEnum {
        self.0.role.into()
    }

    /// Billing details; OWNER and ADMIN may read them.
    pub(super) async fn billing_profile(&self) -> Result<BillingProfile> {
        self.0.require(workspaces::Role::Admin).map_err(gql)?;
        let w = &self.0.workspace;
        Ok(BillingProfile {
            billing_email: w.billing_email.clone(),
            legal_name: w.billing_legal_name.clone(),
            country: w.billing_country.clone(),
            tax_id: w.billing_tax_id.clone(),
        })
    }

    #[graphql(complexity = "first.unwrap_or(20).max(0) as usize * child_complexity")]
    pub(super) async fn members(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<String, Membership, EmptyFields, EmptyFields>> {
        let limit = page_size(first)?;
        let after_key = decode_cursor::<Uuid>(after.as_deref())?;
        let rows =
            workspaces::list_members(&state(ctx).db, self.0.workspace.id, after_key, limit + 1)
                .await
                .map_err(gql)?;
        let access = self.0.clone();
        Ok(connection::build(
            rows,
            limit,
            after_key.is_some(),
            |(m, _)| m.id,
            move |(m, u)| Membership {
                membership: m,
                user: u,
                viewer_access: access.clone(),
            },
        ))
    }

    /// Invitations sent from this workspace; ADMIN and up.
    #[graphql(complexity = "first.unwrap_or(20).max(0) as usize * child_complexity")]
    pub(super) async fn invitations(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<String, Invitation, EmptyFields, EmptyFields>> {
        self.0.require(workspaces::Role::Admin).map_err(gql)?;
        let limit = page_size(first)?;
        let after_key = decode_cursor::<Uuid>(after.as_deref())?;
        let rows =
            workspaces::list_invitations(&state(ctx).db, self.0.workspace.id, after_key, limit + 1)
                .await
                .map_err(gql)?;
        Ok(connection::build(
            rows,
            limit,
            after_key.is_some(),
            |i| i.id,
            Invitation,
        ))
    }

    /// The workspace's drafts, newest first, optionally of one status.
    // Each GraphQL argument is a parameter; grouping them would change the API's shape.
    #[allow(clippy::too_many_arguments)]
    #[graphql(complexity = "first.unwrap_or(20).max(0) as usize * child_complexity")]
    pub(super) async fn drafts(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        status: Option<crate::graphql::content::DraftStatusEnum>,
        #[graphql(desc = "Words to find in the title or body")] search: Option<String>,
        tag: Option<String>,
        author_id: Option<ID>,
    ) -> Result<Connection<String, crate::graphql::content::Draft, EmptyFields, EmptyFields>> {
        let filter = crate::domain::content::DraftFilter {
            status: status.map(Into::into),
            search,
            tag,
            author: author_id
                .as_ref()
                .map(|id| parse_id(id, "authorId"))
                .transpose()?,
        };
        let limit = page_size(first)?;
        let before = decode_cursor::<Uuid>(after.as_deref())?;
        // The drafts as `edges { node }` and as `nodes`: each read for what either shows.
        let look = ctx.look_ahead();
        let mut selections = look.field("edges").field("node").selection_fields();
        selections.extend(look.field("nodes").selection_fields());
        let rows = crate::domain::content::list(
            &state(ctx).reads,
            self.0.workspace.id,
            &filter,
            before,
            limit + 1,
            crate::graphql::columns::DRAFT.omitted(&selections),
        )
        .await
        .map_err(gql)?;
        let page = &rows[..rows.len().min(limit as usize)];
        if let Ok(node) = async_graphql::Lookahead::try_from(selections.as_slice()) {
            crate::graphql::loaders::prime_drafts(ctx, &node, page).await?;
        }
        Ok(connection::build(
            rows,
            limit,
            before.is_some(),
            |d| d.id,
            crate::graphql::content::Draft,
        ))
    }

    /// How the workspace's channels did over `range` (days in the workspace's time
    /// zone): per metric a series in buckets of `granularity`, filled with zeros, with
    /// totals and the change against the previous period; the engagement rate; top
    /// drafts. Account-level metrics; `integrationIds` narrows to some channels.
    #[allow(clippy::too_many_arguments)]
    #[graphql(
        complexity = "crate::graphql::costs::analytics(&range, granularity, &metrics, integration_ids.len(), child_complexity)"
    )]
    pub(super) async fn analytics(
        &self,
        ctx: &Context<'_>,
        range: crate::graphql::analytics::DateRange,
        #[graphql(default)] granularity: crate::graphql::analytics::GranularityEnum,
        #[graphql(default)] metrics: Vec<crate::graphql::analytics::MetricEnum>,
        #[graphql(default)] integration_ids: Vec<ID>,
    ) -> Result<crate::graphql::analytics::Analytics> {
        crate::graphql::analytics::answer(
            ctx,
            &self.0,
            range,
            granularity,
            metrics,
            integration_ids,
        )
        .await
    }

    /// The workspace's webhook endpoints (ADMIN; others get FORBIDDEN).
    pub(super) async fn webhook_endpoints(
        &self,
        ctx: &Context<'_>,
    ) -> Result<Vec<crate::graphql::webhooks::WebhookEndpoint>> {
        let endpoints = crate::domain::workspace::webhooks::list(&state(ctx).db, &self.0)
            .await
            .map_err(gql)?;
        Ok(endpoints
            .into_iter()
            .map(crate::graphql::webhooks::WebhookEndpoint)
            .collect())
    }

    /// The client review links shared from the workspace, newest first (ADMIN; others
    /// get FORBIDDEN).
    #[graphql(complexity = "first.unwrap_or(20).max(0) as usize * child_complexity")]
    pub(super) async fn review_links(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<String, crate::graphql::reviews::ReviewLink, EmptyFields, EmptyFields>>
    {
        self.0.require(workspaces::Role::Admin).map_err(gql)?;
        let limit = page_size(first)?;
        let before = decode_cursor::<uuid::Uuid>(after.as_deref())?;
        let rows = crate::domain::content::review_links::list(
            &state(ctx).db,
            self.0.workspace.id,
            before,
            limit + 1,
        )
        .await
        .map_err(gql)?;
        Ok(connection::build(
            rows,
            limit,
            before.is_some(),
            |l| l.id,
            crate::graphql::reviews::ReviewLink,
        ))
    }

    /// The workspace's connected channels.
    pub(super) async fn integrations(
        &self,
        ctx: &Context<'_>,
    ) -> Result<Vec<crate::graphql::integrations::Integration>> {
        let channels =
            crate::domain::channels::integrations::list(&state(ctx).db, self.0.workspace.id)
                .await
                .map_err(gql)?;
        if ctx.look_ahead().field("sync").exists() {
            let ids: Vec<_> = channels.iter().map(|c| c.id).collect();
            crate::graphql::loaders::prime_sync(ctx, &ids).await?;
        }
        Ok(channels
            .into_iter()
            .map(crate::graphql::integrations::Integration)
            .collect())
    }

    /// The workspace's uploaded media, newest first.
    #[graphql(complexity = "first.unwrap_or(20).max(0) as usize * child_complexity")]
    pub(super) async fn media(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<String, crate::graphql::media::Media, EmptyFields, EmptyFields>> {
        let limit = page_size(first)?;
        let before = decode_cursor::<Uuid>(after.as_deref())?;
        let rows = crate::domain::content::media::list(
            &state(ctx).db,
            self.0.workspace.id,
            before,
            limit + 1,
        )
        .await
        .map_err(gql)?;
        Ok(connection::build(
            rows,
            limit,
            before.is_some(),
            |m| m.id,
            crate::graphql::media::Media,
        ))
    }

    /// This workspace's audit events, newest first; ADMIN and up.
    #[graphql(complexity = "first.unwrap_or(20).max(0) as usize * child_complexity")]
    pub(super) async fn audit_log(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<String, AuditEvent, EmptyFields, EmptyFields>> {
        self.0.require(workspaces::Role::Admin).map_err(gql)?;
        let limit = page_size(first)?;
        let before = decode_cursor::<i64>(after.as_deref())?;
        let rows =
            audit::list_for_workspace(&state(ctx).db, self.0.workspace.id, before, limit + 1)
                .await
                .map_err(gql)?;
        Ok(connection::build(
            rows,
            limit,
            before.is_some(),
            |e| e.seq,
            AuditEvent,
        ))
    }
}

#[derive(SimpleObject)]
pub struct BillingProfile {
    pub billing_email: Option<String>,
    pub legal_name: Option<String>,
    pub country: Option<String>,
    pub tax_id: Option<String>,
}
