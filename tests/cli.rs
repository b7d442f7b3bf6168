//! Wrong arguments, config files and databases: the right exit code and a one-line reason.

use crate::util::Env;

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn bad_arguments_exit_2() {
    let env = Env::new();
    let out = env.run(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("frobnicate"));
    let out = env.run(&["run"]);
    assert_eq!(out.status.code(), Some(2), "run without --once is a usage error");
    let out = env.run(&["export", "--format", "pdf"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn an_unreadable_config_exits_2_with_one_line() {
    let env = Env::new();
    let missing = env.path("missing.toml");
    let out = env.run(&["--config", missing.to_str().unwrap(), "stats"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("missing.toml"), "{err}");
}

#[test]
fn an_invalid_config_names_the_problem() {
    let env = Env::new();
    let cfg = env.write("bad.toml", "[fetch]\nconcurrency = 4\ntimout = \"5s\"\n");
    let out = env.run(&["--config", cfg.to_str().unwrap(), "feeds", "list"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("timout"), "{err}");
}

#[test]
fn a_file_that_is_not_a_database_exits_1_and_is_left_alone() {
    let env = Env::new();
    std::fs::write(env.db(), "these are my notes, not a database ".repeat(40)).unwrap();
    let out = env.run(&["feeds", "add", "https://example.org/feed"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("news.db"), "{err}");
    assert!(std::fs::read_to_string(env.db()).unwrap().starts_with("these are my notes"));
}

#[test]
fn unsupported_feed_addresses_are_refused() {
    let env = Env::new();
    let out = env.run(&["feeds", "add", "ftp://example.org/feed.xml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("only http, https and local paths"));
}

#[test]
fn the_database_comes_from_the_environment_when_no_flag_is_given() {
    let env = Env::new();
    let db = env.path("from-env.db");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_newsdedup"))
        .args(["feeds", "add", "https://example.org/feed"])
        .env("NEWSDEDUP_DB", &db)
        .current_dir(env.dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(db.exists());
    assert!(!env.path("newsdedup.db").exists());
}
