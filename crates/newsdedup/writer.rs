//! The single writer: deduplicates each feed's items and commits them, with the story changes
//! and the feed's new state, in one transaction per feed.
//!
//! The writer owns the store and the deduplicator's index, and runs on its own blocking
//! thread. The index is updated as items are stored, so later items of the same batch see
//! earlier ones; if a transaction fails, the index is rebuilt from the store, which is the
//! truth.

use crate::config::Config;
use crate::metrics::{FeedReport, FetchOutcome, Metrics};
use crate::pipeline::{FetchFacts, JobResult, OnWriteError, Outcome, ProcessedItem, Summary};
use crate::schedule;
use crate::scheduler::Clock;
use crate::templates::Learner;
use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use newsdedup_deduplicator::{Candidate, DedupConfig, Deduplicator, IndexEntry, FINGERPRINT_VERSION};
use newsdedup_model::{Decision, FeedId, ItemId, StoryId, Validators};
use newsdedup_store::inspect::IndexRow;
use newsdedup_store::{FeedBatch, FeedOutcome, FeedRow, NewItem, Store};
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::mpsc;

/// A parsed document and its processed items.
#[derive(Debug)]
pub struct Processed {
    pub status: u16,
    pub validators: Validators,
    pub title: Option<String>,
    pub body_hash: String,
    pub items: Vec<ProcessedItem>,
}

pub struct Writer {
    store: Store,
    dedup: Deduplicator,
    dedup_config: DedupConfig,
    config: Config,
    metrics: Arc<Metrics>,
    observers: Vec<Observer>,
    clock: Clock,
    last_checkpoint: std::time::Instant,
    /// When the daemon last pruned (None: not yet in this process).
    last_prune: Option<std::time::Instant>,
    pruning: bool,
    /// Learned per-feed templates (see `templates.rs`).
    learner: Learner,
}

/// Called after each feed is committed.
pub type Observer = Box<dyn FnMut(&FeedReport<'_>) + Send>;

const FINGERPRINT_VERSION_KEY: &str = "fingerprint_version";

impl Writer {
    /// Takes the store, brings stored fingerprints to the current algorithm version, and loads
    /// the deduplicator's index from it.
    pub fn open(store: Store, config: &Config) -> Result<Writer> {
        let dedup_config = dedup_config(config);
        let mut writer = Writer {
            store,
            dedup: Deduplicator::new(dedup_config.clone()),
            dedup_config,
            config: config.clone(),
            metrics: Arc::new(Metrics::new()),
            observers: Vec::new(),
            clock: Clock::Wall,
            last_checkpoint: std::time::Instant::now(),
            last_prune: None,
            pruning: false,
            learner: Learner::new(config),
        };
        writer.upgrade_fingerprints()?;
        writer.reload_index()?;
        Ok(writer)
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The store, the dedup index and the learner, for commands that rework stored items.
    pub(crate) fn parts(&mut self) -> (&mut Store, &mut Deduplicator, &Learner) {
        (&mut self.store, &mut self.dedup, &self.learner)
    }

    /// Recomputes every stored fingerprint when the database's were made by another version
    /// of the algorithm (DESIGN.md: fingerprints are stable, versioned, and migrated).
    fn upgrade_fingerprints(&mut self) -> Result<()> {
        let current = FINGERPRINT_VERSION.to_string();
        let stored = self.store.meta(FINGERPRINT_VERSION_KEY)?;
        if stored.as_deref() == Some(current.as_str()) {
            return Ok(());
        }
        let texts = self.store.item_texts()?;
        if !texts.is_empty() {
            tracing::info!(items = texts.len(), from = ?stored, to = %current, "recomputing fingerprints");
        }
        let rows: Vec<_> = texts
            .iter()
            .map(|(id, text)| {
                let folded = newsdedup_normaliser::fold::fold(text);
                let words = newsdedup_deduplicator::words(&folded).count() as u32;
                (*id, newsdedup_deduplicator::fingerprint(&folded), words)
            })
            .collect();
        self.store.rewrite_fingerprints(&rows, FINGERPRINT_VERSION_KEY, &current)?;
        Ok(())
    }

    /// Rebuilds the in-memory index from the store.
    pub fn reload_index(&mut self) -> Result<()> {
        let rows = self.store.index_rows(None).context("cannot load the dedup index from the database")?;
        let mut dedup = Deduplicator::new(self.dedup_config.clone());
        for row in rows {
            dedup.insert(index_entry(row));
        }
        self.dedup = dedup;
        Ok(())
    }

    /// Commits results as they arrive (in job order when `ordered`) until the channel closes.
    pub fn consume(
        &mut self,
        mut rx: mpsc::Receiver<JobResult>,
        ordered: bool,
        on_error: OnWriteError,
    ) -> Result<Summary> {
        let mut summary = Summary::default();
        let mut pending: BTreeMap<usize, JobResult> = BTreeMap::new();
        let mut next = 0;
        let handle = |writer: &mut Writer, result: JobResult, summary: &mut Summary| {
            match (writer.handle(result, summary), on_error) {
                (Ok(()), _) => Ok(()),
                (Err(e), OnWriteError::KeepGoing) => {
                    // The feed stays as it was (due again); the error is on /healthz and counted.
                    tracing::error!(error = %format!("{e:#}"), "cannot store a feed's results");
                    Ok(())
                }
                (Err(e), OnWriteError::Stop) => Err(e),
            }
        };
        while let Some(result) = rx.blocking_recv() {
            if !ordered {
                handle(self, result, &mut summary)?;
                self.upkeep();
                continue;
            }
            pending.insert(result.seq, result);
            while let Some(result) = pending.remove(&next) {
                handle(self, result, &mut summary)?;
                self.upkeep();
                next += 1;
            }
        }
        // A job that never reported (its task panicked, or was abandoned at the stop deadline)
        // leaves a gap; commit the rest in order.
        for (_, result) in pending {
            handle(self, result, &mut summary)?;
        }
        Ok(summary)
    }

    fn handle(&mut self, result: JobResult, summary: &mut Summary) -> Result<()> {
        let feed = result.feed;
        let _span = tracing::info_span!("feed", feed_id = feed.id.0, feed_url = %feed.url).entered();
        let (outcome, status) = match &result.outcome {
            Outcome::Failed { status, .. } => (FetchOutcome::Failed, *status),
            Outcome::Gone { status, .. } => (FetchOutcome::Failed, Some(*status)),
            Outcome::Postponed { .. } => (FetchOutcome::Postponed, None),
            Outcome::NotModified { .. } => (FetchOutcome::NotModified, Some(304)),
            Outcome::Unchanged { status, .. } => (FetchOutcome::Unchanged, Some(*status)),
            Outcome::Parsed(p) => (FetchOutcome::Updated, Some(p.status)),
        };
        let before = summary.clone();
        let written = self.write(&feed, result.outcome, &result.facts, summary);
        self.metrics.queues.writing.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        match written {
            Ok(()) => {
                let delta = summary.since(&before);
                let report = FeedReport {
                    feed_url: &feed.url,
                    outcome,
                    status,
                    fetch_time: result.fetch_time,
                    delta: &delta,
                    at: self.clock.now(),
                };
                self.metrics.record_feed(&report);
                for observer in &mut self.observers {
                    observer(&report);
                }
                Ok(())
            }
            Err(e) => {
                // Nothing of the failed transaction happened: neither in the totals, nor in
                // the index (reloaded from the store, which is the truth).
                *summary = before;
                self.metrics.record_write_error(&format!("{e:#}"));
                if let Err(reload) = self.reload_index() {
                    tracing::error!(error = %reload, "cannot reload the dedup index");
                }
                self.record_write_failure(&feed, &e);
                Err(e.context(format!("cannot store the results of feed {}", feed.url)))
            }
        }
    }

    fn write(&mut self, feed: &FeedRow, outcome: Outcome, facts: &FetchFacts, summary: &mut Summary) -> Result<()> {
        let now = self.clock.now();
        let schedule = &self.config.schedule;
        let unit = schedule::jitter_unit(feed.id.0);
        summary.feeds += 1;
        match outcome {
            Outcome::Failed { status, error } => {
                summary.feeds_failed += 1;
                let failures = feed.error_count.saturating_add(1);
                let next_fetch_at = schedule::after_failure(now, failures, schedule, facts.retry_after, unit);
                tracing::warn!(status, error = %error, failures, next_fetch_at = %next_fetch_at, "fetch failed");
                // The host's other feeds share its pause (found before the transaction, which
                // borrows the store).
                let others = match &facts.host_paused {
                    Some((host, _)) => crate::politeness::feeds_on_host(&self.store, host, feed.id)?,
                    None => Vec::new(),
                };
                let batch = self.store.begin()?;
                batch.record_outcome(feed.id, &FeedOutcome::Failure { status, error, next_fetch_at }, now)?;
                if let Some((_, until)) = &facts.host_paused {
                    batch.postpone_feeds(&others, *until)?;
                }
                batch.commit()?;
            }
            Outcome::Gone { status, error } => {
                summary.feeds_failed += 1;
                tracing::warn!(
                    status,
                    error = %error,
                    "the feed is gone: not polled again until `newsdedup feeds enable {}`",
                    feed.url
                );
                let batch = self.store.begin()?;
                batch.record_outcome(feed.id, &FeedOutcome::Gone { status, error }, now)?;
                batch.commit()?;
            }
            Outcome::Postponed { until } => {
                summary.feeds_postponed += 1;
                let batch = self.store.begin()?;
                batch.record_outcome(feed.id, &FeedOutcome::Postponed { next_fetch_at: until }, now)?;
                batch.commit()?;
            }
            Outcome::NotModified { validators } => {
                summary.feeds_unchanged += 1;
                tracing::info!(status = 304, "not modified");
                self.record_success(feed, 304, validators, facts, now)?;
            }
            Outcome::Unchanged { status, validators } => {
                summary.feeds_unchanged += 1;
                tracing::info!(status, "unchanged since the last fetch");
                self.record_success(feed, status, validators, facts, now)?;
            }
            Outcome::Parsed(mut processed) => {
                let before = summary.clone();
                let mut batch = self.store.begin()?;
                let learned = self.learner.learn_batch(&batch, feed, &mut processed.items, now)?;
                for item in &processed.items {
                    store_item(&mut batch, &mut self.dedup, feed.id, item, now, summary)?;
                }
                self.learner.reclean_earlier(&batch, &mut self.dedup, feed, &learned, now, summary)?;
                let next_fetch_at = schedule::after_success(now, schedule, &hints(facts), unit);
                batch.record_outcome(
                    feed.id,
                    &FeedOutcome::Success {
                        status: processed.status,
                        validators: processed.validators,
                        title: processed.title,
                        body_hash: Some(processed.body_hash),
                        next_fetch_at,
                    },
                    now,
                )?;
                move_feed(&batch, feed, facts)?;
                batch.commit()?;
                tracing::info!(
                    status = processed.status,
                    items = processed.items.len(),
                    new = summary.items_new - before.items_new,
                    updated = summary.items_updated - before.items_updated,
                    reposts = summary.reposts_folded - before.reposts_folded,
                    "fetched"
                );
            }
        }
        Ok(())
    }

    /// A fetch that brought nothing new (304, or the same document again): only the
    /// feed's state changes.
    fn record_success(
        &mut self,
        feed: &FeedRow,
        status: u16,
        validators: Validators,
        facts: &FetchFacts,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let unit = schedule::jitter_unit(feed.id.0);
        let next_fetch_at = schedule::after_success(now, &self.config.schedule, &hints(facts), unit);
        let batch = self.store.begin()?;
        batch.record_outcome(
            feed.id,
            &FeedOutcome::Success { status, validators, title: None, body_hash: None, next_fetch_at },
            now,
        )?;
        move_feed(&batch, feed, facts)?;
        batch.commit()?;
        Ok(())
    }
}

fn hints(facts: &FetchFacts) -> schedule::Hints {
    schedule::Hints { ttl: facts.ttl, freshness: facts.freshness }
}

/// Re-addresses a feed that moved permanently, unless another feed already has the address.
fn move_feed(batch: &FeedBatch<'_>, feed: &FeedRow, facts: &FetchFacts) -> Result<()> {
    let Some(to) = facts.moved_to.as_deref().filter(|to| *to != feed.url) else { return Ok(()) };
    if batch.move_feed(feed.id, to)? {
        tracing::info!(from = %feed.url, to = %to, "the feed moved permanently: its address is updated");
    } else {
        tracing::warn!(from = %feed.url, to = %to, "the feed moved permanently to the address of another feed: kept as it is");
    }
    Ok(())
}

// Running for months: metrics, observers, the clock, reloads and WAL checkpoints.
impl Writer {
    /// Counts what the writer commits in `metrics` (instead of a private set of figures).
    pub fn set_metrics(&mut self, metrics: Arc<Metrics>) {
        self.metrics = metrics;
    }

    /// Calls `observer` after each feed is committed (progress display, tests).
    pub fn observe(&mut self, observer: impl FnMut(&FeedReport<'_>) + Send + 'static) {
        self.observers.push(Box::new(observer));
    }

    /// Where "now" comes from (tests of the scheduler run on tokio's paused clock).
    #[cfg(test)]
    pub fn set_clock(&mut self, clock: Clock) {
        self.clock = clock;
    }

    /// Takes a reloaded configuration: the schedule for the next commits, and the dedup
    /// settings (the index is rebuilt with them). On error nothing changes.
    pub fn reconfigure(&mut self, config: &Config) -> Result<()> {
        let previous = (self.config.clone(), self.dedup_config.clone());
        self.config = config.clone();
        self.dedup_config = dedup_config(config);
        if let Err(e) = self.reload_index() {
            (self.config, self.dedup_config) = previous;
            return Err(e);
        }
        self.learner = Learner::new(config);
        Ok(())
    }

    /// Records on the feed that its results could not be stored, with the usual backoff, so
    /// that a feed whose document the database refuses is not fetched again at every tick.
    /// When the database takes no writes at all this fails too, and the feed stays due.
    fn record_write_failure(&mut self, feed: &FeedRow, error: &anyhow::Error) {
        let now = self.clock.now();
        let failures = feed.error_count.saturating_add(1);
        let unit = schedule::jitter_unit(feed.id.0);
        let next_fetch_at = schedule::after_failure(now, failures, &self.config.schedule, None, unit);
        let outcome = FeedOutcome::Failure { status: None, error: format!("cannot store: {error:#}"), next_fetch_at };
        let recorded = self.store.begin().and_then(|batch| {
            batch.record_outcome(feed.id, &outcome, now)?;
            batch.commit()
        });
        if let Err(e) = recorded {
            tracing::debug!(error = %e, "cannot record the failure on the feed either");
        }
    }

    /// Between two feeds' transactions: a WAL checkpoint every [`CHECKPOINT_EVERY`], and in
    /// the daemon with `[daemon] prune_older_than`, a prune every [`PRUNE_EVERY`].
    fn upkeep(&mut self) {
        if self.prune_due() {
            self.prune();
        }
        if self.last_checkpoint.elapsed() >= CHECKPOINT_EVERY {
            self.checkpoint();
        }
    }

    /// Makes this writer prune as `[daemon] prune_older_than` says (the daemon's writer only).
    pub fn enable_pruning(&mut self) {
        self.last_prune = None;
        self.pruning = true;
    }

    fn prune_due(&self) -> bool {
        self.pruning
            && self.config.daemon.prune_older_than.is_some()
            && self.last_prune.is_none_or(|at| at.elapsed() >= PRUNE_EVERY)
    }

    /// Prunes as `newsdedup prune` does, then rebuilds the index without the deleted items.
    fn prune(&mut self) {
        self.last_prune = Some(std::time::Instant::now());
        let Some(age) = self.config.daemon.prune_older_than else { return };
        let now = self.clock.now();
        let cutoff = chrono::Duration::from_std(age.0).ok().and_then(|a| now.checked_sub_signed(a));
        let cutoff = cutoff.unwrap_or(DateTime::<Utc>::MIN_UTC);
        match self.store.prune(cutoff, now, false) {
            Ok(p) => {
                tracing::info!(stories = p.stories, items = p.items, raw_cleared = p.raw_cleared, "pruned");
                if p.items > 0 {
                    if let Err(e) = self.reload_index() {
                        tracing::error!(error = %format!("{e:#}"), "cannot reload the dedup index after pruning");
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "pruning failed; trying again tomorrow"),
        }
    }

    fn checkpoint(&mut self) {
        self.last_checkpoint = std::time::Instant::now();
        match self.store.checkpoint() {
            Ok(c) if c.complete => {
                self.metrics.record_checkpoint();
                tracing::debug!(frames = c.wal_frames, "WAL checkpoint");
            }
            Ok(c) => tracing::debug!(
                frames = c.wal_frames,
                done = c.checkpointed_frames,
                "WAL checkpoint held back by a reader"
            ),
            Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed"),
        }
    }

    /// Ends the writer's work: a last checkpoint leaves the WAL empty for backups and readers.
    pub fn close(mut self) {
        self.checkpoint();
    }
}

/// How often the writer folds the WAL back into the database. SQLite's automatic checkpoints
/// (every ~4 MB) keep it from growing while no reader is in the way; this one also truncates
/// the file, so the -wal beside a long-running daemon stays small.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_secs(300);

/// How often the daemon prunes, with `[daemon] prune_older_than`.
const PRUNE_EVERY: std::time::Duration = std::time::Duration::from_secs(86400);

/// The deduplicator's settings from the configuration.
fn dedup_config(config: &Config) -> DedupConfig {
    DedupConfig {
        max_distance: config.dedup.max_distance,
        min_words_for_near: config.dedup.min_words_for_near,
        window_secs: Some(config.dedup.window.0.as_secs() as i64),
    }
}

/// Stores one item: new, updated in place (same feed and guid, new content), or unchanged.
fn store_item(
    batch: &mut FeedBatch<'_>,
    dedup: &mut Deduplicator,
    feed: FeedId,
    item: &ProcessedItem,
    now: DateTime<Utc>,
    summary: &mut Summary,
) -> Result<()> {
    let new = NewItem {
        feed,
        raw: &item.raw,
        clean: &item.clean,
        fingerprint: item.fingerprint,
        word_count: item.word_count,
    };
    // The key may have been stored in another of its forms (http for https, or the raw link
    // an earlier release keyed on): that is the same item.
    let mut stored = None;
    for key in newsdedup_fetcher::identity::lookup_keys(&item.raw) {
        stored = batch.find_item(feed, &key)?;
        if stored.is_some() {
            break;
        }
    }
    let id = match stored {
        // A pruned item's raw content is gone: only its title and link can tell an edit.
        Some(s)
            if (s.raw_pruned || s.raw_content == item.raw.body)
                && s.title == item.raw.title
                && s.link == item.raw.link =>
        {
            summary.items_unchanged += 1;
            return Ok(());
        }
        // `prune` deleted it: the feed still carries it, but it is not news any more.
        None if batch.is_tombstoned(feed, &item.raw.guid)? => {
            summary.items_unchanged += 1;
            tracing::debug!(item_guid = %item.raw.guid, "pruned item not stored again");
            return Ok(());
        }
        Some(s) => {
            batch.update_item(s.id, &new, now)?;
            dedup.remove(s.id);
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
    let (_, decision) = place_in_story(batch, dedup, feed, id, item, now)?;
    match decision {
        Decision::NewStory => summary.stories_new += 1,
        Decision::Join { .. } => summary.reposts_folded += 1,
    }
    summary.lines_removed += item.clean.removed.len();
    for removed in &item.clean.removed {
        *summary.removed_by_layer.entry(crate::metrics::rule_layer(&removed.rule)).or_default() += 1;
    }
    Ok(())
}

/// Decides the story of stored item `id` (not in any story, not in the index) and records it:
/// the one path by which every item gets its story, whether new, updated, or cleaned again.
pub(crate) fn place_in_story(
    batch: &FeedBatch<'_>,
    dedup: &mut Deduplicator,
    feed: FeedId,
    id: ItemId,
    item: &ProcessedItem,
    now: DateTime<Utc>,
) -> Result<(StoryId, Decision)> {
    let keys = identity_keys(item.clean.canonical_link.as_deref(), item.raw.platform_id.as_deref());
    let published = item.raw.published_at.unwrap_or(now).timestamp();
    let decision = dedup.decide(&Candidate {
        feed,
        fingerprint: item.fingerprint,
        word_count: item.word_count,
        identity_keys: &keys,
        published,
    });
    let story = batch.assign_story(id, &decision, now)?;
    dedup.insert(IndexEntry {
        item: id,
        story,
        feed,
        fingerprint: item.fingerprint,
        word_count: item.word_count,
        identity_keys: keys,
        published,
    });
    Ok((story, decision))
}

/// Keys that identify an item across feeds: its canonical link (when it points at a document,
/// not a site's front page) and its platform id.
pub(crate) fn identity_keys(canonical_link: Option<&str>, platform_id: Option<&str>) -> Vec<String> {
    let mut keys = Vec::new();
    if let Some(link) = canonical_link.filter(|l| points_at_document(l)) {
        keys.push(format!("link:{link}"));
    }
    if let Some(p) = platform_id {
        keys.push(format!("platform:{p}"));
    }
    keys
}

/// True when a link has a path or query beyond the site's front page.
fn points_at_document(link: &str) -> bool {
    let Some((_, rest)) = link.split_once("://") else { return false };
    rest.find(['/', '?']).is_some_and(|i| !rest[i..].trim_matches(|c| c == '/' || c == '?').is_empty())
}

fn index_entry(row: IndexRow) -> IndexEntry {
    let keys = identity_keys(row.canonical_link.as_deref(), row.platform_id.as_deref());
    IndexEntry {
        item: row.item,
        story: row.story,
        feed: row.feed,
        fingerprint: row.fingerprint,
        word_count: row.word_count,
        identity_keys: keys,
        published: row.published.timestamp(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn front_pages_are_not_identities() {
        assert!(points_at_document("https://example.org/news/1"));
        assert!(points_at_document("https://example.org/?p=12"));
        assert!(!points_at_document("https://example.org"));
        assert!(!points_at_document("https://example.org/"));
        assert!(!points_at_document("not a link"));
    }
}
