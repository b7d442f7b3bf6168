//! HTTP GET with conditional-request validators, timeouts and a body size cap.

use crate::FetchError;
use newsdedup_model::Validators;
use reqwest::header::{
    HeaderMap, HeaderValue, ACCEPT, CONTENT_TYPE, ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED,
};
use std::time::Duration;
use url::Url;

/// Settings of the HTTP client; the binary fills them from the `[fetch]` config section.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    pub user_agent: String,
    pub connect_timeout: Duration,
    /// The whole request, headers and body, must finish within this.
    pub total_timeout: Duration,
    /// The longest pause allowed between two chunks of the body.
    pub read_timeout: Duration,
    /// The largest body accepted, after decompression.
    pub max_body_bytes: u64,
    pub max_redirects: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            user_agent: default_user_agent(),
            connect_timeout: Duration::from_secs(10),
            total_timeout: Duration::from_secs(60),
            read_timeout: Duration::from_secs(20),
            max_body_bytes: 16 * 1024 * 1024,
            max_redirects: 10,
        }
    }
}

/// `newsdedup/VERSION (+HOMEPAGE)`, so that server operators can tell who is polling them.
pub fn default_user_agent() -> String {
    format!("newsdedup/{} (+{})", env!("CARGO_PKG_VERSION"), "https://github.com/newsdedup/newsdedup")
}

/// What a fetch produced.
#[derive(Debug)]
pub enum Fetched {
    /// The server answered 304: the document is unchanged since the validators were issued.
    NotModified {
        validators: Validators,
    },
    Body(HttpResponse),
}

/// A successful response with its body read in full (within the cap).
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub body: Vec<u8>,
    pub content_type: Option<String>,
    pub validators: Validators,
    /// Where the request ended after redirects, if that differs from where it started.
    pub final_url: Option<Url>,
}

/// A shared HTTP client (connection pool, TLS configuration) for all fetches of a run.
#[derive(Debug, Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    config: HttpConfig,
}

impl HttpClient {
    pub fn new(config: HttpConfig) -> Result<HttpClient, FetchError> {
        let mut headers = HeaderMap::new();
        headers.insert(
            ACCEPT,
            HeaderValue::from_static(
                "application/rss+xml, application/atom+xml, application/feed+json, application/json;q=0.9, \
                 application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5",
            ),
        );
        let client = reqwest::Client::builder()
            .user_agent(config.user_agent.clone())
            .default_headers(headers)
            .connect_timeout(config.connect_timeout)
            .timeout(config.total_timeout)
            .redirect(reqwest::redirect::Policy::limited(config.max_redirects))
            .build()
            .map_err(FetchError::Http)?;
        Ok(HttpClient { client, config })
    }

    pub fn config(&self) -> &HttpConfig {
        &self.config
    }

    /// GET `url`, sending the validators of the previous fetch.
    pub async fn get(&self, url: &Url, validators: &Validators) -> Result<Fetched, FetchError> {
        let mut request = self.client.get(url.clone());
        if let Some(etag) = &validators.etag {
            request = request.header(IF_NONE_MATCH, etag);
        }
        if let Some(lm) = &validators.last_modified {
            request = request.header(IF_MODIFIED_SINCE, lm);
        }
        let mut response = request.send().await.map_err(FetchError::Http)?;
        let status = response.status();
        let new_validators = Validators {
            etag: header_string(response.headers(), ETAG),
            last_modified: header_string(response.headers(), LAST_MODIFIED),
        };
        if status == reqwest::StatusCode::NOT_MODIFIED {
            // A 304 may omit validators; keep the ones that got it.
            return Ok(Fetched::NotModified {
                validators: Validators {
                    etag: new_validators.etag.or_else(|| validators.etag.clone()),
                    last_modified: new_validators.last_modified.or_else(|| validators.last_modified.clone()),
                },
            });
        }
        if !status.is_success() {
            return Err(FetchError::Status { status: status.as_u16() });
        }
        let limit = self.config.max_body_bytes;
        if response.content_length().is_some_and(|len| len > limit) {
            return Err(FetchError::TooLarge { limit });
        }
        let content_type = header_string(response.headers(), CONTENT_TYPE);
        let final_url = (response.url() != url).then(|| response.url().clone());
        let mut body = Vec::new();
        loop {
            let chunk = tokio::time::timeout(self.config.read_timeout, response.chunk())
                .await
                .map_err(|_| FetchError::Stalled(self.config.read_timeout))?
                .map_err(FetchError::Http)?;
            let Some(chunk) = chunk else { break };
            if body.len() as u64 + chunk.len() as u64 > limit {
                return Err(FetchError::TooLarge { limit });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Fetched::Body(HttpResponse {
            status: status.as_u16(),
            body,
            content_type,
            validators: new_validators,
            final_url,
        }))
    }
}

fn header_string(headers: &HeaderMap, name: reqwest::header::HeaderName) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}
