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
    #[error("server answered HTTP {status}")]
    Status { status: u16 },
    #[error("body exceeds the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("server stopped sending for {0:?} in the middle of the body")]
    Stalled(Duration),
    #[error("not a usable feed: {0}")]
    Parse(#[from] ParseError),
}

impl FetchError {
    /// The HTTP status to record on the feed, when the failure had one.
    pub fn status(&self) -> Option<u16> {
        match self {
            FetchError::Status { status } => Some(*status),
            FetchError::Http(e) => e.status().map(|s| s.as_u16()),
            _ => None,
        }
    }
}

/// Why a fetched document is not a feed we can read.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("the document is empty")]
    Empty,
    #[error("the document is an HTML page, not a feed")]
    HtmlPage,
    #[error(transparent)]
    Feed(#[from] feed_rs::parser::ParseFeedError),
}
