//! Character classes the cleaner asks about for every character of every line, answered from a
//! table for the scripts news is mostly written in.
//!
//! `char::is_alphabetic` and friends answer ASCII at once but search Unicode's tables for any
//! other character: on Cyrillic, Greek or accented Latin text that search was a large share of
//! the cleaning time. This table is filled from the standard library's own answers on first
//! use, for every code point below [`TABLE_END`] (Latin, Greek, Cyrillic, Armenian, Hebrew,
//! Arabic, the Indic scripts, general punctuation); above it the standard library answers. The
//! answers are therefore always the standard library's, which stored shapes and keys rely on.

use std::sync::LazyLock;

/// Code points below this are answered from the table (12 KiB).
const TABLE_END: usize = 0x3000;

const ALPHABETIC: u8 = 1;
const NUMERIC: u8 = 2;
const LOWERCASE: u8 = 4;
const UPPERCASE: u8 = 8;
/// `to_lowercase` gives the character itself.
const OWN_LOWERCASE: u8 = 16;
/// Allowed in NFKC and a starter (combining class 0).
const NFKC_STARTER: u8 = 32;

static TABLE: LazyLock<Box<[u8; TABLE_END]>> = LazyLock::new(|| {
    let mut table = Box::new([0u8; TABLE_END]);
    for (i, entry) in table.iter_mut().enumerate() {
        let Some(c) = u32::try_from(i).ok().and_then(char::from_u32) else { continue };
        for (yes, bit) in [
            (c.is_alphabetic(), ALPHABETIC),
            (c.is_numeric(), NUMERIC),
            (c.is_lowercase(), LOWERCASE),
            (c.is_uppercase(), UPPERCASE),
            (c.to_lowercase().eq([c]), OWN_LOWERCASE),
            (nfkc_starter(c), NFKC_STARTER),
        ] {
            if yes {
                *entry |= bit;
            }
        }
    }
    table
});

/// Whether `c` has the class `bit`: for ASCII by `ascii`, in the table by its bit, beyond the
/// table by `beyond` (the standard library's own test).
#[inline]
fn has(c: char, bit: u8, ascii: impl FnOnce(char) -> bool, beyond: impl FnOnce(char) -> bool) -> bool {
    if c.is_ascii() {
        return ascii(c);
    }
    TABLE.get(c as usize).map_or_else(|| beyond(c), |k| k & bit != 0)
}

/// [`char::is_alphabetic`].
#[inline]
pub fn is_alphabetic(c: char) -> bool {
    has(c, ALPHABETIC, |c| c.is_ascii_alphabetic(), char::is_alphabetic)
}

/// [`char::is_numeric`].
#[inline]
pub fn is_numeric(c: char) -> bool {
    has(c, NUMERIC, |c| c.is_ascii_digit(), char::is_numeric)
}

/// [`char::is_alphanumeric`].
#[inline]
pub fn is_alphanumeric(c: char) -> bool {
    has(c, ALPHABETIC | NUMERIC, |c| c.is_ascii_alphanumeric(), char::is_alphanumeric)
}

/// [`char::is_lowercase`].
#[inline]
pub fn is_lowercase(c: char) -> bool {
    has(c, LOWERCASE, |c| c.is_ascii_lowercase(), char::is_lowercase)
}

/// [`char::is_uppercase`].
#[inline]
pub fn is_uppercase(c: char) -> bool {
    has(c, UPPERCASE, |c| c.is_ascii_uppercase(), char::is_uppercase)
}

/// True when [`char::to_lowercase`] gives `c` itself: most letters of lowercase text, digits,
/// punctuation. Callers skip the case mapping's search for those.
#[inline]
pub fn is_own_lowercase(c: char) -> bool {
    has(c, OWN_LOWERCASE, |c| !c.is_ascii_uppercase(), |c| c.to_lowercase().eq([c]))
}

fn nfkc_starter(c: char) -> bool {
    unicode_normalization::is_nfkc_quick(std::iter::once(c)) == unicode_normalization::IsNormalized::Yes
        && unicode_normalization::char::canonical_combining_class(c) == 0
}

/// True when `c` is allowed unchanged in NFKC and combines with nothing before it: text made
/// only of such characters is in NFKC, which is what `is_nfkc_quick` would find more slowly.
#[inline]
pub fn is_nfkc_starter(c: char) -> bool {
    has(c, NFKC_STARTER, |_| true, nfkc_starter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_answer_is_the_standard_library_s() {
        // The table's range, the fallback beyond it, and the edges between.
        for c in (0..0x3_2000).filter_map(char::from_u32).chain(['\u{10FFFF}', '\u{E0041}']) {
            assert_eq!(is_alphabetic(c), c.is_alphabetic(), "{c:?}");
            assert_eq!(is_numeric(c), c.is_numeric(), "{c:?}");
            assert_eq!(is_alphanumeric(c), c.is_alphanumeric(), "{c:?}");
            assert_eq!(is_lowercase(c), c.is_lowercase(), "{c:?}");
            assert_eq!(is_uppercase(c), c.is_uppercase(), "{c:?}");
            assert_eq!(is_own_lowercase(c), c.to_lowercase().eq([c]), "{c:?}");
            assert_eq!(is_nfkc_starter(c), nfkc_starter(c), "{c:?}");
        }
    }
}
