//! Learned per-feed templates, on the writer's side: counting each fetched batch as evidence,
//! cleaning the batch with what the feed's template now is, and cleaning the feed's earlier
//! items again when the template grows.
//!
//! The normaliser owns what counts as evidence and when a line is a template
//! (`newsdedup_normaliser::learn`); the store keeps the counts (`newsdedup_store::templates`).
//! This file moves data between the two inside the feed's write transaction, so the counts and
//! the items cleaned with them are committed together: a crash leaves neither.
//!
//! Why here and not in the CPU stage: a template is a fact about the whole feed, so it can only
//! be decided once the batch has been counted together with what earlier runs saw, and those
//! counts live in the database, which only the writer touches.

use crate::config::Config;
use crate::pipeline::{profile_clean, ProcessedItem, Summary};
use crate::storyflow::{place_in_story, Index};
use anyhow::Result;
use chrono::{DateTime, Utc};
use newsdedup_deduplicator::TextProfile;
use newsdedup_model::{FeedId, ItemId};
use newsdedup_normaliser::learn::{is_common, COMMON_LINE_WORDS};
use newsdedup_normaliser::shape::Shape;
use newsdedup_normaliser::shape::SHAPE_VERSION;
use newsdedup_normaliser::{Analysis, FeedStats, LearnSettings, LineStat, Normaliser, Template};
use newsdedup_store::{FeedBatch, FeedRow, StoredRawItem, TemplateFeedRow, TemplateLineRow};
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

// Only lines the store indexes by shape alone can be looked up across feeds.
const _: () = assert!(COMMON_LINE_WORDS <= newsdedup_store::SHORT_LINE_WORDS);

/// The learning side of the writer.
///
/// It needs a normaliser only to clean stored items again (rare: when a template grows, and
/// in `reprocess`); that normaliser is built from the configuration on first use, since
/// compiling the rule packs costs a short cron run time for nothing otherwise.
pub struct Learner {
    config: Config,
    normaliser: OnceLock<Arc<Normaliser>>,
    settings: LearnSettings,
    enabled: bool,
    keep_stories: u32,
}

/// What a batch taught.
#[derive(Debug, Default)]
pub struct Learned {
    /// Shapes that became template lines with this batch: earlier items may hold them.
    newly: Vec<u64>,
    /// The statistics were counted again from every stored item (all of them may hold them).
    recounted: bool,
}

impl Learner {
    pub fn new(config: &Config) -> Learner {
        Learner {
            config: config.clone(),
            normaliser: OnceLock::new(),
            settings: config.learn_settings(),
            enabled: config.normalise.learn.enabled,
            keep_stories: config.normalise.learn.keep_stories,
        }
    }

    /// The normaliser for cleaning stored items again.
    pub fn normaliser(&self) -> Result<&Normaliser> {
        if let Some(n) = self.normaliser.get() {
            return Ok(n);
        }
        let built = Arc::new(self.config.normaliser()?);
        Ok(self.normaliser.get_or_init(|| built))
    }

    /// Uses `normaliser` (built from the same configuration, e.g. the pipeline's) instead of
    /// compiling another copy of the rule packs.
    pub fn share_normaliser(&self, normaliser: Arc<Normaliser>) {
        let _ = self.normaliser.set(normaliser);
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    pub fn settings(&self) -> &LearnSettings {
        &self.settings
    }

    /// Counts a fetched batch of `feed` as evidence (items already stored unchanged are not
    /// counted again), saves the counts, and cleans the batch's items with the feed's template.
    pub fn learn_batch(
        &self,
        batch: &FeedBatch<'_>,
        feed: &FeedRow,
        items: &mut [ProcessedItem],
        now: DateTime<Utc>,
    ) -> Result<Learned> {
        if !self.enabled || items.is_empty() {
            return Ok(Learned::default());
        }
        let (mut stats, recounted) = self.load(batch, feed, items.iter().map(|i| &i.analysis), now)?;
        // After a recount, stored items were cleaned without any of the template: all of it is
        // new to them.
        let before = if recounted { Template::default() } else { stats.template(&self.settings) };
        let mut fresh = Vec::with_capacity(items.len());
        for item in items.iter() {
            if !already_counted(batch, feed.id, &item.raw)? {
                fresh.push(&item.analysis);
            }
        }
        stats.observe(fresh.iter().copied());
        self.save(batch, feed.id, &stats, items.iter().map(|i| &i.analysis), now)?;
        let own = stats.template(&self.settings);
        let template = self.with_other_feeds(batch, feed.id, items.iter().map(|i| &i.analysis), own.clone())?;
        for item in items.iter_mut() {
            if item.analysis.touches(&template) {
                item.clean = Normaliser::finish(&item.analysis, &template);
                // The template only takes lines away (and a trailing phrase): the rest keep
                // the words they were tokenised into.
                item.profile = TextProfile::reusing(&item.clean.folded_text, &item.profile);
            }
        }
        let pruned = batch.prune_template_stats(feed.id, self.keep_stories)?;
        let newly: Vec<u64> = own.shapes().filter(|s| !before.contains(*s)).collect();
        tracing::debug!(template_lines = template.len(), newly = newly.len(), pruned, "template statistics updated");
        Ok(Learned { newly, recounted })
    }

    /// Cleans again the feed's earlier items that hold lines which just became template lines,
    /// and re-decides the stories of those whose text changed.
    ///
    /// `fetched` is the batch just stored, with the items `store_items` wrote (their id and
    /// place in the batch). Those are left alone: `learn_batch` cleaned them with the template
    /// these lines are part of. A stored item the batch carries unchanged is read back but
    /// keeps the batch's analysis (analysing is a pure function of the item and the rules);
    /// only the other earlier items are analysed here.
    #[allow(clippy::too_many_arguments)]
    pub fn reclean_earlier(
        &self,
        batch: &FeedBatch<'_>,
        index: &mut Index,
        feed: &FeedRow,
        fetched: (&[ProcessedItem], &HashMap<ItemId, usize>),
        learned: &Learned,
        now: DateTime<Utc>,
        summary: &mut Summary,
    ) -> Result<()> {
        if learned.newly.is_empty() {
            return Ok(());
        }
        let (items, written) = fetched;
        let newly = Template::new(learned.newly.iter().copied());
        let since = if learned.recounted { None } else { batch.template_first_seen(feed.id, &learned.newly)? };
        let by_guid: HashMap<&str, &ProcessedItem> = items.iter().map(|i| (i.raw.guid.as_str(), i)).collect();
        let mut candidates: Vec<(StoredRawItem, Cow<'_, Analysis>)> = Vec::new();
        for id in batch.stored_item_ids(feed.id, since)? {
            if written.contains_key(&id) {
                continue;
            }
            let Some(stored) = batch.stored_raw_item(id)? else { continue };
            let analysis = match by_guid.get(stored.raw.guid.as_str()) {
                Some(item) if same_analysis_input(&item.raw, &stored.raw) => Cow::Borrowed(&item.analysis),
                _ => Cow::Owned(self.normaliser()?.analyse(Some(&feed.url), &stored.raw)),
            };
            if analysis.touches(&newly) {
                candidates.push((stored, analysis));
            }
        }
        if candidates.is_empty() {
            return Ok(());
        }
        let (stats, _) = self.load(batch, feed, candidates.iter().map(|(_, a)| &**a), now)?;
        let own = stats.template(&self.settings);
        let template = self.with_other_feeds(batch, feed.id, candidates.iter().map(|(_, a)| &**a), own)?;
        let mut changed = 0;
        for (earlier, analysis) in candidates {
            let clean = Normaliser::finish(&analysis, &template);
            if clean.clean_text == earlier.clean_text && same_removals(&earlier, &clean.removed) {
                continue;
            }
            let text_changed = clean.clean_text != earlier.clean_text;
            let (id, fetched_at) = (earlier.id, earlier.fetched_at);
            if text_changed {
                index.forget(batch, id)?;
            }
            batch.update_clean(id, &clean)?;
            summary.lines_removed += clean.removed.len().saturating_sub(earlier.removed.len());
            if text_changed {
                let analysis = analysis.into_owned();
                let item = ProcessedItem { profile: profile_clean(&clean), raw: earlier.raw, clean, analysis };
                batch.leave_story(id)?;
                place_in_story(batch, index, feed.id, id, &item, fetched_at)?;
                changed += 1;
            }
        }
        summary.items_recleaned += changed;
        if changed > 0 {
            tracing::info!(
                items = changed,
                template_lines = template.len(),
                "earlier items cleaned with the learned template"
            );
        }
        Ok(())
    }

    /// The feed's statistics for the shapes of `analyses`: loaded from the store; or counted
    /// from the feed's stored items (then `true`) when they were counted with another shape
    /// algorithm, or never (items stored by a release that did not learn templates).
    fn load<'a>(
        &self,
        batch: &FeedBatch<'_>,
        feed: &FeedRow,
        analyses: impl Iterator<Item = &'a Analysis>,
        now: DateTime<Utc>,
    ) -> Result<(FeedStats, bool)> {
        let feed_row = batch.template_feed(feed.id)?;
        if feed_row.is_some_and(|r| r.shape_version != SHAPE_VERSION) {
            tracing::info!(feed_id = feed.id.0, "line shapes changed: recounting the feed's template statistics");
            return Ok((self.rebuild(batch, feed, now)?, true));
        }
        if feed_row.is_none() && batch.feed_has_items(feed.id)? {
            tracing::info!(feed_id = feed.id.0, "counting the template statistics of the feed's stored items");
            return Ok((self.rebuild(batch, feed, now)?, true));
        }
        let mut shapes: Vec<u64> = analyses.flat_map(|a| a.shape_keys()).collect();
        shapes.sort_unstable();
        shapes.dedup();
        let mut stats = FeedStats::default();
        stats.stories = feed_row.map_or(0, |r| r.stories);
        for row in batch.template_lines(feed.id, &shapes)? {
            stats.lines.insert(
                row.shape,
                LineStat { items: row.items, stories: row.stories, since: row.since, words: row.words },
            );
        }
        stats.anchors.extend(batch.template_anchors(feed.id, &shapes)?);
        Ok((stats, false))
    }

    /// Adds to `template` what other feeds know of the lines of `analyses`: their template
    /// lines and frames, short lines many feeds repeat; and the titles of `analyses` (a line
    /// that is another item's headline is a link to another story).
    pub fn with_other_feeds<'a>(
        &self,
        batch: &FeedBatch<'_>,
        feed: FeedId,
        analyses: impl Iterator<Item = &'a Analysis>,
        template: Template,
    ) -> Result<Template> {
        let analyses: Vec<&Analysis> = analyses.collect();
        let mut shapes: Vec<Shape> =
            analyses.iter().flat_map(|a| a.learnable_shapes().into_iter().map(|(s, _)| s)).collect();
        shapes.sort_unstable_by_key(|s| s.key);
        shapes.dedup_by_key(|s| s.key);
        let mut keys: Vec<u64> = shapes.iter().map(|s| s.key).collect();
        keys.extend(analyses.iter().flat_map(|a| a.frame_keys()));
        keys.sort_unstable();
        keys.dedup();
        let short: Vec<u64> = shapes.iter().filter(|s| s.words <= COMMON_LINE_WORDS).map(|s| s.key).collect();
        let foreign = batch.template_lines_elsewhere(feed, &keys)?;
        let common = batch
            .template_lines_everywhere(&short)?
            .into_iter()
            .filter(|(_, feeds, stories)| is_common(*feeds, *stories))
            .map(|(shape, _, _)| shape);
        Ok(template.with_foreign(foreign).with_common(common).with_titles_of(analyses.iter().copied()))
    }

    /// Forgets a feed's statistics and counts its stored items again, as one batch.
    pub fn rebuild(&self, batch: &FeedBatch<'_>, feed: &FeedRow, now: DateTime<Utc>) -> Result<FeedStats> {
        batch.clear_template_stats(feed.id)?;
        let normaliser = self.normaliser()?;
        let analyses: Vec<Analysis> = batch
            .stored_raw_items(Some(feed.id), None)?
            .iter()
            .map(|s| normaliser.analyse(Some(&feed.url), &s.raw))
            .collect();
        let mut stats = FeedStats::default();
        stats.observe(analyses.iter());
        self.save(batch, feed.id, &stats, analyses.iter(), now)?;
        Ok(stats)
    }

    /// Saves what `observe` changed; lines that are template lines get an example text.
    fn save<'a>(
        &self,
        batch: &FeedBatch<'_>,
        feed: FeedId,
        stats: &FeedStats,
        analyses: impl Iterator<Item = &'a Analysis>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let mut examples: HashMap<u64, &str> = HashMap::new();
        for a in analyses {
            for line in &a.lines {
                if stats.is_template(line.shape.key, &self.settings) {
                    examples.entry(line.shape.key).or_insert(&line.text);
                }
                for &frame in line.frames.keys() {
                    if stats.is_template(frame, &self.settings) {
                        examples.entry(frame).or_insert(&line.text);
                    }
                }
                if let Some(tail) = &line.tail {
                    if stats.is_template(tail.shape.key, &self.settings) {
                        examples.entry(tail.shape.key).or_insert(&line.text[tail.at..]);
                    }
                }
            }
        }
        let rows: Vec<(TemplateLineRow, Option<&str>)> = stats
            .changed()
            .map(|(shape, s)| {
                let row = TemplateLineRow { shape, items: s.items, stories: s.stories, since: s.since, words: s.words };
                (row, examples.get(&shape).copied())
            })
            .collect();
        let feed_row = TemplateFeedRow { stories: stats.stories, shape_version: SHAPE_VERSION };
        batch.save_template_stats(feed, feed_row, &rows, stats.new_anchors(), now)?;
        Ok(())
    }
}

/// True when the store already holds this item as it is now (its lines were counted when it
/// was stored), or `prune` deleted it. The same test `store_item` makes before storing.
fn already_counted(batch: &FeedBatch<'_>, feed: FeedId, raw: &newsdedup_model::RawItem) -> Result<bool> {
    for key in newsdedup_fetcher::identity::lookup_keys(raw) {
        if let Some(s) = batch.find_item(feed, &key)? {
            return Ok((s.raw_pruned || s.raw_content == raw.body) && s.title == raw.title && s.link == raw.link);
        }
    }
    Ok(batch.is_tombstoned(feed, &raw.guid)?)
}

/// True when analysing `a` and `b` gives the same result: the normaliser reads the title, the
/// body and its kind, and the link (see `Normaliser::analyse`).
fn same_analysis_input(a: &newsdedup_model::RawItem, b: &newsdedup_model::RawItem) -> bool {
    a.body == b.body && a.body_kind == b.body_kind && a.title == b.title && a.link == b.link
}

/// True when the stored removals are the ones `removed` lists (same lines, same rules).
fn same_removals(stored: &StoredRawItem, removed: &[newsdedup_model::RemovedLine]) -> bool {
    stored.removed.len() == removed.len()
        && stored.removed.iter().zip(removed).all(|((line, rule), r)| *line == r.line && *rule == r.rule)
}
