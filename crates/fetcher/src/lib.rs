//! Feed sources to raw items.
//!
//! This crate owns everything between a feed's address and a list of [`RawItem`]s: telling
//! HTTP(S) addresses from local paths ([`Source`]); fetching over HTTP with validators,
//! redirects, timeouts, size caps and decompression ([`HttpClient`]), refusing private
//! addresses when asked ([`guard`]); reading local files; being polite to hosts (per-host
//! concurrency and Retry-After waits, [`hosts`]); deciding the character encoding of a
//! document ([`decode`]); and parsing RSS, Atom and JSON Feed with feed-rs, helped by a
//! pre-pass for what feed-rs misses ([`parse`]), into items with a stable identity
//! ([`identity`]). It also finds the feeds an HTML page links to ([`discover`]). It knows
//! nothing of cleaning, fingerprints or storage; the binary hands its output to the
//! normaliser.
//!
//! [`RawItem`]: newsdedup_model::RawItem

mod body;
mod dates;
pub mod decode;
pub mod discover;
mod error;
pub mod guard;
pub mod hosts;
mod http;
pub mod identity;
pub mod parse;
mod scan;
mod source;

pub use error::{FetchError, ParseError};
pub use http::{
    default_user_agent, freshness, parse_retry_after, Fetched, HttpClient, HttpConfig, HttpResponse, ResponseInfo,
};
pub use parse::{parse_document, parse_feed, ParseOptions};
pub use source::Source;

use newsdedup_model::Validators;

/// Fetches one source: an HTTP request with the feed's validators, or a local file read.
///
/// Local files have no validators; their unchanged-ness is decided by the caller from a hash of
/// the body, exactly as for an HTTP server that ignores conditional requests.
pub async fn fetch(client: &HttpClient, source: &Source, validators: &Validators) -> Result<Fetched, FetchError> {
    match source {
        Source::Http(url) => client.get(url, validators).await,
        Source::File(path) => {
            let limit = client.config().max_decompressed_bytes;
            let body = read_file_capped(path, limit).await?;
            Ok(Fetched::Body(HttpResponse::local(body)))
        }
    }
}

async fn read_file_capped(path: &std::path::Path, limit: u64) -> Result<Vec<u8>, FetchError> {
    use tokio::io::AsyncReadExt;
    let io_err = |source| FetchError::Io { path: path.to_path_buf(), source };
    let file = tokio::fs::File::open(path).await.map_err(io_err)?;
    let mut body = Vec::new();
    // Read one byte past the limit so that an oversized file is an error, not a silent cut.
    file.take(limit + 1).read_to_end(&mut body).await.map_err(io_err)?;
    if body.len() as u64 > limit {
        return Err(FetchError::TooLarge { limit });
    }
    Ok(body)
}
