//! Cleaning stored items again: reading them back as raw items, writing their new clean text.
//!
//! Used when a feed's learned template grows (its earlier items are cleaned again) and by
//! `newsdedup reprocess` (every item, after rules change). Both run inside a write transaction
//! and re-decide stories through the writer's usual path; this file only moves the data.

use crate::{from_sql_u64, parse_timestamp, timestamp, FeedBatch, Result};
use chrono::{DateTime, Utc};
use newsdedup_model::{BodyKind, CleanItem, FeedId, Fingerprint, ItemId, KeySource, RawItem, StoryId};
use rusqlite::{params, OptionalExtension};

/// A stored item as the feed carried it, with what cleaning made of it last time.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRawItem {
    pub id: ItemId,
    pub feed: FeedId,
    /// The item as the feed gave it (`updated_at` is not stored and is `None`).
    pub raw: RawItem,
    pub fetched_at: DateTime<Utc>,
    pub clean_text: String,
    pub fingerprint: Fingerprint,
    pub story: Option<StoryId>,
    /// The lines removed last time (line text, rule).
    pub removed: Vec<(String, String)>,
}

const STORED_COLUMNS: &str = "id, feed_id, guid, key_source, link, title, published_at, raw_content, body_kind, \
                              platform_id, fetched_at, clean_text, fingerprint, content_hash, story_id";

/// A row of [`STORED_COLUMNS`] (without its removed lines).
fn stored_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredRawItem> {
    let key_source: String = r.get(3)?;
    let body_kind: String = r.get(8)?;
    let published: Option<String> = r.get(6)?;
    let fetched: String = r.get(10)?;
    Ok(StoredRawItem {
        id: ItemId(r.get(0)?),
        feed: FeedId(r.get(1)?),
        raw: RawItem {
            guid: r.get(2)?,
            key_source: key_source_of(&key_source),
            link: r.get(4)?,
            title: r.get(5)?,
            published_at: published.as_deref().and_then(parse_timestamp),
            updated_at: None,
            body: r.get(7)?,
            body_kind: if body_kind == "text" { BodyKind::Text } else { BodyKind::Html },
            platform_id: r.get(9)?,
        },
        fetched_at: parse_timestamp(&fetched).unwrap_or_default(),
        clean_text: r.get(11)?,
        fingerprint: Fingerprint { simhash: from_sql_u64(r.get(12)?), content_hash: from_sql_u64(r.get(13)?) },
        story: r.get::<_, Option<i64>>(14)?.map(StoryId),
        removed: Vec::new(),
    })
}

fn key_source_of(s: &str) -> KeySource {
    match s {
        "link" => KeySource::Link,
        "content_hash" => KeySource::ContentHash,
        _ => KeySource::Guid,
    }
}

impl FeedBatch<'_> {
    /// Stored items in the order they were first stored: all of them, or one feed's, or one
    /// feed's changed at or after `changed_since`. Items whose raw content `prune` cleared are
    /// left out: there is nothing to clean again.
    pub fn stored_raw_items(
        &self,
        feed: Option<FeedId>,
        changed_since: Option<DateTime<Utc>>,
    ) -> Result<Vec<StoredRawItem>> {
        let mut stmt = self.tx().prepare_cached(&format!(
            "SELECT {STORED_COLUMNS} FROM items WHERE (?1 IS NULL OR feed_id = ?1) AND (?2 IS NULL OR updated_at >= ?2) \
               AND raw_pruned_at IS NULL ORDER BY id"
        ))?;
        let mut out = stmt
            .query_map(params![feed.map(|f| f.0), changed_since.map(timestamp)], stored_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        for item in &mut out {
            item.removed = self.removed_lines(item.id)?;
        }
        Ok(out)
    }

    /// The ids of the items [`FeedBatch::stored_raw_items`] returns for one feed: to read only
    /// those that are not in memory already (with [`FeedBatch::stored_raw_item`]).
    pub fn stored_item_ids(&self, feed: FeedId, changed_since: Option<DateTime<Utc>>) -> Result<Vec<ItemId>> {
        let mut stmt = self.tx().prepare_cached(
            "SELECT id FROM items \
             WHERE feed_id = ?1 AND (?2 IS NULL OR updated_at >= ?2) AND raw_pruned_at IS NULL ORDER BY id",
        )?;
        let rows = stmt
            .query_map(params![feed.0, changed_since.map(timestamp)], |r| Ok(ItemId(r.get(0)?)))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// One stored item as [`FeedBatch::stored_raw_items`] returns it (None if it is gone or its
    /// raw content was pruned).
    pub fn stored_raw_item(&self, id: ItemId) -> Result<Option<StoredRawItem>> {
        let mut stmt = self
            .tx()
            .prepare_cached(&format!("SELECT {STORED_COLUMNS} FROM items WHERE id = ?1 AND raw_pruned_at IS NULL"))?;
        let Some(mut item) = stmt.query_row([id.0], stored_row).optional()? else { return Ok(None) };
        item.removed = self.removed_lines(id)?;
        Ok(Some(item))
    }

    fn removed_lines(&self, id: ItemId) -> Result<Vec<(String, String)>> {
        let mut removed =
            self.tx().prepare_cached("SELECT line, rule FROM removed_lines WHERE item_id = ?1 ORDER BY position")?;
        let rows = removed.query_map([id.0], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    /// Replaces a stored item's cleaning (clean title and text, canonical link, removed lines).
    /// Its story and fingerprints are left as they are: the caller re-decides its story, which
    /// records the fingerprints of the new text (the deduplicator's in-memory index must be
    /// told about the old ones first).
    pub fn update_clean(&self, id: ItemId, clean: &CleanItem) -> Result<()> {
        self.tx()
            .prepare_cached("UPDATE items SET clean_title = ?2, clean_text = ?3, canonical_link = ?4 WHERE id = ?1")?
            .execute(params![id.0, clean.clean_title, clean.clean_text, clean.canonical_link])?;
        self.replace_removed_lines(id, &clean.removed)
    }

    /// Every item's story, to compare story membership before and after re-deciding.
    pub fn item_stories(&self) -> Result<Vec<(ItemId, Option<StoryId>)>> {
        let mut stmt = self.tx().prepare_cached("SELECT id, story_id FROM items ORDER BY id")?;
        let rows = stmt
            .query_map([], |r| Ok((ItemId(r.get(0)?), r.get::<_, Option<i64>>(1)?.map(StoryId))))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{NewItem, Store};
    use newsdedup_model::{Decision, RemovedLine};

    #[test]
    fn stored_items_come_back_as_raw_items_and_can_be_cleaned_again() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("db")).unwrap();
        let now = chrono::Utc::now();
        let (feed, _) = store.add_feed("f", now).unwrap();
        let raw = RawItem {
            guid: "g1".into(),
            key_source: KeySource::Link,
            link: Some("https://example.org/a".into()),
            title: Some("A title".into()),
            published_at: None,
            updated_at: None,
            body: "Text.\nSubscribe!".into(),
            body_kind: BodyKind::Text,
            platform_id: Some("youtube:abc".into()),
        };
        let clean = CleanItem {
            clean_title: "A title".into(),
            clean_text: "Text.\nSubscribe!".into(),
            folded_text: "text.\nsubscribe!".into(),
            removed: vec![],
            canonical_link: Some("https://example.org/a".into()),
        };
        let fp = Fingerprint { simhash: 5, content_hash: 6 };
        let batch = store.begin().unwrap();
        let id = batch
            .insert_item(&NewItem { feed, raw: &raw, clean: &clean, fingerprint: fp, word_count: 2 }, now)
            .unwrap();
        let story = batch.assign_story(id, &Decision::NewStory).unwrap();
        let stored = batch.stored_raw_items(Some(feed), None).unwrap();
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].raw, raw);
        assert_eq!((stored[0].story, stored[0].fingerprint), (Some(story), fp));
        assert!(batch.stored_raw_items(Some(feed), Some(now + chrono::Duration::hours(1))).unwrap().is_empty());
        assert_eq!(batch.stored_raw_item(id).unwrap().as_ref(), Some(&stored[0]));
        assert_eq!(batch.stored_item_ids(feed, None).unwrap(), [id]);
        assert!(batch.stored_item_ids(feed, Some(now + chrono::Duration::hours(1))).unwrap().is_empty());

        let recleaned = CleanItem {
            clean_text: "Text.".into(),
            removed: vec![RemovedLine { position: 1, line: "Subscribe!".into(), rule: "x.subscribe".into() }],
            ..clean
        };
        batch.update_clean(id, &recleaned).unwrap();
        let stored = batch.stored_raw_items(None, None).unwrap();
        assert_eq!(stored[0].clean_text, "Text.");
        assert_eq!(stored[0].removed, [("Subscribe!".to_string(), "x.subscribe".to_string())]);
        assert_eq!(batch.item_stories().unwrap(), [(id, Some(story))]);
    }
}
