//! Clean items to story decisions.
//!
//! This crate owns the question "is this item a repost of a story we already have?". It
//! computes an item's [`Fingerprint`] from its folded text ([`fingerprint`]) and keeps an
//! in-memory index of the fingerprints of stored items ([`Deduplicator`]), which answers with a
//! [`Decision`]: join story S because of item I (by identity, exact text or near text), or
//! start a new story. It is plain synchronous code; the binary feeds it items in order, tells
//! it what was stored, and rebuilds it from the store at start-up. Which item is a story's
//! canonical one, and all persistence, belong to the store.

use newsdedup_model::{Decision, FeedId, Fingerprint, ItemId, MatchMethod, StoryId};
use std::collections::HashMap;

/// Version of the fingerprint algorithm below. Stored in the database; a change to the
/// features or hashing must bump it, and the store recomputes fingerprints on upgrade.
pub const FINGERPRINT_VERSION: u32 = 1;

/// Words per shingle for the simhash features.
const SHINGLE_WORDS: usize = 3;

/// Computes an item's fingerprint from its folded text.
///
/// What goes in, and why:
/// - The text is split into words: maximal runs of letters and digits. Punctuation and spacing
///   never reach the fingerprint, so quote styles, dashes and stray spaces cannot move it.
/// - `simhash`: the `simhash` crate's 64-bit simhash over overlapping word 3-shingles.
///   Shingles rather than single words, because two stories on one topic share most of their
///   vocabulary but few of their three-word phrases. Texts of fewer than three words use their
///   words.
/// - `content_hash`: FNV-1a over the words joined by single spaces: equal exactly when the two
///   texts have the same words in the same order.
pub fn fingerprint(folded_text: &str) -> Fingerprint {
    let words: Vec<&str> = words(folded_text).collect();
    let simhash = if words.len() < SHINGLE_WORDS {
        simhash::simhash_stream(words.iter().copied())
    } else {
        let shingles: Vec<String> = words.windows(SHINGLE_WORDS).map(|w| w.join(" ")).collect();
        simhash::simhash_stream(shingles.iter().map(String::as_str))
    };
    let mut h = Fnv64::new();
    for (i, w) in words.iter().enumerate() {
        if i > 0 {
            h.write(b" ");
        }
        h.write(w.as_bytes());
    }
    Fingerprint { simhash, content_hash: h.finish() }
}

/// The words of a folded text: runs of alphanumeric characters.
pub fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty())
}

/// Settings of the deduplicator.
#[derive(Debug, Clone)]
pub struct DedupConfig {
    /// Largest Hamming distance between simhashes that still counts as a near duplicate.
    pub max_distance: u32,
    /// Items with fewer words than this never match by near duplicate: a sentence shares too
    /// little to tell a repost from a coincidence.
    pub min_words_for_near: usize,
    /// Exact and near matches only between items published at most this many seconds apart
    /// (`None`: any distance in time). Identity matches ignore it.
    pub window_secs: Option<i64>,
}

impl Default for DedupConfig {
    fn default() -> Self {
        DedupConfig { max_distance: 3, min_words_for_near: 8, window_secs: Some(30 * 86400) }
    }
}

/// What the index remembers of a stored item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    pub item: ItemId,
    pub story: StoryId,
    pub feed: FeedId,
    pub fingerprint: Fingerprint,
    pub word_count: u32,
    /// Canonical link, or platform id, when the item has one that identifies it across feeds.
    pub identity_keys: Vec<String>,
    /// Publication time (or, lacking one, fetch time) in Unix seconds.
    pub published: i64,
}

/// An item awaiting a decision.
#[derive(Debug, Clone)]
pub struct Candidate<'a> {
    pub feed: FeedId,
    pub fingerprint: Fingerprint,
    pub word_count: u32,
    pub identity_keys: &'a [String],
    /// Publication time (or, lacking one, fetch time) in Unix seconds.
    pub published: i64,
}

/// The in-memory index of stored items' fingerprints and identities.
#[derive(Debug, Default)]
pub struct Deduplicator {
    config: DedupConfig,
    /// Entries in insertion order; removed ones are `None` until the next compaction.
    entries: Vec<Option<IndexEntry>>,
    by_item: HashMap<ItemId, usize>,
    by_hash: HashMap<u64, Vec<usize>>,
    by_identity: HashMap<String, Vec<usize>>,
    live: usize,
}

impl Deduplicator {
    pub fn new(config: DedupConfig) -> Deduplicator {
        Deduplicator { config, ..Deduplicator::default() }
    }

    pub fn len(&self) -> usize {
        self.live
    }

    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Adds (or replaces) a stored item.
    pub fn insert(&mut self, entry: IndexEntry) {
        self.remove(entry.item);
        let slot = self.entries.len();
        self.by_item.insert(entry.item, slot);
        self.by_hash.entry(entry.fingerprint.content_hash).or_default().push(slot);
        for key in &entry.identity_keys {
            self.by_identity.entry(key.clone()).or_default().push(slot);
        }
        self.entries.push(Some(entry));
        self.live += 1;
    }

    /// Forgets a stored item (it was updated, or removed from the store).
    pub fn remove(&mut self, item: ItemId) {
        let Some(slot) = self.by_item.remove(&item) else { return };
        if let Some(entry) = self.entries[slot].take() {
            if let Some(v) = self.by_hash.get_mut(&entry.fingerprint.content_hash) {
                v.retain(|s| *s != slot);
            }
            for key in &entry.identity_keys {
                if let Some(v) = self.by_identity.get_mut(key) {
                    v.retain(|s| *s != slot);
                }
            }
            self.live -= 1;
        }
        if self.entries.len() > 1024 && self.live * 2 < self.entries.len() {
            self.compact();
        }
    }

    /// Moves every stored item of story `from` to story `into` (stories merged).
    pub fn relabel_story(&mut self, from: StoryId, into: StoryId) {
        for e in self.entries.iter_mut().flatten() {
            if e.story == from {
                e.story = into;
            }
        }
    }

    fn compact(&mut self) {
        let entries: Vec<IndexEntry> = self.entries.drain(..).flatten().collect();
        self.by_item.clear();
        self.by_hash.clear();
        self.by_identity.clear();
        self.live = 0;
        for e in entries {
            self.insert(e);
        }
    }

    /// Decides which story `candidate` belongs to. Layers, cheapest and surest first: identity
    /// (same canonical link or platform id as an item of another feed), exact (same folded
    /// words), near (simhash within `max_distance`). Ties go to the earliest stored item, so
    /// the same inputs in the same order always give the same decisions.
    pub fn decide(&self, candidate: &Candidate<'_>) -> Decision {
        for key in candidate.identity_keys {
            if let Some(slots) = self.by_identity.get(key) {
                if let Some(e) =
                    slots.iter().filter_map(|s| self.entries[*s].as_ref()).find(|e| e.feed != candidate.feed)
                {
                    return self.join(e, candidate, MatchMethod::Identity);
                }
            }
        }
        let in_window =
            |e: &IndexEntry| self.config.window_secs.is_none_or(|w| (e.published - candidate.published).abs() <= w);
        if candidate.word_count > 0 {
            if let Some(slots) = self.by_hash.get(&candidate.fingerprint.content_hash) {
                if let Some(e) = slots.iter().filter_map(|s| self.entries[*s].as_ref()).find(|e| in_window(e)) {
                    return self.join(e, candidate, MatchMethod::Exact);
                }
            }
        }
        if (candidate.word_count as usize) < self.config.min_words_for_near {
            return Decision::NewStory;
        }
        let mut best: Option<(u32, &IndexEntry)> = None;
        for e in self.entries.iter().flatten() {
            if (e.word_count as usize) < self.config.min_words_for_near || !in_window(e) {
                continue;
            }
            let d = e.fingerprint.distance(&candidate.fingerprint);
            if d <= self.config.max_distance && best.is_none_or(|(bd, _)| d < bd) {
                best = Some((d, e));
            }
        }
        match best {
            Some((_, e)) => self.join(e, candidate, MatchMethod::Near),
            None => Decision::NewStory,
        }
    }

    fn join(&self, e: &IndexEntry, candidate: &Candidate<'_>, method: MatchMethod) -> Decision {
        Decision::Join {
            story: e.story,
            matched_item: e.item,
            method,
            distance: e.fingerprint.distance(&candidate.fingerprint),
        }
    }
}

/// FNV-1a, 64-bit: tiny, and stable across releases and platforms, unlike std's hasher.
struct Fnv64(u64);

impl Fnv64 {
    fn new() -> Fnv64 {
        Fnv64(0xcbf2_9ce4_8422_2325)
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARTICLE: &str = "donald trump has been suspended from twitter and facebook after tweeting to supporters \
        who attacked the us capitol. in a social media message to protesters he said \"i love you\" before telling \
        them to go home. he also repeated false claims about election fraud. twitter said it required the removal \
        of three tweets for \"severe violations of our civic integrity policy\".";

    fn entry(item: i64, story: i64, feed: i64, text: &str) -> IndexEntry {
        IndexEntry {
            item: ItemId(item),
            story: StoryId(story),
            feed: FeedId(feed),
            fingerprint: fingerprint(text),
            word_count: words(text).count() as u32,
            identity_keys: Vec::new(),
            published: 0,
        }
    }

    fn decide(d: &Deduplicator, feed: i64, text: &str, keys: &[String]) -> Decision {
        d.decide(&Candidate {
            feed: FeedId(feed),
            fingerprint: fingerprint(text),
            word_count: words(text).count() as u32,
            identity_keys: keys,
            published: 3600,
        })
    }

    #[test]
    fn punctuation_and_spacing_do_not_move_the_fingerprint() {
        let a = fingerprint("he said: \"go home\" - now");
        let b = fingerprint("he said 'go home' now!");
        assert_eq!(a, b);
    }

    #[test]
    fn same_words_are_an_exact_match() {
        let mut d = Deduplicator::new(DedupConfig::default());
        d.insert(entry(1, 10, 1, ARTICLE));
        let decision = decide(&d, 2, &ARTICLE.replace('"', "'"), &[]);
        assert_eq!(
            decision,
            Decision::Join { story: StoryId(10), matched_item: ItemId(1), method: MatchMethod::Exact, distance: 0 }
        );
    }

    #[test]
    fn a_small_edit_is_a_near_match_and_another_story_is_not() {
        let mut d = Deduplicator::new(DedupConfig { max_distance: 12, ..DedupConfig::default() });
        d.insert(entry(1, 10, 1, ARTICLE));
        let edited = ARTICLE.replace("three tweets", "3 tweets");
        assert!(matches!(decide(&d, 2, &edited, &[]), Decision::Join { method: MatchMethod::Near, .. }));
        let other = "the bank of england held interest rates at four percent on thursday, citing a slowdown in \
            consumer spending and weaker than expected growth in the housing market over the winter months.";
        assert_eq!(decide(&d, 2, other, &[]), Decision::NewStory);
    }

    #[test]
    fn identity_joins_across_feeds_only() {
        let mut d = Deduplicator::new(DedupConfig::default());
        let mut e = entry(1, 10, 1, ARTICLE);
        e.identity_keys = vec!["https://example.org/a".into()];
        d.insert(e);
        let keys = vec!["https://example.org/a".to_string()];
        assert!(matches!(decide(&d, 2, "short summary", &keys), Decision::Join { method: MatchMethod::Identity, .. }));
        assert_eq!(decide(&d, 1, "short summary", &keys), Decision::NewStory);
    }

    #[test]
    fn items_far_apart_in_time_do_not_match_by_text() {
        let mut d = Deduplicator::new(DedupConfig { window_secs: Some(86400), ..DedupConfig::default() });
        let mut old = entry(1, 10, 1, ARTICLE);
        old.published = -5 * 86400;
        d.insert(old);
        assert_eq!(decide(&d, 2, ARTICLE, &[]), Decision::NewStory);
    }

    #[test]
    fn removed_items_no_longer_match() {
        let mut d = Deduplicator::new(DedupConfig::default());
        d.insert(entry(1, 10, 1, ARTICLE));
        d.remove(ItemId(1));
        assert!(d.is_empty());
        assert_eq!(decide(&d, 2, ARTICLE, &[]), Decision::NewStory);
    }
}
