//! The decision for one item: which story it joins, through which layer, and why.
//!
//! Layers, cheapest and surest first:
//! 1. identity: the same canonical link or platform id as an item of another feed;
//! 2. exact: the same folded words as an item published within the window;
//! 3. near: items whose whole-text or lead simhash is within the search radius (found through
//!    the in-memory [`HammingIndex`]es); for an item that none of those is confirmed for,
//!    also the items one of whose phrase keys (the smallest hashes of their five-word phrases,
//!    see [`Sketch::phrase_keys`]) is among the item's own smallest (found through an SQL
//!    index): paragraphs moved and cut move a simhash far, but not the phrases themselves.
//!    Each candidate is confirmed by [`verify`] on the two sketches; when the sketches of
//!    none is enough but some come close, the closest are checked on the two texts with
//!    single-letter typos forgiven ([`crate::typo`]). The
//!    best confirmed candidate gives the story; any other story a candidate confirmed is the
//!    same story too, and is merged into it (an item that bridges two stories proves they
//!    were one: a full repost arriving after a summary and a cut-down copy that had no
//!    common text). Not when the item joins through a phrase key alone: that evidence has
//!    the least margin (see [`crate::verify`]), enough to join one story but not to make two
//!    stories one (a roundup that holds two stories would otherwise merge them).
//!
//! The deduplicator keeps only fingerprints in memory. Everything else about stored items
//! (their story, feed, time and sketch) comes from a [`Lookup`], which the binary implements
//! over the store's current transaction, so later items of a batch see earlier ones.
//!
//! The candidate window is a window of publication time around each item, and items do not
//! always arrive in publication order (an archive, a feed that lists old stories, a refetch).
//! So the in-memory index holds *time buckets* of a quarter window each: a decision first makes
//! sure every bucket within the window of its item is loaded (from SQLite, through the
//! lookup). Buckets stay loaded while the index is small (see [`RESIDENT_FINGERPRINTS`]);
//! beyond that, the least recently used buckets are dropped down to [`MAX_LOADED_BUCKETS`].
//! A large live feed reader thus keeps about the last window and a quarter in memory, and a
//! large archive import at most three windows' worth, whatever its order; a small database
//! is simply held whole (reloading buckets back and forth would cost more than it saves).
//!
//! Ties are broken by item id (the earliest stored wins), so the same inputs in the same order
//! give the same stories.

use crate::index::HammingIndex;
use crate::sketch::Sketch;
use crate::text::{Features, Template, TextProfile};
use crate::typo::forgiving_containment;
use crate::verify::{verify, verify_found, Check, Found};
use newsdedup_model::{Decision, FeedId, ItemId, MatchMethod, StoryId};

/// Settings of the deduplicator.
#[derive(Debug, Clone)]
pub struct DedupConfig {
    /// Search radius, in bits, around the whole-text and the lead simhash. Measured on the
    /// dev corpus (pairwise recall of the whole pipeline; precision was 1.0 at every radius,
    /// since verification rejects what the fingerprints wrongly propose): radius 6: 0.988,
    /// 7: 0.991, 8: 0.993, 9: 0.993, 10: 0.994. The index probes 52, 68, 188, 308 and 428
    /// buckets per search for these radii (`make bench`: about 11, 20 and 50 µs per search at
    /// 1M stored fingerprints for 7, 8 and 10). Radius 8 is where recall stops improving
    /// faster than the cost grows.
    pub max_distance: u32,
    /// Items with fewer content words never search or get found by fingerprint: a sentence
    /// shares too little with anything to tell a repost from a coincidence.
    pub min_words_for_near: u32,
    /// Exact and near matches only between items published at most this many seconds apart.
    pub window_secs: i64,
    /// Fingerprints the in-memory index holds before it drops time buckets it has not needed
    /// lately (see the module documentation).
    pub resident_fingerprints: usize,
}

impl Default for DedupConfig {
    fn default() -> Self {
        DedupConfig {
            max_distance: 8,
            min_words_for_near: 8,
            window_secs: 30 * 86400,
            resident_fingerprints: RESIDENT_FINGERPRINTS,
        }
    }
}

/// A key that identifies an item across feeds.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IdentityKey {
    /// The canonical link, when it points at a document (not a site's front page).
    Link(String),
    /// A platform's id for the thing posted, such as a YouTube video id.
    Platform(String),
}

impl std::fmt::Display for IdentityKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IdentityKey::Link(l) => write!(f, "canonical link {l}"),
            IdentityKey::Platform(p) => write!(f, "platform id {p}"),
        }
    }
}

/// An item's identity keys: its canonical link (when it points at a document) and its
/// platform id.
pub fn identity_keys(canonical_link: Option<&str>, platform_id: Option<&str>) -> Vec<IdentityKey> {
    let mut keys = Vec::new();
    if let Some(link) = canonical_link.filter(|l| points_at_document(l)) {
        keys.push(IdentityKey::Link(link.to_string()));
    }
    if let Some(p) = platform_id.filter(|p| !p.is_empty()) {
        keys.push(IdentityKey::Platform(p.to_string()));
    }
    keys
}

/// True when a link has a path or query beyond the site's front page: a front page (or a
/// feed that links every item to its home) is not an item's identity.
pub fn points_at_document(link: &str) -> bool {
    let Some((_, rest)) = link.split_once("://") else { return false };
    rest.find(['/', '?']).is_some_and(|i| !rest[i..].trim_matches(|c| c == '/' || c == '?').is_empty())
}

/// Which of an item's fingerprints a lookup is by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FingerprintKind {
    /// The whole-text simhash (`items.fingerprint`).
    Simhash,
    /// The lead simhash (`items.lead_fingerprint`).
    Lead,
}

/// How a lookup finds stored items.
#[derive(Debug, Clone, Copy)]
pub enum Key<'a> {
    Identity(&'a IdentityKey),
    ContentHash(u64),
    Fingerprint(FingerprintKind, u64),
    /// Stored items with one of these hashes among their phrase keys
    /// ([`Sketch::phrase_keys`]): an item's [`Sketch::phrase_probes`]; and a time within
    /// `window` (both ends included): a key is only a sample of a text, and the same sample
    /// recurs over the years.
    Phrases {
        probes: &'a [u32],
        window: (i64, i64),
    },
}

/// What the deduplicator needs to know of a stored item that belongs to a story.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    pub item: ItemId,
    pub story: StoryId,
    pub feed: FeedId,
    /// Publication time (or fetch time) in Unix seconds.
    pub time: i64,
    pub simhash: u64,
    /// `None` when the item is not in the fingerprint index (too little content).
    pub lead: Option<u64>,
    /// `None` when the stored sketch is missing or unreadable (such an item is never
    /// confirmed by verification).
    pub sketch: Option<Sketch>,
}

/// Access to stored items, for the layers that need more than fingerprints.
pub trait Lookup {
    type Error;
    /// Appends the stored items (members of a story) that have `key`, in increasing item id
    /// order, at most [`Lookup::LIMIT`] of them. Fingerprint and phrase keys find searchable
    /// items only (those with a lead fingerprint).
    fn find(&mut self, key: Key<'_>, out: &mut Vec<Stored>) -> Result<(), Self::Error>;
    /// The `(simhash, lead)` fingerprints of every searchable stored item (one with a lead
    /// fingerprint) whose time is in `[from, to)`.
    fn fingerprints_between(&mut self, from: i64, to: i64) -> Result<Vec<(u64, u64)>, Self::Error>;
    /// Fills in the sketch of an item that [`Lookup::find`] returned by a fingerprint key
    /// without one (a lookup may leave sketches out of fingerprint searches, which find many
    /// items outside the candidate window, and read them only for the candidates left). Leaves
    /// it `None` when the item has no readable sketch. By default, sketches come with `find`.
    fn complete(&mut self, stored: &mut Stored) -> Result<(), Self::Error> {
        let _ = stored;
        Ok(())
    }
    /// The folded text of a stored item, with its feed's template, for the text check of a
    /// pair that its sketches leave in doubt ([`Check::wants_texts`]). `None` when the text is
    /// not at hand: the pair is then judged on the sketches alone, as by default.
    fn wording(&mut self, stored: &Stored) -> Result<Option<(TextProfile, Template)>, Self::Error> {
        let _ = stored;
        Ok(None)
    }
    /// Items looked at per key, at most: a fingerprint or link shared by more items than this
    /// is shared by a whole channel, and the earliest items settle it.
    const LIMIT: usize = 32;
}

/// The item awaiting a decision (already stored, not yet in a story).
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    pub item: ItemId,
    pub feed: FeedId,
    /// Publication time (or fetch time) in Unix seconds.
    pub time: i64,
    pub features: &'a Features,
    pub identity: &'a [IdentityKey],
    /// The item's folded text and its feed's template, for the text check (see
    /// [`Lookup::wording`]); `None` judges every pair on the sketches alone.
    pub wording: Option<(&'a TextProfile, &'a Template)>,
}

/// The deduplicator's answer for one item.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub decision: Decision,
    /// Verified similarity (containment of the smaller text) with the matched item, when
    /// both have content to compare.
    pub similarity: Option<f64>,
    /// Other stories the item proved to be the same story; the caller merges them into
    /// `decision`'s story.
    pub merge: Vec<StoryId>,
}

/// A near-duplicate candidate and what verification said of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Considered {
    pub stored: Stored,
    /// Hamming distance of the whole-text simhashes.
    pub distance: u32,
    /// Hamming distance of the lead simhashes, when both have one.
    pub lead_distance: Option<u32>,
    pub check: Check,
}

/// Time buckets per window (see the module documentation).
const BUCKETS_PER_WINDOW: i64 = 4;

/// Buckets held in memory at most, once the index is large. A decision needs the
/// `2 * BUCKETS_PER_WINDOW + 1` buckets around its item; three more let a batch that moves
/// back and forth between nearby periods keep them.
pub const MAX_LOADED_BUCKETS: usize = 2 * BUCKETS_PER_WINDOW as usize + 4;

/// Fingerprints the index may hold before it drops buckets, by default (about 50 MB).
pub const RESIDENT_FINGERPRINTS: usize = 1_000_000;

/// The in-memory part of deduplication: the fingerprint indexes and the settings.
#[derive(Debug, Default)]
pub struct Deduplicator {
    config: DedupConfig,
    simhashes: HammingIndex,
    leads: HammingIndex,
    /// Loaded time buckets and when each was last needed (a counter of decisions).
    buckets: std::collections::BTreeMap<i64, u64>,
    tick: u64,
}

impl Deduplicator {
    pub fn new(config: DedupConfig) -> Deduplicator {
        Deduplicator { config, ..Deduplicator::default() }
    }

    pub fn config(&self) -> &DedupConfig {
        &self.config
    }

    /// Items in the fingerprint index.
    pub fn len(&self) -> usize {
        self.simhashes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.simhashes.is_empty()
    }

    /// Bytes of memory held by the fingerprint index.
    pub fn memory_bytes(&self) -> usize {
        self.simhashes.memory_bytes() + self.leads.memory_bytes()
    }

    /// Time buckets currently in memory.
    pub fn loaded_buckets(&self) -> usize {
        self.buckets.len()
    }

    fn bucket_secs(&self) -> i64 {
        (self.config.window_secs / BUCKETS_PER_WINDOW).max(1)
    }

    fn bucket_of(&self, time: i64) -> i64 {
        time.div_euclid(self.bucket_secs())
    }

    /// The buckets within the window of `time`.
    fn buckets_around(&self, time: i64) -> std::ops::RangeInclusive<i64> {
        let w = self.config.window_secs.max(0);
        self.bucket_of(time.saturating_sub(w))..=self.bucket_of(time.saturating_add(w))
    }

    /// True when an item with these features goes into the fingerprint index.
    pub fn indexable(&self, features: &Features) -> bool {
        features.content_words() >= self.config.min_words_for_near
    }

    /// Adds a stored item's fingerprints (only call it for [`Deduplicator::indexable`] items,
    /// after they are in the store). Nothing happens when the item's time bucket is not in
    /// memory: the item is loaded with its bucket.
    pub fn insert(&mut self, simhash: u64, lead: u64, time: i64) {
        if self.buckets.contains_key(&self.bucket_of(time)) {
            self.simhashes.insert(simhash);
            self.leads.insert(lead);
        }
    }

    /// Removes a stored item's fingerprints (it is about to change, or was deleted).
    pub fn remove(&mut self, simhash: u64, lead: u64, time: i64) {
        if self.buckets.contains_key(&self.bucket_of(time)) {
            self.simhashes.remove(simhash);
            self.leads.remove(lead);
        }
    }

    /// Makes sure the index holds every searchable stored item within the window of `time`,
    /// loading missing buckets and dropping the least recently used ones beyond
    /// [`MAX_LOADED_BUCKETS`]. Start-up calls it with the newest stored time.
    pub fn load_window<L: Lookup>(&mut self, time: i64, lookup: &mut L) -> Result<(), L::Error> {
        self.tick += 1;
        let needed = self.buckets_around(time);
        let mut missing = Vec::new();
        for b in needed.clone() {
            match self.buckets.get_mut(&b) {
                Some(used) => *used = self.tick,
                None => missing.push(b),
            }
        }
        if !missing.is_empty() {
            let size = self.bucket_secs();
            let mut simhashes = Vec::new();
            let mut leads = Vec::new();
            for &b in &missing {
                let rows =
                    lookup.fingerprints_between(b.saturating_mul(size), b.saturating_add(1).saturating_mul(size))?;
                simhashes.extend(rows.iter().map(|r| r.0));
                leads.extend(rows.iter().map(|r| r.1));
                self.buckets.insert(b, self.tick);
            }
            self.simhashes.extend(&simhashes);
            self.leads.extend(&leads);
        }
        let crowded = self.simhashes.len() > self.config.resident_fingerprints;
        while crowded && self.buckets.len() > MAX_LOADED_BUCKETS {
            let Some((&oldest, _)) =
                self.buckets.iter().filter(|(b, _)| !needed.contains(b)).min_by_key(|(b, used)| (**used, **b))
            else {
                break;
            };
            let size = self.bucket_secs();
            for (simhash, lead) in lookup
                .fingerprints_between(oldest.saturating_mul(size), oldest.saturating_add(1).saturating_mul(size))?
            {
                self.simhashes.remove(simhash);
                self.leads.remove(lead);
            }
            self.buckets.remove(&oldest);
        }
        Ok(())
    }

    /// Whether `time` is within the window of `other`.
    pub fn in_window(&self, time: i64, other: i64) -> bool {
        time.abs_diff(other) <= self.config.window_secs.max(0) as u64
    }

    /// Decides which story `candidate` belongs to.
    pub fn decide<L: Lookup>(&mut self, candidate: &Candidate<'_>, lookup: &mut L) -> Result<Verdict, L::Error> {
        let mut found = Vec::new();
        // 1. Identity: same canonical link or platform id, in another feed. Within one feed
        // the guid is the identity, and the writer has already matched it.
        for key in candidate.identity {
            found.clear();
            lookup.find(Key::Identity(key), &mut found)?;
            if let Some(s) = found.iter().find(|s| s.feed != candidate.feed && s.item != candidate.item).cloned() {
                let merge = self.bridged(candidate, s.story, lookup)?;
                return Ok(self.join(candidate, &s, (MatchMethod::Identity, None), merge));
            }
        }
        // 2. Exact: the same words. Not for items whose every line is their feed's template
        // (a video whose description is only the channel's footer is no story).
        let features = candidate.features;
        if features.word_count > 0 && features.content_words() > 0 {
            found.clear();
            lookup.find(Key::ContentHash(features.fingerprint.content_hash), &mut found)?;
            if let Some(s) =
                found.iter().find(|s| s.item != candidate.item && self.in_window(s.time, candidate.time)).cloned()
            {
                let merge = self.bridged(candidate, s.story, lookup)?;
                return Ok(self.join(candidate, &s, (MatchMethod::Exact, None), merge));
            }
        }
        // 3. Near, verified: by fingerprint, and when that confirms nothing, by phrase key.
        let mut considered = self.near_candidates(candidate, lookup)?;
        if !considered.iter().any(|c| c.check.is_match()) {
            check_texts(candidate, &mut considered, lookup)?;
        }
        if !considered.iter().any(|c| c.check.is_match()) {
            let from = considered.len();
            self.add_phrase_candidates(candidate, lookup, &mut considered)?;
            check_texts(candidate, &mut considered[from..], lookup)?;
        }
        let mut best: Option<&Considered> = None;
        for c in considered.iter().filter(|c| c.check.is_match()) {
            let better = best.is_none_or(|b| {
                let x = (c.check.containment(), c.check.comparison.resemblance);
                let y = (b.check.containment(), b.check.comparison.resemblance);
                x > y || x == y && c.stored.item < b.stored.item
            });
            if better {
                best = Some(c);
            }
        }
        let Some(best) = best else {
            return Ok(Verdict { decision: Decision::NewStory, similarity: None, merge: Vec::new() });
        };
        let by_fingerprint =
            Found::by_distances(best.distance, best.lead_distance, self.config.max_distance) == Found::Fingerprint;
        let merge = if by_fingerprint { confirmed_elsewhere(&considered, best.stored.story) } else { Vec::new() };
        Ok(self.join(candidate, &best.stored, (MatchMethod::Near, Some(&best.check)), merge))
    }

    /// The stories other than `story` that the item is a verified near duplicate of. An item
    /// that joins `story` by identity or exact words and is also confirmed as the same text as
    /// another story proves the two are one (a publisher's summary and a full-text repost
    /// reached separately, say), as a near match to two stories does.
    fn bridged<L: Lookup>(
        &mut self,
        candidate: &Candidate<'_>,
        story: StoryId,
        lookup: &mut L,
    ) -> Result<Vec<StoryId>, L::Error> {
        Ok(confirmed_elsewhere(&self.near_candidates(candidate, lookup)?, story))
    }

    /// The near-duplicate candidates of an item by fingerprint (either one within the radius,
    /// in the window, not the item itself), each verified, nearest first.
    pub fn near_candidates<L: Lookup>(
        &mut self,
        candidate: &Candidate<'_>,
        lookup: &mut L,
    ) -> Result<Vec<Considered>, L::Error> {
        let features = candidate.features;
        if !self.indexable(features) {
            return Ok(Vec::new());
        }
        self.load_window(candidate.time, lookup)?;
        let mut stored: Vec<Stored> = Vec::new();
        let mut fps = Vec::new();
        for (kind, fp, index) in [
            (FingerprintKind::Simhash, features.fingerprint.simhash, &self.simhashes),
            (FingerprintKind::Lead, features.lead, &self.leads),
        ] {
            index.search(fp, self.config.max_distance, &mut fps);
            // The nearest ones first, a bounded number: a channel whose items all look alike
            // must not make one search read thousands of rows.
            fps.sort_by_key(|f| ((f ^ fp).count_ones(), *f));
            fps.truncate(L::LIMIT);
            for &f in &fps {
                lookup.find(Key::Fingerprint(kind, f), &mut stored)?;
            }
        }
        let mut out = Vec::new();
        self.consider(candidate, stored, lookup, &mut out)?;
        out.sort_by_key(|c| (c.distance.min(c.lead_distance.unwrap_or(64)), c.stored.item));
        Ok(out)
    }

    /// Adds to `considered` (an item's [`Deduplicator::near_candidates`]) the stored items
    /// whose phrase keys are among its probes (see [`Sketch::phrase_keys`]), within the
    /// window, each verified.
    ///
    /// Only for an item that no fingerprint candidate was confirmed for: the one it would
    /// otherwise start a story with. An item that has a confirmed candidate already has its
    /// story, and a story that a phrase lookup would find besides was found the same way when
    /// its own items were decided. Measured on the dev corpus: looking phrases up for every
    /// item gave pairwise recall 0.9979, for these items only 0.9972 (0.9942 without phrase
    /// keys), and on the dev corpus replicated to 48k items, the lookups for every item took
    /// 3-5% more ingest time than these.
    fn add_phrase_candidates<L: Lookup>(
        &self,
        candidate: &Candidate<'_>,
        lookup: &mut L,
        considered: &mut Vec<Considered>,
    ) -> Result<(), L::Error> {
        let probes = candidate.features.sketch.phrase_probes();
        if !self.indexable(candidate.features) || probes.is_empty() {
            return Ok(());
        }
        let w = self.config.window_secs.max(0);
        let window = (candidate.time.saturating_sub(w), candidate.time.saturating_add(w));
        let mut stored = Vec::new();
        lookup.find(Key::Phrases { probes, window }, &mut stored)?;
        // The fingerprints' candidates are verified already.
        stored.retain(|s| !considered.iter().any(|c| c.stored.item == s.item));
        self.consider(candidate, stored, lookup, considered)
    }

    /// Verifies the stored items found for `candidate` (each once; not the item itself, in
    /// the window, searchable) and appends them to `out`.
    fn consider<L: Lookup>(
        &self,
        candidate: &Candidate<'_>,
        mut stored: Vec<Stored>,
        lookup: &mut L,
        out: &mut Vec<Considered>,
    ) -> Result<(), L::Error> {
        let features = candidate.features;
        stored.sort_by_key(|s| s.item);
        stored.dedup_by_key(|s| s.item);
        for mut s in stored {
            if s.item == candidate.item || s.lead.is_none() || !self.in_window(s.time, candidate.time) {
                continue;
            }
            // Only the candidates left need their sketch.
            lookup.complete(&mut s)?;
            let Some(sketch) = &s.sketch else { continue };
            let distance = (s.simhash ^ features.fingerprint.simhash).count_ones();
            let lead_distance = s.lead.map(|l| (l ^ features.lead).count_ones());
            let found = Found::by_distances(distance, lead_distance, self.config.max_distance);
            let check = verify_found(&features.sketch, sketch, found);
            out.push(Considered { distance, lead_distance, check, stored: s });
        }
        Ok(())
    }

    /// The verdict that the item joins `s`'s story. `check` is the verification a near match
    /// rests on (its containment is the recorded similarity).
    fn join(
        &self,
        candidate: &Candidate<'_>,
        s: &Stored,
        (method, check): (MatchMethod, Option<&Check>),
        merge: Vec<StoryId>,
    ) -> Verdict {
        let similarity = match (check, &s.sketch, method) {
            (Some(check), _, _) => Some(check.containment()),
            (None, _, MatchMethod::Exact) => Some(1.0),
            (None, Some(sketch), _) if sketch.shingles > 0 && candidate.features.sketch.shingles > 0 => {
                Some(verify(&candidate.features.sketch, sketch).comparison.containment)
            }
            _ => None,
        };
        Verdict {
            decision: Decision::Join {
                story: s.story,
                matched_item: s.item,
                method,
                distance: (s.simhash ^ candidate.features.fingerprint.simhash).count_ones(),
            },
            similarity,
            merge,
        }
    }
}

/// Text checks per decision, at most (the candidates the sketches found most contained are
/// checked first): a channel whose items all look alike must not make one decision read and
/// compare dozens of texts.
const MAX_TEXT_CHECKS: usize = 4;

/// Checks the texts of the candidates whose sketches leave them in doubt
/// ([`Check::wants_texts`]), the most contained first, at most [`MAX_TEXT_CHECKS`]. Only for
/// an item that no candidate's sketch confirmed: reading and comparing two texts costs more
/// than the rest of a decision, and an item with a confirmed candidate has its story.
fn check_texts<L: Lookup>(
    candidate: &Candidate<'_>,
    considered: &mut [Considered],
    lookup: &mut L,
) -> Result<(), L::Error> {
    let Some(own) = candidate.wording else { return Ok(()) };
    let mut doubtful: Vec<usize> = (0..considered.len()).filter(|&i| considered[i].check.wants_texts()).collect();
    doubtful.sort_by(|&a, &b| {
        let (x, y) = (&considered[a], &considered[b]);
        y.check
            .comparison
            .containment
            .total_cmp(&x.check.comparison.containment)
            .then(x.stored.item.cmp(&y.stored.item))
    });
    for i in doubtful.into_iter().take(MAX_TEXT_CHECKS) {
        let c = &mut considered[i];
        if let Some((profile, template)) = lookup.wording(&c.stored)? {
            c.check = c.check.with_texts(forgiving_containment(own, (&profile, &template)));
        }
    }
    Ok(())
}

/// The stories other than `story` with a candidate that verification confirmed, in order:
/// the stories an item joining `story` proves to be the same one.
fn confirmed_elsewhere(considered: &[Considered], story: StoryId) -> Vec<StoryId> {
    let mut stories: Vec<StoryId> =
        considered.iter().filter(|c| c.check.is_match() && c.stored.story != story).map(|c| c.stored.story).collect();
    stories.sort_unstable();
    stories.dedup();
    stories
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::{Template, TextProfile};
    use std::collections::HashMap;

    /// Stored items in memory, as the store would return them.
    #[derive(Default)]
    struct Memory {
        items: Vec<(Stored, u64, Vec<IdentityKey>)>,
        /// Leave sketches out of fingerprint lookups, for `complete` to fill in.
        lazy: bool,
        /// Sketches `complete` filled in.
        completed: usize,
        /// Stored texts, for the text check (none: pairs are judged on their sketches).
        texts: HashMap<ItemId, String>,
    }

    impl Lookup for Memory {
        type Error = std::convert::Infallible;
        fn find(&mut self, key: Key<'_>, out: &mut Vec<Stored>) -> Result<(), Self::Error> {
            for (s, content_hash, keys) in &self.items {
                let hit = match key {
                    Key::Identity(k) => keys.contains(k),
                    Key::ContentHash(h) => *content_hash == h,
                    Key::Fingerprint(FingerprintKind::Simhash, f) => s.lead.is_some() && s.simhash == f,
                    Key::Fingerprint(FingerprintKind::Lead, f) => s.lead == Some(f),
                    Key::Phrases { probes, window } => {
                        s.lead.is_some()
                            && (window.0..=window.1).contains(&s.time)
                            && s.sketch.as_ref().is_some_and(|k| k.phrase_keys().iter().any(|h| probes.contains(h)))
                    }
                };
                if hit {
                    let lazy = self.lazy && matches!(key, Key::Fingerprint(..));
                    out.push(Stored { sketch: if lazy { None } else { s.sketch.clone() }, ..s.clone() });
                }
            }
            Ok(())
        }

        fn complete(&mut self, stored: &mut Stored) -> Result<(), Self::Error> {
            if stored.sketch.is_none() {
                let found = self.items.iter().find(|(s, _, _)| s.item == stored.item);
                stored.sketch = found.and_then(|(s, _, _)| s.sketch.clone());
                self.completed += 1;
            }
            Ok(())
        }

        fn wording(&mut self, stored: &Stored) -> Result<Option<(TextProfile, Template)>, Self::Error> {
            Ok(self.texts.get(&stored.item).map(|t| (TextProfile::new(t), Template::default())))
        }

        fn fingerprints_between(&mut self, from: i64, to: i64) -> Result<Vec<(u64, u64)>, Self::Error> {
            Ok(self
                .items
                .iter()
                .filter(|(s, _, _)| s.time >= from && s.time < to)
                .filter_map(|(s, _, _)| Some((s.simhash, s.lead?)))
                .collect())
        }
    }

    struct World {
        dedup: Deduplicator,
        store: Memory,
        next_story: i64,
        templates: HashMap<i64, Template>,
        /// Keep texts and check them when the sketches leave a pair in doubt.
        texts: bool,
    }

    impl World {
        fn new() -> World {
            World {
                dedup: Deduplicator::new(DedupConfig::default()),
                store: Memory::default(),
                next_story: 100,
                templates: HashMap::new(),
                texts: true,
            }
        }

        /// Decides and stores an item; returns its verdict and story.
        fn add(&mut self, feed: i64, text: &str, keys: &[IdentityKey]) -> (Verdict, StoryId) {
            self.add_at(feed, text, keys, 0)
        }

        fn add_at(&mut self, feed: i64, text: &str, keys: &[IdentityKey], time: i64) -> (Verdict, StoryId) {
            let template = self.templates.get(&feed).cloned().unwrap_or_default();
            let profile = TextProfile::new(text);
            let features = profile.features(&template);
            let item = ItemId(self.store.items.len() as i64 + 1);
            let wording = self.texts.then_some((&profile, &template));
            let candidate = Candidate { item, feed: FeedId(feed), time, features: &features, identity: keys, wording };
            let verdict = self.dedup.decide(&candidate, &mut self.store).unwrap();
            let story = match verdict.decision {
                Decision::NewStory => {
                    self.next_story += 1;
                    StoryId(self.next_story)
                }
                Decision::Join { story, .. } => story,
            };
            for from in &verdict.merge {
                for (s, _, _) in &mut self.store.items {
                    if s.story == *from {
                        s.story = story;
                    }
                }
            }
            let indexed = self.dedup.indexable(&features);
            if indexed {
                self.dedup.insert(features.fingerprint.simhash, features.lead, time);
            }
            if self.texts {
                self.store.texts.insert(item, text.to_string());
            }
            self.store.items.push((
                Stored {
                    item,
                    story,
                    feed: FeedId(feed),
                    time,
                    simhash: features.fingerprint.simhash,
                    lead: indexed.then_some(features.lead),
                    sketch: Some(features.sketch.clone()),
                },
                features.fingerprint.content_hash,
                keys.to_vec(),
            ));
            (verdict, story)
        }
    }

    const STORY: &str = "the central bank raised its main interest rate by half a point on thursday, the largest \
        increase in more than twenty years, saying that prices were still rising too fast.\n\
        officials said inflation had stayed above the target for eleven months in a row and that further \
        increases could follow before the end of the year if wages kept growing at the current pace.\n\
        markets had expected a smaller move, and the currency rose sharply against the dollar and the euro \
        after the announcement, while shares of banks and builders fell.\n\
        the governor told reporters that the decision was unanimous and that the bank would publish new \
        forecasts for growth and unemployment next month, after the spring budget.";

    const OTHER: &str = "the national football team won its third match in a row on saturday, beating the visitors \
        by two goals to nil in front of a crowd of more than forty thousand people at the new stadium.\n\
        the coach said the players had worked hard all week and deserved the result, and that the squad would \
        travel to the capital on monday to prepare for the qualifier against the group leaders.";

    fn method(v: &Verdict) -> MatchMethod {
        v.decision.method()
    }

    /// `text` with every `nth` word of five letters or more misspelt: two letters in its
    /// middle swapped.
    fn misspelt(text: &str, nth: usize) -> String {
        let mut long = 0;
        let lines: Vec<String> = text
            .lines()
            .map(|line| {
                let words: Vec<String> = line
                    .split(' ')
                    .map(|w| {
                        if w.len() < 5 || !w.bytes().all(|b| b.is_ascii_lowercase()) {
                            return w.to_string();
                        }
                        long += 1;
                        if long % nth != 0 {
                            return w.to_string();
                        }
                        let mut b = w.as_bytes().to_vec();
                        b.swap(2, 3);
                        String::from_utf8(b).unwrap()
                    })
                    .collect();
                words.join(" ")
            })
            .collect();
        lines.join("\n")
    }

    #[test]
    fn a_repost_full_of_typos_joins_on_its_text_and_another_story_does_not() {
        let typos = misspelt(STORY, 4);
        let (sketch, original) = (crate::features(&typos).sketch, crate::features(STORY).sketch);
        let as_written = crate::verify::verify(&sketch, &original);
        assert!(!as_written.is_match() && as_written.wants_texts(), "{as_written:?}");

        // Judged on the sketches alone, the repost starts a story of its own.
        let mut w = World::new();
        w.texts = false;
        let (_, s1) = w.add(1, STORY, &[]);
        let (v, s2) = w.add(2, &typos, &[]);
        assert_eq!(method(&v), MatchMethod::New);
        assert_ne!(s1, s2);

        // With the texts, the typos are forgiven: the same story, at the similarity the
        // texts gave.
        let mut w = World::new();
        let (_, s1) = w.add(1, STORY, &[]);
        let (v, s2) = w.add(2, &typos, &[]);
        assert_eq!((method(&v), s2), (MatchMethod::Near, s1));
        assert!(v.similarity.unwrap() > 0.95, "{v:?}");

        // A different story that repeats three of the story's four paragraphs (misspelt,
        // too) is checked on its text as well, and stays apart: a quarter of the story is
        // not in it, typos or not.
        let shared: Vec<&str> = typos.lines().take(3).collect();
        let follow_up = format!("{}\n{OTHER}", shared.join("\n"));
        let check = crate::verify::verify(&crate::features(&follow_up).sketch, &original);
        assert!(check.wants_texts(), "{check:?}");
        let (v, s3) = w.add(3, &follow_up, &[]);
        assert_eq!(method(&v), MatchMethod::New);
        assert_ne!(s3, s1);
    }

    #[test]
    fn identity_joins_across_feeds_only() {
        let mut w = World::new();
        let key = IdentityKey::Link("https://example.org/news/1".into());
        let (_, s1) = w.add(1, STORY, std::slice::from_ref(&key));
        let (v, s2) = w.add(2, "a two line summary only", std::slice::from_ref(&key));
        assert_eq!((method(&v), s2), (MatchMethod::Identity, s1));
        let other = IdentityKey::Platform("youtube:abc".into());
        w.add(1, OTHER, std::slice::from_ref(&other));
        let (v, _) = w.add(1, "another item of the same feed", &[other]);
        assert_eq!(method(&v), MatchMethod::New);
    }

    #[test]
    fn front_pages_are_not_identities() {
        assert!(points_at_document("https://example.org/news/1"));
        assert!(points_at_document("https://example.org/?p=12"));
        assert!(!points_at_document("https://example.org"));
        assert!(!points_at_document("https://example.org/"));
        assert!(!points_at_document("not a link"));
        assert!(identity_keys(Some("https://example.org/"), None).is_empty());
        assert_eq!(identity_keys(None, Some("youtube:abc")), [IdentityKey::Platform("youtube:abc".into())]);
    }

    #[test]
    fn same_words_are_an_exact_match_within_the_window() {
        let mut w = World::new();
        let (_, s1) = w.add(1, STORY, &[]);
        let (v, s2) = w.add(2, &STORY.replace(',', " ;"), &[]);
        assert_eq!((method(&v), s2), (MatchMethod::Exact, s1));
        assert_eq!(v.similarity, Some(1.0));
        let month = DedupConfig::default().window_secs;
        let (v, _) = w.add_at(3, STORY, &[], month + 1);
        assert_eq!(method(&v), MatchMethod::New, "outside the window");
    }

    #[test]
    fn edited_reposts_join_and_other_stories_do_not() {
        let mut w = World::new();
        let (_, s1) = w.add(1, STORY, &[]);
        let typos = STORY.replace("interest", "intrest").replace("officials", "oficials").replace("growth", "grwoth");
        let reordered = {
            let mut lines: Vec<&str> = STORY.lines().collect();
            lines.swap(1, 2);
            lines.join("\n")
        };
        let dropped: String =
            STORY.lines().enumerate().filter(|(i, _)| *i != 2).map(|(_, l)| l).collect::<Vec<_>>().join("\n");
        let truncated = &STORY[..STORY.len() * 45 / 100];
        let with_footer = format!("{STORY}\nthanks for watching! like and subscribe for more videos every day");
        for (name, text) in [
            ("typos", typos.as_str()),
            ("reordered", &reordered),
            ("dropped", &dropped),
            ("truncated", truncated),
            ("footer", &with_footer),
        ] {
            let (v, s) = w.add(2, text, &[]);
            assert_eq!((name, method(&v), s), (name, MatchMethod::Near, s1), "{v:?}");
            assert!(v.similarity.unwrap() >= 0.8);
        }
        let (v, _) = w.add(2, OTHER, &[]);
        assert_eq!(method(&v), MatchMethod::New);
    }

    /// STORY with paragraphs moved and the last one cut, and words changed the way a
    /// rewriting reposter does: the shingles are mostly the story's, the fingerprints are not.
    fn reworked(text: &str) -> String {
        let lines: Vec<&str> = text.lines().collect();
        [lines[2], lines[0], lines[1]].join("\n").replace("twenty", "20").replace("dollar", "us dollar")
    }

    #[test]
    fn a_reordered_cut_repost_beyond_the_radius_is_found_by_its_phrases() {
        let mut w = World::new();
        let (_, s1) = w.add(1, STORY, &[]);
        let text = reworked(STORY);
        let features = TextProfile::new(&text).features(&Template::default());
        let original = TextProfile::new(STORY).features(&Template::default());
        let (d, ld) = (
            (features.fingerprint.simhash ^ original.fingerprint.simhash).count_ones(),
            (features.lead ^ original.lead).count_ones(),
        );
        let radius = w.dedup.config.max_distance;
        assert!(d > radius && ld > radius, "the fingerprints must not find it: {d} and {ld} bits");
        assert!(Sketch::probes_find(&features.sketch, &original.sketch));
        let (v, s2) = w.add(2, &text, &[]);
        assert_eq!((method(&v), s2), (MatchMethod::Near, s1), "{v:?}");
        assert!(v.similarity.unwrap() >= crate::verify::MIN_CONTAINMENT_UNALIKE);
    }

    /// A roundup of two stories holds all of each: its phrases find both, and both verify.
    /// It joins one of them, but a join through phrases alone does not make the two one story.
    #[test]
    fn a_roundup_found_through_phrases_joins_one_story_and_merges_none() {
        const RATE: [&str; 3] = [
            "the central bank raised its main interest rate by half a point on thursday, the largest increase in \
             more than twenty years, saying that prices were still rising too fast.",
            "officials said inflation had stayed above the target for eleven months in a row and that further \
             increases could follow before the end of the year if wages kept growing at the current pace.",
            "markets had expected a smaller move, and the currency rose sharply against the dollar and the euro \
             after the announcement, while shares of banks and builders fell.",
        ];
        let mut w = World::new();
        let rate = RATE.join("\n");
        let (_, s1) = w.add(1, &rate, &[]);
        let (_, s2) = w.add(2, OTHER, &[]);
        assert_ne!(s1, s2);
        let roundup = format!("{}\n{}\n{}\n{OTHER}", RATE[1], RATE[0], RATE[2]);
        let features = TextProfile::new(&roundup).features(&Template::default());
        let radius = w.dedup.config.max_distance;
        for text in [rate.as_str(), OTHER] {
            let other = TextProfile::new(text).features(&Template::default());
            let d = (features.fingerprint.simhash ^ other.fingerprint.simhash).count_ones();
            let ld = (features.lead ^ other.lead).count_ones();
            assert!(d.min(ld) > radius, "found by phrases only: {d} and {ld} bits");
            assert!(Sketch::probes_find(&features.sketch, &other.sketch), "its phrases find both");
            assert!(verify_found(&features.sketch, &other.sketch, Found::PhraseOnly).is_match(), "both verify");
        }
        let (v, s3) = w.add(3, &roundup, &[]);
        assert_eq!(method(&v), MatchMethod::Near, "{v:?}");
        assert!(s3 == s1 || s3 == s2, "{v:?}");
        assert!(v.merge.is_empty(), "{v:?}");
    }

    #[test]
    fn a_story_that_quotes_most_of_another_is_not_joined_through_a_phrase() {
        let mut w = World::new();
        let (_, s1) = w.add(1, STORY, &[]);
        // The same three paragraphs, reworked, and two paragraphs of its own: a follow-up
        // story. Its phrases find the first, but a fifth of it is new.
        let lines: Vec<&str> = STORY.lines().collect();
        let quoted = [lines[2], lines[0], lines[3], lines[1]]
            .join("\n")
            .replace("twenty", "20")
            .replace("eleven", "11")
            .replace("spring", "autumn")
            .replace("builders", "property firms")
            .replace("governor", "bank chief")
            .replace("markets", "investors")
            .replace("currency", "pound")
            .replace("forecasts", "projections");
        let follow_up = format!(
            "{quoted}\nthe finance minister welcomed the decision in a statement on friday evening and said the \
             government would keep its own spending plans unchanged for the rest of the year.\n\
             opposition leaders called for an emergency debate on household debts and rents next week"
        );
        let features = TextProfile::new(&follow_up).features(&Template::default());
        let original = TextProfile::new(STORY).features(&Template::default());
        let check = verify(&features.sketch, &original.sketch);
        assert!(
            check.comparison.containment >= crate::verify::MIN_CONTAINMENT
                && check.comparison.containment < crate::verify::MIN_CONTAINMENT_UNALIKE,
            "a near miss: enough for a fingerprint's candidate, not for a phrase's: {check}"
        );
        assert!(Sketch::probes_find(&features.sketch, &original.sketch), "its phrases find the first");
        let (v, s2) = w.add(2, &follow_up, &[]);
        assert_ne!(s2, s1, "{v:?}");
        assert_eq!(method(&v), MatchMethod::New);
    }

    #[test]
    fn phrase_lookups_stay_within_the_window() {
        let mut w = World::new();
        w.add(1, STORY, &[]);
        let later = DedupConfig::default().window_secs + 1;
        let (v, _) = w.add_at(2, &reworked(STORY), &[], later);
        assert_eq!(method(&v), MatchMethod::New);
    }

    #[test]
    fn sketches_read_after_the_window_check_give_the_same_decisions() {
        let texts = [STORY, OTHER, &STORY[..STORY.len() * 60 / 100], STORY, OTHER];
        let run = |lazy: bool| {
            let mut w = World::new();
            w.store.lazy = lazy;
            let window = w.dedup.config.window_secs;
            // The same texts again far outside the window: found by fingerprint, not candidates.
            let times = [0, 10, 20, 3 * window, 3 * window + 10];
            let stories: Vec<(MatchMethod, StoryId)> =
                texts.iter().zip(times).map(|(t, at)| w.add_at(1, t, &[], at)).map(|(v, s)| (method(&v), s)).collect();
            (stories, w.store.completed)
        };
        let (eager, _) = run(false);
        let (lazy, completed) = run(true);
        assert_eq!(eager, lazy);
        assert_eq!(lazy.iter().filter(|(m, _)| *m == MatchMethod::Near).count(), 1, "{lazy:?}");
        // Only the in-window candidate's sketch was read, not those of the copies a window away.
        assert_eq!(completed, 1);
    }

    #[test]
    fn a_shared_background_paragraph_is_not_enough() {
        let mut w = World::new();
        let background = STORY.lines().nth(1).unwrap();
        let first = format!("{}\n{background}", OTHER.lines().next().unwrap());
        let second = format!("{}\n{background}", OTHER.lines().nth(1).unwrap());
        let (_, s1) = w.add(1, &first, &[]);
        let (v, s2) = w.add(2, &second, &[]);
        assert_ne!(s1, s2, "{v:?}");
    }

    #[test]
    fn short_items_with_a_long_shared_footer_stay_apart_once_the_footer_is_known() {
        let footer = "welcome to the channel, your fastest way to stay informed every single day\n\
            subscribe and turn on notifications so you never miss a story from around the world\n\
            follow us on social media for more headlines and live updates as they happen\n\
            disclaimer: all news content belongs to the original publishers and is used for information only\n\
            tags: news today, news now, breaking news, world news, headlines, top stories, latest updates\n\
            for business enquiries please write to our team and we will answer within two working days\n\
            if you believe any content infringes your rights, please email us and we will remove it at once\n\
            thank you for watching and see you tomorrow with the next short summary of the day's events\n\
            our team works around the clock to bring you the most important stories as soon as they break\n\
            share this video with your friends and family and leave a comment with your opinion below";
        let sentences = [
            "french musician jean michel jarre is to perform at a concert in copenhagen to mark the bicentennial",
            "the price of crude oil fell below forty dollars a barrel for the first time in six months on monday",
            "a new vaccine against malaria has been approved for use in children in three african countries",
            "the city council voted to close the old bridge to traffic after engineers found cracks in its arches",
        ];
        let texts: Vec<String> = sentences.iter().map(|s| format!("{s}\n{footer}")).collect();
        // Without the template the footer dominates: verification alone would say "same".
        let plain: Vec<Features> = texts.iter().map(|t| crate::features(t)).collect();
        assert!(verify(&plain[0].sketch, &plain[1].sketch).is_match(), "the footer alone looks like a story");
        // With the feed's template learned from its items, each is its own story.
        let mut w = World::new();
        let lines: Vec<Vec<u32>> = texts.iter().map(|t| TextProfile::new(t).line_hashes()).collect();
        w.templates.insert(7, Template::learn(lines.iter().map(Vec::as_slice)));
        let stories: Vec<StoryId> = texts.iter().map(|t| w.add(7, t, &[]).1).collect();
        let mut distinct = stories.clone();
        distinct.dedup();
        assert_eq!(distinct.len(), texts.len(), "{stories:?}");
        // A repost of one of them elsewhere, with a different footer, still joins it.
        let (v, s) = w.add(8, &format!("{}\nread more on our site", sentences[2]), &[]);
        assert_eq!((method(&v), s), (MatchMethod::Near, stories[2]));
    }

    #[test]
    fn an_item_that_bridges_two_stories_merges_them() {
        let mut w = World::new();
        let lines: Vec<&str> = STORY.lines().collect();
        // A summary (first two paragraphs) and a copy without the second paragraph share only
        // the first paragraph: not enough, two stories.
        let summary = lines[..2].join("\n");
        let dropped = [lines[0], lines[2], lines[3]].join("\n");
        let (_, s1) = w.add(1, &summary, &[]);
        let (_, s2) = w.add(2, &dropped, &[]);
        assert_ne!(s1, s2);
        // The full text contains both.
        let (v, s3) = w.add(3, STORY, &[]);
        assert_eq!(method(&v), MatchMethod::Near);
        assert!([s1, s2].contains(&s3));
        assert_eq!(v.merge, [if s3 == s1 { s2 } else { s1 }]);
    }

    #[test]
    fn an_item_that_joins_by_link_and_matches_another_story_s_text_merges_them() {
        let mut w = World::new();
        let link = IdentityKey::Link("https://example.org/news/rates".into());
        // The publisher's teaser under the link, and a full-text repost without it: nothing in
        // their texts ties them, two stories.
        let teaser = "rates decision: what it means for your mortgage, your savings and the pound, \
                      our economics editor answers readers' questions live from the bank's press room";
        let (_, s1) = w.add(1, teaser, std::slice::from_ref(&link));
        let (_, s2) = w.add(2, STORY, &[]);
        assert_ne!(s1, s2);
        // A digest with the publisher's link and the repost's text: the same article twice.
        let (v, s3) = w.add(3, STORY, std::slice::from_ref(&link));
        assert_eq!((method(&v), s3), (MatchMethod::Identity, s1));
        assert_eq!(v.merge, [s2]);
        // An item under the link whose text is not another story's pulls nothing in.
        let other = "the city council approved a new budget for public transport on monday after a long debate \
                     about fares, bus lanes and the future of the old tram depot near the river";
        let (_, s4) = w.add(4, other, &[]);
        let (v, s5) = w.add(5, teaser, &[link]);
        assert_eq!((method(&v), s5), (MatchMethod::Identity, s1));
        assert!(!v.merge.contains(&s4) && v.merge.is_empty(), "{:?}", v.merge);
    }

    #[test]
    fn time_buckets_load_on_demand_and_the_least_recently_used_go() {
        let mut w = World::new();
        w.dedup = Deduplicator::new(DedupConfig {
            window_secs: 4 * 86400,
            resident_fingerprints: 0,
            ..DedupConfig::default()
        });
        let day = 86400;
        // Stories in ten periods far apart, then a repost of the first one.
        let mut first = None;
        for period in 0..10 {
            let text = format!("{STORY}\nperiod {period} of the series of unrelated words number {period}");
            let (_, story) = w.add_at(1, &text, &[], period * 100 * day);
            first.get_or_insert(story);
            assert!(w.dedup.loaded_buckets() <= MAX_LOADED_BUCKETS);
        }
        assert!(w.dedup.len() < 10, "old periods were dropped: {}", w.dedup.len());
        let repost = format!("{STORY}\nperiod 0 of the series of unrelated words number 0\nshare this");
        let (v, story) = w.add_at(2, &repost, &[], day);
        assert_eq!((method(&v), Some(story)), (MatchMethod::Near, first), "the first period was loaded again");
    }

    #[test]
    fn the_same_inputs_give_the_same_decisions() {
        let run = || {
            let mut w = World::new();
            let texts = [STORY, OTHER, &STORY[..300], &OTHER[..200], STORY];
            texts.iter().enumerate().map(|(i, t)| w.add(i as i64 % 2, t, &[]).0).collect::<Vec<_>>()
        };
        assert_eq!(run(), run());
    }

    #[test]
    fn items_with_too_few_words_only_match_exactly() {
        let mut w = World::new();
        let (_, s1) = w.add(1, "prices rose again in march", &[]);
        let (v, s2) = w.add(2, "prices rose again in march", &[]);
        assert_eq!((method(&v), s2), (MatchMethod::Exact, s1));
        let (v, _) = w.add(2, "prices rose again in april", &[]);
        assert_eq!(method(&v), MatchMethod::New);
        assert_eq!(w.dedup.len(), 0);
    }
}
