//! The shape of a line: the key under which learned templates count it.
//!
//! A feed's footer is the same line in every item, give or take what changes from item to
//! item: a number, a date, a link to the item itself, the item's own title ("The post TITLE
//! appeared first on SITE"), the emoji in front. The shape keeps the words and drops those
//! variations, so that every copy of one footer line has one shape while two different
//! sentences of prose almost never do:
//!
//! - the folded line (see [`crate::fold`]) is the starting point;
//! - the item's own folded title, when the line contains it, becomes one placeholder word;
//! - a link (`http://…`, `https://…`, `www.…`) becomes its host, without `www.`;
//! - every number (a run of digits, with any `,` `.` `'` between them) becomes `0`;
//! - everything that is not a letter or a digit (punctuation, emoji, symbols) separates words.
//!
//! The key is a 64-bit FNV-1a hash of the resulting words. Keys are stored in the database, so
//! this algorithm is versioned by [`SHAPE_VERSION`]: changing it means rebuilding the stored
//! statistics (`newsdedup reprocess` does).
//!
//! Some footers keep a frame and change words inside it from item to item: "Posted in
//! Business | Tagged oil, shares", "Рубрика: Культура | Метки: театр", "Episode 12 · 5 Apr".
//! No two of them share a shape, so a line also has [frames](frames_of): its first one, two or
//! three words together with its skeleton of separators (`:`, `|`, `·`, `/`, brackets, a lone
//! dash, …; list commas left out, so that two tags and five share it). A frame that recurs
//! across a feed's stories is a footer whatever fills it. Frames are made only for short lines
//! that do not end like a sentence, and are trusted only at an item's edges (see the crate
//! root), since the first words of prose recur too.

use crate::{chars, fold};
/// Version of the shape algorithm; bump it whenever [`shape_of`] or [`frames_of`] changes
/// its output (or the folding they read changes). Version 4: lines are folded with their Greek
/// capitals read as the Latin letters they look like. Version 5: the title as the feed gave it
/// is a placeholder too (see [`OwnTitle`]). Version 6: folding reads the letters of other
/// scripts that look Latin, small capitals and modifier apostrophes.
pub const SHAPE_VERSION: u32 = 6;

/// A line's shape key and whether it carries enough words to be learned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Shape {
    pub key: u64,
    /// Lines with fewer than three letters (emoji, separators, bare numbers) are left to the
    /// rule packs: as shapes they would all look alike.
    pub learnable: bool,
    /// Words in the shaped line.
    pub words: u16,
}

/// The word that stands for the item's own title inside a line.
const TITLE_WORD: &str = "\u{1}title";

/// The item's own title, folded, as it may be cited in its lines: cleaned, and as the feed
/// gave it. A footer that cites the title cites it whole ("This article “WATCH: Storm hits |
/// Daily” was first published on …"), decoration and all, and the decoration is the item's,
/// not the footer's.
#[derive(Debug, Clone, Copy, Default)]
pub struct OwnTitle<'a> {
    /// The folded clean title; empty if none or too short to look for.
    clean: &'a str,
    /// The folded title as the feed gave it; empty if none, too short, or the same as `clean`.
    raw: &'a str,
}

/// A title shorter than this many characters is not looked for in lines: a few words are in
/// many lines without being cited there.
const TITLE_MIN_CHARS: usize = 12;

impl<'a> OwnTitle<'a> {
    /// The title of an item: folded `clean`, and folded `raw` as the feed gave it. Settled
    /// once per item, so that each line only looks for what is worth looking for.
    pub fn new(clean: &'a str, raw: &'a str) -> OwnTitle<'a> {
        let usable = |t: &'a str| if t.chars().count() >= TITLE_MIN_CHARS { t } else { "" };
        OwnTitle { clean: usable(clean), raw: if raw == clean { "" } else { usable(raw) } }
    }
}

/// The shape of a folded line of an item with `title`.
pub fn shape_of(folded_line: &str, title: OwnTitle<'_>) -> Shape {
    shape_of_placed(&with_title_placeholder(folded_line, title), &mut String::new())
}

/// [`shape_of`] and [`frames_of`] together, looking for the title in the line once.
pub fn shape_and_frames(folded_line: &str, title: OwnTitle<'_>) -> (Shape, Frames) {
    let line = with_title_placeholder(folded_line, title);
    // One buffer for the words of both, made large enough for most words at once.
    let mut word = String::with_capacity(64);
    (shape_of_placed(&line, &mut word), frames_of_placed(folded_line, &line, &mut word))
}

/// The shape of a folded line with its title placeholder in place. `word` is a scratch buffer.
fn shape_of_placed(line: &str, word: &mut String) -> Shape {
    let mut hash = Fnv64::new();
    let (mut words, mut letters) = (0u16, 0usize);
    for token in fold::words(line) {
        if token == TITLE_WORD {
            add_word(&mut hash, &mut words, TITLE_WORD);
            continue;
        }
        if let Some(host) = link_host(token) {
            letters += host.chars().filter(|c| chars::is_alphabetic(*c)).count();
            add_word(&mut hash, &mut words, host);
            continue;
        }
        split_token(token, word, |part| match part {
            Part::Word { text, letters: n } => {
                letters += n;
                add_word(&mut hash, &mut words, text);
            }
            Part::Other(_) => {}
        });
    }
    Shape { key: hash.finish(), learnable: letters >= 3, words }
}

/// The most words a line may have to get frames: footers of this kind are short.
pub const FRAME_MAX_WORDS: usize = 20;

/// The frame keys of a line (none, or up to [`MAX_FRAMES`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Frames {
    keys: [u64; MAX_FRAMES],
    len: u8,
}

/// Frames per line: the label (first word and the separator after it), the first two words,
/// the first three words, each with the line's skeleton.
pub const MAX_FRAMES: usize = 3;

impl Frames {
    pub fn keys(&self) -> &[u64] {
        &self.keys[..usize::from(self.len)]
    }

    fn push(&mut self, key: u64) {
        if usize::from(self.len) < MAX_FRAMES && !self.keys().contains(&key) {
            self.keys[usize::from(self.len)] = key;
            self.len += 1;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// A piece of a line for frames: a word (as in shapes; where it is in a buffer holding the
/// line's words, so that words are not allocated one by one) or a separator.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Word(std::ops::Range<usize>),
    Sep(char),
}

/// Separators that make a line's skeleton. Commas and semicolons separate the items of a
/// list whose length varies, so they are left out; a dash counts only standing alone.
fn is_frame_separator(c: char) -> bool {
    matches!(c, ':' | '|' | '·' | '•' | '/' | '»' | '›' | '→' | '(' | ')' | '[' | ']' | '∙' | '⋅' | '‧')
}

/// The frames of a folded line (see the module docs) of an item with `title`.
pub fn frames_of(folded_line: &str, title: OwnTitle<'_>) -> Frames {
    frames_of_placed(folded_line, &with_title_placeholder(folded_line, title), &mut String::new())
}

/// The frames of `folded_line`, given also with its title placeholder in place (`line`).
/// `word` is a scratch buffer.
fn frames_of_placed(folded_line: &str, line: &str, word: &mut String) -> Frames {
    let mut frames = Frames::default();
    if ends_like_a_sentence(folded_line) || holds_a_sentence(folded_line) {
        return frames;
    }
    let mut pieces: Vec<Piece> = Vec::new();
    let mut text = String::with_capacity(line.len());
    let mut add = |word: &str| {
        text.push_str(word);
        Piece::Word(text.len() - word.len()..text.len())
    };
    for token in fold::words(line) {
        if token == TITLE_WORD {
            pieces.push(add(TITLE_WORD));
            continue;
        }
        if token == "-" {
            pieces.push(Piece::Sep('-'));
            continue;
        }
        if let Some(host) = link_host(token) {
            pieces.push(add(host));
            continue;
        }
        split_token(token, word, |part| match part {
            Part::Word { text, .. } => pieces.push(add(text)),
            Part::Other(c) if is_frame_separator(c) => pieces.push(Piece::Sep(c)),
            Part::Other(_) => {}
        });
    }
    let words: Vec<&str> = pieces
        .iter()
        .filter_map(|p| match p {
            Piece::Word(at) => Some(&text[at.clone()]),
            Piece::Sep(_) => None,
        })
        .collect();
    if words.len() < 2 || words.len() > FRAME_MAX_WORDS || words.iter().map(|w| w.chars().count()).sum::<usize>() < 4 {
        return frames;
    }
    let mut skeleton: Vec<char> = Vec::new();
    for p in &pieces {
        if let Piece::Sep(c) = p {
            if skeleton.last() != Some(c) {
                skeleton.push(*c);
            }
        }
    }
    let key = |kind: &str, prefix: &[&str]| {
        let mut hash = Fnv64::new();
        hash.write(b"\x02frame ");
        hash.write(kind.as_bytes());
        for w in prefix {
            hash.write(b" ");
            hash.write(w.as_bytes());
        }
        hash.write(b" \x03");
        let mut buf = [0u8; 4];
        for c in &skeleton {
            hash.write(c.encode_utf8(&mut buf).as_bytes());
        }
        hash.finish()
    };
    // A label: one word and a separator right after it ("Tags: …", "Episode · …").
    if matches!(pieces.get(1), Some(Piece::Sep(_))) && matches!(pieces.first(), Some(Piece::Word(_))) {
        frames.push(key("1", &words[..1]));
    }
    frames.push(key("2", &words[..2]));
    if words.len() >= 4 {
        frames.push(key("3", &words[..3]));
    }
    frames
}

/// True when the line ends with a sentence's final punctuation (past closing quotes and
/// brackets) and has more than a few words: prose, not a footer's frame.
fn ends_like_a_sentence(folded_line: &str) -> bool {
    let end = folded_line.trim_end_matches(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | ')' | ']'));
    end.ends_with(['.', '!', '?', '…']) && fold::words(folded_line).nth(4).is_some()
}

/// A piece of a token, as [`split_token`] hands it out.
enum Part<'a> {
    /// A run of letters and digits, every number in it written `0`; `letters` counts the
    /// letters (not the digits) it had.
    Word { text: &'a str, letters: usize },
    /// A character that is neither a letter nor a digit (it ends the word before it).
    Other(char),
}

/// Splits one whitespace-separated token into words and the characters between them, the
/// way both shapes and frames see a line: "1,204", "3.5" and "12'000" are one number, and
/// every number is the word `0`. `word` is a scratch buffer.
fn split_token(token: &str, word: &mut String, mut each: impl FnMut(Part<'_>)) {
    word.clear();
    let mut letters = 0;
    let mut in_digits = false;
    let mut chars = token.chars().peekable();
    while let Some(c) = chars.next() {
        if in_digits && matches!(c, ',' | '.' | '\'' | '\u{a0}') && chars.peek().is_some_and(|n| chars::is_numeric(*n))
        {
            continue;
        }
        if chars::is_numeric(c) {
            if !in_digits {
                word.push('0');
            }
            in_digits = true;
        } else if chars::is_alphanumeric(c) {
            letters += 1;
            word.push(c);
            in_digits = false;
        } else {
            if !word.is_empty() {
                each(Part::Word { text: word, letters });
                word.clear();
                letters = 0;
            }
            in_digits = false;
            each(Part::Other(c));
        }
    }
    if !word.is_empty() {
        each(Part::Word { text: word, letters });
    }
}

/// True when a sentence ends inside the line with words on both sides of it ("Moscow, 11 Oct -
/// Reuters. The parliament passed …"): prose cut short, as an excerpt is, not a footer's frame.
fn holds_a_sentence(folded_line: &str) -> bool {
    // Counted, then walked again, rather than collected.
    let count = fold::words(folded_line).count();
    fold::words(folded_line).enumerate().any(|(i, w)| {
        let ends = w.trim_end_matches(['"', '\'', ')', ']', '»', '”']).ends_with(['.', '!', '?', '…']);
        ends && i + 1 >= 4 && count - (i + 1) >= 6 && w.chars().filter(|c| chars::is_alphabetic(*c)).count() >= 3
    })
}

/// The line with the item's own title replaced by one placeholder word: the title as the feed
/// gave it if the line holds it (it holds the clean one too, most of the time), else the clean
/// title.
fn with_title_placeholder<'a>(folded_line: &'a str, title: OwnTitle<'_>) -> std::borrow::Cow<'a, str> {
    for folded_title in [title.raw, title.clean] {
        // A line shorter than the title cannot hold it: many are, and `find` would prepare
        // its search of the title before looking at the line.
        if folded_title.is_empty() || folded_line.len() < folded_title.len() {
            continue;
        }
        if let Some(at) = folded_line.find(folded_title) {
            let mut replaced = String::with_capacity(folded_line.len());
            replaced.push_str(&folded_line[..at]);
            replaced.push(' ');
            replaced.push_str(TITLE_WORD);
            replaced.push(' ');
            replaced.push_str(&folded_line[at + folded_title.len()..]);
            return std::borrow::Cow::Owned(replaced);
        }
    }
    std::borrow::Cow::Borrowed(folded_line)
}

fn add_word(hash: &mut Fnv64, words: &mut u16, word: &str) {
    if *words > 0 {
        hash.write(b" ");
    }
    hash.write(word.as_bytes());
    *words = words.saturating_add(1);
}

/// The host of a token that is a link (`https://host/…`, `www.host/…`), without `www.`.
fn link_host(token: &str) -> Option<&str> {
    let token = token.trim_start_matches(|c: char| !chars::is_alphanumeric(c));
    let rest = token
        .strip_prefix("https://")
        .or_else(|| token.strip_prefix("http://"))
        .or_else(|| token.starts_with("www.").then_some(token))?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = host.strip_prefix("www.").unwrap_or(host);
    let host = host.trim_end_matches(|c: char| !chars::is_alphanumeric(c));
    (!host.is_empty()).then_some(host)
}

/// FNV-1a, 64-bit: stable across releases and platforms, which stored keys need.
struct Fnv64(u64);

impl Fnv64 {
    fn new() -> Fnv64 {
        Fnv64(0xcbf2_9ce4_8422_2325)
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fold::fold_line;

    fn key(line: &str, title: &str) -> u64 {
        shape_of(&fold_line(line), OwnTitle::new(&fold_line(title), "")).key
    }

    #[test]
    fn footers_that_vary_in_numbers_links_and_emoji_share_a_shape() {
        assert_eq!(key("👉 Join us: @wirewatch", ""), key("📌 Join us — @wirewatch!", ""));
        assert_eq!(key("© 2023 Daily Example. Views: 1,204", ""), key("© 2024 Daily Example. Views: 87", ""));
        assert_eq!(
            key("Read the full story: https://example.org/2024/03/a-story?id=4", ""),
            key("Read the full story: https://www.example.org/other/slug", "")
        );
        assert_ne!(
            key("Read the full story: https://example.org/a", ""),
            key("Read the full story: https://other.net/a", "")
        );
    }

    #[test]
    fn the_item_s_own_title_is_a_placeholder() {
        let a = key(
            "The post Storm hits the coast at dawn appeared first on Daily Example.",
            "Storm hits the coast at dawn",
        );
        let b = key(
            "The post Bank holds rates for a third month appeared first on Daily Example.",
            "Bank holds rates for a third month",
        );
        assert_eq!(a, b);
        // The title as the feed gave it, decoration and all, when the line cites it so.
        let raw = |line: &str, clean: &str, raw: &str| {
            shape_of(&fold_line(line), OwnTitle::new(&fold_line(clean), &fold_line(raw))).key
        };
        let c = raw(
            "This article “WATCH: Gamers could drive high definition” was first published on Daily Example.",
            "Gamers could drive high definition",
            "WATCH: Gamers could drive high definition",
        );
        let d = raw(
            "This article “Hodges announces retirement | The Brief” was first published on Daily Example.",
            "Hodges announces retirement",
            "Hodges announces retirement | The Brief",
        );
        let e = raw(
            "This article “Bank holds rates for a third month” was first published on Daily Example.",
            "Bank holds rates for a third month",
            "",
        );
        assert_eq!(c, d);
        assert_eq!(c, e);
        // A line that cites the clean title only still gets the placeholder.
        let f = raw(
            "This article “Gamers could drive high definition” was first published on Daily Example.",
            "Gamers could drive high definition",
            "WATCH: Gamers could drive high definition",
        );
        assert_eq!(c, f);
    }

    fn frames(line: &str, title: &str) -> Vec<u64> {
        frames_of(&fold_line(line), OwnTitle::new(&fold_line(title), "")).keys().to_vec()
    }

    fn share_a_frame(a: &str, b: &str) -> bool {
        let fb = frames(b, "");
        frames(a, "").iter().any(|k| fb.contains(k))
    }

    #[test]
    fn footers_with_words_that_vary_share_a_frame() {
        for (a, b) in [
            ("Posted in Business | Tagged oil, shares, opec", "Posted in Sport | Tagged tennis"),
            ("Рубрика: Культура | Метки: театр, кино", "Рубрика: Экономика | Метки: рубль"),
            ("Episode 12 · 5 Apr", "Episode 131 · 19 May"),
            ("Schlagwörter: Wahl, Bundestag", "Schlagwörter: Fußball"),
        ] {
            assert!(share_a_frame(a, b), "{a} / {b}");
            assert_ne!(key(a, ""), key(b, ""), "shapes alone cannot tell: {a}");
        }
        // Other frames, other skeletons.
        assert!(!share_a_frame("Posted in Business | Tagged oil", "Posted in Business · 5 Apr"));
        assert!(!share_a_frame("Tags: oil, shares", "Topics: oil, shares"));
    }

    #[test]
    fn sentences_and_tiny_lines_have_no_frames() {
        assert!(frames("The minister said: the plan will work.", "").is_empty());
        assert!(frames("«Мы готовы к переговорам», - заявил министр.", "").is_empty());
        assert!(frames("Tags", "").is_empty());
        assert!(frames("a b", "").is_empty());
        let long = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen \
                    sixteen seventeen eighteen nineteen twenty twentyone";
        assert!(frames(long, "").is_empty());
        // A short line without a final stop has frames, even a title-like one.
        assert_eq!(frames("Bank opts to leave rates on hold", "").len(), 2);
        assert_eq!(frames("Tags: oil, shares", "").len(), 2);
    }

    #[test]
    fn an_excerpt_cut_after_its_first_sentence_has_no_frames() {
        // A dateline and the start of the story, cut mid-sentence: prose, however it ends.
        let excerpt = "Paris, 3 Oct - AFP. The national assembly voted late on Tuesday to extend the";
        assert!(frames(excerpt, "").is_empty());
        assert!(frames("Киев, 5 мар - Интерфакс. Верховная рада приняла во втором чтении закон о", "").is_empty());
        // Abbreviations and a footer's short sentence keep their frames.
        assert!(!frames("Filed under World | Dr. Smith, oil, shares", "").is_empty());
        assert!(!frames("Posted in World News. Tagged: oil, shares", "").is_empty());
    }

    #[test]
    fn prose_keeps_its_words_and_short_lines_are_not_learnable() {
        assert_ne!(key("The minister said the plan was new.", ""), key("The minister said the plan was old.", ""));
        assert!(!shape_of("🔥🔥🔥", OwnTitle::default()).learnable);
        assert!(!shape_of("2023", OwnTitle::default()).learnable);
        assert!(shape_of("подписывайтесь", OwnTitle::default()).learnable);
        assert_eq!(shape_of("one, two three", OwnTitle::default()).words, 3);
    }
}
