//! The daemon's scheduler: which feeds to fetch now, and how long to sleep.
//!
//! Each feed's `next_fetch_at` (set by the writer when it commits the feed, from the schedule
//! rules in `schedule.rs`) says when it is due. The scheduler wakes when the next feed falls
//! due, and at least once per `[daemon] tick` (which is how it sees feeds that another process
//! added, and how `/healthz` knows it is alive). On each wake it reads the due feeds from its
//! own read-only connection, leaves out those still in flight, and starts as many as there
//! are free slots in the pipeline (and room on their hosts); the rest wait as a backlog,
//! queued per host, and start as slots and hosts free up. The backlog is the only queue: the database is the source of truth, so memory
//! stays flat however many feeds are due, and a slow writer slows fetching (back-pressure)
//! instead of piling up results.
//!
//! SIGHUP reloads the configuration: a new config is read and validated first (a broken file
//! changes nothing and is logged), then the pipeline is drained, the writer takes the new
//! schedule and dedup settings, and a new pipeline starts with the new rules, limits and
//! concurrency. On shutdown the scheduler starts nothing more and gives the feeds in flight
//! `[daemon] stop_timeout` to finish.

use crate::config::Config;
use crate::metrics::Metrics;
use crate::pipeline::{stopped, Backlog, Input, Job, OnWriteError, Pipeline, Stages, Summary};
use crate::writer::Writer;
use anyhow::Result;
use chrono::{DateTime, Utc};
use newsdedup_store::Store;
use std::path::Path;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// The shortest sleep between two looks, so a feed due "now" that cannot start yet does not
/// make the loop spin.
const MIN_SLEEP: Duration = Duration::from_millis(50);

/// Where "now" comes from. The daemon uses the wall clock; tests of the scheduler use tokio's
/// clock, which they can pause and advance, anchored at the wall-clock time they started.
#[derive(Debug, Clone, Copy)]
pub enum Clock {
    Wall,
    #[cfg(test)]
    Tokio {
        anchor: DateTime<Utc>,
        start: tokio::time::Instant,
    },
}

impl Clock {
    /// A clock that follows tokio's (possibly paused) time, starting now.
    #[cfg(test)]
    pub fn tokio() -> Clock {
        Clock::Tokio { anchor: Utc::now(), start: tokio::time::Instant::now() }
    }

    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Clock::Wall => Utc::now(),
            #[cfg(test)]
            Clock::Tokio { anchor, start } => {
                *anchor + chrono::Duration::from_std(start.elapsed()).unwrap_or(chrono::Duration::MAX)
            }
        }
    }
}

/// What the scheduler listens to.
pub struct Control {
    /// Turns true on SIGTERM/SIGINT.
    pub shutdown: watch::Receiver<bool>,
    /// Changes on every SIGHUP.
    pub reload: watch::Receiver<u64>,
    /// Reads and validates the configuration again (the file named at start-up).
    pub load_config: LoadConfig,
    /// Builds the stages for a configuration.
    pub build_stages: BuildStages,
}

pub type LoadConfig = Box<dyn Fn() -> Result<Config> + Send>;
pub type BuildStages = Box<dyn Fn(&Config) -> Result<Stages> + Send>;

/// Runs the daemon's loop until shutdown; returns the totals of everything it committed.
pub async fn run(
    db: &Path,
    mut config: Config,
    writer: Writer,
    metrics: Arc<Metrics>,
    clock: Clock,
    mut control: Control,
) -> Result<Summary> {
    let mut stages = (control.build_stages)(&config)?;
    let mut pipeline = Pipeline::start(stages.clone(), writer, false, OnWriteError::KeepGoing);
    let feeds = Store::open_read_only(db)?;
    let mut total = Summary::default();
    let mut backlog = Backlog::default();
    let mut refresh = true;
    let mut reload_pending = false;
    let mut reload_open = true;
    loop {
        let now = clock.now();
        metrics.tick(now);
        if *control.shutdown.borrow() {
            break;
        }
        if reload_pending {
            reload_pending = false;
            refresh = true;
            match (control.load_config)().and_then(|c| Ok(((control.build_stages)(&c)?, c))) {
                Err(e) => {
                    // Logged before it is counted: whoever sees the count can read the reason.
                    tracing::error!(error = %format!("{e:#}"), "config reload failed; keeping the current settings");
                    metrics.record_reload(false);
                }
                Ok((new_stages, new_config)) => {
                    tracing::info!("reloading the configuration: letting the feeds in flight finish");
                    // A stop signal during the drain gets the usual deadline.
                    let stop_timeout = config.daemon.stop_timeout.0;
                    let mut shutdown = control.shutdown.clone();
                    let abandon = async move {
                        stopped(&mut shutdown).await;
                        tokio::time::sleep(stop_timeout).await;
                    };
                    let (mut writer, summary) = pipeline.finish_or_abandon(abandon).await?;
                    total.add(&summary);
                    if *control.shutdown.borrow() {
                        writer.close();
                        return Ok(total);
                    }
                    let reconfigured = writer.reconfigure(&new_config);
                    pipeline = match reconfigured {
                        Ok(()) => {
                            (config, stages) = (new_config, new_stages);
                            tracing::info!("configuration reloaded");
                            metrics.record_reload(true);
                            Pipeline::start(stages.clone(), writer, false, OnWriteError::KeepGoing)
                        }
                        Err(e) => {
                            // The writer is unchanged (reconfigure applies all or nothing).
                            tracing::error!(error = %format!("{e:#}"), "config reload failed; keeping the current settings");
                            metrics.record_reload(false);
                            Pipeline::start(stages.clone(), writer, false, OnWriteError::KeepGoing)
                        }
                    };
                }
            }
        }
        let tick = config.daemon.tick.0;
        if refresh {
            let in_flight = pipeline.in_flight();
            match feeds.due_feeds(now) {
                Ok(due) => {
                    let due = due.into_iter().filter(|f| !in_flight.contains(&f.id));
                    backlog = pipeline.backlog(due.map(|feed| Job { input: Input::Address(feed.url.clone()), feed }));
                }
                Err(e) => tracing::warn!(error = %e, "cannot read the due feeds; trying again at the next tick"),
            }
        }
        // Made before filling, so that a host freed meanwhile is not missed.
        let hosts = pipeline.hosts_watch();
        pipeline.fill(&mut backlog);
        metrics.queues.due.store(backlog.len() as u64, Relaxed);
        let sleep = if backlog.is_empty() {
            match feeds.next_due_after(now) {
                Ok(Some(at)) => (at - now).to_std().unwrap_or_default().clamp(MIN_SLEEP, tick.max(MIN_SLEEP)),
                Ok(None) => tick,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read when the next feed is due");
                    tick
                }
            }
        } else {
            tick
        };
        tokio::select! {
            _ = stopped(&mut control.shutdown) => {}
            changed = control.reload.changed(), if reload_open => {
                // An error: nobody can ask for a reload any more.
                reload_pending = changed.is_ok();
                reload_open = changed.is_ok();
            }
            _ = tokio::time::sleep(sleep) => refresh = true,
            _ = pipeline.wait_to_fill(hosts), if !backlog.is_empty() => refresh = false,
        }
    }
    let in_flight = pipeline.in_flight().len();
    tracing::info!(in_flight, "stopping: starting no new fetch, finishing the feeds in flight");
    metrics.queues.due.store(0, Relaxed);
    let (writer, summary) = pipeline.finish(Some(config.daemon.stop_timeout.0)).await?;
    total.add(&summary);
    writer.close();
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::FeedReport;
    use std::sync::Mutex;

    const FEED: &str = r#"<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>
        <item><guid>a</guid><title>A story about the weather in the mountains</title>
        <description>Heavy snow has closed the mountain pass for the second time this week, officials said.</description></item>
        </channel></rss>"#;

    fn config(extra: &str) -> Config {
        // No jitter: these tests check the schedule to the minute.
        Config::from_toml(
            &format!("[schedule]\ninterval = \"10m\"\njitter = 0.0\n[daemon]\ntick = \"1m\"\n{extra}"),
            None,
        )
        .unwrap()
    }

    struct Setup {
        _dir: tempfile::TempDir,
        db: std::path::PathBuf,
        feeds: Vec<String>,
    }

    fn setup(n: usize) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("news.db");
        let store = Store::open(&db).unwrap();
        let mut feeds = Vec::new();
        for i in 0..n {
            let path = dir.path().join(format!("feed{i}.xml"));
            std::fs::write(&path, FEED.replace("<guid>a", &format!("<guid>a{i}"))).unwrap();
            let url = path.display().to_string();
            store.add_feed(&url, Utc::now()).unwrap();
            feeds.push(url);
        }
        Setup { _dir: dir, db, feeds }
    }

    /// Fetch times of each feed (by URL), in the scheduler's clock.
    type Log = Arc<Mutex<Vec<(String, DateTime<Utc>)>>>;

    struct Running {
        stop: watch::Sender<bool>,
        reload: watch::Sender<u64>,
        log: Log,
        metrics: Arc<Metrics>,
        task: tokio::task::JoinHandle<Result<Summary>>,
        clock: Clock,
    }

    /// Starts the scheduler over `setup` on tokio's clock; a reload reads `reloaded`.
    fn start(setup: &Setup, config: Config, reloaded: Result<Config, String>) -> Running {
        let clock = Clock::tokio();
        let metrics = Arc::new(Metrics::new());
        let mut writer = Writer::open(Store::open(&setup.db).unwrap(), &config).unwrap();
        writer.set_clock(clock);
        writer.set_metrics(metrics.clone());
        let log: Log = Arc::default();
        let sink = log.clone();
        writer.observe(move |report: &FeedReport<'_>| {
            sink.lock().unwrap().push((report.feed_url.to_string(), report.at))
        });
        let (stop, shutdown) = watch::channel(false);
        let (reload, reload_rx) = watch::channel(0);
        let m = metrics.clone();
        let control = Control {
            shutdown,
            reload: reload_rx,
            load_config: Box::new(move || reloaded.clone().map_err(anyhow::Error::msg)),
            build_stages: Box::new(move |c| crate::run::stages(c, m.clone())),
        };
        let (db, m) = (setup.db.clone(), metrics.clone());
        let task = tokio::spawn(async move { run(&db, config, writer, m, clock, control).await });
        Running { stop, reload, log, metrics, task, clock }
    }

    impl Running {
        fn times(&self, url: &str) -> Vec<DateTime<Utc>> {
            self.log.lock().unwrap().iter().filter(|(u, _)| u == url).map(|(_, t)| *t).collect()
        }

        /// Moves the paused clock forward by `total`, in steps, letting everything due at
        /// each step happen (in real time: fetching and committing) before the next.
        async fn run_for(&self, total: Duration) {
            let step = Duration::from_secs(5);
            let mut done = Duration::ZERO;
            while done < total {
                tokio::time::advance(step).await;
                done += step;
                self.settle().await;
            }
        }

        /// Waits until nothing is queued, fetching or waiting for the writer.
        async fn settle(&self) {
            let q = &self.metrics.queues;
            let busy = || q.due.load(Relaxed) + q.fetching.load(Relaxed) + q.writing.load(Relaxed) > 0;
            let deadline = std::time::Instant::now() + Duration::from_secs(20);
            for _ in 0..20 {
                tokio::task::yield_now().await;
            }
            while busy() {
                assert!(std::time::Instant::now() < deadline, "the pipeline did not settle");
                tokio::task::yield_now().await;
            }
            for _ in 0..20 {
                tokio::task::yield_now().await;
            }
        }

        /// Waits (in real time) until the scheduler has handled a reload with this result.
        async fn wait_for_reload(&self, result: &str) {
            let line = format!("newsdedup_config_reloads_total{{result=\"{result}\"}} 1");
            let deadline = std::time::Instant::now() + Duration::from_secs(20);
            while !self.metrics.render(None).contains(&line) {
                assert!(std::time::Instant::now() < deadline, "no reload ({result})");
                tokio::task::yield_now().await;
            }
        }

        async fn stop(self) -> Summary {
            self.stop.send(true).unwrap();
            self.task.await.unwrap().unwrap()
        }
    }

    fn minutes(d: chrono::Duration) -> f64 {
        d.num_milliseconds() as f64 / 60_000.0
    }

    #[tokio::test(start_paused = true)]
    async fn due_feeds_are_fetched_on_schedule_and_not_before() {
        let setup = setup(3);
        let running = start(&setup, config(""), Err("unused".into()));
        let started = running.clock.now();
        running.run_for(Duration::from_secs(35 * 60)).await;
        for url in &setup.feeds {
            let times = running.times(url);
            // Due at once, then every 10 minutes: 0, 10, 20, 30.
            assert_eq!(times.len(), 4, "{url}: {times:?}");
            assert!(minutes(times[0] - started) < 1.0, "{times:?}");
            for pair in times.windows(2) {
                let gap = minutes(pair[1] - pair[0]);
                assert!((10.0..11.5).contains(&gap), "gap of {gap} minutes in {times:?}");
            }
        }
        let summary = running.stop().await;
        assert_eq!(summary.feeds, 12);
        assert_eq!(summary.items_new, 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_feed_added_while_running_is_fetched_within_a_tick() {
        let setup = setup(1);
        let running = start(&setup, config(""), Err("unused".into()));
        running.run_for(Duration::from_secs(5 * 60)).await;
        let path = setup.db.with_file_name("late.xml");
        std::fs::write(&path, FEED).unwrap();
        let url = path.display().to_string();
        Store::open(&setup.db).unwrap().add_feed(&url, Utc::now()).unwrap();
        let added = running.clock.now();
        running.run_for(Duration::from_secs(90)).await;
        let times = running.times(&url);
        assert_eq!(times.len(), 1, "{times:?}");
        assert!(minutes(times[0] - added) <= 1.05, "fetched {} minutes after being added", minutes(times[0] - added));
        running.stop().await;
    }

    #[tokio::test(start_paused = true)]
    async fn the_backlog_starts_as_slots_free_up_not_at_the_next_tick() {
        let setup = setup(10);
        let running = start(&setup, config("[fetch]\nconcurrency = 2\n"), Err("unused".into()));
        let started = running.clock.now();
        running.run_for(Duration::from_secs(30)).await;
        let log = running.log.lock().unwrap().clone();
        assert_eq!(log.len(), 10, "{log:?}");
        assert!(log.iter().all(|(_, t)| minutes(*t - started) < 0.5), "{log:?}");
        assert_eq!(running.metrics.queues.due.load(Relaxed), 0);
        running.stop().await;
    }

    #[tokio::test(start_paused = true)]
    async fn sighup_applies_a_new_schedule_and_a_broken_config_changes_nothing() {
        let setup = setup(1);
        let url = setup.feeds[0].clone();
        let running = start(&setup, config(""), Ok(config("").with_interval("2m")));
        running.run_for(Duration::from_secs(60)).await;
        running.reload.send(1).unwrap();
        running.wait_for_reload("ok").await;
        running.run_for(Duration::from_secs(14 * 60 + 30)).await;
        // Fetched at 0; due at 10 (set before the reload); then every 2 minutes: 10, 12, 14.
        let times = running.times(&url);
        assert_eq!(times.len(), 4, "{times:?}");
        let gap = minutes(times[3] - times[2]);
        assert!((2.0..3.5).contains(&gap), "{times:?}");
        running.stop().await;

        let running = start(&setup, config(""), Err("line 1: invalid".into()));
        running.reload.send(1).unwrap();
        running.wait_for_reload("failed").await;
        running.run_for(Duration::from_secs(60)).await;
        assert!(!running.task.is_finished());
        running.stop().await;
    }

    trait WithInterval {
        fn with_interval(self, interval: &str) -> Config;
    }

    impl WithInterval for Config {
        fn with_interval(mut self, interval: &str) -> Config {
            self.schedule.interval = crate::config::HumanDuration::parse(interval).unwrap();
            self
        }
    }
}
