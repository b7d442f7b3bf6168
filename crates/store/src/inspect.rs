//! Read queries: what `stories`, `show`, `stats` and
//! `export` print, the exported feeds and the HTML page. They read through the views of
//! migration 2 (`story_overview`, `story_items`, `feed_health`), so the programs and people's
//! SQL see the same figures. Full-text search is in [`crate::search`].

use crate::{from_sql_u64, parse_timestamp, timestamp, Result, Store};
use chrono::{DateTime, Utc};
use newsdedup_model::{RemovedLine, StoryId};
use rusqlite::{params, OptionalExtension};
use serde::Serialize;

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
    /// The last time an item of the story was added or changed.
    pub updated_at: String,
    /// The canonical item's publication time, as its feed gave it.
    pub published_at: Option<String>,
    /// The feed of the canonical item.
    pub canonical_feed_url: Option<String>,
}

/// Filters for [`Store::stories`].
#[derive(Debug, Clone, Default)]
pub struct StoryFilter {
    /// Only stories last seen at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only stories with an item from this feed (its URL as stored).
    pub feed: Option<String>,
    pub min_items: Option<i64>,
    /// Only stories whose title or canonical text matches these words (see
    /// [`crate::search::fts_query`]).
    pub query: Option<String>,
    pub limit: Option<i64>,
}

/// One item of a story, as `newsdedup show` lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ItemDetail {
    pub id: i64,
    pub feed_url: String,
    pub feed_title: Option<String>,
    pub guid: String,
    pub title: Option<String>,
    pub link: Option<String>,
    pub published_at: Option<String>,
    pub fetched_at: String,
    pub is_canonical: bool,
    /// Seconds between the canonical item's publication and this one's (publication time, or
    /// fetch time when the feed gave none).
    pub lag_seconds: Option<i64>,
    pub match_method: Option<String>,
    pub matched_item_id: Option<i64>,
    pub distance: Option<i64>,
    /// Verified text similarity to the matched item, 0..1, when the deduplicator measured it.
    pub similarity: Option<f64>,
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
    /// `new` (never fetched), `ok` or `failing`.
    pub status: String,
    pub items: i64,
    /// Items that belong to a story whose canonical item is another feed's.
    pub reposts: i64,
    /// `reposts / items`, rounded to three decimals; `None` for a feed without items.
    pub repost_share: Option<f64>,
    pub removed_lines: i64,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub error_count: i64,
    pub last_fetched_at: Option<String>,
    pub last_item_at: Option<String>,
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
    /// The verified text similarity with the item it matched (0 to 1).
    pub similarity: Option<f64>,
    /// Seconds between the canonical item's publication and this item's (published time, or
    /// else fetched time); `None` outside a story.
    pub lag_seconds: Option<i64>,
    pub clean_text: String,
}

/// The columns of [`StorySummary`], from the `story_overview` view aliased `v`.
pub(crate) const SUMMARY_COLUMNS: &str = "v.story_id, v.title, v.link, v.item_count, v.feed_count, v.first_seen_at, \
        v.last_seen_at, COALESCE(v.updated_at, v.last_seen_at), v.published_at, v.canonical_feed_url";

pub(crate) fn summary_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<StorySummary> {
    Ok(StorySummary {
        id: r.get(0)?,
        title: r.get(1)?,
        link: r.get(2)?,
        item_count: r.get(3)?,
        feed_count: r.get(4)?,
        first_seen_at: r.get(5)?,
        last_seen_at: r.get(6)?,
        updated_at: r.get(7)?,
        published_at: r.get(8)?,
        canonical_feed_url: r.get(9)?,
    })
}

impl Store {
    /// Stories, most recently seen first.
    ///
    /// The filters pick story ids from the `stories` table (indexed on `last_seen_at`) before
    /// the `story_overview` view computes its per-story counts, so a short page of a large
    /// database costs a short page of work.
    pub fn stories(&self, filter: &StoryFilter) -> Result<Vec<StorySummary>> {
        let query = match filter.query.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
            Some(q) => match crate::search::fts_query(q) {
                Some(fts) => Some(fts),
                // Words with nothing searchable in them match no story.
                None => return Ok(Vec::new()),
            },
            None => None,
        };
        let sql = format!(
            "SELECT {SUMMARY_COLUMNS} FROM story_overview v \
             JOIN (SELECT s.id FROM stories s \
                   WHERE (?1 IS NULL OR s.last_seen_at >= ?1) \
                     AND (?2 IS NULL OR s.id IN (SELECT i.story_id FROM items i \
                                                 WHERE i.feed_id = (SELECT id FROM feeds WHERE url = ?2))) \
                     AND s.item_count >= ?3 \
                     AND (?4 IS NULL OR s.id IN (SELECT rowid FROM stories_fts WHERE stories_fts MATCH ?4)) \
                   ORDER BY s.last_seen_at DESC, s.id DESC LIMIT ?5) page ON page.id = v.story_id \
             ORDER BY v.last_seen_at DESC, v.story_id DESC"
        );
        let mut stmt = self.conn().prepare_cached(&sql)?;
        let rows = stmt
            .query_map(
                params![
                    filter.since.map(timestamp),
                    filter.feed,
                    filter.min_items.unwrap_or(0),
                    query,
                    filter.limit.unwrap_or(-1)
                ],
                summary_from_row,
            )?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// A story with its canonical text, items and removed lines.
    pub fn story_detail(&self, id: StoryId) -> Result<Option<StoryDetail>> {
        let sql = format!("SELECT {SUMMARY_COLUMNS} FROM story_overview v WHERE v.story_id = ?1");
        let Some(summary) = self.conn().prepare_cached(&sql)?.query_row([id.0], summary_from_row).optional()? else {
            return Ok(None);
        };
        Ok(Some(self.detail_of(summary)?))
    }

    /// The stories [`Store::stories`] selects, each with its canonical text, items and removed
    /// lines (for the exported feeds and the HTML page).
    pub fn story_details(&self, filter: &StoryFilter) -> Result<Vec<StoryDetail>> {
        self.stories(filter)?.into_iter().map(|s| self.detail_of(s)).collect()
    }

    fn detail_of(&self, summary: StorySummary) -> Result<StoryDetail> {
        let (canonical_item_id, text): (Option<i64>, Option<String>) = self
            .conn()
            .prepare_cached(
                "SELECT s.canonical_item_id, c.clean_text FROM stories s \
                 LEFT JOIN items c ON c.id = s.canonical_item_id WHERE s.id = ?1",
            )?
            .query_row([summary.id], |r| Ok((r.get(0)?, r.get(1)?)))?;
        let mut stmt = self.conn().prepare_cached(
            "SELECT si.item_id, si.feed_url, si.feed_title, i.guid, si.title, si.link, si.published_at, \
                    si.fetched_at, si.is_canonical, si.lag_seconds, si.match_method, si.matched_item_id, \
                    si.distance, si.similarity, i.fingerprint \
             FROM story_items si JOIN items i ON i.id = si.item_id WHERE si.story_id = ?1 \
             ORDER BY si.is_canonical DESC, COALESCE(si.published_at, si.fetched_at), si.item_id",
        )?;
        let mut items = stmt
            .query_map([summary.id], |r| {
                Ok(ItemDetail {
                    id: r.get(0)?,
                    feed_url: r.get(1)?,
                    feed_title: r.get(2)?,
                    guid: r.get(3)?,
                    title: r.get(4)?,
                    link: r.get(5)?,
                    published_at: r.get(6)?,
                    fetched_at: r.get(7)?,
                    is_canonical: r.get::<_, Option<bool>>(8)?.unwrap_or(false),
                    lag_seconds: r.get(9)?,
                    match_method: r.get(10)?,
                    matched_item_id: r.get(11)?,
                    distance: r.get(12)?,
                    similarity: r.get(13)?,
                    fingerprint: format!("{:016x}", from_sql_u64(r.get(14)?)),
                    removed_lines: Vec::new(),
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let mut removed = self
            .conn()
            .prepare_cached("SELECT position, line, rule FROM removed_lines WHERE item_id = ?1 ORDER BY position")?;
        for item in &mut items {
            item.removed_lines = removed
                .query_map([item.id], |r| Ok(RemovedLine { position: r.get(0)?, line: r.get(1)?, rule: r.get(2)? }))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
        }
        Ok(StoryDetail { summary, canonical_item_id, text: text.unwrap_or_default(), items })
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
            "SELECT feed_id, url, title, status, items, reposts, repost_share, removed_lines, last_status, \
                    last_error, error_count, last_fetched_at, last_item_at \
             FROM feed_health ORDER BY feed_id",
        )?;
        let per_feed = stmt
            .query_map([], |r| {
                Ok(FeedStats {
                    id: r.get(0)?,
                    url: r.get(1)?,
                    title: r.get(2)?,
                    status: r.get(3)?,
                    items: r.get(4)?,
                    reposts: r.get(5)?,
                    repost_share: r.get(6)?,
                    removed_lines: r.get(7)?,
                    last_status: r.get(8)?,
                    last_error: r.get(9)?,
                    error_count: r.get(10)?,
                    last_fetched_at: r.get(11)?,
                    last_item_at: r.get(12)?,
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
                    i.clean_title, i.published_at, i.fetched_at, i.match_method, i.distance, i.clean_text, \
                    i.similarity, \
                    CAST(round((julianday(COALESCE(i.published_at, i.fetched_at)) \
                                - julianday(COALESCE(c.published_at, c.fetched_at))) * 86400) AS INTEGER) \
             FROM items i JOIN feeds f ON f.id = i.feed_id LEFT JOIN stories s ON s.id = i.story_id \
                  LEFT JOIN items c ON c.id = s.canonical_item_id \
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
                similarity: r.get(14)?,
                lag_seconds: r.get(15)?,
            };
            if let Err(e) = each(row) {
                return Ok(Err(e));
            }
        }
        Ok(Ok(()))
    }
}

/// Parses an RFC 3339 value read from the store, for callers that need times.
pub fn stored_time(s: &str) -> Option<DateTime<Utc>> {
    parse_timestamp(s)
}
