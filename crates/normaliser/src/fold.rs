//! The folded form of text: what fingerprints, exact matching and rule patterns compare.
//!
//! Reposters change text in ways that do not change what it says: no-break and zero-width
//! characters, typographic or straight quotes, en or em dashes, letters swapped for look-alikes
//! from another script, case. Folding maps all of these to one form, so that two copies of an
//! article fold to the same string. The folded form is never shown; `clean_text` keeps the text
//! as the publisher wrote it.
//!
//! Steps: NFKC (compatibility forms, no-break and other odd spaces become plain spaces);
//! format characters removed (zero-width, bidi controls, soft hyphen, word joiner, BOM);
//! lowercase; quotes and dashes unified; look-alike letters inside words of another script
//! folded to that script; whitespace collapsed.

use unicode_normalization::UnicodeNormalization;

/// Folds `text` as described in the module documentation. Line breaks are kept as `\n`.
pub fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        fold_line_into(line, &mut out);
    }
    out
}

/// Folds one line (any `\n` in it is treated as a space).
pub fn fold_line(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    fold_line_into(line, &mut out);
    out
}

fn fold_line_into(line: &str, out: &mut String) {
    let mut simple = String::with_capacity(line.len());
    for c in line.nfkc() {
        if is_format_char(c) {
            continue;
        }
        for lower in c.to_lowercase() {
            simple.push(unify_punctuation(lower));
        }
    }
    let start = out.len();
    let mut first = true;
    for word in simple.split_whitespace() {
        if !first {
            out.push(' ');
        }
        first = false;
        fold_word_into(word, out);
    }
    debug_assert!(out.len() >= start);
}

/// Zero-width and other invisible format characters that carry no text.
pub fn is_format_char(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}' | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{206F}' | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}' | '\u{FFA0}' | '\u{FFF0}'..='\u{FFF8}' | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0000}'..='\u{E0FFF}'
    )
}

fn unify_punctuation(c: char) -> char {
    match c {
        '\u{201C}' | '\u{201D}' | '\u{201E}' | '\u{201F}' | '\u{00AB}' | '\u{00BB}' | '\u{301D}' | '\u{301E}'
        | '\u{FF02}' | '\u{2033}' => '"',
        '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}' | '\u{2039}' | '\u{203A}' | '\u{2032}' | '`' | '\u{00B4}' => {
            '\''
        }
        '\u{2010}' | '\u{2011}' | '\u{2012}' | '\u{2013}' | '\u{2014}' | '\u{2015}' | '\u{2212}' | '\u{2043}'
        | '\u{FE58}' | '\u{FE63}' | '\u{FF0D}' => '-',
        '\u{2026}' => '…',
        c => c,
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Script {
    Latin,
    Cyrillic,
    Greek,
    Other,
}

fn script_of(c: char) -> Script {
    match c {
        'a'..='z' | 'A'..='Z' | '\u{00C0}'..='\u{024F}' => Script::Latin,
        '\u{0400}'..='\u{04FF}' | '\u{0500}'..='\u{052F}' => Script::Cyrillic,
        '\u{0370}'..='\u{03FF}' => Script::Greek,
        _ => Script::Other,
    }
}

/// Lowercase Cyrillic and Greek letters that look like a Latin letter, and that letter.
const TO_LATIN: &[(char, char)] = &[
    ('а', 'a'),
    ('в', 'b'),
    ('е', 'e'),
    ('ё', 'e'),
    ('к', 'k'),
    ('м', 'm'),
    ('н', 'h'),
    ('о', 'o'),
    ('р', 'p'),
    ('с', 'c'),
    ('т', 't'),
    ('у', 'y'),
    ('х', 'x'),
    ('і', 'i'),
    ('ј', 'j'),
    ('ѕ', 's'),
    ('һ', 'h'),
    ('ԁ', 'd'),
    ('ԛ', 'q'),
    ('ԝ', 'w'),
    ('α', 'a'),
    ('β', 'b'),
    ('ε', 'e'),
    ('ι', 'i'),
    ('κ', 'k'),
    ('ν', 'v'),
    ('ο', 'o'),
    ('ρ', 'p'),
    ('τ', 't'),
    ('υ', 'u'),
    ('χ', 'x'),
    ('γ', 'y'),
    ('η', 'n'),
    ('μ', 'u'),
];

/// Lowercase Latin letters that look like a Cyrillic letter, and that letter.
const TO_CYRILLIC: &[(char, char)] = &[
    ('a', 'а'),
    ('b', 'в'),
    ('c', 'с'),
    ('e', 'е'),
    ('h', 'н'),
    ('k', 'к'),
    ('m', 'м'),
    ('o', 'о'),
    ('p', 'р'),
    ('t', 'т'),
    ('x', 'х'),
    ('y', 'у'),
    ('i', 'і'),
];

/// Folds look-alike letters inside one word: when a word mixes Latin with Cyrillic or Greek,
/// the letters of the minority script that have a look-alike in the majority script are
/// replaced by it. A word in one script is left alone.
fn fold_word_into(word: &str, out: &mut String) {
    let (mut latin, mut cyrillic, mut greek) = (0usize, 0usize, 0usize);
    for c in word.chars() {
        match script_of(c) {
            Script::Latin => latin += 1,
            Script::Cyrillic => cyrillic += 1,
            Script::Greek => greek += 1,
            Script::Other => {}
        }
    }
    let scripts = [latin, cyrillic, greek].iter().filter(|n| **n > 0).count();
    if scripts < 2 {
        out.push_str(word);
        return;
    }
    let target = if cyrillic > latin && cyrillic >= greek { Script::Cyrillic } else { Script::Latin };
    for c in word.chars() {
        let s = script_of(c);
        let mapped = match (target, s) {
            (Script::Latin, Script::Cyrillic | Script::Greek) => lookup(TO_LATIN, c),
            (Script::Cyrillic, Script::Latin) => lookup(TO_CYRILLIC, c),
            (Script::Cyrillic, Script::Greek) => lookup(TO_LATIN, c).and_then(|l| lookup(TO_CYRILLIC, l)),
            _ => None,
        };
        out.push(mapped.unwrap_or(c));
    }
}

fn lookup(table: &[(char, char)], c: char) -> Option<char> {
    table.iter().find(|(from, _)| *from == c).map(|(_, to)| *to)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invisible_and_odd_space_characters_fold_away() {
        assert_eq!(fold_line("Hello\u{00A0}\u{00A0}wor\u{200B}ld\u{00AD}s\u{2009}now"), "hello worlds now");
        assert_eq!(fold_line("  spaced   out\t"), "spaced out");
    }

    #[test]
    fn quotes_and_dashes_are_unified() {
        assert_eq!(
            fold_line("“Quote” – ‘single’ — «guillemets» „low“"),
            "\"quote\" - 'single' - \"guillemets\" \"low\""
        );
    }

    #[test]
    fn lookalikes_fold_to_the_word_s_script() {
        // "Prime" with Cyrillic е and р inside.
        assert_eq!(fold_line("Priмe Miniѕter"), "prime minister");
        assert_eq!(fold_line("Рrimе"), "prime");
        // A Russian word with Latin o and a inside.
        assert_eq!(fold_line("прoдажa"), "продажа");
        // Whole words in one script are untouched.
        assert_eq!(fold_line("Москва London"), "москва london");
    }

    #[test]
    fn nfkc_compatibility_forms() {
        assert_eq!(fold_line("ﬁnance Ｆｕｌｌ ①"), "finance full 1");
    }

    #[test]
    fn lines_are_kept() {
        assert_eq!(fold("A\nB  c"), "a\nb c");
    }
}
