//! Fetch benchmark: N feeds of M items served from 127.0.0.1, one `run --once --all` of the
//! release binary into a fresh database, then the same run again when every feed answers
//! 304. Prints feeds/s, items/s and peak RSS for both, and as a baseline measured in the same
//! run, the fetcher alone downloading every feed with the same concurrency (no parsing, no
//! database), so the figures can be read as a ratio to the network cost.
//!
//!   cargo bench --bench fetch                      # 2,000 feeds × 50 items
//!   NEWSDEDUP_BENCH_FEEDS=500 cargo bench --bench fetch
//!
//! Needs the release binary (`make build`); NEWSDEDUP_BIN overrides its path.

#[path = "../crates/fetcher/tests/support/server.rs"]
mod hostile;

use hostile::{Reply, Route, Server};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Deterministic filler words, so that items are distinct, realistic-length stories.
fn words(seed: u64, n: usize) -> String {
    const VOCAB: &[&str] = &[
        "council",
        "river",
        "station",
        "minister",
        "budget",
        "storm",
        "school",
        "hospital",
        "bridge",
        "market",
        "police",
        "festival",
        "election",
        "harbour",
        "railway",
        "museum",
        "court",
        "factory",
        "airport",
        "village",
        "announced",
        "reopened",
        "closed",
        "approved",
        "rejected",
        "delayed",
        "opened",
        "repaired",
        "visited",
        "said",
        "on",
        "the",
        "after",
        "before",
        "with",
        "a",
        "new",
        "old",
        "local",
        "national",
        "week",
        "year",
        "today",
    ];
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = String::with_capacity(n * 8);
    for i in 0..n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if i > 0 {
            out.push(' ');
        }
        out.push_str(VOCAB[(x % VOCAB.len() as u64) as usize]);
    }
    out
}

fn feed(i: usize, items: usize) -> String {
    let mut doc = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><rss version=\"2.0\"><channel><title>Bench feed {i}</title>\
         <link>http://bench.example/{i}/</link>"
    );
    for j in 0..items {
        let seed = (i * 1000 + j) as u64;
        doc.push_str(&format!(
            "<item><guid>bench-{i}-{j}</guid><title>{}</title><link>http://bench.example/{i}/{j}</link>\
             <pubDate>Sat, 30 May 2026 10:{:02}:00 GMT</pubDate><description><![CDATA[<p>{}</p><p>{}</p>]]></description></item>",
            words(seed, 8),
            j % 60,
            words(seed + 1, 60),
            words(seed + 2, 40)
        ));
    }
    doc.push_str("</channel></rss>");
    doc
}

struct Run {
    secs: f64,
    peak_kib: Option<u64>,
    summary: String,
}

fn run_binary(bin: &Path, db: &Path, args: &[&str]) -> Run {
    let time = Path::new("/usr/bin/time");
    let rss_file = db.with_extension("rss");
    let mut cmd = if time.exists() {
        let mut c = Command::new(time);
        c.arg("-f").arg("%M").arg("-o").arg(&rss_file).arg(bin);
        c
    } else {
        Command::new(bin)
    };
    cmd.arg("-q").arg("--db").arg(db).args(args);
    let start = Instant::now();
    let out = cmd.output().expect("run newsdedup");
    let secs = start.elapsed().as_secs_f64();
    assert!(out.status.success(), "newsdedup failed: {}", String::from_utf8_lossy(&out.stderr));
    let peak_kib = std::fs::read_to_string(&rss_file).ok().and_then(|s| s.trim().parse().ok());
    Run { secs, peak_kib, summary: String::from_utf8_lossy(&out.stdout).trim().to_string() }
}

fn main() {
    let bin = std::env::var_os("NEWSDEDUP_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/newsdedup"));
    if !bin.exists() {
        eprintln!("fetch bench: no release binary at {} (run `make build`), skipped", bin.display());
        return;
    }
    let feeds = env_usize("NEWSDEDUP_BENCH_FEEDS", 2000);
    let items = env_usize("NEWSDEDUP_BENCH_ITEMS", 50);
    let concurrency = 16;

    let server = Server::start();
    let mut urls = Vec::with_capacity(feeds);
    let mut bytes = 0usize;
    for i in 0..feeds {
        let path = format!("/feeds/{i}.xml");
        let doc = feed(i, items);
        bytes += doc.len();
        server.set(&path, Route::Conditional { etag: format!("\"v{i}\""), reply: Reply::rss(&doc) });
        urls.push(server.url(&path));
    }

    // Baseline: the fetcher alone, same concurrency, no parsing and no database.
    let baseline = {
        let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let client = newsdedup_fetcher::HttpClient::new(newsdedup_fetcher::HttpConfig::default()).unwrap();
            let sem = std::sync::Arc::new(tokio::sync::Semaphore::new(concurrency));
            let start = Instant::now();
            let mut tasks = Vec::new();
            for url in &urls {
                let (client, sem, url) = (client.clone(), sem.clone(), url::Url::parse(url).unwrap());
                tasks.push(tokio::spawn(async move {
                    let _p = sem.acquire_owned().await.unwrap();
                    client.get(&url, &Default::default()).await.map(|_| ()).map_err(|e| e.to_string())
                }));
            }
            for t in tasks {
                t.await.unwrap().unwrap();
            }
            start.elapsed().as_secs_f64()
        })
    };

    let dir = std::env::temp_dir().join(format!("newsdedup-fetch-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let list = dir.join("feeds.txt");
    std::fs::write(&list, urls.join("\n")).unwrap();
    let db = dir.join("bench.db");
    let config = dir.join("bench.toml");
    // One host serves every feed here; on the internet they would be spread over many.
    std::fs::write(&config, format!("[fetch]\nconcurrency = {concurrency}\nper_host_concurrency = {concurrency}\n"))
        .unwrap();
    let cfg = config.to_str().unwrap();
    run_binary(&bin, &db, &["feeds", "import", list.to_str().unwrap()]);

    let full = run_binary(&bin, &db, &["--config", cfg, "run", "--once", "--all"]);
    let again = run_binary(&bin, &db, &["--config", cfg, "run", "--once", "--all"]);
    let total_items = feeds * items;
    let report = |name: &str, r: &Run, items: usize| {
        println!(
            "fetch bench {name}: {feeds} feeds in {:.2}s = {:.0} feeds/s, {:.0} items/s, peak RSS {} KiB, {:.1}× the fetch-only baseline",
            r.secs,
            feeds as f64 / r.secs,
            items as f64 / r.secs,
            r.peak_kib.map_or("?".to_string(), |k| k.to_string()),
            r.secs / baseline
        );
        println!("  summary: {}", r.summary);
    };
    println!(
        "fetch bench: {feeds} feeds × {items} items ({:.1} MB of XML) from 127.0.0.1, concurrency {concurrency}",
        bytes as f64 / 1e6
    );
    println!(
        "fetch bench baseline (fetcher only, no parse, no db): {:.2}s = {:.0} feeds/s",
        baseline,
        feeds as f64 / baseline
    );
    report("first run (200)", &full, total_items);
    report("second run (all 304)", &again, 0);
    assert!(again.summary.contains(&format!("{feeds} unchanged")), "{}", again.summary);
    let _ = std::fs::remove_dir_all(&dir);
}
