//! The command line: what people and scripts type. See DESIGN.md for the contract.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "newsdedup",
    version,
    about = "Fetch news feeds, strip repost boilerplate, fold near-duplicate reposts into stories, record it all in SQLite",
    propagate_version = true
)]
pub struct Cli {
    /// The SQLite database file.
    #[arg(long, global = true, env = "NEWSDEDUP_DB", default_value = "newsdedup.db", value_name = "PATH")]
    pub db: PathBuf,

    /// A TOML config file merged over the defaults (see config/default.toml).
    #[arg(long, global = true, env = "NEWSDEDUP_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// More log output (-v: debug, -vv: trace). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,

    /// Less log output (-q: warnings and errors only, -qq: errors only).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub quiet: u8,

    /// Log line format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Add, import and list feeds.
    #[command(subcommand)]
    Feeds(FeedsCommand),
    /// Fetch every due feed once, process, and exit (for cron).
    Run(RunArgs),
    /// Poll feeds on their schedule until SIGTERM or SIGINT, then finish and exit 0.
    Daemon(DaemonArgs),
    /// Process feed documents from files or stdin, without HTTP.
    Ingest(IngestArgs),
    /// List stories, most recently seen first.
    Stories(StoriesArgs),
    /// Show one story: its canonical text and every item, with removed boilerplate.
    Show(ShowArgs),
    /// Say why an item is in its story (or why the nearest other story was not it).
    Explain(ExplainArgs),
    /// Find stories whose title or text contains every word of QUERY, best match first.
    Search(SearchArgs),
    /// Totals and per-feed figures.
    Stats(JsonFlag),
    /// Write stories and items out for other programs, or the deduplicated feed.
    Export(ExportArgs),
    /// Delete old stories with their items (keeping tombstones so they are not stored again)
    /// and clear the raw content of old items.
    Prune(PruneArgs),
    /// Give the space freed by `prune` back to the filesystem (rewrites the database file).
    Vacuum(VacuumArgs),
    /// Clean stored items again from their raw content and re-decide their stories (after
    /// rules or settings changed), in one transaction, without fetching.
    Reprocess(ReprocessArgs),
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Prune stories last seen longer ago than this, and the raw content of items first
    /// fetched longer ago than this: an age like "90d" or "12h".
    #[arg(long, value_name = "AGE")]
    pub older_than: String,
    /// Only say what would be pruned.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub lock: LockArgs,
}

#[derive(Debug, Args)]
pub struct VacuumArgs {
    #[command(flatten)]
    pub lock: LockArgs,
}

#[derive(Debug, Subcommand)]
pub enum FeedsCommand {
    /// Add feeds by URL (http, https) or local path.
    Add {
        #[arg(required = true, value_name = "URL_OR_PATH")]
        feeds: Vec<String>,
    },
    /// Add every feed of an OPML file, or of a text file with one URL per line.
    Import {
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// List feeds with their status.
    List(JsonFlag),
    /// Poll feeds again that their server declared gone (HTTP 410), and clear their errors.
    Enable {
        #[arg(required = true, value_name = "URL_OR_PATH")]
        feeds: Vec<String>,
    },
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Fetch once and exit (the only mode of `run`; use `daemon` to keep polling).
    #[arg(long, required = true)]
    pub once: bool,
    /// Fetch every feed, due or not.
    #[arg(long)]
    pub all: bool,
    /// Make any feed failure exit 1 (for cron mail), not only a run where nothing could be fetched.
    #[arg(long)]
    pub fail_on_feed_errors: bool,
    #[command(flatten)]
    pub lock: LockArgs,
}

/// How a command that writes feed results waits for another one using the database.
#[derive(Debug, Args)]
pub struct LockArgs {
    /// When another newsdedup is writing to the database, wait for it instead of exiting with
    /// code 75.
    #[arg(long)]
    pub wait: bool,
}

#[derive(Debug, Args)]
pub struct DaemonArgs {
    /// Serve /healthz and /metrics (and the daemon's other pages) on this address, e.g.
    /// 127.0.0.1:9184.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    #[command(flatten)]
    pub lock: LockArgs,
}

#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Feed documents to process; `-` reads one from stdin.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<String>,
    /// Store the documents as snapshots of this feed (URL or path) instead of a feed per file.
    #[arg(long, value_name = "URL_OR_PATH")]
    pub feed: Option<String>,
    #[command(flatten)]
    pub lock: LockArgs,
}

#[derive(Debug, Args)]
pub struct ReprocessArgs {
    /// Only this feed's items (URL or path, as listed by `feeds list`).
    #[arg(long, value_name = "URL_OR_PATH")]
    pub feed: Option<String>,
    #[command(flatten)]
    pub json: JsonFlag,
    #[command(flatten)]
    pub lock: LockArgs,
}

#[derive(Debug, Args)]
pub struct JsonFlag {
    /// Print JSON for scripts.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct StoriesArgs {
    /// Only stories seen since this time: RFC 3339 ("2026-01-31T00:00:00Z") or an age ("24h", "7d").
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only stories with an item from this feed (URL or path, as listed by `feeds list`).
    #[arg(long, value_name = "URL_OR_PATH")]
    pub feed: Option<String>,
    /// Only stories with at least this many items.
    #[arg(long, value_name = "N")]
    pub min_items: Option<i64>,
    /// At most this many stories.
    #[arg(long, default_value_t = 50)]
    pub limit: i64,
    #[command(flatten)]
    pub json: JsonFlag,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    pub story_id: i64,
    #[command(flatten)]
    pub json: JsonFlag,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    pub item_id: i64,
    #[command(flatten)]
    pub json: JsonFlag,
}

#[derive(Debug, Args)]
pub struct SearchArgs {
    /// Words that must all appear (case and accents do not matter); end a word with * to
    /// match its beginning.
    #[arg(required = true)]
    pub query: Vec<String>,
    #[arg(long, default_value_t = 20)]
    pub limit: i64,
    #[command(flatten)]
    pub json: JsonFlag,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// One JSON object per story, with its items.
    Jsonl,
    /// One row per item, with its story.
    Csv,
    /// The deduplicated feed as Atom 1.0: one entry per story, with its reposts.
    Atom,
    /// The deduplicated feed as JSON Feed 1.1: one item per story, with its reposts.
    JsonFeed,
    /// The page the daemon serves at /, for static hosting: the latest stories, each
    /// expandable to its reposts and removed boilerplate.
    Html,
}

impl ExportFormat {
    /// The formats that show a selection of stories (and take the story filters).
    pub fn is_feed(self) -> bool {
        matches!(self, ExportFormat::Atom | ExportFormat::JsonFeed | ExportFormat::Html)
    }
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[arg(long, value_enum)]
    pub format: ExportFormat,
    /// Write here instead of stdout (the file is replaced whole, never seen half-written).
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// atom, json-feed, html: stories with an item from this feed (URL or path, as listed by `feeds list`).
    #[arg(long, value_name = "URL_OR_PATH")]
    pub feed: Option<String>,
    /// atom, json-feed, html: stories with at least this many items.
    #[arg(long, value_name = "N")]
    pub min_items: Option<i64>,
    /// atom, json-feed, html: stories whose title or text contains these words.
    #[arg(long, value_name = "WORDS")]
    pub query: Option<String>,
    /// atom, json-feed, html: at most this many stories, most recently seen first [default: 100].
    #[arg(long, value_name = "N")]
    pub limit: Option<i64>,
    /// atom, json-feed: the address the file will be published at (Atom rel="self", JSON
    /// Feed feed_url).
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
}
