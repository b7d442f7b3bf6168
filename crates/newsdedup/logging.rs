//! Log output on stderr: text for people, JSON lines for log collectors.
//!
//! The level comes from `-v`/`-q` (info by default); `RUST_LOG`, when set, overrides it with
//! tracing-subscriber's filter syntax (e.g. `RUST_LOG=newsdedup=debug,reqwest=info`).

use crate::cli::LogFormat;
use anyhow::Result;
use tracing_subscriber::EnvFilter;

pub fn init(verbose: u8, quiet: u8, format: LogFormat) -> Result<()> {
    let level = match (verbose, quiet) {
        (0, 0) => "info",
        (1, _) => "debug",
        (v, _) if v >= 2 => "trace",
        (_, 1) => "warn",
        _ => "error",
    };
    // Our crates at the chosen level; dependencies one step quieter unless asked for.
    let default = format!(
        "{dep},newsdedup={level},newsdedup_fetcher={level},newsdedup_normaliser={level},\
         newsdedup_deduplicator={level},newsdedup_store={level}",
        dep = if verbose >= 2 { "debug" } else { "warn" }
    );
    let filter = match std::env::var("RUST_LOG") {
        Ok(s) if !s.trim().is_empty() => EnvFilter::try_new(s)?,
        _ => EnvFilter::try_new(default)?,
    };
    // Colours only for a person at a terminal, never in files, pipes or the journal (nor when
    // NO_COLOR asks for none).
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr()) && std::env::var_os("NO_COLOR").is_none();
    let builder =
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(crate::progress::LogWriter).with_ansi(ansi);
    match format {
        LogFormat::Text => builder.with_target(false).try_init(),
        LogFormat::Json => builder.json().with_current_span(true).with_span_list(false).try_init(),
    }
    .map_err(|e| anyhow::anyhow!("cannot set up logging: {e}"))
}
