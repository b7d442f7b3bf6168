//! The feeds table: adding feeds, listing them, and which are due.

use crate::{parse_timestamp, timestamp, Result, Store};
use chrono::{DateTime, Utc};
use newsdedup_model::{FeedId, Validators};
use rusqlite::{OptionalExtension, Row};

/// One row of the feeds table.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FeedRow {
    pub id: FeedId,
    pub url: String,
    pub title: Option<String>,
    pub validators: Validators,
    pub last_fetched_at: Option<DateTime<Utc>>,
    pub next_fetch_at: Option<DateTime<Utc>>,
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    pub error_count: u32,
    pub body_hash: Option<String>,
    /// When the server said the feed is gone (HTTP 410); such a feed is not polled.
    pub gone_at: Option<DateTime<Utc>>,
}

/// What became of one attempt to fetch a feed, as recorded on the feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedOutcome {
    /// The document was fetched (or the server said 304). `body_hash` and `title` are `None`
    /// when there was no new document to take them from.
    Success {
        status: u16,
        validators: Validators,
        title: Option<String>,
        body_hash: Option<String>,
        next_fetch_at: DateTime<Utc>,
    },
    Failure {
        status: Option<u16>,
        error: String,
        next_fetch_at: DateTime<Utc>,
    },
    /// The server said the feed is gone for good (HTTP 410): a failure that also stops
    /// polling until the feed is re-enabled.
    Gone {
        status: u16,
        error: String,
    },
    /// Not fetched this time (its host asked for a pause): only the schedule changes.
    Postponed {
        next_fetch_at: DateTime<Utc>,
    },
}

const FEED_COLUMNS: &str = "id, url, title, etag, last_modified, last_fetched_at, next_fetch_at, last_status, \
                            last_error, error_count, body_hash, gone_at";

fn feed_from_row(r: &Row<'_>) -> rusqlite::Result<FeedRow> {
    Ok(FeedRow {
        id: FeedId(r.get(0)?),
        url: r.get(1)?,
        title: r.get(2)?,
        validators: Validators { etag: r.get(3)?, last_modified: r.get(4)? },
        last_fetched_at: r.get::<_, Option<String>>(5)?.as_deref().and_then(parse_timestamp),
        next_fetch_at: r.get::<_, Option<String>>(6)?.as_deref().and_then(parse_timestamp),
        last_status: r.get::<_, Option<i64>>(7)?.and_then(|s| u16::try_from(s).ok()),
        last_error: r.get(8)?,
        error_count: r.get::<_, i64>(9)?.try_into().unwrap_or(u32::MAX),
        body_hash: r.get(10)?,
        gone_at: r.get::<_, Option<String>>(11)?.as_deref().and_then(parse_timestamp),
    })
}

impl Store {
    /// Adds a feed; returns its id and whether it was new (adding twice is harmless).
    pub fn add_feed(&self, url: &str, now: DateTime<Utc>) -> Result<(FeedId, bool)> {
        let inserted = self.conn().execute(
            "INSERT INTO feeds(url, added_at) VALUES (?1, ?2) ON CONFLICT(url) DO NOTHING",
            (url, timestamp(now)),
        )?;
        let id: i64 = self.conn().query_row("SELECT id FROM feeds WHERE url = ?1", [url], |r| r.get(0))?;
        Ok((FeedId(id), inserted > 0))
    }

    pub fn feed_by_url(&self, url: &str) -> Result<Option<FeedRow>> {
        let sql = format!("SELECT {FEED_COLUMNS} FROM feeds WHERE url = ?1");
        Ok(self.conn().query_row(&sql, [url], feed_from_row).optional()?)
    }

    pub fn feed(&self, id: FeedId) -> Result<Option<FeedRow>> {
        let sql = format!("SELECT {FEED_COLUMNS} FROM feeds WHERE id = ?1");
        Ok(self.conn().query_row(&sql, [id.0], feed_from_row).optional()?)
    }

    /// Every feed, in the order they were added.
    pub fn feeds(&self) -> Result<Vec<FeedRow>> {
        let sql = format!("SELECT {FEED_COLUMNS} FROM feeds ORDER BY id");
        let mut stmt = self.conn().prepare(&sql)?;
        let rows = stmt.query_map([], feed_from_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Every feed that is polled (all but the gone ones), in the order they were added.
    pub fn active_feeds(&self) -> Result<Vec<FeedRow>> {
        let sql = format!("SELECT {FEED_COLUMNS} FROM feeds WHERE gone_at IS NULL ORDER BY id");
        let mut stmt = self.conn().prepare(&sql)?;
        let rows = stmt.query_map([], feed_from_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Feeds whose next fetch is due at `now` (never fetched, or next_fetch_at has passed),
    /// the most overdue first. Gone feeds are never due.
    pub fn due_feeds(&self, now: DateTime<Utc>) -> Result<Vec<FeedRow>> {
        let sql = format!(
            "SELECT {FEED_COLUMNS} FROM feeds WHERE gone_at IS NULL AND (next_fetch_at IS NULL OR next_fetch_at <= ?1) \
             ORDER BY next_fetch_at IS NOT NULL, next_fetch_at, id"
        );
        let mut stmt = self.conn().prepare(&sql)?;
        let rows = stmt.query_map([timestamp(now)], feed_from_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// The earliest next_fetch_at after `now`: when the next feed that is not due yet will be.
    pub fn next_due_after(&self, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>> {
        let next: Option<String> = self.conn().query_row(
            "SELECT min(next_fetch_at) FROM feeds WHERE next_fetch_at > ?1",
            [timestamp(now)],
            |r| r.get(0),
        )?;
        Ok(next.as_deref().and_then(parse_timestamp))
    }

    /// The earliest next_fetch_at of any feed, to know how long a daemon may sleep.
    pub fn next_due_at(&self) -> Result<Option<DateTime<Utc>>> {
        let next: Option<String> = self.conn().query_row(
            "SELECT CASE WHEN count(*) = 0 THEN NULL \
                         WHEN sum(next_fetch_at IS NULL) > 0 THEN '0000-01-01T00:00:00Z' \
                         ELSE min(next_fetch_at) END FROM feeds WHERE gone_at IS NULL",
            [],
            |r| r.get(0),
        )?;
        Ok(next.as_deref().and_then(|s| parse_timestamp(s).or(Some(DateTime::<Utc>::MIN_UTC))))
    }

    /// Polls a feed again: clears its gone mark and error count, and makes it due now.
    /// Returns false when no feed has that address.
    pub fn enable_feed(&self, url: &str) -> Result<bool> {
        let n = self.conn().execute(
            "UPDATE feeds SET gone_at = NULL, error_count = 0, last_error = NULL, next_fetch_at = NULL WHERE url = ?1",
            [url],
        )?;
        Ok(n > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, h, 0, 0).unwrap()
    }

    #[test]
    fn adding_twice_keeps_one_row() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db")).unwrap();
        let (a, new_a) = store.add_feed("https://example.org/feed", t(0)).unwrap();
        let (b, new_b) = store.add_feed("https://example.org/feed", t(1)).unwrap();
        assert_eq!(a, b);
        assert!(new_a && !new_b);
        assert_eq!(store.feeds().unwrap().len(), 1);
    }

    #[test]
    fn due_feeds_follow_next_fetch_at() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("db")).unwrap();
        let (a, _) = store.add_feed("a", t(0)).unwrap();
        let (b, _) = store.add_feed("b", t(0)).unwrap();
        assert_eq!(store.due_feeds(t(1)).unwrap().len(), 2);
        let batch = store.begin().unwrap();
        batch
            .record_outcome(
                a,
                &FeedOutcome::Success {
                    status: 200,
                    validators: Validators { etag: Some("\"v1\"".into()), last_modified: None },
                    title: Some("A".into()),
                    body_hash: Some("h".into()),
                    next_fetch_at: t(5),
                },
                t(1),
            )
            .unwrap();
        batch
            .record_outcome(
                b,
                &FeedOutcome::Failure { status: Some(500), error: "boom".into(), next_fetch_at: t(3) },
                t(1),
            )
            .unwrap();
        batch.commit().unwrap();
        let due: Vec<FeedId> = store.due_feeds(t(4)).unwrap().iter().map(|f| f.id).collect();
        assert_eq!(due, [b]);
        assert_eq!(store.next_due_at().unwrap(), Some(t(3)));
        assert_eq!(store.next_due_after(t(3)).unwrap(), Some(t(5)));
        assert_eq!(store.next_due_after(t(5)).unwrap(), None);
        let fa = store.feed(a).unwrap().unwrap();
        assert_eq!(fa.validators.etag.as_deref(), Some("\"v1\""));
        assert_eq!((fa.last_status, fa.error_count, fa.title.as_deref()), (Some(200), 0, Some("A")));
        let fb = store.feed(b).unwrap().unwrap();
        assert_eq!((fb.last_status, fb.error_count, fb.last_error.as_deref()), (Some(500), 1, Some("boom")));
    }

    #[test]
    fn a_gone_feed_is_not_due_until_enabled() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("db")).unwrap();
        let (a, _) = store.add_feed("https://a.example/feed", t(0)).unwrap();
        let (b, _) = store.add_feed("https://b.example/feed", t(0)).unwrap();
        let batch = store.begin().unwrap();
        batch.record_outcome(a, &FeedOutcome::Gone { status: 410, error: "gone".into() }, t(1)).unwrap();
        batch.commit().unwrap();
        let due: Vec<FeedId> = store.due_feeds(t(2)).unwrap().iter().map(|f| f.id).collect();
        assert_eq!(due, [b]);
        assert_eq!(store.active_feeds().unwrap().len(), 1);
        let fa = store.feed(a).unwrap().unwrap();
        assert_eq!((fa.gone_at, fa.last_status, fa.error_count), (Some(t(1)), Some(410), 1));
        assert!(store.enable_feed("https://a.example/feed").unwrap());
        assert!(!store.enable_feed("https://nowhere.example/").unwrap());
        let fa = store.feed(a).unwrap().unwrap();
        assert_eq!((fa.gone_at, fa.error_count, fa.next_fetch_at), (None, 0, None));
        assert_eq!(store.due_feeds(t(2)).unwrap().len(), 2);
    }

    #[test]
    fn postponing_only_ever_delays_and_moving_refuses_a_taken_address() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("db")).unwrap();
        let (a, _) = store.add_feed("https://a.example/1", t(0)).unwrap();
        let (b, _) = store.add_feed("https://a.example/2", t(0)).unwrap();
        let batch = store.begin().unwrap();
        batch.record_outcome(b, &FeedOutcome::Postponed { next_fetch_at: t(9) }, t(1)).unwrap();
        batch.postpone_feeds(&[a, b], t(5)).unwrap();
        assert!(!batch.move_feed(a, "https://a.example/2").unwrap());
        assert!(batch.move_feed(a, "https://new.example/1").unwrap());
        batch.commit().unwrap();
        let fa = store.feed(a).unwrap().unwrap();
        assert_eq!((fa.url.as_str(), fa.next_fetch_at), ("https://new.example/1", Some(t(5))));
        assert_eq!(store.feed(b).unwrap().unwrap().next_fetch_at, Some(t(9)));
        assert_eq!(store.feed(b).unwrap().unwrap().last_fetched_at, None, "a postponement is not a fetch");
    }
}
