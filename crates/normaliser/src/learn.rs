//! Learned per-feed templates: the lines a feed repeats across its different stories.
//!
//! A reposter's footer (or header) is the same in every item it posts, whatever the story and
//! whatever the language. So for each feed we count, per line [shape](crate::shape), in how
//! many *distinct stories* of that feed it occurs; a line found in enough of them is the feed's
//! template and is removed from its items (see [`Template`]).
//!
//! Safety comes from counting stories, not lines or items:
//!
//! - an item counts each of its shapes once, so an article repeating its own phrase is not
//!   evidence;
//! - two items that are the same story (a feed reposting it, or listing it again under a new
//!   guid) count once: each item has *anchors*, its rarest lines in this feed (the lines with
//!   the fewest items, the longest first); an item whose anchor was already seen adds no story;
//! - a line must be in at least `min_stories` stories and in at least `min_share` of the
//!   feed's stories since the line first appeared, taken over at least `window` stories (so a
//!   line three early stories share is not yet a template);
//! - a long line (more than [`LONG_LINE_WORDS`] words) must reach three times that share:
//!   a paragraph of background that a publisher repeats in a run of articles about one event
//!   is prose, while a long disclaimer is in nearly every item of its feed.
//!
//! The statistics are plain data ([`FeedStats`]) so that the binary can load the rows a batch
//! needs from the database, let [`FeedStats::observe`] count a whole fetched batch at once,
//! and save what changed. This module does no I/O.

use crate::chars;
use crate::Analysis;
#[cfg(test)]
use crate::{fold, shape};

/// Lines with more words than this are held to a higher share (see the module docs).
pub const LONG_LINE_WORDS: u16 = 12;
use std::collections::{HashMap, HashSet};

/// When a line counts as a feed's template.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LearnSettings {
    /// Distinct stories a line must occur in.
    pub min_stories: u32,
    /// Share of the feed's stories (since the line first appeared) it must occur in.
    pub min_share: f64,
    /// The share is taken over at least this many stories.
    pub window: u32,
}

impl Default for LearnSettings {
    fn default() -> Self {
        LearnSettings { min_stories: 3, min_share: 0.1, window: 50 }
    }
}

/// What is known of one line shape in one feed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineStat {
    /// Items of the feed that contain it.
    pub items: u32,
    /// Distinct stories of the feed that contain it.
    pub stories: u32,
    /// The feed's story count when the line first appeared.
    pub since: u32,
    /// Words in the line's shape.
    pub words: u16,
}

/// The part of a feed's statistics a batch needs: the feed's story count, the stats of the
/// shapes the batch contains, and which of those shapes are known anchors.
#[derive(Debug, Clone, Default)]
pub struct FeedStats {
    /// Distinct stories counted for the feed.
    pub stories: u32,
    pub lines: HashMap<u64, LineStat>,
    pub anchors: HashSet<u64>,
    /// Shapes whose stats `observe` changed, and anchors it added: what must be saved.
    changed: HashSet<u64>,
    new_anchors: Vec<u64>,
}

/// The `words` recorded for a frame (see [`crate::shape::frames_of`]): a few words, held to
/// the share of a short line.
pub const FRAME_WORDS: u16 = 0;

/// Anchors per item: a few of its rarest lines, so a repost missing one paragraph still meets
/// its original.
const ANCHORS_PER_ITEM: usize = 3;

impl FeedStats {
    /// Counts a batch of items of the feed (items already counted must not be passed again).
    pub fn observe<'a>(&mut self, items: impl IntoIterator<Item = &'a Analysis>) {
        // (key, longest line, is a frame) per item.
        let items: Vec<Vec<(u64, usize, bool)>> = items
            .into_iter()
            .map(|a| {
                let shapes = a.learnable_shapes();
                let frames = a.frame_keys();
                let since = self.stories;
                for (shape, _) in &shapes {
                    self.lines.entry(shape.key).or_insert(LineStat { items: 0, stories: 0, since, words: shape.words });
                }
                for &key in &frames {
                    self.lines.entry(key).or_insert(LineStat { items: 0, stories: 0, since, words: FRAME_WORDS });
                }
                let mut keys: Vec<(u64, usize, bool)> =
                    shapes.into_iter().map(|(s, len)| (s.key, len, false)).collect();
                keys.extend(frames.into_iter().map(|k| (k, 0, true)));
                keys
            })
            .collect();
        // The whole batch is evidence at once: item counts first, so that anchors are chosen
        // with every copy of every line in view.
        for shapes in &items {
            for &(key, _, _) in shapes {
                if let Some(stat) = self.lines.get_mut(&key) {
                    stat.items += 1;
                }
                self.changed.insert(key);
            }
        }
        for shapes in &items {
            // Anchors are lines: a frame is a pattern many different lines share.
            let lines = || shapes.iter().filter(|(_, _, frame)| !frame).map(|&(k, len, _)| (k, len));
            let Some(min_items) = lines().map(|(k, _)| self.lines[&k].items).min() else { continue };
            let mut rarest: Vec<(u64, usize)> = lines().filter(|(k, _)| self.lines[k].items == min_items).collect();
            rarest.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            rarest.truncate(ANCHORS_PER_ITEM);
            let seen = rarest.iter().any(|(k, _)| self.anchors.contains(k));
            for (k, _) in &rarest {
                if self.anchors.insert(*k) {
                    self.new_anchors.push(*k);
                }
            }
            if seen {
                continue;
            }
            self.stories += 1;
            for (key, _, _) in shapes {
                if let Some(stat) = self.lines.get_mut(key) {
                    stat.stories += 1;
                }
            }
        }
    }

    /// True when the shape is a template line of the feed.
    pub fn is_template(&self, key: u64, settings: &LearnSettings) -> bool {
        self.lines.get(&key).is_some_and(|stat| qualifies(stat, self.stories, settings))
    }

    /// The template: every known shape that qualifies.
    pub fn template(&self, settings: &LearnSettings) -> Template {
        Template::new(self.lines.iter().filter(|(_, s)| qualifies(s, self.stories, settings)).map(|(k, _)| *k))
    }

    /// The shapes `observe` changed, with their stats, to save.
    pub fn changed(&self) -> impl Iterator<Item = (u64, &LineStat)> + '_ {
        self.changed.iter().filter_map(|k| self.lines.get(k).map(|s| (*k, s)))
    }

    /// The anchors `observe` added, to save.
    pub fn new_anchors(&self) -> &[u64] {
        &self.new_anchors
    }
}

fn qualifies(stat: &LineStat, feed_stories: u32, settings: &LearnSettings) -> bool {
    let since_first = feed_stories.saturating_sub(stat.since);
    let over = since_first.max(settings.window).max(1);
    let share = if stat.words > LONG_LINE_WORDS { (settings.min_share * 3.0).min(1.0) } else { settings.min_share };
    // (The small margin keeps 15 of 50 at a 30% share from failing on rounding.)
    stat.stories >= settings.min_stories && f64::from(stat.stories) + 1e-9 >= share * f64::from(over)
}

/// Lines of at most this many words may be learned across feeds (see [`Template::with_common`]).
pub const COMMON_LINE_WORDS: u16 = 6;
/// A line is common boilerplate when at least this many feeds hold it...
pub const COMMON_MIN_FEEDS: u32 = 3;
/// ...in at least this many of their stories together...
pub const COMMON_MIN_STORIES: u32 = 20;
/// ...and in this many stories per feed on average: a line of one story reposted by twenty
/// feeds is in one story of each, an ad marker is in many stories of each.
pub const COMMON_STORIES_PER_FEED: u32 = 3;

/// True when a short line's counts across all feeds make it common boilerplate.
pub fn is_common(feeds: u32, stories: u32) -> bool {
    feeds >= COMMON_MIN_FEEDS && stories >= COMMON_MIN_STORIES && stories >= COMMON_STORIES_PER_FEED * feeds
}

/// A feed's template: the shapes of the lines it repeats across stories; the shapes other
/// feeds repeat (a blog that copies a reupload channel's item copies that channel's footer
/// too: such lines count as boilerplate at the edges of this feed's items); and short lines
/// that many feeds repeat in many of their stories, each below its own feed's threshold (an
/// ad marker dropped between paragraphs now and then), which go wherever they are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Template {
    shapes: HashSet<u64>,
    foreign: HashSet<u64>,
    common: HashSet<u64>,
    /// Folded titles of other items (see [`Template::with_titles`]), hashed.
    titles: HashSet<u64>,
}

impl Template {
    pub fn new(shapes: impl IntoIterator<Item = u64>) -> Template {
        Template { shapes: shapes.into_iter().collect(), ..Template::default() }
    }

    /// Adds shapes that are template lines of other feeds.
    pub fn with_foreign(mut self, shapes: impl IntoIterator<Item = u64>) -> Template {
        self.foreign.extend(shapes.into_iter().filter(|s| !self.shapes.contains(s)));
        self
    }

    /// Adds short lines common to many feeds' stories (see [`is_common`]).
    pub fn with_common(mut self, shapes: impl IntoIterator<Item = u64>) -> Template {
        self.common.extend(shapes.into_iter().filter(|s| !self.shapes.contains(s)));
        self
    }

    /// Adds the clean titles of other items: a line at an item's edge that is another story's
    /// headline belongs to a list of links to other stories. Titles of fewer than
    /// [`MIN_TITLE_CHARS`] characters are left out ("Analysis" is a subheading too).
    pub fn with_titles<'a>(mut self, clean_titles: impl IntoIterator<Item = &'a str>) -> Template {
        self.titles.extend(
            clean_titles
                .into_iter()
                .filter(|t| t.chars().count() >= MIN_TITLE_CHARS)
                .map(|t| title_key(&crate::fold::fold_line(t))),
        );
        self
    }

    /// [`Template::with_titles`] for analysed items, whose titles are folded already.
    pub fn with_titles_of<'a>(mut self, analyses: impl IntoIterator<Item = &'a crate::Analysis>) -> Template {
        self.titles.extend(
            analyses
                .into_iter()
                .filter(|a| a.clean_title.chars().count() >= MIN_TITLE_CHARS)
                .map(|a| title_key(&a.folded_title)),
        );
        self
    }

    /// True when the folded line is the title of an item given to [`Template::with_titles`].
    pub fn is_title(&self, folded_line: &str) -> bool {
        !self.titles.is_empty() && self.titles.contains(&title_key(folded_line))
    }

    /// [`Template::is_title`] for a line's [`crate::AnalysedLine::title_key`].
    pub fn is_title_key(&self, key: u64) -> bool {
        !self.titles.is_empty() && self.titles.contains(&key)
    }

    /// A short line many feeds repeat.
    pub fn is_common(&self, key: u64) -> bool {
        self.common.contains(&key)
    }

    /// A template line of this feed.
    pub fn contains(&self, key: u64) -> bool {
        self.shapes.contains(&key)
    }

    /// A template line of another feed only.
    pub fn is_foreign(&self, key: u64) -> bool {
        self.foreign.contains(&key)
    }

    pub fn is_empty(&self) -> bool {
        self.shapes.is_empty() && self.foreign.is_empty() && self.common.is_empty() && self.titles.is_empty()
    }

    /// The number of this feed's template shapes.
    pub fn len(&self) -> usize {
        self.shapes.len()
    }

    /// This feed's template shapes.
    pub fn shapes(&self) -> impl Iterator<Item = u64> + '_ {
        self.shapes.iter().copied()
    }
}

/// Titles shorter than this are not used as evidence (see [`Template::with_titles`]).
pub const MIN_TITLE_CHARS: usize = 16;

/// The key of a folded title: its words (letters and digits), so that punctuation and quotes
/// do not matter.
pub(crate) fn title_key(folded: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut mix = |bytes: &[u8]| {
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    // Each run of letters and digits, followed by a space: one walk over the characters finds
    // where runs start and end, and each run's bytes are hashed from the line as they are.
    let mut run_start = None;
    for (i, c) in folded.char_indices() {
        match (chars::is_alphanumeric(c), run_start) {
            (true, None) => run_start = Some(i),
            (false, Some(start)) => {
                mix(&folded.as_bytes()[start..i]);
                mix(b" ");
                run_start = None;
            }
            _ => {}
        }
    }
    if let Some(start) = run_start {
        mix(&folded.as_bytes()[start..]);
        mix(b" ");
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Normaliser, RuleSet};
    use newsdedup_model::{BodyKind, KeySource, RawItem};

    #[test]
    fn title_keys_hash_each_word_and_a_space() {
        // The key as first written: split into words, then each word's bytes and a space.
        let reference = |folded: &str| {
            let mut h: u64 = 0xcbf2_9ce4_8422_2325;
            for w in folded.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
                for b in w.bytes().chain(std::iter::once(b' ')) {
                    h ^= u64::from(b);
                    h = h.wrapping_mul(0x0000_0100_0000_01b3);
                }
            }
            h
        };
        for t in ["", "-", "a", "«bank» opts, to leave-rates!", "курс ₽ 96,70 — ὀδυσσεύς", "x²½ ٣٤ 🔥end🔥"]
        {
            assert_eq!(title_key(t), reference(t), "{t:?}");
        }
    }

    fn analyse(title: &str, body: &str) -> Analysis {
        let raw = RawItem {
            guid: title.into(),
            key_source: KeySource::Guid,
            link: None,
            title: Some(title.into()),
            published_at: None,
            updated_at: None,
            body: body.into(),
            body_kind: BodyKind::Text,
            platform_id: None,
        };
        Normaliser::new(RuleSet::default()).analyse(None, &raw)
    }

    const TOPICS: [&str; 10] =
        ["beras", "minyak", "gula", "listrik", "air", "sekolah", "jalan", "pajak", "pupuk", "bensin"];
    const PLACES: [&str; 10] =
        ["Jakarta", "Bandung", "Surabaya", "Medan", "Makassar", "Denpasar", "Padang", "Manado", "Ambon", "Kupang"];

    /// Words that make story `n` its own (numbers alone would not: shapes even them out).
    fn story_words(n: usize) -> (&'static str, &'static str) {
        (TOPICS[n % 10], PLACES[(n / 10) % 10])
    }

    /// An Indonesian channel (no rule pack covers it): a story, then a footer whose view count
    /// changes from post to post.
    fn channel_item(n: usize) -> Analysis {
        let (topic, place) = story_words(n);
        analyse(
            &format!("Kabar {topic} dari {place}"),
            &format!(
                "Pemerintah mengumumkan kebijakan baru tentang harga {topic} di pasar tradisional {place}.\n\
                 Para pedagang {place} menyambut keputusan soal {topic} itu dengan hati-hati.\n\
                 Jangan lupa bagikan ke teman-teman kalian!\n\
                 Ditonton {} kali — Kanal Kabar Kita",
                1000 + 37 * n
            ),
        )
    }

    fn key_of(a: &Analysis, line: usize) -> u64 {
        a.lines[line].shape.key
    }

    #[test]
    fn a_whole_batch_teaches_its_footer_at_once() {
        let items: Vec<Analysis> = (0..8).map(channel_item).collect();
        let mut stats = FeedStats::default();
        stats.observe(items.iter());
        assert_eq!(stats.stories, 8);
        let template = stats.template(&LearnSettings::default());
        // Both footer lines (the second with a different number each time), not the story.
        assert!(template.contains(key_of(&items[0], 2)));
        assert!(template.contains(key_of(&items[0], 3)));
        assert!(!template.contains(key_of(&items[0], 0)));
        // ...and the frame of the second ("Ditonton … kali"), nothing of the story.
        let frames = items[0].lines[3].frames.keys();
        assert!(!frames.is_empty() && frames.iter().all(|k| template.contains(*k)));
        assert!(items[0].lines[..2].iter().all(|l| l.frames.is_empty()));
        assert_eq!(template.len(), 2 + frames.len());
        let clean = Normaliser::finish(&items[3], &template);
        assert_eq!(clean.clean_text.lines().count(), 2);
        assert!(clean.removed.iter().all(|r| r.rule == crate::TEMPLATE_RULE));
    }

    #[test]
    fn evidence_accumulates_across_batches() {
        let settings = LearnSettings::default();
        let mut stats = FeedStats::default();
        stats.observe([channel_item(0), channel_item(1)].iter());
        assert!(!stats.is_template(key_of(&channel_item(0), 2), &settings), "two stories are not enough");
        // A later run: what the store kept, plus the new batch.
        stats.observe((2..6).map(channel_item).collect::<Vec<_>>().iter());
        assert_eq!(stats.stories, 6);
        assert!(stats.is_template(key_of(&channel_item(0), 2), &settings));
        assert!(stats.changed().count() > 0 && !stats.new_anchors().is_empty());
    }

    #[test]
    fn copies_of_one_story_are_one_story() {
        // The same story posted six times (reposts, new guids): every line is in every item,
        // and none of it is a template.
        let copies: Vec<Analysis> = (0..6).map(|_| channel_item(1)).collect();
        let mut stats = FeedStats::default();
        stats.observe(copies.iter());
        assert_eq!(stats.stories, 1);
        assert!(stats.template(&LearnSettings::default()).is_empty());
        // Copies arriving in a later batch are recognised too.
        stats.observe([channel_item(1)].iter());
        assert_eq!(stats.stories, 1);
    }

    #[test]
    fn a_phrase_repeated_inside_one_item_is_not_evidence() {
        let chant = "Kami akan menang!";
        let body = format!("{chant}\nPara pemain berlatih sepanjang pekan.\n{chant}\n{chant}\n{chant}\nPelatih puas.");
        let mut stats = FeedStats::default();
        stats.observe([analyse("Final", &body)].iter());
        let key = shape::shape_of(&fold::fold_line(chant), shape::OwnTitle::default()).key;
        assert_eq!(stats.lines[&key].items, 1);
        assert_eq!(stats.lines[&key].stories, 1);
    }

    #[test]
    fn background_shared_by_a_few_stories_of_a_big_feed_stays() {
        // A publisher with 60 different stories; a paragraph of background ends 4 of them.
        let background = "Форум проходит в Москве с 11 по 13 октября, организаторы ожидают более двадцати тысяч \
                          участников из сорока стран.";
        let items: Vec<Analysis> = (0..60)
            .map(|n| {
                let extra = if n % 15 == 0 { format!("\n{background}") } else { String::new() };
                let (topic, place) = story_words(n);
                analyse(
                    &format!("{topic} {place}"),
                    &format!("Новость о {topic} в городе {place} и её последствиях.{extra}"),
                )
            })
            .collect();
        let mut stats = FeedStats::default();
        stats.observe(items.iter());
        assert_eq!(stats.stories, 60);
        assert!(stats.template(&LearnSettings::default()).is_empty());
    }

    #[test]
    fn early_evidence_needs_the_window_and_long_lines_need_more() {
        let settings = LearnSettings::default();
        // A short line in 4 of the first 8 stories: 4 < 10% of the 50-story window.
        let stat = LineStat { items: 4, stories: 4, since: 0, words: 3 };
        assert!(!qualifies(&stat, 8, &settings));
        assert!(qualifies(&LineStat { stories: 5, ..stat.clone() }, 8, &settings));
        // The same counts for a long line are not enough: it needs three times the share.
        let long = LineStat { words: 25, ..stat.clone() };
        assert!(!qualifies(&LineStat { stories: 5, ..long.clone() }, 8, &settings));
        assert!(qualifies(&LineStat { stories: 15, ..long }, 20, &settings));
        // A line that appeared late is judged on the stories since.
        let late = LineStat { items: 12, stories: 12, since: 900, words: 4 };
        assert!(qualifies(&late, 1000, &settings));
        assert!(!qualifies(&LineStat { since: 0, ..late }, 1000, &settings));
    }
}
