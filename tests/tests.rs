//! End-to-end tests of the `newsdedup` binary: each runs the real executable against a
//! database in a temporary folder, with feeds served by a local HTTP server on 127.0.0.1.

// Shared helpers: temporary folders, running the binary, the local HTTP server, SQL checks.
mod util;

// Arguments, config files and databases that are wrong: exit codes and one-line reasons.
mod cli;

// The whole pipeline over HTTP: the repost example, reruns, updates in place, broken feeds.
mod pipeline;

// Feed lists, local ingestion, and the read commands (stories, show, search, stats, export).
mod commands;

// Deduplication end to end: edited reposts, shared footers, canonical items, re-runs,
// algorithm upgrades, and `show` / `explain`.
mod dedup;

// Boilerplate removal end to end: templates learned across runs, reprocess, per-feed rules.
mod normalise;

// Running unattended: the daemon's schedule, signals, locking, the status endpoint.
mod daemon;

// Crash safety: runs killed at several points, rerun, compared with an uninterrupted run
// (ignored by default: `make test-slow`).
mod crash;

// Inspecting the database: docs/schema.md and its queries, search, show/stats JSON, exported
// Atom, JSON Feed and HTML.
mod inspect;

// Fetching against a misbehaving local server: validators, schedules, backoff, Retry-After,
// 410 Gone, redirects, per-host limits, and a run over good and hostile feeds together.
mod fetching;
