//! The `newsdedup` binary: the command line, configuration, and the wiring of the stages.
//!
//! This is glue, not a library: parsing arguments and config (`cli`, `config`), running the
//! pipeline that connects the fetcher, normaliser, deduplicator and store (`pipeline`,
//! `writer`, `run`), and printing what the store knows (`inspect`). The work itself lives in
//! the crates under `crates/`.

mod cli;
mod config;
mod explain;
mod feedlist;
mod inspect;
mod lock;
mod logging;
mod metrics;
mod output;
mod pipeline;
mod politeness;
mod progress;
mod reprocess;
mod run;
mod schedule;
mod scheduler;
mod server;
mod status;
mod storyflow;
mod templates;
mod writer;

use anyhow::{Context, Result};
use clap::Parser;
use cli::{Cli, Command, FeedsCommand};
use config::Config;
use newsdedup_store::{Store, StoryFilter};
use std::process::ExitCode;

/// A usage or configuration error: exit code 2, like a bad argument.
#[derive(Debug)]
struct UsageError;

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("usage error")
    }
}

/// Exit codes (documented in the README).
mod exit {
    pub const OK: u8 = 0;
    /// A failure at run time: the database is unusable, or no feed could be fetched at all.
    pub const FAILURE: u8 = 1;
    /// Bad arguments or configuration.
    pub const USAGE: u8 = 2;
    /// Another newsdedup holds the database's writer lock (EX_TEMPFAIL: try again later).
    pub const LOCKED: u8 = 75;
    /// Stopped by SIGTERM/SIGINT before the work was done (128 + SIGINT, as shells report it).
    pub const INTERRUPTED: u8 = 130;
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { exit::USAGE } else { exit::OK });
        }
    };
    if matches!(cli.command, Command::Daemon(_)) {
        limit_malloc_arenas();
    }
    if let Err(e) = logging::init(cli.verbose, cli.quiet, cli.log_format) {
        eprintln!("newsdedup: {e:#}");
        return ExitCode::from(exit::USAGE);
    }
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            if let Some(locked) = e.downcast_ref::<lock::Locked>() {
                eprintln!("newsdedup: {locked}");
                return ExitCode::from(exit::LOCKED);
            }
            let usage = e.downcast_ref::<UsageError>().is_some();
            // One line: the error and its causes, without the internal marker.
            let mut message = String::new();
            for cause in e.chain().map(|c| c.to_string()) {
                if cause == "usage error" || message.contains(&cause) {
                    continue;
                }
                if !message.is_empty() {
                    message.push_str(": ");
                }
                message.push_str(&cause);
            }
            eprintln!("newsdedup: {}", message.replace('\n', " "));
            ExitCode::from(if usage { exit::USAGE } else { exit::FAILURE })
        }
    }
}

/// glibc's malloc gives busy threads arenas of their own (up to eight per core) and keeps
/// what is freed in each: in a process that runs for months, resident memory creeps up while
/// the live heap stays flat. Two arenas keep it flat (see the soak benchmark). glibc reads
/// the limit from the environment before `main`, so the daemon re-executes itself once with
/// `MALLOC_ARENA_MAX=2`, same pid and arguments, unless the variable is already set (then the
/// operator's choice stands). If the exec fails, the daemon runs on as it is.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use std::os::unix::process::CommandExt;
        if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
            return;
        }
        let Ok(exe) = std::env::current_exe() else { return };
        let mut args = std::env::args_os();
        let mut command = std::process::Command::new(exe);
        if let Some(argv0) = args.next() {
            command.arg0(argv0);
        }
        // Returns only when the exec failed.
        let _ = command.args(args).env("MALLOC_ARENA_MAX", "2").exec();
    }
}

fn load_config(cli: &Cli) -> Result<Config> {
    match &cli.config {
        Some(path) => Config::load(path).context(UsageError),
        None => Ok(Config::defaults()),
    }
}

fn open_store(cli: &Cli) -> Result<Store> {
    Store::open(&cli.db).context("the database is unusable")
}

fn open_store_read_only(cli: &Cli) -> Result<Store> {
    if !cli.db.exists() {
        anyhow::bail!(
            "no database at {} (create one with `newsdedup feeds add` or `newsdedup ingest`)",
            cli.db.display()
        );
    }
    // Open read-write so that a database from an older version is migrated before reading;
    // reads never block the daemon thanks to WAL.
    open_store(cli)
}

/// The runtime. Its blocking pool (the writer, parsing, file reads, status pages) is kept
/// small and its threads alive: with glibc's malloc each new thread may take another arena,
/// and a daemon that keeps starting and ending threads keeps freed memory in ever more places
/// instead of returning it (the soak benchmark saw resident memory creep up about 2.5 times
/// faster with tokio's defaults, while the live heap stayed flat).
fn runtime() -> Result<tokio::runtime::Runtime> {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(cores + 6)
        .thread_keep_alive(std::time::Duration::from_secs(3600))
        .build()
        .context("cannot start the async runtime")
}

/// Runs `work` on a fresh runtime, then shuts it down without waiting for stragglers (a parse
/// abandoned at the stop deadline): everything that matters was committed or not at all.
fn block_on<T>(work: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    let rt = runtime()?;
    let result = rt.block_on(work);
    rt.shutdown_timeout(std::time::Duration::from_secs(1));
    result
}

/// Takes the database's writer lock for `command` (see `lock`).
fn lock_db(cli: &Cli, command: &str, wait: bool) -> Result<lock::WriterLock> {
    lock::acquire(&cli.db, command, wait)
}

fn run(cli: Cli) -> Result<u8> {
    let config = load_config(&cli)?;
    let mut stdout = std::io::stdout().lock();
    match &cli.command {
        Command::Feeds(FeedsCommand::Add { feeds }) => {
            let store = open_store(&cli)?;
            let cwd = std::env::current_dir()?;
            let now = chrono::Utc::now();
            for address in feeds {
                newsdedup_fetcher::Source::parse(address).context(UsageError)?;
                let address = feedlist::normalise_address(address, &cwd);
                let (id, new) = store.add_feed(&address, now)?;
                println!("{} feed {id}: {address}", if new { "added" } else { "already present:" });
            }
            Ok(exit::OK)
        }
        Command::Feeds(FeedsCommand::Import { file }) => {
            let addresses = feedlist::read_feed_list(file).context(UsageError)?;
            let store = open_store(&cli)?;
            let now = chrono::Utc::now();
            let (mut added, mut present, mut refused) = (0, 0, 0);
            for address in &addresses {
                if let Err(e) = politeness::check_imported(address, &config.fetch) {
                    eprintln!("newsdedup: skipped {address}: {e}");
                    refused += 1;
                    continue;
                }
                if store.add_feed(address, now)?.1 {
                    added += 1;
                } else {
                    present += 1;
                }
            }
            println!("imported {}: {added} added, {present} already present, {refused} refused", file.display());
            Ok(exit::OK)
        }
        Command::Feeds(FeedsCommand::Enable { feeds }) => {
            let store = open_store(&cli)?;
            let cwd = std::env::current_dir()?;
            for address in feeds {
                let address = feedlist::normalise_address(address, &cwd);
                if !store.enable_feed(&address)? {
                    return Err(anyhow::anyhow!("no feed {address} (see `newsdedup feeds list`)").context(UsageError));
                }
                println!("enabled: {address}");
            }
            Ok(exit::OK)
        }
        Command::Feeds(FeedsCommand::List(flag)) => {
            let store = open_store_read_only(&cli)?;
            inspect::feeds_list(&store, flag.json, &mut stdout)?;
            Ok(exit::OK)
        }
        Command::Run(args) => {
            let _lock = lock_db(&cli, "run --once", args.lock.wait)?;
            let store = open_store(&cli)?;
            let (summary, interrupted) = block_on(async {
                let signals = run::signals(false)?;
                let summary =
                    run::run_once(store, &config, args.all, signals.shutdown.clone(), progress::wanted(cli.quiet))
                        .await?;
                let interrupted = *signals.shutdown.borrow();
                Ok((summary, interrupted))
            })?;
            println!("{summary}");
            if interrupted {
                eprintln!("newsdedup: stopped by a signal; the feeds not fetched are still due");
                return Ok(exit::INTERRUPTED);
            }
            if summary.feeds > 0 && summary.feeds_failed == summary.feeds {
                eprintln!("newsdedup: no feed could be fetched");
                return Ok(exit::FAILURE);
            }
            if args.fail_on_feed_errors && summary.feeds_failed > 0 {
                eprintln!(
                    "newsdedup: {} of {} feeds failed (see `newsdedup feeds list`)",
                    summary.feeds_failed, summary.feeds
                );
                return Ok(exit::FAILURE);
            }
            Ok(exit::OK)
        }
        Command::Daemon(args) => {
            let _lock = lock_db(&cli, "daemon", args.lock.wait)?;
            let store = open_store(&cli)?;
            let summary = block_on(async {
                let listener = match &args.listen {
                    Some(addr) => Some(server::bind(addr).await?),
                    None => None,
                };
                let signals = run::signals(true)?;
                run::daemon(store, &config, cli.config.clone(), signals, listener).await
            })?;
            println!("{summary}");
            Ok(exit::OK)
        }
        Command::Ingest(args) => {
            let _lock = lock_db(&cli, "ingest", args.lock.wait)?;
            let store = open_store(&cli)?;
            let (summary, interrupted) = block_on(async {
                let signals = run::signals(false)?;
                let summary = run::ingest(
                    store,
                    &config,
                    &args.paths,
                    args.feed.as_deref(),
                    signals.shutdown.clone(),
                    progress::wanted(cli.quiet),
                )
                .await?;
                let interrupted = *signals.shutdown.borrow();
                Ok((summary, interrupted))
            })?;
            println!("{summary}");
            if interrupted {
                eprintln!("newsdedup: stopped by a signal before every document was processed");
                return Ok(exit::INTERRUPTED);
            }
            Ok(exit::OK)
        }
        Command::Stories(args) => {
            let store = open_store_read_only(&cli)?;
            let since = args
                .since
                .as_deref()
                .map(|s| inspect::parse_since(s, chrono::Utc::now()))
                .transpose()
                .context(UsageError)?;
            let feed = args.feed.as_deref().map(|f| {
                let cwd = std::env::current_dir().unwrap_or_default();
                feedlist::normalise_address(f, &cwd)
            });
            let filter =
                StoryFilter { since, feed, min_items: args.min_items, limit: Some(args.limit), ..Default::default() };
            inspect::stories(&store, &filter, args.json.json, &mut stdout)?;
            Ok(exit::OK)
        }
        Command::Show(args) => {
            let store = open_store_read_only(&cli)?;
            inspect::show(&store, args.story_id, args.json.json, &mut stdout)?;
            Ok(exit::OK)
        }
        Command::Explain(args) => {
            let store = open_store_read_only(&cli)?;
            explain::explain(&store, args.item_id, &config.dedup.to_dedup_config(), args.json.json, &mut stdout)?;
            Ok(exit::OK)
        }
        Command::Search(args) => {
            let store = open_store_read_only(&cli)?;
            inspect::search(&store, &args.query.join(" "), args.limit, args.json.json, &mut stdout)?;
            Ok(exit::OK)
        }
        Command::Stats(flag) => {
            let store = open_store_read_only(&cli)?;
            inspect::stats(&store, flag.json, &mut stdout)?;
            Ok(exit::OK)
        }
        Command::Prune(args) => {
            let age = config::HumanDuration::parse(&args.older_than)
                .map_err(|e| anyhow::anyhow!("--older-than: {e}"))
                .context(UsageError)?;
            let _lock = lock_db(&cli, "prune", args.lock.wait)?;
            let mut store = open_store_read_only(&cli)?;
            let now = chrono::Utc::now();
            let cutoff = chrono::Duration::from_std(age.0).ok().and_then(|a| now.checked_sub_signed(a));
            let cutoff = cutoff.unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC);
            let pruned = store.prune(cutoff, now, args.dry_run)?;
            println!(
                "{}: {} stories and their {} items deleted (their keys kept so they are not stored again), \
                 raw content of {} older items cleared{}",
                if args.dry_run { "would prune" } else { "pruned" },
                pruned.stories,
                pruned.items,
                pruned.raw_cleared,
                if args.dry_run { "" } else { "; `newsdedup vacuum` gives the space back to the filesystem" }
            );
            Ok(exit::OK)
        }
        Command::Vacuum(args) => {
            let _lock = lock_db(&cli, "vacuum", args.lock.wait)?;
            let mut store = open_store_read_only(&cli)?;
            let before = store.health_figures()?;
            store.vacuum().context("vacuum failed (it needs as much free disk as the database's size)")?;
            let after = store.health_figures()?;
            println!(
                "vacuumed {}: {} bytes before (+{} in the WAL), {} after",
                cli.db.display(),
                before.database_bytes,
                before.wal_bytes,
                after.database_bytes
            );
            Ok(exit::OK)
        }
        Command::Reprocess(args) => {
            let _lock = lock_db(&cli, "reprocess", args.lock.wait)?;
            let store = open_store(&cli)?;
            let feed = match &args.feed {
                Some(f) => {
                    let cwd = std::env::current_dir().unwrap_or_default();
                    let address = feedlist::normalise_address(f, &cwd);
                    let row = store.feed_by_url(&address)?;
                    Some(
                        row.with_context(|| format!("no feed {address} (see `newsdedup feeds list`)"))
                            .context(UsageError)?,
                    )
                }
                None => None,
            };
            let report = reprocess::run(store, &config, feed)?;
            if args.json.json {
                serde_json::to_writer(&mut stdout, &report)?;
                use std::io::Write;
                writeln!(stdout)?;
            } else {
                println!("{report}");
            }
            Ok(exit::OK)
        }
        Command::Export(args) => {
            let feed_query = inspect::export_feed_query(args).context(UsageError)?;
            let store = open_store_read_only(&cli)?;
            drop(stdout);
            inspect::export(&store, args.format, feed_query.as_ref(), args.output.as_deref())?;
            Ok(exit::OK)
        }
    }
}
