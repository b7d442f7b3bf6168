//! Boilerplate removal end to end: a footer learned across runs (and earlier items cleaned
//! again), `reprocess` after a rule change, per-feed rules from the config file.

use crate::util::Env;

/// An RSS document of `items` (title, body) from a Polish channel (no rule pack covers
/// Polish): each body is its own story, then the channel's footer.
fn polish_channel(items: &[(usize, &str)]) -> String {
    let mut xml = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><rss version=\"2.0\"><channel><title>Kanał Wiadomości</title>\
         <link>https://kanal.example.pl/</link><description>x</description>",
    );
    for (n, story) in items {
        xml.push_str(&format!(
            "<item><title>Wiadomość {n}</title><guid>kanal-{n}</guid><link>https://kanal.example.pl/w/{n}</link>\
             <description><![CDATA[<p>{story}</p><p>Obejrzano {} razy</p><p>Dołącz do nas: \
             <a href=\"https://t.me/kanal_pl\">t.me/kanal_pl</a></p><p>Udostępnij znajomym!</p>]]></description></item>",
            100 + 7 * n
        ));
    }
    xml.push_str("</channel></rss>");
    xml
}

const STORIES: [&str; 6] = [
    "Rząd przyjął projekt ustawy o budowie nowych mieszkań w dużych miastach.",
    "Na Bałtyku odnotowano rekordowo wysoką temperaturę wody jak na tę porę roku.",
    "Kolej zapowiada nowe połączenia między Krakowem a Gdańskiem od grudnia.",
    "Ceny masła w sklepach spadły po raz pierwszy od dwóch lat, wynika z danych urzędu.",
    "W Warszawie otwarto największą w kraju bibliotekę publiczną z ogrodem na dachu.",
    "Reprezentacja siatkarek awansowała do półfinału mistrzostw świata po zwycięstwie.",
];

#[test]
fn a_footer_is_learned_across_runs_and_earlier_items_are_cleaned_again() {
    let env = Env::new();
    let feed = "https://kanal.example.pl/feed";
    let first: Vec<(usize, &str)> = (0..3).map(|n| (n, STORIES[n])).collect();
    let snap1 = env.write("snap1.xml", &polish_channel(&first));
    env.ok(&["ingest", "--feed", feed, snap1.to_str().unwrap()]);
    // Three stories are not enough evidence: the footer is still there.
    let text: String =
        env.sql().query_row("SELECT clean_text FROM items WHERE guid = 'kanal-0'", [], |r| r.get(0)).unwrap();
    assert!(text.contains("Udostępnij znajomym!"), "{text}");

    // A later run brings three more stories: now the footer is the channel's template, in
    // the new items and in the earlier ones.
    let second: Vec<(usize, &str)> = (3..6).map(|n| (n, STORIES[n])).collect();
    let snap2 = env.write("snap2.xml", &polish_channel(&second));
    let out = env.ok(&["ingest", "--feed", feed, snap2.to_str().unwrap()]);
    assert!(out.contains("earlier items cleaned again: 3"), "{out}");
    let texts: Vec<String> = {
        let conn = env.sql();
        let mut stmt = conn.prepare("SELECT clean_text FROM items ORDER BY id").unwrap();
        stmt.query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap()
    };
    assert_eq!(texts.len(), 6);
    for (text, story) in texts.iter().zip(STORIES) {
        assert_eq!(text, story);
    }
    // Why: each footer line is recorded as learned, the view count whatever its number.
    assert_eq!(env.count("SELECT count(*) FROM removed_lines WHERE rule = 'learned.template'"), 18);
    assert_eq!(
        env.count(
            "SELECT count(*) FROM removed_lines WHERE rule = 'learned.template' AND line LIKE 'Obejrzano % razy'"
        ),
        6
    );
    // What was learned is there for people to read (the link closing a line counts on its own too).
    let examples: Vec<String> = {
        let conn = env.sql();
        let mut stmt = conn.prepare("SELECT example FROM template_lines WHERE example IS NOT NULL").unwrap();
        stmt.query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap()
    };
    assert!(examples.iter().any(|e| e == "Udostępnij znajomym!"), "{examples:?}");
    assert!(examples.iter().any(|e| e.starts_with("Obejrzano ")), "{examples:?}");
    assert_eq!(env.count("SELECT stories FROM template_feeds"), 6);
}

/// Two feeds carry one story; the reposter adds a line no rule knows, long enough to hide the
/// story from the deduplicator's fingerprints. The story is a bulletin of short lines, which
/// have no phrases long enough for phrase keys (a longer story's would find the repost).
fn publisher_and_reposter(env: &Env) -> (String, String) {
    let story = "<p>Rail depot becomes homes.</p><p>Council approves the plan.</p>\
                 <p>Four hundred new homes.</p><p>A public park beside them.</p>\
                 <p>Work starts next spring.</p><p>Finished within three years.</p>";
    let publisher = format!(
        "<rss version=\"2.0\"><channel><title>Gazette</title><link>https://gazette.example/</link>\
         <description>x</description><item><title>Depot to become homes</title><guid>g-1</guid>\
         <link>https://gazette.example/depot</link><pubDate>Tue, 02 Jan 2024 09:00:00 GMT</pubDate>\
         <description><![CDATA[{story}]]></description></item></channel></rss>"
    );
    let reposter = format!(
        "<rss version=\"2.0\"><channel><title>Reposts</title><link>https://reposts.example/</link>\
         <description>x</description><item><title>Depot to become homes</title><guid>r-1</guid>\
         <link>https://reposts.example/p/77</link><pubDate>Tue, 02 Jan 2024 11:00:00 GMT</pubDate>\
         <description><![CDATA[<p>Brought to you by the Reposts crew, your friendly neighbourhood news people, \
         who read every paper in the county each morning so that you never have to, and who pick out \
         the stories that matter to you, your family, your street and your favourite football club</p>\
         {story}]]></description></item></channel></rss>"
    );
    let p = env.write("gazette.xml", &publisher);
    let r = env.write("reposts.xml", &reposter);
    (p.display().to_string(), r.display().to_string())
}

#[test]
fn reprocess_applies_a_new_feed_rule_and_re_decides_the_story() {
    let env = Env::new();
    let (publisher, reposter) = publisher_and_reposter(&env);
    env.ok(&["ingest", &publisher, &reposter]);
    assert_eq!(env.count("SELECT count(DISTINCT story_id) FROM items"), 2, "the header hides the repost");
    let kept: String =
        env.sql().query_row("SELECT clean_text FROM items WHERE guid = 'r-1'", [], |r| r.get(0)).unwrap();
    assert!(kept.starts_with("Brought to you by"), "{kept}");

    // The user writes a rule for that feed and reprocesses it, without fetching anything.
    let config = env.write(
        "rules.toml",
        &format!(
            "[[normalise.feed]]\nurl = \"{reposter}\"\n[[normalise.feed.rule]]\nid = \"reposts.crew\"\n\
             where = \"head\"\npattern = '^brought to you by the reposts crew\\b'\ncomment = \"Their header.\"\n"
        ),
    );
    let out = env.ok(&["--config", config.to_str().unwrap(), "reprocess", "--feed", &reposter, "--json"]);
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["feeds"], 1);
    assert_eq!(report["items"], 1);
    assert_eq!(report["items_recleaned"], 1);
    assert_eq!(report["lines_removed"], 1);
    assert_eq!(report["lines_restored"], 0);
    assert_eq!(report["items_story_changed"], 2, "both items' stories changed: they are one story now");
    assert_eq!(env.count("SELECT count(DISTINCT story_id) FROM items"), 1);
    assert_eq!(env.count("SELECT count(*) FROM stories"), 1);
    assert_eq!(env.count("SELECT count(*) FROM removed_lines WHERE rule = 'reposts.crew'"), 1);
    let (a, b): (String, String) = env
        .sql()
        .query_row(
            "SELECT (SELECT clean_text FROM items WHERE guid = 'g-1'), (SELECT clean_text FROM items WHERE guid = 'r-1')",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(a, b);

    // Reprocessing again with the same settings changes nothing.
    let out = env.ok(&["--config", config.to_str().unwrap(), "reprocess"]);
    assert!(out.contains("0 cleaned differently") && out.contains("0 items changed story"), "{out}");
}

#[test]
fn reprocess_refuses_an_unknown_feed() {
    let env = Env::new();
    let (publisher, _) = publisher_and_reposter(&env);
    env.ok(&["ingest", &publisher]);
    let out = env.run(&["reprocess", "--feed", "https://nowhere.example/feed"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no feed https://nowhere.example/feed"), "{err}");
}

#[test]
fn items_stored_without_learning_are_counted_and_cleaned_when_learning_starts() {
    let env = Env::new();
    let feed = "https://kanal.example.pl/feed";
    let off = env.write("off.toml", "[normalise.learn]\nenabled = false\n");
    let first: Vec<(usize, &str)> = (0..5).map(|n| (n, STORIES[n])).collect();
    let snap1 = env.write("snap1.xml", &polish_channel(&first));
    env.ok(&["--config", off.to_str().unwrap(), "ingest", "--feed", feed, snap1.to_str().unwrap()]);
    assert_eq!(env.count("SELECT count(*) FROM template_feeds"), 0);
    assert_eq!(env.count("SELECT count(*) FROM items WHERE clean_text LIKE '%Udostępnij znajomym!%'"), 5);

    // Learning on (the default): the stored items are counted first, then the new one, and
    // the footer goes from all six.
    let snap2 = env.write("snap2.xml", &polish_channel(&[(5, STORIES[5])]));
    let out = env.ok(&["ingest", "--feed", feed, snap2.to_str().unwrap()]);
    assert!(out.contains("earlier items cleaned again: 5"), "{out}");
    assert_eq!(env.count("SELECT stories FROM template_feeds"), 6);
    assert_eq!(env.count("SELECT count(*) FROM items WHERE clean_text LIKE '%Udostępnij%'"), 0);
}
