//! Links in canonical form, for identity and exact matching across feeds.
//!
//! Scheme and host are lowercased (the url crate does that), default ports dropped, the
//! fragment removed, tracking parameters (`utm_*`, `fbclid`, `gclid`, …) removed, remaining
//! parameters sorted, and an `http` link becomes `https` so that the two spellings of one
//! address agree. Links that do not parse are kept trimmed as they were.

use url::Url;

/// Query parameters that identify a campaign or a click, never the document.
fn is_tracking_param(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name.starts_with("utm_")
        || matches!(
            name.as_str(),
            "fbclid"
                | "gclid"
                | "dclid"
                | "gbraid"
                | "wbraid"
                | "msclkid"
                | "mc_cid"
                | "mc_eid"
                | "yclid"
                | "igshid"
                | "_hsenc"
                | "_hsmi"
                | "mkt_tok"
                | "ref_src"
                | "cmpid"
                | "ocid"
                | "at_medium"
                | "at_campaign"
        )
}

/// The canonical form of `link`.
pub fn canonical_link(link: &str) -> String {
    let trimmed = link.trim();
    let Ok(mut url) = Url::parse(trimmed) else { return trimmed.to_string() };
    if url.scheme() == "http" {
        let _ = url.set_scheme("https");
    }
    if url.port() == Some(80) || url.port() == Some(443) {
        let _ = url.set_port(None);
    }
    url.set_fragment(None);
    let mut params: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| !is_tracking_param(k))
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
    fn unparseable_links_are_kept() {
        assert_eq!(canonical_link("  not a url "), "not a url");
    }
}
