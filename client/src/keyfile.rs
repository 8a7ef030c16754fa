//! Secret key files: the ed25519 secret key as 64 hex digits, readable by its owner only.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;

#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("cannot read key file {path}: {cause}")]
    Unreadable { path: PathBuf, cause: std::io::Error },
    #[error("key file {path} does not hold 64 hex digits (an ed25519 secret key); make one with 'fairshare keygen --out FILE'")]
    Malformed { path: PathBuf },
    #[error("cannot write key file {path}: {cause}")]
    Unwritable { path: PathBuf, cause: std::io::Error },
    #[error("key file {path} already exists; remove it first or write elsewhere (a key is never overwritten)")]
    Exists { path: PathBuf },
}

pub fn read(path: &Path) -> Result<SigningKey, KeyFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| KeyFileError::Unreadable { path: path.to_path_buf(), cause: source })?;
    let bytes = hex::decode(text.trim()).map_err(|_| KeyFileError::Malformed { path: path.to_path_buf() })?;
    let bytes: [u8; 32] = bytes.try_into().map_err(|_| KeyFileError::Malformed { path: path.to_path_buf() })?;
    Ok(SigningKey::from_bytes(&bytes))
}

/// Writes a new key file with mode 0600; never overwrites an existing file.
pub fn write_new(path: &Path, key: &SigningKey) -> Result<(), KeyFileError> {
    let unwritable = |source| KeyFileError::Unwritable { path: path.to_path_buf(), cause: source };
    if let Some(parent) = path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(unwritable)?;
    }
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::AlreadyExists {
            KeyFileError::Exists { path: path.to_path_buf() }
        } else {
            unwritable(source)
        }
    })?;
    writeln!(file, "{}", hex::encode(key.to_bytes())).map_err(unwritable)?;
    file.sync_all().map_err(unwritable)
}

/// A fresh key from the operating system's random source.
pub fn generate() -> SigningKey {
    SigningKey::generate(&mut rand::rngs::OsRng)
}

pub fn public_hex(key: &SigningKey) -> String {
    hex::encode(key.verifying_key().to_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_written_key_reads_back_and_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/zk.key");
        let key = generate();
        write_new(&path, &key).unwrap();
        assert_eq!(read(&path).unwrap().to_bytes(), key.to_bytes());
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert!(matches!(write_new(&path, &key), Err(KeyFileError::Exists { .. })));
        std::fs::write(dir.path().join("bad.key"), "not hex").unwrap();
        assert!(matches!(read(&dir.path().join("bad.key")), Err(KeyFileError::Malformed { .. })));
        assert!(matches!(read(&dir.path().join("none.key")), Err(KeyFileError::Unreadable { .. })));
    }
}
