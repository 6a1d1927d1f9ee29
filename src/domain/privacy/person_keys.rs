//! Crypto-shredding: each person who needs it gets a data key of their own, stored
//! sealed by the vault. An audit detail that must name a person is sealed with their key
//! (`seal`); erasure deletes the key (`shred`), after which the detail cannot be opened
//! by anyone — while the audit chain, which hashes the ciphertext, still verifies.

use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use secrecy::{ExposeSecret, SecretString};
use uuid::Uuid;

use crate::crypto::vault::Vault;
use crate::domain::entities::{former_identifiers, person_keys};
use crate::domain::now;
use crate::error::{DomainError, DomainResult};

fn key_context(user_id: Uuid) -> Vec<u8> {
    format!("atelier:person-key:{user_id}").into_bytes()
}

fn detail_context(user_id: Uuid) -> Vec<u8> {
    format!("atelier:personal-detail:{user_id}").into_bytes()
}

/// The person's own vault (one key), if they have a key.
async fn person_vault(
    conn: &impl ConnectionTrait,
    vault: &Vault,
    user_id: Uuid,
) -> DomainResult<Option<Vault>> {
    let Some(row) = person_keys::Entity::find_by_id(user_id).one(conn).await? else {
        return Ok(None);
    };
    let spec = vault
        .open(&row.key_sealed, &key_context(user_id))
        .map_err(DomainError::internal)?;
    let spec = SecretString::from(String::from_utf8(spec).map_err(DomainError::internal)?);
    Ok(Some(
        Vault::from_spec(&spec).map_err(DomainError::internal)?,
    ))
}

/// Seals a detail about a person with their data key (made on first use).
pub async fn seal(
    conn: &impl ConnectionTrait,
    vault: &Vault,
    user_id: Uuid,
    detail: &serde_json::Value,
) -> DomainResult<String> {
    let own = match person_vault(conn, vault, user_id).await? {
        Some(own) => own,
        None => {
            let spec = Vault::generate_spec("person");
            person_keys::ActiveModel {
                user_id: Set(user_id),
                key_sealed: Set(vault.seal(spec.expose_secret().as_bytes(), &key_context(user_id))),
                created_at: Set(now()),
            }
            .insert(conn)
            .await?;
            Vault::from_spec(&spec).map_err(DomainError::internal)?
        }
    };
    Ok(own.seal(detail.to_string().as_bytes(), &detail_context(user_id)))
}

/// Opens a sealed detail; `None` once the person's key was shredded.
pub async fn open(
    conn: &impl ConnectionTrait,
    vault: &Vault,
    user_id: Uuid,
    sealed: &str,
) -> DomainResult<Option<serde_json::Value>> {
    let Some(own) = person_vault(conn, vault, user_id).await? else {
        return Ok(None);
    };
    let plain = own
        .open(sealed, &detail_context(user_id))
        .map_err(DomainError::internal)?;
    Ok(Some(
        serde_json::from_slice(&plain).map_err(DomainError::internal)?,
    ))
}

/// Destroys the person's data key: every detail sealed with it is unreadable from now
/// on. Returns 1 if there was a key.
pub async fn shred(conn: &impl ConnectionTrait, user_id: Uuid) -> DomainResult<u64> {
    Ok(person_keys::Entity::delete_by_id(user_id)
        .exec(conn)
        .await?
        .rows_affected)
}

/// Re-seals every person key under the vault's current key (rotation).
pub async fn reseal_all(conn: &impl ConnectionTrait, vault: &Vault) -> DomainResult<u64> {
    let current = vault.current_key_id().to_string();
    let mut resealed = 0;
    for row in person_keys::Entity::find().all(conn).await? {
        if Vault::key_id_of(&row.key_sealed) == Some(current.as_str()) {
            continue;
        }
        let context = key_context(row.user_id);
        let plain = vault
            .open(&row.key_sealed, &context)
            .map_err(DomainError::internal)?;
        let mut active: person_keys::ActiveModel = row.into();
        active.key_sealed = Set(vault.seal(&plain, &context));
        active.update(conn).await?;
        resealed += 1;
    }
    Ok(resealed)
}

/// Which identifier a person had before a correction replaced it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdentifierKind {
    Email,
    Name,
}

impl IdentifierKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Name => "name",
        }
    }
}

/// Remembers, sealed with the person's data key, an identifier that a correction
/// replaced: an erasure later looks for every identifier the person ever had.
pub async fn remember_former_identifier(
    conn: &impl ConnectionTrait,
    vault: &Vault,
    user_id: Uuid,
    kind: IdentifierKind,
    value: &str,
) -> DomainResult<()> {
    let sealed = seal(conn, vault, user_id, &serde_json::json!(value)).await?;
    former_identifiers::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(user_id),
        kind: Set(kind.as_str().into()),
        value_sealed: Set(sealed),
        replaced_at: Set(now()),
    }
    .insert(conn)
    .await?;
    Ok(())
}

/// The identifiers a correction replaced, opened (none once the key was shredded).
pub async fn former_identifiers(
    conn: &impl ConnectionTrait,
    vault: &Vault,
    user_id: Uuid,
) -> DomainResult<Vec<(IdentifierKind, String)>> {
    let rows = former_identifiers::Entity::find()
        .filter(former_identifiers::Column::UserId.eq(user_id))
        .all(conn)
        .await?;
    let mut found = Vec::with_capacity(rows.len());
    for row in rows {
        let Some(value) = open(conn, vault, user_id, &row.value_sealed).await? else {
            continue;
        };
        let kind = match row.kind.as_str() {
            "email" => IdentifierKind::Email,
            _ => IdentifierKind::Name,
        };
        if let Some(value) = value.as_str() {
            found.push((kind, value.to_string()));
        }
    }
    Ok(found)
}

/// Deletes the remembered former identifiers of a person; returns how many.
pub async fn forget_former_identifiers(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
) -> DomainResult<u64> {
    Ok(former_identifiers::Entity::delete_many()
        .filter(former_identifiers::Column::UserId.eq(user_id))
        .exec(conn)
        .await?
        .rows_affected)
}
