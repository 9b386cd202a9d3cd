//! Rekey's own secrets, sealed like every vault value (envelope encryption under the master key,
//! re-wrapped by a master-key rotation, checked at start-up) but kept in a partition that has
//! no owner and can be granted to nobody: people's login TOTP seeds, a seed waiting for its
//! first code, and the key of the values' keyed fingerprints.
//!
//! Nothing here is audited on its own: the action that seals or shreds one of these (an
//! enrolment, a removal) records its own entry in the same transaction.

use std::sync::Arc;

use super::crypto::{self, Envelope, RowBinding};
use super::fingerprint::FingerprintKey;
use super::partitions::{self, PARTITION_COLUMNS, Partition};
use super::{PartitionKind, SecretKind, VaultName};
use super::{SecretValue, store};
use crate::Rekey;
use crate::audit::WriteTx;
use crate::audit::{Actor, Detail, Target};
use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::identity::UserId;
use crate::params;

/// The system partition's name; the `rekey-` prefix is reserved for it.
pub const PARTITION: &str = "rekey-system";
const FINGERPRINT_KEY: &str = "fingerprint-key";

/// Where a person's login TOTP seed is kept.
pub fn login_seed(user: UserId) -> String {
    format!("login-totp-{user}")
}

/// Where a seed shown for enrolment waits for its first code.
pub fn pending_seed(user: UserId) -> String {
    format!("pending-totp-{user}")
}

/// A value opened from the system partition, with when it was sealed.
pub struct Opened {
    /// The value.
    pub value: SecretValue,
    /// When it was sealed.
    pub sealed_at: Timestamp,
}

async fn partition(tx: &mut WriteTx) -> Result<Partition> {
    let found = tx
        .fetch_optional(
            &format!("SELECT {PARTITION_COLUMNS} FROM vault_partitions WHERE name = $1"),
            params![PARTITION],
        )
        .await?;
    if let Some(row) = found {
        return partitions::decode_partition(&row);
    }
    let name = VaultName::parse("partition", PARTITION)?;
    let id = partitions::insert_partition(tx, &name, PartitionKind::System, None).await?;
    Ok(Partition {
        id,
        name: PARTITION.into(),
        kind: PartitionKind::System,
        owner: None,
    })
}

/// Seals `value` as the new current version of `name`; earlier versions are shredded.
pub(crate) async fn seal(
    rk: &Rekey,
    tx: &mut WriteTx,
    name: &str,
    kind: SecretKind,
    value: &SecretValue,
) -> Result<()> {
    seal_with(rk, tx, name, kind, value, true).await
}

async fn seal_with(
    rk: &Rekey,
    tx: &mut WriteTx,
    name: &str,
    kind: SecretKind,
    value: &SecretValue,
    fingerprinted: bool,
) -> Result<()> {
    let p = partition(tx).await?;
    let now = tx.now();
    let existing = tx
        .fetch_optional(
            "SELECT id, current_version FROM vault_secrets WHERE partition_id = $1 AND name = $2",
            params![p.id, name],
        )
        .await?;
    let (secret, version) = match existing {
        Some(row) => {
            let (id, current): (i64, i64) = (row.get(0)?, row.get(1)?);
            store::shred(tx, id, None).await?;
            tx.execute(
                "UPDATE vault_secrets SET current_version = $1, updated_at = $2 WHERE id = $3",
                params![current + 1, now, id],
            )
            .await?;
            (id, current + 1)
        }
        None => {
            let id: i64 = tx
                .scalar(
                    "INSERT INTO vault_secrets (partition_id, name, kind, label, current_version, created_at, updated_at) \
                     VALUES ($1, $2, $3, '', 1, $4, $4) RETURNING id",
                    params![p.id, name, kind.as_str(), now],
                )
                .await?;
            (id, 1)
        }
    };
    if fingerprinted {
        store::seal_version(rk, tx, &p, secret, version, value, "••••").await
    } else {
        store::seal_unfingerprinted(rk, tx, &p, secret, version, value, "••••").await?;
        tx.execute(
            "UPDATE vault_versions SET fingerprinted = 1 WHERE secret_id = $1 AND version = $2",
            params![secret, version],
        )
        .await?;
        Ok(())
    }
}

/// Shreds every version of `name`; false when there was nothing to shred.
pub(crate) async fn shred(tx: &mut WriteTx, name: &str) -> Result<bool> {
    let secret: Option<i64> = tx
        .fetch_optional(
            "SELECT s.id FROM vault_secrets s JOIN vault_partitions p ON p.id = s.partition_id \
             WHERE p.name = $1 AND s.name = $2",
            params![PARTITION, name],
        )
        .await?
        .map(|r| r.get(0))
        .transpose()?;
    let Some(secret) = secret else {
        return Ok(false);
    };
    store::shred(tx, secret, None).await?;
    Ok(true)
}

/// The live current version of the system secret `$2` in partition `$1`.
const LIVE_VERSION: &str = "FROM vault_partitions p JOIN vault_secrets s ON s.partition_id = p.id \
     JOIN vault_versions v ON v.secret_id = s.id AND v.version = s.current_version \
     WHERE p.name = $1 AND s.name = $2 AND v.destroyed_at IS NULL";

/// Whether the system partition holds a readable value called `name`, without opening it.
pub(crate) async fn holds(rk: &Rekey, name: &str) -> Result<bool> {
    let sql = format!("SELECT 1 {LIVE_VERSION}");
    Ok(rk
        .db
        .fetch_optional(&sql, params![PARTITION, name])
        .await?
        .is_some())
}

/// Opens the current version of `name`, if it has a live one.
pub(crate) async fn open(rk: &Rekey, name: &str) -> Result<Option<Opened>> {
    let row = rk
        .db
        .fetch_optional(
            &format!(
                "SELECT p.id, s.id, v.version, v.key_id, v.generation, v.wrapped_dek, v.ciphertext, v.created_at {LIVE_VERSION}"
            ),
            params![PARTITION, name],
        )
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let binding = RowBinding {
        partition: row.get(0)?,
        secret: row.get(1)?,
        version: row.get(2)?,
    };
    let envelope = Envelope {
        key_id: row.get(3)?,
        generation: row.get(4)?,
        wrapped_dek: row.get(5)?,
        ciphertext: row.get(6)?,
    };
    let master = rk.vault.key(&envelope.key_id)?;
    let plaintext = crypto::open_value(&master, binding, &envelope)
        .map_err(|e| Error::Internal(format!("the system secret {name} did not open: {e}")))?;
    let text = String::from_utf8(plaintext.to_vec())
        .map_err(|_| Error::Internal(format!("the system secret {name} is not UTF-8")))?;
    Ok(Some(Opened {
        value: SecretValue::from_trusted(text),
        sealed_at: row.get(7)?,
    }))
}

/// Readies the vault for serving: loads (or first creates) the fingerprint key, and upgrades
/// data written before login seeds were sealed and values fingerprinted. Runs at start-up;
/// idempotent, and safe with several instances starting at once (each step is one writer
/// transaction that re-reads what is left to do).
pub async fn prepare(rk: &Rekey) -> Result<()> {
    let key = match open(rk, FINGERPRINT_KEY).await? {
        Some(opened) => opened.value,
        None => {
            let fresh = SecretValue::from_trusted(hex::encode(rand::random::<[u8; 32]>()));
            let mut tx = rk.write(Actor::System).await?;
            // Another instance may have made it meanwhile: the writer lock orders us.
            let made = tx
                .fetch_optional(
                    "SELECT s.id FROM vault_secrets s JOIN vault_partitions p ON p.id = s.partition_id \
                     WHERE p.name = $1 AND s.name = $2",
                    params![PARTITION, FINGERPRINT_KEY],
                )
                .await?
                .is_some();
            if !made {
                seal_with(
                    rk,
                    &mut tx,
                    FINGERPRINT_KEY,
                    SecretKind::Generic,
                    &fresh,
                    false,
                )
                .await?;
                tx.audit(Target::Settings, Detail::VaultFingerprintKeyCreated)
                    .await?;
                tx.commit().await?;
            } else {
                drop(tx);
            }
            open(rk, FINGERPRINT_KEY)
                .await?
                .ok_or_else(|| Error::Internal("the fingerprint key did not open".into()))?
                .value
        }
    };
    rk.vault
        .set_fingerprint_key(FingerprintKey::new(key.expose().as_bytes()));
    seal_plain_login_seeds(rk).await?;
    fingerprint_older_versions(rk).await
}

/// Login seeds were once stored in `users.totp_secret` in plain text: seal each and clear it.
async fn seal_plain_login_seeds(rk: &Rekey) -> Result<()> {
    let mut tx = rk.write(Actor::System).await?;
    let rows = crate::users::plain_login_seeds(&mut tx).await?;
    if rows.is_empty() {
        return Ok(());
    }
    for (user, seed) in &rows {
        let seed = SecretValue::from_trusted(seed.clone());
        seal(rk, &mut tx, &login_seed(*user), SecretKind::TotpSeed, &seed).await?;
        crate::users::forget_plain_login_seed(&mut tx, *user).await?;
    }
    tx.audit(
        Target::Settings,
        Detail::VaultUpgraded {
            login_seeds_sealed: rows.len() as i64,
            versions_fingerprinted: 0,
        },
    )
    .await?;
    tx.commit().await
}

/// Versions sealed before fingerprints existed get them now, and their masked prefix is made
/// again under today's rule (at most four characters of values of at least 24). Destroyed
/// versions cannot be opened: their mask is cleared.
async fn fingerprint_older_versions(rk: &Rekey) -> Result<()> {
    const BATCH: i64 = 500;
    loop {
        let mut tx = rk.write(Actor::System).await?;
        let rows = tx
            .fetch_all(
                "SELECT v.secret_id, v.version, s.partition_id, s.kind, v.key_id, v.generation, v.wrapped_dek, \
                 v.ciphertext, v.destroyed_at FROM vault_versions v JOIN vault_secrets s ON s.id = v.secret_id \
                 WHERE v.fingerprinted = 0 ORDER BY v.secret_id, v.version LIMIT $1",
                params![BATCH],
            )
            .await?;
        if rows.is_empty() {
            return Ok(());
        }
        let ring: Arc<super::keys::Keyring> = rk.vault.keyring()?;
        for r in &rows {
            let (secret, version): (i64, i64) = (r.get(0)?, r.get(1)?);
            if r.get::<Option<i64>>(8)?.is_some() {
                tx.execute(
                    "UPDATE vault_versions SET fingerprinted = 1, masked = '••••' WHERE secret_id = $1 AND version = $2",
                    params![secret, version],
                )
                .await?;
                continue;
            }
            let envelope = Envelope {
                key_id: r.get(4)?,
                generation: r.get(5)?,
                wrapped_dek: r.get(6)?,
                ciphertext: r.get(7)?,
            };
            let master = ring.get(&envelope.key_id).ok_or_else(|| {
                Error::Internal(format!("master key {} is not held", envelope.key_id))
            })?;
            let binding = RowBinding {
                partition: r.get(2)?,
                secret,
                version,
            };
            let plaintext = crypto::open_value(master, binding, &envelope).map_err(|e| {
                Error::Internal(format!(
                    "secret {secret} version {version} did not open: {e}"
                ))
            })?;
            let value = SecretValue::from_trusted(
                String::from_utf8(plaintext.to_vec())
                    .map_err(|_| Error::Internal("a stored value is not UTF-8".into()))?,
            );
            let kind: SecretKind = r
                .get::<String>(3)?
                .parse()
                .map_err(|e| Error::Internal(format!("a stored kind is invalid: {e}")))?;
            tx.execute(
                "UPDATE vault_versions SET masked = $1 WHERE secret_id = $2 AND version = $3",
                params![value.masked(kind), secret, version],
            )
            .await?;
            store::record_fingerprints(rk, &mut tx, secret, version, &value).await?;
        }
        tx.audit(
            Target::Settings,
            Detail::VaultUpgraded {
                login_seeds_sealed: 0,
                versions_fingerprinted: rows.len() as i64,
            },
        )
        .await?;
        tx.commit().await?;
    }
}
