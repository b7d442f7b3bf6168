//! Normalisation throughput on the dev corpus bodies, in MB/s of input text on one core.
//!
//! Run with `cargo bench -p newsdedup-normaliser` (or `make bench`). The bodies come from the
//! feed files of the labelled corpus: `NEWSDEDUP_CORPUS` names its folder; without it the
//! bench looks for `shared/corpus` beside the repository and beside its parent folder, and
//! skips cleanly when there is none. The rule packs are the built-in ones
//! (`config/boilerplate/*.toml`).
//!
//! Printed, all measured in this run: the baseline (body to lines only: the HTML tokenizer and
//! entity decoding, which any cleaner must pay), full cleaning with rules and edges
//! (`analyse` + `finish`), and the ratio between the two.

use newsdedup_model::{BodyKind, KeySource, RawItem};
use newsdedup_normaliser::{body_lines, Normaliser, RuleSet, Template};
use quick_xml::events::Event;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn corpus_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("NEWSDEDUP_CORPUS") {
        return Some(PathBuf::from(dir)).filter(|d| d.join("dev/feeds").is_dir());
    }
    [repo().join("../shared/corpus"), repo().join("../../shared/corpus")]
        .into_iter()
        .find(|d| d.join("dev/feeds").is_dir())
}

/// The text of a feed file, decoded from the encoding its XML declaration names.
fn read_feed(path: &Path) -> Option<String> {
    let bytes = std::fs::read(path).ok()?;
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).to_lowercase();
    let label =
        head.split("encoding=").nth(1).and_then(|r| r.trim_start_matches(['"', '\'']).split(['"', '\'']).next());
    let encoding = label.and_then(|l| encoding_rs::Encoding::for_label(l.as_bytes())).unwrap_or(encoding_rs::UTF_8);
    let (text, _, _) = encoding.decode(&bytes);
    Some(text.into_owned())
}

/// Items of an RSS or Atom document with the body a feed reader would pick: RSS
/// content:encoded, else description (HTML); Atom media:description (text), else content, else
/// summary (HTML).
fn items_of(xml: &str) -> Vec<RawItem> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut items = Vec::new();
    let mut fields: Vec<(String, String)> = Vec::new();
    let mut path: Vec<String> = Vec::new();
    let mut in_item = false;
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => {
                let name = e.name().as_ref().to_string();
                if name == "item" || name == "entry" {
                    in_item = true;
                    fields.clear();
                }
                path.push(name);
            }
            Ok(Event::End(_)) => {
                let name = path.pop().unwrap_or_default();
                if (name == "item" || name == "entry") && in_item {
                    in_item = false;
                    if let Some(item) = pick(&fields) {
                        items.push(item);
                    }
                }
            }
            Ok(Event::Text(t)) if in_item => push_text(&mut fields, path.last(), &t.into_inner()),
            Ok(Event::CData(t)) if in_item => push_text(&mut fields, path.last(), &t.into_inner()),
            Ok(Event::GeneralRef(r)) if in_item => {
                let text = match r.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    _ => match r.as_ref() {
                        "lt" => "<".into(),
                        "gt" => ">".into(),
                        "amp" => "&".into(),
                        "quot" => "\"".into(),
                        "apos" => "'".into(),
                        other => format!("&{other};"),
                    },
                };
                push_text(&mut fields, path.last(), &text);
            }
            Ok(Event::Eof) | Err(_) => break,
            _ => {}
        }
    }
    items
}

fn push_text(fields: &mut Vec<(String, String)>, name: Option<&String>, text: &str) {
    let Some(name) = name else { return };
    match fields.iter_mut().find(|(n, _)| n == name) {
        Some((_, v)) => v.push_str(text),
        None => fields.push((name.clone(), text.to_string())),
    }
}

fn pick(fields: &[(String, String)]) -> Option<RawItem> {
    let get = |n: &str| fields.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    let (body, kind) = if let Some(b) = get("content:encoded") {
        (b, BodyKind::Html)
    } else if let Some(b) = get("media:description") {
        (b, BodyKind::Text)
    } else if let Some(b) = get("description").or_else(|| get("content")).or_else(|| get("summary")) {
        (b, BodyKind::Html)
    } else {
        return None;
    };
    Some(RawItem {
        guid: get("guid").or_else(|| get("id")).unwrap_or_default(),
        key_source: KeySource::Guid,
        link: get("link"),
        title: get("title"),
        published_at: None,
        updated_at: None,
        body,
        body_kind: kind,
        platform_id: None,
    })
}

fn builtin_rules() -> RuleSet {
    let dir = repo().join("config/boilerplate");
    let mut packs: Vec<(String, String)> = std::fs::read_dir(&dir)
        .expect("config/boilerplate")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .map(|p| (p.display().to_string(), std::fs::read_to_string(&p).expect("rule pack")))
        .collect();
    packs.sort();
    RuleSet::from_packs(packs.iter().map(|(n, t)| (n.as_str(), t.as_str()))).expect("built-in packs compile")
}

/// Runs `f` over every item until at least `min` has passed; returns MB/s of body text.
fn measure(items: &[RawItem], bytes: usize, min: Duration, mut f: impl FnMut(&RawItem)) -> f64 {
    for item in items {
        f(item);
    }
    let start = Instant::now();
    let mut rounds = 0u32;
    while start.elapsed() < min {
        for item in items {
            f(item);
        }
        rounds += 1;
    }
    (bytes as f64 * f64::from(rounds)) / start.elapsed().as_secs_f64() / 1e6
}

fn main() {
    let Some(corpus) = corpus_dir() else {
        eprintln!("normalise bench: no corpus found (set NEWSDEDUP_CORPUS), skipped");
        return;
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus.join("dev/feeds"))
        .map(|d| d.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "xml")).collect())
        .unwrap_or_default();
    files.sort();
    let items: Vec<RawItem> = files.iter().filter_map(|f| read_feed(f)).flat_map(|x| items_of(&x)).collect();
    let bytes: usize = items.iter().map(|i| i.body.len()).sum();
    if items.is_empty() {
        eprintln!("normalise bench: no items in {}, skipped", corpus.display());
        return;
    }
    let normaliser = Normaliser::new(builtin_rules());
    let template = Template::default();
    let min = Duration::from_secs(3);
    println!(
        "normalise bench: {} items, {:.1} MB of bodies from {}",
        items.len(),
        bytes as f64 / 1e6,
        corpus.display()
    );
    let lines = measure(&items, bytes, min, |i| {
        black_box(body_lines(&i.body, i.body_kind));
    });
    println!("  body to lines (baseline)          {lines:8.2} MB/s");
    let full = measure(&items, bytes, min, |i| {
        black_box(Normaliser::finish(&normaliser.analyse(None, i), &template));
    });
    println!("  normalise (rules, edges, folding) {full:8.2} MB/s  ({:.2}x the baseline's time)", lines / full);
}
