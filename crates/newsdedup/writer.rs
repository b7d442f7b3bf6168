//! The single writer: deduplicates each feed's items and commits them, with the story changes
//! and the feed's new state, all together or not at all. The feeds whose results are already
//! waiting are committed in one transaction (a group), each of them still all or nothing.
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
use crate::storyflow::{self, Index};
use crate::templates::Learner;
use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use newsdedup_deduplicator::DedupConfig;
use newsdedup_model::Validators;
use newsdedup_store::{FeedBatch, FeedOutcome, FeedRow, Store};
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::mpsc::{self, error::TryRecvError};
use tokio::sync::{Semaphore, SemaphorePermit};

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
    index: Index,
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
    /// Tests: panic while storing a feed that carries an item with this guid, after its items
    /// are written and before its transaction commits.
    #[cfg(test)]
    pub(crate) panic_on_guid: Option<String>,
}

/// Called after each feed is committed.
pub type Observer = Box<dyn FnMut(&FeedReport<'_>) + Send>;

impl Writer {
    /// Takes the store, brings stored fingerprints and sketches to the current algorithm
    /// versions, and loads the deduplicator's index from it.
    pub fn open(store: Store, config: &Config) -> Result<Writer> {
        let dedup_config = config.dedup.to_dedup_config();
        let mut store = store;
        storyflow::upgrade_features(&mut store, &dedup_config).context("cannot update stored fingerprints")?;
        let index = Index::load(&store, &dedup_config)?;
        let writer = Writer {
            store,
            index,
            dedup_config,
            config: config.clone(),
            metrics: Arc::new(Metrics::new()),
            observers: Vec::new(),
            clock: Clock::Wall,
            last_checkpoint: std::time::Instant::now(),
            last_prune: None,
            pruning: false,
            learner: Learner::new(config),
            #[cfg(test)]
            panic_on_guid: None,
        };
        Ok(writer)
    }

    /// Cleans stored items again with `normaliser`, which must be built from the writer's
    /// configuration (the pipeline's): the rule packs are then compiled once per process.
    pub fn share_normaliser(&self, normaliser: Arc<newsdedup_normaliser::Normaliser>) {
        self.learner.share_normaliser(normaliser);
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The store, the dedup index and the learner, for commands that rework stored items.
    pub(crate) fn parts(&mut self) -> (&mut Store, &mut Index, &Learner) {
        (&mut self.store, &mut self.index, &self.learner)
    }

    /// Rebuilds the in-memory index from the store.
    pub fn reload_index(&mut self) -> Result<()> {
        self.index = Index::load(&self.store, &self.dedup_config)?;
        Ok(())
    }

    /// Commits results as they arrive (in job order when `ordered`) until the channel closes.
    ///
    /// Results that are already waiting when one arrives are committed with it in one group
    /// (see [`newsdedup_store::Store::begin_group`]), up to [`GROUP_ITEMS`] items or
    /// [`GROUP_TIME`]: a busy writer commits less often, and a quiet one commits each feed as
    /// it comes. Each feed is still all or nothing, and is reported (metrics, observers) only
    /// once its group is committed.
    ///
    /// While results are waiting, the writer holds one of the pipeline's `cores` (see
    /// `pipeline::Cores`): it is the one serial stage, so a busy writer must not share its
    /// core with a parsing thread (on two cores, an ingest is 8% faster for it). It takes the
    /// core when a document's parsing gives one back, and returns it whenever it runs out of
    /// results, so that parsing has every core while the writer waits.
    pub fn consume(
        &mut self,
        mut rx: mpsc::Receiver<JobResult>,
        ordered: bool,
        on_error: OnWriteError,
        cores: Arc<Semaphore>,
    ) -> Result<Summary> {
        let mut summary = Summary::default();
        let mut queue = Queue { ordered, pending: BTreeMap::new(), next: 0 };
        let mut core: Option<SemaphorePermit<'_>> = None;
        loop {
            let first = match rx.try_recv() {
                Ok(result) => result,
                Err(TryRecvError::Disconnected) => break,
                Err(TryRecvError::Empty) => {
                    core = None;
                    match rx.blocking_recv() {
                        Some(result) => result,
                        None => break,
                    }
                }
            };
            if core.is_none() {
                if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                    // A closed semaphore only means no core: the writer goes on regardless.
                    core = runtime.block_on(cores.acquire()).ok();
                }
            }
            let started = std::time::Instant::now();
            let mut group = Group::default();
            let mut arrived = Some(first);
            let mut filled = Ok(());
            while let Some(result) = arrived.take() {
                filled = self.write_all(queue.ready(result), &mut summary, &mut group, on_error);
                if filled.is_ok() && group.items < GROUP_ITEMS && started.elapsed() < GROUP_TIME {
                    arrived = rx.try_recv().ok();
                }
            }
            // What was written before an error that stops the run is committed all the same.
            let ended = self.end_group(group, &mut summary, on_error);
            filled?;
            ended?;
            self.upkeep();
        }
        // A job that never reported (its task panicked, or was abandoned at the stop deadline)
        // leaves a gap; commit the rest in order.
        let mut group = Group::default();
        let filled = self.write_all(queue.pending.into_values(), &mut summary, &mut group, on_error);
        let ended = self.end_group(group, &mut summary, on_error);
        filled?;
        ended?;
        Ok(summary)
    }

    /// Writes `results` into the open group, in order, up to the first that stops the run.
    fn write_all(
        &mut self,
        results: impl IntoIterator<Item = JobResult>,
        summary: &mut Summary,
        group: &mut Group,
        on_error: OnWriteError,
    ) -> Result<()> {
        for result in results {
            self.handle_in_group(result, summary, group, on_error)?;
        }
        Ok(())
    }

    /// Writes one result into the open group (opening one if needed).
    fn handle_in_group(
        &mut self,
        result: JobResult,
        summary: &mut Summary,
        group: &mut Group,
        on_error: OnWriteError,
    ) -> Result<()> {
        if let Err(e) = self.store.begin_group() {
            self.metrics.queues.writing.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
            return self.refused(anyhow::Error::from(e).context("cannot start a write transaction"), on_error);
        }
        let items = match &result.outcome {
            Outcome::Parsed(p) => p.items.len(),
            _ => 0,
        };
        group.items += items.max(1);
        match self.handle(result, summary, group) {
            Ok(()) => Ok(()),
            Err(e) => self.refused(e, on_error),
        }
    }

    /// What a feed or group that could not be stored does to the run.
    fn refused(&self, e: anyhow::Error, on_error: OnWriteError) -> Result<()> {
        match on_error {
            OnWriteError::KeepGoing => {
                // The feed stays as it was (due again); the error is on /healthz and counted.
                tracing::error!(error = %format!("{e:#}"), "cannot store a feed's results");
                Ok(())
            }
            OnWriteError::Stop => Err(e),
        }
    }

    /// Commits the group and reports its feeds; if the commit fails, none of them happened.
    fn end_group(&mut self, group: Group, summary: &mut Summary, on_error: OnWriteError) -> Result<()> {
        let ended = self.commit_group(&group, summary, on_error);
        // Its jobs are no longer waiting for the writer (the slots go with the group).
        self.metrics.queues.writing.fetch_sub(group.slots.len() as u64, std::sync::atomic::Ordering::Relaxed);
        ended
    }

    fn commit_group(&mut self, group: &Group, summary: &mut Summary, on_error: OnWriteError) -> Result<()> {
        match self.store.commit_group() {
            Ok(()) => {
                for done in &group.committed {
                    let report = FeedReport {
                        feed_url: &done.feed.url,
                        outcome: done.outcome,
                        status: done.status,
                        fetch_time: done.fetch_time,
                        delta: &done.delta,
                        at: done.at,
                    };
                    self.metrics.record_feed(&report);
                    for observer in &mut self.observers {
                        observer(&report);
                    }
                }
                Ok(())
            }
            Err(e) => {
                let e = anyhow::Error::from(e).context(format!(
                    "cannot commit the results of {} feed(s) (none of them is stored)",
                    group.committed.len()
                ));
                self.metrics.record_write_error(&format!("{e:#}"));
                for done in &group.committed {
                    *summary = summary.since(&done.delta);
                }
                if let Err(reload) = self.reload_index() {
                    tracing::error!(error = %reload, "cannot reload the dedup index");
                }
                for done in &group.committed {
                    self.record_write_failure(&done.feed, &e);
                }
                self.refused(e, on_error)
            }
        }
    }

    fn handle(&mut self, result: JobResult, summary: &mut Summary, group: &mut Group) -> Result<()> {
        let JobResult { feed, outcome: fetched, facts, fetch_time, mut slot, .. } = result;
        slot.release_permit();
        group.slots.push(slot);
        let _span = tracing::info_span!("feed", feed_id = feed.id.0, feed_url = %feed.url).entered();
        let (outcome, status) = match &fetched {
            Outcome::Failed { status, .. } => (FetchOutcome::Failed, *status),
            Outcome::Gone { status, .. } => (FetchOutcome::Failed, Some(*status)),
            Outcome::Postponed { .. } => (FetchOutcome::Postponed, None),
            Outcome::NotModified { .. } => (FetchOutcome::NotModified, Some(304)),
            Outcome::Unchanged { status, .. } => (FetchOutcome::Unchanged, Some(*status)),
            Outcome::Parsed(p) => (FetchOutcome::Updated, Some(p.status)),
        };
        let before = summary.clone();
        // A bug that panics on one feed's data must not take the writer, and a daemon, down
        // with it: the feed's transaction rolls back as the panic unwinds through it, and the
        // feed fails as one the database refused (below).
        let written =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.write(&feed, fetched, &facts, summary)))
                .unwrap_or_else(|panic| {
                    let message = panic
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_default();
                    Err(anyhow::anyhow!(
                        "processing the feed stopped on a bug (a panic: {message}); nothing of it was stored"
                    ))
                });
        match written {
            Ok(()) => {
                let delta = summary.since(&before);
                let at = self.clock.now();
                group.committed.push(Written { feed, outcome, status, fetch_time, delta, at });
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
                let written =
                    storyflow::store_items(&mut batch, &mut self.index, feed.id, &processed.items, now, summary)?;
                self.learner.reclean_earlier(
                    &batch,
                    &mut self.index,
                    feed,
                    (&processed.items, &written),
                    &learned,
                    now,
                    summary,
                )?;
                #[cfg(test)]
                if let Some(guid) =
                    self.panic_on_guid.as_ref().filter(|g| processed.items.iter().any(|i| &i.raw.guid == *g))
                {
                    panic!("injected on item {guid}");
                }
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
        self.dedup_config = config.dedup.to_dedup_config();
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

/// The most items one group transaction holds (see [`Writer::consume`]).
const GROUP_ITEMS: usize = 2_000;

/// The longest a group stays open while results keep arriving.
const GROUP_TIME: std::time::Duration = std::time::Duration::from_millis(500);

/// Results in the order they are committed: as they arrive, or in job order.
struct Queue {
    ordered: bool,
    /// Results that arrived before an earlier job's (ordered only).
    pending: BTreeMap<usize, JobResult>,
    /// The job whose result is committed next (ordered only).
    next: usize,
}

impl Queue {
    /// The results that can be committed now that `result` has arrived, in order.
    fn ready(&mut self, result: JobResult) -> Vec<JobResult> {
        if !self.ordered {
            return vec![result];
        }
        self.pending.insert(result.seq, result);
        let mut ready = Vec::new();
        while let Some(result) = self.pending.remove(&self.next) {
            ready.push(result);
            self.next += 1;
        }
        ready
    }
}

/// The feeds written in the open group, reported when it commits.
#[derive(Default)]
struct Group {
    items: usize,
    committed: Vec<Written>,
    /// The slots of the group's jobs, released when it is committed (or rolled back).
    slots: Vec<crate::pipeline::Slot>,
}

/// A feed written in a group.
struct Written {
    feed: FeedRow,
    outcome: FetchOutcome,
    status: Option<u16>,
    fetch_time: Option<std::time::Duration>,
    delta: Summary,
    at: DateTime<Utc>,
}

/// How often the daemon prunes, with `[daemon] prune_older_than`.
const PRUNE_EVERY: std::time::Duration = std::time::Duration::from_secs(86400);
