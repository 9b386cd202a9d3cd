//! Master-key rotation: every live data key is re-wrapped under a new master key, in batches,
//! while Rekey keeps serving. The new key is written to the key file (ahead of the old one,
//! which stays so data not yet moved still opens) before anything is re-wrapped, and each batch
//! commits on its own, so a rotation killed at any moment resumes where it stopped when run
//! again. When no data key is left under an old key, the old keys leave the file.

use super::crypto::{self, Envelope, Key, RowBinding};
use super::keys;
use crate::Rekey;
use crate::audit::{Detail, Target};
use crate::error::{Error, Refusal, Result};
use crate::params;

/// What a rotation did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rotation {
    /// The fingerprints of the keys the data was sealed under before.
    pub from: Vec<String>,
    /// The new key's fingerprint.
    pub to: String,
    /// Data keys wrapped again under the new key.
    pub rewrapped: i64,
    /// True when this run only finished a rotation an earlier run had started.
    pub resumed: bool,
}

async fn remaining(rk: &Rekey, current: &str) -> Result<i64> {
    rk.db
        .scalar(
            "SELECT COUNT(*) FROM vault_versions WHERE key_id <> $1 AND destroyed_at IS NULL",
            params![current],
        )
        .await
}

/// Rotates the master key of a file-based keyring; `progress` hears (done, left) per batch.
pub async fn rotate_master_key(
    rk: &Rekey,
    batch: u32,
    mut progress: impl FnMut(i64, i64),
) -> Result<Rotation> {
    let path = rk
        .vault
        .key_file()
        .ok_or_else(|| Error::Refused(Refusal::MasterKeyFromEnvironment))?;
    let ring = keys::read(&keys::KeySource::File(path.clone()))?.ok_or_else(|| {
        Error::Internal(format!("the master key file {} is missing", path.display()))
    })?;
    let old_ids = ring.ids();
    let resumed = old_ids.len() > 1;
    if !resumed {
        // A fresh rotation: the new key goes first, the old one stays to open what is not moved yet.
        let new = Key::random();
        keys::write_key_file(&path, &[&new, ring.current()])?;
    }
    let ring = rk.vault.keyring()?;
    let new = ring.current().clone();
    let to = new.fingerprint();
    let from: Vec<String> = ring.ids().into_iter().filter(|id| *id != to).collect();
    let mut rewrapped = 0i64;
    loop {
        let rows = rk
            .db
            .fetch_all(
                &format!(
                    "SELECT v.secret_id, v.version, v.key_id, v.generation, v.wrapped_dek, s.partition_id \
                     FROM vault_versions v JOIN vault_secrets s ON s.id = v.secret_id \
                     WHERE v.key_id <> $1 AND v.destroyed_at IS NULL ORDER BY v.secret_id, v.version LIMIT {batch}"
                ),
                params![to.as_str()],
            )
            .await?;
        if rows.is_empty() {
            break;
        }
        let mut tx = rk.write(crate::audit::Actor::System).await?;
        for r in &rows {
            let (secret, version, key_id): (i64, i64, String) = (r.get(0)?, r.get(1)?, r.get(2)?);
            let envelope = Envelope {
                key_id: key_id.clone(),
                generation: r.get(3)?,
                wrapped_dek: r.get(4)?,
                ciphertext: Vec::new(),
            };
            let row = RowBinding {
                partition: r.get(5)?,
                secret,
                version,
            };
            let old = ring.get(&key_id).ok_or_else(|| {
                Error::Internal(format!(
                    "data sealed with key {key_id} cannot be opened: that key is not in {}",
                    path.display()
                ))
            })?;
            let generation =
                super::store::next_generation(&mut tx, &to, rk.vault.wraps_per_generation())
                    .await?;
            let moved = crypto::rewrap(old, &new, generation, row, &envelope)
                .map_err(|e| Error::Internal(format!("secret {secret} version {version}: {e}")))?;
            tx.execute(
                "UPDATE vault_versions SET key_id = $1, generation = $2, wrapped_dek = $3 WHERE secret_id = $4 AND version = $5 AND key_id = $6",
                params![moved.key_id, moved.generation, moved.wrapped_dek, secret, version, key_id],
            )
            .await?;
        }
        let count = rows.len() as i64;
        tx.audit(
            Target::Settings,
            Detail::VaultRewrapped {
                to_key: to.clone(),
                count,
            },
        )
        .await?;
        tx.commit().await?;
        rewrapped += count;
        progress(rewrapped, remaining(rk, &to).await?);
    }
    // Nothing is sealed under an old key any more: keep only the new one.
    if remaining(rk, &to).await? == 0 {
        keys::write_key_file(&path, &[&new])?;
    }
    Ok(Rotation {
        from,
        to,
        rewrapped,
        resumed,
    })
}
