//! Feed documents to raw items, with feed-rs doing the format work.
//!
//! What this module adds on top of feed-rs is the choice of body and the item's identity:
//!
//! - Body: of `content` (RSS `content:encoded`, Atom `content`, JSON Feed `content_html`), the
//!   Media RSS description (YouTube's `media:group/media:description`) and `summary` (RSS
//!   `description`, Atom `summary`, JSON Feed `summary`/`content_text`), the one with the most
//!   text wins. Ties go to the earlier in that order.
//! - Identity: the entry's own id (RSS guid, Atom id, JSON Feed id) when the document had one;
//!   else its link; else a hash of its title and body. feed-rs invents ids for entries that
//!   lack one (from link and title, or a random UUID): we install a generator that returns an
//!   empty id instead, so an invented id can never be mistaken for a stable one.

use crate::decode::decode;
use crate::ParseError;
use feed_rs::model::{Entry, Feed, Link};
use newsdedup_model::{BodyKind, KeySource, ParsedFeed, RawItem};

/// Parses a feed document (any encoding, RSS 0.9x/1.0/2.0, Atom, JSON Feed).
///
/// `content_type` is the HTTP Content-Type, used to decide the encoding; `base_url` resolves
/// relative links.
pub fn parse_feed(bytes: &[u8], content_type: Option<&str>, base_url: Option<&str>) -> Result<ParsedFeed, ParseError> {
    let decoded = decode(bytes, content_type);
    let text = decoded.text.trim_start_matches('\u{FEFF}');
    if text.trim().is_empty() {
        return Err(ParseError::Empty);
    }
    if looks_like_html_page(text) {
        return Err(ParseError::HtmlPage);
    }
    let parser = feed_rs::parser::Builder::new()
        .base_uri(base_url)
        .id_generator(|_links, _title, _base| String::new())
        .sanitize_content(false)
        .build();
    let feed = parser.parse(text.as_bytes())?;
    Ok(convert(feed))
}

/// True when the document is an HTML page rather than a feed: its first tag is a doctype or
/// `<html>`.
fn looks_like_html_page(text: &str) -> bool {
    let start = text.trim_start();
    let head: String = start.chars().take(64).collect::<String>().to_ascii_lowercase();
    head.starts_with("<!doctype html") || head.starts_with("<html")
}

fn convert(feed: Feed) -> ParsedFeed {
    let items = feed.entries.into_iter().map(convert_entry).collect();
    ParsedFeed {
        title: feed.title.map(|t| t.content.trim().to_string()).filter(|t| !t.is_empty()),
        ttl_minutes: feed.ttl,
        items,
    }
}

fn convert_entry(entry: Entry) -> RawItem {
    let link = primary_link(&entry.links);
    let title = entry.title.as_ref().map(|t| t.content.trim().to_string()).filter(|t| !t.is_empty());
    let (body, body_kind) = richest_body(&entry);
    let id = entry.id.trim().to_string();
    let (guid, key_source) = if !id.is_empty() {
        (id, KeySource::Guid)
    } else if let Some(link) = &link {
        (link.clone(), KeySource::Link)
    } else {
        (content_key(title.as_deref(), &body), KeySource::ContentHash)
    };
    let platform_id = platform_id(&guid, link.as_deref());
    RawItem {
        guid,
        key_source,
        link,
        title,
        published_at: entry.published.or(entry.updated),
        updated_at: entry.updated,
        body,
        body_kind,
        platform_id,
    }
}

/// The entry's link to itself: the first link without a `rel`, or with `rel="alternate"`.
fn primary_link(links: &[Link]) -> Option<String> {
    links
        .iter()
        .find(|l| l.rel.as_deref().is_none_or(|r| r == "alternate"))
        .map(|l| l.href.trim().to_string())
        .filter(|h| !h.is_empty())
}

fn richest_body(entry: &Entry) -> (String, BodyKind) {
    let mut candidates: Vec<(String, BodyKind)> = Vec::new();
    if let Some(content) = &entry.content {
        if let Some(body) = &content.body {
            candidates.push((body.clone(), kind_of(content.content_type.essence().to_string().as_str())));
        }
    }
    for media in &entry.media {
        if let Some(desc) = &media.description {
            candidates.push((desc.content.clone(), kind_of(desc.content_type.essence().to_string().as_str())));
        }
    }
    if let Some(summary) = &entry.summary {
        candidates.push((summary.content.clone(), kind_of(summary.content_type.essence().to_string().as_str())));
    }
    let mut best: Option<(String, BodyKind, usize)> = None;
    for (body, kind) in candidates {
        let weight = text_weight(&body, kind);
        if best.as_ref().is_none_or(|(_, _, w)| weight > *w) {
            best = Some((body, kind, weight));
        }
    }
    best.map(|(b, k, _)| (b, k)).unwrap_or((String::new(), BodyKind::Text))
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

/// A key for an entry with neither id nor link: a hash of its title and body.
fn content_key(title: Option<&str>, body: &str) -> String {
    let mut h = Fnv64::new();
    h.write(title.unwrap_or("").as_bytes());
    h.write(&[0]);
    h.write(body.as_bytes());
    format!("urn:newsdedup:content:{:016x}", h.finish())
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

/// FNV-1a, 64-bit: tiny and stable across releases and platforms, unlike std's hasher.
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

    const RSS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">
<channel><title>Example</title><ttl>45</ttl>
<item><title>With guid</title><link>https://example.org/a</link><guid isPermaLink="false">id-a</guid>
<description>Short summary.</description>
<content:encoded><![CDATA[<p>Full text of the article, much longer than the summary.</p>]]></content:encoded></item>
<item><title>Link only</title><link>https://example.org/b</link><description>Body b</description></item>
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
        assert_eq!(c.key_source, KeySource::ContentHash);
        // The content key is stable: parsing again gives the same key.
        let again = parse_feed(RSS.as_bytes(), None, None).unwrap();
        assert_eq!(again.items[2].guid, c.guid);
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
    fn html_page_and_empty_body_are_named() {
        let page = "<!DOCTYPE html><html><head><title>Blog</title></head><body>hi</body></html>";
        assert!(matches!(parse_feed(page.as_bytes(), None, None), Err(ParseError::HtmlPage)));
        assert!(matches!(parse_feed(b"  \n ", None, None), Err(ParseError::Empty)));
        assert!(matches!(parse_feed(b"<rss><channel><item>", None, None), Err(ParseError::Feed(_))));
    }
}
