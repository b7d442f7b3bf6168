//! The schema, as an append-only list of migrations.
//!
//! `PRAGMA user_version` holds how many migrations a database has applied. On open, the
//! missing ones run in order inside one exclusive transaction, so a database is never left
//! half-migrated and two processes opening it at once cannot both migrate. Rules: never edit
//! or reorder a migration that has shipped, never drop data in one; add a new entry instead,
//! with a comment saying why. Each table's purpose is a comment in the migration that creates
//! it (sqlite keeps those comments in `sqlite_master.sql`, so people browsing the file see
//! them too).

/// The migrations, in order. Index + 1 is the `user_version` after applying it.
pub const MIGRATIONS: &[&str] = &[
    // 1: the initial schema of the contract in DESIGN.md.
    r#"
CREATE TABLE feeds (
    -- Every feed newsdedup polls or has ingested, with its HTTP validators and schedule.
    id              INTEGER PRIMARY KEY,
    url             TEXT NOT NULL UNIQUE,   -- URL or local path, as added
    title           TEXT,                   -- the feed's own title, from its last document
    etag            TEXT,                   -- validators sent back on the next request
    last_modified   TEXT,
    last_fetched_at TEXT,                   -- RFC 3339 UTC of the last attempt
    next_fetch_at   TEXT,                   -- when the feed is due again (NULL: now)
    last_status     INTEGER,                -- HTTP status of the last attempt (200 for files)
    last_error      TEXT,                   -- NULL when the last attempt succeeded
    error_count     INTEGER NOT NULL DEFAULT 0,  -- consecutive failed attempts
    body_hash       TEXT,                   -- hash of the last processed document
    added_at        TEXT NOT NULL
);

CREATE TABLE stories (
    -- One story per original article; its reposts are the items pointing at it.
    id                INTEGER PRIMARY KEY,
    canonical_item_id INTEGER REFERENCES items(id) DEFERRABLE INITIALLY DEFERRED,
                                            -- the earliest-published member
    title             TEXT,                 -- the canonical item's cleaned title
    first_seen_at     TEXT NOT NULL,        -- earliest fetch time among its items
    last_seen_at      TEXT NOT NULL,        -- latest fetch time among its items
    item_count        INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE items (
    -- Every entry of every feed, with its raw and clean text and its story.
    id              INTEGER PRIMARY KEY,
    feed_id         INTEGER NOT NULL REFERENCES feeds(id) ON DELETE CASCADE,
    guid            TEXT NOT NULL,          -- stable key within the feed (see key_source)
    key_source      TEXT NOT NULL,          -- guid | link | content_hash
    link            TEXT,                   -- as the feed gave it
    canonical_link  TEXT,                   -- normalised for matching across feeds
    platform_id     TEXT,                   -- e.g. youtube:VIDEO_ID
    title           TEXT,                   -- as the feed gave it
    clean_title     TEXT,                   -- without decoration
    published_at    TEXT,                   -- RFC 3339 UTC, from the feed
    fetched_at      TEXT NOT NULL,          -- first time newsdedup stored it
    updated_at      TEXT NOT NULL,          -- last time its content changed
    raw_content     TEXT NOT NULL,          -- the body as the feed carried it
    body_kind       TEXT NOT NULL,          -- html | text
    clean_text      TEXT NOT NULL,          -- the body cleaned, one paragraph per line
    fingerprint     INTEGER NOT NULL,       -- 64-bit simhash, bit-cast to a signed integer
    content_hash    INTEGER NOT NULL,       -- hash of the folded words, for exact matches
    word_count      INTEGER NOT NULL,
    story_id        INTEGER REFERENCES stories(id) DEFERRABLE INITIALLY DEFERRED,
    match_method    TEXT,                   -- new | identity | exact | near
    matched_item_id INTEGER,                -- the item whose match put it in its story
    distance        INTEGER,                -- Hamming distance to the canonical fingerprint
    similarity      REAL,                   -- verified text similarity to the matched item, 0..1
    UNIQUE (feed_id, guid)
);
CREATE INDEX items_story ON items(story_id);
CREATE INDEX items_published ON items(published_at);

CREATE TABLE removed_lines (
    -- Each line of boilerplate removed from an item's body, and the rule that removed it.
    item_id  INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,              -- line number in the body before removal, from 0
    line     TEXT NOT NULL,
    rule     TEXT NOT NULL,                 -- rule id, e.g. en.cta.subscribe
    PRIMARY KEY (item_id, position)
) WITHOUT ROWID;

CREATE TABLE meta (
    -- Facts about this database: algorithm versions that stored values depend on.
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
"#,
    // 2: `newsdedup prune` deletes the items of old stories and clears old raw content. The
    // keys of deleted items are kept, so that a feed still carrying them does not store them
    // again; and a cleared body must not look like an edit of the item.
    r#"
CREATE TABLE tombstones (
    -- The keys of items `newsdedup prune` deleted: the writer never stores them again.
    feed_id    INTEGER NOT NULL REFERENCES feeds(id) ON DELETE CASCADE,
    guid       TEXT NOT NULL,
    pruned_at  TEXT NOT NULL,               -- RFC 3339 UTC
    PRIMARY KEY (feed_id, guid)
) WITHOUT ROWID;

ALTER TABLE items ADD COLUMN raw_pruned_at TEXT;  -- when prune cleared raw_content (NULL: never)
"#,
    // 3: views for the questions people ask of the file, full-text search over stories, and a
    // random id for this database (the stable base of the ids in exported Atom and JSON
    // feeds). Views compute from the tables on every read, so they never drift from them.
    r#"
CREATE VIEW story_overview AS
    -- One row per story: its cleaned title, the canonical item's link, when it was first and
    -- last seen, when any of its items last changed, and how many items and feeds carry it.
    SELECT s.id                AS story_id,
           s.title             AS title,
           c.link              AS link,
           c.canonical_link    AS canonical_link,
           s.canonical_item_id AS canonical_item_id,
           c.feed_id           AS canonical_feed_id,
           cf.url              AS canonical_feed_url,
           c.published_at      AS published_at,
           s.first_seen_at     AS first_seen_at,
           s.last_seen_at      AS last_seen_at,
           (SELECT max(i.updated_at) FROM items i WHERE i.story_id = s.id) AS updated_at,
           s.item_count        AS item_count,
           (SELECT count(DISTINCT i.feed_id) FROM items i WHERE i.story_id = s.id) AS feed_count
    FROM stories s
    LEFT JOIN items c ON c.id = s.canonical_item_id
    LEFT JOIN feeds cf ON cf.id = c.feed_id;

CREATE VIEW story_items AS
    -- One row per item that belongs to a story: which feed carried it and when, how long after
    -- the canonical item it was published (lag_seconds, from published_at or else fetched_at),
    -- and why it joined the story (match method, Hamming distance, text similarity).
    SELECT i.story_id          AS story_id,
           i.id                AS item_id,
           i.id = s.canonical_item_id AS is_canonical,
           i.feed_id           AS feed_id,
           f.url               AS feed_url,
           f.title             AS feed_title,
           i.title             AS title,
           i.clean_title       AS clean_title,
           i.link              AS link,
           i.published_at      AS published_at,
           i.fetched_at        AS fetched_at,
           CAST(round((julianday(COALESCE(i.published_at, i.fetched_at))
                       - julianday(COALESCE(c.published_at, c.fetched_at))) * 86400) AS INTEGER)
                               AS lag_seconds,
           i.match_method      AS match_method,
           i.matched_item_id   AS matched_item_id,
           i.distance          AS distance,
           i.similarity        AS similarity
    FROM items i
    JOIN stories s ON s.id = i.story_id
    JOIN feeds f ON f.id = i.feed_id
    LEFT JOIN items c ON c.id = s.canonical_item_id;

CREATE VIEW feed_health AS
    -- One row per feed: whether its last fetch worked, how many items it brought, what share of
    -- them were reposts of stories that another feed's item started, and how many boilerplate
    -- lines were removed from them.
    SELECT f.id                AS feed_id,
           f.url               AS url,
           f.title             AS title,
           CASE WHEN f.last_fetched_at IS NULL THEN 'new'
                WHEN f.last_error IS NULL THEN 'ok'
                ELSE 'failing' END AS status,
           f.last_status       AS last_status,
           f.last_error        AS last_error,
           f.error_count       AS error_count,
           f.last_fetched_at   AS last_fetched_at,
           f.next_fetch_at     AS next_fetch_at,
           n.last_item_at      AS last_item_at,
           COALESCE(n.items, 0)   AS items,
           COALESCE(n.reposts, 0) AS reposts,
           CASE WHEN n.items > 0 THEN round(1.0 * n.reposts / n.items, 3) END AS repost_share,
           COALESCE(r.removed_lines, 0) AS removed_lines
    FROM feeds f
    LEFT JOIN (SELECT i.feed_id,
                      count(*) AS items,
                      max(i.fetched_at) AS last_item_at,
                      COALESCE(sum(c.feed_id IS NOT NULL AND c.feed_id != i.feed_id), 0) AS reposts
               FROM items i
               LEFT JOIN stories s ON s.id = i.story_id
               LEFT JOIN items c ON c.id = s.canonical_item_id
               GROUP BY i.feed_id) n ON n.feed_id = f.id
    LEFT JOIN (SELECT i.feed_id, count(*) AS removed_lines
               FROM removed_lines rl JOIN items i ON i.id = rl.item_id
               GROUP BY i.feed_id) r ON r.feed_id = f.id;

-- "Latest stories" pages and `--since` read stories by last_seen_at.
CREATE INDEX stories_last_seen ON stories(last_seen_at);

CREATE VIRTUAL TABLE stories_fts USING fts5(
    -- Full-text index of each story's title and its canonical item's clean text; rowid is
    -- stories.id. Kept in sync by the triggers below. Query with MATCH, rank with bm25().
    title,
    text,
    tokenize = 'unicode61 remove_diacritics 2'
);

INSERT INTO stories_fts(rowid, title, text)
    SELECT s.id, s.title, COALESCE(c.clean_text, '')
    FROM stories s LEFT JOIN items c ON c.id = s.canonical_item_id
    WHERE s.item_count > 0;

-- The index follows every change of a story's title or canonical item, and of the canonical
-- item's text. A story is indexed once it has items: the store creates a story empty and
-- fills it in with one update, so indexing at that update (old.item_count = 0) writes each new
-- story once instead of three times. The WHEN clauses skip the many story refreshes that
-- change neither title nor canonical item.
CREATE TRIGGER stories_fts_insert AFTER INSERT ON stories WHEN new.item_count > 0 BEGIN
    INSERT INTO stories_fts(rowid, title, text)
    VALUES (new.id, new.title, COALESCE((SELECT clean_text FROM items WHERE id = new.canonical_item_id), ''));
END;

CREATE TRIGGER stories_fts_update AFTER UPDATE OF title, canonical_item_id, item_count ON stories
WHEN old.title IS NOT new.title OR old.canonical_item_id IS NOT new.canonical_item_id
     OR (old.item_count > 0) IS NOT (new.item_count > 0) BEGIN
    DELETE FROM stories_fts WHERE rowid = old.id;
    INSERT INTO stories_fts(rowid, title, text)
    SELECT new.id, new.title, COALESCE((SELECT clean_text FROM items WHERE id = new.canonical_item_id), '')
    WHERE new.item_count > 0;
END;

CREATE TRIGGER stories_fts_delete AFTER DELETE ON stories BEGIN
    DELETE FROM stories_fts WHERE rowid = old.id;
END;

CREATE TRIGGER items_fts_update AFTER UPDATE OF clean_text ON items
WHEN old.clean_text IS NOT new.clean_text AND new.story_id IS NOT NULL BEGIN
    UPDATE stories_fts SET text = new.clean_text
    WHERE rowid = new.story_id
      AND EXISTS (SELECT 1 FROM stories WHERE id = new.story_id AND canonical_item_id = new.id);
END;

INSERT OR IGNORE INTO meta(key, value) VALUES ('database_id', lower(hex(randomblob(16))));
"#,
    // 4: a feed whose server answered 410 Gone is not polled again until someone re-enables
    // it (`newsdedup feeds enable URL`); and with thousands of feeds, finding the due ones
    // should not scan the table.
    r#"
ALTER TABLE feeds ADD COLUMN gone_at TEXT;  -- RFC 3339 UTC of the 410 Gone; NULL: polled normally
CREATE INDEX feeds_next_fetch ON feeds(next_fetch_at);
"#,
    // 5: learned per-feed templates. The normaliser counts, per feed, the lines that recur
    // across its different stories; these tables keep the counts between runs so that cron
    // runs go on learning, and so that people can see what was learned and why a line went.
    r#"
CREATE TABLE template_feeds (
    -- Per feed: how many distinct stories the template statistics have counted.
    feed_id       INTEGER PRIMARY KEY REFERENCES feeds(id) ON DELETE CASCADE,
    stories       INTEGER NOT NULL DEFAULT 0,
    shape_version INTEGER NOT NULL          -- version of the line-shape algorithm of the keys below
);

CREATE TABLE template_lines (
    -- Per feed and line shape: how many items and distinct stories hold the line. A line in
    -- enough stories is the feed's template: removed_lines records it as learned.template.
    feed_id       INTEGER NOT NULL REFERENCES feeds(id) ON DELETE CASCADE,
    shape         INTEGER NOT NULL,         -- 64-bit hash of the line's shape, bit-cast to signed
    items         INTEGER NOT NULL,
    stories       INTEGER NOT NULL,
    since         INTEGER NOT NULL,         -- the feed's story count when the line first appeared
    words         INTEGER NOT NULL,         -- words in the line's shape (long lines need more)
    first_seen_at TEXT NOT NULL,
    last_seen_at  TEXT NOT NULL,
    example       TEXT,                     -- the line as written, once it is part of the template
    PRIMARY KEY (feed_id, shape)
) WITHOUT ROWID;
CREATE INDEX template_lines_since ON template_lines(feed_id, since);
CREATE INDEX template_lines_learned ON template_lines(shape) WHERE example IS NOT NULL;

CREATE TABLE template_anchors (
    -- Per feed: the rarest lines of each story counted, so that a repost of it is not counted again.
    feed_id INTEGER NOT NULL REFERENCES feeds(id) ON DELETE CASCADE,
    shape   INTEGER NOT NULL,
    since   INTEGER NOT NULL,               -- the feed's story count when it was recorded
    PRIMARY KEY (feed_id, shape)
) WITHOUT ROWID;
CREATE INDEX template_anchors_since ON template_anchors(feed_id, since);
"#,
    // 6: learned templates also look a line up across all feeds (short lines that many feeds
    // repeat), not only among learned template lines: index every line by its shape. The
    // partial index of migration 5 is covered by this one.
    r#"
DROP INDEX template_lines_learned;
CREATE INDEX template_lines_shape ON template_lines(shape);
"#,
    // 7: verified near-duplicate detection (crates/deduplicator). Each item gets a second
    // fingerprint (of its lead), a sample of its phrases to verify candidates with, and its
    // time as a number for the candidate window. The indexes let the deduplicator find stored
    // items by link, platform id, text hash and fingerprint in SQLite instead of keeping them
    // in memory; the window index covers the fingerprints, so the in-memory index is rebuilt
    // at start-up from the index alone. Values for existing items are computed by the binary
    // on first open (meta fingerprint_version / sketch_version).
    r#"
ALTER TABLE items ADD COLUMN lead_fingerprint INTEGER; -- simhash of the lead (first ~100 characters); NULL: too little text to search by fingerprint
ALTER TABLE items ADD COLUMN sketch BLOB;             -- sample of the text's phrase hashes, to verify near duplicates
ALTER TABLE items ADD COLUMN dedup_time INTEGER;      -- Unix seconds: publication time, else fetch time
UPDATE items SET dedup_time = CAST(strftime('%s', COALESCE(published_at, fetched_at)) AS INTEGER);
CREATE INDEX items_feed ON items(feed_id);
CREATE INDEX items_content_hash ON items(content_hash);
CREATE INDEX items_canonical_link ON items(canonical_link) WHERE canonical_link IS NOT NULL;
CREATE INDEX items_platform_id ON items(platform_id) WHERE platform_id IS NOT NULL;
CREATE INDEX items_fingerprint ON items(fingerprint) WHERE lead_fingerprint IS NOT NULL;
CREATE INDEX items_lead_fingerprint ON items(lead_fingerprint) WHERE lead_fingerprint IS NOT NULL;
CREATE INDEX items_dedup_window ON items(dedup_time, fingerprint, lead_fingerprint) WHERE lead_fingerprint IS NOT NULL;
"#,
    // 8: feed_health tells a feed whose server said 410 Gone (not polled until re-enabled)
    // from one that is failing and still retried. A view holds no data: it is recreated.
    r#"
DROP VIEW feed_health;
CREATE VIEW feed_health AS
    -- One row per feed: whether its last fetch worked, how many items it brought, what share of
    -- them were reposts of stories that another feed's item started, and how many boilerplate
    -- lines were removed from them.
    SELECT f.id                AS feed_id,
           f.url               AS url,
           f.title             AS title,
           CASE WHEN f.gone_at IS NOT NULL THEN 'gone'
                WHEN f.last_fetched_at IS NULL THEN 'new'
                WHEN f.last_error IS NULL THEN 'ok'
                ELSE 'failing' END AS status,
           f.gone_at           AS gone_at,
           f.last_status       AS last_status,
           f.last_error        AS last_error,
           f.error_count       AS error_count,
           f.last_fetched_at   AS last_fetched_at,
           f.next_fetch_at     AS next_fetch_at,
           n.last_item_at      AS last_item_at,
           COALESCE(n.items, 0)   AS items,
           COALESCE(n.reposts, 0) AS reposts,
           CASE WHEN n.items > 0 THEN round(1.0 * n.reposts / n.items, 3) END AS repost_share,
           COALESCE(r.removed_lines, 0) AS removed_lines
    FROM feeds f
    LEFT JOIN (SELECT i.feed_id,
                      count(*) AS items,
                      max(i.fetched_at) AS last_item_at,
                      COALESCE(sum(c.feed_id IS NOT NULL AND c.feed_id != i.feed_id), 0) AS reposts
               FROM items i
               LEFT JOIN stories s ON s.id = i.story_id
               LEFT JOIN items c ON c.id = s.canonical_item_id
               GROUP BY i.feed_id) n ON n.feed_id = f.id
    LEFT JOIN (SELECT i.feed_id, count(*) AS removed_lines
               FROM removed_lines rl JOIN items i ON i.id = rl.item_id
               GROUP BY i.feed_id) r ON r.feed_id = f.id;
"#,
    // 9: the deduplicator looks items up by fingerprint (up to 32 per fingerprint, oldest
    // first) and keeps those in its candidate window. The columns it reads for that come after
    // raw_content in the row, so reading them from the table walks the raw text's overflow
    // pages, item after item, in a large database. These indexes hold them (the id orders
    // them), so the lookup reads no row; only the candidates in the window are read, for their
    // sketch.
    r#"
DROP INDEX items_fingerprint;
DROP INDEX items_lead_fingerprint;
CREATE INDEX items_fingerprint ON items(fingerprint, id, story_id, feed_id, dedup_time, lead_fingerprint)
    WHERE lead_fingerprint IS NOT NULL;
CREATE INDEX items_lead_fingerprint ON items(lead_fingerprint, id, story_id, feed_id, dedup_time, fingerprint)
    WHERE lead_fingerprint IS NOT NULL;
"#,
    // 10: the full-text index is brought up to date once per write transaction instead of
    // by each statement. FTS5 writes what it has buffered to disk (a new segment, then merge
    // work) at every statement savepoint once it is part of a transaction: with the triggers
    // of migration 2 writing to it as items joined stories, each later statement of the
    // feed's transaction flushed it again, which cost half of a story update. The triggers now
    // note which stories changed in `search_pending`; the store rewrites their index rows
    // just before each commit (see search.rs), with the same conditions as before.
    r#"
DROP TRIGGER stories_fts_insert;
DROP TRIGGER stories_fts_update;
DROP TRIGGER stories_fts_delete;
DROP TRIGGER items_fts_update;

CREATE TABLE search_pending (
    -- Stories whose row in stories_fts is out of date until the current write transaction
    -- commits (empty between transactions).
    story_id INTEGER PRIMARY KEY
);

CREATE TRIGGER stories_fts_insert AFTER INSERT ON stories WHEN new.item_count > 0 BEGIN
    INSERT OR IGNORE INTO search_pending(story_id) VALUES (new.id);
END;

CREATE TRIGGER stories_fts_update AFTER UPDATE OF title, canonical_item_id, item_count ON stories
WHEN old.title IS NOT new.title OR old.canonical_item_id IS NOT new.canonical_item_id
     OR (old.item_count > 0) IS NOT (new.item_count > 0) BEGIN
    INSERT OR IGNORE INTO search_pending(story_id) VALUES (new.id);
END;

CREATE TRIGGER stories_fts_delete AFTER DELETE ON stories BEGIN
    INSERT OR IGNORE INTO search_pending(story_id) VALUES (old.id);
END;

CREATE TRIGGER items_fts_update AFTER UPDATE OF clean_text ON items
WHEN old.clean_text IS NOT new.clean_text AND new.story_id IS NOT NULL BEGIN
    INSERT OR IGNORE INTO search_pending(story_id)
    SELECT new.story_id WHERE EXISTS (SELECT 1 FROM stories WHERE id = new.story_id AND canonical_item_id = new.id);
END;
"#,
    // 11: each line of a batch is looked up among the template lines other feeds learned.
    // Through the index on shape alone, each other feed's row for the line was read to see
    // whether it was learned; this index holds only learned lines, with their feed, so the
    // lookup reads no row.
    r#"
CREATE INDEX template_lines_learned ON template_lines(shape, feed_id) WHERE example IS NOT NULL;
"#,
    // 12: the index on shape alone serves one question, how many feeds hold a short line
    // (`Store::template_lines_everywhere`), yet every line of every batch was entered in it:
    // nine rows in ten are prose. It now holds the short lines only (`SHORT_LINE_WORDS`).
    r#"
DROP INDEX template_lines_shape;
CREATE INDEX template_lines_short ON template_lines(shape) WHERE words <= 6;
"#,
    // 13: a story is written complete when it is created (with its item), and one that loses
    // its last item is deleted, so its item count never crosses zero in an update: the
    // search trigger need not fire on the count, which every repost changes (its firing was
    // half the cost of that update).
    r#"
DROP TRIGGER stories_fts_update;
CREATE TRIGGER stories_fts_update AFTER UPDATE OF title, canonical_item_id ON stories
WHEN old.title IS NOT new.title OR old.canonical_item_id IS NOT new.canonical_item_id BEGIN
    INSERT OR IGNORE INTO search_pending(story_id) VALUES (new.id);
END;
"#,
    // 14: phrase keys, a second way to find near-duplicate candidates (crates/deduplicator,
    // `Sketch::phrase_keys`): the two smallest phrase hashes of a searchable item's sketch,
    // indexed with the window time, so that a lookup reads only the items within the window.
    // Values for existing items are stored by the binary on first open (meta sketch_version 2).
    r#"
ALTER TABLE items ADD COLUMN phrase_key INTEGER;  -- smallest sampled shingle hash; NULL: not searchable
ALTER TABLE items ADD COLUMN phrase_key2 INTEGER; -- second smallest; NULL: not searchable or a single one
CREATE INDEX items_phrase_key ON items(phrase_key, dedup_time) WHERE phrase_key IS NOT NULL;
CREATE INDEX items_phrase_key2 ON items(phrase_key2, dedup_time) WHERE phrase_key2 IS NOT NULL;
"#,
];

#[cfg(test)]
mod tests {
    #[test]
    fn every_migration_is_valid_sql_on_its_own() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        for (i, m) in super::MIGRATIONS.iter().enumerate() {
            conn.execute_batch(m).unwrap_or_else(|e| panic!("migration {} fails: {e}", i + 1));
        }
    }
}
