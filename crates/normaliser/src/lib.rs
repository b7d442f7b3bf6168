//! Raw items to clean items.
//!
//! This crate owns the decision of what an item's text is: its body as readable lines
//! ([`html`]), the boilerplate a reposter wrapped around it removed by rule packs ([`rules`]),
//! the folded form that comparisons use ([`fold`]), a title without decoration ([`title`]) and
//! a canonical link ([`link`]). It is plain synchronous code: one [`RawItem`] in, one
//! [`CleanItem`] out. Fetching, fingerprints and storage belong to other crates.
//!
//! [`RawItem`]: newsdedup_model::RawItem
//! [`CleanItem`]: newsdedup_model::CleanItem

pub mod fold;
pub mod html;
pub mod link;
pub mod rules;
pub mod title;

use newsdedup_model::{BodyKind, CleanItem, RawItem, RemovedLine};
pub use rules::{Place, Rule, RuleError, RuleSet};

/// The rule id recorded when a body's first line repeats the title.
pub const TITLE_REPEAT_RULE: &str = "builtin.title-repeat";

/// Cleans items with a fixed set of rules.
#[derive(Debug, Clone, Default)]
pub struct Normaliser {
    rules: RuleSet,
}

impl Normaliser {
    pub fn new(rules: RuleSet) -> Normaliser {
        Normaliser { rules }
    }

    pub fn rules(&self) -> &RuleSet {
        &self.rules
    }

    /// Cleans one item.
    pub fn normalise(&self, item: &RawItem) -> CleanItem {
        let lines = body_lines(&item.body, item.body_kind);
        let clean_title = item.title.as_deref().map(title::clean_title).unwrap_or_default();
        let (mut kept, mut removed) = self.remove_boilerplate(lines);
        // A first line that only repeats the title (Telegram posts open with the headline in
        // bold) is the title, not the story's text.
        if kept.len() > 1
            && !clean_title.is_empty()
            && fold::fold_line(&title::clean_title(&kept[0])) == fold::fold_line(&clean_title)
        {
            let line = kept.remove(0);
            let position = (0..).find(|p| !removed.iter().any(|r: &RemovedLine| r.position == *p)).unwrap_or(0);
            removed.push(RemovedLine { position, line, rule: TITLE_REPEAT_RULE.to_string() });
            removed.sort_by_key(|r| r.position);
        }
        let clean_text = kept.join("\n");
        let folded_text = fold::fold(&clean_text);
        CleanItem {
            clean_title,
            clean_text,
            folded_text,
            removed,
            canonical_link: item.link.as_deref().map(link::canonical_link),
        }
    }

    /// Splits `lines` into the ones kept and the ones a rule removed.
    ///
    /// A line matched by an `any` rule goes wherever it is. A line matched by a `head` or
    /// `tail` rule goes only when it lies in the leading or trailing block: the longest run of
    /// lines from that end that all match a rule allowed there.
    pub fn remove_boilerplate(&self, lines: Vec<String>) -> (Vec<String>, Vec<RemovedLine>) {
        let matches: Vec<Option<&Rule>> = lines.iter().map(|l| self.rules.first_match(&fold::fold_line(l))).collect();
        let allowed_at = |m: &Option<&Rule>, end: Place| m.is_some_and(|r| r.place == Place::Any || r.place == end);
        let head_len = matches.iter().take_while(|m| allowed_at(m, Place::Head)).count();
        let tail_len = matches.iter().rev().take_while(|m| allowed_at(m, Place::Tail)).count();
        let tail_start = lines.len() - tail_len;
        let mut kept = Vec::with_capacity(lines.len());
        let mut removed = Vec::new();
        for (i, (line, m)) in lines.into_iter().zip(matches).enumerate() {
            let fires = m.filter(|r| match r.place {
                Place::Any => true,
                Place::Head => i < head_len,
                Place::Tail => i >= tail_start,
            });
            match fires {
                Some(rule) => removed.push(RemovedLine { position: i as u32, line, rule: rule.id.clone() }),
                None => kept.push(line),
            }
        }
        (kept, removed)
    }
}

/// The body's lines, before any removal.
pub fn body_lines(body: &str, kind: BodyKind) -> Vec<String> {
    match kind {
        BodyKind::Html => html::html_to_lines(body),
        BodyKind::Text => html::text_to_lines(body),
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

    #[test]
    fn tail_rules_fire_only_in_the_trailing_block() {
        let n = Normaliser::new(RuleSet::from_packs([("t", PACK)]).unwrap());
        let body = "Source: officials said the plan was new.\nThe article goes on.\nPlease subscribe\nSource: BBC";
        let clean = n.normalise(&item(body, BodyKind::Text));
        assert_eq!(clean.clean_text, "Source: officials said the plan was new.\nThe article goes on.");
        let rules: Vec<(u32, &str)> = clean.removed.iter().map(|r| (r.position, r.rule.as_str())).collect();
        assert_eq!(rules, [(2, "t.subscribe"), (3, "t.source")]);
        assert_eq!(clean.clean_title, "Something happened");
        assert_eq!(clean.canonical_link.as_deref(), Some("https://example.org/a"));
    }

    #[test]
    fn a_leading_line_repeating_the_title_is_removed() {
        let n = Normaliser::new(RuleSet::from_packs([("t", PACK)]).unwrap());
        let clean =
            n.normalise(&item("<b>Something happened</b><br><br>It did, today.<br>Please subscribe", BodyKind::Html));
        assert_eq!(clean.clean_text, "It did, today.");
        let rules: Vec<(u32, &str)> = clean.removed.iter().map(|r| (r.position, r.rule.as_str())).collect();
        assert_eq!(rules, [(0, TITLE_REPEAT_RULE), (2, "t.subscribe")]);
        // A body that is only the title keeps it.
        assert_eq!(n.normalise(&item("Something happened", BodyKind::Text)).clean_text, "Something happened");
    }

    #[test]
    fn any_rules_fire_in_the_middle() {
        let n = Normaliser::new(RuleSet::from_packs([("t", PACK)]).unwrap());
        let clean = n.normalise(&item("<p>One.</p><p>Please subscribe!</p><p>Two.</p>", BodyKind::Html));
        assert_eq!(clean.clean_text, "One.\nTwo.");
        assert_eq!(clean.folded_text, "one.\ntwo.");
    }
}
