//! The inspection side of the store, through its public API: the views people query, the
//! full-text index and how it follows the stories, the foreign keys tools use to link rows.

use chrono::{DateTime, TimeZone, Utc};
use newsdedup_model::{
    BodyKind, CleanItem, Decision, FeedId, Fingerprint, ItemId, KeySource, MatchMethod, RawItem, RemovedLine, StoryId,
};
use newsdedup_store::{FeedOutcome, NewItem, Store, StoryFilter};

fn at(hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, hour, 0, 0).unwrap()
}

fn raw(guid: &str, title: &str, body: &str, published_hour: u32) -> RawItem {
    RawItem {
        guid: guid.into(),
        key_source: KeySource::Guid,
        link: Some(format!("https://{guid}.example/story")),
        title: Some(title.into()),
        published_at: Some(at(published_hour)),
        updated_at: None,
        body: body.into(),
        body_kind: BodyKind::Text,
        platform_id: None,
    }
}

fn clean(title: &str, text: &str, removed: &[(&str, &str)]) -> CleanItem {
    CleanItem {
        clean_title: title.into(),
        clean_text: text.into(),
        folded_text: text.to_lowercase(),
        removed: removed
            .iter()
            .enumerate()
            .map(|(i, (line, rule))| RemovedLine {
                position: 10 + i as u32,
                line: (*line).into(),
                rule: (*rule).into(),
            })
            .collect(),
        canonical_link: None,
    }
}

/// A small database: a publisher with two stories, a reupload channel that reposted the first
/// an hour later with two lines of boilerplate, and a feed whose last fetch failed.
struct Fixture {
    _dir: tempfile::TempDir,
    store: Store,
    publisher: FeedId,
    reposter: FeedId,
    storm: StoryId,
    storm_original: ItemId,
    storm_repost: ItemId,
    rates: StoryId,
}

const STORM_TEXT: &str = "A storm left forty thousand homes along the coast without electricity.\n\
                          Engineers worked through the night to reconnect them.";

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("news.db")).unwrap();
    let now = at(12);
    let (publisher, _) = store.add_feed("https://publisher.example/rss", now).unwrap();
    let (reposter, _) = store.add_feed("https://reuploads.example/feed", now).unwrap();
    let (broken, _) = store.add_feed("https://broken.example/feed", now).unwrap();

    let batch = store.begin().unwrap();
    let insert = |feed, raw: &RawItem, clean: &CleanItem, simhash| {
        batch
            .insert_item(
                &NewItem {
                    feed,
                    raw,
                    clean,
                    fingerprint: Fingerprint { simhash, content_hash: simhash },
                    word_count: 20,
                },
                now,
            )
            .unwrap()
    };
    let (r, c) = (raw("storm", "Storm cuts power", STORM_TEXT, 6), clean("Storm cuts power", STORM_TEXT, &[]));
    let storm_original = insert(publisher, &r, &c, 0b1111);
    let storm = batch.assign_story(storm_original, &Decision::NewStory).unwrap();
    let text = "The central bank kept its interest rate unchanged as inflation slowed.";
    let (r, c) = (raw("rates", "Rates held", text, 8), clean("Rates held", text, &[]));
    let rates_item = insert(publisher, &r, &c, 0xff00);
    let rates = batch.assign_story(rates_item, &Decision::NewStory).unwrap();
    let body = format!("{STORM_TEXT}\nPlease subscribe to my channel\nThanks for watching");
    let (r, c) = (
        raw("storm-reupload", "STORM CUTS POWER (NEWS)", &body, 7),
        clean(
            "STORM CUTS POWER",
            STORM_TEXT,
            &[("Please subscribe to my channel", "en.cta.subscribe"), ("Thanks for watching", "en.cta.thanks")],
        ),
    );
    let storm_repost = insert(reposter, &r, &c, 0b0111);
    let join = Decision::Join { story: storm, matched_item: storm_original, method: MatchMethod::Near, distance: 1 };
    batch.assign_story(storm_repost, &join).unwrap();
    let ok = FeedOutcome::Success {
        status: 200,
        validators: Default::default(),
        title: None,
        body_hash: None,
        next_fetch_at: at(13),
    };
    batch.record_outcome(publisher, &ok, now).unwrap();
    batch.record_outcome(reposter, &ok, now).unwrap();
    let failed = FeedOutcome::Failure { status: Some(503), error: "HTTP 503".into(), next_fetch_at: at(14) };
    batch.record_outcome(broken, &failed, now).unwrap();
    batch.commit().unwrap();

    Fixture { _dir: dir, store, publisher, reposter, storm, storm_original, storm_repost, rates }
}

fn sql(f: &Fixture) -> rusqlite::Connection {
    rusqlite::Connection::open(f.store.path()).unwrap()
}

#[test]
fn story_overview_has_one_row_per_story_with_its_counts() {
    let f = fixture();
    let conn = sql(&f);
    let mut stmt = conn
        .prepare(
            "SELECT story_id, title, link, canonical_item_id, item_count, feed_count, first_seen_at \
             FROM story_overview ORDER BY story_id",
        )
        .unwrap();
    let rows: Vec<(i64, String, String, i64, i64, i64, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(rows.len(), 2);
    let storm = &rows[0];
    assert_eq!(storm.0, f.storm.0);
    assert_eq!(storm.1, "Storm cuts power");
    assert_eq!(storm.2, "https://storm.example/story");
    assert_eq!(storm.3, f.storm_original.0, "the earliest-published item is canonical");
    assert_eq!((storm.4, storm.5), (2, 2));
    assert_eq!(storm.6, "2026-03-02T12:00:00Z");
    assert_eq!((rows[1].0, rows[1].4, rows[1].5), (f.rates.0, 1, 1));
}

#[test]
fn story_items_shows_lag_method_distance_and_similarity() {
    let f = fixture();
    let conn = sql(&f);
    conn.execute("UPDATE items SET similarity = 0.93 WHERE id = ?1", [f.storm_repost.0]).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT item_id, is_canonical, feed_id, feed_url, lag_seconds, match_method, matched_item_id, distance, \
                    similarity FROM story_items WHERE story_id = ?1 ORDER BY lag_seconds",
        )
        .unwrap();
    type Row = (i64, bool, i64, String, i64, String, Option<i64>, i64, Option<f64>);
    let rows: Vec<Row> = stmt
        .query_map([f.storm.0], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?, r.get(8)?))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(rows.len(), 2);
    let (original, repost) = (&rows[0], &rows[1]);
    assert_eq!((original.0, original.1, original.4, original.5.as_str()), (f.storm_original.0, true, 0, "new"));
    assert_eq!(original.2, f.publisher.0);
    assert_eq!(repost.0, f.storm_repost.0);
    assert!(!repost.1);
    assert_eq!(repost.3, "https://reuploads.example/feed");
    assert_eq!(repost.4, 3600, "published an hour after the original");
    assert_eq!((repost.5.as_str(), repost.6, repost.7), ("near", Some(f.storm_original.0), 1));
    assert_eq!(repost.8, Some(0.93));
}

#[test]
fn feed_health_reports_status_repost_share_and_boilerplate() {
    let f = fixture();
    let conn = sql(&f);
    let mut stmt = conn
        .prepare(
            "SELECT url, status, last_status, error_count, items, reposts, repost_share, removed_lines, \
                    last_fetched_at FROM feed_health ORDER BY feed_id",
        )
        .unwrap();
    type Row = (String, String, Option<i64>, i64, i64, i64, Option<f64>, i64, Option<String>);
    let rows: Vec<Row> = stmt
        .query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?, r.get(8)?))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let at_noon = Some("2026-03-02T12:00:00Z".to_string());
    assert_eq!(
        rows[0],
        ("https://publisher.example/rss".into(), "ok".into(), Some(200), 0, 2, 0, Some(0.0), 0, at_noon.clone())
    );
    assert_eq!(
        rows[1],
        ("https://reuploads.example/feed".into(), "ok".into(), Some(200), 0, 1, 1, Some(1.0), 2, at_noon.clone())
    );
    assert_eq!(rows[2], ("https://broken.example/feed".into(), "failing".into(), Some(503), 1, 0, 0, None, 0, at_noon));
    // The store's stats read the same view.
    let stats = f.store.stats().unwrap();
    assert_eq!((stats.per_feed[1].id, stats.per_feed[1].repost_share), (f.reposter.0, Some(1.0)));
    assert_eq!(stats.per_feed[2].status, "failing");
}

#[test]
fn feed_health_tells_a_gone_feed_from_a_failing_one() {
    let mut f = fixture();
    let batch = f.store.begin().unwrap();
    batch.record_outcome(f.reposter, &FeedOutcome::Gone { status: 410, error: "HTTP 410".into() }, at(15)).unwrap();
    batch.commit().unwrap();
    let conn = sql(&f);
    let (status, gone_at): (String, Option<String>) = conn
        .query_row("SELECT status, gone_at FROM feed_health WHERE feed_id = ?1", [f.reposter.0], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!(status, "gone");
    assert!(gone_at.is_some());
    let broken: String =
        conn.query_row("SELECT status FROM feed_health WHERE url LIKE '%broken%'", [], |r| r.get(0)).unwrap();
    assert_eq!(broken, "failing");
}

#[test]
fn foreign_keys_are_declared_for_tools_that_link_rows() {
    let f = fixture();
    let conn = sql(&f);
    let links = |table: &str| -> Vec<(String, String)> {
        let mut stmt =
            conn.prepare(&format!("SELECT \"from\", \"table\" FROM pragma_foreign_key_list('{table}')")).unwrap();
        let mut v: Vec<(String, String)> =
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().collect::<Result<_, _>>().unwrap();
        v.sort();
        v
    };
    assert_eq!(links("items"), [("feed_id".into(), "feeds".into()), ("story_id".into(), "stories".into())]);
    assert_eq!(links("stories"), [("canonical_item_id".to_string(), "items".to_string())]);
    assert_eq!(links("removed_lines"), [("item_id".to_string(), "items".to_string())]);
}

#[test]
fn search_finds_a_story_by_a_word_of_its_text_and_ranks_titles_first() {
    let mut f = fixture();
    let hits = f.store.search("electricity", 10).unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].story.id, f.storm.0);
    assert_eq!(hits[0].story.item_count, 2);
    assert!(hits[0].snippet.contains("[electricity]"), "{}", hits[0].snippet);
    // Case and diacritics do not matter; every word must match.
    assert_eq!(f.store.search("ÉLECTRICITY Engineers", 10).unwrap().len(), 1);
    assert!(f.store.search("electricity inflation", 10).unwrap().is_empty());
    assert_eq!(f.store.search("infla*", 10).unwrap()[0].story.id, f.rates.0);
    // A word in a title outranks the same word in a text.
    let conn = sql(&f);
    conn.execute("UPDATE stories SET title = 'Rates held on the coast' WHERE id = ?1", [f.rates.0]).unwrap();
    // A change made by hand reaches the index with the store's next write transaction.
    assert_eq!(f.store.search("coast", 10).unwrap().len(), 1);
    f.store.begin().unwrap().commit().unwrap();
    let hits = f.store.search("coast", 10).unwrap();
    assert_eq!(hits.iter().map(|h| h.story.id).collect::<Vec<_>>(), [f.rates.0, f.storm.0]);
    assert!(hits[0].rank < hits[1].rank);
}

#[test]
fn search_input_is_never_a_query_syntax_error() {
    let f = fixture();
    for q in ["\"", "AND", "storm AND", "NEAR(", "(storm", "title:storm", "-storm", "*", "st\"orm", "^", "'; DROP"] {
        let result = f.store.search(q, 10);
        assert!(result.is_ok(), "{q:?}: {result:?}");
    }
    assert_eq!(f.store.search("(storm)", 10).unwrap().len(), 1);
}

#[test]
fn the_index_follows_story_and_item_changes() {
    let f = fixture();
    let mut store = f.store;
    // The canonical item's text changes: the new words are found, the old ones are not.
    let text = "Floods followed the storm, closing the harbour road.";
    let (r, c) = (raw("storm", "Storm cuts power", text, 6), clean("Storm cuts power", text, &[]));
    let batch = store.begin().unwrap();
    batch
        .update_item(
            f.storm_original,
            &NewItem {
                feed: f.publisher,
                raw: &r,
                clean: &c,
                fingerprint: Fingerprint { simhash: 0b1111, content_hash: 9 },
                word_count: 8,
            },
            at(13),
        )
        .unwrap();
    batch.commit().unwrap();
    assert_eq!(store.search("harbour", 10).unwrap()[0].story.id, f.storm.0);
    assert!(store.search("electricity", 10).unwrap().is_empty());

    // The canonical item leaves: the repost becomes canonical and its text is indexed.
    let batch = store.begin().unwrap();
    batch.leave_story(f.storm_original).unwrap();
    batch.commit().unwrap();
    assert!(store.search("harbour", 10).unwrap().is_empty());
    let hits = store.search("electricity", 10).unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].story.title.as_deref(), Some("STORM CUTS POWER"));

    // The story disappears with its last item, and from the index with it.
    let batch = store.begin().unwrap();
    batch.leave_story(f.storm_repost).unwrap();
    batch.commit().unwrap();
    assert!(store.search("electricity", 10).unwrap().is_empty());
    let indexed: i64 = rusqlite::Connection::open(store.path())
        .unwrap()
        .query_row("SELECT count(*) FROM stories_fts", [], |r| r.get(0))
        .unwrap();
    assert_eq!(indexed, 1, "only the rates story is left");
}

#[test]
fn a_story_without_a_title_is_found_by_its_text() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("news.db")).unwrap();
    let (feed, _) = store.add_feed("f", at(0)).unwrap();
    let mut r = raw("untitled", "", "Glaciers retreated", 1);
    r.title = None;
    let c = clean("", "Glaciers retreated faster this decade", &[]);
    let batch = store.begin().unwrap();
    let fingerprint = Fingerprint { simhash: 7, content_hash: 7 };
    let item = batch.insert_item(&NewItem { feed, raw: &r, clean: &c, fingerprint, word_count: 5 }, at(2)).unwrap();
    let story = batch.assign_story(item, &Decision::NewStory).unwrap();
    batch.commit().unwrap();
    let hits = store.search("glaciers", 10).unwrap();
    assert_eq!((hits.len(), hits[0].story.id, hits[0].story.title.as_deref()), (1, story.0, None));
}

#[test]
fn story_filters_combine_and_query_words_filter_too() {
    let f = fixture();
    let all = f.store.stories(&StoryFilter::default()).unwrap();
    assert_eq!(all.len(), 2);
    let reposted = f.store.stories(&StoryFilter { min_items: Some(2), ..Default::default() }).unwrap();
    assert_eq!(reposted.iter().map(|s| s.id).collect::<Vec<_>>(), [f.storm.0]);
    let by_feed = f
        .store
        .stories(&StoryFilter { feed: Some("https://reuploads.example/feed".into()), ..Default::default() })
        .unwrap();
    assert_eq!(by_feed.len(), 1);
    let by_words = f.store.stories(&StoryFilter { query: Some("interest rate".into()), ..Default::default() }).unwrap();
    assert_eq!(by_words.iter().map(|s| s.id).collect::<Vec<_>>(), [f.rates.0]);
    let nothing = f.store.stories(&StoryFilter { query: Some("?!".into()), ..Default::default() }).unwrap();
    assert!(nothing.is_empty());
    let details = f.store.story_details(&StoryFilter { min_items: Some(2), ..Default::default() }).unwrap();
    assert_eq!(details[0].items.len(), 2);
    assert!(details[0].items[0].is_canonical);
    assert_eq!(details[0].items[1].lag_seconds, Some(3600));
    assert_eq!(details[0].items[1].removed_lines.len(), 2);
    assert_eq!(details[0].items[1].removed_lines[0].rule, "en.cta.subscribe");
}

#[test]
fn a_database_from_before_the_index_is_indexed_when_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(newsdedup_store::schema::MIGRATIONS[0]).unwrap();
        conn.execute_batch(
            "PRAGMA user_version = 1;
             BEGIN;
             INSERT INTO feeds(id, url, added_at) VALUES (1, 'f', '2026-01-01T00:00:00Z');
             INSERT INTO items(id, feed_id, guid, key_source, fetched_at, updated_at, raw_content, body_kind,
                               clean_text, fingerprint, content_hash, word_count, story_id, match_method)
               VALUES (1, 1, 'g', 'guid', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z', 'x', 'text',
                       'Volcanic ash grounded flights', 1, 1, 4, 1, 'new');
             INSERT INTO stories(id, canonical_item_id, title, first_seen_at, last_seen_at, item_count)
               VALUES (1, 1, 'Ash cloud', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z', 1);
             COMMIT;",
        )
        .unwrap();
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(store.search("volcanic", 10).unwrap()[0].story.id, 1);
    assert_eq!(store.search("ash cloud", 10).unwrap()[0].story.id, 1);
    assert_eq!(store.meta("database_id").unwrap().map(|id| id.len()), Some(32));
}
