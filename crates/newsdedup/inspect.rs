//! The commands that read the database: `feeds list`, `stories`, `show`, `search`, `stats`,
//! `export`. Text for people, `--json` for scripts; the feed formats of `export` are rendered
//! by [`crate::output`].

use crate::cli::{ExportArgs, ExportFormat};
use crate::output::{self, FeedQuery, Location};
use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};
use newsdedup_model::StoryId;
use newsdedup_store::{Store, StoryFilter, StorySummary};
use serde::Serialize;
use std::io::{BufWriter, Write};
use std::path::Path;

fn print_json<T: Serialize>(out: &mut impl Write, value: &T) -> Result<()> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    writeln!(out)?;
    Ok(())
}

/// Shortens `s` to at most `max` characters, marking the cut.
fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

pub fn feeds_list(store: &Store, json: bool, out: &mut impl Write) -> Result<()> {
    let feeds = store.feeds()?;
    if json {
        return print_json(out, &feeds);
    }
    if feeds.is_empty() {
        writeln!(out, "no feeds yet: add some with `newsdedup feeds add URL`")?;
        return Ok(());
    }
    writeln!(out, "{:>5}  {:>6}  {:>6}  {:<20}  {:<20}  URL", "ID", "STATUS", "ERRORS", "LAST FETCHED", "NEXT FETCH")?;
    for f in feeds {
        let ts = |t: Option<DateTime<Utc>>| t.map(newsdedup_store::timestamp).unwrap_or_else(|| "-".into());
        writeln!(
            out,
            "{:>5}  {:>6}  {:>6}  {:<20}  {:<20}  {}",
            f.id.0,
            if f.gone_at.is_some() {
                "GONE".to_string()
            } else {
                f.last_status.map(|s| s.to_string()).unwrap_or_else(|| "-".into())
            },
            f.error_count,
            ts(f.last_fetched_at),
            ts(f.next_fetch_at),
            f.url
        )?;
        if let Some(e) = &f.last_error {
            writeln!(out, "{:>5}  last error: {}", "", e)?;
        }
        if let Some(gone) = f.gone_at {
            writeln!(
                out,
                "{:>5}  gone since {}: not polled until `newsdedup feeds enable {}`",
                "",
                newsdedup_store::timestamp(gone),
                f.url
            )?;
        }
    }
    Ok(())
}

fn print_story_table(out: &mut impl Write, stories: &[StorySummary]) -> Result<()> {
    if stories.is_empty() {
        writeln!(out, "no stories")?;
        return Ok(());
    }
    writeln!(out, "{:>6}  {:>5}  {:>5}  {:<20}  TITLE", "ID", "ITEMS", "FEEDS", "FIRST SEEN")?;
    for s in stories {
        writeln!(
            out,
            "{:>6}  {:>5}  {:>5}  {:<20}  {}",
            s.id,
            s.item_count,
            s.feed_count,
            s.first_seen_at,
            clip(s.title.as_deref().unwrap_or("(untitled)"), 100)
        )?;
    }
    Ok(())
}

/// Parses `--since`: an RFC 3339 time, or an age such as "24h" meaning that long ago.
pub fn parse_since(s: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    match crate::config::HumanDuration::parse(s) {
        Ok(d) => Ok(now - chrono::Duration::from_std(d.0).unwrap_or(chrono::Duration::MAX)),
        Err(_) => bail!("invalid --since {s:?}: give an RFC 3339 time (2026-01-31T00:00:00Z) or an age (24h, 7d)"),
    }
}

pub fn stories(store: &Store, filter: &StoryFilter, json: bool, out: &mut impl Write) -> Result<()> {
    let stories = store.stories(filter)?;
    if json {
        return print_json(out, &stories);
    }
    print_story_table(out, &stories)
}

pub fn show(store: &Store, id: i64, json: bool, out: &mut impl Write) -> Result<()> {
    let Some(story) = store.story_detail(StoryId(id))? else {
        bail!("no story with id {id}");
    };
    if json {
        return print_json(out, &story);
    }
    let s = &story.summary;
    writeln!(out, "Story {}: {}", s.id, s.title.as_deref().unwrap_or("(untitled)"))?;
    if let Some(link) = &s.link {
        writeln!(out, "  link:       {link}")?;
    }
    writeln!(out, "  first seen: {}   last seen: {}   updated: {}", s.first_seen_at, s.last_seen_at, s.updated_at)?;
    writeln!(out, "  items:      {} from {} feed(s)", s.item_count, s.feed_count)?;
    writeln!(out)?;
    for line in story.text.lines() {
        writeln!(out, "  {line}")?;
    }
    writeln!(out)?;
    writeln!(out, "Items:")?;
    for item in &story.items {
        writeln!(
            out,
            "  #{} {}{}",
            item.id,
            if item.is_canonical { "[canonical] " } else { "" },
            item.title.as_deref().unwrap_or("(untitled)")
        )?;
        match &item.feed_title {
            Some(title) => writeln!(out, "      feed:      {title} ({})", item.feed_url)?,
            None => writeln!(out, "      feed:      {}", item.feed_url)?,
        }
        let lag = match item.lag_seconds {
            Some(l) if !item.is_canonical => format!("   ({} after the canonical item)", output::lag(l)),
            _ => String::new(),
        };
        writeln!(
            out,
            "      published: {}   fetched: {}{lag}",
            item.published_at.as_deref().unwrap_or("-"),
            item.fetched_at
        )?;
        let method = item.match_method.as_deref().unwrap_or("-");
        let matched = item.matched_item_id.map(|m| format!(" (matched item #{m})")).unwrap_or_default();
        let similarity = item.similarity.map(|s| format!(", text similarity {s:.2}")).unwrap_or_default();
        let canonical = story.canonical_item_id.map(|c| format!(", canonical item #{c}")).unwrap_or_default();
        writeln!(
            out,
            "      match:     {method}{matched}{canonical}, distance to canonical {} bits{similarity}, fingerprint {}",
            item.distance.map(|d| d.to_string()).unwrap_or_else(|| "-".into()),
            item.fingerprint
        )?;
        if let Some(link) = &item.link {
            writeln!(out, "      link:      {link}")?;
        }
        for r in &item.removed_lines {
            writeln!(out, "      removed:   {:?} ({})", clip(&r.line, 100), r.rule)?;
        }
    }
    Ok(())
}

pub fn search(store: &Store, query: &str, limit: i64, json: bool, out: &mut impl Write) -> Result<()> {
    let hits = store.search(query, limit)?;
    if json {
        return print_json(out, &hits);
    }
    if hits.is_empty() {
        writeln!(out, "no stories match")?;
        return Ok(());
    }
    writeln!(out, "{:>6}  {:>5}  {:<20}  TITLE", "ID", "ITEMS", "FIRST SEEN")?;
    for hit in &hits {
        let s = &hit.story;
        writeln!(
            out,
            "{:>6}  {:>5}  {:<20}  {}",
            s.id,
            s.item_count,
            s.first_seen_at,
            clip(s.title.as_deref().unwrap_or("(untitled)"), 100)
        )?;
        let snippet = hit.snippet.split_whitespace().collect::<Vec<_>>().join(" ");
        if !snippet.is_empty() {
            writeln!(out, "{:>37}{}", "", clip(&snippet, 100))?;
        }
    }
    Ok(())
}

pub fn stats(store: &Store, json: bool, out: &mut impl Write) -> Result<()> {
    let stats = store.stats()?;
    if json {
        return print_json(out, &stats);
    }
    writeln!(
        out,
        "feeds: {} ({} failing)   items: {}   stories: {}   reposts folded: {}   boilerplate lines removed: {}",
        stats.feeds, stats.feeds_failing, stats.items, stats.stories, stats.reposts_folded, stats.removed_lines
    )?;
    if stats.per_feed.is_empty() {
        return Ok(());
    }
    writeln!(out)?;
    writeln!(
        out,
        "{:>5}  {:<7}  {:>6}  {:>7}  {:>7}  {:>9}  FEED",
        "ID", "STATUS", "ITEMS", "REPOSTS", "REPOST%", "BOILERPL."
    )?;
    for f in &stats.per_feed {
        let share = f.repost_share.map(|s| format!("{:.1}%", 100.0 * s)).unwrap_or_else(|| "-".into());
        writeln!(
            out,
            "{:>5}  {:<7}  {:>6}  {:>7}  {:>7}  {:>9}  {}{}",
            f.id,
            f.status,
            f.items,
            f.reposts,
            share,
            f.removed_lines,
            f.title.as_deref().map(|t| format!("{t} — ")).unwrap_or_default(),
            f.url
        )?;
        if let Some(e) = &f.last_error {
            writeln!(out, "{:>5}  failing ({} in a row): {}", "", f.error_count, e)?;
        }
    }
    Ok(())
}

/// A CSV field per RFC 4180: quoted when it holds a comma, quote or line break.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[derive(Serialize)]
struct JsonlStory {
    story_id: i64,
    title: Option<String>,
    canonical_item_id: i64,
    items: Vec<JsonlItem>,
}

#[derive(Serialize)]
struct JsonlItem {
    item_id: i64,
    is_canonical: bool,
    feed_url: String,
    guid: String,
    link: Option<String>,
    title: Option<String>,
    clean_title: Option<String>,
    published_at: Option<String>,
    fetched_at: String,
    match_method: Option<String>,
    distance: Option<i64>,
    similarity: Option<f64>,
    lag_seconds: Option<i64>,
    clean_text: String,
}

/// The feed filters of `export`, checked: `Some` for the feed formats, `None` for the others
/// (which export everything, so a filter given with them is a mistake worth saying).
pub fn export_feed_query(args: &ExportArgs) -> Result<Option<(FeedQuery, Location)>> {
    if !args.format.is_feed() {
        let given = [
            ("--feed", args.feed.is_some()),
            ("--min-items", args.min_items.is_some()),
            ("--query", args.query.is_some()),
            ("--limit", args.limit.is_some()),
            ("--url", args.url.is_some()),
        ];
        if let Some((flag, _)) = given.iter().find(|(_, g)| *g) {
            bail!("{flag} applies only to --format atom, json-feed or html; jsonl and csv export everything");
        }
        return Ok(None);
    }
    let limit = args.limit.unwrap_or(output::DEFAULT_LIMIT);
    if limit < 1 {
        bail!("--limit must be at least 1");
    }
    if args.min_items.is_some_and(|n| n < 0) {
        bail!("--min-items cannot be negative");
    }
    if let Some(url) = &args.url {
        if output::safe_link(Some(url)).is_none() {
            bail!("--url must be an absolute http or https address, not {url:?}");
        }
    }
    let feed = args.feed.as_deref().map(|f| {
        let cwd = std::env::current_dir().unwrap_or_default();
        crate::feedlist::normalise_address(f, &cwd)
    });
    let query = FeedQuery { feed, min_items: args.min_items, q: args.query.clone(), limit };
    Ok(Some((query, Location { self_url: args.url.clone(), home_url: None })))
}

/// `export`: to stdout, or to a file that is replaced in one step (written beside it, then
/// renamed), so a web server hosting the file never serves half of it.
pub fn export(
    store: &Store,
    format: ExportFormat,
    feed: Option<&(FeedQuery, Location)>,
    output: Option<&Path>,
) -> Result<()> {
    let Some(path) = output else {
        let mut out = BufWriter::new(std::io::stdout().lock());
        write_export(store, format, feed, &mut out)?;
        out.flush()?;
        return Ok(());
    };
    let name = path.file_name().with_context(|| format!("{} is not a file name", path.display()))?;
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(name);
    temp_name.push(format!(".{}.tmp", std::process::id()));
    let temp = path.with_file_name(temp_name);
    let result = (|| -> Result<()> {
        let file = std::fs::File::create(&temp).with_context(|| format!("cannot create {}", path.display()))?;
        let mut out = BufWriter::new(file);
        write_export(store, format, feed, &mut out)?;
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        std::fs::rename(&temp, path).with_context(|| format!("cannot replace {}", path.display()))?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result.with_context(|| format!("cannot write {}", path.display()))
}

fn write_export(
    store: &Store,
    format: ExportFormat,
    feed: Option<&(FeedQuery, Location)>,
    out: &mut dyn Write,
) -> Result<()> {
    match format {
        ExportFormat::Atom | ExportFormat::JsonFeed | ExportFormat::Html => {
            let (query, location) = feed.cloned().unwrap_or_default();
            let kind = match format {
                ExportFormat::Atom => output::Format::Atom,
                ExportFormat::JsonFeed => output::Format::JsonFeed,
                _ => output::Format::Html,
            };
            let page = output::render(store, kind, &query, &location)?;
            out.write_all(&page.body)?;
        }
        ExportFormat::Csv => {
            writeln!(
                out,
                "story_id,story_title,item_id,is_canonical,feed_url,guid,link,title,clean_title,published_at,fetched_at,match_method,distance,similarity,lag_seconds,clean_text"
            )?;
            store.export_rows(|r| {
                let fields = [
                    r.story_id.map(|v| v.to_string()).unwrap_or_default(),
                    r.story_title.unwrap_or_default(),
                    r.item_id.to_string(),
                    r.is_canonical.to_string(),
                    r.feed_url,
                    r.guid,
                    r.link.unwrap_or_default(),
                    r.title.unwrap_or_default(),
                    r.clean_title.unwrap_or_default(),
                    r.published_at.unwrap_or_default(),
                    r.fetched_at,
                    r.match_method.unwrap_or_default(),
                    r.distance.map(|v| v.to_string()).unwrap_or_default(),
                    r.similarity.map(|v| format!("{v:.3}")).unwrap_or_default(),
                    r.lag_seconds.map(|v| v.to_string()).unwrap_or_default(),
                    r.clean_text,
                ];
                let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
                writeln!(out, "{}", line.join(","))
            })??;
        }
        ExportFormat::Jsonl => {
            let mut current: Option<JsonlStory> = None;
            let flush = |story: JsonlStory, out: &mut dyn Write| -> std::io::Result<()> {
                serde_json::to_writer(&mut *out, &story)?;
                writeln!(out)
            };
            store.export_rows(|r| {
                let Some(story_id) = r.story_id else { return Ok(()) };
                if current.as_ref().is_some_and(|c| c.story_id != story_id) {
                    if let Some(done) = current.take() {
                        flush(done, &mut *out)?;
                    }
                }
                let story = current.get_or_insert_with(|| JsonlStory {
                    story_id,
                    title: r.story_title.clone(),
                    canonical_item_id: r.item_id,
                    items: Vec::new(),
                });
                if r.is_canonical {
                    story.canonical_item_id = r.item_id;
                }
                story.items.push(JsonlItem {
                    item_id: r.item_id,
                    is_canonical: r.is_canonical,
                    feed_url: r.feed_url,
                    guid: r.guid,
                    link: r.link,
                    title: r.title,
                    clean_title: r.clean_title,
                    published_at: r.published_at,
                    fetched_at: r.fetched_at,
                    match_method: r.match_method,
                    distance: r.distance,
                    similarity: r.similarity,
                    lag_seconds: r.lag_seconds,
                    clean_text: r.clean_text,
                });
                Ok(())
            })??;
            if let Some(done) = current.take() {
                flush(done, out)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_when_needed() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\"\nbye"), "\"say \"\"hi\"\"\nbye\"");
    }

    #[test]
    fn since_takes_times_and_ages() {
        let now = DateTime::parse_from_rfc3339("2026-01-10T00:00:00Z").unwrap().with_timezone(&Utc);
        assert_eq!(parse_since("24h", now).unwrap(), now - chrono::Duration::hours(24));
        assert_eq!(parse_since("2026-01-01T00:00:00Z", now).unwrap().to_rfc3339(), "2026-01-01T00:00:00+00:00");
        assert!(parse_since("yesterday", now).is_err());
    }
}
