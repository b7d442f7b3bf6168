//! SQLite storage for newsdedup.
//!
//! This crate owns the database file and all SQL: the schema and its migrations ([`schema`]),
//! the feeds table and its schedule ([`feeds`]), the per-feed write transaction that stores
//! items, their stories and the feed's validators together ([`batch`]), the read queries
//! behind `stories`, `show`, `stats`, `export` and the served pages ([`inspect`]), full-text
//! search ([`search`]), upkeep: health figures and WAL checkpoints ([`maintenance`]), the
//! statistics of learned per-feed templates ([`templates`]) and the reading back of stored
//! items to clean them again ([`reclean`]). It knows nothing of HTTP, cleaning or fingerprint
//! algorithms: callers pass in what those produced.
//!
//! Opening a database creates its folder, turns on foreign keys and WAL (so people can read
//! the file while a daemon writes), sets `synchronous=NORMAL` (durable at each checkpoint,
//! never corrupt), a busy timeout and a limit on the size the WAL is left at after a
//! checkpoint, then applies pending migrations.

pub mod batch;
pub mod dedup;
pub mod feeds;
pub mod inspect;
pub mod maintenance;
pub mod reclean;
pub mod schema;
pub mod search;
pub mod templates;

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use batch::{FeedBatch, NewItem, StoredItem};
pub use dedup::{DedupColumns, DedupKey, DedupRow, ExplainRow, RefeatureRow, RefeaturedItem};
pub use feeds::{FeedOutcome, FeedRow};
pub use inspect::{ExportRow, FeedStats, ItemDetail, Stats, StoryDetail, StoryFilter, StorySummary};
pub use maintenance::{Checkpoint, HealthFigures};
pub use reclean::StoredRawItem;
pub use search::SearchHit;
pub use templates::{TemplateFeedRow, TemplateLineRow, SHORT_LINE_WORDS};

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create the folder for the database {}: {source}", path.display())]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot open the database {}: {source}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("the database {} was written by a newer newsdedup (schema version {found}, this build knows {known})", path.display())]
    TooNew { path: PathBuf, found: i64, known: i64 },
    #[error("cannot upgrade the database {} to schema version {version}: {reason}", path.display())]
    Migration { path: PathBuf, version: usize, reason: String },
    #[error("the group's write transaction was rolled back by SQLite after an error: none of its feeds is stored")]
    GroupLost,
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The largest size, in bytes, a -wal file is left at after a checkpoint.
const JOURNAL_SIZE_LIMIT: i64 = 64 * 1024 * 1024;

/// The page size of a database this build creates, in bytes (see `configure`).
const PAGE_SIZE: i64 = 16 * 1024;

/// The page cache of a connection, in KiB (see `configure`).
const PAGE_CACHE_KIB: i64 = 64 * 1024;

/// Prepared statements kept compiled per connection.
const STATEMENT_CACHE: usize = 128;

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = schema::MIGRATIONS.len() as i64;

/// The database. One `Store` owns one connection; the pipeline has exactly one writer.
pub struct Store {
    conn: Connection,
    path: PathBuf,
    /// A group transaction is open (see [`Store::begin_group`]).
    in_group: bool,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Store> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|source| StoreError::CreateDir { path: parent.to_path_buf(), source })?;
        }
        let open_err = |source| StoreError::Open { path: path.to_path_buf(), source };
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(open_err)?;
        let mut store = Store { conn, path: path.to_path_buf(), in_group: false };
        store.configure().map_err(open_err)?;
        store.migrate()?;
        Ok(store)
    }

    /// Opens an existing database without migrating or writing (for people's queries while a
    /// daemon runs). Fails if the file does not exist.
    pub fn open_read_only(path: &Path) -> Result<Store> {
        let open_err = |source| StoreError::Open { path: path.to_path_buf(), source };
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(open_err)?;
        conn.busy_timeout(Duration::from_secs(10)).map_err(open_err)?;
        // Touch the schema so that a file that is not a database fails here, clearly.
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(open_err)?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::TooNew { path: path.to_path_buf(), found: version, known: SCHEMA_VERSION });
        }
        Ok(Store { conn, path: path.to_path_buf(), in_group: false })
    }

    fn configure(&mut self) -> rusqlite::Result<()> {
        self.conn.busy_timeout(Duration::from_secs(10))?;
        // Reading the schema first makes a corrupt or non-database file fail on open.
        self.conn.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))?;
        // A new database gets 16 KiB pages instead of SQLite's 4 KiB (an existing file keeps
        // its own: the setting does nothing once the file has pages). An item's row (its raw
        // and clean text, some 6 KB on average) then fits in one page instead of spilling into
        // a chain of overflow pages, and the indexes the writer updates for each item are
        // shallower: a tenth less time per item on a large ingest, measured.
        self.conn.pragma_update(None, "page_size", PAGE_SIZE)?;
        self.conn.pragma_update(None, "foreign_keys", true)?;
        let mode: String = self.conn.pragma_update_and_check(None, "journal_mode", "wal", |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(journal_mode = %mode, "database could not switch to WAL mode");
        }
        self.conn.pragma_update(None, "synchronous", "NORMAL")?;
        // After a checkpoint, a -wal file that grew (a big transaction, a long reader) is cut
        // back to this size instead of staying large for the life of the process.
        self.conn.pragma_update(None, "journal_size_limit", JOURNAL_SIZE_LIMIT)?;
        // SQLite folds the WAL back into the database (and syncs it) whenever it passes this
        // many pages. Its default, 1,000 pages (4 MiB), makes a busy writer checkpoint every
        // few feeds and copy the pages it keeps rewriting (the items and stories B-trees, the
        // full-text index) once per checkpoint: a tenth of the writer's time on a large
        // ingest, measured. At the size the WAL is cut back to anyway, each page is copied
        // once per 64 MiB of writes.
        let page_size: i64 = self.conn.pragma_query_value(None, "page_size", |r| r.get(0))?;
        self.conn.pragma_update(None, "wal_autocheckpoint", JOURNAL_SIZE_LIMIT / page_size.max(512))?;
        // SQLite's default page cache (2 MiB) holds the indexes the writer walks for each item
        // (keys, fingerprints, stories, template lines) only while the database is small;
        // past some 100 MB, a fifth of the writer's time went to reading pages back from the
        // OS. The cache fills only as pages are read, so a small database does not pay for it.
        self.conn.pragma_update(None, "cache_size", -PAGE_CACHE_KIB)?;
        // Cached statements must stay compiled. The writer's path through one item uses a few
        // dozen distinct statements (more than rusqlite's default cache of 16); and without
        // the query planner stability guarantee, SQLite plans some statements (ORDER BY with
        // an equality on a bound value, among others) from the values bound, and compiles
        // them again every time they come back from the cache with new values: a fifth of
        // the writer's time, measured. Plans that do not depend on the values are what we
        // want anyway.
        self.conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        self.conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
        Ok(())
    }

    fn migrate(&mut self) -> Result<()> {
        let path = self.path.clone();
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Exclusive)?;
        let version: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::TooNew { path, found: version, known: SCHEMA_VERSION });
        }
        for (i, migration) in schema::MIGRATIONS.iter().enumerate().skip(version as usize) {
            // SQLite's own message, without the migration's whole SQL text that some errors carry.
            tx.execute_batch(migration).map_err(|e| StoreError::Migration {
                path: path.clone(),
                version: i + 1,
                reason: match e {
                    rusqlite::Error::SqlInputError { msg, .. } | rusqlite::Error::SqliteFailure(_, Some(msg)) => msg,
                    other => other.to_string(),
                },
            })?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)?;
            tracing::debug!(version = i + 1, "applied schema migration");
        }
        tx.commit()?;
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version of the open database.
    pub fn schema_version(&self) -> Result<i64> {
        Ok(self.conn.pragma_query_value(None, "user_version", |r| r.get(0))?)
    }

    /// A value from the meta table.
    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        use rusqlite::OptionalExtension;
        Ok(self.conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0)).optional()?)
    }

    pub fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO meta(key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [key, value],
        )?;
        Ok(())
    }

    /// Starts the write transaction for one feed's results. Everything written through the
    /// batch becomes visible at once on [`FeedBatch::commit`], or not at all. Inside a group,
    /// it becomes visible with the group, all of it or nothing, and it can be rolled back
    /// alone.
    pub fn begin(&mut self) -> Result<FeedBatch<'_>> {
        FeedBatch::begin(&self.conn, self.in_group)
    }

    /// Opens a group: the feed batches begun until [`Store::commit_group`] commit together,
    /// each one still all or nothing (a savepoint). A busy writer commits fewer, larger
    /// transactions, and pages that several feeds touch (index pages, stories, the full-text
    /// index) are written once per group instead of once per feed. A crash before the group
    /// commits loses the group's feeds whole: their validators with their items, so they are
    /// fetched again.
    pub fn begin_group(&mut self) -> Result<()> {
        if !self.in_group {
            self.conn.execute_batch("BEGIN IMMEDIATE")?;
            self.in_group = true;
        }
        Ok(())
    }

    /// Commits the open group, if any. On error the group is rolled back: none of it happened.
    pub fn commit_group(&mut self) -> Result<()> {
        if !self.in_group {
            return Ok(());
        }
        self.in_group = false;
        if self.conn.is_autocommit() {
            return Err(StoreError::GroupLost);
        }
        let committed = search::sync_index(&self.conn).and_then(|()| self.conn.execute_batch("COMMIT"));
        if let Err(e) = committed {
            if !self.conn.is_autocommit() {
                let _ = self.conn.execute_batch("ROLLBACK");
            }
            return Err(e.into());
        }
        Ok(())
    }

    /// Whether a group is open (its feeds are not yet committed).
    #[cfg(test)]
    pub(crate) fn in_group(&self) -> bool {
        self.in_group
    }

    /// Runs a quick integrity check (`PRAGMA quick_check`); `Ok(())` when the file is sound.
    pub fn quick_check(&self) -> Result<Vec<String>> {
        let mut stmt = self.conn.prepare("PRAGMA quick_check")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?.collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows.into_iter().filter(|r| r != "ok").collect())
    }

    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }
}

/// Formats a time as the store writes it: RFC 3339, UTC, whole seconds, `Z`.
pub fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Parses a stored timestamp.
pub fn parse_timestamp(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&Utc))
}

/// A 64-bit fingerprint as SQLite stores it: the same bits as a signed integer.
pub fn to_sql_u64(v: u64) -> i64 {
    v as i64
}

pub fn from_sql_u64(v: i64) -> u64 {
    v as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_creates_folder_and_migrates_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/dir/news.db");
        let store = Store::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
        drop(store);
        let store = Store::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
        let mode: String = store.conn.pragma_query_value(None, "journal_mode", |r| r.get(0)).unwrap();
        assert_eq!(mode, "wal");
        let fk: i64 = store.conn.pragma_query_value(None, "foreign_keys", |r| r.get(0)).unwrap();
        assert_eq!(fk, 1);
    }

    #[test]
    fn a_new_database_has_large_pages_and_an_existing_one_keeps_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let pages = |store: &Store| -> (i64, i64) {
            let size = store.conn.pragma_query_value(None, "page_size", |r| r.get(0)).unwrap();
            let checkpoint = store.conn.pragma_query_value(None, "wal_autocheckpoint", |r| r.get(0)).unwrap();
            (size, checkpoint)
        };
        let store = Store::open(&dir.path().join("new.db")).unwrap();
        assert_eq!(pages(&store), (16384, 4096), "64 MiB of WAL between checkpoints");

        // A database made with SQLite's default pages (by an earlier release, or by hand).
        let old = dir.path().join("old.db");
        Connection::open(&old).unwrap().execute_batch("PRAGMA journal_mode = wal; CREATE TABLE t (x);").unwrap();
        let store = Store::open(&old).unwrap();
        assert_eq!(pages(&store), (4096, 16384), "64 MiB of WAL between checkpoints");
        assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    }

    #[test]
    fn a_file_that_is_not_a_database_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("junk.db");
        std::fs::write(&path, b"this is not sqlite, just some text that is long enough to have a header").unwrap();
        let err = Store::open(&path).unwrap_err();
        assert!(matches!(err, StoreError::Open { .. }), "{err}");
        assert!(err.to_string().contains("junk.db"));
        // The file is left exactly as it was.
        assert!(std::fs::read(&path).unwrap().starts_with(b"this is not sqlite"));
    }

    #[test]
    fn a_migration_that_cannot_apply_names_its_version_and_keeps_the_data() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("news.db");
        {
            // A database at schema version 2 whose owner already made a table that migration 3
            // creates (by hand, as people do with their own queries).
            let conn = Connection::open(&path).unwrap();
            for m in &schema::MIGRATIONS[..2] {
                conn.execute_batch(m).unwrap();
            }
            conn.pragma_update(None, "user_version", 2).unwrap();
            conn.execute_batch("CREATE TABLE story_overview (x); INSERT INTO feeds (url, added_at) VALUES ('https://a.example/feed', '2026-01-01T00:00:00Z')")
                .unwrap();
        }
        let err = Store::open(&path).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, StoreError::Migration { version: 3, .. }), "{text}");
        assert!(text.contains("news.db") && text.contains("story_overview"), "{text}");
        // One line that says what went wrong, not the migration's SQL.
        assert!(!text.contains('\n') && !text.contains("CREATE VIEW"), "{text}");
        // Nothing was changed: still version 2, the feed still there.
        let conn = Connection::open(&path).unwrap();
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
        assert_eq!(version, 2);
        let feeds: i64 = conn.query_row("SELECT count(*) FROM feeds", [], |r| r.get(0)).unwrap();
        assert_eq!(feeds, 1);
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new.db");
        let store = Store::open(&path).unwrap();
        store.conn.pragma_update(None, "user_version", SCHEMA_VERSION + 5).unwrap();
        drop(store);
        assert!(matches!(Store::open(&path), Err(StoreError::TooNew { .. })));
    }

    #[test]
    fn fingerprints_round_trip_through_signed_integers() {
        for v in [0u64, 1, u64::MAX, 1 << 63, 0xdead_beef_cafe_f00d] {
            assert_eq!(from_sql_u64(to_sql_u64(v)), v);
        }
    }
}
