//! Nonces: unique per signer, or the node refuses the envelope as a replay.
//!
//! Each identity's last nonce is kept in `nonces/<id>` beside the client config, and a new
//! one is `max(last + 1, now in microseconds)`: the counter keeps nonces unique on one
//! machine even if the clock steps back, and the clock keeps them unique when the same
//! identity signs from two machines (or after the nonce file was lost). The new nonce is
//! written (atomically, by rename) before the transaction is submitted, so a crash between
//! the two wastes a nonce but never reuses one. The read-and-advance holds an exclusive
//! lock on `nonces/.<id>.lock`, so two commands signing as one identity at once (two
//! terminals, a script running in parallel) never draw the same nonce.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone)]
pub struct NonceStore {
    dir: PathBuf,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot keep the nonce of '{identity}' in {path}: {source}")]
pub struct NonceError {
    pub identity: String,
    pub path: PathBuf,
    pub source: std::io::Error,
}

pub fn now_micros() -> u64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    u64::try_from(since.as_micros()).unwrap_or(u64::MAX)
}

impl NonceStore {
    pub fn new(dir: &Path) -> NonceStore {
        NonceStore { dir: dir.to_path_buf() }
    }

    /// The next nonce of `identity`, persisted before it is returned.
    pub fn next(&self, identity: &str, now_micros: u64) -> Result<u64, NonceError> {
        self.reserve(identity, now_micros, 1).map(|nonces| nonces.start)
    }

    /// `count` consecutive nonces of `identity` (at least one), persisted before they are
    /// returned: what `fairshare bench` signs many transactions with, drawing from the
    /// same counter as every other command, so none of them is ever reused.
    pub fn reserve(&self, identity: &str, now_micros: u64, count: u64) -> Result<std::ops::Range<u64>, NonceError> {
        let count = count.max(1);
        let path = self.dir.join(identity);
        let failed = |source| NonceError { identity: identity.to_string(), path: path.clone(), source };
        std::fs::create_dir_all(&self.dir).map_err(failed)?;
        // Held until the new nonce is in place; released when `lock` is dropped (or the
        // process dies).
        let lock = std::fs::File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.dir.join(format!(".{identity}.lock")))
            .map_err(failed)?;
        if let Err(error) = lock.lock() {
            // Some network file systems cannot lock: sign on, unguarded, rather than not at all.
            if !(error.kind() == std::io::ErrorKind::Unsupported || error.raw_os_error() == Some(libc::ENOLCK)) {
                return Err(failed(error));
            }
            tracing::warn!(path = %self.dir.display(), "cannot lock nonce files here ({error}); do not sign as '{identity}' from two commands at once");
        }
        let last: u64 = match std::fs::read_to_string(&path) {
            Ok(text) => text.trim().parse().unwrap_or(0),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => 0,
            Err(error) => return Err(failed(error)),
        };
        let nonce = last.saturating_add(1).max(now_micros);
        let end = nonce.saturating_add(count);
        let temporary = self.dir.join(format!(".{identity}.{}", std::process::id()));
        std::fs::write(&temporary, format!("{}\n", end - 1)).map_err(failed)?;
        std::fs::rename(&temporary, &path).map_err(failed)?;
        drop(lock);
        Ok(nonce..end)
    }
}

/// Reading your own writes (DOMAIN.md): the largest log size this client was told about
/// (a verdict's leaf index + 1), per ledger, in `nonces/.seen` beside the nonce files.
/// Queries ask for a state at least this new (`QueryRequest.min_size`), so an answer never
/// comes from before a write this client saw acknowledged.
#[derive(Debug, Clone)]
pub struct SeenStore {
    dir: PathBuf,
}

impl SeenStore {
    pub fn new(dir: &Path) -> SeenStore {
        SeenStore { dir: dir.to_path_buf() }
    }

    fn path(&self) -> PathBuf {
        self.dir.join(".seen")
    }

    /// The size seen on `ledger_id`; 0 when none (or only another ledger's) was recorded.
    pub fn seen(&self, ledger_id: &str) -> u64 {
        let text = std::fs::read_to_string(self.path()).unwrap_or_default();
        let mut words = text.split_whitespace();
        match (words.next(), words.next().and_then(|size| size.parse().ok())) {
            (Some(ledger), Some(size)) if ledger == ledger_id => size,
            _ => 0,
        }
    }

    /// Records that `ledger_id` holds at least `size` leaves (never lowers what is kept).
    pub fn record(&self, ledger_id: &str, size: u64) -> Result<(), NonceError> {
        let failed = |source| NonceError { identity: ".seen".into(), path: self.path(), source };
        std::fs::create_dir_all(&self.dir).map_err(failed)?;
        let lock = std::fs::File::options().create(true).truncate(false).write(true).open(self.dir.join(".seen.lock")).map_err(failed)?;
        // Without a lock (some network file systems), a race may keep the smaller of two
        // sizes: a later query then waits for less, never for a write that did not happen.
        let _ = lock.lock();
        if self.seen(ledger_id) >= size {
            return Ok(());
        }
        let temporary = self.dir.join(format!(".seen.{}", std::process::id()));
        std::fs::write(&temporary, format!("{ledger_id} {size}\n")).map_err(failed)?;
        std::fs::rename(&temporary, self.path()).map_err(failed)?;
        drop(lock);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seen_size_only_grows_and_belongs_to_one_ledger() {
        let dir = tempfile::tempdir().unwrap();
        let seen = SeenStore::new(&dir.path().join("nonces"));
        assert_eq!(seen.seen("iza"), 0, "nothing seen yet");
        seen.record("iza", 40).unwrap();
        seen.record("iza", 12).unwrap();
        assert_eq!(seen.seen("iza"), 40, "never lowered");
        assert_eq!(seen.seen("other"), 0, "another ledger (a new devnet in the same dir) starts from nothing");
        seen.record("other", 3).unwrap();
        assert_eq!((seen.seen("other"), seen.seen("iza")), (3, 0));
    }

    #[test]
    fn nonces_only_grow_even_when_the_clock_steps_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = NonceStore::new(&dir.path().join("nonces"));
        assert_eq!(store.next("zk", 1_000).unwrap(), 1_000);
        assert_eq!(store.next("zk", 1_000).unwrap(), 1_001);
        assert_eq!(store.next("zk", 10).unwrap(), 1_002, "a clock that stepped back does not reuse nonces");
        assert_eq!(store.next("zk", 5_000).unwrap(), 5_000);
        assert_eq!(store.next("vgz", 7).unwrap(), 7, "each identity has its own counter");
        assert_eq!(std::fs::read_to_string(dir.path().join("nonces/zk")).unwrap().trim(), "5000");
    }

    #[test]
    fn a_reserved_block_is_never_drawn_again() {
        let dir = tempfile::tempdir().unwrap();
        let store = NonceStore::new(&dir.path().join("nonces"));
        assert_eq!(store.reserve("zk", 1_000, 500).unwrap(), 1_000..1_500);
        assert_eq!(store.next("zk", 1_000).unwrap(), 1_500, "the next draw follows the block");
        assert_eq!(store.reserve("zk", 0, 0).unwrap(), 1_501..1_502, "a block holds at least one nonce");
    }

    #[test]
    fn signers_racing_for_one_identity_never_draw_the_same_nonce() {
        let dir = tempfile::tempdir().unwrap();
        let nonces_dir = dir.path().join("nonces");
        // A clock stuck in the past: only the counter keeps these apart, as in a burst.
        let drawn: Vec<u64> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..8)
                .map(|_| {
                    let nonces_dir = &nonces_dir;
                    // One store per thread: separate lock file handles, as separate processes have.
                    scope.spawn(move || (0..25).map(|_| NonceStore::new(nonces_dir).next("zk", 1).unwrap()).collect::<Vec<_>>())
                })
                .collect();
            workers.into_iter().flat_map(|worker| worker.join().unwrap()).collect()
        });
        let unique: std::collections::BTreeSet<u64> = drawn.iter().copied().collect();
        assert_eq!(unique.len(), 200, "every draw is a new nonce");
        assert_eq!(unique.last(), Some(&200));
    }
}
