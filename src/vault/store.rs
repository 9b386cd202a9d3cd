//! Vault operations on values: storing, reading, revealing, TOTP codes, generating and
//! destroying. Each value read or write is audited in the transaction that does it; a read
//! returns its plaintext only after that transaction has committed (the audit fails closed).

use super::crypto::{self, Envelope, RowBinding};
use super::partitions::{Partition, begin_with_access, partition_for};
use super::{
    Access, GeneratePolicy, NewSecret, SecretKind, SecretMeta, SecretValue, TotpParams, VaultName,
    VersionMeta, parse_totp_seed, totp_code,
};
use crate::Rekey;
use crate::audit::{Detail, Target, WriteTx};
use crate::clock::Timestamp;
use crate::error::{Conflict, Error, Refusal, Result};
use crate::identity::{Identity, InputError};
use crate::inventory::CredentialId;
use crate::params;
use crate::storage::Db;

const SECRET_COLUMNS: &str = "id, name, kind, label, expires_at, max_age_days, totp, current_version, created_at, credential_id";

async fn secret_metas(db: &Db, partition: i64, name: Option<&str>) -> Result<Vec<SecretMeta>> {
    let rows = match name {
        Some(n) => {
            db.fetch_all(
                &format!("SELECT {SECRET_COLUMNS} FROM vault_secrets WHERE partition_id = $1 AND name = $2"),
                params![partition, n],
            )
            .await?
        }
        None => {
            db.fetch_all(&format!("SELECT {SECRET_COLUMNS} FROM vault_secrets WHERE partition_id = $1 ORDER BY name"), params![partition])
                .await?
        }
    };
    // One secret's versions when a name is given: a read must not cost the partition's size.
    const VERSIONS: &str = "SELECT v.secret_id, v.version, v.masked, v.created_by, v.created_at, v.destroyed_at \
         FROM vault_versions v JOIN vault_secrets s ON s.id = v.secret_id WHERE s.partition_id = $1";
    let version_rows = match name {
        Some(n) => {
            db.fetch_all(
                &format!("{VERSIONS} AND s.name = $2 ORDER BY v.version"),
                params![partition, n],
            )
            .await?
        }
        None => {
            db.fetch_all(
                &format!("{VERSIONS} ORDER BY v.secret_id, v.version"),
                params![partition],
            )
            .await?
        }
    };
    // The credential each secret stands for, by its external id, asked of the inventory.
    let credential_ids: Vec<CredentialId> = rows
        .iter()
        .filter_map(|r| r.get::<Option<CredentialId>>(9).transpose())
        .collect::<Result<_>>()?;
    let external_ids = crate::inventory::store::external_ids(db, &credential_ids).await?;
    let mut versions_of: std::collections::HashMap<i64, Vec<VersionMeta>> =
        std::collections::HashMap::new();
    for v in &version_rows {
        versions_of.entry(v.get(0)?).or_default().push(VersionMeta {
            version: v.get(1)?,
            masked: v.get(2)?,
            created_by: v.get(3)?,
            created_at: v.get(4)?,
            destroyed_at: v.get(5)?,
        });
    }
    rows.iter()
        .map(|r| {
            let id: i64 = r.get(0)?;
            let totp: Option<String> = r.get(6)?;
            let versions = versions_of.remove(&id).unwrap_or_default();
            let current_version: i64 = r.get(7)?;
            let current = versions.iter().find(|v| v.version == current_version);
            Ok(SecretMeta {
                id,
                name: r.get(1)?,
                kind: r
                    .get::<String>(2)?
                    .parse()
                    .map_err(|e: InputError| Error::Internal(e.to_string()))?,
                label: r.get(3)?,
                expires_at: r.get(4)?,
                max_age_days: r.get(5)?,
                // Parameters stored before they were checked that cannot make codes are not
                // shown; asking for a code says to store the seed again.
                totp: totp.and_then(|t| TotpParams::from_stored(&t).ok()),
                masked: current.map(|c| c.masked.clone()).unwrap_or_default(),
                rotated_at: current
                    .map(|c| c.created_at)
                    .unwrap_or_else(|| Timestamp::from_micros(0)),
                current_version,
                created_at: r.get(8)?,
                credential: r
                    .get::<Option<CredentialId>>(9)?
                    .and_then(|id| external_ids.get(&id))
                    .cloned(),
                versions,
            })
        })
        .collect()
}

/// The secrets of a partition (metadata only).
pub async fn secrets(rk: &Rekey, who: &Identity, partition: &VaultName) -> Result<Vec<SecretMeta>> {
    let p = partition_for(rk, who, partition, Access::Read).await?;
    secret_metas(&rk.db, p.id, None).await
}

/// Secrets of a partition older than their maximum age.
pub async fn overdue(rk: &Rekey, who: &Identity, partition: &VaultName) -> Result<Vec<SecretMeta>> {
    let now = rk.now();
    Ok(secrets(rk, who, partition)
        .await?
        .into_iter()
        .filter(|s| s.overdue(now))
        .collect())
}

async fn one_secret(db: &Db, p: &Partition, name: &VaultName) -> Result<SecretMeta> {
    secret_metas(db, p.id, Some(name.as_str()))
        .await?
        .pop()
        .ok_or_else(|| Error::not_named("secret", name.as_str(), Some(&p.name)))
}

/// The generation to wrap the next data key under, counting this use.
pub(crate) async fn next_generation(tx: &mut WriteTx, key_id: &str, limit: i64) -> Result<i64> {
    let now = tx.now();
    tx.execute(
        "INSERT INTO vault_keys (key_id, generation, wraps, created_at) VALUES ($1, 0, 0, $2) ON CONFLICT (key_id) DO NOTHING",
        params![key_id, now],
    )
    .await?;
    let row = tx
        .fetch_one(
            "UPDATE vault_keys SET wraps = wraps + 1 WHERE key_id = $1 RETURNING generation, wraps",
            params![key_id],
        )
        .await?;
    let (generation, wraps): (i64, i64) = (row.get(0)?, row.get(1)?);
    if wraps <= limit {
        return Ok(generation);
    }
    tx.execute(
        "UPDATE vault_keys SET generation = generation + 1, wraps = 1 WHERE key_id = $1",
        params![key_id],
    )
    .await?;
    Ok(generation + 1)
}

/// Seals a value as a version and stores its keyed fingerprints, so notices can be checked for
/// it without opening it again.
pub(super) async fn seal_version(
    rk: &Rekey,
    tx: &mut WriteTx,
    p: &Partition,
    secret: i64,
    version: i64,
    value: &SecretValue,
    masked: &str,
) -> Result<()> {
    seal_unfingerprinted(rk, tx, p, secret, version, value, masked).await?;
    record_fingerprints(rk, tx, secret, version, value).await
}

pub(super) async fn record_fingerprints(
    rk: &Rekey,
    tx: &mut WriteTx,
    secret: i64,
    version: i64,
    value: &SecretValue,
) -> Result<()> {
    let key = rk.vault.fingerprint_key()?;
    for f in super::fingerprint::fingerprints(&key, value.expose()) {
        tx.execute(
            "INSERT INTO vault_fingerprints (secret_id, version, form, window_len, window_fp, full_len, full_fp) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            params![secret, version, f.form, f.window_len, f.window_fp, f.full_len, f.full_fp],
        )
        .await?;
    }
    tx.execute(
        "UPDATE vault_versions SET fingerprinted = 1 WHERE secret_id = $1 AND version = $2",
        params![secret, version],
    )
    .await?;
    Ok(())
}

/// Seals a value without fingerprints: only for the fingerprint key itself.
pub(super) async fn seal_unfingerprinted(
    rk: &Rekey,
    tx: &mut WriteTx,
    p: &Partition,
    secret: i64,
    version: i64,
    value: &SecretValue,
    masked: &str,
) -> Result<()> {
    let keyring = rk.vault.keyring()?;
    let master = keyring.current();
    let generation =
        next_generation(tx, &master.fingerprint(), rk.vault.wraps_per_generation()).await?;
    let row = RowBinding {
        partition: p.id,
        secret,
        version,
    };
    let envelope = crypto::seal_value(master, generation, row, value.expose().as_bytes())
        .map_err(|e| Error::Internal(format!("sealing failed: {e}")))?;
    let now = tx.now();
    let by = tx.actor().name().to_string();
    tx.execute(
        "INSERT INTO vault_versions (secret_id, version, key_id, generation, wrapped_dek, ciphertext, masked, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        params![secret, version, envelope.key_id, envelope.generation, envelope.wrapped_dek, envelope.ciphertext, masked, by, now],
    )
    .await?;
    Ok(())
}

/// Stores a value as the next version of a secret (creating the secret when new).
pub async fn store(
    rk: &Rekey,
    who: &Identity,
    partition: &VaultName,
    name: &VaultName,
    new: NewSecret,
) -> Result<i64> {
    let (value, totp) = match new.kind {
        SecretKind::TotpSeed => {
            let (seed, params) = parse_totp_seed(&new.value, new.totp)?;
            (seed, Some(params))
        }
        _ => (new.value.clone(), None),
    };
    let label = new.label.as_str();
    let masked = value.masked(new.kind);
    let (mut tx, p) = begin_with_access(rk, who, partition, Access::Write).await?;
    let now = tx.now();
    let credential_id: Option<CredentialId> = match &new.credential {
        None => None,
        Some(external) => Some(
            crate::inventory::store::credential_id_of(&mut *tx, external)
                .await?
                .ok_or_else(|| {
                    InputError::new(
                        "credential",
                        format!("no credential has the external id '{external}'"),
                    )
                })?,
        ),
    };
    let existing = tx
        .fetch_optional(
            "SELECT id, current_version, kind FROM vault_secrets WHERE partition_id = $1 AND name = $2",
            params![p.id, name.as_str()],
        )
        .await?;
    let totp_json = totp
        .map(|t| serde_json::to_string(&t))
        .transpose()
        .map_err(|e| Error::Internal(format!("TOTP parameters did not encode: {e}")))?;
    let (secret, version) = match existing {
        Some(row) => {
            let held: SecretKind = row.get(2)?;
            if held != new.kind {
                return Err(Error::Conflict(Conflict::SecretKindTaken {
                    name: name.to_string(),
                    held,
                    wanted: new.kind,
                }));
            }
            let (id, version): (i64, i64) = (row.get(0)?, row.get::<i64>(1)? + 1);
            tx.execute(
                "UPDATE vault_secrets SET current_version = $1, label = $2, expires_at = $3, max_age_days = $4, totp = $5, updated_at = $6, credential_id = $7 WHERE id = $8",
                params![version, label, new.expires_at, new.max_age_days, totp_json, now, credential_id, id],
            )
            .await?;
            (id, version)
        }
        None => {
            let id: i64 = tx
                .scalar(
                    "INSERT INTO vault_secrets (partition_id, name, kind, label, expires_at, max_age_days, totp, current_version, created_at, updated_at, credential_id) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8, $8, $9) RETURNING id",
                    params![p.id, name.as_str(), new.kind.as_str(), label, new.expires_at, new.max_age_days, totp_json, now, credential_id],
                )
                .await?;
            (id, 1)
        }
    };
    seal_version(rk, &mut tx, &p, secret, version, &value, &masked).await?;
    tx.audit(
        Target::VaultSecret(secret),
        Detail::VaultSecretStored {
            partition: p.id,
            secret,
            version,
            secret_kind: new.kind,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(version)
}

/// How a value left the vault, for the audit trail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadKind {
    /// Through the API, by a script or an agent.
    Read,
    /// Shown to a person after re-authentication.
    Reveal,
}

/// The row of a secret, read inside the transaction that uses it.
struct SecretRow {
    id: i64,
    kind: SecretKind,
    current_version: i64,
    /// The stored TOTP parameters, read when a code is asked for.
    totp: Option<String>,
}

async fn secret_in(tx: &mut WriteTx, p: &Partition, name: &VaultName) -> Result<SecretRow> {
    let row = tx
        .fetch_optional(
            "SELECT id, kind, current_version, totp FROM vault_secrets WHERE partition_id = $1 AND name = $2",
            params![p.id, name.as_str()],
        )
        .await?
        .ok_or_else(|| Error::not_named("secret", name.as_str(), Some(&p.name)))?;
    let totp: Option<String> = row.get(3)?;
    Ok(SecretRow {
        id: row.get(0)?,
        kind: row
            .get::<String>(1)?
            .parse()
            .map_err(|e: InputError| Error::Internal(e.to_string()))?,
        current_version: row.get(2)?,
        totp,
    })
}

/// Opens a version (the current one when `version` is `None`). Access and the caller's token
/// are checked in the transaction that opens it; the plaintext is returned only after the
/// audit entry has committed.
pub async fn read(
    rk: &Rekey,
    who: &Identity,
    partition: &VaultName,
    name: &VaultName,
    version: Option<i64>,
    kind: ReadKind,
) -> Result<(SecretMeta, i64, SecretValue)> {
    let (mut tx, p) = begin_with_access(rk, who, partition, Access::Read).await?;
    crate::agents::may_read_values(&mut tx, who).await?;
    let secret = secret_in(&mut tx, &p, name).await?;
    let version = version.unwrap_or(secret.current_version);
    let value = open_in(rk, &mut tx, &p, secret.id, version).await?;
    let detail = match kind {
        ReadKind::Read => Detail::VaultSecretRead {
            partition: p.id,
            secret: secret.id,
            version,
        },
        ReadKind::Reveal => Detail::VaultSecretRevealed {
            partition: p.id,
            secret: secret.id,
            version,
        },
    };
    tx.audit(Target::VaultSecret(secret.id), detail).await?;
    tx.commit().await?;
    let meta = one_secret(&rk.db, &p, name).await?;
    Ok((meta, version, value))
}

async fn open_in(
    rk: &Rekey,
    tx: &mut WriteTx,
    p: &Partition,
    secret: i64,
    version: i64,
) -> Result<SecretValue> {
    let row = tx
        .fetch_optional(
            "SELECT key_id, generation, wrapped_dek, ciphertext, destroyed_at FROM vault_versions WHERE secret_id = $1 AND version = $2",
            params![secret, version],
        )
        .await?
        .ok_or_else(|| Error::no_version("this secret", version))?;
    if row.get::<Option<i64>>(4)?.is_some() {
        return Err(Error::Refused(Refusal::VersionDestroyed(version)));
    }
    let envelope = Envelope {
        key_id: row.get(0)?,
        generation: row.get(1)?,
        wrapped_dek: row.get(2)?,
        ciphertext: row.get(3)?,
    };
    let master = rk.vault.key(&envelope.key_id)?;
    let plaintext = crypto::open_value(
        &master,
        RowBinding {
            partition: p.id,
            secret,
            version,
        },
        &envelope,
    )
    .map_err(|e| {
        Error::Internal(format!(
            "secret {secret} version {version} did not open: {e}"
        ))
    })?;
    let text = String::from_utf8(plaintext.to_vec())
        .map_err(|_| Error::Internal("a stored value is not UTF-8".into()))?;
    Ok(SecretValue::from_trusted(text))
}

/// The current TOTP code of a seed and the seconds it stays valid; audited as an access.
pub async fn totp(
    rk: &Rekey,
    who: &Identity,
    partition: &VaultName,
    name: &VaultName,
) -> Result<(String, u32)> {
    let (mut tx, p) = begin_with_access(rk, who, partition, Access::Read).await?;
    crate::agents::may_read_values(&mut tx, who).await?;
    let secret = secret_in(&mut tx, &p, name).await?;
    let params = match (secret.kind, secret.totp) {
        (SecretKind::TotpSeed, Some(stored)) => TotpParams::from_stored(&stored)?,
        _ => return Err(Error::Refused(Refusal::NotTotpSeed(name.to_string()))),
    };
    let seed = open_in(rk, &mut tx, &p, secret.id, secret.current_version).await?;
    let code = totp_code(&seed, params, tx.now())?;
    tx.audit(
        Target::VaultSecret(secret.id),
        Detail::VaultTotpCode {
            partition: p.id,
            secret: secret.id,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(code)
}

/// Generates a new value by policy as the next version; returns it once.
pub async fn generate(
    rk: &Rekey,
    who: &Identity,
    partition: &VaultName,
    name: &VaultName,
    policy: &GeneratePolicy,
) -> Result<(i64, SecretValue)> {
    let (mut tx, p) = begin_with_access(rk, who, partition, Access::Write).await?;
    crate::agents::may_read_values(&mut tx, who).await?;
    let secret = secret_in(&mut tx, &p, name).await?;
    if secret.kind == SecretKind::TotpSeed {
        return Err(Error::Refused(Refusal::TotpSeedNotGenerated));
    }
    let value = policy.generate();
    let masked = value.masked(secret.kind);
    let version = secret.current_version + 1;
    let now = tx.now();
    tx.execute(
        "UPDATE vault_secrets SET current_version = $1, updated_at = $2 WHERE id = $3",
        params![version, now, secret.id],
    )
    .await?;
    seal_version(rk, &mut tx, &p, secret.id, version, &value, &masked).await?;
    tx.audit(
        Target::VaultSecret(secret.id),
        Detail::VaultSecretGenerated {
            partition: p.id,
            secret: secret.id,
            version,
        },
    )
    .await?;
    tx.commit().await?;
    Ok((version, value))
}

/// Destroys a version: its wrapped data key is deleted, so its ciphertext can never be opened.
pub async fn destroy(
    rk: &Rekey,
    who: &Identity,
    partition: &VaultName,
    name: &VaultName,
    version: i64,
) -> Result<()> {
    let (mut tx, p) = begin_with_access(rk, who, partition, Access::Write).await?;
    let secret = secret_in(&mut tx, &p, name).await?;
    if shred(&mut tx, secret.id, Some(version)).await? == 0 {
        return Err(Error::no_version(format!("'{name}'"), version));
    }
    tx.audit(
        Target::VaultSecret(secret.id),
        Detail::VaultVersionDestroyed {
            partition: p.id,
            secret: secret.id,
            version,
        },
    )
    .await?;
    tx.commit().await?;
    if let Err(e) = rk.db.flush_destroyed().await {
        // The version is destroyed either way; only the WAL's old copy waits longer.
        tracing::warn!(error = %e, "could not checkpoint the database after a destroy");
    }
    Ok(())
}

/// Crypto-shreds one version of a secret, or every live one: empties the wrapped data keys
/// (the ciphertext stays but can never be opened) and forgets the versions' fingerprints.
/// Every destruction of a value goes through here. Returns how many versions it shredded.
pub(super) async fn shred(tx: &mut WriteTx, secret: i64, version: Option<i64>) -> Result<u64> {
    let now = tx.now();
    let shredded = tx
        .execute(
            "UPDATE vault_versions SET wrapped_dek = $1, destroyed_at = $2 \
             WHERE secret_id = $3 AND ($4 IS NULL OR version = $4) AND destroyed_at IS NULL",
            params![Vec::<u8>::new(), now, secret, version],
        )
        .await?;
    tx.execute(
        "DELETE FROM vault_fingerprints WHERE secret_id = $1 AND ($2 IS NULL OR version = $2)",
        params![secret, version],
    )
    .await?;
    Ok(shredded)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The per-key use counter moves to a new KEK generation after `limit` wrapped data keys, so
    /// no generation's key comes near the 2^32 random-nonce bound of NIST SP 800-38D (the
    /// production limit is `WRAPS_PER_GENERATION`).
    #[tokio::test]
    async fn the_use_counter_forces_a_new_generation() {
        use crate::audit::Actor;
        use crate::storage::DatabaseUrl;
        const { assert!(crate::vault::crypto::WRAPS_PER_GENERATION <= 1 << 28) };
        let dir = std::env::temp_dir().join(format!("rekey-vault-gen-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let url = DatabaseUrl::parse(&format!("sqlite://{}/v.db", dir.display())).unwrap();
        let db = Db::connect(&url).await.unwrap();
        db.migrate().await.unwrap();
        let mut tx =
            crate::audit::WriteTx::begin(&db, Actor::System, Timestamp::from_secs(1_800_000_000))
                .await
                .unwrap();
        let mut generations = Vec::new();
        for _ in 0..7 {
            generations.push(next_generation(&mut tx, "key-a", 3).await.unwrap());
        }
        assert_eq!(generations, [0, 0, 0, 1, 1, 1, 2]);
        // Each master key counts on its own.
        assert_eq!(next_generation(&mut tx, "key-b", 3).await.unwrap(), 0);
        drop(tx);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
