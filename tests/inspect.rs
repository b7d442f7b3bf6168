//! Inspecting a database made from the demo feeds: docs/schema.md against the real schema,
//! its queries run as written, search, the read commands' JSON, and the exported feeds and
//! page.

use crate::util::{fixture, wait_until, Env, Running};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::path::Path;

fn demo_files() -> Vec<String> {
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/demo");
    let mut files: Vec<String> = std::fs::read_dir(&demo)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "xml"))
        .map(|p| p.display().to_string())
        .collect();
    files.sort();
    files
}

/// A database made from the demo feeds (reposts, boilerplate, stories in several feeds) plus
/// one feed whose fetch failed.
fn demo_env() -> Env {
    let env = Env::new();
    let files = demo_files();
    let mut args = vec!["ingest"];
    args.extend(files.iter().map(String::as_str));
    env.ok(&args);
    let missing = env.path("gone.xml");
    env.ok(&["feeds", "add", missing.to_str().unwrap()]);
    // Only the missing feed is due; it fails, and the run says so with its exit code.
    let out = env.run(&["run", "--once"]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    env
}

fn schema_doc() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/schema.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The ```sql blocks of a markdown text.
fn sql_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match (&mut current, line.trim_end()) {
            (None, "```sql") => current = Some(String::new()),
            (Some(_), "```") => blocks.push(current.take().unwrap()),
            (Some(block), line) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    assert!(current.is_none(), "an unclosed ```sql block in docs/schema.md");
    blocks
}

#[test]
fn every_query_in_the_schema_doc_runs_as_written_and_answers() {
    let env = demo_env();
    let conn = env.sql();
    let blocks = sql_blocks(&schema_doc());
    assert!(blocks.len() >= 10, "docs/schema.md has {} SQL blocks", blocks.len());
    for sql in &blocks {
        let mut stmt = conn.prepare(sql).unwrap_or_else(|e| panic!("docs/schema.md query fails: {e}\n{sql}"));
        let columns = stmt.column_count();
        let mut rows = stmt.query([]).unwrap_or_else(|e| panic!("docs/schema.md query fails: {e}\n{sql}"));
        let mut n = 0;
        while let Some(row) = rows.next().unwrap_or_else(|e| panic!("docs/schema.md query fails: {e}\n{sql}")) {
            for i in 0..columns {
                row.get_ref(i).unwrap();
            }
            n += 1;
        }
        assert!(n > 0, "docs/schema.md query answers nothing on the demo database:\n{sql}");
    }
}

#[test]
fn the_schema_doc_describes_every_table_view_and_column() {
    let env = Env::new();
    env.ok(&["feeds", "add", "https://a.example/rss"]);
    let conn = env.sql();
    // Tables and views as the database has them (FTS5's own shadow tables aside).
    let mut stmt = conn
        .prepare(
            "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite_%' \
             AND NOT (name LIKE 'stories_fts_%') ORDER BY name",
        )
        .unwrap();
    let names: Vec<String> = stmt.query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap();
    let mut actual: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for name in names {
        let mut cols = conn.prepare(&format!("SELECT name FROM pragma_table_info('{name}')")).unwrap();
        let cols: BTreeSet<String> = cols.query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap();
        actual.insert(name, cols);
    }
    // Sections "### `name`" and their rows "| `column` | ...".
    let mut documented: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut section: Option<String> = None;
    for line in schema_doc().lines() {
        if let Some(rest) = line.strip_prefix("### `") {
            section = rest.strip_suffix('`').map(str::to_string);
            if let Some(s) = &section {
                documented.entry(s.clone()).or_default();
            }
        } else if line.starts_with("## ") || line.starts_with("### ") {
            section = None;
        } else if let (Some(s), Some(rest)) = (&section, line.strip_prefix("| `")) {
            let column = rest.split('`').next().unwrap().to_string();
            documented.get_mut(s).unwrap().insert(column);
        }
    }
    for (table, columns) in &actual {
        let doc = documented
            .get(table)
            .unwrap_or_else(|| panic!("docs/schema.md has no section \"### `{table}`\" for the table or view {table}"));
        let missing: Vec<&String> = columns.difference(doc).collect();
        assert!(
            missing.is_empty(),
            "docs/schema.md does not describe {table}.{missing:?}: add rows under \"### `{table}`\""
        );
        let stale: Vec<&String> = doc.difference(columns).collect();
        assert!(stale.is_empty(), "docs/schema.md describes {table}.{stale:?}, which the database does not have");
    }
    for table in documented.keys() {
        assert!(actual.contains_key(table), "docs/schema.md describes {table}, which the database does not have");
    }
}

#[test]
fn search_finds_a_story_by_a_word_of_its_text() {
    let env = demo_env();
    // "electricity" is only in the storm story's body, not in its title.
    let out = env.ok(&["search", "electricity"]);
    assert!(out.contains("Storm leaves thousands without power along the coast"), "{out}");
    assert!(out.contains("[electricity]"), "{out}");
    let hits: serde_json::Value = serde_json::from_str(&env.ok(&["search", "--json", "ELECTRICITY"])).unwrap();
    let hits = hits.as_array().unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0]["item_count"], 3);
    assert!(hits[0]["first_seen_at"].is_string() && hits[0]["id"].is_i64());
    // Query syntax in the input is taken as words, never an error.
    for q in ["\"", "AND (", "NEAR(storm", "storm*", "-x", "title:storm"] {
        env.ok(&["search", "--", q]);
    }
    assert!(env.ok(&["search", "zebra"]).contains("no stories match"));
}

#[test]
fn show_and_stats_explain_the_reposts() {
    let env = demo_env();
    let id = env.count("SELECT story_id FROM story_overview ORDER BY item_count DESC, story_id LIMIT 1");
    let story: serde_json::Value = serde_json::from_str(&env.ok(&["show", "--json", &id.to_string()])).unwrap();
    let items = story["items"].as_array().unwrap();
    assert!(items.len() >= 2);
    assert_eq!(items[0]["is_canonical"], true);
    assert_eq!(items[0]["lag_seconds"], 0);
    let repost = &items[1];
    assert!(repost["lag_seconds"].as_i64().unwrap() > 0);
    assert!(repost["match_method"].is_string() && repost["distance"].is_i64() && repost["feed_title"].is_string());
    assert!(items.iter().any(|i| !i["removed_lines"].as_array().unwrap().is_empty()));
    let text = env.ok(&["show", &id.to_string()]);
    assert!(text.contains("after the canonical item") && text.contains("removed:"), "{text}");

    let stats: serde_json::Value = serde_json::from_str(&env.ok(&["stats", "--json"])).unwrap();
    let per_feed = stats["per_feed"].as_array().unwrap();
    assert!(per_feed.iter().any(|f| f["status"] == "failing" && f["repost_share"].is_null()));
    assert!(per_feed.iter().any(|f| f["repost_share"].as_f64().is_some_and(|s| s > 0.5)));
    let text = env.ok(&["stats"]);
    assert!(text.contains("REPOST%") && text.contains("failing"), "{text}");

    let stories: serde_json::Value = serde_json::from_str(&env.ok(&["stories", "--json", "--min-items", "2"])).unwrap();
    let stories = stories.as_array().unwrap();
    assert!(!stories.is_empty());
    assert!(stories.iter().all(|s| s["item_count"].as_i64().unwrap() >= 2));
}

#[test]
fn exported_atom_and_json_feed_parse_back_with_one_entry_per_story() {
    let env = demo_env();
    let stories = env.count("SELECT count(*) FROM stories");
    let titles: BTreeSet<String> = {
        let conn = env.sql();
        let mut stmt = conn.prepare("SELECT title FROM stories").unwrap();
        let titles = stmt.query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap();
        titles
    };
    let atom_path = env.path("site/feed.atom");
    std::fs::create_dir_all(atom_path.parent().unwrap()).unwrap();
    env.ok(&[
        "export",
        "--format",
        "atom",
        "--output",
        atom_path.to_str().unwrap(),
        "--url",
        "https://news.example/feed.atom",
    ]);
    let atom = std::fs::read(&atom_path).unwrap();
    let feed = feed_rs::parser::parse(&atom[..]).unwrap();
    assert_eq!(feed.feed_type, feed_rs::model::FeedType::Atom);
    assert_eq!(feed.entries.len() as i64, stories);
    let ids: BTreeSet<&str> = feed.entries.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids.len() as i64, stories, "entry ids are unique");
    let atom_titles: BTreeSet<String> =
        feed.entries.iter().map(|e| e.title.as_ref().unwrap().content.clone()).collect();
    assert_eq!(atom_titles, titles);
    // Reposts are related links: as many as items with a web link beyond the canonical ones.
    let related: usize =
        feed.entries.iter().map(|e| e.links.iter().filter(|l| l.rel.as_deref() == Some("related")).count()).sum();
    assert_eq!(
        related as i64,
        env.count("SELECT count(*) FROM story_items WHERE NOT is_canonical AND link LIKE 'http%'")
    );
    // No temporary file is left beside the output.
    assert_eq!(std::fs::read_dir(atom_path.parent().unwrap()).unwrap().count(), 1);

    let json = env.ok(&["export", "--format", "json-feed"]);
    let feed = feed_rs::parser::parse(json.as_bytes()).unwrap();
    assert_eq!(feed.feed_type, feed_rs::model::FeedType::JSON);
    assert_eq!(feed.entries.len() as i64, stories);
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    for item in value["items"].as_array().unwrap() {
        let ext = &item["_newsdedup"];
        assert_eq!(ext["reposts"].as_array().unwrap().len() as i64, ext["item_count"].as_i64().unwrap() - 1);
    }
    // Filters: only the reposted stories.
    let json = env.ok(&["export", "--format", "json-feed", "--min-items", "2", "--limit", "50"]);
    let feed = feed_rs::parser::parse(json.as_bytes()).unwrap();
    assert_eq!(feed.entries.len() as i64, env.count("SELECT count(*) FROM stories WHERE item_count >= 2"));
}

#[test]
fn the_exported_page_contains_the_stories() {
    let env = demo_env();
    let html = env.ok(&["export", "--format", "html"]);
    let conn = env.sql();
    let mut stmt = conn.prepare("SELECT id, item_count FROM stories").unwrap();
    let stories: Vec<(i64, i64)> =
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().collect::<Result<_, _>>().unwrap();
    for (id, items) in stories {
        let start = html.find(&format!("<li id=\"story-{id}\">")).unwrap_or_else(|| panic!("story {id} missing"));
        let li = &html[start..start + html[start..].find("</li>\n").unwrap()];
        let reposts = items - 1;
        assert!(li.contains(&format!("· {reposts} repost{} ·", if reposts == 1 { "" } else { "s" })), "{li}");
    }
    assert!(html.contains("Storm leaves thousands without power along the coast"));
    assert!(html.contains("of boilerplate removed"));
    assert!(!html.contains("<script"));
}

#[test]
fn export_refuses_filters_it_cannot_apply() {
    let env = Env::new();
    env.write("publisher.xml", &fixture("example/publisher.xml"));
    env.ok(&["ingest", env.path("publisher.xml").to_str().unwrap()]);
    let out = env.run(&["export", "--format", "csv", "--min-items", "2"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--min-items applies only to"));
    let out = env.run(&["export", "--format", "atom", "--url", "javascript:x"]);
    assert_eq!(out.status.code(), Some(2));
}

/// One HTTP/1.1 request with extra headers; returns the status, the headers (names in lower
/// case) and the body.
fn request(addr: &str, path: &str, headers: &[(&str, &str)]) -> (u16, BTreeMap<String, String>, Vec<u8>) {
    let mut stream = std::net::TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    let mut head = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("a response head");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines.next().and_then(|l| l.split_whitespace().nth(1)).and_then(|s| s.parse().ok()).unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers, raw[split + 4..].to_vec())
}

#[test]
fn the_daemon_serves_the_feeds_and_the_page_and_answers_304_to_their_own_tags() {
    let env = Env::new();
    let files = demo_files();
    let mut args = vec!["feeds", "add"];
    args.extend(files.iter().map(String::as_str));
    env.ok(&args);
    let mut cmd = env.cmd();
    cmd.args(["daemon", "--listen", "127.0.0.1:0"]);
    let mut daemon = Running::start(cmd);
    let addr = daemon.listen_addr();
    wait_until("every feed fetched", || {
        (env.count("SELECT count(*) FROM feeds WHERE last_fetched_at IS NULL") == 0).then_some(())
    })
    .unwrap_or_else(|| panic!("the feeds were not fetched; log:\n{}", daemon.log()));
    let stories = env.count("SELECT count(*) FROM stories");
    assert!(stories > 0);

    for (path, content_type) in
        [("/feed.atom", "application/atom+xml"), ("/feed.json", "application/feed+json"), ("/", "text/html")]
    {
        let (status, headers, body) = request(&addr, path, &[]);
        assert_eq!(status, 200, "{path}");
        assert!(headers["content-type"].starts_with(content_type), "{path}: {headers:?}");
        let etag = headers.get("etag").unwrap_or_else(|| panic!("{path} has no ETag"));
        let last_modified = headers.get("last-modified").unwrap_or_else(|| panic!("{path} has no Last-Modified"));
        if path != "/" {
            let feed = feed_rs::parser::parse(&body[..]).unwrap();
            assert_eq!(feed.entries.len() as i64, stories, "{path}: one entry per story");
        } else {
            let html = String::from_utf8(body.clone()).unwrap();
            assert!(html.contains("Storm leaves thousands without power along the coast"));
            assert_eq!(html.matches("<li id=\"story-").count() as i64, stories);
        }
        let (status, again, body) = request(&addr, path, &[("If-None-Match", etag)]);
        assert_eq!((status, body.len()), (304, 0), "{path} answers 304 to its own ETag");
        assert_eq!(again.get("etag"), Some(etag));
        let (status, _, _) = request(&addr, path, &[("If-Modified-Since", last_modified)]);
        assert_eq!(status, 304, "{path} answers 304 to its own Last-Modified");
        let (status, _, body) = request(&addr, path, &[("If-None-Match", "\"stale\"")]);
        assert_eq!(status, 200);
        assert!(!body.is_empty());
    }

    // Filters.
    let (_, _, body) = request(&addr, "/feed.json?min_items=2", &[]);
    let feed = feed_rs::parser::parse(&body[..]).unwrap();
    assert_eq!(feed.entries.len() as i64, env.count("SELECT count(*) FROM stories WHERE item_count >= 2"));
    let (_, _, body) = request(&addr, "/feed.atom?q=electricity", &[]);
    let feed = feed_rs::parser::parse(&body[..]).unwrap();
    assert_eq!(feed.entries.len(), 1);
    assert!(feed.entries[0].title.as_ref().unwrap().content.starts_with("Storm"));
    let feed_url = files.iter().find(|f| f.contains("reuploads")).unwrap();
    let (_, _, body) = request(&addr, &format!("/feed.atom?feed={}", feed_url.replace('/', "%2F")), &[]);
    let expected = env.count(&format!(
        "SELECT count(DISTINCT story_id) FROM story_items WHERE feed_url = '{}'",
        feed_url.replace('\'', "''")
    ));
    assert_eq!(feed_rs::parser::parse(&body[..]).unwrap().entries.len() as i64, expected);
    assert_eq!(request(&addr, "/feed.json?min_items=lots", &[]).0, 400);

    daemon.signal("TERM");
    assert_eq!(daemon.wait_exit(), Some(0), "{}", daemon.log());
}
