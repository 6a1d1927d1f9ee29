//! DataLoaders: every relation a list of drafts can fan out to is loaded for the whole
//! list in one statement. One loader per request (so nothing is cached across users);
//! its batches run in tasks that keep the request's SQL statement counter.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};
use async_graphql::{Context, Result};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use super::columns;
use super::errors::gql;
use crate::db::reads::{Omitted, Reads};
use crate::domain::content::comments::{self, Summary};
use crate::domain::entities::{draft_revisions, draft_targets, draft_workflow, drafts, media};
use crate::domain::{content, identity::accounts};
use crate::error::DomainError;

/// Loads rows for many keys at once.
pub struct ContentLoader {
    pub reads: crate::db::reads::Reader,
    /// How many latest comments a load of comment summaries reads per draft: the most
    /// any `lastComments` of the request has asked for so far.
    latest: AtomicUsize,
    /// The comment columns a load of summaries leaves out: what every `lastComments` of
    /// the request so far leaves out (`Omitted` bits; all of them until one asks).
    comments_omitted: AtomicU64,
    /// The same for a load of targets and the `targets` selections.
    targets_omitted: AtomicU64,
    /// What a list loaded for its nodes ahead of them (`prime_drafts`, `prime_users`).
    primed: Mutex<Primed>,
}

/// Rows a list loaded for its nodes, which their resolvers take from here: asking the
/// DataLoader for a key it holds costs its lock, a key set, two result maps and SipHash
/// on each (6% of a dashboard request's instructions, for its 120 authors, targets and
/// summaries).
#[derive(Default)]
struct Primed {
    users: HashMap<Uuid, Arc<accounts::Person>, IdHash>,
    targets: HashMap<Uuid, Arc<TargetRows>, IdHash>,
    comments: HashMap<Uuid, Arc<Summary>, IdHash>,
}

/// Hashes an id by folding its bytes into one word: the ids Atelier makes (version 7)
/// are random in their last eight bytes, and these maps hold what one request read,
/// keyed by ids the database gave — nothing an outsider chooses.
type IdHash = std::hash::BuildHasherDefault<IdHasher>;

#[derive(Default)]
struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = self.0.rotate_left(5) ^ u64::from_le_bytes(word);
        }
    }
}

impl ContentLoader {
    /// Makes the next load of comment summaries read at least `count` latest comments
    /// per draft, and every column a selection leaving out `omitted` needs.
    pub fn want_latest(&self, count: usize, omitted: Omitted) {
        self.latest
            .fetch_max(count.min(comments::MAX_LAST), Ordering::Relaxed);
        self.comments_omitted
            .fetch_and(omitted.bits(), Ordering::Relaxed);
    }

    /// A person a list loaded ahead.
    pub fn primed_user(&self, id: Uuid) -> Option<Arc<accounts::Person>> {
        self.primed.lock().ok()?.users.get(&id).cloned()
    }

    /// A draft's targets a list loaded ahead.
    pub fn primed_targets(&self, draft: Uuid) -> Option<Arc<TargetRows>> {
        self.primed.lock().ok()?.targets.get(&draft).cloned()
    }

    /// A draft's comment summary a list loaded ahead.
    pub fn primed_comments(&self, draft: Uuid) -> Option<Arc<Summary>> {
        self.primed.lock().ok()?.comments.get(&draft).cloned()
    }

    fn prime(&self, put: impl FnOnce(&mut Primed)) {
        if let Ok(mut primed) = self.primed.lock() {
            put(&mut primed);
        }
    }

    /// Forgets what lists loaded ahead.
    fn forget_primed(&self) {
        self.prime(|primed| *primed = Primed::default());
    }

    /// Makes the next load of targets read every column a selection leaving out
    /// `omitted` needs.
    pub fn want_targets(&self, omitted: Omitted) {
        self.targets_omitted
            .fetch_and(omitted.bits(), Ordering::Relaxed);
    }
}

pub type Loaders = Arc<DataLoader<ContentLoader, HashMapCache>>;

/// A loader for one request; `spawn` runs its batches.
pub fn for_request<S, R>(db: crate::db::reads::Reader, spawn: S) -> Loaders
where
    S: Fn(futures::future::BoxFuture<'static, ()>) -> R + Send + Sync + 'static,
{
    // The cache lives as long as the request: primed lists are read from it.
    Arc::new(DataLoader::with_cache(
        ContentLoader {
            reads: db,
            latest: AtomicUsize::new(0),
            comments_omitted: AtomicU64::new(u64::MAX),
            targets_omitted: AtomicU64::new(u64::MAX),
            primed: Mutex::default(),
        },
        spawn,
        HashMapCache::default(),
    ))
}

/// Loads, in one statement per relation, everything the query selects below a list of
/// drafts: targets, revisions, workflow, comment summaries, then every author (of the
/// drafts and of their latest comments) at once. The nodes then read from the cache, so
/// a page costs the same number of statements whatever its size.
pub async fn prime_drafts(
    ctx: &Context<'_>,
    node: &async_graphql::Lookahead<'_>,
    drafts: &[drafts::Model],
) -> Result<()> {
    if drafts.is_empty() {
        return Ok(());
    }
    let loader = loader(ctx)?;
    let source = loader.loader();
    let ids: Vec<Uuid> = drafts.iter().map(|d| d.id).collect();
    let mut users: Vec<Uuid> = Vec::new();
    if node.field("author").exists() {
        users.extend(drafts.iter().filter_map(|d| d.author_id));
    }
    // Straight to the source and into the cache: no batching delay to wait out.
    let targets = node.field("targets");
    if targets.exists() {
        source.want_targets(columns::TARGET.omitted(&targets.selection_fields()));
        let keys: Vec<_> = ids.iter().copied().map(TargetsOf).collect();
        let read = source.load(&keys).await?;
        source.prime(|primed| {
            primed
                .targets
                .extend(read.into_iter().map(|(k, v)| (k.0, v)))
        });
    }
    if node.field("revisions").exists() {
        let keys: Vec<_> = ids.iter().copied().map(RevisionsOf).collect();
        loader.feed_many(source.load(&keys).await?).await;
    }
    if node.field("workflow").exists() {
        let keys: Vec<_> = ids.iter().copied().map(WorkflowOf).collect();
        loader.feed_many(source.load(&keys).await?).await;
    }
    if node.field("media").exists() {
        let keys: Vec<_> = ids.iter().copied().map(MediaOf).collect();
        loader.feed_many(source.load(&keys).await?).await;
    }
    if node.field("performance").exists() {
        let keys: Vec<_> = ids.iter().copied().map(PerformanceOf).collect();
        loader.feed_many(source.load(&keys).await?).await;
    }
    if node.field("generations").exists() {
        let keys: Vec<_> = ids.iter().copied().map(GenerationsOf).collect();
        loader.feed_many(source.load(&keys).await?).await;
    }
    let last = node.field("lastComments");
    if last.exists() {
        let omitted = columns::COMMENT.omitted(&last.selection_fields());
        for field in last.selection_fields() {
            source.want_latest(latest_count(&field)?, omitted);
        }
        let keys: Vec<_> = ids.iter().copied().map(CommentsOf).collect();
        let summaries = source.load(&keys).await?;
        users.extend(people_of_comments(
            &last,
            summaries.values().flat_map(|s| s.latest.iter()),
        ));
        source.prime(|primed| {
            primed
                .comments
                .extend(summaries.into_iter().map(|(k, v)| (k.0, v)))
        });
    }
    prime_users(ctx, users).await
}

/// The people a list of comments shows, where `node` (a selection of `Comment`) asks
/// for them: authors, resolvers, and the members the bodies mention.
pub fn people_of_comments<'c>(
    node: &async_graphql::Lookahead<'_>,
    comments: impl Iterator<Item = &'c crate::domain::entities::comments::Model>,
) -> Vec<Uuid> {
    let (author, resolver, mentions) = (
        node.field("author").exists(),
        node.field("resolvedBy").exists(),
        node.field("mentions").exists(),
    );
    let mut people = Vec::new();
    for comment in comments {
        people.extend(comment.author_id.filter(|_| author));
        people.extend(comment.resolved_by.filter(|_| resolver));
        if mentions {
            people.extend(comments::mentions_of(comment));
        }
    }
    people
}

/// The `count` a `lastComments` selection asks for (its default when it names none),
/// within what a summary holds.
fn latest_count(field: &async_graphql::SelectionField<'_>) -> Result<usize> {
    let asked = field
        .arguments()?
        .into_iter()
        .find(|(name, _)| name.as_str() == "count")
        .and_then(|(_, value)| match value {
            async_graphql::Value::Number(n) => n.as_u64(),
            _ => None,
        })
        .unwrap_or(comments::DEFAULT_LAST as u64);
    Ok(usize::try_from(asked).map_or(comments::MAX_LAST, |n| n.min(comments::MAX_LAST)))
}

/// Loads these channels' sync states straight into the request's cache (one statement),
/// for a list of channels that asks for them.
pub async fn prime_sync(ctx: &Context<'_>, channels: &[Uuid]) -> Result<()> {
    if channels.is_empty() {
        return Ok(());
    }
    let loader = loader(ctx)?;
    let keys: Vec<_> = channels.iter().copied().map(SyncOf).collect();
    loader.feed_many(loader.loader().load(&keys).await?).await;
    Ok(())
}

/// Loads these users straight into the request's cache (one statement, no batching
/// delay), for a list that is about to ask for them.
pub async fn prime_users(ctx: &Context<'_>, mut ids: Vec<Uuid>) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    ids.sort_unstable();
    ids.dedup();
    let source = loader(ctx)?.loader();
    let keys: Vec<_> = ids.into_iter().map(UserById).collect();
    let read = source.load(&keys).await?;
    source.prime(|primed| primed.users.extend(read.into_iter().map(|(k, v)| (k.0, v))));
    Ok(())
}

/// Forgets everything a loader has cached (a subscription does this before each event,
/// so every event is answered with the values as they are now, and the cache of a
/// long-lived connection does not grow).
pub fn forget_all(loaders: &Loaders) {
    loaders.loader().forget_primed();
    loaders.clear::<UserById>();
    loaders.clear::<TargetsOf>();
    loaders.clear::<CommentsOf>();
    loaders.clear::<RevisionsOf>();
    loaders.clear::<WorkflowOf>();
    loaders.clear::<MediaOf>();
    loaders.clear::<AttemptsOf>();
    loaders.clear::<PerformanceOf>();
    loaders.clear::<GenerationsOf>();
    loaders.clear::<SyncOf>();
    loaders.clear::<ClientReviewsOf>();
    loaders.clear::<ItemsOfLink>();
    loaders.clear::<DraftById>();
}

pub fn loader<'a>(ctx: &Context<'a>) -> Result<&'a DataLoader<ContentLoader, HashMapCache>> {
    ctx.data::<Loaders>().map(|l| l.as_ref())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct UserById(pub Uuid);
/// A draft's latest metric values per channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PerformanceOf(pub Uuid);
/// A draft's generation runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GenerationsOf(pub Uuid);
/// A channel's sync state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SyncOf(pub Uuid);
/// The client reviews a draft was shared in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ClientReviewsOf(pub Uuid);
/// The drafts of a client review link, in their order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ItemsOfLink(pub Uuid);
/// A draft by id (callers have checked access to its workspace).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DraftById(pub Uuid);
/// A draft's targets, read without the columns every `targets` selection of the request
/// so far leaves out (`ContentLoader::want_targets`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TargetsOf(pub Uuid);

/// A draft's targets as read: `omitted` columns hold their stand-ins.
#[derive(Debug, Default)]
pub struct TargetRows {
    pub rows: Vec<draft_targets::Model>,
    pub omitted: Omitted,
}
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CommentsOf(pub Uuid);
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RevisionsOf(pub Uuid);
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct WorkflowOf(pub Uuid);
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MediaOf(pub Uuid);
/// The publish attempts of a target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AttemptsOf(pub Uuid);

fn db_error(e: impl Into<DomainError>) -> async_graphql::Error {
    gql(e.into())
}

impl Loader<UserById> for ContentLoader {
    /// Shared: every `author` of a page hands out the same person without copying them.
    type Value = Arc<accounts::Person>;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[UserById]) -> Result<HashMap<UserById, Self::Value>> {
        let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        Ok(accounts::find_many(&self.reads, &ids)
            .await
            .map_err(gql)?
            .into_iter()
            .map(|u| (UserById(u.id), Arc::new(u)))
            .collect())
    }
}

/// Groups rows by what they belong to (a draft, a review link): every asked key gets an
/// entry.
fn by_draft<K, T>(
    asked: &[K],
    rows: Vec<T>,
    draft: impl Fn(&T) -> Uuid,
    key: impl Fn(Uuid) -> K,
) -> HashMap<K, Vec<T>>
where
    K: std::hash::Hash + Eq + Copy,
{
    // Every asked draft gets an entry, empty or not, so the cache answers for it too.
    let mut out: HashMap<K, Vec<T>> = asked.iter().map(|k| (*k, Vec::new())).collect();
    for row in rows {
        out.entry(key(draft(&row))).or_default().push(row);
    }
    out
}

impl Loader<TargetsOf> for ContentLoader {
    /// Shared: a draft's `targets` read its rows without copying them.
    type Value = Arc<TargetRows>;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[TargetsOf]) -> Result<HashMap<TargetsOf, Self::Value>> {
        let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        let omitted = Omitted::from_bits(self.targets_omitted.load(Ordering::Relaxed));
        let rows = content::targets::parts_for_drafts(&self.reads, &ids, omitted)
            .await
            .map_err(gql)?;
        Ok(by_draft(keys, rows, |t| t.draft_id, TargetsOf)
            .into_iter()
            .map(|(key, rows)| (key, Arc::new(TargetRows { rows, omitted })))
            .collect())
    }
}

impl Loader<CommentsOf> for ContentLoader {
    /// Shared: a draft's `lastComments` read its summary without copying it.
    type Value = Arc<Summary>;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[CommentsOf]) -> Result<HashMap<CommentsOf, Self::Value>> {
        let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        let latest = self.latest.load(Ordering::Relaxed);
        let omitted = Omitted::from_bits(self.comments_omitted.load(Ordering::Relaxed));
        let mut found = comments::summaries(&self.reads, &ids, latest, omitted)
            .await
            .map_err(gql)?;
        Ok(ids
            .into_iter()
            .map(|draft| {
                let summary = found.remove(&draft).unwrap_or_default();
                (CommentsOf(draft), Arc::new(summary))
            })
            .collect())
    }
}

impl Loader<RevisionsOf> for ContentLoader {
    type Value = Vec<draft_revisions::Model>;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[RevisionsOf]) -> Result<HashMap<RevisionsOf, Self::Value>> {
        let query = draft_revisions::Entity::find()
            .filter(draft_revisions::Column::DraftId.is_in(keys.iter().map(|k| k.0)))
            .order_by_asc(draft_revisions::Column::DraftId)
            .order_by_asc(draft_revisions::Column::Version);
        let rows: Vec<draft_revisions::Model> = self
            .reads
            .all(sea_orm::QueryTrait::build(&query, self.reads.backend()))
            .await
            .map_err(db_error)?;
        Ok(by_draft(keys, rows, |r| r.draft_id, RevisionsOf))
    }
}

impl Loader<WorkflowOf> for ContentLoader {
    type Value = Vec<draft_workflow::Model>;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[WorkflowOf]) -> Result<HashMap<WorkflowOf, Self::Value>> {
        let query = draft_workflow::Entity::find()
            .filter(draft_workflow::Column::DraftId.is_in(keys.iter().map(|k| k.0)))
            .order_by_asc(draft_workflow::Column::DraftId)
            .order_by_asc(draft_workflow::Column::Id);
        let rows: Vec<draft_workflow::Model> = self
            .reads
            .all(sea_orm::QueryTrait::build(&query, self.reads.backend()))
            .await
            .map_err(db_error)?;
        Ok(by_draft(keys, rows, |r| r.draft_id, WorkflowOf))
    }
}

impl Loader<MediaOf> for ContentLoader {
    type Value = Vec<media::Model>;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[MediaOf]) -> Result<HashMap<MediaOf, Self::Value>> {
        let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        let rows = crate::domain::content::media::for_drafts(self.reads.connection(), &ids)
            .await
            .map_err(gql)?;
        let mut out: HashMap<MediaOf, Self::Value> =
            keys.iter().map(|k| (*k, Vec::new())).collect();
        for (draft, item) in rows {
            out.entry(MediaOf(draft)).or_default().push(item);
        }
        Ok(out)
    }
}

impl Loader<AttemptsOf> for ContentLoader {
    type Value = Vec<crate::domain::entities::publish_attempts::Model>;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[AttemptsOf]) -> Result<HashMap<AttemptsOf, Self::Value>> {
        let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        let rows = crate::domain::channels::publishing::attempts_for_targets(
            self.reads.connection(),
            &ids,
        )
        .await
        .map_err(gql)?;
        Ok(by_draft(keys, rows, |a| a.target_id, AttemptsOf))
    }
}

impl Loader<PerformanceOf> for ContentLoader {
    type Value = Vec<crate::domain::channels::analytics::LatestValue>;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[PerformanceOf]) -> Result<HashMap<PerformanceOf, Self::Value>> {
        let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        Ok(
            crate::domain::channels::analytics::performance_of(self.reads.connection(), &ids)
                .await
                .map_err(gql)?
                .into_iter()
                .map(|(draft, values)| (PerformanceOf(draft), values))
                .collect(),
        )
    }
}

impl Loader<GenerationsOf> for ContentLoader {
    type Value = Vec<crate::domain::entities::draft_generations::Model>;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[GenerationsOf]) -> Result<HashMap<GenerationsOf, Self::Value>> {
        let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        let rows = content::generations_of(self.reads.connection(), &ids)
            .await
            .map_err(gql)?;
        Ok(by_draft(keys, rows, |r| r.draft_id, GenerationsOf))
    }
}

impl Loader<ClientReviewsOf> for ContentLoader {
    type Value = Vec<(
        crate::domain::entities::review_link_drafts::Model,
        crate::domain::entities::review_links::Model,
    )>;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[ClientReviewsOf],
    ) -> Result<HashMap<ClientReviewsOf, Self::Value>> {
        let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        let rows = crate::domain::content::review_links::for_drafts(self.reads.connection(), &ids)
            .await
            .map_err(gql)?;
        Ok(by_draft(
            keys,
            rows,
            |(item, _)| item.draft_id,
            ClientReviewsOf,
        ))
    }
}

impl Loader<ItemsOfLink> for ContentLoader {
    type Value = Vec<crate::domain::entities::review_link_drafts::Model>;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[ItemsOfLink]) -> Result<HashMap<ItemsOfLink, Self::Value>> {
        let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        let rows = crate::domain::content::review_links::items_of(self.reads.connection(), &ids)
            .await
            .map_err(gql)?;
        Ok(by_draft(keys, rows, |item| item.link_id, ItemsOfLink))
    }
}

impl Loader<DraftById> for ContentLoader {
    type Value = drafts::Model;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[DraftById]) -> Result<HashMap<DraftById, drafts::Model>> {
        let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        Ok(content::find_many(&self.reads, &ids)
            .await
            .map_err(gql)?
            .into_iter()
            .map(|d| (DraftById(d.id), d))
            .collect())
    }
}

impl Loader<SyncOf> for ContentLoader {
    /// None for a channel never synced (an entry all the same, so the cache answers).
    type Value = Option<crate::domain::entities::sync_states::Model>;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[SyncOf]) -> Result<HashMap<SyncOf, Self::Value>> {
        use crate::domain::entities::sync_states;
        let mut out: HashMap<SyncOf, Self::Value> = keys.iter().map(|k| (*k, None)).collect();
        let rows = sync_states::Entity::find()
            .filter(sync_states::Column::IntegrationId.is_in(keys.iter().map(|k| k.0)))
            .all(self.reads.connection())
            .await
            .map_err(db_error)?;
        for row in rows {
            out.insert(SyncOf(row.integration_id), Some(row));
        }
        Ok(out)
    }
}
