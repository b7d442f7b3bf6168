//! The folded form of text: what fingerprints, exact matching, rule patterns and learned
//! templates compare.
//!
//! Reposters change text in ways that do not change what it says: no-break, thin and
//! zero-width characters, typographic or straight quotes, en or em dashes, letters swapped for
//! look-alikes from another script, case. Folding maps all of these to one form, so that two
//! copies of an article fold to the same string. The folded form is never shown; `clean_text`
//! keeps the text as the publisher wrote it.
//!
//! Steps: NFKC (compatibility forms; no-break, thin, ideographic and other odd spaces become
//! plain spaces); format characters removed (zero-width, bidi controls, soft hyphen, word
//! joiner, BOM, variation selectors); lowercase; styled Latin letters NFKC leaves alone (small
//! capitals, script g) made plain; quotes, modifier apostrophes and dashes unified; look-alike
//! letters inside a word that mixes Latin, Cyrillic and Greek folded to the word's own script;
//! whitespace collapsed.
//!
//! Look-alikes come from Unicode TR39's confusables (the `unicode-security` crate's
//! skeletons): a letter of the minority script is replaced by the letter of the word's script
//! that has the same skeleton. Only words that mix scripts are touched, and the result stays
//! in the word's script (a Latin word with a Cyrillic `е` becomes all Latin; a Russian word
//! with a Latin `o` becomes all Cyrillic), so that rule patterns written in plain lowercase
//! still match. TR39 treats a few pairs as distinct that are alike in lowercase in common fonts
//! and are used the same way (Cyrillic к м н т в for k m h t b, Greek κ τ η χ ε β); those are
//! added by hand and take precedence.
//!
//! A capital is judged by its own form, not by its lowercase: Greek `Ν`, `Η` and `Υ` stand for
//! Latin N, H and Y, while their lowercase `ν`, `η` and `υ` look like v, n and u. Lowercasing
//! comes first, so the capitals that have a Latin twin are noted as they are read (see
//! [`latin_twin_of_capital`]). Letters of scripts our texts are not written in that look
//! like Latin ones (Armenian `օ`, Cherokee `Ꮲ`, Coptic, Lisu; see [`stand_in_twins`]) fold the
//! same way inside a Latin, Cyrillic or Greek word; words of those scripts are left as they
//! are. An apostrophe between letters does not end a word's run:
//! "Britain'ѕ" is one word that mixes scripts, and its `ѕ` folds to Latin.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::OnceLock;
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

/// The words of a folded line (or of a folded line with words put in): a folded line holds
/// no whitespace but single spaces between words, so splitting at the space byte finds the
/// words `split_whitespace` would, without classifying every character.
pub fn words(folded: &str) -> impl Iterator<Item = &str> {
    // A plain loop over the bytes: words are short, and `split(' ')` pays for a `memchr` call
    // per word.
    let mut rest = folded;
    std::iter::from_fn(move || {
        let start = rest.bytes().position(|b| b != b' ')?;
        let len = rest.bytes().skip(start).position(|b| b == b' ').unwrap_or(rest.len() - start);
        let word = &rest[start..start + len];
        rest = &rest[start + len..];
        Some(word)
    })
}

fn fold_line_into(line: &str, out: &mut String) {
    // ASCII is already in NFKC, has no format characters and no letters of the other scripts:
    // only case, the backtick and whitespace change.
    // A byte at a time: the ASCII characters `char::is_whitespace` names are tab to carriage
    // return (vertical tab and form feed included) and the space.
    if line.is_ascii() {
        let start = out.len();
        let mut space = false;
        for b in line.bytes() {
            if matches!(b, b'\t'..=b'\r' | b' ') {
                space = out.len() > start;
                continue;
            }
            if space {
                out.push(' ');
                space = false;
            }
            out.push(unify_punctuation(char::from(b.to_ascii_lowercase())));
        }
        return;
    }
    // One scratch buffer per thread: every line of every item passes through here.
    thread_local! {
        static SIMPLE: RefCell<String> = const { RefCell::new(String::new()) };
    }
    SIMPLE.with_borrow_mut(|simple| {
        simple.clear();
        fold_unicode_line_into(line, simple, out);
        if simple.capacity() > 1 << 16 {
            *simple = String::new();
        }
    });
}

fn fold_unicode_line_into(line: &str, simple: &mut String, out: &mut String) {
    // Most text is already in NFKC; checking is much cheaper than normalising, and the check
    // for plain starters is made on the way, so that a line made of them is read once.
    let mut words = Words::default();
    let all_starters = line.chars().all(|c| {
        let starter = crate::chars::is_nfkc_starter(c);
        if starter {
            words.push(c, simple);
        }
        starter
    });
    if !all_starters {
        simple.clear();
        words = Words::default();
        if unicode_normalization::is_nfkc_quick(line.chars()) == unicode_normalization::IsNormalized::Yes {
            line.chars().for_each(|c| words.push(c, simple));
        } else {
            line.nfkc().for_each(|c| words.push(c, simple));
        }
    }
    words.end_word();
    // Only a word that mixes scripts needs the per-letter work; most lines have none.
    if !words.any_mixed {
        out.push_str(simple);
        return;
    }
    // Letters are counted here, for the few lines that need them: every character of the
    // buffer but the spaces was pushed as a letter or not, by the same script test.
    let mut letters = [0usize; 3];
    for c in simple.chars() {
        if let Some(i) = SCRIPTS.iter().position(|s| *s == script_of(c)) {
            letters[i] += 1;
        }
    }
    // The line's main script settles words that could be read either way.
    let line_script = (0..3).max_by_key(|i| (letters[*i], usize::from(*i == 0))).unwrap_or(0);
    let mut at = 0;
    for (i, word) in simple.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        if mixes_scripts(word) {
            fold_word_into(word, Marks { at, capitals: &words.capitals }, line_script, out);
        } else {
            out.push_str(word);
        }
        at += word.len() + 1;
    }
}

/// The first steps of folding a non-ASCII line, one character at a time: format characters
/// dropped, lowercase, punctuation unified, words separated by one space, noting whether the
/// look-alike step is needed.
#[derive(Default)]
struct Words {
    /// The scripts (one bit each) of the word being read.
    word_scripts: u8,
    /// Some word has letters of two scripts.
    any_mixed: bool,
    /// Whitespace came after the last word: a space goes before the next one.
    space: bool,
    /// Capitals with a Latin twin, lowercased into the buffer: their byte offset in it and
    /// the Latin letter they stand for in a Latin word.
    capitals: Vec<(usize, char)>,
}

impl Words {
    fn push(&mut self, c: char, simple: &mut String) {
        if c.is_ascii() {
            let lower = unify_punctuation(c.to_ascii_lowercase());
            self.push_folded(lower, simple);
            return;
        }
        // Most non-ASCII text here is Russian, in the basic Cyrillic letters: not whitespace,
        // format characters nor punctuation, and the capitals are 32 code points below their
        // lowercase, so none of the tests below is needed for them.
        if let 'а'..='я' | 'А'..='Я' = c {
            let lower = if c < 'а' { char::from_u32(u32::from(c) + 0x20).unwrap_or(c) } else { c };
            self.push_letter(lower, Script::Cyrillic, simple);
            return;
        }
        if is_format_char(c) {
            return;
        }
        // The blank Braille pattern is used as an invisible space.
        if c == '\u{2800}' {
            self.push_folded(' ', simple);
        } else if let Some(latin) = latin_twin_of_capital(c) {
            let lower = c.to_lowercase().next().unwrap_or(c);
            self.push_letter(lower, script_of(lower), simple);
            self.capitals.push((simple.len() - lower.len_utf8(), latin));
        } else if let Some(plain) = plain_latin(c) {
            self.push_letter(plain, Script::Latin, simple);
        } else if crate::chars::is_own_lowercase(c) {
            self.push_folded(unify_punctuation(c), simple);
        } else {
            c.to_lowercase().for_each(|lower| self.push_folded(unify_punctuation(lower), simple));
        }
    }

    /// Adds one character of the folded text.
    fn push_folded(&mut self, c: char, simple: &mut String) {
        if c.is_whitespace() {
            self.end_word();
            self.space = !simple.is_empty();
            return;
        }
        self.push_letter(c, script_of(c), simple);
    }

    /// Adds one character of the folded text that is not whitespace, of the given script.
    fn push_letter(&mut self, c: char, script: Script, simple: &mut String) {
        if self.space {
            simple.push(' ');
            self.space = false;
        }
        if script != Script::Other {
            self.word_scripts |= 1 << script as u8;
        }
        simple.push(c);
    }

    fn end_word(&mut self) {
        self.any_mixed |= is_mixed(self.word_scripts);
        self.word_scripts = 0;
    }
}

/// Whether a word with letters of these scripts (one bit each, by `Script as u8`) mixes
/// scripts: two of Latin, Cyrillic and Greek, or one of them and a stand-in letter.
fn is_mixed(scripts: u8) -> bool {
    const MAIN: u8 = 1 << Script::Latin as u8 | 1 << Script::Cyrillic as u8 | 1 << Script::Greek as u8;
    scripts & MAIN != 0 && scripts.count_ones() >= 2
}

/// True when the word mixes scripts (see [`is_mixed`]).
fn mixes_scripts(word: &str) -> bool {
    let mut seen = 0u8;
    for c in word.chars() {
        match script_of(c) {
            Script::Other => {}
            s => seen |= 1 << s as u8,
        }
    }
    is_mixed(seen)
}

/// Zero-width and other invisible format characters that carry no text: soft hyphen,
/// zero-width space and joiners, bidi marks and controls, word joiner and invisible operators,
/// variation selectors, BOM, Hangul fillers, interlinear annotation and shorthand format
/// controls, tags.
pub fn is_format_char(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}' | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{206F}' | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}' | '\u{FFA0}' | '\u{FFF0}'..='\u{FFFB}' | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}' | '\u{E0000}'..='\u{E0FFF}'
    )
}

/// Typographic quotes become `"` or `'`, every dash and minus `-`.
pub fn unify_punctuation(c: char) -> char {
    // The backtick is the one ASCII character to unify: the rest of ASCII skips the match.
    if c.is_ascii() {
        return if c == '`' { '\'' } else { c };
    }
    match c {
        '\u{201C}' | '\u{201D}' | '\u{201E}' | '\u{201F}' | '\u{00AB}' | '\u{00BB}' | '\u{301D}' | '\u{301E}'
        | '\u{301F}' | '\u{FF02}' | '\u{2033}' | '\u{2036}' | '\u{02EE}' | '\u{275D}' | '\u{275E}' | '\u{276E}'
        | '\u{276F}' | '\u{2E42}' => '"',
        '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}' | '\u{2039}' | '\u{203A}' | '\u{2032}' | '\u{2035}' | '`'
        | '\u{00B4}' | '\u{02BB}' | '\u{02BC}' | '\u{02BD}' | '\u{275B}' | '\u{275C}' => '\'',
        '\u{2010}' | '\u{2011}' | '\u{2012}' | '\u{2013}' | '\u{2014}' | '\u{2015}' | '\u{2212}' | '\u{2043}'
        | '\u{2796}' | '\u{2E3A}' | '\u{2E3B}' | '\u{FE58}' | '\u{FE63}' | '\u{FF0D}' => '-',
        c => c,
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Script {
    Latin,
    Cyrillic,
    Greek,
    /// A letter of a script our texts are not written in (Armenian, Cherokee, Coptic, Lisu)
    /// that looks like a Latin letter: inside a word of the three scripts it can only be a
    /// stand-in (see [`stand_in_twins`]).
    StandIn,
    Other,
}

const SCRIPTS: [Script; 3] = [Script::Latin, Script::Cyrillic, Script::Greek];

fn script_of(c: char) -> Script {
    match c {
        'a'..='z' | 'A'..='Z' => Script::Latin,
        '\u{00C0}'..='\u{024F}' if c != '\u{00D7}' && c != '\u{00F7}' => Script::Latin,
        '\u{1E00}'..='\u{1EFF}' => Script::Latin,
        '\u{0400}'..='\u{052F}' => Script::Cyrillic,
        '\u{0370}'..='\u{03FF}' | '\u{1F00}'..='\u{1FFF}' => Script::Greek,
        c if is_stand_in_script(c) && stand_in_twins().contains_key(&c) => Script::StandIn,
        _ => Script::Other,
    }
}

/// Armenian, Cherokee (capitals and small letters), Coptic and Lisu: scripts with letters that
/// are written like Latin ones.
const STAND_IN_RANGES: [(char, char); 5] = [
    ('\u{0531}', '\u{058F}'),
    ('\u{13A0}', '\u{13FF}'),
    ('\u{AB70}', '\u{ABBF}'),
    ('\u{2C80}', '\u{2CFF}'),
    ('\u{A4D0}', '\u{A4FF}'),
];

fn is_stand_in_script(c: char) -> bool {
    STAND_IN_RANGES.iter().any(|&(a, b)| (a..=b).contains(&c))
}

/// The Latin letter (lowercase) that each letter of the stand-in scripts is written like, by
/// TR39: Armenian `օ` is o and `ս` is u, Cherokee `Ꮲ` is P (its lowercase `ꮲ` too, by its
/// capital: folding lowercases first), Lisu `ꓳ` is O. Letters with no Latin twin are left out.
fn stand_in_twins() -> &'static HashMap<char, char> {
    static TABLE: OnceLock<HashMap<char, char>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut twins = HashMap::new();
        for c in STAND_IN_RANGES.iter().flat_map(|&(a, b)| a..=b) {
            let twin = std::iter::once(c).chain(c.to_uppercase()).find_map(|form| {
                let mut buf = [0; 4];
                let mut sk = unicode_security::skeleton(form.encode_utf8(&mut buf));
                match (sk.next(), sk.next()) {
                    (Some(l), None) if l.is_ascii_alphabetic() => Some(l.to_ascii_lowercase()),
                    _ => None,
                }
            });
            if let Some(latin) = twin {
                twins.insert(c, latin);
            }
        }
        twins
    })
}

/// The plain Latin letter of a styled one that NFKC leaves alone: small capitals (`ꜱᴜʙꜱᴄʀɪʙᴇ`)
/// and the Latin alpha, script g and iota (`ɑ`, `ɡ`, `ɩ`). They are written in phonetic
/// transcription, never in news prose, where they can only be a styled or doctored letter.
fn plain_latin(c: char) -> Option<char> {
    Some(match c {
        '\u{1D00}' | '\u{0251}' => 'a',
        '\u{0299}' => 'b',
        '\u{1D04}' => 'c',
        '\u{1D05}' => 'd',
        '\u{1D07}' => 'e',
        '\u{A730}' => 'f',
        '\u{0262}' | '\u{0261}' => 'g',
        '\u{029C}' => 'h',
        '\u{026A}' | '\u{0269}' => 'i',
        '\u{1D0A}' => 'j',
        '\u{1D0B}' => 'k',
        '\u{029F}' => 'l',
        '\u{1D0D}' => 'm',
        '\u{0274}' => 'n',
        '\u{1D0F}' => 'o',
        '\u{1D18}' => 'p',
        '\u{A7AF}' => 'q',
        '\u{0280}' => 'r',
        '\u{A731}' => 's',
        '\u{1D1B}' => 't',
        '\u{1D1C}' => 'u',
        '\u{1D20}' => 'v',
        '\u{1D21}' => 'w',
        '\u{028F}' => 'y',
        '\u{1D22}' => 'z',
        _ => return None,
    })
}

/// The Latin letter (lowercase) that a Greek or Cyrillic capital is written like, for the
/// capitals whose Latin twin is another letter than their lowercase's, or which have no
/// lowercase twin at all (`Ν` is N, `ν` looks like v). Capitals whose lowercase folds to the
/// same Latin letter (Cyrillic `Т` and `т`) need no entry.
fn latin_twin_of_capital(c: char) -> Option<char> {
    Some(match c {
        '\u{0396}' => 'z', // Ζ
        '\u{0397}' => 'h', // Η
        '\u{039C}' => 'm', // Μ
        '\u{039D}' => 'n', // Ν
        '\u{03A5}' => 'y', // Υ
        _ => return None,
    })
}

/// Where a word of the folded buffer starts in it, and the capitals noted in the buffer (see
/// [`latin_twin_of_capital`]).
#[derive(Clone, Copy)]
struct Marks<'a> {
    at: usize,
    capitals: &'a [(usize, char)],
}

impl Marks<'_> {
    /// The Latin twin of the capital that became the letter `offset` bytes into the word.
    fn capital_at(&self, offset: usize) -> Option<char> {
        self.capitals.iter().find(|(at, _)| *at == self.at + offset).map(|(_, latin)| *latin)
    }
}

/// Look-alike pairs TR39 does not list (or lists with another prototype) that are alike in
/// lowercase in common fonts: (letter, script it belongs to, look-alike in the other script).
const EXTRA_LOOKALIKES: &[(char, char)] = &[
    ('к', 'k'),
    ('м', 'm'),
    ('н', 'h'),
    ('т', 't'),
    ('в', 'b'),
    ('κ', 'k'),
    ('τ', 't'),
    ('η', 'n'),
    ('χ', 'x'),
    ('ε', 'e'),
    ('β', 'b'),
];

/// For each script, a map from a letter of another script to its look-alike in this one.
struct Lookalikes {
    to: HashMap<(Script, char), char>,
}

fn lookalikes() -> &'static Lookalikes {
    static TABLE: OnceLock<Lookalikes> = OnceLock::new();
    TABLE.get_or_init(build_lookalikes)
}

fn skeleton(c: char) -> String {
    unicode_security::skeleton(c.encode_utf8(&mut [0; 4])).collect()
}

/// Lowercase letters of the three scripts that can stand for one another.
fn candidate_letters(script: Script) -> Vec<char> {
    let ranges: &[(u32, u32)] = match script {
        Script::Latin => &[(0x61, 0x7A)],
        Script::Cyrillic => &[(0x0430, 0x045F), (0x0461, 0x0481), (0x048B, 0x04FF), (0x0501, 0x052F)],
        Script::Greek => &[(0x03B1, 0x03C9), (0x03F2, 0x03F3)],
        Script::StandIn | Script::Other => &[],
    };
    ranges
        .iter()
        .flat_map(|&(a, b)| (a..=b).filter_map(char::from_u32))
        .filter(|c| c.is_lowercase() && script_of(*c) == script)
        .collect()
}

fn build_lookalikes() -> Lookalikes {
    let mut to = HashMap::new();
    // The hand-made pairs first, so they win over TR39's prototypes.
    for &(other, latin) in EXTRA_LOOKALIKES {
        to.insert((Script::Latin, other), latin);
        if script_of(other) == Script::Cyrillic {
            to.insert((Script::Cyrillic, latin), other);
        }
    }
    let letters: Vec<(Script, char, String)> = SCRIPTS
        .iter()
        .flat_map(|&s| candidate_letters(s).into_iter().map(move |c| (s, c)))
        .map(|(s, c)| (s, c, skeleton(c)))
        .collect();
    for &target in &SCRIPTS {
        // The first (lowest) letter of the target script for each skeleton.
        let mut by_skeleton: HashMap<&str, char> = HashMap::new();
        for (s, c, sk) in &letters {
            if *s == target {
                by_skeleton.entry(sk.as_str()).or_insert(*c);
            }
        }
        for (s, c, sk) in &letters {
            if *s == target {
                continue;
            }
            if let Some(&look) = by_skeleton.get(sk.as_str()) {
                to.entry((target, *c)).or_insert(look);
            }
        }
    }
    // A stand-in letter is its Latin twin in a Latin word, and that twin's look-alike in a
    // Cyrillic or Greek one (Armenian `օ` is Latin o, so Cyrillic о).
    for (&c, &latin) in stand_in_twins() {
        to.insert((Script::Latin, c), latin);
        for target in [Script::Cyrillic, Script::Greek] {
            if let Some(&look) = to.get(&(target, latin)) {
                to.insert((target, c), look);
            }
        }
    }
    Lookalikes { to }
}

/// Folds look-alike letters inside one word. Letters are judged per run (so "Москва-city"
/// keeps both halves); a run that mixes scripts is folded to its own script: the script with
/// more letters that have no look-alike in the others (those cannot be substitutes), then the
/// line's main script, then the one with more letters, then Latin.
fn fold_word_into(word: &str, marks: Marks<'_>, line_script: usize, out: &mut String) {
    let table = lookalikes();
    let mut rest = word;
    while !rest.is_empty() {
        let end = run_end(rest);
        let (run, after) = rest.split_at(end);
        let at = marks.at + (word.len() - rest.len());
        fold_run_into(run, Marks { at, ..marks }, line_script, table, out);
        let sep_end = after.find(char::is_alphabetic).unwrap_or(after.len());
        out.push_str(&after[..sep_end]);
        rest = &after[sep_end..];
    }
}

/// The length of the run of letters that `text` starts with; an apostrophe between two
/// letters is part of it ("britain's", "l'état").
fn run_end(text: &str) -> usize {
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c.is_alphabetic() {
            continue;
        }
        let joins = c == '\'' && i > 0 && chars.peek().is_some_and(|(_, next)| next.is_alphabetic());
        if !joins {
            return i;
        }
    }
    text.len()
}

/// The look-alike of `c` in script `target`, if it has one: a noted capital's Latin twin, or
/// the table's letter.
fn lookalike_in(table: &Lookalikes, target: Script, c: char, capital: Option<char>) -> Option<char> {
    match capital {
        Some(latin) if target == Script::Latin => Some(latin),
        _ => table.to.get(&(target, c)).copied(),
    }
}

fn fold_run_into(run: &str, marks: Marks<'_>, line_script: usize, table: &Lookalikes, out: &mut String) {
    let mut counts = [(0usize, 0usize); 3];
    let mut present = [false; 3];
    let mut stand_in = false;
    for c in run.chars() {
        match script_of(c) {
            Script::StandIn => stand_in = true,
            s => {
                if let Some(i) = SCRIPTS.iter().position(|t| *t == s) {
                    present[i] = true;
                }
            }
        }
    }
    let scripts = present.iter().filter(|p| **p).count();
    if scripts == 0 || scripts + usize::from(stand_in) < 2 {
        out.push_str(run);
        return;
    }
    for (k, c) in run.char_indices() {
        let Some(i) = SCRIPTS.iter().position(|s| *s == script_of(c)) else { continue };
        counts[i].1 += 1;
        let capital = marks.capital_at(k);
        let substitutable = SCRIPTS
            .iter()
            .enumerate()
            .any(|(j, t)| j != i && present[j] && lookalike_in(table, *t, c, capital).is_some());
        if !substitutable {
            counts[i].0 += 1;
        }
    }
    let target = (0..3)
        .filter(|i| present[*i])
        .max_by_key(|i| (counts[*i].0, usize::from(*i == line_script), counts[*i].1, usize::from(*i == 0)));
    let target = SCRIPTS[target.unwrap_or(0)];
    for (k, c) in run.char_indices() {
        let s = script_of(c);
        if s != target && s != Script::Other {
            out.push(lookalike_in(table, target, c, marks.capital_at(k)).unwrap_or(c));
        } else {
            out.push(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invisible_and_odd_space_characters_fold_away() {
        assert_eq!(fold_line("Hello\u{00A0}\u{00A0}wor\u{200B}ld\u{00AD}s\u{2009}now"), "hello worlds now");
        assert_eq!(fold_line("  spaced   out\t"), "spaced out");
        // Ideographic space, narrow no-break space, word joiner, figure space.
        assert_eq!(fold_line("a\u{3000}b\u{202F}c\u{2060}d\u{2007}e"), "a b cd e");
        // Interlinear annotation, shorthand format and tag characters, and an invisible
        // Hangul filler, inside words.
        assert_eq!(fold_line("bre\u{FFF9}ak\u{FFFB}ing ne\u{1BCA1}ws\u{E0041} to\u{3164}day"), "breaking news today");
    }

    #[test]
    fn quotes_and_dashes_are_unified() {
        assert_eq!(
            fold_line("“Quote” – ‘single’ — «guillemets» „low“"),
            "\"quote\" - 'single' - \"guillemets\" \"low\""
        );
        // A plain ASCII line takes a shorter path to the same result.
        assert_eq!(fold_line("Don`t  STOP\x0b now"), "don't stop now");
    }

    #[test]
    fn lookalikes_fold_to_the_word_s_script() {
        // "Prime Minister" with Cyrillic м, р, ѕ inside.
        assert_eq!(fold_line("Priмe Miniѕter"), "prime minister");
        assert_eq!(fold_line("Рrimе"), "prime");
        // A Russian word with Latin o and a inside.
        assert_eq!(fold_line("прoдажa"), "продажа");
        // Latin h, k, t standing for Cyrillic н, к, т.
        assert_eq!(fold_line("hовости Mосквы"), "новости москвы");
        // Greek omicron and alpha inside an English word.
        assert_eq!(fold_line("grοwth mαrket"), "growth market");
        // Whole words in one script are untouched, and so are runs joined by a hyphen.
        assert_eq!(fold_line("Москва London Москва-city"), "москва london москва-city");
    }

    #[test]
    fn capitals_fold_by_their_own_form() {
        // Greek capitals that are Latin N, H, Y, M, Z, though their lowercase is not.
        assert_eq!(fold_line("Νew Ηouse in Υork, Μinister of Ζealand"), "new house in york, minister of zealand");
        // Their lowercase keeps its own look-alike: ν is v, η is n, υ is u.
        assert_eq!(fold_line("gοοd νiew οf the sυη"), "good view of the sun");
        // Greek text is Greek: nothing to fold.
        assert_eq!(fold_line("ΝΕΑ ΥΟΡΚΗ Μύθος"), "νεα υορκη μύθος");
    }

    #[test]
    fn letters_of_other_scripts_that_look_latin_fold_inside_a_word() {
        // Armenian օ and ս, a Cherokee capital P, a Coptic and a Lisu letter inside Latin words.
        assert_eq!(fold_line("Pօlice sսspect ᏢOLICE ⲣolice ꓑolice"), "police suspect police police police");
        // In a Russian word, the Armenian օ is the Cyrillic о.
        assert_eq!(fold_line("Пօлиция"), "полиция");
        // An Armenian word, alone or beside a Latin one, is Armenian.
        assert_eq!(fold_line("Հայաստան iPhone Հայաստանը"), "հայաստան iphone հայաստանը");
    }

    #[test]
    fn styled_latin_letters_are_plain_ones() {
        assert_eq!(fold_line("ꜱᴜʙꜱᴄʀɪʙᴇ ᴛᴏ ᴍʏ ᴄʜᴀɴɴᴇʟ"), "subscribe to my channel");
        assert_eq!(fold_line("ɡood ɑrrest"), "good arrest");
    }

    #[test]
    fn modifier_apostrophes_and_ornamental_quotes_are_unified() {
        // Ukrainian writes its apostrophe as a modifier letter, or as a typographic or plain one.
        assert_eq!(fold_line("мʼясо"), fold_line("м'ясо"));
        assert_eq!(fold_line("м’ясо"), fold_line("м'ясо"));
        assert_eq!(fold_line("❝quote❞ ❛x❜ a⸺b"), "\"quote\" 'x' a-b");
    }

    #[test]
    fn an_apostrophe_joins_a_word_s_letters() {
        assert_eq!(fold_line("Britain'ѕ economy"), "britain's economy");
        assert_eq!(fold_line("Britain’ѕ economy"), "britain's economy");
        // A hyphen still separates two words of two scripts, and a lone apostrophe is no letter.
        assert_eq!(fold_line("Москва-city 'ѕ"), "москва-city 'ѕ");
    }

    #[test]
    fn a_doctored_copy_folds_like_the_original() {
        for (doctored, original) in [
            ("ехсеllеnt rеsults", "excellent results"),
            ("рaбота и прoдажи", "работа и продажи"),
            ("Сompаny ѕhаrеѕ", "Company shares"),
            ("ΝΑΤO Μinisters sаy thеy'rе rеаdy", "NATO Ministers say they're ready"),
            ("Τhе Ηοuse οf Cοmmοns Ζoο", "The House of Commons Zoo"),
        ] {
            assert_eq!(fold_line(doctored), fold_line(original), "{doctored}");
        }
    }

    #[test]
    fn nfkc_compatibility_forms() {
        assert_eq!(fold_line("ﬁnance Ｆｕｌｌ ①"), "finance full 1");
    }

    /// Folding as it was written before the single-pass version: every character into a
    /// buffer, then the buffer split at whitespace and each word looked at again.
    fn reference_fold_line(line: &str) -> String {
        let mut simple = String::new();
        let mut letters = [0usize; 3];
        let mut capitals = Vec::new();
        let mut push = |c: char, simple: &mut String| {
            if is_format_char(c) {
                return;
            }
            let c = if c == '\u{2800}' { ' ' } else { plain_latin(c).unwrap_or(c) };
            if let Some(latin) = latin_twin_of_capital(c) {
                capitals.push((simple.len(), latin));
            }
            for lower in c.to_lowercase() {
                if let Some(i) = SCRIPTS.iter().position(|s| *s == script_of(lower)) {
                    letters[i] += 1;
                }
                simple.push(unify_punctuation(lower));
            }
        };
        if unicode_normalization::is_nfkc_quick(line.chars()) == unicode_normalization::IsNormalized::Yes {
            line.chars().for_each(|c| push(c, &mut simple));
        } else {
            line.nfkc().for_each(|c| push(c, &mut simple));
        }
        let any_non_latin_letter =
            letters[1] + letters[2] > 0 || simple.chars().any(|c| script_of(c) == Script::StandIn);
        let line_script = (0..3).max_by_key(|i| (letters[*i], usize::from(*i == 0))).unwrap_or(0);
        let mut out = String::new();
        for (i, word) in simple.split_whitespace().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            if any_non_latin_letter && mixes_scripts(word) {
                let at = word.as_ptr() as usize - simple.as_ptr() as usize;
                fold_word_into(word, Marks { at, capitals: &capitals }, line_script, &mut out);
            } else {
                out.push_str(word);
            }
        }
        out
    }

    #[test]
    fn single_pass_folding_agrees_with_the_reference() {
        let tricky = [
            "Prime Minister",
            "Priмe Miniѕter",
            "прoдажa",
            "hовости Mосквы",
            "grοwth mαrket",
            "Москва London Москва-city",
            "ﬁnance Ｆｕｌｌ ①",
            "Ⅻ ㎏ ＡＢＣ",
            "e\u{301}te\u{301} cafe\u{301}",
            "Ὀδυσσεύς ΣΊΣΥΦΟΣ",
            "\u{2800}\u{2800}Привет\u{2800}мир\u{2800}",
            "  \u{00A0}\u{200B} ",
            "\u{200B}слово\u{00AD}\u{FEFF}",
            "İstanbul ΑΘΗΝΑ",
            "a\u{3000}b\u{202F}c\u{2060}d\u{2007}e",
            "«Цитата» — „Zitat“ – ‘x’",
            "\tx\u{0085}y\u{2028}z\u{1680}w ",
            "ǅemal ǈ ǋ",
            "ﬀ ﬃ ẞ",
            "Ｐрｏдажа",
            "\u{0301}начало",
            "ΜΑΡΚΕΤ mαrkеt маrket",
            "Νew Ηouse Υork Μinister Ζealand νew ηouse",
            "Britain'ѕ Britain’ѕ l'état д'Артаньян 'ѕ x'",
            "ΝΑΤΟ ΝΑΤO Ν'Η ЅΗΙΡ",
            "Pօlice sսspect ᏢOLICE ꜱᴜʙꜱᴄʀɪʙᴇ Пօлиция Հայաստան ⲣolice ꓑolice мʼясо",
            "",
        ];
        for line in tricky {
            assert_eq!(fold_line(line), reference_fold_line(line), "{line:?}");
        }
        // The ASCII path: every control character and the whitespace ones among them.
        let ascii: String = (0u8..128).map(char::from).collect();
        for line in [ascii.as_str(), " \x0b\x0c\x1c\x1fA`B\r\n C ", "\t", "x\x00y", "Don`t  STOP\x0b now "] {
            assert_eq!(fold_line(line), reference_fold_line(line), "{line:?}");
        }
        // Random lines from an alphabet of letters of the three scripts, their capitals,
        // look-alikes, compatibility forms, combining marks, format characters and spaces.
        let alphabet: Vec<char> = "aAeEoOpPcCxXkKmMhHtTbBnNyYzZ0123 .,-—«»“”`´'’ \t\n\u{00A0}\u{2009}\u{3000}\u{2800}\
                                   аАеЕоОрРсСхХкКмМнНтТвВуУёЁѕіјӏ ΑαΕεΟοΡρΚκΜμΗηΤτΒβΧχΝνΥυΖζΣσςΊΐ\
                                   \u{200B}\u{200D}\u{00AD}\u{FEFF}\u{FE0F}\u{FFFA}\u{1BCA0}\u{0301}\u{0308}ﬁＡｂ①Ⅻ㎏ǅẞİ🔥\
                                   օսհՕꮲᏢⲣꓑրꜱᴜᴀɡɑʼ❝❞"
            .chars()
            .collect();
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..20_000 {
            let len = (next() % 24) as usize;
            let line: String = (0..len).map(|_| alphabet[(next() % alphabet.len() as u64) as usize]).collect();
            assert_eq!(fold_line(&line), reference_fold_line(&line), "{line:?}");
        }
    }

    #[test]
    fn only_the_backtick_is_unified_in_ascii() {
        for c in (0u8..128).map(char::from) {
            assert_eq!(unify_punctuation(c), if c == '`' { '\'' } else { c }, "{c:?}");
        }
    }

    #[test]
    fn basic_cyrillic_letters_fold_as_the_standard_library_says() {
        for c in ('А'..='я').chain(['Ё', 'ё', 'Ѐ', 'ѐ', 'Ӏ', 'ӏ']) {
            let lower: String = c.to_lowercase().collect();
            assert_eq!(fold_line(&format!("{c}ж")), format!("{lower}ж"), "{c}");
            assert_eq!(fold_line(&format!("{c}ж")), reference_fold_line(&format!("{c}ж")), "{c}");
        }
    }

    #[test]
    fn folded_words_are_the_whitespace_separated_ones() {
        for line in ["", "  ", "a", " Hello\u{00A0} wor\u{2009}ld\t", "Москва\u{3000}\u{2800}London  x", "\u{1}title x"]
        {
            let folded = fold_line(line);
            assert!(words(&folded).eq(folded.split_whitespace()), "{line:?}");
        }
        assert!(words(" a  \u{1}title  b ").eq(["a", "\u{1}title", "b"]));
    }

    #[test]
    fn lines_are_kept() {
        assert_eq!(fold("A\nB  c"), "a\nb c");
    }
}
