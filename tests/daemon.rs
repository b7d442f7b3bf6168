//! Running unattended: the daemon's schedule and status endpoint, signals, locking.

use crate::util::{fixture, http_get, wait_until, Env, Reply, Running, Server};

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
