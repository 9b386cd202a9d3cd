//! The master keyring: where the master key comes from, and the checks that keep a wrong or
//! missing key from ever touching the data.
//!
//! A key file holds one key per line, `rekey-master-key-v1 <base64>`, the current key first and
//! any older keys after it (kept during a rotation so data sealed under them still opens). In
//! the embedded default the file lives in the data folder and is created, mode 0600, when it is
//! missing *and* the database holds no vault data yet; if the database holds data, a missing or
//! different key stops start-up and nothing is written.

use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::crypto::Key;
use crate::error::{Error, Result};
use crate::keyfile::{self, PrivateFile};
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

/// Writes the master key file (see [`crate::keyfile::write`]).
pub(crate) fn write_key_file(path: &Path, keys: &[&Key]) -> Result<()> {
    keyfile::write(path, PrivateFile::MasterKey, &key_lines(keys))
}

/// Reads the keyring from its source, without creating anything.
pub fn read(source: &KeySource) -> Result<Option<Keyring>> {
    match source {
        KeySource::Env(value) => {
            parse_keys(&value.replace(',', "\n"), "REKEY_MASTER_KEY").map(Some)
        }
        KeySource::File(path) => keyfile::read(path, PrivateFile::MasterKey)?
            .map(|text| parse_keys(&text, &path.display().to_string()))
            .transpose(),
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
