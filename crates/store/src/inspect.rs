//! Read queries: the index rebuild at start-up, and what `stories`, `show`, `search`, `stats`
//! and `export` print.

use crate::{from_sql_u64, parse_timestamp, timestamp, Result, Store};
use chrono::{DateTime, Utc};
use newsdedup_model::{FeedId, Fingerprint, ItemId, RemovedLine, StoryId};
use rusqlite::{params, OptionalExtension};
use serde::Serialize;

/// What the deduplicator's index needs of a stored item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexRow {
    pub item: ItemId,
    pub story: StoryId,
    pub feed: FeedId,
    pub fingerprint: Fingerprint,
    pub word_count: u32,
    pub canonical_link: Option<String>,
    pub platform_id: Option<String>,
    /// Publication time, or fetch time when the feed gave none.
    pub published: DateTime<Utc>,
}

/// One line of `newsdedup stories`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StorySummary {
    pub id: i64,
    pub title: Option<String>,
    pub link: Option<String>,
    pub item_count: i64,
    pub feed_count: i64,
    pub first_seen_at: String,
    pub last_seen_at: String,
    pub published_at: Option<String>,
}

/// Filters for [`Store::stories`].
#[derive(Debug, Clone, Default)]
pub struct StoryFilter {
    /// Only stories last seen at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only stories with an item from this feed (its URL as stored).
    pub feed: Option<String>,
    pub min_items: Option<i64>,
    pub limit: Option<i64>,
}

/// One item of a story, as `newsdedup show` lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ItemDetail {
    pub id: i64,
    pub feed_url: String,
    pub guid: String,
    pub title: Option<String>,
    pub link: Option<String>,
    pub published_at: Option<String>,
    pub fetched_at: String,
    pub is_canonical: bool,
    pub match_method: Option<String>,
    pub matched_item_id: Option<i64>,
    pub distance: Option<i64>,
    pub fingerprint: String,
    pub removed_lines: Vec<RemovedLine>,
}

/// A story with its canonical text and all its items.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoryDetail {
    #[serde(flatten)]
    pub summary: StorySummary,
    pub canonical_item_id: Option<i64>,
    pub text: String,
    pub items: Vec<ItemDetail>,
}

/// Per-feed figures for `newsdedup stats`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FeedStats {
    pub id: i64,
    pub url: String,
    pub title: Option<String>,
    pub items: i64,
    /// Items that belong to a story whose canonical item is another feed's.
    pub reposts: i64,
    pub removed_lines: i64,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub error_count: i64,
}

/// Totals for `newsdedup stats`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stats {
    pub feeds: i64,
    pub feeds_failing: i64,
    pub items: i64,
    pub stories: i64,
    /// Items folded into a story started by another item.
    pub reposts_folded: i64,
    pub removed_lines: i64,
    pub per_feed: Vec<FeedStats>,
}

/// One item row of `export --format csv`, with its story.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExportRow {
    pub story_id: Option<i64>,
    pub story_title: Option<String>,
    pub item_id: i64,
    pub is_canonical: bool,
    pub feed_url: String,
    pub guid: String,
    pub link: Option<String>,
    pub title: Option<String>,
    pub clean_title: Option<String>,
    pub published_at: Option<String>,
    pub fetched_at: String,
    pub match_method: Option<String>,
    pub distance: Option<i64>,
    pub clean_text: String,
}

const SUMMARY_SELECT: &str = "SELECT s.id, s.title, c.link, s.item_count, \
        (SELECT count(DISTINCT feed_id) FROM items WHERE story_id = s.id), s.first_seen_at, s.last_seen_at, c.published_at \
    FROM stories s LEFT JOIN items c ON c.id = s.canonical_item_id";

fn summary_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<StorySummary> {
    Ok(StorySummary {
        id: r.get(0)?,
        title: r.get(1)?,
        link: r.get(2)?,
        item_count: r.get(3)?,
        feed_count: r.get(4)?,
        first_seen_at: r.get(5)?,
        last_seen_at: r.get(6)?,
        published_at: r.get(7)?,
    })
}

impl Store {
    /// Every stored item that belongs to a story and was published (or, lacking a date,
    /// fetched) at or after `since`, in storage order, for rebuilding the dedup index.
    pub fn index_rows(&self, since: Option<DateTime<Utc>>) -> Result<Vec<IndexRow>> {
        let since = since.map(timestamp).unwrap_or_default();
        let mut stmt = self.conn().prepare(
            "SELECT id, story_id, feed_id, fingerprint, content_hash, word_count, canonical_link, platform_id, \
                    COALESCE(published_at, fetched_at) \
             FROM items WHERE story_id IS NOT NULL AND COALESCE(published_at, fetched_at) >= ?1 ORDER BY id",
        )?;
        let rows = stmt
            .query_map([since], |r| {
                Ok(IndexRow {
                    item: ItemId(r.get(0)?),
                    story: StoryId(r.get(1)?),
                    feed: FeedId(r.get(2)?),
                    fingerprint: Fingerprint {
                        simhash: from_sql_u64(r.get(3)?),
                        content_hash: from_sql_u64(r.get(4)?),
                    },
                    word_count: r.get::<_, i64>(5)?.try_into().unwrap_or(0),
                    canonical_link: r.get(6)?,
                    platform_id: r.get(7)?,
                    published: parse_timestamp(&r.get::<_, String>(8)?).unwrap_or(DateTime::<Utc>::UNIX_EPOCH),
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Stories, most recently seen first.
    pub fn stories(&self, filter: &StoryFilter) -> Result<Vec<StorySummary>> {
        let sql = format!(
            "{SUMMARY_SELECT} WHERE (?1 IS NULL OR s.last_seen_at >= ?1) \
               AND (?2 IS NULL OR EXISTS (SELECT 1 FROM items i JOIN feeds f ON f.id = i.feed_id \
                                          WHERE i.story_id = s.id AND f.url = ?2)) \
               AND s.item_count >= ?3 \
             ORDER BY s.last_seen_at DESC, s.id DESC LIMIT ?4"
        );
        let mut stmt = self.conn().prepare(&sql)?;
        let rows = stmt
            .query_map(
                params![
                    filter.since.map(timestamp),
                    filter.feed,
                    filter.min_items.unwrap_or(0),
                    filter.limit.unwrap_or(-1)
                ],
                summary_from_row,
            )?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// A story with its canonical text, items and removed lines.
    pub fn story_detail(&self, id: StoryId) -> Result<Option<StoryDetail>> {
        let sql = format!("{SUMMARY_SELECT} WHERE s.id = ?1");
        let Some(summary) = self.conn().query_row(&sql, [id.0], summary_from_row).optional()? else {
            return Ok(None);
        };
        let (canonical_item_id, text): (Option<i64>, Option<String>) = self.conn().query_row(
            "SELECT s.canonical_item_id, c.clean_text FROM stories s LEFT JOIN items c ON c.id = s.canonical_item_id \
             WHERE s.id = ?1",
            [id.0],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let mut stmt = self.conn().prepare(
            "SELECT i.id, f.url, i.guid, i.title, i.link, i.published_at, i.fetched_at, i.match_method, \
                    i.matched_item_id, i.distance, i.fingerprint \
             FROM items i JOIN feeds f ON f.id = i.feed_id WHERE i.story_id = ?1 \
             ORDER BY COALESCE(i.published_at, i.fetched_at), i.id",
        )?;
        let mut items = stmt
            .query_map([id.0], |r| {
                let id: i64 = r.get(0)?;
                Ok(ItemDetail {
                    id,
                    feed_url: r.get(1)?,
                    guid: r.get(2)?,
                    title: r.get(3)?,
                    link: r.get(4)?,
                    published_at: r.get(5)?,
                    fetched_at: r.get(6)?,
                    is_canonical: Some(id) == canonical_item_id,
                    match_method: r.get(7)?,
                    matched_item_id: r.get(8)?,
                    distance: r.get(9)?,
                    fingerprint: format!("{:016x}", from_sql_u64(r.get(10)?)),
                    removed_lines: Vec::new(),
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let mut removed = self
            .conn()
            .prepare("SELECT position, line, rule FROM removed_lines WHERE item_id = ?1 ORDER BY position")?;
        for item in &mut items {
            item.removed_lines = removed
                .query_map([item.id], |r| Ok(RemovedLine { position: r.get(0)?, line: r.get(1)?, rule: r.get(2)? }))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
        }
        Ok(Some(StoryDetail { summary, canonical_item_id, text: text.unwrap_or_default(), items }))
    }

    /// Stories whose title or canonical text contains every word of `query` (case-insensitive
    /// for ASCII), most recently seen first.
    pub fn search(&self, query: &str, limit: i64) -> Result<Vec<StorySummary>> {
        let words: Vec<String> = query
            .split_whitespace()
            .map(|w| format!("%{}%", w.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")))
            .collect();
        if words.is_empty() {
            return Ok(Vec::new());
        }
        let mut sql = format!("{SUMMARY_SELECT} WHERE 1");
        for i in 0..words.len() {
            sql.push_str(&format!(
                " AND (s.title LIKE ?{n} ESCAPE '\\' OR c.clean_text LIKE ?{n} ESCAPE '\\')",
                n = i + 1
            ));
        }
        sql.push_str(&format!(" ORDER BY s.last_seen_at DESC, s.id DESC LIMIT {limit}"));
        let mut stmt = self.conn().prepare(&sql)?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(words.iter()), summary_from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Totals and per-feed figures.
    pub fn stats(&self) -> Result<Stats> {
        let conn = self.conn();
        let (feeds, feeds_failing): (i64, i64) =
            conn.query_row("SELECT count(*), COALESCE(sum(last_error IS NOT NULL), 0) FROM feeds", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?;
        let items: i64 = conn.query_row("SELECT count(*) FROM items", [], |r| r.get(0))?;
        let stories: i64 = conn.query_row("SELECT count(*) FROM stories", [], |r| r.get(0))?;
        let in_stories: i64 =
            conn.query_row("SELECT count(*) FROM items WHERE story_id IS NOT NULL", [], |r| r.get(0))?;
        let removed_lines: i64 = conn.query_row("SELECT count(*) FROM removed_lines", [], |r| r.get(0))?;
        let mut stmt = conn.prepare(
            "SELECT f.id, f.url, f.title, \
                    (SELECT count(*) FROM items i WHERE i.feed_id = f.id), \
                    (SELECT count(*) FROM items i JOIN stories s ON s.id = i.story_id \
                       JOIN items c ON c.id = s.canonical_item_id \
                     WHERE i.feed_id = f.id AND c.feed_id != f.id), \
                    (SELECT count(*) FROM removed_lines r JOIN items i ON i.id = r.item_id WHERE i.feed_id = f.id), \
                    f.last_status, f.last_error, f.error_count \
             FROM feeds f ORDER BY f.id",
        )?;
        let per_feed = stmt
            .query_map([], |r| {
                Ok(FeedStats {
                    id: r.get(0)?,
                    url: r.get(1)?,
                    title: r.get(2)?,
                    items: r.get(3)?,
                    reposts: r.get(4)?,
                    removed_lines: r.get(5)?,
                    last_status: r.get(6)?,
                    last_error: r.get(7)?,
                    error_count: r.get(8)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(Stats {
            feeds,
            feeds_failing,
            items,
            stories,
            reposts_folded: in_stories - stories,
            removed_lines,
            per_feed,
        })
    }

    /// Calls `each` for every item, grouped by story (stories oldest first, the canonical item
    /// first in each), then items without a story.
    pub fn export_rows(&self, mut each: impl FnMut(ExportRow) -> std::io::Result<()>) -> Result<std::io::Result<()>> {
        let mut stmt = self.conn().prepare(
            "SELECT i.story_id, s.title, i.id, s.canonical_item_id = i.id, f.url, i.guid, i.link, i.title, \
                    i.clean_title, i.published_at, i.fetched_at, i.match_method, i.distance, i.clean_text \
             FROM items i JOIN feeds f ON f.id = i.feed_id LEFT JOIN stories s ON s.id = i.story_id \
             ORDER BY i.story_id IS NULL, s.first_seen_at, i.story_id, s.canonical_item_id = i.id DESC, \
                      COALESCE(i.published_at, i.fetched_at), i.id",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let row = ExportRow {
                story_id: r.get(0)?,
                story_title: r.get(1)?,
                item_id: r.get(2)?,
                is_canonical: r.get::<_, Option<bool>>(3)?.unwrap_or(false),
                feed_url: r.get(4)?,
                guid: r.get(5)?,
                link: r.get(6)?,
                title: r.get(7)?,
                clean_title: r.get(8)?,
                published_at: r.get(9)?,
                fetched_at: r.get(10)?,
                match_method: r.get(11)?,
                distance: r.get(12)?,
                clean_text: r.get(13)?,
            };
            if let Err(e) = each(row) {
                return Ok(Err(e));
            }
        }
        Ok(Ok(()))
    }

    /// Every item's id and clean text, for recomputing fingerprints after an algorithm change.
    pub fn item_texts(&self) -> Result<Vec<(ItemId, String)>> {
        let mut stmt = self.conn().prepare("SELECT id, clean_text FROM items ORDER BY id")?;
        let rows = stmt.query_map([], |r| Ok((ItemId(r.get(0)?), r.get(1)?)))?.collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Overwrites stored fingerprints (after an algorithm change), all in one transaction,
    /// and records the algorithm version they were computed with.
    pub fn rewrite_fingerprints(
        &mut self,
        rows: &[(ItemId, Fingerprint, u32)],
        version_key: &str,
        version: &str,
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        {
            let mut stmt =
                tx.prepare("UPDATE items SET fingerprint = ?2, content_hash = ?3, word_count = ?4 WHERE id = ?1")?;
            for (id, fp, words) in rows {
                stmt.execute(params![id.0, crate::to_sql_u64(fp.simhash), crate::to_sql_u64(fp.content_hash), words])?;
            }
            tx.execute(
                "INSERT INTO meta(key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                [version_key, version],
            )?;
        }
        tx.commit()?;
        Ok(())
    }
}

/// Parses an RFC 3339 value read from the store, for callers that need times.
pub fn stored_time(s: &str) -> Option<DateTime<Utc>> {
    parse_timestamp(s)
}
