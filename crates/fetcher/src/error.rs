//! The fetcher's errors: one enum for getting the bytes, one for making sense of them.

use std::path::PathBuf;
use std::time::Duration;

/// Why a feed's document could not be obtained.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("unsupported feed address {0:?}: only http, https and local paths are accepted")]
    UnsupportedScheme(String),
    #[error("invalid feed address {address:?}: {source}")]
    InvalidUrl {
        address: String,
        #[source]
        source: url::ParseError,
    },
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("request failed: {0}")]
    Http(#[source] reqwest::Error),
    #[error(transparent)]
    Refused(#[from] crate::guard::RefusedAddress),
    #[error("server answered HTTP {status}{}", retry_after.map(|d| format!(" (retry after {}s)", d.as_secs())).unwrap_or_default())]
    Status { status: u16, retry_after: Option<Duration> },
    #[error("body exceeds the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("the {encoding} body expands beyond the limit of {limit} bytes (a compression bomb?)")]
    DecompressedTooLarge { limit: u64, encoding: &'static str },
    #[error("cannot decompress the {encoding} body: {source}")]
    Decompress {
        encoding: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("unsupported Content-Encoding {0:?}")]
    UnsupportedEncoding(String),
    #[error("no response within {0:?} of sending the request")]
    NoResponse(Duration),
    #[error("server stopped sending for {0:?} in the middle of the body")]
    Stalled(Duration),
    #[error("the fetch did not finish within {0:?}")]
    TimedOut(Duration),
    #[error("more than {limit} redirects")]
    TooManyRedirects { limit: usize },
    #[error("redirect loop: {url} was already visited")]
    RedirectLoop { url: String },
    #[error("HTTP {status} redirect without a usable Location ({location:?})")]
    BadRedirect { status: u16, location: Option<String> },
    #[error("not a usable feed: {0}")]
    Parse(#[from] ParseError),
}

impl FetchError {
    /// The HTTP status to record on the feed, when the failure had one.
    pub fn status(&self) -> Option<u16> {
        match self {
            FetchError::Status { status, .. } | FetchError::BadRedirect { status, .. } => Some(*status),
            FetchError::Http(e) => e.status().map(|s| s.as_u16()),
            _ => None,
        }
    }

    /// How long the server asked us to wait before asking again (429 and 503 Retry-After).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            FetchError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// True when the server says the feed is gone for good (HTTP 410).
    pub fn is_gone(&self) -> bool {
        matches!(self, FetchError::Status { status: 410, .. })
    }

    /// True when the server says it is overloaded or that we ask too often (429, 503): a
    /// statement about the host, not about this one feed.
    pub fn is_throttled(&self) -> bool {
        matches!(self, FetchError::Status { status: 429 | 503, .. })
    }
}

/// Why a fetched document is not a feed we can read.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("the document is empty")]
    Empty,
    #[error("the document is an HTML page, not a feed{}", match alternates.first() {
        Some(first) => format!(" (the page names a feed at {first}: add that address instead)"),
        None => String::new(),
    })]
    HtmlPage { alternates: Vec<String> },
    #[error("the document is neither RSS, Atom nor JSON Feed (it starts with {0:?})")]
    NotAFeed(String),
    #[error(transparent)]
    Feed(#[from] feed_rs::parser::ParseFeedError),
    /// The feed parser gave up on the document by panicking (a bug it has, not ours to
    /// crash on): the document is reported as unreadable.
    #[error("the feed parser failed on this document: {0}")]
    ParserFailed(String),
}
