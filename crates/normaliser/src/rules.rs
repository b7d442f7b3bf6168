//! Boilerplate rule packs: data files of patterns, each with an id, a place and a comment.
//!
//! A pack is a TOML file (see `config/boilerplate/README.md` for the syntax):
//!
//! ```toml
//! language = "en"
//!
//! [[rule]]
//! id = "en.cta.subscribe"
//! where = "any"            # any | head | tail
//! pattern = '^please subscribe\b'
//! comment = "A call to subscribe to the channel."
//! ```
//!
//! Patterns are regular expressions (Rust `regex` syntax) matched case-insensitively against
//! the *folded* line (see [`crate::fold`]): lowercase, quotes straight, dashes `-`, spaces
//! single, look-alike letters folded. A rule with `where = "any"` removes a matching line
//! anywhere; `head` only within the leading block of the item and `tail` only within the
//! trailing block, where a block is a run of lines that all match some rule allowed there. That
//! keeps a rule such as "Source: …" from removing a sentence in the middle of an article.

use regex::{Regex, RegexSet, RegexSetBuilder};
use serde::Deserialize;
use std::collections::HashSet;

/// Where in an item a rule may remove lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Place {
    Any,
    Head,
    Tail,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PackFile {
    /// The language the pack covers, informational (a BCP 47 tag such as `en`).
    #[serde(default)]
    #[allow(dead_code)]
    language: Option<String>,
    /// What the pack is for, informational.
    #[serde(default)]
    #[allow(dead_code)]
    description: Option<String>,
    #[serde(default, rename = "rule")]
    rules: Vec<RuleFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    id: String,
    #[serde(rename = "where")]
    place: Place,
    pattern: String,
    comment: String,
}

/// One compiled rule.
#[derive(Debug, Clone)]
pub struct Rule {
    pub id: String,
    pub place: Place,
    pub pattern: Regex,
    pub comment: String,
}

/// Why a rule pack could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    #[error("rule pack {pack}: line {line}: {message}")]
    Syntax { pack: String, line: usize, message: String },
    #[error("rule pack {pack}: rule {id}: invalid pattern: {source}")]
    Pattern {
        pack: String,
        id: String,
        #[source]
        source: regex::Error,
    },
    #[error("rule pack {pack}: rule id {id:?} is used twice")]
    DuplicateId { pack: String, id: String },
    #[error("rule pack {pack}: rule id {id:?} must be non-empty and made of letters, digits, '.', '-' and '_'")]
    BadId { pack: String, id: String },
}

/// All rules of the loaded packs, ready to match lines.
#[derive(Debug, Clone)]
pub struct RuleSet {
    rules: Vec<Rule>,
    set: RegexSet,
}

impl Default for RuleSet {
    fn default() -> Self {
        RuleSet { rules: Vec::new(), set: RegexSet::empty() }
    }
}

impl RuleSet {
    /// Compiles packs given as `(name, TOML text)`. The name is used in error messages only.
    pub fn from_packs<'a>(packs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<RuleSet, RuleError> {
        let mut rules = Vec::new();
        let mut ids = HashSet::new();
        for (pack, text) in packs {
            let file: PackFile = toml::from_str(text).map_err(|e: toml::de::Error| RuleError::Syntax {
                pack: pack.to_string(),
                line: e.span().map_or(0, |s| text[..s.start.min(text.len())].matches('\n').count() + 1),
                message: e.message().to_string(),
            })?;
            for r in file.rules {
                if r.id.is_empty() || !r.id.chars().all(|c| c.is_alphanumeric() || matches!(c, '.' | '-' | '_')) {
                    return Err(RuleError::BadId { pack: pack.to_string(), id: r.id });
                }
                if !ids.insert(r.id.clone()) {
                    return Err(RuleError::DuplicateId { pack: pack.to_string(), id: r.id });
                }
                let pattern = case_insensitive(&r.pattern);
                let regex = Regex::new(&pattern).map_err(|source| RuleError::Pattern {
                    pack: pack.to_string(),
                    id: r.id.clone(),
                    source,
                })?;
                rules.push(Rule { id: r.id, place: r.place, pattern: regex, comment: r.comment });
            }
        }
        let set = RegexSetBuilder::new(rules.iter().map(|r| r.pattern.as_str()))
            .size_limit(64 << 20)
            .build()
            .expect("every pattern compiled on its own");
        Ok(RuleSet { rules, set })
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The first rule (in pack order) that matches the folded line.
    pub fn first_match(&self, folded_line: &str) -> Option<&Rule> {
        self.set.matches(folded_line).iter().next().map(|i| &self.rules[i])
    }
}

fn case_insensitive(pattern: &str) -> String {
    format!("(?i:{pattern})")
}

#[cfg(test)]
mod tests {
    use super::*;

    const PACK: &str = r#"
language = "en"
[[rule]]
id = "en.cta.subscribe"
where = "any"
pattern = '^please subscribe\b'
comment = "call to subscribe"
[[rule]]
id = "en.source"
where = "tail"
pattern = '^source: '
comment = "source line"
"#;

    #[test]
    fn packs_compile_and_match_in_order() {
        let set = RuleSet::from_packs([("en", PACK)]).unwrap();
        assert_eq!(set.len(), 2);
        assert_eq!(set.first_match("please subscribe to my channel.").unwrap().id, "en.cta.subscribe");
        assert_eq!(set.first_match("PLEASE SUBSCRIBE").unwrap().id, "en.cta.subscribe");
        assert_eq!(set.first_match("source: bbc").unwrap().place, Place::Tail);
        assert!(set.first_match("the minister said").is_none());
    }

    #[test]
    fn bad_packs_are_named_errors() {
        let dup = format!("{PACK}\n[[rule]]\nid = \"en.source\"\nwhere = \"any\"\npattern = 'x'\ncomment = \"c\"\n");
        assert!(matches!(RuleSet::from_packs([("en", dup.as_str())]), Err(RuleError::DuplicateId { .. })));
        let bad_re = "[[rule]]\nid = \"x\"\nwhere = \"any\"\npattern = '(unclosed'\ncomment = \"c\"\n";
        assert!(matches!(RuleSet::from_packs([("x", bad_re)]), Err(RuleError::Pattern { .. })));
        let bad_place = "[[rule]]\nid = \"x\"\nwhere = \"middle\"\npattern = 'x'\ncomment = \"c\"\n";
        assert!(matches!(RuleSet::from_packs([("x", bad_place)]), Err(RuleError::Syntax { .. })));
        let unknown = "[[rule]]\nid = \"x\"\nwhere = \"any\"\npattern = 'x'\ncomment = \"c\"\ncolour = 1\n";
        assert!(matches!(RuleSet::from_packs([("x", unknown)]), Err(RuleError::Syntax { .. })));
    }
}
