//! The writer's decision flow: each item of a feed document goes through the deduplicator's
//! layers and into a story, inside the feed's transaction.
//!
//! Per document: learn the feed's dedup template (lines repeated on at least three of the
//! document's items and the feed's recent stored items: whatever footer cleaning left), compute
//! each item's features without those lines, store the item, ask the deduplicator for a
//! verdict (it reads stored items through [`StoreLookup`], which sees this transaction's
//! earlier writes), put the item in its story, merge the stories it proved to be one, and make
//! it searchable. [`place_in_story`] is the one path by which every item gets its story:
//! fetched, updated in place, cleaned again after a template grew, or reprocessed. This module
//! also owns the in-memory index's life: its rebuild from SQLite, and the recomputation of
//! stored fingerprints and sketches when their algorithm version changes.

use crate::pipeline::{ProcessedItem, Summary};
use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use newsdedup_deduplicator::Features;
use newsdedup_deduplicator::{
    identity_keys, Candidate, DedupConfig, Deduplicator, FingerprintKind, IdentityKey, Key, Lookup, Sketch, Stored,
    Template, TextProfile, FINGERPRINT_VERSION, SKETCH_VERSION,
};
use newsdedup_model::{Decision, FeedId};
use newsdedup_model::{ItemId, StoryId};
use newsdedup_store::DedupColumns;
use newsdedup_store::{DedupKey, DedupRow, FeedBatch, NewItem, RefeaturedItem, Store, StoreError};
use std::collections::HashMap;
use std::collections::HashSet;

/// Stored items of a feed that its template is learned from, besides the document's own.
const TEMPLATE_HISTORY: usize = 100;

/// A publication time more than this far ahead of the fetch is not believed (a feed's clock
/// or a typo), so that one bad date cannot push the candidate window past everything else.
const FUTURE_SLACK_SECS: i64 = 86400;

const FINGERPRINT_VERSION_KEY: &str = "fingerprint_version";
const SKETCH_VERSION_KEY: &str = "sketch_version";

/// The deduplicator with its in-memory fingerprint index, and the dedup templates of the
/// feeds seen lately.
pub struct Index {
    pub dedup: Deduplicator,
    templates: HashMap<FeedId, Template>,
}

/// Feeds whose dedup template is kept between documents, at most (a template is a few dozen
/// line hashes; past this many feeds the cache starts again).
const TEMPLATE_CACHE: usize = 10_000;

impl Index {
    /// Rebuilds the index from the store: the time buckets within the window of the newest
    /// stored item, read from the window index alone. Older buckets load when an item needs
    /// them.
    pub fn load(store: &Store, config: &DedupConfig) -> Result<Index> {
        let mut dedup = Deduplicator::new(config.clone());
        if let Some(newest) = store.newest_dedup_time()? {
            dedup
                .load_window(newest, &mut StoreLookup::new(Source::Store(store)))
                .context("cannot load the dedup index from the database")?;
        }
        tracing::debug!(items = dedup.len(), bytes = dedup.memory_bytes(), "dedup index loaded");
        Ok(Index { dedup, templates: HashMap::new() })
    }

    /// Takes a stored item out of the search: out of the in-memory index and, until it is
    /// placed again, out of the store's searchable items (so that a time bucket loaded
    /// meanwhile does not pick it up with its old fingerprints). Call it before the item's
    /// text or story changes.
    pub fn forget(&mut self, batch: &FeedBatch<'_>, item: ItemId) -> Result<()> {
        if let Some((simhash, lead, time)) = batch.dedup_fingerprints(item)? {
            self.dedup.remove(simhash, lead, time);
        }
        batch.make_unsearchable(item)?;
        Ok(())
    }

    /// The feed's dedup template as last learned, or learned now from its recent stored items.
    fn template(&mut self, batch: &FeedBatch<'_>, feed: FeedId) -> Result<&Template> {
        if !self.templates.contains_key(&feed) {
            let template = feed_template(batch, feed, &[])?;
            self.remember(feed, template);
        }
        Ok(&self.templates[&feed])
    }

    fn remember(&mut self, feed: FeedId, template: Template) {
        remember(&mut self.templates, feed, template);
    }
}

/// Keeps a feed's template in a cache of them, which starts again past [`TEMPLATE_CACHE`]
/// feeds.
fn remember(templates: &mut HashMap<FeedId, Template>, feed: FeedId, template: Template) {
    if templates.len() >= TEMPLATE_CACHE {
        templates.clear();
    }
    templates.insert(feed, template);
}

/// Where a [`StoreLookup`] reads: the current write transaction, or the database outside one.
#[derive(Clone, Copy)]
pub enum Source<'a, 'b> {
    Batch(&'a FeedBatch<'b>),
    Store(&'a Store),
}

/// The deduplicator's view of the store.
pub struct StoreLookup<'a, 'b> {
    source: Source<'a, 'b>,
    rows: Vec<DedupRow>,
    /// Templates of the feeds whose items have their texts checked: the index's cache when
    /// there is one, else the lookup's own.
    templates: Templates<'a>,
}

enum Templates<'a> {
    Shared(&'a mut HashMap<FeedId, Template>),
    Own(HashMap<FeedId, Template>),
}

impl<'a, 'b> StoreLookup<'a, 'b> {
    pub fn new(source: Source<'a, 'b>) -> StoreLookup<'a, 'b> {
        StoreLookup { source, rows: Vec::new(), templates: Templates::Own(HashMap::new()) }
    }

    /// A lookup that takes feed templates from `cache` (the [`Index`]'s), and learns the ones
    /// missing from it into it.
    fn with_templates(source: Source<'a, 'b>, cache: &'a mut HashMap<FeedId, Template>) -> StoreLookup<'a, 'b> {
        StoreLookup { source, rows: Vec::new(), templates: Templates::Shared(cache) }
    }

    /// The stored clean text of `item` (of `feed`), folded as at ingest, and the feed's
    /// template as its latest stored items give it (see [`Lookup::wording`]).
    pub fn wording_of(&mut self, item: ItemId, feed: FeedId) -> Result<Option<(TextProfile, Template)>, StoreError> {
        let Some(text) = self.source.clean_text(item)? else { return Ok(None) };
        let profile = TextProfile::new(&newsdedup_normaliser::fold::fold(&text));
        let templates = match &mut self.templates {
            Templates::Shared(cache) => &mut **cache,
            Templates::Own(own) => own,
        };
        if !templates.contains_key(&feed) {
            remember(templates, feed, self.source.stored_template(feed)?);
        }
        Ok(Some((profile, templates[&feed].clone())))
    }
}

impl Source<'_, '_> {
    /// The feed's template, learned from its recent stored items alone.
    fn stored_template(&self, feed: FeedId) -> Result<Template, StoreError> {
        let recent = match self {
            Source::Batch(b) => b.recent_sketches(feed, TEMPLATE_HISTORY)?,
            Source::Store(s) => s.recent_sketches(feed, TEMPLATE_HISTORY)?,
        };
        Ok(template_of(&[], recent))
    }

    fn clean_text(&self, item: ItemId) -> Result<Option<String>, StoreError> {
        match self {
            Source::Batch(b) => b.dedup_text(item),
            Source::Store(s) => s.dedup_text(item),
        }
    }
}

/// The store's key for a deduplicator key.
pub fn store_key<'k>(key: &Key<'k>) -> DedupKey<'k> {
    match *key {
        Key::Identity(IdentityKey::Link(l)) => DedupKey::CanonicalLink(l),
        Key::Identity(IdentityKey::Platform(p)) => DedupKey::PlatformId(p),
        Key::ContentHash(h) => DedupKey::ContentHash(h),
        Key::Fingerprint(FingerprintKind::Simhash, f) => DedupKey::Fingerprint(f),
        Key::Fingerprint(FingerprintKind::Lead, f) => DedupKey::LeadFingerprint(f),
        Key::Phrases { probes, window } => DedupKey::Phrases { values: probes, window },
    }
}

/// A stored row as the deduplicator sees it. An unreadable sketch (a newer format, a damaged
/// value) leaves the item unverifiable rather than failing the feed.
pub fn stored(row: DedupRow) -> Stored {
    let sketch = row.sketch.as_deref().and_then(|b| match Sketch::from_bytes(b) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(item_id = row.item.0, error = %e, "unreadable sketch: item cannot be verified");
            None
        }
    });
    Stored {
        item: row.item,
        story: row.story,
        feed: row.feed,
        time: row.time,
        simhash: row.simhash,
        lead: row.lead,
        sketch,
    }
}

impl Lookup for StoreLookup<'_, '_> {
    type Error = StoreError;

    fn find(&mut self, key: Key<'_>, out: &mut Vec<Stored>) -> Result<(), StoreError> {
        self.rows.clear();
        match self.source {
            Source::Batch(b) => b.dedup_find(store_key(&key), Self::LIMIT, &mut self.rows)?,
            Source::Store(s) => s.dedup_find(store_key(&key), Self::LIMIT, &mut self.rows)?,
        }
        out.extend(self.rows.drain(..).map(stored));
        Ok(())
    }

    fn fingerprints_between(&mut self, from: i64, to: i64) -> Result<Vec<(u64, u64)>, StoreError> {
        match self.source {
            Source::Batch(b) => b.dedup_fingerprints_between(from, to),
            Source::Store(s) => s.dedup_fingerprints_between(from, to),
        }
    }

    /// Rows found by fingerprint come without their sketch (see `dedup_find`).
    fn complete(&mut self, item: &mut Stored) -> Result<(), StoreError> {
        if item.sketch.is_some() {
            return Ok(());
        }
        let bytes = match self.source {
            Source::Batch(b) => b.dedup_sketch(item.item)?,
            Source::Store(s) => s.dedup_sketch(item.item)?,
        };
        item.sketch = bytes.and_then(|b| match Sketch::from_bytes(&b) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(item_id = item.item.0, error = %e, "unreadable sketch: item cannot be verified");
                None
            }
        });
        Ok(())
    }

    fn wording(&mut self, stored: &Stored) -> Result<Option<(TextProfile, Template)>, StoreError> {
        self.wording_of(stored.item, stored.feed)
    }
}

/// The time an item is placed at in the candidate window: its publication time, unless it
/// has none or claims to be from the future; then its fetch time.
pub fn window_time(published: Option<DateTime<Utc>>, now: DateTime<Utc>) -> i64 {
    match published {
        Some(p) if p.timestamp() <= now.timestamp() + FUTURE_SLACK_SECS => p.timestamp(),
        _ => now.timestamp(),
    }
}

/// The feed's template for this document: lines found on at least
/// [`Template::MIN_ITEMS`] of the document's items and the feed's recent stored items (each
/// item counted once: a stored item that the document carries again is not counted twice).
fn feed_template(batch: &FeedBatch<'_>, feed: FeedId, items: &[ProcessedItem]) -> Result<Template> {
    Ok(template_of(items, batch.recent_sketches(feed, TEMPLATE_HISTORY)?))
}

/// The template of a document's items and the `(guid, sketch)` of the feed's recent stored
/// items (see [`feed_template`]).
fn template_of(items: &[ProcessedItem], recent: Vec<(String, Option<Vec<u8>>)>) -> Template {
    let document: Vec<Vec<u32>> = items.iter().map(|i| i.profile.line_hashes()).collect();
    let guids: HashSet<&str> = items.iter().map(|i| i.raw.guid.as_str()).collect();
    let history: Vec<Sketch> = recent
        .into_iter()
        .filter(|(guid, _)| !guids.contains(guid.as_str()))
        .filter_map(|(_, bytes)| Sketch::from_bytes(&bytes?).ok())
        .collect();
    Template::learn(document.iter().map(Vec::as_slice).chain(history.iter().map(Sketch::lines)))
}

/// Stores a document's items, deciding each one's story. Returns the items it wrote (new or
/// updated in place): their stored id and their place in `items`.
pub fn store_items(
    batch: &mut FeedBatch<'_>,
    index: &mut Index,
    feed: FeedId,
    items: &[ProcessedItem],
    now: DateTime<Utc>,
    summary: &mut Summary,
) -> Result<HashMap<ItemId, usize>> {
    let template = feed_template(batch, feed, items)?;
    if !template.is_empty() {
        tracing::debug!(lines = template.len(), "lines the feed repeats are left out of matching");
    }
    let mut written = HashMap::new();
    for (n, item) in items.iter().enumerate() {
        if let Some(id) = store_item(batch, index, feed, item, &template, now, summary)? {
            written.insert(id, n);
        }
    }
    index.remember(feed, template);
    Ok(written)
}

/// Stores one item: new, updated in place (same feed and guid, new content: taken out of its
/// story and decided again), or unchanged. Returns its id unless it was left unchanged.
fn store_item(
    batch: &mut FeedBatch<'_>,
    index: &mut Index,
    feed: FeedId,
    item: &ProcessedItem,
    template: &Template,
    now: DateTime<Utc>,
    summary: &mut Summary,
) -> Result<Option<ItemId>> {
    // The key may have been stored in another of its forms (http for https, or the raw link
    // an earlier release keyed on): that is the same item.
    let mut stored = None;
    for key in newsdedup_fetcher::identity::lookup_keys(&item.raw) {
        stored = batch.find_item(feed, &key)?;
        if stored.is_some() {
            break;
        }
    }
    match &stored {
        // A pruned item's raw content is gone: only its title and link can tell an edit.
        Some(s)
            if (s.raw_pruned || s.raw_content == item.raw.body)
                && s.title == item.raw.title
                && s.link == item.raw.link =>
        {
            summary.items_unchanged += 1;
            return Ok(None);
        }
        // `prune` deleted it: the feed still carries it, but it is not news any more.
        None if batch.is_tombstoned(feed, &item.raw.guid)? => {
            summary.items_unchanged += 1;
            tracing::debug!(item_guid = %item.raw.guid, "pruned item not stored again");
            return Ok(None);
        }
        _ => {}
    }
    let features = item.profile.features(template);
    let new = NewItem {
        feed,
        raw: &item.raw,
        clean: &item.clean,
        fingerprint: features.fingerprint,
        word_count: features.word_count,
    };
    let id = match stored {
        Some(s) => {
            index.forget(batch, s.id)?;
            batch.update_item(s.id, &new, now)?;
            batch.leave_story(s.id)?;
            summary.items_updated += 1;
            tracing::debug!(item_guid = %item.raw.guid, item_id = s.id.0, "item updated in place");
            s.id
        }
        None => {
            summary.items_new += 1;
            batch.insert_item(&new, now)?
        }
    };
    let (_, decision) = place(batch, index, feed, id, item, (&features, template), now)?;
    match decision {
        Decision::NewStory => summary.stories_new += 1,
        Decision::Join { .. } => summary.reposts_folded += 1,
    }
    summary.lines_removed += item.clean.removed.len();
    for removed in &item.clean.removed {
        *summary.removed_by_layer.entry(crate::metrics::rule_layer(&removed.rule)).or_default() += 1;
    }
    Ok(Some(id))
}

/// Decides the story of stored item `id` (in no story, not searchable: new, or after
/// [`Index::forget`] and `leave_story`) and records it, with the features the decision rests
/// on. `now` stands for the fetch time when the item has no publication time.
pub(crate) fn place_in_story(
    batch: &FeedBatch<'_>,
    index: &mut Index,
    feed: FeedId,
    id: ItemId,
    item: &ProcessedItem,
    now: DateTime<Utc>,
) -> Result<(StoryId, Decision)> {
    let template = index.template(batch, feed)?.clone();
    let features = item.profile.features(&template);
    place(batch, index, feed, id, item, (&features, &template), now)
}

/// Decides and records the story of item `id`, whose features were computed with `template`.
fn place(
    batch: &FeedBatch<'_>,
    index: &mut Index,
    feed: FeedId,
    id: ItemId,
    item: &ProcessedItem,
    (features, template): (&Features, &Template),
    now: DateTime<Utc>,
) -> Result<(StoryId, Decision)> {
    let time = window_time(item.raw.published_at, now);
    let keys = identity_keys(item.clean.canonical_link.as_deref(), item.raw.platform_id.as_deref());
    let candidate =
        Candidate { item: id, feed, time, features, identity: &keys, wording: Some((&item.profile, template)) };
    let Index { dedup, templates: cache } = &mut *index;
    let verdict = dedup.decide(&candidate, &mut StoreLookup::with_templates(Source::Batch(batch), cache))?;
    // Searchable from now on: in the store, then in memory (the index holds exactly the
    // searchable items of its loaded time buckets). Recorded before the story, whose
    // distances are computed from the stored fingerprints.
    let indexed = index.dedup.indexable(features);
    batch.record_dedup(id, &columns(features, indexed, time, verdict.similarity))?;
    let story = batch.assign_story(id, &verdict.decision)?;
    for from in &verdict.merge {
        tracing::debug!(story_id = story.0, merged = from.0, item_id = id.0, "item bridges two stories: merged");
        batch.merge_stories(*from, story)?;
    }
    if indexed {
        index.dedup.insert(features.fingerprint.simhash, features.lead, time);
    }
    Ok((story, verdict.decision))
}

/// Recomputes a stored item's features after its text changed, keeping its story (so that
/// items decided after it compare with its new text; `reprocess` then places it again).
pub(crate) fn refeature(
    batch: &FeedBatch<'_>,
    index: &mut Index,
    feed: FeedId,
    id: ItemId,
    item: &ProcessedItem,
    now: DateTime<Utc>,
) -> Result<()> {
    index.forget(batch, id)?;
    let features = item.profile.features(index.template(batch, feed)?);
    let time = window_time(item.raw.published_at, now);
    let indexed = index.dedup.indexable(&features);
    batch.record_dedup(id, &columns(&features, indexed, time, None))?;
    if indexed {
        index.dedup.insert(features.fingerprint.simhash, features.lead, time);
    }
    Ok(())
}

fn columns(features: &Features, searchable: bool, time: i64, similarity: Option<f64>) -> DedupColumns {
    DedupColumns {
        fingerprint: features.fingerprint,
        word_count: features.word_count,
        lead: searchable.then_some(features.lead),
        sketch: features.sketch.to_bytes(),
        phrase_keys: phrase_keys(features, searchable),
        time,
        similarity,
    }
}

/// The phrase keys stored for an item: none unless it is searchable.
fn phrase_keys(features: &Features, searchable: bool) -> Vec<u32> {
    if searchable {
        features.sketch.phrase_keys().to_vec()
    } else {
        Vec::new()
    }
}

/// Recomputes every stored item's fingerprints and sketch when the database's were made by
/// other versions of the algorithms (DESIGN.md: fingerprints are stable, versioned, and
/// migrated). Feed by feed, each with its template learned from all its stored items; each
/// feed is its own transaction and the versions are recorded last, so an interrupted upgrade
/// starts again on the next open.
pub fn upgrade_features(store: &mut Store, config: &DedupConfig) -> Result<()> {
    let (fp, sk) = (FINGERPRINT_VERSION.to_string(), SKETCH_VERSION.to_string());
    if store.meta(FINGERPRINT_VERSION_KEY)?.as_deref() == Some(fp.as_str())
        && store.meta(SKETCH_VERSION_KEY)?.as_deref() == Some(sk.as_str())
    {
        return Ok(());
    }
    let feeds = store.feeds()?;
    let mut total = 0;
    for feed in feeds {
        let rows = store.refeature_rows(feed.id)?;
        if rows.is_empty() {
            continue;
        }
        total += rows.len();
        let profiles: Vec<TextProfile> =
            rows.iter().map(|r| TextProfile::new(&newsdedup_normaliser::fold::fold(&r.clean_text))).collect();
        let lines: Vec<Vec<u32>> = profiles.iter().map(TextProfile::line_hashes).collect();
        let template = Template::learn(lines.iter().map(Vec::as_slice));
        let dedup = Deduplicator::new(config.clone());
        let out: Vec<RefeaturedItem> = rows
            .iter()
            .zip(&profiles)
            .map(|(r, p)| {
                let f = p.features(&template);
                let searchable = dedup.indexable(&f);
                RefeaturedItem {
                    item: r.item,
                    simhash: f.fingerprint.simhash,
                    content_hash: f.fingerprint.content_hash,
                    word_count: f.word_count,
                    lead: searchable.then_some(f.lead),
                    sketch: f.sketch.to_bytes(),
                    phrase_keys: phrase_keys(&f, searchable),
                }
            })
            .collect();
        store.rewrite_features(&out)?;
    }
    if total > 0 {
        tracing::info!(items = total, fingerprint_version = %fp, sketch_version = %sk, "recomputed fingerprints and sketches");
    }
    store.set_meta(FINGERPRINT_VERSION_KEY, &fp)?;
    store.set_meta(SKETCH_VERSION_KEY, &sk)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn future_dates_are_not_believed() {
        let now = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
        let past = Utc.with_ymd_and_hms(2005, 1, 4, 0, 0, 0).unwrap();
        assert_eq!(window_time(Some(past), now), past.timestamp());
        assert_eq!(window_time(None, now), now.timestamp());
        let soon = now + chrono::Duration::hours(20);
        assert_eq!(window_time(Some(soon), now), soon.timestamp());
        let far = now + chrono::Duration::days(400);
        assert_eq!(window_time(Some(far), now), now.timestamp());
    }
}
