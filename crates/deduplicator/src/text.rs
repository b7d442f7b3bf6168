//! Folded text to the units the deduplicator compares: words, lines, shingles and the lead.
//!
//! A [`TextProfile`] is computed once per item from its folded text (the normaliser's
//! comparison form). It keeps a hash per word and, per line, where the line's words are and a
//! hash of the whole line. From it, [`TextProfile::features`] derives everything the layers
//! compare, after dropping the lines of the feed's [`Template`] (lines the feed repeats on
//! many items: channel footers and headers that survived cleaning).
//!
//! All hashes here are our own, fixed functions (a multiply-rotate hash over 8-byte words,
//! finished with the MurmurHash3 64-bit finaliser), so stored fingerprints and sketches stay comparable across
//! releases and platforms; a change to anything in this file must bump
//! [`crate::FINGERPRINT_VERSION`] or [`crate::SKETCH_VERSION`].

use crate::simhash::{simhash, SimhashAccumulator};
use crate::sketch::{Sketch, PHRASE_PROBES};
use newsdedup_model::Fingerprint;
use std::collections::{HashMap, HashSet};

/// Words per shingle for the whole-text simhash and the sketch. Three-word phrases: two
/// stories on one topic share most of their vocabulary but few of their three-word phrases,
/// while a typo changes only the three shingles that contain the word.
pub const SHINGLE_WORDS: usize = 3;

/// Below this many content shingles, the whole-text simhash is taken over character 3-grams
/// instead of word shingles: with a dozen features, one typo moves a word-shingle simhash by
/// a quarter of its bits, while it changes only three of a hundred character 3-grams.
pub const SHORT_TEXT_SHINGLES: usize = 24;

/// Words per phrase of the phrase keys (see [`Sketch::phrase_keys`]). Five-word phrases
/// are common to two different stories only where they quote the same sentence, while
/// three-word ones ("one of the", "said on monday") are shared by half of them. Measured on
/// the dev corpus, replayed in order: with three-word phrases each item's lookup proposed 3.5
/// items of other stories, with five-word ones 0.4.
pub const PHRASE_WORDS: usize = 5;

/// Characters of the lead (see [`TextProfile::features`]). Measured on the dev corpus
/// (share of reposts with an earlier copy of their story within radius 10 of either
/// fingerprint): 80-120 characters 99.4-99.6%, 150 characters 98.7%, 200 characters 98.1%,
/// because summaries and cut-down reposts often keep little more than the first sentence.
/// The lead stops at the end of its line: a one-paragraph summary then has the same lead as
/// the full story, whatever the length of that paragraph.
pub const LEAD_CHARS: usize = 100;

/// The lead starts at the first line with at least this many words, so that a short header
/// line a reposter put on top ("From BBC News:", a date, a channel name) does not shift it.
pub const LEAD_MIN_WORDS: usize = 8;

/// Characters per n-gram in the character fingerprints. Measured on the dev corpus (pairwise
/// recall of the whole pipeline, search radius 7): 3-grams 0.991, 4-grams 0.988; a typo
/// changes three 3-grams but four 4-grams, and a hundred characters give enough 3-grams to
/// tell stories apart (verification decides anyway).
const CHAR_GRAM: usize = 3;

/// A line of the profile: which words it holds, a hash of them, and where it is in the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Line {
    first_word: u32,
    words: u32,
    hash: u32,
    start: u32,
    end: u32,
}

/// An item's folded text, tokenised once.
#[derive(Debug, Clone)]
pub struct TextProfile {
    text: Box<str>,
    words: Vec<u64>,
    lines: Vec<Line>,
}

/// What the layers compare, computed from a [`TextProfile`] and the feed's [`Template`].
#[derive(Debug, Clone, PartialEq)]
pub struct Features {
    /// `simhash`: the whole-text simhash of the content (template lines dropped);
    /// `content_hash`: a hash of every word of the text, in order (exact matches).
    pub fingerprint: Fingerprint,
    /// The simhash of the lead: at most [`LEAD_CHARS`] characters of the content's first long
    /// line, over character 3-grams.
    pub lead: u64,
    /// The sampled shingles of the content, for verification.
    pub sketch: Sketch,
    /// Words of the whole text (template lines included).
    pub word_count: u32,
}

impl Features {
    /// Words of the content (template lines dropped).
    pub fn content_words(&self) -> u32 {
        self.sketch.content_words
    }
}

/// Lines a feed repeats on many of its items: a channel's footer, header or disclaimer that
/// cleaning did not remove. They say nothing about which story an item tells, so the
/// near-duplicate layers ignore them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Template {
    lines: HashSet<u32>,
}

impl Template {
    /// Items of one feed that must share a line before it counts as the feed's template.
    /// Two is not enough: an aggregator that lists a story twice would lose its text. A
    /// story listed three times in one feed is rare; a footer on three items is the norm.
    pub const MIN_ITEMS: usize = 3;

    /// Learns a template from the distinct line hashes of a feed's items (one slice per item;
    /// see [`TextProfile::line_hashes`] and [`Sketch::lines`]).
    pub fn learn<'a>(items: impl IntoIterator<Item = &'a [u32]>) -> Template {
        let mut counts: HashMap<u32, usize> = HashMap::new();
        for lines in items {
            for &h in lines {
                *counts.entry(h).or_default() += 1;
            }
        }
        Template { lines: counts.into_iter().filter(|&(_, n)| n >= Self::MIN_ITEMS).map(|(h, _)| h).collect() }
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    pub fn len(&self) -> usize {
        self.lines.len()
    }

    pub fn contains(&self, line_hash: u32) -> bool {
        self.lines.contains(&line_hash)
    }
}

/// True for characters that belong to words. Letters and digits of every script; combining
/// marks too, so that scripts written with them (Devanagari vowel signs, Arabic harakat) do
/// not fall apart into fragments.
#[inline]
fn is_word_char(c: char) -> bool {
    match c as u32 {
        // Fast paths for the common scripts (the general lookup is a table search):
        // Latin-1 letters and Latin Extended-A/B, all letters but × and ÷.
        0xC0..=0x24F => c != '×' && c != '÷',
        // Cyrillic and its supplement: letters and combining marks, but for the thousands sign.
        0x400..=0x52F => c != '\u{482}',
        _ => c.is_alphanumeric() || is_combining_mark(c),
    }
}

/// True for the letters of scripts written without spaces between words: Han, kana, Thai,
/// Lao, Khmer, Myanmar. A clause of them would otherwise be one word, and one changed
/// character would change every shingle it is part of; as words of one character each, word
/// shingles over them are character 3-grams, and a typo changes three of them, as in a text
/// with spaces. (Hangul is written with spaces.)
fn is_unspaced(c: char) -> bool {
    matches!(c as u32,
        0x0E01..=0x0E30 | 0x0E32..=0x0E33 | 0x0E40..=0x0E46 // Thai letters and vowels
        | 0x0E81..=0x0EB0 | 0x0EB2..=0x0EB3 | 0x0EBD..=0x0EC6 | 0x0EDC..=0x0EDF // Lao
        | 0x1000..=0x102A | 0x103F | 0x1050..=0x1055 // Myanmar
        | 0x1780..=0x17B3 // Khmer
        | 0x3041..=0x3096 | 0x309D..=0x30FF | 0x31F0..=0x31FF // Hiragana, Katakana
        | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x3134F // Han
    )
}

/// The marks written on a letter of an unspaced script (Thai and Lao vowel signs and tone
/// marks, Khmer and Myanmar vowel signs, the kana voicing marks): part of its word.
fn is_unspaced_mark(c: char) -> bool {
    matches!(c as u32,
        0x0E31 | 0x0E34..=0x0E3A | 0x0E47..=0x0E4E | 0x0EB1 | 0x0EB4..=0x0EBC | 0x0EC8..=0x0ECE
        | 0x102B..=0x103E | 0x1056..=0x1059 | 0x105E..=0x1060 | 0x1062..=0x1064 | 0x1067..=0x106D
        | 0x1071..=0x1074 | 0x1082..=0x108D | 0x108F | 0x109A..=0x109D | 0x17B4..=0x17D3 | 0x17DD
        | 0x3099..=0x309A
    )
}

/// True when the (multi-byte) character at byte `i` of `text` is of an unspaced script.
#[inline]
fn unspaced_at(text: &str, i: usize) -> bool {
    // Every unspaced letter is at U+0E01 or above: three bytes in UTF-8 (lead byte 0xE0 or
    // more); Latin, Cyrillic, Greek and the rest below U+0800 are two.
    text.as_bytes()[i] >= 0xE0 && text[i..].chars().next().is_some_and(is_unspaced)
}

fn is_combining_mark(c: char) -> bool {
    matches!(c as u32,
        0x0300..=0x036F | 0x0483..=0x0489 | 0x0591..=0x05BD | 0x05BF | 0x05C1..=0x05C2 | 0x05C4..=0x05C5
        | 0x05C7 | 0x0610..=0x061A | 0x064B..=0x065F
        | 0x0670 | 0x06D6..=0x06DC | 0x06DF..=0x06E4 | 0x0900..=0x0903 | 0x093A..=0x094F
        | 0x0951..=0x0957 | 0x0962..=0x0963 | 0x0981..=0x0983 | 0x09BC..=0x09D7 | 0x0E31
        | 0x0E34..=0x0E3A | 0x0E47..=0x0E4E | 0x1AB0..=0x1AFF | 0x1DC0..=0x1DFF | 0x20D0..=0x20FF
        | 0xFE20..=0xFE2F)
}

/// Marks that are left out of the comparison: accents written as separate marks, Arabic
/// vowel signs and the tatweel (a stretch of the line between letters), Hebrew points. A
/// publisher writes them and a reposter drops them (or the other way round), and the word is
/// the same. (Marks that are part of the letter, as in Devanagari or Thai, stay.)
#[inline]
fn is_dropped_mark(c: char) -> bool {
    matches!(c as u32,
        0x0300..=0x036F | 0x1AB0..=0x1AFF | 0x1DC0..=0x1DFF | 0x20D0..=0x20FF | 0xFE20..=0xFE2F
        | 0x0591..=0x05BD | 0x05BF | 0x05C1..=0x05C2 | 0x05C4..=0x05C5 | 0x05C7
        | 0x0610..=0x061A | 0x0640 | 0x064B..=0x065F | 0x0670 | 0x06D6..=0x06DC | 0x06DF..=0x06E4
        | 0x06E7..=0x06E8 | 0x06EA..=0x06ED)
}

/// The characters a character is compared as: none for a mark the comparison leaves out
/// ([`is_dropped_mark`]); `ss` for German `ß`, as Swiss German writes it; a Latin, Greek or
/// Cyrillic letter without its accents (`é` is `e`, `ά` is `α`, `ё` is `е`): reposters and
/// aggregators drop accents, and Russian writes `е` for `ё` as often as not. `й` keeps its
/// mark: it is a letter of its own, which nobody writes as `и`.
#[inline]
fn comparable(c: char) -> impl Iterator<Item = char> {
    let (first, second) = if c == 'ß' { (Some('s'), Some('s')) } else { (without_accents(c), None) };
    first.into_iter().chain(second)
}

/// [`comparable`] for every character but `ß`, which is two.
#[inline]
fn without_accents(c: char) -> Option<char> {
    let u = c as u32;
    if u < 0xC0 || (0x430..=0x44F).contains(&u) {
        return Some(c);
    }
    if is_dropped_mark(c) {
        return None;
    }
    match u {
        0x419 => Some(c),
        0xC0..=0x24F | 0x370..=0x3FF | 0x400..=0x4FF | 0x1E00..=0x1FFF => {
            let mut base = None;
            unicode_normalization::char::decompose_canonical(c, |d| {
                base.get_or_insert(d);
            });
            Some(base.unwrap_or(c))
        }
        _ => Some(c),
    }
}

/// A word as the comparison sees it (see [`comparable`]); borrowed when nothing changes.
pub(crate) fn comparable_word(word: &str) -> std::borrow::Cow<'_, str> {
    if word.is_ascii() || !word.chars().any(changes) {
        return std::borrow::Cow::Borrowed(word);
    }
    std::borrow::Cow::Owned(word.chars().flat_map(comparable).collect())
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// MurmurHash3's 64-bit finaliser: spreads every input bit over every output bit.
#[inline]
pub(crate) fn fmix64(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    h
}

/// The hash of a word-shingle made of three word hashes (order matters).
#[inline]
pub(crate) fn shingle3(a: u64, b: u64, c: u64) -> u64 {
    fmix64(a ^ b.rotate_left(21) ^ c.rotate_left(42))
}

/// What the tokeniser finds: a word (its byte range, and whether it is compared as written:
/// no character of it changes in [`comparable`]) or the end of a line (the byte of the `\n`,
/// or the text's length for the last line).
enum Token {
    Word(usize, usize, bool),
    LineEnd(usize),
}

/// True when [`comparable`] changes `c` (most letters are compared as they are). Asked of
/// every non-ASCII letter the tokeniser reads, so it asks the one-character part of
/// [`comparable`] directly: through the iterator, tokenising was measurably slower.
#[inline]
fn changes(c: char) -> bool {
    let u = c as u32;
    !(u < 0xC0 || (0x430..=0x44F).contains(&u)) && (c == 'ß' || without_accents(c) != Some(c))
}

/// The words and line ends of a folded text, in order (see [`TextProfile::new`]).
struct Tokens<'a> {
    text: &'a str,
    at: usize,
    /// The last line's end was given.
    done: bool,
}

fn tokenize(folded_text: &str) -> Tokens<'_> {
    Tokens { text: folded_text, at: 0, done: false }
}

impl Tokens<'_> {
    /// The character at `i`, its length and whether it changes for the comparison, when it
    /// is a word character.
    #[inline]
    fn word_char_at(&self, i: usize) -> Option<(usize, bool)> {
        let b = self.text.as_bytes()[i];
        if b < 0x80 {
            b.is_ascii_alphanumeric().then_some((1, false))
        } else {
            let c = self.text[i..].chars().next()?;
            if is_word_char(c) {
                Some((c.len_utf8(), changes(c)))
            } else {
                None
            }
        }
    }
}

impl Iterator for Tokens<'_> {
    type Item = Token;

    #[inline]
    fn next(&mut self) -> Option<Token> {
        let text = self.text;
        let bytes = text.as_bytes();
        let n = bytes.len();
        let mut i = self.at;
        while i < n {
            let Some((len, changed)) = self.word_char_at(i) else {
                let newline = bytes[i] == b'\n';
                // Skip the whole (possibly multi-byte) separator character.
                i += if bytes[i] < 0x80 { 1 } else { text[i..].chars().next().map_or(1, char::len_utf8) };
                if newline {
                    self.at = i;
                    return Some(Token::LineEnd(i - 1));
                }
                continue;
            };
            let start = i;
            let mut plain = !changed;
            i += len;
            if len > 1 && unspaced_at(text, start) {
                // A word of one character, with the marks written on it.
                while i < n && bytes[i] >= 0x80 {
                    match text[i..].chars().next() {
                        Some(c) if is_unspaced_mark(c) => i += c.len_utf8(),
                        _ => break,
                    }
                }
                self.at = i;
                return Some(Token::Word(start, i, plain));
            }
            while i < n {
                if bytes[i].is_ascii_alphanumeric() {
                    i += 1;
                } else if bytes[i] >= 0x80 {
                    match self.word_char_at(i) {
                        // A character of an unspaced script starts a word of its own.
                        Some((len, changed)) if !unspaced_at(text, i) => {
                            plain &= !changed;
                            i += len;
                        }
                        _ => break,
                    }
                } else {
                    break;
                }
            }
            self.at = i;
            return Some(Token::Word(start, i, plain));
        }
        self.at = n;
        if self.done {
            return None;
        }
        self.done = true;
        Some(Token::LineEnd(n))
    }
}

/// Records a line (if it has words): where its words are and the hash of their sequence.
fn finish_line(words: &[u64], lines: &mut Vec<Line>, first: usize, start: usize, end: usize) {
    if words.len() > first {
        let mut h = SeqHash::new();
        for &w in &words[first..] {
            h.push(w);
        }
        lines.push(Line {
            first_word: first as u32,
            words: (words.len() - first) as u32,
            hash: h.finish() as u32,
            start: start as u32,
            end: end as u32,
        });
    }
}

/// The hash of a word's UTF-8 bytes: eight bytes at a time, multiply-rotate, then the
/// finaliser (a byte-at-a-time hash spends most of the tokeniser's time here).
#[inline]
fn hash_word(bytes: &[u8]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut h = FNV_OFFSET ^ (bytes.len() as u64).wrapping_mul(K);
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let v = u64::from_le_bytes(c.try_into().expect("chunk of 8"));
        h = (h ^ v).wrapping_mul(K).rotate_left(29);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut tail = [0u8; 8];
        tail[..rest.len()].copy_from_slice(rest);
        h = (h ^ u64::from_le_bytes(tail)).wrapping_mul(K).rotate_left(29);
    }
    fmix64(h)
}

/// Folds a sequence of hashes into one, order-sensitively.
#[derive(Clone, Copy)]
struct SeqHash(u64);

impl SeqHash {
    fn new() -> SeqHash {
        SeqHash(FNV_OFFSET)
    }
    #[inline]
    fn push(&mut self, h: u64) {
        self.0 = (self.0.rotate_left(5) ^ h).wrapping_mul(FNV_PRIME);
    }
    fn finish(self) -> u64 {
        fmix64(self.0)
    }
}

impl TextProfile {
    /// Tokenises a folded text: words are maximal runs of letters, digits and combining
    /// marks; everything else separates them, so punctuation, quote styles and spacing never
    /// reach a hash. In scripts written without spaces (see [`is_unspaced`]) each character
    /// is a word. Lines are separated by `\n`.
    pub fn new(folded_text: &str) -> TextProfile {
        let mut words = Vec::with_capacity(folded_text.len() / 6);
        let mut lines = Vec::new();
        let mut line_start = 0usize;
        let mut line_first_word = 0usize;
        for token in tokenize(folded_text) {
            match token {
                Token::Word(start, end, true) => words.push(hash_word(&folded_text.as_bytes()[start..end])),
                Token::Word(start, end, false) => {
                    words.push(hash_word(comparable_word(&folded_text[start..end]).as_bytes()));
                }
                Token::LineEnd(at) => {
                    finish_line(&words, &mut lines, line_first_word, line_start, at);
                    line_first_word = words.len();
                    line_start = at + 1;
                }
            }
        }
        TextProfile { text: folded_text.into(), words, lines }
    }

    /// The same profile as [`TextProfile::new`] gives for `folded_text`, taking the words of
    /// each line that `earlier`'s text also has, in the same order, from `earlier` instead of
    /// tokenising it again. For an item whose feed template removed some of its lines after
    /// it was first profiled: most of its lines are unchanged.
    pub fn reusing(folded_text: &str, earlier: &TextProfile) -> TextProfile {
        let mut words = Vec::with_capacity(earlier.words.len());
        let mut lines = Vec::with_capacity(earlier.lines.len());
        // Earlier lines before this one were passed: lines are kept in order.
        let mut next = 0;
        let mut start = 0;
        for piece in folded_text.split('\n') {
            let end = start + piece.len();
            let same = if piece.is_empty() {
                None
            } else {
                earlier.lines[next..].iter().position(|l| earlier.line_text(l) == piece).map(|k| next + k)
            };
            let first = words.len();
            if let Some(k) = same {
                let line = earlier.lines[k];
                let from = line.first_word as usize;
                words.extend_from_slice(&earlier.words[from..from + line.words as usize]);
                lines.push(Line { first_word: first as u32, start: start as u32, end: end as u32, ..line });
                next = k + 1;
            } else {
                // A changed line (a shortened last one, say): tokenised as any text is.
                words.extend_from_slice(&TextProfile::new(piece).words);
                finish_line(&words, &mut lines, first, start, end);
            }
            start = end + 1;
        }
        TextProfile { text: folded_text.into(), words, lines }
    }

    fn line_text(&self, line: &Line) -> &str {
        &self.text[line.start as usize..line.end as usize]
    }

    /// The byte range of every word of the text, in the order of [`TextProfile::new`]'s
    /// word hashes (the typo-forgiving comparison needs the letters themselves).
    pub(crate) fn word_spans(&self) -> Vec<(u32, u32)> {
        tokenize(&self.text)
            .filter_map(|token| match token {
                Token::Word(start, end, _) => Some((start as u32, end as u32)),
                Token::LineEnd(_) => None,
            })
            .collect()
    }

    /// The folded text.
    pub(crate) fn text(&self) -> &str {
        &self.text
    }

    /// The hash of every word, in order.
    pub(crate) fn word_hashes(&self) -> &[u64] {
        &self.words
    }

    /// Words in the whole text.
    pub fn word_count(&self) -> u32 {
        self.words.len() as u32
    }

    /// The distinct hashes of the text's lines (lines without words have none), in order of
    /// first appearance; what [`Template::learn`] counts.
    pub fn line_hashes(&self) -> Vec<u32> {
        let mut seen = HashSet::with_capacity(self.lines.len());
        self.lines.iter().map(|l| l.hash).filter(|h| seen.insert(*h)).collect()
    }

    /// Computes the item's features. `template` lines are left out of everything but the
    /// exact-text hash and the word count:
    ///
    /// - whole-text simhash: over the word 3-shingles of each remaining line (a line of one
    ///   or two words is one feature); below [`SHORT_TEXT_SHINGLES`] shingles, over character
    ///   3-grams of the content instead;
    /// - lead simhash: over character 3-grams of the first [`LEAD_CHARS`] characters of the
    ///   content's first line of at least [`LEAD_MIN_WORDS`] words (words joined by single
    ///   spaces). Truncated reposts and summaries keep the beginning of a story, and footers
    ///   added at its end do not reach its lead;
    /// - sketch: the bottom-k of the distinct shingle hashes (see [`Sketch`]), with the
    ///   smallest hashes of the content's [`PHRASE_WORDS`]-word phrases (lines of fewer words
    ///   have none), from which the phrase keys come.
    pub fn features(&self, template: &Template) -> Features {
        let content: Vec<&Line> = self.lines.iter().filter(|l| !template.contains(l.hash)).collect();
        let (shingles, content_words) = self.shingles(&content);
        let full = self.whole_text_simhash(&content, &shingles);
        let lead = {
            let mut acc = SimhashAccumulator::new();
            let first_long = content.iter().find(|l| l.words as usize >= LEAD_MIN_WORDS).or(content.first());
            if let Some(line) = first_long {
                char_grams(&self.text[line.start as usize..line.end as usize], LEAD_CHARS, &mut acc);
            }
            acc.finish()
        };
        let mut content_hash = SeqHash::new();
        for &w in &self.words {
            content_hash.push(w);
        }
        let sketch =
            Sketch::from_shingles(&shingles, content_words, self.line_hashes()).with_phrases(self.phrases(&content));
        Features {
            fingerprint: Fingerprint { simhash: full, content_hash: content_hash.finish() },
            lead,
            sketch,
            word_count: self.word_count(),
        }
    }
}

impl TextProfile {
    /// The whole-text simhash alone (what [`TextProfile::features`] puts in
    /// `fingerprint.simhash`), for measuring it on its own.
    pub fn simhash(&self, template: &Template) -> u64 {
        let content: Vec<&Line> = self.lines.iter().filter(|l| !template.contains(l.hash)).collect();
        let (shingles, _) = self.shingles(&content);
        self.whole_text_simhash(&content, &shingles)
    }

    /// The shingle hashes of the content lines, and their number of words.
    fn shingles(&self, content: &[&Line]) -> (Vec<u64>, u32) {
        let mut shingles: Vec<u64> = Vec::with_capacity(self.words.len());
        let mut content_words = 0u32;
        for line in content {
            content_words += line.words;
            self.each_shingle(line, |h, _| shingles.push(h));
        }
        (shingles, content_words)
    }

    /// Calls `f` with each shingle of a line: its hash and the index of its first word. A line
    /// of fewer than [`SHINGLE_WORDS`] words is one shingle, with no first word.
    #[inline]
    fn each_shingle(&self, line: &Line, mut f: impl FnMut(u64, Option<usize>)) {
        let first = line.first_word as usize;
        let w = &self.words[first..first + line.words as usize];
        if w.len() >= SHINGLE_WORDS {
            for (k, s) in w.windows(SHINGLE_WORDS).enumerate() {
                f(shingle3(s[0], s[1], s[2]), Some(first + k));
            }
        } else {
            let mut h = SeqHash::new();
            for &x in w {
                h.push(x);
            }
            f(h.finish(), None);
        }
    }

    /// Calls `f` with each shingle of the lines the template leaves (see
    /// [`TextProfile::each_shingle`]), in order, repeats included.
    pub(crate) fn each_content_shingle(&self, template: &Template, mut f: impl FnMut(u64, Option<usize>)) {
        for line in self.lines.iter().filter(|l| !template.contains(l.hash)) {
            self.each_shingle(line, &mut f);
        }
    }

    /// The [`PHRASE_PROBES`] smallest distinct hashes of the content's [`PHRASE_WORDS`]-word
    /// phrases, in increasing order.
    fn phrases(&self, content: &[&Line]) -> Vec<u32> {
        let mut smallest: Vec<u32> = Vec::with_capacity(PHRASE_PROBES + 1);
        for line in content {
            let w = &self.words[line.first_word as usize..(line.first_word + line.words) as usize];
            for phrase in w.windows(PHRASE_WORDS) {
                let mut h = SeqHash::new();
                for &x in phrase {
                    h.push(x);
                }
                // The high half, as for the sketch's shingles.
                let h = (h.finish() >> 32) as u32;
                if smallest.len() == PHRASE_PROBES && h >= smallest[PHRASE_PROBES - 1] {
                    continue;
                }
                if let Err(at) = smallest.binary_search(&h) {
                    smallest.insert(at, h);
                    smallest.truncate(PHRASE_PROBES);
                }
            }
        }
        smallest
    }

    fn whole_text_simhash(&self, content: &[&Line], shingles: &[u64]) -> u64 {
        if shingles.len() >= SHORT_TEXT_SHINGLES {
            simhash(shingles)
        } else {
            let mut acc = SimhashAccumulator::new();
            for line in content {
                char_grams(&self.text[line.start as usize..line.end as usize], usize::MAX, &mut acc);
            }
            acc.finish()
        }
    }
}

/// Character n-grams over the words of a text, words joined by single spaces, fed to a
/// simhash. State carries across calls so that several lines make one stream.
struct CharGrams {
    window: [u32; CHAR_GRAM],
    filled: usize,
    grams: usize,
    pending_space: bool,
}

impl CharGrams {
    fn new() -> CharGrams {
        CharGrams { window: [0; CHAR_GRAM], filled: 0, grams: 0, pending_space: false }
    }

    fn push(&mut self, c: u32, acc: &mut SimhashAccumulator) {
        self.window.copy_within(1.., 0);
        self.window[CHAR_GRAM - 1] = c;
        self.filled += 1;
        if self.filled >= CHAR_GRAM {
            // Three code points of at most 21 bits each fit in one 64-bit word.
            let [a, b, c] = self.window;
            let packed = u64::from(a) | u64::from(b) << 21 | u64::from(c) << 42;
            acc.add(fmix64(packed ^ 0x9e37_79b9_7f4a_7c15));
            self.grams += 1;
        }
    }

    /// Feeds up to `budget` characters of `text`; returns the budget left.
    fn feed(&mut self, text: &str, mut budget: usize, acc: &mut SimhashAccumulator) -> usize {
        for c in text.chars() {
            if budget == 0 {
                break;
            }
            if is_word_char(c) {
                let mut compared = comparable(c);
                let Some(first) = compared.next() else { continue };
                if self.pending_space && self.filled > 0 {
                    self.push(' ' as u32, acc);
                    budget = budget.saturating_sub(1);
                    if budget == 0 {
                        break;
                    }
                }
                self.pending_space = false;
                for c in std::iter::once(first).chain(compared).take(budget) {
                    self.push(c as u32, acc);
                    budget -= 1;
                }
            } else {
                self.pending_space = true;
            }
        }
        self.pending_space = true;
        budget
    }

    /// A text shorter than one n-gram still gets one feature: itself.
    fn finish(&self, acc: &mut SimhashAccumulator) {
        if self.grams == 0 && self.filled > 0 {
            let mut h = SeqHash::new();
            for &c in &self.window[CHAR_GRAM - self.filled..] {
                h.push(u64::from(c));
            }
            acc.add(h.finish());
        }
    }
}

/// Feeds the character n-grams of `text` (at most `budget` characters) to `acc`.
fn char_grams(text: &str, budget: usize, acc: &mut SimhashAccumulator) {
    let mut g = CharGrams::new();
    g.feed(text, budget, acc);
    g.finish(acc);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every way of dropping lines from a text, and of shortening its last line, profiles
    /// the same reusing the full text's profile as from scratch: the same words, line hashes
    /// and places, in scripts with and without spaces, with accents and empty lines.
    #[test]
    fn a_profile_reusing_an_earlier_one_is_the_profile_from_scratch() {
        let lines = [
            "The minister said on Tuesday that the budget would be cut",
            "",
            "Подписывайтесь на канал, ставьте лайки!",
            "Café déjà vu: the naïve résumé",
            "東京で地震があった。",
            "The minister said on Tuesday that the budget would be cut",
            "!!! ---",
            "Read more",
        ];
        for mask in 0u32..(1 << lines.len()) {
            let kept: Vec<&str> =
                lines.iter().enumerate().filter(|(i, _)| mask & (1 << i) != 0).map(|(_, l)| *l).collect();
            let mut variants = vec![kept.join("\n")];
            if let Some((last, rest)) = kept.split_last() {
                let cut = last.char_indices().nth(last.chars().count() / 2).map_or(0, |(i, _)| i);
                variants.push(rest.iter().copied().chain([last[..cut].trim_end()]).collect::<Vec<_>>().join("\n"));
            }
            let earlier = TextProfile::new(&lines.join("\n"));
            for text in variants {
                let reused = TextProfile::reusing(&text, &earlier);
                let fresh = TextProfile::new(&text);
                assert_eq!(
                    (&reused.text, &reused.words, &reused.lines),
                    (&fresh.text, &fresh.words, &fresh.lines),
                    "{text:?}"
                );
            }
        }
    }

    #[test]
    fn unspaced_scripts_are_read_a_character_at_a_time() {
        let words = |text: &str| TextProfile::new(text).words.len();
        // Han and kana: one word per character, and a Latin word or number among them is one.
        assert_eq!(words("央行宣布降准"), 6);
        assert_eq!(words("iphone15が発売"), 4);
        // Thai: the tone mark written on น is part of its word; the vowel after it is another.
        assert_eq!(words("น้ำ"), 2);
        assert_eq!(words("นำ"), 2);
        // Spaced scripts keep their words whole, Hangul included.
        assert_eq!(words("the central bank"), 3);
        assert_eq!(words("중앙은행 금리 인하"), 3);
        // One changed character changes three shingles, not the whole clause.
        let a = TextProfile::new("中国人民银行周五宣布将于下月起下调金融机构存款准备金率");
        let b = TextProfile::new("中国人民银行周五宣布将於下月起下调金融机构存款准备金率");
        let (sa, _) = a.shingles(&a.lines.iter().collect::<Vec<_>>());
        let (sb, _) = b.shingles(&b.lines.iter().collect::<Vec<_>>());
        let shared = sa.iter().filter(|s| sb.contains(s)).count();
        assert_eq!(sa.len(), 25);
        assert_eq!(shared, 22);
    }

    #[test]
    fn accents_vowel_marks_and_points_are_not_compared() {
        let hash = |text: &str| features(text).fingerprint.content_hash;
        let same = [
            (
                "le député a présenté à l'assemblée un projet déjà très débattu",
                "le depute a presente a l'assemblee un projet deja tres debattu",
            ),
            ("ещё всё решено: её отставка принята", "еще все решено: ее отставка принята"),
            ("η κυβέρνηση ανακοίνωσε νέα μέτρα στην αθήνα", "η κυβερνηση ανακοινωσε νεα μετρα στην αθηνα"),
            // Arabic with its vowel signs and a tatweel, and without.
            ("كَتَبَ الطَّالِبُ الـــدرس", "كتب الطالب الدرس"),
            // Hebrew with points, and without.
            ("שָׁלוֹם עֲלֵיכֶם", "שלום עליכם"),
            // Accents written as separate marks.
            ("cafe\u{301} in zu\u{308}rich", "café in zürich"),
            // German ß as Swiss German writes it.
            ("die straße ist groß", "die strasse ist gross"),
        ];
        for (a, b) in same {
            assert_eq!(hash(a), hash(b), "{a} / {b}");
            assert_eq!(features(a).lead, features(b).lead, "{a} / {b}");
        }
        // й is a letter of its own; Devanagari vowel signs are part of their letters.
        assert_ne!(hash("мой дом"), hash("мои дом"));
        assert_ne!(hash("काम करना"), hash("कम करना"));
        // Hebrew with points is one word per word, not split at the points.
        assert_eq!(TextProfile::new("שָׁלוֹם עֲלֵיכֶם").words.len(), 2);
    }

    const STORY: &str = "the central bank raised its main interest rate by half a point on thursday, \
        the largest increase in more than twenty years.\n\
        officials said inflation had stayed above the target for eleven months in a row and that \
        further increases could follow before the end of the year.\n\
        markets had expected a smaller move, and the currency rose sharply after the announcement.";

    fn features(text: &str) -> Features {
        TextProfile::new(text).features(&Template::default())
    }

    #[test]
    fn punctuation_and_spacing_do_not_change_anything() {
        let a = features("he said: \"go home\" - now, and left the building at once with his friends");
        let b = features("he said 'go home'  now!  and left the building at once with his friends");
        assert_eq!(a, b);
    }

    #[test]
    fn words_of_every_script_are_words() {
        let p = TextProfile::new("москва, 1 дек - риа новости. नमस्ते दुनिया");
        assert_eq!(p.word_count(), 7);
    }

    #[test]
    fn lines_are_hashed_by_their_words() {
        let p = TextProfile::new("subscribe now!\nsome text here\n\nsubscribe, now");
        let h = p.line_hashes();
        // The first and last lines have the same words: one distinct hash for both.
        assert_eq!(h.len(), 2);
    }

    #[test]
    fn exact_hash_sees_every_word_in_order() {
        let a = features(STORY);
        let swapped = STORY.replace("half a point", "a point half");
        assert_ne!(a.fingerprint.content_hash, features(&swapped).fingerprint.content_hash);
        assert_eq!(a.fingerprint.content_hash, features(&STORY.replace('\n', " ")).fingerprint.content_hash);
    }

    #[test]
    fn a_typo_moves_the_fingerprints_a_little_and_another_story_a_lot() {
        let a = features(STORY);
        let typo = features(&STORY.replace("inflation", "inflaton"));
        let other = features(
            "the national football team won its third match in a row on saturday, beating the \
             visitors by two goals to nil in front of a crowd of more than forty thousand people.\n\
             the coach said the players had worked hard all week and deserved the result.",
        );
        let d = |x: u64, y: u64| (x ^ y).count_ones();
        assert!(d(a.fingerprint.simhash, typo.fingerprint.simhash) <= 10);
        assert!(d(a.fingerprint.simhash, other.fingerprint.simhash) > 16);
        // The typo is outside the first 100 characters: the lead does not move at all.
        assert_eq!(a.lead, typo.lead);
        assert!(d(a.lead, other.lead) > 16);
    }

    #[test]
    fn the_lead_skips_a_short_header_and_ignores_what_follows_it() {
        let a = features(STORY);
        let reposted = features(&format!("From our correspondent:\n{STORY}\nmore news every day at our site"));
        let truncated = features(&STORY[..STORY.find('\n').unwrap()]);
        assert_eq!(a.lead, reposted.lead);
        assert_eq!(a.lead, truncated.lead);
    }

    #[test]
    fn template_lines_are_left_out_of_the_content() {
        let footer = "thanks for watching, please like and subscribe to the channel for more news every day";
        let a = TextProfile::new(&format!("{STORY}\n{footer}"));
        let template = Template::learn([&[a.line_hashes()[3]][..], &[a.line_hashes()[3]], &[a.line_hashes()[3]]]);
        assert_eq!(template.len(), 1);
        let with = a.features(&template);
        let plain = features(STORY);
        assert_eq!(with.fingerprint.simhash, plain.fingerprint.simhash);
        assert_eq!(with.sketch.hashes(), plain.sketch.hashes());
        // The exact hash and the word count still cover the whole text.
        assert_ne!(with.fingerprint.content_hash, plain.fingerprint.content_hash);
        assert_eq!(with.word_count, plain.word_count + 15);
    }

    #[test]
    fn a_template_needs_three_items() {
        let two = Template::learn([&[1u32, 2][..], &[1, 3]]);
        assert!(two.is_empty());
        let three = Template::learn([&[1u32, 2][..], &[1, 3], &[1]]);
        assert!(three.contains(1) && !three.contains(2));
    }

    #[test]
    fn short_texts_use_character_grams() {
        // Eleven words: below the word-shingle minimum. One typo moves the fingerprint by a
        // few bits; another sentence moves it by about half of them.
        let a = features("the prime minister resigned on friday after weeks of pressure");
        let b = features("the prime minster resigned on friday after weeks of pressure");
        let c = features("heavy snow closed the main roads into the city on tuesday morning");
        assert!((a.fingerprint.simhash ^ b.fingerprint.simhash).count_ones() <= 12);
        assert!((a.fingerprint.simhash ^ c.fingerprint.simhash).count_ones() >= 20);
    }

    #[test]
    fn empty_text_has_no_content() {
        let f = features("");
        assert_eq!(f.word_count, 0);
        assert_eq!(f.content_words(), 0);
        assert!(f.sketch.hashes().is_empty());
    }
}
