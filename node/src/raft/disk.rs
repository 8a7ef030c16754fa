//! Making a sled write durable, which sled 0.34 does not do on its own.
//!
//! `Db::flush()` writes sled's buffers and ends in `sync_file_range`, which persists neither
//! the file's metadata nor the disk's write cache; sled's real `fsync` runs in a background
//! thread every 500 ms. A Raft node that acknowledges an entry or a vote and then loses it in
//! a power cut can elect two leaders in one term or lose a committed block. So after writing
//! a batch we flush, then `fsync` ourselves:
//!
//! - values too large for a log segment (about 128 KiB: big blocks, snapshots) live in their
//!   own files under `blobs/`, written by sled without any sync. Every blob file not yet
//!   synced (new, or grown since) is synced first, then the `blobs/` directory, so that no
//!   synced pointer in `db` can name a blob that is not on disk;
//! - then the `db` file, with `sync_all` (a real `fsync`, checked with strace).
//!
//! This is done once per batch (an append of many entries, a vote, a snapshot), never per
//! entry, and always on a blocking thread: callers use `tokio::task::spawn_blocking`.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The files behind one sled database and what of them is already synced.
pub(crate) struct Disk {
    db: sled::Db,
    /// `None` for a temporary sled database: nothing of it survives a restart anyway.
    files: Option<Files>,
}

struct Files {
    dir: PathBuf,
    /// Kept open for the life of the store: `fsync` works on any descriptor of the file.
    db_file: File,
    /// Blob file name → its length when last synced. A blob is written once and never
    /// changed, so a known name with the same length needs no second sync.
    blobs_synced: Mutex<HashMap<String, u64>>,
}

impl Disk {
    /// Finds the database's directory and syncs everything in it once, including the
    /// directory entries sled created when it opened it.
    pub(crate) fn open(db: &sled::Db) -> io::Result<Disk> {
        // sled 0.34 does not publish its path; `context` is public but hidden from its docs,
        // and 0.34.7 is the last release of the 0.34 series, so this will not move under us.
        if db.context.temporary {
            return Ok(Disk { db: db.clone(), files: None });
        }
        let dir = db.context.get_path();
        let db_file = File::open(dir.join("db")).map_err(|error| context(error, "opening", &dir.join("db")))?;
        let disk = Disk { db: db.clone(), files: Some(Files { dir: dir.clone(), db_file, blobs_synced: Mutex::new(HashMap::new()) }) };
        disk.sync()?;
        if let Ok(conf) = File::open(dir.join("conf")) {
            conf.sync_all().map_err(|error| context(error, "syncing", &dir.join("conf")))?;
        }
        sync_directory(&dir)?;
        Ok(disk)
    }

    /// Flushes sled and fsyncs what the flush wrote: afterwards, every write to this
    /// database that happened before the call survives a crash. Blocking.
    pub(crate) fn sync(&self) -> io::Result<()> {
        self.db.flush()?;
        let Some(files) = &self.files else { return Ok(()) };
        files.sync_blobs()?;
        files.db_file.sync_all().map_err(|error| context(error, "syncing", &files.dir.join("db")))
    }
}

impl Files {
    fn sync_blobs(&self) -> io::Result<()> {
        let blobs = self.dir.join("blobs");
        let mut synced = self.blobs_synced.lock().expect("a blob sync panicked");
        let mut present = HashMap::with_capacity(synced.len());
        let mut any_new = false;
        let entries = match std::fs::read_dir(&blobs) {
            Ok(entries) => entries,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(error) => return Err(context(error, "listing", &blobs)),
        };
        for entry in entries {
            let entry = entry.map_err(|error| context(error, "listing", &blobs))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            // sled removes blobs it no longer needs at any time: a vanished one needs no sync.
            let Ok(metadata) = entry.metadata() else { continue };
            let length = metadata.len();
            if synced.get(&name) != Some(&length) {
                match File::open(entry.path()) {
                    Ok(file) => file.sync_all().map_err(|error| context(error, "syncing", &entry.path()))?,
                    Err(error) if error.kind() == io::ErrorKind::NotFound => continue,
                    Err(error) => return Err(context(error, "opening", &entry.path())),
                }
                any_new = true;
            }
            present.insert(name, length);
        }
        // Forget blobs sled removed, so the map stays as small as the directory.
        *synced = present;
        if any_new {
            sync_directory(&blobs)?;
        }
        Ok(())
    }
}

/// Makes the directory's entries (new and removed files) durable.
fn sync_directory(dir: &Path) -> io::Result<()> {
    File::open(dir).and_then(|directory| directory.sync_all()).map_err(|error| context(error, "syncing directory", dir))
}

fn context(error: io::Error, doing: &str, path: &Path) -> io::Error {
    io::Error::new(error.kind(), format!("{doing} {}: {error}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_values_live_in_blob_files_and_are_synced() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::open(dir.path()).unwrap();
        let disk = Disk::open(&db).unwrap();
        db.insert(b"large", vec![7; 512 * 1024]).unwrap();
        disk.sync().unwrap();
        let files = disk.files.as_ref().unwrap();
        let synced = files.blobs_synced.lock().unwrap().clone();
        let on_disk: HashMap<String, u64> = std::fs::read_dir(dir.path().join("blobs"))
            .unwrap()
            .map(|entry| entry.unwrap())
            .map(|entry| (entry.file_name().to_string_lossy().into_owned(), entry.metadata().unwrap().len()))
            .collect();
        assert!(!on_disk.is_empty(), "sled kept a 512 KiB value in a blob file");
        assert_eq!(synced, on_disk);
    }
}
