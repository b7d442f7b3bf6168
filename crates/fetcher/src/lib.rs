//! Feed sources to raw items.
//!
//! This crate owns everything between a feed's address and a list of [`RawItem`]s: telling
//! HTTP(S) addresses from local paths ([`Source`]), fetching over HTTP with validators, limits
//! and timeouts ([`HttpClient`]), reading local files, deciding the character encoding of a
//! document ([`decode`]), and parsing RSS, Atom and JSON Feed with feed-rs into items with a
//! stable identity ([`parse`]). It knows nothing of cleaning, fingerprints or storage; the
//! binary hands its output to the normaliser.
//!
//! [`RawItem`]: newsdedup_model::RawItem

pub mod decode;
mod error;
mod http;
pub mod parse;
mod source;

pub use error::{FetchError, ParseError};
pub use http::{Fetched, HttpClient, HttpConfig, HttpResponse};
pub use parse::parse_feed;
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
            let limit = client.config().max_body_bytes;
            let body = read_file_capped(path, limit).await?;
            Ok(Fetched::Body(HttpResponse {
                status: 200,
                body,
                content_type: None,
                validators: Validators::default(),
                final_url: None,
            }))
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
