//! A quick pass over an XML feed before feed-rs sees it: what feed-rs misses, and what would
//! make it fail.
//!
//! feed-rs does the format work, but real feeds trip it in ways that would lose a whole feed
//! or a field we need:
//!
//! - Media RSS: an empty `<media:description/>` or `<media:title/>` (common on YouTube
//!   channels whose videos have no description) fails the whole document; a `media:group`
//!   without `media:content` or `media:thumbnail` has its description dropped; an unknown
//!   `type` on a media text fails the document. So this pass reads Media RSS itself (the
//!   longest `media:description` of each entry, at any depth) and removes every Media RSS
//!   element from the copy handed to feed-rs.
//! - YouTube's `yt:videoId` is not read by feed-rs; it is the video's stable identity.
//! - Empty Atom text constructs (`<content type="html"></content>`, `<summary/>`) fail the
//!   document; they are removed, which is what they mean.
//! - `<rss>` without a version, or with one feed-rs does not know (0.93, 0.94, 2.01), is not
//!   recognised at all: it is parsed as RSS 2.0, which they all are in practice.
//! - Atom 0.3 and RSS 0.90 use namespaces feed-rs does not know, so their entries vanish:
//!   the namespaces are mapped to Atom 1.0 and RSS 1.0, and Atom 0.3's `issued`, `created`
//!   and `modified` and its `mode` attribute are mapped to their Atom 1.0 equivalents.
//! - The syndication module's `sy:updatePeriod` and `sy:updateFrequency` (a refresh hint
//!   mostly found in RSS 1.0 and WordPress feeds) and RSS `ttl` are read for scheduling.
//!
//! The pass never expands entities (only the five predefined ones and character references
//! are decoded, in the text it reads) and never fetches anything a DTD names. If the document
//! is not well-formed, the pass gives up quietly and feed-rs reports the error.

use newsdedup_model::BodyKind;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::NsReader;

const NS_MEDIA: &str = "http://search.yahoo.com/mrss/";
const NS_YOUTUBE: &str = "http://www.youtube.com/xml/schemas/2015";
const NS_ATOM: &str = "http://www.w3.org/2005/Atom";
const NS_ATOM_03: &str = "http://purl.org/atom/ns#";
const NS_RSS_1: &str = "http://purl.org/rss/1.0/";
const NS_RSS_090: &str = "http://my.netscape.com/rdf/simple/0.9/";
const NS_SYNDICATION: &str = "http://purl.org/rss/1.0/modules/syndication/";
const NS_DUBLIN_CORE: &str = "http://purl.org/dc/elements/1.1/";

/// What the pass learned about one entry (`item` or `entry`), in document order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntryExtras {
    pub video_id: Option<String>,
    /// The longest non-empty `media:description`, with its kind (`type="html"` or plain).
    pub media_description: Option<(String, BodyKind)>,
    /// The text of the entry's first non-empty date element (`pubDate`, `dc:date`, Atom's
    /// `published` or `updated`, …), for the dates feed-rs cannot read.
    pub date: Option<String>,
}

/// What the pass learned about the document.
#[derive(Debug, Clone, Default)]
pub struct Scan {
    pub entries: Vec<EntryExtras>,
    /// RSS `ttl`, in minutes.
    pub ttl_minutes: Option<u32>,
    /// `sy:updatePeriod` divided by `sy:updateFrequency`, in minutes.
    pub update_period_minutes: Option<u32>,
    /// Replacements that make the document digestible for feed-rs, sorted and disjoint.
    edits: Vec<Edit>,
}

#[derive(Debug, Clone)]
struct Edit {
    start: usize,
    end: usize,
    replacement: String,
}

impl Scan {
    /// The document with the edits applied (borrowed unchanged when there are none).
    pub fn repaired<'a>(&self, text: &'a str) -> std::borrow::Cow<'a, str> {
        if self.edits.is_empty() {
            return std::borrow::Cow::Borrowed(text);
        }
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for edit in &self.edits {
            out.push_str(&text[at..edit.start]);
            out.push_str(&edit.replacement);
            at = edit.end;
        }
        out.push_str(&text[at..]);
        std::borrow::Cow::Owned(out)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ns {
    None,
    Media,
    YouTube,
    Atom,
    Atom03,
    Rss1,
    Rss090,
    Syndication,
    DublinCore,
    Other,
}

fn classify(resolved: &ResolveResult<'_>, prefix: Option<&str>) -> Ns {
    match resolved {
        ResolveResult::Bound(ns) => match ns.as_ref() {
            NS_MEDIA | "http://search.yahoo.com/mrss" => Ns::Media,
            NS_YOUTUBE => Ns::YouTube,
            NS_ATOM => Ns::Atom,
            NS_ATOM_03 => Ns::Atom03,
            NS_RSS_1 => Ns::Rss1,
            NS_RSS_090 => Ns::Rss090,
            NS_SYNDICATION => Ns::Syndication,
            NS_DUBLIN_CORE => Ns::DublinCore,
            _ => Ns::Other,
        },
        // An undeclared prefix: go by the conventional prefix, as readers of sloppy feeds do.
        ResolveResult::Unknown(_) => match prefix {
            Some("media") => Ns::Media,
            Some("yt") => Ns::YouTube,
            Some("sy") => Ns::Syndication,
            Some("dc") => Ns::DublinCore,
            _ => Ns::Other,
        },
        ResolveResult::Unbound => Ns::None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Root {
    Unknown,
    Rss,
    Rdf,
    Atom,
    Atom03,
}

/// Text being collected from one element.
#[derive(Debug)]
struct Capture {
    what: Captured,
    depth: usize,
    text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Captured {
    VideoId,
    MediaDescription(BodyKind),
    Ttl,
    UpdatePeriod,
    UpdateFrequency,
    Date,
}

/// An element that may turn out empty, and then is removed.
#[derive(Debug)]
struct MaybeEmpty {
    start: usize,
    depth: usize,
    has_content: bool,
}

/// Scans `text`, a decoded XML document. Never fails: a document the pass cannot read gives
/// an empty [`Scan`], and feed-rs has the last word.
pub fn scan(text: &str) -> Scan {
    match scan_inner(text) {
        Ok(scan) => scan,
        Err(e) => {
            tracing::debug!(error = %e, "pre-scan stopped; feed-rs gets the document as it is");
            Scan::default()
        }
    }
}

fn scan_inner(text: &str) -> Result<Scan, quick_xml::Error> {
    let mut reader = NsReader::from_str(text);
    reader.config_mut().trim_text(false);
    let mut scan = Scan::default();
    let mut root = Root::Unknown;
    let mut depth = 0usize;
    // Depth of the entry element we are in, if any.
    let mut entry_depth: Option<usize> = None;
    let mut capture: Option<Capture> = None;
    // A Media RSS element being removed: (start offset, depth).
    let mut removing: Option<(usize, usize)> = None;
    let mut maybe_empty: Vec<MaybeEmpty> = Vec::new();
    let mut period: Option<String> = None;
    let mut frequency: Option<String> = None;
    loop {
        let start = reader.buffer_position() as usize;
        let (resolved, event) = reader.read_resolved_event()?;
        let ns = match &event {
            Event::Start(e) | Event::Empty(e) => classify(&resolved, e.name().prefix().map(|p| p.into_inner())),
            Event::End(e) => classify(&resolved, e.name().prefix().map(|p| p.into_inner())),
            _ => Ns::None,
        };
        let end = reader.buffer_position() as usize;
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let empty = matches!(event, Event::Empty(_));
                let local = e.local_name();
                let local: &str = local.as_ref();
                if let Some(m) = maybe_empty.last_mut() {
                    m.has_content = true;
                }
                if let Some(c) = &capture {
                    // Markup inside a captured text (html in a media:description): keep it.
                    if c.depth <= depth && matches!(c.what, Captured::MediaDescription(_)) {
                        if let Some(c) = capture.as_mut() {
                            c.text.push_str(&text[start..end]);
                        }
                    }
                }
                depth += 1;
                if depth == 1 {
                    root = match (local, ns) {
                        ("rss", _) => Root::Rss,
                        ("RDF", _) => Root::Rdf,
                        ("feed", Ns::Atom03) => Root::Atom03,
                        ("feed", _) => Root::Atom,
                        _ => Root::Unknown,
                    };
                    if let Some(replacement) = fix_root(e, root) {
                        scan.edits.push(Edit { start, end, replacement });
                    }
                } else if entry_depth.is_none() && is_entry(root, ns, local) {
                    entry_depth = Some(depth);
                    scan.entries.push(EntryExtras::default());
                } else if removing.is_none() && ns == Ns::Media {
                    // Read what we need, then drop the element from feed-rs's copy.
                    removing = Some((start, depth));
                    if entry_depth.is_some() && local == "description" && !empty {
                        let kind = match attr(e, "type").as_deref() {
                            Some("html") => BodyKind::Html,
                            _ => BodyKind::Text,
                        };
                        capture = Some(Capture { what: Captured::MediaDescription(kind), depth, text: String::new() });
                    }
                } else if removing.is_some() && ns == Ns::Media && local == "description" && !empty {
                    if entry_depth.is_some() && capture.is_none() {
                        let kind = match attr(e, "type").as_deref() {
                            Some("html") => BodyKind::Html,
                            _ => BodyKind::Text,
                        };
                        capture = Some(Capture { what: Captured::MediaDescription(kind), depth, text: String::new() });
                    }
                } else if capture.is_none() && !empty {
                    let what = match (ns, local) {
                        (Ns::YouTube, "videoId") if entry_depth.is_some() => Some(Captured::VideoId),
                        (Ns::None | Ns::Rss1 | Ns::Rss090, "pubDate")
                        | (Ns::DublinCore, "date")
                        | (Ns::Atom | Ns::Atom03, "published" | "updated" | "issued" | "modified" | "created")
                            if entry_depth.is_some() =>
                        {
                            Some(Captured::Date)
                        }
                        (Ns::None | Ns::Rss1, "ttl") if entry_depth.is_none() => Some(Captured::Ttl),
                        (Ns::Syndication, "updatePeriod") if entry_depth.is_none() => Some(Captured::UpdatePeriod),
                        (Ns::Syndication, "updateFrequency") if entry_depth.is_none() => {
                            Some(Captured::UpdateFrequency)
                        }
                        _ => None,
                    };
                    if let Some(what) = what {
                        capture = Some(Capture { what, depth, text: String::new() });
                    }
                }
                if matches!(ns, Ns::Atom | Ns::Atom03) && removing.is_none() {
                    if let Some(edit) = fix_atom_element(e, ns, local, root, start, end, empty) {
                        scan.edits.push(edit);
                    }
                    if is_atom_text_construct(local) && attr(e, "src").is_none() {
                        if empty {
                            scan.edits.push(Edit { start, end, replacement: String::new() });
                        } else {
                            maybe_empty.push(MaybeEmpty { start, depth, has_content: false });
                        }
                    }
                }
                if empty {
                    finish_element(
                        depth,
                        end,
                        &mut scan,
                        &mut entry_depth,
                        &mut capture,
                        &mut removing,
                        &mut maybe_empty,
                        (&mut period, &mut frequency),
                    );
                    depth -= 1;
                }
            }
            Event::End(ref e) => {
                if let Some(c) = capture.as_mut() {
                    if c.depth < depth && matches!(c.what, Captured::MediaDescription(_)) {
                        c.text.push_str(&text[start..end]);
                    }
                }
                if root == Root::Atom03 && ns == Ns::Atom03 {
                    let local: &str = e.local_name().into_inner();
                    if let Some(new) = atom03_rename(local) {
                        let prefix = e.name().prefix().map(|p| format!("{}:", AsRef::<str>::as_ref(&p)));
                        scan.edits.push(Edit {
                            start,
                            end,
                            replacement: format!("</{}{new}>", prefix.unwrap_or_default()),
                        });
                    }
                }
                finish_element(
                    depth,
                    end,
                    &mut scan,
                    &mut entry_depth,
                    &mut capture,
                    &mut removing,
                    &mut maybe_empty,
                    (&mut period, &mut frequency),
                );
                depth = depth.saturating_sub(1);
            }
            Event::Text(ref t) => {
                let s = t.xml10_content();
                if !s.trim().is_empty() {
                    if let Some(m) = maybe_empty.last_mut() {
                        m.has_content = true;
                    }
                }
                if let Some(c) = capture.as_mut() {
                    c.text.push_str(&s);
                }
            }
            Event::CData(ref t) => {
                if let Some(m) = maybe_empty.last_mut() {
                    m.has_content = true;
                }
                if let Some(c) = capture.as_mut() {
                    c.text.push_str(t.as_ref());
                }
            }
            Event::GeneralRef(ref r) => {
                if let Some(m) = maybe_empty.last_mut() {
                    m.has_content = true;
                }
                if let Some(c) = capture.as_mut() {
                    let name: String = AsRef::<str>::as_ref(r).to_string();
                    match r.resolve_char_ref() {
                        Ok(Some(ch)) => c.text.push(ch),
                        _ => match quick_xml::escape::resolve_predefined_entity(&name) {
                            Some(s) => c.text.push_str(s),
                            // Unknown entities stay as they were written; nothing is expanded.
                            None => {
                                c.text.push('&');
                                c.text.push_str(&name);
                                c.text.push(';');
                            }
                        },
                    }
                }
            }
            Event::Eof => break,
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
        }
    }
    scan.ttl_minutes = scan.ttl_minutes.filter(|t| *t > 0);
    scan.update_period_minutes = update_period(period.as_deref(), frequency.as_deref());
    // An element removed whole may contain a tag that was rewritten: the outer edit wins.
    scan.edits.sort_by_key(|e| (e.start, std::cmp::Reverse(e.end)));
    let mut last_end = 0;
    scan.edits.retain(|e| {
        let keep = e.start >= last_end;
        if keep {
            last_end = e.end;
        }
        keep
    });
    Ok(scan)
}

/// Closes the element at `depth` (which ends at `end`): collects captured text, ends
/// removals and entries.
#[allow(clippy::too_many_arguments)]
fn finish_element(
    depth: usize,
    end: usize,
    scan: &mut Scan,
    entry_depth: &mut Option<usize>,
    capture: &mut Option<Capture>,
    removing: &mut Option<(usize, usize)>,
    maybe_empty: &mut Vec<MaybeEmpty>,
    sy: (&mut Option<String>, &mut Option<String>),
) {
    if capture.as_ref().is_some_and(|c| c.depth == depth) {
        let c = capture.take().expect("checked above");
        let value = c.text.trim().to_string();
        match c.what {
            Captured::VideoId => {
                if let Some(entry) = scan.entries.last_mut() {
                    if !value.is_empty() {
                        entry.video_id = Some(value);
                    }
                }
            }
            Captured::MediaDescription(kind) => {
                if let Some(entry) = scan.entries.last_mut() {
                    let longer = entry.media_description.as_ref().is_none_or(|(d, _)| d.len() < value.len());
                    if !value.is_empty() && longer {
                        entry.media_description = Some((value, kind));
                    }
                }
            }
            Captured::Date => {
                if let Some(entry) = scan.entries.last_mut() {
                    if entry.date.is_none() && !value.is_empty() {
                        entry.date = Some(value);
                    }
                }
            }
            Captured::Ttl => scan.ttl_minutes = value.parse().ok(),
            Captured::UpdatePeriod => *sy.0 = Some(value),
            Captured::UpdateFrequency => *sy.1 = Some(value),
        }
    }
    if maybe_empty.last().is_some_and(|m| m.depth == depth) {
        let m = maybe_empty.pop().expect("checked above");
        if !m.has_content {
            scan.edits.push(Edit { start: m.start, end, replacement: String::new() });
        } else if let Some(parent) = maybe_empty.last_mut() {
            parent.has_content = true;
        }
    }
    if removing.is_some_and(|(_, d)| d == depth) {
        let (start, _) = removing.take().expect("checked above");
        scan.edits.push(Edit { start, end, replacement: String::new() });
    }
    if *entry_depth == Some(depth) {
        *entry_depth = None;
    }
}

fn is_entry(root: Root, ns: Ns, local: &str) -> bool {
    match root {
        Root::Rss => local == "item" && matches!(ns, Ns::None | Ns::Rss1),
        Root::Rdf => local == "item" && matches!(ns, Ns::Rss1 | Ns::Rss090 | Ns::None),
        Root::Atom => local == "entry" && matches!(ns, Ns::Atom | Ns::None),
        Root::Atom03 => local == "entry" && ns == Ns::Atom03,
        Root::Unknown => false,
    }
}

fn is_atom_text_construct(local: &str) -> bool {
    matches!(local, "title" | "subtitle" | "summary" | "content" | "rights" | "tagline")
}

fn attr(e: &BytesStart<'_>, name: &str) -> Option<String> {
    e.attributes()
        .with_checks(false)
        .flatten()
        .find(|a| AsRef::<str>::as_ref(&a.key) == name)
        .and_then(|a| a.normalized_value(quick_xml::XmlVersion::Implicit1_0).ok().map(|v| v.into_owned()))
}

fn attrs(e: &BytesStart<'_>) -> Vec<(String, String)> {
    e.attributes()
        .with_checks(false)
        .flatten()
        .map(|a| {
            let key = AsRef::<str>::as_ref(&a.key).to_string();
            let value = a
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map(|v| v.into_owned())
                .unwrap_or_else(|_| a.value.to_string());
            (key, value)
        })
        .collect()
}

/// A start tag written out again with new attributes.
fn start_tag(name: &str, attrs: &[(String, String)], empty: bool) -> String {
    let mut s = format!("<{name}");
    for (k, v) in attrs {
        s.push(' ');
        s.push_str(k);
        s.push_str("=\"");
        s.push_str(&quick_xml::escape::escape(v.as_str()));
        s.push('"');
    }
    s.push_str(if empty { "/>" } else { ">" });
    s
}

/// The root tag rewritten so feed-rs recognises the format, if it needs to be.
fn fix_root(e: &BytesStart<'_>, root: Root) -> Option<String> {
    let name = AsRef::<str>::as_ref(&e.name()).to_string();
    let mut a = attrs(e);
    match root {
        Root::Rss => {
            let version = a.iter().find(|(k, _)| k == "version").map(|(_, v)| v.trim().to_string());
            if matches!(version.as_deref(), Some("2.0" | "0.91" | "0.92")) {
                return None;
            }
            a.retain(|(k, _)| k != "version");
            a.insert(0, ("version".into(), "2.0".into()));
            Some(start_tag(&name, &a, false))
        }
        Root::Rdf | Root::Atom03 => {
            let (from, to) = if root == Root::Rdf { (NS_RSS_090, NS_RSS_1) } else { (NS_ATOM_03, NS_ATOM) };
            if !a.iter().any(|(k, v)| k.starts_with("xmlns") && v == from) {
                return None;
            }
            for (k, v) in a.iter_mut() {
                if k.starts_with("xmlns") && v == from {
                    *v = to.to_string();
                }
            }
            if root == Root::Atom03 {
                a.retain(|(k, _)| k != "version");
            }
            Some(start_tag(&name, &a, false))
        }
        Root::Atom | Root::Unknown => None,
    }
}

fn atom03_rename(local: &str) -> Option<&'static str> {
    match local {
        "issued" | "created" => Some("published"),
        "modified" => Some("updated"),
        "tagline" => Some("subtitle"),
        _ => None,
    }
}

/// Atom 0.3 elements rewritten as their Atom 1.0 equivalents.
fn fix_atom_element(
    e: &BytesStart<'_>,
    ns: Ns,
    local: &str,
    root: Root,
    start: usize,
    end: usize,
    empty: bool,
) -> Option<Edit> {
    if root != Root::Atom03 || ns != Ns::Atom03 {
        return None;
    }
    let prefix = e.name().prefix().map(|p| format!("{}:", AsRef::<str>::as_ref(&p))).unwrap_or_default();
    if let Some(new) = atom03_rename(local) {
        let a: Vec<_> = attrs(e).into_iter().filter(|(k, _)| k.starts_with("xmlns")).collect();
        return Some(Edit { start, end, replacement: start_tag(&format!("{prefix}{new}"), &a, empty) });
    }
    if matches!(local, "content" | "summary" | "title") {
        // 0.3 says `type` is a MIME type and `mode` how it is carried (xml, escaped, base64).
        let a = attrs(e);
        let mime = a.iter().find(|(k, _)| k == "type").map(|(_, v)| v.to_ascii_lowercase());
        let mode = a.iter().find(|(k, _)| k == "mode").map(|(_, v)| v.to_ascii_lowercase());
        let new_type = match (mode.as_deref(), mime.as_deref()) {
            (Some("base64"), _) => {
                return Some(Edit { start, end, replacement: start_tag(&format!("{prefix}{local}"), &[], empty) })
            }
            (Some("xml"), _) => "xhtml",
            (_, Some("text/html" | "application/xhtml+xml" | "html")) => "html",
            _ => "text",
        };
        let mut kept: Vec<_> = a.into_iter().filter(|(k, _)| k != "type" && k != "mode").collect();
        kept.push(("type".into(), new_type.into()));
        return Some(Edit { start, end, replacement: start_tag(&format!("{prefix}{local}"), &kept, empty) });
    }
    None
}

/// Minutes between updates from the syndication module: the period divided by the frequency.
fn update_period(period: Option<&str>, frequency: Option<&str>) -> Option<u32> {
    let minutes: u32 = match period?.trim().to_ascii_lowercase().as_str() {
        "hourly" => 60,
        "daily" => 24 * 60,
        "weekly" => 7 * 24 * 60,
        "monthly" => 30 * 24 * 60,
        "yearly" => 365 * 24 * 60,
        _ => return None,
    };
    let frequency: u32 = frequency.and_then(|f| f.trim().parse().ok()).filter(|f| *f > 0).unwrap_or(1);
    Some((minutes / frequency).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn youtube_fields_and_media_removed_for_feed_rs() {
        let doc = r#"<feed xmlns="http://www.w3.org/2005/Atom" xmlns:yt="http://www.youtube.com/xml/schemas/2015" xmlns:media="http://search.yahoo.com/mrss/">
<entry><id>yt:video:A</id><yt:videoId>A</yt:videoId><media:group><media:title/><media:description/></media:group></entry>
<entry><id>yt:video:B</id><yt:videoId> B </yt:videoId><media:group><media:title>t</media:title><media:description>Line &amp; one
Line two</media:description></media:group></entry></feed>"#;
        let scan = scan(doc);
        assert_eq!(scan.entries.len(), 2);
        assert_eq!(scan.entries[0].video_id.as_deref(), Some("A"));
        assert_eq!(scan.entries[0].media_description, None);
        assert_eq!(scan.entries[1].video_id.as_deref(), Some("B"));
        assert_eq!(scan.entries[1].media_description, Some(("Line & one\nLine two".to_string(), BodyKind::Text)));
        let repaired = scan.repaired(doc);
        assert!(!repaired.contains("media:"), "{repaired}");
        assert!(repaired.contains("<yt:videoId>A</yt:videoId>"));
    }

    #[test]
    fn html_media_description_keeps_its_markup() {
        let doc = r#"<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"><channel><item>
<media:description type="html"><![CDATA[<p>Para</p>]]></media:description></item></channel></rss>"#;
        let scan = scan(doc);
        assert_eq!(scan.entries[0].media_description, Some(("<p>Para</p>".to_string(), BodyKind::Html)));
    }

    #[test]
    fn refresh_hints() {
        let doc = r#"<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/" xmlns:sy="http://purl.org/rss/1.0/modules/syndication/">
<channel><sy:updatePeriod>hourly</sy:updatePeriod><sy:updateFrequency>4</sy:updateFrequency></channel><item/></rdf:RDF>"#;
        let scan = scan(doc);
        assert_eq!(scan.update_period_minutes, Some(15));
        assert_eq!(scan.entries.len(), 1);
        let doc = "<rss version=\"2.0\"><channel><ttl>90</ttl><item><ttl>5</ttl></item></channel></rss>";
        assert_eq!(super::scan(doc).ttl_minutes, Some(90));
        assert_eq!(update_period(Some("daily"), None), Some(1440));
        assert_eq!(update_period(Some("sometimes"), Some("2")), None);
    }

    #[test]
    fn root_fixes() {
        let s = scan("<rss><channel><item><title>x</title></item></channel></rss>");
        assert!(s
            .repaired("<rss><channel><item><title>x</title></item></channel></rss>")
            .starts_with("<rss version=\"2.0\">"));
        let doc = r#"<rss version="0.94"><channel/></rss>"#;
        assert_eq!(scan(doc).repaired(doc), r#"<rss version="2.0"><channel/></rss>"#);
        let doc = r#"<rss version="2.0"><channel/></rss>"#;
        assert!(matches!(scan(doc).repaired(doc), std::borrow::Cow::Borrowed(_)));
    }

    #[test]
    fn empty_atom_text_constructs_are_removed() {
        let doc = r#"<feed xmlns="http://www.w3.org/2005/Atom"><entry><id>1</id><content type="html"> </content><summary/><title>T</title></entry></feed>"#;
        let repaired = scan(doc).repaired(doc).into_owned();
        assert_eq!(
            repaired,
            r#"<feed xmlns="http://www.w3.org/2005/Atom"><entry><id>1</id><title>T</title></entry></feed>"#
        );
    }

    #[test]
    fn malformed_documents_give_an_empty_scan() {
        let s = scan("<rss><channel><item></channel>");
        assert!(s.entries.is_empty() && s.edits.is_empty());
    }
}
