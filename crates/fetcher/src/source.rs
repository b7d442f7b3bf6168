//! Where a feed comes from: an HTTP(S) URL or a local file.

use crate::FetchError;
use std::path::PathBuf;
use url::Url;

/// A feed's address, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Http(Url),
    File(PathBuf),
}

impl Source {
    /// Classifies an address as stored in the feeds table.
    ///
    /// `http://` and `https://` are fetched over the network, `file://` URLs and anything
    /// without a scheme are local paths. Every other scheme (`ftp:`, `javascript:`, `data:`…)
    /// is refused, so a feed list from an untrusted source cannot make us read anything else.
    pub fn parse(address: &str) -> Result<Source, FetchError> {
        let address = address.trim();
        match scheme_of(address) {
            Some(s) if s.eq_ignore_ascii_case("http") || s.eq_ignore_ascii_case("https") => {
                let url = Url::parse(address)
                    .map_err(|source| FetchError::InvalidUrl { address: address.to_string(), source })?;
                Ok(Source::Http(url))
            }
            Some(s) if s.eq_ignore_ascii_case("file") => {
                let url = Url::parse(address)
                    .map_err(|source| FetchError::InvalidUrl { address: address.to_string(), source })?;
                url.to_file_path().map(Source::File).map_err(|()| FetchError::UnsupportedScheme(address.to_string()))
            }
            Some(_) => Err(FetchError::UnsupportedScheme(address.to_string())),
            None => Ok(Source::File(PathBuf::from(address))),
        }
    }

    pub fn is_http(&self) -> bool {
        matches!(self, Source::Http(_))
    }

    /// The base URL relative links in the document are resolved against.
    pub fn base_url(&self) -> Option<String> {
        match self {
            Source::Http(url) => Some(url.to_string()),
            Source::File(_) => None,
        }
    }
}

/// The scheme of `address` if it starts with one (`letters:`), ignoring one-letter "schemes"
/// that are really Windows drive letters.
fn scheme_of(address: &str) -> Option<&str> {
    let colon = address.find(':')?;
    let scheme = &address[..colon];
    let mut chars = scheme.chars();
    let first = chars.next()?;
    if !first.is_ascii_alphabetic() || scheme.len() < 2 {
        return None;
    }
    if chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')) {
        Some(scheme)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_and_https_are_network_sources() {
        assert!(Source::parse("https://example.org/feed.xml").unwrap().is_http());
        assert!(Source::parse("HTTP://example.org/rss").unwrap().is_http());
    }

    #[test]
    fn paths_and_file_urls_are_local() {
        assert_eq!(Source::parse("feeds/a.xml").unwrap(), Source::File("feeds/a.xml".into()));
        assert_eq!(Source::parse("/tmp/a.xml").unwrap(), Source::File("/tmp/a.xml".into()));
        assert_eq!(Source::parse("file:///tmp/a.xml").unwrap(), Source::File("/tmp/a.xml".into()));
        assert_eq!(Source::parse("C:\\feeds\\a.xml").unwrap(), Source::File("C:\\feeds\\a.xml".into()));
    }

    #[test]
    fn other_schemes_are_refused() {
        for bad in ["ftp://example.org/feed", "javascript:alert(1)", "data:text/xml,<rss/>"] {
            assert!(matches!(Source::parse(bad), Err(FetchError::UnsupportedScheme(_))), "{bad}");
        }
    }
}
