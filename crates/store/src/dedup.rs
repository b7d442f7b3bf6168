//! What the deduplicator reads and writes: stored items found by identity, text hash or
//! fingerprint, each item's lead fingerprint, sketch and window time, the similarity its match
//! was verified with, story merges, the rows the in-memory index is rebuilt from, and what
//! `newsdedup explain` shows. The deduplicator's algorithms live in their crate; this file only
//! moves their values in and out of SQLite.

use crate::batch::FeedBatch;
use crate::{from_sql_u64, to_sql_u64, Result, Store};
use newsdedup_model::{FeedId, Fingerprint, ItemId, StoryId};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

/// A stored item that belongs to a story, as the deduplicator compares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DedupRow {
    pub item: ItemId,
    pub story: StoryId,
    pub feed: FeedId,
    /// `items.dedup_time`: publication (else fetch) time in Unix seconds.
    pub time: i64,
    pub simhash: u64,
    /// `None`: the item is not searchable by fingerprint.
    pub lead: Option<u64>,
    pub sketch: Option<Vec<u8>>,
}

/// What the deduplicator records for an item (see [`FeedBatch::record_dedup`]).
#[derive(Debug, Clone, PartialEq)]
pub struct DedupColumns {
    pub fingerprint: Fingerprint,
    pub word_count: u32,
    pub lead: Option<u64>,
    pub sketch: Vec<u8>,
    /// The item's phrase keys (`items.phrase_key`, `phrase_key2`; at most two, none when it
    /// is not searchable).
    pub phrase_keys: Vec<u32>,
    pub time: i64,
    /// Verified similarity to the item it matched (`items.similarity`).
    pub similarity: Option<f64>,
}

/// How to find stored items.
#[derive(Debug, Clone, Copy)]
pub enum DedupKey<'a> {
    CanonicalLink(&'a str),
    PlatformId(&'a str),
    ContentHash(u64),
    /// The whole-text simhash (`items.fingerprint`), among searchable items.
    Fingerprint(u64),
    /// The lead simhash, among searchable items.
    LeadFingerprint(u64),
    /// Searchable items with one of these values as a phrase key, and their window time in
    /// `window` (both ends included).
    Phrases {
        values: &'a [u32],
        window: (i64, i64),
    },
}

/// Values one statement of a [`DedupKey::Phrases`] lookup takes.
const PHRASE_VALUES: usize = 8;

const ROW: &str =
    "SELECT id, story_id, feed_id, COALESCE(dedup_time, 0), fingerprint, lead_fingerprint, sketch FROM items";

/// [`ROW`] without the sketch (NULL), from the columns the fingerprint indexes cover.
const ROW_WITHOUT_SKETCH: &str =
    "SELECT id, story_id, feed_id, COALESCE(dedup_time, 0), fingerprint, lead_fingerprint, NULL FROM items";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<DedupRow> {
    Ok(DedupRow {
        item: ItemId(r.get(0)?),
        story: StoryId(r.get(1)?),
        feed: FeedId(r.get(2)?),
        time: r.get(3)?,
        simhash: from_sql_u64(r.get(4)?),
        lead: r.get::<_, Option<i64>>(5)?.map(from_sql_u64),
        sketch: r.get(6)?,
    })
}

/// Items that belong to a story and have `key`, in id order, at most `limit`.
fn find(conn: &Connection, key: DedupKey<'_>, limit: usize, out: &mut Vec<DedupRow>) -> Result<()> {
    // Each query repeats the WHERE clause of the partial index it should use: otherwise SQLite
    // can only prove the index applies from the bound value, and then prepares the statement
    // again for every value bound to it.
    let (sql, value): (&str, rusqlite::types::Value) = match key {
        DedupKey::CanonicalLink(l) => {
            ("WHERE canonical_link = ?1 AND canonical_link IS NOT NULL", l.to_string().into())
        }
        DedupKey::PlatformId(p) => ("WHERE platform_id = ?1 AND platform_id IS NOT NULL", p.to_string().into()),
        DedupKey::ContentHash(h) => ("WHERE content_hash = ?1", to_sql_u64(h).into()),
        DedupKey::Fingerprint(f) => ("WHERE fingerprint = ?1 AND lead_fingerprint IS NOT NULL", to_sql_u64(f).into()),
        DedupKey::LeadFingerprint(f) => {
            ("WHERE lead_fingerprint = ?1 AND lead_fingerprint IS NOT NULL", to_sql_u64(f).into())
        }
        DedupKey::Phrases { values, window } => return find_phrases(conn, values, window, limit, out),
    };
    // Fingerprint lookups read the covering indexes alone: no sketch (see `dedup_sketch`).
    let select = match key {
        DedupKey::Fingerprint(_) | DedupKey::LeadFingerprint(_) => ROW_WITHOUT_SKETCH,
        _ => ROW,
    };
    let mut stmt = conn.prepare_cached(&format!("{select} {sql} AND story_id IS NOT NULL ORDER BY id LIMIT ?2"))?;
    for r in stmt.query_map(params![value, limit as i64], row)? {
        out.push(r?);
    }
    Ok(())
}

/// Items that belong to a story, have one of `values` as a phrase key and a window time in
/// `[from, to]`, in id order, at most `limit` per [`PHRASE_VALUES`] values, with their
/// sketches (they are few, and all of them candidates).
fn find_phrases(
    conn: &Connection,
    values: &[u32],
    (from, to): (i64, i64),
    limit: usize,
    out: &mut Vec<DedupRow>,
) -> Result<()> {
    const LIST: &str = "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
    const _: () = assert!(PHRASE_VALUES == 8, "LIST has PHRASE_VALUES parameters");
    let mut stmt = conn.prepare_cached(&format!(
        "{ROW} WHERE phrase_key IN {LIST} AND phrase_key IS NOT NULL AND dedup_time BETWEEN ?9 AND ?10 \
                   AND story_id IS NOT NULL \
         UNION {ROW} WHERE phrase_key2 IN {LIST} AND phrase_key2 IS NOT NULL AND dedup_time BETWEEN ?9 AND ?10 \
                   AND story_id IS NOT NULL \
         ORDER BY 1 LIMIT ?11"
    ))?;
    for chunk in values.chunks(PHRASE_VALUES) {
        // A shorter list repeats its last value: one statement serves every length.
        let mut params: Vec<i64> = (0..PHRASE_VALUES).map(|i| i64::from(chunk[i.min(chunk.len() - 1)])).collect();
        params.extend([from, to, limit as i64]);
        for r in stmt.query_map(rusqlite::params_from_iter(&params), row)? {
            out.push(r?);
        }
    }
    Ok(())
}

fn dedup_sketch(conn: &Connection, id: ItemId) -> Result<Option<Vec<u8>>> {
    Ok(conn
        .prepare_cached("SELECT sketch FROM items WHERE id = ?1")?
        .query_row([id.0], |r| r.get(0))
        .optional()?
        .flatten())
}

fn dedup_text(conn: &Connection, id: ItemId) -> Result<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT clean_text FROM items WHERE id = ?1")?
        .query_row([id.0], |r| r.get(0))
        .optional()?
        .flatten())
}

fn recent_sketches(conn: &Connection, feed: FeedId, limit: usize) -> Result<Vec<(String, Option<Vec<u8>>)>> {
    let mut stmt =
        conn.prepare_cached("SELECT guid, sketch FROM items WHERE feed_id = ?1 ORDER BY id DESC LIMIT ?2")?;
    let rows = stmt
        .query_map(params![feed.0, limit as i64], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

fn dedup_row(conn: &Connection, id: ItemId) -> Result<Option<DedupRow>> {
    Ok(conn
        .prepare_cached(&format!("{ROW} WHERE id = ?1 AND story_id IS NOT NULL"))?
        .query_row([id.0], row)
        .optional()?)
}

impl FeedBatch<'_> {
    /// Stored items with `key` (see [`DedupKey`]), seeing this transaction's writes. Rows
    /// found by a fingerprint come without their sketch: read it with
    /// [`FeedBatch::dedup_sketch`] for those that are still candidates.
    pub fn dedup_find(&self, key: DedupKey<'_>, limit: usize, out: &mut Vec<DedupRow>) -> Result<()> {
        find(self.tx(), key, limit, out)
    }

    /// An item's stored sketch.
    pub fn dedup_sketch(&self, item: ItemId) -> Result<Option<Vec<u8>>> {
        dedup_sketch(self.tx(), item)
    }

    /// An item's cleaned text (what its features were computed from, before folding).
    pub fn dedup_text(&self, item: ItemId) -> Result<Option<String>> {
        dedup_text(self.tx(), item)
    }

    /// Records what the deduplicator computed for an item (one row write): its fingerprints,
    /// word count, sketch, window time and verified similarity. A `lead` of `None` leaves it
    /// out of fingerprint searches.
    pub fn record_dedup(&self, item: ItemId, c: &DedupColumns) -> Result<()> {
        self.tx()
            .prepare_cached(
                "UPDATE items SET fingerprint = ?2, content_hash = ?3, word_count = ?4, lead_fingerprint = ?5, \
                                  sketch = ?6, dedup_time = ?7, similarity = ?8, phrase_key = ?9, phrase_key2 = ?10 \
                 WHERE id = ?1",
            )?
            .execute(params![
                item.0,
                to_sql_u64(c.fingerprint.simhash),
                to_sql_u64(c.fingerprint.content_hash),
                c.word_count,
                c.lead.map(to_sql_u64),
                c.sketch,
                c.time,
                c.similarity,
                c.phrase_keys.first(),
                c.phrase_keys.get(1)
            ])?;
        Ok(())
    }

    /// Leaves an item out of fingerprint searches until [`FeedBatch::record_dedup`] records
    /// it again.
    pub fn make_unsearchable(&self, item: ItemId) -> Result<()> {
        self.tx()
            .prepare_cached(
                "UPDATE items SET lead_fingerprint = NULL, phrase_key = NULL, phrase_key2 = NULL WHERE id = ?1",
            )?
            .execute([item.0])?;
        Ok(())
    }

    /// The searchable fingerprints and window time of an item, if it has them (to take it out
    /// of the in-memory index before it changes).
    pub fn dedup_fingerprints(&self, item: ItemId) -> Result<Option<(u64, u64, i64)>> {
        Ok(self
            .tx()
            .prepare_cached(
                "SELECT fingerprint, lead_fingerprint, dedup_time FROM items \
                 WHERE id = ?1 AND lead_fingerprint IS NOT NULL AND dedup_time IS NOT NULL",
            )?
            .query_row([item.0], |r| Ok((from_sql_u64(r.get(0)?), from_sql_u64(r.get(1)?), r.get(2)?)))
            .optional()?)
    }

    /// Moves every item of story `from` into story `into` (an item proved them to be one
    /// story), deletes `from`, and brings `into`'s canonical item, counts and distances up to
    /// date.
    pub fn merge_stories(&self, from: StoryId, into: StoryId) -> Result<()> {
        if from == into {
            return Ok(());
        }
        self.tx()
            .prepare_cached("UPDATE items SET story_id = ?2 WHERE story_id = ?1")?
            .execute(params![from.0, into.0])?;
        self.tx().prepare_cached("DELETE FROM stories WHERE id = ?1")?.execute([from.0])?;
        self.refresh_story(into)
    }

    /// The guid and stored sketch of a feed's most recent items (newest first), from which
    /// the feed's template (its repeated lines) is learned.
    pub fn recent_sketches(&self, feed: FeedId, limit: usize) -> Result<Vec<(String, Option<Vec<u8>>)>> {
        recent_sketches(self.tx(), feed, limit)
    }

    /// Searchable fingerprints of the items whose window time is in `[from, to)` (a time
    /// bucket of the in-memory index), seeing this transaction's writes.
    pub fn dedup_fingerprints_between(&self, from: i64, to: i64) -> Result<Vec<(u64, u64)>> {
        fingerprints_between(self.tx(), from, to)
    }
}

fn fingerprints_between(conn: &Connection, from: i64, to: i64) -> Result<Vec<(u64, u64)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT fingerprint, lead_fingerprint FROM items INDEXED BY items_dedup_window \
         WHERE dedup_time >= ?1 AND dedup_time < ?2 AND lead_fingerprint IS NOT NULL",
    )?;
    let rows = stmt
        .query_map(params![from, to], |r| Ok((from_sql_u64(r.get(0)?), from_sql_u64(r.get(1)?))))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// An item's text and feed, for recomputing fingerprints and sketches after an algorithm
/// change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefeatureRow {
    pub item: ItemId,
    pub feed: FeedId,
    pub clean_text: String,
}

/// Recomputed values for one item.
#[derive(Debug, Clone, PartialEq)]
pub struct RefeaturedItem {
    pub item: ItemId,
    pub simhash: u64,
    pub content_hash: u64,
    pub word_count: u32,
    pub lead: Option<u64>,
    pub sketch: Vec<u8>,
    /// See [`DedupColumns::phrase_keys`].
    pub phrase_keys: Vec<u32>,
}

/// Everything `newsdedup explain` shows about one item.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExplainRow {
    pub id: i64,
    pub feed_id: i64,
    pub feed_url: String,
    pub guid: String,
    pub title: Option<String>,
    pub link: Option<String>,
    pub canonical_link: Option<String>,
    pub platform_id: Option<String>,
    pub published_at: Option<String>,
    pub fetched_at: String,
    pub dedup_time: Option<i64>,
    pub story_id: Option<i64>,
    pub story_canonical_item_id: Option<i64>,
    pub story_item_count: Option<i64>,
    pub match_method: Option<String>,
    pub matched_item_id: Option<i64>,
    pub distance: Option<i64>,
    pub similarity: Option<f64>,
    #[serde(skip)]
    pub fingerprint: u64,
    #[serde(skip)]
    pub lead_fingerprint: Option<u64>,
    #[serde(skip)]
    pub sketch: Option<Vec<u8>>,
    pub word_count: i64,
}

impl Store {
    /// The newest window time among searchable items.
    pub fn newest_dedup_time(&self) -> Result<Option<i64>> {
        Ok(self
            .conn()
            .query_row("SELECT max(dedup_time) FROM items WHERE lead_fingerprint IS NOT NULL", [], |r| r.get(0))?)
    }

    /// Searchable fingerprints of the items whose window time is in `[from, to)`, read from
    /// the window index alone (start-up, and `explain`).
    pub fn dedup_fingerprints_between(&self, from: i64, to: i64) -> Result<Vec<(u64, u64)>> {
        fingerprints_between(self.conn(), from, to)
    }

    /// Stored items with `key`, outside any write transaction (for `explain`).
    pub fn dedup_find(&self, key: DedupKey<'_>, limit: usize, out: &mut Vec<DedupRow>) -> Result<()> {
        find(self.conn(), key, limit, out)
    }

    pub fn dedup_sketch(&self, item: ItemId) -> Result<Option<Vec<u8>>> {
        dedup_sketch(self.conn(), item)
    }

    /// An item's cleaned text, outside any write transaction (for `explain`).
    pub fn dedup_text(&self, item: ItemId) -> Result<Option<String>> {
        dedup_text(self.conn(), item)
    }

    /// `(guid, sketch)` of a feed's latest stored items, newest first, outside any write
    /// transaction (for `explain`).
    pub fn recent_sketches(&self, feed: FeedId, limit: usize) -> Result<Vec<(String, Option<Vec<u8>>)>> {
        recent_sketches(self.conn(), feed, limit)
    }

    pub fn dedup_row(&self, item: ItemId) -> Result<Option<DedupRow>> {
        dedup_row(self.conn(), item)
    }

    /// `(item, fingerprint, lead fingerprint)` of the searchable items whose window time is
    /// within `[from, to]`, for `explain` to find the nearest ones without the in-memory index.
    pub fn dedup_fingerprints_in_window(&self, from: i64, to: i64) -> Result<Vec<(ItemId, u64, u64)>> {
        let mut stmt = self.conn().prepare(
            "SELECT id, fingerprint, lead_fingerprint FROM items INDEXED BY items_dedup_window \
             WHERE dedup_time >= ?1 AND dedup_time <= ?2 AND lead_fingerprint IS NOT NULL",
        )?;
        let rows = stmt
            .query_map(params![from, to], |r| {
                Ok((ItemId(r.get(0)?), from_sql_u64(r.get(1)?), from_sql_u64(r.get(2)?)))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// What `explain` shows about an item.
    pub fn explain_row(&self, item: ItemId) -> Result<Option<ExplainRow>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT i.id, i.feed_id, f.url, i.guid, i.title, i.link, i.canonical_link, i.platform_id, \
                        i.published_at, i.fetched_at, i.dedup_time, i.story_id, s.canonical_item_id, s.item_count, \
                        i.match_method, i.matched_item_id, i.distance, i.similarity, i.fingerprint, \
                        i.lead_fingerprint, i.sketch, i.word_count \
                 FROM items i JOIN feeds f ON f.id = i.feed_id LEFT JOIN stories s ON s.id = i.story_id \
                 WHERE i.id = ?1",
                [item.0],
                |r| {
                    Ok(ExplainRow {
                        id: r.get(0)?,
                        feed_id: r.get(1)?,
                        feed_url: r.get(2)?,
                        guid: r.get(3)?,
                        title: r.get(4)?,
                        link: r.get(5)?,
                        canonical_link: r.get(6)?,
                        platform_id: r.get(7)?,
                        published_at: r.get(8)?,
                        fetched_at: r.get(9)?,
                        dedup_time: r.get(10)?,
                        story_id: r.get(11)?,
                        story_canonical_item_id: r.get(12)?,
                        story_item_count: r.get(13)?,
                        match_method: r.get(14)?,
                        matched_item_id: r.get(15)?,
                        distance: r.get(16)?,
                        similarity: r.get(17)?,
                        fingerprint: from_sql_u64(r.get(18)?),
                        lead_fingerprint: r.get::<_, Option<i64>>(19)?.map(from_sql_u64),
                        sketch: r.get(20)?,
                        word_count: r.get(21)?,
                    })
                },
            )
            .optional()?)
    }

    /// A feed's items: id and clean text (for recomputing fingerprints and sketches, which
    /// need the feed's template).
    pub fn refeature_rows(&self, feed: FeedId) -> Result<Vec<RefeatureRow>> {
        let mut stmt =
            self.conn().prepare("SELECT id, feed_id, clean_text FROM items WHERE feed_id = ?1 ORDER BY id")?;
        let rows = stmt
            .query_map([feed.0], |r| {
                Ok(RefeatureRow { item: ItemId(r.get(0)?), feed: FeedId(r.get(1)?), clean_text: r.get(2)? })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Overwrites items' fingerprints, word counts and sketches (after an algorithm change),
    /// in one transaction.
    pub fn rewrite_features(&mut self, rows: &[RefeaturedItem]) -> Result<()> {
        let tx = self.conn.transaction()?;
        {
            let mut stmt = tx.prepare(
                "UPDATE items SET fingerprint = ?2, content_hash = ?3, word_count = ?4, lead_fingerprint = ?5, \
                                  sketch = ?6, phrase_key = ?7, phrase_key2 = ?8 WHERE id = ?1",
            )?;
            for r in rows {
                stmt.execute(params![
                    r.item.0,
                    to_sql_u64(r.simhash),
                    to_sql_u64(r.content_hash),
                    r.word_count,
                    r.lead.map(to_sql_u64),
                    r.sketch,
                    r.phrase_keys.first(),
                    r.phrase_keys.get(1)
                ])?;
            }
        }
        crate::search::sync_index(&tx)?;
        tx.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NewItem;
    use chrono::{TimeZone, Utc};
    use newsdedup_model::{BodyKind, CleanItem, Decision, KeySource, MatchMethod, RawItem};

    fn raw(guid: &str, link: Option<&str>) -> RawItem {
        RawItem {
            guid: guid.into(),
            key_source: KeySource::Guid,
            link: link.map(Into::into),
            title: Some(guid.into()),
            published_at: Some(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()),
            updated_at: None,
            body: "body".into(),
            body_kind: BodyKind::Text,
            platform_id: None,
        }
    }

    fn clean(link: Option<&str>) -> CleanItem {
        CleanItem {
            clean_title: "t".into(),
            clean_text: "text".into(),
            folded_text: "text".into(),
            removed: Vec::new(),
            canonical_link: link.map(Into::into),
        }
    }

    #[test]
    fn items_are_found_by_every_key_and_merges_move_whole_stories() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("db")).unwrap();
        let now = Utc.with_ymd_and_hms(2026, 1, 2, 0, 0, 0).unwrap();
        let (f, _) = store.add_feed("f", now).unwrap();
        let batch = store.begin().unwrap();
        let mut ids = Vec::new();
        let mut stories = Vec::new();
        for (i, link) in [Some("https://a.example/1"), None, None].into_iter().enumerate() {
            let (r, c) = (raw(&format!("g{i}"), link), clean(link));
            let fp = Fingerprint { simhash: 10 + i as u64, content_hash: 7 };
            let id = batch
                .insert_item(&NewItem { feed: f, raw: &r, clean: &c, fingerprint: fp, word_count: 1 }, now)
                .unwrap();
            let columns = DedupColumns {
                fingerprint: fp,
                word_count: 1,
                lead: (i < 2).then_some(100 + i as u64),
                sketch: vec![1, 2, 3],
                phrase_keys: [vec![5, 9], vec![9, 20], Vec::new()][i].clone(),
                time: 1000 + i as i64,
                similarity: None,
            };
            batch.record_dedup(id, &columns).unwrap();
            stories.push(batch.assign_story(id, &Decision::NewStory).unwrap());
            ids.push(id);
        }
        let mut out = Vec::new();
        batch.dedup_find(DedupKey::CanonicalLink("https://a.example/1"), 10, &mut out).unwrap();
        assert_eq!(out.iter().map(|r| r.item).collect::<Vec<_>>(), [ids[0]]);
        assert_eq!(out[0].sketch.as_deref(), Some(&[1u8, 2, 3][..]));
        assert_eq!((out[0].time, out[0].lead), (1000, Some(100)));
        out.clear();
        batch.dedup_find(DedupKey::ContentHash(7), 2, &mut out).unwrap();
        assert_eq!(out.len(), 2, "the limit holds");
        out.clear();
        // Item 3 is not searchable: no lead fingerprint.
        batch.dedup_find(DedupKey::Fingerprint(12), 10, &mut out).unwrap();
        assert!(out.is_empty());
        batch.dedup_find(DedupKey::LeadFingerprint(101), 10, &mut out).unwrap();
        assert_eq!(out[0].item, ids[1]);
        assert_eq!(batch.dedup_fingerprints_between(1000, 1002).unwrap(), [(10, 100), (11, 101)]);
        // By phrase key: either of an item's two, within the window, more values than one
        // statement takes.
        let phrases = |values: &[u32], window: (i64, i64)| {
            let mut out = Vec::new();
            batch.dedup_find(DedupKey::Phrases { values, window }, 10, &mut out).unwrap();
            out.iter().map(|r| r.item).collect::<Vec<_>>()
        };
        assert_eq!(phrases(&[9], (1000, 1002)), [ids[0], ids[1]]);
        assert_eq!(phrases(&[9], (1001, 1002)), [ids[1]], "the window is applied");
        assert_eq!(phrases(&[1, 2, 3, 4, 6, 7, 8, 10, 20], (0, 2000)), [ids[1]], "the ninth value counts");
        assert!(phrases(&[3], (0, 2000)).is_empty());
        batch.make_unsearchable(ids[0]).unwrap();
        assert_eq!(phrases(&[5, 9], (0, 2000)), [ids[1]], "an unsearchable item is not found");

        let join = Decision::Join { story: stories[1], matched_item: ids[1], method: MatchMethod::Near, distance: 1 };
        let moved = batch.insert_item(
            &NewItem {
                feed: f,
                raw: &raw("g9", None),
                clean: &clean(None),
                fingerprint: Fingerprint { simhash: 0, content_hash: 0 },
                word_count: 1,
            },
            now,
        );
        let moved = moved.unwrap();
        let columns = DedupColumns {
            fingerprint: Fingerprint { simhash: 0, content_hash: 0 },
            word_count: 1,
            lead: None,
            sketch: Vec::new(),
            phrase_keys: Vec::new(),
            time: 0,
            similarity: Some(0.93),
        };
        batch.record_dedup(moved, &columns).unwrap();
        batch.assign_story(moved, &join).unwrap();
        batch.merge_stories(stories[1], stories[0]).unwrap();
        batch.commit().unwrap();
        let (count, n_stories): (i64, i64) = store
            .conn()
            .query_row(
                "SELECT (SELECT item_count FROM stories WHERE id = ?1), (SELECT count(*) FROM stories)",
                [stories[0].0],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!((count, n_stories), (3, 2));
        let e = store.explain_row(moved).unwrap().unwrap();
        assert_eq!(
            (e.story_id, e.similarity, e.match_method.as_deref()),
            (Some(stories[0].0), Some(0.93), Some("near"))
        );
        assert_eq!(store.dedup_fingerprints_between(1001, 2000).unwrap(), [(11, 101)]);
        assert_eq!(store.newest_dedup_time().unwrap(), Some(1001));
    }
}
