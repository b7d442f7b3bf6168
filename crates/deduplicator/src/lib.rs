//! Clean items to story decisions.
//!
//! This crate owns the question "is this item a repost of a story we already have?", and the
//! answer's explanation. It is plain synchronous code:
//!
//! - [`text`]: an item's folded text → [`TextProfile`] (words, lines) → [`Features`] (the
//!   whole-text and lead simhashes, the exact-text hash, the [`Sketch`]), leaving out the lines
//!   its feed repeats on many items ([`Template`]);
//! - [`simhash`]: our 64-bit simhash (the `simhash` crate is the reference it is measured
//!   against);
//! - [`sketch`] and [`verify`]: a bottom-k sample of an item's shingles, stored with it, and
//!   the containment/resemblance test that confirms a candidate;
//! - [`index`]: the in-memory multi-index hash table that finds fingerprints within a Hamming
//!   radius without scanning;
//! - [`decide`]: the layers (identity, exact, near + verify) that turn an item into a
//!   [`Verdict`].
//!
//! The binary feeds items in order, gives the deduplicator a [`Lookup`] over the store, tells
//! it what was stored, and rebuilds its index from the store at start-up. Which item is a
//! story's canonical one, and all persistence, belong to the store.

pub mod decide;
pub mod index;
pub mod simhash;
pub mod sketch;
pub mod text;
pub mod typo;
pub mod verify;

pub use decide::{
    identity_keys, points_at_document, Candidate, Considered, DedupConfig, Deduplicator, FingerprintKind, IdentityKey,
    Key, Lookup, Stored, Verdict,
};
pub use index::HammingIndex;
pub use sketch::{Comparison, Sketch, SketchError, PHRASE_KEYS, PHRASE_PROBES};
pub use text::{Features, Template, TextProfile};
pub use typo::forgiving_containment;
pub use verify::{verify, verify_found, Check, Found, Outcome};

/// Version of the fingerprint algorithms (the whole-text and lead simhashes and the exact-text
/// hash, including tokenisation and template handling). Stored in the database; a change to
/// any of them must bump it, and the binary recomputes stored fingerprints on upgrade.
/// Version 1 was the `simhash` crate over word 3-shingles of the whole text. Version 3 is
/// version 2 over text folded with its Greek capitals read as the Latin letters they look like
/// (`newsdedup_normaliser::fold`). Version 4 reads scripts written without spaces (Chinese,
/// Japanese, Thai, …) a character at a time. Version 5 folds letters of other scripts that
/// look Latin (Armenian `օ`, Cherokee `Ꮲ`), small capitals and modifier apostrophes. Version 6
/// compares letters without their accents (and `ß` as `ss`) and leaves out Arabic vowel signs,
/// the tatweel and Hebrew points (see `text::comparable`).
pub const FINGERPRINT_VERSION: u32 = 6;

/// Version of the sketch (shingles, hash, sample size and stored form) and of the phrase keys
/// taken from it. Stored in the database next to [`FINGERPRINT_VERSION`], with the same
/// upgrade rule. Version 2 added the phrase keys (`items.phrase_key`, `phrase_key2`): the
/// sketch itself is unchanged, and the upgrade stores the keys of every item. Version 3 has
/// the words of [`FINGERPRINT_VERSION`] 4, version 4 those of version 6.
pub const SKETCH_VERSION: u32 = 4;

/// Computes an item's features with no template (an item seen on its own).
pub fn features(folded_text: &str) -> Features {
    TextProfile::new(folded_text).features(&Template::default())
}
