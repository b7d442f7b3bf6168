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
//!    whatever the language, compared by [shape](shape);
//! 3. edges ([`edge`]): at the head and the tail of an item, a block of lines that look like
//!    boilerplate (link lists, contact lines, hashtag and keyword walls, banners) is cut, while
//!    the same line in the middle of the story stays; a "Read more" link ending the last
//!    paragraph goes without the paragraph.
//!
//! It is plain synchronous code. [`Normaliser::analyse`] does the expensive part once per item
//! (parsing, folding, rule matching, shapes); [`Normaliser::finish`] applies a feed's learned
//! [`Template`] to an analysis and is cheap, so the template can be decided after a whole
//! batch has been seen. Fetching, fingerprints, learning's storage and the dedup belong to
//! other crates.
//!
//! [`RawItem`]: newsdedup_model::RawItem
//! [`CleanItem`]: newsdedup_model::CleanItem

pub mod edge;
pub mod fold;
pub mod html;
pub mod learn;
pub mod link;
pub mod rules;
pub mod shape;
pub mod title;

use edge::EdgeKind;
pub use learn::{FeedStats, LearnSettings, LineStat, Template};
use newsdedup_model::{BodyKind, CleanItem, RawItem, RemovedLine};
pub use rules::{Place, Rule, RuleError, RuleSet};
use shape::Shape;
use std::collections::HashMap;

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
    pub rule: Option<RuleHit>,
    pub edge: EdgeKind,
    pub tail: Option<TailPhrase>,
}

/// An item after the expensive work, before its feed's template is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Analysis {
    pub lines: Vec<AnalysedLine>,
    pub clean_title: String,
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

    /// The distinct learnable shape keys of the item.
    pub fn shape_keys(&self) -> impl Iterator<Item = u64> {
        self.learnable_shapes().into_iter().map(|(s, _)| s.key)
    }

    /// True when any line (or trailing phrase) of the item is in `template` (its own feed's
    /// or another's).
    pub fn touches(&self, template: &Template) -> bool {
        let hit = |k: u64| template.contains(k) || template.is_foreign(k) || template.is_common(k);
        !template.is_empty()
            && self.lines.iter().any(|l| hit(l.shape.key) || l.tail.as_ref().is_some_and(|t| hit(t.shape.key)))
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
        let lines = body_lines(&item.body, item.body_kind)
            .into_iter()
            .map(|line| {
                let folded = fold::fold_line(&line.text);
                let shape = shape::shape_of(&folded, &folded_title);
                let rule = self.rule_for(feed_rules, &folded);
                let edge = if self.layers.edges { edge::classify(&line, &folded) } else { EdgeKind::Content };
                let tail = self.tail_phrase(feed_rules, &line, &folded_title);
                AnalysedLine { text: line.text, folded, shape, rule, edge, tail }
            })
            .collect();
        Analysis { lines, clean_title, canonical_link: item.link.as_deref().map(link::canonical_link) }
    }

    /// A phrase ending the line that could be boilerplate on its own: a trailing link after
    /// other text, or a few words after a final ellipsis.
    fn tail_phrase(&self, feed_rules: Option<&RuleSet>, line: &html::Line, folded_title: &str) -> Option<TailPhrase> {
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
            shape: shape::shape_of(&folded, folded_title),
            rule: self.rule_for(feed_rules, &folded),
            after_ellipsis: is_link && ends_cut && words <= 4,
        })
    }

    /// Applies the layers and the feed's learned `template` to an analysis. Everything the
    /// rules had to say is in the analysis already, so this needs no normaliser.
    pub fn finish(analysis: &Analysis, template: &Template) -> CleanItem {
        let lines = &analysis.lines;
        let mut marks: Vec<Mark> = lines
            .iter()
            .map(|l| match &l.rule {
                Some(RuleHit { place: Place::Any, .. }) => Mark::Rule,
                _ if l.shape.learnable && template.contains(l.shape.key) => {
                    Mark::Template { short: l.shape.words <= MAX_TEMPLATE_WORDS_INSIDE }
                }
                Some(RuleHit { place, .. }) => Mark::RuleAtEdge(*place),
                None if l.shape.learnable
                    && l.shape.words <= learn::COMMON_LINE_WORDS
                    && template.is_common(l.shape.key) =>
                {
                    Mark::Common
                }
                None if l.shape.learnable
                    && l.shape.words <= MAX_TEMPLATE_WORDS_INSIDE
                    && template.is_foreign(l.shape.key) =>
                {
                    Mark::Foreign
                }
                None => Mark::Edge(l.edge),
            })
            .collect();
        let in_block = |m: &Mark, end: Place| match m {
            Mark::Rule | Mark::Template { .. } | Mark::Foreign | Mark::Common => true,
            Mark::RuleAtEdge(p) => *p == end,
            Mark::Edge(k) => !k.is_content(),
        };
        // A block goes only if it holds something more than weak looks.
        let anchors_block = |m: &Mark| !matches!(m, Mark::Edge(EdgeKind::Weak(_) | EdgeKind::Content));

        let n = lines.len();
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
        let mut tail_start = n - marks[head_len..].iter().rev().take_while(|m| in_block(m, Place::Tail)).count();
        if !marks[tail_start..].iter().any(anchors_block) {
            tail_start = n;
        }

        let mut kept: Vec<usize> = Vec::with_capacity(n);
        let mut removed: Vec<RemovedLine> = Vec::new();
        let mut edge_only: Vec<usize> = Vec::new();
        for (i, (line, mark)) in lines.iter().zip(&marks).enumerate() {
            let at_edge = i < head_len || i >= tail_start;
            let goes = match mark {
                Mark::Rule | Mark::Template { short: true } | Mark::Common => true,
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
                Mark::Common => COMMON_RULE,
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

        let mut texts: Vec<String> = kept.iter().map(|&i| lines[i].text.clone()).collect();
        let mut folded: Vec<String> = kept.iter().map(|&i| lines[i].folded.clone()).collect();
        // A first line that only repeats the title (Telegram posts open with the headline in
        // bold) is the title, not the story's text.
        if texts.len() > 1
            && !analysis.clean_title.is_empty()
            && fold::fold_line(&title::clean_title(&texts[0])) == fold::fold_line(&analysis.clean_title)
        {
            let line = texts.remove(0);
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
                    text.truncate(tail.at);
                    text.truncate(text.trim_end().len());
                    *last_folded = fold::fold_line(text);
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

/// The byte offset just after a final ellipsis ("…" or "...") followed by a few words.
fn after_final_ellipsis(text: &str) -> Option<usize> {
    let (pos, len) = [text.rfind('…').map(|p| (p, '…'.len_utf8())), text.rfind("...").map(|p| (p, 3))]
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
    fn looks_alone_never_empty_an_item() {
        let clean = normaliser().normalise(&item("Twitter: https://twitter.com/example", BodyKind::Text));
        assert_eq!(clean.clean_text, "Twitter: https://twitter.com/example");
        assert!(clean.removed.is_empty());
    }
}
