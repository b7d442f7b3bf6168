//! The orchestrator: feeds in, stored stories out.
//!
//! ```text
//! jobs ─► fetch (≤ concurrency at once) ─► parse+normalise+tokenise (blocking pool, ≤ cores)
//!      ─► bounded channel ─► writer thread (dedup + SQLite: each feed all or nothing)
//! ```
//!
//! Every command that processes feeds (`run --once`, `daemon`, `ingest`) goes through
//! [`run_jobs`]. A job holds a concurrency permit from the moment its fetch starts until the
//! writer has written it, so a slow writer slows fetching instead of letting results pile
//! up in memory. With `ordered`, the writer commits results in job order (`ingest` uses this,
//! so the same files in the same order always give the same stories); otherwise in the order
//! they finish.
//!
//! Politeness (see `newsdedup_fetcher::hosts`): jobs wait in a [`Backlog`] queued per host
//! and are started round-robin across hosts, each host serving at most its limit at once; a
//! job holds its host's slot only while fetching. A host that answers 429 or 503 with
//! Retry-After is paused: its queued jobs wait for the pause when it is short and are
//! postponed to its end when it is not (recorded on the feed, not counted as a failure).

use crate::config::Config;
use crate::metrics::Metrics;
use crate::writer::{Processed, Writer};
use chrono::{DateTime, Utc};
use newsdedup_deduplicator::TextProfile;
use newsdedup_fetcher::hosts::{HostKey, HostPermit, HostWatch, Hosts, Next, Queue};
use newsdedup_fetcher::{FetchError, Fetched, HttpClient, Source};
use newsdedup_model::{CleanItem, FeedId, RawItem, Validators};
use newsdedup_normaliser::{Analysis, Normaliser, Template};
use newsdedup_store::FeedRow;
use std::collections::HashSet;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore, SemaphorePermit};
use tracing::Instrument;

/// Where a job's document comes from.
#[derive(Debug)]
pub enum Input {
    /// Fetch the feed's address (an HTTP(S) URL or a local path).
    Address(String),
    /// Read this file (`ingest`, which may store it under another feed's address).
    File(std::path::PathBuf),
    /// A document already in memory (stdin).
    Bytes(Vec<u8>),
}

/// One feed to process.
#[derive(Debug)]
pub struct Job {
    pub feed: FeedRow,
    pub input: Input,
}

/// An item after the CPU stages, ready for the writer.
#[derive(Debug)]
pub struct ProcessedItem {
    pub raw: RawItem,
    /// Cleaned with rules and edges; the writer applies the feed's learned template.
    pub clean: CleanItem,
    /// The folded text tokenised for the deduplicator, which computes the fingerprints from it
    /// once the feed's own repeated lines are known.
    pub profile: TextProfile,
    /// What cleaning found out about each line, so the template can be applied cheaply.
    pub analysis: Analysis,
}

/// What a job produced.
#[derive(Debug)]
pub enum Outcome {
    Failed {
        status: Option<u16>,
        error: String,
    },
    NotModified {
        validators: Validators,
    },
    /// The body is byte-for-byte the one processed last time.
    Unchanged {
        status: u16,
        validators: Validators,
    },
    Parsed(Processed),
    /// The server said the feed is gone for good (HTTP 410).
    Gone {
        status: u16,
        error: String,
    },
    /// Not fetched: its host asked for a pause that ends then.
    Postponed {
        until: DateTime<Utc>,
    },
}

/// What a fetch learned for scheduling and addressing, whatever its outcome.
#[derive(Debug, Clone, Default)]
pub struct FetchFacts {
    /// The feed's own refresh hint (RSS ttl, sy:updatePeriod).
    pub ttl: Option<Duration>,
    /// How long the server said the response stays fresh.
    pub freshness: Option<Duration>,
    /// Where the feed moved permanently (every redirect a 301 or 308).
    pub moved_to: Option<String>,
    /// How long the server asked us to wait (Retry-After).
    pub retry_after: Option<Duration>,
    /// The host whose other feeds must wait too, and until when.
    pub host_paused: Option<(String, DateTime<Utc>)>,
}

/// A job's result on its way to the writer, with the permit it holds.
pub struct JobResult {
    pub seq: usize,
    pub feed: FeedRow,
    pub outcome: Outcome,
    pub facts: FetchFacts,
    /// How long fetching the document took (None when there was nothing to fetch).
    pub fetch_time: Option<std::time::Duration>,
    pub slot: Slot,
}

/// The machine's cores, shared by the CPU stage (parsing and cleaning documents) and the
/// writer, the pipeline's one serial stage. A busy writer holds one of them (see
/// `Writer::consume`), so that on a machine with few cores it does not share its core with
/// a parsing thread; it gives it back whenever it runs out of results.
pub struct Cores {
    /// Documents line up here first: at most one per core then waits for a core itself, so
    /// the writer waits for one document to finish, not for every document fetched.
    queue: Semaphore,
    cores: Arc<Semaphore>,
}

impl Cores {
    pub fn new(n: usize) -> Cores {
        Cores { queue: Semaphore::new(n), cores: Arc::new(Semaphore::new(n)) }
    }

    /// Waits for a core to parse and clean a document on.
    pub async fn for_document(&self) -> (SemaphorePermit<'_>, SemaphorePermit<'_>) {
        let queued = self.queue.acquire().await.expect("the semaphore is never closed");
        let core = self.cores.acquire().await.expect("the semaphore is never closed");
        (queued, core)
    }

    /// The semaphore the writer takes its core from.
    pub fn for_writer(&self) -> Arc<Semaphore> {
        self.cores.clone()
    }
}

/// Read-only things every job needs.
#[derive(Clone)]
pub struct Stages {
    pub http: HttpClient,
    pub normaliser: Arc<Normaliser>,
    pub config: Arc<Config>,
    /// Limits the CPU stages to the number of cores, whatever the fetch concurrency.
    pub cpu: Arc<Cores>,
    /// Where the pipeline counts its queue depths and fetch times.
    pub metrics: Arc<Metrics>,
    /// Per-host limits and Retry-After pauses.
    pub hosts: Arc<Hosts>,
}

/// Totals of one run, for the summary line and the exit code.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    pub feeds: usize,
    pub feeds_failed: usize,
    pub feeds_unchanged: usize,
    /// Not fetched because their host asked for a pause.
    pub feeds_postponed: usize,
    pub items_new: usize,
    pub items_updated: usize,
    pub items_unchanged: usize,
    pub stories_new: usize,
    pub reposts_folded: usize,
    pub lines_removed: usize,
    /// Boilerplate lines removed, by rule layer ([`crate::metrics::rule_layer`]).
    #[serde(skip)]
    pub removed_by_layer: std::collections::BTreeMap<String, usize>,
    /// Earlier items cleaned again because their feed's learned template grew.
    pub items_recleaned: usize,
}

impl Summary {
    pub fn add(&mut self, other: &Summary) {
        self.feeds += other.feeds;
        self.feeds_failed += other.feeds_failed;
        self.feeds_unchanged += other.feeds_unchanged;
        self.feeds_postponed += other.feeds_postponed;
        self.items_new += other.items_new;
        self.items_updated += other.items_updated;
        self.items_unchanged += other.items_unchanged;
        self.stories_new += other.stories_new;
        self.reposts_folded += other.reposts_folded;
        self.lines_removed += other.lines_removed;
        for (layer, n) in &other.removed_by_layer {
            *self.removed_by_layer.entry(layer.clone()).or_default() += n;
        }
        self.items_recleaned += other.items_recleaned;
    }

    /// What was added to these totals since `before` (an earlier copy of them).
    pub fn since(&self, before: &Summary) -> Summary {
        let mut removed_by_layer = self.removed_by_layer.clone();
        for (layer, n) in &before.removed_by_layer {
            if let Some(v) = removed_by_layer.get_mut(layer) {
                *v -= (*n).min(*v);
            }
        }
        removed_by_layer.retain(|_, n| *n > 0);
        Summary {
            feeds: self.feeds - before.feeds,
            feeds_failed: self.feeds_failed - before.feeds_failed,
            feeds_unchanged: self.feeds_unchanged - before.feeds_unchanged,
            feeds_postponed: self.feeds_postponed - before.feeds_postponed,
            items_new: self.items_new - before.items_new,
            items_updated: self.items_updated - before.items_updated,
            items_unchanged: self.items_unchanged - before.items_unchanged,
            stories_new: self.stories_new - before.stories_new,
            reposts_folded: self.reposts_folded - before.reposts_folded,
            lines_removed: self.lines_removed - before.lines_removed,
            removed_by_layer,
            items_recleaned: self.items_recleaned - before.items_recleaned,
        }
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let postponed =
            if self.feeds_postponed > 0 { format!(", {} postponed", self.feeds_postponed) } else { String::new() };
        write!(
            f,
            "feeds: {} ({} failed, {} unchanged{postponed}); items: {} new, {} updated, {} unchanged; \
             stories: {} new; reposts folded: {}; boilerplate lines removed: {}",
            self.feeds,
            self.feeds_failed,
            self.feeds_unchanged,
            self.items_new,
            self.items_updated,
            self.items_unchanged,
            self.stories_new,
            self.reposts_folded,
            self.lines_removed
        )?;
        if self.items_recleaned > 0 {
            write!(f, "; earlier items cleaned again: {}", self.items_recleaned)?;
        }
        Ok(())
    }
}

/// Processes `jobs` and returns the writer (to reuse) with the run's totals. When `shutdown`
/// turns true, no new job starts; jobs already started finish and are committed, unless they
/// take longer than `[daemon] stop_timeout`: then they are abandoned (their feeds stay as they
/// were, due again) and only what is already fetched is committed.
pub async fn run_jobs(
    stages: &Stages,
    writer: Writer,
    jobs: Vec<Job>,
    ordered: bool,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<(Writer, Summary)> {
    let mut pipeline = Pipeline::start(stages.clone(), writer, ordered, OnWriteError::Stop);
    // In job order, every job counts as local (no host limits): `ordered` jobs are files, and
    // the writer's reordering must see them start in order.
    let mut backlog = if ordered { Backlog::in_order(jobs) } else { pipeline.backlog(jobs) };
    while !backlog.is_empty() && !*shutdown.borrow() {
        let watch = pipeline.hosts_watch();
        pipeline.fill(&mut backlog);
        if backlog.is_empty() {
            break;
        }
        tokio::select! {
            biased;
            _ = stopped(&mut shutdown) => break,
            _ = pipeline.wait_to_fill(watch) => {}
        }
    }
    let deadline = (*shutdown.borrow()).then(|| stages.config.daemon.stop_timeout.0);
    pipeline.finish(deadline).await
}

/// Resolves when `shutdown` turns true (never, if its sender is gone without saying so).
pub async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    if shutdown.wait_for(|stop| *stop).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// What the writer does when a feed's results cannot be stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnWriteError {
    /// Stop the pipeline and report the error (one-off commands: the database is unusable).
    Stop,
    /// Log and count it, leave the feed due, and go on with the next (the daemon, which must
    /// outlive a full disk or a locked file).
    KeepGoing,
}

/// A running pipeline: jobs go in with [`Pipeline::submit`], each holds one of `concurrency`
/// slots from its start until the writer has committed it, and the writer thread commits
/// results one feed at a time. Used by `run_jobs` for a fixed list and by the daemon's
/// scheduler for an endless one.
pub struct Pipeline {
    stages: Stages,
    slots: Arc<Semaphore>,
    in_flight: Arc<std::sync::Mutex<HashSet<FeedId>>>,
    tx: mpsc::Sender<JobResult>,
    writer: tokio::task::JoinHandle<(Writer, anyhow::Result<Summary>)>,
    next_seq: usize,
    abandon: Arc<watch::Sender<bool>>,
    /// The last [`Pipeline::fill`] stopped for want of a free slot.
    short_of_slots: bool,
}

/// A free slot, reserved for a job about to start.
pub struct Reserved(OwnedSemaphorePermit);

/// Jobs waiting to start, queued per host and handed out round-robin (see
/// `newsdedup_fetcher::hosts::Queue`).
#[derive(Default)]
pub struct Backlog(Queue<Job>);

impl Backlog {
    /// Jobs started strictly in the given order, without host limits.
    pub fn in_order(jobs: Vec<Job>) -> Backlog {
        let mut queue = Queue::default();
        for job in jobs {
            queue.push(HostKey::local(), job);
        }
        Backlog(queue)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// How a job may start fetching.
enum Admission {
    /// Its host's slot is already held.
    Admitted(HostPermit),
    /// Its host is paused until then: report the feed postponed, fetch nothing.
    Postpone(tokio::time::Instant),
}

/// A job's place in the pipeline: its concurrency permit, and its feed's entry in the
/// in-flight set. The writer gives the permit back once it has written the job, so the next
/// fetch starts, and drops the slot once the job is committed, so the scheduler does not
/// take the feed for due again before its new schedule is stored.
pub struct Slot {
    permit: Option<OwnedSemaphorePermit>,
    feed: FeedId,
    in_flight: Arc<std::sync::Mutex<HashSet<FeedId>>>,
}

impl Slot {
    /// Gives the concurrency permit back, keeping the feed in flight.
    pub fn release_permit(&mut self) {
        self.permit = None;
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.in_flight.lock().unwrap_or_else(|p| p.into_inner()).remove(&self.feed);
    }
}

impl Pipeline {
    /// Starts the writer thread. With `ordered`, results are committed in submission order.
    pub fn start(stages: Stages, writer: Writer, ordered: bool, on_error: OnWriteError) -> Pipeline {
        let mut concurrency = stages.config.fetch.concurrency.get();
        if ordered {
            // Jobs in order are documents read from disk (`ingest`): reading one takes no
            // time, so more of them in flight than the CPU stage works on at once (one per
            // core) and the writer's next only hold parsed items in memory (measured: a
            // hundred MiB of peak RSS on a large ingest, for no speed).
            let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
            concurrency = concurrency.min(2 * cores);
        }
        let (tx, rx) = mpsc::channel::<JobResult>(concurrency);
        // The writer cleans stored items again with the pipeline's rules (compiled once).
        writer.share_normaliser(stages.normaliser.clone());
        // On tokio's blocking pool: while it runs, a test's paused clock only moves when the
        // test moves it, so scheduling tests see every commit happen at the time they set.
        let cpu = stages.cpu.for_writer();
        let writer = tokio::task::spawn_blocking(move || {
            let mut writer = writer;
            let summary = writer.consume(rx, ordered, on_error, cpu);
            (writer, summary)
        });
        Pipeline {
            stages,
            slots: Arc::new(Semaphore::new(concurrency)),
            in_flight: Arc::default(),
            tx,
            writer,
            next_seq: 0,
            abandon: Arc::new(watch::channel(false).0),
            short_of_slots: false,
        }
    }

    /// The feeds started and not yet committed.
    pub fn in_flight(&self) -> HashSet<FeedId> {
        self.in_flight.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Resolves when a slot is free (it may be taken again before the caller uses it).
    pub async fn slot_free(&self) {
        let _ = self.slots.acquire().await;
    }

    /// Queues `jobs` per host, for [`Pipeline::start_next`].
    pub fn backlog(&self, jobs: impl IntoIterator<Item = Job>) -> Backlog {
        let mut queue = Queue::default();
        for job in jobs {
            queue.push(host_key(&self.stages.hosts, &job), job);
        }
        Backlog(queue)
    }

    /// Starts jobs of `backlog` while there are free slots and hosts that can take them,
    /// going round the hosts in turn. Jobs of a host paused for longer than `max_host_wait`
    /// start only to be recorded as postponed.
    pub fn fill(&mut self, backlog: &mut Backlog) {
        self.short_of_slots = false;
        while !backlog.is_empty() {
            let Some(reserved) = self.try_reserve() else {
                self.short_of_slots = true;
                return;
            };
            match backlog.0.next(&self.stages.hosts, tokio::time::Instant::now()) {
                Next::Run(job, host) => self.launch(reserved, job, Admission::Admitted(host)),
                Next::Postpone(job, until) => self.launch(reserved, job, Admission::Postpone(until)),
                Next::Wait(_) | Next::Done => return,
            }
        }
    }

    /// A watch for the hosts, to make before [`Pipeline::fill`] and pass to
    /// [`Pipeline::wait_to_fill`].
    pub fn hosts_watch(&self) -> HostWatch {
        self.stages.hosts.watch()
    }

    /// Resolves when [`Pipeline::fill`] may start more: a slot is free (if the last fill
    /// stopped for want of one), a host's fetch ended, or a pause ended.
    ///
    /// Whether to wait for a slot is what the last fill found, not whether one is free now:
    /// the writer may free one in between, and then no host event may ever come.
    pub async fn wait_to_fill(&self, watch: HostWatch) {
        tokio::select! {
            _ = self.slot_free(), if self.short_of_slots => {}
            _ = watch.changed() => {}
        }
    }

    /// Reserves a slot if one is free now, for [`Pipeline::start_reserved`].
    pub fn try_reserve(&self) -> Option<Reserved> {
        self.slots.clone().try_acquire_owned().ok().map(Reserved)
    }

    fn launch(&mut self, reserved: Reserved, job: Job, admission: Admission) {
        let permit = reserved.0;
        let seq = self.next_seq;
        self.next_seq += 1;
        self.in_flight.lock().unwrap_or_else(|p| p.into_inner()).insert(job.feed.id);
        let slot = Slot { permit: Some(permit), feed: job.feed.id, in_flight: self.in_flight.clone() };
        let stages = self.stages.clone();
        let tx = self.tx.clone();
        let mut abandon = self.abandon.subscribe();
        let span = tracing::info_span!("feed", feed_id = job.feed.id.0, feed_url = %job.feed.url);
        stages.metrics.queues.fetching.fetch_add(1, Relaxed);
        tokio::spawn(
            async move {
                let queues = &stages.metrics.queues;
                let processed = tokio::select! {
                    biased;
                    _ = stopped(&mut abandon) => None,
                    processed = process(&stages, &job, admission) => Some(processed),
                };
                queues.fetching.fetch_sub(1, Relaxed);
                let Some((outcome, fetch_time, facts)) = processed else {
                    tracing::info!("abandoned at the stop deadline; the feed stays due");
                    return;
                };
                queues.writing.fetch_add(1, Relaxed);
                let result = JobResult { seq, feed: job.feed, outcome, facts, fetch_time, slot };
                let sent = tokio::select! {
                    biased;
                    _ = stopped(&mut abandon) => false,
                    // The writer only goes away if it failed; its error is reported by finish().
                    sent = tx.send(result) => sent.is_ok(),
                };
                if !sent {
                    queues.writing.fetch_sub(1, Relaxed);
                }
            }
            .instrument(span),
        );
    }

    /// Lets every started job finish and be committed, then stops the writer and returns it
    /// with the totals. With a `deadline`, jobs still fetching when it passes are abandoned.
    pub async fn finish(self, deadline: Option<std::time::Duration>) -> anyhow::Result<(Writer, Summary)> {
        match deadline {
            Some(deadline) => self.finish_or_abandon(tokio::time::sleep(deadline)).await,
            None => self.finish_or_abandon(std::future::pending()).await,
        }
    }

    /// As [`Pipeline::finish`], abandoning the jobs still fetching when `abandon` resolves.
    pub async fn finish_or_abandon(
        self,
        abandon: impl std::future::Future<Output = ()>,
    ) -> anyhow::Result<(Writer, Summary)> {
        let Pipeline { tx, mut writer, abandon: abandon_tx, in_flight, .. } = self;
        drop(tx);
        let result = tokio::select! {
            done = &mut writer => done,
            _ = abandon => {
                let in_flight = in_flight.lock().unwrap_or_else(|p| p.into_inner()).len();
                tracing::warn!(in_flight, "stop deadline passed: abandoning the feeds still being fetched");
                let _ = abandon_tx.send(true);
                writer.await
            }
        };
        let (writer, summary) = result.map_err(|e| anyhow::anyhow!("the writer stopped unexpectedly: {e}"))?;
        Ok((writer, summary?))
    }
}

/// The politeness key of a job: its feed's host, or none for local documents.
fn host_key(hosts: &Hosts, job: &Job) -> HostKey {
    match &job.input {
        Input::Address(address) => match Source::parse(address) {
            Ok(Source::Http(url)) => hosts.key(&url),
            _ => HostKey::local(),
        },
        Input::File(_) | Input::Bytes(_) => HostKey::local(),
    }
}

/// A tokio instant as a wall-clock time.
fn wall_clock(at: tokio::time::Instant) -> DateTime<Utc> {
    let wait = at.saturating_duration_since(tokio::time::Instant::now());
    Utc::now() + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX)
}

/// Fetches, parses, cleans and fingerprints one feed; also returns how long the fetch took
/// and what the fetch learned for the schedule.
async fn process(
    stages: &Stages,
    job: &Job,
    admission: Admission,
) -> (Outcome, Option<std::time::Duration>, FetchFacts) {
    let mut facts = FetchFacts::default();
    let (host, key) = match admission {
        Admission::Admitted(permit) => (permit, host_key(&stages.hosts, job)),
        Admission::Postpone(until) => return (postponed(job, until), None, facts),
    };
    let mut fetch_time = None;
    let outcome = process_document(stages, job, &key, host, &mut fetch_time, &mut facts).await;
    (outcome, fetch_time, facts)
}

fn postponed(job: &Job, until: tokio::time::Instant) -> Outcome {
    let until = wall_clock(until);
    tracing::info!(feed_url = %job.feed.url, %until, "its host asked for a pause: postponed");
    Outcome::Postponed { until }
}

/// [`process`]'s work; sets `fetch_time` when a document was fetched. The host's slot is
/// given back as soon as the fetch is over.
async fn process_document(
    stages: &Stages,
    job: &Job,
    key: &HostKey,
    host: HostPermit,
    fetch_time: &mut Option<std::time::Duration>,
    facts: &mut FetchFacts,
) -> Outcome {
    let source = match &job.input {
        Input::Address(address) => match Source::parse(address) {
            Ok(source) => Some(source),
            Err(e) => return Outcome::Failed { status: None, error: error_chain(&e) },
        },
        Input::File(path) => Some(Source::File(path.clone())),
        Input::Bytes(_) => None,
    };
    let fetched = match (&source, &job.input) {
        (Some(source), _) => {
            let started = std::time::Instant::now();
            let fetched = newsdedup_fetcher::fetch(&stages.http, source, &job.feed.validators).await;
            *fetch_time = Some(started.elapsed());
            fetched
        }
        (None, input) => Ok(Fetched::Body(newsdedup_fetcher::HttpResponse::local(match input {
            Input::Bytes(bytes) => bytes.clone(),
            Input::Address(_) | Input::File(_) => Vec::new(),
        }))),
    };
    if let Err(e) = &fetched {
        pause_host(stages, key, e, facts);
    }
    drop(host);
    let response = match fetched {
        Err(e) if e.is_gone() => return Outcome::Gone { status: 410, error: error_chain(&e) },
        Err(e) => return Outcome::Failed { status: e.status(), error: error_chain(&e) },
        Ok(Fetched::NotModified(info)) => {
            facts.freshness = info.freshness;
            facts.moved_to = info.moved_to.map(String::from);
            return Outcome::NotModified { validators: info.validators };
        }
        Ok(Fetched::Body(response)) => response,
    };
    facts.freshness = response.info.freshness;
    let moved_to = response.info.moved_to.as_ref().map(|u| u.to_string());
    let body_hash = body_hash(&response.body);
    if job.feed.body_hash.as_deref() == Some(body_hash.as_str()) {
        facts.moved_to = moved_to;
        return Outcome::Unchanged { status: response.status, validators: response.info.validators };
    }
    // Relative links resolve against where the document really came from.
    let base =
        response.info.final_url.as_ref().map(|u| u.to_string()).or_else(|| source.as_ref().and_then(Source::base_url));
    let status = response.status;
    match digest(stages, &job.feed.url, response, base, body_hash).await {
        Ok((processed, ttl)) => {
            facts.ttl = ttl;
            // Only a target that answers with a feed becomes the feed's address.
            facts.moved_to = moved_to;
            Outcome::Parsed(processed)
        }
        Err(Digest::Parse(newsdedup_fetcher::ParseError::HtmlPage { alternates }))
            if job.feed.body_hash.is_none()
                && source.as_ref().is_some_and(Source::is_http)
                && !alternates.is_empty() =>
        {
            discover(stages, &job.feed.url, &alternates[0], facts).await
        }
        Err(e) => Outcome::Failed { status: Some(status), error: e.to_string() },
    }
}

/// Why a fetched document gave no items.
enum Digest {
    Parse(newsdedup_fetcher::ParseError),
    Panicked(tokio::task::JoinError),
}

impl std::fmt::Display for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Digest::Parse(e) => f.write_str(&error_chain(e)),
            Digest::Panicked(e) => write!(f, "processing the feed failed: {e}"),
        }
    }
}

/// Parses, cleans and fingerprints a fetched document on the blocking pool (at most one
/// per core at a time). Returns the items and the feed's own refresh hint.
async fn digest(
    stages: &Stages,
    feed_url: &str,
    response: newsdedup_fetcher::HttpResponse,
    base: Option<String>,
    body_hash: String,
) -> Result<(Processed, Option<Duration>), Digest> {
    let _cpu = stages.cpu.for_document().await;
    let normaliser = stages.normaliser.clone();
    let feed_url = feed_url.to_string();
    let status = response.status;
    let validators = response.info.validators.clone();
    let work = tokio::task::spawn_blocking(move || {
        let options = newsdedup_fetcher::ParseOptions {
            content_type: response.content_type.as_deref(),
            base_url: base.as_deref(),
            now: Utc::now(),
        };
        let parsed = newsdedup_fetcher::parse_document(&response.body, &options)?;
        let ttl = parsed.ttl_minutes.map(|minutes| Duration::from_secs(u64::from(minutes) * 60));
        let items = parsed.items.into_iter().map(|raw| process_item(&normaliser, &feed_url, raw)).collect();
        Ok::<_, newsdedup_fetcher::ParseError>((
            Processed { status, validators, title: parsed.title, body_hash, items },
            ttl,
        ))
    });
    match work.await {
        Ok(Ok(done)) => Ok(done),
        Ok(Err(e)) => Err(Digest::Parse(e)),
        Err(join) => Err(Digest::Panicked(join)),
    }
}

/// A feed added by the address of a web page that names its feed: fetch that feed instead,
/// and if it is one, it becomes the feed's address (as a permanent redirect would). Only for
/// feeds never fetched successfully, so a site that later serves a page by mistake does not
/// re-address a working feed.
async fn discover(stages: &Stages, feed_url: &str, alternate: &str, facts: &mut FetchFacts) -> Outcome {
    tracing::info!(alternate, "the address is a web page naming a feed: trying the feed");
    let failed = |e: &dyn std::fmt::Display| Outcome::Failed {
        status: None,
        error: format!("the document is an HTML page; the feed it names at {alternate} failed: {e}"),
    };
    let source = match Source::parse(alternate) {
        Ok(source @ Source::Http(_)) => source,
        Ok(Source::File(_)) => return failed(&"not a web address"),
        Err(e) => return failed(&error_chain(&e)),
    };
    let response = match newsdedup_fetcher::fetch(&stages.http, &source, &newsdedup_model::Validators::default()).await
    {
        Ok(Fetched::Body(response)) => response,
        Ok(Fetched::NotModified(_)) => return failed(&"304 without validators"),
        Err(e) => return failed(&error_chain(&e)),
    };
    let final_url = response.info.final_url.as_ref().map(|u| u.to_string()).unwrap_or_else(|| alternate.to_string());
    let freshness = response.info.freshness;
    let hash = body_hash(&response.body);
    match digest(stages, feed_url, response, Some(final_url.clone()), hash).await {
        Ok((processed, ttl)) => {
            facts.ttl = ttl;
            facts.freshness = freshness;
            facts.moved_to = Some(final_url);
            Outcome::Parsed(processed)
        }
        Err(e) => failed(&e),
    }
}

/// A 429 or 503 is about the host: pause it (or, for hosts with separate waits, the feed)
/// for the Retry-After it asked for. A 429 without Retry-After still pauses the host, for the
/// first retry delay; a 503 without one may be this feed's trouble alone.
fn pause_host(stages: &Stages, key: &HostKey, error: &FetchError, facts: &mut FetchFacts) {
    facts.retry_after = error.retry_after();
    if !error.is_throttled() || key.wait.is_empty() {
        return;
    }
    let wait = match (error.retry_after(), error.status()) {
        (Some(wait), _) => wait,
        (None, Some(429)) => stages.config.schedule.retry_after.0,
        _ => return,
    };
    if wait.is_zero() {
        return;
    }
    let until = stages.hosts.block(key, tokio::time::Instant::now(), wait);
    tracing::warn!(host = %key.host, wait_secs = wait.as_secs(), "the host asked for a pause");
    if key.wait == key.host {
        facts.host_paused = Some((key.host.clone(), wall_clock(until)));
    }
}

/// The CPU work for one item of the feed at `feed_url`: clean it and tokenise it.
pub fn process_item(normaliser: &Normaliser, feed_url: &str, raw: RawItem) -> ProcessedItem {
    let analysis = normaliser.analyse(Some(feed_url), &raw);
    let clean = Normaliser::finish(&analysis, &Template::default());
    let profile = profile_clean(&clean);
    ProcessedItem { raw, clean, profile, analysis }
}

/// A clean item's text, tokenised for the deduplicator.
pub fn profile_clean(clean: &CleanItem) -> TextProfile {
    TextProfile::new(&clean.folded_text)
}

/// A hash of a document's bytes, to skip a body identical to the last one processed.
fn body_hash(bytes: &[u8]) -> String {
    // FNV-1a in two lanes with different offsets: 128 bits, stable, no dependency.
    let mut a: u64 = 0xcbf2_9ce4_8422_2325;
    let mut b: u64 = 0x6c62_272e_07bb_0142;
    for &byte in bytes {
        a = (a ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
        b = (b ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3).rotate_left(5);
    }
    format!("{a:016x}{b:016x}:{}", bytes.len())
}

/// An error and its causes on one line: "outer: cause: root cause".
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        source = cause.source();
    }
    s.replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::metrics::Metrics;
    use newsdedup_store::Store;

    const FEED: &str = r#"<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>
        <item><guid>a</guid><title>Snow closes the pass</title>
        <description>Heavy snow has closed the mountain pass again, officials said.</description></item>
        </channel></rss>"#;

    /// `n` one-item feed files as jobs, and a pipeline's stages and writer over a new
    /// database in the returned folder, fetching `concurrency` feeds at once.
    fn setup(n: usize, concurrency: usize) -> (tempfile::TempDir, Vec<Job>, Stages, crate::writer::Writer) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("news.db")).unwrap();
        let jobs = (0..n)
            .map(|i| {
                let path = dir.path().join(format!("feed{i}.xml"));
                std::fs::write(&path, FEED.replace("<guid>a", &format!("<guid>a{i}"))).unwrap();
                let (id, _) = store.add_feed(&path.display().to_string(), Utc::now()).unwrap();
                Job { feed: store.feed(id).unwrap().unwrap(), input: Input::File(path) }
            })
            .collect();
        let config = Config::from_toml(&format!("[fetch]\nconcurrency = {concurrency}\n"), None).unwrap();
        let stages = crate::run::stages(&config, Arc::new(Metrics::new())).unwrap();
        let writer = crate::writer::Writer::open(store, &config).unwrap();
        (dir, jobs, stages, writer)
    }

    /// With a single core, the busy writer and the parsing take turns on it: the writer gives
    /// it back whenever it waits for a result, also for the next one in order.
    #[tokio::test]
    async fn one_core_is_shared_by_parsing_and_the_writer() {
        let (dir, jobs, mut stages, writer) = setup(40, 8);
        stages.cpu = Arc::new(Cores::new(1));
        let (_stop, shutdown) = watch::channel(false);
        let run = run_jobs(&stages, writer, jobs, true, shutdown);
        let (_, summary) = tokio::time::timeout(Duration::from_secs(30), run).await.expect("the run ends").unwrap();
        assert_eq!((summary.feeds, summary.items_new), (40, 40));
        let db = rusqlite::Connection::open(dir.path().join("news.db")).unwrap();
        let stored: i64 = db.query_row("SELECT count(*) FROM items", [], |r| r.get(0)).unwrap();
        assert_eq!(stored, 40);
    }

    /// A slot freed between a fill that found none and the wait (the writer frees slots on its
    /// own thread) must still wake the wait: no host event may ever come, and a run then hung.
    #[tokio::test]
    async fn a_slot_freed_after_fill_gave_up_wakes_the_wait() {
        let (_dir, jobs, stages, writer) = setup(2, 1);
        let mut pipeline = Pipeline::start(stages, writer, true, OnWriteError::Stop);
        let mut backlog = Backlog::in_order(jobs);

        let held = pipeline.try_reserve().expect("the one slot is free");
        let watch = pipeline.hosts_watch();
        pipeline.fill(&mut backlog);
        assert_eq!(backlog.len(), 2, "no slot, so nothing started");
        drop(held);
        tokio::time::timeout(Duration::from_secs(10), pipeline.wait_to_fill(watch))
            .await
            .expect("the freed slot wakes the wait");

        pipeline.fill(&mut backlog);
        assert_eq!(backlog.len(), 1);
        let (_, summary) = pipeline.finish(None).await.unwrap();
        assert_eq!(summary.feeds, 1);
    }

    /// A panic while storing one feed fails that feed (nothing of it stored, the error on the
    /// feed) and the writer goes on with the others.
    #[tokio::test]
    async fn a_panic_storing_one_feed_fails_that_feed_only() {
        let (dir, jobs, stages, mut writer) = setup(3, 2);
        writer.panic_on_guid = Some("a1".into());
        let mut pipeline = Pipeline::start(stages, writer, true, OnWriteError::KeepGoing);
        let mut backlog = Backlog::in_order(jobs);
        while !backlog.is_empty() {
            let watch = pipeline.hosts_watch();
            pipeline.fill(&mut backlog);
            if !backlog.is_empty() {
                pipeline.wait_to_fill(watch).await;
            }
        }
        let (_, summary) = tokio::time::timeout(Duration::from_secs(30), pipeline.finish(None))
            .await
            .expect("the run ends")
            .expect("the writer survives the panic");
        assert_eq!(summary.items_new, 2, "{summary:?}");
        let db = rusqlite::Connection::open(dir.path().join("news.db")).unwrap();
        let guids: Vec<String> = db
            .prepare("SELECT guid FROM items ORDER BY guid")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(guids, ["a0", "a2"]);
        let error: String =
            db.query_row("SELECT last_error FROM feeds WHERE url LIKE '%feed1.xml'", [], |r| r.get(0)).unwrap();
        assert!(error.contains("stopped on a bug") && error.contains("injected on item a1"), "{error}");
        let stories: i64 = db.query_row("SELECT count(*) FROM stories", [], |r| r.get(0)).unwrap();
        assert_eq!(stories, 1, "the two other items are one story");
    }
}
