//! Fetching as the binary does it, against a local server that misbehaves on purpose:
//! validators, schedules, backoff, Retry-After, 410 Gone, redirects, per-host limits, and a
//! run over a mix of good and hostile feeds.

#[path = "../crates/fetcher/tests/support/server.rs"]
mod hostile;

use crate::util::{fixture, Env};
use chrono::{DateTime, Utc};
use hostile::{gzip_bomb, Body, Delivery, Reply, Route, Server};
use std::time::Duration;

fn rss(items: &[(&str, &str)]) -> String {
    let mut doc = String::from("<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Local</title>");
    for (guid, text) in items {
        doc.push_str(&format!(
            "<item><guid>{guid}</guid><title>Title of {guid}</title><description>{text}</description></item>"
        ));
    }
    doc.push_str("</channel></rss>");
    doc
}

fn time(env: &Env, sql: &str) -> DateTime<Utc> {
    let s: String = env.sql().query_row(sql, [], |r| r.get(0)).unwrap_or_else(|e| panic!("{sql}: {e}"));
    DateTime::parse_from_rfc3339(&s).unwrap().with_timezone(&Utc)
}

/// Seconds from the feed's last fetch to its next one.
fn wait_secs(env: &Env, url: &str) -> i64 {
    let last = time(env, &format!("SELECT last_fetched_at FROM feeds WHERE url = '{url}'"));
    let next = time(env, &format!("SELECT next_fetch_at FROM feeds WHERE url = '{url}'"));
    (next - last).num_seconds()
}

fn text(env: &Env, sql: &str) -> String {
    env.sql().query_row(sql, [], |r| r.get(0)).unwrap_or_else(|e| panic!("{sql}: {e}"))
}

#[test]
fn validators_are_persisted_and_a_304_touches_only_the_fetch_state() {
    let server = Server::start();
    let lm = "Wed, 21 Oct 2026 07:28:00 GMT";
    server.set(
        "/feed",
        Route::Sequence(vec![
            Reply::rss(&rss(&[("a", "First item text.")])).header("ETag", "\"e1\"").header("Last-Modified", lm),
            Reply::new(304).header("ETag", "\"e2\""),
        ]),
    );
    let env = Env::new();
    let url = server.url("/feed");
    env.ok(&["feeds", "add", &url]);
    env.ok(&["run", "--once"]);
    assert_eq!(text(&env, "SELECT etag FROM feeds"), "\"e1\"");
    assert_eq!(text(&env, "SELECT last_modified FROM feeds"), lm);
    // Age the fetch time so that the next fetch visibly moves it (times have whole seconds).
    env.sql().execute("UPDATE feeds SET last_fetched_at = '2026-01-01T00:00:00Z'", []).unwrap();
    let before: (String, String, String) = env
        .sql()
        .query_row("SELECT title, body_hash, last_fetched_at FROM feeds", [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap();
    let summary = env.ok(&["run", "--once", "--all"]);
    assert!(summary.contains("1 unchanged"), "{summary}");
    let seen = server.requests("/feed");
    assert_eq!(seen[1].headers.get("if-none-match").map(String::as_str), Some("\"e1\""));
    assert_eq!(seen[1].headers.get("if-modified-since").map(String::as_str), Some(lm));
    let after: (String, String, String, i64, String) = env
        .sql()
        .query_row("SELECT title, body_hash, last_fetched_at, last_status, etag FROM feeds", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .unwrap();
    assert_eq!((&after.0, &after.1), (&before.0, &before.1), "title and body hash untouched");
    assert!(after.2 > before.2, "the fetch time moved on");
    assert_eq!((after.3, after.4.as_str()), (304, "\"e2\""), "new validators from the 304 are kept");
    assert_eq!(text(&env, "SELECT last_modified FROM feeds"), lm, "validators the 304 omitted stay");
    assert_eq!(env.count("SELECT count(*) FROM items"), 1);
}

#[test]
fn backoff_grows_and_is_capped_and_the_feed_is_never_abandoned() {
    let server = Server::start();
    server.route("/down", Reply::new(500));
    let env = Env::new();
    let cfg = env.write("c.toml", "[schedule]\nretry_after = \"1m\"\nmax_backoff = \"3m\"\njitter = 0.0\n");
    let cfg = cfg.to_str().unwrap();
    let url = server.url("/down");
    env.ok(&["feeds", "add", &url]);
    let mut waits = Vec::new();
    for _ in 0..4 {
        let out = env.run(&["--config", cfg, "run", "--once", "--all"]);
        assert_eq!(out.status.code(), Some(1), "no feed could be fetched");
        waits.push(wait_secs(&env, &url));
    }
    assert_eq!(waits, [60, 120, 180, 180]);
    assert_eq!(env.count("SELECT error_count FROM feeds"), 4);
    assert!(text(&env, "SELECT last_error FROM feeds").contains("500"));
    // Still scheduled: a recovered server is fetched again and the errors clear.
    server.route("/down", Reply::rss(&rss(&[("a", "Back again.")])));
    env.ok(&["--config", cfg, "run", "--once", "--all"]);
    assert_eq!(env.count("SELECT error_count FROM feeds"), 0);
    assert_eq!(env.count("SELECT count(*) FROM items"), 1);
}

#[test]
fn the_feeds_ttl_and_cache_lifetime_set_the_next_fetch() {
    let server = Server::start();
    let with_ttl = rss(&[("a", "x")]).replace("<title>Local</title>", "<title>Local</title><ttl>120</ttl>");
    server.route("/ttl", Reply::rss(&with_ttl));
    server.route("/cached", Reply::rss(&rss(&[("b", "y")])).header("Cache-Control", "max-age=10800"));
    server.route("/plain", Reply::rss(&rss(&[("c", "z")])));
    let env = Env::new();
    let cfg = env.write("c.toml", "[schedule]\njitter = 0.0\n");
    let (ttl, cached, plain) = (server.url("/ttl"), server.url("/cached"), server.url("/plain"));
    env.ok(&["feeds", "add", &ttl, &cached, &plain]);
    env.ok(&["--config", cfg.to_str().unwrap(), "run", "--once"]);
    assert_eq!(wait_secs(&env, &ttl), 7200);
    assert_eq!(wait_secs(&env, &cached), 10800);
    assert_eq!(wait_secs(&env, &plain), 1800);
}

#[test]
fn retry_after_in_seconds_pauses_every_feed_of_the_host() {
    let server = Server::start();
    server.route("/a", Reply::new(429).header("Retry-After", "600"));
    server.route("/b", Reply::rss(&rss(&[("b", "text")])));
    let env = Env::new();
    let cfg = env.write("c.toml", "[fetch]\nper_host_concurrency = 1\n[schedule]\njitter = 0.0\n");
    let (a, b) = (server.url("/a"), server.url("/b"));
    env.ok(&["feeds", "add", &a, &b]);
    let out = env.run(&["--config", cfg.to_str().unwrap(), "run", "--once"]);
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(summary.contains("1 failed") && summary.contains("1 postponed"), "{summary}");
    assert!(server.requests("/b").is_empty(), "the paused host was not asked again");
    let now = Utc::now();
    for url in [&a, &b] {
        let next = time(&env, &format!("SELECT next_fetch_at FROM feeds WHERE url = '{url}'"));
        let secs = (next - now).num_seconds();
        assert!((590..=601).contains(&secs), "{url}: {secs}");
    }
    assert_eq!(env.count(&format!("SELECT error_count FROM feeds WHERE url = '{b}'")), 0, "a pause is no failure");
    assert_eq!(env.count(&format!("SELECT last_status FROM feeds WHERE url = '{a}'")), 429);
    // Nothing is due now: the next cron run leaves the host alone.
    let summary = env.ok(&["--config", cfg.to_str().unwrap(), "run", "--once"]);
    assert!(summary.starts_with("feeds: 0 "), "{summary}");
}

#[test]
fn retry_after_as_a_date_and_bridge_hosts_pause_one_feed_only() {
    let server = Server::start();
    let now = std::time::SystemTime::now();
    let later = httpdate::fmt_http_date(now + Duration::from_secs(3600));
    server.route("/a", Reply::new(503).header("Date", &httpdate::fmt_http_date(now)).header("Retry-After", &later));
    server.route("/b", Reply::rss(&rss(&[("b", "text")])));
    let env = Env::new();
    let host = format!("127.0.0.1:{}", server.addr.port());
    let cfg = env.write(
        "c.toml",
        &format!("[fetch]\nper_host_concurrency = 1\n[fetch.hosts.\"{host}\"]\nseparate_waits = true\n"),
    );
    let (a, b) = (server.url("/a"), server.url("/b"));
    env.ok(&["feeds", "add", &a, &b]);
    env.ok(&["--config", cfg.to_str().unwrap(), "run", "--once"]);
    assert_eq!(server.requests("/b").len(), 1, "another feed of a bridge host is not paused");
    assert_eq!(env.count("SELECT count(*) FROM items"), 1);
    let next = time(&env, &format!("SELECT next_fetch_at FROM feeds WHERE url = '{a}'"));
    let secs = (next - Utc::now()).num_seconds();
    assert!((3590..=3600 + 360).contains(&secs), "{secs}");
}

#[test]
fn a_gone_feed_is_not_polled_until_enabled() {
    let server = Server::start();
    server.route("/gone", Reply::new(410));
    server.route("/ok", Reply::rss(&rss(&[("a", "text")])));
    let env = Env::new();
    let (gone, ok) = (server.url("/gone"), server.url("/ok"));
    env.ok(&["feeds", "add", &gone, &ok]);
    let summary = env.ok(&["run", "--once"]);
    assert!(summary.contains("1 failed"), "{summary}");
    assert!(!text(&env, &format!("SELECT gone_at FROM feeds WHERE url = '{gone}'")).is_empty());
    env.ok(&["run", "--once", "--all"]);
    assert_eq!(server.requests("/gone").len(), 1, "not polled again, not even by --all");
    let list = env.ok(&["feeds", "list"]);
    assert!(list.contains("GONE") && list.contains(&format!("feeds enable {gone}")), "{list}");

    server.route("/gone", Reply::rss(&rss(&[("back", "It came back.")])));
    env.ok(&["feeds", "enable", &gone]);
    assert_eq!(env.count(&format!("SELECT gone_at IS NULL AND error_count = 0 FROM feeds WHERE url = '{gone}'")), 1);
    env.ok(&["run", "--once"]);
    assert_eq!(server.requests("/gone").len(), 2);
    assert_eq!(env.count("SELECT count(*) FROM items"), 2);
    let out = env.run(&["feeds", "enable", "https://never-added.example/feed"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_permanent_redirect_updates_the_stored_address_and_a_temporary_one_does_not() {
    let server = Server::start();
    server.route("/moved", Reply::redirect(301, "/new-home"));
    server.route("/new-home", Reply::rss(&rss(&[("m", "Moved feed.")])));
    server.route("/away", Reply::redirect(302, "/holiday"));
    server.route("/holiday", Reply::rss(&rss(&[("t", "Temporary.")])));
    server.route("/to-page", Reply::redirect(308, "/page"));
    server.route("/page", Reply::ok("text/html", "<!DOCTYPE html><html><body>Parked domain</body></html>"));
    let env = Env::new();
    env.ok(&["feeds", "add", &server.url("/moved"), &server.url("/away"), &server.url("/to-page")]);
    env.ok(&["run", "--once"]);
    let urls: Vec<String> = {
        let db = env.sql();
        let mut stmt = db.prepare("SELECT url FROM feeds ORDER BY id").unwrap();
        stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
    };
    assert_eq!(urls, [server.url("/new-home"), server.url("/away"), server.url("/to-page")]);
    // The next fetch goes straight to the new address.
    env.ok(&["run", "--once", "--all"]);
    assert_eq!(server.requests("/moved").len(), 1);
    assert_eq!(server.requests("/new-home").len(), 2);
    assert_eq!(env.count("SELECT count(*) FROM items"), 2);
}

#[test]
fn a_web_page_added_as_a_feed_is_replaced_by_the_feed_it_names() {
    let server = Server::start();
    server.route(
        "/blog/",
        Reply::ok(
            "text/html; charset=utf-8",
            "<!DOCTYPE html><html><head><link rel=\"alternate\" type=\"application/rss+xml\" href=\"/blog/feed.xml\"></head><body>Blog</body></html>",
        ),
    );
    server.route("/blog/feed.xml", Reply::rss(&rss(&[("p1", "A post.")])));
    server.route("/nofeed/", Reply::ok("text/html", "<html><head><title>x</title></head></html>"));
    let env = Env::new();
    env.ok(&["feeds", "add", &server.url("/blog/"), &server.url("/nofeed/")]);
    env.ok(&["run", "--once"]);
    assert_eq!(env.count(&format!("SELECT count(*) FROM feeds WHERE url = '{}'", server.url("/blog/feed.xml"))), 1);
    assert_eq!(env.count("SELECT count(*) FROM items"), 1);
    let error = text(&env, &format!("SELECT last_error FROM feeds WHERE url = '{}'", server.url("/nofeed/")));
    assert!(error.contains("HTML page"), "{error}");
}

#[test]
fn one_host_serves_at_most_its_limit_at_once() {
    let server = Server::start();
    let env = Env::new();
    let mut urls = Vec::new();
    for i in 0..6 {
        let path = format!("/slow{i}");
        server.route(&path, Reply::rss(&rss(&[(&format!("s{i}"), "Slow.")])).delay(Duration::from_millis(300)));
        urls.push(server.url(&path));
    }
    let other = Server::start();
    other.route("/fast", Reply::rss(&rss(&[("f", "Fast.")])));
    urls.push(other.url("/fast"));
    let mut args = vec!["feeds", "add"];
    args.extend(urls.iter().map(String::as_str));
    env.ok(&args);
    let cfg = env.write("c.toml", "[fetch]\nconcurrency = 8\nper_host_concurrency = 2\n");
    env.ok(&["--config", cfg.to_str().unwrap(), "run", "--once"]);
    assert_eq!(env.count("SELECT count(*) FROM items"), 7);
    assert_eq!(server.max_in_flight(), 2);
}

#[test]
fn guids_that_differ_only_in_scheme_are_the_same_item() {
    let server = Server::start();
    server.route("/feed", Reply::rss(&rss(&[("http://site.example/?p=1", "First version.")])));
    let env = Env::new();
    env.ok(&["feeds", "add", &server.url("/feed")]);
    env.ok(&["run", "--once"]);
    server.route("/feed", Reply::rss(&rss(&[("https://site.example/?p=1", "Second version, now over https.")])));
    let summary = env.ok(&["run", "--once", "--all"]);
    assert!(summary.contains("0 new, 1 updated"), "{summary}");
    assert_eq!(env.count("SELECT count(*) FROM items"), 1);
}

#[test]
fn private_addresses_are_refused_when_configured() {
    let server = Server::start();
    server.route("/feed", Reply::rss(&rss(&[("a", "text")])));
    let env = Env::new();
    env.ok(&["feeds", "add", &server.url("/feed")]);
    let cfg = env.write("c.toml", "[fetch]\nrefuse_private_addresses = true\n");
    let out = env.run(&["--config", cfg.to_str().unwrap(), "run", "--once"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&env, "SELECT last_error FROM feeds").contains("private"), "recorded on the feed");
    assert!(server.requests("/feed").is_empty());
    let cfg = env.write(
        "allow.toml",
        "[fetch]\nrefuse_private_addresses = true\n[fetch.hosts.\"127.0.0.1\"]\nallow_private_address = true\n",
    );
    env.ok(&["--config", cfg.to_str().unwrap(), "run", "--once", "--all"]);
    assert_eq!(env.count("SELECT count(*) FROM items"), 1);
}

#[test]
fn an_untrusted_feed_list_cannot_point_at_local_files_or_private_hosts() {
    let env = Env::new();
    let list = env.write(
        "untrusted.txt",
        "/etc/passwd\nhttp://127.0.0.1:8080/admin\nhttp://[::1]/x\nhttp://localhost/feed\nhttps://news.example/rss\n",
    );
    let cfg = env.write("c.toml", "[fetch]\nrefuse_private_addresses = true\n");
    let out = env.ok(&["--config", cfg.to_str().unwrap(), "feeds", "import", list.to_str().unwrap()]);
    assert!(out.contains("1 added, 0 already present, 4 refused"), "{out}");
    assert_eq!(text(&env, "SELECT url FROM feeds"), "https://news.example/rss");
}

/// Peak resident memory of a process, from /proc (Linux), in KiB.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find(|l| l.starts_with("VmHWM:"))?.split_whitespace().nth(1)?.parse().ok()
}

/// Every hostile case at once, next to good feeds: the run finishes, stores every good item
/// once, records an error on every bad feed, and stays under 512 MB. Slow (a 50 MB body and
/// timeouts at their defaults), so it runs with `make test-slow`.
#[test]
#[ignore]
fn a_run_over_good_and_hostile_feeds() {
    let server = Server::start();
    let mut good = Vec::new();
    for i in 0..20 {
        let path = format!("/good{i}");
        let items: Vec<(String, String)> =
            (0..25).map(|j| (format!("g{i}-{j}"), format!("Story {j} of feed {i}, told in its own words."))).collect();
        let refs: Vec<(&str, &str)> = items.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        server.route(&path, Reply::rss(&rss(&refs)));
        good.push(path);
    }
    good.push("/youtube".into());
    server.route("/youtube", Reply::ok("application/atom+xml", fixture("example/reupload.xml")));
    let fifty_mb = Body::Repeat { chunk: vec![b'x'; 64 * 1024], total: 50 << 20 };
    let mut big = String::from("<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Big</title>");
    for i in 0..50_000 {
        big.push_str(&format!(
            "<item><guid>big-{i}</guid><title>Big {i}</title><description>Item {i}.</description></item>"
        ));
    }
    big.push_str("</channel></rss>");
    server.route("/fifty-thousand", Reply::rss(&big));
    // Expanded, this one would be gigabytes; unexpanded it is a small, valid feed.
    good.push("/laughs".into());
    let hostile: Vec<(&str, Reply)> = vec![
        ("/stall", Reply::rss("<rss/>").delivery(Delivery::StallAfterHeaders)),
        ("/drip", Reply::rss(&rss(&[("d", "drip")])).delivery(Delivery::Drip(Duration::from_millis(500)))),
        ("/fifty-mb", Reply::ok("application/rss+xml", "").stream(fifty_mb.clone())),
        ("/fifty-mb-chunked", Reply::ok("application/rss+xml", "").stream(fifty_mb).delivery(Delivery::Chunked)),
        ("/bomb", Reply::ok("application/rss+xml", "").header("Content-Encoding", "gzip").stream(gzip_bomb(10))),
        ("/truncated-gzip", {
            let gz = hostile::gzip(rss(&[("t", "truncated")]).as_bytes());
            Reply::ok("application/rss+xml", gz[..gz.len() - 10].to_vec()).header("Content-Encoding", "gzip")
        }),
        ("/html", Reply::ok("text/html", "<!DOCTYPE html><html><body>Not a feed</body></html>")),
        ("/empty", Reply::ok("application/rss+xml", "")),
        ("/malformed", Reply::rss("<rss version=\"2.0\"><channel><item><title>cut")),
        ("/laughs-route", {
            let mut dtd = String::from("<!ENTITY l0 \"lol\">");
            for i in 1..10 {
                dtd.push_str(&format!("<!ENTITY l{i} \"{}\">", format!("&l{};", i - 1).repeat(10)));
            }
            Reply::rss(&format!(
                "<?xml version=\"1.0\"?><!DOCTYPE rss [{dtd}]><rss version=\"2.0\"><channel><title>&l9;</title>\
                 <item><guid>laughs</guid><title>&l9;</title><description>&l9;&l9;&l9;</description></item></channel></rss>"
            ))
        }),
        ("/loop-a", Reply::redirect(301, "/loop-b")),
        ("/loop-b", Reply::redirect(301, "/loop-a")),
        ("/gone", Reply::new(410)),
        ("/throttled", Reply::new(429).header("Retry-After", "3600")),
        ("/error", Reply::new(500)),
    ];
    for (path, reply) in &hostile {
        server.route(path, reply.clone());
    }
    let laughs = hostile.iter().find(|(p, _)| *p == "/laughs-route").map(|(_, r)| r.clone()).unwrap();
    server.route("/laughs", laughs);
    let hostile: Vec<(&str, Reply)> = hostile.into_iter().filter(|(p, _)| *p != "/laughs-route").collect();
    let env = Env::new();
    // Every feed here is on one host, which answers one of them with a 429 for an hour: the
    // host serves unrelated feeds, as a bridge does, so that wait is the throttled feed's own
    // (otherwise whichever feeds come after the 429 are postponed, not fetched).
    let host = server.url("/").trim_start_matches("http://").trim_end_matches('/').to_string();
    let cfg = env.write(
        "c.toml",
        &format!(
            "[fetch]\ntimeout = \"5s\"\nread_timeout = \"2s\"\nconcurrency = 16\nper_host_concurrency = 16\n\
             [fetch.hosts.\"{host}\"]\nseparate_waits = true\n"
        ),
    );
    let mut args: Vec<String> = vec!["feeds".into(), "add".into()];
    args.extend(good.iter().map(|p| server.url(p)));
    args.push(server.url("/fifty-thousand"));
    args.extend(hostile.iter().filter(|(p, _)| *p != "/loop-b").map(|(p, _)| server.url(p)));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    env.ok(&refs);

    let start = std::time::Instant::now();
    let mut child = env
        .cmd()
        .args(["--config", cfg.to_str().unwrap(), "-q", "run", "--once"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut peak = 0;
    while child.try_wait().unwrap().is_none() {
        peak = peak.max(peak_rss_kib(pid).unwrap_or(0));
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let elapsed = start.elapsed();
    let summary = String::from_utf8_lossy(&out.stdout);
    eprintln!("hostile mix: {summary}in {elapsed:?}, peak RSS {peak} KiB (sampled)");
    assert!(out.status.success(), "{summary}");
    assert!(elapsed < Duration::from_secs(120), "{elapsed:?}");
    assert!(peak < 512 * 1024, "peak RSS {peak} KiB");

    let good_items = 20 * 25 + 2 + 1 + 50_000;
    assert_eq!(env.count("SELECT count(*) FROM items"), good_items);
    assert_eq!(env.count("SELECT count(DISTINCT feed_id || ':' || guid) FROM items"), good_items);
    for (path, _) in hostile.iter().filter(|(p, _)| *p != "/loop-b") {
        let url = server.url(path);
        let (error, count): (Option<String>, i64) = env
            .sql()
            .query_row("SELECT last_error, error_count FROM feeds WHERE url = ?1", [&url], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert!(error.is_some() && count == 1, "{path}: {error:?}");
    }
    for path in &good {
        let errors = env.count(&format!("SELECT error_count FROM feeds WHERE url = '{}'", server.url(path)));
        assert_eq!(errors, 0, "{path}");
    }
    // A second run stores nothing twice.
    env.ok(&["--config", cfg.to_str().unwrap(), "-q", "run", "--once", "--all"]);
    assert_eq!(env.count("SELECT count(*) FROM items"), good_items);
}
