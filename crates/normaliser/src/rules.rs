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

use crate::literals;
use aho_corasick::{AhoCorasick, MatchKind};
use regex::Regex;
use regex_automata::hybrid::dfa as lazy;
use regex_automata::nfa::thompson::pikevm::{self, PikeVM};
use regex_automata::nfa::thompson::{self, WhichCaptures};
use regex_automata::util::pool::Pool;
use regex_automata::Input;
use regex_syntax::hir::{Class, Hir, HirKind};
use serde::Deserialize;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock};

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
    rules: Vec<RuleSpec>,
}

/// One rule as written in a pack (or inline in a config file), before compiling.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    pub id: String,
    #[serde(rename = "where")]
    pub place: Place,
    pub pattern: String,
    pub comment: String,
}

/// One rule, ready to match.
///
/// Its exact pattern is compiled the first time the prefilter (see [`RuleSet`]) names it as a
/// candidate: most rules never fire in a run, and compiling a few hundred Unicode patterns up
/// front would cost every short-lived `run --once` a good part of a second. Pattern syntax is
/// checked when the rule is loaded.
#[derive(Debug, Clone)]
pub struct Rule {
    pub id: String,
    pub place: Place,
    /// The pattern as compiled: the pack's pattern made case-insensitive.
    pub pattern: String,
    pub comment: String,
    exact: OnceLock<Option<Arc<Matcher>>>,
}

impl Rule {
    /// True when the rule's exact pattern matches. Should the pattern fail to compile (it
    /// parsed when loaded, and one large enough to risk the size limit was compiled then), it
    /// matches nothing: a rule that cannot be checked removes no line.
    fn is_match(&self, folded_line: &str) -> bool {
        let exact = self.exact.get_or_init(|| Matcher::new(&self.pattern).map(Arc::new));
        exact.as_ref().is_some_and(|m| m.is_match(folded_line))
    }
}

/// Most heap a rule's automaton may take.
const NFA_SIZE_LIMIT: usize = 64 << 20;

/// Patterns whose [`expanded_size`] is above this are compiled when loaded (see
/// [`RuleSet::build`]). Every built-in pattern is well below it: the largest is about 5,000.
const EAGER_COMPILE_SIZE: u64 = 200_000;

/// A rough measure of the automaton a pattern compiles to: each literal byte and class range
/// counts one, and a bounded repetition multiplies its body by its upper bound.
fn expanded_size(hir: &Hir) -> u64 {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => 1,
        HirKind::Literal(literal) => literal.0.len() as u64,
        HirKind::Class(Class::Unicode(class)) => class.ranges().len() as u64,
        HirKind::Class(Class::Bytes(class)) => class.ranges().len() as u64,
        HirKind::Repetition(r) => expanded_size(&r.sub).saturating_mul(u64::from(r.max.unwrap_or(r.min).max(1))),
        HirKind::Capture(c) => expanded_size(&c.sub),
        HirKind::Concat(parts) | HirKind::Alternation(parts) => {
            parts.iter().map(expanded_size).fold(0, u64::saturating_add)
        }
    }
}

/// A pattern compiled to answer one question: does it match the line somewhere.
///
/// A general regex also finds where a match starts and where its groups are, which takes a
/// second automaton run backwards and scratch space for every group; here neither is built.
/// A lazy DFA runs forwards and stops at the first match. It gives up on a line it cannot
/// handle (a Unicode word boundary next to a non-ASCII letter, or a pattern whose states
/// keep overflowing its cache), and a PikeVM over the same automaton answers instead; a
/// pattern too large for the lazy DFA's cache has the PikeVM alone. With `.{0,400}` in many
/// built-in patterns the automata are large: ingesting the dev corpus peaked at about 55 MiB
/// less RSS this way than with `regex::Regex`, at the same speed.
struct Matcher {
    /// None when the lazy DFA cannot be built (a pattern too large for its cache).
    dfa: Option<lazy::DFA>,
    pikevm: PikeVM,
    /// Scratch space, one per thread using the pattern at a time.
    scratch: Pool<Scratch, Box<dyn Fn() -> Scratch + Send + Sync + std::panic::RefUnwindSafe + std::panic::UnwindSafe>>,
}

struct Scratch {
    dfa: Option<lazy::Cache>,
    /// Made the first time the lazy DFA gives up on a line.
    pikevm: Option<pikevm::Cache>,
}

impl Matcher {
    fn new(pattern: &str) -> Option<Matcher> {
        let nfa = thompson::Compiler::new()
            .configure(thompson::Config::new().which_captures(WhichCaptures::None).nfa_size_limit(Some(NFA_SIZE_LIMIT)))
            .build(pattern)
            .ok()?;
        let dfa = lazy::Builder::new()
            .configure(
                lazy::Config::new()
                    .unicode_word_boundary(true)
                    .minimum_cache_clear_count(Some(3))
                    .minimum_bytes_per_state(Some(10)),
            )
            .build_from_nfa(nfa.clone())
            .ok();
        let pikevm = PikeVM::new_from_nfa(nfa).ok()?;
        let for_scratch = dfa.clone();
        let scratch =
            Pool::new(
                Box::new(move || Scratch { dfa: for_scratch.as_ref().map(lazy::DFA::create_cache), pikevm: None })
                    as Box<_>,
            );
        Some(Matcher { dfa, pikevm, scratch })
    }

    fn is_match(&self, line: &str) -> bool {
        let mut scratch = self.scratch.get();
        let scratch = &mut *scratch;
        let input = Input::new(line).earliest(true);
        if let (Some(dfa), Some(cache)) = (&self.dfa, &mut scratch.dfa) {
            if let Ok(found) = dfa.try_search_fwd(cache, &input) {
                return found.is_some();
            }
        }
        let pikevm = scratch.pikevm.get_or_insert_with(|| self.pikevm.create_cache());
        self.pikevm.is_match(pikevm, input)
    }
}

impl std::fmt::Debug for Matcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Matcher").field("states", &self.pikevm.get_nfa().states().len()).finish()
    }
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
    #[error(
        "rule pack {pack}: rule {id}: the pattern is too large to compile (its repetitions multiply into more \
         than {} MiB of automaton); bound them more tightly",
        NFA_SIZE_LIMIT >> 20
    )]
    TooLarge { pack: String, id: String },
    #[error("the rule packs together are too large to compile: {message}")]
    Set { message: String },
    #[error("rule pack {pack}: rule id {id:?} is used twice")]
    DuplicateId { pack: String, id: String },
    #[error("rule pack {pack}: rule id {id:?} must be non-empty and made of letters, digits, '.', '-' and '_'")]
    BadId { pack: String, id: String },
}

/// All rules of the loaded packs, ready to match lines.
///
/// Matching runs in two steps, for speed: one Aho-Corasick pass over the line finds the
/// literals the rules require (see [`crate::literals`]), which names the candidate rules; then
/// each candidate's exact pattern confirms, in pack order. A rule that requires no literal is a
/// candidate on every line. Every match of a rule contains one of its literals, so the first
/// step never misses a rule; it leaves a line that names none of the words the packs look for
/// (most lines of an article) without running a single pattern.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    rules: Vec<Rule>,
    prefilter: Prefilter,
}

/// The first step of [`RuleSet::first_match`].
#[derive(Debug, Clone, Default)]
struct Prefilter {
    /// Every required literal of every rule (`None` when no rule requires one).
    literals: Option<AhoCorasick>,
    /// For each literal, the rules (indexes into `rules`) that require it.
    rules_of: Vec<Vec<u32>>,
    /// Rules that require no literal: candidates on every line.
    always: Vec<u32>,
}

impl Prefilter {
    /// From each rule's required literals, in rule order (`None`: the rule requires none).
    fn new(required_by_rule: Vec<Option<Vec<Vec<u8>>>>) -> Result<Prefilter, RuleError> {
        let mut index: HashMap<Vec<u8>, usize> = HashMap::new();
        let mut literals: Vec<Vec<u8>> = Vec::new();
        let mut rules_of: Vec<Vec<u32>> = Vec::new();
        let mut always = Vec::new();
        for (i, required) in required_by_rule.into_iter().enumerate() {
            let i = u32::try_from(i).map_err(|_| RuleError::Set { message: "too many rules".into() })?;
            let Some(required) = required else {
                always.push(i);
                continue;
            };
            for literal in required {
                let n = *index.entry(literal.clone()).or_insert_with(|| {
                    literals.push(literal);
                    rules_of.push(Vec::new());
                    literals.len() - 1
                });
                rules_of[n].push(i);
            }
        }
        let literals = if literals.is_empty() {
            None
        } else {
            Some(
                AhoCorasick::builder()
                    .match_kind(MatchKind::Standard)
                    .build(&literals)
                    .map_err(|e| RuleError::Set { message: e.to_string() })?,
            )
        };
        Ok(Prefilter { literals, rules_of, always })
    }

    /// Marks in `candidates` (one bit per rule) the rules that may match `line`.
    fn candidates(&self, line: &str, candidates: &mut [u64]) {
        for &i in &self.always {
            candidates[i as usize / 64] |= 1 << (i % 64);
        }
        if let Some(literals) = &self.literals {
            for m in literals.find_overlapping_iter(line) {
                for &i in &self.rules_of[m.pattern().as_usize()] {
                    candidates[i as usize / 64] |= 1 << (i % 64);
                }
            }
        }
    }
}

/// The longest line (in characters) rules are tried on. Boilerplate a rule can name is a
/// line or two of a footer; every built-in pattern is bounded well below this. Longer lines
/// are left to the learned templates and the edge layer (keyword and hashtag walls).
pub const MAX_RULE_LINE_CHARS: usize = 700;

impl RuleSet {
    /// Compiles packs given as `(name, TOML text)`. The name is used in error messages only.
    pub fn from_packs<'a>(packs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<RuleSet, RuleError> {
        RuleSet::build(packs, std::iter::empty())
    }

    /// Compiles packs given as `(name, TOML text)`, then single rules given as `(source name,
    /// rule)` (rules written inline in a config file). Ids must be unique across all of them.
    pub fn build<'a>(
        packs: impl IntoIterator<Item = (&'a str, &'a str)>,
        extra: impl IntoIterator<Item = (&'a str, RuleSpec)>,
    ) -> Result<RuleSet, RuleError> {
        let mut specs: Vec<(String, RuleSpec)> = Vec::new();
        for (pack, text) in packs {
            let file: PackFile = toml::from_str(text).map_err(|e: toml::de::Error| RuleError::Syntax {
                pack: pack.to_string(),
                line: e.span().map_or(0, |s| text[..s.start.min(text.len())].matches('\n').count() + 1),
                message: e.message().to_string(),
            })?;
            specs.extend(file.rules.into_iter().map(|r| (pack.to_string(), r)));
        }
        specs.extend(extra.into_iter().map(|(source, r)| (source.to_string(), r)));
        let mut rules = Vec::new();
        let mut required = Vec::new();
        let mut ids = HashSet::new();
        for (pack, r) in specs {
            if r.id.is_empty() || !r.id.chars().all(|c| c.is_alphanumeric() || matches!(c, '.' | '-' | '_')) {
                return Err(RuleError::BadId { pack, id: r.id });
            }
            if !ids.insert(r.id.clone()) {
                return Err(RuleError::DuplicateId { pack, id: r.id });
            }
            let pattern = case_insensitive(&r.pattern);
            let exact = OnceLock::new();
            match regex_syntax::Parser::new().parse(&pattern) {
                Ok(hir) => {
                    // A pattern whose repetitions multiply into a large automaton is compiled
                    // now, so that one over the size limit is an error here rather than a rule
                    // that silently never matches. The others compile when first needed.
                    if expanded_size(&hir) > EAGER_COMPILE_SIZE {
                        let matcher =
                            Matcher::new(&pattern).ok_or_else(|| RuleError::TooLarge { pack, id: r.id.clone() })?;
                        let _ = exact.set(Some(Arc::new(matcher)));
                    }
                    required.push(literals::required(&hir));
                }
                Err(_) => {
                    required.push(None);
                    // Compile it to report the regex crate's own error.
                    if let Err(source) = Regex::new(&pattern) {
                        return Err(RuleError::Pattern { pack, id: r.id.clone(), source });
                    }
                }
            }
            rules.push(Rule { id: r.id, place: r.place, pattern, comment: r.comment, exact });
        }
        let prefilter = Prefilter::new(required)?;
        Ok(RuleSet { rules, prefilter })
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

    /// The first rule (in pack order) that matches the line, which must be folded (see
    /// [`crate::fold::fold_line`]): patterns rely on its lowercase. Lines longer than
    /// [`MAX_RULE_LINE_CHARS`] are prose, and no rule is tried on them.
    pub fn first_match(&self, folded_line: &str) -> Option<&Rule> {
        if folded_line.len() > MAX_RULE_LINE_CHARS && folded_line.chars().nth(MAX_RULE_LINE_CHARS).is_some() {
            return None;
        }
        let mut words = [0u64; 8];
        let mut more = Vec::new();
        let candidates: &mut [u64] = if self.rules.len() <= words.len() * 64 {
            &mut words
        } else {
            more.resize(self.rules.len().div_ceil(64), 0);
            &mut more
        };
        self.prefilter.candidates(folded_line, candidates);
        for (w, &word) in candidates.iter().enumerate() {
            let mut bits = word;
            while bits != 0 {
                let rule = &self.rules[w * 64 + bits.trailing_zeros() as usize];
                if rule.is_match(folded_line) {
                    return Some(rule);
                }
                bits &= bits - 1;
            }
        }
        None
    }
}

/// The pattern made case-insensitive. Lines are matched in their folded (lowercase) form, so
/// a pattern with no capital letter outside its escapes (`\W`, `\S`, …) already matches them
/// regardless of case; leaving out `(?i)` then keeps its automaton small and fast.
fn case_insensitive(pattern: &str) -> String {
    let mut chars = pattern.chars();
    let mut capitals = false;
    while let Some(c) = chars.next() {
        if c == '\\' {
            // An escape: `\W`, `\p{Lu}`, `\x{41}` name classes or code points, not letters.
            if let Some('p' | 'P' | 'x' | 'u' | 'U') = chars.next() {
                let rest = chars.as_str();
                if rest.starts_with('{') {
                    let end = rest.find('}').map_or(rest.len(), |i| i + 1);
                    chars = rest[end..].chars();
                } else {
                    chars.next();
                }
            }
        } else if c.is_uppercase() {
            capitals = true;
        }
    }
    if capitals {
        format!("(?i:{pattern})")
    } else {
        pattern.to_string()
    }
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
        assert_eq!(set.first_match(&crate::fold::fold_line("PLEASE SUBSCRIBE")).unwrap().id, "en.cta.subscribe");
        assert_eq!(set.first_match("source: bbc").unwrap().place, Place::Tail);
        assert!(set.first_match("the minister said").is_none());
    }

    #[test]
    fn capital_letters_in_a_pattern_still_match_folded_lines() {
        let pack = "[[rule]]\nid = \"x.caps\"\nwhere = \"any\"\npattern = '^\\W*Abonnez-VOUS\\b.*$'\ncomment = \"c\"\n";
        let set = RuleSet::from_packs([("x", pack)]).unwrap();
        assert!(set.first_match("abonnez-vous à la chaîne").is_some());
        assert_eq!(case_insensitive(r"^\W*\p{Lu}x"), r"^\W*\p{Lu}x");
        assert_eq!(case_insensitive(r"^\W*X"), r"(?i:^\W*X)");
    }

    #[test]
    fn word_boundaries_are_kept_exact() {
        let set = RuleSet::from_packs([("en", PACK)]).unwrap();
        // The literal "subscribe" is in "please subscribers", the exact rule does not match.
        assert!(set.first_match("please subscribers rejoice").is_none());
        assert!(set.first_match("подпишитесь please subscribe").is_none());
    }

    /// A word boundary next to a Cyrillic letter is one the lazy DFA cannot decide: the
    /// fallback must give the same answers as the regex crate, on both sides of the boundary
    /// and of a bounded repetition.
    #[test]
    fn unicode_word_boundaries_and_bounds_match_like_the_regex_crate() {
        let pattern = r"^\W*.{0,20}\b(подпишитесь|subscribe)\b.{0,30}$";
        let matcher = Matcher::new(pattern).unwrap();
        let reference = Regex::new(pattern).unwrap();
        for line in [
            "подпишитесь на канал",
            "— подпишитесь!",
            "подпишитесьна канал",
            "неподпишитесь на канал",
            "друзья, подпишитесь на наш канал",
            "друзья, подпишитесь на наш канал и ставьте лайки, мы будем рады",
            "очень длинное вступление перед словом подпишитесь",
            "please subscribe",
            "please subscribers",
            "",
        ] {
            assert_eq!(matcher.is_match(line), reference.is_match(line), "{line:?}");
        }
        assert!(matcher.is_match("— подпишитесь!"));
        assert!(!matcher.is_match("неподпишитесь на канал"));
    }

    /// A pattern over the size limit is refused when its pack is loaded, naming the rule;
    /// large ones under it load and match.
    #[test]
    fn a_pattern_too_large_to_compile_is_a_load_error() {
        let pack = |pattern: &str| {
            format!("[[rule]]\nid = \"x.big\"\nwhere = \"any\"\npattern = '{pattern}'\ncomment = \"c\"\n")
        };
        let err = RuleSet::from_packs([("mine.toml", pack(r"^(\w{0,1000}\s){0,1000}$").as_str())]).unwrap_err();
        assert!(matches!(&err, RuleError::TooLarge { pack, id } if pack == "mine.toml" && id == "x.big"), "{err}");
        assert!(err.to_string().contains("too large"), "{err}");
        let set = RuleSet::from_packs([("mine.toml", pack(r"^(\w{0,20}\s?){0,20}$").as_str())]).unwrap();
        assert!(set.first_match("one two three").is_some());
        let set = RuleSet::from_packs([("mine.toml", pack(r"^source: \w{0,1500}$").as_str())]).unwrap();
        assert!(set.first_match("source: агентство").is_some());
    }

    /// A pattern too large for the lazy DFA's cache is still matched, by the PikeVM alone.
    #[test]
    fn a_pattern_too_large_for_the_lazy_dfa_still_matches() {
        let matcher = Matcher::new(r"^source: \w{0,1500}$").unwrap();
        assert!(matcher.dfa.is_none(), "the pattern should exceed the lazy DFA's cache");
        assert!(matcher.is_match("source: агентство"));
        assert!(!matcher.is_match("source: two words"));
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
