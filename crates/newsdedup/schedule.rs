//! When a feed is due again.
//!
//! After a success the wait is the configured interval, unless the feed gives a refresh hint
//! of its own (RSS `ttl`, `sy:updatePeriod`/`sy:updateFrequency`), which replaces it within
//! `[min_interval, max_interval]`: the publisher knows how often the feed changes, and the
//! bounds keep a hint of one minute or one month from doing harm. The server's cache
//! lifetime (Cache-Control max-age, Expires) then postpones the fetch until the response
//! would expire, up to `max_interval`: asking earlier would get the same document.
//!
//! After the n-th consecutive failure the wait is `retry_after` doubled n-1 times, capped at
//! `max_backoff`, and at least as long as the server's Retry-After (itself capped at
//! `max_backoff`, so a server asking for a year is asked again within a day). A failing feed
//! is retried forever.
//!
//! Every wait is spread by up to `jitter` of itself either way, so that feeds added or failed
//! together drift apart instead of firing together forever; the spread never goes past the
//! upper bound, nor below a server's Retry-After.

use crate::config::ScheduleConfig;
use chrono::{DateTime, Duration, Utc};
use std::time::Duration as StdDuration;

/// What a fetch learned that bears on when to fetch again.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Hints {
    /// The feed's own refresh hint.
    pub ttl: Option<StdDuration>,
    /// How long the server said the response stays fresh.
    pub freshness: Option<StdDuration>,
}

/// After a successful fetch (including 304). `unit` in [0, 1) picks the point in the
/// jitter window.
pub fn after_success(now: DateTime<Utc>, schedule: &ScheduleConfig, hints: &Hints, unit: f64) -> DateTime<Utc> {
    now + to_chrono(success_wait(schedule, hints, unit))
}

fn success_wait(schedule: &ScheduleConfig, hints: &Hints, unit: f64) -> StdDuration {
    let (min, max) = (schedule.min_interval.0, schedule.max_interval.0);
    let base = match hints.ttl {
        Some(ttl) => ttl.clamp(min, max),
        None => schedule.interval.0,
    };
    let upper = max.max(schedule.interval.0);
    let wait = match hints.freshness {
        Some(fresh) if fresh > base => fresh.min(upper),
        _ => base,
    };
    spread(wait, upper, schedule.jitter, unit)
}

/// After the `failures`-th consecutive failure; `server_wait` is the server's Retry-After.
pub fn after_failure(
    now: DateTime<Utc>,
    failures: u32,
    schedule: &ScheduleConfig,
    server_wait: Option<StdDuration>,
    unit: f64,
) -> DateTime<Utc> {
    now + to_chrono(failure_wait(failures, schedule, server_wait, unit))
}

fn failure_wait(failures: u32, schedule: &ScheduleConfig, server_wait: Option<StdDuration>, unit: f64) -> StdDuration {
    let base = schedule.retry_after.0;
    let cap = schedule.max_backoff.0;
    let doublings = failures.saturating_sub(1).min(31);
    let backoff = base.checked_mul(1u32 << doublings).unwrap_or(cap).min(cap);
    let floor = server_wait.unwrap_or_default().min(cap);
    spread(backoff.max(floor), cap, schedule.jitter, unit).max(floor)
}

/// A point in `[wait·(1−j), wait·(1+j)]`, that window cut at `upper` (a wait already at the
/// upper bound spreads downwards only, so capped feeds do not bunch at the cap).
fn spread(wait: StdDuration, upper: StdDuration, jitter: f64, unit: f64) -> StdDuration {
    let secs = wait.as_secs_f64();
    let lo = secs * (1.0 - jitter);
    let hi = (secs * (1.0 + jitter)).min(upper.as_secs_f64().max(secs));
    let at = lo + (hi - lo) * unit.clamp(0.0, 1.0);
    StdDuration::try_from_secs_f64(at).unwrap_or(wait)
}

/// A number in [0, 1) that differs between feeds and between runs, to place a feed in its
/// jitter window. Seeded per process by the standard library; not for cryptography.
pub fn jitter_unit(feed: i64) -> f64 {
    use std::hash::{BuildHasher, Hasher};
    thread_local! {
        static STATE: std::collections::hash_map::RandomState = std::collections::hash_map::RandomState::new();
    }
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let bits = STATE.with(|s| {
        let mut h = s.build_hasher();
        h.write_i64(feed);
        h.write_u128(nanos);
        h.finish()
    });
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

fn to_chrono(d: StdDuration) -> Duration {
    Duration::from_std(d).unwrap_or(Duration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::HumanDuration;

    fn secs(s: u64) -> StdDuration {
        StdDuration::from_secs(s)
    }

    fn schedule(jitter: f64) -> ScheduleConfig {
        ScheduleConfig {
            interval: HumanDuration(secs(1800)),
            min_interval: HumanDuration(secs(600)),
            max_interval: HumanDuration(secs(12 * 3600)),
            jitter,
            retry_after: HumanDuration(secs(300)),
            max_backoff: HumanDuration(secs(86400)),
        }
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let waits: Vec<u64> = [1, 2, 3, 4, 10, 100, u32::MAX]
            .iter()
            .map(|f| failure_wait(*f, &schedule(0.0), None, 0.5).as_secs())
            .collect();
        assert_eq!(waits, [300, 600, 1200, 2400, 86400, 86400, 86400]);
        // Through the dates, from a fixed time.
        let now = DateTime::<Utc>::UNIX_EPOCH;
        assert_eq!((after_failure(now, 3, &schedule(0.0), None, 0.0) - now).num_seconds(), 1200);
    }

    #[test]
    fn retry_after_is_a_floor_capped_at_max_backoff() {
        let s = schedule(0.0);
        assert_eq!(failure_wait(1, &s, Some(secs(3600)), 0.5), secs(3600));
        assert_eq!(failure_wait(8, &s, Some(secs(60)), 0.5), secs(300 << 7), "the longer of the two");
        assert_eq!(failure_wait(1, &s, Some(secs(365 * 86400)), 0.5), secs(86400));
        // Jitter never brings a retry before the server's Retry-After.
        let s = schedule(0.5);
        for unit in [0.0, 0.3, 0.99] {
            assert!(failure_wait(1, &s, Some(secs(3600)), unit) >= secs(3600));
        }
    }

    #[test]
    fn jitter_spreads_within_bounds() {
        let s = schedule(0.1);
        let low = failure_wait(3, &s, None, 0.0);
        let high = failure_wait(3, &s, None, 0.999_999);
        assert_eq!((low.as_secs(), high.as_secs()), (1080, 1319));
        // At the cap the window only goes down: capped feeds do not bunch at the cap.
        assert!(failure_wait(20, &s, None, 0.999) <= secs(86400));
        assert!(failure_wait(20, &s, None, 0.0) >= secs(77760));
        let a = success_wait(&s, &Hints::default(), 0.0);
        let b = success_wait(&s, &Hints::default(), 0.999_999);
        assert_eq!((a.as_secs(), b.as_secs()), (1620, 1979));
    }

    #[test]
    fn success_waits_one_interval_without_hints() {
        let now = DateTime::<Utc>::UNIX_EPOCH;
        let next = after_success(now, &schedule(0.0), &Hints::default(), 0.5);
        assert_eq!((next - now).num_seconds(), 1800);
    }

    #[test]
    fn the_feeds_own_ttl_replaces_the_interval_within_bounds() {
        let s = schedule(0.0);
        let ttl = |t: u64| success_wait(&s, &Hints { ttl: Some(secs(t)), freshness: None }, 0.5).as_secs();
        assert_eq!(ttl(3600), 3600);
        assert_eq!(ttl(60), 600, "min_interval");
        assert_eq!(ttl(7 * 86400), 12 * 3600, "max_interval");
    }

    #[test]
    fn cache_lifetime_postpones_up_to_max_interval() {
        let s = schedule(0.0);
        let fresh = |f: u64| success_wait(&s, &Hints { ttl: None, freshness: Some(secs(f)) }, 0.5).as_secs();
        assert_eq!(fresh(7200), 7200);
        assert_eq!(fresh(60), 1800, "a short max-age does not make us poll more often");
        assert_eq!(fresh(365 * 86400), 12 * 3600);
        let both = success_wait(&s, &Hints { ttl: Some(secs(900)), freshness: Some(secs(1200)) }, 0.5);
        assert_eq!(both.as_secs(), 1200);
    }

    #[test]
    fn jitter_units_are_in_range_and_vary() {
        let units: Vec<f64> = (0..100).map(jitter_unit).collect();
        assert!(units.iter().all(|u| (0.0..1.0).contains(u)));
        let distinct: std::collections::HashSet<u64> = units.iter().map(|u| u.to_bits()).collect();
        assert!(distinct.len() > 90);
    }
}
