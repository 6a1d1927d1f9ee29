//! Writing a draft's variants with the configured generator, one per channel, each brought
//! within its platform's limits and recorded as a generation.

use super::targets::{self, Origin, TargetText};
use super::variants::{ContentGenerator, Source};
use super::{find_in_workspace, require_editable, tags_of};
use crate::domain::entities::{draft_generations, draft_targets};
use crate::domain::ops::audit::{self, Actor, NewEvent};
use crate::domain::platforms::Provider;
use crate::domain::workspace::workspaces::{Role, WorkspaceAccess};
use crate::domain::{now, RequestMeta};
use crate::error::{DomainError, DomainResult};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
    TransactionSession, TransactionTrait,
};
use serde_json::json;
use uuid::Uuid;

/// Writes a variant of the draft for each of `providers` with `generator`, saves them
/// as the draft's targets (origin GENERATED) and records what went in and came out.
pub async fn generate_variants(
    conn: &(impl ConnectionTrait + TransactionTrait),
    access: &WorkspaceAccess,
    draft_id: Uuid,
    providers: &[Provider],
    generator: &dyn ContentGenerator,
    meta: &RequestMeta,
) -> DomainResult<Vec<draft_targets::Model>> {
    access.require(Role::Editor)?;
    let mut wanted: Vec<Provider> = Vec::new();
    for provider in providers {
        if !wanted.contains(provider) {
            wanted.push(*provider);
        }
    }
    if wanted.is_empty() {
        return Err(DomainError::bad_input(
            "name at least one channel to write for",
        ));
    }
    let draft = find_in_workspace(conn, access, draft_id).await?;
    require_editable(&draft, "its channels")?;
    let source = Source {
        title: draft.title.clone(),
        body: draft.body.clone(),
        tags: tags_of(&draft),
    };
    // The generator may take seconds (a remote model): write nothing until all are in.
    let mut variants = Vec::with_capacity(wanted.len());
    for provider in &wanted {
        let variant = generator.generate(&source, *provider).await.map_err(|e| {
            tracing::warn!(error = ?e, generator = %generator.describe(), "text generation failed");
            DomainError::Upstream(format!(
                "the text generator failed for {}: {e}",
                provider.as_str()
            ))
        })?;
        variants.push((*provider, variant));
    }
    let txn = conn.begin().await?;
    let current = find_in_workspace(&txn, access, draft_id).await?;
    if current.version != draft.version {
        return Err(DomainError::conflict(
            "the draft changed while its variants were written; generate them again",
        ));
    }
    let mut saved = Vec::with_capacity(variants.len());
    for (provider, variant) in &variants {
        saved.push(
            targets::upsert(
                &txn,
                access,
                draft_id,
                TargetText {
                    provider: *provider,
                    integration_id: None,
                    title: variant.title.clone(),
                    body: variant.body.clone(),
                },
                Origin::Generated,
            )
            .await?,
        );
    }
    let outputs: serde_json::Map<String, serde_json::Value> = variants
        .iter()
        .map(|(p, v)| (p.as_str().to_string(), json!(v)))
        .collect();
    draft_generations::ActiveModel {
        id: Set(Uuid::now_v7()),
        draft_id: Set(draft_id),
        generator: Set(generator.describe()),
        requested_by: Set(Some(access.user_id())),
        inputs: Set(json!({
            "source": source,
            "version": draft.version,
            "providers": wanted.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
        })
        .to_string()),
        outputs: Set(serde_json::Value::Object(outputs).to_string()),
        created_at: Set(now()),
    }
    .insert(&txn)
    .await?;
    audit::record(
        &txn,
        NewEvent::new(Actor::User(access.user_id()), "draft.variants_generated")
            .target("draft", draft_id)
            .workspace(access.workspace_id())
            .details(json!({ "generator": generator.describe(), "channels": wanted.len() })),
        meta,
    )
    .await?;
    txn.commit().await?;
    Ok(saved)
}

/// The generations of many drafts in one statement, newest first.
pub async fn generations_of(
    conn: &impl ConnectionTrait,
    draft_ids: &[Uuid],
) -> DomainResult<Vec<draft_generations::Model>> {
    Ok(draft_generations::Entity::find()
        .filter(draft_generations::Column::DraftId.is_in(draft_ids.iter().copied()))
        .order_by_desc(draft_generations::Column::Id)
        .all(conn)
        .await?)
}
