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
