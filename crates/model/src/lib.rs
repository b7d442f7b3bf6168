//! Plain data types shared by the newsdedup stages.
//!
//! This crate owns the vocabulary that flows through the pipeline: a fetched feed's raw items
//! ([`RawItem`]), the normaliser's output ([`CleanItem`]), the deduplicator's fingerprint
//! ([`Fingerprint`]) and decision ([`Decision`]), and the identifiers the store hands out. It does
//! no I/O and has no behaviour beyond small helpers on these types, so every stage can depend on
//! it without depending on each other.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Row id of a feed in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FeedId(pub i64);

/// Row id of an item in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ItemId(pub i64);

/// Row id of a story in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct StoryId(pub i64);

impl fmt::Display for FeedId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
impl fmt::Display for ItemId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
impl fmt::Display for StoryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// HTTP cache validators remembered per feed and sent back on the next request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

/// How an item's stable key was obtained, strongest first.
///
/// The fallback chain: the feed's own guid (or Atom id, or JSON Feed id) when the feed carried
/// one; the item's link when it did not; a hash of title and body when there is neither. An id
/// that the feed parser invented is never used, because it may change between fetches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeySource {
    Guid,
    Link,
    ContentHash,
}

impl KeySource {
    pub fn as_str(self) -> &'static str {
        match self {
            KeySource::Guid => "guid",
            KeySource::Link => "link",
            KeySource::ContentHash => "content_hash",
        }
    }
}

/// Whether a body is markup or plain text. YouTube descriptions are plain text (which may still
/// hold literal entity text); RSS descriptions and Atom html content are markup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BodyKind {
    Html,
    Text,
}

/// One entry of a feed document as the feed carried it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RawItem {
    /// The item's stable key within its feed (see [`KeySource`]).
    pub guid: String,
    pub key_source: KeySource,
    pub link: Option<String>,
    pub title: Option<String>,
    pub published_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
    /// The richest body the entry offered (content, media description, description, summary).
    pub body: String,
    pub body_kind: BodyKind,
    /// A platform's own id for the thing posted, such as a YouTube video id.
    pub platform_id: Option<String>,
}

/// A parsed feed document.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ParsedFeed {
    pub title: Option<String>,
    /// The feed's own refresh hint in minutes (RSS `ttl`), if any.
    pub ttl_minutes: Option<u32>,
    pub items: Vec<RawItem>,
}

/// A line the normaliser removed from an item's body, and the rule that removed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemovedLine {
    /// Zero-based position of the line among the body's lines before removal.
    pub position: u32,
    pub line: String,
    /// The id of the rule that fired, e.g. `en.subscribe`.
    pub rule: String,
}

/// The normaliser's output for one item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CleanItem {
    /// The title without decoration.
    pub clean_title: String,
    /// The body as readable text, one paragraph per line, with boilerplate removed. The
    /// publisher's words are kept exactly as written.
    pub clean_text: String,
    /// `clean_text` folded for comparison (Unicode-normalised, case-folded, punctuation
    /// unified). Never shown to people; it feeds fingerprints and exact matching.
    pub folded_text: String,
    pub removed: Vec<RemovedLine>,
    /// The item's link in canonical form, used for identity across feeds.
    pub canonical_link: Option<String>,
}

/// What the deduplicator computes from a clean item to compare it with others.
///
/// `simhash` is a 64-bit simhash over word shingles of the folded text (see the deduplicator
/// crate for the exact features); two items whose texts share most of their shingles have
/// fingerprints a few bits apart. `content_hash` is a hash of the whole folded text, equal only
/// for texts that fold to the same string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Fingerprint {
    pub simhash: u64,
    pub content_hash: u64,
}

impl Fingerprint {
    /// Hamming distance between two simhashes.
    pub fn distance(&self, other: &Fingerprint) -> u32 {
        (self.simhash ^ other.simhash).count_ones()
    }
}

/// How an item came to belong to its story.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchMethod {
    /// No earlier story was close: this item started a story.
    New,
    /// Same canonical link or platform id as an item of the story.
    Identity,
    /// Same folded text as an item of the story.
    Exact,
    /// Simhash within the configured Hamming distance of an item of the story.
    Near,
}

impl MatchMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchMethod::New => "new",
            MatchMethod::Identity => "identity",
            MatchMethod::Exact => "exact",
            MatchMethod::Near => "near",
        }
    }

    pub fn parse(s: &str) -> Option<MatchMethod> {
        Some(match s {
            "new" => MatchMethod::New,
            "identity" => MatchMethod::Identity,
            "exact" => MatchMethod::Exact,
            "near" => MatchMethod::Near,
            _ => return None,
        })
    }
}

/// The deduplicator's verdict for one item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Start a new story with this item.
    NewStory,
    /// Join an existing story because of the matched item.
    Join {
        story: StoryId,
        matched_item: ItemId,
        method: MatchMethod,
        /// Hamming distance between this item's simhash and the matched item's.
        distance: u32,
    },
}

impl Decision {
    pub fn method(&self) -> MatchMethod {
        match self {
            Decision::NewStory => MatchMethod::New,
            Decision::Join { method, .. } => *method,
        }
    }
}

/// Query parameters that identify a campaign or a click, never the document. Both the
/// fetcher (item keys) and the normaliser (canonical links) drop them, and must agree.
pub fn is_tracking_param(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name.starts_with("utm_")
        || matches!(
            name.as_str(),
            "fbclid"
                | "gclid"
                | "dclid"
                | "gbraid"
                | "wbraid"
                | "msclkid"
                | "mc_cid"
                | "mc_eid"
                | "yclid"
                | "igshid"
                | "_hsenc"
                | "_hsmi"
                | "mkt_tok"
                | "ref_src"
                | "cmpid"
                | "ocid"
                | "at_medium"
                | "at_campaign"
                | "_ga"
                | "_gl"
                | "twclid"
                | "ttclid"
                | "li_fat_id"
                | "s_cid"
                | "icid"
                | "wt_mc"
                | "oly_anon_id"
                | "oly_enc_id"
                | "vero_id"
                | "rb_clickid"
                | "__twitter_impression"
                | "xtor"
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_distance_counts_differing_bits() {
        let a = Fingerprint { simhash: 0b1011, content_hash: 1 };
        let b = Fingerprint { simhash: 0b0001, content_hash: 2 };
        assert_eq!(a.distance(&b), 2);
        assert_eq!(a.distance(&a), 0);
    }

    #[test]
    fn tracking_parameters_are_recognised_in_any_case() {
        for p in ["utm_source", "UTM_Medium", "fbclid", "gclid", "xtor"] {
            assert!(is_tracking_param(p), "{p}");
        }
        for p in ["id", "v", "page", "utmost"] {
            assert!(!is_tracking_param(p), "{p}");
        }
    }

    #[test]
    fn match_method_round_trips_through_its_name() {
        for m in [MatchMethod::New, MatchMethod::Identity, MatchMethod::Exact, MatchMethod::Near] {
            assert_eq!(MatchMethod::parse(m.as_str()), Some(m));
        }
        assert_eq!(MatchMethod::parse("psychic"), None);
    }
}
