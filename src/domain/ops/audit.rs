//! The append-only audit chain. Each event stores `prev_hash` and
//! `hash = SHA-256(prev_hash | canonical event)`, so anyone holding the table can check
//! that no event was altered, removed or inserted. Events carry ids, never personal data
//! in clear; client IPs are truncated to their network (/24 or /48).
//!
//! Writing and linking are apart, so that audited writes never wait for each other: an
//! event is appended unsealed, in the caller's transaction, with one INSERT; the sealer
//! (`seal`, run by every job runner between jobs, one at a time under a short lock) then
//! links the events it finds committed, in `seq` order, after the chain's head, giving
//! each its place (`chain_pos`). An event whose transaction commits late is sealed
//! later, after those that committed first, so the chain never forks and verification
//! stays exact; until it is sealed (a moment, while a runner runs) an event is shown as
//! such and is not yet covered by the chain.

use std::net::IpAddr;

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, Statement, TransactionSession, TransactionTrait,
};
use serde_json::Value;
use uuid::Uuid;

use crate::crypto::sha256_hex;
use crate::domain::entities::audit_events;
use crate::domain::{now, RequestMeta};
use crate::error::DomainResult;

pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// An arbitrary constant naming the PostgreSQL advisory lock that one sealer holds.
const CHAIN_LOCK_KEY: i64 = 0x0041_5445_4c49_4552; // "ATELIER" in ASCII

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Actor {
    User(Uuid),
    Staff(Uuid),
    System,
    /// Someone not signed in (a failed log-in, a public form).
    Anonymous,
    /// The outside reviewer of a client review link, by the link's id.
    ClientReviewer(Uuid),
}

impl Actor {
    fn parts(self) -> (&'static str, Option<String>) {
        match self {
            Actor::User(id) => ("user", Some(id.to_string())),
            Actor::Staff(id) => ("staff", Some(id.to_string())),
            Actor::System => ("system", None),
            Actor::Anonymous => ("anonymous", None),
            Actor::ClientReviewer(link) => ("client_reviewer", Some(link.to_string())),
        }
    }
}

/// One event to append.
pub struct NewEvent {
    pub actor: Actor,
    pub action: &'static str,
    pub target: Option<(&'static str, String)>,
    pub workspace_id: Option<Uuid>,
    pub details: Value,
}

impl NewEvent {
    pub fn new(actor: Actor, action: &'static str) -> Self {
        Self {
            actor,
            action,
            target: None,
            workspace_id: None,
            details: Value::Object(Default::default()),
        }
    }

    pub fn target(mut self, kind: &'static str, id: impl ToString) -> Self {
        self.target = Some((kind, id.to_string()));
        self
    }

    pub fn workspace(mut self, id: Uuid) -> Self {
        self.workspace_id = Some(id);
        self
    }

    pub fn details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }
}

/// Appends an event, unsealed, in the caller's transaction (or on its own): one INSERT
/// that waits for no other writer. The sealer links it into the chain shortly after.
pub async fn record(
    conn: &impl ConnectionTrait,
    event: NewEvent,
    meta: &RequestMeta,
) -> DomainResult<audit_events::Model> {
    let (actor_kind, actor_id) = event.actor.parts();
    let inserted = audit_events::ActiveModel {
        seq: sea_orm::NotSet,
        id: Set(Uuid::now_v7()),
        at: Set(now()),
        actor_kind: Set(actor_kind.to_string()),
        actor_id: Set(actor_id),
        action: Set(event.action.to_string()),
        target_kind: Set(event.target.as_ref().map(|(k, _)| k.to_string())),
        target_id: Set(event.target.map(|(_, id)| id)),
        workspace_id: Set(event.workspace_id),
        ip: Set(meta.ip.map(truncate_ip)),
        details: Set(event.details.to_string()),
        prev_hash: Set(String::new()),
        hash: Set(String::new()),
        chain_pos: Set(None),
    }
    .insert(conn)
    .await?;
    Ok(inserted)
}

/// How many events one sealing transaction links.
const SEAL_BATCH: u64 = 500;

/// Links every committed unsealed event into the chain, oldest `seq` first, after the
/// chain's head; returns how many. One sealer at a time (a PostgreSQL advisory lock held
/// for one batch; SQLite's single writer): appends never take it.
pub async fn seal(conn: &(impl ConnectionTrait + TransactionTrait)) -> DomainResult<u64> {
    let mut sealed = 0u64;
    loop {
        let txn = conn.begin().await?;
        if txn.get_database_backend() == DatabaseBackend::Postgres {
            txn.execute_raw(Statement::from_sql_and_values(
                DatabaseBackend::Postgres,
                "SELECT pg_advisory_xact_lock($1)",
                [CHAIN_LOCK_KEY.into()],
            ))
            .await?;
        }
        let pending = audit_events::Entity::find()
            .filter(audit_events::Column::ChainPos.is_null())
            .order_by_asc(audit_events::Column::Seq)
            .limit(SEAL_BATCH)
            .all(&txn)
            .await?;
        if pending.is_empty() {
            txn.commit().await?;
            return Ok(sealed);
        }
        let head: Option<(i64, String)> = audit_events::Entity::find()
            .select_only()
            .column(audit_events::Column::ChainPos)
            .column(audit_events::Column::Hash)
            .filter(audit_events::Column::ChainPos.is_not_null())
            .order_by_desc(audit_events::Column::ChainPos)
            .limit(1)
            .into_tuple()
            .one(&txn)
            .await?;
        let (mut pos, mut prev_hash) = head.unwrap_or((0, GENESIS_HASH.to_string()));
        let batch = pending.len() as u64;
        for mut event in pending {
            pos += 1;
            event.prev_hash = prev_hash;
            event.hash = link_hash(&event);
            audit_events::Entity::update_many()
                .col_expr(audit_events::Column::ChainPos, Expr::value(pos))
                .col_expr(
                    audit_events::Column::PrevHash,
                    Expr::value(event.prev_hash.clone()),
                )
                .col_expr(audit_events::Column::Hash, Expr::value(event.hash.clone()))
                .filter(audit_events::Column::Seq.eq(event.seq))
                .exec(&txn)
                .await?;
            prev_hash = event.hash;
        }
        txn.commit().await?;
        sealed += batch;
        if batch < SEAL_BATCH {
            return Ok(sealed);
        }
    }
}

/// The hash of one link: SHA-256 over the previous hash and every field of the event.
pub fn link_hash(event: &audit_events::Model) -> String {
    let canonical = serde_json::json!([
        "atelier-audit-v1",
        event.prev_hash,
        event.id.to_string(),
        event
            .at
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        event.actor_kind,
        event.actor_id,
        event.action,
        event.target_kind,
        event.target_id,
        event.workspace_id.map(|id| id.to_string()),
        event.ip,
        event.details,
    ]);
    sha256_hex(canonical.to_string())
}

/// Keeps the network part of an address: enough to spot abuse, not enough to name a person.
pub fn truncate_ip(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.0/24")
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return truncate_ip(IpAddr::V4(v4));
            }
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
        }
    }
}

/// What a walk over the whole chain found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainReport {
    pub events_checked: u64,
    /// The sequence number of the first event whose link does not hold, if any.
    pub first_broken_seq: Option<i64>,
    /// Events appended but not yet sealed into the chain (not covered by this check).
    pub unsealed: u64,
}

impl ChainReport {
    pub fn is_intact(&self) -> bool {
        self.first_broken_seq.is_none()
    }
}

/// Walks the sealed chain in order, page by page, and reports the first broken link: a
/// changed event, a removed one (the next one's `prev_hash` no longer matches) or one
/// put in (its place or link does not follow).
pub async fn verify_chain(conn: &impl ConnectionTrait) -> DomainResult<ChainReport> {
    use sea_orm::PaginatorTrait;
    const PAGE: u64 = 1_000;
    let unsealed = audit_events::Entity::find()
        .filter(audit_events::Column::ChainPos.is_null())
        .count(conn)
        .await?;
    let mut expected_prev = GENESIS_HASH.to_string();
    let mut last_pos = 0i64;
    let mut checked = 0u64;
    loop {
        let page = audit_events::Entity::find()
            .filter(audit_events::Column::ChainPos.gt(last_pos))
            .order_by_asc(audit_events::Column::ChainPos)
            .limit(PAGE)
            .all(conn)
            .await?;
        if page.is_empty() {
            return Ok(ChainReport {
                events_checked: checked,
                first_broken_seq: None,
                unsealed,
            });
        }
        for event in &page {
            checked += 1;
            if event.prev_hash != expected_prev || link_hash(event) != event.hash {
                return Ok(ChainReport {
                    events_checked: checked,
                    first_broken_seq: Some(event.seq),
                    unsealed,
                });
            }
            expected_prev = event.hash.clone();
            last_pos = event.chain_pos.unwrap_or(last_pos);
        }
    }
}

/// A workspace's events, newest first, after the keyset cursor `before_seq`.
pub async fn list_for_workspace(
    conn: &impl ConnectionTrait,
    workspace_id: Uuid,
    before_seq: Option<i64>,
    limit: u64,
) -> DomainResult<Vec<audit_events::Model>> {
    let mut query = audit_events::Entity::find()
        .filter(audit_events::Column::WorkspaceId.eq(workspace_id))
        .order_by_desc(audit_events::Column::Seq)
        .limit(limit);
    if let Some(seq) = before_seq {
        query = query.filter(audit_events::Column::Seq.lt(seq));
    }
    Ok(query.all(conn).await?)
}

/// What the staff audit viewer narrows the chain to.
#[derive(Clone, Debug, Default)]
pub struct Search {
    /// An actor id (user or staff uuid).
    pub actor: Option<String>,
    /// An action, or a prefix of one ending in '.' (e.g. `privacy.`).
    pub action: Option<String>,
    /// A target id.
    pub target: Option<String>,
    pub from: Option<chrono::DateTime<chrono::Utc>>,
    pub until: Option<chrono::DateTime<chrono::Utc>>,
}

/// The newest events matching a search (at most `limit`).
pub async fn search(
    conn: &impl ConnectionTrait,
    search: &Search,
    limit: u64,
) -> DomainResult<Vec<audit_events::Model>> {
    let mut query = audit_events::Entity::find()
        .order_by_desc(audit_events::Column::Seq)
        .limit(limit);
    if let Some(actor) = &search.actor {
        query = query.filter(audit_events::Column::ActorId.eq(actor.as_str()));
    }
    if let Some(action) = &search.action {
        query = if action.ends_with('.') {
            query.filter(audit_events::Column::Action.starts_with(action.as_str()))
        } else {
            query.filter(audit_events::Column::Action.eq(action.as_str()))
        };
    }
    if let Some(target) = &search.target {
        query = query.filter(audit_events::Column::TargetId.eq(target.as_str()));
    }
    if let Some(from) = search.from {
        query = query.filter(audit_events::Column::At.gte(from));
    }
    if let Some(until) = search.until {
        query = query.filter(audit_events::Column::At.lt(until));
    }
    Ok(query.all(conn).await?)
}

/// The names staff may see for the actors and targets of `events`, by id: staff and
/// people by their names, workspaces by theirs, privacy requests by their reference.
/// Ids that name nothing (any more) are left out.
pub async fn names(
    conn: &impl ConnectionTrait,
    events: &[audit_events::Model],
) -> DomainResult<std::collections::HashMap<String, String>> {
    use crate::domain::entities::{privacy_requests, staff_users, users, workspaces};
    let mut wanted: std::collections::HashMap<&str, Vec<Uuid>> = Default::default();
    for event in events {
        let pairs = [
            (Some(event.actor_kind.as_str()), event.actor_id.as_deref()),
            (event.target_kind.as_deref(), event.target_id.as_deref()),
        ];
        for (kind, id) in pairs {
            if let (Some(kind), Some(Ok(id))) = (kind, id.map(str::parse::<Uuid>)) {
                wanted.entry(kind).or_default().push(id);
            }
        }
    }
    let mut names = std::collections::HashMap::new();
    let ids = |kind: &str| wanted.get(kind).cloned().unwrap_or_default();
    let staff: Vec<(Uuid, String)> = staff_users::Entity::find()
        .select_only()
        .column(staff_users::Column::Id)
        .column(staff_users::Column::Name)
        .filter(staff_users::Column::Id.is_in(ids("staff")))
        .into_tuple()
        .all(conn)
        .await?;
    let people: Vec<(Uuid, String)> = users::Entity::find()
        .select_only()
        .column(users::Column::Id)
        .column(users::Column::DisplayName)
        .filter(users::Column::Id.is_in(ids("user")))
        .into_tuple()
        .all(conn)
        .await?;
    let spaces: Vec<(Uuid, String)> = workspaces::Entity::find()
        .select_only()
        .column(workspaces::Column::Id)
        .column(workspaces::Column::Name)
        .filter(workspaces::Column::Id.is_in(ids("workspace")))
        .into_tuple()
        .all(conn)
        .await?;
    let requests: Vec<(Uuid, String)> = privacy_requests::Entity::find()
        .select_only()
        .column(privacy_requests::Column::Id)
        .column(privacy_requests::Column::Reference)
        .filter(privacy_requests::Column::Id.is_in(ids("privacy_request")))
        .into_tuple()
        .all(conn)
        .await?;
    for (id, name) in staff
        .into_iter()
        .chain(people)
        .chain(spaces)
        .chain(requests)
    {
        names.insert(id.to_string(), name);
    }
    Ok(names)
}

/// How many events carry a given action, for operational checks and tests.
pub async fn count_action(conn: &impl ConnectionTrait, action: &str) -> DomainResult<u64> {
    use sea_orm::PaginatorTrait;
    Ok(audit_events::Entity::find()
        .filter(audit_events::Column::Action.eq(action))
        .count(conn)
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ips_are_truncated_to_their_network() -> crate::TestResult {
        assert_eq!(truncate_ip("203.0.113.77".parse()?), "203.0.113.0/24");
        assert_eq!(
            truncate_ip("2001:db8:abcd:12::1".parse()?),
            "2001:db8:abcd::/48"
        );
        assert_eq!(truncate_ip("::ffff:10.1.2.3".parse()?), "10.1.2.0/24");
        Ok(())
    }

    #[test]
    fn any_changed_field_changes_the_hash() -> crate::TestResult {
        let event = audit_events::Model {
            seq: 1,
            id: Uuid::nil(),
            at: chrono::DateTime::from_timestamp(1_700_000_000, 0).ok_or("bad time")?,
            actor_kind: "user".into(),
            actor_id: Some("a".into()),
            action: "workspace.created".into(),
            target_kind: None,
            target_id: None,
            workspace_id: None,
            ip: None,
            details: "{}".into(),
            prev_hash: GENESIS_HASH.into(),
            hash: String::new(),
            chain_pos: Some(1),
        };
        let original = link_hash(&event);
        let mut changed = event.clone();
        changed.action = "workspace.deleted".into();
        assert_ne!(link_hash(&changed), original);
        let mut changed = event.clone();
        changed.prev_hash = "1".repeat(64);
        assert_ne!(link_hash(&changed), original);
        Ok(())
    }
}
