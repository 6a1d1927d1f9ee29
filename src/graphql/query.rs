use async_graphql::{Context, Object, Result, ID};

use super::content::Draft;
use super::context::{current_user, request, state, viewer_id};
use super::errors::gql;
use super::privacy::PrivacyPolicy;
use super::types::{parse_id, User, Workspace};
use crate::domain::content;
use crate::domain::privacy::policy;
use crate::domain::workspace::workspaces;

pub struct Query;

#[Object]
impl Query {
    /// The signed-in user, or null when not signed in.
    #[graphql(complexity = "crate::graphql::DB_READ + child_complexity")]
    async fn me(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        if request(ctx).viewer.is_none() {
            return Ok(None);
        }
        Ok(Some(current_user(ctx).await?.into()))
    }

    /// The privacy policy in force now.
    #[graphql(complexity = "crate::graphql::DB_READ + child_complexity")]
    async fn privacy_policy(&self, ctx: &Context<'_>) -> Result<PrivacyPolicy> {
        Ok(PrivacyPolicy(
            policy::current(&state(ctx).db).await.map_err(gql)?,
        ))
    }

    /// A draft in a workspace the signed-in user belongs to; null otherwise.
    #[graphql(complexity = "2 * crate::graphql::DB_READ + child_complexity")]
    async fn draft(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Draft>> {
        // Two statements: the draft, then the caller's membership of its workspace (an
        // erased account has none, so no separate account check is needed).
        let user_id = viewer_id(ctx)?;
        let draft_id = parse_id(&id, "id")?;
        let reads = &state(ctx).reads;
        let Some(draft) = content::find(reads, draft_id).await.map_err(gql)? else {
            return Ok(None);
        };
        let member = workspaces::access_read(reads, user_id, draft.workspace_id)
            .await
            .map_err(gql)?
            .is_some();
        if !member {
            return Ok(None);
        }
        super::loaders::prime_drafts(ctx, &ctx.look_ahead(), std::slice::from_ref(&draft)).await?;
        Ok(Some(Draft(draft)))
    }

    /// A workspace the signed-in user belongs to; null when it does not exist or they are
    /// not a member.
    #[graphql(complexity = "crate::graphql::DB_READ + child_complexity")]
    async fn workspace(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Workspace>> {
        // One statement: membership joined with the workspace (erasure removes an
        // account's memberships, so an erased account sees nothing).
        let user_id = viewer_id(ctx)?;
        let workspace_id = parse_id(&id, "id")?;
        Ok(
            workspaces::access_read(&state(ctx).reads, user_id, workspace_id)
                .await
                .map_err(gql)?
                .map(Workspace),
        )
    }

    /// A channel connection waiting for the person to choose which of their accounts
    /// (Facebook Pages, Instagram accounts) to connect, after the platform sent them
    /// back to `{APP_URL}/integrations?choose={id}`; only the person who started it sees
    /// it, for 30 minutes.
    #[graphql(complexity = "2 * crate::graphql::DB_READ + child_complexity")]
    async fn pending_integration_connect(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> Result<super::integrations::PendingIntegrationConnect> {
        let user = current_user(ctx).await?;
        let s = state(ctx);
        let pending_id = parse_id(&id, "id")?;
        crate::domain::channels::integrations::pending_connect(&s.db, &s.vault, user.id, pending_id)
            .await
            .map(Into::into)
            .map_err(gql)
    }
}
