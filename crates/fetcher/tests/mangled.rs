//! Mangled documents: every fixture feed cut short, spliced into itself, given random bytes,
//! stray markup and stray XML declarations, by a seeded generator (the same documents on
//! every run). Parsing one gives its items or an error, never a panic: neither in our passes
//! nor in the feed parser, whose panics `parse_document` would report as
//! `ParseError::ParserFailed` (a document that needs that is a case to handle before it).

use chrono::TimeZone;
use newsdedup_fetcher::{parse_document, ParseError, ParseOptions};
use std::path::Path;

/// xorshift64*: small, seeded, good enough to pick cuts and bytes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const FRAGMENTS: &[&[u8]] = &[
    b"<![CDATA[",
    b"]]>",
    b"<!--",
    b"-->",
    b"<?",
    b"?>",
    b"<!DOCTYPE rss [<!ENTITY e \"x\">]>",
    b"&",
    b"&e;",
    b"&#0;",
    b"&#x110000;",
    b"<",
    b">",
    b"\"",
    b"'",
    b"</item>",
    b"<item>",
    b"<entry>",
    b"</channel>",
    b"<media:description>",
    b"<yt:videoId>",
    b"\xff\xfe",
    b"\xef\xbb\xbf",
    b"\xd0",
    b"\x00",
];

const ENCODINGS: &[&str] = &["windows-1251", "koi8-r", "ISO-8859-1", "UTF-16", "shift_jis", "gb18030", "nonsense"];

/// One to three random edits of `doc`.
fn mangle(doc: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut out = doc.to_vec();
    for _ in 0..1 + rng.below(3) {
        let at = rng.below(out.len() + 1);
        match rng.below(6) {
            0 => out.truncate(at),
            1 => {
                let from = rng.below(out.len());
                let chunk: Vec<u8> = out[from..(from + 1 + rng.below(300)).min(out.len())].to_vec();
                out.splice(at..at, chunk);
            }
            2 => {
                for _ in 0..1 + rng.below(8) {
                    if !out.is_empty() {
                        let i = rng.below(out.len());
                        out[i] = rng.next() as u8;
                    }
                }
            }
            3 => {
                let end = (at + 1 + rng.below(200)).min(out.len());
                out.drain(at.min(end)..end);
            }
            4 => {
                let encoding = ENCODINGS[rng.below(ENCODINGS.len())];
                let decl = format!("<?xml version=\"1.0\" encoding=\"{encoding}\"?>");
                out.splice(at..at, decl.into_bytes());
            }
            _ => {
                let fragment = FRAGMENTS[rng.below(FRAGMENTS.len())];
                out.splice(at..at, fragment.iter().copied());
            }
        }
    }
    out
}

#[test]
fn mangled_documents_never_panic() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/feeds");
    let mut names: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    names.sort();
    assert!(names.len() >= 10, "the fixture feeds are missing");
    let now = chrono::Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap();
    let options = ParseOptions { content_type: None, base_url: Some("https://example.org/feed"), now };
    let (mut parsed, mut failed) = (0, 0);
    for (n, name) in names.iter().enumerate() {
        let doc = std::fs::read(dir.join(name)).unwrap();
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (n as u64 + 1));
        for round in 0..300 {
            let mangled = mangle(&doc, &mut rng);
            match std::panic::catch_unwind(|| parse_document(&mangled, &options)) {
                Ok(Ok(_)) => parsed += 1,
                Ok(Err(ParseError::ParserFailed(message))) => {
                    panic!("{name:?}, round {round}: the feed parser panicked: {message}")
                }
                Ok(Err(_)) => failed += 1,
                Err(_) => panic!("{name:?}, round {round}: parsing panicked"),
            }
        }
    }
    // The edits are small: many documents still parse, and many do not.
    assert!(parsed > 300 && failed > 1000, "parsed {parsed}, failed {failed}");
}
