//! Honest health: a node says when it cannot take writes, and why, instead of pretending.
//!
//! - [`Health::check_write`]: a write is refused while the data dir's file system has less
//!   free space than `limits.free_space_floor_bytes` (RESOURCE_EXHAUSTED, naming the dir,
//!   the free bytes and the floor), or after Raft stopped. `status` shows the same reason.
//! - [`watch_raft`]: when openraft stops on a fatal error (a storage error, a panic in its
//!   core), the node logs the cause once at ERROR, reports NOT_SERVING on the standard
//!   health service and `accepting_writes: false`, and `node::run_until` exits with an
//!   error after `limits.exit_grace_secs`: openraft cannot be restarted in-process.
//! - [`open_data_dir`]: a damaged database gives one line naming the data dir, never a
//!   panic's backtrace (sled 0.34 panics on some damaged files).
//! - [`abort_on_panic`]: once the node runs, a panic (a failed conservation assert, say)
//!   stops the whole process instead of one task, leaving no half-alive node.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tonic::Status;
use tonic_health::server::HealthReporter;
use tonic_health::ServingStatus;

use crate::limits::Limits;
use crate::raft::Raft;

/// Free space is read at most this often: a `statvfs` per submit would be cheap, but a
/// burst of submits needs one answer, not thousands.
const FREE_SPACE_CACHE: Duration = Duration::from_secs(1);
/// How much of a panic's message or an error's text a one-line report quotes.
const DETAIL_CHARS_MAX: usize = 300;

/// Whether this node can take writes, shared by the services, the submitter and `main`.
pub struct Health {
    data_dir: PathBuf,
    free_space_floor_bytes: u64,
    /// When free space was last read, and what it was (or why it could not be read).
    free_space: Mutex<Option<(Instant, Result<u64, String>)>>,
    /// Why Raft stopped, once it has.
    raft_stopped: watch::Sender<Option<String>>,
    /// Set by a graceful stop, so that Raft stopping then is no error.
    stopping: AtomicBool,
    pub exit_grace: Duration,
}

impl Health {
    pub fn new(data_dir: &Path, limits: &Limits) -> Health {
        Health {
            data_dir: data_dir.to_path_buf(),
            free_space_floor_bytes: limits.free_space_floor_bytes,
            free_space: Mutex::new(None),
            raft_stopped: watch::channel(None).0,
            stopping: AtomicBool::new(false),
            exit_grace: Duration::from_secs(limits.exit_grace_secs),
        }
    }

    /// Why writes are refused now, if they are (for `status` and [`Health::check_write`]).
    pub fn write_refusal(&self) -> Option<String> {
        if let Some(reason) = self.raft_stopped.borrow().clone() {
            return Some(format!("Raft stopped ({reason}); this node exits and must be restarted"));
        }
        match self.free_bytes() {
            Ok(free) if free >= self.free_space_floor_bytes => None,
            Ok(free) => Some(format!(
                "the data dir {} has {free} bytes free, below the floor of {} bytes (limits.free_space_floor_bytes); free space on its file system",
                self.data_dir.display(),
                self.free_space_floor_bytes
            )),
            Err(error) => Some(format!("cannot tell the free space of the data dir {}: {error}", self.data_dir.display())),
        }
    }

    /// `Ok` if this node may take a write now.
    pub fn check_write(&self) -> Result<(), Status> {
        match self.write_refusal() {
            None => Ok(()),
            Some(reason) if self.raft_stopped.borrow().is_some() => Err(Status::unavailable(format!("writes refused: {reason}"))),
            Some(reason) => Err(Status::resource_exhausted(format!("writes refused: {reason}"))),
        }
    }

    fn free_bytes(&self) -> Result<u64, String> {
        let mut cached = self.free_space.lock().expect("free space lock");
        if let Some((read_at, free)) = cached.as_ref() {
            if read_at.elapsed() < FREE_SPACE_CACHE {
                return free.clone();
            }
        }
        let free = free_bytes(&self.data_dir).map_err(|error| error.to_string());
        *cached = Some((Instant::now(), free.clone()));
        free
    }

    /// Why Raft stopped, if it has.
    pub fn raft_stopped(&self) -> Option<String> {
        self.raft_stopped.borrow().clone()
    }

    /// Resolves with the reason once Raft has stopped on a fatal error.
    pub async fn wait_raft_stopped(&self) -> String {
        let mut receiver = self.raft_stopped.subscribe();
        let reason = match receiver.wait_for(Option::is_some).await {
            Ok(reason) => reason.clone().unwrap_or_default(),
            Err(_) => std::future::pending().await, // the sender lives as long as `self`
        };
        reason
    }

    /// A graceful stop begins: Raft stopping from now on is expected.
    pub fn stopping(&self) {
        self.stopping.store(true, Ordering::SeqCst);
    }
}

/// Bytes available to this (unprivileged) process on the file system holding `path`.
#[allow(clippy::unnecessary_cast)] // the statvfs field types are u64 here, not on every target
pub fn free_bytes(path: &Path) -> std::io::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(path.as_os_str().as_bytes()).map_err(std::io::Error::other)?;
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: a NUL-terminated path and a struct statvfs of our own to fill.
    if unsafe { libc::statvfs(path.as_ptr(), &mut stat) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok((stat.f_bavail as u64).saturating_mul(stat.f_frsize as u64))
}

/// Waits for openraft to stop. A stop outside a graceful shutdown is fatal: the cause is
/// logged once at ERROR, the health service says NOT_SERVING (the whole server and the
/// `Ledger` service), and [`Health::wait_raft_stopped`] resolves.
pub async fn watch_raft(raft: Raft, health: std::sync::Arc<Health>, reporter: HealthReporter) {
    let mut metrics = raft.metrics();
    let reason = loop {
        if let Err(fatal) = &metrics.borrow_and_update().running_state {
            break fatal.to_string();
        }
        if metrics.changed().await.is_err() {
            break "its core task ended".to_string();
        }
    };
    if health.stopping.load(Ordering::SeqCst) {
        return;
    }
    tracing::error!(
        "Raft stopped: {reason}; this node cannot take part in the ledger any more and exits in {}s (limits.exit_grace_secs); \
         look for the cause above, then restart it (if its data dir is damaged: README, 'Replacing a node')",
        health.exit_grace.as_secs()
    );
    reporter.set_not_serving::<fairshare_api::v1::ledger_server::LedgerServer<crate::service::LedgerService>>().await;
    reporter.set_service_status("", ServingStatus::NotServing).await;
    health.raft_stopped.send_replace(Some(reason));
}

/// The one line for a data dir whose database cannot be opened or read.
pub fn damaged(data_dir: &Path, detail: &str) -> anyhow::Error {
    // sled's corruption error ends in "backtrace (…)": a trace is no help to an operator.
    let detail = detail.split(" backtrace").next().unwrap_or_default();
    let detail: String = detail.split_whitespace().collect::<Vec<_>>().join(" ");
    let detail = match detail.char_indices().nth(DETAIL_CHARS_MAX) {
        Some((cut, _)) => format!("{}…", &detail[..cut]),
        None => detail,
    };
    anyhow::anyhow!(
        "data dir {}: the database in {} (files db, conf, blobs/, snap.*) is damaged ({detail}): restore the data dir from a backup or replace the node (README, 'Replacing a node')",
        data_dir.display(),
        data_dir.join("sled").display()
    )
}

/// The key written into a new database, so that an emptied one is noticed.
const DATABASE_CREATED: &[u8] = b"fairshare:database_created";

/// sled 0.34 reads a damaged file as a torn write and keeps what precedes the damage:
/// damage near the start of `db` leaves an empty database, and a node that forgot its vote
/// could vote twice in one term. A database is marked when created; a used data dir
/// (`fresh` false: its GENESIS file was there) whose database has neither the mark nor any
/// data lost it all. A database of an older version, with data but without the mark, is
/// marked now. (Damage further in rolls sled back to an older state, which this cannot see.)
pub fn check_not_emptied(db: &sled::Db, fresh: bool) -> anyhow::Result<()> {
    if db.contains_key(DATABASE_CREATED)? {
        return Ok(());
    }
    let mut holds_data = false;
    for name in db.tree_names() {
        holds_data |= !db.open_tree(name)?.is_empty();
    }
    if !fresh && !holds_data {
        anyhow::bail!("the database is empty, yet the data dir was in use: sled dropped what it could not read");
    }
    db.insert(DATABASE_CREATED, b"1".as_slice())?;
    crate::raft::log_store::sync(db)?;
    Ok(())
}

/// Runs `open` (which opens and reads the database synchronously), turning both its errors
/// and its panics into [`damaged`]. While it runs, the panic hook prints nothing, so a
/// panic inside sled leaves no message or backtrace on stderr: the caller reports it.
///
/// The hook is process-wide: a panic on another thread in this short window is silenced
/// too. Call this before anything else runs (as `node::start` does).
pub fn open_data_dir<T>(data_dir: &Path, open: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<T> {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let outcome = catch_unwind(AssertUnwindSafe(open));
    std::panic::set_hook(previous);
    match outcome {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(damaged(data_dir, &format!("{error:#}"))),
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|text| text.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".to_string());
            Err(damaged(data_dir, &format!("reading it panicked: {message}")))
        }
    }
}

/// From now on a panic anywhere prints its message (the default hook) and aborts the
/// process. Without this, a panic kills one tokio task and the node runs on without it,
/// serving a state that an assertion just said is wrong. Install after the database is
/// open: [`open_data_dir`] must still be able to catch sled's panics.
pub fn abort_on_panic() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default(info);
        eprintln!("fairshare-node: a panic is a bug; aborting so that no half-working node stays up");
        std::process::abort();
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_floor_refuses_writes_naming_dir_free_bytes_and_floor() {
        let dir = tempfile::tempdir().unwrap();
        let limits = Limits { free_space_floor_bytes: u64::MAX / 2, ..Limits::default() };
        let health = Health::new(dir.path(), &limits);
        let status = health.check_write().expect_err("no file system has 2^63 bytes free");
        assert_eq!(status.code(), tonic::Code::ResourceExhausted);
        assert!(status.message().contains(&dir.path().display().to_string()), "{}", status.message());
        assert!(status.message().contains(&(u64::MAX / 2).to_string()), "{}", status.message());
        assert!(status.message().contains("bytes free"), "{}", status.message());
        let fine = Health::new(dir.path(), &Limits { free_space_floor_bytes: 0, ..Limits::default() });
        assert!(fine.check_write().is_ok());
    }

    #[test]
    fn a_panic_while_opening_is_one_error_naming_the_data_dir() {
        let dir = Path::new("/srv/fairshare/zk");
        let error = open_data_dir::<()>(dir, || panic!("corrupted segment at lsn {}", 42)).unwrap_err();
        let text = format!("{error:#}");
        assert!(text.contains("data dir /srv/fairshare/zk") && text.contains("corrupted segment at lsn 42"), "{text}");
        assert!(text.contains("Replacing a node"), "{text}");
        let long = "x".repeat(10_000);
        let error = open_data_dir::<()>(dir, || Err(anyhow::anyhow!("{long}"))).unwrap_err();
        assert!(error.to_string().len() < 1_000, "the detail is bounded");
        let error = open_data_dir::<()>(dir, || Err(anyhow::anyhow!("Read corrupted data at file offset None backtrace ()"))).unwrap_err();
        assert!(!error.to_string().contains("backtrace"), "{error}");
    }
}
