//! The figures the daemon exposes at `/metrics`, and their rendering in the Prometheus text
//! exposition format (version 0.0.4).
//!
//! Counters only ever grow while the process lives (Prometheus handles restarts); gauges are
//! set by whoever knows the value: the scheduler (queue depths, its last tick), the pipeline
//! (jobs fetching and waiting for the writer), and the writer (what each committed feed
//! brought). Figures that live in the database (feeds in error, file sizes) are read when
//! `/metrics` is scraped, by the status handler. Every name starts with `newsdedup_`.
//!
//! No metrics library: a handful of atomics and small maps cover what we expose, and label
//! values are bounded (outcomes and layers are short fixed-ish sets, HTTP statuses < 1000).

use crate::pipeline::Summary;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds of the fetch duration histogram, in seconds.
const FETCH_BUCKETS: [f64; 11] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0];

/// At most this many distinct boilerplate layers are counted by name; the rest are `other`.
const MAX_LAYERS: usize = 32;

/// How a feed's fetch ended, as counted in `newsdedup_fetches_total{outcome}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FetchOutcome {
    /// A new document was processed and committed.
    Updated,
    /// The server answered 304 Not Modified.
    NotModified,
    /// The document is byte for byte the one processed last time.
    Unchanged,
    /// The fetch or the parse failed; recorded on the feed.
    Failed,
    /// Not fetched: its host asked for a pause (Retry-After); the feed waits for it.
    Postponed,
}

impl FetchOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            FetchOutcome::Updated => "updated",
            FetchOutcome::NotModified => "not_modified",
            FetchOutcome::Unchanged => "unchanged",
            FetchOutcome::Failed => "failed",
            FetchOutcome::Postponed => "postponed",
        }
    }
}

/// What the writer reports for each feed it has committed.
#[derive(Debug)]
pub struct FeedReport<'a> {
    #[cfg_attr(not(test), allow(dead_code))] // read by the scheduler's tests
    pub feed_url: &'a str,
    pub outcome: FetchOutcome,
    pub status: Option<u16>,
    /// How long the fetch itself took (None when nothing was fetched, e.g. stdin).
    pub fetch_time: Option<Duration>,
    /// What this feed added to the run's totals.
    pub delta: &'a Summary,
    /// When it was committed.
    pub at: chrono::DateTime<chrono::Utc>,
}

/// A Prometheus histogram with fixed buckets.
#[derive(Debug)]
struct Histogram {
    buckets: Vec<AtomicU64>,
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    fn new(bounds: usize) -> Histogram {
        Histogram {
            buckets: (0..bounds).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum_micros: AtomicU64::new(0),
        }
    }

    fn observe(&self, bounds: &[f64], value: Duration) {
        let secs = value.as_secs_f64();
        // Buckets are stored non-cumulative; rendering sums them.
        if let Some(i) = bounds.iter().position(|b| secs <= *b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(value.as_micros().min(u128::from(u64::MAX)) as u64, Ordering::Relaxed);
    }
}

/// The queue depths: where the feeds the daemon is working on are.
#[derive(Debug, Default)]
pub struct Queues {
    /// Due feeds waiting for a free fetch slot.
    pub due: AtomicU64,
    /// Jobs fetching or being parsed and cleaned.
    pub fetching: AtomicU64,
    /// Results waiting for the writer.
    pub writing: AtomicU64,
}

/// Figures read from the database at scrape time.
#[derive(Debug, Default, Clone)]
pub struct DbFigures {
    pub feeds: u64,
    pub feeds_in_error: u64,
    pub items: u64,
    pub stories: u64,
    pub database_bytes: u64,
    pub wal_bytes: u64,
}

/// Every figure of the process.
#[derive(Debug)]
pub struct Metrics {
    started: i64,
    fetches: Mutex<BTreeMap<FetchOutcome, u64>>,
    http_status: Mutex<BTreeMap<u16, u64>>,
    fetch_seconds: Histogram,
    items_ingested: AtomicU64,
    items_updated: AtomicU64,
    reposts_folded: AtomicU64,
    stories_created: AtomicU64,
    lines_removed: Mutex<BTreeMap<String, u64>>,
    last_success: AtomicI64,
    write_errors: AtomicU64,
    last_write_error: Mutex<Option<String>>,
    checkpoints: AtomicU64,
    scheduler_tick: AtomicI64,
    config_reloads: Mutex<BTreeMap<&'static str, u64>>,
    pub queues: Queues,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        Metrics {
            started: chrono::Utc::now().timestamp(),
            fetches: Mutex::default(),
            http_status: Mutex::default(),
            fetch_seconds: Histogram::new(FETCH_BUCKETS.len()),
            items_ingested: AtomicU64::new(0),
            items_updated: AtomicU64::new(0),
            reposts_folded: AtomicU64::new(0),
            stories_created: AtomicU64::new(0),
            lines_removed: Mutex::default(),
            last_success: AtomicI64::new(0),
            write_errors: AtomicU64::new(0),
            last_write_error: Mutex::new(None),
            checkpoints: AtomicU64::new(0),
            scheduler_tick: AtomicI64::new(0),
            config_reloads: Mutex::default(),
            queues: Queues::default(),
        }
    }

    /// Counts one committed feed.
    pub fn record_feed(&self, report: &FeedReport<'_>) {
        *lock(&self.last_write_error) = None;
        *lock(&self.fetches).entry(report.outcome).or_default() += 1;
        if let Some(status) = report.status.filter(|s| (100..1000).contains(s)) {
            *lock(&self.http_status).entry(status).or_default() += 1;
        }
        if let Some(t) = report.fetch_time {
            self.fetch_seconds.observe(&FETCH_BUCKETS, t);
        }
        let d = report.delta;
        self.items_ingested.fetch_add(d.items_new as u64, Ordering::Relaxed);
        self.items_updated.fetch_add(d.items_updated as u64, Ordering::Relaxed);
        self.reposts_folded.fetch_add(d.reposts_folded as u64, Ordering::Relaxed);
        self.stories_created.fetch_add(d.stories_new as u64, Ordering::Relaxed);
        if !d.removed_by_layer.is_empty() {
            let mut layers = lock(&self.lines_removed);
            for (layer, n) in &d.removed_by_layer {
                let key =
                    if layers.contains_key(layer) || layers.len() < MAX_LAYERS { layer.as_str() } else { "other" };
                *layers.entry(key.to_string()).or_default() += *n as u64;
            }
        }
        if !matches!(report.outcome, FetchOutcome::Failed | FetchOutcome::Postponed) {
            self.last_success.fetch_max(report.at.timestamp(), Ordering::Relaxed);
        }
    }

    /// Sets the last successful fetch time known from the database at start-up.
    pub fn set_last_success(&self, at: chrono::DateTime<chrono::Utc>) {
        self.last_success.fetch_max(at.timestamp(), Ordering::Relaxed);
    }

    /// Counts a feed whose results could not be stored; `/healthz` reports it until the next
    /// successful commit.
    pub fn record_write_error(&self, error: &str) {
        self.write_errors.fetch_add(1, Ordering::Relaxed);
        *lock(&self.last_write_error) = Some(error.to_string());
    }

    pub fn record_checkpoint(&self) {
        self.checkpoints.fetch_add(1, Ordering::Relaxed);
    }

    pub fn record_reload(&self, ok: bool) {
        *lock(&self.config_reloads).entry(if ok { "ok" } else { "failed" }).or_default() += 1;
    }

    /// The error of the last write, unless a later one succeeded.
    pub fn write_error(&self) -> Option<String> {
        lock(&self.last_write_error).clone()
    }

    /// Notes that the scheduler looked for due feeds now.
    pub fn tick(&self, at: chrono::DateTime<chrono::Utc>) {
        self.scheduler_tick.store(at.timestamp_millis(), Ordering::Relaxed);
    }

    /// When the scheduler last looked for due feeds (None before its first look).
    pub fn last_tick(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        match self.scheduler_tick.load(Ordering::Relaxed) {
            0 => None,
            ms => chrono::DateTime::from_timestamp_millis(ms),
        }
    }

    /// The text served at `/metrics`.
    pub fn render(&self, db: Option<&DbFigures>) -> String {
        let mut out = String::with_capacity(4096);
        let o = &mut out;
        family(o, "newsdedup_start_time_seconds", "gauge", "When this process started (Unix time).");
        sample(o, "newsdedup_start_time_seconds", "", self.started as f64);

        family(o, "newsdedup_fetches_total", "counter", "Feed fetches committed, by outcome.");
        let fetches = lock(&self.fetches).clone();
        for outcome in [
            FetchOutcome::Updated,
            FetchOutcome::NotModified,
            FetchOutcome::Unchanged,
            FetchOutcome::Failed,
            FetchOutcome::Postponed,
        ] {
            let n = fetches.get(&outcome).copied().unwrap_or(0);
            sample(o, "newsdedup_fetches_total", &format!("outcome=\"{}\"", outcome.as_str()), n as f64);
        }

        family(o, "newsdedup_http_responses_total", "counter", "HTTP responses to feed fetches, by status code.");
        for (code, n) in lock(&self.http_status).iter() {
            sample(o, "newsdedup_http_responses_total", &format!("code=\"{code}\""), *n as f64);
        }

        family(o, "newsdedup_fetch_duration_seconds", "histogram", "Time to fetch a feed document.");
        let mut cumulative = 0;
        for (bound, bucket) in FETCH_BUCKETS.iter().zip(&self.fetch_seconds.buckets) {
            cumulative += bucket.load(Ordering::Relaxed);
            sample(o, "newsdedup_fetch_duration_seconds_bucket", &format!("le=\"{bound}\""), cumulative as f64);
        }
        let count = self.fetch_seconds.count.load(Ordering::Relaxed);
        sample(o, "newsdedup_fetch_duration_seconds_bucket", "le=\"+Inf\"", count as f64);
        let sum = self.fetch_seconds.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        sample(o, "newsdedup_fetch_duration_seconds_sum", "", sum);
        sample(o, "newsdedup_fetch_duration_seconds_count", "", count as f64);

        for (name, help, value) in [
            ("newsdedup_items_ingested_total", "New items stored.", &self.items_ingested),
            (
                "newsdedup_items_updated_total",
                "Stored items whose content changed and was updated.",
                &self.items_updated,
            ),
            ("newsdedup_reposts_folded_total", "Items folded into an existing story.", &self.reposts_folded),
            ("newsdedup_stories_created_total", "Stories started by a new item.", &self.stories_created),
            ("newsdedup_write_errors_total", "Feed results the database refused to store.", &self.write_errors),
            ("newsdedup_wal_checkpoints_total", "WAL checkpoints that emptied the log.", &self.checkpoints),
        ] {
            family(o, name, "counter", help);
            sample(o, name, "", value.load(Ordering::Relaxed) as f64);
        }

        family(
            o,
            "newsdedup_boilerplate_lines_removed_total",
            "counter",
            "Boilerplate lines removed from stored items, by rule layer (the rule id up to its first dot).",
        );
        for (layer, n) in lock(&self.lines_removed).iter() {
            sample(o, "newsdedup_boilerplate_lines_removed_total", &format!("layer=\"{}\"", escape(layer)), *n as f64);
        }

        family(o, "newsdedup_config_reloads_total", "counter", "Configuration reloads (SIGHUP), by result.");
        for result in ["ok", "failed"] {
            let n = lock(&self.config_reloads).get(result).copied().unwrap_or(0);
            sample(o, "newsdedup_config_reloads_total", &format!("result=\"{result}\""), n as f64);
        }

        family(
            o,
            "newsdedup_queue_depth",
            "gauge",
            "Feeds in each stage: due and waiting, fetching, waiting to be written.",
        );
        for (stage, v) in
            [("due", &self.queues.due), ("fetching", &self.queues.fetching), ("writing", &self.queues.writing)]
        {
            sample(o, "newsdedup_queue_depth", &format!("stage=\"{stage}\""), v.load(Ordering::Relaxed) as f64);
        }

        let last = self.last_success.load(Ordering::Relaxed);
        if last > 0 {
            family(
                o,
                "newsdedup_last_successful_fetch_timestamp_seconds",
                "gauge",
                "When a feed was last fetched successfully (Unix time).",
            );
            sample(o, "newsdedup_last_successful_fetch_timestamp_seconds", "", last as f64);
        }
        if let Some(tick) = self.last_tick() {
            family(
                o,
                "newsdedup_scheduler_last_tick_timestamp_seconds",
                "gauge",
                "When the scheduler last looked for due feeds (Unix time).",
            );
            sample(o, "newsdedup_scheduler_last_tick_timestamp_seconds", "", tick.timestamp_millis() as f64 / 1000.0);
        }

        if let Some(db) = db {
            for (name, help, value) in [
                ("newsdedup_feeds", "Feeds in the database.", db.feeds),
                ("newsdedup_feeds_in_error", "Feeds whose last fetch failed.", db.feeds_in_error),
                ("newsdedup_items", "Items in the database.", db.items),
                ("newsdedup_stories", "Stories in the database.", db.stories),
            ] {
                family(o, name, "gauge", help);
                sample(o, name, "", value as f64);
            }
            family(o, "newsdedup_database_bytes", "gauge", "Size of the database files.");
            sample(o, "newsdedup_database_bytes", "file=\"main\"", db.database_bytes as f64);
            sample(o, "newsdedup_database_bytes", "file=\"wal\"", db.wal_bytes as f64);
        }
        out
    }
}

/// The layer of a boilerplate rule, for `newsdedup_boilerplate_lines_removed_total`: the
/// rule id up to its first `.` or `:` (`en.cta.subscribe` → `en`, `common.link-only` →
/// `common`, `learned.template` → `learned`), lowercased, kept to letters, digits, `_` and
/// `-`, at most 32 characters; `unknown` when nothing is left. Rule packs name their rules by
/// language (`en`, `ru`, …) or `common`; templates learned from a feed's own items are
/// `learned.*`; rules from elsewhere carry their own prefix.
pub fn rule_layer(rule: &str) -> String {
    let head = rule.split(['.', ':']).next().unwrap_or("");
    let layer: String = head
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .map(|c| c.to_ascii_lowercase())
        .take(32)
        .collect();
    if layer.is_empty() {
        "unknown".to_string()
    } else {
        layer
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn sample(out: &mut String, name: &str, labels: &str, value: f64) {
    if labels.is_empty() {
        let _ = writeln!(out, "{name} {value}");
    } else {
        let _ = writeln!(out, "{name}{{{labels}}} {value}");
    }
}

/// Escapes a label value (backslash, quote, newline), as the text format requires.
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_come_from_the_rule_id_prefix() {
        assert_eq!(rule_layer("en.cta.subscribe"), "en");
        assert_eq!(rule_layer("common.link-only"), "common");
        assert_eq!(rule_layer("learned.template"), "learned");
        assert_eq!(rule_layer("edge:feed12:3"), "edge");
        assert_eq!(rule_layer("Edge.tail"), "edge");
        assert_eq!(rule_layer("\"}\n.x"), "unknown");
        assert_eq!(rule_layer(""), "unknown");
    }

    fn report(outcome: FetchOutcome, status: Option<u16>, delta: &Summary) -> FeedReport<'_> {
        FeedReport {
            feed_url: "https://example.org/feed",
            outcome,
            status,
            fetch_time: Some(Duration::from_millis(300)),
            delta,
            at: chrono::Utc::now(),
        }
    }

    #[test]
    fn renders_counters_histogram_and_layers() {
        let m = Metrics::new();
        let mut delta = Summary { items_new: 3, reposts_folded: 1, stories_new: 2, ..Summary::default() };
        delta.removed_by_layer.insert("en".into(), 4);
        delta.removed_by_layer.insert("common".into(), 1);
        m.record_feed(&report(FetchOutcome::Updated, Some(200), &delta));
        m.record_feed(&report(FetchOutcome::Failed, Some(500), &Summary::default()));
        m.record_feed(&report(FetchOutcome::NotModified, Some(304), &Summary::default()));
        let text = m.render(Some(&DbFigures { feeds: 3, feeds_in_error: 1, ..DbFigures::default() }));
        for line in [
            "newsdedup_fetches_total{outcome=\"updated\"} 1",
            "newsdedup_fetches_total{outcome=\"failed\"} 1",
            "newsdedup_fetches_total{outcome=\"unchanged\"} 0",
            "newsdedup_http_responses_total{code=\"500\"} 1",
            "newsdedup_fetch_duration_seconds_bucket{le=\"0.25\"} 0",
            "newsdedup_fetch_duration_seconds_bucket{le=\"0.5\"} 3",
            "newsdedup_fetch_duration_seconds_bucket{le=\"+Inf\"} 3",
            "newsdedup_fetch_duration_seconds_count 3",
            "newsdedup_items_ingested_total 3",
            "newsdedup_reposts_folded_total 1",
            "newsdedup_stories_created_total 2",
            "newsdedup_boilerplate_lines_removed_total{layer=\"en\"} 4",
            "newsdedup_boilerplate_lines_removed_total{layer=\"common\"} 1",
            "newsdedup_feeds_in_error 1",
            "# TYPE newsdedup_fetch_duration_seconds histogram",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
        assert!(text.contains("newsdedup_last_successful_fetch_timestamp_seconds "));
        // Every sample line is `name{labels} value` with a numeric value.
        for l in text.lines().filter(|l| !l.starts_with('#')) {
            let value = l.rsplit(' ').next().unwrap();
            assert!(value.parse::<f64>().is_ok(), "{l}");
            assert!(l.starts_with("newsdedup_"), "{l}");
        }
    }

    #[test]
    fn layer_labels_are_bounded() {
        let m = Metrics::new();
        let mut delta = Summary::default();
        for i in 0..100 {
            delta.removed_by_layer.insert(format!("l{i}"), 1);
        }
        m.record_feed(&report(FetchOutcome::Updated, Some(200), &delta));
        let layers = lock(&m.lines_removed);
        assert_eq!(layers.len(), MAX_LAYERS + 1);
        assert_eq!(layers.values().sum::<u64>(), 100);
    }
}
