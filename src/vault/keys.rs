//! The master keyring: where the master key comes from, and the checks that keep a wrong or
//! missing key from ever touching the data.
//!
//! A key file holds one key per line, `rekey-master-key-v1 <base64>`, the current key first and
//! any older keys after it (kept during a rotation so data sealed under them still opens). In
//! the embedded default the file lives in the data folder and is created, mode 0600, when it is
//! missing *and* the database holds no vault data yet; if the database holds data, a missing or
//! different key stops start-up and nothing is written.

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::crypto::Key;
use crate::error::{Error, KeyFileProblem, Result};
use crate::storage::Db;

const LINE_PREFIX: &str = "rekey-master-key-v1 ";

/// Where the master key comes from. Debug names the source, never the key.
#[derive(Clone, PartialEq, Eq)]
pub enum KeySource {
    /// A key file (created when missing on a database without vault data).
    File(PathBuf),
    /// `REKEY_MASTER_KEY`: base64 keys, comma-separated, current first.
    Env(String),
}

impl std::fmt::Debug for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySource::File(path) => f.debug_tuple("File").field(path).finish(),
            KeySource::Env(_) => f.write_str("Env([redacted])"),
        }
    }
}

/// The master keys Rekey holds: the current one seals, all of them open.
#[derive(Clone, Debug)]
pub struct Keyring {
    keys: Vec<Key>,
}

impl Keyring {
    /// The key new values are sealed with: the first in the source.
    pub fn current(&self) -> &Key {
        // A keyring is never built empty (see `parse_keys`).
        &self.keys[0]
    }

    /// The key with this fingerprint, if the source holds it.
    pub fn get(&self, key_id: &str) -> Option<&Key> {
        self.keys.iter().find(|k| k.fingerprint() == key_id)
    }

    /// Every key's fingerprint, current first.
    pub fn ids(&self) -> Vec<String> {
        self.keys.iter().map(Key::fingerprint).collect()
    }
}

fn parse_keys(text: &str, origin: &str) -> Result<Keyring> {
    let mut keys = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let encoded = line.strip_prefix(LINE_PREFIX).unwrap_or(line);
        let key = STANDARD
            .decode(encoded.trim())
            .ok()
            .and_then(|bytes| Key::from_bytes(&bytes))
            .ok_or_else(|| {
                Error::Internal(format!(
                    "{origin}, line {}: not a master key (expected '{LINE_PREFIX}' and 32 bytes of base64)",
                    n + 1
                ))
            })?;
        keys.push(key);
    }
    if keys.is_empty() {
        return Err(Error::Internal(format!("{origin} holds no master key")));
    }
    Ok(Keyring { keys })
}

fn key_lines(keys: &[&Key]) -> String {
    let mut text = String::from(
        "# Rekey's vault master keys. Back this file up; without it the vault cannot be opened.\n",
    );
    for key in keys {
        text.push_str(LINE_PREFIX);
        text.push_str(&STANDARD.encode(key.expose()));
        text.push('\n');
    }
    text
}

/// Writes a key file atomically with mode 0600 (write to a temporary file, then rename).
pub(crate) fn write_key_file(path: &Path, keys: &[&Key]) -> Result<()> {
    let fail = |e: std::io::Error| {
        Error::Internal(format!(
            "cannot write the master key file {}: {e}",
            path.display()
        ))
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir).map_err(fail)?;
    }
    let tmp = path.with_extension("tmp");
    // A leftover from a crash (or a link someone planted) goes; removing a link never follows it.
    match std::fs::remove_file(&tmp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(fail(e)),
        _ => {}
    }
    let mut options = std::fs::OpenOptions::new();
    // O_EXCL: a fresh file of our own, never one that appeared under the name meanwhile.
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    let mut file = options.open(&tmp).map_err(fail)?;
    file.write_all(key_lines(keys).as_bytes()).map_err(fail)?;
    file.sync_all().map_err(fail)?;
    std::fs::rename(&tmp, path).map_err(fail)?;
    Ok(())
}

enum KeyFileError {
    Missing,
    Refused(KeyFileProblem),
}

/// Reads the key file through a handle that is not a symbolic link, and refuses a file others
/// can read or write: a key everyone on the host can copy protects nothing, so Rekey stops
/// instead of warning.
fn read_key_file(path: &Path) -> std::result::Result<String, KeyFileError> {
    use std::io::Read;
    let unreadable = |source| {
        KeyFileError::Refused(KeyFileProblem::Unreadable {
            path: path.to_path_buf(),
            source,
        })
    };
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NOFOLLOW);
    let mut file = match options.open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(KeyFileError::Missing),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(KeyFileError::Refused(KeyFileProblem::SymbolicLink(
                path.to_path_buf(),
            )));
        }
        Err(e) => return Err(unreadable(e)),
    };
    let meta = file.metadata().map_err(unreadable)?;
    if !meta.is_file() {
        return Err(KeyFileError::Refused(KeyFileProblem::NotAFile(
            path.to_path_buf(),
        )));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(KeyFileError::Refused(KeyFileProblem::OpenToOthers {
                path: path.to_path_buf(),
                mode,
            }));
        }
    }
    let mut text = String::new();
    file.read_to_string(&mut text).map_err(unreadable)?;
    Ok(text)
}

/// Reads the keyring from its source, without creating anything.
pub fn read(source: &KeySource) -> Result<Option<Keyring>> {
    match source {
        KeySource::Env(value) => {
            parse_keys(&value.replace(',', "\n"), "REKEY_MASTER_KEY").map(Some)
        }
        KeySource::File(path) => match read_key_file(path) {
            Ok(text) => parse_keys(&text, &path.display().to_string()).map(Some),
            Err(KeyFileError::Missing) => Ok(None),
            Err(KeyFileError::Refused(problem)) => Err(problem.into()),
        },
    }
}

/// The master keys of sealed data in the database.
pub async fn keys_in_use(db: &Db) -> Result<Vec<String>> {
    db.fetch_all(
        "SELECT DISTINCT key_id FROM vault_versions WHERE destroyed_at IS NULL ORDER BY key_id",
        &[],
    )
    .await?
    .iter()
    .map(|r| r.get(0))
    .collect()
}

/// Opens the keyring for this database: checks that it holds every key the data is sealed
/// with, and creates a first key file only for a database without vault data.
pub async fn open(source: &KeySource, db: &Db) -> Result<Keyring> {
    let in_use = keys_in_use(db).await?;
    let keyring = match (read(source)?, source) {
        (Some(keyring), _) => keyring,
        (None, KeySource::File(path)) if in_use.is_empty() => {
            let key = Key::random();
            write_key_file(path, &[&key])?;
            tracing::info!(path = %path.display(), "created a new vault master key; back it up");
            Keyring { keys: vec![key] }
        }
        (None, KeySource::File(path)) => {
            return Err(Error::Internal(format!(
                "the master key file {} is missing, but the database holds secrets sealed with key {}; \
                 restore the file from your backup (nothing was changed)",
                path.display(),
                in_use.join(", ")
            )));
        }
        (None, KeySource::Env(_)) => {
            unreachable!("an environment source always yields a keyring or an error")
        }
    };
    let held = keyring.ids();
    let missing: Vec<&String> = in_use.iter().filter(|id| !held.contains(id)).collect();
    if !missing.is_empty() {
        return Err(Error::Internal(format!(
            "the master key does not match this database: its secrets are sealed with key {}, but the key source holds {}; \
             use the key this database was written with (nothing was changed)",
            missing
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            held.join(", ")
        )));
    }
    Ok(keyring)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_files_round_trip_and_bad_lines_are_named() {
        let (a, b) = (Key::random(), Key::random());
        let ring = parse_keys(&key_lines(&[&a, &b]), "test").unwrap();
        assert_eq!(ring.ids(), vec![a.fingerprint(), b.fingerprint()]);
        assert_eq!(ring.current().fingerprint(), a.fingerprint());
        let err = parse_keys("rekey-master-key-v1 bm90IGEga2V5\n", "keys.txt")
            .unwrap_err()
            .to_string();
        assert!(err.contains("keys.txt, line 1: not a master key"), "{err}");
        assert!(parse_keys("# nothing\n", "keys.txt").is_err());
    }

    #[cfg(unix)]
    #[test]
    fn key_files_are_written_for_the_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("rekey-keys-{}", std::process::id()));
        let path = dir.join("master.key");
        write_key_file(&path, &[&Key::random()]).unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(read(&KeySource::File(path.clone())).unwrap().is_some());
        // Readable by others: start-up stops, naming the fix.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = read(&KeySource::File(path.clone()))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("mode 644") && err.contains("chmod 600"),
            "{err}"
        );
        // A link to a key file is refused, and a planted link at the temporary name is not
        // followed when the file is written.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let link = dir.join("link.key");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        let err = read(&KeySource::File(link)).unwrap_err().to_string();
        assert!(err.contains("symbolic link"), "{err}");
        let victim = dir.join("victim");
        std::fs::write(&victim, "do not overwrite").unwrap();
        std::os::unix::fs::symlink(&victim, path.with_extension("tmp")).unwrap();
        write_key_file(&path, &[&Key::random()]).unwrap();
        assert_eq!(
            std::fs::read_to_string(&victim).unwrap(),
            "do not overwrite"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
