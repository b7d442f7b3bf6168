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

/// Version of the shape algorithm; bump it whenever [`shape_of`] changes its output.
pub const SHAPE_VERSION: u32 = 1;

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

/// The shape of a folded line. `folded_title` is the item's folded clean title (empty if none).
pub fn shape_of(folded_line: &str, folded_title: &str) -> Shape {
    let mut line = std::borrow::Cow::Borrowed(folded_line);
    if folded_title.chars().count() >= 12 {
        if let Some(at) = folded_line.find(folded_title) {
            let mut replaced = String::with_capacity(folded_line.len());
            replaced.push_str(&folded_line[..at]);
            replaced.push(' ');
            replaced.push_str(TITLE_WORD);
            replaced.push(' ');
            replaced.push_str(&folded_line[at + folded_title.len()..]);
            line = std::borrow::Cow::Owned(replaced);
        }
    }
    let mut hash = Fnv64::new();
    let (mut words, mut letters) = (0u16, 0usize);
    for token in line.split_whitespace() {
        if token == TITLE_WORD {
            add_word(&mut hash, &mut words, TITLE_WORD);
            continue;
        }
        if let Some(host) = link_host(token) {
            letters += host.chars().filter(|c| c.is_alphabetic()).count();
            add_word(&mut hash, &mut words, host);
            continue;
        }
        let mut word = String::new();
        let mut in_digits = false;
        let mut chars = token.chars().peekable();
        while let Some(c) = chars.next() {
            // "1,204", "3.5" and "12'000" are one number.
            if in_digits && matches!(c, ',' | '.' | '\'' | '\u{a0}') && chars.peek().is_some_and(|n| n.is_numeric()) {
                continue;
            }
            if c.is_numeric() {
                if !in_digits {
                    word.push('0');
                }
                in_digits = true;
            } else if c.is_alphanumeric() {
                letters += 1;
                word.push(c);
                in_digits = false;
            } else {
                if !word.is_empty() {
                    add_word(&mut hash, &mut words, &word);
                    word.clear();
                }
                in_digits = false;
            }
        }
        if !word.is_empty() {
            add_word(&mut hash, &mut words, &word);
        }
    }
    Shape { key: hash.finish(), learnable: letters >= 3, words }
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
    let token = token.trim_start_matches(|c: char| !c.is_alphanumeric());
    let rest = token
        .strip_prefix("https://")
        .or_else(|| token.strip_prefix("http://"))
        .or_else(|| token.starts_with("www.").then_some(token))?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = host.strip_prefix("www.").unwrap_or(host);
    let host = host.trim_end_matches(|c: char| !c.is_alphanumeric());
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
        shape_of(&fold_line(line), &fold_line(title)).key
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
    }

    #[test]
    fn prose_keeps_its_words_and_short_lines_are_not_learnable() {
        assert_ne!(key("The minister said the plan was new.", ""), key("The minister said the plan was old.", ""));
        assert!(!shape_of("🔥🔥🔥", "").learnable);
        assert!(!shape_of("2023", "").learnable);
        assert!(shape_of("подписывайтесь", "").learnable);
        assert_eq!(shape_of("one, two three", "").words, 3);
    }
}
