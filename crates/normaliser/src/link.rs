//! Links in canonical form, for identity and exact matching across feeds.
//!
//! Scheme and host are lowercased (the url crate does that), default ports dropped, the
//! fragment removed, tracking parameters (`utm_*`, `fbclid`, `gclid`, …) removed, remaining
//! parameters sorted, and an `http` link becomes `https` so that the two spellings of one
//! address agree. AMP variants of a page point back at the page: Google's AMP cache and viewer
//! addresses are unwrapped, and an `amp.` host, an `/amp` path segment, an `.amp` suffix and
//! `amp`/`outputType=amp` parameters are removed. Links that do not parse are kept trimmed as
//! they were.

use newsdedup_model::is_tracking_param;
use url::Url;

/// Query parameters that only ask for the AMP rendering of a page.
fn is_amp_param(name: &str, value: &str) -> bool {
    let name = name.to_ascii_lowercase();
    matches!(name.as_str(), "amp" | "_amp" | "usqp" | "amp_js_v" | "amp_gsa" | "amp_r")
        || (matches!(name.as_str(), "outputtype" | "output" | "format" | "view") && value.eq_ignore_ascii_case("amp"))
}

/// The page behind a Google AMP cache or viewer address
/// (`https://example-org.cdn.ampproject.org/c/s/example.org/a`,
/// `https://www.google.com/amp/s/example.org/a`), if `url` is one.
fn unwrap_amp_cache(url: &Url) -> Option<Url> {
    let host = url.host_str()?;
    let path = url.path();
    let rest = if host.ends_with(".cdn.ampproject.org") || host == "cdn.ampproject.org" {
        path.strip_prefix("/c/").or_else(|| path.strip_prefix("/v/")).or_else(|| path.strip_prefix("/i/"))?
    } else if host.starts_with("www.google.") || host.starts_with("google.") {
        path.strip_prefix("/amp/")?
    } else {
        return None;
    };
    let (scheme, rest) = match rest.strip_prefix("s/") {
        Some(r) => ("https", r),
        None => ("http", rest),
    };
    let mut inner = Url::parse(&format!("{scheme}://{rest}")).ok()?;
    inner.set_query(url.query());
    inner.host_str().is_some_and(|h| h.contains('.')).then_some(inner)
}

/// Removes the AMP markers from a page's host and path.
fn strip_amp_path(url: &mut Url) {
    if let Some(bare) = url.host_str().and_then(|h| h.strip_prefix("amp.")).map(str::to_string) {
        if bare.contains('.') {
            let _ = url.set_host(Some(&bare));
        }
    }
    let segments: Vec<String> = url.path().split('/').map(str::to_string).collect();
    let mut kept: Vec<String> = segments.into_iter().filter(|s| !s.eq_ignore_ascii_case("amp")).collect();
    if let Some(last) = kept.last_mut() {
        for suffix in [".amp.html", ".amp"] {
            if last.len() > suffix.len() && last.to_ascii_lowercase().ends_with(suffix) {
                let cut = last.len() - suffix.len();
                last.truncate(cut);
                if suffix == ".amp.html" {
                    last.push_str(".html");
                }
                break;
            }
        }
    }
    let path = kept.join("/");
    url.set_path(if path.is_empty() { "/" } else { &path });
}

/// The canonical form of `link`.
pub fn canonical_link(link: &str) -> String {
    let trimmed = link.trim();
    let Ok(mut url) = Url::parse(trimmed) else { return trimmed.to_string() };
    if let Some(inner) = unwrap_amp_cache(&url) {
        url = inner;
    }
    if !matches!(url.scheme(), "http" | "https") {
        return url.to_string();
    }
    strip_amp_path(&mut url);
    if url.scheme() == "http" {
        let _ = url.set_scheme("https");
    }
    if url.port() == Some(80) || url.port() == Some(443) {
        let _ = url.set_port(None);
    }
    url.set_fragment(None);
    let mut params: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, v)| !is_tracking_param(k) && !is_amp_param(k, v))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if params.is_empty() {
        url.set_query(None);
    } else {
        params.sort();
        url.query_pairs_mut().clear().extend_pairs(params);
    }
    if let Some(host) = url.host_str() {
        if let Some(bare) = host.strip_prefix("www.") {
            let bare = bare.to_string();
            let _ = url.set_host(Some(&bare));
        }
    }
    let mut s = url.to_string();
    if s.ends_with('/') && url.path() != "/" {
        s.pop();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracking_and_spelling_differences_vanish() {
        let a = canonical_link("HTTP://WWW.Example.ORG:80/news/story.html?utm_source=x&id=7&fbclid=abc#comments");
        let b = canonical_link("https://example.org/news/story.html?id=7");
        assert_eq!(a, b);
        assert_eq!(b, "https://example.org/news/story.html?id=7");
    }

    #[test]
    fn meaningful_parameters_stay_and_are_sorted() {
        assert_eq!(canonical_link("https://example.org/watch?v=abc&list=x"), "https://example.org/watch?list=x&v=abc");
    }

    #[test]
    fn amp_variants_point_at_the_page() {
        let page = "https://example.org/news/story-1";
        for amp in [
            "https://example.org/news/story-1/amp",
            "https://example.org/amp/news/story-1",
            "https://amp.example.org/news/story-1",
            "https://example.org/news/story-1.amp",
            "https://example.org/news/story-1?amp=1",
            "https://example.org/news/story-1?outputType=amp",
            "https://example-org.cdn.ampproject.org/c/s/example.org/news/story-1",
            "https://www.google.com/amp/s/example.org/news/story-1",
        ] {
            assert_eq!(canonical_link(amp), page, "{amp}");
        }
        assert_eq!(canonical_link("https://example.org/a/story.amp.html"), "https://example.org/a/story.html");
        // A word that only contains "amp" is left alone.
        assert_eq!(canonical_link("https://example.org/campaign/ample"), "https://example.org/campaign/ample");
    }

    #[test]
    fn default_ports_go_and_others_stay() {
        assert_eq!(canonical_link("https://Example.org:443/a"), "https://example.org/a");
        assert_eq!(canonical_link("http://example.org:8080/a"), "https://example.org:8080/a");
    }

    #[test]
    fn unparseable_links_are_kept() {
        assert_eq!(canonical_link("  not a url "), "not a url");
    }
}
