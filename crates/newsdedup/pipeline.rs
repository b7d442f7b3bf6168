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
use newsdedup_model::{CleanItem, Fingerprint, RawItem, Validators};
use newsdedup_normaliser::Normaliser;
use newsdedup_store::FeedRow;
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
    pub _permit: OwnedSemaphorePermit,
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
/// turns true, no new job starts; jobs already started finish and are committed.
pub async fn run_jobs(
    stages: &Stages,
    writer: Writer,
    jobs: Vec<Job>,
    ordered: bool,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<(Writer, Summary)> {
    let concurrency = stages.config.fetch.concurrency.get();
    let permits = Arc::new(Semaphore::new(concurrency));
    let (tx, rx) = mpsc::channel::<JobResult>(concurrency);
    let writer_thread = tokio::task::spawn_blocking(move || {
        let mut writer = writer;
        let summary = writer.consume(rx, ordered);
        (writer, summary)
    });

    for (seq, job) in jobs.into_iter().enumerate() {
        let permit = tokio::select! {
            biased;
            _ = shutdown.wait_for(|stop| *stop) => break,
            permit = permits.clone().acquire_owned() => permit.expect("semaphore is never closed"),
        };
        if *shutdown.borrow() {
            break;
        }
        let stages = stages.clone();
        let tx = tx.clone();
        let span = tracing::info_span!("feed", feed_id = job.feed.id.0, feed_url = %job.feed.url);
        tokio::spawn(
            async move {
                let queues = &stages.metrics.queues;
                queues.fetching.fetch_add(1, Relaxed);
                let (outcome, fetch_time) = process(&stages, &job).await;
                queues.fetching.fetch_sub(1, Relaxed);
                queues.writing.fetch_add(1, Relaxed);
                let result = JobResult { seq, feed: job.feed, outcome, fetch_time, _permit: permit };
                // The writer only goes away if it failed; its error is reported below.
                if tx.send(result).await.is_err() {
                    queues.writing.fetch_sub(1, Relaxed);
                }
            }
            .instrument(span),
        );
    }
    drop(tx);
    let (writer, summary) = writer_thread.await?;
    let summary = summary?;
    Ok((writer, summary))
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
        (None, input) => Ok(Fetched::Body(newsdedup_fetcher::HttpResponse {
            status: 200,
            body: match input {
                Input::Bytes(bytes) => bytes.clone(),
                Input::Address(_) | Input::File(_) => Vec::new(),
            },
            content_type: None,
            validators: Validators::default(),
            final_url: None,
        })),
    };
    let response = match fetched {
        Err(e) => return Outcome::Failed { status: e.status(), error: error_chain(&e) },
        Ok(Fetched::NotModified { validators }) => return Outcome::NotModified { validators },
        Ok(Fetched::Body(response)) => response,
    };
    let body_hash = body_hash(&response.body);
    if job.feed.body_hash.as_deref() == Some(body_hash.as_str()) {
        return Outcome::Unchanged { status: response.status, validators: response.validators };
    }
    let _cpu = stages.cpu.acquire().await.expect("semaphore is never closed");
    let normaliser = stages.normaliser.clone();
    let base = source.as_ref().and_then(Source::base_url);
    let status = response.status;
    let validators = response.validators.clone();
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
