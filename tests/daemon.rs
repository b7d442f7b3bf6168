//! Running unattended: the daemon's schedule and status endpoint, signals, locking.

use crate::util::{fixture, http_get, wait_until, Env, Reply, Running, Server};
use std::time::Duration;

fn serve_example(server: &Server) {
    server.route("/publisher.xml", Reply::xml(&fixture("example/publisher.xml")));
    server.route("/reupload.xml", Reply::ok("application/atom+xml", fixture("example/reupload.xml")));
}

/// The value of an unlabelled or labelled sample in a /metrics text.
fn sample(metrics: &str, name: &str) -> Option<f64> {
    metrics.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn the_status_endpoint_serves_healthz_and_metrics() {
    let server = Server::start();
    serve_example(&server);
    let env = Env::new();
    env.ok(&["feeds", "add", &server.url("/publisher.xml"), &server.url("/reupload.xml")]);
    let cfg = env.write("fast.toml", "[daemon]\ntick = \"200ms\"\n");
    let mut cmd = env.cmd();
    cmd.args(["--config", cfg.to_str().unwrap(), "daemon", "--listen", "127.0.0.1:0"]);
    let mut daemon = Running::start(cmd);
    let addr = daemon.listen_addr();

    // Both feeds fetched and committed: the counters say so.
    let metrics = wait_until("both feeds in /metrics", || {
        let (status, body) = http_get(&addr, "/metrics");
        assert_eq!(status, 200);
        (sample(&body, "newsdedup_fetches_total{outcome=\"updated\"}") == Some(2.0)).then_some(body)
    })
    .unwrap_or_else(|| panic!("the feeds were not counted; log:\n{}", daemon.log()));
    assert_eq!(sample(&metrics, "newsdedup_http_responses_total{code=\"200\"}"), Some(2.0));
    assert_eq!(sample(&metrics, "newsdedup_items_ingested_total"), Some(4.0));
    // What was counted is what the database holds.
    let stories = env.count("SELECT count(*) FROM stories") as f64;
    assert_eq!(sample(&metrics, "newsdedup_stories_created_total"), Some(stories));
    assert_eq!(sample(&metrics, "newsdedup_reposts_folded_total"), Some(4.0 - stories));
    assert_eq!(sample(&metrics, "newsdedup_fetch_duration_seconds_count"), Some(2.0));
    assert_eq!(sample(&metrics, "newsdedup_feeds"), Some(2.0));
    assert_eq!(sample(&metrics, "newsdedup_feeds_in_error"), Some(0.0));
    assert!(
        sample(&metrics, "newsdedup_boilerplate_lines_removed_total{layer=\"en\"}").unwrap_or(0.0) > 0.0,
        "{metrics}"
    );
    assert!(sample(&metrics, "newsdedup_last_successful_fetch_timestamp_seconds").is_some());

    let (status, body) = http_get(&addr, "/healthz");
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("ok"), "{body}");
    assert_eq!(http_get(&addr, "/nothing").0, 404);

    daemon.signal("TERM");
    assert_eq!(daemon.wait_exit(), Some(0), "{}", daemon.log());
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn an_overlapping_run_exits_75_and_wait_waits_for_the_first() {
    let server = Server::start();
    server.route("/slow.xml", Reply::xml(&fixture("example/publisher.xml")).delayed(Duration::from_secs(2)));
    let env = Env::new();
    env.ok(&["feeds", "add", &server.url("/slow.xml")]);
    let mut cmd = env.cmd();
    cmd.args(["run", "--once"]);
    let mut first = Running::start(cmd);
    wait_until("the first run to fetch", || (!server.requests("/slow.xml").is_empty()).then_some(()))
        .expect("the first run did not fetch");

    let out = env.run(&["run", "--once", "--all"]);
    assert_eq!(out.status.code(), Some(75), "{}", stderr(&out));
    let message = stderr(&out);
    assert!(message.contains("in use by another newsdedup"), "{message}");
    assert!(message.contains(&format!("pid {}", first.child.id())), "{message}");
    assert!(message.contains("--wait"), "{message}");
    assert_eq!(message.lines().count(), 1, "{message}");

    // With --wait, the second run starts when the first is done, and finds nothing new.
    let out = env.run(&["run", "--once", "--all", "--wait"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(first.wait_exit(), Some(0), "{}", first.log());
    assert!(String::from_utf8_lossy(&out.stdout).contains("items: 0 new"));
    assert_eq!(server.requests("/slow.xml").len(), 2);
    assert_eq!(env.count("SELECT count(*) FROM items"), env.count("SELECT count(DISTINCT guid) FROM items"));
}

#[test]
fn the_daemon_excludes_writers_but_not_readers() {
    let server = Server::start();
    serve_example(&server);
    let env = Env::new();
    env.ok(&["feeds", "add", &server.url("/publisher.xml")]);
    let cfg = env.write("fast.toml", "[daemon]\ntick = \"200ms\"\n");
    let mut cmd = env.cmd();
    cmd.args(["--config", cfg.to_str().unwrap(), "daemon"]);
    let mut daemon = Running::start(cmd);
    daemon.wait_for_line("daemon started");

    for args in [&["run", "--once"][..], &["ingest", "x.xml"], &["daemon"]] {
        let out = env.run(args);
        assert_eq!(out.status.code(), Some(75), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("daemon since"), "{}", stderr(&out));
    }
    // Reading, and adding feeds for the daemon to pick up, need no lock.
    env.ok(&["stats"]);
    env.ok(&["feeds", "list"]);
    env.ok(&["stories"]);
    env.ok(&["feeds", "add", &server.url("/reupload.xml")]);
    wait_until("the added feed to be fetched", || (!server.requests("/reupload.xml").is_empty()).then_some(()))
        .unwrap_or_else(|| panic!("not fetched; log:\n{}", daemon.log()));

    daemon.signal("TERM");
    assert_eq!(daemon.wait_exit(), Some(0), "{}", daemon.log());
    // The lock died with the daemon.
    env.ok(&["run", "--once"]);
}

#[test]
fn a_hung_fetch_is_abandoned_at_the_stop_deadline_and_stays_due() {
    let server = Server::start();
    serve_example(&server);
    server.route("/hung.xml", Reply::xml(&fixture("example/publisher.xml")).delayed(Duration::from_secs(120)));
    let env = Env::new();
    env.ok(&["feeds", "add", &server.url("/publisher.xml"), &server.url("/hung.xml")]);
    let cfg = env.write("stop.toml", "[daemon]\nstop_timeout = \"1s\"\n");
    let mut cmd = env.cmd();
    cmd.args(["--config", cfg.to_str().unwrap(), "daemon"]);
    let mut daemon = Running::start(cmd);
    wait_until("both feeds requested, one stored", || {
        let stored = env.count("SELECT count(*) FROM feeds WHERE last_status = 200") == 1;
        (stored && !server.requests("/hung.xml").is_empty()).then_some(())
    })
    .unwrap_or_else(|| panic!("log:\n{}", daemon.log()));

    daemon.signal("TERM");
    // It exits long before the hung server would answer.
    assert_eq!(daemon.wait_exit(), Some(0), "{}", daemon.log());
    assert!(daemon.log().contains("stop deadline passed"), "{}", daemon.log());
    let hung: (Option<String>, Option<String>) = env
        .sql()
        .query_row("SELECT last_fetched_at, next_fetch_at FROM feeds WHERE url LIKE '%hung.xml'", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!(hung, (None, None), "the abandoned feed is still due");
    assert_eq!(env.count("SELECT count(*) FROM items"), 2);
    let check: String = env.sql().query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(check, "ok");
}

#[test]
fn fail_on_feed_errors_turns_any_failure_into_exit_1() {
    let server = Server::start();
    serve_example(&server);
    let env = Env::new();
    env.ok(&["feeds", "add", &server.url("/publisher.xml"), &server.url("/missing.xml")]);
    let out = env.run(&["run", "--once"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = env.run(&["run", "--once", "--all", "--fail-on-feed-errors"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("1 of 2 feeds failed"), "{}", stderr(&out));
    server.route("/missing.xml", Reply::xml(&fixture("example/publisher.xml")));
    let out = env.run(&["run", "--once", "--all", "--fail-on-feed-errors"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn sighup_reloads_the_config_and_a_broken_one_changes_nothing() {
    let env = Env::new();
    let cfg = env.write("cfg.toml", "[daemon]\ntick = \"200ms\"\n");
    let mut cmd = env.cmd();
    cmd.args(["--config", cfg.to_str().unwrap(), "daemon", "--listen", "127.0.0.1:0"]);
    let mut daemon = Running::start(cmd);
    let addr = daemon.listen_addr();
    let reloads = |result: &str| {
        let (_, body) = http_get(&addr, "/metrics");
        sample(&body, &format!("newsdedup_config_reloads_total{{result=\"{result}\"}}"))
    };

    env.write("cfg.toml", "[daemon]\ntick = \"300ms\"\n[schedule]\ninterval = \"5m\"\n");
    daemon.signal("HUP");
    wait_until("a reload", || (reloads("ok") == Some(1.0)).then_some(()))
        .unwrap_or_else(|| panic!("log:\n{}", daemon.log()));

    env.write("cfg.toml", "[daemon]\ntick = \"soon\"\n");
    daemon.signal("HUP");
    wait_until("a failed reload", || (reloads("failed") == Some(1.0)).then_some(()))
        .unwrap_or_else(|| panic!("log:\n{}", daemon.log()));
    assert!(daemon.log().contains("config reload failed"), "{}", daemon.log());
    assert_eq!(http_get(&addr, "/healthz").0, 200);

    daemon.signal("TERM");
    assert_eq!(daemon.wait_exit(), Some(0), "{}", daemon.log());
}

#[test]
fn pruned_items_are_not_stored_again_and_vacuum_keeps_the_rest() {
    let server = Server::start();
    let publisher = fixture("example/publisher.xml");
    server.route("/publisher.xml", Reply::xml(&publisher));
    let env = Env::new();
    env.ok(&["feeds", "add", &server.url("/publisher.xml")]);
    env.ok(&["run", "--once"]);
    assert_eq!(env.count("SELECT count(*) FROM items"), 2);

    // Both stories are a hundred days old.
    let old = "strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-100 days')";
    env.sql()
        .execute_batch(&format!(
            "UPDATE stories SET first_seen_at = {old}, last_seen_at = {old}; UPDATE items SET fetched_at = {old};"
        ))
        .unwrap();
    let dry = env.ok(&["prune", "--older-than", "90d", "--dry-run"]);
    assert!(dry.contains("would prune: 2 stories and their 2 items"), "{dry}");
    assert_eq!(env.count("SELECT count(*) FROM items"), 2);
    let out = env.ok(&["prune", "--older-than", "90d"]);
    assert!(out.contains("pruned: 2 stories and their 2 items"), "{out}");
    assert_eq!(env.count("SELECT count(*) FROM items"), 0);
    assert_eq!(env.count("SELECT count(*) FROM tombstones"), 2);

    // The feed still carries both, plus a new one: only the new one is stored.
    let fresh = r#"<item><title>Snow closes the pass</title><guid>publisher-0003</guid>
      <description>Heavy snow has closed the mountain pass for the second time this week, officials said on Monday.</description></item>
  </channel>"#;
    server.route("/publisher.xml", Reply::xml(&publisher.replace("</channel>", fresh)));
    let summary = env.ok(&["run", "--once", "--all"]);
    assert!(summary.contains("items: 1 new"), "{summary}");
    let guids: Vec<String> = env
        .sql()
        .prepare("SELECT guid FROM items")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(guids, ["publisher-0003"]);

    let out = env.ok(&["vacuum"]);
    assert!(out.starts_with("vacuumed"), "{out}");
    assert_eq!(env.count("SELECT count(*) FROM items"), 1);
    let check: String = env.sql().query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(check, "ok");
    assert_eq!(env.run(&["prune", "--older-than", "soon"]).status.code(), Some(2));
}

#[test]
fn a_second_signal_exits_at_once_and_leaves_the_database_sound() {
    let server = Server::start();
    serve_example(&server);
    server.route("/hung.xml", Reply::xml(&fixture("example/publisher.xml")).delayed(Duration::from_secs(120)));
    let env = Env::new();
    env.ok(&["feeds", "add", &server.url("/publisher.xml"), &server.url("/hung.xml")]);
    let cfg = env.write("stop.toml", "[daemon]\nstop_timeout = \"5m\"\n");
    let mut cmd = env.cmd();
    cmd.args(["--config", cfg.to_str().unwrap(), "daemon"]);
    let mut daemon = Running::start(cmd);
    wait_until("the hung feed to be requested", || (!server.requests("/hung.xml").is_empty()).then_some(()))
        .unwrap_or_else(|| panic!("log:\n{}", daemon.log()));
    daemon.signal("TERM");
    daemon.wait_for_line("stopping");
    daemon.signal("TERM");
    assert_eq!(daemon.wait_exit(), Some(130), "{}", daemon.log());
    let check: String = env.sql().query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(check, "ok");
    // The lock died with it.
    env.ok(&["prune", "--older-than", "1000d", "--dry-run"]);
}

#[test]
fn a_feed_the_database_refuses_is_recorded_and_the_daemon_goes_on() {
    let server = Server::start();
    serve_example(&server);
    let env = Env::new();
    env.ok(&["feeds", "add", &server.url("/publisher.xml"), &server.url("/reupload.xml")]);
    // The database refuses one of the publisher's items, as a full disk or a bug would.
    env.sql()
        .execute_batch(
            "CREATE TRIGGER poison BEFORE INSERT ON items WHEN NEW.guid = 'publisher-0002' \
             BEGIN SELECT RAISE(ABORT, 'refused by a test trigger'); END;",
        )
        .unwrap();
    let cfg = env.write("fast.toml", "[daemon]\ntick = \"200ms\"\n");
    let mut cmd = env.cmd();
    cmd.args(["--config", cfg.to_str().unwrap(), "daemon", "--listen", "127.0.0.1:0"]);
    let mut daemon = Running::start(cmd);
    let addr = daemon.listen_addr();
    wait_until("both feeds handled", || {
        (env.count("SELECT count(*) FROM feeds WHERE last_fetched_at IS NOT NULL") == 2).then_some(())
    })
    .unwrap_or_else(|| panic!("log:\n{}", daemon.log()));

    let (error, next): (String, String) = env
        .sql()
        .query_row("SELECT last_error, next_fetch_at FROM feeds WHERE url LIKE '%publisher.xml'", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert!(error.contains("cannot store") && error.contains("refused by a test trigger"), "{error}");
    assert!(next > chrono_now(), "the refused feed backs off instead of being fetched at every tick: {next}");
    // Nothing of the refused feed was stored; the other feed was.
    assert_eq!(
        env.count("SELECT count(*) FROM items i JOIN feeds f ON f.id = i.feed_id WHERE f.url LIKE '%publisher.xml'"),
        0
    );
    assert_eq!(env.count("SELECT count(*) FROM items"), 2);
    let (_, metrics) = http_get(&addr, "/metrics");
    assert_eq!(sample(&metrics, "newsdedup_write_errors_total"), Some(1.0), "{metrics}");
    assert!(daemon.log().contains("cannot store a feed's results"), "{}", daemon.log());

    daemon.signal("TERM");
    assert_eq!(daemon.wait_exit(), Some(0), "{}", daemon.log());
}

/// Now, formatted as the database stores times.
fn chrono_now() -> String {
    let conn = rusqlite::Connection::open_in_memory().unwrap();
    conn.query_row("SELECT strftime('%Y-%m-%dT%H:%M:%SZ', 'now')", [], |r| r.get(0)).unwrap()
}

#[test]
fn the_daemon_prunes_old_stories_when_told_to() {
    let server = Server::start();
    serve_example(&server);
    let env = Env::new();
    env.ok(&["feeds", "add", &server.url("/publisher.xml")]);
    env.ok(&["run", "--once"]);
    let old = "strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-100 days')";
    env.sql()
        .execute_batch(&format!("UPDATE stories SET last_seen_at = {old}; UPDATE items SET fetched_at = {old};"))
        .unwrap();
    env.ok(&["feeds", "add", &server.url("/reupload.xml")]);
    let cfg = env.write("prune.toml", "[daemon]\ntick = \"200ms\"\nprune_older_than = \"90d\"\n");
    let mut cmd = env.cmd();
    cmd.args(["--config", cfg.to_str().unwrap(), "daemon"]);
    let mut daemon = Running::start(cmd);
    wait_until("the old story to be pruned", || (env.count("SELECT count(*) FROM tombstones") == 1).then_some(()))
        .unwrap_or_else(|| panic!("log:\n{}", daemon.log()));
    // The reupload joined one of the two old stories, which is active again and stays (its
    // old item without its raw content); the other old story is gone.
    assert_eq!(env.count("SELECT count(*) FROM items WHERE guid = 'publisher-0002'"), 0);
    assert_eq!(env.count("SELECT count(*) FROM tombstones WHERE guid = 'publisher-0002'"), 1);
    assert_eq!(env.count("SELECT count(*) FROM items WHERE guid = 'publisher-0001' AND raw_pruned_at IS NOT NULL"), 1);
    assert_eq!(env.count("SELECT count(*) FROM items"), 3);
    assert!(daemon.log().contains("pruned"), "{}", daemon.log());
    daemon.signal("TERM");
    assert_eq!(daemon.wait_exit(), Some(0), "{}", daemon.log());
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn the_daemon_limits_malloc_arenas_unless_told_otherwise() {
    let env = Env::new();
    let environ = |daemon: &Running| {
        daemon.wait_for_line("daemon started");
        std::fs::read(format!("/proc/{}/environ", daemon.child.id())).unwrap()
    };
    let mut cmd = env.cmd();
    cmd.env_remove("MALLOC_ARENA_MAX").arg("daemon");
    let mut daemon = Running::start(cmd);
    let vars = environ(&daemon);
    assert!(vars.split(|b| *b == 0).any(|v| v == b"MALLOC_ARENA_MAX=2"), "the same process, re-executed");
    daemon.signal("TERM");
    assert_eq!(daemon.wait_exit(), Some(0), "{}", daemon.log());

    let mut cmd = env.cmd();
    cmd.env("MALLOC_ARENA_MAX", "4").arg("daemon");
    let mut daemon = Running::start(cmd);
    let vars = environ(&daemon);
    assert!(vars.split(|b| *b == 0).any(|v| v == b"MALLOC_ARENA_MAX=4"));
    daemon.signal("TERM");
    assert_eq!(daemon.wait_exit(), Some(0), "{}", daemon.log());
}

#[test]
fn a_stop_during_a_reload_still_gets_the_stop_deadline() {
    let server = Server::start();
    server.route("/hung.xml", Reply::xml(&fixture("example/publisher.xml")).delayed(Duration::from_secs(120)));
    let env = Env::new();
    env.ok(&["feeds", "add", &server.url("/hung.xml")]);
    let cfg = env.write("stop.toml", "[daemon]\nstop_timeout = \"1s\"\n");
    let mut cmd = env.cmd();
    cmd.args(["--config", cfg.to_str().unwrap(), "daemon"]);
    let mut daemon = Running::start(cmd);
    wait_until("the hung feed to be requested", || (!server.requests("/hung.xml").is_empty()).then_some(()))
        .unwrap_or_else(|| panic!("log:\n{}", daemon.log()));
    // The reload waits for the hung fetch; the stop does not wait for the reload.
    daemon.signal("HUP");
    daemon.wait_for_line("letting the feeds in flight finish");
    daemon.signal("TERM");
    assert_eq!(daemon.wait_exit(), Some(0), "{}", daemon.log());
    assert!(daemon.log().contains("stop deadline passed"), "{}", daemon.log());
    assert_eq!(env.count("SELECT count(*) FROM feeds WHERE last_fetched_at IS NULL"), 1, "still due");
}
