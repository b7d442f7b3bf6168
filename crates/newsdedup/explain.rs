//! `newsdedup explain ITEM_ID`: why an item is in its story, in words, from what the
//! database recorded (match method, matched item, fingerprints, sketches), re-checked with the
//! deduplicator's own verification; and which other story came closest, and why it was not
//! that one.

use crate::storyflow::{stored, Source, StoreLookup};
use anyhow::{bail, Result};
use newsdedup_deduplicator::{forgiving_containment, verify_found, Check, DedupConfig, Found, Lookup, Sketch, Stored};
use newsdedup_model::{FeedId, ItemId, MatchMethod};
use newsdedup_store::{ExplainRow, Store};
use serde::Serialize;
use std::io::Write;

/// Other stories shown, nearest first.
const NEAREST: usize = 3;

/// The explanation, as `--json` prints it.
#[derive(Debug, Serialize)]
struct Explanation {
    #[serde(flatten)]
    item: ExplainRow,
    /// Why the item is in its story.
    reason: String,
    /// The nearest items of other stories and why they were not matched.
    nearest_other_stories: Vec<Rejected>,
}

#[derive(Debug, Serialize)]
struct Rejected {
    story_id: i64,
    item_id: i64,
    feed_url: String,
    distance: u32,
    lead_distance: u32,
    within_radius: bool,
    /// One of the two has a phrase key among the other's probes (`Sketch::phrase_keys`).
    shares_phrase_key: bool,
    reason: String,
}

pub fn explain(store: &Store, id: i64, config: &DedupConfig, json: bool, out: &mut impl Write) -> Result<()> {
    let Some(item) = store.explain_row(ItemId(id))? else {
        bail!("no item with id {id}");
    };
    let sketch = item.sketch.as_deref().and_then(|b| Sketch::from_bytes(b).ok());
    let reason = reason(store, &item, sketch.as_ref(), config)?;
    let nearest = nearest_other_stories(store, &item, sketch.as_ref(), config)?;
    let explanation = Explanation { item, reason, nearest_other_stories: nearest };
    if json {
        serde_json::to_writer_pretty(&mut *out, &explanation)?;
        writeln!(out)?;
        return Ok(());
    }
    let e = &explanation;
    let i = &e.item;
    writeln!(out, "Item #{}: {}", i.id, i.title.as_deref().unwrap_or("(untitled)"))?;
    writeln!(out, "  feed:       {}", i.feed_url)?;
    writeln!(out, "  published:  {}   fetched: {}", i.published_at.as_deref().unwrap_or("-"), i.fetched_at)?;
    match (i.story_id, i.story_canonical_item_id) {
        (Some(s), Some(c)) => writeln!(
            out,
            "  story:      #{s} ({} item(s); canonical item #{c}{})",
            i.story_item_count.unwrap_or(0),
            if c == i.id { ", this one" } else { "" }
        )?,
        _ => writeln!(out, "  story:      none")?,
    }
    writeln!(
        out,
        "  match:      {}{}; distance to the canonical item {} bits; verified similarity {}",
        i.match_method.as_deref().unwrap_or("-"),
        i.matched_item_id.map(|m| format!(" (item #{m})")).unwrap_or_default(),
        i.distance.map(|d| d.to_string()).unwrap_or_else(|| "-".into()),
        i.similarity.map(|s| format!("{:.0}%", s * 100.0)).unwrap_or_else(|| "-".into()),
    )?;
    writeln!(out)?;
    writeln!(out, "Why: {}", e.reason)?;
    if !e.nearest_other_stories.is_empty() {
        writeln!(out)?;
        writeln!(out, "Nearest other stories:")?;
        for r in &e.nearest_other_stories {
            writeln!(out, "  story #{} (item #{}, {}): {}", r.story_id, r.item_id, r.feed_url, r.reason)?;
        }
    }
    Ok(())
}

/// Why the item is in its story, from its recorded match.
fn reason(store: &Store, item: &ExplainRow, sketch: Option<&Sketch>, config: &DedupConfig) -> Result<String> {
    let Some(method) = item.match_method.as_deref().and_then(MatchMethod::parse) else {
        return Ok("it has not been placed in a story (it is being processed, or its last update failed)".into());
    };
    let own_words = sketch.map(|s| s.content_words).unwrap_or(0);
    let matched = match item.matched_item_id {
        Some(m) => store.explain_row(ItemId(m))?,
        None => None,
    };
    let matched_desc = |m: &ExplainRow| format!("item #{} of {}", m.id, m.feed_url);
    Ok(match (method, &matched) {
        (MatchMethod::New, _) => {
            let mut s = String::from(
                "it started its story: no item of another feed had its canonical link or platform id, \
                 no item published within the window had the same words",
            );
            if item.lead_fingerprint.is_none() {
                s.push_str(&format!(
                    ", and with {own_words} word(s) of its own (lines its feed repeats on many items do not count) \
                     it is too short to be matched by similar text (at least {} needed)",
                    config.min_words_for_near
                ));
            } else {
                s.push_str(
                    ", and no item with a similar fingerprint or a phrase key among its phrases was confirmed as \
                     the same text (see below)",
                );
            }
            s
        }
        (_, None) => format!(
            "it was matched by {} to item #{}, which is no longer in the database",
            method.as_str(),
            item.matched_item_id.unwrap_or(0)
        ),
        (MatchMethod::Identity, Some(m)) => {
            let what = if item.platform_id.is_some() && item.platform_id == m.platform_id {
                format!("platform id {}", item.platform_id.as_deref().unwrap_or_default())
            } else {
                format!("canonical link {}", item.canonical_link.as_deref().unwrap_or_default())
            };
            format!(
                "it has the same {what} as {}: the same article, whatever its text says{}",
                matched_desc(m),
                item.similarity.map(|s| format!(" (their texts share {:.0}%)", s * 100.0)).unwrap_or_default()
            )
        }
        (MatchMethod::Exact, Some(m)) => {
            format!("its text has exactly the same words, in the same order, as {}", matched_desc(m))
        }
        (MatchMethod::Near, Some(m)) => {
            let d = (item.fingerprint ^ m.fingerprint).count_ones();
            let lead_distance = match (item.lead_fingerprint, m.lead_fingerprint) {
                (Some(a), Some(b)) => Some((a ^ b).count_ones()),
                _ => None,
            };
            let lead = lead_distance.map(|l| format!(", lead simhash {l} bits apart")).unwrap_or_default();
            let radius = config.max_distance;
            let found = Found::by_distances(d, lead_distance, radius);
            let check = match (sketch, m.sketch.as_deref().and_then(|b| Sketch::from_bytes(b).ok())) {
                (Some(a), Some(b)) => check_pair(
                    store,
                    (ItemId(item.id), FeedId(item.feed_id), a),
                    (ItemId(m.id), FeedId(m.feed_id), &b),
                    found,
                )?
                .to_string(),
                _ => "its sketch is no longer readable".into(),
            };
            match found {
                Found::Fingerprint => format!(
                    "{} was found as a near duplicate (whole-text simhash {d} bits apart{lead}; search radius \
                     {radius}) and confirmed: {check}",
                    matched_desc(m),
                ),
                Found::PhraseOnly => format!(
                    "{} was found through a phrase key the two share (whole-text simhash {d} bits apart{lead}: \
                     beyond the search radius {radius}, as when paragraphs are moved or cut) and confirmed with \
                     the stricter test such a candidate gets: {check}",
                    matched_desc(m),
                ),
            }
        }
    })
}

/// The items of other stories within the window that share a phrase key with the item, then
/// the nearest ones (by the closer of the two fingerprints), one per story, each with the
/// verification it got or would get.
fn nearest_other_stories(
    store: &Store,
    item: &ExplainRow,
    sketch: Option<&Sketch>,
    config: &DedupConfig,
) -> Result<Vec<Rejected>> {
    let (Some(time), Some(lead), Some(sketch)) = (item.dedup_time, item.lead_fingerprint, sketch) else {
        return Ok(Vec::new());
    };
    let window = config.window_secs;
    let mut near: Vec<(u32, u32, u32, ItemId)> = store
        .dedup_fingerprints_in_window(time.saturating_sub(window), time.saturating_add(window))?
        .into_iter()
        .filter(|(id, _, _)| id.0 != item.id)
        .map(|(id, f, l)| {
            let (d, ld) = ((f ^ item.fingerprint).count_ones(), (l ^ lead).count_ones());
            (d.min(ld), d, ld, id)
        })
        .collect();
    near.sort_unstable();
    // The items its phrases look up come first: fingerprints say nothing of them.
    let mut phrased = Vec::new();
    let window = (time.saturating_sub(window), time.saturating_add(window));
    let key = newsdedup_store::DedupKey::Phrases { values: sketch.phrase_probes(), window };
    store.dedup_find(key, crate::storyflow::StoreLookup::LIMIT, &mut phrased)?;
    let phrased: Vec<ItemId> = phrased.into_iter().map(|r| r.item).filter(|id| id.0 != item.id).collect();
    near.sort_by_key(|&(_, _, _, id)| !phrased.contains(&id));
    let mut out: Vec<Rejected> = Vec::new();
    for (_, d, ld, id) in near {
        if out.len() >= NEAREST {
            break;
        }
        let Some(row) = store.dedup_row(id)? else { continue };
        let other: Stored = stored(row);
        if Some(other.story.0) == item.story_id || out.iter().any(|r| r.story_id == other.story.0) {
            continue;
        }
        let found = Found::by_distances(d, Some(ld), config.max_distance);
        let within = found == Found::Fingerprint;
        // The decision on the later of the two (by id: items are decided in the order they are
        // stored) looked its phrases up among the earlier one's keys.
        let link = match &other.sketch {
            Some(s) if id.0 < item.id => phrase_link(sketch, s),
            Some(s) => phrase_link(s, sketch),
            None => PhraseLink::None,
        };
        let check: Option<Check> = match &other.sketch {
            Some(s) => Some(check_pair(
                store,
                (ItemId(item.id), FeedId(item.feed_id), sketch),
                (other.item, other.feed, s),
                found,
            )?),
            None => None,
        };
        let reason = rejection_reason((d, ld, config.max_distance), within, link, check.as_ref());
        let feed_url = store.explain_row(id)?.map(|r| r.feed_url).unwrap_or_default();
        out.push(Rejected {
            story_id: other.story.0,
            item_id: id.0,
            feed_url,
            distance: d,
            lead_distance: ld,
            within_radius: within,
            shares_phrase_key: link != PhraseLink::None,
            reason,
        });
    }
    Ok(out)
}

/// Whether phrase keys link two items: the decision on the later one looks its phrase probes
/// up among stored items' keys, so only the earlier one's keys count for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PhraseLink {
    None,
    /// The later item's probes hold a key of the earlier one: it was a candidate.
    LookedUp,
    /// Only the earlier item's probes hold a key of the later one: the lookup never found it.
    OtherWayOnly,
}

fn phrase_link(later: &Sketch, earlier: &Sketch) -> PhraseLink {
    if Sketch::probes_find(later, earlier) {
        PhraseLink::LookedUp
    } else if Sketch::probes_find(earlier, later) {
        PhraseLink::OtherWayOnly
    } else {
        PhraseLink::None
    }
}

/// Why an item of another story is not in the item's story, from the two fingerprints'
/// distances and the search radius (`within` it or not), the phrase link and the verification
/// the pair gets.
fn rejection_reason((d, ld, radius): (u32, u32, u32), within: bool, link: PhraseLink, check: Option<&Check>) -> String {
    let distances = format!("simhash {d} bits apart, lead {ld} bits apart");
    let compared = within || link == PhraseLink::LookedUp;
    let verdict = match check {
        Some(c) if c.is_match() && compared => format!(
            "its text matches too ({c}); stories are merged only by an item whose own join a fingerprint confirms, \
             and no item joined them so"
        ),
        Some(c) if c.is_match() => format!("their texts would match ({c}), but they were never compared"),
        Some(c) => format!("not the same text: {c}"),
        None => "its sketch is unreadable".into(),
    };
    if within {
        format!("{distances}, within the search radius {radius}; {verdict}")
    } else if link == PhraseLink::LookedUp {
        format!(
            "{distances}, beyond the search radius {radius}, but a phrase key of the earlier item is among the later \
             one's phrases: a candidate when no nearer item is confirmed, with the stricter test such a candidate \
             gets; {verdict}"
        )
    } else if link == PhraseLink::OtherWayOnly {
        format!(
            "{distances}, beyond the search radius {radius}; the earlier item's phrases hold a phrase key of the later \
             one, but stored items are looked up by their own keys among the later item's phrases, which hold none \
             of the earlier one's: {verdict}"
        )
    } else {
        format!("{distances}: beyond the search radius {radius}, never compared; {verdict}")
    }
}

/// Verification as the deduplicator does it: on the two sketches, then on the two stored
/// texts when the sketches leave the pair in doubt (typos forgiven).
fn check_pair(
    store: &Store,
    a: (ItemId, FeedId, &Sketch),
    b: (ItemId, FeedId, &Sketch),
    found: Found,
) -> Result<Check> {
    let check = verify_found(a.2, b.2, found);
    if !check.wants_texts() {
        return Ok(check);
    }
    let mut lookup = StoreLookup::new(Source::Store(store));
    let (Some(x), Some(y)) = (lookup.wording_of(a.0, a.1)?, lookup.wording_of(b.0, b.1)?) else {
        return Ok(check);
    };
    Ok(check.with_texts(forgiving_containment((&x.0, &x.1), (&y.0, &y.1))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use newsdedup_deduplicator::verify;

    /// A sketch of the shingles `shingles` with phrase hashes `phrases` (the first two are its
    /// keys, all of them its probes).
    fn sketch(shingles: std::ops::Range<u64>, phrases: &[u32]) -> Sketch {
        let shingles: Vec<u64> = shingles.map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15)).collect();
        Sketch::from_shingles(&shingles, shingles.len() as u32 + 4, Vec::new()).with_phrases(phrases.to_vec())
    }

    /// The phrase lookup goes from the later item's phrases to the earlier one's keys: a pair
    /// linked only the other way was never compared, and is not said to match too.
    #[test]
    fn a_pair_the_phrase_lookup_finds_only_the_other_way_was_never_compared() {
        let earlier = sketch(0..60, &[10, 20, 30, 40, 50, 60, 70, 80]);
        let summary = sketch(0..40, &[30, 40, 50, 60, 70, 80, 90, 100]);
        assert_eq!(phrase_link(&summary, &earlier), PhraseLink::OtherWayOnly);
        let check = verify(&summary, &earlier);
        assert!(check.is_match(), "{check}");
        let reason = rejection_reason((20, 12, 8), false, PhraseLink::OtherWayOnly, Some(&check));
        assert!(reason.contains("never compared"), "{reason}");
        assert!(!reason.contains("matches too"), "{reason}");

        // The other way round (the summary stored first), the lookup finds it.
        assert_eq!(phrase_link(&earlier, &summary), PhraseLink::LookedUp);
        let reason = rejection_reason((20, 12, 8), false, PhraseLink::LookedUp, Some(&check));
        assert!(reason.contains("a candidate") && reason.contains("its text matches too"), "{reason}");

        // Within the radius, the phrases do not matter.
        let reason = rejection_reason((5, 12, 8), true, PhraseLink::OtherWayOnly, Some(&check));
        assert!(reason.contains("within the search radius 8") && reason.contains("matches too"), "{reason}");

        // Unrelated: neither way.
        let other = sketch(1000..1060, &[110, 120, 130, 140, 150, 160, 170, 180]);
        assert_eq!(phrase_link(&other, &earlier), PhraseLink::None);
        let reason = rejection_reason((30, 25, 8), false, PhraseLink::None, Some(&verify(&other, &earlier)));
        assert!(reason.contains("never compared; not the same text"), "{reason}");
    }
}
