//! When a feed is due again.

use crate::config::ScheduleConfig;
use chrono::{DateTime, Duration, Utc};

/// After a successful fetch: one interval later.
pub fn after_success(now: DateTime<Utc>, schedule: &ScheduleConfig) -> DateTime<Utc> {
    now + to_chrono(schedule.interval.0)
}

/// After the `failures`-th consecutive failure: `retry_after`, doubled for every further
/// failure, never longer than `max_backoff`. A failing feed stays scheduled forever.
pub fn after_failure(now: DateTime<Utc>, failures: u32, schedule: &ScheduleConfig) -> DateTime<Utc> {
    let base = schedule.retry_after.0;
    let max = schedule.max_backoff.0;
    let doublings = failures.saturating_sub(1).min(32);
    let wait = base.checked_mul(1u32 << doublings.min(31)).unwrap_or(max).min(max);
    now + to_chrono(wait)
}

fn to_chrono(d: std::time::Duration) -> Duration {
    Duration::from_std(d).unwrap_or(Duration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::HumanDuration;
    use std::time::Duration as Std;

    fn schedule() -> ScheduleConfig {
        ScheduleConfig {
            interval: HumanDuration(Std::from_secs(1800)),
            retry_after: HumanDuration(Std::from_secs(300)),
            max_backoff: HumanDuration(Std::from_secs(86400)),
        }
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let now = DateTime::<Utc>::UNIX_EPOCH;
        let waits: Vec<i64> = [1, 2, 3, 4, 10, 100, u32::MAX]
            .iter()
            .map(|f| (after_failure(now, *f, &schedule()) - now).num_seconds())
            .collect();
        assert_eq!(waits, [300, 600, 1200, 2400, 86400, 86400, 86400]);
    }

    #[test]
    fn success_waits_one_interval() {
        let now = DateTime::<Utc>::UNIX_EPOCH;
        assert_eq!((after_success(now, &schedule()) - now).num_seconds(), 1800);
    }
}
