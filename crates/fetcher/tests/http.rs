//! The HTTP client against a local server that misbehaves on purpose: one test per
//! behaviour a feed reader on the open internet meets.

mod support;

use newsdedup_fetcher::{FetchError, Fetched, HttpClient, HttpConfig};
use newsdedup_model::Validators;
use std::io::Write;
use std::time::{Duration, Instant};
use support::server::{gzip, gzip_bomb, Body, Delivery, Reply, Route, Server};
use url::Url;

const FEED: &str = r#"<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>T</title>
<item><guid>1</guid><title>One</title><description>First item</description></item></channel></rss>"#;

fn client() -> HttpClient {
    HttpClient::new(HttpConfig::default()).unwrap()
}

fn quick_client() -> HttpClient {
    HttpClient::new(HttpConfig {
        read_timeout: Duration::from_millis(300),
        total_timeout: Duration::from_millis(900),
        ..HttpConfig::default()
    })
    .unwrap()
}

async fn get(client: &HttpClient, url: &str) -> Result<Fetched, FetchError> {
    client.get(&Url::parse(url).unwrap(), &Validators::default()).await
}

fn body(fetched: Fetched) -> newsdedup_fetcher::HttpResponse {
    match fetched {
        Fetched::Body(r) => r,
        Fetched::NotModified(_) => panic!("expected a body, got 304"),
    }
}

#[tokio::test]
async fn etag_304_round_trip() {
    let server = Server::start();
    server.set("/feed", Route::Conditional { etag: "\"v1\"".into(), reply: Reply::rss(FEED) });
    let c = client();
    let first = body(get(&c, &server.url("/feed")).await.unwrap());
    assert_eq!(first.info.validators.etag.as_deref(), Some("\"v1\""));
    let second = c.get(&Url::parse(&server.url("/feed")).unwrap(), &first.info.validators).await.unwrap();
    let Fetched::NotModified(info) = second else { panic!("expected 304") };
    assert_eq!(info.validators.etag.as_deref(), Some("\"v1\""), "validators survive a 304 that omits them");
    let seen = server.requests("/feed");
    assert_eq!(seen[1].headers.get("if-none-match").map(String::as_str), Some("\"v1\""));
}

#[tokio::test]
async fn last_modified_is_sent_back_and_new_validators_replace_old_ones() {
    let server = Server::start();
    let lm = "Wed, 21 Oct 2026 07:28:00 GMT";
    server.set(
        "/feed",
        Route::Sequence(vec![Reply::rss(FEED).header("Last-Modified", lm), Reply::new(304).header("ETag", "\"new\"")]),
    );
    let c = client();
    let first = body(get(&c, &server.url("/feed")).await.unwrap());
    assert_eq!(first.info.validators.last_modified.as_deref(), Some(lm));
    let Fetched::NotModified(info) =
        c.get(&Url::parse(&server.url("/feed")).unwrap(), &first.info.validators).await.unwrap()
    else {
        panic!("expected 304")
    };
    assert_eq!(server.requests("/feed")[1].headers.get("if-modified-since").map(String::as_str), Some(lm));
    assert_eq!(info.validators.etag.as_deref(), Some("\"new\""));
    assert_eq!(info.validators.last_modified.as_deref(), Some(lm));
}

#[tokio::test]
async fn polite_request_headers() {
    let server = Server::start();
    server.route("/feed", Reply::rss(FEED));
    body(get(&client(), &server.url("/feed")).await.unwrap());
    let seen = &server.requests("/feed")[0];
    let ua = seen.headers.get("user-agent").unwrap();
    assert!(ua.starts_with(&format!("newsdedup/{}", env!("CARGO_PKG_VERSION"))), "{ua}");
    assert!(ua.contains("https://"), "names its homepage: {ua}");
    let encodings = seen.headers.get("accept-encoding").unwrap();
    for e in ["gzip", "deflate", "br"] {
        assert!(encodings.contains(e), "{encodings}");
    }
    assert!(seen.headers.get("accept").unwrap().contains("application/rss+xml"));
}

#[tokio::test]
async fn retry_after_in_seconds() {
    let server = Server::start();
    server.route("/feed", Reply::new(429).header("Retry-After", "120"));
    let err = get(&client(), &server.url("/feed")).await.unwrap_err();
    assert!(err.is_throttled());
    assert_eq!(err.status(), Some(429));
    assert_eq!(err.retry_after(), Some(Duration::from_secs(120)));
    assert!(err.to_string().contains("retry after 120s"), "{err}");
}

#[tokio::test]
async fn retry_after_as_an_http_date() {
    let server = Server::start();
    let now = std::time::SystemTime::now();
    let date = httpdate::fmt_http_date(now);
    let later = httpdate::fmt_http_date(now + Duration::from_secs(600));
    server.route("/feed", Reply::new(503).header("Date", &date).header("Retry-After", &later));
    let err = get(&client(), &server.url("/feed")).await.unwrap_err();
    assert_eq!(err.status(), Some(503));
    let wait = err.retry_after().unwrap().as_secs();
    assert!((599..=600).contains(&wait), "{wait}");
}

#[tokio::test]
async fn gone_is_recognisable() {
    let server = Server::start();
    server.route("/feed", Reply::new(410));
    let err = get(&client(), &server.url("/feed")).await.unwrap_err();
    assert!(err.is_gone());
    assert!(!FetchError::Status { status: 404, retry_after: None }.is_gone());
}

#[tokio::test]
async fn permanent_redirects_move_the_feed() {
    for status in [301, 308] {
        let server = Server::start();
        server.route("/old", Reply::redirect(status, "/middle"));
        server.route("/middle", Reply::redirect(status, &server.url("/new")));
        server.route("/new", Reply::rss(FEED));
        let r = body(get(&client(), &server.url("/old")).await.unwrap());
        assert_eq!(r.info.moved_to.as_ref().map(Url::as_str), Some(server.url("/new").as_str()), "{status}");
        assert_eq!(r.info.final_url, r.info.moved_to);
    }
}

#[tokio::test]
async fn temporary_redirects_do_not_move_the_feed() {
    for status in [302, 303, 307] {
        let server = Server::start();
        server.route("/old", Reply::redirect(status, "/new"));
        server.route("/new", Reply::rss(FEED));
        let r = body(get(&client(), &server.url("/old")).await.unwrap());
        assert_eq!(r.info.moved_to, None, "{status}");
        assert_eq!(r.info.final_url.as_ref().map(Url::as_str), Some(server.url("/new").as_str()));
    }
    // One temporary hop anywhere in the chain keeps the old address.
    let server = Server::start();
    server.route("/a", Reply::redirect(301, "/b"));
    server.route("/b", Reply::redirect(302, "/c"));
    server.route("/c", Reply::rss(FEED));
    assert_eq!(body(get(&client(), &server.url("/a")).await.unwrap()).info.moved_to, None);
}

#[tokio::test]
async fn a_redirect_loop_and_too_many_redirects_are_errors() {
    let server = Server::start();
    server.route("/a", Reply::redirect(301, "/b"));
    server.route("/b", Reply::redirect(302, "/a"));
    let err = get(&client(), &server.url("/a")).await.unwrap_err();
    assert!(matches!(err, FetchError::RedirectLoop { .. }), "{err}");
    assert_eq!(server.requests("/a").len(), 1);

    for i in 0..12 {
        server.route(&format!("/hop{i}"), Reply::redirect(307, &format!("/hop{}", i + 1)));
    }
    let c = HttpClient::new(HttpConfig { max_redirects: 5, ..HttpConfig::default() }).unwrap();
    let err = get(&c, &server.url("/hop0")).await.unwrap_err();
    assert!(matches!(err, FetchError::TooManyRedirects { limit: 5 }), "{err}");
    assert_eq!(server.requests("/hop6").len(), 0, "stops at the limit");

    server.route("/ftp", Reply::redirect(301, "ftp://example.org/feed"));
    let err = get(&client(), &server.url("/ftp")).await.unwrap_err();
    assert!(matches!(err, FetchError::BadRedirect { status: 301, .. }), "{err}");
    server.route("/nowhere", Reply::new(302));
    assert!(matches!(get(&client(), &server.url("/nowhere")).await, Err(FetchError::BadRedirect { .. })));
}

#[tokio::test]
async fn a_stall_after_the_headers_ends_at_the_idle_timeout() {
    let server = Server::start();
    server.route("/feed", Reply::rss(FEED).delivery(Delivery::StallAfterHeaders));
    let start = Instant::now();
    let err = get(&quick_client(), &server.url("/feed")).await.unwrap_err();
    assert!(matches!(err, FetchError::Stalled(d) if d == Duration::from_millis(300)), "{err}");
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_server_that_never_answers_ends_at_the_idle_timeout() {
    let server = Server::start();
    server.route("/feed", Reply::rss(FEED).delay(Duration::from_secs(5)));
    let c = HttpClient::new(HttpConfig {
        connect_timeout: Duration::from_millis(100),
        read_timeout: Duration::from_millis(200),
        ..HttpConfig::default()
    })
    .unwrap();
    let err = get(&c, &server.url("/feed")).await.unwrap_err();
    assert!(matches!(err, FetchError::NoResponse(_)), "{err}");
}

#[tokio::test]
async fn a_slow_drip_ends_at_the_total_timeout() {
    // One byte every 100 ms never trips the 300 ms idle timeout; only the total one ends it.
    let server = Server::start();
    server.route("/feed", Reply::rss(FEED).delivery(Delivery::Drip(Duration::from_millis(100))));
    let start = Instant::now();
    let err = get(&quick_client(), &server.url("/feed")).await.unwrap_err();
    assert!(matches!(err, FetchError::TimedOut(d) if d == Duration::from_millis(900)), "{err}");
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_50_mb_body_stops_at_the_cap() {
    let server = Server::start();
    let fifty_mb = Body::Repeat { chunk: vec![b'x'; 64 * 1024], total: 50 * 1024 * 1024 };
    server.route("/declared", Reply::ok("application/rss+xml", "").stream(fifty_mb.clone()));
    server.route("/chunked", Reply::ok("application/rss+xml", "").stream(fifty_mb).delivery(Delivery::Chunked));
    let c = client();
    let limit = c.config().max_body_bytes;
    let err = get(&c, &server.url("/declared")).await.unwrap_err();
    assert!(matches!(err, FetchError::TooLarge { limit: l } if l == limit), "{err}");
    let err = get(&c, &server.url("/chunked")).await.unwrap_err();
    assert!(matches!(err, FetchError::TooLarge { .. }), "{err}");
    assert!(err.to_string().contains("exceeds the limit"), "{err}");
}

#[tokio::test]
async fn a_gzip_bomb_stops_at_the_decompressed_cap() {
    let server = Server::start();
    server
        .route("/bomb", Reply::ok("application/rss+xml", "").header("Content-Encoding", "gzip").stream(gzip_bomb(10)));
    let c = client();
    let err = get(&c, &server.url("/bomb")).await.unwrap_err();
    let limit = c.config().max_decompressed_bytes;
    assert!(matches!(err, FetchError::DecompressedTooLarge { limit: l, encoding: "gzip" } if l == limit), "{err}");
    assert!(err.to_string().contains("compression bomb"), "{err}");
}

#[tokio::test]
async fn truncated_gzip_is_a_clear_error() {
    let server = Server::start();
    let gz = gzip(FEED.repeat(50).as_bytes());
    let cut = gz[..gz.len() - 20].to_vec();
    server.route("/cut", Reply::ok("application/rss+xml", cut).header("Content-Encoding", "gzip"));
    let err = get(&client(), &server.url("/cut")).await.unwrap_err();
    assert!(matches!(err, FetchError::Decompress { encoding: "gzip", .. }), "{err}");
    assert!(err.to_string().starts_with("cannot decompress the gzip body"), "{err}");
}

#[tokio::test]
async fn gzip_deflate_and_brotli_bodies_are_decompressed() {
    let server = Server::start();
    server.route("/gz", Reply::ok("application/rss+xml", gzip(FEED.as_bytes())).header("Content-Encoding", "gzip"));
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(FEED.as_bytes()).unwrap();
    server
        .route("/deflate", Reply::ok("application/rss+xml", z.finish().unwrap()).header("Content-Encoding", "deflate"));
    let mut br = Vec::new();
    brotli::BrotliCompress(&mut FEED.as_bytes(), &mut br, &Default::default()).unwrap();
    server.route("/br", Reply::ok("application/rss+xml", br).header("Content-Encoding", "br"));
    server.route("/zstd", Reply::ok("application/rss+xml", "x").header("Content-Encoding", "zstd"));
    let c = client();
    for path in ["/gz", "/deflate", "/br"] {
        assert_eq!(body(get(&c, &server.url(path)).await.unwrap()).body, FEED.as_bytes(), "{path}");
    }
    let err = get(&c, &server.url("/zstd")).await.unwrap_err();
    assert!(matches!(err, FetchError::UnsupportedEncoding(_)), "{err}");
}

#[tokio::test]
async fn cache_headers_become_freshness() {
    let server = Server::start();
    server.route("/feed", Reply::rss(FEED).header("Cache-Control", "public, max-age=3600"));
    let r = body(get(&client(), &server.url("/feed")).await.unwrap());
    assert_eq!(r.info.freshness, Some(Duration::from_secs(3600)));
}

#[tokio::test]
async fn private_addresses_are_refused_when_asked_also_after_a_redirect() {
    let server = Server::start();
    server.route("/feed", Reply::rss(FEED));
    server.route("/hop", Reply::redirect(302, &server.url_by_name("/feed")));
    let refusing = |allowed: Vec<String>| {
        HttpClient::new(HttpConfig {
            refuse_private_addresses: true,
            private_hosts_allowed: allowed,
            ..HttpConfig::default()
        })
        .unwrap()
    };
    let err = get(&refusing(vec![]), &server.url("/feed")).await.unwrap_err();
    assert!(matches!(err, FetchError::Refused(_)), "{err}");
    assert!(err.to_string().contains("127.0.0.1"), "{err}");
    // The first hop is allowed; the redirect's target is not.
    let err = get(&refusing(vec!["127.0.0.1".into()]), &server.url("/hop")).await.unwrap_err();
    assert!(matches!(err, FetchError::Refused(_)), "{err}");
    assert!(server.requests("/feed").is_empty(), "nothing was fetched from a refused address");
    // Off by default.
    assert!(get(&client(), &server.url("/hop")).await.is_ok());
}

#[tokio::test]
async fn the_resolver_refuses_names_that_resolve_to_private_addresses() {
    use reqwest::dns::Resolve;
    use std::str::FromStr;
    let policy =
        std::sync::Arc::new(newsdedup_fetcher::guard::AddressPolicy { refuse_private: true, allowed_hosts: vec![] });
    let resolver = newsdedup_fetcher::guard::GuardedResolver { policy };
    let result = resolver.resolve(reqwest::dns::Name::from_str("localhost").unwrap()).await;
    let err = result.err().expect("localhost resolves to loopback only");
    assert!(err.to_string().contains("private, loopback"), "{err}");
}
