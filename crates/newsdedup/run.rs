//! The commands that process feeds: `run --once`, `daemon` and `ingest`.

use crate::config::Config;
use crate::feedlist::normalise_address;
use crate::metrics::Metrics;
use crate::pipeline::{run_jobs, Input, Job, Stages, Summary};
use crate::server::{self, Router};
use crate::status::{self, Health};
use crate::writer::Writer;
use anyhow::{Context, Result};
use chrono::Utc;
use newsdedup_fetcher::{HttpClient, HttpConfig};
use newsdedup_normaliser::{Normaliser, RuleSet};
use newsdedup_store::{FeedRow, Store};
use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::{watch, Semaphore};

/// Builds the stages (HTTP client, normaliser) from the configuration.
pub fn stages(config: &Config, metrics: Arc<Metrics>) -> Result<Stages> {
    let packs = config.rule_pack_texts()?;
    let rules = RuleSet::from_packs(packs.iter().map(|(n, t)| (n.as_str(), t.as_str())))?;
    let fetch = &config.fetch;
    let http = HttpClient::new(HttpConfig {
        user_agent: if fetch.user_agent.trim().is_empty() {
            newsdedup_fetcher::HttpConfig::default().user_agent
        } else {
            fetch.user_agent.clone()
        },
        connect_timeout: fetch.connect_timeout.0,
        total_timeout: fetch.timeout.0,
        read_timeout: fetch.read_timeout.0,
        max_body_bytes: fetch.max_body_bytes,
        max_redirects: fetch.max_redirects,
    })?;
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    Ok(Stages {
        http,
        normaliser: Arc::new(Normaliser::new(rules)),
        config: Arc::new(config.clone()),
        cpu: Arc::new(Semaphore::new(cores)),
        metrics,
    })
}

fn fetch_jobs(feeds: Vec<FeedRow>) -> Vec<Job> {
    feeds.into_iter().map(|feed| Job { input: Input::Address(feed.url.clone()), feed }).collect()
}

/// `run --once [--all]`: fetch due (or all) feeds once. Returns the run's totals.
pub async fn run_once(store: Store, config: &Config, all: bool) -> Result<Summary> {
    let stages = stages(config, Arc::new(Metrics::new()))?;
    let now = Utc::now();
    let feeds = if all { store.feeds()? } else { store.due_feeds(now)? };
    let writer = Writer::open(store, config)?;
    let (_never, shutdown) = watch::channel(false);
    let (_writer, summary) = run_jobs(&stages, writer, fetch_jobs(feeds), false, shutdown).await?;
    Ok(summary)
}

/// The routes the daemon serves with `--listen`. Pages of the daemon register here.
pub fn http_router() -> Router {
    status::routes(Router::new())
}

/// `daemon`: fetch feeds when they are due until `shutdown` turns true; then let the feeds in
/// flight finish, commit, and return. With a `listener`, serves [`http_router`] on it.
pub async fn daemon(
    store: Store,
    config: &Config,
    mut shutdown: watch::Receiver<bool>,
    listener: Option<tokio::net::TcpListener>,
) -> Result<Summary> {
    let metrics = Arc::new(Metrics::new());
    let health = Arc::new(Health::new());
    health.set_tick(config.daemon.tick.0);
    if let Some(at) = store.health_figures()?.last_success {
        metrics.set_last_success(at);
    }
    if let Some(listener) = listener {
        let context = Arc::new(server::Context::new(store.path(), metrics.clone(), health.clone()));
        tokio::spawn(server::serve(listener, Arc::new(http_router()), context, shutdown.clone()));
    }
    let stages = stages(config, metrics.clone())?;
    let mut writer = Writer::open(store, config)?;
    writer.set_metrics(metrics.clone());
    let mut total = Summary::default();
    let tick = chrono::Duration::from_std(config.daemon.tick.0).unwrap_or(chrono::Duration::MAX);
    tracing::info!(feeds = writer.store().feeds()?.len(), "daemon started");
    loop {
        metrics.tick(Utc::now());
        if *shutdown.borrow() {
            break;
        }
        let due = writer.store().due_feeds(Utc::now())?;
        if !due.is_empty() {
            let (w, summary) = run_jobs(&stages, writer, fetch_jobs(due), false, shutdown.clone()).await?;
            writer = w;
            tracing::info!(%summary, "poll finished");
            total.add(&summary);
        }
        let now = Utc::now();
        let next = writer.store().next_due_at()?.map_or(now + tick, |t| t.min(now + tick));
        let wait = (next - now).to_std().unwrap_or_default().max(std::time::Duration::from_millis(50));
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.wait_for(|stop| *stop) => {}
        }
    }
    tracing::info!(%total, "daemon stopped");
    Ok(total)
}

/// `ingest PATH...|-`: process documents from files or stdin, in the order given.
pub async fn ingest(store: Store, config: &Config, paths: &[String], as_feed: Option<&str>) -> Result<Summary> {
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
    let writer = Writer::open(store, config)?;
    let (_never, shutdown) = watch::channel(false);
    let (_writer, summary) = run_jobs(&stages, writer, jobs, true, shutdown).await?;
    Ok(summary)
}

/// A watch channel that turns true on the first SIGTERM or SIGINT. A second signal ends the
/// process at once: SQLite's journal keeps the database consistent whatever instant that is.
pub fn shutdown_on_signals() -> Result<watch::Receiver<bool>> {
    let (tx, rx) = watch::channel(false);
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
    }
    #[cfg(not(unix))]
    {
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                let _ = tx.send(true);
            }
        });
    }
    Ok(rx)
}
