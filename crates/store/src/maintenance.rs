//! Keeping the database healthy while it runs for months: the figures the daemon's status
//! endpoint reports, the writability probe behind `/healthz`, WAL checkpoints, `prune` (with
//! the tombstones that keep pruned items from coming back) and `vacuum`.

use crate::{parse_timestamp, timestamp, FeedBatch, Result, Store, StoreError};
use chrono::{DateTime, Utc};
use newsdedup_model::FeedId;
use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Counts and sizes for `/metrics`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HealthFigures {
    pub feeds: u64,
    /// Feeds whose last attempt failed.
    pub feeds_in_error: u64,
    pub items: u64,
    pub stories: u64,
    /// The latest successful fetch of any feed.
    pub last_success: Option<DateTime<Utc>>,
    /// Size of the database file, in bytes.
    pub database_bytes: u64,
    /// Size of its write-ahead log, in bytes (0 when there is none).
    pub wal_bytes: u64,
}

/// What a WAL checkpoint did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint {
    /// False when a reader kept the checkpoint from completing (it will catch up next time).
    pub complete: bool,
    /// Frames in the WAL, and frames copied back into the database.
    pub wal_frames: i64,
    pub checkpointed_frames: i64,
}

impl Store {
    /// Counts and file sizes for the status endpoint.
    pub fn health_figures(&self) -> Result<HealthFigures> {
        let (feeds, feeds_in_error, last_success): (i64, i64, Option<String>) = self.conn().query_row(
            "SELECT count(*), count(*) FILTER (WHERE last_error IS NOT NULL), \
                    max(last_fetched_at) FILTER (WHERE last_error IS NULL) FROM feeds",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        let items: i64 = self.conn().query_row("SELECT count(*) FROM items", [], |r| r.get(0))?;
        let stories: i64 = self.conn().query_row("SELECT count(*) FROM stories", [], |r| r.get(0))?;
        let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        Ok(HealthFigures {
            feeds: feeds as u64,
            feeds_in_error: feeds_in_error as u64,
            items: items as u64,
            stories: stories as u64,
            last_success: last_success.as_deref().and_then(parse_timestamp),
            database_bytes: size(self.path()),
            wal_bytes: size(&wal_path(self.path())),
        })
    }

    /// Copies the write-ahead log back into the database and, when no reader is in the way,
    /// truncates it to nothing, so the -wal file stays bounded however long the writer runs.
    /// Readers are never blocked: a checkpoint that a reader holds back is reported incomplete
    /// and finishes on a later call.
    pub fn checkpoint(&self) -> Result<Checkpoint> {
        let (busy, frames, done): (i64, i64, i64) =
            self.conn().query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(Checkpoint { complete: busy == 0, wal_frames: frames, checkpointed_frames: done })
    }
}

/// What `prune` removed (or, in a dry run, would remove).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Stories last seen before the cutoff, deleted with all their items.
    pub stories: u64,
    /// Items deleted (each leaves a tombstone).
    pub items: u64,
    /// Items kept (their story is still active) whose raw content was cleared.
    pub raw_cleared: u64,
}

impl Store {
    /// Deletes the stories last seen before `cutoff` with their items (and the items' removed
    /// lines), leaving a tombstone per item so the writer never stores it again; clears the
    /// raw content of the remaining items first fetched before `cutoff` (their clean text,
    /// fingerprint and story stay). One transaction: all of it or nothing. With `dry_run`,
    /// counts and rolls back.
    pub fn prune(&mut self, cutoff: DateTime<Utc>, now: DateTime<Utc>, dry_run: bool) -> Result<Pruned> {
        let (cutoff, now) = (timestamp(cutoff), timestamp(now));
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Old stories, and items that never got a story (a run that died mid-way cannot leave
        // any, but older databases might have some).
        tx.execute_batch(
            "CREATE TEMP TABLE IF NOT EXISTS prune_stories(id INTEGER PRIMARY KEY); DELETE FROM prune_stories;",
        )?;
        let stories =
            tx.execute("INSERT INTO prune_stories SELECT id FROM stories WHERE last_seen_at < ?1", [&cutoff])? as u64;
        tx.execute(
            "INSERT INTO tombstones(feed_id, guid, pruned_at) \
             SELECT feed_id, guid, ?2 FROM items \
             WHERE story_id IN (SELECT id FROM prune_stories) OR (story_id IS NULL AND fetched_at < ?1) \
             ON CONFLICT(feed_id, guid) DO NOTHING",
            [&cutoff, &now],
        )?;
        let items = tx.execute(
            "DELETE FROM items WHERE story_id IN (SELECT id FROM prune_stories) \
                                  OR (story_id IS NULL AND fetched_at < ?1)",
            [&cutoff],
        )? as u64;
        tx.execute("DELETE FROM stories WHERE id IN (SELECT id FROM prune_stories)", [])?;
        let raw_cleared = tx.execute(
            "UPDATE items SET raw_content = '', raw_pruned_at = ?2 \
             WHERE fetched_at < ?1 AND raw_pruned_at IS NULL",
            [&cutoff, &now],
        )? as u64;
        tx.execute_batch("DROP TABLE prune_stories;")?;
        if dry_run {
            tx.rollback()?;
        } else {
            crate::search::sync_index(&tx)?;
            tx.commit()?;
        }
        Ok(Pruned { stories, items, raw_cleared })
    }

    /// Rebuilds the database file without its free pages (after `prune`), refreshes the query
    /// planner's statistics, and empties the WAL. Needs as much free disk as the file's size.
    pub fn vacuum(&mut self) -> Result<()> {
        self.conn.execute_batch("VACUUM; PRAGMA optimize;")?;
        self.checkpoint()?;
        Ok(())
    }

    /// How many items `prune` has deleted (tombstones kept).
    pub fn tombstone_count(&self) -> Result<u64> {
        Ok(self.conn().query_row("SELECT count(*) FROM tombstones", [], |r| r.get::<_, i64>(0))? as u64)
    }
}

impl FeedBatch<'_> {
    /// True when `prune` deleted the item of `feed` with key `guid`: it must not be stored
    /// again.
    pub fn is_tombstoned(&self, feed: FeedId, guid: &str) -> Result<bool> {
        let mut stmt = self.tx.prepare_cached("SELECT 1 FROM tombstones WHERE feed_id = ?1 AND guid = ?2")?;
        Ok(stmt.exists(rusqlite::params![feed.0, guid])?)
    }
}

/// The write-ahead log beside a database file.
pub fn wal_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push("-wal");
    PathBuf::from(name)
}

/// Checks that the database at `path` can be written: opens its own connection and takes
/// (then releases) the write lock, waiting at most `wait` for another writer's transaction.
/// Nothing is written.
pub fn probe_writable(path: &Path, wait: Duration) -> Result<()> {
    let open_err = |source| StoreError::Open { path: path.to_path_buf(), source };
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(open_err)?;
    conn.busy_timeout(wait).map_err(open_err)?;
    conn.execute_batch("BEGIN IMMEDIATE; ROLLBACK;")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FeedOutcome;

    #[test]
    fn figures_count_feeds_in_error_and_file_sizes() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("db")).unwrap();
        let now = Utc::now();
        let (a, _) = store.add_feed("a", now).unwrap();
        store.add_feed("b", now).unwrap();
        let batch = store.begin().unwrap();
        batch
            .record_outcome(a, &FeedOutcome::Failure { status: Some(500), error: "x".into(), next_fetch_at: now }, now)
            .unwrap();
        batch.commit().unwrap();
        let f = store.health_figures().unwrap();
        assert_eq!((f.feeds, f.feeds_in_error, f.items, f.last_success), (2, 1, 0, None));
        assert!(f.database_bytes > 0);
        assert!(f.wal_bytes > 0, "writes go to the WAL first");
        let c = store.checkpoint().unwrap();
        assert!(c.complete);
        assert_eq!(store.health_figures().unwrap().wal_bytes, 0, "a complete TRUNCATE checkpoint empties the WAL");
    }

    fn item(store: &mut Store, feed: FeedId, guid: &str, story: Option<newsdedup_model::StoryId>, at: DateTime<Utc>) {
        use newsdedup_model::{
            BodyKind, CleanItem, Decision, Fingerprint, KeySource, MatchMethod, RawItem, RemovedLine,
        };
        let raw = RawItem {
            guid: guid.into(),
            key_source: KeySource::Guid,
            link: None,
            title: Some(guid.into()),
            published_at: Some(at),
            updated_at: None,
            body: format!("<p>{guid} body</p><p>Subscribe!</p>"),
            body_kind: BodyKind::Html,
            platform_id: None,
        };
        let clean = CleanItem {
            clean_title: guid.into(),
            clean_text: format!("{guid} body"),
            folded_text: format!("{guid} body"),
            removed: vec![RemovedLine { position: 1, line: "Subscribe!".into(), rule: "en.subscribe".into() }],
            canonical_link: None,
        };
        let batch = store.begin().unwrap();
        let new = crate::NewItem {
            feed,
            raw: &raw,
            clean: &clean,
            fingerprint: Fingerprint { simhash: 1, content_hash: 1 },
            word_count: 2,
        };
        let id = batch.insert_item(&new, at).unwrap();
        let decision = match story {
            None => Decision::NewStory,
            Some(story) => Decision::Join {
                story,
                matched_item: newsdedup_model::ItemId(1),
                method: MatchMethod::Near,
                distance: 0,
            },
        };
        batch.assign_story(id, &decision).unwrap();
        batch.commit().unwrap();
    }

    #[test]
    fn prune_deletes_old_stories_keeps_tombstones_and_clears_old_raw_content() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("db")).unwrap();
        let now = Utc::now();
        let old = now - chrono::Duration::days(100);
        let (feed, _) = store.add_feed("f", old).unwrap();
        // An old story with two items; an old item whose story is still active; a new story.
        item(&mut store, feed, "old-1", None, old);
        let old_story = newsdedup_model::StoryId(1);
        item(&mut store, feed, "old-2", Some(old_story), old);
        item(&mut store, feed, "kept-old", None, old);
        let active = newsdedup_model::StoryId(2);
        item(&mut store, feed, "kept-new", Some(active), now);
        item(&mut store, feed, "new", None, now);
        let count = |store: &Store, sql: &str| -> i64 { store.conn().query_row(sql, [], |r| r.get(0)).unwrap() };

        let cutoff = now - chrono::Duration::days(90);
        let dry = store.prune(cutoff, now, true).unwrap();
        assert_eq!(dry, Pruned { stories: 1, items: 2, raw_cleared: 1 });
        assert_eq!(count(&store, "SELECT count(*) FROM items"), 5, "a dry run changes nothing");
        assert_eq!(store.tombstone_count().unwrap(), 0);

        assert_eq!(store.prune(cutoff, now, false).unwrap(), dry);
        assert_eq!(count(&store, "SELECT count(*) FROM items"), 3);
        assert_eq!(count(&store, "SELECT count(*) FROM stories"), 2);
        assert_eq!(count(&store, "SELECT count(*) FROM removed_lines"), 3, "removed lines go with their items");
        assert_eq!(store.tombstone_count().unwrap(), 2);
        let raw: (String, String) = store
            .conn()
            .query_row("SELECT raw_content, clean_text FROM items WHERE guid = 'kept-old'", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!(raw, (String::new(), "kept-old body".to_string()));
        assert!(store.quick_check().unwrap().is_empty());

        let mut store = store;
        let batch = store.begin().unwrap();
        assert!(batch.is_tombstoned(feed, "old-1").unwrap());
        assert!(!batch.is_tombstoned(feed, "kept-old").unwrap());
        let kept = batch.find_item(feed, "kept-old").unwrap().unwrap();
        assert!(kept.raw_pruned);
        drop(batch);

        // Pruning again finds nothing more; vacuum keeps everything that is left.
        assert_eq!(store.prune(cutoff, now, false).unwrap(), Pruned::default());
        store.vacuum().unwrap();
        assert_eq!(count(&store, "SELECT count(*) FROM items"), 3);
        assert_eq!(store.health_figures().unwrap().wal_bytes, 0);
    }

    #[test]
    fn the_probe_needs_an_existing_database() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        drop(Store::open(&path).unwrap());
        probe_writable(&path, Duration::from_millis(100)).unwrap();
        assert!(probe_writable(&dir.path().join("missing"), Duration::from_millis(100)).is_err());
    }
}
