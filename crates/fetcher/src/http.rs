//! HTTP GET for feeds: conditional requests, redirects followed by hand, timeouts, size caps,
//! and the hints a response carries for scheduling.
//!
//! Redirects are followed here rather than by the HTTP library so that each hop can be
//! checked (scheme, private addresses, loops) and so that a feed that has moved permanently
//! (every hop a 301 or 308) can be re-addressed by the caller; a temporary hop anywhere in the
//! chain (302, 303, 307) means the stored address stays.
//!
//! Three clocks bound a fetch: the connect timeout, the idle-read timeout (no byte for that
//! long, whether waiting for the headers or in the middle of the body) and the total timeout
//! over the whole fetch, redirects included, which is what ends a server that drips one byte
//! a second forever.

use crate::body::{BodyReader, ContentEncoding};
use crate::guard::{AddressPolicy, GuardedResolver};
use crate::FetchError;
use newsdedup_model::Validators;
use reqwest::header::{
    HeaderMap, HeaderName, HeaderValue, ACCEPT, ACCEPT_ENCODING, AGE, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE,
    DATE, ETAG, EXPIRES, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED, LOCATION, RETRY_AFTER,
};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use url::Url;

/// Settings of the HTTP client; the binary fills them from the `[fetch]` config section.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    pub user_agent: String,
    pub connect_timeout: Duration,
    /// The whole fetch, redirects, headers and body, must finish within this.
    pub total_timeout: Duration,
    /// The longest silence allowed while waiting for the headers or between two chunks.
    pub read_timeout: Duration,
    /// The most bytes read from the network for one response (compressed or not).
    pub max_body_bytes: u64,
    /// The largest document accepted after decompression.
    pub max_decompressed_bytes: u64,
    pub max_redirects: usize,
    /// Refuse hosts that are or resolve to private, loopback or link-local addresses.
    pub refuse_private_addresses: bool,
    /// Host names exempt from `refuse_private_addresses`.
    pub private_hosts_allowed: Vec<String>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            user_agent: default_user_agent(),
            connect_timeout: Duration::from_secs(10),
            total_timeout: Duration::from_secs(60),
            read_timeout: Duration::from_secs(20),
            max_body_bytes: 16 * 1024 * 1024,
            max_decompressed_bytes: 32 * 1024 * 1024,
            max_redirects: 10,
            refuse_private_addresses: false,
            private_hosts_allowed: Vec::new(),
        }
    }
}

/// `newsdedup/VERSION (+HOMEPAGE)`, so that server operators can tell who is polling them.
pub fn default_user_agent() -> String {
    format!("newsdedup/{} (+{})", env!("CARGO_PKG_VERSION"), "https://github.com/newsdedup/newsdedup")
}

/// What a response says besides its body: validators, cache lifetime, where the feed lives.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResponseInfo {
    pub validators: Validators,
    /// How long the response stays fresh (Cache-Control max-age, else Expires, less Age).
    pub freshness: Option<Duration>,
    /// Where the request ended after redirects, if that differs from where it started.
    pub final_url: Option<Url>,
    /// Set when every redirect followed was permanent (301, 308): the feed's new address.
    pub moved_to: Option<Url>,
}

/// What a fetch produced.
#[derive(Debug)]
pub enum Fetched {
    /// The server answered 304: the document is unchanged since the validators were issued.
    NotModified(ResponseInfo),
    Body(HttpResponse),
}

/// A successful response with its body read in full (within the caps) and decompressed.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub body: Vec<u8>,
    pub content_type: Option<String>,
    pub info: ResponseInfo,
}

impl HttpResponse {
    /// A document that did not come over HTTP (a local file, stdin).
    pub fn local(body: Vec<u8>) -> HttpResponse {
        HttpResponse { status: 200, body, content_type: None, info: ResponseInfo::default() }
    }
}

/// A shared HTTP client (connection pool, TLS configuration) for all fetches of a run.
#[derive(Debug, Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    config: HttpConfig,
    policy: Arc<AddressPolicy>,
}

const ACCEPT_FEEDS: &str = "application/rss+xml, application/atom+xml, application/feed+json, \
                            application/json;q=0.9, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5";

impl HttpClient {
    pub fn new(config: HttpConfig) -> Result<HttpClient, FetchError> {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static(ACCEPT_FEEDS));
        headers.insert(ACCEPT_ENCODING, HeaderValue::from_static("gzip, deflate, br"));
        let policy = Arc::new(AddressPolicy {
            refuse_private: config.refuse_private_addresses,
            allowed_hosts: config.private_hosts_allowed.iter().map(|h| h.to_ascii_lowercase()).collect(),
        });
        let client = reqwest::Client::builder()
            .user_agent(config.user_agent.clone())
            .default_headers(headers)
            .connect_timeout(config.connect_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(GuardedResolver { policy: policy.clone() }))
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(4)
            .build()
            .map_err(FetchError::Http)?;
        Ok(HttpClient { client, config, policy })
    }

    pub fn config(&self) -> &HttpConfig {
        &self.config
    }

    /// GET `url`, sending the validators of the previous fetch, following redirects.
    pub async fn get(&self, url: &Url, validators: &Validators) -> Result<Fetched, FetchError> {
        let total = self.config.total_timeout;
        match tokio::time::timeout(total, self.get_following(url, validators)).await {
            Ok(result) => result,
            Err(_) => Err(FetchError::TimedOut(total)),
        }
    }

    async fn get_following(&self, start: &Url, validators: &Validators) -> Result<Fetched, FetchError> {
        let mut url = start.clone();
        let mut visited = vec![strip_fragment(&url)];
        let mut permanent = true;
        loop {
            check_scheme(&url)?;
            self.policy.check_url(&url)?;
            let response = self.send(&url, validators).await?;
            let status = response.status().as_u16();
            if matches!(status, 301 | 302 | 303 | 307 | 308) {
                let location = header_string(response.headers(), LOCATION);
                let next = location
                    .as_deref()
                    .and_then(|l| url.join(l).ok())
                    .filter(|u| matches!(u.scheme(), "http" | "https"))
                    .ok_or_else(|| FetchError::BadRedirect { status, location: location.clone() })?;
                permanent &= matches!(status, 301 | 308);
                if visited.len() > self.config.max_redirects {
                    return Err(FetchError::TooManyRedirects { limit: self.config.max_redirects });
                }
                let key = strip_fragment(&next);
                if visited.contains(&key) {
                    return Err(FetchError::RedirectLoop { url: next.to_string() });
                }
                tracing::debug!(status, from = %url, to = %next, "redirected");
                visited.push(key);
                url = next;
                continue;
            }
            let redirected = url != *start;
            let info = |headers: &HeaderMap, validators: Validators| ResponseInfo {
                validators,
                freshness: freshness(headers, SystemTime::now()),
                final_url: redirected.then(|| url.clone()),
                moved_to: (redirected && permanent).then(|| url.clone()),
            };
            let new_validators = Validators {
                etag: header_string(response.headers(), ETAG),
                last_modified: header_string(response.headers(), LAST_MODIFIED),
            };
            if status == 304 {
                // A 304 may omit validators; keep the ones that got it.
                let kept = Validators {
                    etag: new_validators.etag.or_else(|| validators.etag.clone()),
                    last_modified: new_validators.last_modified.or_else(|| validators.last_modified.clone()),
                };
                return Ok(Fetched::NotModified(info(response.headers(), kept)));
            }
            if !response.status().is_success() {
                let retry_after = header_string(response.headers(), RETRY_AFTER)
                    .and_then(|v| parse_retry_after(&v, server_date(response.headers()), SystemTime::now()));
                return Err(FetchError::Status { status, retry_after });
            }
            let info = info(response.headers(), new_validators);
            let content_type = header_string(response.headers(), CONTENT_TYPE);
            let body = self.read_body(response).await?;
            return Ok(Fetched::Body(HttpResponse { status, body, content_type, info }));
        }
    }

    async fn send(&self, url: &Url, validators: &Validators) -> Result<reqwest::Response, FetchError> {
        let mut request = self.client.get(url.clone());
        if let Some(etag) = &validators.etag {
            request = request.header(IF_NONE_MATCH, etag);
        }
        if let Some(lm) = &validators.last_modified {
            request = request.header(IF_MODIFIED_SINCE, lm);
        }
        // Connecting has its own timeout; after that, the headers must come within the
        // idle-read timeout like any other bytes.
        let wait = self.config.connect_timeout + self.config.read_timeout;
        match tokio::time::timeout(wait, request.send()).await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(e)) => Err(classify(e)),
            Err(_) => Err(FetchError::NoResponse(wait)),
        }
    }

    async fn read_body(&self, mut response: reqwest::Response) -> Result<Vec<u8>, FetchError> {
        let encoding = ContentEncoding::from_header(header_string(response.headers(), CONTENT_ENCODING).as_deref())
            .map_err(FetchError::UnsupportedEncoding)?;
        let max_wire = self.config.max_body_bytes;
        let max_decoded = self.config.max_decompressed_bytes;
        // An honest Content-Length over the cap is refused before reading anything.
        if response.content_length().is_some_and(|len| len > max_wire) {
            return Err(FetchError::TooLarge { limit: max_wire });
        }
        let mut reader = BodyReader::new(encoding, max_wire, max_decoded);
        let idle = self.config.read_timeout;
        loop {
            let chunk = match tokio::time::timeout(idle, response.chunk()).await {
                Err(_) => return Err(FetchError::Stalled(idle)),
                Ok(Err(e)) => return Err(classify(e)),
                Ok(Ok(None)) => break,
                Ok(Ok(Some(chunk))) => chunk,
            };
            reader.push(&chunk)?;
        }
        reader.finish()
    }
}

/// Turns the HTTP library's error into ours, keeping a refused address recognisable.
fn classify(e: reqwest::Error) -> FetchError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(err) = source {
        if let Some(refused) = err.downcast_ref::<crate::guard::RefusedAddress>() {
            return FetchError::Refused(refused.clone());
        }
        source = err.source();
    }
    FetchError::Http(e)
}

fn check_scheme(url: &Url) -> Result<(), FetchError> {
    match url.scheme() {
        "http" | "https" => Ok(()),
        _ => Err(FetchError::UnsupportedScheme(url.to_string())),
    }
}

fn strip_fragment(url: &Url) -> String {
    let mut u = url.clone();
    u.set_fragment(None);
    u.to_string()
}

fn header_string(headers: &HeaderMap, name: HeaderName) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

fn server_date(headers: &HeaderMap) -> Option<SystemTime> {
    header_string(headers, DATE).and_then(|d| httpdate::parse_http_date(&d).ok())
}

/// Parses Retry-After: delay-seconds, or an HTTP date. A date is measured against the
/// server's own Date header when it sent one, so that a skewed clock on either side does not
/// turn "in two minutes" into "now" or "in an hour". A date in the past means "now".
pub fn parse_retry_after(value: &str, server_now: Option<SystemTime>, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(server_now.unwrap_or(now)).unwrap_or_default())
}

/// How long a response stays fresh: Cache-Control max-age, else Expires (against the
/// server's Date), minus the Age a cache in between has already held it. `no-store` and
/// `no-cache` mean no freshness at all.
pub fn freshness(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let age = header_string(headers, AGE).and_then(|a| a.parse::<u64>().ok()).unwrap_or(0);
    let mut max_age = None;
    for value in headers.get_all(CACHE_CONTROL).iter().filter_map(|v| v.to_str().ok()) {
        for directive in value.split(',') {
            let directive = directive.trim();
            let (name, arg) = directive.split_once('=').map_or((directive, None), |(n, a)| (n.trim(), Some(a.trim())));
            match name.to_ascii_lowercase().as_str() {
                "no-store" | "no-cache" => return None,
                "max-age" => max_age = arg.and_then(|a| a.trim_matches('"').parse::<u64>().ok()),
                _ => {}
            }
        }
    }
    let lifetime = match max_age {
        Some(secs) => Duration::from_secs(secs),
        None => {
            let expires = header_string(headers, EXPIRES)?;
            // An Expires that is not a date ("0", "-1") means already expired.
            let at = httpdate::parse_http_date(&expires).ok()?;
            at.duration_since(server_date(headers).unwrap_or(now)).unwrap_or_default()
        }
    };
    let fresh = lifetime.saturating_sub(Duration::from_secs(age));
    (!fresh.is_zero()).then_some(fresh)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(HeaderName::from_static(k), HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn retry_after_in_seconds_and_as_a_date() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2026 07:28:00 GMT").unwrap();
        assert_eq!(parse_retry_after("120", None, now), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2026 07:30:00 GMT", None, now), Some(Duration::from_secs(120)));
        // Measured against the server's clock when it sent one.
        let server = httpdate::parse_http_date("Wed, 21 Oct 2026 07:29:00 GMT").unwrap();
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2026 07:30:00 GMT", Some(server), now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(parse_retry_after("Wed, 21 Oct 2026 07:00:00 GMT", None, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", None, now), None);
    }

    #[test]
    fn freshness_from_cache_headers() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2026 07:00:00 GMT").unwrap();
        assert_eq!(
            freshness(&headers(&[("cache-control", "public, max-age=600")]), now),
            Some(Duration::from_secs(600))
        );
        assert_eq!(
            freshness(&headers(&[("cache-control", "max-age=600"), ("age", "100")]), now),
            Some(Duration::from_secs(500))
        );
        assert_eq!(freshness(&headers(&[("cache-control", "no-cache, max-age=600")]), now), None);
        assert_eq!(
            freshness(
                &headers(&[("expires", "Wed, 21 Oct 2026 08:00:00 GMT"), ("date", "Wed, 21 Oct 2026 07:30:00 GMT")]),
                now
            ),
            Some(Duration::from_secs(1800))
        );
        assert_eq!(
            freshness(&headers(&[("expires", "Wed, 21 Oct 2026 08:00:00 GMT")]), now),
            Some(Duration::from_secs(3600))
        );
        assert_eq!(freshness(&headers(&[("expires", "0")]), now), None);
        assert_eq!(freshness(&headers(&[]), now), None);
    }
}
