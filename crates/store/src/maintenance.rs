//! Keeping the database healthy while it runs for months: the figures the daemon's status
//! endpoint reports, the writability probe behind `/healthz`, and WAL checkpoints.

use crate::{parse_timestamp, Result, Store, StoreError};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OpenFlags};
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

    #[test]
    fn the_probe_fails_on_a_read_only_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        drop(Store::open(&path).unwrap());
        probe_writable(&path, Duration::from_millis(100)).unwrap();
        assert!(probe_writable(&dir.path().join("missing"), Duration::from_millis(100)).is_err());
    }
}
