//! Every document under fixtures/feeds parses to exactly what fixtures/expected says.
//!
//! The expected files are the items as JSON. After a deliberate change to parsing, rewrite
//! them with `NEWSDEDUP_UPDATE_GOLDEN=1 cargo test -p newsdedup-fetcher --test golden` and
//! review the diff: every changed key is an item that would be stored again.

use chrono::TimeZone;
use newsdedup_fetcher::{parse_document, ParseOptions};
use std::path::Path;

#[test]
fn fixtures_parse_to_their_expected_items() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let update = std::env::var_os("NEWSDEDUP_UPDATE_GOLDEN").is_some();
    let now = chrono::Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap();
    let mut names: Vec<_> =
        std::fs::read_dir(root.join("feeds")).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    assert!(names.len() >= 10, "fixtures missing: {names:?}");
    let mut failures = Vec::new();
    for name in &names {
        let bytes = std::fs::read(root.join("feeds").join(name)).unwrap();
        let base = format!("https://fixtures.example/{name}");
        let options = ParseOptions { content_type: None, base_url: Some(&base), now };
        let parsed = parse_document(&bytes, &options).unwrap_or_else(|e| panic!("{name}: {e}"));
        let actual = serde_json::to_string_pretty(&parsed).unwrap() + "\n";
        let expected_path = root.join("expected").join(format!("{name}.json"));
        if update {
            std::fs::write(&expected_path, &actual).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_else(|e| {
            panic!("{}: {e} (set NEWSDEDUP_UPDATE_GOLDEN=1 to create it)", expected_path.display())
        });
        if expected != actual {
            failures.push(format!("{name}:\n--- expected\n{expected}\n--- actual\n{actual}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
