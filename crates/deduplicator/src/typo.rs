//! Containment that forgives typos: the text check for a pair whose sketches leave it in
//! doubt.
//!
//! A misspelt word changes every shingle it is part of. With one word in twenty misspelt, a
//! repost keeps about 85% of the story's three-word phrases; with one in ten, about 73%, less
//! than verification asks ([`crate::verify::MIN_CONTAINMENT`]). The sketches cannot tell such
//! a repost from a different story that shares some paragraphs, but the texts can: the
//! repost's shingles that the story lacks are *almost* in it, two of their words the same
//! and the third a letter away, while two different stories differ in whole words.
//!
//! So the smaller text's shingles are looked up in the larger text's, and one that is not
//! there as it is still counts when the larger text has a shingle with the same two other
//! words in the same places and, in the third place, a word one edit away: a letter changed,
//! dropped, added, or two neighbours swapped. Edits are recognised by deletion neighbourhoods
//! (as spelling correctors do): two words one edit apart become equal when at most one
//! letter is deleted from each. (A few pairs two edits apart do too, such as a letter moved
//! by one place.) Only words of at least [`MIN_FORGIVEN_CHARS`] letters are forgiven: between
//! short words, one letter is the whole difference ("on" and "in", "his" and "her").

use crate::text::{comparable_word, fmix64, hash_word, shingle3, SeqHash, Template, TextProfile, SHINGLE_WORDS};
use std::collections::HashSet;

/// Words shorter than this (in characters) must match exactly.
pub const MIN_FORGIVEN_CHARS: usize = 4;

/// Words longer than this must match exactly (a run of digits or a URL, not a word anyone
/// misspells; it also bounds the work per word).
const MAX_FORGIVEN_CHARS: usize = 32;

/// The shingles of one text's content, with what the forgiving lookup needs of each.
struct Shingles {
    /// Distinct shingle hashes, in order of first appearance, each with the index of its
    /// first word (`None` for a line too short to have three words: matched exactly only).
    distinct: Vec<(u64, Option<usize>)>,
    words: Vec<u64>,
    /// Per word: the hashes of its deletion neighbourhood (the word itself first), or nothing
    /// when the word is not forgiven.
    neighbourhoods: Vec<Vec<u64>>,
}

impl Shingles {
    fn of(profile: &TextProfile, template: &Template) -> Shingles {
        let words = profile.word_hashes().to_vec();
        let spans = profile.word_spans();
        // The spans come from the same tokeniser as the hashes; should they ever disagree,
        // no word is forgiven rather than the wrong ones.
        let aligned = spans.len() == words.len();
        let text = profile.text();
        let mut neighbourhoods = vec![Vec::new(); words.len()];
        let mut seen = HashSet::new();
        let mut distinct = Vec::new();
        for (first, count) in profile.content_line_words(template) {
            let line = &words[first..first + count];
            if count < SHINGLE_WORDS {
                let mut h = SeqHash::new();
                for &w in line {
                    h.push(w);
                }
                let h = h.finish();
                if seen.insert(h) {
                    distinct.push((h, None));
                }
                continue;
            }
            if aligned {
                for i in first..first + count {
                    let (s, e) = spans[i];
                    neighbourhoods[i] = neighbourhood(&text[s as usize..e as usize], words[i]);
                }
            }
            for (offset, s) in line.windows(SHINGLE_WORDS).enumerate() {
                let h = shingle3(s[0], s[1], s[2]);
                if seen.insert(h) {
                    distinct.push((h, Some(first + offset)));
                }
            }
        }
        Shingles { distinct, words, neighbourhoods }
    }

    /// The keys under which a shingle starting at word `i` is found with its word `p`
    /// replaced by a word of its neighbourhood.
    fn keys(&self, i: usize, mut each: impl FnMut(u64) -> bool) -> bool {
        let w = &self.words[i..i + SHINGLE_WORDS];
        for p in 0..SHINGLE_WORDS {
            for &v in &self.neighbourhoods[i + p] {
                let mut parts = [w[0], w[1], w[2]];
                parts[p] = v;
                // The position is part of the key: "a b ~c" and "~a b c" are different.
                let key = fmix64(shingle3(parts[0], parts[1], parts[2]) ^ (p as u64 + 1).wrapping_mul(0x9e37_79b9));
                if each(key) {
                    return true;
                }
            }
        }
        false
    }
}

/// The hashes of a word and of every form of it with one character deleted; empty when the
/// word is too short or too long to be forgiven.
fn neighbourhood(word: &str, hash: u64) -> Vec<u64> {
    let word = comparable_word(word);
    let word = word.as_ref();
    let chars = word.chars().count();
    if !(MIN_FORGIVEN_CHARS..=MAX_FORGIVEN_CHARS).contains(&chars) {
        return Vec::new();
    }
    let mut out = Vec::with_capacity(chars + 1);
    out.push(hash);
    let mut buf = Vec::with_capacity(word.len());
    for (at, c) in word.char_indices() {
        buf.clear();
        buf.extend_from_slice(&word.as_bytes()[..at]);
        buf.extend_from_slice(&word.as_bytes()[at + c.len_utf8()..]);
        out.push(hash_word(&buf));
    }
    out
}

/// Containment of the smaller of two texts (the one with fewer distinct content shingles)
/// in the other, counting a shingle that is there but for a typo in one of its words (see
/// the module documentation). Each text is given with its feed's template, whose lines are
/// left out as everywhere else. 0 when the smaller text has no shingles.
pub fn forgiving_containment(a: (&TextProfile, &Template), b: (&TextProfile, &Template)) -> f64 {
    let (a, b) = (Shingles::of(a.0, a.1), Shingles::of(b.0, b.1));
    let (small, large) = if b.distinct.len() < a.distinct.len() { (b, a) } else { (a, b) };
    if small.distinct.is_empty() {
        return 0.0;
    }
    let exact: HashSet<u64> = large.distinct.iter().map(|&(h, _)| h).collect();
    let mut near = HashSet::new();
    for &(_, first) in &large.distinct {
        if let Some(i) = first {
            large.keys(i, |k| {
                near.insert(k);
                false
            });
        }
    }
    let contained = small
        .distinct
        .iter()
        .filter(|&&(h, first)| exact.contains(&h) || first.is_some_and(|i| small.keys(i, |k| near.contains(&k))))
        .count();
    contained as f64 / small.distinct.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    const STORY: &str = "the regional parliament approved the new budget on tuesday after three weeks of debate.\n\
        the opposition had demanded more money for hospitals and schools in the northern districts.\n\
        the finance minister said the plan would reduce the deficit by a third within two years.\n\
        protesters gathered outside the building while the vote was taking place.";

    fn containment(a: &str, b: &str) -> f64 {
        let none = Template::default();
        forgiving_containment((&TextProfile::new(a), &none), (&TextProfile::new(b), &none))
    }

    #[test]
    fn one_edit_per_word_is_forgiven() {
        // A letter changed, dropped, doubled, two swapped: every shingle still counts.
        let typos = STORY
            .replace("parliament", "parliamnet")
            .replace("opposition", "oposition")
            .replace("hospitals", "hosspitals")
            .replace("minister", "ministar")
            .replace("building", "buidling");
        assert_eq!(containment(&typos, STORY), 1.0);
        // Without forgiveness, 14 of the repost's 47 shingles would be missing.
        let exact = |t: &str| TextProfile::new(t).features(&Template::default()).sketch;
        let c = crate::sketch::compare(&exact(&typos), &exact(STORY));
        assert_eq!(c.shared, 33.0);
        assert_eq!(c.smaller, 47);
    }

    #[test]
    fn short_words_and_two_edits_are_not_forgiven() {
        // "on" to "in" and "the" to "she": short words must match exactly. Each changes the
        // three shingles around it.
        let short = STORY.replacen("on tuesday", "in tuesday", 1).replacen("the plan", "she plan", 1);
        assert_eq!(containment(&short, STORY), 41.0 / 47.0);
        // Two letters changed in one word is a different word.
        let two = STORY.replace("parliament", "parlaiments");
        assert_eq!(containment(&two, STORY), 44.0 / 47.0);
    }

    #[test]
    fn different_words_in_the_same_frame_do_not_match() {
        // The same sentence frames with other names and numbers: different words, not typos.
        let other = "the regional assembly rejected the new treaty on thursday after seven months of talks.\n\
            the government had promised more money for railways and ports in the southern provinces.";
        assert!(containment(other, STORY) < 0.2, "{}", containment(other, STORY));
    }

    #[test]
    fn the_smaller_text_is_the_one_measured_and_template_lines_do_not_count() {
        let first_half: String = STORY.lines().take(2).collect::<Vec<_>>().join("\n");
        assert_eq!(containment(&first_half.replace("budget", "budgte"), STORY), 1.0);
        assert_eq!(containment(STORY, &first_half.replace("budget", "budgte")), 1.0);
        // A footer line is left out when it is the template's.
        let footer = "subscribe to our channel for more news every single day";
        let with_footer = format!("{first_half}\n{footer}");
        let profile = TextProfile::new(&with_footer);
        let footer_lines = TextProfile::new(footer).line_hashes();
        let template = Template::learn([footer_lines.as_slice(); 3]);
        let plain = TextProfile::new(STORY);
        let none = Template::default();
        assert_eq!(forgiving_containment((&profile, &template), (&plain, &none)), 1.0);
        assert!(forgiving_containment((&profile, &none), (&plain, &none)) < 0.8);
    }
}
