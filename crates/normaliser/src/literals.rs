//! Required literals of a rule pattern: a few strings, one of which every match contains.
//!
//! The rule packs hold a few hundred patterns, and every line of every item is tried against
//! them. Running them all (even as a few regex sets) costs most of the cleaning time and a
//! lazy-DFA cache per set and thread. Almost every pattern names a word it cannot match
//! without ("subscribe", "telegram", "источник"), so [`crate::rules::RuleSet`] finds those words
//! in a line with one Aho-Corasick pass and runs only the patterns whose words are there.
//!
//! [`required`] reads the pattern's syntax tree and returns a set of byte strings such that any
//! text the pattern matches contains at least one of them; `None` when it cannot say (the
//! pattern is then tried on every line). The set is sound by construction: a literal requires
//! itself; a small character class one of its characters; a concatenation whatever one of its
//! parts requires, or the product of a run of parts that match only a few fixed strings; an
//! alternation the union of what each branch requires; a repetition of at least one what its
//! body requires. Case-insensitive parts are small classes (`[sS]`), so they work the same way.

use regex_syntax::hir::{Class, Hir, HirKind};

/// Most strings a set may hold (products and unions beyond this are not formed).
const MAX_SET: usize = 64;

/// Most characters a class may have to be spelled out as alternatives.
const MAX_CLASS: usize = 10;

/// What the analysis knows of a sub-pattern.
#[derive(Debug, Clone, Default)]
struct Info {
    /// Every string the sub-pattern can match, when that is a small finite set.
    exact: Option<Vec<Vec<u8>>>,
    /// A set of strings, one of which every match contains (never holds the empty string).
    required: Option<Vec<Vec<u8>>>,
}

/// A set of strings one of which every match of `hir` contains, or `None` when there is no
/// useful one (see the module documentation).
pub fn required(hir: &Hir) -> Option<Vec<Vec<u8>>> {
    analyse(hir).required
}

fn analyse(hir: &Hir) -> Info {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => Info { exact: Some(vec![Vec::new()]), required: None },
        HirKind::Literal(lit) => exact(vec![lit.0.to_vec()]),
        HirKind::Class(class) => match class_strings(class) {
            Some(set) => exact(set),
            None => Info::default(),
        },
        HirKind::Capture(capture) => analyse(&capture.sub),
        HirKind::Repetition(rep) => {
            let sub = analyse(&rep.sub);
            let required = if rep.min >= 1 { sub.required.clone() } else { None };
            let exact = match (&sub.exact, rep.min, rep.max) {
                (Some(set), 0, Some(1)) => union(&[vec![Vec::new()], set.clone()]),
                (Some(set), min, Some(max)) if min == max && min <= 3 => {
                    (0..min).try_fold(vec![Vec::new()], |out, _| product(&out, set))
                }
                _ => None,
            };
            match exact {
                Some(set) => Info { required: best(required, usable(&set)), exact: Some(set) },
                None => Info { exact: None, required },
            }
        }
        HirKind::Alternation(branches) => {
            let infos: Vec<Info> = branches.iter().map(analyse).collect();
            let exact = infos.iter().map(|i| i.exact.clone()).collect::<Option<Vec<_>>>().and_then(|s| union(&s));
            let required = infos.iter().map(|i| i.required.clone()).collect::<Option<Vec<_>>>().and_then(|s| union(&s));
            match exact {
                Some(set) => Info { required: best(required, usable(&set)), exact: Some(set) },
                None => Info { exact: None, required },
            }
        }
        HirKind::Concat(parts) => {
            let mut required: Option<Vec<Vec<u8>>> = None;
            // The product of the current run of parts with exact sets.
            let mut run: Option<Vec<Vec<u8>>> = Some(vec![Vec::new()]);
            let mut whole: Option<Vec<Vec<u8>>> = Some(vec![Vec::new()]);
            for part in parts.iter().map(analyse) {
                required = best(required, part.required.clone());
                whole = match (&whole, &part.exact) {
                    (Some(w), Some(e)) => product(w, e),
                    _ => None,
                };
                match &part.exact {
                    Some(e) => {
                        let grown = run.as_ref().and_then(|r| product(r, e));
                        run = match grown {
                            Some(grown) => Some(grown),
                            None => {
                                // Too many strings: what the run had is one candidate, and a
                                // new run starts with this part.
                                required = best(required, run.as_deref().and_then(usable));
                                Some(e.clone())
                            }
                        };
                    }
                    None => {
                        required = best(required, run.as_deref().and_then(usable));
                        run = Some(vec![Vec::new()]);
                    }
                }
            }
            required = best(required, run.as_deref().and_then(usable));
            if let Some(w) = &whole {
                required = best(required, usable(w));
            }
            Info { exact: whole, required }
        }
    }
}

/// A sub-pattern that matches exactly one of `set`.
fn exact(set: Vec<Vec<u8>>) -> Info {
    Info { required: usable(&set), exact: Some(set) }
}

/// The characters of a small class, each as its UTF-8 bytes.
fn class_strings(class: &Class) -> Option<Vec<Vec<u8>>> {
    match class {
        Class::Unicode(c) => {
            let count: usize = c.ranges().iter().map(|r| r.end() as usize - r.start() as usize + 1).sum();
            if count > MAX_CLASS {
                return None;
            }
            let chars = c.ranges().iter().flat_map(|r| (r.start()..=r.end()).map(|ch| ch.to_string().into_bytes()));
            Some(chars.collect())
        }
        Class::Bytes(c) => {
            let count: usize = c.ranges().iter().map(|r| usize::from(r.end()) - usize::from(r.start()) + 1).sum();
            if count > MAX_CLASS {
                return None;
            }
            Some(c.ranges().iter().flat_map(|r| (r.start()..=r.end()).map(|b| vec![b])).collect())
        }
    }
}

/// Every concatenation of a string of `a` with a string of `b`, unless there are too many.
fn product(a: &[Vec<u8>], b: &[Vec<u8>]) -> Option<Vec<Vec<u8>>> {
    if a.len() * b.len() > MAX_SET {
        return None;
    }
    let mut out: Vec<Vec<u8>> = a.iter().flat_map(|x| b.iter().map(move |y| [x.as_slice(), y].concat())).collect();
    out.sort();
    out.dedup();
    Some(out)
}

/// The union of `sets`, unless it has too many strings.
fn union(sets: &[Vec<Vec<u8>>]) -> Option<Vec<Vec<u8>>> {
    let mut out: Vec<Vec<u8>> = sets.iter().flatten().cloned().collect();
    out.sort();
    out.dedup();
    (out.len() <= MAX_SET).then_some(out)
}

/// `set` as a requirement: none when it holds the empty string (always present).
fn usable(set: &[Vec<u8>]) -> Option<Vec<Vec<u8>>> {
    (!set.is_empty() && set.iter().all(|s| !s.is_empty())).then(|| set.to_vec())
}

/// The more selective of two requirements: the one whose shortest string is longer, then the
/// one with fewer strings.
fn best(a: Option<Vec<Vec<u8>>>, b: Option<Vec<Vec<u8>>>) -> Option<Vec<Vec<u8>>> {
    let score = |s: &Vec<Vec<u8>>| (s.iter().map(Vec::len).min().unwrap_or(0), usize::MAX - s.len());
    match (a, b) {
        (Some(a), Some(b)) => Some(if score(&b) > score(&a) { b } else { a }),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(pattern: &str) -> Option<Vec<String>> {
        let hir = regex_syntax::Parser::new().parse(pattern).unwrap();
        required(&hir).map(|set| set.into_iter().map(|s| String::from_utf8(s).unwrap()).collect())
    }

    fn strings(list: &[&str]) -> Option<Vec<String>> {
        Some(list.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn the_longest_word_a_match_needs_is_required() {
        assert_eq!(req(r"^\W*(please\s+)?subscribe\b.{0,120}$"), strings(&["subscribe"]));
        assert_eq!(req(r"^\W*(read|see) (more|also)\b"), strings(&["read also", "read more", "see also", "see more"]));
        assert_eq!(req(r"^источник: .{3,80}$"), strings(&["источник: "]));
        // Optional parts join the run as alternatives.
        assert_eq!(req(r"(please )?(un)?subscribe"), strings(&["subscribe"]));
        assert_eq!(req(r"\bto(day)?:\s"), strings(&["to:", "today:"]));
        assert_eq!(req(r"(please )?subscribe now"), strings(&["subscribe now"]));
    }

    #[test]
    fn alternatives_are_all_required_or_none_is() {
        assert_eq!(req(r"^\W*(like|share)\b.{0,80}$"), strings(&["like", "share"]));
        // One branch that needs nothing makes the whole alternation need nothing.
        assert_eq!(req(r"^(like|\w+)$"), None);
        assert_eq!(req(r"^[\p{So}\s]+$"), None);
        assert_eq!(req(r"^(x)?$"), None);
    }

    #[test]
    fn case_insensitive_words_are_spelled_out_while_small() {
        let set = req(r"(?i)bell").unwrap();
        assert!(set.contains(&"bell".to_string()) && set.contains(&"BELL".to_string()));
        // Too many spellings for one set: a shorter run still is required.
        let set = req(r"(?i)notifications").unwrap();
        assert!(set.iter().all(|s| s.len() >= 2 && "notifications".contains(&s.to_lowercase())), "{set:?}");
    }

    #[test]
    fn every_match_contains_a_required_string() {
        let patterns = [
            r"^\W*(don't forget to |make sure to )?subscribe\b.{0,120}$",
            r"^\W*.{0,40}\b(ring|hit|smash) the (bell|button)\b",
            r"(?i)^(Read|See) more[.!]?$",
            r"^\W*(join|follow) (us|our)\b.{0,60}\b(channel|telegram)\b",
            r"^подпи[сш]\w*.{0,40}$",
        ];
        let lines = [
            "subscribe",
            "🔔 don't forget to subscribe to the channel!",
            "please smash the bell now",
            "ring the button",
            "See more.",
            "read more",
            "follow us on the telegram channel",
            "подпишитесь на канал",
            "подпись",
        ];
        for p in patterns {
            let re = regex::Regex::new(p).unwrap();
            let set = req(p).unwrap_or_else(|| panic!("{p}: no requirement"));
            for line in lines.iter().filter(|l| re.is_match(l)) {
                assert!(set.iter().any(|s| line.contains(s.as_str())), "{p} matches {line:?} without any of {set:?}");
            }
        }
    }
}
