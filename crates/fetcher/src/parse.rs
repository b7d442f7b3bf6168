//! Feed documents to raw items, with feed-rs doing the format work.
//!
//! The steps: decode the bytes to UTF-8 ([`crate::decode`]); recognise an empty document, an
//! HTML page (naming the feeds it links to) or something that is no feed at all; for XML, a
//! pre-pass ([`crate::scan`]) reads what feed-rs misses and repairs what would make it fail;
//! feed-rs parses; then each entry becomes a [`RawItem`]:
//!
//! - Body: of `content` (RSS `content:encoded`, Atom `content`, JSON Feed `content_html`), the
//!   Media RSS description (YouTube's `media:group/media:description`), other media
//!   descriptions (iTunes) and `summary` (RSS `description`, Atom `summary`, JSON Feed
//!   `summary`/`content_text`), the one with the most text wins. Ties go to the earlier in
//!   that order.
//! - Identity: see [`crate::identity`]. feed-rs invents ids for entries that lack one (from
//!   link and title, or a random UUID): we install a generator that returns an empty id
//!   instead, so an invented id can never be mistaken for a stable one.
//! - Dates: a date before 1970-01-02 (zero and negative timestamps, year 1 and the like) or
//!   more than a day ahead of the fetch cannot be an item's real publication time and is
//!   dropped, so that the item is dated by when it was first seen instead.
//! - Entries with no title, no link and no body carry nothing to store and are skipped.
//!
//! Nothing here expands XML entities beyond the predefined ones or resolves anything a DTD
//! names: neither feed-rs nor the pre-pass do, so a "billion laughs" document stays its own
//! size and an external entity is never fetched.

use crate::decode::decode;
use crate::identity::{content_key, disambiguate, link_key};
use crate::scan::{scan, EntryExtras, Scan};
use crate::ParseError;
use chrono::{DateTime, Duration, TimeZone, Utc};
use feed_rs::model::{Entry, Feed, Link};
use newsdedup_model::{BodyKind, KeySource, ParsedFeed, RawItem};

/// How to read one document.
#[derive(Debug, Clone, Copy)]
pub struct ParseOptions<'a> {
    /// The HTTP Content-Type, used to decide the encoding.
    pub content_type: Option<&'a str>,
    /// The document's address, to resolve relative links against.
    pub base_url: Option<&'a str>,
    /// When the document was fetched: dates far after it are not believed.
    pub now: DateTime<Utc>,
}

/// Parses a feed document (any encoding; RSS 0.9x/1.0/2.0, Atom 0.3/1.0, JSON Feed 1.0/1.1),
/// fetched now.
pub fn parse_feed(bytes: &[u8], content_type: Option<&str>, base_url: Option<&str>) -> Result<ParsedFeed, ParseError> {
    parse_document(bytes, &ParseOptions { content_type, base_url, now: Utc::now() })
}

/// Parses a feed document as described in the module documentation.
pub fn parse_document(bytes: &[u8], options: &ParseOptions<'_>) -> Result<ParsedFeed, ParseError> {
    let decoded = decode(bytes, options.content_type);
    let text = decoded.text.trim_start_matches('\u{FEFF}');
    let start = text.trim_start();
    if start.is_empty() {
        return Err(ParseError::Empty);
    }
    let parser = feed_rs::parser::Builder::new()
        .base_uri(options.base_url)
        .id_generator(|_links, _title, _base| String::new())
        .sanitize_content(false)
        .build();
    // feed-rs and its XML reader assert things of the documents they read that a hostile
    // document can break; their panic becomes this document's error.
    let parse = |text: &str| -> Result<Feed, ParseError> {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| parser.parse(text.as_bytes()))) {
            Ok(parsed) => Ok(parsed?),
            Err(panic) => Err(ParseError::ParserFailed(
                panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "it stopped without saying why".to_string()),
            )),
        }
    };
    let (feed, scan) = match start.as_bytes()[0] {
        b'{' => (parse(start)?, Scan::default()),
        b'<' => {
            if is_html_page(start) {
                return Err(ParseError::HtmlPage { alternates: crate::discover::alternates(start, options.base_url) });
            }
            let scan = scan(start);
            let repaired = scan.repaired(start);
            (parse(&repaired)?, scan)
        }
        _ => {
            let head: String = start.chars().take(40).collect();
            return Err(ParseError::NotAFeed(head));
        }
    };
    Ok(convert(feed, &scan, options.now))
}

/// True when the document is an HTML page: after the XML declaration, comments and
/// processing instructions, the first thing is an HTML doctype or an `<html>` element.
fn is_html_page(text: &str) -> bool {
    let mut rest = text.trim_start();
    loop {
        if rest.starts_with("<?") {
            let Some(end) = rest.find("?>") else { return false };
            rest = rest[end + 2..].trim_start();
        } else if rest.starts_with("<!--") {
            let Some(end) = rest.find("-->") else { return false };
            rest = rest[end + 3..].trim_start();
        } else {
            break;
        }
    }
    let head: String = rest.chars().take(16).collect::<String>().to_ascii_lowercase();
    head.starts_with("<!doctype html")
        || head.starts_with("<html") && head[5..].starts_with(|c: char| c.is_ascii_whitespace() || c == '>' || c == '/')
}

fn convert(feed: Feed, scan: &Scan, now: DateTime<Utc>) -> ParsedFeed {
    // The pre-pass and feed-rs agree on the entries when they count the same number; if
    // they do not (an unusual document), the extras are not trusted to belong to the right
    // entry and are left out.
    let aligned = scan.entries.len() == feed.entries.len();
    if !aligned && !scan.entries.is_empty() {
        tracing::debug!(scan = scan.entries.len(), feed_rs = feed.entries.len(), "entry counts differ; extras unused");
    }
    let none = EntryExtras::default();
    let mut items: Vec<RawItem> = feed
        .entries
        .into_iter()
        .enumerate()
        .filter_map(|(i, entry)| convert_entry(entry, if aligned { &scan.entries[i] } else { &none }, now))
        .collect();
    disambiguate(&mut items);
    let ttl = [feed.ttl.filter(|t| *t > 0), scan.ttl_minutes, scan.update_period_minutes].into_iter().flatten().max();
    ParsedFeed {
        title: feed.title.map(|t| t.content.trim().to_string()).filter(|t| !t.is_empty()),
        ttl_minutes: ttl,
        items,
    }
}

fn convert_entry(entry: Entry, extras: &EntryExtras, now: DateTime<Utc>) -> Option<RawItem> {
    let link = primary_link(&entry.links);
    let title = entry.title.as_ref().map(|t| t.content.trim().to_string()).filter(|t| !t.is_empty());
    let (body, body_kind) = richest_body(&entry, extras);
    if title.is_none() && link.is_none() && body.trim().is_empty() {
        tracing::debug!("entry with no title, link or body skipped");
        return None;
    }
    let id = entry.id.trim().to_string();
    let (guid, key_source) = if let Some(video) = &extras.video_id {
        (format!("yt:video:{video}"), KeySource::Guid)
    } else if !id.is_empty() {
        (id, KeySource::Guid)
    } else if let Some(link) = &link {
        (link_key(link), KeySource::Link)
    } else {
        (content_key(title.as_deref(), &body), KeySource::ContentHash)
    };
    let platform_id = match &extras.video_id {
        Some(video) => Some(format!("youtube:{video}")),
        None => platform_id(&guid, link.as_deref()),
    };
    // A date feed-rs could not read may still be one that feeds write (see `dates`).
    let published_at = believable(entry.published, now)
        .or_else(|| believable(entry.updated, now))
        .or_else(|| believable(extras.date.as_deref().and_then(crate::dates::parse_lenient), now));
    Some(RawItem {
        guid,
        key_source,
        link,
        title,
        published_at,
        updated_at: believable(entry.updated, now),
        body,
        body_kind,
        platform_id,
    })
}

/// `date` if it can be a real publication time of something fetched at `now`.
fn believable(date: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let earliest = Utc.with_ymd_and_hms(1970, 1, 2, 0, 0, 0).single()?;
    date.filter(|d| *d >= earliest && *d <= now + Duration::days(1))
}

/// The entry's link to itself: the first link without a `rel`, or with `rel="alternate"`.
fn primary_link(links: &[Link]) -> Option<String> {
    links
        .iter()
        .find(|l| l.rel.as_deref().is_none_or(|r| r == "alternate"))
        .map(|l| l.href.trim().to_string())
        .filter(|h| !h.is_empty())
}

fn richest_body(entry: &Entry, extras: &EntryExtras) -> (String, BodyKind) {
    let mut candidates: Vec<(&str, BodyKind)> = Vec::new();
    if let Some(content) = &entry.content {
        if let Some(body) = &content.body {
            candidates.push((body, kind_of(content.content_type.essence().to_string().as_str())));
        }
    }
    if let Some((desc, kind)) = &extras.media_description {
        candidates.push((desc, *kind));
    }
    for media in &entry.media {
        if let Some(desc) = &media.description {
            candidates.push((&desc.content, kind_of(desc.content_type.essence().to_string().as_str())));
        }
    }
    if let Some(summary) = &entry.summary {
        candidates.push((&summary.content, kind_of(summary.content_type.essence().to_string().as_str())));
    }
    let mut best: Option<(&str, BodyKind, usize)> = None;
    for (body, kind) in candidates {
        let weight = text_weight(body, kind);
        if best.as_ref().is_none_or(|(_, _, w)| weight > *w) {
            best = Some((body, kind, weight));
        }
    }
    best.map(|(b, k, _)| (b.to_string(), k)).unwrap_or((String::new(), BodyKind::Text))
}

fn kind_of(mime: &str) -> BodyKind {
    if mime == "text/plain" {
        BodyKind::Text
    } else {
        BodyKind::Html
    }
}

/// Roughly how much readable text a body holds: characters outside markup tags.
fn text_weight(body: &str, kind: BodyKind) -> usize {
    match kind {
        BodyKind::Text => body.chars().filter(|c| !c.is_whitespace()).count(),
        BodyKind::Html => {
            let mut in_tag = false;
            let mut n = 0;
            for c in body.chars() {
                match c {
                    '<' => in_tag = true,
                    '>' => in_tag = false,
                    c if !in_tag && !c.is_whitespace() => n += 1,
                    _ => {}
                }
            }
            n
        }
    }
}

/// The platform's own id of the posted thing, when the entry names one (YouTube videos).
fn platform_id(guid: &str, link: Option<&str>) -> Option<String> {
    if let Some(video) = guid.strip_prefix("yt:video:") {
        return Some(format!("youtube:{}", video.trim()));
    }
    let link = link?;
    let url = url::Url::parse(link).ok()?;
    let host = url.host_str()?.trim_start_matches("www.").trim_start_matches("m.");
    match host {
        "youtube.com" if url.path() == "/watch" => {
            url.query_pairs().find(|(k, _)| k == "v").map(|(_, v)| format!("youtube:{v}"))
        }
        "youtu.be" => url.path_segments()?.next().filter(|s| !s.is_empty()).map(|v| format!("youtube:{v}")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RSS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">
<channel><title>Example</title><ttl>45</ttl>
<item><title>With guid</title><link>https://example.org/a</link><guid isPermaLink="false">id-a</guid>
<description>Short summary.</description>
<content:encoded><![CDATA[<p>Full text of the article, much longer than the summary.</p>]]></content:encoded></item>
<item><title>Link only</title><link>https://example.org/b?utm_source=rss</link><description>Body b</description></item>
<item><title>Nothing</title><description>Body c</description></item>
</channel></rss>"#;

    #[test]
    fn rss_identity_chain_and_richest_body() {
        let feed = parse_feed(RSS.as_bytes(), None, None).unwrap();
        assert_eq!(feed.title.as_deref(), Some("Example"));
        assert_eq!(feed.ttl_minutes, Some(45));
        let [a, b, c] = &feed.items[..] else { panic!("three items expected") };
        assert_eq!((a.guid.as_str(), a.key_source), ("id-a", KeySource::Guid));
        assert!(a.body.contains("Full text"), "content:encoded is richer than description");
        assert_eq!(a.body_kind, BodyKind::Html);
        assert_eq!((b.guid.as_str(), b.key_source), ("https://example.org/b", KeySource::Link));
        assert_eq!(b.link.as_deref(), Some("https://example.org/b?utm_source=rss"), "the link itself is kept");
        assert_eq!(c.key_source, KeySource::ContentHash);
        // The content key is stable: parsing again gives the same key.
        let again = parse_feed(RSS.as_bytes(), None, None).unwrap();
        assert_eq!(again.items[2].guid, c.guid);
    }

    #[test]
    fn dates_in_forms_feed_rs_does_not_read_are_read() {
        let doc = r#"<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>t</title>
 <item><title>a</title><guid>a</guid><pubDate>2024-02-05 10:00:00</pubDate></item>
 <item><title>b</title><guid>b</guid><pubDate>Mon, 05 Feb 2024 13:00:00 MSK</pubDate></item>
 <item><title>c</title><guid>c</guid><dc:date>05.02.2024 10:00</dc:date></item>
 <item><title>d</title><guid>d</guid><pubDate>Tue, 06 Feb 2024 10:00:00 +0000</pubDate></item>
 <item><title>e</title><guid>e</guid><pubDate>soon</pubDate></item>
</channel></rss>"#;
        let feed = parse_feed(doc.as_bytes(), None, None).unwrap();
        let dates: Vec<Option<String>> =
            feed.items.iter().map(|i| i.published_at.map(|d| d.format("%Y-%m-%d %H:%M").to_string())).collect();
        let at = |s: &str| Some(s.to_string());
        assert_eq!(
            dates,
            [at("2024-02-05 10:00"), at("2024-02-05 10:00"), at("2024-02-05 10:00"), at("2024-02-06 10:00"), None]
        );
    }

    #[test]
    fn youtube_atom_uses_media_description_and_video_id() {
        let doc = r#"<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns:yt="http://www.youtube.com/xml/schemas/2015" xmlns:media="http://search.yahoo.com/mrss/" xmlns="http://www.w3.org/2005/Atom">
 <title>Channel</title>
 <entry>
  <id>yt:video:abc123</id><yt:videoId>abc123</yt:videoId>
  <title>Video</title>
  <link rel="alternate" href="https://www.youtube.com/watch?v=abc123"/>
  <published>2021-01-09T10:00:00+00:00</published>
  <media:group><media:title>Video</media:title>
   <media:content url="https://www.youtube.com/v/abc123?version=3" type="application/x-shockwave-flash" width="640" height="390"/>
   <media:description>Line one of the description.
Please subscribe &amp;amp; share</media:description></media:group>
 </entry>
</feed>"#;
        let feed = parse_feed(doc.as_bytes(), None, None).unwrap();
        let item = &feed.items[0];
        assert_eq!(item.guid, "yt:video:abc123");
        assert_eq!(item.platform_id.as_deref(), Some("youtube:abc123"));
        assert_eq!(item.body_kind, BodyKind::Text);
        assert!(item.body.starts_with("Line one"), "{:?}", item.body);
        assert!(item.body.contains("&amp; share"), "literal entity text stays for the normaliser");
        assert_eq!(item.link.as_deref(), Some("https://www.youtube.com/watch?v=abc123"));
        assert!(item.published_at.is_some());
    }

    #[test]
    fn json_feed() {
        let doc = r#"{"version":"https://jsonfeed.org/version/1.1","title":"J","items":[
            {"id":"1","url":"https://example.org/1","title":"T","content_html":"<p>Hello</p>"}]}"#;
        let feed = parse_feed(doc.as_bytes(), Some("application/feed+json"), None).unwrap();
        assert_eq!(feed.items[0].guid, "1");
        assert!(feed.items[0].body.contains("Hello"));
    }

    #[test]
    fn html_page_empty_body_and_junk_are_named() {
        let page = "<!DOCTYPE html><html><head><title>Blog</title></head><body>hi</body></html>";
        assert!(matches!(parse_feed(page.as_bytes(), None, None), Err(ParseError::HtmlPage { .. })));
        assert!(matches!(parse_feed(b"  \n ", None, None), Err(ParseError::Empty)));
        assert!(matches!(parse_feed(b"<rss><channel><item>", None, None), Err(ParseError::Feed(_))));
        assert!(matches!(parse_feed(b"Service Unavailable", None, None), Err(ParseError::NotAFeed(_))));
        assert!(!is_html_page("<rss version=\"2.0\"><channel><title>html</title></channel></rss>"));
        assert!(is_html_page("<?xml version=\"1.0\"?>\n<!-- x --><html xmlns=\"http://www.w3.org/1999/xhtml\">"));
        assert!(!is_html_page("<htmlish/>"));
    }

    #[test]
    fn unbelievable_dates_are_dropped() {
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(believable(Some(now), now), Some(now));
        assert_eq!(believable(Some(Utc.with_ymd_and_hms(1969, 12, 31, 0, 0, 0).unwrap()), now), None);
        assert_eq!(believable(Some(DateTime::<Utc>::UNIX_EPOCH), now), None);
        assert_eq!(believable(Some(now + Duration::days(2)), now), None);
        assert!(believable(Some(now + Duration::hours(5)), now).is_some(), "time zone slips are tolerated");
    }
}
