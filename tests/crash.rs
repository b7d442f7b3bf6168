//! Crash safety: SIGKILL a run at several points, run again, and compare with a run that was
//! never interrupted. Slow (hundreds of feeds, several runs): `make test-slow`.

use crate::util::{wait_until, Env, Reply, Running, Server};
use std::collections::{BTreeMap, BTreeSet};

const FEEDS: usize = 300;
const ITEMS_PER_FEED: usize = 6;
const STORIES: usize = 90;

/// A body for base story `n`: long enough for near-duplicate matching, distinct per story.
fn story_body(n: usize) -> String {
    let words =
        ["council", "river", "snow", "market", "hospital", "railway", "school", "harbour", "election", "bridge"];
    let mut body = format!("<p>Report number {n} from the {} desk.</p>", words[n % words.len()]);
    for p in 0..4 {
        body.push_str(&format!(
            "<p>Paragraph {p} of story {n}: the {} and the {} were discussed by officials on day {}, \
             who said the {} would reopen after inspection number {}.</p>",
            words[(n + p) % words.len()],
            words[(n * 3 + p) % words.len()],
            n * 7 + p,
            words[(n * 5 + p) % words.len()],
            n * 13 + p * 17
        ));
    }
    body
}

/// Feed `f`: items that repost base stories (so stories fold across feeds), each with a guid
/// of its own.
fn feed_xml(f: usize) -> String {
    let mut xml = format!("<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Feed {f}</title>");
    for i in 0..ITEMS_PER_FEED {
        let story = (f * 5 + i * 11) % STORIES;
        xml.push_str(&format!(
            "<item><guid>f{f}-i{i}</guid><title>Story {story}</title><link>https://feed{f}.example/{i}</link>\
             <pubDate>Mon, 0{} Jan 2024 10:00:00 GMT</pubDate><description><![CDATA[{}]]></description></item>",
            1 + i % 9,
            story_body(story)
        ));
    }
    xml.push_str("</channel></rss>");
    xml
}

fn setup(server: &Server) -> Env {
    let env = Env::new();
    let list: String = (0..FEEDS).map(|f| server.url(&format!("/feed{f}.xml")) + "\n").collect();
    let list = env.write("feeds.txt", &list);
    env.ok(&["feeds", "import", list.to_str().unwrap()]);
    env
}

/// Every stored item as (feed url, guid) → its clean text; the story partition as sets of
/// (feed url, guid); after checking the database's integrity and derived counts.
type Snapshot = (BTreeMap<(String, String), String>, BTreeSet<BTreeSet<(String, String)>>);

fn snapshot(env: &Env) -> Snapshot {
    let db = env.sql();
    let check: String = db.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(check, "ok");
    let fk: i64 = db.query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| r.get(0)).unwrap();
    assert_eq!(fk, 0, "foreign keys hold");
    let total: i64 = db.query_row("SELECT count(*) FROM items", [], |r| r.get(0)).unwrap();
    let distinct: i64 =
        db.query_row("SELECT count(*) FROM (SELECT DISTINCT feed_id, guid FROM items)", [], |r| r.get(0)).unwrap();
    assert_eq!(total, distinct, "each item stored once");
    let bad_counts: i64 = db
        .query_row(
            "SELECT count(*) FROM stories s WHERE item_count != (SELECT count(*) FROM items WHERE story_id = s.id)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(bad_counts, 0, "story counts match their items");
    let mut items = BTreeMap::new();
    let mut stories: BTreeMap<i64, BTreeSet<(String, String)>> = BTreeMap::new();
    let mut stmt = db
        .prepare("SELECT f.url, i.guid, i.clean_text, i.story_id FROM items i JOIN feeds f ON f.id = i.feed_id")
        .unwrap();
    let rows = stmt
        .query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, Option<i64>>(3)?))
        })
        .unwrap();
    for row in rows {
        let (url, guid, text, story) = row.unwrap();
        let story = story.expect("every stored item is in a story");
        stories.entry(story).or_default().insert((url.clone(), guid.clone()));
        items.insert((url, guid), text);
    }
    (items, stories.into_values().collect())
}

#[test]
#[ignore = "slow: make test-slow"]
fn a_run_killed_at_any_point_and_rerun_stores_every_item_exactly_once() {
    let server = Server::start();
    for f in 0..FEEDS {
        // A little network time per feed, so that a run lasts long enough to be killed in
        // the middle (the writer commits the feeds that wait for it together).
        server.route(&format!("/feed{f}.xml"), Reply::xml(&feed_xml(f)).delayed(std::time::Duration::from_millis(20)));
    }
    let reference = setup(&server);
    reference.ok(&["run", "--once"]);
    let expected = snapshot(&reference);
    assert_eq!(expected.0.len(), FEEDS * ITEMS_PER_FEED);
    assert!(expected.1.len() < expected.0.len(), "reposts were folded");

    // Kill before anything is stored, early, in the middle, and near the end.
    for kill_at in [0, 50, FEEDS * ITEMS_PER_FEED / 2, FEEDS * ITEMS_PER_FEED * 9 / 10] {
        let env = setup(&server);
        let mut cmd = env.cmd();
        cmd.args(["run", "--once"]);
        let mut run = Running::start(cmd);
        if kill_at > 0 {
            wait_until("items to be stored", || {
                let n: i64 = env.sql().query_row("SELECT count(*) FROM items", [], |r| r.get(0)).ok()?;
                (n as usize >= kill_at).then_some(())
            })
            .unwrap_or_else(|| panic!("the run did not get to {kill_at} items"));
        }
        run.signal("KILL");
        assert_eq!(run.wait_exit(), None, "killed by a signal");
        let stored_before_rerun: i64 = env.count("SELECT count(*) FROM items");
        let fetched_before_rerun = env.count("SELECT count(*) FROM feeds WHERE last_status IS NOT NULL");
        eprintln!("killed at {kill_at}: {stored_before_rerun} items, {fetched_before_rerun} feeds stored");
        assert!((fetched_before_rerun as usize) < FEEDS, "the kill came after the run had finished");
        // What survived the kill is consistent on its own.
        snapshot(&env);

        let out = env.run(&["run", "--once"]);
        assert!(out.status.success(), "rerun after a kill at {kill_at}: {}", String::from_utf8_lossy(&out.stderr));
        let got = snapshot(&env);
        assert_eq!(got.0, expected.0, "kill at {kill_at} ({stored_before_rerun} stored before the rerun)");
        assert_eq!(got.1, expected.1, "same stories after a kill at {kill_at}");
        // Nothing is left due: every feed was committed by one run or the other.
        assert_eq!(env.count("SELECT count(*) FROM feeds WHERE last_status IS NULL"), 0);
    }
}
