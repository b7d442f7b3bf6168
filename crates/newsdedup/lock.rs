//! The writer lock: an exclusive lock on a file beside the database (`news.db.lock`) held by
//! every command that stores feed results (`run --once`, `daemon`, `ingest`, `prune`,
//! `vacuum`), so that two of them never write to one database at once.
//!
//! SQLite alone would keep the file consistent, but the writer keeps the deduplicator's index
//! in memory: two writers would each miss the other's items and fold reposts wrongly, and two
//! cron runs would fetch the same feeds twice. Commands that only read (`stories`, `stats`, …)
//! and `feeds add` (which the daemon picks up) do not take the lock.
//!
//! The lock is an OS file lock (`flock` on Unix), released by the kernel when the process
//! ends however it ends, so a crashed or killed process never leaves a stale lock behind. The
//! file itself stays; it holds the pid and command of the current holder, for the message
//! others get.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// Another process holds the lock (exit code 75, EX_TEMPFAIL).
#[derive(Debug)]
pub struct Locked {
    pub db: PathBuf,
    /// The holder's note: pid, command, since when.
    pub holder: String,
}

impl std::fmt::Display for Locked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} is in use by another newsdedup ({}); try again later, or pass --wait to wait for it",
            self.db.display(),
            self.holder
        )
    }
}

impl std::error::Error for Locked {}

/// The held lock; released when dropped (or when the process ends).
#[derive(Debug)]
pub struct WriterLock {
    _file: File,
}

/// The lock file of a database.
pub fn lock_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// Takes the writer lock of `db` for `command`. Without `wait`, fails at once with [`Locked`]
/// when another process holds it; with `wait`, blocks until it is free.
pub fn acquire(db: &Path, command: &str, wait: bool) -> anyhow::Result<WriterLock> {
    let path = lock_path(db);
    let io = |source: std::io::Error| anyhow::Error::new(source).context(format!("cannot lock {}", path.display()));
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    // Not truncated on open: the holder's note must survive until we hold the lock.
    let mut file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(io)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) if wait => {
            tracing::info!(holder = %holder(&mut file), lock = %path.display(), "waiting for the database lock");
            file.lock().map_err(io)?;
        }
        Err(TryLockError::WouldBlock) => {
            return Err(Locked { db: db.to_path_buf(), holder: holder(&mut file) }.into());
        }
        Err(TryLockError::Error(e)) => return Err(io(e)),
    }
    let note =
        format!("pid {}, {command} since {}\n", std::process::id(), newsdedup_store::timestamp(chrono::Utc::now()));
    file.set_len(0).and_then(|()| file.rewind()).and_then(|()| file.write_all(note.as_bytes())).map_err(io)?;
    Ok(WriterLock { _file: file })
}

/// The holder's note, as written by [`acquire`].
fn holder(file: &mut File) -> String {
    let mut note = String::new();
    let _ = file.rewind().and_then(|()| file.take(200).read_to_string(&mut note));
    match note.trim() {
        "" => "pid unknown".to_string(),
        n => n.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("sub/news.db");
        let first = acquire(&db, "run --once", false).unwrap();
        let err = acquire(&db, "daemon", false).unwrap_err();
        let Some(Locked { holder, .. }) = err.downcast_ref::<Locked>() else { panic!("{err}") };
        assert!(holder.contains(&format!("pid {}", std::process::id())), "{holder}");
        assert!(holder.contains("run --once"), "{holder}");
        assert!(err.to_string().contains("--wait"));
        drop(first);
        let _second = acquire(&db, "daemon", false).unwrap();
        assert!(std::fs::read_to_string(lock_path(&db)).unwrap().contains("daemon since"));
    }

    #[test]
    fn waiting_gets_the_lock_when_it_is_released() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("news.db");
        let first = acquire(&db, "run --once", false).unwrap();
        let waiter = {
            let db = db.clone();
            std::thread::spawn(move || acquire(&db, "run --once", true).map(|_| ()))
        };
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert!(!waiter.is_finished());
        drop(first);
        waiter.join().unwrap().unwrap();
    }
}
