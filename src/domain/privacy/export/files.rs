//! The files of a package, one function each: what goes in, page by page where a
//! person may have many rows.

use std::io::{BufWriter, Write};

use chrono::Utc;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde_json::json;
use uuid::Uuid;
use zip::write::SimpleFileOptions;
use zip::ZipWriter;

use super::package::{csv_field, html_escape, media_entry, write_pages};
use super::{io, PAGE};
use crate::domain::entities::{
    audit_events, comments, drafts, integrations, media, memberships, privacy_requests, sessions,
    users, workspaces,
};
use crate::domain::now;
use crate::domain::ops::outbox::recipient_hash;
use crate::error::{DomainError, DomainResult};
use crate::storage::MediaStore;

/// The package being written: an anonymous temporary file.
pub(super) type Zip = ZipWriter<BufWriter<std::fs::File>>;

/// How many rows of each kind went in, for the index page.
#[derive(Default)]
pub(super) struct Counts {
    pub workspaces: usize,
    pub channels: usize,
    pub requests: usize,
    pub reviews: usize,
    pub drafts: usize,
}

/// `account.json`: the account, or `null` for a requester without one.
pub(super) fn account(
    zip: &mut Zip,
    options: SimpleFileOptions,
    user: Option<&users::Model>,
) -> DomainResult<()> {
    // account.json
    zip.start_file("account.json", options).map_err(io)?;
    let account = user.map(|u| {
        json!({
            "id": u.id, "email": u.email, "display_name": u.display_name, "locale": u.locale,
            "time_zone": u.time_zone, "status": u.status, "email_verified_at": u.email_verified_at,
            "created_at": u.created_at,
        })
    });
    serde_json::to_writer_pretty(&mut *zip, &account).map_err(io)?;

    Ok(())
}

/// `workspaces.json` and `.csv`: their memberships (not the other members).
pub(super) async fn workspaces(
    conn: &impl ConnectionTrait,
    zip: &mut Zip,
    options: SimpleFileOptions,
    user: Option<&users::Model>,
) -> DomainResult<usize> {
    // workspaces.json + workspaces.csv: their memberships (not other members).
    let mut workspace_rows = Vec::new();
    if let Some(user) = user {
        let mine = memberships::Entity::find()
            .find_also_related(workspaces::Entity)
            .filter(memberships::Column::UserId.eq(user.id))
            .order_by_asc(memberships::Column::Id)
            .all(conn)
            .await?;
        for (membership, workspace) in mine {
            if let Some(w) = workspace {
                workspace_rows.push(json!({
                    "workspace_id": w.id, "name": w.name, "slug": w.slug, "role": membership.role,
                    "joined_at": membership.created_at,
                }));
            }
        }
    }
    zip.start_file("workspaces.json", options).map_err(io)?;
    serde_json::to_writer_pretty(&mut *zip, &workspace_rows).map_err(io)?;
    zip.start_file("workspaces.csv", options).map_err(io)?;
    writeln!(zip, "workspace_id,name,slug,role,joined_at").map_err(io)?;
    for row in &workspace_rows {
        let text = |k: &str| {
            row[k]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| row[k].to_string())
        };
        writeln!(
            zip,
            "{},{},{},{},{}",
            text("workspace_id"),
            csv_field(&text("name")),
            csv_field(&text("slug")),
            text("role"),
            text("joined_at")
        )
        .map_err(io)?;
    }

    Ok(workspace_rows.len())
}

/// `sessions.csv`, page by page.
pub(super) async fn sessions(
    conn: &impl ConnectionTrait,
    zip: &mut Zip,
    options: SimpleFileOptions,
    user: Option<&users::Model>,
) -> DomainResult<()> {
    // sessions.csv, page by page.
    zip.start_file("sessions.csv", options).map_err(io)?;
    writeln!(
        zip,
        "session_id,created_at,last_used_at,expires_at,revoked_at,user_agent"
    )
    .map_err(io)?;
    if let Some(user) = user {
        let mut after: Option<Uuid> = None;
        loop {
            let mut query = sessions::Entity::find()
                .filter(sessions::Column::UserId.eq(user.id))
                .order_by_asc(sessions::Column::Id)
                .limit(PAGE);
            if let Some(after) = after {
                query = query.filter(sessions::Column::Id.gt(after));
            }
            let page = query.all(conn).await?;
            for s in &page {
                writeln!(
                    zip,
                    "{},{},{},{},{},{}",
                    s.id,
                    s.created_at.to_rfc3339(),
                    s.last_used_at.to_rfc3339(),
                    s.expires_at.to_rfc3339(),
                    s.revoked_at.map(|r| r.to_rfc3339()).unwrap_or_default(),
                    csv_field(s.user_agent.as_deref().unwrap_or_default())
                )
                .map_err(io)?;
            }
            match page.last() {
                Some(last) if page.len() as u64 == PAGE => after = Some(last.id),
                _ => break,
            }
        }
    }

    Ok(())
}

/// `integrations.json`: the channels they connected, never their tokens.
pub(super) async fn integrations(
    conn: &impl ConnectionTrait,
    zip: &mut Zip,
    options: SimpleFileOptions,
    user: Option<&users::Model>,
) -> DomainResult<usize> {
    // integrations.json: channels they connected, never their tokens.
    let channels: Vec<serde_json::Value> = match user {
        Some(user) => integrations::Entity::find()
            .filter(integrations::Column::ConnectedBy.eq(user.id))
            .all(conn)
            .await?
            .into_iter()
            .map(|i| {
                json!({
                    "provider": i.provider, "external_account_id": i.external_account_id, "handle": i.handle,
                    "display_name": i.display_name, "scopes": i.scopes.split(' ').filter(|s| !s.is_empty()).collect::<Vec<_>>(),
                    "health": i.health, "connected_at": i.connected_at,
                })
            })
            .collect(),
        None => Vec::new(),
    };
    zip.start_file("integrations.json", options).map_err(io)?;
    serde_json::to_writer_pretty(&mut *zip, &channels).map_err(io)?;

    Ok(channels.len())
}

/// `privacy_requests.json`: their own requests, by account or by address.
pub(super) async fn privacy_requests(
    conn: &impl ConnectionTrait,
    zip: &mut Zip,
    options: SimpleFileOptions,
    request: &privacy_requests::Model,
) -> DomainResult<usize> {
    // privacy_requests.json: their own requests, by account or by address.
    let email_hash = request.requester_email.as_deref().map(recipient_hash);
    let mut own = privacy_requests::Entity::find().order_by_asc(privacy_requests::Column::Id);
    own = match (request.user_id, email_hash) {
        (Some(user_id), Some(hash)) => own.filter(
            sea_orm::Condition::any()
                .add(privacy_requests::Column::UserId.eq(user_id))
                .add(privacy_requests::Column::RequesterEmailHash.eq(hash)),
        ),
        (Some(user_id), None) => own.filter(privacy_requests::Column::UserId.eq(user_id)),
        (None, Some(hash)) => own.filter(privacy_requests::Column::RequesterEmailHash.eq(hash)),
        (None, None) => own.filter(privacy_requests::Column::Id.eq(request.id)),
    };
    let own: Vec<serde_json::Value> = own
        .all(conn)
        .await?
        .into_iter()
        .map(|r| {
            json!({
                "reference": r.reference, "kind": r.kind, "status": r.status, "source": r.source,
                "jurisdiction": r.jurisdiction, "received_at": r.received_at, "due_at": r.due_at,
                "completed_at": r.completed_at, "decision": r.decision, "decision_reason": r.decision_reason,
            })
        })
        .collect();
    zip.start_file("privacy_requests.json", options)
        .map_err(io)?;
    serde_json::to_writer_pretty(&mut *zip, &own).map_err(io)?;

    Ok(own.len())
}

/// `review_links.json`: the client reviews sent to their address(es), with what they
/// decided and wrote.
pub(super) async fn review_links(
    conn: &impl ConnectionTrait,
    zip: &mut Zip,
    options: SimpleFileOptions,
    request: &privacy_requests::Model,
    user: Option<&users::Model>,
) -> DomainResult<usize> {
    // review_links.json: the client reviews sent to their address(es), with what they
    // decided and wrote.
    let mut addresses: Vec<String> = Vec::new();
    for email in request.requester_email.iter().chain(user.map(|u| &u.email)) {
        let folded = email.trim().to_lowercase();
        if !addresses.contains(&folded) {
            addresses.push(folded);
        }
    }
    let reviews = crate::domain::content::review_links::sent_to(conn, &addresses).await?;
    let reviewed_ids: Vec<Uuid> = reviews
        .iter()
        .flat_map(|(_, items)| items.iter().map(|i| i.draft_id))
        .collect();
    let reviewed: Vec<(Uuid, String)> = drafts::Entity::find()
        .select_only()
        .column(drafts::Column::Id)
        .column(drafts::Column::Title)
        .filter(drafts::Column::Id.is_in(reviewed_ids))
        .into_tuple()
        .all(conn)
        .await?;
    let review_spaces: Vec<(Uuid, String)> = workspaces::Entity::find()
        .select_only()
        .column(workspaces::Column::Id)
        .column(workspaces::Column::Name)
        .filter(workspaces::Column::Id.is_in(reviews.iter().map(|(l, _)| l.workspace_id)))
        .into_tuple()
        .all(conn)
        .await?;
    let review_rows: Vec<serde_json::Value> = reviews
        .iter()
        .map(|(link, items)| {
            let state = crate::domain::content::review_links::LinkState::of(link, now());
            json!({
                "review_link_id": link.id,
                "workspace": review_spaces.iter().find(|(id, _)| *id == link.workspace_id).map(|(_, n)| n),
                "email": link.reviewer_email, "time_zone": link.time_zone, "message": link.message,
                "state": state.as_str(), "shared_at": link.created_at, "expires_at": link.expires_at,
                "drafts": items.iter().map(|i| json!({
                    "draft_id": i.draft_id,
                    "title": reviewed.iter().find(|(id, _)| *id == i.draft_id).map(|(_, t)| t),
                    "planned_at": i.planned_at, "decision": i.decision, "comment": i.comment,
                    "decided_at": i.decided_at,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    zip.start_file("review_links.json", options).map_err(io)?;
    serde_json::to_writer_pretty(&mut *zip, &review_rows).map_err(io)?;

    Ok(review_rows.len())
}

/// `audit_events.json`: what they did, page by page (other people appear by id only).
pub(super) async fn audit_events(
    conn: &impl ConnectionTrait,
    zip: &mut Zip,
    options: SimpleFileOptions,
    user: Option<&users::Model>,
) -> DomainResult<()> {
    // audit_events.json: what they did, page by page (other people appear by id only).
    zip.start_file("audit_events.json", options).map_err(io)?;
    zip.write_all(b"[").map_err(io)?;
    if let Some(user) = user {
        let actor = user.id.to_string();
        let mut after = 0i64;
        let mut first = true;
        loop {
            let page = audit_events::Entity::find()
                .filter(audit_events::Column::ActorId.eq(actor.as_str()))
                .filter(audit_events::Column::Seq.gt(after))
                .order_by_asc(audit_events::Column::Seq)
                .limit(PAGE)
                .all(conn)
                .await?;
            for e in &page {
                if !first {
                    zip.write_all(b",").map_err(io)?;
                }
                first = false;
                serde_json::to_writer(
                    &mut *zip,
                    &json!({ "at": e.at, "action": e.action, "target_kind": e.target_kind, "network": e.ip }),
                )
                .map_err(io)?;
            }
            match page.last() {
                Some(last) if page.len() as u64 == PAGE => after = last.seq,
                _ => break,
            }
        }
    }
    zip.write_all(b"]").map_err(io)?;

    Ok(())
}

/// `drafts.json`: the drafts they wrote with their channel texts, page by page.
pub(super) async fn drafts(
    conn: &impl ConnectionTrait,
    zip: &mut Zip,
    options: SimpleFileOptions,
    user_id: Option<Uuid>,
) -> DomainResult<usize> {
    zip.start_file("drafts.json", options).map_err(io)?;
    write_pages(zip, |after| {
        let query = drafts::Entity::find()
            .filter(drafts::Column::AuthorId.eq(user_id))
            .order_by_asc(drafts::Column::Id)
            .limit(PAGE);
        let query = match after {
            Some(after) => query.filter(drafts::Column::Id.gt(after)),
            None => query,
        };
        async move {
            let page = query.all(conn).await?;
            let ids: Vec<Uuid> = page.iter().map(|d| d.id).collect();
            let targets = crate::domain::content::targets::for_drafts(conn, &ids).await?;
            Ok(page
                .into_iter()
                .map(|d| {
                    let channels: Vec<_> = targets
                        .iter()
                        .filter(|t| t.draft_id == d.id)
                        .map(|t| json!({ "provider": t.provider, "title": t.title, "body": t.body, "status": t.status, "url": t.url }))
                        .collect();
                    (
                        d.id,
                        json!({
                            "id": d.id, "workspace_id": d.workspace_id, "title": d.title, "body": d.body,
                            "tags": crate::domain::content::tags_of(&d), "status": d.status,
                            "scheduled_at": d.scheduled_at, "time_zone": d.time_zone,
                            "created_at": d.created_at, "updated_at": d.updated_at, "targets": channels,
                        }),
                    )
                })
                .collect())
        }
    })
    .await
}

/// `comments.json`: their comments that stand, page by page.
pub(super) async fn comments(
    conn: &impl ConnectionTrait,
    zip: &mut Zip,
    options: SimpleFileOptions,
    user_id: Option<Uuid>,
) -> DomainResult<()> {
    zip.start_file("comments.json", options).map_err(io)?;
    write_pages(zip, |after| {
        let query = comments::Entity::find()
            .filter(comments::Column::AuthorId.eq(user_id))
            .filter(comments::Column::DeletedAt.is_null())
            .order_by_asc(comments::Column::Id)
            .limit(PAGE);
        let query = match after {
            Some(after) => query.filter(comments::Column::Id.gt(after)),
            None => query,
        };
        async move {
            Ok(query
                .all(conn)
                .await?
                .into_iter()
                .map(|c| {
                    (
                        c.id,
                        json!({ "id": c.id, "draft_id": c.draft_id, "parent_id": c.parent_id, "body": c.body,
                                "created_at": c.created_at, "edited_at": c.edited_at, "resolved_at": c.resolved_at }),
                    )
                })
                .collect())
        }
    })
    .await?;
    Ok(())
}

/// `media.json`: what they uploaded (name, type, size, checksum, where in the package).
pub(super) async fn media(
    conn: &impl ConnectionTrait,
    zip: &mut Zip,
    options: SimpleFileOptions,
    user_id: Option<Uuid>,
) -> DomainResult<()> {
    zip.start_file("media.json", options).map_err(io)?;
    write_pages(zip, |after| {
        let query = media::Entity::find()
            .filter(media::Column::UploaderId.eq(user_id))
            .order_by_asc(media::Column::Id)
            .limit(PAGE);
        let query = match after {
            Some(after) => query.filter(media::Column::Id.gt(after)),
            None => query,
        };
        async move {
            Ok(query
                .all(conn)
                .await?
                .into_iter()
                .map(|m| {
                    (
                        m.id,
                        json!({ "id": m.id, "workspace_id": m.workspace_id, "file_name": m.file_name,
                                "content_type": m.content_type, "size_bytes": m.size_bytes,
                                "sha256": m.sha256, "uploaded_at": m.created_at,
                                "file": media_entry(&m) }),
                    )
                })
                .collect())
        }
    })
    .await?;

    Ok(())
}

/// The uploaded files themselves, streamed from the store into `media/`.
pub(super) async fn media_files(
    conn: &impl ConnectionTrait,
    zip: &mut Zip,
    store: &MediaStore,
    user_id: Option<Uuid>,
) -> DomainResult<()> {
    let mut after: Option<Uuid> = None;
    loop {
        let query = media::Entity::find()
            .filter(media::Column::UploaderId.eq(user_id))
            .order_by_asc(media::Column::Id)
            .limit(PAGE);
        let query = match after {
            Some(after) => query.filter(media::Column::Id.gt(after)),
            None => query,
        };
        let page = query.all(conn).await?;
        let Some(last) = page.last() else {
            break;
        };
        after = Some(last.id);
        for item in &page {
            let mut chunks = match store.get(&item.storage_key).await {
                Ok(chunks) => chunks,
                Err(e) => {
                    tracing::warn!(media = %item.id, error = %e, "an uploaded file is missing from the store; left out of the export");
                    continue;
                }
            };
            let stored =
                SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
            zip.start_file(media_entry(item), stored).map_err(io)?;
            while let Some(chunk) = futures::StreamExt::next(&mut chunks).await {
                let chunk = chunk.map_err(DomainError::internal)?;
                zip.write_all(&chunk).map_err(io)?;
            }
        }
    }

    Ok(())
}

/// `index.html`, for people.
pub(super) fn index(
    zip: &mut Zip,
    options: SimpleFileOptions,
    request: &privacy_requests::Model,
    user: Option<&users::Model>,
    counts: &Counts,
) -> DomainResult<()> {
    zip.start_file("index.html", options).map_err(io)?;
    let name = user.map_or("", |u| u.display_name.as_str());
    write!(
        zip,
        "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>Your Atelier data</title>\
         <body style=\"font-family:sans-serif;max-width:720px;margin:2em auto\"><h1>Your Atelier data</h1>\
         <p>Prepared {} for request {}{}.</p><ul>\
         <li><a href=\"account.json\">account.json</a>: your account</li>\
         <li><a href=\"workspaces.json\">workspaces.json</a> / <a href=\"workspaces.csv\">.csv</a>: {} workspace(s) and your role</li>\
         <li><a href=\"sessions.csv\">sessions.csv</a>: your sign-in sessions</li>\
         <li><a href=\"integrations.json\">integrations.json</a>: {} channel(s) you connected (without tokens)</li>\
         <li><a href=\"privacy_requests.json\">privacy_requests.json</a>: {} privacy request(s)</li>\
         <li><a href=\"review_links.json\">review_links.json</a>: {} client review(s) sent to you, with your decisions</li>\
         <li><a href=\"audit_events.json\">audit_events.json</a>: what you did, as our security log records it</li>\
         <li><a href=\"drafts.json\">drafts.json</a>: {} draft(s) you wrote, with their channel texts</li>\
         <li><a href=\"comments.json\">comments.json</a>: your comments</li>\
         <li><a href=\"media.json\">media.json</a>: files you uploaded (name, type, size, checksum); the files are in <code>media/</code></li>\
         </ul><p>README.md describes every file and field.</p></body></html>",
        Utc::now().format("%-d %B %Y"),
        html_escape(&request.reference),
        if name.is_empty() { String::new() } else { format!(" ({})", html_escape(name)) },
        counts.workspaces,
        counts.channels,
        counts.requests,
        counts.reviews,
        counts.drafts
    )
    .map_err(io)?;

    Ok(())
}
