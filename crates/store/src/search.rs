//! Full-text search over stories: the FTS5 index `stories_fts` (migration 2) holds each
//! story's title and its canonical item's clean text. Triggers on `stories` and `items` note
//! the stories whose title or canonical text changed in `search_pending` (migration 10),
//! and [`sync_index`] rewrites their rows before each write transaction commits. This module
//! also turns what a person typed into a safe FTS5 query and ranks the matches with bm25.

use crate::inspect::{summary_from_row, StorySummary, SUMMARY_COLUMNS};
use crate::{Result, Store};
use rusqlite::{params, Connection};
use serde::Serialize;

/// Brings `stories_fts` up to date with the stories noted in `search_pending`: each one's
/// row is rewritten from its current title and canonical text (or removed, for a story that is
/// gone or empty). Every write transaction that may change stories calls it just before it
/// commits, so the index is never out of date outside a transaction. All of it at once, with
/// nothing written after it: FTS5 then writes its buffer to disk once per transaction.
pub(crate) fn sync_index(conn: &Connection) -> rusqlite::Result<()> {
    if !conn.prepare_cached("SELECT EXISTS (SELECT 1 FROM search_pending)")?.query_row([], |r| r.get::<_, bool>(0))? {
        return Ok(());
    }
    conn.prepare_cached("DELETE FROM stories_fts WHERE rowid IN (SELECT story_id FROM search_pending)")?.execute([])?;
    conn.prepare_cached(
        "INSERT INTO stories_fts(rowid, title, text) \
         SELECT s.id, s.title, COALESCE(c.clean_text, '') \
         FROM search_pending p JOIN stories s ON s.id = p.story_id \
         LEFT JOIN items c ON c.id = s.canonical_item_id \
         WHERE s.item_count > 0 ORDER BY s.id",
    )?
    .execute([])?;
    conn.prepare_cached("DELETE FROM search_pending")?.execute([])?;
    Ok(())
}

/// How much more a word in the title counts than a word in the text, for bm25.
const TITLE_WEIGHT: f64 = 4.0;

/// One story found by [`Store::search`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchHit {
    #[serde(flatten)]
    pub story: StorySummary,
    /// bm25 score: lower is a better match (FTS5's convention).
    pub rank: f64,
    /// A few words of the canonical text around the match, matches in `[` `]`.
    pub snippet: String,
}

/// Turns free text into an FTS5 query that cannot be a syntax error: every word becomes a
/// quoted phrase (so `AND`, `NEAR`, `-`, `:`, `(` and quotes in user input are just text), and
/// the phrases must all match. A word ending in `*` keeps its meaning as a prefix search.
/// Returns `None` when no word has a letter or digit in it, since such words would match
/// nothing at all.
pub fn fts_query(input: &str) -> Option<String> {
    let phrases: Vec<String> = input
        .split_whitespace()
        .filter_map(|word| {
            let (word, prefix) = match word.strip_suffix('*') {
                Some(stem) if !stem.is_empty() => (stem, true),
                _ => (word, false),
            };
            if !word.chars().any(char::is_alphanumeric) {
                return None;
            }
            Some(format!("\"{}\"{}", word.replace('"', "\"\""), if prefix { "*" } else { "" }))
        })
        .collect();
    if phrases.is_empty() {
        None
    } else {
        Some(phrases.join(" "))
    }
}

impl Store {
    /// Stories whose title or canonical text contains every word of `query` (letters folded
    /// to lower case and without diacritics), best match first.
    pub fn search(&self, query: &str, limit: i64) -> Result<Vec<SearchHit>> {
        let Some(fts) = fts_query(query) else { return Ok(Vec::new()) };
        let sql = format!(
            "SELECT {SUMMARY_COLUMNS}, bm25(stories_fts, {TITLE_WEIGHT:.1}, 1.0) AS rank, \
                    snippet(stories_fts, 1, '[', ']', '…', 16) \
             FROM stories_fts JOIN story_overview v ON v.story_id = stories_fts.rowid \
             WHERE stories_fts MATCH ?1 \
             ORDER BY rank, v.last_seen_at DESC, v.story_id DESC LIMIT ?2"
        );
        let mut stmt = self.conn().prepare_cached(&sql)?;
        let rows = stmt
            .query_map(params![fts, limit], |r| {
                Ok(SearchHit { story: summary_from_row(r)?, rank: r.get(10)?, snippet: r.get(11)? })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_input_becomes_quoted_phrases() {
        assert_eq!(fts_query("storm power").as_deref(), Some(r#""storm" "power""#));
        assert_eq!(fts_query(r#"say "hi" NEAR(x)"#).as_deref(), Some(r#""say" """hi""" "NEAR(x)""#));
        assert_eq!(fts_query("elect*").as_deref(), Some(r#""elect"*"#));
        assert_eq!(fts_query("- * ( ) :").as_deref(), None);
        assert_eq!(fts_query("   ").as_deref(), None);
    }
}
