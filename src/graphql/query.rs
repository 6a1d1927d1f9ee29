use async_graphql::{Context, Object, Result, ID};

use super::content::Draft;
use super::context::{current_user, request, state};
use super::errors::gql;
use super::privacy::PrivacyPolicy;
use super::types::{parse_id, User, Workspace};
use crate::domain::content;
use crate::domain::privacy::policy;
use crate::domain::workspaces;

pub struct Query;

#[Object]
impl Query {
    /// The signed-in user, or null when not signed in.
    async fn me(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        if request(ctx).viewer.is_none() {
            return Ok(None);
        }
        Ok(Some(User(current_user(ctx).await?)))
    }

    /// The privacy policy in force now.
    async fn privacy_policy(&self, ctx: &Context<'_>) -> Result<PrivacyPolicy> {
        Ok(PrivacyPolicy(
            policy::current(&state(ctx).db).await.map_err(gql)?,
        ))
    }

    /// A draft in a workspace the signed-in user belongs to; null otherwise.
    async fn draft(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Draft>> {
        let user = current_user(ctx).await?;
        let draft_id = parse_id(&id, "id")?;
        let db = &state(ctx).db;
        let Some(workspace_id) = content::workspace_of(db, draft_id).await.map_err(gql)? else {
            return Ok(None);
        };
        let Some(access) = workspaces::access(db, user.id, workspace_id)
            .await
            .map_err(gql)?
        else {
            return Ok(None);
        };
        Ok(Some(Draft(
            content::find_in_workspace(db, &access, draft_id)
                .await
                .map_err(gql)?,
        )))
    }

    /// A workspace the signed-in user belongs to; null when it does not exist or they are
    /// not a member.
    async fn workspace(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Workspace>> {
        let user = current_user(ctx).await?;
        let workspace_id = parse_id(&id, "id")?;
        Ok(workspaces::access(&state(ctx).db, user.id, workspace_id)
            .await
            .map_err(gql)?
            .map(Workspace))
    }
}
