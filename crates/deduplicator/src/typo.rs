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
//! dropped or added, or two neighbouring letters swapped. Only words of at least
//! [`MIN_FORGIVEN_CHARS`] letters are forgiven: between short words, one letter is the whole
//! difference ("on" and "in", "his" and "her").

use crate::text::{comparable_word, fmix64, shingle3, Template, TextProfile, SHINGLE_WORDS};
use std::cell::OnceCell;
use std::collections::HashSet;

/// Words shorter than this (in characters) must match exactly.
pub const MIN_FORGIVEN_CHARS: usize = 4;

/// Words longer than this must match exactly (a run of digits or a URL, not a word anyone
/// misspells).
const MAX_FORGIVEN_CHARS: usize = 32;

/// The shingles of one text's content, with what the forgiving lookup needs of each.
struct Shingles<'a> {
    profile: &'a TextProfile,
    /// Byte range of each word in the text, when the tokeniser gives one per word hash. Found
    /// the first time a word is asked for: a text whose shingles are all in the other, or that
    /// only served to tell which text is the smaller, never needs them.
    spans: OnceCell<Option<Vec<(u32, u32)>>>,
    /// Distinct shingle hashes, in order of first appearance, each with the index of its
    /// first word (`None` for a line too short to have three words: matched exactly only).
    distinct: Vec<(u64, Option<usize>)>,
}

impl<'a> Shingles<'a> {
    fn of(profile: &'a TextProfile, template: &Template) -> Shingles<'a> {
        let mut seen = HashSet::new();
        let mut distinct = Vec::new();
        profile.each_content_shingle(template, |h, first| {
            if seen.insert(h) {
                distinct.push((h, first));
            }
        });
        Shingles { profile, spans: OnceCell::new(), distinct }
    }

    /// Word `i` as compared, when it is long enough to be forgiven a typo.
    fn forgivable(&self, i: usize) -> Option<std::borrow::Cow<'a, str>> {
        let spans = self.spans.get_or_init(|| {
            // The spans come from the same tokeniser as the hashes; should they ever
            // disagree, no word is forgiven rather than the wrong ones.
            let spans = self.profile.word_spans();
            (spans.len() == self.profile.word_hashes().len()).then_some(spans)
        });
        let (s, e) = spans.as_ref()?[i];
        let text: &'a str = self.profile.text();
        let word = comparable_word(&text[s as usize..e as usize]);
        (MIN_FORGIVEN_CHARS..=MAX_FORGIVEN_CHARS).contains(&word.chars().count()).then_some(word)
    }

    /// The key of the shingle starting at word `i` with its word `p` left out: the two
    /// others and their places.
    fn frame(&self, i: usize, p: usize) -> u64 {
        let w = &self.profile.word_hashes()[i..i + SHINGLE_WORDS];
        let (x, y) = match p {
            0 => (w[1], w[2]),
            1 => (w[0], w[2]),
            _ => (w[0], w[1]),
        };
        fmix64(shingle3(x, y, p as u64 + 1))
    }
}

/// True when `a` and `b` are one edit apart: a character changed, dropped or added, or two
/// neighbouring characters swapped (or equal).
fn one_edit_apart(a: &str, b: &str) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let (short, long) = if a.len() <= b.len() { (&a, &b) } else { (&b, &a) };
    let prefix = short.iter().zip(long.iter()).take_while(|(x, y)| x == y).count();
    match long.len() - short.len() {
        0 => {
            let suffix = short.iter().rev().zip(long.iter().rev()).take_while(|(x, y)| x == y).count();
            let differ = short.len().saturating_sub(prefix + suffix);
            prefix + suffix >= short.len()
                || differ == 1
                || differ == 2 && short[prefix] == long[prefix + 1] && short[prefix + 1] == long[prefix]
        }
        1 => short[prefix..] == long[prefix + 1..],
        _ => false,
    }
}

/// Containment of the smaller of two texts (the one with fewer distinct content shingles)
/// in the other, counting a shingle that is there but for a typo in one of its words (see
/// the module documentation). Each text is given with its feed's template. The smaller text's
/// content (its template lines left out, as everywhere else) is looked up in the whole of the
/// larger text. 0 when the smaller text has no shingles.
pub fn forgiving_containment(a: (&TextProfile, &Template), b: (&TextProfile, &Template)) -> f64 {
    let (sa, sb) = (Shingles::of(a.0, a.1), Shingles::of(b.0, b.1));
    let (small, large) = if sb.distinct.len() < sa.distinct.len() { (sb, a.0) } else { (sa, b.0) };
    if small.distinct.is_empty() {
        return 0.0;
    }
    // The larger text whole: a line its feed repeats is still its text, and the smaller
    // text's own lines are its content (what its feed repeats is left out of it).
    let large = Shingles::of(large, &Template::default());
    let exact: HashSet<u64> = large.distinct.iter().map(|&(h, _)| h).collect();
    let (present, absent): (Vec<_>, Vec<_>) = small.distinct.iter().partition(|(h, _)| exact.contains(h));
    let mut contained = present.len();
    // Shingles of lines too short for three words are matched exactly only.
    let missing: Vec<usize> = absent.iter().filter_map(|&&(_, first)| first).collect();
    if !missing.is_empty() {
        // The larger text's shingles by frame: which word fills each frame's open place.
        let mut frames: Vec<(u64, u32)> = Vec::with_capacity(large.distinct.len() * SHINGLE_WORDS);
        for &(_, first) in &large.distinct {
            if let Some(i) = first {
                frames.extend((0..SHINGLE_WORDS).map(|p| (large.frame(i, p), (i + p) as u32)));
            }
        }
        frames.sort_unstable();
        for i in missing {
            let found = (0..SHINGLE_WORDS).any(|p| {
                let Some(word) = small.forgivable(i + p) else { return false };
                let key = small.frame(i, p);
                let from = frames.partition_point(|&(k, _)| k < key);
                frames[from..]
                    .iter()
                    .take_while(|&&(k, _)| k == key)
                    .any(|&(_, j)| large.forgivable(j as usize).is_some_and(|other| one_edit_apart(&word, &other)))
            });
            contained += usize::from(found);
        }
    }
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
    fn one_edit_apart_is_one_letter_changed_dropped_added_or_two_swapped() {
        for (a, b) in [
            ("minister", "ministar"),
            ("minister", "minster"),
            ("minister", "miniister"),
            ("minister", "minsiter"),
            ("минист", "миинист"),
            ("same", "same"),
        ] {
            assert!(one_edit_apart(a, b) && one_edit_apart(b, a), "{a} {b}");
        }
        for (a, b) in [("minister", "mnistar"), ("minister", "ministerial"), ("minister", "misniter"), ("abcd", "badc")]
        {
            assert!(!one_edit_apart(a, b) && !one_edit_apart(b, a), "{a} {b}");
        }
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
    fn the_smaller_texts_content_is_measured_against_the_larger_text_whole() {
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
        // The larger text counts whole: a line that its own feed repeats is still in it.
        let story_with_footer = TextProfile::new(&format!("{STORY}\n{footer}"));
        assert_eq!(forgiving_containment((&profile, &none), (&story_with_footer, &template)), 1.0);
    }
}
