//! The read-only HTML page: the latest stories with their repost counts, each expandable to
//! its text, its reposts and the boilerplate removed from them.
//!
//! One server-rendered document with its style inline: no scripts, no build step, no other
//! requests. `<details>` does the expanding without JavaScript, the search form is a plain
//! GET, and the layout is a single column that reads on a phone. Everything from the database
//! is escaped, and only http(s) links become links.

use super::text::{display_time, escape, lag, paragraphs};
use super::{feed_name, safe_link, Stories};
use newsdedup_store::{ItemDetail, StoryDetail};
use std::fmt::Write;

pub const CONTENT_TYPE: &str = "text/html; charset=utf-8";

const STYLE: &str = "
:root { color-scheme: light dark; --muted: #6b6b6b; --line: #d8d8d8; --accent: #0b57d0; }
@media (prefers-color-scheme: dark) { :root { --muted: #a0a0a0; --line: #3a3a3a; --accent: #8ab4f8; } }
* { box-sizing: border-box; }
body { font: 16px/1.5 system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif; margin: 0 auto;
       max-width: 46rem; padding: 0.75rem; overflow-wrap: anywhere; }
h1 { font-size: 1.4rem; margin: 0.25rem 0; }
a { color: var(--accent); }
header p, .meta, .removed, .empty { color: var(--muted); font-size: 0.9rem; }
form { display: flex; flex-wrap: wrap; gap: 0.5rem; margin: 0.5rem 0; }
input, button { font: inherit; padding: 0.3rem 0.5rem; }
input[type=search] { flex: 1 1 12rem; }
input[type=number] { width: 5rem; }
ol.stories { list-style: none; padding: 0; margin: 0; }
ol.stories > li { border-top: 1px solid var(--line); padding: 0.5rem 0; }
summary { cursor: pointer; }
summary .title { font-weight: 600; }
.count { display: inline-block; min-width: 2.2em; text-align: center; border-radius: 1em; padding: 0 0.4em;
         margin-right: 0.3em; border: 1px solid var(--line); font-size: 0.85rem; }
.story { padding: 0.25rem 0 0.25rem 1rem; }
.text { max-height: 24rem; overflow: auto; }
ul.items { padding-left: 1.2rem; }
ul.items > li { margin: 0.4rem 0; }
.removed li { font-family: ui-monospace, monospace; font-size: 0.85rem; }
code { font-size: 0.85rem; }
";

/// The page for the stories selected.
pub fn render(stories: &Stories) -> String {
    let mut out = String::with_capacity(8192 + stories.stories.len() * 2048);
    let title = stories.title();
    let query = stories.query.to_query_string();
    out.push_str("<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    let _ = writeln!(out, "<title>{}</title>", escape(&title));
    let _ = writeln!(
        out,
        "<link rel=\"alternate\" type=\"application/atom+xml\" title=\"Atom\" href=\"feed.atom{0}\">\n\
         <link rel=\"alternate\" type=\"application/feed+json\" title=\"JSON Feed\" href=\"feed.json{0}\">",
        escape(&query)
    );
    let _ = writeln!(out, "<style>{STYLE}</style>\n</head>\n<body>\n<header>");
    let _ = writeln!(out, "<h1>{}</h1>", escape(&title));
    let _ = writeln!(
        out,
        "<form method=\"get\" action=\"\" role=\"search\">\
         <input type=\"search\" name=\"q\" value=\"{}\" placeholder=\"Search stories\" aria-label=\"Search stories\">\
         <input type=\"number\" name=\"min_items\" min=\"1\" value=\"{}\" placeholder=\"items\" aria-label=\"At least this many items\">\
         {}<button type=\"submit\">Show</button></form>",
        escape(stories.query.q.as_deref().unwrap_or("")),
        stories.query.min_items.map(|n| n.to_string()).unwrap_or_default(),
        stories
            .query
            .feed
            .as_deref()
            .map(|f| format!("<input type=\"hidden\" name=\"feed\" value=\"{}\">", escape(f)))
            .unwrap_or_default(),
    );
    let _ = writeln!(
        out,
        "<p>{} stor{} · subscribe: <a href=\"feed.atom{q}\">Atom</a> · <a href=\"feed.json{q}\">JSON Feed</a></p>\n</header>",
        stories.stories.len(),
        if stories.stories.len() == 1 { "y" } else { "ies" },
        q = escape(&query)
    );
    out.push_str("<main>\n");
    if stories.stories.is_empty() {
        out.push_str("<p class=\"empty\">No stories yet.</p>\n");
    } else {
        out.push_str("<ol class=\"stories\">\n");
        for story in &stories.stories {
            story_html(&mut out, story);
        }
        out.push_str("</ol>\n");
    }
    out.push_str("</main>\n</body>\n</html>\n");
    out
}

fn story_html(out: &mut String, story: &StoryDetail) {
    let s = &story.summary;
    let reposts = s.item_count.saturating_sub(1);
    let _ = write!(
        out,
        "<li id=\"story-{id}\"><details><summary><span class=\"count\" title=\"reposts\">{reposts}</span>\
         <span class=\"title\">{title}</span> <span class=\"meta\">· {reposts} repost{plural} · {feeds} feed{fplural} · \
         first seen <time datetime=\"{first}\">{first_shown}</time></span></summary>\n<div class=\"story\">\n",
        id = s.id,
        plural = if reposts == 1 { "" } else { "s" },
        title = escape(s.title.as_deref().filter(|t| !t.trim().is_empty()).unwrap_or("(untitled)")),
        feeds = s.feed_count,
        fplural = if s.feed_count == 1 { "" } else { "s" },
        first = escape(&s.first_seen_at),
        first_shown = escape(&display_time(&s.first_seen_at)),
    );
    if let Some(link) = safe_link(s.link.as_deref()) {
        let _ = writeln!(out, "<p><a href=\"{0}\">{0}</a></p>", escape(&link));
    }
    let _ = writeln!(out, "<div class=\"text\">{}</div>", paragraphs(&story.text));
    out.push_str("<ul class=\"items\">\n");
    for item in &story.items {
        item_html(out, item);
    }
    out.push_str("</ul>\n</div></details></li>\n");
}

fn item_html(out: &mut String, item: &ItemDetail) {
    let name = escape(feed_name(item));
    let feed = match safe_link(item.link.as_deref()) {
        Some(href) => format!("<a href=\"{}\">{name}</a>", escape(&href)),
        None => name,
    };
    let when = item.published_at.as_deref().unwrap_or(&item.fetched_at);
    let mut how = Vec::new();
    if item.is_canonical {
        how.push("canonical".to_string());
    } else {
        if let Some(l) = item.lag_seconds {
            how.push(format!("{} later", lag(l)));
        }
        if let Some(m) = &item.match_method {
            how.push(format!("matched by {m}"));
        }
        if let Some(d) = item.distance {
            how.push(format!("distance {d}"));
        }
        if let Some(sim) = item.similarity {
            how.push(format!("similarity {sim:.2}"));
        }
    }
    let _ = write!(
        out,
        "<li>{feed}<div class=\"meta\"><time datetime=\"{}\">{}</time> · {}</div>",
        escape(when),
        escape(&display_time(when)),
        escape(&how.join(" · "))
    );
    if let Some(t) = item.title.as_deref().filter(|t| !t.trim().is_empty()) {
        let _ = write!(out, "<div>{}</div>", escape(t));
    }
    if !item.removed_lines.is_empty() {
        let n = item.removed_lines.len();
        let _ = write!(
            out,
            "<details class=\"removed\"><summary>{n} line{} of boilerplate removed</summary><ul>",
            if n == 1 { "" } else { "s" }
        );
        for r in &item.removed_lines {
            let _ = write!(out, "<li>{} <code>{}</code></li>", escape(&r.line), escape(&r.rule));
        }
        out.push_str("</ul></details>");
    }
    out.push_str("</li>\n");
}

#[cfg(test)]
mod tests {
    use super::super::{fixture, render as render_page, FeedQuery, Format, Location};

    #[test]
    fn the_page_lists_the_stories_and_escapes_everything() {
        let (_dir, store, storm) = fixture::store();
        let page = render_page(&store, Format::Html, &FeedQuery::default(), &Location::default()).unwrap();
        let html = String::from_utf8(page.body).unwrap();
        assert!(html.starts_with("<!doctype html>"));
        assert!(html.contains("name=\"viewport\""));
        assert!(html.contains(&format!("<li id=\"story-{}\"><details>", storm.0)));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt; Storm &amp; &quot;power&quot;  cuts"));
        assert!(html.contains("Rates held"));
        assert!(html.contains("Subscribe &lt;now&gt; &amp; &quot;win&quot; <code>en.cta</code>"));
        assert!(html.contains("1 line of boilerplate removed"));
        assert!(html.contains("+2h 0m later"));
        assert!(!html.contains("<script"), "no script, and none injected");
        assert!(!html.contains("javascript:"));
        assert!(!html.contains('\u{1}'));
    }

    #[test]
    fn filters_are_kept_in_the_form_and_the_feed_links() {
        let (_dir, store, _) = fixture::store();
        let query = FeedQuery { q: Some("storm \"x\"".into()), ..FeedQuery::default() };
        let page = render_page(&store, Format::Html, &query, &Location::default()).unwrap();
        let html = String::from_utf8(page.body).unwrap();
        assert!(html.contains("value=\"storm &quot;x&quot;\""), "{html}");
        assert!(html.contains("href=\"feed.atom?q=storm+%22x%22\""), "{html}");
    }
}
