//! The live progress line of `run --once` and `ingest` on a terminal:
//!
//! ```text
//! [=====>      ] 123/250 feeds · 4,321 items · 210 reposts folded · 3 errors · 0:42
//! ```
//!
//! Shown only when stderr is a terminal and the command is not quiet: under cron, systemd or
//! a pipe there is no line to redraw, and the summary line on stdout says it all. Log lines go
//! through [`LogWriter`], which clears the progress line, writes the log line, and draws the
//! progress line again below it, so the two never garble each other.
//!
//! No progress library: one line of text redrawn by a small thread ten times a second.

use crate::metrics::FeedReport;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The line currently on screen, if any; shared with the log writer.
static SCREEN: Mutex<Option<String>> = Mutex::new(None);

/// Erase the current terminal line and return to its start.
const CLEAR: &str = "\r\x1b[2K";

/// Whether a progress line may be shown: stderr is a terminal, logs are not turned down with
/// `-q`, and the terminal is not "dumb".
pub fn wanted(quiet: u8) -> bool {
    quiet == 0 && std::io::stderr().is_terminal() && std::env::var("TERM").map_or(true, |t| t != "dumb")
}

/// The counts shown.
#[derive(Debug, Default, Clone)]
struct Counts {
    done: usize,
    items: usize,
    reposts: usize,
    errors: usize,
}

/// A live progress line; cleared by [`Progress::finish`] (or when dropped).
pub struct Progress {
    counts: Arc<Mutex<Counts>>,
    stop: Arc<AtomicBool>,
    drawer: Option<std::thread::JoinHandle<()>>,
}

impl Progress {
    /// Starts drawing progress over `total` units (`noun`: "feeds", "documents").
    pub fn start(total: usize, noun: &'static str) -> Progress {
        let counts: Arc<Mutex<Counts>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (c, s) = (counts.clone(), stop.clone());
        let started = Instant::now();
        let drawer = std::thread::Builder::new()
            .name("newsdedup-progress".into())
            .spawn(move || {
                while !s.load(Ordering::Relaxed) {
                    let counts = c.lock().unwrap_or_else(|p| p.into_inner()).clone();
                    draw(&render(&counts, total, noun, started.elapsed(), width()));
                    std::thread::sleep(Duration::from_millis(100));
                }
            })
            .ok();
        Progress { counts, stop, drawer }
    }

    /// A writer observer that counts each committed feed.
    pub fn observer(&self) -> impl FnMut(&FeedReport<'_>) + Send + 'static {
        let counts = self.counts.clone();
        move |report| {
            let mut c = counts.lock().unwrap_or_else(|p| p.into_inner());
            c.done += 1;
            c.items += report.delta.items_new;
            c.reposts += report.delta.reposts_folded;
            c.errors += report.delta.feeds_failed;
        }
    }

    /// Stops drawing and erases the line.
    pub fn finish(mut self) {
        self.stop_drawing();
    }

    fn stop_drawing(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(drawer) = self.drawer.take() {
            let _ = drawer.join();
        }
        let mut screen = SCREEN.lock().unwrap_or_else(|p| p.into_inner());
        if screen.take().is_some() {
            let mut err = std::io::stderr().lock();
            let _ = err.write_all(CLEAR.as_bytes());
            let _ = err.flush();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop_drawing();
    }
}

/// The terminal's width from `COLUMNS`, else 80.
fn width() -> usize {
    std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()).filter(|w| *w >= 20).unwrap_or(80)
}

fn draw(line: &str) {
    let mut screen = SCREEN.lock().unwrap_or_else(|p| p.into_inner());
    let mut err = std::io::stderr().lock();
    let _ = write!(err, "{CLEAR}{line}");
    let _ = err.flush();
    *screen = Some(line.to_string());
}

/// The progress line, at most `width - 1` characters (so the cursor never wraps).
fn render(c: &Counts, total: usize, noun: &str, elapsed: Duration, width: usize) -> String {
    const BAR: usize = 12;
    let filled = (c.done.min(total) * BAR).checked_div(total).unwrap_or(BAR);
    let mut bar = "=".repeat(filled);
    if filled < BAR {
        bar.push('>');
        bar.push_str(&" ".repeat(BAR - filled - 1));
    }
    let secs = elapsed.as_secs();
    let mut line = format!(
        "[{bar}] {}/{} {noun} · {} items · {} reposts folded · {} errors · {}:{:02}",
        c.done,
        total,
        thousands(c.items),
        thousands(c.reposts),
        thousands(c.errors),
        secs / 60,
        secs % 60
    );
    let max = width.saturating_sub(1);
    if line.chars().count() > max {
        line = line.chars().take(max).collect();
    }
    line
}

/// 1234567 → "1,234,567".
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

/// The log writer for tracing: writes to stderr, keeping the progress line (when one is
/// shown) below the log lines.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogWriter;

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogWriter;
    fn make_writer(&'a self) -> LogWriter {
        LogWriter
    }
}

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let screen = SCREEN.lock().unwrap_or_else(|p| p.into_inner());
        let mut err = std::io::stderr().lock();
        match screen.as_deref() {
            None => err.write_all(buf)?,
            Some(line) => {
                err.write_all(CLEAR.as_bytes())?;
                err.write_all(buf)?;
                err.write_all(line.as_bytes())?;
            }
        }
        err.flush()?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_shows_counts_and_fits_the_terminal() {
        let c = Counts { done: 5, items: 12345, reposts: 7, errors: 1 };
        let line = render(&c, 10, "feeds", Duration::from_secs(75), 200);
        assert_eq!(line, "[======>     ] 5/10 feeds · 12,345 items · 7 reposts folded · 1 errors · 1:15");
        assert_eq!(render(&c, 10, "feeds", Duration::ZERO, 40).chars().count(), 39);
        let full = render(&Counts { done: 3, ..Counts::default() }, 3, "feeds", Duration::ZERO, 200);
        assert!(full.starts_with("[============] 3/3"), "{full}");
        assert!(render(&Counts::default(), 0, "feeds", Duration::ZERO, 200).starts_with("[============] 0/0"));
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
    }
}
