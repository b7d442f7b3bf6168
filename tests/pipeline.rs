//! The whole pipeline over HTTP: fetch, clean, fingerprint, fold reposts, store.

use crate::util::{fixture, Env, Reply, Server};

fn serve_example(server: &Server) {
    server.route("/publisher.xml", Reply::xml(&fixture("example/publisher.xml")));
    server.route("/reupload.xml", Reply::ok("application/atom+xml", fixture("example/reupload.xml")));
}

#[test]
fn a_reupload_joins_the_publisher_story_without_its_boilerplate() {
    let server = Server::start();
    serve_example(&server);
    let env = Env::new();
    env.ok(&["feeds", "add", &server.url("/publisher.xml"), &server.url("/reupload.xml")]);
    let summary = env.ok(&["run", "--once"]);
    assert!(summary.contains("items: 4 new"), "{summary}");

    let db = env.sql();
    let (story, text): (i64, String) = db
        .query_row("SELECT story_id, clean_text FROM items WHERE guid = 'yt:video:tRuMpVideo01'", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    // One story, whose canonical item is the publisher's.
    let canonical_guid: String = db
        .query_row(
            "SELECT i.guid FROM stories s JOIN items i ON i.id = s.canonical_item_id WHERE s.id = ?1",
            [story],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(canonical_guid, "publisher-0001");
    let members: i64 = db.query_row("SELECT count(*) FROM items WHERE story_id = ?1", [story], |r| r.get(0)).unwrap();
    assert_eq!(members, 2);

    // Every article line kept (entities decoded), none of the four boilerplate lines.
    for line in [
        "Donald Trump has been suspended from Twitter and Facebook after tweeting to supporters who attacked the US Capitol.",
        "In a social media message to protesters he said \"I love you\" before telling them to go home.",
        "Twitter said it required the removal of three tweets for \"severe violations of our Civic Integrity policy\".",
        "Facebook and Instagram blocked him from posting for twenty-four hours",
    ] {
        assert!(text.contains(line), "missing {line:?} in {text:?}");
    }
    for line in ["[News taken from BBC]", "Please subscribe", "Thanks for watching", "Ещё видео"] {
        assert!(!text.contains(line), "{line:?} left in {text:?}");
    }

    // removed_lines says which rule removed each of the four lines.
    let mut stmt = db
        .prepare(
            "SELECT r.line, r.rule FROM removed_lines r JOIN items i ON i.id = r.item_id \
             WHERE i.guid = 'yt:video:tRuMpVideo01' ORDER BY r.position",
        )
        .unwrap();
    let removed: Vec<(String, String)> =
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().collect::<Result<_, _>>().unwrap();
    let lines: Vec<&str> = removed.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(
        lines,
        ["[News taken from BBC]", "Please subscribe to my channel.", "Thanks for watching.", "Ещё видео!"]
    );
    assert!(removed.iter().all(|(_, rule)| !rule.is_empty()));

    // The unrelated short video with the same footer is a story of its own.
    let short_story: i64 =
        db.query_row("SELECT story_id FROM items WHERE guid = 'yt:video:sHoRtVideo02'", [], |r| r.get(0)).unwrap();
    assert_ne!(short_story, story);
    let short_members: i64 =
        db.query_row("SELECT count(*) FROM items WHERE story_id = ?1", [short_story], |r| r.get(0)).unwrap();
    assert_eq!(short_members, 1);
    let short_text: String =
        db.query_row("SELECT clean_text FROM items WHERE guid = 'yt:video:sHoRtVideo02'", [], |r| r.get(0)).unwrap();
    assert_eq!(short_text, "Heavy snow has closed the mountain pass for the second time this week.");

    // Distances are recorded against the canonical fingerprint.
    let distance: i64 =
        db.query_row("SELECT distance FROM items WHERE guid = 'yt:video:tRuMpVideo01'", [], |r| r.get(0)).unwrap();
    assert!(distance <= 3, "{distance}");
}

#[test]
fn a_rerun_adds_nothing() {
    let server = Server::start();
    serve_example(&server);
    let env = Env::new();
    env.ok(&["feeds", "add", &server.url("/publisher.xml"), &server.url("/reupload.xml")]);
    env.ok(&["run", "--once"]);
    let before = (
        env.count("SELECT count(*) FROM items"),
        env.count("SELECT count(*) FROM stories"),
        env.count("SELECT count(*) FROM removed_lines"),
    );
    let summary = env.ok(&["run", "--once", "--all"]);
    assert!(summary.contains("items: 0 new, 0 updated"), "{summary}");
    let after = (
        env.count("SELECT count(*) FROM items"),
        env.count("SELECT count(*) FROM stories"),
        env.count("SELECT count(*) FROM removed_lines"),
    );
    assert_eq!(before, after);
    // Not due yet: a plain `run --once` fetches nothing.
    let requests = server.requests("/publisher.xml").len();
    let summary = env.ok(&["run", "--once"]);
    assert!(summary.starts_with("feeds: 0 "), "{summary}");
    assert_eq!(server.requests("/publisher.xml").len(), requests);
}

#[test]
fn an_updated_item_is_updated_in_place() {
    let server = Server::start();
    serve_example(&server);
    let env = Env::new();
    env.ok(&["feeds", "add", &server.url("/publisher.xml")]);
    env.ok(&["run", "--once"]);
    let id: i64 = env.count("SELECT id FROM items WHERE guid = 'publisher-0002'");

    let updated = fixture("example/publisher.xml").replace(
        "funded by a regional transport grant.</p>",
        "funded by a regional transport grant.</p>\n<p>The first section will open next to the hospital in June.</p>",
    );
    server.route("/publisher.xml", Reply::xml(&updated));
    let summary = env.ok(&["run", "--once", "--all"]);
    assert!(summary.contains("0 new, 1 updated, 1 unchanged"), "{summary}");
    assert_eq!(env.count("SELECT count(*) FROM items"), 2);
    let (same_id, text): (i64, String) = env
        .sql()
        .query_row("SELECT id, clean_text FROM items WHERE guid = 'publisher-0002'", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap();
    assert_eq!(same_id, id);
    assert!(text.ends_with("The first section will open next to the hospital in June."));
    assert_eq!(env.count("SELECT count(*) FROM stories"), 2);
    assert_eq!(env.count("SELECT sum(item_count) FROM stories"), 2);
}

#[test]
fn a_broken_feed_is_recorded_and_the_others_are_stored() {
    let server = Server::start();
    serve_example(&server);
    server.route("/broken.xml", Reply::xml("<rss version=\"2.0\"><channel><item><title>cut"));
    server.route("/gone-wrong.xml", Reply::status(500));
    let env = Env::new();
    env.ok(&[
        "feeds",
        "add",
        &server.url("/broken.xml"),
        &server.url("/publisher.xml"),
        &server.url("/gone-wrong.xml"),
        &server.url("/reupload.xml"),
    ]);
    let summary = env.ok(&["run", "--once"]);
    assert!(summary.contains("feeds: 4 (2 failed"), "{summary}");
    assert_eq!(env.count("SELECT count(*) FROM items"), 4);
    let db = env.sql();
    let (status, error, count): (Option<i64>, String, i64) = db
        .query_row(
            "SELECT last_status, last_error, error_count FROM feeds WHERE url LIKE '%/gone-wrong.xml'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!((status, count), (Some(500), 1));
    assert!(error.contains("500"), "{error}");
    let (error, count): (String, i64) = db
        .query_row("SELECT last_error, error_count FROM feeds WHERE url LIKE '%/broken.xml'", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!(count, 1);
    assert!(error.contains("XML") || error.contains("feed"), "{error}");
    let ok_errors: i64 =
        db.query_row("SELECT error_count FROM feeds WHERE url LIKE '%/publisher.xml'", [], |r| r.get(0)).unwrap();
    assert_eq!(ok_errors, 0);

    // The failures are due again later, not now; a second failure counts up.
    env.ok(&["run", "--once", "--all"]);
    assert_eq!(env.count("SELECT error_count FROM feeds WHERE url LIKE '%/gone-wrong.xml'"), 2);
}

#[test]
fn validators_are_sent_back_and_a_304_changes_nothing() {
    let server = Server::start();
    server.route("/publisher.xml", Reply::xml(&fixture("example/publisher.xml")).header("ETag", "\"v1\""));
    let env = Env::new();
    env.ok(&["feeds", "add", &server.url("/publisher.xml")]);
    env.ok(&["run", "--once"]);
    assert_eq!(env.count("SELECT count(*) FROM feeds WHERE etag = '\"v1\"'"), 1);
    server.route("/publisher.xml", Reply::status(304).header("ETag", "\"v1\""));
    let summary = env.ok(&["run", "--once", "--all"]);
    assert!(summary.contains("1 unchanged"), "{summary}");
    let requests = server.requests("/publisher.xml");
    assert_eq!(requests.last().unwrap().headers.get("if-none-match").map(String::as_str), Some("\"v1\""));
    assert!(requests[0].headers.get("user-agent").is_some_and(|ua| ua.starts_with("newsdedup/")));
    assert_eq!(env.count("SELECT count(*) FROM items"), 2);
    assert_eq!(env.count("SELECT last_status FROM feeds"), 304);
}

#[test]
fn a_run_where_no_feed_could_be_fetched_exits_1() {
    let server = Server::start();
    let env = Env::new();
    env.ok(&["feeds", "add", &server.url("/nothing-here.xml")]);
    let out = env.run(&["run", "--once"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(env.count("SELECT last_status FROM feeds"), 404);
}

#[test]
fn the_daemon_polls_and_stops_cleanly_on_sigterm() {
    let server = Server::start();
    serve_example(&server);
    let env = Env::new();
    env.ok(&["feeds", "add", &server.url("/publisher.xml")]);
    let cfg = env.write("fast.toml", "[schedule]\ninterval = \"1s\"\n[daemon]\ntick = \"200ms\"\n");
    let child = env
        .cmd()
        .args(["--config", cfg.to_str().unwrap(), "daemon"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until it has fetched the feed at least twice (it is due again after 1s).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while server.requests("/publisher.xml").len() < 2 {
        assert!(std::time::Instant::now() < deadline, "the daemon did not poll");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // A feed added while it runs is picked up without a restart.
    server.route("/reupload.xml", Reply::ok("application/atom+xml", fixture("example/reupload.xml")));
    env.ok(&["feeds", "add", &server.url("/reupload.xml")]);
    while server.requests("/reupload.xml").is_empty() {
        assert!(std::time::Instant::now() < deadline, "the daemon did not pick up the new feed");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let status = std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(env.count("SELECT count(*) FROM items"), 4);
    let check: String = env.sql().query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(check, "ok");
}
