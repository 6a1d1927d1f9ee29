//! Key rotation: re-seals everything the vault sealed under the current (first) key, so
//! an old key can be retired once no value needs it.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set,
    TransactionSession, TransactionTrait,
};
use serde_json::json;

use crate::crypto::vault::Vault;
use crate::domain::entities::{integration_tokens, jobs as job_rows, oauth_states};
use crate::domain::ops::audit::{self, Actor, NewEvent};
use crate::domain::RequestMeta;
use crate::error::{DomainError, DomainResult};

/// What a rotation re-sealed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rotation {
    pub integration_tokens: u64,
    pub queued_jobs: u64,
    pub already_current: u64,
    pub person_keys: u64,
}

/// Re-seals every integration token and every pending job's sealed payload under the
/// vault's current key. Values already under it are left alone.
pub async fn rotate(
    conn: &(impl ConnectionTrait + TransactionTrait),
    vault: &Vault,
    actor: Actor,
    meta: &RequestMeta,
) -> DomainResult<Rotation> {
    let current = vault.current_key_id().to_string();
    let mut rotation = Rotation::default();
    let txn = conn.begin().await?;
    for row in integration_tokens::Entity::find().all(&txn).await? {
        if row.key_id == current {
            rotation.already_current += 1;
            continue;
        }
        let aad = crate::domain::channels::integrations::associated_data(row.integration_id);
        let reseal = |sealed: &str| -> DomainResult<String> {
            let plain = vault.open(sealed, &aad).map_err(DomainError::internal)?;
            Ok(vault.seal(&plain, &aad))
        };
        let access = reseal(&row.access_token_sealed)?;
        let refresh = row
            .refresh_token_sealed
            .as_deref()
            .map(reseal)
            .transpose()?;
        let mut active: integration_tokens::ActiveModel = row.into();
        active.access_token_sealed = Set(access);
        active.refresh_token_sealed = Set(refresh);
        active.key_id = Set(current.clone());
        active.update(&txn).await?;
        rotation.integration_tokens += 1;
    }
    // Given-up jobs too: staff may retry them, and they must still open then.
    let pending = job_rows::Entity::find()
        .filter(job_rows::Column::DoneAt.is_null())
        .all(&txn)
        .await?;
    for job in pending {
        let Ok(mut payload) = serde_json::from_str::<serde_json::Value>(&job.payload) else {
            continue;
        };
        let mut changed = false;
        // Queued revocations hold a list of sealed tokens.
        if job.kind == crate::domain::ops::jobs::kind::REVOKE_TOKENS {
            if let Some(list) = payload.get_mut("sealed").and_then(|v| v.as_array_mut()) {
                for item in list.iter_mut() {
                    let Some(sealed) = item.as_str() else {
                        continue;
                    };
                    if Vault::key_id_of(sealed) == Some(current.as_str()) {
                        continue;
                    }
                    let context = crate::domain::channels::integrations::REVOCATION_CONTEXT;
                    let plain = vault.open(sealed, context).map_err(DomainError::internal)?;
                    *item = json!(vault.seal(&plain, context));
                    changed = true;
                }
            }
        }
        if let Some(map) = payload.as_object_mut() {
            for (field, context) in [
                ("sealed", crate::domain::ops::outbox::SEAL_CONTEXT),
                (
                    "sealed_needles",
                    crate::domain::privacy::fulfil::SEAL_CONTEXT,
                ),
                (
                    "sealed_reset",
                    crate::domain::identity::accounts::RESET_SEAL_CONTEXT,
                ),
            ] {
                let Some(sealed) = map.get(field).and_then(|v| v.as_str()) else {
                    continue;
                };
                if Vault::key_id_of(sealed) == Some(current.as_str()) {
                    continue;
                }
                let plain = vault.open(sealed, context).map_err(DomainError::internal)?;
                map.insert(field.to_string(), json!(vault.seal(&plain, context)));
                changed = true;
            }
        }
        if changed {
            let mut active: job_rows::ActiveModel = job.into();
            active.payload = Set(payload.to_string());
            active.update(&txn).await?;
            rotation.queued_jobs += 1;
        }
    }
    // Connections in progress keep their PKCE verifiers sealed too.
    for pending in oauth_states::Entity::find()
        .filter(oauth_states::Column::UsedAt.is_null())
        .all(&txn)
        .await?
    {
        if Vault::key_id_of(&pending.verifier_sealed) == Some(current.as_str()) {
            continue;
        }
        let context = crate::domain::channels::integrations::VERIFIER_CONTEXT;
        let Ok(plain) = vault.open(&pending.verifier_sealed, context) else {
            continue; // sealed under a key no longer configured: the attempt just fails
        };
        let mut active: oauth_states::ActiveModel = pending.into();
        active.verifier_sealed = Set(vault.seal(&plain, context));
        active.update(&txn).await?;
    }
    rotation.person_keys = crate::domain::privacy::person_keys::reseal_all(&txn, vault).await?;
    audit::record(
        &txn,
        NewEvent::new(actor, "keys.rotated").details(json!({
            "person_keys": rotation.person_keys,
            "key_id": current,
            "integration_tokens": rotation.integration_tokens,
            "queued_jobs": rotation.queued_jobs,
        })),
        meta,
    )
    .await?;
    txn.commit().await?;
    Ok(rotation)
}

/// Which keys the stored secrets are sealed under: token rows per key id.
pub async fn usage(conn: &impl ConnectionTrait) -> DomainResult<Vec<(String, u64)>> {
    let mut counts: Vec<(String, u64)> = Vec::new();
    for row in integration_tokens::Entity::find().all(conn).await? {
        match counts.iter_mut().find(|(id, _)| *id == row.key_id) {
            Some((_, n)) => *n += 1,
            None => counts.push((row.key_id, 1)),
        }
    }
    counts.sort();
    Ok(counts)
}
