//! What newsdedup publishes: the deduplicated feed (one entry per story, with its reposts) as
//! Atom 1.0 and JSON Feed 1.1, and a small read-only HTML page of the latest stories.
//!
//! Everything here is a plain function from the store and a [`FeedQuery`] to a [`Page`]: a
//! body with its content type, a strong ETag (a hash of the body, so it changes exactly when
//! the bytes do) and a Last-Modified time (the latest change among the stories shown).
//! `export` writes pages to files; [`http`] answers HTTP requests with them, conditional
//! requests included, and [`routes`] registers them with the daemon's listener.

pub mod atom;
pub mod html;
pub mod http;
pub mod jsonfeed;
pub mod routes;
mod text;

pub use text::lag;

use anyhow::{bail, Result};
use chrono::{DateTime, SecondsFormat, Utc};
use newsdedup_store::{ItemDetail, Store, StoryDetail, StoryFilter};

/// The program's home, named as the generator of the feeds.
pub const HOMEPAGE: &str = env!("CARGO_PKG_HOMEPAGE");
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// How many stories a page shows when the query does not say.
pub const DEFAULT_LIMIT: i64 = 100;
/// The most stories one page may hold, whatever the query says.
pub const MAX_LIMIT: i64 = 1000;

/// Which stories a page shows: the same filters as `newsdedup stories`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedQuery {
    /// Only stories with an item from this feed (its URL as stored).
    pub feed: Option<String>,
    /// Only stories with at least this many items.
    pub min_items: Option<i64>,
    /// Only stories matching these words (full-text search).
    pub q: Option<String>,
    pub limit: i64,
}

impl Default for FeedQuery {
    fn default() -> FeedQuery {
        FeedQuery { feed: None, min_items: None, q: None, limit: DEFAULT_LIMIT }
    }
}

impl FeedQuery {
    /// Reads `feed`, `min_items`, `q` and `limit` from a URL query string (without the `?`).
    /// Unknown parameters are ignored, as web servers do; empty ones mean "no filter".
    pub fn from_query_string(qs: &str) -> Result<FeedQuery> {
        let mut query = FeedQuery::default();
        for (key, value) in url::form_urlencoded::parse(qs.as_bytes()) {
            let value = value.trim();
            if value.is_empty() {
                continue;
            }
            match &*key {
                "feed" => query.feed = Some(value.to_string()),
                "q" => query.q = Some(value.to_string()),
                "min_items" => match value.parse::<i64>() {
                    Ok(n) if n >= 0 => query.min_items = Some(n),
                    _ => bail!("min_items must be a whole number, not {value:?}"),
                },
                "limit" => match value.parse::<i64>() {
                    Ok(n) if n > 0 => query.limit = n.min(MAX_LIMIT),
                    _ => bail!("limit must be a positive whole number, not {value:?}"),
                },
                _ => {}
            }
        }
        Ok(query)
    }

    /// The query string that selects the same stories (empty without filters, else with `?`).
    pub fn to_query_string(&self) -> String {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        if let Some(f) = &self.feed {
            s.append_pair("feed", f);
        }
        if let Some(n) = self.min_items {
            s.append_pair("min_items", &n.to_string());
        }
        if let Some(q) = &self.q {
            s.append_pair("q", q);
        }
        if self.limit != DEFAULT_LIMIT {
            s.append_pair("limit", &self.limit.to_string());
        }
        let s = s.finish();
        if s.is_empty() {
            s
        } else {
            format!("?{s}")
        }
    }

    pub fn filter(&self) -> StoryFilter {
        StoryFilter {
            since: None,
            feed: self.feed.clone(),
            min_items: self.min_items,
            query: self.q.clone(),
            limit: Some(self.limit),
        }
    }

    /// Words describing the filters, for titles ("" without filters).
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(f) = &self.feed {
            parts.push(format!("from {f}"));
        }
        if let Some(n) = self.min_items {
            parts.push(format!("with at least {n} items"));
        }
        if let Some(q) = &self.q {
            parts.push(format!("matching \u{201c}{q}\u{201d}"));
        }
        parts.join(", ")
    }
}

/// Where a page will be read from: its own address and the HTML page's, when known (served, or
/// given to `export --url`). Atom's `rel="self"` and JSON Feed's `feed_url` come from here.
#[derive(Debug, Clone, Default)]
pub struct Location {
    pub self_url: Option<String>,
    pub home_url: Option<String>,
}

/// A rendered page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub content_type: &'static str,
    pub body: Vec<u8>,
    /// A strong entity tag, quotes included.
    pub etag: String,
    pub last_modified: DateTime<Utc>,
}

impl Page {
    fn new(content_type: &'static str, body: String, last_modified: DateTime<Utc>) -> Page {
        let etag = format!("\"{:016x}\"", fnv1a(body.as_bytes()));
        Page { content_type, body: body.into_bytes(), etag, last_modified }
    }
}

/// What a page can be rendered as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Atom,
    JsonFeed,
    Html,
}

/// The stories a query selects, with everything the pages show of them.
pub struct Stories {
    pub query: FeedQuery,
    pub stories: Vec<StoryDetail>,
    /// This database's random id: the base of the feed's and entries' ids.
    database_id: u128,
}

impl Stories {
    pub fn load(store: &Store, query: &FeedQuery) -> Result<Stories> {
        let stories = store.story_details(&query.filter())?;
        let database_id = store
            .meta("database_id")?
            .and_then(|id| u128::from_str_radix(&id, 16).ok())
            // A database whose id was removed by hand still gets ids that stay put.
            .unwrap_or_else(|| {
                let h = fnv1a(store.path().to_string_lossy().as_bytes());
                (u128::from(h) << 64) | u128::from(h)
            });
        Ok(Stories { query: query.clone(), stories, database_id })
    }

    /// The latest change among the stories, or the Unix epoch when there are none.
    pub fn last_modified(&self) -> DateTime<Utc> {
        self.stories.iter().filter_map(|s| parse_time(&s.summary.updated_at)).max().unwrap_or(DateTime::UNIX_EPOCH)
    }

    /// A stable id for a story's entry: `urn:uuid:` with a version 8 (custom) UUID made of
    /// this database's id and the story id, so it never changes while the story exists, even
    /// when its canonical item (and so its link and title) does.
    pub fn entry_id(&self, story: i64) -> String {
        uuid_urn(self.database_id, story as u64)
    }

    /// The feed's id: differs between filters, since each filter makes a different feed.
    pub fn feed_id(&self) -> String {
        uuid_urn(self.database_id ^ (1 << 64), fnv1a(self.query.to_query_string().as_bytes()))
    }

    /// The feed's title, with its filters.
    pub fn title(&self) -> String {
        let filters = self.query.describe();
        if filters.is_empty() {
            "newsdedup: latest stories".to_string()
        } else {
            format!("newsdedup: stories {filters}")
        }
    }
}

/// Renders the stories of `query` in `format`.
pub fn render(store: &Store, format: Format, query: &FeedQuery, location: &Location) -> Result<Page> {
    let stories = Stories::load(store, query)?;
    let last_modified = stories.last_modified();
    Ok(match format {
        Format::Atom => Page::new(atom::CONTENT_TYPE, atom::render(&stories, location), last_modified),
        Format::JsonFeed => Page::new(jsonfeed::CONTENT_TYPE, jsonfeed::render(&stories, location)?, last_modified),
        Format::Html => Page::new(html::CONTENT_TYPE, html::render(&stories), last_modified),
    })
}

/// The HTML body of a story's feed entry: its clean text, where it was first published, and
/// the list of its reposts with their feeds and links.
pub fn entry_html(story: &StoryDetail) -> String {
    use std::fmt::Write;
    let mut out = text::paragraphs(&story.text);
    if let Some(canonical) = story.items.iter().find(|i| i.is_canonical) {
        let when = canonical.published_at.as_deref().unwrap_or(&canonical.fetched_at);
        let _ = write!(out, "<p>First published by {} at {}.</p>", linked(canonical), text::display_time(when));
    }
    let reposts: Vec<&ItemDetail> = reposts(story).collect();
    if !reposts.is_empty() {
        let _ = write!(out, "<p>Reposted {} time{}:</p><ul>", reposts.len(), if reposts.len() == 1 { "" } else { "s" });
        for item in reposts {
            let _ = write!(out, "<li>{}", linked(item));
            if let Some(title) = item.title.as_deref().filter(|t| !t.trim().is_empty()) {
                let _ = write!(out, ": {}", text::escape(title));
            }
            if let Some(lag) = item.lag_seconds {
                let _ = write!(out, " ({} later)", text::escape(&text::lag(lag)));
            }
            out.push_str("</li>");
        }
        out.push_str("</ul>");
    }
    out
}

/// An item's feed name, linked to the item when it has a safe link.
fn linked(item: &ItemDetail) -> String {
    let name = text::escape(feed_name(item));
    match safe_link(item.link.as_deref()) {
        Some(href) => format!("<a href=\"{}\">{name}</a>", text::escape(&href)),
        None => name,
    }
}

/// The items of a story other than its canonical one: its reposts.
pub fn reposts(story: &StoryDetail) -> impl Iterator<Item = &ItemDetail> {
    story.items.iter().filter(|i| !i.is_canonical)
}

/// The feed an item came from, as people know it: its title, else its address.
pub fn feed_name(item: &ItemDetail) -> &str {
    item.feed_title.as_deref().filter(|t| !t.trim().is_empty()).unwrap_or(&item.feed_url)
}

/// A link that is safe to hand to a reader or a browser: an absolute http(s) URL, in its
/// serialised (percent-encoded) form. Anything else (javascript:, relative paths, garbage)
/// is shown as text or left out.
pub fn safe_link(link: Option<&str>) -> Option<String> {
    let url = url::Url::parse(link?.trim()).ok()?;
    matches!(url.scheme(), "http" | "https").then(|| url.to_string())
}

/// A stored time parsed back.
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    newsdedup_store::parse_timestamp(s)
}

/// RFC 3339 in UTC with a `Z`, as both feed formats want it.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A 128-bit id as a version 8 UUID URN: `high` supplies the first 64 bits (version nibble
/// set to 8), `low` the last 62 (after the two variant bits). Low values below 2^62, such as
/// row ids, map to distinct UUIDs.
fn uuid_urn(high: u128, low: u64) -> String {
    let hi = ((high >> 64) as u64 & !0xf000) | 0x8000;
    let lo = (low & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000;
    format!(
        "urn:uuid:{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        hi >> 32,
        (hi >> 16) & 0xffff,
        hi & 0xffff,
        lo >> 48,
        lo & 0xffff_ffff_ffff
    )
}

/// 64-bit FNV-1a: a small stable hash for entity tags and derived ids (not for security).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_round_trip_and_reject_nonsense() {
        let q =
            FeedQuery::from_query_string("feed=https%3A%2F%2Fa.example%2Frss&min_items=2&q=storm+power&x=1").unwrap();
        assert_eq!(q.feed.as_deref(), Some("https://a.example/rss"));
        assert_eq!(q.min_items, Some(2));
        assert_eq!(q.q.as_deref(), Some("storm power"));
        assert_eq!(FeedQuery::from_query_string(&q.to_query_string()[1..]).unwrap(), q);
        assert_eq!(FeedQuery::from_query_string("").unwrap(), FeedQuery::default());
        assert_eq!(FeedQuery::from_query_string("q=&min_items=").unwrap(), FeedQuery::default());
        assert_eq!(FeedQuery::from_query_string("limit=999999").unwrap().limit, MAX_LIMIT);
        assert!(FeedQuery::from_query_string("min_items=lots").is_err());
        assert!(FeedQuery::from_query_string("limit=0").is_err());
        assert_eq!(FeedQuery::default().to_query_string(), "");
    }

    #[test]
    fn uuids_are_well_formed_and_distinct() {
        let db = 0x0123_4567_89ab_cdef_fedc_ba98_7654_3210u128;
        let a = uuid_urn(db, 1);
        let b = uuid_urn(db, 2);
        assert_ne!(a, b);
        assert_eq!(a, "urn:uuid:01234567-89ab-8def-8000-000000000001");
        let hex = a.trim_start_matches("urn:uuid:");
        let groups: Vec<usize> = hex.split('-').map(str::len).collect();
        assert_eq!(groups, [8, 4, 4, 4, 12]);
        assert_eq!(&hex[14..15], "8", "version 8");
        assert!(matches!(&hex[19..20], "8" | "9" | "a" | "b"), "RFC variant");
    }

    #[test]
    fn only_absolute_web_links_are_passed_on() {
        assert_eq!(safe_link(Some("https://a.example/x y")).as_deref(), Some("https://a.example/x%20y"));
        assert_eq!(safe_link(Some("javascript:alert(1)")), None);
        assert_eq!(safe_link(Some("/relative")), None);
        assert_eq!(safe_link(Some("data:text/html,hi")), None);
        assert_eq!(safe_link(None), None);
    }
}

/// A small database for the renderers' tests: two stories, one reposted by a feed whose
/// strings are hostile (markup, quotes, a control character, a `javascript:` link).
#[cfg(test)]
pub(crate) mod fixture {
    use chrono::{TimeZone, Utc};
    use newsdedup_model::{
        BodyKind, CleanItem, Decision, Fingerprint, KeySource, MatchMethod, RawItem, RemovedLine, StoryId,
    };
    use newsdedup_store::{FeedOutcome, NewItem, Store};

    pub const HOSTILE_TITLE: &str = "<script>alert(1)</script> Storm & \"power\" \u{1} cuts";

    pub fn store() -> (tempfile::TempDir, Store, StoryId) {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("news.db")).unwrap();
        let now = Utc.with_ymd_and_hms(2026, 3, 2, 12, 0, 0).unwrap();
        let (publisher, _) = store.add_feed("https://publisher.example/rss", now).unwrap();
        let (reposter, _) = store.add_feed("https://reposts.example/feed", now).unwrap();
        let item = |guid: &str, title: &str, link: &str, hour: u32, text: &str, removed: Vec<RemovedLine>| {
            let raw = RawItem {
                guid: guid.into(),
                key_source: KeySource::Guid,
                link: Some(link.into()),
                title: Some(title.into()),
                published_at: Some(Utc.with_ymd_and_hms(2026, 3, 2, hour, 0, 0).unwrap()),
                updated_at: None,
                body: text.into(),
                body_kind: BodyKind::Text,
                platform_id: None,
            };
            let clean = CleanItem {
                clean_title: title.into(),
                clean_text: text.into(),
                folded_text: text.to_lowercase(),
                removed,
                canonical_link: None,
            };
            (raw, clean)
        };
        let batch = store.begin().unwrap();
        let (r, c) = item(
            "storm",
            HOSTILE_TITLE,
            "https://publisher.example/storm?a=1&b=2",
            6,
            "A storm cut power to <b>forty thousand</b> homes.\nEngineers worked all night.",
            Vec::new(),
        );
        let fp = Fingerprint { simhash: 1, content_hash: 1 };
        let new = |feed, raw, clean| NewItem { feed, raw, clean, fingerprint: fp, word_count: 12 };
        let original = batch.insert_item(&new(publisher, &r, &c), now).unwrap();
        let storm = batch.assign_story(original, &Decision::NewStory).unwrap();
        let removed =
            vec![RemovedLine { position: 2, line: "Subscribe <now> & \"win\"".into(), rule: "en.cta".into() }];
        let (r, c) =
            item("s2", "STORM!!", "javascript:alert(1)", 8, "A storm cut power to forty thousand homes.", removed);
        let repost = batch.insert_item(&new(reposter, &r, &c), now).unwrap();
        let join = Decision::Join { story: storm, matched_item: original, method: MatchMethod::Near, distance: 2 };
        batch.assign_story(repost, &join).unwrap();
        let (r, c) = item("rates", "Rates held", "https://publisher.example/rates", 9, "Rates were held.", Vec::new());
        let rates = batch.insert_item(&new(publisher, &r, &c), now).unwrap();
        batch.assign_story(rates, &Decision::NewStory).unwrap();
        let ok = |title: &str| FeedOutcome::Success {
            status: 200,
            validators: Default::default(),
            title: Some(title.into()),
            body_hash: None,
            next_fetch_at: now,
        };
        batch.record_outcome(publisher, &ok("The Publisher"), now).unwrap();
        batch.record_outcome(reposter, &ok("Reposts <R> & Co"), now).unwrap();
        batch.commit().unwrap();
        (dir, store, storm)
    }
}
