//! Golden files: every fixture in `fixtures/` (raw items as feeds carry them) is cleaned with
//! the built-in rule packs, and the result (clean title, canonical link, clean text, removed
//! lines and their rules) must equal its `.golden` file. `UPDATE_GOLDEN=1` rewrites them.

use newsdedup_model::{BodyKind, KeySource, RawItem};
use newsdedup_normaliser::{fold, FeedStats, LearnSettings, Normaliser, RuleSet, Template};
use serde::Deserialize;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Fixture {
    #[serde(default)]
    learn: bool,
    item: Vec<FixtureItem>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FixtureItem {
    title: String,
    #[serde(default)]
    link: Option<String>,
    kind: String,
    body: String,
}

fn manifest() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn builtin_rules() -> RuleSet {
    let dir = manifest().join("../../config/boilerplate");
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

fn raw(i: usize, item: &FixtureItem) -> RawItem {
    RawItem {
        guid: format!("item-{i}"),
        key_source: KeySource::Guid,
        link: item.link.clone(),
        title: Some(item.title.clone()),
        published_at: None,
        updated_at: None,
        body: item.body.clone(),
        body_kind: match item.kind.as_str() {
            "html" => BodyKind::Html,
            "text" => BodyKind::Text,
            other => panic!("unknown kind {other:?}"),
        },
        platform_id: None,
    }
}

/// The golden text for one fixture.
fn render(normaliser: &Normaliser, fixture: &Fixture) -> String {
    let analyses: Vec<_> =
        fixture.item.iter().enumerate().map(|(i, item)| normaliser.analyse(None, &raw(i, item))).collect();
    let template = if fixture.learn {
        let mut stats = FeedStats::default();
        stats.observe(analyses.iter());
        stats.template(&LearnSettings::default())
    } else {
        Template::default()
    };
    let mut out = String::new();
    for (i, analysis) in analyses.iter().enumerate() {
        let clean = Normaliser::finish(analysis, &template);
        assert_eq!(clean.folded_text, fold::fold(&clean.clean_text), "the folded text is the clean text folded");
        let _ = writeln!(out, "== item {}", i + 1);
        let _ = writeln!(out, "title: {}", clean.clean_title);
        let _ = writeln!(out, "link: {}", clean.canonical_link.as_deref().unwrap_or("-"));
        let _ = writeln!(out, "text:");
        for line in clean.clean_text.lines() {
            let _ = writeln!(out, "  {line}");
        }
        let _ = writeln!(out, "removed:");
        for r in &clean.removed {
            let _ = writeln!(out, "  {} {} | {}", r.position, r.rule, r.line);
        }
    }
    out
}

#[test]
fn fixtures_match_their_golden_files() {
    let normaliser = Normaliser::new(builtin_rules());
    let dir = manifest().join("fixtures");
    let mut fixtures: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("fixtures folder")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    fixtures.sort();
    assert!(fixtures.len() >= 8, "expected the fixtures in {}", dir.display());
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut failures = Vec::new();
    for path in &fixtures {
        let fixture: Fixture = toml::from_str(&std::fs::read_to_string(path).expect("read fixture"))
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let actual = render(&normaliser, &fixture);
        let golden = path.with_extension("golden");
        if update {
            std::fs::write(&golden, &actual).expect("write golden file");
            continue;
        }
        match std::fs::read_to_string(&golden) {
            Ok(expected) if expected == actual => {}
            Ok(expected) => failures.push(format!("{}:\n{}", name(path), diff(&expected, &actual))),
            Err(_) => failures.push(format!("{}: no golden file (run with UPDATE_GOLDEN=1)", name(path))),
        }
    }
    assert!(failures.is_empty(), "golden files differ:\n{}", failures.join("\n"));
}

fn name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// The lines that differ, marked - (expected) and + (actual).
fn diff(expected: &str, actual: &str) -> String {
    let (e, a): (Vec<&str>, Vec<&str>) = (expected.lines().collect(), actual.lines().collect());
    let mut out = String::new();
    for i in 0..e.len().max(a.len()) {
        let (x, y) = (e.get(i).copied(), a.get(i).copied());
        if x != y {
            let _ = writeln!(out, "  line {}:\n  - {}\n  + {}", i + 1, x.unwrap_or("<none>"), y.unwrap_or("<none>"));
        }
    }
    out
}
