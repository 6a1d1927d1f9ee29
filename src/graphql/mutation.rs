use async_graphql::{Context, InputObject, Object, Result, ID};

use super::content::Draft;
use super::context::{current_user, meta, state};
use super::errors::gql;
use super::privacy::PrivacyRequest;
use super::types::{parse_id, AuthPayload, Invitation, Membership, RoleEnum, User, Workspace};
use crate::domain::content::{self, DraftChanges, DraftStatus};
use crate::domain::entities::users;
use crate::domain::identity::accounts::{self, IssuedSession, LogIn, SignUp};
use crate::domain::privacy::requests::{self, RequestKind};
use crate::domain::workspace::workspaces::{self, BillingProfileUpdate};
use crate::error::DomainError;
use crate::state::AppState;

#[derive(Default)]
pub struct Mutation;

#[derive(InputObject)]
pub struct SignUpInput {
    pub email: String,
    pub password: String,
    pub display_name: String,
}

#[derive(InputObject)]
pub struct LogInInput {
    pub email: String,
    pub password: String,
}

#[derive(InputObject)]
pub struct CreateWorkspaceInput {
    pub name: String,
}

#[derive(InputObject)]
pub struct InviteMemberInput {
    pub workspace_id: ID,
    pub email: String,
    pub role: RoleEnum,
}

#[derive(InputObject)]
pub struct CreateDraftInput {
    pub workspace_id: ID,
    pub title: String,
    #[graphql(default)]
    pub body: String,
    #[graphql(default)]
    pub tags: Vec<String>,
    /// The channels it goes to, each with its text.
    #[graphql(default)]
    pub targets: Vec<super::collaboration::DraftTargetInput>,
}

/// Changes to a draft; omitted fields stay as they are.
#[derive(InputObject)]
pub struct UpdateDraftInput {
    pub id: ID,
    /// The version you edited; a newer one on the server is a CONFLICT.
    pub expected_version: i32,
    pub title: Option<String>,
    pub body: Option<String>,
    pub tags: Option<Vec<String>>,
}

/// Billing fields to set; omitted fields stay as they are.
#[derive(InputObject)]
pub struct BillingProfileInput {
    pub billing_email: Option<String>,
    pub legal_name: Option<String>,
    pub country: Option<String>,
    pub tax_id: Option<String>,
}

/// The caller's access to the workspace of a draft (NOT_FOUND when they have none).
async fn draft_access(
    ctx: &Context<'_>,
    id: &ID,
) -> Result<(workspaces::WorkspaceAccess, uuid::Uuid)> {
    let draft_id = parse_id(id, "id")?;
    Ok((
        super::collaboration::draft_access(ctx, draft_id).await?,
        draft_id,
    ))
}

async fn move_draft(
    ctx: &Context<'_>,
    id: &ID,
    to: DraftStatus,
    note: Option<&str>,
) -> Result<Draft> {
    let (access, draft_id) = draft_access(ctx, id).await?;
    let draft = content::transition(&state(ctx).db, &access, draft_id, to, note, meta(ctx))
        .await
        .map_err(gql)?;
    super::collaboration::publish_draft(ctx, &access, draft.id).await;
    Ok(Draft(draft))
}

fn signed_in(state: &AppState, user: users::Model, session: IssuedSession) -> Result<AuthPayload> {
    let (access_token, expires_at) = state
        .jwt
        .issue(user.id, session.session_id)
        .map_err(|e| gql(DomainError::internal(e)))?;
    Ok(AuthPayload {
        access_token: Some(access_token),
        refresh_token: Some(session.refresh_token),
        expires_at: Some(expires_at),
        user: Some(user),
        verification_required: false,
    })
}

#[Object]
impl Mutation {
    /// Creates an account and emails a verification link. The answer is the same whether
    /// or not the address already has an account.
    async fn sign_up(&self, ctx: &Context<'_>, input: SignUpInput) -> Result<AuthPayload> {
        let s = state(ctx);
        accounts::sign_up(
            &s.db,
            &s.vault,
            &s.auth_limits,
            SignUp {
                email: input.email,
                password: input.password,
                display_name: input.display_name,
            },
            meta(ctx),
        )
        .await
        .map_err(gql)?;
        Ok(AuthPayload {
            verification_required: true,
            ..AuthPayload::default()
        })
    }

    /// Confirms an email address with the token from the emailed link.
    async fn verify_email(&self, ctx: &Context<'_>, token: String) -> Result<User> {
        let user = accounts::verify_email(&state(ctx).db, &token, meta(ctx))
            .await
            .map_err(gql)?;
        Ok(user.into())
    }

    async fn log_in(&self, ctx: &Context<'_>, input: LogInInput) -> Result<AuthPayload> {
        let s = state(ctx);
        let (user, session) = accounts::log_in(
            &s.db,
            &s.vault,
            &s.auth_limits,
            &s.config.auth,
            LogIn {
                email: input.email,
                password: input.password,
            },
            meta(ctx),
        )
        .await
        .map_err(gql)?;
        signed_in(s, user, session)
    }

    /// Trades a refresh token for a new pair; the old refresh token is spent.
    async fn refresh_session(
        &self,
        ctx: &Context<'_>,
        refresh_token: String,
    ) -> Result<AuthPayload> {
        let s = state(ctx);
        let refreshed =
            accounts::refresh_session(&s.db, &s.config.auth, &refresh_token, meta(ctx)).await;
        let (user, session) = match refreshed {
            Ok(found) => found,
            Err(e) => {
                // A reused refresh token ends its whole family: its access tokens stop
                // working here now, not at the next poll.
                if let Err(poll) = s.revocations.poll(&s.db).await {
                    tracing::warn!(error = ?poll, "could not read revoked sessions");
                }
                return Err(gql(e));
            }
        };
        signed_in(s, user, session)
    }

    /// Emails a link to choose a new password (valid an hour, once) when the address has
    /// an account; the answer is `true` whether or not it has one.
    async fn request_password_reset(&self, ctx: &Context<'_>, email: String) -> Result<bool> {
        let s = state(ctx);
        accounts::request_password_reset(&s.db, &s.vault, &s.auth_limits, &email, meta(ctx))
            .await
            .map_err(gql)?;
        Ok(true)
    }

    /// Sets a new password with the emailed link's token. Every session of the account
    /// ends at once (access tokens and subscriptions too); sign in with the new password.
    async fn reset_password(
        &self,
        ctx: &Context<'_>,
        token: String,
        new_password: String,
    ) -> Result<bool> {
        let s = state(ctx);
        let ended = accounts::reset_password(
            &s.db,
            &s.vault,
            &s.auth_limits,
            &token,
            new_password,
            meta(ctx),
        )
        .await
        .map_err(gql)?;
        for session_id in ended {
            s.revocations.revoke(session_id);
        }
        Ok(true)
    }

    /// Ends the session of a refresh token; true when a live session ended. Its access
    /// tokens and live subscriptions end with it.
    async fn log_out(&self, ctx: &Context<'_>, refresh_token: String) -> Result<bool> {
        let s = state(ctx);
        let ended = accounts::log_out(&s.db, &refresh_token, meta(ctx))
            .await
            .map_err(gql)?;
        if let Some(session_id) = ended {
            s.revocations.revoke(session_id);
        }
        Ok(ended.is_some())
    }

    async fn create_workspace(
        &self,
        ctx: &Context<'_>,
        input: CreateWorkspaceInput,
    ) -> Result<Workspace> {
        let user = current_user(ctx).await?;
        let access = workspaces::create_workspace(&state(ctx).db, &user, &input.name, meta(ctx))
            .await
            .map_err(gql)?;
        Ok(Workspace(access))
    }

    /// Invites someone by email; they receive a one-time link.
    async fn invite_member(
        &self,
        ctx: &Context<'_>,
        input: InviteMemberInput,
    ) -> Result<Invitation> {
        let user = current_user(ctx).await?;
        let s = state(ctx);
        let workspace_id = parse_id(&input.workspace_id, "workspaceId")?;
        let access = workspaces::require_access(&s.db, user.id, workspace_id)
            .await
            .map_err(gql)?;
        let invitation = workspaces::invite_member(
            &s.db,
            &s.vault,
            &access,
            &user,
            &input.email,
            input.role.into(),
            meta(ctx),
        )
        .await
        .map_err(gql)?;
        Ok(Invitation(invitation))
    }

    /// Joins the workspace of an invitation sent to the signed-in user's verified address.
    async fn accept_invitation(&self, ctx: &Context<'_>, token: String) -> Result<Membership> {
        let user = current_user(ctx).await?;
        let access = workspaces::accept_invitation(&state(ctx).db, &user, &token, meta(ctx))
            .await
            .map_err(gql)?;
        Ok(Membership {
            membership: access.membership.clone(),
            user,
            viewer_access: access,
        })
    }

    async fn change_member_role(
        &self,
        ctx: &Context<'_>,
        workspace_id: ID,
        user_id: ID,
        role: RoleEnum,
    ) -> Result<Membership> {
        let user = current_user(ctx).await?;
        let s = state(ctx);
        let workspace_id = parse_id(&workspace_id, "workspaceId")?;
        let member_id = parse_id(&user_id, "userId")?;
        let access = workspaces::require_access(&s.db, user.id, workspace_id)
            .await
            .map_err(gql)?;
        let membership =
            workspaces::change_member_role(&s.db, &access, member_id, role.into(), meta(ctx))
                .await
                .map_err(gql)?;
        let member = accounts::find_by_id(&s.db, member_id)
            .await
            .map_err(gql)?
            .ok_or_else(|| gql(DomainError::NotFound("member")))?;
        Ok(Membership {
            membership,
            user: member,
            viewer_access: access,
        })
    }

    /// Removes a member, or leaves when `userId` is the signed-in user.
    async fn remove_member(
        &self,
        ctx: &Context<'_>,
        workspace_id: ID,
        user_id: ID,
    ) -> Result<bool> {
        let user = current_user(ctx).await?;
        let s = state(ctx);
        let workspace_id = parse_id(&workspace_id, "workspaceId")?;
        let member_id = parse_id(&user_id, "userId")?;
        let access = workspaces::require_access(&s.db, user.id, workspace_id)
            .await
            .map_err(gql)?;
        workspaces::remove_member(&s.db, &access, member_id, meta(ctx))
            .await
            .map_err(gql)?;
        Ok(true)
    }

    async fn create_draft(&self, ctx: &Context<'_>, input: CreateDraftInput) -> Result<Draft> {
        let user = current_user(ctx).await?;
        let s = state(ctx);
        let workspace_id = parse_id(&input.workspace_id, "workspaceId")?;
        let access = workspaces::require_access(&s.db, user.id, workspace_id)
            .await
            .map_err(gql)?;
        let targets = input
            .targets
            .into_iter()
            .map(|t| t.into_domain())
            .collect::<Result<Vec<_>>>()?;
        let draft = content::create_draft(
            &s.db,
            &access,
            &input.title,
            &input.body,
            &input.tags,
            &targets,
            meta(ctx),
        )
        .await
        .map_err(gql)?;
        super::collaboration::publish_draft(ctx, &access, draft.id).await;
        Ok(Draft(draft))
    }

    /// Saves changes if `expectedVersion` is still current; otherwise CONFLICT and nothing changes.
    async fn update_draft(&self, ctx: &Context<'_>, input: UpdateDraftInput) -> Result<Draft> {
        let (access, draft_id) = draft_access(ctx, &input.id).await?;
        let draft = content::update_draft(
            &state(ctx).db,
            &access,
            draft_id,
            input.expected_version,
            DraftChanges {
                title: input.title,
                body: input.body,
                tags: input.tags,
            },
        )
        .await
        .map_err(gql)?;
        super::collaboration::publish_draft(ctx, &access, draft.id).await;
        Ok(Draft(draft))
    }

    async fn submit_draft_for_review(&self, ctx: &Context<'_>, id: ID) -> Result<Draft> {
        move_draft(ctx, &id, DraftStatus::InReview, None).await
    }

    /// ADMIN and OWNER only.
    async fn approve_draft(
        &self,
        ctx: &Context<'_>,
        id: ID,
        note: Option<String>,
    ) -> Result<Draft> {
        move_draft(ctx, &id, DraftStatus::Approved, note.as_deref()).await
    }

    /// ADMIN and OWNER only; the note says what should change.
    async fn request_draft_changes(
        &self,
        ctx: &Context<'_>,
        id: ID,
        note: String,
    ) -> Result<Draft> {
        move_draft(ctx, &id, DraftStatus::ChangesRequested, Some(&note)).await
    }

    /// Schedules an approved draft, as calendar APIs take a `dateTime` with a `timeZone`:
    /// a `publishAt` with an offset is that instant, one without is wall-clock time in
    /// `timeZone`. A past time is refused.
    async fn schedule_draft(
        &self,
        ctx: &Context<'_>,
        id: ID,
        #[graphql(
            desc = "With an offset (`2026-12-04T13:06:47Z`, `…+02:00`, what `toISOString()` sends) it is that instant; without one (`2026-12-04T08:06:47`) it is wall-clock time in `timeZone` — refused when the clocks skip it, and when they repeat it unless sent with its offset."
        )]
        publish_at: super::content::PublishAtInput,
        #[graphql(desc = "An IANA time zone, kept with the draft for display.")] time_zone: String,
    ) -> Result<Draft> {
        let (access, draft_id) = draft_access(ctx, &id).await?;
        let draft = content::schedule(
            &state(ctx).db,
            &access,
            draft_id,
            publish_at.0,
            time_zone.trim(),
            meta(ctx),
        )
        .await
        .map_err(gql)?;
        super::collaboration::publish_draft(ctx, &access, draft.id).await;
        Ok(Draft(draft))
    }

    /// The workspace's settings: whether drafts need approval before scheduling, its
    /// time zone, brand name, company and region. ADMIN and OWNER; an omitted setting is
    /// left as it is, an empty brand name, company or region clears it.
    // Each argument is one optional setting of the API, as the contract names them.
    #[allow(clippy::too_many_arguments)]
    async fn update_workspace_settings(
        &self,
        ctx: &Context<'_>,
        workspace_id: ID,
        approval_required: Option<bool>,
        #[graphql(
            desc = "Whether a draft needs a client reviewer's approval (through a review link) before it can be scheduled."
        )]
        client_approval_required: Option<bool>,
        #[graphql(desc = "An IANA time zone; analytics are bucketed in it.")]
        default_time_zone: Option<String>,
        #[graphql(desc = "The name the workspace publishes under (at most 100 characters).")]
        brand_name: Option<String>,
        #[graphql(desc = "The company behind it (at most 200 characters).")] company: Option<
            String,
        >,
        #[graphql(desc = "Where it operates, e.g. `EU` or `North America` (at most 64).")]
        region: Option<String>,
    ) -> Result<Workspace> {
        let user = current_user(ctx).await?;
        let s = state(ctx);
        let workspace_id = parse_id(&workspace_id, "workspaceId")?;
        let mut access = workspaces::require_access(&s.db, user.id, workspace_id)
            .await
            .map_err(gql)?;
        access.workspace = workspaces::update_settings(
            &s.db,
            &access,
            workspaces::SettingsUpdate {
                approval_required,
                client_approval_required,
                time_zone: default_time_zone,
                brand_name,
                company,
                region,
            },
            meta(ctx),
        )
        .await
        .map_err(gql)?;
        Ok(Workspace(access))
    }

    /// Deletes a workspace for good (OWNER; `confirmName` must be its name): channels are
    /// disconnected at their platforms, media and analytics deleted, members emailed.
    async fn delete_workspace(
        &self,
        ctx: &Context<'_>,
        id: ID,
        confirm_name: String,
    ) -> Result<bool> {
        let user = current_user(ctx).await?;
        let s = state(ctx);
        let workspace_id = parse_id(&id, "id")?;
        let access = workspaces::require_access(&s.db, user.id, workspace_id)
            .await
            .map_err(gql)?;
        let channels = crate::domain::channels::release::RevokeChannels(&s.vault);
        workspaces::delete_workspace(
            &s.db,
            &s.vault,
            &s.media,
            &access,
            &confirm_name,
            &channels,
            meta(ctx),
        )
        .await
        .map_err(gql)?;
        Ok(true)
    }

    async fn archive_draft(&self, ctx: &Context<'_>, id: ID) -> Result<Draft> {
        move_draft(ctx, &id, DraftStatus::Archived, None).await
    }

    /// Asks for a copy of the signed-in user's data; confirmed by an emailed link. Asking
    /// again while one is open answers with that one; at most
    /// `ATELIER_PRIVACY__APP_REQUESTS_PER_DAY` new requests a day (RATE_LIMITED).
    async fn request_data_export(&self, ctx: &Context<'_>) -> Result<PrivacyRequest> {
        let user = current_user(ctx).await?;
        let s = state(ctx);
        let request = requests::submit_for_user(
            &s.db,
            &s.vault,
            &user,
            RequestKind::Export,
            s.config.privacy.app_requests_per_day,
            meta(ctx),
        )
        .await
        .map_err(gql)?;
        Ok(PrivacyRequest(request))
    }

    /// Asks for the signed-in user's account and data to be erased. The password is
    /// checked again; the request is confirmed by an emailed link like any other.
    async fn request_account_erasure(
        &self,
        ctx: &Context<'_>,
        password: String,
    ) -> Result<PrivacyRequest> {
        let user = current_user(ctx).await?;
        let s = state(ctx);
        accounts::reauthenticate(&s.auth_limits, &user, password)
            .await
            .map_err(gql)?;
        let request = requests::submit_for_user(
            &s.db,
            &s.vault,
            &user,
            RequestKind::Erase,
            s.config.privacy.app_requests_per_day,
            meta(ctx),
        )
        .await
        .map_err(gql)?;
        Ok(PrivacyRequest(request))
    }

    /// Sets the workspace's billing profile; OWNER only.
    async fn update_billing_profile(
        &self,
        ctx: &Context<'_>,
        workspace_id: ID,
        input: BillingProfileInput,
    ) -> Result<Workspace> {
        let user = current_user(ctx).await?;
        let s = state(ctx);
        let workspace_id = parse_id(&workspace_id, "workspaceId")?;
        let mut access = workspaces::require_access(&s.db, user.id, workspace_id)
            .await
            .map_err(gql)?;
        let workspace = workspaces::update_billing_profile(
            &s.db,
            &access,
            BillingProfileUpdate {
                billing_email: input.billing_email,
                legal_name: input.legal_name,
                country: input.country,
                tax_id: input.tax_id,
            },
            meta(ctx),
        )
        .await
        .map_err(gql)?;
        access.workspace = workspace;
        Ok(Workspace(access))
    }
}
