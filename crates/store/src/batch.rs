//! The write transaction for one feed's results.
//!
//! A fetched feed's new and updated items, the story changes they cause, their removed lines
//! and the feed's new validators are written in one transaction. If the process dies before
//! the commit, none of it happened: the validators still describe the previous document, so
//! the next run fetches it again and stores every item exactly once. Writes are keyed on
//! natural keys (feed, guid), so a rerun of the same document changes nothing.
//!
//! Inside a group ([`crate::Store::begin_group`]) the batch is a savepoint of the group's
//! transaction: the same all or nothing, made durable when the group commits.

use crate::feeds::FeedOutcome;
use crate::{from_sql_u64, timestamp, to_sql_u64, Result};
use chrono::{DateTime, Utc};
use newsdedup_model::{CleanItem, Decision, FeedId, Fingerprint, ItemId, RawItem, RemovedLine, StoryId};
use rusqlite::{params, Connection, OptionalExtension};

/// An item to insert or to update in place, with everything the stages computed for it.
#[derive(Debug, Clone, Copy)]
pub struct NewItem<'a> {
    pub feed: FeedId,
    pub raw: &'a RawItem,
    pub clean: &'a CleanItem,
    pub fingerprint: Fingerprint,
    pub word_count: u32,
}

/// What the store already has for a (feed, guid).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredItem {
    pub id: ItemId,
    pub story: Option<StoryId>,
    pub fingerprint: Fingerprint,
    pub raw_content: String,
    pub title: Option<String>,
    pub link: Option<String>,
    /// `prune` cleared its raw content: `raw_content` is empty and says nothing of the item.
    pub raw_pruned: bool,
}

/// One feed's write transaction. Dropping it without [`FeedBatch::commit`] rolls back.
///
/// Inside a group (see [`Store::begin_group`]) it is a savepoint of the group's transaction
/// instead: its commit makes it part of the group, its rollback undoes it alone, and it
/// becomes visible to other connections when the group commits.
pub struct FeedBatch<'a> {
    pub(crate) tx: &'a Connection,
    nested: bool,
    open: bool,
}

impl<'a> FeedBatch<'a> {
    /// Starts the batch on `conn`: a transaction of its own, or with `nested`, a savepoint of
    /// the group transaction that is open on it.
    pub(crate) fn begin(conn: &'a Connection, nested: bool) -> Result<FeedBatch<'a>> {
        if nested && conn.is_autocommit() {
            // SQLite ended the group's transaction itself (a full disk, an I/O error): a
            // savepoint now would start a transaction outside the group.
            return Err(crate::StoreError::GroupLost);
        }
        conn.execute_batch(if nested { "SAVEPOINT feed_batch" } else { "BEGIN IMMEDIATE" })?;
        Ok(FeedBatch { tx: conn, nested, open: true })
    }

    /// The transaction, for the other files of this crate that write through the batch.
    pub(crate) fn tx(&self) -> &'a Connection {
        self.tx
    }

    pub fn commit(mut self) -> Result<()> {
        if self.nested {
            // The full-text index is brought up to date once, when the group commits.
            self.tx.execute_batch("RELEASE feed_batch")?;
        } else {
            crate::search::sync_index(self.tx)?;
            self.tx.execute_batch("COMMIT")?;
        }
        self.open = false;
        Ok(())
    }

    /// The stored item of `feed` with key `guid`, if any.
    pub fn find_item(&self, feed: FeedId, guid: &str) -> Result<Option<StoredItem>> {
        let mut stmt = self.tx.prepare_cached(
            "SELECT id, story_id, fingerprint, content_hash, raw_content, title, link, raw_pruned_at IS NOT NULL \
             FROM items WHERE feed_id = ?1 AND guid = ?2",
        )?;
        let row = stmt
            .query_row(params![feed.0, guid], |r| {
                Ok(StoredItem {
                    id: ItemId(r.get(0)?),
                    story: r.get::<_, Option<i64>>(1)?.map(StoryId),
                    fingerprint: Fingerprint {
                        simhash: from_sql_u64(r.get(2)?),
                        content_hash: from_sql_u64(r.get(3)?),
                    },
                    raw_content: r.get(4)?,
                    title: r.get(5)?,
                    link: r.get(6)?,
                    raw_pruned: r.get(7)?,
                })
            })
            .optional()?;
        Ok(row)
    }

    /// Inserts a new item, not yet in any story.
    pub fn insert_item(&self, item: &NewItem<'_>, now: DateTime<Utc>) -> Result<ItemId> {
        let raw = item.raw;
        let clean = item.clean;
        let now = timestamp(now);
        let mut stmt = self.tx.prepare_cached(
            "INSERT INTO items(feed_id, guid, key_source, link, canonical_link, platform_id, title, clean_title, \
                               published_at, fetched_at, updated_at, raw_content, body_kind, clean_text, \
                               fingerprint, content_hash, word_count) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
        )?;
        stmt.execute(params![
            item.feed.0,
            raw.guid,
            raw.key_source.as_str(),
            raw.link,
            clean.canonical_link,
            raw.platform_id,
            raw.title,
            clean.clean_title,
            raw.published_at.map(timestamp),
            now,
            raw.body,
            body_kind_str(raw),
            clean.clean_text,
            to_sql_u64(item.fingerprint.simhash),
            to_sql_u64(item.fingerprint.content_hash),
            item.word_count,
        ])?;
        let id = ItemId(self.tx.last_insert_rowid());
        // A new id has no removed lines (they go with a deleted item): nothing to replace.
        self.insert_removed_lines(id, &clean.removed)?;
        Ok(id)
    }

    /// Replaces a stored item's content with a newer version of it (same feed, same guid).
    /// Its story is left as it is; the caller re-decides it.
    pub fn update_item(&self, id: ItemId, item: &NewItem<'_>, now: DateTime<Utc>) -> Result<()> {
        let raw = item.raw;
        let clean = item.clean;
        let mut stmt = self.tx.prepare_cached(
            "UPDATE items SET key_source = ?2, link = ?3, canonical_link = ?4, platform_id = ?5, title = ?6, \
                              clean_title = ?7, published_at = COALESCE(?8, published_at), updated_at = ?9, \
                              raw_content = ?10, raw_pruned_at = NULL, body_kind = ?11, clean_text = ?12, fingerprint = ?13, \
                              content_hash = ?14, word_count = ?15 \
             WHERE id = ?1",
        )?;
        stmt.execute(params![
            id.0,
            raw.key_source.as_str(),
            raw.link,
            clean.canonical_link,
            raw.platform_id,
            raw.title,
            clean.clean_title,
            raw.published_at.map(timestamp),
            timestamp(now),
            raw.body,
            body_kind_str(raw),
            clean.clean_text,
            to_sql_u64(item.fingerprint.simhash),
            to_sql_u64(item.fingerprint.content_hash),
            item.word_count,
        ])?;
        self.replace_removed_lines(id, &clean.removed)?;
        Ok(())
    }

    pub(crate) fn replace_removed_lines(&self, id: ItemId, removed: &[RemovedLine]) -> Result<()> {
        self.tx.prepare_cached("DELETE FROM removed_lines WHERE item_id = ?1")?.execute([id.0])?;
        self.insert_removed_lines(id, removed)
    }

    fn insert_removed_lines(&self, id: ItemId, removed: &[RemovedLine]) -> Result<()> {
        let mut stmt = self
            .tx
            .prepare_cached("INSERT INTO removed_lines(item_id, position, line, rule) VALUES (?1, ?2, ?3, ?4)")?;
        for r in removed {
            stmt.execute(params![id.0, r.position, r.line, r.rule])?;
        }
        Ok(())
    }

    /// Puts `item` into the story the deduplicator chose (a new one for
    /// [`Decision::NewStory`]) and brings that story's canonical item, counts, times and
    /// distances up to date. Returns the story.
    pub fn assign_story(&self, item: ItemId, decision: &Decision) -> Result<StoryId> {
        let Decision::Join { story, matched_item, .. } = *decision else {
            // A story of one: the item is its canonical item, at distance 0, and the story is
            // written once, complete (what refresh_story would make of it).
            let inserted = self
                .tx
                .prepare_cached(
                    "INSERT INTO stories(canonical_item_id, title, first_seen_at, last_seen_at, item_count) \
                     SELECT id, COALESCE(NULLIF(clean_title, ''), title), fetched_at, fetched_at, 1 \
                     FROM items WHERE id = ?1",
                )?
                .execute([item.0])?;
            if inserted == 0 {
                return Err(rusqlite::Error::QueryReturnedNoRows.into());
            }
            let story = StoryId(self.tx.last_insert_rowid());
            self.tx
                .prepare_cached(
                    "UPDATE items SET story_id = ?2, match_method = ?3, matched_item_id = NULL, distance = 0 \
                     WHERE id = ?1",
                )?
                .execute(params![item.0, story.0, decision.method().as_str()])?;
            return Ok(story);
        };
        self.tx
            .prepare_cached("UPDATE items SET story_id = ?2, match_method = ?3, matched_item_id = ?4 WHERE id = ?1")?
            .execute(params![item.0, story.0, decision.method().as_str(), matched_item.0])?;
        if !self.join_in_place(story, item)? {
            self.refresh_story(story)?;
        }
        Ok(story)
    }

    /// Brings a story up to date after `item` joined it, without reading its other members,
    /// when the item does not take over as canonical (the common case: reposts come after the
    /// original). Returns false when the story needs a full [`FeedBatch::refresh_story`].
    fn join_in_place(&self, story: StoryId, item: ItemId) -> Result<bool> {
        let row = self
            .tx
            .prepare_cached(
                "SELECT c.id, COALESCE(c.published_at, c.fetched_at), c.word_count, c.fingerprint, \
                        COALESCE(x.published_at, x.fetched_at), x.word_count, x.fingerprint, x.fetched_at \
                 FROM stories s JOIN items c ON c.id = s.canonical_item_id AND c.story_id = s.id, items x \
                 WHERE s.id = ?1 AND x.id = ?2 AND c.id != x.id",
            )?
            .query_row(params![story.0, item.0], |r| {
                Ok((
                    (r.get::<_, String>(1)?, -r.get::<_, i64>(2)?, r.get::<_, i64>(0)?),
                    from_sql_u64(r.get(3)?),
                    (r.get::<_, String>(4)?, -r.get::<_, i64>(5)?, item.0),
                    from_sql_u64(r.get(6)?),
                    r.get::<_, String>(7)?,
                ))
            })
            .optional()?;
        // The canonical item is the earliest published (the longest text, then the first
        // stored, among equals): the same order as refresh_story's.
        let Some((canonical, canonical_fp, joining, fp, fetched_at)) = row else { return Ok(false) };
        if joining < canonical {
            return Ok(false);
        }
        self.tx
            .prepare_cached(
                "UPDATE stories SET item_count = item_count + 1, first_seen_at = min(first_seen_at, ?2), \
                                    last_seen_at = max(last_seen_at, ?2) WHERE id = ?1",
            )?
            .execute(params![story.0, fetched_at])?;
        self.tx
            .prepare_cached("UPDATE items SET distance = ?2 WHERE id = ?1")?
            .execute(params![item.0, (fp ^ canonical_fp).count_ones()])?;
        Ok(true)
    }

    /// Takes `item` out of its story (before re-deciding it). A story left empty is deleted.
    pub fn leave_story(&self, item: ItemId) -> Result<Option<StoryId>> {
        let story: Option<i64> = self
            .tx
            .prepare_cached("SELECT story_id FROM items WHERE id = ?1")?
            .query_row([item.0], |r| r.get(0))
            .optional()?
            .flatten();
        let Some(story) = story.map(StoryId) else { return Ok(None) };
        self.tx
            .prepare_cached("UPDATE items SET story_id = NULL, match_method = NULL, matched_item_id = NULL, distance = NULL, similarity = NULL WHERE id = ?1")?
            .execute([item.0])?;
        // Items that joined the story because of this one keep their story; only the pointer
        // to the item they matched can go stale, and it stays as a record of the decision.
        self.refresh_story(story)?;
        Ok(Some(story))
    }

    /// Recomputes a story's canonical item (earliest published; among equals the longest text,
    /// then the first stored), title, item count, first and last seen times, and every member's
    /// distance to the canonical fingerprint. Deletes the story if it has no items left.
    pub fn refresh_story(&self, story: StoryId) -> Result<()> {
        let members: Vec<(i64, u64)> = self
            .tx
            .prepare_cached(
                "SELECT id, fingerprint FROM items WHERE story_id = ?1 \
                 ORDER BY COALESCE(published_at, fetched_at), word_count DESC, id",
            )?
            .query_map([story.0], |r| Ok((r.get(0)?, from_sql_u64(r.get(1)?))))?
            .collect::<rusqlite::Result<_>>()?;
        let Some(&(canonical, canonical_fp)) = members.first() else {
            self.tx.prepare_cached("DELETE FROM stories WHERE id = ?1")?.execute([story.0])?;
            return Ok(());
        };
        self.tx
            .prepare_cached(
                "UPDATE stories SET canonical_item_id = ?2, \
                        title = (SELECT COALESCE(NULLIF(clean_title, ''), title) FROM items WHERE id = ?2), \
                        item_count = ?3, \
                        first_seen_at = (SELECT min(fetched_at) FROM items WHERE story_id = ?1), \
                        last_seen_at = (SELECT max(fetched_at) FROM items WHERE story_id = ?1) \
                 WHERE id = ?1",
            )?
            .execute(params![story.0, canonical, members.len() as i64])?;
        let mut set_distance =
            self.tx.prepare_cached("UPDATE items SET distance = ?2 WHERE id = ?1 AND distance IS NOT ?2")?;
        for (id, fp) in members {
            set_distance.execute(params![id, (fp ^ canonical_fp).count_ones()])?;
        }
        Ok(())
    }

    /// Records the outcome of a fetch on its feed.
    pub fn record_outcome(&self, feed: FeedId, outcome: &FeedOutcome, now: DateTime<Utc>) -> Result<()> {
        let now = timestamp(now);
        match outcome {
            FeedOutcome::Success { status, validators, title, body_hash, next_fetch_at } => {
                self.tx
                    .prepare_cached(
                        "UPDATE feeds SET etag = ?2, last_modified = ?3, title = COALESCE(?4, title), \
                                body_hash = COALESCE(?5, body_hash), last_fetched_at = ?6, next_fetch_at = ?7, \
                                last_status = ?8, last_error = NULL, error_count = 0 \
                         WHERE id = ?1",
                    )?
                    .execute(params![
                        feed.0,
                        validators.etag,
                        validators.last_modified,
                        title,
                        body_hash,
                        now,
                        timestamp(*next_fetch_at),
                        status
                    ])?;
            }
            FeedOutcome::Failure { status, error, next_fetch_at } => {
                self.tx
                    .prepare_cached(
                        "UPDATE feeds SET last_fetched_at = ?2, next_fetch_at = ?3, last_status = ?4, \
                                last_error = ?5, error_count = error_count + 1 \
                         WHERE id = ?1",
                    )?
                    .execute(params![feed.0, now, timestamp(*next_fetch_at), status, error])?;
            }
            FeedOutcome::Gone { status, error } => {
                self.tx
                    .prepare_cached(
                        "UPDATE feeds SET last_fetched_at = ?2, gone_at = ?2, next_fetch_at = NULL, last_status = ?3, \
                                last_error = ?4, error_count = error_count + 1 \
                         WHERE id = ?1",
                    )?
                    .execute(params![feed.0, now, status, error])?;
            }
            FeedOutcome::Postponed { next_fetch_at } => {
                self.tx
                    .prepare_cached("UPDATE feeds SET next_fetch_at = ?2 WHERE id = ?1")?
                    .execute(params![feed.0, timestamp(*next_fetch_at)])?;
            }
        }
        Ok(())
    }

    /// Pushes the next fetch of `feeds` to `until` at the earliest (their host asked for a
    /// pause). Gone feeds stay as they are.
    pub fn postpone_feeds(&self, feeds: &[FeedId], until: DateTime<Utc>) -> Result<()> {
        let until = timestamp(until);
        let mut stmt = self.tx.prepare_cached(
            "UPDATE feeds SET next_fetch_at = ?2 \
             WHERE id = ?1 AND gone_at IS NULL AND (next_fetch_at IS NULL OR next_fetch_at < ?2)",
        )?;
        for feed in feeds {
            stmt.execute(params![feed.0, until])?;
        }
        Ok(())
    }

    /// Gives a feed a new address (it moved permanently). Returns false, changing nothing,
    /// when another feed already has that address.
    pub fn move_feed(&self, feed: FeedId, url: &str) -> Result<bool> {
        let taken: bool = self
            .tx
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM feeds WHERE url = ?1 AND id != ?2)")?
            .query_row(params![url, feed.0], |r| r.get(0))?;
        if taken {
            return Ok(false);
        }
        self.tx.prepare_cached("UPDATE feeds SET url = ?2 WHERE id = ?1")?.execute(params![feed.0, url])?;
        Ok(true)
    }
}

fn body_kind_str(raw: &RawItem) -> &'static str {
    match raw.body_kind {
        newsdedup_model::BodyKind::Html => "html",
        newsdedup_model::BodyKind::Text => "text",
    }
}

impl Drop for FeedBatch<'_> {
    fn drop(&mut self) {
        if !self.open {
            return;
        }
        let sql = if self.nested { "ROLLBACK TO feed_batch; RELEASE feed_batch" } else { "ROLLBACK" };
        if let Err(e) = self.tx.execute_batch(sql) {
            // Only a connection that is already broken gets here; the transaction ends with it.
            tracing::warn!(error = %e, "cannot roll back a feed's write transaction");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Store;
    use chrono::TimeZone;
    use newsdedup_model::{BodyKind, KeySource, MatchMethod};

    fn raw(guid: &str, published_hour: u32, body: &str) -> RawItem {
        RawItem {
            guid: guid.into(),
            key_source: KeySource::Guid,
            link: None,
            title: Some(format!("Title {guid}")),
            published_at: Some(Utc.with_ymd_and_hms(2026, 1, 1, published_hour, 0, 0).unwrap()),
            updated_at: None,
            body: body.into(),
            body_kind: BodyKind::Text,
            platform_id: None,
        }
    }

    fn clean(text: &str) -> CleanItem {
        CleanItem {
            clean_title: "Clean".into(),
            clean_text: text.into(),
            folded_text: text.to_lowercase(),
            removed: vec![RemovedLine { position: 1, line: "Subscribe!".into(), rule: "en.subscribe".into() }],
            canonical_link: None,
        }
    }

    #[test]
    fn earliest_published_member_becomes_canonical() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("db")).unwrap();
        let now = Utc.with_ymd_and_hms(2026, 1, 2, 0, 0, 0).unwrap();
        let (f, _) = store.add_feed("f", now).unwrap();
        let batch = store.begin().unwrap();
        let (r1, c1) = (raw("late", 9, "x"), clean("x"));
        let late = batch
            .insert_item(
                &NewItem {
                    feed: f,
                    raw: &r1,
                    clean: &c1,
                    fingerprint: Fingerprint { simhash: 0b1111, content_hash: 1 },
                    word_count: 1,
                },
                now,
            )
            .unwrap();
        let story = batch.assign_story(late, &Decision::NewStory).unwrap();
        // A new story is complete at once: what a refresh would make of it changes nothing.
        let story_row = |batch: &FeedBatch<'_>| -> (i64, Option<String>, i64, String, String, Option<i64>) {
            batch
                .tx()
                .query_row(
                    "SELECT s.canonical_item_id, s.title, s.item_count, s.first_seen_at, s.last_seen_at, i.distance \
                     FROM stories s JOIN items i ON i.id = s.canonical_item_id WHERE s.id = ?1",
                    [story.0],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)),
                )
                .unwrap()
        };
        let created = story_row(&batch);
        assert_eq!((created.0, created.2, created.3.as_str(), created.5), (late.0, 1, "2026-01-02T00:00:00Z", Some(0)));
        assert!(created.1.is_some());
        batch.refresh_story(story).unwrap();
        assert_eq!(story_row(&batch), created);
        let (r2, c2) = (raw("early", 3, "y"), clean("y"));
        let early = batch
            .insert_item(
                &NewItem {
                    feed: f,
                    raw: &r2,
                    clean: &c2,
                    fingerprint: Fingerprint { simhash: 0b0011, content_hash: 2 },
                    word_count: 1,
                },
                now,
            )
            .unwrap();
        let join = Decision::Join { story, matched_item: late, method: MatchMethod::Near, distance: 2 };
        assert_eq!(batch.assign_story(early, &join).unwrap(), story);
        batch.commit().unwrap();

        let conn = store.conn();
        let (canonical, count): (i64, i64) = conn
            .query_row("SELECT canonical_item_id, item_count FROM stories WHERE id = ?1", [story.0], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!((canonical, count), (early.0, 2));
        let d: i64 = conn.query_row("SELECT distance FROM items WHERE id = ?1", [late.0], |r| r.get(0)).unwrap();
        assert_eq!(d, 2);
        let rules: i64 = conn.query_row("SELECT count(*) FROM removed_lines", [], |r| r.get(0)).unwrap();
        assert_eq!(rules, 2);

        // Leaving: the story falls back to the remaining item, then disappears when empty.
        let batch = store.begin().unwrap();
        batch.leave_story(early).unwrap();
        batch.leave_story(late).unwrap();
        batch.commit().unwrap();
        let n: i64 = store.conn().query_row("SELECT count(*) FROM stories", [], |r| r.get(0)).unwrap();
        assert_eq!(n, 0);
    }

    #[test]
    fn joining_in_place_agrees_with_a_full_refresh() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("db")).unwrap();
        let (f, _) = store.add_feed("f", Utc.with_ymd_and_hms(2026, 1, 2, 0, 0, 0).unwrap()).unwrap();
        let batch = store.begin().unwrap();
        let snapshot = |batch: &FeedBatch<'_>| -> (i64, i64, String, String, Vec<Option<i64>>) {
            let s = batch
                .tx
                .query_row("SELECT canonical_item_id, item_count, first_seen_at, last_seen_at FROM stories", [], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })
                .unwrap();
            let mut stmt = batch.tx.prepare("SELECT distance FROM items ORDER BY id").unwrap();
            let d = stmt.query_map([], |r| r.get(0)).unwrap().collect::<rusqlite::Result<Vec<_>>>().unwrap();
            (s.0, s.1, s.2, s.3, d)
        };
        let mut story = None;
        // Published at 5h, then later ones (joined in place), then an earlier one (takes over).
        for (n, (hour, fetched_day, fp)) in
            [(5, 3, 0b0u64), (9, 2, 0b111), (7, 5, 0b1), (2, 4, 0b11)].into_iter().enumerate()
        {
            let (r, c) = (raw(&format!("g{n}"), hour, "x"), clean("x"));
            let now = Utc.with_ymd_and_hms(2026, 1, fetched_day, 0, 0, 0).unwrap();
            let fingerprint = Fingerprint { simhash: fp, content_hash: n as u64 };
            let id =
                batch.insert_item(&NewItem { feed: f, raw: &r, clean: &c, fingerprint, word_count: 1 }, now).unwrap();
            let decision = match story {
                None => Decision::NewStory,
                Some(s) => Decision::Join { story: s, matched_item: ItemId(1), method: MatchMethod::Near, distance: 0 },
            };
            story = Some(batch.assign_story(id, &decision).unwrap());
            let incremental = snapshot(&batch);
            batch.refresh_story(story.unwrap()).unwrap();
            assert_eq!(incremental, snapshot(&batch), "after item {n}");
        }
        let (canonical, count, first, last, distances) = snapshot(&batch);
        assert_eq!(
            (canonical, count, first.as_str(), last.as_str()),
            (4, 4, "2026-01-02T00:00:00Z", "2026-01-05T00:00:00Z")
        );
        assert_eq!(distances, [Some(2), Some(1), Some(1), Some(0)]);
    }

    #[test]
    fn an_uncommitted_batch_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("db")).unwrap();
        let now = Utc::now();
        let (f, _) = store.add_feed("f", now).unwrap();
        {
            let batch = store.begin().unwrap();
            let (r, c) = (raw("a", 1, "x"), clean("x"));
            let id = batch
                .insert_item(
                    &NewItem {
                        feed: f,
                        raw: &r,
                        clean: &c,
                        fingerprint: Fingerprint { simhash: 1, content_hash: 1 },
                        word_count: 1,
                    },
                    now,
                )
                .unwrap();
            batch.assign_story(id, &Decision::NewStory).unwrap();
            // dropped here without commit
        }
        let n: i64 = store.conn().query_row("SELECT count(*) FROM items", [], |r| r.get(0)).unwrap();
        assert_eq!(n, 0);
    }

    /// Stores one item of feed `f` with key `guid` in its own story through a batch of `store`.
    fn store_one(store: &mut Store, f: FeedId, guid: &str, commit: bool) {
        let now = Utc::now();
        let batch = store.begin().unwrap();
        let (r, c) = (raw(guid, 1, guid), clean(guid));
        let fingerprint = Fingerprint { simhash: 1, content_hash: guid.len() as u64 };
        let id = batch.insert_item(&NewItem { feed: f, raw: &r, clean: &c, fingerprint, word_count: 1 }, now).unwrap();
        batch.assign_story(id, &Decision::NewStory).unwrap();
        if commit {
            batch.commit().unwrap();
        }
    }

    #[test]
    fn a_group_commits_its_feeds_together_and_a_feed_rolled_back_in_it_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let mut store = Store::open(&path).unwrap();
        let (f, _) = store.add_feed("f", Utc::now()).unwrap();
        let reader = Store::open_read_only(&path).unwrap();
        let guids = |s: &Store| -> Vec<String> {
            let mut stmt = s.conn().prepare("SELECT guid FROM items ORDER BY guid").unwrap();
            stmt.query_map([], |r| r.get(0)).unwrap().collect::<rusqlite::Result<_>>().unwrap()
        };

        store.begin_group().unwrap();
        store_one(&mut store, f, "a", true);
        store_one(&mut store, f, "b", false);
        store_one(&mut store, f, "c", true);
        // The writer sees its group; nobody else does until it commits.
        assert_eq!(guids(&store), ["a", "c"]);
        assert!(guids(&reader).is_empty());
        store.commit_group().unwrap();
        assert_eq!(guids(&reader), ["a", "c"]);
        let stories: i64 = reader.conn().query_row("SELECT count(*) FROM stories_fts", [], |r| r.get(0)).unwrap();
        assert_eq!(stories, 2, "the full-text index is brought up to date when the group commits");

        // Outside a group, each batch is its own transaction again.
        store_one(&mut store, f, "d", true);
        assert_eq!(guids(&reader), ["a", "c", "d"]);
    }

    #[test]
    fn a_group_that_sqlite_ended_refuses_more_feeds_and_its_commit_fails() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("db")).unwrap();
        let (f, _) = store.add_feed("f", Utc::now()).unwrap();
        store.begin_group().unwrap();
        store_one(&mut store, f, "a", true);
        // What SQLite does by itself after some errors (a full disk): the transaction is gone.
        store.conn().execute_batch("ROLLBACK").unwrap();
        assert!(matches!(store.begin(), Err(crate::StoreError::GroupLost)));
        assert!(matches!(store.commit_group(), Err(crate::StoreError::GroupLost)));
        assert!(!store.in_group());
        // The store works on: the next feed is its own transaction.
        store_one(&mut store, f, "b", true);
        let n: i64 = store.conn().query_row("SELECT count(*) FROM items", [], |r| r.get(0)).unwrap();
        assert_eq!(n, 1);
    }
}
