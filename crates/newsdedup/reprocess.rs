//! `newsdedup reprocess [--feed URL]`: cleans stored items again from their raw content and
//! re-decides their stories, without fetching anything, in one transaction.
//!
//! For when rules, settings or newsdedup itself changed. Three passes, all inside one write
//! transaction (an error or a crash leaves the database as it was):
//!
//! 1. the learned template statistics of the feeds concerned are counted again from their
//!    stored items, as one batch per feed (what a first ingest of everything would learn);
//! 2. every item of those feeds is cleaned again with the rules, edges and learned templates,
//!    and its clean text, removed lines and fingerprint are updated when they changed;
//! 3. every item of those feeds, in the order they were first stored, leaves its story and is
//!    placed again through the writer's usual dedup path, against everything else stored.
//!
//! The report counts what changed: items whose text changed, lines newly removed or restored,
//! and items whose story (its set of members) is not what it was.

use crate::config::Config;
use crate::pipeline::{profile_clean, ProcessedItem};
use crate::storyflow::{place_in_story, refeature};
use crate::writer::Writer;
use anyhow::Result;
use chrono::Utc;
use newsdedup_model::{ItemId, StoryId};
use newsdedup_normaliser::{Analysis, Normaliser, Template};
use newsdedup_store::{FeedRow, Store};
use std::collections::HashMap;

/// What a reprocess changed.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Report {
    pub feeds: usize,
    pub items: usize,
    /// Items whose clean text changed.
    pub items_recleaned: usize,
    /// Lines removed now that were kept before.
    pub lines_removed: usize,
    /// Lines kept now that were removed before.
    pub lines_restored: usize,
    /// Items whose story now has other members than before.
    pub items_story_changed: usize,
    pub stories_before: usize,
    pub stories_after: usize,
    /// Learned template lines of the feeds reprocessed.
    pub template_lines: usize,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "reprocessed {} items of {} feeds: {} cleaned differently ({} lines newly removed, {} restored; \
             {} learned template lines); {} items changed story; stories: {} before, {} after",
            self.items,
            self.feeds,
            self.items_recleaned,
            self.lines_removed,
            self.lines_restored,
            self.template_lines,
            self.items_story_changed,
            self.stories_before,
            self.stories_after
        )
    }
}

/// Reprocesses every feed, or only `feed`.
pub fn run(store: Store, config: &Config, feed: Option<FeedRow>) -> Result<Report> {
    let feeds = match feed {
        Some(f) => vec![f],
        None => store.feeds()?,
    };
    let mut writer = Writer::open(store, config)?;
    let result = reprocess(&mut writer, &feeds);
    if result.is_err() {
        // The transaction rolled back; the index must forget what it was told.
        writer.reload_index()?;
    }
    result
}

/// An item cleaned again, waiting for its story to be decided.
struct Redo {
    id: ItemId,
    feed: FeedRow,
    item: ProcessedItem,
    fetched_at: chrono::DateTime<Utc>,
}

fn reprocess(writer: &mut Writer, feeds: &[FeedRow]) -> Result<Report> {
    let (store, dedup, learner) = writer.parts();
    let normaliser = learner.normaliser()?;
    let now = Utc::now();
    let batch = store.begin()?;
    let before = batch.item_stories()?;
    let mut report = Report { feeds: feeds.len(), stories_before: count_stories(&before), ..Report::default() };

    // 1. Template statistics, counted again for every feed first, so that each feed's
    //    cleaning sees the other feeds' templates as they are now.
    let mut templates: HashMap<i64, Template> = HashMap::new();
    for feed in feeds {
        let template = if learner.enabled() {
            let stats = learner.rebuild(&batch, feed, now)?;
            stats.template(learner.settings())
        } else {
            batch.clear_template_stats(feed.id)?;
            Template::default()
        };
        report.template_lines += template.len();
        templates.insert(feed.id.0, template);
        tracing::debug!(feed_id = feed.id.0, "template statistics counted again");
    }

    // 2. Clean again.
    let mut redo: Vec<Redo> = Vec::new();
    for feed in feeds {
        let stored = batch.stored_raw_items(Some(feed.id), None)?;
        let analyses: Vec<Analysis> = stored.iter().map(|s| normaliser.analyse(Some(&feed.url), &s.raw)).collect();
        let mut template = templates.remove(&feed.id.0).unwrap_or_default();
        if learner.enabled() {
            template = learner.with_other_feeds(&batch, feed.id, analyses.iter(), template)?;
        }
        for (stored, analysis) in stored.into_iter().zip(analyses) {
            report.items += 1;
            let clean = Normaliser::finish(&analysis, &template);
            let (removed, restored) = line_changes(&stored.removed, &clean.removed);
            report.lines_removed += removed;
            report.lines_restored += restored;
            if clean.clean_text != stored.clean_text {
                report.items_recleaned += 1;
            }
            let text_changed = clean.clean_text != stored.clean_text;
            let changed = text_changed
                || removed + restored > 0
                || stored.removed.iter().zip(&clean.removed).any(|((_, rule), r)| *rule != r.rule);
            if changed {
                batch.update_clean(stored.id, &clean)?;
            }
            // Lines are not needed any more: keep the memory to what the dedup needs.
            let analysis = Analysis { lines: Vec::new(), ..analysis };
            let item = ProcessedItem { profile: profile_clean(&clean), raw: stored.raw, clean, analysis };
            if stored.story.is_some() {
                // Later items must be compared with this one's text as it is now (and its
                // features as this release computes them).
                refeature(&batch, dedup, feed.id, stored.id, &item, stored.fetched_at)?;
            }
            redo.push(Redo { id: stored.id, feed: feed.clone(), item, fetched_at: stored.fetched_at });
        }
        tracing::debug!(feed_id = feed.id.0, feed_url = %feed.url, "cleaned again");
    }

    // 3. Stories, in the order the items were first stored.
    redo.sort_by_key(|r| r.id);
    for r in &redo {
        dedup.forget(&batch, r.id)?;
        batch.leave_story(r.id)?;
        place_in_story(&batch, dedup, r.feed.id, r.id, &r.item, r.fetched_at)?;
    }

    let after = batch.item_stories()?;
    report.stories_after = count_stories(&after);
    report.items_story_changed = story_changes(&before, &after);
    batch.commit()?;
    Ok(report)
}

/// Lines removed now and not before, and removed before and not now (as multisets of text).
fn line_changes(before: &[(String, String)], now: &[newsdedup_model::RemovedLine]) -> (usize, usize) {
    let mut counts: HashMap<&str, i64> = HashMap::new();
    for (line, _) in before {
        *counts.entry(line.as_str()).or_default() -= 1;
    }
    for r in now {
        *counts.entry(r.line.as_str()).or_default() += 1;
    }
    let removed = counts.values().filter(|c| **c > 0).map(|c| *c as usize).sum();
    let restored = counts.values().filter(|c| **c < 0).map(|c| (-*c) as usize).sum();
    (removed, restored)
}

fn count_stories(items: &[(ItemId, Option<StoryId>)]) -> usize {
    let mut stories: Vec<i64> = items.iter().filter_map(|(_, s)| s.map(|s| s.0)).collect();
    stories.sort_unstable();
    stories.dedup();
    stories.len()
}

/// Items whose story has another set of members after than before.
fn story_changes(before: &[(ItemId, Option<StoryId>)], after: &[(ItemId, Option<StoryId>)]) -> usize {
    fn members(items: &[(ItemId, Option<StoryId>)]) -> HashMap<ItemId, Vec<ItemId>> {
        let mut by_story: HashMap<StoryId, Vec<ItemId>> = HashMap::new();
        for (item, story) in items {
            if let Some(s) = story {
                by_story.entry(*s).or_default().push(*item);
            }
        }
        let mut out = HashMap::new();
        for members in by_story.into_values() {
            let mut sorted = members.clone();
            sorted.sort_unstable();
            for m in members {
                out.insert(m, sorted.clone());
            }
        }
        out
    }
    let (b, a) = (members(before), members(after));
    after.iter().filter(|(item, _)| b.get(item) != a.get(item)).count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use newsdedup_model::RemovedLine;

    #[test]
    fn line_changes_count_removed_and_restored_lines() {
        let before =
            vec![("Subscribe!".to_string(), "en.cta".to_string()), ("Like this:".to_string(), "x".to_string())];
        let now = vec![
            RemovedLine { position: 0, line: "Subscribe!".into(), rule: "en.cta".into() },
            RemovedLine { position: 4, line: "— Channel".into(), rule: "learned.template".into() },
        ];
        assert_eq!(line_changes(&before, &now), (1, 1));
    }

    #[test]
    fn story_changes_compare_members_not_ids() {
        let (i1, i2, i3) = (ItemId(1), ItemId(2), ItemId(3));
        let before = vec![(i1, Some(StoryId(10))), (i2, Some(StoryId(10))), (i3, Some(StoryId(11)))];
        // Same grouping under new story ids: nothing changed.
        let renamed = vec![(i1, Some(StoryId(20))), (i2, Some(StoryId(20))), (i3, Some(StoryId(21)))];
        assert_eq!(story_changes(&before, &renamed), 0);
        // Item 3 joins the first story: all three items' stories changed.
        let merged = vec![(i1, Some(StoryId(10))), (i2, Some(StoryId(10))), (i3, Some(StoryId(10)))];
        assert_eq!(story_changes(&before, &merged), 3);
        assert_eq!(count_stories(&merged), 1);
    }
}
