//! What `fairshare export sepa` wrote and the ledger does not record yet: the treasury loop.
//!
//! A pain.001 file goes to the bank; once the bank executed it, `fairshare pay --from-sepa
//! FILE` records it as one payment record (the file's MsgId as reference, and in lower case
//! as id: [`payment_id`]). Between
//! the two, the transfers are *exported but unrecorded*: a second export must not pay them
//! again. That state lives on the client, beside the nonces (`exports/<insurer>/<MsgId>.json`
//! next to the client config), because it is one treasury's work in progress, not a ledger
//! fact: nothing was paid until the bank says so, and other parties need not see it. The
//! ledger settles it: an export whose payment id is a payment record on the ledger is recorded,
//! and its file is removed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use fairshare_protocol::Amount;
use serde::{Deserialize, Serialize};

use crate::views::ObligationRow;
use crate::InputError;

/// One exported file: what it pays on which obligation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exported {
    pub message_id: String,
    pub insurer: String,
    pub execution_date: String,
    /// Obligation id → the amount the file pays on it.
    pub settlements: BTreeMap<String, Amount>,
}

impl Exported {
    pub fn total(&self) -> Amount {
        self.settlements.values().copied().sum()
    }

    /// Whether the ledger records this file: its [`payment_id`] is among the ledger's
    /// payment record ids (reversed or not). Such an export is pending no more.
    pub fn is_recorded(&self, payment_ids: &BTreeSet<String>) -> bool {
        payment_ids.contains(&payment_id(&self.message_id))
    }
}

/// The exports of one client, in `DIR/exports/<insurer>/`.
pub struct Exports {
    dir: PathBuf,
}

impl Exports {
    pub fn new(dir: &Path) -> Exports {
        Exports { dir: dir.to_path_buf() }
    }

    /// `DIR/exports/<insurer>/<message id>.<extension>`. Both names come from files and
    /// forms: only letters, digits, '-', '_' and '.' (not first), so none leaves the directory.
    fn path(&self, insurer: &str, message_id: &str, extension: &str) -> Result<PathBuf, InputError> {
        for (what, name) in [("insurer", insurer), ("message id", message_id)] {
            let plain = name.bytes().all(|byte| byte.is_ascii_alphanumeric() || b"-_.".contains(&byte));
            if name.is_empty() || name.len() > 35 || name.starts_with('.') || !plain {
                return Err(InputError::new(
                    fairshare_protocol::ids::echo(name),
                    format!("is not a {what} this client keeps exports under (letters, digits, '-', '_', '.'; at most 35)"),
                ));
            }
        }
        Ok(self.dir.join(insurer).join(format!("{message_id}.{extension}")))
    }

    /// Holds `insurer`'s exports for one payment file, from reading what is pending to saving
    /// the new export, across processes (`export sepa`, dashboards) on this client: an
    /// exclusive lock on `exports/<insurer>/.lock`, released when dropped.
    pub fn lock(&self, insurer: &str) -> Result<std::fs::File, InputError> {
        let path = self.path(insurer, "lock", "lock")?.with_file_name(".lock");
        let parent = path.parent().expect("a file in a directory");
        std::fs::create_dir_all(parent).map_err(|error| InputError::new(parent.display().to_string(), error.to_string()))?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|error| InputError::new(path.display().to_string(), error.to_string()))?;
        file.lock().map_err(|error| InputError::new(path.display().to_string(), format!("cannot lock: {error}")))?;
        Ok(file)
    }

    /// Keeps an export until it is recorded, with the document it was sent as (to download
    /// again); a message id is never reused.
    pub fn save(&self, exported: &Exported, document: &str) -> Result<(), InputError> {
        let path = self.path(&exported.insurer, &exported.message_id, "json")?;
        let parent = path.parent().expect("a file in a directory");
        std::fs::create_dir_all(parent).map_err(|error| InputError::new(parent.display().to_string(), error.to_string()))?;
        let xml = self.path(&exported.insurer, &exported.message_id, "xml")?;
        let text = serde_json::to_string_pretty(exported).expect("an export serialises");
        // The record first, created only if new: a used message id overwrites nothing.
        let created = std::fs::OpenOptions::new().write(true).create_new(true).open(&path);
        let mut file = match created {
            Ok(file) => file,
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(InputError::new(
                    &exported.message_id,
                    format!("message id already used by an unrecorded export ({}); choose another --msg-id", path.display()),
                ))
            }
            Err(error) => return Err(InputError::new(path.display().to_string(), error.to_string())),
        };
        let written =
            std::fs::write(&xml, document).map_err(|error| InputError::new(xml.display().to_string(), error.to_string())).and_then(|()| {
                std::io::Write::write_all(&mut file, text.as_bytes())
                    .map_err(|error| InputError::new(path.display().to_string(), error.to_string()))
            });
        if written.is_err() {
            // Half a record is no record: the next file pays these obligations again.
            let _ = std::fs::remove_file(&path);
            let _ = std::fs::remove_file(&xml);
        }
        written
    }

    /// The document an unrecorded export was sent as (pain.001 XML), if kept.
    pub fn document(&self, insurer: &str, message_id: &str) -> Result<Option<String>, InputError> {
        // Its record removed by hand ("never reached the bank"): dropped, document and all.
        if !self.path(insurer, message_id, "json")?.exists() {
            return Ok(None);
        }
        let path = self.path(insurer, message_id, "xml")?;
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(Some(text)),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(InputError::new(path.display().to_string(), error.to_string())),
        }
    }

    /// The unrecorded exports of `insurer`, oldest message id first.
    pub fn pending(&self, insurer: &str) -> Result<Vec<Exported>, InputError> {
        let dir = self.dir.join(insurer);
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => return Err(InputError::new(dir.display().to_string(), error.to_string())),
        };
        let mut exports = Vec::new();
        for entry in entries {
            let path = entry.map_err(|error| InputError::new(dir.display().to_string(), error.to_string()))?.path();
            if path.extension().is_none_or(|extension| extension != "json") {
                continue;
            }
            exports.push(self.read(&path)?);
        }
        exports.sort_by(|left, right| left.message_id.cmp(&right.message_id));
        Ok(exports)
    }

    /// The export with this message id, if it is unrecorded.
    pub fn find(&self, insurer: &str, message_id: &str) -> Result<Option<Exported>, InputError> {
        let path = self.path(insurer, message_id, "json")?;
        if !path.exists() {
            return Ok(None);
        }
        self.read(&path).map(Some)
    }

    fn read(&self, path: &Path) -> Result<Exported, InputError> {
        let text = std::fs::read_to_string(path).map_err(|error| InputError::new(path.display().to_string(), error.to_string()))?;
        serde_json::from_str(&text)
            .map_err(|error| InputError::new(path.display().to_string(), format!("is not an export record ({error}); remove it")))
    }

    /// Forgets an export once the ledger records it.
    pub fn recorded(&self, insurer: &str, message_id: &str) -> Result<(), InputError> {
        for extension in ["json", "xml"] {
            let path = self.path(insurer, message_id, extension)?;
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => return Err(InputError::new(path.display().to_string(), error.to_string())),
            }
        }
        Ok(())
    }
}

/// The id of the payment record that records a file: its MsgId in lower case (record ids
/// are lowercase slugs; the MsgId itself stays the bank reference).
pub fn payment_id(message_id: &str) -> String {
    message_id.to_lowercase()
}

/// The rows with what unrecorded exports already pay taken off their outstanding amount
/// (never below zero), so a second export pays only the rest.
pub fn without_pending(rows: &[ObligationRow], pending: &[Exported]) -> Vec<ObligationRow> {
    let mut exported: BTreeMap<&str, Amount> = BTreeMap::new();
    for export in pending {
        for (obligation, amount) in &export.settlements {
            *exported.entry(obligation).or_insert(Amount::ZERO) += *amount;
        }
    }
    rows.iter()
        .map(|row| {
            let mut row = row.clone();
            if let Some(amount) = exported.get(row.id.as_str()) {
                row.outstanding = if *amount >= row.outstanding { Amount::ZERO } else { row.outstanding - *amount };
            }
            row
        })
        .collect()
}

/// The `MsgId` and requested execution date of a pain.001 file (as `sepa::document` writes
/// it; the first `<MsgId>` and `<Dt>` inside `<ReqdExctnDt>`).
pub fn read_pain001(xml: &str) -> Result<(String, String), InputError> {
    let between = |open: &str, close: &str, within: &str| -> Option<String> {
        let start = within.find(open)? + open.len();
        let end = within[start..].find(close)? + start;
        Some(within[start..end].trim().to_string())
    };
    if !xml.contains(crate::sepa::NAMESPACE) {
        return Err(InputError::new("the file", format!("is not a pain.001.001.09 message ({})", crate::sepa::NAMESPACE)));
    }
    let message_id = between("<MsgId>", "</MsgId>", xml).ok_or_else(|| InputError::new("the file", "has no <MsgId>"))?;
    let execution = between("<ReqdExctnDt>", "</ReqdExctnDt>", xml)
        .and_then(|date| between("<Dt>", "</Dt>", &date))
        .ok_or_else(|| InputError::new("the file", "has no <ReqdExctnDt><Dt>"))?;
    Ok((message_id, execution))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn export(message_id: &str, settlements: &[(&str, &str)]) -> Exported {
        Exported {
            message_id: message_id.into(),
            insurer: "zk".into(),
            execution_date: "2026-12-15".into(),
            settlements: settlements.iter().map(|(id, amount)| (id.to_string(), amount.parse().unwrap())).collect(),
        }
    }

    #[test]
    fn an_unrecorded_export_is_kept_until_recorded_and_a_message_id_is_not_reused() {
        let dir = tempfile::tempdir().unwrap();
        let exports = Exports::new(dir.path());
        let first = export("FS-zk-1", &[("p/m/1/zk", "100.00")]);
        exports.save(&first, "<Document/>").unwrap();
        assert!(exports.save(&first, "<Other/>").unwrap_err().to_string().contains("already used"));
        assert_eq!(exports.document("zk", "FS-zk-1").unwrap().as_deref(), Some("<Document/>"));
        // Names from files and forms never leave the directory.
        for hostile in ["../../etc/passwd", "..", ".hidden", "a/b", "", "x".repeat(36).as_str()] {
            assert!(exports.find("zk", hostile).is_err(), "{hostile}");
            assert!(exports.recorded("zk", hostile).is_err(), "{hostile}");
            assert!(exports.lock(hostile).is_err(), "{hostile}");
        }
        let held = exports.lock("zk").unwrap();
        drop(held);
        assert_eq!(exports.pending("zk").unwrap(), vec![first.clone()]);
        assert_eq!(exports.find("zk", "FS-zk-1").unwrap(), Some(first));
        assert!(exports.pending("vgz").unwrap().is_empty());
        exports.recorded("zk", "FS-zk-1").unwrap();
        assert!(exports.pending("zk").unwrap().is_empty());
        assert_eq!(exports.document("zk", "FS-zk-1").unwrap(), None, "the kept document goes with it");
    }

    #[test]
    fn the_pain001_message_id_and_execution_date_are_read_back() {
        let header = crate::sepa::Header::new("FS-zk-1", "2026-12-03T10:00:00Z".into(), "2026-12-15", "ZK", "NL91ABNA0417164300").unwrap();
        let xml = crate::sepa::document(&header, &[]);
        assert_eq!(read_pain001(&xml).unwrap(), ("FS-zk-1".to_string(), "2026-12-15".to_string()));
        assert!(read_pain001("<Document/>").unwrap_err().to_string().contains("pain.001"));
    }
}
