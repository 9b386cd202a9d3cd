//! The vault's keys at run time: the master keyring (re-read when its file changes) and the
//! fingerprint key and index the notice checks use.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use super::crypto::{Key, WRAPS_PER_GENERATION};
use super::fingerprint::{Fingerprint, FingerprintIndex, FingerprintKey};
use super::keys::{self, KeySource, Keyring};
use crate::error::{Error, Result};
use crate::storage::Db;

/// The vault's keys at run time.
pub struct Vault {
    source: KeySource,
    keyring: RwLock<Arc<Keyring>>,
    /// When the key file was last read, to notice a rotation made by another process.
    loaded: RwLock<Option<std::time::SystemTime>>,
    wraps_per_generation: i64,
    /// The key of the values' keyed fingerprints, loaded by `system::prepare`.
    fingerprint_key: RwLock<Option<FingerprintKey>>,
    /// Every stored fingerprint, with the row count it was built from (rebuilt when it changes).
    fingerprint_index: RwLock<Option<(i64, Arc<FingerprintIndex>)>>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("source", &self.source_label())
            .finish_non_exhaustive()
    }
}

fn modified(source: &KeySource) -> Option<std::time::SystemTime> {
    match source {
        KeySource::File(path) => std::fs::metadata(path).and_then(|m| m.modified()).ok(),
        KeySource::Env(_) => None,
    }
}

fn lock_poisoned<T>(e: std::sync::PoisonError<T>) -> T {
    e.into_inner()
}

impl Vault {
    /// Opens the keyring for `db` (see [`keys::open`]).
    pub async fn open(source: KeySource, db: &Db) -> Result<Self> {
        let keyring = keys::open(&source, db).await?;
        Ok(Self {
            loaded: RwLock::new(modified(&source)),
            keyring: RwLock::new(Arc::new(keyring)),
            source,
            wraps_per_generation: WRAPS_PER_GENERATION,
            fingerprint_key: RwLock::default(),
            fingerprint_index: RwLock::default(),
        })
    }

    pub(super) fn set_fingerprint_key(&self, key: FingerprintKey) {
        *self.fingerprint_key.write().unwrap_or_else(lock_poisoned) = Some(key);
    }

    /// The fingerprint key; `system::prepare` loads it at start-up.
    pub(super) fn fingerprint_key(&self) -> Result<FingerprintKey> {
        self.fingerprint_key
            .read()
            .unwrap_or_else(lock_poisoned)
            .clone()
            .ok_or_else(|| {
                Error::Internal("the vault was opened without vault::system::prepare".into())
            })
    }

    /// Every vault value's fingerprints, to look for them in a text. Rebuilt when values were
    /// stored or destroyed since (by any process: the row count tells).
    pub async fn fingerprint_index(&self, db: &Db) -> Result<Arc<FingerprintIndex>> {
        let rows: i64 = db
            .scalar("SELECT COUNT(*) FROM vault_fingerprints", &[])
            .await?;
        if let Some((count, index)) = &*self.fingerprint_index.read().unwrap_or_else(lock_poisoned)
            && *count == rows
        {
            return Ok(index.clone());
        }
        let stored = db
            .fetch_all(
                "SELECT form, window_len, window_fp, full_len, full_fp FROM vault_fingerprints",
                &[],
            )
            .await?
            .iter()
            .map(|r| {
                Ok(Fingerprint {
                    form: "stored",
                    window_len: usize::try_from(r.get::<i64>(1)?).unwrap_or(0),
                    window_fp: r.get(2)?,
                    full_len: usize::try_from(r.get::<i64>(3)?).unwrap_or(0),
                    full_fp: r.get(4)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let index = Arc::new(FingerprintIndex::new(self.fingerprint_key()?, stored));
        *self.fingerprint_index.write().unwrap_or_else(lock_poisoned) = Some((rows, index.clone()));
        Ok(index)
    }

    /// For tests: move to the next KEK generation after `wraps` data keys.
    pub fn with_wraps_per_generation(mut self, wraps: i64) -> Self {
        self.wraps_per_generation = wraps.max(1);
        self
    }

    /// How many data keys one KEK generation wraps before the next generation is derived.
    pub fn wraps_per_generation(&self) -> i64 {
        self.wraps_per_generation
    }

    /// Where the master key comes from, for messages: the key file's path or `REKEY_MASTER_KEY`.
    pub fn source_label(&self) -> String {
        match &self.source {
            KeySource::File(path) => path.display().to_string(),
            KeySource::Env(_) => "REKEY_MASTER_KEY".into(),
        }
    }

    /// The key file, when the master key comes from one.
    pub fn key_file(&self) -> Option<PathBuf> {
        match &self.source {
            KeySource::File(path) => Some(path.clone()),
            KeySource::Env(_) => None,
        }
    }

    /// The keyring, re-read when the key file changed (a rotation by `rekey vault
    /// rotate-master-key` while this process serves).
    pub fn keyring(&self) -> Result<Arc<Keyring>> {
        let now = modified(&self.source);
        let stale = now.is_some() && *self.loaded.read().unwrap_or_else(lock_poisoned) != now;
        if stale && let Some(fresh) = keys::read(&self.source)? {
            *self.keyring.write().unwrap_or_else(lock_poisoned) = Arc::new(fresh);
            *self.loaded.write().unwrap_or_else(lock_poisoned) = now;
        }
        Ok(self.keyring.read().unwrap_or_else(lock_poisoned).clone())
    }

    pub(super) fn key(&self, key_id: &str) -> Result<Key> {
        self.keyring()?.get(key_id).cloned().ok_or_else(|| {
            Error::Internal(format!(
                "the vault master key {key_id} is not in {}",
                self.source_label()
            ))
        })
    }
}
