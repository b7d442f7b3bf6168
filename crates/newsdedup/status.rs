//! The daemon's own routes: `/healthz` for supervisors and load balancers, `/metrics` for
//! Prometheus.
//!
//! `/healthz` answers 200 when the database can be written and the scheduler has looked for
//! due feeds recently, 503 otherwise, with one line per check saying which failed. "Recently"
//! is three scheduler ticks, at least 30 s: the scheduler wakes at least once per tick.

use crate::metrics::DbFigures;
use crate::server::{Context, Request, Response, Router};
use chrono::Utc;
use hyper::StatusCode;
use std::sync::Mutex;
use std::time::Duration;

/// How long `/healthz` waits for the writer's transaction before calling the database stuck.
const WRITE_PROBE_WAIT: Duration = Duration::from_secs(2);

/// What the daemon knows of its own health, beyond the metrics.
#[derive(Debug)]
pub struct Health {
    /// The scheduler is unhealthy when it has not ticked for this long.
    stale_after: Mutex<Duration>,
}

impl Default for Health {
    fn default() -> Self {
        Health::new()
    }
}

impl Health {
    pub fn new() -> Health {
        Health { stale_after: Mutex::new(Duration::from_secs(180)) }
    }

    /// Derives the staleness limit from the scheduler's tick.
    pub fn set_tick(&self, tick: Duration) {
        *self.stale_after.lock().unwrap_or_else(|p| p.into_inner()) = (tick * 3).max(Duration::from_secs(30));
    }

    fn stale_after(&self) -> Duration {
        *self.stale_after.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Adds `/healthz` and `/metrics` to `router`.
pub fn routes(router: Router) -> Router {
    router.get("/healthz", healthz).get("/metrics", metrics)
}

fn healthz(_: &Request, ctx: &Context) -> anyhow::Result<Response> {
    let mut healthy = true;
    let mut body = String::new();
    match newsdedup_store::maintenance::probe_writable(ctx.db_path(), WRITE_PROBE_WAIT) {
        Ok(()) => match ctx.metrics.write_error() {
            None => body.push_str("database: writable\n"),
            Some(e) => {
                healthy = false;
                body.push_str(&format!("database: the last write failed: {e}\n"));
            }
        },
        Err(e) => {
            healthy = false;
            body.push_str(&format!("database: not writable: {e}\n"));
        }
    }
    let limit = ctx.health.stale_after();
    match ctx.metrics.last_tick() {
        None => {
            healthy = false;
            body.push_str("scheduler: has not started\n");
        }
        Some(at) => {
            let ago = (Utc::now() - at).to_std().unwrap_or_default();
            if ago > limit {
                healthy = false;
                body.push_str(&format!(
                    "scheduler: stalled, last tick {}s ago (limit {}s)\n",
                    ago.as_secs(),
                    limit.as_secs()
                ));
            } else {
                body.push_str(&format!("scheduler: last tick {}s ago\n", ago.as_secs()));
            }
        }
    }
    let status = if healthy { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    Ok(Response::text(status, format!("{}\n{body}", if healthy { "ok" } else { "unhealthy" }))
        .header(hyper::header::CACHE_CONTROL, "no-store"))
}

fn metrics(_: &Request, ctx: &Context) -> anyhow::Result<Response> {
    // The counters are served even when the database cannot be read: that is when they matter.
    let figures = match ctx.store().map_err(anyhow::Error::from).and_then(|s| Ok(s.health_figures()?)) {
        Ok(f) => Some(DbFigures {
            feeds: f.feeds,
            feeds_in_error: f.feeds_in_error,
            items: f.items,
            stories: f.stories,
            database_bytes: f.database_bytes,
            wal_bytes: f.wal_bytes,
        }),
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), "cannot read the database for /metrics");
            None
        }
    };
    Ok(Response::new(StatusCode::OK, "text/plain; version=0.0.4; charset=utf-8", ctx.metrics.render(figures.as_ref())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metrics;
    use std::sync::Arc;

    #[test]
    fn healthz_needs_a_writable_database_and_a_recent_tick() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("news.db");
        drop(newsdedup_store::Store::open(&db).unwrap());
        let metrics = Arc::new(Metrics::new());
        let health = Arc::new(Health::new());
        health.set_tick(Duration::from_secs(1));
        let router = routes(Router::new());
        let ctx = Context::new(&db, metrics.clone(), health);

        let r = router.respond(Request::get("/healthz"), &ctx);
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body_text());
        assert!(r.body_text().contains("scheduler: has not started"));

        metrics.tick(Utc::now());
        let r = router.respond(Request::get("/healthz"), &ctx);
        assert_eq!(r.status, StatusCode::OK, "{}", r.body_text());

        metrics.tick(Utc::now() - chrono::Duration::seconds(31));
        let r = router.respond(Request::get("/healthz"), &ctx);
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(r.body_text().contains("stalled"), "{}", r.body_text());

        metrics.tick(Utc::now());
        metrics.record_write_error("disk full");
        let r = router.respond(Request::get("/healthz"), &ctx);
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(r.body_text().contains("disk full"));

        let gone = Context::new(&dir.path().join("missing.db"), Arc::new(Metrics::new()), Arc::new(Health::new()));
        gone.metrics.tick(Utc::now());
        assert_eq!(router.respond(Request::get("/healthz"), &gone).status, StatusCode::SERVICE_UNAVAILABLE);
    }

    #[test]
    fn metrics_include_database_figures() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("news.db");
        let store = newsdedup_store::Store::open(&db).unwrap();
        store.add_feed("https://example.org/feed", Utc::now()).unwrap();
        let ctx = Context::new(&db, Arc::new(Metrics::new()), Arc::new(Health::new()));
        let r = routes(Router::new()).respond(Request::get("/metrics"), &ctx);
        assert_eq!(r.status, StatusCode::OK);
        let text = r.body_text();
        assert!(text.lines().any(|l| l == "newsdedup_feeds 1"), "{text}");
        assert!(text.lines().any(|l| l == "newsdedup_feeds_in_error 0"), "{text}");
    }
}
