//! Candidate lookup latency: the multi-index Hamming index at 100k, 1M and 10M stored
//! fingerprints against a linear scan at 1M, for the search the deduplicator runs (radius 8,
//! the default `max_distance`; radius 7, the largest that probes only 17 keys per block; and
//! radius 10), plus the index's memory per fingerprint and its bulk-build time (what start-up
//! pays per time bucket). 100k is a small install's window, where most buckets are empty.
//!
//! Run with `cargo bench -p newsdedup-deduplicator --bench lookup`. Stored fingerprints are
//! pseudo-random, with one in ten a near copy (1-12 bits flipped) of another, as reposts are;
//! queries are stored fingerprints with 0-12 bits flipped, so some find neighbours and some do
//! not. Each decision searches twice (whole-text and lead simhash).

use newsdedup_deduplicator::HammingIndex;
use std::hint::black_box;
use std::time::Instant;

/// The default search radius (`[dedup] max_distance`), and the neighbours it was chosen between.
const RADII: [u32; 3] = [8, 7, 10];

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn flip(&mut self, fp: u64, bits: u32) -> u64 {
        let mut out = fp;
        while (out ^ fp).count_ones() < bits {
            out ^= 1 << (self.next() % 64);
        }
        out
    }
}

fn fingerprints(n: usize, rng: &mut Rng) -> Vec<u64> {
    let mut fps = Vec::with_capacity(n);
    for i in 0..n {
        if i % 10 == 9 {
            let base = fps[(rng.next() % i as u64) as usize];
            let bits = 1 + (rng.next() % 12) as u32;
            fps.push(rng.flip(base, bits));
        } else {
            fps.push(rng.next());
        }
    }
    fps
}

fn queries(fps: &[u64], n: usize, rng: &mut Rng) -> Vec<u64> {
    (0..n)
        .map(|_| {
            let base = fps[(rng.next() % fps.len() as u64) as usize];
            let bits = (rng.next() % 13) as u32;
            rng.flip(base, bits)
        })
        .collect()
}

/// p50 and p99 in microseconds, and the mean number of fingerprints found.
fn latencies(qs: &[u64], mut search: impl FnMut(u64) -> usize) -> (f64, f64, f64) {
    let mut times = Vec::with_capacity(qs.len());
    let mut found = 0usize;
    for &q in qs {
        let start = Instant::now();
        found += black_box(search(black_box(q)));
        times.push(start.elapsed().as_secs_f64() * 1e6);
    }
    times.sort_by(f64::total_cmp);
    let pct = |p: f64| times[((times.len() - 1) as f64 * p) as usize];
    (pct(0.50), pct(0.99), found as f64 / qs.len() as f64)
}

fn main() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let one_million = fingerprints(1_000_000, &mut rng);

    // Baseline: a linear scan over 1M fingerprints.
    let qs = queries(&one_million, 300, &mut rng);
    let (scan50, scan99, _) =
        latencies(&qs, |q| one_million.iter().filter(|&&f| (f ^ q).count_ones() <= RADII[0]).count());
    println!("linear scan, 1M fingerprints, radius {}:  p50 {scan50:>8.1} µs   p99 {scan99:>8.1} µs", RADII[0]);

    let mut out = Vec::new();
    for n in [100_000usize, 1_000_000, 10_000_000] {
        let fps = if n == one_million.len() { one_million.clone() } else { fingerprints(n, &mut rng) };
        let start = Instant::now();
        let index = HammingIndex::from_fingerprints(&fps);
        let build = start.elapsed().as_secs_f64();
        let bytes = index.memory_bytes() as f64 / n as f64;
        let size = if n < 1_000_000 { format!("{}k", n / 1000) } else { format!("{}M", n / 1_000_000) };
        println!("index, {size} fingerprints: {bytes:.1} bytes per fingerprint, bulk build {build:.2} s");
        let qs = queries(&fps, 20_000, &mut rng);
        for radius in RADII {
            let (p50, p99, found) = latencies(&qs, |q| {
                index.search(q, radius, &mut out);
                out.len()
            });
            println!(
                "  radius {radius:>2}: p50 {p50:>8.1} µs   p99 {p99:>8.1} µs   ({found:.2} found per search); \
                 vs the 1M linear scan: p50 {:.0}x, p99 {:.0}x faster",
                scan50 / p50,
                scan99 / p99
            );
        }
    }
}
