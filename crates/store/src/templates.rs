//! The statistics behind learned per-feed templates (tables `template_feeds`,
//! `template_lines`, `template_anchors`).
//!
//! The normaliser decides what the numbers mean; this file only loads the rows a batch needs
//! and saves what the batch changed, inside the feed's write transaction, so that statistics
//! and the items cleaned with them are committed together or not at all.

use crate::{parse_timestamp, timestamp, to_sql_u64, FeedBatch, Result};
use chrono::{DateTime, Utc};
use newsdedup_model::FeedId;
use rusqlite::{params, OptionalExtension};

/// Template lines of at most this many words are indexed by their shape alone, to be counted
/// across feeds ([`FeedBatch::template_lines_everywhere`]).
pub const SHORT_LINE_WORDS: u16 = 6;

/// The counts of one line shape in one feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TemplateLineRow {
    pub shape: u64,
    pub items: u32,
    pub stories: u32,
    /// The feed's story count when the line first appeared.
    pub since: u32,
    /// Words in the line's shape.
    pub words: u16,
}

/// A feed's story count and the shape algorithm version its statistics were made with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TemplateFeedRow {
    pub stories: u32,
    pub shape_version: u32,
}

impl FeedBatch<'_> {
    /// The feed's template counters, if any were ever saved.
    pub fn template_feed(&self, feed: FeedId) -> Result<Option<TemplateFeedRow>> {
        Ok(self
            .tx()
            .prepare_cached("SELECT stories, shape_version FROM template_feeds WHERE feed_id = ?1")?
            .query_row([feed.0], |r| Ok(TemplateFeedRow { stories: r.get(0)?, shape_version: r.get(1)? }))
            .optional()?)
    }

    /// True when the feed has stored items.
    pub fn feed_has_items(&self, feed: FeedId) -> Result<bool> {
        Ok(self.tx().prepare_cached("SELECT 1 FROM items WHERE feed_id = ?1 LIMIT 1")?.exists([feed.0])?)
    }

    /// The stored counts of those of `shapes` the feed has seen.
    pub fn template_lines(&self, feed: FeedId, shapes: &[u64]) -> Result<Vec<TemplateLineRow>> {
        let mut stmt = self.tx().prepare_cached(
            "SELECT items, stories, since, words FROM template_lines WHERE feed_id = ?1 AND shape = ?2",
        )?;
        let mut out = Vec::new();
        for &shape in shapes {
            let row = stmt
                .query_row(params![feed.0, to_sql_u64(shape)], |r| {
                    Ok(TemplateLineRow {
                        shape,
                        items: r.get(0)?,
                        stories: r.get(1)?,
                        since: r.get(2)?,
                        words: r.get(3)?,
                    })
                })
                .optional()?;
            out.extend(row);
        }
        Ok(out)
    }

    /// Those of `shapes` that are anchors of stories already counted for the feed.
    pub fn template_anchors(&self, feed: FeedId, shapes: &[u64]) -> Result<Vec<u64>> {
        let mut stmt = self.tx().prepare_cached("SELECT 1 FROM template_anchors WHERE feed_id = ?1 AND shape = ?2")?;
        let mut out = Vec::new();
        for &shape in shapes {
            if stmt.exists(params![feed.0, to_sql_u64(shape)])? {
                out.push(shape);
            }
        }
        Ok(out)
    }

    /// Those of `shapes` that other feeds have learned as template lines.
    pub fn template_lines_elsewhere(&self, feed: FeedId, shapes: &[u64]) -> Result<Vec<u64>> {
        let mut stmt = self.tx().prepare_cached(
            "SELECT 1 FROM template_lines INDEXED BY template_lines_learned \
             WHERE shape = ?1 AND example IS NOT NULL AND feed_id != ?2 LIMIT 1",
        )?;
        let mut out = Vec::new();
        for &shape in shapes {
            if stmt.exists(params![to_sql_u64(shape), feed.0])? {
                out.push(shape);
            }
        }
        Ok(out)
    }

    /// For each of `shapes`, lines of at most [`SHORT_LINE_WORDS`] words: how many feeds hold
    /// the line, and in how many of their stories together (left out when no feed holds it).
    /// Longer lines are not indexed by shape alone, and are never found here.
    pub fn template_lines_everywhere(&self, shapes: &[u64]) -> Result<Vec<(u64, u32, u32)>> {
        // The constant must be the one of the index (migration 12) for SQLite to use it.
        let mut stmt = self.tx().prepare_cached(
            "SELECT count(*), COALESCE(sum(stories), 0) FROM template_lines INDEXED BY template_lines_short \
             WHERE shape = ?1 AND words <= 6",
        )?;
        let mut out = Vec::new();
        for &shape in shapes {
            let (feeds, stories): (u32, u32) = stmt.query_row([to_sql_u64(shape)], |r| Ok((r.get(0)?, r.get(1)?)))?;
            if feeds > 0 {
                out.push((shape, feeds, stories));
            }
        }
        Ok(out)
    }

    /// Saves a batch's changes: the feed's story count, the changed line counts (with an
    /// example text for lines that are now template lines), and the new anchors.
    pub fn save_template_stats(
        &self,
        feed: FeedId,
        feed_row: TemplateFeedRow,
        lines: &[(TemplateLineRow, Option<&str>)],
        anchors: &[u64],
        now: DateTime<Utc>,
    ) -> Result<()> {
        let tx = self.tx();
        tx.prepare_cached(
            "INSERT INTO template_feeds(feed_id, stories, shape_version) VALUES (?1, ?2, ?3) \
             ON CONFLICT(feed_id) DO UPDATE SET stories = excluded.stories, shape_version = excluded.shape_version",
        )?
        .execute(params![feed.0, feed_row.stories, feed_row.shape_version])?;
        let now = timestamp(now);
        let mut upsert = tx.prepare_cached(
            "INSERT INTO template_lines(feed_id, shape, items, stories, since, words, first_seen_at, last_seen_at, example) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8) \
             ON CONFLICT(feed_id, shape) DO UPDATE SET items = excluded.items, stories = excluded.stories, \
                 last_seen_at = excluded.last_seen_at, example = COALESCE(template_lines.example, excluded.example)",
        )?;
        for (row, example) in lines {
            upsert.execute(params![
                feed.0,
                to_sql_u64(row.shape),
                row.items,
                row.stories,
                row.since,
                row.words,
                now,
                example
            ])?;
        }
        let mut anchor = tx.prepare_cached(
            "INSERT INTO template_anchors(feed_id, shape, since) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
        )?;
        for &shape in anchors {
            anchor.execute(params![feed.0, to_sql_u64(shape), feed_row.stories])?;
        }
        Ok(())
    }

    /// Forgets evidence older than the last `keep_stories` stories of the feed: lines seen in
    /// a single story (prose, not template) and anchors. Template lines are kept.
    pub fn prune_template_stats(&self, feed: FeedId, keep_stories: u32) -> Result<usize> {
        let Some(row) = self.template_feed(feed)? else { return Ok(0) };
        let Some(before) = row.stories.checked_sub(keep_stories) else { return Ok(0) };
        let lines = self
            .tx()
            .prepare_cached("DELETE FROM template_lines WHERE feed_id = ?1 AND since < ?2 AND stories <= 1")?
            .execute(params![feed.0, before])?;
        let anchors = self
            .tx()
            .prepare_cached("DELETE FROM template_anchors WHERE feed_id = ?1 AND since < ?2")?
            .execute(params![feed.0, before])?;
        Ok(lines + anchors)
    }

    /// Deletes all of a feed's template statistics (before rebuilding them).
    pub fn clear_template_stats(&self, feed: FeedId) -> Result<()> {
        for sql in [
            "DELETE FROM template_lines WHERE feed_id = ?1",
            "DELETE FROM template_anchors WHERE feed_id = ?1",
            "DELETE FROM template_feeds WHERE feed_id = ?1",
        ] {
            self.tx().prepare_cached(sql)?.execute([feed.0])?;
        }
        Ok(())
    }

    /// When the earliest of `shapes` first appeared in the feed.
    pub fn template_first_seen(&self, feed: FeedId, shapes: &[u64]) -> Result<Option<DateTime<Utc>>> {
        let mut stmt =
            self.tx().prepare_cached("SELECT first_seen_at FROM template_lines WHERE feed_id = ?1 AND shape = ?2")?;
        let mut earliest: Option<DateTime<Utc>> = None;
        for &shape in shapes {
            let at: Option<String> = stmt.query_row(params![feed.0, to_sql_u64(shape)], |r| r.get(0)).optional()?;
            if let Some(at) = at.as_deref().and_then(parse_timestamp) {
                earliest = Some(earliest.map_or(at, |e| e.min(at)));
            }
        }
        Ok(earliest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Store;

    #[test]
    fn stats_round_trip_and_prune_keeps_template_lines() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("db")).unwrap();
        let now = Utc::now();
        let (feed, _) = store.add_feed("f", now).unwrap();
        let batch = store.begin().unwrap();
        assert_eq!(batch.template_feed(feed).unwrap(), None);
        assert!(!batch.feed_has_items(feed).unwrap());
        let footer = TemplateLineRow { shape: u64::MAX - 3, items: 40, stories: 40, since: 0, words: 3 };
        let prose = TemplateLineRow { shape: 7, items: 1, stories: 1, since: 2, words: 30 };
        batch
            .save_template_stats(
                feed,
                TemplateFeedRow { stories: 40, shape_version: 1 },
                &[(footer, Some("Join us: @example")), (prose, None)],
                &[7, 8],
                now,
            )
            .unwrap();
        assert_eq!(batch.template_lines(feed, &[footer.shape, prose.shape, 99]).unwrap(), [footer, prose]);
        assert_eq!(batch.template_anchors(feed, &[7, 8, 9]).unwrap(), [7, 8]);
        assert!(batch.template_first_seen(feed, &[7]).unwrap().is_some());
        let (other, _) = (FeedId(feed.0 + 1), ());
        batch.tx().execute("INSERT INTO feeds(id, url, added_at) VALUES (?1, 'g', 'now')", [other.0]).unwrap();
        assert_eq!(batch.template_lines_elsewhere(other, &[footer.shape, prose.shape]).unwrap(), [footer.shape]);
        assert!(batch.template_lines_elsewhere(feed, &[footer.shape]).unwrap().is_empty());
        assert_eq!(batch.template_lines_everywhere(&[footer.shape, 12345]).unwrap(), [(footer.shape, 1, 40)]);
        // Nothing is older than the last 100 stories; the prose line is older than the last 10
        // (the anchors were recorded at story 40 and stay).
        assert_eq!(batch.prune_template_stats(feed, 100).unwrap(), 0);
        assert_eq!(batch.prune_template_stats(feed, 10).unwrap(), 1);
        assert_eq!(batch.template_anchors(feed, &[7, 8]).unwrap(), [7, 8]);
        assert_eq!(batch.template_lines(feed, &[footer.shape, prose.shape]).unwrap(), [footer]);
        let example: String = batch
            .tx()
            .query_row("SELECT example FROM template_lines WHERE example IS NOT NULL", [], |r| r.get(0))
            .unwrap();
        assert_eq!(example, "Join us: @example");
        batch.commit().unwrap();
        let batch = store.begin().unwrap();
        batch.clear_template_stats(feed).unwrap();
        assert_eq!(batch.template_feed(feed).unwrap(), None);
        assert!(batch.template_lines(feed, &[footer.shape]).unwrap().is_empty());
    }

    #[test]
    fn lines_up_to_the_short_length_are_counted_across_feeds() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("db")).unwrap();
        let now = Utc::now();
        let feeds = [store.add_feed("f", now).unwrap().0, store.add_feed("g", now).unwrap().0];
        let batch = store.begin().unwrap();
        let line = |shape, words| TemplateLineRow { shape, items: 5, stories: 4, since: 0, words };
        let (short, long) = (line(1, SHORT_LINE_WORDS), line(2, SHORT_LINE_WORDS + 1));
        for feed in feeds {
            let stats = TemplateFeedRow { stories: 10, shape_version: 1 };
            batch.save_template_stats(feed, stats, &[(short, None), (long, None)], &[], now).unwrap();
        }
        assert_eq!(batch.template_lines_everywhere(&[short.shape, 3]).unwrap(), [(short.shape, 2, 8)]);
        // A longer line is not indexed by shape alone: looked up, it is not found.
        assert!(batch.template_lines_everywhere(&[long.shape]).unwrap().is_empty());
    }
}
