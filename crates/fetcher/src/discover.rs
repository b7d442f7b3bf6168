//! Finding the feeds an HTML page names: `<link rel="alternate" type="application/rss+xml"
//! href="…">` in its head, the convention every blog engine follows.
//!
//! HTML is not XML, so this is a forgiving scan of `<link>` and `<base>` tags rather than a
//! parse: attribute values quoted with `"` or `'` or not at all, names in any case, the five
//! common entities in `href` decoded. Relative addresses resolve against `<base href>` if the
//! page has one, else against the page's own address.

use url::Url;

const FEED_TYPES: &[&str] = &[
    "application/rss+xml",
    "application/atom+xml",
    "application/feed+json",
    "application/json",
    "application/rdf+xml",
    "application/x.atom+xml",
    "application/x-atom+xml",
    "text/xml",
    "application/xml",
];

/// How far into a page to look: feed links are in the head, which is at the top.
const SCAN_LIMIT: usize = 512 * 1024;

/// The feed addresses a page advertises, in page order, without repeats.
pub fn alternates(html: &str, page_url: Option<&str>) -> Vec<String> {
    let mut end = html.len().min(SCAN_LIMIT);
    while !html.is_char_boundary(end) {
        end -= 1;
    }
    let html = &html[..end];
    let lower = html.to_ascii_lowercase();
    let mut base = page_url.and_then(|u| Url::parse(u).ok());
    let mut found = Vec::new();
    let mut at = 0;
    while let Some(pos) = lower[at..].find('<').map(|p| p + at) {
        at = pos + 1;
        let rest = &lower[at..];
        let is_link = rest.starts_with("link") && rest[4..].starts_with(|c: char| c.is_ascii_whitespace() || c == '/');
        let is_base = rest.starts_with("base") && rest[4..].starts_with(|c: char| c.is_ascii_whitespace() || c == '/');
        if !is_link && !is_base {
            continue;
        }
        let Some(close) = html[at..].find('>') else { break };
        let attrs = parse_attributes(&html[at + 4..at + close]);
        at += close;
        let get = |name: &str| attrs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        if is_base {
            if let Some(href) = get("href") {
                if let Some(resolved) = resolve(base.as_ref(), href) {
                    base = Some(resolved);
                }
            }
            continue;
        }
        let rel_alternate =
            get("rel").is_some_and(|rel| rel.split_ascii_whitespace().any(|r| r.eq_ignore_ascii_case("alternate")));
        let feed_type = get("type").is_some_and(|t| {
            let t = t.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
            FEED_TYPES.contains(&t.as_str())
        });
        if !rel_alternate || !feed_type {
            continue;
        }
        let Some(href) = get("href").map(str::trim).filter(|h| !h.is_empty()) else { continue };
        if let Some(url) = resolve(base.as_ref(), href) {
            if matches!(url.scheme(), "http" | "https") {
                let s = url.to_string();
                if !found.contains(&s) {
                    found.push(s);
                }
            }
        }
    }
    found
}

fn resolve(base: Option<&Url>, href: &str) -> Option<Url> {
    let href = decode_entities(href);
    match base {
        Some(base) => base.join(&href).ok(),
        None => Url::parse(&href).ok(),
    }
}

fn decode_entities(s: &str) -> String {
    s.replace("&amp;", "&").replace("&quot;", "\"").replace("&#39;", "'").replace("&lt;", "<").replace("&gt;", ">")
}

/// Attributes of a tag's inside (after the tag name), names lowercased.
fn parse_attributes(s: &str) -> Vec<(String, String)> {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        while i < bytes.len() && (bytes[i].is_ascii_whitespace() || bytes[i] == b'/') {
            i += 1;
        }
        let name_start = i;
        while i < bytes.len() && !bytes[i].is_ascii_whitespace() && bytes[i] != b'=' && bytes[i] != b'/' {
            i += 1;
        }
        if name_start == i {
            break;
        }
        let name = s[name_start..i].to_ascii_lowercase();
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= bytes.len() || bytes[i] != b'=' {
            out.push((name, String::new()));
            continue;
        }
        i += 1;
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        let value = if i < bytes.len() && (bytes[i] == b'"' || bytes[i] == b'\'') {
            let quote = bytes[i];
            let start = i + 1;
            let end = s[start..].find(quote as char).map_or(s.len(), |p| p + start);
            i = (end + 1).min(s.len());
            &s[start..end]
        } else {
            let start = i;
            while i < bytes.len() && !bytes[i].is_ascii_whitespace() {
                i += 1;
            }
            &s[start..i]
        };
        out.push((name, value.to_string()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_feed_links_in_page_order() {
        let page = r#"<!DOCTYPE html><html><head><title>Blog</title>
<link rel="stylesheet" href="/style.css">
<LINK REL="alternate" TYPE="application/rss+xml" TITLE="RSS" HREF="/feed.xml?a=1&amp;b=2">
<link rel='alternate' type='application/atom+xml' href='https://other.example/atom'/>
<link rel=alternate type=application/feed+json href=feed.json>
<link rel="alternate" hreflang="de" href="/de/">
<link rel="alternate" type="application/rss+xml" href="/feed.xml?a=1&amp;b=2">
</head><body></body></html>"#;
        assert_eq!(
            alternates(page, Some("https://blog.example/posts/")),
            [
                "https://blog.example/feed.xml?a=1&b=2",
                "https://other.example/atom",
                "https://blog.example/posts/feed.json"
            ]
        );
    }

    #[test]
    fn base_href_is_honoured_and_pages_without_feeds_give_nothing() {
        let page = r#"<html><head><base href="https://cdn.example/site/"><link rel="alternate" type="application/rss+xml" href="rss"></head></html>"#;
        assert_eq!(alternates(page, Some("https://www.example/")), ["https://cdn.example/site/rss"]);
        assert!(alternates("<html><head><link rel=icon href=/f.ico></head></html>", None).is_empty());
        assert!(alternates("<html><link rel=\"alternate\" type=\"application/rss+xml\" href=\"javascript:x\">", None)
            .is_empty());
    }
}
