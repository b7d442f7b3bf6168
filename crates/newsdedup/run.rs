//! The commands that process feeds: `run --once`, `daemon` and `ingest`.

use crate::config::Config;
use crate::feedlist::normalise_address;
use crate::metrics::Metrics;
use crate::pipeline::{run_jobs, Cores, Input, Job, Stages, Summary};
use crate::progress::Progress;
use crate::scheduler;
use crate::server::{self, Router};
use crate::status::{self, Health};
use crate::writer::Writer;
use anyhow::{Context, Result};
use chrono::Utc;
use newsdedup_fetcher::{HttpClient, HttpConfig};
use newsdedup_store::{FeedRow, Store};
use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::watch;

/// Builds the stages (HTTP client, normaliser) from the configuration.
pub fn stages(config: &Config, metrics: Arc<Metrics>) -> Result<Stages> {
    let normaliser = Arc::new(config.normaliser()?);
    let fetch = &config.fetch;
    let http = HttpClient::new(HttpConfig {
        user_agent: if fetch.user_agent.trim().is_empty() {
            newsdedup_fetcher::default_user_agent()
        } else {
            fetch.user_agent.clone()
        },
        connect_timeout: fetch.connect_timeout.0,
        total_timeout: fetch.timeout.0,
        read_timeout: fetch.read_timeout.0,
        max_body_bytes: fetch.max_body_bytes,
        max_decompressed_bytes: fetch.max_decompressed_bytes,
        max_redirects: fetch.max_redirects,
        refuse_private_addresses: fetch.refuse_private_addresses,
        private_hosts_allowed: crate::politeness::private_hosts_allowed(fetch),
    })?;
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    Ok(Stages {
        http,
        normaliser,
        config: Arc::new(config.clone()),
        cpu: Arc::new(Cores::new(cores)),
        metrics,
        hosts: crate::politeness::hosts(fetch, config.schedule.max_backoff.0),
    })
}

fn fetch_jobs(feeds: Vec<FeedRow>) -> Vec<Job> {
    feeds.into_iter().map(|feed| Job { input: Input::Address(feed.url.clone()), feed }).collect()
}

/// `run --once [--all]`: fetch due (or all) feeds once. Returns the run's totals. On
/// `shutdown`, starts no more feeds and finishes the ones in flight.
/// With `progress`, a live progress line is drawn on stderr.
pub async fn run_once(
    store: Store,
    config: &Config,
    all: bool,
    shutdown: watch::Receiver<bool>,
    progress: bool,
) -> Result<Summary> {
    let stages = stages(config, Arc::new(Metrics::new()))?;
    let now = Utc::now();
    let feeds = if all { store.active_feeds()? } else { store.due_feeds(now)? };
    let mut writer = Writer::open(store, config)?;
    let progress = progress.then(|| Progress::start(feeds.len(), "feeds"));
    if let Some(p) = &progress {
        writer.observe(p.observer());
    }
    let result = run_jobs(&stages, writer, fetch_jobs(feeds), false, shutdown).await;
    if let Some(p) = progress {
        p.finish();
    }
    let (writer, summary) = result?;
    writer.close();
    Ok(summary)
}

/// The routes the daemon serves with `--listen`. Pages of the daemon register here.
pub fn http_router() -> Router {
    crate::output::routes::routes(status::routes(Router::new()))
}

/// `daemon`: fetch feeds when they are due until SIGTERM/SIGINT; then let the feeds in flight
/// finish (within `[daemon] stop_timeout`), commit, and return. SIGHUP reloads the config
/// file. With a `listener`, serves [`http_router`] on it.
pub async fn daemon(
    store: Store,
    config: &Config,
    config_path: Option<PathBuf>,
    signals: Signals,
    listener: Option<tokio::net::TcpListener>,
) -> Result<Summary> {
    let metrics = Arc::new(Metrics::new());
    let health = Arc::new(Health::new());
    health.set_tick(config.daemon.tick.0);
    if let Some(at) = store.health_figures()?.last_success {
        metrics.set_last_success(at);
    }
    let db = store.path().to_path_buf();
    if let Some(listener) = listener {
        let context = Arc::new(server::Context::new(&db, metrics.clone(), health.clone()));
        tokio::spawn(server::serve(listener, Arc::new(http_router()), context, signals.shutdown.clone()));
    }
    let mut writer = Writer::open(store, config)?;
    writer.set_metrics(metrics.clone());
    writer.enable_pruning();
    tracing::info!(feeds = writer.store().feeds()?.len(), "daemon started");
    let m = metrics.clone();
    let control = scheduler::Control {
        shutdown: signals.shutdown,
        reload: signals.reload,
        load_config: Box::new(move || {
            let config = match &config_path {
                Some(path) => Config::load(path)?,
                None => Config::defaults(),
            };
            health.set_tick(config.daemon.tick.0);
            Ok(config)
        }),
        build_stages: Box::new(move |config| stages(config, m.clone())),
    };
    let total = scheduler::run(&db, config.clone(), writer, metrics, scheduler::Clock::Wall, control).await?;
    tracing::info!(%total, "daemon stopped");
    Ok(total)
}

/// `ingest PATH...|-`: process documents from files or stdin, in the order given.
pub async fn ingest(
    store: Store,
    config: &Config,
    paths: &[String],
    as_feed: Option<&str>,
    shutdown: watch::Receiver<bool>,
    progress: bool,
) -> Result<Summary> {
    let stages = stages(config, Arc::new(Metrics::new()))?;
    let cwd = std::env::current_dir().context("cannot read the current folder")?;
    let now = Utc::now();
    let mut jobs = Vec::with_capacity(paths.len());
    let mut stdin_used = false;
    for path in paths {
        let (address, input) = if path == "-" {
            anyhow::ensure!(!stdin_used, "stdin (-) can be given only once");
            stdin_used = true;
            let mut bytes = Vec::new();
            std::io::stdin().read_to_end(&mut bytes).context("cannot read stdin")?;
            (as_feed.map_or_else(|| "stdin".to_string(), |f| normalise_address(f, &cwd)), Input::Bytes(bytes))
        } else {
            let file = PathBuf::from(path);
            let address = as_feed.map_or_else(|| normalise_address(path, &cwd), |f| normalise_address(f, &cwd));
            (address, Input::File(file))
        };
        let (id, _) = store.add_feed(&address, now)?;
        let feed = store.feed(id)?.context("a feed just added is missing")?;
        jobs.push(Job { feed, input });
    }
    let mut writer = Writer::open(store, config)?;
    let progress = progress.then(|| Progress::start(jobs.len(), "documents"));
    if let Some(p) = &progress {
        writer.observe(p.observer());
    }
    let result = run_jobs(&stages, writer, jobs, true, shutdown).await;
    if let Some(p) = progress {
        p.finish();
    }
    let (writer, summary) = result?;
    writer.close();
    Ok(summary)
}

/// What the signals ask of a running command.
pub struct Signals {
    /// Turns true on the first SIGTERM or SIGINT.
    pub shutdown: watch::Receiver<bool>,
    /// Counts SIGHUPs (only listened for when asked: SIGHUP otherwise ends the process).
    pub reload: watch::Receiver<u64>,
}

/// Listens for the signals: the first SIGTERM or SIGINT turns `shutdown` true; a second one
/// ends the process at once with exit code 130 (SQLite's journal keeps the database
/// consistent whatever instant that is, and the writer lock dies with the process). With
/// `hangup`, SIGHUP bumps `reload` instead of ending the process.
pub fn signals(hangup: bool) -> Result<Signals> {
    let (tx, shutdown) = watch::channel(false);
    let (reload_tx, reload) = watch::channel(0u64);
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
        let mut int = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
        tokio::spawn(async move {
            for round in 0..2 {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
                if round == 0 {
                    tracing::info!("stopping: finishing the feeds in flight (signal again to stop at once)");
                    let _ = tx.send(true);
                } else {
                    tracing::warn!("second signal: exiting now");
                    std::process::exit(130);
                }
            }
        });
        if hangup {
            let mut hup = signal(SignalKind::hangup()).context("cannot listen for SIGHUP")?;
            tokio::spawn(async move {
                while hup.recv().await.is_some() {
                    tracing::info!("SIGHUP: reloading the configuration");
                    reload_tx.send_modify(|n| *n += 1);
                }
            });
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (hangup, reload_tx);
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                let _ = tx.send(true);
            }
        });
    }
    Ok(Signals { shutdown, reload })
}
