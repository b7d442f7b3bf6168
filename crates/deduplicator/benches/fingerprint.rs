//! Fingerprint throughput: our `fingerprint` (word 3-shingles fed to the simhash crate)
//! against `simhash::simhash` (whitespace tokens) on the same texts, in MB/s on one core.
//!
//! Run with `cargo bench -p newsdedup-deduplicator`. The texts are synthetic news-like
//! paragraphs generated deterministically, so runs are comparable.

use std::hint::black_box;
use std::time::{Duration, Instant};

fn corpus() -> Vec<String> {
    let words = [
        "the",
        "minister",
        "said",
        "on",
        "tuesday",
        "that",
        "government",
        "would",
        "review",
        "plans",
        "for",
        "new",
        "housing",
        "after",
        "council",
        "members",
        "raised",
        "concerns",
        "about",
        "costs",
        "in",
        "city",
        "of",
        "and",
        "police",
        "market",
        "shares",
        "rose",
        "per",
        "cent",
        "while",
        "analysts",
        "expected",
    ];
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..2000)
        .map(|_| {
            let n = 80 + (next() % 400) as usize;
            (0..n).map(|_| words[(next() % words.len() as u64) as usize]).collect::<Vec<_>>().join(" ")
        })
        .collect()
}

fn measure(name: &str, texts: &[String], f: impl Fn(&str) -> u64) -> f64 {
    let bytes: usize = texts.iter().map(String::len).sum();
    let mut rounds = 0u32;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(2) {
        for t in texts {
            black_box(f(black_box(t)));
        }
        rounds += 1;
    }
    let secs = start.elapsed().as_secs_f64();
    let mbps = (bytes as f64 * f64::from(rounds)) / secs / 1e6;
    println!("{name:<28} {mbps:>8.1} MB/s");
    mbps
}

fn main() {
    let texts = corpus();
    let ours = measure("newsdedup fingerprint", &texts, |t| newsdedup_deduplicator::fingerprint(t).simhash);
    let reference = measure("simhash::simhash (baseline)", &texts, simhash::simhash);
    println!("ratio ours / baseline: {:.2}", ours / reference);
}
