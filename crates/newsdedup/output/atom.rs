//! The deduplicated feed as Atom 1.0 (RFC 4287).
//!
//! What the RFC requires and how it is met: the feed and every entry have an `id` (a UUID
//! URN that stays put while the story exists), a `title` and an `updated` time (RFC 3339);
//! the feed has an `author`, so entries need none (each names its canonical feed anyway);
//! every entry has `content`, so it needs no `rel="alternate"` link (it has one when the
//! canonical item's link is a web address). Reposts are `rel="related"` links and a list in
//! the content. Text is escaped, and characters XML cannot carry are dropped.

use super::text::escape;
use super::{entry_html, feed_name, reposts, rfc3339, safe_link, Location, Stories};
use std::fmt::Write;

pub const CONTENT_TYPE: &str = "application/atom+xml; charset=utf-8";

pub fn render(stories: &Stories, location: &Location) -> String {
    let mut out = String::with_capacity(4096 + stories.stories.len() * 4096);
    out.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">\n");
    let _ = writeln!(out, "  <id>{}</id>", stories.feed_id());
    let _ = writeln!(out, "  <title type=\"text\">{}</title>", escape(&stories.title()));
    out.push_str("  <subtitle type=\"text\">One entry per story, with the feeds that reposted it</subtitle>\n");
    let _ = writeln!(out, "  <updated>{}</updated>", rfc3339(stories.last_modified()));
    let _ = writeln!(
        out,
        "  <generator uri=\"{}\" version=\"{}\">newsdedup</generator>",
        escape(super::HOMEPAGE),
        escape(super::VERSION)
    );
    out.push_str("  <author><name>newsdedup</name></author>\n");
    if let Some(url) = safe_link(location.self_url.as_deref()) {
        let _ = writeln!(out, "  <link rel=\"self\" type=\"application/atom+xml\" href=\"{}\"/>", escape(&url));
    }
    if let Some(url) = safe_link(location.home_url.as_deref()) {
        let _ = writeln!(out, "  <link rel=\"alternate\" type=\"text/html\" href=\"{}\"/>", escape(&url));
    }
    for story in &stories.stories {
        let s = &story.summary;
        out.push_str("  <entry>\n");
        let _ = writeln!(out, "    <id>{}</id>", stories.entry_id(s.id));
        let title = s.title.as_deref().filter(|t| !t.trim().is_empty()).unwrap_or("(untitled)");
        let _ = writeln!(out, "    <title type=\"text\">{}</title>", escape(title));
        if let Some(link) = safe_link(s.link.as_deref()) {
            let _ = writeln!(out, "    <link rel=\"alternate\" type=\"text/html\" href=\"{}\"/>", escape(&link));
        }
        for item in reposts(story) {
            if let Some(link) = safe_link(item.link.as_deref()) {
                let _ = writeln!(
                    out,
                    "    <link rel=\"related\" href=\"{}\" title=\"{}\"/>",
                    escape(&link),
                    escape(feed_name(item))
                );
            }
        }
        let first_seen = super::parse_time(&s.first_seen_at);
        let updated = super::parse_time(&s.updated_at).max(first_seen);
        if let Some(t) = first_seen {
            let _ = writeln!(out, "    <published>{}</published>", rfc3339(t));
        }
        let _ = writeln!(out, "    <updated>{}</updated>", rfc3339(updated.unwrap_or(chrono::DateTime::UNIX_EPOCH)));
        if let Some(canonical) = story.items.iter().find(|i| i.is_canonical) {
            let _ = write!(out, "    <author><name>{}</name>", escape(feed_name(canonical)));
            if let Some(uri) = safe_link(Some(&canonical.feed_url)) {
                let _ = write!(out, "<uri>{}</uri>", escape(&uri));
            }
            out.push_str("</author>\n");
        }
        let _ = writeln!(out, "    <content type=\"html\">{}</content>", escape(&entry_html(story)));
        out.push_str("  </entry>\n");
    }
    out.push_str("</feed>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::super::{fixture, render as render_page, FeedQuery, Format, Location};

    #[test]
    fn atom_parses_back_with_one_entry_per_story_and_escaped_text() {
        let (_dir, store, storm) = fixture::store();
        let location = Location { self_url: Some("https://news.example/feed.atom".into()), home_url: None };
        let page = render_page(&store, Format::Atom, &FeedQuery::default(), &location).unwrap();
        let body = String::from_utf8(page.body.clone()).unwrap();
        let feed = feed_rs::parser::parse(body.as_bytes()).unwrap();
        assert_eq!(feed.feed_type, feed_rs::model::FeedType::Atom);
        assert_eq!(feed.entries.len(), 2);
        let entry = feed.entries.iter().find(|e| e.id.ends_with(&format!("{:012x}", storm.0))).unwrap();
        let title = entry.title.as_ref().unwrap().content.clone();
        assert_eq!(title, "<script>alert(1)</script> Storm & \"power\"  cuts", "escaped, control character dropped");
        assert!(entry.published.is_some() && entry.updated.is_some());
        // The canonical link; the repost's javascript: link is not passed on.
        assert_eq!(
            entry.links.iter().map(|l| l.href.as_str()).collect::<Vec<_>>(),
            ["https://publisher.example/storm?a=1&b=2"]
        );
        let content = entry.content.as_ref().and_then(|c| c.body.clone()).unwrap();
        assert!(content.contains("&lt;b&gt;forty thousand&lt;/b&gt;"), "{content}");
        assert!(content.contains("Reposted 1 time") && content.contains("Reposts &lt;R&gt; &amp; Co"), "{content}");
        assert!(!content.contains("javascript:"), "{content}");
        assert!(
            body.contains("<link rel=\"self\" type=\"application/atom+xml\" href=\"https://news.example/feed.atom\"/>")
        );
        assert!(feed.id.starts_with("urn:uuid:") && entry.id.starts_with("urn:uuid:"));
    }

    #[test]
    fn entry_ids_stay_put_and_filters_make_other_feeds() {
        let (_dir, store, _) = fixture::store();
        let all = render_page(&store, Format::Atom, &FeedQuery::default(), &Location::default()).unwrap();
        let again = render_page(&store, Format::Atom, &FeedQuery::default(), &Location::default()).unwrap();
        assert_eq!(all, again, "same database, same bytes, same ETag");
        let query = FeedQuery { min_items: Some(2), ..FeedQuery::default() };
        let filtered = render_page(&store, Format::Atom, &query, &Location::default()).unwrap();
        let (a, f) =
            (feed_rs::parser::parse(&all.body[..]).unwrap(), feed_rs::parser::parse(&filtered.body[..]).unwrap());
        assert_eq!(f.entries.len(), 1);
        assert!(a.entries.iter().any(|e| e.id == f.entries[0].id));
        assert_ne!(a.id, f.id);
        assert_ne!(all.etag, filtered.etag);
    }
}
