//! Raw items to clean items.
//!
//! This crate owns the decision of what an item's text is: its body as readable lines
//! ([`html`]), the folded form that comparisons use ([`fold`]), a title without decoration
//! ([`title`]), a canonical link ([`link`]), and the removal of everything a reposter wrapped
//! around the story, in three layers:
//!
//! 1. rule packs ([`rules`]): patterns for known kinds of boilerplate, per language, plus the
//!    user's own packs and per-feed rules;
//! 2. learned templates ([`learn`]): the lines a feed repeats across its different stories,
//!    whatever the language, compared by [shape](shape), and the [frames](shape::frames_of) it
//!    repeats at the edges ("Posted in … | Tagged …" with other words each time);
//! 3. edges ([`edge`]): at the head and the tail of an item, a block of lines that look like
//!    boilerplate (link lists, contact lines, hashtag and keyword walls, banners) is cut, while
//!    the same line in the middle of the story stays; a "Read more" link ending the last
//!    paragraph goes without the paragraph.
//!
//! The tail block is peeled from the end until nothing more goes: lines that any layer names,
//! then a list of headlines under a heading that goes ("More from the blog" and the titles of
//! other stories, which vary from item to item and so can never be learned), then more
//! boilerplate above it, and so on. A line that is the title of another item (given with the
//! template, see [`Template::with_titles`]) is a link to another story at the tail. In the
//! middle of the story, headlines go only between a heading and a line that both go anywhere.
//!
//! It is plain synchronous code. [`Normaliser::analyse`] does the expensive part once per item
//! (parsing, folding, rule matching, shapes); [`Normaliser::finish`] applies a feed's learned
//! [`Template`] to an analysis and is cheap, so the template can be decided after a whole
//! batch has been seen. Fetching, fingerprints, learning's storage and the dedup belong to
//! other crates.
//!
//! [`RawItem`]: newsdedup_model::RawItem
//! [`CleanItem`]: newsdedup_model::CleanItem

mod chars;
pub mod edge;
pub mod fold;
pub mod html;
pub mod learn;
pub mod link;
pub mod literals;
pub mod rules;
pub mod shape;
pub mod title;

use edge::EdgeKind;
pub use learn::{FeedStats, LearnSettings, LineStat, Template};
use newsdedup_model::{BodyKind, CleanItem, RawItem, RemovedLine};
pub use rules::{Place, Rule, RuleError, RuleSet};
use shape::{Frames, Shape};
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::OnceLock;

/// The rule id recorded when a body's first line repeats the title.
pub const TITLE_REPEAT_RULE: &str = "builtin.title-repeat";
/// The rule id recorded when a feed's learned template removes a line.
pub const TEMPLATE_RULE: &str = "learned.template";
/// The rule id recorded when another feed's learned template removes a line at an edge.
pub const FOREIGN_TEMPLATE_RULE: &str = "learned.other-feed";
/// The rule id recorded when a short line many feeds repeat goes.
pub const COMMON_RULE: &str = "learned.common";
/// The rule id recorded when a short link ending a cut paragraph ("…  Read more") goes.
pub const READ_MORE_RULE: &str = "edge.read-more";
/// The rule id recorded when a line whose frame the feed repeats ("Posted in … | Tagged …")
/// goes at an edge.
pub const FRAME_TEMPLATE_RULE: &str = "learned.frame";
/// The rule id recorded when a line that is another item's title goes at an edge.
pub const OTHER_TITLE_RULE: &str = "learned.other-title";
/// The rule id recorded for a title listed under a heading that went ("Related posts:").
pub const LISTED_RULE: &str = "edge.listed";
/// The rule id recorded for a weak-looking line cut along with an edge block.
pub const EDGE_BLOCK_RULE: &str = "edge.block";

/// Template lines longer than this many words are removed only inside an edge block: a long
/// line repeated in the middle of stories is more likely shared background prose.
const MAX_TEMPLATE_WORDS_INSIDE: u16 = 12;

/// Which layers run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layers {
    /// The edge layer (see [`edge`]).
    pub edges: bool,
}

impl Default for Layers {
    fn default() -> Self {
        Layers { edges: true }
    }
}

/// Cleans items with a fixed set of rules (global and per feed).
#[derive(Debug, Clone, Default)]
pub struct Normaliser {
    rules: RuleSet,
    feed_rules: HashMap<String, RuleSet>,
    layers: Layers,
}

/// A rule that matched a line: its id and where it may fire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleHit {
    pub id: String,
    pub place: Place,
}

/// A short link (or a short phrase after an ellipsis) ending a line, that may be boilerplate
/// of its own: "… <a>Read more</a>".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TailPhrase {
    /// Byte offset in the line's text where the phrase starts.
    pub at: usize,
    pub shape: Shape,
    pub rule: Option<RuleHit>,
    /// It is a short link right after an ellipsis: a "read more" whatever its words.
    pub after_ellipsis: bool,
}

/// One line of an item with what each layer found out about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnalysedLine {
    pub text: String,
    pub folded: String,
    pub shape: Shape,
    /// The line's frames (see [`shape::frames_of`]): learned only at an item's edges.
    pub frames: Frames,
    pub rule: Option<RuleHit>,
    pub edge: EdgeKind,
    pub tail: Option<TailPhrase>,
    /// The key the line would have as another item's title (see [`Template::with_titles`]),
    /// computed here once rather than each time a template is applied; none for a line that
    /// does not look like a title (a sentence, a paragraph: see `is_title_like`).
    pub title_key: Option<u64>,
    /// Whether the line, cleaned as a title, is the item's title (Telegram posts open with
    /// the headline): asked of the first line an item keeps, each time its feed's template
    /// is applied, and worked out once.
    repeats_title: Remembered,
}

/// A yes-or-no answer worked out the first time it is asked. It is not part of what a line
/// is: two lines are equal whether or not it has been asked yet.
#[derive(Debug, Clone, Default)]
struct Remembered(OnceLock<bool>);

impl Remembered {
    fn get_or(&self, work_out: impl FnOnce() -> bool) -> bool {
        *self.0.get_or_init(work_out)
    }
}

impl PartialEq for Remembered {
    fn eq(&self, _: &Remembered) -> bool {
        true
    }
}

impl Eq for Remembered {}

/// An item after the expensive work, before its feed's template is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Analysis {
    pub lines: Vec<AnalysedLine>,
    pub clean_title: String,
    /// `clean_title` folded (see [`fold::fold_line`]).
    pub folded_title: String,
    pub canonical_link: Option<String>,
}

impl Analysis {
    /// The distinct learnable shapes of the item (its lines and trailing phrases), each with
    /// the length in bytes of its longest line, for learning templates.
    pub fn learnable_shapes(&self) -> Vec<(Shape, usize)> {
        let mut out: HashMap<u64, (Shape, usize)> = HashMap::new();
        for line in &self.lines {
            let shapes = std::iter::once((line.shape, line.folded.len()))
                .chain(line.tail.as_ref().map(|t| (t.shape, line.text.len().saturating_sub(t.at))));
            for (shape, len) in shapes.filter(|(s, _)| s.learnable) {
                let e = out.entry(shape.key).or_insert((shape, 0));
                e.1 = e.1.max(len);
            }
        }
        let mut v: Vec<(Shape, usize)> = out.into_values().collect();
        v.sort_unstable_by_key(|(s, _)| s.key);
        v
    }

    /// The distinct frame keys of the item's lines (see [`shape::frames_of`]).
    pub fn frame_keys(&self) -> Vec<u64> {
        let mut v: Vec<u64> = self.lines.iter().flat_map(|l| l.frames.keys().iter().copied()).collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// The distinct keys the learned statistics count for the item: its learnable shapes and
    /// its frames.
    pub fn shape_keys(&self) -> impl Iterator<Item = u64> {
        self.learnable_shapes().into_iter().map(|(s, _)| s.key).chain(self.frame_keys())
    }

    /// True when any line (or trailing phrase) of the item is in `template` (its own feed's
    /// or another's), or is the title of another item.
    pub fn touches(&self, template: &Template) -> bool {
        let hit = |k: u64| template.contains(k) || template.is_foreign(k) || template.is_common(k);
        !template.is_empty()
            && self.lines.iter().any(|l| {
                hit(l.shape.key)
                    || l.tail.as_ref().is_some_and(|t| hit(t.shape.key))
                    || l.frames.keys().iter().any(|k| hit(*k))
                    || l.title_key.is_some_and(|k| template.is_title_key(k))
            })
    }
}

/// Why a line goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mark {
    /// A rule allowed anywhere.
    Rule,
    /// A rule allowed only in the head or tail block.
    RuleAtEdge(Place),
    /// A learned template line; `short` ones may go anywhere.
    Template {
        short: bool,
    },
    /// Another feed's template line: boilerplate in an edge block only.
    Foreign,
    /// A line whose frame is the feed's template: boilerplate in an edge block only.
    Frame,
    /// A line that is the title of another item (a related-stories list): boilerplate in an
    /// edge block, or under a heading that goes.
    OtherTitle,
    /// A title-like line listed under a heading that goes (see [`listed_run`]): it goes with
    /// the heading in an edge block.
    Listed,
    /// A title-like line in the middle, listed under a heading that goes anywhere and followed
    /// by a line that goes anywhere.
    ListedInside,
    /// A short line many feeds repeat: boilerplate anywhere.
    Common,
    Edge(EdgeKind),
}

impl Normaliser {
    pub fn new(rules: RuleSet) -> Normaliser {
        Normaliser { rules, feed_rules: HashMap::new(), layers: Layers::default() }
    }

    /// Adds rules that apply only to the feed with this address (as stored in `feeds.url`).
    /// They are tried before the global rules.
    pub fn with_feed_rules(mut self, feed_url: impl Into<String>, rules: RuleSet) -> Normaliser {
        self.feed_rules.insert(feed_url.into(), rules);
        self
    }

    pub fn with_layers(mut self, layers: Layers) -> Normaliser {
        self.layers = layers;
        self
    }

    pub fn rules(&self) -> &RuleSet {
        &self.rules
    }

    /// Cleans one item with rules and edges only (no learned template).
    pub fn normalise(&self, item: &RawItem) -> CleanItem {
        Normaliser::finish(&self.analyse(None, item), &Template::default())
    }

    fn rule_for(&self, feed_rules: Option<&RuleSet>, folded: &str) -> Option<RuleHit> {
        feed_rules
            .and_then(|r| r.first_match(folded))
            .or_else(|| self.rules.first_match(folded))
            .map(|r| RuleHit { id: r.id.clone(), place: r.place })
    }

    /// The expensive, template-independent part of cleaning: lines, folded forms, shapes, rule
    /// matches and looks. `feed_url` selects per-feed rules.
    pub fn analyse(&self, feed_url: Option<&str>, item: &RawItem) -> Analysis {
        let feed_rules = feed_url.and_then(|u| self.feed_rules.get(u));
        let clean_title = item.title.as_deref().map(title::clean_title).unwrap_or_default();
        let folded_title = fold::fold_line(&clean_title);
        let folded_raw_title = item.title.as_deref().map(fold::fold_line).unwrap_or_default();
        let title = shape::OwnTitle::new(&folded_title, &folded_raw_title);
        let lines = body_lines(&item.body, item.body_kind)
            .into_iter()
            .map(|line| {
                let folded = fold::fold_line(&line.text);
                let (shape, frames) = shape::shape_and_frames(&folded, title);
                let rule = self.rule_for(feed_rules, &folded);
                let edge = if self.layers.edges { edge::classify(&line, &folded) } else { EdgeKind::Content };
                let tail = self.tail_phrase(feed_rules, &line, title);
                let title_key = is_title_like(shape.words, &line.text).then(|| learn::title_key(&folded));
                AnalysedLine {
                    text: line.text,
                    folded,
                    shape,
                    frames,
                    rule,
                    edge,
                    tail,
                    title_key,
                    repeats_title: Remembered::default(),
                }
            })
            .collect();
        Analysis { lines, clean_title, folded_title, canonical_link: item.link.as_deref().map(link::canonical_link) }
    }

    /// A phrase ending the line that could be boilerplate on its own: a trailing link after
    /// other text, or a few words after a final ellipsis.
    fn tail_phrase(
        &self,
        feed_rules: Option<&RuleSet>,
        line: &html::Line,
        title: shape::OwnTitle<'_>,
    ) -> Option<TailPhrase> {
        let text = line.text.as_str();
        let (at, is_link) = match line.trailing_link {
            Some(at) => (at, true),
            None => (after_final_ellipsis(text)?, false),
        };
        let phrase = text[at..].trim();
        let words = edge::word_count(phrase);
        if words == 0 || words > 6 || phrase.chars().count() > 60 {
            return None;
        }
        let head = text[..at].trim_end();
        // The phrase must stand apart from the sentence before it ("It ended. Read more",
        // "notamment… Lire la suite", "| More"); "he wrote on <a>Twitter</a>" is one sentence.
        let separated = head.ends_with(['.', '!', '?', '…', ':', '|', '-', '—', '–', '»', '›', '>', '→', ')', '"']);
        if head.is_empty() || !separated {
            return None;
        }
        let folded = fold::fold_line(phrase);
        let ends_cut = head.ends_with('…') || head.ends_with("...");
        Some(TailPhrase {
            at,
            shape: shape::shape_of(&folded, title),
            rule: self.rule_for(feed_rules, &folded),
            after_ellipsis: is_link && ends_cut && words <= 4,
        })
    }

    /// Applies the layers and the feed's learned `template` to an analysis. Everything the
    /// rules had to say is in the analysis already, so this needs no normaliser.
    pub fn finish(analysis: &Analysis, template: &Template) -> CleanItem {
        let lines = &analysis.lines;
        let own_title = analysis.folded_title.as_str();
        let mut marks: Vec<Mark> = lines.iter().map(|l| mark_of(l, template, own_title)).collect();
        let n = lines.len();

        // The head block: the lines before the story that are boilerplate of some kind. (A
        // list of titles under a heading is not looked for here: short lines before the
        // story are its own dateline, venue or subtitle more often than links elsewhere.)
        let mut head_len = marks.iter().take_while(|m| in_block(m, Place::Head)).count();
        // A short label right before the story ("From the wires:") introduces it.
        if head_len > 0 && head_len < n {
            if let Mark::Edge(EdgeKind::Weak("edge.label")) = marks[head_len - 1] {
                marks[head_len - 1] = Mark::Edge(EdgeKind::Strong("edge.label"));
            }
        }
        if !marks[..head_len].iter().any(anchors_block) {
            head_len = 0;
        }
        // The tail block, peeled from the end: the run of lines that are boilerplate of some
        // kind, then a list of titles under a heading that goes with it, until nothing more
        // goes.
        let mut tail_start = n;
        loop {
            let run = marks[head_len..tail_start].iter().rev().take_while(|m| in_block(m, Place::Tail)).count();
            tail_start -= run;
            // A list of titles ending here, under a heading that goes.
            let Some(start) = listed_before(lines, &marks, head_len, tail_start) else { break };
            marks[start..tail_start].iter_mut().for_each(|m| *m = Mark::Listed);
            tail_start = start;
        }
        if !marks[tail_start..].iter().any(anchors_block) {
            tail_start = n;
        }
        // In the middle, a list under a heading that goes anywhere goes when the line after it
        // goes anywhere too ("Read also:" / a title / "Advertisement").
        let mut i = head_len;
        while i < tail_start {
            if goes_anywhere(&marks[i]) {
                if let Some(end) = listed_after(lines, &marks, Some(i), tail_start, Place::Any) {
                    if end < tail_start && goes_anywhere(&marks[end]) {
                        marks[i + 1..end].iter_mut().for_each(|m| *m = Mark::ListedInside);
                        i = end;
                        continue;
                    }
                }
            }
            i += 1;
        }

        let mut kept: Vec<usize> = Vec::with_capacity(n);
        let mut removed: Vec<RemovedLine> = Vec::new();
        let mut edge_only: Vec<usize> = Vec::new();
        for (i, (line, mark)) in lines.iter().zip(&marks).enumerate() {
            let at_edge = i < head_len || i >= tail_start;
            let goes = match mark {
                Mark::Rule | Mark::Template { short: true } | Mark::Common | Mark::ListedInside => true,
                _ => at_edge,
            };
            if !goes {
                kept.push(i);
                continue;
            }
            let rule = match mark {
                Mark::Rule | Mark::RuleAtEdge(_) => line.rule.as_ref().map_or(EDGE_BLOCK_RULE, |r| r.id.as_str()),
                Mark::Template { .. } => TEMPLATE_RULE,
                Mark::Foreign => FOREIGN_TEMPLATE_RULE,
                Mark::Frame => FRAME_TEMPLATE_RULE,
                Mark::Common => COMMON_RULE,
                Mark::OtherTitle => OTHER_TITLE_RULE,
                Mark::Listed | Mark::ListedInside => LISTED_RULE,
                Mark::Edge(EdgeKind::Strong(id)) => id,
                Mark::Edge(_) => EDGE_BLOCK_RULE,
            };
            if matches!(mark, Mark::Edge(_)) {
                edge_only.push(removed.len());
            }
            removed.push(RemovedLine { position: i as u32, line: line.text.clone(), rule: rule.to_string() });
        }
        // Never empty an item on looks alone.
        if kept.is_empty() && !edge_only.is_empty() {
            let restored: Vec<RemovedLine> = edge_only.iter().rev().map(|&r| removed.remove(r)).collect();
            kept = restored.iter().map(|r| r.position as usize).collect();
            kept.sort_unstable();
        }

        // The kept lines are borrowed from the analysis, and joined once at the end; only a
        // shortened last line needs a folded form of its own.
        let mut texts: Vec<&str> = kept.iter().map(|&i| lines[i].text.as_str()).collect();
        let mut folded: Vec<Cow<'_, str>> = kept.iter().map(|&i| Cow::from(lines[i].folded.as_str())).collect();
        // A first line that only repeats the title (Telegram posts open with the headline in
        // bold) is the title, not the story's text.
        if texts.len() > 1
            && !analysis.clean_title.is_empty()
            && lines[kept[0]]
                .repeats_title
                .get_or(|| fold::fold_line(&title::clean_title(texts[0])) == analysis.folded_title)
        {
            let line = texts.remove(0).to_string();
            folded.remove(0);
            removed.push(RemovedLine { position: kept.remove(0) as u32, line, rule: TITLE_REPEAT_RULE.to_string() });
        }
        // "… Read more" ending the last paragraph: the phrase goes, the paragraph stays.
        if let (Some(&last), Some(text), Some(last_folded)) = (kept.last(), texts.last_mut(), folded.last_mut()) {
            if let Some(tail) = &lines[last].tail {
                let rule = match &tail.rule {
                    Some(r) if r.place != Place::Head => Some(r.id.as_str()),
                    _ if tail.shape.learnable && template.contains(tail.shape.key) => Some(TEMPLATE_RULE),
                    _ if tail.shape.learnable && template.is_foreign(tail.shape.key) => Some(FOREIGN_TEMPLATE_RULE),
                    _ if tail.after_ellipsis => Some(READ_MORE_RULE),
                    _ => None,
                };
                if let Some(rule) = rule {
                    let phrase = text[tail.at..].trim().to_string();
                    *text = text[..tail.at].trim_end();
                    *last_folded = Cow::Owned(fold::fold_line(text));
                    removed.push(RemovedLine { position: last as u32, line: phrase, rule: rule.to_string() });
                }
            }
        }
        removed.sort_by_key(|r| r.position);
        let clean_text = texts.join("\n");
        // The same as `fold::fold(&clean_text)`, from the lines already folded.
        let folded_text = folded.join("\n");
        CleanItem {
            clean_title: analysis.clean_title.clone(),
            clean_text,
            folded_text,
            removed,
            canonical_link: analysis.canonical_link.clone(),
        }
    }
}

/// What the layers say of one line, before blocks are formed.
fn mark_of(l: &AnalysedLine, template: &Template, own_title: &str) -> Mark {
    let learnable = l.shape.learnable;
    match &l.rule {
        Some(RuleHit { place: Place::Any, .. }) => Mark::Rule,
        _ if learnable && template.contains(l.shape.key) => {
            Mark::Template { short: l.shape.words <= MAX_TEMPLATE_WORDS_INSIDE }
        }
        Some(RuleHit { place, .. }) => Mark::RuleAtEdge(*place),
        None if learnable && l.shape.words <= learn::COMMON_LINE_WORDS && template.is_common(l.shape.key) => {
            Mark::Common
        }
        None if learnable && template.is_foreign(l.shape.key) => Mark::Foreign,
        None if l.frames.keys().iter().any(|k| template.contains(*k)) => Mark::Frame,
        None if l.frames.keys().iter().any(|k| template.is_foreign(*k)) => Mark::Foreign,
        None if l.folded != own_title && l.title_key.is_some_and(|k| template.is_title_key(k)) => Mark::OtherTitle,
        None => Mark::Edge(l.edge),
    }
}

/// True when the mark lets a line into the block at the `end` of an item.
fn in_block(m: &Mark, end: Place) -> bool {
    match m {
        Mark::Rule
        | Mark::Template { .. }
        | Mark::Foreign
        | Mark::Frame
        | Mark::Common
        | Mark::Listed
        | Mark::ListedInside => true,
        // Lists of links to other stories follow the story; a headline before it is its own.
        Mark::OtherTitle => end != Place::Head,
        Mark::RuleAtEdge(p) => *p == end,
        Mark::Edge(k) => !k.is_content(),
    }
}

/// A block goes only if it holds something more than weak looks.
fn anchors_block(m: &Mark) -> bool {
    !matches!(m, Mark::Edge(EdgeKind::Weak(_) | EdgeKind::Content) | Mark::Listed)
}

/// True for a line that goes wherever it is.
fn goes_anywhere(m: &Mark) -> bool {
    matches!(m, Mark::Rule | Mark::Template { short: true } | Mark::Common)
}

/// Titles listed under one heading, at most.
const MAX_LISTED: usize = 12;

/// True when a line of `words` words (its shape's count) could be a headline in a list of
/// stories: a few words, no sentence's final punctuation, not starting in lowercase. Asked
/// once per line, in `analyse`: an analysed line has a title key exactly when it is.
fn is_title_like(words: u16, text: &str) -> bool {
    let text = text.trim_end_matches(|c: char| c.is_whitespace() || edge::is_pictograph(c));
    (1..=20).contains(&words)
        && text.chars().count() <= 160
        && !text.ends_with(['.', ':', ';', ',', '!'])
        && text.chars().find(|c| crate::chars::is_alphanumeric(*c)).is_some_and(|c| !crate::chars::is_lowercase(c))
}

/// True when a line that goes at `end` (`Any`: in the middle) can head a list of stories: a
/// short line that a rule or a learned template names ("Related posts:", "More from the
/// blog"), not a sentence. Looks alone do not make a heading: "Fixtures:" heads the story's
/// own list.
fn is_heading(l: &AnalysedLine, m: &Mark, end: Place) -> bool {
    let removable = match end {
        Place::Any => goes_anywhere(m),
        _ => {
            in_block(m, end)
                && matches!(
                    m,
                    Mark::Rule
                        | Mark::RuleAtEdge(_)
                        | Mark::Template { .. }
                        | Mark::Foreign
                        | Mark::Frame
                        | Mark::Common
                )
        }
    };
    let text = l.text.trim_end_matches(|c: char| c.is_whitespace() || edge::is_pictograph(c));
    removable && l.shape.words <= 8 && !text.ends_with(['.', '!', '?'])
}

/// A line that may be listed under a heading: title-like, with no other opinion on it (or
/// the title of another item).
fn listable(l: &AnalysedLine, m: &Mark) -> bool {
    matches!(m, Mark::Edge(EdgeKind::Content | EdgeKind::Weak(_)) | Mark::OtherTitle | Mark::Listed)
        && l.title_key.is_some()
}

/// When line `heading` heads a list (at the `end` of the item, or `Any`: in the middle), the
/// end (exclusive, at most `limit`) of the run of title-like lines after it.
fn listed_after(
    lines: &[AnalysedLine],
    marks: &[Mark],
    heading: Option<usize>,
    limit: usize,
    end: Place,
) -> Option<usize> {
    let h = heading?;
    if !is_heading(&lines[h], &marks[h], end) {
        return None;
    }
    let run = (h + 1..limit).take_while(|&j| listable(&lines[j], &marks[j])).take(MAX_LISTED).count();
    (run > 0).then_some(h + 1 + run)
}

/// The start of a run of title-like lines ending at `end` (exclusive) that a heading heads,
/// looking no further back than `floor`.
fn listed_before(lines: &[AnalysedLine], marks: &[Mark], floor: usize, end: usize) -> Option<usize> {
    let run = (floor..end).rev().take_while(|&j| listable(&lines[j], &marks[j])).take(MAX_LISTED).count();
    if run == 0 {
        return None;
    }
    let start = end - run;
    let h = start.checked_sub(1).filter(|h| *h >= floor)?;
    is_heading(&lines[h], &marks[h], Place::Tail).then_some(start)
}

/// The byte offset just after a final ellipsis ("…" or "...") followed by a few words.
fn after_final_ellipsis(text: &str) -> Option<usize> {
    // The last "...", found from the last dots (`rfind` of a byte is a fast `memrchr`), where
    // `rfind("...")` would set up a substring search on every line.
    let mut end = text.len();
    let mut dots = None;
    while let Some(p) = text[..end].rfind('.') {
        if text[..p].ends_with("..") {
            dots = Some(p - 2);
            break;
        }
        end = p;
    }
    let (pos, len) = [text.rfind('…').map(|p| (p, '…'.len_utf8())), dots.map(|p| (p, 3))]
        .into_iter()
        .flatten()
        .max_by_key(|(p, _)| *p)?;
    let at = pos + len;
    let rest = &text[at..];
    (!rest.trim().is_empty()).then(|| at + (rest.len() - rest.trim_start().len()))
}

/// The body's lines, before any removal.
pub fn body_lines(body: &str, kind: BodyKind) -> Vec<html::Line> {
    match kind {
        BodyKind::Html => html::html_to_structured_lines(body),
        BodyKind::Text => html::text_to_structured_lines(body),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use newsdedup_model::KeySource;

    const PACK: &str = r#"
[[rule]]
id = "t.subscribe"
where = "any"
pattern = '^please subscribe\b'
comment = "call to subscribe"
[[rule]]
id = "t.source"
where = "tail"
pattern = '^source: '
comment = "source line"
[[rule]]
id = "t.read-more"
where = "tail"
pattern = '^read more\W*$'
comment = "read more"
"#;

    fn item(body: &str, kind: BodyKind) -> RawItem {
        RawItem {
            guid: "g".into(),
            key_source: KeySource::Guid,
            link: Some("http://www.example.org/a?utm_source=x".into()),
            title: Some("BREAKING: Something happened".into()),
            published_at: None,
            updated_at: None,
            body: body.into(),
            body_kind: kind,
            platform_id: None,
        }
    }

    fn normaliser() -> Normaliser {
        Normaliser::new(RuleSet::from_packs([("t", PACK)]).unwrap())
    }

    fn rules_of(clean: &CleanItem) -> Vec<(u32, &str)> {
        clean.removed.iter().map(|r| (r.position, r.rule.as_str())).collect()
    }

    #[test]
    fn tail_rules_fire_only_in_the_trailing_block() {
        let body = "Source: officials said the plan was new.\nThe article goes on.\nPlease subscribe\nSource: BBC";
        let clean = normaliser().normalise(&item(body, BodyKind::Text));
        assert_eq!(clean.clean_text, "Source: officials said the plan was new.\nThe article goes on.");
        assert_eq!(rules_of(&clean), [(2, "t.subscribe"), (3, "t.source")]);
        assert_eq!(clean.clean_title, "Something happened");
        assert_eq!(clean.canonical_link.as_deref(), Some("https://example.org/a"));
    }

    #[test]
    fn a_leading_line_repeating_the_title_is_removed() {
        let n = normaliser();
        let clean =
            n.normalise(&item("<b>Something happened</b><br><br>It did, today.<br>Please subscribe", BodyKind::Html));
        assert_eq!(clean.clean_text, "It did, today.");
        assert_eq!(rules_of(&clean), [(0, TITLE_REPEAT_RULE), (2, "t.subscribe")]);
        // A body that is only the title keeps it.
        assert_eq!(n.normalise(&item("Something happened", BodyKind::Text)).clean_text, "Something happened");
    }

    #[test]
    fn any_rules_fire_in_the_middle() {
        let clean = normaliser().normalise(&item("<p>One.</p><p>Please subscribe!</p><p>Two.</p>", BodyKind::Html));
        assert_eq!(clean.clean_text, "One.\nTwo.");
        assert_eq!(clean.folded_text, "one.\ntwo.");
    }

    #[test]
    fn edge_blocks_go_at_the_ends_and_stay_in_the_middle() {
        // German, no rule for any of it: a banner at the head, contact lines and a hashtag
        // wall at the tail. The same contact line in the middle stays.
        let body = "📢 EILMELDUNG 📢\n\
                    Die Regierung hat am Dienstag neue Regeln für den Wohnungsbau beschlossen.\n\
                    Mehr dazu: https://beispiel.de/wohnen\n\
                    Kritiker halten die Pläne für unzureichend und fordern mehr Geld für Kommunen.\n\
                    Folgen Sie uns:\n\
                    Telegram: https://t.me/beispiel\n\
                    #nachrichten #politik #wohnen";
        let clean = normaliser().normalise(&item(body, BodyKind::Text));
        assert_eq!(
            clean.clean_text,
            "Die Regierung hat am Dienstag neue Regeln für den Wohnungsbau beschlossen.\n\
             Mehr dazu: https://beispiel.de/wohnen\n\
             Kritiker halten die Pläne für unzureichend und fordern mehr Geld für Kommunen."
        );
        assert_eq!(
            rules_of(&clean),
            [(0, "edge.banner"), (4, EDGE_BLOCK_RULE), (5, "edge.contact"), (6, "edge.hashtags")]
        );
    }

    #[test]
    fn a_block_of_weak_lines_alone_is_kept() {
        let body = "Le gouvernement a présenté mardi un nouveau plan pour le logement social.\n— Jean Dupont";
        let clean = normaliser().normalise(&item(body, BodyKind::Text));
        assert!(clean.removed.is_empty(), "{:?}", clean.removed);
    }

    #[test]
    fn read_more_links_go_and_the_paragraph_stays() {
        let n = normaliser();
        // A link after an ellipsis, in a language no rule covers.
        let html = "<p>First paragraph.</p><p>The report also showed the public is having&hellip; \
                    <a href=\"https://example.org/x\">Devamını oku</a></p>";
        let clean = n.normalise(&item(html, BodyKind::Html));
        assert_eq!(clean.clean_text, "First paragraph.\nThe report also showed the public is having…");
        assert_eq!(clean.removed[0].line, "Devamını oku");
        assert_eq!(clean.removed[0].rule, READ_MORE_RULE);
        // A rule that knows the phrase takes it even without an ellipsis.
        let clean = n.normalise(&item("<p>It ended. <a href=\"/x\">Read more</a></p>", BodyKind::Html));
        assert_eq!(clean.clean_text, "It ended.");
        assert_eq!(clean.removed[0].rule, "t.read-more");
        // An ordinary link at the end of a sentence stays, even one a rule knows.
        let html = "<p>So said the <a href=\"/pm\">Prime Minister</a></p>";
        assert_eq!(n.normalise(&item(html, BodyKind::Html)).clean_text, "So said the Prime Minister");
        let html = "<p>He thanked his fans in a post on <a href=\"/x\">Read more</a></p>";
        assert_eq!(n.normalise(&item(html, BodyKind::Html)).clean_text, "He thanked his fans in a post on Read more");
    }

    #[test]
    fn a_template_removes_short_lines_anywhere_and_long_ones_at_the_edges() {
        let n = normaliser();
        let long = "Bu kanal yalnızca bilgilendirme amaçlıdır ve tüm haberler orijinal yayıncılarına aittir, \
                    lütfen kaynakları ziyaret edin.";
        let body = format!("Reklam\nİlk paragraf burada başlıyor ve devam ediyor.\n{long}\nİkinci paragraf.\n{long}");
        let analysis = n.analyse(None, &item(&body, BodyKind::Text));
        let template = Template::new([analysis.lines[0].shape.key, analysis.lines[2].shape.key]);
        let clean = Normaliser::finish(&analysis, &template);
        assert_eq!(
            clean.clean_text,
            format!("İlk paragraf burada başlıyor ve devam ediyor.\n{long}\nİkinci paragraf.")
        );
        assert_eq!(rules_of(&clean), [(0, TEMPLATE_RULE), (4, TEMPLATE_RULE)]);
    }

    #[test]
    fn another_feed_s_template_goes_only_at_the_edges() {
        let n = normaliser();
        let body =
            "Il governo ha approvato la riforma.\nQuesto video è solo informativo.\nIl voto è previsto a marzo.\n\
                    Questo video è solo informativo.\n#notizie #politica";
        let analysis = n.analyse(None, &item(body, BodyKind::Text));
        let template = Template::default().with_foreign([analysis.lines[1].shape.key]);
        let clean = Normaliser::finish(&analysis, &template);
        assert_eq!(
            clean.clean_text,
            "Il governo ha approvato la riforma.\nQuesto video è solo informativo.\nIl voto è previsto a marzo."
        );
        assert_eq!(rules_of(&clean), [(3, FOREIGN_TEMPLATE_RULE), (4, "edge.hashtags")]);
    }

    #[test]
    fn a_line_common_to_many_feeds_goes_anywhere() {
        let n = normaliser();
        let body = "Hükümet reformu onayladı.\nREKLAM ALANI\nOylama martta yapılacak.";
        let analysis = n.analyse(None, &item(body, BodyKind::Text));
        let template = Template::default().with_common([analysis.lines[1].shape.key]);
        let clean = Normaliser::finish(&analysis, &template);
        assert_eq!(clean.clean_text, "Hükümet reformu onayladı.\nOylama martta yapılacak.");
        assert_eq!(rules_of(&clean), [(1, COMMON_RULE)]);
        // The counts that make a line common: many stories in each of several feeds.
        assert!(learn::is_common(3, 24));
        assert!(!learn::is_common(20, 20), "a line of one story reposted by twenty feeds");
        assert!(!learn::is_common(2, 40));
    }

    #[test]
    fn titles_listed_under_a_heading_that_goes_go_with_it() {
        let n = normaliser();
        // An Italian blog: the story, a heading the feed repeats (learned), plain-text titles
        // of other stories under it, and a call to subscribe.
        let body = "Il governo ha approvato la riforma delle pensioni.\n\
                    Il voto finale è previsto a marzo.\n\
                    Da non perdere sul blog\n\
                    Sciopero dei treni lunedì in tutta Italia\n\
                    Il prezzo del pane aumenta ancora\n\
                    Please subscribe";
        let analysis = n.analyse(None, &item(body, BodyKind::Text));
        let template = Template::new([analysis.lines[2].shape.key]);
        let clean = Normaliser::finish(&analysis, &template);
        assert_eq!(
            clean.clean_text,
            "Il governo ha approvato la riforma delle pensioni.\nIl voto finale è previsto a marzo."
        );
        assert_eq!(rules_of(&clean), [(2, TEMPLATE_RULE), (3, LISTED_RULE), (4, LISTED_RULE), (5, "t.subscribe")]);
        // Without the heading the titles are the story's own short lines.
        let body = body.replace("Da non perdere sul blog\n", "");
        let clean = Normaliser::finish(&n.analyse(None, &item(&body, BodyKind::Text)), &template);
        assert_eq!(rules_of(&clean), [(4, "t.subscribe")]);
        // A label alone is no heading: the story's own list under it stays.
        let body = "Cup draw made.\nFixtures:\nArsenal v Stoke\nChelsea v Birmingham\nPlease subscribe";
        let clean = n.normalise(&item(body, BodyKind::Text));
        assert_eq!(clean.clean_text, "Cup draw made.\nFixtures:\nArsenal v Stoke\nChelsea v Birmingham");
    }

    #[test]
    fn a_title_listed_between_two_lines_that_go_goes_in_the_middle() {
        let n = normaliser();
        let body = "First paragraph of the story.\nMehr aus der Redaktion\nStreik bei der Bahn am Montag\n\
                    Please subscribe!\nSecond paragraph of the story.";
        let analysis = n.analyse(None, &item(body, BodyKind::Text));
        let template = Template::new([analysis.lines[1].shape.key]);
        let clean = Normaliser::finish(&analysis, &template);
        assert_eq!(clean.clean_text, "First paragraph of the story.\nSecond paragraph of the story.");
        assert_eq!(rules_of(&clean), [(1, TEMPLATE_RULE), (2, LISTED_RULE), (3, "t.subscribe")]);
        // Followed by the story, the same title stays.
        let body = body.replace("Please subscribe!\n", "");
        let clean = Normaliser::finish(&n.analyse(None, &item(&body, BodyKind::Text)), &template);
        assert_eq!(rules_of(&clean), [(1, TEMPLATE_RULE)]);
    }

    #[test]
    fn another_item_s_title_at_the_tail_is_a_link_to_it() {
        let n = normaliser();
        let body =
            "Rates stay at 4.75%, the bank said.\nBank opts to leave rates on hold\nHouse prices dip in November";
        let analysis = n.analyse(None, &item(body, BodyKind::Text));
        let template =
            Template::default().with_titles(["Bank opts to leave rates on hold", "House prices dip in November"]);
        let clean = Normaliser::finish(&analysis, &template);
        assert_eq!(clean.clean_text, "Rates stay at 4.75%, the bank said.");
        assert_eq!(rules_of(&clean), [(1, OTHER_TITLE_RULE), (2, OTHER_TITLE_RULE)]);
        // In the middle it stays; the item's own title is no other item's.
        let body = "Bank opts to leave rates on hold\nRates stay at 4.75%, the bank said.\nSomething happened";
        let analysis = n.analyse(None, &item(body, BodyKind::Text));
        let template = Template::default().with_titles(["Bank opts to leave rates on hold", "Something happened"]);
        let clean = Normaliser::finish(&analysis, &template);
        assert!(clean.removed.is_empty(), "{:?}", clean.removed);
    }

    #[test]
    fn a_learned_frame_goes_at_the_tail_and_stays_in_the_middle() {
        let n = normaliser();
        let body = "Kategorie: Wirtschaft | Schlagwörter: Inflation\nDie Preise steigen weiter.\n\
                    Die Regierung plant Entlastungen.\nKategorie: Politik | Schlagwörter: Wahl, Bundestag";
        let analysis = n.analyse(None, &item(body, BodyKind::Text));
        // The feed's footer frame, learned from footers with other words in them.
        let learned = n.analyse(None, &item("Kategorie: Sport | Schlagwörter: Fußball", BodyKind::Text));
        let template = Template::new(learned.lines[0].frames.keys().iter().copied());
        assert_ne!(learned.lines[0].shape.key, analysis.lines[3].shape.key);
        let clean = Normaliser::finish(&analysis, &template);
        assert_eq!(rules_of(&clean), [(0, FRAME_TEMPLATE_RULE), (3, FRAME_TEMPLATE_RULE)]);
        let body =
            "Die Preise steigen weiter.\nKategorie: Politik | Schlagwörter: Wahl\nDie Regierung plant Entlastungen.";
        let clean = Normaliser::finish(&n.analyse(None, &item(body, BodyKind::Text)), &template);
        assert!(clean.removed.is_empty(), "{:?}", clean.removed);
    }

    #[test]
    fn the_phrase_after_the_last_ellipsis() {
        // As first written, with `rfind` for both kinds of ellipsis.
        let reference = |text: &str| {
            let (pos, len) = [text.rfind('…').map(|p| (p, '…'.len_utf8())), text.rfind("...").map(|p| (p, 3))]
                .into_iter()
                .flatten()
                .max_by_key(|(p, _)| *p)?;
            let rest = &text[pos + len..];
            (!rest.trim().is_empty()).then(|| pos + len + (rest.len() - rest.trim_start().len()))
        };
        for text in [
            "It ended... Read more",
            "It ended.... Read more",
            "It… went on... and on… More",
            "It went on…... More",
            "Nothing after...",
            "Nothing after …  ",
            "No ellipsis. More",
            "..x",
            "...x",
            "",
        ] {
            assert_eq!(after_final_ellipsis(text), reference(text), "{text}");
        }
        assert_eq!(after_final_ellipsis("It ended.... Read more"), Some(13));
    }

    #[test]
    fn looks_alone_never_empty_an_item() {
        let clean = normaliser().normalise(&item("Twitter: https://twitter.com/example", BodyKind::Text));
        assert_eq!(clean.clean_text, "Twitter: https://twitter.com/example");
        assert!(clean.removed.is_empty());
    }
}
