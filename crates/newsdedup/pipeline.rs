//! The orchestrator: feeds in, stored stories out.
//!
//! ```text
//! jobs ─► fetch (≤ concurrency at once) ─► parse+normalise+fingerprint (blocking pool, ≤ cores)
//!      ─► bounded channel ─► writer thread (dedup + one SQLite transaction per feed)
//! ```
//!
//! Every command that processes feeds (`run --once`, `daemon`, `ingest`) goes through
//! [`run_jobs`]. A job holds a concurrency permit from the moment its fetch starts until the
//! writer has committed it, so a slow writer slows fetching instead of letting results pile
//! up in memory. With `ordered`, the writer commits results in job order (`ingest` uses this,
//! so the same files in the same order always give the same stories); otherwise in the order
//! they finish.

use crate::config::Config;
use crate::metrics::Metrics;
use crate::writer::{Processed, Writer};
use newsdedup_deduplicator::{fingerprint, words};
use newsdedup_fetcher::{Fetched, HttpClient, Source};
use newsdedup_model::{CleanItem, FeedId, Fingerprint, RawItem, Validators};
use newsdedup_normaliser::Normaliser;
use newsdedup_store::FeedRow;
use std::collections::HashSet;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};
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
    pub clean: CleanItem,
    pub fingerprint: Fingerprint,
    pub word_count: u32,
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
}

/// A job's result on its way to the writer, with the permit it holds.
pub struct JobResult {
    pub seq: usize,
    pub feed: FeedRow,
    pub outcome: Outcome,
    /// How long fetching the document took (None when there was nothing to fetch).
    pub fetch_time: Option<std::time::Duration>,
    pub _slot: Slot,
}

/// Read-only things every job needs.
#[derive(Clone)]
pub struct Stages {
    pub http: HttpClient,
    pub normaliser: Arc<Normaliser>,
    pub config: Arc<Config>,
    /// Limits the CPU stages to the number of cores, whatever the fetch concurrency.
    pub cpu: Arc<Semaphore>,
    /// Where the pipeline counts its queue depths and fetch times.
    pub metrics: Arc<Metrics>,
}

/// Totals of one run, for the summary line and the exit code.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    pub feeds: usize,
    pub feeds_failed: usize,
    pub feeds_unchanged: usize,
    pub items_new: usize,
    pub items_updated: usize,
    pub items_unchanged: usize,
    pub stories_new: usize,
    pub reposts_folded: usize,
    pub lines_removed: usize,
    /// Boilerplate lines removed, by rule layer ([`crate::metrics::rule_layer`]).
    #[serde(skip)]
    pub removed_by_layer: std::collections::BTreeMap<String, usize>,
}

impl Summary {
    pub fn add(&mut self, other: &Summary) {
        self.feeds += other.feeds;
        self.feeds_failed += other.feeds_failed;
        self.feeds_unchanged += other.feeds_unchanged;
        self.items_new += other.items_new;
        self.items_updated += other.items_updated;
        self.items_unchanged += other.items_unchanged;
        self.stories_new += other.stories_new;
        self.reposts_folded += other.reposts_folded;
        self.lines_removed += other.lines_removed;
        for (layer, n) in &other.removed_by_layer {
            *self.removed_by_layer.entry(layer.clone()).or_default() += n;
        }
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
            items_new: self.items_new - before.items_new,
            items_updated: self.items_updated - before.items_updated,
            items_unchanged: self.items_unchanged - before.items_unchanged,
            stories_new: self.stories_new - before.stories_new,
            reposts_folded: self.reposts_folded - before.reposts_folded,
            lines_removed: self.lines_removed - before.lines_removed,
            removed_by_layer,
        }
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "feeds: {} ({} failed, {} unchanged); items: {} new, {} updated, {} unchanged; \
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
        )
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
    for job in jobs {
        tokio::select! {
            biased;
            _ = stopped(&mut shutdown) => break,
            _ = pipeline.submit(job) => {}
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
}

/// A free slot, reserved for a job about to start.
pub struct Reserved(OwnedSemaphorePermit);

/// A job's place in the pipeline: its concurrency permit, and its feed's entry in the
/// in-flight set. Dropped (both released) once the writer is done with the job.
pub struct Slot {
    _permit: OwnedSemaphorePermit,
    feed: FeedId,
    in_flight: Arc<std::sync::Mutex<HashSet<FeedId>>>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.in_flight.lock().unwrap_or_else(|p| p.into_inner()).remove(&self.feed);
    }
}

impl Pipeline {
    /// Starts the writer thread. With `ordered`, results are committed in submission order.
    pub fn start(stages: Stages, writer: Writer, ordered: bool, on_error: OnWriteError) -> Pipeline {
        let concurrency = stages.config.fetch.concurrency.get();
        let (tx, rx) = mpsc::channel::<JobResult>(concurrency);
        // On tokio's blocking pool: while it runs, a test's paused clock only moves when the
        // test moves it, so scheduling tests see every commit happen at the time they set.
        let writer = tokio::task::spawn_blocking(move || {
            let mut writer = writer;
            let summary = writer.consume(rx, ordered, on_error);
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

    /// Waits for a free slot, then starts `job`.
    pub async fn submit(&mut self, job: Job) {
        let permit = self.slots.clone().acquire_owned().await.expect("the semaphore is never closed");
        self.start_reserved(Reserved(permit), job);
    }

    /// Reserves a slot if one is free now, for [`Pipeline::start_reserved`].
    pub fn try_reserve(&self) -> Option<Reserved> {
        self.slots.clone().try_acquire_owned().ok().map(Reserved)
    }

    /// Starts `job` in a reserved slot.
    pub fn start_reserved(&mut self, reserved: Reserved, job: Job) {
        let permit = reserved.0;
        let seq = self.next_seq;
        self.next_seq += 1;
        self.in_flight.lock().unwrap_or_else(|p| p.into_inner()).insert(job.feed.id);
        let slot = Slot { _permit: permit, feed: job.feed.id, in_flight: self.in_flight.clone() };
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
                    processed = process(&stages, &job) => Some(processed),
                };
                queues.fetching.fetch_sub(1, Relaxed);
                let Some((outcome, fetch_time)) = processed else {
                    tracing::info!("abandoned at the stop deadline; the feed stays due");
                    return;
                };
                queues.writing.fetch_add(1, Relaxed);
                let result = JobResult { seq, feed: job.feed, outcome, fetch_time, _slot: slot };
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
        let Pipeline { tx, mut writer, abandon, in_flight, .. } = self;
        drop(tx);
        let result = match deadline {
            None => (&mut writer).await,
            Some(deadline) => tokio::select! {
                done = &mut writer => done,
                _ = tokio::time::sleep(deadline) => {
                    let in_flight = in_flight.lock().unwrap_or_else(|p| p.into_inner()).len();
                    tracing::warn!(
                        deadline_secs = deadline.as_secs_f64(),
                        in_flight,
                        "stop deadline passed: abandoning the feeds still being fetched"
                    );
                    let _ = abandon.send(true);
                    writer.await
                }
            },
        };
        let (writer, summary) = result.map_err(|e| anyhow::anyhow!("the writer stopped unexpectedly: {e}"))?;
        Ok((writer, summary?))
    }
}

/// Fetches, parses, cleans and fingerprints one feed; also returns how long the fetch took.
async fn process(stages: &Stages, job: &Job) -> (Outcome, Option<std::time::Duration>) {
    let mut fetch_time = None;
    let outcome = process_document(stages, job, &mut fetch_time).await;
    (outcome, fetch_time)
}

/// [`process`]'s work; sets `fetch_time` when a document was fetched.
async fn process_document(stages: &Stages, job: &Job, fetch_time: &mut Option<std::time::Duration>) -> Outcome {
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
    let response = match fetched {
        Err(e) => return Outcome::Failed { status: e.status(), error: error_chain(&e) },
        Ok(Fetched::NotModified(info)) => return Outcome::NotModified { validators: info.validators },
        Ok(Fetched::Body(response)) => response,
    };
    let body_hash = body_hash(&response.body);
    if job.feed.body_hash.as_deref() == Some(body_hash.as_str()) {
        return Outcome::Unchanged { status: response.status, validators: response.info.validators };
    }
    let _cpu = stages.cpu.acquire().await.expect("semaphore is never closed");
    let normaliser = stages.normaliser.clone();
    let base = source.as_ref().and_then(Source::base_url);
    let status = response.status;
    let validators = response.info.validators.clone();
    let work = tokio::task::spawn_blocking(move || {
        let parsed = newsdedup_fetcher::parse_feed(&response.body, response.content_type.as_deref(), base.as_deref())?;
        let items = parsed.items.into_iter().map(|raw| process_item(&normaliser, raw)).collect();
        Ok::<_, newsdedup_fetcher::ParseError>(Processed { status, validators, title: parsed.title, body_hash, items })
    });
    match work.await {
        Ok(Ok(processed)) => Outcome::Parsed(processed),
        Ok(Err(e)) => Outcome::Failed { status: Some(status), error: error_chain(&e) },
        Err(join) => Outcome::Failed { status: Some(status), error: format!("processing the feed failed: {join}") },
    }
}

/// The CPU work for one item: clean it and fingerprint it.
pub fn process_item(normaliser: &Normaliser, raw: RawItem) -> ProcessedItem {
    let clean = normaliser.normalise(&raw);
    let fingerprint = fingerprint(&clean.folded_text);
    let word_count = words(&clean.folded_text).count() as u32;
    ProcessedItem { raw, clean, fingerprint, word_count }
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
