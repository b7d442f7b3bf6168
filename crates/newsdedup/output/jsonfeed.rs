//! The deduplicated feed as JSON Feed 1.1 (https://jsonfeed.org/version/1.1).
//!
//! Required by the spec and present: `version`, `title`, `items`, and for each item an `id`
//! (a UUID URN, stable while the story exists) and content (`content_html` and
//! `content_text`). Dates are RFC 3339. The reposts are listed in the HTML content for every
//! reader, and as data in the `_newsdedup` extension object (the spec reserves keys starting
//! with an underscore for extensions) for programs.

use super::{entry_html, feed_name, reposts, rfc3339, safe_link, Location, Stories};
use anyhow::Result;
use serde::Serialize;

pub const CONTENT_TYPE: &str = "application/feed+json; charset=utf-8";

#[derive(Serialize)]
struct Feed<'a> {
    version: &'static str,
    title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    home_page_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    feed_url: Option<String>,
    description: &'static str,
    authors: [Author; 1],
    items: Vec<Item<'a>>,
}

#[derive(Serialize)]
struct Author {
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
}

#[derive(Serialize)]
struct Item<'a> {
    id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    title: &'a str,
    content_html: String,
    content_text: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    date_published: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    date_modified: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    authors: Vec<Author>,
    _newsdedup: Extension<'a>,
}

/// What newsdedup knows of a story beyond what JSON Feed has fields for.
#[derive(Serialize)]
struct Extension<'a> {
    /// Where the extension is described (the JSON Feed spec's convention).
    about: &'static str,
    story_id: i64,
    item_count: i64,
    feed_count: i64,
    reposts: Vec<Repost<'a>>,
}

#[derive(Serialize)]
struct Repost<'a> {
    feed_url: &'a str,
    feed_title: Option<&'a str>,
    title: Option<&'a str>,
    url: Option<String>,
    published_at: Option<&'a str>,
    lag_seconds: Option<i64>,
    match_method: Option<&'a str>,
    distance: Option<i64>,
}

pub fn render(stories: &Stories, location: &Location) -> Result<String> {
    let items = stories
        .stories
        .iter()
        .map(|story| {
            let s = &story.summary;
            let first_seen = super::parse_time(&s.first_seen_at);
            let updated = super::parse_time(&s.updated_at).max(first_seen);
            let canonical = story.items.iter().find(|i| i.is_canonical);
            Item {
                id: stories.entry_id(s.id),
                url: safe_link(s.link.as_deref()),
                title: s.title.as_deref().filter(|t| !t.trim().is_empty()).unwrap_or("(untitled)"),
                content_html: entry_html(story),
                content_text: &story.text,
                date_published: first_seen.map(rfc3339),
                date_modified: updated.map(rfc3339),
                authors: canonical
                    .map(|c| Author { name: feed_name(c).to_string(), url: safe_link(Some(&c.feed_url)) })
                    .into_iter()
                    .collect(),
                _newsdedup: Extension {
                    about: super::HOMEPAGE,
                    story_id: s.id,
                    item_count: s.item_count,
                    feed_count: s.feed_count,
                    reposts: reposts(story)
                        .map(|i| Repost {
                            feed_url: &i.feed_url,
                            feed_title: i.feed_title.as_deref(),
                            title: i.title.as_deref(),
                            url: safe_link(i.link.as_deref()),
                            published_at: i.published_at.as_deref(),
                            lag_seconds: i.lag_seconds,
                            match_method: i.match_method.as_deref(),
                            distance: i.distance,
                        })
                        .collect(),
                },
            }
        })
        .collect();
    let feed = Feed {
        version: "https://jsonfeed.org/version/1.1",
        title: stories.title(),
        home_page_url: safe_link(location.home_url.as_deref()),
        feed_url: safe_link(location.self_url.as_deref()),
        description: "One item per story, with the feeds that reposted it",
        authors: [Author { name: "newsdedup".into(), url: Some(super::HOMEPAGE.into()) }],
        items,
    };
    let mut body = serde_json::to_string_pretty(&feed)?;
    body.push('\n');
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::super::{fixture, render as render_page, FeedQuery, Format, Location};

    #[test]
    fn json_feed_follows_the_spec_and_parses_back() {
        let (_dir, store, storm) = fixture::store();
        let page = render_page(&store, Format::JsonFeed, &FeedQuery::default(), &Location::default()).unwrap();
        let json: serde_json::Value = serde_json::from_slice(&page.body).unwrap();
        assert_eq!(json["version"], "https://jsonfeed.org/version/1.1");
        assert!(json["title"].is_string());
        let items = json["items"].as_array().unwrap();
        assert_eq!(items.len(), 2);
        for item in items {
            assert!(item["id"].as_str().unwrap().starts_with("urn:uuid:"));
            assert!(item["content_html"].is_string() && item["content_text"].is_string());
            for date in ["date_published", "date_modified"] {
                assert!(chrono::DateTime::parse_from_rfc3339(item[date].as_str().unwrap()).is_ok());
            }
        }
        let story = items.iter().find(|i| i["_newsdedup"]["story_id"] == storm.0).unwrap();
        let reposts = story["_newsdedup"]["reposts"].as_array().unwrap();
        assert_eq!(reposts.len(), 1);
        assert_eq!(reposts[0]["feed_url"], "https://reposts.example/feed");
        assert_eq!(reposts[0]["lag_seconds"], 7200);
        assert!(reposts[0]["url"].is_null(), "javascript: links are left out");
        assert_eq!(story["url"], "https://publisher.example/storm?a=1&b=2");

        let feed = feed_rs::parser::parse(&page.body[..]).unwrap();
        assert_eq!(feed.feed_type, feed_rs::model::FeedType::JSON);
        assert_eq!(feed.entries.len(), 2);
    }
}
