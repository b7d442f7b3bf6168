//! Answering HTTP requests for the pages: `/` (HTML), `/feed.atom` and `/feed.json`, with
//! the filters of [`FeedQuery`] in the query string, and conditional requests.
//!
//! Feed readers poll, so the answer to "has it changed?" must be cheap and exact. Each page
//! carries a strong ETag (a hash of its bytes) and a Last-Modified time; a request whose
//! `If-None-Match` names the current tag, or (without `If-None-Match`, as RFC 9110 §13.2.2
//! orders) whose `If-Modified-Since` is not older than Last-Modified, gets `304 Not Modified`
//! and no body. This module is independent of any server: it maps a request's parts to a
//! [`Response`].

use super::{render, FeedQuery, Format, Location, Page};
use chrono::{DateTime, NaiveDateTime, Utc};
use newsdedup_store::Store;

/// The paths this module answers, and what each renders.
pub fn route(path: &str) -> Option<Format> {
    match path {
        "/" | "/index.html" => Some(Format::Html),
        "/feed.atom" => Some(Format::Atom),
        "/feed.json" => Some(Format::JsonFeed),
        _ => None,
    }
}

/// The parts of a request that matter here.
#[derive(Debug, Clone, Copy, Default)]
pub struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    /// Without the `?`.
    pub query: &'a str,
    /// The `Host` header, to tell readers the feed's own address.
    pub host: Option<&'a str>,
    pub if_none_match: Option<&'a str>,
    pub if_modified_since: Option<&'a str>,
}

/// What to send back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Response {
    fn text(status: u16, message: &str) -> Response {
        Response {
            status,
            headers: vec![("Content-Type", "text/plain; charset=utf-8".into())],
            body: format!("{message}\n").into_bytes(),
        }
    }
}

/// Answers a request for one of the pages of [`route`]. `store` is opened by the caller (a
/// read-only connection per request is cheap and never blocks the writer, thanks to WAL).
pub fn respond(store: &Store, format: Format, request: &Request<'_>) -> Response {
    if !matches!(request.method, "GET" | "HEAD") {
        let mut r = Response::text(405, "only GET and HEAD are supported");
        r.headers.push(("Allow", "GET, HEAD".into()));
        return r;
    }
    let query = match FeedQuery::from_query_string(request.query) {
        Ok(q) => q,
        Err(e) => return Response::text(400, &format!("{e:#}")),
    };
    let location = request
        .host
        .filter(|h| !h.is_empty() && !h.contains(['/', ' ', '"', '<', '>']))
        .map(|host| {
            let base = format!("http://{host}");
            let self_url = match request.query {
                "" => format!("{base}{}", request.path),
                q => format!("{base}{}?{q}", request.path),
            };
            Location { self_url: Some(self_url), home_url: Some(format!("{base}/")) }
        })
        .unwrap_or_default();
    let page = match render(store, format, &query, &location) {
        Ok(page) => page,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), path = request.path, "cannot render page");
            return Response::text(500, "the database could not be read; see the server's log");
        }
    };
    let mut headers = vec![
        ("ETag", page.etag.clone()),
        ("Last-Modified", http_date(page.last_modified)),
        // Readers may keep the page but must ask again each time: a 304 makes that cheap.
        ("Cache-Control", "no-cache".into()),
    ];
    if not_modified(&page, request.if_none_match, request.if_modified_since) {
        return Response { status: 304, headers, body: Vec::new() };
    }
    headers.push(("Content-Type", page.content_type.into()));
    headers.push(("X-Content-Type-Options", "nosniff".into()));
    if format == Format::Html {
        // The page needs nothing but its own inline style; anything else is refused.
        headers.push((
            "Content-Security-Policy",
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'".into(),
        ));
    }
    // For HEAD too: the server sends the headers and the body's length, not the body.
    Response { status: 200, headers, body: page.body }
}

/// Whether the client's copy is current (RFC 9110 §13.1.2, §13.1.3, §13.2.2).
pub fn not_modified(page: &Page, if_none_match: Option<&str>, if_modified_since: Option<&str>) -> bool {
    if let Some(tags) = if_none_match {
        // Weak comparison: a tag matches with or without W/ in front.
        let ours = page.etag.trim_start_matches("W/");
        return tags.split(',').map(str::trim).any(|t| t == "*" || t.trim_start_matches("W/") == ours);
    }
    match if_modified_since.and_then(parse_http_date) {
        Some(since) => page.last_modified.timestamp() <= since.timestamp(),
        None => false,
    }
}

/// An HTTP date (IMF-fixdate): `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn http_date(t: DateTime<Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// Parses the three HTTP date formats recipients must accept (RFC 9110 §5.6.7).
pub fn parse_http_date(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc2822(s) {
        return Some(t.with_timezone(&Utc));
    }
    ["%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
        .map(|t| t.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn page() -> Page {
        Page {
            content_type: "text/plain",
            body: b"x".to_vec(),
            etag: "\"abc\"".into(),
            last_modified: Utc.with_ymd_and_hms(2026, 3, 2, 12, 0, 0).unwrap(),
        }
    }

    #[test]
    fn entity_tags_decide_first() {
        let p = page();
        assert!(not_modified(&p, Some("\"abc\""), None));
        assert!(not_modified(&p, Some("\"zzz\", W/\"abc\""), None));
        assert!(not_modified(&p, Some("*"), None));
        assert!(!not_modified(&p, Some("\"zzz\""), None));
        // A stale tag is not rescued by a recent date.
        assert!(!not_modified(&p, Some("\"zzz\""), Some("Tue, 03 Mar 2026 00:00:00 GMT")));
    }

    #[test]
    fn dates_decide_without_tags() {
        let p = page();
        assert!(not_modified(&p, None, Some("Mon, 02 Mar 2026 12:00:00 GMT")));
        assert!(not_modified(&p, None, Some("Monday, 02-Mar-26 13:00:00 GMT")));
        assert!(not_modified(&p, None, Some("Mon Mar  2 12:30:00 2026")));
        assert!(!not_modified(&p, None, Some("Mon, 02 Mar 2026 11:59:59 GMT")));
        assert!(!not_modified(&p, None, Some("yesterday")));
        assert!(!not_modified(&p, None, None));
    }

    #[test]
    fn http_dates_round_trip() {
        let t = Utc.with_ymd_and_hms(1994, 11, 6, 8, 49, 37).unwrap();
        assert_eq!(http_date(t), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(parse_http_date(&http_date(t)), Some(t));
    }

    #[test]
    fn a_served_page_answers_304_to_its_own_tag_and_date() {
        let (_dir, store, _) = crate::output::fixture::store();
        for path in ["/", "/feed.atom", "/feed.json"] {
            let format = route(path).unwrap();
            let get = Request {
                method: "GET",
                path,
                query: "min_items=1",
                host: Some("127.0.0.1:8080"),
                ..Default::default()
            };
            let first = respond(&store, format, &get);
            assert_eq!(first.status, 200);
            assert!(!first.body.is_empty());
            let header = |r: &Response, name: &str| r.headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.clone());
            let etag = header(&first, "ETag").unwrap();
            let last_modified = header(&first, "Last-Modified").unwrap();
            assert_eq!(last_modified, "Mon, 02 Mar 2026 12:00:00 GMT");
            let again = respond(&store, format, &Request { if_none_match: Some(&etag), ..get });
            assert_eq!((again.status, again.body.len()), (304, 0), "{path}");
            assert_eq!(header(&again, "ETag"), Some(etag.clone()));
            let by_date = respond(&store, format, &Request { if_modified_since: Some(&last_modified), ..get });
            assert_eq!(by_date.status, 304);
            let other = respond(&store, format, &Request { if_none_match: Some("\"other\""), ..get });
            assert_eq!(other.status, 200);
            let head = respond(&store, format, &Request { method: "HEAD", ..get });
            assert_eq!((head.status, head.body.len(), header(&head, "ETag")), (200, first.body.len(), Some(etag)));
        }
    }

    #[test]
    fn feeds_name_their_own_address_when_served() {
        let (_dir, store, _) = crate::output::fixture::store();
        let get = Request {
            method: "GET",
            path: "/feed.atom",
            query: "q=storm",
            host: Some("news.example:8080"),
            ..Default::default()
        };
        let body = String::from_utf8(respond(&store, Format::Atom, &get).body).unwrap();
        assert!(
            body.contains(
                "rel=\"self\" type=\"application/atom+xml\" href=\"http://news.example:8080/feed.atom?q=storm\""
            ),
            "{body}"
        );
        assert_eq!(feed_rs::parser::parse(body.as_bytes()).unwrap().entries.len(), 1);
    }

    #[test]
    fn bad_requests_are_answered_plainly() {
        let (_dir, store, _) = crate::output::fixture::store();
        let bad = Request { method: "GET", path: "/feed.json", query: "min_items=many", ..Default::default() };
        let r = respond(&store, Format::JsonFeed, &bad);
        assert_eq!(r.status, 400);
        assert!(String::from_utf8_lossy(&r.body).contains("min_items"));
        let post = Request { method: "POST", path: "/feed.json", ..Default::default() };
        assert_eq!(respond(&store, Format::JsonFeed, &post).status, 405);
        let odd = Request { method: "GET", path: "/feed.atom", query: "q=%22%29+AND+(", ..Default::default() };
        assert_eq!(respond(&store, Format::Atom, &odd).status, 200);
    }

    #[test]
    fn routes_are_the_three_pages() {
        assert_eq!(route("/"), Some(Format::Html));
        assert_eq!(route("/feed.atom"), Some(Format::Atom));
        assert_eq!(route("/feed.json"), Some(Format::JsonFeed));
        assert_eq!(route("/healthz"), None);
    }
}
