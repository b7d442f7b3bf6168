//! Feed lists, local ingestion, and the read commands.

use crate::util::{fixture, Env};
use std::io::Write;
use std::process::Stdio;

fn example_files(env: &Env) -> (String, String) {
    let p = env.write("publisher.xml", &fixture("example/publisher.xml"));
    let r = env.write("reupload.xml", &fixture("example/reupload.xml"));
    (p.display().to_string(), r.display().to_string())
}

#[test]
fn feeds_import_reads_nested_opml_and_text_lists() {
    let env = Env::new();
    let opml = env.write(
        "subs.opml",
        r#"<?xml version="1.0"?><opml version="2.0"><head/><body>
           <outline text="News"><outline text="A" type="rss" xmlUrl="https://a.example/feed"/>
             <outline text="More"><outline text="B" type="rss" xmlUrl="https://b.example/rss"/></outline></outline>
           </body></opml>"#,
    );
    let out = env.ok(&["feeds", "import", opml.to_str().unwrap()]);
    assert!(out.contains("2 added"), "{out}");
    let list = env.write("list.txt", "# mine\nhttps://b.example/rss\nhttps://c.example/atom\n\n");
    let out = env.ok(&["feeds", "import", list.to_str().unwrap()]);
    assert!(out.contains("1 added, 1 already present"), "{out}");
    let listed = env.ok(&["feeds", "list"]);
    for u in ["https://a.example/feed", "https://b.example/rss", "https://c.example/atom"] {
        assert!(listed.contains(u), "{listed}");
    }
    let json: serde_json::Value = serde_json::from_str(&env.ok(&["feeds", "list", "--json"])).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 3);
}

#[test]
fn ingest_processes_local_files_and_a_rerun_adds_nothing() {
    let env = Env::new();
    let (p, r) = example_files(&env);
    let out = env.ok(&["ingest", &p, &r]);
    assert!(out.contains("items: 4 new"), "{out}");
    assert!(out.contains("reposts folded: 1"), "{out}");
    assert!(out.contains("boilerplate lines removed: 8"), "{out}");
    let out = env.ok(&["ingest", &p, &r]);
    assert!(out.contains("items: 0 new"), "{out}");
    assert_eq!(env.count("SELECT count(*) FROM items"), 4);
    // Paths are stored absolute, so the same file is one feed from any folder.
    assert_eq!(env.count("SELECT count(*) FROM feeds"), 2);
    let url: String = env.sql().query_row("SELECT url FROM feeds ORDER BY id LIMIT 1", [], |r| r.get(0)).unwrap();
    assert!(std::path::Path::new(&url).is_absolute(), "{url}");
}

#[test]
fn ingest_can_store_a_later_snapshot_under_its_feed() {
    let env = Env::new();
    let (p, _) = example_files(&env);
    env.ok(&["ingest", &p]);
    let later = fixture("example/publisher.xml")
        .replace("publisher-0001", "publisher-0003")
        .replace("Trump suspended from Twitter and Facebook", "A new story")
        .replace("Donald Trump has been suspended", "A completely different opening sentence about weather has been");
    let snapshot = env.write("snapshot.xml", &later);
    env.ok(&["ingest", "--feed", &p, snapshot.to_str().unwrap()]);
    assert_eq!(env.count("SELECT count(*) FROM feeds"), 1);
    assert_eq!(env.count("SELECT count(*) FROM items"), 3, "new guid added, old items kept");
}

#[test]
fn ingest_reads_stdin() {
    let env = Env::new();
    let mut child = env
        .cmd()
        .args(["ingest", "--feed", "https://publisher.example/rss", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(fixture("example/publisher.xml").as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(env.count("SELECT count(*) FROM items"), 2);
    assert_eq!(env.count("SELECT count(*) FROM feeds WHERE url = 'https://publisher.example/rss'"), 1);
}

#[test]
fn stories_show_search_and_stats() {
    let env = Env::new();
    let (p, r) = example_files(&env);
    env.ok(&["ingest", &p, &r]);
    let stories = env.ok(&["stories"]);
    assert!(stories.contains("Trump suspended from Twitter and Facebook"), "{stories}");
    assert!(stories.contains("Snow closes mountain pass"), "{stories}");
    let many = env.ok(&["stories", "--min-items", "2", "--json"]);
    let many: serde_json::Value = serde_json::from_str(&many).unwrap();
    assert_eq!(many.as_array().unwrap().len(), 1);
    let id = many[0]["id"].as_i64().unwrap();

    let show = env.ok(&["show", &id.to_string()]);
    assert!(show.contains("[canonical]"), "{show}");
    assert!(show.contains("Please subscribe to my channel."), "{show}");
    assert!(show.contains("exact"), "{show}");
    let json: serde_json::Value = serde_json::from_str(&env.ok(&["show", &id.to_string(), "--json"])).unwrap();
    assert_eq!(json["items"].as_array().unwrap().len(), 2);
    let out = env.run(&["show", "999"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no story with id 999"));

    let found = env.ok(&["search", "Instagram"]);
    assert!(found.contains("Trump suspended"), "{found}");
    assert!(!found.contains("Snow closes"), "{found}");

    let stats: serde_json::Value = serde_json::from_str(&env.ok(&["stats", "--json"])).unwrap();
    assert_eq!(stats["items"], 4);
    assert_eq!(stats["stories"], 3);
    assert_eq!(stats["reposts_folded"], 1);
    assert_eq!(stats["removed_lines"], 8);
}

#[test]
fn export_jsonl_and_csv() {
    let env = Env::new();
    let (p, r) = example_files(&env);
    env.ok(&["ingest", &p, &r]);
    let jsonl = env.ok(&["export", "--format", "jsonl"]);
    let stories: Vec<serde_json::Value> = jsonl.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(stories.len(), 3);
    let big = stories.iter().find(|s| s["items"].as_array().unwrap().len() == 2).unwrap();
    assert_eq!(big["items"][0]["is_canonical"], true);
    assert_eq!(big["items"][0]["guid"], "publisher-0001");
    assert_eq!(big["items"][0]["lag_seconds"], 0);
    // The repost says how it matched, how close it was and how late it came.
    let repost = &big["items"][1];
    assert!(repost["match_method"].is_string() && repost["distance"].is_i64(), "{repost}");
    assert!(repost["similarity"].as_f64().is_some_and(|s| s > 0.5 && s <= 1.0), "{repost}");
    assert!(repost["lag_seconds"].as_i64().is_some_and(|l| l > 0), "{repost}");

    let out = env.path("items.csv");
    env.ok(&["export", "--format", "csv", "--output", out.to_str().unwrap()]);
    let csv = std::fs::read_to_string(&out).unwrap();
    assert!(csv.starts_with("story_id,story_title,item_id,"));
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    assert!(header.contains(&"similarity") && header.contains(&"lag_seconds"), "{header:?}");
    // Multi-line clean text is quoted, so there are more physical lines than rows.
    assert!(csv.matches("\"Donald Trump has been suspended").count() >= 1, "{csv}");
}
