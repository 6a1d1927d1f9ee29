//! What the channels context lets go of when a workspace is deleted: every channel's
//! tokens, queued for revocation at its platform (sealed, retried until the platform
//! takes them), before the rows that hold them go with the workspace.

use sea_orm::DatabaseTransaction;
use uuid::Uuid;

use super::integrations::{enqueue_revocation, list, open_tokens};
use crate::crypto::vault::Vault;
use crate::domain::platforms::Provider;
use crate::domain::workspace::workspaces::Release;
use crate::error::DomainResult;

/// The channels' side of a workspace's deletion (see `workspaces::delete_workspace`).
pub struct RevokeChannels<'a>(pub &'a Vault);

#[async_trait::async_trait]
impl Release for RevokeChannels<'_> {
    async fn release(&self, txn: &DatabaseTransaction, workspace_id: Uuid) -> DomainResult<usize> {
        let channels = list(txn, workspace_id).await?;
        for channel in &channels {
            let Some(provider) = Provider::parse(&channel.provider) else {
                continue;
            };
            if let Some(tokens) = open_tokens(txn, self.0, channel.id).await? {
                enqueue_revocation(txn, self.0, provider, &tokens).await?;
            }
        }
        Ok(channels.len())
    }
}
