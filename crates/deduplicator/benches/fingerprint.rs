//! Fingerprint throughput in MB/s of text on one core: ours against `simhash::simhash` (the
//! reference: SipHash over whitespace tokens, 64 counters per token) on the same texts.
//!
//! Run with `cargo bench -p newsdedup-deduplicator --bench fingerprint`. Three figures for
//! ours: the whole-text simhash alone (tokenise, hash words, 3-shingles, simhash), and
//! everything the writer computes per item (that, plus the lead simhash over character
//! 4-grams, the line hashes and the bottom-k sketch). The texts are generated
//! deterministically (English and Russian words, paragraphs as lines), so runs are comparable.

use newsdedup_deduplicator::{Template, TextProfile};
use std::hint::black_box;
use std::time::{Duration, Instant};

const EN: &[&str] = &[
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
    "election",
    "2005",
];
const RU: &[&str] = &[
    "москва",
    "министр",
    "заявил",
    "во",
    "вторник",
    "что",
    "правительство",
    "рассмотрит",
    "планы",
    "нового",
    "жилья",
    "после",
    "того",
    "как",
    "депутаты",
    "выразили",
    "обеспокоенность",
    "расходами",
    "в",
    "городе",
];

fn corpus() -> Vec<String> {
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..2000)
        .map(|i| {
            let words = if i % 3 == 2 { RU } else { EN };
            let n = 80 + (next() % 400) as usize;
            let mut text = String::new();
            for j in 0..n {
                if j > 0 {
                    text.push(if next() % 40 == 0 { '\n' } else { ' ' });
                }
                text.push_str(words[(next() % words.len() as u64) as usize]);
            }
            text
        })
        .collect()
}

fn measure(name: &str, texts: &[String], f: impl Fn(&str) -> u64) -> f64 {
    let bytes: usize = texts.iter().map(String::len).sum();
    // Warm up, then run for two seconds.
    for t in texts {
        black_box(f(black_box(t)));
    }
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
    println!("{name:<44} {mbps:>8.1} MB/s");
    mbps
}

fn main() {
    let texts = corpus();
    let none = Template::default();
    let reference = measure("simhash::simhash (baseline)", &texts, simhash::simhash);
    let simhash_only = measure("ours: whole-text simhash", &texts, |t| TextProfile::new(t).simhash(&none));
    let all = measure("ours: simhash + lead + line hashes + sketch", &texts, |t| {
        let f = TextProfile::new(t).features(&none);
        f.fingerprint.simhash ^ f.lead ^ u64::from(f.sketch.shingles)
    });
    println!(
        "ratio ours / baseline: whole-text simhash {:.2}x, all features {:.2}x",
        simhash_only / reference,
        all / reference
    );
}
