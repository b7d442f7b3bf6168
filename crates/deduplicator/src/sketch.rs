//! The per-item sketch that verification compares: a bottom-k sample of the content's
//! shingles, stored with the item.
//!
//! A bottom-k sketch keeps the `k` smallest of an item's distinct 32-bit shingle hashes. Its
//! useful property: it holds *every* shingle of the item whose hash is at most its largest
//! kept hash (its threshold). So two sketches cut at the smaller of their two thresholds are
//! two complete, equally-sampled subsets of the two items' shingles, and everything a pair of
//! shingle sets can tell is estimated from them without bias: resemblance (shared / all) and
//! containment (shared / the smaller item's), which is what recognises a truncated repost or a
//! summary inside the full story. A text with at most `k` shingles is kept whole, so short
//! texts are compared exactly.
//!
//! Besides the sample, the sketch keeps the item's distinct line hashes (so a feed's template
//! can be learned from its stored items without re-reading their text), the number of
//! distinct content shingles and the number of content words, and the smallest hashes of its
//! longer phrases, from which its phrase keys and probes come (see [`Sketch::phrase_keys`]).
//!
//! Stored form (little-endian): version byte, shingles u32, content words u32, line count u16,
//! line hashes u32 each, sample count u16, sample hashes u32 each in increasing order; from
//! format 2 on, phrase count u8 and phrase hashes u32 each in increasing order (a format 1
//! sketch reads as one without phrases).

/// Hashes kept per item: 128 of them (512 bytes). Measured on the dev corpus: 64 already
/// verifies as well as the exact shingle sets do except for short summaries of long stories,
/// where the longer item's threshold leaves the summary only a couple of sampled shingles;
/// 128 halves that gap and costs 256 more bytes per item.
pub const SKETCH_SIZE: usize = 128;

/// Phrase keys per item: the smallest hashes of its five-word phrases, by which other items
/// find it whatever their fingerprints say (see [`Sketch::phrase_keys`]).
pub const PHRASE_KEYS: usize = 2;

/// Phrase hashes an item keeps and looks up among stored items' phrase keys (see
/// [`Sketch::phrase_probes`]).
pub const PHRASE_PROBES: usize = 8;

/// Line hashes kept per item, at most: enough for any footer; a text with more lines keeps
/// its first ones.
const MAX_LINES: usize = 512;

/// Format version of the stored form (the first byte).
const FORMAT: u8 = 2;

/// An item's sketch. See the module documentation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sketch {
    /// Distinct content shingles of the item (the size of the set the sample is drawn from).
    pub shingles: u32,
    /// Words of the content (the text without its feed's template lines).
    pub content_words: u32,
    lines: Vec<u32>,
    hashes: Vec<u32>,
    /// The [`PHRASE_PROBES`] smallest distinct hashes of the content's longer phrases
    /// (`text::PHRASE_WORDS` words), in increasing order.
    phrases: Vec<u32>,
}

/// Why a stored sketch could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SketchError {
    #[error("sketch is truncated")]
    Truncated,
    #[error("sketch has format version {0}, this build reads 1 to {FORMAT}")]
    Version(u8),
    #[error("sketch hashes are not in increasing order")]
    Unordered,
}

impl Sketch {
    /// Builds the sketch of an item from its content shingle hashes (repeats allowed), the
    /// number of content words and its distinct line hashes.
    pub fn from_shingles(shingles: &[u64], content_words: u32, lines: Vec<u32>) -> Sketch {
        // The high half of a mixed 64-bit hash is as good as any 32 bits of it.
        let mut hashes: Vec<u32> = shingles.iter().map(|h| (h >> 32) as u32).collect();
        hashes.sort_unstable();
        hashes.dedup();
        let distinct = hashes.len() as u32;
        hashes.truncate(SKETCH_SIZE);
        let mut lines = lines;
        lines.truncate(MAX_LINES);
        Sketch { shingles: distinct, content_words, lines, hashes, phrases: Vec::new() }
    }

    /// The sketch with these phrase hashes (distinct, in increasing order; only the first
    /// [`PHRASE_PROBES`] are kept).
    pub fn with_phrases(mut self, mut phrases: Vec<u32>) -> Sketch {
        debug_assert!(phrases.windows(2).all(|w| w[0] < w[1]));
        phrases.truncate(PHRASE_PROBES);
        self.phrases = phrases;
        self
    }

    /// The sampled hashes, in increasing order.
    pub fn hashes(&self) -> &[u32] {
        &self.hashes
    }

    /// The item's phrase keys: the [`PHRASE_KEYS`] smallest hashes of its longer phrases.
    ///
    /// Simhash is an estimate of resemblance, and the reposts it loses are the ones whose
    /// resemblance is low although their text is the story's: paragraphs moved and some cut,
    /// or a long repost of a summary. Their phrase *sets* still overlap almost entirely, and
    /// the smallest hash of a set is the classic witness of that (min-hashing): when the later
    /// item's [`PHRASE_PROBES`] smallest hashes are looked up among stored items' keys, a
    /// stored text that holds nearly all of the later one shares its smallest hash with it,
    /// and a stored summary of a longer later text has its smallest hashes among the longer
    /// text's first few with high probability (for a summary of 40% of the text, 98% for eight
    /// probes). The phrases are longer than the sketch's shingles because the smallest hash of
    /// a set of three-word phrases is often a phrase that half the stories hold ("one of
    /// the"): a key every item shares finds every item. What a lookup finds is only a
    /// candidate: verification decides.
    pub fn phrase_keys(&self) -> &[u32] {
        &self.phrases[..self.phrases.len().min(PHRASE_KEYS)]
    }

    /// The hashes this item looks stored items up with: its [`PHRASE_PROBES`] smallest.
    pub fn phrase_probes(&self) -> &[u32] {
        &self.phrases
    }

    /// True when a decision on `later` looks `earlier` up by its phrase keys: one of
    /// `earlier`'s keys is among `later`'s probes.
    pub fn probes_find(later: &Sketch, earlier: &Sketch) -> bool {
        earlier.phrase_keys().iter().any(|k| later.phrase_probes().binary_search(k).is_ok())
    }

    /// The item's distinct line hashes (all lines, template ones included).
    pub fn lines(&self) -> &[u32] {
        &self.lines
    }

    /// True when the sample is the whole shingle set.
    pub fn is_complete(&self) -> bool {
        self.hashes.len() as u32 == self.shingles
    }

    /// Every shingle hash at most this value is in the sample.
    pub fn threshold(&self) -> u32 {
        if self.is_complete() {
            u32::MAX
        } else {
            self.hashes.last().copied().unwrap_or(u32::MAX)
        }
    }

    /// The stored form.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(14 + 4 * (self.lines.len() + self.hashes.len() + self.phrases.len()));
        out.push(FORMAT);
        out.extend_from_slice(&self.shingles.to_le_bytes());
        out.extend_from_slice(&self.content_words.to_le_bytes());
        out.extend_from_slice(&(self.lines.len() as u16).to_le_bytes());
        for h in &self.lines {
            out.extend_from_slice(&h.to_le_bytes());
        }
        out.extend_from_slice(&(self.hashes.len() as u16).to_le_bytes());
        for h in &self.hashes {
            out.extend_from_slice(&h.to_le_bytes());
        }
        out.push(self.phrases.len() as u8);
        for h in &self.phrases {
            out.extend_from_slice(&h.to_le_bytes());
        }
        out
    }

    /// Reads the stored form.
    pub fn from_bytes(bytes: &[u8]) -> Result<Sketch, SketchError> {
        let mut r = Reader(bytes);
        let version = r.take::<1>()?[0];
        if version != FORMAT && version != 1 {
            return Err(SketchError::Version(version));
        }
        let shingles = u32::from_le_bytes(r.take()?);
        let content_words = u32::from_le_bytes(r.take()?);
        let n = u16::from_le_bytes(r.take()?) as usize;
        let lines = (0..n).map(|_| r.take().map(u32::from_le_bytes)).collect::<Result<Vec<_>, _>>()?;
        let n = u16::from_le_bytes(r.take()?) as usize;
        let hashes = (0..n).map(|_| r.take().map(u32::from_le_bytes)).collect::<Result<Vec<_>, _>>()?;
        let phrases = if version == 1 {
            Vec::new()
        } else {
            let n = r.take::<1>()?[0] as usize;
            (0..n).map(|_| r.take().map(u32::from_le_bytes)).collect::<Result<Vec<_>, _>>()?
        };
        if hashes.windows(2).any(|w| w[0] >= w[1])
            || hashes.len() as u32 > shingles
            || phrases.windows(2).any(|w| w[0] >= w[1])
            || phrases.len() > PHRASE_PROBES
        {
            return Err(SketchError::Unordered);
        }
        Ok(Sketch { shingles, content_words, lines, hashes, phrases })
    }
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], SketchError> {
        if self.0.len() < N {
            return Err(SketchError::Truncated);
        }
        let (head, rest) = self.0.split_at(N);
        self.0 = rest;
        Ok(head.try_into().expect("split at N"))
    }
}

/// What two sketches say about the two items' shingle sets.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Comparison {
    /// Shared shingles over the smaller item's shingles: 1.0 when the smaller text (a
    /// truncation, a summary) is wholly inside the larger.
    pub containment: f64,
    /// Shared shingles over all shingles of both (Jaccard resemblance).
    pub resemblance: f64,
    /// Estimated number of shared shingles (containment times the smaller item's shingles).
    pub shared: f64,
    /// Shingles of the smaller item (all of them, not just the sampled ones).
    pub smaller: u32,
    /// Sampled shingles of the smaller item that the comparison looked at.
    pub sampled: u32,
    /// Of those, how many the other item has too.
    pub sampled_shared: u32,
}

/// Compares two sketches (see the module documentation for why this is unbiased).
pub fn compare(a: &Sketch, b: &Sketch) -> Comparison {
    let tau = a.threshold().min(b.threshold());
    let a_cut = &a.hashes[..a.hashes.partition_point(|&h| h <= tau)];
    let b_cut = &b.hashes[..b.hashes.partition_point(|&h| h <= tau)];
    let (mut i, mut j, mut shared) = (0, 0, 0u32);
    while i < a_cut.len() && j < b_cut.len() {
        match a_cut[i].cmp(&b_cut[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                shared += 1;
                i += 1;
                j += 1;
            }
        }
    }
    // "Smaller" by the true sizes; ties go to `a` so the result does not depend on order.
    let (small, small_cut) = if a.shingles <= b.shingles { (a, a_cut) } else { (b, b_cut) };
    let union = a_cut.len() + b_cut.len() - shared as usize;
    let containment = if small_cut.is_empty() { 0.0 } else { f64::from(shared) / small_cut.len() as f64 };
    Comparison {
        containment,
        resemblance: if union == 0 { 0.0 } else { f64::from(shared) / union as f64 },
        shared: containment * f64::from(small.shingles),
        smaller: small.shingles,
        sampled: small_cut.len() as u32,
        sampled_shared: shared,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hashes(range: std::ops::Range<u64>) -> Vec<u64> {
        range.map(|i| crate::text::fmix64(i.wrapping_mul(0x9e37_79b9_7f4a_7c15))).collect()
    }

    fn sketch(range: std::ops::Range<u64>) -> Sketch {
        Sketch::from_shingles(&hashes(range), 0, Vec::new())
    }

    #[test]
    fn round_trips_through_bytes() {
        let s = Sketch::from_shingles(&hashes(0..500), 510, vec![7, 9, 3]).with_phrases(vec![2, 5, 11]);
        assert_eq!(s.hashes().len(), SKETCH_SIZE);
        assert_eq!(s.shingles, 500);
        assert_eq!(Sketch::from_bytes(&s.to_bytes()).unwrap(), s);
        let bytes = s.to_bytes();
        assert_eq!(Sketch::from_bytes(&bytes[..bytes.len() - 1]), Err(SketchError::Truncated));
        let mut wrong = bytes.clone();
        wrong[0] = 99;
        assert_eq!(Sketch::from_bytes(&wrong), Err(SketchError::Version(99)));
        // Phrases out of order are damage, not a sketch.
        let mut swapped = bytes.clone();
        let at = bytes.len() - 8;
        swapped[at..].copy_from_slice(&[11, 0, 0, 0, 5, 0, 0, 0]);
        assert_eq!(Sketch::from_bytes(&swapped), Err(SketchError::Unordered));
    }

    #[test]
    fn a_format_1_sketch_reads_without_phrases() {
        let s = Sketch::from_shingles(&hashes(0..50), 60, vec![4]);
        let mut old = s.to_bytes();
        old[0] = 1;
        old.pop(); // no phrase count in format 1
        let read = Sketch::from_bytes(&old).unwrap();
        assert_eq!(read, s);
        assert!(read.phrase_keys().is_empty() && read.phrase_probes().is_empty());
    }

    #[test]
    fn keys_are_the_smallest_phrases_and_probes_find_them() {
        let earlier = Sketch::default().with_phrases(vec![10, 20, 30, 40]);
        assert_eq!(earlier.phrase_keys(), [10, 20]);
        assert_eq!(earlier.phrase_probes(), [10, 20, 30, 40]);
        // A later text whose eight smallest phrases hold the earlier one's second key finds it.
        let later = Sketch::default().with_phrases(vec![1, 2, 3, 4, 5, 6, 7, 20, 21]);
        assert_eq!(later.phrase_probes().len(), PHRASE_PROBES);
        assert!(Sketch::probes_find(&later, &earlier));
        // One whose eight smallest stop before it does not, though it holds the key further on.
        let beyond = Sketch::default().with_phrases(vec![1, 2, 3, 4, 5, 6, 7, 8, 20]);
        assert!(!Sketch::probes_find(&beyond, &earlier));
        assert!(!Sketch::probes_find(&earlier, &Sketch::default()));
    }

    #[test]
    fn a_short_text_is_kept_whole_and_compared_exactly() {
        let a = sketch(0..40);
        assert!(a.is_complete());
        let b = sketch(10..50);
        let c = compare(&a, &b);
        assert_eq!(c.sampled_shared, 30);
        assert!((c.containment - 0.75).abs() < 1e-9);
        assert!((c.resemblance - 30.0 / 50.0).abs() < 1e-9);
    }

    #[test]
    fn a_truncated_copy_is_contained_in_the_full_text() {
        let full = sketch(0..2000);
        let cut = sketch(0..800);
        let c = compare(&cut, &full);
        assert_eq!(c.containment, 1.0);
        assert!(c.resemblance > 0.3 && c.resemblance < 0.5, "{c:?}");
        assert_eq!(c.smaller, 800);
        // Symmetric: the order of the two sketches does not matter.
        assert_eq!(compare(&full, &cut), c);
    }

    #[test]
    fn containment_is_estimated_without_bias() {
        // Two texts sharing 300 of their 1000 shingles each.
        let a = sketch(0..1000);
        let b = sketch(700..1700);
        let c = compare(&a, &b);
        assert!((c.containment - 0.3).abs() < 0.12, "{c:?}");
        assert!(c.sampled >= 100);
    }

    #[test]
    fn disjoint_texts_share_nothing() {
        let c = compare(&sketch(0..300), &sketch(1000..1300));
        assert_eq!((c.containment, c.resemblance, c.sampled_shared), (0.0, 0.0, 0));
        let empty = Sketch::default();
        assert_eq!(compare(&empty, &sketch(0..10)).containment, 0.0);
    }
}
