//! An item's key within its feed, and the forms of it that mean the same item.
//!
//! The chain, strongest first (it must give the same key for the same item on every fetch,
//! in every release, or items are stored twice):
//!
//! 1. YouTube's `yt:videoId`, as `yt:video:ID` (the form YouTube's own Atom id takes).
//! 2. The entry's own id (RSS guid, Atom id, JSON Feed id) when the document had one. An id
//!    the feed parser invented is never used: it may be a random UUID, new on every fetch.
//! 3. The item's link in key form ([`link_key`]): scheme and host lowercased, default port
//!    and tracking parameters (`utm_*`, `fbclid`, `gclid`, …) removed, so the same link with
//!    another campaign tag is the same item.
//! 4. A hash of the title and body ([`content_key`]).
//!
//! A key repeated within one document (a CMS that gives every item the same guid, or the
//! channel URL) cannot tell its items apart, so every item of such a group gets the key plus
//! a hash of what does differ: its link when the group's links differ, else its title and
//! body. An exact repeat (same key, link, title and body) is the same item listed twice and
//! is kept once.
//!
//! Keys that differ only in `http` versus `https` are the same item (publishers move to
//! https and rewrite their guids): [`lookup_keys`] lists every form under which the store may
//! already hold an item, including the raw link that earlier releases used as the key.

use newsdedup_model::{is_tracking_param, KeySource, RawItem};
use std::collections::HashMap;

/// A link in the form used as an item key: scheme and host lowercased, default port and
/// tracking parameters removed; path, other parameters (in their order) and fragment kept,
/// since items of one page can differ only by those. Links that do not parse are trimmed.
pub fn link_key(link: &str) -> String {
    let trimmed = link.trim();
    let Ok(mut url) = url::Url::parse(trimmed) else { return trimmed.to_string() };
    if url.query().is_some() {
        let kept: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(k, _)| !is_tracking_param(k))
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        if kept.is_empty() {
            url.set_query(None);
        } else if kept.len() != url.query_pairs().count() {
            url.query_pairs_mut().clear().extend_pairs(kept);
        }
    }
    url.to_string()
}

/// The key of an item with neither id nor link: a hash of its title and body.
pub fn content_key(title: Option<&str>, body: &str) -> String {
    let mut h = Fnv64::new();
    h.write(title.unwrap_or("").as_bytes());
    h.write(&[0]);
    h.write(body.as_bytes());
    format!("urn:newsdedup:content:{:016x}", h.finish())
}

/// The same key with `http` and `https` swapped, if it starts with either.
fn other_scheme(key: &str) -> Option<String> {
    let lower = key.get(..8).map(str::to_ascii_lowercase).unwrap_or_default();
    if lower.starts_with("https://") {
        Some(format!("http://{}", &key[8..]))
    } else if lower.starts_with("http://") {
        Some(format!("https://{}", &key[7..]))
    } else {
        None
    }
}

/// The form two keys are compared in within one document: `http` spelled as `https`.
fn comparable(key: &str) -> String {
    match key.get(..7) {
        Some(p) if p.eq_ignore_ascii_case("http://") => format!("https://{}", &key[7..]),
        _ => key.to_string(),
    }
}

/// Every key under which the store may already hold `item`, the current key first: the
/// key with the other scheme, and for link keys the raw link earlier releases stored.
pub fn lookup_keys(item: &RawItem) -> Vec<String> {
    let mut keys = vec![item.guid.clone()];
    let add = |k: String, keys: &mut Vec<String>| {
        if !keys.contains(&k) {
            keys.push(k);
        }
    };
    if let Some(other) = other_scheme(&item.guid) {
        add(other, &mut keys);
    }
    if item.key_source == KeySource::Link {
        if let Some(link) = item.link.as_deref().map(str::trim).filter(|l| !l.is_empty()) {
            add(link.to_string(), &mut keys);
            if let Some(other) = other_scheme(link) {
                add(other, &mut keys);
            }
        }
    }
    keys
}

/// Makes keys unique within one document (see the module documentation). Items keep their
/// order; exact repeats after the first are dropped.
pub fn disambiguate(items: &mut Vec<RawItem>) {
    let mut groups: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, item) in items.iter().enumerate() {
        groups.entry(comparable(&item.guid)).or_default().push(i);
    }
    if groups.values().all(|g| g.len() == 1) {
        return;
    }
    let mut drop = vec![false; items.len()];
    let mut new_keys: Vec<Option<String>> = vec![None; items.len()];
    for members in groups.values().filter(|g| g.len() > 1) {
        // Exact repeats first: the same item listed twice is one item, and a key left
        // alone in its group needs no disambiguation.
        let mut distinct: Vec<usize> = Vec::new();
        for &i in members {
            let item = &items[i];
            let repeat = distinct
                .iter()
                .any(|&j| items[j].link == item.link && items[j].title == item.title && items[j].body == item.body);
            if repeat {
                drop[i] = true;
            } else {
                distinct.push(i);
            }
        }
        if distinct.len() < 2 {
            continue;
        }
        let links: std::collections::HashSet<Option<String>> =
            distinct.iter().map(|&i| items[i].link.as_deref().map(link_key)).collect();
        let links_differ = links.len() > 1;
        let mut seen: std::collections::HashSet<String> = std::collections::HashSet::new();
        for &i in &distinct {
            let item = &items[i];
            let what = match (&item.link, links_differ) {
                (Some(link), true) => link_key(link),
                _ => content_key(item.title.as_deref(), &item.body),
            };
            let mut h = Fnv64::new();
            h.write(what.as_bytes());
            let key = format!("{}#{:016x}", item.guid, h.finish());
            if !seen.insert(comparable(&key)) {
                // Same link under the same key, different text: one item listed twice.
                drop[i] = true;
                continue;
            }
            new_keys[i] = Some(key);
        }
    }
    let mut i = 0;
    items.retain_mut(|item| {
        let keep = !drop[i];
        if let Some(key) = new_keys[i].take() {
            tracing::debug!(item_guid = %item.guid, key = %key, "repeated key disambiguated");
            item.guid = key;
        }
        i += 1;
        keep
    });
}

/// FNV-1a, 64-bit: tiny and stable across releases and platforms, unlike std's hasher.
pub(crate) struct Fnv64(u64);

impl Fnv64 {
    pub(crate) fn new() -> Fnv64 {
        Fnv64(0xcbf2_9ce4_8422_2325)
    }
    pub(crate) fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    pub(crate) fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use newsdedup_model::BodyKind;

    fn item(guid: &str, source: KeySource, link: Option<&str>, body: &str) -> RawItem {
        RawItem {
            guid: guid.into(),
            key_source: source,
            link: link.map(String::from),
            title: Some("t".into()),
            published_at: None,
            updated_at: None,
            body: body.into(),
            body_kind: BodyKind::Html,
            platform_id: None,
        }
    }

    #[test]
    fn link_keys_drop_tracking_and_case_but_keep_fragments() {
        assert_eq!(
            link_key("HTTPS://Example.ORG:443/News/1?utm_source=x&id=7&fbclid=abc#part-2"),
            "https://example.org/News/1?id=7#part-2"
        );
        assert_eq!(link_key("https://example.org/a?utm_medium=rss"), "https://example.org/a");
        assert_eq!(link_key("https://example.org/a?b=2&a=1"), "https://example.org/a?b=2&a=1");
        assert_eq!(link_key("  not a url "), "not a url");
    }

    #[test]
    fn content_keys_are_stable_across_releases() {
        // This value is stored in databases: it must never change.
        assert_eq!(content_key(Some("Title"), "Body"), "urn:newsdedup:content:691b012dfb26d693");
    }

    #[test]
    fn lookup_keys_cover_scheme_and_legacy_link_forms() {
        let g = item("http://example.org/?p=1", KeySource::Guid, None, "");
        assert_eq!(lookup_keys(&g), ["http://example.org/?p=1", "https://example.org/?p=1"]);
        let l = item("https://example.org/a", KeySource::Link, Some("https://example.org/a?utm_source=rss"), "");
        assert_eq!(
            lookup_keys(&l),
            [
                "https://example.org/a",
                "http://example.org/a",
                "https://example.org/a?utm_source=rss",
                "http://example.org/a?utm_source=rss"
            ]
        );
    }

    #[test]
    fn repeated_guids_are_told_apart_and_exact_repeats_dropped() {
        let mut items = vec![
            item("same", KeySource::Guid, Some("https://e.org/1"), "one"),
            item("same", KeySource::Guid, Some("https://e.org/2"), "two"),
            item("same", KeySource::Guid, Some("https://e.org/1"), "one"),
            item("unique", KeySource::Guid, Some("https://e.org/3"), "three"),
            item("http://e.org/p", KeySource::Guid, None, "x"),
            item("https://e.org/p", KeySource::Guid, None, "x"),
        ];
        disambiguate(&mut items);
        let keys: Vec<&str> = items.iter().map(|i| i.guid.as_str()).collect();
        assert_eq!(keys.len(), 4, "{keys:?}");
        assert!(keys[0].starts_with("same#") && keys[1].starts_with("same#") && keys[0] != keys[1]);
        assert_eq!(keys[2], "unique");
        assert_eq!(keys[3], "http://e.org/p", "an http/https repeat is the same item");
        // Stable: the same document gives the same keys again.
        let mut again = vec![
            item("same", KeySource::Guid, Some("https://e.org/2"), "two"),
            item("same", KeySource::Guid, Some("https://e.org/1"), "one"),
        ];
        disambiguate(&mut again);
        assert_eq!(again[1].guid, keys[0]);
        assert_eq!(again[0].guid, keys[1]);
    }

    #[test]
    fn a_repeated_guid_with_one_link_is_told_apart_by_text() {
        let mut items = vec![
            item("g", KeySource::Guid, Some("https://e.org/live"), "update 1"),
            item("g", KeySource::Guid, Some("https://e.org/live"), "update 2"),
        ];
        disambiguate(&mut items);
        assert_ne!(items[0].guid, items[1].guid);
    }
}
